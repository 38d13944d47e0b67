//! The LOD downsampling rule, shared by the index's grids and the stored summaries of chunks.
//!
//! A coarse cell stands for a 2×2×2 block of finer cells. It is **non-air when at least half
//! (4 of 8) of them are non-air**, and then holds **the most common non-air material among
//! them** (ties go to the smaller id); otherwise it is air. A block of 8 equal cells keeps its
//! value. Thin surfaces therefore neither vanish (a half-solid block stays solid) nor bloat (a
//! block that is mostly air stays air). The rule is applied level by level, like texture mips.

use crate::chunk::Chunk;
use crate::coords::{CHUNK_SIZE, CHUNK_VOLUME};
use crate::material::MaterialId;

/// Cells per axis of a chunk at half resolution.
pub const HALF_SIZE: usize = CHUNK_SIZE / 2;
/// Cells of a chunk at half resolution (16³).
pub const HALF_VOLUME: usize = HALF_SIZE * HALF_SIZE * HALF_SIZE;

/// The material of one downsampled cell from its 8 sub-cells (see the module docs).
#[inline]
pub fn downsample_cell(v: [u16; 8]) -> u16 {
    let a = v[0];
    if v.iter().all(|&x| x == a) {
        return a;
    }
    let solid = v.iter().filter(|&&x| x != 0).count();
    if solid < 4 {
        return 0;
    }
    let (mut best, mut best_n) = (0u16, 0usize);
    for &m in &v {
        if m == 0 {
            continue;
        }
        let n = v.iter().filter(|&&x| x == m).count();
        if n > best_n || (n == best_n && m < best) {
            best = m;
            best_n = n;
        }
    }
    best
}

/// A chunk at half resolution: 16³ cells, each the downsampled 2×2×2 block of voxels (index
/// `x + 16·y + 256·z`), or one material for all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HalfCells {
    /// Every cell holds this material.
    Uniform(MaterialId),
    /// 16³ cells (not all equal).
    Dense(Box<[u16; HALF_VOLUME]>),
}

impl HalfCells {
    /// Downsamples `chunk` by the rule in the module docs.
    ///
    /// # Runtime
    /// O(1) for a uniform chunk; for a dense one, one pass of row compares over its 8³ blocks
    /// (a uniform block gives its 4³ cells at once) and the rule for the cells of the others.
    pub fn of(chunk: &Chunk) -> Self {
        let Chunk::Dense(d) = chunk else {
            // Invariant: the other variant is uniform.
            return HalfCells::Uniform(chunk.as_uniform().unwrap_or(MaterialId::AIR));
        };
        let v = d.as_slice();
        const Y: usize = CHUNK_SIZE;
        const Z: usize = CHUNK_SIZE * CHUNK_SIZE;
        const B: usize = 8;
        const H: usize = HALF_SIZE;
        let mut out = Box::new([0u16; HALF_VOLUME]);
        for (bx, by, bz) in (0..4).flat_map(|z| (0..4).flat_map(move |y| (0..4).map(move |x| (x, y, z)))) {
            let (x0, y0, z0) = (bx * B / 2, by * B / 2, bz * B / 2);
            if let Some(m) = block_uniform(v, [bx * B, by * B, bz * B]) {
                for z in z0..z0 + B / 2 {
                    for y in y0..y0 + B / 2 {
                        out[x0 + H * y + H * H * z..][..B / 2].fill(m);
                    }
                }
                continue;
            }
            for z in z0..z0 + B / 2 {
                for y in y0..y0 + B / 2 {
                    for x in x0..x0 + B / 2 {
                        let b = 2 * x + Y * 2 * y + Z * 2 * z;
                        let s = &v[b..b + Z + Y + 2];
                        out[x + H * y + H * H * z] =
                            downsample_cell([s[0], s[1], s[Y], s[Y + 1], s[Z], s[Z + 1], s[Z + Y], s[Z + Y + 1]]);
                    }
                }
            }
        }
        Self::from_cells(out)
    }

    /// Cells as given, made [`HalfCells::Uniform`] when all are equal.
    pub fn from_cells(cells: Box<[u16; HALF_VOLUME]>) -> Self {
        let first = cells[0];
        if cells.iter().all(|&c| c == first) { HalfCells::Uniform(MaterialId(first)) } else { HalfCells::Dense(cells) }
    }

