//! The order of a full rebuild: chunks sorted by (root, Morton index inside the root), so
//! every octree node is a contiguous run of chunks with its children in order.

use super::build::BuildEntry;
use super::node::{NodeId, ROOT_LEVEL};
use rustc_hash::FxHashMap;
use strata_core::ChunkKey;

/// Bits of the Morton index of a chunk inside its root.
pub(super) const LOCAL_BITS: u32 = 3 * ROOT_LEVEL;

/// Spreads the low 5 bits of `v` to every third bit (bits 0, 3, 6, 9, 12).
fn spread5(v: i32) -> u64 {
    let v = (v & 31) as u64;
    let v = (v | (v << 8)) & 0x100f;
    let v = (v | (v << 4)) & 0x10c3;
    (v | (v << 2)) & 0x1249
}

/// The order of a full rebuild: the distinct root keys in Morton order, and for every entry
/// `(root index << LOCAL_BITS | Morton index inside the root, entry index)`, sorted by key and,
/// for equal keys, by entry index.
///
/// # Runtime
/// O(n) (plus O(roots log roots)): a stable LSD radix sort, 8 bits per pass, over only the
/// bits the keys use (two passes for up to 2 roots).
pub(super) fn morton_order(entries: &[BuildEntry]) -> (Vec<ChunkKey>, Vec<(u64, u32)>) {
    let root_of = |k: ChunkKey| NodeId::containing(k, ROOT_LEVEL).key;
    let mut roots: Vec<ChunkKey> = Vec::new();
    let mut last: Option<ChunkKey> = None;
    let mut index: FxHashMap<ChunkKey, u64> = FxHashMap::default();
    for e in entries {
        let r = root_of(e.key);
        // Neighbouring entries usually share a root: skip the map then.
        if last != Some(r) {
            index.entry(r).or_insert_with(|| {
                roots.push(r);
                0
            });
            last = Some(r);
        }
    }
    roots.sort_unstable_by_key(|r| r.morton());
    for (i, r) in roots.iter().enumerate() {
        index.insert(*r, i as u64);
    }
    let mut last: Option<(ChunkKey, u64)> = None;
    let mut order: Vec<(u64, u32)> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let r = root_of(e.key);
            let ri = match last {
                Some((k, ri)) if k == r => ri,
                // Invariant: every root was indexed above.
                _ => index[&r],
            };
            last = Some((r, ri));
            let local = spread5(e.key.x) | (spread5(e.key.y) << 1) | (spread5(e.key.z) << 2);
            ((ri << LOCAL_BITS) | local, i as u32)
        })
        .collect();
    let key_bits = LOCAL_BITS + (u64::BITS - (roots.len().max(1) as u64 - 1).leading_zeros());
    radix_sort(&mut order, key_bits);
    (roots, order)
}

/// Stable LSD radix sort of `items` by their key's low `key_bits` bits (higher bits are zero).
fn radix_sort(items: &mut Vec<(u64, u32)>, key_bits: u32) {
    let mut buf = vec![(0, 0); items.len()];
    for shift in (0..key_bits).step_by(8) {
        let digit = |k: u64| ((k >> shift) & 0xff) as usize;
        let mut at = [0usize; 256];
        for it in items.iter() {
            at[digit(it.0)] += 1;
        }
        if at.contains(&items.len()) {
            continue; // One digit value: this pass would not move anything.
        }
        let mut sum = 0;
        for a in &mut at {
            (*a, sum) = (sum, sum + *a);
        }
        for it in items.iter() {
            let d = &mut at[digit(it.0)];
            buf[*d] = *it;
            *d += 1;
        }
        std::mem::swap(items, &mut buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use strata_core::Chunk;

    proptest::proptest! {
        /// The radix order equals a plain sort by (root Morton key, chunk Morton key, index).
        #[test]
        fn morton_order_equals_a_comparison_sort(
            keys in proptest::collection::vec((-70i32..70, -70i32..70, -70i32..70), 0..300),
        ) {
            let entries: Vec<BuildEntry> = keys
                .iter()
                .map(|&(x, y, z)| BuildEntry { key: ChunkKey::new(x, y, z), chunk: Arc::new(Chunk::default()), version: 0, edited: true, history: Default::default() })
                .collect();
            let (roots, order) = morton_order(&entries);
            let got: Vec<u32> = order.iter().map(|o| o.1).collect();
            let mut want: Vec<u32> = (0..entries.len() as u32).collect();
            want.sort_by_key(|&i| {
                let k = entries[i as usize].key;
                (NodeId::containing(k, ROOT_LEVEL).key.morton(), k.morton(), i)
            });
            proptest::prop_assert_eq!(got, want);
            let mut want_roots: Vec<ChunkKey> = entries.iter().map(|e| NodeId::containing(e.key, ROOT_LEVEL).key).collect();
            want_roots.sort_by_key(|r| r.morton());
            want_roots.dedup();
            proptest::prop_assert_eq!(roots, want_roots);
        }
    }
}
