//! Every message of the protocol, once.

use serde::{Deserialize, Serialize};

/// A peer's identity on the wire: its iroh endpoint id (an ed25519 public key), which QUIC has
/// already authenticated when a message arrives.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PeerId(pub [u8; 32]);

impl std::fmt::Debug for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for byte in &self.0[..5] {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RoomId(pub [u8; 16]);

/// The 256-bit secret in a ticket. Compared in constant time by the hub.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinSecret(pub [u8; 32]);

impl std::fmt::Debug for JoinSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinSecret(…)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Instructor,
    Learner,
    Observer,
}

/// A document of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DocId {
    /// The files the instructor presents.
    Board,
    /// One learner's own files.
    Workspace(PeerId),
}

/// How a joining peer proves it may enter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Credential {
    Secret(JoinSecret),
    /// The short numeric code the instructor reads out (nearby rooms).
    Code(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub id: PeerId,
    pub name: String,
    pub colour: String,
    pub role: Role,
    pub online: bool,
}

/// Why a hub turned a peer away; each is shown to the learner as it is worded here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    WrongRoom,
    WrongSecret,
    WrongCode,
    TooManyAttempts {
        retry_after_secs: u32,
    },
    Locked,
    Removed,
    Denied,
    VersionMismatch {
        hub: u32,
    },
    BadName,
    /// Too many wrong codes reached the room (from anyone): code joins wait for the instructor.
    CodeJoinsPaused,
    /// The instructor ended the class: nothing to reconnect to.
    ClassEnded,
    /// Someone in the room already has this name.
    NameTaken,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::WrongRoom => {
                f.write_str("this ticket is for another room (or an old session of this one)")
            }
            Refusal::WrongSecret => {
                f.write_str("the ticket's secret does not match: ask for a fresh ticket")
            }
            Refusal::WrongCode => f.write_str("wrong room code"),
            Refusal::TooManyAttempts { retry_after_secs } => {
                write!(f, "too many wrong codes: try again in {retry_after_secs} s")
            }
            Refusal::Locked => f.write_str("the room is locked to newcomers"),
            Refusal::Removed => f.write_str("the instructor removed you from this room"),
            Refusal::Denied => f.write_str("the instructor did not let you in"),
            Refusal::VersionMismatch { hub } => {
                write!(
                    f,
                    "the instructor runs another version of Coderoom (protocol {hub})"
                )
            }
            Refusal::BadName => f.write_str(
                "a name of 1 to 40 printable characters, other than the instructor's, is needed",
            ),
            Refusal::ClassEnded => f.write_str("the instructor ended the class"),
            Refusal::NameTaken => f.write_str(
                "someone in the room already has this name: add an initial or a surname",
            ),
            Refusal::CodeJoinsPaused => f.write_str(
                "joining with the room code is paused after too many wrong codes: ask the \
                 instructor for the ticket, or to allow code joins again",
            ),
        }
    }
}

/// Instructor actions (sent to the hub) and their effects (sent by the hub).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Control {
    RequireApproval(bool),
    Lock(bool),
    Approve(PeerId),
    Deny(PeerId),
    Remove(PeerId),
    SetRole(PeerId, Role),
    /// Who may write the board besides the instructor.
    GivePen(Option<PeerId>),
    /// Follow `leader`; `binding` is lecture mode: learners cannot leave it.
    Follow {
        leader: Option<PeerId>,
        binding: bool,
    },
    /// From the hub: everyone in the room, after any change.
    Participants(Vec<Participant>),
    /// From the hub to the instructor: someone waits for approval.
    JoinRequest(Participant),
    /// Joining with the room code works again after a pause for too many wrong codes.
    AllowCodeJoins,
    /// Whether newcomers joining with the room code (not the ticket) wait for approval: a
    /// second factor for a room on a LAN with strangers.
    CodeJoinsNeedApproval(bool),
    /// The class is over: everyone is told and no one is let in any more.
    EndClass,
    /// Whether learners and observers may write in the chat (the instructor always may); the
    /// hub tells everyone when it changes and each newcomer.
    LearnersChat(bool),
    /// From the hub: whose hands are raised ("I'm stuck"), after any change.
    Hands(Vec<PeerId>),
    /// The instructor lowers someone's raised hand (when helping them).
    LowerHand(PeerId),
}

/// Something the hub tells one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notice {
    /// An update of yours was refused and dropped; `Resync` follows.
    Refused { doc: DocId, reason: String },
    /// Your frame could not be used; the connection closes.
    ProtocolViolation(String),
    /// A chat message of yours was not relayed (you are writing too fast).
    ChatDropped(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// First frame from a peer.
    Hello {
        protocol_version: u32,
        room: RoomId,
        credential: Credential,
        name: String,
        colour: String,
    },
    /// The hub lets the peer in.
    Welcome {
        you: PeerId,
        role: Role,
        title: String,
        /// The documents the peer may read (and so will be synced).
        docs: Vec<DocId>,
        /// Those of them the peer may write now. A replica of any other one is replaced by the
        /// hub's copy, dropping edits made without the right to make them.
        writable: Vec<DocId>,
    },
    /// The hub waits for the instructor's approval.
    Waiting,
    Refused(Refusal),
    /// A y-sync message (`yrs::sync::Message`, v1 encoding) for one document.
    Sync {
        doc: DocId,
        payload: Vec<u8>,
    },
    /// The hub's whole state of a document: replace your replica with it (after a refusal, or
    /// when you may newly read it).
    Resync {
        doc: DocId,
        state: Vec<u8>,
    },
    /// A y-sync awareness update (presence: name, colour, role, open file, cursor, selection).
    Awareness {
        payload: Vec<u8>,
    },
    Control(Control),
    Notice(Notice),
    /// A chat message: from a peer only `text` counts; the hub fills in who sent it and relays
    /// it to everyone in the room (the sender too).
    Chat(ChatLine),
    /// A step of a program run on a participant's own machine: the hub records it and relays
    /// it to whoever may read the document it ran from.
    Run(RunReport),
    /// A piece of a `Sync` payload (or, with `resync`, of a `Resync` state) too large for one
    /// frame: the hub sends a large document in order, in pieces of at most [`PIECE`] bytes; the
    /// peer takes the whole once `last` comes (at most 64 MiB).
    ///
    /// [`PIECE`]: crate::PIECE
    SyncPiece {
        doc: DocId,
        resync: bool,
        payload: Vec<u8>,
        last: bool,
    },
    /// A learner raises (or lowers) their own hand: "I'm stuck".
    Hand {
        raised: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLine {
    pub from: PeerId,
    pub name: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// Who ran it (filled in by the hub).
    pub by: PeerId,
    /// The runner's number for this run, unique per participant while it runs.
    pub run: u64,
    pub step: RunStep,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStep {
    Started {
        doc: DocId,
        path: String,
        /// The runtime and its version, e.g. "python3 3.11.2".
        runtime: String,
        /// A hash of the files the run saw.
        files_hash: String,
    },
    Output {
        stderr: bool,
        text: String,
    },
    Ended {
        /// How it ended, in words ("exited with 0", "killed: out of memory", ...).
        outcome: String,
        wall_ms: u64,
        cpu_ms: Option<u64>,
        peak_kib: Option<u64>,
    },
}
