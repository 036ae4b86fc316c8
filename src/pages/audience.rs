//! The talk page's audience list: who is watching, since when, and (on air) a Mute for each
//! viewer's chat.

use leptos::prelude::*;

use crate::{
    protocol::{AudienceMember, ClientMessage},
    ui::chat::clock,
};

#[component]
pub fn AudienceList(
    audience: RwSignal<Vec<AudienceMember>>,
    /// On air: it may mute viewers.
    live: RwSignal<bool>,
    send: Callback<ClientMessage>,
) -> impl IntoView {
    view! {
        <section class="audience panel-block" aria-label="Audience">
            <h2>"Watching " <span class="count">{move || audience.with(Vec::len)}</span></h2>
            <p class="hint" hidden=move || !audience.with(Vec::is_empty)>
                "Nobody yet. Share the watch link."
            </p>
            <ul class="audience-list" data-testid="audience">
                <For each=move || audience.get() key=|viewer| (viewer.id, viewer.name.clone(), viewer.muted)
                    let:viewer>
                    <li data-testid="audience-viewer" data-id=viewer.id data-name=viewer.name.clone()
                        data-muted=viewer.muted.to_string()>
                        <span class="audience-name">{viewer.name.clone()}</span>
                        <span class="hint">"since " {clock(viewer.since)}</span>
                        <button class="link-button" data-testid="audience-mute" type="button"
                            hidden=move || !live.get()
                            on:click=move |_| send.run(ClientMessage::MuteChat {
                                member: viewer.id,
                                muted: !viewer.muted,
                            })>
                            {if viewer.muted { "Unmute" } else { "Mute" }}
                        </button>
                    </li>
                </For>
            </ul>
        </section>
    }
    .into_any()
}
