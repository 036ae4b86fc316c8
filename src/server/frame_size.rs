//! A video key frame's picture size, read from the frame itself: the recorder needs it for
//! the file's track, and the relay to know how big each simulcast layer is.

use shiguredo_mp4::bitstream::h264::{self, H264NalUnitType};

/// The width and height a VP8 key frame says (RFC 6386 §9.1); `None` for any other frame.
pub fn vp8_size(frame: &[u8]) -> Option<(u32, u32)> {
    let key = frame.first()? & 1 == 0;
    let start_code = frame.get(3..6)? == [0x9d, 0x01, 0x2a];
    if !key || !start_code {
        return None;
    }
    let width = u32::from(u16::from_le_bytes([*frame.get(6)?, *frame.get(7)?]) & 0x3fff);
    let height = u32::from(u16::from_le_bytes([*frame.get(8)?, *frame.get(9)?]) & 0x3fff);
    (width > 0 && height > 0).then_some((width, height))
}

/// The width and height in the SPS of an H.264 frame (Annex B); `None` for a frame without
/// one (only key frames carry it).
pub fn h264_size(frame: &[u8]) -> Option<(u32, u32)> {
    let nals = h264::parse_annexb_nal_units(frame).ok()?;
    let sps = nals
        .iter()
        .find(|nal| nal.nal_unit_type == H264NalUnitType::Sps)?;
    let sps = h264::parse_sps(sps.data).ok()?;
    Some((u32::from(sps.width), u32::from(sps.height)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_key_frames_say_their_size() {
        let mut frame = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a];
        frame.extend_from_slice(&640u16.to_le_bytes());
        frame.extend_from_slice(&(480u16 | 0x4000).to_le_bytes()); // scaling bits ignored
        assert_eq!(vp8_size(&frame), Some((640, 480)));
        frame[0] = 0x11; // an inter frame
        assert_eq!(vp8_size(&frame), None);
        assert_eq!(vp8_size(&[0x10]), None);
    }

    #[test]
    fn h264_key_frames_say_their_size() {
        // A 640x480 baseline SPS, then a slice.
        let sps = [
            0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0xa0, 0x3d, 0xa1, 0x00, 0x00, 0x03, 0x00, 0x01,
            0x00, 0x00, 0x03, 0x00, 0x3c, 0x8f, 0x18, 0x32, 0x48,
        ];
        let mut frame = vec![0, 0, 0, 1];
        frame.extend_from_slice(&sps);
        frame.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88, 0x84]);
        assert_eq!(h264_size(&frame), Some((640, 480)));
        assert_eq!(h264_size(&[0, 0, 0, 1, 0x41, 0x9a]), None, "no SPS");
        assert_eq!(h264_size(&[1, 2, 3]), None, "not Annex B");
    }
}
