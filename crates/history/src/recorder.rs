//! Recording a live session: each update is committed as it comes (the hub calls this before
//! relaying), and every [`SNAPSHOT_EVERY`] updates of a document its state is stored, so that
//! replaying any moment starts from a nearby snapshot.

use std::collections::{BTreeMap, BTreeSet};

use coderoom_protocol::{DocId, Participant, PeerId};
use coderoom_room::{Journal, JournalError};
use yrs::{Doc, ReadTxn, StateVector, Transact};

use crate::store::{apply, language_of, History, SessionId};
use crate::{now_ms, HistoryError};

/// Updates of one document between snapshots.
pub const SNAPSHOT_EVERY: u32 = 500;

/// A document as history has it, to take snapshots from.
struct Mirror {
    doc: Doc,
    since_snapshot: u32,
}

pub struct SessionRecorder {
    history: History,
    session: SessionId,
    mirrors: BTreeMap<DocId, Mirror>,
    languages: BTreeSet<String>,
}

impl SessionRecorder {
    /// Records into `session` (new, or reopened: its documents are read back as they stand).
    pub fn new(history: History, session: SessionId) -> Result<Self, HistoryError> {
        let mut recorder = Self {
            history,
            session,
            mirrors: BTreeMap::new(),
            languages: BTreeSet::new(),
        };
        recorder.languages = recorder
            .history
            .session(session)?
            .languages
            .into_iter()
            .collect();
        for doc in recorder.history.documents(session)? {
            let state = recorder.history.state_at(session, doc, None)?;
            recorder.mirrors.insert(
                doc,
                Mirror {
                    doc: state,
                    since_snapshot: 0,
                },
            );
        }
        Ok(recorder)
    }

    pub fn session(&self) -> SessionId {
        self.session
    }

    pub fn history(&mut self) -> &mut History {
        &mut self.history
    }

    /// The session's documents as recorded: what a hub hosting it again starts from.
    pub fn states(&self) -> Vec<(DocId, Vec<u8>)> {
        self.mirrors
            .iter()
            .map(|(id, mirror)| (*id, full_state(&mirror.doc)))
            .collect()
    }

    /// Commits one update (durable when this returns), then keeps the mirror and snapshots.
    pub fn record(
        &mut self,
        doc: DocId,
        author: Option<PeerId>,
        at_ms: i64,
        update: &[u8],
    ) -> Result<i64, HistoryError> {
        let id = self
            .history
            .append_update(self.session, doc, author, at_ms, update)?;
        let mirror = self.mirrors.entry(doc).or_insert_with(|| Mirror {
            doc: coderoom_room::files::new_doc(1),
            since_snapshot: 0,
        });
        // The hub has already checked and applied this update; a failure here would only
        // cost a snapshot, never the update itself.
        let _ = apply(&mirror.doc, update);
        mirror.since_snapshot += 1;
        if mirror.since_snapshot >= SNAPSHOT_EVERY {
            mirror.since_snapshot = 0;
            let state = full_state(&mirror.doc);
            self.history
                .put_snapshot(self.session, doc, id, at_ms, &state, false)?;
            self.note_languages(doc)?;
        }
        Ok(id)
    }

    /// `doc` starts again from `state` (a learner's replica reset to the hub's).
    pub fn record_reset(
        &mut self,
        doc: DocId,
        at_ms: i64,
        state: &[u8],
    ) -> Result<(), HistoryError> {
        let upto = self.history.last_update_id()?;
        self.history
            .put_snapshot(self.session, doc, upto, at_ms, state, true)?;
        let fresh = coderoom_room::files::new_doc(1);
        let _ = apply(&fresh, state);
        self.mirrors.insert(
            doc,
            Mirror {
                doc: fresh,
                since_snapshot: 0,
            },
        );
        self.note_languages(doc)
    }

    fn note_languages(&mut self, doc: DocId) -> Result<(), HistoryError> {
        let Some(mirror) = self.mirrors.get(&doc) else {
            return Ok(());
        };
        let before = self.languages.len();
        for path in coderoom_room::files::read_all(&mirror.doc).keys() {
            if let Some(language) = language_of(path) {
                self.languages.insert(language.to_owned());
            }
        }
        if self.languages.len() != before {
            let list: Vec<String> = self.languages.iter().cloned().collect();
            self.history.set_languages(self.session, &list)?;
        }
        Ok(())
    }

    /// Ends the session: a last snapshot of each document changed since the previous one.
    pub fn finish(mut self) -> Result<(), HistoryError> {
        let at = now_ms();
        let upto = self.history.last_update_id()?;
        let docs: Vec<DocId> = self.mirrors.keys().copied().collect();
        for doc in docs {
            if let Some(mirror) = self.mirrors.get(&doc) {
                if mirror.since_snapshot > 0 {
                    let state = full_state(&mirror.doc);
                    self.history
                        .put_snapshot(self.session, doc, upto, at, &state, false)?;
                }
            }
            self.note_languages(doc)?;
        }
        self.history.end_session(self.session, at)
    }
}

fn full_state(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

impl Journal for SessionRecorder {
    fn update(
        &mut self,
        doc: DocId,
        author: Option<PeerId>,
        update: &[u8],
    ) -> Result<(), JournalError> {
        self.record(doc, author, now_ms(), update)
            .map(|_| ())
            .map_err(|error| error.to_string())
    }

    fn reset(&mut self, doc: DocId, state: &[u8]) -> Result<(), JournalError> {
        self.record_reset(doc, now_ms(), state)
            .map_err(|error| error.to_string())
    }

    fn joined(&mut self, who: &Participant) {
        let _ = self.history.joined(self.session, who, now_ms());
    }

    fn left(&mut self, who: PeerId) {
        let _ = self.history.left(self.session, who, now_ms());
    }
}
