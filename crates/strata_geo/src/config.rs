//! [`PlanetConfig`]: every parameter of the planet, with documented defaults.

use crate::error::ConfigError;
use serde::{Deserialize, Serialize};

/// Largest accepted [`PlanetConfig::radius`] (2²⁸ voxels), so that every layer and the highest
/// peak stay far inside the `i32` voxel range.
pub const MAX_RADIUS: u32 = 1 << 28;

/// Parameters of a [`PlanetGenerator`](crate::PlanetGenerator). Lengths are in voxels.
///
/// Vertical lengths are measured along the radius; "altitude" is relative to sea level
/// (`radius + sea_level_offset`). Horizontal `*_wavelength`s are feature sizes on the surface.
/// The defaults (listed per field) describe a 2¹⁵-voxel planet; [`PlanetConfig::scaled`] keeps
/// their proportions for another radius.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanetConfig {
    /// Reference radius: the terrain's zero height and, with `sea_level_offset` 0, sea level.
    /// Default 32 768 (2¹⁵). Range `1024..=2^28`.
    pub radius: u32,
    /// Noise seed. Default 7.
    pub seed: u32,
    /// Sea level relative to `radius`; raising it floods more land. Default 0.
    pub sea_level_offset: i32,
    /// Height of continental lowlands at the strongest continent signal. Default 96.
    pub continent_height: f64,
    /// Depth of the abyssal plains below `radius`. Default 320.
    pub ocean_depth: f64,
    /// Depth of the continental shelf below `radius` (≤ `ocean_depth`). Default 24.
    pub shelf_depth: f64,
    /// Added to the continent noise (`-1..=1`): higher means more land. Default −0.1.
    pub continent_bias: f64,
    /// The most that mountain ridges (ridged multifractal) add on top of the continents.
    /// Default 640.
    pub max_mountain_height: f64,
    /// Amplitude of the rolling hills (fbm) everywhere, land and sea floor. Default 32.
    pub hill_height: f64,
    /// Continent feature size. Default 24 000.
    pub continent_wavelength: f64,
    /// Mountain ridge feature size. Default 1 600.
    pub mountain_wavelength: f64,
    /// Hill feature size. Default 320.
    pub hill_wavelength: f64,
    /// Soil thickness (grass or sand on top, dirt or sand below). Default 4.
    pub soil_depth: f64,
    /// Sediment thickness below the soil. Default 12.
    pub sediment_depth: f64,
    /// Beaches: sand where the surface altitude is below this. Default 3.
    pub beach_height: f64,
    /// Sand (not sediment) covers the sea floor down to this depth below sea level. Default 8.
    pub beach_depth: f64,
    /// Thickness of the alternating sandstone / limestone bands. Default 24.
    pub stratum_thickness: f64,
    /// Vertical undulation (±) of the sandstone / limestone bands. Default 32.
    pub strata_undulation: f64,
    /// Mean depth of the granite top below `radius`. Default 160.
    pub granite_depth: f64,
    /// Undulation (±) of the granite top and of the crust base. Default 64.
    pub crust_undulation: f64,
    /// Mean crust thickness below `radius` (the mantle starts there). Default 1 536.
    pub crust_depth: f64,
    /// Basalt thickness at the bottom of the crust, under continents too. Default 192.
    pub lower_crust_thickness: f64,
    /// Outer-core (magma) radius as a fraction of `radius`. Default 0.55.
    pub outer_core_fraction: f64,
    /// Inner-core radius as a fraction of `radius`. Default 0.19.
    pub inner_core_fraction: f64,
    /// Polar ice starts at about this latitude (± a few degrees of noise), in degrees. Default 68.
    pub polar_latitude_deg: f64,
    /// Thickness of the ice caps lying on polar land. Default 24.
    pub ice_cap_thickness: f64,
    /// Thickness of the sea ice at polar sea level. Default 4.
    pub sea_ice_thickness: f64,
    /// Snow line altitude at the equator; it falls linearly to 0 at the poles (in `sin(lat)`).
    /// Default 420.
    pub snow_altitude: f64,
    /// Spacing of the terrain height grid at the cube-face centres (the height between grid nodes is
    /// interpolated). Range `0.5..=64`. Default 2.
    pub height_grid_spacing: f64,
}

