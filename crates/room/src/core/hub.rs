//! The hub: the instructor's side of a room. It admits peers, holds the authoritative copy of
//! every document, checks each update against the sender's role before applying it, asks for it
//! to be persisted, and relays it to the peers that read that document.

use std::collections::BTreeMap;

use coderoom_protocol::{
    ChatLine, Control, Credential, DocId, JoinSecret, Message, Notice, Participant, PeerId,
    Refusal, Role, RoomId, RunReport, RunStep, CHAT_PER_WINDOW, CHAT_WINDOW_MS, MAX_CHAT_CHARS,
    MAX_OPEN_RUNS, MAX_PRESENCE_CLIENTS, MAX_RUN_OUTPUT, MAX_RUN_OUTPUT_TOTAL, MAX_UPDATE, PIECE,
    PROTOCOL_VERSION,
};
use yrs::{Doc, ReadTxn, Transact};

use super::sync::{self, SyncIn};
use crate::RoomError;

/// Which connection (a peer may reconnect, so connections and peers differ).
pub type ConnId = u64;

/// Wrong codes allowed per peer in one window, and the window.
const CODE_ATTEMPTS: u32 = 5;
const CODE_WINDOW_MS: u64 = 60_000;
/// Wrong codes allowed for the whole room (from any key: a key is free to make) in one window;
/// past them code joins pause until the instructor allows them again.
const ROOM_CODE_ATTEMPTS: usize = 20;
/// Peers whose wrong codes are remembered at once; the oldest are forgotten past this (the
/// room-wide count still holds them back).
const CODE_PEERS_REMEMBERED: usize = 1024;

/// Refused edits that reset a connection's replica (each costs the hub a whole document) allowed
/// in one window; past them the connection is cut off.
const RESETS_PER_WINDOW: usize = 5;
const RESET_WINDOW_MS: u64 = 10_000;
/// Step 1s (each may cost the hub a whole document) a connection may send in that window, on
/// top of two per document it reads: one at the welcome and one after each reset are all a
/// peer needs.
const EXTRA_STEP1S_PER_WINDOW: usize = 8;

#[derive(Debug, Clone)]
pub struct RoomSettings {
    pub id: RoomId,
    pub title: String,
    pub secret: JoinSecret,
    /// The short code read out for nearby joins.
    pub code: String,
    /// The instructor: the hub's own identity.
    pub instructor: PeerId,
    pub instructor_name: String,
}

