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
//!
//! This module holds the world itself, its reads and its cache; `apply` the edit kernels,
//! `commit` the commits (conflicts, merges, retries), `stats` the counters, and `cover` the
//! chunk sets that boxes and spheres cover.

mod apply;
mod commit;
mod cover;
mod stats;

pub use apply::ApplyReport;
use apply::GroupScratch;
pub(crate) use commit::ClaimedVoxels;
pub use commit::{MAX_COMMIT_RETRIES, PreparedCommit, merge_voxels};
pub use stats::{ProcessTotals, WorldStats};

use crate::cache::{ChunkCache, Entry};
use crate::chunk::Chunk;
use crate::coords::{CHUNK_SIZE, ChunkKey, LocalPos, VoxelPos};
use crate::edit::{ChunkBox, Edit, EditError, EditLog, EditSender, ProcessBatch};
use crate::generator::WorldGenerator;
use crate::history::ProcessHistory;
use crate::material::MaterialId;
use crate::side::ChunkSide;
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
    /// Byte budget of the decompressed chunk cache (dirty chunks may exceed it until committed;
    /// what it holds is [`World::cache_used_bytes`]). Read as `cache_bytes` too (its old name).
    #[serde(alias = "cache_bytes")]
    pub cache_budget_bytes: usize,
    /// How long the store may keep returning one older copy of a chunk than this world
    /// committed before the world takes it as the store's (see [`World::is_stale`]). A lagging
    /// replica catches up within milliseconds, a failover within seconds; a copy that stays
    /// older was rewritten behind this world's back (a blind write by a writer whose clock is
    /// behind, a failover that lost the write, an operator's restore), and refusing it for
    /// ever would leave a hole in the world and lose every edit waiting for the chunk.
    #[serde(default = "default_stale_patience")]
    pub stale_patience: Duration,
}

