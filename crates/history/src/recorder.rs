//! Recording a live session: each update is committed as it comes (the hub calls this before
//! relaying), and every [`SNAPSHOT_EVERY`] updates of a document its state is stored, so that
//! replaying any moment starts from a nearby snapshot.

use std::collections::{BTreeMap, BTreeSet};

use coderoom_protocol::{ChatLine, DocId, Participant, PeerId, RunReport, RunStep};
use coderoom_room::files::{self, full_state};
use coderoom_room::{Journal, JournalError, Rules, Standing};
use yrs::Doc;

use crate::store::{language_of, ChatRecord, History, RunRecord, SessionId, RUN_GOING};
use crate::{now_ms, HistoryError};

/// Updates of one document between snapshots.
pub const SNAPSHOT_EVERY: u32 = 500;

/// A document as history has it, to take snapshots from.
struct Mirror {
    doc: Doc,
    since_snapshot: u32,
    /// An update of it could not be written: the next snapshot (as soon as writes work again)
    /// carries it, so a room hosted again still has it.
    gap: bool,
}

impl Mirror {
    fn new(doc: Doc) -> Self {
        Self {
            doc,
            since_snapshot: 0,
            gap: false,
        }
    }
}

/// A run going on: its row, and what it has printed so far (written every
/// [`RUN_OUTPUT_SAVED_EVERY_MS`] while it runs, and when it ends).
struct GoingRun {
    row: i64,
    record: RunRecord,
    saved_at: i64,
}

/// How often a running program's output so far is written, so a crash keeps most of it.
const RUN_OUTPUT_SAVED_EVERY_MS: i64 = 1_000;

pub struct SessionRecorder {
    history: History,
    session: SessionId,
    mirrors: BTreeMap<DocId, Mirror>,
    languages: BTreeSet<String>,
    runs: BTreeMap<(PeerId, u64), GoingRun>,
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
            recorder.mirrors.insert(doc, Mirror::new(state));
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
        let mirror = self
            .mirrors
            .entry(doc)
            .or_insert_with(|| Mirror::new(files::new_doc(1)));
        // The hub has already checked and applied this update; the mirror takes it even if
        // the write fails, so the next snapshot covers it.
        let _ = files::apply_local(&mirror.doc, update);
        mirror.since_snapshot += 1;
        let id = match self
            .history
            .append_update(self.session, doc, author, at_ms, update)
        {
            Ok(id) => id,
            Err(error) => {
                mirror.gap = true;
                return Err(error);
            }
        };
        let first_since_snapshot = mirror.since_snapshot == 1;
        if mirror.since_snapshot >= SNAPSHOT_EVERY || mirror.gap {
            let state = full_state(&mirror.doc);
            self.history
                .put_snapshot(self.session, doc, id, at_ms, &state, false)?;
            if let Some(mirror) = self.mirrors.get_mut(&doc) {
                mirror.since_snapshot = 0;
                mirror.gap = false;
            }
            self.note_languages(doc)?;
        } else if first_since_snapshot {
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
        let fresh = files::new_doc(1);
        let _ = files::apply_local(&fresh, state);
        self.mirrors.insert(doc, Mirror::new(fresh));
        self.note_languages(doc)
    }

