//! The stored summary of one chunk: what an index keeps of a chunk whose voxels it does not
//! hold, persisted beside the chunk's record at every commit so that far regions can be
//! summarised without decoding their chunks.
//!
//! ```text
//! offset size field
//!      0    4 magic            b"STRS"
//!      4    1 format version   2 (1 is read too: it has no chunk cell)
//!      5    1 kind             0 = no summary (read the chunk record), 1 = uniform cells,
//!                              2 = dense cells (lz4 block)
//!      6    2 histogram length entries (u16 LE); 0 for kind 0
//!      8    4 body length      bytes after the header (u32 LE)
//!     12    8 checksum         xxh3-64 of the body, seeded with the chunk's Morton key and
//!                              bytes 4..12 of the header: a summary moved to another key fails
//!     20    2 chunk cell       version 2, kinds 1 and 2: the chunk downsampled to one cell
//!                              ([`crate::downsample::chunk_cell`], u16 LE), readable without
//!                              decoding the rest ([`decode_chunk_cell`])
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
use std::collections::BTreeMap;

/// Summary record magic.
pub const SUMMARY_MAGIC: [u8; 4] = *b"STRS";
/// The summary record format version written and read.
pub const SUMMARY_VERSION: u8 = 2;
/// The first format version: no chunk cell (read, never written).
const VERSION_WITHOUT_CHUNK_CELL: u8 = 1;
/// Bytes before the body.
pub const SUMMARY_HEADER_LEN: usize = 20;
const HALF_BYTES: usize = HALF_VOLUME * 2;

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
}

impl StoredSummary {
    /// Summarises `chunk`.
    ///
    /// # Runtime
    /// O(1) for a uniform chunk; O(32³) for a dense one (a count and a downsampling pass).
    pub fn of(chunk: &Chunk, history: ProcessHistory) -> Self {
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
        let cells = HalfCells::of(chunk);
        Self { histogram, history, chunk_cell: chunk_cell(&cells), cells }
    }

    /// The chunk downsampled to one cell ([`chunk_cell`] of its cells, as written: a version-2
    /// record carries it, a version-1 record's is computed when decoded).
    pub fn chunk_cell(&self) -> MaterialId {
        self.chunk_cell
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

    /// Decodes the summary record stored at `key`. `Ok(None)`: a kind-0 record (no summary:
    /// read the chunk record).
    pub fn decode(key: MortonKey, bytes: &[u8]) -> Result<Option<Self>, DecodeError> {
        let (version, kind, entries, body) = parse(key, bytes)?;
        if kind == 0 {
            return if entries == 0 && body.is_empty() {
                Ok(None)
            } else {
                Err(DecodeError::BadSummary("a kind-0 summary has a body"))
            };
        }
        let (cell, body) = split_chunk_cell(version, body)?;
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
            let n = lz4_flex::block::decompress_into(cells, &mut bytes).map_err(|e| DecodeError::Lz4(e.to_string()))?;
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
        let chunk_cell = cell.unwrap_or_else(|| chunk_cell(&cells));
        Ok(Some(Self { histogram, history, cells, chunk_cell }))
    }

    /// Summarises a chunk record's bytes (decoding the chunk), wherever it belongs.
    pub fn of_record(record: &[u8]) -> Result<Self, DecodeError> {
        crate::codec::decode_with_history(record).map(|(chunk, history)| Self::of(&chunk, history))
    }

    /// Summarises a chunk record read from `home` (decoding the chunk): a record that belongs
    /// elsewhere is [`DecodeError::Misplaced`].
    pub fn of_stored_record(record: &[u8], home: crate::codec::RecordHome) -> Result<Self, DecodeError> {
        crate::codec::decode_at(record, home).map(|(chunk, history)| Self::of(&chunk, history))
    }
}

/// The chunk cell of the summary record stored at `key` ([`StoredSummary::chunk_cell`]),
/// checking the header and the checksum but decoding nothing else (a version-1 record, which
/// has no chunk cell, is decoded whole). `Ok(None)`: a kind-0 record (read the chunk record).
///
/// # Runtime
/// One checksum over the record (xxh3, about 50 ns for a typical 500-byte summary).
pub fn decode_chunk_cell(key: MortonKey, bytes: &[u8]) -> Result<Option<MaterialId>, DecodeError> {
    let (version, kind, _, body) = parse(key, bytes)?;
    if kind == 0 || version == VERSION_WITHOUT_CHUNK_CELL {
        return Ok(StoredSummary::decode(key, bytes)?.map(|s| s.chunk_cell()));
    }
    Ok(split_chunk_cell(version, body)?.0)
}

/// The chunk cell at the start of a version-2 body (`None` for version 1), and the rest.
fn split_chunk_cell(version: u8, body: &[u8]) -> Result<(Option<MaterialId>, &[u8]), DecodeError> {
    if version == VERSION_WITHOUT_CHUNK_CELL {
        return Ok((None, body));
    }
    match body.split_first_chunk::<2>() {
        Some((cell, rest)) => Ok((Some(MaterialId(u16::from_le_bytes(*cell))), rest)),
        None => Err(DecodeError::BadSummary("chunk cell truncated")),
    }
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
    if version != SUMMARY_VERSION && version != VERSION_WITHOUT_CHUNK_CELL {
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
        for chunk in [terrain(1), terrain(9), Chunk::Uniform(MaterialId(7)), Chunk::Uniform(MaterialId::AIR)] {
            let s = StoredSummary::of(&chunk, history);
            assert_eq!(s.histogram, counted(&chunk));
            assert_eq!(s.cells, HalfCells::of(&chunk));
            assert_eq!(StoredSummary::decode(key, &encoded(&s, key)), Ok(Some(s.clone())));
            assert_eq!(
                StoredSummary::of_record(&crate::codec::encode(MortonKey(9), &chunk)).unwrap().histogram,
                s.histogram
            );
        }
        let mut out = Vec::new();
        encode_unsummarised(key, &mut out);
        assert_eq!(StoredSummary::decode(key, &out), Ok(None));
    }

    #[test]
    fn a_summary_read_under_another_key_fails_its_checksum() {
        let s = StoredSummary::of(&terrain(4), ProcessHistory::EMPTY);
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
        let bytes = encoded(&StoredSummary::of(&terrain(2), ProcessHistory::EMPTY), key);
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(StoredSummary::decode(key, &b).is_err(), "bit {bit} flipped decodes");
        }
    }

