//! Voxel ray casts: an R-tree broad phase over chunks, then an exact Amanatides–Woo walk.
//!
//! # Geometry and precision
//! Voxel `v` occupies `[v, v + 1)³` in world units. A [`Ray`] has an `f64` origin and a
//! direction normalized to unit length, so distances are in voxels. `f64` keeps every voxel
//! boundary in the `i32` world exact to ~10⁻⁶ voxels.
//!
//! # The walk, and why the fast path equals the brute-force walk
//! The ray starts in voxel `floor(origin)` at distance 0. Each axis `a` with a non-zero
//! direction crosses voxel planes at distances `t(a, p) = (p − origin[a]) / dir[a]`, always
//! computed by this one formula from the integer plane `p` (never accumulated; the division
//! is a multiplication by the precomputed `1 / dir[a]`, which stays monotone in `p`). The walk
//! processes crossing events in increasing `(t, axis)` order: **on a tie, x steps before y,
//! and y before z** (so at an edge or corner the ray passes through the x-neighbour first).
//! A voxel is reached if the event that enters it has `t ≤ max_distance`.
//!
//! [`cast_reference`] is that walk, one voxel at a time, looking every voxel up. The fast cast
//! ([`IndexSnapshot::cast_ray`](crate::IndexSnapshot::cast_ray)) gets the non-air chunks the ray
//! may touch from the R-tree (segment by segment: one chunk's length first, then 4× longer
//! each time, so near hits cost one small query), and for each computes, *from the same event order*, the voxel
//! where the walk enters it (or that it never does: a ray grazing a corner whose tie-break
//! passes by). It then skips all-air and unknown chunks, returns a uniform matching chunk's
//! entry voxel at once, and walks dense chunks voxel by voxel. Both therefore visit the same
//! voxels and agree exactly, ties included.
//!
//! Chunks the index does not know are treated as air.

use std::sync::Arc;
use strata_core::{CHUNK_SIZE, Chunk, ChunkKey, Face, MaterialId, MaterialKind, MaterialRegistry, VoxelPos};

/// Invalid ray input.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RayError {
    /// The origin has a NaN or infinite coordinate.
    #[error("ray origin {0:?} is not finite")]
    NonFiniteOrigin([f64; 3]),
    /// The direction has a NaN or infinite coordinate.
    #[error("ray direction {0:?} is not finite")]
    NonFiniteDirection([f64; 3]),
    /// The direction is the zero vector (or too small to normalize).
    #[error("ray direction is zero")]
    ZeroDirection,
    /// The origin lies outside the `i32` voxel range.
    #[error("ray origin {0:?} is outside the world")]
    OriginOutOfWorld([f64; 3]),
    /// The maximum distance is negative or NaN.
    #[error("max distance {0} must be a non-negative number")]
    InvalidMaxDistance(f64),
}

/// A validated ray: finite origin inside the world, unit-length direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ray {
    origin: [f64; 3],
    dir: [f64; 3],
}

impl Ray {
    /// Validates and normalizes.
    pub fn new(origin: [f64; 3], direction: [f64; 3]) -> Result<Self, RayError> {
        if origin.iter().any(|v| !v.is_finite()) {
            return Err(RayError::NonFiniteOrigin(origin));
        }
        if direction.iter().any(|v| !v.is_finite()) {
            return Err(RayError::NonFiniteDirection(direction));
        }
        if origin.iter().any(|&v| v < i32::MIN as f64 || v >= i32::MAX as f64 + 1.0) {
            return Err(RayError::OriginOutOfWorld(origin));
        }
        let len = direction.iter().map(|v| v * v).sum::<f64>().sqrt();
        if len == 0.0 || !len.is_finite() {
            // Huge components overflow the squared length: rescale first.
            let m = direction.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            if m == 0.0 {
                return Err(RayError::ZeroDirection);
            }
            let scaled = direction.map(|v| v / m);
            return Self::new(origin, scaled);
        }
        Ok(Self { origin, dir: direction.map(|v| v / len) })
    }

    /// The origin.
    pub fn origin(&self) -> [f64; 3] {
        self.origin
    }

    /// The unit direction.
    pub fn direction(&self) -> [f64; 3] {
        self.dir
    }

