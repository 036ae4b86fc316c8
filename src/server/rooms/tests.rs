//! The hub as a state machine: random joins, leaves and messages across two rooms,
//! checked after every step against the routing rules.

#![cfg(test)]

use std::collections::HashSet;

use clap::Parser;
use proptest::prelude::*;

use super::*;
use crate::{
    protocol::{ClientMessage, IceCandidate},
    server::{config::Config, outbox::Queue, shutdown::Shutdown},
};

#[derive(Debug, Clone)]
enum Step {
    Join {
        conn: usize,
        room: usize,
        viewer: bool,
    },
    Leave {
        conn: usize,
    },
    Send {
        conn: usize,
        what: u8,
        to: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..6usize, 0..2usize, any::<bool>()).prop_map(|(conn, room, viewer)| Step::Join {
            conn,
            room,
            viewer
        }),
        (0..6usize).prop_map(|conn| Step::Leave { conn }),
        (0..6usize, 0..10u8, 0..7usize).prop_map(|(conn, what, to)| Step::Send { conn, what, to }),
        (0..6usize, 0..10u8, 0..7usize).prop_map(|(conn, what, to)| Step::Send { conn, what, to }),
    ]
}

struct Conn {
    membership: Membership,
    room: usize,
    rx: Queue,
}

fn message(what: u8, to: PeerId) -> ClientMessage {
    match what {
        0 => ClientMessage::GoLive {
            key: None,
            reclaim: None,
        },
        1 => ClientMessage::OffAir,
        2 => ClientMessage::WantStream,
        3 => ClientMessage::Offer {
            to,
            sdp: "v=0".into(),
        },
        4 => ClientMessage::Answer {
            to,
            sdp: "v=0".into(),
        },
        5 => ClientMessage::Hangup { to },
        6 => ClientMessage::join(Role::Viewer),
        7 => ClientMessage::Audio { to, on: true },
        8 => ClientMessage::Candidate {
            to,
            candidate: IceCandidate {
                candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
                sdp_mid: None,
                sdp_m_line_index: Some(0),
            },
        },
        _ => ClientMessage::SpareOffer {
            id: to,
            sdp: "v=0".into(),
        },
    }
}

