//! Releasing chunk voxels: after random loads, edits and releases, the index equals a
//! brute-force model (what it knows, what it forgot, summaries and grids), rays are exact or
//! say which released chunk they reached, and flying over unedited land leaves nothing behind.

use crate::common::{GeneratedNodes, RefNode, reference_memo};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use strata_core::{
    Chunk, ChunkKey, ChunkOrigin, DenseChunk, FlatGenerator, LocalPos, MaterialId, ProcessHistory, VoxelPos,
    WorldGenerator,
};
use strata_index::octree::downsample_cell;
use strata_index::{
    IndexConfig, IndexSnapshot, IndexWriter, NodeId, PreparedChunk, ROOT_LEVEL, Ray, RayError, RayOptions,
    cast_reference,
};

/// The reference's generated nodes, for every case (one generator throughout).
static GENERATED: std::sync::Mutex<Option<GeneratedNodes>> = std::sync::Mutex::new(None);

fn generator() -> Arc<FlatGenerator> {
    Arc::new(FlatGenerator { height: 3, material: MaterialId(1) })
}

/// Keys across root borders on every axis (x = 31 | 32, y = −1 | 0, z = −1 | 0): 8 roots.
fn key() -> impl Strategy<Value = ChunkKey> {
    (30i32..34, -1i32..1, -1i32..1).prop_map(|(x, y, z)| ChunkKey::new(x, y, z))
}

#[derive(Clone, Debug)]
enum Op {
    /// The world loads the chunk (its truth: the edited content, or the generator's).
    Load(ChunkKey),
    /// An edit: new content (a slab of height `h` of material `m`).
    Edit(ChunkKey, u8, u16),
    /// The world evicted the chunk.
    Release(ChunkKey),
    Publish,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => key().prop_map(Op::Load),
        2 => (key(), 0u8..33, 1u16..4).prop_map(|(k, h, m)| Op::Edit(k, h, m)),
        4 => key().prop_map(Op::Release),
        2 => Just(Op::Publish),
    ]
}

/// Edited content: a slab of height `h` rising along x, of material `m` and `m + 1` near
/// z = 0 (no two axes can be swapped unnoticed).
fn slab(h: u8, m: u16) -> Chunk {
    let mut c = Chunk::Dense(DenseChunk::from_fn(|p| {
        MaterialId(if p.y + p.x / 8 < h { if p.z < 5 { m + 1 } else { m } } else { 0 })
    }));
    c.normalize();
    c
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Resident,
    Released,
}

/// The brute-force model: the world's truth and what the index should know.
struct Model {
    truth: HashMap<ChunkKey, (Chunk, u64)>,
    known: HashMap<ChunkKey, State>,
    version: u64,
}

impl Model {
    fn edited(&self, k: ChunkKey) -> bool {
        self.truth.contains_key(&k)
    }

    fn content(&self, k: ChunkKey) -> Chunk {
        self.truth.get(&k).map_or_else(|| generator().generate(k), |t| t.0.clone())
    }

    /// Collapse, written out: a known chunk is forgotten when it or some node above it holds
    /// only released, unedited known chunks.
    fn collapse(&mut self) {
        let forgettable = |m: &Model, id: NodeId| {
            m.known.iter().filter(|(k, _)| id.contains(**k)).all(|(k, s)| *s == State::Released && !m.edited(*k))
        };
        let keys: Vec<ChunkKey> = self.known.keys().copied().collect();
        let gone: HashSet<ChunkKey> = keys
            .into_iter()
            .filter(|k| (0..=ROOT_LEVEL).any(|l| forgettable(self, NodeId::containing(*k, l))))
            .collect();
        self.known.retain(|k, _| !gone.contains(k));
    }
}

/// The coarse cells the index gives for a released chunk: each 2×2×2 block of its voxels
/// downsampled to one cell, repeated over the block.
fn coarse(c: &Chunk) -> Chunk {
    let mut out = Chunk::Dense(DenseChunk::from_fn(|p| {
        let b = [p.x & !1, p.y & !1, p.z & !1];
        let v: [u16; 8] = std::array::from_fn(|i| {
            let q = LocalPos::new(b[0] + (i & 1) as u8, b[1] + ((i >> 1) & 1) as u8, b[2] + (i >> 2) as u8);
            c.get(q.index()).0
        });
        MaterialId(downsample_cell(v, strata_core::Up::PosY))
    }));
    out.normalize();
    out
}

