//! Boxes of cells and chunk diffs: what an update tells the downsampler to redo.

use strata_core::{CHUNK_SIZE, Chunk};

/// An inclusive box of cells, each coordinate in `0..32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CellBox {
    /// Smallest corner.
    pub min: [usize; 3],
    /// Largest corner (inclusive).
    pub max: [usize; 3],
}

impl CellBox {
    /// Every cell.
    pub const FULL: CellBox = CellBox { min: [0; 3], max: [CHUNK_SIZE - 1; 3] };

    /// Number of cells inside.
    pub fn volume(&self) -> usize {
        (0..3).map(|a| self.max[a] + 1 - self.min[a]).product()
    }

    /// Calls `f` with the chunk index of every cell inside (x fastest).
    pub fn for_each(&self, mut f: impl FnMut(strata_core::LocalIndex)) {
        for z in self.min[2]..=self.max[2] {
            for y in self.min[1]..=self.max[1] {
                for x in self.min[0]..=self.max[0] {
                    f(strata_core::LocalPos::new(x as u8, y as u8, z as u8).index());
                }
            }
        }
    }

    /// The smallest box holding both.
    pub fn union(self, o: CellBox) -> CellBox {
        CellBox {
            min: std::array::from_fn(|a| self.min[a].min(o.min[a])),
            max: std::array::from_fn(|a| self.max[a].max(o.max[a])),
        }
    }
}

/// The inclusive box of voxels that differ between two chunks, or `None` if they are equal.
///
/// # Runtime
/// O(32³) compares (row slices, so it vectorizes); O(1) when both are uniform.
pub fn diff_box(old: &Chunk, new: &Chunk) -> Option<CellBox> {
    match (old, new) {
        (Chunk::Uniform(a), Chunk::Uniform(b)) => (a != b).then_some(CellBox::FULL),
        (Chunk::Dense(a), Chunk::Dense(b)) => {
            let (a, b) = (a.as_slice(), b.as_slice());
            let mut bx: Option<CellBox> = None;
            for row in 0..CHUNK_SIZE * CHUNK_SIZE {
                let r = row * CHUNK_SIZE..(row + 1) * CHUNK_SIZE;
                if a[r.clone()] == b[r.clone()] {
                    continue;
                }
                let (y, z) = (row % CHUNK_SIZE, row / CHUNK_SIZE);
                let xs = (0..CHUNK_SIZE).filter(|&x| a[r.start + x] != b[r.start + x]);
                let (x0, x1) = xs.fold((usize::MAX, 0), |(lo, hi), x| (lo.min(x), hi.max(x)));
                let cell = CellBox { min: [x0, y, z], max: [x1, y, z] };
                bx = Some(bx.map_or(cell, |b| b.union(cell)));
            }
            bx
        }
        _ => Some(CellBox::FULL),
    }
}
