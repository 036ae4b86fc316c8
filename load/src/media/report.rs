//! What a media step measured, and how it prints: loss, delay, jitter, the server's CPU and
//! memory per viewer, this tool's own CPU; per node, with several (`--viewer-addrs`).

use serde::Serialize;

use super::{layers, nodes::NodeFigures, peer::Received, stamp::delay_quantiles};

#[derive(Serialize, Debug, Default)]
pub struct Step {
    pub viewers: u32,
    /// Viewers whose WebRTC connection came up.
    pub connected: u32,
    pub loss_percent: f64,
    pub delay_p50_ms: f64,
    pub delay_p99_ms: f64,
    pub jitter_ms: f64,
    pub server_cpu_percent: Option<f64>,
    pub server_cpu_us_per_viewer_second: Option<f64>,
    pub server_cpu_us_per_packet: Option<f64>,
    pub server_kib_per_viewer: Option<f64>,
    pub load_cpu_percent: Option<f64>,
    pub packets_per_second: f64,
    pub keyframe_requests: u64,
    /// The server's resident memory once this step's viewers left, KiB.
    pub server_rss_after_kib: Option<u64>,
    /// Each viewer's layer, loss and delay (with `--simulcast` or `--viewer-kbps`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_viewer: Vec<layers::ViewerFigures>,
    /// Each node's viewers and CPU (with `--viewer-addrs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_node: Vec<NodeFigures>,
}

#[derive(Serialize, Debug, Default)]
pub struct MediaReport {
    pub video_kbps: u32,
    pub audio_kbps: u32,
    pub seconds: f64,
    pub steps: Vec<Step>,
}

impl MediaReport {
    pub fn print(&self) {
        println!(
            "media relay: one broadcast of {} kbit/s video (30 fps, key frame every 2 s) + {} kbit/s audio, {} s per step",
            self.video_kbps, self.audio_kbps, self.seconds
        );
        println!(
            "{:>8} {:>9} {:>7} {:>15} {:>9} {:>10} {:>13} {:>10} {:>11} {:>9} {:>12}",
            "viewers",
            "connected",
            "loss %",
            "delay p50/p99",
            "jitter",
            "server CPU",
            "µs/viewer·s",
            "µs/packet",
            "KiB/viewer",
            "load CPU",
            "RSS after"
        );
        let opt =
            |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
        for s in &self.steps {
            println!(
                "{:>8} {:>9} {:>7.2} {:>8.1}/{:<6.1} {:>6.1} ms {:>9}% {:>13} {:>10} {:>11} {:>8}% {:>8} KiB",
                s.viewers,
                s.connected,
                s.loss_percent,
                s.delay_p50_ms,
                s.delay_p99_ms,
                s.jitter_ms,
                opt(s.server_cpu_percent, 0),
                opt(s.server_cpu_us_per_viewer_second, 0),
                opt(s.server_cpu_us_per_packet, 2),
                opt(s.server_kib_per_viewer, 0),
                opt(s.load_cpu_percent, 0),
                s.server_rss_after_kib.map_or("-".to_string(), |k| k.to_string()),
            );
            if !s.per_viewer.is_empty() {
                layers::print(&s.per_viewer);
            }
            if !s.per_node.is_empty() {
                super::nodes::print(&s.per_node);
            }
        }
    }
}

pub(super) struct FigureInputs<'a> {
    pub(super) count: u32,
    pub(super) connected: u32,
    pub(super) seconds: f64,
    pub(super) expected_video: u64,
    pub(super) expected_audio: u64,
    pub(super) received: &'a [Received],
    pub(super) server_cpu: Option<u64>,
    pub(super) own_cpu: Option<u64>,
    pub(super) memory: Option<(u64, u64)>,
    pub(super) keyframe_requests: u64,
}

pub(super) fn figures(input: FigureInputs<'_>) -> Step {
    let n = f64::from(input.count);
    let expected = (input.expected_video + input.expected_audio) as f64 * n;
    let got: u64 = input.received.iter().map(|r| r.video + r.audio).sum();
    let packets: u64 = input.received.iter().map(|r| r.packets).sum();
    let (delay_p50_ms, delay_p99_ms) = delay_quantiles(
        input
            .received
            .iter()
            .flat_map(|r| r.delays.iter().copied())
            .collect(),
    );
    let jitter = if input.received.is_empty() {
        0.0
    } else {
        input.received.iter().map(|r| r.jitter).sum::<f64>() / input.received.len() as f64 / 1000.0
    };
    let seconds = input.seconds.max(0.001);
    Step {
        viewers: input.count,
        connected: input.connected,
        loss_percent: if expected > 0.0 {
            (1.0 - got as f64 / expected).max(0.0) * 100.0
        } else {
            100.0
        },
        delay_p50_ms,
        delay_p99_ms,
        jitter_ms: jitter,
        server_cpu_percent: input.server_cpu.map(|us| us as f64 / seconds / 1e4),
        server_cpu_us_per_viewer_second: input.server_cpu.map(|us| us as f64 / n / seconds),
        server_cpu_us_per_packet: input
            .server_cpu
            .filter(|_| packets > 0)
            .map(|us| us as f64 / packets as f64),
        server_kib_per_viewer: input
            .memory
            .map(|(before, after)| after.saturating_sub(before) as f64 / n),
        load_cpu_percent: input.own_cpu.map(|us| us as f64 / seconds / 1e4),
        packets_per_second: packets as f64 / seconds,
        keyframe_requests: input.keyframe_requests,
        server_rss_after_kib: None,
        per_viewer: Vec::new(),
        per_node: Vec::new(),
    }
}
