//! The signaling hub: rooms, their members, and the routing rules between them.
//!
//! The hub never trusts a client for who it is or whom it may reach: every connection gets
//! its [`PeerId`] here, every relayed message is stamped with it, and a message goes only to a
//! member of the sender's own room — from a viewer only to the live broadcaster, from the live
//! broadcaster only to its viewers.
//!
//! Locks: `Hub::rooms` before any `Room::state`, never the other way round. Each member's
//! outbound queue is bounded; a member whose queue is full is cut off instead of stalling the
//! room.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, Weak,
    },
    time::{Duration, Instant},
};

use tokio::sync::{watch, Notify};

use super::{
    config::Config,
    outbox::{encode, Outbox, Queued},
    relayed::{Kind, Relayed},
};
use crate::{
    protocol::{
        ClientMessage, ErrorCode, IceServer, OffAirReason, PageOffer, PeerId, Role, RoomState,
        RoomSummary, ServerMessage, TICKET_MS,
    },
    room_name::RoomName,
};

/// Messages a member's queue holds before the member counts as too slow and is dropped; a
/// broadcaster's queue also has room for two messages per viewer (viewer count and
/// want_stream, or viewer count and peer_left), so a whole room joining at once fits.
pub const OUTBOX_CAPACITY: usize = 100;

pub fn outbox_capacity(max_viewers: u32) -> usize {
    OUTBOX_CAPACITY + 2 * max_viewers as usize
}

/// WebSocket close codes we use.
pub mod close_code {
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    /// Application code: the room has its maximum of viewers.
    pub const ROOM_FULL: u16 = 4001;
    /// Application code: the room is private and the key was missing or wrong.
    pub const PRIVATE: u16 = 4003;
}

/// A refusal the session reports to its client as an `error` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// Why a connection could not join.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("room is full: it has its maximum of {0} viewers")]
    RoomFull(u32),
    #[error("the server has its maximum of {0} rooms")]
    TooManyRooms(u32),
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("this room is private: open the link with its key")]
    Private,
}

#[derive(Debug)]
struct Member {
    role: Role,
    outbox: Outbox,
    /// For a viewer: the broadcaster-side peer that sent it its current offer.
    offered_by: Option<PeerId>,
}

/// Watch pages served with an offer whose sockets have not joined yet, per room: each holds
/// a connection in the broadcaster's page until it joins or its ticket runs out, so a burst of
/// page loads (or a crawler) cannot make the broadcaster hold more than this.
pub const MAX_PENDING_PAGE_OFFERS: usize = 8;

/// The live broadcaster's spare offer (see `ClientMessage::SpareOffer`).
#[derive(Debug)]
struct Spare {
    id: u64,
    sdp: String,
}

/// A spare offer served in a watch page, waiting for that page's `join`.
#[derive(Debug)]
struct Ticket {
    token: String,
    spare: u64,
    broadcaster: PeerId,
    until: Instant,
}

/// A dropped live broadcaster's claim on its room while it reconnects.
#[derive(Debug)]
struct Reservation {
    token: String,
    until: Instant,
}

#[derive(Debug, Default)]
struct RoomInner {
    members: HashMap<PeerId, Member>,
    viewers: u32,
    on_air: Option<PeerId>,
    reclaim_token: Option<String>,
    reserved: Option<Reservation>,
    /// The live broadcaster's spare offer, for the next viewer.
    spare: Option<Spare>,
    /// Watch pages served with a spare offer, until they join.
    tickets: Vec<Ticket>,
    /// Set once the room is taken out of the hub; nobody joins it after that.
    removed: bool,
}

impl RoomInner {
    fn reservation(&self, now: Instant) -> Option<&Reservation> {
        self.reserved.as_ref().filter(|r| r.until > now)
    }

    fn is_idle(&self, now: Instant) -> bool {
        self.members.is_empty() && self.reservation(now).is_none()
    }

    fn send(&self, to: PeerId, msg: &ServerMessage) {
        self.push(to, encode(msg));
    }

    fn push(&self, to: PeerId, text: Queued) {
        if let Some(member) = self.members.get(&to) {
            member.outbox.push(text);
        }
    }

    fn send_to_role(&self, role: Role, msg: &ServerMessage) {
        let text = encode(msg);
        for member in self.members.values().filter(|m| m.role == role) {
            member.outbox.push(text.clone());
        }
    }

