//! Generated, textured terrain, a fly camera; left click digs, right click places — through
//! picking.
//!
//! `cargo run --release --example minimal`
//!
//! Controls: WASD + Space/Shift to fly, hold the middle mouse button (or press M) to look around,
//! left click to dig a sphere, right click to place a block. Edits are saved to `minimal.strata`.
//!
//! Screenshot mode (for checking it renders): `STRATA_SCREENSHOT=out.png cargo run --example
//! minimal` waits until streaming is idle and the meshes have been on screen for a while, saves
//! the frame and exits.

use bevy::camera_controller::free_camera::{FreeCamera, FreeCameraPlugin};
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};
use bevy_strata::prelude::*;

fn main() {
    App::new()
        .add_plugins((
            DefaultPlugins.set(WindowPlugin {
                primary_window: Some(Window { title: "Strata — minimal".into(), ..default() }),
                ..default()
            }),
            FreeCameraPlugin,
            StrataPlugin::new(StrataConfig::default()).with_save_file("minimal.strata"),
            // Textured blocks: `assets/textures/<name>.png` for the names in `materials.ron`.
            StrataTexturesPlugin::default(),
        ))
        .insert_resource(ClearColor(Color::srgb(0.55, 0.72, 0.92)))
        .add_systems(Startup, setup)
        .add_systems(Update, screenshot_when_ready)
        .add_observer(edit_on_click)
        .run();
}

fn setup(mut commands: Commands) {
    commands.spawn((
        Camera3d::default(),
        Transform::from_xyz(-40.0, 70.0, -40.0).looking_at(Vec3::new(40.0, 0.0, 40.0), Vec3::Y),
        FreeCamera {
            mouse_key_cursor_grab: MouseButton::Middle,
            keyboard_key_toggle_cursor_grab: KeyCode::KeyM,
            ..default()
        },
        StreamingViewer::default(),
        StrataFloatingOrigin,
    ));
    commands.spawn((
        DirectionalLight { illuminance: 12_000.0, shadow_maps_enabled: false, ..default() },
        Transform::from_xyz(0.0, 1.0, 0.0).looking_at(Vec3::new(-0.4, -1.0, -0.3), Vec3::Y),
    ));
    commands.insert_resource(GlobalAmbientLight { brightness: 400.0, ..default() });
}

/// Picking delivers `Pointer<Click>` on chunk entities with the hit position and normal.
fn edit_on_click(click: On<Pointer<Click>>, world: VoxelWorld) {
    let (Some(position), Some(normal)) = (click.hit.position, click.hit.normal) else { return };
    let origin = world.origin();
    let voxel_at = |p: Vec3| origin.voxel_at(p);
    match click.button {
        PointerButton::Primary => {
            if let Err(e) = world.fill_sphere(voxel_at(position - normal * 0.5), 3.0, MaterialId::AIR) {
                warn!("dig refused: {e}");
            }
        }
        PointerButton::Secondary => world.set_voxel(voxel_at(position + normal * 0.5), MaterialId(19)),
        PointerButton::Middle => {}
    }
}

/// With `STRATA_SCREENSHOT=path`: once streaming is idle, waits 20 more frames for pipelines to
/// compile, saves a screenshot and exits.
fn screenshot_when_ready(
    mut commands: Commands,
    streaming: Res<StrataStreaming>,
    mut idle_frames: Local<u32>,
    mut done: Local<bool>,
    mut exit: MessageWriter<AppExit>,
    mut after: Local<u32>,
    mut frame: Local<u32>,
) {
    let Ok(path) = std::env::var("STRATA_SCREENSHOT") else { return };
    *frame += 1;
    if (*frame).is_multiple_of(60) {
        info!(
            "screenshot mode: frame {}, shown {:?}, queue {}, tasks {}, ready {}, idle {}",
            *frame,
            streaming.shown_per_level(),
            streaming.queue_depth(),
            streaming.tasks_in_flight(),
            streaming.ready_depth(),
            streaming.is_idle()
        );
    }
    if *done {
        *after += 1;
        if *after > 30 {
            exit.write(AppExit::Success);
        }
        return;
    }
    if streaming.is_idle() {
        *idle_frames += 1;
    }
    if *idle_frames > 20 {
        commands.spawn(Screenshot::primary_window()).observe(save_to_disk(path));
        *done = true;
    }
}
