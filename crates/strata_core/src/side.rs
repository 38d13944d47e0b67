//! Game data stored with a chunk: per-voxel **block data** (a chest's contents, a sign's text)
//! and the chunk's **entity records** (the crates lying in it), kept in the chunk's own record
//! ([`crate::codec`], format version 4), so they are committed in the same transaction as the
//! voxels, checksummed with them and scanned with them — a crash can never leave a chest
//! without its contents or contents without the chest.
//!
//! # Block data belongs to a block
//! Each block datum remembers the material of the voxel it was written for. When that voxel
//! holds another material — mined, replaced, filled over, merged with another writer's change
//! — the datum is dropped by the same apply (or merge), so it goes in the same commit as the
//! voxel change. ([`ChunkSide::prune`]: a voxel changed and changed back to the same material
//! within one apply keeps its data.)
//!
//! # Encoding (the side section of a record)
//! ```text
//! u32 LE  block count, then per block, by increasing local index:
//!           u16 LE local index (x + 32y + 1024z), u16 LE material id, u32 LE length, bytes
//! u32 LE  entity count, then per entity, by increasing id:
//!           u64 LE id, u32 LE length, bytes
//! ```
//! One encoding per content: indices and ids strictly increase, no trailing bytes, and a
//! record never holds an empty section (a chunk without side data is written as version 3).
//! Each value is at most [`MAX_VALUE_LEN`] bytes, the whole section at most [`MAX_SIDE_LEN`].

use crate::chunk::Chunk;
use crate::codec::DecodeError;
use crate::coords::{CHUNK_VOLUME, LocalIndex};
use crate::material::MaterialId;
use std::collections::BTreeMap;

/// The longest value (one block's or one entity's bytes).
pub const MAX_VALUE_LEN: usize = 64 << 10;

/// The longest side section of one chunk (encoded). An edit that would make a chunk's section
/// longer is refused ([`crate::ApplyReport::rejected_edits`]).
pub const MAX_SIDE_LEN: usize = 256 << 10;

/// Bytes of framing per block entry (index, material, length).
const BLOCK_FRAMING: usize = 2 + 2 + 4;
/// Bytes of framing per entity entry (id, length).
const ENTITY_FRAMING: usize = 8 + 4;

/// One voxel's block data: the bytes and the material they were written for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockData {
    /// The voxel's material when the data was written; the data lives while the voxel holds it.
    pub material: MaterialId,
    /// The game's bytes.
    pub bytes: Box<[u8]>,
}

/// The game data of one chunk: block data by local index, entity records by id. Cheap when
/// empty (two empty maps); see the [module docs](self).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkSide {
    blocks: BTreeMap<u16, BlockData>,
    entities: BTreeMap<u64, Box<[u8]>>,
    /// Encoded length of the section (kept up to date by every change).
    encoded: usize,
}

