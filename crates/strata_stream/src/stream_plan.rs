//! The bookkeeping of a streamed view, engine-free: which octree nodes are shown, what each
//! needs before it can be meshed, which loads and meshes to start next, which finished results
//! are still current, and which voxel data to keep or release.
//!
//! An engine (the Bevy plugin) owns the tasks, the world cache and the entities; it asks a
//! [`StreamPlan`] what to do and tells it what happened. Everything it decides is here, so it
//! is unit-tested without an engine.
//!
//! # Pipeline
//! Per node: **plan** ([`StreamPlan::update_view`]: the [`LodSelector`] adds or removes it) →
//! **load** its data and that of its six same-level neighbours (a chunk at level 0, an LOD grid
//! above; one load per missing piece, shared by every node that needs it) → **mesh** →
//! **apply** (the engine shows the mesh if [`StreamPlan::mesh_arrived`] says it is current).
//! [`StreamPlan::next_work`] hands out that work in order, never more than the free task slots.
//!
//! # Invariants
//! - **Generations.** Every shown node has a generation; anything that invalidates its mesh (an
//!   edit, a neighbour appearing or leaving, a new grid under it) bumps it and queues the node
//!   again. A mesh computed for an older generation is stale and never shown.
//! - **Seam rule.** A mesh is built against its six same-level neighbours' data. A shown
//!   neighbour is meshed against as is; an unshown one (an LOD border or the view's edge) gets a
//!   closed seam ([`Side::Seam`]) — unless it is uniform and opaque, where no surface can cross
//!   the border, so culling against it cannot crack.
//! - **Retention.** Voxel data is kept for the retention set: shown nodes, the same-level
//!   neighbours of shown nodes (the LOD hysteresis is the margin), and chunks a ray or an edit
//!   asked for ([`StreamPlan::want_chunk`]). When a node leaves the view, what only it needed is released:
//!   its grid is dropped, its loads are cancelled ([`StreamPlan::is_loading`] turns false: the
//!   engine drops the task) and its chunks are handed back ([`ViewChange::released`]) for the
//!   engine to evict. A load that finishes after its requesters left is dropped
//!   ([`LoadFate::Dropped`]), so nothing outlives the retention set.
//! - **Scans.** A grid is exact only once every stored chunk under it is known to the index
//!   (levels 1 to [`ROOT_LEVEL`]: as a released chunk; above: by its chunk cell, see
//!   [`strata_index::above_roots`]); its load waits for that ([`StreamInputs::ensure_scanned`]) and
//!   rejoins the load queue (at its distance, see *Order*) when the scan is published
//!   ([`StreamPlan::index_published`]).
//!
//! # Order
//! Work is handed out **nearest first**, so when the pipeline is slower than the viewer the
//! ground under the viewer is served before the horizon. Meshes: nodes an edit touched first
//! ([`StreamPlan::chunk_edited`]), then by distance from the nearest viewer to the node's box.
//! Loads: chunks a ray or an edit waits for first ([`StreamPlan::want_chunk`]), then by distance. Equal
//! keys keep queue order. The distance is taken when the node is queued (from the viewers of
//! the last [`StreamPlan::update_view`]) and kept while it waits; nodes a moving viewer
//! leaves behind are skipped when their turn comes.
//!
//! **Compaction.** A viewer that moves faster than the pipeline serves its queues keeps
//! queuing near work ahead of the entries it left behind, which then never reach the front:
//! unchecked, a long flight grows the queues without bound (measured before this rule: ~3 MiB
//! per minute of stale load entries in the LOD-0 fly-through). So when a queue holds more than
//! twice as many entries as it has live ones (plus [`QUEUE_SLACK`]), [`StreamPlan::next_work`]
//! rebuilds it: entries of nodes no longer queued or requested are dropped, duplicates merged,
//! and the rest re-keyed by the current viewers' distances (so a moving viewer's queues are
//! re-sorted then too). O(entries), at most once per as many pushes: amortised O(1) each.
//!
//! # Cost
//! Every operation is O(what changed): a view change costs O(added + removed) (plus the
//! selector's own update) times O(log queued), an edit O(log queued), a finished load O(log
//! queued) (it wakes only the seven nodes that can wait for it), [`StreamPlan::next_work`]
//! O(log queued) per queued node it looks at. Nothing walks the whole shown set except the
//! progress queries that say so.

use crate::lod_select::{LodDiff, LodSelector, LodSettings, Viewer};
use rustc_hash::{FxHashMap, FxHashSet};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use strata_core::{Chunk, ChunkKey, Face, MaterialId};
use strata_index::{NodeId, ROOT_LEVEL};

