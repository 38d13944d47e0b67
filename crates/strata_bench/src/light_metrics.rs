//! Metrics of relighting after edits (`strata_stream::relight`): how many chunks an edit
//! remeshes for its light, against how many chunks' light it really changes.
//!
//! # Inputs
//! A cave world: stone, a cave (air) 128 × 40 × 128 voxels under a roof one chunk thick (the
//! chunk layer 0, voxels 0..32 up, all stone) and open sky above it. Chunks x, z in −3..=3 and
//! y in −3..=2 are resident; light as the plugin computes it for chunk meshes
//! (`strata_mesh::LightField` over each chunk's ring, the sky beyond it from
//! `relight::sky_beyond`).
//! - `light.relight_after_edit_chunks`: a lamp (light 15) placed in the cave, at each of the
//!   27 places whose coordinates in chunk (0, −1, 0) are 1, 16 or 30 (its corners, edges, faces
//!   and middle): the largest number of chunks remeshed — the edited chunk, its face
//!   neighbours and the chunks `relight::relit_chunks` selects. Target ≤ 27.
//!   `light.relight_after_edit_needed_chunks`: at the same place, the chunks whose light (any
//!   voxel of the chunk or its border, sky or block) the lamp changed, plus the edited chunk.
//! - `light.relight_after_roof_dig_chunks`: a 2 × 2 shaft dug through the whole roof (so the
//!   sky reaches the cave); chunks remeshed, and `light.relight_after_roof_dig_needed_chunks`
//!   those whose light changed (every one of them must be remeshed: the report fails loudly
//!   if one is not).
use crate::{Budget, Metric};
use std::collections::HashSet;
use std::sync::Arc;
use strata_core::{
    ChangeExtent, Chunk, ChunkKey, MaterialId, MaterialRegistry, MemoryStore, VoxelPos, World, WorldConfig,
    WorldGenerator,
};
use strata_mesh::{LightField, LightNeighborhood, MaterialTable};
use strata_stream::relight;

const STONE: MaterialId = MaterialId(1);

/// Stone, a cave under a one-chunk roof, sky above (see the module docs).
struct CaveUnderRoof;

impl WorldGenerator for CaveUnderRoof {
    fn material_at(&self, p: VoxelPos) -> MaterialId {
        let cave = (-40..0).contains(&p.y) && (-64..64).contains(&p.x) && (-64..64).contains(&p.z);
        if p.y >= 32 || cave { MaterialId::AIR } else { STONE }
    }
}

/// Chunks whose light is compared.
fn region() -> Vec<ChunkKey> {
    let mut keys = Vec::new();
    for x in -2..=2 {
        for y in -3..=1 {
            for z in -2..=2 {
                keys.push(ChunkKey::new(x, y, z));
            }
        }
    }
    keys
}

/// The light of each chunk of `keys` as its mesh reads it (the chunk and its border).
fn light_of(world: &World, table: &MaterialTable, field: &mut LightField, keys: &[ChunkKey]) -> Vec<Vec<(u8, u8)>> {
    keys.iter()
        .map(|&key| {
            let k = key.to_array();
            let ring: Vec<Option<Arc<Chunk>>> = (0..27)
                .map(|i| {
                    let o = LightNeighborhood::offset(i);
                    world.resident_chunk(ChunkKey::new(k[0] + o[0], k[1] + o[1], k[2] + o[2]))
                })
                .collect();
            let up = world.generator().world_up().of_chunk(key);
            let mut hood = LightNeighborhood::from_fn(up, |o| ring[LightNeighborhood::index(o)].as_deref());
            hood.sky_beyond = relight::sky_beyond(world, |m| table.kind(m), key);
            field.compute(table, &hood);
            let mut out = Vec::with_capacity(34 * 34 * 34);
            for z in -1..=32 {
                for y in -1..=32 {
                    for x in -1..=32 {
                        out.push((field.sky([x, y, z]), field.block([x, y, z])));
                    }
                }
            }
            out
        })
        .collect()
}

/// Applies `edit` to `world` and returns (chunks remeshed, chunks whose light changed plus the
/// edited ones); panics if a changed chunk is not remeshed.
fn relight_counts(
    world: &mut World,
    table: &MaterialTable,
    field: &mut LightField,
    edit: impl FnOnce(&World),
) -> (usize, usize) {
    let keys = region();
    let changes = world.subscribe();
    let before = light_of(world, table, field, &keys);
    edit(world);
    world.apply().expect("a memory store");
    let mut remeshed: HashSet<ChunkKey> = HashSet::new();
    let mut edited: HashSet<ChunkKey> = HashSet::new();
    for c in changes.try_iter() {
        let key = c.key;
        edited.insert(key);
        remeshed.insert(key);
        for d in [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]] {
            remeshed.insert(ChunkKey::new(key.x + d[0], key.y + d[1], key.z + d[2]));
        }
        let extent: ChangeExtent = c.extent;
        let mut out = Vec::new();
        relight::relit_chunks(world, |m| table.kind(m), key, extent, &mut out);
        remeshed.extend(out);
    }
    let after = light_of(world, table, field, &keys);
    let mut needed = edited;
    for (k, (b, a)) in keys.iter().zip(before.iter().zip(&after)) {
        if b != a {
            assert!(remeshed.contains(k), "light changed in {k:?}, which the edit did not remesh");
            needed.insert(*k);
        }
    }
    (remeshed.len(), needed.len())
}

/// A world with the region and one chunk around it resident.
fn world() -> World {
    let mut world = World::new(Arc::new(MemoryStore::new()), Arc::new(CaveUnderRoof), WorldConfig::default());
    for x in -3..=3 {
        for y in -4..=2 {
            for z in -3..=3 {
                world.chunk(ChunkKey::new(x, y, z)).expect("a memory store");
            }
        }
    }
    world
}

/// Runs the light metrics.
pub fn run(_budget: Budget) -> Vec<Metric> {
    let registry = MaterialRegistry::builtin();
    let table = MaterialTable::new(&registry);
    let lamp = registry.id("lamp").expect("the shipped lamp");
    let mut field = LightField::new();
    let mut world = world();
    let (mut worst, mut worst_needed) = (0, 0);
    for l in [1, 16, 30] {
        for m in [1, 16, 30] {
            for n in [1, 16, 30] {
                let at = VoxelPos::new(l, -32 + m, n);
                let (remeshed, needed) =
                    relight_counts(&mut world, &table, &mut field, |w: &World| w.set_voxel(at, lamp));
                if remeshed > worst {
                    (worst, worst_needed) = (remeshed, needed);
                }
                world.set_voxel(at, MaterialId::AIR);
                world.apply().expect("a memory store");
            }
        }
    }
    let mut world = self::world();
    let (dig, dig_needed) = relight_counts(&mut world, &table, &mut field, |w: &World| {
        w.fill_box(VoxelPos::new(10, 0, 10), VoxelPos::new(11, 31, 11), MaterialId::AIR).expect("a small box");
    });
    vec![
        Metric::new("light.relight_after_edit_chunks", worst as f64, "chunks"),
        Metric::new("light.relight_after_edit_needed_chunks", worst_needed as f64, "chunks"),
        Metric::new("light.relight_after_roof_dig_chunks", dig as f64, "chunks"),
        Metric::new("light.relight_after_roof_dig_needed_chunks", dig_needed as f64, "chunks"),
    ]
}
