//! A character mover without a physics engine: an axis-aligned box swept through the voxel
//! grid with exact collisions — move-and-slide, ground detection and step-up.
//!
//! # Geometry and precision
//! As for ray casts ([`crate::ray`]): voxel `v` occupies `[v, v + 1)³` in world units (`f64`,
//! so every voxel boundary of the `i32` world is exact). A [`Body`] is a box `[min, max]`; it
//! **overlaps** voxel `v` when `min[a] < v[a] + 1` and `max[a] > v[a]` on every axis, so a box
//! may touch a voxel's face without overlapping it. Which voxels block is the
//! [`SolidVoxels`] source's answer (an index snapshot with a [`HitFilter`], a closure, …).
//!
//! # A move
//! [`move_and_slide`] moves the body by `delta` one axis at a time, **Y, then X, then Z**.
//! Along an axis, the box's leading face advances through the voxel layers ahead of it (those
//! it does not overlap yet), and stops at the face of the first layer with a solid voxel in
//! the box's cross-section: exactly on that integer plane, never inside it and never past it,
//! whatever the speed (a move is at most [`MAX_MOVE`] voxels per axis). Voxels the box already
//! overlaps (a block placed inside a player) do not block, so it can always walk out. The
//! other axes keep their motion, which is the slide.
//!
//! **Step-up.** When the body stood on the ground before the move (see [`is_grounded`]) and an
//! obstacle stopped it on X or Z, the move is tried again: up by at most `step_height`, then X
//! and Z, then down by what it rose. The stepped result is kept when it travels further
//! horizontally (squared X–Z distance); so a one-voxel ledge is climbed and a wall is not.
//!
//! **Ground.** [`is_grounded`]: the box's bottom lies exactly on an integer plane and a solid
//! voxel is right below its footprint. A body that lands is put exactly on the plane, so this
//! holds until it moves up again.
//!
//! The positions are exact in this sense: the tests check every move against a brute-force
//! reference that looks at each voxel of the world, and check that no sequence of moves
//! leaves the box overlapping a solid voxel.
//!
//! # Shaped voxels
//! A solid voxel may block with boxes instead of its whole volume ([`SolidVoxels::shape`]: a
//! slab's lower half, the two boxes of stairs; in sixteenths). The rules above hold with boxes
//! in place of voxels: along an axis the box stops at the nearest face of a box ahead in its
//! cross-section (a slab's top at `y + 0.5` is a floor to land and walk on; step-up climbs
//! slabs and stairs), boxes it already overlaps do not block, and it is grounded on the top of
//! any box right under its footprint.
//!
//! # Any up
//! The rules above are written for a world whose up is `+Y`. On a planet, up is the axis
//! direction away from the centre ([`WorldUp`](strata_core::WorldUp), constant within a chunk):
//! [`move_and_slide_up`], [`is_grounded_up`], [`Body::standing_on`] and [`Body::feet_on`] take
//! it as a [`Face`] and apply the same rules in the frame where it is `+Y` (up's axis first,
//! then the other two in increasing order; "bottom", ground and step-up along up). The frame is
//! a permutation and reflection of the axes: exact, so the results are as exact as for `+Y`.

use crate::ray::{HitFilter, RayShapes};
use crate::snapshot::IndexSnapshot;
use std::sync::Arc;
use strata_core::shape::UNITS;
use strata_core::{Chunk, ChunkKey, Face, ShapeBox, VoxelPos};

/// The longest move along one axis in one call, in voxels. Longer moves are
/// [`MoveError::TooFar`]: the sweep visits every voxel layer it crosses.
pub const MAX_MOVE: f64 = 1024.0;

/// Whether voxels block a body.
pub trait SolidVoxels {
    /// Whether the voxel at `pos` blocks.
    fn is_solid(&mut self, pos: VoxelPos) -> bool;

    /// The boxes a solid voxel blocks with when it blocks with less than its whole volume (a
    /// slab: its lower half), in sixteenths of the voxel, world-aligned; `None` (the default):
    /// the whole voxel. Asked only for voxels [`SolidVoxels::is_solid`] accepts.
    fn shape(&mut self, pos: VoxelPos) -> Option<&[ShapeBox]> {
        let _ = pos;
        None
    }
}

