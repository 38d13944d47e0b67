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
