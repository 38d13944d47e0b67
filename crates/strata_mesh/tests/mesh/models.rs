//! The model pass against a brute-force reference: every face of every box of every shaped
//! voxel, for every shape and state, next to cubes, other shapes, unloaded chunks and seams.
//!
//! The reference decides a side's cover sixteenth by sixteenth from the neighbour's boxes
//! (not from the shape's precomputed full sides), and reads voxels one by one through
//! [`voxel_at`].

use crate::common::{NeighborSpec, hood, voxel_at};
use proptest::prelude::*;
use strata_core::rng::SplitMix64;
use strata_core::{Chunk, DenseChunk, Face, MaterialId, MaterialKind, MaterialRegistry, PlacedShape, ShapeBox};
use strata_mesh::{ChunkMesh, MaterialTable, MeshBuffers, MeshOptions, Mesher};

const STONE: u16 = 1;
const GLASS: u16 = 2;
/// Slabs: axis × half, ids 10..16.
const SLABS: std::ops::Range<u16> = 10..16;
/// Stairs: facing × half, ids 20..28.
const STAIRS: std::ops::Range<u16> = 20..28;
/// A post of two boxes.
const POST: u16 = 30;
/// A cross plant.
const FERN: u16 = 31;
/// Transparent slabs: half, ids 32..34.
const GLASS_SLABS: std::ops::Range<u16> = 32..34;

fn registry() -> MaterialRegistry {
    MaterialRegistry::from_ron_str(
        r#"(materials: [
            (id: 0, name: "air", color: (0, 0, 0, 0), kind: Air),
            (id: 1, name: "stone", color: (0.5, 0.5, 0.5, 1), kind: Solid),
            (id: 2, name: "glass", color: (1, 1, 1, 0.3), kind: Transparent),
            (id: 10, name: "slab", color: (0.5, 0.5, 0.5, 1), kind: Solid, shape: Slab, states: [half, axis]),
            (id: 20, name: "stairs", color: (0.5, 0.5, 0.5, 1), kind: Solid, shape: Stairs, states: [facing, half]),
            (id: 30, name: "post", color: (0.4, 0.3, 0.2, 1), kind: Solid,
                shape: Boxes([(min: (6, 0, 6), max: (10, 12, 10)), (min: (0, 12, 0), max: (16, 16, 16))])),
            (id: 31, name: "fern", color: (0.1, 0.6, 0.1, 1), kind: Solid, shape: Cross, collides: false),
            (id: 32, name: "glass_slab", color: (1, 1, 1, 0.3), kind: Transparent, shape: Slab, states: [half]),
        ])"#,
    )
    .expect("test registry")
}

fn palette() -> Vec<u16> {
    let mut p = vec![0, 0, 0, STONE, STONE, GLASS, POST, FERN];
    p.extend(SLABS.chain(STAIRS).chain(GLASS_SLABS));
    p
}

/// A chunk of random voxels from `palette()` over a random background, with runs so cubes and
/// shapes meet on every side.
fn random_chunk(seed: u64) -> Chunk {
    let p = palette();
    let mut rng = SplitMix64(seed | 1);
    let background = [0, 0, STONE][rng.below(3) as usize];
    let mut d = DenseChunk::filled(MaterialId(background));
    let density = 1 + rng.below(6);
    for v in d.as_mut_slice().iter_mut() {
        if rng.below(8) < density {
            *v = p[rng.below(p.len() as u64) as usize];
        }
    }
    let mut c = Chunk::Dense(d);
    c.normalize();
    c
}

/// A face of a shaped voxel in sixteenths: (transparent mesh?, voxel, face, plane, p range, q range, material).
type ModelFace = (bool, [i32; 3], u8, i32, [i32; 2], [i32; 2], u32);

const TANGENTS: [(usize, usize); 3] = [(1, 2), (2, 0), (0, 1)];

/// The boxes of `id` (`None`: not shaped; a cross has none).
fn boxes(registry: &MaterialRegistry, id: u16) -> Option<&PlacedShape> {
    registry.shape(MaterialId(id))
}

