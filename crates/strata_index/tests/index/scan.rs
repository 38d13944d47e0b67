//! Scanning stored chunks root by root (`IndexWriter::scan_stored`): after scanning every root
//! that holds stored chunks, summaries and grids equal a brute-force recompute over the stored
//! chunks (and the world's copies of chunks the index already held), every scanned chunk is
//! released (no voxels kept), corrupt records are skipped by key, and scanning again adds
//! nothing. Scans read stored summaries, never chunk records.

use crate::common::{RefNode, Tilted, reference};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use strata_core::store::{CommitReceipt, ScanVisitor, SummaryVisitor};
use strata_core::{
    Chunk, ChunkKey, ChunkStore, DenseChunk, FlatGenerator, MaterialId, MemoryStore, MortonKey, StoreError,
    WorldGenerator, WriteBatch,
};
use strata_index::{IndexConfig, IndexSnapshot, IndexWriter, NodeId, ROOT_LEVEL};

fn generator() -> Arc<FlatGenerator> {
    Arc::new(FlatGenerator { height: 3, material: MaterialId(1) })
}

/// Keys across root borders on every axis: 8 roots.
fn key() -> impl Strategy<Value = ChunkKey> {
    (30i32..34, -1i32..1, -1i32..1).prop_map(|(x, y, z)| ChunkKey::new(x, y, z))
}

fn content(seed: u32) -> Chunk {
    let h = (seed % 33) as u8;
    let m = 2 + (seed / 33 % 5) as u16;
    // Ground with a top layer of its own and a wall of a third material: which way is up
    // decides what coarse cells show.
    let mut c = Chunk::Dense(DenseChunk::from_fn(|p| {
        MaterialId(match () {
            _ if p.x == h % 32 => m + 2,
            _ if p.y + 1 == h => m + 1,
            _ if p.y < h => m,
            _ => 0,
        })
    }));
    c.normalize();
    c
}

/// Like `common::check_node`, but a released chunk has no cells to compare.
fn check(snap: &IndexSnapshot, id: NodeId, r: &RefNode) -> Result<(), String> {
    let released = id.level == 0 && snap.is_released(id.key);
    if !released && snap.lod_chunk(id) != r.cells {
        return Err(format!("cells of {id:?} differ"));
    }
    let s = snap.summary(id);
    let non_air: u64 = r.hist.iter().filter(|(m, _)| **m != 0).map(|(_, n)| n).sum();
    if (s.non_air_count, s.source) != (non_air, r.source) {
        return Err(format!("summary of {id:?}: {:?} vs {:?}", (s.non_air_count, s.source), (non_air, r.source)));
    }
    for (i, c) in r.children.iter().enumerate() {
        check(snap, id.child(i), c)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn scanning_every_root_equals_a_recompute_over_the_stored_chunks(
        stored in proptest::collection::btree_map(key(), any::<u32>(), 1..12),
        corrupt in proptest::option::of(key()),
        held in proptest::option::of((key(), any::<u32>())),
        tilted in any::<bool>(),
        batch_knows_up in any::<bool>(),
    ) {
        // A world whose up differs from chunk to chunk, its save written by a batch that knew
        // it or by one that did not (`+Y` summaries: the index must summarise those records).
        let generator: Arc<dyn WorldGenerator> = if tilted {
            Arc::new(Tilted { ground: FlatGenerator { height: 3, material: MaterialId(1) }, centre: [1024, 10, -5] })
        } else {
            generator()
        };
        let store = MemoryStore::new();
        let mut batch = if batch_knows_up { WriteBatch::for_world(generator.world_up()) } else { WriteBatch::new() };
        let mut truth: BTreeMap<ChunkKey, Chunk> = BTreeMap::new();
        for (k, seed) in &stored {
            let c = content(*seed);
            batch.put(*k, &c);
            truth.insert(*k, c);
        }
        if let Some(k) = corrupt {
            batch.put_record(k.morton(), b"not a record");
            truth.remove(&k);
        }
        store.commit(&batch).unwrap();
        let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());
        // A chunk the world loaded (and maybe edited) before the scan: its copy wins.
        if let Some((k, seed)) = held {
            let c = content(seed.wrapping_add(1));
            writer.insert_loaded(k, Arc::new(c.clone()));
            truth.insert(k, c);
        }
        let mut roots: Vec<NodeId> = stored.keys().chain(&corrupt).map(|k| NodeId::containing(*k, ROOT_LEVEL)).collect();
        roots.sort();
        roots.dedup();
        let (mut scanned, mut skipped) = (0, Vec::new());
        for root in &roots {
            let load = writer.scan_stored(&store as &dyn ChunkStore, *root).unwrap();
            scanned += load.chunks;
            skipped.extend(load.skipped.into_iter().map(|(k, _)| k));
        }
        let snap = writer.publish();
        let held_key = held.map(|(k, _)| k);
        let want_scanned = stored.keys().filter(|k| Some(**k) != corrupt && Some(**k) != held_key).count();
        prop_assert_eq!(scanned, want_scanned);
        prop_assert_eq!(skipped, corrupt.filter(|k| Some(*k) != held_key).into_iter().collect::<Vec<_>>());
        for k in truth.keys() {
            prop_assert_eq!(snap.is_released(*k), Some(*k) != held_key, "{:?}", k);
        }
        let known: HashMap<ChunkKey, Chunk> = truth.into_iter().collect();
        let mut all_roots: Vec<NodeId> = known.keys().map(|k| NodeId::containing(*k, ROOT_LEVEL)).collect();
        all_roots.sort();
        all_roots.dedup();
        for root in all_roots {
            let r = reference(root, &known, &HashMap::new(), generator.as_ref());
            if let Err(e) = check(&snap, root, &r) {
                return Err(TestCaseError::fail(e));
            }
        }
        // Scanning again adds nothing.
        for root in &roots {
            prop_assert_eq!(writer.scan_stored(&store as &dyn ChunkStore, *root).unwrap().chunks, 0);
        }
    }
}

