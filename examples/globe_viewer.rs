//! A whole voxel planet: orbit it, then descend to single voxels.
//!
//! `cargo run --release --example globe_viewer`
//! (`STRATA_GEOLOGY=0` starts with geology paused.)
//!
//! Controls:
//! - **Left drag**: move over the planet (speed follows altitude). **W A S D**: the same by keys.
//! - **Mouse wheel** / **Page Up, Page Down**: zoom, from orbit down to walking height.
//! - **Q / E**: turn the heading.
//! - **Hover**: latitude, longitude, altitude and material under the pointer (bottom left).
//! - **Left click**: dig a crater there; **right click**: build a stone mound. Their size
//!   follows the distance, so they show at the LOD you are looking at (edits show at LOD ≤ 5,
//!   i.e. within a few kilometres; coarser levels come from the generator).
//! - **F3**: the debug overlay (streaming, store and index statistics, live settings, gizmos,
//!   and the geology section: pause, speed, radius, regions and voxels per second).
//! - **G**: pause / resume geology. Near the ground (within ~100 voxels of the camera, where
//!   chunks stream at full detail) thermal and hydraulic erosion move loose material down the
//!   slopes, water carries it and deposits sediment in the hollows, and volcanic vents extrude
//!   magma that cools to basalt; every change is saved like an edit.
//!
//! Edits are saved to `globe.strata` in the working directory.
//!
//! Screenshot check: `STRATA_SCREENSHOT=out.png cargo run --example globe_viewer` waits until
//! streaming is idle, the blocks are textured (a texture array that cannot be built fails the
//! check) and the meshes have been on screen for a while, saves the frame, checks it
//! by pixel statistics (from orbit the planet covers a sensible part of the frame with blue and
//! land both present, near the ground blue and land both cover part of the frame; either way at
//! least 30 % of the land pixels are vegetation green, which coarse cells that showed the rock
//! under the grass failed) and exits with status 0 if the check passed, 3 if not.
//! `STRATA_GLOBE_ALT` sets the starting altitude in voxels (`STRATA_GLOBE_HEIGHT` the height
//! above the ground there instead: 6 is walking height), `STRATA_GLOBE_LAT` /
//! `STRATA_GLOBE_LON` the place and `STRATA_GLOBE_HEADING` the direction of view (degrees
//! clockwise from north). `STRATA_GEOLOGY_STEPS=N` first saves `<out>.before.png`, runs N
//! geology steps as fast as they go (the camera is off meanwhile: nothing is looked at, and a
//! software-rendered frame would cost seconds), then takes the screenshot (to see the landscape
//! change). The screenshot mode logs the frame time (mean and p90 over the frames it waited with
//! the view complete); `STRATA_GLOBE_PLAIN=1` turns sky, fog and shadows off to compare,
//! `STRATA_WINDOW=640x360` sets the window size and `STRATA_SCREENSHOT_LIMIT_S` the time limit
//! (default 300 s).
//!
//! Walk check: `STRATA_GLOBE_WALK=600` waits for the first complete view, then flies east at
//! walking height (6 voxels above the ground, `STRATA_GLOBE_WALK_SPEED` voxels per second,
//! default 64) for that many seconds without a save. Every 10 s it logs how much of the view
//! was on screen (per frame, of the shown nodes, those displaying their own mesh, and those
//! covered with the LOD hand-over: mean and minimum), resident memory (`VmRSS`) and the voxel
//! data held (world cache + index); it exits with status 0 if the view showed at least 95 % on
//! average and the voxel data never exceeded `voxel_budget_mib`, 3 if not.
//! `STRATA_KEEP_MESH_DATA=1` keeps the meshes' vertex data on the CPU after upload
//! (`StrataConfig::keep_mesh_data`), to compare resident memory with and without it.

use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::light::{CascadeShadowConfig, CascadeShadowConfigBuilder, NotShadowCaster, ShadowFilteringMethod};
use bevy::math::DVec3;
use bevy::prelude::*;
use bevy::render::view::screenshot::Screenshot;
use bevy::window::{PrimaryWindow, WindowResolution};
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use bevy_strata::prelude::*;
use std::sync::Arc;
use strata_geo::geology::{GeologyConfig, Gravity, VolcanismConfig};

#[path = "shared/screenshot_check.rs"]
mod screenshot_check;
use screenshot_check::{PixelCheck, screenshot_deadline, take_checked_screenshot};

