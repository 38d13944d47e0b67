//! Immutable snapshots of the index: what readers query.

use crate::above_roots::ChunkCells;
use crate::octree::mip::Contribution;
use crate::octree::{Cells, Lookup, Mip, Node, NodeData, NodeId, Octree, ROOT_LEVEL};
use crate::ray::{Candidate, Ray, RayError, RayHit, RayOptions, cast_segments};
use crate::rtree::{ChunkEntry, ChunkEnvelope, ChunkTree, RaySelection};
use crate::summary::{Histogram, NodeSummary};
use rstar::AABB;
use rstar::RTreeObject;
use std::sync::Arc;
use strata_core::{Chunk, ChunkBox, ChunkKey, DEFAULT_HOMOGENEITY_THRESHOLD, VoxelPos, WorldGenerator};

/// Settings of the index.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IndexConfig {
    /// Fraction of the dominant material above which a node counts as homogeneous.
    pub homogeneity_threshold: f32,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self { homogeneity_threshold: DEFAULT_HOMOGENEITY_THRESHOLD }
    }
}

/// The per-axis inclusive key range of `b`, widened to `i64`.
fn key_range(b: &ChunkBox) -> ([i64; 3], [i64; 3]) {
    (b.min.to_array().map(i64::from), b.max.to_array().map(i64::from))
}

/// `b` as an R-tree envelope (chunk coordinates).
fn envelope_of(b: &ChunkBox) -> ChunkEnvelope {
    AABB::from_corners(b.min.to_array(), b.max.to_array())
}

/// One maximal homogeneous node found by [`IndexSnapshot::homogeneous_regions`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HomogeneousRegion {
    /// The node.
    pub node: NodeId,
    /// Its summary.
    pub summary: NodeSummary,
    /// The chunks it covers.
    pub chunks: ChunkBox,
}

/// An immutable, consistent view of the whole index. Cheap to share (`Arc`); readers never
/// block and never see a half-applied update.
pub struct IndexSnapshot {
    pub(crate) version: u64,
    pub(crate) world_version: u64,
    pub(crate) octree: Octree,
    pub(crate) rtree: Arc<ChunkTree>,
    pub(crate) chunk_cells: Arc<ChunkCells>,
    pub(crate) generator: Arc<dyn WorldGenerator>,
    pub(crate) config: IndexConfig,
}

impl std::fmt::Debug for IndexSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexSnapshot")
            .field("version", &self.version)
            .field("world_version", &self.world_version)
            .field("roots", &self.octree.root_count())
            .field("rtree_entries", &self.rtree.size())
            .finish()
    }
}

impl IndexSnapshot {
    /// The snapshot's sequence number (incremented by every publish that changed something).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The largest world version of any change folded in.
    pub fn world_version(&self) -> u64 {
        self.world_version
    }

    /// The settings.
    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    /// Number of octree roots.
    pub fn root_count(&self) -> usize {
        self.octree.root_count()
    }

    /// The summary of node `id`. Nodes with no known chunk below, and nodes above
    /// [`ROOT_LEVEL`], come from the generator.
    ///
    /// # Runtime
    /// O(`ROOT_LEVEL`) for nodes in the tree; one generator sample otherwise.
    pub fn summary(&self, id: NodeId) -> NodeSummary {
        match self.octree.lookup(id) {
            Lookup::Node(n) | Lookup::Generated(Some(n)) => n.summary,
            Lookup::Generated(None) => Node::generated(id, self.generator.as_ref()).summary,
        }
    }

    /// The summary of a node the tree holds (known or stub), without sampling the generator.
    pub fn stored_summary(&self, id: NodeId) -> Option<NodeSummary> {
        match self.octree.lookup(id) {
            Lookup::Node(n) | Lookup::Generated(Some(n)) => Some(n.summary),
            Lookup::Generated(None) => None,
        }
    }

    /// The exact material histogram of a node the tree holds.
    pub fn histogram(&self, id: NodeId) -> Option<Histogram> {
        match self.octree.lookup(id) {
            Lookup::Node(n) | Lookup::Generated(Some(n)) => Some(n.hist.clone()),
            Lookup::Generated(None) => None,
        }
    }

    /// Whether node `id`'s dominant material fills at least `threshold` of it.
    pub fn is_homogeneous(&self, id: NodeId, threshold: f32) -> bool {
        self.summary(id).is_homogeneous(threshold)
    }

    /// [`IndexSnapshot::is_homogeneous`] with the configured threshold.
    pub fn is_homogeneous_default(&self, id: NodeId) -> bool {
        self.is_homogeneous(id, self.config.homogeneity_threshold)
    }

