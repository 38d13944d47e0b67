//! Deterministic world generators: the baseline every unedited chunk comes from.

use crate::chunk::{Chunk, DenseChunk};
use crate::coords::{CHUNK_SIZE, ChunkKey, LocalPos, VoxelPos};
use crate::material::MaterialId;

/// Produces the voxels of chunks nobody has edited.
///
/// Implementations must be deterministic (same configuration and seed → same voxels, on every
/// machine and thread) and cheap to share (`Send + Sync`; the world calls them from worker
/// threads).
pub trait WorldGenerator: Send + Sync + 'static {
    /// The material at one voxel. The reference definition: [`WorldGenerator::generate`] must
    /// agree with it voxel for voxel.
    fn material_at(&self, pos: VoxelPos) -> MaterialId;

    /// The whole chunk at `key`. The default samples [`WorldGenerator::material_at`] per voxel;
    /// implementations override it with column-wise generation and uniform fast paths.
    fn generate(&self, key: ChunkKey) -> Chunk {
        let mut c = Chunk::Dense(DenseChunk::from_fn(|l| self.material_at(VoxelPos::from_parts(key, l))));
        c.normalize();
        c
    }

    /// The 32³ level-of-detail grid of the octree node `node` at `level` (level 0 is one chunk;
    /// level `k` covers 2ᵏ chunks per side, so each cell stands for (2ᵏ)³ voxels; `node` is the
    /// chunk key shifted right by `level`).
    ///
    /// The rule is a **point sample at the cell centre**: cell `c` is `material_at` of voxel
    /// `origin + c·2ᵏ + 2ᵏ⁻¹`. Level 0 is exactly [`WorldGenerator::generate`]. The result is
    /// normalized (uniform when every cell agrees). Implementations may override it with a faster
    /// version that returns the same cells.
    ///
    /// # Runtime
    /// The default calls `material_at` 32³ times.
    fn sample_lod(&self, level: u32, node: ChunkKey) -> Chunk {
        if level == 0 {
            return self.generate(node);
        }
        let cell = LodCells::new(level, node);
        let mut c = Chunk::Dense(DenseChunk::from_fn(|l| self.material_at(cell.centre(l))));
        c.normalize();
        c
    }
}

/// Cell-centre arithmetic of [`WorldGenerator::sample_lod`], in `i64` so no level overflows:
/// for generators that override `sample_lod` and must sample the same points.
#[derive(Clone, Copy, Debug)]
pub struct LodCells {
    origin: [i64; 3],
    size: i64,
}

impl LodCells {
    /// The cells of node `node` at `level` (levels above 26 are treated as 26).
    pub fn new(level: u32, node: ChunkKey) -> Self {
        let level = level.min(26);
        let size = 1i64 << level;
        let edge = size * CHUNK_SIZE as i64;
        Self { origin: node.to_array().map(|v| v as i64 * edge), size }
    }

    /// Centre coordinate of cell `c` on axis `axis`, clamped into the `i32` voxel range.
    pub fn axis(&self, axis: usize, c: u8) -> i32 {
        let v = self.origin[axis] + c as i64 * self.size + self.size / 2;
        v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
    }

    /// The voxel at the centre of cell `l`, each axis clamped like [`LodCells::axis`].
    pub fn centre(&self, l: LocalPos) -> VoxelPos {
        VoxelPos::new(self.axis(0, l.x), self.axis(1, l.y), self.axis(2, l.z))
    }
}

/// A flat world: `material` at and below `height`, air above. Handy for tests and tools.
#[derive(Clone, Debug)]
pub struct FlatGenerator {
    /// Top solid layer.
    pub height: i32,
    /// The ground.
    pub material: MaterialId,
}

impl WorldGenerator for FlatGenerator {
    fn material_at(&self, pos: VoxelPos) -> MaterialId {
        if pos.y <= self.height { self.material } else { MaterialId::AIR }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_default_generate() {
        let g = FlatGenerator { height: 3, material: MaterialId(1) };
        assert_eq!(g.generate(ChunkKey::new(0, 1, 0)), Chunk::Uniform(MaterialId::AIR));
        let c = g.generate(ChunkKey::new(0, 0, 0));
        assert_eq!(c.get(LocalPos::new(0, 3, 0).index()), MaterialId(1));
        assert_eq!(c.get(LocalPos::new(0, 4, 0).index()), MaterialId::AIR);
    }
}
