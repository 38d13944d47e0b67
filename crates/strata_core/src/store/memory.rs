//! An in-memory store, for tests, tools and worlds that need no persistence.

use super::{
    ChunkCellVisitor, ChunkStore, CommitReceipt, ScanVisitor, StoreError, SummaryVisitor, WriteBatch, visit_chunk_cell,
    visit_summary,
};
use crate::codec::{self, WorldId};
use crate::coords::ChunkKey;
use crate::morton::MortonKey;
use crate::palette::Palette;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::RwLock;
use std::time::Instant;

/// Records (each with its summary) in a `BTreeMap` behind a lock. Commits are atomic (one write
/// lock) but, being in memory, not durable across processes. Records are sealed like the
/// persistent stores' (a random world id, a sequence number per commit).
pub struct MemoryStore {
    world: WorldId,
    records: RwLock<Records>,
}

#[derive(Default)]
struct Records {
    map: BTreeMap<MortonKey, Stored>,
    /// The last commit's sequence number.
    sequence: u64,
    /// The recorded material palette.
    palette: Option<Palette>,
    /// The game's values.
    game_data: BTreeMap<String, Vec<u8>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_world(WorldId::random())
    }
}

/// A chunk record and its summary record.
struct Stored {
    record: Vec<u8>,
    summary: Vec<u8>,
}

impl MemoryStore {
    /// An empty store of a new world.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose records are sealed for `world`.
    pub fn with_world(world: WorldId) -> Self {
        Self { world, records: RwLock::default() }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Records> {
        // A poisoned lock only means another thread panicked mid-commit; commits mutate the map
        // only after all fallible work, so the map is still consistent.
        self.records.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl ChunkStore for MemoryStore {
    fn world_id(&self) -> WorldId {
        self.world
    }

    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read().map.get(&key).map(|s| s.record.clone()))
    }

    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        for (k, v) in self.read().map.range(range) {
            if visit(*k, &v.record).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn scan_summaries(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut SummaryVisitor<'_>,
    ) -> Result<(), StoreError> {
        for (k, v) in self.read().map.range(range) {
            if visit_summary(self.home(*k), Some(&v.summary), || Ok(Some(v.record.clone())), visit)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn scan_chunk_cells(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut ChunkCellVisitor<'_>,
    ) -> Result<(), StoreError> {
        for (k, v) in self.read().map.range(range) {
            if visit_chunk_cell(self.home(*k), Some(&v.summary), || Ok(Some(v.record.clone())), visit)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        batch.check()?;
        let sequence = self.reserve_sequence();
        self.commit_part(batch, &|_| true, sequence)
    }

    fn palette(&self) -> Result<Option<Palette>, StoreError> {
        Ok(self.read().palette.clone())
    }

    fn game_data(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read().game_data.get(name).cloned())
    }

    fn set_game_data(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        super::check_game_data(name, value)?;
        let mut records = self.records.write().unwrap_or_else(|e| e.into_inner());
        match value {
            Some(v) => records.game_data.insert(name.to_owned(), v.to_vec()),
            None => records.game_data.remove(name),
        };
        Ok(())
    }

    fn swap_palette(&self, expected: Option<&Palette>, new: &Palette) -> Result<bool, StoreError> {
        let mut records = self.records.write().unwrap_or_else(|e| e.into_inner());
        if records.palette.as_ref() != expected {
            return Ok(false);
        }
        records.palette = Some(new.clone());
        Ok(true)
    }
}

impl MemoryStore {
    /// A new sequence number, above every one this store has sealed records with or reserved.
    /// O(1).
    pub fn reserve_sequence(&self) -> u64 {
        let mut records = self.records.write().unwrap_or_else(|e| e.into_inner());
        records.sequence += 1;
        records.sequence
    }

    /// Commits the entries of `batch` whose key is in `part`, atomically: if a condition of
    /// one of them fails nothing is written ([`StoreError::Conflict`] naming those keys, none
    /// written); else they are written with `sequence` (from [`MemoryStore::reserve_sequence`]).
    /// Entries outside `part` are ignored, whatever their conditions.
    ///
    /// For models of stores that are atomic per part (per region, like a Redis Cluster):
    /// calling it once per part with one reserved sequence commits a batch the way they do.
    ///
    /// # Runtime
    /// O(entries · log records), under the store's write lock.
    pub fn commit_part(
        &self,
        batch: &WriteBatch,
        part: &dyn Fn(MortonKey) -> bool,
        sequence: u64,
    ) -> Result<CommitReceipt, StoreError> {
        batch.check()?;
        let start = Instant::now();
        let mut records = self.records.write().unwrap_or_else(|e| e.into_inner());
        let conflicts: Vec<ChunkKey> = batch
            .conditions()
            .iter()
            .filter(|(k, expect)| part(*k) && !expect.matches(records.map.get(k).map(|s| s.record.as_slice())))
            .map(|(k, _)| k.to_chunk())
            .collect();
        if !conflicts.is_empty() {
            return Err(StoreError::Conflict { keys: conflicts, written: Vec::new(), sequence: 0 });
        }
        records.sequence = records.sequence.max(sequence);
        let mut entries = 0;
        for (k, rec) in batch.iter_with_summaries().filter(|(k, _)| part(*k)) {
            entries += 1;
            match rec {
                Some(put) => {
                    let mut record = Vec::with_capacity(put.record.len());
                    codec::seal_into(put.record, self.world, sequence, &mut record);
                    records.map.insert(k, Stored { record, summary: put.summary.to_vec() });
                }
                None => {
                    records.map.remove(&k);
                }
            }
        }
        Ok(CommitReceipt { entries, bytes: batch.encoded_bytes(), duration: start.elapsed(), sequence })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn contract() {
        super::super::contract::run(&super::MemoryStore::new());
    }

    #[test]
    fn scan_can_stop_early() {
        use super::*;
        use crate::{Chunk, ChunkKey, MaterialId};
        use std::ops::ControlFlow;
        let s = MemoryStore::new();
        let mut b = WriteBatch::new();
        for x in 0..10 {
            b.put(ChunkKey::new(x, 0, 0), &Chunk::Uniform(MaterialId(1)));
        }
        s.commit(&b).unwrap();
        let mut n = 0;
        s.scan(super::super::full_range(), &mut |_, _| {
            n += 1;
            if n == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .unwrap();
        assert_eq!(n, 3);
    }
}
