//! The walk itself: crossing events, the reference walk and the chunk-skipping fast walk
//! (see the [parent module](super) for the rules both follow).

use super::{Ray, RayError, RayHit, RayOptions};
use strata_core::shape::UNITS;
use strata_core::{CHUNK_SIZE, Chunk, ChunkKey, Face, MaterialId, ShapeBox, VoxelPos};

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

/// The hit in voxel `v` (entered by `e`) of a material the filter accepts: the voxel itself,
/// or for a shaped material the nearest of its boxes the ray enters within `max_distance`
/// (`None`: the ray passes through its empty part).
#[inline]
fn hit_in(w: &Walker, v: [i64; 3], e: Event, m: MaterialId, options: &RayOptions) -> Option<RayHit> {
    match options.shapes.boxes(m) {
        None => Some(hit(w, v, e, m)),
        Some(boxes) => box_hit(w, v, m, boxes, options.max_distance),
    }
}

/// The nearest entry of the ray into one of `boxes` (sixteenths of voxel `v`) by the slab
/// method: per axis the interval of distances inside the box's two planes, intersected; the
/// entry is the latest of the axes' entries (its axis gives the face), the box is hit if that
/// comes before the earliest exit and the exit lies ahead. An origin inside a box hits it at
/// distance 0 with no face.
fn box_hit(w: &Walker, v: [i64; 3], m: MaterialId, boxes: &[ShapeBox], max_distance: f64) -> Option<RayHit> {
    let unit = 1.0 / f64::from(UNITS);
    let mut best: Option<(f64, Option<Face>)> = None;
    for b in boxes {
        let (mut enter, mut exit, mut face) = (f64::NEG_INFINITY, f64::INFINITY, None);
        let mut missed = false;
        for (a, &va) in v.iter().enumerate() {
            let lo = va as f64 + f64::from(b.min[a]) * unit;
            let hi = va as f64 + f64::from(b.max[a]) * unit;
            if w.step[a] == 0 {
                // Parallel to the planes: inside the slab or never.
                missed |= !(lo <= w.o[a] && w.o[a] < hi);
                continue;
            }
            let (near, far) = if w.step[a] > 0 { (lo, hi) } else { (hi, lo) };
            let (t0, t1) = ((near - w.o[a]) * w.inv[a], (far - w.o[a]) * w.inv[a]);
            if t0 > enter {
                enter = t0;
                face = Some(Face::ALL[2 * a + usize::from(w.step[a] < 0)]);
            }
            exit = exit.min(t1);
        }
        if missed || enter >= exit || exit <= 0.0 || enter > max_distance {
            continue;
        }
        let (distance, face) = if enter <= 0.0 { (0.0, None) } else { (enter, face) };
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, face));
        }
    }
    let (distance, face) = best?;
    let voxel = to_voxel(v);
    Some(RayHit { voxel, face, distance, material: m, chunk: voxel.chunk() })
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
        if options.filter.hits(m)
            && let Some(h) = hit_in(&w, v, e, m, options)
        {
            return Ok(Some(h));
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
    /// `None`: released (see [`RayError::NotResident`](super::RayError::NotResident)).
    chunk: Option<&'a Chunk>,
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
///
/// A candidate without voxels (`None`: released) that the walk reaches before any hit ends the
/// cast with `Err(key)`: its voxels decide the answer.
pub(crate) fn cast_segments<'a, I>(
    ray: &Ray,
    options: &RayOptions,
    origin_chunk: Option<(ChunkKey, Option<&'a Chunk>)>,
    mut query: impl FnMut(f64, f64) -> I,
    buf: &mut Vec<Candidate<'a>>,
) -> Result<Option<RayHit>, ChunkKey>
where
    I: Iterator<Item = (ChunkKey, Option<&'a Chunk>)>,
{
    let w = Walker::new(ray);
    let max = options.max_distance;
    let skip = origin_chunk.map(|(k, _)| k);
    if let Some((key, chunk)) = origin_chunk
        && let Some(c) = entry_of(&w, key, chunk, max)
        && let Some(h) = walk_chunk(&w, options, &c)?
    {
        return Ok(Some(h));
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
            if let Some(h) = walk_chunk(&w, options, c)? {
                return Ok(Some(h));
            }
        }
        if hi >= max {
            return Ok(None);
        }
        lo = Some(hi);
        len *= 4.0;
    }
}

/// Where the walk enters `key`, or `None` if it never does within `max_distance`.
fn entry_of<'a>(w: &Walker, key: ChunkKey, chunk: Option<&'a Chunk>, max_distance: f64) -> Option<Candidate<'a>> {
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

/// Walks one chunk from its entry voxel; `Err(key)` for a released one.
fn walk_chunk(w: &Walker, options: &RayOptions, c: &Candidate<'_>) -> Result<Option<RayHit>, ChunkKey> {
    match c.chunk {
        None => Err(c.key),
        Some(Chunk::Uniform(m)) if options.shapes.boxes(*m).is_some() => Ok(walk_voxels(w, options, c, |_| m.0)),
        Some(Chunk::Uniform(m)) => Ok(options.filter.hits(*m).then(|| hit(w, c.voxel, c.entry, *m))),
        Some(Chunk::Dense(d)) => {
            let dense = d.as_slice();
            Ok(walk_voxels(w, options, c, |i| dense[i]))
        }
    }
}

/// Walks a chunk voxel by voxel from its entry voxel (`id(index)`: the material at a local
/// index).
#[inline]
fn walk_voxels(w: &Walker, options: &RayOptions, c: &Candidate<'_>, id: impl Fn(usize) -> u16) -> Option<RayHit> {
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
        let m = MaterialId(id(index as usize));
        if !m.is_air()
            && options.filter.hits(m)
            && let Some(h) = hit_in(w, v, e, m, options)
        {
            return Some(h);
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
