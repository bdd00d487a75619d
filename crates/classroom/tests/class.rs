//! A class as the window sees it, over real iroh endpoints on loopback: the instructor's and a
//! learner's `Class`, editors' yjs updates in and document changes out, rules decided here, and
//! what each is told in words.

use std::time::Duration;

use coderoom_classroom::class::{doc_key, ClassAction, ClassEvent, Connection, WindowPresence};
use coderoom_classroom::{Class, ClassError, Profile};
use coderoom_protocol::{Credential, DocId, JoinSecret, RoomId};
use coderoom_room::net::{self, DocumentChange, DocumentChanges, Hub, Peer};
use coderoom_room::{HubCore, RoomSettings};
use yrs::updates::decoder::Decode;
use yrs::{GetString, Map, ReadTxn, Text, TextPrelim, Transact, Update};

const WAIT: Duration = Duration::from_secs(10);

fn profile(name: &str) -> Profile {
    Profile {
        name: name.into(),
        colour: "#e11d48".into(),
    }
}

async fn class_of_two() -> (Class, Class) {
    let teacher_key = iroh::SecretKey::generate();
    let settings = RoomSettings {
        id: RoomId([7; 16]),
        title: "Loops".into(),
        secret: JoinSecret([9; 32]),
        code: "123456".into(),
        instructor: net::peer_id(teacher_key.public()),
        instructor_name: "Grace".into(),
    };
    let hub = Hub::start(
        teacher_key,
        "127.0.0.1:0".parse().expect("address"),
        HubCore::new(settings, 1 << 40),
        None,
    )
    .await
    .expect("hub");
    let ticket = hub.ticket();
    let peer = Peer::join(
        iroh::SecretKey::generate(),
        "127.0.0.1:0".parse().expect("address"),
        ticket.hub.clone(),
        ticket.room,
        Credential::Secret(ticket.secret),
        "Ada".into(),
        "#2563eb".into(),
    )
    .await
    .expect("peer");
    (
        Class::hosting(hub, profile("Grace"), None),
        Class::joined(peer, profile("Ada"), None, false),
    )
}

/// Waits for an event `wanted` picks out.
async fn event<T>(class: &Class, mut wanted: impl FnMut(&ClassEvent) -> Option<T>) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let events = class.next_events().await.expect("the class went on");
            if let Some(found) = events.iter().find_map(&mut wanted) {
                return found;
            }
        }
    })
    .await
    .expect("the event came in time")
}

/// A web view's edit: a yjs update inserting `text` at the start of `file` in a copy of the
/// document, made as the window's own yjs document would make it.
fn editor_edit(state: &[u8], client: u64, file: &str, text: &str) -> Vec<u8> {
    let view = yrs::Doc::with_client_id(client);
    let files = view.get_or_insert_map("files");
    view.transact_mut()
        .apply_update(Update::decode_v1(state).expect("state"))
        .expect("apply");
    let before = view.transact().state_vector();
    {
        let mut txn = view.transact_mut();
        match files.get(&txn, file) {
            Some(yrs::Out::YText(existing)) => existing.insert(&mut txn, 0, text),
            _ => {
                files.insert(&mut txn, file, TextPrelim::new(text));
            }
        }
    }
    let update = view.transact().encode_state_as_update_v1(&before);
    update
}

fn text_in(state: &[u8], file: &str) -> String {
    let doc = yrs::Doc::new();
    let files = doc.get_or_insert_map("files");
    doc.transact_mut()
        .apply_update(Update::decode_v1(state).expect("state"))
        .expect("apply");
    let txn = doc.transact();
    match files.get(&txn, file) {
        Some(yrs::Out::YText(text)) => text.get_string(&txn),
        _ => String::new(),
    }
}

