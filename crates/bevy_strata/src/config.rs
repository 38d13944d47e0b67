//! Plugin configuration: a `Resource` (change it at run time) that is also serde- and
//! Reflect-enabled, loadable from RON (`assets/strata.ron`).

use bevy::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything the plugin can be tuned with. Every field has a default that works out of the box
/// on a 2-core machine.
#[derive(Resource, Reflect, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[reflect(Resource)]
#[serde(default)]
pub struct StrataConfig {
    /// Where edits are saved: a file path (the embedded redb store), or with the cargo feature
    /// `redis` a Redis Cluster URL `redis+cluster://host:port,host:port/?world=name&…` (see
    /// `strata_redis::RedisClusterConfig`). `None`: an in-memory world (edits are not persisted).
    pub save_path: Option<String>,
    /// Seed of the default terrain generator (ignored when the plugin is given a generator).
    pub terrain_seed: u32,
    /// How far viewers see, in voxels (a viewer's own `view_distance` overrides it).
    pub view_distance: f32,
    /// Coarsest octree level streamed (nodes of 2^level chunks per side, at most
    /// [`crate::MAX_LOD_LEVEL`]).
    pub lod_max_level: u32,
    /// A node is split into finer ones while a viewer is closer than this many node edges.
    pub lod_split_distance: f32,
    /// Extra fraction of distance before a split node merges or a shown node leaves the view.
    pub lod_hysteresis: f32,
    /// Voxels a viewer must move from where the LOD selection was last computed before it is
    /// computed again (`LodSelector::min_move`; far inside the hysteresis band). 0 recomputes
    /// every frame. Default 2.
    pub lod_min_move: f32,
    /// Meshing tasks in flight at once.
    pub max_tasks_in_flight: usize,
    /// Finished results applied per frame at most.
    pub max_results_per_frame: usize,
    /// Main-thread time per frame for applying results, in milliseconds.
    pub apply_budget_ms: f32,
    /// Seconds between periodic durable commits of edits (also committed on exit).
    pub commit_interval_s: f32,
    /// The residency budget, MiB: decompressed voxel data held by the world cache **and** the
    /// index together. Chunks outside it (least recently used first) are released: the cache
    /// evicts them and the index keeps only a summary (edited chunks) or forgets them (generator
    /// chunks, made again when needed). Dirty chunks and the index's own data (generated stubs,
    /// LOD grids of shown nodes) always stay, so the cache gets what the index leaves (at least
    /// a quarter). Chunks that leave the view (past the LOD hysteresis) are released at once;
    /// the budget bounds what is left, so it should hold the view. Default 256. (RON files may still call it `cache_mib`.)
    #[serde(alias = "cache_mib")]
    pub voxel_budget_mib: usize,
    /// Per-vertex ambient occlusion in meshes.
    pub ambient_occlusion: bool,
    /// Keep node meshes' vertex data in the main world after it is uploaded to the GPU, for
    /// systems that read `Assets<Mesh>` (trimesh colliders, Bevy's mesh picking). Default
    /// `false`: node meshes are `RenderAssetUsages::RENDER_WORLD`, so the render world takes the
    /// data when it extracts them and the main world keeps only the mesh's bounds (Bevy
    /// precomputes them); an app without a render world (headless) never extracts, so it keeps
    /// the data either way.
    pub keep_mesh_data: bool,
    /// Render-space distance from the origin at which the floating origin recentres.
    pub recenter_distance: f32,
}

impl Default for StrataConfig {
    fn default() -> Self {
        Self {
            save_path: None,
            terrain_seed: 7,
            view_distance: 384.0,
            lod_max_level: 3,
            lod_split_distance: 1.5,
            lod_hysteresis: 0.25,
            lod_min_move: 2.0,
            max_tasks_in_flight: 64,
            max_results_per_frame: 64,
            apply_budget_ms: 3.0,
            commit_interval_s: 5.0,
            voxel_budget_mib: 256,
            ambient_occlusion: true,
            keep_mesh_data: false,
            recenter_distance: 1024.0,
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The RON does not parse.
    #[error("config does not parse: {0}")]
    Parse(String),
}

impl StrataConfig {
    /// Parses RON; fields left out keep their defaults.
    pub fn from_ron_str(text: &str) -> Result<Self, ConfigError> {
        ron::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// Reads and parses a RON file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { path: path.display().to_string(), source })?;
        Self::from_ron_str(&text)
    }

    /// The LOD settings for the selector.
    pub(crate) fn lod_settings(&self) -> strata_index::lod_select::LodSettings {
        strata_index::lod_select::LodSettings {
            max_level: self.lod_max_level.min(crate::MAX_LOD_LEVEL),
            split_distance: f64::from(self.lod_split_distance.max(0.0)),
            hysteresis: f64::from(self.lod_hysteresis.max(0.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ron_round_trip_and_partial_files() {
        let c = StrataConfig { save_path: Some("w.strata".into()), view_distance: 99.0, ..default() };
        let text = ron::to_string(&c).unwrap();
        assert_eq!(StrataConfig::from_ron_str(&text).unwrap(), c);
        let partial = StrataConfig::from_ron_str("(view_distance: 12.0)").unwrap();
        assert_eq!(partial.view_distance, 12.0);
        assert_eq!(partial.max_tasks_in_flight, StrataConfig::default().max_tasks_in_flight);
        assert!(matches!(StrataConfig::from_ron_str("(view_distance: \"far\")"), Err(ConfigError::Parse(_))));
        assert!(matches!(StrataConfig::load("/no/such/file.ron"), Err(ConfigError::Io { .. })));
    }

    #[test]
    fn shipped_config_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/strata.ron");
        StrataConfig::load(path).unwrap();
    }
}
