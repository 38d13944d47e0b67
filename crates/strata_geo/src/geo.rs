//! Latitude / longitude / altitude ↔ voxel positions.
//!
//! # Convention
//! - Voxel `(x, y, z)` stands for the point `(x, y, z)`; the planet's centre is voxel `(0, 0, 0)`.
//! - **+Y is the north pole** (latitude +90°), −Y the south pole.
//! - **Longitude 0° points along +X**; longitude +90° (east) along **−Z**, so longitude grows
//!   counter-clockwise seen from above the north pole (right-handed, Y up, like Earth):
//!   `x = ρ·cos(lat)·cos(lon)`, `y = ρ·sin(lat)`, `z = −ρ·cos(lat)·sin(lon)`, with `ρ` the
//!   distance from the centre.
//! - **Altitude** is `ρ` minus the sea-level radius, in voxels (negative below sea level).
//! - Longitudes are normalised into `(-180, 180]` (the antimeridian is +180°); at the poles (and
//!   at the centre) the longitude is 0.

use crate::error::GeoError;
use serde::{Deserialize, Serialize};
use strata_core::VoxelPos;

/// A geographic position: latitude and longitude in degrees, altitude in voxels above sea level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GeoCoord {
    /// Latitude in degrees, `-90..=90` (north positive).
    pub lat_deg: f64,
    /// Longitude in degrees (east positive); any finite value is accepted and wraps.
    pub lon_deg: f64,
    /// Altitude above sea level, in voxels.
    pub alt: f64,
}

impl GeoCoord {
    /// A coordinate (not validated; conversions validate).
    pub const fn new(lat_deg: f64, lon_deg: f64, alt: f64) -> Self {
        Self { lat_deg, lon_deg, alt }
    }

    /// Checks finiteness and the latitude range; returns the coordinate with its longitude
    /// normalised into `(-180, 180]`.
    pub fn validated(self) -> Result<Self, GeoError> {
        for (field, value) in [("lat_deg", self.lat_deg), ("lon_deg", self.lon_deg), ("alt", self.alt)] {
            if !value.is_finite() {
                return Err(GeoError::NotFinite { field, value });
            }
        }
        if !(-90.0..=90.0).contains(&self.lat_deg) {
            return Err(GeoError::LatitudeOutOfRange { lat_deg: self.lat_deg });
        }
        Ok(Self { lon_deg: normalize_lon(self.lon_deg), ..self })
    }

    /// The unit vector of this latitude and longitude (altitude ignored). Assumes a validated
    /// coordinate.
    pub fn direction(&self) -> [f64; 3] {
        let (lat, lon) = (self.lat_deg.to_radians(), self.lon_deg.to_radians());
        let (sl, cl) = lat.sin_cos();
        let (so, co) = lon.sin_cos();
        // Exact poles: cos(90°) in floating point is 6e-17, not 0.
        let cl = if self.lat_deg.abs() == 90.0 { 0.0 } else { cl };
        [cl * co, sl, -(cl * so)]
    }
}

/// Longitude into `(-180, 180]`.
fn normalize_lon(lon: f64) -> f64 {
    let l = lon.rem_euclid(360.0); // 0..360
    if l > 180.0 { l - 360.0 } else { l }
}

/// The geographic frame of a planet: its sea-level radius.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeoFrame {
    /// Sea-level radius, in voxels.
    pub sea_level_radius: f64,
}

impl GeoFrame {
    /// A frame with sea level at `sea_level_radius` voxels from the centre.
    pub const fn new(sea_level_radius: f64) -> Self {
        Self { sea_level_radius }
    }