impl ChunkSide {
    /// No data.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether it holds nothing (then no record carries a section).
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.entities.is_empty()
    }

    /// The block data at `index`, if any.
    pub fn block(&self, index: LocalIndex) -> Option<&BlockData> {
        self.blocks.get(&(index.get() as u16))
    }

    /// Every block datum, by increasing local index.
    pub fn blocks(&self) -> impl ExactSizeIterator<Item = (LocalIndex, &BlockData)> {
        self.blocks.iter().map(|(&i, d)| (LocalIndex::new(i), d))
    }

    /// The entity record `id`, if any.
    pub fn entity(&self, id: u64) -> Option<&[u8]> {
        self.entities.get(&id).map(|b| &b[..])
    }

    /// Every entity record, by increasing id.
    pub fn entities(&self) -> impl ExactSizeIterator<Item = (u64, &[u8])> {
        self.entities.iter().map(|(&id, b)| (id, &b[..]))
    }

    /// Sets (`Some`) or removes (`None`) the block data at `index`, written for a voxel of
    /// `material`. O(log n).
    pub fn set_block(&mut self, index: LocalIndex, material: MaterialId, bytes: Option<Box<[u8]>>) {
        let old = match bytes {
            Some(bytes) => {
                self.encoded += BLOCK_FRAMING + bytes.len();
                self.blocks.insert(index.get() as u16, BlockData { material, bytes })
            }
            None => self.blocks.remove(&(index.get() as u16)),
        };
        if let Some(old) = old {
            self.encoded -= BLOCK_FRAMING + old.bytes.len();
        }
    }

    /// Sets (`Some`) or removes (`None`) entity record `id`. O(log n).
    pub fn set_entity(&mut self, id: u64, bytes: Option<Box<[u8]>>) {
        let old = match bytes {
            Some(bytes) => {
                self.encoded += ENTITY_FRAMING + bytes.len();
                self.entities.insert(id, bytes)
            }
            None => self.entities.remove(&id),
        };
        if let Some(old) = old {
            self.encoded -= ENTITY_FRAMING + old.len();
        }
    }

    /// Drops the block data of every voxel of `chunk` that no longer holds the material its
    /// data was written for. Returns how many were dropped. O(block data).
    pub fn prune(&mut self, chunk: &Chunk) -> usize {
        let before = self.blocks.len();
        let mut freed = 0;
        self.blocks.retain(|&i, d| {
            let keep = chunk.get(LocalIndex::new(i)) == d.material;
            if !keep {
                freed += BLOCK_FRAMING + d.bytes.len();
            }
            keep
        });
        self.encoded -= freed;
        before - self.blocks.len()
    }

    /// Translates the material every block datum was written for (a save's palette remap).
    pub fn remap(&mut self, map: impl Fn(MaterialId) -> MaterialId) {
        for d in self.blocks.values_mut() {
            d.material = map(d.material);
        }
    }

    /// The three-way merge of two writers' side data from the `base` both started from, per
    /// block and per entity: `ours` where it differs from `base`, else `theirs`; then the block
    /// data of voxels `merged` (the merged chunk) does not hold the material of is dropped —
    /// so a chest another writer broke loses the contents this writer put in, and keeps them
    /// where it stands. O(entries of the three).
    pub fn merge(base: &Self, ours: &Self, theirs: &Self, merged: &Chunk) -> Self {
        Self::merge_claimed(base, ours, theirs, merged, None)
    }

    /// [`ChunkSide::merge`], where the `claimed` blocks and entities count as this writer's
    /// too: entries it sent in a commit of unknown outcome, whose write may be the very record
    /// `theirs` is (sent, then reverted to the base's value: the revert wins).
    pub fn merge_claimed(base: &Self, ours: &Self, theirs: &Self, merged: &Chunk, claimed: Option<&SideKeys>) -> Self {
        let mut out = Self::new();
        let indices: std::collections::BTreeSet<u16> =
            base.blocks.keys().chain(ours.blocks.keys()).chain(theirs.blocks.keys()).copied().collect();
        for i in indices {
            let mine = ours.blocks.get(&i);
            let ours_to_decide = mine != base.blocks.get(&i) || claimed.is_some_and(|c| c.blocks.contains(&i));
            let pick = if ours_to_decide { mine } else { theirs.blocks.get(&i) };
            if let Some(d) = pick {
                out.set_block(LocalIndex::new(i), d.material, Some(d.bytes.clone()));
            }
        }
        let ids: std::collections::BTreeSet<u64> =
            base.entities.keys().chain(ours.entities.keys()).chain(theirs.entities.keys()).copied().collect();
        for id in ids {
            let mine = ours.entities.get(&id);
            let ours_to_decide = mine != base.entities.get(&id) || claimed.is_some_and(|c| c.entities.contains(&id));
            let pick = if ours_to_decide { mine } else { theirs.entities.get(&id) };
            if let Some(b) = pick {
                out.set_entity(id, Some(b.clone()));
            }
        }
        out.prune(merged);
        out
    }

    /// Bytes of the encoded section (0 when empty: nothing is written). O(1).
    pub fn encoded_len(&self) -> usize {
        if self.is_empty() { 0 } else { 8 + self.encoded }
    }

    /// Appends the encoded section (see the [module docs](self)); nothing when empty.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        if self.is_empty() {
            return;
        }
        out.reserve(self.encoded_len());
        out.extend_from_slice(&(self.blocks.len() as u32).to_le_bytes());
        for (&i, d) in &self.blocks {
            out.extend_from_slice(&i.to_le_bytes());
            out.extend_from_slice(&d.material.0.to_le_bytes());
            out.extend_from_slice(&(d.bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(&d.bytes);
        }
        out.extend_from_slice(&(self.entities.len() as u32).to_le_bytes());
        for (&id, b) in &self.entities {
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        }
    }

    /// Decodes a section written by [`ChunkSide::encode_into`]. Every malformation —
    /// truncation, a count the bytes cannot hold, an index out of the chunk or out of order, an
    /// id out of order, a value longer than [`MAX_VALUE_LEN`], trailing bytes, an empty section
    /// — is [`DecodeError::BadSide`]; never a panic, and no allocation beyond the values
    /// present.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader(bytes);
        let mut side = Self::new();
        let blocks = r.u32()?;
        if blocks as usize > r.0.len() / BLOCK_FRAMING {
            return Err(DecodeError::BadSide("more blocks than bytes"));
        }
        let mut last = None;
        for _ in 0..blocks {
            let index = r.u16()?;
            if index as usize >= CHUNK_VOLUME {
                return Err(DecodeError::BadSide("block index outside the chunk"));
            }
            if last.is_some_and(|l| l >= index) {
                return Err(DecodeError::BadSide("block indices out of order"));
            }
            last = Some(index);
            let material = MaterialId(r.u16()?);
            let value = r.value()?;
            side.set_block(LocalIndex::new(index), material, Some(value.into()));
        }
        let entities = r.u32()?;
        if entities as usize > r.0.len() / ENTITY_FRAMING {
            return Err(DecodeError::BadSide("more entities than bytes"));
        }
        let mut last = None;
        for _ in 0..entities {
            let id = r.u64()?;
            if last.is_some_and(|l| l >= id) {
                return Err(DecodeError::BadSide("entity ids out of order"));
            }
            last = Some(id);
            let value = r.value()?;
            side.set_entity(id, Some(value.into()));
        }
        if !r.0.is_empty() {
            return Err(DecodeError::BadSide("trailing bytes"));
        }
        if side.is_empty() {
            return Err(DecodeError::BadSide("an empty section"));
        }
        Ok(side)
    }
}

