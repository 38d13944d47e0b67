//! Engine-free core of Strata: coordinates, chunks, the chunk codec, chunk stores and the hybrid
//! generated + edited [`World`].
//!
//! Start with [`World`]: it reads chunks through a cache from a [`ChunkStore`] (only edited
//! chunks are stored) and falls back to a [`WorldGenerator`]; edits are O(1) appends to a delta
//! log, applied in batches and committed durably in one transaction per batch.
// `unsafe` only where a measured hot path needs it, each block allowed and explained where it
// is (one: the prefetch of `downsample`).
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod cache;
mod chunk;
pub mod codec;
mod coords;
pub mod downsample;
mod edit;
mod error;
pub mod generator;
pub mod history;
mod material;
pub mod meta_record;
mod morton;
pub mod palette;
pub mod rng;
pub mod shape;
pub mod shared_world;
pub mod side;
pub mod store;
pub mod summary_record;
pub mod tile_cache;
pub mod up;
pub mod vox;
mod world;

pub use chunk::{Chunk, ChunkSummary, DEFAULT_HOMOGENEITY_THRESHOLD, DenseChunk};
pub use codec::{DecodeError, Lz4Error, RecordHome, WorldId};
pub use coords::{
    CHUNK_COORD_MAX, CHUNK_COORD_MIN, CHUNK_SHIFT, CHUNK_SIZE, CHUNK_VOLUME, ChunkKey, Face, LocalIndex, LocalPos,
    VoxelPos,
};
pub use downsample::HalfCells;
pub use edit::{ChunkBox, Edit, EditError, EditLog, EditSender, MAX_EDIT_EXTENT, ProcessBatch, ProcessWrite};
pub use error::Error;
pub use generator::{FlatGenerator, WorldGenerator, sample_hinted};
pub use history::{MAX_PROCESSES, ProcessHistory, ProcessId, ProcessStamp};
pub use material::{
    FaceKind, FaceTextures, MAX_LIGHT, Material, MaterialError, MaterialId, MaterialKind, MaterialRegistry,
};
pub use morton::MortonKey;
pub use palette::{IdMap, Palette, PaletteError, PaletteRules};
pub use shape::{BlockState, PlacedShape, Shape, ShapeBox, StateKind};
pub use side::{BlockData, ChunkSide};
pub use store::{
    BackendError, ChunkStore, CommitReceipt, MemoryStore, StoreError, StoreStats, StoredChunk, WriteBatch,
};
pub use store::{RemappedStore, open_with_palette};
pub use summary_record::StoredSummary;
pub use tile_cache::{TileCache, TileKey};
pub use up::{Up, WorldUp};
pub use world::{
    ApplyReport, ChangeExtent, ChunkChange, ChunkOrigin, ChunkSource, EditLoading, HandIn, LoadedChunk,
    MAX_COMMIT_RETRIES, PreparedCommit, ProcessTotals, World, WorldConfig, WorldStats, merge_voxels,
};

/// The names most users need: `use strata_core::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Chunk, ChunkKey, ChunkStore, Edit, EditError, MaterialId, MaterialRegistry, MemoryStore, VoxelPos, World,
        WorldConfig, WorldGenerator,
    };
}
