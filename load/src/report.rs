//! The figures of a run, as a table for people and as JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::stats::LatencySummary;

#[derive(Serialize, Debug, Default)]
pub struct Report {
    pub mode: &'static str,
    pub settings: Settings,
    pub connections: Connections,
    pub messages: Messages,
    /// Relay mode only.
    pub throughput: Option<Throughput>,
    pub latency_candidate: Option<LatencySummary>,
    /// Candidates from viewers to their broadcaster.
    pub latency_candidate_to_broadcaster: Option<LatencySummary>,
    /// Candidates from broadcasters to their viewers.
    pub latency_candidate_to_viewer: Option<LatencySummary>,
    pub latency_sdp: Option<LatencySummary>,
    pub routing: Option<Routing>,
    pub churn: Option<Churn>,
    /// `error` messages the server sent, by code.
    pub server_errors: BTreeMap<String, u64>,
    /// The first message of each code.
    pub server_error_samples: BTreeMap<String, String>,
    /// Connections the server closed on its own, by close code and reason.
    pub server_closes: BTreeMap<String, u64>,
    /// Problems seen by the clients (connect failures, timeouts, unreadable messages).
    pub client_errors: BTreeMap<String, u64>,
    /// With --server-pid.
    pub server: Option<ServerFigures>,
    pub load_tool: ToolFigures,
}

#[derive(Serialize, Debug, Default)]
pub struct Settings {
    pub addr: String,
    pub clients: u32,
    pub rooms: usize,
    pub largest_room: u32,
    pub rate_per_s: f64,
    pub duration_s: f64,
    pub sdp_bytes: u32,
    pub candidate_bytes: u32,
    pub churn_per_s: f64,
    pub window: u32,
}

#[derive(Serialize, Debug, Default)]
pub struct Connections {
    pub target: u32,
    pub ready: u64,
    pub failed: u64,
    pub opened_total: u64,
    pub peak_held: i64,
    pub setup_s: f64,
}

#[derive(Serialize, Debug, Default)]
pub struct Messages {
    pub frames_sent: u64,
    pub frames_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub offers_sent: u64,
    pub answers_sent: u64,
    pub candidates_sent: u64,
    pub offers_received: u64,
    pub answers_received: u64,
    pub candidates_received: u64,
}

#[derive(Serialize, Debug, Default)]
pub struct Throughput {
    pub traffic_s: f64,
    pub target_candidates_per_s: f64,
    pub candidates_sent_per_s: f64,
    /// Relayed messages (offers, answers, candidates) that arrived, per second of traffic.
    pub relayed_per_s: f64,
}

#[derive(Serialize, Debug, Default)]
pub struct Routing {
    pub streams: usize,
    /// Sent by the end of the grace period.
    pub relay_sent: u64,
    pub misrouted: u64,
    pub corrupt: u64,
    /// Sent but not received by the end of the grace period (streams of viewers that did
    /// not churn).
    pub lost: u64,
    /// The same, on streams whose viewer left on purpose (churn).
    pub lost_in_churn: u64,
    pub seq_gaps: u64,
    pub reordered: u64,
}

#[derive(Serialize, Debug, Default)]
pub struct Churn {
    pub leaves: u64,
    pub rejoins: u64,
    pub failed_rejoins: u64,
}

#[derive(Serialize, Debug, Default)]
pub struct ServerFigures {
    pub pid: u32,
    pub rss_before_kib: Option<u64>,
    /// All connections open and joined, before any traffic.
    pub rss_connected_kib: Option<u64>,
    /// Relay: after the traffic and grace period, connections still open.
    /// Idle: at the end of the hold.
    pub rss_held_kib: Option<u64>,
    pub rss_after_leave_kib: Option<u64>,
    /// VmHWM at the end.
    pub rss_peak_kib: Option<u64>,
    /// (connected - before) / connections held.
    pub rss_per_connection_bytes: Option<f64>,
    /// (held - before) / connections held.
    pub rss_per_connection_held_bytes: Option<f64>,
    /// CPU time during the traffic phase and grace period (relay) or the hold (idle).
    pub cpu_ms: Option<f64>,
    /// CPU time of the whole run, setup and leaving included.
    pub cpu_total_ms: Option<f64>,
    /// Relayed messages received in the same window as `cpu_ms`.
    pub relayed_messages: u64,
    pub cpu_us_per_relayed_message: Option<f64>,
}

#[derive(Serialize, Debug, Default)]
pub struct ToolFigures {
    pub cpu_ms: Option<f64>,
    pub rss_peak_kib: Option<u64>,
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "?".into(), |v| format!("{v:.digits$}"))
}

