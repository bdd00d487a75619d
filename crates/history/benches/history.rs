//! History on the hub, with real keystroke updates into a real SQLite file:
//!
//! - updates appended per second: one transaction per update through the `SessionRecorder`
//!   (what the hub does before relaying each update), and batched `append_updates`;
//! - the time to rebuild a document at an arbitrary moment of a 100,000-update session;
//! - the database size of one hour of a 30-learner class (each learner typing into their own
//!   workspace, the instructor on the board), per hour and per update.
//!
//! `cargo bench -p coderoom-history --bench history`

use std::path::Path;
use std::time::{Duration, Instant};

use coderoom_history::{History, NewSession, SessionId, SessionRecorder, Side};
use coderoom_protocol::{DocId, JoinSecret, PeerId, RoomId};
use coderoom_room::files;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use yrs::Doc;

const PROGRAM: &str = "def area(width, height):\n    total = width * height\n    if total > 100:\n        print(f\"big {total}\")\n    return total\n\nfor n in range(10):\n    print(area(n, n + 1))\n";

/// One person typing into one document: mostly characters of a program, now and then a
/// backspace, the way keystrokes reach the hub (one small update each).
struct Typist {
    doc: Doc,
    path: String,
    at: usize,
    rng: StdRng,
}

impl Typist {
    fn new(client: u64, path: &str) -> Self {
        Self {
            doc: files::new_doc(client),
            path: path.to_owned(),
            at: 0,
            rng: StdRng::seed_from_u64(client),
        }
    }

    /// The update one keystroke makes, captured as the room captures a learner's edit (only
    /// what this transaction inserted and deleted).
    fn keystroke(&mut self) -> Vec<u8> {
        let len = files::len(&self.doc, &self.path);
        let backspace = len > 0 && self.rng.random_ratio(1, 10);
        let key = PROGRAM.chars().nth(self.at % PROGRAM.len()).unwrap_or(' ');
        if !backspace {
            self.at += 1;
        }
        let path = self.path.clone();
        files::capture_edit(&self.doc, |doc| {
            if backspace {
                files::remove(doc, &path, len - 1, 1);
            } else {
                files::insert(doc, &path, len, &key.to_string());
            }
        })
        .unwrap_or_default()
    }
}

fn open_session(path: &Path) -> (History, SessionId) {
    let mut history = History::open(path).expect("open history");
    let session = history
        .begin_session(
            &NewSession {
                room: RoomId([7; 16]),
                title: "Bench".into(),
                side: Side::Hub,
                me: PeerId([1; 32]),
                secret: Some(JoinSecret([9; 32])),
                code: None,
                address: None,
            },
            0,
        )
        .expect("session");
    (history, session)
}

fn learner(n: usize) -> PeerId {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&(n as u64 + 2).to_le_bytes());
    PeerId(id)
}

/// A class's keystrokes in the order the hub receives them: `learners` typing into their own
/// workspaces at `keys_per_second` each, the instructor typing on the board at the same rate,
/// for `seconds`. Each entry: document, author, time, update.
fn class(
    learners: usize,
    keys_per_second: u32,
    seconds: u32,
) -> Vec<(DocId, Option<PeerId>, i64, Vec<u8>)> {
    let mut typists: Vec<(DocId, Option<PeerId>, Typist)> = (0..learners)
        .map(|n| {
            (
                DocId::Workspace(learner(n)),
                Some(learner(n)),
                Typist::new(n as u64 + 2, "main.py"),
            )
        })
        .collect();
    typists.push((DocId::Board, None, Typist::new(1, "lesson.py")));
    let interval_ms = 1000 / keys_per_second as i64;
    let mut out = Vec::with_capacity(typists.len() * (seconds * keys_per_second) as usize);
    let mut clock = 0i64;
    while clock < seconds as i64 * 1000 {
        for (n, (doc, author, typist)) in typists.iter_mut().enumerate() {
            let at = clock + (n as i64 * interval_ms) / 31;
            out.push((*doc, *author, at, typist.keystroke()));
        }
        clock += interval_ms;
    }
    out
}

