//! One peer connection of the relay: the broadcaster's ingest, or one viewer's stream.

use std::{net::SocketAddr, time::Instant};

use str0m::{
    bwe::Bitrate,
    change::{SdpAnswer, SdpOffer},
    config::DtlsCert,
    media::{Direction, KeyframeRequestKind, MediaKind, Mid, Rid},
    net::{Protocol, Receive},
    rtp::Extension,
    Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig, RtcError,
};

use super::{
    layers::LayerId,
    pull_link::PullLink,
    udp::{Datagram, UdpPort},
    viewer_side::{Forwarded, ViewerSide},
};
use crate::{
    protocol::{IceCandidate, PeerId, RoomName, ServerMessage, RELAY_ID},
    server::outbox::Outbox,
};

/// Why a peer could not be made or changed; its text goes to the page.
#[derive(Debug, thiserror::Error)]
pub(super) enum PeerError {
    #[error("the relay cannot read this SDP: {0}")]
    BadSdp(String),
    #[error("the relay refused the session: {0}")]
    Refused(#[from] RtcError),
    #[error("an answer came, but the relay has no offer waiting for one")]
    NoOfferPending,
    #[error("the relay has no connection for this session (it ended)")]
    NoPeer,
    #[error("the pull's socket: {0}")]
    Socket(String),
}

/// How often a peer reports its figures.
const STATS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What the peer carries.
pub(super) enum Side {
    /// The broadcaster's stream, into the relay.
    Ingest,
    /// The stream out to one viewer.
    Viewer(Box<ViewerSide>),
}

pub(super) struct Peer {
    pub(super) member: PeerId,
    pub(super) room: RoomName,
    pub(super) outbox: Outbox,
    pub(super) side: Side,
    rtc: Rtc,
    /// The relay's ICE ufrag for this peer (its key in the demux).
    pub(super) ufrag: String,
    /// The browser addresses datagrams of this peer came from.
    pub(super) sources: Vec<SocketAddr>,
    /// When the peer next wants [`Peer::timeout`].
    pub(super) wake_at: Instant,
    /// NACKs counted so far per media line (str0m's stats are totals).
    nacks_seen: Vec<(Mid, u64)>,
    /// A viewer link's latest round trip, loss and bitrate.
    pub(super) quality: super::quality::Quality,
    /// For a pull from another node: its own socket and its offer (see `pull`).
    pub(super) pull: Option<PullLink>,
}

/// A viewer's link is taken to carry this much until its estimator knows better (a LAN or a
/// home link does); it starts on the lowest layer anyway, then climbs as far as the estimate
/// lets it, and the estimator probes for more.
const INITIAL_ESTIMATE_KBPS: u64 = 1_500;

/// The relay's id for `abs-capture-time` in its offers (str0m's standard map leaves it free).
const ABS_CAPTURE_TIME_ID: u8 = 5;

/// What the relay shows every browser: its addresses, and one DTLS certificate (made once at
/// start: making one per peer would cost every join a key generation).
pub(super) struct Local {
    pub(super) candidates: Vec<Candidate>,
    pub(super) cert: Option<DtlsCert>,
}

impl Local {
    pub(super) fn new(candidates: Vec<Candidate>) -> Self {
        let cert = str0m::crypto::from_feature_flags()
            .dtls_provider
            .generate_certificate();
        Self { candidates, cert }
    }
}

/// A peer's connection: ICE lite (the browser checks, the relay answers), fresh credentials,
/// the relay's candidates, and the codecs a browser sends: Opus, and VP8 before H.264. VP8
/// first, because the relay forwards the broadcaster's codec as it is, and every browser
/// decodes VP8, while Firefox on Linux decodes H.264 only with a plugin it downloads. (OBS and
/// ffmpeg send H.264 only, and get it.)
fn new_rtc(now: Instant, local: &Local, estimated: bool) -> (Rtc, String) {
    let creds = IceCreds::new();
    let ufrag = creds.ufrag.clone();
    let mut rtc = config(local, estimated)
        .set_ice_lite(true)
        .set_local_ice_credentials(creds)
        .build(now);
    for candidate in &local.candidates {
        rtc.add_local_candidate(candidate.clone());
    }
    (rtc, ufrag)
}

/// What every connection of the relay has, whichever side checks: the codecs, capture times,
/// figures, the relay's certificate, and an estimator where `estimated`.
pub(super) fn config(local: &Local, estimated: bool) -> RtcConfig {
    let mut config = Rtc::builder()
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .enable_h264(true)
        // When each frame was captured, passed from the broadcaster to the viewers: a watch
        // page shows its delay behind live by it.
        .set_extension(ABS_CAPTURE_TIME_ID, Extension::AbsoluteCaptureTime)
        // Loss, round trips and NACKs for `/metrics`, once a second.
        .set_stats_interval(Some(STATS_EVERY));
    if estimated {
        // A viewer's link is estimated (TWCC), to choose its simulcast layer by. Only where
        // there are layers to choose from: the estimator and its pacer cost a relayed viewer
        // about 40 % more CPU and pace its key frames out over tens of milliseconds.
        config = config.enable_bwe(Some(Bitrate::kbps(INITIAL_ESTIMATE_KBPS)));
    }
    if let Some(cert) = &local.cert {
        config = config.set_dtls_cert(cert.clone());
    }
    config
}

/// A connection from the browser's `offer`; its answer goes to `outbox`.
fn answering(
    offer: &str,
    local: &Local,
    now: Instant,
    outbox: &Outbox,
    estimated: bool,
) -> Result<(Rtc, String), PeerError> {
    let offer =
        SdpOffer::from_sdp_string(offer).map_err(|err| PeerError::BadSdp(err.to_string()))?;
    let (mut rtc, ufrag) = new_rtc(now, local, estimated);
    let answer = rtc.sdp_api().accept_offer(offer)?;
    outbox.send(&ServerMessage::Answer {
        from: RELAY_ID,
        sdp: answer.to_sdp_string(),
    });
    Ok((rtc, ufrag))
}

impl Peer {
    pub(super) fn new(
        member: PeerId,
        room: RoomName,
        outbox: Outbox,
        side: Side,
        rtc: Rtc,
        ufrag: String,
        now: Instant,
    ) -> Self {
        Self {
            member,
            room,
            outbox,
            side,
            rtc,
            ufrag,
            sources: Vec::new(),
            wake_at: now,
            nacks_seen: Vec::new(),
            quality: super::quality::Quality::default(),
            pull: None,
        }
    }

