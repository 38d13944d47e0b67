//! Commits: capturing dirty chunks, writing them (conditional puts, three-way merges and
//! retries on conflicts) and settling the result.

use super::*;
use crate::MortonKey;
use crate::store::decode_stored;

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
    /// Its game data.
    side: Arc<ChunkSide>,
    /// The store's copy as the world knows it, and the condition of the put.
    base: Arc<Chunk>,
    /// The game data of `base`.
    base_side: Arc<ChunkSide>,
    expect: Option<Expect>,
    /// Voxels sent by earlier commits of unknown outcome (see [`ClaimedVoxels`]).
    claimed: Option<Arc<ClaimedVoxels>>,
    /// Game data entries sent likewise.
    claimed_side: Option<Arc<crate::side::SideKeys>>,
}

/// What [`PreparedCommit::execute`] did beyond its receipt.
#[derive(Default)]
struct ExecuteOutcome {
    /// Chunks merged with another writer's record, by key.
    merged: FxHashMap<ChunkKey, Merged>,
    /// Chunks written by an attempt that a conflict elsewhere did not stop (a distributed
    /// store writes per region), with that attempt's sequence number.
    written: FxHashMap<ChunkKey, u64>,
    /// Chunks whose stored record could not be read when a conflict asked for it (corrupt,
    /// misplaced, of a newer format): replaced by this world's copy.
    replaced: Vec<ChunkKey>,
}

/// A chunk [`PreparedCommit::execute`] merged with another writer's record.
struct Merged {
    /// What was committed: the other writer's voxels where this world did not change them.
    chunk: Arc<Chunk>,
    history: ProcessHistory,
    side: Arc<ChunkSide>,
}

/// How many times [`PreparedCommit::execute`] merges and retries after
/// [`StoreError::Conflict`] before returning it (each retry means another writer committed the
/// same chunk in between). Retries back off (1, 2, 4, … ≤ 64 ms, with jitter) so that two busy
/// writers of one chunk do not keep overtaking each other.
pub const MAX_COMMIT_RETRIES: usize = 16;

/// How many times in one commit a conflict's re-read of a chunk may return an older record
/// than the one the world's copy is based on before that record is taken as the store's: a
/// lagging replica catches up within the retries' back-off (hundreds of milliseconds), a record
/// rewritten by a writer whose clock is behind does not.
const MAX_OLDER_READS: usize = MAX_COMMIT_RETRIES / 2;

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
    merge_claimed(base, ours, theirs, None)
}

/// [`merge_voxels`], where `claimed` voxels are this world's too: voxels it sent in a commit of
/// unknown outcome, which may be the very record `theirs` is (its write landed, then the user
/// reverted the voxel to `base`'s value: the revert wins).
fn merge_claimed(base: &Chunk, ours: &Chunk, theirs: &Chunk, claimed: Option<&ClaimedVoxels>) -> Chunk {
    if claimed.is_none()
        && let (Some(b), Some(o)) = (base.as_uniform(), ours.as_uniform())
        && b == o
    {
        return theirs.clone();
    }
    let mut merged = crate::chunk::DenseChunk::filled(MaterialId::AIR);
    for (i, out) in merged.as_mut_slice().iter_mut().enumerate() {
        let index = crate::coords::LocalIndex::new(i as u16);
        let mine = ours.get(index);
        let ours_to_decide = mine != base.get(index) || claimed.is_some_and(|c| c.contains(i));
        *out = if ours_to_decide { mine.0 } else { theirs.get(index).0 };
    }
    let mut chunk = Chunk::Dense(merged);
    chunk.normalize();
    chunk
}

/// The voxels of one chunk that a world sent to the store in commits whose outcome it does not
/// know: the commit failed (a lost reply, a replica that did not confirm, a conflict that ran
/// out of retries), so the store may hold them or not. On the next merge they count as this
/// world's changes, so a value it wrote and then reverted is not brought back by its own
/// landed write. One bit per voxel (4 KiB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClaimedVoxels(Box<[u64; crate::coords::CHUNK_VOLUME / 64]>);

impl ClaimedVoxels {
    /// The voxels where `sent` differs from `base`, added to `earlier` (if any).
    ///
    /// # Runtime
    /// O(32³).
    fn sent(earlier: Option<&ClaimedVoxels>, base: &Chunk, sent: &Chunk) -> Self {
        let mut bits = earlier.map_or_else(|| Box::new([0; crate::coords::CHUNK_VOLUME / 64]), |c| c.0.clone());
        if !(base.as_uniform().is_some() && base.as_uniform() == sent.as_uniform()) {
            for i in 0..crate::coords::CHUNK_VOLUME {
                let index = crate::coords::LocalIndex::new(i as u16);
                if base.get(index) != sent.get(index) {
                    bits[i / 64] |= 1 << (i % 64);
                }
            }
        }
        Self(bits)
    }

