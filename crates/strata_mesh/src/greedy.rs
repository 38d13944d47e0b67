//! Greedy merge of one 32×32 slice of face bits into rectangles.
//!
//! The merge is block-mesh's greedy rule done on bit rows: scan cells in (row, bit) order; the
//! first unmerged cell starts a quad, which grows first along its *width* direction, then along
//! its *height* direction as long as every cell of the next line is set and carries the same
//! key (material, AO). With the scan orders of [`crate::faces`] this yields exactly block-mesh's
//! quads, so our quad count never exceeds `greedy_quads` on the same visibility.

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
pub(crate) fn merge_slice(
    rows: &mut [u32; 32],
    grow: Grow,
    check: bool,
    key: impl Fn(usize, usize) -> u32,
    mut emit: impl FnMut(Rect, u32),
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

    proptest! {
        #[test]
        fn rects_partition_the_set_cells(
            rows in proptest::array::uniform32(any::<u32>()),
            keys in proptest::collection::vec(0u32..3, 1024),
            rows_first in any::<bool>(),
        ) {
            let grow = if rows_first { Grow::RowsFirst } else { Grow::BitsFirst };
            let mut work = rows;
            let mut out = Vec::new();
            merge_slice(&mut work, grow, true, |r, b| keys[r * 32 + b], |r, k| out.push((r, k)));
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
