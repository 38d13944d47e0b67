//! Per-vertex ambient occlusion of a voxel face, from the opaque occupancy grid.
//!
//! Each face has four corners; a corner's AO level is `0..=3` (3 = unoccluded) from the two side
//! cells and the diagonal cell next to it in the layer the face looks into (the classic
//! "0fps" rule: both sides occupied → 0, otherwise `3 − sides − corner`). Cells outside the
//! chunk and its six face layers (diagonal chunks) count as empty.

use crate::occupancy::{Grid, row};
use strata_core::Face;

/// Corner order shared with [`crate::output`]: `(−P, −Q)`, `(+P, −Q)`, `(+P, +Q)`, `(−P, +Q)`
/// where `(P, Q)` are the face's tangent axes.
pub(crate) const CORNERS: [(i32, i32); 4] = [(-1, -1), (1, -1), (1, 1), (-1, 1)];

/// AO key of the face of voxel `p` towards `face`: corner `i`'s level in bits `2i..2i+2`.
///
/// Reads the 3 × 3 cells around the air-side cell as 9 bits (three 3-bit groups, one per grid
/// row) and maps them through a 512-entry table.
///
/// # Runtime
/// 3 row loads for ±Y and ±Z faces, 8 for ±X faces, and one table lookup.
#[inline]
pub(crate) fn ao_key(opaque: &Grid, face: Face, p: [i32; 3]) -> u32 {
    let n = face.offset();
    // Padded coordinates of the air-side cell (each in 0..=33).
    let [qx, qy, qz] = [p[0] + n[0] + 1, p[1] + n[1] + 1, p[2] + n[2] + 1].map(|v| v as usize);
    let three = |yp: usize, zp: usize| ((opaque[row(yp, zp)] >> (qx - 1)) & 7) as usize;
    let bit = |yp: usize, zp: usize| ((opaque[row(yp, zp)] >> qx) & 1) as usize;
    let (index, table) = match face.axis() {
        // Groups by z (P), bits by x (Q).
        1 => (three(qy, qz - 1) | three(qy, qz) << 3 | three(qy, qz + 1) << 6, &ROWS_ARE_P),
        // Groups by y (Q), bits by x (P).
        2 => (three(qy - 1, qz) | three(qy, qz) << 3 | three(qy + 1, qz) << 6, &ROWS_ARE_Q),
        // Groups by z (Q), bits by y (P): one bit per cell, same x.
        _ => {
            let group = |zp: usize| bit(qy - 1, zp) | bit(qy, zp) << 1 | bit(qy + 1, zp) << 2;
            (group(qz - 1) | group(qz) << 3 | group(qz + 1) << 6, &ROWS_ARE_Q)
        }
    };
    u32::from(table[index])
}

/// AO keys of every 3 × 3 neighbourhood whose groups run along the first tangent `P`.
static ROWS_ARE_P: [u8; 512] = ao_table(true);
/// AO keys of every 3 × 3 neighbourhood whose groups run along the second tangent `Q`.
static ROWS_ARE_Q: [u8; 512] = ao_table(false);

/// Builds a neighbourhood → key table. Index bit `3g + t` is the cell at group offset `g − 1`
/// and in-group offset `t − 1`; groups are offsets along `P` when `rows_are_p`, else along `Q`.
const fn ao_table(rows_are_p: bool) -> [u8; 512] {
    let mut table = [0u8; 512];
    let mut index = 0;
    while index < 512 {
        let mut key = 0u32;
        let mut i = 0;
        while i < 4 {
            let (sp, sq) = CORNERS[i];
            let (s1, s2, d) =
                (occ(index, rows_are_p, sp, 0), occ(index, rows_are_p, 0, sq), occ(index, rows_are_p, sp, sq));
            let level = if s1 == 1 && s2 == 1 { 0 } else { 3 - s1 - s2 - d };
            key |= level << (2 * i);
            i += 1;
        }
        table[index as usize] = key as u8;
        index += 1;
    }
    table
}

/// Cell (`dp`, `dq`) of neighbourhood `index` (see [`ao_table`]).
const fn occ(index: i32, rows_are_p: bool, dp: i32, dq: i32) -> u32 {
    let (g, t) = if rows_are_p { (dp, dq) } else { (dq, dp) };
    ((index >> (3 * (g + 1) + (t + 1))) & 1) as u32
}

/// Reference AO key by direct cell tests (used by tests to check the tables).
#[cfg(test)]
fn ao_key_reference(opaque: &Grid, face: Face, p: [i32; 3]) -> u32 {
    use crate::occupancy::is_set;
    use crate::output::TANGENTS;
    let n = face.offset();
    let q = [p[0] + n[0], p[1] + n[1], p[2] + n[2]];
    let (pa, qa) = TANGENTS[face.axis()];
    let occ = |c: [i32; 3]| u32::from(is_set(opaque, c[0], c[1], c[2]));
    let mut key = 0;
    for (i, (sp, sq)) in CORNERS.into_iter().enumerate() {
        let mut side1 = q;
        side1[pa] += sp;
        let mut side2 = q;
        side2[qa] += sq;
        let mut diag = side1;
        diag[qa] += sq;
        let (s1, s2) = (occ(side1), occ(side2));
        let level = if s1 == 1 && s2 == 1 { 0 } else { 3 - s1 - s2 - occ(diag) };
        key |= level << (2 * i);
    }
    key
}

/// The key of a face with no occlusion at any corner.
pub(crate) const UNOCCLUDED: u32 = 0xFF;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::occupancy::GRID;
    use proptest::prelude::*;

    #[test]
    fn corner_levels() {
        let mut g = [0u64; GRID];
        // Floor voxel at (5, 5, 5); its +Y face looks into y = 6.
        assert_eq!(ao_key(&g, Face::PosY, [5, 5, 5]), UNOCCLUDED);
        // A wall cell at (5, 6, 4): tangents of Y are (P = z, Q = x); it is the −P side of every
        // corner with sp = −1.
        g[row(6 + 1, 4 + 1)] |= 1 << (5 + 1);
        let k = ao_key(&g, Face::PosY, [5, 5, 5]);
        assert_eq!(k & 3, 2, "corner (−P, −Q) sees one side");
        assert_eq!((k >> 6) & 3, 2, "corner (−P, +Q) sees one side");
        assert_eq!((k >> 2) & 3, 3);
        // Add (4, 6, 5): the −Q side; corner (−P, −Q) now has both sides → 0.
        g[row(6 + 1, 5 + 1)] |= 1 << (4 + 1);
        assert_eq!(ao_key(&g, Face::PosY, [5, 5, 5]) & 3, 0);
    }

    proptest! {
        #[test]
        fn tables_match_direct_tests(
            cells in proptest::collection::vec(any::<u64>(), GRID),
            face in 0usize..6,
            p in proptest::array::uniform3(0i32..32),
        ) {
            let mut g = [0u64; GRID];
            g.copy_from_slice(&cells);
            let face = Face::ALL[face];
            prop_assert_eq!(ao_key(&g, face, p), ao_key_reference(&g, face, p));
        }
    }
}