impl Default for PlanetConfig {
    fn default() -> Self {
        Self {
            radius: 1 << 15,
            seed: 7,
            sea_level_offset: 0,
            continent_height: 96.0,
            ocean_depth: 320.0,
            shelf_depth: 24.0,
            continent_bias: -0.1,
            max_mountain_height: 640.0,
            hill_height: 32.0,
            continent_wavelength: 24_000.0,
            mountain_wavelength: 1_600.0,
            hill_wavelength: 320.0,
            soil_depth: 4.0,
            sediment_depth: 12.0,
            beach_height: 3.0,
            beach_depth: 8.0,
            stratum_thickness: 24.0,
            strata_undulation: 32.0,
            granite_depth: 160.0,
            crust_undulation: 64.0,
            crust_depth: 1_536.0,
            lower_crust_thickness: 192.0,
            outer_core_fraction: 0.55,
            inner_core_fraction: 0.19,
            polar_latitude_deg: 68.0,
            ice_cap_thickness: 24.0,
            sea_ice_thickness: 4.0,
            snow_altitude: 420.0,
            height_grid_spacing: 2.0,
        }
    }
}

impl PlanetConfig {
    /// The default planet scaled to `radius`: every vertical and horizontal length is multiplied
    /// by `radius / 32768` (soil, sediment, beach, ice and grid spacing are kept, they are
    /// voxel-scale).
    pub fn scaled(radius: u32) -> Self {
        let d = Self::default();
        let k = radius as f64 / d.radius as f64;
        Self {
            radius,
            continent_height: d.continent_height * k,
            ocean_depth: d.ocean_depth * k,
            shelf_depth: d.shelf_depth * k,
            max_mountain_height: d.max_mountain_height * k,
            hill_height: d.hill_height * k,
            continent_wavelength: d.continent_wavelength * k,
            mountain_wavelength: d.mountain_wavelength * k,
            hill_wavelength: d.hill_wavelength * k,
            stratum_thickness: d.stratum_thickness * k,
            strata_undulation: d.strata_undulation * k,
            granite_depth: d.granite_depth * k,
            crust_undulation: d.crust_undulation * k,
            crust_depth: d.crust_depth * k,
            lower_crust_thickness: d.lower_crust_thickness * k,
            snow_altitude: d.snow_altitude * k,
            ..d
        }
    }

    /// Sea-level radius: `radius + sea_level_offset`.
    pub fn sea_level_radius(&self) -> f64 {
        self.radius as f64 + self.sea_level_offset as f64
    }

