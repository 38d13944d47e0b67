//! Meshing metrics: `strata_mesh` against block-mesh and binary-greedy-meshing on the same
//! generated terrain.
//!
//! Timing scope: ours starts from `Chunk`s (classification, neighbour layers, culling, merge,
//! vertex output); the peers start from their own prebuilt padded arrays (and, for
//! binary-greedy-meshing, prebuilt opacity masks), which favours the peers.
use crate::block_mesh_peer::{Padded, padded_voxels};
use crate::{Budget, Metric, keep, side_by_side_ns, time_ns};
use binary_greedy_meshing as bgm;
use block_mesh::{GreedyQuadsBuffer, RIGHT_HANDED_Y_UP_CONFIG, UnitQuadBuffer, greedy_quads, visible_block_faces};
use std::collections::BTreeSet;
use std::sync::Arc;
use strata_core::downsample::node_grid;
use strata_core::{
    CHUNK_SIZE, Chunk, ChunkKey, Face, LocalPos, MaterialId, MaterialKind, MaterialRegistry, VoxelPos, WorldGenerator,
};
use strata_geo::terrain::terrain_ids;
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_mesh::{
    ChunkMesh, LightField, LightNeighborhood, MaterialTable, MeshOptions, Mesher, Neighbor, Neighborhood,
};

/// The scene's centre with `share` of its solid voxels (of its visible ones: with an air or
/// see-through face neighbour, when `visible`) replaced by the shaped blocks of the built-in
/// registry, each state as often; a fixed random choice.
fn with_models(scene: &Scene, table: &MaterialTable, share: f64, visible: bool) -> Chunk {
    let registry = MaterialRegistry::builtin();
    let shaped: Vec<u16> =
        registry.iter().filter(|m| registry.shape(MaterialId(m.id)).is_some()).map(|m| m.id).collect();
    assert!(shaped.len() >= 10, "the built-in registry has slabs, stairs and plants");
    let open = |p: [i32; 3]| table.kind(MaterialId(scene.voxel(p))) != MaterialKind::Solid;
    let mut rng = strata_core::rng::SplitMix64(0x5107_0DE1);
    let d = strata_core::DenseChunk::from_fn(|l| {
        let m = scene.center.get(l.index());
        let p = [l.x, l.y, l.z].map(i32::from);
        let seen = Face::ALL.iter().any(|f| {
            let o = f.offset();
            open([p[0] + o[0], p[1] + o[1], p[2] + o[2]])
        });
        let pick = (rng.below(1 << 20) as f64) < share * f64::from(1 << 20);
        if table.kind(m) == MaterialKind::Solid && pick && (seen || !visible) {
            MaterialId(shaped[rng.below(shaped.len() as u64) as usize])
        } else {
            m
        }
    });
    Chunk::Dense(d)
}

/// A chunk with its six loaded neighbours.
struct Scene {
    center: Chunk,
    neighbors: Vec<Chunk>,
}

impl Scene {
    fn hood(&self) -> Neighborhood<'_> {
        Neighborhood::from_fn(&self.center, |f| Neighbor::Loaded(&self.neighbors[f as usize]))
    }

    /// The voxel at `p` (each coordinate in `-1..=32`; edges and corners are air).
    fn voxel(&self, p: [i32; 3]) -> u16 {
        let outside: Vec<usize> = (0..3).filter(|&a| !(0..32).contains(&p[a])).collect();
        let l = p.map(|v| v.rem_euclid(32) as u8);
        let at = |c: &Chunk| c.get(LocalPos::new(l[0], l[1], l[2]).index()).0;
        match outside.as_slice() {
            [] => at(&self.center),
            [a] => at(&self.neighbors[2 * a + usize::from(p[*a] >= 32)]),
            _ => 0,
        }
    }
}

fn terrain_scene(generator: &NoiseTerrain) -> Scene {
    // The chunk holding the terrain surface at the centre of column (0, 0): dense, with stone,
    // dirt, grass, sand and water (the sea level is −8).
    scene_at(generator, ChunkKey::new(0, generator.height(16, 16) >> 5, 0))
}

