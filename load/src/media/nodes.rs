//! `--viewer-addrs`: the viewers spread over several nodes of a cluster (in turn), the
//! broadcaster on `--addr`; each node's viewers get their own delay figures, and with
//! `--node-pids` (in the same order) each node its CPU. Viewers on the broadcaster's node and
//! on the others side by side in one step: the cascade's added delay, each node's cost.

use serde::Serialize;

use super::{peer::Received, stamp::delay_quantiles};
use crate::{cli::Args, sys};

/// One node's viewers in one step.
#[derive(Serialize, Debug)]
pub struct NodeFigures {
    pub addr: String,
    pub viewers: u32,
    pub delay_p50_ms: f64,
    pub delay_p99_ms: f64,
    pub cpu_percent: Option<f64>,
    pub cpu_us_per_viewer_second: Option<f64>,
}

/// The address viewer `i` joins at.
pub(super) fn viewer_addr(args: &Args, i: usize) -> String {
    match args.viewer_addrs.as_slice() {
        [] => args.addr.clone(),
        addrs => addrs[i % addrs.len()].clone(),
    }
}

/// Each node's CPU time so far (µs), in `--node-pids` order.
pub(super) fn cpu_now(args: &Args) -> Vec<Option<u64>> {
    args.node_pids
        .iter()
        .map(|pid| sys::cpu_micros(*pid))
        .collect()
}

/// The figures of each node: `received[n]` came through viewer `n`'s node (`viewer_addr`);
/// `cpu` is [`cpu_now`] before and after the window of `seconds`.
pub(super) fn per_node(
    args: &Args,
    received: &[(usize, Received)],
    cpu: (&[Option<u64>], &[Option<u64>]),
    seconds: f64,
) -> Vec<NodeFigures> {
    if args.viewer_addrs.is_empty() {
        return Vec::new();
    }
    let seconds = seconds.max(0.001);
    args.viewer_addrs
        .iter()
        .enumerate()
        .map(|(node, addr)| {
            let mine: Vec<&Received> = received
                .iter()
                .filter(|(i, _)| i % args.viewer_addrs.len() == node)
                .map(|(_, r)| r)
                .collect();
            let viewers = mine.len() as u32;
            let (delay_p50_ms, delay_p99_ms) =
                delay_quantiles(mine.iter().flat_map(|r| r.delays.iter().copied()).collect());
            let used = cpu
                .0
                .get(node)
                .copied()
                .flatten()
                .zip(cpu.1.get(node).copied().flatten())
                .map(|(before, after)| after.saturating_sub(before) as f64);
            NodeFigures {
                addr: addr.clone(),
                viewers,
                delay_p50_ms,
                delay_p99_ms,
                cpu_percent: used.map(|us| us / seconds / 1e4),
                cpu_us_per_viewer_second: used
                    .filter(|_| viewers > 0)
                    .map(|us| us / f64::from(viewers) / seconds),
            }
        })
        .collect()
}

pub(super) fn print(nodes: &[NodeFigures]) {
    println!(
        "    {:<22} {:>7} {:>15} {:>9} {:>13}",
        "node", "viewers", "delay p50/p99", "CPU", "µs/viewer·s"
    );
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    for node in nodes {
        println!(
            "    {:<22} {:>7} {:>8.1}/{:<6.1} {:>8}% {:>13}",
            node.addr,
            node.viewers,
            node.delay_p50_ms,
            node.delay_p99_ms,
            opt(node.cpu_percent),
            opt(node.cpu_us_per_viewer_second),
        );
    }
}
