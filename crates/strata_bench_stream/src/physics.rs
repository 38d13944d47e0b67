//! `strata_flythrough --physics [--batches N]`: the report's physics metrics, avian 0.7 against
//! the shapes an avian user would build by hand, in this one process.
//!
//! **Terrain.** The surface chunks of the report's index world (`NoiseTerrain::default()`),
//! column by column outwards from chunk column (0, 0): every chunk with at least one colliding
//! voxel that is not a uniform block, until [`CHUNKS`] chunks.
//!
//! **`physics.collider_build_us`** per chunk, single thread, side by side: ours is
//! [`bevy_strata::colliders::chunk_collider`] from the chunk's voxels (box merge and avian's
//! compound, everything included); the peer `avian_trimesh_from_mesh` is
//! `Collider::trimesh_from_mesh` on the chunk's opaque mesh (Strata's greedy mesh of the chunk
//! with its six real neighbours, no AO so quads merge as much as they can; the mesh is made
//! before timing, as a game has it already). A second line times parry's voxel shape
//! (`Collider::voxels` from the colliding voxels' coordinates), the third way to collide with
//! voxels.
//!
//! **`physics.step_ms`**: one avian step (`app.update()` of a headless app advancing exactly one
//! fixed step of 1/64 s) with the [`CHUNKS`] terrain colliders and [`BOXES`] dynamic unit boxes
//! dropped 3 voxels above the terrain on a grid, against the peer `flat_ground_plane`: the same
//! boxes dropped 3 voxels above one static cuboid. The boxes never sleep (`SleepingDisabled`),
//! so every timed step solves their contacts (resting boxes would otherwise fall asleep and
//! the steps would time nothing). Also timed: the same terrain as trimesh
//! colliders of the opaque meshes (`physics.step_ms` with peer `avian_trimesh_terrain`). Every
//! app first runs [`SETTLE_STEPS`] steps (falling, landing), then the apps take turns, 16
//! steps each per batch; the value is the median step.
//!
//! The result line: `build_ours_us`, `build_trimesh_us`, `build_ours_beside_voxels_us` (ours
//! again, timed in the pairing with the voxel shape), `build_voxels_us`, `boxes_per_chunk`,
//! `triangles_per_chunk`, `step_boxes_ms`, `step_plane_ms`, `step_trimesh_ms`,
//! `resting_boxes` (boxes within a voxel of their terrain surface after the run: the boxes
//! must have landed, not fallen through).

use avian3d::prelude::*;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use bevy_strata::colliders::chunk_collider;
use std::time::{Duration, Instant};
use strata_bench::{keep, median, side_by_side_ns};
use strata_core::{Chunk, ChunkKey, Face, MaterialRegistry, WorldGenerator};
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_mesh::{
    ChunkMesh, CollisionBoxes, CollisionTable, MaterialTable, MeshOptions, Mesher, Neighbor, Neighborhood,
};

/// Terrain chunks with colliders.
pub const CHUNKS: usize = 300;
/// Dynamic boxes.
pub const BOXES: usize = 50;
/// Steps before timing.
pub const SETTLE_STEPS: usize = 120;

struct TerrainChunk {
    key: ChunkKey,
    voxels: Chunk,
    mesh: Mesh,
    triangles: usize,
}

fn terrain(generator: &NoiseTerrain, registry: &MaterialRegistry) -> Vec<TerrainChunk> {
    let table = CollisionTable::new(registry);
    let mut mesher = Mesher::new(MaterialTable::new(registry));
    let mut out = Vec::new();
    // Columns in rings around (0, 0).
    'rings: for ring in 0i32.. {
        for cz in -ring..=ring {
            for cx in -ring..=ring {
                if cx.abs().max(cz.abs()) != ring {
                    continue;
                }
                for cy in -4..8 {
                    let key = ChunkKey::new(cx, cy, cz);
                    let voxels = generator.generate(key);
                    let collides_somewhere = voxels.as_uniform().is_none()
                        && (0..strata_core::CHUNK_VOLUME as u16)
                            .any(|i| table.collides(voxels.get(strata_core::LocalIndex::new(i))));
                    if !collides_somewhere {
                        continue;
                    }
                    let neighbours: Vec<(Face, Chunk)> =
                        Face::ALL.iter().map(|&f| (f, generator.generate(key.neighbor(f)))).collect();
                    let hood = Neighborhood::from_fn(&voxels, |f| {
                        Neighbor::Loaded(&neighbours.iter().find(|(g, _)| *g == f).expect("six faces").1)
                    });
                    let mut m = ChunkMesh::default();
                    mesher.mesh(&hood, &MeshOptions::default(), &mut m);
                    let triangles = m.opaque.indices.len() / 3;
                    let mesh = bevy_strata::to_bevy_mesh(&m.opaque, registry);
                    out.push(TerrainChunk { key, voxels, mesh, triangles });
                    if out.len() == CHUNKS {
                        break 'rings;
                    }
                }
            }
        }
    }
    out
}

fn physics_app() -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        TransformPlugin,
        AssetPlugin::default(),
        bevy::mesh::MeshPlugin,
        PhysicsPlugins::default(),
    ))
    .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(1.0 / 64.0)));
    app.finish();
    app.cleanup();
    app
}

/// The box drop points: a 10 × 5 grid, 3 voxels apart, `above` the ground under each.
fn drops(ground: impl Fn(i32, i32) -> f32) -> Vec<Vec3> {
    (0..BOXES)
        .map(|i| {
            let (x, z) = (3 * (i % 10) as i32 - 14, 3 * (i / 10) as i32 - 7);
            Vec3::new(x as f32 + 0.5, ground(x, z) + 3.5, z as f32 + 0.5)
        })
        .collect()
}

