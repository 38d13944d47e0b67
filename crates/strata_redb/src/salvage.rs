//! Recovering the intact records of a save whose database structure is damaged or destroyed.
//!
//! Every chunk record (and deletion record) of [format version 3](strata_core::codec) and every
//! [meta record](strata_core::meta_record) carries its world, its key (or name), the sequence number
//! of the commit that wrote it and a checksum over all of it, so it is recognisable and
//! verifiable on its own. [`scan`] reads a file from start to end — whatever its B-trees,
//! headers and allocator state look like — and keeps, per key, the newest intact copy: redb
//! stores each value contiguously in a page, and copy-on-write leaves older copies in freed
//! pages (those are superseded, by sequence). [`Salvage::write_save`] writes what was found
//! into a fresh save of the same world.
//!
//! What it reports, per key: **recovered** (the newest intact copy), **stale** (recovered,
//! but a damaged copy with a higher sequence number was found: a newer version was lost),
//! **lost** (only damaged copies were found), **deleted** (the newest intact copy is a
//! deletion record). Damaged copies are told by a header that parses (magic, version, lengths)
//! and a checksum that does not match; their key and sequence are read unverified, so they only
//! ever make the report more cautious.
//!
//! Records of versions 1 and 2 (saves written before version 3) carry no key and cannot be
//! placed: they are counted, not recovered — open such a save writable once and commit, or
//! salvage it while its B-tree still reads.
//!
//! # Runtime
//! One pass over the file in 16 MiB windows, O(file bytes) for finding magics, plus one
//! checksum per candidate record. Memory: one window plus a few dozen bytes per key found
//! (where its newest copy lies, not its bytes), whatever the file's size or how many older
//! copies it holds; [`Salvage::write_save`] reads each recovered record again from the file.

use super::RedbStoreOptions;
use crate::RedbStore;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use strata_core::MortonKey;
use strata_core::codec::{self, RecordHome, RecordKind, WorldId};
use strata_core::meta_record;
use strata_core::store::{ChunkStore, StoreError, WriteBatch};

/// Bytes read per step of [`scan`] (a window also holds the overlap below).
const WINDOW: usize = 16 << 20;
/// Bytes a window overlaps the next: every record is shorter, so each is seen whole once.
const OVERLAP: usize = codec::MAX_RECORD_LEN;

/// Where the newest intact copy of one chunk's record lies in the file
/// ([`Salvage::record`] reads it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// The commit that wrote it.
    pub sequence: u64,
    /// Where it starts in the file.
    pub offset: u64,
    /// Its length in bytes (a sealed chunk record).
    pub len: usize,
}

/// What [`scan`] found in a file.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Salvage {
    /// The world the recovered records belong to: the one given, else the world of most
    /// intact records (`None` if none was found).
    pub world: Option<WorldId>,
    /// Per chunk, the newest intact copy of its record (deleted chunks not included).
    pub chunks: BTreeMap<MortonKey, Found>,
    /// Per name, the newest intact meta value and its sequence number.
    pub meta: BTreeMap<String, (String, u64)>,
    /// Chunks recovered from an older copy: a damaged copy with a higher sequence exists.
    pub stale: Vec<MortonKey>,
    /// Chunks of which only damaged copies were found.
    pub lost: Vec<MortonKey>,
    /// Chunks whose newest intact copy is a deletion record.
    pub deleted: Vec<MortonKey>,
    /// Older intact copies skipped because a newer one was found.
    pub superseded: u64,
    /// Intact records of other worlds, skipped.
    pub foreign: u64,
    /// Intact records of format versions 1 and 2 (no key: they cannot be placed).
    pub unplaced: u64,
    /// Bytes read.
    pub bytes_scanned: u64,
    /// The file scanned.
    path: PathBuf,
}

/// The newest intact chunk or deletion record of one key (of one world) found so far.
#[derive(Clone, Copy)]
struct Candidate {
    sequence: u64,
    deletion: bool,
    offset: u64,
    len: usize,
}

