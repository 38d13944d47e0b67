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

mod identity;
#[cfg(test)]
mod power_loss;
pub mod salvage;
#[cfg(test)]
mod tests;
mod verify;

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
        other => StoreError::Backend(other.to_string()),
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

/// Panic payload of [`close_without_writing`]'s unwind (never reaches a panic hook).
struct ClosingWithoutWriting;

/// Drops `db` without its close writing anything: redb writes nothing at close while the thread
/// unwinds, so it is dropped during an unwind started (without the panic hook) and caught here.
/// The next open recovers the file as after a crash.
fn close_without_writing(db: Database) {
    let _ = catch_unwind(AssertUnwindSafe(move || {
        let _db = db;
        resume_unwind(Box::new(ClosingWithoutWriting));
    }));
}

impl RedbStore {
    /// Opens the save at `path`, creating it if missing.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, RedbStoreOptions::default())
    }

    /// Opens the save at `path` with options, creating it if missing.
    ///
    /// Creation is atomic: a new save is initialised in `<path>.creating`, made durable, then
    /// renamed into place, so a crash during creation never leaves a half-written save behind.
    pub fn open_with(path: impl AsRef<Path>, options: RedbStoreOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if options.read_only {
            return Self::open_read_only(path, &options);
        }
        if !path.exists() {
            let mut tmp = path.clone().into_os_string();
            tmp.push(".creating");
            let tmp = PathBuf::from(tmp);
            if tmp.exists() {
                std::fs::remove_file(&tmp)?;
            }
            drop(Self::open_file(&tmp, &options)?);
            std::fs::rename(&tmp, &path)?;
            sync_parent_dir(&path)?;
        }
        Self::open_file(&path, &options)
    }

    fn open_read_only(path: PathBuf, options: &RedbStoreOptions) -> Result<Self, StoreError> {
        let (db, world) = contain(&path, "opening the save", || {
            let db = match Database::builder().set_cache_size(options.cache_bytes).open_read_only(&path) {
                // It needs the recovery after a crash, which writes.
                Err(redb::DatabaseError::RepairAborted) => return Err(StoreError::ReadOnly),
                other => other.map_err(unreadable)?,
            };
            match stored_format(&db)? {
                (Some(SAVE_FORMAT_VERSION), true) => {}
                (Some(found), _) if found > SAVE_FORMAT_VERSION => {
                    return Err(StoreError::UnsupportedFormat { found, supported: SAVE_FORMAT_VERSION });
                }
                _ => return Err(StoreError::ReadOnly),
            }
            let world = read_world(&db)?;
            Ok((db, world))
        })?;
        Ok(Self::new(Db::ReadOnly(db), path, world, Default::default(), Default::default(), options.cache_bytes))
    }

    fn new(
        db: Db,
        path: PathBuf,
        world: WorldId,
        syncs: Arc<AtomicU64>,
        reads: Arc<AtomicU64>,
        cache_bytes: usize,
    ) -> Self {
        Self {
            db: std::sync::RwLock::new(Some(Arc::new(db))),
            reopen: None,
            needs_reopen: AtomicBool::new(false),
            cache_bytes,
            reopens: AtomicU64::new(0),
            path,
            world,
            syncs,
            reads,
            poisoned: AtomicBool::new(false),
            suspect: AtomicBool::new(false),
        }
    }

    fn open_file(path: &Path, options: &RedbStoreOptions) -> Result<Self, StoreError> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let backend = FileBackend::new(file).db()?;
        let mut store = Self::open_backend(backend, path, options.clone())?;
        let at = path.to_path_buf();
        store.reopen = Some(Box::new(move || {
            let file = OpenOptions::new().read(true).write(true).open(&at)?;
            let backend = FileBackend::new(file).map_err(|e| io::Error::other(e.to_string()))?;
            Ok(Box::new(backend) as Box<dyn StorageBackend>)
        }));
        Ok(store)
    }

    /// [`RedbStore::open_backend`] with a way to make the backend again: after an I/O error
    /// the database is reopened on a backend `make` gives (as a file is reopened).
    pub fn open_reopenable_backend<B: StorageBackend>(
        make: impl Fn() -> io::Result<B> + Send + Sync + 'static,
        label: impl AsRef<Path>,
        options: RedbStoreOptions,
    ) -> Result<Self, StoreError> {
        let mut store = Self::open_backend(make()?, label, options)?;
        store.reopen = Some(Box::new(move || Ok(Box::new(make()?) as Box<dyn StorageBackend>)));
        Ok(store)
    }

    /// How many times the database was reopened after an I/O error.
    pub fn reopens(&self) -> u64 {
        self.reopens.load(Ordering::Relaxed)
    }

    /// Reopens the database on a new backend after an I/O error latched it: the old one is
    /// dropped without writing (its state after the error is not trusted) and the new one
    /// recovers the file as after a crash, so it holds exactly the commits that were
    /// acknowledged, or those plus the one whose acknowledgment failed.
    fn reopen_now(&self) -> Result<(), StoreError> {
        let Some(make) = &self.reopen else { return Ok(()) };
        let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
        if !self.needs_reopen.load(Ordering::Acquire) {
            return Ok(()); // another call reopened it meanwhile
        }
        match slot.take().map(Arc::try_unwrap) {
            Some(Ok(Db::Writable(db))) => close_without_writing(db),
            Some(Ok(other)) => drop(other),
            // A call still uses the old database: reopen on a later call.
            Some(Err(busy)) => {
                *slot = Some(busy);
                return Err(StoreError::Io(io::Error::other("the database is busy; reopening it later")));
            }
            // Dropped by an earlier reopen that failed (the disk was still full).
            None => {}
        }
        let backend = CountingBackend { inner: make()?, syncs: self.syncs.clone(), reads: self.reads.clone() };
        let opened = contain(&self.path, "reopening the save", || {
            let db = Database::builder()
                .set_cache_size(self.cache_bytes)
                .create_with_backend(backend)
                .map_err(unreadable)?;
            let world = read_world(&db)?;
            if world != self.world {
                return Err(StoreError::Damaged {
                    path: PathBuf::new(),
                    detail: format!("reopened, the save belongs to world {world}, not {}", self.world),
                });
            }
            Ok(db)
        })?;
        *slot = Some(Arc::new(Db::Writable(opened)));
        self.needs_reopen.store(false, Ordering::Release);
        self.reopens.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Opens (or initialises) a save on any redb storage backend — an in-memory one, or one
    /// that simulates failures in tests. `label` names it in messages (the path of a file).
    pub fn open_backend(
        backend: impl StorageBackend,
        label: impl AsRef<Path>,
        options: RedbStoreOptions,
    ) -> Result<Self, StoreError> {
        let path = label.as_ref().to_path_buf();
        let syncs = Arc::new(AtomicU64::new(0));
        let reads = Arc::new(AtomicU64::new(0));
        let backend = CountingBackend { inner: Box::new(backend), syncs: syncs.clone(), reads: reads.clone() };
        let (db, world) = contain(&path, "opening the save", || {
            let db = Database::builder()
                .set_cache_size(options.cache_bytes)
                .set_check_integrity_on_open(options.check_integrity)
                .create_with_backend(backend)
                .map_err(unreadable)?;
            let world = check_format(&db, &options)?;
            Ok((db, world))
        })?;
        Ok(Self::new(Db::Writable(db), path, world, syncs, reads, options.cache_bytes))
    }

    /// Closes the save. A clean close lets redb record its allocator state, so the next open
    /// reads a few pages only; it is what dropping the store does, reporting instead of
    /// ignoring what goes wrong.
    ///
    /// A store that met damage closes without writing to the file: after a panic inside redb
    /// the database is leaked (nothing of it is trusted, not even its destructor); after a
    /// damaged record or structure was read it is dropped in a way redb does not write in (its
    /// close would commit, walking structures that may be damaged). The next open then
    /// recovers the file as after a crash.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.close_now()
    }

    fn close_now(&mut self) -> Result<(), StoreError> {
        let slot = self.db.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        // `&mut self`: no call holds the database now.
        let db = match slot.map(Arc::try_unwrap) {
            None => return Ok(()),
            Some(Err(shared)) => {
                drop(shared);
                return Ok(());
            }
            // Nothing to write.
            Some(Ok(Db::ReadOnly(db))) => {
                drop(db);
                return Ok(());
            }
            Some(Ok(Db::Writable(db))) => db,
        };
        if *self.needs_reopen.get_mut() {
            // After an I/O error: nothing it would write is trusted.
            close_without_writing(db);
            return Ok(());
        }
        if *self.poisoned.get_mut() {
            std::mem::forget(db);
            return Ok(());
        }
        if *self.suspect.get_mut() {
            close_without_writing(db);
            return Ok(());
        }
        let result = contain(&self.path, "closing the save", || db.close().db());
        if matches!(&result, Err(StoreError::Damaged { .. })) {
            *self.poisoned.get_mut() = true;
        }
        result
    }

    /// The database, reopened first if an I/O error latched it.
    fn database(&self) -> Result<Arc<Db>, StoreError> {
        if self.needs_reopen.load(Ordering::Acquire) {
            self.reopen_now()?;
        }
        let slot = self.db.read().unwrap_or_else(|e| e.into_inner());
        // `None` only after a reopen failed, which left `needs_reopen` set (the next call
        // tries again).
        slot.clone().ok_or_else(|| StoreError::Io(io::Error::other("the database could not be reopened yet")))
    }

    /// Runs `f` (calls into redb), containing a panic inside it: it becomes
    /// [`StoreError::Damaged`] and poisons the store (every later call fails the same way).
    fn contain<T>(&self, what: &str, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Damaged {
                path: self.path.clone(),
                detail: format!("{what} refused: an earlier call into the database panicked"),
            });
        }
        let result = contain(&self.path, what, f);
        match &result {
            Err(StoreError::Damaged { detail, .. }) if detail.starts_with(PANIC_PREFIX) => {
                self.poisoned.store(true, Ordering::Release);
            }
            Err(StoreError::Damaged { .. } | StoreError::Corrupt { .. }) => self.suspect.store(true, Ordering::Release),
            Err(StoreError::Io(_)) if self.reopen.is_some() => self.needs_reopen.store(true, Ordering::Release),
            _ => {}
        }
        result
    }

    /// A text value stored beside the chunks (e.g. the generator settings a save was made
    /// with). A value whose record is damaged, or was written for another world, is
    /// [`StoreError::Damaged`]: a silently different value could make a different world.
    pub fn meta(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.contain("reading a meta value", || {
            let txn = self.database()?.begin_read().db()?;
            let table = txn.open_table(META_RECORDS).db()?;
            let Some(bytes) = table.get(name).db()? else { return Ok(None) };
            let decoded =
                meta_record::decode(bytes.value()).map_err(|e| self.damaged(format!("meta value {name:?}: {e}")))?;
            if decoded.name != name || decoded.world != self.world {
                return Err(self.damaged(format!(
                    "meta value {name:?} holds the record of {:?} in world {}",
                    decoded.name, decoded.world
                )));
            }
            Ok(Some(decoded.value.to_owned()))
        })
    }

    /// Stores a text value durably (its own transaction, numbered like a commit).
    pub fn set_meta(&self, name: &str, value: &str) -> Result<(), StoreError> {
        if name.len() > usize::from(u16::MAX) || u32::try_from(value.len()).is_err() {
            return Err(StoreError::InvalidConfig(format!(
                "meta value {name:?}: names are at most 65,535 bytes and values at most 4 GiB"
            )));
        }
        self.contain("writing a meta value", || {
            let txn = self.database()?.begin_write()?;
            {
                let mut identity_table = txn.open_table(IDENTITY).db()?;
                let mut identity = self.read_identity(&identity_table)?;
                identity.sequence += 1;
                let mut record = Vec::new();
                meta_record::encode(name, value, self.world, identity.sequence, &mut record);
                let mut table = txn.open_table(META_RECORDS).db()?;
                if let Some(old) = table.insert(name, record.as_slice()).db()? {
                    identity.remove_meta(name, old.value());
                }
                identity.add_meta(name, &record);
                identity.write(&mut identity_table).db()?;
            }
            txn.commit().db()?;
            Ok(())
        })
    }

    /// Rewrites the file to release pages freed by earlier commits (copy-on-write leaves them
    /// behind). Needs exclusive access; returns whether anything was reclaimed.
    ///
    /// # Runtime
    /// Proportional to the file size; run it offline (the `strata compact` command) or rarely.
    pub fn compact(&mut self) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let Some(Db::Writable(db)) =
            self.db.get_mut().unwrap_or_else(|e| e.into_inner()).as_mut().and_then(Arc::get_mut)
        else {
            return Err(StoreError::ReadOnly);
        };
        let result = contain(&path, "compacting the save", || {
            let mut any = false;
            while db.compact().db()? {
                any = true;
            }
            Ok(any)
        });
        if matches!(&result, Err(StoreError::Damaged { detail, .. }) if detail.starts_with(PANIC_PREFIX)) {
            *self.poisoned.get_mut() = true;
        }
        result
    }

    /// Checks every chunk summary against its record (a full pass over both tables): each
    /// record has a summary, each summary a record, and each summary decodes under its key and
    /// equals what summarising the record gives (when the record decodes). Scans never depend
    /// on this — they make a missing or damaged summary again from the record — but a damaged
    /// summary is damage in the file, so `strata verify` reports it.
    ///
    /// # Runtime
    /// One decode and summary per stored chunk.
    pub fn summary_problems(&self) -> Result<Vec<(MortonKey, SummaryProblem)>, StoreError> {
        self.contain("checking summaries", || {
            let txn = self.database()?.begin_read().db()?;
            let chunks = txn.open_table(CHUNKS).db()?;
            let summaries = txn.open_table(SUMMARIES).db()?;
            let mut out = Vec::new();
            for item in chunks.iter().db()? {
                let (k, record) = item.db()?;
                let key = MortonKey(k.value());
                let Some(stored) = summaries.get(key.0).db()? else {
                    out.push((key, SummaryProblem::Missing));
                    continue;
                };
                let decoded = StoredSummary::decode(key, stored.value());
                // Remade with the up the stored summary was made with (stores do not know their
                // world's up; readers compare it with theirs).
                let up = match &decoded {
                    Ok(Some(s)) => s.up(),
                    _ => strata_core::store::STORE_UP,
                };
                let remade = StoredSummary::of_stored_record(record.value(), self.home(key), up).ok();
                match (decoded, remade) {
                    (Err(e), _) => out.push((key, SummaryProblem::Damaged(e))),
                    // Written by an older format (read as "no summary"): scans summarise the
                    // record, nothing is damaged.
                    (Ok(None), Some(_)) if summary_record::is_older_version(stored.value()) => {}
                    (Ok(None), Some(_)) | (Ok(Some(_)), None) => out.push((key, SummaryProblem::Stale)),
                    (Ok(Some(s)), Some(r)) if s != r => out.push((key, SummaryProblem::Stale)),
                    _ => {}
                }
            }
            for item in summaries.iter().db()? {
                let (k, _) = item.db()?;
                if chunks.get(k.value()).db()?.is_none() {
                    out.push((MortonKey(k.value()), SummaryProblem::Orphan));
                }
            }
            out.sort_by_key(|(k, _)| *k);
            Ok(out)
        })
    }

    /// The last commit's sequence number (records carry the one that wrote them).
    pub fn sequence(&self) -> Result<u64, StoreError> {
        self.contain("reading the identity", || {
            let txn = self.database()?.begin_read().db()?;
            let table = txn.open_table(IDENTITY).db()?;
            Ok(self.read_identity(&table)?.sequence)
        })
    }

    /// Reads from the file since it was opened (redb page reads that missed its cache),
    /// including those of opening it.
    pub fn file_reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn damaged(&self, detail: String) -> StoreError {
        StoreError::Damaged { path: self.path.clone(), detail }
    }

    fn read_identity(&self, table: &impl ReadableTable<&'static str, u64>) -> Result<Identity, StoreError> {
        match Identity::read(table) {
            Ok(Some(id)) if id.world == self.world => Ok(id),
            Ok(Some(id)) => {
                Err(self.damaged(format!("the identity table names world {}, not {}", id.world, self.world)))
            }
            Ok(None) => Err(self.damaged("the identity table has no world id".into())),
            Err(IdentityError::Damaged) => Err(self.damaged("the identity table fails its check value".into())),
            Err(IdentityError::Redb(e)) => Err(store_error(e)),
        }
    }
}

