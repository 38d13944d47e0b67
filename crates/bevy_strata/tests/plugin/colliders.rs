//! Voxel colliders with avian's `PhysicsPlugins` (feature `avian`): a dynamic box dropped on the
//! streamed ground comes to rest on the surface, sinks through water dug under it onto the
//! pit's floor, collider entities exist only for chunks in range of an anchor, and a
//! floating origin shift moves bodies and colliders together.

use crate::common::*;
use avian3d::prelude::*;
use bevy::ecs::system::RunSystemOnce;
use bevy::prelude::*;
use bevy_strata::colliders::{
    CollidesWithVoxels, StrataColliderSettings, StrataColliders, StrataCollidersPlugin, VoxelChunkCollider,
};
use bevy_strata::prelude::*;
use strata_core::ChunkKey;

fn physics_app(config: StrataConfig) -> App {
    flat_app_extended(
        |plugin| plugin,
        |app| {
            app.add_plugins((TransformPlugin, PhysicsPlugins::default(), StrataCollidersPlugin));
        },
        config,
        0,
    )
}

fn colliders(app: &App) -> &StrataColliders {
    app.world().resource::<StrataColliders>()
}

/// Updates until no collider build is running and every chunk in range that has colliding
/// voxels has its collider.
fn wait_colliders_settled(app: &mut App, what: &str) {
    run_until(app, 900, what, |app| {
        let s = colliders(app).stats();
        s.builds_in_flight == 0 && s.colliders > 0 && s.builds_done > 0
    });
}

/// A dynamic 1-voxel box with its centre at `at` (render space), anchoring colliders.
fn drop_box(app: &mut App, at: Vec3) -> Entity {
    app.world_mut()
        .spawn((
            RigidBody::Dynamic,
            Collider::cuboid(1.0, 1.0, 1.0),
            CollidesWithVoxels,
            Transform::from_translation(at),
        ))
        .id()
}

fn body_y(app: &App, e: Entity) -> f32 {
    app.world().get::<Position>(e).unwrap().0.y
}

/// Updates until the body has stopped moving (its height changed less than 1e-4 over 30
/// frames), within `frames`.
fn wait_rest(app: &mut App, e: Entity, frames: usize, what: &str) -> f32 {
    let mut history = std::collections::VecDeque::new();
    run_until(app, frames, what, |app| {
        history.push_back(body_y(app, e));
        if history.len() > 30 {
            history.pop_front();
        }
        let (lo, hi) = history.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &y| (lo.min(y), hi.max(y)));
        history.len() == 30 && hi - lo < 1e-4
    });
    body_y(app, e)
}

#[test]
fn a_dropped_box_rests_on_the_surface_and_sinks_through_water_dug_under_it() {
    // Ground: stone at y <= 0, so the surface is the plane y = 1.
    let mut app = physics_app(small_view());
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(0.0, 20.0, 0.0)));
    wait_started(&mut app);
    wait_colliders_settled(&mut app, "the ground near the viewer has colliders");
    // A 1-voxel box dropped from 6 voxels up (its centre at 7.5).
    let body = drop_box(&mut app, Vec3::new(5.5, 7.5, 5.5));
    let rest = wait_rest(&mut app, body, 900, "the box comes to rest");
    assert!((rest - 1.5).abs() < 0.02, "the box rests on the surface (centre {rest}, want 1.5)");
    let x = app.world().get::<Position>(body).unwrap().0;
    assert!((x.x - 5.5).abs() < 0.05 && (x.z - 5.5).abs() < 0.05, "it fell straight: {x}");

    // Dig a pit 4 deep under it and fill its lower half with water (fluids do not collide).
    let builds_before = colliders(&app).stats().builds_done;
    app.world_mut()
        .run_system_once(|world: VoxelWorld| {
            world.fill_box(VoxelPos::new(2, -3, 2), VoxelPos::new(9, 0, 9), MaterialId::AIR).unwrap();
            world.fill_box(VoxelPos::new(2, -3, 2), VoxelPos::new(9, -2, 9), MaterialId(5)).unwrap();
        })
        .unwrap();
    // The edit's chunk is rebuilt within a few frames (measured: the latency is the frame that
    // applies the edit, the build on a worker, and the frame that installs it).
    let mut frames = 0;
    run_until(&mut app, 60, "the dug chunk's collider is rebuilt", |app| {
        frames += 1;
        colliders(app).stats().builds_done > builds_before && colliders(app).stats().builds_in_flight == 0
    });
    eprintln!("the dug chunk's collider was rebuilt {frames} frames after the edit");
    assert!(frames <= 10, "rebuilt {frames} frames after the edit");
    let floor = wait_rest(&mut app, body, 900, "the box comes to rest in the pit");
    assert!((floor - (-3.0 + 0.5)).abs() < 0.02, "the box rests on the pit's floor under the water (centre {floor})");
}

