//! Headless plugin tests: `MinimalPlugins`, a fixed time step and bounded update loops.

use crate::common::{STONE, flat_app, run_until, small_view, wait_started};
use bevy::picking::backend::PointerHits;
use bevy::picking::backend::ray::{RayId, RayMap};
use bevy::picking::pointer::{Location, PointerAction, PointerButton, PointerId, PointerInput};
use bevy::prelude::*;
use bevy_strata::prelude::*;
use bevy_strata::{StrataPersistence, StrataStreaming, StrataWorld};
use strata_core::{ChunkKey, ChunkStore, FlatGenerator, LocalPos, WorldGenerator};
use strata_index::NodeId;
use strata_redb::RedbStore;

fn config() -> StrataConfig {
    small_view()
}

fn app_with(config: StrataConfig) -> App {
    flat_app(config, 0)
}

fn spawn_viewer(app: &mut App, at: Vec3) -> Entity {
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_translation(at))).id()
}

fn idle(app: &mut App) -> bool {
    app.world().resource::<StrataStreaming>().is_idle()
}

fn drain<M: Message + Clone>(app: &mut App) -> Vec<M> {
    app.world_mut().resource_mut::<Messages<M>>().drain().collect()
}

#[test]
fn a_moving_viewer_loads_and_unloads_and_lod_follows_distance() {
    let mut app = app_with(config());
    let viewer = spawn_viewer(&mut app, Vec3::new(16.0, 8.0, 16.0));
    run_until(&mut app, 2000, "initial view streamed", idle);
    let st = app.world().resource::<StrataStreaming>();
    let here = ChunkKey::new(0, 0, 0);
    assert_eq!(st.node_covering(here), Some(NodeId::chunk(here)), "finest level under the viewer");
    let far = st.node_covering(ChunkKey::new(4, 0, 0)).expect("chunk 128 voxels away is shown");
    assert!(far.level >= 1, "coarser far away: {far:?}");
    assert!(st.entity(NodeId::chunk(here)).is_some(), "the ground under the viewer has a mesh");
    drain::<NodeMeshed>(&mut app);
    drain::<NodeUnloaded>(&mut app);

    // Sitting still, nothing changes. (Messages live two frames: collect every frame.)
    for _ in 0..30 {
        app.update();
        assert!(drain::<NodeMeshed>(&mut app).is_empty());
        assert!(drain::<NodeUnloaded>(&mut app).is_empty());
    }

    // Move 2000 voxels away: the old area unloads, the new one loads.
    app.world_mut().entity_mut(viewer).insert(Transform::from_xyz(2016.0, 8.0, 16.0));
    let mut unloaded = Vec::new();
    run_until(&mut app, 2000, "view around the new position", |app| {
        unloaded.extend(drain::<NodeUnloaded>(app));
        idle(app)
    });
    assert!(unloaded.iter().any(|u| u.node == NodeId::chunk(here)), "the old chunk unloaded");
    let st = app.world().resource::<StrataStreaming>();
    assert!(st.node_covering(here).is_none());
    assert_eq!(st.node_covering(ChunkKey::new(63, 0, 0)), Some(NodeId::chunk(ChunkKey::new(63, 0, 0))));
    let entities = app.world_mut().query::<&bevy_strata::StrataNode>().iter(app.world()).count();
    assert_eq!(
        entities,
        app.world()
            .resource::<StrataStreaming>()
            .shown_nodes()
            .filter(|n| app.world().resource::<StrataStreaming>().entity(*n).is_some())
            .count()
    );
}

#[test]
fn no_flicker_when_a_viewer_sits_on_a_threshold() {
    // Every frame recomputes the selection (the skip for small moves would hide a flicker).
    let mut app = app_with(StrataConfig { lod_min_move: 0.0, ..config() });
    // Level-1 nodes split at 1.0 × 64 voxels from their box: put the viewer right there.
    let viewer = spawn_viewer(&mut app, Vec3::new(64.0 + 64.0, 8.0, 32.0));
    run_until(&mut app, 2000, "initial view", idle);
    // Visit both ends once: the first crossing of a threshold legitimately changes the view.
    // (NodeMeshed fires when a node's first mesh lands, so let streaming go idle each time.)
    for x in [127.5, 128.5] {
        app.world_mut().entity_mut(viewer).insert(Transform::from_xyz(x, 8.0, 32.0));
        app.update();
        run_until(&mut app, 2000, "view settled", idle);
    }
    drain::<NodeMeshed>(&mut app);
    drain::<NodeUnloaded>(&mut app);
    let before = app.world().resource::<StrataStreaming>().plan().selector().recomputations();
    for i in 0..40 {
        let x = if i % 2 == 0 { 127.5 } else { 128.5 };
        app.world_mut().entity_mut(viewer).insert(Transform::from_xyz(x, 8.0, 32.0));
        app.update();
        // Messages live two frames: check every frame.
        assert!(drain::<NodeUnloaded>(&mut app).is_empty(), "nodes flickered out at step {i}");
        assert!(drain::<NodeMeshed>(&mut app).is_empty(), "nodes flickered in at step {i}");
    }
    let after = app.world().resource::<StrataStreaming>().plan().selector().recomputations();
    assert_eq!(after - before, 40, "every step recomputed the selection");
}