#[derive(Debug)]
pub enum HubEvent {
    /// QUIC has authenticated `peer` on a new connection.
    Connected {
        conn: ConnId,
        peer: PeerId,
    },
    Frame {
        conn: ConnId,
        message: Message,
    },
    /// The connection ended (either side, any reason).
    Closed {
        conn: ConnId,
    },
    /// The instructor acts from the hub's own window.
    Instructor(Control),
    /// The instructor writes in the chat from the hub's own window.
    InstructorSays(String),
    /// Where the instructor is in the hub's own window (an awareness payload of
    /// [`crate::presence::encode`]), for learners' editors and lecture mode.
    InstructorPresence(Vec<u8>),
    /// A step of a run the instructor started on the hub's own laptop.
    InstructorRun {
        run: u64,
        step: RunStep,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum HubAction {
    Send {
        conn: ConnId,
        message: Message,
    },
    /// Close after sending what is queued, with a reason for the log.
    Close {
        conn: ConnId,
        reason: String,
    },
    /// Store before relaying (history); `author` made it.
    Persist {
        doc: DocId,
        author: PeerId,
        update: Vec<u8>,
    },
    /// Tell the instructor's window something changed.
    Changed(DocId),
    JoinRequest(Participant),
    /// A participant is in (history keeps who was there and when).
    Joined(Participant),
    /// A participant's connection ended.
    Left(PeerId),
    /// A chat message, as relayed (history keeps it).
    Chat(ChatLine),
    /// A step of someone's run, as relayed (history keeps the run).
    Run(RunReport),
    /// The instructor changed someone's role or removed them.
    Standing(crate::Standing),
    /// The instructor changed the room's rules (approval, lock, pen).
    Rules(crate::Rules),
    /// Too many wrong room codes came in a minute: code joins are paused until the instructor
    /// allows them again (tickets still work).
    CodeJoinsPaused {
        wrong_codes: usize,
    },
    /// Who is in the room changed (the same list peers are sent), for the instructor's window.
    Participants(Vec<Participant>),
    /// Where learners are changed (`None`: that client left), for the instructor's window.
    Presence(Vec<crate::presence::PresenceChange>),
    /// Whose hands are raised, after a change.
    Hands(Vec<PeerId>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    AwaitingHello,
    AwaitingApproval,
    Joined,
}

struct Connection {
    peer: PeerId,
    stage: Stage,
}

struct GoingRun {
    doc: DocId,
    output: usize,
    started: u64,
}

struct Member {
    name: String,
    colour: String,
    role: Role,
    approved: bool,
    removed: bool,
    /// The last awareness update this member sent, for newcomers.
    awareness: Option<Vec<u8>>,
}

pub struct HubCore {
    settings: RoomSettings,
    docs: BTreeMap<DocId, Doc>,
    connections: BTreeMap<ConnId, Connection>,
    members: BTreeMap<PeerId, Member>,
    approval_required: bool,
    locked: bool,
    pen: Option<PeerId>,
    follow: Option<(Option<PeerId>, bool)>,
    /// Documents a connection was told to resync: its updates to them are dropped until its
    /// step 1 for the document shows it has taken the hub's state (they were made on the
    /// refused replica, which the peer discards).
    resyncing: std::collections::BTreeSet<(ConnId, DocId)>,
    /// Awareness clients (and their last clock) each connection has announced.
    presence_clients: BTreeMap<ConnId, BTreeMap<u64, u32>>,
    /// Wrong-code counts per peer: (count, window start ms), at most
    /// [`CODE_PEERS_REMEMBERED`] of them.
    code_failures: BTreeMap<PeerId, (u32, u64)>,
    /// When the room's recent wrong codes came, from anyone (at most [`ROOM_CODE_ATTEMPTS`]).
    room_code_failures: std::collections::VecDeque<u64>,
    /// Code joins paused after too many wrong codes, until the instructor allows them.
    code_joins_paused: bool,
    /// Newcomers joining by code wait for approval.
    code_joins_need_approval: bool,
    /// Runs going on: the document each runs from (their output goes to its readers), the
    /// output relayed so far, and when it started (the oldest gives way past the limit).
    runs: BTreeMap<(PeerId, u64), GoingRun>,
    /// Chat sent per peer in the current window: (count, window start ms).
    chat_counts: BTreeMap<PeerId, (u32, u64)>,
    client_ids: u64,
    /// Each document's deletions, for deciding whether a refused update would change it; made
    /// when first needed after the document last changed.
    deleted: BTreeMap<DocId, sync::Deleted>,
    /// When each connection's replicas were last reset after refused edits.
    resets: BTreeMap<ConnId, Vec<u64>>,
    /// When each connection last sent step 1s.
    step1s: BTreeMap<ConnId, Vec<u64>>,
    /// The time of the event being handled.
    clock: u64,
    /// What `restore` left out.
    left_out: Vec<String>,
    /// The instructor ended the class.
    ended: bool,
    /// Each document's whole state as last encoded, for resets: made when first needed after
    /// the document last changed, so a learner's refused edits cost a copy, not an encoding.
    full_states: BTreeMap<DocId, Vec<u8>>,
    /// The instructor's last presence (the instructor is not a member), for newcomers.
    instructor_presence: Option<Vec<u8>>,
    /// The instructor turned learners' chat off.
    learners_chat_off: bool,
    /// Learners whose hand is raised.
    hands: std::collections::BTreeSet<PeerId>,
}

impl HubCore {
    /// A room with an empty board. `client_id_seed` makes yrs client ids reproducible in tests.
    pub fn new(settings: RoomSettings, client_id_seed: u64) -> Self {
        let board = crate::files::new_doc(client_id_seed);
        Self {
            settings,
            docs: BTreeMap::from([(DocId::Board, board)]),
            connections: BTreeMap::new(),
            members: BTreeMap::new(),
            approval_required: false,
            locked: false,
            pen: None,
            follow: None,
            resyncing: std::collections::BTreeSet::new(),
            presence_clients: BTreeMap::new(),
            code_failures: BTreeMap::new(),
            room_code_failures: std::collections::VecDeque::new(),
            code_joins_paused: false,
            code_joins_need_approval: false,
            runs: BTreeMap::new(),
            chat_counts: BTreeMap::new(),
            client_ids: client_id_seed.wrapping_add(1),
            deleted: BTreeMap::new(),
            resets: BTreeMap::new(),
            step1s: BTreeMap::new(),
            clock: 0,
            left_out: Vec::new(),
            ended: false,
            full_states: BTreeMap::new(),
            instructor_presence: None,
            learners_chat_off: false,
            hands: std::collections::BTreeSet::new(),
        }
    }

    /// Rebuilds a room from persisted updates (after a crash or to resume a session).
    pub fn restore(
        settings: RoomSettings,
        client_id_seed: u64,
        updates: impl IntoIterator<Item = (DocId, Vec<u8>)>,
    ) -> Result<Self, RoomError> {
        let mut hub = Self::new(settings, client_id_seed);
        for (doc, update) in updates {
            // From this machine's own history: a whole document may be past a peer's limit, and
            // it is screened like a peer's update all the same. One that does not pass (a
            // history recorded before screening, holding what a hostile peer sent) is left out
            // and said, rather than keeping the room from opening.
            if let Err(error) = sync::apply_local(hub.doc_mut(doc), &update) {
                hub.left_out.push(format!("{doc:?}: {error}"));
            }
        }
        Ok(hub)
    }

    /// Forgets what was worked out from `doc` as it was.
    fn changed(&mut self, doc: DocId) {
        self.deleted.remove(&doc);
        self.full_states.remove(&doc);
    }

    /// Updates [`HubCore::restore`] left out because they did not pass the screen, and why.
    pub fn left_out_on_restore(&self) -> &[String] {
        &self.left_out
    }

    /// Takes back who was in the room before (a room hosted again): their names, roles, and
    /// whether they were removed. They are let in again without approval; the removed are not.
    pub fn restore_members(&mut self, members: impl IntoIterator<Item = (Participant, bool)>) {
        for (participant, removed) in members {
            if participant.id == self.settings.instructor {
                continue;
            }
            self.members.insert(
                participant.id,
                Member {
                    name: participant.name,
                    colour: participant.colour,
                    role: participant.role,
                    approved: true,
                    removed,
                    awareness: None,
                },
            );
        }
    }

    pub fn settings(&self) -> &RoomSettings {
        &self.settings
    }

    pub fn doc(&self, id: DocId) -> Option<&Doc> {
        self.docs.get(&id)
    }

    pub fn doc_ids(&self) -> Vec<DocId> {
        self.docs.keys().copied().collect()
    }

    fn doc_mut(&mut self, id: DocId) -> &Doc {
        let next_client = &mut self.client_ids;
        self.docs.entry(id).or_insert_with(|| {
            *next_client = next_client.wrapping_add(1);
            crate::files::new_doc(*next_client)
        })
    }

    /// Everyone known to the room, with whether they are connected now.
    pub fn participants(&self) -> Vec<Participant> {
        let mut list: Vec<Participant> = self
            .members
            .iter()
            .filter(|(_, member)| !member.removed)
            .map(|(id, member)| Participant {
                id: *id,
                name: member.name.clone(),
                colour: member.colour.clone(),
                role: member.role,
                online: self
                    .connections
                    .values()
                    .any(|c| c.peer == *id && c.stage == Stage::Joined),
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        list
    }

    fn role_of(&self, peer: PeerId) -> Option<Role> {
        if peer == self.settings.instructor {
            return Some(Role::Instructor);
        }
        self.members
            .get(&peer)
            .filter(|m| !m.removed)
            .map(|m| m.role)
    }

    fn may_read(&self, peer: PeerId, doc: DocId) -> bool {
        match (self.role_of(peer), doc) {
            (None, _) => false,
            (Some(Role::Instructor), _) => true,
            (Some(_), DocId::Board) => true,
            (Some(_), DocId::Workspace(owner)) => owner == peer,
        }
    }

    fn may_write(&self, peer: PeerId, doc: DocId) -> Result<(), String> {
        match (self.role_of(peer), doc) {
            (None, _) => Err("you are not in the room".into()),
            (Some(Role::Instructor), _) => Ok(()),
            (Some(Role::Observer), _) => Err("observers cannot edit".into()),
            (Some(Role::Learner), DocId::Board) if self.pen == Some(peer) => Ok(()),
            (Some(Role::Learner), DocId::Board) => {
                Err("only the instructor and whoever holds the pen may edit the board".into())
            }
            (Some(Role::Learner), DocId::Workspace(owner)) if owner == peer => Ok(()),
            (Some(Role::Learner), DocId::Workspace(_)) => {
                Err("a workspace is edited by its owner and the instructor".into())
            }
        }
    }

    fn readable_docs(&self, peer: PeerId) -> Vec<DocId> {
        let mut docs: Vec<DocId> = self
            .docs
            .keys()
            .copied()
            .filter(|d| self.may_read(peer, *d))
            .collect();
        if self.role_of(peer) == Some(Role::Learner) && !docs.contains(&DocId::Workspace(peer)) {
            docs.push(DocId::Workspace(peer));
        }
        docs
    }

    fn joined_conns(&self) -> impl Iterator<Item = (ConnId, PeerId)> + '_ {
        self.connections
            .iter()
            .filter(|(_, c)| c.stage == Stage::Joined)
            .map(|(id, c)| (*id, c.peer))
    }

    fn broadcast(&self, message: &Message, out: &mut Vec<HubAction>) {
        for (conn, _) in self.joined_conns() {
            out.push(HubAction::Send {
                conn,
                message: message.clone(),
            });
        }
    }

    fn broadcast_hands(&self, out: &mut Vec<HubAction>) {
        let hands: Vec<PeerId> = self.hands.iter().copied().collect();
        self.broadcast(&Message::Control(Control::Hands(hands.clone())), out);
        out.push(HubAction::Hands(hands));
    }

    fn broadcast_participants(&self, out: &mut Vec<HubAction>) {
        let participants = self.participants();
        self.broadcast(
            &Message::Control(Control::Participants(participants.clone())),
            out,
        );
        out.push(HubAction::Participants(participants));
    }

    /// Handles one event at `now_ms` (a monotonic clock in milliseconds).
    pub fn handle(&mut self, now_ms: u64, event: HubEvent) -> Vec<HubAction> {
        let mut out = Vec::new();
        self.clock = now_ms;
        match event {
            HubEvent::Connected { conn, peer } => {
                self.connections.insert(
                    conn,
                    Connection {
                        peer,
                        stage: Stage::AwaitingHello,
                    },
                );
            }
            HubEvent::Closed { conn } => {
                self.resyncing.retain(|(c, _)| *c != conn);
                self.resets.remove(&conn);
                self.step1s.remove(&conn);
                if let Some(connection) = self.connections.remove(&conn) {
                    if let Some(member) = self.members.get_mut(&connection.peer) {
                        member.awareness = None;
                    }
                    let gone_clients = self.presence_clients.remove(&conn).unwrap_or_default();
                    if !gone_clients.is_empty() {
                        out.push(HubAction::Presence(
                            gone_clients.keys().map(|client| (*client, None)).collect(),
                        ));
                    }
                    for (client, clock) in gone_clients {
                        let gone = crate::presence::encode(client, clock.wrapping_add(1), None);
                        self.broadcast(&Message::Awareness { payload: gone }, &mut out);
                    }
                    if connection.stage == Stage::Joined {
                        out.push(HubAction::Left(connection.peer));
                        self.broadcast_participants(&mut out);
                    }
                }
            }
            HubEvent::Frame { conn, message } => self.frame(now_ms, conn, message, &mut out),
            HubEvent::Instructor(control) => self.instructor(control, &mut out),
            HubEvent::InstructorSays(text) => {
                let _ = self.chat(now_ms, (self.settings.instructor, None), &text, &mut out);
            }
            HubEvent::InstructorRun { run, step } => {
                let instructor = self.settings.instructor;
                // The instructor has no connection: no reader is left out as its sender.
                let _ = self.run(now_ms, (ConnId::MAX, instructor), run, step, &mut out);
            }
            HubEvent::InstructorPresence(payload) => {
                self.instructor_presence = Some(payload.clone());
                self.broadcast(&Message::Awareness { payload }, &mut out);
            }
        }
        out
    }

    fn name_of(&self, peer: PeerId) -> String {
        if peer == self.settings.instructor {
            return self.settings.instructor_name.clone();
        }
        self.members
            .get(&peer)
            .map(|m| m.name.clone())
            .unwrap_or_default()
    }

    /// Relays `text` from `from` to everyone; an over-long message is an error for the sender.
    /// Past [`CHAT_PER_WINDOW`] messages in a window, the sender (on `conn`) is told its message
    /// was dropped.
    fn chat(
        &mut self,
        now_ms: u64,
        from: (PeerId, Option<ConnId>),
        text: &str,
        out: &mut Vec<HubAction>,
    ) -> Result<(), String> {
        let (from, conn) = from;
        let text = text.trim();
        if text.chars().count() > MAX_CHAT_CHARS {
            return Err(format!(
                "a chat message of over {MAX_CHAT_CHARS} characters"
            ));
        }
        if text.is_empty() {
            return Ok(());
        }
        if let (Some(conn), true) = (conn, self.learners_chat_off) {
            out.push(HubAction::Send {
                conn,
                message: Message::Notice(Notice::ChatDropped(
                    "the instructor has turned the chat off for now".into(),
                )),
            });
            return Ok(());
        }
        if let Some(conn) = conn {
            let (count, since) = self.chat_counts.entry(from).or_insert((0, now_ms));
            if now_ms.saturating_sub(*since) >= CHAT_WINDOW_MS {
                (*count, *since) = (0, now_ms);
            }
            if *count >= CHAT_PER_WINDOW {
                out.push(HubAction::Send {
                    conn,
                    message: Message::Notice(Notice::ChatDropped(format!(
                        "more than {CHAT_PER_WINDOW} messages in {} s: wait a moment",
                        CHAT_WINDOW_MS / 1000
                    ))),
                });
                return Ok(());
            }
            *count += 1;
        }
        let line = ChatLine {
            from,
            name: self.name_of(from),
            text: text.to_owned(),
        };
        out.push(HubAction::Chat(line.clone()));
        self.broadcast(&Message::Chat(line), out);
        Ok(())
    }

    /// Records and relays a step of `by`'s run to the readers of the document it runs from.
    fn run(
        &mut self,
        now_ms: u64,
        (conn, by): (ConnId, PeerId),
        run: u64,
        step: RunStep,
        out: &mut Vec<HubAction>,
    ) -> Result<(), String> {
        let doc = match &step {
            RunStep::Started { doc, .. } => {
                if !self.may_read(by, *doc) {
                    return Err("a run from a document you may not read".into());
                }
                // A run whose end never came (its runner went away) gives way to a new one.
                let mine = || self.runs.iter().filter(|((peer, _), _)| *peer == by);
                if mine().count() >= MAX_OPEN_RUNS && !self.runs.contains_key(&(by, run)) {
                    let oldest = mine()
                        .min_by_key(|(_, going)| going.started)
                        .map(|(k, _)| *k);
                    if let Some(key) = oldest {
                        self.end_forgotten_run(key, out);
                    }
                }
                self.runs.insert(
                    (by, run),
                    GoingRun {
                        doc: *doc,
                        output: 0,
                        started: now_ms,
                    },
                );
                *doc
            }
            RunStep::Output { text, .. } => {
                if text.len() > MAX_RUN_OUTPUT {
                    return Err(format!("run output of over {MAX_RUN_OUTPUT} bytes at once"));
                }
                // Steps of a run this hub never saw start (it restarted meanwhile) are dropped,
                // and so is output past what a runner lets a program print.
                let Some(going) = self.runs.get_mut(&(by, run)) else {
                    return Ok(());
                };
                going.output += text.len();
                if going.output > MAX_RUN_OUTPUT_TOTAL {
                    return Ok(());
                }
                going.doc
            }
            RunStep::Ended { .. } => match self.runs.remove(&(by, run)) {
                Some(going) => going.doc,
                None => return Ok(()),
            },
        };
        self.relay_run(Some(conn), doc, RunReport { by, run, step }, out);
        Ok(())
    }

    fn relay_run(
        &self,
        from: Option<ConnId>,
        doc: DocId,
        report: RunReport,
        out: &mut Vec<HubAction>,
    ) {
        out.push(HubAction::Run(report.clone()));
        for (other, peer) in self.joined_conns() {
            if Some(other) != from && self.may_read(peer, doc) {
                out.push(HubAction::Send {
                    conn: other,
                    message: Message::Run(report.clone()),
                });
            }
        }
    }

    /// Ends a run its runner never ended, for the record and for whoever watches it.
    fn end_forgotten_run(&mut self, key: (PeerId, u64), out: &mut Vec<HubAction>) {
        if let Some(going) = self.runs.remove(&key) {
            let step = RunStep::Ended {
                outcome: "no end was reported".into(),
                wall_ms: 0,
                cpu_ms: None,
                peak_kib: None,
            };
            let report = RunReport {
                by: key.0,
                run: key.1,
                step,
            };
            self.relay_run(None, going.doc, report, out);
        }
    }

    fn violation(&mut self, conn: ConnId, reason: String, out: &mut Vec<HubAction>) {
        out.push(HubAction::Send {
            conn,
            message: Message::Notice(Notice::ProtocolViolation(reason.clone())),
        });
        out.push(HubAction::Close { conn, reason });
    }

    fn frame(&mut self, now_ms: u64, conn: ConnId, message: Message, out: &mut Vec<HubAction>) {
        let Some(connection) = self.connections.get(&conn) else {
            return;
        };
        let (peer, stage) = (connection.peer, connection.stage);
        match (stage, message) {
            (
                Stage::AwaitingHello,
                Message::Hello {
                    protocol_version,
                    room,
                    credential,
                    name,
                    colour,
                },
            ) => {
                self.hello(
                    now_ms,
                    conn,
                    peer,
                    protocol_version,
                    room,
                    credential,
                    name,
                    colour,
                    out,
                );
            }
            (Stage::AwaitingHello | Stage::AwaitingApproval, other) => self.violation(
                conn,
                format!("expected Hello first, got {}", message_kind(&other)),
                out,
            ),
            (Stage::Joined, Message::Sync { doc, payload }) => {
                self.sync(conn, peer, doc, &payload, out)
            }
            (Stage::Joined, Message::Awareness { payload }) => {
                let clients = match crate::presence::decode(&payload) {
                    Ok(clients) => clients,
                    Err(error) => return self.violation(conn, error.to_string(), out),
                };
                // Presence names who it is: nobody may show up as someone else (or as the
                // instructor, whose cursor learners follow in lecture mode).
                if clients
                    .iter()
                    .any(|(_, _, state)| state.as_ref().is_some_and(|p| p.peer != peer))
                {
                    return self.violation(conn, "presence in someone else's name".into(), out);
                }
                out.push(HubAction::Presence(
                    clients
                        .iter()
                        .map(|(client, _, state)| (*client, state.clone()))
                        .collect(),
                ));
                // Remembered so the hub can announce these clients gone when the connection is.
                let known = self.presence_clients.entry(conn).or_default();
                for (client, clock, _) in clients {
                    known.insert(client, clock);
                }
                if known.len() > MAX_PRESENCE_CLIENTS {
                    let reason = format!("presence for over {MAX_PRESENCE_CLIENTS} clients");
                    // Announcing them all gone would flood every other peer: forget them.
                    self.presence_clients.remove(&conn);
                    return self.violation(conn, reason, out);
                }
                if let Some(member) = self.members.get_mut(&peer) {
                    member.awareness = Some(payload.clone());
                }
                for (other, _) in self.joined_conns() {
                    if other != conn {
                        out.push(HubAction::Send {
                            conn: other,
                            message: Message::Awareness {
                                payload: payload.clone(),
                            },
                        });
                    }
                }
            }
            (Stage::Joined, Message::Control(control)) => {
                if self.role_of(peer) == Some(Role::Instructor) {
                    self.instructor(control, out);
                } else {
                    out.push(HubAction::Send {
                        conn,
                        message: Message::Notice(Notice::ProtocolViolation(
                            "only the instructor controls the room".into(),
                        )),
                    });
                }
            }
            (Stage::Joined, Message::Chat(line)) => {
                if let Err(reason) = self.chat(now_ms, (peer, Some(conn)), &line.text, out) {
                    self.violation(conn, reason, out);
                }
            }
            (Stage::Joined, Message::Hand { raised }) => {
                let changed = if raised {
                    self.hands.insert(peer)
                } else {
                    self.hands.remove(&peer)
                };
                if changed {
                    self.broadcast_hands(out);
                }
            }
            (Stage::Joined, Message::Run(report)) => {
                if let Err(reason) = self.run(now_ms, (conn, peer), report.run, report.step, out) {
                    self.violation(conn, reason, out);
                }
            }
            (Stage::Joined, other) => self.violation(
                conn,
                format!("a peer may not send {}", message_kind(&other)),
                out,
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn hello(
        &mut self,
        now_ms: u64,
        conn: ConnId,
        peer: PeerId,
        protocol_version: u32,
        room: RoomId,
        credential: Credential,
        name: String,
        colour: String,
        out: &mut Vec<HubAction>,
    ) {
        let refuse = |reason: Refusal, out: &mut Vec<HubAction>| refuse(conn, reason, out);
        let mut by_code = false;
        if self.ended {
            return refuse(Refusal::ClassEnded, out);
        }
        if protocol_version != PROTOCOL_VERSION {
            return refuse(
                Refusal::VersionMismatch {
                    hub: PROTOCOL_VERSION,
                },
                out,
            );
        }
        if room != self.settings.id {
            return refuse(Refusal::WrongRoom, out);
        }
        match credential {
            Credential::Secret(secret) => {
                if !constant_time_eq(&secret.0, &self.settings.secret.0) {
                    return refuse(Refusal::WrongSecret, out);
                }
            }
            Credential::Code(code) => {
                if self.code_joins_paused {
                    return refuse(Refusal::CodeJoinsPaused, out);
                }
                let (count, since) = self
                    .code_failures
                    .get(&peer)
                    .copied()
                    .unwrap_or((0, now_ms));
                let (count, since) = if now_ms.saturating_sub(since) > CODE_WINDOW_MS {
                    (0, now_ms)
                } else {
                    (count, since)
                };
                if count >= CODE_ATTEMPTS {
                    let retry =
                        (CODE_WINDOW_MS - now_ms.saturating_sub(since)).div_ceil(1000) as u32;
                    return refuse(
                        Refusal::TooManyAttempts {
                            retry_after_secs: retry.max(1),
                        },
                        out,
                    );
                }
                if !constant_time_eq(code.as_bytes(), self.settings.code.as_bytes()) {
                    self.wrong_code(now_ms, peer, (count + 1, since), out);
                    return refuse(Refusal::WrongCode, out);
                }
                self.code_failures.remove(&peer);
                by_code = true;
            }
        }
        let name = name.trim().to_owned();
        // A name is how others tell who wrote what: printable, and not the instructor's.
        let passes_for_instructor = peer != self.settings.instructor
            && name.to_lowercase() == self.settings.instructor_name.to_lowercase();
        if name.is_empty()
            || name.chars().count() > 40
            || name.chars().any(char::is_control)
            || passes_for_instructor
        {
            return refuse(Refusal::BadName, out);
        }
        // Two people of one name in a class cannot be told apart in the list, the chat or a
        // cursor's label: the second picks another while the first is online.
        let taken = self.members.iter().any(|(other, member)| {
            *other != peer
                && !member.removed
                && member.name.to_lowercase() == name.to_lowercase()
                && self
                    .connections
                    .values()
                    .any(|c| c.peer == *other && c.stage != Stage::AwaitingHello)
        });
        if taken {
            return refuse(Refusal::NameTaken, out);
        }
        let colour: String = colour.chars().take(16).collect();
        if let Some(member) = self.members.get(&peer) {
            if member.removed {
                return refuse(Refusal::Removed, out);
            }
        } else if peer != self.settings.instructor {
            if self.locked {
                return refuse(Refusal::Locked, out);
            }
            self.members.insert(
                peer,
                Member {
                    name: name.clone(),
                    colour: colour.clone(),
                    role: Role::Learner,
                    approved: !(self.approval_required
                        || (by_code && self.code_joins_need_approval)),
                    removed: false,
                    awareness: None,
                },
            );
        }
        if let Some(member) = self.members.get_mut(&peer) {
            member.name = name;
            member.colour = colour;
        }
        let approved = self.members.get(&peer).is_none_or(|m| m.approved);
        if !approved {
            if let Some(connection) = self.connections.get_mut(&conn) {
                connection.stage = Stage::AwaitingApproval;
            }
            out.push(HubAction::Send {
                conn,
                message: Message::Waiting,
            });
            if let Some(participant) = self.participant(peer) {
                out.push(HubAction::JoinRequest(participant.clone()));
                let instructor = self.settings.instructor;
                for (other, _) in self.joined_conns().filter(|(_, p)| *p == instructor) {
                    out.push(HubAction::Send {
                        conn: other,
                        message: Message::Control(Control::JoinRequest(participant.clone())),
                    });
                }
            }
            return;
        }
        self.admit(conn, peer, out);
    }

    /// Counts a wrong code for `peer` and for the room; past the room's limit, code joins
    /// pause and the instructor is told.
    fn wrong_code(
        &mut self,
        now_ms: u64,
        peer: PeerId,
        failures: (u32, u64),
        out: &mut Vec<HubAction>,
    ) {
        if self.code_failures.len() >= CODE_PEERS_REMEMBERED {
            self.code_failures
                .retain(|_, (_, since)| now_ms.saturating_sub(*since) <= CODE_WINDOW_MS);
            if self.code_failures.len() >= CODE_PEERS_REMEMBERED {
                let oldest = self
                    .code_failures
                    .iter()
                    .min_by_key(|(_, (_, since))| *since)
                    .map(|(peer, _)| *peer);
                if let Some(oldest) = oldest {
                    self.code_failures.remove(&oldest);
                }
            }
        }
        self.code_failures.insert(peer, failures);
        let recent = &mut self.room_code_failures;
        while recent
            .front()
            .is_some_and(|at| now_ms.saturating_sub(*at) > CODE_WINDOW_MS)
        {
            recent.pop_front();
        }
        recent.push_back(now_ms);
        if recent.len() >= ROOM_CODE_ATTEMPTS {
            recent.clear();
            self.code_joins_paused = true;
            out.push(HubAction::CodeJoinsPaused {
                wrong_codes: ROOM_CODE_ATTEMPTS,
            });
        }
    }

    /// Whether the instructor ended the class.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Whether code joins are paused after too many wrong codes.
    pub fn code_joins_paused(&self) -> bool {
        self.code_joins_paused
    }

    /// How many peers' wrong codes are remembered (bounded).
    pub fn code_failures_remembered(&self) -> usize {
        self.code_failures.len()
    }

    fn participant(&self, peer: PeerId) -> Option<Participant> {
        let member = self.members.get(&peer)?;
        Some(Participant {
            id: peer,
            name: member.name.clone(),
            colour: member.colour.clone(),
            role: member.role,
            online: false,
        })
    }

    fn admit(&mut self, conn: ConnId, peer: PeerId, out: &mut Vec<HubAction>) {
        let Some(role) = self.role_of(peer) else {
            return;
        };
        if role == Role::Learner {
            self.doc_mut(DocId::Workspace(peer));
        }
        if let Some(connection) = self.connections.get_mut(&conn) {
            connection.stage = Stage::Joined;
        }
        if let Some(participant) = self.participant(peer) {
            out.push(HubAction::Joined(participant));
        }
        let docs = self.readable_docs(peer);
        let writable = docs
            .iter()
            .copied()
            .filter(|doc| self.may_write(peer, *doc).is_ok())
            .collect();
        out.push(HubAction::Send {
            conn,
            message: Message::Welcome {
                you: peer,
                role,
                title: self.settings.title.clone(),
                docs: docs.clone(),
                writable,
            },
        });
        for doc in docs {
            if let Some(state) = self.docs.get(&doc) {
                out.push(HubAction::Send {
                    conn,
                    message: Message::Sync {
                        doc,
                        payload: sync::step1(state),
                    },
                });
            }
        }
        let others = self
            .members
            .iter()
            .filter(|(other, _)| **other != peer)
            .filter_map(|(_, member)| member.awareness.as_ref());
        for payload in self.instructor_presence.iter().chain(others) {
            out.push(HubAction::Send {
                conn,
                message: Message::Awareness {
                    payload: payload.clone(),
                },
            });
        }
        out.push(HubAction::Send {
            conn,
            message: Message::Control(Control::GivePen(self.pen)),
        });
        if self.learners_chat_off {
            out.push(HubAction::Send {
                conn,
                message: Message::Control(Control::LearnersChat(false)),
            });
        }
        if !self.hands.is_empty() {
            out.push(HubAction::Send {
                conn,
                message: Message::Control(Control::Hands(self.hands.iter().copied().collect())),
            });
        }
        if let Some((leader, binding)) = self.follow {
            out.push(HubAction::Send {
                conn,
                message: Message::Control(Control::Follow { leader, binding }),
            });
        }
        self.broadcast_participants(out);
    }

    fn sync(
        &mut self,
        conn: ConnId,
        peer: PeerId,
        doc: DocId,
        payload: &[u8],
        out: &mut Vec<HubAction>,
    ) {
        // A change too large to take is refused and the sender's copy reset (rather than the
        // connection closed, which its step 2 would only run into again on reconnecting).
        if payload.len() > MAX_UPDATE + 16 {
            let reason = format!(
                "a change of {:.1} MB: one change may be at most {} MB",
                payload.len() as f64 / (1024.0 * 1024.0),
                MAX_UPDATE >> 20
            );
            return self.refuse_update(conn, peer, doc, None, reason, out);
        }
        let message = match sync::decode(payload, MAX_UPDATE) {
            Ok(message) => message,
            Err(error) => return self.violation(conn, error.to_string(), out),
        };
        match message {
            SyncIn::Step1(their_state) => {
                let allowed = EXTRA_STEP1S_PER_WINDOW + 2 * self.readable_docs(peer).len();
                let asked = self.step1s.entry(conn).or_default();
                if !take_from_budget(asked, self.clock, allowed) {
                    return self.violation(
                        conn,
                        format!(
                            "asked for whole documents more than {allowed} times in {} s",
                            RESET_WINDOW_MS / 1000
                        ),
                        out,
                    );
                }
                self.resyncing.remove(&(conn, doc));
                if !self.may_read(peer, doc) {
                    return out.push(HubAction::Send {
                        conn,
                        message: Message::Notice(Notice::Refused {
                            doc,
                            reason: "you may not read this document".into(),
                        }),
                    });
                }
                if let Some(state) = self.docs.get(&doc) {
                    let payload = sync::step2(state, &their_state);
                    send_sync(conn, doc, payload, false, out);
                }
            }
            SyncIn::Update(update) => {
                if self.resyncing.contains(&(conn, doc)) {
                    return;
                }
                let target = self.doc_mut(doc);
                // Screened against the document before anything else: a malformed update, one
                // with content Coderoom never makes, or one that depends on what the document
                // lacks breaks the protocol whoever sends it.
                let shape = match sync::screen_for(target, update, MAX_UPDATE) {
                    Ok(shape) => shape,
                    // Edits built on what the hub does not have (its history lost them, or the
                    // sender's copy went astray): the sender's copy is reset to the hub's.
                    Err(RoomError::Incomplete(reason)) => {
                        let reason = format!("your copy is out of step with the hub's: {reason}");
                        return self.refuse_update(conn, peer, doc, None, reason, out);
                    }
                    Err(error) => return self.violation(conn, error.to_string(), out),
                };
                if let Err(reason) = self.may_write(peer, doc) {
                    return self.refuse_update(conn, peer, doc, Some(&shape), reason, out);
                }
                if shape.is_empty() {
                    return;
                }
                let target = self.doc_mut(doc);
                if let Err(error) = sync::apply_screened(target, update) {
                    return self.violation(conn, error.to_string(), out);
                }
                self.changed(doc);
                let update = update.to_vec();
                out.push(HubAction::Persist {
                    doc,
                    author: peer,
                    update: update.clone(),
                });
                out.push(HubAction::Changed(doc));
                let relay = Message::Sync {
                    doc,
                    payload: sync::update_message(update),
                };
                let readers: Vec<ConnId> = self
                    .joined_conns()
                    .filter(|(other, reader)| *other != conn && self.may_read(*reader, doc))
                    .map(|(other, _)| other)
                    .collect();
                for reader in readers {
                    out.push(HubAction::Send {
                        conn: reader,
                        message: relay.clone(),
                    });
                }
            }
        }
    }

    /// An update from someone who may not write the document: nothing new (a step 2 with no
    /// edits) is ignored; anything else is refused and the sender's replica reset, decided from
    /// the update's shape against the document's state and deletions, never by applying it to a
    /// copy. A connection that keeps sending refused edits is cut off.
    fn refuse_update(
        &mut self,
        conn: ConnId,
        peer: PeerId,
        doc: DocId,
        shape: Option<&coderoom_protocol::screen::UpdateShape>,
        reason: String,
        out: &mut Vec<HubAction>,
    ) {
        let Some(state) = self.docs.get(&doc) else {
            return out.push(HubAction::Send {
                conn,
                message: Message::Notice(Notice::Refused { doc, reason }),
            });
        };
        if let Some(shape) = shape {
            let known = state.transact().state_vector();
            let deleted = self
                .deleted
                .entry(doc)
                .or_insert_with(|| sync::Deleted::of(state));
            if !sync::would_change(shape, &known, deleted) {
                return;
            }
        }
        out.push(HubAction::Send {
            conn,
            message: Message::Notice(Notice::Refused { doc, reason }),
        });
        if !self.may_read(peer, doc) {
            return;
        }
        let resets = self.resets.entry(conn).or_default();
        if !take_from_budget(resets, self.clock, RESETS_PER_WINDOW) {
            return self.violation(
                conn,
                format!(
                    "more than {RESETS_PER_WINDOW} refused edits in {} s",
                    RESET_WINDOW_MS / 1000
                ),
                out,
            );
        }
        let state = self
            .full_states
            .entry(doc)
            .or_insert_with(|| sync::full_state(state))
            .clone();
        send_sync(conn, doc, state, true, out);
        self.resyncing.insert((conn, doc));
    }

    /// The instructor edits a document from the hub's own window.
    pub fn edit(&mut self, doc: DocId, edit: impl FnOnce(&Doc)) -> Vec<HubAction> {
        let mut out = Vec::new();
        self.changed(doc);
        let target = self.doc_mut(doc);
        let Some(update) = sync::capture_edit(target, edit) else {
            return out;
        };
        out.push(HubAction::Persist {
            doc,
            author: self.settings.instructor,
            update: update.clone(),
        });
        let relay = Message::Sync {
            doc,
            payload: sync::update_message(update),
        };
        let readers: Vec<ConnId> = self
            .joined_conns()
            .filter(|(_, reader)| self.may_read(*reader, doc))
            .map(|(conn, _)| conn)
            .collect();
        for conn in readers {
            out.push(HubAction::Send {
                conn,
                message: relay.clone(),
            });
        }
        out
    }

    /// The room's rules as they stand.
    pub fn rules(&self) -> crate::Rules {
        crate::Rules {
            approval_required: self.approval_required,
            locked: self.locked,
            pen: self.pen,
        }
    }

    /// Takes back a room's rules (a room hosted again). A pen holder who was removed since
    /// does not get it back.
    pub fn restore_rules(&mut self, rules: crate::Rules) {
        self.approval_required = rules.approval_required;
        self.locked = rules.locked;
        self.pen = rules
            .pen
            .filter(|holder| self.members.get(holder).is_some_and(|m| !m.removed));
    }

    fn instructor(&mut self, control: Control, out: &mut Vec<HubAction>) {
        let before = self.rules();
        self.instructor_control(control, out);
        let after = self.rules();
        if after != before {
            out.push(HubAction::Rules(after));
        }
    }

    fn instructor_control(&mut self, control: Control, out: &mut Vec<HubAction>) {
        match control {
            Control::RequireApproval(on) => self.approval_required = on,
            Control::Lock(on) => self.locked = on,
            Control::Approve(peer) => {
                if let Some(member) = self.members.get_mut(&peer) {
                    member.approved = true;
                }
                let waiting: Vec<ConnId> = self
                    .connections
                    .iter()
                    .filter(|(_, c)| c.peer == peer && c.stage == Stage::AwaitingApproval)
                    .map(|(id, _)| *id)
                    .collect();
                for conn in waiting {
                    self.admit(conn, peer, out);
                }
            }
            Control::Deny(peer) => {
                self.members.remove(&peer);
                if self.pen == Some(peer) {
                    self.pen = None;
                    self.broadcast(&Message::Control(Control::GivePen(None)), out);
                }
                self.close_peer(peer, Refusal::Denied, out);
            }
            Control::Remove(peer) => {
                if self.hands.remove(&peer) {
                    self.broadcast_hands(out);
                }
                if let Some(member) = self.members.get_mut(&peer) {
                    member.removed = true;
                    out.push(HubAction::Standing(crate::Standing {
                        peer,
                        role: member.role,
                        removed: true,
                    }));
                }
                if self.pen == Some(peer) {
                    self.pen = None;
                    self.broadcast(&Message::Control(Control::GivePen(None)), out);
                }
                self.close_peer(peer, Refusal::Removed, out);
                self.broadcast_participants(out);
            }
            Control::SetRole(peer, role) => {
                if let Some(member) = self.members.get_mut(&peer) {
                    member.role = role;
                    out.push(HubAction::Standing(crate::Standing {
                        peer,
                        role,
                        removed: member.removed,
                    }));
                }
                self.broadcast_participants(out);
            }
            Control::GivePen(holder) => {
                self.pen = holder;
                self.broadcast(&Message::Control(Control::GivePen(holder)), out);
            }
            Control::Follow { leader, binding } => {
                self.follow = Some((leader, binding));
                self.broadcast(&Message::Control(Control::Follow { leader, binding }), out);
            }
            Control::AllowCodeJoins => {
                self.code_joins_paused = false;
                self.room_code_failures.clear();
            }
            Control::CodeJoinsNeedApproval(on) => self.code_joins_need_approval = on,
            Control::EndClass => {
                self.ended = true;
                let everyone: Vec<ConnId> = self.connections.keys().copied().collect();
                for conn in everyone {
                    refuse(conn, Refusal::ClassEnded, out);
                }
            }
            Control::LowerHand(who) => {
                if self.hands.remove(&who) {
                    self.broadcast_hands(out);
                }
            }
            Control::Hands(_) => {}
            Control::LearnersChat(on) => {
                self.learners_chat_off = !on;
                self.broadcast(&Message::Control(Control::LearnersChat(on)), out);
            }
            Control::Participants(_) | Control::JoinRequest(_) => {}
        }
    }

    fn close_peer(&mut self, peer: PeerId, reason: Refusal, out: &mut Vec<HubAction>) {
        let conns: Vec<ConnId> = self
            .connections
            .iter()
            .filter(|(_, c)| c.peer == peer)
            .map(|(id, _)| *id)
            .collect();
        for conn in conns {
            refuse(conn, reason.clone(), out);
            self.connections.remove(&conn);
        }
    }
}

/// Counts one costly request at `now` against a connection's budget of `allowed` in the last
/// [`RESET_WINDOW_MS`]; false (and not counted) when the budget is spent.
fn take_from_budget(times: &mut Vec<u64>, now: u64, allowed: usize) -> bool {
    times.retain(|at| now.saturating_sub(*at) < RESET_WINDOW_MS);
    if times.len() >= allowed {
        return false;
    }
    times.push(now);
    true
}

/// Sends a y-sync payload (or, with `resync`, a whole state replacing the peer's replica),
/// in pieces when it is too large for one frame.
fn send_sync(conn: ConnId, doc: DocId, payload: Vec<u8>, resync: bool, out: &mut Vec<HubAction>) {
    if payload.len() <= PIECE {
        let message = if resync {
            Message::Resync {
                doc,
                state: payload,
            }
        } else {
            Message::Sync { doc, payload }
        };
        return out.push(HubAction::Send { conn, message });
    }
    let count = payload.len().div_ceil(PIECE);
    for (index, piece) in payload.chunks(PIECE).enumerate() {
        out.push(HubAction::Send {
            conn,
            message: Message::SyncPiece {
                doc,
                resync,
                payload: piece.to_vec(),
                last: index + 1 == count,
            },
        });
    }
}

/// Tells a connection why it is turned away, then closes it.
fn refuse(conn: ConnId, reason: Refusal, out: &mut Vec<HubAction>) {
    let why = reason.to_string();
    out.push(HubAction::Send {
        conn,
        message: Message::Refused(reason),
    });
    out.push(HubAction::Close { conn, reason: why });
}

fn message_kind(message: &Message) -> &'static str {
    match message {
        Message::Hello { .. } => "Hello",
        Message::Welcome { .. } => "Welcome",
        Message::Waiting => "Waiting",
        Message::Refused(_) => "Refused",
        Message::Sync { .. } => "Sync",
        Message::Resync { .. } => "Resync",
        Message::SyncPiece { .. } => "SyncPiece",
        Message::Awareness { .. } => "Awareness",
        Message::Control(_) => "Control",
        Message::Notice(_) => "Notice",
        Message::Chat(_) => "Chat",
        Message::Run(_) => "Run",
        Message::Hand { .. } => "Hand",
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