impl<F: FnMut(VoxelPos) -> bool> SolidVoxels for F {
    fn is_solid(&mut self, pos: VoxelPos) -> bool {
        self(pos)
    }
}

/// The voxels of an index snapshot that a [`HitFilter`] accepts (the same filter as ray casts,
/// e.g. [`HitFilter::solid_only`] for "solid and transparent, not fluids"). **Chunks the index
/// does not know, or whose voxels it has released, block**: a body never moves into ground it
/// cannot see (it waits at the border until the chunk is loaded).
///
/// Keeps the last chunk it read, so the lookups of one move cost a hash lookup per chunk
/// crossed, not per voxel.
pub struct SnapshotSolids<'a> {
    snapshot: &'a IndexSnapshot,
    filter: &'a HitFilter,
    shapes: RayShapes,
    last: Option<(ChunkKey, Option<Arc<Chunk>>)>,
}

impl<'a> SnapshotSolids<'a> {
    /// Reads `snapshot` through `filter`; every solid voxel blocks whole.
    pub fn new(snapshot: &'a IndexSnapshot, filter: &'a HitFilter) -> Self {
        Self { snapshot, filter, shapes: RayShapes::default(), last: None }
    }

    /// Shaped materials block with their boxes (e.g. [`RayShapes::of_registry`]).
    pub fn with_shapes(mut self, shapes: RayShapes) -> Self {
        self.shapes = shapes;
        self
    }

    /// The chunk holding `pos` (`None`: unknown or released).
    fn chunk_of(&mut self, pos: VoxelPos) -> Option<&Arc<Chunk>> {
        let key = pos.chunk();
        if !matches!(&self.last, Some((k, _)) if *k == key) {
            let c = if self.snapshot.is_released(key) { None } else { self.snapshot.chunk(key) };
            self.last = Some((key, c));
        }
        self.last.as_ref().and_then(|(_, c)| c.as_ref())
    }
}

impl SolidVoxels for SnapshotSolids<'_> {
    fn is_solid(&mut self, pos: VoxelPos) -> bool {
        let filter = self.filter;
        match self.chunk_of(pos) {
            Some(c) => filter.hits(c.get(pos.local().index())),
            None => true,
        }
    }

    fn shape(&mut self, pos: VoxelPos) -> Option<&[ShapeBox]> {
        let m = self.chunk_of(pos)?.get(pos.local().index());
        self.shapes.boxes(m)
    }
}

/// An axis frame in which `up` is `+Y`: local axis `l` is world axis `axes[l]`, negated when
/// `flip[l]`. Negating an axis maps voxel `v` (spanning `v..v + 1`) to `−v − 1`, and a box
/// `min..max` to `−max..−min`: exact in `f64` and within the `i32` world.
#[derive(Clone, Copy, Debug)]
struct Frame {
    axes: [usize; 3],
    flip: [bool; 3],
}

impl Frame {
    fn of(up: Face) -> Self {
        let a = up.axis();
        let others = [(a + 1) % 3, (a + 2) % 3];
        let (b, c) = (others[0].min(others[1]), others[0].max(others[1]));
        Self { axes: [b, a, c], flip: [false, !up.is_positive(), false] }
    }

    /// `v` (world) in this frame.
    fn to_local(self, v: [f64; 3]) -> [f64; 3] {
        std::array::from_fn(|l| if self.flip[l] { -v[self.axes[l]] } else { v[self.axes[l]] })
    }

    /// `v` (local) in the world.
    fn to_world(self, v: [f64; 3]) -> [f64; 3] {
        let mut w = [0.0; 3];
        for l in 0..3 {
            w[self.axes[l]] = if self.flip[l] { -v[l] } else { v[l] };
        }
        w
    }

    fn body_to_local(&self, b: &Body) -> Body {
        let (p, q) = (self.to_local(b.min), self.to_local(b.max));
        Body { min: std::array::from_fn(|l| p[l].min(q[l])), max: std::array::from_fn(|l| p[l].max(q[l])) }
    }

