//! The planet's material function: which material at which radius and direction.
//!
//! [`Model::classify`] is *the* definition of the planet. Every public path (single voxels,
//! chunks, LOD nodes, geographic queries) calls it; they differ only in the [`Source`] that
//! supplies grid-node values (computed on the spot or cached per chunk), and node values are pure
//! functions of their grid index. That is why chunks and LOD grids agree with `material_at`
//! exactly, not approximately.

use crate::coarse_field::CoarseField;
use crate::config::PlanetConfig;
use crate::fields::{CoarseNode, Fields, Relief};
use crate::fine_field::FineField;
use crate::grid::{Cell, Grid, GridPos, bilerp, floor_i64};
use crate::ids::*;
use crate::sources::{CoarseRanges, Source};
use strata_core::MaterialId;

/// Extra thickness (in units of the direction's largest component) of the top voxel layer, so
/// every exposed voxel of a gently sloped surface is in it.
const TOP_THICKNESS: f64 = 1.5;
/// Oceanic crust (basalt right below the sediment) where the continent signal is below this.
const OCEAN_CRUST: f64 = -0.12;
/// How far (in continent-signal units) the oceanic crust reaches under the continents at the
/// crust base.
const OCEAN_CRUST_LEAN: f64 = 0.2;

/// Slack (in field units and voxels) for bulk rock decisions from interpolated coarse fields.
const ROCK_MARGIN: f64 = 1e-6;

/// What height bounds can decide for a box of voxels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bounded {
    /// Air everywhere.
    Air,
    /// Water everywhere.
    Water,
    /// Rock ([`Model::classify_rock`]) everywhere.
    Rock,
    /// Sediment everywhere (below the soil, above the rock).
    Sediment,
}

/// The four coarse nodes around one direction and their bilinear weights: geology fields are
/// interpolated on demand. (They need no bounds, so no clamping: a plain weighted sum.)
#[derive(Clone, Copy, Debug)]
pub(crate) struct CoarseCell {
    n: [CoarseNode; 4],
    w: [f64; 4],
}

impl CoarseCell {
    /// Field `k`, bilinear.
    #[inline(always)]
    pub fn get(&self, k: fn(&CoarseNode) -> f64) -> f64 {
        (self.w[0] * k(&self.n[0]) + self.w[1] * k(&self.n[1]))
            + (self.w[2] * k(&self.n[2]) + self.w[3] * k(&self.n[3]))
    }
}

/// Derived radii and thresholds (all `f64`, in voxels from the centre unless noted).
pub(crate) struct Model {
    pub grid: Grid,
    pub fields: Fields,
    /// The coarse nodes computed so far, shared by every call ([`Model::coarse_cached`]).
    pub coarse: CoarseField,
    /// The fine nodes boxes near the ground computed lately, shared by every call.
    pub fine: FineField,
    /// Reference radius.
    pub radius: f64,
    /// Sea-level radius.
    pub sea_r: f64,
    /// Sea ice forms above this radius (polar seas).
    sea_ice_r: f64,
    /// Everything beyond is air.
    pub air_r: f64,
    /// Everything below is mantle, magma or core, by radius alone.
    pub mantle_floor: f64,
    /// Everything below is rock (the soil and sediment lie above, everywhere).
    pub rock_ceiling: f64,
    inner_core_r: f64,
    outer_core_r: f64,
    moho_r: f64,
    inv_crust_depth: f64,
    crust_undulation: f64,
    lower_crust: f64,
    granite_alt: f64,
    fold_amp: f64,
    stratum: f64,
    soil: f64,
    /// Soil plus sediment.
    pub thick: f64,
    beach_height: f64,
    beach_depth: f64,
    pub ice_cap: f64,
    snow_alt: f64,
    polar_sin: f64,
    polar_jitter: f64,
    polar_lo: f64,
    polar_hi: f64,
}

/// `sqrt((x² + y²) + z²)` of per-axis magnitudes, in this fixed order: every step is monotone
/// in each magnitude, so [`radius_range`] bounds [`radius_of`] bit for bit.
#[inline]
fn norm(a: [f64; 3]) -> f64 {
    ((a[0] * a[0] + a[1] * a[1]) + a[2] * a[2]).sqrt()
}

/// Radius of voxel `p` (the voxel's centre is the integer point `p`; the planet's centre is voxel
/// `(0, 0, 0)`).
#[inline]
pub(crate) fn radius_of(p: [i64; 3]) -> f64 {
    norm(p.map(|v| v.unsigned_abs() as f64))
}

