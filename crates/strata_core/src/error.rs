//! The umbrella error.

use crate::codec::DecodeError;
use crate::edit::EditError;
use crate::material::MaterialError;
use crate::store::StoreError;

/// Any error from `strata_core`; each operation has its own enum, converted into this one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Decoding a chunk record.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A chunk store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The material registry.
    #[error(transparent)]
    Material(#[from] MaterialError),
    /// An edit the world refused (too large, a bad radius).
    #[error(transparent)]
    Edit(#[from] EditError),
}