    /// A new broadcast (or none): the old broadcaster's spare offers are void.
    fn forget_spares(&mut self) {
        self.spare = None;
        self.tickets.clear();
    }

    /// The ticket `token` of the live broadcaster, taken (once) if it is still good.
    fn take_ticket(&mut self, token: &str, now: Instant) -> Option<Ticket> {
        self.tickets.retain(|t| t.until > now);
        let at = self
            .tickets
            .iter()
            .position(|t| super::publish_key::matches(&t.token, Some(token)))?;
        let ticket = self.tickets.swap_remove(at);
        (self.on_air == Some(ticket.broadcaster)).then_some(ticket)
    }

    fn announce_viewer_count(&self) {
        self.send_to_role(
            Role::Broadcaster,
            &ServerMessage::ViewerCount {
                count: self.viewers,
            },
        );
    }
}

#[derive(Debug)]
pub struct Room {
    name: RoomName,
    state: Mutex<RoomInner>,
}

impl Room {
    fn lock(&self) -> MutexGuard<'_, RoomInner> {
        // A panic while holding the lock leaves the state consistent enough to go on serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub struct Hub {
    me: Weak<Hub>,
    config: Arc<Config>,
    ice_servers: Vec<IceServer>,
    rooms: Mutex<HashMap<RoomName, Arc<Room>>>,
    next_id: AtomicU64,
    connections_per_ip: Mutex<HashMap<IpAddr, u32>>,
    accepting: AtomicBool,
    shutdown: watch::Sender<bool>,
    rooms_changed: Arc<Notify>,
    room_list: watch::Sender<Arc<Vec<RoomSummary>>>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        // Wake the room list task so it sees the hub is gone and ends.
        self.rooms_changed.notify_one();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Hub {
    /// A new hub; spawns the task that keeps the room list current (call inside tokio).
    pub fn new(config: Arc<Config>) -> Arc<Self> {
        let hub = Arc::new_cyclic(|me| Self {
            me: me.clone(),
            ice_servers: config.ice_servers(),
            config,
            rooms: Mutex::default(),
            next_id: AtomicU64::new(1),
            connections_per_ip: Mutex::default(),
            accepting: AtomicBool::new(true),
            shutdown: watch::channel(false).0,
            rooms_changed: Arc::new(Notify::new()),
            room_list: watch::channel(Arc::new(Vec::new())).0,
        });
        tokio::spawn(publish_room_list(
            Arc::downgrade(&hub),
            hub.rooms_changed.clone(),
        ));
        hub
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The live rooms, by name, as of at most a few hundred milliseconds ago.
    pub fn room_list(&self) -> watch::Receiver<Arc<Vec<RoomSummary>>> {
        self.room_list.subscribe()
    }

    pub fn live_rooms(&self) -> Vec<RoomSummary> {
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        let mut live: Vec<RoomSummary> = rooms
            .iter()
            // Private rooms are for people who have the link; the list does not show them.
            .filter(|room| !self.config.is_private(room.name.as_str()))
            .filter_map(|room| {
                let inner = room.lock();
                inner.on_air.map(|_| RoomSummary {
                    name: room.name.to_string(),
                    viewers: inner.viewers,
                })
            })
            .collect();
        live.sort_by(|a, b| a.name.cmp(&b.name));
        live
    }

    pub fn room_state(&self, name: &RoomName) -> RoomState {
        let room = lock(&self.rooms).get(name).cloned();
        let (live, viewers) = room.map_or((false, 0), |room| {
            let inner = room.lock();
            (inner.on_air.is_some(), inner.viewers)
        });
        RoomState {
            name: name.to_string(),
            live,
            viewers,
            max_viewers: self.config.max_viewers,
        }
    }

    /// The live broadcaster's spare offer for a watch page being served, with a ticket for
    /// its `join`; `None` when there is none to give (not live, no spare ready, too many
    /// pages pending, or a private room and not its key).
    pub fn page_offer(&self, name: &RoomName, key: Option<&str>) -> Option<PageOffer> {
        if self.config.is_private(name.as_str()) {
            let expected = self
                .config
                .publish_key_for(name.as_str())
                .unwrap_or_default();
            if !super::publish_key::matches(expected, key) {
                return None;
            }
        }
        let room = lock(&self.rooms).get(name).cloned()?;
        let mut inner = room.lock();
        let broadcaster = inner.on_air?;
        let now = Instant::now();
        inner.tickets.retain(|t| t.until > now);
        if inner.tickets.len() >= MAX_PENDING_PAGE_OFFERS {
            return None;
        }
        let spare = inner.spare.take()?;
        let token = super::publish_key::new_token();
        inner.tickets.push(Ticket {
            token: token.clone(),
            spare: spare.id,
            broadcaster,
            until: now + Duration::from_millis(TICKET_MS),
        });
        inner.send(broadcaster, &ServerMessage::SpareHeld { spare: spare.id });
        Some(PageOffer {
            ticket: token,
            sdp: spare.sdp,
            ice_servers: self.ice_servers.clone(),
        })
    }

    pub fn room_count(&self) -> usize {
        lock(&self.rooms).len()
    }

    pub fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::Relaxed)
    }

