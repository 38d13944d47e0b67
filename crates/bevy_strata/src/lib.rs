//! Bevy plugin for Strata: streams a voxel world around [`StreamingViewer`]s with octree LOD,
//! loads and meshes on Bevy's task pools within a main-thread budget, and offers edits,
//! ray casts, a `bevy_picking` backend, durable persistence and diagnostics.
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_strata::prelude::*;
//!
//! App::new()
//!     .add_plugins((DefaultPlugins, StrataPlugin::new(StrataConfig::default()).with_save_file("world.strata")))
//!     .add_systems(Startup, |mut commands: Commands| {
//!         commands.spawn((Camera3d::default(), Transform::from_xyz(0.0, 40.0, 0.0), StreamingViewer::default(), StrataFloatingOrigin));
//!     })
//!     .run();
//! ```
//!
//! Every decision (which nodes to show, how to mesh, where a ray hits) is a plain function in an
//! engine-free `strata_*` crate; this crate moves data between the ECS and those crates and runs
//! their work on task pools. All systems belong to the documented [`StrataSystems`] sets.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod atmosphere;
#[cfg(feature = "avian")]
pub mod colliders;
mod config;
#[cfg(feature = "debug_ui")]
pub mod debug_ui;
pub mod diagnostics;
pub mod geology;
mod jobs;
pub mod lod_fade;
pub mod materials_reload;
mod mesh_build;
mod messages;
pub mod metrics;
mod mover;
#[cfg(feature = "net")]
pub mod net;
mod node_material;
mod pacing;
pub mod persist;
mod persistence;
mod picking;
mod sets;
mod startup;
mod state;
mod streaming;
pub mod textures;
mod viewer;
mod voxel_world;

pub use atmosphere::{AtmospherePlanet, StrataAtmosphere, StrataAtmospherePlugin};
pub use config::{ConfigError, StrataConfig};
pub use geology::{GeologySettings, GeologyStats, StrataGeologyPlugin};
pub use lod_fade::{StrataLodFade, StrataLodFadeShader};
pub use materials_reload::{StrataMaterialsReloadPlugin, StrataMaterialsReloaded};
pub use mesh_build::{ATTRIBUTE_MATERIAL, MIN_VOXEL_LIGHT, fluid_shade, to_bevy_mesh, voxel_light};
pub use messages::{
    CommitFailed, EditsCommitted, GameDataEdited, NodeMeshed, NodeRemeshed, NodeUnloaded, StrataConfigRejected,
    VoxelPicked, VoxelsEdited,
};
pub use metrics::{StrataMetrics, StrataMetricsPlugin};
pub use mover::VoxelMover;
pub use node_material::{StrataMaterial, StrataMaterialPlugin, StrataStandardMaterial, StrataSurface};
pub use persist::{PersistWithChunk, StrataPersistPlugin};
pub use persistence::{CommitRequest, StrataPersistence};
pub use picking::StrataPickingSettings;
pub use sets::{StrataSchedule, StrataSystems};
pub use startup::{StartupError, StartupReport, StrataStatus, StrataStatusChanged, strata_ready};
pub use state::StrataWorld;
pub use streaming::{LOAD_RETRY_MAX, StrataNode, StrataStreaming, StreamStats};
pub use textures::{StrataTextureMaterial, StrataTextures, StrataTexturesPlugin};
pub use viewer::{StrataFloatingOrigin, StrataOrigin, StreamingViewer, ViewerPositions};
pub use voxel_world::{VoxelHit, VoxelWorld};

use bevy::app::{PluginGroupBuilder, TaskPoolOptions, TaskPoolThreadAssignmentPolicy};
use bevy::asset::AssetPlugin;
use bevy::ecs::schedule::{InternedScheduleLabel, ScheduleLabel};
use bevy::picking::PickingSystems;
use bevy::picking::backend::PointerHits;
use bevy::prelude::*;
use startup::{OpeningStore, StartupTask};
use std::sync::Arc;
use strata_core::{ChunkStore, MaterialRegistry, PaletteRules, StoreError, World, WorldConfig, WorldGenerator};
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_index::{IndexConfig, IndexWriter};

/// The coarsest LOD level the plugin shows: a level-12 node is 2¹² chunks (131,072 voxels) on
/// a side, enough to show a whole planet of radius 2¹⁶ in a handful of nodes. Every level shows
/// edits: up to the index's [`strata_index::ROOT_LEVEL`] from the octree's grids, above it from
/// the generator with edited chunks' cells folded in ([`strata_index::above_roots`]).
pub const MAX_LOD_LEVEL: u32 = 12;

