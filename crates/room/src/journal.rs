//! Where a room's history goes: the hub writes each accepted update here before relaying it, and
//! a learner writes what its replicas take in. `coderoom-history` keeps it in SQLite.

use coderoom_protocol::{ChatLine, DocId, Participant, PeerId, RunReport};

/// A failed write, worded for the instructor.
pub type JournalError = String;

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

    /// A chat message, as relayed.
    fn chat(&mut self, _line: &ChatLine) -> Result<(), JournalError> {
        Ok(())
    }

    /// A step of a run (a learner's own, or one relayed by the hub).
    fn run(&mut self, _report: &RunReport) -> Result<(), JournalError> {
        Ok(())
    }
}