    /// The known chunk at `key` (level-0 data), if the index holds its voxels: the content
    /// handed in (after a bulk load, possibly shared with equal uniform chunks elsewhere).
    /// `None` for chunks it does not know and for released ones ([`IndexSnapshot::is_released`]).
    pub fn chunk(&self, key: ChunkKey) -> Option<Arc<Chunk>> {
        match self.octree.lookup(NodeId::chunk(key)) {
            Lookup::Node(n) => match &n.data {
                NodeData::Cells(c) => Some(c.clone()),
                NodeData::Inner { .. } | NodeData::Generated(_) | NodeData::Released(_) => None,
            },
            Lookup::Generated(_) => None,
        }
    }

    /// What this snapshot holds, in bytes (nodes and chunks shared with other snapshots
    /// counted in full).
    ///
    /// # Runtime
    /// O(nodes): a walk over the whole tree.
    pub fn memory(&self) -> crate::IndexMemory {
        crate::IndexMemory::of(&self.octree, self.rtree.size(), &self.chunk_cells)
    }

    /// Whether the index knows the chunk at `key` but has released its voxels (it keeps its
    /// summary; see [`IndexWriter::release`](crate::IndexWriter::release)).
    pub fn is_released(&self, key: ChunkKey) -> bool {
        self.octree.leaf(key).is_some_and(|n| n.is_released())
    }

    /// The 32³ cells to mesh for node `id`: the chunk at level 0, the downsampled grid above
    /// (see [`crate::octree::mip`]), generator samples where nothing below is known; above
    /// [`ROOT_LEVEL`], the generator's samples with the chunk cells of edited chunks folded in
    /// (see [`crate::above_roots`]).
    ///
    /// Grids are computed on first request (a full rebuild leaves them all to the readers) and
    /// then kept in the node, which later snapshots share; concurrent first requests for one
    /// node compute it once. Readers never wait for the writer.
    ///
    /// A released chunk (level 0 only; its voxels are in the world, not here) gives the cells
    /// of its level-1 parent's grid that cover it, each repeated over 2³ voxels: coarse data,
    /// said so by [`IndexSnapshot::is_released`].
    ///
    /// # Runtime
    /// O(1) for uniform grids; O(32³) to expand a bricked grid; one generator sample for nodes
    /// outside the tree and for generated stubs whose sample is not uniform. The first request
    /// for a node whose grid is not computed yet also computes it and every missing grid below:
    /// O(16³) per octant of those nodes (plus one generator sample per non-uniform stub among
    /// their children), up to O(nodes below × 16³) for a root after a full rebuild.
    pub fn lod_chunk(&self, id: NodeId) -> Chunk {
        match self.octree.lookup(id) {
            Lookup::Node(n) | Lookup::Generated(Some(n)) => match n.cells(id, self.generator.as_ref()) {
                Some(Cells::Chunk(c)) => c.clone(),
                Some(Cells::Sample(c)) => c,
                Some(Cells::Mip(m)) => m.to_chunk(),
                None => match n.contribution() {
                    Some(c) => Self::released_cells(c),
                    // Invariant: only released chunks have no cells.
                    None => unreachable!("a node without cells is a released chunk"),
                },
            },
            Lookup::Generated(None) if id.level > ROOT_LEVEL => self.chunk_cells.grid(id, self.generator.as_ref()),
            Lookup::Generated(None) => strata_core::sample_hinted(self.generator.as_ref(), id.level, id.key),
        }
    }

    /// The chunk cell the index holds for `key` (edited chunks and chunks known from
    /// [`IndexWriter::scan_chunk_cells`](crate::IndexWriter::scan_chunk_cells)): what the
    /// grids above [`ROOT_LEVEL`] are made of (see [`crate::above_roots`]).
    pub fn chunk_cell(&self, key: ChunkKey) -> Option<strata_core::MaterialId> {
        self.chunk_cells.get(key)
    }

    /// The released chunk's contribution to its level-1 parent's grid (the cells of that grid
    /// that cover it), upsampled to 32³.
    fn released_cells(contribution: &Contribution) -> Chunk {
        if let Some(m) = contribution.as_uniform() {
            return Chunk::Uniform(m);
        }
        let out = strata_core::DenseChunk::from_fn(|p| {
            contribution.get(usize::from(p.x) / 2, usize::from(p.y) / 2, usize::from(p.z) / 2)
        });
        let mut chunk = Chunk::Dense(out);
        chunk.normalize();
        chunk
    }

