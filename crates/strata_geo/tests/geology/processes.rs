//! Geology processes: conservation, partition independence, determinism, talus, valleys,
//! volcanoes, bad input.

use proptest::prelude::*;
use strata_core::rng::SplitMix64;
use strata_core::{MaterialId, VoxelPos};
use strata_geo::geology::{
    GeoProcess, GeologyError, Gravity, HydraulicConfig, HydraulicErosion, RegionSnapshot, StepContext, ThermalErosion,
    Volcanism, VolcanismConfig, VoxelBox, VoxelWrite, apply_writes, run_partitioned, sort_writes,
};
use strata_geo::ids;

const LOOSE: [MaterialId; 5] = [ids::SAND, ids::SEDIMENT, ids::DIRT, ids::GRASS, ids::SNOW];

/// Where a random terrain sits and which gravity pulls it.
#[derive(Clone, Copy, Debug)]
enum Place {
    /// `NegY` gravity near the origin.
    Flat,
    /// `TowardOrigin`, near the origin's +X/+Y diagonal: the region holds two gravity pyramids
    /// (down −X and down −Y) and their border, so part of the terrain lies sideways.
    Border,
    /// `TowardOrigin`, high on the +Y axis: down is −Y over the whole region (the terrain's
    /// own "down"), as for `Flat`.
    Above,
}

impl Place {
    fn of(i: u8) -> Self {
        [Place::Flat, Place::Border, Place::Above][usize::from(i % 3)]
    }

    fn gravity(self) -> Gravity {
        match self {
            Place::Flat => Gravity::NegY,
            Place::Border | Place::Above => Gravity::TowardOrigin,
        }
    }

    fn origin(self) -> VoxelPos {
        match self {
            Place::Flat => VoxelPos::new(-7, -3, 5),
            Place::Border => VoxelPos::new(600, 590, -9),
            Place::Above => VoxelPos::new(-9, 600, 5),
        }
    }

    /// Whether the terrain stands upright under its gravity everywhere: its steep loose slopes
    /// must then erode (with part of it sideways there may be nothing to erode).
    fn upright(self) -> bool {
        !matches!(self, Place::Border)
    }
}

/// A random terrain: a height field along the region's local "up" (+Y or, under
/// `TowardOrigin`, whatever gravity says voxel by voxel is approximated by a noisy mound), loose
/// materials on rock, occasional floating grains and holes. `shell` voxels at the core border are
/// rock on all sides, so nothing leaves the core (for conservation).
fn random_terrain(seed: u64, place: Place, core_size: u32, halo: u32, shell: bool) -> (RegionSnapshot, VoxelBox) {
    let mut rng = SplitMix64(seed);
    let o = place.origin();
    let core = VoxelBox::cube(o, core_size);
    let bounds = core.expand(halo);
    let n = core_size as i32;
    // Odd seeds: spiky random columns; even seeds: a random tilted plane with bumps (slopes of
    // one voxel per voxel or less, so water finds downhill neighbours everywhere).
    let (sx, sz) = (rng.below(3) as i32 - 1, rng.below(3) as i32 - 1);
    let heights: Vec<i32> = (0..(n * n))
        .map(|i| {
            if seed & 1 == 1 {
                2 + rng.below(n as u64 - 4) as i32
            } else {
                let (x, z) = (i % n - n / 2, i / n - n / 2);
                (n / 2 + (sx * x + sz * z) / 2 + rng.below(2) as i32).clamp(2, n - 2)
            }
        })
        .collect();
    let snap = RegionSnapshot::from_fn(bounds, |p| {
        let (x, y, z) = (p.x - o.x, p.y - o.y, p.z - o.z);
        let inside = (0..n).contains(&x) && (0..n).contains(&y) && (0..n).contains(&z);
        let border = inside && (x < 1 || y < 1 || z < 1 || x >= n - 1 || y >= n - 1 || z >= n - 1);
        if !inside || (shell && border) {
            return if shell {
                ids::GRANITE
            } else if y < n / 2 {
                ids::DIRT
            } else {
                ids::AIR
            };
        }
        // Smooth-ish height: average of a few neighbours.
        let hx = (x.clamp(0, n - 1) + n * z.clamp(0, n - 1)) as usize;
        let h = heights[hx];
        let r = mix(seed ^ (hx as u64) << 20 ^ y as u64);
        if y < h / 2 {
            ids::GRANITE
        } else if y < h {
            if r.is_multiple_of(11) { ids::AIR } else { LOOSE[(r % 5) as usize] }
        } else if r.is_multiple_of(37) {
            LOOSE[(r % 5) as usize]
        } else {
            ids::AIR
        }
    })
    .unwrap();
    (snap, core)
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 31)
}

