//! The embedded persistent store: one [redb](https://docs.rs/redb) file.
//!
//! redb gives ACID transactions with copy-on-write B-trees, checksummed pages and crash-safe
//! commits. Layout: table `chunks` (`u128` Morton key → codec record), table `summaries` (the
//! same keys → [summary records](crate::summary_record), written in the same transaction as
//! their chunk records) and table `meta` (`"format"` → [`SAVE_FORMAT_VERSION`]). One
//! [`ChunkStore::commit`] is one redb write transaction with `Durability::Immediate`: it
//! returns after redb's fsyncs. A save of format 1 (no summaries) gets them when first opened:
//! one write transaction summarises every record (decoding each) and sets the format to 2. The backend wraps
//! redb's file backend to count those fsyncs ([`ChunkStore::sync_count`]).

use super::{
    ChunkCellVisitor, ChunkStore, CommitReceipt, ScanVisitor, StoreError, SummaryVisitor, visit_chunk_cell,
    visit_summary,
};
use crate::chunk::Chunk;
use crate::coords::ChunkKey;
use crate::morton::MortonKey;
use crate::store::WriteBatch;
use crate::summary_record::{self, StoredSummary};
use redb::backends::FileBackend;
use redb::{Database, ReadableDatabase, ReadableTable, StorageBackend, TableDefinition};
use std::fs::OpenOptions;
use std::io;
use std::ops::{Bound, ControlFlow, RangeInclusive};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const CHUNKS: TableDefinition<u128, &[u8]> = TableDefinition::new("chunks");
const SUMMARIES: TableDefinition<u128, &[u8]> = TableDefinition::new("summaries");
const META: TableDefinition<&str, u32> = TableDefinition::new("meta");
const META_TEXT: TableDefinition<&str, &str> = TableDefinition::new("meta_text");
/// Version of the save layout (tables and key encoding), stored in the `meta` table: 2 since
/// chunk summaries are kept (format-1 saves are upgraded when opened).
pub const SAVE_FORMAT_VERSION: u32 = 2;
/// The save format before chunk summaries (read, and upgraded on open).
const FORMAT_WITHOUT_SUMMARIES: u32 = 1;

/// Options for opening a [`RedbStore`].
#[derive(Clone, Debug)]
pub struct RedbStoreOptions {
    /// redb's page cache, in bytes.
    pub cache_bytes: usize,
}

impl Default for RedbStoreOptions {
    fn default() -> Self {
        Self { cache_bytes: 64 << 20 }
    }
}

