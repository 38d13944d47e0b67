//! The octree LOD / homogeneity index.
//!
//! Level 0 is one chunk; a level-`k` node covers 2ᵏ chunks per side; roots sit at
//! [`ROOT_LEVEL`] in an unbounded map keyed by root coordinates (grid-tree style).
//!
//! # What the tree holds
//! A root exists once the index knows at least one chunk inside it (loaded, changed or bulk
//! loaded from the store). Under a root, every node on the path to a known chunk is an *inner*
//! node with eight children; a child with no known chunk below is a *generated stub*: its
//! summary and LOD grid come from [`WorldGenerator::sample_lod`](strata_core::WorldGenerator::sample_lod)
//! at its level. Inner nodes downsample their children's cells (rule in [`mip`]) and add their
//! histograms, so an inner node's [`DataSource`](crate::DataSource) is `Exact` when every chunk
//! below is known and `Mixed` otherwise. Nodes outside every root are generator data too; the
//! snapshot samples the generator for them on demand.
//!
//! # Lazy grids
//! Histograms and summaries are built eagerly; an inner node's LOD grid is computed on first
//! use (`lod_chunk`, `lod_grid`, or an update through a node whose grid is computed) from its
//! children's grids, and then kept in the node (a `OnceLock`), so every snapshot sharing the
//! node sees it. A full rebuild therefore computes no grid at all. Concurrent first readers
//! of one node compute it once; the writer never waits for a reader (it checks whether a grid
//! is set and otherwise leaves the new node's grid to the readers too).
//!
//! # Invariants
//! Nodes are immutable and shared between snapshots (a lazily computed grid is fixed by the
//! children, so computing it changes nothing observable); an update copies the path from the
//! root. Nodes hold nothing that depends on their position, so one node may also sit at
//! several places of a tree: a full rebuild gives equal uniform chunks one shared leaf. An inner node's histogram is the sum of its children's, and its grid, once computed,
//! is the downsample of its children's grids (checked against a from-scratch recompute by the
//! tests); a node with a computed grid has computed grids below it.

mod build;
mod cells;
pub mod mip;
mod node;
mod order;
mod tree;

pub(crate) use build::{BuildEntry, Known};
pub use mip::{CellBox, Cells, GridUp, Mip, diff_box, downsample_cell};
pub(crate) use node::{Node, NodeData};
pub use node::{NodeId, ROOT_LEVEL};
pub(crate) use tree::{Lookup, Octree};