fn histogram(snap: &RegionSnapshot, within: &VoxelBox) -> [u64; 16] {
    let mut h = [0u64; 16];
    for p in within.iter() {
        h[usize::from(snap.get(p).unwrap().0.min(15))] += 1;
    }
    h
}

/// Runs `steps` steps partitioned into `parts`, applying the writes in between; asserts every
/// write applies (no conflicts: each voxel written at most once per step, `expect` is current).
fn run(
    process: &dyn GeoProcess,
    snap: &mut RegionSnapshot,
    core: VoxelBox,
    parts: [u32; 3],
    ctx: StepContext,
    steps: u64,
) -> usize {
    let mut total = 0;
    for s in 0..steps {
        let c = StepContext { step: ctx.step + s, ..ctx };
        let writes = run_partitioned(process, snap, core, parts, &c).unwrap();
        assert!(writes.iter().all(|w| core.contains(w.pos)), "write outside the core");
        let stats = apply_writes(snap, &writes);
        assert_eq!(stats.applied, writes.len(), "{stats:?}");
        total += writes.len();
    }
    total
}

fn volcanism_busy() -> Volcanism {
    Volcanism::new(VolcanismConfig {
        vent_spacing: 8,
        vent_chance: 1.0,
        eruption_period: 4,
        active_chance: 0.7,
        flow_chance: 0.5,
        cooling_chance: 0.1,
    })
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Thermal erosion permutes voxels: every material's count is exactly conserved, over
    /// several steps run as partitions (grains cross partition borders).
    #[test]
    fn thermal_conserves_every_material(seed in any::<u64>(), place in 0u8..3) {
        let place = Place::of(place);
        let g = place.gravity();
        let p = ThermalErosion::default();
        let (mut snap, core) = random_terrain(seed, place, 18, p.halo(), true);
        let before = histogram(&snap, &core);
        let ctx = StepContext { seed, step: seed % 100, gravity: g };
        let moved = run(&p, &mut snap, core, [2, 2, 1], ctx, 10);
        prop_assert!(moved > 0);
        prop_assert_eq!(histogram(&snap, &core), before);
    }

    /// Hydraulic erosion + deposition and thermal erosion, alternating and partitioned: air and
    /// rock counts are exact, and erodible + sediment voxels are exactly conserved (eroded
    /// voxels become sediment elsewhere).
    #[test]
    fn erosion_and_deposition_conserve_mass(seed in any::<u64>(), place in 0u8..3) {
        let place = Place::of(place);
        let g = place.gravity();
        let hyd = HydraulicErosion::new(HydraulicConfig { erosion_rate: 0.2, ..HydraulicConfig::default() }).unwrap();
        let th = ThermalErosion::default();
        let (mut snap, core) = random_terrain(seed, place, 18, hyd.halo(), true);
        let classes = |h: [u64; 16]| {
            let soft: u64 = LOOSE.iter().map(|m| h[usize::from(m.0)]).sum();
            (h[0], soft, h.iter().sum::<u64>() - h[0] - soft)
        };
        let before = classes(histogram(&snap, &core));
        let mut hydraulic_writes = 0;
        for s in 0..4 {
            let ctx = StepContext { seed, step: s, gravity: g };
            hydraulic_writes += run(&hyd, &mut snap, core, [2, 1, 2], ctx, 1);
            run(&th, &mut snap, core, [1, 2, 2], ctx, 1);
        }
        // Upright terrain always has loose slopes for water to erode.
        prop_assert!(!place.upright() || hydraulic_writes > 0, "{:?}: no hydraulic writes", place);
        prop_assert_eq!(classes(histogram(&snap, &core)), before);
    }

    /// Every process gives the same writes whole and partitioned (ragged partitions, each from
    /// its own crop), over several steps.
    #[test]
    fn partitioned_equals_whole(seed in any::<u64>(), place in 0u8..3, which in 0usize..3) {
        let place = Place::of(place);
        let g = place.gravity();
        let hyd = HydraulicErosion::new(HydraulicConfig { erosion_rate: 0.3, ..HydraulicConfig::default() }).unwrap();
        let always = Volcanism::new(VolcanismConfig { active_chance: 1.0, ..volcanism_busy().config().clone() }).unwrap();
        let processes: [&dyn GeoProcess; 3] = [&ThermalErosion::default(), &hyd, &always];
        let p = processes[which];
        let (mut snap, core) = random_terrain(seed, place, 17, 12, false);
        let mut total = 0;
        for s in 0..3 {
            let ctx = StepContext { seed, step: s, gravity: g };
            let whole = run_partitioned(p, &snap, core, [1, 1, 1], &ctx).unwrap();
            let parts = run_partitioned(p, &snap, core, [3, 2, 2], &ctx).unwrap();
            prop_assert_eq!(&whole, &parts, "step {}", s);
            // One step straight on the big snapshot agrees too.
            let mut direct = Vec::new();
            p.step(&snap, core, &ctx, &mut direct).unwrap();
            sort_writes(&mut direct);
            prop_assert_eq!(&whole, &direct);
            total += whole.len();
            apply_writes(&mut snap, &whole);
        }
        // Upright terrain has slopes over the talus angle, water and vents: every process writes.
        prop_assert!(!place.upright() || total > 0, "{:?} wrote nothing at {:?}", p.kind(), place);
    }
}

