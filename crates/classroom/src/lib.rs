//! One class as this laptop sees it, shared by the app and the CLI so both behave alike: host
//! a class (new, or again from history with the same ticket) or join one (a ticket, a room
//! nearby, or back with one's own offline edits), the profile asked once, recent sessions, the
//! rules for file names, and the words that tell a teacher or a learner what happened.

pub mod class;
pub mod errors;
pub mod folder;
pub mod hosting;
pub mod joining;
pub mod names;
pub mod profile;
pub mod recent;
pub mod running;
pub mod words;

pub use class::{Class, ClassEvent, Connection};
pub use hosting::{HostPlan, Hosting};
pub use names::check_file_path;
pub use profile::Profile;

#[derive(Debug, thiserror::Error)]
pub enum ClassError {
    #[error("{0}")]
    Room(#[from] coderoom_room::RoomError),
    #[error("{0}")]
    History(#[from] coderoom_history::HistoryError),
    #[error("{0}")]
    Paths(#[from] coderoom_paths::PathsError),
    #[error("{0}")]
    Protocol(#[from] coderoom_protocol::ProtocolError),
    /// Something the user asked for that cannot be done, said in their words.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    File(String),
}