    /// The LOD grid of an inner node without expanding it (shared, O(1) once computed; the
    /// first request computes it as [`IndexSnapshot::lod_chunk`] describes).
    pub fn lod_grid(&self, id: NodeId) -> Option<Mip> {
        match self.octree.lookup(id) {
            Lookup::Node(n) => n.mip(id, self.generator.as_ref()).cloned(),
            Lookup::Generated(_) => None,
        }
    }

    /// The maximal homogeneous nodes (configured threshold) covering parts of `bounds`: a node
    /// fully inside `bounds` is reported when homogeneous; otherwise its children are visited,
    /// down to `min_level`, where nodes that merely intersect `bounds` are reported too.
    /// Generated stubs and nodes outside the tree are judged by their generator summaries and
    /// not split further.
    ///
    /// # Runtime
    /// O(nodes visited); one generator sample per root position in `bounds` the tree lacks.
    pub fn homogeneous_regions(&self, bounds: ChunkBox, min_level: u32) -> Vec<HomogeneousRegion> {
        let mut out = Vec::new();
        let (lo, hi) = key_range(&bounds);
        let root_lo = lo.map(|v| v >> ROOT_LEVEL);
        let root_hi = hi.map(|v| v >> ROOT_LEVEL);
        for z in root_lo[2]..=root_hi[2] {
            for y in root_lo[1]..=root_hi[1] {
                for x in root_lo[0]..=root_hi[0] {
                    let id = NodeId::new(ROOT_LEVEL, ChunkKey::new(x as i32, y as i32, z as i32));
                    let node = match self.octree.lookup(id) {
                        Lookup::Node(n) | Lookup::Generated(Some(n)) => Some(n.clone()),
                        Lookup::Generated(None) => None,
                    };
                    self.visit_regions(id, node.as_ref(), (lo, hi), min_level, &mut out);
                }
            }
        }
        out
    }

    fn visit_regions(
        &self,
        id: NodeId,
        node: Option<&Arc<Node>>,
        bounds: ([i64; 3], [i64; 3]),
        min_level: u32,
        out: &mut Vec<HomogeneousRegion>,
    ) {
        let (nlo, nhi) = id.chunk_range();
        let (blo, bhi) = bounds;
        if (0..3).any(|a| nhi[a] < blo[a] || nlo[a] > bhi[a]) {
            return;
        }
        let inside = (0..3).all(|a| nlo[a] >= blo[a] && nhi[a] <= bhi[a]);
        let summary = match node {
            Some(n) => n.summary,
            None => Node::generated(id, self.generator.as_ref()).summary,
        };
        let homogeneous = summary.is_homogeneous(self.config.homogeneity_threshold);
        let children = node.and_then(|n| n.children());
        if homogeneous && (inside || id.level <= min_level || children.is_none()) {
            let k = |v: [i64; 3]| ChunkKey::new(v[0] as i32, v[1] as i32, v[2] as i32);
            out.push(HomogeneousRegion { node: id, summary, chunks: ChunkBox { min: k(nlo), max: k(nhi) } });
            return;
        }
        if id.level <= min_level {
            return;
        }
        if let Some(children) = children {
            for (i, c) in children.iter().enumerate() {
                self.visit_regions(id.child(i), Some(c), bounds, min_level, out);
            }
        }
    }

    /// The material histogram of every voxel in `bounds`: the box is split into the largest
    /// aligned nodes inside it and their histograms added (nodes the tree lacks are sampled from
    /// the generator at their level, so counts there follow [`DataSource::Generated`](crate::DataSource::Generated)).
    ///
    /// # Runtime
    /// O(nodes in the split): about the box's surface area in chunks, times the levels.
    pub fn region_histogram(&self, bounds: ChunkBox) -> Histogram {
        let mut hist = Histogram::new();
        let (lo, hi) = key_range(&bounds);
        let root_lo = lo.map(|v| v >> ROOT_LEVEL);
        let root_hi = hi.map(|v| v >> ROOT_LEVEL);
        for z in root_lo[2]..=root_hi[2] {
            for y in root_lo[1]..=root_hi[1] {
                for x in root_lo[0]..=root_hi[0] {
                    let id = NodeId::new(ROOT_LEVEL, ChunkKey::new(x as i32, y as i32, z as i32));
                    let node = match self.octree.lookup(id) {
                        Lookup::Node(n) | Lookup::Generated(Some(n)) => Some(n.clone()),
                        Lookup::Generated(None) => None,
                    };
                    self.add_region(id, node, (lo, hi), &mut hist);
                }
            }
        }
        hist
    }

