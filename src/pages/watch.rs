//! The viewer's page, `/watch/<room>`.

use leptos::{html::Video, prelude::*};
use leptos_meta::Title;

use super::{chat::ChatPanel, layers::QualityBadge};
use crate::{
    protocol::{ClientMessage, RoomName},
    ui::watch::{WatchState, WatchUi, STAGE_ID},
};

/// "0.18 s behind live".
fn behind_live(ms: u32) -> String {
    let centis = (ms + 5) / 10;
    format!("{}.{:02} s behind live", centis / 100, centis % 100)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_delay_reads_in_seconds_to_the_hundredth() {
        assert_eq!(super::behind_live(184), "0.18 s behind live");
        assert_eq!(super::behind_live(996), "1.00 s behind live");
        assert_eq!(super::behind_live(2_340), "2.34 s behind live");
    }
}

#[component]
pub fn WatchPage(room: RoomName) -> impl IntoView {
    let ui = WatchUi::default();
    let muted = RwSignal::new(true);
    let video = NodeRef::<Video>::new();
    // A private room's link carries its key: /watch/ROOM?key=…
    #[cfg_attr(
        not(any(feature = "ssr", feature = "hydrate")),
        allow(unused_variables)
    )]
    let key = crate::protocol::paths::room_key(
        leptos_router::hooks::use_query_map()
            .read_untracked()
            .get(crate::protocol::paths::ROOM_KEY_PARAM),
    );
    // Served with the page: the broadcaster's spare offer, for the engine to answer while its
    // socket opens (see `PageOffer`). The engine takes these attributes off before hydrating.
    #[cfg(feature = "ssr")]
    let page_offer = crate::directory::current()
        .and_then(|directory| directory.0.page_offer(&room, key.as_deref()))
        .and_then(|offer| serde_json::to_string(&offer).ok());
    #[cfg(not(feature = "ssr"))]
    let page_offer = None::<String>;

    #[cfg(feature = "hydrate")]
    let engine = {
        let engine = StoredValue::new_local(None::<std::rc::Rc<crate::client::Viewer>>);
        let room = room.clone();
        // Tracks the element: after in-app navigation the effect may run before it exists.
        Effect::new(move |_| {
            use crate::client::viewer::{take_early, Viewer};
            let Some(element) = video.get() else { return };
            if engine.with_value(Option::is_some) {
                return;
            }
            // The engine that started before hydration, or (after in-app navigation) a new one.
            let viewer = match take_early(&room).filter(|early| early.plays_on(&element)) {
                Some(early) => {
                    early.adopt_ui(ui);
                    early
                }
                None => Viewer::start(&room, key.as_deref(), None, ui, element),
            };
            engine.set_value(Some(viewer));
        });
        engine
    };
    let unmute = move |_| {
        muted.set(false);
        #[cfg(feature = "hydrate")]
        engine.with_value(|engine| {
            if let Some(engine) = engine {
                engine.unmute();
            }
        });
    };

    let send = Callback::new(move |msg: ClientMessage| {
        #[cfg(feature = "hydrate")]
        engine.with_value(|engine| {
            if let Some(engine) = engine {
                engine.chat(&msg);
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = msg;
    });

    let choose = Callback::new(move |level: Option<crate::protocol::Level>| {
        #[cfg(feature = "hydrate")]
        engine.with_value(|engine| {
            if let Some(engine) = engine {
                engine.pin_quality(level);
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = level;
    });
    let live = Signal::derive(move || ui.state.get() == WatchState::Live);

    let title = format!("Watch {room}");
    view! {
        <Title text=title/>
        <section class="room-header">
            <div>
                <p class="eyebrow">"Watching"</p>
                <h1 class="room-title">{room.to_string()}</h1>
            </div>
            <div class="badges">
                <QualityBadge quality=ui.quality pinned=ui.pinned video_height=ui.video_height
                    live=live choose=choose/>
                <span class="delay-pill" data-testid="delay" data-ms=move || ui.delay_ms.get()
                    title="From the broadcaster's camera to your screen"
                    hidden=move || ui.delay_ms.get().is_none() || ui.state.get() != WatchState::Live>
                    {move || ui.delay_ms.get().map(behind_live)}
                </span>
                <span class="live-badge" class:off=move || ui.state.get() != WatchState::Live>
                    {move || if ui.state.get() == WatchState::Live { "LIVE" } else { "OFF AIR" }}
                </span>
            </div>
        </section>
        <div class="room-body">
        <div class="room-main">
        <div class="stage" id=STAGE_ID>
            <video
                node_ref=video
                class="video"
                data-testid="remote-video"
                data-page-offer=page_offer
                autoplay
                muted
                playsinline
            ></video>
            <div
                class="stage-overlay"
                data-testid="stage-overlay"
                hidden=move || ui.state.get() == WatchState::Live
            >
                <p>{move || ui.message.get()}</p>
            </div>
            <button
                class="button unmute"
                data-testid="unmute"
                hidden=move || !muted.get() || ui.state.get() != WatchState::Live
                on:click=unmute
            >
                <svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true">
                    <path fill="currentColor" d="M3 9v6h4l5 5V4L7 9H3zm13.59 3L19 9.59 17.59 8.17 15.17 10.6 12.76 8.17 11.34 9.59 13.76 12l-2.42 2.41 1.42 1.42 2.41-2.42 2.42 2.42L19 14.41z"/>
                </svg>
                "Tap to unmute"
            </button>
        </div>
        <p
            class="status"
            role="status"
            data-testid="status"
            data-state=move || ui.state.get().as_str()
        >
            {move || ui.message.get()}
        </p>
        <form class="key-row" method="get" data-testid="key-form" hidden=move || !ui.needs_key.get()>
            <label for="watch-key">"Room key"</label>
            <input id="watch-key" name="key" type="password" data-testid="watch-key" autocomplete="off"/>
            <button class="button primary" type="submit">"Watch"</button>
        </form>
        </div>
        <aside class="room-side">
            <ChatPanel chat=ui.chat moderator=Signal::stored(false) send=send/>
        </aside>
        </div>
    }
}
