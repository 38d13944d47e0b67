//! Streaming: runs the engine-free [`StreamPlan`] (which nodes are shown, what to load and
//! mesh, which results are current, what to keep and release) on Bevy: spawns its load and
//! mesh tasks on the task pools, polls them, hands their results back within the frame budget
//! and spawns, updates or despawns the nodes' entities.
//!
//! Per node the pipeline is: **plan** → **load** its data and that of its same-level neighbours
//! → **mesh** → **apply**; see [`strata_stream::stream_plan`] for the rules (generations, the
//! seam rule, retention and release). Dropping a task cancels it: the plugin holds exactly the
//! tasks the plan counts in flight.

use crate::config::StrataConfig;
use crate::jobs::{LightInput, LoadJob, LoadOutput, MeshJob, MeshOutput, Read};
use crate::lod_fade::{self, FadeClock};
use crate::mesh_build::{MeshAssets, spawn_or_update};
use crate::messages::{GameDataEdited, NodeMeshed, NodeRemeshed, NodeUnloaded, VoxelsEdited};
use crate::pacing::{Pacer, Timed, timed};
use crate::state::StrataWorld;
use crate::viewer::{StrataOrigin, ViewerPositions};
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, IoTaskPool, Task, futures::check_ready};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_core::{Chunk, ChunkKey, ChunkOrigin, HandIn, LoadedChunk, MaterialId, World};
use strata_index::NodeId;
use strata_mesh::MaterialTable;
use strata_stream::IndexDriver;
use strata_stream::handover::{Handover, HandoverUpdate};
use strata_stream::lod_select::Viewer;
use strata_stream::stream_plan::{LoadFate, MeshFate, StreamInputs, StreamPlan, Work};

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
    /// Meshes known to be empty without a task (uniform data its uniform neighbours hide,
    /// [`strata_mesh::skip`]), since start; they are applied (and counted in
    /// `meshes_applied`) like any other.
    pub meshes_skipped: u64,
    /// Node data loads applied since start.
    pub loads_applied: u64,
    /// Results applied in the last frame.
    pub applied_last_frame: u32,
    /// Main-thread time spent applying results in the last frame, ms.
    pub apply_ms_last_frame: f32,
    /// Load failures (store errors) since start.
    pub load_errors: u64,
    /// Chunk loads refused as stale since start: older than this world's own commit of the
    /// chunk (a load that started before the commit, or a lagging replica); loaded again.
    pub stale_loads: u64,
    /// Loads waiting out their back-off after a failure (see [`LOAD_RETRY_MAX`]).
    pub cooling_loads: usize,
    /// Meshing jobs that panicked (a bug; their node stays without a mesh) since start.
    pub mesh_panics: u64,
    /// Tasks the pipeline keeps in flight or waiting to be applied now: what keeps every worker
    /// busy until the next frame, measured (see [`StrataConfig::max_tasks_in_flight`]).
    pub in_flight_target: usize,
    /// Typical time one load or mesh task keeps a worker busy, microseconds (a moving average
    /// of its logarithm: the geometric mean, see the pacing notes in ARCHITECTURE.md).
    pub mean_task_us: f32,
}

/// The back-off of a chunk or grid whose load failed (a store error, or a stale copy): it is
/// loaded again after 100 ms, then 200 ms, 400 ms, … up to this (game time of `Time<Real>`), so
/// an unreachable store or one damaged record does not cost a read and a log line every frame.
/// A warning is logged at the 1st, 2nd, 4th, 8th, … failure of a node.
pub const LOAD_RETRY_MAX: Duration = Duration::from_secs(5);

/// The pause before the next load of a node that failed `failures` times (≥ 1).
fn load_retry_delay(failures: u32) -> Duration {
    (Duration::from_millis(100) * (1u32 << failures.saturating_sub(1).min(10))).min(LOAD_RETRY_MAX)
}

