//! A first-person walk on the streamed world, dig and build with the mouse, crates that fall
//! and tumble on the voxels, saved to `game.strata`. The player moves by one of two engines:
//! - `VoxelMover` (default): exact voxel collisions without a physics engine, steps up ledges of
//!   one voxel;
//! - avian (`--avian`, or `STRATA_GAME_PHYSICS=avian`): a dynamic capsule on the plugin's voxel
//!   colliders (`StrataCollidersPlugin`); it jumps onto ledges, it does not step up.
//!
//! Either way the crates are avian bodies on the voxel colliders.
//!
//! `cargo run --release --example game [-- --avian] [--planet] [--connect ADDR:PORT]` (or
//! `STRATA_CONNECT=ADDR:PORT`)
//!
//! Planet (`--planet`, or `STRATA_GAME_PLANET=1`): the same walk on the globe viewer's planet
//! (`PlanetGenerator`), saved to `game_planet.strata`. The mover falls toward the centre along
//! the axis the player lies farthest on (the world's up, per chunk: `VoxelMover::up`; the
//! ground's voxel terraces face it), so the player can walk anywhere on the globe; the eye stays
//! level with the true horizon (it turns with the direction away from the centre) and the
//! crates fall toward the centre. Only with the `VoxelMover` (avian's gravity is one direction
//! for the whole world).
//!
//! Cave (`--cave`, or `STRATA_GAME_CAVE=1`): the player starts in a sealed tunnel under the
//! spawn (carved when the world is ready) with a lamp on its floor: the plugin's light
//! (`StrataConfig::light`) leaves the tunnel dark but for the lamp's glow; dig up to let the
//! daylight in. Only with the `VoxelMover`.
//!
//! Multiplayer: with `--connect` the game plays on a `server` example's world (no save of its
//! own): the server sends the chunks other players edited, digging and building go to the
//! server (shown at once, undone if it refuses), and every player sees every edit.
//!
//! Controls (also on screen): click to grab the mouse, Esc to release it; mouse to look; WASD to
//! walk, Shift to run, Space to jump; left click digs the voxel under the crosshair, right click
//! builds a block against it (1: stone, 2: a lamp, which gives off light, 3: glass, 4: a stone
//! slab, 5: brick stairs, 6: a log, 7: tall grass — slabs go to the top half when set against
//! an underside or the upper half of a side, stairs climb away from the player, logs lie along
//! the face they are set against: `BlockState::placed_against`); B drops a crate; F5 saves now (the world also saves every few seconds and on exit). The save keeps
//! where the player stood (the next run starts there) and the crates: each is a
//! `PersistWithChunk` entity saved in the record of the chunk it rests in, and comes back when
//! that chunk does (`StrataPersistPlugin`), held still until its ground has a collider.
//!
//! Screenshot mode (the CI check, `tests/game_screenshot.sh`): `STRATA_SCREENSHOT=out.png cargo
//! run --example game` plays without a save, waits until the player stands on the ground and
//! streaming is idle (with `STRATA_GAME_SHOWCASE=1`, as the check runs, it first builds brick
//! stairs, stone slabs, logs along each axis and tall grass on the ground ahead and waits
//! again), drops three crates in view and waits until they rest, saves the frame,
//! checks its pixels (sky above, lit and textured ground below, the crates in view) and exits
//! non-zero if the check fails. With `--cave` it waits until the player stands in the room and
//! checks the lamp's light instead: no sky, a dark room, and a lit area around the lamp at least
//! [`CAVE_CONTRAST`] times brighter than the unlit room.
//!
//! Blocks are textured (`StrataTexturesPlugin`: `assets/textures/`, named in `materials.ron`).
//! Editing `assets/materials.ron` or a texture while the game runs changes the blocks on screen
//! (`StrataMaterialsReloadPlugin`; renumbering or removing a material needs a restart).

use avian3d::prelude::*;
use bevy::input::mouse::AccumulatedMouseMotion;
use bevy::math::DVec3;
use bevy::prelude::*;
use bevy::window::{CursorGrabMode, CursorOptions};
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, egui};
use bevy_strata::StrataWorld;
use bevy_strata::prelude::*;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use strata::core::Face;

#[path = "shared/net_world.rs"]
mod net_world;
#[path = "shared/screenshot_check.rs"]
mod screenshot_check;
use screenshot_check::{PixelCheck, screenshot_deadline, take_checked_screenshot};

/// Eye height above the feet, in voxels.
const EYE: f32 = 1.6;
/// The player's box (the mover's) or capsule (avian's): width and height, in voxels.
const PLAYER_WIDTH: f32 = 0.6;
const PLAYER_HEIGHT: f32 = 1.8;
/// Gravity, voxels per second² (the mover's default; avian's crates and capsule fall alike).
const GRAVITY: f32 = 28.0;
/// Screenshot mode gives up (exit code 3) after this many seconds of wall time (a debug build
/// under software rendering takes about 70).
const SCREENSHOT_LIMIT_S: f64 = 300.0;
/// Crates kept at most (the oldest goes first).
const MAX_CRATES: usize = 48;
/// Walking and running speed, voxels per second.
const WALK: f64 = 4.5;
const RUN: f64 = 8.0;
/// Take-off speed of a jump (about 1.4 voxels high with the mover's gravity).
const JUMP: f64 = 8.8;
/// How far the crosshair reaches, in voxels.
const REACH: f32 = 6.0;
/// The block right click builds.
const STONE: MaterialId = MaterialId(1);

/// The blocks right click builds, chosen with the keys 1 to 7 (by name in the registry; the
/// state of slabs, stairs and logs follows the face and the look, see `dig_and_build`).
const BLOCKS: [(KeyCode, &str); 7] = [
    (KeyCode::Digit1, "stone"),
    (KeyCode::Digit2, "lamp"),
    (KeyCode::Digit3, "glass"),
    (KeyCode::Digit4, "stone_slab"),
    (KeyCode::Digit5, "brick_stairs"),
    (KeyCode::Digit6, "log"),
    (KeyCode::Digit7, "tall_grass"),
];

/// The block right click builds (`BLOCKS`).
#[derive(Resource, Clone, Copy)]
struct BuildBlock(MaterialId, &'static str);

/// `--cave`: the sealed room under the spawn (its least and greatest voxels), the lamp in it
/// and where the player stands, until the room is carved and the player placed.
#[derive(Resource, Clone, Copy)]
struct Cave {
    min: VoxelPos,
    max: VoxelPos,
    lamp: VoxelPos,
    carved: bool,
    placed: bool,
}

/// What moves the player.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    /// `VoxelMover`.
    Mover,
    /// An avian dynamic capsule.
    Avian,
}

/// The planet of `--planet`, if playing on one.
#[derive(Resource, Clone)]
struct Planet(Option<Arc<PlanetGenerator>>);

/// The server to play on (`--connect ADDR:PORT`), until connected.
#[derive(Resource)]
struct ConnectTo(SocketAddr);

