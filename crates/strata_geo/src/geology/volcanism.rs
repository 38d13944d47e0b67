//! Volcanism: magma extrudes at vents, flows like a viscous fluid and cools to basalt.

use super::blocks::BlockRule;
use super::process::{
    GeoProcess, GeologyError, Gravity, MaterialTable, ProcessKind, StepContext, hash, mix, p64, step_checked, unit,
};
use super::region::{RegionSnapshot, VoxelBox, VoxelWrite};
use crate::ids;
use strata_core::VoxelPos;

/// Configuration of [`Volcanism`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct VolcanismConfig {
    /// Side of the coarse cells (in the plane across gravity) that hold at most one vent (≥ 4).
    pub vent_spacing: u32,
    /// Chance (`0..=1`) that a coarse cell holds a vent.
    pub vent_chance: f32,
    /// Steps per eruption period (≥ 1); a vent is active or dormant for a whole period.
    pub eruption_period: u64,
    /// Chance (`0..=1`) that a vent is active in a period.
    pub active_chance: f32,
    /// Chance per step (`0..=1`) that resting magma slides diagonally down a slope steeper than
    /// 45° (its viscosity: lower is more viscous).
    pub flow_chance: f32,
    /// Chance per step (`0..=1`) that a magma voxel cools to basalt (mean life `1 / chance`).
    pub cooling_chance: f32,
}

impl Default for VolcanismConfig {
    fn default() -> Self {
        Self {
            vent_spacing: 64,
            vent_chance: 0.25,
            eruption_period: 32,
            active_chance: 0.5,
            flow_chance: 0.5,
            cooling_chance: 0.05,
        }
    }
}

/// Volcanism (extrusion at vents + a Margolus flow rule + cooling, see the [module docs](super)).
#[derive(Clone, Debug)]
pub struct Volcanism {
    config: VolcanismConfig,
    loose: MaterialTable<f32>,
    empty: MaterialTable<bool>,
}

impl Default for Volcanism {
    fn default() -> Self {
        // Invariant: the default config is valid.
        Self::new(VolcanismConfig::default()).unwrap_or_else(|_| unreachable!("default config is valid"))
    }
}

/// Vents' hash salt (distinct from the per-step salts).
const VENT_SALT: u64 = 0x7665_6E74;

impl Volcanism {
    /// A process with `config`.
    ///
    /// # Errors
    /// [`GeologyError::InvalidConfig`] for a chance outside `0..=1`, `vent_spacing` < 4 or
    /// `eruption_period` 0.
    pub fn new(config: VolcanismConfig) -> Result<Self, GeologyError> {
        let c = &config;
        for (name, v) in [
            ("vent_chance", c.vent_chance),
            ("active_chance", c.active_chance),
            ("flow_chance", c.flow_chance),
            ("cooling_chance", c.cooling_chance),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(GeologyError::InvalidConfig(name));
            }
        }
        if c.vent_spacing < 4 {
            return Err(GeologyError::InvalidConfig("vent_spacing"));
        }
        if c.eruption_period == 0 {
            return Err(GeologyError::InvalidConfig("eruption_period"));
        }
        let loose = MaterialTable::new(-1.0, [(ids::MAGMA, c.flow_chance)]);
        let empty = MaterialTable::new(false, [(ids::AIR, true), (ids::WATER, true)]);
        Ok(Self { config, loose, empty })
    }

    /// The configuration.
    pub fn config(&self) -> &VolcanismConfig {
        &self.config
    }

    /// The vent column's coarse cell key of `pos` and whether `pos` lies on that cell's vent
    /// column: `(key, on_vent)`. The key is (coarse cell across gravity, gravity face).
    fn vent_key(&self, pos: VoxelPos, gravity: Gravity, seed: u64) -> ([i64; 3], bool) {
        let down = gravity.down(pos);
        let axis = down.axis();
        let p = p64(pos);
        let (a1, a2) = match axis {
            0 => (1, 2),
            1 => (0, 2),
            _ => (0, 1),
        };
        let s = i64::from(self.config.vent_spacing);
        let (c1, c2) = (p[a1].div_euclid(s), p[a2].div_euclid(s));
        let key = [c1, c2, down as i64];
        let h = hash(seed, 0, VENT_SALT, key);
        if unit(h) >= self.config.vent_chance {
            return (key, false);
        }
        // Keep vents a quarter cell away from the cell borders.
        let span = (s / 2).max(1) as u64;
        let o1 = s / 4 + (mix(h ^ 1) % span) as i64;
        let o2 = s / 4 + (mix(h ^ 2) % span) as i64;
        (key, p[a1] == c1 * s + o1 && p[a2] == c2 * s + o2)
    }

    /// Whether `pos` lies on a vent column (the line through a vent along gravity) for `seed`.
    pub fn is_vent_column(&self, pos: VoxelPos, gravity: Gravity, seed: u64) -> bool {
        self.vent_key(pos, gravity, seed).1
    }

    /// Whether the vent whose column holds `pos` erupts at `step` (false off vent columns).
    pub fn is_erupting(&self, pos: VoxelPos, ctx: &StepContext) -> bool {
        let (key, on) = self.vent_key(pos, ctx.gravity, ctx.seed);
        on && unit(hash(ctx.seed, ctx.step / self.config.eruption_period, VENT_SALT + 1, key))
            < self.config.active_chance
    }
}

impl GeoProcess for Volcanism {
    fn kind(&self) -> ProcessKind {
        ProcessKind::Volcanism
    }

    fn halo(&self) -> u32 {
        1
    }

    fn step_covered(&self, input: &RegionSnapshot, core: VoxelBox, ctx: &StepContext, out: &mut Vec<VoxelWrite>) {
        let salt = u64::from(self.kind().id());
        let rule = BlockRule { loose: &self.loose, empty: &self.empty, salt };
        let cooling = self.config.cooling_chance;
        rule.for_each_block(input, &core, ctx, |b, _| {
            for k in 0..8 {
                if !b.in_core[k] {
                    continue;
                }
                let (pos, old) = (b.pos[k], b.old[k]);
                let mut new = b.new[k];
                // What is below (along gravity, at the step's start).
                let below = || step_checked(pos, ctx.gravity.down(pos)).and_then(|below| input.get(below));
                if new == ids::MAGMA {
                    // Cooling, after the flow: only magma that stayed where it was, resting on
                    // something. Falling magma lands before it hardens (no floating basalt).
                    if old == ids::MAGMA
                        && below().is_some_and(|m| !self.empty.get(m))
                        && unit(hash(ctx.seed, ctx.step, salt + 16, p64(pos))) < cooling
                    {
                        new = ids::BASALT;
                    }
                } else if self.empty.get(new) && self.empty.get(old) {
                    // Extrusion: an open voxel on an erupting vent column resting on solid
                    // ground that is not magma (new magma waits until the last flowed away or
                    // hardened, so the vent builds a cone rather than a tower).
                    let grounded = below().is_some_and(|m| !self.empty.get(m) && m != ids::MAGMA);
                    if grounded && self.is_erupting(pos, ctx) {
                        new = ids::MAGMA;
                    }
                }
                if new != old {
                    out.push(VoxelWrite { pos, expect: old, material: new });
                }
            }
        });
    }
}
