//! The decompressed chunk cache: resident chunks with LRU eviction under a byte budget.

use crate::chunk::Chunk;
use crate::coords::ChunkKey;
use crate::history::ProcessHistory;
use crate::side::ChunkSide;
use crate::store::Expect;
use crate::world::ClaimedVoxels;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// One resident chunk.
#[derive(Debug)]
pub(crate) struct Entry {
    pub chunk: Arc<Chunk>,
    /// Modified since the last durable commit; never evicted while set. Changed only through
    /// [`ChunkCache::set_dirty`] and [`ChunkCache::insert`], which keep the dirty count.
    dirty: bool,
    /// World version of the last change (0 = loaded, never changed here).
    pub version: u64,
    /// The processes that changed it.
    pub history: ProcessHistory,
    /// The copy the store holds as far as this world knows (what it loaded or last committed):
    /// the common ancestor when another writer's record has to be merged in. The same `Arc`
    /// as `chunk` until the chunk is edited (copy on write).
    pub base: Arc<Chunk>,
    /// What the store holds at the key (`base`'s record): the condition of the next commit.
    /// `None` for a chunk replaced whole without being read (a blind write: it is committed
    /// unconditionally, as if it came after any concurrent edit).
    pub expect: Option<Expect>,
    /// Voxels this world sent in commits whose outcome it does not know (they failed, so the
    /// store may hold them or not): on a merge they are this world's, not the other writer's.
    /// Cleared by the next successful commit of the chunk.
    pub claimed: Option<Arc<ClaimedVoxels>>,
    /// Its game data (block data and entity records), copy on write.
    pub side: Arc<ChunkSide>,
    /// The game data of `base`: the common ancestor of a merge, as `base` is for the voxels.
    pub base_side: Arc<ChunkSide>,
    /// Game data entries sent in commits of unknown outcome (as `claimed` for voxels).
    pub claimed_side: Option<Arc<crate::side::SideKeys>>,
    /// Last access tick, for LRU.
    pub last_used: u64,
    /// Apply epoch that last touched it (to list each touched chunk once per apply).
    pub touched_epoch: u64,
    /// Bytes counted for this entry in the cache total (updated by [`ChunkCache::recount`]).
    accounted: usize,
    /// Whether this entry is counted as uniform in the cache total (updated likewise).
    accounted_uniform: bool,
}

impl Entry {
    /// Modified since the last durable commit (pinned).
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }
}

/// The bytes an entry counts against the budget: its chunk's voxels (`heap_bytes`) and its game
/// data (the encoded length of its side section: the values and their framing, up to
/// [`MAX_SIDE_LEN`](crate::side::MAX_SIDE_LEN), four dense chunks' worth). The copies kept
/// as the base of a merge are not counted: they differ from the live ones only while the chunk
/// is dirty, and dirty chunks are pinned.
fn entry_bytes(chunk: &Chunk, side: &ChunkSide) -> usize {
    chunk.heap_bytes() + side.encoded_len()
}

/// Resident chunks keyed by [`ChunkKey`].
///
/// Invariant: `bytes` is the sum of each entry's accounted bytes, which equal its
/// [`entry_bytes`] except between an in-place change and the next [`ChunkCache::recount`]; likewise
/// `uniform` counts the entries accounted uniform; `dirty` counts the dirty entries exactly.
/// Dirty entries are pinned.
#[derive(Debug)]
pub(crate) struct ChunkCache {
    map: FxHashMap<ChunkKey, Entry>,
    bytes: usize,
    /// Entries with `dirty` set (invariant: exactly that count).
    dirty: usize,
    /// Entries counted as uniform (`accounted_uniform`).
    uniform: usize,
    budget: usize,
    tick: u64,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    /// Keys evicted since the owner last took them, if it asked to track them.
    pub evicted: Option<Vec<ChunkKey>>,
    /// Chunks that held edits wait for (the world's awaited chunks): never evicted while
    /// listed, resident or not yet, so that handing them in one by one under a tight budget
    /// does not evict the ones handed in before (and reload them for ever).
    pub awaited: rustc_hash::FxHashSet<ChunkKey>,
}

