//! Steady state: once buffers have grown, meshing allocates nothing.
#![allow(unsafe_code)]

#[path = "mesh/common.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use strata_core::{ChunkKey, Face, WorldGenerator};
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_mesh::{ChunkMesh, MeshOptions, Mesher, Neighbor, Neighborhood};

/// Counts allocations, delegating to the system allocator.
struct Counting;

thread_local! {
    /// Allocations made by this thread: what the test counts (the harness's own threads
    /// allocate when they like, e.g. the main thread starting to wait for the test's result —
    /// seen in CI on a loaded machine). Const-initialised, no destructor: reading it never
    /// allocates.
    static MINE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts one allocation of the calling thread.
fn count() {
    let _ = MINE.try_with(|n| n.set(n.get() + 1));
}

/// Allocations the calling thread made so far.
fn allocations() -> usize {
    MINE.with(std::cell::Cell::get)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is upheld by `System`; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One test in this binary, counting its own thread's allocations only.
#[test]
fn meshing_allocates_nothing_once_warm() {
    unlit_meshing_allocates_nothing_once_warm();
    lit_meshing_allocates_nothing_once_warm();
}

fn unlit_meshing_allocates_nothing_once_warm() {
    let generator = NoiseTerrain::new(TerrainConfig::default());
    let key = ChunkKey::new(0, generator.height(16, 16) >> 5, 0);
    let center = generator.generate(key);
    let neighbors: Vec<_> = Face::ALL.iter().map(|f| generator.generate(key.neighbor(*f))).collect();
    let hood = Neighborhood::from_fn(&center, |f| Neighbor::Loaded(&neighbors[f as usize]));
    let mut mesher = Mesher::new(common::table());
    let mut mesh = ChunkMesh::default();
    for ao in [false, true] {
        let options = MeshOptions { ambient_occlusion: ao, ..MeshOptions::default() };
        mesher.mesh(&hood, &options, &mut mesh);
        assert!(mesh.quad_count() > 100, "a real surface");
        let before = allocations();
        for _ in 0..3 {
            mesher.mesh(&hood, &options, &mut mesh);
        }
        assert_eq!(allocations() - before, 0, "ao = {ao}");
    }
}

fn lit_meshing_allocates_nothing_once_warm() {
    use strata_core::{Chunk, LocalPos};
    use strata_mesh::{LightField, LightNeighborhood};
    let generator = NoiseTerrain::new(TerrainConfig::default());
    let key = ChunkKey::new(0, generator.height(16, 16) >> 5, 0).to_array();
    let mut ring: Vec<Chunk> = (0..27)
        .map(|i| {
            let o = LightNeighborhood::offset(i);
            generator.generate(ChunkKey::new(key[0] + o[0], key[1] + o[1], key[2] + o[2]))
        })
        .collect();
    // A lamp on the ground in the centre, so the block light fill runs.
    let lamp = common::registry().id("lamp").unwrap();
    let top = (0..32u8).rev().find(|&y| !ring[13].get(LocalPos::new(16, y, 16).index()).is_air()).unwrap();
    ring[13].set(LocalPos::new(16, top, 16).index(), lamp);
    let table = common::table();
    let light_hood = LightNeighborhood::from_fn(Face::PosY, |o| Some(&ring[LightNeighborhood::index(o)]));
    let center = &ring[13];
    let hood = Neighborhood::from_fn(center, |f| Neighbor::Loaded(&ring[LightNeighborhood::index(f.offset())]));
    let mut mesher = Mesher::new(table.clone());
    let mut field = LightField::new();
    let mut mesh = ChunkMesh::default();
    let options = MeshOptions { ambient_occlusion: true, ..MeshOptions::default() };
    field.compute(&table, &light_hood);
    mesher.mesh_lit(&hood, Some(&field), &options, &mut mesh);
    assert!(mesh.opaque.light.iter().any(|l| l[1] > 0.0), "the lamp lights something");
    let before = allocations();
    for _ in 0..3 {
        field.compute(&table, &light_hood);
        mesher.mesh_lit(&hood, Some(&field), &options, &mut mesh);
    }
    assert_eq!(allocations() - before, 0);
}