fn flat_world(bounds: VoxelBox, ground: i32, f: impl Fn(VoxelPos) -> Option<MaterialId>) -> RegionSnapshot {
    RegionSnapshot::from_fn(bounds, |p| f(p).unwrap_or(if p.y < ground { ids::GRANITE } else { ids::AIR })).unwrap()
}

#[test]
fn same_seed_same_output_other_seed_differs() {
    let hyd = HydraulicErosion::new(HydraulicConfig { erosion_rate: 0.3, ..HydraulicConfig::default() }).unwrap();
    let processes: [&dyn GeoProcess; 3] = [&ThermalErosion::default(), &hyd, &volcanism_busy()];
    for p in processes {
        let (snap, core) = random_terrain(42, Place::Flat, 24, 12, false);
        let go = |seed| {
            let mut s = snap.clone();
            let mut all: Vec<Vec<VoxelWrite>> = Vec::new();
            for step in 0..6 {
                let w = run_partitioned(p, &s, core, [2, 1, 1], &StepContext { seed, step, gravity: Gravity::NegY })
                    .unwrap();
                apply_writes(&mut s, &w);
                all.push(w);
            }
            (all, s)
        };
        let a = go(1);
        assert!(a.0.iter().any(|w| !w.is_empty()), "{:?} wrote nothing", p.kind());
        assert_eq!(a, go(1), "{:?} not deterministic", p.kind());
        assert_ne!(a.1, go(2).1, "{:?} ignores the seed", p.kind());
    }
}

#[test]
fn sand_pile_settles_to_the_talus_angle() {
    let core = VoxelBox::new(VoxelPos::new(0, 0, 0), VoxelPos::new(31, 23, 31));
    let tower = |p: VoxelPos| (p.x == 15 && p.z == 16 && (4..20).contains(&p.y)).then_some(ids::SAND);
    let mut snap = flat_world(core.expand(1), 4, tower);
    let p = ThermalErosion::default();
    let mut quiet = 0;
    let mut steps = 0;
    while quiet < 8 && steps < 600 {
        let w =
            run_partitioned(&p, &snap, core, [2, 1, 2], &StepContext { seed: 3, step: steps, gravity: Gravity::NegY })
                .unwrap();
        quiet = if w.is_empty() { quiet + 1 } else { 0 };
        apply_writes(&mut snap, &w);
        steps += 1;
    }
    assert_eq!(quiet, 8, "still moving after {steps} steps");
    let sand = |p: VoxelPos| snap.get(p) == Some(ids::SAND);
    let air = |p: VoxelPos| snap.get(p) == Some(ids::AIR);
    let mut top = 0;
    for p in core.iter().filter(|&p| sand(p)) {
        top = top.max(p.y);
        let below = VoxelPos::new(p.x, p.y - 1, p.z);
        assert!(!air(below), "sand at {p:?} floats");
        for (dx, dz) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
            let side = VoxelPos::new(p.x + dx, p.y, p.z + dz);
            let side_below = VoxelPos::new(p.x + dx, p.y - 1, p.z + dz);
            assert!(!(air(side) && air(side_below)), "slope steeper than 45° beside {p:?}");
        }
    }
    assert!(top < 12, "the 16-voxel tower only sank to {top}");
    assert_eq!(snap.count_in(&core, |m| m == ids::SAND), 16);
}

