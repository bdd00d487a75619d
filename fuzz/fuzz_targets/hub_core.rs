//! The hub core fed arbitrary event sequences from several peers (any role), checking after
//! each event that nothing was written that its sender may not write, and that what the hub
//! remembers stays bounded.
#![no_main]

use arbitrary::Arbitrary;
use coderoom_protocol::{
    Control, Credential, DocId, JoinSecret, Message, PeerId, Role, RoomId, PROTOCOL_VERSION,
};
use coderoom_room::{files, HubCore, HubEvent, RoomSettings};
use libfuzzer_sys::fuzz_target;
use yrs::{ReadTxn, Transact};

#[derive(Arbitrary, Debug)]
enum Step {
    Connect { peer: u8 },
    Hello { conn: u8, by_code: bool, right: bool },
    Sync { conn: u8, doc: u8, payload: Vec<u8> },
    /// A real update made on a copy of the document, so it gets past the screen.
    Edit { conn: u8, doc: u8, at: u16, text: String, delete: u8 },
    Awareness { conn: u8, payload: Vec<u8> },
    Chat { conn: u8, text: String },
    Frame { conn: u8, bytes: Vec<u8> },
    Close { conn: u8 },
    Observer { peer: u8 },
    Pen { peer: Option<u8> },
    InstructorTypes { text: String },
    Tick { ms: u16 },
}

fn peer(n: u8) -> PeerId {
    let mut bytes = [0u8; 32];
    bytes[0] = n % 4 + 1;
    PeerId(bytes)
}

fn doc_of(n: u8) -> DocId {
    match n % 3 {
        0 => DocId::Board,
        other => DocId::Workspace(peer(other)),
    }
}

fuzz_target!(|steps: Vec<Step>| {
    let settings = RoomSettings {
        id: RoomId([7; 16]),
        title: "fuzz".into(),
        secret: JoinSecret([9; 32]),
        code: "123456".into(),
        instructor: peer(0),
        instructor_name: "Teacher".into(),
    };
    let mut hub = HubCore::new(settings.clone(), 1);
    hub.edit(DocId::Board, |doc| files::insert(doc, "main.py", 0, "print('hi')\n"));
    let mut now = 0u64;
    let mut peers_of = std::collections::BTreeMap::new();
    for step in steps.into_iter().take(200) {
        now += 1;
        // The writer of each step, and the documents' states before it.
        let (conn, event) = match step {
            Step::Connect { peer: p } => {
                let conn = u64::from(p % 8);
                peers_of.insert(conn, peer(p));
                (conn, HubEvent::Connected { conn, peer: peer(p) })
            }
            Step::Hello { conn, by_code, right } => {
                let conn = u64::from(conn % 8);
                let credential = match (by_code, right) {
                    (true, true) => Credential::Code("123456".into()),
                    (true, false) => Credential::Code("000000".into()),
                    (false, true) => Credential::Secret(settings.secret.clone()),
                    (false, false) => Credential::Secret(JoinSecret([1; 32])),
                };
                let message = Message::Hello {
                    protocol_version: PROTOCOL_VERSION,
                    room: settings.id,
                    credential,
                    name: format!("learner {conn}"),
                    colour: "#123456".into(),
                };
                (conn, HubEvent::Frame { conn, message })
            }
            Step::Sync { conn, doc, payload } => {
                let conn = u64::from(conn % 8);
                (conn, HubEvent::Frame { conn, message: Message::Sync { doc: doc_of(doc), payload } })
            }
            Step::Edit { conn, doc, at, text, delete } => {
                let conn = u64::from(conn % 8);
                let doc = doc_of(doc);
                let copy = files::new_doc(1000 + conn);
                if let Some(state) = hub.doc(doc) {
                    let _ = files::apply_local(&copy, &files::full_state(state));
                }
                let update = files::capture_edit(&copy, |d| {
                    files::remove(d, "main.py", u32::from(at), u32::from(delete));
                    files::insert(d, "main.py", u32::from(at), &text);
                });
                let Some(update) = update else { continue };
                let payload = yrs::sync::Message::Sync(yrs::sync::SyncMessage::Update(update));
                let payload = yrs::updates::encoder::Encode::encode_v1(&payload);
                (conn, HubEvent::Frame { conn, message: Message::Sync { doc, payload } })
            }
            Step::Awareness { conn, payload } => {
                let conn = u64::from(conn % 8);
                (conn, HubEvent::Frame { conn, message: Message::Awareness { payload } })
            }
            Step::Chat { conn, text } => {
                let conn = u64::from(conn % 8);
                let line = coderoom_protocol::ChatLine { from: peer(0), name: String::new(), text };
                (conn, HubEvent::Frame { conn, message: Message::Chat(line) })
            }
            Step::Frame { conn, bytes } => {
                let conn = u64::from(conn % 8);
                let Ok(message) = coderoom_protocol::decode(&bytes) else { continue };
                (conn, HubEvent::Frame { conn, message })
            }
            Step::Close { conn } => {
                let conn = u64::from(conn % 8);
                (conn, HubEvent::Closed { conn })
            }
            Step::Observer { peer: p } => {
                (u64::MAX, HubEvent::Instructor(Control::SetRole(peer(p), Role::Observer)))
            }
            Step::Pen { peer: p } => (u64::MAX, HubEvent::Instructor(Control::GivePen(p.map(peer)))),
            Step::InstructorTypes { text } => {
                hub.edit(DocId::Board, |doc| files::insert(doc, "main.py", 0, &text));
                continue;
            }
            Step::Tick { ms } => {
                now += u64::from(ms) * 100;
                continue;
            }
        };
        let sender = peers_of.get(&conn).copied();
        let before: Vec<(DocId, Vec<u8>)> = hub
            .doc_ids()
            .into_iter()
            .filter_map(|id| hub.doc(id).map(|d| (id, d.transact().state_vector().encode_v1())))
            .collect();
        let instructor = settings.instructor;
        let writable = |id: DocId, role: Option<Role>, pen: bool| match (sender, role) {
            (Some(p), _) if p == instructor => true,
            (Some(p), Some(Role::Learner)) => id == DocId::Workspace(p) || (id == DocId::Board && pen),
            _ => false,
        };
        let role = sender.and_then(|p| hub.participants().iter().find(|x| x.id == p).map(|x| x.role));
        let pen = sender.is_some() && hub.rules().pen == sender;
        let _ = hub.handle(now, event);
        if matches!(conn, 0..=7) {
            for (id, state) in before {
                let after = hub.doc(id).map(|d| d.transact().state_vector().encode_v1());
                if after.as_ref() != Some(&state) {
                    assert!(writable(id, role, pen), "{id:?} changed by a peer who may not write it");
                }
            }
        }
        assert!(hub.participants().len() <= 4);
    }
});

use yrs::updates::encoder::Encode;
