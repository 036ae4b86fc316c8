//! The bus: what happens in a room on one node that the room's members on the others must
//! hear (its chat, its audience, the broadcaster's clock), over one Redis pub/sub channel.
//!
//! Each node publishes what its own members did, already stamped (sender id, name, time), and
//! hands what the others published to the rooms. A node that has nobody in a room passes
//! over its events. One task owns both connections; when Redis is away, events are lost (the
//! room list's rounds catch up by themselves, a chat line does not) and the task reconnects.

use std::{sync::Weak, time::Duration};

use futures_util::StreamExt;
use redis::{AsyncConnectionConfig, Client};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::ClusterHooks;
use crate::{
    protocol::{AudienceMember, ChatEntry, PeerId},
    server::shutdown::Shutdown,
};

/// The one channel every node publishes on and listens to.
pub const CHANNEL: &str = "onair:rooms";
/// Events waiting to be published; more are dropped (and the log says so once).
pub(super) const OUTGOING: usize = 1024;
/// How long connecting and publishing may take before Redis counts as away.
const WITHIN: Duration = Duration::from_secs(2);
/// The wait before connecting again.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Something a room's members on other nodes must hear. The nodes' wire format: every node of
/// a cluster runs the same version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RoomEvent {
    /// A chat message said on the sending node, stamped there.
    Chat { message: ChatEntry },
    /// The broadcaster deleted chat message `id`.
    ChatDeleted { id: u64 },
    /// The broadcaster muted (or unmuted) `member`, a viewer on one of the other nodes.
    Mute { member: PeerId, muted: bool },
    /// A viewer on the sending node joined, chose a name, or was muted.
    ViewerIs { viewer: AudienceMember },
    /// A viewer on the sending node left.
    ViewerLeft { id: PeerId },
    /// A broadcaster joined on the sending node: the others say who watches there.
    AudienceWanted,
    /// The broadcaster on air's clock offset (µs), for the viewers' delay.
    BroadcasterClock { offset_us: i64 },
}

/// One event as published: from which node, for which room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub node: String,
    pub room: String,
    pub event: RoomEvent,
}

pub(super) struct Bus {
    pub(super) client: Client,
    pub(super) node: String,
    pub(super) outgoing: mpsc::Receiver<Envelope>,
}

impl Bus {
    pub(super) async fn run(mut self, hooks: Weak<dyn ClusterHooks>, shutdown: Shutdown) {
        loop {
            tokio::select! {
                ended = self.session(&hooks) => match ended {
                    Ok(()) => return,
                    Err(err) => tracing::debug!("cluster: the room events' channel: {err}"),
                },
                () = shutdown.wait() => return,
            }
            tokio::select! {
                () = tokio::time::sleep(RECONNECT_AFTER) => {}
                () = shutdown.wait() => return,
            }
        }
    }

    /// Listen and publish until a connection fails (`Err`) or the hub is gone.
    async fn session(&mut self, hooks: &Weak<dyn ClusterHooks>) -> Result<(), redis::RedisError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(WITHIN))
            .set_response_timeout(Some(WITHIN));
        let mut publisher = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let mut listener = self.client.get_async_pubsub().await?;
        listener.subscribe(CHANNEL).await?;
        let mut heard = listener.on_message();
        loop {
            tokio::select! {
                message = heard.next() => {
                    let Some(message) = message else {
                        return Err(redis::RedisError::from((
                            redis::ErrorKind::Io,
                            "the subscription ended",
                        )));
                    };
                    let Ok(payload) = message.get_payload::<String>() else { continue };
                    let Ok(envelope) = serde_json::from_str::<Envelope>(&payload) else {
                        tracing::debug!("cluster: an event this node cannot read: {payload}");
                        continue;
                    };
                    if envelope.node == self.node {
                        continue;
                    }
                    let Some(hooks) = hooks.upgrade() else { return Ok(()) };
                    hooks.room_event(&envelope.node, &envelope.room, envelope.event);
                }
                next = self.outgoing.recv() => {
                    let Some(envelope) = next else { return Ok(()) };
                    let Ok(text) = serde_json::to_string(&envelope) else { continue };
                    redis::cmd("PUBLISH")
                        .arg(CHANNEL)
                        .arg(text)
                        .query_async::<()>(&mut publisher)
                        .await?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each: adding an event without a case here fails to compile.
    fn every_event() -> Vec<RoomEvent> {
        let all = [
            RoomEvent::Chat {
                message: ChatEntry {
                    id: 7,
                    from: 3,
                    name: "Ada".into(),
                    text: "hello".into(),
                    broadcaster: false,
                    at: 1,
                },
            },
            RoomEvent::ChatDeleted { id: 7 },
            RoomEvent::Mute {
                member: 3,
                muted: true,
            },
            RoomEvent::ViewerIs {
                viewer: AudienceMember {
                    id: 3,
                    name: "Ada".into(),
                    since: 1,
                    muted: false,
                },
            },
            RoomEvent::ViewerLeft { id: 3 },
            RoomEvent::AudienceWanted,
            RoomEvent::BroadcasterClock { offset_us: -5 },
        ];
        for event in &all {
            match event {
                RoomEvent::Chat { .. }
                | RoomEvent::ChatDeleted { .. }
                | RoomEvent::Mute { .. }
                | RoomEvent::ViewerIs { .. }
                | RoomEvent::ViewerLeft { .. }
                | RoomEvent::AudienceWanted
                | RoomEvent::BroadcasterClock { .. } => {}
            }
        }
        all.into()
    }

    #[test]
    fn every_event_reads_back_as_it_was_written() {
        for event in every_event() {
            let envelope = Envelope {
                node: "n1".into(),
                room: "hall".into(),
                event,
            };
            let text = serde_json::to_string(&envelope).unwrap();
            assert_eq!(serde_json::from_str::<Envelope>(&text).unwrap(), envelope);
        }
    }
}
