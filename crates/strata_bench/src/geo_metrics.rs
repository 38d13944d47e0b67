//! Metrics of the planet generator (`strata_geo`).
//!
//! # Inputs
//! The default planet (radius 2¹⁵, seed 7). Places: 64 directions on a Fibonacci sphere.
//! - `geo.surface_chunk`: `generate` of the chunk holding the surface (or sea level over the
//!   oceans) at each place, skipping the few that come out uniform; value: mean per chunk, cycling
//!   through them. The shared fine nodes are forgotten before each call
//!   (`PlanetGenerator::clear_fine_nodes`, inside the timing: a few µs), so each call costs what
//!   a place's first chunk costs; the coarse fields stay cached, as while streaming.
//!   `geo.surface_chunk_column`: the same chunks with the fine nodes kept, as for the chunks
//!   above and below a surface chunk and its LOD parents, which read the same nodes.
//! - `geo.crust_chunk`: `generate` of the chunk 64 voxels under the surface (or sea level) at
//!   each place: strata, granite and basalt, no surface (most of the chunks under a walker's
//!   view); value: mean per chunk, cycling through them, fine nodes forgotten before each.
//! - `geo.uniform_chunk`: `generate` of chunks decided by their radius alone, alternating one
//!   2 000 voxels above sea level (air) and one 4 000 voxels deep (mantle).
//! - `geo.lod_node`: `sample_lod` at level 6 (a node of 2 048 voxels, cells 64 voxels apart) of
//!   the node holding the surface at 16 of the places, cycling through them. The planet keeps
//!   its coarse fields between calls, as while streaming (where a node's neighbours, parents
//!   and children read the same coarse nodes), so after the first cycle they come from the
//!   cache. `geo.lod_node_cold`: the same nodes with the caches cleared before each call
//!   (`PlanetGenerator::clear_caches`, inside the timing: a few µs): a node whose coarse fields
//!   nobody has computed yet.
//! - `geo.material_at`: one voxel at the surface (uncached: up to 4 fine and 16 coarse noise
//!   nodes), cycling through the places.
//! - `geo.voxels_updated_per_s`: erosion throughput. A 64³ core region centred on the surface
//!   at the highest of the places within 30° of the equator (mountains), snapshot (core + the hydraulic
//!   halo) built from `generate`d chunks, gravity toward the centre. One batch = a fresh copy of
//!   the snapshot, then `EROSION_STEPS` × (one thermal step, one hydraulic step), each step run
//!   as **two partitions (halves along x) on two threads** (`std::thread::scope`: the machine has
//!   two cores) and its writes applied to the copy. Value: writes produced and applied per second
//!   of wall time, median of the batches (after one warm-up batch). It counts real changes, so
//!   it depends on the terrain (≈ 1 400 writes per batch there); `geo.region_voxels_per_s` is
//!   the same run's core voxels stepped per second (64³ × 8 steps / wall time).
//! - `geo.region_step_ms` (and `.thermal`, `.hydraulic`, `.volcanism`): one step of each process
//!   over the same 64³ core on one thread, median; the plain name is the sum.
use crate::{Budget, Metric, keep, median, time_ns};
use std::time::Instant;
use strata_core::{Chunk, ChunkKey, VoxelPos, WorldGenerator};
use strata_geo::geology::{
    GeoProcess, Gravity, HydraulicErosion, RegionSnapshot, StepContext, ThermalErosion, Volcanism, VoxelBox,
    VoxelWrite, apply_writes,
};
use strata_geo::{GeoCoord, PlanetGenerator};

/// Side of the erosion benchmark's core region.
const REGION: u32 = 64;
/// Thermal + hydraulic step pairs per batch of `geo.voxels_updated_per_s`.
const EROSION_STEPS: u64 = 4;

/// Depth under the surface of the chunks of `geo.crust_chunk`.
const CRUST_DEPTH: f64 = 64.0;

/// LOD level of `geo.lod_node`.
const LOD_LEVEL: u32 = 6;

