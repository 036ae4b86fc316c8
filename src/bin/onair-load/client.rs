//! One simulated page: a WebSocket connection that speaks the signaling protocol, split into
//! a reader (this session's task: protocol state, checks and measurements) and a writer task
//! (the only one that touches the socket's sending half, and the candidate pump).

use std::{
    collections::HashMap,
    sync::{atomic::Ordering::Relaxed, Arc},
    time::Duration,
};

use futures_util::{stream::SplitSink, SinkExt, StreamExt};
use onair::protocol::{ClientMessage, ErrorCode, PeerId, Role, ServerMessage};
use tokio::{
    net::TcpStream,
    sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore},
    time::{sleep, sleep_until, timeout, Instant},
};
use tokio_tungstenite::{
    connect_async_with_config,
    tungstenite::{self, protocol::WebSocketConfig, Message},
    MaybeTlsStream, WebSocketStream,
};

use crate::{
    payload::{self, Kind, Stamp},
    stats::{Registry, Stats, StreamCounters},
};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// TCP connect plus WebSocket handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// From the handshake to ready (welcome, live, offer/answer).
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);
/// One write (or flush) to the socket.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// From deciding to leave to the server's close frame.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);
/// With `--rate 0`: a window that has not moved for this long is written off as lost.
const STALL: Duration = Duration::from_secs(5);
/// How the server dropping a connection without a close frame is counted.
const DROPPED: &str = "dropped without a close frame";
/// Candidates one paced pump round may send before flushing.
const MAX_BATCH: usize = 256;

/// Where the run is; every client watches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Connecting, joining, offer/answer.
    Setup,
    /// Candidates flow.
    Traffic,
    /// No new candidates; what is in flight may still arrive.
    Drain,
    /// Everyone leaves.
    Leave,
}

/// What all clients share.
pub struct Shared {
    pub addr: String,
    pub idle: bool,
    pub sdp_bytes: usize,
    pub candidate_bytes: usize,
    /// Candidates per second per stream (one direction of one viewer–broadcaster pair);
    /// 0 means as fast as the window allows.
    pub stream_rate: f64,
    /// With `stream_rate` 0: messages in flight towards the busiest client of a room (its
    /// broadcaster); every stream of the room gets an equal share.
    pub window: u64,
    /// The clock all stamps are taken from.
    pub clock: std::time::Instant,
    pub stats: Stats,
    pub registry: Registry,
    pub phase: watch::Receiver<Phase>,
    /// Bounds the connections being opened at once.
    pub gate: Arc<Semaphore>,
}

impl Shared {
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A client's room.
#[derive(Clone, Debug)]
pub struct Seat {
    pub room: String,
    pub viewers_in_room: u32,
}

/// How a session tells that it is ready (or failed): the first session of each client
/// reports to the run; a churned viewer's next one only counts a rejoin.
enum Setup<'a> {
    Report(&'a mpsc::UnboundedSender<bool>),
    Rejoin,
}

impl Setup<'_> {
    fn done(&self, shared: &Shared, ok: bool) {
        match self {
            Setup::Report(tx) => {
                let _ = tx.send(ok);
            }
            Setup::Rejoin if ok => {
                shared.stats.churn_rejoins.fetch_add(1, Relaxed);
            }
            Setup::Rejoin => {
                shared.stats.churn_failed.fetch_add(1, Relaxed);
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Never got ready.
    Failed,
    /// Left or was dropped after being ready.
    Ended,
    /// Left on purpose to join again.
    Churned,
}

/// The broadcaster of one room: joins, goes live, offers to every viewer that asks.
pub async fn broadcaster(shared: Arc<Shared>, seat: Seat, setup: mpsc::UnboundedSender<bool>) {
    session(
        &shared,
        &seat,
        Role::Broadcaster,
        Setup::Report(&setup),
        None,
    )
    .await;
}

/// One viewer seat: joins, asks for the stream, answers; with churn, leaves and joins again.
pub async fn viewer(
    shared: Arc<Shared>,
    seat: Seat,
    setup: mpsc::UnboundedSender<bool>,
    churn: Arc<Notify>,
) {
    let mut outcome = session(
        &shared,
        &seat,
        Role::Viewer,
        Setup::Report(&setup),
        Some(&churn),
    )
    .await;
    while outcome == Outcome::Churned && *shared.phase.borrow() == Phase::Traffic {
        outcome = session(&shared, &seat, Role::Viewer, Setup::Rejoin, Some(&churn)).await;
    }
}

async fn connect(shared: &Shared, room: &str) -> Result<Ws, String> {
    let url = format!("ws://{}/ws/{room}", shared.addr);
    let config = WebSocketConfig::default()
        // Read at most this much per call: tungstenite zeroes it before each read, so a bigger
        // buffer costs time on every small message (an SDP takes two reads).
        .read_buffer_size(4 * 1024)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20));
    match timeout(
        CONNECT_TIMEOUT,
        connect_async_with_config(url, Some(config), true),
    )
    .await
    {
        Ok(Ok((ws, _response))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(response))) => {
            Err(format!("connect: HTTP {}", response.status().as_u16()))
        }
        Ok(Err(tungstenite::Error::Io(err))) => Err(format!("connect: {}", err.kind())),
        Ok(Err(err)) => Err(format!("connect: {}", short(&err.to_string()))),
        Err(_) => Err("connect: timed out".into()),
    }
}

