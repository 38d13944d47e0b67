//! Secondary indices over a Strata world, engine-free: an octree LOD / homogeneity index, an
//! R-tree over chunks, exact voxel ray casts, and incremental updates published as snapshots.
//!
//! # Shape
//! One [`IndexWriter`] folds chunk updates in and publishes immutable [`IndexSnapshot`]s by an
//! atomic pointer swap; any number of [`IndexReader`]s query the latest snapshot without
//! blocking. The writer is a plain value with `&mut self` methods: whoever owns it drives it
//! (`strata_stream`'s `IndexDriver` does, in batches on an engine's workers).
//!
//! # Which chunks the index covers
//! The world is unbounded and generated, so the index covers the chunks it is told about:
//! chunks the streaming layer loaded ([`IndexWriter::insert_loaded`]), every chunk on the
//! change feed, and stored (edited) chunks read from the store — all at once
//! ([`IndexWriter::bulk_load_store`]) or node by node as a view needs them
//! ([`IndexWriter::scan_stored`], what the Bevy plugin does). Octree nodes above them whose children are not all
//! known take the missing parts from the generator's level-aware sampling
//! ([`WorldGenerator::sample_lod`](strata_core::WorldGenerator::sample_lod)); each node says
//! which ([`DataSource`]). Ray casts and the R-tree see known chunks only; unknown chunks
//! count as air.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod above_roots;
mod error;
pub mod mover;
pub mod octree;
pub mod ray;
pub mod rtree;
mod snapshot;
mod summary;
mod writer;

pub use error::{Error, LoadError, RayError};
pub use octree::{Mip, NodeId, ROOT_LEVEL};
pub use ray::{HitFilter, Ray, RayHit, RayOptions, RayShapes, cast_reference};
pub use rtree::ChunkEntry;
pub use snapshot::{HomogeneousRegion, IndexConfig, IndexSnapshot, RayBuffer};
/// An inclusive box of chunk keys (`strata_core`'s, re-exported: one box type for edits and queries).
pub use strata_core::ChunkBox;
pub use summary::{DataSource, Histogram, NodeSummary, Occupancy, node_volume};
pub use writer::{IndexMemory, IndexReader, IndexWriter, PreparedChunk, StoreLoad};

/// The names most users need: `use strata_index::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ChunkBox, HitFilter, IndexConfig, IndexReader, IndexSnapshot, IndexWriter, NodeId, Ray, RayHit, RayOptions,
    };
}
