//! Recording a live session: each update is committed as it comes (the hub calls this before
//! relaying), and every [`SNAPSHOT_EVERY`] updates of a document its state is stored, so that
//! replaying any moment starts from a nearby snapshot.

use std::collections::{BTreeMap, BTreeSet};

use coderoom_protocol::{ChatLine, DocId, Participant, PeerId, RunReport, RunStep};
use coderoom_room::{Journal, JournalError, Standing};
use yrs::{Doc, ReadTxn, StateVector, Transact};

use crate::store::{apply, language_of, ChatRecord, History, RunRecord, SessionId};
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
    /// Runs going on: what they have printed so far, written when they end.
    runs: BTreeMap<(PeerId, u64), RunRecord>,
}

impl SessionRecorder {
    /// Records into `session` (new, or reopened: its documents are read back as they stand).
    pub fn new(mut history: History, session: SessionId) -> Result<Self, HistoryError> {
        history.checkpoint_in_background()?;
        let mut recorder = Self {
            history,
            session,
            mirrors: BTreeMap::new(),
            languages: BTreeSet::new(),
            runs: BTreeMap::new(),
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
        let going: Vec<_> = self.runs.keys().copied().collect();
        for run in going {
            self.end_run(run, "the session ended before the run did".into(), None)?;
        }
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

    fn standing(&mut self, standing: &Standing) -> Result<(), JournalError> {
        self.history
            .set_standing(self.session, standing, now_ms())
            .map_err(|error| error.to_string())
    }

    fn chat(&mut self, line: &ChatLine) -> Result<(), JournalError> {
        let record = ChatRecord {
            author: line.from,
            name: line.name.clone(),
            at_ms: now_ms(),
            text: line.text.clone(),
        };
        self.history
            .record_chat(self.session, &record)
            .map(|_| ())
            .map_err(|error| error.to_string())
    }

    fn run(&mut self, report: &RunReport) -> Result<(), JournalError> {
        let key = (report.by, report.run);
        match &report.step {
            RunStep::Started {
                doc,
                path,
                runtime,
                files_hash,
            } => {
                if self.runs.len() >= MAX_RUNS_GOING {
                    // Runs whose end never came (their runner went away): keep what they said.
                    let stale: Vec<_> = self.runs.keys().copied().collect();
                    for key in stale {
                        self.end_run(key, "no end was reported".into(), None)
                            .map_err(|error| error.to_string())?;
                    }
                }
                self.runs.insert(
                    key,
                    RunRecord {
                        author: Some(report.by),
                        doc: Some(*doc),
                        path: path.clone(),
                        runtime: runtime.clone(),
                        files_hash: files_hash.clone(),
                        output: String::new(),
                        outcome: String::new(),
                        started_ms: now_ms(),
                        wall_ms: 0,
                        cpu_ms: None,
                        peak_kib: None,
                    },
                );
                Ok(())
            }
            RunStep::Output { text, .. } => {
                if let Some(run) = self.runs.get_mut(&key) {
                    keep_output(&mut run.output, text);
                }
                Ok(())
            }
            RunStep::Ended {
                outcome,
                wall_ms,
                cpu_ms,
                peak_kib,
            } => self
                .end_run(key, outcome.clone(), Some((*wall_ms, *cpu_ms, *peak_kib)))
                .map_err(|error| error.to_string()),
        }
    }
}

/// Runs started and not yet ended that a recorder keeps in memory; past this, the oldest are
/// written as they stand.
const MAX_RUNS_GOING: usize = 64;

/// The most output kept per run (the runner caps what a program may print at the same size).
pub const MAX_RUN_OUTPUT_KEPT: usize = 1024 * 1024;

fn keep_output(output: &mut String, text: &str) {
    let room = MAX_RUN_OUTPUT_KEPT.saturating_sub(output.len());
    if text.len() <= room {
        output.push_str(text);
        return;
    }
    let mut cut = room;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    output.push_str(&text[..cut]);
}

impl SessionRecorder {
    fn end_run(
        &mut self,
        key: (PeerId, u64),
        outcome: String,
        timings: Option<(u64, Option<u64>, Option<u64>)>,
    ) -> Result<(), HistoryError> {
        let Some(mut run) = self.runs.remove(&key) else {
            return Ok(());
        };
        run.outcome = outcome;
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        match timings {
            Some((wall, cpu, peak)) => {
                run.wall_ms = clamp(wall);
                run.cpu_ms = cpu.map(clamp);
                run.peak_kib = peak.map(clamp);
            }
            None => run.wall_ms = now_ms().saturating_sub(run.started_ms),
        }
        self.history.record_run(self.session, &run).map(|_| ())
    }
}