    fn body_to_world(&self, b: &Body) -> Body {
        let (p, q) = (self.to_world(b.min), self.to_world(b.max));
        Body { min: std::array::from_fn(|a| p[a].min(q[a])), max: std::array::from_fn(|a| p[a].max(q[a])) }
    }

    /// The world voxel of local voxel `v`.
    fn voxel_to_world(&self, v: VoxelPos) -> VoxelPos {
        let v = v.to_array();
        let mut w = [0; 3];
        for l in 0..3 {
            // `−v − 1` of an `i32` is an `i32`.
            w[self.axes[l]] = if self.flip[l] { -1 - v[l] } else { v[l] };
        }
        VoxelPos::new(w[0], w[1], w[2])
    }

    /// A world axis's flags (per local axis) in world order.
    fn flags_to_world(&self, f: [bool; 3]) -> [bool; 3] {
        let mut w = [false; 3];
        for l in 0..3 {
            w[self.axes[l]] = f[l];
        }
        w
    }

    /// `solids` read in this frame.
    fn solids<'s, S: SolidVoxels>(&self, solids: &'s mut S) -> FrameSolids<'s, S> {
        FrameSolids { frame: *self, solids, boxes: Vec::new() }
    }

    /// A box of a world voxel (sixteenths) in this frame.
    fn box_to_local(&self, b: &ShapeBox) -> ShapeBox {
        let mut out = ShapeBox::FULL;
        for l in 0..3 {
            let w = self.axes[l];
            (out.min[l], out.max[l]) =
                if self.flip[l] { (UNITS - b.max[w], UNITS - b.min[w]) } else { (b.min[w], b.max[w]) };
        }
        out
    }
}

/// A [`SolidVoxels`] read in a [`Frame`]: voxels and their boxes turned.
struct FrameSolids<'s, S> {
    frame: Frame,
    solids: &'s mut S,
    boxes: Vec<ShapeBox>,
}

impl<S: SolidVoxels> SolidVoxels for FrameSolids<'_, S> {
    fn is_solid(&mut self, pos: VoxelPos) -> bool {
        self.solids.is_solid(self.frame.voxel_to_world(pos))
    }

    fn shape(&mut self, pos: VoxelPos) -> Option<&[ShapeBox]> {
        let frame = self.frame;
        let world = self.solids.shape(frame.voxel_to_world(pos))?;
        self.boxes.clear();
        self.boxes.extend(world.iter().map(|b| frame.box_to_local(b)));
        Some(&self.boxes)
    }
}

/// Calls `f(lo, hi)` for each box (world units) voxel `v` blocks with: none if it is not
/// solid, the voxel itself, or its shape's boxes.
#[inline]
fn each_box(solids: &mut impl SolidVoxels, v: [i32; 3], mut f: impl FnMut([f64; 3], [f64; 3])) {
    let pos = VoxelPos::new(v[0], v[1], v[2]);
    if !solids.is_solid(pos) {
        return;
    }
    let lo = v.map(f64::from);
    match solids.shape(pos) {
        None => f(lo, lo.map(|c| c + 1.0)),
        Some(boxes) => {
            let unit = 1.0 / f64::from(UNITS);
            for b in boxes {
                f(
                    std::array::from_fn(|a| lo[a] + f64::from(b.min[a]) * unit),
                    std::array::from_fn(|a| lo[a] + f64::from(b.max[a]) * unit),
                );
            }
        }
    }
}

/// An axis-aligned box in world units (voxels), `min[a] < max[a]` on every axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Body {
    /// The smallest corner.
    pub min: [f64; 3],
    /// The largest corner.
    pub max: [f64; 3],
}

impl Body {
    /// A box of `size` (x, y, z) whose bottom face is centred on `feet`.
    pub fn standing_at(feet: [f64; 3], size: [f64; 3]) -> Self {
        let min = [feet[0] - size[0] / 2.0, feet[1], feet[2] - size[2] / 2.0];
        Self { min, max: [min[0] + size[0], min[1] + size[1], min[2] + size[2]] }
    }

