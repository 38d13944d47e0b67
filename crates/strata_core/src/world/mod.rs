//! The hybrid world: generator baseline + edited chunks in a store + a decompressed cache, with
//! a delta log for edits and a change feed for indices and meshers.
//!
//! # Data flow
//! ```text
//! EditSender::send ──(O(1) append)──▶ delta log ──World::apply──▶ resident chunks (dirty)
//!                                                      │                 │
//!                                                      ▼                 ▼ World::commit
//!                                          change feed (ChunkChange)   one store transaction
//! reads: cache ──miss──▶ store ──miss──▶ generator                (durable on return)
//! ```
//! Reads see applied edits only; call [`World::apply`] to fold the log in.

mod cover;

use crate::cache::ChunkCache;
use crate::chunk::Chunk;
use crate::coords::{CHUNK_SIZE, ChunkKey, LocalPos, VoxelPos};
use crate::edit::{ChunkBounds, Edit, EditError, EditLog, EditSender, ProcessBatch};
use crate::generator::WorldGenerator;
use crate::history::ProcessHistory;
use crate::material::MaterialId;
use crate::store::{ChunkStore, CommitReceipt, Expect, StoreError, WriteBatch};
use cover::{Cover, Sphere};
use crossbeam_channel::{Receiver, Sender};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Settings of a [`World`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorldConfig {
    /// Byte budget of the decompressed chunk cache (dirty chunks may exceed it until committed).
    pub cache_bytes: usize,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self { cache_bytes: 256 << 20 }
    }
}

/// How [`World::apply`] and [`World::prepare_commit`] reach chunks an edit needs that are not
/// resident.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum EditLoading {
    /// They load them on the calling thread (a store read, or the generator): simple, and
    /// what a tool or a test wants. On a networked store that is a round trip per chunk, and
    /// during an outage a wait of up to the store's operation timeout.
    #[default]
    Blocking,
    /// They never read the store or run the generator: an edit that needs a chunk that is not
    /// resident waits — held back in order with every later edit that may write the same
    /// chunks, as after a load error — and the chunk is listed by [`World::awaited_chunks`].
    /// Load it elsewhere ([`ChunkSource::load`] on a worker thread) and hand it in with
    /// [`World::insert_loaded`]; the next apply applies the edit. Before it waits, an edit
    /// writes nothing, so it is never half applied. Chunks a fill covers whole are replaced
    /// without being read, so they are never awaited. What a game loop wants: no frame waits
    /// for I/O. ([`World::commit`] and the reads [`World::chunk`] / [`World::voxel`] still load:
    /// they are blocking calls by nature.)
    Deferred,
}

/// Where a loaded chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkOrigin {
    /// An edited chunk read from the store.
    Store,
    /// Made by the generator (nobody edited it).
    Generator,
}

/// A chunk read by [`ChunkSource::load`].
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedChunk {
    /// The voxels.
    pub chunk: Arc<Chunk>,
    /// The processes that changed it (empty for generated chunks).
    pub history: ProcessHistory,
    /// Where it came from.
    pub origin: ChunkOrigin,
    /// The sequence number of the store commit that wrote it (0 for generated chunks): what
    /// [`World::insert_loaded`] compares with the world's own commits to refuse stale copies.
    pub sequence: u64,
}

impl LoadedChunk {
    /// What the store holds for this chunk, as the condition of a later put of it.
    pub fn expect(&self) -> Expect {
        match self.origin {
            ChunkOrigin::Store => Expect::Sequence(self.sequence),
            ChunkOrigin::Generator => Expect::Absent,
        }
    }
}

/// What [`World::insert_loaded`] did with a chunk loaded elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandIn {
    /// It is resident now.
    Inserted,
    /// The world already holds the chunk (its copy is at least as new); nothing changed.
    Resident,
    /// The copy is older than one this world committed (see [`World::is_stale`]): the load
    /// started before the commit, or read a lagging replica. Nothing changed; load it again.
    Stale,
    /// The key lies outside the valid range; nothing changed.
    InvalidKey,
}

/// The read path without the cache: store, then generator. Cheap to clone and `Send + Sync`,
/// so loads can run on worker threads and be handed back with [`World::insert_loaded`].
#[derive(Clone)]
pub struct ChunkSource {
    store: Arc<dyn ChunkStore>,
    generator: Arc<dyn WorldGenerator>,
}

