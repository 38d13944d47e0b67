//! [`VoxelMover`]: a character that walks on the voxels without a physics engine, moved by the
//! engine-free mover of `strata_index::mover` (exact collisions, move-and-slide, step-up).

use crate::state::StrataWorld;
use crate::viewer::StrataOrigin;
use bevy::math::DVec3;
use bevy::prelude::*;
use strata_core::ShapeBox;
use strata_core::{Face, VoxelPos, WorldUp};
use strata_index::HitFilter;
use strata_index::mover::{Body, MAX_MOVE, SolidVoxels, move_and_slide_up, overlaps_solid};

/// A box-shaped character moved through the voxels with exact collisions: gravity pulls it
/// down, walls stop it and it slides along them, it climbs ledges up to `step_height`.
///
/// The entity's `Transform` is its **feet** (the centre of the box's bottom face), in render
/// space. The game steers it through `velocity` (world voxels per second): set the components
/// across [`VoxelMover::up`] to walk (`x` and `z` on a flat world) and the one along it to jump
/// (when `grounded`); the plugin adds gravity, moves the box each frame in
/// [`crate::StrataSystems::Move`], zeroes the velocity on the axes an obstacle stopped, and
/// writes the `Transform`. The box's position is kept in world voxels (`f64`) between frames,
/// so it rests exactly on the ground; set the `Transform` and call [`VoxelMover::teleport`]
/// (or insert a new mover) to place it elsewhere.
///
/// **Down is the world's down where the mover stands**: `+Y` is up on a flat world; on a
/// planet ([`WorldUp::AwayFrom`]) up is the axis direction pointing farthest away from the
/// centre at the feet' chunk, so a player walks anywhere on the globe. `size` is (width,
/// height, depth) in that frame: the height along up. Where the up changes (walking across
/// the diagonal where two axes are equally far from the centre), the box turns about its feet
/// (lifted by whole voxels, at most its height, if it would overlap the ground) and gravity
/// pulls along the new down.
///
/// Materials that collide block it (`collides` in `materials.ron`; by default solid and
/// transparent materials do, fluids and air do not); slabs, stairs and models by their boxes
/// (it walks up stairs and onto slabs with a `step_height` of half a voxel or more). A chunk that is not
/// resident blocks too (the plugin loads it): a mover never falls through ground that has not
/// loaded yet.
#[derive(Component, Clone, Debug)]
#[require(Transform)]
pub struct VoxelMover {
    /// The box, in voxels: width, height (along up), depth. Default: 0.6 × 1.8 × 0.6.
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
    /// The up the box stands in.
    up: Face,
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
            up: Face::PosY,
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
        self.body.map(|b| DVec3::from_array(b.feet_on(self.up)))
    }

    /// The up the mover stood in at its last move (`+Y` before it): where gravity pulls away
    /// from, and what a game's controls and camera take as up.
    pub fn up(&self) -> Face {
        self.up
    }

    /// [`VoxelMover::up`] as a unit vector.
    pub fn up_vector(&self) -> DVec3 {
        DVec3::from_array(self.up.offset().map(f64::from))
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

/// The world's resident voxels that [`HitFilter::colliding`] accepts, shaped ones (slabs,
/// stairs) by their boxes; a voxel whose chunk is not resident blocks, and its chunk is asked
/// for.
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

    fn shape(&mut self, pos: VoxelPos) -> Option<&[ShapeBox]> {
        let (key, local) = pos.split();
        let m = self.strata.world.resident_chunk(key)?.get(local.index());
        self.strata.ray_shapes.boxes(m)
    }
}

/// Frames longer than this move as if they were this long (a hitch does not throw a mover far).
const MAX_STEP_SECONDS: f64 = 0.1;

