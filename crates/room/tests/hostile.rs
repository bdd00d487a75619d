//! What a fuzz run found a hostile learner (or hostile hub) could do, each driven through the
//! real `HubCore` / `PeerCore`: the hub answers, the documents stay whole and encodable, memory
//! stays bounded, and other learners go on.

mod common;

use std::time::{Duration, Instant};

use coderoom_protocol::{Control, Credential, DocId, Message, Notice, PeerId, Refusal};
use coderoom_room::{files, HubAction, HubCore, HubEvent, PeerAction, PeerCore, PeerEvent};
use common::*;
use yrs::updates::encoder::Encode;
use yrs::{Map, ReadTxn, Transact, WriteTxn};

fn sync_update(update: Vec<u8>) -> Vec<u8> {
    yrs::sync::Message::Sync(yrs::sync::SyncMessage::Update(update)).encode_v1()
}

fn send(hub: &mut HubCore, conn: u64, doc: DocId, payload: Vec<u8>) -> Vec<HubAction> {
    hub.handle(
        10,
        HubEvent::Frame {
            conn,
            message: Message::Sync { doc, payload },
        },
    )
}

/// A hub with Ada (conn 1, learner) and Ben (conn 2, learner) in, and some board text.
fn class() -> (HubCore, PeerId, PeerId) {
    let mut hub = hub();
    hub.edit(DocId::Board, |doc| {
        files::insert(doc, "main.py", 0, "print('hello')\n")
    });
    admit(&mut hub, 1, peer(1), "Ada", 1);
    admit(&mut hub, 2, peer(2), "Ben", 1);
    (hub, peer(1), peer(2))
}

/// An update made on a copy of `doc` that continues edits the hub never got: applied as is,
/// yrs would keep it "pending" and fail (and panic) when it next encodes the document.
fn update_building_on_what_is_missing(client: u64) -> Vec<u8> {
    let source = files::new_doc(client);
    files::insert(&source, "main.py", 0, "abc");
    let after_first = source.transact().state_vector();
    files::insert(&source, "main.py", 3, "def");
    files::remove(&source, "main.py", 0, 2);
    let update = source.transact().encode_state_as_update_v1(&after_first);
    update
}

/// A learner's core, connected (its Hello sent) and waiting for the hub.
fn connected_learner() -> PeerCore {
    let mut learner = learner_core(5, "Cy");
    learner.handle(PeerEvent::Connected);
    learner
}

fn assert_whole(hub: &HubCore, doc: DocId) {
    let state = files::full_state(hub.doc(doc).expect("document"));
    let copy = files::new_doc(999);
    files::apply_local(&copy, &state).expect("the document's own state applies");
}

fn ben_still_types(hub: &mut HubCore, ben: PeerId) {
    let workspace = DocId::Workspace(ben);
    let copy = files::new_doc(2_000);
    files::apply_local(
        &copy,
        &files::full_state(hub.doc(workspace).expect("Ben's workspace")),
    )
    .expect("copy");
    let update =
        files::capture_edit(&copy, |doc| files::insert(doc, "main.py", 0, "x")).expect("an edit");
    let actions = send(hub, 2, workspace, sync_update(update));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, HubAction::Persist { doc, .. } if *doc == workspace)),
        "{actions:?}"
    );
}

#[test]
fn an_update_building_on_missing_edits_is_never_applied() {
    let (mut hub, ada, ben) = class();
    let board_before = files::full_state(hub.doc(DocId::Board).expect("board"));
    for doc in [DocId::Board, DocId::Workspace(ada)] {
        let actions = send(
            &mut hub,
            1,
            doc,
            sync_update(update_building_on_what_is_missing(4242)),
        );
        // Not kept, not relayed, not persisted: Ada's copy is reset to the hub's.
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, HubAction::Persist { .. })),
            "{actions:?}"
        );
        assert!(
            sent_to(&actions, 1)
                .iter()
                .any(|m| matches!(m, Message::Resync { doc: d, .. } if *d == doc)),
            "{actions:?}"
        );
        assert!(sent_to(&actions, 2).is_empty());
        assert_whole(&hub, doc);
    }
    assert_eq!(
        files::full_state(hub.doc(DocId::Board).expect("board")),
        board_before
    );
    ben_still_types(&mut hub, ben);

    // Relayed by a hostile (or confused) hub, the same update does not break a learner: it is
    // held until what it builds on arrives, then applied.
    let mut learner = connected_learner();
    let base = files::new_doc(4242);
    files::insert(&base, "main.py", 0, "abc");
    let actions = learner.handle(PeerEvent::Frame(Message::Sync {
        doc: DocId::Board,
        payload: sync_update(update_building_on_what_is_missing(4242)),
    }));
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, PeerAction::Disconnect(_))),
        "{actions:?}"
    );
    learner.handle(PeerEvent::Frame(Message::Sync {
        doc: DocId::Board,
        payload: sync_update(files::full_state(&base)),
    }));
    let board = learner.doc(DocId::Board).expect("the learner's board");
    assert_eq!(
        files::read_all(board).get("main.py").map(String::as_str),
        Some("cdef")
    );
}