    /// The point at distance `t`.
    pub fn at(&self, t: f64) -> [f64; 3] {
        std::array::from_fn(|a| self.origin[a] + self.dir[a] * t)
    }
}

/// Which materials stop a ray. Air never does, whatever the filter says.
#[derive(Clone, Default)]
pub enum HitFilter {
    /// Any material but air.
    #[default]
    NonAir,
    /// Materials of kind `Solid` or `Transparent` (not fluids); a table indexed by id, built by
    /// [`HitFilter::solid_only`]. Ids past the table do not hit.
    Solid(Arc<[bool]>),
    /// A predicate.
    Predicate(Arc<dyn Fn(MaterialId) -> bool + Send + Sync>),
}

impl std::fmt::Debug for HitFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HitFilter::NonAir => f.write_str("NonAir"),
            HitFilter::Solid(t) => write!(f, "Solid({} ids)", t.len()),
            HitFilter::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

impl HitFilter {
    /// Solid and transparent materials of `registry` hit; fluids and air do not.
    pub fn solid_only(registry: &MaterialRegistry) -> Self {
        let mut table = vec![false; registry.id_bound()];
        for m in registry.iter() {
            table[m.id as usize] = matches!(m.kind, MaterialKind::Solid | MaterialKind::Transparent);
        }
        HitFilter::Solid(table.into())
    }

    /// Whether `m` stops the ray.
    #[inline]
    pub fn hits(&self, m: MaterialId) -> bool {
        if m.is_air() {
            return false;
        }
        match self {
            HitFilter::NonAir => true,
            HitFilter::Solid(t) => t.get(m.0 as usize).copied().unwrap_or(false),
            HitFilter::Predicate(p) => p(m),
        }
    }
}

/// Options of a ray cast.
#[derive(Clone, Debug)]
pub struct RayOptions {
    /// Voxels reached beyond this distance are not hits.
    pub max_distance: f64,
    /// Which materials stop the ray.
    pub filter: HitFilter,
}

impl Default for RayOptions {
    fn default() -> Self {
        Self { max_distance: 1024.0, filter: HitFilter::NonAir }
    }
}

impl RayOptions {
    /// Options with `max_distance` and the default filter.
    pub fn with_max_distance(max_distance: f64) -> Self {
        Self { max_distance, ..Self::default() }
    }

    pub(crate) fn validate(&self) -> Result<(), RayError> {
        if self.max_distance.is_nan() || self.max_distance < 0.0 {
            return Err(RayError::InvalidMaxDistance(self.max_distance));
        }
        Ok(())
    }
}

/// Where a ray stopped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RayHit {
    /// The voxel hit.
    pub voxel: VoxelPos,
    /// The face of `voxel` the ray entered through (its outward normal points back at the
    /// ray); `None` when the origin is inside the hit voxel.
    pub face: Option<Face>,
    /// Distance from the origin to the entry point, in voxels.
    pub distance: f64,
    /// The material of `voxel`.
    pub material: MaterialId,
    /// The chunk holding `voxel`.
    pub chunk: ChunkKey,
}

/// A crossing event: distance and axis, ordered lexicographically (the tie-break).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Event {
    t: f64,
    axis: usize,
}

impl Event {
    const START: Event = Event { t: f64::NEG_INFINITY, axis: 0 };

    #[inline]
    fn le(self, o: Event) -> bool {
        self.t < o.t || (self.t == o.t && self.axis <= o.axis)
    }
}

/// The event arithmetic shared by the reference walk and the fast cast.
#[derive(Clone, Copy, Debug)]
struct Walker {
    o: [f64; 3],
    d: [f64; 3],
    inv: [f64; 3],
    step: [i64; 3],
    start: [i64; 3],
}

const WORLD_MIN: i64 = i32::MIN as i64;
const WORLD_MAX: i64 = i32::MAX as i64;

impl Walker {
    fn new(ray: &Ray) -> Self {
        let o = ray.origin;
        let d = ray.dir;
        Self {
            o,
            d,
            inv: d.map(|v| 1.0 / v),
            step: d.map(|v| {
                if v > 0.0 {
                    1
                } else if v < 0.0 {
                    -1
                } else {
                    0
                }
            }),
            start: o.map(|v| v.floor() as i64),
        }
    }

