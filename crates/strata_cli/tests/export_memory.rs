//! `strata export --format parquet` over a region far larger than its row groups: memory
//! follows the row-group size, not the region. One test in its own binary: the peak it
//! measures is this process's.
#![allow(unsafe_code)]

use std::sync::Arc;
use strata_cli::parquet_export::{ParquetOptions, Region, export_parquet};
use strata_core::{ChunkStore, MemoryStore, VoxelPos};

#[path = "../../../tests/support/peak_alloc.rs"]
mod peak_alloc;

#[test]
fn exporting_a_large_region_holds_one_row_group_at_a_time() {
    // 28 × 3 × 28 chunks around the surface (all generated): 2,352 chunks, millions of runs
    // (a chunk of stone is 1,024 runs). Held at once they would take hundreds of MB.
    let generator = strata_geo::NoiseTerrain::new(strata_geo::TerrainConfig::default());
    let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
    let region = Region { min: VoxelPos::new(-448, -64, -448), max: VoxelPos::new(447, 31, 447) };
    let dir = tempfile::tempdir().unwrap();
    let options = ParquetOptions { only_edited: false, row_group_runs: 1 << 15, threads: 2 };
    let before = peak_alloc::start();
    let written = export_parquet(store.as_ref(), &generator, region, &options, dir.path(), &[], &mut |_| {}).unwrap();
    let peak = peak_alloc::peak_since(before);
    assert_eq!(written.chunks, 28 * 3 * 28);
    assert!(written.runs > 1_500_000, "the region must dwarf a row group: {written:?}");
    assert!(written.row_groups > 40, "{written:?}");
    // One row group's rows (~33 k runs, ~100 bytes each as buffered and as column values),
    // a block of chunks being cut, and the writer's pages: well under 64 MiB.
    assert!(peak < 64 << 20, "peak {} MiB for {} runs", peak >> 20, written.runs);
    eprintln!("peak {} MiB for {written:?}", peak >> 20);
}