    /// NACKs on `mid` since the last stats, given their total now.
    pub(super) fn new_nacks(&mut self, mid: Mid, total: u64) -> u64 {
        match self.nacks_seen.iter_mut().find(|(seen, _)| *seen == mid) {
            Some((_, seen)) => {
                let new = total.saturating_sub(*seen);
                *seen = total;
                new
            }
            None => {
                self.nacks_seen.push((mid, total));
                total
            }
        }
    }

    /// The broadcaster's ingest, from its offer; the answer goes back to it.
    pub(super) fn ingest(
        member: PeerId,
        room: RoomName,
        outbox: Outbox,
        offer: &str,
        local: &Local,
        now: Instant,
    ) -> Result<Self, PeerError> {
        let (rtc, ufrag) = answering(offer, local, now, &outbox, false)?;
        Ok(Self::new(
            member,
            room,
            outbox,
            Side::Ingest,
            rtc,
            ufrag,
            now,
        ))
    }

    /// A viewer's stream: the relay offers sound and picture, sent only. `estimated`: its
    /// link's bandwidth is estimated (the broadcast has simulcast layers, or may have).
    pub(super) fn viewer(
        member: PeerId,
        room: RoomName,
        outbox: Outbox,
        local: &Local,
        now: Instant,
        estimated: bool,
    ) -> Result<Self, PeerError> {
        let (mut rtc, ufrag) = new_rtc(now, local, estimated);
        let mut change = rtc.sdp_api();
        let stream = Some(format!("onair-{member}"));
        let audio = change.add_media(
            MediaKind::Audio,
            Direction::SendOnly,
            stream.clone(),
            None,
            None,
        );
        let video = change.add_media(MediaKind::Video, Direction::SendOnly, stream, None, None);
        let (offer, pending) = change
            .apply()
            .ok_or_else(|| PeerError::BadSdp("nothing to offer".into()))?;
        outbox.send(&ServerMessage::Offer {
            from: RELAY_ID,
            sdp: offer.to_sdp_string(),
        });
        let side = Side::Viewer(Box::new(ViewerSide::new(
            (Some(audio), Some(video)),
            Some(pending),
            (false, estimated),
        )));
        Ok(Self::new(member, room, outbox, side, rtc, ufrag, now))
    }

