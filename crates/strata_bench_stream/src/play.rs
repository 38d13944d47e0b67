//! `strata_flythrough --play [--seconds S]`: `play.main_thread_p99_ms`, the main thread of a game
//! while its player walks and digs, headless.
//!
//! **The game.** What `examples/game.rs` runs, without a window: `MinimalPlugins` (the same
//! pools as the fly-through, [`Pools::STRATA`]) + `TransformPlugin` + [`StrataMinimalPlugins`]
//! with the game's configuration (view distance 192, default LOD, in-memory world, default
//! terrain) + avian's `PhysicsPlugins` + [`StrataCollidersPlugin`]. The player is a
//! [`VoxelMover`] (0.6 × 1.8 × 0.6, the game's gravity) that is also the viewer and the floating
//! origin, spawned above the ground at the origin.
//!
//! **What it does**, in systems of the app (so their cost is in the frame): walks at the game's
//! speed (4.5 voxels per second) along a heading that turns 0.15 rad per second, jumps when a
//! wall stops it; 4 times per second casts the crosshair ray (eye height 1.6, 35° down, reach 6)
//! and digs the voxel it hits, and every fourth time builds a stone block against the face
//! instead; every 2 s drops a crate (an avian box with `CollidesWithVoxels`; 16 at most, the
//! oldest goes). Frames are paced at 60 per second as with vsync.
//!
//! **Measured**: wall time of `App::update` per frame over `seconds` (default 30) of walking,
//! which starts once the player has fallen from its spawn point, two voxels above the ground,
//! and stands on it (`ground_s` after the first frame: the game's time to first view). The result line: `play_p99_ms`, `play_max_ms`, `frames`, `ground_s`, `digs`,
//! `builds`, `walked_voxels`, `crates`, `colliders` (chunk colliders at the end), and the pools.

use crate::pools::Pools;
use crate::scenario::Percentiles;
use avian3d::prelude::*;
use bevy::math::DVec3;
use bevy::prelude::*;
use bevy_strata::colliders::{CollidesWithVoxels, StrataColliders, StrataCollidersPlugin};
use bevy_strata::prelude::*;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use strata_geo::{NoiseTerrain, TerrainConfig};

const WALK: f64 = 4.5;
const JUMP: f64 = 8.8;
const EYE: f32 = 1.6;
const REACH: f32 = 6.0;
const TURN_PER_S: f64 = 0.15;
const MAX_CRATES: usize = 16;

#[derive(Component)]
struct Player;

/// What the player did.
#[derive(Resource, Default)]
struct Activity {
    /// Walking (after the first landing).
    walking: bool,
    /// The feet's height at the spawn point (world voxels).
    spawn_y: f64,
    heading: f64,
    since_dig: f32,
    since_crate: f32,
    digs: u64,
    builds: u64,
    walked: f64,
    last_feet: Option<DVec3>,
    crates: VecDeque<Entity>,
    dropped: u64,
}

/// Before the mover moves: the walking velocity, a jump when a wall stopped the last step.
fn steer(time: Res<Time>, mut activity: ResMut<Activity>, mut player: Single<&mut VoxelMover, With<Player>>) {
    if !activity.walking {
        return;
    }
    activity.heading += TURN_PER_S * time.delta_secs_f64();
    // The mover zeroes the velocity of an axis a wall stopped (the heading is never axis-aligned
    // exactly, so both parts are set every frame).
    let stopped = player.velocity.x == 0.0 || player.velocity.z == 0.0;
    if stopped && player.grounded {
        player.velocity.y = JUMP;
    }
    player.velocity.x = WALK * activity.heading.cos();
    player.velocity.z = WALK * activity.heading.sin();
}

