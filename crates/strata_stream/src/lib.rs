//! Streaming a Strata world around viewers, engine-free: what an engine needs to decide, and
//! nothing it has to run.
//!
//! - [`lod_select`]: which octree nodes to show around the viewers, at which level
//!   ([`LodSelector`](lod_select::LodSelector), with hysteresis).
//! - [`stream_plan`]: the bookkeeping of a streamed view ([`StreamPlan`](stream_plan::StreamPlan)):
//!   what each shown node needs before it can be meshed, which loads and meshes to start next
//!   (nearest first), which finished results are still current, which voxel data to keep.
//! - [`handover`]: which meshes stay on screen while the nodes replacing them are meshed, so a
//!   change of level never opens a hole.
//! - [`relight`]: which chunks an edit relights (light within its reach, and the columns
//!   below it when the sky reaches it).
//! - [`index_driver`]: keeps the world's index ([`strata_index`]) up to date from what streaming
//!   loads, changes and releases, one batch at a time, and reads the stored chunks under the
//!   nodes a view needs ([`IndexDriver`]).
//!
//! The Bevy plugin (`bevy_strata`) owns the tasks, the world cache and the entities: it asks
//! these types what to do, runs the work on Bevy's task pools and tells them what happened.
//! Everything they decide is tested here without an engine.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod handover;
pub mod index_driver;
pub mod lod_select;
pub mod relight;
pub mod stream_plan;

pub use index_driver::{IndexBatch, IndexBatchDone, IndexDriver, IndexPublished};

/// The names an engine integration needs: `use strata_stream::prelude::*;`.
pub mod prelude {
    pub use crate::handover::{Handover, HandoverUpdate};
    pub use crate::index_driver::{IndexDriver, IndexPublished};
    pub use crate::lod_select::{LodSelector, LodSettings, ViewRule, Viewer};
    pub use crate::stream_plan::{StreamInputs, StreamPlan};
}
