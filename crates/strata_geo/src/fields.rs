//! The noise fields of the planet, evaluated at grid-node directions.
//!
//! Every field is clamped to its documented range, so the bounds the generator derives from them
//! are exact, whatever the noise library returns.

use crate::config::PlanetConfig;
use crate::perlin::{FbmNoise, RidgedNoise};

/// The slowly varying fields, sampled on the coarse grid.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct CoarseNode {
    /// Continent signal in `-1..=1` (domain-warped fbm plus the bias): ≥ 0 is land.
    pub land: f64,
    /// Mountain-range mask in `0..=1` (belts along the zero lines of an fbm, on land only).
    pub mask: f64,
    /// The low octaves of the mountain ridges (ridged multifractal), squared, in `0..=1`.
    pub ridge: f64,
    /// Sandstone / limestone band undulation in `-1..=1`.
    pub fold: f64,
    /// Granite-top and crust-base undulation in `-1..=1`.
    pub deep: f64,
    /// Polar ice edge jitter in `-1..=1`.
    pub ice: f64,
}

/// The coarse values the height needs, interpolated at a fine node (or their bounds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Relief {
    pub land: f64,
    pub mask: f64,
    pub ridge: f64,
}

/// Share of the mountain height carried by the fine ridge octaves: the fine grid moves a
/// mountain by at most this fraction of its coarse ridge height.
const RIDGE_DETAIL: f64 = 0.3;
/// `1 - RIDGE_DETAIL`, the part of the coarse ridge height always present.
const RIDGE_BASE: f64 = 1.0 - RIDGE_DETAIL;
// `height_hi` bounds the ridge factor `RIDGE_BASE + RIDGE_DETAIL·detail` (detail ≤ 1) by 1.
const _: () = assert!(RIDGE_BASE + RIDGE_DETAIL * 1.0 <= 1.0);

/// Continental-shelf width and slope width, in continent-signal units.
const SHELF_W: f64 = 0.06;
const SLOPE_W: f64 = 0.2;

/// Noise generators and the scales that turn a unit direction into noise coordinates.
pub(crate) struct Fields {
    warp: [FbmNoise; 3],
    continent: FbmNoise,
    belt: FbmNoise,
    fold: FbmNoise,
    deep: FbmNoise,
    ice: FbmNoise,
    ridges_lo: RidgedNoise,
    ridges_hi: RidgedNoise,
    hills: FbmNoise,
    continent_scale: f64,
    belt_scale: f64,
    fold_scale: f64,
    deep_scale: f64,
    ridge_scale: f64,
    hill_scale: f64,
    bias: f64,
    continent_height: f64,
    ocean_depth: f64,
    shelf_depth: f64,
    mountain: f64,
    hill: f64,
}

/// The noise crate's `Fbm<Perlin>` of `seed` (octave `i` seeded `seed + i`, wrapping) at
/// frequency 1, bit for bit ([`FbmNoise`]).
fn fbm(seed: u32, octaves: usize) -> FbmNoise {
    FbmNoise::new(seed, octaves, 1.0)
}

/// The noise crate's `RidgedMulti<Perlin>` of `seed` at `frequency`, bit for bit
/// ([`RidgedNoise`]).
fn ridged(seed: u32, octaves: usize, frequency: f64) -> RidgedNoise {
    RidgedNoise::new(seed, octaves, frequency)
}

fn scale(v: [f64; 3], s: f64) -> [f64; 3] {
    [v[0] * s, v[1] * s, v[2] * s]
}

/// A noise value in about `-1..=1` mapped onto `0..=1` (clamped).
fn unit01(v: f64) -> f64 {
    ((v + 1.0) * 0.5).clamp(0.0, 1.0)
}