    /// Whether the voxel at linear index `i` is claimed.
    fn contains(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 == 1
    }
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
    /// acknowledged edits are overwritten by another's (on the same voxel, the later commit
    /// wins).
    ///
    /// - Of a conflicting batch, exactly the chunks the store lists as written count as
    ///   written (a distributed store writes whole regions: the other chunks of a conflicting
    ///   region were not); every other chunk is sent again.
    /// - A re-read that returns an older record than this world's copy is based on (a lagging
    ///   replica) is not merged with — it would make this world's earlier changes look like
    ///   another writer's — but read again on the next attempt (a record that stays older for
    ///   half the retries is taken: a writer whose clock is behind rewrote it).
    /// - Another writer's record that cannot be read (corrupt, misplaced, of a newer format)
    ///   is replaced by this world's copy of the chunk, on condition that it is still that
    ///   record; [`WorldStats::replaced_records`] counts them. (Its content is lost to every
    ///   reader anyway; failing instead would fail every later commit of the world.)
    /// - Voxels sent by earlier commits that failed count as this world's changes in the merge
    ///   (their write may have landed: a value written and then reverted stays reverted).
    pub fn execute(&self, store: &dyn ChunkStore) -> Result<CommitReceipt, StoreError> {
        let mut outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        // Per chunk: what to write and on which condition (changed by merges).
        let mut current = self.chunks.clone();
        // The chunks not written yet.
        let mut remaining: Vec<usize> = (0..self.chunks.len()).collect();
        let mut bytes = 0;
        let mut attempt = 0;
        // Per chunk, conflicts whose re-read returned an older record than the base.
        let mut older_reads: FxHashMap<ChunkKey, usize> = FxHashMap::default();
        loop {
            let mut batch = WriteBatch::for_world(self.generator.world_up());
            for c in remaining.iter().map(|&i| &current[i]) {
                batch.put_full(c.key, &c.chunk, &c.history, &c.side, c.expect);
            }
            let (keys, written, sequence) = match store.commit(&batch) {
                Ok(mut receipt) => {
                    receipt.entries = self.chunks.len();
                    receipt.bytes += bytes;
                    return Ok(receipt);
                }
                Err(StoreError::Conflict { keys, written, sequence }) if attempt < MAX_COMMIT_RETRIES => {
                    (keys, written, sequence)
                }
                Err(e) => return Err(e),
            };
            attempt += 1;
            std::thread::sleep(conflict_backoff(attempt));
            if !written.is_empty() {
                // The store wrote these entries (a distributed store writes per region): only
                // the others are sent again. A key also named as conflicting was not written.
                bytes += batch.encoded_bytes();
                remaining.retain(|&i| {
                    let key = self.chunks[i].key;
                    let done = written.contains(&key) && !keys.contains(&key);
                    if done {
                        outcome.written.insert(key, sequence);
                    }
                    !done
                });
            }
            // The other writers' records, read in one batch (one round trip per node for a
            // networked store, however many chunks conflicted).
            let mortons: Vec<MortonKey> = keys.iter().map(|k| k.morton()).collect();
            let records = store.get_records(&mortons)?;
            if records.len() != keys.len() {
                return Err(StoreError::Backend(crate::store::BackendError::Inconsistent(format!(
                    "the store returned {} records for {} keys",
                    records.len(),
                    keys.len()
                ))));
            }
            for (key, record) in keys.into_iter().zip(records) {
                let Some(i) = self.chunks.iter().position(|c| c.key == key) else { continue };
                let c = &mut current[i];
                // The sequence number of the record `c.base` is (0: none).
                let known = match c.expect {
                    Some(Expect::Sequence(s)) => s,
                    Some(Expect::Absent) | None => 0,
                };
                // `Err(record)`: a record no reader here can use.
                let read = match record {
                    None => Ok(None),
                    Some(bytes) => match decode_stored(&bytes, store.home(key.morton()), key) {
                        Ok(s) => Ok(Some(s)),
                        Err(_) => Err(bytes),
                    },
                };
                if let Ok(stored) = &read
                    && stored.as_ref().map_or(0, |s| s.sequence) < known
                {
                    // An older copy than the base (a lagging replica): not a descendant of
                    // what this world knows, so no base for a merge — one would hide this
                    // world's changes since it. Read again on the next attempt; only a record
                    // that stays older is taken (rewritten by a writer whose clock is behind).
                    let n = older_reads.entry(key).or_insert(0);
                    *n += 1;
                    if *n <= MAX_OLDER_READS {
                        continue;
                    }
                }
                let (theirs, expect, their_history, their_side) = match read {
                    Ok(Some(s)) => (Arc::new(s.chunk), Expect::Sequence(s.sequence), s.history, Arc::new(s.side)),
                    Ok(None) => (
                        Arc::new(crate::generator::sample_hinted(self.generator.as_ref(), 0, key)),
                        Expect::Absent,
                        ProcessHistory::EMPTY,
                        Arc::default(),
                    ),
                    // A record no reader here can use (corrupt, misplaced, a newer format):
                    // replaced by this world's copy (its voxels over the copy it knew), on
                    // condition that it is still that record, instead of failing every commit.
                    Err(record) => {
                        let expect = Expect::Sequence(crate::codec::stored_sequence(&record));
                        outcome.replaced.push(key);
                        (c.base.clone(), expect, ProcessHistory::EMPTY, c.base_side.clone())
                    }
                };
                let ours = Arc::new(merge_claimed(&c.base, &c.chunk, &theirs, c.claimed.as_deref()));
                let side = Arc::new(ChunkSide::merge_claimed(
                    &c.base_side,
                    &c.side,
                    &their_side,
                    &ours,
                    c.claimed_side.as_deref(),
                ));
                c.history.merge(&their_history);
                c.chunk = ours.clone();
                c.side = side.clone();
                c.expect = Some(expect);
                c.base = theirs;
                c.base_side = their_side;
                outcome.merged.insert(key, Merged { chunk: ours, history: c.history, side });
            }
        }
    }
}