/// The generated chunk `key` with its six generated neighbours.
fn scene_at(generator: &NoiseTerrain, key: ChunkKey) -> Scene {
    Scene {
        center: generator.generate(key),
        neighbors: Face::ALL.iter().map(|f| generator.generate(key.neighbor(*f))).collect(),
    }
}

/// binary-greedy-meshing's padded input for a chunk of edge `CS` (y outer, x, z inner) and its
/// prebuilt masks.
struct BgmInput {
    voxels: Vec<u16>,
    opaque: Box<[u64]>,
    transparent: Box<[u64]>,
}

fn bgm_input<const CS: usize>(table: &MaterialTable, voxel: impl Fn([i32; 3]) -> u16) -> BgmInput {
    let p = CS + 2;
    let mut voxels = vec![0u16; p * p * p];
    for y in 0..p {
        for x in 0..p {
            for z in 0..p {
                voxels[z + x * p + y * p * p] = voxel([x as i32 - 1, y as i32 - 1, z as i32 - 1]);
            }
        }
    }
    let see_through: BTreeSet<u16> = (1..=u16::MAX)
        .filter(|&id| matches!(table.kind(MaterialId(id)), MaterialKind::Fluid | MaterialKind::Transparent))
        .take(64)
        .collect();
    let opaque = bgm::compute_opaque_mask::<CS>(&voxels, &see_through);
    let transparent = bgm::compute_transparent_mask::<CS>(&voxels, &see_through);
    BgmInput { voxels, opaque, transparent }
}

/// The transparent and fluid ids, as binary-greedy-meshing wants them.
fn see_through_ids(table: &MaterialTable) -> BTreeSet<u16> {
    (1..=u16::MAX)
        .filter(|&id| matches!(table.kind(MaterialId(id)), MaterialKind::Fluid | MaterialKind::Transparent))
        .collect()
}

