//! The on-disk (and on-wire) record format of one chunk.
//!
//! Version 3 (written) carries where the record belongs — the world and the chunk — and the
//! commit that wrote it, all under its checksum, so a record is recognisable and verifiable on
//! its own: without the database structure around it (what `strata salvage` relies on), and
//! never accepted under another key or in another world.
//!
//! ```text
//! offset size field
//!      0    4 magic            b"STRC"
//!      4    1 format version   3
//!      5    1 kind             0 = uniform, 1 = dense lz4 block, 2 = deletion (no payload)
//!      6    2 history length   bytes of process history after the payload (u16 LE; 0 = none)
//!      8    4 payload length   u32 LE; payload + history = the bytes after the header
//!     12    8 world            the save's WorldId (u64 LE; 0 until a store seals the record)
//!     20   16 key              the chunk's Morton key (u128 LE)
//!     36    8 sequence         the store commit that wrote the record (u64 LE; 0 until sealed)
//!     44    … payload          uniform: material id (u16 LE); dense: lz4 block of 32³ u16 LE
//!      … …  history            ProcessHistory (mask u16 LE + u32 LE per set bit), if any
//!      …    8 checksum         xxh3-64 of every byte from offset 4 to the checksum (all the
//!                              fields and the body: one pass)
//! ```
//!
//! A record is encoded for its key ([`ChunkEncoder::encode`]); the store that commits it
//! **seals** it ([`seal_into`]): writes its world id and the commit's sequence number and
//! recomputes the checksum (only if the record passed its checksum, so sealing never blesses
//! damaged bytes). Readers decode with the place they read from ([`decode_at`]): a record whose
//! key or world differ is [`DecodeError::Misplaced`].
//!
//! Versions 1 and 2 (a 20-byte header: magic, version, kind, reserved / history length, payload
//! length, checksum; version 1 has no history, version 2 has one) are still read; they carry no
//! place, so nothing binds them to a key.
//!
//! Decoding checks, in order: length ≥ header, magic, version, kind, reserved bits (version 1),
//! declared lengths = actual length, checksum, the history, then the payload, then (for
//! [`decode_at`]) the place. A dense payload is decompressed with
//! `lz4_flex::block::decompress_into` straight into the chunk's fixed 64 KiB array, so a record can
//! never make the decoder allocate more than one chunk, whatever its bytes say.
//!
//! # Runtime
//! One xxh3 pass over the record per decode, as before the place existed (the 40 bytes of
//! fields ride along with the body); sealing one pass to check the record and one to seal it.

use crate::chunk::{Chunk, DenseChunk};
use crate::coords::CHUNK_VOLUME;
use crate::history::ProcessHistory;
use crate::material::MaterialId;
use crate::morton::MortonKey;
use crate::side::{ChunkSide, MAX_SIDE_LEN};

/// Record magic.
pub const MAGIC: [u8; 4] = *b"STRC";
/// The format version written: records that carry their world, key and sequence.
pub const FORMAT_VERSION: u8 = 3;
/// The format version written for chunks with game data ([`ChunkSide`]): version 3 with a
/// side-section length at offset 44 (the header is 48 bytes) and the section after the history.
/// A chunk without game data is written as version 3.
pub const FORMAT_VERSION_SIDE: u8 = 4;
/// The first format version: no process history, no place (read, never written).
pub const FORMAT_VERSION_1: u8 = 1;
/// The second format version: a process history, no place (read, never written).
pub const FORMAT_VERSION_2: u8 = 2;
/// Bytes before the payload (version 3).
pub const HEADER_LEN: usize = 44;
/// Bytes before the payload (version 4: the side-section length follows the version-3 fields).
pub const HEADER_LEN_SIDE: usize = 48;
/// Bytes after the history: the checksum (version 3).
pub const TRAILER_LEN: usize = 8;
/// Bytes before the payload in versions 1 and 2.
pub const LEGACY_HEADER_LEN: usize = 20;
/// Decoded size of a dense chunk in bytes.
pub const DENSE_BYTES: usize = CHUNK_VOLUME * 2;
/// Size of an encoded uniform chunk without history.
pub const UNIFORM_RECORD_LEN: usize = HEADER_LEN + 2 + TRAILER_LEN;
/// The longest record the encoder can write (a dense chunk lz4 cannot shrink, and the longest
/// history): what a scanner needs to see of a file at once to find any record.
pub const MAX_RECORD_LEN: usize =
    HEADER_LEN_SIDE + DENSE_BYTES + DENSE_BYTES / 255 + 16 + u16::MAX as usize + MAX_SIDE_LEN + TRAILER_LEN;

/// The world a save belongs to: chosen at random when the save is created and written into
/// every record it stores, so a record copied from another world fails verification.
/// [`WorldId::UNSEALED`] (0) is what a record holds before a store seals it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorldId(pub u64);

impl WorldId {
    /// The id of records no store has sealed (and of stores that do not seal).
    pub const UNSEALED: WorldId = WorldId(0);

    /// A new random, non-zero id (from the standard library's randomly seeded hasher and the
    /// clock; distinct worlds collide with probability about 2⁻⁶⁴).
    pub fn random() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        h.write_u128(now.as_nanos());
        h.write_u32(std::process::id());
        WorldId(h.finish().max(1))
    }
}

impl std::fmt::Display for WorldId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Where a record belongs: its world and its chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordHome {
    /// The save's world.
    pub world: WorldId,
    /// The chunk's key.
    pub key: MortonKey,
}

impl std::fmt::Display for RecordHome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.key.to_chunk();
        write!(f, "chunk {},{},{} of world {}", c.x, c.y, c.z, self.world)
    }
}

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordKind {
    /// One material id.
    Uniform = 0,
    /// An lz4 block of 32³ little-endian `u16`.
    DenseLz4 = 1,
    /// The chunk was deleted (reverts to the generator): no payload. Version 3 only; stores
    /// keep these beside the chunks so a salvage does not bring deleted chunks back.
    Deletion = 2,
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
    /// Side-section bytes after the history (version 4; 0 in the others).
    pub side_len: u32,
    /// Where the record says it belongs (`None` in versions 1 and 2).
    pub home: Option<RecordHome>,
    /// The store commit that wrote it (0 in versions 1 and 2, and before sealing).
    pub sequence: u64,
    /// Stored checksum.
    pub checksum: u64,
}