/// Runs every planet metric.
pub fn run(budget: Budget) -> Vec<Metric> {
    let planet = PlanetGenerator::default();
    let places = places(&planet, 64);
    let mut out = Vec::new();

    let surface = dense_chunks(&planet, &places);
    out.push(Metric::new("geo.surface_chunk", generate_us(&planet, &surface, true, budget), "us"));
    out.push(Metric::new("geo.surface_chunk_column", generate_us(&planet, &surface, false, budget), "us"));
    let crust = dense_chunks(&planet, &places_at(&planet, 64, CRUST_DEPTH));
    out.push(Metric::new("geo.crust_chunk", generate_us(&planet, &crust, true, budget), "us"));

    let frame = planet.frame();
    let uniform = [
        frame.to_voxel(GeoCoord::new(10.0, 20.0, 2_000.0)).map(|p| p.chunk()),
        frame.to_voxel(GeoCoord::new(-30.0, 60.0, -4_000.0)).map(|p| p.chunk()),
    ]
    .map(|k| k.expect("valid coordinates"));
    let mut i = 0;
    let ns = time_ns(budget.batches, budget.iters(200_000), || {
        keep(planet.generate(keep(uniform[i & 1])));
        i += 1;
    });
    out.push(Metric::new("geo.uniform_chunk", ns, "ns"));

    let size = 1 << LOD_LEVEL;
    let nodes: Vec<ChunkKey> = places
        .iter()
        .step_by(4)
        .map(|p| {
            let k = p.chunk();
            ChunkKey::new(k.x.div_euclid(size), k.y.div_euclid(size), k.z.div_euclid(size))
        })
        .collect();
    let mut i = 0;
    let ns = time_ns(budget.batches, budget.iters(nodes.len()), || {
        keep(planet.sample_lod(LOD_LEVEL, nodes[i % nodes.len()]));
        i += 1;
    });
    out.push(Metric::new("geo.lod_node", ns / 1e3, "us"));
    let mut i = 0;
    let ns = time_ns(budget.batches, budget.iters(nodes.len()), || {
        planet.clear_caches();
        keep(planet.sample_lod(LOD_LEVEL, nodes[i % nodes.len()]));
        i += 1;
    });
    out.push(Metric::new("geo.lod_node_cold", ns / 1e3, "us"));

    let mut i = 0;
    let ns = time_ns(budget.batches, budget.iters(2_000), || {
        keep(planet.material_at(places[i % places.len()]));
        i += 1;
    });
    out.push(Metric::new("geo.material_at", ns / 1e3, "us"));

    out.extend(erosion(&planet, &places, budget));
    out
}

