//! The plan driven by a fake engine: a world cache (a map), instant or delayed "tasks", and
//! checks written independently of the plan (the seam rule and the retention set restated from
//! their definitions, over the plan's shown set).

use super::*;
use proptest::prelude::*;
use strata_core::{CHUNK_SIZE, DenseChunk};

const STONE: MaterialId = MaterialId(1);

/// The fake world's content: opaque stone below y = 0, a dense surface at y = 0, and above it a
/// uniform transparent material whose id depends on the node (so sides that carry the wrong
/// neighbour's data are told apart).
fn content(n: NodeId) -> Arc<Chunk> {
    thread_local! {
        static SURFACE: Arc<Chunk> = Arc::new(Chunk::Dense(DenseChunk::from_fn(|p| {
            if p.y < CHUNK_SIZE as u8 / 2 { STONE } else { MaterialId::AIR }
        })));
    }
    match n.key.y {
        y if y < 0 => Arc::new(Chunk::Uniform(STONE)),
        0 => SURFACE.with(Arc::clone),
        _ => {
            let h = (n.key.x as i64 * 73 + n.key.z as i64 * 31 + n.key.y as i64 * 7 + n.level as i64 * 1009)
                .rem_euclid(5000) as u16;
            Arc::new(Chunk::Uniform(MaterialId(100 + h)))
        }
    }
}

/// The seam rule restated: a shown neighbour is meshed against; an unshown one only if it is
/// uniform opaque; otherwise a seam.
fn expected_side(plan: &StreamPlan, n: NodeId) -> Option<Arc<Chunk>> {
    let c = content(n);
    (plan.is_shown(n) || c.as_uniform() == Some(STONE)).then_some(c)
}

/// The retention set restated: shown, or the same-level neighbour of a shown node.
fn retained_by_view(plan: &StreamPlan, n: NodeId) -> bool {
    let k = n.key;
    let neighbours = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]
        .map(|[dx, dy, dz]| NodeId::new(n.level, ChunkKey::new(k.x + dx, k.y + dy, k.z + dz)));
    plan.is_shown(n) || neighbours.iter().any(|m| plan.is_shown(*m))
}

#[derive(Default)]
struct FakeWorld {
    resident: FxHashMap<ChunkKey, Arc<Chunk>>,
    /// `resident_chunk` calls: the plan looks at a node's seven pieces each time it examines it.
    lookups: std::cell::Cell<usize>,
    /// Grids whose stored chunks were scanned; `None`: every grid counts as scanned.
    scanned: Option<FxHashSet<NodeId>>,
    scan_requests: Vec<NodeId>,
}

impl StreamInputs for FakeWorld {
    fn resident_chunk(&self, key: ChunkKey) -> Option<Arc<Chunk>> {
        self.lookups.set(self.lookups.get() + 1);
        self.resident.get(&key).cloned()
    }

    fn is_opaque(&self, m: MaterialId) -> bool {
        m == STONE
    }

    fn ensure_scanned(&mut self, grid: NodeId) -> bool {
        let Some(scanned) = &self.scanned else { return true };
        if scanned.contains(&grid) {
            return true;
        }
        if !self.scan_requests.contains(&grid) {
            self.scan_requests.push(grid);
        }
        false
    }
}

/// The fake engine: the plan, the world, and work handed out but not finished.
struct Engine {
    plan: StreamPlan,
    world: FakeWorld,
    pending: Vec<Work>,
    /// The sides of the mesh shown for each node.
    shown_meshes: FxHashMap<NodeId, [Option<Arc<Chunk>>; 6]>,
    /// The ring of the mesh shown for each node (light).
    shown_rings: FxHashMap<NodeId, MeshRing>,
    stale: usize,
}

impl Engine {
    fn new(settings: LodSettings) -> Self {
        let mut plan = StreamPlan::new(settings);
        plan.selector_mut().set_min_move(0.0);
        Self {
            plan,
            world: FakeWorld::default(),
            pending: Vec::new(),
            shown_meshes: FxHashMap::default(),
            shown_rings: FxHashMap::default(),
            stale: 0,
        }
    }

