//! Counters shared by all clients, the latency histograms, and the per-stream tallies that
//! tell lost messages from delivered ones.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed},
        Arc, Mutex, MutexGuard,
    },
};

use onair_protocol::PeerId;
use serde::Serialize;
use tokio::sync::Notify;

use crate::payload::Kind;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counts by name (error codes, close reasons, …).
#[derive(Default)]
pub struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    pub fn add(&self, key: impl Into<String>) {
        *lock(&self.0).entry(key.into()).or_insert(0) += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        lock(&self.0).clone()
    }
}

/// Sub-buckets per power of two: values are kept to within 1/128 (< 0.8 %).
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Up to 2^41 ns (about 36 minutes).
const MAX_EXP: u32 = 41;
const BUCKETS: usize = ((MAX_EXP - SUB_BITS + 2) as usize) * SUB as usize;

/// A log-linear histogram of nanosecond values, safe to record into from any thread.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

fn bucket_of(value: u64) -> usize {
    let value = value.min((1 << MAX_EXP) - 1);
    if value < SUB {
        return value as usize;
    }
    let exp = 63 - value.leading_zeros(); // >= SUB_BITS
    let mantissa = value >> (exp - SUB_BITS); // in [SUB, 2 * SUB)
    ((exp - SUB_BITS + 1) as usize) * SUB as usize + (mantissa - SUB) as usize
}

/// The largest value that falls in bucket `index`.
fn bucket_top(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB {
        return index;
    }
    let exp = (index / SUB) as u32 + SUB_BITS - 1;
    let mantissa = index % SUB + SUB;
    ((mantissa + 1) << (exp - SUB_BITS)) - 1
}

#[derive(Serialize, Clone, Copy, Debug, Default)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

impl Histogram {
    pub fn record(&self, nanos: u64) {
        if let Some(bucket) = self.buckets.get(bucket_of(nanos)) {
            bucket.fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum.fetch_add(nanos, Relaxed);
        self.max.fetch_max(nanos, Relaxed);
    }

    pub fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let max = self.max.load(Relaxed);
        let us = |nanos: u64| nanos as f64 / 1000.0;
        let quantile = |q: f64| {
            if total == 0 {
                return 0.0;
            }
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            for (index, count) in counts.iter().enumerate() {
                seen += count;
                if seen >= rank {
                    return us(bucket_top(index).min(max));
                }
            }
            us(max)
        };
        LatencySummary {
            count: total,
            mean_us: if total == 0 {
                0.0
            } else {
                us(self.sum.load(Relaxed)) / total as f64
            },
            p50_us: quantile(0.50),
            p90_us: quantile(0.90),
            p99_us: quantile(0.99),
            p999_us: quantile(0.999),
            max_us: us(max),
        }
    }
}

/// One direction between two peers: what the sender sent, what the recipient got.
pub struct StreamCounters {
    /// Messages the sender handed to its socket; also the next sequence number.
    pub sent: AtomicU64,
    /// Messages that arrived at the right recipient with the right `from`.
    pub received: AtomicU64,
    /// The sequence number the recipient expects next.
    pub next_seq: AtomicU64,
    /// The viewer end left on purpose (churn): what did not arrive is not a relay loss.
    pub churned: AtomicBool,
    /// Wakes the sender when a message arrived (for the windowed `--rate 0` mode).
    pub wake: Arc<Notify>,
}

impl StreamCounters {
    pub fn new(wake: Arc<Notify>) -> Self {
        Self {
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            next_seq: AtomicU64::new(0),
            churned: AtomicBool::new(false),
            wake,
        }
    }
}

/// Every stream of the run by (sender, recipient).
#[derive(Default)]
pub struct Registry(Mutex<HashMap<(PeerId, PeerId), Arc<StreamCounters>>>);

impl Registry {
    /// The stream `from → to`, created with the sender's `wake` if it is new.
    pub fn open(&self, from: PeerId, to: PeerId, wake: &Arc<Notify>) -> Arc<StreamCounters> {
        lock(&self.0)
            .entry((from, to))
            .or_insert_with(|| Arc::new(StreamCounters::new(wake.clone())))
            .clone()
    }

