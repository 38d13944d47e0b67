//! A first-person walk on the streamed world: gravity and jumps through `VoxelMover` (exact
//! voxel collisions, no physics engine), dig and build with the mouse, saved to `game.strata`.
//!
//! `cargo run --release --example game`
//!
//! Controls (also on screen): click to grab the mouse, Esc to release it; mouse to look; WASD to
//! walk, Shift to run, Space to jump; left click digs the voxel under the crosshair, right click
//! builds a stone block against it; F5 saves now (the world also saves every few seconds and on
//! exit).
//!
//! Screenshot mode (the CI check, `tests/game_screenshot.sh`): `STRATA_SCREENSHOT=out.png cargo
//! run --example game` plays without a save, waits until the player stands on the ground and
//! streaming is idle, saves the frame, checks its pixels (sky above, lit ground below) and exits
//! non-zero if the check fails.

use bevy::input::mouse::AccumulatedMouseMotion;
use bevy::math::DVec3;
use bevy::prelude::*;

use bevy::window::{CursorGrabMode, CursorOptions};
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, egui};
use bevy_strata::prelude::*;
use bevy_strata::{StrataPersistence, StrataStreaming};
use strata::geo::{NoiseTerrain, TerrainConfig};

#[path = "shared/screenshot_check.rs"]
mod screenshot_check;
use screenshot_check::{PixelCheck, take_checked_screenshot};

/// Eye height above the feet, in voxels.
const EYE: f32 = 1.6;
/// Walking and running speed, voxels per second.
const WALK: f64 = 4.5;
const RUN: f64 = 8.0;
/// Take-off speed of a jump (about 1.4 voxels high with the mover's gravity).
const JUMP: f64 = 8.8;
/// How far the crosshair reaches, in voxels.
const REACH: f32 = 6.0;
/// The block right click builds.
const STONE: MaterialId = MaterialId(1);

fn main() -> AppExit {
    let config = StrataConfig { view_distance: 192.0, ..StrataConfig::default() };
    let seed = config.terrain_seed;
    // The screenshot check plays in memory: it leaves no save behind.
    let checking = std::env::var("STRATA_SCREENSHOT").is_ok();
    let plugin = StrataPlugin::new(config);
    let plugin = if checking { plugin } else { plugin.with_save_file("game.strata") };
    App::new()
        .add_plugins((
            DefaultPlugins.set(WindowPlugin {
                primary_window: Some(Window { title: "Strata — game".into(), ..default() }),
                ..default()
            }),
            plugin,
            EguiPlugin::default(),
        ))
        .insert_resource(ClearColor(SKY))
        .insert_resource(Spawn(seed))
        .add_systems(Startup, setup)
        .add_systems(Update, (grab_mouse, look, walk).chain().before(StrataSystems::Move))
        .add_systems(Update, (dig_and_build, save).after(StrataSystems::Apply))
        .add_systems(EguiPrimaryContextPass, hud)
        .add_systems(Update, screenshot_when_ready)
        .run()
}

/// The sky colour (the clear colour).
const SKY: Color = Color::srgb(0.55, 0.72, 0.92);

#[derive(Resource)]
struct Spawn(u32);

/// The player's body: a `VoxelMover`, its yaw in the `Transform`.
#[derive(Component)]
struct Player;

/// The first-person camera, a child of the player at eye height, its pitch in the `Transform`.
#[derive(Component)]
struct Eye;

