//! Round trips on real SQLite files: sessions, participants, updates, snapshots, replay at any
//! moment, runs, chat, export, and files that must be refused and left untouched.

use std::collections::BTreeMap;

use coderoom_history::{
    ChatRecord, History, HistoryError, NewSession, RunRecord, SessionId, SessionRecorder, Side,
    SNAPSHOT_EVERY,
};
use coderoom_protocol::{DocId, JoinSecret, Participant, PeerId, Role, RoomId};
use coderoom_room::files;
use yrs::{Doc, ReadTxn, StateVector, Transact};

fn new_session(side: Side) -> NewSession {
    NewSession {
        room: RoomId([7; 16]),
        title: "Loops".into(),
        side,
        me: PeerId([1; 32]),
        secret: Some(JoinSecret([9; 32])),
        code: Some("123456".into()),
        address: Some("127.0.0.1:4000".into()),
    }
}

fn ada() -> Participant {
    Participant {
        id: PeerId([2; 32]),
        name: "Ada".into(),
        colour: "#f00".into(),
        role: Role::Learner,
        online: true,
    }
}

/// An edit on `doc` and the update it made.
fn edit(doc: &Doc, path: &str, text: &str) -> Vec<u8> {
    let before = doc.transact().state_vector();
    files::insert(doc, path, u32::MAX, text);
    doc.transact().encode_state_as_update_v1(&before)
}

/// A new history file (`h.db` in a temp dir kept alive by the first value) with one session.
fn fresh(side: Side) -> (tempfile::TempDir, History, SessionId) {
    let dir = tempfile::tempdir().expect("dir");
    let mut history = History::open(&dir.path().join("h.db")).expect("open");
    let id = history
        .begin_session(&new_session(side), 0)
        .expect("session");
    (dir, history, id)
}

fn state(doc: &Doc) -> BTreeMap<String, String> {
    files::read_all(doc)
}

#[test]
fn a_session_round_trips_with_participants_runs_and_chat() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("history.db");
    let id;
    {
        let mut history = History::open(&path).expect("open");
        id = history
            .begin_session(&new_session(Side::Hub), 1_000)
            .expect("session");
        history.joined(id, &ada(), 2_000).expect("joined");
        history.left(id, ada().id, 3_000).expect("left");
        history.joined(id, &ada(), 4_000).expect("back");
        history
            .record_run(
                id,
                &RunRecord {
                    author: Some(ada().id),
                    doc: Some(DocId::Workspace(ada().id)),
                    path: "main.py".into(),
                    runtime: "python3 3.11".into(),
                    files_hash: "abc".into(),
                    output: "hello\n".into(),
                    outcome: "exited 0".into(),
                    started_ms: 5_000,
                    wall_ms: 40,
                    cpu_ms: Some(20),
                    peak_kib: Some(9_000),
                },
            )
            .expect("run");
        history
            .record_chat(
                id,
                &ChatRecord {
                    author: ada().id,
                    name: "Ada".into(),
                    at_ms: 6_000,
                    text: "done!".into(),
                },
            )
            .expect("chat");
        history.end_session(id, 7_000).expect("end");
    }
    let history = History::open(&path).expect("reopen");
    let info = history.session(id).expect("info");
    assert_eq!(info.title, "Loops");
    assert_eq!(info.side, Side::Hub);
    assert_eq!(info.secret, Some(JoinSecret([9; 32])));
    assert_eq!(info.address.as_deref(), Some("127.0.0.1:4000"));
    assert_eq!((info.started_ms, info.ended_ms), (1_000, Some(7_000)));
    let stays = history.participants(id).expect("participants");
    assert_eq!(stays.len(), 2);
    assert_eq!(
        (stays[0].joined_ms, stays[0].left_ms, stays[1].left_ms),
        (2_000, Some(3_000), None)
    );
    let runs = history.runs(id).expect("runs");
    assert_eq!(runs[0].output, "hello\n");
    assert_eq!(runs[0].doc, Some(DocId::Workspace(ada().id)));
    assert_eq!(history.chat(id).expect("chat")[0].text, "done!");
    let list = history.sessions().expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].participants, vec!["Ada".to_owned()]);
    assert!(matches!(
        history.session(SessionId(99)),
        Err(HistoryError::NoSession(99))
    ));
}

