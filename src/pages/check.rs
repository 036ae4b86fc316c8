//! The pre-flight check, `/check`: before going live, see that the camera, the microphone and
//! the path to the server work, each step green or red with what to do about it.

use leptos::{html::Video, prelude::*};
use leptos_meta::Title;

use crate::ui::check::{CheckUi, Step};

#[component]
pub fn CheckPage() -> impl IntoView {
    let ui = CheckUi::default();
    let preview = NodeRef::<Video>::new();
    let looped = NodeRef::<Video>::new();

    #[cfg(feature = "hydrate")]
    {
        let engine = StoredValue::new_local(None::<std::rc::Rc<crate::client::check::Check>>);
        Effect::new(move |_| {
            if engine.with_value(Option::is_some) {
                return;
            }
            if let (Some(preview), Some(looped)) = (preview.get(), looped.get()) {
                engine.set_value(Some(crate::client::check::Check::start(
                    ui, preview, looped,
                )));
            }
        });
    }

    let steps = Step::ALL.map(|step| {
        let signal = ui.step(step);
        view! {
            <li class="check-step" data-testid="check-step" data-step=step.id()
                data-state=move || signal.get().0.as_str()>
                <span class="check-mark" aria-hidden="true">{move || signal.get().0.mark()}</span>
                <div>
                    <h2>{step.title()}</h2>
                    <p class="check-detail">{move || signal.get().1}</p>
                </div>
            </li>
        }
    });

    view! {
        <Title text="Check your setup"/>
        <section class="room-header">
            <div>
                <p class="eyebrow">"Before you go live"</p>
                <h1 class="room-title">"Check your setup"</h1>
            </div>
            <div class="badges">
                <span class="check-result" data-testid="check-result" data-state=move || ui.verdict()>
                    {move || match ui.verdict() {
                        "ok" => "All good",
                        "fail" => "Something needs fixing",
                        _ => "Checking…",
                    }}
                </span>
            </div>
        </section>
        <div class="room-body">
            <div class="room-main">
                <ol class="check-steps">{steps.into_iter().collect_view()}</ol>
                <details class="panel-block check-details" data-testid="check-details">
                    <summary>"Connection details (for whoever diagnoses)"</summary>
                    <h3>"ICE candidates"</h3>
                    <ul class="check-candidates">
                        <For each=move || ui.candidates.get() key=|line| line.clone() let:line>
                            <li><code>{line}</code></li>
                        </For>
                    </ul>
                    <h3>"Offer (SDP)"</h3>
                    <pre class="check-sdp">{move || ui.sdp.get()}</pre>
                </details>
                <p class="hint">
                    <a href="/check" rel="external">"Run the check again"</a>
                </p>
            </div>
            <aside class="room-side">
                <div class="panel-block">
                    <h2>"Your camera"</h2>
                    <video node_ref=preview class="check-video" data-testid="check-preview"
                        autoplay muted playsinline></video>
                    <div class="check-level" aria-label="Microphone level">
                        <span data-testid="check-level" data-level=move || ui.level.get()
                            style:width=move || format!("{}%", ui.level.get())></span>
                    </div>
                </div>
                <div class="panel-block">
                    <h2>"Back from the server" <span class="hint">"(a few seconds)"</span></h2>
                    <video node_ref=looped class="check-video" data-testid="check-loop"
                        autoplay muted playsinline></video>
                </div>
                <div class="panel-block">
                    <h2>"Devices"</h2>
                    <ul class="check-devices" data-testid="check-devices">
                        <For each=move || ui.devices.get() key=|line| line.clone() let:line>
                            <li>{line}</li>
                        </For>
                    </ul>
                </div>
            </aside>
        </div>
    }
    .into_any()
}
