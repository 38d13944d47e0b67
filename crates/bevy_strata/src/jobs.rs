//! The work that runs on task pools: loading node data and meshing nodes. Plain functions over
//! owned inputs, so they run on any thread and are unit-testable without an `App`.

use crate::mesh_build::NodeMeshes;
use std::cell::RefCell;
use std::sync::Arc;
use strata_core::MaterialRegistry;
use strata_core::{Chunk, ChunkOrigin, ChunkSource, Face, ProcessHistory};
use strata_index::stream_plan::Side;
use strata_index::{IndexSnapshot, NodeId};
use strata_mesh::{ChunkMesh, MaterialTable, MeshOptions, Mesher, Neighbor, Neighborhood};

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
}

impl LoadJob {
    /// [`LoadJob::run`] with a panic inside it (a bug in a store or a generator) turned into a
    /// failed load.
    pub fn run_contained(self) -> LoadOutput {
        let node = self.node;
        contained(|| self.run()).unwrap_or_else(|panic| LoadOutput {
            node,
            data: Err(format!("the load panicked: {panic}")),
            history: ProcessHistory::EMPTY,
            origin: ChunkOrigin::Generator,
            sequence: 0,
        })
    }

    pub fn run(self) -> LoadOutput {
        let mut history = ProcessHistory::EMPTY;
        let mut origin = ChunkOrigin::Generator;
        let mut sequence = 0;
        let data = if self.node.level == 0 {
            self.source
                .load(self.node.key)
                .map(|loaded| {
                    history = loaded.history;
                    origin = loaded.origin;
                    sequence = loaded.sequence;
                    loaded.chunk
                })
                .map_err(|e| e.to_string())
        } else {
            Ok(Arc::new(self.snapshot.lod_chunk(self.node)))
        };
        LoadOutput { node: self.node, data, history, origin, sequence }
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
    /// Meshers built on this thread (for the reuse test).
    #[cfg(test)]
    static MESHERS_BUILT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
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
    pub fn run(self) -> MeshOutput {
        let hood = Neighborhood::from_fn(&self.center, |f: Face| match &self.sides[f as usize] {
            Side::Same(c) => Neighbor::Loaded(c),
            Side::Seam => Neighbor::Seam,
        });
        let mut options = MeshOptions::lod(self.node.level.min(31) as u8);
        options.ambient_occlusion = self.ambient_occlusion;
        options.fluid_depth = self.fluid_depth;
        let mut mesh = ChunkMesh::default();
        with_mesher(&self.table, |mesher| mesher.mesh(&hood, &options, &mut mesh));
        MeshOutput {
            node: self.node,
            generation: self.generation,
            meshes: NodeMeshes::build(mesh, &self.registry, self.keep_mesh_data, self.texture_layers),
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
        }
        .run();
        assert!(seams.meshes.opaque_quads > 1);
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