#[test]
fn replay_equals_the_live_document_at_sampled_moments() {
    let (_dir, history, id) = fresh(Side::Hub);
    let mut recorder = SessionRecorder::new(history, id).expect("recorder");
    let live_board = files::new_doc(10);
    let live_work = files::new_doc(11);
    let work = DocId::Workspace(ada().id);
    let mut samples = Vec::new();
    // Enough updates to cross several snapshots, two documents interleaved, with deletions.
    let total = SNAPSHOT_EVERY as i64 * 3 + 17;
    for step in 0..total {
        let at = 1_000 + step * 10;
        let (doc, live) = if step % 3 == 0 {
            (DocId::Board, &live_board)
        } else {
            (work, &live_work)
        };
        let update = if step % 50 == 49 {
            let before = live.transact().state_vector();
            files::remove(live, "main.py", 0, 3);
            live.transact().encode_state_as_update_v1(&before)
        } else {
            edit(live, "main.py", &format!("{}", step % 10))
        };
        recorder
            .record(doc, Some(ada().id), at, &update)
            .expect("record");
        if step % 97 == 0 || step == total - 1 {
            samples.push((at, state(&live_board), state(&live_work)));
        }
    }
    let history = recorder.history();
    for (at, board, workspace) in &samples {
        let replayed = history
            .state_at(id, DocId::Board, Some(*at))
            .expect("board");
        assert_eq!(&state(&replayed), board, "board at {at}");
        let replayed = history.state_at(id, work, Some(*at)).expect("work");
        assert_eq!(&state(&replayed), workspace, "workspace at {at}");
    }
    // Before anything happened: empty; the latest: the live document.
    let before = history
        .state_at(id, DocId::Board, Some(500))
        .expect("before");
    assert!(state(&before).is_empty());
    let latest = history.state_at(id, work, None).expect("latest");
    assert_eq!(state(&latest), state(&live_work));
    assert_eq!(
        history.documents(id).expect("docs"),
        vec![DocId::Board, work]
    );
}

#[test]
fn a_clock_stepped_back_never_reorders_the_session() {
    let (_dir, mut history, id) = fresh(Side::Hub);
    let live = files::new_doc(10);
    // The third update's clock reads earlier than the second's (NTP stepped it back).
    for (at, text) in [(1_000, "a"), (2_000, "b"), (1_500, "c"), (3_000, "d")] {
        let update = edit(&live, "main.py", text);
        history
            .append_update(id, DocId::Board, None, at, &update)
            .expect("append");
    }
    let text_at = |at: i64| {
        let doc = history
            .state_at(id, DocId::Board, Some(at))
            .expect("replay");
        state(&doc).get("main.py").cloned().unwrap_or_default()
    };
    assert_eq!(text_at(1_600), "a");
    assert_eq!(text_at(2_000), "abc");
    assert_eq!(text_at(3_000), "abcd");
    assert_eq!(history.span(id).expect("span"), Some((1_000, 3_000, 4)));
}

#[test]
fn a_reset_replica_replays_from_the_reset() {
    let (_dir, history, id) = fresh(Side::Learner);
    let mut recorder = SessionRecorder::new(history, id).expect("recorder");
    let mine = files::new_doc(3);
    let refused = edit(&mine, "main.py", "refused text");
    recorder
        .record(DocId::Board, Some(PeerId([1; 32])), 100, &refused)
        .expect("record");
    // Another document moves on meanwhile (ids advance).
    let other = files::new_doc(4);
    recorder
        .record(
            DocId::Workspace(PeerId([1; 32])),
            None,
            150,
            &edit(&other, "a.py", "x"),
        )
        .expect("record");
    let hubs = files::new_doc(5);
    edit(&hubs, "main.py", "the hub's text");
    let hub_state = hubs
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    recorder
        .record_reset(DocId::Board, 200, &hub_state)
        .expect("reset");
    let after = edit(&hubs, "main.py", "!");
    recorder
        .record(DocId::Board, None, 300, &after)
        .expect("after");
    let history = recorder.history();
    let at = |ms| state(&history.state_at(id, DocId::Board, Some(ms)).expect("state"));
    assert_eq!(at(150)["main.py"], "refused text");
    assert_eq!(at(250)["main.py"], "the hub's text");
    assert_eq!(at(300)["main.py"], "the hub's text!");
}