#[test]
fn an_edit_on_a_border_remeshes_both_chunks() {
    let mut app = app_with(config());
    spawn_viewer(&mut app, Vec3::new(32.0, 8.0, 16.0));
    run_until(&mut app, 2000, "initial view", idle);
    let a = NodeId::chunk(ChunkKey::new(0, 0, 0));
    let b = NodeId::chunk(ChunkKey::new(1, 0, 0));
    assert!(
        app.world().resource::<StrataStreaming>().is_shown(a) && app.world().resource::<StrataStreaming>().is_shown(b)
    );
    drain::<NodeRemeshed>(&mut app);
    // Dig the ground voxel at x = 31 (last column of chunk 0, next to chunk 1).
    app.world_mut()
        .run_system_once(|world: VoxelWorld| world.set_voxel(VoxelPos::new(31, 0, 5), MaterialId::AIR))
        .unwrap();
    let mut remeshed = Vec::new();
    let mut edited = Vec::new();
    run_until(&mut app, 2000, "both chunks remeshed", |app| {
        remeshed.extend(drain::<NodeRemeshed>(app).into_iter().map(|m| m.node));
        edited.extend(drain::<VoxelsEdited>(app));
        remeshed.contains(&a) && remeshed.contains(&b)
    });
    assert!(edited.iter().any(|e| e.chunks.contains(&ChunkKey::new(0, 0, 0))));
    let v = app.world_mut().run_system_once(|world: VoxelWorld| world.voxel(VoxelPos::new(31, 0, 5)).unwrap()).unwrap();
    assert_eq!(v, MaterialId::AIR);
}

use bevy::ecs::system::RunSystemOnce;

#[test]
fn raycast_and_picking_backend_hit_the_expected_voxel() {
    let mut app = app_with(config());
    spawn_viewer(&mut app, Vec3::new(16.0, 8.0, 16.0));
    run_until(&mut app, 2000, "initial view", idle);
    // Let the index catch up with the loaded chunks.
    run_until(&mut app, 500, "index has the ground", |app| {
        app.world_mut()
            .run_system_once(|world: VoxelWorld| {
                world.raycast(Ray3d::new(Vec3::new(10.5, 20.0, 12.5), Dir3::NEG_Y), 100.0)
            })
            .unwrap()
            .is_some()
    });
    let hit = app
        .world_mut()
        .run_system_once(|world: VoxelWorld| world.raycast(Ray3d::new(Vec3::new(10.5, 20.0, 12.5), Dir3::NEG_Y), 100.0))
        .unwrap()
        .unwrap();
    assert_eq!(hit.voxel, VoxelPos::new(10, 0, 12));
    assert_eq!(hit.normal, IVec3::Y);
    assert_eq!(hit.material, STONE);
    assert!((hit.distance - 19.0).abs() < 1e-3, "{hit:?}");
    assert_eq!(hit.adjacent(), VoxelPos::new(10, 1, 12));

    // The picking backend: a pointer ray from a camera reaches the chunk's entity.
    let camera = app.world_mut().spawn(Camera::default()).id();
    let mut map = RayMap::default();
    map.map.insert(RayId::new(camera, PointerId::Mouse), Ray3d::new(Vec3::new(3.5, 30.0, 3.5), Dir3::NEG_Y));
    app.insert_resource(map);
    app.update();
    let hits = drain::<PointerHits>(&mut app);
    let expected = app.world().resource::<StrataStreaming>().entity(NodeId::chunk(ChunkKey::new(0, 0, 0))).unwrap();
    let (entity, data) = hits.iter().flat_map(|h| h.picks.iter()).next().expect("a pointer hit").clone();
    assert_eq!(entity, expected);
    assert_eq!(data.normal, Some(Vec3::Y));
    assert!((data.position.unwrap() - Vec3::new(3.5, 1.0, 3.5)).length() < 1e-3);
    let picked = drain::<VoxelPicked>(&mut app);
    assert_eq!(picked.iter().map(|p| (p.voxel, p.pressed)).collect::<Vec<_>>(), [(VoxelPos::new(3, 0, 3), None)]);

    // VoxelPicked: once per change of the voxel under the pointer, and on a press; not while
    // the pointer stays on the same voxel.
    let pick = |app: &mut App, ray: Option<Ray3d>, press: bool| {
        let mut map = RayMap::default();
        if let Some(ray) = ray {
            map.map.insert(RayId::new(camera, PointerId::Mouse), ray);
        }
        app.insert_resource(map);
        if press {
            let location = Location {
                target: bevy::camera::NormalizedRenderTarget::None { width: 1, height: 1 },
                position: Vec2::ZERO,
            };
            app.world_mut().write_message(PointerInput::new(
                PointerId::Mouse,
                location,
                PointerAction::Press(PointerButton::Primary),
            ));
        }
        app.update();
        drain::<VoxelPicked>(app).into_iter().map(|p| (p.voxel, p.pressed)).collect::<Vec<_>>()
    };
    let down = |x: f32, z: f32| Some(Ray3d::new(Vec3::new(x, 30.0, z), Dir3::NEG_Y));
    assert_eq!(pick(&mut app, down(3.5, 3.5), false), [], "the same voxel: nothing new");
    assert_eq!(pick(&mut app, down(3.9, 3.1), false), [], "another point of the same voxel face");
    assert_eq!(pick(&mut app, down(3.5, 3.5), true), [(VoxelPos::new(3, 0, 3), Some(PointerButton::Primary))]);
    assert_eq!(pick(&mut app, down(5.5, 3.5), false), [(VoxelPos::new(5, 0, 3), None)], "moved to another voxel");
    assert_eq!(pick(&mut app, Some(Ray3d::new(Vec3::new(5.5, 30.0, 3.5), Dir3::Y)), false), [], "hits nothing");
    assert_eq!(pick(&mut app, down(5.5, 3.5), false), [(VoxelPos::new(5, 0, 3), None)], "back on a voxel");
}

