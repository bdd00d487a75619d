//! Where a room's history goes: the hub writes each accepted update here before relaying it, and
//! a learner writes what its replicas take in. `coderoom-history` keeps it in SQLite.

use coderoom_protocol::{ChatLine, DocId, Participant, PeerId, Role, RunReport};

/// A failed write, worded for the instructor.
pub type JournalError = String;

/// Where a participant stands, as the instructor last set it: kept so that a room hosted again
/// after a crash still knows who was made an observer and who was removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub peer: PeerId,
    pub role: Role,
    pub removed: bool,
}

/// The room's rules as the instructor last set them, kept for a room hosted again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rules {
    /// Newcomers wait for the instructor's approval.
    pub approval_required: bool,
    /// No newcomers at all.
    pub locked: bool,
    /// Who besides the instructor may write the board.
    pub pen: Option<PeerId>,
}

pub trait Journal: Send {
    /// An update to `doc`: accepted by the hub (called before it is relayed), or taken into a
    /// learner's replica. `author` is who made it, when known.
    fn update(
        &mut self,
        doc: DocId,
        author: Option<PeerId>,
        update: &[u8],
    ) -> Result<(), JournalError>;

    /// `doc` starts again from `state` (a learner's replica reset to the hub's copy).
    fn reset(&mut self, _doc: DocId, _state: &[u8]) -> Result<(), JournalError> {
        Ok(())
    }

    /// Someone joined (hub side).
    fn joined(&mut self, _who: &Participant) {}

    /// Someone's connection ended (hub side).
    fn left(&mut self, _who: PeerId) {}

    /// The room is closing: write whatever is still held (runs going, last snapshots) and mark
    /// the session ended.
    fn finish(&mut self) -> Result<(), JournalError> {
        Ok(())
    }

    /// The instructor changed the room's rules (hub side).
    fn rules(&mut self, _rules: &Rules) -> Result<(), JournalError> {
        Ok(())
    }

    /// The instructor changed someone's role or removed them (hub side).
    fn standing(&mut self, _standing: &Standing) -> Result<(), JournalError> {
        Ok(())
    }

    /// A chat message, as relayed.
    fn chat(&mut self, _line: &ChatLine) -> Result<(), JournalError> {
        Ok(())
    }

    /// A step of a run (a learner's own, or one relayed by the hub).
    fn run(&mut self, _report: &RunReport) -> Result<(), JournalError> {
        Ok(())
    }
}
