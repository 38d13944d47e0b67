//! The cube-sphere grids the terrain fields are sampled on.
//!
//! A direction `v` belongs to the cube face of its largest component (ties: x, then y, then z);
//! on face `(a, sign)` with the two other axes `b < c`, its gnomonic face coordinates are
//! `u = v_b · (1/|v_a|)`, `w = v_c · (1/|v_a|)` in `-1..=1` (up to rounding; cell lookups clamp),
//! warped by `warp(u) = u·(4 − |u|)/3` (monotone, `warp(±1) = ±1`), which evens the node spacing:
//! along each axis the arc between nodes varies by 7 % instead of 2× from face centre to edge.
//! The **fine grid** has `n + 1` nodes per face edge at `warp(u) = (2i - n) / n`; the **coarse
//! grid** is every [`COARSE_FACTOR`]-th fine node. Nodes on face edges are shared by two faces
//! with identical directions, so interpolated fields are continuous across faces (no seam).
//!
//! Interpolation is bilinear in the form `a·(1-t) + b·t`, each lerp clamped to its two inputs: the
//! result always lies between the corner values, which the bound checks of the generator rely on.

/// Fine nodes per coarse cell edge.
pub(crate) const COARSE_FACTOR: u32 = 64;

/// The other two axes of each face axis, in increasing order.
const OTHER: [(usize, usize); 3] = [(1, 2), (0, 2), (0, 1)];

/// A direction's place on the fine grid: face `0..6` (`2·axis + negative`) and continuous fine
/// coordinates in `0..=n`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct GridPos {
    pub face: u8,
    pub fx: f64,
    pub fy: f64,
}

/// A grid cell and the fractions inside it (each in `0..=1`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Cell {
    pub i: u32,
    pub j: u32,
    pub tx: f64,
    pub ty: f64,
}

/// Grid resolution.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grid {
    /// Fine cells per face edge (a multiple of [`COARSE_FACTOR`]).
    pub n: u32,
    /// Coarse cells per face edge.
    pub nc: u32,
    half_n: f64,
}

impl Grid {
    /// A grid whose fine nodes are `spacing` voxels apart at the face centres of a sphere of
    /// `radius` (an arc of `radius · (2/n) / warp'(0)`, `warp'(0) = 4/3`).
    pub fn new(radius: f64, spacing: f64) -> Self {
        let nc = ((1.5 * radius) / (spacing * COARSE_FACTOR as f64)).ceil().max(1.0) as u32;
        let n = nc * COARSE_FACTOR;
        Self { n, nc, half_n: n as f64 * 0.5 }
    }

    /// The grid position of the direction of `v` (any non-zero vector).
    #[inline]
    pub fn pos(&self, v: [f64; 3]) -> GridPos {
        let (ax, ay, az) = (v[0].abs(), v[1].abs(), v[2].abs());
        let a = if ax >= ay && ax >= az {
            0
        } else if ay >= az {
            1
        } else {
            2
        };
        let (b, c) = OTHER[a];
        let m = v[a].abs();
        let face = (a as u8) * 2 + u8::from(v[a] < 0.0);
        let inv = 1.0 / m;
        let u = warp(v[b] * inv);
        let w = warp(v[c] * inv);
        GridPos { face, fx: (u + 1.0) * self.half_n, fy: (w + 1.0) * self.half_n }
    }

    /// The fine cell holding `g`, clamped to the face.
    #[inline]
    pub fn fine_cell(&self, g: GridPos) -> Cell {
        cell(g.fx, g.fy, self.n)
    }

    /// The coarse cell holding `g` (coarse coordinates are fine ones divided by the factor,
    /// exactly: it is a power of two).
    #[inline]
    pub fn coarse_cell(&self, g: GridPos) -> Cell {
        let k = COARSE_FACTOR as f64;
        cell(g.fx / k, g.fy / k, self.nc)
    }

    /// The coarse cell and fractions of fine node `(i, j)` (exact: small integers over a power of
    /// two).
    #[inline]
    pub fn coarse_cell_of_node(&self, i: u32, j: u32) -> Cell {
        let k = COARSE_FACTOR;
        let ci = (i / k).min(self.nc - 1);
        let cj = (j / k).min(self.nc - 1);
        Cell { i: ci, j: cj, tx: (i - ci * k) as f64 / k as f64, ty: (j - cj * k) as f64 / k as f64 }
    }

