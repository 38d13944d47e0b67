//! Chunk stores: where edited chunks live, as checksummed [codec records](crate::codec) keyed by
//! [`MortonKey`].
//!
//! # Durability contract (per backend)
//! [`ChunkStore::commit`] returns `Ok` only once the whole batch is **durable** by the backend's
//! definition, and stores never hold staged writes between calls: the batch is the unit of work.
//! Atomicity depends on the backend:
//!
//! - Embedded stores (`strata_redb`'s `RedbStore`, [`MemoryStore`]): every put and delete of a [`WriteBatch`] is applied
//!   **atomically** (a reader, or a process reopening the store after a crash, sees all of the
//!   batch or none of it); `Ok` means fsynced (redb: it survives a process kill or power loss). An
//!   `Err` means the batch did not land and the store is unchanged.
//! - Distributed backends (`strata_redis`'s Redis Cluster store) have no cross-shard
//!   transactions: a batch is atomic **per shard** (per region of chunks), and `Ok` means written
//!   on every shard's primary and confirmed by the configured number of replicas. An `Err` may
//!   leave **some shards written and others not**. This is safe for [`World`](crate::World):
//!   on `Err` it keeps every chunk of the batch dirty and the next commit rewrites all of them,
//!   and every entry is an idempotent put (or delete) of a whole chunk record, so retries
//!   converge. Callers writing batches by hand must retry a failed batch the same way.

pub mod change_log;
mod memory;

pub use change_log::{LogPosition, LogRead};
pub use memory::MemoryStore;

use crate::chunk::Chunk;
use crate::codec::{self, ChunkEncoder, DecodeError, RecordHome, WorldId};
use crate::coords::ChunkKey;
use crate::history::ProcessHistory;
use crate::material::MaterialId;
use crate::morton::MortonKey;
use crate::summary_record::{self, StoredCell, StoredSummary};
use crate::up::{Up, WorldUp};
use std::ops::{ControlFlow, Range, RangeInclusive};
use std::time::Duration;

/// Errors from a chunk store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A stored record failed to decode.
    #[error("chunk {key:?} is corrupt: {source}")]
    Corrupt {
        /// The chunk.
        key: ChunkKey,
        /// Why.
        source: DecodeError,
    },
    /// The underlying database failed (I/O, lock held…).
    #[error("store backend error: {0}")]
    Backend(String),
    /// The save's database structure is damaged: the database reported corruption, panicked
    /// reading it (contained: see `strata_redb`), or the save's own bookkeeping fails its
    /// check. Nothing more is read from or written to it by this store; its intact records can
    /// be recovered with `strata salvage`.
    #[error(
        "the save {} is damaged ({detail}); recover its intact records with `strata salvage --save {} --out <new save>`",
        path.display(),
        path.display()
    )]
    Damaged {
        /// The save.
        path: std::path::PathBuf,
        /// What was found.
        detail: String,
    },
    /// The save was written by an incompatible version of Strata.
    #[error("save format version {found} is not supported (this build reads {supported})")]
    UnsupportedFormat {
        /// In the file.
        found: u32,
        /// This build.
        supported: u32,
    },
    /// The store was opened read-only (or must be opened writable once first: a save that was
    /// not closed cleanly, or one of an older format).
    #[error("the save is open read-only, or must be opened writable once (to recover it or upgrade its format)")]
    ReadOnly,
    /// The save is already open by another process.
    #[error("the save is already open by another process")]
    AlreadyOpen,
    /// Filesystem I/O.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A remote store could not be reached or could not confirm a write in time (nodes down,
    /// failover in progress, too few replicas acknowledged). Retrying later may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store's configuration (for example its URL) is invalid.
    #[error("invalid store configuration: {0}")]
    InvalidConfig(String),
    /// A hand-made chunk key has a coordinate outside
    /// [`CHUNK_COORD_MIN`](crate::CHUNK_COORD_MIN)`..=`[`CHUNK_COORD_MAX`](crate::CHUNK_COORD_MAX):
    /// no voxel lies in it, and its Morton key would alias another chunk's, so it is refused
    /// before anything is read or written.
    #[error("chunk key {key:?} lies outside the valid chunk range")]
    InvalidKey {
        /// The key.
        key: ChunkKey,
    },
    /// The store returned an older copy of a chunk than this world committed (its record was
    /// written by an earlier commit, or is missing): a read from a lagging replica, or a load
    /// that started before the commit. Nothing was installed; reading again later returns the
    /// committed copy.
    #[error("chunk {key:?}: the store returned the copy of commit {read}, older than commit {committed} of this world")]
    Stale {
        /// The chunk.
        key: ChunkKey,
        /// The sequence number of the copy read (0: no record, the generator's chunk).
        read: u64,
        /// The sequence number of this world's last commit of the chunk.
        committed: u64,
    },
    /// [`World::prepare_commit`](crate::World::prepare_commit) was called while an earlier
    /// [`PreparedCommit`](crate::PreparedCommit) of the world still exists: finish (or drop) it
    /// first, so commits land in the order they were prepared.
    #[error("a prepared commit of this world is not finished yet")]
    CommitInProgress,
    /// Conditional puts ([`WriteBatch::put_if`]) found other records than they expected at
    /// these keys: another writer committed them since they were read.
    ///
    /// What was written is exactly `written`: the embedded stores write nothing of such a
    /// batch (`written` empty); a distributed store, atomic per region, writes nothing of the
    /// regions holding `keys` (their other entries included) and every other region's entries,
    /// durably, with sequence number `sequence`. An entry that is not listed in `written` was
    /// not written. [`World`](crate::World) re-reads `keys`, merges per voxel and commits them
    /// again together with the entries not written.
    #[error("{} chunk(s) were changed by another writer since they were read (first: {:?}); {} entries written", keys.len(), keys.first(), written.len())]
    Conflict {
        /// The chunks whose records changed (each once, none of them in `written`).
        keys: Vec<ChunkKey>,
        /// The entries of the batch that were written (and confirmed) all the same, with
        /// sequence number `sequence`; empty when nothing of the batch was written.
        written: Vec<ChunkKey>,
        /// The sequence number `written` was written with (0 when `written` is empty).
        sequence: u64,
    },
}

