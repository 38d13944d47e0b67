//! Planet generator for Strata: a sphere of voxels with continents, oceans, mountain ranges,
//! polar ice, beaches and layered geology, implementing
//! [`WorldGenerator`](strata_core::WorldGenerator); plus latitude / longitude / altitude
//! conversions.
//!
//! ```
//! use strata_core::WorldGenerator;
//! use strata_geo::{PlanetConfig, PlanetGenerator, ids};
//!
//! let planet = PlanetGenerator::new(PlanetConfig::default()).unwrap();
//! assert_eq!(planet.material_at_geo(12.0, 34.0, 5_000.0).unwrap(), ids::AIR);
//! assert_eq!(planet.material_at_geo(12.0, 34.0, -30_000.0).unwrap(), ids::CORE);
//! let alt = planet.surface_altitude(12.0, 34.0).unwrap(); // terrain height above sea level
//! # let _ = alt;
//! ```
//!
//! # Coordinates
//! Voxel `(x, y, z)` is the point `(x, y, z)`; the planet's centre is voxel `(0, 0, 0)`. **+Y is
//! the north pole**, **longitude 0 lies along +X** and longitude +90° (east) along −Z;
//! **altitude** is the distance from the centre minus the sea-level radius
//! (`radius + sea_level_offset`), in voxels. See [`GeoFrame`] for the formulas and edge cases
//! (poles, antimeridian = +180°, centre).
//!
//! # Shape
//! The terrain height is a function of the **direction only**: fields are sampled on a cube-sphere
//! grid (the direction's largest axis picks the face, gnomonic face coordinates evened out by a
//! cheap polynomial warp), so there is no seam and "altitude above the surface" is well defined.
//! A coarse grid (nodes 64× further apart, ~128 voxels) holds the slow fields: continent signal
//! (domain-warped fbm), mountain-range mask (belts along the zero lines of an fbm, on land), the
//! low octaves of the ridged multifractal, and the strata, crust and ice-edge undulations. A fine
//! grid (default: a node every 2 voxels at face centres) holds the height: continental profile
//! (coastal plain, shelf, slope, abyssal plain) + mask × `max_mountain_height` × coarse ridges ×
//! (70 % + 30 % fine ridged octaves) + fbm hills. Between nodes, values are bilinear. Every noise
//! output is clamped, so the height always lies in [`PlanetGenerator::altitude_bounds`], and the
//! coarse nodes alone bound the height within 30 % of the local mountain height and ± the hills.
//!
//! # Layers
//! Let `s` be the surface radius in a voxel's direction, `depth = s − ρ` (`ρ` = the voxel's distance
//! from the centre) and `alt = s − sea level`:
//!
//! | where | material |
//! | --- | --- |
//! | above the surface, at or below sea level | [`ids::WATER`]; [`ids::ICE`] in the top `sea_ice_thickness` at polar latitudes |
//! | above the surface and sea level | [`ids::AIR`]; [`ids::ICE`] up to `ice_cap_thickness` over polar land |
//! | `depth` < top layer (≈ 1.5 voxels) | [`ids::GRASS`]; [`ids::SNOW`] above the snow line or at polar latitudes |
//! | `depth` < `soil_depth` | [`ids::DIRT`] below the top layer; [`ids::SAND`] (top and soil) where `alt` is in `-beach_depth..beach_height`; [`ids::SEDIMENT`] on the deeper sea floor |
//! | `depth` < `soil_depth + sediment_depth` | [`ids::SEDIMENT`] |
//! | deeper, continental crust | alternating [`ids::SANDSTONE`] / [`ids::LIMESTONE`] bands (`stratum_thickness`, undulating ± `strata_undulation`) down to the granite top at `-granite_depth` (± `crust_undulation`), then [`ids::GRANITE`] |
//! | deeper, oceanic crust (weak continent signal; the boundary leans under the continents with depth), and the lowest `lower_crust_thickness` of all crust | [`ids::BASALT`] |
//! | below the crust base `radius − crust_depth` (± `crust_undulation`) | [`ids::MANTLE`] |
//! | below `outer_core_fraction · radius` | [`ids::MAGMA`] (liquid outer core) |
//! | below `inner_core_fraction · radius` | [`ids::CORE`] |
//!
//! # Exactness and complexity
//! One function defines the planet; `material_at`, `generate`, `sample_lod` and the geographic
//! queries all call it and differ only in how grid nodes are cached, so `generate` agrees with
//! `material_at` voxel for voxel and `sample_lod` cell for cell (tested with proptest). The
//! noise is the `noise` crate's Perlin, fbm and ridged multifractal, evaluated by a faster
//! equivalent that is bit for bit the same (tested against the crate).
//!
//! **Caches.** Coarse nodes (23 Perlin octaves each, ~0.4 µs) are computed once per planet and
//! shared by every call and thread: tiles of 16 × 16 nodes per cube face, each node filled on
//! first use, at most 2,048 tiles (28 MiB; the default planet has ~3,700, a hemisphere fits;
//! [`PlanetGenerator::clear_caches`] frees them). Fine nodes (the height: hills and fine
//! ridges, ~8 octaves) are cached per call: in per-face rectangles for chunks and small LOD
//! nodes, in fixed per-thread tables for large ones (no allocation per call). Boxes that read
//! every fine node under them (chunks, LOD levels 1 and 2) also share them: tiles of 64 × 64
//! nodes, each filled on first use, at most 512 tiles (16 MiB, the oldest going first), so the
//! chunks of a column and the levels 0–2 of a place compute each node once.
//! - [`material_at`](strata_core::WorldGenerator::material_at): O(1) above the highest possible
//!   terrain and in the mantle / core; otherwise ≤ 4 fine noise nodes and ≤ 8 (usually 4)
//!   coarse nodes from the cache (≈ 1 µs warm, ≈ 6 µs for a node's first tile).
//! - [`generate`](strata_core::WorldGenerator::generate): `Uniform` in O(1) (≈ 0.2 µs) when the
//!   radius range alone decides (air above every possible surface; mantle, outer core, inner
//!   core). Otherwise the coarse nodes under the chunk give exact height bounds: air, sea and
//!   all-rock chunks skip fine noise. Else each 8³ block is decided the same way from the coarse,
//!   then the fine nodes under it (each fine node evaluated once per chunk), undecided blocks
//!   again per 4³ sub-block (air, sea, sediment or rock everywhere). Rock is filled in bulk
//!   where the ranges of the coarse fields over a box (and its octants, down to 4³) leave one
//!   material: one stratum, the granite, the basalt or one deep shell. In sub-blocks the
//!   surface's top soil may cross, each voxel's radius against the sub-block's fine bounds
//!   decides most voxels; only the rest interpolate their height (≈ 0.3 ms per surface chunk,
//!   ≈ 0.4 ms per chunk of strata under it).
//! - [`sample_lod`](strata_core::WorldGenerator::sample_lod): the same rule per cell centre;
//!   blocks of 8³ cells are decided by coarse bounds where they lie over few coarse cells (levels
//!   1 and 2, whose cells are nearly as dense as the fine nodes, are filled like chunks), cells by the
//!   bounds of their coarse cell, then of their fine nodes' relief, so only cells near
//!   the surface touch fine noise; then each non-air cell under air shows the surface above its
//!   centre (the LOD rule's bisection, [`strata_core::generator::lod_cell`]), so continents read
//!   green, sandy or snowy from orbit, not as the rock under them. A level-6 node at the surface
//!   takes ≈ 4 ms (most of it the fine noise the rule needs: each surface cell's bisection
//!   samples its own fine nodes), level 1 ≈ 0.7 ms, level 2 ≈ 1.4 ms, level 8 ≈ 4 ms, level 10
//!   ≈ 10–16 ms, level 12 ≈ 0.5 ms.
//!   Any level (including ≥ 11) is exact; coordinates are clamped into `i32` like the default.
//!   The planet's up ([`WorldGenerator::world_up`](strata_core::WorldGenerator::world_up)) points
//!   away from its centre.
//! - [`PlanetGenerator::surface_altitude`], [`PlanetGenerator::material_at_geo`]: as
//!   `material_at`. [`GeoFrame`] conversions: O(1).
//!
//! # Runtime geology
//! [`geology`]: thermal erosion, hydraulic erosion + deposition and volcanism as pure,
//! deterministic functions from a snapshot of a region plus a halo to a batch of voxel writes,
//! identical whether a region runs whole or as partitions.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod coarse_field;
mod config;
mod error;
mod fields;
mod fine_field;
mod geo;
pub mod geology;
mod grid;
pub mod ids;
mod model;
mod perlin;
mod planet;
mod sources;
pub mod terrain;

pub use config::{MAX_RADIUS, PlanetConfig};
pub use error::{ConfigError, Error, GeoError};
pub use geo::{GeoCoord, GeoFrame};
pub use geology::{
    GeoProcess, GeologyError, Gravity, HydraulicErosion, ProcessKind, RegionSnapshot, StepContext, ThermalErosion,
    Volcanism, VoxelBox, VoxelWrite,
};
pub use planet::PlanetGenerator;
pub use terrain::{HeightTile, NoiseTerrain, TerrainConfig, TerrainConfigError};

#[cfg(test)]
mod tests;
