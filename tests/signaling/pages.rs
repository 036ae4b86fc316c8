//! The pages as the server renders them, where the browser engines depend on their shape.

use onair::ui::watch::STAGE_ID;

use crate::common::*;

/// The watch page's engine starts before hydration on the `<video>` and the overlay it finds
/// in the stage (its first two children); without them it would start only after hydrating,
/// and every first picture would come later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_page_has_the_elements_its_engine_starts_on() {
    let server = TestServer::start(&[]).await;
    let (status, html) = http_get(server.addr, "/watch/hall").await;
    assert_eq!(status, 200);
    let stage = format!(r#"id="{STAGE_ID}""#);
    let at = html
        .find(&stage)
        .unwrap_or_else(|| panic!("no #{STAGE_ID} in {html}"));
    let inside = &html[at..];
    let children = inside
        .split_once('>')
        .map(|(_, rest)| rest.trim_start())
        .unwrap_or_default();
    assert!(
        children.starts_with("<video"),
        "the stage starts with {children:.80}"
    );
    let after_video = children
        .split_once("</video>")
        .map(|(_, rest)| rest.trim_start())
        .unwrap_or_default();
    assert!(
        after_video.starts_with("<div")
            && after_video[..after_video.find('>').unwrap_or(0)]
                .contains(r#"data-testid="stage-overlay""#),
        "the overlay follows the video: {after_video:.120}"
    );
}