/// What a conditional put ([`WriteBatch::put_if`]) expects the store to hold at its key when
/// the batch commits (compare-and-set): if any expectation fails the store refuses the put with
/// [`StoreError::Conflict`] instead of overwriting another writer's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expect {
    /// No record (the chunk was the generator's).
    Absent,
    /// The record written by the commit with this sequence number (0: a record of format 1 or
    /// 2, or one a store did not seal).
    Sequence(u64),
}

impl Expect {
    /// Whether `stored`, the record at the key (if any), is the expected one. O(1): reads the
    /// sequence number from the header.
    pub fn matches(self, stored: Option<&[u8]>) -> bool {
        match (self, stored) {
            (Expect::Absent, None) => true,
            (Expect::Sequence(s), Some(record)) => codec::stored_sequence(record) == s,
            _ => false,
        }
    }
}

/// Decodes a record read from `home` (the chunk `key`) into a [`StoredChunk`]; a record that
/// fails to decode or belongs elsewhere is [`StoreError::Corrupt`].
pub fn decode_stored(bytes: &[u8], home: RecordHome, key: ChunkKey) -> Result<StoredChunk, StoreError> {
    codec::decode_stored_at(bytes, home)
        .map(|(chunk, history, sequence)| StoredChunk { chunk, history, sequence })
        .map_err(|source| StoreError::Corrupt { key, source })
}

/// `key`'s Morton key, or [`StoreError::InvalidKey`] for a key outside the valid range (which
/// [`MortonKey::from_chunk`] would wrap onto another chunk's). Every store and world entry point
/// that takes a [`ChunkKey`] checks it with this.
pub fn checked_morton(key: ChunkKey) -> Result<MortonKey, StoreError> {
    if key.is_valid() { Ok(key.morton()) } else { Err(StoreError::InvalidKey { key }) }
}

/// A set of puts and deletes, committed atomically by [`ChunkStore::commit`].
///
/// Chunks are encoded when added, into one shared buffer (no allocation per chunk once the batch
/// is reused via [`WriteBatch::clear`]), each with its [stored summary](crate::summary_record)
/// (histogram, history, half-resolution cells), which stores keep beside the record so that
/// [`ChunkStore::scan_summaries`] never decodes a chunk. If a key appears twice, the later entry
/// wins.
///
/// A put or delete of a key outside the valid range ([`ChunkKey::is_valid`]) is not added; the
/// batch remembers the first such key and every store refuses to commit it
/// ([`WriteBatch::check`], [`StoreError::InvalidKey`]), so nothing of the batch is written.
#[derive(Default)]
pub struct WriteBatch {
    data: Vec<u8>,
    summaries: Vec<u8>,
    entries: Vec<(MortonKey, Option<PutRanges>)>,
    encoder: ChunkEncoder,
    invalid: Option<ChunkKey>,
    conditions: Vec<(MortonKey, Expect)>,
    up: WorldUp,
}

/// Where a put's record and summary lie in a [`WriteBatch`]'s buffers.
#[derive(Clone)]
struct PutRanges {
    record: Range<usize>,
    summary: Range<usize>,
}

/// One put of a [`WriteBatch`]: the chunk record and its summary record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Put<'a> {
    /// The chunk record ([`crate::codec`]).
    pub record: &'a [u8],
    /// Its summary record ([`crate::summary_record`]).
    pub summary: &'a [u8],
}

impl WriteBatch {
    /// An empty batch whose summaries are downsampled with up `+Y` ([`WorldUp::PlusY`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch for a world whose up is `up`: each put's summary is downsampled with
    /// its chunk's up ([`WorldUp::of_chunk`]). A summary made with another up than its
    /// reader's world is still correct data, but readers then decode the chunk record instead
    /// ([`StoredSummary::up`]).
    pub fn for_world(up: WorldUp) -> Self {
        Self { up, ..Self::default() }
    }

    /// Stores `chunk` at `key`.
    pub fn put(&mut self, key: ChunkKey, chunk: &Chunk) {
        self.put_with_history(key, chunk, &ProcessHistory::EMPTY);
    }