/// `--connect`'s address (or `STRATA_CONNECT`'s), if given (exits with a usage message on a bad
/// one).
fn server_address() -> Option<SocketAddr> {
    let mut args = std::env::args().skip_while(|a| a != "--connect").skip(1);
    let addr = args.next().or_else(|| std::env::var("STRATA_CONNECT").ok())?;
    match addr.parse() {
        Ok(addr) => Some(addr),
        Err(e) => {
            eprintln!("--connect {addr:?}: {e} (expected ADDR:PORT, e.g. 127.0.0.1:5000)");
            std::process::exit(2);
        }
    }
}

fn main() -> AppExit {
    let config = net_world::config();
    let seed = config.terrain_seed;
    let engine = if std::env::args().any(|a| a == "--avian")
        || std::env::var("STRATA_GAME_PHYSICS").is_ok_and(|v| v == "avian")
    {
        Engine::Avian
    } else {
        Engine::Mover
    };
    // The screenshot check plays in memory: it leaves no save behind; a client plays on the
    // server's world.
    let checking = std::env::var("STRATA_SCREENSHOT").is_ok();
    let server = server_address();
    let planet = (std::env::args().any(|a| a == "--planet")
        || std::env::var("STRATA_GAME_PLANET").is_ok_and(|v| v == "1"))
    .then(|| Arc::new(PlanetGenerator::default()));
    if planet.is_some() && (server.is_some() || engine == Engine::Avian) {
        eprintln!("--planet plays alone with the VoxelMover: not with --connect or --avian");
        std::process::exit(2);
    }
    let cave = std::env::args().any(|a| a == "--cave") || std::env::var("STRATA_GAME_CAVE").is_ok_and(|v| v == "1");
    if cave && (server.is_some() || engine == Engine::Avian || planet.is_some()) {
        eprintln!("--cave plays alone with the VoxelMover on the flat world: not with --connect, --avian or --planet");
        std::process::exit(2);
    }
    let cave = cave.then(|| cave_under_spawn(seed));
    let client = server.map(|_| NetClient::new("player", net_world::identity(&config)));
    let plugin = StrataPlugin::new(config.clone());
    let plugin = match &planet {
        Some(planet) => plugin.with_generator(planet.clone()),
        None => plugin,
    };
    let plugin = match &client {
        Some(client) => plugin.with_store(client.store()),
        // The screenshot mode plays without a save, unless given one (to check that crates
        // come back: run it twice on one save).
        None if checking => match std::env::var("STRATA_GAME_SAVE").ok() {
            Some(path) => plugin.with_save_file(path),
            None => plugin,
        },
        None if planet.is_some() => plugin.with_save_file("game_planet.strata"),
        None => plugin.with_save_file("game.strata"),
    };
    let mut app = App::new();
    app.add_plugins((
        DefaultPlugins.set(WindowPlugin {
            primary_window: Some(Window { title: "Strata — game".into(), ..default() }),
            ..default()
        }),
        plugin,
        PhysicsPlugins::default(),
        StrataCollidersPlugin,
        StrataTexturesPlugin::default(),
        // Edit assets/materials.ron (colours, textures, light) while the game runs.
        StrataMaterialsReloadPlugin::default(),
        EguiPlugin::default(),
    ));
    if let Some(cave) = cave {
        app.insert_resource(cave);
    }
    if client.is_none() {
        // Crates are saved with their chunks (a client's world is its server's).
        app.add_plugins(StrataPersistPlugin::default().with::<Crate>());
    }
    if let (Some(client), Some(server)) = (client, server) {
        app.add_plugins((NetPlugins, StrataNetClientPlugin))
            .insert_resource(client)
            .insert_resource(ConnectTo(server))
            .add_systems(Startup, connect);
    }
    app.insert_resource(ClearColor(SKY))
        .insert_resource(Gravity(Vec3::NEG_Y * GRAVITY))
        .insert_resource(Spawn(seed))
        .insert_resource(Planet(planet))
        .insert_resource(engine)
        .insert_resource(BuildBlock(STONE, "stone"))
        .init_resource::<Crates>()
        .add_systems(Startup, setup)
        .add_systems(
            Update,
            (
                grab_mouse,
                look,
                walk_mover.run_if(resource_equals(Engine::Mover)),
                (release_capsule, walk_capsule).chain().run_if(resource_equals(Engine::Avian)),
            )
                .chain()
                .before(StrataSystems::Move),
        )
        .add_systems(
            Update,
            (
                (footing_of_mover, turn_to_up).run_if(resource_equals(Engine::Mover)),
                footing_of_capsule.run_if(resource_equals(Engine::Avian)),
                (choose_block, dig_and_build, drop_crate, dress_crates, release_crates, save),
                carve_cave.run_if(resource_exists::<Cave>),
            )
                .chain()
                .after(StrataSystems::Apply),
        )
        .add_systems(Update, restore_player.before(StrataSystems::Move))
        .add_systems(Last, save_player.before(StrataSystems::Persist))
        .add_systems(EguiPrimaryContextPass, hud)
        .add_systems(Update, (screenshot_when_ready, screenshot_deadline(SCREENSHOT_LIMIT_S)))
        .run()
}

/// Connects to the server given with `--connect`.
fn connect(world: &mut World) {
    let Some(ConnectTo(addr)) = world.remove_resource::<ConnectTo>() else { return };
    let id = strata::core::WorldId::random().0;
    if let Err(e) = bevy_strata::net::connect(world, addr, id) {
        error!("cannot connect to {addr}: {e}");
        world.write_message(AppExit::error());
    }
}

/// The sky colour (the clear colour).
const SKY: Color = Color::srgb(0.55, 0.72, 0.92);

#[derive(Resource)]
struct Spawn(u32);

/// The player's body (it never turns: yaw and pitch are the eye's).
#[derive(Component)]
struct Player;

/// Where the player stands, whichever engine moves it (for the HUD, building and the
/// screenshot).
#[derive(Component)]
struct Footing {
    /// Feet in world voxels, once placed.
    feet: Option<DVec3>,
    /// Standing on something.
    grounded: bool,
    /// At rest on the ground (the mover: exactly on a voxel face; avian: not moving).
    settled: bool,
    /// Which way is up where it stands (`+Y` but on a planet).
    up: Face,
}

impl Default for Footing {
    fn default() -> Self {
        Self { feet: None, grounded: false, settled: false, up: Face::PosY }
    }
}

/// The first-person camera, a child of the player at eye height, looking where the mouse turned
/// it (yaw and pitch).
#[derive(Component)]
struct Eye;

/// The avian capsule waits (static) until the chunk under it has its collider.
#[derive(Component)]
struct WaitingForGround(VoxelPos);

/// A crate: saved with the chunk it rests in (with its `Transform`), dressed (mesh, body)
/// when it appears — dropped now or respawned from the save.
#[derive(Component, Reflect, Clone, Copy, Debug, Default)]
#[reflect(Component)]
struct Crate;

