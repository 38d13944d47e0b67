//! Tests of the redb store.

use super::*;
use crate::contain::panic_message;
use crate::open::stored_format;
use strata_core::{Chunk, ChunkKey, MaterialId, ProcessHistory};

#[test]
fn contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("w.strata")).unwrap();
    strata_core::store::contract::run(&store);
}

/// The palette contract across real reopens of the file; the palette is a checksummed meta
/// record, so a flipped bit in it is damage, never a silently different numbering.
#[test]
fn palettes_survive_reopening_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    let reopen = || Arc::new(RedbStore::open(&path).unwrap()) as Arc<dyn ChunkStore>;
    strata_core::store::contract::palettes(&reopen);
    // Read-only: reconciled without recording (nothing is written through it).
    let read_only = RedbStore::open_with(&path, RedbStoreOptions { read_only: true, ..Default::default() }).unwrap();
    let before = read_only.palette().unwrap();
    let registry = strata_core::store::contract::registry(&[
        (1, "stone"),
        (2, "dirt"),
        (3, "grass"),
        (4, "marble"),
        (9, "lamp"),
        (10, "new"),
    ]);
    let store =
        strata_core::open_with_palette(Arc::new(read_only), &registry, &strata_core::PaletteRules::new()).unwrap();
    assert_eq!(store.palette().unwrap(), before);
}

/// Game values across real reopens of the file.
#[test]
fn game_data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    strata_core::store::contract::game_data(&|| Arc::new(RedbStore::open(&path).unwrap()) as Arc<dyn ChunkStore>);
    // The values are meta records the save's check counts: it still verifies.
    let store = RedbStore::open(&path).unwrap();
    let report = store.verify(&mut || {}).unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[test]
fn survives_reopen_and_counts_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    {
        let store = RedbStore::open(&path).unwrap();
        let before = store.sync_count().unwrap();
        let mut b = WriteBatch::new();
        for x in 0..256 {
            b.put(ChunkKey::new(x, 0, 0), &strata_core::store::contract::dense(x as u16));
        }
        store.commit(&b).unwrap();
        let syncs = store.sync_count().unwrap() - before;
        assert!((1..=3).contains(&syncs), "one commit, {syncs} syncs");
    }
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(store.get(ChunkKey::new(17, 0, 0)).unwrap(), Some(strata_core::store::contract::dense(17)));
    assert_eq!(store.stats().unwrap().records, 256);
    let _ = Chunk::Uniform(MaterialId(0));
}

#[test]
fn a_cleanly_closed_save_opens_without_reading_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    {
        let store = RedbStore::open(&path).unwrap();
        for round in 0..4 {
            let mut b = WriteBatch::new();
            for x in 0..1000 {
                b.put(ChunkKey::new(x, round, 0), &strata_core::store::contract::dense(x as u16));
            }
            store.commit(&b).unwrap();
        }
    }
    // Opening reads the header and the allocator state, not one page per record.
    let store = RedbStore::open(&path).unwrap();
    let reads = store.file_reads();
    assert!(reads < 100, "opening read {reads} times");
    assert_eq!(store.get(ChunkKey::new(999, 3, 0)).unwrap(), Some(strata_core::store::contract::dense(999)));
}

#[test]
fn compaction_shrinks_after_rewrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    let mut store = RedbStore::open(&path).unwrap();
    for round in 0..8u16 {
        let mut b = WriteBatch::new();
        for x in 0..64 {
            b.put(ChunkKey::new(x, 0, 0), &strata_core::store::contract::dense(x as u16 + round));
        }
        store.commit(&b).unwrap();
    }
    let before = std::fs::metadata(&path).unwrap().len();
    store.compact().unwrap();
    drop(store);
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(after <= before, "{after} > {before}");
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(store.get(ChunkKey::new(5, 0, 0)).unwrap(), Some(strata_core::store::contract::dense(12)));
}