    /// Stores `chunk` at `key` with the processes that changed it.
    ///
    /// # Runtime
    /// The record's encoding (one lz4 compression of 64 KiB for a dense chunk) plus its summary
    /// (O(32³) counting and downsampling, one lz4 compression of 8 KiB); O(1) for a uniform chunk.
    pub fn put_with_history(&mut self, key: ChunkKey, chunk: &Chunk, history: &ProcessHistory) {
        if !self.accepts(key) {
            return;
        }
        let start = self.data.len();
        self.encoder.encode_with_history(key.morton(), chunk, history, &mut self.data);
        let s = self.summaries.len();
        StoredSummary::of(chunk, *history, self.up.of_chunk(key)).encode(key.morton(), &mut self.summaries);
        self.entries
            .push((key.morton(), Some(PutRanges { record: start..self.data.len(), summary: s..self.summaries.len() })));
    }

    /// [`WriteBatch::put_with_history`] on condition: the store commits the batch only if the
    /// record at `key` is still the one `expect` describes (else [`StoreError::Conflict`]).
    pub fn put_if(&mut self, key: ChunkKey, chunk: &Chunk, history: &ProcessHistory, expect: Expect) {
        if self.accepts(key) {
            self.put_with_history(key, chunk, history);
            self.conditions.push((key.morton(), expect));
        }
    }

    /// The conditions of [`WriteBatch::put_if`], in the order they were added. Stores check
    /// every one before writing (see [`StoreError::Conflict`]).
    pub fn conditions(&self) -> &[(MortonKey, Expect)] {
        &self.conditions
    }

    /// Stores an already encoded record (its validity is the caller's responsibility: the store
    /// reports it as corrupt on read if it does not decode, or as misplaced if it was encoded
    /// for another key or sealed for another world). Its summary is made by decoding it where
    /// it will be read from — a record that does not decode there gets a summary that says so,
    /// and readers then decode, and report, the record itself.
    pub fn put_record(&mut self, key: MortonKey, record: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(record);
        let s = self.summaries.len();
        // Unsealed here; the store seals it for its world when it commits (a record sealed for
        // another world stays foreign: see `codec::seal_into`).
        let up = self.up.of_chunk(key.to_chunk());
        match StoredSummary::of_stored_record(record, RecordHome { world: WorldId::UNSEALED, key }, up) {
            Ok(summary) => summary.encode(key, &mut self.summaries),
            Err(_) => summary_record::encode_unsummarised(key, &mut self.summaries),
        }
        self.entries.push((key, Some(PutRanges { record: start..self.data.len(), summary: s..self.summaries.len() })));
    }

    /// Removes `key` (the chunk reverts to what the generator makes).
    pub fn delete(&mut self, key: ChunkKey) {
        if self.accepts(key) {
            self.entries.push((key.morton(), None));
        }
    }

    /// Whether `key` is valid; remembers the first invalid one.
    fn accepts(&mut self, key: ChunkKey) -> bool {
        let ok = key.is_valid();
        if !ok {
            self.invalid.get_or_insert(key);
        }
        ok
    }

    /// [`StoreError::InvalidKey`] if a put or delete named a key outside the valid range (the
    /// first such key). Stores call it before writing anything.
    pub fn check(&self) -> Result<(), StoreError> {
        self.invalid.map_or(Ok(()), |key| Err(StoreError::InvalidKey { key }))
    }

    /// Number of puts and deletes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of encoded records (summaries not included).
    pub fn encoded_bytes(&self) -> usize {
        self.data.len()
    }

    /// Bytes of encoded summaries.
    pub fn summary_bytes(&self) -> usize {
        self.summaries.len()
    }

    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.invalid = None;
        self.conditions.clear();
        self.data.clear();
        self.summaries.clear();
        self.entries.clear();
    }

    /// The entries in order: key and `Some(record)` for a put, `None` for a delete.
    pub fn iter(&self) -> impl Iterator<Item = (MortonKey, Option<&[u8]>)> {
        self.entries.iter().map(|(k, r)| (*k, r.as_ref().map(|r| &self.data[r.record.clone()])))
    }

    /// The entries in order: key and `Some(put)` (record and summary record) for a put, `None`
    /// for a delete. Stores that keep summaries write both in the same transaction.
    pub fn iter_with_summaries(&self) -> impl Iterator<Item = (MortonKey, Option<Put<'_>>)> {
        self.entries.iter().map(|(k, r)| {
            let put = r
                .as_ref()
                .map(|r| Put { record: &self.data[r.record.clone()], summary: &self.summaries[r.summary.clone()] });
            (*k, put)
        })
    }
}

/// What a successful commit reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitReceipt {
    /// Entries written.
    pub entries: usize,
    /// Encoded bytes written.
    pub bytes: usize,
    /// Wall time of the commit, durability included.
    pub duration: Duration,
    /// The sequence number sealed into every record of the commit (0 from a store that does
    /// not seal records). A store's sequence numbers increase from commit to commit, so a
    /// record read later with a lower one is older than this commit.
    pub sequence: u64,
}

/// A chunk as a store holds it ([`ChunkStore::get_stored`]).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredChunk {
    /// The voxels.
    pub chunk: Chunk,
    /// The processes that changed it.
    pub history: ProcessHistory,
    /// The sequence number of the commit that wrote the record (0 for records of format
    /// versions 1 and 2, and for stores that do not seal).
    pub sequence: u64,
}

/// Totals over a store's records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Stored chunks.
    pub records: u64,
    /// Stored chunks that are uniform.
    pub uniform_records: u64,
    /// Bytes of all records (headers included).
    pub record_bytes: u64,
}

/// A visitor for [`ChunkStore::scan`]: called with each key and raw record in key order.
pub type ScanVisitor<'a> = dyn FnMut(MortonKey, &[u8]) -> ControlFlow<()> + 'a;