/// A crate dropped in this session (not saved: a crate without it came back from the save).
#[derive(Component)]
struct Dropped;

/// Crates dropped, oldest first, and their mesh and material.
#[derive(Resource)]
struct Crates {
    dropped: VecDeque<Entity>,
    look: (Handle<Mesh>, Handle<StandardMaterial>),
}

impl FromWorld for Crates {
    fn from_world(world: &mut World) -> Self {
        let mesh = world.resource_mut::<Assets<Mesh>>().add(Cuboid::from_length(CRATE_SIZE));
        let material = world.resource_mut::<Assets<StandardMaterial>>().add(CRATE_RED);
        Self { dropped: VecDeque::new(), look: (mesh, material) }
    }
}

fn setup(mut commands: Commands, spawn: Res<Spawn>, engine: Res<Engine>, planet: Res<Planet>, cave: Option<Res<Cave>>) {
    // Spawn two voxels above the generated ground at the origin (edits may have changed it:
    // the player then lands on whatever is there); on the planet, on land at 20° east, the
    // body turned to the up there.
    let (feet, ground, turn) = match &planet.0 {
        Some(planet) => {
            let feet = planet_spawn(planet);
            let up = Vec3::new(feet.x as f32, feet.y as f32, feet.z as f32).normalize();
            (feet, feet, Quat::from_rotation_arc(Vec3::Y, up))
        }
        None => match &cave {
            Some(cave) => (cave.feet(), cave.feet(), Quat::IDENTITY),
            None => {
                let terrain = NoiseTerrain::new(TerrainConfig { seed: spawn.0, ..TerrainConfig::default() });
                let ground = terrain.height(0, 0).max(terrain.config().sea_level);
                (VoxelPos::new(0, ground + 3, 0), VoxelPos::new(0, ground, 0), Quat::IDENTITY)
            }
        },
    };
    let feet = Vec3::new(feet.x as f32 + 0.5, feet.y as f32, feet.z as f32 + 0.5);
    let common = (Player, Footing::default(), StreamingViewer::default(), StrataFloatingOrigin, Visibility::default());
    let (player, eye_height) = match *engine {
        // In the cave the mover starts once the room is carved (`carve_cave`): before, the
        // player would stand in rock.
        Engine::Mover if cave.is_some() => {
            let at = Transform::from_translation(feet).with_rotation(turn);
            (commands.spawn((common, at)).id(), EYE)
        }
        Engine::Mover => {
            let at = Transform::from_translation(feet).with_rotation(turn);
            (commands.spawn((common, VoxelMover::default(), at)).id(), EYE)
        }
        // The capsule's origin is its centre; its radius is half the width, its height the
        // player's. Static until its ground has a collider, then dynamic; it never rotates and
        // slides along walls instead of sticking to them.
        Engine::Avian => (
            commands
                .spawn((
                    common,
                    RigidBody::Static,
                    Collider::capsule(PLAYER_WIDTH / 2.0, PLAYER_HEIGHT - PLAYER_WIDTH),
                    LockedAxes::ROTATION_LOCKED,
                    Friction::ZERO.with_combine_rule(CoefficientCombine::Min),
                    ShapeCaster::new(
                        Collider::sphere(PLAYER_WIDTH / 2.0 - 0.02),
                        Vec3::ZERO,
                        Quat::IDENTITY,
                        Dir3::NEG_Y,
                    )
                    .with_max_distance(PLAYER_HEIGHT / 2.0 - PLAYER_WIDTH / 2.0 + 0.1),
                    WaitingForGround(ground),
                    Transform::from_translation(feet + Vec3::Y * PLAYER_HEIGHT / 2.0),
                ))
                .id(),
            EYE - PLAYER_HEIGHT / 2.0,
        ),
    };
    commands.entity(player).with_child((Eye, Camera3d::default(), Transform::from_xyz(0.0, eye_height, 0.0)));
    commands.spawn((
        // An afternoon sun: tops lit but not washed out (the textures keep their contrast),
        // sides facing it brighter than those facing away.
        DirectionalLight { illuminance: 8_000.0, shadow_maps_enabled: false, ..default() },
        Transform::default().looking_to(Vec3::new(-0.6, -1.0, -0.45), Vec3::Y),
    ));
    commands.insert_resource(GlobalAmbientLight { brightness: 350.0, ..default() });
}

/// The sealed cave of `--cave`: a tunnel 9 voxels wide, 5 high and 46 long, its floor 24 voxels
/// under the flat world's ground at the spawn, the player at one end looking along it (−z) and
/// the lamp on the floor 7 voxels ahead: the lamp's light (14 voxels) ends halfway down.
fn cave_under_spawn(seed: u32) -> Cave {
    let terrain = NoiseTerrain::new(TerrainConfig { seed, ..TerrainConfig::default() });
    let floor = terrain.height(0, 0).min(terrain.config().sea_level) - 24;
    Cave {
        min: VoxelPos::new(-4, floor, -40),
        max: VoxelPos::new(4, floor + 4, 5),
        lamp: VoxelPos::new(0, floor, -4),
        carved: false,
        placed: false,
    }
}

impl Cave {
    /// Where the player stands: on the floor near the room's +z end.
    fn feet(&self) -> VoxelPos {
        VoxelPos::new(0, self.min.y, 3)
    }
}

/// `--cave`: once the world is ready, carves the room and sets the lamp (edits, applied as the
/// chunks load); once both show in the world, gives the player its `VoxelMover`.
fn carve_cave(
    mut commands: Commands,
    mut cave: ResMut<Cave>,
    status: Res<StrataStatus>,
    world: VoxelWorld,
    player: Single<Entity, With<Player>>,
) {
    if cave.placed || !status.is_ready() {
        return;
    }
    let lamp = world.registry().id("lamp").unwrap_or(STONE);
    if !cave.carved {
        if let Err(e) = world.fill_box(cave.min, cave.max, MaterialId::AIR) {
            error!("cannot carve the cave: {e}");
        }
        world.set_voxel(cave.lamp, lamp);
        cave.carved = true;
        return;
    }
    if world.voxel(cave.feet()) == Some(MaterialId::AIR) && world.voxel(cave.lamp) == Some(lamp) {
        commands.entity(*player).insert(VoxelMover::default());
        cave.placed = true;
    }
}

/// The keys 1 to 7 choose the block right click builds.
fn choose_block(keys: Res<ButtonInput<KeyCode>>, world: VoxelWorld, mut block: ResMut<BuildBlock>) {
    for (key, name) in BLOCKS {
        if keys.just_pressed(key)
            && let Ok(id) = world.registry().id(name)
        {
            *block = BuildBlock(id, name);
        }
    }
}