fn default_stale_patience() -> Duration {
    Duration::from_secs(5)
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self { cache_budget_bytes: 256 << 20, stale_patience: default_stale_patience() }
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
    /// Its game data: block data and entity records (empty for generated chunks).
    pub side: Arc<ChunkSide>,
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
    /// Loads `key`: the stored chunk if edited, else the generator's ([`ChunkSource::read_stored`],
    /// then [`ChunkSource::generated`]). [`StoreError::InvalidKey`] for a key outside the valid
    /// range.
    pub fn load(&self, key: ChunkKey) -> Result<LoadedChunk, StoreError> {
        match self.read_stored(key)? {
            Some(stored) => Ok(stored),
            None => Ok(self.generated(key)),
        }
    }

    /// The stored chunk at `key`, if anyone edited it: the store's read alone (I/O, and the
    /// record's decoding), for callers that generate elsewhere. [`StoreError::InvalidKey`] for a
    /// key outside the valid range.
    pub fn read_stored(&self, key: ChunkKey) -> Result<Option<LoadedChunk>, StoreError> {
        crate::store::checked_morton(key)?;
        Ok(self.store.get_stored(key)?.map(|s| LoadedChunk {
            chunk: Arc::new(s.chunk),
            history: s.history,
            side: Arc::new(s.side),
            origin: ChunkOrigin::Store,
            sequence: s.sequence,
        }))
    }

    /// The generator's chunk at `key` (what an unedited chunk holds), from its uniform hint
    /// when that answers ([`crate::generator::sample_hinted`]). CPU work: O(1) for a hinted chunk, a
    /// generation otherwise.
    pub fn generated(&self, key: ChunkKey) -> LoadedChunk {
        Self::from_generator(crate::generator::sample_hinted(self.generator.as_ref(), 0, key))
    }

    /// The generator's chunk at `key` if its [`WorldGenerator::uniform_hint`] answers: O(1),
    /// no sampling.
    pub fn hinted(&self, key: ChunkKey) -> Option<LoadedChunk> {
        self.generator.uniform_hint(0, key).map(|m| Self::from_generator(Chunk::Uniform(m)))
    }

    fn from_generator(chunk: Chunk) -> LoadedChunk {
        LoadedChunk {
            chunk: Arc::new(chunk),
            history: ProcessHistory::EMPTY,
            side: Arc::default(),
            origin: ChunkOrigin::Generator,
            sequence: 0,
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
    /// Which of its voxels changed, and by whom ([`ChangeExtent::WHOLE`] for a chunk replaced
    /// or adopted whole).
    pub extent: ChangeExtent,
}

/// The voxels of one chunk an apply wrote (a box in local coordinates that holds every write)
/// and whether they all came from processes (geology) rather than from players' edits. What
/// consumers use to limit the work a change causes: a mesher's light, say, reaches only 14
/// voxels from the box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeExtent {
    /// The least local coordinate written, per axis.
    pub min: [u8; 3],
    /// The greatest local coordinate written, per axis.
    pub max: [u8; 3],
    /// Every write came from a [`crate::ProcessBatch`].
    pub processes_only: bool,
}

impl ChangeExtent {
    /// The whole chunk, by an edit (a replaced, loaded or merged chunk).
    pub const WHOLE: Self = Self { min: [0; 3], max: [CHUNK_SIZE as u8 - 1; 3], processes_only: false };

    /// The box `min..=max` (local coordinates), written by a process or not.
    pub fn new(min: LocalPos, max: LocalPos, by_process: bool) -> Self {
        Self { min: [min.x, min.y, min.z], max: [max.x, max.y, max.z], processes_only: by_process }
    }

    /// The smallest extent holding both.
    pub fn union(self, other: Self) -> Self {
        Self {
            min: std::array::from_fn(|a| self.min[a].min(other.min[a])),
            max: std::array::from_fn(|a| self.max[a].max(other.max[a])),
            processes_only: self.processes_only && other.processes_only,
        }
    }

    /// The extent of the writes at `locals` (non-empty), by a process or not. O(writes).
    pub fn of(mut locals: impl Iterator<Item = LocalPos>, by_process: bool) -> Option<Self> {
        let first = locals.next()?;
        Some(locals.fold(Self::new(first, first, by_process), |e, p| e.union(Self::new(p, p, by_process))))
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
    /// Chunks whose game data this apply changed (see `apply::apply_side`).
    side_touched: FxHashSet<ChunkKey>,
    /// What this apply wrote in each touched chunk.
    extents: FxHashMap<ChunkKey, ChangeExtent>,
    subscribers: Vec<Sender<ChunkChange>>,
    loaded_from_store: u64,
    generated: u64,
    commits: u64,
    last_commit: Option<Duration>,
    last_commit_chunks: usize,
    process_batches: u64,
    rejected_process_batches: u64,
    process_voxels: u64,
    /// See [`WorldStats::replaced_records`].
    replaced_records: u64,
    scratch: GroupScratch,
    /// The sequence number of this world's last commit of each chunk it committed (see
    /// [`World::is_stale`]). O(chunks committed by this world) memory, 24 bytes each.
    committed: FxHashMap<ChunkKey, u64>,
    /// Chunks whose reads returned a copy older than `committed`: the copy's sequence number
    /// and when it was first refused.
    refused: FxHashMap<ChunkKey, (u64, std::time::Instant)>,
    /// See [`WorldConfig::stale_patience`].
    stale_patience: Duration,
    /// See [`WorldStats::stale_copies_taken`].
    stale_copies_taken: u64,
    /// The prepared commit not yet finished or dropped, if any.
    outstanding: std::sync::Weak<()>,
    /// How applies reach chunks that are not resident.
    edit_loading: EditLoading,
    /// Chunks that became resident (or took another writer's copy) holding entity records,
    /// if tracked ([`World::track_entity_arrivals`]).
    entity_arrivals: Option<Vec<ChunkKey>>,
    /// Chunks whose game data alone changed, since [`World::take_side_changes`] last took them
    /// (`None`: not tracked).
    side_changes: Option<Vec<ChunkKey>>,
}

impl World {
    /// A world over `store` with `generator` as the baseline.
    pub fn new(store: Arc<dyn ChunkStore>, generator: Arc<dyn WorldGenerator>, config: WorldConfig) -> Self {
        Self {
            source: ChunkSource { store, generator },
            cache: ChunkCache::new(config.cache_budget_bytes),
            log: EditLog::new(),
            deferred: VecDeque::new(),
            version: 0,
            epoch: 0,
            touched: Vec::new(),
            side_touched: FxHashSet::default(),
            extents: FxHashMap::default(),
            subscribers: Vec::new(),
            loaded_from_store: 0,
            generated: 0,
            commits: 0,
            last_commit: None,
            last_commit_chunks: 0,
            process_batches: 0,
            rejected_process_batches: 0,
            process_voxels: 0,
            replaced_records: 0,
            scratch: GroupScratch::default(),
            committed: FxHashMap::default(),
            refused: FxHashMap::default(),
            stale_patience: config.stale_patience,
            stale_copies_taken: 0,
            outstanding: std::sync::Weak::new(),
            edit_loading: EditLoading::Blocking,
            entity_arrivals: None,
            side_changes: None,
        }
    }

    /// Starts recording which chunks become resident holding entity records (loaded, handed
    /// in, adopted or refreshed, or merged with another writer's records), for
    /// [`World::take_entity_arrivals`]: what respawns a game's saved entities when their chunk
    /// is back.
    /// The first call lists the chunks resident now that hold entity records as arrived.
    pub fn track_entity_arrivals(&mut self) {
        if self.entity_arrivals.is_none() {
            let holding = self.cache.iter().filter(|(_, e)| e.side.entities().len() > 0).map(|(k, _)| *k).collect();
            self.entity_arrivals = Some(holding);
        }
    }

    /// The chunks that arrived holding entity records since the last call, in arrival order
    /// (empty unless [`World::track_entity_arrivals`] was called). A key may appear again.
    pub fn take_entity_arrivals(&mut self) -> Vec<ChunkKey> {
        self.entity_arrivals.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Starts recording the chunks whose game data alone changed in an apply, for
    /// [`World::take_side_changes`]. Such a change publishes nothing on the change feed (no
    /// voxel changed, nothing to remesh or reindex): this is how a server learns which chunks'
    /// game data to send to its clients, and a game which chests to show anew.
    pub fn track_side_changes(&mut self) {
        self.side_changes.get_or_insert_with(Vec::new);
    }

    /// The chunks whose game data alone changed since the last call, once per apply that
    /// changed them (empty unless [`World::track_side_changes`] was called). A chunk whose
    /// voxels changed too is on the change feed instead. O(1).
    pub fn take_side_changes(&mut self) -> Vec<ChunkKey> {
        self.side_changes.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Records that `key`'s game data alone changed, if side changes are tracked
    /// ([`World::take_side_changes`]). O(1).
    pub(crate) fn note_side_change(&mut self, key: ChunkKey) {
        if let Some(changes) = &mut self.side_changes {
            changes.push(key);
        }
    }

    /// Notes `key`'s arrival if it holds entity records and arrivals are tracked. O(1).
    fn note_arrival(&mut self, key: ChunkKey, side: &ChunkSide) {
        if let Some(arrivals) = &mut self.entity_arrivals
            && side.entities().len() > 0
        {
            arrivals.push(key);
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
        self.cache.awaited.iter().copied()
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

    /// Appends a write of the block data at `pos` ([`Edit::BlockData`]; `None` removes it): the
    /// game's bytes for that voxel (a chest's contents), committed in the voxel's chunk record
    /// with the voxels, for as long as the voxel holds the material it holds when the edit
    /// applies. Data longer than [`MAX_VALUE_LEN`](crate::side::MAX_VALUE_LEN) is refused
    /// ([`EditError::DataTooLarge`]) and nothing is appended.
    pub fn set_block_data(&self, pos: VoxelPos, data: Option<Vec<u8>>) -> Result<(), EditError> {
        self.push_checked(Edit::BlockData { pos, data })
    }

    /// Appends a write of entity record `id` of chunk `key` ([`Edit::EntityData`]; `None`
    /// removes it), committed in the chunk's record. Refused like
    /// [`World::set_block_data`].
    pub fn set_entity_data(&self, key: ChunkKey, id: u64, data: Option<Vec<u8>>) -> Result<(), EditError> {
        self.push_checked(Edit::EntityData { chunk: key, id, data })
    }

    /// The game data of chunk `key` (block data and entity records; applied state), loading
    /// the chunk into the cache if needed. [`StoreError::InvalidKey`] for a key outside the
    /// valid range.
    pub fn chunk_side(&mut self, key: ChunkKey) -> Result<Arc<ChunkSide>, StoreError> {
        self.read_resident(key, |e| e.side.clone())
    }

    /// The block data at `pos` (applied state), loading its chunk if needed.
    pub fn block_data(&mut self, pos: VoxelPos) -> Result<Option<crate::side::BlockData>, StoreError> {
        let (key, local) = pos.split();
        Ok(self.chunk_side(key)?.block(local.index()).cloned())
    }

    /// The game data of `key` if it is resident, without loading.
    pub fn resident_side(&self, key: ChunkKey) -> Option<Arc<ChunkSide>> {
        self.cache.peek(&key).map(|e| e.side.clone())
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
        self.read_resident(key, |e| e.chunk.clone())
    }

    /// `read` of `key`'s cache entry, loading the chunk first if needed (counted as a hit or a
    /// miss), then an eviction pass if the cache is over budget.
    fn read_resident<T>(&mut self, key: ChunkKey, read: impl FnOnce(&Entry) -> T) -> Result<T, StoreError> {
        crate::store::checked_morton(key)?;
        self.ensure_resident(key)?;
        let value = read(self.cache.get(key).ok_or_else(|| unreachable_resident(key))?);
        self.cache.evict_over_budget();
        Ok(value)
    }

    /// Caches `loaded` as `key`'s clean content at `version`, as it was read: its history, its
    /// game data (also the base of the next merge) and the condition of its record; notes the
    /// arrival of its entities. Fields `loaded` does not carry keep the resident entry's.
    fn install_loaded(&mut self, key: ChunkKey, loaded: &LoadedChunk, version: u64) -> &mut Entry {
        self.note_arrival(key, &loaded.side);
        let e = self.cache.insert(key, loaded.chunk.clone(), false, version);
        (e.history, e.expect) = (loaded.history, Some(loaded.expect()));
        (e.side, e.base_side) = (loaded.side.clone(), loaded.side.clone());
        // Its game data counts against the budget too.
        self.cache.recount(&key);
        // Invariant: inserted just above.
        self.cache.entry_mut(&key).expect("installed just above")
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
        if self.refuse_stale(key, loaded.sequence).is_err() {
            return HandIn::Stale;
        }
        self.install_loaded(key, &loaded, 0);
        self.cache.evict_over_budget();
        HandIn::Inserted
    }

    /// Takes `loaded` as `key`'s content from an authority this world does not commit to (a
    /// multiplayer client's server): resident or not, the chunk now holds `loaded`, clean (its
    /// store has it), with a new world version, and is published on the change feed so the
    /// indices and meshers follow — unless it was resident with the same voxels and history
    /// (the server's answer to an edit this world predicted, or a change of game data alone):
    /// then nothing is remeshed or reindexed, and a change of its game data is recorded for
    /// [`World::take_side_changes`] as an apply's would be. **Edits of the chunk this world
    /// applied and did not commit are discarded**: the caller sends again those it still
    /// predicts (they apply on top at the next apply). Edits still in the log, or held for the
    /// chunk, apply on top too. Returns the new version; `None` (nothing changed) for a key
    /// outside the valid range.
    ///
    /// Not for a world that commits its own edits of `key`: a commit prepared before the call
    /// keeps the chunk dirty when it finishes (its version changed), and writes what it captured.
    ///
    /// # Runtime
    /// O(1), plus a comparison of the voxels when the chunk is resident (a 64 KiB compare for
    /// a dense one) and an eviction pass if the cache is over budget.
    pub fn adopt(&mut self, key: ChunkKey, loaded: LoadedChunk) -> Option<u64> {
        if !key.is_valid() {
            return None;
        }
        // What the feed last published for `key` is the resident content (every change of it
        // is published): the same voxels and history need no new publication.
        let (same_voxels, same_side) = self.cache.peek(&key).map_or((false, false), |e| {
            let voxels =
                e.history == loaded.history && (Arc::ptr_eq(&e.chunk, &loaded.chunk) || *e.chunk == *loaded.chunk);
            (voxels, *e.side == *loaded.side)
        });
        self.version += 1;
        let version = self.version;
        let e = self.install_loaded(key, &loaded, version);
        (e.base, e.claimed, e.claimed_side) = (loaded.chunk.clone(), None, None);
        if !same_voxels {
            let change =
                ChunkChange { key, version, chunk: loaded.chunk, history: loaded.history, extent: ChangeExtent::WHOLE };
            self.subscribers.retain(|s| s.send(change.clone()).is_ok());
        } else if !same_side {
            self.note_side_change(key);
        }
        self.cache.evict_over_budget();
        Some(version)
    }

    /// Takes `loaded`, another writer's copy of `key` read from a shared store (after its
    /// [change log](crate::store::change_log) named the chunk), if it is news: `key` resident,
    /// clean (no edits of this world waiting to commit), and the copy neither the one it holds
    /// (same sequence) nor older than this world's last commit of the chunk
    /// ([`World::is_stale`]). Then the chunk holds it, clean, with a new version, as
    /// [`World::adopt`] takes it (published on the change feed, so the indices and meshers
    /// follow, unless only its game data changed), and the new version is returned. Otherwise
    /// nothing changes (`None`): a dirty chunk keeps its edits — its commit's condition fails
    /// and merges the other writer's record — and a chunk not resident is read fresh when next
    /// loaded.
    ///
    /// # Runtime
    /// O(1), plus an eviction pass if the cache is over budget.
    pub fn refresh(&mut self, key: ChunkKey, loaded: LoadedChunk) -> Option<u64> {
        let entry = self.cache.peek(&key)?;
        if entry.is_dirty() || entry.expect == Some(loaded.expect()) || self.is_stale(key, loaded.sequence) {
            return None;
        }
        self.adopt(key, loaded)
    }

    /// Whether a copy of `key` written by store commit `sequence` (0: none, the generator's
    /// chunk) is older than the last commit of `key` by this world — true only for chunks this
    /// world committed. O(1).
    ///
    /// Store sequence numbers increase from commit to commit (see
    /// [`CommitReceipt::sequence`]); with several processes writing one Redis world, a chunk
    /// another process rewrote with a lower sequence (its clock behind this one's) counts as
    /// stale here. Loads refuse a stale copy only for [`WorldConfig::stale_patience`]: one the
    /// store keeps returning is then taken.
    pub fn is_stale(&self, key: ChunkKey, sequence: u64) -> bool {
        self.committed.get(&key).is_some_and(|&committed| sequence < committed)
    }

    /// [`StoreError::Stale`] if a copy of `key` written by commit `sequence` is stale
    /// ([`World::is_stale`]), unless the store has returned that same copy for
    /// [`WorldConfig::stale_patience`] since it was first refused: then the copy is the store's
    /// (this world's commit was lost or overwritten behind it), the world forgets its commit of
    /// the chunk and takes it ([`WorldStats::stale_copies_taken`]). A different copy restarts
    /// the wait. What [`World::insert_loaded`] and loads on the calling thread ask; a caller
    /// that inspects a load before handing it in asks it too. O(1).
    pub fn refuse_stale(&mut self, key: ChunkKey, sequence: u64) -> Result<(), StoreError> {
        let Some(&committed) = self.committed.get(&key).filter(|&&c| sequence < c) else {
            self.refused.remove(&key);
            return Ok(());
        };
        let now = std::time::Instant::now();
        let first = self.refused.entry(key).or_insert((sequence, now));
        if first.0 != sequence {
            *first = (sequence, now);
        }
        if now.duration_since(first.1) < self.stale_patience {
            return Err(StoreError::Stale { key, read: sequence, committed });
        }
        self.refused.remove(&key);
        self.committed.remove(&key);
        self.stale_copies_taken += 1;
        Ok(())
    }

    /// The process history of `key` if it is resident.
    pub fn resident_history(&self, key: ChunkKey) -> Option<ProcessHistory> {
        self.cache.peek(&key).map(|e| e.history)
    }

    /// Drops `key` from the cache if it is clean and no held edit waits for it
    /// ([`World::awaited_chunks`]). Returns whether it was dropped.
    pub fn evict(&mut self, key: ChunkKey) -> bool {
        match self.cache.peek(&key) {
            Some(e) if !e.is_dirty() && !self.cache.awaited.contains(&key) => {
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

    /// The cache budget in bytes ([`WorldConfig::cache_budget_bytes`], or the last
    /// [`World::set_cache_budget_bytes`]).
    pub fn cache_budget_bytes(&self) -> usize {
        self.cache.budget()
    }

    /// Bytes the cache holds now: the resident chunks' voxels and their game data (its encoded
    /// length). O(1); the same number as `stats().resident_bytes`; its budget is
    /// [`World::cache_budget_bytes`].
    pub fn cache_used_bytes(&self) -> usize {
        self.cache.bytes()
    }

    /// Changes the cache budget (evicting clean chunks if now over it).
    pub fn set_cache_budget_bytes(&mut self, bytes: usize) {
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
        self.refuse_stale(key, loaded.sequence)?;
        match loaded.origin {
            ChunkOrigin::Store => self.loaded_from_store += 1,
            ChunkOrigin::Generator => self.generated += 1,
        }
        self.install_loaded(key, &loaded, 0);
        Ok(())
    }
}

fn unreachable_resident(key: ChunkKey) -> StoreError {
    StoreError::Backend(crate::store::BackendError::Internal(format!("chunk {key:?} vanished from the cache")))
}

#[cfg(test)]
mod tests;
