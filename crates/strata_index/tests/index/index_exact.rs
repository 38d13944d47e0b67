//! After random edit storms folded in from the change feed and loads, in the order the world
//! made them, the published index equals a brute-force recompute from the store.

use crate::common;

use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use strata_core::{
    Chunk, ChunkKey, ChunkStore, FlatGenerator, MaterialId, MemoryStore, VoxelPos, World, WorldConfig, WorldGenerator,
    WriteBatch,
};
use strata_index::{IndexConfig, IndexWriter, LoadError};

#[derive(Clone, Debug)]
enum Op {
    Set(VoxelPos, u16),
    Box(VoxelPos, [i32; 3], u16),
    Sphere(VoxelPos, f32, u16),
    Load(ChunkKey),
    Apply,
}

// The edited region spans chunks -2..=1 on x and z and -1..=0 on y: eight roots, negative
// coordinates, and plenty of chunks that are loaded but never edited.
fn pos() -> impl Strategy<Value = VoxelPos> {
    (-64i32..64, -32i32..32, -64i32..64).prop_map(|(x, y, z)| VoxelPos::new(x, y, z))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (pos(), 0u16..4).prop_map(|(p, m)| Op::Set(p, m)),
        2 => (pos(), [0i32..40, 0i32..40, 0i32..40], 0u16..4).prop_map(|(p, s, m)| Op::Box(p, s, m)),
        1 => (pos(), 1.0f32..12.0, 0u16..4).prop_map(|(p, r, m)| Op::Sphere(p, r, m)),
        2 => (-2i32..2, -1i32..1, -2i32..2).prop_map(|(x, y, z)| Op::Load(ChunkKey::new(x, y, z))),
        2 => Just(Op::Apply),
    ]
}

fn generator() -> Arc<FlatGenerator> {
    Arc::new(FlatGenerator { height: 3, material: MaterialId(1) })
}