    fn view(&mut self, x: f64, z: f64, distance: f64) -> ViewChange {
        let change = self.plan.update_view(&[Viewer { position: [x, 16.0, z], view_distance: distance }]);
        for k in &change.released {
            self.world.resident.remove(k);
        }
        for n in &change.hidden {
            self.shown_meshes.remove(n);
        }
        // Cancelled work: the engine drops its task.
        let plan = &self.plan;
        self.pending.retain(|w| match w {
            Work::Load(n) => plan.is_loading(*n),
            Work::Mesh(m) => plan.is_meshing(m.node),
        });
        change
    }

    /// Hands out up to `slots` items; keeps them pending. A new mesh of a node replaces the
    /// one in flight (the engine drops the older task), as the plan's docs ask.
    fn dispatch(&mut self, slots: usize) -> usize {
        let work = self.plan.next_work(slots, &mut self.world);
        assert!(work.len() <= slots, "never more work than free slots");
        let n = work.len();
        for w in work {
            if let Work::Mesh(m) = &w {
                self.pending.retain(|p| !matches!(p, Work::Mesh(o) if o.node == m.node));
            }
            self.pending.push(w);
        }
        n
    }

    /// Finishes pending item `i`: returns it and applies its result.
    fn finish(&mut self, i: usize) {
        match self.pending.swap_remove(i) {
            Work::Load(n) => {
                self.plan.load_returned(n);
                match self.plan.load_arrived(n, Some(content(n))) {
                    LoadFate::Chunk(c) => {
                        assert_eq!(n.level, 0);
                        self.world.resident.insert(n.key, c);
                    }
                    LoadFate::Grid => assert!(n.level > 0 && self.plan.grid(n).is_some()),
                    LoadFate::Dropped => assert!(!retained_by_view(&self.plan, n)),
                    LoadFate::Failed => unreachable!("loads here never fail"),
                }
            }
            Work::Mesh(m) => {
                self.plan.mesh_returned(m.node);
                match self.plan.mesh_arrived(m.node, m.generation) {
                    MeshFate::Stale => self.stale += 1,
                    fate => {
                        assert_eq!(fate == MeshFate::First, !self.shown_meshes.contains_key(&m.node));
                        assert_eq!(*m.center, *content(m.node));
                        self.shown_meshes.insert(m.node, m.sides.map(|s| s.data().cloned()));
                        self.shown_rings.insert(m.node, m.ring);
                    }
                }
            }
        }
    }

    /// Runs until the plan is complete, finishing work as soon as it is handed out.
    fn settle(&mut self, slots: usize) {
        for _ in 0..10_000 {
            while !self.pending.is_empty() {
                self.finish(0);
            }
            if self.dispatch(slots) == 0 && self.pending.is_empty() {
                break;
            }
        }
        assert!(self.plan.is_complete(), "the view completes: {:?}", self.plan.view_progress());
    }

    /// What every check after any step says.
    fn check_retention(&self) {
        for k in self.world.resident.keys() {
            assert!(retained_by_view(&self.plan, NodeId::chunk(*k)), "resident chunk {k:?} outside the retention set");
        }
        for n in self.plan.grids.keys() {
            assert!(retained_by_view(&self.plan, *n), "grid {n:?} outside the retention set");
        }
        assert_eq!(self.plan.in_flight(), self.pending.len(), "in flight = tasks the engine holds");
        // The kept per-level counts against a count of the shown nodes.
        let mut per_level = vec![0usize; self.plan.shown_per_level().len()];
        for n in self.plan.shown_nodes() {
            per_level[n.level as usize] += 1;
        }
        assert_eq!(per_level, self.plan.shown_per_level(), "shown nodes per level");
    }

