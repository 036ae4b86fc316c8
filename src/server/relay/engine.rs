//! The relay's loop: one task owns every peer, every room's media state and the socket.
//! Commands, datagrams and timers come in; packets go out on the socket and messages go to
//! the pages' outboxes. Time is an input: each peer says when it next wants it.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use str0m::{bwe::BweKind, media::MediaKind, Candidate, Event};
use tokio::sync::mpsc;

use super::{
    demux::Demux,
    media_room::MediaRoom,
    metrics::RelayMetrics,
    peer::{Local, Peer, Side},
    quality, simulcast,
    udp::{Datagram, RecvBuffers, UdpPort},
    Command,
};
use crate::{
    protocol::{PeerId, RoomName, ServerMessage, RELAY_ID},
    server::recording::Recorder,
};

/// Batches read per wake-up before timers and commands get their turn.
const BATCHES_PER_WAKE: usize = 16;
/// Commands taken after each read, so a busy socket does not hold them up.
const COMMANDS_PER_WAKE: usize = 8;
/// The longest the loop sleeps when nothing asked for time.
const IDLE_WAKE: Duration = Duration::from_secs(1);

pub(super) struct Engine {
    udp: UdpPort,
    pub(super) local: Local,
    pub(super) peers: HashMap<PeerId, Peer>,
    pub(super) rooms: HashMap<RoomName, MediaRoom>,
    pub(super) demux: Demux,
    /// Peers that got input and must be polled.
    pub(super) touched: Vec<PeerId>,
    events: Vec<Event>,
    pub(super) metrics: RelayMetrics,
    /// Writes the broadcasts to files (`--record`); closes them when dropped.
    pub(super) recorder: Option<Recorder>,
    /// When broadcasters next hear their viewers' figures.
    next_quality_report: Instant,
    /// When every viewer's simulcast layer is next looked at.
    pub(super) next_layer_choice: Instant,
}

enum Wake {
    Command(Option<Command>),
    Readable,
    Timer,
}

impl Engine {
    pub(super) fn new(
        udp: UdpPort,
        candidates: Vec<Candidate>,
        metrics: RelayMetrics,
        recorder: Option<Recorder>,
    ) -> Self {
        Self {
            udp,
            local: Local::new(candidates),
            peers: HashMap::new(),
            rooms: HashMap::new(),
            demux: Demux::new(metrics.unknown_datagrams.clone()),
            touched: Vec::new(),
            events: Vec::new(),
            metrics,
            recorder,
            next_quality_report: Instant::now() + quality::REPORT_EVERY,
            next_layer_choice: Instant::now() + simulcast::CHOOSE_EVERY,
        }
    }