fn spawn_boxes(app: &mut App, at: &[Vec3]) -> Vec<Entity> {
    at.iter()
        .map(|&p| {
            app.world_mut()
                .spawn((
                    RigidBody::Dynamic,
                    Collider::cuboid(1.0, 1.0, 1.0),
                    SleepingDisabled,
                    Transform::from_translation(p),
                ))
                .id()
        })
        .collect()
}

fn chunk_origin(key: ChunkKey) -> Vec3 {
    let v = key.min_voxel();
    Vec3::new(v.x as f32, v.y as f32, v.z as f32)
}

/// Runs the measurements; returns the result line.
pub fn run(batches: usize) -> Result<String, String> {
    let generator = NoiseTerrain::new(TerrainConfig::default());
    let registry = MaterialRegistry::builtin();
    let table = CollisionTable::new(&registry);
    let chunks = terrain(&generator, &registry);
    if chunks.len() < CHUNKS {
        return Err(format!("only {} terrain chunks found", chunks.len()));
    }

    // Collider builds, chunk by chunk, ours and the peers' interleaved.
    let mut builder = CollisionBoxes::new();
    let mut boxes_total = 0usize;
    let (mut scratch, mut parts) = (Vec::new(), Vec::new());
    for c in &chunks {
        builder.build(&c.voxels, &table, &mut scratch, &mut parts);
        boxes_total += scratch.len() + parts.len();
    }
    let coords: Vec<Vec<IVec3>> = chunks
        .iter()
        .map(|c| {
            let mut v = Vec::new();
            for i in 0..strata_core::CHUNK_VOLUME as u16 {
                let idx = strata_core::LocalIndex::new(i);
                if table.collides(c.voxels.get(idx)) {
                    let p = idx.pos();
                    v.push(IVec3::new(i32::from(p.x), i32::from(p.y), i32::from(p.z)));
                }
            }
            v
        })
        .collect();
    let iters = 1;
    let (ours_ns, trimesh_ns) = side_by_side_ns(
        batches,
        iters,
        || {
            for c in &chunks {
                keep(chunk_collider(&c.voxels, &table, &mut builder));
            }
        },
        || {
            for c in &chunks {
                keep(Collider::trimesh_from_mesh(&c.mesh));
            }
        },
    );
    // Each ratio divides the two times of one pairing (our build is timed again beside this peer).
    let (ours_beside_voxels_ns, voxels_ns) = side_by_side_ns(
        batches,
        iters,
        || {
            for c in &chunks {
                keep(chunk_collider(&c.voxels, &table, &mut builder));
            }
        },
        || {
            for v in &coords {
                keep(Collider::voxels(Vec3::ONE, v));
            }
        },
    );
    let per_chunk_us = |ns: f64| ns / chunks.len() as f64 / 1e3;

    // Steps: terrain of boxes, terrain of trimeshes, a flat plane; the same drops.
    let surface = |x: i32, z: i32| (generator.height(x, z) + 1) as f32;
    let terrain_drops = drops(surface);
    let mut ours = physics_app();
    for c in &chunks {
        let collider = chunk_collider(&c.voxels, &table, &mut builder).expect("a terrain chunk collides");
        ours.world_mut().spawn((RigidBody::Static, collider, Transform::from_translation(chunk_origin(c.key))));
    }
    let our_boxes = spawn_boxes(&mut ours, &terrain_drops);
    let mut trimesh = physics_app();
    for c in &chunks {
        let Some(collider) = Collider::trimesh_from_mesh(&c.mesh) else { continue };
        trimesh.world_mut().spawn((RigidBody::Static, collider, Transform::from_translation(chunk_origin(c.key))));
    }
    spawn_boxes(&mut trimesh, &terrain_drops);
    let mut plane = physics_app();
    plane.world_mut().spawn((
        RigidBody::Static,
        Collider::cuboid(200.0, 1.0, 200.0),
        Transform::from_xyz(0.0, -0.5, 0.0),
    ));
    spawn_boxes(&mut plane, &drops(|_, _| 0.0));

    let mut apps = [&mut ours, &mut trimesh, &mut plane];
    for app in apps.iter_mut() {
        for _ in 0..SETTLE_STEPS {
            app.update();
        }
    }
    let mut steps: [Vec<f64>; 3] = Default::default();
    for _ in 0..batches.max(9) {
        for (app, out) in apps.iter_mut().zip(steps.iter_mut()) {
            for _ in 0..16 {
                let t = Instant::now();
                app.update();
                out.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    // The boxes landed on the terrain (within a voxel of the surface under them), none fell
    // through it.
    let resting = our_boxes
        .iter()
        .zip(&terrain_drops)
        .filter(|&(&e, drop)| {
            let p = ours.world().get::<Position>(e).map_or(Vec3::NAN, |p| p.0);
            let ground = surface(p.x.floor() as i32, p.z.floor() as i32);
            p.y > drop.y - 40.0 && (p.y - 0.5 - ground).abs() < 1.0
        })
        .count();
    Ok(format!(
        "build_ours_us={} build_trimesh_us={} build_ours_beside_voxels_us={} build_voxels_us={} boxes_per_chunk={} \
         triangles_per_chunk={} step_boxes_ms={} step_trimesh_ms={} step_plane_ms={} resting_boxes={resting} chunks={} \
         boxes={BOXES}",
        per_chunk_us(ours_ns),
        per_chunk_us(trimesh_ns),
        per_chunk_us(ours_beside_voxels_ns),
        per_chunk_us(voxels_ns),
        boxes_total as f64 / chunks.len() as f64,
        chunks.iter().map(|c| c.triangles).sum::<usize>() as f64 / chunks.len() as f64,
        median(&steps[0]),
        median(&steps[1]),
        median(&steps[2]),
        chunks.len(),
    ))
}