/// A read or write error that means the server dropped the connection.
fn was_dropped(err: &tungstenite::Error) -> bool {
    match err {
        tungstenite::Error::Io(err) => matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof
        ),
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => true,
        _ => false,
    }
}

fn short(text: &str) -> String {
    text.chars().take(80).collect()
}

pub fn code_name(code: ErrorCode) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{code:?}"),
    }
}

/// One connection from connect to close.
async fn session(
    shared: &Arc<Shared>,
    seat: &Seat,
    role: Role,
    setup: Setup<'_>,
    churn: Option<&Notify>,
) -> Outcome {
    let Ok(permit) = shared.gate.clone().acquire_owned().await else {
        setup.done(shared, false);
        return Outcome::Failed;
    };
    if *shared.phase.borrow() == Phase::Leave {
        // Waited for its turn until the run ended: do not connect any more.
        setup.done(shared, false);
        return Outcome::Failed;
    }
    let ws = match connect(shared, &seat.room).await {
        Ok(ws) => ws,
        Err(reason) => {
            shared.stats.client_errors.add(reason);
            setup.done(shared, false);
            return Outcome::Failed;
        }
    };
    shared.stats.connected();
    let outcome = drive(shared, seat, role, ws, &setup, permit, churn).await;
    shared.stats.disconnected();
    outcome
}

