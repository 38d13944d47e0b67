//! Streaming: which octree nodes are shown, the tasks that load and mesh them, and applying
//! their results within the frame budget.
//!
//! Per node the pipeline is: **plan** (the LOD selector adds or removes it) → **load** its data
//! and that of its shown same-level neighbours (a chunk at level 0, an LOD mip above; one task
//! per missing piece, shared by every node that needs it) → **mesh** (a task) → **apply** (spawn
//! or update its entity). Every shown node has a generation; anything that invalidates its mesh
//! (an edit, a neighbour's LOD change, a new mip) bumps it, and a finished mesh whose generation
//! is no longer current is dropped as stale. Removing a node drops its tasks, which cancels them.

use crate::config::StrataConfig;
use crate::jobs::{LoadJob, LoadOutput, MeshJob, MeshOutput, Side};
use crate::mesh_build::{MeshAssets, spawn_or_update};
use crate::messages::{ChunkLoaded, ChunkRemeshed, ChunkUnloaded, VoxelsEdited};
use crate::state::StrataWorld;
use crate::viewer::{StrataOrigin, ViewerPositions};
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, IoTaskPool, Task, futures::check_ready};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use strata_core::{Chunk, ChunkKey, ChunkOrigin, Face};
use strata_index::lod_select::{LodSelector, Viewer};
use strata_index::{NodeId, ROOT_LEVEL};

/// A shown node.
#[derive(Debug)]
pub(crate) struct Shown {
    /// Entity holding the opaque mesh (and the transparent one as a child), if any geometry.
    pub entity: Option<Entity>,
    pub generation: u64,
    pub meshed_generation: Option<u64>,
    /// For each face: whether the same-level neighbour is shown (else the border is a seam).
    pub same_level: [bool; 6],
}

/// Marks a node's mesh entity.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrataNode(pub NodeId);

/// Counters of the streaming pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StreamStats {
    /// Mesh results dropped because the node changed or left while they were computed.
    pub dropped_stale: u64,
    /// Meshes applied since start.
    pub meshes_applied: u64,
    /// Node data loads applied since start.
    pub loads_applied: u64,
    /// Results applied in the last frame.
    pub applied_last_frame: u32,
    /// Main-thread time spent applying results in the last frame, ms.
    pub apply_ms_last_frame: f32,
    /// Load failures (store errors) since start.
    pub load_errors: u64,
}

/// Streaming state: the shown node set, queues and tasks in flight. Systems outside the plugin
/// read it through its `&self` methods ([`Streaming::is_idle`], [`Streaming::stats`], …).
#[derive(Resource, Default)]
pub struct Streaming {
    pub(crate) selector: LodSelector,
    pub(crate) shown: HashMap<NodeId, Shown>,
    mesh_queue: VecDeque<NodeId>,
    queued: HashSet<NodeId>,
    waiting: HashSet<NodeId>,
    load_queue: VecDeque<NodeId>,
    load_requested: HashSet<NodeId>,
    loading: HashMap<NodeId, Task<LoadOutput>>,
    meshing: HashMap<NodeId, Task<MeshOutput>>,
    mips: HashMap<NodeId, Arc<Chunk>>,
    /// Chunks rays asked for (not shown, but wanted back in the world and the index once).
    wanted: HashSet<NodeId>,
    ready_loads: VecDeque<LoadOutput>,
    ready_meshes: VecDeque<MeshOutput>,
    /// Grid loads waiting for the scan of their stored chunks.
    blocked_on_scan: HashSet<NodeId>,
    pub(crate) stats: StreamStats,
}

impl Streaming {
    fn enqueue(&mut self, id: NodeId, urgent: bool) {
        if self.queued.insert(id) {
            if urgent {
                self.mesh_queue.push_front(id);
            } else {
                self.mesh_queue.push_back(id);
            }
        }
    }

    fn invalidate(&mut self, id: NodeId, urgent: bool) {
        if let Some(s) = self.shown.get_mut(&id) {
            s.generation += 1;
            self.enqueue(id, urgent);
        }
    }

