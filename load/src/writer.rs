//! The writer task of a client: the only one that touches the socket's sending half. It sends
//! what the reader asks for ([`Cmd`]) and, in the traffic phase, pumps candidates to every
//! stream, paced at the stream rate or kept within each stream's window.

use std::{
    sync::{atomic::Ordering::Relaxed, Arc},
    time::Duration,
};

use futures_util::{stream::SplitSink, SinkExt};
use onair_protocol::{ClientMessage, PeerId};
use tokio::{
    sync::{mpsc, Notify},
    time::{sleep, timeout, Instant},
};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::{
    connection::{short, was_dropped, Ws, DROPPED},
    pace::{round_gap, unit_random},
    payload::{self, Kind, Stamp},
    shared::{Phase, Shared},
    stats::StreamCounters,
};

/// One write (or flush) to the socket.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// With `--rate 0`: a window that has not moved for this long is written off as lost.
const STALL: Duration = Duration::from_secs(5);
/// Candidates one paced pump round may send before flushing.
const MAX_BATCH: usize = 256;

/// What the reader asks the writer to do.
pub enum Cmd {
    Control(ClientMessage),
    /// The id the server gave this connection, for the stamps.
    Me(PeerId),
    Sdp {
        kind: Kind,
        to: PeerId,
        stream: Arc<StreamCounters>,
    },
    /// Send candidates to `to` during the traffic phase.
    Start {
        to: PeerId,
        stream: Arc<StreamCounters>,
        window: u64,
    },
    Stop(PeerId),
    /// Close the connection (a broadcaster goes off air first, so the room is not held
    /// for its reconnect).
    Leave {
        off_air: bool,
    },
}

struct Target {
    to: PeerId,
    stream: Arc<StreamCounters>,
    window: u64,
    written_off: u64,
}

impl Target {
    fn in_flight(&self) -> u64 {
        self.stream
            .sent
            .load(Relaxed)
            .saturating_sub(self.stream.received.load(Relaxed) + self.written_off)
    }
}

/// Why the writer stopped.
enum Failure {
    /// The server dropped the connection.
    Dropped,
    Other(String),
}

fn write_result(
    result: Result<Result<(), tungstenite::Error>, tokio::time::error::Elapsed>,
) -> Result<(), Failure> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) if was_dropped(&err) => Err(Failure::Dropped),
        Ok(Err(err)) => Err(Failure::Other(format!(
            "write: {}",
            short(&err.to_string())
        ))),
        Err(_) => Err(Failure::Other("write: timed out".into())),
    }
}

struct Writer {
    shared: Arc<Shared>,
    sink: SplitSink<Ws, Message>,
    me: PeerId,
    targets: Vec<Target>,
    next: usize,
    /// Paced mode: candidates owed.
    credit: f64,
    last: Option<Instant>,
    /// Windowed mode: every window is full.
    blocked: bool,
}

pub async fn write_loop(
    shared: Arc<Shared>,
    sink: SplitSink<Ws, Message>,
    mut rx: mpsc::Receiver<Cmd>,
    wake: Arc<Notify>,
) {
    let mut phase = shared.phase.clone();
    let mut phase_open = true;
    let paced = shared.stream_rate > 0.0;
    let mut w = Writer {
        shared,
        sink,
        me: 0,
        targets: Vec::new(),
        next: 0,
        credit: 0.0,
        last: None,
        blocked: false,
    };
    let result: Result<(), Failure> = async {
        loop {
            let traffic = *phase.borrow() == Phase::Traffic && !w.targets.is_empty();
            let tick = w.tick();
            tokio::select! {
                biased;
                cmd = rx.recv() => match cmd {
                    None => return Ok(()),
                    Some(Cmd::Leave { off_air }) => {
                        if off_air {
                            w.send(&ClientMessage::OffAir, None).await?;
                        }
                        return Ok(());
                    }
                    Some(cmd) => w.command(cmd).await?,
                },
                changed = phase.changed(), if phase_open => {
                    if changed.is_err() {
                        phase_open = false;
                    }
                    if traffic && paced {
                        // The traffic phase ended: send what fell due up to now.
                        w.pump_paced().await?;
                    }
                    w.last = None;
                    // Start each sender at a random point of its period, or all clients of a
                    // run would send in lockstep.
                    w.credit = unit_random(w.me ^ w.shared.now_ns());
                }
                () = sleep(tick), if paced && traffic => w.pump_paced().await?,
                () = wake.notified(), if !paced && traffic && w.blocked => w.blocked = false,
                () = sleep(STALL), if !paced && traffic && w.blocked => w.write_off(),
                () = std::future::ready(()), if !paced && traffic && !w.blocked => {
                    w.pump_window().await?;
                }
            }
        }
    }
    .await;
    match result {
        Ok(()) => {}
        Err(Failure::Dropped) => w.shared.stats.server_closes.add(DROPPED),
        Err(Failure::Other(reason)) => w.shared.stats.client_errors.add(reason),
    }
    let _ = timeout(WRITE_TIMEOUT, w.sink.close()).await;
}

