//! The chat panel of a room, on the talk and the watch page: the messages (newest at the
//! bottom, followed unless the reader scrolled up), a name kept in the browser, and for the
//! broadcaster on air a Delete and a Mute beside viewers' messages. Text is shown as text.

use leptos::{html::Ol, prelude::*};

use crate::{
    protocol::{ClientMessage, MAX_CHAT_CHARS, MAX_NAME_CHARS},
    ui::chat::{clock, ChatUi},
};

/// How close to the bottom (px) still counts as reading the newest messages.
const STICKY_PX: i32 = 24;

#[component]
pub fn ChatPanel(
    chat: ChatUi,
    /// The broadcaster on air: it may delete messages and mute viewers.
    #[prop(into)]
    moderator: Signal<bool>,
    /// Hands a message to the page's engine, for the server.
    send: Callback<ClientMessage>,
) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let list = NodeRef::<Ol>::new();
    // Follow new messages while the reader is at the bottom.
    let follow = RwSignal::new(true);
    Effect::new(move |_| {
        chat.messages.track();
        if follow.get_untracked() {
            if let Some(list) = list.get_untracked() {
                request_animation_frame(move || list.set_scroll_top(list.scroll_height()));
            }
        }
    });
    let on_scroll = move |_| {
        if let Some(list) = list.get_untracked() {
            let bottom = list.scroll_height() - list.client_height() - list.scroll_top();
            follow.set(bottom <= STICKY_PX);
        }
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = draft.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        follow.set(true);
        send.run(ClientMessage::Chat { text });
        draft.set(String::new());
    };
    let rename = move |ev: leptos::ev::Event| {
        let name = event_target_value(&ev).trim().to_owned();
        #[cfg(feature = "hydrate")]
        crate::client::chat::store_name(&name);
        chat.name.set(name.clone());
        send.run(ClientMessage::ChatName { name });
    };

    view! {
        <section class="chat" data-testid="chat" aria-label="Chat">
            <div class="chat-head">
                <h2>"Chat"</h2>
                <input class="chat-name" data-testid="chat-name" type="text" maxlength=MAX_NAME_CHARS
                    placeholder="Your name" aria-label="Your name in the chat" autocomplete="nickname"
                    prop:value=move || chat.name.get() on:change=rename/>
            </div>
            <ol class="chat-list" node_ref=list on:scroll=on_scroll data-testid="chat-messages">
                <For each=move || chat.messages.get() key=|message| message.id let:message>
                    <li class="chat-message" data-testid="chat-message" data-from=message.name.clone()
                        data-peer=message.from data-id=message.id
                        class:mine=move || chat.me.get() == Some(message.from)
                        class:from-broadcaster=message.broadcaster>
                        <span class="chat-meta">
                            <span class="chat-from">{message.name.clone()}</span>
                            {message.broadcaster.then(|| view! { <span class="chat-badge">"host"</span> })}
                            <time class="chat-time">{clock(message.at)}</time>
                        </span>
                        <span class="chat-text">{message.text.clone()}</span>
                        <span class="chat-tools" hidden=move || !moderator.get()>
                            <button class="link-button" data-testid="chat-delete" type="button"
                                on:click=move |_| send.run(ClientMessage::DeleteChat { id: message.id })>
                                "Delete"
                            </button>
                            {(!message.broadcaster).then(|| view! {
                                <button class="link-button" data-testid="chat-mute" type="button"
                                    on:click=move |_| send.run(ClientMessage::MuteChat {
                                        member: message.from,
                                        muted: true,
                                    })>
                                    "Mute"
                                </button>
                            })}
                        </span>
                    </li>
                </For>
            </ol>
            <p class="chat-empty hint" hidden=move || !chat.messages.with(Vec::is_empty)>
                "No messages yet. Say hello!"
            </p>
            <p class="chat-notice" data-testid="chat-notice" role="alert" hidden=move || chat.notice.get().is_none()>
                {move || chat.notice.get()}
            </p>
            <form class="chat-form" on:submit=submit>
                <input data-testid="chat-input" type="text" maxlength=MAX_CHAT_CHARS autocomplete="off"
                    aria-label="Message" placeholder=move || if chat.muted.get() { "You are muted" } else { "Say something…" }
                    disabled=move || chat.muted.get()
                    prop:value=move || draft.get() on:input=move |ev| draft.set(event_target_value(&ev))/>
                <button class="button primary" data-testid="chat-send" type="submit"
                    disabled=move || chat.muted.get()>
                    "Send"
                </button>
            </form>
        </section>
    }
    .into_any()
}
