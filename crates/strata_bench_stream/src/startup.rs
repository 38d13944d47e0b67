//! `strata_flythrough --startup [--save PATH]`: the plugin starting over a save, for the
//! report's `scale.startup_main_thread_ms` and `scale.first_view_s`.
//!
//! The app is the fly-through's Strata app (same configuration, viewer at the scenario's start,
//! hovering) with `save_path` set. **Main-thread time before the first frame** is the wall time
//! of adding [`StrataMinimalPlugins`] (building the plugin), `finish`/`cleanup` and spawning the
//! viewer; the first `App::update` is printed on its own (`first_frame_ms`: it is a streaming
//! frame, planning the whole view if the store opened in time). **First view** is the wall time
//! from before the plugin is added to the end of the frame in which the status is `Ready` and
//! the view is complete (every shown node meshed, nothing in flight), frames paced at 60 Hz.
//! Also printed: the longest frame after the first (`max_frame_ms`), the longest frame from
//! start to first view, the first included (`worst_frame_ms`: what a player feels), the time to open the
//! store (`open_ms`, on the I/O pool), what the view read from it
//! (`stored_scans`, `stored_read`: chunks the scans kept as summaries, `skipped` records,
//! `index_mib`) and resident memory at first view
//! (`rss_mib`).

use crate::scenario::{Scenario, rss_mib};
use bevy::prelude::*;
use bevy_strata::StrataStreaming;
use bevy_strata::prelude::*;
use std::time::{Duration, Instant};

/// Runs one start-up; returns the result line.
pub fn run(save: Option<String>, sc: &Scenario) -> Result<String, String> {
    let config = StrataConfig { save_path: save, view_distance: sc.view_distance, ..StrataConfig::default() };
    let mut app = App::new();
    app.add_plugins((MinimalPlugins.set(bevy_strata::task_pool_plugin()), TransformPlugin));
    let start = Instant::now();
    app.add_plugins(StrataMinimalPlugins::new(config));
    app.finish();
    app.cleanup();
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_translation(sc.start)));
    let main_thread = start.elapsed();
    let first = Instant::now();
    app.update();
    let first_frame = first.elapsed();
    let mut max_frame = Duration::ZERO;
    let frame = Duration::from_secs_f32(sc.frame_s);
    loop {
        let done = {
            let w = app.world();
            match w.resource::<StrataStatus>() {
                StrataStatus::Failed(e) => return Err(format!("start-up failed: {e}")),
                status => status.is_ready() && w.resource::<StrataStreaming>().is_idle(),
            }
        };
        if done {
            break;
        }
        if start.elapsed().as_secs_f32() > sc.timeout_s {
            return Err(format!("no first view within {} s", sc.timeout_s));
        }
        let t = Instant::now();
        app.update();
        let took = t.elapsed();
        max_frame = max_frame.max(took);
        if let Some(rest) = frame.checked_sub(took) {
            std::thread::sleep(rest);
        }
    }
    let first_view = start.elapsed();
    let StrataStatus::Ready(report) = app.world().resource::<StrataStatus>().clone() else { unreachable!() };
    let sw = app.world().resource::<bevy_strata::StrataWorld>();
    Ok(format!(
        "startup_main_thread_ms={:.2} first_frame_ms={:.2} first_view_s={:.3} max_frame_ms={:.2} open_ms={:.1} \
         stored_scans={} stored_read={} skipped={} index_mib={:.2} rss_mib={:.1} worst_frame_ms={:.2}",
        main_thread.as_secs_f64() * 1e3,
        first_frame.as_secs_f64() * 1e3,
        first_view.as_secs_f64(),
        max_frame.as_secs_f64() * 1e3,
        report.open_time.as_secs_f64() * 1e3,
        sw.stored_scans(),
        sw.index_memory().released_chunks,
        sw.skipped_records(),
        sw.index_memory().total() as f64 / f64::from(1u32 << 20),
        rss_mib().unwrap_or(f64::NAN),
        first_frame.max(max_frame).as_secs_f64() * 1e3,
    ))
}