#[test]
fn a_reopened_recorder_goes_on_from_the_recorded_state() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("h.db");
    let live = files::new_doc(1);
    let id = {
        let mut history = History::open(&path).expect("open");
        let id = history
            .begin_session(&new_session(Side::Hub), 0)
            .expect("session");
        let mut recorder = SessionRecorder::new(history, id).expect("recorder");
        for i in 0..(SNAPSHOT_EVERY + 3) {
            let update = edit(&live, "main.py", &format!("{}", i % 10));
            recorder
                .record(DocId::Board, None, i as i64, &update)
                .expect("record");
        }
        recorder.finish().expect("finish");
        id
    };
    let mut history = History::open(&path).expect("reopen");
    history
        .reopen_session(id, None, None)
        .expect("reopen session");
    assert_eq!(history.session(id).expect("info").ended_ms, None);
    let recorder = SessionRecorder::new(history, id).expect("recorder again");
    let states = recorder.states();
    assert_eq!(states.len(), 1);
    let restored = files::new_doc(2);
    restored
        .transact_mut()
        .apply_update(yrs::updates::decoder::Decode::decode_v1(&states[0].1).expect("decode"))
        .expect("apply");
    assert_eq!(state(&restored), state(&live));
}

#[test]
fn export_writes_folders_and_a_zip_and_skips_unsafe_paths() {
    let (dir, mut history, id) = fresh(Side::Hub);
    history.joined(id, &ada(), 1).expect("joined");
    let board = files::new_doc(1);
    let work = files::new_doc(2);
    let updates = vec![
        (
            DocId::Board,
            None,
            10,
            edit(&board, "main.py", "print('board')\n"),
        ),
        (DocId::Board, None, 11, edit(&board, "../escape.py", "bad")),
        // Backslashes would turn into a way out of the folder in a zip opened elsewhere.
        (
            DocId::Board,
            None,
            11,
            edit(&board, "..\\..\\zipslip.py", "bad"),
        ),
        // A file and a folder of the same name: one of them cannot be written.
        (DocId::Board, None, 11, edit(&board, "lib", "a file")),
        (
            DocId::Board,
            None,
            11,
            edit(&board, "lib/util.py", "in a folder"),
        ),
        (
            DocId::Workspace(ada().id),
            Some(ada().id),
            12,
            edit(&work, "src/app.js", "console.log(1)\n"),
        ),
    ];
    history.append_updates(id, &updates).expect("append");
    let out = dir.path().join("export");
    let skipped = coderoom_history::export_folder(&history, id, None, &out).expect("export");
    assert_eq!(
        skipped,
        vec![
            "../escape.py".to_owned(),
            "..\\..\\zipslip.py".to_owned(),
            "lib/util.py".to_owned()
        ]
    );
    assert_eq!(
        std::fs::read_to_string(out.join("board/lib")).expect("lib"),
        "a file"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("board/main.py")).expect("board"),
        "print('board')\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("workspace-Ada/src/app.js")).expect("work"),
        "console.log(1)\n"
    );
    assert!(!dir.path().join("escape.py").exists());

    let only = dir.path().join("ada");
    coderoom_history::export_folder(&history, id, Some(DocId::Workspace(ada().id)), &only)
        .expect("one learner");
    assert!(only.join("workspace-Ada/src/app.js").exists());
    assert!(!only.join("board").exists());

    let zip_path = dir.path().join("class.zip");
    let skipped = coderoom_history::export_zip(&history, id, None, &zip_path).expect("zip");
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    let bytes = std::fs::read(&zip_path).expect("zip bytes");
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    let listing = String::from_utf8_lossy(&bytes);
    assert!(listing.contains("board/main.py"));
    assert!(listing.contains("workspace-Ada/src/app.js"));
    assert!(!listing.contains("escape"));
    assert!(!listing.contains("zipslip"));
}

#[test]
fn a_file_that_is_not_a_history_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("history.db");
    let junk = b"this is my shopping list, not a database\n".repeat(100);
    std::fs::write(&path, &junk).expect("write");
    let error = History::open(&path).err().expect("refused");
    assert!(matches!(error, HistoryError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("left as it is"), "{error}");
    assert_eq!(std::fs::read(&path).expect("read"), junk);
}

