//! `onair-load`: a load generator for the onair signaling server.
//!
//! Build and run (the server with limits fit for a load test, on loopback):
//!
//! ```text
//! cargo build --release --features ssr --bin onair
//! cargo build --release -p onair-load
//! ulimit -n 65536   # or as high as `ulimit -Hn` allows, in the server's shell
//! ./target/release/onair --addr 127.0.0.1:3900 --messages-per-second 100000 \
//!     --max-connections-per-ip 100000 --max-viewers 1000 --max-rooms 100000 &
//! ./target/release/onair-load --addr 127.0.0.1:3900 --clients 1000 --rooms 50 \
//!     --rate 20000 --duration 10 --server-pid $!
//! ./target/release/onair-load --addr 127.0.0.1:3900 --idle --clients 10000 \
//!     --room-size 20 --duration 10 --server-pid <pid>
//! ```
//!
//! With the server's defaults (50 messages/s per connection, burst 100; 200 connections per
//! IP address; 10 viewers per room; 1000 rooms) a big run mostly measures refusals: they are
//! counted by error code (`rate_limited`, `room_full`, …) and HTTP status (429).
//!
//! Every relayed message carries a stamp (kind, sender id, recipient id, sequence number, send
//! time on the run's clock) in its SDP text or candidate line; the receiving client checks it
//! against the `from` the server stamped and its own id, counts misrouted messages, and
//! measures the relay latency. A stream's messages that were sent but had not arrived by the
//! end of the grace period are lost.

mod cli;
mod client;
mod connection;
mod floor;
mod media;
mod pace;
mod payload;
mod reader;
mod report;
mod shared;
mod stats;
mod sys;
mod writer;

use std::{
    process::ExitCode,
    sync::{atomic::Ordering::Relaxed, Arc},
    time::Duration,
};

use clap::Parser;
use tokio::{
    sync::{mpsc, watch, Notify, Semaphore},
    task::JoinHandle,
    time::{sleep, sleep_until, timeout, Instant},
};

use cli::Args;
use payload::Kind;
use report::Report;
use shared::{Phase, Seat, Shared};

