//! The stored summary of one chunk: what an index keeps of a chunk whose voxels it does not
//! hold, persisted beside the chunk's record at every commit so that far regions can be
//! summarised without decoding their chunks.
//!
//! ```text
//! offset size field
//!      0    4 magic            b"STRS"
//!      4    1 format version   3 (1 and 2, written by the LOD rule before it knew up, read as
//!                              kind 0: the reader summarises the chunk record)
//!      5    1 kind             0 = no summary (read the chunk record), 1 = uniform cells,
//!                              2 = dense cells (lz4 block)
//!      6    2 histogram length entries (u16 LE); 0 for kind 0
//!      8    4 body length      bytes after the header (u32 LE)
//!     12    8 checksum         xxh3-64 of the body, seeded with the chunk's Morton key and
//!                              bytes 4..12 of the header: a summary moved to another key fails
//!     20    2 chunk cell       kinds 1 and 2: the chunk downsampled to one cell
//!                              ([`crate::downsample::chunk_cell`], u16 LE), readable without
//!                              decoding the rest ([`decode_chunk_cell`])
//!     22    1 up               kinds 1 and 2: the [`Up`] the cells were downsampled with
//!                              ([`Up::code`]); a reader that expects another summarises the
//!                              chunk record itself
//!      …    … histogram        per entry: material id (u16 LE), voxels minus one (u16 LE);
//!                              ids strictly increasing, voxels summing to 32³
//!      …    … history          ProcessHistory (mask u16 LE, then a u32 LE step per set bit)
//!      …    … cells            the chunk at half resolution (16³ cells, see
//!                              [`crate::downsample`]): kind 1 a material id (u16 LE), kind 2
//!                              an lz4 block of 16³ u16 LE (not all equal)
//! ```
//!
//! Kind 0 stands for a record that was stored as given bytes ([`crate::WriteBatch::put_record`])
//! and did not decode when written: readers summarise (or report) the chunk record itself.
//!
//! Decoding checks, in order: length ≥ header, magic, version, kind, declared length = actual
//! length, checksum (with the key), then the histogram (order, counts, total), the history and
//! the cells (exact decompressed size). No input panics or allocates more than 8 KiB of cells.
//! Whether the parts agree with each other (and the chunk cell with the cells) is what
//! comparing with the summary of the chunk record tells (`strata_redb::RedbStore::summary_problems`, used
//! by `strata verify`).

use crate::chunk::Chunk;
use crate::codec::DecodeError;
use crate::coords::{CHUNK_SIZE, CHUNK_VOLUME};
use crate::downsample::{HALF_VOLUME, HalfCells, chunk_cell};
use crate::history::ProcessHistory;
use crate::material::MaterialId;
use crate::morton::MortonKey;
use crate::up::Up;
use std::collections::BTreeMap;

/// Summary record magic.
pub const SUMMARY_MAGIC: [u8; 4] = *b"STRS";
/// The summary record format version written and read.
pub const SUMMARY_VERSION: u8 = 3;
/// The oldest format version accepted (versions before [`SUMMARY_VERSION`] are read as kind 0).
const OLDEST_VERSION: u8 = 1;
/// Bytes before the body.
pub const SUMMARY_HEADER_LEN: usize = 20;
const HALF_BYTES: usize = HALF_VOLUME * 2;
/// The longest summary record the encoder can write: the header, the chunk cell and up, a
/// histogram naming 32³ materials, the longest history and dense cells lz4 cannot shrink. A
/// stored value longer than this is no summary (a reader that bounds its reads, such as the
/// Redis store's scans, reads this many bytes plus one).
pub const MAX_SUMMARY_LEN: usize = SUMMARY_HEADER_LEN
    + 3
    + 4 * CHUNK_VOLUME
    + 2
    + 4 * crate::history::MAX_PROCESSES
    + HALF_BYTES
    + HALF_BYTES / 255
    + 16;