    /// Run until every handle to the relay is gone.
    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut buffers = self.udp.buffers();
        loop {
            let wake_at = self.wake_at();
            // The socket first: a busy relay that read late would overflow the kernel's buffer
            // and lose the browsers' ICE checks, and with them the peers. Timers that are due
            // run after any wake-up, so reading cannot starve them either.
            let wake = tokio::select! {
                biased;
                readable = self.udp.readable() => match readable {
                    Ok(()) => Wake::Readable,
                    Err(_) => Wake::Timer,
                },
                command = commands.recv() => Wake::Command(command),
                () = tokio::time::sleep_until(wake_at.into()) => Wake::Timer,
            };
            match wake {
                Wake::Command(None) => break,
                Wake::Command(Some(command)) => self.command(command, Instant::now()),
                Wake::Readable => {
                    self.read(&mut buffers);
                    // Nor may reading starve the rooms' commands (a joining viewer waits).
                    for _ in 0..COMMANDS_PER_WAKE {
                        let Ok(command) = commands.try_recv() else {
                            break;
                        };
                        self.command(command, Instant::now());
                    }
                }
                Wake::Timer => {}
            }
            let now = Instant::now();
            if wake_at <= now {
                self.timers(now);
            }
            self.settle(Instant::now());
            self.metrics.peers.set(self.peers.len() as i64);
            self.metrics.rooms.set(self.rooms.len() as i64);
            self.metrics.sources.set(self.demux.sources() as i64);
        }
        tracing::debug!("media relay stopped");
    }

    fn wake_at(&self) -> Instant {
        let peers = self.peers.values().map(|peer| peer.wake_at);
        let rooms = self.rooms.values().filter_map(MediaRoom::wake_at);
        peers
            .chain(rooms)
            .min()
            .unwrap_or_else(|| Instant::now() + IDLE_WAKE)
    }

    fn read(&mut self, buffers: &mut RecvBuffers) {
        let port = self.udp.port();
        for _ in 0..BATCHES_PER_WAKE {
            match self.udp.try_recv(buffers) {
                Ok(true) => {}
                Ok(false) => return,
                Err(err) => {
                    tracing::debug!("media relay: read failed: {err}");
                    return;
                }
            }
            let now = Instant::now();
            for datagram in buffers.datagrams(port) {
                self.datagram(now, &datagram);
            }
            // Forward what came in before reading more, so a burst does not pile up.
            self.settle(now);
        }
    }

    fn datagram(&mut self, now: Instant, datagram: &Datagram<'_>) {
        let traffic = &self.metrics.traffic;
        traffic.received_datagrams.inc();
        traffic
            .received_bytes
            .inc_by(datagram.contents.len() as u64);
        let Some(member) = self.demux.route(datagram.source, datagram.contents) else {
            return;
        };
        let Some(peer) = self.peers.get_mut(&member) else {
            return;
        };
        if peer.receive(now, datagram) {
            self.demux.learn(datagram.source, member);
            self.touched.push(member);
        }
    }

    fn timers(&mut self, now: Instant) {
        for (member, peer) in &mut self.peers {
            if peer.wake_at <= now {
                peer.timeout(now);
                self.touched.push(*member);
            }
        }
        for room in self.rooms.values_mut() {
            if room.ask_due(now) {
                room.ask_broadcaster();
            }
        }
    }

    /// Poll every touched peer, act on its events (which may touch more), send key-frame
    /// requests that are due, and drop the peers that ended.
    fn settle(&mut self, now: Instant) {
        loop {
            while let Some(member) = self.touched.pop() {
                let Some(peer) = self.peers.get_mut(&member) else {
                    continue;
                };
                let mut events = std::mem::take(&mut self.events);
                peer.poll(&mut self.udp, &mut events);
                let alive = peer.is_alive();
                for event in events.drain(..) {
                    self.event(member, event);
                }
                self.events = events;
                if !alive {
                    self.peer_ended(member, now);
                }
            }
            // Always, not only after polling: a request that is due must go (and its time
            // stop waking the loop) even when nothing else happened.
            self.choose_layers(now);
            self.request_keyframes(now);
            self.report_quality(now);
            if self.touched.is_empty() {
                return;
            }
        }
    }

    fn event(&mut self, member: PeerId, event: Event) {
        let now = Instant::now();
        let Some(peer) = self.peers.get_mut(&member) else {
            return;
        };
        let room_name = peer.room.clone();
        let is_ingest = matches!(peer.side, Side::Ingest);
        match event {
            Event::MediaAdded(added) if is_ingest && added.kind == MediaKind::Video => {
                if let Some(room) = self.rooms.get_mut(&room_name) {
                    room.ingest_video.push(added.mid);
                    let mut rids = Vec::new();
                    for layer in added
                        .simulcast
                        .iter()
                        .flat_map(|s| s.send.iter().chain(&s.recv))
                    {
                        if !rids.contains(&layer.rid) {
                            rids.push(layer.rid);
                        }
                    }
                    match peer.pull.is_some() {
                        true => room.layers.pull(rids),
                        false => room.layers.declare(rids),
                    }
                    room.want_keyframes();
                }
            }
            Event::MediaAdded(added) if !is_ingest => {
                let rids = added
                    .simulcast
                    .iter()
                    .flat_map(|s| s.send.iter().map(|layer| layer.rid))
                    .collect();
                peer.media_added(added.kind, added.mid, rids);
            }
            Event::MediaData(data) if is_ingest => {
                self.ingest_frame(&room_name, member, &data, now)
            }
            Event::Connected => {
                tracing::debug!("relay: member {member} of {room_name} connected");
                peer.connected();
                if !is_ingest {
                    self.choose_layer(member, now);
                }
            }
            Event::PeerStats(stats) if !is_ingest => peer.quality.link(&stats),
            Event::MediaEgressStats(stats) => {
                let nacks = peer.new_nacks(stats.mid, stats.nacks);
                self.metrics.nacks_received.inc_by(nacks);
                if peer.kind_of(stats.mid) == Some(MediaKind::Video) {
                    peer.quality.video(&stats);
                    if let Some(loss) = stats.loss {
                        self.metrics.viewer_loss.observe(f64::from(loss));
                    }
                    if let Some(rtt) = stats.rtt {
                        self.metrics.viewer_rtt.observe(rtt.as_secs_f64());
                    }
                }
            }
            Event::MediaIngressStats(stats) => {
                let nacks = peer.new_nacks(stats.mid, stats.nacks);
                self.metrics.nacks_sent.inc_by(nacks);
            }
            Event::KeyframeRequest(request) if !is_ingest => {
                let (Some(room), Some(viewer)) =
                    (self.rooms.get_mut(&room_name), peer.viewer_mut())
                else {
                    return;
                };
                // An edge asks for the layer its rid carries; a viewer, for the one it gets.
                let layer = match (viewer.is_edge(), request.rid) {
                    (true, Some(rid)) => viewer.edge_layer(rid, &room.layers.all()),
                    (true, None) => None,
                    (false, _) => viewer.layer.current,
                };
                match layer {
                    Some(layer) => room.want_keyframe(layer),
                    None => room.want_keyframes(),
                }
            }
            Event::EgressBitrateEstimate(kind) if !is_ingest => {
                let estimate = match kind {
                    BweKind::Twcc { estimate, .. } | BweKind::Remb { estimate, .. } => estimate,
                    _ => return,
                };
                if let Some(viewer) = peer.viewer_mut() {
                    tracing::trace!("relay: member {member}'s link: {kind:?}");
                    viewer.layer.estimate(estimate.as_u64(), now);
                }
                self.choose_layer(member, now);
            }
            _ => {}
        }
    }

    /// Whether `room`'s broadcast is written to a file now.
    pub(super) fn records(&self, room: &RoomName) -> bool {
        self.recorder.is_some() && self.rooms.get(room).is_some_and(|r| !r.not_recorded)
    }

    /// Every few seconds, each broadcaster hears how well its viewers receive it. (The loop
    /// runs at least once a second while there are viewers: their stats wake it.)
    fn report_quality(&mut self, now: Instant) {
        if now < self.next_quality_report {
            return;
        }
        self.next_quality_report = now + quality::REPORT_EVERY;
        for room in self.rooms.values() {
            let Some((_, outbox)) = &room.broadcaster else {
                continue;
            };
            let viewers = room
                .viewers
                .iter()
                .filter_map(|id| self.peers.get(id).map(|peer| peer.quality.report(*id)))
                .collect::<Vec<_>>();
            if !viewers.is_empty() {
                outbox.send(&ServerMessage::ViewerStats { viewers });
            }
        }
    }

    fn request_keyframes(&mut self, now: Instant) {
        for room in self.rooms.values_mut() {
            let layers = room.keyframe_due(now);
            if layers.is_empty() {
                continue;
            }
            let Some(ingest) = room.ingest else { continue };
            if let Some(peer) = self.peers.get_mut(&ingest) {
                peer.request_keyframe(&room.ingest_video, &layers);
                self.metrics.keyframe_requests.inc();
                self.touched.push(ingest);
            }
        }
    }

    /// Close `room`'s recording, if one is open.
    pub(super) fn end_recording(&self, room: &RoomName) {
        if let Some(recorder) = &self.recorder {
            recorder.end(room);
        }
    }

    pub(super) fn add_peer(&mut self, peer: Peer) {
        let member = peer.member;
        // A pull's datagrams come with its member id, on its own socket.
        if peer.pull.is_none() {
            self.demux.add_ufrag(peer.ufrag.clone(), member);
        }
        self.peers.insert(member, peer);
        self.touched.push(member);
    }

    /// A peer ended by itself (ICE timed out, DTLS failed): its page hears of it.
    fn peer_ended(&mut self, member: PeerId, now: Instant) {
        let Some(peer) = self.peers.get(&member) else {
            return;
        };
        peer.outbox.send(&ServerMessage::Hangup { from: RELAY_ID });
        if let Some(room) = self.remove_peer(member) {
            self.ask_again_if_broadcaster(&room, member, now);
        }
    }

    pub(super) fn ask_again_if_broadcaster(
        &mut self,
        room: &RoomName,
        member: PeerId,
        now: Instant,
    ) {
        if let Some(media_room) = self.rooms.get_mut(room) {
            if media_room.broadcaster_id() == Some(member) {
                media_room.ask_again_later(now);
            }
        }
    }

    /// Drop `member`'s peer, if it has one; its room, if that leaves it empty.
    pub(super) fn remove_peer(&mut self, member: PeerId) -> Option<RoomName> {
        let peer = self.peers.remove(&member)?;
        self.demux.forget(member, &peer.ufrag, &peer.sources);
        let name = peer.room;
        if let Some(room) = self.rooms.get_mut(&name) {
            if room.ingest == Some(member) {
                room.set_ingest(None);
                if let Some(recorder) = &self.recorder {
                    recorder.end(&name);
                }
            }
            room.viewers.retain(|viewer| *viewer != member);
            if room.is_empty() {
                self.rooms.remove(&name);
            }
        }
        Some(name)
    }
}