#[test]
fn colliders_exist_only_for_chunks_in_range() {
    let mut app = physics_app(small_view());
    app.insert_resource(StrataColliderSettings { collider_distance: 24.0, ..default() });
    let viewer = app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(0.5, 4.0, 0.5))).id();
    wait_started(&mut app);
    wait_colliders_settled(&mut app, "colliders near the viewer");
    // A box anchor far off along x (and no viewer there): its chunks get colliders too.
    app.world_mut().spawn((CollidesWithVoxels, Transform::from_xyz(300.5, 4.0, 0.5)));
    let in_range = |app: &mut App| -> Vec<(ChunkKey, bool)> {
        let anchors: Vec<Vec3> = app
            .world_mut()
            .query_filtered::<&Transform, Or<(With<CollidesWithVoxels>, With<StreamingViewer>)>>()
            .iter(app.world())
            .map(|t| t.translation)
            .collect();
        app.world_mut()
            .query::<&VoxelChunkCollider>()
            .iter(app.world())
            .map(|c| {
                let min = Vec3::new(c.chunk.x as f32, c.chunk.y as f32, c.chunk.z as f32) * 32.0;
                let near = anchors.iter().any(|a| a.clamp(min, min + 32.0).distance(*a) <= 24.0);
                (c.chunk, near)
            })
            .collect()
    };
    run_until(&mut app, 900, "the far anchor's ground has colliders", |app| {
        in_range(app).iter().any(|(k, _)| k.x >= 8)
    });
    // Move the viewer away along z in big steps; every frame, every collider is in range.
    for step in 0..40 {
        app.world_mut().get_mut::<Transform>(viewer).unwrap().translation.z += 8.0;
        app.update();
        let out: Vec<ChunkKey> = in_range(&mut app).into_iter().filter(|(_, near)| !near).map(|(k, _)| k).collect();
        assert!(out.is_empty(), "step {step}: colliders out of range: {out:?}");
    }
    // Around the start, nothing is left (the viewer is 320 voxels away).
    let near_start = in_range(&mut app).iter().filter(|(k, _)| k.x.abs() <= 1 && k.z.abs() <= 1).count();
    assert_eq!(near_start, 0, "colliders stayed behind");
    let e = app.world_mut().query::<(Entity, &VoxelChunkCollider)>().iter(app.world()).next().map(|(e, _)| e);
    assert!(e.is_some_and(|e| app.world().get::<RigidBody>(e) == Some(&RigidBody::Static)));
}

#[test]
fn a_resting_box_and_the_colliders_follow_a_floating_origin_shift() {
    let mut app = physics_app(StrataConfig { recenter_distance: 48.0, ..small_view() });
    let viewer = app
        .world_mut()
        .spawn((StreamingViewer::default(), StrataFloatingOrigin, Transform::from_xyz(0.5, 20.0, 0.5)))
        .id();
    wait_started(&mut app);
    wait_colliders_settled(&mut app, "the ground near the viewer has colliders");
    let body = drop_box(&mut app, Vec3::new(5.5, 4.5, 5.5));
    wait_rest(&mut app, body, 900, "the box comes to rest");
    // The viewer steps 100 voxels along x: the origin recentres, every top-level Transform
    // (the box's and the colliders' too) shifts back by the same whole number of voxels.
    app.world_mut().get_mut::<Transform>(viewer).unwrap().translation.x += 100.0;
    for _ in 0..90 {
        app.update();
    }
    let origin = *app.world().resource::<StrataOrigin>();
    assert!(origin.voxel.x >= 100, "the origin moved: {origin:?}");
    let at = app.world().get::<Position>(body).unwrap().0;
    let want = origin.to_render(VoxelPos::new(5, 1, 5)) + Vec3::new(0.5, 0.5, 0.5);
    assert!(at.distance(want) < 0.02, "the box still rests where it was in the world: {at}, want {want}");
    let misplaced: Vec<ChunkKey> = app
        .world_mut()
        .query::<(&VoxelChunkCollider, &Transform)>()
        .iter(app.world())
        .filter(|(c, t)| t.translation != origin.to_render(c.chunk.min_voxel()))
        .map(|(c, _)| c.chunk)
        .collect();
    assert!(misplaced.is_empty(), "colliders not at their chunks: {misplaced:?}");
}