#[test]
fn a_damaged_history_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("history.db");
    {
        let mut history = History::open(&path).expect("open");
        let id = history
            .begin_session(&new_session(Side::Hub), 0)
            .expect("session");
        let doc = files::new_doc(1);
        let updates: Vec<_> = (0..2_000)
            .map(|i| (DocId::Board, None, i, edit(&doc, "main.py", "xyz")))
            .collect();
        history.append_updates(id, &updates).expect("append");
    }
    // Checkpointed into the main file by the close; now scribble over pages in the middle.
    let mut bytes = std::fs::read(&path).expect("read");
    assert!(bytes.len() > 40_000, "{}", bytes.len());
    for byte in &mut bytes[8_192..40_000] {
        *byte = 0x5a;
    }
    std::fs::write(&path, &bytes).expect("damage");
    let error = History::open(&path).err().expect("refused");
    assert!(matches!(error, HistoryError::Corrupt { .. }), "{error}");
    assert_eq!(std::fs::read(&path).expect("read"), bytes);
}

#[test]
fn a_history_from_a_newer_version_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("history.db");
    drop(History::open(&path).expect("create"));
    {
        let conn = rusqlite::Connection::open(&path).expect("sqlite");
        conn.pragma_update(None, "user_version", 99)
            .expect("version");
        conn.pragma_update(None, "journal_mode", "DELETE")
            .expect("mode");
    }
    let before = std::fs::read(&path).expect("read");
    let error = History::open(&path).err().expect("refused");
    assert!(
        matches!(error, HistoryError::Newer { found: 99, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("newer"), "{error}");
    assert_eq!(std::fs::read(&path).expect("read"), before);
}

#[test]
fn another_programs_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("history.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("sqlite");
        conn.execute_batch(
            "CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup');",
        )
        .expect("other");
    }
    let before = std::fs::read(&path).expect("read");
    let error = History::open(&path).err().expect("refused");
    assert!(error.to_string().contains("something else"), "{error}");
    assert_eq!(std::fs::read(&path).expect("read"), before);
}

#[test]
fn a_stored_update_that_does_not_decode_is_a_clear_error() {
    let (_dir, mut history, id) = fresh(Side::Hub);
    history
        .append_update(id, DocId::Board, None, 1, &[0xff, 0xff, 0xff, 0xff, 0x01])
        .expect("append");
    let error = history.state_at(id, DocId::Board, None).expect_err("bad");
    assert!(matches!(error, HistoryError::BadUpdate { .. }), "{error}");
}

#[test]
fn runs_and_chat_from_the_room_are_recorded_even_when_a_run_never_ends() {
    use coderoom_protocol::{ChatLine, RunReport, RunStep};
    use coderoom_room::Journal;
    let (dir, history, id) = fresh(Side::Hub);
    let path = dir.path().join("h.db");
    let mut recorder = SessionRecorder::new(history, id).expect("recorder");
    let step = |run: u64, step: RunStep| RunReport {
        by: ada().id,
        run,
        step,
    };
    let started = RunStep::Started {
        doc: DocId::Workspace(ada().id),
        path: "main.py".into(),
        runtime: "python".into(),
        files_hash: "abc".into(),
    };
    for run in [1, 2] {
        recorder.run(&step(run, started.clone())).expect("started");
        recorder
            .run(&step(
                run,
                RunStep::Output {
                    stderr: false,
                    text: format!("run {run}\n"),
                },
            ))
            .expect("output");
    }
    // A huge output is kept up to the cap, cut on a character boundary.
    let flood = "é".repeat(600_000);
    recorder
        .run(&step(
            1,
            RunStep::Output {
                stderr: false,
                text: flood,
            },
        ))
        .expect("flood");
    recorder
        .run(&step(
            1,
            RunStep::Ended {
                outcome: "exited with 0".into(),
                wall_ms: 40,
                cpu_ms: Some(30),
                peak_kib: Some(9000),
            },
        ))
        .expect("ended");
    recorder
        .chat(&ChatLine {
            from: ada().id,
            name: "Ada".into(),
            text: "done!".into(),
        })
        .expect("chat");
    recorder.finish().expect("finish");

    let history = History::open(&path).expect("reopen");
    let runs = history.runs(id).expect("runs");
    assert_eq!(runs.len(), 2);
    let first = runs
        .iter()
        .find(|r| r.outcome == "exited with 0")
        .expect("ended run");
    assert!(first.output.starts_with("run 1\né"));
    assert!(first.output.len() <= 1024 * 1024);
    assert_eq!((first.wall_ms, first.cpu_ms), (40, Some(30)));
    let unfinished = runs
        .iter()
        .find(|r| r.output == "run 2\n")
        .expect("second run");
    assert!(
        unfinished.outcome.contains("ended before"),
        "{}",
        unfinished.outcome
    );
    assert_eq!(history.chat(id).expect("chat")[0].text, "done!");
}