/// After the frame's results: dig or build under the crosshair, drop crates, count the walk.
fn act(
    mut commands: Commands,
    time: Res<Time>,
    world: VoxelWorld,
    mut activity: ResMut<Activity>,
    player: Single<(&VoxelMover, &Transform), With<Player>>,
) {
    let (mover, transform) = *player;
    if !activity.walking {
        // Landed: grounded after falling from the spawn point (a mover also stands still on
        // a chunk that is not resident yet, which is not the ground).
        activity.walking = mover.grounded && mover.feet().is_some_and(|f| f.y <= activity.spawn_y - 1.0);
        return;
    }
    if let (Some(feet), Some(last)) = (mover.feet(), activity.last_feet) {
        activity.walked += (feet - last).length();
    }
    activity.last_feet = mover.feet();
    activity.since_dig += time.delta_secs();
    activity.since_crate += time.delta_secs();
    let heading = activity.heading as f32;
    let look =
        Vec3::new(heading.cos(), 0.0, heading.sin()) * 35f32.to_radians().cos() - Vec3::Y * 35f32.to_radians().sin();
    let eye = transform.translation + Vec3::Y * EYE;
    if activity.since_dig >= 0.25 {
        activity.since_dig = 0.0;
        if let Ok(dir) = Dir3::new(look)
            && let Some(hit) = world.raycast(Ray3d::new(eye, dir), REACH)
        {
            if (activity.digs + activity.builds) % 4 == 3 {
                world.set_voxel(hit.adjacent(), MaterialId(1));
                activity.builds += 1;
            } else {
                world.set_voxel(hit.voxel, MaterialId::AIR);
                activity.digs += 1;
            }
        }
    }
    if activity.since_crate >= 2.0 {
        activity.since_crate = 0.0;
        let at = eye + look.with_y(0.0).normalize_or_zero() * 3.0 + Vec3::Y * 2.0;
        let c = commands
            .spawn((
                RigidBody::Dynamic,
                Collider::cuboid(0.8, 0.8, 0.8),
                CollidesWithVoxels,
                Transform::from_translation(at),
            ))
            .id();
        activity.crates.push_back(c);
        activity.dropped += 1;
        if activity.crates.len() > MAX_CRATES
            && let Some(old) = activity.crates.pop_front()
        {
            commands.entity(old).despawn();
        }
    }
}

/// Runs the game headless for `seconds` of walking; returns the result line.
pub fn run(seconds: f64) -> Result<String, String> {
    let config = StrataConfig { save_path: None, view_distance: 192.0, ..StrataConfig::default() };
    let terrain = NoiseTerrain::new(TerrainConfig { seed: config.terrain_seed, ..TerrainConfig::default() });
    let ground = terrain.height(0, 0).max(terrain.config().sea_level);
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins.set(Pools::STRATA.plugin()),
        TransformPlugin,
        StrataMinimalPlugins::new(config),
        PhysicsPlugins::default(),
        StrataCollidersPlugin,
    ))
    .insert_resource(Gravity(Vec3::NEG_Y * 28.0))
    .insert_resource(Activity { spawn_y: f64::from(ground) + 3.0, ..Activity::default() })
    .add_systems(Update, steer.before(StrataSystems::Move))
    .add_systems(Update, act.after(StrataSystems::Apply));
    app.world_mut().spawn((
        Player,
        VoxelMover::default(),
        StreamingViewer::default(),
        StrataFloatingOrigin,
        Transform::from_xyz(0.5, ground as f32 + 3.0, 0.5),
    ));
    app.finish();
    app.cleanup();

    let frame = Duration::from_secs_f64(1.0 / 60.0);
    let start = Instant::now();
    let paced = |app: &mut App, out: Option<&mut Vec<f64>>| {
        let tick = Instant::now();
        app.update();
        if let Some(out) = out {
            out.push(tick.elapsed().as_secs_f64() * 1e3);
        }
        if let Some(rest) = frame.checked_sub(tick.elapsed()) {
            std::thread::sleep(rest);
        }
    };
    while !app.world().resource::<Activity>().walking {
        if start.elapsed() > Duration::from_secs(300) {
            return Err("the player did not land within 300 s".into());
        }
        paced(&mut app, None);
    }
    let ground_s = start.elapsed().as_secs_f64();
    let mut frame_ms = Vec::new();
    let walk = Instant::now();
    while walk.elapsed().as_secs_f64() < seconds {
        paced(&mut app, Some(&mut frame_ms));
    }
    let a = app.world().resource::<Activity>();
    if a.digs == 0 || a.walked < seconds * WALK * 0.3 {
        return Err(format!("the player did not play: {} digs, {:.1} voxels walked", a.digs, a.walked));
    }
    let p = Percentiles::of(&frame_ms);
    Ok(format!(
        "play_p99_ms={} play_max_ms={} frames={} ground_s={ground_s} digs={} builds={} walked_voxels={} crates={} colliders={} {}",
        p.p99_ms,
        p.max_ms,
        frame_ms.len(),
        a.digs,
        a.builds,
        a.walked,
        a.dropped,
        app.world().resource::<StrataColliders>().stats().colliders,
        Pools::STRATA.describe(),
    ))
}
