//! Sample messages of every kind, for tests here and in the crates that speak the protocol
//! (feature `samples`). Each list is built by an exhaustive `match` on the kind, so a new
//! variant does not compile until it has samples, and every test over them then covers it.

use strum::IntoEnumIterator;

use crate::{
    AudienceMember, ChatEntry, ClientKind, ClientMessage, ErrorCode, IceCandidate, IceServer,
    LayerUse, Level, MediaMode, OffAirReason, Role, ServerKind, ServerMessage, ViewerQuality,
};

fn candidate(mid: Option<&str>, index: Option<u16>) -> IceCandidate {
    IceCandidate {
        candidate: "candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host".into(),
        sdp_mid: mid.map(str::to_owned),
        sdp_m_line_index: index,
    }
}

fn ice_servers() -> Vec<IceServer> {
    vec![
        IceServer {
            urls: vec!["stun:stun.example.org:3478".into()],
            username: None,
            credential: None,
        },
        IceServer {
            urls: vec!["turn:a:3478".into(), "turns:b:5349".into()],
            username: Some("u".into()),
            credential: Some("p\"w".into()),
        },
    ]
}

const SDP: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=\"quoted\" \\ é\r\n";

/// Samples of one client kind, with every optional field both present and absent.
pub fn client(kind: ClientKind) -> Vec<ClientMessage> {
    match kind {
        ClientKind::Join => Role::iter()
            .flat_map(|role| {
                [
                    ClientMessage::join(role),
                    ClientMessage::Join {
                        role,
                        want_stream: true,
                        ticket: Some("t0k".into()),
                    },
                ]
            })
            .collect(),
        ClientKind::GoLive => vec![
            ClientMessage::GoLive {
                key: None,
                reclaim: None,
            },
            ClientMessage::GoLive {
                key: Some("k".into()),
                reclaim: Some("r".into()),
            },
        ],
        ClientKind::OffAir => vec![ClientMessage::OffAir],
        ClientKind::WantStream => vec![ClientMessage::WantStream],
        ClientKind::SpareOffer => vec![ClientMessage::SpareOffer {
            id: 3,
            sdp: SDP.into(),
        }],
        ClientKind::Offer => vec![ClientMessage::Offer {
            to: 7,
            sdp: SDP.into(),
        }],
        ClientKind::Answer => vec![ClientMessage::Answer {
            to: 8,
            sdp: String::new(),
        }],
        ClientKind::Candidate => vec![
            ClientMessage::Candidate {
                to: 9,
                candidate: candidate(Some("0"), Some(0)),
            },
            ClientMessage::Candidate {
                to: 9,
                candidate: candidate(None, None),
            },
        ],
        ClientKind::Hangup => vec![ClientMessage::Hangup { to: 4 }],
        ClientKind::Audio => vec![
            ClientMessage::Audio { to: 5, on: true },
            ClientMessage::Audio { to: 5, on: false },
        ],
        ClientKind::Record => vec![
            ClientMessage::Record { on: true },
            ClientMessage::Record { on: false },
        ],
        ClientKind::Chat => vec![ClientMessage::Chat {
            text: "<b>hi</b> \"ünïcode\" 🎉".into(),
        }],
        ClientKind::ChatName => vec![ClientMessage::ChatName { name: "Ada".into() }],
        ClientKind::DeleteChat => vec![ClientMessage::DeleteChat { id: 12 }],
        ClientKind::ClockPing => vec![ClientMessage::ClockPing {
            t: 1_796_144_665_123,
        }],
        ClientKind::ClockOffset => vec![
            ClientMessage::ClockOffset { offset_us: -1_250 },
            ClientMessage::ClockOffset {
                offset_us: 3_000_000,
            },
        ],
        ClientKind::MuteChat => vec![
            ClientMessage::MuteChat {
                member: 4,
                muted: true,
            },
            ClientMessage::MuteChat {
                member: 4,
                muted: false,
            },
        ],
        ClientKind::ViewerSize => vec![ClientMessage::ViewerSize {
            width: 640,
            height: 360,
        }],
        ClientKind::PinQuality => std::iter::once(None)
            .chain(Level::iter().map(Some))
            .map(|level| ClientMessage::PinQuality { level })
            .collect(),
    }
}

