//! Floor mode (`--floor`): what relaying costs on this machine before any server code runs.
//!
//! The same clients, rooms, rate and candidate size as relay mode, over loopback TCP, but against
//! a bare relay inside this process: one thread on epoll (mio) that reads every readable
//! connection until it would block, appends each message to its recipient's buffer, and writes
//! every recipient's buffer with one `send` per turn of its loop. No WebSocket framing, no JSON,
//! no queues, no async runtime, no limits. A message is `--candidate-bytes` bytes: the
//! recipient's index and the send time, then filler. The clients pace themselves as in relay
//! mode (see `client.rs`: a round at most every 2 ms, what is due written at once), on the
//! tool's main thread.
//!
//! The relay thread's CPU per message is the least a relay costs here for that traffic: the
//! kernel's share of a `recv` and a loopback `send` (which also runs the recipient's TCP
//! receive) plus the wake-ups. Read the server's figure against it.

use std::{
    io::{self, ErrorKind, Read, Write},
    net::SocketAddr,
    sync::{
        atomic::{AtomicU8, AtomicUsize, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use mio::{
    net::{TcpListener, TcpStream},
    Events, Interest, Poll, Token,
};
use serde::Serialize;

use crate::{
    cli::Args,
    client,
    stats::{Histogram, LatencySummary},
    sys,
};

/// Recipient index (u32) and send time in ns on the run's clock (u64), little-endian.
const HEADER: usize = 12;
const LISTENER: Token = Token(usize::MAX);
/// Traffic before the measured window, so that it starts in a steady state.
const WARMUP: Duration = Duration::from_secs(1);
/// After the traffic, time for what is in flight to arrive.
const GRACE: Duration = Duration::from_secs(2);
/// One `recv` takes up to this much, as the server's burst reads do.
const READ_CHUNK: usize = 16 * 1024;

/// Phases, announced by the clients to the relay thread.
const WARMING: u8 = 0;
const MEASURING: u8 = 1;
const DRAINING: u8 = 2;
const STOP: u8 = 3;

#[derive(Serialize, Debug, Default)]
pub struct FloorReport {
    pub mode: &'static str,
    pub clients: u32,
    pub rooms: usize,
    pub rate_per_s: f64,
    pub duration_s: f64,
    pub message_bytes: usize,
    /// Messages the clients sent and received over the whole run (warm-up included).
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    /// Messages the relay relayed per second in the measured window.
    pub relayed_per_s: f64,
    /// Send to receipt, for messages received in the measured window.
    pub latency: LatencySummary,
    pub relay_cpu_us_per_message: f64,
    pub relay_user_us_per_message: f64,
    pub relay_kernel_us_per_message: f64,
    /// `recv` and `send` calls of the relay per relayed message (those that would block too).
    pub relay_recv_calls_per_message: f64,
    pub relay_send_calls_per_message: f64,
    /// CPU of the whole tool (relay and clients) over the run.
    pub process_cpu_ms: f64,
}

impl FloorReport {
    pub fn print(&self) {
        let l = &self.latency;
        let ms = |us: f64| us / 1000.0;
        println!();
        println!(
            "onair-load floor: bare relay (one thread, epoll, recv/send, no WebSocket, no JSON); \
             {} clients in {} rooms over loopback, {} s at {} messages/s of {} B",
            self.clients, self.rooms, self.duration_s, self.rate_per_s, self.message_bytes
        );
        println!(
            "messages        sent {}  received {}  lost {}",
            self.sent, self.received, self.lost
        );
        println!("throughput      relayed {:.0} msgs/s", self.relayed_per_s);
        println!(
            "latency (ms)    p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  (n={})",
            ms(l.p50_us),
            ms(l.p90_us),
            ms(l.p99_us),
            ms(l.max_us),
            l.count
        );
        println!(
            "relay CPU       {:.2} µs/message (user {:.2}, kernel {:.2}); {:.2} recv and {:.2} send calls per message",
            self.relay_cpu_us_per_message,
            self.relay_user_us_per_message,
            self.relay_kernel_us_per_message,
            self.relay_recv_calls_per_message,
            self.relay_send_calls_per_message
        );
        println!(
            "whole tool      CPU {:.0} ms (relay and clients)",
            self.process_cpu_ms
        );
    }
}

/// A non-blocking connection with what was read but not yet handled and what waits to go out.
struct Conn {
    stream: TcpStream,
    read: Vec<u8>,
    out: Vec<u8>,
    /// Registered for writable: `out` did not all fit.
    blocked: bool,
    /// In the relay's list of recipients to write this turn.
    pending: bool,
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            read: Vec::new(),
            out: Vec::new(),
            blocked: false,
            pending: false,
        }
    }

    /// Write `out` as far as the socket takes it; the number of `send` calls.
    fn flush(&mut self, poll: &Poll, token: Token) -> io::Result<u64> {
        let mut calls = 0;
        while !self.out.is_empty() {
            calls += 1;
            match self.stream.write(&self.out) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        let blocked = !self.out.is_empty();
        if blocked != self.blocked {
            let interest = if blocked {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            poll.registry()
                .reregister(&mut self.stream, token, interest)?;
            self.blocked = blocked;
        }
        Ok(calls)
    }

    /// Read what the socket holds; the number of `recv` calls. A read that does not fill
    /// `chunk` emptied the socket, and epoll reports the next arrival: no call to see it
    /// would block (tokio reads the same way).
    fn fill(&mut self, chunk: &mut [u8]) -> io::Result<u64> {
        let mut calls = 0;
        loop {
            calls += 1;
            match self.stream.read(chunk) {
                Ok(0) => return Ok(calls),
                Ok(n) => {
                    self.read.extend_from_slice(&chunk[..n]);
                    if n < chunk.len() {
                        return Ok(calls);
                    }
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(calls),
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }
}

/// Hand each whole message in `read` to `each`, keep the rest.
fn take_messages(read: &mut Vec<u8>, size: usize, mut each: impl FnMut(&[u8])) {
    let whole = read.len() / size * size;
    for message in read[..whole].chunks_exact(size) {
        each(message);
    }
    read.drain(..whole);
}

fn recipient(message: &[u8]) -> usize {
    let mut index = [0; 4];
    index.copy_from_slice(&message[..4]);
    u32::from_le_bytes(index) as usize
}

fn sent_at(message: &[u8]) -> u64 {
    let mut nanos = [0; 8];
    nanos.copy_from_slice(&message[4..HEADER]);
    u64::from_le_bytes(nanos)
}

/// The relay thread's running counts.
#[derive(Clone, Copy, Default)]
struct Counts {
    relayed: u64,
    recv_calls: u64,
    send_calls: u64,
}

/// The counts and the thread's CPU (user, system µs) at one moment.
#[derive(Clone, Copy)]
struct Mark {
    counts: Counts,
    cpu: (u64, u64),
    at: Instant,
}

impl Mark {
    fn now(counts: Counts) -> Self {
        Self {
            counts,
            cpu: sys::thread_cpu_micros().unwrap_or((0, 0)),
            at: Instant::now(),
        }
    }
}

/// What the relay thread measured in the window.
#[derive(Default)]
struct RelayFigures {
    relayed: u64,
    recv_calls: u64,
    send_calls: u64,
    user_us: u64,
    kernel_us: u64,
    seconds: f64,
}

impl RelayFigures {
    fn between(start: Mark, end: Mark) -> Self {
        Self {
            relayed: end.counts.relayed - start.counts.relayed,
            recv_calls: end.counts.recv_calls - start.counts.recv_calls,
            send_calls: end.counts.send_calls - start.counts.send_calls,
            user_us: end.cpu.0.saturating_sub(start.cpu.0),
            kernel_us: end.cpu.1.saturating_sub(start.cpu.1),
            seconds: (end.at - start.at).as_secs_f64(),
        }
    }
}

/// The relay: accepts connections (their order is their index), relays until told to stop.
fn relay(
    mut listener: TcpListener,
    size: usize,
    phase: &AtomicU8,
    accepted: &AtomicUsize,
) -> io::Result<RelayFigures> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Conn> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut chunk = vec![0; READ_CHUNK];
    let mut recipients: Vec<usize> = Vec::new();
    let mut counts = Counts::default();
    let mut window: Option<Mark> = None;
    let mut figures = RelayFigures::default();
    loop {
        poll.poll(&mut events, Some(Duration::from_millis(20)))?;
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            stream.set_nodelay(true)?;
                            let token = Token(conns.len());
                            poll.registry()
                                .register(&mut stream, token, Interest::READABLE)?;
                            conns.push(Conn::new(stream));
                            accepted.store(conns.len(), Ordering::Release);
                        }
                        Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                        Err(err) => return Err(err),
                    }
                }
                continue;
            }
            let from = event.token().0;
            if event.is_writable() {
                if let Some(conn) = conns.get_mut(from) {
                    counts.send_calls += conn.flush(&poll, event.token())?;
                }
            }
            if !event.is_readable() {
                continue;
            }
            let Some(conn) = conns.get_mut(from) else {
                continue;
            };
            counts.recv_calls += conn.fill(&mut chunk)?;
            // Out of the connection while the others are written to.
            let mut read = std::mem::take(&mut conn.read);
            take_messages(&mut read, size, |message| {
                let to = recipient(message);
                if let Some(dest) = conns.get_mut(to) {
                    dest.out.extend_from_slice(message);
                    if !dest.pending {
                        dest.pending = true;
                        recipients.push(to);
                    }
                    counts.relayed += 1;
                }
            });
            conns[from].read = read;
        }
        // One write per recipient for everything this turn read for it.
        for to in recipients.drain(..) {
            let conn = &mut conns[to];
            conn.pending = false;
            counts.send_calls += conn.flush(&poll, Token(to))?;
        }
        match phase.load(Ordering::Acquire) {
            MEASURING if window.is_none() => window = Some(Mark::now(counts)),
            DRAINING | STOP if figures.seconds == 0.0 => {
                if let Some(start) = window {
                    figures = RelayFigures::between(start, Mark::now(counts));
                }
            }
            _ => {}
        }
        if phase.load(Ordering::Acquire) == STOP {
            return Ok(figures);
        }
    }
}