    /// `bytes` (a version-2 record) as version 1 wrote it: no chunk cell.
    fn as_version_1(key: MortonKey, bytes: &[u8]) -> Vec<u8> {
        let mut v1 = bytes[..SUMMARY_HEADER_LEN].to_vec();
        v1[4] = VERSION_WITHOUT_CHUNK_CELL;
        v1.extend_from_slice(&bytes[SUMMARY_HEADER_LEN + 2..]);
        seal(&mut v1, 0, key);
        v1
    }

    #[test]
    fn the_chunk_cell_reads_alone_and_version_1_records_still_decode() {
        let key = MortonKey(99);
        for chunk in [terrain(3), terrain(20), Chunk::Uniform(MaterialId(5))] {
            let s = StoredSummary::of(&chunk, ProcessHistory::EMPTY);
            let bytes = encoded(&s, key);
            assert_eq!(decode_chunk_cell(key, &bytes), Ok(Some(chunk_cell(&HalfCells::of(&chunk)))));
            let v1 = as_version_1(key, &bytes);
            assert_eq!(StoredSummary::decode(key, &v1), Ok(Some(s.clone())));
            assert_eq!(decode_chunk_cell(key, &v1), Ok(Some(s.chunk_cell())));
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
        let s = StoredSummary::of(&terrain(7), ProcessHistory::EMPTY);
        let mut bytes = encoded(&s, key);
        let cell = s.chunk_cell().0;
        bytes[SUMMARY_HEADER_LEN..SUMMARY_HEADER_LEN + 2].copy_from_slice(&(cell ^ 1).to_le_bytes());
        seal(&mut bytes, 0, key);
        let decoded = StoredSummary::decode(key, &bytes).unwrap().unwrap();
        assert_eq!(decoded.chunk_cell(), MaterialId(cell ^ 1));
        assert_eq!(decode_chunk_cell(key, &bytes), Ok(Some(MaterialId(cell ^ 1))));
        assert_ne!(decoded, s);
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
            let mut b = encoded(&StoredSummary::of(&terrain(seed), ProcessHistory::EMPTY), key);
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
