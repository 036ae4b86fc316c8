//! Pacing: when a sender that owes messages at a fixed rate sends its next round.

use std::time::Duration;

/// Paced mode: time between a sender's rounds at `rate` messages/s, about one message (2 ms to
/// 0.5 s). Jittered by `seed` so that clients do not tick in lockstep; the caller's credit keeps
/// the rate exact. (Floor mode paces its clients with it too.)
pub fn round_gap(rate: f64, seed: u64) -> Duration {
    let jitter = 0.5 + unit_random(seed);
    Duration::from_secs_f64((1.0 / rate).clamp(0.002, 0.5) * jitter)
}

/// A number in [0, 1) from `seed` (splitmix64).
pub fn unit_random(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}
