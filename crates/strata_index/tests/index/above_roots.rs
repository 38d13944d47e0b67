//! Grids above the octree's roots (levels 6 and up): generator samples with edited chunks
//! folded in, equal to a brute-force reference written from the documented rule, whether the
//! edited chunks are held, released, or known only from a store's chunk-cell scan; chunks the
//! generator made change nothing.

use crate::common::rule;
use proptest::prelude::*;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use strata_core::{
    Chunk, ChunkKey, ChunkOrigin, DenseChunk, LocalPos, MaterialId, MemoryStore, ProcessHistory, Up, WorldGenerator,
    WriteBatch,
};
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_index::{IndexConfig, IndexSnapshot, IndexWriter, NodeId, ROOT_LEVEL};

fn generator() -> Arc<NoiseTerrain> {
    Arc::new(NoiseTerrain::new(TerrainConfig::default()))
}

/// A chunk's single cell, from its voxels: the rule over 2×2×2 blocks, five times, with the
/// voxels read one by one.
fn chunk_cell(c: &Chunk, origin: [usize; 3], size: usize) -> u16 {
    if size == 1 {
        return c.get(LocalPos::new(origin[0] as u8, origin[1] as u8, origin[2] as u8).index()).0;
    }
    let h = size / 2;
    let subs: Vec<u16> = (0..8)
        .map(|i| chunk_cell(c, [origin[0] + (i & 1) * h, origin[1] + (i >> 1 & 1) * h, origin[2] + (i >> 2) * h], h))
        .collect();
    rule(&subs, Up::PosY)
}

/// The edited chunks, and the cells of every level that hold one (`(level, cell)`).
struct Edited {
    chunks: HashMap<ChunkKey, Chunk>,
    occupied: HashSet<(u32, [i64; 3])>,
}

impl Edited {
    fn new(chunks: HashMap<ChunkKey, Chunk>) -> Self {
        let occupied = chunks
            .keys()
            .flat_map(|k| (ROOT_LEVEL..=16).map(move |l| (l, k.to_array().map(|v| i64::from(v) >> (l - ROOT_LEVEL)))))
            .collect();
        Self { chunks, occupied }
    }
}

thread_local! {
    /// The generator's grids the reference has read, by (level, node).
    static GENERATED: RefCell<HashMap<(u32, ChunkKey), Chunk>> = RefCell::new(HashMap::new());
}

/// Cell `g` of a level-`level` grid (cells 2^`level` voxels wide) by the documented rule.
fn reference_cell(level: u32, g: [i64; 3], edited: &Edited, generator: &dyn WorldGenerator) -> u16 {
    if !edited.occupied.contains(&(level, g)) {
        // The generator's cell: its `sample_lod` grid (one per node, kept for the case).
        let node = ChunkKey::new((g[0] >> 5) as i32, (g[1] >> 5) as i32, (g[2] >> 5) as i32);
        let grid = GENERATED
            .with(|m| m.borrow_mut().entry((level, node)).or_insert_with(|| generator.sample_lod(level, node)).clone());
        let l = g.map(|v| (v & 31) as u8);
        return grid.get(LocalPos::new(l[0], l[1], l[2]).index()).0;
    }
    if level == ROOT_LEVEL {
        return chunk_cell(&edited.chunks[&ChunkKey::new(g[0] as i32, g[1] as i32, g[2] as i32)], [0; 3], 32);
    }
    let subs: Vec<u16> = (0..8)
        .map(|i| {
            let s = [2 * g[0] + (i & 1), 2 * g[1] + (i >> 1 & 1), 2 * g[2] + (i >> 2)];
            reference_cell(level - 1, s, edited, generator)
        })
        .collect();
    // NoiseTerrain's up is +Y.
    rule(&subs, Up::PosY)
}

