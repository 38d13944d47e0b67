//! Metrics of the planet generator (`strata_geo`).
//!
//! # Inputs
//! The default planet (radius 2¹⁵, seed 7). Places: 64 directions on a Fibonacci sphere.
//! - `geo.surface_chunk`: `generate` of the chunk holding the surface (or sea level over the
//!   oceans) at each place, skipping the few that come out uniform; value: mean per chunk, cycling
//!   through them.
//! - `geo.uniform_chunk`: `generate` of chunks decided by their radius alone, alternating one
//!   2 000 voxels above sea level (air) and one 4 000 voxels deep (mantle).
//! - `geo.lod_node`: `sample_lod` at level 6 (a node of 2 048 voxels, cells 64 voxels apart) of
//!   the node holding the surface at 16 of the places, cycling through them.
//! - `geo.material_at`: one voxel at the surface (uncached: up to 4 fine and 16 coarse noise
//!   nodes), cycling through the places.
use crate::{Budget, Metric, keep, time_ns};
use strata_core::{Chunk, ChunkKey, VoxelPos, WorldGenerator};
use strata_geo::{GeoCoord, PlanetGenerator};

/// LOD level of `geo.lod_node`.
const LOD_LEVEL: u32 = 6;

/// Runs every planet metric.
pub fn run(budget: Budget) -> Vec<Metric> {
    let planet = PlanetGenerator::default();
    let places = places(&planet, 64);
    let mut out = Vec::new();

    let surface: Vec<ChunkKey> =
        places.iter().map(|p| p.chunk()).filter(|&k| matches!(planet.generate(k), Chunk::Dense(_))).collect();
    let mut i = 0;
    let ns = time_ns(budget.batches, budget.iters(surface.len()), || {
        keep(planet.generate(surface[i % surface.len()]));
        i += 1;
    });
    out.push(Metric::new("geo.surface_chunk", ns / 1e3, "us"));

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
    let ns = time_ns(budget.batches, budget.iters(2_000), || {
        keep(planet.material_at(places[i % places.len()]));
        i += 1;
    });
    out.push(Metric::new("geo.material_at", ns / 1e3, "us"));
    out
}

/// The voxel at the surface (or at sea level over the oceans) at `n` directions spread evenly
/// over the sphere.
fn places(planet: &PlanetGenerator, n: usize) -> Vec<VoxelPos> {
    (0..n)
        .map(|k| {
            let lat = (1.0 - 2.0 * (k as f64 + 0.5) / n as f64).asin().to_degrees();
            let lon = (k as f64 * 137.507_764) % 360.0 - 180.0;
            let alt = planet.surface_altitude(lat, lon).expect("valid latitude").max(0.0);
            planet.frame().to_voxel(GeoCoord::new(lat, lon, alt)).expect("valid coordinates")
        })
        .collect()
}