impl ChunkSource {
    /// Loads `key`: the stored chunk if edited, else the generator's.
    /// [`StoreError::InvalidKey`] for a key outside the valid range.
    pub fn load(&self, key: ChunkKey) -> Result<LoadedChunk, StoreError> {
        crate::store::checked_morton(key)?;
        match self.store.get_stored(key)? {
            Some(s) => Ok(LoadedChunk {
                chunk: Arc::new(s.chunk),
                history: s.history,
                origin: ChunkOrigin::Store,
                sequence: s.sequence,
            }),
            None => Ok(LoadedChunk {
                chunk: Arc::new(self.generator.generate(key)),
                history: ProcessHistory::EMPTY,
                origin: ChunkOrigin::Generator,
                sequence: 0,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ChunkStore> {
        &self.store
    }

    /// The generator.
    pub fn generator(&self) -> &Arc<dyn WorldGenerator> {
        &self.generator
    }
}

/// One entry of the change feed: `key` changed; `chunk` is its content as of `version`.
#[derive(Clone, Debug)]
pub struct ChunkChange {
    /// The chunk.
    pub key: ChunkKey,
    /// World version of the apply that changed it (strictly increasing across applies).
    pub version: u64,
    /// An immutable snapshot of the new content.
    pub chunk: Arc<Chunk>,
    /// The processes that have changed it, this one included.
    pub history: ProcessHistory,
}

/// What one [`World::apply`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Log entries applied.
    pub edits: usize,
    /// Voxel writes performed.
    pub voxels: u64,
    /// Chunks changed (each listed once).
    pub chunks: usize,
    /// The world version after the apply.
    pub version: u64,
    /// [`Edit::Process`] batches dropped because a voxel they write changed since their
    /// snapshot (see [`ProcessBatch`]).
    pub rejected_batches: usize,
    /// Edits dropped because they exceed the limits of [`Edit::check`] (e.g. a box wider than
    /// [`MAX_EDIT_EXTENT`](crate::MAX_EDIT_EXTENT)) — only possible through an [`EditSender`].
    pub rejected_edits: usize,
    /// Edits held back for the next apply: their chunk could not be loaded, or is not resident
    /// yet ([`EditLoading::Deferred`]), or they come after such an edit and may write the same
    /// chunks (see [`World::apply`]).
    pub held_edits: usize,
    /// Chunks the held edits wait for ([`EditLoading::Deferred`]): listed by
    /// [`World::awaited_chunks`].
    pub awaited_chunks: usize,
}

/// Dirty chunks captured for a commit; write them with [`PreparedCommit::execute`] (any thread),
/// then hand the result to [`World::finish_commit`].
///
/// A world has at most one prepared commit at a time ([`World::prepare_commit`] refuses a
/// second while one exists), so commits reach the store in the order they were prepared: a
/// later commit can never be overwritten by an earlier one that landed after it.
pub struct PreparedCommit {
    chunks: Vec<CommitChunk>,
    /// For chunks another writer's record has to be merged with and that record is absent.
    generator: Arc<dyn WorldGenerator>,
    /// What [`PreparedCommit::execute`] learnt beyond its receipt.
    outcome: std::sync::Mutex<ExecuteOutcome>,
    /// The world version whose edits this commit makes durable.
    version: u64,
    /// Edits held back when it was prepared (their chunk could not be loaded).
    held_edits: usize,
    /// Alive while this commit exists; the world holds a weak reference.
    _outstanding: Arc<()>,
}

/// One chunk of a [`PreparedCommit`].
#[derive(Clone)]
struct CommitChunk {
    key: ChunkKey,
    chunk: Arc<Chunk>,
    /// The entry's version when prepared.
    version: u64,
    history: ProcessHistory,
    /// The store's copy as the world knows it, and the condition of the put.
    base: Arc<Chunk>,
    expect: Option<Expect>,
}

/// What [`PreparedCommit::execute`] did beyond its receipt.
#[derive(Default)]
struct ExecuteOutcome {
    /// Chunks merged with another writer's record, by key.
    merged: FxHashMap<ChunkKey, Merged>,
    /// Chunks written by an attempt that a conflict elsewhere did not stop (a distributed
    /// store writes per region), with that attempt's sequence number.
    written: FxHashMap<ChunkKey, u64>,
}

/// A chunk [`PreparedCommit::execute`] merged with another writer's record.
struct Merged {
    /// What was committed: the other writer's voxels where this world did not change them.
    chunk: Arc<Chunk>,
    history: ProcessHistory,
}

/// How many times [`PreparedCommit::execute`] merges and retries after
/// [`StoreError::Conflict`] before returning it (each retry means another writer committed the
/// same chunk in between). Retries back off (1, 2, 4, … ≤ 64 ms, with jitter) so that two busy
/// writers of one chunk do not keep overtaking each other.
pub const MAX_COMMIT_RETRIES: usize = 16;

/// The pause before conflict retry `attempt` (1-based): 2^(attempt-1) ms capped at 64 ms, plus
/// up to as much again of jitter (from the clock: writers in other processes differ).
fn conflict_backoff(attempt: usize) -> Duration {
    let base = 1u64 << (attempt.saturating_sub(1)).min(6);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let jitter = u64::from(nanos) % (base * 1000 + 1);
    Duration::from_micros(base * 1000 + jitter)
}

/// The three-way merge of one chunk, per voxel: this world's voxel where it differs from
/// `base` (the copy both writers started from), else the other writer's (`theirs`).
///
/// # Runtime
/// O(32³).
pub fn merge_voxels(base: &Chunk, ours: &Chunk, theirs: &Chunk) -> Chunk {
    if let (Some(b), Some(o)) = (base.as_uniform(), ours.as_uniform())
        && b == o
    {
        return theirs.clone();
    }
    let mut merged = crate::chunk::DenseChunk::filled(MaterialId::AIR);
    for (i, out) in merged.as_mut_slice().iter_mut().enumerate() {
        let index = crate::coords::LocalIndex::new(i as u16);
        let mine = ours.get(index);
        *out = if mine != base.get(index) { mine.0 } else { theirs.get(index).0 };
    }
    let mut chunk = Chunk::Dense(merged);
    chunk.normalize();
    chunk
}

impl PreparedCommit {
    /// The world version this commit covers: once it succeeds, every edit applied at or before
    /// this version is durable (except edits held back by a load error, see [`World::apply`]).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Edits held back when this commit was prepared because their chunk could not be loaded
    /// (see [`World::apply`]): not covered by it; they stay queued for a later commit.
    pub fn held_edits(&self) -> usize {
        self.held_edits
    }

    /// Chunks in this commit.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Encodes the chunks and commits them to `store` in one durable transaction, each put on
    /// condition that the store still holds the copy the world started from
    /// ([`WriteBatch::put_if`]). If another writer committed one of them since
    /// ([`StoreError::Conflict`]), its record is read, merged per voxel with this world's
    /// changes ([`merge_voxels`]) and the batch committed again, up to [`MAX_COMMIT_RETRIES`]
    /// times; [`World::finish_commit`] then installs the merged chunks. So no writer's
    /// acknowledged edits are overwritten by another's.
    pub fn execute(&self, store: &dyn ChunkStore) -> Result<CommitReceipt, StoreError> {
        let mut outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        // Per chunk: what to write and on which condition (changed by merges).
        let mut current = self.chunks.clone();
        // The chunks not written yet.
        let mut remaining: Vec<usize> = (0..self.chunks.len()).collect();
        let mut bytes = 0;
        let mut attempt = 0;
        loop {
            let mut batch = WriteBatch::new();
            for c in remaining.iter().map(|&i| &current[i]) {
                match c.expect {
                    Some(expect) => batch.put_if(c.key, &c.chunk, &c.history, expect),
                    None => batch.put_with_history(c.key, &c.chunk, &c.history),
                }
            }
            let (keys, written) = match store.commit(&batch) {
                Ok(mut receipt) => {
                    receipt.entries = self.chunks.len();
                    receipt.bytes += bytes;
                    return Ok(receipt);
                }
                Err(StoreError::Conflict { keys, written }) if attempt < MAX_COMMIT_RETRIES => (keys, written),
                Err(e) => return Err(e),
            };
            attempt += 1;
            std::thread::sleep(conflict_backoff(attempt));
            if let Some(sequence) = written {
                // The store wrote every other entry: only the conflicting ones are retried.
                bytes += batch.encoded_bytes();
                remaining.retain(|&i| {
                    let conflicted = keys.contains(&self.chunks[i].key);
                    if !conflicted {
                        outcome.written.insert(self.chunks[i].key, sequence);
                    }
                    conflicted
                });
            }
            for key in keys {
                let Some(i) = self.chunks.iter().position(|c| c.key == key) else { continue };
                let (theirs, expect, their_history) = match store.get_stored(key)? {
                    Some(s) => (Arc::new(s.chunk), Expect::Sequence(s.sequence), s.history),
                    None => (Arc::new(self.generator.generate(key)), Expect::Absent, ProcessHistory::EMPTY),
                };
                let c = &mut current[i];
                let ours = Arc::new(merge_voxels(&c.base, &c.chunk, &theirs));
                c.history.merge(&their_history);
                c.chunk = ours.clone();
                c.expect = Some(expect);
                c.base = theirs;
                outcome.merged.insert(key, Merged { chunk: ours, history: c.history });
            }
        }
    }
}

/// What [`Edit::Process`] batches did since the world was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessTotals {
    /// Batches applied.
    pub batches: u64,
    /// Batches dropped by the conflict rule (see [`ProcessBatch`]).
    pub rejected: u64,
    /// Voxels written by applied batches.
    pub voxels: u64,
}

/// Counters and sizes of a world.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WorldStats {
    /// Chunks in the cache.
    pub resident_chunks: usize,
    /// Resident chunks stored uniform.
    pub resident_uniform: usize,
    /// Bytes of resident voxel data.
    pub resident_bytes: usize,
    /// The cache budget.
    pub cache_budget_bytes: usize,
    /// Cache lookups that hit.
    pub cache_hits: u64,
    /// Cache lookups that missed.
    pub cache_misses: u64,
    /// Chunks evicted.
    pub evictions: u64,
    /// Chunks loaded from the store.
    pub loaded_from_store: u64,
    /// Chunks made by the generator.
    pub generated: u64,
    /// Log entries waiting for [`World::apply`].
    pub pending_edits: usize,
    /// Chunks changed since their last durable commit.
    pub dirty_chunks: usize,
    /// The current world version.
    pub version: u64,
    /// Durable commits done.
    pub commits: u64,
    /// Duration of the last commit.
    pub last_commit: Option<Duration>,
    /// Process batches applied since the world was created.
    pub process_batches: u64,
    /// Process batches dropped by the conflict rule (see [`ProcessBatch`]).
    pub rejected_process_batches: u64,
    /// Voxels written by applied process batches.
    pub process_voxels: u64,
    /// Chunks written by the last commit.
    pub last_commit_chunks: usize,
}

impl WorldStats {
    /// Fraction of cache lookups that hit, in `0.0..=1.0` (1.0 before any lookup).
    pub fn cache_hit_rate(&self) -> f64 {
        let total = self.cache_hits + self.cache_misses;
        if total == 0 { 1.0 } else { self.cache_hits as f64 / total as f64 }
    }
}

/// The hybrid voxel world. See the module docs for the data flow.
///
/// One owner applies, reads and commits (`&mut self`); any thread may append edits through an
/// [`EditSender`].
pub struct World {
    source: ChunkSource,
    cache: ChunkCache,
    log: EditLog,
    /// Edits taken from the log whose application failed (a store read error); retried first.
    deferred: VecDeque<Edit>,
    version: u64,
    epoch: u64,
    touched: Vec<ChunkKey>,
    subscribers: Vec<Sender<ChunkChange>>,
    loaded_from_store: u64,
    generated: u64,
    commits: u64,
    last_commit: Option<Duration>,
    last_commit_chunks: usize,
    process_batches: u64,
    rejected_process_batches: u64,
    process_voxels: u64,
    scratch: GroupScratch,
    /// The sequence number of this world's last commit of each chunk it committed (see
    /// [`World::is_stale`]). O(chunks committed by this world) memory, 24 bytes each.
    committed: FxHashMap<ChunkKey, u64>,
    /// The prepared commit not yet finished or dropped, if any.
    outstanding: std::sync::Weak<()>,
    /// How applies reach chunks that are not resident.
    edit_loading: EditLoading,
    /// The chunks held edits wait for, as of the last apply ([`EditLoading::Deferred`]).
    awaited: FxHashSet<ChunkKey>,
}

/// Reusable buffers for grouping a batch of voxel writes by chunk (no allocation per apply in
/// steady state).
#[derive(Default)]
struct GroupScratch {
    keys: Vec<ChunkKey>,
    slot_of_key: FxHashMap<ChunkKey, u32>,
    slot_of_edit: Vec<u32>,
    starts: Vec<u32>,
    grouped: Vec<(u16, u16)>,
    /// The batch (address, length) `keys` and `slot_of_edit` were assigned for, if the next
    /// [`World::write_grouped`] may reuse them: set by the residency check of
    /// [`EditLoading::Deferred`] right before the batch is written, taken by that write.
    slots_of: Option<(usize, usize)>,
}

impl GroupScratch {
    fn id(edits: &[(VoxelPos, MaterialId)]) -> (usize, usize) {
        (edits.as_ptr() as usize, edits.len())
    }