    /// Resolves once shutdown begins.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Stop taking new rooms and tell every connected page to come back later.
    pub fn begin_shutdown(&self) {
        self.accepting.store(false, Ordering::Relaxed);
        self.shutdown.send_replace(true);
    }

    /// Count one more connection from `ip`, or refuse it past the per-IP cap.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<IpGuard> {
        let mut counts = lock(&self.connections_per_ip);
        let count = counts.entry(ip).or_insert(0);
        if *count >= self.config.max_connections_per_ip {
            return None;
        }
        *count += 1;
        Some(IpGuard {
            hub: self.clone(),
            ip,
        })
    }

    /// Add a member to `name`'s room, creating the room if needed.
    pub fn join(
        self: &Arc<Self>,
        name: &RoomName,
        role: Role,
        outbox: Outbox,
        key: Option<&str>,
        ticket: Option<&str>,
    ) -> Result<Membership, JoinError> {
        if !self.is_accepting() {
            return Err(JoinError::ShuttingDown);
        }
        if role == Role::Viewer && self.config.is_private(name.as_str()) {
            let expected = self
                .config
                .publish_key_for(name.as_str())
                .unwrap_or_default();
            if !super::publish_key::matches(expected, key) {
                return Err(JoinError::Private);
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut rooms = lock(&self.rooms);
        let room = match rooms.get(name) {
            Some(room) => room.clone(),
            None => {
                if rooms.len() >= self.config.max_rooms as usize {
                    return Err(JoinError::TooManyRooms(self.config.max_rooms));
                }
                let room = Arc::new(Room {
                    name: name.clone(),
                    state: Mutex::default(),
                });
                rooms.insert(name.clone(), room.clone());
                room
            }
        };
        let mut inner = room.lock();
        drop(rooms);
        // A full room has viewers (the cap is at least 1), so refusing leaves nothing empty.
        if role == Role::Viewer && inner.viewers >= self.config.max_viewers {
            return Err(JoinError::RoomFull(self.config.max_viewers));
        }
        // A viewer whose page came with an offer: that offer is its current one.
        let ticket = ticket
            .filter(|_| role == Role::Viewer)
            .and_then(|token| inner.take_ticket(token, Instant::now()));
        inner.members.insert(
            id,
            Member {
                role,
                outbox: outbox.clone(),
                offered_by: ticket.as_ref().map(|t| t.broadcaster),
            },
        );
        if role == Role::Viewer {
            inner.viewers += 1;
            inner.announce_viewer_count();
        }
        outbox.send(&ServerMessage::Welcome {
            id,
            role,
            on_air: inner.on_air,
            viewers: inner.viewers,
            max_viewers: self.config.max_viewers,
            ice_servers: self.ice_servers.clone(),
            needs_key: self.config.publish_key_for(name.as_str()).is_some(),
            page_offer: ticket.is_some(),
        });
        if let Some(ticket) = &ticket {
            inner.send(
                ticket.broadcaster,
                &ServerMessage::SpareTaken {
                    spare: ticket.spare,
                    by: id,
                },
            );
        }
        let live = inner.on_air.is_some();
        drop(inner);
        if live && role == Role::Viewer {
            self.rooms_changed.notify_one();
        }
        Ok(Membership {
            hub: self.clone(),
            room,
            id,
            role,
            has_offer: ticket.is_some(),
        })
    }

    fn leave(&self, room: &Arc<Room>, id: PeerId) {
        let mut inner = room.lock();
        let Some(member) = inner.members.remove(&id) else {
            return;
        };
        let mut list_changed = false;
        match member.role {
            Role::Viewer => {
                inner.viewers = inner.viewers.saturating_sub(1);
                inner.announce_viewer_count();
                if let Some(broadcaster) = inner.on_air {
                    inner.send(broadcaster, &ServerMessage::PeerLeft { peer: id });
                    list_changed = true;
                }
            }
            Role::Broadcaster if inner.on_air == Some(id) => {
                inner.on_air = None;
                // Hold the room for the broadcaster's reconnect, if it had a token.
                if let Some(token) = inner.reclaim_token.take() {
                    inner.reserved = Some(Reservation {
                        token,
                        until: Instant::now() + self.config.reclaim_grace(),
                    });
                }
                for viewer in inner.members.values_mut() {
                    viewer.offered_by = None;
                }
                inner.forget_spares();
                inner.send_to_role(
                    Role::Viewer,
                    &ServerMessage::OffAir {
                        reason: OffAirReason::Disconnected,
                    },
                );
                list_changed = true;
            }
            Role::Broadcaster => {}
        }
        let idle = inner.is_idle(Instant::now());
        let reserved = inner.reserved.is_some();
        drop(inner);
        if list_changed {
            self.rooms_changed.notify_one();
        }
        if idle {
            self.remove_if_idle(room);
        } else if reserved {
            self.expire_reservation_later(room.clone());
        }
    }

    fn expire_reservation_later(&self, room: Arc<Room>) {
        let grace = self.config.reclaim_grace();
        let hub = self.me.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace + Duration::from_millis(50)).await;
            let Some(hub) = hub.upgrade() else { return };
            {
                let mut inner = room.lock();
                if inner
                    .reserved
                    .as_ref()
                    .is_some_and(|r| r.until <= Instant::now())
                {
                    inner.reserved = None;
                }
            }
            hub.remove_if_idle(&room);
        });
    }

    fn remove_if_idle(&self, room: &Arc<Room>) {
        let mut rooms = lock(&self.rooms);
        let mut inner = room.lock();
        if inner.is_idle(Instant::now()) && !inner.removed {
            inner.removed = true;
            rooms.remove(&room.name);
        }
    }
}