    /// Whether `n`'s data is in the retention set: shown, the same-level neighbour of a shown
    /// node, or asked for by a ray.
    fn retains(&self, n: NodeId) -> bool {
        self.shown.contains_key(&n)
            || Face::ALL.iter().any(|&f| self.shown.contains_key(&same_level_neighbor(n, f)))
            || self.wanted.contains(&n)
    }

    fn request_load(&mut self, id: NodeId) {
        if !self.loading.contains_key(&id) && self.load_requested.insert(id) {
            self.load_queue.push_back(id);
        }
    }

    /// Tasks in flight (loads + meshes).
    pub fn tasks_in_flight(&self) -> usize {
        self.loading.len() + self.meshing.len()
    }

    /// Nodes waiting for a mesh (queued or waiting for data).
    pub fn queue_depth(&self) -> usize {
        self.mesh_queue.len() + self.waiting.len() + self.load_queue.len()
    }

    /// Results finished but not applied yet.
    pub fn ready_depth(&self) -> usize {
        self.ready_loads.len() + self.ready_meshes.len()
    }

    /// Shown nodes per level (index = level).
    pub fn shown_per_level(&self) -> Vec<usize> {
        let mut v = vec![0; crate::MAX_LOD_LEVEL as usize + 1];
        for id in self.shown.keys() {
            if let Some(c) = v.get_mut(id.level as usize) {
                *c += 1;
            }
        }
        v
    }

    /// Whether every shown node has a current mesh and nothing is pending: the view is complete.
    pub fn is_idle(&self) -> bool {
        !self.shown.is_empty()
            && self.tasks_in_flight() == 0
            && self.queue_depth() == 0
            && self.ready_depth() == 0
            && self.shown.values().all(|s| s.meshed_generation == Some(s.generation))
    }

    /// Progress of the current view: (shown nodes with a current mesh, shown nodes).
    pub fn view_progress(&self) -> (usize, usize) {
        let done = self.shown.values().filter(|s| s.meshed_generation == Some(s.generation)).count();
        (done, self.shown.len())
    }

    /// Counters.
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// The entity of a shown node, if it has geometry.
    pub fn entity(&self, id: NodeId) -> Option<Entity> {
        self.shown.get(&id).and_then(|s| s.entity)
    }

    /// Whether `id` is shown.
    pub fn is_shown(&self, id: NodeId) -> bool {
        self.shown.contains_key(&id)
    }

    /// Every shown node.
    pub fn shown_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.shown.keys().copied()
    }

    /// The shown node that covers `chunk`, if any.
    pub fn node_covering(&self, chunk: ChunkKey) -> Option<NodeId> {
        (0..=crate::MAX_LOD_LEVEL).map(|l| NodeId::containing(chunk, l)).find(|id| self.shown.contains_key(id))
    }
}

fn same_level_neighbor(id: NodeId, f: Face) -> NodeId {
    NodeId::new(id.level, id.key.neighbor(f))
}