fn tally(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn latency_line(name: &str, l: &LatencySummary) -> String {
    format!(
        "  {name:<14} p50 {:>9.0}  p90 {:>9.0}  p99 {:>9.0}  p99.9 {:>9.0}  max {:>9.0}  mean {:>9.0}  (n={})",
        l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, l.mean_us, l.count
    )
}

impl Report {
    pub fn print(&self) {
        let s = &self.settings;
        let c = &self.connections;
        let m = &self.messages;
        println!();
        if self.mode == "idle" {
            println!(
                "onair-load idle: {} connections in {} rooms of up to {} at {}, held {} s",
                s.clients, s.rooms, s.largest_room, s.addr, s.duration_s
            );
        } else {
            println!(
                "onair-load relay: {} clients in {} rooms at {}, {} s at {} candidates/s{}, sdp {} B, candidate {} B, churn {}/s",
                s.clients,
                s.rooms,
                s.addr,
                s.duration_s,
                s.rate_per_s,
                if s.rate_per_s == 0.0 { format!(" (unpaced, window {})", s.window) } else { String::new() },
                s.sdp_bytes,
                s.candidate_bytes,
                s.churn_per_s
            );
        }
        println!(
            "connections     ready {}/{}  failed {}  peak held {}  opened in total {}  setup {:.2} s",
            c.ready, c.target, c.failed, c.peak_held, c.opened_total, c.setup_s
        );
        println!(
            "frames          sent {} ({:.1} MB)  received {} ({:.1} MB)",
            m.frames_sent,
            m.bytes_sent as f64 / 1e6,
            m.frames_received,
            m.bytes_received as f64 / 1e6
        );
        if self.mode != "idle" {
            println!(
                "relayed         sent: offers {} answers {} candidates {}   received: offers {} answers {} candidates {}",
                m.offers_sent,
                m.answers_sent,
                m.candidates_sent,
                m.offers_received,
                m.answers_received,
                m.candidates_received
            );
        }
        if let Some(t) = &self.throughput {
            println!(
                "throughput      candidates sent {:.0}/s (target {:.0}/s), relayed and received {:.0} msgs/s over {:.2} s",
                t.candidates_sent_per_s,
                t.target_candidates_per_s,
                t.relayed_per_s,
                t.traffic_s
            );
        }
        if let Some(l) = &self.latency_candidate {
            println!("latency (µs)");
            println!("{}", latency_line("candidate", l));
        }
        if let Some(l) = &self.latency_candidate_to_broadcaster {
            println!("{}", latency_line(" → broadcaster", l));
        }
        if let Some(l) = &self.latency_candidate_to_viewer {
            println!("{}", latency_line(" → viewer", l));
        }
        if let Some(l) = &self.latency_sdp {
            println!("{}", latency_line("offer/answer", l));
        }
        if let Some(r) = &self.routing {
            println!(
                "routing         misrouted {}  corrupt {}  lost {}  lost in churn {}  seq gaps {}  reordered {}  ({} streams, {} relayed messages sent)",
                r.misrouted, r.corrupt, r.lost, r.lost_in_churn, r.seq_gaps, r.reordered, r.streams, r.relay_sent
            );
        }
        if let Some(ch) = &self.churn {
            println!(
                "churn           leaves {}  rejoins {}  failed rejoins {}",
                ch.leaves, ch.rejoins, ch.failed_rejoins
            );
        }
        println!("server errors   {}", tally(&self.server_errors));
        for (code, message) in &self.server_error_samples {
            println!("                  {code}: \"{message}\"");
        }
        println!("server closes   {}", tally(&self.server_closes));
        println!("client errors   {}", tally(&self.client_errors));
        if let Some(sv) = &self.server {
            println!(
                "server RSS      before {}  connected {}  {} {}  after leave {}  peak {}",
                mib(sv.rss_before_kib),
                mib(sv.rss_connected_kib),
                if self.mode == "idle" {
                    "held"
                } else {
                    "after traffic"
                },
                mib(sv.rss_held_kib),
                mib(sv.rss_after_leave_kib),
                mib(sv.rss_peak_kib)
            );
            println!(
                "server memory   {} bytes/connection connected, {} bytes/connection at the end of the {}",
                opt(sv.rss_per_connection_bytes, 0),
                opt(sv.rss_per_connection_held_bytes, 0),
                if self.mode == "idle" { "hold" } else { "traffic" }
            );
            if self.mode == "idle" {
                println!(
                    "server CPU      {} ms during the hold, {} ms in total",
                    opt(sv.cpu_ms, 0),
                    opt(sv.cpu_total_ms, 0)
                );
            } else {
                println!(
                    "server CPU      {} ms for {} relayed messages = {} µs/message  ({} ms over the whole run)",
                    opt(sv.cpu_ms, 0),
                    sv.relayed_messages,
                    opt(sv.cpu_us_per_relayed_message, 2),
                    opt(sv.cpu_total_ms, 0)
                );
            }
        }
        println!(
            "load tool       CPU {} ms, peak RSS {}",
            opt(self.load_tool.cpu_ms, 0),
            mib(self.load_tool.rss_peak_kib)
        );
    }
}
