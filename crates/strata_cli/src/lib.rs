//! Library half of the `strata` command: opening saves and the seeded edit batches that the
//! `edit` subcommand writes (shared with the crash-safety test, which recomputes them), and the
//! texture set `strata textures` draws ([`textures`]), and the Parquet export
//! ([`parquet_export`]).
#![forbid(unsafe_code)]

pub mod parquet_export;
pub mod textures;

use std::path::Path;
use std::sync::Arc;
use strata_core::rng::SplitMix64;
use strata_core::{ChunkStore, MaterialId, StoreError, VoxelPos, World, WorldConfig};
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_redb::{RedbStore, RedbStoreOptions};

/// Meta key under which a save records the generator settings it was made with.
pub const GENERATOR_META: &str = "generator.terrain";

/// Errors of the command line tool.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The save's stored generator settings do not parse.
    #[error("save has unreadable generator settings: {0}")]
    BadGeneratorMeta(String),
    /// The requested seed differs from the save's.
    #[error("save was created with seed {stored}, not {requested} (omit --seed to use the save's)")]
    SeedMismatch {
        /// In the save.
        stored: u32,
        /// On the command line.
        requested: u32,
    },
    /// A bad argument value.
    #[error("{0}")]
    Usage(String),
    /// File I/O.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Writing a Parquet file failed (the library's message).
    #[error("writing Parquet: {0}")]
    Parquet(String),
    /// A `.vox` file that cannot be imported.
    #[error(transparent)]
    Vox(#[from] strata_core::vox::VoxError),
}

/// An opened save: its store and the terrain settings recorded in it.
pub struct Save {
    /// The store.
    pub store: Arc<RedbStore>,
    /// Generator settings (recorded in the save on creation).
    pub terrain: TerrainConfig,
}

impl Save {
    /// Opens (or creates) the save at `path`. A new save records `seed` (default 7) in its
    /// metadata; an existing one uses its recorded settings and refuses a different `seed`.
    pub fn open(path: &Path, seed: Option<u32>) -> Result<Self, CliError> {
        Self::with_store(RedbStore::open(path)?, seed)
    }

    /// Opens an existing save for reading only: nothing is written to the file (so reading a
    /// damaged save cannot make it worse). A save that needs the recovery after a crash, or
    /// an upgrade, is opened writable instead (that is what recovers or upgrades it).
    pub fn open_read_only(path: &Path) -> Result<Self, CliError> {
        if !path.exists() {
            return Err(CliError::Usage(format!("no save at {}", path.display())));
        }
        let options = RedbStoreOptions { read_only: true, ..RedbStoreOptions::default() };
        match RedbStore::open_with(path, options) {
            Err(StoreError::ReadOnly) => Self::open(path, None),
            other => Self::with_store(other?, None),
        }
    }

    fn with_store(store: RedbStore, seed: Option<u32>) -> Result<Self, CliError> {
        let terrain = match store.meta(GENERATOR_META)? {
            Some(text) => {
                let t: TerrainConfig =
                    serde_json::from_str(&text).map_err(|e| CliError::BadGeneratorMeta(e.to_string()))?;
                t.validate().map_err(|e| CliError::BadGeneratorMeta(e.to_string()))?;
                if let Some(s) = seed
                    && s != t.seed
                {
                    return Err(CliError::SeedMismatch { stored: t.seed, requested: s });
                }
                t
            }
            None => {
                let t =
                    TerrainConfig { seed: seed.unwrap_or(TerrainConfig::default().seed), ..TerrainConfig::default() };
                let text = serde_json::to_string(&t).map_err(|e| CliError::BadGeneratorMeta(e.to_string()))?;
                match store.set_meta(GENERATOR_META, &text) {
                    // Opened read-only: the default settings are used, and not recorded.
                    Err(StoreError::ReadOnly) => {}
                    other => other?,
                }
                t
            }
        };
        Ok(Self { store: Arc::new(store), terrain })
    }

    /// A world over this save.
    pub fn world(&self, config: WorldConfig) -> World {
        let store: Arc<dyn ChunkStore> = self.store.clone();
        World::new(store, Arc::new(NoiseTerrain::new(self.terrain.clone())), config)
    }
}