/// Smallest and largest [`radius_of`] over the box `lo..=hi` (coordinates within `i32`).
pub(crate) fn radius_range(lo: [i64; 3], hi: [i64; 3]) -> (f64, f64) {
    let (mut min, mut max) = ([0.0; 3], [0.0; 3]);
    for a in 0..3 {
        let (l, h) = (lo[a].unsigned_abs(), hi[a].unsigned_abs());
        max[a] = l.max(h) as f64;
        if lo[a] > 0 || hi[a] < 0 {
            min[a] = l.min(h) as f64;
        }
    }
    (norm(min), norm(max))
}

impl Model {
    /// Builds the model of a validated config.
    pub fn new(c: &PlanetConfig) -> Self {
        let fields = Fields::new(c);
        let radius = c.radius as f64;
        let sea_r = c.sea_level_radius();
        let thick = c.soil_depth + c.sediment_depth;
        let moho_r = radius - c.crust_depth;
        let polar_sin = c.polar_latitude_deg.to_radians().sin();
        let polar_jitter = 0.04;
        Self {
            grid: Grid::new(radius, c.height_grid_spacing),
            coarse: CoarseField::new(),
            fine: FineField::new(),
            radius,
            sea_r,
            sea_ice_r: sea_r - c.sea_ice_thickness,
            air_r: (radius + fields.global_max() + c.ice_cap_thickness).max(sea_r) + 1.0,
            mantle_floor: moho_r - c.crust_undulation - 1.0,
            rock_ceiling: radius + fields.global_min() - thick - 1.0,
            inner_core_r: radius * c.inner_core_fraction,
            outer_core_r: radius * c.outer_core_fraction,
            moho_r,
            inv_crust_depth: 1.0 / c.crust_depth,
            crust_undulation: c.crust_undulation,
            lower_crust: c.lower_crust_thickness,
            granite_alt: -c.granite_depth,
            fold_amp: c.strata_undulation,
            stratum: c.stratum_thickness,
            soil: c.soil_depth,
            thick,
            beach_height: c.beach_height,
            beach_depth: c.beach_depth,
            ice_cap: c.ice_cap_thickness,
            snow_alt: c.snow_altitude,
            polar_sin,
            polar_jitter,
            polar_lo: polar_sin - polar_jitter,
            polar_hi: polar_sin + polar_jitter,
            fields,
        }
    }

    /// Coarse node `(ci, cj)` of `face`: noise evaluation (23 Perlin octaves, ~0.4 µs). The
    /// definition; sources read [`Model::coarse_cached`].
    pub fn coarse_node(&self, face: u8, ci: u32, cj: u32) -> CoarseNode {
        self.fields.coarse(self.grid.coarse_node_dir(face, ci, cj))
    }

    /// [`Model::coarse_node`] through the shared tile cache ([`CoarseField`]).
    pub fn coarse_cached(&self, face: u8, ci: u32, cj: u32) -> CoarseNode {
        self.coarse.get(self, face, ci, cj)
    }

    /// The relief (`land`, `mask`, `ridge`) at fine node `(i, j)`: bilinear in the coarse nodes
    /// around it.
    pub fn relief_at_node<S: Source>(&self, face: u8, i: u32, j: u32, src: &mut S) -> Relief {
        let c = self.grid.coarse_cell_of_node(i, j);
        Self::relief_in(c, self.coarse_corners(face, c, src))
    }

    /// The four coarse nodes at the corners of coarse cell `c`: `(i, j)`, `(i+1, j)`,
    /// `(i, j+1)`, `(i+1, j+1)`.
    #[inline(always)]
    fn coarse_corners<S: Source>(&self, face: u8, c: Cell, src: &mut S) -> [CoarseNode; 4] {
        src.coarse_corners(self, face, c.i, c.j)
    }

    /// The relief at fractions `c.tx`, `c.ty` of coarse cell `c` with corners `n`.
    #[inline(always)]
    fn relief_in(c: Cell, n: [CoarseNode; 4]) -> Relief {
        let f = |k: fn(&CoarseNode) -> f64| bilerp(k(&n[0]), k(&n[1]), k(&n[2]), k(&n[3]), c.tx, c.ty);
        Relief { land: f(|n| n.land), mask: f(|n| n.mask), ridge: f(|n| n.ridge) }
    }