#[test]
fn all_air_and_buried_regions_spawn_no_mesh() {
    let mut app = app_with(StrataConfig { view_distance: 64.0, ..config() });
    spawn_viewer(&mut app, Vec3::new(16.0, 3000.0, 16.0)); // high in the sky: all air
    let mut loaded = Vec::new();
    run_until(&mut app, 2000, "sky streamed", |app| {
        loaded.extend(drain::<NodeMeshed>(app));
        idle(app)
    });
    assert!(!loaded.is_empty());
    assert!(loaded.iter().all(|l| l.entity.is_none()), "air spawned meshes");
    let mut deep = app_with(StrataConfig { view_distance: 64.0, ..config() });
    spawn_viewer(&mut deep, Vec3::new(16.0, -3000.0, 16.0)); // deep underground: all buried
    let mut loaded = Vec::new();
    run_until(&mut deep, 2000, "underground streamed", |app| {
        loaded.extend(drain::<NodeMeshed>(app));
        idle(app)
    });
    assert!(!loaded.is_empty());
    assert!(loaded.iter().all(|l| l.entity.is_none()), "buried chunks spawned meshes");
    assert_eq!(deep.world_mut().query::<&Mesh3d>().iter(deep.world()).count(), 0);
}

#[test]
fn exiting_the_app_commits_the_edits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    {
        let mut app = app_with(StrataConfig {
            save_path: Some(path.to_string_lossy().into_owned()),
            commit_interval_s: 3600.0,
            ..config()
        });
        spawn_viewer(&mut app, Vec3::new(16.0, 8.0, 16.0));
        wait_started(&mut app);
        app.world_mut()
            .run_system_once(|world: VoxelWorld| {
                world.set_voxel(VoxelPos::new(1, 2, 3), MaterialId(19));
                world.fill_box(VoxelPos::new(-40, 1, -40), VoxelPos::new(-30, 4, -30), MaterialId(9)).unwrap();
            })
            .unwrap();
        app.update();
        // Applied (dirty) or waiting for their chunks to load, but not committed yet.
        let s = app.world().resource::<StrataWorld>().world.stats();
        assert!(s.dirty_chunks + s.pending_edits > 0, "{s:?}");
        app.world_mut().write_message(AppExit::Success);
        app.update();
        assert!(app.world().resource::<StrataPersistence>().exit_committed);
    }
    let store = RedbStore::open(&path).unwrap();
    let c = store.get(ChunkKey::new(0, 0, 0)).unwrap().expect("edited chunk stored");
    assert_eq!(c.get(VoxelPos::new(1, 2, 3).local().index()), MaterialId(19));
    // The box spans chunks x, z in {-2, -1} at y 0: four chunks, plus chunk (0, 0, 0). Every
    // voxel of each is the box's material inside the box and the flat ground's outside it.
    let ground = FlatGenerator { height: 0, material: STONE };
    let in_box = |p: VoxelPos| (-40..=-30).contains(&p.x) && (1..=4).contains(&p.y) && (-40..=-30).contains(&p.z);
    for (x, z) in [(-2, -2), (-2, -1), (-1, -2), (-1, -1)] {
        let key = ChunkKey::new(x, 0, z);
        let c = store.get(key).unwrap().expect("filled chunk stored");
        let o = key.min_voxel();
        let mut boxed = 0;
        for (lx, ly, lz) in (0..32).flat_map(|x| (0..32).flat_map(move |y| (0..32).map(move |z| (x, y, z)))) {
            let p = VoxelPos::new(o.x + i32::from(lx), o.y + i32::from(ly), o.z + i32::from(lz));
            let want = if in_box(p) { MaterialId(9) } else { ground.material_at(p) };
            assert_eq!(c.get(LocalPos::new(lx, ly, lz).index()), want, "{p:?} in chunk {key:?}");
            boxed += usize::from(in_box(p));
        }
        assert!(boxed > 0, "the box reaches chunk {key:?}");
    }
    assert_eq!(store.stats().unwrap().records, 5);
}