    /// Distance at which axis `a` crosses plane `p`: `(p − o) · (1 / d)`, monotone in `p`.
    /// A subnormal direction component has an infinite inverse; the plane the origin lies on
    /// is then crossed at 0 (not NaN).
    #[inline]
    fn t_plane(&self, a: usize, p: i64) -> f64 {
        if self.step[a] == 0 {
            return f64::INFINITY;
        }
        let dp = p as f64 - self.o[a];
        if dp == 0.0 { 0.0 } else { dp * self.inv[a] }
    }

    /// The event that leaves coordinate `c` on axis `a`.
    #[inline]
    fn leave(&self, a: usize, c: i64) -> Event {
        let p = if self.step[a] > 0 { c + 1 } else { c };
        Event { t: self.t_plane(a, p), axis: a }
    }

    /// The event that enters coordinate `c` on axis `a` (from `c − step`).
    #[inline]
    fn enter(&self, a: usize, c: i64) -> Event {
        let p = if self.step[a] > 0 { c } else { c + 1 };
        Event { t: self.t_plane(a, p), axis: a }
    }

    /// The coordinate on axis `b` once every event up to and including `e` has happened.
    fn coord_after(&self, b: usize, e: Event) -> i64 {
        let (s, st) = (self.start[b], self.step[b]);
        if st == 0 || e.t == f64::NEG_INFINITY {
            return s;
        }
        let guess = (self.o[b] + self.d[b] * e.t).floor();
        let mut c = if guess.is_finite() { (guess as i64).clamp(WORLD_MIN - 2, WORLD_MAX + 2) } else { s };
        if (c - s) * st < 0 {
            c = s;
        }
        // Monotone in c: step back while the entry of c comes after e, forward while its exit
        // does not. Converges in a step or two from the floating-point guess.
        loop {
            if c != s && !self.enter(b, c).le(e) {
                c -= st;
            } else if self.leave(b, c).le(e) {
                c += st;
            } else {
                return c;
            }
        }
    }

    /// The distances at which voxel `v` is left along each axis.
    #[inline]
    fn exits(&self, v: [i64; 3]) -> [f64; 3] {
        [self.leave(0, v[0]).t, self.leave(1, v[1]).t, self.leave(2, v[2]).t]
    }

    /// The next event given the exit distances of the current voxel (ties: lowest axis).
    #[inline]
    fn next(exits: &[f64; 3]) -> Event {
        let mut axis = 0;
        if exits[1] < exits[axis] {
            axis = 1;
        }
        if exits[2] < exits[axis] {
            axis = 2;
        }
        Event { t: exits[axis], axis }
    }

    /// Takes event `e` from voxel `v`: steps along its axis and refreshes that axis's exit
    /// (the same formula as [`Walker::exits`], so the values never drift).
    #[inline]
    fn advance(&self, v: &mut [i64; 3], exits: &mut [f64; 3], e: Event) {
        v[e.axis] += self.step[e.axis];
        exits[e.axis] = self.leave(e.axis, v[e.axis]).t;
    }
}

fn in_world(v: [i64; 3]) -> bool {
    v.iter().all(|&c| (WORLD_MIN..=WORLD_MAX).contains(&c))
}

fn to_voxel(v: [i64; 3]) -> VoxelPos {
    VoxelPos::new(v[0] as i32, v[1] as i32, v[2] as i32)
}

fn entry_face(w: &Walker, e: Event) -> Option<Face> {
    if e.t == f64::NEG_INFINITY {
        return None;
    }
    // Moving +x enters through the voxel's −x face.
    let neg = w.step[e.axis] > 0;
    Some(match (e.axis, neg) {
        (0, true) => Face::NegX,
        (0, false) => Face::PosX,
        (1, true) => Face::NegY,
        (1, false) => Face::PosY,
        (_, true) => Face::NegZ,
        (_, false) => Face::PosZ,
    })
}

fn hit(w: &Walker, v: [i64; 3], e: Event, m: MaterialId) -> RayHit {
    let voxel = to_voxel(v);
    let distance = if e.t == f64::NEG_INFINITY { 0.0 } else { e.t.max(0.0) };
    RayHit { voxel, face: entry_face(w, e), distance, material: m, chunk: voxel.chunk() }
}

