//! Geology through the hybrid world: the scheduler's steps reach the store through the delta log,
//! deterministically, independently of how regions are cut and run, conserving mass over a
//! closed set of regions, and never losing a player edit made while geology runs.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use strata_core::store::full_range;
use strata_core::{ChunkStore, MaterialId, MemoryStore, ProcessId, VoxelPos, World, WorldConfig, WorldGenerator};
use strata_geo::geology::{
    GeoProcess, GeologyConfig, GeologyScheduler, HydraulicConfig, HydraulicErosion, RegionKey, RegionSnapshot,
    StepContext, ThermalConfig, ThermalErosion, VolcanismConfig, VoxelBox,
};
use strata_geo::ids;
use strata_redb::RedbStore;

/// A steep, bumpy hill of dirt and sediment over granite around (64, 64), within 44 voxels;
/// flat granite at height 0 elsewhere. Regions covering `0..128` leave a flat margin of 20
/// voxels around it, where whatever slides or flows off the hill comes to rest: a closed system.
struct Hills;

impl Hills {
    fn height(x: i32, z: i32) -> i32 {
        let (fx, fz) = (x as f32, z as f32);
        let r = ((fx - 64.0).powi(2) + (fz - 64.0).powi(2)).sqrt();
        if r >= 44.0 {
            return 0;
        }
        let bump = (fx * 0.31).sin() * 5.0 + (fz * 0.27).cos() * 4.0 + ((fx + fz) * 0.53).sin() * 3.0;
        ((44.0 - r) * 1.1 + bump).clamp(0.0, 56.0) as i32
    }
}

impl WorldGenerator for Hills {
    fn material_at(&self, p: VoxelPos) -> MaterialId {
        let h = Self::height(p.x, p.z);
        if p.y > h {
            ids::AIR
        } else if p.y <= 0 || p.y < h - 6 {
            ids::GRANITE
        } else if (p.x + p.z) % 7 == 0 {
            ids::SEDIMENT
        } else {
            ids::DIRT
        }
    }
}

fn erosion_config(seed: u64) -> GeologyConfig {
    GeologyConfig {
        seed,
        thermal: Some(ThermalConfig::default()),
        hydraulic: Some(HydraulicConfig { rain: 2, erosion_rate: 0.2, ..HydraulicConfig::default() }),
        volcanism: None,
        ..GeologyConfig::default()
    }
}

/// Regions covering the hills (x, z in 0..128 → regions 0..4; y up to 64 → 0..2).
fn hill_regions() -> Vec<RegionKey> {
    let mut out = Vec::new();
    for z in 0..4 {
        for y in 0..2 {
            for x in 0..4 {
                out.push(RegionKey::new(x, y, z));
            }
        }
    }
    out
}

/// Makes every chunk the regions read (with a one-chunk margin) resident.
fn load_around(world: &mut World, s: &GeologyScheduler, regions: &[RegionKey]) {
    let margin = s.halo().div_ceil(32) as i32;
    for r in regions {
        let b = s.region_box(*r);
        let (lo, hi) = (b.min.chunk(), b.max.chunk());
        for z in lo.z - margin..=hi.z + margin {
            for y in lo.y - margin..=hi.y + margin {
                for x in lo.x - margin..=hi.x + margin {
                    world.chunk(strata_core::ChunkKey::new(x, y, z)).unwrap();
                }
            }
        }
    }
}