/// An update putting a yrs sub-document in the `files` map: refused before yrs sees it, on
/// the board, in one's own workspace (where three in a row set off a use-after-free in yrs
/// 0.28.1), and from the hub.
fn sub_document_update(client: u64) -> Vec<u8> {
    let source = files::new_doc(client);
    files::capture_edit(&source, |doc| {
        let mut txn = doc.transact_mut();
        let map = txn.get_or_insert_map("files");
        map.insert(&mut txn, "main.py", yrs::Doc::new());
    })
    .expect("an update")
}

#[test]
fn sub_documents_are_refused_everywhere() {
    let (mut hub, ada, ben) = class();
    let before = peak_rss_kib();
    for (round, doc) in [DocId::Board, DocId::Workspace(ada)]
        .into_iter()
        .cycle()
        .take(200)
        .enumerate()
    {
        admit(&mut hub, 10 + round as u64, ada, "Ada", 2);
        let conn = 10 + round as u64;
        let actions = send(
            &mut hub,
            conn,
            doc,
            sync_update(sub_document_update(7 + round as u64)),
        );
        assert!(closed(&actions, conn), "{actions:?}");
        let reason = sent_to(&actions, conn)
            .into_iter()
            .find_map(|m| match m {
                Message::Notice(Notice::ProtocolViolation(reason)) => Some(reason),
                _ => None,
            })
            .expect("a reason");
        assert!(reason.contains("sub-document"), "{reason}");
        hub.handle(3, HubEvent::Closed { conn });
    }
    // No copy of the board is kept per refused update.
    assert!(
        peak_rss_kib() < before + 32 * 1024,
        "{} KiB after",
        peak_rss_kib()
    );
    assert_whole(&hub, DocId::Board);
    assert_whole(&hub, DocId::Workspace(ada));
    ben_still_types(&mut hub, ben);

    let mut learner = connected_learner();
    let actions = learner.handle(PeerEvent::Frame(Message::Sync {
        doc: DocId::Board,
        payload: sync_update(sub_document_update(8)),
    }));
    assert!(
        actions.iter().any(
            |a| matches!(a, PeerAction::Disconnect(reason) if reason.contains("sub-document"))
        ),
        "{actions:?}"
    );
}

#[test]
fn claimed_counts_allocate_nothing() {
    let (mut hub, ada, ben) = class();
    let before = peak_rss_kib();
    let bombs = [
        claiming(0, u64::from(u32::MAX)),
        claiming(0, 100_000_000),
        claiming(2, u64::from(u32::MAX)),
        {
            // One client claiming 4 billion blocks.
            let mut body = vec![1];
            var(u64::from(u32::MAX), &mut body);
            body.extend([1, 0]);
            let mut payload = vec![0, 2];
            var(body.len() as u64, &mut payload);
            payload.extend(body);
            payload
        },
    ];
    for (round, bomb) in bombs.into_iter().enumerate() {
        let conn = 20 + round as u64;
        admit(&mut hub, conn, ada, "Ada", 4);
        let actions = send(&mut hub, conn, DocId::Workspace(ada), bomb);
        assert!(closed(&actions, conn), "{actions:?}");
        hub.handle(5, HubEvent::Closed { conn });
    }
    // The same state-vector bomb as presence (found by the `peer_core` fuzz target): yrs
    // would decode a sync step 1 wherever a y-protocols message is read.
    admit(&mut hub, 30, ada, "Ada", 4);
    let actions = hub.handle(
        5,
        HubEvent::Frame {
            conn: 30,
            message: Message::Awareness {
                // 100 million entries: a reservation the kernel grants, then touches.
                payload: claiming(0, 100_000_000),
            },
        },
    );
    assert!(closed(&actions, 30), "{actions:?}");
    let mut learner = connected_learner();
    let actions = learner.handle(PeerEvent::Frame(Message::Awareness {
        payload: claiming(0, 100_000_000),
    }));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, PeerAction::Disconnect(_))),
        "{actions:?}"
    );
    assert!(
        peak_rss_kib() < before + 16 * 1024,
        "peak grew from {before} to {} KiB",
        peak_rss_kib()
    );
    ben_still_types(&mut hub, ben);
}

