//! `strata salvage` on a file larger than its window: the scan's memory does not grow with the
//! file or with the number of older copies it holds (it keeps where records lie, not their
//! bytes). One test in its own binary: the peak it measures is this process's.
#![allow(unsafe_code)]

use std::io::Write;
use strata_core::codec::{self, WorldId};
use strata_core::rng::SplitMix64;
use strata_core::{Chunk, ChunkKey, DenseChunk, MaterialId, MortonKey};
use strata_redb::salvage;

#[path = "../../../tests/support/peak_alloc.rs"]
mod peak_alloc;

/// A chunk of noise lz4 cannot shrink: its record is as long as records get (~66 KB).
fn noise(seed: u64) -> Chunk {
    let mut rng = SplitMix64(seed);
    let ids: Vec<u16> = (0..32 * 32 * 32).map(|_| rng.next_u64() as u16).collect();
    Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(ids[p.index().get()])))
}

#[test]
fn salvaging_a_large_file_keeps_where_records_lie_not_their_bytes() {
    const KEYS: u64 = 700;
    const REWRITTEN: u64 = 50;
    const OLDER_COPIES: u64 = 4;
    let world = WorldId(31);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.strata");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut sealed = Vec::new();
    let mut put = |key: u64, sequence: u64, file: &mut std::io::BufWriter<std::fs::File>| {
        let key = ChunkKey::new(key as i32, 0, 0).morton();
        sealed.clear();
        codec::seal_into(&codec::encode(key, &noise(key.0 as u64 * 1000 + sequence)), world, sequence, &mut sealed);
        file.write_all(&sealed).unwrap();
        file.write_all(&[0x5A; 333]).unwrap();
    };
    // Older copies of some keys first (copy-on-write leaves them in freed pages), then every
    // key's newest copy.
    for older in 1..=OLDER_COPIES {
        for key in 0..REWRITTEN {
            put(key, older, &mut file);
        }
    }
    for key in 0..KEYS {
        put(key, OLDER_COPIES + 1, &mut file);
    }
    drop(file);
    let file_len = std::fs::metadata(&path).unwrap().len() as usize;
    let records = (KEYS + REWRITTEN * OLDER_COPIES) as usize;
    assert!(file_len > records * 65_000, "{file_len} bytes: records are not as long as records get");

    let before = peak_alloc::start();
    let found = salvage::scan(&path, None).unwrap();
    let peak = peak_alloc::peak_since(before);
    assert_eq!(found.world, Some(world));
    assert_eq!(found.chunks.len() as u64, KEYS);
    assert_eq!(found.superseded, REWRITTEN * OLDER_COPIES);
    assert!(found.chunks.values().all(|f| f.sequence == OLDER_COPIES + 1));
    // One 16 MiB window (and the overlap of one record) plus a little per key: far below the
    // file (~60 MB), which a scan that kept the records' bytes needed.
    let bound = (16 << 20) + codec::MAX_RECORD_LEN + (4 << 20);
    assert!(peak < bound, "the scan of a {file_len}-byte file peaked at {peak} bytes (bound {bound})");
    assert!(file_len > 2 * bound, "the file must be larger than the bound for this to say anything");

    // Every recovered record reads back from the file as what was written.
    for k in [0u64, 7, REWRITTEN, KEYS - 1] {
        let key = ChunkKey::new(k as i32, 0, 0).morton();
        let record = found.record(key).unwrap().unwrap();
        let home = codec::RecordHome { world, key };
        assert_eq!(codec::decode_at(&record, home).unwrap().0, noise(key.0 as u64 * 1000 + OLDER_COPIES + 1));
    }
    assert_eq!(found.record(MortonKey(u128::MAX >> 60)).unwrap(), None);
}