fn setup(mut commands: Commands, spawn: Res<Spawn>) {
    // Spawn two voxels above the generated ground at the origin (edits may have changed it:
    // the mover then lands on whatever is there).
    let terrain = NoiseTerrain::new(TerrainConfig { seed: spawn.0, ..TerrainConfig::default() });
    let ground = terrain.height(0, 0).max(terrain.config().sea_level);
    commands
        .spawn((
            Player,
            VoxelMover::default(),
            StreamingViewer::default(),
            StrataFloatingOrigin,
            Transform::from_xyz(0.5, ground as f32 + 3.0, 0.5),
            Visibility::default(),
        ))
        .with_child((Eye, Camera3d::default(), Transform::from_xyz(0.0, EYE, 0.0)));
    commands.spawn((
        DirectionalLight { illuminance: 12_000.0, shadow_maps_enabled: false, ..default() },
        Transform::default().looking_to(Vec3::new(-0.4, -1.0, -0.3), Vec3::Y),
    ));
    commands.insert_resource(GlobalAmbientLight { brightness: 400.0, ..default() });
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

/// The mouse turns the player (yaw) and tilts the eye (pitch) while it is grabbed.
fn look(
    cursor: Single<&CursorOptions>,
    motion: Res<AccumulatedMouseMotion>,
    mut player: Single<&mut Transform, (With<Player>, Without<Eye>)>,
    mut eye: Single<&mut Transform, With<Eye>>,
) {
    if cursor.grab_mode == CursorGrabMode::None {
        return;
    }
    let d = motion.delta * 0.0025;
    player.rotate_y(-d.x);
    let (_, pitch, _) = eye.rotation.to_euler(EulerRot::YXZ);
    eye.rotation = Quat::from_rotation_x((pitch - d.y).clamp(-1.5, 1.5));
}

/// WASD (Shift: run) sets the walking velocity in the player's heading; Space jumps from the
/// ground. Gravity and collisions are the mover's.
fn walk(keys: Res<ButtonInput<KeyCode>>, player: Single<(&Transform, &mut VoxelMover), With<Player>>) {
    let (transform, mut mover) = player.into_inner();
    let mut wish = Vec3::ZERO;
    for (key, dir) in [
        (KeyCode::KeyW, transform.forward().as_vec3()),
        (KeyCode::KeyS, transform.back().as_vec3()),
        (KeyCode::KeyA, transform.left().as_vec3()),
        (KeyCode::KeyD, transform.right().as_vec3()),
    ] {
        if keys.pressed(key) {
            wish += dir;
        }
    }
    let wish = Vec3::new(wish.x, 0.0, wish.z).normalize_or_zero().as_dvec3();
    let speed = if keys.pressed(KeyCode::ShiftLeft) { RUN } else { WALK };
    mover.velocity.x = wish.x * speed;
    mover.velocity.z = wish.z * speed;
    if keys.just_pressed(KeyCode::Space) && mover.grounded {
        mover.velocity.y = JUMP;
    }
}

/// Left click digs the voxel under the crosshair; right click builds stone against its face
/// (never inside the player).
fn dig_and_build(
    mouse: Res<ButtonInput<MouseButton>>,
    cursor: Single<Ref<CursorOptions>>,
    world: VoxelWorld,
    eye: Single<&GlobalTransform, With<Eye>>,
    player: Single<&VoxelMover, With<Player>>,
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
    if dig {
        world.set_voxel(hit.voxel, MaterialId::AIR);
    } else if !player.body().is_some_and(|b| b.overlaps(hit.adjacent())) {
        world.set_voxel(hit.adjacent(), STONE);
    }
}

/// F5 saves now.
fn save(keys: Res<ButtonInput<KeyCode>>, mut persistence: ResMut<StrataPersistence>) {
    if keys.just_pressed(KeyCode::F5) {
        persistence.commit_now();
    }
}

/// The controls, where the player is, and a crosshair (egui).
fn hud(mut contexts: EguiContexts, player: Single<&VoxelMover, With<Player>>, status: Res<StrataStatus>) -> Result {
    let ctx = contexts.ctx_mut()?;
    let where_ = match player.feet() {
        Some(f) => {
            format!("feet {:.1} {:.1} {:.1}{}", f.x, f.y, f.z, if player.grounded { "" } else { " (in the air)" })
        }
        None => "placing the player…".into(),
    };
    let text = format!(
        "click: grab mouse · Esc: release · mouse: look · WASD: walk · Shift: run · Space: jump\n\
         left click: dig · right click: build · F5: save (also every few seconds and on exit)\n\
         {where_} · {}",
        if status.is_ready() { "world ready" } else { "opening the save…" }
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

/// With `STRATA_SCREENSHOT=path`: once the player stands on the ground and streaming has been
/// idle for a while (pipelines compile slowly in software rendering), takes a screenshot, saves
/// it, checks it ([`PixelStats::check`]) and exits: code 0 if the check passed, 3 if not.
fn screenshot_when_ready(
    mut commands: Commands,
    streaming: Res<StrataStreaming>,
    player: Single<&VoxelMover, With<Player>>,
    mut ready_frames: Local<u32>,
    mut requested: Local<bool>,
) {
    let Ok(path) = std::env::var("STRATA_SCREENSHOT") else { return };
    if *requested {
        return;
    }
    if streaming.is_idle() && player.grounded && player.feet().is_some_and(|f: DVec3| f.y.fract() == 0.0) {
        *ready_frames += 1;
    }
    if *ready_frames > 40 {
        *requested = true;
        take_checked_screenshot::<PixelStats>(&mut commands, path);
    }
}

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
                let d = (c.red - sky.red).abs() + (c.green - sky.green).abs() + (c.blue - sky.blue).abs();
                let is_sky = d < 0.06;
                let lit = c.red + c.green + c.blue > 0.15;
                if y < h / 2 {
                    s.upper += 1;
                    s.sky_upper += u32::from(is_sky);
                } else {
                    s.lower += 1;
                    s.sky_lower += u32::from(is_sky);
                    s.ground_lower += u32::from(!is_sky && lit);
                }
            }
        }
        s
    }

    /// Standing on the ground, looking ahead: some sky in the upper half, the lower half almost
    /// all lit ground (not sky: the player did not fall through; not black: it rendered).
    fn check(&self) -> Result<(), String> {
        let frac = |n: u32, of: u32| f64::from(n) / f64::from(of.max(1));
        let sky_up = frac(self.sky_upper, self.upper);
        let ground_low = frac(self.ground_lower, self.lower);
        if !(0.02..=0.9).contains(&sky_up) {
            return Err(format!("sky covers {:.1} % of the upper half (want 2–90 %)", sky_up * 100.0));
        }
        if ground_low < 0.8 {
            return Err(format!("ground covers {:.1} % of the lower half (want ≥ 80 %)", ground_low * 100.0));
        }
        Ok(())
    }
}
