//! The R-tree over every known chunk that is not all air, with its summary as payload.
//!
//! Boxes are in voxel units: chunk `k` spans `[32·k, 32·k + 32]` on each axis (`f64`, exact for
//! every valid key). Updates are `insert`/`remove` on a left-right pair of trees: the writer
//! replays the previous batch on the tree the previous snapshot held (once no reader holds it),
//! so publishing a snapshot does not copy the tree.

use crate::ray::Ray;
use rstar::{AABB, RTree, RTreeObject, SelectionFunction};
use std::sync::Arc;
use strata_core::{CHUNK_SIZE, Chunk, ChunkKey, ChunkSummary};

/// One R-tree entry: a chunk that is not all air.
#[derive(Clone, Debug)]
pub struct ChunkEntry {
    /// The chunk.
    pub key: ChunkKey,
    /// Its summary.
    pub summary: ChunkSummary,
    /// Its voxels (shared with the octree leaf), so ray casts need no second lookup.
    pub chunk: Arc<Chunk>,
}

impl PartialEq for ChunkEntry {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key && self.summary == o.summary && Arc::ptr_eq(&self.chunk, &o.chunk)
    }
}

/// The box of chunk `key` in voxel units.
pub fn chunk_aabb(key: ChunkKey) -> AABB<[f64; 3]> {
    let s = CHUNK_SIZE as f64;
    let lo = key.to_array().map(|v| v as f64 * s);
    AABB::from_corners(lo, lo.map(|v| v + s))
}

impl RTreeObject for ChunkEntry {
    type Envelope = AABB<[f64; 3]>;

    fn envelope(&self) -> Self::Envelope {
        chunk_aabb(self.key)
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
    pub fn slab(&self, aabb: &AABB<[f64; 3]>) -> Option<(f64, f64)> {
        let (lo, hi) = (aabb.lower(), aabb.upper());
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
    fn should_unpack_parent(&self, envelope: &AABB<[f64; 3]>) -> bool {
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

fn apply(tree: &mut RTree<ChunkEntry>, op: &Op) {
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

/// The writer's pair of trees (see the module docs).
#[derive(Default)]
pub(crate) struct RTreeWriter {
    front: Arc<RTree<ChunkEntry>>,
    back: Option<Arc<RTree<ChunkEntry>>>,
    lag: Vec<Op>,
    pending: Vec<Op>,
    /// Times a publish had to copy the whole tree because a reader still held the back tree.
    pub copies: u64,
}

impl RTreeWriter {
    /// Replaces everything with `entries` (`RTree::bulk_load`).
    pub fn bulk_load(&mut self, entries: Vec<ChunkEntry>) {
        self.front = Arc::new(RTree::bulk_load(entries));
        self.back = None;
        self.lag.clear();
        self.pending.clear();
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
    pub fn publish(&mut self) -> Arc<RTree<ChunkEntry>> {
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