/// What a stored chunk gives an index that does not hold its voxels: its histogram, its
/// process history and its cells at half resolution (what it gives the level-1 grid above it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSummary {
    /// Voxels per material, ids strictly increasing, every count > 0, summing to 32³.
    pub histogram: Vec<(MaterialId, u32)>,
    /// The processes that changed the chunk.
    pub history: ProcessHistory,
    /// The chunk at half resolution.
    pub cells: HalfCells,
    /// The chunk downsampled to one cell ([`chunk_cell`] of `cells`, as written).
    chunk_cell: MaterialId,
    /// The up `cells` and `chunk_cell` were downsampled with.
    up: Up,
}

impl StoredSummary {
    /// Summarises `chunk`, whose blocks have up `up` (its [`crate::WorldUp::of_chunk`]).
    ///
    /// # Runtime
    /// O(1) for a uniform chunk; O(32³) for a dense one (a count and a downsampling pass).
    pub fn of(chunk: &Chunk, history: ProcessHistory, up: Up) -> Self {
        let histogram = match chunk {
            Chunk::Dense(d) => {
                // Counted as runs of equal ids in memory order (a row of 32 that continues the
                // run is one whole-row compare); small ids in a table, others in a map.
                let mut small = [0u32; 256];
                let mut other: BTreeMap<u16, u32> = BTreeMap::new();
                let mut add = |m: u16, n: u32| match small.get_mut(usize::from(m)) {
                    Some(c) => *c += n,
                    None => *other.entry(m).or_default() += n,
                };
                let v = d.as_slice();
                let (mut run_m, mut run_n) = (v[0], 0u32);
                let (rows, _) = v.as_chunks::<CHUNK_SIZE>();
                for row in rows {
                    if *row == [run_m; CHUNK_SIZE] {
                        run_n += CHUNK_SIZE as u32;
                        continue;
                    }
                    for &m in row {
                        if m == run_m {
                            run_n += 1;
                        } else {
                            add(run_m, run_n);
                            (run_m, run_n) = (m, 1);
                        }
                    }
                }
                add(run_m, run_n);
                let small = small.iter().enumerate().filter(|(_, n)| **n > 0).map(|(m, n)| (MaterialId(m as u16), *n));
                small.chain(other.into_iter().map(|(m, n)| (MaterialId(m), n))).collect()
            }
            // Invariant: the other variant is uniform.
            _ => vec![(chunk.as_uniform().unwrap_or(MaterialId::AIR), CHUNK_VOLUME as u32)],
        };
        let cells = HalfCells::of(chunk, up);
        Self { histogram, history, chunk_cell: chunk_cell(&cells, up), cells, up }
    }

    /// This summary with its material ids read through `map` (save ids to the registry's,
    /// [`crate::palette`]), if that is exactly the summary of the remapped chunk: when `map`
    /// keeps the order of the ids the chunk holds and maps air, and only air, to air
    /// (downsampling counts air, breaks ties by the smaller id and merges equal ids). `None`
    /// otherwise: summarise the remapped chunk instead.
    ///
    /// # Runtime
    /// O(histogram) to check; O(16³) to remap dense cells.
    pub fn remapped(&self, map: &crate::palette::IdMap) -> Option<Self> {
        let ids: Vec<MaterialId> = self.histogram.iter().map(|(m, _)| map.to_registry(*m)).collect();
        // Air stays air and nothing else becomes air (downsampling counts air).
        let air_kept = self.histogram.iter().zip(&ids).all(|((m, _), r)| m.is_air() == r.is_air());
        if !air_kept || !ids.windows(2).all(|w| w[0] < w[1]) {
            return None;
        }
        let histogram = ids.iter().zip(&self.histogram).map(|(m, (_, n))| (*m, *n)).collect();
        let cells = match &self.cells {
            HalfCells::Uniform(m) => HalfCells::Uniform(map.to_registry(*m)),
            HalfCells::Dense(cells) => {
                let mut cells = cells.clone();
                map.ids_to_registry(&mut cells[..]);
                HalfCells::Dense(cells)
            }
        };
        Some(Self {
            histogram,
            history: self.history,
            cells,
            chunk_cell: map.to_registry(self.chunk_cell),
            up: self.up,
        })
    }