    /// Once complete: every shown node shows a mesh built against its current borders.
    fn check_meshes(&self) {
        assert_eq!(self.shown_meshes.len(), self.plan.shown_len());
        for n in self.plan.shown_nodes() {
            let sides = &self.shown_meshes[&n];
            for (i, f) in Face::ALL.into_iter().enumerate() {
                let m = same_level_neighbor(n, f);
                assert_eq!(sides[i], expected_side(&self.plan, m), "{n:?} face {f:?}");
            }
        }
    }
}

fn settings() -> LodSettings {
    LodSettings { max_level: 2, split_distance: 1.5, hysteresis: 0.25, ..LodSettings::default() }
}

#[test]
fn a_view_loads_its_nodes_and_neighbours_then_meshes_every_node_against_its_borders() {
    let mut e = Engine::new(settings());
    let change = e.view(16.0, 16.0, 150.0);
    assert!(!change.shown.is_empty() && change.hidden.is_empty() && change.released.is_empty());
    assert!(e.plan.shown_nodes().any(|n| n.level == 0) && e.plan.shown_nodes().any(|n| n.level > 0));
    e.settle(8);
    e.check_meshes();
    e.check_retention();
    assert_eq!(e.stale, 0, "nothing changed while meshing");
    assert_eq!(e.plan.view_progress(), (e.plan.shown_len(), e.plan.shown_len()));
}

#[test]
fn a_node_waiting_for_several_pieces_looks_again_once_the_last_arrives() {
    let mut e = Engine::new(LodSettings { max_level: 0, ..settings() });
    e.view(16.0, 16.0, 100.0);
    let shown = e.plan.shown_len();
    // Every node is examined once and asks for its pieces; then the loads finish one by one in
    // a scrambled order, the engine asking for work after each (as it does every frame).
    while e.dispatch(100_000) > 0 {}
    let mut order = 0usize;
    while !e.pending.is_empty() {
        order = (order + 7919) % e.pending.len();
        e.finish(order);
        e.dispatch(100_000);
    }
    e.settle(100_000);
    e.check_meshes();
    // Each node: looked at when first queued, then once more when its data is complete (seven
    // lookups each). Woken at every arrival, a node would be looked at up to seven times.
    let examined = e.world.lookups.get() as f64 / 7.0;
    assert!(examined <= 2.0 * shown as f64, "{examined:.0} examinations for {shown} nodes");
}

#[test]
fn a_uniform_opaque_neighbour_needs_no_seam_and_a_transparent_one_gets_one() {
    let mut e = Engine::new(settings());
    e.view(16.0, 16.0, 150.0);
    e.settle(8);
    // A view-edge node below ground borders unshown stone (meshed against it); one above
    // ground borders unshown transparent data (a seam).
    let mut below = 0;
    let mut above = 0;
    for n in e.plan.shown_nodes() {
        for (i, f) in Face::ALL.into_iter().enumerate() {
            let m = same_level_neighbor(n, f);
            if e.plan.is_shown(m) {
                continue;
            }
            match m.key.y {
                y if y < 0 => {
                    assert_eq!(e.shown_meshes[&n][i], Some(Arc::new(Chunk::Uniform(STONE))));
                    below += 1;
                }
                y if y > 0 => {
                    assert_eq!(e.shown_meshes[&n][i], None);
                    above += 1;
                }
                _ => {}
            }
        }
    }
    assert!(below > 0 && above > 0, "the view has borders of both kinds ({below}, {above})");
}

#[test]
fn moving_away_hides_nodes_cancels_their_work_and_releases_their_chunks() {
    let mut e = Engine::new(settings());
    e.view(16.0, 16.0, 150.0);
    e.settle(8);
    let before: Vec<ChunkKey> = e.world.resident.keys().copied().collect();
    // Start loads for a new view, then leave it before they finish.
    e.view(2000.0, 16.0, 150.0);
    e.dispatch(1000);
    assert!(e.pending.iter().any(|w| matches!(w, Work::Load(_))));
    let change = e.view(-3000.0, 16.0, 150.0);
    assert!(!change.hidden.is_empty());
    assert!(e.pending.is_empty(), "every load and mesh of the left view is cancelled");
    assert_eq!(e.plan.in_flight(), 0);
    assert!(before.iter().all(|k| !e.world.resident.contains_key(k)), "the first view's chunks are released");
    e.check_retention();
    e.settle(8);
    e.check_meshes();
    e.check_retention();
}

