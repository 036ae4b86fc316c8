//! The page shell and the router: which page each address shows.

use leptos::either::EitherOf3;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    hooks::use_params_map,
    path,
};

use crate::{
    pages::{
        check::CheckPage, home::HomePage, not_found::NotFound, talk::TalkPage, watch::WatchPage,
    },
    protocol::RoomName,
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="dark light"/>
                // The red "on air" dot, inline: no extra request, no 404 for /favicon.ico. A
                // 32x32 PNG, not SVG: a browser builds a whole SVG document to draw an SVG icon, about
                // 3 ms of a watch page's main thread while it is connecting (BENCHMARKS.md).
                <link rel="icon" type="image/png" href="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAACAAAAAgCAYAAABzenr0AAAAr0lEQVR42u2X0Q2AIAwFGYU93MEZGKEbMQojdQTEpCaEBGmQptX4cT9EeUeoUF3edqeJ+wXeJuALUEgFLGQCaQzomeUC56SxChwRuSKc8NCslgvSu48EwkRwS5gVWBE+lLjbc1wogL2a6AnEheF1YbIEvED4hecIgKAAcASSoEDiCKCgAHIEsjD2BdS3QL0I1T9D9YNI/Sg2cRmpX8cmGhITLZmJptREW/7/GX1X4AAemeKqiKizAwAAAABJRU5ErkJggg=="/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/onair.css"/>
        <Title formatter=|page: String| if page.is_empty() { "onair".to_string() } else { format!("{page} · onair") }/>
        <Router>
            <header class="topbar">
                <a href="/" class="brand"><span class="brand-dot"></span>"onair"</a>
                <nav><a href="/">"Live rooms"</a><a href="/check" data-testid="nav-check">"Check your setup"</a></nav>
            </header>
            <main class="page">
                <Routes fallback=|| view! { <NotFound message="There is no page at this address."/> }>
                    <Route path=path!("/") view=HomePage/>
                    <Route path=path!("/check") view=CheckPage/>
                    <Route path=path!("/talk/:room") view=|| view! { <RoomRoute page=RoomPage::Talk/> }/>
                    <Route path=path!("/watch/:room") view=|| view! { <RoomRoute page=RoomPage::Watch/> }/>
                </Routes>
            </main>
        </Router>
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RoomPage {
    Talk,
    Watch,
}

/// Validates the `:room` segment once, then shows the page or the 404.
#[component]
fn RoomRoute(page: RoomPage) -> impl IntoView {
    let name = use_params_map()
        .read_untracked()
        .get("room")
        .unwrap_or_default();
    // EitherOf3, not into_any(): a type-erased view carries every render path, the async
    // hydration one included, into the wasm whether it is used or not.
    match RoomName::parse(&name) {
        Ok(room) => match page {
            RoomPage::Talk => EitherOf3::A(view! { <TalkPage room/> }),
            RoomPage::Watch => EitherOf3::B(view! { <WatchPage room/> }),
        },
        Err(err) => {
            let mut shown = name;
            shown.truncate(80);
            EitherOf3::C(view! {
                <NotFound message=format!("\u{201c}{shown}\u{201d} is not a valid room name: {err}.")/>
            })
        }
    }
}