/// Streaming state: the plan, its tasks in flight, finished results and the nodes' entities.
/// Systems outside the plugin read it through its `&self` methods ([`StrataStreaming::is_idle`],
/// [`StrataStreaming::stats`], [`StrataStreaming::plan`], …).
#[derive(Resource, Default)]
pub struct StrataStreaming {
    pub(crate) plan: StreamPlan,
    loading: HashMap<NodeId, Task<Timed<LoadOutput>>>,
    meshing: HashMap<NodeId, Task<Timed<Result<MeshOutput, String>>>>,
    ready_loads: VecDeque<LoadOutput>,
    ready_meshes: VecDeque<MeshOutput>,
    /// Failed loads waiting out their back-off: when (in `Time<Real>`) the plan learns of the
    /// failure, and so asks again.
    cooling: Vec<(Duration, NodeId)>,
    /// Failures in a row per node (cleared by a successful load).
    failures: HashMap<NodeId, u32>,
    /// Entities of shown nodes with geometry.
    entities: HashMap<NodeId, Entity>,
    /// LOD hand-over: displays of nodes that left the selection stay until the nodes over
    /// them are meshed, and those nodes' meshes stay hidden until then.
    handover: Handover,
    /// Entities of retired nodes (see `handover`).
    retired: HashMap<NodeId, Entity>,
    pub(crate) stats: StreamStats,
    /// How much work to keep in flight (measured task and frame times).
    pacer: Pacer,
    /// When the last dispatch ran (`Time<Real>`), for the frame interval.
    last_dispatch: Option<Duration>,
    /// Whether the last result applied was a load (loads and meshes take turns).
    last_applied_load: bool,
}

impl StrataStreaming {
    /// Records a failed load of `node` (`error`: the store's, logged at the 1st, 2nd, 4th, …
    /// failure in a row; `None`: a stale copy) and schedules the plan's retry after the
    /// back-off ([`LOAD_RETRY_MAX`]); until then the plan counts the load as in flight.
    fn cool(&mut self, node: NodeId, error: Option<String>, now: Duration) {
        let n = self.failures.entry(node).or_insert(0);
        *n = n.saturating_add(1);
        let delay = load_retry_delay(*n);
        if let Some(e) = error
            && n.is_power_of_two()
        {
            warn!("strata: loading {node:?} failed ({n} in a row; next try in {delay:?}): {e}");
        }
        self.cooling.push((now + delay, node));
    }

    /// The streaming bookkeeping: shown nodes, generations, queues, retention.
    pub fn plan(&self) -> &StreamPlan {
        &self.plan
    }

    /// Tasks in flight (loads + meshes).
    pub fn tasks_in_flight(&self) -> usize {
        self.loading.len() + self.meshing.len()
    }

    /// Nodes waiting for a mesh (queued or waiting for data) and loads not started.
    pub fn queue_depth(&self) -> usize {
        self.plan.queue_depth()
    }

    /// Results finished but not applied yet.
    pub fn ready_depth(&self) -> usize {
        self.ready_loads.len() + self.ready_meshes.len()
    }

    /// Shown nodes per level (index = level).
    pub fn shown_per_level(&self) -> Vec<usize> {
        let mut v = vec![0; crate::MAX_LOD_LEVEL as usize + 1];
        for (c, &n) in v.iter_mut().zip(self.plan.shown_per_level()) {
            *c = n;
        }
        v
    }

    /// Whether every shown node has a current mesh and nothing is pending: the view is complete.
    pub fn is_idle(&self) -> bool {
        self.plan.is_complete() && self.tasks_in_flight() == 0 && self.ready_depth() == 0
    }

    /// Progress of the current view: (shown nodes with a current mesh, shown nodes).
    pub fn view_progress(&self) -> (usize, usize) {
        self.plan.view_progress()
    }

    /// What a player sees of the current view: (shown nodes displaying a mesh, current or
    /// older, shown nodes); see [`StreamPlan::view_displayed`]. O(shown).
    pub fn view_displayed(&self) -> (usize, usize) {
        self.plan.view_displayed()
    }

    /// Counters.
    pub fn stats(&self) -> StreamStats {
        StreamStats { cooling_loads: self.cooling.len(), mean_task_us: self.pacer.task_us() as f32, ..self.stats }
    }

    /// Displays of nodes that left the selection and stay on screen until the nodes replacing
    /// them have their meshes (LOD hand-over: a change of level opens no hole): the entities.
    pub fn retired_displays(&self) -> usize {
        self.retired.len()
    }

    /// Every retired node (see [`StrataStreaming::retired_displays`]), with an entity or
    /// meshed empty (nothing to draw, which stands for its place too).
    pub fn retired_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.handover.retired_nodes()
    }

    /// What a player sees of the current view: (shown nodes whose place is covered, shown
    /// nodes). A node is covered when it displays its own mesh (current or older) or a
    /// retired display of the nodes it replaced still shows its place (the LOD hand-over);
    /// see [`StrataStreaming::view_displayed`] for the count at the selected levels only.
    /// O(shown).
    pub fn view_covered(&self) -> (usize, usize) {
        self.plan.view_covered(|n| self.handover.is_held(n))
    }

    /// The entity of a shown node, if it has geometry.
    pub fn entity(&self, id: NodeId) -> Option<Entity> {
        self.entities.get(&id).copied()
    }

    /// Whether `id` is shown.
    pub fn is_shown(&self, id: NodeId) -> bool {
        self.plan.is_shown(id)
    }

    /// Every shown node.
    pub fn shown_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.plan.shown_nodes()
    }

    /// The shown node that covers `chunk`, if any.
    pub fn node_covering(&self, chunk: ChunkKey) -> Option<NodeId> {
        (0..=crate::MAX_LOD_LEVEL).map(|l| NodeId::containing(chunk, l)).find(|id| self.plan.is_shown(*id))
    }

    /// Drops the tasks the plan no longer counts (cancelled). O(tasks in flight).
    fn drop_cancelled(&mut self) {
        let plan = &self.plan;
        self.loading.retain(|id, _| plan.is_loading(*id));
        self.meshing.retain(|id, _| plan.is_meshing(*id));
    }
}

