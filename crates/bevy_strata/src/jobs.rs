//! The work that runs on task pools: loading node data and meshing nodes. Plain functions over
//! owned inputs, so they run on any thread and are unit-testable without an `App`.

use crate::mesh_build::{NodeMeshes, TextureLayers};
use std::cell::RefCell;
use std::sync::Arc;
use strata_core::MaterialRegistry;
use strata_core::{Chunk, ChunkOrigin, ChunkSide, ChunkSource, Face, LoadedChunk, ProcessHistory};
use strata_index::{IndexSnapshot, NodeId};
use strata_mesh::{ChunkMesh, LightField, MaterialTable, MeshOptions, Mesher, Neighbor, Neighborhood};
use strata_stream::stream_plan::Side;

/// Runs `f`, turning a panic inside it into `Err(its message)`. Work on the task pools runs
/// through it: polling a task whose future panicked panics the polling (main) thread, so one
/// bug in a background job would take the whole app down.
pub(crate) fn contained<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "(no message)".into())
    })
}

/// Loads the 32³ data of a node: a chunk (store, then generator) at level 0, the octree's LOD
/// mip (edited data downsampled, generator-sampled elsewhere) above.
///
/// A chunk load runs in two places ([`LoadJob::read_contained`], then, for an unedited chunk
/// the generator's hint does not answer, [`GenerateJob::run_contained`]): the store's read on
/// the I/O pool, which only waits on stores, and generation where CPU work runs.
pub(crate) struct LoadJob {
    pub node: NodeId,
    pub source: ChunkSource,
    pub snapshot: Arc<IndexSnapshot>,
}

/// What a load produced.
pub(crate) struct LoadOutput {
    pub node: NodeId,
    pub data: Result<Arc<Chunk>, String>,
    /// Level 0: the chunk's process history (empty above).
    pub history: ProcessHistory,
    /// Level 0: where the chunk came from (the generator above).
    pub origin: ChunkOrigin,
    /// Level 0: the store commit that wrote the chunk (0 for the generator's; unused above).
    pub sequence: u64,
    /// Level 0: the chunk's game data (block data, entity records; empty above). It must
    /// reach the world with the voxels: a chunk resident without it would commit without it.
    pub side: Arc<ChunkSide>,
}

impl LoadOutput {
    fn failed(node: NodeId, error: String) -> Self {
        Self {
            node,
            data: Err(error),
            history: ProcessHistory::EMPTY,
            origin: ChunkOrigin::Generator,
            sequence: 0,
            side: Arc::default(),
        }
    }

    fn loaded(node: NodeId, loaded: LoadedChunk) -> Self {
        Self {
            node,
            data: Ok(loaded.chunk),
            history: loaded.history,
            origin: loaded.origin,
            sequence: loaded.sequence,
            side: loaded.side,
        }
    }
}

/// What the store's read of a chunk left to do.
pub(crate) enum Read {
    /// The load is over: the stored chunk, the generator's uniform hint, or an error.
    Done(LoadOutput),
    /// Nobody edited the chunk and the hint does not answer: generate it (CPU work).
    Generate(GenerateJob),
}

/// Generates an unedited chunk (after [`LoadJob::read_contained`] found no stored copy).
pub(crate) struct GenerateJob {
    node: NodeId,
    source: ChunkSource,
}

impl GenerateJob {
    /// Generates the chunk, a panic (a bug in the generator) turned into a failed load.
    pub fn run_contained(self) -> LoadOutput {
        let node = self.node;
        contained(|| LoadOutput::loaded(node, self.source.generated(node.key)))
            .unwrap_or_else(|panic| LoadOutput::failed(node, format!("generating the chunk panicked: {panic}")))
    }
}

