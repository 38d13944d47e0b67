//! Ray casts equal a brute-force per-voxel walk on random worlds and rays.

use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use strata_core::{Chunk, ChunkKey, DenseChunk, FlatGenerator, MaterialId, VoxelPos};
use strata_index::{HitFilter, IndexConfig, IndexSnapshot, IndexWriter, Ray, RayOptions, cast_reference};

#[derive(Clone, Debug)]
enum Kind {
    Air,
    Solid(u16),
    Sparse(u8, u64),
    Slab(u8, u16),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::Air),
        2 => (1u16..4).prop_map(Kind::Solid),
        3 => (1u8..40, any::<u64>()).prop_map(|(d, s)| Kind::Sparse(d, s)),
        1 => (0u8..32, 1u16..4).prop_map(|(h, m)| Kind::Slab(h, m)),
    ]
}

fn make(kind: &Kind) -> Chunk {
    let mut c = match kind {
        Kind::Air => Chunk::Uniform(MaterialId::AIR),
        Kind::Solid(m) => Chunk::Uniform(MaterialId(*m)),
        Kind::Sparse(density, seed) => {
            let mut s = *seed | 1;
            Chunk::Dense(DenseChunk::from_fn(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let r = (s % 1000) as u8;
                MaterialId(if r < *density { 1 + (s >> 20) as u16 % 3 } else { 0 })
            }))
        }
        Kind::Slab(h, m) => Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(if p.y < *h { *m } else { 0 }))),
    };
    c.normalize();
    c
}

/// A world of 3×3×3 chunks around the origin (negative coordinates included).
fn world(kinds: &[Kind]) -> (Arc<IndexSnapshot>, HashMap<ChunkKey, Chunk>) {
    let mut known = HashMap::new();
    let mut i = 0;
    for z in -2..1 {
        for y in -2..1 {
            for x in -1..2 {
                known.insert(ChunkKey::new(x, y, z), make(&kinds[i % kinds.len()]));
                i += 1;
            }
        }
    }
    let mut w =
        IndexWriter::new(Arc::new(FlatGenerator { height: -1000, material: MaterialId(1) }), IndexConfig::default());
    w.bulk_load(known.iter().map(|(k, c)| (*k, Arc::new(c.clone()), 0)).collect(), 1);
    (w.publish(), known)
}

fn lookup(known: &HashMap<ChunkKey, Chunk>) -> impl FnMut(VoxelPos) -> MaterialId + '_ {
    |p| known.get(&p.chunk()).map_or(MaterialId::AIR, |c| c.get(p.local().index()))
}

fn coord() -> impl Strategy<Value = f64> {
    prop_oneof![
        // On voxel and chunk boundaries exactly: edges and corners.
        (-3i32..3).prop_map(|c| c as f64 * 32.0),
        (-80i32..80).prop_map(|c| c as f64),
        (-80.0f64..80.0),
        // Far away: very long rays.
        (-6000.0f64..6000.0),
    ]
}

fn dir_component() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1.0), Just(-1.0), -1.0f64..1.0]
}

/// A ray through a chunk corner or edge exactly (ties between axes at the crossing).
fn grazing_ray() -> impl Strategy<Value = ([f64; 3], [f64; 3])> {
    let comp = prop_oneof![Just(0.0), Just(1.0), Just(-1.0), Just(2.0), Just(-2.0)];
    (
        [-2i32..2, -3i32..2, -3i32..2],
        [comp.clone(), comp.clone(), comp],
        prop_oneof![(1u32..80).prop_map(f64::from), 0.25f64..80.0],
        prop_oneof![Just(0.0), Just(0.5)],
    )
        .prop_map(|(p, d, s, edge)| {
            let p = [p[0] as f64 * 32.0, p[1] as f64 * 32.0, p[2] as f64 * 32.0 + edge];
            (std::array::from_fn(|a| p[a] - d[a] * s), d)
        })
}

fn filter() -> impl Strategy<Value = HitFilter> {
    prop_oneof![Just(HitFilter::NonAir), Just(HitFilter::Predicate(Arc::new(|m: MaterialId| m.0 == 2)))]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn fast_cast_equals_brute_force_walk(
        kinds in proptest::collection::vec(kind(), 1..12),
        rays in proptest::collection::vec(([coord(), coord(), coord()], [dir_component(), dir_component(), dir_component()], prop_oneof![0.0f64..200.0, Just(20000.0)], filter()), 1..24),
    ) {
        let (snap, known) = world(&kinds);
        for (o, d, max, filter) in rays {
            let Ok(ray) = Ray::new(o, d) else { continue };
            // Aim far origins at the world so long rays do reach it.
            let ray = if o.iter().any(|v| v.abs() > 100.0) {
                let to = [-d[0] * 10.0 + 5.0, d[1] * 10.0 - 30.0, d[2] * 10.0 - 40.0];
                match Ray::new(o, std::array::from_fn(|a| to[a] - o[a])) { Ok(r) => r, Err(_) => continue }
            } else { ray };
            let opts = RayOptions { max_distance: max, filter };
            let want = cast_reference(&ray, &opts, lookup(&known)).unwrap();
            let got = snap.cast_ray(&ray, &opts).unwrap();
            prop_assert_eq!(got, want, "ray {:?} max {}", ray, max);
        }
    }

    #[test]
    fn grazing_rays_equal_brute_force_walk(
        kinds in proptest::collection::vec(kind(), 1..12),
        rays in proptest::collection::vec((grazing_ray(), filter()), 1..32),
    ) {
        let (snap, known) = world(&kinds);
        for ((o, d), filter) in rays {
            let Ok(ray) = Ray::new(o, d) else { continue };
            let opts = RayOptions { max_distance: 500.0, filter };
            let want = cast_reference(&ray, &opts, lookup(&known)).unwrap();
            let got = snap.cast_ray(&ray, &opts).unwrap();
            prop_assert_eq!(got, want, "ray {:?}", ray);
        }
    }
}

#[test]
fn rays_inside_solid_and_along_edges() {
    let (snap, known) = world(&[Kind::Solid(1), Kind::Air, Kind::Slab(3, 2), Kind::Sparse(5, 9)]);
    let cases = [
        ([0.5, -10.0, -10.0], [1.0, 0.0, 0.0]),
        ([0.0, 0.0, 0.0], [1.0, 1.0, 1.0]),
        ([0.0, 0.0, 0.0], [-1.0, -1.0, -1.0]),
        ([32.0, -32.0, -32.0], [-1.0, 0.0, 0.0]),
        ([-32.0, -32.0, 0.0], [1.0, -1.0, 0.0]),
        ([-40.0, 0.0, -64.0], [1.0, -1.0, 1.0]),
        ([5000.0, -20.0, -20.0], [-1.0, 0.0, 0.0]),
        ([-0.0, -0.5, -0.5], [0.0, 0.0, -1.0]),
    ];
    for (o, d) in cases {
        let ray = Ray::new(o, d).unwrap();
        let opts = RayOptions::with_max_distance(10_000.0);
        assert_eq!(
            snap.cast_ray(&ray, &opts).unwrap(),
            cast_reference(&ray, &opts, lookup(&known)).unwrap(),
            "{o:?} {d:?}"
        );
    }
    let bad = RayOptions::with_max_distance(-1.0);
    assert!(snap.cast_ray(&Ray::new([0.0; 3], [1.0, 0.0, 0.0]).unwrap(), &bad).is_err());
}
