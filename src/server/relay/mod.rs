//! The media relay (SFU): the broadcaster sends its stream to the server once, and the server
//! forwards it to each viewer over that viewer's own WebRTC connection.
//!
//! One task owns every peer connection (a `str0m` [`Rtc`](str0m::Rtc)) and the UDP socket; the
//! rooms talk to it over a bounded channel of [`Command`]s and it answers the pages through
//! their outboxes, as [`RELAY_ID`](crate::protocol::RELAY_ID). No lock is held around media.
//!
//! - [`engine`]: the loop: commands, datagrams and timers in, packets and messages out.
//! - [`command`]: what the engine does for each command.
//! - [`forwarding`]: each frame of a broadcast, recorded and forwarded to its viewers.
//! - [`peer`]: one peer connection (the broadcaster's ingest or one viewer's).
//! - [`pull`]: a room's stream taken from the node it is live on, as its ingest here.
//! - [`media_room`]: one room's ingest, viewers and key-frame requests.
//! - [`demux`]: which peer a datagram is for, by ICE username or source address.
//! - [`udp`]: the socket, read and written in batches.
//! - [`addresses`]: the addresses the relay announces to browsers.
//! - [`metrics`]: the relay's figures for `/metrics`.
//! - [`quality`]: how well each viewer receives the broadcast, for its broadcaster.
//! - [`viewer_side`]: a viewer's media lines and sound, and forwarding a frame to it.
//! - Simulcast: [`layers`] (a broadcast's layers), [`layer_choice`] (the layer for one viewer,
//!   a pure function), [`viewer_layer`] (one viewer's layer and its switches), [`simulcast`]
//!   (choosing one viewer's layer), [`layer_rounds`] (the engine choosing for every viewer,
//!   asking for key frames, telling the broadcaster what to send).

mod addresses;
mod command;
mod demux;
mod edge_layers;
mod engine;
mod forwarding;
mod layer_choice;
mod layer_rounds;
mod layers;
mod media_room;
mod metrics;
mod peer;
mod pull;
mod pull_link;
mod quality;
mod simulcast;
mod udp;
mod viewer_layer;
mod viewer_side;

use std::{io, net::SocketAddr, sync::Arc};

use tokio::{
    net::UdpSocket,
    sync::{mpsc, oneshot},
};

use super::{config::MediaSettings, outbox::Outbox, recording::Recorder};
pub use metrics::RelayMetrics;

use crate::protocol::{IceCandidate, Level, PeerId, RoomName};

/// Commands waiting for the relay before signaling is told it is busy.
const COMMAND_QUEUE: usize = 4096;

