//! Every layer of a broadcast, forwarded to another node that pulls it (a cascade): that
//! node's viewers choose among them there, where their links are. The pull offers to receive
//! simulcast under the talk page's rids, best first; each layer of the broadcast goes out on
//! the one of those its rank maps to, in its own RTP stream and on its own timeline, as a
//! broadcaster's browser sends them.

use str0m::media::Rid;

use crate::protocol::simulcast::CAMERA_LAYERS;

/// The rids a pull offers to receive, best first.
pub(super) fn pulled_rids() -> Vec<Rid> {
    CAMERA_LAYERS
        .iter()
        .map(|plan| Rid::from(plan.rid))
        .collect()
}

/// Whether `offer` asks to receive simulcast (another node's pull does; browsers do not): it
/// chooses among the layers itself, and its link is not estimated here (the estimator's pacer
/// would hold every layer to what one viewer's link was guessed at).
pub(super) fn takes_every_layer(offer: &str) -> bool {
    offer
        .lines()
        .any(|line| line.trim_start().starts_with("a=simulcast:recv"))
}

/// Which of `out` (best first) carries the broadcast's layer `rank` of `count`: the best goes
/// on the first, the lowest on the last, those between on those between. With more layers
/// than rids, the lower middle ones are not sent.
pub(super) fn out_rid(out: &[Rid], rank: usize, count: usize) -> Option<Rid> {
    let slots = out.len();
    if slots == 0 || rank >= count {
        return None;
    }
    let slot = if rank == 0 {
        0
    } else if rank + 1 == count {
        slots - 1
    } else if rank + 1 < slots {
        rank
    } else {
        return None;
    };
    out.get(slot).copied()
}

/// The rank of the broadcast's layer (of `count`) that `rid` of `out` carries: the other way.
pub(super) fn rank_of(out: &[Rid], rid: Rid, count: usize) -> Option<usize> {
    (0..count).find(|rank| out_rid(out, *rank, count) == Some(rid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out() -> Vec<Rid> {
        pulled_rids()
    }

    fn sent(count: usize) -> Vec<Option<&'static str>> {
        let names = ["h", "m", "l"];
        (0..count)
            .map(|rank| {
                out_rid(&out(), rank, count)
                    .and_then(|rid| names.iter().find(|n| Rid::from(**n) == rid).copied())
            })
            .collect()
    }

    #[test]
    fn layers_go_out_best_first_with_the_lowest_last() {
        assert_eq!(sent(1), [Some("h")], "no simulcast: one layer, on the best");
        assert_eq!(sent(2), [Some("h"), Some("l")]);
        assert_eq!(sent(3), [Some("h"), Some("m"), Some("l")]);
        assert_eq!(
            sent(4),
            [Some("h"), Some("m"), None, Some("l")],
            "more than there are rids: a middle one stays home"
        );
        assert_eq!(out_rid(&[], 0, 1), None);
    }

    #[test]
    fn an_offer_to_receive_simulcast_takes_every_layer() {
        let pull = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=simulcast:recv h;m;l\r\n";
        assert!(takes_every_layer(pull));
        let browser = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\n";
        assert!(!takes_every_layer(browser));
        assert!(
            !takes_every_layer("a=simulcast:send h;l\r\n"),
            "a broadcaster's"
        );
    }

    #[test]
    fn a_rid_names_back_the_layer_it_carries() {
        for count in 1..=4 {
            for rank in 0..count {
                if let Some(rid) = out_rid(&out(), rank, count) {
                    assert_eq!(rank_of(&out(), rid, count), Some(rank), "{rank} of {count}");
                }
            }
        }
        assert_eq!(rank_of(&out(), Rid::from("m"), 2), None, "not carried");
    }
}