impl ChunkCache {
    pub fn new(budget: usize) -> Self {
        Self {
            map: FxHashMap::default(),
            bytes: 0,
            dirty: 0,
            uniform: 0,
            budget,
            tick: 0,
            hits: 0,
            misses: 0,
            evictions: 0,
            evicted: None,
            awaited: Default::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Dirty entries. O(1).
    pub fn dirty_len(&self) -> usize {
        self.dirty
    }

    /// Entries whose chunk is uniform (as of their last insert or recount). O(1).
    pub fn uniform_len(&self) -> usize {
        self.uniform
    }

    /// Marks `key`'s entry dirty or clean (nothing if absent).
    pub fn set_dirty(&mut self, key: &ChunkKey, dirty: bool) {
        if let Some(e) = self.map.get_mut(key)
            && e.dirty != dirty
        {
            e.dirty = dirty;
            if dirty {
                self.dirty += 1;
            } else {
                self.dirty -= 1;
            }
        }
    }

    pub fn budget(&self) -> usize {
        self.budget
    }

    pub fn set_budget(&mut self, budget: usize) {
        self.budget = budget;
    }

    /// Looks up and marks as used (statistics are counted by the caller, which knows whether a
    /// miss was then loaded).
    pub fn get(&mut self, key: ChunkKey) -> Option<&mut Entry> {
        self.tick += 1;
        let tick = self.tick;
        let e = self.map.get_mut(&key)?;
        e.last_used = tick;
        Some(e)
    }

    /// Looks up without touching statistics or recency.
    pub fn peek(&self, key: &ChunkKey) -> Option<&Entry> {
        self.map.get(key)
    }

    pub fn contains(&self, key: &ChunkKey) -> bool {
        self.map.contains_key(key)
    }

    /// Inserts (or replaces) a chunk; returns the entry. A replaced entry's history, base,
    /// expectation and claimed voxels are kept; a new one starts with an empty history, itself as its base and no
    /// expectation (the caller sets what it loaded).
    pub fn insert(&mut self, key: ChunkKey, chunk: Arc<Chunk>, dirty: bool, version: u64) -> &mut Entry {
        self.tick += 1;
        let (history, base, expect, claimed, side, base_side, claimed_side) = match self.map.get(&key) {
            Some(e) => (
                e.history,
                e.base.clone(),
                e.expect,
                e.claimed.clone(),
                e.side.clone(),
                e.base_side.clone(),
                e.claimed_side.clone(),
            ),
            None => (ProcessHistory::EMPTY, chunk.clone(), None, None, Arc::default(), Arc::default(), None),
        };
        let accounted = entry_bytes(&chunk, &side);
        let accounted_uniform = chunk.as_uniform().is_some();
        self.bytes += accounted;
        self.uniform += usize::from(accounted_uniform);
        let entry = Entry {
            chunk,
            dirty,
            version,
            history,
            base,
            expect,
            claimed,
            side,
            base_side,
            claimed_side,
            last_used: self.tick,
            touched_epoch: 0,
            accounted,
            accounted_uniform,
        };
        self.dirty += usize::from(dirty);
        if let Some(old) = self.map.insert(key, entry) {
            self.bytes -= old.accounted;
            self.dirty -= usize::from(old.dirty);
            self.uniform -= usize::from(old.accounted_uniform);
        }
        // Invariant: inserted just above.
        self.map.get_mut(&key).expect("just inserted")
    }

    /// Mutable access for editing; call [`ChunkCache::recount`] after changing the chunk.
    pub fn entry_mut(&mut self, key: &ChunkKey) -> Option<&mut Entry> {
        self.map.get_mut(key)
    }

    /// Brings the byte total up to date after `key`'s chunk or game data changed.
    pub fn recount(&mut self, key: &ChunkKey) {
        if let Some(e) = self.map.get_mut(key) {
            let now = entry_bytes(&e.chunk, &e.side);
            self.bytes = self.bytes + now - e.accounted;
            e.accounted = now;
            let uniform = e.chunk.as_uniform().is_some();
            self.uniform = self.uniform + usize::from(uniform) - usize::from(e.accounted_uniform);
            e.accounted_uniform = uniform;
        }
    }

    pub fn remove(&mut self, key: &ChunkKey) -> Option<Entry> {
        let e = self.map.remove(key)?;
        self.bytes -= e.accounted;
        self.dirty -= usize::from(e.dirty);
        self.uniform -= usize::from(e.accounted_uniform);
        Some(e)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ChunkKey, &Entry)> {
        self.map.iter()
    }

    /// Evicts least-recently-used clean chunks until the cache is within 90% of its budget.
    ///
    /// # Runtime
    /// O(n log n) in resident chunks, only when over budget; evicting down to 90% amortises it.
    pub fn evict_over_budget(&mut self) {
        if self.bytes <= self.budget {
            return;
        }
        let target = self.budget / 10 * 9;
        let mut clean: Vec<(u64, ChunkKey)> = self
            .map
            .iter()
            .filter(|(k, e)| !e.dirty && !self.awaited.contains(k))
            .map(|(k, e)| (e.last_used, *k))
            .collect();
        clean.sort_unstable();
        for (_, key) in clean {
            if self.bytes <= target {
                break;
            }
            self.remove(&key);
            self.evictions += 1;
            if let Some(v) = &mut self.evicted {
                v.push(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::DenseChunk;
    use crate::material::MaterialId;

    fn dense() -> Arc<Chunk> {
        Arc::new(Chunk::Dense(DenseChunk::filled(MaterialId(1))))
    }

    #[test]
    fn evicts_lru_clean_and_keeps_dirty() {
        let mut c = ChunkCache::new(3 * 65536);
        c.insert(ChunkKey::new(0, 0, 0), dense(), true, 1);
        c.insert(ChunkKey::new(1, 0, 0), dense(), false, 0);
        c.insert(ChunkKey::new(2, 0, 0), dense(), false, 0);
        c.get(ChunkKey::new(1, 0, 0));
        c.insert(ChunkKey::new(3, 0, 0), dense(), false, 0);
        c.evict_over_budget();
        assert!(c.contains(&ChunkKey::new(0, 0, 0)), "dirty is pinned");
        assert!(!c.contains(&ChunkKey::new(2, 0, 0)), "least recently used goes first");
        assert!(c.bytes() <= c.budget());
        assert_eq!(c.bytes(), c.len() * 65536);
    }

    proptest::proptest! {
        /// The kept counts (bytes, dirty, uniform) equal a brute-force count over the entries
        /// after any sequence of inserts, replacements, in-place edits with their recount,
        /// dirty flips, removals and evictions.
        #[test]
        fn kept_counts_match_a_recount_of_the_entries(
            ops in proptest::collection::vec((0u8..7, 0i32..6, proptest::bool::ANY, proptest::bool::ANY), 1..120),
        ) {
            let mut c = ChunkCache::new(4 * 65536);
            for (op, k, flag, uniform) in ops {
                let key = ChunkKey::new(k, 0, 0);
                match op {
                    0 => {
                        let chunk = if uniform { Arc::new(Chunk::Uniform(MaterialId(3))) } else { dense() };
                        c.insert(key, chunk, flag, 1);
                    }
                    1 => c.set_dirty(&key, flag),
                    2 => {
                        // An in-place edit that may change uniformity, then its recount.
                        if let Some(e) = c.entry_mut(&key) {
                            let chunk = Arc::make_mut(&mut e.chunk);
                            if uniform { *chunk = Chunk::Uniform(MaterialId(1)) } else { chunk.make_dense(); }
                        }
                        c.recount(&key);
                    }
                    3 => { c.remove(&key); }
                    4 => c.evict_over_budget(),
                    5 => {
                        // Game data written or removed, then its recount.
                        if let Some(e) = c.entry_mut(&key) {
                            let bytes = flag.then(|| vec![7u8; 1000 + 10 * k as usize].into_boxed_slice());
                            Arc::make_mut(&mut e.side).set_entity(u64::from(uniform), bytes);
                        }
                        c.recount(&key);
                    }
                    _ => { c.get(key); }
                }
                let entries: Vec<&Entry> = c.iter().map(|(_, e)| e).collect();
                proptest::prop_assert_eq!(c.dirty_len(), entries.iter().filter(|e| e.is_dirty()).count());
                proptest::prop_assert_eq!(c.uniform_len(), entries.iter().filter(|e| e.chunk.as_uniform().is_some()).count());
                proptest::prop_assert_eq!(c.bytes(), entries.iter().map(|e| e.chunk.heap_bytes() + e.side.encoded_len()).sum::<usize>());
            }
        }
    }
}
