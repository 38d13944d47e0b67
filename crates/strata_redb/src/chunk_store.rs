//! The `ChunkStore` implementation: reads, scans and durable commits.

use super::*;
use crate::contain::{call_visitor, resume_visitor};
use strata_core::palette::{PALETTE_META, Palette};

/// Meta names of the game's values ([`ChunkStore::game_data`]).
const GAME_DATA_PREFIX: &str = "game/";

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes.chunks_exact(2).map(|p| Some(digit(p[0])? << 4 | digit(p[1])?)).collect()
}

/// The chunk record at a key, read on demand (inside the scan's read transaction).
pub(crate) type RecordReader<'a> = dyn Fn() -> Result<Option<Vec<u8>>, StoreError> + 'a;
/// What [`RedbStore::scan_summary_table`] calls per stored summary.
pub(crate) type SummaryEach<'a> =
    dyn FnMut(MortonKey, &[u8], &RecordReader<'_>) -> Result<ControlFlow<()>, StoreError> + 'a;

impl RedbStore {
    /// Calls `each` with every stored summary in `range`, in key order, and a reader of the
    /// chunk record under the same key, in one read transaction, until it breaks.
    pub(crate) fn scan_summary_table(
        &self,
        range: RangeInclusive<MortonKey>,
        each: &mut SummaryEach<'_>,
    ) -> Result<(), StoreError> {
        self.contain("scanning summaries", || {
            let txn = self.database()?.begin_read().db()?;
            let summaries = txn.open_table(SUMMARIES).db()?;
            let chunks = txn.open_table(CHUNKS).db()?;
            for item in summaries.range(range.start().0..=range.end().0).db()? {
                let (k, v) = item.db()?;
                let key = MortonKey(k.value());
                let record = || Ok(chunks.get(key.0).db()?.map(|g| g.value().to_vec()));
                if each(key, v.value(), &record)?.is_break() {
                    break;
                }
            }
            Ok(())
        })
    }
}

impl ChunkStore for RedbStore {
    fn world_id(&self) -> WorldId {
        self.world
    }

    /// The meta value [`PALETTE_META`], checksummed like every meta record.
    fn palette(&self) -> Result<Option<Palette>, StoreError> {
        self.meta(PALETTE_META)?.map(|text| Palette::from_text(&text)).transpose().map_err(StoreError::Palette)
    }

    /// The meta value `game/<name>`, the bytes as hex (a checksummed meta record: a flipped bit
    /// is damage, and `strata salvage` recovers it with the rest).
    fn game_data(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(text) = self.meta(&format!("{GAME_DATA_PREFIX}{name}"))? else { return Ok(None) };
        from_hex(&text).map(Some).ok_or_else(|| self.damaged(format!("game value {name:?} is not hex")))
    }

    fn set_game_data(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        strata_core::store::check_game_data(name, value)?;
        let key = format!("{GAME_DATA_PREFIX}{name}");
        match value {
            Some(v) => self.set_meta(&key, &to_hex(v)),
            None => self.remove_meta(&key),
        }
    }

    /// In one write transaction: reads the palette, compares, writes.
    fn swap_palette(&self, expected: Option<&Palette>, new: &Palette) -> Result<bool, StoreError> {
        self.write_meta(PALETTE_META, &new.to_text(), |now| {
            let now = now.map(Palette::from_text).transpose()?;
            Ok(now.as_ref() == expected)
        })
    }

    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.contain("reading a record", || {
            let txn = self.database()?.begin_read().db()?;
            let table = txn.open_table(CHUNKS).db()?;
            let v = table.get(key.0).db()?.map(|g| g.value().to_vec());
            Ok(v)
        })
    }

    fn get(&self, key: ChunkKey) -> Result<Option<Chunk>, StoreError> {
        Ok(self.get_with_history(key)?.map(|(chunk, _)| chunk))
    }

    /// Decoded inside the contained call, so a damaged record marks the store as having met
    /// damage (see [`RedbStore::close`]).
    fn get_stored(&self, key: ChunkKey) -> Result<Option<StoredChunk>, StoreError> {
        checked_morton(key)?;
        self.contain("reading a record", || {
            let txn = self.database()?.begin_read().db()?;
            let table = txn.open_table(CHUNKS).db()?;
            match table.get(key.morton().0).db()? {
                None => Ok(None),
                Some(g) => decode_stored(g.value(), self.home(key.morton()), key).map(Some),
            }
        })
    }

    /// All keys in one read transaction (the default would open one per key).
    fn get_many(&self, keys: &[ChunkKey]) -> Result<Vec<Option<Chunk>>, StoreError> {
        for &key in keys {
            checked_morton(key)?;
        }
        self.contain("reading records", || {
            let txn = self.database()?.begin_read().db()?;
            let table = txn.open_table(CHUNKS).db()?;
            keys.iter()
                .map(|&key| match table.get(key.morton().0).db()? {
                    None => Ok(None),
                    Some(g) => codec::decode_at(g.value(), self.home(key.morton()))
                        .map(|(chunk, _)| Some(chunk))
                        .map_err(|source| StoreError::Corrupt { key, source }),
                })
                .collect()
        })
    }

    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        let mut caller_panic = None;
        let result = self.contain("scanning records", || {
            let txn = self.database()?.begin_read().db()?;
            let table = txn.open_table(CHUNKS).db()?;
            for item in table.range(range.start().0..=range.end().0).db()? {
                let (k, v) = item.db()?;
                // Read out of the page here: a panic there is the file's, not the visitor's.
                let (key, record) = (MortonKey(k.value()), v.value());
                if call_visitor(&mut caller_panic, || visit(key, record)).is_break() {
                    break;
                }
            }
            Ok(())
        });
        resume_visitor(caller_panic, result)
    }

    /// Reads the `summaries` table only; a summary that is missing or damaged is made again
    /// from the chunk record (same read transaction).
    fn scan_summaries(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut SummaryVisitor<'_>,
    ) -> Result<(), StoreError> {
        let mut caller_panic = None;
        let mut guarded = |k: MortonKey, s| call_visitor(&mut caller_panic, || visit(k, s));
        let result = self.scan_summary_table(range, &mut |key, stored, record| {
            visit_summary(self.home(key), Some(stored), record, &mut guarded)
        });
        resume_visitor(caller_panic, result)
    }

    /// Reads the `summaries` table only (each summary's header and checksum); falls back to
    /// the chunk record like [`ChunkStore::scan_summaries`].
    fn scan_chunk_cells(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut ChunkCellVisitor<'_>,
    ) -> Result<(), StoreError> {
        let mut caller_panic = None;
        let mut guarded = |k: MortonKey, c| call_visitor(&mut caller_panic, || visit(k, c));
        let result = self.scan_summary_table(range, &mut |key, stored, record| {
            visit_chunk_cell(self.home(key), Some(stored), record, &mut guarded)
        });
        resume_visitor(caller_panic, result)
    }

    /// One write transaction: the commit's sequence number (the last one plus one), every put
    /// sealed with it and the world id, its summary beside it and any deletion record of its
    /// key removed; every delete removes record and summary and stores a sealed deletion
    /// record; the identity table's counts and digest follow what was inserted, replaced and
    /// removed.
    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        batch.check()?;
        let start = Instant::now();
        let sequence = self.contain("committing", || {
            // Dropping an uncommitted redb transaction aborts it, so an early `?` leaves the
            // store unchanged.
            let txn = self.database()?.begin_write()?;
            let sequence = {
                let mut identity_table = txn.open_table(IDENTITY).db()?;
                let mut identity = self.read_identity(&identity_table)?;
                identity.sequence += 1;
                let sequence = identity.sequence;
                let mut table = txn.open_table(CHUNKS).db()?;
                let mut summaries = txn.open_table(SUMMARIES).db()?;
                let mut deleted = txn.open_table(DELETED).db()?;
                let mut any_deleted = !deleted.is_empty().db()?;
                let mut conflicts = Vec::new();
                for &(k, expect) in batch.conditions() {
                    if !expect.matches(table.get(k.0).db()?.as_ref().map(|g| g.value())) {
                        conflicts.push(k.to_chunk());
                    }
                }
                if !conflicts.is_empty() {
                    // Dropping the transaction aborts it: nothing of the batch is written.
                    return Err(StoreError::Conflict { keys: conflicts, written: Vec::new(), sequence: 0 });
                }
                let mut sealed = Vec::new();
                // One write per key (the batch's last entry for it): two copies of a key with
                // the same sequence number could not be told apart by a salvage.
                let mut last: rustc_hash::FxHashMap<MortonKey, usize> = Default::default();
                for (i, (k, _)) in batch.iter().enumerate() {
                    last.insert(k, i);
                }
                for (i, (k, rec)) in batch.iter_with_summaries().enumerate() {
                    if last.get(&k) != Some(&i) {
                        continue;
                    }
                    sealed.clear();
                    match rec {
                        Some(put) => {
                            codec::seal_into(put.record, self.world, sequence, &mut sealed);
                            if let Some(old) = table.insert(k.0, sealed.as_slice()).db()? {
                                identity.remove_chunk(k, old.value());
                            }
                            identity.add_chunk(k, &sealed);
                            summaries.insert(k.0, put.summary).db()?;
                            if any_deleted {
                                deleted.remove(k.0).db()?;
                            }
                        }
                        None => {
                            if let Some(old) = table.remove(k.0).db()? {
                                identity.remove_chunk(k, old.value());
                            }
                            summaries.remove(k.0).db()?;
                            let mut deletion = Vec::new();
                            codec::encode_deletion(k, &mut deletion);
                            codec::seal_into(&deletion, self.world, sequence, &mut sealed);
                            deleted.insert(k.0, sealed.as_slice()).db()?;
                            any_deleted = true;
                        }
                    }
                }
                identity.write(&mut identity_table).db()?;
                sequence
            };
            txn.commit().db()?;
            Ok(sequence)
        })?;
        Ok(CommitReceipt { entries: batch.len(), bytes: batch.encoded_bytes(), duration: start.elapsed(), sequence })
    }

    fn sync_count(&self) -> Option<u64> {
        Some(self.syncs.load(Ordering::Relaxed))
    }
}