fn run(steps: Vec<Step>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let config = Config::parse_from(["onair", "--max-viewers", "3"]);
    let hub = Hub::new(
        config.rooms,
        config.keys,
        vec![],
        Shutdown::default(),
        None,
        None,
        None,
    );
    let rooms = [RoomName::parse("a").unwrap(), RoomName::parse("b").unwrap()];
    let mut conns: Vec<Option<Conn>> = (0..6).map(|_| None).collect();
    // (sender, recipient) pairs a client addressed, per step.
    for step in steps {
        let mut addressed: HashSet<(PeerId, PeerId)> = HashSet::new();
        let mut sender: Option<PeerId> = None;
        match step {
            Step::Join { conn, room, viewer } => {
                if conns[conn].is_none() {
                    let (outbox, rx) = Outbox::new(OUTBOX_CAPACITY);
                    let role = if viewer {
                        Role::Viewer
                    } else {
                        Role::Broadcaster
                    };
                    if let Ok(membership) = hub.join(&rooms[room], role, outbox, None, None) {
                        conns[conn] = Some(Conn {
                            membership,
                            room,
                            rx,
                        });
                    }
                }
            }
            Step::Leave { conn } => conns[conn] = None,
            Step::Send { conn, what, to } => {
                let to_id = conns
                    .get(to)
                    .and_then(|c| c.as_ref())
                    .map_or(9999, |c| c.membership.id());
                if let Some(c) = &conns[conn] {
                    let id = c.membership.id();
                    sender = Some(id);
                    addressed.insert((id, to_id));
                    let _ = c.membership.handle(message(what, to_id));
                }
            }
        }
        // Every relayed message reached someone in the sender's room, stamped with the
        // sender, and only where the sender addressed it (want_stream: the live one).
        let members: Vec<(PeerId, usize, Role)> = conns
            .iter()
            .flatten()
            .map(|c| (c.membership.id(), c.room, c.membership.role()))
            .collect();
        for c in conns.iter_mut().flatten() {
            let me = c.membership.id();
            while let Some(Some(text)) = c.rx.try_recv() {
                let msg: ServerMessage = serde_json::from_str(&text).unwrap();
                let from = match &msg {
                    // Addressed by the broadcaster, or its spare handed to the viewer that
                    // asked (the same room is checked below).
                    ServerMessage::Offer { from, .. } => {
                        assert!(
                            addressed.contains(&(*from, me)) || sender == Some(me),
                            "{msg:?} to {me}"
                        );
                        Some(*from)
                    }
                    ServerMessage::SpareTaken { by, .. } => {
                        assert_eq!(sender, Some(*by));
                        assert_eq!(c.membership.role(), Role::Broadcaster);
                        Some(*by)
                    }
                    ServerMessage::Answer { from, .. }
                    | ServerMessage::Candidate { from, .. }
                    | ServerMessage::Hangup { from }
                    | ServerMessage::Audio { from, .. } => {
                        assert!(addressed.contains(&(*from, me)), "{msg:?} to {me}");
                        Some(*from)
                    }
                    ServerMessage::WantStream { from } => {
                        assert_eq!(sender, Some(*from));
                        assert_eq!(c.membership.role(), Role::Broadcaster);
                        Some(*from)
                    }
                    ServerMessage::ViewerCount { count } => {
                        let viewers = members
                            .iter()
                            .filter(|(_, room, role)| *room == c.room && *role == Role::Viewer)
                            .count();
                        assert_eq!(*count as usize, viewers);
                        None
                    }
                    _ => None,
                };
                if let Some(from) = from {
                    let same_room = members
                        .iter()
                        .any(|(id, room, _)| *id == from && *room == c.room);
                    assert!(same_room, "{msg:?} crossed rooms to {me}");
                }
            }
        }
        // At most one broadcaster on air per room, and it is a member of that room.
        for room in &rooms {
            if let Some(found) = lock(&hub.rooms).get(room) {
                let inner = found.lock();
                if let Some(live) = inner.on_air {
                    assert_eq!(
                        inner.members.get(&live).map(|m| m.role),
                        Some(Role::Broadcaster)
                    );
                }
                let viewers = inner
                    .members
                    .values()
                    .filter(|m| m.role == Role::Viewer)
                    .count();
                assert_eq!(inner.viewers as usize, viewers);
                assert!(viewers <= 3, "cap exceeded");
            }
        }
    }
    // Everyone leaves: no room outlives its members (no reclaim grace without a drop).
    conns.clear();
    let left: Vec<RoomName> = lock(&hub.rooms)
        .iter()
        .filter(|(_, room)| !room.lock().reclaim.holds(Instant::now()))
        .map(|(name, _)| name.clone())
        .collect();
    assert!(left.is_empty(), "rooms left behind: {left:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn routing_rules_hold_for_any_sequence(steps in prop::collection::vec(step(), 1..60)) {
        run(steps);
    }

    #[test]
    fn the_parser_never_panics(text in ".{0,300}") {
        let _ = serde_json::from_str::<ClientMessage>(&text);
    }

    #[test]
    fn the_parser_never_panics_on_near_misses(
        kind in prop::sample::select(vec!["join", "go_live", "offer", "answer", "candidate", "hangup", "want_stream", "off_air", "x"]),
        field in prop::sample::select(vec!["to", "sdp", "role", "candidate", "key", "reclaim", "from"]),
        value in prop_oneof![Just("1".to_string()), Just("-1".to_string()), Just("1e400".to_string()),
            Just("null".to_string()), Just("\"viewer\"".to_string()), Just("{}".to_string()),
            Just("[]".to_string()), Just("18446744073709551616".to_string()), "\"[^\"]{0,40}\""],
    ) {
        let text = format!(r#"{{"type":"{kind}","{field}":{value}}}"#);
        let _ = serde_json::from_str::<ClientMessage>(&text);
    }
}