/// The first land (at least 4 voxels above sea level) along 20° east, from 50° north
/// southwards: a voxel 3 above its ground.
fn planet_spawn(planet: &PlanetGenerator) -> VoxelPos {
    let frame = planet.frame();
    let lat = (0..100)
        .map(|i| 50.0 - f64::from(i))
        .find(|&lat| planet.surface_altitude(lat, 20.0).is_ok_and(|alt| alt > 4.0))
        .unwrap_or(50.0);
    let alt = planet.surface_altitude(lat, 20.0).unwrap_or(0.0).max(0.0);
    frame.to_voxel(GeoCoord::new(lat, 20.0, alt + 3.0)).expect("a valid place on the planet")
}

/// `face` as a unit vector.
fn face_vector(face: Face) -> DVec3 {
    DVec3::from_array(face.offset().map(f64::from))
}

/// On the planet the player's body (and so the eye) turns toward the true vertical, away from
/// the centre: the horizon stays level while the mover's voxel up is an axis (which the ground's
/// terraces follow); the crates fall toward the centre.
fn turn_to_up(
    time: Res<Time>,
    planet: Res<Planet>,
    mut gravity: ResMut<Gravity>,
    player: Single<(&VoxelMover, &mut Transform), With<Player>>,
) {
    if planet.0.is_none() {
        return;
    }
    let (mover, mut transform) = player.into_inner();
    let Some(up) = mover.feet().and_then(|f| f.try_normalize()) else { return };
    let up = up.as_vec3();
    let current = transform.rotation * Vec3::Y;
    // The shortest turn from the body's up to the mover's, applied to its rotation.
    let target = Quat::from_rotation_arc(current, up) * transform.rotation;
    let t = 1.0 - (-8.0 * time.delta_secs()).exp();
    transform.rotation = transform.rotation.slerp(target, t).normalize();
    gravity.0 = -up * GRAVITY;
}

/// Click grabs the mouse, Esc releases it.
fn grab_mouse(
    mut cursor: Single<&mut CursorOptions>,
    mouse: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
) {
    if mouse.just_pressed(MouseButton::Left) && cursor.grab_mode == CursorGrabMode::None {
        cursor.grab_mode = CursorGrabMode::Locked;
        cursor.visible = false;
    }
    if keys.just_pressed(KeyCode::Escape) {
        cursor.grab_mode = CursorGrabMode::None;
        cursor.visible = true;
    }
}

/// The mouse turns the eye (yaw, and pitch within ±86°) while it is grabbed.
fn look(
    cursor: Single<&CursorOptions>,
    motion: Res<AccumulatedMouseMotion>,
    mut eye: Single<&mut Transform, With<Eye>>,
) {
    if cursor.grab_mode == CursorGrabMode::None {
        return;
    }
    let d = motion.delta * 0.0025;
    let (yaw, pitch, _) = eye.rotation.to_euler(EulerRot::YXZ);
    eye.rotation = Quat::from_euler(EulerRot::YXZ, yaw - d.x, (pitch - d.y).clamp(-1.5, 1.5), 0.0);
}

/// WASD (Shift: run): the walking velocity along the ground in the eye's heading, voxels per
/// second; whether Space asks for a jump.
fn wish(keys: &ButtonInput<KeyCode>, eye: &Transform) -> (Vec3, bool) {
    let mut wish = Vec3::ZERO;
    for (key, dir) in [
        (KeyCode::KeyW, eye.forward().as_vec3()),
        (KeyCode::KeyS, eye.back().as_vec3()),
        (KeyCode::KeyA, eye.left().as_vec3()),
        (KeyCode::KeyD, eye.right().as_vec3()),
    ] {
        if keys.pressed(key) {
            wish += dir;
        }
    }
    let speed = if keys.pressed(KeyCode::ShiftLeft) { RUN } else { WALK };
    (Vec3::new(wish.x, 0.0, wish.z).normalize_or_zero() * speed as f32, keys.just_pressed(KeyCode::Space))
}

/// The mover walks and jumps from the ground; gravity and collisions are its own. The walk is
/// the eye's heading turned with the body, across the mover's up (on a flat world: x and z).
fn walk_mover(
    keys: Res<ButtonInput<KeyCode>>,
    eye: Single<&Transform, With<Eye>>,
    player: Single<(&mut VoxelMover, &Transform), With<Player>>,
) {
    let (mut mover, body) = player.into_inner();
    let (velocity, jump) = wish(&keys, &eye);
    let up = mover.up_vector();
    let walk = (body.rotation * velocity).as_dvec3();
    let across = walk - up * walk.dot(up);
    let across = across.normalize_or_zero() * f64::from(velocity.length());
    let along = if jump && mover.grounded { JUMP } else { mover.velocity.dot(up) };
    mover.velocity = across + up * along;
}

/// The player once it moves (the avian capsule waits for its ground first).
type ReleasedPlayer = (With<Player>, Without<WaitingForGround>);

/// What the capsule's footing is read from.
type CapsuleState =
    (&'static Position, &'static LinearVelocity, &'static ShapeHits, &'static mut Footing, Has<WaitingForGround>);

/// The capsule walks by its velocity (avian keeps the vertical part: gravity) and jumps from the
/// ground.
fn walk_capsule(
    keys: Res<ButtonInput<KeyCode>>,
    eye: Single<&Transform, With<Eye>>,
    player: Single<(&mut LinearVelocity, &Footing), ReleasedPlayer>,
) {
    let (mut v, footing) = player.into_inner();
    let (velocity, jump) = wish(&keys, &eye);
    v.x = velocity.x;
    v.z = velocity.z;
    if jump && footing.grounded {
        v.y = JUMP as f32;
    }
}

/// Turns the waiting capsule dynamic once the chunk under its spawn point has its collider
/// (before that, it would fall through the ground).
fn release_capsule(
    mut commands: Commands,
    colliders: Res<StrataColliders>,
    player: Single<(Entity, &WaitingForGround), With<Player>>,
) {
    let (entity, waiting) = *player;
    if colliders.entity(waiting.0.chunk()).is_some() {
        commands.entity(entity).remove::<WaitingForGround>().insert(RigidBody::Dynamic);
    }
}

/// The mover's footing: its own.
fn footing_of_mover(player: Single<(&VoxelMover, &mut Footing), With<Player>>) {
    let (mover, mut footing) = player.into_inner();
    footing.feet = mover.feet();
    footing.grounded = mover.grounded;
    footing.up = mover.up();
    footing.settled = mover.grounded && mover.feet().is_some_and(|f| f[mover.up().axis()].fract() == 0.0);
}

/// The capsule's footing: its feet under its centre; grounded when its ground caster (a
/// sphere cast down from the centre) hits within a tenth of a voxel under the feet.
fn footing_of_capsule(origin: Res<StrataOrigin>, player: Single<CapsuleState, With<Player>>) {
    let (position, velocity, hits, mut footing, waiting) = player.into_inner();
    footing.feet = (!waiting).then(|| origin.to_world(position.0 - Vec3::Y * PLAYER_HEIGHT / 2.0));
    footing.grounded = !waiting && !hits.is_empty();
    footing.settled = footing.grounded && velocity.length() < 0.05;
}

