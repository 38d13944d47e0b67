//! The peer: `bevy_voxel_world` 0.17 (Bevy 0.19) on the same generator and view radius, with the
//! same worker threads ([`Pools::PEER`]).
//!
//! Configured the way its documentation recommends for a camera-independent flood fill
//! (`ChunkSpawnStrategy::Close` + `ChunkDespawnStrategy::FarAway`, no spawning rays: headless
//! cameras have no viewport; so the whole view stays queued every frame through
//! `min_despawn_distance` = the spawning distance, with `max_spawn_per_frame` large enough for
//! that cube) and for worlds streaming many chunks: chunks not parented to the
//! world root (`attach_chunks_to_root = false`, whose docs say it performs better for such
//! worlds) and its best measured number of chunk tasks at once ([`PEER_CHUNK_TASKS`],
//! `max_active_chunk_threads`), with meshes spawned (its full plugin, not `minimal()`, whose
//! chunk tasks are never collected). Its voxel lookup reads the height map from the same
//! generator's height tiles as Strata's chunks do ([`NoiseTerrain::height_tile`], cached per
//! column of chunks across the chunks of a stack) — the idiom of its own noise example (heights
//! cached per column), so generation costs the same per column on both sides.

use crate::pools::Pools;
use crate::scenario::{Engine, Scenario, lattice_view};
use bevy::prelude::*;
use bevy::shader::Shader;
use bevy_voxel_world::prelude::*;
use std::collections::HashSet;
use std::sync::Arc;
use strata_core::{ChunkKey, MaterialId};
use strata_geo::{HeightTile, NoiseTerrain, TerrainConfig};

/// The peer's `max_active_chunk_threads`: its best measured value, not Strata's cap on tasks
/// in flight (1,024 since Strata's pipeline paces itself; the peer has no pacing of its own).
/// Its LOD-0 first view, side by side on 2026-11-27: 7.2–7.4 s with 64 slots, 6.8–8.2 s with
/// 512, 7.9–8.6 s with 1,024 (2–3 runs each; on 2026-11-26 64 and 512 both gave 5.0–5.2 s).
pub const PEER_CHUNK_TASKS: usize = 512;

/// The peer's world configuration.
#[derive(Resource, Clone)]
pub struct PeerWorld {
    terrain: Arc<NoiseTerrain>,
    spawning_distance: u32,
    /// Keep the whole view queued every frame (a headless fly-through's single moving camera);
    /// off: the peer's defaults (the ray setup's hundreds of still cameras, whose cubes together
    /// would overflow `max_spawn_per_frame` every frame and spawn nothing).
    keep_view_queued: bool,
}

impl Default for PeerWorld {
    fn default() -> Self {
        // Same generator as Strata's default (`StrataConfig::terrain_seed` 7).
        Self {
            terrain: Arc::new(NoiseTerrain::new(TerrainConfig { seed: 7, ..default() })),
            spawning_distance: 12,
            keep_view_queued: true,
        }
    }
}

impl PeerWorld {
    /// The peer's world over `terrain`, spawning chunks within `spawning_distance` chunks of any
    /// of many still cameras, with the peer's own queue defaults (`min_despawn_distance` 1,
    /// `max_spawn_per_frame` 10,000).
    pub fn new(terrain: Arc<NoiseTerrain>, spawning_distance: u32) -> Self {
        Self { terrain, spawning_distance, keep_view_queued: false }
    }
}

impl VoxelWorldConfig for PeerWorld {
    type MaterialIndex = u16;
    type ChunkUserBundle = ();

    fn spawning_distance(&self) -> u32 {
        self.spawning_distance
    }

    fn chunk_spawn_strategy(&self) -> ChunkSpawnStrategy {
        ChunkSpawnStrategy::Close
    }

    fn chunk_despawn_strategy(&self) -> ChunkDespawnStrategy {
        ChunkDespawnStrategy::FarAway
    }

    fn spawning_rays(&self) -> usize {
        0
    }

    /// The whole view: every frame the peer queues the chunks within this distance of the
    /// camera (its docs: "this radius will always remain spawned around the camera"), so new
    /// chunks at the view's edge spawn as the camera moves. With the default (1), a headless
    /// camera (no viewport, no spawning rays) spawned nothing between its first view and the
    /// edge of its loaded sphere.
    fn min_despawn_distance(&self) -> u32 {
        if self.keep_view_queued { self.spawning_distance } else { 1 }
    }

    /// Enough for that whole cube in one frame: the peer drops queued positions while its queue
    /// is longer than this.
    fn max_spawn_per_frame(&self) -> usize {
        if !self.keep_view_queued {
            return 10_000;
        }
        let side = 2 * self.spawning_distance as usize + 1;
        side * side * side + 1
    }

    fn attach_chunks_to_root(&self) -> bool {
        false
    }

    fn max_active_chunk_threads(&self) -> usize {
        PEER_CHUNK_TASKS
    }

