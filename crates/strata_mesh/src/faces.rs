//! Visible-face bitmasks from padded occupancy grids, with the column shifts of binary greedy
//! meshing.
//!
//! For a set `S` of voxels (the opaque ones, or the cells of one transparent material) and a set
//! `B` of voxels that hide a face of `S`, the face of `p ∈ S` towards `d` is visible iff
//! `p + d ∉ B`: per x-row that is `s & !b_shifted` — one `and-not` for 32 voxels.
//!
//! Output layout, per face direction, a `[slice][row]` array of `u32` bit rows, chosen so that
//! slices are perpendicular to the face normal and the scan order (rows outer, bits inner)
//! matches block-mesh's `greedy_quads` (z outer, then y, then x):
//! - ±X: slice `x`, row `z`, bit `y` (built by transposing 32×32 bit blocks);
//! - ±Y: slice `y`, row `z`, bit `x`;
//! - ±Z: slice `z`, row `y`, bit `x`.

use crate::occupancy::{Grid, PAD, row};
use strata_core::{CHUNK_SIZE, Face};

/// Slices × rows of face bits for one direction.
pub(crate) type FaceSlices = [[u32; CHUNK_SIZE]; CHUNK_SIZE];

/// Visible-face masks for the six directions, indexed by `Face as usize`.
///
/// Invariant between uses: every mask is zero. [`FaceMasks::compute`] only writes zeros when it
/// reports no face, and otherwise the caller merges every slice, which clears every bit
/// ([`crate::greedy::merge_slice`] consumes its rows).
pub(crate) struct FaceMasks {
    pub masks: [FaceSlices; 6],
    /// Per direction, bit `s` set iff slice `s` has a face (set by [`FaceMasks::compute`]).
    nonempty: [u32; 6],
}

impl FaceMasks {
    pub(crate) fn new() -> Box<Self> {
        Box::new(Self { masks: [[[0; CHUNK_SIZE]; CHUNK_SIZE]; 6], nonempty: [0; 6] })
    }

    /// Computes the masks of `solid` hidden by `blocker(direction, row_index)` (the voxels that
    /// hide a face looking along `direction`); returns whether any face is visible. Requires
    /// (and, when it returns false, keeps) every mask zero.
    ///
    /// # Runtime
    /// O(32²) row operations, plus per z layer either one bit move per ±X face or two 32 × 32
    /// bit-matrix transposes, whichever is cheaper.
    pub(crate) fn compute(&mut self, solid: &Grid, blocker: impl Fn(Face, usize) -> u64) -> bool {
        let mut ne = [0u32; 6];
        let [neg_x, pos_x, neg_y, pos_y, neg_z, pos_z] = &mut self.masks;
        // Every mask starts zero (see the invariant on `FaceMasks`): rows without solid voxels
        // are skipped, and ±X faces are scattered bit by bit into their (x, z, y) layout when
        // few, or transposed 32 × 32 at a time when many.
        debug_assert!(
            [&*neg_x, &*pos_x, &*neg_y, &*pos_y, &*neg_z, &*pos_z].iter().all(|m| m.iter().flatten().all(|&r| r == 0))
        );
        for z in 0..CHUNK_SIZE {
            // Every entry is written below (zero when the row has no solid voxel).
            let mut x_pos = [0u32; CHUNK_SIZE];
            let mut x_neg = [0u32; CHUNK_SIZE];
            let mut x_faces = 0;
            let (mut z_neg, mut z_pos) = (0, 0);
            for y in 0..CHUNK_SIZE {
                let r = row(y + 1, z + 1);
                let c = (solid[r] >> 1) as u32;
                if c == 0 {
                    // The ±Y / ±Z entries are already zero (invariant on `FaceMasks`).
                    x_pos[y] = 0;
                    x_neg[y] = 0;
                    continue;
                }
                x_pos[y] = c & !((blocker(Face::PosX, r) >> 2) as u32);
                x_neg[y] = c & !(blocker(Face::NegX, r) as u32);
                x_faces += (x_pos[y] | x_neg[y]).count_ones();
                pos_y[y][z] = c & !((blocker(Face::PosY, r + 1) >> 1) as u32);
                neg_y[y][z] = c & !((blocker(Face::NegY, r - 1) >> 1) as u32);
                pos_z[z][y] = c & !((blocker(Face::PosZ, r + PAD) >> 1) as u32);
                neg_z[z][y] = c & !((blocker(Face::NegZ, r - PAD) >> 1) as u32);
                ne[Face::NegX as usize] |= x_neg[y];
                ne[Face::PosX as usize] |= x_pos[y];
                ne[Face::NegY as usize] |= u32::from(neg_y[y][z] != 0) << y;
                ne[Face::PosY as usize] |= u32::from(pos_y[y][z] != 0) << y;
                z_neg |= neg_z[z][y];
                z_pos |= pos_z[z][y];
            }
            ne[Face::NegZ as usize] |= u32::from(z_neg != 0) << z;
            ne[Face::PosZ as usize] |= u32::from(z_pos != 0) << z;
            if x_faces == 0 {
                continue;
            }
            if x_faces < SCATTER_LIMIT {
                for y in 0..CHUNK_SIZE {
                    scatter(&mut x_pos[y], y, z, pos_x);
                    scatter(&mut x_neg[y], y, z, neg_x);
                }
            } else {
                transpose32(&mut x_pos);
                transpose32(&mut x_neg);
                for x in 0..CHUNK_SIZE {
                    pos_x[x][z] = x_pos[x];
                    neg_x[x][z] = x_neg[x];
                }
            }
        }
        self.nonempty = ne;
        ne.iter().any(|&n| n != 0)
    }

