//! Residency: a long flight with a small voxel budget stays within it (world cache and index
//! together), and edits made at the start are still there — voxels, rays and coarse LOD —
//! while released and when the viewer comes back.

use crate::common::{flat_app, run_until, small_view};
use bevy::ecs::system::RunSystemOnce;
use bevy::prelude::*;
use bevy_strata::prelude::*;
use bevy_strata::{StrataStreaming, StrataWorld};
use std::collections::HashSet;
use std::sync::Arc;
use strata_core::ChunkKey;
use strata_index::{HitFilter, NodeId, RayError, RayOptions};

const TOWER: MaterialId = MaterialId(4);
const BUDGET_MIB: usize = 12;

fn app() -> App {
    let save = tempfile::tempdir().unwrap().keep().join("residency.strata");
    let config = StrataConfig {
        commit_interval_s: 0.2,
        voxel_budget_mib: BUDGET_MIB,
        save_path: Some(save.to_string_lossy().into_owned()),
        ..small_view()
    };
    // Ground at y = 5: every chunk of the y = 0 layer is dense (64 KiB).
    flat_app(config, 5)
}

/// Voxel bytes held by the world cache and the index, each allocation once: the cache's
/// chunks, the index's own (grids, released chunks' contributions) and any chunk the index
/// holds that is not the cache's copy.
fn resident_voxel_bytes(sw: &StrataWorld) -> usize {
    let snap = sw.index();
    let not_shared: usize = snap
        .rtree_entries()
        .filter_map(|e| e.chunk.as_ref().map(|c| (e.key, c)))
        .filter(|(k, c)| !sw.world.resident_chunk(*k).is_some_and(|r| Arc::ptr_eq(&r, c)))
        .map(|(_, c)| c.heap_bytes())
        .sum();
    sw.world.stats().resident_bytes + snap.memory().own_voxel_bytes() + not_shared
}

fn idle(app: &mut App) -> bool {
    app.world().resource::<StrataStreaming>().is_idle()
        && app.world().resource::<StrataWorld>().index_memory().nodes > 0
}

fn cast_down(app: &mut App, x: f64, z: f64) -> Result<Option<strata_index::RayHit>, RayError> {
    app.world_mut()
        .run_system_once(move |world: VoxelWorld| {
            let options = RayOptions { max_distance: 200.0, filter: HitFilter::NonAir, ..RayOptions::default() };
            world.raycast_world([x, 100.0, z], [0.0, -1.0, 0.0], &options)
        })
        .unwrap()
}

