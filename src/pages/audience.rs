//! The talk page's audience list: who is watching, since when, how well their connection
//! carries the broadcast, and (on air) a Mute for each viewer's chat.

use std::collections::HashMap;

use leptos::prelude::*;

use crate::{
    protocol::{AudienceMember, ClientMessage, PeerId, ViewerQuality},
    ui::chat::clock,
};

/// "12 ms · 0.3 % lost · 1.4 Mbit/s", as far as the figures are known.
fn describe(quality: &ViewerQuality) -> String {
    let mut parts = Vec::new();
    if let Some(rtt) = quality.rtt_ms {
        parts.push(format!("{rtt} ms"));
    }
    if let Some(loss) = quality.loss_permille {
        parts.push(format!("{}.{} % lost", loss / 10, loss % 10));
    }
    if let Some(kbps) = quality.kbps {
        parts.push(if kbps >= 1000 {
            format!("{}.{} Mbit/s", kbps / 1000, (kbps % 1000) / 100)
        } else {
            format!("{kbps} kbit/s")
        });
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewers_figures_read_as_a_line() {
        let quality = ViewerQuality {
            id: 1,
            rtt_ms: Some(12),
            loss_permille: Some(3),
            kbps: Some(1450),
        };
        assert_eq!(describe(&quality), "12 ms · 0.3 % lost · 1.4 Mbit/s");
        let early = ViewerQuality {
            rtt_ms: None,
            loss_permille: None,
            kbps: Some(800),
            ..quality
        };
        assert_eq!(describe(&early), "800 kbit/s");
    }
}

#[component]
pub fn AudienceList(
    audience: RwSignal<Vec<AudienceMember>>,
    quality: RwSignal<HashMap<PeerId, ViewerQuality>>,
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
                        {move || quality.with(|all| all.get(&viewer.id).cloned()).map(|q| view! {
                            <span class="audience-quality" data-testid="audience-quality"
                                data-rtt-ms=q.rtt_ms data-loss-permille=q.loss_permille data-kbps=q.kbps>
                                {describe(&q)}
                            </span>
                        })}
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
