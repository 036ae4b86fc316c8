//! The talk page's invitation: this room's watch link at an address the audience can reach,
//! a Copy button, and a QR code for phones.

use leptos::prelude::*;

use crate::protocol::paths;

#[component]
pub fn WatchLink(
    /// The whole link, once the server said its address (its welcome).
    url: RwSignal<Option<String>>,
    /// What the server renders before that: the path on this page's own address.
    fallback: String,
) -> impl IntoView {
    // What the Copy button says after a press.
    let copied = RwSignal::new(None::<&'static str>);
    let shown = move || url.get().unwrap_or_else(|| fallback.clone());
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(link) = url.get_untracked() {
            let navigator = crate::client::window().navigator();
            // Browsers offer the clipboard on secure pages only (HTTPS, or localhost).
            let has_clipboard = js_sys::Reflect::get(&navigator, &"clipboard".into())
                .is_ok_and(|clipboard| !clipboard.is_undefined());
            if !has_clipboard {
                copied.set(Some("Select the link to copy it"));
                return;
            }
            let done = navigator.clipboard().write_text(&link);
            wasm_bindgen_futures::spawn_local(async move {
                let ok = wasm_bindgen_futures::JsFuture::from(done).await.is_ok();
                copied.set(Some(if ok {
                    "Copied"
                } else {
                    "Select the link to copy it"
                }));
            });
        }
    };
    view! {
        <section class="watch-link panel-block" aria-label="Invite viewers">
            <div class="watch-link-text">
                <p class="eyebrow">"Invite viewers"</p>
                <a data-testid="watch-link" href=shown.clone() target="_blank" rel="noopener">
                    {shown.clone()}
                </a>
                <div class="watch-link-tools">
                    <button class="button small" data-testid="copy-watch-link" type="button"
                        on:click=copy disabled=move || url.get().is_none()>
                        {move || copied.get().unwrap_or("Copy link")}
                    </button>
                    <span class="hint" data-testid="watch-link-hint">
                        {move || if url.get().is_some_and(|link| is_loopback(&link)) {
                            "Only this machine opens this address: start onair with --addr 0.0.0.0:3000 to let others in."
                        } else {
                            "Anyone who can reach this address watches here."
                        }}
                    </span>
                </div>
            </div>
            {move || url.get().map(|link| view! {
                <img class="watch-qr" data-testid="watch-qr" src=paths::qr_code(&link)
                    width="120" height="120" alt="QR code of the watch link"/>
            })}
        </section>
    }
    .into_any()
}

/// Whether `link` names this machine only (`127.x`, `[::1]`, `localhost`).
fn is_loopback(link: &str) -> bool {
    let host = link
        .split_once("://")
        .map_or(link, |(_, rest)| rest)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    host == "localhost" || host == "[::1]" || host.starts_with("127.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_links_are_told_apart() {
        assert!(is_loopback("http://127.0.0.1:3000/watch/a"));
        assert!(is_loopback("http://localhost:3000/watch/a"));
        assert!(is_loopback("https://[::1]:3000/watch/a"));
        assert!(!is_loopback("http://192.168.1.20:3000/watch/a"));
        assert!(!is_loopback("https://live.example.org/watch/127.0.0.1"));
    }
}