    /// Assigns each write a chunk slot: `keys` = the distinct chunks in order of first write,
    /// `slot_of_edit[i]` = the slot of write i. O(n), a small-table lookup per run of writes in
    /// one chunk.
    fn assign_slots(&mut self, edits: &[(VoxelPos, MaterialId)]) {
        self.slots_of = None;
        self.keys.clear();
        self.slot_of_key.clear();
        self.slot_of_edit.clear();
        self.slot_of_edit.reserve(edits.len());
        let mut last: Option<(ChunkKey, u32)> = None;
        for (p, _) in edits {
            let key = p.chunk();
            let slot = match last {
                Some((k, s)) if k == key => s,
                _ => {
                    let next = self.keys.len() as u32;
                    let s = *self.slot_of_key.entry(key).or_insert(next);
                    if s == next {
                        self.keys.push(key);
                    }
                    last = Some((key, s));
                    s
                }
            };
            self.slot_of_edit.push(slot);
        }
    }
}

/// Batches shorter than this are applied directly, run by run.
const GROUP_THRESHOLD: usize = 256;

impl World {
    /// A world over `store` with `generator` as the baseline.
    pub fn new(store: Arc<dyn ChunkStore>, generator: Arc<dyn WorldGenerator>, config: WorldConfig) -> Self {
        Self {
            source: ChunkSource { store, generator },
            cache: ChunkCache::new(config.cache_bytes),
            log: EditLog::new(),
            deferred: VecDeque::new(),
            version: 0,
            epoch: 0,
            touched: Vec::new(),
            subscribers: Vec::new(),
            loaded_from_store: 0,
            generated: 0,
            commits: 0,
            last_commit: None,
            last_commit_chunks: 0,
            process_batches: 0,
            rejected_process_batches: 0,
            process_voxels: 0,
            scratch: GroupScratch::default(),
            committed: FxHashMap::default(),
            outstanding: std::sync::Weak::new(),
            edit_loading: EditLoading::Blocking,
            awaited: FxHashSet::default(),
        }
    }