    fn voxel_lookup_delegate(&self) -> VoxelLookupDelegate<u16> {
        let terrain = self.terrain.clone();
        Box::new(move |_chunk_pos, _lod, _previous| {
            let terrain = terrain.clone();
            // The tile of the chunk column last asked about (its padding reaches into the 8
            // around it).
            let mut last: Option<((i32, i32), Arc<HeightTile>)> = None;
            Box::new(move |pos, _previous| {
                let column = (pos.x >> 5, pos.z >> 5);
                let tile = match &last {
                    Some((c, t)) if *c == column => t,
                    _ => {
                        let t = terrain.height_tile(0, ChunkKey::new(column.0, 0, column.1));
                        &last.insert((column, t)).1
                    }
                };
                let h = tile[(pos.z & 31) as usize * 32 + (pos.x & 31) as usize];
                match terrain.material_in_column(pos.y, h) {
                    MaterialId::AIR => WorldVoxel::Air,
                    m => WorldVoxel::Solid(m.0),
                }
            })
        })
    }
}

/// The peer app and its camera.
pub struct PeerEngine {
    app: App,
    camera: Entity,
    spawning_distance: i32,
}

/// Chunk positions whose task finished and that are still spawned, and every position that
/// ever spawned (each chunk counted once).
#[derive(Resource, Default)]
pub(crate) struct PeerReady {
    pub(crate) spawned: HashSet<IVec3>,
    pub(crate) ever: HashSet<IVec3>,
}

fn track_ready(
    mut spawned: MessageReader<ChunkWillSpawn<PeerWorld>>,
    mut despawned: MessageReader<ChunkWillDespawn<PeerWorld>>,
    mut ready: ResMut<PeerReady>,
) {
    for m in despawned.read() {
        ready.spawned.remove(&m.chunk_key);
    }
    for m in spawned.read() {
        ready.spawned.insert(m.chunk_key);
        ready.ever.insert(m.chunk_key);
    }
}

/// A headless app running the peer's full plugin with `config` on [`Pools::PEER`], tracking
/// its spawned chunks in [`PeerReady`]; no camera yet.
pub(crate) fn peer_app(config: PeerWorld) -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins.set(Pools::PEER.plugin()),
        TransformPlugin,
        AssetPlugin::default(),
        ImagePlugin::default(),
    ))
    .add_plugins(bevy::mesh::MeshPlugin)
    // Registered by the render plugin in a full app; the peer loads a shader at build.
    .init_asset::<Shader>()
    .add_plugins(VoxelWorldPlugin::with_config(config))
    .init_resource::<PeerReady>()
    .add_systems(Last, track_ready);
    app.finish();
    app.cleanup();
    app
}

impl PeerEngine {
    /// A fresh app with the view radius of `sc`.
    pub fn new(sc: &Scenario) -> Self {
        let config = PeerWorld { spawning_distance: (sc.view_distance / 32.0).round() as u32, ..default() };
        let spawning_distance = config.spawning_distance as i32;
        let mut app = peer_app(config);
        let camera = app
            .world_mut()
            .spawn((
                Camera3d::default(),
                VoxelWorldCamera::<PeerWorld>::default(),
                Transform::from_translation(sc.start),
            ))
            .id();
        Self { app, camera, spawning_distance }
    }
}

impl Engine for PeerEngine {
    fn app(&mut self) -> &mut App {
        &mut self.app
    }

    fn set_viewer(&mut self, pos: Vec3) {
        if let Some(mut t) = self.app.world_mut().get_mut::<Transform>(self.camera) {
            t.translation = pos;
        }
    }

    /// Every chunk position within the spawning distance of the camera's chunk (the peer's own
    /// rule: squared chunk distance ≤ distance²) has reported `ChunkWillSpawn` (sent when its
    /// generation and meshing task finished) and not despawned since.
    fn view_complete(&mut self) -> bool {
        let world = self.app.world();
        let cam = world.get::<GlobalTransform>(self.camera).map(|t| t.translation()).unwrap_or_default();
        let cam_chunk = cam.as_ivec3() / 32;
        let ready = &world.resource::<PeerReady>().spawned;
        let d = self.spawning_distance;
        (-d..=d).all(|x| {
            (-d..=d).all(|y| {
                (-d..=d).all(|z| {
                    let o = IVec3::new(x, y, z);
                    o.length_squared() > d * d || ready.contains(&(cam_chunk + o))
                })
            })
        })
    }

    fn grids_ready(&mut self) -> u64 {
        self.app.world().resource::<PeerReady>().ever.len() as u64
    }

    /// Of the chunks of the LOD-0 view around the camera ([`lattice_view`]), those whose task
    /// finished and that are spawned.
    fn view_fraction(&mut self) -> f64 {
        let world = self.app.world();
        let cam = world.get::<GlobalTransform>(self.camera).map(|t| t.translation()).unwrap_or_default();
        let ready = &world.resource::<PeerReady>().spawned;
        let (mut shown, mut all) = (0usize, 0usize);
        for c in lattice_view(cam, self.spawning_distance as f32 * 32.0) {
            all += 1;
            shown += usize::from(ready.contains(&c));
        }
        shown as f64 / all.max(1) as f64
    }

    fn extra(&mut self) -> String {
        Pools::PEER.describe()
    }
}