    /// The voxel nearest to `coord` (each coordinate rounded to the nearest integer).
    ///
    /// # Errors
    /// [`GeoError::NotFinite`], [`GeoError::LatitudeOutOfRange`], [`GeoError::BelowCentre`] when
    /// `alt < -sea_level_radius`, [`GeoError::OutOfWorld`] when the point leaves the `i32` range.
    pub fn to_voxel(&self, coord: GeoCoord) -> Result<VoxelPos, GeoError> {
        let c = coord.validated()?;
        let rho = self.sea_level_radius + c.alt;
        if rho < 0.0 {
            return Err(GeoError::BelowCentre { alt: c.alt, sea_level_radius: self.sea_level_radius });
        }
        let d = c.direction();
        let mut out = [0i32; 3];
        for (o, v) in out.iter_mut().zip(d) {
            let x = (v * rho).round();
            if !(i32::MIN as f64..=i32::MAX as f64).contains(&x) {
                return Err(GeoError::OutOfWorld { alt: c.alt });
            }
            *o = x as i32;
        }
        Ok(VoxelPos::new(out[0], out[1], out[2]))
    }

    /// The geographic coordinate of voxel `pos`. Total: the centre maps to latitude 0,
    /// longitude 0, altitude `-sea_level_radius`.
    pub fn to_geo(&self, pos: VoxelPos) -> GeoCoord {
        let [x, y, z] = pos.to_array().map(|v| v as f64);
        let horizontal = x.hypot(z);
        let rho = horizontal.hypot(y);
        let lat_deg = y.atan2(horizontal).to_degrees();
        let lon_deg = if horizontal == 0.0 { 0.0 } else { normalize_lon((-z).atan2(x).to_degrees()) };
        GeoCoord { lat_deg, lon_deg, alt: rho - self.sea_level_radius }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FRAME: GeoFrame = GeoFrame::new(32768.0);

    #[test]
    fn axes_and_poles() {
        let v = |lat, lon, alt| FRAME.to_voxel(GeoCoord::new(lat, lon, alt)).unwrap();
        assert_eq!(v(0.0, 0.0, 0.0), VoxelPos::new(32768, 0, 0));
        assert_eq!(v(0.0, 90.0, 0.0), VoxelPos::new(0, 0, -32768));
        assert_eq!(v(0.0, -90.0, 10.0), VoxelPos::new(0, 0, 32778));
        assert_eq!(v(0.0, 180.0, 0.0), VoxelPos::new(-32768, 0, 0));
        assert_eq!(v(90.0, 123.0, 0.0), VoxelPos::new(0, 32768, 0));
        assert_eq!(v(-90.0, -45.0, -100.0), VoxelPos::new(0, -32668, 0));
        let north = FRAME.to_geo(VoxelPos::new(0, 40000, 0));
        assert_eq!(north, GeoCoord::new(90.0, 0.0, 40000.0 - 32768.0));
        let south = FRAME.to_geo(VoxelPos::new(0, -1, 0));
        assert_eq!((south.lat_deg, south.lon_deg), (-90.0, 0.0));
        let centre = FRAME.to_geo(VoxelPos::new(0, 0, 0));
        assert_eq!(centre, GeoCoord::new(0.0, 0.0, -32768.0));
    }

    #[test]
    fn antimeridian_is_plus_180() {
        for z in [0, -0] {
            let g = FRAME.to_geo(VoxelPos::new(-32768, 0, z));
            assert_eq!(g.lon_deg, 180.0);
        }
        assert!(FRAME.to_geo(VoxelPos::new(-32768, 0, 1)).lon_deg < -179.99);
        assert!(FRAME.to_geo(VoxelPos::new(-32768, 0, -1)).lon_deg > 179.99);
        // -180 and 540 name the same meridian as 180.
        let a = FRAME.to_voxel(GeoCoord::new(10.0, -180.0, 0.0)).unwrap();
        assert_eq!(a, FRAME.to_voxel(GeoCoord::new(10.0, 180.0, 0.0)).unwrap());
        assert_eq!(a, FRAME.to_voxel(GeoCoord::new(10.0, 540.0, 0.0)).unwrap());
        assert_eq!(GeoCoord::new(0.0, -180.0, 0.0).validated().unwrap().lon_deg, 180.0);
        assert_eq!(GeoCoord::new(0.0, 359.0, 0.0).validated().unwrap().lon_deg, -1.0);
    }

    #[test]
    fn invalid_inputs_are_typed_errors() {
        let e = |lat, lon, alt| FRAME.to_voxel(GeoCoord::new(lat, lon, alt)).unwrap_err();
        assert!(matches!(e(f64::NAN, 0.0, 0.0), GeoError::NotFinite { field: "lat_deg", .. }));
        assert!(matches!(e(0.0, f64::INFINITY, 0.0), GeoError::NotFinite { field: "lon_deg", .. }));
        assert!(matches!(e(0.0, 0.0, f64::NEG_INFINITY), GeoError::NotFinite { field: "alt", .. }));
        assert!(matches!(e(90.5, 0.0, 0.0), GeoError::LatitudeOutOfRange { .. }));
        assert!(matches!(e(-91.0, 0.0, 0.0), GeoError::LatitudeOutOfRange { .. }));
        assert!(matches!(e(0.0, 0.0, -40000.0), GeoError::BelowCentre { .. }));
        assert!(matches!(e(0.0, 0.0, 3e9), GeoError::OutOfWorld { .. }));
        assert!(matches!(e(45.0, 45.0, f64::MAX), GeoError::OutOfWorld { .. }));
        // The centre itself is fine.
        assert_eq!(FRAME.to_voxel(GeoCoord::new(0.0, 0.0, -32768.0)).unwrap(), VoxelPos::new(0, 0, 0));
    }

    #[test]
    fn extremes_of_the_voxel_range() {
        for p in [
            VoxelPos::new(i32::MAX, i32::MAX, i32::MAX),
            VoxelPos::new(i32::MIN, i32::MIN, i32::MIN),
            VoxelPos::new(i32::MIN, 0, i32::MAX),
        ] {
            let g = FRAME.to_geo(p);
            assert!(g.lat_deg.is_finite() && g.lon_deg.is_finite() && g.alt.is_finite());
            // Round trip within rounding of the largest coordinates (f64 has 53 bits, the
            // coordinates 32): the result is the same voxel or a neighbour.
            let back = FRAME.to_voxel(g).unwrap_or(p);
            for (a, b) in back.to_array().into_iter().zip(p.to_array()) {
                assert!((a as i64 - b as i64).abs() <= 1, "{p:?} -> {g:?} -> {back:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn voxel_geo_voxel_is_identity(x in -1i32 << 30..1 << 30, y in -1i32 << 30..1 << 30, z in -1i32 << 30..1 << 30) {
            let p = VoxelPos::new(x, y, z);
            prop_assert_eq!(FRAME.to_voxel(FRAME.to_geo(p)).unwrap(), p);
        }

        #[test]
        fn geo_voxel_geo_is_within_half_a_voxel(lat in -90.0f64..=90.0, lon in -720.0f64..720.0, alt in -32000.0f64..100_000.0) {
            let g = GeoCoord::new(lat, lon, alt);
            let p = FRAME.to_voxel(g).unwrap();
            let back = FRAME.to_geo(p);
            // The voxel centre is within √3/2 voxel of the point.
            prop_assert!((back.alt - alt).abs() <= 0.87);
            let rho = FRAME.sea_level_radius + alt;
            let d = g.validated().unwrap().direction();
            let e = [p.x as f64 - d[0] * rho, p.y as f64 - d[1] * rho, p.z as f64 - d[2] * rho];
            prop_assert!((e[0] * e[0] + e[1] * e[1] + e[2] * e[2]).sqrt() <= 0.87);
            // Angles: the same half-voxel, seen from the centre (and from the axis, for longitude).
            let horizontal = rho * lat.to_radians().cos();
            if horizontal > 10.0 {
                let dlon = (back.lon_deg - normalize_lon(lon)).abs();
                prop_assert!(dlon.min(360.0 - dlon).to_radians() * (horizontal - 1.0) <= 0.87, "{} vs {}", back.lon_deg, lon);
            }
            if rho > 10.0 {
                prop_assert!((back.lat_deg - lat).abs().to_radians() * (rho - 1.0) <= 0.87);
            }
        }
    }
}