/// A failed open: a file that is not readable as a database (its header damaged, or not a
/// save at all) is [`StoreError::Damaged`] (salvage may still find records in it).
fn unreadable(e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::Storage(redb::StorageError::Io(io)) if io.kind() == io::ErrorKind::InvalidData => {
            StoreError::Damaged { path: PathBuf::new(), detail: format!("not readable as a save: {io}") }
        }
        other => store_error(other.into()),
    }
}

/// How a contained panic's [`StoreError::Damaged`] detail starts.
const PANIC_PREFIX: &str = "the database panicked";

/// Runs `f` (calls into redb for the save at `path`), turning a panic inside it into
/// [`StoreError::Damaged`]; a redb corruption error gets the path too.
fn contain<T>(path: &Path, what: &str, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Err(StoreError::Damaged { path: p, detail })) if p.as_os_str().is_empty() => {
            Err(StoreError::Damaged { path: path.to_path_buf(), detail })
        }
        Ok(result) => result,
        Err(panic) => Err(StoreError::Damaged {
            path: path.to_path_buf(),
            detail: format!("{PANIC_PREFIX} while {what}: {}", panic_message(panic.as_ref())),
        }),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(no message)".into())
}

/// Runs a caller's visitor inside a contained call: its panic is kept in `slot` (and the scan
/// stopped) to be resumed once the call has returned, so it is not taken for damage.
fn call_visitor<T>(slot: &mut Option<Box<dyn Any + Send>>, f: impl FnOnce() -> ControlFlow<T>) -> ControlFlow<T>
where
    T: Default,
{
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(flow) => flow,
        Err(panic) => {
            *slot = Some(panic);
            ControlFlow::Break(T::default())
        }
    }
}