/// A visitor for [`ChunkStore::scan_summaries`]: called with each stored chunk's key and its
/// summary, or why the chunk could not be summarised, in key order.
pub type SummaryVisitor<'a> = dyn FnMut(MortonKey, Result<StoredSummary, DecodeError>) -> ControlFlow<()> + 'a;

/// A visitor for [`ChunkStore::scan_chunk_cells`]: called with each stored chunk's key and its
/// [chunk cell](crate::downsample::chunk_cell), or why the chunk could not be summarised, in
/// key order.
pub type ChunkCellVisitor<'a> = dyn FnMut(MortonKey, Result<StoredCell, DecodeError>) -> ControlFlow<()> + 'a;

/// Persistent (or not) storage of edited chunks, keyed by Morton order.
///
/// Implementations are shared between threads (`Send + Sync`); reads may run concurrently with a
/// commit and see the state before or after it, never a mix — per backend: the embedded stores
/// for the whole batch, distributed ones (Redis Cluster) per shard. See the module docs for the
/// durability contract.
pub trait ChunkStore: Send + Sync + 'static {
    /// The world this store's records are sealed for ([`codec::seal_into`]): what a record read
    /// from it must carry to decode ([`codec::decode_at`]). Strata's stores choose a random id
    /// when a world is created and seal every record they commit; a store that keeps records
    /// as the batch encoded them returns [`WorldId::UNSEALED`], and a store wrapping another
    /// returns the inner store's (no default, so a wrapper cannot forget it).
    fn world_id(&self) -> WorldId;

    /// Where a record read from `key` must belong.
    fn home(&self, key: MortonKey) -> RecordHome {
        RecordHome { world: self.world_id(), key }
    }

    /// The raw record at `key`, if stored.
    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError>;

    /// Calls `visit` with every record whose key is in `range`, in key order, until it breaks.
    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError>;

    /// Calls `visit` with the [summary](StoredSummary) of every stored chunk whose key is in
    /// `range`, in key order, until it breaks: what an index needs of a chunk whose voxels it
    /// does not hold.
    ///
    /// Stores that keep summaries beside their records (all of Strata's) read only those; a
    /// summary that is missing or does not decode is made again from the chunk record, and a
    /// chunk whose record does not decode either is reported with the record's error. The
    /// default implementation summarises every record (decoding each chunk).
    fn scan_summaries(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut SummaryVisitor<'_>,
    ) -> Result<(), StoreError> {
        let world = self.world_id();
        self.scan(range, &mut |key, record| {
            visit(key, StoredSummary::of_stored_record(record, RecordHome { world, key }, STORE_UP))
        })
    }

    /// Calls `visit` with the [chunk cell](crate::downsample::chunk_cell) (the chunk
    /// downsampled to one cell) of every stored chunk whose key is in `range`, in key order,
    /// until it breaks: what grids coarser than the index's roots need of a stored chunk.
    ///
    /// Strata's stores read it from the summary record's header (a checksum per chunk, no
    /// decompression), falling back like [`ChunkStore::scan_summaries`]. The default
    /// implementation takes it from [`ChunkStore::scan_summaries`].
    fn scan_chunk_cells(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut ChunkCellVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.scan_summaries(range, &mut |key, summary| visit(key, summary.map(|s| s.stored_cell())))
    }

    /// Applies `batch` durably, atomically as far as the backend allows (see the module docs:
    /// the contract is per backend).
    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError>;

    /// Number of fsync-type syncs this store has issued, if it counts them.
    fn sync_count(&self) -> Option<u64> {
        None
    }

    /// The end of the store's [change log](change_log) now, for a store other processes write
    /// too (a shared Redis Cluster world): reading from it gives what they commit after this
    /// call. `None` (the default): only this process writes the store, there is nothing to
    /// follow.
    fn change_log_end(&self) -> Result<Option<LogPosition>, StoreError> {
        Ok(None)
    }

    /// The chunks other writers committed after `from` (a position from
    /// [`ChunkStore::change_log_end`] or an earlier read), at most about `limit` entries. See
    /// [`change_log`] for what is guaranteed. The default (no change log) reads nothing.
    fn read_change_log(&self, from: &LogPosition, limit: usize) -> Result<LogRead, StoreError> {
        let _ = limit;
        Ok(LogRead { next: from.clone(), ..LogRead::default() })
    }

    /// The decoded chunk at `key`, if stored. A record that fails to decode, or belongs to
    /// another key or world, is [`StoreError::Corrupt`].
    fn get(&self, key: ChunkKey) -> Result<Option<Chunk>, StoreError> {
        Ok(self.get_with_history(key)?.map(|(chunk, _)| chunk))
    }

    /// The decoded chunk at `key` and its process history, if stored.
    fn get_with_history(&self, key: ChunkKey) -> Result<Option<(Chunk, ProcessHistory)>, StoreError> {
        Ok(self.get_stored(key)?.map(|s| (s.chunk, s.history)))
    }

    /// The decoded chunk at `key` with its process history and the sequence number of the
    /// commit that wrote it, if stored. A record that fails to decode, or belongs to another key
    /// or world, is [`StoreError::Corrupt`].
    fn get_stored(&self, key: ChunkKey) -> Result<Option<StoredChunk>, StoreError> {
        let morton = checked_morton(key)?;
        match self.get_record(morton)? {
            None => Ok(None),
            Some(bytes) => decode_stored(&bytes, self.home(morton), key).map(Some),
        }
    }

    /// Batched [`ChunkStore::get`], one result per key in order.
    fn get_many(&self, keys: &[ChunkKey]) -> Result<Vec<Option<Chunk>>, StoreError> {
        keys.iter().map(|k| self.get(*k)).collect()
    }

    /// Batched [`ChunkStore::get_record`], one result per key in order: what a world re-reads
    /// after a conflict, so that a commit conflicting on many chunks costs one round trip, not
    /// one per chunk. The default calls `get_record` per key; a networked store should batch.
    fn get_records(&self, keys: &[MortonKey]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get_record(*k)).collect()
    }

    /// Totals over every record (a full scan).
    fn stats(&self) -> Result<StoreStats, StoreError> {
        let mut s = StoreStats::default();
        self.scan(full_range(), &mut |_, rec| {
            s.records += 1;
            s.record_bytes += rec.len() as u64;
            if rec.get(5) == Some(&(codec::RecordKind::Uniform as u8)) {
                s.uniform_records += 1;
            }
            ControlFlow::Continue(())
        })?;
        Ok(s)
    }
}