/// Left click digs the voxel under the crosshair; right click builds the chosen block against
/// its face (never inside the player), in the state the face and the look ask for (a slab in
/// the top half against an underside, stairs climbing away, a log out of the face).
fn dig_and_build(
    (mouse, cursor): (Res<ButtonInput<MouseButton>>, Single<Ref<CursorOptions>>),
    origin: Res<StrataOrigin>,
    world: VoxelWorld,
    eye: Single<&GlobalTransform, With<Eye>>,
    player: Single<&Footing, With<Player>>,
    block: Res<BuildBlock>,
) {
    // Not on the click that grabbed the mouse.
    if cursor.grab_mode == CursorGrabMode::None || cursor.is_changed() {
        return;
    }
    let (dig, build) = (mouse.just_pressed(MouseButton::Left), mouse.just_pressed(MouseButton::Right));
    if !dig && !build {
        return;
    }
    let ray = Ray3d::new(eye.translation(), eye.forward());
    let Some(hit) = world.raycast(ray, REACH) else { return };
    let edit = if dig {
        (hit.voxel, MaterialId::AIR)
    } else if !player.feet.is_some_and(|f| inside_player(f, player.up, hit.adjacent())) {
        let face = Face::ALL.into_iter().find(|f| IVec3::from_array(f.offset()) == hit.normal).unwrap_or(Face::PosY);
        let at = origin.to_world(hit.position);
        let height = (at.y - f64::from(hit.voxel.y)).clamp(0.0, 1.0);
        let look = eye.forward().as_vec3().as_dvec3().to_array();
        let state = strata::core::BlockState::placed_against(face, look, height);
        (hit.adjacent(), world.registry().id_with_state(block.1, state).unwrap_or(block.0))
    } else {
        return;
    };
    // As a client, the edit goes to the server (shown at once, undone if refused).
    world.set_voxel(edit.0, edit.1);
}

/// Whether voxel `v` overlaps the player's box standing with its feet at `feet` (world voxels)
/// with `up` its up.
fn inside_player(feet: DVec3, up: Face, v: VoxelPos) -> bool {
    let half = f64::from(PLAYER_WIDTH) / 2.0;
    let height = face_vector(up) * f64::from(PLAYER_HEIGHT);
    let across = DVec3::splat(half) - face_vector(up).abs() * half;
    let (lo, hi) = ((feet - across).min(feet - across + height), (feet + across).max(feet + across + height));
    let v = DVec3::new(f64::from(v.x), f64::from(v.y), f64::from(v.z));
    (0..3).all(|a| v[a] < hi[a] && v[a] + 1.0 > lo[a])
}

/// The crates' colour: red, which neither the terrain nor the sky has (the screenshot check
/// counts it).
const CRATE_RED: Color = Color::srgb(0.78, 0.09, 0.07);
/// The crates' edge, voxels.
const CRATE_SIZE: f32 = 0.8;

/// B drops a red crate (an avian body on the voxel colliders) two voxels ahead of the eye.
fn drop_crate(
    mut commands: Commands,
    keys: Res<ButtonInput<KeyCode>>,
    eye: Single<&GlobalTransform, With<Eye>>,
    mut crates: ResMut<Crates>,
) {
    if keys.just_pressed(KeyCode::KeyB) {
        crates.drop_at(&mut commands, eye.translation() + eye.forward().as_vec3() * 2.0 + eye.up().as_vec3());
    }
}

impl Crates {
    /// Drops a crate at `at` (render space); [`dress_crates`] gives it its look and body.
    fn drop_at(&mut self, commands: &mut Commands, at: Vec3) {
        commands.spawn((Crate, Dropped, PersistWithChunk::new(), Transform::from_translation(at)));
    }
}

/// Gives every new crate (dropped, or respawned with its chunk) its mesh and an avian body,
/// held static until the chunk under it has its collider ([`release_crates`]); past
/// [`MAX_CRATES`] the oldest goes (and leaves the save).
fn dress_crates(
    mut commands: Commands,
    origin: Res<StrataOrigin>,
    mut crates: ResMut<Crates>,
    new: Query<(Entity, &Transform, Has<Dropped>), Added<Crate>>,
) {
    for (crate_, transform, dropped) in &new {
        if !dropped {
            info!("a crate came back from the save at {}", origin.to_world(transform.translation));
        }
        let (mesh, material) = crates.look.clone();
        let below = origin.voxel_at(transform.translation - Vec3::Y);
        commands.entity(crate_).insert((
            RigidBody::Static,
            WaitingForGround(below),
            Collider::cuboid(CRATE_SIZE, CRATE_SIZE, CRATE_SIZE),
            CollidesWithVoxels,
            Mesh3d(mesh),
            MeshMaterial3d(material),
        ));
        crates.dropped.push_back(crate_);
        if crates.dropped.len() > MAX_CRATES
            && let Some(old) = crates.dropped.pop_front()
        {
            commands.entity(old).despawn();
        }
    }
}

/// A crate waiting for its ground falls once the chunk under it has its collider.
fn release_crates(
    mut commands: Commands,
    colliders: Res<StrataColliders>,
    mut crates: ResMut<Crates>,
    waiting: Query<(Entity, &WaitingForGround), With<Crate>>,
    all: Query<(), With<Crate>>,
) {
    for (crate_, ground) in &waiting {
        if colliders.entity(ground.0.chunk()).is_some() {
            commands.entity(crate_).remove::<WaitingForGround>().insert(RigidBody::Dynamic);
        }
    }
    // Crates the plugin released with their chunk are gone from the world: forget them.
    crates.dropped.retain(|&c| all.contains(c));
}

/// F5 saves now.
fn save(keys: Res<ButtonInput<KeyCode>>, mut persistence: ResMut<StrataPersistence>) {
    if keys.just_pressed(KeyCode::F5) {
        persistence.commit_now();
    }
}

