//! Viewers and the floating origin.
//!
//! # Precision
//! World positions are `i32` voxels; `f32` render coordinates lose voxel precision a few million
//! voxels from the origin. Strata keeps render space small with a **floating origin**:
//! [`StrataOrigin`] is the voxel that render-space `(0, 0, 0)` stands for, chunk entities are
//! placed relative to it, and when the entity marked [`StrataFloatingOrigin`] (usually the camera)
//! gets farther than `recenter_distance` from render-space zero, the origin moves by a whole
//! number of voxels and every top-level `Transform` is shifted back by the same amount. Nothing
//! visible moves; surfaces never jitter, wherever the camera is.

use crate::config::{AcceptedConfig, StrataConfig};
use bevy::math::DVec3;
use bevy::prelude::*;
use strata_core::VoxelPos;

/// Streams the world around this entity's position.
#[derive(Component, Reflect, Clone, Debug, Default, PartialEq)]
#[reflect(Component)]
pub struct StreamingViewer {
    /// View distance in voxels (`None`: [`StrataConfig::view_distance`]).
    pub view_distance: Option<f32>,
}

/// Marks the entity the floating origin follows (usually the main camera). It must be a
/// top-level entity (no parent).
#[derive(Component, Reflect, Clone, Copy, Debug, Default)]
#[reflect(Component)]
pub struct StrataFloatingOrigin;

/// The voxel that render-space `(0, 0, 0)` stands for.
#[derive(Resource, Reflect, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[reflect(Resource)]
pub struct StrataOrigin {
    /// The origin voxel.
    pub voxel: IVec3,
}

impl StrataOrigin {
    /// Render-space position of a voxel's minimum corner.
    pub fn to_render(&self, voxel: VoxelPos) -> Vec3 {
        let d = [
            voxel.x as i64 - self.voxel.x as i64,
            voxel.y as i64 - self.voxel.y as i64,
            voxel.z as i64 - self.voxel.z as i64,
        ];
        Vec3::new(d[0] as f32, d[1] as f32, d[2] as f32)
    }

    /// World position (voxels, `f64`) of a render-space point.
    pub fn to_world(&self, render: Vec3) -> DVec3 {
        self.voxel.as_dvec3() + render.as_dvec3()
    }

    /// The voxel containing a render-space point (a picking hit, a character's feet):
    /// [`VoxelPos::containing`] of [`StrataOrigin::to_world`]. To pick the voxel a surface hit
    /// lies on, step half a voxel against the normal first (`position - normal * 0.5`).
    pub fn voxel_at(&self, render: Vec3) -> VoxelPos {
        VoxelPos::containing(self.to_world(render).to_array())
    }
}

/// Viewer positions in world voxels, gathered each frame.
#[derive(Resource, Clone, Debug, Default)]
pub struct ViewerPositions {
    /// Position (voxels) and view distance (voxels) of each viewer.
    pub viewers: Vec<(DVec3, f64)>,
}

/// Moves the origin when the followed (top-level) entity is far from render-space zero.
pub(crate) fn recenter_origin(
    config: Res<StrataConfig>,
    mut origin: ResMut<StrataOrigin>,
    mut roots: Query<(&mut Transform, Has<StrataFloatingOrigin>), Without<ChildOf>>,
) {
    let Some(followed) = roots.iter().find_map(|(t, f)| f.then_some(t.translation)) else { return };
    if followed.length() <= config.recenter_distance.max(1.0) || !followed.is_finite() {
        return;
    }
    let shift = followed.round().as_ivec3();
    origin.voxel = origin.voxel.saturating_add(shift);
    let delta = shift.as_vec3();
    for (mut tr, _) in &mut roots {
        tr.translation -= delta;
    }
}

/// Collects viewer positions in world voxels. A viewer's own view distance is capped to the
/// largest the LOD settings allow ([`StrataConfig::max_view_distance`]); a NaN or negative one
/// counts as 0 (the viewer loads nothing).
pub(crate) fn track_viewers(
    config: Res<AcceptedConfig>,
    origin: Res<StrataOrigin>,
    viewers: Query<(&StreamingViewer, &Transform)>,
    mut out: ResMut<ViewerPositions>,
) {
    out.viewers.clear();
    for (v, t) in &viewers {
        let d = v.view_distance.unwrap_or(config.config.view_distance);
        let d = if d.is_nan() { 0.0 } else { d.clamp(0.0, config.max_view_distance) };
        out.viewers.push((origin.to_world(t.translation), f64::from(d)));
    }
}