fn stored_records(store: &dyn ChunkStore) -> BTreeMap<u128, Vec<u8>> {
    let mut out = BTreeMap::new();
    store
        .scan(full_range(), &mut |k, rec| {
            out.insert(k.0, rec.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

/// Counts each material in `b`.
fn census(world: &mut World, b: VoxelBox) -> BTreeMap<u16, u64> {
    let mut out = BTreeMap::new();
    for p in b.iter() {
        *out.entry(world.voxel(p).unwrap().0).or_insert(0) += 1;
    }
    out
}

fn run(seed: u64, steps: usize, threads: usize, store: Arc<dyn ChunkStore>) -> World {
    let mut world = World::new(store, Arc::new(Hills), WorldConfig::default());
    let mut s = GeologyScheduler::new(&erosion_config(seed)).unwrap();
    let regions = hill_regions();
    load_around(&mut world, &s, &regions);
    for _ in 0..steps {
        s.run_step(&mut world, &regions, threads).unwrap();
    }
    world.commit().unwrap();
    world
}

#[test]
fn same_seed_and_steps_give_identical_stored_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let a = Arc::new(RedbStore::open(dir.path().join("a.strata")).unwrap());
    // The same world id on every store: records carry it (and the commit's sequence number).
    let b = Arc::new(MemoryStore::with_world(a.world_id()));
    let c = Arc::new(MemoryStore::with_world(a.world_id()));
    run(7, 6, 1, a.clone());
    run(7, 6, 2, b.clone());
    run(8, 6, 2, c.clone());
    let (ra, rb, rc) = (stored_records(a.as_ref()), stored_records(b.as_ref()), stored_records(c.as_ref()));
    assert!(!ra.is_empty(), "erosion changed something");
    assert_eq!(ra, rb, "same seed and steps, other store and thread count: identical records");
    assert_ne!(ra, rc, "another seed erodes differently");
    // Every stored chunk carries the history of the processes that changed it.
    for rec in ra.values() {
        let (_, history) = strata_core::codec::decode_with_history(rec).unwrap();
        assert!(!history.is_empty());
        assert!(history.iter().all(|s| s.process.get() <= 1 && s.step < 6), "{history:?}");
    }
}

#[test]
fn a_step_over_many_regions_equals_one_step_over_their_union() {
    for (kind_step, process) in [
        (0u64, Arc::new(ThermalErosion::new(ThermalConfig::default()).unwrap()) as Arc<dyn GeoProcess>),
        (1, Arc::new(HydraulicErosion::new(erosion_config(3).hydraulic.unwrap()).unwrap())),
    ] {
        let mut world = World::new(Arc::new(MemoryStore::new()), Arc::new(Hills), WorldConfig::default());
        let mut s = GeologyScheduler::new(&erosion_config(3)).unwrap();
        let regions = hill_regions();
        load_around(&mut world, &s, &regions);
        // Bring the scheduler to the step that runs `process`.
        for _ in 0..kind_step {
            s.begin_step(&world, &[]);
        }
        let union = VoxelBox::new(VoxelPos::new(0, 0, 0), VoxelPos::new(127, 63, 127));
        let snapshot = RegionSnapshot::from_fn(union.expand(process.halo()), |p| Hills.material_at(p)).unwrap();
        let mut expected = Vec::new();
        // Two processes take turns: each is at its own step 0 here.
        let ctx = StepContext { seed: 3, step: 0, gravity: Default::default() };
        process.step(&snapshot, union, &ctx, &mut expected).unwrap();
        assert!(!expected.is_empty());
        let plan_kind = s.next_process().unwrap();
        assert_eq!(plan_kind, process.kind());
        let report = s.run_step(&mut world, &regions, 2).unwrap();
        assert_eq!(report.rejected, 0);
        assert_eq!(report.voxels_changed, expected.len() as u64, "{plan_kind:?}");
        for w in &expected {
            assert_eq!(world.voxel(w.pos).unwrap(), w.material, "{plan_kind:?} at {:?}", w.pos);
        }
    }
}

#[test]
fn erosion_and_deposition_conserve_mass_over_a_closed_set_of_regions() {
    let mut world = World::new(Arc::new(MemoryStore::new()), Arc::new(Hills), WorldConfig::default());
    let mut s = GeologyScheduler::new(&erosion_config(11)).unwrap();
    let regions = hill_regions();
    load_around(&mut world, &s, &regions);
    let all = VoxelBox::new(VoxelPos::new(0, 0, 0), VoxelPos::new(127, 63, 127));
    let before = census(&mut world, all);
    let mut changed = 0;
    for _ in 0..12 {
        changed += s.run_step(&mut world, &regions, 2).unwrap().voxels_changed;
    }
    let after = census(&mut world, all);
    assert!(changed > 1000, "the hills erode ({changed} voxel writes)");
    let solid = |c: &BTreeMap<u16, u64>| c.iter().filter(|(m, _)| **m != ids::AIR.0).map(|(_, n)| n).sum::<u64>();
    assert_eq!(solid(&before), solid(&after), "solid voxels are conserved exactly");
    let loose = |c: &BTreeMap<u16, u64>| {
        [ids::DIRT, ids::SEDIMENT].iter().map(|m| c.get(&m.0).copied().unwrap_or(0)).sum::<u64>()
    };
    assert_eq!(loose(&before), loose(&after), "erosion turns dirt into sediment, never into nothing");
    assert_eq!(before.get(&ids::GRANITE.0), after.get(&ids::GRANITE.0), "rock does not move");
    assert!(after[&ids::SEDIMENT.0] > before[&ids::SEDIMENT.0], "deposits of sediment");
}

#[test]
fn geology_running_while_players_edit_and_commit_loses_no_edit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    let store: Arc<dyn ChunkStore> = Arc::new(RedbStore::open(&path).unwrap());
    let mut world = World::new(store, Arc::new(Hills), WorldConfig::default());
    let mut s = GeologyScheduler::new(&erosion_config(5)).unwrap();
    let regions = hill_regions();
    load_around(&mut world, &s, &regions);
    // A player thread places bricks (a material no process moves). Half of them go exactly where
    // a geology batch already computed (from an older snapshot) is about to write, so that
    // batch must not overwrite them; the other half anywhere on the hill, at any time.
    let sender = world.edit_sender();
    let (to_player, player_rx) = crossbeam_channel::unbounded::<Vec<VoxelPos>>();
    let (ack_tx, ack) = crossbeam_channel::unbounded::<()>();
    let player = std::thread::spawn(move || {
        let mut placed = Vec::new();
        let mut rng = strata_core::rng::SplitMix64(12345);
        for targets in player_rx {
            for pos in targets {
                sender.set(pos, MaterialId(19));
                placed.push(pos);
                let h = rng.next_u64();
                let (x, z) = (20 + (h >> 33) as i32 % 88, 20 + (h >> 45) as i32 % 88);
                let anywhere = VoxelPos::new(x, Hills::height(x, z) + ((h >> 20) % 5) as i32 - 2, z);
                sender.set(anywhere, MaterialId(19));
                placed.push(anywhere);
            }
            let _ = ack_tx.send(());
        }
        placed
    });
    let mut rejected = 0;
    for step in 0..16 {
        let plan = s.begin_step(&world, &regions).unwrap();
        for jobs in plan.colors {
            let outcomes: Vec<_> = jobs.into_iter().map(|j| j.run()).collect();
            let batches: Vec<_> = outcomes.into_iter().filter_map(|o| o.batch).collect();
            // Every third batch gets a brick on one of its voxels.
            let targets: Vec<VoxelPos> =
                batches.iter().step_by(3).filter_map(|b| b.writes.last().map(|w| w.pos)).collect();
            to_player.send(targets).unwrap();
            ack.recv().unwrap(); // the player's edits are in the log before the batches
            for b in batches {
                world.push_edit(strata_core::Edit::Process(b));
            }
            rejected += world.apply().unwrap().rejected_batches;
        }
        if step % 4 == 3 {
            world.commit().unwrap();
        }
    }
    drop(to_player);
    let placed = player.join().unwrap();
    assert!(rejected > 0 && placed.len() > 100, "the race happened: {rejected} batches dropped");
    let accepted = world.stats().process_batches as usize;
    assert!(accepted >= 20, "batches without conflicts still land ({accepted} applied, {rejected} dropped)");
    world.commit().unwrap();
    drop(world);
    let store: Arc<dyn ChunkStore> = Arc::new(RedbStore::open(&path).unwrap());
    let mut reopened = World::new(store.clone(), Arc::new(Hills), WorldConfig::default());
    for p in &placed {
        assert_eq!(reopened.voxel(*p).unwrap(), MaterialId(19), "brick at {p:?} lost");
    }
    // Geology did run: stored chunks carry erosion in their histories.
    let eroded = stored_records(store.as_ref()).values().any(|rec| {
        let (_, h) = strata_core::codec::decode_with_history(rec).unwrap();
        h.touched_by(ProcessId::new(0).unwrap()) || h.touched_by(ProcessId::new(1).unwrap())
    });
    assert!(eroded);
}

#[test]
fn volcanism_extrudes_magma_that_cools_to_basalt_through_the_world() {
    let mut config = erosion_config(2);
    config.thermal = None;
    config.hydraulic = None;
    config.volcanism =
        Some(VolcanismConfig { vent_spacing: 16, vent_chance: 1.0, active_chance: 1.0, ..VolcanismConfig::default() });
    let mut world = World::new(Arc::new(MemoryStore::new()), Arc::new(Hills), WorldConfig::default());
    let mut s = GeologyScheduler::new(&config).unwrap();
    let regions = hill_regions();
    load_around(&mut world, &s, &regions);
    let all = VoxelBox::new(VoxelPos::new(0, 0, 0), VoxelPos::new(127, 63, 127));
    for _ in 0..40 {
        s.run_step(&mut world, &regions, 2).unwrap();
    }
    let after = census(&mut world, all);
    assert!(after.get(&ids::MAGMA.0).copied().unwrap_or(0) + after.get(&ids::BASALT.0).copied().unwrap_or(0) > 0);
    assert!(after.get(&ids::BASALT.0).copied().unwrap_or(0) > 0, "some magma cooled: {after:?}");
}
