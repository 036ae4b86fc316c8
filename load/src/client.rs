//! One simulated page: a WebSocket connection that speaks the signaling protocol, from
//! connect to close. Each session splits into a reader (the session's own task, see
//! `reader.rs`: protocol state, checks and measurements) and a writer task (`writer.rs`: the
//! only one that touches the socket's sending half, and the candidate pump); this module runs
//! the session through the phases of the run and leaves when told to.

use std::{
    sync::{atomic::Ordering::Relaxed, Arc},
    time::Duration,
};

use futures_util::StreamExt;
use onair_protocol::{ClientMessage, Role};
use tokio::{
    sync::{mpsc, Notify, OwnedSemaphorePermit},
    time::{sleep_until, timeout, Instant},
};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    connection::{connect, short, was_dropped, Ws, DROPPED},
    reader::Peer,
    shared::{Phase, Seat, Shared},
    writer::{write_loop, Cmd, WRITE_TIMEOUT},
};

/// From the handshake to ready (welcome, live, offer/answer).
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);
/// From deciding to leave to the server's close frame.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// How a session tells that it is ready (or failed): the first session of each client
/// reports to the run; a churned viewer's next one only counts a rejoin.
enum Setup<'a> {
    Report(&'a mpsc::UnboundedSender<bool>),
    Rejoin,
}

