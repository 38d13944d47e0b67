//! Bit rot in a real save: a save made as `strata edit` makes it, then random bits
//! flipped (500 single-bit and 100 twenty-bit trials, seeded). Every trial must be **detected**
//! (opening with redb's page check or `verify` reports damage) or **harmless** (verify passes
//! and every chunk, the record count and the generator settings equal what was committed) —
//! never **silent** (verify passes, contents differ); no panic may escape (a panic inside redb
//! is contained as `StoreError::Damaged`, counted here); and `salvage` must recover every chunk
//! whose record bytes the flips did not touch.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use strata_cli::{EditPlan, GENERATOR_META, Save};
use strata_core::codec::RecordHome;
use strata_core::rng::SplitMix64;
use strata_core::store::full_range;
use strata_core::{Chunk, ChunkStore, MortonKey, StoreError, VoxelPos, WorldConfig, codec};
use strata_redb::{RedbStore, RedbStoreOptions, salvage};

struct Original {
    bytes: Vec<u8>,
    chunks: BTreeMap<MortonKey, Chunk>,
    generator: String,
    /// Each stored record's bytes in the file.
    live: Vec<(MortonKey, Range<usize>)>,
}

fn original(dir: &Path) -> Original {
    let path = dir.join("original.strata");
    {
        let save = Save::open(&path, Some(7)).unwrap();
        let mut world = save.world(WorldConfig::default());
        let plan = EditPlan {
            seed: 3,
            edits_per_batch: 400,
            min: VoxelPos::new(-64, -32, -64),
            max: VoxelPos::new(63, 31, 63),
        };
        for i in 0..3 {
            world.set_many(plan.batch(i));
            // Version-4 records too (game data in the record).
            for (p, data) in plan.block_data(i) {
                world.set_block_data(p, Some(data)).unwrap();
            }
            world.commit().unwrap();
        }
    }
    let bytes = std::fs::read(&path).unwrap();
    let store = RedbStore::open_with(&path, RedbStoreOptions { read_only: true, ..Default::default() }).unwrap();
    let mut records = Vec::new();
    store
        .scan(full_range(), &mut |k, r| {
            records.push((k, r.to_vec()));
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    let chunks = records.iter().map(|(k, _)| (*k, store.get(k.to_chunk()).unwrap().unwrap())).collect();
    let live = records
        .iter()
        .map(|(k, r)| {
            let at = find(&bytes, r).expect("each record lies whole in the file");
            (*k, at..at + r.len())
        })
        .collect();
    let generator = store.meta(GENERATOR_META).unwrap().unwrap();
    Original { bytes, chunks, generator, live }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[derive(Default, Debug)]
struct Outcomes {
    detected: usize,
    harmless: usize,
    silent: Vec<String>,
    contained_panics: usize,
    salvaged_untouched: usize,
    salvage_misses: Vec<String>,
}

fn count_panic(e: &StoreError, out: &mut Outcomes) {
    if matches!(e, StoreError::Damaged { detail, .. } if detail.contains("panicked")) {
        out.contained_panics += 1;
    }
}

/// Whether the store holds exactly what was committed.
fn same_contents(store: &RedbStore, orig: &Original) -> Result<(), String> {
    for (key, want) in &orig.chunks {
        match store.get(key.to_chunk()) {
            Ok(Some(c)) if c == *want => {}
            other => return Err(format!("chunk {key:?}: {other:?}")),
        }
    }
    let records = store.stats().map_err(|e| e.to_string())?.records;
    if records != orig.chunks.len() as u64 {
        return Err(format!("{records} records, committed {}", orig.chunks.len()));
    }
    match store.meta(GENERATOR_META) {
        Ok(Some(g)) if g == orig.generator => Ok(()),
        other => Err(format!("generator settings {other:?}")),
    }
}

fn trial(orig: &Original, bits: &[usize], dir: &Path, out: &mut Outcomes) {
    let mut bytes = orig.bytes.clone();
    for &b in bits {
        bytes[b / 8] ^= 1 << (b % 8);
    }
    let path = dir.join("damaged.strata");
    std::fs::write(&path, &bytes).unwrap();

    // Salvage (reads the file only): every record whose bytes were untouched comes back.
    let found = salvage::scan(&path, None).unwrap();
    for (key, range) in &orig.live {
        if bits.iter().any(|b| range.contains(&(b / 8))) {
            continue;
        }
        out.salvaged_untouched += 1;
        let world = found.world.unwrap_or_default();
        let got = found.record(*key).unwrap().map(|r| codec::decode_at(&r, RecordHome { world, key: *key }));
        if !matches!(&got, Some(Ok((c, _))) if c == &orig.chunks[key]) {
            out.salvage_misses.push(format!("flips {bits:?}: chunk {key:?} not recovered ({got:?})"));
        }
    }

    // What tools read (read-only): every chunk and the generator settings; errors are fine,
    // an escaping panic fails the test.
    if let Ok(store) = RedbStore::open_with(&path, RedbStoreOptions { read_only: true, ..Default::default() }) {
        for key in orig.chunks.keys() {
            if let Err(e) = store.get(key.to_chunk()) {
                count_panic(&e, out);
            }
        }
        if let Err(e) = store.meta(GENERATOR_META) {
            count_panic(&e, out);
        }
    }

    // `strata verify`: redb's page check when opening, then every record, summary and the digest.
    let options = RedbStoreOptions { check_integrity: true, ..Default::default() };
    let verified = RedbStore::open_with(&path, options).and_then(|s| s.verify(&mut || {}).map(|r| (s, r)));
    match verified {
        Err(e) => {
            count_panic(&e, out);
            out.detected += 1;
        }
        Ok((_, report)) if !report.is_clean() => out.detected += 1,
        Ok((store, _)) => match same_contents(&store, orig) {
            Ok(()) => out.harmless += 1,
            Err(why) => out.silent.push(format!("flips {bits:?}: verify passed but {why}")),
        },
    }
}

#[test]
fn flipped_bits_are_detected_or_harmless_never_silent_and_salvage_keeps_untouched_records() {
    let dir = tempfile::tempdir().unwrap();
    let orig = original(dir.path());
    assert!(orig.chunks.len() >= 30, "a save of {} edited chunks", orig.chunks.len());
    let total_bits = orig.bytes.len() * 8;
    let mut rng = SplitMix64::new(0x1457_b17f);
    let mut out = Outcomes::default();
    let (mut single, mut multi) = (Outcomes::default(), Outcomes::default());
    for i in 0..600 {
        let n = if i < 500 { 1 } else { 20 };
        let bits: Vec<usize> = (0..n).map(|_| rng.below(total_bits as u64) as usize).collect();
        trial(&orig, &bits, dir.path(), if i < 500 { &mut single } else { &mut multi });
    }
    for (name, o) in [("single-bit", &single), ("20-bit", &multi)] {
        eprintln!(
            "{name}: detected {} harmless {} silent {} contained redb panics {} (escaped panics 0); salvage recovered {}/{} untouched records",
            o.detected,
            o.harmless,
            o.silent.len(),
            o.contained_panics,
            o.salvaged_untouched - o.salvage_misses.len(),
            o.salvaged_untouched
        );
        out.silent.extend(o.silent.iter().cloned());
        out.salvage_misses.extend(o.salvage_misses.iter().cloned());
    }
    assert_eq!(single.detected + single.harmless + single.silent.len(), 500);
    assert_eq!(multi.detected + multi.harmless + multi.silent.len(), 100);
    assert!(out.silent.is_empty(), "silent corruption: {:#?}", out.silent);
    assert!(out.salvage_misses.is_empty(), "salvage missed: {:#?}", out.salvage_misses);
    assert!(single.detected > 0 && single.harmless > 0, "both outcomes occur: {single:?}");
}