impl World {
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
            .filter(|(_, e)| e.is_dirty())
            .map(|(k, e)| CommitChunk {
                key: *k,
                chunk: e.chunk.clone(),
                version: e.version,
                history: e.history,
                side: e.side.clone(),
                base: e.base.clone(),
                base_side: e.base_side.clone(),
                expect: e.expect,
                claimed: e.claimed.clone(),
                claimed_side: e.claimed_side.clone(),
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
        let receipt = match result {
            Ok(receipt) => receipt,
            Err(e) => {
                // The store may hold what was sent, or not: remember which voxels were sent.
                for c in &prepared.chunks {
                    if let Some(entry) = self.cache.entry_mut(&c.key) {
                        let claimed = ClaimedVoxels::sent(c.claimed.as_deref(), &c.base, &c.chunk);
                        entry.claimed = Some(Arc::new(claimed));
                        let sent = crate::side::SideKeys::sent(c.claimed_side.as_deref(), &c.base_side, &c.side);
                        entry.claimed_side = Some(Arc::new(sent));
                    }
                }
                return Err(e);
            }
        };
        let ExecuteOutcome { mut merged, written, replaced } =
            std::mem::take(&mut *prepared.outcome.lock().unwrap_or_else(|e| e.into_inner()));
        let mut changed = Vec::new();
        for c in &prepared.chunks {
            let their_merge = merged.remove(&c.key);
            if let Some(e) = self.cache.entry_mut(&c.key) {
                let stored = their_merge.as_ref().map_or(&c.chunk, |m| &m.chunk);
                let stored_side = their_merge.as_ref().map_or(&c.side, |m| &m.side);
                e.expect = Some(Expect::Sequence(written.get(&c.key).copied().unwrap_or(receipt.sequence)));
                let unchanged = e.version == c.version;
                if let Some(m) = &their_merge {
                    if unchanged {
                        (e.chunk, e.side) = (m.chunk.clone(), m.side.clone());
                    } else {
                        // Edits made since the commit was prepared, on top of the merge.
                        e.chunk = Arc::new(merge_voxels(&c.chunk, &e.chunk, &m.chunk));
                        e.side = Arc::new(ChunkSide::merge(&c.side, &e.side, &m.side, &e.chunk));
                    }
                    e.history.merge(&m.history);
                    changed.push(c.key);
                }
                e.base = stored.clone();
                e.base_side = stored_side.clone();
                e.claimed = None;
                e.claimed_side = None;
                if unchanged {
                    self.cache.set_dirty(&c.key, false);
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
                e.version = if e.is_dirty() { version } else { e.version };
                let side = e.side.clone();
                let change = ChunkChange {
                    key,
                    version,
                    chunk: e.chunk.clone(),
                    history: e.history,
                    extent: ChangeExtent::WHOLE,
                };
                self.subscribers.retain(|s| s.send(change.clone()).is_ok());
                self.note_arrival(key, &side);
            }
        }
        self.replaced_records += replaced.len() as u64;
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
}