    /// Height at fine node `(i, j)` of `face`: the expensive part (fine ridges and hills).
    pub fn height_node<S: Source>(&self, face: u8, i: u32, j: u32, src: &mut S) -> f64 {
        let relief = self.relief_at_node(face, i, j, src);
        self.height_with_relief(face, i, j, relief)
    }

    /// [`Model::height_node`] given the node's relief ([`Model::relief_at_node`]).
    #[inline]
    pub fn height_with_relief(&self, face: u8, i: u32, j: u32, relief: Relief) -> f64 {
        self.fields.height(self.grid.node_dir(face, i, j), relief)
    }

    /// Bounds `(lo, hi)` of the height anywhere in coarse cell `(ci, cj)`: every fine node of the
    /// cell interpolates its relief between the four corners (clamped lerps), and the height is
    /// monotone in each relief field (see [`Fields::height_lo`]).
    pub fn cell_bounds<S: Source>(&self, face: u8, ci: u32, cj: u32, src: &mut S) -> (f64, f64) {
        let n = [
            src.coarse(self, face, ci, cj),
            src.coarse(self, face, ci + 1, cj),
            src.coarse(self, face, ci, cj + 1),
            src.coarse(self, face, ci + 1, cj + 1),
        ];
        let lo = |k: fn(&CoarseNode) -> f64| n.iter().map(k).fold(f64::INFINITY, f64::min);
        let hi = |k: fn(&CoarseNode) -> f64| n.iter().map(k).fold(f64::NEG_INFINITY, f64::max);
        let min = Relief { land: lo(|n| n.land), mask: lo(|n| n.mask), ridge: lo(|n| n.ridge) };
        let max = Relief { land: hi(|n| n.land), mask: hi(|n| n.mask), ridge: hi(|n| n.ridge) };
        (self.fields.height_lo(min), self.fields.height_hi(max))
    }

    /// Terrain height at `g`: bilinear in the four fine nodes around it.
    #[inline]
    pub fn height_at<S: Source>(&self, g: GridPos, src: &mut S) -> f64 {
        let c = self.grid.fine_cell(g);
        let [h00, h10, h01, h11] = src.height_corners(self, g.face, c.i, c.j);
        bilerp(h00, h10, h01, h11, c.tx, c.ty)
    }

    /// The coarse nodes around `g`.
    #[inline(always)]
    pub fn coarse_at<S: Source>(&self, g: GridPos, src: &mut S) -> CoarseCell {
        let c = self.grid.coarse_cell(g);
        CoarseCell {
            n: src.coarse_corners(self, g.face, c.i, c.j),
            w: [(1.0 - c.tx) * (1.0 - c.ty), c.tx * (1.0 - c.ty), (1.0 - c.tx) * c.ty, c.tx * c.ty],
        }
    }

    /// The radii where [`Model::deep`] steps: (inner core, outer core).
    #[cfg(test)]
    pub fn deep_boundaries(&self) -> (f64, f64) {
        (self.inner_core_r, self.outer_core_r)
    }

    /// The material by radius alone below [`Model::mantle_floor`]: a monotone step function.
    #[inline]
    pub fn deep(&self, r: f64) -> MaterialId {
        if r < self.inner_core_r {
            CORE
        } else if r < self.outer_core_r {
            MAGMA
        } else {
            MANTLE
        }
    }

    /// The material of voxel `p` (at radius `r = radius_of(p)`), with grid nodes from `src`.
    #[inline(always)]
    pub fn classify<S: Source>(&self, p: [i64; 3], r: f64, src: &mut S) -> MaterialId {
        if r > self.air_r {
            return AIR;
        }
        if r < self.mantle_floor {
            return self.deep(r);
        }
        let g = self.grid.pos([p[0] as f64, p[1] as f64, p[2] as f64]);
        if r < self.rock_ceiling {
            return self.rock(r, g, src);
        }
        if let Some(bounds) = src.height_bounds(self, g) {
            // First the bounds of the coarse cell, then the tighter ones of the four fine nodes'
            // relief (no fine noise yet).
            if let Some(m) = self.decide(p, r, bounds, g, src) {
                return m;
            }
            let (fine, reliefs) = self.fine_cell_bounds(g, src);
            if let Some(m) = self.decide(p, r, fine, g, src) {
                return m;
            }
            // The fine nodes' heights, from the reliefs the bounds computed.
            let c = self.grid.fine_cell(g);
            let h00 = src.height_given_relief(self, g.face, c.i, c.j, reliefs[0]);
            let h10 = src.height_given_relief(self, g.face, c.i + 1, c.j, reliefs[1]);
            let h01 = src.height_given_relief(self, g.face, c.i, c.j + 1, reliefs[2]);
            let h11 = src.height_given_relief(self, g.face, c.i + 1, c.j + 1, reliefs[3]);
            let h = bilerp(h00, h10, h01, h11, c.tx, c.ty);
            return self.column(p, r, h, g, src);
        }
        let h = self.height_at(g, src);
        self.column(p, r, h, g, src)
    }

