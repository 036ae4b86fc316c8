//! Floor mode (`--floor`): what relaying costs on this machine before any server code runs.
//!
//! The same clients, rooms, rate and candidate size as relay mode, over loopback TCP, but against
//! a bare relay inside this process: one thread on epoll (mio) that reads every readable
//! connection until it would block, appends each message to its recipient's buffer, and writes
//! every recipient's buffer with one `send` per turn of its loop. No WebSocket framing, no JSON,
//! no queues, no async runtime, no limits. A message is `--candidate-bytes` bytes: the
//! recipient's index and the send time, then filler. The clients pace themselves as in relay
//! mode (see `pace.rs` and `writer.rs`: a round at most every 2 ms, what is due written at once),
//! on the tool's main thread.
//!
//! The relay thread's CPU per message is the least a relay costs here for that traffic: the
//! kernel's share of a `recv` and a loopback `send` (which also runs the recipient's TCP
//! receive) plus the wake-ups. Read the server's figure against it.
//!
//! The parts: [`wire`] (the message layout, the phases, the non-blocking connection both sides
//! use), [`relay`] (the relay thread), [`clients`] (the paced clients); this module runs them
//! and reports.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU8, AtomicUsize, Ordering},
        Arc,
    },
    thread,
};

use mio::net::TcpListener;
use serde::Serialize;

mod clients;
mod relay;
mod wire;

use wire::{HEADER, STOP, WARMING};

use crate::{cli::Args, stats::LatencySummary, sys};

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
            .spawn(move || relay::relay(listener, size, &phase, &accepted))
            .map_err(|err| format!("cannot start the relay thread: {err}"))?
    };
    let outcome = clients::drive(args, &layout, size, addr, &phase, &accepted);
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
