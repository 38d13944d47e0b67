//! The on-disk (and on-wire) record format of one chunk.
//!
//! ```text
//! offset size field
//!      0    4 magic            b"STRC"
//!      4    1 format version   1 (no history) or 2 (with a process history)
//!      5    1 kind             0 = uniform, 1 = dense lz4 block
//!      6    2 history length   version 1: reserved, must be 0; version 2: bytes of history (u16 LE)
//!      8    4 payload length   little-endian u32; payload + history = the bytes after the header
//!     12    8 checksum         xxh3-64 of payload + history, seeded with (version, kind, lengths)
//!     20    … payload          uniform: material id (u16 LE); dense: lz4 block of 32³ u16 LE
//!      … …  history            version 2 only: ProcessHistory (mask u16 LE + u32 LE per set bit)
//! ```
//!
//! A chunk no process touched is written as version 1, exactly as before histories existed; one
//! with a [`ProcessHistory`] as version 2. Both are read.
//!
//! Decoding checks, in order: length ≥ header, magic, version, kind, reserved bits (version 1),
//! declared lengths = actual length, checksum, the history, then the payload. A dense payload is decompressed with
//! `lz4_flex::block::decompress_into` straight into the chunk's fixed 64 KiB array, so a record can
//! never make the decoder allocate more than one chunk, whatever its bytes say.

use crate::chunk::{Chunk, DenseChunk};
use crate::coords::CHUNK_VOLUME;
use crate::history::ProcessHistory;
use crate::material::MaterialId;

/// Record magic.
pub const MAGIC: [u8; 4] = *b"STRC";
/// The format version of records without a process history (written and read).
pub const FORMAT_VERSION: u8 = 1;
/// The format version of records with a process history (written and read).
pub const FORMAT_VERSION_HISTORY: u8 = 2;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 20;
/// Decoded size of a dense chunk in bytes.
pub const DENSE_BYTES: usize = CHUNK_VOLUME * 2;
/// Size of an encoded uniform chunk.
pub const UNIFORM_RECORD_LEN: usize = HEADER_LEN + 2;

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordKind {
    /// One material id.
    Uniform = 0,
    /// An lz4 block of 32³ little-endian `u16`.
    DenseLz4 = 1,
}

/// A record's parsed, validated header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// Format version.
    pub version: u8,
    /// Payload kind.
    pub kind: RecordKind,
    /// Payload bytes.
    pub payload_len: u32,
    /// History bytes after the payload (0 in version 1).
    pub history_len: u16,
    /// Stored checksum.
    pub checksum: u64,
}