/// Bevy's task pools set up for streaming: the I/O and async-compute threads run at a lower OS
/// priority (about nice 10 on Linux), so on a machine with few cores they soak up idle CPU
/// without stretching the frames of the main thread, the compute pool that runs systems, or
/// the render thread. Thread counts stay Bevy's defaults (on 2 cores: one I/O, one
/// async-compute, one compute thread). All of Strata's CPU work (generation, LOD grids,
/// meshing, index updates, colliders, geology) runs on async compute; the I/O pool only reads
/// stores. (Measured on 2 cores, LOD-0 fly-through: a second async-compute thread left the
/// first view as fast — the main thread hands out the work, not the workers, bounds it — and
/// raised the loading frames' p99 from 4.5–6.3 ms to 7.8–11.7 ms.)
///
/// Use it in place of the default `TaskPoolPlugin`, which creates the pools before any other
/// plugin builds: `DefaultPlugins.set(bevy_strata::task_pool_plugin())`, or
/// `MinimalPlugins.set(bevy_strata::task_pool_plugin())` headless.
pub fn task_pool_plugin() -> TaskPoolPlugin {
    let defaults = TaskPoolOptions::default();
    TaskPoolPlugin {
        task_pool_options: TaskPoolOptions {
            io: background_threads(defaults.io),
            async_compute: background_threads(defaults.async_compute),
            ..defaults
        },
    }
}

/// `policy` with its threads started at the lower OS priority [`task_pool_plugin`] gives the
/// I/O and async-compute pools: for apps that choose their own thread counts
/// (`TaskPoolOptions { io: background_threads(…), … }`).
pub fn background_threads(policy: TaskPoolThreadAssignmentPolicy) -> TaskPoolThreadAssignmentPolicy {
    TaskPoolThreadAssignmentPolicy { on_thread_spawn: Some(Arc::new(lower_thread_priority)), ..policy }
}

fn lower_thread_priority() {
    use thread_priority::{ThreadPriority, ThreadPriorityValue, set_current_thread_priority};
    // 25 of 0–99: nice ≈ 10 on Linux, "below normal" elsewhere. Lowering needs no privileges;
    // if the OS refuses anyway, the thread keeps running at normal priority.
    if let Ok(p) = ThreadPriorityValue::try_from(25u8) {
        let _ = set_current_thread_priority(ThreadPriority::Crossplatform(p));
    }
}

