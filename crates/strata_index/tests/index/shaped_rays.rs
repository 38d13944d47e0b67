//! Ray casts against shaped blocks (slabs, stairs, models) equal an exhaustive oracle: every
//! box of every voxel of the world clipped against the ray (Liang–Barsky: the segment
//! `[0, max_distance]` cut plane by plane), the nearest entry taken. A ray over a slab's empty
//! half passes it; uniform chunks of a shaped material are walked voxel by voxel.

use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use strata_core::rng::SplitMix64;
use strata_core::{Chunk, ChunkKey, DenseChunk, Face, FlatGenerator, MaterialId, MaterialRegistry, ShapeBox, VoxelPos};
use strata_index::{HitFilter, IndexConfig, IndexWriter, Ray, RayOptions, cast_reference};

fn registry() -> MaterialRegistry {
    MaterialRegistry::from_ron_str(
        r#"(materials: [
            (id: 0, name: "air", color: (0, 0, 0, 0), kind: Air),
            (id: 1, name: "stone", color: (0.5, 0.5, 0.5, 1), kind: Solid),
            (id: 10, name: "slab", color: (0.5, 0.5, 0.5, 1), kind: Solid, shape: Slab, states: [half, axis]),
            (id: 20, name: "stairs", color: (0.5, 0.5, 0.5, 1), kind: Solid, shape: Stairs, states: [facing, half]),
            (id: 30, name: "post", color: (0.4, 0.3, 0.2, 1), kind: Solid,
                shape: Boxes([(min: (6, 0, 6), max: (10, 12, 10)), (min: (0, 12, 0), max: (16, 16, 16))])),
            (id: 31, name: "fern", color: (0.1, 0.6, 0.1, 1), kind: Solid, shape: Cross),
        ])"#,
    )
    .expect("test registry")
}

const IDS: [u16; 18] = [1, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25, 26, 27, 30, 31, 1];

/// Chunk (0, 0, 0): sparse random voxels of every id; (1, 0, 0): uniform top slabs;
/// (0, 1, 0): uniform posts; (−1, 0, 0): dense, every voxel some id.
fn world(seed: u64) -> HashMap<ChunkKey, Chunk> {
    let mut rng = SplitMix64(seed | 1);
    let mut sparse = DenseChunk::filled(MaterialId::AIR);
    let mut full = DenseChunk::filled(MaterialId(1));
    for i in 0..32768 {
        if rng.below(10) == 0 {
            sparse.as_mut_slice()[i] = IDS[rng.below(IDS.len() as u64) as usize];
        }
        full.as_mut_slice()[i] = IDS[rng.below(IDS.len() as u64) as usize];
    }
    HashMap::from([
        (ChunkKey::new(0, 0, 0), Chunk::Dense(sparse)),
        (ChunkKey::new(1, 0, 0), Chunk::Uniform(MaterialId(11))),
        (ChunkKey::new(0, 1, 0), Chunk::Uniform(MaterialId(30))),
        (ChunkKey::new(-1, 0, 0), Chunk::Dense(full)),
    ])
}

/// The nearest box entry along the ray within `max`, over every voxel of `known`: distance,
/// voxel, face entered (`None` from inside), material; and whether another voxel's entry lies
/// within 1e-9 of it (an edge or corner shared by two boxes: either answer is right).
fn oracle(
    ray: &Ray,
    max: f64,
    known: &HashMap<ChunkKey, Chunk>,
    registry: &MaterialRegistry,
) -> Option<(f64, VoxelPos, Option<Face>, MaterialId, bool)> {
    let (o, d) = (ray.origin(), ray.direction());
    let mut hits: Vec<(f64, VoxelPos, Option<Face>, MaterialId)> = Vec::new();
    for (key, chunk) in known {
        let base = key.min_voxel().to_array();
        for i in 0..32768u16 {
            let l = strata_core::LocalIndex::new(i).pos();
            let m = chunk.get(l.index());
            if m.is_air() {
                continue;
            }
            let v = [base[0] + i32::from(l.x), base[1] + i32::from(l.y), base[2] + i32::from(l.z)];
            let boxes: Vec<ShapeBox> = match registry.shape(m) {
                Some(s) if !s.boxes.is_empty() => s.boxes.clone(),
                _ => vec![ShapeBox::FULL],
            };
            for b in boxes {
                // Clip [0, max] against the six planes of the box, one at a time.
                let (mut t_in, mut t_out, mut face) = (0.0f64, max, None);
                let mut inside_from_start = true;
                let mut ok = true;
                for a in 0..3 {
                    let lo = f64::from(v[a]) + f64::from(b.min[a]) / 16.0;
                    let hi = f64::from(v[a]) + f64::from(b.max[a]) / 16.0;
                    if d[a] == 0.0 {
                        ok &= lo <= o[a] && o[a] < hi;
                        continue;
                    }
                    let (t_lo, t_hi) = ((lo - o[a]) / d[a], (hi - o[a]) / d[a]);
                    let (enter, leave) = if d[a] > 0.0 { (t_lo, t_hi) } else { (t_hi, t_lo) };
                    if enter > 0.0 {
                        inside_from_start = false;
                    }
                    if enter > t_in {
                        t_in = enter;
                        face = Some(match (a, d[a] > 0.0) {
                            (0, true) => Face::NegX,
                            (0, false) => Face::PosX,
                            (1, true) => Face::NegY,
                            (1, false) => Face::PosY,
                            (_, true) => Face::NegZ,
                            (_, false) => Face::PosZ,
                        });
                    }
                    t_out = t_out.min(leave);
                }
                if ok && t_in < t_out {
                    let face = if inside_from_start { None } else { face };
                    hits.push((t_in, VoxelPos::new(v[0], v[1], v[2]), face, m));
                }
            }
        }
    }
    hits.sort_by(|a, b| a.0.total_cmp(&b.0));
    let first = *hits.first()?;
    let tie = hits.iter().skip(1).any(|h| h.0 - first.0 < 1e-9 && h.1 != first.1);
    Some((first.0, first.1, first.2, first.3, tie))
}

