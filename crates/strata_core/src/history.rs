//! Process history: which processes (erosion, deposition, volcanism…) changed a chunk, and at
//! which of their steps.
//!
//! Every chunk carries a [`ProcessHistory`]: a bit per [`ProcessId`] that ever wrote to it and
//! the last step of each. It is written with the chunk's record (format version 2, see
//! [`codec`](crate::codec)), published on the change feed and aggregated by the index (union of
//! the bits, latest step per process), so "which regions has erosion touched, and when" is a
//! summary query. Player edits do not touch it.

use crate::codec::DecodeError;

/// How many distinct processes a history can record.
pub const MAX_PROCESSES: usize = 16;

/// A process that writes voxels through [`Edit::Process`](crate::Edit::Process): a small stable
/// id in `0..16` (the geology crate assigns them; ids are part of the save format).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessId(u8);

impl ProcessId {
    /// The id, if `id < 16`.
    pub const fn new(id: u8) -> Option<Self> {
        if (id as usize) < MAX_PROCESSES { Some(Self(id)) } else { None }
    }

    /// The raw id, `< 16`.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// A process and the step at which it wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcessStamp {
    /// Which process.
    pub process: ProcessId,
    /// Its step counter (monotone per process; wraps at `u32::MAX`).
    pub step: u32,
}

/// Which processes changed a chunk (or, in the index, any chunk below a node), and the last step
/// of each.
///
/// # Invariant
/// `last_step[i] == 0` whenever bit `i` of `touched` is clear.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProcessHistory {
    touched: u16,
    last_step: [u32; MAX_PROCESSES],
}

impl ProcessHistory {
    /// No process touched it.
    pub const EMPTY: Self = Self { touched: 0, last_step: [0; MAX_PROCESSES] };

    /// Whether no process touched it.
    pub fn is_empty(&self) -> bool {
        self.touched == 0
    }

    /// One bit per process that touched it (bit `i` = [`ProcessId`] `i`).
    pub fn mask(&self) -> u16 {
        self.touched
    }

    /// Whether `process` touched it.
    pub fn touched_by(&self, process: ProcessId) -> bool {
        self.touched & (1 << process.0) != 0
    }

    /// The last step at which `process` touched it.
    pub fn last_step(&self, process: ProcessId) -> Option<u32> {
        self.touched_by(process).then(|| self.last_step[process.0 as usize])
    }

    /// Records a write by `stamp.process` at `stamp.step` (the later step is kept).
    pub fn record(&mut self, stamp: ProcessStamp) {
        let i = stamp.process.0 as usize;
        self.touched |= 1 << i;
        self.last_step[i] = self.last_step[i].max(stamp.step);
    }

    /// Union with `other`: every process of either, with the later step of each.
    pub fn merge(&mut self, other: &Self) {
        self.touched |= other.touched;
        for (a, b) in self.last_step.iter_mut().zip(&other.last_step) {
            *a = (*a).max(*b);
        }
    }

    /// The processes it records, with their last steps, in id order.
    pub fn iter(&self) -> impl Iterator<Item = ProcessStamp> + '_ {
        (0..MAX_PROCESSES as u8).filter_map(|i| {
            let p = ProcessId(i);
            self.last_step(p).map(|step| ProcessStamp { process: p, step })
        })
    }

    /// Encoded size: 2 bytes of mask + 4 per recorded process.
    pub fn encoded_len(&self) -> usize {
        2 + 4 * self.touched.count_ones() as usize
    }

    /// Appends the encoding: the mask (u16 LE), then the last step (u32 LE) of each set bit in
    /// bit order.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.touched.to_le_bytes());
        for s in self.iter() {
            out.extend_from_slice(&s.step.to_le_bytes());
        }
    }

    /// Decodes [`ProcessHistory::encode_into`]'s output; the length must match the mask exactly.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (mask, rest) = match bytes {
            [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]), rest),
            _ => return Err(DecodeError::BadHistory { len: bytes.len() }),
        };
        if rest.len() != 4 * mask.count_ones() as usize {
            return Err(DecodeError::BadHistory { len: bytes.len() });
        }
        let mut h = Self { touched: mask, last_step: [0; MAX_PROCESSES] };
        let mut steps = rest.chunks_exact(4);
        for i in 0..MAX_PROCESSES {
            if mask & (1 << i) != 0 {
                // Invariant: `rest` holds exactly one 4-byte step per set bit (checked above).
                let Some(&[a, b, c, d]) = steps.next() else {
                    return Err(DecodeError::BadHistory { len: bytes.len() });
                };
                h.last_step[i] = u32::from_le_bytes([a, b, c, d]);
            }
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stamp(p: u8, step: u32) -> ProcessStamp {
        ProcessStamp { process: ProcessId::new(p).unwrap(), step }
    }

    #[test]
    fn ids_are_bounded() {
        assert!(ProcessId::new(15).is_some());
        assert!(ProcessId::new(16).is_none());
    }

    #[test]
    fn record_keeps_the_latest_step_and_merge_unions() {
        let mut a = ProcessHistory::EMPTY;
        assert!(a.is_empty());
        a.record(stamp(1, 5));
        a.record(stamp(1, 3));
        assert_eq!(a.last_step(ProcessId::new(1).unwrap()), Some(5));
        assert_eq!(a.last_step(ProcessId::new(2).unwrap()), None);
        let mut b = ProcessHistory::EMPTY;
        b.record(stamp(2, 9));
        b.record(stamp(1, 7));
        a.merge(&b);
        assert_eq!(a.mask(), 0b110);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![stamp(1, 7), stamp(2, 9)]);
    }

    #[test]
    fn bad_lengths_are_errors() {
        assert!(ProcessHistory::decode(&[]).is_err());
        assert!(ProcessHistory::decode(&[1]).is_err());
        assert!(ProcessHistory::decode(&[1, 0]).is_err()); // one bit, no step
        assert!(ProcessHistory::decode(&[0, 0, 1, 2, 3, 4]).is_err()); // no bit, a step
        assert_eq!(ProcessHistory::decode(&[0, 0]), Ok(ProcessHistory::EMPTY));
    }

    proptest! {
        #[test]
        fn round_trip(stamps in proptest::collection::vec((0u8..16, any::<u32>()), 0..40)) {
            let mut h = ProcessHistory::EMPTY;
            for (p, s) in stamps { h.record(stamp(p, s)); }
            let mut out = Vec::new();
            h.encode_into(&mut out);
            prop_assert_eq!(out.len(), h.encoded_len());
            prop_assert_eq!(ProcessHistory::decode(&out), Ok(h));
        }
    }
}
