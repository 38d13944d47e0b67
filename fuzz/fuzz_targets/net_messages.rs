//! Any bytes given to the multiplayer protocol's decoders, as a client's or a server's message:
//! never a panic, never more allocated than the limits allow, and whatever decodes re-encodes
//! to the same bytes (one encoding per message).
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata_net::{ClientMessage, ServerMessage};

fuzz_target!(|input: &[u8]| {
    if let Ok(m) = ClientMessage::decode(input) {
        let mut again = Vec::new();
        m.encode(&mut again).expect("a decoded message is within the limits");
        assert_eq!(again, input);
    }
    if let Ok(m) = ServerMessage::decode(input) {
        let mut again = Vec::new();
        m.encode(&mut again).expect("a decoded message is within the limits");
        assert_eq!(again, input);
    }
});
