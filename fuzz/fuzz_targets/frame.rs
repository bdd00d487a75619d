//! The frame decoder: any payload is a message or an error, never a panic or a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 4 {
        let header = [data[0], data[1], data[2], data[3]];
        let _ = coderoom_protocol::frame_length(header);
    }
    if let Ok(message) = coderoom_protocol::decode(data) {
        // What decodes encodes again, to the same message.
        let frame = coderoom_protocol::encode(&message).expect("re-encode");
        let again = coderoom_protocol::decode(&frame[coderoom_protocol::FRAME_HEADER..]);
        assert_eq!(again.as_ref(), Ok(&message));
    }
});