    /// The centre of the bottom face.
    pub fn feet(&self) -> [f64; 3] {
        [(self.min[0] + self.max[0]) / 2.0, self.min[1], (self.min[2] + self.max[2]) / 2.0]
    }

    /// A box standing on `feet` (the centre of its bottom face) in a world whose up is `up`:
    /// `size` is (width, height, depth): the height along up, the width and depth along the
    /// other two axes in increasing order. [`Body::standing_at`] for `Face::PosY`.
    pub fn standing_on(feet: [f64; 3], size: [f64; 3], up: Face) -> Self {
        let frame = Frame::of(up);
        frame.body_to_world(&Self::standing_at(frame.to_local(feet), size))
    }

    /// The centre of the bottom face when up is `up` (the face toward `up.opposite()`).
    pub fn feet_on(&self, up: Face) -> [f64; 3] {
        let frame = Frame::of(up);
        frame.to_world(frame.body_to_local(self).feet())
    }

    /// Whether the box overlaps voxel `v` (touching a face is not overlapping).
    pub fn overlaps(&self, v: VoxelPos) -> bool {
        (0..3).all(|a| {
            let lo = f64::from(v.to_array()[a]);
            self.min[a] < lo + 1.0 && self.max[a] > lo
        })
    }

    /// The voxels the box overlaps on axis `a`: `floor(min) ..= ceil(max) − 1`.
    fn span(&self, a: usize) -> (i32, i32) {
        // In range for a checked body: min ≥ −2³¹ and max ≤ 2³¹.
        (self.min[a].floor() as i64 as i32, (self.max[a].ceil() as i64 - 1) as i32)
    }

    fn check(&self) -> Result<(), MoveError> {
        // Voxel `i32::MAX` ends at 2³¹.
        let world = f64::from(i32::MIN)..=f64::from(i32::MAX) + 1.0;
        for a in 0..3 {
            let (lo, hi) = (self.min[a], self.max[a]);
            if !(lo.is_finite() && hi.is_finite() && lo < hi && world.contains(&lo) && world.contains(&hi)) {
                return Err(MoveError::InvalidBody(*self));
            }
        }
        Ok(())
    }
}

/// What a move did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Motion {
    /// How far the body moved (new `min` − old `min`).
    pub moved: [f64; 3],
    /// The axes on which an obstacle stopped the body before it went the whole way.
    pub blocked: [bool; 3],
    /// The body stands on the ground after the move ([`is_grounded`]).
    pub grounded: bool,
    /// The move stepped up onto a ledge.
    pub stepped: bool,
}

/// Invalid input of a move.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MoveError {
    /// The body has a NaN, infinite or out-of-world coordinate (the world spans `−2³¹ ..= 2³¹`
    /// on each axis), or an empty or inverted extent.
    #[error("invalid body {0:?}")]
    InvalidBody(Body),
    /// The move has a NaN or infinite component, or the step height is negative or not finite.
    #[error("invalid move {delta:?} (step height {step_height})")]
    InvalidMove {
        /// The move.
        delta: [f64; 3],
        /// The step height.
        step_height: f64,
    },
    /// The move is longer than [`MAX_MOVE`] along an axis.
    #[error("a move of {0:?} is longer than {MAX_MOVE} voxels along an axis")]
    TooFar([f64; 3]),
}

/// Whether the body stands on the ground: the top of a solid voxel (or of one of a shaped
/// voxel's boxes) lies exactly on the plane of its bottom, under its footprint.
///
/// # Runtime
/// One lookup per voxel of the footprint.
pub fn is_grounded(body: &Body, solids: &mut impl SolidVoxels) -> bool {
    let y = body.min[1];
    // The layer whose voxels (or boxes) may end at `y`: `y − 1` on an integer plane.
    let Ok(layer) = i32::try_from(y.ceil() as i64 - 1) else { return false };
    let (x0, x1) = body.span(0);
    let (z0, z1) = body.span(2);
    let mut grounded = false;
    for z in z0..=z1 {
        for x in x0..=x1 {
            each_box(solids, [x, layer, z], |lo, hi| {
                grounded |= hi[1] == y && [0, 2].iter().all(|&a| body.min[a] < hi[a] && body.max[a] > lo[a]);
            });
            if grounded {
                return true;
            }
        }
    }
    false
}