async fn drive(
    shared: &Arc<Shared>,
    seat: &Seat,
    role: Role,
    ws: Ws,
    setup: &Setup<'_>,
    permit: OwnedSemaphorePermit,
    churn: Option<&Notify>,
) -> Outcome {
    let stats = &shared.stats;
    let (sink, mut stream) = ws.split();
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let wake = Arc::new(Notify::new());
    let mut writer = tokio::spawn(write_loop(shared.clone(), sink, cmd_rx, wake.clone()));
    let mut writer_done = false;
    let mut peer = Peer {
        shared,
        role,
        window_in: seat.viewers_in_room.max(1),
        id: None,
        broadcaster: None,
        answered: None,
        cmd: cmd_tx,
        wake,
        cache: HashMap::new(),
        ready: false,
        failed: None,
    };
    peer.command(Cmd::Control(ClientMessage::join(role))).await;

    let mut permit = Some(permit);
    let mut phase = shared.phase.clone();
    let mut phase_open = true;
    let setup_deadline = Instant::now() + SETUP_TIMEOUT;
    let mut leave_deadline: Option<Instant> = None;
    let mut outcome = Outcome::Ended;

    loop {
        let deadline = leave_deadline.unwrap_or(setup_deadline);
        let timed = leave_deadline.is_some() || !peer.ready;
        let may_churn = churn.is_some()
            && peer.ready
            && leave_deadline.is_none()
            && *phase.borrow() == Phase::Traffic;
        tokio::select! {
            biased;
            frame = stream.next() => match frame {
                None => {
                    if leave_deadline.is_none() {
                        stats.server_closes.add(DROPPED);
                    }
                    break;
                }
                Some(Err(err)) => {
                    if leave_deadline.is_none() {
                        if was_dropped(&err) {
                            stats.server_closes.add(DROPPED);
                        } else {
                            stats.client_errors.add(format!("read: {}", short(&err.to_string())));
                        }
                    }
                    break;
                }
                Some(Ok(Message::Text(text))) => {
                    stats.frames_received.fetch_add(1, Relaxed);
                    stats.bytes_received.fetch_add(text.len() as u64, Relaxed);
                    let was_ready = peer.ready;
                    peer.on_text(text.as_str()).await;
                    if let Some(reason) = peer.failed.take() {
                        stats.client_errors.add(reason);
                        break;
                    }
                    if peer.ready && !was_ready {
                        drop(permit.take());
                        setup.done(shared, true);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    if leave_deadline.is_none() {
                        let reason = frame.map_or_else(
                            || "no code".to_owned(),
                            |f| format!("{} {}", u16::from(f.code), short(&f.reason)),
                        );
                        stats.server_closes.add(reason);
                        leave_deadline = Some(Instant::now() + LEAVE_TIMEOUT);
                    }
                }
                Some(Ok(_)) => {}
            },
            changed = phase.changed(), if phase_open => {
                let now = match changed {
                    Ok(()) => *phase.borrow_and_update(),
                    Err(_) => {
                        phase_open = false;
                        Phase::Leave
                    }
                };
                if now == Phase::Leave && leave_deadline.is_none() {
                    leave_deadline = Some(Instant::now() + LEAVE_TIMEOUT);
                    peer.command(Cmd::Leave { off_air: role == Role::Broadcaster }).await;
                }
            }
            () = async {
                match churn {
                    Some(notify) => notify.notified().await,
                    None => std::future::pending().await,
                }
            }, if may_churn => {
                stats.churn_leaves.fetch_add(1, Relaxed);
                peer.mark_churned();
                outcome = Outcome::Churned;
                leave_deadline = Some(Instant::now() + LEAVE_TIMEOUT);
                peer.command(Cmd::Leave { off_air: false }).await;
            }
            _ = &mut writer, if !writer_done => {
                writer_done = true;
                if leave_deadline.is_none() {
                    // The writer counted why it stopped; nothing can be sent any more.
                    break;
                }
            }
            () = sleep_until(deadline), if timed => {
                if leave_deadline.is_some() {
                    stats.client_errors.add("leave: no close from the server within 5 s");
                } else {
                    stats.client_errors.add(match role {
                        Role::Broadcaster => "setup timed out (broadcaster: welcome/live)",
                        Role::Viewer if shared.idle => "setup timed out (viewer: welcome)",
                        Role::Viewer => "setup timed out (viewer: welcome/offer)",
                    });
                }
                break;
            }
        }
    }

    if !peer.ready {
        setup.done(shared, false);
        outcome = Outcome::Failed;
    }
    drop(peer); // closes the command queue: the writer sends a close frame and ends
    if !writer_done && timeout(WRITE_TIMEOUT * 2, &mut writer).await.is_err() {
        writer.abort();
    }
    outcome
}

/// The reader's protocol state.
struct Peer<'a> {
    shared: &'a Arc<Shared>,
    role: Role,
    /// Streams towards the broadcaster of this room (its viewers), for the window.
    window_in: u32,
    id: Option<PeerId>,
    /// Viewer: the live broadcaster, from welcome.on_air or on_air.
    broadcaster: Option<PeerId>,
    /// Viewer: the broadcaster whose offer it answered.
    answered: Option<PeerId>,
    cmd: mpsc::Sender<Cmd>,
    wake: Arc<Notify>,
    /// Incoming streams by sender.
    cache: HashMap<PeerId, Arc<StreamCounters>>,
    ready: bool,
    failed: Option<String>,
}

