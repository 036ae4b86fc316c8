//! The broadcaster's page, `/talk/<room>`.

use leptos::{html::Video, prelude::*};
use leptos_meta::Title;

use super::{audience::AudienceList, chat::ChatPanel, layers::LayerList, watch_link::WatchLink};
use crate::{
    protocol::{ClientMessage, MediaMode, RoomName},
    ui::talk::{Source, TalkUi},
};

#[derive(Clone, Copy)]
enum Action {
    StartCamera,
    ShareScreen,
    GoLive,
    Stop,
    ToggleRecording,
}

#[component]
pub fn TalkPage(room: RoomName) -> impl IntoView {
    let ui = TalkUi::default();
    let preview = NodeRef::<Video>::new();

    #[cfg(feature = "hydrate")]
    let engine = {
        let engine = StoredValue::new_local(None::<std::rc::Rc<crate::client::Broadcaster>>);
        let room = room.clone();
        Effect::new(move |_| {
            if let Some(video) = preview.get_untracked() {
                engine.set_value(Some(crate::client::Broadcaster::start(&room, ui, video)));
            }
        });
        engine
    };
    let act = move |action: Action| {
        #[cfg(feature = "hydrate")]
        engine.with_value(|engine| {
            if let Some(engine) = engine {
                match action {
                    Action::StartCamera => engine.start_camera(),
                    Action::ShareScreen => engine.share_screen(),
                    Action::GoLive => engine.go_live(),
                    Action::Stop => engine.stop(),
                    Action::ToggleRecording => engine.toggle_recording(),
                }
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = action;
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

    let room_name = StoredValue::new(room.to_string());
    let recording_url = move |file: &str| {
        room_name.with_value(|room| {
            crate::protocol::paths::recordings(room, Some(file), &ui.key.get_untracked())
        })
    };
    let watch_path = format!("/watch/{room}");
    let title = format!("Broadcast {room}");
    view! {
        <Title text=title/>
        <section class="room-header">
            <div>
                <p class="eyebrow">"Broadcasting to"</p>
                <h1 class="room-title">{room.to_string()}</h1>
            </div>
            <div class="badges">
                <span class="live-badge" class:off=move || !ui.live.get() data-testid="live-badge">
                    {move || if ui.live.get() { "LIVE" } else { "OFF AIR" }}
                </span>
                <span class="viewers-pill">
                    <span data-testid="viewer-count">{move || ui.viewers.get()}</span>
                    {move || if ui.viewers.get() == 1 { " viewer" } else { " viewers" }}
                </span>
            </div>
        </section>
        <div class="room-body">
        <div class="room-main">
        <div class="stage">
            <video
                node_ref=preview
                class="video"
                data-testid="local-video"
                autoplay
                muted
                playsinline
            ></video>
            <p class="stage-empty" hidden=move || ui.source.get().is_some()>"Camera is off"</p>
        </div>
        <div class="controls">
            <button class="button" data-testid="start-camera" on:click=move |_| act(Action::StartCamera)
                class:active=move || ui.source.get() == Some(Source::Camera)>
                "Start camera"
            </button>
            <button class="button" data-testid="share-screen" on:click=move |_| act(Action::ShareScreen)
                class:active=move || ui.source.get() == Some(Source::Screen)>
                "Share screen"
            </button>
            <button class="button primary" data-testid="go-live" on:click=move |_| act(Action::GoLive)
                disabled=move || ui.live.get()>
                "Go live"
            </button>
            <button class="button danger" data-testid="stop" on:click=move |_| act(Action::Stop)
                disabled=move || !ui.live.get() && ui.source.get().is_none()>
                "Stop"
            </button>
        </div>
        <div class="key-row" hidden=move || !ui.needs_key.get()>
            <label for="publish-key">"Publish key"</label>
            <input id="publish-key" type="password" data-testid="publish-key" autocomplete="off"
                prop:value=move || ui.key.get() on:input=move |ev| ui.key.set(event_target_value(&ev))/>
        </div>
        <div class="recording" hidden=move || ui.recording.get().is_none()>
            <button class="button" data-testid="record" on:click=move |_| act(Action::ToggleRecording)
                class:active=move || ui.recording.get() == Some(true)
                data-state=move || if ui.recording.get() == Some(true) { "on" } else { "off" }>
                {move || if ui.recording.get() == Some(true) { "● Recording" } else { "Record" }}
            </button>
            <span class="hint">
                {move || if ui.recording.get() == Some(true) {
                    "Each broadcast of this room is saved on the server."
                } else {
                    "Broadcasts of this room are not saved."
                }}
            </span>
            <ul class="recordings" data-testid="recordings" hidden=move || ui.recordings.get().is_empty()>
                <For each=move || ui.recordings.get() key=|file| file.clone() let:file>
                    <li>
                        <a data-testid="recording" href=recording_url(&file) download=file.clone()>
                            {file.clone()}
                        </a>
                    </li>
                </For>
            </ul>
        </div>
        <p class="status" data-testid="talk-status" role="status">{move || ui.status.get()}</p>
        <p class="error" data-testid="talk-error" role="alert" hidden=move || ui.error.get().is_none()>
            {move || ui.error.get()}
        </p>
        <p class="hint" hidden=move || ui.connected.get()>"Connecting to the server…"</p>
        <p class="hint" data-testid="media-mode"
            data-state=move || match ui.media.get() {
                Some(MediaMode::Sfu) => "sfu",
                Some(MediaMode::P2p) => "p2p",
                None => "unknown",
            }
            hidden=move || ui.media.get().is_none()>
            {move || ui.media_line()}
        </p>
        <p class="hint">
            "Not sure your camera, microphone or network will do? "
            <a href=crate::protocol::paths::CHECK_PAGE data-testid="check-link" target="_blank">"Check your setup"</a>
            " before you go live."
        </p>
        <LayerList layers=ui.layers live=ui.live/>
        <WatchLink url=ui.watch_url fallback=watch_path/>
        </div>
        <aside class="room-side">
            <AudienceList audience=ui.audience quality=ui.quality live=ui.live send=send/>
            <ChatPanel chat=ui.chat moderator=ui.live send=send/>
        </aside>
        </div>
    }
}