/// Resumes a visitor's panic kept by [`call_visitor`], else returns `result`.
fn resume_visitor<T>(slot: Option<Box<dyn Any + Send>>, result: T) -> T {
    match slot {
        Some(panic) => resume_unwind(panic),
        None => result,
    }
}
/// What is wrong with a chunk's summary (see [`RedbStore::summary_problems`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SummaryProblem {
    /// The chunk record has no summary.
    #[error("the record has no summary")]
    Missing,
    /// A summary without a chunk record.
    #[error("a summary without a record")]
    Orphan,
    /// The summary does not decode (under its key).
    #[error("the summary is damaged: {0}")]
    Damaged(strata_core::DecodeError),
    /// The summary decodes but is not what the record gives.
    #[error("the summary does not match its record")]
    Stale,
}

/// Brings the save in `db` to [`SAVE_FORMAT_VERSION`] and returns its world id.
///
/// A save of this format needs no write: a write transaction's commit costs a durable sync that
/// grows with the file (about 0.5 s for a 500 MB save). A new, partial or older save is
/// completed in one durable write transaction (a crash leaves it as it was): missing tables
/// created, a format-1 save's summaries made (see [`add_summaries`]), text values framed as
/// meta records, and an identity chosen with the digest of what the save holds.
fn check_format(db: &Database, options: &RedbStoreOptions) -> Result<WorldId, StoreError> {
    match stored_format(db)? {
        (Some(SAVE_FORMAT_VERSION), true) => return read_world(db),
        (Some(found), _) if !(FORMAT_WITHOUT_SUMMARIES..=SAVE_FORMAT_VERSION).contains(&found) => {
            return Err(StoreError::UnsupportedFormat { found, supported: SAVE_FORMAT_VERSION });
        }
        _ => {}
    }
    let txn = db.begin_write().db()?;
    {
        let mut meta = txn.open_table(META).db()?;
        let found = meta.get("format").db()?.map(|g| g.value());
        txn.open_table(CHUNKS).db()?;
        txn.open_table(SUMMARIES).db()?;
        txn.open_table(DELETED).db()?;
        txn.open_table(META_RECORDS).db()?;
        if found == Some(FORMAT_WITHOUT_SUMMARIES) {
            add_summaries(&txn)?;
        }
        let mut identity_table = txn.open_table(IDENTITY).db()?;
        let existing = Identity::read(&identity_table).map_err(identity_damage)?;
        if existing.is_none() {
            let world = options.new_world_id.filter(|w| *w != WorldId::UNSEALED).unwrap_or_else(WorldId::random);
            let mut identity = Identity::new(world);
            move_meta_text(&txn, world)?;
            for item in txn.open_table(CHUNKS).db()?.iter().db()? {
                let (k, v) = item.db()?;
                identity.add_chunk(MortonKey(k.value()), v.value());
            }
            for item in txn.open_table(META_RECORDS).db()?.iter().db()? {
                let (k, v) = item.db()?;
                identity.add_meta(k.value(), v.value());
            }
            identity.write(&mut identity_table).db()?;
        }
        meta.insert("format", SAVE_FORMAT_VERSION).db()?;
    }
    txn.commit().db()?;
    read_world(db)
}