/// Smoothstep of `x` over `a..b`, in `0..=1`.
fn smooth(x: f64, a: f64, b: f64) -> f64 {
    let t = ((x - a) / (b - a)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

impl Fields {
    pub fn new(c: &PlanetConfig) -> Self {
        // Distinct, fixed seed offsets per field (odd multiples of the golden ratio constant).
        let s = |k: u32| c.seed.wrapping_add(k.wrapping_mul(0x9E37_79B9));
        let r = c.radius as f64;
        Self {
            warp: [fbm(s(1), 2), fbm(s(2), 2), fbm(s(3), 2)],
            continent: fbm(s(4), 5),
            belt: fbm(s(5), 3),
            fold: fbm(s(6), 2),
            deep: fbm(s(7), 2),
            ice: fbm(s(8), 2),
            ridges_lo: ridged(s(9), 3, 1.0),
            ridges_hi: ridged(s(11), 4, 8.0),
            hills: fbm(s(10), 4),
            continent_scale: r / c.continent_wavelength,
            belt_scale: r / (c.mountain_wavelength * 8.0),
            fold_scale: r / (c.mountain_wavelength * 0.5),
            deep_scale: r / c.mountain_wavelength,
            ridge_scale: r / c.mountain_wavelength,
            hill_scale: r / c.hill_wavelength,
            bias: c.continent_bias,
            continent_height: c.continent_height,
            ocean_depth: c.ocean_depth,
            shelf_depth: c.shelf_depth,
            mountain: c.max_mountain_height,
            hill: c.hill_height,
        }
    }

    /// The coarse fields at unit direction `d`.
    pub fn coarse(&self, d: [f64; 3]) -> CoarseNode {
        let q = scale(d, self.continent_scale);
        let wq = scale(d, self.continent_scale * 1.7);
        let warp = [self.warp[0].get3(wq), self.warp[1].get3(wq), self.warp[2].get3(wq)];
        let qw = [q[0] + 0.8 * warp[0], q[1] + 0.8 * warp[1], q[2] + 0.8 * warp[2]];
        let land = (self.continent.get3(qw) * 1.6 + self.bias).clamp(-1.0, 1.0);
        // Ranges follow the zero lines of a smooth field, on land away from the coast.
        let belt = 1.0 - self.belt.get3(scale(d, self.belt_scale)).abs() * 5.0;
        let mask = (smooth(belt, 0.2, 0.7) * smooth(land, 0.02, 0.2)).clamp(0.0, 1.0);
        let unit = |v: f64| (v * 1.8).clamp(-1.0, 1.0);
        let ridge = if mask > 0.0 { unit01(self.ridges_lo.get3(scale(d, self.ridge_scale))) } else { 0.0 };
        CoarseNode {
            land,
            mask,
            ridge: ridge * ridge,
            fold: unit(self.fold.get3(scale(d, self.fold_scale))),
            deep: unit(self.deep.get3(scale(d, self.deep_scale))),
            ice: unit(self.ice.get3(scale(d, self.deep_scale * 0.5))),
        }
    }

    /// Mean terrain height of continent signal `land`: a piecewise-linear profile (coastal plain,
    /// shelf, slope, abyssal plain). Built from monotone floating-point steps only, so it is
    /// non-decreasing in `land` bit for bit — the height bounds rely on it.
    pub fn base(&self, land: f64) -> f64 {
        if land >= 0.0 {
            self.continent_height * land.min(1.0)
        } else {
            let shelf = (-land / SHELF_W).min(1.0);
            let slope = ((-land - SHELF_W) / SLOPE_W).clamp(0.0, 1.0);
            -(self.shelf_depth * shelf) - (self.ocean_depth - self.shelf_depth) * slope
        }
    }

    /// The three terms of the height, summed in one fixed order: bounds built with
    /// [`Fields::height_lo`] / [`Fields::height_hi`] dominate it bit for bit, because every
    /// step is monotone.
    #[inline]
    fn compose(base: f64, ridge_term: f64, hill_term: f64) -> f64 {
        (base + ridge_term) + hill_term
    }

    /// The terrain height (relative to the reference radius) at unit direction `d`, given the
    /// coarse relief interpolated there: `base(land) + mask·max_mountain·ridge·(RIDGE_BASE +
    /// RIDGE_DETAIL·fine_ridge) + hill·hills`. The fine ridge octaves are skipped where the
    /// mountain term is 0 anyway.
    pub fn height(&self, d: [f64; 3], r: Relief) -> f64 {
        let detail =
            if r.mask > 0.0 && r.ridge > 0.0 { unit01(self.ridges_hi.get3(scale(d, self.ridge_scale))) } else { 0.0 };
        let hills = self.hills.get3(scale(d, self.hill_scale)).clamp(-1.0, 1.0);
        Self::compose(
            self.base(r.land),
            (r.mask * self.mountain) * (r.ridge * (RIDGE_BASE + RIDGE_DETAIL * detail)),
            self.hill * hills,
        )
    }

    /// A lower bound of [`Fields::height`] for every relief whose fields are all `>=` those of
    /// `min`.
    pub fn height_lo(&self, min: Relief) -> f64 {
        Self::compose(self.base(min.land), (min.mask * self.mountain) * (min.ridge * RIDGE_BASE), -self.hill)
    }

    /// An upper bound of [`Fields::height`] for every relief whose fields are all `<=` those of
    /// `max`.
    pub fn height_hi(&self, max: Relief) -> f64 {
        Self::compose(self.base(max.land), (max.mask * self.mountain) * (max.ridge * 1.0), self.hill * 1.0)
    }

    /// The lowest height any direction can have.
    pub fn global_min(&self) -> f64 {
        self.height_lo(Relief { land: -1.0, mask: 0.0, ridge: 0.0 })
    }

    /// The highest height any direction can have.
    pub fn global_max(&self) -> f64 {
        self.height_hi(Relief { land: 1.0, mask: 1.0, ridge: 1.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use noise::{Fbm, MultiFractal, NoiseFn, Perlin, RidgedMulti};

    /// The octave sources are built by hand (to wrap seeds): same noise as the crate's own
    /// constructors, so planets keep their shape; and seeds whose octaves pass `u32::MAX` (a
    /// planet seed whose first field's seed is `u32::MAX`) no longer overflow.
    #[test]
    fn octave_sources_match_the_noise_crate_and_wrap() {
        for seed in [0, 3, 0x9E37_79B9] {
            let ours = fbm(seed, 4);
            let theirs = Fbm::<Perlin>::new(seed).set_octaves(4).set_frequency(1.0);
            let r = ridged(seed, 3, 8.0);
            let rt = RidgedMulti::<Perlin>::new(seed).set_octaves(3).set_frequency(8.0);
            for p in [[0.1, 0.2, 0.3], [5.5, -2.25, 9.0], [-100.0, 0.5, 7.75]] {
                assert_eq!(ours.get3(p), theirs.get(p));
                assert_eq!(r.get3(p), rt.get(p));
            }
        }
        let near_max = fbm(u32::MAX - 1, 5);
        assert!(near_max.get3([0.3, 0.2, 0.1]).is_finite());
        let f = Fields::new(&PlanetConfig { seed: u32::MAX.wrapping_sub(0x9E37_79B9), ..PlanetConfig::default() });
        assert!(f.continent.get3([0.3, 0.2, 0.1]).is_finite());
    }

    #[test]
    fn base_is_monotone_and_bounded() {
        let f = Fields::new(&PlanetConfig::default());
        let mut prev = f64::NEG_INFINITY;
        for k in -10_000..=10_000 {
            let land = k as f64 / 10_000.0;
            let b = f.base(land);
            assert!(b >= prev, "{land}");
            prev = b;
        }
        assert_eq!(f.base(-1.0), -320.0);
        assert_eq!(f.base(1.0), 96.0);
        assert_eq!(f.base(0.0), 0.0);
    }

    #[test]
    fn height_lies_within_its_bounds() {
        let f = Fields::new(&PlanetConfig::default());
        for k in 0..2000u32 {
            let t = k as f64 * 0.618_033_988_75;
            let d0 = [t.sin() * t.cos(), t.cos(), (t * 1.3).sin()];
            let len = (d0[0] * d0[0] + d0[1] * d0[1] + d0[2] * d0[2]).sqrt();
            let d = scale(d0, 1.0 / len);
            let c = f.coarse(d);
            assert!((-1.0..=1.0).contains(&c.land) && (0.0..=1.0).contains(&c.mask));
            assert!((0.0..=1.0).contains(&c.ridge));
            let r = Relief { land: c.land, mask: c.mask, ridge: c.ridge };
            let h = f.height(d, r);
            assert!(f.height_lo(r) <= h && h <= f.height_hi(r));
            assert!(f.global_min() <= h && h <= f.global_max());
        }
    }
}
