//! A room's chat and its audience list: who says what, under which name, and who may not.
//!
//! The server stamps every message with its sender's id, name and role, and the time; a client
//! only says the text. Text stays text: the server keeps it as sent, the pages show it as text
//! nodes. Moderation (delete, mute) is for the broadcaster on air only, since any page may
//! open `/talk/<room>` but only the one that went live holds the room's publish key.

use super::{
    clock::now_us,
    membership::Membership,
    refusal::{no_such_peer, refuse, Refusal},
    room::{Member, RoomState},
};
use crate::{
    protocol::{
        AudienceMember, ChatEntry, ErrorCode, PeerId, Role, ServerMessage, MAX_CHAT_CHARS,
        MAX_NAME_CHARS,
    },
    server::{cluster::RoomEvent, rate_limit::TokenBucket},
};

/// Chat messages one connection may send at once, and then per second.
pub(super) const CHAT_BURST: f64 = 5.0;
pub(super) const CHAT_PER_SECOND: f64 = 1.0;

/// A new member's chat state: its default name's number, when it came, its rate limit.
pub(super) fn chat_bucket() -> TokenBucket {
    TokenBucket::new(CHAT_PER_SECOND, CHAT_BURST)
}

/// A message's text as the room keeps it, or why not.
fn checked_text(text: &str) -> Result<String, Refusal> {
    let text = text.trim();
    if text.is_empty() {
        return Err(refuse(
            ErrorCode::ChatRefused,
            "an empty message says nothing",
        ));
    }
    let chars = text.chars().count();
    if chars > MAX_CHAT_CHARS {
        return Err(refuse(
            ErrorCode::ChatRefused,
            format!("a chat message is at most {MAX_CHAT_CHARS} characters; this one has {chars}"),
        ));
    }
    Ok(text.to_owned())
}

/// A chosen name as the room keeps it (control characters dropped), or why not.
fn checked_name(name: &str) -> Result<Option<String>, Refusal> {
    let name: String = name.chars().filter(|c| !c.is_control()).collect();
    let name = name.trim();
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(refuse(
            ErrorCode::ChatRefused,
            format!("a name is at most {MAX_NAME_CHARS} characters; this one has {chars}"),
        ));
    }
    Ok((!name.is_empty()).then(|| name.to_owned()))
}

impl Member {
    /// A member joining now as `role`: no name chosen, no offer, a full chat allowance.
    pub(super) fn new(role: Role, outbox: crate::server::outbox::Outbox) -> Self {
        Self {
            role,
            outbox,
            offered_by: None,
            name: None,
            number: 0,
            since: now_us() / 1000,
            chat_bucket: chat_bucket(),
            edge: false,
        }
    }
}

impl Member {
    /// The name others see: the chosen one, or "viewer 12" / "broadcaster".
    pub(super) fn display_name(&self) -> String {
        match (&self.name, self.role) {
            (Some(name), _) => name.clone(),
            (None, Role::Viewer) => format!("viewer {}", self.number),
            (None, Role::Broadcaster) => "broadcaster".to_owned(),
        }
    }
}

impl RoomState {
    pub(super) fn audience_member(&self, id: PeerId) -> Option<AudienceMember> {
        let member = self
            .members
            .get(&id)
            .filter(|m| m.role == Role::Viewer && !m.edge)?;
        Some(AudienceMember {
            id,
            name: member.display_name(),
            since: member.since,
            muted: self.muted.contains(&id),
        })
    }

    /// Every viewer, on every node, longest-watching first.
    pub(super) fn audience(&self) -> Vec<AudienceMember> {
        let mut viewers: Vec<AudienceMember> = self
            .members
            .keys()
            .filter_map(|id| self.audience_member(*id))
            .chain(
                self.remote_audience
                    .values()
                    .map(|(_, viewer)| viewer.clone()),
            )
            .collect();
        viewers.sort_by_key(|viewer| (viewer.since, viewer.id));
        viewers
    }

    /// Tell the broadcaster pages how viewer `id` stands now (joined, renamed, muted).
    pub(super) fn announce_viewer(&self, id: PeerId) {
        if let Some(viewer) = self.audience_member(id) {
            self.send_to_role(Role::Broadcaster, &ServerMessage::AudienceJoined { viewer });
        }
    }

    pub(super) fn send_to_all(&self, msg: &ServerMessage) {
        self.send_to_role(Role::Viewer, msg);
        self.send_to_role(Role::Broadcaster, msg);
    }
}

