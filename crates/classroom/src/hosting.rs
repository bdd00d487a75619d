//! Hosting a class: a new room, or a past session again from history with the same room,
//! ticket, code and port (when free), so its learners come back by themselves.

use std::net::SocketAddr;

use coderoom_history::{History, NewSession, SessionId, SessionRecorder, Side};
use coderoom_protocol::{JoinSecret, RoomId};
use coderoom_room::net::{self, BoxedJournal, Hub};
use coderoom_room::{HubCore, RoomSettings};

use crate::ClassError;

/// What to host.
#[derive(Debug, Clone)]
pub struct HostPlan {
    pub title: String,
    /// The instructor's name, as learners see it.
    pub instructor_name: String,
    /// Where to listen (`0.0.0.0:0` for a classroom, `127.0.0.1:0` on one machine).
    pub bind: SocketAddr,
    /// A past hosted session to host again, from where it was.
    pub resume: Option<SessionId>,
    /// With `resume`: a new join secret, so the old ticket no longer works.
    pub new_ticket: bool,
    /// Keep this session's history (needed to host it again later).
    pub keep_history: bool,
    /// Announce the room on the LAN (nearby rooms, code joins).
    pub announce: bool,
}

/// A hosted class.
pub struct Hosting {
    pub hub: Hub,
    /// Its history, when kept.
    pub session: Option<SessionId>,
    /// Notes for the instructor: a port that was taken, history left out on resuming.
    pub notes: Vec<String>,
}

/// Random bytes for room ids and secrets.
pub fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes);
    bytes
}

/// A new six-digit room code.
pub fn new_code() -> String {
    format!("{:06}", u32::from_le_bytes(random::<4>()) % 1_000_000)
}

/// A free port on `bind`'s address when it asks for any (so history can note it before the hub
/// starts, and a resumed room can come back on it).
pub fn concrete(bind: SocketAddr) -> SocketAddr {
    if bind.port() != 0 {
        return bind;
    }
    std::net::UdpSocket::bind(bind)
        .and_then(|socket| socket.local_addr())
        .unwrap_or(bind)
}

/// The history of this install (or of `CODEROOM_DATA_DIR`).
pub fn open_history() -> Result<History, ClassError> {
    let data = coderoom_paths::DataDir::resolve()?;
    Ok(History::open(&data.history_db())?)
}

/// This install's identity (made on first use).
pub fn identity() -> Result<iroh::SecretKey, ClassError> {
    let data = coderoom_paths::DataDir::resolve()?;
    Ok(net::load_or_create_identity(&data.identity_key())?)
}

/// Starts hosting `plan`.
pub async fn host(plan: &HostPlan) -> Result<Hosting, ClassError> {
    let secret = identity()?;
    let me = net::peer_id(secret.public());
    let mut notes = Vec::new();
    let start = starting_point(plan, me, &mut notes)?;
    let session = start.recorder.as_ref().map(|r| r.session());
    let mut core = HubCore::restore(start.settings, rand::random::<u64>() >> 12, start.states)?;
    for reason in core.left_out_on_restore() {
        notes.push(format!(
            "part of this session's history was left out because it is not a document change \
             Coderoom accepts ({reason})"
        ));
    }
    core.restore_members(start.members);
    if let Some(rules) = start.rules {
        core.restore_rules(rules);
    }
    let journal = start.recorder.map(|r| Box::new(r) as BoxedJournal);
    let hub = if plan.announce && !start.bind.ip().is_loopback() {
        Hub::start_on_lan(secret, start.bind, core, journal).await?
    } else {
        Hub::start(secret, start.bind, core, journal).await?
    };
    Ok(Hosting {
        hub,
        session,
        notes,
    })
}

/// What a hub starts from: the room, where it listens, its documents (for a resumed session),
/// who was in it and its rules, and the recorder.
struct StartingPoint {
    settings: RoomSettings,
    bind: SocketAddr,
    states: Vec<(coderoom_protocol::DocId, Vec<u8>)>,
    members: Vec<(coderoom_protocol::Participant, bool)>,
    rules: Option<coderoom_room::Rules>,
    recorder: Option<SessionRecorder>,
}

fn starting_point(
    plan: &HostPlan,
    me: coderoom_protocol::PeerId,
    notes: &mut Vec<String>,
) -> Result<StartingPoint, ClassError> {
    if let Some(id) = plan.resume {
        return resumed(plan, id, me, notes);
    }
    let bind = concrete(plan.bind);
    let settings = RoomSettings {
        id: RoomId(random()),
        title: plan.title.clone(),
        secret: JoinSecret(random()),
        code: new_code(),
        instructor: me,
        instructor_name: plan.instructor_name.clone(),
    };
    let recorder = if plan.keep_history {
        let mut history = open_history()?;
        let id = history.begin_session(
            &NewSession {
                room: settings.id,
                title: settings.title.clone(),
                side: Side::Hub,
                me,
                secret: Some(settings.secret),
                code: Some(settings.code.clone()),
                address: Some(bind.to_string()),
            },
            coderoom_history::now_ms(),
        )?;
        Some(SessionRecorder::new(history, id)?)
    } else {
        None
    };
    Ok(StartingPoint {
        settings,
        bind,
        states: Vec::new(),
        members: Vec::new(),
        rules: None,
        recorder,
    })
}

fn resumed(
    plan: &HostPlan,
    id: SessionId,
    me: coderoom_protocol::PeerId,
    notes: &mut Vec<String>,
) -> Result<StartingPoint, ClassError> {
    let mut history = open_history()?;
    let info = history.session(id)?;
    if info.side != Side::Hub {
        return Err(ClassError::Refused(format!(
            "session {id} was joined, not hosted, here: it can be opened, not hosted again"
        )));
    }
    let mut bind = plan.bind;
    if bind.port() == 0 {
        if let Some(port) = info
            .address
            .as_deref()
            .and_then(|a| a.parse::<SocketAddr>().ok())
            .map(|a| a.port())
        {
            bind.set_port(port);
            if std::net::UdpSocket::bind(bind).is_err() {
                notes.push(format!(
                    "port {port} is taken by another program, so the ticket changed: share the new one"
                ));
                bind.set_port(0);
            }
        }
    }
    let bind = concrete(bind);
    let settings = RoomSettings {
        id: info.room,
        title: info.title.clone(),
        secret: match (plan.new_ticket, info.secret) {
            (false, Some(secret)) => secret,
            _ => JoinSecret(random()),
        },
        code: info.code.clone().unwrap_or_else(new_code),
        instructor: me,
        instructor_name: plan.instructor_name.clone(),
    };
    let members = history.members(id)?;
    let rules = history.rules(id)?;
    history.reopen_session(
        id,
        Some(&bind.to_string()),
        Some((settings.secret, &settings.code)),
    )?;
    let recorder = SessionRecorder::new(history, id)?;
    let states = recorder.states();
    Ok(StartingPoint {
        settings,
        bind,
        states,
        members,
        rules,
        recorder: Some(recorder),
    })
}
