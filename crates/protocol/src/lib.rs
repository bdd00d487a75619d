//! Coderoom's wire protocol: every message between a peer and the hub, defined once with serde;
//! length-prefixed frames with a hard size cap checked before anything is allocated; and the
//! join ticket. Document contents travel as y-sync messages (`yrs::sync`), opaque here.

mod frame;
mod message;
pub mod screen;
mod ticket;

pub use frame::{decode, encode, frame_length, FRAME_HEADER, MAX_FRAME};
pub use message::{
    ChatLine, Control, Credential, DocId, JoinSecret, Message, Notice, Participant, PeerId,
    Refusal, Role, RoomId, RunReport, RunStep,
};
pub use ticket::Ticket;

/// The ALPN Coderoom speaks on iroh; the number changes with incompatible wire changes.
pub const ALPN: &[u8] = b"coderoom/1";

/// Sent in `Hello`; a hub refuses other versions with a readable reason. (3: `SyncPiece`.)
pub const PROTOCOL_VERSION: u32 = 4;

/// The most of a large `Sync` or `Resync` the hub puts in one `SyncPiece`.
pub const PIECE: usize = 1024 * 1024;

/// The largest yrs update the hub will decode (a learner's whole workspace fits many times).
pub const MAX_UPDATE: usize = 2 * 1024 * 1024;

/// The longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 2_000;

/// The most text one `RunStep::Output` may carry, in bytes (runners send output in chunks).
pub const MAX_RUN_OUTPUT: usize = 64 * 1024;

/// Runs one participant may have going at once (a hub remembers which document each is from;
/// a new run past this ends the oldest).
pub const MAX_OPEN_RUNS: usize = 8;

/// The most output of one run a hub relays and records (a runner stops a program at this).
pub const MAX_RUN_OUTPUT_TOTAL: usize = 1024 * 1024;

/// Chat messages one participant may send in [`CHAT_WINDOW_MS`]; more are dropped, with a notice.
pub const CHAT_PER_WINDOW: u32 = 10;
pub const CHAT_WINDOW_MS: u64 = 10_000;

/// Presence clients one connection may announce (a window has one per open editor at most).
pub const MAX_PRESENCE_CLIENTS: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("frame of {0} bytes is over the {MAX_FRAME}-byte limit")]
    FrameTooLarge(usize),
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("not a Coderoom ticket: {0}")]
    BadTicket(String),
}