/// Whether the boxes cover every sixteenth square of the side towards `face`.
fn covers_every_square(shape: &PlacedShape, face: Face) -> bool {
    let a = face.axis();
    let (u, v) = TANGENTS[a];
    let side = if face.is_positive() { 16 } else { 0 };
    (0..16u8).all(|i| {
        (0..16u8).all(|j| {
            shape.boxes.iter().any(|b| {
                let touches = if face.is_positive() { b.max[a] == side } else { b.min[a] == side };
                touches && b.min[u] <= i && i < b.max[u] && b.min[v] <= j && j < b.max[v]
            })
        })
    })
}

/// The shaped voxels of the centre that open cells can see: a breadth-first search from every
/// shaped voxel next to an open cell (not an opaque cube, not unloaded, not a shaped voxel of
/// the centre), through shaped neighbours.
fn reachable(
    registry: &MaterialRegistry,
    center: &Chunk,
    neighbors: &[NeighborSpec; 6],
) -> std::collections::HashSet<[i32; 3]> {
    let inside = |p: [i32; 3]| p.iter().all(|v| (0..32).contains(v));
    let shaped =
        |p: [i32; 3]| inside(p) && voxel_at(center, neighbors, p).is_some_and(|id| boxes(registry, id).is_some());
    let open = |p: [i32; 3]| {
        !shaped(p)
            && voxel_at(center, neighbors, p).is_some_and(|id| {
                boxes(registry, id).is_some() || registry.kind(MaterialId(id)).unwrap() != MaterialKind::Solid
            })
    };
    let around = |p: [i32; 3]| {
        Face::ALL.map(|f| {
            let o = f.offset();
            [p[0] + o[0], p[1] + o[1], p[2] + o[2]]
        })
    };
    let mut seen = std::collections::HashSet::new();
    let mut queue = Vec::new();
    for z in 0..32 {
        for y in 0..32 {
            for x in 0..32 {
                let p = [x, y, z];
                if shaped(p) && around(p).into_iter().any(&open) && seen.insert(p) {
                    queue.push(p);
                }
            }
        }
    }
    while let Some(p) = queue.pop() {
        for n in around(p) {
            if shaped(n) && seen.insert(n) {
                queue.push(n);
            }
        }
    }
    seen
}

/// The model faces the rules give, voxel by voxel and box by box.
fn reference(registry: &MaterialRegistry, center: &Chunk, neighbors: &[NeighborSpec; 6]) -> (Vec<ModelFace>, usize) {
    let mut out = Vec::new();
    let mut crosses = 0;
    let seen = reachable(registry, center, neighbors);
    for z in 0..32 {
        for y in 0..32 {
            for x in 0..32 {
                let Some(id) = voxel_at(center, neighbors, [x, y, z]) else { unreachable!() };
                let Some(shape) = boxes(registry, id) else { continue };
                if !seen.contains(&[x, y, z]) {
                    continue; // sealed in by opaque cubes: invisible
                }
                if shape.cross {
                    crosses += 1;
                    continue;
                }
                let transparent = registry.kind(MaterialId(id)).unwrap() == MaterialKind::Transparent;
                for (i, b) in shape.boxes.iter().enumerate() {
                    for face in Face::ALL {
                        let a = face.axis();
                        let (pa, qa) = TANGENTS[a];
                        let plane = if face.is_positive() { b.max[a] } else { b.min[a] };
                        let inside = shape.boxes.iter().enumerate().any(|(j, o): (usize, &ShapeBox)| {
                            let against = if face.is_positive() { o.min[a] == plane } else { o.max[a] == plane };
                            j != i
                                && against
                                && o.min[pa] <= b.min[pa]
                                && b.max[pa] <= o.max[pa]
                                && o.min[qa] <= b.min[qa]
                                && b.max[qa] <= o.max[qa]
                        });
                        if inside {
                            continue;
                        }
                        let on_side = plane == if face.is_positive() { 16 } else { 0 };
                        if on_side {
                            let o = face.offset();
                            let n = voxel_at(center, neighbors, [x + o[0], y + o[1], z + o[2]]);
                            let hidden = match n {
                                None => true, // unloaded
                                Some(n) => match boxes(registry, n) {
                                    Some(s) => covers_every_square(s, face.opposite()),
                                    None => registry.kind(MaterialId(n)).unwrap() == MaterialKind::Solid,
                                },
                            };
                            if hidden {
                                continue;
                            }
                        }
                        out.push((
                            transparent,
                            [x, y, z],
                            face as u8,
                            i32::from(plane),
                            [i32::from(b.min[pa]), i32::from(b.max[pa])],
                            [i32::from(b.min[qa]), i32::from(b.max[qa])],
                            u32::from(id),
                        ));
                    }
                }
            }
        }
    }
    out.sort_unstable();
    (out, crosses)
}

