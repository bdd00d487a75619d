//! Joining a class: with a ticket (bringing back this learner's workspace from their own
//! history, offline edits included) or a room nearby with its code; and the learner's own
//! history of it.

use std::net::SocketAddr;
use std::time::Duration;

use coderoom_history::{NewSession, SessionId, SessionRecorder, Side};
use coderoom_protocol::{Credential, DocId, PeerId, RoomId, Ticket};
use coderoom_room::files;
use coderoom_room::net::{self, NearbyRoom, Peer};

use crate::hosting::{identity, open_history};
use crate::ClassError;

/// Parses a pasted ticket, saying what is wrong with it in words.
pub fn parse_ticket(text: &str) -> Result<Ticket, ClassError> {
    text.trim().parse::<Ticket>().map_err(|error| {
        ClassError::Refused(format!(
            "that is not a whole Coderoom ticket ({error}): copy it again from the instructor's \
             screen, all of it"
        ))
    })
}

/// Joins with a ticket. When this learner was in the room before, their workspace as their own
/// history last had it comes along (`true` in the answer), edits made offline included.
pub async fn join_with_ticket(
    ticket: &Ticket,
    bind: SocketAddr,
    (name, colour): (String, String),
    keep_history: bool,
) -> Result<(Peer, bool), ClassError> {
    let secret = identity()?;
    let me = net::peer_id(secret.public());
    let earlier = if keep_history {
        earlier_workspace(ticket.room, me)
    } else {
        Vec::new()
    };
    let resumed = !earlier.is_empty();
    let peer = Peer::rejoin(
        secret,
        bind,
        ticket.hub.clone(),
        ticket.room,
        Credential::Secret(ticket.secret),
        (name, colour),
        earlier,
    )
    .await?;
    Ok((peer, resumed))
}

/// Rooms announced on the LAN, listened for during `wait`.
pub async fn nearby(bind: SocketAddr, wait: Duration) -> Result<Vec<NearbyRoom>, ClassError> {
    Ok(net::nearby_rooms(bind, wait).await?)
}

/// Joins a room found nearby with the code the instructor reads out.
pub async fn join_nearby(
    room: &NearbyRoom,
    code: &str,
    bind: SocketAddr,
    (name, colour): (String, String),
) -> Result<Peer, ClassError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(ClassError::Refused(
            "the room code is six digits, as on the instructor's screen".into(),
        ));
    }
    Ok(Peer::join_nearby(identity()?, bind, room, code, name, colour).await?)
}

/// This learner's workspace in `room` as their newest session there last had it.
pub fn earlier_workspace(room: RoomId, me: PeerId) -> Vec<(DocId, Vec<u8>)> {
    let Ok(history) = open_history() else {
        return Vec::new();
    };
    let newest = history.sessions().ok().and_then(|sessions| {
        sessions
            .into_iter()
            .filter(|s| s.info.room == room && s.info.side == Side::Learner && s.info.me == me)
            .max_by_key(|s| (s.last_ms, s.info.id))
    });
    let workspace = DocId::Workspace(me);
    newest
        .and_then(|session| history.state_at(session.info.id, workspace, None).ok())
        .map(|doc| vec![(workspace, files::full_state(&doc))])
        .unwrap_or_default()
}

/// Starts this learner's own history of the room it joined (the ticket, when joined with one,
/// is kept so the session can be joined again from Recent).
pub fn keep_learner_history(
    peer: &Peer,
    title: &str,
    ticket: Option<&Ticket>,
) -> Result<SessionId, ClassError> {
    let mut history = open_history()?;
    let id = history.begin_session(
        &NewSession {
            room: ticket.map(|t| t.room).unwrap_or(RoomId([0; 16])),
            title: title.to_owned(),
            side: Side::Learner,
            me: peer.id(),
            secret: None,
            code: None,
            address: ticket.map(|t| t.to_string()),
        },
        coderoom_history::now_ms(),
    )?;
    let recorder = SessionRecorder::new(history, id)?;
    peer.keep_history(Box::new(recorder))
        .map_err(|reason| ClassError::File(reason.to_string()))?;
    Ok(id)
}
