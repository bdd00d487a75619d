//! The ticket parser: any text a learner pastes is a ticket or a clear error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(ticket) = text.parse::<coderoom_protocol::Ticket>() {
        let again: coderoom_protocol::Ticket = ticket.to_string().parse().expect("round trip");
        assert_eq!(again.to_string(), ticket.to_string());
    }
});