#[test]
fn periodic_commits_run_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    let mut app = app_with(StrataConfig {
        save_path: Some(path.to_string_lossy().into_owned()),
        commit_interval_s: 0.05,
        ..config()
    });
    app.update();
    app.world_mut()
        .run_system_once(|world: VoxelWorld| world.set_voxel(VoxelPos::new(5, 5, 5), MaterialId(4)))
        .unwrap();
    run_until(&mut app, 500, "a background commit", |app| app.world().resource::<StrataPersistence>().commits > 0);
    assert_eq!(app.world().resource::<StrataWorld>().world.stats().dirty_chunks, 0);
    assert_eq!(app.world().resource::<StrataPersistence>().committed_chunks, 1, "counted, not scanned");
}

/// `StrataPersistence::commit_now` commits without waiting for the interval, and the game learns
/// when its edits are durable: `is_durable` and an `EditsCommitted` covering the request and
/// the version the edit was applied at.
#[test]
fn commit_now_makes_edits_durable_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    let mut app = app_with(StrataConfig {
        save_path: Some(path.to_string_lossy().into_owned()),
        commit_interval_s: 3600.0,
        ..config()
    });
    wait_started(&mut app);
    let pos = VoxelPos::new(40, 3, -7);
    app.world_mut().run_system_once(move |world: VoxelWorld| world.set_voxel(pos, MaterialId(12))).unwrap();
    let request = app.world_mut().resource_mut::<StrataPersistence>().commit_now();
    assert!(!app.world().resource::<StrataPersistence>().is_durable(request));
    let mut commits = Vec::new();
    let mut edited = Vec::new();
    run_until(&mut app, 500, "the requested commit", |app| {
        commits.extend(drain::<EditsCommitted>(app));
        edited.extend(drain::<VoxelsEdited>(app));
        app.world().resource::<StrataPersistence>().is_durable(request)
    });
    let commit = commits.last().expect("an EditsCommitted message");
    assert!(commit.request >= request && commit.chunks == 1 && commit.held_edits == 0, "{commit:?}");
    let applied_at = edited.iter().map(|e| e.version).max().expect("the edit was applied");
    assert!(commit.version >= applied_at, "{commit:?} covers version {applied_at}");
    let sw = app.world().resource::<StrataWorld>();
    let stored = sw.world.store().get(pos.chunk()).unwrap().expect("the chunk is in the save");
    assert_eq!(stored.get(pos.local().index()), MaterialId(12));
    // A request with nothing new to commit is answered at once, without writing.
    let again = app.world_mut().resource_mut::<StrataPersistence>().commit_now();
    run_until(&mut app, 10, "an empty request", |app| app.world().resource::<StrataPersistence>().is_durable(again));
    assert_eq!(app.world().resource::<StrataPersistence>().commits, 1);
}

#[test]
fn diagnostics_are_published() {
    let mut app = app_with(config());
    spawn_viewer(&mut app, Vec3::new(16.0, 8.0, 16.0));
    run_until(&mut app, 2000, "initial view", idle);
    app.update();
    let store = app.world().resource::<bevy::diagnostic::DiagnosticsStore>();
    let lod0 = store.get(&bevy_strata::diagnostics::NODES_PER_LOD[0]).and_then(|d| d.value()).unwrap();
    assert!(lod0 >= 1.0);
    assert!(store.get(&bevy_strata::diagnostics::RESIDENT_CHUNKS).and_then(|d| d.value()).unwrap() >= 1.0);
    assert!(store.get(&bevy_strata::diagnostics::CACHE_HIT_RATE).and_then(|d| d.value()).is_some());
}

