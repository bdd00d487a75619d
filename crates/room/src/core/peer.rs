//! A peer (learner or observer; the instructor's own window talks to the hub directly): holds
//! its replicas of the documents it may read, sends its edits, and merges what the hub relays.
//! Edits made while disconnected stay in the replicas and are exchanged by the sync handshake
//! (step 1 / step 2) on the next connection.

use std::collections::BTreeMap;

use coderoom_protocol::{
    Control, Credential, DocId, Message, Notice, Participant, PeerId, Refusal, Role, RoomId,
    MAX_UPDATE, PROTOCOL_VERSION,
};
use yrs::Doc;

use super::sync::{self, SyncIn};
use crate::RoomError;

#[derive(Debug)]
pub enum PeerEvent {
    /// A connection to the hub is up.
    Connected,
    Frame(Message),
    /// The connection is gone; edits go on locally.
    Disconnected,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PeerAction {
    Send(Message),
    /// A document changed (from the hub or a resync).
    Changed(DocId),
    Joined {
        role: Role,
        title: String,
    },
    WaitingForApproval,
    /// The hub turned us away: do not reconnect with the same credential.
    Refused(Refusal),
    /// An update of ours was refused (and our replica reset to the hub's).
    EditRefused {
        doc: DocId,
        reason: String,
    },
    /// The connection is unusable; drop it (the caller reconnects).
    Disconnect(String),
    Participants(Vec<Participant>),
    /// The instructor changed this peer's role (the hub's welcome on the next connection
    /// follows it).
    RoleChanged(Role),
    Pen(Option<PeerId>),
    Follow {
        leader: Option<PeerId>,
        binding: bool,
    },
    /// Presence of others changed (`None`: that client left).
    Presence(Vec<crate::presence::PresenceChange>),
    /// A replica took in an update (ours when `mine`), for the learner's own history.
    Applied {
        doc: DocId,
        update: Vec<u8>,
        mine: bool,
    },
    /// A replica was started again (from the hub's state): history starts it again too.
    Reset(DocId),
    /// A chat message, as the hub relayed it.
    Chat(coderoom_protocol::ChatLine),
    /// A chat message of ours was not relayed, and why.
    ChatDropped(String),
    /// A step of someone's run (from a document this peer reads).
    Run(coderoom_protocol::RunReport),
    /// Whether learners may write in the chat now (the instructor turned it off or on).
    ChatAllowed(bool),
    /// Whose hands are raised.
    Hands(Vec<PeerId>),
}

pub struct PeerCore {
    me: PeerId,
    room: RoomId,
    credential: Credential,
    name: String,
    colour: String,
    docs: BTreeMap<DocId, Doc>,
    role: Option<Role>,
    connected: bool,
    joined: bool,
    pen: Option<PeerId>,
    /// Documents whose handshake is done on this connection: until the hub's step 1 is
    /// answered, edits are not sent one by one (the step 2 will carry them all, in order).
    synced: std::collections::BTreeSet<DocId>,
    next_client_id: u64,
    /// A large document arriving in pieces, per document and kind (sync or resync).
    pieces: BTreeMap<(DocId, bool), Vec<u8>>,
    /// Edits from the hub that build on what has not arrived yet (see `sync`).
    held: BTreeMap<DocId, Vec<Vec<u8>>>,
    /// Documents with edits not sent to the hub yet.
    unsent: std::collections::BTreeSet<DocId>,
}

impl PeerCore {
    /// `client_id_seed` seeds yrs client ids (random in the app, fixed in simulations).
    pub fn new(
        me: PeerId,
        room: RoomId,
        credential: Credential,
        name: String,
        colour: String,
        client_id_seed: u64,
    ) -> Self {
        Self {
            me,
            room,
            credential,
            name,
            colour,
            docs: BTreeMap::new(),
            role: None,
            connected: false,
            joined: false,
            pen: None,
            synced: std::collections::BTreeSet::new(),
            next_client_id: client_id_seed,
            pieces: BTreeMap::new(),
            held: BTreeMap::new(),
            unsent: std::collections::BTreeSet::new(),
        }
    }

