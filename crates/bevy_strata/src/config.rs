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
    /// Where edits are saved: the path of the embedded redb file (created if missing; a URL is
    /// refused with `StartupError::NotAFilePath`). `None`: an in-memory world (edits are not
    /// persisted). Ignored when the plugin is given a store or a store opener
    /// (`StrataPlugin::with_store`, `StrataPlugin::with_store_opener`: a Redis Cluster).
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
    /// Measure distances in whole chunks, as a "render distance in chunks" (and
    /// `bevy_voxel_world`) does: from the chunk holding the viewer to a node's nearest chunk
    /// (`ViewRule::ChunkLattice`). Default `false`: from the viewer to the node's box
    /// (`ViewRule::NodeBox`), which shows a few more chunks at the same view distance.
    pub view_distance_in_chunks: bool,
    /// The most load and meshing tasks in flight, or finished and not applied yet, at once. The
    /// plugin keeps as many as keep every worker busy until the next frame, measured from the
    /// tasks' and frames' times (`StreamStats::in_flight_target`); this only caps that.
    /// Default 1,024; no value in the valid range stalls the pipeline.
    pub max_tasks_in_flight: usize,
    /// The most finished results applied per frame. What normally limits them is
    /// `apply_budget_ms` (main-thread time, measured); this only caps the count. Default 4,096.
    pub max_results_per_frame: usize,
    /// Main-thread time per frame for applying finished results (meshes shown, chunks handed
    /// to the world), in milliseconds; handing out new work gets half as much again. Default 3.
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
    /// Sky light and block light in full-detail meshes (`strata_mesh::LightField`): caves are
    /// dark, emitters (`light` in `materials.ron`) light their surroundings, light enters
    /// through openings and fades one level per voxel of water; chunk meshes wait for the shown
    /// chunks around them (light reaches 14 voxels), and an edit remeshes its 3 × 3 × 3 chunks
    /// and the chunks below whose sky it may open or close. Coarse LOD nodes are in full
    /// daylight. Default `true`; `false` meshes everything in full daylight (a little less work
    /// per chunk).
    pub light: bool,
    /// Fluids darken and turn opaque with the depth of fluid behind each face (a sea hides its
    /// floor, a shore stays clear; see `strata_mesh::MeshBuffers::fluid_depth` and
    /// [`fluid_shade`](crate::fluid_shade)). Default `true`.
    pub fluid_depth: bool,
    /// Keep node meshes' vertex data in the main world after it is uploaded to the GPU, for
    /// systems that read `Assets<Mesh>` (trimesh colliders, Bevy's mesh picking). Default
    /// `false`: node meshes are `RenderAssetUsages::RENDER_WORLD`, so the render world takes the
    /// data when it extracts them and the main world keeps only the mesh's bounds (Bevy
    /// precomputes them); an app without a render world (headless) never extracts, so it keeps
    /// the data either way.
    pub keep_mesh_data: bool,
    /// Give node meshes the texture-array layer and AO of each vertex (`Mesh::ATTRIBUTE_UV_1`,
    /// 8 bytes per vertex) when the material registry names textures. `StrataTexturesPlugin`
    /// turns it on; set it yourself for a texture material of your own. Default `false`.
    pub texture_layers: bool,
    /// Render-space distance from the origin at which the floating origin recentres.
    pub recenter_distance: f32,
    /// Seconds an LOD change cross-fades: the display of a node the viewer's move replaced
    /// fades out while the displays replacing it fade in, dithered (see
    /// [`lod_fade`](crate::lod_fade)). Default 0.25; 0 swaps in one frame.
    pub lod_fade_s: f32,
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
            view_distance_in_chunks: false,
            max_tasks_in_flight: 1024,
            max_results_per_frame: 4096,
            apply_budget_ms: 3.0,
            commit_interval_s: 5.0,
            voxel_budget_mib: 256,
            ambient_occlusion: true,
            light: true,
            fluid_depth: true,
            keep_mesh_data: false,
            texture_layers: false,
            recenter_distance: 1024.0,
            lod_fade_s: 0.25,
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
    /// A value is NaN, infinite or outside its documented range.
    #[error("config {field} is {value}, outside {range}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
        /// The accepted range, in words.
        range: &'static str,
    },
    /// The LOD settings with this view distance would make each LOD plan visit too many nodes
    /// (or are out of range; see `strata_stream::lod_select::LodSettings::validate`).
    #[error("config LOD settings: {0}")]
    Lod(#[from] strata_stream::lod_select::LodSettingsError),
}

/// Checks that `value` is finite and in `lo..=hi`.
pub(crate) fn check_range(
    field: &'static str,
    value: f64,
    lo: f64,
    hi: f64,
    range: &'static str,
) -> Result<(), ConfigError> {
    if value.is_finite() && (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange { field, value, range })
    }
}