    /// The unit direction of fine node `(i, j)` on `face`.
    pub fn node_dir(&self, face: u8, i: u32, j: u32) -> [f64; 3] {
        let n = self.n as f64;
        let u = unwarp((2.0 * i as f64 - n) / n);
        let w = unwarp((2.0 * j as f64 - n) / n);
        let a = (face / 2) as usize;
        let (b, c) = OTHER[a];
        let s = if face & 1 == 0 { 1.0 } else { -1.0 };
        let inv = 1.0 / (1.0 + u * u + w * w).sqrt();
        let mut d = [0.0; 3];
        d[a] = s * inv;
        d[b] = u * inv;
        d[c] = w * inv;
        d
    }

    /// The unit direction of coarse node `(ci, cj)` on `face`.
    pub fn coarse_node_dir(&self, face: u8, ci: u32, cj: u32) -> [f64; 3] {
        self.node_dir(face, ci * COARSE_FACTOR, cj * COARSE_FACTOR)
    }

    /// Fine node index ranges (inclusive, clamped to the face) covering every voxel centre in the
    /// box `lo..=hi` that projects onto `face`, widened by one node; `None` when no such voxel can
    /// exist. Relies on the projection being monotone in each coordinate (correctly rounded
    /// operations; the one-node margin absorbs the warp's rounding), so every voxel's fine cell
    /// and its `+1` neighbour lie inside.
    pub fn face_rect(&self, face: u8, lo: [i64; 3], hi: [i64; 3]) -> Option<[(u32, u32); 2]> {
        let a = (face / 2) as usize;
        let (b, c) = OTHER[a];
        // |p_a| range over the part of the box on this face's side.
        let (a0, a1) = if face & 1 == 0 { (lo[a].max(1), hi[a]) } else { ((-hi[a]).max(1), -lo[a]) };
        if a0 > a1 {
            return None;
        }
        let min_abs = |l: i64, h: i64| if l <= 0 && h >= 0 { 0 } else { l.abs().min(h.abs()) };
        if a1 < min_abs(lo[b], hi[b]) || a1 < min_abs(lo[c], hi[c]) {
            return None;
        }
        // The same `x · (1/|p_a|)` as `pos`, monotone in both factors.
        let (a0, a1) = (1.0 / a0 as f64, 1.0 / a1 as f64);
        let range = |l: i64, h: i64| {
            let (l, h) = (l as f64, h as f64);
            // `warp` is monotone (up to rounding, which the one-node margin absorbs).
            let umin = warp((l * a0).min(l * a1).max(-1.0));
            let umax = warp((h * a0).max(h * a1).min(1.0));
            let lo = cell_index((umin + 1.0) * self.half_n, self.n).saturating_sub(1);
            let hi = (cell_index((umax + 1.0) * self.half_n, self.n) + 2).min(self.n);
            (lo, hi)
        };
        Some([range(lo[b], hi[b]), range(lo[c], hi[c])])
    }
}

/// The face-coordinate warp `u·(4 − |u|)/3`: odd, increasing on `-1..=1`, `warp(±1) = ±1`
/// exactly, slope 4/3 at 0 and 2/3 at ±1 (cancelling the gnomonic stretch `1 + u²`).
#[inline]
pub(crate) fn warp(u: f64) -> f64 {
    u * (4.0 - u.abs()) * (1.0 / 3.0)
}

/// The inverse of [`warp`]: `sign(s)·(2 − sqrt(4 − 3|s|))`.
pub(crate) fn unwarp(s: f64) -> f64 {
    (2.0 - (4.0 - 3.0 * s.abs()).sqrt()).copysign(s)
}

/// `floor(x)` as an integer, for finite `|x| < 2⁶²` (no libm call: the x86-64 baseline has no
/// SSE4.1 `roundsd`).
#[inline]
pub(crate) fn floor_i64(x: f64) -> i64 {
    let t = x as i64;
    t - i64::from((t as f64) > x)
}

/// Minimum of two non-NaN values (one `minsd`).
#[inline]
pub(crate) fn fmin(a: f64, b: f64) -> f64 {
    if a < b { a } else { b }
}