/// What the plan reads from the plugin's world while it hands out work.
struct PlanInputs<'a> {
    world: &'a World,
    table: &'a MaterialTable,
    index: &'a mut IndexDriver,
}

impl StreamInputs for PlanInputs<'_> {
    fn resident_chunk(&self, key: ChunkKey) -> Option<Arc<Chunk>> {
        self.world.resident_chunk(key)
    }

    fn is_opaque(&self, m: MaterialId) -> bool {
        self.table.kind(m).is_opaque()
    }

    fn ensure_scanned(&mut self, grid: NodeId) -> bool {
        self.index.ensure_scanned(grid)
    }
}

/// [`StrataSystems::PlanLod`](crate::StrataSystems::PlanLod): runs the LOD selection and updates the shown set.
pub(crate) fn plan_lod(
    mut commands: Commands,
    config: Res<StrataConfig>,
    viewers: Res<ViewerPositions>,
    mut sw: ResMut<StrataWorld>,
    mut st: ResMut<StrataStreaming>,
    mut unloaded: MessageWriter<NodeUnloaded>,
    fade: FadeClock,
) {
    st.plan.set_settings(config.lod_settings());
    st.plan.selector_mut().set_min_move(f64::from(config.lod_min_move));
    let vs: Vec<Viewer> =
        viewers.viewers.iter().map(|&(p, view_distance)| Viewer { position: p.to_array(), view_distance }).collect();
    let change = st.plan.update_view(&vs);
    if change.is_empty() {
        return;
    }
    let st = &mut *st;
    // A node meshed empty counts as displayed: nothing to draw there is what the player saw.
    let update = st.handover.view_changed(&change.shown, &change.hidden, &change.hidden_meshed);
    for id in &change.hidden {
        if let Some(e) = st.entities.remove(id) {
            if st.handover.is_retired(*id) {
                st.retired.insert(*id, e);
            } else {
                commands.entity(e).despawn();
            }
        }
        unloaded.write(NodeUnloaded { node: *id });
    }
    apply_handover(&mut commands, st, &update, fade.now());
    // Released chunks leave the world cache (unless dirty) and so the index, which releases
    // them at its next update.
    for key in change.released {
        sw.world.evict(key);
    }
    st.drop_cancelled();
}

/// Carries out a hand-over step: retired displays that go are despawned, restored ones are
/// the shown node's again, revealed nodes' meshes become visible. With `fade` (the time now,
/// when LOD changes cross-fade: [`crate::lod_fade`]), going displays fade out and revealed ones
/// fade in instead of swapping in one frame.
fn apply_handover(commands: &mut Commands, st: &mut StrataStreaming, update: &HandoverUpdate, fade: Option<Duration>) {
    for r in &update.drop {
        if let Some(e) = st.retired.remove(r) {
            match fade {
                Some(now) => lod_fade::fade_out(commands, e, now),
                None => commands.entity(e).despawn(),
            }
        }
    }
    for r in &update.restore {
        if let Some(e) = st.retired.remove(r) {
            st.entities.insert(*r, e);
        }
    }
    for n in &update.reveal {
        if let Some(&e) = st.entities.get(n) {
            commands.entity(e).insert(Visibility::Inherited);
            if let Some(now) = fade {
                lod_fade::fade_in(commands, e, now);
            }
        }
    }
}

