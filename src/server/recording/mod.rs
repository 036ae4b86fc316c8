//! Recording (`--record DIR`): each relayed broadcast is written to a file that ordinary
//! players open, named by room and start time (`all-hands-20261201T170425Z.webm`), and closed
//! cleanly when the broadcast ends, when its broadcaster is gone, and when the server stops.
//! The picture's codec picks the container: WebM for VP8 (browsers), MP4 for H.264 (OBS and
//! most WHIP encoders); the sound is Opus in both.
//!
//! Muxing and writing happen on a thread of their own: the relay's loop only hands frames
//! over a bounded queue, and a full queue (a disk that cannot keep up) drops frames, counted,
//! rather than make the relay wait.
//!
//! - [`webm_file`]: one WebM recording, muxed by libwebm.
//! - [`mp4_file`]: one MP4 recording, muxed by shiguredo_mp4.
//! - [`timeline`]: where each frame falls in its file.
//! - [`names`]: what a recording's file is called, while written and once closed.

mod mp4_file;
mod names;
mod timeline;
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
use mp4_file::Mp4File;
pub use names::is_recording_of;
use names::{part_path, unused_path};
use webm_file::WebmFile;

/// Frames waiting for the disk before new ones are dropped (a few seconds of a broadcast).
const QUEUE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("cannot use {0} for recordings: {1}")]
    Directory(PathBuf, io::Error),
    #[error("cannot write {0}: {1}")]
    Create(PathBuf, io::Error),
    #[error("the recording's first video frame is not a key frame that says its size")]
    NotAKeyFrame,
    #[error("cannot start the recording thread: {0}")]
    Thread(io::Error),
    #[error("the muxer refused: {0}")]
    Mux(String),
}

/// The codecs a recording holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Vp8,
    H264,
    Opus,
}

impl Codec {
    pub fn is_video(self) -> bool {
        !matches!(self, Self::Opus)
    }
}

/// One frame of a broadcast, as the relay got it.
pub struct Frame {
    pub codec: Codec,
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

/// A recording being written, in the container its picture's codec calls for. It is written
/// as `<name>.part` and gets its name when it is closed, so a listing shows only files that
/// play.
struct OpenFile {
    container: Container,
    done: PathBuf,
}

enum Container {
    Webm(WebmFile),
    // The MP4 muxer is big (its sample tables' state): boxed, one per recording.
    Mp4(Box<Mp4File>),
}

impl OpenFile {
    /// A file for a broadcast whose picture is `keyframe`'s codec, starting with it.
    fn start(dir: &Path, room: &RoomName, keyframe: &Frame) -> Result<Self, RecordingError> {
        let extension = match keyframe.codec {
            Codec::H264 => "mp4",
            _ => "webm",
        };
        let done = unused_path(dir, room, SystemTime::now(), extension);
        let part = part_path(&done);
        let container = match keyframe.codec {
            Codec::H264 => Container::Mp4(Box::new(Mp4File::start(&part, keyframe)?)),
            _ => Container::Webm(WebmFile::start(&part, keyframe)?),
        };
        Ok(Self { container, done })
    }

    fn video_codec(&self) -> Codec {
        match self.container {
            Container::Webm(_) => Codec::Vp8,
            Container::Mp4(_) => Codec::H264,
        }
    }

    fn path(&self) -> &Path {
        &self.done
    }

    fn add(&mut self, frame: &Frame) -> Result<(), RecordingError> {
        match &mut self.container {
            Container::Webm(file) => file.add(frame),
            Container::Mp4(file) => file.add(frame),
        }
    }

    fn finish(self) -> Result<PathBuf, RecordingError> {
        let part = match self.container {
            Container::Webm(file) => file.finish(),
            Container::Mp4(file) => file.finish(),
        }?;
        std::fs::rename(&part, &self.done)
            .map_err(|err| RecordingError::Create(self.done.clone(), err))?;
        Ok(self.done)
    }
}

/// The recording thread: frames into files, until the queue closes.
fn record(dir: &Path, queue: &mpsc::Receiver<Job>) {
    let mut files: HashMap<RoomName, OpenFile> = HashMap::new();
    while let Ok(job) = queue.recv() {
        match job {
            Job::Frame(room, frame) => {
                // A broadcaster that comes back with another codec (a new WHIP session)
                // gets a new file: one container cannot hold both.
                let changed = frame.codec.is_video()
                    && files
                        .get(&room)
                        .is_some_and(|file| file.video_codec() != frame.codec);
                if changed {
                    if let Some(file) = files.remove(&room) {
                        finish(file);
                    }
                }
                if let Some(file) = files.get_mut(&room) {
                    if let Err(err) = file.add(&frame) {
                        tracing::warn!("recording {}: {err}", file.path().display());
                    }
                    continue;
                }
                // A file starts at a key frame: a player can show nothing before one.
                if !(frame.codec.is_video() && frame.keyframe) {
                    continue;
                }
                match OpenFile::start(dir, &room, &frame) {
                    Ok(file) => {
                        tracing::info!("recording {} to {}", room, file.path().display());
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

fn finish(file: OpenFile) {
    match file.finish() {
        Ok(path) => tracing::info!("recording closed: {}", path.display()),
        Err(err) => tracing::warn!("closing a recording failed: {err}"),
    }
}
