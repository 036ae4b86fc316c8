//! `--simulcast`: the broadcaster's three layers, and what each viewer got of them: the layer
//! it was mostly on, its share of each, its bitrate, its loss and its delay, beside its cap.

use serde::Serialize;

use super::peer::Received;
pub use super::peer::LAYERS;

/// One viewer's figures.
#[derive(Serialize, Debug)]
pub struct ViewerFigures {
    /// Its downlink cap, kbit/s (none: an open link).
    pub cap_kbps: Option<u32>,
    /// The layer most of its frames came from.
    pub layer: &'static str,
    /// The percent of its frames from each layer, best first.
    pub share_percent: [f64; 3],
    pub kbps: f64,
    pub loss_percent: f64,
    pub delay_p50_ms: f64,
    pub delay_p99_ms: f64,
}

/// Each viewer's figures, given the video frames sent in the window (of each layer).
pub fn per_viewer(received: &[Received], expected_video: u64, seconds: f64) -> Vec<ViewerFigures> {
    received
        .iter()
        .map(|r| {
            let frames = r.layers.iter().sum::<u64>().max(1) as f64;
            let most = (0..LAYERS.len()).max_by_key(|i| r.layers[*i]).unwrap_or(0);
            let mut delays = r.delays.clone();
            delays.sort_unstable();
            let quantile = |q: f64| {
                delays
                    .get(((delays.len() as f64 - 1.0) * q).round().max(0.0) as usize)
                    .map_or(0.0, |us| f64::from(*us) / 1000.0)
            };
            ViewerFigures {
                cap_kbps: r.cap_kbps,
                layer: LAYERS[most].0,
                share_percent: r.layers.map(|n| n as f64 / frames * 100.0),
                kbps: r.bytes as f64 * 8.0 / seconds.max(0.001) / 1000.0,
                loss_percent: match expected_video {
                    0 => 100.0,
                    n => (1.0 - r.video as f64 / n as f64).max(0.0) * 100.0,
                },
                delay_p50_ms: quantile(0.5),
                delay_p99_ms: quantile(0.99),
            }
        })
        .collect()
}

pub fn print(viewers: &[ViewerFigures]) {
    println!(
        "{:>14} {:>6} {:>20} {:>9} {:>7} {:>15}",
        "viewer cap", "layer", "h / m / l %", "kbit/s", "loss %", "delay p50/p99"
    );
    for v in viewers {
        println!(
            "{:>14} {:>6} {:>6.0}/{:>6.0}/{:>6.0} {:>9.0} {:>7.2} {:>8.1}/{:<6.1}",
            v.cap_kbps
                .map_or("open".to_string(), |k| format!("{k} kbit/s")),
            v.layer,
            v.share_percent[0],
            v.share_percent[1],
            v.share_percent[2],
            v.kbps,
            v.loss_percent,
            v.delay_p50_ms,
            v.delay_p99_ms,
        );
    }
}