    /// The chunk downsampled to one cell ([`chunk_cell`] of its cells, as written).
    pub fn chunk_cell(&self) -> MaterialId {
        self.chunk_cell
    }

    /// The up the cells were downsampled with: a reader whose world has another up at this
    /// chunk must summarise the chunk itself.
    pub fn up(&self) -> Up {
        self.up
    }

    /// Appends the record of this summary, stored at `key`, to `out`.
    ///
    /// # Runtime
    /// O(histogram); one lz4 compression of 8 KiB for dense cells.
    pub fn encode(&self, key: MortonKey, out: &mut Vec<u8>) {
        let start = out.len();
        let kind = match self.cells {
            HalfCells::Uniform(_) => 1,
            HalfCells::Dense(_) => 2,
        };
        write_header(out, kind, self.histogram.len() as u16);
        out.extend_from_slice(&self.chunk_cell().0.to_le_bytes());
        out.push(self.up.code());
        for (m, n) in &self.histogram {
            out.extend_from_slice(&m.0.to_le_bytes());
            // Invariant (documented on the field): counts are at most 32³, which fits in u16
            // once stored minus one.
            out.extend_from_slice(&((n - 1) as u16).to_le_bytes());
        }
        self.history.encode_into(out);
        match &self.cells {
            HalfCells::Uniform(m) => out.extend_from_slice(&m.0.to_le_bytes()),
            HalfCells::Dense(c) => {
                let mut bytes = [0u8; HALF_BYTES];
                for (b, v) in bytes.chunks_exact_mut(2).zip(c.iter()) {
                    b.copy_from_slice(&v.to_le_bytes());
                }
                out.extend_from_slice(&lz4_flex::block::compress(&bytes));
            }
        }
        seal(out, start, key);
    }

    /// Decodes the summary record stored at `key`. `Ok(None)`: a kind-0 record, or one of an
    /// older version (no usable summary: read the chunk record).
    pub fn decode(key: MortonKey, bytes: &[u8]) -> Result<Option<Self>, DecodeError> {
        let (version, kind, entries, body) = parse(key, bytes)?;
        if kind == 0 {
            return if entries == 0 && body.is_empty() {
                Ok(None)
            } else {
                Err(DecodeError::BadSummary("a kind-0 summary has a body"))
            };
        }
        if version < SUMMARY_VERSION {
            return Ok(None);
        }
        let ((cell, up), body) = split_chunk_cell(body)?;
        let hist_len = 4 * usize::from(entries);
        let (hist_bytes, rest) =
            body.split_at_checked(hist_len).ok_or(DecodeError::BadSummary("histogram truncated"))?;
        let mut histogram = Vec::with_capacity(usize::from(entries));
        let mut total = 0u64;
        for e in hist_bytes.chunks_exact(4) {
            let m = u16::from_le_bytes([e[0], e[1]]);
            let n = u32::from(u16::from_le_bytes([e[2], e[3]])) + 1;
            if histogram.last().is_some_and(|(last, _): &(MaterialId, u32)| last.0 >= m) {
                return Err(DecodeError::BadSummary("histogram ids not strictly increasing"));
            }
            total += u64::from(n);
            histogram.push((MaterialId(m), n));
        }
        if total != CHUNK_VOLUME as u64 {
            return Err(DecodeError::BadSummary("histogram does not count 32³ voxels"));
        }
        let mask = rest.get(..2).ok_or(DecodeError::BadSummary("history truncated"))?;
        let history_len = 2 + 4 * u16::from_le_bytes([mask[0], mask[1]]).count_ones() as usize;
        let (history_bytes, cells) =
            rest.split_at_checked(history_len).ok_or(DecodeError::BadSummary("history truncated"))?;
        let history = ProcessHistory::decode(history_bytes)?;
        let cells = if kind == 1 {
            match *cells {
                [a, b] => HalfCells::Uniform(MaterialId(u16::from_le_bytes([a, b]))),
                _ => return Err(DecodeError::UniformPayloadSize(cells.len())),
            }
        } else {
            let mut bytes = [0u8; HALF_BYTES];
            let n = lz4_flex::block::decompress_into(cells, &mut bytes).map_err(|e| DecodeError::Lz4(e.into()))?;
            if n != HALF_BYTES {
                return Err(DecodeError::DecodedSize(n));
            }
            let mut c = Box::new([0u16; HALF_VOLUME]);
            for (v, b) in c.iter_mut().zip(bytes.chunks_exact(2)) {
                *v = u16::from_le_bytes([b[0], b[1]]);
            }
            match HalfCells::from_cells(c) {
                HalfCells::Dense(c) => HalfCells::Dense(c),
                // One content, one encoding: equal cells are written as kind 1.
                HalfCells::Uniform(_) => return Err(DecodeError::BadSummary("dense cells that are all equal")),
            }
        };
        Ok(Some(Self { histogram, history, cells, chunk_cell: cell, up }))
    }

