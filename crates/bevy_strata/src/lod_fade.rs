//! Smooth LOD changes: when the hand-over swaps a node's display for the displays that replace it
//! (a split or a merge, see `strata_stream::handover`), the old display fades out while the new
//! ones fade in, over [`StrataConfig::lod_fade_s`](crate::StrataConfig::lod_fade_s).
//!
//! The fade is a dither, not transparency: both displays stay opaque (no sorting, depth writes
//! as usual) and each draws a complementary share of the screen's pixels. Every fading entity
//! carries a [`MeshTag`] ([`fade_tag`]); the node material's fragment shader reads it and
//! discards the pixels that are not its own: with progress `t` the incoming display draws the
//! pixels whose 4 × 4 ordered-dither threshold is below `t`, the outgoing one the others. Both
//! start in the same frame and read the same clock, so at every frame each pixel of the place
//! is drawn by exactly one of them: no frame shows a hole or a double surface.
//!
//! Shadows: fading displays cast none ([`NotShadowCaster`], removed when a fade-in ends). The
//! shadow pass does not dither, so either display's whole shadow would fall on the other's
//! share of the pixels: with the incoming display casting, the going one's pixels were
//! speckled dark wherever the two levels' surfaces differ (seen in a 60-second fade). The
//! place's own shadow is missing for the fade instead; other terrain's shadows stay.
//!
//! Shaders: the plugin's default node material and [`StrataTextureMaterial`](crate::StrataTextureMaterial) (the same shader,
//! `textures.wgsl`) fade. A game material of its own ([`crate::StrataMaterialPlugin`]) fades
//! when its fragment shader calls the import `bevy_strata::lod_fade::strata_lod_fade(in.position,
//! in.instance_index)` first and the game sets [`StrataLodFadeShader`]; otherwise LOD changes
//! swap in one frame. Headless apps (no renderer) fade only when told so
//! ([`StrataLodFadeShader`]), which the tests do.
//!
//! Cost: one component insert per fading entity per frame (a few per LOD change); none at rest.

use crate::{StrataConfig, StrataStandardMaterial};
use bevy::ecs::system::SystemParam;
use bevy::light::NotShadowCaster;
use bevy::mesh::MeshTag;
use bevy::prelude::*;
use std::time::Duration;

/// Whether a node material of the game's own ([`crate::StrataMaterialPlugin`]) dithers LOD
/// cross-fades: its fragment shader calls `strata_lod_fade` (see the module docs).
/// [`StrataTexturesPlugin`](crate::StrataTexturesPlugin) sets it. The plugin's default material
/// dithers without it (with a renderer). A material that does not dither swaps in one frame
/// whatever [`StrataConfig::lod_fade_s`] says: two whole surfaces in one place would flicker.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StrataLodFadeShader(pub bool);

/// Present when the plugin's default node material exists (an app with a renderer: it is
/// registered with `bevy_pbr`); that material dithers.
#[derive(Resource)]
pub(crate) struct DefaultMaterialDithers;

/// When fades start: the time now, if LOD changes cross-fade (a duration and a material that
/// dithers).
#[derive(SystemParam)]
pub(crate) struct FadeClock<'w> {
    config: Res<'w, StrataConfig>,
    shader: Option<Res<'w, StrataLodFadeShader>>,
    standard: Option<Res<'w, StrataStandardMaterial>>,
    default_material: Option<Res<'w, DefaultMaterialDithers>>,
    time: Res<'w, Time<Real>>,
}

impl FadeClock<'_> {
    /// Whether node meshes get a material that dithers: the plugin's default one (with a
    /// renderer), or one declared so ([`StrataLodFadeShader`]).
    fn dithers(&self) -> bool {
        let default_material = self.default_material.is_some() && self.standard.as_ref().is_none_or(|s| s.0);
        default_material || self.shader.as_ref().is_some_and(|s| s.0)
    }

    /// The time now if LOD changes cross-fade, else `None` (swap in one frame).
    pub fn now(&self) -> Option<Duration> {
        (self.config.lod_fade_s > 0.0 && self.dithers()).then(|| self.time.elapsed())
    }
}

/// Makes `bevy_strata::lod_fade` importable by shaders (`lod_fade.wgsl`), where shaders are
/// (an app with a renderer); idempotent.
pub fn load_shader(app: &mut App) {
    if app.world().contains_resource::<Assets<Shader>>() && !app.world().contains_resource::<ShaderLoaded>() {
        bevy::shader::load_shader_library!(app, "lod_fade.wgsl");
        app.insert_resource(ShaderLoaded);
    }
}

/// `lod_fade.wgsl` is loaded.
#[derive(Resource)]
struct ShaderLoaded;