    /// [`Model::classify`] of a voxel whose terrain height is known to lie in `bounds` (the
    /// extremes of the fine nodes under its box): the radius alone decides most voxels of a box
    /// the surface crosses (those above its highest or below its lowest node, and those whose
    /// depth range is sediment), so only the rest look up their height. The same answer as
    /// `classify`: [`Model::decide_bounds`]'s tests imply `column`'s answer for every height in
    /// `bounds`.
    #[inline(always)]
    pub fn classify_within<S: Source>(
        &self,
        p: [i64; 3],
        r: f64,
        bounds: (f64, f64),
        box_ice_free: bool,
        src: &mut S,
    ) -> MaterialId {
        if r > self.air_r {
            return AIR;
        }
        if r < self.mantle_floor {
            return self.deep(r);
        }
        let pos = |m: &Self| m.grid.pos([p[0] as f64, p[1] as f64, p[2] as f64]);
        let ice_free = box_ice_free || self.ice_free(p[1].unsigned_abs() as f64, r);
        match self.decide_bounds(r, r, bounds, ice_free) {
            Some(Bounded::Air) => AIR,
            Some(Bounded::Water) => WATER,
            Some(Bounded::Sediment) => SEDIMENT,
            Some(Bounded::Rock) => self.rock(r, pos(self), src),
            None => {
                let g = pos(self);
                let h = self.height_at(g, src);
                self.column(p, r, h, g, src)
            }
        }
    }

    /// What the height bounds `lo..=hi` decide for every voxel with radius in `r_min..=r_max`
    /// (`ice_free`: none of them is in the polar zone, see [`Model::ice_free`]). Each test
    /// implies the answer of `column` for every such height and voxel (all steps are monotone in
    /// the height and the radius), so these are shortcuts, not approximations.
    #[inline]
    pub fn decide_bounds(&self, r_min: f64, r_max: f64, (lo, hi): (f64, f64), ice_free: bool) -> Option<Bounded> {
        let above = r_min > self.radius + hi;
        if r_min > self.sea_r && (r_min > (self.radius + hi) + self.ice_cap || (ice_free && above)) {
            Some(Bounded::Air)
        } else if (self.radius + lo) - r_max >= self.thick {
            Some(Bounded::Rock)
        } else if (self.radius + lo) - r_max >= self.soil && (self.radius + hi) - r_min < self.thick {
            // Every depth lies in `soil..thick`: `column`'s sediment, whatever the altitude.
            Some(Bounded::Sediment)
        } else if above && (r_max <= self.sea_ice_r || (ice_free && r_max <= self.sea_r)) {
            Some(Bounded::Water)
        } else {
            None
        }
    }

    /// Whether no voxel with `|y| <= y_abs_max` and radius `>= r_min` is in the polar zone (the
    /// first test of `polar`, with monotone steps).
    #[inline]
    pub fn ice_free(&self, y_abs_max: f64, r_min: f64) -> bool {
        y_abs_max / r_min < self.polar_lo
    }

    #[inline]
    fn decide<S: Source>(
        &self,
        p: [i64; 3],
        r: f64,
        bounds: (f64, f64),
        g: GridPos,
        src: &mut S,
    ) -> Option<MaterialId> {
        match self.decide_bounds(r, r, bounds, self.ice_free(p[1].unsigned_abs() as f64, r))? {
            Bounded::Air => Some(AIR),
            Bounded::Water => Some(WATER),
            Bounded::Rock => Some(self.rock(r, g, src)),
            Bounded::Sediment => Some(SEDIMENT),
        }
    }