/// Reads the file at `path` from start to end and collects its intact records (see the module
/// docs). `world`: the world to recover (e.g. read from the damaged save's identity when it
/// still opens); `None` chooses the world most intact records belong to.
pub fn scan(path: &Path, world: Option<WorldId>) -> std::io::Result<Salvage> {
    let mut file = std::fs::File::open(path)?;
    let len = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    let mut found = Scanner::default();
    let mut window: Vec<u8> = Vec::with_capacity(WINDOW + OVERLAP);
    // `window` holds the file from `start`; candidates starting before `done` were seen.
    let mut start = 0u64;
    loop {
        let keep = window.len();
        window.resize(keep + WINDOW, 0);
        let n = read_full(&mut file, &mut window[keep..])?;
        window.truncate(keep + n);
        let at_end = start + window.len() as u64 >= len || n == 0;
        // Records that start in the first part are complete unless the window is cut short.
        let scan_to = if at_end { window.len() } else { window.len().saturating_sub(OVERLAP) };
        found.scan(&window, start, scan_to);
        if at_end {
            break;
        }
        window.drain(..scan_to);
        start += scan_to as u64;
    }
    Ok(found.finish(world, len, path))
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// What a scan keeps, per world: nothing of a record but where its newest copy lies.
#[derive(Default)]
struct Scanner {
    /// Per world and key, the newest intact copy.
    newest: HashMap<(WorldId, MortonKey), Candidate>,
    /// Intact records per world (the votes for which world a file holds).
    intact: HashMap<WorldId, u64>,
    /// Intact copies per world older than another of their key.
    superseded: HashMap<WorldId, u64>,
    /// Damaged copies: per claimed world and key, the highest claimed sequence (unverified).
    damaged: HashMap<(WorldId, MortonKey), u64>,
    /// Per world and name, the newest meta value and its sequence number.
    metas: HashMap<(WorldId, String), (String, u64)>,
    unplaced: u64,
}

impl Scanner {
    /// Looks at every candidate that starts in `bytes[..scan_to]` (`bytes` starts at file
    /// offset `base`).
    fn scan(&mut self, bytes: &[u8], base: u64, scan_to: usize) {
        let mut from = 0;
        while let Some(i) = memchr::memchr(b'S', &bytes[from..scan_to]).map(|i| i + from) {
            from = i + 1;
            let rest = &bytes[i..];
            if rest.starts_with(&codec::MAGIC) {
                self.chunk_record(rest, base + i as u64);
            } else if rest.starts_with(&meta_record::META_MAGIC)
                && let Some(len) = meta_record::declared_len(rest)
                && let Some(rec) = rest.get(..len)
                && let Ok(m) = meta_record::decode(rec)
            {
                match self.metas.get_mut(&(m.world, m.name.to_owned())) {
                    Some(newest) if newest.1 >= m.sequence => {}
                    Some(newest) => *newest = (m.value.to_owned(), m.sequence),
                    None => {
                        self.metas.insert((m.world, m.name.to_owned()), (m.value.to_owned(), m.sequence));
                    }
                }
            }
        }
    }

    fn chunk_record(&mut self, rest: &[u8], offset: u64) {
        // A version-3 header's claims (unverified), kept if the record turns out damaged.
        let claims = codec::claimed_place(rest);
        let record = codec::declared_len(rest).filter(|l| *l <= codec::MAX_RECORD_LEN).and_then(|l| rest.get(..l));
        match record.map(|rec| (rec.len(), codec::parse_record(rec))) {
            Some((len, Ok((header, _)))) => match header.home {
                Some(home) => {
                    *self.intact.entry(home.world).or_default() += 1;
                    let found = Candidate {
                        sequence: header.sequence,
                        deletion: header.kind == RecordKind::Deletion,
                        offset,
                        len,
                    };
                    match self.newest.get_mut(&(home.world, home.key)) {
                        None => {
                            self.newest.insert((home.world, home.key), found);
                        }
                        Some(newest) => {
                            *self.superseded.entry(home.world).or_default() += 1;
                            if found.sequence > newest.sequence {
                                *newest = found;
                            }
                        }
                    }
                }
                None => self.unplaced += 1,
            },
            // A version-3 header whose checksum (or length) fails: a damaged copy.
            _ => {
                if let Some((home, sequence)) = claims {
                    let claimed = self.damaged.entry((home.world, home.key)).or_default();
                    *claimed = (*claimed).max(sequence);
                }
            }
        }
    }

    fn finish(self, world: Option<WorldId>, bytes_scanned: u64, path: &Path) -> Salvage {
        let world = world.or_else(|| {
            self.intact
                .iter()
                .filter(|(w, _)| **w != WorldId::UNSEALED)
                .max_by_key(|(w, n)| (**n, **w))
                .map(|(w, _)| *w)
        });
        let mut out =
            Salvage { world, unplaced: self.unplaced, bytes_scanned, path: path.to_owned(), ..Salvage::default() };
        let all: u64 = self.intact.values().sum();
        let Some(world) = world else {
            out.foreign = all;
            return out;
        };
        out.foreign = all - self.intact.get(&world).copied().unwrap_or(0);
        out.superseded = self.superseded.get(&world).copied().unwrap_or(0);
        // Newest intact copy per key (chunk or deletion), in key order.
        let newest: BTreeMap<MortonKey, Candidate> =
            self.newest.into_iter().filter(|((w, _), _)| *w == world).map(|((_, k), c)| (k, c)).collect();
        let damaged: BTreeMap<MortonKey, u64> =
            self.damaged.into_iter().filter(|((w, _), _)| *w == world).map(|((_, k), s)| (k, s)).collect();
        for (key, damaged_seq) in &damaged {
            match newest.get(key) {
                None => out.lost.push(*key),
                Some(c) if *damaged_seq > c.sequence && !c.deletion => out.stale.push(*key),
                Some(_) => {}
            }
        }
        for (key, c) in newest {
            if c.deletion {
                out.deleted.push(key);
            } else {
                out.chunks.insert(key, Found { sequence: c.sequence, offset: c.offset, len: c.len });
            }
        }
        out.meta = self.metas.into_iter().filter(|((w, _), _)| *w == world).map(|((_, name), v)| (name, v)).collect();
        out
    }
}

/// What [`Salvage::write_save`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// Chunk records written.
    pub chunks: u64,
    /// Meta values written.
    pub metas: u64,
}