pub mod prelude {
    //! Everything a game needs from Strata in one import: `use bevy_strata::prelude::*;`.
    //!
    //! - Plugins: [`StrataPlugin`] (and [`StrataMinimalPlugins`] for headless apps), the companion
    //!   plugins [`StrataTexturesPlugin`], [`StrataMaterialsReloadPlugin`], [`StrataGeologyPlugin`]
    //!   and [`StrataAtmospherePlugin`] (with its camera component [`StrataAtmosphere`]), and
    //!   behind their features
    //!   `StrataCollidersPlugin` (`avian`), `StrataDebugUiPlugin` (`debug_ui`) and
    //!   `StrataNetServerPlugin` / `StrataNetClientPlugin` / `NetPlugins` (`net`).
    //! - Settings and state: [`StrataConfig`], [`GeologySettings`], [`GeologyStats`],
    //!   [`StrataPickingSettings`], [`StrataStreaming`], [`StrataPersistence`], [`StrataTextures`],
    //!   [`StrataStatus`] (`StrataColliderSettings`, `StrataColliders`, `NetServer`, `NetClient`,
    //!   `NetStatus` with their features).
    //! - Components: [`StreamingViewer`], [`VoxelMover`], [`StrataOrigin`],
    //!   [`StrataFloatingOrigin`], [`StrataSurface`] (`CollidesWithVoxels` with `avian`).
    //! - Editing and reading the world: [`VoxelWorld`], [`VoxelHit`], [`CommitRequest`]
    //!   (`ClientEdit` with `net`).
    //! - Messages: [`VoxelsEdited`], [`GameDataEdited`], [`EditsCommitted`], [`CommitFailed`], [`VoxelPicked`],
    //!   [`NodeMeshed`], [`NodeRemeshed`], [`NodeUnloaded`], [`StrataStatusChanged`],
    //!   [`StrataMaterialsReloaded`].
    //! - System sets: [`StrataSystems`].
    //! - Core types: [`ChunkKey`], [`ChunkBox`], [`VoxelPos`], [`MaterialId`],
    //!   [`MaterialRegistry`], [`PaletteRules`], [`EditError`], the [`WorldGenerator`] trait and the built-in
    //!   generators ([`NoiseTerrain`] with its [`TerrainConfig`], the planet [`PlanetGenerator`]
    //!   with its [`PlanetConfig`] and [`GeoCoord`]).
    //!
    //! Specialised pieces stay in their modules: `net::connect` / `net::listen` and the server's
    //! `NetLink`, the geology processes' settings (`strata_geo::geology`, whose `Gravity` would
    //! clash with avian's), diagnostics paths, texture and mesh helpers.
    #[cfg(feature = "avian")]
    pub use crate::colliders::{CollidesWithVoxels, StrataColliderSettings, StrataColliders, StrataCollidersPlugin};
    #[cfg(feature = "debug_ui")]
    pub use crate::debug_ui::StrataDebugUiPlugin;
    #[cfg(feature = "net")]
    pub use crate::net::{
        ClientEdit, NetClient, NetPlugins, NetServer, NetStatus, StrataNetClientPlugin, StrataNetServerPlugin,
    };
    pub use crate::{
        CommitFailed, CommitRequest, EditsCommitted, GameDataEdited, GeologySettings, GeologyStats, NodeMeshed,
        NodeRemeshed, NodeUnloaded, PersistWithChunk, StrataAtmosphere, StrataAtmospherePlugin, StrataConfig,
        StrataFloatingOrigin, StrataGeologyPlugin, StrataMaterialsReloadPlugin, StrataMaterialsReloaded,
        StrataMinimalPlugins, StrataOrigin, StrataPersistPlugin, StrataPersistence, StrataPickingSettings,
        StrataPlugin, StrataStatus, StrataStatusChanged, StrataStreaming, StrataSurface, StrataSystems, StrataTextures,
        StrataTexturesPlugin, StreamingViewer, VoxelHit, VoxelMover, VoxelPicked, VoxelWorld, VoxelsEdited,
    };
    pub use strata_core::{
        ChunkBox, ChunkKey, EditError, MaterialId, MaterialRegistry, PaletteRules, VoxelPos, WorldGenerator,
    };
    pub use strata_geo::{GeoCoord, NoiseTerrain, PlanetConfig, PlanetGenerator, TerrainConfig};
}

/// The README's Rust snippets, compiled as doctests: the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeSnippets;

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
    /// How to read materials the save holds that `materials` no longer defines (default: none,
    /// such a save fails start-up with [`StartupError::Palette`]
    /// naming the material). See [`strata_core::palette`].
    pub palette_rules: PaletteRules,
    /// Where the save comes from (default: the redb file `config.save_path` names).
    pub save: SaveSource,
    /// The schedule the streaming sets run in (default `Update`; [`StrataPlugin::in_schedule`]).
    pub schedule: InternedScheduleLabel,
}

/// Where [`StrataPlugin`]'s save comes from. The plugin knows one backend itself, the embedded
/// redb file; any other store (a Redis Cluster through `strata_redis`, your own backend) is
/// handed in, opened or to be opened, so this crate depends on no other backend.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum SaveSource {
    /// [`StrataConfig::save_path`]: a redb file, opened (or created) on the I/O pool at
    /// start-up; `None`: an in-memory world whose edits are not persisted.
    #[default]
    Embedded,
    /// A store the game opened ([`StrataPlugin::with_store`]).
    Store(Arc<dyn ChunkStore>),
    /// A store the game's function opens on the I/O pool at start-up
    /// ([`StrataPlugin::with_store_opener`]).
    Opener {
        /// Names the save in logs and errors (so it should hold no credentials).
        name: String,
        /// Opens the store; an error (or a panic) fails start-up with [`StrataStatus::Failed`].
        open: Arc<dyn Fn() -> Result<Arc<dyn ChunkStore>, StoreError> + Send + Sync>,
    },
}

impl Default for StrataPlugin {
    fn default() -> Self {
        Self::new(StrataConfig::default())
    }
}

