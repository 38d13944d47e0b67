//! Octree nodes: identity ([`NodeId`]), content, and the persistent (path-copying) update.

#[cfg(doc)]
use super::mip::diff_box;
use super::mip::{CellBox, Cells, Contribution, GridUp, Mip};
use crate::summary::{DataSource, Histogram, NodeSummary};
use std::sync::{Arc, OnceLock};
use strata_core::{CHUNK_SIZE, Chunk, ChunkKey, MaterialId, ProcessHistory, StoredSummary, Up, WorldGenerator};

/// The level of the roots of the octree: a root covers 2⁵ = 32 chunks (1024 voxels) per side.
/// The world is a map of such roots, so it is unbounded.
pub const ROOT_LEVEL: u32 = 5;

/// An octree node: `level` (0 = one chunk, `k` = 2ᵏ chunks per side) and `key`, the chunk key
/// of any chunk inside shifted right (floor) by `level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Level: the octree holds `0..=ROOT_LEVEL`; coarser nodes (LOD selection, grids above the
    /// roots) have higher levels.
    pub level: u32,
    /// Node coordinates at that level.
    pub key: ChunkKey,
}

impl NodeId {
    /// A node.
    pub const fn new(level: u32, key: ChunkKey) -> Self {
        Self { level, key }
    }

    /// The node at `level` that contains `chunk`.
    pub const fn containing(chunk: ChunkKey, level: u32) -> Self {
        Self { level, key: ChunkKey::new(chunk.x >> level, chunk.y >> level, chunk.z >> level) }
    }

    /// The chunk itself, as a level-0 node.
    pub const fn chunk(chunk: ChunkKey) -> Self {
        Self { level: 0, key: chunk }
    }

    /// The parent node.
    pub const fn parent(self) -> Self {
        Self::new(self.level + 1, ChunkKey::new(self.key.x >> 1, self.key.y >> 1, self.key.z >> 1))
    }

    /// Child `i` (bit 0 = +x half, bit 1 = +y, bit 2 = +z). Level must be ≥ 1.
    pub const fn child(self, i: usize) -> Self {
        let k = self.key;
        Self::new(
            self.level - 1,
            ChunkKey::new(
                k.x.wrapping_mul(2) + (i & 1) as i32,
                k.y.wrapping_mul(2) + ((i >> 1) & 1) as i32,
                k.z.wrapping_mul(2) + ((i >> 2) & 1) as i32,
            ),
        )
    }

    /// Which child of its parent at `level` the chunk falls in.
    pub(crate) const fn child_index_of(chunk: ChunkKey, level: u32) -> usize {
        let s = level - 1;
        (((chunk.x >> s) & 1) | (((chunk.y >> s) & 1) << 1) | (((chunk.z >> s) & 1) << 2)) as usize
    }

    /// Smallest and largest chunk keys inside (inclusive), in `i64`.
    pub fn chunk_range(self) -> ([i64; 3], [i64; 3]) {
        let n = 1i64 << self.level;
        let lo = self.key.to_array().map(|v| v as i64 * n);
        (lo, lo.map(|v| v + n - 1))
    }

    /// Euclidean distance in voxels from `p` (voxel coordinates) to the node's box, which
    /// spans `key × edge` to `(key + 1) × edge` on each axis (edge = 32 · 2^level voxels); 0
    /// inside. O(1).
    pub fn distance_to(self, p: [f64; 3]) -> f64 {
        let e = ((1i64 << self.level.min(30)) * CHUNK_SIZE as i64) as f64;
        let lo = [self.key.x, self.key.y, self.key.z].map(|v| v as f64 * e);
        let mut d2 = 0.0;
        for a in 0..3 {
            let d = if p[a] < lo[a] {
                lo[a] - p[a]
            } else if p[a] > lo[a] + e {
                p[a] - lo[a] - e
            } else {
                0.0
            };
            d2 += d * d;
        }
        d2.sqrt()
    }

    /// Whether `chunk` lies inside.
    pub const fn contains(self, chunk: ChunkKey) -> bool {
        let c = Self::containing(chunk, self.level);
        c.key.x == self.key.x && c.key.y == self.key.y && c.key.z == self.key.z
    }
}