    /// Takes back a document as this peer last had it (from its own history), before the
    /// first connection: the handshake offers the hub what it lacks of it.
    pub fn restore(&mut self, doc: DocId, state: &[u8]) -> Result<(), crate::RoomError> {
        sync::apply_local(self.doc_mut(doc), state)
    }

    pub fn me(&self) -> PeerId {
        self.me
    }

    pub fn role(&self) -> Option<Role> {
        self.role
    }

    pub fn is_joined(&self) -> bool {
        self.joined
    }

    pub fn doc(&self, id: DocId) -> Option<&Doc> {
        self.docs.get(&id)
    }

    pub fn doc_ids(&self) -> Vec<DocId> {
        self.docs.keys().copied().collect()
    }

    fn new_doc(&mut self) -> Doc {
        self.next_client_id = self.next_client_id.wrapping_add(1) & ((1 << 53) - 1);
        crate::files::new_doc(self.next_client_id.max(1))
    }

    fn doc_mut(&mut self, id: DocId) -> &Doc {
        if !self.docs.contains_key(&id) {
            let doc = self.new_doc();
            self.docs.insert(id, doc);
        }
        &self.docs[&id]
    }

    /// This peer's own workspace.
    pub fn workspace(&self) -> DocId {
        DocId::Workspace(self.me)
    }

    /// Whether the hub would accept our edits to `doc` (as far as we know).
    pub fn may_write(&self, doc: DocId) -> bool {
        match (self.role, doc) {
            (Some(Role::Instructor), _) => true,
            (Some(Role::Learner), DocId::Workspace(owner)) => owner == self.me,
            (Some(Role::Learner), DocId::Board) => self.pen == Some(self.me),
            _ => false,
        }
    }

    /// Edits a local replica, online or not, and sends the change when joined.
    pub fn edit(&mut self, doc: DocId, edit: impl FnOnce(&Doc)) -> Vec<PeerAction> {
        let target = self.doc_mut(doc);
        let Some(update) = sync::capture_edit(target, edit) else {
            return Vec::new();
        };
        if update.len() > MAX_UPDATE {
            return self.start_afresh(doc, too_large(update.len()));
        }
        let mut out = vec![PeerAction::Applied {
            doc,
            update: update.clone(),
            mine: true,
        }];
        if self.connected && self.joined && self.synced.contains(&doc) {
            out.push(PeerAction::Send(Message::Sync {
                doc,
                payload: sync::update_message(update),
            }));
        } else {
            // Kept in the replica (and the peer's history); the next handshake carries it.
            self.unsent.insert(doc);
        }
        out
    }

    /// Drops this peer's copy of `doc` for an empty one the hub refills (its step 1 asks for
    /// everything), telling why: the way out of an edit the hub could never take.
    fn start_afresh(&mut self, doc: DocId, reason: String) -> Vec<PeerAction> {
        self.docs.remove(&doc);
        self.unsent.remove(&doc);
        self.held.remove(&doc);
        let payload = sync::step1(self.doc_mut(doc));
        let mut out = vec![
            PeerAction::EditRefused { doc, reason },
            PeerAction::Reset(doc),
        ];
        if self.connected && self.joined {
            out.push(PeerAction::Send(Message::Sync { doc, payload }));
        }
        out.push(PeerAction::Changed(doc));
        out
    }

    /// Whether edits made here have not been sent to the hub yet (made while away from it):
    /// closing now keeps them only in this peer's own history until it rejoins.
    pub fn has_unsent_edits(&self) -> bool {
        !self.unsent.is_empty()
    }

    pub fn handle(&mut self, event: PeerEvent) -> Vec<PeerAction> {
        let mut out = Vec::new();
        match event {
            PeerEvent::Connected => {
                self.pieces.clear();
                self.held.clear();
                self.connected = true;
                self.joined = false;
                self.synced.clear();
                out.push(PeerAction::Send(Message::Hello {
                    protocol_version: PROTOCOL_VERSION,
                    room: self.room,
                    credential: self.credential.clone(),
                    name: self.name.clone(),
                    colour: self.colour.clone(),
                }));
            }
            PeerEvent::Disconnected => {
                self.connected = false;
                self.joined = false;
            }
            PeerEvent::Frame(message) => self.frame(message, &mut out),
        }
        out
    }