fn generator_for(tilted: bool) -> Arc<dyn WorldGenerator> {
    if tilted {
        Arc::new(common::Tilted { ground: FlatGenerator { height: 3, material: MaterialId(1) }, centre: [5, -20, 3] })
    } else {
        generator()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn index_equals_recompute_after_edit_storm(
        seeded in proptest::collection::vec(op(), 0..6),
        storm in proptest::collection::vec(op(), 1..40),
        workers in 1usize..3,
        tilted in any::<bool>(),
    ) {
        let generator = generator_for(tilted);
        let store = Arc::new(MemoryStore::new());
        let mut world = World::new(store.clone(), generator.clone(), WorldConfig::default());
        let mut known: HashSet<ChunkKey> = HashSet::new();
        // Edits committed before start-up: the bulk load reads them from the store.
        for o in &seeded {
            run(&mut world, o, &mut known, None);
        }
        // Bulk-loaded chunks carry version 0; changes on the feed carry their world version.
        let mut versions: HashMap<ChunkKey, u64> = HashMap::new();
        world.commit().unwrap();
        let feed = world.subscribe();
        let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());
        writer.bulk_load_store(store.as_ref(), Vec::new(), workers).unwrap();
        writer.publish();
        for o in &storm {
            versions.extend(run(&mut world, o, &mut known, Some(&mut writer)));
            // The feed in the order the world wrote it, published after every op.
            for change in feed.try_iter() {
                writer.apply_change(&change);
            }
            writer.publish();
        }
        world.apply().unwrap();
        for change in feed.try_iter() {
            writer.apply_change(&change);
        }
        world.commit().unwrap();

        // Brute force: every chunk the index was told about, read back from the store (edited)
        // or the generator (loaded, never edited).
        let mut chunks: HashMap<ChunkKey, Chunk> = HashMap::new();
        for k in &known {
            let c = store.get(*k).unwrap().unwrap_or_else(|| WorldGenerator::generate(generator.as_ref(), *k));
            chunks.insert(*k, c);
        }
        let snap = writer.publish();
        if let Err(e) = common::check_index(&snap, &chunks, &versions, generator.as_ref()) {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// Runs one op; returns the chunks it changed with their versions.
fn run(
    world: &mut World,
    op: &Op,
    known: &mut HashSet<ChunkKey>,
    writer: Option<&mut IndexWriter>,
) -> Vec<(ChunkKey, u64)> {
    match op {
        Op::Set(p, m) => world.set_voxel(*p, MaterialId(*m)),
        Op::Box(p, s, m) => {
            let q = VoxelPos::new(p.x + s[0], p.y + s[1], p.z + s[2]);
            world.fill_box(*p, q, MaterialId(*m)).unwrap();
        }
        Op::Sphere(p, r, m) => world.fill_sphere(*p, *r, MaterialId(*m)).unwrap(),
        Op::Load(k) => {
            if let Some(w) = writer {
                let c = world.chunk(*k).unwrap();
                w.insert_loaded(*k, c);
                known.insert(*k);
            }
        }
        Op::Apply => {}
    }
    if !matches!(op, Op::Load(_)) {
        // Apply now and record which chunks changed.
        let rx = world.subscribe();
        world.apply().unwrap();
        let changed: Vec<(ChunkKey, u64)> = rx.try_iter().map(|c| (c.key, c.version)).collect();
        known.extend(changed.iter().map(|c| c.0));
        return changed;
    }
    Vec::new()
}

#[test]
fn corrupt_record_is_a_typed_error_naming_the_key() {
    let store = MemoryStore::new();
    let bad = ChunkKey::new(-3, 1, 7);
    let mut batch = WriteBatch::new();
    batch.put(ChunkKey::new(0, 0, 0), &Chunk::Uniform(MaterialId(1)));
    batch.put_record(bad.morton(), b"STRCgarbage");
    store.commit(&batch).unwrap();
    let mut writer = IndexWriter::new(generator(), IndexConfig::default());
    match writer.bulk_load_store(&store, Vec::new(), 1) {
        Err(LoadError::Corrupt { key, .. }) => assert_eq!(key, bad),
        other => panic!("expected a corrupt-record error, got {other:?}"),
    }
}

#[test]
fn bulk_load_equals_incremental_inserts() {
    let generator = generator();
    let keys = [ChunkKey::new(0, 0, 0), ChunkKey::new(-1, 0, 0), ChunkKey::new(3, -1, 2), ChunkKey::new(40, 0, -40)];
    let chunks: Vec<(ChunkKey, Arc<Chunk>, u64)> =
        keys.iter().map(|k| (*k, Arc::new(WorldGenerator::generate(generator.as_ref(), *k)), 0)).collect();
    let mut a = IndexWriter::new(generator.clone(), IndexConfig::default());
    a.bulk_load(chunks.clone(), 2);
    let sa = a.publish();
    let mut b = IndexWriter::new(generator.clone(), IndexConfig::default());
    for (k, c, _) in &chunks {
        b.insert_loaded(*k, c.clone());
    }
    let sb = b.publish();
    let known: HashMap<ChunkKey, Chunk> = chunks.iter().map(|(k, c, _)| (*k, (**c).clone())).collect();
    common::check_index(&sa, &known, &HashMap::new(), generator.as_ref()).unwrap();
    common::check_index(&sb, &known, &HashMap::new(), generator.as_ref()).unwrap();
}

fn small_key() -> impl Strategy<Value = ChunkKey> {
    (-3i32..3, -2i32..2, -3i32..3).prop_map(|(x, y, z)| ChunkKey::new(x, y, z))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// A bulk load gives equal uniform chunks (same material and version) one shared leaf:
    /// the index stays exact, also after edits turn some of them into other uniform or dense
    /// content, or into equal content in a new `Arc`.
    #[test]
    fn shared_uniform_leaves_stay_exact_through_edits(
        initial in proptest::collection::vec((small_key(), 0u16..3, 0u64..2), 1..60),
        edits in proptest::collection::vec((small_key(), 0u16..4), 0..10),
        workers in 1usize..3,
        tilted in any::<bool>(),
    ) {
        let generator = generator_for(tilted);
        let (mut known, mut versions) = (HashMap::new(), HashMap::new());
        let mut input = Vec::new();
        for (k, m, v) in &initial {
            // A key given twice keeps its first content: skip the repeats here too.
            if known.contains_key(k) {
                continue;
            }
            known.insert(*k, Chunk::Uniform(MaterialId(*m)));
            versions.insert(*k, *v);
            input.push((*k, Arc::new(Chunk::Uniform(MaterialId(*m))), *v));
        }
        let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());
        writer.bulk_load(input, workers);
        if let Err(e) = common::check_index(&writer.publish(), &known, &versions, generator.as_ref()) {
            return Err(TestCaseError::fail(format!("after the bulk load: {e}")));
        }
        for (i, (k, m)) in edits.iter().enumerate() {
            let c = match m {
                3 => Chunk::Dense(strata_core::DenseChunk::from_fn(|p| MaterialId(u16::from(p.y < p.x + i as u8)))),
                m => Chunk::Uniform(MaterialId(*m)),
            };
            let v = 10 + i as u64;
            known.insert(*k, c.clone());
            versions.insert(*k, v);
            writer.apply(strata_index::PreparedChunk::new(*k, Arc::new(c), v));
        }
        if let Err(e) = common::check_index(&writer.publish(), &known, &versions, generator.as_ref()) {
            return Err(TestCaseError::fail(format!("after the edits: {e}")));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// A full rebuild loads its R-tree's shape beside the leaves, from stand-ins for the chunks
    /// not known to be air before their leaves are made, and fills the entries in afterwards:
    /// the tree holds exactly the chunks that are not all air, each with its summary and its
    /// voxels — uniform chunks, dense ones, dense ones of air only (not normalized, so only
    /// their leaf tells), and keys given twice (the first wins).
    #[test]
    fn a_full_rebuild_indexes_exactly_the_chunks_that_are_not_air(
        initial in proptest::collection::vec((small_key(), 0u8..5), 1..80),
        workers in 1usize..3,
    ) {
        let generator = generator();
        let mut known = HashMap::new();
        let mut input = Vec::new();
        for (i, (k, kind)) in initial.iter().enumerate() {
            let c = match kind {
                0 => Chunk::Uniform(MaterialId::AIR),
                1 => Chunk::Uniform(MaterialId(1)),
                2 => Chunk::Dense(strata_core::DenseChunk::from_fn(|p| MaterialId(u16::from(p.y < p.x ^ i as u8)))),
                3 => Chunk::Dense(strata_core::DenseChunk::from_fn(|_| MaterialId::AIR)),
                _ => Chunk::Dense(strata_core::DenseChunk::from_fn(|_| MaterialId(2))),
            };
            known.entry(*k).or_insert_with(|| c.clone());
            input.push((*k, Arc::new(c), 0));
        }
        let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());
        writer.bulk_load(input, workers);
        let snap = writer.publish();
        if let Err(e) = common::check_index(&snap, &known, &HashMap::new(), generator.as_ref()) {
            return Err(TestCaseError::fail(e));
        }
        for e in snap.rtree_entries() {
            prop_assert!(e.chunk.is_some(), "the entry of {:?} holds no voxels", e.key);
        }
    }
}

/// Large uniform regions (rock below, air above) become chains of shared nodes in a bulk load:
/// the index is exact, also after reading every grid and then editing inside those regions
/// (the edits copy paths through shared nodes whose grids are computed).
#[test]
fn shared_uniform_regions_stay_exact_through_edits() {
    let generator = generator();
    for workers in [1, 2] {
        let mut known: HashMap<ChunkKey, Chunk> = HashMap::new();
        for x in -4..4 {
            for y in -4..4 {
                for z in -4..4 {
                    let m = if y < 0 { MaterialId(1) } else { MaterialId::AIR };
                    known.insert(ChunkKey::new(x, y, z), Chunk::Uniform(m));
                }
            }
        }
        let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());
        writer.bulk_load(known.iter().map(|(k, c)| (*k, Arc::new(c.clone()), 0)).collect(), workers);
        // Checking reads every grid, so the edits below update computed grids incrementally.
        common::check_index(&writer.publish(), &known, &HashMap::new(), generator.as_ref()).unwrap();
        let dense = Chunk::Dense(strata_core::DenseChunk::from_fn(|p| MaterialId(u16::from(p.y < p.x))));
        let edits = [
            (ChunkKey::new(1, -3, 2), dense.clone()),
            (ChunkKey::new(3, 2, -2), Chunk::Uniform(MaterialId(2))),
            (ChunkKey::new(-4, -1, -4), Chunk::Uniform(MaterialId::AIR)),
            (ChunkKey::new(0, 0, 0), dense),
        ];
        let mut versions = HashMap::new();
        for (v, (k, c)) in edits.into_iter().enumerate() {
            versions.insert(k, v as u64 + 1);
            known.insert(k, c.clone());
            writer.apply(strata_index::PreparedChunk::new(k, Arc::new(c), v as u64 + 1));
            common::check_index(&writer.publish(), &known, &versions, generator.as_ref()).unwrap();
        }
    }
}

#[test]
fn empty_bulk_load_gives_an_empty_index() {
    let generator = generator();
    let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());
    writer.bulk_load(vec![(ChunkKey::new(0, 0, 0), Arc::new(Chunk::Uniform(MaterialId(1))), 0)], 2);
    writer.publish();
    writer.bulk_load(Vec::new(), 2);
    let snap = writer.publish();
    common::check_index(&snap, &HashMap::new(), &HashMap::new(), generator.as_ref()).unwrap();
    assert_eq!(snap.root_count(), 0);
}
