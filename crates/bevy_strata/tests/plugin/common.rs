//! Helpers shared by the plugin's headless tests.

use bevy::prelude::*;
use std::time::Duration;

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
    while matches!(*app.world().resource::<bevy_strata::StrataStatus>(), bevy_strata::StrataStatus::Loading) {
        assert!(std::time::Instant::now() < deadline, "start-up did not finish within 60 s");
        app.update();
        std::thread::sleep(Duration::from_millis(1));
    }
}