/// Runs every meshing metric.
pub fn run(budget: Budget) -> Vec<Metric> {
    let table = MaterialTable::new(&MaterialRegistry::builtin());
    let generator = NoiseTerrain::new(TerrainConfig::default());
    let scene = terrain_scene(&generator);
    let mut out = Vec::new();
    let mut mesher = Mesher::new(table.clone());
    let mut mesh = ChunkMesh::default();
    let options = MeshOptions::default();
    let hood = scene.hood();

    // --- mesh.greedy_32_terrain vs block-mesh greedy / visible.
    let bm_voxels = padded_voxels(&table, |p| Some(scene.voxel(p)));
    let mut bm_buffer = GreedyQuadsBuffer::new(bm_voxels.len());
    let faces = &RIGHT_HANDED_Y_UP_CONFIG.faces;
    // Short batches, many of them: on a shared machine, load bursts then hit both sides of a
    // side-by-side pair alike and the medians stay stable.
    let iters = budget.iters(25);
    let batches = budget.batches * 4;
    let (ours, peer) = side_by_side_ns(
        batches,
        iters,
        || {
            keep(mesher.mesh(&hood, &options, &mut mesh));
        },
        || {
            greedy_quads(&bm_voxels, &Padded {}, [0; 3], [33; 3], faces, &mut bm_buffer);
            keep(bm_buffer.quads.num_quads());
        },
    );
    out.push(Metric::with_peer("mesh.greedy_32_terrain", ours / 1e3, "us", "block_mesh_greedy", peer / 1e3));
    let mut unit_buffer = UnitQuadBuffer::new();
    let (ours, peer) = side_by_side_ns(
        batches,
        iters,
        || {
            keep(mesher.mesh(&hood, &options, &mut mesh));
        },
        || {
            unit_buffer.reset();
            visible_block_faces(&bm_voxels, &Padded {}, [0; 3], [33; 3], faces, &mut unit_buffer);
            keep(unit_buffer.num_quads());
        },
    );
    out.push(Metric::with_peer("mesh.greedy_32_terrain", ours / 1e3, "us", "block_mesh_visible", peer / 1e3));

    // --- vs binary-greedy-meshing on the same 32³ chunk (its mesher is generic over the size).
    let bgm32 = bgm_input::<CHUNK_SIZE>(&table, |p| scene.voxel(p));
    let mut bgm_mesher = bgm::Mesher::<CHUNK_SIZE>::new();
    let (ours, peer) = side_by_side_ns(
        batches,
        iters,
        || {
            keep(mesher.mesh(&hood, &options, &mut mesh));
        },
        || {
            bgm_mesher.clear();
            bgm_mesher.fast_mesh(&bgm32.voxels, &bgm32.opaque, &bgm32.transparent);
            keep(bgm_mesher.quads[0].len());
        },
    );
    out.push(Metric::with_peer("mesh.greedy_32_terrain", ours / 1e3, "us", "binary_greedy_meshing", peer / 1e3));
    let bgm32_quads: usize = bgm_mesher.quads.iter().map(Vec::len).sum();
    // The same, with the peer also deriving its opacity masks from its voxel array (our time
    // always includes classifying voxels).
    let see_through = see_through_ids(&table);
    let (ours, peer) = side_by_side_ns(
        batches,
        iters,
        || {
            keep(mesher.mesh(&hood, &options, &mut mesh));
        },
        || {
            let opaque = bgm::compute_opaque_mask::<CHUNK_SIZE>(&bgm32.voxels, &see_through);
            let transparent = bgm::compute_transparent_mask::<CHUNK_SIZE>(&bgm32.voxels, &see_through);
            bgm_mesher.clear();
            bgm_mesher.fast_mesh(&bgm32.voxels, &opaque, &transparent);
            keep(bgm_mesher.quads[0].len());
        },
    );
    out.push(Metric::with_peer(
        "mesh.greedy_32_terrain",
        ours / 1e3,
        "us",
        "binary_greedy_meshing_with_masks",
        peer / 1e3,
    ));
    // With ambient occlusion (no peer offers it on this input).
    let ao = MeshOptions { ambient_occlusion: true, ..options };
    let ao_ns = time_ns(batches, iters, || {
        keep(mesher.mesh(&hood, &ao, &mut mesh));
    });
    out.push(Metric::new("mesh.greedy_32_terrain_ao", ao_ns / 1e3, "us"));
    // Block models: the same chunk with a fifth of its visible blocks (solid voxels with an
    // air or see-through face neighbour) turned into shaped blocks of the built-in registry
    // (slabs, stairs in every state, plants), with AO, side by side with the plain chunk. And
    // with a fifth of all its solid voxels shaped, buried ones included (most sealed in).
    let models = with_models(&scene, &table, 0.2, true);
    let buried = with_models(&scene, &table, 0.2, false);
    let models_hood = Neighborhood::from_fn(&models, |f| Neighbor::Loaded(&scene.neighbors[f as usize]));
    let buried_hood = Neighborhood::from_fn(&buried, |f| Neighbor::Loaded(&scene.neighbors[f as usize]));
    // Each side its own mesher and buffers (registry and options the same).
    let (mut models_mesher, mut models_mesh) = (Mesher::new(table.clone()), ChunkMesh::default());
    let (models_ns, plain_ns) = side_by_side_ns(
        batches,
        iters,
        || {
            keep(models_mesher.mesh(&models_hood, &ao, &mut models_mesh));
        },
        || {
            keep(mesher.mesh(&hood, &ao, &mut mesh));
        },
    );
    let (buried_ns, plain_buried_ns) = side_by_side_ns(
        batches,
        iters,
        || {
            keep(models_mesher.mesh(&buried_hood, &ao, &mut models_mesh));
        },
        || {
            keep(mesher.mesh(&hood, &ao, &mut mesh));
        },
    );
    out.push(Metric::with_peer(
        "mesh.models_32_buried",
        buried_ns / 1e3,
        "us",
        "greedy_32_terrain_ao",
        plain_buried_ns / 1e3,
    ));
    out.push(Metric::with_peer("mesh.models_32", models_ns / 1e3, "us", "greedy_32_terrain_ao", plain_ns / 1e3));
    // With AO and light, as a lit chunk is meshed: the light of the chunk's 62³ window (its 26
    // generated neighbours: water, so the sky fill runs) then the lit mesh; side by side with
    // AO alone.
    let ring_key = ChunkKey::new(0, generator.height(16, 16) >> 5, 0).to_array();
    let ring: Vec<Chunk> = (0..27)
        .map(|i| {
            let o = LightNeighborhood::offset(i);
            generator.generate(ChunkKey::new(ring_key[0] + o[0], ring_key[1] + o[1], ring_key[2] + o[2]))
        })
        .collect();
    let light_hood = LightNeighborhood::from_fn(Face::PosY, |o| Some(&ring[LightNeighborhood::index(o)]));
    let mut field = LightField::new();
    let (mut lit_mesher, mut lit_mesh) = (Mesher::new(table.clone()), ChunkMesh::default());
    let (lit_ns, ao_side_ns) = side_by_side_ns(
        batches,
        iters,
        || {
            field.compute(&table, &light_hood);
            keep(lit_mesher.mesh_lit(&hood, Some(&field), &ao, &mut lit_mesh));
        },
        || {
            keep(mesher.mesh(&hood, &ao, &mut mesh));
        },
    );
    out.push(Metric::new("mesh.light_32_terrain", lit_ns / 1e3, "us"));
    out.push(Metric::new("mesh.light_32_terrain_over_ao", lit_ns / ao_side_ns, "ratio"));
    // As the plugin lights chunks while streaming: the ring's chunks classified once and kept
    // (each is in 27 rings), so a mesh classifies about one new chunk.
    let shared: [Option<Arc<Chunk>>; 27] = std::array::from_fn(|i| Some(Arc::new(ring[i].clone())));
    let mut kept_ring = shared.clone();
    let (kept_ns, ao_side_ns) = side_by_side_ns(
        batches,
        iters,
        || {
            // One chunk of the ring is new to the worker (a new Arc: classified again).
            kept_ring[13] = Some(Arc::new(ring[13].clone()));
            field.compute_shared(&table, &kept_ring, Face::PosY, [true; 27]);
            keep(lit_mesher.mesh_lit(&hood, Some(&field), &ao, &mut lit_mesh));
        },
        || {
            keep(mesher.mesh(&hood, &ao, &mut mesh));
        },
    );
    out.push(Metric::new("mesh.light_32_terrain_streaming", kept_ns / 1e3, "us"));
    out.push(Metric::new("mesh.light_32_terrain_streaming_over_ao", kept_ns / ao_side_ns, "ratio"));
    // As the plugin meshes: AO and the depth of the water behind each water face.
    let plugin = MeshOptions { ambient_occlusion: true, fluid_depth: true, ..options };
    let depth_ns = time_ns(batches, iters, || {
        keep(mesher.mesh(&hood, &plugin, &mut mesh));
    });
    let water_faces = mesh.transparent.fluid_depth.iter().filter(|&&d| d > 0.0).count() / 4;
    out.push(Metric::new("mesh.greedy_32_terrain_ao_fluid_depth", depth_ns / 1e3, "us"));
    out.push(Metric::new("mesh.fluid_depth_quads_32_terrain", water_faces as f64, "quads"));

    // --- and at its native 62³ size, per voxel, on the same region: the 64³ voxels of the 2×2×2
    // chunks around the surface at column (32, 32). Ours meshes those 8 chunks (each against
    // its generated neighbours); binary-greedy-meshing takes the same 64³ voxels as its padded
    // input and meshes their inner 62³.
    let ky = (generator.height(32, 32) - 32) >> 5;
    let block = ChunkKey::new(0, ky, 0).min_voxel();
    let scenes: Vec<Scene> =
        (0..8).map(|i| scene_at(&generator, ChunkKey::new(i & 1, ky + (i >> 1 & 1), i >> 2 & 1))).collect();
    let hoods: Vec<Neighborhood<'_>> = scenes.iter().map(Scene::hood).collect();
    let bgm62 = bgm_input::<62>(&table, |p| {
        generator.material_at(VoxelPos::new(block.x + p[0] + 1, block.y + p[1] + 1, block.z + p[2] + 1)).0
    });
    let mut bgm62_mesher = bgm::Mesher::<62>::new();
    let (ours, peer) = side_by_side_ns(
        batches,
        iters.div_ceil(8),
        || {
            for h in &hoods {
                keep(mesher.mesh(h, &options, &mut mesh));
            }
        },
        || {
            bgm62_mesher.clear();
            bgm62_mesher.fast_mesh(&bgm62.voxels, &bgm62.opaque, &bgm62.transparent);
            keep(bgm62_mesher.quads[0].len());
        },
    );
    out.push(Metric::with_peer(
        "mesh.greedy_32_terrain",
        ours / (64.0f64).powi(3),
        "ns_per_voxel",
        "binary_greedy_meshing_62",
        peer / (62.0f64).powi(3),
    ));

    // --- mesh.quads_32_terrain.
    mesher.mesh(&hood, &options, &mut mesh);
    greedy_quads(&bm_voxels, &Padded {}, [0; 3], [33; 3], faces, &mut bm_buffer);
    let ours_quads = mesh.quad_count() as f64;
    out.push(Metric::with_peer(
        "mesh.quads_32_terrain",
        ours_quads,
        "quads",
        "block_mesh_greedy",
        bm_buffer.quads.num_quads() as f64,
    ));
    out.push(Metric::with_peer(
        "mesh.quads_32_terrain",
        ours_quads,
        "quads",
        "binary_greedy_meshing",
        bgm32_quads as f64,
    ));

    // --- mesh.skip_uniform: a stone chunk among stone and unloaded neighbours.
    let stone = Chunk::Uniform(terrain_ids::STONE);
    let buried =
        Neighborhood::from_fn(&stone, |f| if f == Face::PosY { Neighbor::Unloaded } else { Neighbor::Loaded(&stone) });
    let skip_ns = time_ns(budget.batches, budget.iters(200_000), || {
        keep(mesher.mesh(&buried, &options, &mut mesh));
    });
    out.push(Metric::new("mesh.skip_uniform", skip_ns / 1e3, "us"));

    // --- mesh.lod_node: a level-2 node (4×4×4 chunks) downsampled by the LOD rule, with its six
    // level-2 neighbours loaded.
    let node_mip = |origin: ChunkKey| {
        let chunks: Vec<Chunk> = (0..64)
            .map(|i| {
                generator.generate(ChunkKey::new(origin.x + (i & 3), origin.y + ((i >> 2) & 3), origin.z + (i >> 4)))
            })
            .collect();
        let key = ChunkKey::new(origin.x >> 2, origin.y >> 2, origin.z >> 2);
        node_grid(2, key, &generator.world_up(), |[x, y, z]| &chunks[x + 4 * y + 16 * z]).unwrap_or_default()
    };
    let node = ChunkKey::new(0, -2, 0);
    let lod_scene = Scene {
        center: node_mip(node),
        neighbors: Face::ALL
            .iter()
            .map(|f| {
                let o = f.offset();
                node_mip(ChunkKey::new(node.x + 4 * o[0], node.y + 4 * o[1], node.z + 4 * o[2]))
            })
            .collect(),
    };
    let lod_hood = lod_scene.hood();
    let lod_options = MeshOptions::lod(2);
    let lod_bm = padded_voxels(&table, |p| Some(lod_scene.voxel(p)));
    let (ours, peer) = side_by_side_ns(
        batches,
        iters,
        || {
            keep(mesher.mesh(&lod_hood, &lod_options, &mut mesh));
        },
        || {
            greedy_quads(&lod_bm, &Padded {}, [0; 3], [33; 3], faces, &mut bm_buffer);
            keep(bm_buffer.quads.num_quads());
        },
    );
    out.push(Metric::with_peer("mesh.lod_node", ours / 1e3, "us", "block_mesh_greedy", peer / 1e3));
    out
}