/// Every summary a scan gives, by key (`Err` for chunks that could not be summarised).
fn summaries(store: &RedbStore) -> Vec<(MortonKey, Result<StoredSummary, strata_core::DecodeError>)> {
    let mut out = Vec::new();
    store
        .scan_summaries(strata_core::store::full_range(), &mut |k, s| {
            out.push((k, s));
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

fn summaries_table_len(store: &RedbStore) -> u64 {
    let txn = store.database().unwrap().begin_read().unwrap();
    txn.open_table(SUMMARIES).unwrap().len().unwrap()
}

#[test]
fn a_format_1_save_gets_its_summaries_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.strata");
    let (a, b, bad) = (ChunkKey::new(1, 2, 3), ChunkKey::new(-4, 0, 9), ChunkKey::new(0, 0, 1));
    // A save as format 1 wrote it: its three tables, no summaries.
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            txn.open_table(META).unwrap().insert("format", 1).unwrap();
            txn.open_table(META_TEXT).unwrap();
            let mut chunks = txn.open_table(CHUNKS).unwrap();
            chunks
                .insert(
                    a.morton().0,
                    codec::encode_legacy(&strata_core::store::contract::dense(9), &Default::default()).as_slice(),
                )
                .unwrap();
            let uniform = codec::encode_legacy(&Chunk::Uniform(MaterialId(3)), &Default::default());
            chunks.insert(b.morton().0, uniform.as_slice()).unwrap();
            chunks.insert(bad.morton().0, &b"STRCgarbage"[..]).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(with_writable(&store, stored_format).unwrap(), (Some(SAVE_FORMAT_VERSION), true));
    assert_eq!(summaries_table_len(&store), 3, "one summary per record, the bad one included");
    let got = summaries(&store);
    let of = |c: Chunk| Ok(StoredSummary::of(&c, ProcessHistory::EMPTY, strata_core::Up::PosY));
    for (k, s) in got {
        match k {
            k if k == a.morton() => assert_eq!(s, of(strata_core::store::contract::dense(9))),
            k if k == b.morton() => assert_eq!(s, of(Chunk::Uniform(MaterialId(3)))),
            k => assert!(k == bad.morton() && s.is_err(), "{k:?}: {s:?}"),
        }
    }
    // The records themselves are untouched.
    assert_eq!(store.get(a).unwrap(), Some(strata_core::store::contract::dense(9)));
}

#[test]
fn a_damaged_summary_is_made_again_from_its_record_and_deletes_remove_both() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("w.strata")).unwrap();
    let (a, b) = (ChunkKey::new(0, 0, 0), ChunkKey::new(1, 0, 0));
    let mut batch = WriteBatch::new();
    batch.put(a, &strata_core::store::contract::dense(4));
    batch.put(b, &strata_core::store::contract::dense(5));
    store.commit(&batch).unwrap();
    // b's summary written under a's key (a summary moved to another key), as bit rot might.
    copy_value(&store, SUMMARIES, b, a);
    let got = summaries(&store);
    assert_eq!(
        got[0],
        (
            a.morton(),
            Ok(StoredSummary::of(&strata_core::store::contract::dense(4), Default::default(), strata_core::Up::PosY))
        )
    );
    batch.clear();
    batch.delete(a);
    store.commit(&batch).unwrap();
    assert_eq!(summaries_table_len(&store), 1);
    assert_eq!(summaries(&store).len(), 1);
}