    /// Bounds of the height at `g` from the relief at its four fine nodes (no fine noise), and
    /// those reliefs (fine cell corners in [`Model::height_at`]'s order).
    fn fine_cell_bounds<S: Source>(&self, g: GridPos, src: &mut S) -> ((f64, f64), [Relief; 4]) {
        let c = self.grid.fine_cell(g);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut reliefs = [Relief { land: 0.0, mask: 0.0, ridge: 0.0 }; 4];
        // The four nodes usually share one coarse cell: fetch its corners once.
        let mut corners: Option<(u32, u32, [CoarseNode; 4])> = None;
        for (k, (i, j)) in [(c.i, c.j), (c.i + 1, c.j), (c.i, c.j + 1), (c.i + 1, c.j + 1)].into_iter().enumerate() {
            let cell = self.grid.coarse_cell_of_node(i, j);
            let n = match corners {
                Some((ci, cj, n)) if (ci, cj) == (cell.i, cell.j) => n,
                _ => {
                    let n = self.coarse_corners(g.face, cell, src);
                    corners = Some((cell.i, cell.j, n));
                    n
                }
            };
            let relief = Self::relief_in(cell, n);
            lo = lo.min(self.fields.height_lo(relief));
            hi = hi.max(self.fields.height_hi(relief));
            reliefs[k] = relief;
        }
        ((lo, hi), reliefs)
    }

    /// The material [`Model::rock`] gives every voxel of a box with radii `r_min..=r_max`
    /// whose coarse fields lie within `c` (the ranges of the corners of the coarse cells under
    /// it), when it is one material; `None` when it may differ (or the bounds cannot tell).
    ///
    /// Each test of `rock` is a chain of correctly rounded operations, monotone in the radius
    /// and in each interpolated field, so evaluating it at the ends of the ranges bounds its
    /// value for every voxel; an interpolated field is a weighted sum of its corners, within
    /// their range up to rounding, which [`ROCK_MARGIN`] absorbs. So a decided box never lies.
    pub fn rock_box(&self, r_min: f64, r_max: f64, c: &CoarseRanges) -> Option<MaterialId> {
        const M: f64 = ROCK_MARGIN;
        let u = self.crust_undulation;
        let (deep_lo, deep_hi) = (c.deep.0 - M, c.deep.1 + M);
        // `r < moho`, `moho = moho_r + u·deep`.
        let moho = |deep: f64| self.moho_r + u * deep;
        if r_max < moho(deep_lo) {
            return (self.deep(r_min) == self.deep(r_max)).then(|| self.deep(r_min));
        }
        if r_min < moho(deep_hi) {
            return None;
        }
        // Basalt: `r < moho + lower_crust`, or `land < ocean_crust(r)` (decreasing in `r`).
        let ocean_crust = |r: f64| OCEAN_CRUST + OCEAN_CRUST_LEAN * ((self.radius - r) * self.inv_crust_depth);
        let lower_all = r_max < moho(deep_lo) + self.lower_crust;
        let lower_none = r_min >= moho(deep_hi) + self.lower_crust;
        let ocean_all = c.land.1 + M < ocean_crust(r_max);
        let ocean_none = c.land.0 - M >= ocean_crust(r_min);
        if lower_all || ocean_all {
            return Some(BASALT);
        }
        if !(lower_none && ocean_none) {
            return None;
        }
        // Granite: `alt < granite_alt + u·deep`.
        let (alt_lo, alt_hi) = (r_min - self.radius, r_max - self.radius);
        if alt_hi < self.granite_alt + u * deep_lo {
            return Some(GRANITE);
        }
        if alt_lo < self.granite_alt + u * deep_hi {
            return None;
        }
        // The strata band: `floor((alt + fold_amp·fold) / stratum)`.
        let band = |alt: f64, fold: f64| floor_i64((alt + self.fold_amp * fold) / self.stratum);
        let (lo, hi) = (band(alt_lo, c.fold.0 - M), band(alt_hi, c.fold.1 + M));
        (lo == hi).then_some(if lo & 1 == 0 { SANDSTONE } else { LIMESTONE })
    }

    /// Voxels that are rock whatever the surface height (the caller proved `depth >= thick`).
    #[inline]
    pub fn classify_rock<S: Source>(&self, p: [i64; 3], r: f64, src: &mut S) -> MaterialId {
        if r < self.mantle_floor {
            return self.deep(r);
        }
        let g = self.grid.pos([p[0] as f64, p[1] as f64, p[2] as f64]);
        self.rock(r, g, src)
    }

