//! Thermal erosion: loose material falls and slides down to a 45° talus slope.

use super::blocks::BlockRule;
use super::process::{GeoProcess, GeologyError, MaterialTable, ProcessKind, StepContext};
use super::region::{RegionSnapshot, VoxelBox, VoxelWrite};
use crate::ids;
use strata_core::MaterialId;

/// A loose material and how readily it slides.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LooseMaterial {
    /// The material.
    pub material: MaterialId,
    /// Chance per step (`0..=1`) that a grain resting on something slides diagonally down when
    /// the slope beside it is steeper than 45°. `0`: cohesive, it only falls straight down and
    /// holds any slope; above 0 the slope relaxes to 45°, faster for larger values.
    pub slide_chance: f32,
}

/// Configuration of [`ThermalErosion`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ThermalConfig {
    /// Materials that move; everything else (rock, ice, magma…) never does.
    pub loose: Vec<LooseMaterial>,
    /// Materials a loose grain swaps places with (it falls through them).
    pub empty: Vec<MaterialId>,
}

impl Default for ThermalConfig {
    fn default() -> Self {
        let l = |material, slide_chance| LooseMaterial { material, slide_chance };
        Self {
            loose: vec![
                l(ids::SAND, 1.0),
                l(ids::SEDIMENT, 0.75),
                l(ids::DIRT, 0.5),
                l(ids::GRASS, 0.5),
                l(ids::SNOW, 0.25),
            ],
            empty: vec![ids::AIR, ids::WATER],
        }
    }
}

/// Thermal erosion (a Margolus block rule, see the [module docs](super)).
#[derive(Clone, Debug)]
pub struct ThermalErosion {
    config: ThermalConfig,
    loose: MaterialTable<f32>,
    empty: MaterialTable<bool>,
}

impl Default for ThermalErosion {
    fn default() -> Self {
        // Invariant: the default config is valid.
        Self::new(ThermalConfig::default()).unwrap_or_else(|_| unreachable!("default config is valid"))
    }
}

impl ThermalErosion {
    /// A process with `config`.
    ///
    /// # Errors
    /// [`GeologyError::InvalidConfig`] when a slide chance is outside `0..=1` (or NaN) or a
    /// material is both loose and empty.
    pub fn new(config: ThermalConfig) -> Result<Self, GeologyError> {
        if config.loose.iter().any(|l| !(0.0..=1.0).contains(&l.slide_chance)) {
            return Err(GeologyError::InvalidConfig("loose.slide_chance"));
        }
        if config.loose.iter().any(|l| config.empty.contains(&l.material)) {
            return Err(GeologyError::InvalidConfig("empty"));
        }
        let loose = MaterialTable::new(-1.0, config.loose.iter().map(|l| (l.material, l.slide_chance)));
        let empty = MaterialTable::new(false, config.empty.iter().map(|&m| (m, true)));
        Ok(Self { config, loose, empty })
    }

    /// The configuration.
    pub fn config(&self) -> &ThermalConfig {
        &self.config
    }

    /// Whether `m` is loose (moves at all).
    pub fn is_loose(&self, m: MaterialId) -> bool {
        self.loose.get(m) >= 0.0
    }

    /// Whether loose grains fall through `m`.
    pub fn is_empty(&self, m: MaterialId) -> bool {
        self.empty.get(m)
    }
}

impl GeoProcess for ThermalErosion {
    fn kind(&self) -> ProcessKind {
        ProcessKind::ThermalErosion
    }

    fn halo(&self) -> u32 {
        1
    }

    fn step_covered(&self, input: &RegionSnapshot, core: VoxelBox, ctx: &StepContext, out: &mut Vec<VoxelWrite>) {
        let rule = BlockRule { loose: &self.loose, empty: &self.empty, salt: u64::from(self.kind().id()) };
        rule.for_each_block(input, &core, ctx, |b, changed| {
            if changed {
                for k in 0..8 {
                    if b.in_core[k] && b.new[k] != b.old[k] {
                        out.push(VoxelWrite { pos: b.pos[k], expect: b.old[k], material: b.new[k] });
                    }
                }
            }
        });
    }
}
