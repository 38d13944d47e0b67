//! Records whose checksum is valid but whose body is not: the LZ4 payload, the process history
//! and the header's lengths and kind reach the decoder because the target recomputes the
//! checksum (arbitrary bytes almost never pass it, so `decode_chunk` stops there). Two shapes:
//! a record built around arbitrary payload and history bytes (format 3 or 2), and a valid
//! record of an arbitrary chunk with bytes of its body changed and the checksum made right
//! again. Never a panic; `decode`, `decode_into`, `decode_at` and the stored summary agree on
//! whether it decodes; whatever decodes re-encodes to the same chunk and history.
#![no_main]
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use strata_core::codec::{self, ChunkEncoder, HEADER_LEN, LEGACY_HEADER_LEN, RecordHome, TRAILER_LEN, WorldId};
use strata_core::{Chunk, DenseChunk, MaterialId, MortonKey, ProcessHistory, StoredSummary};

const KEY: MortonKey = MortonKey(77);

/// Writes the format-3 checksum: xxh3-64 of bytes 4..len-8, into the last 8 bytes.
fn seal_v3(record: &mut [u8]) {
    let n = record.len();
    let sum = xxhash_rust::xxh3::xxh3_64(&record[4..n - TRAILER_LEN]);
    record[n - TRAILER_LEN..].copy_from_slice(&sum.to_le_bytes());
}

fn built(u: &mut Unstructured) -> Result<Vec<u8>> {
    let legacy = u.ratio(1u8, 4)?;
    let kind: u8 = u.int_in_range(0..=3)?;
    let history_len = u.int_in_range(0u16..=64)?;
    let history: Vec<u8> = (0..history_len).map(|_| u.arbitrary()).collect::<Result<_>>()?;
    let payload: Vec<u8> = u.arbitrary()?;
    let mut r = Vec::new();
    r.extend_from_slice(b"STRC");
    r.push(if legacy { 2 } else { 3 });
    r.push(kind);
    r.extend_from_slice(&history_len.to_le_bytes());
    r.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    if legacy {
        // Versions 1 and 2: the checksum at 12..20, xxh3 of the body seeded with the header fields.
        let mut body = payload.clone();
        body.extend_from_slice(&history);
        let seed = (u64::from(history_len) << 48) | (2u64 << 40) | (u64::from(kind) << 32) | payload.len() as u64;
        r.extend_from_slice(&xxhash_rust::xxh3::xxh3_64_with_seed(&body, seed).to_le_bytes());
        assert_eq!(r.len(), LEGACY_HEADER_LEN);
        r.extend_from_slice(&body);
    } else {
        let world: u64 = if u.arbitrary()? { 0 } else { 5 };
        r.extend_from_slice(&world.to_le_bytes());
        r.extend_from_slice(&KEY.0.to_le_bytes());
        r.extend_from_slice(&u.arbitrary::<u64>()?.to_le_bytes());
        assert_eq!(r.len(), HEADER_LEN);
        r.extend_from_slice(&payload);
        r.extend_from_slice(&history);
        r.extend_from_slice(&[0; TRAILER_LEN]);
        seal_v3(&mut r);
    }
    Ok(r)
}

fn mutated(u: &mut Unstructured) -> Result<Vec<u8>> {
    let palette: Vec<u16> = (0..u.int_in_range(1u8..=6)?).map(|_| u.arbitrary()).collect::<Result<_>>()?;
    let stride = u.int_in_range(1usize..=97)?;
    let chunk = Chunk::Dense(DenseChunk::from_fn(|l| MaterialId(palette[(l.index().get() / stride) % palette.len()])));
    let mut history = ProcessHistory::EMPTY;
    for _ in 0..u.int_in_range(0u8..=3)? {
        let process = strata_core::ProcessId::new(u.int_in_range(0..=15)?).expect("ids below 16 exist");
        history.record(strata_core::ProcessStamp { process, step: u.arbitrary()? });
    }
    let mut r = Vec::new();
    ChunkEncoder::default().encode_with_history(KEY, &chunk, &history, &mut r);
    let body = HEADER_LEN..=r.len() - TRAILER_LEN - 1;
    for _ in 0..u.int_in_range(1u8..=8)? {
        let at = u.int_in_range(body.clone())?;
        r[at] ^= u.int_in_range(1u8..=255)?;
    }
    if u.ratio(1u8, 8)? {
        // Lie about the payload length too (the record's length stays what it was).
        let len = u32::from_le_bytes(r[8..12].try_into().unwrap());
        r[8..12].copy_from_slice(&len.wrapping_add(u.int_in_range(0u32..=8)?.wrapping_sub(4)).to_le_bytes());
    }
    seal_v3(&mut r);
    Ok(r)
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let record = match if u.ratio(1u8, 2).unwrap_or(false) { built(&mut u) } else { mutated(&mut u) } {
        Ok(r) => r,
        Err(_) => return,
    };
    let home = RecordHome { world: WorldId(5), key: KEY };
    let plain = codec::decode_with_history(&record);
    let mut buf = DenseChunk::filled(MaterialId::AIR);
    assert_eq!(codec::decode_into(&record, &mut buf).is_ok(), codec::decode(&record).is_ok());
    assert_eq!(plain.is_ok(), codec::decode(&record).is_ok());
    let placed = codec::decode_at(&record, home);
    if placed.is_ok() {
        assert!(plain.is_ok());
    }
    // Any up (the record's length picks one): the summary follows it.
    let up = strata_core::Up::ALL[record.len() % 6];
    let summary = StoredSummary::of_stored_record(&record, home, up);
    assert_eq!(summary.is_ok(), placed.is_ok());
    if let Ok((chunk, history)) = plain {
        let mut again = Vec::new();
        ChunkEncoder::default().encode_with_history(KEY, &chunk, &history, &mut again);
        assert_eq!(codec::decode_with_history(&again), Ok((chunk.clone(), history)));
        if let (Ok(s), Ok(_)) = (summary, placed) {
            assert_eq!(s, StoredSummary::of(&chunk, history, up));
        }
    }
});