impl Peer<'_> {
    async fn command(&self, cmd: Cmd) {
        // A closed queue means the writer stopped; the session loop notices that.
        let _ = self.cmd.send(cmd).await;
    }

    fn open_stream(&self, to: PeerId) -> Option<Arc<StreamCounters>> {
        let me = self.id?;
        Some(self.shared.registry.open(me, to, &self.wake))
    }

    /// Start sending to `to`: the SDP first (offer or answer), then candidates.
    async fn start(&mut self, kind: Kind, to: PeerId) {
        let Some(stream) = self.open_stream(to) else {
            return;
        };
        self.command(Cmd::Sdp {
            kind,
            to,
            stream: stream.clone(),
        })
        .await;
        // The broadcaster hears from all its viewers: each stream gets a share of its window.
        let window = (self.shared.window / u64::from(self.window_in)).max(1);
        self.command(Cmd::Start { to, stream, window }).await;
    }

    fn mark_churned(&self) {
        let (Some(me), Some(other)) = (self.id, self.answered.or(self.broadcaster)) else {
            return;
        };
        for (from, to) in [(me, other), (other, me)] {
            if let Some(stream) = self.shared.registry.get(from, to) {
                stream.churned.store(true, Relaxed);
            }
        }
    }

    async fn on_text(&mut self, text: &str) {
        let arrived_ns = self.shared.now_ns();
        // Most of what arrives: checked without the full parser (see payload::relayed_candidate).
        if let Some((from, line)) = payload::relayed_candidate(text) {
            self.check(Kind::Candidate, from, line, arrived_ns);
            return;
        }
        let stats = &self.shared.stats;
        let msg = match serde_json::from_str::<ServerMessage>(text) {
            Ok(msg) => msg,
            Err(_) => {
                stats.client_errors.add("unreadable server message");
                return;
            }
        };
        match msg {
            ServerMessage::Welcome { id, on_air, .. } => {
                if self.id.is_some() {
                    stats.client_errors.add("second welcome");
                    return;
                }
                self.id = Some(id);
                self.command(Cmd::Me(id)).await;
                match self.role {
                    Role::Broadcaster => {
                        self.command(Cmd::Control(ClientMessage::GoLive {
                            key: None,
                            reclaim: None,
                        }))
                        .await;
                    }
                    Role::Viewer if self.shared.idle => self.ready = true,
                    Role::Viewer => {
                        if let Some(broadcaster) = on_air {
                            self.broadcaster = Some(broadcaster);
                            self.command(Cmd::Control(ClientMessage::WantStream)).await;
                        }
                    }
                }
            }
            ServerMessage::Live { .. } => {
                if self.role == Role::Broadcaster {
                    self.ready = true;
                } else {
                    stats.misrouted.fetch_add(1, Relaxed);
                }
            }
            ServerMessage::OnAir { broadcaster } => {
                if self.role != Role::Viewer {
                    stats.misrouted.fetch_add(1, Relaxed);
                } else if self.broadcaster != Some(broadcaster) {
                    self.broadcaster = Some(broadcaster);
                    if !self.shared.idle {
                        self.command(Cmd::Control(ClientMessage::WantStream)).await;
                    }
                }
            }
            ServerMessage::OffAir { .. } => {
                if let Some(broadcaster) = self.broadcaster.take() {
                    self.command(Cmd::Stop(broadcaster)).await;
                }
            }
            ServerMessage::WantStream { from } => {
                if self.role != Role::Broadcaster {
                    stats.misrouted.fetch_add(1, Relaxed);
                } else if !self.shared.idle {
                    self.start(Kind::Offer, from).await;
                }
            }
            ServerMessage::Offer { from, sdp } => {
                // `check` makes sure the offer came from the broadcaster this viewer learned
                // of (welcome.on_air or on_air); the answer goes to that id.
                if self.check(Kind::Offer, from, &sdp, arrived_ns) {
                    if let Some(broadcaster) = self.broadcaster {
                        if self.answered != Some(broadcaster) {
                            self.answered = Some(broadcaster);
                            self.start(Kind::Answer, broadcaster).await;
                            self.ready = true;
                        }
                    }
                }
            }
            ServerMessage::Answer { from, sdp } => {
                self.check(Kind::Answer, from, &sdp, arrived_ns);
            }
            ServerMessage::Candidate { from, candidate } => {
                self.check(Kind::Candidate, from, &candidate.candidate, arrived_ns);
            }
            ServerMessage::PeerLeft { peer } => {
                if self.role == Role::Broadcaster {
                    self.cache.remove(&peer);
                    self.command(Cmd::Stop(peer)).await;
                } else {
                    stats.misrouted.fetch_add(1, Relaxed);
                }
            }
            ServerMessage::ViewerCount { .. } => {
                if self.role != Role::Broadcaster {
                    stats.misrouted.fetch_add(1, Relaxed);
                }
            }
            ServerMessage::Hangup { .. } => stats.client_errors.add("unexpected hangup"),
            ServerMessage::Audio { .. } => stats.client_errors.add("unexpected audio request"),
            // The load tool never offers a spare connection.
            ServerMessage::SpareHeld { .. } | ServerMessage::SpareTaken { .. } => {
                stats.misrouted.fetch_add(1, Relaxed);
            }
            ServerMessage::RoomFull { .. } => {
                stats.server_error("room_full", "room is full");
                self.failed = Some("room full".into());
            }
            ServerMessage::Error { code, message } => {
                stats.server_error(&code_name(code), &message);
                if !self.ready
                    && matches!(
                        code,
                        ErrorCode::AlreadyLive | ErrorCode::WrongKey | ErrorCode::ServerFull
                    )
                {
                    self.failed = Some(format!("setup refused: {}", code_name(code)));
                }
            }
            ServerMessage::ShuttingDown => {
                stats.server_error("shutting_down", "the server is shutting down");
            }
        }
    }

    /// Check one relayed message and count it; true if it came from whom and to whom it should.
    fn check(&mut self, kind: Kind, from: PeerId, text: &str, arrived_ns: u64) -> bool {
        let stats = &self.shared.stats;
        let Some(stamp) = payload::parse(text) else {
            stats.corrupt.fetch_add(1, Relaxed);
            return false;
        };
        let allowed = match self.role {
            // A viewer hears only from the broadcaster it learned from welcome/on_air.
            Role::Viewer => kind != Kind::Answer && self.broadcaster == Some(from),
            Role::Broadcaster => kind != Kind::Offer,
        };
        let me = self.id;
        if !allowed || stamp.kind != kind || stamp.from != from || Some(stamp.to) != me {
            stats.misrouted.fetch_add(1, Relaxed);
            return false;
        }
        let stream = match self.cache.get(&from) {
            Some(stream) => stream.clone(),
            None => match self.shared.registry.get(from, stamp.to) {
                Some(stream) => {
                    self.cache.insert(from, stream.clone());
                    stream
                }
                // Nobody of ours opened that stream: a message we never sent.
                None => {
                    stats.misrouted.fetch_add(1, Relaxed);
                    return false;
                }
            },
        };
        let expected = stream.next_seq.load(Relaxed);
        if stamp.seq >= expected {
            if stamp.seq > expected {
                stats.seq_gaps.fetch_add(1, Relaxed);
            }
            stream.next_seq.store(stamp.seq + 1, Relaxed);
        } else {
            stats.reordered.fetch_add(1, Relaxed);
        }
        stream.received.fetch_add(1, Relaxed);
        if self.shared.stream_rate == 0.0 {
            stream.wake.notify_one();
        }
        stats.relay_received[kind.index()].fetch_add(1, Relaxed);
        let latency = arrived_ns.saturating_sub(stamp.sent_ns);
        match kind {
            Kind::Candidate => {
                stats.latency_candidate.record(latency);
                match self.role {
                    Role::Broadcaster => stats.latency_to_broadcaster.record(latency),
                    Role::Viewer => stats.latency_to_viewer.record(latency),
                }
            }
            Kind::Offer | Kind::Answer => stats.latency_sdp.record(latency),
        }
        true
    }
}

