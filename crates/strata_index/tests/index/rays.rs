//! Ray casts equal a brute-force per-voxel walk on random worlds and rays: the crate's own
//! `cast_reference` and an oracle written here from the documented contract alone (its own
//! loop, its own tie rule), plus hand-computed cases (axis-aligned, corners, negative
//! coordinates, grazing).

use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use strata_core::{Chunk, ChunkKey, DenseChunk, Face, FlatGenerator, MaterialId, VoxelPos};
use strata_index::{HitFilter, IndexConfig, IndexSnapshot, IndexWriter, Ray, RayHit, RayOptions, cast_reference};

/// The walk as the ray module's docs state it, written again with its own loop: start in
/// `floor(origin)` at distance 0; on each axis with a non-zero direction the next voxel plane is
/// crossed at `(plane − origin) · (1 / dir)` (0 when the origin lies on it); the smallest
/// distance is taken, ties going to x, then y, then z; a voxel counts if it is entered at a
/// distance ≤ `max_distance`; the entry face is the one facing back along the step.
fn oracle(ray: &Ray, opts: &RayOptions, mut material: impl FnMut(VoxelPos) -> MaterialId) -> Option<RayHit> {
    let (o, d) = (ray.origin(), ray.direction());
    let mut v: [i64; 3] = o.map(|c| c.floor() as i64);
    let (mut distance, mut face) = (0.0f64, None);
    loop {
        let voxel = VoxelPos::new(v[0] as i32, v[1] as i32, v[2] as i32);
        let m = material(voxel);
        if opts.filter.hits(m) {
            return Some(RayHit { voxel, face, distance, material: m, chunk: voxel.chunk() });
        }
        let mut next: Option<(f64, usize)> = None;
        for a in 0..3 {
            if d[a] == 0.0 {
                continue;
            }
            let plane = (if d[a] > 0.0 { v[a] + 1 } else { v[a] }) as f64;
            let t = if plane == o[a] { 0.0 } else { (plane - o[a]) * (1.0 / d[a]) };
            // Strictly smaller: on a tie the lower axis, seen first, stays.
            if next.is_none_or(|(best, _)| t < best) {
                next = Some((t, a));
            }
        }
        let (t, a) = next?;
        if t > opts.max_distance {
            return None;
        }
        let up = d[a] > 0.0;
        v[a] += if up { 1 } else { -1 };
        distance = t;
        face = Some(match (a, up) {
            (0, true) => Face::NegX,
            (0, false) => Face::PosX,
            (1, true) => Face::NegY,
            (1, false) => Face::PosY,
            (_, true) => Face::NegZ,
            (_, false) => Face::PosZ,
        });
    }
}

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
            let mut rng = strata_core::rng::SplitMix64(*seed);
            Chunk::Dense(DenseChunk::from_fn(|_| {
                let s = rng.next_u64();
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
            let opts = RayOptions { max_distance: max, filter, ..RayOptions::default() };
            let want = cast_reference(&ray, &opts, lookup(&known)).unwrap();
            let got = snap.cast_ray(&ray, &opts).unwrap();
            prop_assert_eq!(got, want, "ray {:?} max {}", ray, max);
            prop_assert_eq!(got, oracle(&ray, &opts, lookup(&known)), "oracle: ray {:?} max {}", ray, max);
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
            let opts = RayOptions { max_distance: 500.0, filter, ..RayOptions::default() };
            let want = cast_reference(&ray, &opts, lookup(&known)).unwrap();
            let got = snap.cast_ray(&ray, &opts).unwrap();
            prop_assert_eq!(got, want, "ray {:?}", ray);
            prop_assert_eq!(got, oracle(&ray, &opts, lookup(&known)), "oracle: ray {:?}", ray);
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

/// An index over the chunks holding `solid` voxels (material 7; everything else air).
fn voxels(solid: &[[i32; 3]]) -> Arc<IndexSnapshot> {
    let mut chunks: HashMap<ChunkKey, Chunk> = HashMap::new();
    for &[x, y, z] in solid {
        let p = VoxelPos::new(x, y, z);
        chunks.entry(p.chunk()).or_insert(Chunk::Uniform(MaterialId::AIR)).set(p.local().index(), MaterialId(7));
    }
    let mut w =
        IndexWriter::new(Arc::new(FlatGenerator { height: -1000, material: MaterialId(1) }), IndexConfig::default());
    w.bulk_load(chunks.into_iter().map(|(k, c)| (k, Arc::new(c), 0)).collect(), 1);
    w.publish()
}

/// Casts and returns (voxel, face, distance) of the hit.
fn hit_of(solid: &[[i32; 3]], origin: [f64; 3], dir: [f64; 3]) -> Option<([i32; 3], Option<Face>, f64)> {
    let h = voxels(solid).cast_ray(&Ray::new(origin, dir).unwrap(), &RayOptions::with_max_distance(100.0)).unwrap();
    h.map(|h| (h.voxel.to_array(), h.face, h.distance))
}

#[test]
fn hand_computed_casts() {
    let near = |a: f64, b: f64| (a - b).abs() < 1e-9;
    // Axis-aligned, +x from a voxel centre: enters (5, 0, 0) through its −x face 4.5 away.
    let (v, f, t) = hit_of(&[[5, 0, 0]], [0.5, 0.5, 0.5], [1.0, 0.0, 0.0]).unwrap();
    assert_eq!((v, f), ([5, 0, 0], Some(Face::NegX)));
    assert!(near(t, 4.5), "{t}");
    // Negative coordinates, −x: voxel −4 spans [−4, −3), entered at x = −3, 2.5 away, via +x.
    let (v, f, t) = hit_of(&[[-4, -1, -1]], [-0.5, -0.5, -0.5], [-1.0, 0.0, 0.0]).unwrap();
    assert_eq!((v, f), ([-4, -1, -1], Some(Face::PosX)));
    assert!(near(t, 2.5), "{t}");
    // −y across a chunk border (y = 0 → −1 is chunk −1): entered at y = −31, 31.25 away.
    let (v, f, t) = hit_of(&[[3, -32, 3]], [3.5, 0.25, 3.5], [0.0, -1.0, 0.0]).unwrap();
    assert_eq!((v, f), ([3, -32, 3], Some(Face::PosY)));
    assert!(near(t, 31.25), "{t}");
    // Diagonal through a voxel edge (x and y planes crossed at once): x steps first, so the ray
    // enters (1, 0, 0), then (1, 1, 0); it never enters (0, 1, 0).
    let diag = [1.0, 1.0, 0.0];
    let (v, f, t) = hit_of(&[[1, 0, 0]], [0.5, 0.5, 0.5], diag).unwrap();
    assert_eq!((v, f), ([1, 0, 0], Some(Face::NegX)));
    assert!(near(t, 0.5 * 2f64.sqrt()), "{t}");
    let (v, f, _) = hit_of(&[[1, 1, 0]], [0.5, 0.5, 0.5], diag).unwrap();
    assert_eq!((v, f), ([1, 1, 0], Some(Face::NegY)), "entered from (1, 0, 0) through −y");
    assert_eq!(hit_of(&[[0, 1, 0]], [0.5, 0.5, 0.5], diag).map(|h| h.0), None, "the y-neighbour is passed by");
    // Through a corner (all three at once), with negative directions: x, then y, then z.
    let back = [-1.0, -1.0, -1.0];
    let (v, f, _) = hit_of(&[[-1, 0, 0]], [0.5, 0.5, 0.5], back).unwrap();
    assert_eq!((v, f), ([-1, 0, 0], Some(Face::PosX)));
    let (v, f, _) = hit_of(&[[-1, -1, 0]], [0.5, 0.5, 0.5], back).unwrap();
    assert_eq!((v, f), ([-1, -1, 0], Some(Face::PosY)));
    assert_eq!(hit_of(&[[0, -1, 0], [0, 0, -1], [-1, 0, -1]], [0.5, 0.5, 0.5], back).map(|h| h.0), None);
    // Grazing: a ray along the plane z = 0 (origin on it, z direction 0) is in voxels z = 0
    // only; a solid at z = −1 beside it is never entered.
    assert_eq!(hit_of(&[[4, 0, -1]], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]).map(|h| h.0), None);
    let (v, _, t) = hit_of(&[[4, 0, 0]], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]).unwrap();
    assert_eq!(v, [4, 0, 0]);
    assert!(near(t, 3.5));
    // Starting inside a solid voxel: that voxel, no face, distance 0.
    assert_eq!(hit_of(&[[0, 0, 0]], [0.25, 0.75, 0.5], [0.0, 0.0, 1.0]), Some(([0, 0, 0], None, 0.0)));
    // Starting on a plane moving back across it: the voxel behind is entered at distance 0.
    let (v, f, t) = hit_of(&[[-1, 0, 0]], [0.0, 0.5, 0.5], [-1.0, 0.0, 0.0]).unwrap();
    assert_eq!((v, f), ([-1, 0, 0], Some(Face::PosX)));
    assert_eq!(t, 0.0);
}