/// A board of many blocks (typed by several authors), `kib` KiB of text.
fn big_board(hub: &mut HubCore, kib: usize) {
    let line = "print('a line of the lesson')\n".repeat(16);
    let mut typed = 0;
    while typed < kib * 1024 {
        hub.edit(DocId::Board, |doc| {
            let at = files::len(doc, "main.py") / 2;
            files::insert(doc, "main.py", at, &line)
        });
        typed += line.len();
    }
}

#[test]
fn a_refused_update_costs_about_what_an_accepted_one_does() {
    let (mut hub, ada, ben) = class();
    big_board(&mut hub, 1024);
    let board_before = files::full_state(hub.doc(DocId::Board).expect("board"));
    // Ada (no pen) keeps sending the board an empty update and a delete-only one; Ben types
    // in his workspace. Refused updates must not cost a copy of the board each.
    let copy = files::new_doc(3_000);
    files::apply_local(&copy, &board_before).expect("copy");
    let deleting =
        files::capture_edit(&copy, |doc| files::remove(doc, "main.py", 0, 10)).expect("a deletion");
    let empty = yrs::Update::new().encode_v1();
    let started = Instant::now();
    let mut resets = 0;
    for round in 0..200 {
        let update = if round % 2 == 0 { &empty } else { &deleting };
        let actions = send(&mut hub, 1, DocId::Board, sync_update(update.clone()));
        resets += sent_to(&actions, 1)
            .iter()
            .filter(|m| {
                matches!(
                    m,
                    Message::Resync { .. }
                        | Message::SyncPiece {
                            resync: true,
                            last: true,
                            ..
                        }
                )
            })
            .count();
        if closed(&actions, 1) {
            admit(&mut hub, 1, ada, "Ada", 6);
        }
        // Ada's step 1 (from her reset copy, which is the board) ends the wait for it.
        let her_state = hub
            .doc(DocId::Board)
            .expect("board")
            .transact()
            .state_vector();
        hub.handle(
            6,
            HubEvent::Frame {
                conn: 1,
                message: Message::Sync {
                    doc: DocId::Board,
                    payload: yrs::sync::Message::Sync(yrs::sync::SyncMessage::SyncStep1(her_state))
                        .encode_v1(),
                },
            },
        );
    }
    let refused = started.elapsed();
    let started = Instant::now();
    for _ in 0..200 {
        ben_still_types(&mut hub, ben);
    }
    let accepted = started.elapsed();
    assert_eq!(
        files::full_state(hub.doc(DocId::Board).expect("board")),
        board_before,
        "a refused update changed the board"
    );
    assert!(resets >= 1, "the deleting update was not refused");
    eprintln!("200 refused board updates: {refused:?}; 200 accepted keystrokes: {accepted:?}");
    // Each of Ben's keystrokes here copies his workspace out and back in (the test's own
    // cost); a refused board update copying a 1 MiB board would be tens of times that.
    assert!(
        refused < accepted * 10 + Duration::from_millis(200),
        "200 refused board updates took {refused:?}, 200 accepted keystrokes {accepted:?}"
    );
}

#[test]
fn asking_for_the_whole_board_again_and_again_is_cut_off() {
    let (mut hub, _ada, ben) = class();
    big_board(&mut hub, 256);
    let mut cut_off = false;
    for _ in 0..100 {
        let actions = send(&mut hub, 1, DocId::Board, claiming(0, 0));
        if closed(&actions, 1) {
            cut_off = true;
            break;
        }
    }
    assert!(cut_off, "a learner asked for the whole board 100 times");
    ben_still_types(&mut hub, ben);
}

