//! A recording's file name: `<room>-<UTC start>.<webm|mp4>`, `-2`, `-3`… for a second one
//! in the same second, and `.part` after it while it is written. The listing and downloads
//! (`http::recordings`) recognise closed ones by the same rules.

use std::{
    path::{Path, PathBuf},
    time::SystemTime,
};

use crate::protocol::RoomName;

/// Where a recording starting at `at` goes: a second one in the same second (a broadcaster
/// back at once) gets `-2`, `-3`..., never the first one's file.
pub(super) fn unused_path(dir: &Path, room: &RoomName, at: SystemTime, extension: &str) -> PathBuf {
    let first = dir.join(file_name(room, at, extension));
    let stem = first.with_extension("");
    let mut path = first;
    let mut n = 1;
    while path.exists() || part_path(&path).exists() {
        n += 1;
        path = PathBuf::from(format!("{}-{n}.{extension}", stem.display()));
    }
    path
}

/// `<room>-<UTC start, to the second>.<extension>`: sorted by time in a listing, and one per
/// start.
fn file_name(room: &RoomName, at: SystemTime, extension: &str) -> String {
    let stamp = time::OffsetDateTime::from(at)
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    format!("{room}-{stamp}.{extension}")
}

/// Where a recording is written until it is closed.
pub(super) fn part_path(done: &Path) -> PathBuf {
    let mut name = done.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// Whether `name` is a closed recording of `room`: `<room>-<8 digits>T<6 digits>Z[-<n>].webm|mp4`,
/// as [`file_name`] and [`unused_path`] make them. Another room's name can share the prefix,
/// not the shape.
pub fn is_recording_of(name: &str, room: &RoomName) -> bool {
    let Some(rest) = name
        .strip_prefix(room.as_str())
        .and_then(|rest| rest.strip_prefix('-'))
    else {
        return false;
    };
    let Some(rest) = rest
        .strip_suffix(".webm")
        .or_else(|| rest.strip_suffix(".mp4"))
    else {
        return false;
    };
    let (stamp, second) = match rest.split_once("Z-") {
        Some((stamp, n)) => (stamp, Some(n)),
        None => match rest.strip_suffix('Z') {
            Some(stamp) => (stamp, None),
            None => return false,
        },
    };
    let stamp_ok = stamp.len() == 15
        && stamp.char_indices().all(|(at, c)| {
            if at == 8 {
                c == 'T'
            } else {
                c.is_ascii_digit()
            }
        });
    stamp_ok && second.is_none_or(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_file_is_named_by_room_and_utc_start() {
        let room = RoomName::parse("all-hands").unwrap();
        // 2026-12-01T17:04:25Z
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_144_665);
        assert_eq!(
            file_name(&room, at, "webm"),
            "all-hands-20261201T170425Z.webm"
        );
        // The listing knows what is made, and not what is still written.
        assert!(is_recording_of(&file_name(&room, at, "mp4"), &room));
        let part = part_path(Path::new(&file_name(&room, at, "mp4")));
        assert!(!is_recording_of(&part.to_string_lossy(), &room));
    }

    #[test]
    fn a_second_recording_in_the_same_second_gets_a_number() {
        let dir = std::env::temp_dir().join(format!(
            "onair-names-test-{}",
            crate::server::secrets::new_token()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let room = RoomName::parse("hall").unwrap();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_144_665);
        let first = unused_path(&dir, &room, at, "mp4");
        assert_eq!(first, dir.join("hall-20261201T170425Z.mp4"));
        // Being written counts as taken, as a closed one does.
        std::fs::write(part_path(&first), b"").unwrap();
        let second = unused_path(&dir, &room, at, "mp4");
        assert_eq!(second, dir.join("hall-20261201T170425Z-2.mp4"));
        std::fs::write(&second, b"").unwrap();
        assert_eq!(
            unused_path(&dir, &room, at, "mp4"),
            dir.join("hall-20261201T170425Z-3.mp4")
        );
        assert!(is_recording_of("hall-20261201T170425Z-2.mp4", &room));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn only_this_rooms_recordings_are_its_own() {
        let room = RoomName::parse("class").unwrap();
        let is = |name: &str| is_recording_of(name, &room);
        assert!(is("class-20261201T170425Z.webm"));
        assert!(is("class-20261201T170425Z.mp4"));
        // A second one started in the same second.
        assert!(is("class-20261201T170425Z-2.mp4"));
        assert!(!is("class-20261201T170425Z-.mp4"));
        assert!(!is("class-20261201T170425Z-x.mp4"));
        assert!(!is("class-20261201T170425Z.mkv"));
        // Another room whose name starts the same, a stray file, a path.
        assert!(!is("class-b-20261201T170425Z.webm"));
        assert!(!is("class-notes.webm"));
        assert!(!is("class-../../etc/passwd"));
        // Still being written.
        assert!(!is("class-20261201T170425Z.mp4.part"));
    }
}
