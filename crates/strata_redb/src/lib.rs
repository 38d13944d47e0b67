//! The embedded persistent store of Strata saves ([`RedbStore`]): one [redb](https://docs.rs/redb)
//! file per save, plus [`RedbStore::verify`] and [`salvage`] for damaged ones.
//!
//! # Layout
//!
//! redb gives ACID transactions with copy-on-write B-trees, checksummed pages and crash-safe
//! commits. Layout:
//!
//! | table          | key → value                                                            |
//! |----------------|------------------------------------------------------------------------|
//! | `chunks`       | `u128` Morton key → [codec record](strata_core::codec), sealed with the save's world id and the commit's sequence number |
//! | `summaries`    | the same keys → [summary records](strata_core::summary_record), written in the same transaction as their chunk records |
//! | `deleted`      | keys deleted since their last put → sealed deletion records (so a salvage does not bring them back) |
//! | `identity`     | world id, last sequence number, content counts and digest (module `identity`) |
//! | `meta_records` | name → [meta record](strata_core::meta_record) (e.g. the generator settings) |
//! | `meta`         | `"format"` → [`SAVE_FORMAT_VERSION`]                                   |
//!
//! One [`ChunkStore::commit`] is one redb write transaction with `Durability::Immediate`: it
//! returns after redb's fsyncs. Older saves are upgraded in one write transaction when first
//! opened: format 1 (no summaries) gets them (each record decoded); formats 1 and 2 get an
//! identity (a new random world id — their records, of record versions 1 and 2, carry none),
//! their text values framed as meta records, and the content digest of what they hold.
//!
//! # Damaged files
//! redb trusts a cleanly closed file and can panic on pages damaged outside it (see
//! ARCHITECTURE.md, "redb panics on damaged saves"). Every call into redb here is contained:
//! a panic inside it becomes [`StoreError::Damaged`] (with the path and what to do) and the
//! store refuses further calls (it then never writes to the file again, not even when
//! dropped). A panic of a caller's scan visitor is not the file's fault: it is resumed as it
//! was. [`RedbStore::verify`] checks everything a save holds; `strata salvage`
//! ([`salvage`]) recovers the intact records of a save whose structure is destroyed.
//!
//! # I/O errors
//! One I/O error (a moment of full disk) latches a redb database: every later call fails
//! ("previous I/O error"). The call that met it returns [`StoreError::Io`]; the store's next
//! call drops the database without writing and reopens the file, which recovers it as after a
//! crash (it holds the acknowledged commits, and the failed one whole or not at all), so a
//! world's next commit succeeds once the disk has room ([`RedbStore::reopens`] counts them).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod chunk_store;
mod contain;
mod identity;
mod maintenance;
mod open;
#[cfg(test)]
mod power_loss;
pub mod salvage;
#[cfg(test)]
mod tests;
mod verify;

pub use maintenance::SummaryProblem;
pub use verify::{DigestMismatch, VerifyReport};

use identity::{IDENTITY, Identity, IdentityError};
use redb::backends::FileBackend;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, StorageBackend, TableDefinition};
use std::any::Any;
use std::fs::OpenOptions;
use std::io;
use std::ops::{Bound, ControlFlow, RangeInclusive};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;
use strata_core::Chunk;
use strata_core::ChunkKey;
use strata_core::MortonKey;
use strata_core::codec::{self, WorldId};
use strata_core::meta_record;
use strata_core::store::{
    ChunkCellVisitor, ChunkStore, CommitReceipt, ScanVisitor, StoreError, SummaryVisitor, visit_chunk_cell,
    visit_summary,
};
use strata_core::store::{StoredChunk, WriteBatch, checked_morton, decode_stored};
use strata_core::summary_record::{self, StoredSummary};

const CHUNKS: TableDefinition<u128, &[u8]> = TableDefinition::new("chunks");
const SUMMARIES: TableDefinition<u128, &[u8]> = TableDefinition::new("summaries");
const DELETED: TableDefinition<u128, &[u8]> = TableDefinition::new("deleted");
const META_RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("meta_records");
const META: TableDefinition<&str, u32> = TableDefinition::new("meta");
/// Text values of formats 1 and 2 (moved to `meta_records` by the upgrade).
const META_TEXT: TableDefinition<&str, &str> = TableDefinition::new("meta_text");
/// Version of the save layout (tables and key encoding), stored in the `meta` table: 3 since
/// records are sealed for their world and the save keeps a digest of its contents (formats 1
/// and 2 are upgraded when opened).
pub const SAVE_FORMAT_VERSION: u32 = 3;
/// The save format before chunk summaries (read, and upgraded on open).
const FORMAT_WITHOUT_SUMMARIES: u32 = 1;

/// redb results as store results (`?` on any redb error type).
trait OrStoreError<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> OrStoreError<T> for Result<T, E> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(|e| store_error(e.into()))
    }
}