impl StrataConfig {
    /// Parses RON; fields left out keep their defaults. The result is checked with
    /// [`StrataConfig::validate`].
    pub fn from_ron_str(text: &str) -> Result<Self, ConfigError> {
        let config: Self = ron::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every field against its documented range:
    ///
    /// | field | range |
    /// |---|---|
    /// | `view_distance` | `1..=2³⁰` voxels, and with the LOD settings at most 2¹⁷ nodes visited per plan ([`strata_stream::lod_select::LodSettings::validate`]) |
    /// | `lod_max_level` | `0..=`[`crate::MAX_LOD_LEVEL`] |
    /// | `lod_split_distance` | `0..=64` node edges |
    /// | `lod_hysteresis` | `0..=4` |
    /// | `lod_min_move` | `0..=1024` voxels |
    /// | `max_tasks_in_flight` | `1..=4096` |
    /// | `max_results_per_frame` | `1..=65,536` |
    /// | `apply_budget_ms` | `0.01..=1000` |
    /// | `commit_interval_s` | `0..=86,400` |
    /// | `voxel_budget_mib` | `1..=2²⁰` (1 TiB) |
    /// | `recenter_distance` | `1..=2²⁰` |
    /// | `lod_fade_s` | `0..=10` |
    ///
    /// The plugin checks the configuration it is built with, and every change made to the
    /// resource at run time: a change that fails is undone (see [`crate::StrataConfigRejected`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_range("view_distance", f64::from(self.view_distance), 1.0, f64::from(1u32 << 30), "1..=2^30 voxels")?;
        check_range("lod_max_level", f64::from(self.lod_max_level), 0.0, f64::from(crate::MAX_LOD_LEVEL), "0..=12")?;
        check_range("lod_split_distance", f64::from(self.lod_split_distance), 0.0, 64.0, "0..=64")?;
        check_range("lod_hysteresis", f64::from(self.lod_hysteresis), 0.0, 4.0, "0..=4")?;
        check_range("lod_min_move", f64::from(self.lod_min_move), 0.0, 1024.0, "0..=1024 voxels")?;
        check_range("max_tasks_in_flight", self.max_tasks_in_flight as f64, 1.0, 4096.0, "1..=4096")?;
        check_range("max_results_per_frame", self.max_results_per_frame as f64, 1.0, 65_536.0, "1..=65536")?;
        check_range("apply_budget_ms", f64::from(self.apply_budget_ms), 0.01, 1000.0, "0.01..=1000 ms")?;
        check_range("commit_interval_s", f64::from(self.commit_interval_s), 0.0, 86_400.0, "0..=86400 s")?;
        check_range("voxel_budget_mib", self.voxel_budget_mib as f64, 1.0, f64::from(1u32 << 20), "1..=2^20 MiB")?;
        check_range("recenter_distance", f64::from(self.recenter_distance), 1.0, f64::from(1u32 << 20), "1..=2^20")?;
        check_range("lod_fade_s", f64::from(self.lod_fade_s), 0.0, 10.0, "0..=10 s")?;
        self.lod_settings().validate(f64::from(self.view_distance))?;
        Ok(())
    }

    /// The largest view distance (voxels, a multiple of 32) that [`StrataConfig::validate`]
    /// accepts with the other settings as they are; 0 if none does. The debug UI's slider ends
    /// here.
    pub fn max_view_distance(&self) -> f32 {
        let ok = |d: f32| StrataConfig { view_distance: d, ..self.clone() }.validate().is_ok();
        let (mut lo, mut hi) = (0u32, 1u32 << 25); // in units of 32 voxels
        if !ok(32.0) {
            return 0.0;
        }
        // Largest accepted multiple of 32: `ok` is monotone in the distance.
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if ok(mid as f32 * 32.0) { lo = mid } else { hi = mid }
        }
        lo as f32 * 32.0
    }

    /// Reads and parses a RON file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { path: path.display().to_string(), source })?;
        Self::from_ron_str(&text)
    }

    /// The LOD settings for the selector.
    pub(crate) fn lod_settings(&self) -> strata_stream::lod_select::LodSettings {
        strata_stream::lod_select::LodSettings {
            max_level: self.lod_max_level.min(crate::MAX_LOD_LEVEL),
            split_distance: f64::from(self.lod_split_distance.max(0.0)),
            hysteresis: f64::from(self.lod_hysteresis.max(0.0)),
            view_rule: if self.view_distance_in_chunks {
                strata_stream::lod_select::ViewRule::ChunkLattice
            } else {
                strata_stream::lod_select::ViewRule::NodeBox
            },
        }
    }
}