    /// Summarises a chunk record's bytes (decoding the chunk) with up `up`, wherever it belongs.
    pub fn of_record(record: &[u8], up: Up) -> Result<Self, DecodeError> {
        crate::codec::decode_with_history(record).map(|(chunk, history)| Self::of(&chunk, history, up))
    }

    /// Summarises a chunk record read from `home` (decoding the chunk) with up `up`: a record
    /// that belongs elsewhere is [`DecodeError::Misplaced`].
    pub fn of_stored_record(record: &[u8], home: crate::codec::RecordHome, up: Up) -> Result<Self, DecodeError> {
        crate::codec::decode_at(record, home).map(|(chunk, history)| Self::of(&chunk, history, up))
    }
}

/// A stored chunk's [chunk cell](StoredSummary::chunk_cell) and the up it was made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredCell {
    /// The chunk downsampled to one cell.
    pub cell: MaterialId,
    /// The up of the downsampling ([`StoredSummary::up`]).
    pub up: Up,
}

impl StoredSummary {
    /// The chunk cell and its up.
    pub fn stored_cell(&self) -> StoredCell {
        StoredCell { cell: self.chunk_cell, up: self.up }
    }
}

/// The chunk cell of the summary record stored at `key` ([`StoredSummary::stored_cell`]),
/// checking the header and the checksum but decoding nothing else. `Ok(None)`: a kind-0 record
/// or an older version (read the chunk record).
///
/// # Runtime
/// One checksum over the record (xxh3, about 50 ns for a typical 500-byte summary).
pub fn decode_chunk_cell(key: MortonKey, bytes: &[u8]) -> Result<Option<StoredCell>, DecodeError> {
    let (version, kind, _, body) = parse(key, bytes)?;
    if kind == 0 {
        return Ok(StoredSummary::decode(key, bytes)?.map(|s| s.stored_cell()));
    }
    if version < SUMMARY_VERSION {
        return Ok(None);
    }
    let ((cell, up), _) = split_chunk_cell(body)?;
    Ok(Some(StoredCell { cell, up }))
}

/// The chunk cell and up at the start of a body, and the rest.
fn split_chunk_cell(body: &[u8]) -> Result<((MaterialId, Up), &[u8]), DecodeError> {
    match body.split_first_chunk::<3>() {
        Some(([c0, c1, u], rest)) => {
            let up = Up::from_code(*u).ok_or(DecodeError::BadSummary("unknown up"))?;
            Ok(((MaterialId(u16::from_le_bytes([*c0, *c1])), up), rest))
        }
        None => Err(DecodeError::BadSummary("chunk cell truncated")),
    }
}

/// Whether `bytes` is a summary record of a format version older than [`SUMMARY_VERSION`]
/// (read as "no summary"; its checksum is not checked here).
pub fn is_older_version(bytes: &[u8]) -> bool {
    bytes.starts_with(&SUMMARY_MAGIC) && bytes.get(4).is_some_and(|&v| (OLDEST_VERSION..SUMMARY_VERSION).contains(&v))
}

/// Appends the kind-0 record ("no summary: read the chunk record") for `key`.
pub fn encode_unsummarised(key: MortonKey, out: &mut Vec<u8>) {
    let start = out.len();
    write_header(out, 0, 0);
    seal(out, start, key);
}

