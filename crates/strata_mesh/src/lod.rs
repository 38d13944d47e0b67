//! Level-of-detail meshing.
//!
//! An LOD node of level `k` covers `2^k` chunks per axis and is stored as one 32³ mip
//! [`Chunk`]; mesh it like any chunk with [`crate::MeshOptions::lod`]`(k)`, so each mip voxel
//! becomes a `2^k`-voxel cube in the node's local space. Neighbours at the same level are passed
//! as [`crate::Neighbor::Loaded`] mips.
//!
//! # No cracks at LOD borders
//! Where two meshes of different levels meet, pass [`crate::Neighbor::Seam`] for that border on
//! **both** sides. A seam behaves as air, so each mesh emits every border face of its non-air
//! voxels: each mesh is then a closed surface around its own solid volume within its node. Any
//! ray (or line of sight) that crosses the border plane from air into solid on either side
//! therefore crosses one of the two closed surfaces — there is no gap to see through, whatever
//! the height difference between the two levels. The cost is one wall of quads per seam, merged
//! greedily like all faces (typically a few dozen quads), and only on borders that are seams.
//! The test `lod_seam_rays_always_hit` casts rays across such a seam and checks they hit.

use strata_core::{CHUNK_SIZE, Chunk, DenseChunk, MaterialId};

/// Errors building an LOD mip.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LodError {
    /// Mip levels above 5 would make one mip voxel larger than a chunk.
    LevelTooDeep {
        /// The requested level.
        level: u8,
    },
}

impl std::fmt::Display for LodError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LodError::LevelTooDeep { level } => write!(f, "LOD level {level} is deeper than 5"),
        }
    }
}

impl std::error::Error for LodError {}

/// The deepest level [`downsample_majority`] supports (one mip voxel per chunk).
pub const MAX_DOWNSAMPLE_LEVEL: u8 = 5;

/// Builds the 32³ mip of a node of `level` from its `n³` chunks (`n = 2^level`),
/// `chunk_at([cx, cy, cz])` giving the chunk at offset `c` (each in `0..n`) inside the node.
///
/// Rule (majority non-air): a mip voxel covering `n³` voxels is non-air iff at least half of
/// them are non-air, and then holds their most common non-air material (ties: smaller id).
/// Reference and test helper; the octree index builds the same mips incrementally.
///
/// # Runtime
/// O(32³ · n³) reads for dense chunks; uniform chunks fill their region in O(region).
pub fn downsample_majority<'a>(level: u8, chunk_at: impl Fn([usize; 3]) -> &'a Chunk) -> Result<Chunk, LodError> {
    if level > MAX_DOWNSAMPLE_LEVEL {
        return Err(LodError::LevelTooDeep { level });
    }
    let n = 1usize << level;
    let per_chunk = CHUNK_SIZE / n;
    let mut mip = DenseChunk::filled(MaterialId::AIR);
    let mut counts: Vec<(u16, u32)> = Vec::with_capacity(8);
    for cz in 0..n {
        for cy in 0..n {
            for cx in 0..n {
                let chunk = chunk_at([cx, cy, cz]);
                for mz in 0..per_chunk {
                    for my in 0..per_chunk {
                        for mx in 0..per_chunk {
                            let m = match chunk {
                                Chunk::Uniform(m) => *m,
                                Chunk::Dense(d) => majority(d, [mx * n, my * n, mz * n], n, &mut counts),
                            };
                            let (x, y, z) = (cx * per_chunk + mx, cy * per_chunk + my, cz * per_chunk + mz);
                            mip.as_mut_slice()[x + CHUNK_SIZE * y + CHUNK_SIZE * CHUNK_SIZE * z] = m.0;
                        }
                    }
                }
            }
        }
    }
    let mut chunk = Chunk::Dense(mip);
    chunk.normalize();
    Ok(chunk)
}

fn majority(d: &DenseChunk, min: [usize; 3], n: usize, counts: &mut Vec<(u16, u32)>) -> MaterialId {
    counts.clear();
    let ids = d.as_slice();
    let mut air = 0;
    for z in min[2]..min[2] + n {
        for y in min[1]..min[1] + n {
            for &v in &ids[min[0] + CHUNK_SIZE * y + CHUNK_SIZE * CHUNK_SIZE * z..][..n] {
                if v == 0 {
                    air += 1;
                } else if let Some(c) = counts.iter_mut().find(|(m, _)| *m == v) {
                    c.1 += 1;
                } else {
                    counts.push((v, 1));
                }
            }
        }
    }
    if 2 * air > n * n * n {
        return MaterialId::AIR;
    }
    let best = counts.iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
    MaterialId(best.map_or(0, |b| b.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::LocalPos;

    #[test]
    fn majority_rule() {
        let stone = Chunk::Uniform(MaterialId(1));
        let air = Chunk::Uniform(MaterialId::AIR);
        let mut half = DenseChunk::filled(MaterialId::AIR);
        for i in 0..CHUNK_SIZE * CHUNK_SIZE * CHUNK_SIZE {
            let p = strata_core::LocalIndex::new(i as u16).pos();
            if p.y.is_multiple_of(2) {
                half.set(p.index(), MaterialId(if p.x.is_multiple_of(4) { 3 } else { 2 }));
            }
        }
        let half = Chunk::Dense(half);
        let mip = downsample_majority(1, |[_, y, z]| {
            if z == 1 {
                &half
            } else if y == 0 {
                &stone
            } else {
                &air
            }
        })
        .unwrap();
        assert_eq!(mip.get(LocalPos::new(3, 3, 3).index()), MaterialId(1));
        assert_eq!(mip.get(LocalPos::new(3, 20, 3).index()), MaterialId::AIR);
        assert_eq!(mip.get(LocalPos::new(3, 20, 20).index()), MaterialId(2), "half solid counts as solid");
        assert_eq!(downsample_majority(6, |_| &stone), Err(LodError::LevelTooDeep { level: 6 }));
        assert_eq!(downsample_majority(0, |_| &half).unwrap(), half);
    }
}
