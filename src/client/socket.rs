//! The signaling WebSocket of one page: typed messages, reconnect with backoff.

use std::{
    cell::RefCell,
    rc::{Rc, Weak},
};

use web_sys::{CloseEvent, MessageEvent, WebSocket};

use super::{json, listener::EventListener, timer::Timeout};
use crate::protocol::{close_code, paths, reader, ClientMessage, RoomName, ServerMessage};

const FIRST_RETRY_MS: u32 = 500;
const MAX_RETRY_MS: u32 = 8_000;

/// What the page hears from its socket.
pub enum SocketEvent {
    /// Connected (again): send `join` now.
    Open,
    Message(ServerMessage),
    /// Lost; `retrying` says whether a reconnect is scheduled.
    Closed {
        retrying: bool,
    },
}

type Handler = Rc<dyn Fn(SocketEvent)>;

struct Inner {
    url: String,
    handler: Handler,
    socket: Option<WebSocket>,
    listeners: Vec<EventListener>,
    retry: Option<Timeout>,
    failures: u32,
    stopped: bool,
}

/// Dropping it closes the socket and cancels any reconnect.
pub struct Signaling {
    inner: Rc<RefCell<Inner>>,
}

/// `ws://` or `wss://` URL of `/ws/<room>` on the page's own host, with the room key if any.
fn socket_url(room: &RoomName, key: Option<&str>) -> String {
    let location = super::window().location();
    let secure = location.protocol().map(|p| p == "https:").unwrap_or(false);
    let host = location.host().unwrap_or_default();
    let scheme = if secure { "wss" } else { "ws" };
    let mut url = format!("{scheme}://{host}{}{}", paths::SOCKET_PREFIX, room.as_str());
    if let Some(key) = key {
        let key = String::from(js_sys::encode_uri_component(key));
        url.extend(["?", paths::ROOM_KEY_PARAM, "=", &key]);
    }
    url
}

impl Signaling {
    pub fn connect(
        room: &RoomName,
        key: Option<&str>,
        handler: impl Fn(SocketEvent) + 'static,
    ) -> Self {
        let inner = Rc::new(RefCell::new(Inner {
            url: socket_url(room, key),
            handler: Rc::new(handler),
            socket: None,
            listeners: Vec::new(),
            retry: None,
            failures: 0,
            stopped: false,
        }));
        open(&inner);
        Self { inner }
    }

    /// Send if connected; while reconnecting the message is dropped (the page re-sends its
    /// state after `Open`).
    pub fn send(&self, msg: &ClientMessage) {
        let inner = self.inner.borrow();
        if let (Some(socket), Ok(text)) = (&inner.socket, serde_json::to_string(msg)) {
            if socket.ready_state() == WebSocket::OPEN {
                let _ = socket.send_with_str(&text);
            }
        }
    }
}

/// The socket a page's engine owns. It is filled right after the engine exists, so the socket's
/// events reach the engine through a weak handle (no reference cycle).
#[derive(Default)]
pub struct SocketSlot(RefCell<Option<Signaling>>);

impl SocketSlot {
    pub fn connect<T: 'static>(
        &self,
        room: &RoomName,
        key: Option<&str>,
        owner: &Rc<T>,
        on_event: fn(&Rc<T>, SocketEvent),
    ) {
        let owner = Rc::downgrade(owner);
        let socket = Signaling::connect(room, key, move |event| {
            if let Some(owner) = owner.upgrade() {
                on_event(&owner, event);
            }
        });
        *self.0.borrow_mut() = Some(socket);
    }

    pub fn send(&self, msg: &ClientMessage) {
        if let Some(socket) = self.0.borrow().as_ref() {
            socket.send(msg);
        }
    }
}

impl Drop for Signaling {
    fn drop(&mut self) {
        let mut inner = self.inner.borrow_mut();
        inner.stopped = true;
        inner.retry = None;
        inner.listeners.clear();
        if let Some(socket) = inner.socket.take() {
            let _ = socket.close();
        }
    }
}

fn open(cell: &Rc<RefCell<Inner>>) {
    let url = cell.borrow().url.clone();
    let socket = match WebSocket::new(&url) {
        Ok(socket) => socket,
        Err(_) => {
            schedule_retry(cell);
            return;
        }
    };
    let weak = Rc::downgrade(cell);
    let on_open = EventListener::new(&socket, "open", {
        let weak = weak.clone();
        move |_: web_sys::Event| {
            if let Some(cell) = weak.upgrade() {
                cell.borrow_mut().failures = 0;
                emit(&cell, SocketEvent::Open);
            }
        }
    });
    let on_message = EventListener::new(&socket, "message", {
        let weak = weak.clone();
        move |event: MessageEvent| {
            let Some(cell) = weak.upgrade() else { return };
            let Some(text) = event.data().as_string() else {
                return;
            };
            match json::parse(&text, reader::server_message) {
                Ok(msg) => emit(&cell, SocketEvent::Message(msg)),
                Err(err) => leptos::logging::warn!("onair: ignoring a server message: {err}"),
            }
        }
    });
    let on_close = EventListener::new(&socket, "close", move |event: CloseEvent| {
        if let Some(cell) = weak.upgrade() {
            closed(&cell, event.code());
        }
    });
    let mut inner = cell.borrow_mut();
    inner.socket = Some(socket);
    inner.listeners = vec![on_open, on_message, on_close];
}

/// Call the page's handler without holding the borrow, so it may call `send`.
fn emit(cell: &Rc<RefCell<Inner>>, event: SocketEvent) {
    let handler = cell.borrow().handler.clone();
    handler(event);
}

fn closed(cell: &Rc<RefCell<Inner>>, code: u16) {
    {
        let mut inner = cell.borrow_mut();
        inner.listeners.clear();
        inner.socket = None;
    }
    let retrying = !close_code::is_final(code) && !cell.borrow().stopped;
    if retrying {
        schedule_retry(cell);
    }
    emit(cell, SocketEvent::Closed { retrying });
}

fn schedule_retry(cell: &Rc<RefCell<Inner>>) {
    let weak: Weak<RefCell<Inner>> = Rc::downgrade(cell);
    let mut inner = cell.borrow_mut();
    if inner.stopped {
        return;
    }
    // 0.5 s, 1 s, 2 s, … up to 8 s, with jitter so a restarted server is not hit all at once.
    let base = FIRST_RETRY_MS
        .saturating_mul(1 << inner.failures.min(5))
        .min(MAX_RETRY_MS);
    let delay = base / 2 + (js_sys::Math::random() * f64::from(base / 2)) as u32;
    inner.failures += 1;
    inner.retry = Some(Timeout::new(delay, move || {
        if let Some(cell) = weak.upgrade() {
            cell.borrow_mut().retry = None;
            open(&cell);
        }
    }));
}