impl RecordHeader {
    /// Bytes before the payload ([`HEADER_LEN`] or, for versions 1 and 2, [`LEGACY_HEADER_LEN`]).
    pub fn header_len(&self) -> usize {
        framing(self.version).map_or(LEGACY_HEADER_LEN, |(h, _)| h)
    }

    /// Bytes after the side section ([`TRAILER_LEN`]; 0 for versions 1 and 2).
    pub fn trailer_len(&self) -> usize {
        framing(self.version).map_or(0, |(_, t)| t)
    }
}

/// Header and trailer bytes of a record of `version` (`None` for versions this build does not
/// read).
fn framing(version: u8) -> Option<(usize, usize)> {
    match version {
        FORMAT_VERSION => Some((HEADER_LEN, TRAILER_LEN)),
        FORMAT_VERSION_SIDE => Some((HEADER_LEN_SIDE, TRAILER_LEN)),
        FORMAT_VERSION_1 | FORMAT_VERSION_2 => Some((LEGACY_HEADER_LEN, 0)),
        _ => None,
    }
}

/// Whether records of `version` carry their place, sequence and a trailing checksum (3 and 4).
fn is_placed(version: u8) -> bool {
    version == FORMAT_VERSION || version == FORMAT_VERSION_SIDE
}

/// How an lz4 block is malformed: `lz4_flex`'s `DecompressError`, as a value that can be
/// compared and cloned (so [`DecodeError`] can be).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Lz4Error {
    /// The block decodes to more bytes than the output holds.
    #[error("it decodes to more than {expected} bytes")]
    OutputTooSmall {
        /// The output's size.
        expected: usize,
        /// What the block needed.
        actual: usize,
    },
    /// A literal reaches past the end of the block.
    #[error("a literal reaches past its end")]
    LiteralOutOfBounds,
    /// The block ends in the middle of a sequence.
    #[error("it ends in the middle of a sequence")]
    ExpectedAnotherByte,
    /// A match with offset 0.
    #[error("a match has offset 0")]
    OffsetZero,
    /// A match that points before the start of the output.
    #[error("a match points before the start of the output")]
    OffsetOutOfBounds,
    /// Another kind of malformed block (a later `lz4_flex` may name more).
    #[error("it is malformed")]
    Other,
}

