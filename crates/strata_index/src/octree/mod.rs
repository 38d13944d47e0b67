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
//! # Invariants
//! Nodes are immutable and shared between snapshots; an update copies the path from the root.
//! An inner node's histogram is the sum of its children's, and its grid is the downsample of
//! its children's grids (checked against a from-scratch recompute by the tests).

mod cells;
pub mod mip;
mod node;
mod tree;

pub use mip::{CellBox, Cells, Mip, diff_box, downsample_cell};
pub(crate) use node::{Node, NodeData};
pub use node::{NodeId, ROOT_LEVEL};
pub(crate) use tree::{BuildEntry, Lookup, Octree};
