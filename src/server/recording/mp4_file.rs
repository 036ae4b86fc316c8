//! One recording: a broadcast's frames muxed into an MP4 file (H.264 + Opus) by Shiguredo's
//! `shiguredo_mp4`, the muxer behind their Sora recordings.
//!
//! The muxer only keeps the sample tables: frames go straight to the file as they come, and
//! closing the file writes the `moov` box after them and the `mdat` size before them. An MP4
//! sample has a duration rather than a time, so each track holds back its latest frame until
//! the next one says how long it lasted.
//!
//! H.264 arrives as Annex B (start codes, as str0m depacketizes it). The file holds it as
//! MP4 wants: length-prefixed NAL units, with the SPS and PPS in the sample entry; a key
//! frame whose parameter sets differ (the encoder changed resolution) starts a new entry.

use std::{
    fs::File,
    io::{BufWriter, Seek, SeekFrom, Write},
    num::NonZeroU32,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use shiguredo_mp4::{
    bitstream::{
        h264::{self, H264NalUnitType, H264SampleEntryConfig, LengthSize},
        opus::{self, ChannelCount, OpusSampleEntryConfig},
    },
    boxes::SampleEntry,
    mux::{Mp4FileMuxer, Mp4FileMuxerOptions, Sample},
    TrackKind,
};

use super::{timeline::Timeline, Frame, RecordingError};

// Built from `MIN` (1): no `expect` on a constant that cannot be zero.
const VIDEO_TIMESCALE: NonZeroU32 = NonZeroU32::MIN.saturating_add(90_000 - 1);
const AUDIO_TIMESCALE: NonZeroU32 = NonZeroU32::MIN.saturating_add(48_000 - 1);
/// The last frame of each track lasts as long as the one before it, or this.
const VIDEO_LAST_DURATION: u32 = 3_000; // 1/30 s
const AUDIO_LAST_DURATION: u32 = 960; // 20 ms, WebRTC's Opus frame

/// A frame written to nothing yet: its duration comes with the next one.
struct Held {
    data: Vec<u8>,
    ticks: u64,
    keyframe: bool,
    /// A new sample entry starts with this frame.
    entry: Option<SampleEntry>,
}

/// One track's frames on their way into the file.
struct Track {
    kind: TrackKind,
    timescale: NonZeroU32,
    held: Option<Held>,
    last_duration: u32,
}

impl Track {
    fn new(kind: TrackKind, timescale: NonZeroU32, last_duration: u32) -> Self {
        Self {
            kind,
            timescale,
            held: None,
            last_duration,
        }
    }

    /// Rounded, not truncated: a frame's time came from its RTP ticks rounded down to
    /// microseconds, and rounding back gives those ticks.
    fn ticks(&self, nanos: u64) -> u64 {
        ((u128::from(nanos) * u128::from(self.timescale.get()) + 500_000_000) / 1_000_000_000)
            as u64
    }
}

pub(super) struct Mp4File {
    path: PathBuf,
    file: BufWriter<File>,
    muxer: Mp4FileMuxer,
    /// Where the next frame's bytes go.
    position: u64,
    timeline: Timeline,
    video: Track,
    audio: Track,
    /// The parameter sets the current H.264 sample entry was built from.
    parameter_sets: Vec<u8>,
    /// The sound track has its sample entry.
    audio_entered: bool,
}

impl Mp4File {
    /// A file at `path` that starts with `keyframe`, an H.264 key frame with its SPS and PPS.
    pub(super) fn start(path: &Path, keyframe: &Frame) -> Result<Self, RecordingError> {
        let created = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let muxer = Mp4FileMuxer::with_options(Mp4FileMuxerOptions {
            creation_timestamp: created,
            ..Mp4FileMuxerOptions::default()
        })
        .map_err(mux)?;
        let create = |err| RecordingError::Create(path.to_owned(), err);
        let mut file = BufWriter::new(File::create(path).map_err(create)?);
        file.write_all(muxer.initial_boxes_bytes())
            .map_err(create)?;
        let mut recording = Self {
            path: path.to_owned(),
            file,
            position: muxer.initial_boxes_bytes().len() as u64,
            muxer,
            timeline: Timeline::starting_at(keyframe),
            video: Track::new(TrackKind::Video, VIDEO_TIMESCALE, VIDEO_LAST_DURATION),
            audio: Track::new(TrackKind::Audio, AUDIO_TIMESCALE, AUDIO_LAST_DURATION),
            parameter_sets: Vec::new(),
            audio_entered: false,
        };
        recording.add(keyframe)?;
        if recording.parameter_sets.is_empty() {
            return Err(RecordingError::NotAKeyFrame);
        }
        Ok(recording)
    }

    /// Add a frame of sound or picture.
    pub(super) fn add(&mut self, frame: &Frame) -> Result<(), RecordingError> {
        let nanos = self.timeline.nanos(frame);
        let held = if frame.codec.is_video() {
            let (data, entry) = self.video_sample(frame)?;
            Held {
                data,
                ticks: self.video.ticks(nanos),
                keyframe: frame.keyframe,
                entry,
            }
        } else {
            let entry = (!self.audio_entered).then(|| {
                SampleEntry::Opus(opus::build_opus_box(&OpusSampleEntryConfig {
                    channel_count: ChannelCount::Stereo,
                    pre_skip: 0,
                    input_sample_rate: 48_000,
                    output_gain: 0,
                }))
            });
            self.audio_entered = true;
            Held {
                data: frame.data.to_vec(),
                ticks: self.audio.ticks(nanos),
                keyframe: true,
                entry,
            }
        };
        let video = frame.codec.is_video();
        let track = if video {
            &mut self.video
        } else {
            &mut self.audio
        };
        let Some(previous) = track.held.take() else {
            track.held = Some(held);
            return Ok(());
        };
        // A frame that came late is written right after the one before it.
        let ticks = held.ticks.max(previous.ticks + 1);
        let duration = u32::try_from(ticks - previous.ticks).unwrap_or(u32::MAX);
        track.last_duration = duration;
        track.held = Some(Held { ticks, ..held });
        self.write(video, previous, duration)
    }

    /// The frame as MP4 holds it, and a new sample entry if its parameter sets are new.
    fn video_sample(
        &mut self,
        frame: &Frame,
    ) -> Result<(Vec<u8>, Option<SampleEntry>), RecordingError> {
        let nals = h264::parse_annexb_nal_units(&frame.data).map_err(mux)?;
        let mut data = Vec::with_capacity(frame.data.len());
        let mut parameter_sets = Vec::new();
        for nal in &nals {
            match nal.nal_unit_type {
                H264NalUnitType::Sps | H264NalUnitType::Pps => {
                    parameter_sets.extend_from_slice(nal.data)
                }
                // The delimiters carry nothing a file needs.
                H264NalUnitType::Aud => {}
                _ => {
                    let length = u32::try_from(nal.data.len())
                        .map_err(|_| RecordingError::Mux("an H.264 NAL unit over 4 GiB".into()))?;
                    data.extend_from_slice(&length.to_be_bytes());
                    data.extend_from_slice(nal.data);
                }
            }
        }
        if parameter_sets.is_empty() || parameter_sets == self.parameter_sets {
            return Ok((data, None));
        }
        let avc1 = h264::build_avc1_box_from_annexb(
            &frame.data,
            &H264SampleEntryConfig {
                length_size: LengthSize::FourBytes,
            },
        )
        .map_err(mux)?;
        self.parameter_sets = parameter_sets;
        Ok((data, Some(SampleEntry::Avc1(avc1))))
    }

    fn write(&mut self, video: bool, sample: Held, duration: u32) -> Result<(), RecordingError> {
        let track = if video { &self.video } else { &self.audio };
        let described = Sample {
            track_kind: track.kind,
            sample_entry: sample.entry,
            keyframe: sample.keyframe,
            timescale: track.timescale,
            duration,
            composition_time_offset: None,
            data_offset: self.position,
            data_size: sample.data.len(),
        };
        self.file
            .write_all(&sample.data)
            .map_err(|err| self.io(err))?;
        self.muxer.append_sample(&described).map_err(mux)?;
        self.position += sample.data.len() as u64;
        Ok(())
    }

    /// Close the file: the held frames written, then the sample tables, so players can
    /// seek it.
    pub(super) fn finish(mut self) -> Result<PathBuf, RecordingError> {
        for video in [true, false] {
            let track = if video {
                &mut self.video
            } else {
                &mut self.audio
            };
            let duration = track.last_duration;
            if let Some(held) = track.held.take() {
                self.write(video, held, duration)?;
            }
        }
        let finalized = self.muxer.finalize().map_err(mux)?;
        for (offset, bytes) in finalized.offset_and_bytes_pairs() {
            self.file
                .seek(SeekFrom::Start(offset))
                .and_then(|_| self.file.write_all(bytes))
                .map_err(|err| RecordingError::Create(self.path.clone(), err))?;
        }
        self.file
            .flush()
            .map_err(|err| RecordingError::Create(self.path.clone(), err))?;
        Ok(self.path)
    }

    fn io(&self, err: std::io::Error) -> RecordingError {
        RecordingError::Create(self.path.clone(), err)
    }
}

fn mux(err: impl std::fmt::Display) -> RecordingError {
    RecordingError::Mux(format!("MP4: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::recording::Codec;
    use shiguredo_mp4::demux::{Input, Mp4FileDemuxer};
    use std::time::Instant;

    /// A 640x480 stream's parameter sets (from libx264, as aiortc sends it).
    const SPS: &str = "6742c01fd900a03da10000030001000003003c8f183248";
    const PPS: &str = "68cb8cb2";

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
            .collect()
    }

    fn annex_b(nals: &[Vec<u8>]) -> Vec<u8> {
        nals.iter()
            .flat_map(|nal| [0, 0, 0, 1].iter().copied().chain(nal.iter().copied()))
            .collect()
    }

    fn frame(codec: Codec, keyframe: bool, micros: u64, at: Instant, data: Vec<u8>) -> Frame {
        Frame {
            codec,
            keyframe,
            micros,
            at,
            data: data.into(),
        }
    }

    #[test]
    fn frames_become_samples_that_last_until_the_next_and_parameter_sets_go_in_the_entry() {
        let path = std::env::temp_dir().join(format!(
            "onair-mp4-test-{}.mp4",
            crate::server::secrets::new_token()
        ));
        let at = Instant::now();
        let aud = vec![0x09, 0xf0];
        let idr = vec![0x65, 0x88, 0x84, 0x21];
        let key = annex_b(&[aud.clone(), hex(SPS), hex(PPS), idr.clone()]);
        let mut file =
            Mp4File::start(&path, &frame(Codec::H264, true, 1_000_000, at, key)).unwrap();
        for n in 1..30u64 {
            let slice = annex_b(&[vec![0x41, 0x9a, n as u8]]);
            // 3,000 ticks of 90 kHz apart, in microseconds as str0m gives them.
            let micros = 1_000_000 + n * 1_000_000 / 30;
            file.add(&frame(Codec::H264, false, micros, at, slice))
                .unwrap();
        }
        for n in 0..50u64 {
            file.add(&frame(
                Codec::Opus,
                true,
                7_000 + n * 20_000,
                at,
                vec![0xfc; 40],
            ))
            .unwrap();
        }
        let path = file.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);

        let mut demuxer = Mp4FileDemuxer::new();
        demuxer.handle_input(Input {
            position: 0,
            data: &bytes,
        });
        let tracks = demuxer.tracks().unwrap().to_vec();
        assert_eq!(tracks.len(), 2);
        let mut video = Vec::new();
        let mut audio = Vec::new();
        while let Some(sample) = demuxer.next_sample().unwrap() {
            let start = sample.data_offset as usize;
            let data = bytes[start..start + sample.data_size].to_vec();
            let entry = sample.sample_entry.cloned();
            let row = (
                sample.timestamp,
                sample.duration,
                sample.keyframe,
                data,
                entry,
            );
            match sample.track.kind {
                TrackKind::Video => video.push(row),
                _ => audio.push(row),
            }
        }
        assert_eq!((video.len(), audio.len()), (30, 50));
        // 1/30 s apart on the 90 kHz clock; the last lasts as long as the one before.
        assert_eq!(video[1].0, 3_000);
        let durations: Vec<u32> = video.iter().map(|row| row.1).collect();
        assert_eq!(durations, vec![3_000; 30]);
        assert!(video[0].2 && !video[1].2);
        // The key frame holds its slice, length-prefixed; SPS, PPS and the delimiter are out.
        assert_eq!(video[0].3, [&[0, 0, 0, 4][..], &idr].concat());
        let Some(SampleEntry::Avc1(avc1)) = &video[0].4 else {
            panic!("the first picture has no avc1 entry: {:?}", video[0].4);
        };
        assert_eq!((avc1.visual.width, avc1.visual.height), (640, 480));
        assert_eq!(avc1.avcc_box.sps_list, vec![hex(SPS)]);
        // 20 ms of sound each, on the 48 kHz clock.
        assert!(audio.iter().all(|(_, duration, ..)| *duration == 960));
        assert!(matches!(audio[0].4, Some(SampleEntry::Opus(_))));
    }
}