/// A redb error as a store error: the database held by another process is
/// [`StoreError::AlreadyOpen`], reported corruption is [`StoreError::Damaged`] (its path filled
/// in by [`contain`]), anything else [`StoreError::Backend`].
fn store_error(e: redb::Error) -> StoreError {
    match e {
        redb::Error::DatabaseAlreadyOpen => StoreError::AlreadyOpen,
        redb::Error::Corrupted(detail) => StoreError::Damaged { path: PathBuf::new(), detail },
        // An I/O error (a full disk, say) latches the database: every later call fails with
        // `PreviousIo`. The store reopens it on its next call (see `RedbStore::database`).
        redb::Error::Io(e) => StoreError::Io(e),
        redb::Error::PreviousIo => StoreError::Io(io::Error::other(
            "an earlier I/O error stopped the database; it is reopened on the next call",
        )),
        other => StoreError::backend(other),
    }
}

/// Options for opening a [`RedbStore`].
#[derive(Clone, Debug)]
pub struct RedbStoreOptions {
    /// redb's page cache, in bytes.
    pub cache_bytes: usize,
    /// The world id of a new save (default: a new random one). An existing save keeps its own;
    /// `strata salvage` gives a recovered save the id of the world it came from.
    pub new_world_id: Option<WorldId>,
    /// Verify the checksum of every page of the save when opening it (redb's integrity check:
    /// reads the whole file). Off by default (opening then reads a few pages); `strata verify`
    /// turns it on.
    pub check_integrity: bool,
    /// Open an existing save without writing to it, ever (commits are
    /// [`StoreError::ReadOnly`]): what tools that only read use, so that nothing they do can
    /// change a file that may be damaged. A save that was not closed cleanly, or must be
    /// upgraded, needs one writable open first (it is refused with [`StoreError::Backend`] or
    /// [`StoreError::ReadOnly`]).
    pub read_only: bool,
}

impl Default for RedbStoreOptions {
    fn default() -> Self {
        Self { cache_bytes: 64 << 20, new_world_id: None, check_integrity: false, read_only: false }
    }
}

/// A redb storage backend that counts `sync_data` calls and reads.
#[derive(Debug)]
struct CountingBackend {
    inner: Box<dyn StorageBackend>,
    syncs: Arc<AtomicU64>,
    reads: Arc<AtomicU64>,
}

impl StorageBackend for CountingBackend {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), io::Error> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.inner.write(offset, data)
    }
    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, redb::BackendError> {
        self.inner.try_lock_range(start, end)
    }
    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, redb::BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }
    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
        self.inner.lock_range(start, end)
    }
    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
        self.inner.lock_shared_range(start, end)
    }
    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
        self.inner.unlock_range(start, end)
    }
    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, redb::BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

/// The database, open for writing or read-only.
enum Db {
    Writable(Database),
    ReadOnly(redb::ReadOnlyDatabase),
}

impl Db {
    fn begin_read(&self) -> Result<redb::ReadTransaction, redb::TransactionError> {
        match self {
            Db::Writable(db) => db.begin_read(),
            Db::ReadOnly(db) => db.begin_read(),
        }
    }

    fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        match self {
            Db::Writable(db) => db.begin_write().db(),
            Db::ReadOnly(_) => Err(StoreError::ReadOnly),
        }
    }
}

/// Makes a storage backend for the save again (the file reopened), to reopen the database
/// after an I/O error.
type ReopenBackend = Box<dyn Fn() -> io::Result<Box<dyn StorageBackend>> + Send + Sync>;

/// The embedded, crash-safe default store (one redb file).
pub struct RedbStore {
    /// Always `Some` until closed (see [`RedbStore::close`] for how). Replaced when the
    /// database is reopened after an I/O error; calls hold an `Arc` of it while they run.
    db: std::sync::RwLock<Option<Arc<Db>>>,
    /// How to reopen the database after an I/O error (`None`: a read-only save, or a backend
    /// given without a way to make it again).
    reopen: Option<ReopenBackend>,
    /// Set by an I/O error: the next call reopens the database first.
    needs_reopen: AtomicBool,
    /// The page cache of the database, for reopening it.
    cache_bytes: usize,
    /// See [`RedbStore::reopens`].
    reopens: AtomicU64,
    path: PathBuf,
    world: WorldId,
    syncs: Arc<AtomicU64>,
    reads: Arc<AtomicU64>,
    /// Set when a call into redb panicked.
    poisoned: AtomicBool,
    /// Set when a read found damage (a record failing its checks, a damaged structure): the
    /// store then closes without writing (see [`RedbStore::close`]).
    suspect: AtomicBool,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").field("path", &self.path).field("world", &self.world).finish()
    }
}

impl Drop for RedbStore {
    /// [`RedbStore::close`], ignoring what it reports.
    fn drop(&mut self) {
        let _ = self.close_now();
    }
}