    /// A viewer that brought its own offer (a WHEP player): the relay answers it, with sound.
    pub(super) fn viewer_answering(
        member: PeerId,
        room: RoomName,
        outbox: Outbox,
        offer: &str,
        local: &Local,
        now: Instant,
        estimated: bool,
    ) -> Result<Self, PeerError> {
        let (rtc, ufrag) = answering(offer, local, now, &outbox, estimated)?;
        let side = Side::Viewer(Box::new(ViewerSide::new(
            (None, None),
            None,
            (true, estimated),
        )));
        Ok(Self::new(member, room, outbox, side, rtc, ufrag, now))
    }

    /// The viewer's connection is up: frames may go out from now on.
    pub(super) fn connected(&mut self) {
        if let Side::Viewer(viewer) = &mut self.side {
            viewer.connected = true;
        }
    }

    /// A media line str0m added from the viewer's offer: the first of each kind carries it.
    /// A video line that sends simulcast (`rids`) is another node's, which gets every layer.
    pub(super) fn media_added(&mut self, kind: MediaKind, mid: Mid, rids: Vec<Rid>) {
        if let Side::Viewer(viewer) = &mut self.side {
            match kind {
                MediaKind::Audio => {
                    viewer.audio.get_or_insert(mid);
                }
                MediaKind::Video if viewer.video.is_none() => {
                    viewer.video = Some(mid);
                    viewer.edge_rids = rids;
                }
                MediaKind::Video => {}
            }
        }
    }

    /// The answer to the relay's offer: a viewer's, or the origin's to a pull.
    pub(super) fn accept_answer(&mut self, sdp: &str) -> Result<(), PeerError> {
        let pending = match (&mut self.side, &mut self.pull) {
            (_, Some(pull)) => pull.pending.take(),
            (Side::Viewer(viewer), None) => viewer.pending.take(),
            (Side::Ingest, None) => None,
        }
        .ok_or(PeerError::NoOfferPending)?;
        let answer =
            SdpAnswer::from_sdp_string(sdp).map_err(|err| PeerError::BadSdp(err.to_string()))?;
        self.rtc.sdp_api().accept_answer(pending, answer)?;
        Ok(())
    }

    /// The client's `offer` with new ICE credentials (an ICE restart: it changed networks):
    /// ICE starts over with new credentials on both sides, DTLS and the media stay. Returns
    /// the answer; [`Peer::ufrag`] is the new one.
    pub(super) fn restart_ice(&mut self, offer: &str) -> Result<String, PeerError> {
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|err| PeerError::BadSdp(err.to_string()))?;
        let answer = self.rtc.sdp_api().accept_offer(offer)?;
        self.ufrag = self.rtc.direct_api().local_ice_credentials().ufrag;
        Ok(answer.to_sdp_string())
    }

    /// A trickled browser candidate. ICE lite needs none (the browser's checks show its
    /// address), but a known one does no harm; ones str0m cannot read (mDNS names) are skipped.
    pub(super) fn add_candidate(&mut self, candidate: &IceCandidate) {
        if let Ok(candidate) = Candidate::from_sdp_string(&candidate.candidate) {
            self.rtc.add_remote_candidate(candidate);
        }
    }

    pub(super) fn is_alive(&self) -> bool {
        self.rtc.is_alive()
    }

    /// Hand the peer a datagram; `false` if it is not this peer's.
    pub(super) fn receive(&mut self, now: Instant, datagram: &Datagram<'_>) -> bool {
        let Ok(receive) = Receive::new(
            Protocol::Udp,
            datagram.source,
            datagram.destination,
            datagram.contents,
        ) else {
            return false;
        };
        let input = Input::Receive(now, receive);
        if !self.rtc.accepts(&input) {
            return false;
        }
        if !self.sources.contains(&datagram.source) {
            self.sources.push(datagram.source);
        }
        if let Err(err) = self.rtc.handle_input(input) {
            self.fail(&err);
        }
        true
    }

