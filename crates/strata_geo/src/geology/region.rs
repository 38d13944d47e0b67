//! Boxes, dense region snapshots and voxel writes.

use super::GeologyError;
use strata_core::{CHUNK_SIZE, Chunk, ChunkKey, LocalPos, MaterialId, VoxelPos};

/// Largest snapshot volume accepted (2²⁸ voxels = 512 MiB of materials).
pub const MAX_SNAPSHOT_VOLUME: u64 = 1 << 28;

/// An axis-aligned **inclusive** voxel box. Empty when `min > max` on some axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct VoxelBox {
    /// Smallest corner (inclusive).
    pub min: VoxelPos,
    /// Largest corner (inclusive).
    pub max: VoxelPos,
}

impl VoxelBox {
    /// The box from `min` to `max`, both inclusive.
    pub const fn new(min: VoxelPos, max: VoxelPos) -> Self {
        Self { min, max }
    }

    /// The cube of `size` voxels per side whose smallest corner is `min` (empty for size 0;
    /// clamped at `i32::MAX`).
    pub fn cube(min: VoxelPos, size: u32) -> Self {
        let end = |c: i32| (i64::from(c) + i64::from(size) - 1).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        if size == 0 {
            return Self::new(VoxelPos::new(1, 1, 1), VoxelPos::new(0, 0, 0));
        }
        Self::new(min, VoxelPos::new(end(min.x), end(min.y), end(min.z)))
    }

    /// Whether the box holds no voxel.
    pub const fn is_empty(&self) -> bool {
        self.min.x > self.max.x || self.min.y > self.max.y || self.min.z > self.max.z
    }

    /// Voxels per axis (0 when empty).
    pub fn size(&self) -> [u64; 3] {
        if self.is_empty() {
            return [0; 3];
        }
        let s = |a: i32, b: i32| (i64::from(b) - i64::from(a) + 1) as u64;
        [s(self.min.x, self.max.x), s(self.min.y, self.max.y), s(self.min.z, self.max.z)]
    }

    /// Number of voxels (saturating; at most 2⁹⁶ would not fit, so this saturates at `u64::MAX`).
    pub fn volume(&self) -> u64 {
        let [a, b, c] = self.size();
        a.saturating_mul(b).saturating_mul(c)
    }

    /// The box grown by `h` voxels on every side, clamped to the `i32` range.
    pub fn expand(&self, h: u32) -> Self {
        if self.is_empty() {
            return *self;
        }
        let h = i64::from(h);
        let lo = |c: i32| (i64::from(c) - h).max(i64::from(i32::MIN)) as i32;
        let hi = |c: i32| (i64::from(c) + h).min(i64::from(i32::MAX)) as i32;
        Self::new(
            VoxelPos::new(lo(self.min.x), lo(self.min.y), lo(self.min.z)),
            VoxelPos::new(hi(self.max.x), hi(self.max.y), hi(self.max.z)),
        )
    }

    /// Whether `pos` lies inside.
    pub const fn contains(&self, pos: VoxelPos) -> bool {
        pos.x >= self.min.x
            && pos.x <= self.max.x
            && pos.y >= self.min.y
            && pos.y <= self.max.y
            && pos.z >= self.min.z
            && pos.z <= self.max.z
    }

    /// Whether `other` lies wholly inside (an empty `other` always does).
    pub const fn contains_box(&self, other: &VoxelBox) -> bool {
        other.is_empty() || (self.contains(other.min) && self.contains(other.max))
    }

    /// The common part (possibly empty).
    pub fn intersect(&self, other: &VoxelBox) -> VoxelBox {
        VoxelBox::new(
            VoxelPos::new(self.min.x.max(other.min.x), self.min.y.max(other.min.y), self.min.z.max(other.min.z)),
            VoxelPos::new(self.max.x.min(other.max.x), self.max.y.min(other.max.y), self.max.z.min(other.max.z)),
        )
    }

