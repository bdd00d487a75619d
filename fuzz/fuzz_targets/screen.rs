//! The document screen against yrs itself: whatever the screen lets through, yrs decodes, and
//! the clocks the screen says an update adds are the ones yrs sees.
#![no_main]

use coderoom_protocol::screen;
use libfuzzer_sys::fuzz_target;
use yrs::updates::decoder::Decode;

fuzz_target!(|data: &[u8]| {
    let _ = screen::sync_message(data);
    if let Ok(vector) = screen::state_vector(data) {
        assert!(vector.len() <= data.len() / 2);
        assert!(yrs::StateVector::decode_v1(data).is_ok());
    }
    if let Ok(shape) = screen::update(data) {
        let update = yrs::Update::decode_v1(data).expect("yrs decodes what the screen passed");
        // yrs counts a client's clocks only when its blocks start at 0 and run unbroken.
        let clocks = update.state_vector();
        for added in &shape.added {
            let ranges = shape.added.iter().filter(|a| a.client == added.client).count();
            if added.start == 0 && ranges == 1 {
                let client = yrs::block::ClientID::new(added.client);
                assert_eq!(clocks.get(&client), added.end, "{shape:?} {clocks:?}");
            }
        }
    }
});
