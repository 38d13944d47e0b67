//! Greedy merge of one 32×32 slice of face bits into rectangles.
//!
//! Two strategies, both on bit rows:
//! - [`merge_slice`] is block-mesh's greedy rule: scan cells in (row, bit) order; the first
//!   unmerged cell starts a quad, which grows first along its *width* direction, then along its
//!   *height* direction as long as every cell of the next line is set and carries the same key
//!   (material, AO). With the scan orders of [`crate::faces`] it yields exactly block-mesh's
//!   quads.
//! - [`merge_runs`] keeps maximal runs whole and stacks identical runs (binary-greedy-meshing's
//!   rule), better on height-map tops.
//!
//! The mesher uses the first everywhere and, on ±Y slices, the better of the two, so its quad
//! count never exceeds `greedy_quads` on the same visibility.

/// Which way a quad grows first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grow {
    /// Width along the bits of a row, then height across rows.
    BitsFirst,
    /// Width across rows, then height along the bits.
    RowsFirst,
}

/// A merged rectangle: rows `row..row + rows`, bits `bit..bit + bits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rect {
    pub row: u32,
    pub bit: u32,
    pub rows: u32,
    pub bits: u32,
}

#[inline]
fn run_mask(bit: u32, len: u32) -> u32 {
    (((1u64 << len) - 1) << bit) as u32
}

/// Merges the set cells of `rows` into rectangles of equal `key`, clearing `rows`.
///
/// When `check` is false every cell is assumed to share one key and `key` is called once per
/// quad; otherwise it is called on each cell a quad covers or tests.
///
/// # Runtime
/// O(quads · 32) word operations without key checks; O(covered cells) key calls with them.
#[inline]
pub(crate) fn merge_slice<K: Copy + PartialEq>(
    rows: &mut [u32; 32],
    grow: Grow,
    check: bool,
    key: impl Fn(usize, usize) -> K,
    mut emit: impl FnMut(Rect, K),
) {
    for r in 0..32 {
        while rows[r] != 0 {
            let b = rows[r].trailing_zeros() as usize;
            let k = key(r, b);
            let rect = match grow {
                Grow::BitsFirst => {
                    let run = (rows[r] >> b).trailing_ones() as usize;
                    let mut w = 1;
                    if check {
                        while w < run && key(r, b + w) == k {
                            w += 1;
                        }
                    } else {
                        w = run;
                    }
                    let mask = run_mask(b as u32, w as u32);
                    let mut h = 1;
                    while r + h < 32 && rows[r + h] & mask == mask && (!check || (b..b + w).all(|i| key(r + h, i) == k))
                    {
                        h += 1;
                    }
                    for line in &mut rows[r..r + h] {
                        *line &= !mask;
                    }
                    Rect { row: r as u32, bit: b as u32, rows: h as u32, bits: w as u32 }
                }
                Grow::RowsFirst => {
                    let bit = 1u32 << b;
                    let mut w = 1;
                    while r + w < 32 && rows[r + w] & bit != 0 && (!check || key(r + w, b) == k) {
                        w += 1;
                    }
                    let all = rows[r..r + w].iter().fold(u32::MAX, |a, &l| a & l);
                    let run = (all >> b).trailing_ones() as usize;
                    let mut h = 1;
                    if check {
                        while h < run && (r..r + w).all(|i| key(i, b + h) == k) {
                            h += 1;
                        }
                    } else {
                        h = run;
                    }
                    let mask = run_mask(b as u32, h as u32);
                    for line in &mut rows[r..r + w] {
                        *line &= !mask;
                    }
                    Rect { row: r as u32, bit: b as u32, rows: w as u32, bits: h as u32 }
                }
            };
            emit(rect, k);
        }
    }
}