/// Why a record could not be decoded. Every malformed input maps to one of these; none panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the header, or than the payload needs.
    #[error("record truncated: {len} bytes, need at least {needed}")]
    Truncated {
        /// Bytes present.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// The first four bytes are not `STRC`.
    #[error("bad magic {0:02x?}")]
    BadMagic([u8; 4]),
    /// A format version this build does not read.
    #[error("unsupported format version {0} (this build reads {FORMAT_VERSION} and {FORMAT_VERSION_HISTORY})")]
    UnsupportedVersion(u8),
    /// An unknown payload kind.
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    /// Reserved header bits are set.
    #[error("reserved header field is {0:#06x}, expected 0")]
    ReservedBits(u16),
    /// The header's payload length disagrees with the bytes present.
    #[error("payload length mismatch: header says {declared}, record has {actual}")]
    LengthMismatch {
        /// From the header.
        declared: u32,
        /// Present.
        actual: usize,
    },
    /// The payload does not match its checksum.
    #[error("checksum mismatch: stored {stored:#018x}, computed {computed:#018x}")]
    ChecksumMismatch {
        /// From the header.
        stored: u64,
        /// Over the bytes present.
        computed: u64,
    },
    /// A uniform payload that is not exactly 2 bytes.
    #[error("uniform payload must be 2 bytes, found {0}")]
    UniformPayloadSize(usize),
    /// The lz4 block is malformed.
    #[error("lz4 block is malformed: {0}")]
    Lz4(String),
    /// The lz4 block decoded to a size other than 65536 bytes.
    #[error("dense payload decoded to {0} bytes, expected {DENSE_BYTES}")]
    DecodedSize(usize),
    /// A stored chunk summary (see [`crate::summary_record`]) whose body is malformed.
    #[error("malformed chunk summary: {0}")]
    BadSummary(&'static str),
    /// A version-2 process history whose length does not match its mask.
    #[error("malformed process history ({len} bytes)")]
    BadHistory {
        /// Bytes of history present.
        len: usize,
    },
}

/// Checksum of the bytes after the header (`body` = payload, then history in version 2).
fn checksum(version: u8, kind: u8, payload_len: u32, history_len: u16, body: &[u8]) -> u64 {
    let seed = ((history_len as u64) << 48) | ((version as u64) << 40) | ((kind as u64) << 32) | payload_len as u64;
    xxhash_rust::xxh3::xxh3_64_with_seed(body, seed)
}

/// Appends header, payload and (if not empty) history.
fn write_record(out: &mut Vec<u8>, kind: RecordKind, payload: &[u8], history: &ProcessHistory) {
    let start = out.len();
    let (version, history_len) = if history.is_empty() {
        (FORMAT_VERSION, 0u16)
    } else {
        (FORMAT_VERSION_HISTORY, history.encoded_len() as u16)
    };
    out.reserve(HEADER_LEN + payload.len() + history_len as usize);
    out.extend_from_slice(&MAGIC);
    out.push(version);
    out.push(kind as u8);
    out.extend_from_slice(&history_len.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let checksum_at = out.len();
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(payload);
    if history_len > 0 {
        history.encode_into(out);
    }
    let body = &out[start + HEADER_LEN..];
    let sum = checksum(version, kind as u8, payload.len() as u32, history_len, body);
    out[checksum_at..checksum_at + 8].copy_from_slice(&sum.to_le_bytes());
}

/// Reusable scratch space for encoding (no allocation per chunk in steady state).
#[derive(Default)]
pub struct ChunkEncoder {
    compressed: Vec<u8>,
    #[cfg(target_endian = "big")]
    le_bytes: Vec<u8>,
}

impl ChunkEncoder {
    /// A new encoder; its buffers grow on first use and are then reused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the record of `chunk` (format version 1, no history) to `out`.
    ///
    /// # Runtime
    /// O(1) for uniform chunks; one lz4 block compression of 64 KiB for dense ones.
    pub fn encode(&mut self, chunk: &Chunk, out: &mut Vec<u8>) {
        self.encode_with_history(chunk, &ProcessHistory::EMPTY, out);
    }

    /// Appends the record of `chunk` with its process history (format version 2, or 1 when the
    /// history is empty) to `out`.
    pub fn encode_with_history(&mut self, chunk: &Chunk, history: &ProcessHistory, out: &mut Vec<u8>) {
        match chunk {
            Chunk::Uniform(m) => {
                let payload = m.0.to_le_bytes();
                write_record(out, RecordKind::Uniform, &payload, history);
            }
            Chunk::Dense(d) => {
                let max = lz4_flex::block::get_maximum_output_size(DENSE_BYTES);
                if self.compressed.len() < max {
                    self.compressed.resize(max, 0);
                }
                #[cfg(target_endian = "little")]
                let input: &[u8] = bytemuck::cast_slice(d.as_slice().as_slice());
                #[cfg(target_endian = "big")]
                let input: &[u8] = {
                    self.le_bytes.clear();
                    for v in d.as_slice() {
                        self.le_bytes.extend_from_slice(&v.to_le_bytes());
                    }
                    &self.le_bytes
                };
                // Invariant: the output buffer has the maximum size lz4 can produce for this input,
                // so compression cannot run out of space.
                let n = lz4_flex::block::compress_into(input, &mut self.compressed)
                    .expect("buffer sized with get_maximum_output_size");
                write_record(out, RecordKind::DenseLz4, &self.compressed[..n], history);
            }
        }
    }
}

/// Encodes `chunk` into a new vector. Prefer [`ChunkEncoder`] in loops.
pub fn encode(chunk: &Chunk) -> Vec<u8> {
    let mut out = Vec::new();
    ChunkEncoder::new().encode(chunk, &mut out);
    out
}

/// Parses and checks a record's header and checksum, returning the header and payload.
pub fn parse_record(bytes: &[u8]) -> Result<(RecordHeader, &[u8]), DecodeError> {
    parse_record_parts(bytes).map(|(h, payload, _)| (h, payload))
}

/// Like [`parse_record`], also returning the decoded process history (empty in version 1).
pub fn parse_record_parts(bytes: &[u8]) -> Result<(RecordHeader, &[u8], ProcessHistory), DecodeError> {
    let header: &[u8; HEADER_LEN] = bytes
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(DecodeError::Truncated { len: bytes.len(), needed: HEADER_LEN })?;
    let [m0, m1, m2, m3, version, kind, r0, r1, l0, l1, l2, l3, c @ ..] = *header;
    if [m0, m1, m2, m3] != MAGIC {
        return Err(DecodeError::BadMagic([m0, m1, m2, m3]));
    }
    if version != FORMAT_VERSION && version != FORMAT_VERSION_HISTORY {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let kind_enum = match kind {
        0 => RecordKind::Uniform,
        1 => RecordKind::DenseLz4,
        other => return Err(DecodeError::UnknownKind(other)),
    };
    let reserved = u16::from_le_bytes([r0, r1]);
    let history_len = if version == FORMAT_VERSION {
        if reserved != 0 {
            return Err(DecodeError::ReservedBits(reserved));
        }
        0
    } else {
        reserved
    };
    let payload_len = u32::from_le_bytes([l0, l1, l2, l3]);
    let body = &bytes[HEADER_LEN..];
    let declared = payload_len as usize + history_len as usize;
    if body.len() != declared {
        if body.len() < declared {
            return Err(DecodeError::Truncated { len: bytes.len(), needed: HEADER_LEN + declared });
        }
        return Err(DecodeError::LengthMismatch { declared: payload_len, actual: body.len() - history_len as usize });
    }
    let stored = u64::from_le_bytes(c);
    let computed = checksum(version, kind, payload_len, history_len, body);
    if stored != computed {
        return Err(DecodeError::ChecksumMismatch { stored, computed });
    }
    let (payload, history_bytes) = body.split_at(payload_len as usize);
    let history = if version == FORMAT_VERSION_HISTORY {
        let h = ProcessHistory::decode(history_bytes)?;
        if h.is_empty() {
            // Writers use version 1 for an empty history: one encoding per content.
            return Err(DecodeError::BadHistory { len: history_bytes.len() });
        }
        h
    } else {
        ProcessHistory::EMPTY
    };
    Ok((RecordHeader { version, kind: kind_enum, payload_len, history_len, checksum: stored }, payload, history))
}

/// What [`decode_into`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A uniform record; the buffer was not touched.
    Uniform(MaterialId),
    /// A dense record, now in the buffer.
    Dense,
}

/// Decodes a record into a caller-owned dense buffer (no allocation).
///
/// On error the buffer's contents are unspecified but memory-safe.
pub fn decode_into(bytes: &[u8], buf: &mut DenseChunk) -> Result<Decoded, DecodeError> {
    let (header, payload) = parse_record(bytes)?;
    match header.kind {
        RecordKind::Uniform => match *payload {
            [a, b] => Ok(Decoded::Uniform(MaterialId(u16::from_le_bytes([a, b])))),
            _ => Err(DecodeError::UniformPayloadSize(payload.len())),
        },
        RecordKind::DenseLz4 => {
            let out: &mut [u8] = bytemuck::cast_slice_mut(buf.as_mut_slice().as_mut_slice());
            let n = lz4_flex::block::decompress_into(payload, out).map_err(|e| DecodeError::Lz4(e.to_string()))?;
            if n != DENSE_BYTES {
                return Err(DecodeError::DecodedSize(n));
            }
            #[cfg(target_endian = "big")]
            for v in buf.as_mut_slice().iter_mut() {
                *v = u16::from_le(*v);
            }
            Ok(Decoded::Dense)
        }
    }
}

/// Decodes a record into a chunk. Allocates at most one dense chunk (64 KiB).
pub fn decode(bytes: &[u8]) -> Result<Chunk, DecodeError> {
    decode_with_history(bytes).map(|(c, _)| c)
}

/// Decodes a record into a chunk and its process history (empty for version-1 records).
/// Allocates at most one dense chunk (64 KiB).
pub fn decode_with_history(bytes: &[u8]) -> Result<(Chunk, ProcessHistory), DecodeError> {
    let (header, payload, history) = parse_record_parts(bytes)?;
    if header.kind == RecordKind::Uniform {
        return match *payload {
            [a, b] => Ok((Chunk::Uniform(MaterialId(u16::from_le_bytes([a, b]))), history)),
            _ => Err(DecodeError::UniformPayloadSize(payload.len())),
        };
    }
    let mut dense = DenseChunk::filled(MaterialId::AIR);
    let chunk = match decode_into(bytes, &mut dense)? {
        Decoded::Dense => Chunk::Dense(dense),
        Decoded::Uniform(m) => Chunk::Uniform(m),
    };
    Ok((chunk, history))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coords::LocalIndex;
    use proptest::prelude::*;

    fn terrain_like() -> Chunk {
        Chunk::Dense(DenseChunk::from_fn(|p| {
            let h = 12 + ((p.x as i32 * 7 + p.z as i32 * 3) % 9);
            let y = p.y as i32;
            MaterialId(if y > h {
                0
            } else if y == h {
                3
            } else if y > h - 4 {
                2
            } else {
                1
            })
        }))
    }

    fn eroded() -> ProcessHistory {
        let mut h = ProcessHistory::EMPTY;
        for (p, step) in [(0, 12), (3, 7)] {
            h.record(crate::history::ProcessStamp { process: crate::history::ProcessId::new(p).unwrap(), step });
        }
        h
    }

    fn with_history(chunk: &Chunk) -> Vec<u8> {
        let mut out = Vec::new();
        ChunkEncoder::new().encode_with_history(chunk, &eroded(), &mut out);
        out
    }

    fn samples() -> Vec<Vec<u8>> {
        vec![
            encode(&Chunk::Uniform(MaterialId(7))),
            encode(&terrain_like()),
            with_history(&Chunk::Uniform(MaterialId(8))),
            with_history(&terrain_like()),
        ]
    }

    #[test]
    fn history_round_trips_and_empty_history_writes_version_1() {
        for c in [Chunk::Uniform(MaterialId(8)), terrain_like()] {
            let rec = with_history(&c);
            assert_eq!(rec[4], FORMAT_VERSION_HISTORY);
            assert_eq!(decode_with_history(&rec).unwrap(), (c.clone(), eroded()));
            assert_eq!(decode(&rec).unwrap(), c);
            let mut out = Vec::new();
            ChunkEncoder::new().encode_with_history(&c, &ProcessHistory::EMPTY, &mut out);
            assert_eq!(out, encode(&c));
            assert_eq!(decode_with_history(&out).unwrap(), (c, ProcessHistory::EMPTY));
        }
        assert_eq!(with_history(&Chunk::Uniform(MaterialId(8))).len(), UNIFORM_RECORD_LEN + eroded().encoded_len());
    }

    #[test]
    fn malformed_history_behind_a_valid_checksum() {
        // Version 2 with a history whose length disagrees with its mask, or an empty one.
        for hist in [&[0b11u8, 0, 1, 0, 0, 0][..], &[0, 0][..]] {
            let payload = 5u16.to_le_bytes();
            let mut body = payload.to_vec();
            body.extend_from_slice(hist);
            let mut rec = Vec::new();
            rec.extend_from_slice(&MAGIC);
            rec.push(FORMAT_VERSION_HISTORY);
            rec.push(0);
            rec.extend_from_slice(&(hist.len() as u16).to_le_bytes());
            rec.extend_from_slice(&2u32.to_le_bytes());
            rec.extend_from_slice(&checksum(FORMAT_VERSION_HISTORY, 0, 2, hist.len() as u16, &body).to_le_bytes());
            rec.extend_from_slice(&body);
            assert!(matches!(decode(&rec), Err(DecodeError::BadHistory { .. })), "{hist:?}");
        }
    }

    #[test]
    fn uniform_record_is_small() {
        assert_eq!(encode(&Chunk::Uniform(MaterialId(9))).len(), UNIFORM_RECORD_LEN);
    }

    #[test]
    fn round_trip_terrain() {
        let c = terrain_like();
        let bytes = encode(&c);
        assert!(bytes.len() < 8 * 1024, "terrain compresses well: {}", bytes.len());
        assert_eq!(decode(&bytes).unwrap(), c);
    }

    #[test]
    fn truncation_at_every_length_is_an_error() {
        for rec in samples() {
            for len in 0..rec.len() {
                let err = decode(&rec[..len]).unwrap_err();
                assert!(matches!(err, DecodeError::Truncated { .. }), "len {len}: {err:?}");
            }
        }
    }

    #[test]
    fn bit_flip_at_every_byte_is_an_error() {
        for rec in samples() {
            for i in 0..rec.len() {
                for bit in [0u8, 3, 7] {
                    let mut bad = rec.clone();
                    bad[i] ^= 1 << bit;
                    assert!(decode(&bad).is_err(), "flip at byte {i} bit {bit} went unnoticed");
                }
            }
        }
    }

    #[test]
    fn specific_header_errors() {
        let rec = encode(&terrain_like());
        let mut bad = rec.clone();
        bad[0] = b'X';
        assert!(matches!(decode(&bad), Err(DecodeError::BadMagic(_))));
        let mut bad = rec.clone();
        bad[4] = 9;
        assert_eq!(decode(&bad), Err(DecodeError::UnsupportedVersion(9)));
        let mut bad = rec.clone();
        bad[5] = 7;
        assert_eq!(decode(&bad), Err(DecodeError::UnknownKind(7)));
        let mut bad = rec.clone();
        bad[6] = 1;
        assert_eq!(decode(&bad), Err(DecodeError::ReservedBits(1)));
        let mut bad = rec.clone();
        bad.push(0);
        assert!(matches!(decode(&bad), Err(DecodeError::LengthMismatch { .. })));
        // A length field that claims more than present (e.g. 4 GiB) is truncation, not an allocation.
        let mut bad = rec.clone();
        bad[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&bad), Err(DecodeError::Truncated { .. })));
        let mut bad = rec;
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(matches!(decode(&bad), Err(DecodeError::ChecksumMismatch { .. })));
    }

    /// Builds a record with a valid header and checksum around an arbitrary payload, to reach the
    /// payload checks behind the checksum.
    fn forge(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.push(FORMAT_VERSION);
        out.push(kind);
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&checksum(FORMAT_VERSION, kind, payload.len() as u32, 0, payload).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn payload_errors_behind_a_valid_checksum() {
        assert_eq!(decode(&forge(0, &[1, 2, 3])), Err(DecodeError::UniformPayloadSize(3)));
        assert!(matches!(decode(&forge(1, &[0xff; 40])), Err(DecodeError::Lz4(_))));
        // A valid lz4 block of the wrong size.
        let small = lz4_flex::block::compress(&[0u8; 100]);
        assert_eq!(decode(&forge(1, &small)), Err(DecodeError::DecodedSize(100)));
        // A valid lz4 block that is too large for the fixed buffer.
        let big = lz4_flex::block::compress(&vec![0u8; DENSE_BYTES + 1]);
        assert!(matches!(decode(&forge(1, &big)), Err(DecodeError::Lz4(_))));
    }

    proptest! {
        #[test]
        fn dense_round_trip(runs in proptest::collection::vec((0u16..6, 1usize..3000), 1..40), noise in proptest::collection::vec((0u16..32768, any::<u16>()), 0..200)) {
            let mut d = DenseChunk::filled(MaterialId::AIR);
            let mut i = 0;
            'fill: for (m, len) in runs.iter().cycle().take(400) {
                for _ in 0..*len {
                    if i == CHUNK_VOLUME { break 'fill; }
                    d.as_mut_slice()[i] = *m;
                    i += 1;
                }
            }
            for (idx, v) in noise { d.set(LocalIndex::new(idx), MaterialId(v)); }
            let c = Chunk::Dense(d);
            let mut enc = ChunkEncoder::new();
            let mut bytes = Vec::new();
            enc.encode(&c, &mut bytes);
            prop_assert_eq!(decode(&bytes).unwrap(), c.clone());
            let mut buf = DenseChunk::filled(MaterialId(1));
            prop_assert_eq!(decode_into(&bytes, &mut buf).unwrap(), Decoded::Dense);
            prop_assert_eq!(Chunk::Dense(buf), c);
        }

        #[test]
        fn uniform_round_trip(m in any::<u16>()) {
            let c = Chunk::Uniform(MaterialId(m));
            prop_assert_eq!(decode(&encode(&c)).unwrap(), c);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
}