/// What signaling asks of the relay. `member` is a signaling connection's id: the relay keeps
/// at most one peer per member.
#[derive(Debug)]
pub enum Command {
    /// `broadcaster` went on air in `room`: ask it for its stream.
    OnAir {
        room: RoomName,
        broadcaster: PeerId,
        outbox: Outbox,
        /// Record its broadcast (where the server records).
        record: bool,
    },
    /// Record `room`'s broadcasts, or stop (its open file closes).
    Record { room: RoomName, on: bool },
    /// The broadcaster's offer: answer it and take its media.
    Publish {
        room: RoomName,
        member: PeerId,
        sdp: String,
    },
    /// A viewer of `room` wants the stream: offer it one, or answer the `offer` it brought
    /// (a WHEP player).
    Subscribe {
        room: RoomName,
        member: PeerId,
        outbox: Outbox,
        offer: Option<String>,
    },
    /// A viewer's answer to the relay's offer.
    Answer { member: PeerId, sdp: String },
    /// The member's client restarts ICE with `offer` (its first one, new credentials in it):
    /// the relay's answer, with its own new credentials, or why not, goes to `reply`.
    RestartIce {
        member: PeerId,
        offer: String,
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// A trickled candidate of the member's browser.
    Candidate {
        member: PeerId,
        candidate: IceCandidate,
    },
    /// A viewer wants sound, or no more.
    Audio { member: PeerId, on: bool },
    /// A viewer's page shows the picture at this size (device pixels).
    ViewerSize {
        member: PeerId,
        width: u32,
        height: u32,
    },
    /// A viewer pins its quality, or (`None`) lets the relay choose.
    PinQuality {
        member: PeerId,
        level: Option<Level>,
    },
    /// The member closed its peer connection; a broadcaster still on air is asked again.
    Hangup { member: PeerId },
    /// The member left the room.
    Left { member: PeerId },
    /// The broadcast in `room` ended: all its peers end.
    EndRoom { room: RoomName },
    /// Pull `room`'s stream from the node it is live on, as the room's ingest here (see
    /// [`pull`]): the offer for that node goes to `reply`, and the pull's packets through
    /// `socket`. The node's answer comes as an [`Command::Answer`]; [`Command::Left`] ends it.
    Pull {
        room: RoomName,
        member: PeerId,
        socket: Arc<UdpSocket>,
        outbox: Outbox,
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// A datagram a pull's socket read.
    PullDatagram {
        member: PeerId,
        source: SocketAddr,
        destination: SocketAddr,
        contents: Vec<u8>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("UDP port {0} is already in use: stop the program using it, or pick another with --udp-port (or ONAIR_UDP_PORT)")]
    PortTaken(u16),
    #[error("cannot open the media port {0}: {1}")]
    Bind(SocketAddr, io::Error),
    #[error("the relay has no address to announce to browsers: give --addr a specific address")]
    NoAddress,
    #[error(transparent)]
    Recording(#[from] crate::server::recording::RecordingError),
}

/// The relay is busy: its command queue is full.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the media relay is busy; try again in a moment")]
pub struct Busy;

/// The handle signaling holds; the relay's task ends when the last one is dropped.
#[derive(Debug, Clone)]
pub struct MediaRelay {
    commands: mpsc::Sender<Command>,
    udp_port: u16,
    metrics: RelayMetrics,
    records: bool,
}

impl MediaRelay {
    /// Open the media port and start the relay's task (call inside tokio). `http` is where
    /// the HTTP server listens: its port is the default UDP port, and a specific address on it
    /// is the only one announced.
    pub fn start(settings: &MediaSettings, http: SocketAddr) -> Result<Self, RelayError> {
        let udp_port = settings.udp_port.unwrap_or(http.port());
        let candidates = addresses::candidates(http.ip(), udp_port, settings.public_ip)?;
        let bind = SocketAddr::new(addresses::bind_ip(http.ip()), udp_port);
        let metrics = RelayMetrics::default();
        let socket = udp::UdpPort::bind(
            bind,
            metrics.dropped_datagrams.clone(),
            metrics.traffic.clone(),
        )
        .map_err(|err| {
            if err.kind() == io::ErrorKind::AddrInUse {
                RelayError::PortTaken(udp_port)
            } else {
                RelayError::Bind(bind, err)
            }
        })?;
        let udp_port = socket.port();
        tracing::info!(
            "media relay on UDP port {udp_port}, announcing {}",
            candidates
                .iter()
                .map(|c| c.addr().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let recorder = match &settings.record {
            Some(dir) => {
                tracing::info!("recording relayed broadcasts into {}", dir.display());
                Some(Recorder::start(dir, metrics.recording_dropped.clone())?)
            }
            None => None,
        };
        let (commands, queue) = mpsc::channel(COMMAND_QUEUE);
        let engine = engine::Engine::new(socket, candidates, metrics.clone(), recorder);
        tokio::spawn(engine.run(queue));
        Ok(Self {
            commands,
            udp_port,
            metrics,
            records: settings.record.is_some(),
        })
    }

    pub fn metrics(&self) -> &RelayMetrics {
        &self.metrics
    }

    /// Whether it records the broadcasts (`--record`).
    pub fn records(&self) -> bool {
        self.records
    }

    /// The UDP port the media uses.
    pub fn udp_port(&self) -> u16 {
        self.udp_port
    }

    /// Queue a pull's datagram, or drop it if the relay is busy, as its own socket would.
    pub fn send_datagram(&self, command: Command) {
        if self.commands.try_send(command).is_err() {
            self.metrics.dropped_datagrams.inc();
        }
    }

    /// Queue `command` without waiting (signaling holds a room's lock while it sends).
    pub fn send(&self, command: Command) -> Result<(), Busy> {
        self.commands.try_send(command).map_err(|err| {
            tracing::warn!("media relay: {err}");
            Busy
        })
    }
}