/// [`StrataSystems::PlanLod`](crate::StrataSystems::PlanLod): runs the LOD selector and updates the shown set.
pub(crate) fn plan_lod(
    mut commands: Commands,
    config: Res<StrataConfig>,
    viewers: Res<ViewerPositions>,
    mut sw: ResMut<StrataWorld>,
    mut st: ResMut<Streaming>,
    mut unloaded: MessageWriter<ChunkUnloaded>,
) {
    let settings = config.lod_settings();
    if st.selector.settings() != settings {
        st.selector.set_settings(settings);
    }
    let vs: Vec<Viewer> =
        viewers.viewers.iter().map(|&(position, view_distance)| Viewer { position, view_distance }).collect();
    let diff = st.selector.update(&vs);
    if diff.is_empty() {
        return;
    }
    for id in &diff.removed {
        if let Some(s) = st.shown.remove(id) {
            if let Some(e) = s.entity {
                commands.entity(e).despawn();
            }
            unloaded.write(ChunkUnloaded { node: *id });
        }
        // Dropping a task cancels it.
        st.meshing.remove(id);
        st.waiting.remove(id);
    }
    for id in &diff.added {
        st.shown.insert(*id, Shown { entity: None, generation: 0, meshed_generation: None, same_level: [false; 6] });
        st.enqueue(*id, false);
    }
    // Borders: a face whose same-level neighbour appeared or vanished must be remeshed (seam or
    // not). Only the changed nodes and their same-level neighbours can have changed borders:
    // O(changes), not O(shown).
    let touched: HashSet<NodeId> = diff
        .added
        .iter()
        .chain(&diff.removed)
        .flat_map(|&id| std::iter::once(id).chain(Face::ALL.map(|f| same_level_neighbor(id, f))))
        .collect();
    for id in touched {
        let now = Face::ALL.map(|f| st.shown.contains_key(&same_level_neighbor(id, f)));
        let Some(s) = st.shown.get_mut(&id) else { continue };
        if s.same_level != now {
            s.same_level = now;
            s.generation += 1;
            st.enqueue(id, false);
        }
    }
    // Data is kept for shown nodes and their same-level neighbours (the retention set: the LOD
    // hysteresis is its margin): drop what only the removed nodes needed (the removed nodes and
    // those of their neighbours no shown node borders). A chunk leaves the world cache (unless
    // it is dirty) and so the index, which releases it at its next update.
    let candidates: HashSet<NodeId> = diff
        .removed
        .iter()
        .flat_map(|&id| std::iter::once(id).chain(Face::ALL.map(|f| same_level_neighbor(id, f))))
        .collect();
    for n in candidates {
        if !st.retains(n) {
            if n.level == 0 {
                sw.world.evict(n.key);
            }
            st.mips.remove(&n);
            // Dropping a task cancels it.
            st.loading.remove(&n);
            st.load_requested.remove(&n);
        }
    }
}

/// [`StrataSystems::ApplyEdits`](crate::StrataSystems::ApplyEdits): folds the delta log into the world and invalidates what the edits touched.
pub(crate) fn apply_edits(
    mut sw: ResMut<StrataWorld>,
    mut st: ResMut<Streaming>,
    mut edited: MessageWriter<VoxelsEdited>,
) {
    if let Err(e) = sw.world.apply() {
        warn!("strata: applying edits failed, they stay queued: {e}");
    }
    let changes: Vec<_> = sw.feed.try_iter().collect();
    if changes.is_empty() {
        return;
    }
    let mut chunks = Vec::with_capacity(changes.len());
    let mut version = 0;
    for c in changes {
        let id = NodeId::chunk(c.key);
        st.invalidate(id, true);
        for f in Face::ALL {
            st.invalidate(same_level_neighbor(id, f), true);
        }
        chunks.push(c.key);
        version = version.max(c.version);
        sw.index.queue_change(c);
    }
    edited.write(VoxelsEdited { chunks, version });
}

