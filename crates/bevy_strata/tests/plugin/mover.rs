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

/// A ball of stone of radius [`BALL`] centred on voxel (0, 0, 0): up points away from the
/// centre along the axis the chunk lies farthest on (a planet in miniature).
struct Ball;

const BALL: i64 = 40;

impl WorldGenerator for Ball {
    fn material_at(&self, p: VoxelPos) -> MaterialId {
        let [x, y, z] = p.to_array().map(i64::from);
        if x * x + y * y + z * z <= BALL * BALL { STONE } else { MaterialId::AIR }
    }
    fn world_up(&self) -> strata_core::WorldUp {
        strata_core::WorldUp::AwayFrom { centre: [0, 0, 0] }
    }
}

fn ball_app() -> App {
    let mut app = App::new();
    let plugin = StrataPlugin::new(small_view()).with_generator(std::sync::Arc::new(Ball));
    app.add_plugins((MinimalPlugins, StrataMinimalPlugins::with_plugin(plugin)))
        .insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(std::time::Duration::from_millis(16)));
    app.finish();
    app.cleanup();
    app
}

/// Whether the mover's box overlaps a stone voxel of the ball (brute force over its voxels).
fn overlaps_the_ball(m: &VoxelMover) -> bool {
    let Some(b) = m.body() else { return false };
    let span = |a: usize| b.min[a].floor() as i32..=(b.max[a].ceil() as i32 - 1);
    span(0).any(|x| span(1).any(|y| span(2).any(|z| Ball.material_at(VoxelPos::new(x, y, z)) == STONE)))
}

#[test]
fn on_a_ball_a_mover_falls_toward_the_centre_on_every_side() {
    let r = BALL as f32;
    // Dropped 20 voxels above the surface on each side: it lands on the ball's top voxel
    // layer along that side's up.
    let cases = [
        (Vec3::new(r + 20.5, 0.5, 0.5), strata_core::Face::PosX, DVec3::new(r as f64 + 1.0, 0.5, 0.5)),
        (Vec3::new(0.5, -r - 20.0, 0.5), strata_core::Face::NegY, DVec3::new(0.5, -r as f64, 0.5)),
        (Vec3::new(0.5, 0.5, -r - 20.0), strata_core::Face::NegZ, DVec3::new(0.5, 0.5, -r as f64)),
        (Vec3::new(0.5, r + 20.0, 0.5), strata_core::Face::PosY, DVec3::new(0.5, r as f64 + 1.0, 0.5)),
    ];
    for (drop, up, rest) in cases {
        let mut app = ball_app();
        let e = spawn_mover(&mut app, drop);
        wait_started(&mut app);
        // Chunks not resident yet block: it waits where it is until they are, then falls.
        run_until(&mut app, 900, "the mover lands", |app| {
            let m = mover(app, e);
            m.grounded && m.feet().is_some_and(|f| f != drop.as_dvec3())
        });
        let m = mover(&app, e);
        assert_eq!(m.up(), up, "dropped at {drop}");
        assert_eq!(m.feet().unwrap(), rest, "{up:?}: resting on the ball's surface along its up");
        assert!(!overlaps_the_ball(&m), "{up:?}");
        assert_eq!(app.world().get::<Transform>(e).unwrap().translation, rest.as_vec3());
    }
}

#[test]
fn walking_over_the_ball_turns_the_mover_where_its_up_changes() {
    let mut app = ball_app();
    let e = spawn_mover(&mut app, Vec3::new(0.5, BALL as f32 + 1.0, 0.5));
    wait_started(&mut app);
    run_until(&mut app, 900, "the mover stands on top", |app| mover(app, e).grounded);
    assert_eq!(mover(&app, e).up(), strata_core::Face::PosY);
    run_until(&mut app, 3000, "the view streams in", |app| app.world().resource::<StrataStreaming>().is_idle());
    // Walk "forward" (toward +X on top, down the side once up is +X), as a game steers: across
    // the current up, every frame.
    let mut ups = vec![strata_core::Face::PosY];
    for frame in 0..1500 {
        {
            let mut m = app.world_mut().get_mut::<VoxelMover>(e).unwrap();
            let up = m.up();
            let forward = match up {
                strata_core::Face::PosY => DVec3::X,
                _ => DVec3::NEG_Y,
            };
            let along_up = m.velocity.dot(m.up_vector());
            m.velocity = forward * 6.0 + m.up_vector() * along_up;
        }
        app.update();
        // Give the task pools time (as `run_until` does): chunks ahead load while it walks.
        std::thread::sleep(std::time::Duration::from_millis(1));
        let m = mover(&app, e);
        assert!(!overlaps_the_ball(&m), "frame {frame}: {:?} overlaps the ball", m.body());
        if ups.last() != Some(&m.up()) {
            ups.push(m.up());
        }
        if m.up() == strata_core::Face::PosX && m.grounded && m.feet().unwrap().y < 0.0 {
            break;
        }
    }
    let m = mover(&app, e);
    assert_eq!(m.up(), strata_core::Face::PosX, "ups seen {ups:?}");
    assert!(m.grounded && m.feet().unwrap().y < 0.0, "walked down the +X side: {:?}", m.feet());
    let f = m.feet().unwrap();
    assert!((f.length() - BALL as f64).abs() < 3.0, "on the surface: {f}");
}