#[test]
fn code_guessing_from_fresh_keys_is_limited_for_the_room() {
    let mut hub = hub();
    let wrong = hello(Credential::Code("000000".into()), "Mallory");
    let mut paused_at = None;
    for attempt in 0..5_000u32 {
        let conn = 100 + u64::from(attempt);
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(&attempt.to_be_bytes());
        key[31] = 0xee;
        let actions = connect(&mut hub, conn, PeerId(key), wrong.clone(), 1_000);
        if actions
            .iter()
            .any(|a| matches!(a, HubAction::CodeJoinsPaused { .. }))
        {
            paused_at.get_or_insert(attempt);
        }
        if paused_at.is_some() {
            assert!(
                matches!(
                    refusal(&actions, conn),
                    Some(Refusal::CodeJoinsPaused | Refusal::WrongCode)
                ),
                "{actions:?}"
            );
        }
        hub.handle(1_000, HubEvent::Closed { conn });
    }
    assert_eq!(
        paused_at,
        Some(19),
        "paused after the room's 20th wrong code"
    );
    assert!(hub.code_joins_paused());
    // Even the right code waits for the instructor; the ticket still works.
    let actions = connect(
        &mut hub,
        9_000,
        peer(9),
        hello(Credential::Code("123456".into()), "Ada"),
        2_000,
    );
    assert_eq!(refusal(&actions, 9_000), Some(Refusal::CodeJoinsPaused));
    admit(&mut hub, 9_001, peer(8), "Ben", 2_000);
    hub.handle(2_000, HubEvent::Instructor(Control::AllowCodeJoins));
    hub.handle(
        2_000,
        HubEvent::Instructor(Control::CodeJoinsNeedApproval(true)),
    );
    let actions = connect(
        &mut hub,
        9_002,
        peer(9),
        hello(Credential::Code("123456".into()), "Ada"),
        2_000,
    );
    assert!(
        sent_to(&actions, 9_002)
            .iter()
            .any(|m| matches!(m, Message::Waiting)),
        "a code join waits for approval: {actions:?}"
    );
    // Failed keys are remembered in bounded memory.
    assert!(hub.code_failures_remembered() <= 1024);
}

#[test]
fn a_board_past_the_update_limit_is_joined_in_pieces() {
    let mut hub = hub();
    let lesson = "x = 1  # a pasted data file\n".repeat(220_000);
    hub.edit(DocId::Board, |doc| {
        files::insert(doc, "data.py", 0, &lesson)
    });
    let state = files::full_state(hub.doc(DocId::Board).expect("board"));
    assert!(
        state.len() > coderoom_protocol::MAX_FRAME,
        "{}",
        state.len()
    );

    let mut learner = learner_core(1, "Ada");
    let hello = learner.handle(PeerEvent::Connected);
    hub.handle(
        1,
        HubEvent::Connected {
            conn: 1,
            peer: peer(1),
        },
    );
    let mut first = Vec::new();
    for action in hello {
        if let PeerAction::Send(message) = action {
            for reply in sent_to(&hub.handle(1, HubEvent::Frame { conn: 1, message }), 1) {
                assert!(
                    coderoom_protocol::encode(&reply).is_ok(),
                    "a frame over the cap"
                );
                first.extend(learner.handle(PeerEvent::Frame(reply)));
            }
        }
    }
    converse(&mut hub, &mut learner, 1, first);
    let board = learner.doc(DocId::Board).expect("the learner's board");
    assert_eq!(
        files::len(board, "data.py") as usize,
        lesson.len(),
        "the learner did not get the whole board"
    );
}

#[test]
fn a_history_holding_poisoned_updates_still_opens() {
    let source = files::new_doc(50);
    files::insert(&source, "main.py", 0, "print('kept')\n");
    let good = files::full_state(&source);
    let restored = HubCore::restore(
        hub().settings().clone(),
        1 << 41,
        [
            (DocId::Board, good),
            (DocId::Board, sub_document_update(51)),
            (DocId::Board, update_building_on_what_is_missing(52)),
            (DocId::Board, vec![0xff, 0xff, 0xff]),
        ],
    )
    .expect("the room opens");
    assert_eq!(restored.left_out_on_restore().len(), 3);
    let board = restored.doc(DocId::Board).expect("board");
    assert_eq!(
        files::read_all(board).get("main.py").map(String::as_str),
        Some("print('kept')\n")
    );
    assert_whole(&restored, DocId::Board);
}