impl Setup<'_> {
    fn done(&self, shared: &Shared, ok: bool) {
        match self {
            Setup::Report(tx) => {
                let _ = tx.send(ok);
            }
            Setup::Rejoin if ok => {
                shared.stats.churn_rejoins.fetch_add(1, Relaxed);
            }
            Setup::Rejoin => {
                shared.stats.churn_failed.fetch_add(1, Relaxed);
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Never got ready.
    Failed,
    /// Left or was dropped after being ready.
    Ended,
    /// Left on purpose to join again.
    Churned,
}

/// The broadcaster of one room: joins, goes live, offers to every viewer that asks.
pub async fn broadcaster(shared: Arc<Shared>, seat: Seat, setup: mpsc::UnboundedSender<bool>) {
    session(
        &shared,
        &seat,
        Role::Broadcaster,
        Setup::Report(&setup),
        None,
    )
    .await;
}

/// One viewer seat: joins, asks for the stream, answers; with churn, leaves and joins again.
pub async fn viewer(
    shared: Arc<Shared>,
    seat: Seat,
    setup: mpsc::UnboundedSender<bool>,
    churn: Arc<Notify>,
) {
    let mut outcome = session(
        &shared,
        &seat,
        Role::Viewer,
        Setup::Report(&setup),
        Some(&churn),
    )
    .await;
    while outcome == Outcome::Churned && *shared.phase.borrow() == Phase::Traffic {
        outcome = session(&shared, &seat, Role::Viewer, Setup::Rejoin, Some(&churn)).await;
    }
}

/// One connection from connect to close.
async fn session(
    shared: &Arc<Shared>,
    seat: &Seat,
    role: Role,
    setup: Setup<'_>,
    churn: Option<&Notify>,
) -> Outcome {
    let Ok(permit) = shared.gate.clone().acquire_owned().await else {
        setup.done(shared, false);
        return Outcome::Failed;
    };
    if *shared.phase.borrow() == Phase::Leave {
        // Waited for its turn until the run ended: do not connect any more.
        setup.done(shared, false);
        return Outcome::Failed;
    }
    let ws = match connect(shared, &seat.room).await {
        Ok(ws) => ws,
        Err(reason) => {
            shared.stats.client_errors.add(reason);
            setup.done(shared, false);
            return Outcome::Failed;
        }
    };
    shared.stats.connected();
    let outcome = drive(shared, seat, role, ws, &setup, permit, churn).await;
    shared.stats.disconnected();
    outcome
}

async fn drive(
    shared: &Arc<Shared>,
    seat: &Seat,
    role: Role,
    ws: Ws,
    setup: &Setup<'_>,
    permit: OwnedSemaphorePermit,
    churn: Option<&Notify>,
) -> Outcome {
    let stats = &shared.stats;
    let (sink, mut stream) = ws.split();
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let wake = Arc::new(Notify::new());
    let mut writer = tokio::spawn(write_loop(shared.clone(), sink, cmd_rx, wake.clone()));
    let mut writer_done = false;
    let mut peer = Peer::new(shared, role, seat.viewers_in_room.max(1), cmd_tx, wake);
    peer.command(Cmd::Control(ClientMessage::join(role))).await;

    let mut permit = Some(permit);
    let mut phase = shared.phase.clone();
    let mut phase_open = true;
    let setup_deadline = Instant::now() + SETUP_TIMEOUT;
    let mut leave_deadline: Option<Instant> = None;
    let mut outcome = Outcome::Ended;

    loop {
        let deadline = leave_deadline.unwrap_or(setup_deadline);
        let timed = leave_deadline.is_some() || !peer.ready;
        let may_churn = churn.is_some()
            && peer.ready
            && leave_deadline.is_none()
            && *phase.borrow() == Phase::Traffic;
        tokio::select! {
            biased;
            frame = stream.next() => match frame {
                None => {
                    if leave_deadline.is_none() {
                        stats.server_closes.add(DROPPED);
                    }
                    break;
                }
                Some(Err(err)) => {
                    if leave_deadline.is_none() {
                        if was_dropped(&err) {
                            stats.server_closes.add(DROPPED);
                        } else {
                            stats.client_errors.add(format!("read: {}", short(&err.to_string())));
                        }
                    }
                    break;
                }
                Some(Ok(Message::Text(text))) => {
                    stats.frames_received.fetch_add(1, Relaxed);
                    stats.bytes_received.fetch_add(text.len() as u64, Relaxed);
                    let was_ready = peer.ready;
                    peer.on_text(text.as_str()).await;
                    if let Some(reason) = peer.failed.take() {
                        stats.client_errors.add(reason);
                        break;
                    }
                    if peer.ready && !was_ready {
                        drop(permit.take());
                        setup.done(shared, true);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    if leave_deadline.is_none() {
                        let reason = frame.map_or_else(
                            || "no code".to_owned(),
                            |f| format!("{} {}", u16::from(f.code), short(&f.reason)),
                        );
                        stats.server_closes.add(reason);
                        leave_deadline = Some(Instant::now() + LEAVE_TIMEOUT);
                    }
                }
                Some(Ok(_)) => {}
            },
            changed = phase.changed(), if phase_open => {
                let now = match changed {
                    Ok(()) => *phase.borrow_and_update(),
                    Err(_) => {
                        phase_open = false;
                        Phase::Leave
                    }
                };
                if now == Phase::Leave && leave_deadline.is_none() {
                    leave_deadline = Some(Instant::now() + LEAVE_TIMEOUT);
                    peer.command(Cmd::Leave { off_air: role == Role::Broadcaster }).await;
                }
            }
            () = async {
                match churn {
                    Some(notify) => notify.notified().await,
                    None => std::future::pending().await,
                }
            }, if may_churn => {
                stats.churn_leaves.fetch_add(1, Relaxed);
                peer.mark_churned();
                outcome = Outcome::Churned;
                leave_deadline = Some(Instant::now() + LEAVE_TIMEOUT);
                peer.command(Cmd::Leave { off_air: false }).await;
            }
            _ = &mut writer, if !writer_done => {
                writer_done = true;
                if leave_deadline.is_none() {
                    // The writer counted why it stopped; nothing can be sent any more.
                    break;
                }
            }
            () = sleep_until(deadline), if timed => {
                if leave_deadline.is_some() {
                    stats.client_errors.add("leave: no close from the server within 5 s");
                } else {
                    stats.client_errors.add(match role {
                        Role::Broadcaster => "setup timed out (broadcaster: welcome/live)",
                        Role::Viewer if shared.idle => "setup timed out (viewer: welcome)",
                        Role::Viewer => "setup timed out (viewer: welcome/offer)",
                    });
                }
                break;
            }
        }
    }

    if !peer.ready {
        setup.done(shared, false);
        outcome = Outcome::Failed;
    }
    drop(peer); // closes the command queue: the writer sends a close frame and ends
    if !writer_done && timeout(WRITE_TIMEOUT * 2, &mut writer).await.is_err() {
        writer.abort();
    }
    outcome
}
