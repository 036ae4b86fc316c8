//! The room list: server functions for the data, a live feed for updates, and the home page.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    protocol::{RoomState, RoomSummary},
    room_name::RoomName,
};

/// The rooms that are live now, by name.
#[server]
pub async fn list_rooms() -> Result<Vec<RoomSummary>, ServerFnError> {
    Ok(ssr::hub()?.live_rooms())
}

/// One room's state: live or not, viewers, cap.
#[server]
pub async fn fetch_room_state(room: String) -> Result<RoomState, ServerFnError> {
    let room = RoomName::parse(&room)
        .map_err(|err| ServerFnError::new(format!("not a valid room name: {err}")))?;
    Ok(ssr::hub()?.room_state(&room))
}

#[cfg(feature = "ssr")]
mod ssr {
    use std::sync::Arc;

    use leptos::prelude::*;

    use crate::server::Hub;

    pub fn hub() -> Result<Arc<Hub>, ServerFnError> {
        use_context::<Arc<Hub>>().ok_or_else(|| ServerFnError::new("the room hub is not running"))
    }
}

/// The room list as the page's resource carries it from the server to the browser: JSON
/// written by serde on the server, read by the browser's `JSON.parse` (no serde reader in the
/// wasm, see `crate::decode`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomList(pub Vec<RoomSummary>);

impl std::fmt::Display for RoomList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = serde_json::to_string(&self.0).map_err(|_| std::fmt::Error)?;
        f.write_str(&json)
    }
}

impl std::str::FromStr for RoomList {
    type Err = crate::decode::DecodeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        #[cfg(feature = "hydrate")]
        let rooms = crate::decode::parse(text, crate::decode::room_list)?;
        #[cfg(not(feature = "hydrate"))]
        let rooms = serde_json::from_str(text)
            .map_err(|err| crate::decode::DecodeError::new(err.to_string()))?;
        Ok(Self(rooms))
    }
}

/// Where the page gets room list updates from (server-sent events).
pub const ROOM_EVENTS_PATH: &str = "/api/rooms/events";

#[component]
pub fn HomePage() -> impl IntoView {
    // Rendered on the server through the server function; in the browser the value arrives with
    // the page and updates come from the live feed, so the wasm needs no server-function client.
    // A string codec: the browser reads the list with its own JSON.parse (see `RoomList`).
    let initial = Resource::new_str(
        || (),
        |_| async {
            #[cfg(feature = "ssr")]
            let rooms = RoomList(list_rooms().await.unwrap_or_default());
            #[cfg(not(feature = "ssr"))]
            let rooms = RoomList::default();
            rooms
        },
    );
    // Updates pushed by the server after hydration; until the first one, the resource rules.
    let pushed = RwSignal::new(None::<Vec<RoomSummary>>);

    #[cfg(feature = "hydrate")]
    {
        let feed = StoredValue::new_local(None);
        Effect::new(move |_| {
            feed.set_value(feed::RoomFeed::open(pushed));
        });
    }

    let rooms = move || {
        pushed
            .get()
            .or_else(|| initial.get().map(|list| list.0))
            .unwrap_or_default()
    };

    view! {
        <Title text="Live rooms"/>
        <section class="hero">
            <h1>"Live now"</h1>
            <p class="lead">"Pick a room to watch, or go on air in one of your own."</p>
        </section>
        <div class="home-grid">
            <section class="card">
                <h2>"Live rooms"</h2>
                <Suspense fallback=|| view! { <p class="muted">"Loading rooms…"</p> }>
                    {move || {
                        let rooms = rooms();
                        if rooms.is_empty() {
                            Either::Left(view! {
                                <p class="muted" data-testid="no-rooms">
                                    "Nobody is live right now. Start a broadcast and it shows up here."
                                </p>
                            })
                        } else {
                            Either::Right(view! {
                                <ul class="room-list" data-testid="room-list">
                                    {rooms
                                        .into_iter()
                                        .map(|room| view! { <RoomItem room/> })
                                        .collect_view()}
                                </ul>
                            })
                        }
                    }}
                </Suspense>
            </section>
            <StartForm/>
        </div>
    }
}

#[component]
fn RoomItem(room: RoomSummary) -> impl IntoView {
    let href = format!("/watch/{}", room.name);
    let viewers = room.viewers;
    view! {
        <li class="room" data-testid="room" data-room=room.name.clone()>
            <span class="live-badge">"LIVE"</span>
            <a class="room-name" href=href.clone()>{room.name.clone()}</a>
            <span class="room-viewers">
                <span data-testid="room-viewers">{viewers}</span>
                {if viewers == 1 { " viewer" } else { " viewers" }}
            </span>
            <a class="button small" href=href>"Watch"</a>
        </li>
    }
}

/// Room name box with live validation; submitting opens the talk page.
#[component]
fn StartForm() -> impl IntoView {
    let name = RwSignal::new(String::new());
    let problem = move || {
        let name = name.get();
        if name.is_empty() {
            None
        } else {
            RoomName::parse(&name).err().map(|err| err.to_string())
        }
    };
    // Before hydration the form does a plain GET /talk?room=…, which the server redirects.
    let navigate = leptos_router::hooks::use_navigate();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let room = name.get_untracked();
        if RoomName::parse(&room).is_ok() {
            navigate(&format!("/talk/{room}"), Default::default());
        }
    };
    view! {
        <form class="card start-form" method="get" action="/talk" on:submit=on_submit data-testid="start-form">
            <h2>"Go on air"</h2>
            <label for="room-input">"Room name"</label>
            <input
                id="room-input"
                name="room"
                data-testid="room-input"
                placeholder="all-hands"
                autocomplete="off"
                maxlength="64"
                prop:value=move || name.get()
                on:input=move |ev| name.set(event_target_value(&ev))
            />
            <p class="field-error" data-testid="room-input-error" hidden=move || problem().is_none()>
                {problem}
            </p>
            <p class="hint">
                "Your broadcast will be at "
                <code data-testid="room-preview">
                    {move || {
                        let name = name.get();
                        format!("/watch/{}", if name.is_empty() { "…" } else { &name })
                    }}
                </code>
            </p>
            <button
                type="submit"
                class="button primary"
                data-testid="start-room"
                disabled=move || RoomName::parse(&name.get()).is_err()
            >
                "Open broadcast page"
            </button>
        </form>
    }
}

#[cfg(feature = "hydrate")]
mod feed {
    use leptos::prelude::*;
    use web_sys::{EventSource, MessageEvent};

    use crate::{client::listener::EventListener, protocol::RoomSummary};

    /// The open room feed; dropping it closes the stream.
    pub struct RoomFeed {
        source: EventSource,
        _rooms: EventListener,
    }

    impl RoomFeed {
        pub fn open(into: RwSignal<Option<Vec<RoomSummary>>>) -> Option<Self> {
            let source = EventSource::new(super::ROOM_EVENTS_PATH).ok()?;
            let rooms = EventListener::new(&source, "rooms", move |event: MessageEvent| {
                if let Some(rooms) = event
                    .data()
                    .as_string()
                    .and_then(|text| crate::decode::parse(&text, crate::decode::room_list).ok())
                {
                    into.set(Some(rooms));
                }
            });
            Some(Self {
                source,
                _rooms: rooms,
            })
        }
    }

    impl Drop for RoomFeed {
        fn drop(&mut self) {
            self.source.close();
        }
    }
}