impl LoadJob {
    /// Level 0 only: the store's read (I/O) and the generator's O(1) uniform hint; what is
    /// left is CPU work for another pool. A panic (a bug in a store) is a failed load.
    pub fn read_contained(self) -> Read {
        let node = self.node;
        let source = self.source;
        let read = contained(|| match source.read_stored(node.key) {
            Ok(Some(stored)) => Read::Done(LoadOutput::loaded(node, stored)),
            Ok(None) => match source.hinted(node.key) {
                Some(hinted) => Read::Done(LoadOutput::loaded(node, hinted)),
                None => Read::Generate(GenerateJob { node, source: source.clone() }),
            },
            Err(e) => Read::Done(LoadOutput::failed(node, e.to_string())),
        });
        read.unwrap_or_else(|panic| Read::Done(LoadOutput::failed(node, format!("the load panicked: {panic}"))))
    }

    /// Levels above 0: the node's LOD grid (CPU work). A panic is a failed load.
    pub fn grid_contained(self) -> LoadOutput {
        let node = self.node;
        match contained(|| Arc::new(self.snapshot.lod_chunk(node))) {
            Ok(grid) => LoadOutput {
                node,
                data: Ok(grid),
                history: ProcessHistory::EMPTY,
                origin: ChunkOrigin::Generator,
                sequence: 0,
                side: Arc::default(),
            },
            Err(panic) => LoadOutput::failed(node, format!("the load panicked: {panic}")),
        }
    }
}

/// Meshes a node from its data and its six sides.
pub(crate) struct MeshJob {
    pub node: NodeId,
    pub generation: u64,
    pub center: Arc<Chunk>,
    pub sides: [Side; 6],
    pub table: Arc<MaterialTable>,
    /// For vertex colours: the Bevy meshes are built in the task, not on the main thread.
    pub registry: Arc<MaterialRegistry>,
    pub ambient_occlusion: bool,
    /// Keep the meshes' data in the main world after upload.
    pub keep_mesh_data: bool,
    /// Add the texture layers and AO (`StrataConfig::texture_layers`).
    pub texture_layers: bool,
    /// Fluid depth per face (`StrataConfig::fluid_depth`).
    pub fluid_depth: bool,
    /// Light the mesh (`StrataConfig::light`, chunks only).
    pub light: Option<LightInput>,
}

/// What a chunk's light is computed from: its 3 × 3 × 3 ring (see
/// [`strata_stream::stream_plan::MeshWork::ring`]), the world's up in the chunk and whether the
/// sky is open beyond the ring's top layer (see [`LightNeighborhood::sky_beyond`]).
pub(crate) struct LightInput {
    pub ring: Box<[Option<Arc<Chunk>>; 27]>,
    pub up: Face,
    pub sky_beyond: [bool; 27],
}

/// What meshing produced.
pub(crate) struct MeshOutput {
    pub node: NodeId,
    pub generation: u64,
    pub meshes: NodeMeshes,
    /// The 32³ cells meshed (for the game's hook, `NodeMeshed::voxels`).
    pub voxels: Arc<Chunk>,
}

thread_local! {
    /// The mesher of this task-pool thread and the table it was built for: its 64 KiB material
    /// table copy and scratch buffers are reused by every job on the thread, and rebuilt only
    /// when a job brings another table (the materials changed).
    static MESHER: RefCell<Option<(Arc<MaterialTable>, Mesher)>> = const { RefCell::new(None) };
    /// The light buffers of this task-pool thread (~0.5 MiB, reused by every lit job) and the
    /// light rows of the chunks it saw lately (up to `strata_mesh::light::ROWS_KEPT`).
    static LIGHT: RefCell<Option<LightField>> = const { RefCell::new(None) };
    /// Meshers built on this thread (for the reuse test).
    #[cfg(test)]
    static MESHERS_BUILT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Every mesh job run by this process: its material table (tells apart the apps of tests
/// running at once), node and thread name (for the work-placement tests).
#[cfg(test)]
pub(crate) static MESH_THREADS: std::sync::Mutex<Vec<(usize, NodeId, String)>> = std::sync::Mutex::new(Vec::new());

/// The current thread's name (`"?"` if it has none).
#[cfg(test)]
pub(crate) fn thread_name() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

/// Runs `f` with this thread's mesher for `table` (built on first use or when the table changed).
fn with_mesher<R>(table: &Arc<MaterialTable>, f: impl FnOnce(&mut Mesher) -> R) -> R {
    MESHER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_some_and(|(built_for, _)| !Arc::ptr_eq(built_for, table)) {
            *slot = None;
        }
        let (_, mesher) = slot.get_or_insert_with(|| {
            #[cfg(test)]
            MESHERS_BUILT.with(|n| n.set(n.get() + 1));
            (table.clone(), Mesher::new((**table).clone()))
        });
        f(mesher)
    })
}