/// The up a store summarises a chunk record with when it must make the summary itself (the
/// stored one is missing, of an older version or damaged): stores do not know their world's
/// up, so readers whose world has another up at that chunk summarise the chunk themselves
/// ([`StoredSummary::up`]).
pub const STORE_UP: Up = Up::PosY;

/// Hands `visit` the summary a store kept for the chunk at `home` (`stored`, if any), made
/// again from the chunk record (with [`STORE_UP`]) when it is missing, says "no summary" or
/// does not decode (`record` reads the record, only then; it must belong at `home`). A key with no record
/// either (deleted meanwhile) is not visited. What stores' [`ChunkStore::scan_summaries`] call
/// per key.
pub fn visit_summary(
    home: RecordHome,
    stored: Option<&[u8]>,
    record: impl FnOnce() -> Result<Option<Vec<u8>>, StoreError>,
    visit: &mut SummaryVisitor<'_>,
) -> Result<ControlFlow<()>, StoreError> {
    let key = home.key;
    let of_record = |r: &[u8]| StoredSummary::of_stored_record(r, home, STORE_UP);
    visit_stored(key, stored, record, |s| StoredSummary::decode(key, s), of_record, visit)
}

/// [`visit_summary`] for [`ChunkStore::scan_chunk_cells`]: the chunk cell from the stored
/// summary's header, or made from the chunk record when the summary is missing, says "no
/// summary" or does not pass its checks.
pub fn visit_chunk_cell(
    home: RecordHome,
    stored: Option<&[u8]>,
    record: impl FnOnce() -> Result<Option<Vec<u8>>, StoreError>,
    visit: &mut ChunkCellVisitor<'_>,
) -> Result<ControlFlow<()>, StoreError> {
    let key = home.key;
    let of_record = |r: &[u8]| StoredSummary::of_stored_record(r, home, STORE_UP).map(|s| s.stored_cell());
    visit_stored(key, stored, record, |s| summary_record::decode_chunk_cell(key, s), of_record, visit)
}

/// What [`visit_summary`] and [`visit_chunk_cell`] share: `from_stored` of the stored summary
/// when it gives a value, else `from_record` of the chunk record (read only then); a key with
/// no record either is not visited.
fn visit_stored<T>(
    key: MortonKey,
    stored: Option<&[u8]>,
    record: impl FnOnce() -> Result<Option<Vec<u8>>, StoreError>,
    from_stored: impl FnOnce(&[u8]) -> Result<Option<T>, DecodeError>,
    from_record: impl FnOnce(&[u8]) -> Result<T, DecodeError>,
    visit: &mut dyn FnMut(MortonKey, Result<T, DecodeError>) -> ControlFlow<()>,
) -> Result<ControlFlow<()>, StoreError> {
    if let Some(Ok(Some(v))) = stored.map(from_stored) {
        return Ok(visit(key, Ok(v)));
    }
    Ok(match record()? {
        Some(r) => visit(key, from_record(&r)),
        None => ControlFlow::Continue(()),
    })
}

/// Every key.
pub fn full_range() -> RangeInclusive<MortonKey> {
    MortonKey(0)..=MortonKey(u128::MAX)
}

