//! A store seen through a material palette: the save keeps its own material ids, the world
//! sees the registry's ([`crate::palette`]). Opened by [`open_with_palette`].

use super::{
    ChunkCellVisitor, ChunkStore, CommitReceipt, LogPosition, LogRead, ScanVisitor, StoreError, StoreStats,
    StoredChunk, SummaryVisitor, WriteBatch,
};
use crate::chunk::Chunk;
use crate::codec::{self, ChunkEncoder, RecordHome, WorldId};
use crate::coords::ChunkKey;
use crate::material::MaterialRegistry;
use crate::morton::MortonKey;
use crate::palette::{IdMap, Palette, PaletteRules, reconcile};
use crate::summary_record::StoredSummary;
use std::ops::RangeInclusive;
use std::sync::Arc;

/// Attempts at recording a palette while other writers record theirs.
const SWAP_ATTEMPTS: usize = 16;

/// Opens `store` for a world whose materials are `registry`: reads the save's palette,
/// reconciles it with the registry ([`reconcile`], following `rules`), records the result
/// (new materials join the save's palette; compare-and-set, so several servers opening one
/// shared world agree) and returns the store itself when the save's ids are the registry's, or
/// a [`RemappedStore`] that translates every record read and written.
///
/// A read-only store is reconciled but its palette is not recorded (nothing is written through
/// it anyway).
///
/// # Errors
/// [`StoreError::Palette`] when the save holds a material the registry no longer defines (and
/// no rule replaces it) or its recorded palette is malformed; the store's own errors reading or
/// recording the palette.
pub fn open_with_palette(
    store: Arc<dyn ChunkStore>,
    registry: &MaterialRegistry,
    rules: &PaletteRules,
) -> Result<Arc<dyn ChunkStore>, StoreError> {
    for _ in 0..SWAP_ATTEMPTS {
        let saved = store.palette()?;
        let reconciled = reconcile(saved.as_ref(), registry, rules)?;
        if saved.as_ref() != Some(&reconciled.palette) {
            match store.swap_palette(saved.as_ref(), &reconciled.palette) {
                Ok(true) | Err(StoreError::ReadOnly) => {}
                Ok(false) => continue,
                Err(e) => return Err(e),
            }
        }
        return Ok(match reconciled.map {
            None => store,
            Some(map) => Arc::new(RemappedStore::new(store, map)),
        });
    }
    Err(StoreError::Unavailable(format!(
        "the save's material palette changed under {SWAP_ATTEMPTS} attempts to record it (other writers recording theirs)"
    )))
}

/// A [`ChunkStore`] whose records hold the save's material ids, read and written in the
/// registry's through an [`IdMap`].
///
/// # Runtime
/// Decoded reads ([`ChunkStore::get_stored`] and the rest) cost one remapping pass per dense
/// chunk (`codec.decode_dense_32_remapped`). Raw records ([`ChunkStore::get_record`],
/// [`ChunkStore::scan`]) and commits are decoded, remapped and encoded again (one lz4
/// compression per dense chunk). Summaries are remapped in place when the map keeps the order
/// of the chunk's ids ([`StoredSummary::remapped`]), else made again from the chunk.
pub struct RemappedStore {
    inner: Arc<dyn ChunkStore>,
    map: IdMap,
}

impl RemappedStore {
    /// `inner` seen through `map`.
    pub fn new(inner: Arc<dyn ChunkStore>, map: IdMap) -> Self {
        Self { inner, map }
    }

    /// The map.
    pub fn map(&self) -> &IdMap {
        &self.map
    }

    /// A chunk of the save in the registry's ids.
    fn chunk_to_registry(&self, mut chunk: Chunk) -> Chunk {
        self.map.chunk_to_registry(&mut chunk);
        chunk.normalize();
        chunk
    }

    /// A raw record of the save as the registry reads it: decoded, remapped, encoded and sealed
    /// again with the same world and sequence. A record that does not decode where it was read
    /// is handed on as it is (its reader reports it).
    fn record_to_registry(&self, key: MortonKey, record: Vec<u8>) -> Vec<u8> {
        let home = self.inner.home(key);
        let Ok(d) = codec::decode_full_at(&record, home) else { return record };
        let chunk = self.chunk_to_registry(d.chunk);
        let mut side = d.side;
        side.remap(|m| self.map.to_registry(m));
        let mut unsealed = Vec::new();
        ChunkEncoder::new().encode_full(key, &chunk, &d.history, &side, &mut unsealed);
        let mut out = Vec::with_capacity(unsealed.len());
        codec::seal_into(&unsealed, home.world, d.sequence, &mut out);
        out
    }