fn per_second(count: usize, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

fn appends(dir: &Path) {
    let updates = class(30, 4, 200);
    let count = updates.len();

    let (history, session) = open_session(&dir.join("one-by-one.db"));
    let mut recorder = SessionRecorder::new(history, session).expect("recorder");
    let mut each = Vec::with_capacity(count);
    let started = Instant::now();
    for (doc, author, at, bytes) in &updates {
        let one = Instant::now();
        recorder.record(*doc, *author, *at, bytes).expect("record");
        each.push(one.elapsed());
    }
    let one_by_one = started.elapsed();
    each.sort();
    let us = |p: f64| each[((each.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e6;

    let mut batched = Vec::new();
    for batch in [10usize, 100, 1000] {
        let (mut history, session) = open_session(&dir.join(format!("batched-{batch}.db")));
        let started = Instant::now();
        for chunk in updates.chunks(batch) {
            history.append_updates(session, chunk).expect("append");
        }
        batched.push((batch, started.elapsed()));
    }

    println!("appending {count} keystroke updates (31 documents, real yrs updates):");
    println!(
        "  one transaction each, through SessionRecorder (mirror + snapshots): {:>9.0} updates/s",
        per_second(count, one_by_one)
    );
    println!(
        "    one update's commit (the hub holds its lock meanwhile): p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {:.0} µs",
        us(0.5),
        us(0.99),
        us(0.999),
        us(1.0)
    );
    for (batch, took) in batched {
        println!(
            "  append_updates, {batch:>4} per transaction:                             {:>9.0} updates/s",
            per_second(count, took)
        );
    }
}

fn rebuild(dir: &Path) {
    const UPDATES: usize = 100_000;
    // The worst case for one document: every update of the session is on it.
    let mut board = Typist::new(1, "lesson.py");
    let (history, session) = open_session(&dir.join("replay.db"));
    let mut recorder = SessionRecorder::new(history, session).expect("recorder");
    let mut live_lengths = Vec::with_capacity(UPDATES);
    for n in 0..UPDATES {
        let update = board.keystroke();
        recorder
            .record(DocId::Board, None, n as i64 * 10, &update)
            .expect("record");
        live_lengths.push(files::len(&board.doc, "lesson.py"));
    }
    let history = recorder.history();

    let mut rng = StdRng::seed_from_u64(5);
    let mut samples = Vec::new();
    for _ in 0..200 {
        let moment = rng.random_range(0..UPDATES);
        let started = Instant::now();
        let doc = history
            .state_at(session, DocId::Board, Some(moment as i64 * 10))
            .expect("replay");
        let text = files::read_all(&doc);
        samples.push(started.elapsed());
        let length = text.get("lesson.py").map_or(0, |t| t.chars().count());
        assert_eq!(length as u32, live_lengths[moment], "replay at {moment}");
    }
    let latest = Instant::now();
    history
        .state_at(session, DocId::Board, None)
        .expect("latest");
    let latest = latest.elapsed();

    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |p: f64| ms(samples[((samples.len() - 1) as f64 * p).round() as usize]);
    println!(
        "rebuilding one document of a {UPDATES}-update session at 200 random moments (text read, checked against the live length):"
    );
    println!(
        "  p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms   latest {:.2} ms",
        at(0.5),
        at(0.99),
        at(1.0),
        ms(latest)
    );
}

fn class_hour(dir: &Path) {
    const KEYS_PER_SECOND: u32 = 2;
    let path = dir.join("class-hour.db");
    let updates = class(30, KEYS_PER_SECOND, 3600);
    let count = updates.len();
    let (history, session) = open_session(&path);
    let mut recorder = SessionRecorder::new(history, session).expect("recorder");
    let started = Instant::now();
    for (doc, author, at, bytes) in &updates {
        recorder.record(*doc, *author, *at, bytes).expect("record");
    }
    let took = started.elapsed();
    recorder.finish().expect("finish");
    // Closing the last connection checkpoints the WAL into the database; count both anyway.
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal = path.with_extension("db-wal");
    let total = size(&path) + size(&wal);
    let update_bytes: usize = updates.iter().map(|u| u.3.len()).sum();
    println!(
        "one hour of a 30-learner class ({KEYS_PER_SECOND} keystrokes/s each, every learner and the instructor typing all hour):"
    );
    println!(
        "  {count} updates, {:.1} MB on disk ({:.0} bytes per update; the updates themselves {:.0} bytes each), recorded at {:.0} updates/s",
        total as f64 / 1e6,
        total as f64 / count as f64,
        update_bytes as f64 / count as f64,
        per_second(count, took)
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    appends(dir.path());
    rebuild(dir.path());
    class_hour(dir.path());
}
