//! Any bytes given to the chunk summary decoder, under any key: never a panic, never more than
//! 8 KiB of cells allocated; whatever decodes (at the current version) re-encodes to the same
//! bytes, and the chunk cell read alone is the one the whole decode gives.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata_core::summary_record::{SUMMARY_VERSION, decode_chunk_cell};
use strata_core::{MortonKey, StoredSummary};

fuzz_target!(|input: &[u8]| {
    // The first 16 bytes (when present) are the key.
    let (key, data) = match input.split_first_chunk::<16>() {
        Some((k, rest)) => (u128::from_le_bytes(*k), rest),
        None => (0, input),
    };
    let cell = decode_chunk_cell(MortonKey(key), data);
    if let Ok(Some(summary)) = StoredSummary::decode(MortonKey(key), data) {
        assert_eq!(cell, Ok(Some(summary.stored_cell())));
        if data.get(4) == Some(&SUMMARY_VERSION) {
            let mut again = Vec::new();
            summary.encode(MortonKey(key), &mut again);
            assert_eq!(again, data);
        }
    }
});