impl StrataPlugin {
    /// A plugin with `config`, the default terrain and the built-in materials.
    ///
    /// # Panics
    /// When the app builds the plugin, if `config` fails [`StrataConfig::validate`] (before
    /// anything is opened or written); [`StrataPlugin::try_new`] returns the error instead.
    pub fn new(config: StrataConfig) -> Self {
        Self {
            config,
            generator: None,
            materials: None,
            palette_rules: PaletteRules::new(),
            save: SaveSource::Embedded,
            schedule: Update.intern(),
        }
    }

    /// [`StrataPlugin::new`] after [`StrataConfig::validate`].
    pub fn try_new(config: StrataConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::new(config))
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

    /// Reads materials the save holds that the registry no longer defines by `rules` (for
    /// example `PaletteRules::new().replace("marble", "stone")`) instead of failing start-up.
    /// A save records its material names ([`strata_core::palette`]): a renumbered
    /// `materials.ron` is read by name without any rule.
    pub fn with_palette_rules(mut self, rules: PaletteRules) -> Self {
        self.palette_rules = rules;
        self
    }

    /// Runs the streaming sets ([`StrataSystems::Move`] … [`StrataSystems::Apply`]) in
    /// `schedule` instead of `Update`: a game that runs its simulation in its own schedule
    /// (or `FixedUpdate`) can stream in step with it. Start-up, picking, persistence and
    /// diagnostics keep their schedules (`PreUpdate`, `Last`).
    pub fn in_schedule(mut self, schedule: impl ScheduleLabel) -> Self {
        self.schedule = schedule.intern();
        self
    }

    /// Saves in the redb file at `path` (created if missing), opened on the I/O pool at
    /// start-up: the embedded default ([`SaveSource::Embedded`] with
    /// [`StrataConfig::save_path`] set).
    pub fn with_save_file(mut self, path: impl Into<String>) -> Self {
        self.config.save_path = Some(path.into());
        self.save = SaveSource::Embedded;
        self
    }

    /// Uses `store`, already open, as the save (any [`ChunkStore`]: your own backend, a store
    /// shared with a server, a wrapper that measures); `config.save_path` is then ignored.
    /// Start-up still reports [`StrataStatus::Ready`] in a frame, as with an opened save.
    pub fn with_store(mut self, store: Arc<dyn ChunkStore>) -> Self {
        self.save = SaveSource::Store(store);
        self
    }

    /// Opens the save with `open` on the I/O pool at start-up, so a store that connects over
    /// the network never blocks a frame; `name` names it in logs and errors (leave credentials
    /// out). `config.save_path` is then ignored. A Redis Cluster:
    ///
    /// ```no_run
    /// # use bevy_strata::prelude::*;
    /// # use std::sync::Arc;
    /// # use strata_core::ChunkStore;
    /// let url = "redis+cluster://10.0.0.1:7000,10.0.0.2:7000/?world=earth";
    /// let plugin = StrataPlugin::new(StrataConfig::default()).with_store_opener("redis earth", move || {
    ///     Ok(Arc::new(strata_redis::open(url)?) as Arc<dyn ChunkStore>)
    /// });
    /// ```
    pub fn with_store_opener(
        mut self,
        name: impl Into<String>,
        open: impl Fn() -> Result<Arc<dyn ChunkStore>, StoreError> + Send + Sync + 'static,
    ) -> Self {
        self.save = SaveSource::Opener { name: name.into(), open: Arc::new(open) };
        self
    }
}

