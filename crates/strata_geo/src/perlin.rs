//! Perlin noise and its fractal sums, bit for bit those of the `noise` crate (0.9): the same
//! permutation tables, corner rule, gradients, quintic fade, interpolation order and octave
//! sums, so every terrain keeps its ground. Only the evaluation differs: the 8 (3D) or 4 (2D)
//! corner hashes share their first lookups and each gradient is a branch-free select and sign
//! flip instead of a 16-way branch, which the corners' random hashes made unpredictable. About
//! 1.5 times faster per octave (≈ 25 ns, was ≈ 38 ns here).
//!
//! The property tests below compare every function with the crate's own, bit for bit, over
//! seeds, octave counts and points that reach the corner rule's edge cases (integers, ±0,
//! negative coordinates, large values).
//!
//! Like the crate, a sample needs finite coordinates `|v| < 2⁶³` (callers keep them far
//! smaller); unlike it, a coordinate out of that range or NaN gives some value (NaN for NaN)
//! instead of a panic.

use noise::permutationtable::{NoiseHasher, PermutationTable};

/// The lacunarity of the crate's `Fbm` and `RidgedMulti` (their default).
const LACUNARITY: f64 = std::f64::consts::PI * 2.0 / 3.0;
/// The persistence of the crate's `Fbm` (its default).
const FBM_PERSISTENCE: f64 = 0.5;
/// The persistence and attenuation of the crate's `RidgedMulti` (its defaults).
const RIDGED_PERSISTENCE: f64 = 1.0;
const RIDGED_ATTENUATION: f64 = 2.0;

/// One octave's permutation: `noise::Perlin::new(seed)`'s table.
#[derive(Clone, Debug)]
struct Perm {
    table: [u8; 256],
}

impl Perm {
    fn new(seed: u32) -> Self {
        let t = PermutationTable::new(seed);
        // The hash of a single coordinate is the table's entry at it.
        Self { table: std::array::from_fn(|i| t.hash(&[i as isize]) as u8) }
    }

    #[inline(always)]
    fn at(&self, i: u8) -> u8 {
        self.table[i as usize]
    }
}

/// The crate's cell corner (`floor_to_isize`): truncation, minus one for values `<= 0`
/// (so `-0.0`, `0.0` and negative integers land one cell lower than `floor`).
#[inline(always)]
fn corner(v: f64) -> i64 {
    let t = v as i64;
    if v <= 0.0 { t.wrapping_sub(1) } else { t }
}

/// The crate's quintic fade, its input clamped to `0..=1`.
#[inline(always)]
fn fade(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * x * (x * (x * 6.0 - 15.0) + 10.0)
}

/// The crate's `linear`: `b·t + a·(1 − t)`.
#[inline(always)]
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    b * t + a * (1.0 - t)
}

/// The crate's 3D gradient of each `hash & 15`, `±d.a ± d.b`, as a code: bit 0 set: the
/// first term is `y` (else `x`); bit 1: the second is `z` (else `y`); bits 2 and 3 negate the
/// first and the second. Hashes 12–15 repeat gradients 0, 1, 9 and 11.
#[rustfmt::skip]
const CODE: [u8; 16] = [
    0b0000, 0b0100, 0b1000, 0b1100, // x + y, -x + y, x - y, -x - y
    0b0010, 0b0110, 0b1010, 0b1110, // x + z, -x + z, x - z, -x - z
    0b0011, 0b0111, 0b1011, 0b1111, // y + z, -y + z, y - z, -y - z
    0b0000, 0b0100, 0b0111, 0b1111, // x + y, -x + y, -y + z, -y - z
];

/// The gradient of hash `h` dotted with `d`, without a branch on the (random) hash: negation
/// is a sign-bit flip, exactly IEEE negation, so `-a + b` and `a - b = a + (-b)` come out bit for
/// bit as the crate computes them.
#[inline(always)]
fn grad3(h: u8, d: [f64; 3]) -> f64 {
    let c = CODE[(h & 15) as usize];
    let first = if c & 1 != 0 { d[1] } else { d[0] };
    let second = if c & 2 != 0 { d[2] } else { d[1] };
    let first = f64::from_bits(first.to_bits() ^ (u64::from(c >> 2 & 1) << 63));
    let second = f64::from_bits(second.to_bits() ^ (u64::from(c >> 3 & 1) << 63));
    first + second
}