#[test]
fn a_load_that_arrives_after_its_requesters_left_is_dropped() {
    let mut e = Engine::new(settings());
    e.view(16.0, 16.0, 150.0);
    e.dispatch(1000);
    let Some(Work::Load(n)) = e.pending.iter().find(|w| matches!(w, Work::Load(n) if n.level == 0)).cloned() else {
        panic!("a chunk load")
    };
    // The task could not be cancelled in time: its result arrives after the view left.
    e.view(5000.0, 16.0, 150.0);
    assert!(!e.plan.is_loading(n));
    e.plan.load_returned(n);
    assert!(matches!(e.plan.load_arrived(n, Some(content(n))), LoadFate::Dropped));
    let grid = NodeId::new(2, ChunkKey::new(-40, 0, 0));
    assert!(matches!(e.plan.load_arrived(grid, Some(content(grid))), LoadFate::Dropped));
    assert!(e.plan.grid(grid).is_none());
}

#[test]
fn an_edit_makes_meshes_in_flight_stale_and_remeshes_the_node_and_its_neighbours_first() {
    let mut e = Engine::new(settings());
    e.view(16.0, 16.0, 150.0);
    e.settle(8);
    let key = ChunkKey::new(0, 0, 0);
    let node = NodeId::chunk(key);
    let east = NodeId::chunk(key.neighbor(Face::PosX));
    assert!(e.plan.is_shown(node) && e.plan.is_shown(east));
    let g = e.plan.generation(node).unwrap();
    e.plan.chunk_edited(key);
    assert_eq!(e.plan.generation(node), Some(g + 1));
    // A mesh computed before the edit arrives: stale.
    assert_eq!(e.plan.mesh_arrived(node, g), MeshFate::Stale);
    let work = e.plan.next_work(7, &mut e.world);
    let meshed: FxHashSet<NodeId> = work
        .iter()
        .map(|w| match w {
            Work::Mesh(m) => m.node,
            Work::Load(n) => panic!("the data is resident, no load of {n:?}"),
        })
        .collect();
    let expected: FxHashSet<NodeId> = with_neighbors(node).filter(|n| e.plan.is_shown(*n)).collect();
    assert_eq!(meshed, expected, "the edited node and its shown neighbours, ahead of everything");
    e.pending.extend(work);
    e.settle(8);
    e.check_meshes();
    assert_eq!(e.plan.generation(node), Some(g + 1), "meshed once more, not again and again");
}

#[test]
fn grid_loads_wait_for_their_scan_and_then_rejoin_the_queue() {
    let mut e = Engine::new(settings());
    e.world.scanned = Some(FxHashSet::default());
    e.view(16.0, 16.0, 150.0);
    for _ in 0..50 {
        while !e.pending.is_empty() {
            e.finish(0);
        }
        e.dispatch(1000);
    }
    assert!(e.pending.is_empty());
    assert!(!e.world.scan_requests.is_empty(), "grids asked for scans");
    assert_eq!(e.plan.grids_len(), 0, "no grid loads before their scans");
    assert!(!e.plan.is_complete());
    let level0_done = e.plan.shown_nodes().filter(|n| n.level == 0).all(|n| e.shown_meshes.contains_key(&n));
    assert!(level0_done, "chunk nodes are not held up by grid scans");
    // The scans finish: the waiting grid loads run.
    let scanned = std::mem::take(&mut e.world.scan_requests);
    e.world.scanned = Some(scanned.iter().copied().collect());
    e.plan.index_published(&[], &[], &scanned);
    e.settle(8);
    e.check_meshes();
    assert!(e.world.scan_requests.is_empty(), "each grid was scanned once");
}

