//! Voxel and chunk coordinates.
//!
//! The world is an unbounded grid of voxels addressed by [`VoxelPos`] (`i32` on each axis, the whole
//! range). Voxels are grouped into cubic chunks of [`CHUNK_SIZE`]³ addressed by [`ChunkKey`]; a voxel
//! inside its chunk is a [`LocalPos`], or flattened, a [`LocalIndex`].
//!
//! Every conversion here is total: arithmetic shifts and masks, no division, no overflow, valid at
//! `i32::MIN` and `i32::MAX`.

use serde::{Deserialize, Serialize};

/// log2 of the chunk edge length.
pub const CHUNK_SHIFT: u32 = 5;
/// Chunk edge length in voxels (32).
pub const CHUNK_SIZE: usize = 1 << CHUNK_SHIFT;
/// Voxels per chunk (32³ = 32768).
pub const CHUNK_VOLUME: usize = CHUNK_SIZE * CHUNK_SIZE * CHUNK_SIZE;
const LOCAL_MASK: i32 = (CHUNK_SIZE as i32) - 1;

/// Smallest chunk coordinate on each axis (`i32::MIN >> 5`).
pub const CHUNK_COORD_MIN: i32 = i32::MIN >> CHUNK_SHIFT;
/// Largest chunk coordinate on each axis (`i32::MAX >> 5`).
pub const CHUNK_COORD_MAX: i32 = i32::MAX >> CHUNK_SHIFT;

/// The position of one voxel in the world, in voxels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VoxelPos {
    /// East–west.
    pub x: i32,
    /// Up–down.
    pub y: i32,
    /// North–south.
    pub z: i32,
}

impl VoxelPos {
    /// Builds a position from its three coordinates.
    #[inline]
    pub const fn new(x: i32, y: i32, z: i32) -> Self {
        Self { x, y, z }
    }

    /// The voxel containing the point `p` (in voxels): each coordinate floored, so a point on
    /// a voxel's minimum face belongs to that voxel and `-0.5` to voxel `-1`. Coordinates
    /// beyond the `i32` range saturate; NaN gives 0.
    #[inline]
    pub fn containing(p: [f64; 3]) -> Self {
        Self::new(p[0].floor() as i32, p[1].floor() as i32, p[2].floor() as i32)
    }

    /// The chunk that contains this voxel (floor division by 32, correct for negatives).
    #[inline]
    pub const fn chunk(self) -> ChunkKey {
        ChunkKey::new(self.x >> CHUNK_SHIFT, self.y >> CHUNK_SHIFT, self.z >> CHUNK_SHIFT)
    }

    /// The position of this voxel inside its chunk.
    #[inline]
    pub const fn local(self) -> LocalPos {
        LocalPos { x: (self.x & LOCAL_MASK) as u8, y: (self.y & LOCAL_MASK) as u8, z: (self.z & LOCAL_MASK) as u8 }
    }

    /// Splits into chunk and local position; [`VoxelPos::from_parts`] is the inverse.
    #[inline]
    pub const fn split(self) -> (ChunkKey, LocalPos) {
        (self.chunk(), self.local())
    }

    /// Joins a chunk and a local position. Total: every (chunk, local) pair maps to a voxel.
    #[inline]
    pub const fn from_parts(chunk: ChunkKey, local: LocalPos) -> Self {
        // chunk coordinates are within [i32::MIN >> 5, i32::MAX >> 5], so `<< 5` cannot overflow
        // (wrapping_shl keeps it panic-free even for hand-made out-of-range keys).
        Self {
            x: chunk.x.wrapping_shl(CHUNK_SHIFT) | local.x as i32,
            y: chunk.y.wrapping_shl(CHUNK_SHIFT) | local.y as i32,
            z: chunk.z.wrapping_shl(CHUNK_SHIFT) | local.z as i32,
        }
    }

    /// The neighbour across `face`, wrapping at the i32 boundary.
    #[inline]
    pub const fn step(self, face: Face) -> Self {
        let [dx, dy, dz] = face.offset();
        Self::new(self.x.wrapping_add(dx), self.y.wrapping_add(dy), self.z.wrapping_add(dz))
    }

    /// As an array `[x, y, z]`.
    #[inline]
    pub const fn to_array(self) -> [i32; 3] {
        [self.x, self.y, self.z]
    }
}

