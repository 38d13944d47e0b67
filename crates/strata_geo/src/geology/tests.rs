use super::*;
use crate::ids;
use strata_core::{Face, VoxelPos};

fn b(min: [i32; 3], max: [i32; 3]) -> VoxelBox {
    VoxelBox::new(min.into(), max.into())
}

#[test]
fn gravity_points_toward_the_centre_along_the_largest_axis() {
    let g = Gravity::TowardOrigin;
    assert_eq!(g.down(VoxelPos::new(3, 100, -7)), Face::NegY);
    assert_eq!(g.down(VoxelPos::new(3, -100, -7)), Face::PosY);
    assert_eq!(g.down(VoxelPos::new(500, 100, -7)), Face::NegX);
    assert_eq!(g.down(VoxelPos::new(-500, 100, -7)), Face::PosX);
    assert_eq!(g.down(VoxelPos::new(5, 10, 32_768)), Face::NegZ);
    assert_eq!(g.down(VoxelPos::new(5, 10, -32_768)), Face::PosZ);
    // Voxel centres: (0, 0, 0) has centre (½, ½, ½), a tie broken toward Y.
    assert_eq!(g.down(VoxelPos::new(0, 0, 0)), Face::NegY);
    assert_eq!(g.down(VoxelPos::new(7, 7, 7)), Face::NegY);
    assert_eq!(g.down(VoxelPos::new(7, 6, 7)), Face::NegX);
    assert_eq!(Gravity::NegY.down(VoxelPos::new(-500, 1, 2)), Face::NegY);
    // Extremes do not overflow.
    assert_eq!(g.down(VoxelPos::new(i32::MIN, 0, 0)), Face::PosX);
    assert_eq!(g.down(VoxelPos::new(0, 0, i32::MAX)), Face::NegZ);
}

#[test]
fn boxes_expand_intersect_and_split() {
    let a = b([0, 0, 0], [9, 4, 2]);
    assert_eq!(a.volume(), 150);
    assert_eq!(a.expand(1), b([-1, -1, -1], [10, 5, 3]));
    assert_eq!(a.iter().count(), 150);
    assert_eq!(a.iter().next(), Some(VoxelPos::new(0, 0, 0)));
    assert_eq!(a.iter().nth(1), Some(VoxelPos::new(1, 0, 0)));
    assert!(a.intersect(&b([20, 0, 0], [30, 1, 1])).is_empty());
    let edge = b([i32::MAX - 1; 3], [i32::MAX; 3]).expand(5);
    assert_eq!(edge.max, VoxelPos::new(i32::MAX, i32::MAX, i32::MAX));
    for (parts, align) in [([3, 2, 1], 1), ([2, 2, 2], 2), ([4, 1, 1], 4), ([20, 1, 1], 1)] {
        let p = a.split(parts, align).unwrap();
        // The parts tile the box: volumes add up and every voxel lies in exactly one part.
        assert_eq!(p.iter().map(VoxelBox::volume).sum::<u64>(), a.volume());
        for v in a.iter() {
            assert_eq!(p.iter().filter(|q| q.contains(v)).count(), 1);
        }
        for q in &p {
            for (lo, amin) in [(q.min.x, a.min.x), (q.min.y, a.min.y), (q.min.z, a.min.z)] {
                assert!(lo == amin || lo.rem_euclid(align as i32) == 0);
            }
        }
    }
    assert_eq!(a.split([u32::MAX, 1, 1], 1).unwrap().len(), 10);
    assert!(a.split([1, 0, 1], 1).is_err());
    assert!(a.split([1, 1, 1], 0).is_err());
    assert!(VoxelBox::cube(VoxelPos::new(0, 0, 0), 0).is_empty());
}

#[test]
fn snapshots_index_crop_and_apply() {
    let bounds = b([-3, -2, -1], [4, 5, 6]);
    let f = |p: VoxelPos| strata_core::MaterialId(((p.x + 10 * p.y + 100 * p.z).rem_euclid(16)) as u16);
    let s = RegionSnapshot::from_fn(bounds, f).unwrap();
    for p in bounds.iter() {
        assert_eq!(s.get(p), Some(f(p)));
        assert_eq!(s.pos_of(s.index(p).unwrap()), p);
    }
    assert_eq!(s.get(VoxelPos::new(5, 0, 0)), None);
    let inner = b([-1, 0, 0], [2, 3, 4]);
    let c = s.crop(inner).unwrap();
    assert!(inner.iter().all(|p| c.get(p) == Some(f(p))));
    assert!(matches!(s.crop(b([-9, 0, 0], [0, 0, 0])), Err(GeologyError::NotCovered { .. })));
    let mut t = s.clone();
    let p = VoxelPos::new(0, 0, 0);
    let writes = [
        VoxelWrite { pos: p, expect: f(p), material: ids::BASALT },
        VoxelWrite { pos: p, expect: f(p), material: ids::SAND },
        VoxelWrite { pos: VoxelPos::new(99, 0, 0), expect: ids::AIR, material: ids::SAND },
    ];
    let stats = apply_writes(&mut t, &writes);
    assert_eq!(stats, ApplyStats { applied: 1, conflicts: 1, outside: 1 });
    assert_eq!(t.get(p), Some(ids::BASALT));
}

#[test]
fn process_ids_are_stable() {
    assert_eq!(ProcessKind::ThermalErosion.id(), 0);
    assert_eq!(ProcessKind::HydraulicErosion.id(), 1);
    assert_eq!(ProcessKind::Volcanism.id(), 2);
    for k in ProcessKind::ALL {
        assert_eq!(ProcessKind::from_id(k.id()), Some(k));
        assert!(k.id() < 16);
    }
    assert_eq!(ProcessKind::from_id(15), None);
    assert_eq!(ThermalErosion::default().kind(), ProcessKind::ThermalErosion);
    assert_eq!(HydraulicErosion::default().halo(), 12);
}

#[test]
fn configs_round_trip_through_ron() {
    let t = ThermalConfig::default();
    assert_eq!(ron::from_str::<ThermalConfig>(&ron::to_string(&t).unwrap()).unwrap(), t);
    let h = HydraulicConfig::default();
    assert_eq!(ron::from_str::<HydraulicConfig>(&ron::to_string(&h).unwrap()).unwrap(), h);
    let v = VolcanismConfig::default();
    assert_eq!(ron::from_str::<VolcanismConfig>(&ron::to_string(&v).unwrap()).unwrap(), v);
    // Missing fields take their defaults.
    assert_eq!(ron::from_str::<HydraulicConfig>("(substeps: 2)").unwrap().substeps, 2);
}

#[test]
fn a_grain_over_air_falls_and_rock_stays() {
    let core = b([0, 0, 0], [3, 3, 3]);
    let snap = RegionSnapshot::from_fn(core.expand(1), |p| match (p.x, p.y, p.z) {
        (1, 3, 1) => ids::SAND,
        (2, 3, 2) => ids::GRANITE,
        _ if p.y < 0 => ids::GRANITE,
        _ => ids::AIR,
    })
    .unwrap();
    let th = ThermalErosion::default();
    let mut s = snap;
    for step in 0..16 {
        let w =
            run_partitioned(&th, &s, core, [1, 1, 1], &StepContext { seed: 0, step, gravity: Gravity::NegY }).unwrap();
        apply_writes(&mut s, &w);
    }
    assert_eq!(s.get(VoxelPos::new(1, 0, 1)), Some(ids::SAND));
    assert_eq!(s.get(VoxelPos::new(2, 3, 2)), Some(ids::GRANITE));
}