/// Dispatch: starts mesh tasks for queued nodes whose data is ready, load tasks for missing data,
/// and the index task; never more than `max_tasks_in_flight`.
pub(crate) fn dispatch(config: Res<StrataConfig>, mut sw: ResMut<StrataWorld>, mut st: ResMut<Streaming>) {
    // Chunks rays reached after the index released them: hand back the world's copy, or load.
    for key in sw.take_wanted() {
        match sw.world.resident_chunk(key) {
            Some(c) => {
                let history = sw.world.resident_history(key).unwrap_or_default();
                sw.index.queue_loaded(key, c, ChunkOrigin::Store, history);
            }
            None => {
                st.wanted.insert(NodeId::chunk(key));
                st.request_load(NodeId::chunk(key));
            }
        }
    }
    sw.sync_residency();
    sw.index.dispatch();
    let cap = config.max_tasks_in_flight.max(1);
    let pool = AsyncComputeTaskPool::get();
    let mut scanned = 0;
    let limit = st.mesh_queue.len();
    while st.tasks_in_flight() < cap && scanned < limit {
        scanned += 1;
        let Some(id) = st.mesh_queue.pop_front() else { break };
        st.queued.remove(&id);
        let Some(shown) = st.shown.get(&id) else { continue };
        let (generation, same_level) = (shown.generation, shown.same_level);
        let data = |st: &Streaming, n: NodeId| -> Option<Arc<Chunk>> {
            if n.level == 0 { sw.world.resident_chunk(n.key) } else { st.mips.get(&n).cloned() }
        };
        let mut missing = Vec::new();
        let center = data(&st, id);
        if center.is_none() {
            missing.push(id);
        }
        // Every side needs the same-level neighbour's data: a shown neighbour is meshed against
        // it; an unshown one (LOD border or view edge) gets a closed seam — unless it is uniform
        // opaque, where no surface can cross the border and culling against it cannot crack.
        let sides: [Option<Side>; 6] = std::array::from_fn(|i| {
            let n = same_level_neighbor(id, Face::ALL[i]);
            match data(&st, n) {
                Some(c) if same_level[i] => Some(Side::Same(c)),
                Some(c) => match c.as_uniform() {
                    Some(m) if sw.table.kind(m).is_opaque() => Some(Side::Same(c)),
                    _ => Some(Side::Seam),
                },
                None => {
                    missing.push(n);
                    None
                }
            }
        });
        let Some(center) = center.filter(|_| missing.is_empty()) else {
            for m in missing {
                // A grid's stored chunks are read (scanned) while its load waits in the queue.
                if (1..=ROOT_LEVEL).contains(&m.level) {
                    sw.index.ensure_scanned(m);
                }
                st.request_load(m);
            }
            st.waiting.insert(id);
            continue;
        };
        let sides = sides.map(|s| s.unwrap_or(Side::Seam));
        let job = MeshJob {
            node: id,
            generation,
            center,
            sides,
            table: sw.table.clone(),
            registry: sw.registry.clone(),
            ambient_occlusion: config.ambient_occlusion,
        };
        st.waiting.remove(&id);
        st.meshing.insert(id, pool.spawn(async move { job.run() }));
    }
    let io = IoTaskPool::get();
    let snapshot = sw.index();
    while st.tasks_in_flight() < cap {
        let Some(id) = st.load_queue.pop_front() else { break };
        // Not requested any more (its requester left the view) or already loading: skip.
        if !st.load_requested.remove(&id) || st.loading.contains_key(&id) {
            continue;
        }
        // A grid is exact once every stored chunk under it is known to the index: they are
        // read first (one Morton range scan of the node in the index task, queued when the load
        // was requested; a load that gets here first waits for it).
        if (1..=ROOT_LEVEL).contains(&id.level) && !sw.index.ensure_scanned(id) {
            st.load_requested.insert(id);
            st.blocked_on_scan.insert(id);
            continue;
        }
        let job = LoadJob { node: id, source: sw.world.source(), snapshot: snapshot.clone() };
        // Chunk loads read the store (I/O); LOD mips are computation.
        let task =
            if id.level == 0 { io.spawn(async move { job.run() }) } else { pool.spawn(async move { job.run() }) };
        st.loading.insert(id, task);
    }
}

/// Poll: moves finished tasks to the ready queues; never blocks.
pub(crate) fn poll(mut sw: ResMut<StrataWorld>, mut st: ResMut<Streaming>, config: Res<StrataConfig>) {
    let st = &mut *st;
    st.loading.retain(|_, task| match check_ready(task) {
        Some(out) => {
            st.ready_loads.push_back(out);
            false
        }
        None => true,
    });
    st.meshing.retain(|_, task| match check_ready(task) {
        Some(out) => {
            st.ready_meshes.push_back(out);
            false
        }
        None => true,
    });
    // A new index snapshot with edits: the LOD mips above the edited chunks are stale.
    if let Some(published) = sw.index.poll() {
        // Grid loads that waited for their scan rejoin the queue (a failed scan is retried by
        // them); at its end, so they do not overtake chunk loads requested meanwhile.
        for id in published.scanned {
            if st.blocked_on_scan.remove(&id) && st.load_requested.contains(&id) {
                st.load_queue.push_back(id);
            }
        }
        // Levels above the index's roots come from the generator: edits do not change them.
        let max_level = config.lod_max_level.min(ROOT_LEVEL);
        for key in published.changed {
            for level in 1..=max_level {
                let id = NodeId::containing(key, level);
                if st.mips.remove(&id).is_some() || st.shown.contains_key(&id) {
                    st.invalidate(id, false);
                    for f in Face::ALL {
                        st.invalidate(same_level_neighbor(id, f), false);
                    }
                }
            }
        }
    }
}

