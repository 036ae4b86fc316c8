//! The stamp every synthetic frame carries, and the measurement window both ends agree on.
//!
//! Byte 0 is the codec's own (VP8: bit 0 clear on a key frame); then the frame's sequence
//! number (u32) and its send time on the run's clock (u64 microseconds), little-endian.

use std::{
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Instant,
};

pub const STAMP_BYTES: usize = 13;

/// The run's clock: both ends are in this process.
#[derive(Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    pub fn new() -> Self {
        Self(Instant::now())
    }

    pub fn micros(&self) -> u64 {
        self.0.elapsed().as_micros() as u64
    }
}

pub fn write(frame: &mut [u8], seq: u32, sent: u64) {
    if let Some(stamp) = frame.get_mut(1..STAMP_BYTES) {
        stamp[..4].copy_from_slice(&seq.to_le_bytes());
        stamp[4..].copy_from_slice(&sent.to_le_bytes());
    }
}

/// (sequence number, send time) of a frame.
pub fn read(frame: &[u8]) -> Option<(u32, u64)> {
    let stamp = frame.get(1..STAMP_BYTES)?;
    let seq = u32::from_le_bytes(stamp[..4].try_into().ok()?);
    let sent = u64::from_le_bytes(stamp[4..].try_into().ok()?);
    Some((seq, sent))
}

/// The frames that count: those sent within [start, end) on the run's clock.
pub struct Window {
    start: AtomicU64,
    end: AtomicU64,
}

impl Window {
    pub fn closed() -> Self {
        Self {
            start: AtomicU64::new(u64::MAX),
            end: AtomicU64::new(u64::MAX),
        }
    }

    pub fn open(&self, at: u64) {
        self.end.store(u64::MAX, Relaxed);
        self.start.store(at, Relaxed);
    }

    pub fn close(&self, at: u64) {
        self.end.store(at, Relaxed);
    }

    pub fn reset(&self) {
        self.start.store(u64::MAX, Relaxed);
        self.end.store(u64::MAX, Relaxed);
    }

    pub fn holds(&self, sent: u64) -> bool {
        sent >= self.start.load(Relaxed) && sent < self.end.load(Relaxed)
    }
}

/// The median and the 99th percentile of one-way `delays` (µs), in milliseconds.
pub(super) fn delay_quantiles(mut delays: Vec<u32>) -> (f64, f64) {
    delays.sort_unstable();
    let quantile = |q: f64| {
        delays
            .get(((delays.len() as f64 - 1.0) * q).round().max(0.0) as usize)
            .map_or(0.0, |us| f64::from(*us) / 1000.0)
    };
    (quantile(0.5), quantile(0.99))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back() {
        let mut frame = vec![0u8; 40];
        write(&mut frame, 77, 123_456_789);
        assert_eq!(read(&frame), Some((77, 123_456_789)));
        assert_eq!(read(&frame[..5]), None);
        let window = Window::closed();
        assert!(!window.holds(5));
        window.open(5);
        assert!(window.holds(5) && window.holds(1 << 40));
        window.close(10);
        assert!(window.holds(9) && !window.holds(10) && !window.holds(4));
    }
}
