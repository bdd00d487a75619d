//! Rooms: a set of yrs documents (the board, one workspace per learner) kept in sync between
//! learners and the instructor's hub over iroh QUIC, with roles the hub enforces, admission,
//! and presence.
//!
//! The hub's and the peer's logic live in an IO-less core ([`core`]): events in, actions out,
//! time passed in. [`net`] moves frames between iroh connections and that core.

pub mod core;
pub mod files;
pub mod journal;
#[cfg(feature = "net")]
pub mod net;
pub mod presence;
pub mod queue;

pub use core::hub::{HubAction, HubCore, HubEvent, RoomSettings};
pub use core::peer::{PeerAction, PeerCore, PeerEvent};
pub use journal::{Journal, JournalError, Rules, Standing};

#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error("{0}")]
    Protocol(#[from] coderoom_protocol::ProtocolError),
    #[error("invalid document update: {0}")]
    BadUpdate(String),
    /// A well-made update that needs edits the document does not have yet.
    #[error("document update out of order: {0}")]
    Incomplete(String),
    #[error("network: {0}")]
    Network(String),
    #[error("identity key {path}: {reason}")]
    Identity { path: String, reason: String },
    #[error("the hub refused: {0}")]
    Refused(coderoom_protocol::Refusal),
    /// The hub did not answer at all.
    #[error("{0}")]
    Unreachable(String),
}
