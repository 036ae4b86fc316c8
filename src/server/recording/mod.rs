//! Recording (`--record DIR`): each relayed broadcast is written to a WebM file that ordinary
//! players open, named by room and start time (`all-hands-20261201T170425Z.webm`), and closed
//! cleanly when the broadcast ends, when its broadcaster is gone, and when the server stops.
//!
//! Muxing and writing happen on a thread of their own: the relay's loop only hands frames
//! over a bounded queue, and a full queue (a disk that cannot keep up) drops frames, counted,
//! rather than make the relay wait.
//!
//! - [`webm_file`]: one recording, muxed by libwebm.

mod webm_file;

use std::{
    collections::HashMap,
    io,
    path::{Path, PathBuf},
    sync::{mpsc, Arc},
    thread::JoinHandle,
    time::{Instant, SystemTime},
};

use prometheus_client::metrics::counter::Counter;

use crate::protocol::RoomName;
use webm_file::WebmFile;

/// Frames waiting for the disk before new ones are dropped (a few seconds of a broadcast).
const QUEUE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("cannot use {0} for recordings: {1}")]
    Directory(PathBuf, io::Error),
    #[error("cannot write {0}: {1}")]
    Create(PathBuf, io::Error),
    #[error("the recording's first video frame is not a VP8 key frame")]
    NotAKeyFrame,
    #[error("cannot start the recording thread: {0}")]
    Thread(io::Error),
    #[error("the WebM muxer refused: {0}")]
    Mux(String),
}

/// One frame of a broadcast, as the relay got it.
pub struct Frame {
    /// Picture (VP8), or sound (Opus).
    pub video: bool,
    pub keyframe: bool,
    /// Its time on its track's RTP clock, in microseconds.
    pub micros: u64,
    /// When it arrived.
    pub at: Instant,
    pub data: Arc<[u8]>,
}

enum Job {
    Frame(RoomName, Frame),
    /// The broadcast in the room ended: close its file.
    End(RoomName),
}

/// The relay's handle on the recording thread. Dropping it closes every open file and waits
/// for that.
pub struct Recorder {
    jobs: Option<mpsc::SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
    dropped: Counter,
}

impl Recorder {
    /// Record into `dir` (made if missing). `dropped` counts frames the disk could not take.
    pub fn start(dir: &Path, dropped: Counter) -> Result<Self, RecordingError> {
        std::fs::create_dir_all(dir)
            .map_err(|err| RecordingError::Directory(dir.to_owned(), err))?;
        let probe = dir.join(".onair-write-test");
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|err| RecordingError::Directory(dir.to_owned(), err))?;
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let into = dir.to_owned();
        let thread = std::thread::Builder::new()
            .name("onair-recorder".into())
            .spawn(move || record(&into, &queue))
            .map_err(RecordingError::Thread)?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
            dropped,
        })
    }

    /// A frame of `room`'s broadcast, if the queue has room for it.
    pub fn frame(&self, room: &RoomName, frame: Frame) {
        let Some(jobs) = &self.jobs else { return };
        if jobs.try_send(Job::Frame(room.clone(), frame)).is_err() {
            self.dropped.inc();
        }
    }

    /// `room`'s broadcast ended: its file is closed (after the frames before it).
    pub fn end(&self, room: &RoomName) {
        if let Some(jobs) = &self.jobs {
            // Blocking here is rare (a full queue) and brief; an end must not be lost.
            let _ = jobs.send(Job::End(room.clone()));
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has closed every file.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The recording thread: frames into files, until the queue closes.
fn record(dir: &Path, queue: &mpsc::Receiver<Job>) {
    let mut files: HashMap<RoomName, WebmFile> = HashMap::new();
    while let Ok(job) = queue.recv() {
        match job {
            Job::Frame(room, frame) => {
                if let Some(file) = files.get_mut(&room) {
                    if let Err(err) = file.add(&frame) {
                        tracing::warn!("recording {}: {err}", file.path().display());
                    }
                    continue;
                }
                // A file starts at a key frame: a player can show nothing before one.
                if !(frame.video && frame.keyframe) {
                    continue;
                }
                let path = dir.join(file_name(&room, SystemTime::now()));
                match WebmFile::start(&path, &frame) {
                    Ok(file) => {
                        tracing::info!("recording {} to {}", room, path.display());
                        files.insert(room, file);
                    }
                    Err(err) => tracing::warn!("cannot record {room}: {err}"),
                }
            }
            Job::End(room) => {
                if let Some(file) = files.remove(&room) {
                    finish(file);
                }
            }
        }
    }
    for (_, file) in files.drain() {
        finish(file);
    }
}

fn finish(file: WebmFile) {
    match file.finish() {
        Ok(path) => tracing::info!("recording closed: {}", path.display()),
        Err(err) => tracing::warn!("closing a recording failed: {err}"),
    }
}

/// `<room>-<UTC start, to the second>.webm`: sorted by time in a listing, and one per start.
fn file_name(room: &RoomName, at: SystemTime) -> String {
    let stamp = time::OffsetDateTime::from(at)
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    format!("{room}-{stamp}.webm")
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
        assert_eq!(file_name(&room, at), "all-hands-20261201T170425Z.webm");
    }
}