    /// How [`World::apply`] and [`World::prepare_commit`] reach chunks that are not resident
    /// (default [`EditLoading::Blocking`]).
    pub fn set_edit_loading(&mut self, loading: EditLoading) {
        self.edit_loading = loading;
    }

    /// See [`World::set_edit_loading`].
    pub fn edit_loading(&self) -> EditLoading {
        self.edit_loading
    }

    /// The chunks that edits held back by the last apply wait for ([`EditLoading::Deferred`]):
    /// not resident then. Load each (off the calling thread) and hand it in with
    /// [`World::insert_loaded`]. Each key once, in no particular order. While listed, a chunk
    /// that becomes resident is not dropped by [`World::evict`].
    pub fn awaited_chunks(&self) -> impl ExactSizeIterator<Item = ChunkKey> + '_ {
        self.awaited.iter().copied()
    }

    /// The uncached read path, for loading on worker threads.
    pub fn source(&self) -> ChunkSource {
        self.source.clone()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ChunkStore> {
        &self.source.store
    }

    /// The generator.
    pub fn generator(&self) -> &Arc<dyn WorldGenerator> {
        &self.source.generator
    }

    /// A handle that appends edits from any thread.
    pub fn edit_sender(&self) -> EditSender {
        self.log.sender()
    }

    /// Appends one edit to the log (O(1)); applied by the next [`World::apply`].
    pub fn push_edit(&self, edit: Edit) {
        // The world owns the receiver, so the send cannot fail.
        let _ = self.log.sender().send(edit);
    }

    /// Appends a voxel write.
    pub fn set_voxel(&self, pos: VoxelPos, material: MaterialId) {
        self.push_edit(Edit::Set(pos, material));
    }

    /// Appends many voxel writes as one log entry (the batch edit API).
    pub fn set_many(&self, edits: Vec<(VoxelPos, MaterialId)>) {
        self.push_edit(Edit::Many(edits));
    }

    /// Appends a box fill (inclusive corners). A box wider than [`MAX_EDIT_EXTENT`](crate::MAX_EDIT_EXTENT) voxels
    /// along an axis is refused ([`EditError::TooLarge`]) and nothing is appended.
    pub fn fill_box(&self, min: VoxelPos, max: VoxelPos, material: MaterialId) -> Result<(), EditError> {
        self.push_checked(Edit::FillBox { min, max, material })
    }

    /// Appends a sphere fill. A radius that is not finite and ≥ 0, or a sphere wider than
    /// [`MAX_EDIT_EXTENT`](crate::MAX_EDIT_EXTENT) voxels, is refused and nothing is appended.
    pub fn fill_sphere(&self, center: VoxelPos, radius: f32, material: MaterialId) -> Result<(), EditError> {
        self.push_checked(Edit::FillSphere { center, radius, material })
    }

    fn push_checked(&self, edit: Edit) -> Result<(), EditError> {
        edit.check()?;
        self.push_edit(edit);
        Ok(())
    }

    /// Subscribes to the change feed: every chunk changed by an apply, once per apply.
    pub fn subscribe(&mut self) -> Receiver<ChunkChange> {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.subscribers.push(tx);
        rx
    }

    /// The current version (incremented by every apply that changes something).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The chunk at `key`, loading it into the cache if needed (store, then generator).
    /// [`StoreError::InvalidKey`] for a key outside the valid range.
    pub fn chunk(&mut self, key: ChunkKey) -> Result<Arc<Chunk>, StoreError> {
        crate::store::checked_morton(key)?;
        self.ensure_resident(key)?;
        let chunk = self.cache.get(key).ok_or_else(|| unreachable_resident(key))?.chunk.clone();
        self.cache.evict_over_budget();
        Ok(chunk)
    }

    /// The chunk at `key` if it is resident, without loading or touching statistics.
    pub fn resident_chunk(&self, key: ChunkKey) -> Option<Arc<Chunk>> {
        self.cache.peek(&key).map(|e| e.chunk.clone())
    }

    /// Whether `key` is in the cache.
    pub fn is_resident(&self, key: ChunkKey) -> bool {
        self.cache.contains(&key)
    }

    /// The material at `pos` (applied state).
    pub fn voxel(&mut self, pos: VoxelPos) -> Result<MaterialId, StoreError> {
        let (key, local) = pos.split();
        Ok(self.chunk(key)?.get(local.index()))
    }

    /// Hands in a chunk loaded elsewhere (by [`ChunkSource::load`], on any thread). Refused,
    /// changing nothing, if `key` is already resident (the resident copy is at least as new),
    /// if the copy is stale ([`World::is_stale`]: older than this world's last commit of the
    /// chunk, e.g. a load that started before that commit and ended after the chunk was
    /// evicted, or a read from a lagging replica), or if `key` is outside the valid range.
    ///
    /// # Runtime
    /// O(1), plus an eviction pass if the cache is over budget.
    pub fn insert_loaded(&mut self, key: ChunkKey, loaded: LoadedChunk) -> HandIn {
        if !key.is_valid() {
            return HandIn::InvalidKey;
        }
        if self.cache.contains(&key) {
            return HandIn::Resident;
        }
        if self.is_stale(key, loaded.sequence) {
            return HandIn::Stale;
        }
        let expect = loaded.expect();
        let e = self.cache.insert(key, loaded.chunk, false, 0);
        (e.history, e.expect) = (loaded.history, Some(expect));
        self.cache.evict_over_budget();
        HandIn::Inserted
    }

    /// Whether a copy of `key` written by store commit `sequence` (0: none, the generator's
    /// chunk) is older than the last commit of `key` by this world — true only for chunks this
    /// world committed. O(1).
    ///
    /// Store sequence numbers increase from commit to commit (see
    /// [`CommitReceipt::sequence`]); with several processes writing one Redis world, a chunk
    /// another process rewrote with a lower sequence (its clock behind this one's) counts as
    /// stale here until this world commits the chunk again.
    pub fn is_stale(&self, key: ChunkKey, sequence: u64) -> bool {
        self.committed.get(&key).is_some_and(|&committed| sequence < committed)
    }

    /// The process history of `key` if it is resident.
    pub fn resident_history(&self, key: ChunkKey) -> Option<ProcessHistory> {
        self.cache.peek(&key).map(|e| e.history)
    }

    /// Drops `key` from the cache if it is clean and no held edit waits for it
    /// ([`World::awaited_chunks`]). Returns whether it was dropped.
    pub fn evict(&mut self, key: ChunkKey) -> bool {
        match self.cache.peek(&key) {
            Some(e) if !e.dirty && !self.awaited.contains(&key) => {
                if let Some(v) = &mut self.cache.evicted {
                    v.push(key);
                }
                self.cache.remove(&key).is_some()
            }
            _ => false,
        }
    }

    /// Starts recording which chunks leave the cache (LRU eviction or [`World::evict`]), for
    /// [`World::take_evicted`]: an index holding the same chunks releases them in turn.
    pub fn track_evictions(&mut self) {
        self.cache.evicted.get_or_insert_with(Vec::new);
    }

    /// The chunks evicted since the last call, in eviction order (empty unless
    /// [`World::track_evictions`] was called). A key may reappear later if it is loaded again.
    pub fn take_evicted(&mut self) -> Vec<ChunkKey> {
        self.cache.evicted.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The cache budget in bytes.
    pub fn cache_budget(&self) -> usize {
        self.cache.budget()
    }

    /// Bytes of voxel data in the cache (O(1); the same number as `stats().resident_bytes`).
    pub fn cache_bytes(&self) -> usize {
        self.cache.bytes()
    }

    /// Changes the cache budget (evicting clean chunks if now over it).
    pub fn set_cache_budget(&mut self, bytes: usize) {
        self.cache.set_budget(bytes);
        self.cache.evict_over_budget();
    }

    fn ensure_resident(&mut self, key: ChunkKey) -> Result<(), StoreError> {
        if self.cache.contains(&key) {
            self.cache.hits += 1;
            return Ok(());
        }
        self.cache.misses += 1;
        let loaded = self.source.load(key)?;
        if let Some(&committed) = self.committed.get(&key)
            && loaded.sequence < committed
        {
            return Err(StoreError::Stale { key, read: loaded.sequence, committed });
        }
        match loaded.origin {
            ChunkOrigin::Store => self.loaded_from_store += 1,
            ChunkOrigin::Generator => self.generated += 1,
        }
        let expect = loaded.expect();
        let e = self.cache.insert(key, loaded.chunk, false, 0);
        (e.history, e.expect) = (loaded.history, Some(expect));
        Ok(())
    }

    /// Applies every pending edit in log order, grouped by chunk: each chunk is looked up (and
    /// loaded, if not resident) once per run of edits that fall in it, then written in place.
    /// Changed chunks are collapsed to uniform when possible, marked dirty, given the new
    /// version and published on the change feed.
    ///
    /// If a chunk cannot be loaded (a store error: a corrupt record, an unreachable server),
    /// the edit that needs it and every later edit that may write one of the same chunks
    /// ([`Edit::chunk_bounds`] overlaps) are held back, in order, and retried first by the next
    /// apply; every other edit is applied and published. Returns the first load error when
    /// anything was held (see [`ApplyReport::held_edits`] through `prepare_commit`, which
    /// commits what was applied). Nothing is lost, and edits to one chunk never reorder.
    ///
    /// With [`EditLoading::Deferred`] it loads nothing: edits that need a chunk that is not
    /// resident are held back the same way (never an error) and the chunk is listed by
    /// [`World::awaited_chunks`].
    ///
    /// # Runtime
    /// O(voxels written + chunks touched × 32³) (the collapse check), plus the loads
    /// ([`EditLoading::Blocking`]) or one cache lookup per run of writes in one chunk
    /// ([`EditLoading::Deferred`]).
    pub fn apply(&mut self) -> Result<ApplyReport, StoreError> {
        let (report, error) = self.apply_all(self.edit_loading);
        error.map_or(Ok(report), Err)
    }

    /// Whether `edit` needs a chunk that is not resident (a chunk it writes, except those a
    /// fill replaces whole); adds each such chunk to `awaited`.
    ///
    /// # Runtime
    /// O(chunks touched) for fills, O(writes) for lists (one cache lookup per run of writes
    /// in one chunk).
    fn await_missing(&mut self, edit: &Edit, awaited: &mut FxHashSet<ChunkKey>) -> bool {
        if let Edit::Many(list) = edit
            && list.len() >= GROUP_THRESHOLD
        {
            // The grouping `write_grouped` needs anyway gives the distinct chunks: one cache
            // lookup per chunk, and the write reuses it.
            self.scratch.assign_slots(list);
            let mut missing = false;
            for key in &self.scratch.keys {
                if !self.cache.contains(key) {
                    missing = true;
                    awaited.insert(*key);
                }
            }
            if !missing {
                self.scratch.slots_of = Some(GroupScratch::id(list));
            }
            return missing;
        }
        let mut missing = false;
        let mut last = None;
        let mut need = |key: ChunkKey| {
            if last != Some(key) {
                last = Some(key);
                if !self.cache.contains(&key) {
                    missing = true;
                    awaited.insert(key);
                }
            }
        };
        match edit {
            Edit::Set(p, _) => need(p.chunk()),
            Edit::Many(list) => list.iter().for_each(|(p, _)| need(p.chunk())),
            Edit::Process(batch) => batch.writes.iter().for_each(|w| need(w.pos.chunk())),
            Edit::FillBox { min, max, .. } => {
                cover::box_chunks(*min, *max).filter(|(_, c)| *c == Cover::Part).for_each(|(k, _)| need(k));
            }
            Edit::FillSphere { center, radius, .. } => {
                if let Some(sphere) = Sphere::new(*center, *radius) {
                    sphere.chunks().filter(|(_, c)| *c == Cover::Part).for_each(|(k, _)| need(k));
                }
            }
        }
        missing
    }

    /// [`World::apply`]'s work: applies every edit that can be, and holds back (in order, at
    /// the front of the queue for the next apply) each edit whose chunk could not be loaded and
    /// every later edit that may write one of the same chunks — so one unreadable chunk stops
    /// only the edits that touch it. Returns the report and the first load error.
    fn apply_all(&mut self, loading: EditLoading) -> (ApplyReport, Option<StoreError>) {
        self.epoch += 1;
        let mut report = ApplyReport::default();
        self.deferred.extend(self.log.drain());
        let mut held = VecDeque::new();
        let mut blocked: Vec<ChunkBounds> = Vec::new();
        let mut error = None;
        let mut awaited = std::mem::take(&mut self.awaited);
        awaited.clear();
        while let Some(edit) = self.deferred.pop_front() {
            if edit.check().is_err() {
                // Out of limits (sent through an EditSender): never applied.
                report.rejected_edits += 1;
                continue;
            }
            let bounds = edit.chunk_bounds();
            // Behind a held edit that may write the same chunks: keep their order.
            let behind = bounds.is_some_and(|b| blocked.iter().any(|h| h.overlaps(&b)));
            // Deferred: its missing chunks are awaited (even behind another, so that every
            // load starts now), and it writes nothing before they are resident.
            let waits = loading == EditLoading::Deferred && self.await_missing(&edit, &mut awaited);
            if behind || waits {
                // Not written now: a grouping made by the check is not reused.
                self.scratch.slots_of = None;
                blocked.extend(bounds);
                held.push_back(edit);
                continue;
            }
            let outcome = match &edit {
                Edit::Process(batch) => self.apply_process(batch).map(|applied| {
                    report.rejected_batches += usize::from(applied.is_none());
                    applied.unwrap_or(0)
                }),
                other => self.apply_edit(other),
            };
            match outcome {
                Ok(n) => {
                    report.edits += 1;
                    report.voxels += n;
                }
                Err(e) => {
                    blocked.extend(bounds);
                    held.push_back(edit);
                    error.get_or_insert(e);
                }
            }
        }
        report.held_edits = held.len();
        report.awaited_chunks = awaited.len();
        self.awaited = awaited;
        self.deferred = held;
        report.chunks = self.touched.len();
        if !self.touched.is_empty() {
            self.version += 1;
        }
        self.publish_touched();
        report.version = self.version;
        self.cache.evict_over_budget();
        (report, error)
    }

    fn publish_touched(&mut self) {
        let version = self.version;
        for key in std::mem::take(&mut self.touched) {
            let Some(e) = self.cache.entry_mut(&key) else { continue };
            if let Some(c) = Arc::get_mut(&mut e.chunk) {
                c.normalize();
            } else {
                Arc::make_mut(&mut e.chunk).normalize();
            }
            e.dirty = true;
            e.version = version;
            let change = ChunkChange { key, version, chunk: e.chunk.clone(), history: e.history };
            self.subscribers.retain(|s| s.send(change.clone()).is_ok());
            self.cache.recount(&key);
        }
    }

    fn apply_edit(&mut self, edit: &Edit) -> Result<u64, StoreError> {
        match edit {
            Edit::Set(pos, m) => self.write_run(&[(*pos, *m)]),
            Edit::Many(list) if list.len() >= GROUP_THRESHOLD => self.write_grouped(list),
            Edit::Many(list) => self.write_run(list),
            Edit::FillBox { min, max, material } => self.fill_box_now(*min, *max, *material),
            Edit::FillSphere { center, radius, material } => self.fill_sphere_now(*center, *radius, *material),
            Edit::Process(batch) => Ok(self.apply_process(batch)?.unwrap_or(0)),
        }
    }

    /// Applies a process batch all or nothing (see [`ProcessBatch`]): loads every chunk it
    /// writes, checks every `expect`, then writes and stamps the chunks. Returns the voxels
    /// written, or `None` if the batch was rejected. A load error leaves nothing written (the
    /// batch is retried by the next apply).
    ///
    /// # Runtime
    /// O(writes + chunks written): two passes over the writes, runs of one chunk looked up once.
    fn apply_process(&mut self, batch: &ProcessBatch) -> Result<Option<u64>, StoreError> {
        let writes = &batch.writes;
        let mut i = 0;
        while i < writes.len() {
            let key = writes[i].pos.chunk();
            self.ensure_resident(key)?;
            let chunk = &self.cache.peek(&key).ok_or_else(|| unreachable_resident(key))?.chunk;
            while i < writes.len() && writes[i].pos.chunk() == key {
                if chunk.get(writes[i].pos.local().index()) != writes[i].expect {
                    self.rejected_process_batches += 1;
                    return Ok(None);
                }
                i += 1;
            }
        }
        let mut i = 0;
        while i < writes.len() {
            let key = writes[i].pos.chunk();
            let chunk = self.chunk_for_edit(key)?;
            while i < writes.len() && writes[i].pos.chunk() == key {
                chunk.set(writes[i].pos.local().index(), writes[i].material);
                i += 1;
            }
            if let Some(e) = self.cache.entry_mut(&key) {
                e.history.record(batch.stamp);
            }
        }
        self.process_batches += 1;
        self.process_voxels += writes.len() as u64;
        Ok(Some(writes.len() as u64))
    }

    /// Looks up (loading if needed) and marks as touched; returns the chunk to edit.
    fn chunk_for_edit(&mut self, key: ChunkKey) -> Result<&mut Chunk, StoreError> {
        self.ensure_resident(key)?;
        let epoch = self.epoch;
        let e = self.cache.get(key).ok_or_else(|| unreachable_resident(key))?;
        if e.touched_epoch != epoch {
            e.touched_epoch = epoch;
            self.touched.push(key);
        }
        Ok(Arc::make_mut(&mut e.chunk))
    }

    fn write_run(&mut self, edits: &[(VoxelPos, MaterialId)]) -> Result<u64, StoreError> {
        let mut i = 0;
        while i < edits.len() {
            let key = edits[i].0.chunk();
            let chunk = self.chunk_for_edit(key)?;
            let mut j = i;
            while j < edits.len() && edits[j].0.chunk() == key {
                chunk.set(edits[j].0.local().index(), edits[j].1);
                j += 1;
            }
            i = j;
        }
        Ok(edits.len() as u64)
    }

    /// Applies a large batch grouped by chunk: one pass assigns each write a chunk slot, a stable
    /// counting sort groups (local index, material) pairs by slot, then each chunk is looked up
    /// once and written with a tight loop. Stability keeps log order within a chunk, so later
    /// writes to the same voxel still win.
    ///
    /// # Runtime
    /// O(n + chunks): about one small-table lookup per write, none of them in the cache map.
    fn write_grouped(&mut self, edits: &[(VoxelPos, MaterialId)]) -> Result<u64, StoreError> {
        let mut sc = std::mem::take(&mut self.scratch);
        if sc.slots_of.take() != Some(GroupScratch::id(edits)) {
            sc.assign_slots(edits);
        }
        sc.starts.clear();
        sc.starts.resize(sc.keys.len() + 1, 0);
        for &s in &sc.slot_of_edit {
            sc.starts[s as usize + 1] += 1;
        }
        for i in 1..sc.starts.len() {
            sc.starts[i] += sc.starts[i - 1];
        }
        sc.grouped.clear();
        sc.grouped.resize(edits.len(), (0, 0));
        {
            // `starts[s]` doubles as the write cursor of slot s; afterwards `starts[s]` is the end
            // of slot s, i.e. the start of slot s + 1.
            let (starts, grouped) = (&mut sc.starts, &mut sc.grouped);
            for ((p, m), &s) in edits.iter().zip(&sc.slot_of_edit) {
                let c = &mut starts[s as usize];
                grouped[*c as usize] = (p.local().index().get() as u16, m.0);
                *c += 1;
            }
        }
        let mut result = Ok(edits.len() as u64);
        let mut begin = 0usize;
        for (slot, key) in sc.keys.iter().enumerate() {
            let end = sc.starts[slot] as usize;
            let writes = &sc.grouped[begin..end];
            begin = end;
            let chunk = match self.chunk_for_edit(*key) {
                Ok(c) => c,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            if let Chunk::Uniform(m) = *chunk
                && writes.iter().all(|&(_, v)| v == m.0)
            {
                continue;
            }
            let voxels = chunk.make_dense().as_mut_slice();
            for &(i, v) in writes {
                // Invariant: `i` came from `LocalIndex::get`, which is < CHUNK_VOLUME.
                voxels[i as usize & (crate::CHUNK_VOLUME - 1)] = v;
            }
        }
        self.scratch = sc;
        result
    }

    /// Replaces a whole chunk without loading it.
    fn replace_chunk(&mut self, key: ChunkKey, chunk: Chunk) {
        let epoch = self.epoch;
        let e = self.cache.insert(key, Arc::new(chunk), true, self.version);
        e.touched_epoch = epoch;
        self.touched.push(key);
    }

    fn fill_box_now(&mut self, min: VoxelPos, max: VoxelPos, m: MaterialId) -> Result<u64, StoreError> {
        let mut written = 0u64;
        for (key, cover) in cover::box_chunks(min, max) {
            if cover == Cover::Whole {
                self.replace_chunk(key, Chunk::Uniform(m));
                written += crate::CHUNK_VOLUME as u64;
                continue;
            }
            let (lo, hi) = (key.min_voxel(), key.max_voxel());
            let l = VoxelPos::new(min.x.max(lo.x), min.y.max(lo.y), min.z.max(lo.z));
            let h = VoxelPos::new(max.x.min(hi.x), max.y.min(hi.y), max.z.min(hi.z));
            let chunk = self.chunk_for_edit(key)?;
            let (lmin, lmax) = (l.local(), h.local());
            for z in lmin.z..=lmax.z {
                for y in lmin.y..=lmax.y {
                    for x in lmin.x..=lmax.x {
                        chunk.set(LocalPos::new(x, y, z).index(), m);
                    }
                }
            }
            written += (lmax.x - lmin.x + 1) as u64 * (lmax.y - lmin.y + 1) as u64 * (lmax.z - lmin.z + 1) as u64;
        }
        Ok(written)
    }

    fn fill_sphere_now(&mut self, center: VoxelPos, radius: f32, m: MaterialId) -> Result<u64, StoreError> {
        let Some(sphere) = Sphere::new(center, radius) else { return Ok(0) };
        let mut written = 0u64;
        for (key, cover) in sphere.chunks() {
            if cover == Cover::Whole {
                self.replace_chunk(key, Chunk::Uniform(m));
                written += crate::CHUNK_VOLUME as u64;
                continue;
            }
            let lo = key.min_voxel().to_array().map(i64::from);
            let chunk = self.chunk_for_edit(key)?;
            for z in 0..CHUNK_SIZE as i64 {
                for y in 0..CHUNK_SIZE as i64 {
                    for x in 0..CHUNK_SIZE as i64 {
                        if sphere.contains([lo[0] + x, lo[1] + y, lo[2] + z]) {
                            chunk.set(LocalPos::new(x as u8, y as u8, z as u8).index(), m);
                            written += 1;
                        }
                    }
                }
            }
        }
        Ok(written)
    }

    /// Applies pending edits, then captures every dirty chunk for a commit (cheap: reference
    /// counts, no encoding). Encoding and the durable write happen in
    /// [`PreparedCommit::execute`], which may run on another thread.
    ///
    /// [`StoreError::CommitInProgress`] while another [`PreparedCommit`] of this world exists
    /// (finish or drop it first): commits are sequenced, so they land in order.
    pub fn prepare_commit(&mut self) -> Result<PreparedCommit, StoreError> {
        if self.outstanding.strong_count() > 0 {
            return Err(StoreError::CommitInProgress);
        }
        // Edits held back by a load error (or waiting for a chunk, `EditLoading::Deferred`)
        // stay queued; everything else is committed (one unreadable chunk does not stop the
        // commit of the others).
        let (report, _) = self.apply_all(self.edit_loading);
        let mut chunks: Vec<CommitChunk> = self
            .cache
            .iter()
            .filter(|(_, e)| e.dirty)
            .map(|(k, e)| CommitChunk {
                key: *k,
                chunk: e.chunk.clone(),
                version: e.version,
                history: e.history,
                base: e.base.clone(),
                expect: e.expect,
            })
            .collect();
        chunks.sort_unstable_by_key(|c| c.key.morton());
        let outstanding = Arc::new(());
        self.outstanding = Arc::downgrade(&outstanding);
        Ok(PreparedCommit {
            chunks,
            generator: self.source.generator.clone(),
            outcome: Default::default(),
            version: self.version,
            held_edits: report.held_edits,
            _outstanding: outstanding,
        })
    }

    /// Records the outcome of a [`PreparedCommit`]: on success, chunks not changed since
    /// `prepare_commit` become clean, and the store's copy becomes each chunk's base for the
    /// next commit's condition. Chunks the commit merged with another writer's record take the
    /// merged voxels (re-applying this world's edits made since `prepare_commit` on top) and are
    /// published on the change feed with a new version. On failure everything stays dirty for
    /// the next commit.
    pub fn finish_commit(
        &mut self,
        prepared: PreparedCommit,
        result: Result<CommitReceipt, StoreError>,
    ) -> Result<CommitReceipt, StoreError> {
        let receipt = result?;
        let ExecuteOutcome { mut merged, written } =
            std::mem::take(&mut *prepared.outcome.lock().unwrap_or_else(|e| e.into_inner()));
        let mut changed = Vec::new();
        for c in &prepared.chunks {
            let their_merge = merged.remove(&c.key);
            if let Some(e) = self.cache.entry_mut(&c.key) {
                let stored = their_merge.as_ref().map_or(&c.chunk, |m| &m.chunk);
                e.expect = Some(Expect::Sequence(written.get(&c.key).copied().unwrap_or(receipt.sequence)));
                let unchanged = e.version == c.version;
                if let Some(m) = &their_merge {
                    e.chunk =
                        if unchanged { m.chunk.clone() } else { Arc::new(merge_voxels(&c.chunk, &e.chunk, &m.chunk)) };
                    e.history.merge(&m.history);
                    changed.push(c.key);
                }
                e.base = stored.clone();
                if unchanged {
                    e.dirty = false;
                }
            }
            let sequence = written.get(&c.key).copied().unwrap_or(receipt.sequence);
            if sequence > 0 {
                let committed = self.committed.entry(c.key).or_default();
                *committed = (*committed).max(sequence);
            }
        }
        if !changed.is_empty() {
            // Another writer's voxels came in: a new version for the indices and meshers.
            self.version += 1;
            let version = self.version;
            for key in changed {
                self.cache.recount(&key);
                let Some(e) = self.cache.entry_mut(&key) else { continue };
                e.version = if e.dirty { version } else { e.version };
                let change = ChunkChange { key, version, chunk: e.chunk.clone(), history: e.history };
                self.subscribers.retain(|s| s.send(change.clone()).is_ok());
            }
        }
        self.commits += 1;
        self.last_commit = Some(receipt.duration);
        self.last_commit_chunks = prepared.chunks.len();
        self.cache.evict_over_budget();
        Ok(receipt)
    }

    /// Applies pending edits and writes every dirty chunk in **one** store transaction. Returns
    /// `Ok` only when every edit appended before the call is durable: this is their
    /// acknowledgment. (Atomicity and durability are the store's: see the
    /// [durability contract](crate::store), per backend. On a store error every chunk stays
    /// dirty and the next commit resends it.) Edits held back because their chunk could not be
    /// loaded (see [`World::apply`]) do not stop the others: those are committed, and then the
    /// load error is returned, since the held edits are not durable yet.
    ///
    /// A blocking call: it loads the chunks edits need whatever [`World::edit_loading`] says.
    pub fn commit(&mut self) -> Result<CommitReceipt, StoreError> {
        let (_, held) = self.apply_all(EditLoading::Blocking);
        let prepared = self.prepare_commit()?;
        let receipt = if prepared.is_empty() {
            CommitReceipt::default()
        } else {
            let result = prepared.execute(self.source.store.as_ref());
            self.finish_commit(prepared, result)?
        };
        held.map_or(Ok(receipt), Err)
    }

    /// The process-batch counters alone: O(1), unlike [`World::stats`].
    pub fn process_totals(&self) -> ProcessTotals {
        ProcessTotals {
            batches: self.process_batches,
            rejected: self.rejected_process_batches,
            voxels: self.process_voxels,
        }
    }

    /// Counters and sizes.
    ///
    /// # Runtime
    /// O(resident chunks).
    pub fn stats(&self) -> WorldStats {
        let mut s = WorldStats {
            resident_chunks: self.cache.len(),
            resident_bytes: self.cache.bytes(),
            cache_budget_bytes: self.cache.budget(),
            cache_hits: self.cache.hits,
            cache_misses: self.cache.misses,
            evictions: self.cache.evictions,
            loaded_from_store: self.loaded_from_store,
            generated: self.generated,
            pending_edits: self.log.pending() + self.deferred.len(),
            version: self.version,
            commits: self.commits,
            last_commit: self.last_commit,
            last_commit_chunks: self.last_commit_chunks,
            process_batches: self.process_batches,
            rejected_process_batches: self.rejected_process_batches,
            process_voxels: self.process_voxels,
            ..WorldStats::default()
        };
        for (_, e) in self.cache.iter() {
            s.resident_uniform += e.chunk.as_uniform().is_some() as usize;
            s.dirty_chunks += e.dirty as usize;
        }
        s
    }
}

fn unreachable_resident(key: ChunkKey) -> StoreError {
    StoreError::Backend(format!("internal: chunk {key:?} vanished from the cache"))
}

#[cfg(test)]
mod tests;
