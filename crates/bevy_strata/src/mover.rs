//! [`VoxelMover`]: a character that walks on the voxels without a physics engine, moved by the
//! engine-free mover of `strata_index::mover` (exact collisions, move-and-slide, step-up).

use crate::state::StrataWorld;
use crate::viewer::StrataOrigin;
use bevy::math::DVec3;
use bevy::prelude::*;
use strata_core::VoxelPos;
use strata_index::HitFilter;
use strata_index::mover::{Body, MAX_MOVE, SolidVoxels, move_and_slide};

/// A box-shaped character moved through the voxels with exact collisions: gravity pulls it
/// down, walls stop it and it slides along them, it climbs ledges up to `step_height`.
///
/// The entity's `Transform` is its **feet** (the centre of the box's bottom face), in render
/// space. The game steers it through `velocity` (voxels per second): set `x` and `z` to walk
/// and `y` to jump (when `grounded`); the plugin adds gravity, moves the box each frame in
/// [`crate::StrataSystems::Move`], zeroes the velocity on the axes an obstacle stopped, and
/// writes the `Transform`. The box's position is kept in world voxels (`f64`) between frames,
/// so it rests exactly on the ground; set the `Transform` and call [`VoxelMover::teleport`]
/// (or insert a new mover) to place it elsewhere.
///
/// Materials that collide block it (`collides` in `materials.ron`; by default solid and
/// transparent materials do, fluids and air do not). A chunk that is not
/// resident blocks too (the plugin loads it): a mover never falls through ground that has not
/// loaded yet.
#[derive(Component, Clone, Debug)]
#[require(Transform)]
pub struct VoxelMover {
    /// The box, in voxels (x, y, z). Default: 0.6 × 1.8 × 0.6.
    pub size: DVec3,
    /// Velocity, in voxels per second.
    pub velocity: DVec3,
    /// Downward acceleration, in voxels per second² (default 28; 0 flies).
    pub gravity: f64,
    /// The highest ledge climbed by walking, in voxels (default 1; 0 never steps).
    pub step_height: f64,
    /// Whether the box stood on the ground after the last move.
    pub grounded: bool,
    /// The box in world voxels, once the first move placed it (from the `Transform`).
    body: Option<Body>,
}

impl Default for VoxelMover {
    fn default() -> Self {
        Self {
            size: DVec3::new(0.6, 1.8, 0.6),
            velocity: DVec3::ZERO,
            gravity: 28.0,
            step_height: 1.0,
            grounded: false,
            body: None,
        }
    }
}

impl VoxelMover {
    /// A mover of box `size` (voxels) with the default gravity and step height.
    pub fn new(size: DVec3) -> Self {
        Self { size, ..Self::default() }
    }

    /// The feet in world voxels, once the mover has moved (`None` before its first frame).
    pub fn feet(&self) -> Option<DVec3> {
        self.body.map(|b| DVec3::from_array(b.feet()))
    }

    /// The box in world voxels, once the mover has moved.
    pub fn body(&self) -> Option<Body> {
        self.body
    }

    /// Places the mover at its `Transform` again on the next move (after the game moved the
    /// entity by hand), and stops it.
    pub fn teleport(&mut self) {
        self.body = None;
        self.velocity = DVec3::ZERO;
    }
}

/// The world's resident voxels that [`HitFilter::colliding`] accepts; a voxel whose chunk is
/// not resident blocks, and its chunk is asked for.
struct ResidentSolids<'a> {
    strata: &'a StrataWorld,
    filter: &'a HitFilter,
}

impl SolidVoxels for ResidentSolids<'_> {
    fn is_solid(&mut self, pos: VoxelPos) -> bool {
        let (key, local) = pos.split();
        match self.strata.world.resident_chunk(key) {
            Some(chunk) => self.filter.hits(chunk.get(local.index())),
            None => {
                self.strata.request_resident(key);
                true
            }
        }
    }
}

/// Frames longer than this move as if they were this long (a hitch does not throw a mover far).
const MAX_STEP_SECONDS: f64 = 0.1;

/// Moves every [`VoxelMover`] by its velocity and gravity over the frame's time.
pub(crate) fn move_voxel_movers(
    time: Res<Time>,
    origin: Res<StrataOrigin>,
    strata: Res<StrataWorld>,
    mut filter: Local<Option<HitFilter>>,
    mut movers: Query<(Entity, &mut VoxelMover, &mut Transform)>,
) {
    let dt = time.delta_secs_f64().min(MAX_STEP_SECONDS);
    let filter = filter.get_or_insert_with(|| HitFilter::colliding(&strata.registry));
    let mut solids = ResidentSolids { strata: &strata, filter };
    for (entity, mut mover, mut transform) in &mut movers {
        let size = mover.size.to_array();
        let body =
            mover.body.unwrap_or_else(|| Body::standing_at(origin.to_world(transform.translation).to_array(), size));
        let mut moved = body;
        let gravity = mover.gravity;
        mover.velocity.y -= gravity * dt;
        let delta = (mover.velocity * dt).clamp(DVec3::splat(-MAX_MOVE), DVec3::splat(MAX_MOVE));
        match move_and_slide(&mut moved, delta.to_array(), mover.step_height, &mut solids) {
            Ok(motion) => {
                for a in 0..3 {
                    if motion.blocked[a] {
                        mover.velocity[a] = 0.0;
                    }
                }
                mover.grounded = motion.grounded;
                mover.body = Some(moved);
                let feet = DVec3::from_array(moved.feet()) - origin.voxel.as_dvec3();
                transform.translation = feet.as_vec3();
            }
            Err(e) => {
                // A body placed outside the world or with a bad size: leave it where it is.
                mover.velocity = DVec3::ZERO;
                warn_once!("VoxelMover {entity}: {e}");
            }
        }
    }
}