#[test]
#[should_panic(expected = "StrataPlugin needs AssetPlugin")]
fn missing_asset_plugin_is_reported_at_build_time() {
    App::new().add_plugins((MinimalPlugins, StrataPlugin::default()));
}

#[test]
fn levels_above_the_index_roots_stream_from_the_generator() {
    // A viewer high above a flat world with a view distance of thousands of voxels: the
    // far ground is shown by nodes coarser than the index's roots (level > 5), sampled from
    // the generator, and the view completes.
    let mut app =
        app_with(StrataConfig { view_distance: 12_000.0, lod_max_level: 8, lod_split_distance: 1.0, ..config() });
    spawn_viewer(&mut app, Vec3::new(16.0, 600.0, 16.0));
    run_until(&mut app, 4000, "view with coarse levels streamed", idle);
    let st = app.world().resource::<StrataStreaming>();
    let (done, total) = st.view_progress();
    assert_eq!(done, total);
    let per_level = st.shown_per_level();
    assert_eq!(per_level.len(), bevy_strata::MAX_LOD_LEVEL as usize + 1);
    assert!(per_level[6..].iter().sum::<usize>() > 0, "coarse levels shown: {per_level:?}");
    // The ground 8,000 voxels away is covered by a coarse node that has a mesh.
    let far = st.node_covering(ChunkKey::new(250, -1, 0)).expect("far ground shown");
    assert!(far.level > strata_index::ROOT_LEVEL, "{far:?}");
    assert!(st.entity(far).is_some(), "the far ground has geometry");
}

/// A change to the config resource that fails validation is undone before any system uses it
/// and reported; a valid change is kept; a viewer's own view distance is capped to what the
/// LOD settings allow (so no viewer makes a million-node plan).
#[test]
fn invalid_config_changes_are_undone_and_viewer_distances_capped() {
    let mut app = app_with(config());
    wait_started(&mut app);
    let before = app.world().resource::<StrataConfig>().clone();
    app.world_mut().resource_mut::<StrataConfig>().view_distance = f32::NAN;
    app.update();
    assert_eq!(*app.world().resource::<StrataConfig>(), before, "the NaN view distance was undone");
    let rejected = drain::<bevy_strata::StrataConfigRejected>(&mut app);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(rejected[0].reason.contains("view_distance"), "{}", rejected[0].reason);

    // Level 0 with a 200,000-voxel view: refused (the plan would visit millions of nodes).
    {
        let mut c = app.world_mut().resource_mut::<StrataConfig>();
        c.lod_max_level = 0;
        c.view_distance = 200_000.0;
    }
    app.update();
    assert_eq!(*app.world().resource::<StrataConfig>(), before);
    assert_eq!(drain::<bevy_strata::StrataConfigRejected>(&mut app).len(), 1);

    // A valid change stays.
    app.world_mut().resource_mut::<StrataConfig>().view_distance = 40.0;
    app.update();
    assert_eq!(app.world().resource::<StrataConfig>().view_distance, 40.0);
    assert!(drain::<bevy_strata::StrataConfigRejected>(&mut app).is_empty());

    // A viewer asking for an absurd distance gets the largest the settings allow.
    app.world_mut().spawn((StreamingViewer { view_distance: Some(1e9) }, Transform::default()));
    app.update();
    let max = app.world().resource::<StrataConfig>().max_view_distance();
    let viewers = &app.world().resource::<bevy_strata::ViewerPositions>().viewers;
    assert_eq!(viewers.len(), 1);
    assert_eq!(viewers[0].1, f64::from(max));
}

#[test]
#[should_panic(expected = "invalid StrataConfig: config commit_interval_s")]
fn an_invalid_initial_config_is_refused_before_anything_opens() {
    let _ = app_with(StrataConfig { commit_interval_s: f32::NAN, ..config() });
}

/// A schedule of the game's own, run when the game decides.
#[derive(bevy::ecs::schedule::ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
struct GameTick;

