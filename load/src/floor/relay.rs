//! Floor mode's bare relay: one thread on epoll (mio) that reads every readable connection
//! until it would block, appends each message to its recipient's buffer, and writes every
//! recipient's buffer with one `send` per turn of its loop; it counts its calls and its CPU.

use std::{
    io::{self, ErrorKind},
    sync::atomic::{AtomicU8, AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use mio::{net::TcpListener, Events, Interest, Poll, Token};

use super::wire::{recipient, take_messages, Conn, DRAINING, MEASURING, READ_CHUNK, STOP};
use crate::sys;

const LISTENER: Token = Token(usize::MAX);

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
pub struct RelayFigures {
    pub relayed: u64,
    pub recv_calls: u64,
    pub send_calls: u64,
    pub user_us: u64,
    pub kernel_us: u64,
    pub seconds: f64,
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
pub fn relay(
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