    pub(super) fn timeout(&mut self, now: Instant) {
        if let Err(err) = self.rtc.handle_input(Input::Timeout(now)) {
            self.fail(&err);
        }
    }

    fn fail(&mut self, err: &RtcError) {
        tracing::debug!("relay: peer of member {} ends: {err}", self.member);
        self.rtc.disconnect();
    }

    /// Send what the peer has to send, and collect its events, until it waits for time.
    pub(super) fn poll(&mut self, udp: &mut UdpPort, events: &mut Vec<Event>) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Transmit(transmit)) => match &self.pull {
                    Some(pull) => pull.send(transmit.destination, &transmit.contents),
                    None => udp.send(
                        transmit.source.ip(),
                        transmit.destination,
                        &transmit.contents,
                    ),
                },
                Ok(Output::Timeout(at)) => {
                    self.wake_at = at;
                    return;
                }
                Ok(Output::Event(Event::IceConnectionStateChange(
                    IceConnectionState::Disconnected,
                ))) => {
                    // The browser went quiet for ICE's timeout: the page is gone or its
                    // network is; a page still there asks again.
                    self.rtc.disconnect();
                }
                Ok(Output::Event(Event::Closed)) => {
                    // The other side closed its connection (DTLS close_notify: a tab or a
                    // WHIP client that closed it): it ends now, not at ICE's timeout.
                    self.rtc.disconnect();
                }
                Ok(Output::Event(event)) => events.push(event),
                Err(err) => {
                    self.fail(&err);
                    return;
                }
            }
        }
    }

    /// The viewer's side (`None` for the ingest).
    pub(super) fn viewer_mut(&mut self) -> Option<&mut ViewerSide> {
        match &mut self.side {
            Side::Viewer(viewer) => Some(viewer),
            Side::Ingest => None,
        }
    }

    /// Forward one frame of the broadcast, if this is a viewer (see [`ViewerSide::forward`]).
    pub(super) fn forward(
        &mut self,
        (kind, place): (MediaKind, Option<(usize, usize)>),
        data: &str0m::media::MediaData,
    ) -> Forwarded {
        let Side::Viewer(viewer) = &mut self.side else {
            return Forwarded::No;
        };
        let to = (self.member, &self.outbox);
        match viewer.forward(&mut self.rtc, to, (kind, place), data) {
            Ok(forwarded) => forwarded,
            Err(err) => {
                self.fail(&err);
                Forwarded::No
            }
        }
    }

    /// The layer this viewer waits for a key frame of, to start its picture.
    pub(super) fn waits_for_picture(&self) -> Option<LayerId> {
        match &self.side {
            Side::Viewer(viewer) => viewer.waits_for_picture(),
            Side::Ingest => None,
        }
    }

    /// The ingest's media kind for `mid`.
    pub(super) fn kind_of(&mut self, mid: Mid) -> Option<MediaKind> {
        self.rtc.media(mid).map(|media| media.kind())
    }

    /// Ask the broadcaster's browser for a key frame of each of `layers` on every video it
    /// sends.
    pub(super) fn request_keyframe(&mut self, video: &[Mid], layers: &[LayerId]) {
        for mid in video {
            if let Some(mut writer) = self.rtc.writer(*mid) {
                for rid in layers {
                    let _ = writer.request_keyframe(*rid, KeyframeRequestKind::Pli);
                }
            }
        }
    }

    /// Start a viewer's estimator afresh from `bps` (what it wants to find is kept): it
    /// probes again at once, from a clean slate.
    pub(super) fn restart_estimator(&mut self, bps: u64) {
        self.rtc.bwe().reset(Bitrate::bps(bps));
    }

    /// Tell a viewer's estimator what to keep up and what to look for, in bit/s.
    pub(super) fn probe(&mut self, (minimum, desired): (u64, u64)) {
        self.rtc
            .bwe()
            .set_bitrate(Bitrate::bps(minimum), Bitrate::bps(desired));
    }
}
