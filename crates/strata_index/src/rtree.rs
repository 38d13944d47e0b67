//! The R-tree over every known chunk that is not all air, with its summary as payload.
//!
//! The tree stores each chunk as the point of its key (`i32` chunk coordinates): a chunk's
//! bounds are exactly its key cell, so envelopes stay small (24 bytes) and exact everywhere in
//! the world; the ray test widens envelopes to voxel boxes (`[32·lo, 32·(hi + 1)]`, `f64`).
//! Nodes hold up to 6 children ([`IndexParams`], rstar's default): measured against 12 on
//! 2026-11-29, 12 made the bulk load of a 32,768-chunk rebuild ~1 ms faster but ray picks
//! (`ray.pick_256`) 30 % slower. Updates are `insert`/`remove` on a left-right pair of trees: the writer
//! replays the previous batch on the tree the previous snapshot held (once no reader holds it),
//! so publishing a snapshot does not copy the tree.

use crate::ray::Ray;
use rstar::{AABB, RStarInsertionStrategy, RTree, RTreeObject, RTreeParams, SelectionFunction};
use std::sync::Arc;
use strata_core::{CHUNK_SIZE, Chunk, ChunkKey, ChunkSummary};

/// One R-tree entry: a chunk that is not all air.
#[derive(Clone, Debug)]
pub struct ChunkEntry {
    /// The chunk.
    pub key: ChunkKey,
    /// Its summary.
    pub summary: ChunkSummary,
    /// Its voxels (shared with the octree leaf), so ray casts need no second lookup; `None`
    /// once the index released them ([`IndexWriter::release`](crate::IndexWriter::release)).
    pub chunk: Option<Arc<Chunk>>,
}

impl PartialEq for ChunkEntry {
    fn eq(&self, o: &Self) -> bool {
        let same_chunk = match (&self.chunk, &o.chunk) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        self.key == o.key && self.summary == o.summary && same_chunk
    }
}

/// Node sizes of the chunk R-tree.
#[derive(Clone, Copy, Debug)]
pub struct IndexParams;

impl RTreeParams for IndexParams {
    const MIN_SIZE: usize = 3;
    const MAX_SIZE: usize = 6;
    const REINSERTION_COUNT: usize = 2;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

/// The chunk R-tree.
pub type ChunkTree = RTree<ChunkEntry, IndexParams>;

/// An envelope in chunk coordinates (inclusive key ranges).
pub type ChunkEnvelope = AABB<[i32; 3]>;

/// The voxel box `[32·lo, 32·(hi + 1)]` of an envelope of chunk keys, in `f64` (exact).
pub fn voxel_box(env: &ChunkEnvelope) -> ([f64; 3], [f64; 3]) {
    let s = CHUNK_SIZE as f64;
    (env.lower().map(|v| v as f64 * s), env.upper().map(|v| (v as f64 + 1.0) * s))
}

impl RTreeObject for ChunkEntry {
    type Envelope = ChunkEnvelope;

    // Inlined: the bulk load calls it in every comparison of its partitioning.
    #[inline]
    fn envelope(&self) -> Self::Envelope {
        AABB::from_point(self.key.to_array())
    }
}

/// Selects boxes a ray segment `[0, max_distance]` may touch (slab test), padded by `pad` voxels
/// so rounding never drops a box; the exact test happens in the ray cast.
#[derive(Clone, Copy, Debug)]
pub struct RaySelection {
    origin: [f64; 3],
    inv_dir: [f64; 3],
    min_distance: f64,
    max_distance: f64,
    pad: f64,
}

impl RaySelection {
    /// A selection for `ray` from its origin up to `max_distance`.
    pub fn new(ray: &Ray, max_distance: f64) -> Self {
        Self::segment(ray, 0.0, max_distance)
    }

    /// A selection for the part of `ray` between `min_distance` and `max_distance`.
    pub fn segment(ray: &Ray, min_distance: f64, max_distance: f64) -> Self {
        let inv_dir = ray.direction().map(|d| if d == 0.0 { 0.0 } else { 1.0 / d });
        Self { origin: ray.origin(), inv_dir, min_distance, max_distance, pad: 1e-3 }
    }