/// `geo.voxels_updated_per_s`, `geo.region_voxels_per_s` and `geo.region_step_ms`.
fn erosion(planet: &PlanetGenerator, places: &[VoxelPos], budget: Budget) -> Vec<Metric> {
    // The highest place away from the poles (|y| below half the radius: latitude under 30°):
    // mountains, where slopes are steep enough for both processes to move material.
    let land = places
        .iter()
        .copied()
        .filter(|p| f64::from(p.y).abs() < 0.5 * f64::from(planet.config().radius))
        .max_by(|a, b| alt(planet, *a).total_cmp(&alt(planet, *b)))
        .expect("some places near the equator");
    let half = (REGION / 2) as i32;
    let core = VoxelBox::cube(VoxelPos::new(land.x - half, land.y - half, land.z - half), REGION);
    let thermal = ThermalErosion::default();
    let hydraulic = HydraulicErosion::default();
    let volcanism = Volcanism::default();
    let halo = thermal.halo().max(hydraulic.halo()).max(volcanism.halo());
    let snapshot = planet_snapshot(planet, core.expand(halo));
    let gravity = Gravity::TowardOrigin;
    let parts = core.split([2, 1, 1], 1).expect("valid partition counts");
    let processes: [&dyn GeoProcess; 2] = [&thermal, &hydraulic];

    let mut rates = Vec::with_capacity(budget.batches);
    let mut region_rates = Vec::with_capacity(budget.batches);
    for batch in 0..=budget.batches {
        let mut snap = snapshot.clone();
        let mut written = 0usize;
        let t = Instant::now();
        for s in 0..EROSION_STEPS {
            for p in processes {
                let ctx = StepContext { seed: 7, step: s, gravity };
                // Two partitions on two threads, both reading the same snapshot.
                let writes: Vec<Vec<VoxelWrite>> = std::thread::scope(|scope| {
                    let snap = &snap;
                    let handles: Vec<_> = parts
                        .iter()
                        .map(|&part| {
                            scope.spawn(move || {
                                let mut out = Vec::new();
                                p.step(snap, part, &ctx, &mut out).expect("snapshot covers core + halo");
                                out
                            })
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().expect("step thread")).collect()
                });
                for w in &writes {
                    written += apply_writes(&mut snap, w).applied;
                }
            }
        }
        let secs = t.elapsed().as_secs_f64();
        keep(&snap);
        if batch > 0 {
            // Batch 0 warms up (buffers, caches).
            rates.push(written as f64 / secs);
            region_rates.push((core.volume() * EROSION_STEPS * 2) as f64 / secs);
        }
    }
    let mut out = vec![
        Metric::new("geo.voxels_updated_per_s", median(&rates), "voxels_per_s"),
        Metric::new("geo.region_voxels_per_s", median(&region_rates), "voxels_per_s"),
    ];

    let mut per = Vec::new();
    let mut buf = Vec::new();
    for (name, p) in [
        ("thermal", &thermal as &dyn GeoProcess),
        ("hydraulic", &hydraulic as &dyn GeoProcess),
        ("volcanism", &volcanism as &dyn GeoProcess),
    ] {
        let mut step = 0;
        let ns = time_ns(budget.batches, budget.iters(5), || {
            buf.clear();
            let ctx = StepContext { seed: 7, step, gravity };
            p.step(&snapshot, core, &ctx, &mut buf).expect("snapshot covers core + halo");
            keep(buf.len());
            step += 1;
        });
        per.push(Metric::new(&format!("geo.region_step_ms.{name}"), ns / 1e6, "ms"));
    }
    out.push(Metric::new("geo.region_step_ms", per.iter().map(|m| m.value).sum(), "ms"));
    out.extend(per);
    out
}

/// Surface altitude toward `p` (−∞ for the centre).
fn alt(planet: &PlanetGenerator, p: VoxelPos) -> f64 {
    planet.surface_altitude_toward(p).unwrap_or(f64::NEG_INFINITY)
}

/// The planet's materials over `bounds`, from `generate`d chunks.
fn planet_snapshot(planet: &PlanetGenerator, bounds: VoxelBox) -> RegionSnapshot {
    RegionSnapshot::from_chunks(bounds, |k| planet.generate(k)).expect("a 2^20-voxel box is a valid snapshot")
}

/// The voxel at the surface (or at sea level over the oceans) at `n` directions spread evenly
/// over the sphere.
/// The chunks holding `places` that generate dense (the few uniform ones skipped).
fn dense_chunks(planet: &PlanetGenerator, places: &[VoxelPos]) -> Vec<ChunkKey> {
    places.iter().map(|p| p.chunk()).filter(|&k| matches!(planet.generate(k), Chunk::Dense(_))).collect()
}

/// Mean µs of `generate`, cycling through `keys`; `cold`: the shared fine nodes are forgotten
/// before each call (inside the timing), so each costs what a place's first chunk costs.
fn generate_us(planet: &PlanetGenerator, keys: &[ChunkKey], cold: bool, budget: Budget) -> f64 {
    let mut i = 0;
    let ns = time_ns(budget.batches, budget.iters(keys.len()), || {
        if cold {
            planet.clear_fine_nodes();
        }
        keep(planet.generate(keys[i % keys.len()]));
        i += 1;
    });
    ns / 1e3
}

fn places(planet: &PlanetGenerator, n: usize) -> Vec<VoxelPos> {
    places_at(planet, n, 0.0)
}

/// [`places`], `depth` voxels under the terrain surface (or under sea level over the oceans).
fn places_at(planet: &PlanetGenerator, n: usize, depth: f64) -> Vec<VoxelPos> {
    (0..n)
        .map(|k| {
            let lat = (1.0 - 2.0 * (k as f64 + 0.5) / n as f64).asin().to_degrees();
            let lon = (k as f64 * 137.507_764) % 360.0 - 180.0;
            let alt = planet.surface_altitude(lat, lon).expect("valid latitude").max(0.0) - depth;
            planet.frame().to_voxel(GeoCoord::new(lat, lon, alt)).expect("valid coordinates")
        })
        .collect()
}