fn check(seed: u64, rays: &[([f64; 3], [f64; 3], f64)]) -> Result<(), TestCaseError> {
    let registry = registry();
    let known = world(seed);
    let mut w =
        IndexWriter::new(Arc::new(FlatGenerator { height: -1000, material: MaterialId(1) }), IndexConfig::default());
    w.bulk_load(known.iter().map(|(k, c)| (*k, Arc::new(c.clone()), 0)).collect(), 1);
    let snap = w.publish();
    for &(o, d, max) in rays {
        let Ok(ray) = Ray::new(o, d) else { continue };
        let opts = RayOptions::for_registry(&registry, HitFilter::NonAir, max);
        let got = snap.cast_ray(&ray, &opts).unwrap();
        let reference = cast_reference(&ray, &opts, |p| {
            known.get(&p.chunk()).map_or(MaterialId::AIR, |c| c.get(p.local().index()))
        })
        .unwrap();
        prop_assert_eq!(got, reference, "fast cast and reference walk: {:?}", ray);
        match (got, oracle(&ray, max, &known, &registry)) {
            (None, None) => {}
            (Some(h), Some((t, voxel, face, m, tie))) => {
                prop_assert!((h.distance - t).abs() < 1e-9, "{:?}: distance {} vs {}", ray, h.distance, t);
                if !tie {
                    prop_assert_eq!((h.voxel, h.material), (voxel, m), "{:?}", ray);
                    prop_assert_eq!(h.face, face, "{:?}", ray);
                }
            }
            (got, want) => prop_assert!(false, "{:?}: cast {:?}, oracle {:?}", ray, got, want),
        }
    }
    Ok(())
}

fn point() -> impl Strategy<Value = [f64; 3]> {
    [-40.0f64..72.0, -8.0f64..70.0, -8.0f64..40.0]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn rays_hit_the_boxes_of_shaped_blocks(
        seed in any::<u64>(),
        rays in proptest::collection::vec((point(), point(), prop_oneof![1.0f64..40.0, Just(200.0)]), 1..24),
    ) {
        // From a point towards another: rays cross every kind of chunk.
        let rays: Vec<_> = rays.iter().map(|&(a, b, max)| (a, std::array::from_fn(|i| b[i] - a[i]), max)).collect();
        check(seed, &rays)?;
    }
}

/// A ray over a bottom slab's empty half passes it; lower, it hits the slab's top at y + 0.5.
#[test]
fn a_ray_over_a_slab_passes_and_one_through_it_stops_at_its_top() {
    let registry = registry();
    let mut d = DenseChunk::filled(MaterialId::AIR);
    let slab = registry.id("slab").unwrap();
    d.set(strata_core::LocalPos::new(5, 3, 5).index(), slab);
    let mut w =
        IndexWriter::new(Arc::new(FlatGenerator { height: -1000, material: MaterialId(1) }), IndexConfig::default());
    w.bulk_load(vec![(ChunkKey::new(0, 0, 0), Arc::new(Chunk::Dense(d)), 0)], 1);
    let snap = w.publish();
    let opts = RayOptions::for_registry(&registry, HitFilter::NonAir, 100.0);
    let over = Ray::new([0.0, 3.75, 5.5], [1.0, 0.0, 0.0]).unwrap();
    assert_eq!(snap.cast_ray(&over, &opts).unwrap(), None, "through the empty upper half");
    let without_shapes = RayOptions::with_max_distance(100.0);
    assert!(snap.cast_ray(&over, &without_shapes).unwrap().is_some(), "a full cube would stop it");
    let down = Ray::new([5.5, 10.0, 5.5], [0.0, -1.0, 0.0]).unwrap();
    let hit = snap.cast_ray(&down, &opts).unwrap().unwrap();
    assert_eq!((hit.voxel, hit.face, hit.distance), (VoxelPos::new(5, 3, 5), Some(Face::PosY), 6.5));
    let through = Ray::new([0.0, 3.25, 5.5], [1.0, 0.0, 0.0]).unwrap();
    let hit = snap.cast_ray(&through, &opts).unwrap().unwrap();
    assert_eq!((hit.voxel, hit.face, hit.distance), (VoxelPos::new(5, 3, 5), Some(Face::NegX), 5.0));
}
