//! The peer core fed arbitrary frames, as a hostile hub would send them: it may disconnect,
//! never panic, and holds a bounded amount of what it was sent.
#![no_main]

use coderoom_protocol::{Credential, JoinSecret, PeerId, RoomId};
use coderoom_room::{PeerCore, PeerEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frames: Vec<Vec<u8>>| {
    let me = PeerId([3; 32]);
    let mut peer = PeerCore::new(
        me,
        RoomId([7; 16]),
        Credential::Secret(JoinSecret([9; 32])),
        "learner".into(),
        "#123456".into(),
        1,
    );
    let _ = peer.handle(PeerEvent::Connected);
    for frame in frames.into_iter().take(100) {
        if let Ok(message) = coderoom_protocol::decode(&frame) {
            let _ = peer.handle(PeerEvent::Frame(message));
        }
    }
});
