//! Counters and sizes of a world.

use super::*;

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
    /// Bytes of resident voxel data and game data (see [`World::cache_used_bytes`]).
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
    /// Records of other writers that a commit found unreadable (corrupt, misplaced, of a newer
    /// format) when merging, and replaced with this world's copy of the chunk.
    pub replaced_records: u64,
    /// Copies of chunks older than this world's commit of them that the store kept returning
    /// for [`WorldConfig::stale_patience`], and that the world then took as the store's (its
    /// commit was lost or overwritten behind it).
    pub stale_copies_taken: u64,
}

impl WorldStats {
    /// Fraction of cache lookups that hit, in `0.0..=1.0` (1.0 before any lookup).
    pub fn cache_hit_rate(&self) -> f64 {
        let total = self.cache_hits + self.cache_misses;
        if total == 0 { 1.0 } else { self.cache_hits as f64 / total as f64 }
    }
}

impl World {
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
    /// O(1): the cache keeps its counts (bytes, dirty and uniform chunks) as entries change,
    /// so a per-frame caller (the plugin's diagnostics) costs nothing per resident chunk.
    pub fn stats(&self) -> WorldStats {
        WorldStats {
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
            replaced_records: self.replaced_records,
            stale_copies_taken: self.stale_copies_taken,
            dirty_chunks: self.cache.dirty_len(),
            resident_uniform: self.cache.uniform_len(),
        }
    }
}