    /// Above the ground: sea, ice and air; below: soil, sediment, then rock.
    #[inline]
    fn column<S: Source>(&self, p: [i64; 3], r: f64, h: f64, g: GridPos, src: &mut S) -> MaterialId {
        let s = self.radius + h;
        if r > s {
            return if r <= self.sea_r {
                if r > self.sea_ice_r && self.polar(p, r, g, src) { ICE } else { WATER }
            } else if s > self.sea_r && r <= s + self.ice_cap && self.polar(p, r, g, src) {
                ICE
            } else {
                AIR
            };
        }
        let depth = s - r;
        if depth >= self.thick {
            return self.rock(r, g, src);
        }
        if depth >= self.soil {
            return SEDIMENT;
        }
        let alt = s - self.sea_r;
        if alt < -self.beach_depth {
            SEDIMENT
        } else if alt < self.beach_height {
            SAND
        } else if depth >= TOP_THICKNESS * max_abs(p) as f64 / r {
            DIRT
        } else if alt > self.snow_alt * (1.0 - p[1].unsigned_abs() as f64 / r) || self.polar(p, r, g, src) {
            SNOW
        } else {
            GRASS
        }
    }

    /// Whether `p` lies in the polar ice zone: `sin(lat)` above the polar threshold, which the
    /// coarse `ice` field moves by ±`polar_jitter`.
    #[inline]
    fn polar<S: Source>(&self, p: [i64; 3], r: f64, g: GridPos, src: &mut S) -> bool {
        let lat_sin = p[1].unsigned_abs() as f64 / r;
        if lat_sin < self.polar_lo {
            false
        } else if lat_sin >= self.polar_hi {
            true
        } else {
            lat_sin >= self.polar_sin + self.polar_jitter * self.coarse_at(g, src).get(|n| n.ice)
        }
    }

    /// Rock at radius `r`: mantle below the (undulating) crust base, basalt in the lower crust and
    /// under the oceans, granite, then alternating sandstone / limestone bands up to the surface.
    #[inline]
    fn rock<S: Source>(&self, r: f64, g: GridPos, src: &mut S) -> MaterialId {
        let c = self.coarse_at(g, src);
        let deep = c.get(|n| n.deep);
        let moho = self.moho_r + self.crust_undulation * deep;
        if r < moho {
            return self.deep(r);
        }
        // The oceanic crust boundary leans under the continents with depth.
        let ocean_crust = OCEAN_CRUST + OCEAN_CRUST_LEAN * ((self.radius - r) * self.inv_crust_depth);
        if r < moho + self.lower_crust || c.get(|n| n.land) < ocean_crust {
            return BASALT;
        }
        let alt = r - self.radius;
        if alt < self.granite_alt + self.crust_undulation * deep {
            return GRANITE;
        }
        let band = floor_i64((alt + self.fold_amp * c.get(|n| n.fold)) / self.stratum);
        if band & 1 == 0 { SANDSTONE } else { LIMESTONE }
    }
}

fn max_abs(p: [i64; 3]) -> u64 {
    p[0].unsigned_abs().max(p[1].unsigned_abs()).max(p[2].unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radius_range_bounds_every_voxel() {
        for (lo, hi) in [([-3i64, 5, -40], [4i64, 9, -33]), ([10, 10, 10], [41, 41, 41]), ([-2, -2, -2], [2, 2, 2])] {
            let (rmin, rmax) = radius_range(lo, hi);
            let mut seen = (f64::INFINITY, f64::NEG_INFINITY);
            for x in lo[0]..=hi[0] {
                for y in lo[1]..=hi[1] {
                    for z in lo[2]..=hi[2] {
                        let r = radius_of([x, y, z]);
                        seen = (seen.0.min(r), seen.1.max(r));
                    }
                }
            }
            assert_eq!((rmin, rmax), seen);
        }
        let m = i32::MIN as i64;
        assert_eq!(radius_range([m; 3], [m; 3]).0, radius_of([m; 3]));
    }

    #[test]
    fn layers_nest() {
        let m = Model::new(&PlanetConfig::default());
        assert!(m.inner_core_r < m.outer_core_r);
        assert!(m.outer_core_r < m.mantle_floor);
        assert!(m.mantle_floor < m.rock_ceiling);
        assert!(m.rock_ceiling < m.sea_r && m.sea_r < m.air_r);
        assert_eq!(m.deep(0.0), CORE);
        assert_eq!(m.deep(m.outer_core_r - 1.0), MAGMA);
        assert_eq!(m.deep(m.mantle_floor - 1.0), MANTLE);
    }
}
