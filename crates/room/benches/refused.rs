//! What one peer's update costs the hub's core (under the lock every keystroke of the class
//! waits for): an accepted keystroke in a learner's workspace against refused updates to the
//! board, for boards of 10 KiB and 1 MiB typed in many pieces.
//!
//! `cargo bench -p coderoom-room --bench refused` (release build; prints a table).

use std::time::{Duration, Instant};

use coderoom_protocol::{Credential, DocId, JoinSecret, Message, PeerId, RoomId, PROTOCOL_VERSION};
use coderoom_room::{files, HubAction, HubCore, HubEvent, RoomSettings};
use yrs::updates::encoder::Encode;

const SECRET: JoinSecret = JoinSecret([4; 32]);
const ROOM: RoomId = RoomId([3; 16]);
const ROUNDS: usize = 400;

fn peer(n: u32) -> PeerId {
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&n.to_be_bytes());
    id[31] = 1;
    PeerId(id)
}

fn hub_with_board(kib: usize) -> HubCore {
    let mut hub = HubCore::new(
        RoomSettings {
            id: ROOM,
            title: "Bench".into(),
            secret: SECRET,
            code: "123456".into(),
            instructor: PeerId([0; 32]),
            instructor_name: "Teacher".into(),
        },
        1 << 40,
    );
    let chunk = "print('a line of the lesson')\n".repeat(4);
    let mut typed = 0;
    while typed < kib * 1024 {
        hub.edit(DocId::Board, |doc| {
            let at = files::len(doc, "main.py") / 2;
            files::insert(doc, "main.py", at, &chunk)
        });
        typed += chunk.len();
    }
    hub
}

fn admit(hub: &mut HubCore, conn: u64, who: PeerId) {
    hub.handle(0, HubEvent::Connected { conn, peer: who });
    hub.handle(
        0,
        HubEvent::Frame {
            conn,
            message: Message::Hello {
                protocol_version: PROTOCOL_VERSION,
                room: ROOM,
                credential: Credential::Secret(SECRET),
                name: format!("Learner {conn}"),
                colour: "#123456".into(),
            },
        },
    );
}

fn sync(update: Vec<u8>) -> Vec<u8> {
    yrs::sync::Message::Sync(yrs::sync::SyncMessage::Update(update)).encode_v1()
}

/// Median and 99th percentile of one handle() call, in microseconds.
fn figures(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    (at(0.5).as_secs_f64() * 1e6, at(0.99).as_secs_f64() * 1e6)
}

fn main() {
    println!("{ROUNDS} rounds each; microseconds per hub core call");
    println!(
        "{:<8} {:<52} {:>9} {:>9}",
        "board", "update", "p50 µs", "p99 µs"
    );
    for kib in [10usize, 1024] {
        let mut hub = hub_with_board(kib);
        let board = files::full_state(hub.doc(DocId::Board).expect("board"));

        // Accepted: a learner types in their workspace, one key at a time.
        let typist = peer(1);
        admit(&mut hub, 1, typist);
        let workspace = DocId::Workspace(typist);
        let replica = files::new_doc(77);
        let mut accepted = Vec::new();
        for round in 0..ROUNDS {
            let update = files::capture_edit(&replica, |doc| {
                files::insert(doc, "main.py", round as u32, "x")
            })
            .expect("a keystroke");
            let payload = sync(update);
            let started = Instant::now();
            let actions = hub.handle(
                1,
                HubEvent::Frame {
                    conn: 1,
                    message: Message::Sync {
                        doc: workspace,
                        payload,
                    },
                },
            );
            accepted.push(started.elapsed());
            assert!(actions
                .iter()
                .any(|a| matches!(a, HubAction::Persist { .. })));
        }

        // Refused, changing nothing: a learner without the pen sends the board its step 2
        // with nothing new (every reconnect), or an empty update.
        let copy = files::new_doc(78);
        files::apply_local(&copy, &board).expect("copy");
        let mut no_op = Vec::new();
        let empty = sync(yrs::Update::new().encode_v1());
        admit(&mut hub, 2, peer(2));
        for _ in 0..ROUNDS {
            let started = Instant::now();
            hub.handle(
                2,
                HubEvent::Frame {
                    conn: 2,
                    message: Message::Sync {
                        doc: DocId::Board,
                        payload: empty.clone(),
                    },
                },
            );
            no_op.push(started.elapsed());
        }

        // Refused, a real keystroke on the board: the decision, then the sender's copy is
        // reset (its whole board sent back: at most 5 times in 10 s per connection).
        let keystroke = files::capture_edit(&copy, |doc| files::insert(doc, "main.py", 0, "y"))
            .expect("a keystroke");
        let payload = sync(keystroke);
        let mut refused = Vec::new();
        let mut dropped = Vec::new();
        for round in 0..ROUNDS as u32 {
            let conn = 1_000 + u64::from(round);
            admit(&mut hub, conn, peer(1_000 + round));
            let message = Message::Sync {
                doc: DocId::Board,
                payload: payload.clone(),
            };
            let started = Instant::now();
            let actions = hub.handle(
                2,
                HubEvent::Frame {
                    conn,
                    message: message.clone(),
                },
            );
            refused.push(started.elapsed());
            assert!(actions.iter().any(|a| matches!(
                a,
                HubAction::Send {
                    message: Message::Notice(_),
                    ..
                }
            )));
            // Sent again while its copy is being reset: dropped at once.
            let started = Instant::now();
            hub.handle(2, HubEvent::Frame { conn, message });
            dropped.push(started.elapsed());
            hub.handle(2, HubEvent::Closed { conn });
        }
        for (what, samples) in [
            ("accepted keystroke in a workspace", accepted),
            ("refused on the board: nothing new (empty update)", no_op),
            (
                "refused on the board: a keystroke (+ reset sent back)",
                refused,
            ),
            ("refused on the board: again, while being reset", dropped),
        ] {
            let (p50, p99) = figures(samples);
            println!(
                "{:<8} {what:<52} {p50:>9.1} {p99:>9.1}",
                format!("{kib} KiB")
            );
        }
    }
}