    fn add_region(&self, id: NodeId, node: Option<Arc<Node>>, bounds: ([i64; 3], [i64; 3]), out: &mut Histogram) {
        let (nlo, nhi) = id.chunk_range();
        let (blo, bhi) = bounds;
        if (0..3).any(|a| nhi[a] < blo[a] || nlo[a] > bhi[a]) {
            return;
        }
        if (0..3).all(|a| nlo[a] >= blo[a] && nhi[a] <= bhi[a]) {
            match node {
                Some(n) => out.merge(&n.hist),
                None => out.merge(&Node::generated(id, self.generator.as_ref()).hist),
            }
            return;
        }
        let children = node.as_ref().and_then(|n| n.children());
        for i in 0..8 {
            self.add_region(id.child(i), children.map(|c| c[i].clone()), bounds, out);
        }
    }

    /// Whether the dominant material fills at least `threshold` of the voxels in `bounds`
    /// (see [`IndexSnapshot::region_histogram`]).
    pub fn is_region_homogeneous(&self, bounds: ChunkBox, threshold: f32) -> bool {
        let h = self.region_histogram(bounds);
        let total = h.total();
        total > 0 && h.dominant().1 as f64 >= threshold as f64 * total as f64
    }

    /// Every R-tree entry (chunks known to the index that are not all air), in tree order.
    pub fn rtree_entries(&self) -> impl Iterator<Item = &ChunkEntry> {
        self.rtree.iter()
    }

    /// Number of R-tree entries.
    pub fn rtree_len(&self) -> usize {
        self.rtree.size()
    }

    /// Known non-air chunks whose box intersects `bounds` (an R-tree envelope query).
    pub fn chunks_in(&self, bounds: ChunkBox) -> impl Iterator<Item = &ChunkEntry> {
        self.rtree.locate_in_envelope_intersecting(&envelope_of(&bounds))
    }

    /// The ray broad phase: known non-air chunks whose box the ray may touch within
    /// `max_distance` (padded slab test, so a few extra candidates are possible), in entry order.
    pub fn ray_candidates(&self, ray: &Ray, max_distance: f64) -> Vec<(f64, &ChunkEntry)> {
        let sel = RaySelection::new(ray, max_distance);
        let mut v: Vec<(f64, &ChunkEntry)> = self
            .rtree
            .locate_with_selection_function(RaySelection::new(ray, max_distance))
            .filter_map(|e| sel.slab(&e.envelope()).map(|(t0, _)| (t0, e)))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
    }

    /// Casts a ray: the chunk holding the origin first (found through the octree), then an
    /// R-tree broad phase segment by segment and the exact walk described in [`crate::ray`].
    ///
    /// # Runtime
    /// O(log n + candidates) for the broad phase, O(1) per all-solid chunk, O(voxels walked)
    /// inside dense chunks.
    pub fn cast_ray(&self, ray: &Ray, options: &RayOptions) -> Result<Option<RayHit>, RayError> {
        let mut buf = Vec::new();
        self.cast_ray_with(ray, options, &mut buf)
    }

    /// [`IndexSnapshot::cast_ray`] with a caller-owned buffer (no allocation once warm).
    pub fn cast_ray_with<'a>(
        &'a self,
        ray: &Ray,
        options: &RayOptions,
        buf: &mut RayBuffer<'a>,
    ) -> Result<Option<RayHit>, RayError> {
        options.validate()?;
        let query = |lo: f64, hi: f64| {
            self.rtree
                .locate_with_selection_function(RaySelection::segment(ray, lo, hi))
                .map(|e| (e.key, e.chunk.as_deref()))
        };
        let o = ray.origin();
        let origin_key = VoxelPos::new(o[0].floor() as i32, o[1].floor() as i32, o[2].floor() as i32).chunk();
        let origin_chunk = self.octree.leaf(origin_key).and_then(|n| match &n.data {
            NodeData::Cells(c) if n.summary.non_air_count > 0 => Some((origin_key, Some(c.as_ref()))),
            NodeData::Released(_) if n.summary.non_air_count > 0 => Some((origin_key, None)),
            _ => None,
        });
        cast_segments(ray, options, origin_chunk, query, buf).map_err(|chunk| RayError::NotResident { chunk })
    }
}

/// Scratch space for [`IndexSnapshot::cast_ray_with`].
pub type RayBuffer<'a> = Vec<Candidate<'a>>;