/// A node's content.
#[derive(Clone, Debug)]
pub(crate) enum NodeData {
    /// A known chunk's voxels (level 0).
    Cells(Arc<Chunk>),
    /// A generated stub (any level; no known chunk below): the generator's sample at the
    /// node's level. Only a uniform sample is kept (`Some(material)`, no heap); any other is
    /// sampled again when read ([`Node::cells`]), so a stub costs its node and histogram, never
    /// 32³ cells: it can be made again from the generator at any time.
    Generated(Option<MaterialId>),
    /// An inner node: its LOD grid and its eight children (each known or a generated stub).
    ///
    /// The grid is computed on first use ([`Node::mip`]) from the children's grids, or carried
    /// over incrementally by [`replace`] when the node it replaces had one. Invariant: a node
    /// whose grid is set has the grids of all its inner descendants set (computing a grid
    /// reads the children's grids first), so an incremental update finds the new child's grid
    /// computed (or computes it, for a path built fresh below a generated stub). Waits only
    /// ever go from a node to its children, so concurrent first readers cannot deadlock.
    Inner { mip: OnceLock<Mip>, children: [Arc<Node>; 8] },
    /// A known chunk (level 0) whose voxels were released: summary, histogram and what it
    /// gives its parent's grid (its 16³ downsampled cells, ≤ 8 KiB), so every coarser grid can
    /// still be computed (or patched) without the voxels.
    Released(Contribution),
}

/// One octree node. Immutable once built; updates copy the path from root to leaf.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub summary: NodeSummary,
    pub hist: Histogram,
    pub data: NodeData,
    /// Some chunk below may differ from the generator's: edited (in this session or an earlier
    /// one, so read from a store) or handed in without saying where it came from. Such chunks
    /// keep their summaries when released; the others can be forgotten.
    pub edited: bool,
    /// Some chunk below holds voxels or is edited: the subtree cannot be collapsed back into
    /// generator data. `false` for generated stubs and subtrees of released unedited chunks.
    pub pinned: bool,
}

impl Node {
    /// A known chunk; `edited`: it may differ from the generator's (see [`Node::edited`]).
    pub fn leaf(chunk: Arc<Chunk>, hist: Histogram, version: u64, history: ProcessHistory, edited: bool) -> Self {
        let mut summary = NodeSummary::from_histogram(0, &hist, version, DataSource::Exact);
        summary.history = history;
        Self { summary, hist, data: NodeData::Cells(chunk), edited, pinned: true }
    }

    /// A stored chunk known by its [`StoredSummary`] alone: exactly the node that loading its
    /// voxels (as edited, version 0) and releasing them makes.
    ///
    /// # Runtime
    /// O(histogram) + O(16³) copies of the half-resolution cells.
    pub fn stored(s: &StoredSummary) -> Self {
        let hist = Histogram::from_sorted(s.histogram.iter().map(|(m, n)| (*m, u64::from(*n))));
        let mut summary = NodeSummary::from_histogram(0, &hist, 0, DataSource::Exact);
        summary.history = s.history;
        Self { summary, hist, data: NodeData::Released(Contribution::of_half(&s.cells)), edited: true, pinned: true }
    }

    /// The same known chunk without its voxels (see [`NodeData::Released`]); `None` unless
    /// this is a known chunk with voxels. `up` is the chunk's ([`WorldUp::of_chunk`]).
    ///
    /// # Runtime
    /// O(16³): the chunk's contribution to its parent's grid.
    pub fn released(&self, up: Up) -> Option<Self> {
        let NodeData::Cells(chunk) = &self.data else { return None };
        Some(Self {
            summary: self.summary,
            hist: self.hist.clone(),
            data: NodeData::Released(Contribution::of(Cells::Chunk(chunk), up)),
            edited: self.edited,
            pinned: self.edited,
        })
    }

    /// A known chunk's [chunk cell](strata_core::downsample::chunk_cell) (from its voxels or,
    /// once released, its contribution), with the chunk's up `up`; `None` for other nodes.
    ///
    /// # Runtime
    /// O(32³) with voxels (O(16³) released; O(1) uniform).
    pub fn chunk_cell(&self, up: Up) -> Option<MaterialId> {
        match &self.data {
            NodeData::Cells(c) => Some(strata_core::downsample::chunk_cell_of(c, up)),
            NodeData::Released(c) => Some(strata_core::downsample::chunk_cell(&c.to_half(), up)),
            NodeData::Inner { .. } | NodeData::Generated(_) => None,
        }
    }

    /// Whether this is a generated stub (see [`NodeData::Generated`]).
    pub fn is_stub(&self) -> bool {
        matches!(self.data, NodeData::Generated(_))
    }

    /// Whether this is a known chunk whose voxels were released.
    pub fn is_released(&self) -> bool {
        matches!(self.data, NodeData::Released(_))
    }

    /// What a released chunk gives its parent's grid.
    pub fn contribution(&self) -> Option<&Contribution> {
        match &self.data {
            NodeData::Released(c) => Some(c),
            _ => None,
        }
    }