/// Voxels from `p` to the box of node `n`, restated: the box spans `key × edge` to
/// `(key + 1) × edge` on each axis, edge = 32 · 2^level.
fn box_distance(n: NodeId, p: [f64; 3]) -> f64 {
    let edge = f64::from(32u32 << n.level);
    let lo = [n.key.x, n.key.y, n.key.z].map(|v| f64::from(v) * edge);
    (0..3).map(|a| (lo[a] - p[a]).max(p[a] - lo[a] - edge).max(0.0).powi(2)).sum::<f64>().sqrt()
}

/// Whether `d` never decreases (in whole voxels: queue keys are whole voxels, ties keep queue
/// order).
fn nearest_first(d: &[f64]) -> bool {
    d.windows(2).all(|w| w[0].floor() <= w[1].floor())
}

/// The box distances from `viewer` of the pending loads and of the pending meshes, in
/// hand-out order.
fn pending_distances(e: &Engine, viewer: [f64; 3]) -> (Vec<f64>, Vec<f64>) {
    let (mut loads, mut meshes) = (Vec::new(), Vec::new());
    for w in &e.pending {
        match w {
            Work::Load(n) => loads.push(box_distance(*n, viewer)),
            Work::Mesh(m) => meshes.push(box_distance(m.node, viewer)),
        }
    }
    (loads, meshes)
}

#[test]
fn work_is_handed_out_nearest_first() {
    let mut e = Engine::new(settings());
    let viewer = [16.0, 16.0, 16.0];
    e.view(viewer[0], viewer[2], 150.0);
    // Nothing is loaded yet: the first hand-out is the loads of every node and neighbour.
    e.dispatch(10_000);
    let (loads, meshes) = pending_distances(&e, viewer);
    assert!(meshes.is_empty(), "meshed without data");
    assert!(loads.len() > 50 && loads.iter().any(|d| *d > 100.0), "{loads:?}");
    assert!(nearest_first(&loads), "loads nearest first: {loads:?}");
    // The loads arrive farthest first; the meshes are still handed out nearest first.
    while !e.pending.is_empty() {
        e.finish(e.pending.len() - 1);
    }
    e.dispatch(10_000);
    let (_, meshes) = pending_distances(&e, viewer);
    assert_eq!(meshes.len(), e.plan.shown_len(), "every node has its data");
    assert!(nearest_first(&meshes), "meshes nearest first: {meshes:?}");
    assert_eq!(meshes[0], 0.0, "the node under the viewer first");
    e.settle(8);
    e.check_meshes();
}

/// A view that appears at once (the first frame, a teleport) is examined a few slots at a
/// time: one hand-out lets queued nodes request at most `LOADS_AHEAD` × slots new loads (the
/// last node looked at may add its own seven), so its cost follows the slots, not the view;
/// the rest stays queued, and the loads handed out are those of the nearest nodes.
#[test]
fn a_new_view_is_examined_a_few_slots_at_a_time_nearest_first() {
    let mut e = Engine::new(LodSettings { max_level: 0, ..settings() });
    let viewer = [16.0, 16.0, 16.0];
    e.view(viewer[0], viewer[2], 300.0);
    let shown = e.plan.shown_len();
    assert!(shown > 1_000, "{shown}");
    let slots = 4;
    e.dispatch(slots);
    let asked = e.plan.load_requested.len() + e.plan.loading.len();
    assert!(asked <= LOADS_AHEAD * slots + 6, "{asked} loads asked for by one hand-out of {slots}");
    assert!(e.plan.queued.len() + e.plan.waiting.len() >= shown, "nodes not looked at stay queued");
    let (loads, _) = pending_distances(&e, viewer);
    assert_eq!(loads.len(), slots);
    assert!(loads.iter().all(|d| *d <= 64.0), "the nearest nodes' loads: {loads:?}");
    e.settle(64);
    e.check_meshes();
}

