//! Bevy plugin for Strata: streams a voxel world around [`StreamingViewer`]s with octree LOD,
//! loads and meshes on Bevy's task pools within a main-thread budget, and offers edits,
//! ray casts, a `bevy_picking` backend, durable persistence and diagnostics.
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_strata::prelude::*;
//!
//! App::new()
//!     .add_plugins((DefaultPlugins, StrataPlugin::new(StrataConfig { save_path: Some("world.strata".into()), ..default() })))
//!     .add_systems(Startup, |mut commands: Commands| {
//!         commands.spawn((Camera3d::default(), Transform::from_xyz(0.0, 40.0, 0.0), StreamingViewer::default(), FloatingOrigin));
//!     })
//!     .run();
//! ```
//!
//! Every decision (which nodes to show, how to mesh, where a ray hits) is a plain function in an
//! engine-free `strata_*` crate; this crate moves data between the ECS and those crates and runs
//! their work on task pools. All systems belong to the documented [`StrataSystems`] sets.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
pub mod diagnostics;
mod jobs;
mod mesh_build;
mod messages;
mod persistence;
mod picking;
mod sets;
mod state;
mod streaming;
mod viewer;
mod voxel_world;

pub use config::{ConfigError, StrataConfig};
pub use mesh_build::{ATTRIBUTE_MATERIAL, to_bevy_mesh};
pub use messages::{ChunkLoaded, ChunkRemeshed, ChunkUnloaded, VoxelPicked, VoxelsEdited};
pub use persistence::Persistence;
pub use picking::StrataPickingSettings;
pub use sets::StrataSystems;
pub use state::StrataWorld;
pub use streaming::{StrataNode, StreamStats, Streaming};
pub use viewer::{FloatingOrigin, StrataOrigin, StreamingViewer, ViewerPositions};
pub use voxel_world::{VoxelHit, VoxelWorld};

use bevy::app::PluginGroupBuilder;
use bevy::asset::AssetPlugin;
use bevy::picking::PickingSystems;
use bevy::picking::backend::PointerHits;
use bevy::prelude::*;
use std::sync::Arc;
use strata_core::{
    ChunkStore, MaterialRegistry, MemoryStore, NoiseTerrain, RedbStore, TerrainConfig, World, WorldConfig,
    WorldGenerator,
};
use strata_index::{IndexConfig, IndexWriter};

/// The names most users need: `use bevy_strata::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ChunkLoaded, ChunkRemeshed, ChunkUnloaded, FloatingOrigin, StrataConfig, StrataMinimalPlugins, StrataOrigin,
        StrataPlugin, StrataSystems, StreamingViewer, VoxelHit, VoxelPicked, VoxelWorld, VoxelsEdited,
    };
    pub use strata_core::{MaterialId, VoxelPos};
}

/// The Strata plugin. Requires `AssetPlugin` (part of `DefaultPlugins`; headless apps add
/// [`StrataMinimalPlugins`] after `MinimalPlugins`).
#[derive(Clone)]
pub struct StrataPlugin {
    /// Initial configuration (also inserted as a `Resource` you can change at run time).
    pub config: StrataConfig,
    /// The world generator; `None`: [`NoiseTerrain`] seeded with `config.terrain_seed`.
    pub generator: Option<Arc<dyn WorldGenerator>>,
    /// Material definitions; `None`: the built-in `assets/materials.ron`.
    pub materials: Option<MaterialRegistry>,
}

impl Default for StrataPlugin {
    fn default() -> Self {
        Self::new(StrataConfig::default())
    }
}

impl StrataPlugin {
    /// A plugin with `config`, the default terrain and the built-in materials.
    pub fn new(config: StrataConfig) -> Self {
        Self { config, generator: None, materials: None }
    }

    /// Uses `generator` as the world's baseline.
    pub fn with_generator(mut self, generator: Arc<dyn WorldGenerator>) -> Self {
        self.generator = Some(generator);
        self
    }

    /// Uses `materials` instead of the built-in registry.
    pub fn with_materials(mut self, materials: MaterialRegistry) -> Self {
        self.materials = Some(materials);
        self
    }

    fn open_store(&self) -> Arc<dyn ChunkStore> {
        match &self.config.save_path {
            None => Arc::new(MemoryStore::new()),
            Some(path) => match RedbStore::open(path) {
                Ok(s) => Arc::new(s),
                // Build time, with a message that says what to do.
                Err(e) => panic!(
                    "StrataPlugin: cannot open the save {path:?}: {e}. Check the path, close other programs using it, or \
                     set StrataConfig::save_path to None for an in-memory world."
                ),
            },
        }
    }
}