    /// A y-sync message from the hub: screened like a peer's (a hostile hub must not crash
    /// us either), but as large as the hub's own documents may be.
    fn sync(&mut self, doc: DocId, payload: &[u8], out: &mut Vec<PeerAction>) {
        let message = match sync::decode(payload, sync::MAX_LOCAL_STATE) {
            Ok(message) => message,
            Err(error) => return out.push(PeerAction::Disconnect(error.to_string())),
        };
        match message {
            SyncIn::Step1(their_state) => {
                let payload = sync::step2(self.doc_mut(doc), &their_state);
                // What the hub lacks of ours is past what it takes from a peer (a huge paste
                // made while away): it could never be sent, so this copy starts afresh.
                if self.may_write(doc) && payload.len() > MAX_UPDATE {
                    out.extend(self.start_afresh(doc, too_large(payload.len())));
                    return;
                }
                // Only what we may write is offered; the hub would refuse the rest.
                if self.may_write(doc) {
                    out.push(PeerAction::Send(Message::Sync { doc, payload }));
                }
                self.unsent.remove(&doc);
                self.synced.insert(doc);
            }
            SyncIn::Update(update) => {
                match sync::apply_local(self.doc_mut(doc), update) {
                    Ok(()) => {}
                    // Relayed edits can arrive before the hub's step 2 that they build on:
                    // kept (bounded) and tried again after each edit that does go in, instead
                    // of letting yrs keep them half-applied.
                    Err(RoomError::Incomplete(reason)) => {
                        let held = self.held.entry(doc).or_default();
                        let bytes: usize = held.iter().map(Vec::len).sum();
                        if bytes + update.len() > sync::MAX_LOCAL_STATE {
                            return out.push(PeerAction::Disconnect(reason));
                        }
                        held.push(update.to_vec());
                        return;
                    }
                    Err(error) => return out.push(PeerAction::Disconnect(error.to_string())),
                }
                out.push(PeerAction::Applied {
                    doc,
                    update: update.to_vec(),
                    mine: false,
                });
                self.apply_held(doc, out);
                out.push(PeerAction::Changed(doc));
            }
        }
    }

    /// Applies the held edits of `doc` that now can be, until none more can.
    fn apply_held(&mut self, doc: DocId, out: &mut Vec<PeerAction>) {
        loop {
            let Some(held) = self.held.remove(&doc) else {
                return;
            };
            let mut progress = false;
            let mut still = Vec::new();
            for update in held {
                match sync::apply_local(self.doc_mut(doc), &update) {
                    Ok(()) => {
                        progress = true;
                        out.push(PeerAction::Applied {
                            doc,
                            update,
                            mine: false,
                        });
                    }
                    Err(RoomError::Incomplete(_)) => still.push(update),
                    Err(error) => return out.push(PeerAction::Disconnect(error.to_string())),
                }
            }
            if !still.is_empty() {
                self.held.insert(doc, still);
            }
            if !progress {
                return;
            }
        }
    }

    fn resync(&mut self, doc: DocId, state: &[u8], out: &mut Vec<PeerAction>) {
        let fresh = self.new_doc();
        if let Err(error) = sync::apply_local(&fresh, state) {
            return out.push(PeerAction::Disconnect(error.to_string()));
        }
        // Edits of ours the hub accepted after it made this state are not relayed back to us:
        // ask for whatever it has beyond it.
        let payload = sync::step1(&fresh);
        self.docs.insert(doc, fresh);
        self.held.remove(&doc);
        out.push(PeerAction::Reset(doc));
        out.push(PeerAction::Send(Message::Sync { doc, payload }));
        out.push(PeerAction::Changed(doc));
    }

