//! What every client of a run shares: its settings, the counters, and the phase of the run.

use std::sync::Arc;

use tokio::sync::{watch, Semaphore};

use crate::stats::{Registry, Stats};

/// Where the run is; every client watches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Connecting, joining, offer/answer.
    Setup,
    /// Candidates flow.
    Traffic,
    /// No new candidates; what is in flight may still arrive.
    Drain,
    /// Everyone leaves.
    Leave,
}

/// What all clients share.
pub struct Shared {
    pub addr: String,
    pub idle: bool,
    pub sdp_bytes: usize,
    pub candidate_bytes: usize,
    /// Candidates per second per stream (one direction of one viewer–broadcaster pair);
    /// 0 means as fast as the window allows.
    pub stream_rate: f64,
    /// With `stream_rate` 0: messages in flight towards the busiest client of a room (its
    /// broadcaster); every stream of the room gets an equal share.
    pub window: u64,
    /// The clock all stamps are taken from.
    pub clock: std::time::Instant,
    pub stats: Stats,
    pub registry: Registry,
    pub phase: watch::Receiver<Phase>,
    /// Bounds the connections being opened at once.
    pub gate: Arc<Semaphore>,
}

impl Shared {
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A client's room.
#[derive(Clone, Debug)]
pub struct Seat {
    pub room: String,
    pub viewers_in_room: u32,
}