#[test]
fn the_streaming_sets_run_in_the_schedule_the_game_chose() {
    use bevy::ecs::schedule::ScheduleLabel;
    let mut app = crate::common::flat_app_with(|plugin| plugin.in_schedule(GameTick), config(), 0);
    app.init_schedule(GameTick);
    assert_eq!(app.world().resource::<bevy_strata::StrataSchedule>().0, GameTick.intern());
    spawn_viewer(&mut app, Vec3::new(16.0, 8.0, 16.0));
    wait_started(&mut app);
    // Frames without the game's schedule: nothing is planned, nothing shown.
    for _ in 0..30 {
        app.update();
    }
    assert_eq!(app.world().resource::<StrataStreaming>().view_progress(), (0, 0));
    // The game runs its schedule each frame: the view streams.
    run_until(&mut app, 3000, "view streamed in GameTick", |app| {
        app.world_mut().run_schedule(GameTick);
        let (ready, total) = app.world().resource::<StrataStreaming>().view_progress();
        total > 0 && ready == total && idle(app)
    });
}

/// The mesh hook: a game system reading `NodeMeshed` / `NodeRemeshed` tags each node's entity
/// with what it found in the meshed voxels, and an edit re-tags the node it changed.
#[test]
fn the_mesh_hook_gives_a_game_each_node_entity_with_its_voxels() {
    use bevy::ecs::system::RunSystemOnce;
    #[derive(Component, Debug, PartialEq)]
    struct Stones(usize);
    fn tag(mut commands: Commands, mut meshed: MessageReader<NodeMeshed>, mut remeshed: MessageReader<NodeRemeshed>) {
        let count = |voxels: &strata_core::Chunk| {
            (0..strata_core::CHUNK_VOLUME)
                .filter(|&i| voxels.get(strata_core::LocalIndex::new(i as u16)) == STONE)
                .count()
        };
        for m in meshed.read() {
            if let Some(e) = m.entity {
                commands.entity(e).insert(Stones(count(&m.voxels)));
            }
        }
        for m in remeshed.read() {
            if let Some(e) = m.entity {
                commands.entity(e).insert(Stones(count(&m.voxels)));
            }
        }
    }
    let mut app = app_with(config());
    app.add_systems(Update, tag.after(StrataSystems::Apply));
    spawn_viewer(&mut app, Vec3::new(16.0, 8.0, 16.0));
    run_until(&mut app, 2000, "initial view streamed", idle);
    app.update();
    let here = NodeId::chunk(ChunkKey::new(0, 0, 0));
    let entity = |app: &App| app.world().resource::<StrataStreaming>().entity(here).expect("the ground chunk is shown");
    // Flat ground at y <= 0: chunk (0, 0, 0) holds one layer of stone, 32 × 32 voxels.
    assert_eq!(app.world().get::<Stones>(entity(&app)), Some(&Stones(32 * 32)));
    app.world_mut().run_system_once(|world: VoxelWorld| world.set_voxel(VoxelPos::new(3, 5, 3), STONE)).unwrap();
    run_until(&mut app, 600, "the edited node is re-tagged", |app| {
        app.world().get::<Stones>(entity(app)) == Some(&Stones(32 * 32 + 1))
    });
}

/// The material hook: with `StrataMaterialPlugin<M>`, every node surface gets the game's
/// material for its kind (opaque or transparent) instead of the plugin's, a remesh keeps it,
/// and changing `StrataMaterial` re-materials what is shown.
#[test]
fn node_meshes_take_the_games_material() {
    use bevy::ecs::system::RunSystemOnce;
    use bevy_strata::{StrataMaterial, StrataMaterialPlugin, StrataSurface};
    let mut app = crate::common::flat_app_extended(
        |plugin| plugin,
        |app| {
            app.init_asset::<StandardMaterial>().add_plugins(StrataMaterialPlugin::<StandardMaterial>::default());
        },
        config(),
        0,
    );
    let mut materials = app.world_mut().resource_mut::<Assets<StandardMaterial>>();
    let (opaque, transparent, other) = (
        materials.add(StandardMaterial { base_color: Color::BLACK, ..default() }),
        materials.add(StandardMaterial { alpha_mode: AlphaMode::Blend, ..default() }),
        materials.add(StandardMaterial { base_color: Color::WHITE, ..default() }),
    );
    app.insert_resource(StrataMaterial { opaque: opaque.clone(), transparent: transparent.clone() });
    spawn_viewer(&mut app, Vec3::new(16.0, 8.0, 16.0));
    // Water above the ground in one chunk, so a transparent surface exists too.
    wait_started(&mut app);
    app.world_mut()
        .run_system_once(|world: VoxelWorld| {
            world.fill_box(VoxelPos::new(2, 1, 2), VoxelPos::new(6, 3, 6), MaterialId(5))
        })
        .unwrap()
        .unwrap();
    run_until(&mut app, 2000, "view streamed", idle);
    app.update();
    let check = |app: &mut App, want_opaque: &Handle<StandardMaterial>| {
        let mut q = app.world_mut().query::<(&StrataSurface, Option<&MeshMaterial3d<StandardMaterial>>)>();
        let mut kinds = [0, 0];
        for (surface, material) in q.iter(app.world()) {
            let want = match surface {
                StrataSurface::Opaque => want_opaque,
                StrataSurface::Transparent => &transparent,
            };
            assert_eq!(material.map(|m| &m.0), Some(want), "{surface:?}");
            kinds[(*surface == StrataSurface::Transparent) as usize] += 1;
        }
        assert!(kinds[0] > 0 && kinds[1] > 0, "both kinds of surface are shown: {kinds:?}");
    };
    check(&mut app, &opaque);
    // A remesh keeps the game's material.
    app.world_mut().run_system_once(|world: VoxelWorld| world.set_voxel(VoxelPos::new(9, 1, 9), STONE)).unwrap();
    for _ in 0..20 {
        app.update();
    }
    check(&mut app, &opaque);
    // A new material for opaque surfaces reaches every one shown.
    app.insert_resource(StrataMaterial { opaque: other.clone(), transparent: transparent.clone() });
    app.update();
    check(&mut app, &other);
}

