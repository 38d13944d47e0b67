//! Per-vertex ambient occlusion of a voxel face, from the opaque occupancy grid.
//!
//! Each face has four corners; a corner's AO level is `0..=3` (3 = unoccluded) from the two side
//! cells and the diagonal cell next to it in the layer the face looks into (the classic
//! "0fps" rule: both sides occupied → 0, otherwise `3 − sides − corner`). Cells outside the
//! chunk and its six face layers (diagonal chunks) count as empty.

use crate::occupancy::{Grid, is_set};
use crate::output::TANGENTS;
use strata_core::Face;

/// Corner order shared with [`crate::output`]: `(−P, −Q)`, `(+P, −Q)`, `(+P, +Q)`, `(−P, +Q)`
/// where `(P, Q)` are the face's tangent axes.
pub(crate) const CORNERS: [(i32, i32); 4] = [(-1, -1), (1, -1), (1, 1), (-1, 1)];

/// AO key of the face of voxel `p` towards `face`: corner `i`'s level in bits `2i..2i+2`.
///
/// # Runtime
/// 12 bit tests.
#[inline]
pub(crate) fn ao_key(opaque: &Grid, face: Face, p: [i32; 3]) -> u32 {
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
    use crate::occupancy::{GRID, row};

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
}
