//! Helpers shared by the plugin's headless tests.

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use bevy_strata::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use strata_core::FlatGenerator;

/// Stone: the flat test worlds' ground.
pub const STONE: MaterialId = MaterialId(1);

/// A small view for headless tests: 160 voxels, LOD levels 0–2 split at one node size,
/// generous per-frame budgets (results land within a few frames), no ambient occlusion.
pub fn small_view() -> StrataConfig {
    StrataConfig {
        view_distance: 160.0,
        lod_max_level: 2,
        lod_split_distance: 1.0,
        max_tasks_in_flight: 16,
        max_results_per_frame: 64,
        apply_budget_ms: 50.0,
        ambient_occlusion: false,
        ..StrataConfig::default()
    }
}

/// A headless app (`MinimalPlugins`, 16 ms per update) streaming a flat stone world whose ground
/// is the voxels below `height`, configured by `config`.
pub fn flat_app(config: StrataConfig, height: i32) -> App {
    flat_app_with(|plugin| plugin, config, height)
}

/// [`flat_app`] with the plugin passed through `customize` first (a store, materials, …).
pub fn flat_app_with(customize: impl FnOnce(StrataPlugin) -> StrataPlugin, config: StrataConfig, height: i32) -> App {
    flat_app_extended(customize, |_| {}, config, height)
}

/// [`flat_app_with`], and `extend` adds the app's own plugins and resources before it finishes.
pub fn flat_app_extended(
    customize: impl FnOnce(StrataPlugin) -> StrataPlugin,
    extend: impl FnOnce(&mut App),
    config: StrataConfig,
    height: i32,
) -> App {
    let plugin =
        customize(StrataPlugin::new(config).with_generator(Arc::new(FlatGenerator { height, material: STONE })));
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, StrataMinimalPlugins::with_plugin(plugin)))
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(16)));
    extend(&mut app);
    app.finish();
    app.cleanup();
    app
}

/// A [`flat_app`] (ground below 0) on the save at `path`, committing only when asked
/// (`commit_interval_s` an hour), `extend`ed like [`flat_app_extended`], started and ready.
pub fn saved_app(path: &std::path::Path, extend: impl FnOnce(&mut App)) -> App {
    let config = StrataConfig {
        save_path: Some(path.to_string_lossy().into_owned()),
        commit_interval_s: 3600.0,
        ..small_view()
    };
    let mut app = flat_app_extended(|plugin| plugin, extend, config, 0);
    wait_started(&mut app);
    let status = app.world().resource::<StrataStatus>();
    assert!(matches!(status, StrataStatus::Ready(_)), "{status:?}");
    app
}

/// Exits `app` the way a game does: in the exit frame the plugin saves what it keeps, commits
/// and closes the save (so the next app can open it).
pub fn exit(mut app: App) {
    app.world_mut().write_message(AppExit::Success);
    app.update();
}

/// Updates until `done` holds, at most `frames` times; panics with `what` otherwise.
pub fn run_until(app: &mut App, frames: usize, what: &str, mut done: impl FnMut(&mut App) -> bool) {
    for _ in 0..frames {
        app.update();
        if done(app) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("not reached within {frames} frames: {what}");
}

/// Updates until start-up finished (`StrataStatus` is no longer `Loading`), for at most 60 s
/// of wall time (opening a save runs on the I/O pool, not in a frame).
pub fn wait_started(app: &mut App) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while matches!(*app.world().resource::<StrataStatus>(), StrataStatus::Loading) {
        assert!(std::time::Instant::now() < deadline, "start-up did not finish within 60 s");
        app.update();
        std::thread::sleep(Duration::from_millis(1));
    }
}
