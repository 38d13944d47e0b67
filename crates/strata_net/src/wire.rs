//! Little-endian primitives of the wire format and the one error type every decoder returns.
//!
//! A [`Reader`] takes fields off the front of a message and never reads past its end: every
//! shortfall, oversized count, invalid text or value is a [`WireError`], never a panic. A
//! [`Writer`] appends the same fields; both sides use one function per field kind, so what one
//! writes the other reads.

use strata_core::DecodeError;

/// Why bytes are not a valid message. Every malformed input maps to one of these.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Longer than the protocol allows ([`MAX_MESSAGE_LEN`](crate::MAX_MESSAGE_LEN)): refused
    /// before anything is read.
    #[error("message of {len} bytes; the most the protocol allows is {max}")]
    TooLong {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The message ends inside a field.
    #[error("message truncated inside {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// Bytes left over after the message's last field.
    #[error("{count} bytes after the end of the message")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A protocol version this build does not speak.
    #[error("protocol version {got}; this build speaks version {supported}")]
    Version {
        /// The message's version.
        got: u8,
        /// Ours ([`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION)).
        supported: u8,
    },
    /// A message kind (or an enum tag inside one) this version does not define.
    #[error("unknown {what} tag {tag}")]
    UnknownTag {
        /// What the tag selects.
        what: &'static str,
        /// The tag.
        tag: u8,
    },
    /// A list or text longer than its limit.
    #[error("{what}: {count} entries, at most {max} allowed")]
    TooMany {
        /// The list or text.
        what: &'static str,
        /// Its declared length.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Text that is not UTF-8.
    #[error("{what} is not UTF-8")]
    BadText {
        /// The field.
        what: &'static str,
    },
    /// A value outside its field's range (a non-finite float, a bool other than 0 or 1, …).
    #[error("{what} out of range")]
    BadValue {
        /// The field.
        what: &'static str,
    },
    /// A chunk or summary record that fails its own checks (checksum, lengths, place).
    #[error("bad record: {0}")]
    BadRecord(#[from] DecodeError),
}

/// Whether `v` is a distance the protocol carries: finite, `>= 0`, and not `-0.0` (which
/// compares equal to 0 but has other bits: one encoding per value).
pub fn is_non_negative(v: f32) -> bool {
    v.is_finite() && v.to_bits() >> 31 == 0
}

/// Reads fields off the front of a message.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// `n` bytes, or [`WireError::Truncated`].
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError::Truncated { what });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        let b = self.take(N, what)?;
        let mut a = [0; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    /// One byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// `u16`, little-endian.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// `u32`, little-endian.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// `u64`, little-endian.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// `u128`, little-endian.
    pub fn u128(&mut self, what: &'static str) -> Result<u128, WireError> {
        Ok(u128::from_le_bytes(self.array(what)?))
    }

    /// `i32`, little-endian.
    pub fn i32(&mut self, what: &'static str) -> Result<i32, WireError> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }

    /// `f32` bits, little-endian (any bits: callers that need a finite value check it).
    pub fn f32(&mut self, what: &'static str) -> Result<f32, WireError> {
        Ok(f32::from_bits(self.u32(what)?))
    }

    /// A finite `f64`.
    pub fn finite_f64(&mut self, what: &'static str) -> Result<f64, WireError> {
        let v = f64::from_bits(self.u64(what)?);
        if v.is_finite() { Ok(v) } else { Err(WireError::BadValue { what }) }
    }

    /// A finite `f32` that is `>= 0`.
    pub fn non_negative_f32(&mut self, what: &'static str) -> Result<f32, WireError> {
        let v = self.f32(what)?;
        if is_non_negative(v) { Ok(v) } else { Err(WireError::BadValue { what }) }
    }

    /// A bool: exactly 0 or 1.
    pub fn bool(&mut self, what: &'static str) -> Result<bool, WireError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::BadValue { what }),
        }
    }

    /// A count written by [`Writer::count`] (`u32`), at most `max`.
    pub fn count(&mut self, what: &'static str, max: usize) -> Result<usize, WireError> {
        let n = self.u32(what)? as usize;
        if n > max {
            return Err(WireError::TooMany { what, count: n, max });
        }
        Ok(n)
    }

    /// UTF-8 text of at most `max` bytes ([`Writer::text`]).
    pub fn text(&mut self, what: &'static str, max: usize) -> Result<String, WireError> {
        let n = self.count(what, max)?;
        let b = self.take(n, what)?;
        std::str::from_utf8(b).map(str::to_owned).map_err(|_| WireError::BadText { what })
    }

    /// Bytes of at most `max` ([`Writer::bytes`]).
    pub fn bytes(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], WireError> {
        let n = self.count(what, max)?;
        self.take(n, what)
    }

    /// [`WireError::TrailingBytes`] unless everything was read.
    pub fn finish(self) -> Result<(), WireError> {
        if self.rest.is_empty() { Ok(()) } else { Err(WireError::TrailingBytes { count: self.rest.len() }) }
    }
}

/// Appends fields to a message.
#[derive(Debug)]
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Self { out }
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    /// `u16`, little-endian.
    pub fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// `u32`, little-endian.
    pub fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// `u64`, little-endian.
    pub fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// `u128`, little-endian.
    pub fn u128(&mut self, v: u128) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// `i32`, little-endian.
    pub fn i32(&mut self, v: i32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// `f32` bits.
    pub fn f32(&mut self, v: f32) {
        self.u32(v.to_bits());
    }

    /// `f64` bits.
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    /// A bool as 0 or 1.
    pub fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }

    /// A list length (`u32`; lists are far shorter than 2³² by the limits).
    pub fn count(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// Text: its byte length, then its bytes.
    pub fn text(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    /// Bytes: their length, then themselves.
    pub fn bytes(&mut self, b: &[u8]) {
        self.count(b.len());
        self.out.extend_from_slice(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_reads_back_and_short_input_is_an_error() {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        w.u8(7);
        w.u16(0xBEEF);
        w.u32(0xDEAD_BEEF);
        w.u64(u64::MAX - 3);
        w.u128(1 << 100);
        w.i32(-5);
        w.f32(1.5);
        w.f64(-2.25);
        w.bool(true);
        w.text("grass");
        w.bytes(&[1, 2, 3]);
        let mut r = Reader::new(&out);
        assert_eq!(r.u8("a"), Ok(7));
        assert_eq!(r.u16("a"), Ok(0xBEEF));
        assert_eq!(r.u32("a"), Ok(0xDEAD_BEEF));
        assert_eq!(r.u64("a"), Ok(u64::MAX - 3));
        assert_eq!(r.u128("a"), Ok(1 << 100));
        assert_eq!(r.i32("a"), Ok(-5));
        assert_eq!(r.non_negative_f32("a"), Ok(1.5));
        assert_eq!(r.finite_f64("a"), Ok(-2.25));
        assert_eq!(r.bool("a"), Ok(true));
        assert_eq!(r.text("a", 5).as_deref(), Ok("grass"));
        assert_eq!(r.bytes("a", 3), Ok(&[1u8, 2, 3][..]));
        assert_eq!(r.finish(), Ok(()));
        for cut in 0..out.len() {
            let mut r = Reader::new(&out[..cut]);
            let all = (|| {
                r.u8("a")?;
                r.u16("a")?;
                r.u32("a")?;
                r.u64("a")?;
                r.u128("a")?;
                r.i32("a")?;
                r.f32("a")?;
                r.finite_f64("a")?;
                r.bool("a")?;
                r.text("a", 5)?;
                r.bytes("a", 3)?;
                Ok::<_, WireError>(())
            })();
            assert!(matches!(all, Err(WireError::Truncated { .. })), "cut at {cut}: {all:?}");
        }
    }

    #[test]
    fn limits_text_and_values_are_checked() {
        let mut out = Vec::new();
        Writer::new(&mut out).text("sandstone");
        assert_eq!(Reader::new(&out).text("name", 8), Err(WireError::TooMany { what: "name", count: 9, max: 8 }));
        let mut out = Vec::new();
        Writer::new(&mut out).bytes(&[0xFF, 0xFE]);
        assert_eq!(Reader::new(&out).text("name", 8), Err(WireError::BadText { what: "name" }));
        for bad in [f32::NAN, f32::INFINITY, -1.0, -0.0] {
            let mut out = Vec::new();
            Writer::new(&mut out).f32(bad);
            assert_eq!(Reader::new(&out).non_negative_f32("d"), Err(WireError::BadValue { what: "d" }), "{bad}");
        }
        let mut out = Vec::new();
        Writer::new(&mut out).f64(f64::NEG_INFINITY);
        assert_eq!(Reader::new(&out).finite_f64("x"), Err(WireError::BadValue { what: "x" }));
        assert_eq!(Reader::new(&[2]).bool("b"), Err(WireError::BadValue { what: "b" }));
        assert_eq!(Reader::new(&[0, 1]).finish(), Err(WireError::TrailingBytes { count: 2 }));
        // A huge declared length is refused by its limit before anything is taken.
        let mut out = Vec::new();
        Writer::new(&mut out).u32(u32::MAX);
        assert!(matches!(Reader::new(&out).bytes("record", 10), Err(WireError::TooMany { .. })));
    }
}