impl Salvage {
    /// The recovered record of `key` (a sealed chunk record), read again from the scanned
    /// file and checked (it must still be an intact record of this world for `key`). `None`:
    /// nothing was recovered for `key`.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the file cannot be read; [`StoreError::Corrupt`] or
    /// [`StoreError::Backend`] if what is at the recorded place is no longer that record (the
    /// file changed since the scan).
    pub fn record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(found) = self.chunks.get(&key) else { return Ok(None) };
        let mut file = std::fs::File::open(&self.path)?;
        self.read_record(&mut file, key, found).map(|(record, ..)| Some(record))
    }

    /// Reads `found` (the record of `key`) from `file`, decodes it and checks it is still what
    /// the scan found there.
    fn read_record(
        &self,
        file: &mut std::fs::File,
        key: MortonKey,
        found: &Found,
    ) -> Result<(Vec<u8>, codec::DecodedRecord), StoreError> {
        let mut record = vec![0; found.len];
        file.seek(SeekFrom::Start(found.offset))?;
        file.read_exact(&mut record)?;
        let home = RecordHome { world: self.world.unwrap_or_default(), key };
        let decoded = codec::decode_full_at(&record, home)
            .map_err(|source| StoreError::Corrupt { key: key.to_chunk(), source })?;
        let sequence = decoded.sequence;
        if sequence != found.sequence {
            return Err(StoreError::Backend(strata_core::store::BackendError::Inconsistent(format!(
                "{}: the record of chunk {:?} changed since the scan (sequence {sequence}, was {})",
                self.path.display(),
                key.to_chunk(),
                found.sequence
            ))));
        }
        Ok((record, decoded))
    }

    /// Writes the recovered chunks (re-encoded, with fresh summaries) and meta values into a
    /// new save at `out`, of the same world. Refuses to overwrite an existing file. On an
    /// error (the scanned file changed or cannot be read, the new save cannot be written) the
    /// new save is removed: it is all or nothing, and the scanned file is only ever read.
    ///
    /// # Runtime
    /// One read (in file order), decode and encode per recovered chunk, in commits of 1,024
    /// chunks: memory for one commit, whatever the number of chunks.
    pub fn write_save(&self, out: &Path) -> Result<Written, StoreError> {
        if out.exists() {
            return Err(StoreError::InvalidConfig(format!("{} exists: salvage writes a new save", out.display())));
        }
        let Some(world) = self.world else {
            return Err(StoreError::InvalidConfig("no intact record was found: nothing to write".into()));
        };
        let store = RedbStore::open_with(out, RedbStoreOptions { new_world_id: Some(world), ..Default::default() })?;
        let result = self.write_into(&store);
        let closed = store.close();
        match result.and_then(|w| closed.map(|()| w)) {
            Ok(written) => Ok(written),
            Err(e) => {
                // Best effort: the error says what went wrong; a half-written save must not
                // pass for a salvaged one.
                let _ = std::fs::remove_file(out);
                Err(e)
            }
        }
    }

    fn write_into(&self, store: &RedbStore) -> Result<Written, StoreError> {
        let mut batch = WriteBatch::new();
        let mut written = Written { chunks: 0, metas: 0 };
        let mut file = std::fs::File::open(&self.path)?;
        let mut in_file_order: Vec<(&MortonKey, &Found)> = self.chunks.iter().collect();
        in_file_order.sort_by_key(|(_, f)| f.offset);
        for (key, found) in in_file_order {
            // Invariant: only intact records of this world were kept; reading and decoding them
            // again checks that (and a failure here is reported, not written).
            // Game data travels in the record: re-encoded with the voxels.
            let (_, d) = self.read_record(&mut file, *key, found)?;
            batch.put_full(key.to_chunk(), &d.chunk, &d.history, &d.side, None);
            written.chunks += 1;
            if batch.len() == 1024 {
                store.commit(&batch)?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            store.commit(&batch)?;
        }
        for (name, (value, _)) in &self.meta {
            store.set_meta(name, value)?;
            written.metas += 1;
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::ChunkKey;
    use strata_core::MaterialId;
    use strata_core::{Chunk, DenseChunk};

    fn chunk(seed: u16) -> Chunk {
        Chunk::Dense(DenseChunk::from_fn(|p| {
            MaterialId(if (p.y as u16 + p.x as u16 / 4) < seed % 32 { seed } else { 0 })
        }))
    }

    /// The game data chunks 0..5 are put again with.
    fn game_data(x: i32) -> strata_core::ChunkSide {
        let mut side = strata_core::ChunkSide::new();
        side.set_block(strata_core::LocalIndex::new(x as u16), MaterialId(1), Some(vec![x as u8; 40].into()));
        side.set_entity(x as u64, Some(b"crate".to_vec().into()));
        side
    }

    /// A save with chunks 0..20 put, 0..5 put again (with game data), 15..20 deleted, and a
    /// meta value; returns it with what each chunk holds now (deleted ones absent).
    fn save(dir: &Path) -> (PathBuf, WorldId, BTreeMap<MortonKey, Chunk>) {
        let path = dir.join("w.strata");
        let store = RedbStore::open(&path).unwrap();
        let mut want = BTreeMap::new();
        let mut b = WriteBatch::new();
        for x in 0..20 {
            b.put(ChunkKey::new(x, 1, -2), &chunk(x as u16 + 3));
            want.insert(ChunkKey::new(x, 1, -2).morton(), chunk(x as u16 + 3));
        }
        store.commit(&b).unwrap();
        b.clear();
        for x in 0..5 {
            let history = strata_core::ProcessHistory::EMPTY;
            b.put_full(ChunkKey::new(x, 1, -2), &chunk(x as u16 + 40), &history, &game_data(x), None);
            want.insert(ChunkKey::new(x, 1, -2).morton(), chunk(x as u16 + 40));
        }
        for x in 15..20 {
            b.delete(ChunkKey::new(x, 1, -2));
            want.remove(&ChunkKey::new(x, 1, -2).morton());
        }
        store.commit(&b).unwrap();
        store.set_meta("generator", "(seed: 5)").unwrap();
        let world = store.world_id();
        store.close().unwrap();
        (path, world, want)
    }

    /// Byte ranges of every live record (chunks, deletions, meta values) in the file at `path`.
    fn live_ranges(path: &Path) -> Vec<std::ops::Range<usize>> {
        let bytes = std::fs::read(path).unwrap();
        let store = RedbStore::open_with(path, RedbStoreOptions { read_only: true, ..Default::default() }).unwrap();
        let mut records = Vec::new();
        let txn = store.database().unwrap().begin_read().unwrap();
        for table in [crate::CHUNKS, crate::DELETED] {
            for item in redb::ReadableTable::iter(&txn.open_table(table).unwrap()).unwrap() {
                records.push(item.unwrap().1.value().to_vec());
            }
        }
        for item in redb::ReadableTable::iter(&txn.open_table(crate::META_RECORDS).unwrap()).unwrap() {
            records.push(item.unwrap().1.value().to_vec());
        }
        records
            .iter()
            .map(|r| {
                let at = memchr::memmem::find(&bytes, r).expect("every value is stored contiguously in the file");
                at..at + r.len()
            })
            .collect()
    }

    #[test]
    fn every_live_record_comes_back_when_everything_else_is_destroyed() {
        let dir = tempfile::tempdir().unwrap();
        let (path, world, want) = save(dir.path());
        let live = live_ranges(&path);
        // Destroy the B-trees, headers and allocator state: zero every byte outside a live record.
        let mut bytes = std::fs::read(&path).unwrap();
        let mut keep = vec![false; bytes.len()];
        for r in &live {
            keep[r.clone()].iter_mut().for_each(|k| *k = true);
        }
        for (b, k) in bytes.iter_mut().zip(&keep) {
            if !k {
                *b = 0;
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        assert!(RedbStore::open(&path).is_err(), "the database structure is gone");
        let s = scan(&path, None).unwrap();
        assert_eq!(s.world, Some(world));
        assert_eq!(s.chunks.len(), want.len());
        assert!(s.lost.is_empty() && s.stale.is_empty(), "{s:?}");
        assert_eq!(s.deleted.len(), 5, "deleted chunks stay deleted");
        assert_eq!(s.meta.get("generator").map(|(v, _)| v.as_str()), Some("(seed: 5)"));
        let out = dir.path().join("recovered.strata");
        let written = s.write_save(&out).unwrap();
        assert_eq!((written.chunks, written.metas), (want.len() as u64, 1));
        let recovered = RedbStore::open(&out).unwrap();
        assert_eq!(recovered.world_id(), world);
        assert!(recovered.verify(&mut || {}).unwrap().is_clean());
        for (key, chunk) in &want {
            assert_eq!(recovered.get(key.to_chunk()).unwrap().as_ref(), Some(chunk), "{key:?}");
        }
        for x in 0..5 {
            let side = recovered.get_stored(ChunkKey::new(x, 1, -2)).unwrap().unwrap().side;
            assert_eq!(side, game_data(x), "game data is recovered with its chunk");
        }
        assert_eq!(recovered.stats().unwrap().records, want.len() as u64);
        assert_eq!(recovered.meta("generator").unwrap().as_deref(), Some("(seed: 5)"));
        assert!(s.write_save(&out).is_err(), "never overwrites");
    }

    #[test]
    fn a_damaged_newest_copy_is_reported_stale_or_lost_never_recovered_as_current() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _, want) = save(dir.path());
        let s = scan(&path, None).unwrap();
        // Intact, the scan recovers exactly the current contents.
        let got: BTreeMap<MortonKey, Chunk> = s
            .chunks
            .keys()
            .map(|k| {
                let record = s.record(*k).unwrap().unwrap();
                (*k, codec::decode_at(&record, RecordHome { world: s.world.unwrap(), key: *k }).unwrap().0)
            })
            .collect();
        assert_eq!(got, want);
        // Damage the newest copy of every rewritten chunk (0..5: older copies may survive in
        // freed pages) and of one written once (7).
        let mut bytes = std::fs::read(&path).unwrap();
        let damaged: Vec<MortonKey> = (0..5).chain([7]).map(|x| ChunkKey::new(x, 1, -2).morton()).collect();
        for key in &damaged {
            let at = s.chunks[key].offset as usize + codec::HEADER_LEN + 3;
            bytes[at] ^= 0x40;
        }
        std::fs::write(&path, &bytes).unwrap();
        let after = scan(&path, None).unwrap();
        for key in &damaged {
            let stale = after.stale.contains(key);
            let lost = after.lost.contains(key);
            assert!(stale != lost, "{key:?}: stale {stale}, lost {lost}");
            if stale {
                assert!(after.chunks[key].sequence < s.chunks[key].sequence);
            } else {
                assert!(!after.chunks.contains_key(key));
            }
        }
        assert!(after.lost.contains(&ChunkKey::new(7, 1, -2).morton()), "written once: no older copy");
        assert_eq!(after.chunks.len() + after.lost.len(), want.len());
    }

    /// The scan keeps where records lie, not their bytes: a record changed after the scan is
    /// an error when read, and a salvage that meets one leaves no half-written save behind.
    #[test]
    fn a_file_changed_after_the_scan_fails_the_salvage_and_leaves_no_save() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _, want) = save(dir.path());
        let s = scan(&path, None).unwrap();
        let key = ChunkKey::new(12, 1, -2).morton();
        assert_eq!(
            s.record(key)
                .unwrap()
                .map(|r| codec::decode_at(&r, RecordHome { world: s.world.unwrap(), key }).unwrap().0)
                .as_ref(),
            want.get(&key)
        );
        assert_eq!(s.record(ChunkKey::new(99, 1, -2).morton()).unwrap(), None, "nothing recovered there");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[s.chunks[&key].offset as usize + codec::HEADER_LEN + 3] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(s.record(key), Err(StoreError::Corrupt { .. })));
        let out = dir.path().join("recovered.strata");
        assert!(matches!(s.write_save(&out), Err(StoreError::Corrupt { .. })));
        assert!(!out.exists(), "no half-written save");
        // Scanned again, the damaged copy is reported and the rest is written.
        let again = scan(&path, None).unwrap();
        assert!(again.lost.contains(&key) || again.stale.contains(&key));
        assert_eq!(again.write_save(&out).unwrap().chunks, again.chunks.len() as u64);
    }

    fn sealed(key: MortonKey, world: WorldId, sequence: u64, c: &Chunk) -> Vec<u8> {
        let mut out = Vec::new();
        codec::seal_into(&codec::encode(key, c), world, sequence, &mut out);
        out
    }

    /// The selection rule on copies laid out by hand: newest intact copy per key, a damaged
    /// newer copy makes it stale, deletions win when newer, other worlds and keyless records
    /// are skipped, whatever lies between the records.
    #[test]
    fn the_newest_intact_copy_wins_and_a_damaged_newer_one_is_reported() {
        let (w, other) = (WorldId(77), WorldId(78));
        let (k, j, d, l) = (MortonKey(10), MortonKey(11), MortonKey(12), MortonKey(13));
        let mut file = vec![0xAAu8; 100];
        let put = |rec: &[u8], file: &mut Vec<u8>| {
            file.extend_from_slice(rec);
            file.extend_from_slice(b"STRCSTRMS junk between records");
        };
        put(&sealed(k, w, 1, &chunk(1)), &mut file);
        let mut newer_k = sealed(k, w, 2, &chunk(2));
        let last = newer_k.len() - 1;
        newer_k[last] ^= 1;
        put(&newer_k, &mut file);
        put(&sealed(j, w, 3, &chunk(3)), &mut file);
        put(&sealed(j, w, 1, &chunk(4)), &mut file);
        put(&sealed(j, other, 9, &chunk(5)), &mut file);
        put(&sealed(d, w, 2, &chunk(6)), &mut file);
        let mut deletion = Vec::new();
        codec::encode_deletion(d, &mut deletion);
        let mut sealed_deletion = Vec::new();
        codec::seal_into(&deletion, w, 4, &mut sealed_deletion);
        put(&sealed_deletion, &mut file);
        let mut lost = sealed(l, w, 5, &chunk(7));
        lost[60] ^= 8;
        put(&lost, &mut file);
        put(&codec::encode_legacy(&chunk(8), &Default::default()), &mut file);
        let mut meta = Vec::new();
        meta_record::encode("generator", "(seed: 1)", w, 1, &mut meta);
        meta_record::encode("generator", "(seed: 2)", w, 6, &mut meta);
        put(&meta, &mut file);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("copies");
        std::fs::write(&path, &file).unwrap();
        let s = scan(&path, None).unwrap();
        assert_eq!(s.world, Some(w));
        assert_eq!(s.chunks.keys().copied().collect::<Vec<_>>(), vec![k, j]);
        assert_eq!((s.chunks[&k].sequence, s.chunks[&j].sequence), (1, 3));
        assert_eq!((s.stale.clone(), s.lost.clone(), s.deleted.clone()), (vec![k], vec![l], vec![d]));
        assert_eq!((s.superseded, s.foreign, s.unplaced), (2, 1, 1));
        assert_eq!(s.meta["generator"], ("(seed: 2)".to_owned(), 6));
        assert_eq!(scan(&path, Some(other)).unwrap().chunks.keys().copied().collect::<Vec<_>>(), vec![j]);
    }

    /// Records that straddle the scan's window borders are found whole.
    #[test]
    fn records_across_window_borders_are_found() {
        let w = WorldId(5);
        let rec = sealed(MortonKey(1), w, 1, &chunk(9));
        let mut file = Vec::new();
        let mut offsets = Vec::new();
        let mut i = 0u128;
        while file.len() < 2 * WINDOW + OVERLAP {
            offsets.push(file.len());
            file.extend_from_slice(&sealed(MortonKey(i), w, 1, &chunk((i % 30) as u16)));
            file.extend(std::iter::repeat_n(0x11, (i as usize * 7919) % 50_000));
            i += 1;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, &file).unwrap();
        let s = scan(&path, None).unwrap();
        assert_eq!(s.chunks.len() as u128, i);
        assert!(s.chunks.values().zip(&offsets).all(|(f, o)| f.offset == *o as u64));
        assert!(rec.len() < OVERLAP);
    }
}