/// Space: the clear colour from orbit.
const CLEAR: Color = Color::srgb(0.01, 0.012, 0.03);
/// The sky near the ground (clear and fog colour), and the haze at the limb seen from orbit.
const SKY: Color = Color::srgb(0.50, 0.68, 0.90);
const HAZE: Color = Color::srgba(0.55, 0.72, 1.0, 0.8);
/// Screenshot mode gives up (exit code 3) after this many seconds of wall time (a debug build
/// under software rendering takes about 50).
const SCREENSHOT_LIMIT_S: f64 = 300.0;
/// Whether the screenshot mode starts near the ground (below R/10: sky behind the land, see
/// [`PixelStats::check`]) rather than in orbit. Set once in `main`.
static LOW_VIEW: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the screenshot mode starts at walking height (`STRATA_GLOBE_HEIGHT` at most
/// [`WALKING_VIEW_MAX`]): the ground fills the frame, and its check is that it is textured.
static WALKING_VIEW: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The highest `STRATA_GLOBE_HEIGHT` checked as a walking view.
const WALKING_VIEW_MAX: f64 = 32.0;

fn main() -> AppExit {
    let planet = Arc::new(PlanetGenerator::default());
    let radius = planet.config().sea_level_radius();
    let (lat, lon) = (env_f64("STRATA_GLOBE_LAT", 20.0), env_f64("STRATA_GLOBE_LON", -30.0));
    // `STRATA_GLOBE_HEIGHT`: voxels above the ground there (walking height is 6).
    let height = std::env::var("STRATA_GLOBE_HEIGHT").ok().and_then(|s| s.parse::<f64>().ok());
    WALKING_VIEW.store(height.is_some_and(|h| h <= WALKING_VIEW_MAX), std::sync::atomic::Ordering::Relaxed);
    let over_ground = height.map(|h| planet.surface_altitude(lat, lon).unwrap_or(0.0).max(0.0) + h);
    let start_alt =
        std::env::var("STRATA_GLOBE_ALT").ok().and_then(|s| s.parse().ok()).or(over_ground).unwrap_or(radius * 2.2);
    LOW_VIEW.store(start_alt < radius / 10.0, std::sync::atomic::Ordering::Relaxed);
    let checking = std::env::var("STRATA_SCREENSHOT").is_ok() || std::env::var("STRATA_GLOBE_WALK").is_ok();
    let save = if checking { None } else { Some("globe.strata".to_string()) };
    let config = StrataConfig {
        save_path: save,
        view_distance: (radius * 4.0) as f32,
        lod_max_level: bevy_strata::MAX_LOD_LEVEL,
        lod_split_distance: 2.0,
        ambient_occlusion: true,
        // The walk check compares memory with the meshes' data kept on the CPU (`=1`) and not.
        keep_mesh_data: std::env::var("STRATA_KEEP_MESH_DATA").is_ok_and(|v| v == "1"),
        ..default()
    };
    let mut app = App::new();
    app.add_plugins((
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: "Strata — globe viewer".into(),
                    resolution: window_size().map_or_else(default, |(w, h)| WindowResolution::new(w, h)),
                    ..default()
                }),
                ..default()
            })
            .set(bevy_strata::task_pool_plugin()),
        StrataPlugin::new(config).with_generator(planet.clone()),
        StrataGeologyPlugin {
            config: GeologyConfig {
                seed: 42,
                gravity: Gravity::TowardOrigin,
                volcanism: Some(VolcanismConfig { vent_spacing: 96, vent_chance: 0.2, ..default() }),
                ..default()
            },
            settings: GeologySettings {
                // The screenshot check wants a still world; interactive runs erode.
                enabled: std::env::var("STRATA_SCREENSHOT").is_err()
                    && std::env::var("STRATA_GEOLOGY").map_or(true, |v| v != "0"),
                ..default()
            },
        },
        StrataDebugUiPlugin,
        StrataAtmospherePlugin,
    ))
    .insert_resource(ClearColor(CLEAR))
    .insert_resource(Planet(planet))
    .insert_resource(Orbit { lat, lon, alt: start_alt, heading: env_f64("STRATA_GLOBE_HEADING", 0.0), drag_px: 0.0 })
    .insert_resource(StrataPickingSettings { max_distance: (radius * 4.0) as f32 })
    .add_systems(Startup, setup)
    .add_observer(water_casts_no_shadow)
    .add_systems(
        Update,
        (controls, walk, place_camera, atmosphere, toggle_geology).chain().before(StrataSystems::TrackViewers),
    )
    .add_systems(Update, (hover_and_click, screenshot_when_ready).after(StrataSystems::Apply))
    .add_systems(Update, screenshot_deadline(SCREENSHOT_LIMIT_S))
    .add_systems(EguiPrimaryContextPass, info);
    // Textured blocks (the plugin's texture array, `assets/textures/`), which also cross-fade
    // LOD changes (`StrataConfig::lod_fade_s`); `STRATA_GLOBE_UNTEXTURED=1` shows vertex colours
    // instead (to compare: the walking-height check fails then).
    if std::env::var("STRATA_GLOBE_UNTEXTURED").map_or(true, |v| v != "1") {
        app.add_plugins(StrataTexturesPlugin::default());
    }
    app.run()
}

