//! Strata: stream a voxel world around the camera from a hybrid store.
//!
//! This facade re-exports the engine-free crates a world needs; most users want [`prelude`].
//! The index, streaming logic, mesher and Bevy plugin are crates of their own (`strata_index`,
//! `strata_stream`, `strata_mesh`, `bevy_strata`).
//!
//! - [`core`] (`strata_core`): coordinates, chunks, the chunk codec, the store trait, the memory
//!   store and the hybrid generated + edited [`core::World`].
//! - [`redb`] (`strata_redb`): the embedded save file, [`redb::RedbStore`].
//! - [`geo`] (`strata_geo`): generators ([`geo::NoiseTerrain`], the planet) and geology.
//!
//! ```
//! use std::sync::Arc;
//! use strata::prelude::*;
//!
//! # fn main() -> Result<(), strata::core::Error> {
//! # let dir = tempfile::tempdir().map_err(strata::core::StoreError::from)?;
//! # let path = dir.path().join("world.strata");
//! let store = Arc::new(RedbStore::open(&path)?);
//! let mut world = World::new(store, Arc::new(NoiseTerrain::new(TerrainConfig::default())), WorldConfig::default());
//! world.fill_sphere(VoxelPos::new(0, 10, 0), 6.0, MaterialId::AIR)?; // O(1) append to the delta log
//! world.set_voxel(VoxelPos::new(3, 4, 5), MaterialId(19));
//! world.commit()?; // applies the log and writes every dirty chunk in one durable transaction
//! assert_eq!(world.voxel(VoxelPos::new(3, 4, 5))?, MaterialId(19));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The guide's Rust snippets (`docs/guide.md`), compiled as doctests: the guide cannot drift
/// from the API.
#[cfg(doctest)]
#[doc = include_str!("../docs/guide.md")]
pub struct GuideSnippets;

pub use strata_core as core;
pub use strata_geo as geo;
pub use strata_redb as redb;

/// The names most users need.
pub mod prelude {
    pub use strata_core::prelude::*;
    pub use strata_geo::{NoiseTerrain, TerrainConfig};
    pub use strata_redb::RedbStore;
}
