//! Which chunks a box or sphere fill covers, and how: a chunk it covers whole is replaced
//! without being read; a chunk it covers in part is read and written voxel by voxel.

use crate::coords::{ChunkKey, VoxelPos};

/// How a fill covers one chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cover {
    /// Every voxel of the chunk: it is replaced, its old content is not needed.
    Whole,
    /// Some voxels: the chunk must be resident to be written.
    Part,
}

/// The chunks `c0..=c1` (inclusive on every axis) in z, y, x order; none if `empty`.
fn chunk_range(c0: ChunkKey, c1: ChunkKey, empty: bool) -> impl Iterator<Item = ChunkKey> {
    // An empty box yields nothing: its z range is skipped whole.
    (c0.z..=c1.z)
        .take(if empty { 0 } else { usize::MAX })
        .flat_map(move |z| (c0.y..=c1.y).flat_map(move |y| (c0.x..=c1.x).map(move |x| ChunkKey::new(x, y, z))))
}

/// The chunks the inclusive box `min..=max` touches, with their cover (none if the box is empty
/// on some axis).
///
/// # Runtime
/// O(chunks touched).
pub(super) fn box_chunks(min: VoxelPos, max: VoxelPos) -> impl Iterator<Item = (ChunkKey, Cover)> {
    let empty = min.x > max.x || min.y > max.y || min.z > max.z;
    chunk_range(min.chunk(), max.chunk(), empty).map(move |key| {
        let (lo, hi) = (key.min_voxel(), key.max_voxel());
        let whole = min.x <= lo.x && min.y <= lo.y && min.z <= lo.z && max.x >= hi.x && max.y >= hi.y && max.z >= hi.z;
        (key, if whole { Cover::Whole } else { Cover::Part })
    })
}

/// A sphere fill: the voxels whose centre lies within `radius` of `center`'s centre (integer
/// centres, so voxel `p` is inside iff `|p − center|² ≤ radius²`), clamped to the world.
pub(super) struct Sphere {
    center: [i64; 3],
    r2: f64,
    min: VoxelPos,
    max: VoxelPos,
}

impl Sphere {
    /// `None` for a radius that is not finite and ≥ 0 (such a fill writes nothing).
    pub fn new(center: VoxelPos, radius: f32) -> Option<Self> {
        if !radius.is_finite() || radius < 0.0 {
            return None;
        }
        let r = f64::from(radius);
        let ri = r.floor() as i64;
        let c = [center.x as i64, center.y as i64, center.z as i64];
        let clamp = |v: i64| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        Some(Self {
            center: c,
            r2: r * r,
            min: VoxelPos::new(clamp(c[0] - ri), clamp(c[1] - ri), clamp(c[2] - ri)),
            max: VoxelPos::new(clamp(c[0] + ri), clamp(c[1] + ri), clamp(c[2] + ri)),
        })
    }

    /// Whether the voxel at `p` is inside.
    pub fn contains(&self, p: [i64; 3]) -> bool {
        let d = [p[0] - self.center[0], p[1] - self.center[1], p[2] - self.center[2]];
        ((d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) as f64) <= self.r2
    }

    /// The chunks the sphere touches, with their cover: whole when the chunk's farthest corner
    /// is inside, none (skipped) when its nearest voxel is outside.
    ///
    /// # Runtime
    /// O(chunks of the bounding box).
    pub fn chunks(&self) -> impl Iterator<Item = (ChunkKey, Cover)> + '_ {
        chunk_range(self.min.chunk(), self.max.chunk(), false).filter_map(|key| {
            let c = self.center;
            let lo = key.min_voxel().to_array().map(i64::from);
            let hi = key.max_voxel().to_array().map(i64::from);
            let far: [i64; 3] =
                std::array::from_fn(|a| if (c[a] - lo[a]).abs() > (hi[a] - c[a]).abs() { lo[a] } else { hi[a] });
            if self.contains(far) {
                return Some((key, Cover::Whole));
            }
            let near: [i64; 3] = std::array::from_fn(|a| c[a].clamp(lo[a], hi[a]));
            self.contains(near).then_some((key, Cover::Part))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CHUNK_SIZE;

    /// Brute force: a chunk's cover from its voxels one by one.
    fn cover_by_voxels(key: ChunkKey, inside: impl Fn(VoxelPos) -> bool) -> Option<Cover> {
        let lo = key.min_voxel();
        let n = CHUNK_SIZE as i32;
        let count = (0..n * n * n)
            .filter(|i| inside(VoxelPos::new(lo.x + i % n, lo.y + i / n % n, lo.z + i / (n * n))))
            .count();
        match count {
            0 => None,
            c if c == (n * n * n) as usize => Some(Cover::Whole),
            _ => Some(Cover::Part),
        }
    }

    #[test]
    fn box_cover_matches_the_voxels() {
        let (min, max) = (VoxelPos::new(-40, 0, 31), VoxelPos::new(63, 31, 100));
        let got: Vec<_> = box_chunks(min, max).collect();
        assert_eq!(got.len(), 16, "4 × 1 × 4 chunks");
        for (key, cover) in got {
            let inside = |p: VoxelPos| {
                (min.x..=max.x).contains(&p.x) && (min.y..=max.y).contains(&p.y) && (min.z..=max.z).contains(&p.z)
            };
            assert_eq!(Some(cover), cover_by_voxels(key, inside), "{key:?}");
        }
        assert_eq!(box_chunks(VoxelPos::new(5, 0, 0), VoxelPos::new(4, 0, 0)).count(), 0, "empty box");
    }

    #[test]
    fn sphere_cover_matches_the_voxels() {
        let center = VoxelPos::new(10, -3, 47);
        let sphere = Sphere::new(center, 41.5).unwrap();
        let got: std::collections::HashMap<_, _> = sphere.chunks().collect();
        let inside = |p: VoxelPos| {
            let d = [p.x - center.x, p.y - center.y, p.z - center.z].map(f64::from);
            d[0] * d[0] + d[1] * d[1] + d[2] * d[2] <= 41.5 * 41.5
        };
        for z in -3..=4 {
            for y in -3..=3 {
                for x in -3..=3 {
                    let key = ChunkKey::new(x, y, z);
                    assert_eq!(got.get(&key).copied(), cover_by_voxels(key, inside), "{key:?}");
                }
            }
        }
        assert!(got.values().any(|c| *c == Cover::Whole) && got.values().any(|c| *c == Cover::Part));
        assert!(Sphere::new(center, f32::NAN).is_none() && Sphere::new(center, -1.0).is_none());
    }
}