impl Plugin for StrataPlugin {
    fn build(&self, app: &mut App) {
        assert!(
            app.is_plugin_added::<AssetPlugin>(),
            "StrataPlugin needs AssetPlugin: add DefaultPlugins before it, or for a headless app \
             `.add_plugins((MinimalPlugins, StrataMinimalPlugins::new(config)))`."
        );
        if let Err(e) = self.config.validate() {
            panic!("StrataPlugin: invalid StrataConfig: {e}");
        }
        if !app.world().contains_resource::<Assets<Mesh>>() {
            app.init_asset::<Mesh>();
        }
        let generator: Arc<dyn WorldGenerator> = self.generator.clone().unwrap_or_else(|| {
            Arc::new(NoiseTerrain::new(TerrainConfig { seed: self.config.terrain_seed, ..TerrainConfig::default() }))
        });
        let registry = self.materials.clone().unwrap_or_else(MaterialRegistry::builtin);
        // The save opens on the I/O pool (`startup`); the world runs on a stand-in store that
        // answers "unavailable" until then. The index starts empty (start-up follows the view).
        let store = Arc::new(OpeningStore::new());
        let budget = self.config.voxel_budget_mib << 20;
        let world = World::new(
            store.clone(),
            generator.clone(),
            WorldConfig { cache_budget_bytes: budget, ..WorldConfig::default() },
        );
        let writer = IndexWriter::new(generator, IndexConfig::default());
        let startup =
            StartupTask::begin(&self.config, self.save.clone(), store, registry.clone(), self.palette_rules.clone());

        let schedule = self.schedule;
        app.insert_resource(self.config.clone())
            .insert_resource(StrataSchedule(schedule))
            .insert_resource(config::AcceptedConfig::new(self.config.clone()))
            .add_message::<StrataConfigRejected>()
            .register_type::<StrataConfig>()
            .register_type::<StreamingViewer>()
            .register_type::<StrataFloatingOrigin>()
            .register_type::<StrataOrigin>()
            .insert_resource(StrataWorld::new(world, writer, registry, budget))
            .insert_resource(startup)
            .init_resource::<StrataStatus>()
            .init_resource::<StrataStandardMaterial>()
            .init_resource::<StrataLodFadeShader>()
            .init_resource::<StrataOrigin>()
            .init_resource::<ViewerPositions>()
            .init_resource::<StrataStreaming>()
            .init_resource::<StrataPersistence>()
            .init_resource::<StrataPickingSettings>()
            .add_message::<StrataStatusChanged>()
            .add_message::<NodeMeshed>()
            .add_message::<NodeUnloaded>()
            .add_message::<NodeRemeshed>()
            .add_message::<VoxelsEdited>()
            .add_message::<GameDataEdited>()
            .add_message::<EditsCommitted>()
            .add_message::<CommitFailed>()
            .add_message::<VoxelPicked>()
            // Read by the picking backend (VoxelPicked on a press); registered by bevy_picking's
            // input plugin in a full app, here too so headless apps run the backend.
            .add_message::<bevy::picking::pointer::PointerInput>()
            .add_message::<PointerHits>()
            .configure_sets(
                schedule,
                (
                    StrataSystems::Move.run_if(strata_ready),
                    StrataSystems::TrackViewers,
                    (
                        StrataSystems::PlanLod,
                        StrataSystems::ApplyEdits,
                        StrataSystems::Dispatch,
                        StrataSystems::Poll,
                        StrataSystems::Apply,
                    )
                        .chain()
                        .run_if(strata_ready),
                )
                    .chain(),
            )
            .configure_sets(Last, (StrataSystems::Persist, StrataSystems::Diagnostics).chain())
            .configure_sets(PreUpdate, StrataSystems::Picking.in_set(PickingSystems::Backend))
            .configure_sets(PreUpdate, StrataSystems::Startup.before(StrataSystems::Picking))
            .add_systems(
                schedule,
                (
                    mover::move_voxel_movers.in_set(StrataSystems::Move),
                    (config::check_config, viewer::recenter_origin, viewer::track_viewers)
                        .chain()
                        .in_set(StrataSystems::TrackViewers),
                    streaming::plan_lod.in_set(StrataSystems::PlanLod),
                    streaming::apply_edits.in_set(StrataSystems::ApplyEdits),
                    streaming::dispatch.in_set(StrataSystems::Dispatch),
                    streaming::poll.in_set(StrataSystems::Poll),
                    (streaming::apply_results, lod_fade::advance_fades).chain().in_set(StrataSystems::Apply),
                ),
            )
            .add_systems(PreUpdate, picking::update_hits.in_set(StrataSystems::Picking))
            .add_systems(PreUpdate, startup::poll_startup.in_set(StrataSystems::Startup))
            .add_systems(
                Last,
                (
                    (
                        persistence::periodic_commit.run_if(strata_ready),
                        persistence::write_game_values,
                        persistence::commit_on_exit,
                    )
                        .chain()
                        .in_set(StrataSystems::Persist),
                    diagnostics::measure.in_set(StrataSystems::Diagnostics),
                ),
            );
        // With a renderer: the default node material (the texture material without textures),
        // which dithers LOD cross-fades.
        if app.is_plugin_added::<bevy::pbr::PbrPlugin>() {
            textures::register_material(app);
            app.insert_resource(lod_fade::DefaultMaterialDithers);
        }
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