/// The region and size of the `edit` subcommand's batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EditPlan {
    /// Seed of the batches.
    pub seed: u64,
    /// Voxel writes per batch.
    pub edits_per_batch: usize,
    /// Inclusive lower corner of the edited region.
    pub min: VoxelPos,
    /// Inclusive upper corner of the edited region.
    pub max: VoxelPos,
}

impl EditPlan {
    /// Batch number `index`: random voxels of the region set to random materials 0..20
    /// (then [`EditPlan::block_data`]). Deterministic in (seed, index).
    pub fn batch(&self, index: u64) -> Vec<(VoxelPos, MaterialId)> {
        let mut rng = SplitMix64::new(self.seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F));
        (0..self.edits_per_batch)
            .map(|_| {
                let p = VoxelPos::new(
                    rng.range_inclusive(self.min.x, self.max.x),
                    rng.range_inclusive(self.min.y, self.max.y),
                    rng.range_inclusive(self.min.z, self.max.z),
                );
                (p, MaterialId(rng.below(20) as u16))
            })
            .collect()
    }

    /// The block data batch `index` writes after its voxels: a "chest" record naming the
    /// batch on each of its first [`EditPlan::CHESTS`] writes (the material written there is
    /// what the record belongs to, so a later batch that changes the voxel drops it).
    pub fn block_data(&self, index: u64) -> Vec<(VoxelPos, Vec<u8>)> {
        let writes = self.batch(index);
        writes
            .iter()
            .take(Self::CHESTS)
            .enumerate()
            .map(|(k, (p, _))| (*p, format!("batch {index}, chest {k}").into_bytes()))
            .collect()
    }

    /// Voxels of each batch that get block data ([`EditPlan::block_data`]).
    pub const CHESTS: usize = 8;
}

/// Parses `x,y,z`.
pub fn parse_pos(s: &str) -> Result<VoxelPos, String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let [x, y, z] = parts.as_slice() else {
        return Err(format!("expected x,y,z but got {s:?}"));
    };
    let p = |v: &str| v.parse::<i32>().map_err(|e| format!("bad coordinate {v:?} in {s:?}: {e}"));
    Ok(VoxelPos::new(p(x)?, p(y)?, p(z)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_deterministic_and_in_region() {
        let plan =
            EditPlan { seed: 5, edits_per_batch: 100, min: VoxelPos::new(-10, 0, -10), max: VoxelPos::new(10, 5, 10) };
        assert_eq!(plan.batch(3), plan.batch(3));
        assert_ne!(plan.batch(3), plan.batch(4));
        for (p, m) in plan.batch(1) {
            assert!((-10..=10).contains(&p.x) && (0..=5).contains(&p.y) && (-10..=10).contains(&p.z));
            assert!(m.0 < 20);
        }
    }

    #[test]
    fn parse_positions() {
        assert_eq!(parse_pos("1,-2, 3"), Ok(VoxelPos::new(1, -2, 3)));
        assert!(parse_pos("1,2").is_err());
        assert!(parse_pos("1,2,x").is_err());
    }

    #[test]
    fn save_records_and_checks_seed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.strata");
        assert_eq!(Save::open(&path, Some(11)).unwrap().terrain.seed, 11);
        assert_eq!(Save::open(&path, None).unwrap().terrain.seed, 11);
        assert!(matches!(Save::open(&path, Some(12)), Err(CliError::SeedMismatch { stored: 11, requested: 12 })));
    }

    /// Settings that parse but are out of range (here a sea level at the top of the `i32`
    /// range, which overflowed the generator) are refused with the field named, not used.
    #[test]
    fn out_of_range_stored_settings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.strata");
        {
            let store = RedbStore::open(&path).unwrap();
            let t = TerrainConfig { sea_level: i32::MAX, ..TerrainConfig::default() };
            store.set_meta(GENERATOR_META, &serde_json::to_string(&t).unwrap()).unwrap();
        }
        match Save::open(&path, None) {
            Err(CliError::BadGeneratorMeta(why)) => assert!(why.contains("sea_level"), "{why}"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("out-of-range settings were accepted"),
        }
    }
}