impl From<[i32; 3]> for VoxelPos {
    fn from([x, y, z]: [i32; 3]) -> Self {
        Self::new(x, y, z)
    }
}

/// The address of one 32³ chunk: voxel coordinates shifted right by 5 (floor division).
///
/// Valid keys have every coordinate in [`CHUNK_COORD_MIN`]`..=`[`CHUNK_COORD_MAX`]; keys made by
/// [`VoxelPos::chunk`] always are. [`ChunkKey::is_valid`] checks hand-made keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChunkKey {
    /// Chunk x.
    pub x: i32,
    /// Chunk y.
    pub y: i32,
    /// Chunk z.
    pub z: i32,
}

impl ChunkKey {
    /// Builds a key from chunk coordinates.
    #[inline]
    pub const fn new(x: i32, y: i32, z: i32) -> Self {
        Self { x, y, z }
    }

    /// Whether every coordinate lies in the range a voxel position can produce.
    #[inline]
    pub const fn is_valid(self) -> bool {
        const fn ok(v: i32) -> bool {
            v >= CHUNK_COORD_MIN && v <= CHUNK_COORD_MAX
        }
        ok(self.x) && ok(self.y) && ok(self.z)
    }

    /// The voxel at local (0, 0, 0) of this chunk.
    #[inline]
    pub const fn min_voxel(self) -> VoxelPos {
        VoxelPos::from_parts(self, LocalPos { x: 0, y: 0, z: 0 })
    }

    /// The voxel at local (31, 31, 31) of this chunk.
    #[inline]
    pub const fn max_voxel(self) -> VoxelPos {
        let m = (CHUNK_SIZE - 1) as u8;
        VoxelPos::from_parts(self, LocalPos { x: m, y: m, z: m })
    }

    /// The neighbouring chunk across `face` (wrapping at the coordinate boundary).
    #[inline]
    pub const fn neighbor(self, face: Face) -> Self {
        let [dx, dy, dz] = face.offset();
        Self::new(self.x.wrapping_add(dx), self.y.wrapping_add(dy), self.z.wrapping_add(dz))
    }

    /// The store's sort key (Morton order); see [`crate::MortonKey`].
    #[inline]
    pub fn morton(self) -> crate::MortonKey {
        crate::MortonKey::from_chunk(self)
    }

    /// As an array `[x, y, z]`.
    #[inline]
    pub const fn to_array(self) -> [i32; 3] {
        [self.x, self.y, self.z]
    }
}

/// A voxel's position inside its chunk; each coordinate is in `0..32`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalPos {
    /// 0..32
    pub x: u8,
    /// 0..32
    pub y: u8,
    /// 0..32
    pub z: u8,
}

impl LocalPos {
    /// Builds a local position, masking each coordinate into `0..32`.
    #[inline]
    pub const fn new(x: u8, y: u8, z: u8) -> Self {
        let m = (CHUNK_SIZE - 1) as u8;
        Self { x: x & m, y: y & m, z: z & m }
    }

    /// The flat index of this position (x fastest, then y, then z).
    #[inline]
    pub const fn index(self) -> LocalIndex {
        LocalIndex((self.x as u16) | ((self.y as u16) << CHUNK_SHIFT) | ((self.z as u16) << (2 * CHUNK_SHIFT)))
    }
}

/// A flat index into a chunk's 32³ voxel array: `x + 32·y + 1024·z`.
///
/// Invariant: the value is `< CHUNK_VOLUME` (constructors mask it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalIndex(u16);

impl LocalIndex {
    /// Builds an index, masking it into `0..CHUNK_VOLUME`.
    #[inline]
    pub const fn new(index: u16) -> Self {
        Self(index & (CHUNK_VOLUME as u16 - 1))
    }

    /// The index as `usize`, always `< CHUNK_VOLUME`.
    #[inline]
    pub const fn get(self) -> usize {
        self.0 as usize
    }

    /// The local position of this index.
    #[inline]
    pub const fn pos(self) -> LocalPos {
        let m = (CHUNK_SIZE - 1) as u16;
        LocalPos {
            x: (self.0 & m) as u8,
            y: ((self.0 >> CHUNK_SHIFT) & m) as u8,
            z: ((self.0 >> (2 * CHUNK_SHIFT)) & m) as u8,
        }
    }
}