/// `noise::Perlin::get([x, y, z])` with `perm`'s table.
#[inline(always)]
fn perlin3(perm: &Perm, p: [f64; 3]) -> f64 {
    // 2 / sqrt(3), the crate's constant.
    const SCALE: f64 = 1.154_700_538_379_251_5;
    let c = p.map(corner);
    let d = [p[0] - c[0] as f64, p[1] - c[1] as f64, p[2] - c[2] as f64];
    // The crate hashes `[x, y, z]` as `P[P[P[x & 255] ^ (y & 255)] ^ (z & 255)]`.
    let [x0, y0, z0] = c.map(|v| v as u8);
    let (x1, y1, z1) = (x0.wrapping_add(1), y0.wrapping_add(1), z0.wrapping_add(1));
    let (px0, px1) = (perm.at(x0), perm.at(x1));
    let (p00, p01, p10, p11) = (perm.at(px0 ^ y0), perm.at(px0 ^ y1), perm.at(px1 ^ y0), perm.at(px1 ^ y1));
    let [dx, dy, dz] = d;
    let (ex, ey, ez) = (dx - 1.0, dy - 1.0, dz - 1.0);
    let g000 = grad3(perm.at(p00 ^ z0), [dx, dy, dz]);
    let g100 = grad3(perm.at(p10 ^ z0), [ex, dy, dz]);
    let g010 = grad3(perm.at(p01 ^ z0), [dx, ey, dz]);
    let g110 = grad3(perm.at(p11 ^ z0), [ex, ey, dz]);
    let g001 = grad3(perm.at(p00 ^ z1), [dx, dy, ez]);
    let g101 = grad3(perm.at(p10 ^ z1), [ex, dy, ez]);
    let g011 = grad3(perm.at(p01 ^ z1), [dx, ey, ez]);
    let g111 = grad3(perm.at(p11 ^ z1), [ex, ey, ez]);
    let (cx, cy, cz) = (fade(dx), fade(dy), fade(dz));
    let result = lerp(
        lerp(lerp(g000, g001, cz), lerp(g010, g011, cz), cy),
        lerp(lerp(g100, g101, cz), lerp(g110, g111, cz), cy),
        cx,
    ) * SCALE;
    result.clamp(-1.0, 1.0)
}

/// The crate's 2D gradients by `hash & 3`: `±x ± y`, bit 0 negating `x`, bit 1 `y`.
const SIGN2_X: [f64; 4] = [1., -1., 1., -1.];
const SIGN2_Y: [f64; 4] = [1., 1., -1., -1.];

#[inline(always)]
fn grad2(h: u8, x: f64, y: f64) -> f64 {
    let h = (h & 3) as usize;
    x * SIGN2_X[h] + y * SIGN2_Y[h]
}

/// `noise::Perlin::get([x, y])` with `perm`'s table.
#[inline(always)]
fn perlin2(perm: &Perm, p: [f64; 2]) -> f64 {
    const SCALE: f64 = 2.0 / std::f64::consts::SQRT_2;
    let c = p.map(corner);
    let (dx, dy) = (p[0] - c[0] as f64, p[1] - c[1] as f64);
    let [x0, y0] = c.map(|v| v as u8);
    let (x1, y1) = (x0.wrapping_add(1), y0.wrapping_add(1));
    let (px0, px1) = (perm.at(x0), perm.at(x1));
    let (ex, ey) = (dx - 1.0, dy - 1.0);
    let g00 = grad2(perm.at(px0 ^ y0), dx, dy);
    let g10 = grad2(perm.at(px1 ^ y0), ex, dy);
    let g01 = grad2(perm.at(px0 ^ y1), dx, ey);
    let g11 = grad2(perm.at(px1 ^ y1), ex, ey);
    let result = lerp(lerp(g00, g01, fade(dy)), lerp(g10, g11, fade(dy)), fade(dx)) * SCALE;
    result.clamp(-1.0, 1.0)
}

/// Octave `i` seeded `seed + i`, wrapping (the crate adds unchecked, which panics for seeds
/// near `u32::MAX` in builds with overflow checks).
fn perms(seed: u32, octaves: usize) -> Box<[Perm]> {
    (0..octaves as u32).map(|i| Perm::new(seed.wrapping_add(i))).collect()
}