fn write_header(out: &mut Vec<u8>, kind: u8, entries: u16) {
    out.extend_from_slice(&SUMMARY_MAGIC);
    out.push(SUMMARY_VERSION);
    out.push(kind);
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&[0; 12]);
}

/// Fills in the body length and checksum of the record that starts at `start`.
fn seal(out: &mut [u8], start: usize, key: MortonKey) {
    let body_len = (out.len() - start - SUMMARY_HEADER_LEN) as u32;
    out[start + 8..start + 12].copy_from_slice(&body_len.to_le_bytes());
    let fields: [u8; 8] = out[start + 4..start + 12].try_into().unwrap_or_default();
    let sum = checksum(key, fields, &out[start + SUMMARY_HEADER_LEN..]);
    out[start + 12..start + 20].copy_from_slice(&sum.to_le_bytes());
}

fn checksum(key: MortonKey, fields: [u8; 8], body: &[u8]) -> u64 {
    let seed = (key.0 as u64) ^ ((key.0 >> 64) as u64).rotate_left(29) ^ u64::from_le_bytes(fields).rotate_left(47);
    xxhash_rust::xxh3::xxh3_64_with_seed(body, seed)
}

/// Checks a summary record's header and checksum; returns (version, kind, histogram entries,
/// body).
fn parse(key: MortonKey, bytes: &[u8]) -> Result<(u8, u8, u16, &[u8]), DecodeError> {
    let header: &[u8; SUMMARY_HEADER_LEN] = bytes
        .get(..SUMMARY_HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(DecodeError::Truncated { len: bytes.len(), needed: SUMMARY_HEADER_LEN })?;
    let [m0, m1, m2, m3, version, kind, e0, e1, l0, l1, l2, l3, c @ ..] = *header;
    if [m0, m1, m2, m3] != SUMMARY_MAGIC {
        return Err(DecodeError::BadMagic([m0, m1, m2, m3]));
    }
    if !(OLDEST_VERSION..=SUMMARY_VERSION).contains(&version) {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    if kind > 2 {
        return Err(DecodeError::UnknownKind(kind));
    }
    let body_len = u32::from_le_bytes([l0, l1, l2, l3]);
    let body = &bytes[SUMMARY_HEADER_LEN..];
    if body.len() != body_len as usize {
        if body.len() < body_len as usize {
            return Err(DecodeError::Truncated { len: bytes.len(), needed: SUMMARY_HEADER_LEN + body_len as usize });
        }
        return Err(DecodeError::LengthMismatch { declared: body_len, actual: body.len() });
    }
    let stored = u64::from_le_bytes(c);
    let computed = checksum(key, [version, kind, e0, e1, l0, l1, l2, l3], body);
    if stored != computed {
        return Err(DecodeError::ChecksumMismatch { stored, computed });
    }
    Ok((version, kind, u16::from_le_bytes([e0, e1]), body))
}

const _: () = assert!(CHUNK_VOLUME <= u16::MAX as usize + 1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::DenseChunk;
    use crate::history::{ProcessId, ProcessStamp};
    use proptest::prelude::*;

    fn terrain(seed: u16) -> Chunk {
        Chunk::Dense(DenseChunk::from_fn(|p| {
            let h = (u16::from(p.x) * 3 + u16::from(p.z) * 5).wrapping_add(seed) % 32;
            MaterialId(if u16::from(p.y) < h { 1 + u16::from(p.x).wrapping_add(seed) % 300 } else { 0 })
        }))
    }

    fn encoded(s: &StoredSummary, key: MortonKey) -> Vec<u8> {
        let mut out = Vec::new();
        s.encode(key, &mut out);
        out
    }

    /// Voxels per material counted one by one into a map (the reference for the histogram).
    fn counted(chunk: &Chunk) -> Vec<(MaterialId, u32)> {
        let mut m: BTreeMap<u16, u32> = BTreeMap::new();
        for i in 0..CHUNK_VOLUME {
            *m.entry(chunk.get(crate::coords::LocalIndex::new(i as u16)).0).or_default() += 1;
        }
        m.into_iter().map(|(k, n)| (MaterialId(k), n)).collect()
    }

    #[test]
    fn round_trips_and_counts_every_voxel() {
        let key = MortonKey(0x1234_5678_9abc_def0_1122_3344_5566_7788);
        let mut history = ProcessHistory::EMPTY;
        history.record(ProcessStamp { process: ProcessId::new(3).unwrap(), step: 77 });
        let chunks = [terrain(1), terrain(9), Chunk::Uniform(MaterialId(7)), Chunk::Uniform(MaterialId::AIR)];
        for (chunk, up) in chunks.iter().zip(Up::ALL.iter().cycle().skip(1)) {
            let s = StoredSummary::of(chunk, history, *up);
            assert_eq!(s.histogram, counted(chunk));
            assert_eq!(s.cells, HalfCells::of(chunk, *up));
            assert_eq!(s.up(), *up);
            assert_eq!(StoredSummary::decode(key, &encoded(&s, key)), Ok(Some(s.clone())));
            assert_eq!(
                StoredSummary::of_record(&crate::codec::encode(MortonKey(9), chunk), *up).unwrap().histogram,
                s.histogram
            );
        }
        let mut out = Vec::new();
        encode_unsummarised(key, &mut out);
        assert_eq!(StoredSummary::decode(key, &out), Ok(None));
    }

    /// A chunk of 32³ different materials in an order lz4 finds nothing to repeat in, with
    /// every process recorded: the longest summary there is, within [`MAX_SUMMARY_LEN`].
    #[test]
    fn the_longest_summary_fits_max_summary_len() {
        let mut rng = crate::rng::SplitMix64(7);
        let mut ids: Vec<u16> = (0..CHUNK_VOLUME as u16).collect();
        for i in (1..ids.len()).rev() {
            ids.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        let chunk = Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(ids[p.index().get()] + 1)));
        let mut history = ProcessHistory::EMPTY;
        for p in 0..crate::history::MAX_PROCESSES as u8 {
            history.record(ProcessStamp { process: ProcessId::new(p).unwrap(), step: u32::MAX });
        }
        let s = StoredSummary::of(&chunk, history, Up::PosY);
        assert_eq!(s.histogram.len(), CHUNK_VOLUME);
        let bytes = encoded(&s, MortonKey(5));
        assert!(bytes.len() > 4 * CHUNK_VOLUME, "{} bytes: not the long case", bytes.len());
        assert!(bytes.len() <= MAX_SUMMARY_LEN, "{} bytes > {MAX_SUMMARY_LEN}", bytes.len());
        assert_eq!(StoredSummary::decode(MortonKey(5), &bytes), Ok(Some(s)));
    }

    #[test]
    fn a_summary_read_under_another_key_fails_its_checksum() {
        let s = StoredSummary::of(&terrain(4), ProcessHistory::EMPTY, Up::PosY);
        let a = crate::ChunkKey::new(1, 2, 3).morton();
        let b = crate::ChunkKey::new(1, 2, 4).morton();
        let bytes = encoded(&s, a);
        assert!(matches!(StoredSummary::decode(b, &bytes), Err(DecodeError::ChecksumMismatch { .. })));
        let mut none = Vec::new();
        encode_unsummarised(a, &mut none);
        assert!(matches!(StoredSummary::decode(b, &none), Err(DecodeError::ChecksumMismatch { .. })));
    }

    #[test]
    fn every_single_bit_flip_is_an_error() {
        let key = MortonKey(42);
        let bytes = encoded(&StoredSummary::of(&terrain(2), ProcessHistory::EMPTY, Up::PosY), key);
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(StoredSummary::decode(key, &b).is_err(), "bit {bit} flipped decodes");
        }
    }

    /// `bytes` (a current record) relabelled as version `version`, checksum renewed: the
    /// header of a record an older Strata wrote (their bodies differ too; the version decides).
    fn as_version(key: MortonKey, bytes: &[u8], version: u8) -> Vec<u8> {
        let mut old = bytes.to_vec();
        old[4] = version;
        seal(&mut old, 0, key);
        old
    }

    #[test]
    fn the_chunk_cell_reads_alone_and_older_versions_read_as_no_summary() {
        let key = MortonKey(99);
        for chunk in [terrain(3), terrain(20), Chunk::Uniform(MaterialId(5))] {
            let s = StoredSummary::of(&chunk, ProcessHistory::EMPTY, Up::NegX);
            let bytes = encoded(&s, key);
            let want = StoredCell { cell: chunk_cell(&HalfCells::of(&chunk, Up::NegX), Up::NegX), up: Up::NegX };
            assert_eq!(decode_chunk_cell(key, &bytes), Ok(Some(want)));
            for version in [1, 2] {
                // Their cells followed the majority rule: the reader must summarise the record.
                let old = as_version(key, &bytes, version);
                assert_eq!(StoredSummary::decode(key, &old), Ok(None));
                assert_eq!(decode_chunk_cell(key, &old), Ok(None));
            }
            assert!(matches!(
                StoredSummary::decode(key, &as_version(key, &bytes, 4)),
                Err(DecodeError::UnsupportedVersion(4))
            ));
            assert!(decode_chunk_cell(MortonKey(98), &bytes).is_err(), "another key");
        }
        let mut none = Vec::new();
        encode_unsummarised(key, &mut none);
        assert_eq!(decode_chunk_cell(key, &none), Ok(None));
    }

    #[test]
    fn a_chunk_cell_that_disagrees_with_the_cells_is_told_apart_from_the_chunks_summary() {
        // What `summary_problems` relies on: the decoded summary keeps the cell it carries, so it
        // differs from the summary of the chunk.
        let key = MortonKey(5);
        let s = StoredSummary::of(&terrain(7), ProcessHistory::EMPTY, Up::PosY);
        let mut bytes = encoded(&s, key);
        let cell = s.chunk_cell().0;
        bytes[SUMMARY_HEADER_LEN..SUMMARY_HEADER_LEN + 2].copy_from_slice(&(cell ^ 1).to_le_bytes());
        seal(&mut bytes, 0, key);
        let decoded = StoredSummary::decode(key, &bytes).unwrap().unwrap();
        assert_eq!(decoded.chunk_cell(), MaterialId(cell ^ 1));
        assert_eq!(decode_chunk_cell(key, &bytes), Ok(Some(StoredCell { cell: MaterialId(cell ^ 1), up: Up::PosY })));
        assert_ne!(decoded, s);
        // An up code past the six directions is an error, not a guess.
        let mut bad = encoded(&s, key);
        bad[SUMMARY_HEADER_LEN + 2] = 6;
        seal(&mut bad, 0, key);
        assert_eq!(StoredSummary::decode(key, &bad), Err(DecodeError::BadSummary("unknown up")));
        assert_eq!(decode_chunk_cell(key, &bad), Err(DecodeError::BadSummary("unknown up")));
    }

    proptest! {
        /// Any bytes: an error or a summary, never a panic; what decodes re-encodes to itself.
        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200), key in any::<u128>()) {
            if let Ok(Some(s)) = StoredSummary::decode(MortonKey(key), &bytes)
                && bytes[4] == SUMMARY_VERSION
            {
                prop_assert_eq!(encoded(&s, MortonKey(key)), bytes);
            }
        }

        /// Valid headers with damaged bodies (checksums recomputed): typed errors, no panic.
        #[test]
        fn damaged_bodies_with_valid_checksums_are_typed_errors(seed in any::<u16>(), at in any::<usize>(), byte in any::<u8>()) {
            let key = MortonKey(7);
            let mut b = encoded(&StoredSummary::of(&terrain(seed), ProcessHistory::EMPTY, Up::PosZ), key);
            let i = SUMMARY_HEADER_LEN + at % (b.len() - SUMMARY_HEADER_LEN);
            b[i] = byte;
            let len = b.len();
            seal(&mut b, 0, key);
            prop_assert_eq!(b.len(), len);
            let _ = StoredSummary::decode(key, &b);
            let _ = decode_chunk_cell(key, &b);
        }
    }
}