/// The view-completeness counter (`StrataStreaming::view_displayed`, what the fly-through's
/// `flight_view_fraction_*` and the `strata/view_displayed` diagnostic read) against a count
/// kept from the plugin's own messages: a node
/// displays a mesh from its `NodeMeshed` until its `NodeUnloaded`. Checked after every frame of
/// a flight that outruns the pipeline now and then (holes), then at rest (none).
#[test]
fn the_view_counter_matches_the_meshed_shown_nodes_frame_by_frame() {
    let mut app = app_with(config());
    let viewer = spawn_viewer(&mut app, Vec3::new(16.0, 8.0, 16.0));
    let mut displayed: std::collections::HashSet<NodeId> = Default::default();
    let check = |app: &mut App, displayed: &mut std::collections::HashSet<NodeId>| {
        for u in drain::<NodeUnloaded>(app) {
            displayed.remove(&u.node);
        }
        for m in drain::<NodeMeshed>(app) {
            displayed.insert(m.node);
        }
        let st = app.world().resource::<StrataStreaming>();
        let shown: Vec<NodeId> = st.shown_nodes().collect();
        let brute = shown.iter().filter(|n| displayed.contains(n)).count();
        assert_eq!(st.view_displayed(), (brute, shown.len()), "displayed and shown nodes");
        if !shown.is_empty() {
            let want = brute as f64 / shown.len() as f64;
            assert_eq!(latest(app, &bevy_strata::diagnostics::VIEW_DISPLAYED), Some(want), "the diagnostic");
        }
        brute < shown.len()
    };
    run_until(&mut app, 2000, "initial view streamed", |app| {
        check(app, &mut displayed);
        idle(app)
    });
    assert!(!check(&mut app, &mut displayed), "complete at rest");
    let mut holes = 0;
    for frame in 0..240 {
        let x = 16.0 + 24.0 * frame as f32;
        app.world_mut().entity_mut(viewer).insert(Transform::from_xyz(x, 8.0, 16.0));
        app.update();
        holes += usize::from(check(&mut app, &mut displayed));
    }
    assert!(holes > 0, "a viewer this fast leaves holes for some frames");
    run_until(&mut app, 2000, "view at rest again", |app| {
        check(app, &mut displayed);
        idle(app)
    });
    assert!(!check(&mut app, &mut displayed), "complete at rest");
}

/// The newest measurement of diagnostic `path`.
fn latest(app: &App, path: &bevy::diagnostic::DiagnosticPath) -> Option<f64> {
    app.world().resource::<bevy::diagnostic::DiagnosticsStore>().get(path).and_then(|d| d.value())
}

/// Whether two octree nodes overlap (one holds the other), from their chunk ranges.
fn nodes_overlap(a: NodeId, b: NodeId) -> bool {
    let ((alo, ahi), (blo, bhi)) = (a.chunk_range(), b.chunk_range());
    (0..3).all(|i| alo[i] <= bhi[i] && blo[i] <= ahi[i])
}

