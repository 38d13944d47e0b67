//! Quad count ≤ block-mesh `greedy_quads` on the same inputs.
//!
//! **The one rule where we differ:** block-mesh hides every face between two translucent
//! voxels; we hide faces between two cells of the *same* see-through material only, and keep
//! those between *different* ones (water against glass shows its surface, as it would in a
//! game). The random inputs therefore use one see-through material (water), where both rules
//! agree; `two_see_through_materials_differ_by_exactly_their_interface` pins the difference.

use crate::common;

use common::*;
use proptest::prelude::*;
use strata_bench::block_mesh_peer;
use strata_core::{Chunk, ChunkKey, MaterialId, WorldGenerator};
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_mesh::{ChunkMesh, MaterialTable, MeshOptions, Mesher};

fn block_mesh_quads(table: &MaterialTable, center: &Chunk, neighbors: &[NeighborSpec; 6]) -> usize {
    let voxels = block_mesh_peer::padded_voxels(table, |p| voxel_at(center, neighbors, p));
    block_mesh_peer::greedy_quad_count(&voxels)
}

fn ours(center: &Chunk, neighbors: &[NeighborSpec; 6]) -> usize {
    let mut mesher = Mesher::new(table());
    let mut mesh = ChunkMesh::default();
    mesher.mesh(&hood(center, neighbors), &MeshOptions::default(), &mut mesh);
    mesh.quad_count()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn never_more_quads_than_block_mesh(
        seed in any::<u64>(),
        specs in proptest::array::uniform6((0u8..3, any::<u64>())),
    ) {
        let palette = [AIR, STONE, DIRT, WATER, UNKNOWN];
        let center = random_chunk(seed, &palette);
        let neighbors = specs.map(|(k, s)| match k {
            0 => NeighborSpec::Unloaded,
            1 => NeighborSpec::Loaded(Chunk::Uniform(MaterialId(palette[(s % 5) as usize]))),
            _ => NeighborSpec::Loaded(random_chunk(s, &palette)),
        });
        let (a, b) = (ours(&center, &neighbors), block_mesh_quads(&table(), &center, &neighbors));
        prop_assert!(a <= b, "ours {a} > block-mesh {b}");
    }
}

#[test]
fn two_see_through_materials_differ_by_exactly_their_interface() {
    // Water (x < 16) beside glass (x ≥ 16) in the lower half, air above, opaque all around:
    // both meshers show the two tops; only we show the water/glass interface, one 16 × 32 quad
    // from each side.
    let center = Chunk::Dense(strata_core::DenseChunk::from_fn(|p| {
        MaterialId(match (p.y < 16, p.x < 16) {
            (false, _) => AIR,
            (true, true) => WATER,
            (true, false) => GLASS,
        })
    }));
    let neighbors: [NeighborSpec; 6] = std::array::from_fn(|_| NeighborSpec::Unloaded);
    let (a, b) = (ours(&center, &neighbors), block_mesh_quads(&table(), &center, &neighbors));
    assert_eq!(b, 2, "block-mesh: the two tops");
    assert_eq!(a, b + 2, "ours: the two tops and both sides of the interface");
}

#[test]
fn terrain_chunks_beat_block_mesh() {
    let generator = NoiseTerrain::new(TerrainConfig::default());
    let table = table();
    let (mut ours_total, mut theirs_total) = (0, 0);
    for key in [ChunkKey::new(0, -1, 0), ChunkKey::new(3, -1, 2), ChunkKey::new(-2, -1, 5), ChunkKey::new(1, -1, -1)] {
        let center = generator.generate(key);
        let neighbors: [NeighborSpec; 6] =
            strata_core::Face::ALL.map(|f| NeighborSpec::Loaded(generator.generate(key.neighbor(f))));
        let (a, b) = (ours(&center, &neighbors), block_mesh_quads(&table, &center, &neighbors));
        assert!(a <= b, "{key:?}: ours {a} > block-mesh {b}");
        ours_total += a;
        theirs_total += b;
    }
    assert!(ours_total < theirs_total, "run merging of tops saves quads on terrain: {ours_total} vs {theirs_total}");
}