/// `STRATA_WINDOW=<width>x<height>`: the window size in pixels (default 1280 × 720). A
/// software renderer's frame time falls with the pixel count, so a screenshot check may run
/// smaller.
fn window_size() -> Option<(u32, u32)> {
    let v = std::env::var("STRATA_WINDOW").ok()?;
    let (w, h) = v.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

/// A number from the environment, or `default`.
fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// The planet generator, shared with the plugin.
#[derive(Resource)]
struct Planet(Arc<PlanetGenerator>);

/// The camera's place: above (`lat`, `lon`) at `alt` voxels above sea level, facing `heading`
/// (degrees clockwise from north).
#[derive(Resource)]
struct Orbit {
    lat: f64,
    lon: f64,
    alt: f64,
    heading: f64,
    /// Pixels the pointer moved while the left button was down (a click is a short drag).
    drag_px: f32,
}

#[derive(Component)]
struct MainCamera;

/// The directional light.
#[derive(Component)]
struct Sun;

/// `STRATA_GLOBE_PLAIN=1`: no fog, sky or shadows (the look before them, to compare frame times).
fn plain_look() -> bool {
    std::env::var("STRATA_GLOBE_PLAIN").is_ok_and(|v| v == "1")
}

/// The line under the pointer (camera position, what the pointer is over), drawn by [`info`].
#[derive(Resource, Default)]
struct InfoText(String);

fn setup(mut commands: Commands, planet: Res<Planet>) {
    let plain = plain_look();
    let mut camera = commands.spawn((
        Camera3d::default(),
        Projection::Perspective(PerspectiveProjection { near: 0.1, far: 1.0e7, ..default() }),
        Transform::default(),
        MainCamera,
        StreamingViewer::default(),
        StrataFloatingOrigin,
    ));
    if !plain {
        // One hardware-filtered tap per shadow lookup: the default (Gaussian) filter takes many,
        // which a software renderer feels.
        camera.insert(ShadowFilteringMethod::Hardware2x2);
        // Sky and fog follow the camera's height (the plugin's `StrataAtmospherePlugin`).
        camera.insert(StrataAtmosphere {
            sky: SKY,
            space: CLEAR,
            haze: HAZE,
            ..StrataAtmosphere::planet(DVec3::ZERO, planet.0.config().sea_level_radius())
        });
    }
    commands.spawn((
        DirectionalLight { illuminance: 10_000.0, shadow_maps_enabled: !plain, ..default() },
        Transform::default().looking_to(Vec3::new(-0.6, -0.35, -0.7), Vec3::Y),
        Sun,
    ));
    commands.insert_resource(GlobalAmbientLight { brightness: 250.0, ..default() });
    commands.insert_resource(InfoText("loading…".into()));
}

/// Draws [`InfoText`] at the bottom left (egui: the overlay the debug panel uses too).
fn info(mut contexts: EguiContexts, text: Res<InfoText>) -> Result {
    let ctx = contexts.ctx_mut()?;
    egui::Area::new(egui::Id::new("globe_info")).anchor(egui::Align2::LEFT_BOTTOM, [10.0, -10.0]).show(ctx, |ui| {
        egui::Frame::new().fill(egui::Color32::from_black_alpha(140)).inner_margin(6.0).show(ui, |ui| {
            ui.label(egui::RichText::new(&text.0).color(egui::Color32::from_rgb(230, 235, 242)).size(14.0));
        });
    });
    Ok(())
}

/// Unit vectors of the local frame at (`lat`, `lon`): (up, north, east).
fn local_frame(lat: f64, lon: f64) -> (DVec3, DVec3, DVec3) {
    let up = DVec3::from_array(GeoCoord::new(lat, lon, 0.0).direction());
    let pole = DVec3::Y;
    let east = if pole.cross(up).length_squared() < 1e-12 { DVec3::X } else { pole.cross(up).normalize() };
    let north = up.cross(east).normalize();
    (up, north, east)
}

/// G pauses and resumes geology.
fn toggle_geology(keys: Res<ButtonInput<KeyCode>>, mut settings: ResMut<GeologySettings>) {
    if keys.just_pressed(KeyCode::KeyG) {
        settings.enabled = !settings.enabled;
        info!("geology {}", if settings.enabled { "running" } else { "paused" });
    }
}

fn controls(
    time: Res<Time>,
    keys: Res<ButtonInput<KeyCode>>,
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    planet: Res<Planet>,
    mut orbit: ResMut<Orbit>,
) {
    let radius = planet.0.config().sea_level_radius();
    let dt = time.delta_secs_f64();
    // Ground height under the camera, so walking height follows the terrain.
    let ground = planet.0.surface_altitude(orbit.lat, orbit.lon).unwrap_or(0.0).max(0.0);
    let height = (orbit.alt - ground).max(1.0);
    // Zoom: exponential in height above ground.
    let mut zoom = match scroll.unit {
        MouseScrollUnit::Line => scroll.delta.y as f64,
        MouseScrollUnit::Pixel => scroll.delta.y as f64 / 40.0,
    };
    if keys.pressed(KeyCode::PageUp) {
        zoom += 4.0 * dt;
    }
    if keys.pressed(KeyCode::PageDown) {
        zoom -= 4.0 * dt;
    }
    let height = (height * 0.85f64.powf(zoom)).clamp(2.0, radius * 4.0);
    orbit.alt = ground + height;
    // Move: angular speed so the ground moves at about one screen per second.
    let deg_per_voxel = 180.0 / (std::f64::consts::PI * radius);
    let speed = height * deg_per_voxel; // degrees per second at one "screen"
    let mut forward = 0.0;
    let mut right = 0.0;
    if keys.pressed(KeyCode::KeyW) {
        forward += 1.0;
    }
    if keys.pressed(KeyCode::KeyS) {
        forward -= 1.0;
    }
    if keys.pressed(KeyCode::KeyD) {
        right += 1.0;
    }
    if keys.pressed(KeyCode::KeyA) {
        right -= 1.0;
    }
    forward *= speed * dt;
    right *= speed * dt;
    if buttons.pressed(MouseButton::Left) {
        orbit.drag_px += motion.delta.length();
        if orbit.drag_px > 4.0 {
            forward += motion.delta.y as f64 * speed / 600.0;
            right -= motion.delta.x as f64 * speed / 600.0;
        }
    } else if !buttons.just_released(MouseButton::Left) {
        orbit.drag_px = 0.0;
    }
    if keys.pressed(KeyCode::KeyQ) {
        orbit.heading -= 60.0 * dt;
    }
    if keys.pressed(KeyCode::KeyE) {
        orbit.heading += 60.0 * dt;
    }
    let h = orbit.heading.to_radians();
    let (dn, de) = (forward * h.cos() - right * h.sin(), forward * h.sin() + right * h.cos());
    orbit.lat = (orbit.lat + dn).clamp(-89.5, 89.5);
    let coslat = orbit.lat.to_radians().cos().max(0.05);
    orbit.lon = (orbit.lon + de / coslat + 540.0).rem_euclid(360.0) - 180.0;
}

/// `STRATA_GLOBE_WALK=<seconds>`: flies east at walking height, samples memory every second
/// and exits with the verdict (see the module docs).
fn walk(
    time: Res<Time>,
    planet: Res<Planet>,
    sw: Res<bevy_strata::StrataWorld>,
    streaming: Res<StrataStreaming>,
    mut orbit: ResMut<Orbit>,
    mut state: Local<WalkState>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(duration) = std::env::var("STRATA_GLOBE_WALK").ok().and_then(|v| v.parse::<f64>().ok()) else {
        return;
    };
    let speed = env_f64("STRATA_GLOBE_WALK_SPEED", 64.0);
    let radius = planet.0.config().sea_level_radius();
    let ground = planet.0.surface_altitude(orbit.lat, orbit.lon).unwrap_or(0.0).max(0.0);
    orbit.alt = ground + 6.0;
    orbit.heading = 90.0;
    let t = time.elapsed_secs_f64();
    let launched = *state.launched.get_or_insert(t);
    // The walk starts at the first complete view (or after `WALK_FIRST_VIEW_LIMIT_S`).
    let start = match state.start {
        Some(start) => start,
        None if streaming.is_idle() || t - launched >= WALK_FIRST_VIEW_LIMIT_S => {
            info!(
                "walk: first view {} after {:.1} s; walking east at {speed} voxels/s",
                if streaming.is_idle() { "complete" } else { "NOT complete" },
                t - launched
            );
            *state.start.insert(t)
        }
        None => return,
    };
    let coslat = orbit.lat.to_radians().cos().max(0.05);
    let deg_per_voxel = 180.0 / (std::f64::consts::PI * radius);
    orbit.lon = (orbit.lon + speed * time.delta_secs_f64() * deg_per_voxel / coslat + 540.0).rem_euclid(360.0) - 180.0;
    let voxel_mib = sw.resident_voxel_bytes() as f64 / f64::from(1u32 << 20);
    let budget_mib = sw.voxel_budget_bytes() as f64 / f64::from(1u32 << 20);
    state.max_voxel_mib = state.max_voxel_mib.max(voxel_mib);
    let fraction = |(part, all): (usize, usize)| part as f64 / all.max(1) as f64;
    let (displayed, covered) = (fraction(streaming.view_displayed()), fraction(streaming.view_covered()));
    state.whole.add(displayed, covered);
    state.window.add(displayed, covered);
    let elapsed = t - start;
    if elapsed >= state.next_log_s {
        state.next_log_s += 10.0;
        let rss = rss_mib().unwrap_or(f64::NAN);
        state.rss.push((elapsed, rss));
        let w = std::mem::take(&mut state.window);
        info!(
            "walk: {elapsed:.0} s, {:.0} voxels east, view shown {:.4} (min {:.4}, covered {:.4}) over {} frames, rss \
             {rss:.0} MiB, voxel data {voxel_mib:.1} / {budget_mib:.0} MiB (index {:.1} MiB, {} released chunks, {} \
             chunks in the world cache), shown per level {:?}, {} nodes queued",
            state.walked,
            w.mean_displayed(),
            w.min_displayed,
            w.mean_covered(),
            w.frames,
            sw.index_memory().total() as f64 / f64::from(1u32 << 20),
            sw.index_memory().released_chunks,
            sw.world.stats().resident_chunks,
            streaming.shown_per_level(),
            streaming.queue_depth()
        );
    }
    state.walked += speed * time.delta_secs_f64();
    if elapsed >= duration && !state.done {
        state.done = true;
        let (first, last) =
            (state.rss.first().copied().unwrap_or_default(), state.rss.last().copied().unwrap_or_default());
        let within = state.max_voxel_mib <= budget_mib;
        let v = &state.whole;
        let complete = v.mean_displayed() >= WALK_MIN_VIEW_SHOWN;
        info!(
            "walk done: {elapsed:.0} s, {:.0} voxels, {} frames ({:.1} per second); view shown mean {:.4} min {:.4} \
             (target mean ≥ {WALK_MIN_VIEW_SHOWN}: {}), covered mean {:.4} min {:.4}; rss {:.0} MiB at {:.0} s → {:.0} \
             MiB at {:.0} s, max voxel data {:.1} MiB, budget {budget_mib:.0} MiB: {}",
            state.walked,
            v.frames,
            v.frames as f64 / elapsed.max(1e-9),
            v.mean_displayed(),
            v.min_displayed,
            if complete { "met" } else { "MISSED" },
            v.mean_covered(),
            v.min_covered,
            first.1,
            first.0,
            last.1,
            last.0,
            state.max_voxel_mib,
            if within { "within" } else { "OVER" }
        );
        exit.write(if within && complete { AppExit::Success } else { AppExit::from_code(3) });
    }
}

/// The walk check fails when the view shows less than this on average (per frame, of the shown
/// nodes, those displaying their own mesh): issue 41's planet-walk target.
const WALK_MIN_VIEW_SHOWN: f64 = 0.95;

/// The walk starts at the first complete view, or walks anyway after this many seconds.
const WALK_FIRST_VIEW_LIMIT_S: f64 = 120.0;

/// Progress of the walk check.
#[derive(Default)]
struct WalkState {
    /// `Time::elapsed_secs_f64` at the first frame and at the first complete view.
    launched: Option<f64>,
    start: Option<f64>,
    next_log_s: f64,
    /// Voxels walked.
    walked: f64,
    max_voxel_mib: f64,
    rss: Vec<(f64, f64)>,
    /// What the view showed over the whole walk, and since the last log line.
    whole: ViewShown,
    window: ViewShown,
    done: bool,
}

/// Per-frame fractions of the view on screen ([`StrataStreaming::view_displayed`] and
/// [`StrataStreaming::view_covered`]): sums and minima.
struct ViewShown {
    frames: u64,
    displayed: f64,
    covered: f64,
    min_displayed: f64,
    min_covered: f64,
}

impl Default for ViewShown {
    fn default() -> Self {
        Self { frames: 0, displayed: 0.0, covered: 0.0, min_displayed: f64::NAN, min_covered: f64::NAN }
    }
}

impl ViewShown {
    fn add(&mut self, displayed: f64, covered: f64) {
        self.frames += 1;
        self.displayed += displayed;
        self.covered += covered;
        self.min_displayed = self.min_displayed.min(displayed);
        self.min_covered = self.min_covered.min(covered);
    }

    fn mean_displayed(&self) -> f64 {
        self.displayed / self.frames as f64
    }

    fn mean_covered(&self) -> f64 {
        self.covered / self.frames as f64
    }
}

/// Resident memory of this process (`VmRSS` from procfs), MiB; `None` without procfs.
fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

/// Puts the camera at the orbit position (world voxels → render space through the floating
/// origin). Far away it looks at the planet's centre; near the ground it tilts to the horizon.
fn place_camera(
    planet: Res<Planet>,
    orbit: Res<Orbit>,
    origin: Res<StrataOrigin>,
    mut camera: Query<(&mut Transform, &mut StreamingViewer), With<MainCamera>>,
) {
    let Ok((mut transform, mut viewer)) = camera.single_mut() else { return };
    let radius = planet.0.config().sea_level_radius();
    let (up, north, east) = local_frame(orbit.lat, orbit.lon);
    let r = radius + orbit.alt;
    let world = up * r;
    let h = orbit.heading.to_radians();
    let heading = north * h.cos() + east * h.sin();
    // Pitch below the horizon: 90° (straight down) above ~0.6 R, 12° at walking height.
    let ground = planet.0.surface_altitude(orbit.lat, orbit.lon).unwrap_or(0.0).max(0.0);
    let t = (((orbit.alt - ground).max(2.0) / 2.0).ln() / ((radius * 0.6) / 2.0).ln()).clamp(0.0, 1.0);
    let pitch = (12.0 + 78.0 * t).to_radians();
    let forward = (heading * pitch.cos() - up * pitch.sin()).normalize();
    let render = world - origin.voxel.as_dvec3();
    *transform = Transform::from_translation(render.as_vec3()).looking_to(forward.as_vec3(), up.as_vec3());
    // See to the horizon (and the whole disc from orbit), never less than 512 voxels.
    let horizon = (r * r - radius * radius).max(0.0).sqrt() + radius * 0.05;
    viewer.view_distance = Some(horizon.max(512.0) as f32);
}

/// Water (and glass) lets the sun through: transparent node meshes cast no shadow (they still
/// receive them).
fn water_casts_no_shadow(add: On<Add, StrataSurface>, surfaces: Query<&StrataSurface>, mut commands: Commands) {
    if surfaces.get(add.entity) == Ok(&StrataSurface::Transparent) {
        commands.entity(add.entity).insert(NotShadowCaster);
    }
}

/// The ground under the camera for its sky and fog ([`StrataAtmosphere`], which the plugin's
/// `StrataAtmospherePlugin` keeps: blue near the ground fading to space, fog out to 1.5 horizons
/// near the ground and to the view distance from orbit), and shadows for its height above the
/// ground (after [`place_camera`]): below a tenth of the radius (from orbit relief casts no
/// visible shadow), in three cascades out to four heights (64 to 4,096 voxels): the relief
/// around the view's centre; far LOD rings are shaded by the sun's angle alone, which keeps the
/// frame cost down.
fn atmosphere(
    planet: Res<Planet>,
    orbit: Res<Orbit>,
    mut camera: Query<&mut StrataAtmosphere, With<MainCamera>>,
    mut sun: Query<(&mut DirectionalLight, &mut CascadeShadowConfig), With<Sun>>,
) {
    let Ok(mut sky) = camera.single_mut() else { return };
    let radius = planet.0.config().sea_level_radius();
    let ground = planet.0.surface_altitude(orbit.lat, orbit.lon).unwrap_or(0.0).max(0.0);
    let height = (orbit.alt - ground).max(1.0);
    if sky.ground_altitude != ground {
        sky.ground_altitude = ground;
    }
    let near = height as f32;
    if let Ok((mut light, mut cascades)) = sun.single_mut() {
        let shadows = height < radius * 0.1;
        if light.shadow_maps_enabled != shadows {
            light.shadow_maps_enabled = shadows;
        }
        let max = (near * 4.0).clamp(64.0, 4096.0);
        *cascades = CascadeShadowConfigBuilder {
            num_cascades: 3,
            minimum_distance: 0.1,
            first_cascade_far_bound: (max / 12.0).max(8.0),
            maximum_distance: max,
            ..default()
        }
        .build();
    }
}

/// What the pointer is over: an exact voxel ray hit where chunks are loaded, otherwise the
/// generator's surface found by marching the ray.
struct Target {
    voxel: VoxelPos,
    normal: IVec3,
    distance: f64,
}

fn march_surface(planet: &PlanetGenerator, origin: DVec3, dir: DVec3, max: f64) -> Option<Target> {
    let radius = planet.config().sea_level_radius();
    let top = radius + planet.altitude_bounds().1;
    // Enter the shell of possible terrain, then step by a fraction of the height above ground.
    let b = origin.dot(dir);
    let c = origin.length_squared() - top * top;
    let disc = b * b - c;
    if disc < 0.0 {
        return None;
    }
    let mut t = (-b - disc.sqrt()).max(0.0);
    for _ in 0..4096 {
        if t > max {
            return None;
        }
        let p = origin + dir * t;
        let voxel = VoxelPos::containing(p.to_array());
        let geo = planet.frame().to_geo(voxel);
        let ground = planet.surface_altitude(geo.lat_deg, geo.lon_deg).unwrap_or(0.0).max(0.0);
        let above = geo.alt - ground;
        if above <= 0.5 {
            return Some(Target { voxel, normal: IVec3::ZERO, distance: t });
        }
        t += (above * 0.5).max(0.5);
    }
    None
}

// A Bevy system: its parameters are its dependencies.
#[allow(clippy::too_many_arguments)]
fn hover_and_click(
    window: Query<&Window, With<PrimaryWindow>>,
    camera: Query<(&Camera, &GlobalTransform), With<MainCamera>>,
    buttons: Res<ButtonInput<MouseButton>>,
    planet: Res<Planet>,
    orbit: Res<Orbit>,
    world: VoxelWorld,
    mut text: ResMut<InfoText>,
) {
    let (Ok(window), Ok((camera, cam_t))) = (window.single(), camera.single()) else {
        return;
    };
    let radius = planet.0.config().sea_level_radius();
    let here = format!(
        "camera {:.3}°, {:.3}°, altitude {:.0} · heading {:.0}°",
        orbit.lat,
        orbit.lon,
        orbit.alt,
        orbit.heading.rem_euclid(360.0)
    );
    let Some(cursor) = window.cursor_position() else {
        text.0 = here;
        return;
    };
    let Ok(ray) = camera.viewport_to_world(cam_t, cursor) else { return };
    let max = radius * 8.0;
    let target = world
        .raycast(ray, max as f32)
        .map(|h| Target { voxel: h.voxel, normal: h.normal, distance: f64::from(h.distance) })
        .or_else(|| {
            let o = world.origin().to_world(ray.origin);
            march_surface(&planet.0, o, ray.direction.as_vec3().as_dvec3(), max)
        });
    let Some(target) = target else {
        text.0 = format!("{here}\n(space)");
        return;
    };
    let geo = planet.0.frame().to_geo(target.voxel);
    let material = world.resident_voxel(target.voxel).unwrap_or_else(|| planet.0.material_at(target.voxel));
    let name = world_material_name(&world, material);
    text.0 = format!(
        "{here}\npointer: {:.4}°, {:.4}°, altitude {:.1} · {name} · voxel ({}, {}, {}) · {:.0} away",
        geo.lat_deg, geo.lon_deg, geo.alt, target.voxel.x, target.voxel.y, target.voxel.z, target.distance
    );
    // A click is a press and release without dragging.
    if orbit.drag_px > 4.0 {
        return;
    }
    let size = (target.distance / 150.0).clamp(1.5, 400.0) as f32;
    if buttons.just_released(MouseButton::Left) {
        // (At most 801 voxels across: within MAX_EDIT_EXTENT.)
        if let Err(e) = world.fill_sphere(target.voxel, size, MaterialId::AIR) {
            warn!("dig refused: {e}");
        }
    } else if buttons.just_released(MouseButton::Right) {
        let n = target.normal;
        let at = if n == IVec3::ZERO {
            target.voxel
        } else {
            VoxelPos::new(target.voxel.x + n.x, target.voxel.y + n.y, target.voxel.z + n.z)
        };
        if size <= 1.5 {
            world.set_voxel(at, MaterialId(1));
        } else {
            if let Err(e) = world.fill_sphere(at, size, MaterialId(1)) {
                warn!("build refused: {e}");
            }
        }
    }
}

fn world_material_name(world: &VoxelWorld, m: MaterialId) -> String {
    world.registry().get(m).map_or_else(|_| format!("material {}", m.0), |d| d.name.clone())
}

/// Screenshot mode: once streaming has been idle for a while, capture, check and exit.
// A Bevy system: its parameters are its dependencies.
#[allow(clippy::too_many_arguments)]
fn screenshot_when_ready(
    mut commands: Commands,
    streaming: Res<StrataStreaming>,
    mut idle_frames: Local<u32>,
    mut requested: Local<bool>,
    mut frame: Local<u32>,
    mut geology_phase: Local<u8>,
    mut geology_frames: Local<u32>,
    mut geology: ResMut<GeologySettings>,
    geology_stats: Res<GeologyStats>,
    mut cameras: Query<&mut Camera, With<MainCamera>>,
    time: Res<Time>,
    real: Res<Time<Real>>,
    mut frame_ms: Local<Vec<f32>>,
    (textures, mut exit): (Option<Res<StrataTextures>>, MessageWriter<AppExit>),
) {
    let Ok(path) = std::env::var("STRATA_SCREENSHOT") else { return };
    if let Some(StrataTextures::Failed(error)) = textures.as_deref() {
        error!("screenshot check failed: the texture array could not be built: {error}");
        exit.write(AppExit::error());
        return;
    }
    // STRATA_GEOLOGY_STEPS=N: once the view is complete, save `<path>.before.png`, run N geology
    // steps, and take the checked screenshot when streaming is idle again.
    let geology_steps: u64 = std::env::var("STRATA_GEOLOGY_STEPS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    *frame += 1;
    if (*frame).is_multiple_of(60) {
        let (done, total) = streaming.view_progress();
        info!(
            "screenshot mode: {:.0} s, frame {}, view {done}/{total}, per level {:?}, tasks {}, idle {}",
            time.elapsed_secs(),
            *frame,
            streaming.shown_per_level(),
            streaming.tasks_in_flight(),
            streaming.is_idle()
        );
        if *geology_phase == 1 {
            info!(
                "screenshot mode: geology step {}/{geology_steps} ({:?}), {} regions, {} voxels changed, {} regions not resident",
                geology_stats.steps,
                geology_stats.current,
                geology_stats.regions,
                geology_stats.voxels_changed,
                geology_stats.regions_not_resident
            );
        }
    }
    if *requested {
        return;
    }
    // Complete: streaming idle and the blocks textured.
    let textured = textures.is_none_or(|t| t.is_ready());
    *idle_frames = if streaming.is_idle() && textured { *idle_frames + 1 } else { 0 };
    if geology_steps > 0 && *geology_phase == 0 && *idle_frames > SCREENSHOT_IDLE_FRAMES {
        *geology_phase = 1;
        *idle_frames = 0;
        geology.enabled = true;
        // As fast as the steps go: a step waits for the one before, not for the clock.
        geology.steps_per_second = 240.0;
        commands
            .spawn(Screenshot::primary_window())
            .observe(bevy::render::view::screenshot::save_to_disk(format!("{path}.before.png")));
        info!("screenshot mode: view complete, saved {path}.before.png; running {geology_steps} geology steps");
        return;
    }
    if *geology_phase == 1 {
        // Nothing is looked at while geology runs: once the before picture is taken (a few
        // frames), the camera is off, so a frame costs milliseconds instead of the software
        // renderer's seconds and the steps (and the remeshing they cause) are not frame-bound.
        *geology_frames += 1;
        if *geology_frames == BEFORE_PICTURE_FRAMES {
            cameras.iter_mut().for_each(|mut c| c.is_active = false);
        }
        if geology_stats.steps >= geology_steps && *geology_frames > BEFORE_PICTURE_FRAMES {
            geology.enabled = false;
            *geology_phase = 2;
            cameras.iter_mut().for_each(|mut c| c.is_active = true);
            info!("screenshot mode: geology done after {} frames: {geology_stats:?}", *geology_frames);
        }
        *idle_frames = 0;
        return;
    }
    // Frame times while the view is complete (what the sky, fog and shadows cost: compare with
    // `STRATA_GLOBE_PLAIN=1`).
    if *idle_frames > 0 {
        // Wall-clock time: `Time` clamps its delta at 250 ms.
        frame_ms.push(real.delta_secs() * 1000.0);
    } else {
        frame_ms.clear();
    }
    if *idle_frames > SCREENSHOT_IDLE_FRAMES {
        *requested = true;
        let mut sorted = frame_ms.clone();
        sorted.sort_by(f32::total_cmp);
        let mean = sorted.iter().sum::<f32>() / sorted.len().max(1) as f32;
        let p90 = sorted.get(sorted.len() * 9 / 10).copied().unwrap_or(f32::NAN);
        info!(
            "screenshot mode: frame time over the last {} idle frames: mean {mean:.1} ms, p90 {p90:.1} ms ({})",
            sorted.len(),
            if plain_look() { "plain" } else { "sky, fog and shadows" }
        );
        take_checked_screenshot::<PixelStats>(&mut commands, path);
    }
}

/// Frames streaming must have been idle before the screenshot mode captures (and over which it
/// reports frame times). Software rendering takes about a second per frame here, so each frame
/// of waiting is a second of CI; pipelines have long compiled by the time the view is complete.
const SCREENSHOT_IDLE_FRAMES: u32 = 10;

/// Frames the screenshot mode keeps the camera on after requesting the before picture of a
/// geology pair (the capture is read back a frame or two later).
const BEFORE_PICTURE_FRAMES: u32 = 10;

/// Pixel classes of a screenshot of the globe: space, blue (sea, and near the ground the sky),
/// land, and the part of the land that is vegetation green.
#[derive(Debug, Default)]
struct PixelStats {
    total: u32,
    background: u32,
    ocean: u32,
    land: u32,
    vegetation: u32,
    /// Horizontally adjacent land pixels in the lower half of the frame (the near ground,
    /// where voxels are tens of pixels wide), and those of them that differ by at least
    /// [`TEXEL_STEP`] in a channel: texels. Vertex colours change smoothly inside a face.
    near_pairs: u32,
    texel_pairs: u32,
}

/// Colour step (per channel, sRGB) that counts as a texel edge.
const TEXEL_STEP: f32 = 0.04;

/// At walking height, at least this fraction of the near land's adjacent pixel pairs are texel
/// edges (see `PixelStats::near_pairs`). Measured at 21° N, 30° W, 6 voxels up, 480 × 270:
/// 18.3 % textured, 3.5 % with vertex colours (`STRATA_GLOBE_UNTEXTURED=1`).
const MIN_TEXEL_PAIRS: f64 = 0.1;

/// Of the land pixels, at least this fraction is vegetation green. The place the screenshot
/// mode looks at (20° N, 30° W) is grassland with snowy hills: with coarse cells showing the
/// rock under the grass (before surface-aware LOD) 0 % of the land was green from orbit and
/// 11 % at 1,500 voxels (beige pillars with green dots), against 71 % and 86 % now.
const MIN_VEGETATION: f64 = 0.3;

impl PixelStats {
    /// At walking height the ground fills the frame: at least half of it is land, at least 10 %
    /// of that green, and the near ground is textured (at least [`MIN_TEXEL_PAIRS`] of its
    /// adjacent pixel pairs are texel edges).
    fn check_walking(&self) -> Result<(), String> {
        let land = self.land as f64 / self.total.max(1) as f64;
        let green = self.vegetation as f64 / self.land.max(1) as f64;
        let texels = self.texel_pairs as f64 / self.near_pairs.max(1) as f64;
        if land < 0.5 || green < 0.1 {
            return Err(format!("land {:.1} % of the frame, {:.1} % of it green", land * 100.0, green * 100.0));
        }
        if texels < MIN_TEXEL_PAIRS {
            return Err(format!(
                "{:.1} % of the near ground's pixel pairs are texel edges (at least {:.0} % expected): untextured?",
                texels * 100.0,
                MIN_TEXEL_PAIRS * 100.0
            ));
        }
        Ok(())
    }
}

/// What a screenshot pixel shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PixelClass {
    /// Space (the clear colour).
    Background,
    /// Blue: sea, or near the ground the sky.
    Ocean,
    /// Anything else.
    Land,
}

impl PixelClass {
    fn of(c: Srgba) -> Self {
        let bg = CLEAR.to_srgba();
        let d = (c.red - bg.red).abs() + (c.green - bg.green).abs() + (c.blue - bg.blue).abs();
        if d < 0.06 {
            PixelClass::Background
        } else if c.blue > c.red + 0.08 && c.blue > c.green {
            PixelClass::Ocean
        } else {
            PixelClass::Land
        }
    }
}

impl PixelCheck for PixelStats {
    fn of(image: &Image) -> Self {
        let mut s = PixelStats::default();
        for y in (0..image.height()).step_by(2) {
            for x in (0..image.width()).step_by(2) {
                let Ok(c) = image.get_color_at(x, y) else { continue };
                let c = c.to_srgba();
                s.total += 1;
                match PixelClass::of(c) {
                    PixelClass::Background => s.background += 1,
                    PixelClass::Ocean => s.ocean += 1,
                    PixelClass::Land => {
                        s.land += 1;
                        if c.green > c.red + 0.04 && c.green > c.blue + 0.04 {
                            s.vegetation += 1;
                        }
                    }
                }
            }
        }
        for y in (image.height() / 2..image.height()).step_by(2) {
            let mut left: Option<Srgba> = None;
            for x in 0..image.width() {
                let c = image
                    .get_color_at(x, y)
                    .ok()
                    .map(|c| c.to_srgba())
                    .filter(|c| PixelClass::of(*c) == PixelClass::Land);
                if let (Some(a), Some(b)) = (left, c) {
                    s.near_pairs += 1;
                    let step = (a.red - b.red).abs().max((a.green - b.green).abs()).max((a.blue - b.blue).abs());
                    s.texel_pairs += u32::from(step >= TEXEL_STEP);
                }
                left = c;
            }
        }
        s
    }

    /// From orbit: the planet covers 5–95 % of the frame, and of the planet at least 3 % is
    /// ocean and at least 3 % land. Near the ground (below R/10): blue (sky or sea) and land
    /// each cover at least 3 % of the frame. Both: at least [`MIN_VEGETATION`] of the land
    /// pixels are green (coarse cells show the surface, not the rock under it).
    fn check(&self) -> Result<(), String> {
        if WALKING_VIEW.load(std::sync::atomic::Ordering::Relaxed) {
            return self.check_walking();
        }
        let low = LOW_VIEW.load(std::sync::atomic::Ordering::Relaxed);
        let total = self.total.max(1) as f64;
        let planet = self.ocean + self.land;
        let cover = planet as f64 / total;
        if !low && !(0.05..=0.95).contains(&cover) {
            return Err(format!("planet covers {:.1} % of the frame", cover * 100.0));
        }
        let whole = if low { total } else { planet.max(1) as f64 };
        let ocean = self.ocean as f64 / whole;
        let land = self.land as f64 / whole;
        if ocean < 0.03 || land < 0.03 {
            return Err(format!(
                "blue {:.1} %, land {:.1} % of the {}",
                ocean * 100.0,
                land * 100.0,
                if low { "frame" } else { "planet" }
            ));
        }
        let green = self.vegetation as f64 / self.land.max(1) as f64;
        if green < MIN_VEGETATION {
            return Err(format!(
                "{:.1} % of the land is green (at least {:.0} % expected)",
                green * 100.0,
                MIN_VEGETATION * 100.0
            ));
        }
        Ok(())
    }
}
