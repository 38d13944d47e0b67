//! The examples' screenshot check (`STRATA_SCREENSHOT=path`): take a screenshot, classify its
//! pixels, save it, and exit with code 0 if the classification passes the example's check, 3 if
//! not. Shared by the globe viewer and the game (`#[path]`-included, not an example itself).

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};

/// Pixel statistics of a screenshot and what they must satisfy.
pub trait PixelCheck: std::fmt::Debug + Sized {
    /// Classifies the pixels of `image`.
    fn of(image: &Image) -> Self;
    /// `Err(why)` when the picture is not what the example should show.
    fn check(&self) -> Result<(), String>;
}

/// Takes a screenshot of the primary window; once captured, logs `P`'s statistics, saves the
/// PNG at `path` and exits (0: the check passed, 3: it failed).
pub fn take_checked_screenshot<P: PixelCheck>(commands: &mut Commands, path: String) {
    commands.spawn(Screenshot::primary_window()).observe(
        move |shot: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| {
            let stats = P::of(&shot.image);
            info!("screenshot: {stats:?}");
            if let Err(e) = shot.image.clone().try_into_dynamic().map(|img| img.to_rgb8().save(&path)) {
                error!("cannot convert the screenshot: {e:?}");
            }
            let ok = stats.check();
            match &ok {
                Ok(()) => info!("screenshot check passed; saved {path}"),
                Err(why) => error!("screenshot check failed: {why}; saved {path}"),
            }
            exit.write(if ok.is_ok() { AppExit::Success } else { AppExit::from_code(3) });
        },
    );
}

/// In screenshot mode, exits with code 3 once `limit_s` seconds of wall time have passed: what
/// the example waits for before its screenshot never happened (a world that never became ready,
/// a player that never landed), and CI should fail now rather than at its own timeout.
pub fn screenshot_deadline(limit_s: f64) -> impl FnMut(Res<Time<Real>>, MessageWriter<AppExit>) {
    // `STRATA_SCREENSHOT_LIMIT_S` overrides the limit (slow views in a debug build).
    let limit_s = std::env::var("STRATA_SCREENSHOT_LIMIT_S").ok().and_then(|v| v.parse().ok()).unwrap_or(limit_s);
    move |time: Res<Time<Real>>, mut exit: MessageWriter<AppExit>| {
        if std::env::var_os("STRATA_SCREENSHOT").is_some() && time.elapsed_secs_f64() > limit_s {
            error!("screenshot check failed: not ready for a screenshot within {limit_s} s");
            exit.write(AppExit::from_code(3));
        }
    }
}