impl From<lz4_flex::block::DecompressError> for Lz4Error {
    fn from(e: lz4_flex::block::DecompressError) -> Self {
        use lz4_flex::block::DecompressError as E;
        match e {
            E::OutputTooSmall { expected, actual } => Lz4Error::OutputTooSmall { expected, actual },
            E::LiteralOutOfBounds => Lz4Error::LiteralOutOfBounds,
            E::ExpectedAnotherByte => Lz4Error::ExpectedAnotherByte,
            E::OffsetZero => Lz4Error::OffsetZero,
            E::OffsetOutOfBounds => Lz4Error::OffsetOutOfBounds,
            _ => Lz4Error::Other,
        }
    }
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
    #[error("unsupported format version {0} (this build reads 1 to {FORMAT_VERSION_SIDE})")]
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
    /// An intact record stored where it does not belong: under another key, or in another
    /// world (copied from another save, or moved by damage to the database structure).
    #[error("misplaced record: stored as {stored_at}, but it is the record of {claims}")]
    Misplaced {
        /// Where it was read from.
        stored_at: RecordHome,
        /// Where its header (under the checksum) says it belongs.
        claims: RecordHome,
    },
    /// A deletion record where a chunk was expected.
    #[error("the record marks a deletion, not a chunk")]
    Deletion,
    /// A uniform payload that is not exactly 2 bytes.
    #[error("uniform payload must be 2 bytes, found {0}")]
    UniformPayloadSize(usize),
    /// The lz4 block is malformed.
    #[error("lz4 block is malformed: {0}")]
    Lz4(Lz4Error),
    /// The lz4 block decoded to a size other than 65536 bytes.
    #[error("dense payload decoded to {0} bytes, expected {DENSE_BYTES}")]
    DecodedSize(usize),
    /// A [meta record](crate::meta_record) whose text is malformed.
    #[error("malformed meta record: {0}")]
    BadMeta(&'static str),
    /// A stored chunk summary (see [`crate::summary_record`]) whose body is malformed.
    #[error("malformed chunk summary: {0}")]
    BadSummary(&'static str),
    /// A side section ([`ChunkSide`]: block data and entity records) that is malformed.
    #[error("malformed side section: {0}")]
    BadSide(&'static str),
    /// A process history whose length does not match its mask, or an empty one stored.
    #[error("malformed process history ({len} bytes)")]
    BadHistory {
        /// Bytes of history present.
        len: usize,
    },
}

/// Checksum of a version-3 record: every byte from offset 4 to the trailer (version, kind,
/// lengths, world, key, sequence, payload, history).
fn checksum_v3(record: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&record[4..record.len() - TRAILER_LEN])
}

/// Writes the trailer of a complete version-3 record.
fn write_trailer(record: &mut [u8]) {
    let sum = checksum_v3(record);
    let n = record.len();
    record[n - TRAILER_LEN..].copy_from_slice(&sum.to_le_bytes());
}

/// Checksum of a version-1 or -2 record (the body seeded with version, kind and lengths).
fn checksum_legacy(version: u8, kind: u8, payload_len: u32, history_len: u16, body: &[u8]) -> u64 {
    let seed = ((history_len as u64) << 48) | ((version as u64) << 40) | ((kind as u64) << 32) | payload_len as u64;
    xxhash_rust::xxh3::xxh3_64_with_seed(body, seed)
}

/// Appends a version-3 record (version 4 when `side` holds anything; world and sequence 0:
/// unsealed) for `key`.
fn write_record(
    out: &mut Vec<u8>,
    key: MortonKey,
    kind: RecordKind,
    payload: &[u8],
    history: &ProcessHistory,
    side: &ChunkSide,
) {
    let start = out.len();
    let history_len = if history.is_empty() { 0u16 } else { history.encoded_len() as u16 };
    let side_len = side.encoded_len();
    out.reserve(HEADER_LEN_SIDE + payload.len() + history_len as usize + side_len + TRAILER_LEN);
    out.extend_from_slice(&MAGIC);
    out.push(if side_len > 0 { FORMAT_VERSION_SIDE } else { FORMAT_VERSION });
    out.push(kind as u8);
    out.extend_from_slice(&history_len.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&WorldId::UNSEALED.0.to_le_bytes());
    out.extend_from_slice(&key.0.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    if side_len > 0 {
        out.extend_from_slice(&(side_len as u32).to_le_bytes());
    }
    out.extend_from_slice(payload);
    if history_len > 0 {
        history.encode_into(out);
    }
    side.encode_into(out);
    out.extend_from_slice(&[0; TRAILER_LEN]);
    write_trailer(&mut out[start..]);
}

/// Appends the deletion record of `key` (version 3, unsealed): what stores keep for a deleted
/// chunk so that a later salvage knows the chunk was deleted after its last stored record.
pub fn encode_deletion(key: MortonKey, out: &mut Vec<u8>) {
    write_record(out, key, RecordKind::Deletion, &[], &ProcessHistory::EMPTY, &ChunkSide::new());
}

/// Appends `record` to `out`, sealed for `world` by commit `sequence`: a version-3 record that
/// passes its checksum and is unsealed or already sealed for `world` gets the world and
/// sequence written into its header and its checksum recomputed; anything else is copied
/// unchanged: older versions, damaged bytes (sealing never makes damaged bytes pass) and
/// records sealed for another world (a record copied from another save stays foreign and fails
/// verification there). Returns whether the record was sealed.
///
/// # Runtime
/// Two xxh3 passes over the record (one to check it, one to seal it) and a copy.
pub fn seal_into(record: &[u8], world: WorldId, sequence: u64, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    out.extend_from_slice(record);
    let Ok(header) = parse_header(record) else { return false };
    match header.home {
        Some(home) if home.world == WorldId::UNSEALED || home.world == world => {}
        _ => return false,
    }
    let rec = &mut out[start..];
    rec[12..20].copy_from_slice(&world.0.to_le_bytes());
    rec[36..44].copy_from_slice(&sequence.to_le_bytes());
    write_trailer(rec);
    true
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

    /// Appends the record of `chunk`, stored at `key`, without a process history, to `out`
    /// (unsealed: see [`seal_into`]).
    ///
    /// # Runtime
    /// O(1) for uniform chunks; one lz4 block compression of 64 KiB for dense ones.
    pub fn encode(&mut self, key: MortonKey, chunk: &Chunk, out: &mut Vec<u8>) {
        self.encode_with_history(key, chunk, &ProcessHistory::EMPTY, out);
    }

    /// Appends the record of `chunk`, stored at `key`, with its process history, to `out`.
    pub fn encode_with_history(&mut self, key: MortonKey, chunk: &Chunk, history: &ProcessHistory, out: &mut Vec<u8>) {
        self.encode_full(key, chunk, history, &ChunkSide::new(), out);
    }

    /// Appends the record of `chunk`, stored at `key`, with its process history and game data
    /// (version 4 when `side` holds anything, else version 3), to `out`. `side` must encode to
    /// at most [`MAX_SIDE_LEN`] bytes (what the world's edits keep to).
    pub fn encode_full(
        &mut self,
        key: MortonKey,
        chunk: &Chunk,
        history: &ProcessHistory,
        side: &ChunkSide,
        out: &mut Vec<u8>,
    ) {
        match chunk {
            Chunk::Uniform(m) => {
                let payload = m.0.to_le_bytes();
                write_record(out, key, RecordKind::Uniform, &payload, history, side);
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
                write_record(out, key, RecordKind::DenseLz4, &self.compressed[..n], history, side);
            }
        }
    }
}

/// Encodes `chunk`, stored at `key`, into a new vector (unsealed). Prefer [`ChunkEncoder`] in
/// loops.
pub fn encode(key: MortonKey, chunk: &Chunk) -> Vec<u8> {
    let mut out = Vec::new();
    ChunkEncoder::new().encode(key, chunk, &mut out);
    out
}

/// The length of the record that starts at `bytes[0]`, as its header declares (`None` if no
/// record header of a known version starts there). Nothing is checked beyond magic, version
/// and lengths: what a scanner uses to cut a candidate out of a file before [`parse_record`].
pub fn declared_len(bytes: &[u8]) -> Option<usize> {
    let h = bytes.get(..12)?;
    if h[..4] != MAGIC {
        return None;
    }
    let (header, trailer) = framing(h[4])?;
    let history_len = if h[4] == FORMAT_VERSION_1 { 0 } else { u16::from_le_bytes([h[6], h[7]]) as usize };
    let payload_len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
    let side_len =
        if h[4] == FORMAT_VERSION_SIDE { u32::from_le_bytes(bytes.get(44..48)?.try_into().ok()?) as usize } else { 0 };
    Some(header + trailer + payload_len + history_len + side_len)
}

/// The place and sequence number a version-3 header at `bytes[0]` claims, read **without
/// checking anything** but the magic and version (`None` for other bytes or a short header):
/// what [`parse_record`] reports once the checksum passed, and what a salvage notes about a
/// damaged copy.
pub fn claimed_place(bytes: &[u8]) -> Option<(RecordHome, u64)> {
    let h = bytes.get(..HEADER_LEN)?;
    if h[..4] != MAGIC || !is_placed(h[4]) {
        return None;
    }
    let u64_at = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().unwrap_or_default());
    let key = MortonKey(u128::from_le_bytes(h[20..36].try_into().unwrap_or_default()));
    Some((RecordHome { world: WorldId(u64_at(12)), key }, u64_at(36)))
}

/// The sequence number in a version-3 record's header (0 for other bytes: versions 1 and 2,
/// unsealed records), read without checking the record: what a conditional put
/// ([`crate::store::Expect`]) compares.
pub fn stored_sequence(bytes: &[u8]) -> u64 {
    claimed_place(bytes).map_or(0, |(_, sequence)| sequence)
}

/// Parses and checks a record's header and checksum, returning the header and payload.
pub fn parse_record(bytes: &[u8]) -> Result<(RecordHeader, &[u8]), DecodeError> {
    parse_record_parts(bytes).map(|(h, payload, _)| (h, payload))
}

/// The header fields, checked up to and including the checksum (not the body's contents).
fn parse_header(bytes: &[u8]) -> Result<RecordHeader, DecodeError> {
    let head: &[u8; LEGACY_HEADER_LEN] = bytes
        .get(..LEGACY_HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(DecodeError::Truncated { len: bytes.len(), needed: LEGACY_HEADER_LEN })?;
    let [m0, m1, m2, m3, version, kind, r0, r1, l0, l1, l2, l3, ..] = *head;
    if [m0, m1, m2, m3] != MAGIC {
        return Err(DecodeError::BadMagic([m0, m1, m2, m3]));
    }
    let (header_len, trailer_len) = framing(version).ok_or(DecodeError::UnsupportedVersion(version))?;
    let kind_enum = match kind {
        0 => RecordKind::Uniform,
        1 => RecordKind::DenseLz4,
        2 if version == FORMAT_VERSION => RecordKind::Deletion,
        other => return Err(DecodeError::UnknownKind(other)),
    };
    let reserved = u16::from_le_bytes([r0, r1]);
    let history_len = if version == FORMAT_VERSION_1 {
        if reserved != 0 {
            return Err(DecodeError::ReservedBits(reserved));
        }
        0
    } else {
        reserved
    };
    let payload_len = u32::from_le_bytes([l0, l1, l2, l3]);
    let side_len = if version == FORMAT_VERSION_SIDE {
        let at: [u8; 4] = bytes
            .get(44..48)
            .and_then(|b| b.try_into().ok())
            .ok_or(DecodeError::Truncated { len: bytes.len(), needed: HEADER_LEN_SIDE })?;
        u32::from_le_bytes(at)
    } else {
        0
    };
    let declared = payload_len as usize + history_len as usize + side_len as usize;
    let needed = header_len + declared + trailer_len;
    if bytes.len() < needed {
        return Err(DecodeError::Truncated { len: bytes.len(), needed });
    }
    if bytes.len() != needed {
        let actual = (bytes.len() - header_len - trailer_len).saturating_sub(history_len as usize + side_len as usize);
        return Err(DecodeError::LengthMismatch { declared: payload_len, actual });
    }
    let body = &bytes[header_len..needed - trailer_len];
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
    let (home, sequence, stored, computed) = if let Some((home, sequence)) = claimed_place(bytes) {
        (Some(home), sequence, u64_at(needed - TRAILER_LEN), checksum_v3(bytes))
    } else {
        (None, 0, u64_at(12), checksum_legacy(version, kind, payload_len, history_len, body))
    };
    if stored != computed {
        return Err(DecodeError::ChecksumMismatch { stored, computed });
    }
    if kind_enum == RecordKind::Deletion && declared != 0 {
        return Err(DecodeError::LengthMismatch { declared: payload_len, actual: 0 });
    }
    if version == FORMAT_VERSION_SIDE && (side_len == 0 || side_len as usize > MAX_SIDE_LEN) {
        // Writers use version 3 without game data, and keep sections within the limit.
        return Err(DecodeError::BadSide("section length out of range"));
    }
    Ok(RecordHeader { version, kind: kind_enum, payload_len, history_len, side_len, home, sequence, checksum: stored })
}

/// Like [`parse_record`], also returning the decoded process history (empty if none).
pub fn parse_record_parts(bytes: &[u8]) -> Result<(RecordHeader, &[u8], ProcessHistory), DecodeError> {
    parse_record_sections(bytes).map(|(h, payload, history, _)| (h, payload, history))
}

/// A checked record's header, payload, history and side-section bytes
/// ([`parse_record_sections`]).
pub type RecordSections<'a> = (RecordHeader, &'a [u8], ProcessHistory, &'a [u8]);

/// Like [`parse_record_parts`], also returning the side section's bytes (empty if none; decode
/// them with [`ChunkSide::decode`]).
pub fn parse_record_sections(bytes: &[u8]) -> Result<RecordSections<'_>, DecodeError> {
    let header = parse_header(bytes)?;
    let body = &bytes[header.header_len()..bytes.len() - header.trailer_len()];
    let (body, side) = body.split_at(body.len() - header.side_len as usize);
    let (payload, history_bytes) = body.split_at(header.payload_len as usize);
    let history = if header.history_len > 0 {
        let h = ProcessHistory::decode(history_bytes)?;
        if h.is_empty() {
            // Writers store no history bytes for an empty history: one encoding per content.
            return Err(DecodeError::BadHistory { len: history_bytes.len() });
        }
        h
    } else if header.version == FORMAT_VERSION_2 {
        // Version 2 always had a history (version 1 was written without one).
        return Err(DecodeError::BadHistory { len: 0 });
    } else {
        ProcessHistory::EMPTY
    };
    Ok((header, payload, history, side))
}

/// The checksum field of the record that starts at `bytes[0]`, read without checking it (`None`
/// if no complete header of a known version starts there): what identifies a stored record's
/// exact bytes cheaply (a save's content digest is built from it).
pub fn stored_checksum(bytes: &[u8]) -> Option<u64> {
    let at = match (bytes.get(..4)?, bytes.get(4)?) {
        (m, &v) if *m == MAGIC && is_placed(v) => declared_len(bytes)?.checked_sub(TRAILER_LEN)?,
        (m, &(FORMAT_VERSION_1 | FORMAT_VERSION_2)) if *m == MAGIC => 12,
        _ => return None,
    };
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Checks that a parsed record belongs at `home` (version-3 records; older ones carry no place
/// and pass).
pub fn check_home(header: &RecordHeader, home: RecordHome) -> Result<(), DecodeError> {
    match header.home {
        Some(claims) if claims != home => Err(DecodeError::Misplaced { stored_at: home, claims }),
        _ => Ok(()),
    }
}

/// What [`decode_into`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A uniform record; the buffer was not touched.
    Uniform(MaterialId),
    /// A dense record, now in the buffer.
    Dense,
}

/// Decodes a payload of `kind` into `buf` (a dense one) or returns its material (a uniform one).
fn decode_payload(kind: RecordKind, payload: &[u8], buf: &mut DenseChunk) -> Result<Decoded, DecodeError> {
    match kind {
        RecordKind::Uniform => match *payload {
            [a, b] => Ok(Decoded::Uniform(MaterialId(u16::from_le_bytes([a, b])))),
            _ => Err(DecodeError::UniformPayloadSize(payload.len())),
        },
        RecordKind::DenseLz4 => {
            let out: &mut [u8] = bytemuck::cast_slice_mut(buf.as_mut_slice().as_mut_slice());
            let n = lz4_flex::block::decompress_into(payload, out).map_err(|e| DecodeError::Lz4(e.into()))?;
            if n != DENSE_BYTES {
                return Err(DecodeError::DecodedSize(n));
            }
            #[cfg(target_endian = "big")]
            for v in buf.as_mut_slice().iter_mut() {
                *v = u16::from_le(*v);
            }
            Ok(Decoded::Dense)
        }
        RecordKind::Deletion => Err(DecodeError::Deletion),
    }
}

/// Decodes a record into a caller-owned dense buffer (no allocation), without checking where
/// it belongs (see [`decode_into_at`]).
///
/// On error the buffer's contents are unspecified but memory-safe.
pub fn decode_into(bytes: &[u8], buf: &mut DenseChunk) -> Result<Decoded, DecodeError> {
    let (header, payload) = parse_checked(bytes)?;
    decode_payload(header.kind, payload, buf)
}

/// [`parse_record`], with the side section (if any) checked structurally.
fn parse_checked(bytes: &[u8]) -> Result<(RecordHeader, &[u8]), DecodeError> {
    let (header, payload, _, side) = parse_record_sections(bytes)?;
    if !side.is_empty() {
        ChunkSide::decode(side)?;
    }
    Ok((header, payload))
}

/// [`decode_into`] for a record read from `home`: a version-3 record that belongs elsewhere is
/// [`DecodeError::Misplaced`] (checked after its checksum and payload).
pub fn decode_into_at(bytes: &[u8], home: RecordHome, buf: &mut DenseChunk) -> Result<Decoded, DecodeError> {
    let (header, payload) = parse_checked(bytes)?;
    let decoded = decode_payload(header.kind, payload, buf)?;
    check_home(&header, home)?;
    Ok(decoded)
}

/// Decodes a record into a chunk, without checking where it belongs (see [`decode_at`]).
/// Allocates at most one dense chunk (64 KiB).
pub fn decode(bytes: &[u8]) -> Result<Chunk, DecodeError> {
    decode_with_history(bytes).map(|(c, _)| c)
}

/// Decodes a record into a chunk and its process history (empty if none), without checking
/// where it belongs. Allocates at most one dense chunk (64 KiB).
pub fn decode_with_history(bytes: &[u8]) -> Result<(Chunk, ProcessHistory), DecodeError> {
    decode_parts(bytes).map(|(_, chunk, history)| (chunk, history))
}

/// Decodes a record read from `home` into a chunk and its process history: what stores return.
/// A version-3 record that belongs to another key or world is [`DecodeError::Misplaced`].
pub fn decode_at(bytes: &[u8], home: RecordHome) -> Result<(Chunk, ProcessHistory), DecodeError> {
    let (header, chunk, history) = decode_parts(bytes)?;
    check_home(&header, home)?;
    Ok((chunk, history))
}

/// [`decode_at`] that also returns the sequence number of the commit that wrote the record (0
/// for versions 1 and 2 and unsealed records).
pub fn decode_stored_at(bytes: &[u8], home: RecordHome) -> Result<(Chunk, ProcessHistory, u64), DecodeError> {
    let (header, chunk, history) = decode_parts(bytes)?;
    check_home(&header, home)?;
    Ok((chunk, history, header.sequence))
}

/// Everything a record holds ([`decode_full_at`]).
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedRecord {
    /// The voxels.
    pub chunk: Chunk,
    /// The processes that changed it.
    pub history: ProcessHistory,
    /// Its game data (empty before version 4).
    pub side: ChunkSide,
    /// The commit that wrote it (0 for versions 1 and 2 and unsealed records).
    pub sequence: u64,
}

/// [`decode_stored_at`] that also decodes the side section: what stores return, and what
/// anything that writes a record again from a decoded one must use, so game data is kept.
pub fn decode_full_at(bytes: &[u8], home: RecordHome) -> Result<DecodedRecord, DecodeError> {
    let (header, chunk, history, side) = decode_sections(bytes)?;
    check_home(&header, home)?;
    Ok(DecodedRecord { chunk, history, side, sequence: header.sequence })
}

/// [`decode_full_at`] without checking where the record belongs (a salvage places it itself).
pub fn decode_full(bytes: &[u8]) -> Result<DecodedRecord, DecodeError> {
    let (header, chunk, history, side) = decode_sections(bytes)?;
    Ok(DecodedRecord { chunk, history, side, sequence: header.sequence })
}

fn decode_sections(bytes: &[u8]) -> Result<(RecordHeader, Chunk, ProcessHistory, ChunkSide), DecodeError> {
    let (header, payload, history, side) = parse_record_sections(bytes)?;
    // Checked structurally by every decode, so chunk readers and game-data readers agree on
    // which records are readable (it allocates only for records that hold game data).
    let side = if side.is_empty() { ChunkSide::new() } else { ChunkSide::decode(side)? };
    let chunk = match header.kind {
        RecordKind::Uniform => match *payload {
            [a, b] => Chunk::Uniform(MaterialId(u16::from_le_bytes([a, b]))),
            _ => return Err(DecodeError::UniformPayloadSize(payload.len())),
        },
        kind => {
            let mut dense = DenseChunk::filled(MaterialId::AIR);
            match decode_payload(kind, payload, &mut dense)? {
                Decoded::Dense => Chunk::Dense(dense),
                Decoded::Uniform(m) => Chunk::Uniform(m),
            }
        }
    };
    Ok((header, chunk, history, side))
}

fn decode_parts(bytes: &[u8]) -> Result<(RecordHeader, Chunk, ProcessHistory), DecodeError> {
    decode_sections(bytes).map(|(h, c, history, _)| (h, c, history))
}

/// Version-1 and -2 records as earlier builds wrote them: for tests of reading (and upgrading)
/// old saves, in this crate and in store backends. Nothing writes these any more.
pub fn encode_legacy(chunk: &Chunk, history: &ProcessHistory) -> Vec<u8> {
    let payload = match chunk {
        Chunk::Uniform(m) => m.0.to_le_bytes().to_vec(),
        Chunk::Dense(d) => {
            let input: Vec<u8> = d.as_slice().iter().flat_map(|v| v.to_le_bytes()).collect();
            lz4_flex::block::compress(&input)
        }
    };
    let kind = if chunk.as_uniform().is_some() { RecordKind::Uniform } else { RecordKind::DenseLz4 };
    let (version, history_len) =
        if history.is_empty() { (FORMAT_VERSION_1, 0u16) } else { (FORMAT_VERSION_2, history.encoded_len() as u16) };
    let mut body = payload.clone();
    if history_len > 0 {
        history.encode_into(&mut body);
    }
    let mut out = MAGIC.to_vec();
    out.push(version);
    out.push(kind as u8);
    out.extend_from_slice(&history_len.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(
        &checksum_legacy(version, kind as u8, payload.len() as u32, history_len, &body).to_le_bytes(),
    );
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coords::{ChunkKey, LocalIndex};
    use proptest::prelude::*;

    const K: MortonKey = MortonKey(0x1234_5678_9abc);
    const WORLD: WorldId = WorldId(0xfeed_f00d);

    fn home(key: MortonKey) -> RecordHome {
        RecordHome { world: WORLD, key }
    }

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
        ChunkEncoder::new().encode_with_history(K, chunk, &eroded(), &mut out);
        out
    }

    fn game_data() -> ChunkSide {
        let mut side = ChunkSide::new();
        side.set_block(LocalIndex::new(70), MaterialId(3), Some(b"chest".to_vec().into()));
        side.set_entity(42, Some(b"crate at 1.5, 2, 3".to_vec().into()));
        side
    }

    fn with_side(chunk: &Chunk) -> Vec<u8> {
        let mut out = Vec::new();
        ChunkEncoder::new().encode_full(K, chunk, &eroded(), &game_data(), &mut out);
        out
    }

    /// Game data makes a version-4 record that round-trips with its chunk, history and place;
    /// readers of chunks alone read it too; without game data the record is version 3, byte for
    /// byte what it was.
    #[test]
    fn game_data_round_trips_in_a_version_4_record() {
        for c in [Chunk::Uniform(MaterialId(8)), terrain_like()] {
            let rec = sealed(&with_side(&c), WORLD, 5);
            assert_eq!(rec[4], FORMAT_VERSION_SIDE);
            assert_eq!(declared_len(&rec), Some(rec.len()));
            assert_eq!(stored_sequence(&rec), 5);
            let full = decode_full_at(&rec, home(K)).unwrap();
            assert_eq!(full, DecodedRecord { chunk: c.clone(), history: eroded(), side: game_data(), sequence: 5 });
            assert_eq!(decode_at(&rec, home(K)).unwrap(), (c.clone(), eroded()));
            assert!(matches!(decode_full_at(&rec, home(MortonKey(1))), Err(DecodeError::Misplaced { .. })));
            let mut plain = Vec::new();
            ChunkEncoder::new().encode_full(K, &c, &eroded(), &ChunkSide::new(), &mut plain);
            assert_eq!(plain, with_history(&c));
            assert_eq!(decode_full(&plain).unwrap().side, ChunkSide::new());
        }
    }

    /// A version-4 header whose section length is 0 or past the limit, or whose section is
    /// malformed behind a valid checksum, is an error for every reader.
    #[test]
    fn a_bad_side_section_behind_a_valid_checksum_is_an_error() {
        let rec = with_side(&Chunk::Uniform(MaterialId(8)));
        let side_len = u32::from_le_bytes(rec[44..48].try_into().unwrap()) as usize;
        let section_at = rec.len() - TRAILER_LEN - side_len;
        // An empty section: the header says 0 bytes.
        let mut empty = rec[..section_at].to_vec();
        empty[44..48].copy_from_slice(&0u32.to_le_bytes());
        empty.extend_from_slice(&[0; TRAILER_LEN]);
        write_trailer(&mut empty);
        assert_eq!(decode_full(&empty), Err(DecodeError::BadSide("section length out of range")));
        // Trailing garbage inside the section.
        let mut bad = rec[..rec.len() - TRAILER_LEN].to_vec();
        bad.push(1);
        bad[44..48].copy_from_slice(&((side_len + 1) as u32).to_le_bytes());
        bad.extend_from_slice(&[0; TRAILER_LEN]);
        write_trailer(&mut bad);
        assert_eq!(decode_full(&bad), Err(DecodeError::BadSide("trailing bytes")));
        assert_eq!(decode(&bad), Err(DecodeError::BadSide("trailing bytes")), "chunk readers check it too");
        let mut buf = DenseChunk::filled(MaterialId::AIR);
        assert!(decode_into(&bad, &mut buf).is_err());
    }

    fn sealed(record: &[u8], world: WorldId, sequence: u64) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(seal_into(record, world, sequence, &mut out));
        out
    }

    fn samples() -> Vec<Vec<u8>> {
        let mut deletion = Vec::new();
        encode_deletion(K, &mut deletion);
        vec![
            encode(K, &Chunk::Uniform(MaterialId(7))),
            encode(K, &terrain_like()),
            with_history(&Chunk::Uniform(MaterialId(8))),
            with_history(&terrain_like()),
            sealed(&encode(K, &terrain_like()), WORLD, 99),
            with_side(&Chunk::Uniform(MaterialId(8))),
            with_side(&terrain_like()),
            sealed(&with_side(&terrain_like()), WORLD, 98),
            deletion,
            encode_legacy(&Chunk::Uniform(MaterialId(7)), &ProcessHistory::EMPTY),
            encode_legacy(&terrain_like(), &eroded()),
        ]
    }

    #[test]
    fn history_round_trips_and_an_empty_history_writes_no_bytes() {
        for c in [Chunk::Uniform(MaterialId(8)), terrain_like()] {
            let rec = with_history(&c);
            assert_eq!(rec[4], FORMAT_VERSION);
            assert_eq!(decode_with_history(&rec).unwrap(), (c.clone(), eroded()));
            assert_eq!(decode(&rec).unwrap(), c);
            let mut out = Vec::new();
            ChunkEncoder::new().encode_with_history(K, &c, &ProcessHistory::EMPTY, &mut out);
            assert_eq!(out, encode(K, &c));
            assert_eq!(decode_with_history(&out).unwrap(), (c, ProcessHistory::EMPTY));
        }
        assert_eq!(with_history(&Chunk::Uniform(MaterialId(8))).len(), UNIFORM_RECORD_LEN + eroded().encoded_len());
    }

    #[test]
    fn version_1_and_2_records_still_decode_anywhere() {
        for (c, h) in [
            (Chunk::Uniform(MaterialId(8)), ProcessHistory::EMPTY),
            (terrain_like(), ProcessHistory::EMPTY),
            (terrain_like(), eroded()),
        ] {
            let rec = encode_legacy(&c, &h);
            assert_eq!(rec[4], if h.is_empty() { FORMAT_VERSION_1 } else { FORMAT_VERSION_2 });
            assert_eq!(declared_len(&rec), Some(rec.len()));
            // They carry no place: any key and world accept them.
            assert_eq!(decode_at(&rec, home(MortonKey(77))).unwrap(), (c.clone(), h));
            let (header, _) = parse_record(&rec).unwrap();
            assert_eq!((header.home, header.sequence, header.header_len()), (None, 0, LEGACY_HEADER_LEN));
        }
    }

    #[test]
    fn the_checksum_covers_the_key_world_and_sequence() {
        let rec = sealed(&encode(K, &terrain_like()), WORLD, 5);
        assert_eq!(decode_at(&rec, home(K)).unwrap().0, terrain_like());
        let (header, _) = parse_record(&rec).unwrap();
        assert_eq!((header.home, header.sequence), (Some(home(K)), 5));
        // Each field rewritten (as a flipped bit or a copy-and-patch would) fails the checksum.
        for (at, len) in [(12, 8), (20, 16), (36, 8)] {
            let mut bad = rec.clone();
            bad[at + len - 1] ^= 0x10;
            assert!(matches!(decode(&bad), Err(DecodeError::ChecksumMismatch { .. })), "field at {at}");
        }
    }

    #[test]
    fn an_intact_record_under_another_key_or_world_is_misplaced() {
        let rec = sealed(&encode(K, &Chunk::Uniform(MaterialId(3))), WORLD, 1);
        let other_key = home(MortonKey(K.0 + 1));
        assert_eq!(decode_at(&rec, other_key), Err(DecodeError::Misplaced { stored_at: other_key, claims: home(K) }));
        let other_world = RecordHome { world: WorldId(1), key: K };
        assert_eq!(
            decode_at(&rec, other_world),
            Err(DecodeError::Misplaced { stored_at: other_world, claims: home(K) })
        );
        let mut buf = DenseChunk::filled(MaterialId::AIR);
        assert!(matches!(decode_into_at(&rec, other_key, &mut buf), Err(DecodeError::Misplaced { .. })));
        // The message names both places.
        let msg = decode_at(&rec, other_key).unwrap_err().to_string();
        let (a, b) = (K.to_chunk(), MortonKey(K.0 + 1).to_chunk());
        assert!(msg.contains(&format!("chunk {},{},{}", a.x, a.y, a.z)), "{msg}");
        assert!(msg.contains(&format!("chunk {},{},{}", b.x, b.y, b.z)), "{msg}");
        // Unsealed, the record is at home in no sealed world.
        assert!(decode_at(&encode(K, &terrain_like()), home(K)).is_err());
        assert!(decode_at(&encode(K, &terrain_like()), RecordHome { world: WorldId::UNSEALED, key: K }).is_ok());
    }

    #[test]
    fn sealing_never_blesses_damaged_bytes() {
        let rec = encode(K, &terrain_like());
        let mut bad = rec.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let mut out = Vec::new();
        assert!(!seal_into(&bad, WORLD, 3, &mut out));
        assert_eq!(out, bad);
        assert!(decode(&out).is_err());
        // Legacy records are copied as they are.
        let old = encode_legacy(&terrain_like(), &ProcessHistory::EMPTY);
        out.clear();
        assert!(!seal_into(&old, WORLD, 3, &mut out));
        assert_eq!(out, old);
        // Sealing again for the same world renumbers; a record of another world stays foreign.
        let twice = sealed(&sealed(&rec, WORLD, 1), WORLD, 2);
        assert_eq!(twice, sealed(&rec, WORLD, 2));
        let foreign = sealed(&rec, WorldId(8), 1);
        out.clear();
        assert!(!seal_into(&foreign, WORLD, 3, &mut out));
        assert_eq!(out, foreign);
        assert!(matches!(decode_at(&out, home(K)), Err(DecodeError::Misplaced { .. })));
    }

    #[test]
    fn a_deletion_record_is_not_a_chunk() {
        let mut rec = Vec::new();
        encode_deletion(K, &mut rec);
        let rec = sealed(&rec, WORLD, 4);
        assert_eq!(rec.len(), HEADER_LEN + TRAILER_LEN);
        let (header, payload) = parse_record(&rec).unwrap();
        assert_eq!((header.kind, payload.len(), header.sequence), (RecordKind::Deletion, 0, 4));
        assert_eq!(decode(&rec), Err(DecodeError::Deletion));
        // Only version 3 has deletions.
        let mut v1 = encode_legacy(&Chunk::Uniform(MaterialId(1)), &ProcessHistory::EMPTY);
        v1[5] = 2;
        assert_eq!(decode(&v1), Err(DecodeError::UnknownKind(2)));
    }

    #[test]
    fn malformed_history_behind_a_valid_checksum() {
        // A history whose length disagrees with its mask, or an empty one stored.
        for hist in [&[0b11u8, 0, 1, 0, 0, 0][..], &[0, 0][..]] {
            let mut rec = encode(K, &Chunk::Uniform(MaterialId(5)));
            rec.truncate(rec.len() - TRAILER_LEN);
            rec[6..8].copy_from_slice(&(hist.len() as u16).to_le_bytes());
            rec.extend_from_slice(hist);
            rec.extend_from_slice(&[0; TRAILER_LEN]);
            write_trailer(&mut rec);
            assert!(matches!(decode(&rec), Err(DecodeError::BadHistory { .. })), "{hist:?}");
        }
    }

    #[test]
    fn uniform_record_is_small() {
        assert_eq!(encode(K, &Chunk::Uniform(MaterialId(9))).len(), UNIFORM_RECORD_LEN);
    }

    #[test]
    fn round_trip_terrain() {
        let c = terrain_like();
        let bytes = encode(K, &c);
        assert!(bytes.len() < 8 * 1024, "terrain compresses well: {}", bytes.len());
        assert_eq!(decode(&bytes).unwrap(), c);
        assert_eq!(declared_len(&bytes), Some(bytes.len()));
        assert!(declared_len(&bytes[..11]).is_none());
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
                    assert!(parse_record(&bad).is_err(), "flip at byte {i} bit {bit} parsed");
                }
            }
        }
    }

    #[test]
    fn specific_header_errors() {
        let rec = encode(K, &terrain_like());
        let mut bad = rec.clone();
        bad[0] = b'X';
        assert!(matches!(decode(&bad), Err(DecodeError::BadMagic(_))));
        let mut bad = rec.clone();
        bad[4] = 9;
        assert_eq!(decode(&bad), Err(DecodeError::UnsupportedVersion(9)));
        let mut bad = rec.clone();
        bad[5] = 7;
        assert_eq!(decode(&bad), Err(DecodeError::UnknownKind(7)));
        let mut bad = encode_legacy(&terrain_like(), &ProcessHistory::EMPTY);
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
        let mut out = encode(K, &Chunk::Uniform(MaterialId(1)));
        out.truncate(HEADER_LEN);
        out[5] = kind;
        out[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(&[0; TRAILER_LEN]);
        write_trailer(&mut out);
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
        // A deletion with a payload.
        assert!(matches!(decode(&forge(2, &[1, 2])), Err(DecodeError::LengthMismatch { .. })));
    }

    #[test]
    fn the_longest_record_fits_the_declared_maximum() {
        // Incompressible content: every voxel different.
        let noisy = Chunk::Dense(DenseChunk::from_fn(|p| {
            MaterialId((p.x as u16).wrapping_mul(40503) ^ (p.y as u16).wrapping_mul(9973) ^ (p.z as u16) << 7)
        }));
        let rec = encode(ChunkKey::new(-1, 2, 3).morton(), &noisy);
        assert!(rec.len() > DENSE_BYTES && rec.len() <= MAX_RECORD_LEN, "{}", rec.len());
        // With the longest history and the longest side section.
        let mut history = ProcessHistory::EMPTY;
        for p in 0..crate::history::MAX_PROCESSES as u8 {
            history
                .record(crate::history::ProcessStamp { process: crate::history::ProcessId::new(p).unwrap(), step: 1 });
        }
        let mut side = ChunkSide::new();
        for id in 0..3 {
            side.set_entity(id, Some(vec![1; crate::side::MAX_VALUE_LEN].into()));
        }
        side.set_entity(3, Some(vec![1; MAX_SIDE_LEN - side.encoded_len() - 12].into()));
        assert_eq!(side.encoded_len(), MAX_SIDE_LEN);
        let mut rec = Vec::new();
        ChunkEncoder::new().encode_full(ChunkKey::new(-1, 2, 3).morton(), &noisy, &history, &side, &mut rec);
        assert!(rec.len() <= MAX_RECORD_LEN, "{} > {MAX_RECORD_LEN}", rec.len());
        assert_eq!(decode_full(&rec).unwrap().side, side);
    }

    proptest! {
        #[test]
        fn dense_round_trip(runs in proptest::collection::vec((0u16..6, 1usize..3000), 1..40), noise in proptest::collection::vec((0u16..32768, any::<u16>()), 0..200), key in any::<u128>(), world in any::<u64>(), seq in any::<u64>()) {
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
            enc.encode(MortonKey(key), &c, &mut bytes);
            let bytes = sealed(&bytes, WorldId(world), seq);
            let at = RecordHome { world: WorldId(world), key: MortonKey(key) };
            prop_assert_eq!(decode_at(&bytes, at).unwrap().0, c.clone());
            let mut buf = DenseChunk::filled(MaterialId(1));
            prop_assert_eq!(decode_into_at(&bytes, at, &mut buf).unwrap(), Decoded::Dense);
            prop_assert_eq!(Chunk::Dense(buf), c);
        }

        #[test]
        fn uniform_round_trip(m in any::<u16>()) {
            let c = Chunk::Uniform(MaterialId(m));
            prop_assert_eq!(decode(&encode(K, &c)).unwrap(), c);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
            let _ = declared_len(&bytes);
            let mut out = Vec::new();
            let _ = seal_into(&bytes, WORLD, 1, &mut out);
        }
    }
}
