//! A class in progress on this laptop, the instructor's (hosting) or a learner's (joined), behind
//! one API for a window: its documents as yrs updates for the editors, what happened as
//! [`ClassEvent`]s in words, and the instructor's actions. Who may write where is decided here
//! (from the room crate's rules), so the app and the CLI agree.

use std::sync::Mutex;

use coderoom_history::SessionId;
use coderoom_protocol::{Control, DocId, Participant, PeerId, Role, Ticket};
use coderoom_room::net::{DocumentChange, DocumentChanges, Hub, HubReport, Peer, PeerReport};
use coderoom_room::presence::Presence;

use crate::words;
use crate::{ClassError, Profile};

/// A document's key in a window: `board`, or `ws:` and the owner's id in hex.
pub fn doc_key(doc: DocId) -> String {
    match doc {
        DocId::Board => "board".into(),
        DocId::Workspace(owner) => format!("ws:{}", person_key(owner)),
    }
}

/// Reads a key of [`doc_key`].
pub fn parse_doc_key(key: &str) -> Result<DocId, ClassError> {
    if key == "board" {
        return Ok(DocId::Board);
    }
    key.strip_prefix("ws:")
        .and_then(|hex| parse_person_key(hex).ok())
        .map(DocId::Workspace)
        .ok_or_else(|| ClassError::Refused(format!("{key:?} is not a document of this class")))
}

/// A participant's key in a window: their id in hex.
pub fn person_key(id: PeerId) -> String {
    id.0.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn parse_person_key(key: &str) -> Result<PeerId, ClassError> {
    let bad = || ClassError::Refused(format!("{key:?} is not someone in this class"));
    if key.len() != 64 || !key.is_ascii() {
        return Err(bad());
    }
    let mut id = [0u8; 32];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&key[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(PeerId(id))
}

/// A document change as the window's channel carries it: `[kind][key length][key][update]`,
/// kind 0 a yrs update to apply, 1 a reset (load the document whole again).
pub fn window_frame(change: &DocumentChange) -> Vec<u8> {
    let (kind, doc, update) = match change {
        DocumentChange::Update { doc, update } => (0u8, *doc, update.as_slice()),
        DocumentChange::Reset { doc } => (1u8, *doc, &[][..]),
    };
    let key = doc_key(doc);
    let mut bytes = Vec::with_capacity(2 + key.len() + update.len());
    bytes.push(kind);
    // Keys are at most `ws:` and 64 hex digits.
    bytes.push(key.len() as u8);
    bytes.extend_from_slice(key.as_bytes());
    bytes.extend_from_slice(update);
    bytes
}

/// How this laptop is connected to the class.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Connection {
    /// The instructor's own laptop: the class is here.
    Hosting,
    Connecting,
    /// Waiting for the instructor to let this learner in.
    Waiting,
    Connected,
    /// Away from the hub; the next try is in `retry_ms`.
    Reconnecting {
        retry_ms: u64,
    },
    /// The class is over for this laptop (ended, refused, removed, never reached).
    Gone,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub colour: String,
    pub role: Role,
    pub online: bool,
    /// Asked to join and waits for the instructor.
    pub waiting: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PresenceView {
    /// The awareness client (one per window).
    pub client: u64,
    /// Who, where; `None` when that window left.
    pub state: Option<PresenceState>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PresenceState {
    pub person: String,
    pub name: String,
    pub colour: String,
    pub role: Role,
    pub doc: Option<String>,
    pub file: Option<String>,
    pub cursor: Option<u32>,
    pub selection: Option<(u32, u32)>,
}

/// What a window is told, each with the words to show where there are any.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ClassEvent {
    Connection {
        connection: Connection,
        message: String,
    },
    /// In the class (again): role and title.
    Welcome {
        role: Role,
        title: String,
    },
    /// Who is in the class, with a count of those online.
    People {
        people: Vec<Person>,
        online: usize,
    },
    /// Documents this laptop may read and those it may write now.
    Access {
        readable: Vec<String>,
        writable: Vec<String>,
    },
    Pen {
        holder: Option<String>,
        message: String,
    },
    Role {
        role: Role,
        message: String,
    },
    Follow {
        leader: Option<String>,
        binding: bool,
        message: String,
    },
    Presence {
        changes: Vec<PresenceView>,
    },
    /// Someone asks to join (the instructor approves or refuses).
    JoinRequest {
        person: Person,
    },
    Chat {
        from: String,
        name: String,
        text: String,
    },
    /// Something to tell the person once (an edit refused, history failing, code joins paused).
    Notice {
        message: String,
    },
    /// Whose hands are raised ("I'm stuck").
    Hands {
        people: Vec<String>,
    },
    /// The room's rules, for the instructor's menu (they survive hosting again).
    Rules {
        approval_required: bool,
        locked: bool,
    },
    /// Whether this learner may write in the chat now.
    ChatAllowed {
        on: bool,
        message: String,
    },
    /// A step of a run this window may watch (its own, or one from a document it reads).
    Run {
        run: u64,
        by: String,
        name: String,
        step: RunView,
    },
}

/// A step of a run, for the window's output panel.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum RunView {
    Started {
        doc: String,
        path: String,
        runtime: String,
    },
    Output {
        stderr: bool,
        text: String,
        /// Places in the run's files this output points at (tracebacks, compiler errors).
        errors: Vec<crate::errors::ErrorLine>,
    },
    Ended {
        outcome: String,
        wall_ms: u64,
    },
}

impl From<coderoom_protocol::RunStep> for RunView {
    fn from(step: coderoom_protocol::RunStep) -> Self {
        use coderoom_protocol::RunStep;
        match step {
            RunStep::Started {
                doc, path, runtime, ..
            } => RunView::Started {
                doc: doc_key(doc),
                path,
                runtime,
            },
            RunStep::Output { stderr, text } => RunView::Output {
                stderr,
                errors: crate::errors::error_lines(&text),
                text,
            },
            RunStep::Ended {
                outcome, wall_ms, ..
            } => RunView::Ended { outcome, wall_ms },
        }
    }
}

/// What the instructor does from the window.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum ClassAction {
    Approve { person: String },
    Deny { person: String },
    Remove { person: String },
    MakeObserver { person: String },
    MakeLearner { person: String },
    GivePen { person: String },
    TakePen,
    RequireApproval { on: bool },
    Lock { on: bool },
    Lecture { on: bool },
    AllowCodeJoins,
    LearnersChat { on: bool },
    LowerHand { person: String },
}

