//! One recording: a broadcast's frames muxed into a WebM file (VP8 + Opus) by libwebm.
//!
//! The file starts at the first video key frame (a player can show nothing before one).
//! libwebm wants the times of all tracks in order, so a frame that arrives a little late is
//! written at the latest time so far.

use std::{
    fs::File,
    io::BufWriter,
    path::{Path, PathBuf},
};

use webm::mux::{
    AudioCodecId, AudioTrack, Segment, SegmentBuilder, VideoCodecId, VideoTrack, Writer,
};

use super::{timeline::Timeline, Frame, RecordingError};
use crate::server::frame_size::vp8_size;

/// Opus in WebM needs its identification header (RFC 7845 §5.1): version 1, two channels,
/// no pre-skip, 48 kHz, no gain, channel mapping family 0.
const OPUS_HEAD: [u8; 19] = [
    b'O', b'p', b'u', b's', b'H', b'e', b'a', b'd', 1, 2, 0, 0, 0x80, 0xbb, 0, 0, 0, 0, 0,
];

pub(super) struct WebmFile {
    path: PathBuf,
    segment: Segment<BufWriter<File>>,
    video: VideoTrack,
    audio: AudioTrack,
    timeline: Timeline,
    /// The latest time written, in nanoseconds.
    last_ns: u64,
}

impl WebmFile {
    /// A file at `path` that starts with `keyframe`, a VP8 key frame (its size is the video's).
    pub(super) fn start(path: &Path, keyframe: &Frame) -> Result<Self, RecordingError> {
        let (width, height) = vp8_size(&keyframe.data).ok_or(RecordingError::NotAKeyFrame)?;
        let file =
            File::create(path).map_err(|err| RecordingError::Create(path.to_owned(), err))?;
        let writer = Writer::new(BufWriter::new(file));
        let mux = |err: webm::mux::Error| RecordingError::Mux(format!("{err:?}"));
        let builder = SegmentBuilder::new(writer)
            .map_err(mux)?
            .set_writing_app("onair")
            .map_err(mux)?;
        let (builder, video) = builder
            .add_video_track(width, height, VideoCodecId::VP8, None)
            .map_err(mux)?;
        let (builder, audio) = builder
            .add_audio_track(48_000, 2, AudioCodecId::Opus, None)
            .map_err(mux)?;
        let builder = builder.set_codec_private(audio, &OPUS_HEAD).map_err(mux)?;
        let mut file = Self {
            path: path.to_owned(),
            segment: builder.build(),
            video,
            audio,
            timeline: Timeline::starting_at(keyframe),
            last_ns: 0,
        };
        file.add(keyframe)?;
        Ok(file)
    }

    /// Add a frame of sound or picture.
    pub(super) fn add(&mut self, frame: &Frame) -> Result<(), RecordingError> {
        let ns = self.timeline.nanos(frame).max(self.last_ns);
        self.last_ns = ns;
        let result = if frame.codec.is_video() {
            self.segment
                .add_frame(self.video, &frame.data, ns, frame.keyframe)
        } else {
            self.segment.add_frame(self.audio, &frame.data, ns, true)
        };
        result.map_err(|err| RecordingError::Mux(format!("{err:?}")))
    }

    /// Close the file: cues and duration written, so players can seek it.
    pub(super) fn finish(self) -> Result<PathBuf, RecordingError> {
        let duration_ms = self.last_ns / 1_000_000;
        let path = self.path;
        match self.segment.finalize(Some(duration_ms)) {
            Ok(writer) => {
                let mut file = writer.into_inner();
                std::io::Write::flush(&mut file)
                    .map_err(|err| RecordingError::Create(path.clone(), err))?;
                Ok(path)
            }
            Err(_) => Err(RecordingError::Mux(
                "finalizing the WebM file failed".into(),
            )),
        }
    }
}
