//! Any bytes given to the chunk decoder: never a panic, never more than one chunk allocated, and
//! whatever decodes re-encodes to a record that decodes to the same chunk.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata_core::codec;

fuzz_target!(|data: &[u8]| {
    let mut buf = strata_core::DenseChunk::filled(strata_core::MaterialId::AIR);
    let a = codec::decode_into(data, &mut buf);
    let b = codec::decode(data);
    assert_eq!(a.is_ok(), b.is_ok());
    if let Ok(chunk) = b {
        assert_eq!(codec::decode(&codec::encode(strata_core::MortonKey(7), &chunk)).as_ref(), Ok(&chunk));
    }
});