    /// Slab test: the entry and exit distances of the ray through `aabb`, if it meets it within
    /// `[0, max_distance]`.
    #[inline]
    pub fn slab(&self, env: &ChunkEnvelope) -> Option<(f64, f64)> {
        let (lo, hi) = voxel_box(env);
        let (o, inv) = (self.origin, self.inv_dir);
        let (mut t0, mut t1) = ((self.min_distance - self.pad).max(0.0), self.max_distance + self.pad);
        for a in 0..3 {
            let (l, h) = (lo[a] - self.pad, hi[a] + self.pad);
            if inv[a] == 0.0 {
                if o[a] < l || o[a] > h {
                    return None;
                }
                continue;
            }
            // Multiplying by the rounded inverse is off by a few ulps; the pad covers it.
            let (ta, tb) = ((l - o[a]) * inv[a], (h - o[a]) * inv[a]);
            let (ta, tb) = if inv[a] > 0.0 { (ta, tb) } else { (tb, ta) };
            // Plain comparisons: a NaN (0 · ∞ for a subnormal direction) keeps the box in.
            if ta > t0 {
                t0 = ta;
            }
            if tb < t1 {
                t1 = tb;
            }
            if t0 > t1 {
                return None;
            }
        }
        Some((t0, t1))
    }
}

impl SelectionFunction<ChunkEntry> for RaySelection {
    fn should_unpack_parent(&self, envelope: &ChunkEnvelope) -> bool {
        self.slab(envelope).is_some()
    }

    fn should_unpack_leaf(&self, leaf: &ChunkEntry) -> bool {
        self.slab(&leaf.envelope()).is_some()
    }
}

#[derive(Clone, Debug)]
enum Op {
    Insert(ChunkEntry),
    Remove(ChunkEntry),
    /// Same chunk, same box, new payload: updated in place (no restructuring).
    Replace(ChunkEntry),
}

fn apply(tree: &mut ChunkTree, op: &Op) {
    match op {
        Op::Insert(e) => tree.insert(e.clone()),
        Op::Remove(e) => {
            tree.remove(e);
        }
        Op::Replace(e) => {
            let env = e.envelope();
            if let Some(slot) = tree.locate_in_envelope_mut(&env).find(|x| x.key == e.key) {
                *slot = e.clone();
            } else {
                tree.insert(e.clone());
            }
        }
    }
}

impl Default for RTreeWriter {
    fn default() -> Self {
        Self { front: Arc::new(RTree::new_with_params()), back: None, lag: Vec::new(), pending: Vec::new(), copies: 0 }
    }
}

/// The writer's pair of trees (see the module docs).
pub(crate) struct RTreeWriter {
    front: Arc<ChunkTree>,
    back: Option<Arc<ChunkTree>>,
    lag: Vec<Op>,
    pending: Vec<Op>,
    /// Times a publish had to copy the whole tree because a reader still held the back tree.
    pub copies: u64,
}

impl RTreeWriter {
    /// Replaces everything with `tree` (a full rebuild makes it with `RTree::bulk_load`).
    pub fn reset(&mut self, tree: ChunkTree) {
        self.front = Arc::new(tree);
        self.back = None;
        self.lag.clear();
        self.pending.clear();
    }

    /// Entries in the newest tree (changes queued since the last publish not counted).
    pub fn len(&self) -> usize {
        self.front.size()
    }

    /// Queues the change of one chunk's entry (`None` = not in the tree).
    pub fn update(&mut self, old: Option<ChunkEntry>, new: Option<ChunkEntry>) {
        match (old, new) {
            (Some(_), Some(n)) => self.pending.push(Op::Replace(n)),
            (Some(o), None) => self.pending.push(Op::Remove(o)),
            (None, Some(n)) => self.pending.push(Op::Insert(n)),
            (None, None) => {}
        }
    }

    /// The tree with every queued change applied.
    ///
    /// # Runtime
    /// O(changes × log n) when no reader still holds the tree from the publish before last;
    /// otherwise one O(n) copy first (counted in `copies`).
    pub fn publish(&mut self) -> Arc<ChunkTree> {
        if self.pending.is_empty() {
            return self.front.clone();
        }
        let reusable = self.back.take().and_then(|b| Arc::try_unwrap(b).ok());
        let mut tree = match reusable {
            Some(mut t) => {
                for op in &self.lag {
                    apply(&mut t, op);
                }
                t
            }
            None => {
                self.copies += 1;
                (*self.front).clone()
            }
        };
        for op in &self.pending {
            apply(&mut tree, op);
        }
        self.lag = std::mem::take(&mut self.pending);
        let front = Arc::new(tree);
        self.back = Some(std::mem::replace(&mut self.front, front.clone()));
        front
    }
}