/// Checks the node at `id` against the reference; a released chunk's cells are its coarse
/// cells (which `is_released` says).
fn check(snap: &IndexSnapshot, id: NodeId, r: &RefNode) -> Result<(), String> {
    let s = snap.summary(id);
    let non_air: u64 = r.hist.iter().filter(|(m, _)| **m != 0).map(|(_, n)| n).sum();
    let total: u64 = r.hist.values().sum();
    if (s.volume, s.non_air_count, s.distinct, s.source, s.version)
        != (total, non_air, r.hist.len() as u32, r.source, r.version)
    {
        return Err(format!("summary of {id:?}: {s:?}"));
    }
    let released = id.level == 0 && snap.is_released(id.key);
    if !released && snap.lod_chunk(id) != r.cells {
        return Err(format!("cells of {id:?} differ"));
    }
    if released && snap.lod_chunk(id) != coarse(&r.cells) {
        return Err(format!("coarse cells of released {id:?} differ"));
    }
    for (i, c) in r.children.iter().enumerate() {
        check(snap, id.child(i), c)?;
    }
    Ok(())
}

fn check_all(snap: &IndexSnapshot, model: &Model, rays: &[([f64; 3], [f64; 3])]) -> Result<(), String> {
    // What the index knows.
    for k in (30..34).flat_map(|x| (-1..1).flat_map(move |y| (-1..1).map(move |z| ChunkKey::new(x, y, z)))) {
        let got = match (snap.chunk(k), snap.is_released(k)) {
            (Some(c), false) => {
                if *c != model.content(k) {
                    return Err(format!("voxels of {k:?} are not the world's"));
                }
                Some(State::Resident)
            }
            (None, true) => Some(State::Released),
            (None, false) => None,
            (Some(_), true) => return Err(format!("{k:?} both resident and released")),
        };
        if got != model.known.get(&k).copied() {
            return Err(format!("{k:?}: index says {got:?}, model {:?}", model.known.get(&k)));
        }
    }
    // Summaries and grids against a recompute over the known chunks.
    let known: HashMap<ChunkKey, Chunk> = model.known.keys().map(|k| (*k, model.content(*k))).collect();
    let versions: HashMap<ChunkKey, u64> = model.truth.iter().map(|(k, t)| (*k, t.1)).collect();
    let mut roots: Vec<NodeId> = known.keys().map(|k| NodeId::containing(*k, ROOT_LEVEL)).collect();
    roots.sort();
    roots.dedup();
    if roots.len() != snap.root_count() {
        return Err(format!("{} roots, want {}", snap.root_count(), roots.len()));
    }
    for root in roots {
        let mut memo = GENERATED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let reference = reference_memo(root, &known, &versions, generator().as_ref(), memo.get_or_insert_default());
        check(snap, root, &reference)?;
    }
    // Rays: exact, or stopped at the first released chunk they reach (a released chunk is, to
    // the reference walk, a wall of a material nothing else has).
    const WALL: MaterialId = MaterialId(999);
    let options = RayOptions { max_distance: 300.0, ..RayOptions::default() };
    for (o, d) in rays {
        let ray = Ray::new(*o, *d).map_err(|e| e.to_string())?;
        let want = cast_reference(&ray, &options, |p: VoxelPos| match model.known.get(&p.chunk()) {
            None => MaterialId::AIR,
            Some(_) if known[&p.chunk()].summary().non_air_count == 0 => MaterialId::AIR,
            Some(State::Released) => WALL,
            Some(State::Resident) => known[&p.chunk()].get(p.local().index()),
        })
        .map_err(|e| e.to_string())?;
        match (snap.cast_ray(&ray, &options), want) {
            (Err(RayError::NotResident { chunk }), Some(w)) if w.material == WALL && w.chunk == chunk => {}
            (Ok(got), want) if got == want && want.is_none_or(|w| w.material != WALL) => {}
            (got, want) => return Err(format!("ray {o:?} {d:?}: got {got:?}, want {want:?}")),
        }
    }
    Ok(())
}