/// What the plan needs from the engine's world while it hands out work.
pub trait StreamInputs {
    /// The chunk's voxels if the world cache holds them (level-0 data).
    fn resident_chunk(&self, key: ChunkKey) -> Option<Arc<Chunk>>;
    /// Whether material `m` is opaque (a uniform opaque neighbour needs no seam).
    fn is_opaque(&self, m: MaterialId) -> bool;
    /// Whether every stored chunk under `grid` (level ≥ 1) is known to the index as far as
    /// its grid needs (levels 1 to [`ROOT_LEVEL`]: summaries; above: chunk cells). If not,
    /// starts reading them (once) and returns `false`; the plan asks again when
    /// [`StreamPlan::index_published`] reports the scan.
    fn ensure_scanned(&mut self, grid: NodeId) -> bool;
}

/// A neighbour as the mesher sees it.
#[derive(Clone, Debug)]
pub enum Side {
    /// Meshed against this data (a shown same-level neighbour, or a uniform opaque one).
    Same(Arc<Chunk>),
    /// A closed LOD seam: the border is meshed as if the neighbour were air.
    Seam,
}

impl Side {
    /// The neighbour's data, if meshed against it.
    pub fn data(&self) -> Option<&Arc<Chunk>> {
        match self {
            Side::Same(c) => Some(c),
            Side::Seam => None,
        }
    }
}

/// A node to mesh, with everything the mesher needs.
#[derive(Clone, Debug)]
pub struct MeshWork {
    /// The node.
    pub node: NodeId,
    /// Its generation when the work was handed out: pass it back to [`StreamPlan::mesh_arrived`].
    pub generation: u64,
    /// The node's 32³ data.
    pub center: Arc<Chunk>,
    /// Its six same-level neighbours, in [`Face::ALL`] order.
    pub sides: [Side; 6],
    /// With [`StreamPlan::set_light_ring`], for a chunk (level 0): the data of the 3 × 3 × 3
    /// chunks around it (index `(dx + 1) + 3 (dy + 1) + 9 (dz + 1)`; the centre at 13), what
    /// light is computed from. `None` entries are chunks not shown at level 0 (beyond the
    /// full-detail view, or a seam). `None` altogether for a chunk with no faces to light
    /// (uniform air, or uniform opaque among uniform opaque neighbours).
    pub ring: Option<Box<[Option<Arc<Chunk>>; 27]>>,
}

/// Work handed out by [`StreamPlan::next_work`]: the engine must start every item (a task
/// each) and report its end ([`StreamPlan::load_returned`] / [`StreamPlan::mesh_returned`]),
/// unless the plan cancels it first ([`StreamPlan::is_loading`] / [`StreamPlan::is_meshing`]
/// turn false). A mesh of a node whose older mesh is still in flight replaces it: the engine
/// drops the older task (its result would be stale).
#[derive(Clone, Debug)]
pub enum Work {
    /// Mesh a node.
    Mesh(MeshWork),
    /// Load a node's data: a chunk (store, then generator) at level 0, an LOD grid above.
    Load(NodeId),
}

/// What a view update changed, for the engine to act on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViewChange {
    /// Nodes now shown (no mesh yet).
    pub shown: Vec<NodeId>,
    /// Nodes no longer shown: their meshes go. Their work in flight is cancelled.
    pub hidden: Vec<NodeId>,
    /// Those of `hidden` that had a mesh (an empty one included): what the player saw there
    /// (see [`crate::handover`]).
    pub hidden_meshed: Vec<NodeId>,
    /// Chunks nothing retains any more: evict them from the world cache (unless dirty; the
    /// index releases their voxels).
    pub released: Vec<ChunkKey>,
}

impl ViewChange {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.shown.is_empty() && self.hidden.is_empty() && self.released.is_empty()
    }
}

/// What became of a finished load ([`StreamPlan::load_arrived`]).
#[derive(Clone, Debug)]
pub enum LoadFate {
    /// A retained chunk: the engine puts it into its world cache (and so the index).
    Chunk(Arc<Chunk>),
    /// A retained grid: the plan keeps it for meshing.
    Grid,
    /// Nobody retains the node any more: the data is dropped.
    Dropped,
    /// The load failed; whoever waits for it asks again.
    Failed,
}

/// What became of a finished mesh ([`StreamPlan::mesh_arrived`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeshFate {
    /// Computed for an older generation, or the node left: not shown.
    Stale,
    /// The node's first mesh: show it.
    First,
    /// A newer mesh of a node already shown: replace it.
    Update,
}

/// A shown node.
#[derive(Clone, Copy, Debug)]
struct ShownNode {
    generation: u64,
    meshed_generation: Option<u64>,
    /// For each face: whether the same-level neighbour is shown (else the border is a seam).
    same_level: [bool; 6],
}

