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

/// The width and height a VP8 key frame says (RFC 6386 §9.1).
fn vp8_size(frame: &[u8]) -> Option<(u32, u32)> {
    let key = frame.first()? & 1 == 0;
    let start_code = frame.get(3..6)? == [0x9d, 0x01, 0x2a];
    if !key || !start_code {
        return None;
    }
    let width = u32::from(u16::from_le_bytes([*frame.get(6)?, *frame.get(7)?]) & 0x3fff);
    let height = u32::from(u16::from_le_bytes([*frame.get(8)?, *frame.get(9)?]) & 0x3fff);
    (width > 0 && height > 0).then_some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vp8_key_frame_says_its_size() {
        let mut frame = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a];
        frame.extend_from_slice(&640u16.to_le_bytes());
        frame.extend_from_slice(&(480u16 | 0x4000).to_le_bytes()); // scaling bits ignored
        assert_eq!(vp8_size(&frame), Some((640, 480)));
        frame[0] = 0x11; // an inter frame
        assert_eq!(vp8_size(&frame), None);
        assert_eq!(vp8_size(&[0x10]), None);
    }
}