impl<S: ChunkStore + ?Sized> ChunkStore for std::sync::Arc<S> {
    fn world_id(&self) -> WorldId {
        (**self).world_id()
    }
    fn home(&self, key: MortonKey) -> RecordHome {
        (**self).home(key)
    }
    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get_record(key)
    }
    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        (**self).scan(range, visit)
    }
    fn scan_summaries(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut SummaryVisitor<'_>,
    ) -> Result<(), StoreError> {
        (**self).scan_summaries(range, visit)
    }
    fn scan_chunk_cells(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut ChunkCellVisitor<'_>,
    ) -> Result<(), StoreError> {
        (**self).scan_chunk_cells(range, visit)
    }
    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        (**self).commit(batch)
    }
    fn sync_count(&self) -> Option<u64> {
        (**self).sync_count()
    }
    fn change_log_end(&self) -> Result<Option<LogPosition>, StoreError> {
        (**self).change_log_end()
    }
    fn read_change_log(&self, from: &LogPosition, limit: usize) -> Result<LogRead, StoreError> {
        (**self).read_change_log(from, limit)
    }
    fn get(&self, key: ChunkKey) -> Result<Option<Chunk>, StoreError> {
        (**self).get(key)
    }
    fn get_many(&self, keys: &[ChunkKey]) -> Result<Vec<Option<Chunk>>, StoreError> {
        (**self).get_many(keys)
    }
    fn get_records(&self, keys: &[MortonKey]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        (**self).get_records(keys)
    }
    fn stats(&self) -> Result<StoreStats, StoreError> {
        (**self).stats()
    }
    fn get_with_history(&self, key: ChunkKey) -> Result<Option<(Chunk, ProcessHistory)>, StoreError> {
        (**self).get_with_history(key)
    }
    fn get_stored(&self, key: ChunkKey) -> Result<Option<StoredChunk>, StoreError> {
        (**self).get_stored(key)
    }
}

pub mod contract {
    //! The contract every [`ChunkStore`] must keep, as a test: call [`run`] from your store's
    //! tests with an empty store (it panics, like `assert!`, on the first broken promise).
    use super::*;
    use crate::chunk::DenseChunk;

