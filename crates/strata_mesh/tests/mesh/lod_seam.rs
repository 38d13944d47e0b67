//! LOD seams: on a terrain with a border between LOD 0 and LOD 1, rays cast across the seam
//! always hit a surface when the border is meshed as [`Neighbor::Seam`] on both sides.

use crate::common;

use common::*;
use strata_core::downsample::node_grid;
use strata_core::rng::SplitMix64;
use strata_core::{Chunk, ChunkKey, Face, LocalPos, WorldGenerator};
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_mesh::{ChunkMesh, MeshOptions, Mesher, Neighbor, Neighborhood};

/// A quad in world space: axis, plane, and the rectangle on the two other axes.
struct WorldQuad {
    min: [f32; 3],
    max: [f32; 3],
    axis: usize,
}

/// Fine LOD 0 chunks at x = -1, y and z in 0..2; coarse LOD 1 node at chunks x, y, z in 0..2.
struct Scene {
    generator: NoiseTerrain,
    fine: Vec<(ChunkKey, Chunk)>,
    coarse: Chunk,
}

fn scene() -> Scene {
    // Surface between y = 8 and 56, steep enough that LOD 0 and 1 disagree at the border.
    let config = TerrainConfig {
        base_height: 32,
        amplitude: 24.0,
        frequency: 1.0 / 40.0,
        sea_level: -100,
        ..TerrainConfig::default()
    };
    let generator = NoiseTerrain::new(config);
    let mut fine = Vec::new();
    for cz in 0..2 {
        for cy in 0..2 {
            let key = ChunkKey::new(-1, cy, cz);
            fine.push((key, generator.generate(key)));
        }
    }
    let children: Vec<Chunk> =
        (0..8).map(|i| generator.generate(ChunkKey::new(i & 1, (i >> 1) & 1, (i >> 2) & 1))).collect();
    let coarse =
        node_grid(1, ChunkKey::new(0, 0, 0), &strata_core::WorldUp::PlusY, |[x, y, z]| &children[x + 2 * y + 4 * z])
            .unwrap_or_default();
    Scene { generator, fine, coarse }
}

/// Meshes the scene; `seam` is the policy on the LOD border (both sides).
fn world_quads(scene: &Scene, seam: Neighbor<'static>) -> Vec<WorldQuad> {
    let mut mesher = Mesher::new(table());
    let mut mesh = ChunkMesh::default();
    let mut quads = Vec::new();
    let mut collect = |mesh: &ChunkMesh, offset: [f32; 3]| {
        for q in mesh.opaque.quads().chain(mesh.transparent.quads()) {
            let add = |p: [f32; 3]| [p[0] + offset[0], p[1] + offset[1], p[2] + offset[2]];
            quads.push(WorldQuad { min: add(q.min), max: add(q.max), axis: q.face.axis() });
        }
    };
    let neighbours: Vec<(ChunkKey, Chunk)> = scene
        .fine
        .iter()
        .flat_map(|(k, _)| Face::ALL.map(|f| k.neighbor(f)))
        .map(|k| (k, scene.generator.generate(k)))
        .collect();
    for (key, chunk) in &scene.fine {
        let hood = Neighborhood::from_fn(chunk, |face| {
            if face == Face::PosX {
                return seam;
            }
            let n = key.neighbor(face);
            let found = scene.fine.iter().chain(&neighbours).find(|(k, _)| *k == n);
            found.map_or(Neighbor::Unloaded, |(_, c)| Neighbor::Loaded(c))
        });
        mesher.mesh(&hood, &MeshOptions::default(), &mut mesh);
        let o = key.min_voxel();
        collect(&mesh, [o.x as f32, o.y as f32, o.z as f32]);
    }
    let hood = Neighborhood::from_fn(&scene.coarse, |face| if face == Face::NegX { seam } else { Neighbor::Unloaded });
    mesher.mesh(&hood, &MeshOptions::lod(1), &mut mesh);
    collect(&mesh, [0.0; 3]);
    quads
}

fn hits(quads: &[WorldQuad], from: [f32; 3], to: [f32; 3]) -> bool {
    const EPS: f32 = 1e-4;
    quads.iter().any(|q| {
        let a = q.axis;
        let d = to[a] - from[a];
        if d == 0.0 {
            return false;
        }
        let t = (q.min[a] - from[a]) / d;
        if !(0.0..=1.0).contains(&t) {
            return false;
        }
        (0..3).filter(|&b| b != a).all(|b| {
            let v = from[b] + t * (to[b] - from[b]);
            v >= q.min[b] - EPS && v <= q.max[b] + EPS
        })
    })
}

/// Random segments from air on one side of the seam to solid on the other, in both directions.
fn segments(scene: &Scene) -> Vec<([f32; 3], [f32; 3])> {
    let mut rng = SplitMix64(0x5EA4);
    let mut out = Vec::new();
    let fine_voxel = |p: [i32; 3]| -> Option<u16> {
        let key = ChunkKey::new(p[0].div_euclid(32), p[1].div_euclid(32), p[2].div_euclid(32));
        let (_, c) = scene.fine.iter().find(|(k, _)| *k == key)?;
        let l = p.map(|v| v.rem_euclid(32) as u8);
        Some(c.get(LocalPos::new(l[0], l[1], l[2]).index()).0)
    };
    let coarse_voxel =
        |p: [i32; 3]| scene.coarse.get(LocalPos::new((p[0] / 2) as u8, (p[1] / 2) as u8, (p[2] / 2) as u8).index()).0;
    let jitter = |rng: &mut SplitMix64| 0.05 + 0.9 * (rng.below(1000) as f32 / 1000.0);
    while out.len() < 4000 {
        let fine_p = [-1 - rng.below(31) as i32, rng.below(64) as i32, rng.below(64) as i32];
        let coarse_p = [rng.below(64) as i32, rng.below(64) as i32, rng.below(64) as i32];
        let (Some(f), c) = (fine_voxel(fine_p), coarse_voxel(coarse_p)) else { continue };
        let centre = |p: [i32; 3], rng: &mut SplitMix64| {
            [p[0] as f32 + jitter(rng), p[1] as f32 + jitter(rng), p[2] as f32 + jitter(rng)]
        };
        if f == AIR && c != AIR {
            out.push((centre(fine_p, &mut rng), centre(coarse_p, &mut rng)));
        } else if f != AIR && c == AIR {
            out.push((centre(coarse_p, &mut rng), centre(fine_p, &mut rng)));
        }
    }
    out
}

#[test]
fn lod_seam_rays_always_hit() {
    let scene = scene();
    assert!(matches!(scene.coarse, Chunk::Dense(_)), "the node holds a surface");
    let quads = world_quads(&scene, Neighbor::Seam);
    let segs = segments(&scene);
    let misses: Vec<_> = segs.iter().filter(|(a, b)| !hits(&quads, *a, *b)).take(3).collect();
    assert!(misses.is_empty(), "rays through the seam: {misses:?}");
}

#[test]
fn without_seam_walls_the_test_finds_cracks() {
    let scene = scene();
    let quads = world_quads(&scene, Neighbor::Unloaded);
    let segs = segments(&scene);
    let misses = segs.iter().filter(|(a, b)| !hits(&quads, *a, *b)).count();
    assert!(misses > 0, "the unloaded policy leaves cracks at an LOD border, which the ray test must see");
}