    /// Every voxel, x fastest, then y, then z (the snapshot order).
    pub fn iter(&self) -> impl Iterator<Item = VoxelPos> + use<> {
        let b = *self;
        // An empty box has min > max on some axis, so that range (and the product) is empty.
        let (zs, ys, xs) = (b.min.z..=b.max.z, b.min.y..=b.max.y, b.min.x..=b.max.x);
        zs.flat_map(move |z| {
            let xs = xs.clone();
            ys.clone().flat_map(move |y| xs.clone().map(move |x| VoxelPos::new(x, y, z)))
        })
    }

    /// Cuts the box into `parts[axis]` slabs per axis (a grid of boxes, x fastest). Inner cut
    /// planes lie on multiples of `alignment` (absolute coordinates), as close to even slabs as
    /// alignment allows; slabs that would come out empty are dropped, so fewer boxes may return.
    ///
    /// # Errors
    /// [`GeologyError::BadPartition`] when a count or `alignment` is 0.
    pub fn split(&self, parts: [u32; 3], alignment: u32) -> Result<Vec<VoxelBox>, GeologyError> {
        if parts.contains(&0) || alignment == 0 {
            return Err(GeologyError::BadPartition { parts, alignment });
        }
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let mins = self.min.to_array();
        let maxs = self.max.to_array();
        let cuts: Vec<Vec<(i32, i32)>> = (0..3)
            .map(|a| {
                let (lo, hi) = (i64::from(mins[a]), i64::from(maxs[a]));
                // More parts than voxels would only add empty slabs.
                let n = i64::from(parts[a]).min(hi - lo + 1);
                let al = i64::from(alignment);
                let mut ranges = Vec::new();
                let mut start = lo;
                for k in 1..=n {
                    let end_excl = if k == n {
                        hi + 1
                    } else {
                        let ideal = lo + (hi + 1 - lo) * k / n;
                        // Round to the nearest multiple of the alignment.
                        let r = (ideal + al / 2).div_euclid(al) * al;
                        r.clamp(start, hi + 1)
                    };
                    if end_excl > start {
                        ranges.push((start as i32, (end_excl - 1) as i32));
                        start = end_excl;
                    }
                }
                ranges
            })
            .collect();
        let mut out = Vec::new();
        for &(z0, z1) in &cuts[2] {
            for &(y0, y1) in &cuts[1] {
                for &(x0, x1) in &cuts[0] {
                    out.push(VoxelBox::new(VoxelPos::new(x0, y0, z0), VoxelPos::new(x1, y1, z1)));
                }
            }
        }
        Ok(out)
    }
}

/// Read-only dense materials of a box (a core region plus its halo), x fastest, then y, then z.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionSnapshot {
    bounds: VoxelBox,
    dims: [usize; 3],
    voxels: Vec<MaterialId>,
}

impl RegionSnapshot {
    /// A snapshot of `bounds` holding `voxels` (x fastest, then y, then z).
    ///
    /// # Errors
    /// [`GeologyError::EmptyBox`], [`GeologyError::RegionTooLarge`] (over
    /// [`MAX_SNAPSHOT_VOLUME`]) or [`GeologyError::SnapshotSize`] when `voxels.len()` is not the
    /// volume.
    pub fn new(bounds: VoxelBox, voxels: Vec<MaterialId>) -> Result<Self, GeologyError> {
        let dims = Self::check_bounds(&bounds)?;
        let volume = bounds.volume();
        if voxels.len() as u64 != volume {
            return Err(GeologyError::SnapshotSize { expected: volume, got: voxels.len() as u64 });
        }
        Ok(Self { bounds, dims, voxels })
    }

    /// A snapshot of `bounds` with `f(pos)` at every voxel (called in snapshot order).
    ///
    /// # Errors
    /// As [`RegionSnapshot::new`].
    pub fn from_fn(bounds: VoxelBox, mut f: impl FnMut(VoxelPos) -> MaterialId) -> Result<Self, GeologyError> {
        let dims = Self::check_bounds(&bounds)?;
        let voxels = bounds.iter().map(&mut f).collect();
        Ok(Self { bounds, dims, voxels })
    }