/// [`StrataSystems::ApplyEdits`](crate::StrataSystems::ApplyEdits): folds the delta log into
/// the world and invalidates what the edits touched. Never reads the store: an edit to a chunk
/// that is not resident waits ([`strata_core::EditLoading::Deferred`]) while the plan loads the
/// chunk on the I/O pool, first in line; a later frame applies it.
pub(crate) fn apply_edits(
    config: Res<StrataConfig>,
    mut sw: ResMut<StrataWorld>,
    mut st: ResMut<StrataStreaming>,
    mut edited: MessageWriter<VoxelsEdited>,
    mut game_data: MessageWriter<GameDataEdited>,
) {
    sw.world.track_side_changes();
    if let Err(e) = sw.world.apply() {
        warn!("strata: applying edits failed, they stay queued: {e}");
    }
    for key in sw.world.awaited_chunks() {
        st.plan.want_chunk(key);
    }
    let mut side_only = sw.world.take_side_changes();
    if !side_only.is_empty() {
        side_only.sort_unstable_by_key(|k| k.morton());
        side_only.dedup();
        game_data.write(GameDataEdited { chunks: side_only, version: sw.world.version() });
    }
    let changes: Vec<_> = sw.feed.try_iter().collect();
    if changes.is_empty() {
        return;
    }
    let mut chunks = Vec::with_capacity(changes.len());
    let mut relit = Vec::new();
    let mut version = 0;
    for c in changes {
        st.plan.chunk_edited(c.key);
        // Geology's slow changes relight only the chunk and its face neighbours (remeshed
        // above); a player's edit also what `strata_stream::relight` selects.
        if config.light && !c.extent.processes_only {
            relit.clear();
            strata_stream::relight::relit_chunks(&sw.world, |m| sw.table.kind(m), c.key, c.extent, &mut relit);
            for &k in &relit {
                st.plan.chunk_relit(k);
            }
        }
        chunks.push(c.key);
        version = version.max(c.version);
        sw.index.driver.queue_change(c);
    }
    edited.write(VoxelsEdited { chunks, version });
}

/// What chunk `key`'s light is computed from: its ring, the world's up there, and whether the
/// sky is open beyond the ring's top layer, per column of chunks: closed where the world cache
/// holds the chunk beyond and it is uniform opaque or fluid, open otherwise (unknown counts as
/// open, so the edge of the loaded world is never dark). O(9) cache lookups.
fn light_input(world: &World, table: &MaterialTable, key: ChunkKey, ring: Box<[Option<Arc<Chunk>>; 27]>) -> LightInput {
    let up = world.generator().world_up().of_chunk(key);
    let sky_beyond = strata_stream::relight::sky_beyond(world, |m| table.kind(m), key);
    LightInput { ring, up, sky_beyond }
}

/// Dispatch: starts the tasks the plan hands out (meshes of nodes whose data is ready, loads of
/// missing data) and the index task: as many as keep every worker busy until the next frame,
/// counting those in flight and the finished results not applied yet (see [`crate::pacing`]),
/// never more than `max_tasks_in_flight`, and no more than half of `apply_budget_ms` of
/// main-thread time spent handing them out (measured, per batch of [`DISPATCH_BATCH`]).
pub(crate) fn dispatch(
    config: Res<StrataConfig>,
    mut sw: ResMut<StrataWorld>,
    mut st: ResMut<StrataStreaming>,
    time: Res<Time<Real>>,
) {
    let sw = &mut *sw;
    let st = &mut *st;
    st.plan.set_light_ring(config.light);
    let now = time.elapsed();
    if let Some(last) = st.last_dispatch.replace(now) {
        st.pacer.frame(now.saturating_sub(last));
    }
    // Chunks rays reached after the index released them: hand back the world's copy, or load.
    for key in sw.take_wanted() {
        match sw.world.resident_chunk(key) {
            Some(c) => {
                let history = sw.world.resident_history(key).unwrap_or_default();
                sw.index.driver.queue_loaded(key, c, ChunkOrigin::Store, history);
            }
            None => st.plan.want_chunk(key),
        }
    }
    sw.sync_residency();
    sw.index.dispatch();
    let pool = AsyncComputeTaskPool::get();
    let io = IoTaskPool::get();
    let target = st.pacer.target(pool.thread_num() + io.thread_num(), config.max_tasks_in_flight);
    st.stats.in_flight_target = target;
    let mut slots = target.saturating_sub(st.tasks_in_flight() + st.ready_depth());
    // Handing out work costs main-thread time per item (the plan looks at the node and its six
    // neighbours, the task is spawned): in batches, until half of `apply_budget_ms` is spent.
    let start = Instant::now();
    let budget_s = f64::from(config.apply_budget_ms.max(0.1)) / 2e3;
    let snapshot = sw.index();
    while slots > 0 && start.elapsed().as_secs_f64() < budget_s {
        let mut inputs = PlanInputs { world: &sw.world, table: &sw.table, index: &mut sw.index.driver };
        let work = st.plan.next_work(slots.min(DISPATCH_BATCH), &mut inputs);
        if work.is_empty() {
            break;
        }
        slots -= work.len();
        for w in work {
            match w {
                Work::Mesh(m) => {
                    let light = m.ring.map(|ring| light_input(&sw.world, &sw.table, m.node.key, ring));
                    let job = MeshJob {
                        node: m.node,
                        generation: m.generation,
                        center: m.center,
                        sides: m.sides,
                        light,
                        table: sw.table.clone(),
                        registry: sw.registry.clone(),
                        ambient_occlusion: config.ambient_occlusion,
                        keep_mesh_data: config.keep_mesh_data,
                        texture_layers: config.texture_layers,
                        fluid_depth: config.fluid_depth,
                    };
                    if job.is_hidden() {
                        // Uniform data its uniform neighbours hide (air; stone under stone):
                        // nothing to draw, known in O(1), so no task. An older mesh task of
                        // the node is dropped (its result would be stale).
                        st.meshing.remove(&m.node);
                        st.plan.mesh_returned(m.node);
                        st.stats.meshes_skipped += 1;
                        st.ready_meshes.push_back(job.empty_output());
                        continue;
                    }
                    // Replaces (so cancels) an older mesh task of the node.
                    st.meshing
                        .insert(m.node, pool.spawn(async move { timed(|| crate::jobs::contained(|| job.run())) }));
                }
                Work::Load(id) => {
                    let job = LoadJob { node: id, source: sw.world.source(), snapshot: snapshot.clone() };
                    // A chunk's store read on I/O, which only waits on stores; generating it
                    // (unless the generator's hint answers) and LOD grids are CPU work, on
                    // async compute. Dropping the I/O task cancels the generation it awaits.
                    let task = if id.level == 0 {
                        io.spawn(async move {
                            let (read, read_busy) = timed(|| job.read_contained()).into_parts();
                            match read {
                                Read::Done(out) => Timed::new(out, read_busy),
                                Read::Generate(generate) => AsyncComputeTaskPool::get()
                                    .spawn(async move { timed(|| generate.run_contained()) })
                                    .await
                                    .after(read_busy),
                            }
                        })
                    } else {
                        pool.spawn(async move { timed(|| job.grid_contained()) })
                    };
                    st.loading.insert(id, task);
                }
            }
        }
    }
}

