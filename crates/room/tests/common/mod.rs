//! Shared by the core-level tests: a hub with fixed settings, peers by number, and reading what
//! the hub did.

#![allow(dead_code)]

use coderoom_protocol::{
    Credential, JoinSecret, Message, PeerId, Refusal, RoomId, PROTOCOL_VERSION,
};
use coderoom_room::{HubAction, HubCore, HubEvent, PeerAction, PeerCore, PeerEvent, RoomSettings};

pub const SECRET: JoinSecret = JoinSecret([4; 32]);
pub const ROOM: RoomId = RoomId([3; 16]);

pub fn hub() -> HubCore {
    HubCore::new(
        RoomSettings {
            id: ROOM,
            title: "Rules".into(),
            secret: SECRET,
            code: "123456".into(),
            instructor: PeerId([0; 32]),
            instructor_name: "Teacher".into(),
        },
        1 << 40,
    )
}

pub fn peer(n: u8) -> PeerId {
    PeerId([n; 32])
}

pub fn hello(credential: Credential, name: &str) -> Message {
    Message::Hello {
        protocol_version: PROTOCOL_VERSION,
        room: ROOM,
        credential,
        name: name.into(),
        colour: "#123456".into(),
    }
}

/// Connects `who` as `conn` and sends `message`; returns what the hub sent that connection.
pub fn connect(
    hub: &mut HubCore,
    conn: u64,
    who: PeerId,
    message: Message,
    now: u64,
) -> Vec<HubAction> {
    hub.handle(now, HubEvent::Connected { conn, peer: who });
    hub.handle(now, HubEvent::Frame { conn, message })
}

/// Connects `who` with the room's secret as `conn` and checks they are welcomed.
pub fn admit(hub: &mut HubCore, conn: u64, who: PeerId, name: &str, now: u64) {
    let actions = connect(hub, conn, who, hello(Credential::Secret(SECRET), name), now);
    assert!(
        welcomed(&actions, conn),
        "{name} was not let in: {actions:?}"
    );
}

pub fn sent_to(actions: &[HubAction], conn: u64) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            HubAction::Send { conn: c, message } if *c == conn => Some(message.clone()),
            _ => None,
        })
        .collect()
}

pub fn refusal(actions: &[HubAction], conn: u64) -> Option<Refusal> {
    sent_to(actions, conn).into_iter().find_map(|m| match m {
        Message::Refused(reason) => Some(reason),
        _ => None,
    })
}

pub fn welcomed(actions: &[HubAction], conn: u64) -> bool {
    sent_to(actions, conn)
        .iter()
        .any(|m| matches!(m, Message::Welcome { .. }))
}

pub fn closed(actions: &[HubAction], conn: u64) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, HubAction::Close { conn: c, .. } if *c == conn))
}

/// Peak resident memory of this test process (each test runs in its own process under nextest).
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// A varint as lib0 writes it.
pub fn var(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            return out.push(byte);
        }
        out.push(byte | 0x80);
    }
}

/// A y-sync message (`kind` 0: step 1, 2: update) whose body claims `count` entries.
pub fn claiming(kind: u64, count: u64) -> Vec<u8> {
    let mut body = Vec::new();
    var(count, &mut body);
    let mut payload = vec![0];
    var(kind, &mut payload);
    var(body.len() as u64, &mut payload);
    payload.extend(body);
    payload
}

/// Delivers messages between a hub and one peer until neither has anything more to say.
pub fn converse(hub: &mut HubCore, peer: &mut PeerCore, conn: u64, first: Vec<PeerAction>) {
    let mut to_hub: Vec<Message> = first
        .into_iter()
        .filter_map(|a| match a {
            PeerAction::Send(message) => Some(message),
            _ => None,
        })
        .collect();
    for _ in 0..100 {
        if to_hub.is_empty() {
            return;
        }
        let mut to_peer = Vec::new();
        for message in to_hub.drain(..) {
            to_peer.extend(sent_to(
                &hub.handle(20, HubEvent::Frame { conn, message }),
                conn,
            ));
        }
        for message in to_peer {
            for action in peer.handle(PeerEvent::Frame(message)) {
                match action {
                    PeerAction::Send(message) => to_hub.push(message),
                    PeerAction::Disconnect(reason) => panic!("the peer gave up: {reason}"),
                    _ => {}
                }
            }
        }
    }
}

/// A learner's core for peer `n`, not connected yet.
pub fn learner_core(n: u8, name: &str) -> PeerCore {
    PeerCore::new(
        peer(n),
        ROOM,
        Credential::Secret(SECRET),
        name.into(),
        "#000".into(),
        u64::from(n) + 2,
    )
}