/// Moves every [`VoxelMover`] by its velocity and gravity over the frame's time.
pub(crate) fn move_voxel_movers(
    time: Res<Time>,
    origin: Res<StrataOrigin>,
    strata: Res<StrataWorld>,
    mut filter: Local<Option<(u64, HitFilter)>>,
    mut movers: Query<(Entity, &mut VoxelMover, &mut Transform)>,
) {
    let dt = time.delta_secs_f64().min(MAX_STEP_SECONDS);
    // Made again when the materials are reloaded.
    if filter.as_ref().is_none_or(|(version, _)| *version != strata.materials_version) {
        *filter = Some((strata.materials_version, HitFilter::colliding(&strata.registry)));
    }
    let Some((_, filter)) = filter.as_ref() else { return };
    let world_up = strata.world.generator().world_up();
    let mut solids = ResidentSolids { strata: &strata, filter };
    for (entity, mut mover, mut transform) in &mut movers {
        let size = mover.size.to_array();
        let (body, up) = match mover.body {
            Some(body) => turned(body, mover.up, size, world_up, &mut solids),
            None => {
                let feet = origin.to_world(transform.translation).to_array();
                let up = up_at(world_up, feet);
                (Body::standing_on(feet, size, up), up)
            }
        };
        mover.up = up;
        let mut moved = body;
        let gravity = mover.gravity;
        let down = -mover.up_vector();
        mover.velocity += down * (gravity * dt);
        let delta = (mover.velocity * dt).clamp(DVec3::splat(-MAX_MOVE), DVec3::splat(MAX_MOVE));
        match move_and_slide_up(&mut moved, delta.to_array(), mover.step_height, up, &mut solids) {
            Ok(motion) => {
                for a in 0..3 {
                    if motion.blocked[a] {
                        mover.velocity[a] = 0.0;
                    }
                }
                mover.grounded = motion.grounded;
                mover.body = Some(moved);
                let feet = DVec3::from_array(moved.feet_on(up)) - origin.voxel.as_dvec3();
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

/// The world's up at world point `feet` (the up of the voxel's chunk).
fn up_at(world_up: WorldUp, feet: [f64; 3]) -> Face {
    world_up.of_chunk(VoxelPos::containing(feet).chunk())
}

/// `body` (standing in `up`) in the up at its feet: itself when that is `up`; else the box of
/// `size` turned about its centre into the new up (turning about the feet would sink it into
/// the ground it stood on), lifted by whole voxels along the new up (at most its height) until
/// it overlaps no solid voxel. If no lift frees it, it keeps its old up for now.
fn turned(body: Body, up: Face, size: [f64; 3], world_up: WorldUp, solids: &mut impl SolidVoxels) -> (Body, Face) {
    let new_up = up_at(world_up, body.feet_on(up));
    if new_up == up {
        return (body, up);
    }
    let step = new_up.offset().map(f64::from);
    let centre: [f64; 3] = std::array::from_fn(|a| (body.min[a] + body.max[a]) / 2.0);
    for lift in 0..=size[1].ceil() as i32 {
        let feet: [f64; 3] = std::array::from_fn(|a| centre[a] + step[a] * (f64::from(lift) - size[1] / 2.0));
        let candidate = Body::standing_on(feet, size, new_up);
        if !overlaps_solid(&candidate, solids) {
            return (candidate, new_up);
        }
    }
    (body, up)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A world whose chunk (0, 0, 0) has up `+X` (its centre lies farthest from `CENTRE` along
    /// x), with ground at `y < 0` and a wall at `x = -1`, `y` in `0..3`.
    const CENTRE: [i64; 3] = [-1000, 16, 16];

    fn solid(v: VoxelPos) -> bool {
        v.y < 0 || (v.x == -1 && v.y < 3)
    }

    #[test]
    fn a_box_turns_about_its_centre_and_lifts_out_of_what_it_would_overlap() {
        let world_up = WorldUp::AwayFrom { centre: CENTRE };
        let size = [0.6, 1.8, 0.6];
        // Standing on the ground at y = 0 in +Y's frame, at a place whose up is +X.
        let body = Body::standing_on([0.5, 0.0, 0.5], size, Face::PosY);
        let (turned_body, up) = turned(body, Face::PosY, size, world_up, &mut solid);
        assert_eq!(up, Face::PosX);
        // Turned about the centre (0.5, 0.9, 0.5), the box spans x -0.4..1.4 and overlaps the
        // wall at x = -1: one voxel of lift along +X frees it.
        let want = Body { min: [0.6, 0.6, 0.2], max: [2.4, 1.2, 0.8] };
        for a in 0..3 {
            assert!((turned_body.min[a] - want.min[a]).abs() < 1e-12, "{turned_body:?}");
            assert!((turned_body.max[a] - want.max[a]).abs() < 1e-12, "{turned_body:?}");
        }
        assert!(!overlaps_solid(&turned_body, &mut solid));
        // Where every lift still overlaps, the box keeps its old up.
        let mut everywhere = |_: VoxelPos| true;
        assert_eq!(turned(body, Face::PosY, size, world_up, &mut everywhere), (body, Face::PosY));
        // Where the up does not change, nothing does.
        assert_eq!(turned(body, Face::PosY, size, WorldUp::PlusY, &mut solid), (body, Face::PosY));
    }
}