fn ray() -> impl Strategy<Value = ([f64; 3], [f64; 3])> {
    (
        [960.0f64..1100.0, -40.0f64..40.0, -40.0f64..40.0],
        [-1.0f64..1.0, -1.0f64..1.0, -1.0f64..1.0].prop_filter("non-zero", |d| d.iter().any(|v| v.abs() > 1e-3)),
    )
        .prop_map(|(o, d)| (o, d))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn index_with_releases_equals_the_model(ops in proptest::collection::vec(op(), 1..60), rays in proptest::collection::vec(ray(), 8)) {
        let mut writer = IndexWriter::new(generator(), IndexConfig::default());
        let mut model = Model { truth: HashMap::new(), known: HashMap::new(), version: 0 };
        for op in ops.iter().chain([&Op::Publish]) {
            match op {
                Op::Load(k) => {
                    let origin = if model.edited(*k) { ChunkOrigin::Store } else { ChunkOrigin::Generator };
                    writer.insert_loaded_from(*k, Arc::new(model.content(*k)), origin, ProcessHistory::EMPTY);
                    model.known.insert(*k, State::Resident);
                }
                Op::Edit(k, h, m) => {
                    model.version += 1;
                    let c = slab(*h, *m);
                    writer.apply(PreparedChunk::new(*k, Arc::new(c.clone()), model.version));
                    model.truth.insert(*k, (c, model.version));
                    model.known.insert(*k, State::Resident);
                }
                Op::Release(k) => {
                    if let Some(s) = model.known.get_mut(k) {
                        *s = State::Released;
                    }
                    writer.release(*k);
                }
                Op::Publish => {
                    let snap = writer.publish();
                    model.collapse();
                    check_all(&snap, &model, &rays).map_err(TestCaseError::fail)?;
                }
            }
        }
        let m = writer.memory();
        let released = model.known.values().filter(|s| **s == State::Released).count();
        prop_assert_eq!(m.released_chunks, released);
    }
}

/// What a released edited chunk may cost the index at most (see the test below).
const PER_EDITED_CHUNK: usize = 16 * 1024;

/// A strip of unedited land loaded ahead of a viewer and released behind it: once all is
/// released the index holds nothing at all; edited chunks keep a summary each.
#[test]
fn flying_over_unedited_land_leaves_nothing_behind() {
    let mut writer = IndexWriter::new(generator(), IndexConfig::default());
    let generator = generator();
    let edited: HashSet<ChunkKey> = (0..10).map(|i| ChunkKey::new(i * 13, 0, 2)).collect();
    let mut peak = 0;
    for x in 0..160 {
        for z in -4..4 {
            for y in -1..1 {
                let k = ChunkKey::new(x, y, z);
                if edited.contains(&k) {
                    writer.apply(PreparedChunk::new(k, Arc::new(slab(9, 2)), 1));
                } else {
                    writer.insert_loaded_from(
                        k,
                        Arc::new(generator.generate(k)),
                        ChunkOrigin::Generator,
                        ProcessHistory::EMPTY,
                    );
                }
            }
        }
        // The viewer keeps 8 columns.
        if x >= 8 {
            for z in -4..4 {
                for y in -1..1 {
                    writer.release(ChunkKey::new(x - 8, y, z));
                }
            }
        }
        writer.publish();
        peak = peak.max(writer.memory().total());
    }
    for x in 152..160 {
        for z in -4..4 {
            for y in -1..1 {
                writer.release(ChunkKey::new(x, y, z));
            }
        }
    }
    let snap = writer.publish();
    let m = writer.memory();
    // Left: the edited chunks (released unedited ones beside them are generated stubs again).
    let kept: HashSet<ChunkKey> = (0..160)
        .flat_map(|x| (-4..4).flat_map(move |z| (-1..1).map(move |y| ChunkKey::new(x, y, z))))
        .filter(|k| snap.is_released(*k))
        .collect();
    assert_eq!(kept, edited);
    assert_eq!(m.released_chunks, kept.len(), "{m:?}");
    assert_eq!((m.resident_chunks, m.chunk_bytes), (0, 0), "{m:?}");
    assert!(snap.rtree_len() <= kept.len());
    // Only the roots with an edited chunk remain.
    let roots: HashSet<ChunkKey> = edited.iter().map(|k| NodeId::containing(*k, ROOT_LEVEL).key).collect();
    assert_eq!(snap.root_count(), roots.len());
    for k in &edited {
        assert!(snap.is_released(*k));
        assert_eq!(snap.summary(NodeId::chunk(*k)).version, 1);
    }
    // What is left is bounded per edited chunk, not by the length of the flight: its leaf with
    // its contribution to the level-1 grid (≤ 8 KiB), the nodes on its path and the generated
    // stubs beside it (≤ 7 per level), which keep no samples; no grid was read, so none is held.
    assert_eq!(m.grid_bytes, 0, "{m:?}");
    assert!(m.contribution_bytes <= edited.len() * 9 * 1024, "{m:?}");
    assert!(m.total() <= edited.len() * PER_EDITED_CHUNK && m.total() < peak / 2, "{m:?}, peak {peak}");

    // Without edits nothing at all is left.
    let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());
    for x in 0..40 {
        let k = ChunkKey::new(x, 0, 0);
        writer.insert_loaded_from(k, Arc::new(generator.generate(k)), ChunkOrigin::Generator, ProcessHistory::EMPTY);
    }
    writer.publish();
    for x in 0..40 {
        writer.release(ChunkKey::new(x, 0, 0));
    }
    let snap = writer.publish();
    assert_eq!((snap.root_count(), snap.rtree_len(), writer.memory().total()), (0, 0, 0));
}