    /// A node nobody told the index about: the generator's sample at its level (summarised;
    /// the sample itself is kept only if uniform, see [`NodeData::Generated`]).
    ///
    /// # Runtime
    /// One generator sample at `id.level` and one histogram pass over it.
    pub fn generated(id: NodeId, generator: &dyn WorldGenerator) -> Self {
        let chunk = strata_core::sample_hinted(generator, id.level, id.key);
        let hist = Histogram::of_chunk(&chunk, 1u64 << (3 * id.level));
        let summary = NodeSummary::from_histogram(id.level, &hist, 0, DataSource::Generated);
        Self { summary, hist, data: NodeData::Generated(chunk.as_uniform()), edited: false, pinned: false }
    }

    /// An inner node over `children`. Its LOD grid is left to the first reader ([`Node::mip`]).
    pub fn inner(level: u32, children: [Arc<Node>; 8]) -> Self {
        let mut hist = Histogram::new();
        for c in &children {
            hist.merge(&c.hist);
        }
        let (version, source, history) = combine(&children);
        let mut summary = NodeSummary::from_histogram(level, &hist, version, source);
        summary.history = history;
        let (edited, pinned) = flags(&children);
        Self { summary, hist, data: NodeData::Inner { mip: OnceLock::new(), children }, edited, pinned }
    }

    /// The LOD grid of an inner node (at `id`), computed (with every missing grid below) on
    /// first use. Concurrent first readers of one node compute it once: the others wait for
    /// that result.
    ///
    /// # Runtime
    /// O(1) once computed; otherwise O(16³) downsampling per octant of each inner node below
    /// whose grid is missing (uniform octants cost O(1)), plus one generator sample per
    /// non-uniform generated stub among their children.
    pub fn mip(&self, id: NodeId, generator: &dyn WorldGenerator) -> Option<&Mip> {
        match &self.data {
            NodeData::Inner { mip, children } => Some(mip.get_or_init(|| downsample_children(id, children, generator))),
            NodeData::Cells(_) | NodeData::Generated(_) | NodeData::Released(_) => None,
        }
    }

    /// This inner node's grid if it has been computed (never computes it).
    pub fn computed_mip(&self) -> Option<&Mip> {
        match &self.data {
            NodeData::Inner { mip, .. } => mip.get(),
            NodeData::Cells(_) | NodeData::Generated(_) | NodeData::Released(_) => None,
        }
    }

    /// Whether this inner node's grid has been computed (always true for cells).
    #[cfg(test)]
    pub fn has_mip(&self) -> bool {
        match &self.data {
            NodeData::Inner { mip, .. } => mip.get().is_some(),
            NodeData::Cells(_) | NodeData::Generated(_) | NodeData::Released(_) => true,
        }
    }

    /// The 32³ cells of this node (at `id`): a known chunk's voxels, a generated stub's sample
    /// (taken again here unless uniform), an inner node's grid (computed on first use, see
    /// [`Node::mip`]); `None` for a released chunk.
    pub fn cells(&self, id: NodeId, generator: &dyn WorldGenerator) -> Option<Cells<'_>> {
        match &self.data {
            NodeData::Cells(c) => Some(Cells::Chunk(c)),
            NodeData::Generated(Some(m)) => Some(Cells::Sample(Chunk::Uniform(*m))),
            NodeData::Generated(None) => Some(Cells::Sample(strata_core::sample_hinted(generator, id.level, id.key))),
            NodeData::Inner { mip, children } => {
                Some(Cells::Mip(mip.get_or_init(|| downsample_children(id, children, generator))))
            }
            NodeData::Released(_) => None,
        }
    }

    /// Whether this is a generated stub (no known chunk below).
    pub fn is_generated(&self) -> bool {
        self.summary.source == DataSource::Generated
    }

    /// The children of an inner node.
    pub fn children(&self) -> Option<&[Arc<Node>; 8]> {
        match &self.data {
            NodeData::Inner { children, .. } => Some(children),
            NodeData::Cells(_) | NodeData::Generated(_) | NodeData::Released(_) => None,
        }
    }
}