#[test]
fn summary_problems_name_every_damaged_missing_stale_or_orphan_summary() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("w.strata")).unwrap();
    let keys: Vec<ChunkKey> = (0..6).map(|x| ChunkKey::new(x, 0, 0)).collect();
    let mut batch = WriteBatch::new();
    for (i, k) in keys.iter().enumerate() {
        batch.put(*k, &strata_core::store::contract::dense(i as u16 + 3));
    }
    store.commit(&batch).unwrap();
    assert_eq!(store.summary_problems().unwrap(), vec![]);
    let txn = store.database().unwrap().begin_write().unwrap();
    {
        let mut s = txn.open_table(SUMMARIES).unwrap();
        let mut c = txn.open_table(CHUNKS).unwrap();
        // 0: a bit flipped; 1: removed; 2: another chunk's summary re-sealed under its key;
        // 3: its record removed (the summary left over); 4: its own summary made with another
        // up (as a tool that knew another world's up writes it: not damage).
        let mut flipped = s.get(keys[0].morton().0).unwrap().unwrap().value().to_vec();
        flipped[30] ^= 4;
        s.insert(keys[0].morton().0, flipped.as_slice()).unwrap();
        s.remove(keys[1].morton().0).unwrap();
        let mut stale = Vec::new();
        StoredSummary::of(&strata_core::store::contract::dense(40), Default::default(), strata_core::Up::PosY)
            .encode(keys[2].morton(), &mut stale);
        s.insert(keys[2].morton().0, stale.as_slice()).unwrap();
        c.remove(keys[3].morton().0).unwrap();
        let mut other_up = Vec::new();
        StoredSummary::of(&strata_core::store::contract::dense(7), Default::default(), strata_core::Up::NegX)
            .encode(keys[4].morton(), &mut other_up);
        s.insert(keys[4].morton().0, other_up.as_slice()).unwrap();
    }
    txn.commit().unwrap();
    let problems = store.summary_problems().unwrap();
    assert!(matches!(problems[0], (k, SummaryProblem::Damaged(_)) if k == keys[0].morton()), "{problems:?}");
    assert_eq!(
        problems[1..],
        [
            (keys[1].morton(), SummaryProblem::Missing),
            (keys[2].morton(), SummaryProblem::Stale),
            (keys[3].morton(), SummaryProblem::Orphan)
        ]
    );
}

#[test]
fn the_world_id_and_sequence_survive_reopening_and_a_new_save_can_be_given_its_world() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    let key = ChunkKey::new(1, 1, 1);
    let (world, seq) = {
        let store = RedbStore::open(&path).unwrap();
        let mut b = WriteBatch::new();
        b.put(key, &strata_core::store::contract::dense(3));
        store.commit(&b).unwrap();
        store.commit(&b).unwrap();
        let rec = store.get_record(key.morton()).unwrap().unwrap();
        (store.world_id(), codec::parse_record(&rec).unwrap().0.sequence)
    };
    assert_eq!(seq, 2);
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(store.world_id(), world);
    let mut b = WriteBatch::new();
    b.put(key, &strata_core::store::contract::dense(4));
    store.commit(&b).unwrap();
    let rec = store.get_record(key.morton()).unwrap().unwrap();
    assert_eq!(codec::parse_record(&rec).unwrap().0.sequence, 3, "numbering continues after reopening");
    let given = WorldId(0x5eed);
    let options = RedbStoreOptions { new_world_id: Some(given), ..Default::default() };
    let other = RedbStore::open_with(dir.path().join("new.strata"), options.clone()).unwrap();
    assert_eq!(other.world_id(), given);
    drop(store);
    assert_eq!(RedbStore::open_with(&path, options).unwrap().world_id(), world, "an existing save keeps its id");
}

#[test]
fn a_record_moved_to_another_key_in_the_file_is_reported_as_misplaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("w.strata")).unwrap();
    let (a, b) = (ChunkKey::new(0, 0, 0), ChunkKey::new(5, 0, 0));
    let mut batch = WriteBatch::new();
    batch.put(a, &strata_core::store::contract::dense(4));
    batch.put(b, &strata_core::store::contract::dense(5));
    store.commit(&batch).unwrap();
    // What a damaged B-tree can do: b's bytes found under a's key.
    copy_value(&store, CHUNKS, b, a);
    let err = store.get(a).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { key, source: strata_core::DecodeError::Misplaced { claims, .. } } if *key == a && claims.key == b.morton()),
        "{err}"
    );
    assert!(matches!(store.get_many(&[b, a]), Err(StoreError::Corrupt { key, .. }) if key == a));
    let problems = store.summary_problems().unwrap();
    assert_eq!(problems, vec![(a.morton(), SummaryProblem::Stale)], "its summary no longer matches");
}