/// Time all clients together get to close after the run.
const LEAVE_WAIT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(err) = args.check() {
        eprintln!("onair-load: {err}");
        return ExitCode::from(2);
    }
    if args.floor {
        return run_floor(&args);
    }
    if args.media_floor {
        return media::floor_main(&args);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("onair-load: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    if args.media {
        let code = runtime.block_on(media::main(&args));
        runtime.shutdown_timeout(Duration::from_secs(1));
        return code;
    }
    let report = runtime.block_on(run(&args));
    // Tasks still stuck somewhere must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_secs(1));
    report.print();
    if !write_json(&args, &report) {
        return ExitCode::FAILURE;
    }
    if report.connections.ready == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `--floor`: the bare relay in this process, no server (see `floor.rs`).
fn run_floor(args: &Args) -> ExitCode {
    progress(&format!(
        "floor: {} clients in {} rooms against a bare relay in this process, {} s at {}/s",
        args.clients, args.rooms, args.duration, args.rate
    ));
    let report = match floor::run(args) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("onair-load: floor: {err}");
            return ExitCode::FAILURE;
        }
    };
    report.print();
    if !write_json(args, &report) {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// With `--json`: write the figures there; false if that failed (and said why).
pub(crate) fn write_json(args: &Args, report: &impl serde::Serialize) -> bool {
    let Some(path) = &args.json else {
        return true;
    };
    let written = serde_json::to_string_pretty(report)
        .map_err(|err| err.to_string())
        .and_then(|json| std::fs::write(path, json + "\n").map_err(|err| err.to_string()));
    if let Err(err) = &written {
        eprintln!("onair-load: cannot write {}: {err}", path.display());
    }
    written.is_ok()
}

fn progress(text: &str) {
    eprintln!("onair-load: {text}");
}

/// Wait for `expected` setup reports (ready or failed) or the deadline; (ready, failed).
async fn wait_setup(
    rx: &mut mpsc::UnboundedReceiver<bool>,
    expected: usize,
    deadline: Instant,
    what: &str,
) -> (u64, u64) {
    let (mut ready, mut failed) = (0u64, 0u64);
    let mut next_note = Instant::now() + Duration::from_secs(2);
    while ((ready + failed) as usize) < expected {
        tokio::select! {
            report = rx.recv() => match report {
                Some(true) => ready += 1,
                Some(false) => failed += 1,
                None => break,
            },
            () = sleep_until(next_note) => {
                progress(&format!("{what}: {ready} ready, {failed} failed of {expected}"));
                next_note += Duration::from_secs(2);
            }
            () = sleep_until(deadline) => {
                progress(&format!(
                    "{what}: setup deadline passed with {ready} ready, {failed} failed of {expected}"
                ));
                break;
            }
        }
    }
    (ready, failed)
}

/// Server figures at one moment.
#[derive(Clone, Copy, Default)]
struct Probe {
    rss_kib: Option<u64>,
    hwm_kib: Option<u64>,
    cpu_us: Option<u64>,
}

fn probe(pid: Option<u32>) -> Probe {
    let Some(pid) = pid else {
        return Probe::default();
    };
    let memory = sys::memory_kib(pid);
    Probe {
        rss_kib: memory.map(|m| m.0),
        hwm_kib: memory.map(|m| m.1),
        cpu_us: sys::cpu_micros(pid),
    }
}

fn cpu_ms(from: Option<u64>, to: Option<u64>) -> Option<f64> {
    Some(to?.saturating_sub(from?) as f64 / 1000.0)
}

fn per_connection(base: Option<u64>, then: Option<u64>, connections: i64) -> Option<f64> {
    if connections <= 0 {
        return None;
    }
    Some((then? as f64 - base? as f64) * 1024.0 / connections as f64)
}

async fn run(args: &Args) -> Report {
    let layout = args.layout().unwrap_or_default();
    let viewers: u64 = layout.iter().map(|&n| u64::from(n.saturating_sub(1))).sum();
    let streams = 2 * viewers;

    let want_files = u64::from(args.clients) + 256;
    match sys::raise_open_files(want_files) {
        Some(limit) if limit < want_files => progress(&format!(
            "warning: this process may open only {limit} files and needs about {want_files}; \
             run `ulimit -n {want_files}` first (at most `ulimit -Hn`)"
        )),
        Some(_) => {}
        None => progress("note: cannot read the open-files limit; mind `ulimit -n`"),
    }
    let pid = args.server_pid;
    if let Some(pid) = pid {
        if sys::memory_kib(pid).is_none() {
            progress(&format!(
                "warning: cannot read /proc/{pid}/status; no server figures"
            ));
        }
    }

    let (phase_tx, phase_rx) = watch::channel(Phase::Setup);
    let stream_rate = if args.rate > 0.0 && streams > 0 {
        args.rate / streams as f64
    } else {
        0.0
    };
    let shared = Arc::new(Shared {
        addr: args.addr.clone(),
        idle: args.idle,
        sdp_bytes: args.sdp_bytes as usize,
        candidate_bytes: args.candidate_bytes as usize,
        stream_rate,
        window: u64::from(args.window),
        clock: std::time::Instant::now(),
        stats: stats::Stats::default(),
        registry: stats::Registry::default(),
        phase: phase_rx,
        gate: Arc::new(Semaphore::new(args.connect_concurrency as usize)),
    });
    let tool_cpu_start = sys::cpu_micros(sys::own_pid());
    let start = probe(pid);

    // Broadcasters first, so every viewer finds its room live.
    let setup_deadline = Instant::now() + Duration::from_secs_f64(args.setup_timeout);
    let (setup_tx, mut setup_rx) = mpsc::unbounded_channel();
    let mut tasks: Vec<JoinHandle<()>> = Vec::with_capacity(args.clients as usize);
    let seats: Vec<Seat> = layout
        .iter()
        .enumerate()
        .map(|(i, &size)| Seat {
            room: format!("{}-{i}", args.room_prefix),
            viewers_in_room: size.saturating_sub(1),
        })
        .collect();
    progress(&format!(
        "opening {} connections in {} rooms at {}",
        args.clients,
        seats.len(),
        args.addr
    ));
    for seat in &seats {
        tasks.push(tokio::spawn(client::broadcaster(
            shared.clone(),
            seat.clone(),
            setup_tx.clone(),
        )));
    }
    let (b_ready, b_failed) =
        wait_setup(&mut setup_rx, seats.len(), setup_deadline, "broadcasters").await;
    let mut churn_slots = Vec::new();
    for seat in &seats {
        for _ in 0..seat.viewers_in_room {
            let slot = Arc::new(Notify::new());
            churn_slots.push(slot.clone());
            tasks.push(tokio::spawn(client::viewer(
                shared.clone(),
                seat.clone(),
                setup_tx.clone(),
                slot,
            )));
        }
    }
    let (v_ready, v_failed) =
        wait_setup(&mut setup_rx, churn_slots.len(), setup_deadline, "viewers").await;
    let setup_s = shared.clock.elapsed().as_secs_f64();
    progress(&format!(
        "{} of {} connections ready in {setup_s:.2} s",
        b_ready + v_ready,
        args.clients
    ));

    sleep(Duration::from_millis(if args.idle { 1000 } else { 300 })).await;
    let connected = probe(pid);
    let held_at_connected = shared.stats.open.load(Relaxed);
    let relayed_before = shared.stats.relayed_received();
    phase_tx.send_replace(Phase::Traffic);
    let traffic_start = Instant::now();
    let mut churn_task = None;
    if !args.idle && args.churn_per_sec > 0.0 && !churn_slots.is_empty() {
        churn_task = Some(tokio::spawn(churn(
            shared.clone(),
            churn_slots,
            args.churn_per_sec,
        )));
    }
    progress(&format!(
        "{} for {} s",
        if args.idle { "holding" } else { "traffic" },
        args.duration
    ));
    sleep(Duration::from_secs_f64(args.duration)).await;
    phase_tx.send_replace(Phase::Drain);
    if let Some(task) = churn_task {
        task.abort();
    }
    let traffic_s = traffic_start.elapsed().as_secs_f64();
    if !args.idle {
        sleep(Duration::from_secs_f64(args.grace)).await;
    }
    let held = probe(pid);
    let held_at_end = shared.stats.open.load(Relaxed);
    let relayed_in_window = shared.stats.relayed_received() - relayed_before;
    let (relay_sent, lost, lost_in_churn) = shared.registry.losses();
    let streams_seen = shared.registry.len();

    progress("closing");
    phase_tx.send_replace(Phase::Leave);
    let leave_deadline = Instant::now() + LEAVE_WAIT;
    let mut stuck = 0;
    for mut task in tasks {
        if timeout(
            leave_deadline.saturating_duration_since(Instant::now()),
            &mut task,
        )
        .await
        .is_err()
        {
            task.abort();
            stuck += 1;
        }
    }
    if stuck > 0 {
        shared.stats.client_errors.add(format!(
            "{stuck} clients still open after {LEAVE_WAIT:?}; aborted"
        ));
    }
    if pid.is_some() {
        progress(&format!("settling for {} s", args.settle));
        sleep(Duration::from_secs_f64(args.settle)).await;
    }
    let end = probe(pid);

    let st = &shared.stats;
    let load = |kind: Kind, sent: bool| {
        if sent {
            st.relay_sent[kind.index()].load(Relaxed)
        } else {
            st.relay_received[kind.index()].load(Relaxed)
        }
    };
    let candidates_sent = load(Kind::Candidate, true);
    let own = sys::memory_kib(sys::own_pid());
    Report {
        mode: if args.idle { "idle" } else { "relay" },
        settings: report::Settings {
            addr: args.addr.clone(),
            clients: args.clients,
            rooms: layout.len(),
            largest_room: layout.iter().copied().max().unwrap_or(0),
            rate_per_s: args.rate,
            duration_s: args.duration,
            sdp_bytes: args.sdp_bytes,
            candidate_bytes: args.candidate_bytes,
            churn_per_s: args.churn_per_sec,
            window: args.window,
        },
        connections: report::Connections {
            target: args.clients,
            ready: b_ready + v_ready,
            failed: b_failed + v_failed,
            opened_total: st.opened.load(Relaxed),
            peak_held: st.peak_open.load(Relaxed),
            setup_s,
        },
        messages: report::Messages {
            frames_sent: st.frames_sent.load(Relaxed),
            frames_received: st.frames_received.load(Relaxed),
            bytes_sent: st.bytes_sent.load(Relaxed),
            bytes_received: st.bytes_received.load(Relaxed),
            offers_sent: load(Kind::Offer, true),
            answers_sent: load(Kind::Answer, true),
            candidates_sent,
            offers_received: load(Kind::Offer, false),
            answers_received: load(Kind::Answer, false),
            candidates_received: load(Kind::Candidate, false),
        },
        throughput: (!args.idle).then(|| report::Throughput {
            traffic_s,
            target_candidates_per_s: args.rate,
            candidates_sent_per_s: candidates_sent as f64 / traffic_s,
            relayed_per_s: relayed_in_window as f64 / traffic_s,
        }),
        latency_candidate: (!args.idle).then(|| st.latency_candidate.summary()),
        latency_candidate_to_broadcaster: (!args.idle).then(|| st.latency_to_broadcaster.summary()),
        latency_candidate_to_viewer: (!args.idle).then(|| st.latency_to_viewer.summary()),
        latency_sdp: (!args.idle).then(|| st.latency_sdp.summary()),
        routing: (!args.idle).then(|| report::Routing {
            streams: streams_seen,
            relay_sent,
            misrouted: st.misrouted.load(Relaxed),
            corrupt: st.corrupt.load(Relaxed),
            lost,
            lost_in_churn,
            seq_gaps: st.seq_gaps.load(Relaxed),
            reordered: st.reordered.load(Relaxed),
        }),
        churn: (!args.idle && args.churn_per_sec > 0.0).then(|| report::Churn {
            leaves: st.churn_leaves.load(Relaxed),
            rejoins: st.churn_rejoins.load(Relaxed),
            failed_rejoins: st.churn_failed.load(Relaxed),
        }),
        server_errors: st.server_errors.snapshot(),
        server_error_samples: st.error_samples(),
        server_closes: st.server_closes.snapshot(),
        client_errors: st.client_errors.snapshot(),
        server: pid.map(|pid| {
            let cpu = cpu_ms(connected.cpu_us, held.cpu_us);
            report::ServerFigures {
                pid,
                rss_before_kib: start.rss_kib,
                rss_connected_kib: connected.rss_kib,
                rss_held_kib: held.rss_kib,
                rss_after_leave_kib: end.rss_kib,
                rss_peak_kib: [start, connected, held, end]
                    .iter()
                    .flat_map(|p| [p.rss_kib, p.hwm_kib])
                    .flatten()
                    .max(),
                rss_per_connection_bytes: per_connection(
                    start.rss_kib,
                    connected.rss_kib,
                    held_at_connected,
                ),
                rss_per_connection_held_bytes: per_connection(
                    start.rss_kib,
                    held.rss_kib,
                    held_at_end,
                ),
                cpu_ms: cpu,
                cpu_total_ms: cpu_ms(start.cpu_us, end.cpu_us),
                relayed_messages: relayed_in_window,
                cpu_us_per_relayed_message: cpu
                    .filter(|_| relayed_in_window > 0)
                    .map(|ms| ms * 1000.0 / relayed_in_window as f64),
            }
        }),
        load_tool: report::ToolFigures {
            cpu_ms: cpu_ms(tool_cpu_start, sys::cpu_micros(sys::own_pid())),
            rss_peak_kib: own.map(|m| m.1),
        },
    }
}

/// Every 1/`per_sec` seconds, one viewer picked at random leaves and joins again.
async fn churn(shared: Arc<Shared>, slots: Vec<Arc<Notify>>, per_sec: f64) {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ shared.now_ns();
    let mut every =
        tokio::time::interval(Duration::from_secs_f64((1.0 / per_sec).clamp(1e-6, 3600.0)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        // xorshift64: plenty for picking seats.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if let Some(slot) = slots.get((state % slots.len() as u64) as usize) {
            slot.notify_one();
        }
    }
}