#[test]
fn hydraulic_erosion_fills_the_valley_floor_from_the_slopes() {
    // A V-shaped valley along z: floor at x = 20 ± 1, slopes rising 1 per voxel; dirt over rock;
    // closed by rock walls at both ends (z = 0, z = 23), so no sediment leaves the core.
    let core = VoxelBox::new(VoxelPos::new(0, 0, 0), VoxelPos::new(40, 31, 23));
    let p = HydraulicErosion::default();
    let height = |x: i32| 6 + ((x - 20).abs() - 1).max(0);
    let mut snap = RegionSnapshot::from_fn(core.expand(p.halo()), |q| {
        let h = height(q.x.clamp(0, 40));
        if q.z <= 0 || q.z >= 23 {
            ids::GRANITE
        } else if q.y >= h {
            ids::AIR
        } else if q.y >= h - 3 {
            ids::DIRT
        } else {
            ids::GRANITE
        }
    })
    .unwrap();
    let floor = VoxelBox::new(VoxelPos::new(17, 0, 0), VoxelPos::new(23, 31, 23));
    let slopes = [
        VoxelBox::new(VoxelPos::new(24, 0, 0), VoxelPos::new(40, 31, 23)),
        VoxelBox::new(VoxelPos::new(0, 0, 0), VoxelPos::new(16, 31, 23)),
    ];
    let solid = |s: &RegionSnapshot, b: &VoxelBox| s.count_in(b, |m| m != ids::AIR);
    let floor_before = solid(&snap, &floor);
    let slopes_before: u64 = slopes.iter().map(|b| solid(&snap, b)).sum();
    let soft = |s: &RegionSnapshot| s.count_in(&core, |m| m == ids::DIRT || m == ids::SEDIMENT);
    let soft_before = soft(&snap);
    let mut crossing = 0;
    for step in 0..30 {
        let ctx = StepContext { seed: 9, step, gravity: Gravity::NegY };
        let whole = run_partitioned(&p, &snap, core, [1, 1, 1], &ctx).unwrap();
        // Sediment flows across the partition borders here (slopes run along x).
        assert_eq!(whole, run_partitioned(&p, &snap, core, [5, 1, 3], &ctx).unwrap(), "step {step}");
        crossing += whole.len();
        apply_writes(&mut snap, &whole);
    }
    assert!(crossing > 0);
    let floor_sediment = snap.count_in(&floor, |m| m == ids::SEDIMENT);
    let slopes_after: u64 = slopes.iter().map(|b| solid(&snap, b)).sum();
    assert!(floor_sediment > 20, "only {floor_sediment} sediment voxels on the floor");
    assert!(solid(&snap, &floor) > floor_before, "the floor did not rise");
    assert!(slopes_after < slopes_before, "the slopes lost nothing");
    assert_eq!(soft(&snap), soft_before, "dirt + sediment not conserved");
}