/// The last [`StrataConfig`] that passed validation, and the largest view distance it allows
/// (viewers' own distances are capped to it).
#[derive(Resource, Clone, Debug)]
pub(crate) struct AcceptedConfig {
    pub(crate) config: StrataConfig,
    pub(crate) max_view_distance: f32,
}

impl AcceptedConfig {
    pub(crate) fn new(config: StrataConfig) -> Self {
        let max_view_distance = config.max_view_distance();
        Self { config, max_view_distance }
    }
}

/// Checks every change to the [`StrataConfig`] resource: an accepted change becomes the new
/// accepted config; a rejected one is undone (the resource is set back to the accepted config)
/// and reported with [`crate::StrataConfigRejected`] and a warning.
pub(crate) fn check_config(
    mut config: ResMut<StrataConfig>,
    mut accepted: ResMut<AcceptedConfig>,
    mut rejected: MessageWriter<crate::StrataConfigRejected>,
) {
    if !config.is_changed() || *config == accepted.config {
        return;
    }
    match config.validate() {
        Ok(()) => *accepted = AcceptedConfig::new(config.clone()),
        Err(e) => {
            warn!("StrataConfig change refused, previous values kept: {e}");
            rejected.write(crate::StrataConfigRejected { resource: "StrataConfig", reason: e.to_string() });
            *config = accepted.config.clone();
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
        assert!(matches!(
            StrataConfig::from_ron_str("(commit_interval_s: -1.0)"),
            Err(ConfigError::OutOfRange { field: "commit_interval_s", .. })
        ));
        assert!(matches!(StrataConfig::load("/no/such/file.ron"), Err(ConfigError::Io { .. })));
    }

    /// Every value the issue found harmful is refused with the field named; the defaults and
    /// the examples' settings pass.
    #[test]
    fn validation_refuses_harmful_values() {
        StrataConfig::default().validate().unwrap();
        let globe = StrataConfig {
            view_distance: 131_072.0,
            lod_max_level: crate::MAX_LOD_LEVEL,
            lod_split_distance: 2.0,
            ..default()
        };
        globe.validate().unwrap();
        let field = |c: StrataConfig| match c.validate() {
            Err(ConfigError::OutOfRange { field, .. }) => field,
            Err(ConfigError::Lod(_)) => "lod",
            other => panic!("{other:?}"),
        };
        let d = StrataConfig::default;
        assert_eq!(field(StrataConfig { view_distance: f32::NAN, ..d() }), "view_distance");
        assert_eq!(field(StrataConfig { view_distance: f32::INFINITY, ..d() }), "view_distance");
        assert_eq!(field(StrataConfig { lod_max_level: 0, view_distance: 200_000.0, ..d() }), "lod");
        assert_eq!(field(StrataConfig { lod_max_level: 13, ..d() }), "lod_max_level");
        assert_eq!(field(StrataConfig { max_tasks_in_flight: 0, ..d() }), "max_tasks_in_flight");
        assert_eq!(field(StrataConfig { apply_budget_ms: f32::NAN, ..d() }), "apply_budget_ms");
        assert_eq!(field(StrataConfig { commit_interval_s: f32::INFINITY, ..d() }), "commit_interval_s");
        assert_eq!(field(StrataConfig { voxel_budget_mib: usize::MAX, ..d() }), "voxel_budget_mib");
        assert_eq!(field(StrataConfig { recenter_distance: 0.0, ..d() }), "recenter_distance");
        assert_eq!(field(StrataConfig { lod_fade_s: f32::NAN, ..d() }), "lod_fade_s");
        assert_eq!(field(StrataConfig { lod_fade_s: -0.5, ..d() }), "lod_fade_s");
        assert_eq!(field(StrataConfig { lod_min_move: -1.0, ..d() }), "lod_min_move");
    }

    #[test]
    fn max_view_distance_is_the_largest_accepted() {
        for c in [
            StrataConfig::default(),
            StrataConfig { lod_max_level: 0, ..default() },
            StrataConfig { lod_max_level: 12, lod_split_distance: 6.0, lod_hysteresis: 1.0, ..default() },
        ] {
            let max = c.max_view_distance();
            if max > 0.0 {
                assert!(StrataConfig { view_distance: max, ..c.clone() }.validate().is_ok(), "{c:?}");
            }
            assert!(StrataConfig { view_distance: max + 32.0, ..c.clone() }.validate().is_err(), "{c:?}");
        }
        assert!(StrataConfig { lod_max_level: 0, ..default() }.max_view_distance() < 2_000.0);
    }

    #[test]
    fn shipped_config_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/strata.ron");
        StrataConfig::load(path).unwrap();
    }
}