/// Apply: applies ready results within `max_results_per_frame` and `apply_budget_ms`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply_results(
    mut commands: Commands,
    config: Res<StrataConfig>,
    origin: Res<StrataOrigin>,
    mut sw: ResMut<StrataWorld>,
    mut st: ResMut<Streaming>,
    mut assets: MeshAssets,
    mut loaded_msg: MessageWriter<ChunkLoaded>,
    mut remeshed_msg: MessageWriter<ChunkRemeshed>,
) {
    let start = Instant::now();
    let budget_s = f64::from(config.apply_budget_ms.max(0.1)) / 1e3;
    let max = config.max_results_per_frame.max(1);
    let mut applied = 0usize;
    let mut arrived = Vec::new();
    while applied < max && start.elapsed().as_secs_f64() < budget_s {
        let Some(out) = st.ready_loads.pop_front() else { break };
        applied += 1;
        // Success or failure, the waiters get another look (a failed load is requested again).
        arrived.push(out.node);
        // A load that finished after its requesters left (its task was no longer cancellable)
        // is dropped: kept, it would outlive the retention set.
        let retained = st.retains(out.node);
        st.wanted.remove(&out.node);
        match out.data {
            Ok(_) if !retained => {}
            Ok(chunk) => {
                st.stats.loads_applied += 1;
                if out.node.level == 0 {
                    // The world keeps a copy it already holds (it is newer); the index gets the
                    // world's copy either way, so both share one `Arc` (it ignores chunks whose
                    // voxels it holds).
                    let key = out.node.key;
                    if sw.world.insert_loaded_with_history(key, chunk.clone(), out.history) {
                        sw.index.queue_loaded(key, chunk, out.origin, out.history);
                    } else if let Some(c) = sw.world.resident_chunk(key) {
                        let history = sw.world.resident_history(key).unwrap_or_default();
                        sw.index.queue_loaded(key, c, out.origin, history);
                    }
                } else {
                    st.mips.insert(out.node, chunk);
                }
            }
            Err(e) => {
                st.stats.load_errors += 1;
                warn!("strata: loading {:?} failed: {e}", out.node);
            }
        }
    }
    // Wake only the nodes that can be waiting for what arrived: each loaded node and its six
    // same-level neighbours (O(loads), not O(waiting)).
    for n in arrived {
        for w in std::iter::once(n).chain(Face::ALL.map(|f| same_level_neighbor(n, f))) {
            if st.waiting.remove(&w) {
                st.enqueue(w, false);
            }
        }
    }
    while applied < max && start.elapsed().as_secs_f64() < budget_s {
        let Some(out) = st.ready_meshes.pop_front() else { break };
        applied += 1;
        let Some(shown) = st.shown.get_mut(&out.node) else {
            st.stats.dropped_stale += 1;
            continue;
        };
        if shown.generation != out.generation {
            st.stats.dropped_stale += 1;
            continue;
        }
        let first = shown.meshed_generation.is_none();
        let min_voxel = NodeId::new(0, out.node.key).key; // node coordinates at level
        let min_chunk = ChunkKey::new(
            min_voxel.x.wrapping_shl(out.node.level),
            min_voxel.y.wrapping_shl(out.node.level),
            min_voxel.z.wrapping_shl(out.node.level),
        );
        let translation = origin.to_render(min_chunk.min_voxel());
        shown.entity = spawn_or_update(&mut commands, &mut assets, shown.entity, out.node, translation, out.meshes);
        shown.meshed_generation = Some(out.generation);
        let entity = shown.entity;
        st.stats.meshes_applied += 1;
        if first {
            loaded_msg.write(ChunkLoaded { node: out.node, entity });
        } else {
            remeshed_msg.write(ChunkRemeshed { node: out.node, entity });
        }
    }
    st.stats.applied_last_frame = applied as u32;
    st.stats.apply_ms_last_frame = (start.elapsed().as_secs_f64() * 1e3) as f32;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StrataConfig, StrataMinimalPlugins};
    use strata_mesh::ChunkMesh;

    fn app() -> App {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StrataMinimalPlugins::new(StrataConfig::default())));
        app.finish();
        app.cleanup();
        app
    }

    fn some_mesh() -> crate::mesh_build::NodeMeshes {
        crate::mesh_build::NodeMeshes::build(some_chunk_mesh(), &strata_core::MaterialRegistry::builtin())
    }

    fn some_chunk_mesh() -> ChunkMesh {
        let mut m = ChunkMesh::default();
        m.opaque.positions = vec![[0.0; 3]; 4];
        m.opaque.normals = vec![[0.0, 1.0, 0.0]; 4];
        m.opaque.uvs = vec![[0.0; 2]; 4];
        m.opaque.materials = vec![1; 4];
        m.opaque.ao = vec![1.0; 4];
        m.opaque.indices = vec![0, 1, 2, 0, 2, 3];
        m
    }

    #[test]
    fn loads_that_finish_after_their_requesters_left_are_dropped() {
        let mut app = app();
        let shown = NodeId::new(1, ChunkKey::new(0, 0, 0));
        let gone = NodeId::new(1, ChunkKey::new(40, 0, 0));
        let chunk = NodeId::chunk(ChunkKey::new(80, 0, 0));
        {
            let mut st = app.world_mut().resource_mut::<Streaming>();
            st.shown
                .insert(shown, Shown { entity: None, generation: 0, meshed_generation: None, same_level: [false; 6] });
            for node in
                [shown.key.neighbor(Face::ALL[0]), gone.key].map(|k| NodeId::new(1, k)).into_iter().chain([chunk])
            {
                let data = Ok(Arc::new(Chunk::Uniform(strata_core::MaterialId(1))));
                st.ready_loads.push_back(LoadOutput {
                    node,
                    data,
                    history: Default::default(),
                    origin: ChunkOrigin::Generator,
                });
            }
        }
        app.update();
        let st = app.world().resource::<Streaming>();
        assert!(st.mips.contains_key(&NodeId::new(1, shown.key.neighbor(Face::ALL[0]))), "a shown node's neighbour");
        assert!(!st.mips.contains_key(&gone), "nobody needs it any more");
        let sw = app.world().resource::<StrataWorld>();
        assert!(!sw.world.is_resident(chunk.key), "an unneeded chunk does not enter the world cache");
    }

    #[test]
    fn stale_results_are_dropped_and_current_ones_applied() {
        let mut app = app();
        let id = NodeId::chunk(ChunkKey::new(0, 0, 0));
        {
            let mut st = app.world_mut().resource_mut::<Streaming>();
            st.shown.insert(id, Shown { entity: None, generation: 5, meshed_generation: None, same_level: [false; 6] });
            // Computed for generation 4, then an edit bumped the node to 5: stale.
            st.ready_meshes.push_back(MeshOutput { node: id, generation: 4, meshes: some_mesh() });
            // A node that left the view while its mesh was computed: stale too.
            st.ready_meshes.push_back(MeshOutput {
                node: NodeId::chunk(ChunkKey::new(9, 9, 9)),
                generation: 0,
                meshes: some_mesh(),
            });
        }
        app.update();
        let st = app.world().resource::<Streaming>();
        assert_eq!(st.stats().dropped_stale, 2);
        assert_eq!(st.entity(id), None);
        assert_eq!(st.shown[&id].meshed_generation, None);

        app.world_mut().resource_mut::<Streaming>().ready_meshes.push_back(MeshOutput {
            node: id,
            generation: 5,
            meshes: some_mesh(),
        });
        app.update();
        let st = app.world().resource::<Streaming>();
        assert!(st.entity(id).is_some());
        assert_eq!(st.shown[&id].meshed_generation, Some(5));
    }
}