/// Where this window's person is, as the window knows it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct WindowPresence {
    pub doc: Option<String>,
    pub file: Option<String>,
    pub cursor: Option<u32>,
    pub selection: Option<(u32, u32)>,
    pub following: Option<String>,
}

enum Side {
    Instructor {
        hub: Hub,
        code: String,
    },
    Learner {
        peer: Peer,
        ticket: Option<Ticket>,
        keep_history: bool,
    },
}

/// What the class remembers to put events in words.
#[derive(Default)]
struct Known {
    people: Vec<Participant>,
    waiting: Vec<Participant>,
    role: Option<Role>,
    pen: Option<PeerId>,
    session: Option<SessionId>,
    gone: bool,
    last_access: Option<ClassEvent>,
}

pub struct Class {
    side: Side,
    me: PeerId,
    profile: Profile,
    title: String,
    known: Mutex<Known>,
    /// Documents the window has loaded: only their changes are worth sending it (an
    /// instructor looking at the board is not sent thirty workspaces' keystrokes).
    shown: Mutex<std::collections::BTreeSet<DocId>>,
    runs: std::sync::Arc<crate::running::Runs>,
    /// Events made here (this laptop's own runs), told to the window with the room's.
    local: tokio::sync::mpsc::UnboundedSender<Vec<ClassEvent>>,
    local_events: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<Vec<ClassEvent>>>,
}

impl Class {
    /// The instructor's class, hosted by `hub`.
    pub fn hosting(hub: Hub, profile: Profile, session: Option<SessionId>) -> Self {
        let me = hub.settings().instructor;
        let title = hub.settings().title.clone();
        let code = hub.settings().code.clone();
        let (local, local_events) = tokio::sync::mpsc::unbounded_channel();
        Self {
            side: Side::Instructor { hub, code },
            me,
            profile,
            title,
            known: Mutex::new(Known {
                role: Some(Role::Instructor),
                session,
                ..Known::default()
            }),
            shown: Mutex::default(),
            runs: Default::default(),
            local,
            local_events: tokio::sync::Mutex::new(local_events),
        }
    }