/// A viewer that outruns the pipeline leaves queued work behind faster than it reaches the
/// front: the queues are compacted, so over a long flight they stay within twice their live
/// entries plus the slack (a flight-length-independent bound), and nothing still wanted is
/// lost.
#[test]
fn queues_stay_bounded_when_the_viewer_outruns_the_pipeline() {
    let mut e = Engine::new(LodSettings { max_level: 0, ..settings() });
    let mut most = 0;
    for step in 0..400 {
        let x = 16.0 + f64::from(step) * 24.0;
        e.view(x, 16.0, 160.0);
        e.dispatch(2);
        // One item finished per step: far slower than the viewer.
        if !e.pending.is_empty() {
            e.finish(0);
        }
        let (meshes, loads) = e.plan.queue_entries();
        let live_meshes = e.plan.queued.iter().filter(|n| e.plan.is_shown(**n)).count();
        assert!(meshes <= 2 * e.plan.shown_len() + QUEUE_SLACK + 7, "step {step}: {meshes} mesh entries");
        // Pushed after this step's compaction: at most 7 per node looked at (2 handed out).
        assert!(
            loads <= 2 * e.plan.load_requested.len() + QUEUE_SLACK + 7 * (live_meshes + 2),
            "step {step}: {loads} load entries for {} requests",
            e.plan.load_requested.len()
        );
        most = most.max(meshes + loads);
    }
    // The view holds ~1,000 nodes; the flight queued far more work than that over time.
    assert!(most < 12_000, "{most}");
    // Compaction keeps what is still wanted: stopped, the view completes.
    e.settle(8);
    e.check_meshes();
}

#[test]
fn a_chunk_a_ray_waits_for_is_loaded_before_the_view() {
    let mut e = Engine::new(settings());
    e.view(16.0, 16.0, 150.0);
    e.dispatch(1);
    let far = ChunkKey::new(500, 0, 500);
    e.plan.want_chunk(far);
    e.dispatch(1);
    assert!(matches!(e.pending[1], Work::Load(n) if n == NodeId::chunk(far)), "{:?}", e.pending);
    e.settle(8);
    e.check_meshes();
}

#[test]
fn grids_above_the_roots_follow_chunk_cells_not_voxel_edits() {
    // A view reaching level 7: grids above the roots wait for their scans like the others, and
    // are reloaded when a chunk cell under them changes, not for every voxel edit.
    let mut e = Engine::new(LodSettings { max_level: 7, split_distance: 1.0, ..settings() });
    e.world.scanned = Some(FxHashSet::default());
    e.view(16.0, 16.0, 9000.0);
    for _ in 0..100 {
        while !e.pending.is_empty() {
            e.finish(0);
        }
        e.dispatch(1000);
    }
    let asked: Vec<NodeId> = std::mem::take(&mut e.world.scan_requests);
    assert!(asked.iter().any(|n| n.level > ROOT_LEVEL), "grids above the roots ask for scans: {asked:?}");
    assert!(e.plan.grids.keys().all(|g| g.level <= ROOT_LEVEL || asked.contains(g)));
    e.world.scanned = None;
    e.plan.index_published(&[], &[], &asked);
    e.settle(8);
    e.check_meshes();
    let Some(grid) = e.plan.grids.keys().copied().find(|g| g.level == 7) else { panic!("a level-7 grid") };
    let key = ChunkKey::new(grid.key.x * 128 + 5, grid.key.y * 128 + 3, grid.key.z * 128 + 9);
    e.plan.index_published(&[key], &[], &[]);
    assert!(e.plan.grid(grid).is_some(), "a voxel edit alone keeps the grid above the roots");
    e.plan.index_published(&[], &[key], &[]);
    assert!(e.plan.grid(grid).is_none(), "a changed chunk cell reloads it");
    e.settle(8);
    assert!(e.plan.grid(grid).is_some());
    e.check_meshes();
}