/// A redb file backend that counts `sync_data` calls.
#[derive(Debug)]
struct CountingBackend {
    inner: FileBackend,
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

/// The embedded, crash-safe default store (one redb file).
pub struct RedbStore {
    db: Database,
    path: PathBuf,
    syncs: Arc<AtomicU64>,
    reads: Arc<AtomicU64>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").field("path", &self.path).finish()
    }
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
        if !path.exists() {
            let mut tmp = path.clone().into_os_string();
            tmp.push(".creating");
            let tmp = PathBuf::from(tmp);
            if tmp.exists() {
                std::fs::remove_file(&tmp)?;
            }
            drop(Self::open_existing(&tmp, &options)?);
            std::fs::rename(&tmp, &path)?;
            sync_parent_dir(&path)?;
        }
        Self::open_existing(&path, &options)
    }

    fn open_existing(path: &Path, options: &RedbStoreOptions) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        let syncs = Arc::new(AtomicU64::new(0));
        let reads = Arc::new(AtomicU64::new(0));
        let inner = FileBackend::new(file).map_err(redb::Error::from)?;
        let backend = CountingBackend { inner, syncs: syncs.clone(), reads: reads.clone() };
        let db = Database::builder()
            .set_cache_size(options.cache_bytes)
            .create_with_backend(backend)
            .map_err(redb::Error::from)?;
        let store = Self { db, path, syncs, reads };
        store.check_format()?;
        Ok(store)
    }

    fn check_format(&self) -> Result<(), StoreError> {
        // An existing save of this format needs no write: a write transaction's commit costs a
        // durable sync that grows with the file (about 0.5 s for a 500 MB save).
        match self.stored_format()? {
            Some(SAVE_FORMAT_VERSION) => return Ok(()),
            Some(FORMAT_WITHOUT_SUMMARIES) => return self.add_summaries(),
            Some(found) => return Err(StoreError::UnsupportedFormat { found, supported: SAVE_FORMAT_VERSION }),
            None => {}
        }
        let txn = self.db.begin_write().map_err(redb::Error::from)?;
        {
            let mut meta = txn.open_table(META).map_err(redb::Error::from)?;
            let found = meta.get("format").map_err(redb::Error::from)?.map(|g| g.value());
            match found {
                Some(v) if v != SAVE_FORMAT_VERSION && v != FORMAT_WITHOUT_SUMMARIES => {
                    return Err(StoreError::UnsupportedFormat { found: v, supported: SAVE_FORMAT_VERSION });
                }
                Some(_) => {}
                None => {
                    meta.insert("format", SAVE_FORMAT_VERSION).map_err(redb::Error::from)?;
                }
            }
            txn.open_table(CHUNKS).map_err(redb::Error::from)?;
            txn.open_table(SUMMARIES).map_err(redb::Error::from)?;
            txn.open_table(META_TEXT).map_err(redb::Error::from)?;
        }
        txn.commit().map_err(redb::Error::from)?;
        match self.stored_format()? {
            Some(FORMAT_WITHOUT_SUMMARIES) => self.add_summaries(),
            _ => Ok(()),
        }
    }

    /// Upgrades a format-1 save: summarises every chunk record into the `summaries` table (a
    /// record that does not decode gets the "no summary" record) and sets the format, in one
    /// durable transaction (a crash leaves the save as it was).
    ///
    /// # Runtime
    /// One decode and summary per stored chunk.
    fn add_summaries(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(redb::Error::from)?;
        {
            let chunks = txn.open_table(CHUNKS).map_err(redb::Error::from)?;
            let mut summaries = txn.open_table(SUMMARIES).map_err(redb::Error::from)?;
            let mut out = Vec::new();
            for item in chunks.iter().map_err(redb::Error::from)? {
                let (k, v) = item.map_err(redb::Error::from)?;
                let key = MortonKey(k.value());
                out.clear();
                match StoredSummary::of_record(v.value()) {
                    Ok(s) => s.encode(key, &mut out),
                    Err(_) => summary_record::encode_unsummarised(key, &mut out),
                }
                summaries.insert(key.0, out.as_slice()).map_err(redb::Error::from)?;
            }
            let mut meta = txn.open_table(META).map_err(redb::Error::from)?;
            meta.insert("format", SAVE_FORMAT_VERSION).map_err(redb::Error::from)?;
        }
        txn.commit().map_err(redb::Error::from)?;
        Ok(())
    }

    /// The format version of a save whose tables all exist (`None`: a new or partial save).
    fn stored_format(&self) -> Result<Option<u32>, StoreError> {
        let txn = self.db.begin_read().map_err(redb::Error::from)?;
        // (`summaries` is checked by the format: format 1 has none, and a save whose format is
        // set has all its tables, created in the transaction that set it.)
        let tables = (txn.open_table(META), txn.open_table(CHUNKS), txn.open_table(META_TEXT));
        match tables {
            (Ok(meta), Ok(_), Ok(_)) => Ok(meta.get("format").map_err(redb::Error::from)?.map(|g| g.value())),
            (Err(redb::TableError::TableDoesNotExist(_)), _, _)
            | (_, Err(redb::TableError::TableDoesNotExist(_)), _)
            | (_, _, Err(redb::TableError::TableDoesNotExist(_))) => Ok(None),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(redb::Error::from(e).into()),
        }
    }

    /// A text value stored beside the chunks (e.g. the generator settings a save was made with).
    pub fn meta(&self, name: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read().map_err(redb::Error::from)?;
        let table = txn.open_table(META_TEXT).map_err(redb::Error::from)?;
        let v = table.get(name).map_err(redb::Error::from)?.map(|g| g.value().to_owned());
        Ok(v)
    }

    /// Stores a text value durably (its own transaction).
    pub fn set_meta(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(redb::Error::from)?;
        {
            let mut table = txn.open_table(META_TEXT).map_err(redb::Error::from)?;
            table.insert(name, value).map_err(redb::Error::from)?;
        }
        txn.commit().map_err(redb::Error::from)?;
        Ok(())
    }

    /// Rewrites the file to release pages freed by earlier commits (copy-on-write leaves them
    /// behind). Needs exclusive access; returns whether anything was reclaimed.
    ///
    /// # Runtime
    /// Proportional to the file size; run it offline (the `strata compact` command) or rarely.
    pub fn compact(&mut self) -> Result<bool, StoreError> {
        let mut any = false;
        while self.db.compact().map_err(redb::Error::from)? {
            any = true;
        }
        Ok(any)
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
        let txn = self.db.begin_read().map_err(redb::Error::from)?;
        let chunks = txn.open_table(CHUNKS).map_err(redb::Error::from)?;
        let summaries = txn.open_table(SUMMARIES).map_err(redb::Error::from)?;
        let mut out = Vec::new();
        for item in chunks.iter().map_err(redb::Error::from)? {
            let (k, record) = item.map_err(redb::Error::from)?;
            let key = MortonKey(k.value());
            let Some(stored) = summaries.get(key.0).map_err(redb::Error::from)? else {
                out.push((key, SummaryProblem::Missing));
                continue;
            };
            let remade = StoredSummary::of_record(record.value()).ok();
            match (StoredSummary::decode(key, stored.value()), remade) {
                (Err(e), _) => out.push((key, SummaryProblem::Damaged(e))),
                (Ok(None), Some(_)) | (Ok(Some(_)), None) => out.push((key, SummaryProblem::Stale)),
                (Ok(Some(s)), Some(r)) if s != r => out.push((key, SummaryProblem::Stale)),
                _ => {}
            }
        }
        for item in summaries.iter().map_err(redb::Error::from)? {
            let (k, _) = item.map_err(redb::Error::from)?;
            if chunks.get(k.value()).map_err(redb::Error::from)?.is_none() {
                out.push((MortonKey(k.value()), SummaryProblem::Orphan));
            }
        }
        out.sort_by_key(|(k, _)| *k);
        Ok(out)
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
    Damaged(crate::DecodeError),
    /// The summary decodes but is not what the record gives.
    #[error("the summary does not match its record")]
    Stale,
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
        let txn = self.db.begin_read().map_err(redb::Error::from)?;
        let summaries = txn.open_table(SUMMARIES).map_err(redb::Error::from)?;
        let chunks = txn.open_table(CHUNKS).map_err(redb::Error::from)?;
        for item in summaries.range(range.start().0..=range.end().0).map_err(redb::Error::from)? {
            let (k, v) = item.map_err(redb::Error::from)?;
            let key = MortonKey(k.value());
            let record = || Ok(chunks.get(key.0).map_err(redb::Error::from)?.map(|g| g.value().to_vec()));
            if each(key, v.value(), &record)?.is_break() {
                break;
            }
        }
        Ok(())
    }
}