/// What a child gives its parent's grid: its cells, or a released chunk's contribution.
enum ChildCells<'a> {
    Cells(Cells<'a>),
    Released(&'a Contribution),
}

impl<'a> ChildCells<'a> {
    /// Child `c` (at `id`).
    fn of(c: &'a Node, id: NodeId, generator: &dyn WorldGenerator) -> Self {
        match (c.cells(id, generator), c.contribution()) {
            (Some(cells), _) => ChildCells::Cells(cells),
            (None, Some(contribution)) => ChildCells::Released(contribution),
            // Invariant: `cells` is `None` only for released chunks.
            (None, None) => unreachable!("a node without cells is a released chunk"),
        }
    }

    /// `Some(material)` if every cell it gives the parent holds it (for cells: if every cell
    /// does, which implies it).
    fn uniform(&self) -> Option<MaterialId> {
        match self {
            ChildCells::Cells(c) => c.uniform(),
            ChildCells::Released(c) => c.as_uniform(),
        }
    }

    /// Writes the parent cells of octant `octant` that depend on the child cells in `dirty`.
    fn write(self, mip: &mut Mip, octant: usize, dirty: CellBox, up: GridUp) -> CellBox {
        match self {
            ChildCells::Cells(c) => mip.downsample_octant(octant, c, dirty, up),
            ChildCells::Released(c) => mip.set_octant(octant, c),
        }
    }
}

/// `edited` and `pinned` of an inner node over `children`: either holds if it holds below.
fn flags(children: &[Arc<Node>; 8]) -> (bool, bool) {
    (children.iter().any(|c| c.edited), children.iter().any(|c| c.pinned))
}

/// The LOD grid of the inner node `id` over `children`, every octant downsampled in full
/// (each child's cells read once).
fn downsample_children(id: NodeId, children: &[Arc<Node>; 8], generator: &dyn WorldGenerator) -> Mip {
    let cells: [ChildCells<'_>; 8] = std::array::from_fn(|i| ChildCells::of(&children[i], id.child(i), generator));
    match cells[0].uniform() {
        // Eight children that give one material: a uniform grid, nothing to downsample.
        Some(m) if cells.iter().all(|c| c.uniform() == Some(m)) => Mip::uniform(m),
        _ => {
            let mut mip = Mip::default();
            let up = GridUp::of_node(generator.world_up(), id);
            for (i, c) in cells.into_iter().enumerate() {
                c.write(&mut mip, i, CellBox::FULL, up);
            }
            mip
        }
    }
}

/// Version, data source and process history of an inner node over `children`.
fn combine(children: &[Arc<Node>; 8]) -> (u64, DataSource, ProcessHistory) {
    let version = children.iter().map(|c| c.summary.version).max().unwrap_or(0);
    let mut history = ProcessHistory::EMPTY;
    for c in children {
        history.merge(&c.summary.history);
    }
    let exact = children.iter().all(|c| c.summary.source == DataSource::Exact);
    let generated = children.iter().all(|c| c.summary.source == DataSource::Generated);
    let source = if exact {
        DataSource::Exact
    } else if generated {
        DataSource::Generated
    } else {
        DataSource::Mixed
    };
    (version, source, history)
}

/// A new subtree at `id` holding `node` at `target` (a known chunk, or any node built from
/// known data); every other child on the way down is a generated stub.
pub(crate) fn fresh_path(id: NodeId, target: NodeId, node: Arc<Node>, generator: &dyn WorldGenerator) -> Arc<Node> {
    if id.level == target.level {
        return node;
    }
    let mut node = Some(node);
    let children: [Arc<Node>; 8] = std::array::from_fn(|i| {
        let cid = id.child(i);
        match node.take_if(|_| covers(cid, target)) {
            Some(n) => fresh_path(cid, target, n, generator),
            None => Arc::new(Node::generated(cid, generator)),
        }
    });
    Arc::new(Node::inner(id.level, children))
}

/// Whether node `outer` contains node `inner` (`inner.level ≤ outer.level`).
fn covers(outer: NodeId, inner: NodeId) -> bool {
    let d = outer.level - inner.level;
    let k = inner.key;
    ChunkKey::new(k.x >> d, k.y >> d, k.z >> d) == outer.key
}

/// Replaces the node at `target` below `node` (at `id`) with `new`, copying the path.
/// `dirty` is the box of cells of `target` that differ from what the tree holds there now
/// (for a chunk: the voxels that differ from the level-0 node, known or generated; see
/// [`diff_box`]). Returns the new node and the box of its cells that changed (`None`: no cell
/// changed).
///
/// A node on the path whose grid was computed gets its new grid by downsampling only the
/// changed cells; a node whose grid was never computed leaves it to the first reader (the
/// box returned for it is then a safe over-estimate).
///
/// # Runtime
/// O(`ROOT_LEVEL`) node copies (each copies 8 child pointers and the mip's brick table), plus
/// O(changed cells) downsampling per level whose grid was computed.
pub(crate) fn replace(
    node: &Arc<Node>,
    id: NodeId,
    target: NodeId,
    new: Arc<Node>,
    dirty: Option<CellBox>,
    generator: &dyn WorldGenerator,
) -> (Arc<Node>, Option<CellBox>) {
    if id.level == target.level {
        return (new, dirty);
    }
    let NodeData::Inner { mip, children } = &node.data else {
        // A generated stub: build the known path below it from scratch.
        return (fresh_path(id, target, new, generator), Some(CellBox::FULL));
    };
    // Read before descending: a grid set now implies the child's grid is set (the invariant on
    // `NodeData::Inner`), so the new child's grid is at hand for the incremental update.
    let old_mip = mip.get().cloned();
    let i = NodeId::child_index_of(target.key, id.level - target.level);
    let (new_child, dirty) = replace(&children[i], id.child(i), target, new, dirty, generator);
    let (mip, out) = match old_mip {
        Some(mut m) => {
            let up = GridUp::of_node(generator.world_up(), id);
            let out = dirty.map(|d| ChildCells::of(&new_child, id.child(i), generator).write(&mut m, i, d, up));
            (OnceLock::from(m), out)
        }
        None => (OnceLock::new(), dirty.map(|_| CellBox::FULL)),
    };
    let mut hist = node.hist.clone();
    hist.unmerge(&children[i].hist);
    hist.merge(&new_child.hist);
    let mut children = children.clone();
    children[i] = new_child;
    let (version, source, history) = combine(&children);
    let mut summary = NodeSummary::from_histogram(id.level, &hist, version, source);
    summary.history = history;
    let (edited, pinned) = flags(&children);
    (Arc::new(Node { summary, hist, data: NodeData::Inner { mip, children }, edited, pinned }), out)
}

const _: () = assert!(CHUNK_SIZE == 32);

#[cfg(test)]
mod tests {
    use super::super::build::BuildEntry;
    use super::super::tree::Octree;
    use super::*;
    use strata_core::{DenseChunk, FlatGenerator, MaterialId};

    /// Computed grid ⇒ computed grids below (the invariant `replace` relies on).
    fn check_invariant(n: &Node) {
        if let Some(children) = n.children() {
            for c in children {
                assert!(!n.has_mip() || c.has_mip(), "a computed grid above a lazy one");
                check_invariant(c);
            }
        }
    }

    #[test]
    fn grids_are_lazy_after_build_and_updates_keep_the_invariant() {
        let generator = FlatGenerator { height: 3, material: MaterialId(1) };
        let dense = |s: u16| {
            Arc::new(Chunk::Dense(DenseChunk::from_fn(|p| {
                MaterialId(if u16::from(p.y) < u16::from(p.x) % 7 + s { 1 + s % 3 } else { 0 })
            })))
        };
        let keys = [ChunkKey::new(0, 0, 0), ChunkKey::new(5, 0, 3), ChunkKey::new(17, 1, 2), ChunkKey::new(-1, 0, 0)];
        let entries = keys.iter().enumerate().map(|(i, k)| BuildEntry {
            key: *k,
            chunk: dense(i as u16),
            version: 0,
            history: ProcessHistory::EMPTY,
            edited: true,
        });
        let (mut tree, ()) = Octree::build(entries.collect(), &generator, 2, |_| (), |_, _, _| (), |(), _| ());
        for (_, root) in tree.roots() {
            assert!(!root.has_mip(), "a full rebuild computes no grid");
        }
        // Read one level-2 grid (computes it and the level-1 grids below), then edit inside and
        // outside it: the edited path keeps computed grids computed and lazy ones lazy.
        let read = NodeId::containing(keys[1], 2);
        let root = tree.roots().find(|(id, _)| id.contains(keys[1])).map(|(_, r)| r.clone()).unwrap();
        let mut n = &root;
        for level in (read.level..ROOT_LEVEL).rev() {
            n = &n.children().unwrap()[NodeId::child_index_of(keys[1], level + 1)];
        }
        let before = n.mip(read, &generator).cloned().unwrap();
        assert!(n.has_mip());
        for (s, k) in [(4, keys[1]), (5, keys[0]), (6, ChunkKey::new(4, 0, 2))] {
            let leaf =
                Arc::new(Node::leaf(dense(s), Histogram::of_chunk(&dense(s), 1), 1, ProcessHistory::EMPTY, true));
            tree.set_leaf(k, leaf, Some(CellBox::FULL), &generator);
        }
        for (_, root) in tree.roots() {
            check_invariant(root);
        }
        let now = match tree.lookup(read) {
            super::super::tree::Lookup::Node(n) => n.clone(),
            super::super::tree::Lookup::Generated(_) => unreachable!("the node holds known chunks"),
        };
        assert!(now.has_mip(), "an update through a computed grid updates it");
        assert_ne!(now.mip(read, &generator), Some(&before));
    }
}