impl From<LocalPos> for LocalIndex {
    fn from(p: LocalPos) -> Self {
        p.index()
    }
}

/// One of the six axis-aligned faces of a voxel or chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Face {
    /// −X
    NegX,
    /// +X
    PosX,
    /// −Y (down)
    NegY,
    /// +Y (up)
    PosY,
    /// −Z
    NegZ,
    /// +Z
    PosZ,
}

impl Face {
    /// All six faces, in declaration order.
    pub const ALL: [Face; 6] = [Face::NegX, Face::PosX, Face::NegY, Face::PosY, Face::NegZ, Face::PosZ];

    /// Unit offset towards the neighbour across this face.
    #[inline]
    pub const fn offset(self) -> [i32; 3] {
        match self {
            Face::NegX => [-1, 0, 0],
            Face::PosX => [1, 0, 0],
            Face::NegY => [0, -1, 0],
            Face::PosY => [0, 1, 0],
            Face::NegZ => [0, 0, -1],
            Face::PosZ => [0, 0, 1],
        }
    }

    /// The axis this face is perpendicular to (0 = x, 1 = y, 2 = z).
    #[inline]
    pub const fn axis(self) -> usize {
        (self as usize) / 2
    }

    /// Whether the face points towards +axis.
    #[inline]
    pub const fn is_positive(self) -> bool {
        (self as usize) % 2 == 1
    }

    /// The opposite face.
    #[inline]
    pub const fn opposite(self) -> Face {
        Face::ALL[(self as usize) ^ 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_voxel_containing_a_point_floors_each_coordinate() {
        assert_eq!(VoxelPos::containing([0.0, 0.999, 1.0]), VoxelPos::new(0, 0, 1));
        assert_eq!(VoxelPos::containing([-0.5, -1.0, -1.000_001]), VoxelPos::new(-1, -1, -2));
        assert_eq!(VoxelPos::containing([1e12, -1e12, f64::NAN]), VoxelPos::new(i32::MAX, i32::MIN, 0));
    }

    #[test]
    fn negative_coordinates_floor() {
        let p = VoxelPos::new(-1, -32, -33);
        assert_eq!(p.chunk(), ChunkKey::new(-1, -1, -2));
        assert_eq!(p.local(), LocalPos { x: 31, y: 0, z: 31 });
    }

    #[test]
    fn extremes_round_trip() {
        for v in [i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX - 1, i32::MAX] {
            let p = VoxelPos::new(v, v, v);
            let (c, l) = p.split();
            assert!(c.is_valid());
            assert_eq!(VoxelPos::from_parts(c, l), p);
        }
        assert_eq!(VoxelPos::new(i32::MIN, 0, 0).chunk().x, CHUNK_COORD_MIN);
        assert_eq!(VoxelPos::new(i32::MAX, 0, 0).chunk().x, CHUNK_COORD_MAX);
        assert_eq!(ChunkKey::new(CHUNK_COORD_MAX, 0, 0).max_voxel().x, i32::MAX);
        assert_eq!(ChunkKey::new(CHUNK_COORD_MIN, 0, 0).min_voxel().x, i32::MIN);
        assert!(!ChunkKey::new(CHUNK_COORD_MAX + 1, 0, 0).is_valid());
    }

    #[test]
    fn faces() {
        for f in Face::ALL {
            assert_eq!(f.opposite().opposite(), f);
            let o = f.offset();
            assert_eq!(o[f.axis()], if f.is_positive() { 1 } else { -1 });
        }
    }

    proptest! {
        #[test]
        fn voxel_split_round_trip(x in any::<i32>(), y in any::<i32>(), z in any::<i32>()) {
            let p = VoxelPos::new(x, y, z);
            let (c, l) = p.split();
            prop_assert!(c.is_valid());
            prop_assert_eq!(VoxelPos::from_parts(c, l), p);
            prop_assert_eq!(l.index().pos(), l);
            // floor division agrees with i64 arithmetic
            prop_assert_eq!(c.x as i64, (x as i64).div_euclid(32));
            prop_assert_eq!(l.x as i64, (x as i64).rem_euclid(32));
        }

        #[test]
        fn local_index_round_trip(i in 0u16..(CHUNK_VOLUME as u16)) {
            let idx = LocalIndex::new(i);
            prop_assert_eq!(idx.pos().index(), idx);
        }
    }
}