    /// A snapshot of `bounds` copied from whole chunks: `chunk(key)` is called once per chunk
    /// overlapping `bounds` (in z, y, x order), e.g. a world's resident chunks or
    /// [`WorldGenerator::generate`](strata_core::WorldGenerator::generate).
    ///
    /// # Errors
    /// As [`RegionSnapshot::new`].
    ///
    /// # Runtime
    /// O(volume) plus the chunk lookups; uniform chunks are filled without per-voxel reads.
    pub fn from_chunks(bounds: VoxelBox, mut chunk: impl FnMut(ChunkKey) -> Chunk) -> Result<Self, GeologyError> {
        let dims = Self::check_bounds(&bounds)?;
        let mut voxels = vec![MaterialId::AIR; dims[0] * dims[1] * dims[2]];
        let (lo, hi) = (bounds.min.chunk(), bounds.max.chunk());
        let size = CHUNK_SIZE as i64;
        for cz in lo.z..=hi.z {
            for cy in lo.y..=hi.y {
                for cx in lo.x..=hi.x {
                    let key = ChunkKey::new(cx, cy, cz);
                    let c = chunk(key);
                    let part = bounds.intersect(&VoxelBox::new(key.min_voxel(), key.max_voxel()));
                    let local = |v: i32| (i64::from(v).rem_euclid(size)) as u8;
                    for z in part.min.z..=part.max.z {
                        for y in part.min.y..=part.max.y {
                            let start = Self::flat(&bounds, dims, VoxelPos::new(part.min.x, y, z));
                            let row = &mut voxels[start..start + (part.max.x - part.min.x) as usize + 1];
                            match &c {
                                Chunk::Uniform(m) => row.fill(*m),
                                Chunk::Dense(_) => {
                                    for (k, out) in row.iter_mut().enumerate() {
                                        let x = part.min.x + k as i32;
                                        *out = c.get(LocalPos::new(local(x), local(y), local(z)).index());
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(Self { bounds, dims, voxels })
    }

    /// Flat index of `pos` inside `bounds` (the caller guarantees it is inside).
    #[inline]
    fn flat(bounds: &VoxelBox, dims: [usize; 3], pos: VoxelPos) -> usize {
        let x = (i64::from(pos.x) - i64::from(bounds.min.x)) as usize;
        let y = (i64::from(pos.y) - i64::from(bounds.min.y)) as usize;
        let z = (i64::from(pos.z) - i64::from(bounds.min.z)) as usize;
        x + dims[0] * (y + dims[1] * z)
    }

    fn check_bounds(bounds: &VoxelBox) -> Result<[usize; 3], GeologyError> {
        if bounds.is_empty() {
            return Err(GeologyError::EmptyBox);
        }
        let volume = bounds.volume();
        if volume > MAX_SNAPSHOT_VOLUME {
            return Err(GeologyError::RegionTooLarge { volume });
        }
        Ok(bounds.size().map(|s| s as usize))
    }

    /// The box covered.
    pub fn bounds(&self) -> VoxelBox {
        self.bounds
    }

    /// Voxels per axis.
    pub fn dims(&self) -> [usize; 3] {
        self.dims
    }

    /// The materials, x fastest, then y, then z.
    pub fn voxels(&self) -> &[MaterialId] {
        &self.voxels
    }

    /// Flat index of `pos`, if inside.
    #[inline]
    pub fn index(&self, pos: VoxelPos) -> Option<usize> {
        self.bounds.contains(pos).then(|| Self::flat(&self.bounds, self.dims, pos))
    }

    /// Position of flat index `i` (`i` < volume).
    #[inline]
    pub fn pos_of(&self, i: usize) -> VoxelPos {
        let x = i % self.dims[0];
        let y = (i / self.dims[0]) % self.dims[1];
        let z = i / (self.dims[0] * self.dims[1]);
        VoxelPos::new(
            (i64::from(self.bounds.min.x) + x as i64) as i32,
            (i64::from(self.bounds.min.y) + y as i64) as i32,
            (i64::from(self.bounds.min.z) + z as i64) as i32,
        )
    }

    /// The material at `pos`; `None` outside the bounds.
    #[inline]
    pub fn get(&self, pos: VoxelPos) -> Option<MaterialId> {
        self.index(pos).map(|i| self.voxels[i])
    }

    /// Sets `pos` to `material`; `false` (nothing changed) outside the bounds.
    pub fn set(&mut self, pos: VoxelPos, material: MaterialId) -> bool {
        match self.index(pos) {
            Some(i) => {
                self.voxels[i] = material;
                true
            }
            None => false,
        }
    }

    /// A copy of the part inside `bounds`.
    ///
    /// # Errors
    /// [`GeologyError::NotCovered`] when `bounds` is not inside this snapshot;
    /// [`GeologyError::EmptyBox`] when it is empty.
    ///
    /// # Runtime
    /// O(volume of `bounds`), one row copy per (y, z).
    pub fn crop(&self, bounds: VoxelBox) -> Result<RegionSnapshot, GeologyError> {
        if bounds.is_empty() {
            return Err(GeologyError::EmptyBox);
        }
        if !self.bounds.contains_box(&bounds) {
            return Err(GeologyError::NotCovered { needed: bounds, have: self.bounds });
        }
        let [nx, ny, nz] = bounds.size().map(|s| s as usize);
        let mut voxels = Vec::with_capacity(nx * ny * nz);
        for z in 0..nz {
            for y in 0..ny {
                let start = VoxelPos::new(bounds.min.x, bounds.min.y + y as i32, bounds.min.z + z as i32);
                // Invariant: `bounds` lies inside `self.bounds` (checked above).
                let i = self.index(start).unwrap_or(0);
                voxels.extend_from_slice(&self.voxels[i..i + nx]);
            }
        }
        Ok(RegionSnapshot { bounds, dims: [nx, ny, nz], voxels })
    }

    /// Counts voxels for which `pred` holds inside `within` (clipped to the bounds).
    pub fn count_in(&self, within: &VoxelBox, mut pred: impl FnMut(MaterialId) -> bool) -> u64 {
        let b = self.bounds.intersect(within);
        b.iter().filter(|&p| self.get(p).is_some_and(&mut pred)).count() as u64
    }
}

/// One write: `pos` held `expect` in the snapshot the step read, and becomes `material`.
/// Apply as compare-and-set: skip (a conflict) when the voxel no longer holds `expect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct VoxelWrite {
    /// The voxel.
    pub pos: VoxelPos,
    /// Its material in the snapshot the step read.
    pub expect: MaterialId,
    /// Its new material.
    pub material: MaterialId,
}

/// What [`apply_writes`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Writes applied.
    pub applied: usize,
    /// Writes skipped because the voxel no longer held `expect`.
    pub conflicts: usize,
    /// Writes skipped because the voxel lies outside the snapshot.
    pub outside: usize,
}

/// Applies `writes` to `target` as compare-and-set, in order.
///
/// # Runtime
/// O(number of writes).
pub fn apply_writes(target: &mut RegionSnapshot, writes: &[VoxelWrite]) -> ApplyStats {
    let mut stats = ApplyStats::default();
    for w in writes {
        match target.index(w.pos) {
            None => stats.outside += 1,
            Some(i) if target.voxels[i] == w.expect => {
                target.voxels[i] = w.material;
                stats.applied += 1;
            }
            Some(_) => stats.conflicts += 1,
        }
    }
    stats
}

/// Sorts writes by position, z slowest (the snapshot order), for comparisons.
pub fn sort_writes(writes: &mut [VoxelWrite]) {
    writes.sort_unstable_by_key(|w| (w.pos.z, w.pos.y, w.pos.x, w.expect, w.material));
}