/// `noise::Fbm<Perlin>` with `octaves` octaves seeded from `seed`, at `frequency`, default
/// lacunarity and persistence.
#[derive(Clone, Debug)]
pub(crate) struct FbmNoise {
    perms: Box<[Perm]>,
    frequency: f64,
    scale: f64,
}

impl FbmNoise {
    /// `octaves` in `1..=32` (the crate's range; clamped).
    pub fn new(seed: u32, octaves: usize, frequency: f64) -> Self {
        let octaves = octaves.clamp(1, 32);
        // The crate's `calc_scale_factor`.
        let denom = (1..=octaves).fold(0.0, |acc, x| acc + FBM_PERSISTENCE.powi(x as i32));
        Self { perms: perms(seed, octaves), frequency, scale: 1.0 / denom }
    }

    /// The crate's `Fbm::get([x, y, z])`.
    #[inline]
    pub fn get3(&self, p: [f64; 3]) -> f64 {
        self.sum(p, perlin3)
    }

    /// The crate's `Fbm::get([x, y])`.
    #[inline]
    pub fn get2(&self, p: [f64; 2]) -> f64 {
        self.sum(p, perlin2)
    }

    /// The crate's fbm sum of `octave` (`perlin2` or `perlin3`) over the octaves.
    #[inline(always)]
    fn sum<const N: usize>(&self, p: [f64; N], octave: impl Fn(&Perm, [f64; N]) -> f64) -> f64 {
        let mut p = p.map(|v| v * self.frequency);
        let (mut result, mut attenuation) = (0.0, FBM_PERSISTENCE);
        for perm in self.perms.iter() {
            let signal = octave(perm, p) * attenuation;
            attenuation *= FBM_PERSISTENCE;
            result += signal;
            p = p.map(|v| v * LACUNARITY);
        }
        result * self.scale
    }
}

/// `noise::RidgedMulti<Perlin>` with `octaves` octaves seeded from `seed`, at `frequency`,
/// default lacunarity, persistence and attenuation.
#[derive(Clone, Debug)]
pub(crate) struct RidgedNoise {
    perms: Box<[Perm]>,
    frequency: f64,
    scale: f64,
}

impl RidgedNoise {
    /// `octaves` in `1..=32` (the crate's range; clamped).
    pub fn new(seed: u32, octaves: usize, frequency: f64) -> Self {
        let octaves = octaves.clamp(1, 32);
        // The crate's `calc_scale_factor`, step for step.
        let (mut amplitude, mut signal) = (1.0f64, 1.0f64);
        let mut denom = signal;
        denom += (1..=octaves).fold(0.0, |acc, x| {
            amplitude *= RIDGED_PERSISTENCE;
            let weight = (signal / RIDGED_ATTENUATION.powi(x as i32)).clamp(0.0, 1.0);
            signal = weight * amplitude;
            acc + signal
        });
        Self { perms: perms(seed, octaves), frequency, scale: 2.0 / denom }
    }