#[test]
fn an_edit_published_by_the_index_drops_the_grids_above_it() {
    let mut e = Engine::new(settings());
    e.view(16.0, 16.0, 400.0);
    e.settle(8);
    let Some(grid) = e.plan.grids.keys().copied().find(|g| g.level == 2) else { panic!("a level-2 grid") };
    let key = NodeId::new(0, ChunkKey::new(grid.key.x * 4 + 1, grid.key.y * 4, grid.key.z * 4 + 3)).key;
    e.plan.index_published(&[key], &[], &[]);
    assert!(e.plan.grid(grid).is_none(), "the grid above the edit is reloaded");
    e.settle(8);
    assert!(e.plan.grid(grid).is_some());
    e.check_meshes();
}

#[test]
fn a_ray_wanted_chunk_is_loaded_once_and_kept_until_it_arrives() {
    let mut e = Engine::new(settings());
    let far = ChunkKey::new(500, 0, 500);
    e.plan.want_chunk(far);
    e.plan.want_chunk(far);
    assert!(e.plan.retains(NodeId::chunk(far)));
    e.dispatch(10);
    assert_eq!(e.pending.len(), 1, "one load");
    e.finish(0);
    assert!(e.world.resident.contains_key(&far));
    assert!(!e.plan.retains(NodeId::chunk(far)), "retained until it arrived");
}

/// One step of a random session.
#[derive(Clone, Debug)]
enum Step {
    /// The viewer walks by (dx, dz) voxels.
    Walk(i16, i16),
    /// The viewer jumps to (x, z).
    Jump(i16, i16),
    /// Up to this many items are handed out.
    Dispatch(u8),
    /// Pending item (index modulo the count) finishes.
    Finish(u8),
    /// An edit of the chunk at (x, 0, z) (chunk coordinates).
    Edit(i8, i8),
    /// Everything runs to completion (so later moves and edits meet meshed nodes).
    Settle,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (-6i16..=6, -6i16..=6).prop_map(|(x, z)| Step::Walk(x * 8, z * 8)),
        1 => (-40i16..40, -40i16..40).prop_map(|(x, z)| Step::Jump(x * 8, z * 8)),
        3 => (1u8..40).prop_map(Step::Dispatch),
        6 => any::<u8>().prop_map(Step::Finish),
        1 => (-4i8..4, -4i8..4).prop_map(|(x, z)| Step::Edit(x, z)),
        1 => Just(Step::Settle),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever the order of moves, edits and finishing tasks: nothing outside the retention
    /// set stays resident, in-flight work matches the engine's tasks, and once everything
    /// finishes every shown node shows a current mesh built against its current borders.
    #[test]
    fn any_interleaving_keeps_retention_and_ends_with_every_border_current(
        steps in proptest::collection::vec(step(), 1..80)
    ) {
        let mut e = Engine::new(settings());
        let mut at = (0.0, 0.0);
        e.view(at.0, at.1, 150.0);
        for s in steps {
            match s {
                Step::Walk(dx, dz) => {
                    at = (at.0 + f64::from(dx), at.1 + f64::from(dz));
                    e.view(at.0, at.1, 150.0);
                }
                Step::Jump(x, z) => {
                    at = (f64::from(x), f64::from(z));
                    e.view(at.0, at.1, 150.0);
                }
                Step::Dispatch(n) => {
                    e.dispatch(usize::from(n));
                }
                Step::Finish(i) if !e.pending.is_empty() => e.finish(usize::from(i) % e.pending.len()),
                Step::Finish(_) => {}
                Step::Edit(x, z) => e.plan.chunk_edited(ChunkKey::new(i32::from(x), 0, i32::from(z))),
                Step::Settle => e.settle(16),
            }
            e.check_retention();
        }
        e.settle(16);
        e.check_retention();
        e.check_meshes();
    }
}