    /// `summary` in the registry's ids, made from the chunk's record when it cannot be
    /// remapped in place.
    fn summary_to_registry(&self, key: MortonKey, summary: StoredSummary) -> Result<StoredSummary, codec::DecodeError> {
        if let Some(s) = summary.remapped(&self.map) {
            return Ok(s);
        }
        let home = self.inner.home(key);
        // Deleted or unreadable meanwhile: there is no chunk to summarise.
        let Ok(Some(record)) = self.inner.get_record(key) else { return Err(codec::DecodeError::Deletion) };
        let (chunk, history, _) = codec::decode_stored_at(&record, home)?;
        Ok(StoredSummary::of(&self.chunk_to_registry(chunk), history, summary.up()))
    }
}

impl ChunkStore for RemappedStore {
    fn world_id(&self) -> WorldId {
        self.inner.world_id()
    }

    fn home(&self, key: MortonKey) -> RecordHome {
        self.inner.home(key)
    }

    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inner.get_record(key)?.map(|r| self.record_to_registry(key, r)))
    }

    fn get_records(&self, keys: &[MortonKey]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let records = self.inner.get_records(keys)?;
        Ok(keys.iter().zip(records).map(|(k, r)| r.map(|r| self.record_to_registry(*k, r))).collect())
    }

    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        self.inner.scan(range, &mut |key, record| visit(key, &self.record_to_registry(key, record.to_vec())))
    }

    fn scan_summaries(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut SummaryVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.inner.scan_summaries(range, &mut |key, summary| {
            visit(key, summary.and_then(|s| self.summary_to_registry(key, s)))
        })
    }

    fn scan_chunk_cells(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut ChunkCellVisitor<'_>,
    ) -> Result<(), StoreError> {
        // The cell alone cannot tell whether remapping it in place is exact: from the summary.
        self.scan_summaries(range, &mut |key, summary| visit(key, summary.map(|s| s.stored_cell())))
    }

    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        batch.check()?;
        let world = self.inner.world_id();
        let mut out = WriteBatch::for_world(batch.up());
        for (key, put) in batch.iter() {
            let chunk_key = key.to_chunk();
            let Some(record) = put else {
                out.delete(chunk_key);
                continue;
            };
            // Records that belong elsewhere (sealed for another world, encoded for another key)
            // stay as they are, and so do records that do not decode: the store reports them
            // on read, as without a palette.
            let ours = codec::claimed_place(record)
                .is_none_or(|(h, _)| h.key == key && (h.world == WorldId::UNSEALED || h.world == world));
            match codec::decode_full(record) {
                Ok(d) if ours => {
                    let mut chunk = d.chunk;
                    self.map.chunk_to_store(&mut chunk);
                    chunk.normalize();
                    let mut side = d.side;
                    side.remap(|m| self.map.to_store(m));
                    out.put_full(chunk_key, &chunk, &d.history, &side, None);
                }
                _ => out.put_record(key, record),
            }
        }
        for &(key, expect) in batch.conditions() {
            out.push_condition(key, expect);
        }
        self.inner.commit(&out)
    }

    fn sync_count(&self) -> Option<u64> {
        self.inner.sync_count()
    }

    fn change_log_end(&self) -> Result<Option<LogPosition>, StoreError> {
        self.inner.change_log_end()
    }

    fn read_change_log(&self, from: &LogPosition, limit: usize) -> Result<LogRead, StoreError> {
        self.inner.read_change_log(from, limit)
    }

    fn get_stored(&self, key: ChunkKey) -> Result<Option<StoredChunk>, StoreError> {
        Ok(self.inner.get_stored(key)?.map(|mut s| {
            s.side.remap(|m| self.map.to_registry(m));
            StoredChunk { chunk: self.chunk_to_registry(s.chunk), ..s }
        }))
    }

    fn get_many(&self, keys: &[ChunkKey]) -> Result<Vec<Option<Chunk>>, StoreError> {
        Ok(self.inner.get_many(keys)?.into_iter().map(|c| c.map(|c| self.chunk_to_registry(c))).collect())
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        self.inner.stats()
    }

    fn palette(&self) -> Result<Option<Palette>, StoreError> {
        self.inner.palette()
    }

    fn game_data(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.game_data(name)
    }

    fn set_game_data(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        self.inner.set_game_data(name, value)
    }

    fn swap_palette(&self, expected: Option<&Palette>, new: &Palette) -> Result<bool, StoreError> {
        self.inner.swap_palette(expected, new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::material::MaterialId;
    use crate::store::MemoryStore;
    use crate::store::contract::registry;

    /// The map of a save that numbered material `m{i}` as `save_id(i)`, read with a registry
    /// numbering it `i` (1..=40).
    fn map(save_id: impl Fn(u16) -> u16) -> IdMap {
        let names: Vec<String> = (1..=40).map(|i| format!("m{i}")).collect();
        let reg = registry(&(1..=40).map(|i| (i, names[i as usize - 1].as_str())).collect::<Vec<_>>());
        let saved =
            Palette::new(std::iter::once((0, "air".to_owned())).chain((1..=40).map(|i| (save_id(i), format!("m{i}")))))
                .unwrap();
        reconcile(Some(&saved), &reg, &PaletteRules::new()).unwrap().map.expect("the numbering differs")
    }

    #[test]
    fn a_remapped_store_keeps_the_store_contract() {
        // Reversed (summaries made again from the chunks) and shifted (remapped in place).
        for map in [map(|i| 41 - i), map(|i| i + 100)] {
            crate::store::contract::run(&RemappedStore::new(Arc::new(MemoryStore::new()), map));
        }
    }

    #[test]
    fn the_save_keeps_its_ids_and_the_world_sees_the_registry() {
        let inner = Arc::new(MemoryStore::new());
        let store = RemappedStore::new(inner.clone(), map(|i| 41 - i));
        let k = ChunkKey::new(1, 2, 3);
        let mut batch = WriteBatch::new();
        batch.put(k, &Chunk::Uniform(MaterialId(4)));
        store.commit(&batch).unwrap();
        assert_eq!(inner.get(k).unwrap(), Some(Chunk::Uniform(MaterialId(37))), "stored in the save's ids");
        assert_eq!(store.get(k).unwrap(), Some(Chunk::Uniform(MaterialId(4))));
        let raw = store.get_record(k.morton()).unwrap().unwrap();
        assert_eq!(codec::decode_at(&raw, store.home(k.morton())).unwrap().0, Chunk::Uniform(MaterialId(4)));
        // Block data remembers its voxel's material: in the save's ids too.
        let mut side = crate::ChunkSide::new();
        side.set_block(crate::LocalIndex::new(9), MaterialId(4), Some(b"chest".to_vec().into()));
        batch.clear();
        batch.put_full(k, &Chunk::Uniform(MaterialId(4)), &crate::ProcessHistory::EMPTY, &side, None);
        store.commit(&batch).unwrap();
        let saved = inner.get_stored(k).unwrap().unwrap().side;
        assert_eq!(saved.block(crate::LocalIndex::new(9)).unwrap().material, MaterialId(37));
        assert_eq!(store.get_stored(k).unwrap().unwrap().side, side);
    }

    #[test]
    fn palettes_of_a_memory_store() {
        let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
        crate::store::contract::palettes(&|| store.clone());
        let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
        crate::store::contract::concurrent_palettes(&|| store.clone());
        let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
        crate::store::contract::game_data(&|| store.clone());
        // Through a palette too.
        let store: Arc<dyn ChunkStore> = Arc::new(RemappedStore::new(Arc::new(MemoryStore::new()), map(|i| 41 - i)));
        crate::store::contract::game_data(&|| store.clone());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

        /// A summary remapped in place is the summary of the remapped chunk, or refuses.
        #[test]
        fn a_summary_remapped_in_place_is_the_summary_of_the_remapped_chunk(
            seed in proptest::prelude::any::<u64>(),
            shift in 1u16..3,
            up in 0usize..6,
        ) {
            let mut state = seed | 1;
            let mut next = move || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
            // Save ids: mostly a shift of the registry's (monotone), sometimes with two swapped.
            let swap = (next() % 3 == 0).then(|| ((next() % 6 + 1) as u16, (next() % 6 + 1) as u16));
            let save_id = move |i: u16| match swap {
                Some((a, b)) if i == a => b + 100 * shift,
                Some((a, b)) if i == b => a + 100 * shift,
                _ => i + 100 * shift,
            };
            let map = map(save_id);
            let up = crate::Up::ALL[up];
            // A chunk in the save's ids: air or materials 1..=6, noise or runs (so that blocks of
            // 8 are often equal or tied).
            let runs = next() % 2 == 0;
            let chunk = Chunk::Dense(crate::chunk::DenseChunk::from_fn(|p| {
                let k = if runs { u16::from(p.y / 3 % 7) } else { (next() % 7) as u16 };
                MaterialId(if k == 0 { 0 } else { save_id(k) })
            }));
            let stored = StoredSummary::of(&chunk, crate::ProcessHistory::EMPTY, up);
            let mut remapped = chunk.clone();
            map.chunk_to_registry(&mut remapped);
            if let Some(s) = stored.remapped(&map) {
                proptest::prop_assert_eq!(s, StoredSummary::of(&remapped, crate::ProcessHistory::EMPTY, up));
            }
        }
    }
}
