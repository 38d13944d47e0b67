//! `VoxelMover`: a character falls onto the streamed ground and rests exactly on it, falls
//! again when the ground under it is dug away, and stops at a wall built in front of it.

use crate::common::*;
use bevy::ecs::system::RunSystemOnce;
use bevy::math::DVec3;
use bevy::prelude::*;
use bevy_strata::prelude::*;

/// A mover carrying a viewer (so its surroundings stream), dropped at `feet` (render space).
fn spawn_mover(app: &mut App, feet: Vec3) -> Entity {
    app.world_mut().spawn((VoxelMover::default(), StreamingViewer::default(), Transform::from_translation(feet))).id()
}

fn mover(app: &App, e: Entity) -> VoxelMover {
    app.world().get::<VoxelMover>(e).unwrap().clone()
}

#[test]
fn a_mover_lands_on_the_ground_and_falls_when_it_is_dug_away() {
    // Ground: the voxels at y <= 0, so the surface is the plane y = 1.
    let mut app = flat_app(small_view(), 0);
    let e = spawn_mover(&mut app, Vec3::new(5.5, 12.0, 5.5));
    wait_started(&mut app);
    // It waits where it is until its chunk is resident (unloaded voxels block), then falls.
    run_until(&mut app, 600, "the mover lands", |app| {
        let m = mover(app, e);
        m.grounded && m.feet().is_some_and(|f| f.y < 12.0)
    });
    let m = mover(&app, e);
    assert_eq!(m.feet().unwrap(), DVec3::new(5.5, 1.0, 5.5), "exactly on the surface");
    assert_eq!(app.world().get::<Transform>(e).unwrap().translation, Vec3::new(5.5, 1.0, 5.5));
    assert_eq!(m.velocity, DVec3::ZERO);
    // Resting: it stays put, frame after frame.
    for _ in 0..30 {
        app.update();
    }
    assert_eq!(mover(&app, e).feet().unwrap(), DVec3::new(5.5, 1.0, 5.5));
    // Dig a pit four voxels deep under it: it falls to the pit's floor.
    app.world_mut()
        .run_system_once(|world: VoxelWorld| {
            world.fill_box(VoxelPos::new(3, -3, 3), VoxelPos::new(8, 0, 8), MaterialId::AIR).unwrap();
        })
        .unwrap();
    run_until(&mut app, 600, "the mover falls into the pit", |app| {
        mover(app, e).feet().is_some_and(|f| f.y == -3.0) && mover(app, e).grounded
    });
    assert_eq!(mover(&app, e).feet().unwrap(), DVec3::new(5.5, -3.0, 5.5));
}

#[test]
fn a_walking_mover_stops_at_a_wall_and_climbs_a_step() {
    let mut app = flat_app(small_view(), 0);
    let e = spawn_mover(&mut app, Vec3::new(0.5, 1.0, 0.5));
    wait_started(&mut app);
    app.world_mut()
        .run_system_once(|world: VoxelWorld| {
            // A one-voxel step at x = 4.., then a wall three high at x = 10.
            world.fill_box(VoxelPos::new(4, 1, -4), VoxelPos::new(12, 1, 4), MaterialId(1)).unwrap();
            world.fill_box(VoxelPos::new(10, 2, -4), VoxelPos::new(12, 4, 4), MaterialId(1)).unwrap();
        })
        .unwrap();
    run_until(&mut app, 600, "the mover stands", |app| mover(app, e).grounded);
    app.world_mut().get_mut::<VoxelMover>(e).unwrap().velocity.x = 4.0;
    run_until(&mut app, 600, "the mover reaches the wall", |app| {
        let mut m = app.world_mut().get_mut::<VoxelMover>(e).unwrap();
        let at_wall = m.body().is_some_and(|b| b.max[0] == 10.0);
        // Keep walking: a blocked axis loses its velocity, so the game sets it each frame.
        m.velocity.x = 4.0;
        at_wall
    });
    let body = mover(&app, e).body().unwrap();
    assert_eq!(body.min[1], 2.0, "on top of the step");
    assert_eq!(body.max[0], 10.0, "against the wall's face");
}