/// The brute-force reference: walks voxel by voxel (see the module docs) and asks `lookup` for
/// each voxel's material. Stops at the first voxel the filter accepts, past `max_distance`, or
/// at the edge of the `i32` world.
///
/// # Runtime
/// O(voxels walked) lookups.
pub fn cast_reference(
    ray: &Ray,
    options: &RayOptions,
    mut lookup: impl FnMut(VoxelPos) -> MaterialId,
) -> Result<Option<RayHit>, RayError> {
    options.validate()?;
    let w = Walker::new(ray);
    let mut v = w.start;
    let mut exits = w.exits(v);
    let mut e = Event::START;
    loop {
        if !in_world(v) {
            return Ok(None);
        }
        let m = lookup(to_voxel(v));
        if options.filter.hits(m) {
            return Ok(Some(hit(&w, v, e, m)));
        }
        let n = Walker::next(&exits);
        if n.t > options.max_distance || n.t.is_nan() {
            return Ok(None);
        }
        w.advance(&mut v, &mut exits, n);
        e = n;
    }
}

/// Scratch entry of a cast: a chunk the broad phase found and where the walk enters it.
#[derive(Debug)]
pub struct Candidate<'a> {
    entry: Event,
    voxel: [i64; 3],
    key: ChunkKey,
    chunk: &'a Chunk,
}

/// The exact narrow phase: walks the ray through broad-phase candidates (chunks not all air,
/// in any order), segment by segment. `query(lo, hi)` must return every such chunk whose box
/// the ray may touch between distances `lo` and `hi` (extra ones are harmless). Segments
/// start one chunk long and grow 4× each, so near hits cost one small query; each candidate
/// belongs to the segment holding its exact entry event, so segments never overlap and the
/// walk order is the reference order. Reuses `buf` between casts.
///
/// `origin_chunk` is the chunk holding the origin if the caller has it at hand: it is walked
/// first (it is first in walk order), so a hit there needs no R-tree query at all.
pub(crate) fn cast_segments<'a, I>(
    ray: &Ray,
    options: &RayOptions,
    origin_chunk: Option<(ChunkKey, &'a Chunk)>,
    mut query: impl FnMut(f64, f64) -> I,
    buf: &mut Vec<Candidate<'a>>,
) -> Option<RayHit>
where
    I: Iterator<Item = (ChunkKey, &'a Chunk)>,
{
    let w = Walker::new(ray);
    let max = options.max_distance;
    let skip = origin_chunk.map(|(k, _)| k);
    if let Some((key, chunk)) = origin_chunk
        && let Some(c) = entry_of(&w, key, chunk, max)
        && let Some(h) = walk_chunk(&w, options, &c)
    {
        return Some(h);
    }
    // `lo`: the previous segment's end (`None` for the first segment, which also takes the
    // chunk holding the origin, entered at distance −∞).
    let (mut lo, mut len): (Option<f64>, f64) = (None, CHUNK_SIZE as f64);
    loop {
        let start = lo.unwrap_or(0.0);
        let hi = (start + len).min(max);
        buf.clear();
        for (key, chunk) in query(start, hi) {
            if Some(key) == skip {
                continue;
            }
            if let Some(c) = entry_of(&w, key, chunk, hi)
                && lo.is_none_or(|lo| c.entry.t > lo)
            {
                buf.push(c);
            }
        }
        buf.sort_unstable_by(|a, b| {
            if a.entry == b.entry {
                std::cmp::Ordering::Equal
            } else if a.entry.le(b.entry) {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            }
        });
        for c in buf.iter() {
            if let Some(h) = walk_chunk(&w, options, c) {
                return Some(h);
            }
        }
        if hi >= max {
            return None;
        }
        lo = Some(hi);
        len *= 4.0;
    }
}

/// Where the walk enters `key`, or `None` if it never does within `max_distance`.
fn entry_of<'a>(w: &Walker, key: ChunkKey, chunk: &'a Chunk, max_distance: f64) -> Option<Candidate<'a>> {
    let s = CHUNK_SIZE as i64;
    let lo = key.to_array().map(|v| v as i64 * s);
    let mut e = Event::START;
    for (a, &l) in lo.iter().enumerate() {
        let h = l + s - 1;
        let st = w.step[a];
        let inside = (l..=h).contains(&w.start[a]);
        if inside {
            continue;
        }
        let needed = if st > 0 && w.start[a] < l {
            w.enter(a, l)
        } else if st < 0 && w.start[a] > h {
            w.enter(a, h)
        } else {
            return None;
        };
        if e.le(needed) {
            e = needed;
        }
    }
    if e.t > max_distance {
        return None;
    }
    let v: [i64; 3] = std::array::from_fn(|a| w.coord_after(a, e));
    let inside = (0..3).all(|a| (lo[a]..lo[a] + s).contains(&v[a]));
    inside.then_some(Candidate { entry: e, voxel: v, key, chunk })
}