    fn note_languages(&mut self, doc: DocId) -> Result<(), HistoryError> {
        let Some(mirror) = self.mirrors.get(&doc) else {
            return Ok(());
        };
        let before = self.languages.len();
        for path in files::read_all(&mirror.doc).keys() {
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

    /// Ends the session: runs still going are written as cut short, each document changed
    /// since its last snapshot gets one, and the session is marked ended.
    pub fn finish(mut self) -> Result<(), HistoryError> {
        self.finish_in_place()
    }

    fn finish_in_place(&mut self) -> Result<(), HistoryError> {
        let going: Vec<_> = self.runs.keys().copied().collect();
        for run in going {
            self.end_run(run, "the session ended before the run did".into(), None)?;
        }
        let at = now_ms();
        let upto = self.history.last_update_id()?;
        let docs: Vec<DocId> = self.mirrors.keys().copied().collect();
        for doc in docs {
            if let Some(mirror) = self.mirrors.get_mut(&doc) {
                if mirror.since_snapshot > 0 || mirror.gap {
                    let state = full_state(&mirror.doc);
                    mirror.since_snapshot = 0;
                    mirror.gap = false;
                    self.history
                        .put_snapshot(self.session, doc, upto, at, &state, false)?;
                }
            }
            self.note_languages(doc)?;
        }
        self.history.end_session(self.session, at)
    }
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

    fn finish(&mut self) -> Result<(), JournalError> {
        self.finish_in_place().map_err(|error| error.to_string())
    }

    fn rules(&mut self, rules: &Rules) -> Result<(), JournalError> {
        self.history
            .set_rules(self.session, rules, now_ms())
            .map_err(|error| error.to_string())
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
        self.record_run_step(report)
            .map_err(|error| error.to_string())
    }
}

/// Runs started and not yet ended that a recorder keeps in memory (a hub lets each participant
/// have 8 going); past this, the oldest is written as it stands.
const MAX_RUNS_GOING: usize = 512;

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
    /// A step of a run: its row is written when it starts (so a crash still shows it ran) and
    /// completed when it ends.
    fn record_run_step(&mut self, report: &RunReport) -> Result<(), HistoryError> {
        let key = (report.by, report.run);
        match &report.step {
            RunStep::Started {
                doc,
                path,
                runtime,
                files_hash,
            } => {
                if self.runs.len() >= MAX_RUNS_GOING {
                    let oldest = self
                        .runs
                        .iter()
                        .min_by_key(|(_, run)| run.record.started_ms)
                        .map(|(key, _)| *key);
                    if let Some(oldest) = oldest {
                        self.end_run(oldest, "no end was reported".into(), None)?;
                    }
                }
                let record = RunRecord {
                    author: Some(report.by),
                    doc: Some(*doc),
                    path: path.clone(),
                    runtime: runtime.clone(),
                    files_hash: files_hash.clone(),
                    output: String::new(),
                    outcome: RUN_GOING.into(),
                    started_ms: now_ms(),
                    wall_ms: 0,
                    cpu_ms: None,
                    peak_kib: None,
                };
                let row = self.history.record_run(self.session, &record)?;
                // The first output is written at once, later output at most once a second.
                let saved_at = i64::MIN / 2;
                self.runs.insert(
                    key,
                    GoingRun {
                        row,
                        record,
                        saved_at,
                    },
                );
                Ok(())
            }
            RunStep::Output { text, .. } => {
                let Some(run) = self.runs.get_mut(&key) else {
                    return Ok(());
                };
                let before = run.record.output.len();
                keep_output(&mut run.record.output, text);
                let grew = run.record.output.len() > before;
                let now = now_ms();
                if grew && now - run.saved_at >= RUN_OUTPUT_SAVED_EVERY_MS {
                    run.saved_at = now;
                    self.history.update_run(run.row, &run.record)?;
                }
                Ok(())
            }
            RunStep::Ended {
                outcome,
                wall_ms,
                cpu_ms,
                peak_kib,
            } => self.end_run(key, outcome.clone(), Some((*wall_ms, *cpu_ms, *peak_kib))),
        }
    }

    fn end_run(
        &mut self,
        key: (PeerId, u64),
        outcome: String,
        timings: Option<(u64, Option<u64>, Option<u64>)>,
    ) -> Result<(), HistoryError> {
        let Some(GoingRun {
            row, mut record, ..
        }) = self.runs.remove(&key)
        else {
            return Ok(());
        };
        record.outcome = outcome;
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        match timings {
            Some((wall, cpu, peak)) => {
                record.wall_ms = clamp(wall);
                record.cpu_ms = cpu.map(clamp);
                record.peak_kib = peak.map(clamp);
            }
            None => record.wall_ms = now_ms().saturating_sub(record.started_ms),
        }
        self.history.update_run(row, &record)
    }
}