impl ChunkStore for RedbStore {
    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(redb::Error::from)?;
        let table = txn.open_table(CHUNKS).map_err(redb::Error::from)?;
        let v = table.get(key.0).map_err(redb::Error::from)?.map(|g| g.value().to_vec());
        Ok(v)
    }

    /// All keys in one read transaction (the default would open one per key).
    fn get_many(&self, keys: &[ChunkKey]) -> Result<Vec<Option<Chunk>>, StoreError> {
        let txn = self.db.begin_read().map_err(redb::Error::from)?;
        let table = txn.open_table(CHUNKS).map_err(redb::Error::from)?;
        keys.iter()
            .map(|&key| match table.get(key.morton().0).map_err(redb::Error::from)? {
                None => Ok(None),
                Some(g) => {
                    crate::codec::decode(g.value()).map(Some).map_err(|source| StoreError::Corrupt { key, source })
                }
            })
            .collect()
    }

    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(redb::Error::from)?;
        let table = txn.open_table(CHUNKS).map_err(redb::Error::from)?;
        for item in table.range(range.start().0..=range.end().0).map_err(redb::Error::from)? {
            let (k, v) = item.map_err(redb::Error::from)?;
            if visit(MortonKey(k.value()), v.value()) == ControlFlow::Break(()) {
                break;
            }
        }
        Ok(())
    }

    /// Reads the `summaries` table only; a summary that is missing or damaged is made again
    /// from the chunk record (same read transaction).
    fn scan_summaries(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut SummaryVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.scan_summary_table(range, &mut |key, stored, record| visit_summary(key, Some(stored), record, visit))
    }

    /// Reads the `summaries` table only (each summary's header and checksum); falls back to
    /// the chunk record like [`ChunkStore::scan_summaries`].
    fn scan_chunk_cells(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut ChunkCellVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.scan_summary_table(range, &mut |key, stored, record| visit_chunk_cell(key, Some(stored), record, visit))
    }

    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        let start = Instant::now();
        // Dropping an uncommitted redb transaction aborts it, so an early `?` leaves the store
        // unchanged.
        let txn = self.db.begin_write().map_err(redb::Error::from)?;
        {
            let mut table = txn.open_table(CHUNKS).map_err(redb::Error::from)?;
            let mut summaries = txn.open_table(SUMMARIES).map_err(redb::Error::from)?;
            for (k, rec) in batch.iter_with_summaries() {
                match rec {
                    Some(put) => {
                        table.insert(k.0, put.record).map_err(redb::Error::from)?;
                        summaries.insert(k.0, put.summary).map_err(redb::Error::from)?;
                    }
                    None => {
                        table.remove(k.0).map_err(redb::Error::from)?;
                        summaries.remove(k.0).map_err(redb::Error::from)?;
                    }
                }
            }
        }
        txn.commit().map_err(redb::Error::from)?;
        Ok(CommitReceipt { entries: batch.len(), bytes: batch.encoded_bytes(), duration: start.elapsed() })
    }

    fn sync_count(&self) -> Option<u64> {
        Some(self.syncs.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Chunk, ChunkKey, MaterialId};

    #[test]
    fn contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path().join("w.strata")).unwrap();
        super::super::contract::run(&store);
    }

    #[test]
    fn survives_reopen_and_counts_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.strata");
        {
            let store = RedbStore::open(&path).unwrap();
            let before = store.sync_count().unwrap();
            let mut b = WriteBatch::new();
            for x in 0..256 {
                b.put(ChunkKey::new(x, 0, 0), &super::super::contract::dense(x as u16));
            }
            store.commit(&b).unwrap();
            let syncs = store.sync_count().unwrap() - before;
            assert!((1..=3).contains(&syncs), "one commit, {syncs} syncs");
        }
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(store.get(ChunkKey::new(17, 0, 0)).unwrap(), Some(super::super::contract::dense(17)));
        assert_eq!(store.stats().unwrap().records, 256);
        let _ = Chunk::Uniform(MaterialId(0));
    }

    #[test]
    fn a_cleanly_closed_save_opens_without_reading_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.strata");
        {
            let store = RedbStore::open(&path).unwrap();
            for round in 0..4 {
                let mut b = WriteBatch::new();
                for x in 0..1000 {
                    b.put(ChunkKey::new(x, round, 0), &super::super::contract::dense(x as u16));
                }
                store.commit(&b).unwrap();
            }
        }
        // Opening reads the header and the allocator state, not one page per record.
        let store = RedbStore::open(&path).unwrap();
        let reads = store.file_reads();
        assert!(reads < 100, "opening read {reads} times");
        assert_eq!(store.get(ChunkKey::new(999, 3, 0)).unwrap(), Some(super::super::contract::dense(999)));
    }

    #[test]
    fn compaction_shrinks_after_rewrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.strata");
        let mut store = RedbStore::open(&path).unwrap();
        for round in 0..8u16 {
            let mut b = WriteBatch::new();
            for x in 0..64 {
                b.put(ChunkKey::new(x, 0, 0), &super::super::contract::dense(x as u16 + round));
            }
            store.commit(&b).unwrap();
        }
        let before = std::fs::metadata(&path).unwrap().len();
        store.compact().unwrap();
        drop(store);
        let after = std::fs::metadata(&path).unwrap().len();
        assert!(after <= before, "{after} > {before}");
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(store.get(ChunkKey::new(5, 0, 0)).unwrap(), Some(super::super::contract::dense(12)));
    }

    /// Every summary a scan gives, by key (`Err` for chunks that could not be summarised).
    fn summaries(store: &RedbStore) -> Vec<(MortonKey, Result<StoredSummary, crate::DecodeError>)> {
        let mut out = Vec::new();
        store
            .scan_summaries(super::super::full_range(), &mut |k, s| {
                out.push((k, s));
                ControlFlow::Continue(())
            })
            .unwrap();
        out
    }

    fn summaries_table_len(store: &RedbStore) -> u64 {
        use redb::ReadableTableMetadata;
        let txn = store.db.begin_read().unwrap();
        txn.open_table(SUMMARIES).unwrap().len().unwrap()
    }

    #[test]
    fn a_format_1_save_gets_its_summaries_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.strata");
        let (a, b, bad) = (ChunkKey::new(1, 2, 3), ChunkKey::new(-4, 0, 9), ChunkKey::new(0, 0, 1));
        // A save as format 1 wrote it: its three tables, no summaries.
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                txn.open_table(META).unwrap().insert("format", 1).unwrap();
                txn.open_table(META_TEXT).unwrap();
                let mut chunks = txn.open_table(CHUNKS).unwrap();
                chunks
                    .insert(a.morton().0, crate::codec::encode(&super::super::contract::dense(9)).as_slice())
                    .unwrap();
                chunks.insert(b.morton().0, crate::codec::encode(&Chunk::Uniform(MaterialId(3))).as_slice()).unwrap();
                chunks.insert(bad.morton().0, &b"STRCgarbage"[..]).unwrap();
            }
            txn.commit().unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(store.stored_format().unwrap(), Some(SAVE_FORMAT_VERSION));
        assert_eq!(summaries_table_len(&store), 3, "one summary per record, the bad one included");
        let got = summaries(&store);
        let of = |c: Chunk| Ok(StoredSummary::of(&c, crate::ProcessHistory::EMPTY));
        for (k, s) in got {
            match k {
                k if k == a.morton() => assert_eq!(s, of(super::super::contract::dense(9))),
                k if k == b.morton() => assert_eq!(s, of(Chunk::Uniform(MaterialId(3)))),
                k => assert!(k == bad.morton() && s.is_err(), "{k:?}: {s:?}"),
            }
        }
        // The records themselves are untouched.
        assert_eq!(store.get(a).unwrap(), Some(super::super::contract::dense(9)));
    }

    #[test]
    fn a_damaged_summary_is_made_again_from_its_record_and_deletes_remove_both() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path().join("w.strata")).unwrap();
        let (a, b) = (ChunkKey::new(0, 0, 0), ChunkKey::new(1, 0, 0));
        let mut batch = WriteBatch::new();
        batch.put(a, &super::super::contract::dense(4));
        batch.put(b, &super::super::contract::dense(5));
        store.commit(&batch).unwrap();
        // b's summary written under a's key (a summary moved to another key), as bit rot might.
        let txn = store.db.begin_write().unwrap();
        {
            let mut t = txn.open_table(SUMMARIES).unwrap();
            let moved = t.get(b.morton().0).unwrap().unwrap().value().to_vec();
            t.insert(a.morton().0, moved.as_slice()).unwrap();
        }
        txn.commit().unwrap();
        let got = summaries(&store);
        assert_eq!(got[0], (a.morton(), Ok(StoredSummary::of(&super::super::contract::dense(4), Default::default()))));
        batch.clear();
        batch.delete(a);
        store.commit(&batch).unwrap();
        assert_eq!(summaries_table_len(&store), 1);
        assert_eq!(summaries(&store).len(), 1);
    }

    #[test]
    fn summary_problems_name_every_damaged_missing_stale_or_orphan_summary() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path().join("w.strata")).unwrap();
        let keys: Vec<ChunkKey> = (0..6).map(|x| ChunkKey::new(x, 0, 0)).collect();
        let mut batch = WriteBatch::new();
        for (i, k) in keys.iter().enumerate() {
            batch.put(*k, &super::super::contract::dense(i as u16 + 3));
        }
        store.commit(&batch).unwrap();
        assert_eq!(store.summary_problems().unwrap(), vec![]);
        let txn = store.db.begin_write().unwrap();
        {
            let mut s = txn.open_table(SUMMARIES).unwrap();
            let mut c = txn.open_table(CHUNKS).unwrap();
            // 0: a bit flipped; 1: removed; 2: another chunk's summary re-sealed under its key;
            // 3: its record removed (the summary left over).
            let mut flipped = s.get(keys[0].morton().0).unwrap().unwrap().value().to_vec();
            flipped[30] ^= 4;
            s.insert(keys[0].morton().0, flipped.as_slice()).unwrap();
            s.remove(keys[1].morton().0).unwrap();
            let mut stale = Vec::new();
            StoredSummary::of(&super::super::contract::dense(40), Default::default())
                .encode(keys[2].morton(), &mut stale);
            s.insert(keys[2].morton().0, stale.as_slice()).unwrap();
            c.remove(keys[3].morton().0).unwrap();
        }
        txn.commit().unwrap();
        let problems = store.summary_problems().unwrap();
        assert!(matches!(problems[0], (k, SummaryProblem::Damaged(_)) if k == keys[0].morton()), "{problems:?}");
        assert_eq!(
            problems[1..],
            [
                (keys[1].morton(), SummaryProblem::Missing),
                (keys[2].morton(), SummaryProblem::Stale),
                (keys[3].morton(), SummaryProblem::Orphan)
            ]
        );
    }

    #[test]
    fn meta_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.strata");
        RedbStore::open(&path).unwrap().set_meta("generator", "(seed: 3)").unwrap();
        let s = RedbStore::open(&path).unwrap();
        assert_eq!(s.meta("generator").unwrap().as_deref(), Some("(seed: 3)"));
        assert_eq!(s.meta("nope").unwrap(), None);
    }

    #[test]
    fn garbage_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.strata");
        std::fs::write(&path, vec![0xAB; 8192]).unwrap();
        assert!(RedbStore::open(&path).is_err());
    }

    #[test]
    fn leftover_creation_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.strata");
        std::fs::write(dir.path().join("w.strata.creating"), b"half-written").unwrap();
        let s = RedbStore::open(&path).unwrap();
        assert_eq!(s.stats().unwrap().records, 0);
        assert!(!dir.path().join("w.strata.creating").exists());
    }

    #[test]
    fn second_open_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.strata");
        let _a = RedbStore::open(&path).unwrap();
        assert!(RedbStore::open(&path).is_err());
    }
}