/// What the reader asks the writer to do.
enum Cmd {
    Control(ClientMessage),
    /// The id the server gave this connection, for the stamps.
    Me(PeerId),
    Sdp {
        kind: Kind,
        to: PeerId,
        stream: Arc<StreamCounters>,
    },
    /// Send candidates to `to` during the traffic phase.
    Start {
        to: PeerId,
        stream: Arc<StreamCounters>,
        window: u64,
    },
    Stop(PeerId),
    /// Close the connection (a broadcaster goes off air first, so the room is not held
    /// for its reconnect).
    Leave {
        off_air: bool,
    },
}

struct Target {
    to: PeerId,
    stream: Arc<StreamCounters>,
    window: u64,
    written_off: u64,
}

impl Target {
    fn in_flight(&self) -> u64 {
        self.stream
            .sent
            .load(Relaxed)
            .saturating_sub(self.stream.received.load(Relaxed) + self.written_off)
    }
}

/// A number in [0, 1) from `seed` (splitmix64).
/// Paced mode: time between a sender's rounds at `rate` messages/s, about one message (2 ms to
/// 0.5 s). Jittered by `seed` so that clients do not tick in lockstep; the caller's credit keeps
/// the rate exact. (Floor mode paces its clients with it too.)
pub fn round_gap(rate: f64, seed: u64) -> Duration {
    let jitter = 0.5 + unit_random(seed);
    Duration::from_secs_f64((1.0 / rate).clamp(0.002, 0.5) * jitter)
}

