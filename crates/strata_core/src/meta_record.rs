//! A named text value stored beside a save's chunks (for example the generator settings the
//! world was made with), framed like a [chunk record](crate::codec) so it is recognisable and
//! verifiable without the database around it: a damaged value is an error, never a silently
//! different world, and `strata salvage` finds it by scanning the file.
//!
//! ```text
//! offset size field
//!      0    4 magic            b"STRM"
//!      4    1 format version   1
//!      5    1 reserved         0
//!      6    2 name length      bytes of the name (u16 LE)
//!      8    4 value length     bytes of the value (u32 LE)
//!     12    8 world            the save's WorldId (u64 LE)
//!     20    8 sequence         the store commit that wrote it (u64 LE)
//!     28    8 checksum         xxh3-64 of name + value, seeded with xxh3-64 of bytes 4..28
//!     36    … name, value      UTF-8
//! ```
//!
//! Decoding checks, in order: length ≥ header, magic, version, reserved byte, declared lengths
//! = actual length, checksum, then that name and value are UTF-8. No input panics.

use crate::codec::{DecodeError, WorldId};

/// Meta record magic.
pub const META_MAGIC: [u8; 4] = *b"STRM";
/// The meta record format version written and read.
pub const META_VERSION: u8 = 1;
/// Bytes before the name.
pub const META_HEADER_LEN: usize = 36;

/// A decoded meta record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetaRecord<'a> {
    /// The value's name.
    pub name: &'a str,
    /// The value.
    pub value: &'a str,
    /// The world it was written for.
    pub world: WorldId,
    /// The store commit that wrote it.
    pub sequence: u64,
    /// The stored checksum.
    pub checksum: u64,
}

fn checksum(fields: &[u8], body: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(body, xxhash_rust::xxh3::xxh3_64(fields))
}

/// Appends the record of `name` = `value` for `world`, written by commit `sequence`.
///
/// # Panics
/// If `name` is longer than 65,535 bytes or `value` than 4 GiB (callers bound them).
pub fn encode(name: &str, value: &str, world: WorldId, sequence: u64, out: &mut Vec<u8>) {
    let name_len = u16::try_from(name.len()).expect("meta names are at most 65,535 bytes");
    let value_len = u32::try_from(value.len()).expect("meta values are at most 4 GiB");
    let start = out.len();
    out.extend_from_slice(&META_MAGIC);
    out.push(META_VERSION);
    out.push(0);
    out.extend_from_slice(&name_len.to_le_bytes());
    out.extend_from_slice(&value_len.to_le_bytes());
    out.extend_from_slice(&world.0.to_le_bytes());
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(value.as_bytes());
    let rec = &mut out[start..];
    let sum = checksum(&rec[4..28], &rec[META_HEADER_LEN..]);
    rec[28..36].copy_from_slice(&sum.to_le_bytes());
}

/// The length of the meta record that starts at `bytes[0]`, as its header declares (`None` if
/// no meta record header starts there).
pub fn declared_len(bytes: &[u8]) -> Option<usize> {
    let h = bytes.get(..12)?;
    if h[..4] != META_MAGIC || h[4] != META_VERSION {
        return None;
    }
    Some(
        META_HEADER_LEN
            + u16::from_le_bytes([h[6], h[7]]) as usize
            + u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize,
    )
}

/// Decodes and checks a meta record.
pub fn decode(bytes: &[u8]) -> Result<MetaRecord<'_>, DecodeError> {
    let header =
        bytes.get(..META_HEADER_LEN).ok_or(DecodeError::Truncated { len: bytes.len(), needed: META_HEADER_LEN })?;
    if header[..4] != META_MAGIC {
        return Err(DecodeError::BadMagic([header[0], header[1], header[2], header[3]]));
    }
    if header[4] != META_VERSION {
        return Err(DecodeError::UnsupportedVersion(header[4]));
    }
    if header[5] != 0 {
        return Err(DecodeError::ReservedBits(u16::from(header[5])));
    }
    let name_len = u16::from_le_bytes([header[6], header[7]]) as usize;
    let value_len = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    let declared = META_HEADER_LEN + name_len + value_len as usize;
    if bytes.len() < declared {
        return Err(DecodeError::Truncated { len: bytes.len(), needed: declared });
    }
    if bytes.len() != declared {
        return Err(DecodeError::LengthMismatch {
            declared: value_len,
            actual: bytes.len() - META_HEADER_LEN - name_len,
        });
    }
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
    let stored = u64_at(28);
    let computed = checksum(&bytes[4..28], &bytes[META_HEADER_LEN..]);
    if stored != computed {
        return Err(DecodeError::ChecksumMismatch { stored, computed });
    }
    let (name, value) = bytes[META_HEADER_LEN..].split_at(name_len);
    let text = |b| std::str::from_utf8(b).map_err(|_| DecodeError::BadMeta("not UTF-8"));
    Ok(MetaRecord {
        name: text(name)?,
        value: text(value)?,
        world: WorldId(u64_at(12)),
        sequence: u64_at(20),
        checksum: stored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        encode("generator.terrain", "{\"seed\":7}", WorldId(42), 3, &mut out);
        out
    }

    #[test]
    fn round_trips_with_its_world_and_sequence() {
        let rec = sample();
        assert_eq!(declared_len(&rec), Some(rec.len()));
        let m = decode(&rec).unwrap();
        assert_eq!((m.name, m.value, m.world, m.sequence), ("generator.terrain", "{\"seed\":7}", WorldId(42), 3));
    }

    #[test]
    fn every_single_bit_flip_and_truncation_is_an_error() {
        let rec = sample();
        for i in 0..rec.len() {
            for bit in 0..8 {
                let mut bad = rec.clone();
                bad[i] ^= 1 << bit;
                assert!(decode(&bad).is_err(), "flip at byte {i} bit {bit} went unnoticed");
            }
        }
        for len in 0..rec.len() {
            assert!(matches!(decode(&rec[..len]), Err(DecodeError::Truncated { .. })), "len {len}");
        }
    }

    #[test]
    fn text_that_is_not_utf8_behind_a_valid_checksum_is_an_error() {
        let mut rec = sample();
        let at = META_HEADER_LEN + 1;
        rec[at] = 0xff;
        let sum = checksum(&rec[4..28], &rec[META_HEADER_LEN..]);
        rec[28..36].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(decode(&rec), Err(DecodeError::BadMeta("not UTF-8")));
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = decode(&bytes);
            let _ = declared_len(&bytes);
        }
    }
}
