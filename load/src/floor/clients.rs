//! Floor mode's clients, all on the tool's main thread: they connect to the bare relay, then
//! pace their messages as relay mode does through the warm-up, the measured window and the
//! grace, and measure the latency of what arrives.

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicU8, AtomicUsize, Ordering},
    thread,
    time::{Duration, Instant},
};

use mio::{net::TcpStream, Events, Interest, Poll, Token};

use super::wire::{sent_at, take_messages, Conn, DRAINING, HEADER, MEASURING, READ_CHUNK, WARMING};
use crate::{
    cli::Args,
    pace,
    stats::{Histogram, LatencySummary},
};

/// Traffic before the measured window, so that it starts in a steady state.
const WARMUP: Duration = Duration::from_secs(1);
/// After the traffic, time for what is in flight to arrive.
const GRACE: Duration = Duration::from_secs(2);

/// One client's sending: to its broadcaster (a viewer) or to its viewers (a broadcaster).
struct Sender {
    targets: Vec<u32>,
    rate: f64,
    next_round: Instant,
    last_round: Option<Instant>,
    credit: f64,
    next_target: usize,
}

/// Connect, pace the senders through warm-up, the window and the grace; (sent, received, latency).
pub fn drive(
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
                sender.next_round = now + pace::round_gap(sender.rate, seed);
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
