//! The 404 page, for an unknown address or an invalid room name.

use leptos::prelude::*;
use leptos_meta::Title;

/// A 404 page (the status is set while rendering on the server).
#[component]
pub fn NotFound(#[prop(into)] message: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <section class="card notice" data-testid="not-found">
            <h1>"Not found"</h1>
            <p>{message}</p>
            <p class="hint">"Room names are 1\u{2013}64 letters, digits, \u{2018}-\u{2019} or \u{2018}_\u{2019}."</p>
            <a class="button" href="/">"See live rooms"</a>
        </section>
    }
}