impl MeshJob {
    /// The mesher's view of the node: its data and its six sides.
    fn hood(&self) -> Neighborhood<'_> {
        Neighborhood::from_fn(&self.center, |f: Face| match &self.sides[f as usize] {
            Side::Same(c) => Neighbor::Loaded(c),
            Side::Seam => Neighbor::Seam,
        })
    }

    /// Whether the mesh is known to be empty from the storage forms alone (uniform data whose
    /// uniform neighbours hide it, [`strata_mesh::skip::is_hidden`]): O(1), so the main thread
    /// decides it instead of spawning a task.
    pub fn is_hidden(&self) -> bool {
        strata_mesh::skip::is_hidden(&self.table, &self.hood())
    }

    /// The result of a job whose mesh [`MeshJob::is_hidden`]: no geometry.
    pub fn empty_output(self) -> MeshOutput {
        MeshOutput { node: self.node, generation: self.generation, meshes: NodeMeshes::empty(), voxels: self.center }
    }

    pub fn run(self) -> MeshOutput {
        #[cfg(test)]
        MESH_THREADS.lock().unwrap().push((Arc::as_ptr(&self.table) as usize, self.node, thread_name()));
        let hood = self.hood();
        let mut options = MeshOptions::lod(self.node.level.min(31) as u8);
        options.ambient_occlusion = self.ambient_occlusion;
        options.fluid_depth = self.fluid_depth;
        let mut mesh = ChunkMesh::default();
        match &self.light {
            Some(light) if self.node.level == 0 => LIGHT.with(|cell| {
                let mut slot = cell.borrow_mut();
                let field = slot.get_or_insert_with(LightField::new);
                // Rows of the ring's chunks kept per worker: each chunk is in 27 rings.
                field.compute_shared(&self.table, &light.ring, light.up, light.sky_beyond);
                with_mesher(&self.table, |mesher| mesher.mesh_lit(&hood, Some(field), &options, &mut mesh));
            }),
            _ => {
                with_mesher(&self.table, |mesher| mesher.mesh(&hood, &options, &mut mesh));
            }
        }
        let texture_layers = match (self.texture_layers, self.node.level) {
            (false, _) => TextureLayers::Off,
            (true, 0) => TextureLayers::ByFace,
            (true, _) => TextureLayers::Tops,
        };
        MeshOutput {
            node: self.node,
            generation: self.generation,
            meshes: NodeMeshes::build(mesh, &self.registry, self.keep_mesh_data, texture_layers),
            voxels: self.center,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::{ChunkKey, FlatGenerator, MaterialId, MemoryStore, World, WorldConfig};

    fn source() -> ChunkSource {
        World::new(
            Arc::new(MemoryStore::new()),
            Arc::new(FlatGenerator { height: 3, material: MaterialId(1) }),
            WorldConfig::default(),
        )
        .source()
    }

    #[test]
    fn flat_ground_meshes_its_top_only_between_same_level_neighbours() {
        let src = source();
        let table = Arc::new(MaterialTable::new(&MaterialRegistry::builtin()));
        let load = |k: ChunkKey| src.load(k).unwrap().chunk;
        let center = load(ChunkKey::new(0, 0, 0));
        let sides = Face::ALL.map(|f| Side::Same(load(ChunkKey::new(0, 0, 0).neighbor(f))));
        let out = MeshJob {
            node: NodeId::chunk(ChunkKey::new(0, 0, 0)),
            generation: 3,
            center: center.clone(),
            sides,
            table: table.clone(),
            registry: Arc::new(MaterialRegistry::builtin()),
            ambient_occlusion: false,
            keep_mesh_data: false,
            texture_layers: false,
            fluid_depth: false,
            light: None,
        }
        .run();
        assert_eq!(out.generation, 3);
        assert_eq!(out.meshes.opaque_quads, 1, "one merged top face");
        assert!(out.meshes.opaque.is_some() && out.meshes.transparent.is_none());
        // With seams all round, the mesh closes its sides too.
        let seams = MeshJob {
            node: NodeId::chunk(ChunkKey::new(0, 0, 0)),
            generation: 0,
            center,
            sides: std::array::from_fn(|_| Side::Seam),
            table,
            registry: Arc::new(MaterialRegistry::builtin()),
            ambient_occlusion: false,
            keep_mesh_data: false,
            texture_layers: false,
            fluid_depth: false,
            light: None,
        }
        .run();
        assert!(seams.meshes.opaque_quads > 1);
    }

    #[test]
    fn a_chunk_read_takes_the_store_then_the_hint_and_leaves_generation_to_another_pool() {
        let store = Arc::new(MemoryStore::new());
        let mut world = World::new(
            store.clone(),
            Arc::new(FlatGenerator { height: 3, material: MaterialId(1) }),
            WorldConfig::default(),
        );
        let edited = ChunkKey::new(0, 5, 0);
        world.set_voxel(strata_core::VoxelPos::new(1, 161, 1), MaterialId(7));
        world.apply().unwrap();
        world.commit().unwrap();
        let snapshot =
            strata_index::IndexWriter::new(world.generator().clone(), Default::default()).reader().snapshot();
        let read = |key: ChunkKey| {
            LoadJob { node: NodeId::chunk(key), source: world.source(), snapshot: snapshot.clone() }.read_contained()
        };
        match read(edited) {
            Read::Done(out) => {
                assert_eq!(out.origin, ChunkOrigin::Store, "the store's copy, although the hint says air");
            }
            Read::Generate(_) => panic!("an edited chunk is read, not generated"),
        }
        match read(ChunkKey::new(3, 2, 3)) {
            Read::Done(out) => assert_eq!(*out.data.unwrap(), Chunk::Uniform(MaterialId::AIR), "hinted: made in O(1)"),
            Read::Generate(_) => panic!("the hint answers above the ground"),
        }
        match read(ChunkKey::new(3, 0, 3)) {
            Read::Generate(job) => {
                let out = job.run_contained();
                assert_eq!(
                    *out.data.unwrap(),
                    world.source().load(ChunkKey::new(3, 0, 3)).unwrap().chunk.as_ref().clone()
                );
            }
            Read::Done(_) => panic!("the surface crosses this chunk: generated elsewhere"),
        }
    }

    #[test]
    fn a_thread_reuses_its_mesher_until_the_material_table_changes() {
        let src = source();
        let center = src.load(ChunkKey::new(0, 0, 0)).unwrap().chunk;
        let job = |table: &Arc<MaterialTable>| MeshJob {
            node: NodeId::chunk(ChunkKey::new(0, 0, 0)),
            generation: 0,
            center: center.clone(),
            sides: std::array::from_fn(|_| Side::Seam),
            table: table.clone(),
            registry: Arc::new(MaterialRegistry::builtin()),
            ambient_occlusion: false,
            keep_mesh_data: false,
            texture_layers: false,
            fluid_depth: false,
            light: None,
        };
        let built = || MESHERS_BUILT.with(|n| n.get());
        let (first, second) = (
            Arc::new(MaterialTable::new(&MaterialRegistry::builtin())),
            Arc::new(MaterialTable::new(&MaterialRegistry::builtin())),
        );
        let before = built();
        let a = job(&first).run();
        let b = job(&first).run();
        assert_eq!(built() - before, 1, "the second job reuses the thread's mesher");
        assert_eq!(a.meshes.opaque_quads, b.meshes.opaque_quads, "and meshes the same");
        job(&second).run();
        assert_eq!(built() - before, 2, "another table: a new mesher");
    }
}