fn deleted_keys(store: &RedbStore) -> Vec<(MortonKey, u64)> {
    let txn = store.database().unwrap().begin_read().unwrap();
    let t = txn.open_table(DELETED).unwrap();
    t.iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            let (h, _) = codec::parse_record(v.value()).unwrap();
            assert_eq!((h.kind, h.home), (codec::RecordKind::Deletion, Some(store.home(MortonKey(k.value())))));
            (MortonKey(k.value()), h.sequence)
        })
        .collect()
}

#[test]
fn a_delete_leaves_a_sealed_deletion_record_until_the_key_is_put_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("w.strata")).unwrap();
    let (a, b) = (ChunkKey::new(0, 0, 0), ChunkKey::new(5, 0, 0));
    let mut batch = WriteBatch::new();
    batch.put(a, &strata_core::store::contract::dense(4));
    batch.put(b, &strata_core::store::contract::dense(5));
    store.commit(&batch).unwrap();
    batch.clear();
    batch.delete(a);
    batch.delete(b);
    batch.put(b, &strata_core::store::contract::dense(6));
    store.commit(&batch).unwrap();
    assert_eq!(deleted_keys(&store), vec![(a.morton(), 2)], "b was put again in the same batch");
    assert_eq!(store.get(a).unwrap(), None);
    batch.clear();
    batch.put(a, &strata_core::store::contract::dense(7));
    store.commit(&batch).unwrap();
    assert_eq!(deleted_keys(&store), vec![]);
}

#[test]
fn a_format_2_save_gets_an_identity_and_keeps_reading_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.strata");
    let key = ChunkKey::new(2, -3, 4);
    let chunk = strata_core::store::contract::dense(12);
    let history = {
        let mut h = ProcessHistory::EMPTY;
        h.record(strata_core::ProcessStamp { process: strata_core::ProcessId::new(1).unwrap(), step: 9 });
        h
    };
    // A save as format 2 wrote it: summaries, version-2 records, no identity.
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            txn.open_table(META).unwrap().insert("format", 2).unwrap();
            txn.open_table(META_TEXT).unwrap().insert("generator", "(seed: 11)").unwrap();
            let record = codec::encode_legacy(&chunk, &history);
            txn.open_table(CHUNKS).unwrap().insert(key.morton().0, record.as_slice()).unwrap();
            let mut summary = Vec::new();
            StoredSummary::of(&chunk, history, strata_core::Up::PosY).encode(key.morton(), &mut summary);
            txn.open_table(SUMMARIES).unwrap().insert(key.morton().0, summary.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(with_writable(&store, stored_format).unwrap(), (Some(SAVE_FORMAT_VERSION), true));
    assert_ne!(store.world_id(), WorldId::UNSEALED);
    assert_eq!(store.get_with_history(key).unwrap(), Some((chunk, history)));
    assert_eq!(store.summary_problems().unwrap(), vec![]);
    // Its text values are meta records now, and the digest covers what it held.
    assert_eq!(store.meta("generator").unwrap().as_deref(), Some("(seed: 11)"));
    let report = store.verify(&mut || {}).unwrap();
    assert!(report.is_clean() && report.records == 1 && report.metas == 1, "{report:?}");
    let world = store.world_id();
    drop(store);
    assert_eq!(RedbStore::open(&path).unwrap().world_id(), world);
}

#[test]
fn meta_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    RedbStore::open(&path).unwrap().set_meta("generator", "(seed: 3)").unwrap();
    let s = RedbStore::open(&path).unwrap();
    assert_eq!(s.meta("generator").unwrap().as_deref(), Some("(seed: 3)"));
    assert_eq!(s.meta("nope").unwrap(), None);
}

#[test]
fn garbage_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.strata");
    std::fs::write(&path, vec![0xAB; 8192]).unwrap();
    assert!(RedbStore::open(&path).is_err());
}

