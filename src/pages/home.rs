//! The home page: the live rooms (a server function for the first list, a live feed for
//! updates) and the form that opens a talk page.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::protocol::{reader::ReadError, RoomName, RoomSummary};

/// The rooms that are live now, by name.
#[server]
pub async fn list_rooms() -> Result<Vec<RoomSummary>, ServerFnError> {
    let directory = crate::directory::current()
        .ok_or_else(|| ServerFnError::new("the room directory is not running"))?;
    Ok(directory.0.live_rooms())
}

/// The room list as the page's resource carries it from the server to the browser: JSON
/// written by serde on the server, read by the browser's `JSON.parse` (no serde reader in the
/// wasm, see `protocol::reader`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomList(pub Vec<RoomSummary>);

impl std::fmt::Display for RoomList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = serde_json::to_string(&self.0).map_err(|_| std::fmt::Error)?;
        f.write_str(&json)
    }
}

impl std::str::FromStr for RoomList {
    type Err = ReadError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        #[cfg(feature = "hydrate")]
        let rooms = crate::client::json::parse(text, crate::protocol::reader::room_list)?;
        #[cfg(not(feature = "hydrate"))]
        let rooms = serde_json::from_str(text).map_err(|err| ReadError::new(err.to_string()))?;
        Ok(Self(rooms))
    }
}

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
            feed.set_value(crate::client::room_feed::RoomFeed::open(pushed));
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