fn identity_damage(e: IdentityError) -> StoreError {
    match e {
        // The path is filled in by `contain`.
        IdentityError::Damaged => {
            StoreError::Damaged { path: PathBuf::new(), detail: "the identity table fails its check value".into() }
        }
        IdentityError::Redb(e) => store_error(e),
    }
}

/// Moves the text values of a format-1 or -2 save (table `meta_text`) into `meta_records`,
/// framed for `world`, and deletes the old table.
fn move_meta_text(txn: &redb::WriteTransaction, world: WorldId) -> Result<(), StoreError> {
    let values: Vec<(String, String)> = {
        let table = txn.open_table(META_TEXT).db()?;
        table
            .iter()
            .db()?
            .map(|item| item.db().map(|(k, v)| (k.value().to_owned(), v.value().to_owned())))
            .collect::<Result<_, _>>()?
    };
    let mut records = txn.open_table(META_RECORDS).db()?;
    let mut out = Vec::new();
    for (name, value) in values {
        out.clear();
        meta_record::encode(&name, &value, world, 0, &mut out);
        records.insert(name.as_str(), out.as_slice()).db()?;
    }
    txn.delete_table(META_TEXT).db()?;
    Ok(())
}

/// The format version in the `meta` table (`None`: a new save) and whether every table of the
/// current format exists.
fn stored_format(db: &impl ReadableDatabase) -> Result<(Option<u32>, bool), StoreError> {
    let txn = db.begin_read().db()?;
    let format = match txn.open_table(META) {
        Ok(meta) => meta.get("format").db()?.map(|g| g.value()),
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok((None, false)),
        Err(e) => return Err(store_error(e.into())),
    };
    let exists = |r: Result<(), redb::TableError>| match r {
        Ok(()) => Ok(true),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(false),
        Err(e) => Err(store_error(e.into())),
    };
    let complete = exists(txn.open_table(CHUNKS).map(drop))?
        && exists(txn.open_table(SUMMARIES).map(drop))?
        && exists(txn.open_table(DELETED).map(drop))?
        && exists(txn.open_table(IDENTITY).map(drop))?
        && exists(txn.open_table(META_RECORDS).map(drop))?;
    Ok((format, complete))
}

