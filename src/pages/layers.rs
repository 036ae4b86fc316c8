//! Simulcast on the pages: the watch page's quality badge and its Auto / High / Medium / Low
//! choice, and the talk page's list of the layers it sends and who receives each.

use leptos::prelude::*;

use crate::protocol::{LayerUse, Level};

/// "720p", from a picture's height.
fn lines(height: u32) -> String {
    format!("{height}p")
}

/// A layer's name on the talk page: its height once known, else its level by rid.
fn layer_name(layer: &LayerUse) -> String {
    match (layer.height, layer.rid.as_str()) {
        (Some(height), _) => lines(height),
        (None, "h") => "high".into(),
        (None, "m") => "medium".into(),
        (None, "l") => "low".into(),
        (None, rid) => rid.to_owned(),
    }
}

/// "2 viewers", "1 viewer", "paused"; in a cluster, "3 viewers here, 2 other nodes".
fn layer_use(layer: &LayerUse) -> String {
    let viewers = match layer.viewers {
        1 => "1 viewer".to_owned(),
        n => format!("{n} viewers"),
    };
    match (layer.active, layer.viewers, layer.nodes) {
        (false, _, _) => "paused".into(),
        (true, _, 0) => viewers,
        (true, 0, 1) => "1 other node".into(),
        (true, 0, n) => format!("{n} other nodes"),
        (true, _, 1) => format!("{viewers} here, 1 other node"),
        (true, _, n) => format!("{viewers} here, {n} other nodes"),
    }
}

fn level_from(value: &str) -> Option<Level> {
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_read_by_height_or_level() {
        let mut layer = LayerUse {
            rid: "m".into(),
            viewers: 1,
            nodes: 0,
            active: true,
            height: None,
        };
        assert_eq!(
            (layer_name(&layer), layer_use(&layer)),
            ("medium".into(), "1 viewer".into())
        );
        layer.height = Some(360);
        layer.viewers = 3;
        assert_eq!(
            (layer_name(&layer), layer_use(&layer)),
            ("360p".into(), "3 viewers".into())
        );
        layer.nodes = 2;
        assert_eq!(layer_use(&layer), "3 viewers here, 2 other nodes");
        layer.viewers = 0;
        layer.nodes = 1;
        assert_eq!(
            layer_use(&layer),
            "1 other node",
            "every viewer is on another node"
        );
        layer.active = false;
        assert_eq!(layer_use(&layer), "paused");
        assert_eq!(level_from("low"), Some(Level::Low));
        assert_eq!(level_from("auto"), None);
    }
}

/// The watch page's badge: the picture's lines, and (with simulcast) the choice of quality.
#[component]
pub fn QualityBadge(
    quality: RwSignal<Option<(Level, u32, bool)>>,
    pinned: RwSignal<Option<Level>>,
    video_height: RwSignal<u32>,
    live: Signal<bool>,
    choose: Callback<Option<Level>>,
) -> impl IntoView {
    let layers = move || quality.get().map_or(0, |(_, of, _)| of);
    view! {
        <span class="quality-pill" data-testid="quality"
            data-height=move || video_height.get()
            data-layer=move || quality.get().map(|(level, _, _)| level.tag())
            data-pinned=move || quality.get().is_some_and(|(_, _, pinned)| pinned).to_string()
            title="The picture's size as it reaches you"
            hidden=move || !live.get() || video_height.get() == 0>
            {move || lines(video_height.get())}
        </span>
        <select class="quality-choice" data-testid="quality-choice" aria-label="Quality"
            hidden=move || !live.get() || layers() < 2
            prop:value=move || pinned.get().map_or("auto", Level::tag)
            on:change=move |ev| choose.run(level_from(&event_target_value(&ev)))>
            <option value="auto">"Auto"</option>
            <option value="high">"High"</option>
            <option value="medium" hidden=move || layers() < 3>"Medium"</option>
            <option value="low">"Low"</option>
        </select>
    }
    .into_any()
}

/// The talk page's layers: what each carries and who receives it.
#[component]
pub fn LayerList(layers: RwSignal<Vec<LayerUse>>, live: RwSignal<bool>) -> impl IntoView {
    view! {
        <div class="layers" hidden=move || !live.get() || layers.with(Vec::is_empty)>
            <span class="hint">"Sent in sizes: "</span>
            <ul class="layer-list">
                <For each=move || layers.get() key=|layer| format!("{layer:?}") let:layer>
                    <li data-testid="layer" data-rid=layer.rid.clone() data-viewers=layer.viewers
                        data-nodes=layer.nodes
                        data-active=layer.active.to_string() class:paused=!layer.active>
                        <strong>{layer_name(&layer)}</strong>" · "{layer_use(&layer)}
                    </li>
                </For>
            </ul>
        </div>
    }
    .into_any()
}