#[test]
fn lod_changes_keep_the_old_meshes_until_the_new_ones_show() {
    // Two tasks in flight: the meshes of a split node's children arrive in different
    // frames, so frames end with some of them meshed and others not.
    let mut app = app_with(StrataConfig { max_tasks_in_flight: 2, ..config() });
    let viewer = spawn_viewer(&mut app, Vec3::new(16.0, 8.0, 16.0));
    let mut meshed: std::collections::HashSet<NodeId> = Default::default();
    // Per frame, from the ECS alone: visible node entities never overlap, and the covered
    // count is the shown nodes with a mesh or under a visible entity of a node no longer shown.
    let check = |app: &mut App, meshed: &mut std::collections::HashSet<NodeId>| -> (usize, usize) {
        for u in drain::<NodeUnloaded>(app) {
            meshed.remove(&u.node);
        }
        for m in drain::<NodeMeshed>(app) {
            meshed.insert(m.node);
        }
        let visible: Vec<NodeId> = app
            .world_mut()
            .query::<(&bevy_strata::StrataNode, &Visibility)>()
            .iter(app.world())
            .filter(|(_, v)| **v != Visibility::Hidden)
            .map(|(n, _)| n.0)
            .collect();
        for (i, a) in visible.iter().enumerate() {
            for b in &visible[i + 1..] {
                assert!(!nodes_overlap(*a, *b), "{a:?} and {b:?} are both on screen");
            }
        }
        let st = app.world().resource::<StrataStreaming>();
        let shown: Vec<NodeId> = st.shown_nodes().collect();
        let on_screen: Vec<NodeId> = visible.iter().copied().filter(|n| !st.is_shown(*n)).collect();
        assert_eq!(on_screen.len(), st.retired_displays(), "every retired display is on screen");
        // Retired nodes meshed empty have no entity: their place shows nothing, as before.
        let retired: Vec<NodeId> = st.retired_nodes().collect();
        assert!(on_screen.iter().all(|n| retired.contains(n)), "an entity of a node neither shown nor retired");
        let covered =
            shown.iter().filter(|n| meshed.contains(n) || retired.iter().any(|r| nodes_overlap(*r, **n))).count();
        assert_eq!(st.view_covered(), (covered, shown.len()), "covered and shown nodes");
        let (displayed, _) = st.view_displayed();
        if !shown.is_empty() {
            let want = covered as f64 / shown.len() as f64;
            assert_eq!(latest(app, &bevy_strata::diagnostics::VIEW_COVERED), Some(want), "the diagnostic");
        }
        (displayed, covered)
    };
    run_until(&mut app, 2000, "initial view streamed", |app| {
        check(app, &mut meshed);
        idle(app)
    });
    let (mut strict_holes, mut covered_holes, mut kept, mut held) = (0, 0, 0, 0);
    // Along the ground at 4 voxels a frame: nodes ahead split, nodes behind merge.
    for frame in 0..480 {
        let x = 16.0 + 4.0 * frame as f32;
        app.world_mut().entity_mut(viewer).insert(Transform::from_xyz(x, 8.0, 16.0));
        app.update();
        std::thread::sleep(std::time::Duration::from_millis(1));
        let (displayed, covered) = check(&mut app, &mut meshed);
        let shown = app.world().resource::<StrataStreaming>().shown_nodes().count();
        strict_holes += shown - displayed;
        covered_holes += shown - covered;
        kept += app.world().resource::<StrataStreaming>().retired_displays();
        held += app
            .world_mut()
            .query::<(&bevy_strata::StrataNode, &Visibility)>()
            .iter(app.world())
            .filter(|(_, v)| **v == Visibility::Hidden)
            .count();
    }
    eprintln!(
        "hand-over: {covered_holes} uncovered vs {strict_holes} unmeshed node-frames, {kept} retired and {held} held display-frames"
    );
    assert!(kept > 0, "level changes kept old displays on screen");
    // A new mesh is held hidden only when it lands while an old display still covers part of
    // its place: a few dozen display-frames of this walk on an idle machine, none when the
    // machine is loaded and results land in whole sets (seen in CI). That it never shows over
    // an old display is checked every frame above (no two visible nodes overlap); here it is
    // only reported.
    if held == 0 {
        eprintln!("no new mesh had to wait behind an old display in this run");
    }
    assert!(covered_holes < strict_holes, "old displays stood in for new nodes ({covered_holes} vs {strict_holes})");
    run_until(&mut app, 2000, "view at rest again", |app| {
        check(app, &mut meshed);
        idle(app)
    });
    let st = app.world().resource::<StrataStreaming>();
    assert_eq!(st.retired_displays(), 0, "nothing is kept once the view is complete");
    let with_entity = st.shown_nodes().filter(|n| st.entity(*n).is_some()).count();
    let entities = app.world_mut().query::<&bevy_strata::StrataNode>().iter(app.world()).count();
    assert_eq!(entities, with_entity, "no entity outlives its node");
}