/// Maximum of two non-NaN values (one `maxsd`).
#[inline]
pub(crate) fn fmax(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

#[inline]
fn cell_index(f: f64, n: u32) -> u32 {
    // The clamp keeps the +1 node on the face.
    floor_i64(f).clamp(0, n as i64 - 1) as u32
}

#[inline]
fn cell(fx: f64, fy: f64, n: u32) -> Cell {
    let i = cell_index(fx, n);
    let j = cell_index(fy, n);
    Cell { i, j, tx: fmin(fmax(fx - i as f64, 0.0), 1.0), ty: fmin(fmax(fy - j as f64, 0.0), 1.0) }
}

/// `a·(1-t) + b·t`, clamped between `a` and `b`.
#[inline]
pub(crate) fn lerp(a: f64, b: f64, t: f64) -> f64 {
    fmin(fmax(a * (1.0 - t) + b * t, fmin(a, b)), fmax(a, b))
}

/// Bilinear interpolation of corners `v00 = (i, j)`, `v10 = (i+1, j)`, `v01`, `v11`.
#[inline]
pub(crate) fn bilerp(v00: f64, v10: f64, v01: f64, v11: f64, tx: f64, ty: f64) -> f64 {
    lerp(lerp(v00, v10, tx), lerp(v01, v11, tx), ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faces_and_coordinates() {
        let g = Grid::new(32768.0, 2.0);
        assert_eq!(g.n, 24576);
        assert_eq!(g.nc, 384);
        let p = g.pos([10.0, 0.0, 0.0]);
        assert_eq!(p, GridPos { face: 0, fx: g.half_n, fy: g.half_n });
        assert_eq!(g.pos([0.0, -3.0, 0.0]).face, 3);
        assert_eq!(g.pos([1.0, 1.0, 1.0]).face, 0, "ties go to x");
        assert_eq!(g.pos([0.0, 1.0, 1.0]).face, 2, "ties go to y");
        let edge = g.pos([1.0, 1.0, 0.5]);
        assert_eq!(edge.fx, g.n as f64);
        assert!((edge.fy - g.half_n * (1.0 + warp(0.5))).abs() < 1e-9);
    }

    #[test]
    fn node_directions_round_trip_and_edges_are_shared() {
        let g = Grid::new(4096.0, 2.0);
        for face in 0..6 {
            for (i, j) in [(0, 0), (3, 77), (g.n / 2, g.n / 2), (g.n, 5), (g.n, g.n)] {
                let d = g.node_dir(face, i, j);
                let len = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                assert!((len - 1.0).abs() < 1e-12);
                let p = g.pos(d);
                if i > 0 && i < g.n && j > 0 && j < g.n {
                    assert_eq!(p.face, face);
                    assert!((p.fx - i as f64).abs() < 1e-6 && (p.fy - j as f64).abs() < 1e-6);
                }
            }
        }
        // Face +X, edge u = +1 (y = x) is face +Y's edge u = +1 (x = y): same direction bits.
        let j = 1234;
        assert_eq!(g.node_dir(0, g.n, j), g.node_dir(2, g.n, j));
    }

    #[test]
    fn warp_is_monotone_and_inverted() {
        assert_eq!((warp(1.0), warp(-1.0), warp(0.0)), (1.0, -1.0, 0.0));
        assert_eq!((unwarp(1.0), unwarp(-1.0), unwarp(0.0)), (1.0, -1.0, 0.0));
        let mut prev = -2.0;
        for k in -10_000..=10_000 {
            let u = k as f64 / 10_000.0;
            let s = warp(u);
            assert!(s >= prev);
            prev = s;
            assert!((unwarp(s) - u).abs() < 1e-12);
        }
    }

    #[test]
    fn lerp_is_exact_at_ends_and_bounded() {
        assert_eq!(lerp(0.1, 0.3, 0.0), 0.1);
        assert_eq!(lerp(0.1, 0.3, 1.0), 0.3);
        for k in 0..=100 {
            let v = lerp(0.1, 0.3, k as f64 / 100.0);
            assert!((0.1..=0.3).contains(&v));
        }
    }

    #[test]
    fn face_rect_covers_every_voxel_of_a_box() {
        let g = Grid::new(2048.0, 2.0);
        for (lo, hi) in [
            ([2000i64, -16, -16], [2031i64, 15, 15]),
            ([1440, 1440, -10], [1471, 1471, 21]),
            ([-1200, 1180, 1180], [-1169, 1211, 1211]),
            ([-5, -5, -5], [26, 26, 26]),
        ] {
            for x in lo[0]..=hi[0] {
                for y in lo[1]..=hi[1] {
                    for z in lo[2]..=hi[2] {
                        if (x, y, z) == (0, 0, 0) {
                            continue;
                        }
                        let p = g.pos([x as f64, y as f64, z as f64]);
                        let c = g.fine_cell(p);
                        let r = g.face_rect(p.face, lo, hi).expect("face present");
                        assert!(r[0].0 <= c.i && c.i < r[0].1 && r[1].0 <= c.j && c.j < r[1].1, "{x} {y} {z}");
                    }
                }
            }
        }
    }
}