/// [`MeshTag`] bit: the entity is fading.
pub const FADING: u32 = 1 << 31;
/// [`MeshTag`] bit: the entity is fading out (else in).
pub const FADING_OUT: u32 = 1 << 30;
/// [`MeshTag`] bits holding the progress `t` in `0..=1` as `t · 65,535`.
pub const PROGRESS: u32 = 0xffff;

/// The [`MeshTag`] of a display fading in or out at progress `t` (clamped into `0..=1`).
pub fn fade_tag(out: bool, t: f32) -> u32 {
    let progress = (t.clamp(0.0, 1.0) * PROGRESS as f32).round() as u32;
    FADING | if out { FADING_OUT } else { 0 } | progress
}

/// A node display fading in or out (see the module docs). Removed when a fade-in ends; a
/// fading-out entity is despawned when its fade ends.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrataLodFade {
    /// When the fade started ([`Time<Real>`] elapsed).
    pub start: Duration,
    /// `true`: the display is going (its node left the selection); `false`: it is arriving.
    pub out: bool,
}

impl StrataLodFade {
    /// Progress in `0..=1` at `now`, for a fade of `duration_s` seconds (1 for no duration).
    pub fn progress(&self, now: Duration, duration_s: f32) -> f32 {
        if duration_s <= 0.0 {
            return 1.0;
        }
        (now.saturating_sub(self.start).as_secs_f32() / duration_s).min(1.0)
    }
}

/// Starts fading out `entity`, the display of a retired node the hand-over let go.
pub(crate) fn fade_out(commands: &mut Commands, entity: Entity, now: Duration) {
    commands.entity(entity).insert((
        StrataLodFade { start: now, out: true },
        MeshTag(fade_tag(true, 0.0)),
        NotShadowCaster,
    ));
}

/// Starts fading in `entity`, a display the hand-over revealed.
pub(crate) fn fade_in(commands: &mut Commands, entity: Entity, now: Duration) {
    commands.entity(entity).insert((
        StrataLodFade { start: now, out: false },
        MeshTag(fade_tag(false, 0.0)),
        NotShadowCaster,
    ));
}

/// [`StrataSystems::Apply`](crate::StrataSystems::Apply), after the results: moves every fade
/// on (its tag, on the entity and its transparent child), ends the finished ones.
pub(crate) fn advance_fades(
    mut commands: Commands,
    config: Res<StrataConfig>,
    time: Res<Time<Real>>,
    fades: Query<(Entity, &StrataLodFade, Option<&Children>)>,
) {
    let now = time.elapsed();
    for (entity, fade, children) in &fades {
        let t = fade.progress(now, config.lod_fade_s);
        let children = children.into_iter().flatten().copied();
        if t >= 1.0 {
            if fade.out {
                commands.entity(entity).despawn();
            } else {
                commands.entity(entity).remove::<(StrataLodFade, MeshTag, NotShadowCaster)>();
                for child in children {
                    commands.entity(child).remove::<MeshTag>();
                }
            }
            continue;
        }
        let tag = MeshTag(fade_tag(fade.out, t));
        commands.entity(entity).insert(tag.clone());
        for child in children {
            commands.entity(child).insert(tag.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shader's rule, written out: whether a pixel with dither threshold `d` (0..16) draws
    /// a display with `tag`.
    fn draws(tag: u32, d: u32) -> bool {
        if tag & FADING == 0 {
            return true;
        }
        let t = (tag & PROGRESS) as f32 / PROGRESS as f32;
        let below = (d as f32 + 0.5) / 16.0 < t;
        if tag & FADING_OUT != 0 { !below } else { below }
    }

    #[test]
    fn partners_at_the_same_progress_draw_every_pixel_exactly_once() {
        for k in 0..=1000 {
            let t = k as f32 / 1000.0;
            let (incoming, outgoing) = (fade_tag(false, t), fade_tag(true, t));
            for d in 0..16 {
                assert!(draws(incoming, d) != draws(outgoing, d), "t {t}, threshold {d}");
            }
        }
        assert!((0..16).all(|d| !draws(fade_tag(false, 0.0), d)), "an arriving display starts unseen");
        assert!((0..16).all(|d| draws(fade_tag(true, 0.0), d)), "a going display starts whole");
        assert!((0..16).all(|d| draws(fade_tag(false, 1.0), d)));
        assert!((0..16).all(|d| draws(0, d)), "no tag: drawn whole");
    }

    #[test]
    fn progress_runs_from_start_to_the_duration() {
        let f = StrataLodFade { start: Duration::from_millis(500), out: false };
        assert_eq!(f.progress(Duration::from_millis(400), 0.25), 0.0);
        assert_eq!(f.progress(Duration::from_millis(625), 0.25), 0.5);
        assert_eq!(f.progress(Duration::from_secs(9), 0.25), 1.0);
        assert_eq!(f.progress(Duration::from_millis(500), 0.0), 1.0);
    }
}