/// Samples of one server kind, with every optional field both present and absent and every
/// value of its enums.
pub fn server(kind: ServerKind) -> Vec<ServerMessage> {
    match kind {
        ServerKind::Welcome => vec![
            ServerMessage::Welcome {
                id: 7,
                role: Role::Viewer,
                on_air: Some(3),
                viewers: 2,
                max_viewers: 10,
                ice_servers: ice_servers(),
                needs_key: true,
                media: MediaMode::P2p,
                page_offer: true,
                recording: None,
                public_url: None,
            },
            ServerMessage::Welcome {
                id: 9_007_199_254_740_991,
                role: Role::Broadcaster,
                on_air: None,
                viewers: 0,
                max_viewers: u32::MAX,
                ice_servers: vec![],
                needs_key: false,
                media: MediaMode::Sfu,
                page_offer: false,
                recording: Some(false),
                public_url: Some("https://192.168.1.20:3000".into()),
            },
        ],
        ServerKind::Live => vec![ServerMessage::Live {
            reclaim: "tok".into(),
        }],
        ServerKind::OnAir => vec![ServerMessage::OnAir { broadcaster: 1 }],
        ServerKind::OffAir => OffAirReason::iter()
            .map(|reason| ServerMessage::OffAir { reason })
            .collect(),
        ServerKind::WantStream => vec![ServerMessage::WantStream { from: 4 }],
        ServerKind::SpareHeld => vec![ServerMessage::SpareHeld { spare: 3 }],
        ServerKind::SpareTaken => vec![ServerMessage::SpareTaken { spare: 3, by: 11 }],
        ServerKind::Offer => vec![ServerMessage::Offer {
            from: 1,
            sdp: SDP.into(),
        }],
        ServerKind::Answer => vec![ServerMessage::Answer {
            from: 2,
            sdp: "v=0 ünïcode".into(),
        }],
        ServerKind::Candidate => vec![
            ServerMessage::Candidate {
                from: 5,
                candidate: candidate(Some("0"), Some(0)),
            },
            ServerMessage::Candidate {
                from: 5,
                candidate: candidate(None, None),
            },
        ],
        ServerKind::Hangup => vec![ServerMessage::Hangup { from: 6 }],
        ServerKind::Audio => vec![
            ServerMessage::Audio { from: 7, on: true },
            ServerMessage::Audio { from: 7, on: false },
        ],
        ServerKind::Recording => vec![
            ServerMessage::Recording { on: true },
            ServerMessage::Recording { on: false },
        ],
        ServerKind::PeerLeft => vec![ServerMessage::PeerLeft { peer: 8 }],
        ServerKind::ViewerCount => vec![ServerMessage::ViewerCount { count: 12 }],
        ServerKind::RoomFull => vec![ServerMessage::RoomFull { max_viewers: 10 }],
        ServerKind::Error => ErrorCode::iter()
            .map(|code| ServerMessage::error(code, "why"))
            .collect(),
        ServerKind::ShuttingDown => vec![ServerMessage::ShuttingDown],
        ServerKind::Chat => chat_entries()
            .into_iter()
            .map(|message| ServerMessage::Chat { message })
            .collect(),
        ServerKind::ChatBacklog => vec![
            ServerMessage::ChatBacklog { messages: vec![] },
            ServerMessage::ChatBacklog {
                messages: chat_entries(),
            },
        ],
        ServerKind::ChatDeleted => vec![ServerMessage::ChatDeleted { id: 3 }],
        ServerKind::ChatMuted => vec![
            ServerMessage::ChatMuted { muted: true },
            ServerMessage::ChatMuted { muted: false },
        ],
        ServerKind::Audience => vec![
            ServerMessage::Audience { viewers: vec![] },
            ServerMessage::Audience {
                viewers: audience(),
            },
        ],
        ServerKind::AudienceJoined => audience()
            .into_iter()
            .map(|viewer| ServerMessage::AudienceJoined { viewer })
            .collect(),
        ServerKind::AudienceLeft => vec![ServerMessage::AudienceLeft { id: 9 }],
        ServerKind::ClockPong => vec![ServerMessage::ClockPong {
            t: 1_796_144_665_123,
            server_us: 1_796_144_665_130_456,
        }],
        ServerKind::BroadcasterClock => vec![
            ServerMessage::BroadcasterClock { offset_us: -1_250 },
            ServerMessage::BroadcasterClock { offset_us: 0 },
        ],
        ServerKind::ViewerStats => vec![
            ServerMessage::ViewerStats { viewers: vec![] },
            ServerMessage::ViewerStats {
                viewers: vec![
                    ViewerQuality {
                        id: 4,
                        rtt_ms: Some(12),
                        loss_permille: Some(3),
                        kbps: Some(1450),
                    },
                    ViewerQuality {
                        id: 5,
                        rtt_ms: None,
                        loss_permille: None,
                        kbps: None,
                    },
                ],
            },
        ],
        ServerKind::Layers => vec![ServerMessage::Layers {
            layers: vec![
                LayerUse {
                    rid: "h".into(),
                    viewers: 2,
                    nodes: 1,
                    active: true,
                    height: Some(720),
                },
                LayerUse {
                    rid: "m".into(),
                    viewers: 0,
                    nodes: 0,
                    active: false,
                    height: None,
                },
            ],
        }],
        ServerKind::Quality => Level::iter()
            .flat_map(|level| {
                [false, true].map(|pinned| ServerMessage::Quality {
                    level,
                    of: 3,
                    pinned,
                })
            })
            .collect(),
    }
}

fn chat_entries() -> Vec<ChatEntry> {
    vec![
        ChatEntry {
            id: 1,
            from: 4,
            name: "viewer 2".into(),
            text: "<script>alert(1)</script> \"ü\" 🎉".into(),
            broadcaster: false,
            at: 1_796_144_665_123,
        },
        ChatEntry {
            id: 2,
            from: 3,
            name: "Ada".into(),
            text: "Welcome!".into(),
            broadcaster: true,
            at: 1_796_144_666_000,
        },
    ]
}

fn audience() -> Vec<AudienceMember> {
    vec![
        AudienceMember {
            id: 4,
            name: "viewer 2".into(),
            since: 1_796_144_665_123,
            muted: false,
        },
        AudienceMember {
            id: 5,
            name: "Grace".into(),
            since: 1_796_144_600_000,
            muted: true,
        },
    ]
}

/// Samples of every client kind.
pub fn every_client_message() -> Vec<ClientMessage> {
    ClientKind::iter().flat_map(client).collect()
}

/// Samples of every server kind.
pub fn every_server_message() -> Vec<ServerMessage> {
    ServerKind::iter().flat_map(server).collect()
}