    fn frame(&mut self, message: Message, out: &mut Vec<PeerAction>) {
        match message {
            Message::Welcome {
                you,
                role,
                title,
                docs,
                writable,
            } => {
                if you != self.me {
                    out.push(PeerAction::Disconnect(
                        "the hub welcomed someone else".into(),
                    ));
                    return;
                }
                self.role = Some(role);
                self.joined = true;
                // Documents we may no longer read are dropped, and so are replicas of documents
                // we may not write (any offline edit to them would be refused): the hub's step 2
                // fills them afresh. The rest are synced both ways.
                let dropped: Vec<DocId> = self
                    .docs
                    .keys()
                    .filter(|id| docs.contains(id) && !writable.contains(id))
                    .copied()
                    .collect();
                self.docs
                    .retain(|id, _| docs.contains(id) && writable.contains(id));
                out.extend(dropped.into_iter().map(PeerAction::Reset));
                // The hub's GivePen follows; until then the pen is as the welcome says.
                self.pen = writable.contains(&DocId::Board).then_some(self.me);
                for doc in docs {
                    let payload = sync::step1(self.doc_mut(doc));
                    out.push(PeerAction::Send(Message::Sync { doc, payload }));
                }
                out.push(PeerAction::Joined { role, title });
            }
            Message::Waiting => out.push(PeerAction::WaitingForApproval),
            Message::Refused(reason) => out.push(PeerAction::Refused(reason)),
            Message::Sync { doc, payload } => self.sync(doc, &payload, out),
            Message::Resync { doc, state } => self.resync(doc, &state, out),
            Message::SyncPiece {
                doc,
                resync,
                payload,
                last,
            } => {
                let pieces = self.pieces.entry((doc, resync)).or_default();
                if pieces.len() + payload.len() > sync::MAX_LOCAL_STATE {
                    self.pieces.remove(&(doc, resync));
                    return out.push(PeerAction::Disconnect(format!(
                        "the hub sent over {} MiB for one document",
                        sync::MAX_LOCAL_STATE >> 20
                    )));
                }
                pieces.extend_from_slice(&payload);
                if last {
                    let whole = self.pieces.remove(&(doc, resync)).unwrap_or_default();
                    if resync {
                        self.resync(doc, &whole, out);
                    } else {
                        self.sync(doc, &whole, out);
                    }
                }
            }
            Message::Notice(Notice::Refused { doc, reason }) => {
                out.push(PeerAction::EditRefused { doc, reason })
            }
            Message::Notice(Notice::ChatDropped(reason)) => {
                out.push(PeerAction::ChatDropped(reason))
            }
            Message::Notice(Notice::ProtocolViolation(reason)) => {
                out.push(PeerAction::Disconnect(reason))
            }
            Message::Awareness { payload } => match crate::presence::decode(&payload) {
                Ok(clients) => out.push(PeerAction::Presence(
                    clients
                        .into_iter()
                        .map(|(client, _, state)| (client, state))
                        .collect(),
                )),
                Err(error) => out.push(PeerAction::Disconnect(error.to_string())),
            },
            Message::Control(Control::Participants(list)) => {
                // A change of one's own role is told to them, not only shown in the list.
                let mine = list.iter().find(|p| p.id == self.me).map(|p| p.role);
                if let (Some(role), Some(was)) = (mine, self.role) {
                    if role != was {
                        self.role = Some(role);
                        out.push(PeerAction::RoleChanged(role));
                    }
                }
                out.push(PeerAction::Participants(list))
            }
            Message::Control(Control::GivePen(holder)) => {
                self.pen = holder;
                out.push(PeerAction::Pen(holder));
            }
            Message::Control(Control::Follow { leader, binding }) => {
                out.push(PeerAction::Follow { leader, binding })
            }
            Message::Control(Control::LearnersChat(on)) => out.push(PeerAction::ChatAllowed(on)),
            Message::Control(Control::Hands(hands)) => out.push(PeerAction::Hands(hands)),
            Message::Control(_) => {}
            Message::Chat(line) => out.push(PeerAction::Chat(line)),
            Message::Run(report) => out.push(PeerAction::Run(report)),
            Message::Hello { .. } => out.push(PeerAction::Disconnect("the hub sent Hello".into())),
            // Only learners raise hands; from the hub it means nothing.
            Message::Hand { .. } => {}
        }
    }
}

/// Why a change too large to send was undone, for the person who made it.
fn too_large(bytes: usize) -> String {
    format!(
        "that change is {:.1} MB, and one change may be at most {} MB: it was undone, and your \
         copy of this document was reset to the instructor's",
        bytes as f64 / (1024.0 * 1024.0),
        MAX_UPDATE >> 20
    )
}