impl RoomState {
    /// Mute (or unmute) viewer `member` here, and tell it.
    pub(super) fn set_muted(&mut self, member: PeerId, muted: bool) {
        if muted {
            self.muted.insert(member);
        } else {
            self.muted.remove(&member);
        }
        self.send(member, &ServerMessage::ChatMuted { muted });
    }
}

impl Membership {
    pub(super) fn chat(&self, text: &str) -> Result<(), Refusal> {
        let text = checked_text(text)?;
        let mut state = self.room.lock();
        if state.muted.contains(&self.id) {
            return Err(refuse(
                ErrorCode::Muted,
                "the broadcaster muted your chat in this room",
            ));
        }
        let on_air = state.on_air == Some(self.id);
        let member = state
            .members
            .get_mut(&self.id)
            .ok_or_else(|| no_such_peer(self.id))?;
        if !member.chat_bucket.take() {
            return Err(refuse(
                ErrorCode::SlowDown,
                format!(
                    "slow down: at most {CHAT_BURST} messages at once, then one every {} s",
                    1.0 / CHAT_PER_SECOND
                ),
            ));
        }
        let name = member.display_name();
        let id = state.chat.next_id();
        let entry = ChatEntry {
            id,
            from: self.id,
            name,
            text,
            broadcaster: on_air,
            at: now_us() / 1000,
        };
        state.chat.push(entry.clone());
        state.send_to_all(&ServerMessage::Chat {
            message: entry.clone(),
        });
        self.hub
            .tell_other_nodes(&self.room.name, RoomEvent::Chat { message: entry });
        Ok(())
    }

    pub(super) fn chat_name(&self, name: &str) -> Result<(), Refusal> {
        let name = checked_name(name)?;
        let mut state = self.room.lock();
        if let Some(member) = state.members.get_mut(&self.id) {
            member.name = name;
        }
        self.hub.announce_viewer(&self.room.name, &state, self.id);
        Ok(())
    }

    /// The room, locked, if this member is the broadcaster on air: only it moderates.
    fn lock_moderator(&self) -> Result<std::sync::MutexGuard<'_, RoomState>, Refusal> {
        let state = self.room.lock();
        if state.on_air != Some(self.id) {
            return Err(refuse(
                ErrorCode::NotAllowed,
                "only the broadcaster on air moderates the chat",
            ));
        }
        Ok(state)
    }

    pub(super) fn delete_chat(&self, id: u64) -> Result<(), Refusal> {
        let mut state = self.lock_moderator()?;
        if !state.chat.remove(id) {
            return Err(refuse(
                ErrorCode::OutOfOrder,
                format!("there is no chat message {id} in this room"),
            ));
        }
        state.send_to_all(&ServerMessage::ChatDeleted { id });
        self.hub
            .tell_other_nodes(&self.room.name, RoomEvent::ChatDeleted { id });
        Ok(())
    }

    pub(super) fn mute_chat(&self, member: PeerId, muted: bool) -> Result<(), Refusal> {
        let mut state = self.lock_moderator()?;
        let is_viewer = state
            .members
            .get(&member)
            .is_some_and(|m| m.role == Role::Viewer && !m.edge);
        if !is_viewer {
            // A viewer on another node: its node mutes it, and says so to everyone.
            if !state.remote_audience.contains_key(&member) {
                return Err(no_such_peer(member));
            }
            self.hub
                .tell_other_nodes(&self.room.name, RoomEvent::Mute { member, muted });
            return Ok(());
        }
        state.set_muted(member, muted);
        self.hub.announce_viewer(&self.room.name, &state, member);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded_in_characters_not_bytes() {
        assert_eq!(checked_text("  hi  ").unwrap(), "hi");
        assert_eq!(
            checked_text(" \n ").unwrap_err().code,
            ErrorCode::ChatRefused
        );
        let long = "é".repeat(MAX_CHAT_CHARS);
        assert_eq!(checked_text(&long).unwrap(), long);
        let refusal = checked_text(&format!("{long}x")).unwrap_err();
        assert!(refusal.message.contains("501"), "{}", refusal.message);
    }

    #[test]
    fn names_drop_control_characters_and_empty_means_the_default() {
        assert_eq!(checked_name(" Ada\u{7}\n ").unwrap(), Some("Ada".into()));
        assert_eq!(checked_name("  ").unwrap(), None);
        assert!(checked_name(&"n".repeat(MAX_NAME_CHARS + 1)).is_err());
    }
}