fn reference_grid(id: NodeId, edited: &Edited, generator: &dyn WorldGenerator) -> Chunk {
    let origin = id.key.to_array().map(|v| i64::from(v) * 32);
    let mut c = Chunk::Dense(DenseChunk::from_fn(|p| {
        let g = [origin[0] + i64::from(p.x), origin[1] + i64::from(p.y), origin[2] + i64::from(p.z)];
        MaterialId(reference_cell(id.level, g, edited, generator))
    }));
    c.normalize();
    c
}

/// Edited chunks clustered under the ground around the origin, so they tip coarse cells.
fn edits() -> impl Strategy<Value = HashMap<ChunkKey, Chunk>> {
    let key = (0i32..6, -3i32..0, 0i32..6).prop_map(|(x, y, z)| ChunkKey::new(x, y, z));
    let content = (0u8..4, 1u16..5).prop_map(|(kind, m)| match kind {
        0 => Chunk::Uniform(MaterialId::AIR),
        1 => Chunk::Uniform(MaterialId(10 + m)),
        _ => {
            let cut = 8 * kind;
            let mut c = Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(if p.y < cut { 10 + m } else { 0 })));
            c.normalize();
            c
        }
    });
    proptest::collection::hash_map(key, content, 1..40)
}

/// The grids checked: the level-6, 7 and 8 nodes over the edits, and a neighbour of each.
fn nodes() -> Vec<NodeId> {
    (ROOT_LEVEL + 1..=ROOT_LEVEL + 3)
        .flat_map(|l| {
            let n = NodeId::containing(ChunkKey::new(0, -1, 0), l);
            [n, NodeId::new(l, ChunkKey::new(n.key.x - 1, n.key.y, n.key.z))]
        })
        .collect()
}

/// The reference grids of [`nodes`].
fn expected(edited: &Edited, g: &dyn WorldGenerator) -> Vec<(NodeId, Chunk)> {
    nodes().into_iter().map(|id| (id, reference_grid(id, edited, g))).collect()
}

fn check(snap: &IndexSnapshot, expected: &[(NodeId, Chunk)]) -> Result<(), TestCaseError> {
    for (id, want) in expected {
        prop_assert!(snap.lod_chunk(*id) == *want, "grid of {:?}", id);
    }
    Ok(())
}

/// The grids of [`nodes`] with nothing edited (the same for every case).
static UNEDITED: OnceLock<Vec<(NodeId, Chunk)>> = OnceLock::new();

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    #[test]
    fn grids_above_the_roots_fold_in_edited_chunks_held_released_or_scanned(edited in edits()) {
        let g = generator();
        let want = expected(&Edited::new(edited.clone()), g.as_ref());
        let mut writer = IndexWriter::new(g.clone(), IndexConfig::default());
        // Chunks the generator made (a load beside the edits) change nothing.
        for x in 6..9 {
            let k = ChunkKey::new(x, -1, 0);
            writer.insert_loaded_from(k, Arc::new(g.generate(k)), ChunkOrigin::Generator, ProcessHistory::EMPTY);
        }
        for (k, c) in &edited {
            writer.insert_loaded_from(*k, Arc::new(c.clone()), ChunkOrigin::Store, ProcessHistory::EMPTY);
        }
        check(&writer.publish(), &want)?;
        for k in edited.keys() {
            writer.release(*k);
        }
        check(&writer.publish(), &want)?;

        // Edited again with the octree's grids computed (the index then reads chunk cells
        // from the highest computed grid): each chunk turned upside down.
        let snap = writer.publish();
        for k in edited.keys() {
            for level in [1, 3, ROOT_LEVEL] {
                snap.lod_chunk(NodeId::containing(*k, level));
            }
        }
        let flipped: HashMap<ChunkKey, Chunk> = edited
            .iter()
            .map(|(k, c)| {
                let mut f = Chunk::Dense(DenseChunk::from_fn(|p| c.get(LocalPos::new(p.x, 31 - p.y, p.z).index())));
                f.normalize();
                (*k, f)
            })
            .collect();
        for (v, (k, c)) in flipped.iter().enumerate() {
            let change = strata_core::ChunkChange { key: *k, chunk: Arc::new(c.clone()), version: 100 + v as u64, history: ProcessHistory::EMPTY, extent: strata_core::ChangeExtent::WHOLE };
            writer.apply_change(&change);
        }
        check(&writer.publish(), &expected(&Edited::new(flipped), g.as_ref()))?;

        // Known from the store alone: nothing before the scan, everything after it.
        let store = MemoryStore::new();
        let mut batch = WriteBatch::new();
        for (k, c) in &edited {
            batch.put(*k, c);
        }
        strata_core::ChunkStore::commit(&store, &batch).unwrap();
        let mut fresh = IndexWriter::new(g.clone(), IndexConfig::default());
        let top = NodeId::containing(ChunkKey::new(0, -1, 0), ROOT_LEVEL + 4);
        check(&fresh.publish(), UNEDITED.get_or_init(|| expected(&Edited::new(HashMap::new()), g.as_ref())))?;
        let load = fresh.scan_chunk_cells(&store, top).unwrap();
        prop_assert_eq!(load.chunks, edited.len());
        check(&fresh.publish(), &want)?;
    }
}

