//! Errors: one enum per operation, and the umbrella [`Error`].

use thiserror::Error;

/// A latitude / longitude / altitude that does not name a voxel.
#[derive(Clone, Copy, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum GeoError {
    /// An input was NaN or infinite.
    #[error("{field} is not finite ({value})")]
    NotFinite {
        /// `"lat_deg"`, `"lon_deg"` or `"alt"`.
        field: &'static str,
        /// The offending value.
        value: f64,
    },
    /// The latitude is outside `-90..=90` degrees.
    #[error("latitude {lat_deg}° is outside -90..=90")]
    LatitudeOutOfRange {
        /// The offending latitude, in degrees.
        lat_deg: f64,
    },
    /// The altitude lies below the planet's centre (`alt < -sea_level_radius`).
    #[error("altitude {alt} lies below the planet centre (sea-level radius {sea_level_radius})")]
    BelowCentre {
        /// The offending altitude, in voxels.
        alt: f64,
        /// The sea-level radius, in voxels.
        sea_level_radius: f64,
    },
    /// The point lies outside the `i32` voxel range.
    #[error("altitude {alt} puts the point outside the i32 voxel range")]
    OutOfWorld {
        /// The offending altitude, in voxels.
        alt: f64,
    },
}

/// A [`PlanetConfig`](crate::PlanetConfig) that [`PlanetGenerator::new`](crate::PlanetGenerator::new)
/// refuses.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A length or fraction is NaN or infinite.
    #[error("config field {field} is not finite ({value})")]
    NotFinite {
        /// The field name.
        field: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A length or fraction is outside its documented range.
    #[error("config field {field} = {value} is outside {range}")]
    OutOfRange {
        /// The field name.
        field: &'static str,
        /// The offending value.
        value: f64,
        /// The accepted range, in words.
        range: &'static str,
    },
    /// The layers do not nest (e.g. the crust is thinner than the deepest ocean, or the outer core
    /// reaches the crust).
    #[error("layers overlap: {0}")]
    LayersOverlap(&'static str),
}

/// Any error of this crate.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A geographic coordinate error.
    #[error(transparent)]
    Geo(#[from] GeoError),
    /// A configuration error.
    #[error(transparent)]
    Config(#[from] ConfigError),
}