    /// A dense test chunk: material `seed` in the layers below `y = seed % 32`, air above.
    pub fn dense(seed: u16) -> Chunk {
        Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(if (p.y as u16) < seed % 32 { seed } else { 0 })))
    }

    /// Runs the contract against `store`, which must start empty: puts and deletes in one
    /// batch, later entries winning, scans in Morton order within their range, stats, a corrupt
    /// record read as a typed error, summaries and chunk cells of every stored chunk.
    ///
    /// # Panics
    /// On the first promise the store breaks.
    pub fn run(store: &dyn ChunkStore) {
        let a = ChunkKey::new(0, 0, 0);
        let b = ChunkKey::new(-1, 2, -3);
        let c = ChunkKey::new(1, 0, 0);
        assert_eq!(store.get(a).unwrap(), None);

        let mut batch = WriteBatch::new();
        batch.put(a, &dense(5));
        batch.put(b, &Chunk::Uniform(MaterialId(4)));
        batch.put(c, &dense(9));
        let r = store.commit(&batch).unwrap();
        assert_eq!(r.entries, 3);
        assert_eq!(store.get(a).unwrap(), Some(dense(5)));
        assert_eq!(store.get(b).unwrap(), Some(Chunk::Uniform(MaterialId(4))));
        assert_eq!(store.get_many(&[c, ChunkKey::new(7, 7, 7)]).unwrap(), vec![Some(dense(9)), None]);

        // Later entries win; deletes remove.
        batch.clear();
        batch.put(a, &dense(6));
        batch.put(a, &dense(7));
        batch.delete(c);
        store.commit(&batch).unwrap();
        assert_eq!(store.get(a).unwrap(), Some(dense(7)));
        assert_eq!(store.get(c).unwrap(), None);

        // Scans are in Morton order and respect ranges.
        let mut seen = Vec::new();
        store
            .scan(full_range(), &mut |k, _| {
                seen.push(k);
                ControlFlow::Continue(())
            })
            .unwrap();
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        assert_eq!(seen.len(), 2);
        let only_a = MortonKey::region_range(a, 0);
        let mut n = 0;
        store
            .scan(only_a, &mut |k, _| {
                assert_eq!(k, a.morton());
                n += 1;
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(n, 1);

        let s = store.stats().unwrap();
        assert_eq!((s.records, s.uniform_records), (2, 1));

        // A corrupt record is a typed error on read, never a panic.
        batch.clear();
        batch.put_record(c.morton(), b"STRCgarbage");
        store.commit(&batch).unwrap();
        assert!(matches!(store.get(c), Err(StoreError::Corrupt { key, .. }) if key == c));
        assert!(matches!(store.get_many(&[a, c]), Err(StoreError::Corrupt { key, .. }) if key == c));
        // Batched record reads: each key's bytes as `get_record` gives them, in order (the
        // corrupt one too: callers decode), none for a key without a record.
        let keys = [c.morton(), ChunkKey::new(7, 7, 7).morton(), b.morton(), a.morton()];
        let one_by_one: Vec<Option<Vec<u8>>> = keys.iter().map(|k| store.get_record(*k).unwrap()).collect();
        assert_eq!(one_by_one[1], None);
        assert!(one_by_one.iter().filter(|r| r.is_some()).count() == 3);
        assert_eq!(store.get_records(&keys).unwrap(), one_by_one);
        assert_eq!(store.get_records(&[]).unwrap(), Vec::<Option<Vec<u8>>>::new());

        // Summaries: one per stored chunk in key order, each what summarising the chunk gives;
        // the record that does not decode is reported with its error.
        let mut sums = Vec::new();
        store
            .scan_summaries(full_range(), &mut |k, s| {
                sums.push((k, s));
                ControlFlow::Continue(())
            })
            .unwrap();
        let mut want = vec![
            (a.morton(), Ok(StoredSummary::of(&dense(7), ProcessHistory::EMPTY, Up::PosY))),
            (b.morton(), Ok(StoredSummary::of(&Chunk::Uniform(MaterialId(4)), ProcessHistory::EMPTY, Up::PosY))),
        ];
        want.sort_by_key(|(k, _)| *k);
        let corrupt: Vec<_> = sums.iter().filter(|(_, s)| s.is_err()).map(|(k, _)| *k).collect();
        assert_eq!(corrupt, vec![c.morton()]);
        sums.retain(|(_, s)| s.is_ok());
        assert_eq!(sums, want);
        let mut n = 0;
        store
            .scan_summaries(MortonKey::region_range(b, 0), &mut |k, _| {
                assert_eq!(k, b.morton());
                n += 1;
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(n, 1);

        // Chunk cells: the same chunks, each the summary's chunk cell (the cell the chunk
        // downsamples to, counted here from the chunk itself); the corrupt record reported.
        let mut cells = Vec::new();
        store
            .scan_chunk_cells(full_range(), &mut |k, c| {
                cells.push((k, c));
                ControlFlow::Continue(())
            })
            .unwrap();
        let corrupt: Vec<_> = cells.iter().filter(|(_, c)| c.is_err()).map(|(k, _)| *k).collect();
        assert_eq!(corrupt, vec![c.morton()]);
        cells.retain(|(_, c)| c.is_ok());
        let cell = |c: &Chunk| StoredSummary::of(c, ProcessHistory::EMPTY, Up::PosY).stored_cell();
        let mut want =
            vec![(a.morton(), Ok(cell(&dense(7)))), (b.morton(), Ok(StoredCell { cell: MaterialId(4), up: Up::PosY }))];
        want.sort_by_key(|(k, _)| *k);
        assert_eq!(cells, want);
        batch.clear();
        batch.put(a, &dense(20));
        store.commit(&batch).unwrap();
        let mut n = 0;
        store
            .scan_chunk_cells(MortonKey::region_range(a, 0), &mut |k, c| {
                assert_eq!((k, c), (a.morton(), Ok(cell(&dense(20)))), "the cell of the chunk now stored");
                n += 1;
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(n, 1);

        sealing(store);
        invalid_keys(store);
        conditional_puts(store);
        summaries_keep_their_up(store);
    }

    /// A batch for a world whose up is not `+Y` writes each summary with its chunk's up, and
    /// the store hands it back as written (cells, chunk cell and up).
    fn summaries_keep_their_up(store: &dyn ChunkStore) {
        let planet = WorldUp::AwayFrom { centre: [0, 0, 0] };
        let k = ChunkKey::new(-90, 5, 12); // far along −X from the centre
        assert_eq!(planet.of_chunk(k), Up::NegX);
        // Grass (3) on the −X face of stone (1): a +Y summary would see the majority.
        let side = Chunk::Dense(DenseChunk::from_fn(|p| {
            MaterialId(match p.x {
                0 => 3,
                1..16 => 1,
                _ => 0,
            })
        }));
        let mut batch = WriteBatch::for_world(planet);
        batch.put(k, &side);
        store.commit(&batch).unwrap();
        let mut got = Vec::new();
        store
            .scan_summaries(MortonKey::region_range(k, 0), &mut |_, s| {
                got.push(s);
                ControlFlow::Continue(())
            })
            .unwrap();
        let want = StoredSummary::of(&side, ProcessHistory::EMPTY, Up::NegX);
        assert_eq!(want.chunk_cell(), MaterialId(3));
        assert_eq!(got, vec![Ok(want.clone())]);
        let mut cells = Vec::new();
        store
            .scan_chunk_cells(MortonKey::region_range(k, 0), &mut |_, c| {
                cells.push(c);
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(cells, vec![Ok(want.stored_cell())]);
    }

    /// Conditional puts commit only while the stored record is the expected one; a failed
    /// condition is a `Conflict` naming the key. Of the rest of the batch, an atomic store wrote
    /// nothing (`written: None`); a distributed one (atomic per region) may have written every
    /// other entry, durably, with the sequence number it reports (`written: Some`). Receipts and
    /// stored records carry the commit's sequence number.
    fn conditional_puts(store: &dyn ChunkStore) {
        let k = ChunkKey::new(40, -3, 7);
        let history = ProcessHistory::EMPTY;
        let mut batch = WriteBatch::new();
        batch.put_if(k, &dense(1), &history, Expect::Absent);
        let first = store.commit(&batch).unwrap();
        let stored = store.get_stored(k).unwrap().unwrap();
        assert_eq!((stored.chunk, stored.sequence), (dense(1), first.sequence));
        let wrongs = [Expect::Absent, Expect::Sequence(first.sequence + 1), Expect::Sequence(first.sequence - 1)];
        for (i, wrong) in wrongs.into_iter().enumerate() {
            // A key far from `k` (in another region of any distributed store) and one next to
            // it (in the same region of any store with regions of 2³ chunks or more).
            let other = ChunkKey::new(-300 - 100 * i as i32, 3, 7);
            let near = ChunkKey::new(40 + i as i32, -3, 6);
            let mut batch = WriteBatch::new();
            batch.put(other, &dense(3));
            batch.put(near, &dense(6));
            batch.put_if(k, &dense(2), &history, wrong);
            let Err(StoreError::Conflict { keys, written, sequence }) = store.commit(&batch) else {
                panic!("{wrong:?}: not a conflict")
            };
            assert_eq!(keys, vec![k], "{wrong:?}");
            // Exactly the entries listed as written were written, with the reported sequence.
            for (key, chunk) in [(other, dense(3)), (near, dense(6))] {
                match store.get_stored(key).unwrap() {
                    Some(s) => {
                        assert!(written.contains(&key), "{wrong:?}: {key:?} written but not listed");
                        assert_eq!((s.chunk, s.sequence), (chunk, sequence), "{wrong:?}");
                    }
                    None => assert!(!written.contains(&key), "{wrong:?}: {key:?} listed but not written"),
                }
            }
            assert!(written.iter().all(|w| [other, near].contains(w)), "{wrong:?}: {written:?}");
            assert_eq!(store.get(k).unwrap(), Some(dense(1)), "{wrong:?}: not overwritten");
        }
        let other = ChunkKey::new(41, -3, 7);
        let mut batch = WriteBatch::new();
        batch.put_if(k, &dense(4), &history, Expect::Sequence(first.sequence));
        batch.put_if(other, &dense(5), &history, Expect::Absent);
        let second = store.commit(&batch).unwrap();
        assert!(second.sequence > first.sequence);
        assert_eq!(store.get_stored(k).unwrap().unwrap().sequence, second.sequence);
        assert_eq!(store.get(other).unwrap(), Some(dense(5)));
        batch.clear();
        assert!(batch.conditions().is_empty(), "clear forgets the conditions");
    }

    /// A key outside the valid range would alias another chunk's Morton key (x = MAX + 1 wraps
    /// to x = MIN): refused on read and on commit, and a batch naming one writes nothing.
    fn invalid_keys(store: &dyn ChunkStore) {
        use crate::{CHUNK_COORD_MAX, CHUNK_COORD_MIN};
        let bad = ChunkKey::new(CHUNK_COORD_MAX + 1, 0, 0);
        let alias = ChunkKey::new(CHUNK_COORD_MIN, 0, 0);
        assert_eq!(bad.morton(), alias.morton(), "the key this test guards against aliases");
        let good = ChunkKey::new(5, 5, 5);
        let is_bad = |r: &StoreError| matches!(r, StoreError::InvalidKey { key } if *key == bad);
        let mut batch = WriteBatch::new();
        batch.put(good, &dense(3));
        batch.put(bad, &dense(4));
        assert!(is_bad(&store.commit(&batch).unwrap_err()));
        batch.clear();
        batch.delete(bad);
        assert!(is_bad(&store.commit(&batch).unwrap_err()));
        assert_eq!(store.get(good).unwrap(), None, "nothing of a refused batch is written");
        assert_eq!(store.get(alias).unwrap(), None);
        assert!(is_bad(&store.get(bad).unwrap_err()));
        assert!(is_bad(&store.get_with_history(bad).unwrap_err()));
        assert!(is_bad(&store.get_many(&[good, bad]).unwrap_err()));
        batch.clear();
        batch.put(good, &dense(3));
        store.commit(&batch).unwrap();
        assert_eq!(store.get(good).unwrap(), Some(dense(3)), "a cleared batch accepts keys again");
    }

    /// Records are sealed for the store's world and numbered by commit; an intact record read
    /// under another key, or copied from another world, is misplaced.
    fn sealing(store: &dyn ChunkStore) {
        let (a, b, c) = (ChunkKey::new(3, 1, 4), ChunkKey::new(-1, -5, 9), ChunkKey::new(2, 6, -5));
        let header = |k: ChunkKey| codec::parse_record(&store.get_record(k.morton()).unwrap().unwrap()).unwrap().0;
        let mut batch = WriteBatch::new();
        batch.put(a, &dense(11));
        store.commit(&batch).unwrap();
        let first = header(a);
        assert_ne!(store.world_id(), WorldId::UNSEALED);
        assert_eq!(first.home, Some(store.home(a.morton())));
        batch.clear();
        batch.put(b, &Chunk::Uniform(MaterialId(2)));
        store.commit(&batch).unwrap();
        assert!(header(b).sequence > first.sequence, "{:?} then {:?}", first, header(b));
        assert_eq!(header(a), first, "a record not rewritten keeps its seal");

        // a's record stored under c.
        let moved = store.get_record(a.morton()).unwrap().unwrap();
        batch.clear();
        batch.put_record(c.morton(), &moved);
        store.commit(&batch).unwrap();
        let misplaced = |k: ChunkKey| match store.get(k) {
            Err(StoreError::Corrupt { key, source: DecodeError::Misplaced { stored_at, claims } }) => {
                key == k && stored_at == store.home(k.morton()) && claims.key == a.morton()
            }
            other => panic!("{other:?}"),
        };
        assert!(misplaced(c));
        // a's record as another world sealed it, stored under a.
        let mut foreign = Vec::new();
        codec::seal_into(&codec::encode(a.morton(), &dense(11)), WorldId(store.world_id().0 ^ 1), 1, &mut foreign);
        batch.clear();
        batch.put_record(a.morton(), &foreign);
        store.commit(&batch).unwrap();
        assert!(misplaced(a));
        let mut seen = Vec::new();
        store
            .scan_summaries(MortonKey::region_range(c, 0), &mut |k, s| {
                seen.push((k, s.is_ok()));
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(seen, vec![(c.morton(), false)], "a misplaced record has no summary either");
        batch.clear();
        batch.delete(a);
        batch.delete(b);
        batch.delete(c);
        store.commit(&batch).unwrap();
    }
}