/// A store that counts reads of chunk records (the summaries are read from the inner store).
struct CountingRecordReads {
    inner: MemoryStore,
    record_reads: AtomicUsize,
}

impl ChunkStore for CountingRecordReads {
    fn world_id(&self) -> strata_core::WorldId {
        self.inner.world_id()
    }
    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.record_reads.fetch_add(1, Ordering::Relaxed);
        self.inner.get_record(key)
    }
    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        self.record_reads.fetch_add(1, Ordering::Relaxed);
        self.inner.scan(range, visit)
    }
    fn scan_summaries(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut SummaryVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.inner.scan_summaries(range, visit)
    }
    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        self.inner.commit(batch)
    }
}

/// Far regions are summarised from the summaries stored beside the records: a scan reads no
/// chunk record, and its grids equal those of an index that loaded (decoded) every chunk.
#[test]
fn a_scan_reads_summaries_not_chunk_records() {
    let store = CountingRecordReads { inner: MemoryStore::new(), record_reads: AtomicUsize::new(0) };
    let mut batch = WriteBatch::new();
    let keys: Vec<ChunkKey> = (0..40).map(|i| ChunkKey::new(30 + i % 4, i / 4 % 2 - 1, i / 8 - 2)).collect();
    for (i, k) in keys.iter().enumerate() {
        batch.put(*k, &content(i as u32 * 7 + 3));
    }
    store.commit(&batch).unwrap();
    let mut scanned = IndexWriter::new(generator(), IndexConfig::default());
    let mut loaded = IndexWriter::new(generator(), IndexConfig::default());
    let mut roots: Vec<NodeId> = keys.iter().map(|k| NodeId::containing(*k, ROOT_LEVEL)).collect();
    roots.sort();
    roots.dedup();
    for root in &roots {
        scanned.scan_stored(&store as &dyn ChunkStore, *root).unwrap();
    }
    assert_eq!(store.record_reads.load(Ordering::Relaxed), 0, "a scan decoded chunk records");
    for k in &keys {
        loaded.insert_loaded(*k, Arc::new(store.inner.get(*k).unwrap().unwrap()));
        loaded.release(*k);
    }
    let (a, b) = (scanned.publish(), loaded.publish());
    for root in &roots {
        for level in 1..=ROOT_LEVEL {
            for k in &keys {
                let id = NodeId::containing(*k, level);
                assert_eq!(a.lod_chunk(id), b.lod_chunk(id), "grid {id:?}");
                assert_eq!(a.summary(id), b.summary(id), "summary {id:?}");
            }
        }
        assert_eq!(a.summary(*root), b.summary(*root));
    }
}

#[test]
fn chunk_cells_made_with_another_up_are_taken_from_the_record() {
    // Up +X at these chunks; the save's summaries were made with +Y by a batch that did not
    // know the world's up.
    let generator =
        Arc::new(Tilted { ground: FlatGenerator { height: 3, material: MaterialId(1) }, centre: [-4096, 0, 0] });
    let world_up = generator.world_up();
    // Grass (3) on the +X face of stone (2): seen along +X the chunk is grass, along +Y stone.
    let side = Chunk::Dense(DenseChunk::from_fn(|p| {
        MaterialId(match p.x {
            0..15 => 2,
            15 => 3,
            _ => 0,
        })
    }));
    let keys = [ChunkKey::new(0, 0, 0), ChunkKey::new(5, 3, 2)];
    let store = MemoryStore::new();
    let mut batch = WriteBatch::new();
    for k in keys {
        assert_eq!(world_up.of_chunk(k), strata_core::Up::PosX);
        batch.put(k, &side);
    }
    store.commit(&batch).unwrap();
    let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());
    let load = writer.scan_chunk_cells(&store, NodeId::containing(keys[0], ROOT_LEVEL + 3)).unwrap();
    assert_eq!(load.chunks, 2);
    for k in keys {
        assert_eq!(writer.chunk_cell(k), Some(MaterialId(3)), "{k:?}");
    }
}