    /// The cell at `(x, y, z)`, each in `0..16`.
    #[inline]
    pub fn get(&self, x: usize, y: usize, z: usize) -> MaterialId {
        match self {
            HalfCells::Uniform(m) => *m,
            HalfCells::Dense(c) => MaterialId(c[x + HALF_SIZE * y + HALF_SIZE * HALF_SIZE * z]),
        }
    }

    /// `Some(material)` if every cell holds it.
    pub fn as_uniform(&self) -> Option<MaterialId> {
        match self {
            HalfCells::Uniform(m) => Some(*m),
            HalfCells::Dense(_) => None,
        }
    }
}

/// `Some(material)` if the 8³ block of a dense chunk's voxels with smallest corner `c` holds
/// one material (rows of 8 compared whole, so it vectorizes).
#[inline]
pub fn block_uniform(v: &[u16; CHUNK_VOLUME], c: [usize; 3]) -> Option<u16> {
    let first = v[c[0] + CHUNK_SIZE * c[1] + CHUNK_SIZE * CHUNK_SIZE * c[2]];
    let row = [first; 8];
    for z in c[2]..c[2] + 8 {
        for y in c[1]..c[1] + 8 {
            let i = c[0] + CHUNK_SIZE * y + CHUNK_SIZE * CHUNK_SIZE * z;
            // A fixed-size array compare (vector instructions, no memcmp call).
            if v[i..i + 8].first_chunk::<8>() != Some(&row) {
                return None;
            }
        }
    }
    Some(first)
}

const _: () = assert!(CHUNK_VOLUME == 8 * HALF_VOLUME);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::DenseChunk;
    use crate::coords::LocalPos;
    use proptest::prelude::*;

    #[test]
    fn rule_examples() {
        assert_eq!(downsample_cell([3; 8]), 3);
        assert_eq!(downsample_cell([0, 0, 0, 0, 0, 2, 2, 2]), 0);
        assert_eq!(downsample_cell([0, 0, 0, 0, 5, 2, 2, 5]), 2);
        assert_eq!(downsample_cell([0, 0, 0, 7, 5, 7, 5, 5]), 5);
    }

    proptest! {
        /// Each half-resolution cell is the rule applied to the 8 voxels it covers, read one by
        /// one through the chunk's own accessor (not the slice arithmetic of `of`).
        #[test]
        fn half_cells_downsample_each_block(seed in any::<u64>(), materials in 1u16..5, uniform_blocks in any::<u64>()) {
            // Each 8³ block is one material (bit set in `uniform_blocks`) or random voxels.
            let mut s = seed | 1;
            let chunk = Chunk::Dense(DenseChunk::from_fn(|p| {
                let block = usize::from(p.x / 8) + 4 * usize::from(p.y / 8) + 16 * usize::from(p.z / 8);
                if uniform_blocks & (1 << block) != 0 {
                    return MaterialId((block as u16 * 7) % (materials + 1));
                }
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                MaterialId((s % u64::from(materials + 1)) as u16)
            }));
            let half = HalfCells::of(&chunk);
            for (x, y, z) in (0..16).flat_map(|x| (0..16).flat_map(move |y| (0..16).map(move |z| (x, y, z)))) {
                let mut v = [0u16; 8];
                for (i, slot) in v.iter_mut().enumerate() {
                    let p = LocalPos::new((2 * x + (i & 1)) as u8, (2 * y + ((i >> 1) & 1)) as u8, (2 * z + (i >> 2)) as u8);
                    *slot = chunk.get(p.index()).0;
                }
                prop_assert_eq!(half.get(x, y, z).0, downsample_cell(v), "cell {:?}", (x, y, z));
            }
        }
    }

    #[test]
    fn uniform_chunks_and_uniform_results_are_uniform() {
        assert_eq!(HalfCells::of(&Chunk::Uniform(MaterialId(4))), HalfCells::Uniform(MaterialId(4)));
        // Scattered single voxels: every block is mostly air.
        let sparse =
            Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(u16::from(p.x % 2 == 0 && p.y % 2 == 0 && p.z % 2 == 0))));
        assert_eq!(HalfCells::of(&sparse), HalfCells::Uniform(MaterialId::AIR));
    }
}