/// Items of work [`dispatch`] asks the plan for at a time, between looks at the clock.
const DISPATCH_BATCH: usize = 32;

/// Poll: moves finished tasks to the ready queues; never blocks.
pub(crate) fn poll(mut sw: ResMut<StrataWorld>, mut st: ResMut<StrataStreaming>, time: Res<Time<Real>>) {
    let st = &mut *st;
    let plan = &mut st.plan;
    let pacer = &mut st.pacer;
    let mut failed = Vec::new();
    st.loading.retain(|_, task| match check_ready(task).map(|t| pacer.done(t)) {
        // A failed load stays "loading" for the plan while it waits out its back-off, so the
        // node is not handed out again meanwhile (see `StrataStreaming::cool`).
        Some(out) if out.data.is_err() => {
            failed.push(out);
            false
        }
        // Still "loading" for the plan until the result is applied (`load_arrived`): a node
        // that looks for this data meanwhile must not load it again. (Told at once, the plan
        // handed finished-but-unapplied loads out again; with more tasks than results per
        // frame, those duplicates outran the main thread and the first view never came.)
        Some(out) => {
            st.ready_loads.push_back(out);
            false
        }
        None => true,
    });
    st.meshing.retain(|id, task| match check_ready(task).map(|t| pacer.done(t)) {
        Some(Ok(out)) => {
            plan.mesh_returned(*id);
            st.ready_meshes.push_back(out);
            false
        }
        // A bug in the mesher: the node stays without a mesh; the app goes on.
        Some(Err(panic)) => {
            plan.mesh_returned(*id);
            st.stats.mesh_panics += 1;
            error!("strata: meshing {id:?} panicked: {panic}");
            false
        }
        None => true,
    });
    for out in failed {
        st.stats.load_errors += 1;
        let error = out.data.err();
        st.cool(out.node, error, time.elapsed());
    }
    // A new index snapshot: the grids above edited chunks are stale; grids whose scan finished
    // can load.
    if let Some(published) = sw.index.poll() {
        st.plan.index_published(&published.changed, &published.cells_changed, &published.scanned);
    }
}