/// One client's sending: to its broadcaster (a viewer) or to its viewers (a broadcaster).
struct Sender {
    targets: Vec<u32>,
    rate: f64,
    next_round: Instant,
    last_round: Option<Instant>,
    credit: f64,
    next_target: usize,
}

/// Run the clients against a bare relay in this process.
pub fn run(args: &Args) -> Result<FloorReport, String> {
    if args.rate <= 0.0 {
        return Err("--floor needs a fixed --rate above 0".into());
    }
    let layout = args.layout()?;
    let clients = args.clients as usize;
    let size = (args.candidate_bytes as usize).max(HEADER);
    sys::raise_open_files(2 * clients as u64 + 64);
    let cpu_start = sys::cpu_micros(sys::own_pid());

    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|err| format!("cannot listen on loopback: {err}"))?;
    let addr: SocketAddr = std_listener
        .local_addr()
        .map_err(|err| format!("no listening address: {err}"))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|err| err.to_string())?;
    let listener = TcpListener::from_std(std_listener);
    let phase = Arc::new(AtomicU8::new(WARMING));
    let accepted = Arc::new(AtomicUsize::new(0));
    let relay_thread = {
        let (phase, accepted) = (phase.clone(), accepted.clone());
        thread::Builder::new()
            .name("floor-relay".into())
            .spawn(move || relay(listener, size, &phase, &accepted))
            .map_err(|err| format!("cannot start the relay thread: {err}"))?
    };
    let outcome = drive(args, &layout, size, addr, &phase, &accepted);
    // Whatever happened, let the relay thread end.
    phase.store(STOP, Ordering::Release);
    let figures = match relay_thread.join() {
        Ok(Ok(figures)) => figures,
        Ok(Err(err)) => return Err(format!("the relay failed: {err}")),
        Err(_) => return Err("the relay thread panicked".into()),
    };
    let (sent, received, latency) = outcome?;
    let per = |value: u64| {
        if figures.relayed == 0 {
            0.0
        } else {
            value as f64 / figures.relayed as f64
        }
    };
    Ok(FloorReport {
        mode: "floor",
        clients: args.clients,
        rooms: layout.len(),
        rate_per_s: args.rate,
        duration_s: args.duration,
        message_bytes: size,
        sent,
        received,
        lost: sent.saturating_sub(received),
        relayed_per_s: if figures.seconds > 0.0 {
            figures.relayed as f64 / figures.seconds
        } else {
            0.0
        },
        latency,
        relay_cpu_us_per_message: per(figures.user_us + figures.kernel_us),
        relay_user_us_per_message: per(figures.user_us),
        relay_kernel_us_per_message: per(figures.kernel_us),
        relay_recv_calls_per_message: per(figures.recv_calls),
        relay_send_calls_per_message: per(figures.send_calls),
        process_cpu_ms: match (cpu_start, sys::cpu_micros(sys::own_pid())) {
            (Some(start), Some(end)) => end.saturating_sub(start) as f64 / 1000.0,
            _ => 0.0,
        },
    })
}