#[test]
fn magma_erupts_at_vents_and_cools_to_basalt() {
    let v = volcanism_busy();
    let core = VoxelBox::new(VoxelPos::new(-16, 0, -16), VoxelPos::new(15, 23, 15));
    let mut snap = flat_world(core.expand(1), 4, |_| None);
    let ctx = StepContext { seed: 5, step: 0, gravity: Gravity::NegY };
    // First step: magma only on vent columns, right on the ground.
    let w = run_partitioned(&v, &snap, core, [1, 1, 1], &ctx).unwrap();
    assert!(!w.is_empty());
    for w in &w {
        assert_eq!(w.material, ids::MAGMA);
        assert_eq!(w.pos.y, 4);
        assert!(v.is_vent_column(w.pos, Gravity::NegY, 5));
    }
    apply_writes(&mut snap, &w);
    run(&v, &mut snap, core, [2, 1, 2], StepContext { step: 1, ..ctx }, 60);
    let basalt = snap.count_in(&core, |m| m == ids::BASALT);
    let magma = snap.count_in(&core, |m| m == ids::MAGMA);
    assert!(basalt > 0 && magma + basalt > 16, "magma {magma}, basalt {basalt}");
    // Volcanic rock piles up around the vents (cones), not elsewhere.
    for p in core.iter().filter(|&p| matches!(snap.get(p), Some(ids::BASALT | ids::MAGMA))) {
        let near = (-8..=8)
            .any(|dx| (-8..=8).any(|dz| v.is_vent_column(VoxelPos::new(p.x + dx, p.y, p.z + dz), Gravity::NegY, 5)));
        assert!(near, "volcanic rock far from any vent at {p:?}");
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let core = VoxelBox::new(VoxelPos::new(0, 0, 0), VoxelPos::new(7, 7, 7));
    let small = RegionSnapshot::from_fn(core, |_| ids::SAND).unwrap();
    let hyd = HydraulicErosion::default();
    let processes: [&dyn GeoProcess; 3] = [&ThermalErosion::default(), &hyd, &Volcanism::default()];
    for p in processes {
        let mut out = Vec::new();
        let e = p.step(&small, core, &StepContext::default(), &mut out);
        assert!(matches!(e, Err(GeologyError::NotCovered { .. })), "{:?}: {e:?}", p.kind());
        assert!(out.is_empty());
        assert!(matches!(
            run_partitioned(p, &small, core, [2, 2, 2], &StepContext::default()),
            Err(GeologyError::NotCovered { .. })
        ));
        let big = RegionSnapshot::from_fn(core.expand(p.halo()), |_| ids::SAND).unwrap();
        assert!(matches!(
            run_partitioned(p, &big, core, [0, 1, 1], &StepContext::default()),
            Err(GeologyError::BadPartition { .. })
        ));
        // An empty core writes nothing.
        let empty = VoxelBox::new(VoxelPos::new(1, 1, 1), VoxelPos::new(0, 0, 0));
        p.step(&small, empty, &StepContext::default(), &mut out).unwrap();
        assert!(out.is_empty());
    }
    assert!(matches!(RegionSnapshot::new(core, vec![ids::AIR; 3]), Err(GeologyError::SnapshotSize { .. })));
    assert!(matches!(
        RegionSnapshot::new(VoxelBox::new(VoxelPos::new(0, 0, 0), VoxelPos::new(i32::MAX, i32::MAX, 0)), Vec::new()),
        Err(GeologyError::RegionTooLarge { .. })
    ));
    assert!(matches!(
        HydraulicErosion::new(HydraulicConfig { substeps: 0, ..HydraulicConfig::default() }),
        Err(GeologyError::InvalidConfig(_))
    ));
    assert!(matches!(
        Volcanism::new(VolcanismConfig { cooling_chance: f32::NAN, ..VolcanismConfig::default() }),
        Err(GeologyError::InvalidConfig(_))
    ));
}

#[test]
fn the_edge_of_the_world_does_not_panic() {
    let max = VoxelPos::new(i32::MAX, i32::MAX, i32::MAX);
    let core = VoxelBox::new(VoxelPos::new(i32::MAX - 5, i32::MAX - 5, i32::MAX - 5), max);
    let min_core = VoxelBox::new(
        VoxelPos::new(i32::MIN, i32::MIN, i32::MIN),
        VoxelPos::new(i32::MIN + 5, i32::MIN + 5, i32::MIN + 5),
    );
    let hyd = HydraulicErosion::default();
    let processes: [&dyn GeoProcess; 3] = [&ThermalErosion::default(), &hyd, &volcanism_busy()];
    for p in processes {
        for c in [core, min_core] {
            for g in [Gravity::NegY, Gravity::TowardOrigin] {
                let snap = RegionSnapshot::from_fn(c.expand(p.halo()), |q| {
                    if (q.x ^ q.y ^ q.z) & 1 == 0 { ids::SAND } else { ids::AIR }
                })
                .unwrap();
                for step in [3, u64::MAX] {
                    let ctx = StepContext { seed: u64::MAX, step, gravity: g };
                    let w = run_partitioned(p, &snap, c, [2, 2, 2], &ctx).unwrap();
                    assert!(w.iter().all(|w| c.contains(w.pos)));
                }
            }
        }
    }
}

#[test]
fn snapshots_from_planet_chunks_match_material_at() {
    use strata_core::WorldGenerator;
    let planet = strata_geo::PlanetGenerator::default();
    let frame = planet.frame();
    let alt = planet.surface_altitude(10.0, 20.0).unwrap();
    let p = frame.to_voxel(strata_geo::GeoCoord::new(10.0, 20.0, alt)).unwrap();
    // Straddles chunk borders on every axis.
    let bounds = VoxelBox::new(VoxelPos::new(p.x - 9, p.y - 9, p.z - 9), VoxelPos::new(p.x + 30, p.y + 8, p.z + 8));
    let a = RegionSnapshot::from_chunks(bounds, |k| planet.generate(k)).unwrap();
    let b = RegionSnapshot::from_fn(bounds, |q| planet.material_at(q)).unwrap();
    assert_eq!(a, b);
}

/// The sand-pile test under `TowardOrigin`, on the planet's +X face (down = −X).
#[test]
fn sand_pile_settles_toward_the_centre() {
    let x0 = 40_000;
    let core = VoxelBox::new(VoxelPos::new(x0, -12, -12), VoxelPos::new(x0 + 23, 11, 11));
    let mut snap = RegionSnapshot::from_fn(core.expand(1), |p| {
        if p.x < x0 + 3 {
            ids::GRANITE
        } else if p.y == 0 && p.z == 0 && p.x < x0 + 15 {
            ids::SAND
        } else {
            ids::AIR
        }
    })
    .unwrap();
    let p = ThermalErosion::default();
    let g = Gravity::TowardOrigin;
    let mut steps = 0;
    let mut quiet = 0;
    while quiet < 8 && steps < 400 {
        let w = run_partitioned(&p, &snap, core, [1, 2, 2], &StepContext { seed: 8, step: steps, gravity: g }).unwrap();
        quiet = if w.is_empty() { quiet + 1 } else { 0 };
        apply_writes(&mut snap, &w);
        steps += 1;
    }
    assert_eq!(quiet, 8);
    let air = |q: VoxelPos| snap.get(q) == Some(ids::AIR);
    for q in core.iter().filter(|&q| snap.get(q) == Some(ids::SAND)) {
        assert_eq!(g.down(q), strata_core::Face::NegX);
        assert!(!air(VoxelPos::new(q.x - 1, q.y, q.z)), "sand at {q:?} floats");
        for (dy, dz) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
            let side = VoxelPos::new(q.x, q.y + dy, q.z + dz);
            assert!(!(air(side) && air(VoxelPos::new(q.x - 1, q.y + dy, q.z + dz))), "too steep beside {q:?}");
        }
        assert!(q.x < x0 + 9);
    }
    assert_eq!(snap.count_in(&core, |m| m == ids::SAND), 12);
}