/// Merges the set cells of `rows` into rectangles made of whole runs: each row is cut into
/// maximal runs of set bits with equal `key`, and a run extends the rectangle above it only if
/// that rectangle's run is identical (same start, length and key). Runs are never split by
/// earlier rectangles, which suits height-map tops (binary-greedy-meshing's rule). Clears
/// `rows`.
///
/// # Runtime
/// O(runs) word operations plus the key calls of the covered cells when `check`.
pub(crate) fn merge_runs<K: Copy + PartialEq + Default>(
    rows: &mut [u32; 32],
    check: bool,
    key: impl Fn(usize, usize) -> K,
    mut emit: impl FnMut(Rect, K),
) {
    // Open rectangle per start bit: (first row, run length, key); `open` marks live ones.
    let mut spans = [(0u32, 0u32, K::default()); 32];
    let mut open = 0u32;
    for (r, slot) in rows.iter_mut().enumerate() {
        let mut line = std::mem::take(slot);
        let mut continued = 0u32;
        while line != 0 {
            let b = line.trailing_zeros() as usize;
            let run = (line >> b).trailing_ones() as usize;
            let k = key(r, b);
            let mut w = 1;
            if check {
                while w < run && key(r, b + w) == k {
                    w += 1;
                }
            } else {
                w = run;
            }
            line &= !run_mask(b as u32, w as u32);
            let (first, len, key_open) = spans[b];
            if open >> b & 1 == 1 && len == w as u32 && key_open == k {
                continued |= 1 << b;
                continue;
            }
            if open >> b & 1 == 1 {
                emit(Rect { row: first, bit: b as u32, rows: r as u32 - first, bits: len }, key_open);
            }
            spans[b] = (r as u32, w as u32, k);
            open |= 1 << b;
            continued |= 1 << b;
        }
        let mut stale = open & !continued;
        open &= continued;
        while stale != 0 {
            let b = stale.trailing_zeros() as usize;
            stale &= stale - 1;
            let (first, len, k) = spans[b];
            emit(Rect { row: first, bit: b as u32, rows: r as u32 - first, bits: len }, k);
        }
    }
    while open != 0 {
        let b = open.trailing_zeros() as usize;
        open &= open - 1;
        let (first, len, k) = spans[b];
        emit(Rect { row: first, bit: b as u32, rows: 32 - first, bits: len }, k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cover(rects: &[(Rect, u32)]) -> Vec<(usize, usize, u32)> {
        let mut v = Vec::new();
        for (rc, k) in rects {
            for r in rc.row..rc.row + rc.rows {
                for b in rc.bit..rc.bit + rc.bits {
                    v.push((r as usize, b as usize, *k));
                }
            }
        }
        v.sort_unstable();
        v
    }

    #[test]
    fn full_slice_is_one_quad() {
        for grow in [Grow::BitsFirst, Grow::RowsFirst] {
            let mut rows = [u32::MAX; 32];
            let mut out = Vec::new();
            merge_slice(&mut rows, grow, false, |_, _| 7, |r, k| out.push((r, k)));
            assert_eq!(out, vec![(Rect { row: 0, bit: 0, rows: 32, bits: 32 }, 7)]);
        }
    }

    #[test]
    fn runs_merge_identical_runs_only() {
        // Rows 0-1: bits 0..4; row 2: bits 0..6 (a longer run is not split).
        let mut rows = [0u32; 32];
        rows[0] = 0b1111;
        rows[1] = 0b1111;
        rows[2] = 0b11_1111;
        let mut out = Vec::new();
        merge_runs(&mut rows, false, |_, _| 0, |r, _| out.push(r));
        assert_eq!(out, vec![Rect { row: 0, bit: 0, rows: 2, bits: 4 }, Rect { row: 2, bit: 0, rows: 1, bits: 6 }]);
    }

    proptest! {
        #[test]
        fn rects_partition_the_set_cells(
            rows in proptest::array::uniform32(any::<u32>()),
            keys in proptest::collection::vec(0u32..3, 1024),
            strategy in 0u8..3,
        ) {
            let mut work = rows;
            let mut out = Vec::new();
            let key = |r: usize, b: usize| keys[r * 32 + b];
            match strategy {
                0 => merge_slice(&mut work, Grow::BitsFirst, true, key, |r, k| out.push((r, k))),
                1 => merge_slice(&mut work, Grow::RowsFirst, true, key, |r, k| out.push((r, k))),
                _ => merge_runs(&mut work, true, key, |r, k| out.push((r, k))),
            }
            prop_assert!(work.iter().all(|&r| r == 0));
            let mut expected = Vec::new();
            for (r, line) in rows.iter().enumerate() {
                for b in 0..32 {
                    if line >> b & 1 == 1 {
                        expected.push((r, b, keys[r * 32 + b]));
                    }
                }
            }
            expected.sort_unstable();
            let got = cover(&out);
            prop_assert_eq!(got, expected, "no overlap, no hole, keys preserved");
        }
    }
}