fn unit_random(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Why the writer stopped.
enum Failure {
    /// The server dropped the connection.
    Dropped,
    Other(String),
}

fn write_result(
    result: Result<Result<(), tungstenite::Error>, tokio::time::error::Elapsed>,
) -> Result<(), Failure> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) if was_dropped(&err) => Err(Failure::Dropped),
        Ok(Err(err)) => Err(Failure::Other(format!(
            "write: {}",
            short(&err.to_string())
        ))),
        Err(_) => Err(Failure::Other("write: timed out".into())),
    }
}

struct Writer {
    shared: Arc<Shared>,
    sink: SplitSink<Ws, Message>,
    me: PeerId,
    targets: Vec<Target>,
    next: usize,
    /// Paced mode: candidates owed.
    credit: f64,
    last: Option<Instant>,
    /// Windowed mode: every window is full.
    blocked: bool,
}

async fn write_loop(
    shared: Arc<Shared>,
    sink: SplitSink<Ws, Message>,
    mut rx: mpsc::Receiver<Cmd>,
    wake: Arc<Notify>,
) {
    let mut phase = shared.phase.clone();
    let mut phase_open = true;
    let paced = shared.stream_rate > 0.0;
    let mut w = Writer {
        shared,
        sink,
        me: 0,
        targets: Vec::new(),
        next: 0,
        credit: 0.0,
        last: None,
        blocked: false,
    };
    let result: Result<(), Failure> = async {
        loop {
            let traffic = *phase.borrow() == Phase::Traffic && !w.targets.is_empty();
            let tick = w.tick();
            tokio::select! {
                biased;
                cmd = rx.recv() => match cmd {
                    None => return Ok(()),
                    Some(Cmd::Leave { off_air }) => {
                        if off_air {
                            w.send(&ClientMessage::OffAir, None).await?;
                        }
                        return Ok(());
                    }
                    Some(cmd) => w.command(cmd).await?,
                },
                changed = phase.changed(), if phase_open => {
                    if changed.is_err() {
                        phase_open = false;
                    }
                    if traffic && paced {
                        // The traffic phase ended: send what fell due up to now.
                        w.pump_paced().await?;
                    }
                    w.last = None;
                    // Start each sender at a random point of its period, or all clients of a
                    // run would send in lockstep.
                    w.credit = unit_random(w.me ^ w.shared.now_ns());
                }
                () = sleep(tick), if paced && traffic => w.pump_paced().await?,
                () = wake.notified(), if !paced && traffic && w.blocked => w.blocked = false,
                () = sleep(STALL), if !paced && traffic && w.blocked => w.write_off(),
                () = std::future::ready(()), if !paced && traffic && !w.blocked => {
                    w.pump_window().await?;
                }
            }
        }
    }
    .await;
    match result {
        Ok(()) => {}
        Err(Failure::Dropped) => w.shared.stats.server_closes.add(DROPPED),
        Err(Failure::Other(reason)) => w.shared.stats.client_errors.add(reason),
    }
    let _ = timeout(WRITE_TIMEOUT, w.sink.close()).await;
}

impl Writer {
    async fn command(&mut self, cmd: Cmd) -> Result<(), Failure> {
        match cmd {
            Cmd::Control(msg) => self.send(&msg, None).await,
            Cmd::Me(id) => {
                self.me = id;
                Ok(())
            }
            Cmd::Sdp { kind, to, stream } => {
                let stamp = Stamp {
                    kind,
                    from: self.me,
                    to,
                    seq: stream.sent.fetch_add(1, Relaxed),
                    sent_ns: self.shared.now_ns(),
                };
                let sdp = payload::sdp(&stamp, self.shared.sdp_bytes);
                let msg = match kind {
                    Kind::Answer => ClientMessage::Answer { to, sdp },
                    _ => ClientMessage::Offer { to, sdp },
                };
                self.send(&msg, Some(kind)).await
            }
            Cmd::Start { to, stream, window } => {
                self.targets.retain(|t| t.to != to);
                self.targets.push(Target {
                    to,
                    stream,
                    window,
                    written_off: 0,
                });
                Ok(())
            }
            Cmd::Stop(to) => {
                self.targets.retain(|t| t.to != to);
                Ok(())
            }
            Cmd::Leave { .. } => Ok(()),
        }
    }