#[test]
fn leftover_creation_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    std::fs::write(dir.path().join("w.strata.creating"), b"half-written").unwrap();
    let s = RedbStore::open(&path).unwrap();
    assert_eq!(s.stats().unwrap().records, 0);
    assert!(!dir.path().join("w.strata.creating").exists());
}

#[test]
fn second_open_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    let _a = RedbStore::open(&path).unwrap();
    assert!(RedbStore::open(&path).is_err());
}

/// A save with `n` committed chunks over two commits and a meta value.
fn committed(dir: &Path, n: i32) -> RedbStore {
    let store = RedbStore::open(dir.join("w.strata")).unwrap();
    let mut b = WriteBatch::new();
    for x in 0..n {
        b.put(ChunkKey::new(x, 0, 0), &strata_core::store::contract::dense(x as u16 + 1));
    }
    store.commit(&b).unwrap();
    b.clear();
    b.put(ChunkKey::new(0, 0, 0), &strata_core::store::contract::dense(30));
    store.commit(&b).unwrap();
    store.set_meta("generator", "(seed: 3)").unwrap();
    store
}

fn raw_chunks(store: &RedbStore, edit: impl FnOnce(&mut redb::Table<u128, &[u8]>)) {
    let txn = store.database().unwrap().begin_write().unwrap();
    edit(&mut txn.open_table(CHUNKS).unwrap());
    txn.commit().unwrap();
}

#[test]
fn verify_is_clean_after_commits_deletes_and_meta_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = committed(dir.path(), 6);
    let mut b = WriteBatch::new();
    b.delete(ChunkKey::new(5, 0, 0));
    b.delete(ChunkKey::new(40, 0, 0));
    store.commit(&b).unwrap();
    store.set_meta("generator", "(seed: 4)").unwrap();
    let mut calls = 0;
    let report = store.verify(&mut || calls += 1).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.records, report.metas, calls), (5, 1, 5));
    assert_eq!(store.meta("generator").unwrap().as_deref(), Some("(seed: 4)"));
}

#[test]
fn verify_finds_a_vanished_record_and_an_older_copy_brought_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = committed(dir.path(), 6);
    let key = ChunkKey::new(0, 0, 0).morton();
    // An older copy of (0,0,0): the record of the first commit, sealed as it was then.
    let mut old = Vec::new();
    codec::seal_into(&codec::encode(key, &strata_core::store::contract::dense(1)), store.world_id(), 1, &mut old);
    raw_chunks(&store, |t| {
        t.insert(key.0, old.as_slice()).unwrap();
    });
    assert_eq!(store.get(ChunkKey::new(0, 0, 0)).unwrap(), Some(strata_core::store::contract::dense(1)), "it decodes");
    let report = store.verify(&mut || {}).unwrap();
    let mismatch = report.digest.expect("the digest tells");
    assert_eq!((mismatch.recorded_records, mismatch.found_records), (6, 6));
    assert!(mismatch.to_string().contains("older copy"), "{mismatch}");
    // A record gone from the tree (its summary left behind).
    raw_chunks(&store, |t| {
        t.remove(ChunkKey::new(3, 0, 0).morton().0).unwrap();
    });
    let report = store.verify(&mut || {}).unwrap();
    let mismatch = report.digest.unwrap();
    assert_eq!((mismatch.recorded_records, mismatch.found_records), (6, 5));
    assert!(report.summaries.contains(&(ChunkKey::new(3, 0, 0).morton(), SummaryProblem::Orphan)));
}

#[test]
fn a_damaged_meta_value_is_an_error_not_another_world() {
    let dir = tempfile::tempdir().unwrap();
    let store = committed(dir.path(), 2);
    let txn = store.database().unwrap().begin_write().unwrap();
    {
        let mut t = txn.open_table(META_RECORDS).unwrap();
        let mut rec = t.get("generator").unwrap().unwrap().value().to_vec();
        let last = rec.len() - 2;
        rec[last] ^= 1; // "(seed: 3)" → "(seed: 2)"
        t.insert("generator", rec.as_slice()).unwrap();
    }
    txn.commit().unwrap();
    let err = store.meta("generator").unwrap_err();
    assert!(matches!(&err, StoreError::Damaged { .. }), "{err}");
    assert!(err.to_string().contains("strata salvage"), "{err}");
    let report = store.verify(&mut || {}).unwrap();
    assert_eq!(report.metas_bad.len(), 1, "{report:?}");
    assert!(report.digest.is_some());
}

