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
#[cfg(any(test, feature = "contract"))]
pub mod contract;
mod memory;
mod remapped;

pub use change_log::{LogPosition, LogRead};
pub use memory::MemoryStore;
pub use remapped::{RemappedStore, open_with_palette};

use crate::chunk::Chunk;
use crate::codec::{self, ChunkEncoder, DecodeError, RecordHome, WorldId};
use crate::coords::ChunkKey;
use crate::history::ProcessHistory;
use crate::morton::MortonKey;
use crate::palette::{Palette, PaletteError};
use crate::side::ChunkSide;
use crate::summary_record::{self, StoredCell, StoredSummary};
use crate::up::{Up, WorldUp};
use std::ops::{ControlFlow, Range, RangeInclusive};
use std::time::Duration;

/// Why a store's backend failed: [`StoreError::Backend`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The database or its client library reported an error, kept whole as the source (redb's
    /// errors, an injected test failure: [`StoreError::backend`]).
    #[error(transparent)]
    Database(Box<dyn std::error::Error + Send + Sync>),
    /// A server answered with an error reply: its node, code (Redis: `ERR`, `WRONGTYPE`…) and
    /// message.
    #[error("{node}: {code} {detail}")]
    Server {
        /// The node that answered.
        node: String,
        /// The reply's error code.
        code: String,
        /// The rest of the reply.
        detail: String,
    },
    /// A server answered a command with a reply that command never gives.
    #[error("unexpected {command} reply: {reply}")]
    UnexpectedReply {
        /// The command.
        command: &'static str,
        /// The reply (debug form) and where it came from.
        reply: String,
    },
    /// Stored bookkeeping that is not what the format says (a damaged or foreign value).
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was read.
        what: &'static str,
        /// What it held.
        detail: String,
    },
    /// The store's answers disagree with each other (a record that changed between a scan and
    /// its read, a batch read answering a different number of keys).
    #[error("inconsistent answers: {0}")]
    Inconsistent(String),
    /// A call panicked and was contained: what ran and the panic's message.
    #[error("{what} panicked: {message}")]
    Panicked {
        /// What ran.
        what: &'static str,
        /// The panic's message.
        message: String,
    },
    /// A broken invariant of this crate (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

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
    /// The underlying database or server failed (see [`BackendError`]; I/O on a local file is
    /// [`StoreError::Io`]).
    #[error("store backend error: {0}")]
    Backend(#[from] BackendError),
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
    /// The save's material palette and the registry do not fit together (a material the save
    /// holds was removed), or the stored palette is unreadable: nothing was read or written
    /// through it ([`crate::palette`]).
    #[error("material palette: {0}")]
    Palette(#[from] PaletteError),
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

impl StoreError {
    /// [`StoreError::Backend`] with a database error kept whole ([`BackendError::Database`]).
    pub fn backend(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Backend(BackendError::Database(e.into()))
    }
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
    codec::decode_full_at(bytes, home)
        .map(|d| StoredChunk { chunk: d.chunk, history: d.history, side: d.side, sequence: d.sequence })
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

    /// The up this batch downsamples summaries with ([`WriteBatch::for_world`]).
    pub fn up(&self) -> WorldUp {
        self.up
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
        self.put_full(key, chunk, history, &ChunkSide::new(), None);
    }

    /// Stores `chunk` at `key` with its process history and game data ([`ChunkSide`]: block
    /// data and entity records, in the same record, so the store commits them with the voxels
    /// in one transaction), on condition `expect` if given (see [`WriteBatch::put_if`]).
    pub fn put_full(
        &mut self,
        key: ChunkKey,
        chunk: &Chunk,
        history: &ProcessHistory,
        side: &ChunkSide,
        expect: Option<Expect>,
    ) {
        if !self.accepts(key) {
            return;
        }
        if let Some(expect) = expect {
            self.conditions.push((key.morton(), expect));
        }
        let start = self.data.len();
        self.encoder.encode_full(key.morton(), chunk, history, side, &mut self.data);
        let s = self.summaries.len();
        StoredSummary::of(chunk, *history, self.up.of_chunk(key)).encode(key.morton(), &mut self.summaries);
        self.entries
            .push((key.morton(), Some(PutRanges { record: start..self.data.len(), summary: s..self.summaries.len() })));
    }

    /// [`WriteBatch::put_with_history`] on condition: the store commits the batch only if the
    /// record at `key` is still the one `expect` describes (else [`StoreError::Conflict`]).
    pub fn put_if(&mut self, key: ChunkKey, chunk: &Chunk, history: &ProcessHistory, expect: Expect) {
        self.put_full(key, chunk, history, &ChunkSide::new(), Some(expect));
    }

    /// Adds a condition as [`WriteBatch::put_if`] does (for a batch rebuilt from another).
    pub(crate) fn push_condition(&mut self, key: MortonKey, expect: Expect) {
        self.conditions.push((key, expect));
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
    /// Its game data: block data and entity records (empty for records before version 4).
    pub side: ChunkSide,
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

    /// The material palette the save records ([`crate::palette`]): what each id its records
    /// hold means, by name. `None`: no palette yet (a new save, one written before palettes, or
    /// a store that keeps none: the default).
    fn palette(&self) -> Result<Option<Palette>, StoreError> {
        Ok(None)
    }

    /// A named value of the game's kept in the save beside the chunks (a player's position, an
    /// inventory, the time of day), if set: world-level data, not tied to a chunk. Stores that
    /// keep none (the default) have none.
    fn game_data(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let _ = name;
        Ok(None)
    }

    /// Sets the game's value `name` durably (`None` removes it). Names are at most
    /// [`MAX_GAME_DATA_NAME`] bytes and values at most [`MAX_GAME_DATA_LEN`]
    /// ([`StoreError::InvalidConfig`] beyond). The default keeps nothing:
    /// [`StoreError::InvalidConfig`].
    fn set_game_data(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        let _ = value;
        Err(StoreError::InvalidConfig(format!("this store keeps no game data (setting {name:?})")))
    }

    /// Records `new` as the save's palette, durably, if the recorded one is still `expected`
    /// (`None`: none yet); `Ok(false)` when another writer recorded another one first (read it
    /// again and reconcile again). The default keeps nothing and reports success.
    fn swap_palette(&self, expected: Option<&Palette>, new: &Palette) -> Result<bool, StoreError> {
        let _ = (expected, new);
        Ok(true)
    }
}

/// The longest name of a game value ([`ChunkStore::set_game_data`]), in bytes.
pub const MAX_GAME_DATA_NAME: usize = 256;
/// The largest game value ([`ChunkStore::set_game_data`]), in bytes: world-level data is
/// small (a position, an inventory), not a second chunk store.
pub const MAX_GAME_DATA_LEN: usize = 1 << 20;

/// [`StoreError::InvalidConfig`] for a game value whose name or size is out of bounds.
pub fn check_game_data(name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > MAX_GAME_DATA_NAME {
        return Err(StoreError::InvalidConfig(format!(
            "game data names are 1 to {MAX_GAME_DATA_NAME} bytes ({} given)",
            name.len()
        )));
    }
    if value.is_some_and(|v| v.len() > MAX_GAME_DATA_LEN) {
        return Err(StoreError::InvalidConfig(format!("game value {name:?} is larger than {MAX_GAME_DATA_LEN} bytes")));
    }
    Ok(())
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
    fn palette(&self) -> Result<Option<Palette>, StoreError> {
        (**self).palette()
    }
    fn game_data(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).game_data(name)
    }
    fn set_game_data(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        (**self).set_game_data(name, value)
    }
    fn swap_palette(&self, expected: Option<&Palette>, new: &Palette) -> Result<bool, StoreError> {
        (**self).swap_palette(expected, new)
    }
}