/// An erupting vent builds a cone: new magma waits until the last flowed away or hardened, and
/// magma hardens only where it rests, so no basalt floats and the pile stays a mound (it once
/// grew a tower of floating basalt 23 voxels high on a 3 × 3 base in 30 steps).
#[test]
fn a_vent_builds_a_cone_not_a_tower() {
    let v = Volcanism::new(VolcanismConfig {
        vent_spacing: 32,
        vent_chance: 1.0,
        eruption_period: 1000,
        active_chance: 1.0,
        ..VolcanismConfig::default()
    })
    .unwrap();
    let ground = 4;
    let core = VoxelBox::new(VoxelPos::new(0, 0, 0), VoxelPos::new(31, 40, 31));
    let mut snap = flat_world(core.expand(1), ground, |_| None);
    let vent = core.iter().find(|&p| p.y == ground && v.is_vent_column(p, Gravity::NegY, 5)).unwrap();
    let volcanic = |m| matches!(m, Some(ids::BASALT | ids::MAGMA));
    for steps in [30, 200] {
        run(&v, &mut snap, core, [2, 1, 1], StepContext { seed: 5, step: 0, gravity: Gravity::NegY }, steps);
        let (mut volume, mut height, mut reach) = (0, 0, 0);
        for p in core.iter().filter(|&p| volcanic(snap.get(p))) {
            volume += 1;
            height = height.max(p.y - ground + 1);
            reach = reach.max((p.x - vent.x).abs().max((p.z - vent.z).abs()));
            // (Magma may be falling; basalt never moves.)
            let below = snap.get(VoxelPos::new(p.x, p.y - 1, p.z));
            let floats = snap.get(p) == Some(ids::BASALT) && below == Some(ids::AIR);
            assert!(!floats, "after {steps} steps, basalt floats at {p:?}");
        }
        assert!(volume >= steps / 10, "after {steps} steps the vent erupted only {volume} voxels");
        // A mound, at most twice as high as its radius (basalt hardened on top stays there, so
        // the cone is steeper than the flows' 45°).
        assert!(height <= 2 * (reach + 1), "after {steps} steps a tower: {height} high, {reach} from the vent");
    }
}