/// Apply: applies ready results, loads and meshes taking turns, within `apply_budget_ms` of
/// main-thread time (measured) and at most `max_results_per_frame`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply_results(
    mut commands: Commands,
    config: Res<StrataConfig>,
    origin: Res<StrataOrigin>,
    mut sw: ResMut<StrataWorld>,
    mut st: ResMut<StrataStreaming>,
    mut assets: MeshAssets,
    mut loaded_msg: MessageWriter<NodeMeshed>,
    mut remeshed_msg: MessageWriter<NodeRemeshed>,
    time: Res<Time<Real>>,
    fade: FadeClock,
) {
    let fade = fade.now();
    let start = Instant::now();
    let budget_s = f64::from(config.apply_budget_ms.max(0.1)) / 1e3;
    let max = config.max_results_per_frame.max(1);
    let mut applied = 0usize;
    // Failed loads whose back-off is over: the plan asks for them again.
    let now = time.elapsed();
    let st = &mut *st;
    let plan = &mut st.plan;
    st.cooling.retain(|&(due, node)| {
        let waiting = due > now;
        if !waiting {
            plan.load_returned(node);
            plan.load_arrived(node, None);
        }
        waiting
    });
    while applied < max && start.elapsed().as_secs_f64() < budget_s {
        // Loads and meshes take turns while both wait, so neither starves the other (loads
        // always first, under one count cap, could keep meshes waiting as long as loads kept
        // finishing).
        let load = match (st.ready_loads.is_empty(), st.ready_meshes.is_empty()) {
            (true, true) => break,
            (false, true) => true,
            (true, false) => false,
            (false, false) => !st.last_applied_load,
        };
        st.last_applied_load = load;
        applied += 1;
        if load {
            let Some(out) = st.ready_loads.pop_front() else { break };
            // Older than this world's own commit of the chunk (a load that started before the
            // commit, or a lagging replica): a failed load, loaded again after a back-off — unless
            // the store has kept returning that copy for `WorldConfig::stale_patience` (then taken).
            if out.data.is_ok() && out.node.level == 0 && sw.world.refuse_stale(out.node.key, out.sequence).is_err() {
                st.stats.stale_loads += 1;
                st.cool(out.node, None, now);
                continue;
            }
            st.failures.remove(&out.node);
            let data = out.data.ok();
            match st.plan.load_arrived(out.node, data) {
                LoadFate::Chunk(chunk) => {
                    st.stats.loads_applied += 1;
                    // The world keeps a copy it already holds (it is newer); the index gets the
                    // world's copy either way, so both share one `Arc` (it ignores chunks whose
                    // voxels it holds).
                    let key = out.node.key;
                    let loaded = LoadedChunk {
                        chunk: chunk.clone(),
                        history: out.history,
                        side: out.side.clone(),
                        origin: out.origin,
                        sequence: out.sequence,
                    };
                    if sw.world.insert_loaded(key, loaded) == HandIn::Inserted {
                        sw.index.driver.queue_loaded(key, chunk, out.origin, out.history);
                    } else if let Some(c) = sw.world.resident_chunk(key) {
                        let history = sw.world.resident_history(key).unwrap_or_default();
                        sw.index.driver.queue_loaded(key, c, out.origin, history);
                    }
                }
                LoadFate::Grid => st.stats.loads_applied += 1,
                LoadFate::Dropped | LoadFate::Failed => {}
            }
        } else {
            let Some(out) = st.ready_meshes.pop_front() else { break };
            let fate = st.plan.mesh_arrived(out.node, out.generation);
            if fate == MeshFate::Stale {
                st.stats.dropped_stale += 1;
                continue;
            }
            // The mesh is placed at the node's first chunk.
            let (first, _) = out.node.chunk_range();
            let min_chunk = ChunkKey::new(first[0] as i32, first[1] as i32, first[2] as i32);
            let translation = origin.to_render(min_chunk.min_voxel());
            let previous = st.entities.get(&out.node).copied();
            let entity = spawn_or_update(&mut commands, &mut assets, previous, out.node, translation, out.meshes);
            match entity {
                Some(e) => st.entities.insert(out.node, e),
                None => st.entities.remove(&out.node),
            };
            if fate == MeshFate::First {
                let update = st.handover.meshed(out.node);
                apply_handover(&mut commands, st, &update, fade);
            }
            // Hidden while a retired display still shows (part of) its place.
            if let Some(e) = entity
                && st.handover.is_held(out.node)
            {
                commands.entity(e).insert(Visibility::Hidden);
            }
            st.stats.meshes_applied += 1;
            if fate == MeshFate::First {
                loaded_msg.write(NodeMeshed { node: out.node, entity, voxels: out.voxels });
            } else {
                remeshed_msg.write(NodeRemeshed { node: out.node, entity, voxels: out.voxels });
            }
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

    /// An app whose store is open (the streaming systems run only then), so one update applies
    /// what a test queues — however busy the task pools are with other tests.
    fn app() -> App {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StrataMinimalPlugins::new(StrataConfig::default())));
        app.finish();
        app.cleanup();
        for _ in 0..10_000 {
            if app.world_mut().run_system_cached(crate::strata_ready).unwrap() {
                return app;
            }
            app.update();
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("the store did not open");
    }

    fn some_mesh() -> crate::mesh_build::NodeMeshes {
        let mut m = ChunkMesh::default();
        m.opaque.positions = vec![[0.0; 3]; 4];
        m.opaque.normals = vec![[0.0, 1.0, 0.0]; 4];
        m.opaque.uvs = vec![[0.0; 2]; 4];
        m.opaque.materials = vec![1; 4];
        m.opaque.ao = vec![1.0; 4];
        m.opaque.indices = vec![0, 1, 2, 0, 2, 3];
        crate::mesh_build::NodeMeshes::build(
            m,
            &strata_core::MaterialRegistry::builtin(),
            false,
            crate::mesh_build::TextureLayers::Off,
        )
    }

    #[test]
    fn a_load_nobody_retains_does_not_enter_the_world_cache() {
        let mut app = app();
        let chunk = NodeId::chunk(ChunkKey::new(80, 0, 0));
        app.world_mut().resource_mut::<StrataStreaming>().ready_loads.push_back(LoadOutput {
            node: chunk,
            data: Ok(Arc::new(Chunk::Uniform(MaterialId(1)))),
            history: Default::default(),
            origin: ChunkOrigin::Generator,
            sequence: 0,
            side: Default::default(),
        });
        app.update();
        let st = app.world().resource::<StrataStreaming>();
        assert_eq!((st.ready_depth(), st.stats().loads_applied), (0, 0), "applied and dropped");
        let sw = app.world().resource::<StrataWorld>();
        assert!(!sw.world.is_resident(chunk.key), "an unneeded chunk does not enter the world cache");
    }

    #[test]
    fn a_mesh_of_a_node_no_longer_shown_is_not_spawned() {
        let mut app = app();
        let node = NodeId::chunk(ChunkKey::new(9, 9, 9));
        app.world_mut().resource_mut::<StrataStreaming>().ready_meshes.push_back(MeshOutput {
            node,
            generation: 0,
            meshes: some_mesh(),
            voxels: Arc::new(Chunk::Uniform(MaterialId(1))),
        });
        app.update();
        let st = app.world().resource::<StrataStreaming>();
        assert_eq!(st.stats().dropped_stale, 1);
        assert_eq!(st.entity(node), None);
        let mut q = app.world_mut().query::<&StrataNode>();
        assert_eq!(q.iter(app.world()).count(), 0, "no entity spawned");
    }

    /// A chunk load that read the store before this world's commit of the chunk (here handed
    /// in after the chunk was evicted) is refused, counted, and loaded again: the committed
    /// edit is what ends up resident, never the old copy.
    #[test]
    fn a_stale_chunk_load_is_refused_and_loaded_again() {
        use crate::viewer::StreamingViewer;
        let config = StrataConfig {
            view_distance: 64.0,
            lod_max_level: 0,
            // The test commits itself (a periodic commit in flight would refuse it).
            commit_interval_s: 3600.0,
            max_tasks_in_flight: 16,
            max_results_per_frame: 64,
            apply_budget_ms: 50.0,
            ..StrataConfig::default()
        };
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StrataMinimalPlugins::new(config)));
        app.finish();
        app.cleanup();
        app.world_mut().spawn((StreamingViewer::default(), Transform::default()));
        let key = ChunkKey::new(0, 0, 0);
        let node = NodeId::chunk(key);
        let shown = |app: &App| app.world().resource::<StrataStreaming>().plan().is_meshed(node);
        for _ in 0..2000 {
            if shown(&app) && app.world().resource::<StrataStreaming>().is_idle() {
                break;
            }
            app.update();
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(shown(&app), "the chunk under the viewer streams in");
        // What a load started now would read: the store has no record, the generator's chunk.
        let source = app.world().resource::<StrataWorld>().world.source();
        let old = source.load(key).unwrap();
        let pos = strata_core::VoxelPos::new(1, 1, 1);
        {
            let mut sw = app.world_mut().resource_mut::<StrataWorld>();
            let edited = if old.chunk.get(strata_core::LocalPos::new(1, 1, 1).index()) == MaterialId(9) {
                MaterialId(10)
            } else {
                MaterialId(9)
            };
            sw.world.set_voxel(pos, edited);
            sw.world.commit().unwrap();
            assert!(sw.world.evict(key), "committed, so clean and evictable");
        }
        let edited = source.load(key).unwrap().chunk.get(strata_core::LocalPos::new(1, 1, 1).index());
        app.world_mut().resource_mut::<StrataStreaming>().ready_loads.push_back(LoadOutput {
            node,
            data: Ok(old.chunk),
            history: old.history,
            origin: old.origin,
            sequence: old.sequence,
            side: old.side,
        });
        for _ in 0..2000 {
            app.update();
            let sw = app.world().resource::<StrataWorld>();
            if let Some(c) = sw.world.resident_chunk(key) {
                assert_eq!(c.get(strata_core::LocalPos::new(1, 1, 1).index()), edited, "never the old copy");
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(app.world().resource::<StrataStreaming>().stats().stale_loads, 1);
        let mut sw = app.world_mut().resource_mut::<StrataWorld>();
        assert!(sw.world.is_resident(key), "loaded again");
        assert_eq!(sw.world.voxel(pos).unwrap(), edited);
    }

    /// A flat world (stone up to y = 3, [`FlatGenerator`]'s uniform hint) that records which
    /// thread every generation ran on and which chunks it generated voxel by voxel.
    struct Recording {
        flat: strata_core::FlatGenerator,
        calls: std::sync::Mutex<Vec<(u32, ChunkKey, String)>>,
    }

    impl strata_core::WorldGenerator for Recording {
        fn material_at(&self, pos: strata_core::VoxelPos) -> MaterialId {
            self.flat.material_at(pos)
        }
        fn generate(&self, key: ChunkKey) -> Chunk {
            self.calls.lock().unwrap().push((0, key, crate::jobs::thread_name()));
            self.flat.generate(key)
        }
        fn sample_lod(&self, level: u32, node: ChunkKey) -> Chunk {
            self.calls.lock().unwrap().push((level, node, crate::jobs::thread_name()));
            self.flat.sample_lod(level, node)
        }
        fn uniform_hint(&self, level: u32, node: ChunkKey) -> Option<MaterialId> {
            self.flat.uniform_hint(level, node)
        }
    }

    #[test]
    fn generation_and_meshing_stay_off_the_io_pool_and_hinted_nodes_cost_neither() {
        use crate::viewer::StreamingViewer;
        use strata_core::{Face, WorldGenerator};
        let generator = Arc::new(Recording {
            flat: strata_core::FlatGenerator { height: 3, material: MaterialId(1) },
            calls: Default::default(),
        });
        let config = StrataConfig {
            view_distance: 160.0,
            lod_max_level: 2,
            lod_split_distance: 1.0,
            ambient_occlusion: false,
            ..StrataConfig::default()
        };
        let plugin = crate::StrataPlugin::new(config).with_generator(generator.clone());
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StrataMinimalPlugins::with_plugin(plugin)));
        app.finish();
        app.cleanup();
        app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(5.0, 20.0, 5.0)));
        let complete = |app: &App| app.world().resource::<StrataStreaming>().plan().is_complete();
        for _ in 0..20_000 {
            if complete(&app) {
                break;
            }
            app.update();
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(complete(&app), "the view streams in");
        let st = app.world().resource::<StrataStreaming>();
        assert_eq!(st.view_displayed().0, st.view_displayed().1, "hidden nodes count as displayed");
        let table = Arc::as_ptr(&app.world().resource::<StrataWorld>().table) as usize;

        // Generation: never on the I/O pool, never for a chunk the hint answers.
        let calls = generator.calls.lock().unwrap().clone();
        assert!(calls.iter().any(|(level, ..)| *level == 0), "some chunks were generated");
        for (level, key, thread) in &calls {
            assert!(!thread.starts_with("IO Task Pool"), "generated {level} {key:?} on {thread}");
            assert_eq!(generator.uniform_hint(*level, *key), None, "generated {level} {key:?}, which the hint answers");
        }
        // Meshing: never on the I/O pool; never for a node whose neighbourhood the hint answers
        // (uniform data its uniform neighbours hide), which is applied without a task.
        let meshed: Vec<_> =
            crate::jobs::MESH_THREADS.lock().unwrap().iter().filter(|m| m.0 == table).cloned().collect();
        assert!(!meshed.is_empty(), "the surface was meshed");
        for (_, node, thread) in &meshed {
            assert!(!thread.starts_with("IO Task Pool"), "meshed {node:?} on {thread}");
            let hinted = |n: NodeId| generator.uniform_hint(n.level, n.key).is_some();
            let all_hinted =
                hinted(*node) && Face::ALL.iter().all(|&f| hinted(NodeId::new(node.level, node.key.neighbor(f))));
            assert!(!all_hinted, "meshed {node:?}, whose whole neighbourhood the hint answers");
        }
        assert!(st.stats().meshes_skipped > meshed.len() as u64, "most of a flat view is air or buried stone");
    }
}