    /// Paced mode: time between pump rounds, about one message (2 ms to 0.5 s).
    fn tick(&self) -> Duration {
        let rate = self.shared.stream_rate * self.targets.len() as f64;
        if rate <= 0.0 {
            return Duration::from_millis(500);
        }
        round_gap(rate, self.me ^ self.shared.now_ns())
    }

    async fn pump_paced(&mut self) -> Result<(), Failure> {
        let now = Instant::now();
        let last = self.last.replace(now).unwrap_or(now);
        let rate = self.shared.stream_rate * self.targets.len() as f64;
        // Owe at most one second (or two messages): a sender that fell behind does not burst
        // to catch up.
        self.credit = (self.credit + (now - last).as_secs_f64() * rate).min(rate.max(2.0));
        let due = (self.credit.floor() as usize).min(MAX_BATCH);
        self.credit -= due as f64;
        if due == 0 {
            return Ok(());
        }
        // One time limit for the round, not one per message: it reads the clock.
        let round = async {
            for _ in 0..due {
                let index = self.next % self.targets.len();
                self.next = self.next.wrapping_add(1);
                self.feed_candidate(index).await?;
            }
            self.sink.flush().await
        };
        write_result(timeout(WRITE_TIMEOUT, round).await)
    }

    async fn pump_window(&mut self) -> Result<(), Failure> {
        let round = async {
            let mut sent = 0;
            for _ in 0..self.targets.len() {
                let index = self.next % self.targets.len();
                self.next = self.next.wrapping_add(1);
                let Some(target) = self.targets.get(index) else {
                    break;
                };
                let room = target.window.saturating_sub(target.in_flight()).min(8);
                for _ in 0..room {
                    self.feed_candidate(index).await?;
                    sent += 1;
                }
                if sent >= MAX_BATCH {
                    break;
                }
            }
            if sent > 0 {
                self.sink.flush().await?;
            }
            Ok(sent)
        };
        match timeout(WRITE_TIMEOUT, round).await {
            Ok(Ok(0)) => {
                self.blocked = true;
                Ok(())
            }
            result => write_result(result.map(|sent| sent.map(drop))),
        }
    }

    /// Nothing came back for a while: count what is in flight as gone and go on.
    fn write_off(&mut self) {
        for target in &mut self.targets {
            target.written_off = target
                .stream
                .sent
                .load(Relaxed)
                .saturating_sub(target.stream.received.load(Relaxed));
        }
        self.blocked = false;
    }

    /// Queue one candidate to `targets[index]` in the socket's buffer (the caller flushes, within
    /// its time limit).
    async fn feed_candidate(&mut self, index: usize) -> Result<(), tungstenite::Error> {
        let Some(target) = self.targets.get(index) else {
            return Ok(());
        };
        let to = target.to;
        let stamp = Stamp {
            kind: Kind::Candidate,
            from: self.me,
            to,
            seq: target.stream.sent.fetch_add(1, Relaxed),
            sent_ns: self.shared.now_ns(),
        };
        let text = payload::candidate_message(to, &stamp, self.shared.candidate_bytes);
        self.count_sent(&text, Some(Kind::Candidate));
        self.sink.feed(Message::text(text)).await
    }

    fn count_sent(&self, text: &str, kind: Option<Kind>) {
        let stats = &self.shared.stats;
        stats.frames_sent.fetch_add(1, Relaxed);
        stats.bytes_sent.fetch_add(text.len() as u64, Relaxed);
        if let Some(kind) = kind {
            stats.relay_sent[kind.index()].fetch_add(1, Relaxed);
        }
    }

    async fn feed(&mut self, msg: &ClientMessage, kind: Option<Kind>) -> Result<(), Failure> {
        let text =
            serde_json::to_string(msg).map_err(|err| Failure::Other(format!("encode: {err}")))?;
        self.feed_text(text, kind).await
    }

    async fn feed_text(&mut self, text: String, kind: Option<Kind>) -> Result<(), Failure> {
        self.count_sent(&text, kind);
        write_result(timeout(WRITE_TIMEOUT, self.sink.feed(Message::text(text))).await)
    }

    async fn flush(&mut self) -> Result<(), Failure> {
        write_result(timeout(WRITE_TIMEOUT, self.sink.flush()).await)
    }

    async fn send(&mut self, msg: &ClientMessage, kind: Option<Kind>) -> Result<(), Failure> {
        self.feed(msg, kind).await?;
        self.flush().await
    }
}