impl Writer {
    async fn command(&mut self, cmd: Cmd) -> Result<(), Failure> {
        match cmd {
            Cmd::Control(msg) => self.send(&msg, None).await,
            Cmd::Me(id) => {
                self.me = id;
                Ok(())
            }
            Cmd::Sdp { kind, to, stream } => {
                let stamp = Stamp {
                    kind,
                    from: self.me,
                    to,
                    seq: stream.sent.fetch_add(1, Relaxed),
                    sent_ns: self.shared.now_ns(),
                };
                let sdp = payload::sdp(&stamp, self.shared.sdp_bytes);
                let msg = match kind {
                    Kind::Answer => ClientMessage::Answer { to, sdp },
                    _ => ClientMessage::Offer { to, sdp },
                };
                self.send(&msg, Some(kind)).await
            }
            Cmd::Start { to, stream, window } => {
                self.targets.retain(|t| t.to != to);
                self.targets.push(Target {
                    to,
                    stream,
                    window,
                    written_off: 0,
                });
                Ok(())
            }
            Cmd::Stop(to) => {
                self.targets.retain(|t| t.to != to);
                Ok(())
            }
            Cmd::Leave { .. } => Ok(()),
        }
    }

    /// Paced mode: time between pump rounds, about one message (2 ms to 0.5 s).
    fn tick(&self) -> Duration {
        let rate = self.shared.stream_rate * self.targets.len() as f64;
        if rate <= 0.0 {
            return Duration::from_millis(500);
        }
        round_gap(rate, self.me ^ self.shared.now_ns())
    }

    async fn pump_paced(&mut self) -> Result<(), Failure> {
        let now = Instant::now();
        let last = self.last.replace(now).unwrap_or(now);
        let rate = self.shared.stream_rate * self.targets.len() as f64;
        // Owe at most one second (or two messages): a sender that fell behind does not burst
        // to catch up.
        self.credit = (self.credit + (now - last).as_secs_f64() * rate).min(rate.max(2.0));
        let due = (self.credit.floor() as usize).min(MAX_BATCH);
        self.credit -= due as f64;
        if due == 0 {
            return Ok(());
        }
        // One time limit for the round, not one per message: it reads the clock.
        let round = async {
            for _ in 0..due {
                let index = self.next % self.targets.len();
                self.next = self.next.wrapping_add(1);
                self.feed_candidate(index).await?;
            }
            self.sink.flush().await
        };
        write_result(timeout(WRITE_TIMEOUT, round).await)
    }

    async fn pump_window(&mut self) -> Result<(), Failure> {
        let round = async {
            let mut sent = 0;
            for _ in 0..self.targets.len() {
                let index = self.next % self.targets.len();
                self.next = self.next.wrapping_add(1);
                let Some(target) = self.targets.get(index) else {
                    break;
                };
                let room = target.window.saturating_sub(target.in_flight()).min(8);
                for _ in 0..room {
                    self.feed_candidate(index).await?;
                    sent += 1;
                }
                if sent >= MAX_BATCH {
                    break;
                }
            }
            if sent > 0 {
                self.sink.flush().await?;
            }
            Ok(sent)
        };
        match timeout(WRITE_TIMEOUT, round).await {
            Ok(Ok(0)) => {
                self.blocked = true;
                Ok(())
            }
            result => write_result(result.map(|sent| sent.map(drop))),
        }
    }

    /// Nothing came back for a while: count what is in flight as gone and go on.
    fn write_off(&mut self) {
        for target in &mut self.targets {
            target.written_off = target
                .stream
                .sent
                .load(Relaxed)
                .saturating_sub(target.stream.received.load(Relaxed));
        }
        self.blocked = false;
    }

    /// Queue one candidate to `targets[index]` in the socket's buffer (the caller flushes, within
    /// its time limit).
    async fn feed_candidate(&mut self, index: usize) -> Result<(), tungstenite::Error> {
        let Some(target) = self.targets.get(index) else {
            return Ok(());
        };
        let to = target.to;
        let stamp = Stamp {
            kind: Kind::Candidate,
            from: self.me,
            to,
            seq: target.stream.sent.fetch_add(1, Relaxed),
            sent_ns: self.shared.now_ns(),
        };
        let text = payload::candidate_message(to, &stamp, self.shared.candidate_bytes);
        self.count_sent(&text, Some(Kind::Candidate));
        self.sink.feed(Message::text(text)).await
    }

    fn count_sent(&self, text: &str, kind: Option<Kind>) {
        let stats = &self.shared.stats;
        stats.frames_sent.fetch_add(1, Relaxed);
        stats.bytes_sent.fetch_add(text.len() as u64, Relaxed);
        if let Some(kind) = kind {
            stats.relay_sent[kind.index()].fetch_add(1, Relaxed);
        }
    }

    async fn feed(&mut self, msg: &ClientMessage, kind: Option<Kind>) -> Result<(), Failure> {
        let text =
            serde_json::to_string(msg).map_err(|err| Failure::Other(format!("encode: {err}")))?;
        self.feed_text(text, kind).await
    }

    async fn feed_text(&mut self, text: String, kind: Option<Kind>) -> Result<(), Failure> {
        self.count_sent(&text, kind);
        write_result(timeout(WRITE_TIMEOUT, self.sink.feed(Message::text(text))).await)
    }

    async fn flush(&mut self) -> Result<(), Failure> {
        write_result(timeout(WRITE_TIMEOUT, self.sink.flush()).await)
    }

    async fn send(&mut self, msg: &ClientMessage, kind: Option<Kind>) -> Result<(), Failure> {
        self.feed(msg, kind).await?;
        self.flush().await
    }
}