/// The axis-aligned model faces of `buffers` (materials in `shaped`), back in sixteenths, and
/// the number of cross quads.
fn emitted(buffers: &MeshBuffers, transparent: bool, shaped: &impl Fn(u32) -> bool, out: &mut Vec<ModelFace>) -> usize {
    let mut crosses = 0;
    for (qi, q) in buffers.quads().enumerate() {
        if !shaped(q.material) {
            continue;
        }
        let n = buffers.normals[qi * 4];
        if n.iter().filter(|v| **v != 0.0).count() > 1 {
            crosses += 1;
            continue;
        }
        let a = q.face.axis();
        let (pa, qa) = TANGENTS[a];
        let s = |v: f32| (v * 16.0).round() as i32;
        let plane16 = s(q.min[a]);
        let voxel_a = if q.face.is_positive() { (plane16 - 1).div_euclid(16) } else { plane16.div_euclid(16) };
        let mut voxel = [0; 3];
        voxel[a] = voxel_a;
        voxel[pa] = s(q.min[pa]).div_euclid(16);
        voxel[qa] = s(q.min[qa]).div_euclid(16);
        out.push((
            transparent,
            voxel,
            q.face as u8,
            plane16 - 16 * voxel_a,
            [s(q.min[pa]) - 16 * voxel[pa], s(q.max[pa]) - 16 * voxel[pa]],
            [s(q.min[qa]) - 16 * voxel[qa], s(q.max[qa]) - 16 * voxel[qa]],
            q.material,
        ));
    }
    crosses
}

fn spec(kind: u8, seed: u64) -> NeighborSpec {
    match kind {
        0 => NeighborSpec::Unloaded,
        1 => NeighborSpec::Seam,
        2 => NeighborSpec::Loaded(Chunk::Uniform(MaterialId(palette()[seed as usize % palette().len()]))),
        _ => NeighborSpec::Loaded(random_chunk(seed)),
    }
}

fn check(center: &Chunk, neighbors: &[NeighborSpec; 6], ao: bool) -> Result<(), TestCaseError> {
    let registry = registry();
    let table = MaterialTable::new(&registry);
    let mut mesher = Mesher::new(table);
    let mut mesh = ChunkMesh::default();
    mesher.mesh(&hood(center, neighbors), &MeshOptions { ambient_occlusion: ao, ..MeshOptions::default() }, &mut mesh);
    let shaped = |m: u32| registry.shape(MaterialId(m as u16)).is_some();
    let mut got = Vec::new();
    let crosses = emitted(&mesh.opaque, false, &shaped, &mut got) + emitted(&mesh.transparent, true, &shaped, &mut got);
    got.sort_unstable();
    let (expected, expected_crosses) = reference(&registry, center, neighbors);
    if got != expected {
        let missing: Vec<_> = expected.iter().filter(|f| got.binary_search(f).is_err()).take(4).collect();
        let extra: Vec<_> = got.iter().filter(|f| expected.binary_search(f).is_err()).take(4).collect();
        prop_assert!(false, "{} faces, {} expected; missing {missing:?} extra {extra:?}", got.len(), expected.len());
    }
    prop_assert_eq!(crosses, 4 * expected_crosses, "a cross is two planes, each from both sides");
    // Stone faces are hidden by stone, unloaded chunks, sealed-in shaped voxels and shaped
    // voxels of the centre covering the touching side whole; every other one is drawn.
    let seen = reachable(&registry, center, neighbors);
    let sealed = |p: [i32; 3]| {
        p.iter().all(|v| (0..32).contains(v))
            && voxel_at(center, neighbors, p).is_some_and(|id| boxes(&registry, id).is_some())
            && !seen.contains(&p)
    };
    let mut stone_faces = 0;
    for z in 0..32 {
        for y in 0..32 {
            for x in 0..32 {
                if voxel_at(center, neighbors, [x, y, z]) != Some(STONE) {
                    continue;
                }
                for face in Face::ALL {
                    let o = face.offset();
                    let p = [x + o[0], y + o[1], z + o[2]];
                    let n = voxel_at(center, neighbors, p);
                    let inside = p.iter().all(|v| (0..32).contains(v));
                    let covered = inside
                        && n.and_then(|n| boxes(&registry, n)).is_some_and(|s| covers_every_square(s, face.opposite()));
                    stone_faces += usize::from(n.is_some_and(|n| n != STONE) && !sealed(p) && !covered);
                }
            }
        }
    }
    let stone_area: f32 = mesh
        .opaque
        .quads()
        .filter(|q| q.material == u32::from(STONE))
        .map(|q| (0..3).filter(|&a| a != q.face.axis()).map(|a| q.max[a] - q.min[a]).product::<f32>())
        .sum();
    prop_assert_eq!(stone_area as usize, stone_faces);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn model_faces_match_the_reference(
        seed in any::<u64>(),
        kinds in proptest::array::uniform6(0u8..4),
        seeds in proptest::array::uniform6(any::<u64>()),
        ao in any::<bool>(),
    ) {
        let neighbors: [NeighborSpec; 6] = std::array::from_fn(|i| spec(kinds[i], seeds[i]));
        check(&random_chunk(seed), &neighbors, ao)?;
    }
}