/// Walks one chunk from its entry voxel.
fn walk_chunk(w: &Walker, options: &RayOptions, c: &Candidate<'_>) -> Option<RayHit> {
    let dense = match c.chunk {
        Chunk::Uniform(m) => return options.filter.hits(*m).then(|| hit(w, c.voxel, c.entry, *m)),
        Chunk::Dense(d) => d.as_slice(),
    };
    let s = CHUNK_SIZE as i64;
    let lo = c.key.to_array().map(|v| v as i64 * s);
    const STRIDE: [i64; 3] = [1, CHUNK_SIZE as i64, (CHUNK_SIZE * CHUNK_SIZE) as i64];
    let mut v = c.voxel;
    let mut local: [i64; 3] = std::array::from_fn(|a| v[a] - lo[a]);
    let mut index = local[0] + STRIDE[1] * local[1] + STRIDE[2] * local[2];
    let mut exits = w.exits(v);
    let mut e = c.entry;
    loop {
        // Invariant: every local coordinate is in 0..32 (checked before each step is taken).
        let m = MaterialId(dense[index as usize]);
        if !m.is_air() && options.filter.hits(m) {
            return Some(hit(w, v, e, m));
        }
        let n = Walker::next(&exits);
        if n.t > options.max_distance || n.t.is_nan() {
            return None;
        }
        let (a, st) = (n.axis, w.step[n.axis]);
        local[a] += st;
        if !(0..s).contains(&local[a]) {
            return None;
        }
        index += st * STRIDE[a];
        w.advance(&mut v, &mut exits, n);
        e = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_input_is_typed() {
        assert!(matches!(Ray::new([f64::NAN, 0.0, 0.0], [1.0, 0.0, 0.0]), Err(RayError::NonFiniteOrigin(_))));
        assert!(matches!(Ray::new([0.0; 3], [f64::INFINITY, 0.0, 0.0]), Err(RayError::NonFiniteDirection(_))));
        assert_eq!(Ray::new([0.0; 3], [0.0; 3]), Err(RayError::ZeroDirection));
        assert!(matches!(Ray::new([3e9, 0.0, 0.0], [1.0, 0.0, 0.0]), Err(RayError::OriginOutOfWorld(_))));
        let r = Ray::new([0.0; 3], [1e300, 1e300, 0.0]).unwrap();
        assert!((r.direction()[0] - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
        let bad = RayOptions::with_max_distance(-1.0);
        assert!(matches!(cast_reference(&r, &bad, |_| MaterialId::AIR), Err(RayError::InvalidMaxDistance(_))));
    }

    #[test]
    fn reference_walk_ties_step_x_first() {
        // Through the corner at (1, 1): x first, then y.
        let r = Ray::new([0.5, 0.5, 0.5], [1.0, 1.0, 0.0]).unwrap();
        let mut seen = Vec::new();
        let _ = cast_reference(&r, &RayOptions::with_max_distance(1.5), |v| {
            seen.push(v);
            MaterialId::AIR
        });
        assert_eq!(seen, vec![VoxelPos::new(0, 0, 0), VoxelPos::new(1, 0, 0), VoxelPos::new(1, 1, 0)]);
        let h = cast_reference(&r, &RayOptions::default(), |v| {
            if v == VoxelPos::new(1, 1, 0) { MaterialId(2) } else { MaterialId::AIR }
        })
        .unwrap()
        .unwrap();
        assert_eq!(h.face, Some(Face::NegY));
        assert!((h.distance - 0.5 * std::f64::consts::SQRT_2).abs() < 1e-12);
    }
}