#[test]
fn a_damaged_identity_refuses_to_open_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    {
        let store = committed(dir.path(), 2);
        let txn = store.database().unwrap().begin_write().unwrap();
        txn.open_table(IDENTITY).unwrap().insert("sequence", 1).unwrap();
        txn.commit().unwrap();
    }
    let err = RedbStore::open(&path).unwrap_err();
    match &err {
        StoreError::Damaged { path: p, detail } => assert!(p == &path && detail.contains("identity"), "{err}"),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("strata salvage --save"), "{err}");
}

#[test]
fn a_panicking_visitor_is_the_callers_panic_not_damage() {
    let dir = tempfile::tempdir().unwrap();
    let store = committed(dir.path(), 3);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _ = store.scan_summaries(strata_core::store::full_range(), &mut |_, _| panic!("the caller's bug"));
    }));
    let payload = caught.unwrap_err();
    assert_eq!(panic_message(payload.as_ref()), "the caller's bug");
    // The store is not poisoned.
    assert!(store.get(ChunkKey::new(1, 0, 0)).unwrap().is_some());
    assert!(!store.poisoned.load(Ordering::Acquire));
}

#[test]
fn a_panic_inside_a_contained_call_poisons_the_store_and_nothing_is_written_after() {
    let dir = tempfile::tempdir().unwrap();
    let store = committed(dir.path(), 3);
    let err = store.contain("testing", || -> Result<(), StoreError> { panic!("injected") }).unwrap_err();
    assert!(matches!(&err, StoreError::Damaged { detail, .. } if detail.contains("injected")), "{err}");
    let mut b = WriteBatch::new();
    b.put(ChunkKey::new(9, 9, 9), &strata_core::store::contract::dense(2));
    assert!(matches!(store.commit(&b), Err(StoreError::Damaged { .. })));
    assert!(matches!(store.get(ChunkKey::new(1, 0, 0)), Err(StoreError::Damaged { .. })));
}

#[test]
fn a_read_only_store_reads_and_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    drop(committed(dir.path(), 4));
    let before = std::fs::read(&path).unwrap();
    let options = RedbStoreOptions { read_only: true, ..Default::default() };
    let store = RedbStore::open_with(&path, options.clone()).unwrap();
    assert_eq!(store.get(ChunkKey::new(2, 0, 0)).unwrap(), Some(strata_core::store::contract::dense(3)));
    assert_eq!(store.meta("generator").unwrap().as_deref(), Some("(seed: 3)"));
    assert!(store.verify(&mut || {}).unwrap().is_clean());
    let mut b = WriteBatch::new();
    b.put(ChunkKey::new(9, 0, 0), &strata_core::store::contract::dense(3));
    assert!(matches!(store.commit(&b), Err(StoreError::ReadOnly)));
    assert!(matches!(store.set_meta("x", "y"), Err(StoreError::ReadOnly)));
    store.close().unwrap();
    assert!(std::fs::read(&path).unwrap() == before, "the file is unchanged");
    assert!(RedbStore::open_with(dir.path().join("missing.strata"), options).is_err());
}

fn with_writable<T>(store: &RedbStore, f: impl FnOnce(&Database) -> T) -> T {
    match &*store.database().unwrap() {
        Db::Writable(db) => f(db),
        Db::ReadOnly(_) => panic!("read-only"),
    }
}