/// Connect, pace the senders through warm-up, the window and the grace; (sent, received, latency).
fn drive(
    args: &Args,
    layout: &[u32],
    size: usize,
    addr: SocketAddr,
    phase: &AtomicU8,
    accepted: &AtomicUsize,
) -> Result<(u64, u64, LatencySummary), String> {
    let clients = args.clients as usize;
    let mut poll = Poll::new().map_err(|err| err.to_string())?;
    let mut conns = Vec::with_capacity(clients);
    for index in 0..clients {
        let stream = std::net::TcpStream::connect(addr)
            .and_then(|s| s.set_nodelay(true).and(s.set_nonblocking(true)).map(|()| s))
            .map_err(|err| format!("cannot connect to the relay: {err}"))?;
        let mut stream = TcpStream::from_std(stream);
        poll.registry()
            .register(&mut stream, Token(index), Interest::READABLE)
            .map_err(|err| err.to_string())?;
        conns.push(Conn::new(stream));
        // The relay numbers connections in the order it accepts them: keep them in step.
        let deadline = Instant::now() + Duration::from_secs(10);
        while accepted.load(Ordering::Acquire) <= index {
            if Instant::now() > deadline {
                return Err(format!("the relay did not accept connection {index}"));
            }
            thread::sleep(Duration::from_micros(100));
        }
    }

    // Rooms: the first client of each is its broadcaster; one stream each way per viewer.
    let viewers: u32 = layout.iter().map(|size| size - 1).sum();
    let stream_rate = args.rate / (2.0 * f64::from(viewers));
    let origin = Instant::now();
    let mut senders = Vec::with_capacity(clients);
    let mut first = 0u32;
    for &room in layout {
        for seat in 0..room {
            let targets = if seat == 0 {
                (first + 1..first + room).collect()
            } else {
                vec![first]
            };
            senders.push(Sender {
                rate: stream_rate * targets.len() as f64,
                targets,
                next_round: origin,
                last_round: None,
                credit: 0.0,
                next_target: 0,
            });
        }
        first += room;
    }

    let histogram = Histogram::default();
    let mut events = Events::with_capacity(1024);
    let mut chunk = vec![0; READ_CHUNK];
    let mut message = vec![b'x'; size];
    let (mut sent, mut received) = (0u64, 0u64);
    let window_start = origin + WARMUP;
    let window_end = window_start + Duration::from_secs_f64(args.duration);
    let give_up = window_end + GRACE;
    loop {
        let now = Instant::now();
        let stage = if now < window_start {
            WARMING
        } else if now < window_end {
            MEASURING
        } else {
            DRAINING
        };
        phase.store(stage, Ordering::Release);
        if stage == DRAINING && (received >= sent || now >= give_up) {
            break;
        }
        let mut wake = now + Duration::from_millis(20);
        if stage != DRAINING {
            for (index, sender) in senders.iter_mut().enumerate() {
                if sender.next_round > now {
                    wake = wake.min(sender.next_round);
                    continue;
                }
                let since = sender.last_round.replace(now).unwrap_or(now);
                // Owe at most one second (or two messages), as in relay mode.
                sender.credit = (sender.credit + (now - since).as_secs_f64() * sender.rate)
                    .min(sender.rate.max(2.0));
                let due = sender.credit.floor() as usize;
                sender.credit -= due as f64;
                let conn = &mut conns[index];
                for _ in 0..due {
                    let to = sender.targets[sender.next_target % sender.targets.len()];
                    sender.next_target += 1;
                    message[..4].copy_from_slice(&to.to_le_bytes());
                    let nanos = origin.elapsed().as_nanos() as u64;
                    message[4..HEADER].copy_from_slice(&nanos.to_le_bytes());
                    conn.out.extend_from_slice(&message);
                    sent += 1;
                }
                conn.flush(&poll, Token(index))
                    .map_err(|err| format!("a client could not send: {err}"))?;
                // Paced as in relay mode.
                let seed = index as u64 ^ origin.elapsed().as_nanos() as u64;
                sender.next_round = now + client::round_gap(sender.rate, seed);
                wake = wake.min(sender.next_round);
            }
        }
        poll.poll(
            &mut events,
            Some(wake.saturating_duration_since(Instant::now())),
        )
        .map_err(|err| err.to_string())?;
        for event in events.iter() {
            let index = event.token().0;
            let Some(conn) = conns.get_mut(index) else {
                continue;
            };
            if event.is_writable() {
                conn.flush(&poll, event.token())
                    .map_err(|err| format!("a client could not send: {err}"))?;
            }
            if event.is_readable() {
                conn.fill(&mut chunk)
                    .map_err(|err| format!("a client could not read: {err}"))?;
                let now = origin.elapsed().as_nanos() as u64;
                let measuring = phase.load(Ordering::Acquire) == MEASURING;
                take_messages(&mut conn.read, size, |message| {
                    received += 1;
                    if measuring {
                        histogram.record(now.saturating_sub(sent_at(message)));
                    }
                });
            }
        }
    }
    Ok((sent, received, histogram.summary()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn every_message_comes_through_the_bare_relay_and_is_measured() {
        let args = Args::parse_from([
            "onair-load",
            "--floor",
            "--clients",
            "6",
            "--rooms",
            "2",
            "--rate",
            "2000",
            "--duration",
            "0.5",
        ]);
        let report = run(&args).expect("the floor run");
        assert!(report.sent > 1000, "sent {}", report.sent);
        assert_eq!(report.received, report.sent);
        assert_eq!(report.lost, 0);
        assert!(report.latency.count > 0);
        assert!(report.relayed_per_s > 1000.0, "{}", report.relayed_per_s);
        assert!(report.relay_recv_calls_per_message > 0.0);
    }

    #[test]
    fn floor_needs_a_rate() {
        let args = Args::parse_from(["onair-load", "--floor", "--rate", "0"]);
        assert!(run(&args).is_err());
    }
}