#[test]
fn reopening_after_a_crash_closes_what_the_crash_left_open_and_keeps_the_new_ticket() {
    use coderoom_protocol::{RunReport, RunStep};
    use coderoom_room::Journal;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("h.db");
    let id;
    {
        let mut history = History::open(&path).expect("open");
        id = history
            .begin_session(&new_session(Side::Hub), 1_000)
            .expect("session");
        history.joined(id, &ada(), 2_000).expect("joined");
        let mut recorder = SessionRecorder::new(history, id).expect("recorder");
        let live = files::new_doc(3);
        recorder
            .record(DocId::Board, None, 5_000, &edit(&live, "main.py", "x"))
            .expect("record");
        recorder
            .run(&RunReport {
                by: ada().id,
                run: 1,
                step: RunStep::Started {
                    doc: DocId::Board,
                    path: "main.py".into(),
                    runtime: "python".into(),
                    files_hash: "abc".into(),
                },
            })
            .expect("started");
        recorder
            .run(&RunReport {
                by: ada().id,
                run: 1,
                step: RunStep::Output {
                    stderr: false,
                    text: "working...\n".into(),
                },
            })
            .expect("output");
        // The hub dies here: nothing is finished.
        drop(recorder);
    }
    let mut history = History::open(&path).expect("reopen");
    assert_eq!(history.runs(id).expect("runs")[0].outcome, "running");
    history
        .reopen_session(
            id,
            Some("127.0.0.1:5000"),
            Some((JoinSecret([8; 32]), "654321")),
        )
        .expect("reopen");
    let info = history.session(id).expect("info");
    assert_eq!(
        info.secret,
        Some(JoinSecret([8; 32])),
        "the new ticket is kept"
    );
    assert_eq!(info.code.as_deref(), Some("654321"));
    assert_eq!(info.ended_ms, None);
    let stays = history.participants(id).expect("stays");
    assert_eq!(
        stays[0].left_ms,
        Some(5_000),
        "closed at the last recorded moment"
    );
    let run = &history.runs(id).expect("runs")[0];
    assert!(run.outcome.contains("cut short"), "{}", run.outcome);
    assert_eq!(
        run.output, "working...\n",
        "output so far survives the crash"
    );
    // Back again: a new stay, and leaving closes only it.
    history.joined(id, &ada(), 9_000).expect("again");
    history.left(id, ada().id, 9_500).expect("left");
    let stays = history.participants(id).expect("stays");
    assert_eq!(
        (stays[0].left_ms, stays[1].left_ms),
        (Some(5_000), Some(9_500))
    );
}

#[test]
fn a_history_that_cannot_be_opened_says_why_without_calling_it_damaged() {
    let dir = tempfile::tempdir().expect("dir");
    // A folder where the file should be.
    let path = dir.path().join("history.db");
    std::fs::create_dir(&path).expect("folder");
    let error = History::open(&path).err().expect("refused");
    assert!(matches!(error, HistoryError::Unusable { .. }), "{error:?}");
    assert!(!error.to_string().contains("damaged"), "{error}");
    assert!(path.is_dir());
}

#[test]
fn an_update_that_could_not_be_written_is_in_the_next_snapshot() {
    let (dir, history, id) = fresh(Side::Hub);
    let path = dir.path().join("h.db");
    let mut recorder = SessionRecorder::new(history, id).expect("recorder");
    let live = files::new_doc(3);
    recorder
        .record(DocId::Board, None, 10, &edit(&live, "main.py", "a"))
        .expect("first");
    let other = rusqlite::Connection::open(&path).expect("sqlite");
    other
        .execute_batch("ALTER TABLE updates RENAME TO held")
        .expect("hide");
    let lost = edit(&live, "main.py", "b");
    assert!(recorder.record(DocId::Board, None, 20, &lost).is_err());
    other
        .execute_batch("ALTER TABLE held RENAME TO updates")
        .expect("restore");
    recorder
        .record(DocId::Board, None, 30, &edit(&live, "main.py", "c"))
        .expect("third");
    drop(recorder);
    let history = History::open(&path).expect("reopen");
    let latest = history.state_at(id, DocId::Board, None).expect("latest");
    assert_eq!(
        state(&latest),
        state(&live),
        "the failed update is not lost"
    );
}