/// Writes the value stored under `from` in `table` under `to` as well, behind the store's back.
fn copy_value(store: &RedbStore, table: TableDefinition<u128, &[u8]>, from: ChunkKey, to: ChunkKey) {
    let txn = store.database().unwrap().begin_write().unwrap();
    {
        let mut t = txn.open_table(table).unwrap();
        let value = t.get(from.morton().0).unwrap().unwrap().value().to_vec();
        t.insert(to.morton().0, value.as_slice()).unwrap();
    }
    txn.commit().unwrap();
}

/// A disk image shared by every backend made on it (as a file is by every handle of it);
/// `fail_writes` makes the next writes and syncs fail (a moment of full disk).
#[derive(Clone, Default, Debug)]
struct SharedDisk {
    bytes: Arc<std::sync::Mutex<Vec<u8>>>,
    fail_writes: Arc<std::sync::atomic::AtomicU32>,
}

impl SharedDisk {
    fn failing(&self) -> io::Result<()> {
        let left = self.fail_writes.load(Ordering::SeqCst);
        if left > 0 {
            self.fail_writes.store(left - 1, Ordering::SeqCst);
            return Err(io::Error::new(io::ErrorKind::StorageFull, "no space left on device"));
        }
        Ok(())
    }
}

impl StorageBackend for SharedDisk {
    fn len(&self) -> io::Result<u64> {
        Ok(self.bytes.lock().unwrap().len() as u64)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let bytes = self.bytes.lock().unwrap();
        let at = offset as usize;
        out.copy_from_slice(bytes.get(at..at + out.len()).ok_or_else(|| io::Error::other("read past the end"))?);
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.failing()?;
        self.bytes.lock().unwrap().resize(len as usize, 0);
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        self.failing()
    }
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.failing()?;
        let mut bytes = self.bytes.lock().unwrap();
        let at = offset as usize;
        bytes.get_mut(at..at + data.len()).ok_or_else(|| io::Error::other("write past the end"))?.copy_from_slice(data);
        Ok(())
    }
}

/// One moment of full disk latches redb: every later call fails ("previous I/O error"). The
/// store reopens the database on its next call (it once never did: every later commit failed
/// and the edits were lost at exit), and every acknowledged commit is there after it.
#[test]
fn an_io_error_is_survived_by_reopening_the_database() {
    let disk = SharedDisk::default();
    let make = {
        let disk = disk.clone();
        move || Ok(disk.clone())
    };
    let store = RedbStore::open_reopenable_backend(make, "flaky", Default::default()).unwrap();
    let put = |x: i32, seed: u16| {
        let mut b = WriteBatch::new();
        b.put(ChunkKey::new(x, 0, 0), &strata_core::store::contract::dense(seed));
        b.put(ChunkKey::new(x, 1, 0), &strata_core::store::contract::dense(seed + 1));
        store.commit(&b)
    };
    put(1, 10).unwrap();
    disk.fail_writes.store(2, Ordering::SeqCst);
    assert!(matches!(put(2, 20), Err(StoreError::Io(_))), "the disk is full");
    // The disk has room again after two more failed writes: a later commit succeeds (the
    // database reopened), as a world's next commits retry.
    let tries = (1..=4)
        .find(|i| match put(3, 30) {
            Ok(_) => true,
            Err(e) => {
                eprintln!("try {i}: {e:?} (reopens: {})", store.reopens());
                false
            }
        })
        .expect("a commit after the disk has room succeeds");
    assert!(tries <= 2, "{tries} tries");
    assert!(store.reopens() >= 1);
    put(4, 40).unwrap();
    for (x, seed) in [(1, 10), (3, 30), (4, 40)] {
        assert_eq!(store.get(ChunkKey::new(x, 1, 0)).unwrap(), Some(strata_core::store::contract::dense(seed + 1)));
    }
    // The failed commit is whole or absent.
    let failed = [ChunkKey::new(2, 0, 0), ChunkKey::new(2, 1, 0)].map(|k| store.get(k).unwrap().is_some());
    assert!(failed[0] == failed[1], "{failed:?}");
    assert!(store.verify(&mut || {}).unwrap().is_clean());
}
