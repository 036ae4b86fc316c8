//! A viewer's capped downlink, in this process: each datagram from the relay waits its turn
//! on a link of `kbps` behind a queue of [`QUEUE`], as a slow real link's buffer, and is
//! dropped when the queue is full. The viewer's str0m sees the delay and the loss, and so does
//! the relay's estimate of its link (its TWCC feedback is what the relay reads).

use std::{
    collections::VecDeque,
    net::SocketAddr,
    time::{Duration, Instant},
};

/// The most a datagram waits in the queue before the link drops it.
pub const QUEUE: Duration = Duration::from_millis(250);

pub struct Shaper {
    kbps: u32,
    /// When the link is free for the next datagram.
    free: Option<Instant>,
    queue: VecDeque<(Instant, Vec<u8>, SocketAddr)>,
    pub dropped: u64,
}

impl Shaper {
    pub fn new(kbps: u32) -> Self {
        Self {
            kbps: kbps.max(1),
            free: None,
            queue: VecDeque::new(),
            dropped: 0,
        }
    }

    /// A datagram came at `now`: it passes once the link carried it, unless the queue is full.
    pub fn push(&mut self, now: Instant, data: &[u8], from: SocketAddr) {
        let start = self.free.map_or(now, |free| free.max(now));
        if start.saturating_duration_since(now) > QUEUE {
            self.dropped += 1;
            return;
        }
        let carried = Duration::from_micros(data.len() as u64 * 8 * 1000 / u64::from(self.kbps));
        let done = start + carried;
        self.free = Some(done);
        self.queue.push_back((done, data.to_vec(), from));
    }

    /// When the next datagram is through.
    pub fn next_at(&self) -> Option<Instant> {
        self.queue.front().map(|(at, _, _)| *at)
    }

    /// The next datagram through the link by `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Vec<u8>, SocketAddr)> {
        if self.next_at()? > now {
            return None;
        }
        self.queue.pop_front().map(|(_, data, from)| (data, from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_carries_its_rate_and_drops_past_its_queue() {
        let from: SocketAddr = ([127, 0, 0, 1], 9).into();
        let start = Instant::now();
        // 1000 kbit/s: a 1250-byte datagram takes 10 ms.
        let mut link = Shaper::new(1000);
        for _ in 0..40 {
            link.push(start, &[0; 1250], from);
        }
        assert_eq!(link.next_at(), Some(start + Duration::from_millis(10)));
        assert!(link.pop_due(start).is_none(), "not through yet");
        assert!(link.pop_due(start + Duration::from_millis(10)).is_some());
        // 25 fit in the 250 ms queue (the 26th starts at 250 ms, still allowed); the rest drop.
        assert_eq!(link.dropped, 40 - 26);
        let mut through = 1;
        while link.pop_due(start + Duration::from_secs(1)).is_some() {
            through += 1;
        }
        assert_eq!(through, 26);
    }
}