/// Blocks (local indices) and entities (ids) of one chunk: what a writer sent in commits of
/// unknown outcome ([`SideKeys::sent`]), which merges count as its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SideKeys {
    /// Local indices of block data.
    pub blocks: std::collections::BTreeSet<u16>,
    /// Entity ids.
    pub entities: std::collections::BTreeSet<u64>,
}

impl SideKeys {
    /// The entries where `sent` differs from `base`, added to `earlier` (if any). O(entries).
    pub fn sent(earlier: Option<&SideKeys>, base: &ChunkSide, sent: &ChunkSide) -> Self {
        let mut keys = earlier.cloned().unwrap_or_default();
        for i in base.blocks.keys().chain(sent.blocks.keys()) {
            if base.blocks.get(i) != sent.blocks.get(i) {
                keys.blocks.insert(*i);
            }
        }
        for id in base.entities.keys().chain(sent.entities.keys()) {
            if base.entities.get(id) != sent.entities.get(id) {
                keys.entities.insert(*id);
            }
        }
        keys
    }
}

/// A cursor over a section's bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or(DecodeError::BadSide("truncated"))?;
        self.0 = rest;
        Ok(*head)
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.take().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.take().map(u64::from_le_bytes)
    }
    fn value(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        if len > MAX_VALUE_LEN {
            return Err(DecodeError::BadSide("value longer than the limit"));
        }
        if len > self.0.len() {
            return Err(DecodeError::BadSide("truncated"));
        }
        let (value, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::DenseChunk;
    use proptest::prelude::*;

    fn sample() -> ChunkSide {
        let mut s = ChunkSide::new();
        s.set_block(LocalIndex::new(5), MaterialId(9), Some(b"chest: 3 apples".to_vec().into()));
        s.set_block(LocalIndex::new(32_767), MaterialId(2), Some(Box::new([])));
        s.set_entity(1, Some(b"crate".to_vec().into()));
        s.set_entity(u64::MAX, Some(vec![7; 300].into()));
        s
    }

    fn encoded(s: &ChunkSide) -> Vec<u8> {
        let mut out = Vec::new();
        s.encode_into(&mut out);
        out
    }

    #[test]
    fn round_trips_and_tracks_its_length() {
        let s = sample();
        let bytes = encoded(&s);
        assert_eq!(bytes.len(), s.encoded_len());
        assert_eq!(ChunkSide::decode(&bytes).unwrap(), s);
        let mut t = s.clone();
        t.set_block(LocalIndex::new(5), MaterialId(9), None);
        t.set_entity(1, Some(b"a longer crate".to_vec().into()));
        assert_eq!(encoded(&t).len(), t.encoded_len());
        assert!(encoded(&ChunkSide::new()).is_empty());
        assert_eq!(ChunkSide::new().encoded_len(), 0);
    }

    #[test]
    fn every_truncation_and_malformation_is_an_error() {
        let bytes = encoded(&sample());
        for n in 0..bytes.len() {
            assert!(ChunkSide::decode(&bytes[..n]).is_err(), "truncated at {n}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(ChunkSide::decode(&trailing), Err(DecodeError::BadSide("trailing bytes")));
        assert_eq!(ChunkSide::decode(&[0; 8]), Err(DecodeError::BadSide("an empty section")));
        // Two blocks out of order, then at the same index.
        let block = |i: u16| [&i.to_le_bytes()[..], &[1, 0], &[0, 0, 0, 0]].concat();
        let forge =
            |blocks: &[Vec<u8>]| [&(blocks.len() as u32).to_le_bytes()[..], &blocks.concat(), &[0, 0, 0, 0]].concat();
        assert!(ChunkSide::decode(&forge(&[block(3), block(4)])).is_ok());
        assert_eq!(
            ChunkSide::decode(&forge(&[block(4), block(3)])),
            Err(DecodeError::BadSide("block indices out of order"))
        );
        assert!(ChunkSide::decode(&forge(&[block(4), block(4)])).is_err());
        assert_eq!(
            ChunkSide::decode(&forge(&[block(32_768)])),
            Err(DecodeError::BadSide("block index outside the chunk"))
        );
        // A count the bytes cannot hold does not allocate for it.
        let huge = [&u32::MAX.to_le_bytes()[..], &[0; 16]].concat();
        assert_eq!(ChunkSide::decode(&huge), Err(DecodeError::BadSide("more blocks than bytes")));
        let long = [&1u32.to_le_bytes()[..], &[0, 0, 0, 0], &((MAX_VALUE_LEN + 1) as u32).to_le_bytes()].concat();
        assert_eq!(ChunkSide::decode(&long), Err(DecodeError::BadSide("value longer than the limit")));
    }

    #[test]
    fn prune_drops_data_of_voxels_that_changed_material() {
        let mut s = sample();
        let mut chunk = DenseChunk::filled(MaterialId(9));
        chunk.set(LocalIndex::new(32_767), MaterialId(2));
        let chunk = Chunk::Dense(chunk);
        assert_eq!(s.prune(&chunk), 0);
        let chunk = Chunk::Uniform(MaterialId(9));
        assert_eq!(s.prune(&chunk), 1);
        assert!(s.block(LocalIndex::new(32_767)).is_none() && s.block(LocalIndex::new(5)).is_some());
        assert_eq!(encoded(&s).len(), s.encoded_len());
        assert_eq!(s.prune(&Chunk::Uniform(MaterialId::AIR)), 1);
        assert_eq!(s.entities().len(), 2, "entities are not voxels");
    }

    /// The merge against a brute force over every key: ours where changed, else theirs, and
    /// blocks only where the merged voxel holds their material.
    #[test]
    fn merge_takes_ours_where_changed_else_theirs() {
        let entry = |n: u8| Some(vec![n; n as usize].into_boxed_slice());
        let mut rng = crate::rng::SplitMix64(7);
        for _ in 0..300 {
            let [mut base, mut ours, mut theirs] = [ChunkSide::new(), ChunkSide::new(), ChunkSide::new()];
            let mut dense = DenseChunk::filled(MaterialId(1));
            for i in 0..6u16 {
                let pick = |rng: &mut crate::rng::SplitMix64| (rng.next_u64() % 3) as u8;
                let (b, o, t) = (pick(&mut rng), pick(&mut rng), pick(&mut rng));
                let set = |s: &mut ChunkSide, v: u8| {
                    if v > 0 {
                        s.set_block(LocalIndex::new(i), MaterialId(1), entry(v));
                        s.set_entity(u64::from(i), entry(v));
                    }
                };
                set(&mut base, b);
                set(&mut ours, if rng.next_u64().is_multiple_of(2) { b } else { o });
                set(&mut theirs, t);
                if i == 5 {
                    dense.set(LocalIndex::new(i), MaterialId(2));
                }
            }
            let merged_chunk = Chunk::Dense(dense);
            let m = ChunkSide::merge(&base, &ours, &theirs, &merged_chunk);
            for i in 0..6u16 {
                let want = if ours.entity(u64::from(i)) != base.entity(u64::from(i)) {
                    ours.entity(u64::from(i))
                } else {
                    theirs.entity(u64::from(i))
                };
                assert_eq!(m.entity(u64::from(i)), want);
                let block = m.block(LocalIndex::new(i)).map(|d| &d.bytes[..]);
                assert_eq!(block, if i == 5 { None } else { want });
            }
            assert_eq!(encoded(&m).len(), m.encoded_len());
        }
    }

    proptest! {
        #[test]
        fn arbitrary_sections_round_trip(
            blocks in proptest::collection::btree_map(0u16..32768, (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..20),
            entities in proptest::collection::btree_map(any::<u64>(), proptest::collection::vec(any::<u8>(), 0..40), 0..20),
        ) {
            let mut s = ChunkSide::new();
            for (i, (m, b)) in &blocks {
                s.set_block(LocalIndex::new(*i), MaterialId(*m), Some(b.clone().into()));
            }
            for (id, b) in &entities {
                s.set_entity(*id, Some(b.clone().into()));
            }
            let bytes = encoded(&s);
            prop_assert_eq!(bytes.len(), s.encoded_len());
            if s.is_empty() {
                prop_assert!(bytes.is_empty());
            } else {
                prop_assert_eq!(ChunkSide::decode(&bytes).unwrap(), s);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ChunkSide::decode(&bytes);
        }
    }
}