    /// A learner's class through `peer`; with `keep_history`, their own history of it is
    /// started once they are in.
    pub fn joined(
        peer: Peer,
        profile: Profile,
        ticket: Option<Ticket>,
        keep_history: bool,
    ) -> Self {
        let me = peer.id();
        let (local, local_events) = tokio::sync::mpsc::unbounded_channel();
        Self {
            side: Side::Learner {
                peer,
                ticket,
                keep_history,
            },
            me,
            profile,
            title: String::new(),
            known: Mutex::new(Known::default()),
            shown: Mutex::default(),
            runs: Default::default(),
            local,
            local_events: tokio::sync::Mutex::new(local_events),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn me(&self) -> PeerId {
        self.me
    }

    pub fn is_instructor(&self) -> bool {
        matches!(self.side, Side::Instructor { .. })
    }

    /// The hub's ticket and code (the instructor's class only).
    pub fn ticket_and_code(&self) -> Option<(String, String)> {
        match &self.side {
            Side::Instructor { hub, code } => Some((hub.ticket().to_string(), code.clone())),
            Side::Learner { .. } => None,
        }
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn session(&self) -> Option<SessionId> {
        self.known().session
    }

    /// The events a window starts with (hosting: connection, access and people).
    pub async fn first_events(&self) -> Vec<ClassEvent> {
        match &self.side {
            Side::Instructor { .. } => {
                let mut events = vec![
                    ClassEvent::Connection {
                        connection: Connection::Hosting,
                        message: "your class is open: share the ticket or the code".into(),
                    },
                    ClassEvent::Welcome {
                        role: Role::Instructor,
                        title: self.title.clone(),
                    },
                ];
                events.push(self.people_event().await);
                events.push(self.access_event().await);
                if let Side::Instructor { hub, .. } = &self.side {
                    let rules = hub.rules();
                    events.push(ClassEvent::Rules {
                        approval_required: rules.approval_required,
                        locked: rules.locked,
                    });
                }
                events
            }
            Side::Learner { .. } => vec![ClassEvent::Connection {
                connection: Connection::Connecting,
                message: "reaching the instructor's laptop…".into(),
            }],
        }
    }

    /// The next thing to tell the window; `None` once the class is over for this laptop.
    pub async fn next_events(&self) -> Option<Vec<ClassEvent>> {
        let mut local = self.local_events.lock().await;
        tokio::select! {
            Some(events) = local.recv() => Some(events),
            events = self.room_events() => events,
        }
    }

    async fn room_events(&self) -> Option<Vec<ClassEvent>> {
        match &self.side {
            Side::Instructor { hub, .. } => {
                let report = hub.next_report().await?;
                Some(self.hub_report(report).await)
            }
            Side::Learner { peer, .. } => match peer.next_report().await {
                Some(report) => Some(self.peer_report(report).await),
                None => {
                    if std::mem::replace(&mut self.known().gone, true) {
                        return None;
                    }
                    Some(vec![ClassEvent::Connection {
                        connection: Connection::Gone,
                        message: "you have left the class".into(),
                    }])
                }
            },
        }
    }

    async fn hub_report(&self, report: HubReport) -> Vec<ClassEvent> {
        match report {
            // Every edit reports a change; the window learns of documents from the people list.
            HubReport::Changed(_) => Vec::new(),
            HubReport::JoinRequest(who) => {
                let person = person(&who, true);
                {
                    let mut known = self.known();
                    known.waiting.retain(|w| w.id != who.id);
                    known.waiting.push(who);
                }
                vec![
                    ClassEvent::JoinRequest { person },
                    self.people_event().await,
                ]
            }
            // Drops are in the participants list: no message per drop.
            HubReport::PeerDropped { .. } => Vec::new(),
            HubReport::HistoryFailed(reason) => vec![notice(format!(
                "the class is not being saved to history: {reason}"
            ))],
            HubReport::CodeJoinsPaused { wrong_codes } => vec![notice(format!(
                "{wrong_codes} wrong room codes came in a minute, so joining with the code is \
                 paused (the ticket still works): allow it again from the room menu"
            ))],
            HubReport::Chat(line) => vec![ClassEvent::Chat {
                from: person_key(line.from),
                name: line.name,
                text: line.text,
            }],
            HubReport::Run(report) => self.run_event(report),
            HubReport::Participants(list) => {
                {
                    let mut known = self.known();
                    known
                        .waiting
                        .retain(|w| !list.iter().any(|p| p.id == w.id && p.online));
                    known.people = list;
                }
                let mut events = vec![self.people_event().await];
                events.extend(self.access_if_changed().await);
                events
            }
            HubReport::Presence(changes) => vec![presence_event(changes)],
            HubReport::Hands(hands) => vec![ClassEvent::Hands {
                people: hands.into_iter().map(person_key).collect(),
            }],
            HubReport::Rules(rules) => {
                let message = {
                    let known = self.known();
                    match rules.pen {
                        Some(holder) => {
                            format!("{} has the pen", words::name_of(&known.people, holder))
                        }
                        None => "only you edit the board".into(),
                    }
                };
                vec![
                    ClassEvent::Pen {
                        holder: rules.pen.map(person_key),
                        message,
                    },
                    ClassEvent::Rules {
                        approval_required: rules.approval_required,
                        locked: rules.locked,
                    },
                ]
            }
        }
    }

    async fn peer_report(&self, report: PeerReport) -> Vec<ClassEvent> {
        let me = self.me;
        match report {
            PeerReport::Joined { role, title } => {
                self.known().role = Some(role);
                self.start_learner_history(&title);
                vec![
                    ClassEvent::Connection {
                        connection: Connection::Connected,
                        message: format!("connected to “{title}”"),
                    },
                    ClassEvent::Welcome { role, title },
                    self.access_event().await,
                ]
            }
            PeerReport::Waiting => vec![ClassEvent::Connection {
                connection: Connection::Waiting,
                message: "waiting for the instructor to let you in".into(),
            }],
            PeerReport::Changed(_) => Vec::new(),
            PeerReport::EditRefused { doc, reason } => vec![notice(format!(
                "your change to {} was not kept: {reason}",
                match doc {
                    DocId::Board => "the board".to_owned(),
                    DocId::Workspace(owner) if owner == me => "your workspace".to_owned(),
                    DocId::Workspace(owner) => {
                        format!(
                            "{}'s workspace",
                            words::name_of(&self.known().people, owner)
                        )
                    }
                }
            ))],
            PeerReport::Disconnected(reason) => {
                if self.known().gone {
                    return Vec::new();
                }
                vec![ClassEvent::Connection {
                    connection: Connection::Reconnecting { retry_ms: 0 },
                    message: format!(
                        "lost the instructor's laptop ({reason}); your edits are kept"
                    ),
                }]
            }
            PeerReport::Retrying(after) => vec![ClassEvent::Connection {
                connection: Connection::Reconnecting {
                    retry_ms: after.as_millis() as u64,
                },
                message: "reconnecting; keep typing: your edits are kept and sent when back".into(),
            }],
            PeerReport::Refused(reason) => {
                self.known().gone = true;
                vec![ClassEvent::Connection {
                    connection: Connection::Gone,
                    message: reason,
                }]
            }
            PeerReport::Participants(list) => {
                self.known().people = list;
                vec![self.people_event().await]
            }
            PeerReport::Pen(holder) => {
                let message = {
                    let mut known = self.known();
                    let had_it = known.pen == Some(me);
                    known.pen = holder;
                    words::pen_message(holder, me, had_it, &known.people)
                };
                vec![
                    ClassEvent::Pen {
                        holder: holder.map(person_key),
                        message,
                    },
                    self.access_event().await,
                ]
            }
            PeerReport::RoleChanged(role) => {
                self.known().role = Some(role);
                vec![
                    ClassEvent::Role {
                        role,
                        message: words::role_message(role),
                    },
                    self.access_event().await,
                ]
            }
            PeerReport::Presence(changes) => vec![presence_event(changes)],
            PeerReport::HistoryFailed(reason) => vec![notice(format!(
                "your work is not being saved on this laptop: {reason}"
            ))],
            PeerReport::Chat(line) => vec![ClassEvent::Chat {
                from: person_key(line.from),
                name: line.name,
                text: line.text,
            }],
            PeerReport::ChatDropped(reason) => {
                vec![notice(format!("your message was not sent: {reason}"))]
            }
            PeerReport::Run(report) => self.run_event(report),
            PeerReport::Hands(hands) => vec![ClassEvent::Hands {
                people: hands.into_iter().map(person_key).collect(),
            }],
            PeerReport::ChatAllowed(on) => vec![ClassEvent::ChatAllowed {
                on,
                message: if on {
                    "the instructor turned the chat back on".into()
                } else {
                    "the instructor turned the chat off for now".into()
                },
            }],
            PeerReport::Follow { leader, binding } => {
                let message = words::follow_message(leader, binding, &self.known().people);
                vec![ClassEvent::Follow {
                    leader: leader.map(person_key),
                    binding,
                    message,
                }]
            }
        }
    }

    /// Someone's run step, for the window (this laptop's own are told as they happen).
    fn run_event(&self, report: coderoom_protocol::RunReport) -> Vec<ClassEvent> {
        if report.by == self.me {
            return Vec::new();
        }
        let name = words::name_of(&self.known().people, report.by);
        vec![ClassEvent::Run {
            run: report.run,
            by: person_key(report.by),
            name,
            step: report.step.into(),
        }]
    }

    /// Runs `file` of `doc` here, in the sandbox; its steps go to the room (for the
    /// document's readers and history) and to this window. Returns the run and its runtime.
    pub async fn run(
        self: &std::sync::Arc<Self>,
        doc: DocId,
        file: &str,
    ) -> Result<(u64, String), ClassError> {
        let files = match &self.side {
            Side::Instructor { hub, .. } => hub.files(doc).await,
            Side::Learner { peer, .. } => peer.files(doc).await,
        }
        .unwrap_or_default();
        let (steps, mut steps_out) = tokio::sync::mpsc::unbounded_channel();
        let started = crate::running::start(&self.runs, doc, files, file, steps)?;
        let class = std::sync::Arc::clone(self);
        tokio::spawn(async move {
            while let Some((run, step)) = steps_out.recv().await {
                let event = ClassEvent::Run {
                    run,
                    by: person_key(class.me),
                    name: class.profile.name.clone(),
                    step: step.clone().into(),
                };
                let _ = class.local.send(vec![event]);
                match &class.side {
                    Side::Instructor { hub, .. } => hub.report_run(run, step).await,
                    Side::Learner { peer, .. } => peer.report_run(run, step).await,
                }
            }
        });
        Ok(started)
    }

    /// A learner raises or lowers their hand ("I'm stuck").
    pub async fn raise_hand(&self, raised: bool) -> Result<(), ClassError> {
        match &self.side {
            Side::Learner { peer, .. } => {
                peer.raise_hand(raised).await;
                Ok(())
            }
            Side::Instructor { .. } => Err(ClassError::Refused(
                "the instructor's hand is always up: that is the class".into(),
            )),
        }
    }

    /// Stops a run of this laptop's.
    pub fn stop_run(&self, run: u64) -> Result<(), ClassError> {
        self.runs.stop(run)
    }

    /// A line typed into a run of this laptop's.
    pub fn run_input(&self, run: u64, line: &str) -> Result<(), ClassError> {
        self.runs.input(run, line)
    }

    fn start_learner_history(&self, title: &str) {
        let Side::Learner {
            peer,
            ticket,
            keep_history: true,
        } = &self.side
        else {
            return;
        };
        if self.known().session.is_some() {
            return;
        }
        if let Ok(session) = crate::joining::keep_learner_history(peer, title, ticket.as_ref()) {
            self.known().session = Some(session);
        }
    }

    async fn people_event(&self) -> ClassEvent {
        let (mut people, waiting) = match &self.side {
            Side::Instructor { hub, .. } => {
                let list = hub.participants().await;
                let known = self.known();
                (list, known.waiting.clone())
            }
            Side::Learner { .. } => (self.known().people.clone(), Vec::new()),
        };
        people.retain(|p| !waiting.iter().any(|w| w.id == p.id));
        let online = people.iter().filter(|p| p.online).count();
        let mut shown: Vec<Person> = waiting.iter().map(|p| person(p, true)).collect();
        shown.extend(people.iter().map(|p| person(p, false)));
        ClassEvent::People {
            people: shown,
            online,
        }
    }

    /// The access event, unless it says what the last one said (then nothing): people coming
    /// and going would otherwise resend the same lists many times a second.
    async fn access_if_changed(&self) -> Option<ClassEvent> {
        let event = self.access_event().await;
        let mut known = self.known();
        if known.last_access.as_ref() == Some(&event) {
            return None;
        }
        known.last_access = Some(event.clone());
        Some(event)
    }

    /// The documents this laptop reads and writes now, by the room's rules.
    pub async fn access_event(&self) -> ClassEvent {
        match &self.side {
            Side::Instructor { hub, .. } => {
                let mut docs: Vec<DocId> = vec![DocId::Board];
                for person in hub.participants().await {
                    if person.role != Role::Instructor {
                        docs.push(DocId::Workspace(person.id));
                    }
                }
                let keys: Vec<String> = docs.into_iter().map(doc_key).collect();
                ClassEvent::Access {
                    readable: keys.clone(),
                    writable: keys,
                }
            }
            Side::Learner { peer, .. } => {
                let docs = [DocId::Board, peer.workspace()];
                ClassEvent::Access {
                    readable: docs.iter().copied().map(doc_key).collect(),
                    writable: docs
                        .iter()
                        .copied()
                        .filter(|doc| peer.may_write(*doc))
                        .map(doc_key)
                        .collect(),
                }
            }
        }
    }

    /// Every change to a document from elsewhere, for the window's editors.
    pub fn watch_documents(&self) -> DocumentChanges {
        match &self.side {
            Side::Instructor { hub, .. } => hub.watch_documents(),
            Side::Learner { peer, .. } => peer.watch_documents(),
        }
    }

    /// Whether the window has loaded `doc` (and so wants its changes).
    pub fn is_shown(&self, doc: DocId) -> bool {
        self.shown
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(&doc)
    }

    /// A document's whole state (empty for one that has no edits yet). The window loads a
    /// document with it, and is sent the document's changes from then on.
    pub fn document_state(&self, doc: DocId) -> Vec<u8> {
        self.shown
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(doc);
        let state = match &self.side {
            Side::Instructor { hub, .. } => hub.document_state(doc),
            Side::Learner { peer, .. } => peer.document_state(doc),
        };
        state.unwrap_or_else(|| coderoom_room::files::full_state(&coderoom_room::files::new_doc(1)))
    }

    /// An edit made in this window's editor. A learner's edit where they may not write is
    /// refused here with the reason, before it reaches the room.
    pub async fn apply_editor_update(&self, doc: DocId, update: &[u8]) -> Result<(), ClassError> {
        match &self.side {
            Side::Instructor { hub, .. } => Ok(hub.apply_editor_update(doc, update).await?),
            Side::Learner { peer, .. } => {
                if !peer.may_write(doc) {
                    return Err(ClassError::Refused(match doc {
                        DocId::Board => {
                            "the board is read-only for you: the instructor gives the pen".into()
                        }
                        DocId::Workspace(_) => "you can only edit your own workspace".into(),
                    }));
                }
                Ok(peer.apply_editor_update(doc, update).await?)
            }
        }
    }

    /// Shares where this window's person is.
    pub async fn set_presence(&self, presence: WindowPresence) -> Result<(), ClassError> {
        let doc = presence.doc.as_deref().map(parse_doc_key).transpose()?;
        let following = presence
            .following
            .as_deref()
            .map(parse_person_key)
            .transpose()?;
        let role = self.known().role.unwrap_or(Role::Learner);
        let state = Presence {
            peer: self.me,
            name: self.profile.name.clone(),
            colour: self.profile.colour.clone(),
            role,
            doc,
            file: presence.file,
            cursor: presence.cursor,
            selection: presence.selection,
            following,
        };
        match &self.side {
            Side::Instructor { hub, .. } => hub.set_presence(&state).await,
            Side::Learner { peer, .. } => peer.set_presence(&state).await,
        }
        Ok(())
    }

    /// Writes in the class's chat.
    pub async fn say(&self, text: &str) -> Result<(), ClassError> {
        match &self.side {
            Side::Instructor { hub, .. } => {
                hub.say(text).await;
                Ok(())
            }
            Side::Learner { peer, .. } => Ok(peer.say(text).await?),
        }
    }

    /// An instructor's action; what it did, in words.
    pub async fn act(&self, action: ClassAction) -> Result<String, ClassError> {
        let Side::Instructor { hub, .. } = &self.side else {
            return Err(ClassError::Refused(
                "only the instructor can do that".into(),
            ));
        };
        let who = |key: &str| parse_person_key(key);
        let control = match action {
            ClassAction::Approve { person } => Control::Approve(who(&person)?),
            ClassAction::Deny { person } => Control::Deny(who(&person)?),
            ClassAction::Remove { person } => Control::Remove(who(&person)?),
            ClassAction::MakeObserver { person } => Control::SetRole(who(&person)?, Role::Observer),
            ClassAction::MakeLearner { person } => Control::SetRole(who(&person)?, Role::Learner),
            ClassAction::GivePen { person } => Control::GivePen(Some(who(&person)?)),
            ClassAction::TakePen => Control::GivePen(None),
            ClassAction::RequireApproval { on } => Control::RequireApproval(on),
            ClassAction::Lock { on } => Control::Lock(on),
            ClassAction::Lecture { on } => Control::Follow {
                leader: on.then_some(self.me),
                binding: on,
            },
            ClassAction::AllowCodeJoins => Control::AllowCodeJoins,
            ClassAction::LearnersChat { on } => Control::LearnersChat(on),
            ClassAction::LowerHand { person } => Control::LowerHand(who(&person)?),
        };
        if let Control::Approve(id) | Control::Deny(id) = control {
            self.known().waiting.retain(|w| w.id != id);
        }
        let mut people = hub.participants().await;
        people.extend(self.known().waiting.iter().cloned());
        let done = words::describe(&control, &people);
        hub.control(control).await;
        Ok(done)
    }

    /// Whether edits made here have not reached the hub yet (a learner away from it).
    pub fn has_unsent_edits(&self) -> bool {
        match &self.side {
            Side::Instructor { .. } => false,
            Side::Learner { peer, .. } => peer.has_unsent_edits(),
        }
    }

    /// Leaves the class (the instructor: stops hosting for now; learners wait and rejoin when
    /// it is hosted again). History is finished.
    pub async fn leave(self) -> Result<(), ClassError> {
        let finished = match self.side {
            Side::Instructor { hub, .. } => hub.close().await,
            Side::Learner { peer, .. } => peer.close().await,
        };
        finished.map_err(|reason| {
            ClassError::File(format!(
                "the session's history could not be finished: {reason}"
            ))
        })
    }

    /// Ends the class for everyone (the instructor only; a learner leaves).
    pub async fn end(self) -> Result<(), ClassError> {
        let finished = match self.side {
            Side::Instructor { hub, .. } => hub.end().await,
            Side::Learner { peer, .. } => peer.close().await,
        };
        finished.map_err(|reason| {
            ClassError::File(format!(
                "the session's history could not be finished: {reason}"
            ))
        })
    }
}

fn person(p: &Participant, waiting: bool) -> Person {
    Person {
        id: person_key(p.id),
        name: p.name.clone(),
        colour: p.colour.clone(),
        role: p.role,
        online: p.online,
        waiting,
    }
}

fn notice(message: String) -> ClassEvent {
    ClassEvent::Notice { message }
}

fn presence_event(changes: Vec<coderoom_room::presence::PresenceChange>) -> ClassEvent {
    ClassEvent::Presence {
        changes: changes
            .into_iter()
            .map(|(client, state)| PresenceView {
                client,
                state: state.map(|p| PresenceState {
                    person: person_key(p.peer),
                    name: p.name,
                    colour: p.colour,
                    role: p.role,
                    doc: p.doc.map(doc_key),
                    file: p.file,
                    cursor: p.cursor,
                    selection: p.selection,
                }),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_kind_key_and_update() {
        let frame = window_frame(&DocumentChange::Update {
            doc: DocId::Board,
            update: vec![9, 8],
        });
        assert_eq!(frame, [0, 5, b'b', b'o', b'a', b'r', b'd', 9, 8]);
        let id = PeerId([1; 32]);
        let frame = window_frame(&DocumentChange::Reset {
            doc: DocId::Workspace(id),
        });
        assert_eq!(frame[0], 1);
        assert_eq!(usize::from(frame[1]), 3 + 64);
        assert_eq!(&frame[2..], doc_key(DocId::Workspace(id)).as_bytes());
    }

    #[test]
    fn keys_round_trip_and_bad_ones_are_refused() {
        let id = PeerId([0xab; 32]);
        assert_eq!(
            parse_doc_key(&doc_key(DocId::Board)).expect("board"),
            DocId::Board
        );
        assert_eq!(
            parse_doc_key(&doc_key(DocId::Workspace(id))).expect("workspace"),
            DocId::Workspace(id)
        );
        for bad in ["", "ws:", "ws:zz", "wsx", &format!("ws:{}", "é".repeat(32))] {
            assert!(parse_doc_key(bad).is_err(), "{bad:?}");
        }
    }
}
