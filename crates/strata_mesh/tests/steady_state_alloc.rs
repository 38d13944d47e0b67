//! Steady state: once buffers have grown, meshing allocates nothing.
#![allow(unsafe_code)]

#[path = "mesh/common.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use strata_core::{ChunkKey, Face, WorldGenerator};
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_mesh::{ChunkMesh, MeshOptions, Mesher, Neighbor, Neighborhood};

/// Counts allocations, delegating to the system allocator.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is upheld by `System`; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn meshing_allocates_nothing_once_warm() {
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
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..3 {
            mesher.mesh(&hood, &options, &mut mesh);
        }
        assert_eq!(ALLOCATIONS.load(Ordering::Relaxed) - before, 0, "ao = {ao}");
    }
}