    /// Checks every documented range and that the layers nest.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fields: [(&'static str, f64); 28] = [
            ("continent_height", self.continent_height),
            ("ocean_depth", self.ocean_depth),
            ("shelf_depth", self.shelf_depth),
            ("continent_bias", self.continent_bias),
            ("max_mountain_height", self.max_mountain_height),
            ("hill_height", self.hill_height),
            ("continent_wavelength", self.continent_wavelength),
            ("mountain_wavelength", self.mountain_wavelength),
            ("hill_wavelength", self.hill_wavelength),
            ("soil_depth", self.soil_depth),
            ("sediment_depth", self.sediment_depth),
            ("beach_height", self.beach_height),
            ("beach_depth", self.beach_depth),
            ("stratum_thickness", self.stratum_thickness),
            ("strata_undulation", self.strata_undulation),
            ("granite_depth", self.granite_depth),
            ("crust_undulation", self.crust_undulation),
            ("crust_depth", self.crust_depth),
            ("lower_crust_thickness", self.lower_crust_thickness),
            ("outer_core_fraction", self.outer_core_fraction),
            ("inner_core_fraction", self.inner_core_fraction),
            ("polar_latitude_deg", self.polar_latitude_deg),
            ("ice_cap_thickness", self.ice_cap_thickness),
            ("sea_ice_thickness", self.sea_ice_thickness),
            ("snow_altitude", self.snow_altitude),
            ("height_grid_spacing", self.height_grid_spacing),
            ("radius", self.radius as f64),
            ("sea_level_offset", self.sea_level_offset as f64),
        ];
        for (field, value) in fields {
            if !value.is_finite() {
                return Err(ConfigError::NotFinite { field, value });
            }
        }
        let range = |field: &'static str, value: f64, lo: f64, hi: f64, words: &'static str| {
            if (lo..=hi).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange { field, value, range: words })
            }
        };
        let r = self.radius as f64;
        range("radius", r, 1024.0, MAX_RADIUS as f64, "1024..=2^28")?;
        range("continent_bias", self.continent_bias, -1.0, 1.0, "-1..=1")?;
        range("height_grid_spacing", self.height_grid_spacing, 0.5, 64.0, "0.5..=64")?;
        range("polar_latitude_deg", self.polar_latitude_deg, 0.0, 90.0, "0..=90")?;
        range("soil_depth", self.soil_depth, 1.0, f64::MAX, ">= 1")?;
        range("stratum_thickness", self.stratum_thickness, 1.0, f64::MAX, ">= 1")?;
        for (field, value) in [
            ("continent_height", self.continent_height),
            ("ocean_depth", self.ocean_depth),
            ("shelf_depth", self.shelf_depth),
            ("max_mountain_height", self.max_mountain_height),
            ("hill_height", self.hill_height),
            ("sediment_depth", self.sediment_depth),
            ("beach_height", self.beach_height),
            ("beach_depth", self.beach_depth),
            ("strata_undulation", self.strata_undulation),
            ("granite_depth", self.granite_depth),
            ("crust_undulation", self.crust_undulation),
            ("crust_depth", self.crust_depth),
            ("lower_crust_thickness", self.lower_crust_thickness),
            ("ice_cap_thickness", self.ice_cap_thickness),
            ("sea_ice_thickness", self.sea_ice_thickness),
            ("snow_altitude", self.snow_altitude),
        ] {
            range(field, value, 0.0, r, "0..=radius")?;
        }
        for (field, value) in [
            ("continent_wavelength", self.continent_wavelength),
            ("mountain_wavelength", self.mountain_wavelength),
            ("hill_wavelength", self.hill_wavelength),
        ] {
            range(field, value, 1.0, 64.0 * r, "1..=64·radius")?;
        }
        range("outer_core_fraction", self.outer_core_fraction, 0.0, 1.0, "0..=1")?;
        range(
            "inner_core_fraction",
            self.inner_core_fraction,
            0.0,
            self.outer_core_fraction,
            "0..=outer_core_fraction",
        )?;
        range("sea_level_offset", self.sea_level_offset as f64, -r / 4.0, r / 4.0, "±radius/4")?;
        if self.shelf_depth > self.ocean_depth {
            return Err(ConfigError::LayersOverlap("shelf_depth exceeds ocean_depth"));
        }
        // The crust base (minus its undulation) lies below the deepest sea floor's soil and sediment.
        let deepest_rock = self.ocean_depth + self.hill_height + self.soil_depth + self.sediment_depth;
        if self.crust_depth - self.crust_undulation <= deepest_rock + 2.0 {
            return Err(ConfigError::LayersOverlap("crust_depth - crust_undulation must exceed the deepest sea floor"));
        }
        if self.outer_core_fraction * r + 2.0 >= r - self.crust_depth - self.crust_undulation {
            return Err(ConfigError::LayersOverlap("the outer core reaches the crust"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_scaled_are_valid() {
        PlanetConfig::default().validate().unwrap();
        assert_eq!(PlanetConfig::scaled(1 << 15), PlanetConfig::default());
        for r in [4096, 1 << 20, MAX_RADIUS] {
            PlanetConfig::scaled(r).validate().unwrap();
        }
    }

    #[test]
    fn invalid_configs_are_refused() {
        let bad = |f: fn(&mut PlanetConfig)| {
            let mut c = PlanetConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(matches!(bad(|c| c.ocean_depth = f64::NAN), ConfigError::NotFinite { field: "ocean_depth", .. }));
        assert!(matches!(bad(|c| c.radius = 10), ConfigError::OutOfRange { field: "radius", .. }));
        assert!(matches!(bad(|c| c.radius = u32::MAX), ConfigError::OutOfRange { field: "radius", .. }));
        assert!(matches!(bad(|c| c.hill_height = -1.0), ConfigError::OutOfRange { .. }));
        assert!(matches!(bad(|c| c.crust_depth = 100.0), ConfigError::LayersOverlap(_)));
        assert!(matches!(bad(|c| c.outer_core_fraction = 0.99), ConfigError::LayersOverlap(_)));
        assert!(matches!(bad(|c| c.height_grid_spacing = 0.0), ConfigError::OutOfRange { .. }));
    }

    #[test]
    fn serde_round_trip_and_partial_files() {
        let c = PlanetConfig { seed: 42, ..PlanetConfig::default() };
        let text = ron::to_string(&c).unwrap();
        assert_eq!(ron::from_str::<PlanetConfig>(&text).unwrap(), c);
        // Missing fields take their defaults.
        let partial: PlanetConfig = ron::from_str("(radius: 4096, seed: 3)").unwrap();
        assert_eq!(partial, PlanetConfig { radius: 4096, seed: 3, ..PlanetConfig::default() });
    }
}