/// What placing the player changes: its transform, and the mover or the capsule's wait.
type PlayerPlacement = (&'static mut Transform, Option<&'static mut VoxelMover>, Option<&'static mut WaitingForGround>);

/// The save's game value holding where the player stood: `x y z` of the feet, world voxels.
const PLAYER_VALUE: &str = "game.player";

/// Once the save is open: the player goes back where it stood when the game last saved (a
/// save of `--planet` and one of the flat world each keep their own; not in the cave, which is
/// carved anew, nor as a client, whose server keeps the world).
fn restore_player(
    mut done: Local<bool>,
    status: Res<StrataStatus>,
    strata: Res<StrataWorld>,
    origin: Res<StrataOrigin>,
    cave: Option<Res<Cave>>,
    player: Single<PlayerPlacement, With<Player>>,
) {
    if *done || !status.is_ready() {
        return;
    }
    *done = true;
    if cave.is_some() {
        return;
    }
    let feet = match strata.game_data(PLAYER_VALUE) {
        Ok(Some(bytes)) => match parse_feet(&bytes) {
            Some(feet) => feet,
            None => return warn!("the saved player position is not `x y z`: starting at the spawn"),
        },
        Ok(None) => return,
        Err(e) => return warn!("the saved player position cannot be read ({e}): starting at the spawn"),
    };
    let (mut transform, mover, waiting) = player.into_inner();
    let at = (feet - origin.voxel.as_dvec3()).as_vec3();
    match mover {
        Some(mut mover) => {
            transform.translation = at;
            mover.teleport();
        }
        None => {
            // The capsule (centred) waits for the collider of its new ground.
            transform.translation = at + Vec3::Y * PLAYER_HEIGHT / 2.0;
            if let Some(mut waiting) = waiting {
                waiting.0 = VoxelPos::containing(feet.to_array());
            }
        }
    }
    info!("back where the player stood: {feet}");
}

fn parse_feet(bytes: &[u8]) -> Option<DVec3> {
    let text = std::str::from_utf8(bytes).ok()?;
    let v: Vec<f64> = text.split_whitespace().map(str::parse).collect::<Result<_, _>>().ok()?;
    match v.as_slice() {
        [x, y, z] if v.iter().all(|c| c.is_finite()) => Some(DVec3::new(*x, *y, *z)),
        _ => None,
    }
}

/// Saves where the player stands every few seconds and in the exit frame (the value is written
/// beside the chunks; the exit commit writes the last one).
fn save_player(
    time: Res<Time>,
    mut since: Local<f32>,
    mut exits: MessageReader<AppExit>,
    player: Single<&Footing, With<Player>>,
    mut persistence: ResMut<StrataPersistence>,
    client: Option<Res<NetClient>>,
) {
    // A client's world is its server's: nothing of the player is saved here.
    if client.is_some() {
        return;
    }
    *since += time.delta_secs();
    let exiting = exits.read().next().is_some();
    if *since < 2.0 && !exiting {
        return;
    }
    *since = 0.0;
    if let Some(feet) = player.feet.filter(|_| player.grounded) {
        persistence.set_game_data(PLAYER_VALUE, Some(format!("{} {} {}", feet.x, feet.y, feet.z).into_bytes()));
    }
}

/// The controls, where the player is, and a crosshair (egui).
fn hud(
    mut contexts: EguiContexts,
    player: Single<&Footing, With<Player>>,
    engine: Res<Engine>,
    planet: Res<Planet>,
    status: Res<StrataStatus>,
    block: Res<BuildBlock>,
    net: Option<Res<NetClient>>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let air = if player.grounded { "" } else { " (in the air)" };
    let where_ = match (player.feet, &planet.0) {
        (Some(f), Some(planet)) => {
            let g = planet.frame().to_geo(VoxelPos::new(f.x.floor() as i32, f.y.floor() as i32, f.z.floor() as i32));
            format!("{:.3}° {:.3}° altitude {:.0}, up {:?}{air}", g.lat_deg, g.lon_deg, g.alt, player.up)
        }
        (Some(f), None) => format!("feet {:.1} {:.1} {:.1}{air}", f.x, f.y, f.z),
        (None, _) => "placing the player…".into(),
    };
    let text = format!(
        "click: grab mouse · Esc: release · mouse: look · WASD: walk · Shift: run · Space: jump\n\
         left click: dig · right click: build ({}; 1: stone, 2: lamp, 3: glass, 4: slab, 5: stairs, 6: log, 7: grass) · B: drop a crate · F5: save (also every few seconds and on exit)\n\
         {where_} · {} · {}",
        block.1,
        match *engine {
            Engine::Mover if planet.0.is_some() => "VoxelMover on the planet",
            Engine::Mover => "VoxelMover (--avian: avian physics; --planet: on a planet)",
            Engine::Avian => "avian physics",
        },
        match net.as_deref() {
            None if status.is_ready() => "world ready".to_string(),
            None => "opening the save…".to_string(),
            Some(net) => match &net.status {
                NetStatus::Connected(w) =>
                    format!("player {} on the server · {} edits pending", w.client, net.pending_edits()),
                NetStatus::Connecting => "connecting…".to_string(),
                NetStatus::Refused(e) => format!("refused: {e}"),
                NetStatus::Lost(e) => format!("connection lost: {e} · {} edits pending", net.pending_edits()),
                other => format!("{other:?}"),
            },
        }
    );
    egui::Area::new(egui::Id::new("game_controls")).anchor(egui::Align2::LEFT_TOP, [10.0, 10.0]).show(ctx, |ui| {
        egui::Frame::new().fill(egui::Color32::from_black_alpha(140)).inner_margin(6.0).show(ui, |ui| {
            ui.label(egui::RichText::new(text).color(egui::Color32::from_rgb(235, 238, 242)).size(14.0));
        });
    });
    let centre = ctx.content_rect().center();
    let stroke = egui::Stroke::new(2.0, egui::Color32::WHITE);
    let painter = ctx.layer_painter(egui::LayerId::new(egui::Order::Foreground, egui::Id::new("crosshair")));
    painter.line_segment([centre - egui::vec2(8.0, 0.0), centre + egui::vec2(8.0, 0.0)], stroke);
    painter.line_segment([centre - egui::vec2(0.0, 8.0), centre + egui::vec2(0.0, 8.0)], stroke);
    Ok(())
}

/// Frames the player must have stood settled, with streaming idle and the textures loaded,
/// before the screenshot mode drops the crates. Software rendering takes about a second per
/// frame here (each frame of waiting is a second of CI); pipelines compile while the view loads.
const READY_FRAMES: u32 = 20;

#[derive(Default)]
struct ScreenshotProgress {
    /// Frames the player stood settled with streaming idle (crates drop after [`READY_FRAMES`]).
    ready_frames: u32,
    /// Frames every crate has been at rest (the screenshot is taken after 20).
    resting_frames: u32,
    requested: bool,
    /// The showcase (`STRATA_GAME_SHOWCASE`) is built.
    showcase: bool,
}

/// With `STRATA_SCREENSHOT=path`: once the player stands on the ground and streaming has been
/// idle for a while (pipelines compile slowly in software rendering), takes a screenshot, saves
/// it, checks it ([`PixelStats::check`]; as a multiplayer client [`WithWall::check`]: the other
/// player's wall must show) and exits: code 0 if the check passed, 3 if not.
fn screenshot_when_ready(
    (mut commands, client): (Commands, Option<Res<NetClient>>),
    (streaming, textures, cave): (Res<StrataStreaming>, Res<StrataTextures>, Option<Res<Cave>>),
    (world, player): (VoxelWorld, Single<&Footing, With<Player>>),
    eye: Single<&GlobalTransform, With<Eye>>,
    mut crates: ResMut<Crates>,
    moving: Query<(&LinearVelocity, &GlobalTransform, Has<WaitingForGround>)>,
    mut progress: Local<ScreenshotProgress>,
) {
    let Ok(path) = std::env::var("STRATA_SCREENSHOT") else { return };
    if progress.requested {
        return;
    }
    if progress.ready_frames <= READY_FRAMES {
        if streaming.is_idle() && player.settled && !textures.is_pending() {
            progress.ready_frames += 1;
        }
        if progress.ready_frames > READY_FRAMES && cave.is_some() {
            // The cave: the lamp's light is the picture, no crates.
            progress.requested = true;
            take_checked_screenshot::<CaveStats>(&mut commands, path);
            return;
        }
        if progress.ready_frames > READY_FRAMES
            && !progress.showcase
            && std::env::var_os("STRATA_GAME_SHOWCASE").is_some()
        {
            if let Some(feet) = player.feet {
                build_showcase(&world, feet, eye.forward().as_vec3());
            }
            // Meshed and shown before the crates drop.
            progress.showcase = true;
            progress.ready_frames = READY_FRAMES / 2;
            return;
        }
        if progress.ready_frames > READY_FRAMES {
            // Three crates dropped in view, 3–5 voxels ahead and 2 above the eye: they must
            // land on the voxel colliders and show in the picture (not fall through).
            let (ahead, right) = (eye.forward().as_vec3(), eye.right().as_vec3());
            for (i, side) in [-1.2f32, 0.0, 1.2].into_iter().enumerate() {
                let at = eye.translation() + ahead * (3.0 + i as f32) + right * side + eye.up().as_vec3() * 2.0;
                crates.drop_at(&mut commands, at);
            }
        }
        return;
    }
    // Dressed (the drop's commands applied), released onto their ground, and still.
    let resting = crates.dropped.len() >= 3
        && crates.dropped.iter().all(|&c| moving.get(c).is_ok_and(|(v, _, waiting)| !waiting && v.length() < 0.02));
    progress.resting_frames = if resting { progress.resting_frames + 1 } else { 0 };
    // A crate 20 voxels under the eye fell through the ground: the picture is taken at once,
    // and its check fails on the missing crates.
    let fell = crates
        .dropped
        .iter()
        .any(|&c| moving.get(c).is_ok_and(|(_, at, _)| (eye.translation() - at.translation()).dot(*eye.up()) > 20.0));
    if progress.resting_frames > 20 || fell {
        progress.requested = true;
        if client.is_some() {
            take_checked_screenshot::<WithWall>(&mut commands, path);
        } else {
            take_checked_screenshot::<PixelStats>(&mut commands, path);
        }
    }
}

/// `STRATA_GAME_SHOWCASE` (screenshot mode): shaped blocks built on the ground ahead of the
/// player, left of the crates — a flight of brick stairs climbing away, bottom and top slabs,
/// logs along each axis, tall grass — so the picture shows them.
fn build_showcase(world: &VoxelWorld, feet: DVec3, forward: Vec3) {
    use strata::core::{BlockState, StateKind};
    // The horizontal axis the player looks along most, and the one to its right.
    let (ahead, right) = if forward.x.abs() > forward.z.abs() {
        let s = forward.x.signum() as i32;
        (IVec3::new(s, 0, 0), IVec3::new(0, 0, s))
    } else {
        let s = forward.z.signum() as i32;
        (IVec3::new(0, 0, s), IVec3::new(-s, 0, 0))
    };
    let registry = world.registry();
    let base = IVec3::new(feet.x.floor() as i32, feet.y.floor() as i32, feet.z.floor() as i32);
    // The first air voxel above the ground in column (`forward` voxels ahead, `side` right):
    // read down from 8 above the feet.
    let ground = |forward: i32, side: i32| -> Option<VoxelPos> {
        let c = base + ahead * forward + right * side;
        (-8..8).rev().find_map(|dy| {
            let below = VoxelPos::new(c.x, c.y + dy - 1, c.z);
            let solid = world.resident_voxel(below).is_some_and(|m| !m.is_air());
            solid.then(|| VoxelPos::new(c.x, c.y + dy, c.z))
        })
    };
    let facing = BlockState::placed_against(Face::PosY, forward.as_dvec3().to_array(), 0.0);
    let id = |name: &str, state: BlockState| registry.id_with_state(name, state).ok();
    let put = |p: VoxelPos, m: Option<MaterialId>| {
        if let Some(m) = m {
            world.set_voxel(p, m);
        }
    };
    // Stairs climbing away, stone under the upper steps.
    if let Some(g) = ground(6, -3) {
        for i in 0..3 {
            let p = IVec3::new(g.x, g.y, g.z) + ahead * i + IVec3::Y * i;
            for below in 0..i {
                put(VoxelPos::new(p.x, p.y - 1 - below, p.z), registry.id("stone").ok());
            }
            put(VoxelPos::new(p.x, p.y, p.z), id("brick_stairs", facing));
        }
    }
    // Bottom slabs, and top slabs on posts of logs.
    for i in 0..3 {
        if let Some(g) = ground(6 + i, -2) {
            put(g, id("stone_slab", BlockState::default()));
        }
    }
    if let Some(g) = ground(9, -2) {
        let g = IVec3::new(g.x, g.y, g.z);
        put(VoxelPos::new(g.x, g.y, g.z), id("log", BlockState::default()));
        put(VoxelPos::new(g.x, g.y + 1, g.z), id("stone_slab", BlockState::default().with(StateKind::Half, 1)));
    }
    // Logs along each axis, tall grass around them.
    for (i, axis) in [0u16, 1, 2].into_iter().enumerate() {
        if let Some(g) = ground(6 + i as i32, 2) {
            put(g, id("log", BlockState::default().with(StateKind::Axis, axis)));
        }
        if let Some(g) = ground(6 + i as i32, 3) {
            put(g, registry.id("tall_grass").ok());
        }
    }
}

/// The least fraction of ground pixels that must differ from the pixel 4 to their right
/// ([`PixelStats::ground_detail`]): the untextured terrain (vertex colours) measured 1.7 %, the
/// textured one 9.5 % (with the previous, brighter sun).
const DETAIL_MIN: f64 = 0.05;

/// Pixel classes of a screenshot at walking height.
#[derive(Debug, Default)]
struct PixelStats {
    /// Pixels sampled, in the upper and the lower half.
    upper: u32,
    lower: u32,
    /// Sky-coloured pixels in each half.
    sky_upper: u32,
    sky_lower: u32,
    /// Ground (lit terrain: neither sky nor near black) in the lower half.
    ground_lower: u32,
    /// Ground pixels of the lower half whose brightness differs by more than 2 % from the pixel
    /// 4 to the right (texels are a few pixels wide up close; flat vertex colours change
    /// smoothly).
    ground_detail: u32,
    /// Crate-red pixels anywhere.
    crate_red: u32,
    /// Magma-orange pixels in the upper half (the wall `server --bot` builds ahead of the
    /// spawn point): strongly warm, green well under red, blue well under green — bricks, dirt,
    /// logs and crates are not.
    wall_upper: u32,
}

impl PixelCheck for PixelStats {
    fn of(image: &Image) -> Self {
        let mut s = PixelStats::default();
        let sky = SKY.to_srgba();
        let h = image.height();
        for y in (0..h).step_by(2) {
            for x in (0..image.width()).step_by(2) {
                let Ok(c) = image.get_color_at(x, y) else { continue };
                let c = c.to_srgba();
                let brightness = |c: Srgba| (c.red + c.green + c.blue) / 3.0;
                let right = image.get_color_at(x + 4, y).map(|c| brightness(c.to_srgba()));
                let d = (c.red - sky.red).abs() + (c.green - sky.green).abs() + (c.blue - sky.blue).abs();
                let is_sky = d < 0.06;
                let lit = c.red + c.green + c.blue > 0.15;
                // Red: far more red than green or blue (grass, dirt, sand and sky are not).
                s.crate_red += u32::from(c.red > 0.2 && c.red > 2.5 * c.green && c.red > 2.5 * c.blue);
                let magma = c.red > 0.6
                    && (0.45 * c.red..0.95 * c.red).contains(&c.green)
                    && c.blue < 0.7 * c.green
                    && c.red - c.blue > 0.3;
                if y < h / 2 {
                    s.upper += 1;
                    s.wall_upper += u32::from(magma);
                    s.sky_upper += u32::from(is_sky);
                } else {
                    s.lower += 1;
                    s.sky_lower += u32::from(is_sky);
                    s.ground_lower += u32::from(!is_sky && lit);
                    let detail = right.is_ok_and(|r| (r - brightness(c)).abs() > 0.02);
                    s.ground_detail += u32::from(!is_sky && lit && detail);
                }
            }
        }
        s
    }

    /// Standing on the ground, looking ahead: some sky in the upper half, the lower half almost
    /// all lit ground (not sky: the player did not fall through; not black: it rendered), and
    /// the dropped crates in view (at least 0.3 % of the frame: they rest on the voxel
    /// colliders instead of falling through them).
    fn check(&self) -> Result<(), String> {
        self.check_looking_at(self.sky_upper, "sky")
    }
}

impl PixelStats {
    /// [`PixelStats::check`] with `far` pixels of the upper half counting as what lies beyond
    /// the ground (`what`: sky, or sky and the other player's wall).
    fn check_looking_at(&self, far: u32, what: &str) -> Result<(), String> {
        let frac = |n: u32, of: u32| f64::from(n) / f64::from(of.max(1));
        let sky_up = frac(far, self.upper);
        let ground_low = frac(self.ground_lower, self.lower);
        if !(0.02..=0.9).contains(&sky_up) {
            return Err(format!("{what} covers {:.1} % of the upper half (want 2–90 %)", sky_up * 100.0));
        }
        if ground_low < 0.8 {
            return Err(format!("ground covers {:.1} % of the lower half (want ≥ 80 %)", ground_low * 100.0));
        }
        let detail = frac(self.ground_detail, self.ground_lower);
        if detail < DETAIL_MIN {
            return Err(format!(
                "{:.1} % of the ground changes brightness within 4 pixels (want ≥ {:.0} %: textured, not flat colours)",
                detail * 100.0,
                DETAIL_MIN * 100.0
            ));
        }
        let crates = frac(self.crate_red, self.upper + self.lower);
        if crates < 0.003 {
            return Err(format!("crates cover {:.2} % of the frame (want ≥ 0.3 %)", crates * 100.0));
        }
        Ok(())
    }
}

/// A multiplayer client's picture ([`PixelStats`]): the magma wall another player built ahead
/// of the spawn point (`server --bot`) covers at least 5 % of the upper half, and stands where
/// the sky would (the wall is taller than the view).
#[derive(Debug)]
struct WithWall(PixelStats);

impl PixelCheck for WithWall {
    fn of(image: &Image) -> Self {
        WithWall(PixelStats::of(image))
    }

    fn check(&self) -> Result<(), String> {
        let s = &self.0;
        let wall = f64::from(s.wall_upper) / f64::from(s.upper.max(1));
        if wall < 0.05 {
            return Err(format!("the other player's wall covers {:.1} % of the upper half (want ≥ 5 %)", wall * 100.0));
        }
        s.check_looking_at(s.sky_upper + s.wall_upper, "sky or the other player's wall")
    }
}

/// How much brighter the lamp-lit part of the cave must be than its unlit part
/// ([`CaveStats::check`]).
const CAVE_CONTRAST: f32 = 4.0;

/// Brightness classes of a screenshot in the sealed cave (below the HUD).
#[derive(Debug, Default)]
struct CaveStats {
    /// Pixels sampled.
    pixels: u32,
    /// Sky-coloured pixels (the room is sealed: none).
    sky: u32,
    /// Pixels brighter than 0.25 (mean of the sRGB channels), and their summed brightness.
    lit: u32,
    lit_sum: f32,
    /// Pixels darker than 0.1, and their summed brightness.
    dark: u32,
    dark_sum: f32,
}

impl PixelCheck for CaveStats {
    fn of(image: &Image) -> Self {
        let mut s = CaveStats::default();
        let sky = SKY.to_srgba();
        // Below the HUD's three lines of white text.
        for y in (90..image.height()).step_by(2) {
            for x in (0..image.width()).step_by(2) {
                let Ok(c) = image.get_color_at(x, y) else { continue };
                let c = c.to_srgba();
                let b = (c.red + c.green + c.blue) / 3.0;
                let d = (c.red - sky.red).abs() + (c.green - sky.green).abs() + (c.blue - sky.blue).abs();
                s.pixels += 1;
                s.sky += u32::from(d < 0.06);
                if b > 0.25 {
                    s.lit += 1;
                    s.lit_sum += b;
                } else if b < 0.1 {
                    s.dark += 1;
                    s.dark_sum += b;
                }
            }
        }
        s
    }

    /// In the sealed tunnel: no sky; its far half unlit (at least 10 % dark pixels); the
    /// lamp's surroundings lit (at least 5 % of the frame) and, on average, at least
    /// [`CAVE_CONTRAST`] times brighter than the dark part.
    fn check(&self) -> Result<(), String> {
        let frac = |n: u32| f64::from(n) / f64::from(self.pixels.max(1));
        if self.sky > 0 {
            return Err(format!("{} sky pixels in a sealed cave", self.sky));
        }
        if frac(self.dark) < 0.1 {
            return Err(format!("the unlit cave covers {:.1} % of the frame (want ≥ 10 %)", frac(self.dark) * 100.0));
        }
        if frac(self.lit) < 0.05 {
            return Err(format!("the lamp lights {:.2} % of the frame (want ≥ 5 %)", frac(self.lit) * 100.0));
        }
        let lit = self.lit_sum / self.lit.max(1) as f32;
        let dark = (self.dark_sum / self.dark.max(1) as f32).max(1e-3);
        if lit < CAVE_CONTRAST * dark {
            return Err(format!("lit {lit:.3} against dark {dark:.3}: want ≥ {CAVE_CONTRAST}×"));
        }
        info!("the lamp-lit cave is {:.1}× brighter than its unlit part", lit / dark);
        Ok(())
    }
}
