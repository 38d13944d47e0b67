//! LOD grids are computed lazily (on first read) after a full rebuild: they must equal the
//! grids the incremental path maintains eagerly, stay exact through later edits whichever
//! grids were read in between, and concurrent first readers must all get the same grid.

use crate::common;

use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use strata_core::{Chunk, ChunkKey, DenseChunk, FlatGenerator, MaterialId};
use strata_index::{IndexConfig, IndexSnapshot, IndexWriter, Mip, NodeId, PreparedChunk, ROOT_LEVEL};

fn generator() -> Arc<FlatGenerator> {
    Arc::new(FlatGenerator { height: 3, material: MaterialId(1) })
}

/// A chunk with a sloped surface, layered materials and a few blobs, from `seed`.
fn chunk(seed: u32) -> Chunk {
    let s = seed as i32;
    let mut c = Chunk::Dense(DenseChunk::from_fn(|p| {
        let (x, y, z) = (p.x as i32, p.y as i32, p.z as i32);
        let h = (s % 40) - 4 + (x * (s % 3)) / 4 - (z * (s % 5)) / 6;
        let blob = ((x ^ z ^ y).wrapping_mul(s | 1)) % 29 == 0;
        MaterialId(if y < h || blob { 1 + ((y + s) % 3) as u16 } else { 0 })
    }));
    c.normalize();
    c
}

fn key() -> impl Strategy<Value = ChunkKey> {
    (-3i32..3, -2i32..2, -3i32..3).prop_map(|(x, y, z)| ChunkKey::new(x, y, z))
}

/// Every node on the path from each root down to each key.
fn path_nodes(keys: &[ChunkKey]) -> Vec<NodeId> {
    let mut v: Vec<NodeId> = keys.iter().flat_map(|k| (0..=ROOT_LEVEL).map(|l| NodeId::containing(*k, l))).collect();
    v.sort();
    v.dedup();
    v
}

fn roots(keys: &[ChunkKey]) -> Vec<NodeId> {
    let mut v: Vec<NodeId> = keys.iter().map(|k| NodeId::containing(*k, ROOT_LEVEL)).collect();
    v.sort();
    v.dedup();
    v
}

/// Reads every root grid, which computes every grid in the tree.
fn force_all(snap: &IndexSnapshot, keys: &[ChunkKey]) {
    for r in roots(keys) {
        snap.lod_grid(r);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// A: bulk load (all grids lazy), edits with random partial reads in between.
    /// B: chunk by chunk with every grid read after each step (the eager, incremental path).
    /// Both equal a brute-force recompute and each other.
    #[test]
    fn lazy_grids_equal_eager_grids_through_edits(
        initial in proptest::collection::vec((key(), 0u32..1000), 1..10),
        edits in proptest::collection::vec((key(), 0u32..1000, proptest::option::of((0u32..=ROOT_LEVEL, key()))), 1..12),
    ) {
        let generator = generator();
        let mut known: HashMap<ChunkKey, Chunk> = HashMap::new();
        for (k, s) in &initial {
            known.insert(*k, chunk(*s));
        }
        let mut a = IndexWriter::new(generator.clone(), IndexConfig::default());
        a.bulk_load(known.iter().map(|(k, c)| (*k, Arc::new(c.clone()), 0)).collect(), 2);
        a.publish();
        let mut b = IndexWriter::new(generator.clone(), IndexConfig::default());
        let mut keys: Vec<ChunkKey> = known.keys().copied().collect();
        for (k, c) in &known {
            b.apply(PreparedChunk::new(*k, Arc::new(c.clone()), 0));
            force_all(&b.publish(), &keys);
        }
        let mut versions: HashMap<ChunkKey, u64> = HashMap::new();
        for (v, (k, s, read)) in edits.iter().enumerate() {
            let v = v as u64 + 1;
            let c = Arc::new(chunk(*s));
            known.insert(*k, (*c).clone());
            versions.insert(*k, v);
            keys.push(*k);
            a.apply(PreparedChunk::new(*k, c.clone(), v));
            let sa = a.publish();
            if let Some((level, at)) = read {
                // Read one node's grid: computes it and the grids below, not its ancestors.
                sa.lod_grid(NodeId::containing(*at, *level));
            }
            b.apply(PreparedChunk::new(*k, c, v));
            force_all(&b.publish(), &keys);
        }
        let (sa, sb) = (a.publish(), b.publish());
        for id in path_nodes(&keys) {
            prop_assert_eq!(sa.lod_grid(id), sb.lod_grid(id), "grid of {:?}", id);
            prop_assert_eq!(sa.summary(id), sb.summary(id), "summary of {:?}", id);
        }
        if let Err(e) = common::check_index(&sa, &known, &versions, generator.as_ref()) {
            return Err(TestCaseError::fail(format!("lazy: {e}")));
        }
        if let Err(e) = common::check_index(&sb, &known, &versions, generator.as_ref()) {
            return Err(TestCaseError::fail(format!("eager: {e}")));
        }
    }
}

/// Several readers request the grids of one fresh snapshot at once, in different orders (so
/// they race to compute the same nodes): all get the same grids, equal to a single-threaded
/// read of an identical rebuild and to the brute-force reference.
#[test]
fn concurrent_first_readers_get_the_same_grids() {
    let generator = generator();
    let known: HashMap<ChunkKey, Chunk> = (0..40u32)
        .map(|i| {
            let k = ChunkKey::new((i % 7) as i32 - 3, (i % 3) as i32 - 1, (i / 7) as i32 - 3);
            (k, chunk(i * 37 + 5))
        })
        .collect();
    let input: Vec<(ChunkKey, Arc<Chunk>, u64)> = known.iter().map(|(k, c)| (*k, Arc::new(c.clone()), 0)).collect();
    let keys: Vec<ChunkKey> = known.keys().copied().collect();
    let nodes = path_nodes(&keys);

    let mut solo = IndexWriter::new(generator.clone(), IndexConfig::default());
    solo.bulk_load(input.clone(), 1);
    let solo = solo.publish();
    let want: Vec<Option<Mip>> = nodes.iter().map(|id| solo.lod_grid(*id)).collect();

    for _ in 0..4 {
        let mut w = IndexWriter::new(generator.clone(), IndexConfig::default());
        w.bulk_load(input.clone(), 2);
        let snap = w.publish();
        let threads = 4;
        let barrier = Barrier::new(threads);
        let got: Vec<Vec<Option<Mip>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (snap, nodes, barrier) = (&snap, &nodes, &barrier);
                    s.spawn(move || {
                        // Thread 0 goes top-down, thread 1 bottom-up, the others start midway.
                        let mut order: Vec<usize> = (0..nodes.len()).collect();
                        if t % 2 == 1 {
                            order.reverse();
                        }
                        order.rotate_left(t * nodes.len() / threads);
                        barrier.wait();
                        let mut out = vec![None; nodes.len()];
                        for i in order {
                            out[i] = snap.lod_grid(nodes[i]);
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for g in &got {
            assert_eq!(*g, want);
        }
        common::check_index(&snap, &known, &HashMap::new(), generator.as_ref()).unwrap();
    }
}
