//! Which way is up: what the LOD rule needs to know which face of a coarse cell is the surface
//! (see [`crate::downsample`]).
//!
//! A flat world's up is `+Y` everywhere; a planet's points away from its centre, rounded to the
//! dominant axis. Up is **constant within a chunk** (every block of voxels inside one chunk
//! uses the up of the chunk's centre), so a chunk's summary depends on the chunk and its key
//! alone; blocks larger than a chunk use the up at their own centre.

use crate::coords::{CHUNK_SIZE, ChunkKey, Face};

/// The up of one block of voxels: an axis direction, so a [`Face`] (one type for both: `Up::PosY`
/// is `Face::PosY`). Its [`code`](Face::code) is what summary records store.
pub type Up = Face;

impl Face {
    /// The unit step along this direction (as [`Face::offset`], in `i64`).
    pub const fn step(self) -> [i64; 3] {
        let o = self.offset();
        [o[0] as i64, o[1] as i64, o[2] as i64]
    }

    /// The direction along `axis` (0 = x, 1 = y, 2 = z), towards `+axis` when `positive`.
    pub const fn along(axis: usize, positive: bool) -> Face {
        Face::ALL[2 * (axis % 3) + positive as usize]
    }

    /// The direction along the axis on which `d` is largest in magnitude (**ties: y, then x,
    /// then z**), pointing the way `d` points on it (`+` for 0). The one rule for "which axis is
    /// up (or down)" on a planet: [`WorldUp::AwayFrom`] uses it for blocks, geology's gravity
    /// toward a centre for voxels (down is its [`opposite`](Face::opposite)).
    pub const fn dominant(d: [i64; 3]) -> Face {
        let [ax, ay, az] = [d[0].unsigned_abs(), d[1].unsigned_abs(), d[2].unsigned_abs()];
        let axis = if ay >= ax && ay >= az {
            1
        } else if ax >= az {
            0
        } else {
            2
        };
        Face::along(axis, d[axis] >= 0)
    }

    /// A stable code of the direction as an up (`PosX` 0, `NegX` 1, `PosY` 2, `NegY` 3, `PosZ`
    /// 4, `NegZ` 5): what summary records store. Not the declaration order.
    pub const fn code(self) -> u8 {
        match self {
            Face::PosX => 0,
            Face::NegX => 1,
            Face::PosY => 2,
            Face::NegY => 3,
            Face::PosZ => 4,
            Face::NegZ => 5,
        }
    }

    /// The direction of [`Face::code`] `c`, if `c < 6`.
    pub const fn from_code(c: u8) -> Option<Face> {
        if c < 6 { Some(Face::along(c as usize / 2, c.is_multiple_of(2))) } else { None }
    }
}

/// A world's up: the [`Up`] of every block of voxels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum WorldUp {
    /// `+Y` everywhere (flat worlds; the default).
    #[default]
    PlusY,
    /// Away from the point `centre` (in voxel coordinates: voxel `v` spans `v..v+1`, so a
    /// planet "centred on voxel (0, 0, 0)" whose radius is measured from the integer point has
    /// `centre = [0, 0, 0]`), along the axis on which the block's centre lies farthest from it
    /// (ties: y, then x, then z; a block centred exactly on `centre` is `+Y`: [`Face::dominant`]).
    AwayFrom {
        /// The point up points away from.
        centre: [i64; 3],
    },
}

impl WorldUp {
    /// The up of every block inside chunk `key`.
    ///
    /// # Runtime
    /// O(1).
    pub fn of_chunk(&self, key: ChunkKey) -> Up {
        let min = key.to_array().map(|v| i64::from(v) * CHUNK_SIZE as i64);
        self.of_region(min, CHUNK_SIZE as i64)
    }

    /// The up of the block of `size` voxels per side (a power of two) whose smallest voxel is
    /// `min`: the up of its chunk when it is no larger than a chunk, else the up at its centre.
    ///
    /// # Runtime
    /// O(1).
    pub fn of_block(&self, min: [i64; 3], size: i64) -> Up {
        let chunk = CHUNK_SIZE as i64;
        if size <= chunk {
            return self.of_region(min.map(|v| v.div_euclid(chunk) * chunk), chunk);
        }
        self.of_region(min, size)
    }

    fn of_region(&self, min: [i64; 3], size: i64) -> Up {
        match *self {
            WorldUp::PlusY => Up::PosY,
            WorldUp::AwayFrom { centre } => {
                // Twice the offset of the region's centre from `centre`, so it stays integral.
                Face::dominant(std::array::from_fn(|a| 2 * min[a] + size - 2 * centre[a]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_steps_point_along_the_axis() {
        for up in Up::ALL {
            assert_eq!(Up::from_code(up.code()), Some(up));
            let step = up.step();
            assert_eq!(step[up.axis()], if up.is_positive() { 1 } else { -1 });
            assert_eq!(step.iter().map(|v| v.abs()).sum::<i64>(), 1);
        }
        assert_eq!(Up::from_code(6), None);
    }

    /// `Face::dominant` against the rule's words: the largest |component| wins, ties to y, then
    /// x, then z, and the sign of that component (0 counts as +).
    #[test]
    fn the_dominant_direction_follows_its_statement() {
        for x in -3i64..=3 {
            for y in -3i64..=3 {
                for z in -3i64..=3 {
                    let d = [x, y, z];
                    let max = d.iter().map(|v| v.abs()).max().unwrap_or(0);
                    let axis = [1, 0, 2].into_iter().find(|&a| d[a].abs() == max).unwrap_or(1);
                    let got = Face::dominant(d);
                    assert_eq!((got.axis(), got.is_positive()), (axis, d[axis] >= 0), "{d:?}");
                }
            }
        }
    }

    #[test]
    fn a_planet_points_away_from_its_centre_along_the_dominant_axis() {
        let planet = WorldUp::AwayFrom { centre: [0, 0, 0] };
        // Chunk (0, 10, 0) lies above the centre; chunk (-10, 1, 0) to its −X side.
        assert_eq!(planet.of_chunk(ChunkKey::new(0, 10, 0)), Up::PosY);
        assert_eq!(planet.of_chunk(ChunkKey::new(0, -10, 3)), Up::NegY);
        assert_eq!(planet.of_chunk(ChunkKey::new(-10, 1, 0)), Up::NegX);
        assert_eq!(planet.of_chunk(ChunkKey::new(2, 1, 9)), Up::PosZ);
        // On a diagonal the tie goes to y, then x.
        assert_eq!(planet.of_chunk(ChunkKey::new(4, 4, 0)), Up::PosY);
        assert_eq!(planet.of_chunk(ChunkKey::new(4, 0, -5)), Up::PosX);
        // A voxel block takes its chunk's up, even where its own centre would differ.
        let chunk = ChunkKey::new(3, 3, 0); // centre (112, 112, 16): tie → +Y
        assert_eq!(planet.of_block([127, 96, 0], 1), planet.of_chunk(chunk));
        assert_eq!(planet.of_block([96, 96, 0], 32), planet.of_chunk(chunk));
        // Larger blocks use their own centre: (−64..0)³ is centred at (−32, −32, −32) → −Y.
        assert_eq!(planet.of_block([-64, -64, -64], 64), Up::NegY);
        assert_eq!(WorldUp::PlusY.of_block([-999, -5, 3], 1024), Up::PosY);
    }
}
