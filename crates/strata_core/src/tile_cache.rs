//! A bounded, thread-safe memo of a generator's 2D fields, one tile per column of chunks (or of
//! LOD nodes) and level.
//!
//! A height-map generator evaluates its 2D fields once per column of a chunk (1,024 per chunk),
//! but every chunk of a vertical stack asks for the same columns again, and so does the index's
//! generated stub beside it: a view 24 chunks deep evaluates each column's noise ~30 times. A
//! [`TileCache`] keeps the tiles of the columns streamed lately, so each is computed about once
//! while it stays in view.
//!
//! **Invariants.** A tile is the pure function of its [`TileKey`] that its generator computes:
//! the cache returns the same values with or without it (two threads that miss the same key at
//! once both compute it and keep one; either result is the same). At most `capacity` tiles are
//! kept (rounded up to a multiple of the shard count); the oldest inserted tile of a full shard
//! goes first.
//!
//! # Runtime
//! A hit: one hash and one short lock of one of [`SHARDS`] shards. A miss computes the tile
//! outside any lock, then inserts it (O(1), plus one eviction when the shard is full).

use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, Mutex, PoisonError};

/// The shards of a [`TileCache`]: threads that read different tiles rarely wait on each other.
pub const SHARDS: usize = 16;

/// A tile's place: the LOD `level` and the node's horizontal coordinates at that level (a chunk
/// key's `x` and `z` shifted right by `level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TileKey {
    /// LOD level (0: one chunk).
    pub level: u32,
    /// Node x at `level`.
    pub x: i32,
    /// Node z at `level`.
    pub z: i32,
}

/// See the [module docs](self).
pub struct TileCache<T> {
    shards: Box<[Mutex<Shard<T>>]>,
    per_shard: usize,
}

struct Shard<T> {
    tiles: FxHashMap<TileKey, Arc<T>>,
    /// Insertion order, oldest first: what goes when the shard is full.
    order: VecDeque<TileKey>,
}

impl<T> TileCache<T> {
    /// A cache of at most `capacity` tiles (at least one per shard).
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(Shard { tiles: FxHashMap::default(), order: VecDeque::with_capacity(per_shard) }))
            .collect();
        Self { shards, per_shard }
    }

    /// The most tiles kept.
    pub fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }

    /// Tiles held now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).tiles.len()).sum()
    }

    /// Whether no tile is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every tile (tiles callers still hold stay alive until they drop them).
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut s = shard.lock().unwrap_or_else(PoisonError::into_inner);
            s.tiles.clear();
            s.order.clear();
        }
    }

    /// The tile at `key`: the cached one, or `compute()` (then kept). `compute` must be the
    /// same pure function of `key` on every call (see the module's invariants).
    pub fn get_or_compute(&self, key: TileKey, compute: impl FnOnce() -> T) -> Arc<T> {
        let shard = &self.shards[shard_of(&key)];
        if let Some(t) = shard.lock().unwrap_or_else(PoisonError::into_inner).tiles.get(&key) {
            return t.clone();
        }
        let tile = Arc::new(compute());
        let mut s = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = s.tiles.get(&key) {
            // Another thread computed it meanwhile: the same values; keep one.
            return t.clone();
        }
        if s.tiles.len() >= self.per_shard
            && let Some(old) = s.order.pop_front()
        {
            s.tiles.remove(&old);
        }
        s.tiles.insert(key, tile.clone());
        s.order.push_back(key);
        tile
    }
}

fn shard_of(key: &TileKey) -> usize {
    (rustc_hash::FxBuildHasher.hash_one(key) as usize >> 7) % SHARDS
}

impl<T> std::fmt::Debug for TileCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileCache").field("capacity", &self.capacity()).field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(level: u32, x: i32, z: i32) -> TileKey {
        TileKey { level, x, z }
    }

    #[test]
    fn a_tile_is_computed_once_while_it_is_held() {
        let cache = TileCache::new(64);
        let calls = AtomicUsize::new(0);
        for _ in 0..5 {
            let t = cache.get_or_compute(key(2, -3, 7), || {
                calls.fetch_add(1, Ordering::Relaxed);
                42u32
            });
            assert_eq!(*t, 42);
        }
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity_and_keeps_answering() {
        let cache = TileCache::new(32);
        for i in 0..10_000i32 {
            let k = key((i % 3) as u32, i, -i);
            assert_eq!(*cache.get_or_compute(k, || i64::from(i) * 3), i64::from(i) * 3);
            assert!(cache.len() <= cache.capacity());
        }
        assert!(cache.len() >= cache.capacity() / 2, "a full cache keeps tiles: {}", cache.len());
        // Evicted keys are computed again, with their own values (never another key's).
        for i in (0..10_000i32).step_by(97) {
            assert_eq!(*cache.get_or_compute(key((i % 3) as u32, i, -i), || i64::from(i) * 3), i64::from(i) * 3);
        }
    }

    #[test]
    fn threads_reading_the_same_tiles_all_get_their_values() {
        let cache = Arc::new(TileCache::new(16));
        std::thread::scope(|s| {
            for t in 0..4 {
                let cache = cache.clone();
                s.spawn(move || {
                    for i in 0..2_000i32 {
                        let k = key(0, (i + t) % 40, 1);
                        assert_eq!(*cache.get_or_compute(k, || k.x * 10), k.x * 10);
                    }
                });
            }
        });
        assert!(cache.len() <= cache.capacity());
    }
}