fn read_world(db: &impl ReadableDatabase) -> Result<WorldId, StoreError> {
    let txn = db.begin_read().db()?;
    let table = txn.open_table(IDENTITY).db()?;
    match Identity::read(&table).map_err(identity_damage)? {
        Some(identity) => Ok(identity.world),
        None => Err(StoreError::Damaged { path: PathBuf::new(), detail: "the identity table has no world id".into() }),
    }
}

/// Upgrades a format-1 save inside `txn`: summarises every chunk record into the `summaries`
/// table (a record that does not decode gets the "no summary" record).
///
/// # Runtime
/// One decode and summary per stored chunk.
fn add_summaries(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let chunks = txn.open_table(CHUNKS).db()?;
    let mut summaries = txn.open_table(SUMMARIES).db()?;
    let mut out = Vec::new();
    for item in chunks.iter().db()? {
        let (k, v) = item.db()?;
        let key = MortonKey(k.value());
        out.clear();
        match StoredSummary::of_record(v.value(), strata_core::store::STORE_UP) {
            Ok(s) => s.encode(key, &mut out),
            Err(_) => summary_record::encode_unsummarised(key, &mut out),
        }
        summaries.insert(key.0, out.as_slice()).db()?;
    }
    Ok(())
}

/// Makes a rename in `path`'s directory durable.
fn sync_parent_dir(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The chunk record at a key, read on demand (inside the scan's read transaction).
type RecordReader<'a> = dyn Fn() -> Result<Option<Vec<u8>>, StoreError> + 'a;
/// What [`RedbStore::scan_summary_table`] calls per stored summary.
type SummaryEach<'a> = dyn FnMut(MortonKey, &[u8], &RecordReader<'_>) -> Result<ControlFlow<()>, StoreError> + 'a;

impl RedbStore {
    /// Calls `each` with every stored summary in `range`, in key order, and a reader of the
    /// chunk record under the same key, in one read transaction, until it breaks.
    fn scan_summary_table(
        &self,
        range: RangeInclusive<MortonKey>,
        each: &mut SummaryEach<'_>,
    ) -> Result<(), StoreError> {
        self.contain("scanning summaries", || {
            let txn = self.database()?.begin_read().db()?;
            let summaries = txn.open_table(SUMMARIES).db()?;
            let chunks = txn.open_table(CHUNKS).db()?;
            for item in summaries.range(range.start().0..=range.end().0).db()? {
                let (k, v) = item.db()?;
                let key = MortonKey(k.value());
                let record = || Ok(chunks.get(key.0).db()?.map(|g| g.value().to_vec()));
                if each(key, v.value(), &record)?.is_break() {
                    break;
                }
            }
            Ok(())
        })
    }
}

impl ChunkStore for RedbStore {
    fn world_id(&self) -> WorldId {
        self.world
    }

    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.contain("reading a record", || {
            let txn = self.database()?.begin_read().db()?;
            let table = txn.open_table(CHUNKS).db()?;
            let v = table.get(key.0).db()?.map(|g| g.value().to_vec());
            Ok(v)
        })
    }

    fn get(&self, key: ChunkKey) -> Result<Option<Chunk>, StoreError> {
        Ok(self.get_with_history(key)?.map(|(chunk, _)| chunk))
    }

    /// Decoded inside the contained call, so a damaged record marks the store as having met
    /// damage (see [`RedbStore::close`]).
    fn get_stored(&self, key: ChunkKey) -> Result<Option<StoredChunk>, StoreError> {
        checked_morton(key)?;
        self.contain("reading a record", || {
            let txn = self.database()?.begin_read().db()?;
            let table = txn.open_table(CHUNKS).db()?;
            match table.get(key.morton().0).db()? {
                None => Ok(None),
                Some(g) => decode_stored(g.value(), self.home(key.morton()), key).map(Some),
            }
        })
    }

    /// All keys in one read transaction (the default would open one per key).
    fn get_many(&self, keys: &[ChunkKey]) -> Result<Vec<Option<Chunk>>, StoreError> {
        for &key in keys {
            checked_morton(key)?;
        }
        self.contain("reading records", || {
            let txn = self.database()?.begin_read().db()?;
            let table = txn.open_table(CHUNKS).db()?;
            keys.iter()
                .map(|&key| match table.get(key.morton().0).db()? {
                    None => Ok(None),
                    Some(g) => codec::decode_at(g.value(), self.home(key.morton()))
                        .map(|(chunk, _)| Some(chunk))
                        .map_err(|source| StoreError::Corrupt { key, source }),
                })
                .collect()
        })
    }

    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        let mut caller_panic = None;
        let result = self.contain("scanning records", || {
            let txn = self.database()?.begin_read().db()?;
            let table = txn.open_table(CHUNKS).db()?;
            for item in table.range(range.start().0..=range.end().0).db()? {
                let (k, v) = item.db()?;
                // Read out of the page here: a panic there is the file's, not the visitor's.
                let (key, record) = (MortonKey(k.value()), v.value());
                if call_visitor(&mut caller_panic, || visit(key, record)).is_break() {
                    break;
                }
            }
            Ok(())
        });
        resume_visitor(caller_panic, result)
    }

    /// Reads the `summaries` table only; a summary that is missing or damaged is made again
    /// from the chunk record (same read transaction).
    fn scan_summaries(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut SummaryVisitor<'_>,
    ) -> Result<(), StoreError> {
        let mut caller_panic = None;
        let mut guarded = |k: MortonKey, s| call_visitor(&mut caller_panic, || visit(k, s));
        let result = self.scan_summary_table(range, &mut |key, stored, record| {
            visit_summary(self.home(key), Some(stored), record, &mut guarded)
        });
        resume_visitor(caller_panic, result)
    }

    /// Reads the `summaries` table only (each summary's header and checksum); falls back to
    /// the chunk record like [`ChunkStore::scan_summaries`].
    fn scan_chunk_cells(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut ChunkCellVisitor<'_>,
    ) -> Result<(), StoreError> {
        let mut caller_panic = None;
        let mut guarded = |k: MortonKey, c| call_visitor(&mut caller_panic, || visit(k, c));
        let result = self.scan_summary_table(range, &mut |key, stored, record| {
            visit_chunk_cell(self.home(key), Some(stored), record, &mut guarded)
        });
        resume_visitor(caller_panic, result)
    }

    /// One write transaction: the commit's sequence number (the last one plus one), every put
    /// sealed with it and the world id, its summary beside it and any deletion record of its
    /// key removed; every delete removes record and summary and stores a sealed deletion
    /// record; the identity table's counts and digest follow what was inserted, replaced and
    /// removed.
    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        batch.check()?;
        let start = Instant::now();
        let sequence = self.contain("committing", || {
            // Dropping an uncommitted redb transaction aborts it, so an early `?` leaves the
            // store unchanged.
            let txn = self.database()?.begin_write()?;
            let sequence = {
                let mut identity_table = txn.open_table(IDENTITY).db()?;
                let mut identity = self.read_identity(&identity_table)?;
                identity.sequence += 1;
                let sequence = identity.sequence;
                let mut table = txn.open_table(CHUNKS).db()?;
                let mut summaries = txn.open_table(SUMMARIES).db()?;
                let mut deleted = txn.open_table(DELETED).db()?;
                let mut any_deleted = !deleted.is_empty().db()?;
                let mut conflicts = Vec::new();
                for &(k, expect) in batch.conditions() {
                    if !expect.matches(table.get(k.0).db()?.as_ref().map(|g| g.value())) {
                        conflicts.push(k.to_chunk());
                    }
                }
                if !conflicts.is_empty() {
                    // Dropping the transaction aborts it: nothing of the batch is written.
                    return Err(StoreError::Conflict { keys: conflicts, written: Vec::new(), sequence: 0 });
                }
                let mut sealed = Vec::new();
                // One write per key (the batch's last entry for it): two copies of a key with
                // the same sequence number could not be told apart by a salvage.
                let mut last: rustc_hash::FxHashMap<MortonKey, usize> = Default::default();
                for (i, (k, _)) in batch.iter().enumerate() {
                    last.insert(k, i);
                }
                for (i, (k, rec)) in batch.iter_with_summaries().enumerate() {
                    if last.get(&k) != Some(&i) {
                        continue;
                    }
                    sealed.clear();
                    match rec {
                        Some(put) => {
                            codec::seal_into(put.record, self.world, sequence, &mut sealed);
                            if let Some(old) = table.insert(k.0, sealed.as_slice()).db()? {
                                identity.remove_chunk(k, old.value());
                            }
                            identity.add_chunk(k, &sealed);
                            summaries.insert(k.0, put.summary).db()?;
                            if any_deleted {
                                deleted.remove(k.0).db()?;
                            }
                        }
                        None => {
                            if let Some(old) = table.remove(k.0).db()? {
                                identity.remove_chunk(k, old.value());
                            }
                            summaries.remove(k.0).db()?;
                            let mut deletion = Vec::new();
                            codec::encode_deletion(k, &mut deletion);
                            codec::seal_into(&deletion, self.world, sequence, &mut sealed);
                            deleted.insert(k.0, sealed.as_slice()).db()?;
                            any_deleted = true;
                        }
                    }
                }
                identity.write(&mut identity_table).db()?;
                sequence
            };
            txn.commit().db()?;
            Ok(sequence)
        })?;
        Ok(CommitReceipt { entries: batch.len(), bytes: batch.encoded_bytes(), duration: start.elapsed(), sequence })
    }

    fn sync_count(&self) -> Option<u64> {
        Some(self.syncs.load(Ordering::Relaxed))
    }
}