/// Rebuilds the room list when rooms change, at most five times a second.
async fn publish_room_list(hub: Weak<Hub>, changed: Arc<Notify>) {
    loop {
        {
            let Some(hub) = hub.upgrade() else { return };
            let list = hub.live_rooms();
            hub.room_list.send_if_modified(|current| {
                let modified = **current != list;
                if modified {
                    *current = Arc::new(list);
                }
                modified
            });
        }
        changed.notified().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One connection's place in a room. Dropping it leaves the room, whatever ended the
/// connection.
pub struct Membership {
    hub: Arc<Hub>,
    room: Arc<Room>,
    id: PeerId,
    role: Role,
    /// Joined with a good ticket: its page's offer is its current one.
    has_offer: bool,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.leave(&self.room, self.id);
    }
}

impl Membership {
    pub fn id(&self) -> PeerId {
        self.id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether this viewer joined with the offer its page came with (see `Hub::page_offer`).
    pub fn has_offer(&self) -> bool {
        self.has_offer
    }

    /// Act on one message from this member; the `Err` goes back to it as an `error`.
    pub fn handle(&self, msg: ClientMessage) -> Result<(), Refusal> {
        match msg {
            ClientMessage::Join { .. } => Err(refuse(
                ErrorCode::AlreadyJoined,
                "this connection has already joined; open another to join again",
            )),
            ClientMessage::GoLive { key, reclaim } => self.go_live(key, reclaim),
            ClientMessage::OffAir => self.off_air(),
            ClientMessage::WantStream => self.want_stream(),
            ClientMessage::SpareOffer { id, sdp } => self.spare_offer(id, sdp),
            // Encoded here, before the room is locked.
            ClientMessage::Offer { to, sdp } => {
                self.offer(to, encode(&ServerMessage::Offer { from: self.id, sdp }))
            }
            ClientMessage::Answer { to, sdp } => {
                self.answer(to, encode(&ServerMessage::Answer { from: self.id, sdp }))
            }
            ClientMessage::Candidate { to, candidate } => self.relay(
                to,
                encode(&ServerMessage::Candidate {
                    from: self.id,
                    candidate,
                }),
            ),
            ClientMessage::Hangup { to } => {
                self.relay(to, encode(&ServerMessage::Hangup { from: self.id }))
            }
            ClientMessage::Audio { to, on } => {
                if self.role != Role::Viewer {
                    return Err(refuse(ErrorCode::NotAllowed, "only viewers ask for sound"));
                }
                self.relay(to, encode(&ServerMessage::Audio { from: self.id, on }))
            }
        }
    }

    /// Act on an offer, answer or candidate read by the fast path: the same rules as
    /// [`Membership::handle`], with the text built from the client's own.
    pub fn handle_relayed(&self, msg: &Relayed) -> Result<(), Refusal> {
        let text = msg.encode(self.id);
        match msg.kind {
            Kind::Offer => self.offer(msg.to, text),
            Kind::Answer => self.answer(msg.to, text),
            Kind::Candidate => self.relay(msg.to, text),
        }
    }

    fn require_broadcaster(&self, what: &str) -> Result<(), Refusal> {
        if self.role == Role::Broadcaster {
            Ok(())
        } else {
            Err(refuse(
                ErrorCode::NotAllowed,
                format!("only the broadcaster may {what}"),
            ))
        }
    }

    fn go_live(&self, key: Option<String>, reclaim: Option<String>) -> Result<(), Refusal> {
        self.require_broadcaster("go live")?;
        if let Some(expected) = self.hub.config.publish_key_for(self.room.name.as_str()) {
            if !super::publish_key::matches(expected, key.as_deref()) {
                return Err(refuse(
                    ErrorCode::WrongKey,
                    if key.is_some() {
                        "wrong publish key"
                    } else {
                        "this server needs a publish key to go live"
                    },
                ));
            }
        }
        let mut inner = self.room.lock();
        let now = Instant::now();
        match inner.on_air {
            Some(id) if id == self.id => {
                if let Some(token) = inner.reclaim_token.clone() {
                    inner.send(self.id, &ServerMessage::Live { reclaim: token });
                }
                return Ok(());
            }
            // The same page back on a new connection before the server saw the old one drop
            // (a half-open TCP connection): its token proves it, so it takes over.
            Some(old)
                if inner.reclaim_token.as_deref().is_some_and(|token| {
                    super::publish_key::matches(token, reclaim.as_deref())
                }) =>
            {
                inner.send(
                    old,
                    &ServerMessage::error(
                        ErrorCode::AlreadyLive,
                        "your broadcast continues on a newer connection",
                    ),
                );
            }
            Some(_) => {
                return Err(refuse(
                    ErrorCode::AlreadyLive,
                    "someone else is already live in this room; the room has one broadcaster",
                ))
            }
            None => {}
        }
        if let Some(reservation) = inner.reservation(now) {
            let theirs = reclaim.as_deref().unwrap_or_default();
            if !super::publish_key::matches(&reservation.token, Some(theirs)) {
                let wait = reservation.until.saturating_duration_since(now).as_secs() + 1;
                return Err(refuse(
                    ErrorCode::AlreadyLive,
                    format!(
                        "the broadcaster of this room lost its connection and may come back; \
                         try again in {wait} s"
                    ),
                ));
            }
        }
        let token = super::publish_key::new_token();
        inner.reserved = None;
        inner.forget_spares();
        inner.on_air = Some(self.id);
        inner.reclaim_token = Some(token.clone());
        inner.send(self.id, &ServerMessage::Live { reclaim: token });
        inner.send_to_role(
            Role::Viewer,
            &ServerMessage::OnAir {
                broadcaster: self.id,
            },
        );
        drop(inner);
        self.hub.rooms_changed.notify_one();
        Ok(())
    }

    fn off_air(&self) -> Result<(), Refusal> {
        self.require_broadcaster("go off air")?;
        let mut inner = self.room.lock();
        if inner.on_air != Some(self.id) {
            return Err(refuse(ErrorCode::OutOfOrder, "you are not on air"));
        }
        inner.on_air = None;
        inner.reclaim_token = None;
        inner.forget_spares();
        for member in inner.members.values_mut() {
            member.offered_by = None;
        }
        inner.send_to_role(
            Role::Viewer,
            &ServerMessage::OffAir {
                reason: OffAirReason::Stopped,
            },
        );
        drop(inner);
        self.hub.rooms_changed.notify_one();
        Ok(())
    }

    fn want_stream(&self) -> Result<(), Refusal> {
        if self.role != Role::Viewer {
            return Err(refuse(
                ErrorCode::NotAllowed,
                "only viewers ask for the stream",
            ));
        }
        let mut inner = self.room.lock();
        let Some(broadcaster) = inner.on_air else {
            return Err(refuse(
                ErrorCode::OutOfOrder,
                "nobody is on air in this room",
            ));
        };
        // The spare offer is ready: the viewer gets it now, without the broadcaster's turn.
        if let Some(spare) = inner.spare.take() {
            if let Some(viewer) = inner.members.get_mut(&self.id) {
                viewer.offered_by = Some(broadcaster);
            }
            inner.send(
                self.id,
                &ServerMessage::Offer {
                    from: broadcaster,
                    sdp: spare.sdp,
                },
            );
            inner.send(
                broadcaster,
                &ServerMessage::SpareTaken {
                    spare: spare.id,
                    by: self.id,
                },
            );
        } else {
            inner.send(broadcaster, &ServerMessage::WantStream { from: self.id });
        }
        Ok(())
    }

    /// The room, locked, if this member is the one on air: only it sends offers.
    fn lock_on_air(&self) -> Result<MutexGuard<'_, RoomInner>, Refusal> {
        let inner = self.room.lock();
        if inner.on_air != Some(self.id) {
            return Err(refuse(
                ErrorCode::NotAllowed,
                "go live before sending offers",
            ));
        }
        Ok(inner)
    }

    /// The live broadcaster's next spare offer; it replaces one not given out yet.
    fn spare_offer(&self, id: u64, sdp: String) -> Result<(), Refusal> {
        self.require_broadcaster("offer a spare connection")?;
        let mut inner = self.lock_on_air()?;
        inner.spare = Some(Spare { id, sdp });
        Ok(())
    }

    fn offer(&self, to: PeerId, text: Queued) -> Result<(), Refusal> {
        self.require_broadcaster("send offers")?;
        let mut inner = self.lock_on_air()?;
        let viewer = inner
            .members
            .get_mut(&to)
            .filter(|m| m.role == Role::Viewer)
            .ok_or_else(|| no_such_peer(to))?;
        viewer.offered_by = Some(self.id);
        viewer.outbox.push(text);
        Ok(())
    }

    fn answer(&self, to: PeerId, text: Queued) -> Result<(), Refusal> {
        if self.role != Role::Viewer {
            return Err(refuse(ErrorCode::NotAllowed, "only viewers send answers"));
        }
        let inner = self.room.lock();
        let offered_by = inner.members.get(&self.id).and_then(|m| m.offered_by);
        if inner.on_air != Some(to) {
            return Err(no_such_peer(to));
        }
        if offered_by != Some(to) {
            return Err(refuse(
                ErrorCode::OutOfOrder,
                format!("peer {to} has sent you no offer to answer"),
            ));
        }
        inner.push(to, text);
        Ok(())
    }

    /// Candidates and hang-ups: viewer → live broadcaster, live broadcaster → its viewers.
    fn relay(&self, to: PeerId, text: Queued) -> Result<(), Refusal> {
        let inner = self.room.lock();
        let allowed = match self.role {
            Role::Viewer => inner.on_air == Some(to),
            Role::Broadcaster => {
                inner.on_air == Some(self.id)
                    && inner
                        .members
                        .get(&to)
                        .is_some_and(|m| m.role == Role::Viewer)
            }
        };
        if !allowed {
            return Err(no_such_peer(to));
        }
        inner.push(to, text);
        Ok(())
    }
}

fn no_such_peer(to: PeerId) -> Refusal {
    refuse(
        ErrorCode::NoSuchPeer,
        format!("there is no peer {to} in your room that you may reach"),
    )
}

/// One counted connection from an IP address; dropping it frees the slot.
pub struct IpGuard {
    hub: Arc<Hub>,
    ip: IpAddr,
}

impl Drop for IpGuard {
    fn drop(&mut self) {
        let mut counts = lock(&self.hub.connections_per_ip);
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The hub as a state machine: random joins, leaves and messages across two rooms,
    //! checked after every step against the routing rules.

    use std::collections::HashSet;

    use clap::Parser;
    use proptest::prelude::*;

    use super::*;
    use crate::{protocol::IceCandidate, server::outbox::Queue};

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
            (0..6usize, 0..10u8, 0..7usize).prop_map(|(conn, what, to)| Step::Send {
                conn,
                what,
                to
            }),
            (0..6usize, 0..10u8, 0..7usize).prop_map(|(conn, what, to)| Step::Send {
                conn,
                what,
                to
            }),
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
        let hub = Hub::new(Arc::new(config));
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
            .filter(|(_, room)| room.lock().reservation(Instant::now()).is_none())
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
}