/// Whether `body` overlaps a solid voxel (or a box of a shaped one); voxels past the edge of
/// the `i32` world count as solid.
///
/// # Runtime
/// One lookup per voxel the body overlaps.
pub fn overlaps_solid(body: &Body, solids: &mut impl SolidVoxels) -> bool {
    let span = |a: usize| (body.min[a].floor() as i64, body.max[a].ceil() as i64 - 1);
    let ((x0, x1), (y0, y1), (z0, z1)) = (span(0), span(1), span(2));
    for z in z0..=z1 {
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (Ok(x), Ok(y), Ok(z)) = (i32::try_from(x), i32::try_from(y), i32::try_from(z)) else { return true };
                let mut hit = false;
                each_box(solids, [x, y, z], |lo, hi| {
                    hit |= (0..3).all(|a| body.min[a] < hi[a] && body.max[a] > lo[a]);
                });
                if hit {
                    return true;
                }
            }
        }
    }
    false
}

/// [`is_grounded`] in a world whose up is `up`: the box's bottom (its face toward
/// `up.opposite()`) lies exactly on an integer plane and a solid voxel lies right beyond it
/// under the footprint.
pub fn is_grounded_up(body: &Body, up: Face, solids: &mut impl SolidVoxels) -> bool {
    let frame = Frame::of(up);
    is_grounded(&frame.body_to_local(body), &mut frame.solids(solids))
}

/// [`move_and_slide`] in a world whose up is `up` (see the module docs, *Any up*): up's axis
/// first, then the other two; step-up along up. `delta`, the result's `moved` and `blocked`
/// are in world axes.
///
/// # Errors
/// As [`move_and_slide`].
pub fn move_and_slide_up(
    body: &mut Body,
    delta: [f64; 3],
    step_height: f64,
    up: Face,
    solids: &mut impl SolidVoxels,
) -> Result<Motion, MoveError> {
    body.check()?;
    if delta.iter().any(|d| !d.is_finite()) || !(step_height.is_finite() && step_height >= 0.0) {
        return Err(MoveError::InvalidMove { delta, step_height });
    }
    let frame = Frame::of(up);
    let mut local = frame.body_to_local(body);
    let motion = move_and_slide(&mut local, frame.to_local(delta), step_height, &mut frame.solids(solids)).map_err(
        |e| match e {
            MoveError::TooFar(_) => MoveError::TooFar(delta),
            e => e,
        },
    )?;
    let start = *body;
    *body = frame.body_to_world(&local);
    Ok(Motion {
        moved: std::array::from_fn(|a| body.min[a] - start.min[a]),
        blocked: frame.flags_to_world(motion.blocked),
        ..motion
    })
}

/// Moves `body` by `delta` with collisions, sliding along obstacles and stepping up ledges of
/// at most `step_height` voxels (0: never) — see the module docs for the exact rules.
///
/// # Errors
/// [`MoveError`] for a body or move that is not finite or not in the world, or a move longer
/// than [`MAX_MOVE`] on an axis; the body is not changed then.
///
/// # Runtime
/// One lookup per voxel of each layer the box's faces cross (the cross-section times the
/// distance), twice for the axes an obstacle stops when stepping is tried.
pub fn move_and_slide(
    body: &mut Body,
    delta: [f64; 3],
    step_height: f64,
    solids: &mut impl SolidVoxels,
) -> Result<Motion, MoveError> {
    body.check()?;
    if delta.iter().any(|d| !d.is_finite()) || !(step_height.is_finite() && step_height >= 0.0) {
        return Err(MoveError::InvalidMove { delta, step_height });
    }
    if delta.iter().any(|d| d.abs() > MAX_MOVE) {
        return Err(MoveError::TooFar(delta));
    }
    let start = *body;
    let was_grounded = is_grounded(body, solids);
    let mut blocked = [false; 3];
    blocked[1] = sweep(body, 1, delta[1], solids);
    let after_y = *body;
    blocked[0] = sweep(body, 0, delta[0], solids);
    blocked[2] = sweep(body, 2, delta[2], solids);
    let mut stepped = false;
    if was_grounded && step_height > 0.0 && (blocked[0] || blocked[2]) {
        let mut step = after_y;
        let risen_from = step.min[1];
        sweep(&mut step, 1, step_height, solids);
        let risen = step.min[1] - risen_from;
        let step_blocked = [sweep(&mut step, 0, delta[0], solids), sweep(&mut step, 2, delta[2], solids)];
        sweep(&mut step, 1, -risen, solids);
        let travel = |b: &Body| (b.min[0] - after_y.min[0]).powi(2) + (b.min[2] - after_y.min[2]).powi(2);
        if travel(&step) > travel(body) {
            *body = step;
            (blocked[0], blocked[2]) = (step_blocked[0], step_blocked[1]);
            stepped = true;
        }
    }
    Ok(Motion {
        moved: std::array::from_fn(|a| body.min[a] - start.min[a]),
        blocked,
        grounded: is_grounded(body, solids),
        stepped,
    })
}