impl Plugin for StrataPlugin {
    fn build(&self, app: &mut App) {
        assert!(
            app.is_plugin_added::<AssetPlugin>(),
            "StrataPlugin needs AssetPlugin: add DefaultPlugins before it, or for a headless app \
             `.add_plugins((MinimalPlugins, StrataMinimalPlugins::new(config)))`."
        );
        if !app.world().contains_resource::<Assets<Mesh>>() {
            app.init_asset::<Mesh>();
        }
        let generator: Arc<dyn WorldGenerator> = self.generator.clone().unwrap_or_else(|| {
            Arc::new(NoiseTerrain::new(TerrainConfig { seed: self.config.terrain_seed, ..TerrainConfig::default() }))
        });
        let registry = self.materials.clone().unwrap_or_else(MaterialRegistry::builtin);
        let store = self.open_store();
        let world =
            World::new(store.clone(), generator.clone(), WorldConfig { cache_bytes: self.config.cache_mib << 20 });
        let mut writer = IndexWriter::new(generator, IndexConfig::default());
        if let Err(e) = writer.bulk_load_store(store.as_ref(), Vec::new(), 1) {
            panic!(
                "StrataPlugin: the save has unreadable chunks ({e}); run `strata verify --save <path>` to list them"
            );
        }
        writer.publish();

        app.insert_resource(self.config.clone())
            .register_type::<StrataConfig>()
            .register_type::<StreamingViewer>()
            .register_type::<FloatingOrigin>()
            .register_type::<StrataOrigin>()
            .insert_resource(StrataWorld::new(world, writer, registry))
            .init_resource::<StrataOrigin>()
            .init_resource::<ViewerPositions>()
            .init_resource::<Streaming>()
            .init_resource::<Persistence>()
            .init_resource::<StrataPickingSettings>()
            .add_message::<ChunkLoaded>()
            .add_message::<ChunkUnloaded>()
            .add_message::<ChunkRemeshed>()
            .add_message::<VoxelsEdited>()
            .add_message::<VoxelPicked>()
            .add_message::<PointerHits>()
            .configure_sets(
                Update,
                (
                    StrataSystems::TrackViewers,
                    StrataSystems::PlanLod,
                    StrataSystems::ApplyEdits,
                    StrataSystems::Dispatch,
                    StrataSystems::Poll,
                    StrataSystems::Apply,
                )
                    .chain(),
            )
            .configure_sets(Last, (StrataSystems::Persist, StrataSystems::Diagnostics).chain())
            .configure_sets(PreUpdate, StrataSystems::Picking.in_set(PickingSystems::Backend))
            .add_systems(
                Update,
                (
                    (viewer::recenter_origin, viewer::track_viewers).chain().in_set(StrataSystems::TrackViewers),
                    streaming::plan_lod.in_set(StrataSystems::PlanLod),
                    streaming::apply_edits.in_set(StrataSystems::ApplyEdits),
                    streaming::dispatch.in_set(StrataSystems::Dispatch),
                    streaming::poll.in_set(StrataSystems::Poll),
                    streaming::apply_results.in_set(StrataSystems::Apply),
                ),
            )
            .add_systems(PreUpdate, picking::update_hits.in_set(StrataSystems::Picking))
            .add_systems(
                Last,
                (
                    (persistence::periodic_commit, persistence::commit_on_exit).chain().in_set(StrataSystems::Persist),
                    diagnostics::measure.in_set(StrataSystems::Diagnostics),
                ),
            );
        diagnostics::register(app);
    }
}

/// Strata for headless apps: `AssetPlugin` (which `MinimalPlugins` lacks) and [`StrataPlugin`].
/// Use `App::new().add_plugins((MinimalPlugins, StrataMinimalPlugins::new(config)))`.
pub struct StrataMinimalPlugins {
    plugin: StrataPlugin,
}

impl StrataMinimalPlugins {
    /// The group with `config`.
    pub fn new(config: StrataConfig) -> Self {
        Self { plugin: StrataPlugin::new(config) }
    }

    /// The group around an already configured plugin.
    pub fn with_plugin(plugin: StrataPlugin) -> Self {
        Self { plugin }
    }
}

impl PluginGroup for StrataMinimalPlugins {
    fn build(self) -> PluginGroupBuilder {
        PluginGroupBuilder::start::<Self>().add(AssetPlugin::default()).add(self.plugin)
    }
}