    /// The crate's `RidgedMulti::get([x, y, z])`.
    #[inline]
    pub fn get3(&self, p: [f64; 3]) -> f64 {
        let mut p = p.map(|v| v * self.frequency);
        let (mut result, mut weight, mut attenuation) = (0.0, 1.0, 1.0);
        for perm in self.perms.iter() {
            let mut signal = 1.0 - perlin3(perm, p).abs();
            signal *= signal;
            signal *= weight;
            weight = (signal / RIDGED_ATTENUATION).clamp(0.0, 1.0);
            signal *= attenuation;
            attenuation *= RIDGED_PERSISTENCE;
            result += signal;
            p = p.map(|v| v * LACUNARITY);
        }
        result * self.scale - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use noise::{Fbm, MultiFractal, NoiseFn, Perlin, RidgedMulti};
    use proptest::prelude::*;

    fn crate_fbm(seed: u32, octaves: usize, frequency: f64) -> Fbm<Perlin> {
        Fbm::<Perlin>::new(seed).set_octaves(octaves).set_frequency(frequency)
    }

    fn crate_ridged(seed: u32, octaves: usize, frequency: f64) -> RidgedMulti<Perlin> {
        RidgedMulti::<Perlin>::new(seed).set_octaves(octaves).set_frequency(frequency)
    }

    /// A coordinate: anywhere, or on and around the corner rule's edges (integers, ±0).
    fn coord() -> impl Strategy<Value = f64> {
        prop_oneof![
            -1e4f64..1e4,
            -1e9f64..1e9,
            (-300i32..300).prop_map(f64::from),
            (-300i32..300, -3i32..=3).prop_map(|(k, e)| f64::from(k) + f64::from(e) * f64::EPSILON * 64.0),
            Just(0.0),
            Just(-0.0),
            -1.0f64..1.0,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn perlin_matches_the_noise_crate_bit_for_bit(seed in any::<u32>(), x in coord(), y in coord(), z in coord()) {
            let (ours, theirs) = (Perm::new(seed), Perlin::new(seed));
            prop_assert_eq!(perlin3(&ours, [x, y, z]).to_bits(), theirs.get([x, y, z]).to_bits());
            prop_assert_eq!(perlin2(&ours, [x, y]).to_bits(), theirs.get([x, y]).to_bits());
        }

        #[test]
        fn fractals_match_the_noise_crate_bit_for_bit(
            seed in 0u32..u32::MAX - 16,
            octaves in 1usize..=12,
            frequency in prop_oneof![Just(1.0), Just(8.0), 1e-4f64..10.0],
            x in coord(), y in coord(), z in coord(),
        ) {
            let fbm = FbmNoise::new(seed, octaves, frequency);
            let theirs = crate_fbm(seed, octaves, frequency);
            prop_assert_eq!(fbm.get3([x, y, z]).to_bits(), theirs.get([x, y, z]).to_bits());
            prop_assert_eq!(fbm.get2([x, y]).to_bits(), theirs.get([x, y]).to_bits());
            let ridged = RidgedNoise::new(seed, octaves, frequency);
            prop_assert_eq!(ridged.get3([x, y, z]).to_bits(), crate_ridged(seed, octaves, frequency).get([x, y, z]).to_bits());
        }
    }

    /// The edges the random points may miss: every integer of a few cells around 0 on each
    /// axis, and the wrap of the 256-entry table.
    #[test]
    fn perlin_matches_the_noise_crate_on_every_lattice_edge() {
        let (ours, theirs) = (Perm::new(7), Perlin::new(7));
        for x in -260..=260 {
            for (y, z) in [(0.0, -0.0), (-1.0, 255.5), (256.0, -256.25), (0.5, 1e-300)] {
                let p = [f64::from(x), y, z];
                assert_eq!(perlin3(&ours, p).to_bits(), theirs.get(p).to_bits(), "{p:?}");
                assert_eq!(perlin2(&ours, [p[0], y]).to_bits(), theirs.get([p[0], y]).to_bits(), "{p:?}");
                let q = [z, f64::from(x) * 0.5, y];
                assert_eq!(perlin3(&ours, q).to_bits(), theirs.get(q).to_bits(), "{q:?}");
            }
        }
    }

    /// Seeds whose octaves pass `u32::MAX` wrap instead of overflowing.
    #[test]
    fn seeds_near_the_top_wrap() {
        let f = FbmNoise::new(u32::MAX - 1, 5, 1.0);
        assert!(f.get3([0.3, 0.2, 0.1]).is_finite());
        let r = RidgedNoise::new(u32::MAX, 4, 8.0);
        assert!(r.get3([0.3, 0.2, 0.1]).is_finite());
        // Octave 2 of seed u32::MAX - 1 is seed 0's first octave.
        assert_eq!(Perm::new((u32::MAX - 1).wrapping_add(2)).table, Perm::new(0).table);
    }

    /// Out-of-range coordinates (the crate panics on them) give values, finite where the
    /// coordinates are.
    #[test]
    fn wild_coordinates_do_not_panic() {
        let f = FbmNoise::new(1, 3, 1.0);
        let r = RidgedNoise::new(1, 3, 1.0);
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1e300, 1e19, -9.3e18] {
            let values = [f.get3([v, 0.5, 0.5]), f.get2([0.5, v]), r.get3([0.5, 0.5, v])];
            if v.is_finite() {
                assert!(values.iter().all(|x| x.is_finite()), "{v}: {values:?}");
            }
        }
    }
}