    /// Bit `s` set iff slice `s` of `face` holds a face; the other slices are all zero.
    pub(crate) fn nonempty(&self, face: Face) -> u32 {
        self.nonempty[face as usize]
    }

    /// One slice of one direction, mutable (the greedy merge consumes it).
    pub(crate) fn slice_mut(&mut self, face: Face, slice: usize) -> &mut [u32; CHUNK_SIZE] {
        &mut self.masks[face as usize][slice]
    }
}

/// Below this many ±X face bits in a z layer, scattering bits beats two transposes.
const SCATTER_LIMIT: u32 = 48;

/// Moves the set bits `x` of `bits` (row `y` of layer `z`) to bit `y` of `out[x][z]`.
#[inline]
fn scatter(bits: &mut u32, y: usize, z: usize, out: &mut FaceSlices) {
    while *bits != 0 {
        let x = bits.trailing_zeros() as usize;
        *bits &= *bits - 1;
        out[x][z] |= 1 << y;
    }
}

/// Transposes a 32×32 bit matrix in place: bit `c` of row `r` moves to bit `r` of row `c`.
///
/// # Runtime
/// 5 rounds of 16 masked swaps (Hacker's Delight §7-3).
pub(crate) fn transpose32(a: &mut [u32; 32]) {
    let mut j = 16;
    let mut m: u32 = 0x0000_FFFF;
    while j != 0 {
        let mut k = 0;
        while k < 32 {
            let t = ((a[k] >> j) ^ a[k + j]) & m;
            a[k + j] ^= t;
            a[k] ^= t << j;
            k = (k + j + 1) & !j;
        }
        j >>= 1;
        m ^= m << j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        #[allow(clippy::needless_range_loop)]
        fn transpose_matches_naive(rows in proptest::array::uniform32(any::<u32>())) {
            let mut t = rows;
            transpose32(&mut t);
            for r in 0..32 {
                for c in 0..32 {
                    prop_assert_eq!((rows[r] >> c) & 1, (t[c] >> r) & 1);
                }
            }
        }
    }
}
