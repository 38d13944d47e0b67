//! Errors: one enum per operation, converted into the umbrella [`Error`].

use strata_core::{ChunkKey, DecodeError, StoreError};

pub use crate::ray::RayError;

/// Loading chunks from a store into the index failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A stored record does not decode.
    #[error("stored chunk {key:?} is corrupt: {source}")]
    Corrupt {
        /// The chunk.
        key: ChunkKey,
        /// Why.
        source: DecodeError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Any error from `strata_index`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A ray cast.
    #[error(transparent)]
    Ray(#[from] RayError),
    /// A bulk load.
    #[error(transparent)]
    Load(#[from] LoadError),
}