/// Every pair of shapes and states side by side along every axis: each pair's touching sides
/// hide each other exactly when the reference says.
#[test]
fn every_pair_of_shapes_and_states_meets_as_the_reference_says() {
    let ids: Vec<u16> =
        palette().into_iter().filter(|&id| id != 0).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let loaded_air = || NeighborSpec::Loaded(Chunk::Uniform(MaterialId::AIR));
    let pairs: Vec<(u16, u16)> = ids.iter().flat_map(|&a| ids.iter().map(move |&b| (a, b))).collect();
    for face in [Face::PosX, Face::PosY, Face::PosZ] {
        // Pairs laid out on a grid three voxels apart, each pair along `face`, 100 per chunk.
        let (a, o) = (face.axis(), face.offset());
        let (pa, qa) = TANGENTS[a];
        for batch in pairs.chunks(100) {
            let mut d = DenseChunk::filled(MaterialId::AIR);
            for (slot, &(first, second)) in batch.iter().enumerate() {
                let mut p = [0i32; 3];
                p[pa] = 3 * (slot % 10) as i32;
                p[qa] = 3 * (slot / 10) as i32;
                p[a] = 4;
                let q = [p[0] + o[0], p[1] + o[1], p[2] + o[2]];
                let at = |p: [i32; 3]| strata_core::LocalPos::new(p[0] as u8, p[1] as u8, p[2] as u8).index();
                d.set(at(p), MaterialId(first));
                d.set(at(q), MaterialId(second));
            }
            let neighbors: [NeighborSpec; 6] = std::array::from_fn(|_| loaded_air());
            if let Err(e) = check(&Chunk::Dense(d), &neighbors, false) {
                panic!("pairs along {face:?}: {e}");
            }
        }
    }
}

/// LOD mips mesh shaped voxels as cubes of their material: the same quads as a table where
/// every shape is a plain cube of its kind.
#[test]
fn lod_mips_show_shapes_as_cubes() {
    let registry = registry();
    let mut kinds = vec![MaterialKind::Solid; registry.id_bound()];
    for m in registry.iter() {
        kinds[m.id as usize] = m.kind;
    }
    let cubes = MaterialTable::from_kinds(&kinds);
    for seed in 0..8 {
        let center = random_chunk(seed);
        let neighbors: [NeighborSpec; 6] =
            std::array::from_fn(|i| spec((seed as u8 + i as u8) % 4, seed * 7 + i as u64));
        let mesh = |table: MaterialTable| {
            let mut out = ChunkMesh::default();
            Mesher::new(table).mesh(&hood(&center, &neighbors), &MeshOptions::lod(1), &mut out);
            out
        };
        let (shaped, plain) = (mesh(MaterialTable::new(&registry)), mesh(cubes.clone()));
        assert_eq!(shaped, plain, "seed {seed}");
        assert!(!shaped.opaque.is_empty());
    }
}