/// Moves `body` by `d` along axis `a`, stopping at the nearest face of a box ahead in the
/// box's cross-section (a voxel, or a shaped voxel's box). Returns whether it stopped short.
fn sweep(body: &mut Body, a: usize, d: f64, solids: &mut impl SolidVoxels) -> bool {
    if d == 0.0 {
        return false;
    }
    let (b, c) = ((a + 1) % 3, (a + 2) % 3);
    let (b0, b1) = body.span(b);
    let (c0, c1) = body.span(c);
    let across = |lo: &[f64; 3], hi: &[f64; 3], body: &Body| {
        body.min[b] < hi[b] && body.max[b] > lo[b] && body.min[c] < hi[c] && body.max[c] > lo[c]
    };
    // The nearest face in `layer` ahead of the box within the move (`forward`: the faces
    // `lo[a]` at or past `max[a]`, else `hi[a]` at or before `min[a]`); layers past the edge
    // of the `i32` world block at once.
    let mut layer_stop = |layer: i64, body: &Body, target: f64, forward: bool| -> Option<f64> {
        let Ok(layer) = i32::try_from(layer) else {
            return Some(if forward { (layer as f64).max(body.max[a]) } else { (layer as f64 + 1.0).min(body.min[a]) });
        };
        let mut stop: Option<f64> = None;
        for vc in c0..=c1 {
            for vb in b0..=b1 {
                let mut v = [0; 3];
                (v[a], v[b], v[c]) = (layer, vb, vc);
                each_box(solids, v, |lo, hi| {
                    if !across(&lo, &hi, body) {
                        return;
                    }
                    if forward && lo[a] >= body.max[a] && lo[a] < target {
                        stop = Some(stop.map_or(lo[a], |s: f64| s.min(lo[a])));
                    } else if !forward && hi[a] <= body.min[a] && hi[a] > target {
                        stop = Some(stop.map_or(hi[a], |s: f64| s.max(hi[a])));
                    }
                });
            }
        }
        stop
    };
    if d > 0.0 {
        let target = body.max[a] + d;
        // From the layer holding the leading face (boxes inside it may lie ahead), then on
        // while the target reaches the next.
        let mut layer = body.max[a].floor() as i64;
        while (layer as f64) < target {
            if let Some(stop) = layer_stop(layer, body, target, true) {
                body.min[a] += stop - body.max[a];
                body.max[a] = stop;
                return true;
            }
            layer += 1;
        }
        body.min[a] += d;
        body.max[a] = target;
    } else {
        let target = body.min[a] + d;
        let mut layer = body.min[a].ceil() as i64 - 1;
        while ((layer + 1) as f64) > target {
            if let Some(stop) = layer_stop(layer, body, target, false) {
                body.max[a] += stop - body.min[a];
                body.min[a] = stop;
                return true;
            }
            layer -= 1;
        }
        body.max[a] += d;
        body.min[a] = target;
    }
    false
}

#[cfg(test)]
mod tests;