#[test]
fn an_edit_that_tips_the_majority_shows_at_level_six_and_is_undone_with_it() {
    // Eight chunks of one level-6 cell (2×2×2 chunks) turned to material 42: the cell shows it.
    let g = generator();
    let mut writer = IndexWriter::new(g.clone(), IndexConfig::default());
    let node = NodeId::containing(ChunkKey::new(0, -1, 0), ROOT_LEVEL + 1);
    let before = writer.publish().lod_chunk(node);
    let keys: Vec<ChunkKey> = (0..8).map(|i| ChunkKey::new(i & 1, -2 + (i >> 1 & 1), i >> 2)).collect();
    for (v, k) in keys.iter().enumerate() {
        let change = strata_core::ChunkChange {
            key: *k,
            chunk: Arc::new(Chunk::Uniform(MaterialId(42))),
            version: v as u64 + 1,
            history: ProcessHistory::EMPTY,
            extent: strata_core::ChangeExtent::WHOLE,
        };
        writer.apply_change(&change);
    }
    let snap = writer.publish();
    let cell = |c: &Chunk, k: ChunkKey| {
        let l = [k.x, k.y, k.z].map(|v| (v - 64 * (v >> 6)) / 2);
        c.get(LocalPos::new(l[0] as u8, l[1] as u8, l[2] as u8).index())
    };
    let after = snap.lod_chunk(node);
    assert_eq!(cell(&after, keys[0]), MaterialId(42));
    assert_ne!(cell(&before, keys[0]), MaterialId(42));
    assert_eq!(snap.chunk_cell(keys[3]), Some(MaterialId(42)));
    // Cells away from the edit keep the generator's samples.
    let far = ChunkKey::new(40, -2, 40);
    assert_eq!(cell(&after, far), cell(&before, far));
    let mut changed = writer.take_changed_cells();
    changed.sort();
    let mut want = keys.clone();
    want.sort();
    assert_eq!(changed, want, "eight new chunk cells");
    // One voxel more changes the voxels, not the cell: no grid above the roots is stale.
    let mut one = Chunk::Uniform(MaterialId(42));
    one.set(LocalPos::new(1, 2, 3).index(), MaterialId::AIR);
    writer.apply_change(&strata_core::ChunkChange {
        key: keys[0],
        chunk: Arc::new(one),
        version: 20,
        history: ProcessHistory::EMPTY,
        extent: strata_core::ChangeExtent::WHOLE,
    });
    writer.publish();
    assert!(writer.take_changed_cells().is_empty());
    writer.apply_change(&strata_core::ChunkChange {
        key: keys[0],
        chunk: Arc::new(Chunk::Uniform(MaterialId::AIR)),
        version: 21,
        history: ProcessHistory::EMPTY,
        extent: strata_core::ChangeExtent::WHOLE,
    });
    writer.publish();
    assert_eq!(writer.take_changed_cells(), vec![keys[0]]);
    assert_eq!(writer.chunk_cell(keys[0]), Some(MaterialId::AIR));
}