#[test]
fn a_long_flight_stays_within_the_voxel_budget_and_edits_survive_release() {
    let mut app = app();
    let viewer = app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0))).id();
    run_until(&mut app, 3000, "initial view", idle);
    // A tower over four chunks, committed before the flight (dirty chunks are never released).
    app.world_mut()
        .run_system_once(|world: VoxelWorld| world.fill_box(VoxelPos::new(0, 0, 0), VoxelPos::new(40, 60, 40), TOWER))
        .unwrap()
        .unwrap();
    run_until(&mut app, 500, "edits committed", |app| {
        let w = app.world().resource::<StrataWorld>().world.stats();
        w.pending_edits == 0 && w.dirty_chunks == 0
    });
    let tower: Vec<ChunkKey> =
        (0..2).flat_map(|x| (0..2).flat_map(move |y| (0..2).map(move |z| ChunkKey::new(x, y, z)))).collect();

    // Fly 100 chunks along +x, 16 voxels a step, letting each view stream in.
    let budget = BUDGET_MIB << 20;
    let (mut peak, mut seen) = (0usize, HashSet::new());
    for step in 1..=200 {
        let x = 16.0 + 16.0 * step as f32;
        app.world_mut().entity_mut(viewer).insert(Transform::from_xyz(x, 8.0, 16.0));
        run_until(&mut app, 2000, "view after a step", |app| {
            let sw = app.world().resource::<StrataWorld>();
            let bytes = resident_voxel_bytes(sw);
            assert!(bytes <= budget, "{bytes} voxel bytes resident, budget {budget}");
            peak = peak.max(bytes);
            idle(app)
        });
        let st = app.world().resource::<StrataStreaming>();
        seen.extend(st.shown_nodes().filter(|n| n.level == 0).map(|n| n.key));
    }
    assert!(seen.len() >= 2000, "the flight showed {} chunks", seen.len());

    // Far away: the tower's chunks are released, the index keeps their summaries, the coarse
    // grid above still shows the tower.
    let sw = app.world().resource::<StrataWorld>();
    let snap = sw.index();
    for k in &tower {
        assert!(!sw.world.is_resident(*k), "{k:?} still in the cache");
        assert!(snap.is_released(*k), "{k:?} not released");
    }
    // The tower fills chunk (0, 0, 0) from y = 0 up and chunk (0, 1, 0) up to y = 60.
    for k in [ChunkKey::new(0, 0, 0), ChunkKey::new(0, 1, 0)] {
        assert_eq!(snap.summary(NodeId::chunk(k)).dominant, TOWER, "summary of {k:?}");
    }
    let coarse = snap.lod_chunk(NodeId::new(2, ChunkKey::new(0, 0, 0)));
    // Level 2: a cell is 4 voxels; cell (2, 10, 2) covers voxels (8..12, 40..44, 8..12).
    let cell = strata_core::LocalPos { x: 2, y: 10, z: 2 }.index();
    assert_eq!(coarse.get(cell), TOWER, "coarse LOD lost the edit");
    let im = sw.index_memory();
    assert!(im.released_chunks >= tower.len() && im.resident_chunks < 1000, "{im:?}");

    // A ray into a released edited chunk: pending, then exact once the plugin has loaded it.
    assert_eq!(cast_down(&mut app, 8.5, 8.5), Err(RayError::NotResident { chunk: ChunkKey::new(0, 1, 0) }));
    run_until(&mut app, 500, "the ray's chunk loaded", |app| cast_down(app, 8.5, 8.5).is_ok());
    let hit = cast_down(&mut app, 8.5, 8.5).unwrap().expect("the tower");
    assert_eq!((hit.voxel, hit.material), (VoxelPos::new(8, 60, 8), TOWER));

    // Back home: voxels and meshes of the tower.
    app.world_mut().entity_mut(viewer).insert(Transform::from_xyz(16.0, 8.0, 16.0));
    run_until(&mut app, 3000, "view at home", idle);
    let got = app.world_mut().run_system_once(|world: VoxelWorld| world.voxel(VoxelPos::new(20, 30, 20))).unwrap();
    assert_eq!(got.unwrap(), TOWER);
    let st = app.world().resource::<StrataStreaming>();
    assert!(st.entity(NodeId::chunk(ChunkKey::new(0, 0, 0))).is_some(), "the tower's base is meshed again");
    eprintln!("peak resident voxel bytes {peak} of {budget}; {} chunks shown over the flight", seen.len());
}

/// The usage of every node mesh once the view is streamed.
fn node_mesh_usages(keep_mesh_data: bool) -> HashSet<bevy::asset::RenderAssetUsages> {
    let mut app = flat_app(StrataConfig { keep_mesh_data, ..small_view() }, 5);
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0)));
    run_until(&mut app, 3000, "the view", |a| a.world().resource::<StrataStreaming>().is_idle());
    let handles: Vec<Handle<Mesh>> =
        app.world_mut().query::<&Mesh3d>().iter(app.world()).map(|m| m.0.clone()).collect();
    assert!(!handles.is_empty(), "the ground has meshes");
    let meshes = app.world().resource::<Assets<Mesh>>();
    handles.iter().map(|h| meshes.get(h).expect("the mesh asset").asset_usage).collect()
}

#[test]
fn node_meshes_leave_their_data_to_the_render_world_unless_asked_to_keep_it() {
    use bevy::asset::RenderAssetUsages as U;
    assert_eq!(node_mesh_usages(false), HashSet::from([U::RENDER_WORLD]));
    assert_eq!(node_mesh_usages(true), HashSet::from([U::MAIN_WORLD | U::RENDER_WORLD]));
}
