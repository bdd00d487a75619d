//! Coderoom's wire protocol: every message between a peer and the hub, defined once with serde;
//! length-prefixed frames with a hard size cap checked before anything is allocated; and the
//! join ticket. Document contents travel as y-sync messages (`yrs::sync`), opaque here.

mod frame;
mod message;
mod ticket;

pub use frame::{decode, encode, frame_length, FRAME_HEADER, MAX_FRAME};
pub use message::{
    Control, Credential, DocId, JoinSecret, Message, Notice, Participant, PeerId, Refusal, Role,
    RoomId,
};
pub use ticket::Ticket;

/// The ALPN Coderoom speaks on iroh; the number changes with incompatible wire changes.
pub const ALPN: &[u8] = b"coderoom/1";

/// Sent in `Hello`; a hub refuses other versions with a readable reason.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest yrs update the hub will decode (a learner's whole workspace fits many times).
pub const MAX_UPDATE: usize = 2 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("frame of {0} bytes is over the {MAX_FRAME}-byte limit")]
    FrameTooLarge(usize),
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("not a Coderoom ticket: {0}")]
    BadTicket(String),
}