#[test]
fn a_short_move_remeshes_exactly_the_nodes_whose_borders_changed() {
    let mut e = Engine::new(settings());
    e.view(16.0, 16.0, 150.0);
    e.settle(8);
    let before: FxHashMap<NodeId, u64> = e.plan.shown_nodes().map(|n| (n, e.plan.generation(n).unwrap())).collect();
    let change = e.view(80.0, 16.0, 150.0);
    assert!(!change.shown.is_empty() && !change.hidden.is_empty());
    e.settle(8);
    e.check_meshes();
    // Nodes shown before and after whose borders changed were remeshed; the others were not.
    let mut remeshed = 0;
    for (n, g) in before {
        let Some(now) = e.plan.generation(n) else { continue };
        let changed = Face::ALL.into_iter().any(|f| {
            let m = same_level_neighbor(n, f);
            change.shown.contains(&m) || change.hidden.contains(&m)
        });
        assert_eq!(now != g, changed, "{n:?}");
        remeshed += usize::from(changed);
    }
    assert!(remeshed > 0, "the move changed some kept node's border");
}

#[test]
fn with_the_light_ring_chunk_meshes_wait_for_and_carry_every_shown_chunk_around_them() {
    let mut e = Engine::new(settings());
    e.plan.set_light_ring(true);
    e.view(16.0, 16.0, 150.0);
    // Work finishes last-first: meshes are asked for before their diagonal neighbours load.
    for _ in 0..10_000 {
        while let Some(last) = e.pending.len().checked_sub(1) {
            e.finish(last);
        }
        if e.dispatch(8) == 0 && e.pending.is_empty() {
            break;
        }
    }
    assert!(e.plan.is_complete());
    e.check_meshes();
    e.check_retention();
    let mut diagonals = 0;
    for n in e.plan.shown_nodes() {
        let ring = &e.shown_rings[&n];
        if n.level > 0 {
            assert!(ring.is_none(), "light is for chunks only");
            continue;
        }
        let Some(ring) = ring else {
            // Restated: only a chunk with no faces goes without (stone among stone here; the
            // fake world has no uniform air).
            let k = n.key;
            let stone = |o: [i32; 3]| {
                content(NodeId::chunk(ChunkKey::new(k.x + o[0], k.y + o[1], k.z + o[2]))).as_uniform() == Some(STONE)
            };
            assert!(
                stone([0, 0, 0]) && Face::ALL.iter().all(|f| stone(f.offset())),
                "chunk {n:?} meshed without its ring"
            );
            continue;
        };
        for (i, got) in ring.iter().enumerate() {
            let o = ring_offset(i);
            let k = n.key;
            let m = NodeId::chunk(ChunkKey::new(k.x + o[0], k.y + o[1], k.z + o[2]));
            let face = Face::ALL.iter().position(|f| f.offset() == o);
            // Restated: the centre; a face as the mesher sees it; any other chunk if shown.
            let want = match (i, face) {
                (13, _) => Some(content(n)),
                (_, Some(_)) => expected_side(&e.plan, m),
                _ => e.plan.is_shown(m).then(|| content(m)),
            };
            assert_eq!(got, &want, "{n:?} ring {o:?}");
            diagonals += usize::from(face.is_none() && i != 13 && got.is_some());
        }
    }
    assert!(diagonals > 100, "the view has shown diagonal neighbours ({diagonals})");
    // Relighting a chunk remeshes it (and only it), ahead of the rest.
    let corner = NodeId::chunk(ChunkKey::new(1, 1, 1));
    assert!(e.plan.is_shown(corner));
    let generations: Vec<_> = with_ring(corner).map(|n| e.plan.generation(n)).collect();
    e.plan.chunk_relit(corner.key);
    for (n, g) in with_ring(corner).zip(generations) {
        assert_eq!(e.plan.generation(n), if n == corner { g.map(|g| g + 1) } else { g });
    }
    let work = e.plan.next_work(1, &mut e.world);
    assert!(matches!(&work[..], [Work::Mesh(m)] if m.node == corner), "relit first");
}