/// Waits until `class`'s copy of `file` in `doc` reads `expected`, each change to it arriving
/// on `changes` (the window's feed) on the way.
async fn until_text(
    class: &Class,
    changes: &mut DocumentChanges,
    doc: DocId,
    file: &str,
    expected: &str,
) {
    tokio::time::timeout(WAIT, async {
        while text_in(&class.document_state(doc), file) != expected {
            match changes.recv().await.expect("changes go on") {
                DocumentChange::Update { .. } | DocumentChange::Reset { .. } => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{file} never read {expected:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editors_updates_travel_and_the_rules_hold_in_words() {
    let (teacher, learner) = class_of_two().await;
    let mut learner_sees = learner.watch_documents();
    let mut teacher_sees = teacher.watch_documents();

    // The learner is told it is connected, and what it may write: its workspace, not the board.
    let writable = event(&learner, |e| match e {
        ClassEvent::Access { writable, .. } => Some(writable.clone()),
        _ => None,
    })
    .await;
    let workspace = DocId::Workspace(learner.me());
    assert_eq!(writable, [doc_key(workspace)]);

    // The instructor's editor writes the board: the learner's editor gets the update.
    let state = teacher.document_state(DocId::Board);
    let edit = editor_edit(&state, 101, "main.py", "print('hi')");
    teacher
        .apply_editor_update(DocId::Board, &edit)
        .await
        .expect("the instructor writes the board");
    until_text(
        &learner,
        &mut learner_sees,
        DocId::Board,
        "main.py",
        "print('hi')",
    )
    .await;

    // Without the pen, a learner's board edit is refused here, in words, and changes nothing.
    let state = learner.document_state(DocId::Board);
    let attempt = editor_edit(&state, 202, "main.py", "# mine ");
    let refused = learner.apply_editor_update(DocId::Board, &attempt).await;
    assert!(
        matches!(&refused, Err(ClassError::Refused(why)) if why.contains("the instructor gives the pen")),
        "{refused:?}"
    );
    assert_eq!(
        text_in(&learner.document_state(DocId::Board), "main.py"),
        "print('hi')"
    );

    // The learner's own workspace: its editor's update reaches the instructor's editors.
    let state = learner.document_state(workspace);
    let mine = editor_edit(&state, 202, "work.py", "x = 1");
    learner
        .apply_editor_update(workspace, &mine)
        .await
        .expect("a learner writes its workspace");
    until_text(&teacher, &mut teacher_sees, workspace, "work.py", "x = 1").await;

    // Given the pen, the learner is told so, and may write the board.
    let said = teacher
        .act(ClassAction::GivePen {
            person: coderoom_classroom::class::person_key(learner.me()),
        })
        .await
        .expect("the instructor acts");
    assert_eq!(said, "Ada has the pen");
    let message = event(&learner, |e| match e {
        ClassEvent::Pen {
            message,
            holder: Some(_),
        } => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(message, "you have the pen: you may edit the board");
    learner
        .apply_editor_update(DocId::Board, &attempt)
        .await
        .expect("with the pen");
    until_text(
        &teacher,
        &mut teacher_sees,
        DocId::Board,
        "main.py",
        "# mine print('hi')",
    )
    .await;

    // A learner cannot act for the instructor.
    let refused = learner.act(ClassAction::TakePen).await;
    assert!(
        matches!(refused, Err(ClassError::Refused(_))),
        "{refused:?}"
    );

    // Presence: the learner's cursor reaches the instructor with the learner's name.
    learner
        .set_presence(WindowPresence {
            doc: Some(doc_key(workspace)),
            file: Some("work.py".into()),
            cursor: Some(3),
            selection: None,
            following: None,
        })
        .await
        .expect("presence");
    let seen = event(&teacher, |e| match e {
        ClassEvent::Presence { changes } => changes.iter().find_map(|c| {
            c.state
                .as_ref()
                .map(|s| (s.name.clone(), s.file.clone(), s.cursor))
        }),
        _ => None,
    })
    .await;
    assert_eq!(
        seen,
        ("Ada".to_owned(), Some("work.py".to_owned()), Some(3))
    );

    // Removed, the learner is told in words and its class is over.
    teacher
        .act(ClassAction::Remove {
            person: coderoom_classroom::class::person_key(learner.me()),
        })
        .await
        .expect("remove");
    let (connection, message) = event(&learner, |e| match e {
        ClassEvent::Connection {
            connection: Connection::Gone,
            message,
        } => Some((Connection::Gone, message.clone())),
        _ => None,
    })
    .await;
    assert_eq!(connection, Connection::Gone);
    assert_eq!(message, "the instructor removed you from this room");
    teacher.leave().await.expect("leave");
    learner.leave().await.expect("leave");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_editor_updates_are_refused_and_change_nothing() {
    let (teacher, learner) = class_of_two().await;
    let workspace = DocId::Workspace(learner.me());
    event(&learner, |e| {
        matches!(e, ClassEvent::Access { .. }).then_some(())
    })
    .await;

    // Bytes that are no update at all.
    let refused = learner
        .apply_editor_update(workspace, b"\xff\xff\xff")
        .await;
    assert!(refused.is_err(), "{refused:?}");
    for garbage in [&b""[..], &b"\xff\xff\xff"[..], &[0u8; 64][..]] {
        let result = learner.apply_editor_update(workspace, garbage).await;
        if let Ok(()) = result {
            // An empty update is a valid "nothing": it must change nothing.
            assert_eq!(text_in(&learner.document_state(workspace), "a.py"), "");
        }
    }
    // A 20 MB paste: refused with the reason, before it reaches the room.
    let state = learner.document_state(workspace);
    let paste = editor_edit(&state, 303, "a.py", &"x".repeat(20_000_000));
    let refused = learner.apply_editor_update(workspace, &paste).await;
    let why = refused.expect_err("20 MB is refused").to_string();
    assert!(why.contains("more than a room takes at once"), "{why}");
    assert_eq!(text_in(&learner.document_state(workspace), "a.py"), "");
    // An update building on edits the document lacks.
    let elsewhere = yrs::Doc::with_client_id(404);
    let text = elsewhere.get_or_insert_text("files");
    text.insert(&mut elsewhere.transact_mut(), 0, "abc");
    let later = {
        let before = elsewhere.transact().state_vector();
        text.insert(&mut elsewhere.transact_mut(), 3, "def");
        let update = elsewhere.transact().encode_state_as_update_v1(&before);
        update
    };
    assert!(teacher
        .apply_editor_update(DocId::Board, &later)
        .await
        .is_err());
    teacher.leave().await.expect("leave");
    learner.leave().await.expect("leave");
}