/// A place in a work queue: the smallest `(rank, distance, seq)` is served first (see
/// *Order* in the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Queued {
    /// 0: ahead of everything (an edit's remesh, a ray's chunk); 1: by distance.
    rank: u8,
    /// Voxels from the nearest viewer to the node's box when it was queued.
    distance: u64,
    /// Queue order among equal keys.
    seq: u64,
    node: NodeId,
}

impl Ord for Queued {
    /// Reversed, so that [`BinaryHeap`] (a max-heap) pops the smallest key.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.rank, other.distance, other.seq).cmp(&(self.rank, self.distance, self.seq))
    }
}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Entries a queue may hold beyond twice its live ones before it is compacted (see
/// *Compaction* in the [module docs](self)).
pub const QUEUE_SLACK: usize = 256;

/// How many new loads per slot [`StreamPlan::next_work`] lets queued nodes request before it
/// stops looking at them: enough that the loads it hands out are the nearest of a choice, few
/// enough that one call never examines a whole new view.
pub const LOADS_AHEAD: usize = 2;

/// The streaming bookkeeping of one view (see the [module docs](self)).
#[derive(Debug, Default)]
pub struct StreamPlan {
    selector: LodSelector,
    /// Viewer positions of the last view update (what queue distances are measured from).
    viewers: Vec<[f64; 3]>,
    /// Queue order of the next entry.
    seq: u64,
    shown: FxHashMap<NodeId, ShownNode>,
    /// Shown nodes per level (index: level; as long as the highest level shown so far + 1).
    shown_per_level: Vec<usize>,
    /// Nodes to mesh, nearest first; `queued` holds the same nodes.
    mesh_queue: BinaryHeap<Queued>,
    queued: FxHashSet<NodeId>,
    /// Nodes waiting for data before they can be meshed, each with the pieces it waits for
    /// (see [`piece_bit`]): it is queued again when the last of them arrives, not at each.
    waiting: FxHashMap<NodeId, u32>,
    /// Loads to start, nearest first; `load_requested` holds the requests still wanted (an
    /// entry whose request was withdrawn is skipped).
    load_queue: BinaryHeap<Queued>,
    load_requested: FxHashSet<NodeId>,
    /// Work handed out whose end was not reported yet.
    loading: FxHashSet<NodeId>,
    meshing: FxHashSet<NodeId>,
    /// LOD grids of retained nodes above level 0.
    grids: FxHashMap<NodeId, Arc<Chunk>>,
    /// Chunks rays asked for (retained until they arrive).
    wanted: FxHashSet<NodeId>,
    /// Grid loads waiting for the scan of their stored chunks.
    blocked_on_scan: FxHashSet<NodeId>,
    /// Chunk meshes also wait for, and carry, the shown chunks of their 3 × 3 × 3 ring.
    light_ring: bool,
}

/// The data of a chunk's 3 × 3 × 3 ring, if asked for ([`MeshWork::ring`]).
type MeshRing = Option<Box<[Option<Arc<Chunk>>; 27]>>;

fn same_level_neighbor(id: NodeId, f: Face) -> NodeId {
    NodeId::new(id.level, id.key.neighbor(f))
}

/// A piece of data a node's mesh waits for: its [`piece_bit`] and the node that holds it.
type MissingPiece = (u8, NodeId);

/// Which piece of data `waiter`'s mesh needs `piece` is: the index of `piece`'s offset in the
/// 3 × 3 × 3 ring around `waiter` (its own data 13, the face neighbours 4, 10, 12, 14, 16, 22);
/// 13 for anything else.
fn piece_bit(waiter: NodeId, piece: NodeId) -> u8 {
    let (w, p) = (waiter.key.to_array(), piece.key.to_array());
    let d: [i64; 3] = std::array::from_fn(|a| i64::from(p[a]) - i64::from(w[a]));
    if waiter.level != piece.level || d.iter().any(|v| v.abs() > 1) {
        return 13;
    }
    ((d[0] + 1) + 3 * (d[1] + 1) + 9 * (d[2] + 1)) as u8
}

/// The node at `offset` (each component in `-1..=1`) from `id` at its level.
fn ring_node(id: NodeId, offset: [i32; 3]) -> NodeId {
    let k = id.key.to_array();
    NodeId::new(
        id.level,
        ChunkKey::new(k[0].wrapping_add(offset[0]), k[1].wrapping_add(offset[1]), k[2].wrapping_add(offset[2])),
    )
}

/// The offset of ring index `i` (see [`piece_bit`]).
const fn ring_offset(i: usize) -> [i32; 3] {
    let i = i as i32;
    [i % 3 - 1, i / 3 % 3 - 1, i / 9 - 1]
}

/// `id` and the 26 nodes around it at its level.
fn with_ring(id: NodeId) -> impl Iterator<Item = NodeId> {
    (0..27).map(move |i| ring_node(id, ring_offset(i)))
}

/// `id` and its six same-level neighbours.
fn with_neighbors(id: NodeId) -> impl Iterator<Item = NodeId> {
    std::iter::once(id).chain(Face::ALL.map(|f| same_level_neighbor(id, f)))
}

impl StreamPlan {
    /// An empty plan with these LOD settings.
    pub fn new(settings: LodSettings) -> Self {
        Self { selector: LodSelector::new(settings), ..Default::default() }
    }

    /// The LOD settings.
    pub fn settings(&self) -> LodSettings {
        self.selector.settings()
    }

    /// Changes the LOD settings; takes effect at the next [`StreamPlan::update_view`].
    pub fn set_settings(&mut self, settings: LodSettings) {
        if self.selector.settings() != settings {
            self.selector.set_settings(settings);
        }
    }

    /// The LOD selector.
    pub fn selector(&self) -> &LodSelector {
        &self.selector
    }

    /// The LOD selector (for its thresholds, e.g. [`LodSelector::set_min_move`]).
    pub fn selector_mut(&mut self) -> &mut LodSelector {
        &mut self.selector
    }

    /// Selects the nodes to show for `viewers` and updates the shown set, borders, queues and
    /// retention. O(added + removed) beyond the selector's update.
    pub fn update_view(&mut self, viewers: &[Viewer]) -> ViewChange {
        self.viewers.clear();
        self.viewers.extend(viewers.iter().map(|v| v.position));
        let diff = self.selector.update(viewers);
        self.apply_diff(diff)
    }

    fn apply_diff(&mut self, diff: LodDiff) -> ViewChange {
        if diff.is_empty() {
            return ViewChange::default();
        }
        let mut change = ViewChange::default();
        for id in &diff.removed {
            if let Some(node) = self.shown.remove(id) {
                self.shown_per_level[id.level as usize] -= 1;
                change.hidden.push(*id);
                if node.meshed_generation.is_some() {
                    change.hidden_meshed.push(*id);
                }
            }
            // Cancelled: the engine drops the task.
            self.meshing.remove(id);
            self.waiting.remove(id);
        }
        // A whole new view arrives at once: grow each table once, not by doubling.
        self.shown.reserve(diff.added.len());
        self.queued.reserve(diff.added.len());
        self.mesh_queue.reserve(diff.added.len());
        for id in &diff.added {
            let fresh = ShownNode { generation: 0, meshed_generation: None, same_level: [false; 6] };
            if self.shown.insert(*id, fresh).is_none() {
                let level = id.level as usize;
                if self.shown_per_level.len() <= level {
                    self.shown_per_level.resize(level + 1, 0);
                }
                self.shown_per_level[level] += 1;
            }
        }
        // A new node's borders, once every new node is in: it has no mesh yet, so it is queued
        // once, at generation 0.
        for &id in &diff.added {
            let now = self.same_level_shown(id);
            if let Some(s) = self.shown.get_mut(&id) {
                s.same_level = now;
            }
            self.enqueue(id, false);
            change.shown.push(id);
        }
        // Borders of the nodes that were shown before: a face whose same-level neighbour
        // appeared or vanished is remeshed (seam or not). Only neighbours of changed nodes can
        // have changed borders; looking at one twice changes nothing the second time.
        let mut added = FxHashSet::with_capacity_and_hasher(diff.added.len(), Default::default());
        added.extend(diff.added.iter().copied());
        for &changed in diff.added.iter().chain(&diff.removed) {
            for f in Face::ALL {
                let id = same_level_neighbor(changed, f);
                if added.contains(&id) || !self.shown.contains_key(&id) {
                    continue;
                }
                let now = self.same_level_shown(id);
                let Some(s) = self.shown.get_mut(&id) else { continue };
                if s.same_level != now {
                    s.same_level = now;
                    s.generation += 1;
                    self.enqueue(id, false);
                }
            }
        }
        // Release what only the removed nodes retained: the removed nodes and those of their
        // neighbours no shown node borders.
        let candidates: FxHashSet<NodeId> = diff.removed.iter().flat_map(|&id| with_neighbors(id)).collect();
        for n in candidates {
            if self.retains(n) {
                continue;
            }
            if n.level == 0 {
                change.released.push(n.key);
            }
            self.grids.remove(&n);
            // Cancelled: the engine drops the task.
            self.loading.remove(&n);
            self.load_requested.remove(&n);
        }
        change
    }

    /// Which of `id`'s same-level neighbours are shown, per face of [`Face::ALL`].
    fn same_level_shown(&self, id: NodeId) -> [bool; 6] {
        Face::ALL.map(|f| self.shown.contains_key(&same_level_neighbor(id, f)))
    }

    /// Whether `n`'s data is in the retention set: shown, the same-level neighbour of a shown
    /// node, or asked for by a ray. O(1).
    pub fn retains(&self, n: NodeId) -> bool {
        self.shown.contains_key(&n)
            || Face::ALL.iter().any(|&f| self.shown.contains_key(&same_level_neighbor(n, f)))
            || self.wanted.contains(&n)
    }

    /// An edit changed `key`'s voxels: its node and its six neighbours are remeshed first
    /// (their borders see the change).
    pub fn chunk_edited(&mut self, key: ChunkKey) {
        for n in with_neighbors(NodeId::chunk(key)) {
            self.invalidate(n, true);
        }
    }

    /// Light in chunk `key` may have changed (an edit within light's reach of it, or one that
    /// opened or closed the sky above it): its node is remeshed first. O(1).
    pub fn chunk_relit(&mut self, key: ChunkKey) {
        self.invalidate(NodeId::chunk(key), true);
    }

    /// Every shown node is remeshed (what meshes are made of changed: the materials' colours,
    /// kinds or textures), nearest first, after urgent work; each stays shown until its new
    /// mesh replaces it. O(shown).
    pub fn remesh_all(&mut self) {
        let shown: Vec<NodeId> = self.shown.keys().copied().collect();
        for id in shown {
            self.invalidate(id, false);
        }
    }

    /// Whether chunk meshes wait for, and carry, the shown chunks of their 3 × 3 × 3 ring
    /// ([`MeshWork::ring`], for light). Off by default. Which chunks an edit relights is the
    /// engine's call ([`StreamPlan::chunk_relit`]).
    pub fn set_light_ring(&mut self, on: bool) {
        self.light_ring = on;
    }

    /// A ray or an edit needs `key`'s voxels and the engine's world cache does not hold them:
    /// it is loaded before the view's chunks (and retained until it arrives).
    pub fn want_chunk(&mut self, key: ChunkKey) {
        let id = NodeId::chunk(key);
        self.wanted.insert(id);
        let _ = self.request_load(id);
    }

    /// The index published a snapshot: `changed` chunks' edits, the chunks whose chunk cell
    /// changed (`cells_changed`, see [`strata_index::above_roots`]) and the finished scans of `scanned`
    /// grids (successful or not: a failed one is asked for again). Grids over changed chunks
    /// (levels 1 to [`ROOT_LEVEL`]) and over changed chunk cells (above it, up to the
    /// selector's `max_level`) are dropped and their nodes and neighbours remeshed; loads that
    /// waited for a scan rejoin the load queue.
    pub fn index_published(&mut self, changed: &[ChunkKey], cells_changed: &[ChunkKey], scanned: &[NodeId]) {
        for &id in scanned {
            if self.blocked_on_scan.remove(&id) && self.load_requested.contains(&id) {
                let entry = self.entry(id, self.wanted.contains(&id));
                self.load_queue.push(entry);
            }
        }
        let max_level = self.selector.settings().max_level;
        let (below, above) = (1..=max_level.min(ROOT_LEVEL), ROOT_LEVEL + 1..=max_level);
        let grids = changed
            .iter()
            .flat_map(|&k| below.clone().map(move |l| NodeId::containing(k, l)))
            .chain(cells_changed.iter().flat_map(|&k| above.clone().map(move |l| NodeId::containing(k, l))));
        for id in grids {
            if self.grids.remove(&id).is_some() || self.shown.contains_key(&id) {
                for n in with_neighbors(id) {
                    self.invalidate(n, false);
                }
            }
        }
    }

    /// Hands out up to `slots` items of work: first meshes of queued nodes whose data (and
    /// neighbours' data) is there, then loads of what is missing. A node missing data waits
    /// and its missing pieces are requested (a grid's stored chunks are scanned while its load
    /// waits in the queue). Looking at queued nodes stops once they have requested
    /// [`LOADS_AHEAD`] × `slots` new loads: a view that appears at once (the first frame, a
    /// teleport) is examined over several calls, nearest first, not all in one.
    ///
    /// # Runtime
    /// O(queued nodes looked at): at most the mesh queue, and O(`slots`) nodes while they
    /// are missing data nobody asked for yet.
    pub fn next_work(&mut self, slots: usize, inputs: &mut impl StreamInputs) -> Vec<Work> {
        self.compact_queues();
        let mut work = Vec::new();
        let mut looked = 0;
        let mut requested = 0;
        let limit = self.mesh_queue.len();
        while work.len() < slots && looked < limit && requested < LOADS_AHEAD * slots {
            looked += 1;
            let Some(Queued { node: id, .. }) = self.mesh_queue.pop() else { break };
            self.queued.remove(&id);
            let Some(shown) = self.shown.get(&id).copied() else { continue };
            match self.mesh_inputs(id, shown, inputs) {
                Ok((center, sides, ring)) => {
                    self.waiting.remove(&id);
                    self.meshing.insert(id);
                    work.push(Work::Mesh(MeshWork { node: id, generation: shown.generation, center, sides, ring }));
                }
                Err(missing) => {
                    let mut pieces = 0u32;
                    for (bit, m) in missing {
                        pieces |= 1 << bit;
                        if m.level >= 1 {
                            inputs.ensure_scanned(m);
                        }
                        requested += usize::from(self.request_load(m));
                    }
                    self.waiting.insert(id, pieces);
                }
            }
        }
        while work.len() < slots {
            let Some(Queued { node: id, .. }) = self.load_queue.pop() else { break };
            // No longer wanted (its requesters left) or already loading.
            if !self.load_requested.remove(&id) || self.loading.contains(&id) {
                continue;
            }
            if id.level >= 1 && !inputs.ensure_scanned(id) {
                self.load_requested.insert(id);
                self.blocked_on_scan.insert(id);
                continue;
            }
            self.loading.insert(id);
            work.push(Work::Load(id));
        }
        work
    }

    /// A node's data: the world's chunk at level 0, the plan's grid above.
    fn data(&self, n: NodeId, inputs: &impl StreamInputs) -> Option<Arc<Chunk>> {
        if n.level == 0 { inputs.resident_chunk(n.key) } else { self.grids.get(&n).cloned() }
    }

    /// The center and sides of a node's mesh (the seam rule), or the nodes whose data is missing.
    fn mesh_inputs(
        &self,
        id: NodeId,
        shown: ShownNode,
        inputs: &impl StreamInputs,
    ) -> Result<(Arc<Chunk>, [Side; 6], MeshRing), Vec<MissingPiece>> {
        let mut missing = Vec::new();
        let center = self.data(id, inputs);
        if center.is_none() {
            missing.push((piece_bit(id, id), id));
        }
        let sides: [Option<Side>; 6] = std::array::from_fn(|i| {
            let n = same_level_neighbor(id, Face::ALL[i]);
            match self.data(n, inputs) {
                Some(c) if shown.same_level[i] => Some(Side::Same(c)),
                Some(c) => match c.as_uniform() {
                    Some(m) if inputs.is_opaque(m) => Some(Side::Same(c)),
                    _ => Some(Side::Seam),
                },
                None => {
                    missing.push((piece_bit(id, n), n));
                    None
                }
            }
        });
        // Light: the chunks of the ring shown at level 0 (faces as the mesher sees them), once
        // the node's own pieces are all there (a node still waiting for them is looked at
        // again: its ring then).
        // A chunk with no faces to light (uniform air, or uniform opaque among uniform opaque
        // neighbours: what the mesher skips) needs no ring, so it waits for none.
        let opaque = |c: &Chunk| c.as_uniform().is_some_and(|m| inputs.is_opaque(m));
        let faceless = center.as_ref().is_some_and(|c| {
            c.as_uniform() == Some(MaterialId::AIR)
                || (opaque(c) && sides.iter().all(|s| matches!(s, Some(Side::Same(n)) if opaque(n))))
        });
        let mut ring = None;
        if self.light_ring && id.level == 0 && center.is_some() && missing.is_empty() && !faceless {
            let mut r: Box<[Option<Arc<Chunk>>; 27]> = Box::new(std::array::from_fn(|_| None));
            for (i, slot) in r.iter_mut().enumerate() {
                let offset = ring_offset(i);
                let n = ring_node(id, offset);
                if let Some(f) = Face::ALL.iter().position(|f| f.offset() == offset) {
                    *slot = sides[f].as_ref().and_then(Side::data).cloned();
                } else if i == 13 {
                    *slot = center.clone();
                } else if self.shown.contains_key(&n) {
                    *slot = self.data(n, inputs);
                    if slot.is_none() {
                        missing.push((piece_bit(id, n), n));
                    }
                }
            }
            ring = Some(r);
        }
        match center {
            Some(center) if missing.is_empty() => Ok((center, sides.map(|s| s.unwrap_or(Side::Seam)), ring)),
            _ => Err(missing),
        }
    }

    /// The load of `node` handed out by [`StreamPlan::next_work`] is over without a result to
    /// apply (it failed and will be asked for again; [`StreamPlan::load_arrived`] ends a load
    /// that has one). Until one of the two, the plan counts the load as in flight and never
    /// hands it out again: an engine that applies results later than they finish must not
    /// call this when the task finishes, or nodes looking for that data load it twice.
    pub fn load_returned(&mut self, node: NodeId) {
        self.loading.remove(&node);
    }

    /// The mesh of `node` handed out by [`StreamPlan::next_work`] finished (its result is
    /// applied later with [`StreamPlan::mesh_arrived`]).
    pub fn mesh_returned(&mut self, node: NodeId) {
        self.meshing.remove(&node);
    }

    /// A load's result is applied (the load is over): kept if the node is still retained, and
    /// the nodes that can wait for it (the node and its six neighbours) look again, success or
    /// failure. O(1).
    pub fn load_arrived(&mut self, node: NodeId, data: Option<Arc<Chunk>>) -> LoadFate {
        self.loading.remove(&node);
        let retained = self.retains(node);
        self.wanted.remove(&node);
        // The nodes that can wait for this piece: itself and its six neighbours. One whose last
        // missing piece this was looks again (success or failure).
        for w in with_ring(node) {
            let Some(pieces) = self.waiting.get_mut(&w) else { continue };
            *pieces &= !(1 << piece_bit(w, node));
            if *pieces == 0 {
                self.waiting.remove(&w);
                self.enqueue(w, false);
            }
        }
        match data {
            None => LoadFate::Failed,
            Some(_) if !retained => LoadFate::Dropped,
            Some(chunk) if node.level == 0 => LoadFate::Chunk(chunk),
            Some(grid) => {
                self.grids.insert(node, grid);
                LoadFate::Grid
            }
        }
    }

    /// A mesh's result is applied: current (show it) or stale (drop it). O(1).
    pub fn mesh_arrived(&mut self, node: NodeId, generation: u64) -> MeshFate {
        let Some(shown) = self.shown.get_mut(&node) else { return MeshFate::Stale };
        if shown.generation != generation {
            return MeshFate::Stale;
        }
        let first = shown.meshed_generation.is_none();
        shown.meshed_generation = Some(generation);
        if first { MeshFate::First } else { MeshFate::Update }
    }

    /// Rebuilds a queue that holds more than twice its live entries plus [`QUEUE_SLACK`] (see
    /// *Compaction* in the [module docs](self)). O(1) unless it rebuilds; a rebuild is
    /// O(entries) and leaves at most the live ones.
    fn compact_queues(&mut self) {
        if self.mesh_queue.len() > 2 * self.queued.len().min(self.shown.len()) + QUEUE_SLACK {
            // Entries are unique per node (`queued`); those of nodes no longer shown go, and
            // leave `queued` so a node shown again is queued again.
            let entries = std::mem::take(&mut self.mesh_queue).into_vec();
            let mut kept = Vec::with_capacity(entries.len().min(self.shown.len()));
            for q in entries {
                if self.shown.contains_key(&q.node) {
                    kept.push(self.rekeyed(q));
                } else {
                    self.queued.remove(&q.node);
                }
            }
            self.mesh_queue = BinaryHeap::from(kept);
        }
        if self.load_queue.len() > 2 * self.load_requested.len() + QUEUE_SLACK {
            // Live: still requested and not loading (what `next_work` would not skip); one entry
            // per node, the most urgent rank.
            let mut best: FxHashMap<NodeId, Queued> = FxHashMap::default();
            for q in std::mem::take(&mut self.load_queue).into_vec() {
                if !self.load_requested.contains(&q.node) || self.loading.contains(&q.node) {
                    continue;
                }
                best.entry(q.node).and_modify(|b| b.rank = b.rank.min(q.rank)).or_insert(q);
            }
            let kept: Vec<Queued> = best.into_values().map(|q| self.rekeyed(q)).collect();
            self.load_queue = BinaryHeap::from(kept);
        }
    }

    /// `q` with its distance taken again from the current viewers (rank and order kept).
    fn rekeyed(&self, q: Queued) -> Queued {
        Queued { distance: self.distance(q.node), ..q }
    }

    /// Whole voxels from the nearest viewer to `id`'s box (`u64::MAX` without viewers).
    fn distance(&self, id: NodeId) -> u64 {
        let d = self.viewers.iter().map(|&p| id.distance_to(p)).fold(f64::INFINITY, f64::min);
        // `as` saturates: no viewer yet (infinite distance) queues last.
        d as u64
    }

    /// Entries in the mesh and load queues (live or not), for tests and diagnostics.
    pub fn queue_entries(&self) -> (usize, usize) {
        (self.mesh_queue.len(), self.load_queue.len())
    }

    /// A queue entry for `id`: `first` ahead of everything, else by distance.
    fn entry(&mut self, id: NodeId, first: bool) -> Queued {
        self.seq += 1;
        Queued { rank: u8::from(!first), distance: self.distance(id), seq: self.seq, node: id }
    }

    fn enqueue(&mut self, id: NodeId, urgent: bool) {
        if self.queued.insert(id) {
            let entry = self.entry(id, urgent);
            self.mesh_queue.push(entry);
        }
    }

    fn invalidate(&mut self, id: NodeId, urgent: bool) {
        if let Some(s) = self.shown.get_mut(&id) {
            s.generation += 1;
            self.enqueue(id, urgent);
        }
    }

    /// Asks for `id`'s data; whether that is a new request (not loading or asked for already).
    fn request_load(&mut self, id: NodeId) -> bool {
        if !self.loading.contains(&id) && self.load_requested.insert(id) {
            let entry = self.entry(id, self.wanted.contains(&id));
            self.load_queue.push(entry);
            return true;
        }
        false
    }

    /// Whether `id` is shown and has had a mesh (current or not).
    pub fn is_meshed(&self, id: NodeId) -> bool {
        self.shown.get(&id).is_some_and(|s| s.meshed_generation.is_some())
    }

    /// Whether `id` is shown.
    pub fn is_shown(&self, id: NodeId) -> bool {
        self.shown.contains_key(&id)
    }

    /// Every shown node.
    pub fn shown_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.shown.keys().copied()
    }

    /// Shown nodes.
    pub fn shown_len(&self) -> usize {
        self.shown.len()
    }

    /// Shown nodes per level: element `l` counts those at level `l` (levels above the
    /// highest shown so far are absent). O(1), kept as nodes are shown and hidden.
    pub fn shown_per_level(&self) -> &[usize] {
        &self.shown_per_level
    }

    /// A shown node's current generation.
    pub fn generation(&self, id: NodeId) -> Option<u64> {
        self.shown.get(&id).map(|s| s.generation)
    }

    /// Whether a load of `id` is handed out and not returned (false once cancelled).
    pub fn is_loading(&self, id: NodeId) -> bool {
        self.loading.contains(&id)
    }

    /// Whether a mesh of `id` is handed out and not returned (false once cancelled).
    pub fn is_meshing(&self, id: NodeId) -> bool {
        self.meshing.contains(&id)
    }

    /// The grid held for `id` (levels above 0), if any.
    pub fn grid(&self, id: NodeId) -> Option<&Arc<Chunk>> {
        self.grids.get(&id)
    }

    /// Grids held (levels above 0).
    pub fn grids_len(&self) -> usize {
        self.grids.len()
    }

    /// Work handed out and not returned.
    pub fn in_flight(&self) -> usize {
        self.loading.len() + self.meshing.len()
    }

    /// Nodes waiting for a mesh (queued or waiting for data) and loads not started.
    pub fn queue_depth(&self) -> usize {
        self.mesh_queue.len() + self.waiting.len() + self.load_queue.len()
    }

    /// Progress of the view: (shown nodes with a current mesh, shown nodes). O(shown).
    pub fn view_progress(&self) -> (usize, usize) {
        let done = self.shown.values().filter(|s| s.meshed_generation == Some(s.generation)).count();
        (done, self.shown.len())
    }

    /// What a player sees of the view: (shown nodes displaying a mesh, current or older,
    /// shown nodes). A node shown but never meshed yet (new in view, or replacing coarser or
    /// finer nodes) is a hole. O(shown).
    pub fn view_displayed(&self) -> (usize, usize) {
        let done = self.shown.values().filter(|s| s.meshed_generation.is_some()).count();
        (done, self.shown.len())
    }

    /// What a player sees of the view with the LOD hand-over ([`crate::handover`]): (shown
    /// nodes whose place is covered, shown nodes). A node is covered when it displays a mesh
    /// (current or older) or `held(node)`: a retired display of the nodes it replaced still
    /// shows its place. O(shown).
    pub fn view_covered(&self, held: impl Fn(NodeId) -> bool) -> (usize, usize) {
        let done = self.shown.iter().filter(|(id, s)| s.meshed_generation.is_some() || held(**id)).count();
        (done, self.shown.len())
    }

    /// Whether something is shown, every shown node has a current mesh and nothing is queued
    /// or in flight. O(shown).
    pub fn is_complete(&self) -> bool {
        !self.shown.is_empty()
            && self.in_flight() == 0
            && self.queue_depth() == 0
            && self.shown.values().all(|s| s.meshed_generation == Some(s.generation))
    }
}

#[cfg(test)]
mod tests;