    pub fn get(&self, from: PeerId, to: PeerId) -> Option<Arc<StreamCounters>> {
        lock(&self.0).get(&(from, to)).cloned()
    }

    /// (messages sent, lost, lost on churned streams)
    pub fn losses(&self) -> (u64, u64, u64) {
        let (mut sent, mut lost, mut churned) = (0, 0, 0);
        for stream in lock(&self.0).values() {
            let s = stream.sent.load(Relaxed);
            let missing = s.saturating_sub(stream.received.load(Relaxed));
            sent += s;
            if stream.churned.load(Relaxed) {
                churned += missing;
            } else {
                lost += missing;
            }
        }
        (sent, lost, churned)
    }

    pub fn len(&self) -> usize {
        lock(&self.0).len()
    }
}

/// Everything the clients count.
#[derive(Default)]
pub struct Stats {
    pub open: AtomicI64,
    pub peak_open: AtomicI64,
    pub opened: AtomicU64,
    pub frames_sent: AtomicU64,
    pub frames_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    /// Relayed messages by [`Kind::index`].
    pub relay_sent: [AtomicU64; 3],
    pub relay_received: [AtomicU64; 3],
    /// Arrived at the wrong client, with a wrong `from`, or of a kind or sender the
    /// recipient should never get.
    pub misrouted: AtomicU64,
    /// A relayed message without a readable stamp.
    pub corrupt: AtomicU64,
    /// Arrived with a sequence number below the expected one (duplicate or reordered).
    pub reordered: AtomicU64,
    /// Arrived with a sequence number above the expected one (messages skipped).
    pub seq_gaps: AtomicU64,
    pub latency_candidate: Histogram,
    /// Candidates by direction: viewer → broadcaster, broadcaster → viewer.
    pub latency_to_broadcaster: Histogram,
    pub latency_to_viewer: Histogram,
    pub latency_sdp: Histogram,
    pub churn_leaves: AtomicU64,
    pub churn_rejoins: AtomicU64,
    pub churn_failed: AtomicU64,
    /// `error` messages from the server by code.
    pub server_errors: Tally,
    /// The first message the server sent with each error code.
    pub server_error_samples: Mutex<BTreeMap<String, String>>,
    /// Connections the server closed while the client still wanted them, by code and reason.
    pub server_closes: Tally,
    /// Problems on this side: connect failures, timeouts, unreadable messages, …
    pub client_errors: Tally,
}

impl Stats {
    pub fn connected(&self) {
        self.opened.fetch_add(1, Relaxed);
        let now = self.open.fetch_add(1, Relaxed) + 1;
        self.peak_open.fetch_max(now, Relaxed);
    }

    pub fn disconnected(&self) {
        self.open.fetch_sub(1, Relaxed);
    }

    pub fn server_error(&self, code: &str, message: &str) {
        self.server_errors.add(code);
        lock(&self.server_error_samples)
            .entry(code.to_owned())
            .or_insert_with(|| message.to_owned());
    }

    pub fn error_samples(&self) -> BTreeMap<String, String> {
        lock(&self.server_error_samples).clone()
    }

    pub fn relayed_received(&self) -> u64 {
        Kind::ALL
            .iter()
            .map(|k| self.relay_received[k.index()].load(Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut last = 0;
        for value in (0..5000).chain([1 << 20, (1 << 20) + 12345, 1 << 40]) {
            let index = bucket_of(value);
            assert!(index >= last, "{value}");
            last = index;
            let top = bucket_top(index);
            assert!(top >= value, "{value} > {top}");
            assert!(
                (top - value) as f64 <= value as f64 / 100.0 + 1.0,
                "{value} {top}"
            );
        }
        assert!(bucket_of(u64::MAX) < BUCKETS);
    }

    #[test]
    fn quantiles() {
        let h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_us - 500.0).abs() < 5.0, "{s:?}");
        assert!((s.p99_us - 990.0).abs() < 10.0, "{s:?}");
        assert_eq!(s.max_us, 1000.0);
    }
}
