//! Voxel ray casts: an R-tree broad phase over chunks, then an exact Amanatides–Woo walk.
//!
//! # Geometry and precision
//! Voxel `v` occupies `[v, v + 1)³` in world units. A [`Ray`] has an `f64` origin and a
//! direction normalized to unit length, so distances are in voxels. `f64` keeps every voxel
//! boundary in the `i32` world exact to ~10⁻⁶ voxels.
//!
//! # The walk, and why the fast path equals the brute-force walk
//! The ray starts in voxel `floor(origin)` at distance 0. Each axis `a` with a non-zero
//! direction crosses voxel planes at distances `t(a, p) = (p − origin[a]) / dir[a]`, always
//! computed by this one formula from the integer plane `p` (never accumulated; the division
//! is a multiplication by the precomputed `1 / dir[a]`, which stays monotone in `p`). The walk
//! processes crossing events in increasing `(t, axis)` order: **on a tie, x steps before y,
//! and y before z** (so at an edge or corner the ray passes through the x-neighbour first).
//! A voxel is reached if the event that enters it has `t ≤ max_distance`.
//!
//! [`cast_reference`] is that walk, one voxel at a time, looking every voxel up. The fast cast
//! ([`IndexSnapshot::cast_ray`](crate::IndexSnapshot::cast_ray)) gets the non-air chunks the ray
//! may touch from the R-tree (segment by segment: one chunk's length first, then 4× longer
//! each time, so near hits cost one small query), and for each computes, *from the same event
//! order*, the voxel where the walk enters it (or that it never does: a ray grazing a corner whose tie-break
//! passes by). It then skips all-air and unknown chunks, returns a uniform matching chunk's
//! entry voxel at once, and walks dense chunks voxel by voxel. Both therefore visit the same
//! voxels and agree exactly, ties included.
//!
//! **Shaped voxels** ([`RayShapes`]): a voxel whose material has boxes (a slab, stairs, a model)
//! is hit only where the ray enters one of its boxes (the nearest, by the slab method in
//! `f64`: box planes are voxel coordinates plus sixteenths, exact); a ray through its empty
//! part walks on. The hit's distance and face are the box's. Uniform chunks of a shaped
//! material are walked voxel by voxel.
//!
//! Chunks the index does not know are treated as air. A chunk it knows but whose voxels it has
//! released stops the walk with [`RayError::NotResident`] if the ray reaches it before any
//! hit: the answer is never guessed.

mod walk;

pub(crate) use walk::cast_segments;
pub use walk::{Candidate, cast_reference};

use std::sync::Arc;
use strata_core::{ChunkKey, Face, MaterialId, MaterialKind, MaterialRegistry, ShapeBox, VoxelPos};

/// Invalid ray input.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RayError {
    /// The origin has a NaN or infinite coordinate.
    #[error("ray origin {0:?} is not finite")]
    NonFiniteOrigin([f64; 3]),
    /// The direction has a NaN or infinite coordinate.
    #[error("ray direction {0:?} is not finite")]
    NonFiniteDirection([f64; 3]),
    /// The direction is the zero vector (or too small to normalize).
    #[error("ray direction is zero")]
    ZeroDirection,
    /// The origin lies outside the `i32` voxel range.
    #[error("ray origin {0:?} is outside the world")]
    OriginOutOfWorld([f64; 3]),
    /// The maximum distance is negative or NaN.
    #[error("max distance {0} must be a non-negative number")]
    InvalidMaxDistance(f64),
    /// A pending result, not a wrong input: the ray reached `chunk` (every voxel before it is
    /// air or passes the filter), but the index has released that chunk's voxels. Load the
    /// chunk (the world reads it from the store or the generator), hand it back to the index
    /// ([`IndexWriter::insert_loaded_from`](crate::IndexWriter::insert_loaded_from)) and cast
    /// again once the writer has published.
    #[error("the ray reaches chunk {chunk:?}, whose voxels are not resident: load it and cast again")]
    NotResident {
        /// The first released chunk along the ray.
        chunk: ChunkKey,
    },
}

/// A validated ray: finite origin inside the world, unit-length direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ray {
    origin: [f64; 3],
    dir: [f64; 3],
}

impl Ray {
    /// Validates and normalizes.
    pub fn new(origin: [f64; 3], direction: [f64; 3]) -> Result<Self, RayError> {
        if origin.iter().any(|v| !v.is_finite()) {
            return Err(RayError::NonFiniteOrigin(origin));
        }
        if direction.iter().any(|v| !v.is_finite()) {
            return Err(RayError::NonFiniteDirection(direction));
        }
        if origin.iter().any(|&v| v < i32::MIN as f64 || v >= i32::MAX as f64 + 1.0) {
            return Err(RayError::OriginOutOfWorld(origin));
        }
        let len = direction.iter().map(|v| v * v).sum::<f64>().sqrt();
        if len == 0.0 || !len.is_finite() {
            // Huge components overflow the squared length: rescale first.
            let m = direction.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            if m == 0.0 {
                return Err(RayError::ZeroDirection);
            }
            let scaled = direction.map(|v| v / m);
            return Self::new(origin, scaled);
        }
        Ok(Self { origin, dir: direction.map(|v| v / len) })
    }

    /// The origin.
    pub fn origin(&self) -> [f64; 3] {
        self.origin
    }

    /// The unit direction.
    pub fn direction(&self) -> [f64; 3] {
        self.dir
    }

    /// The point at distance `t`.
    pub fn at(&self, t: f64) -> [f64; 3] {
        std::array::from_fn(|a| self.origin[a] + self.dir[a] * t)
    }
}

/// Which materials stop a ray. Air never does, whatever the filter says.
#[derive(Clone, Default)]
pub enum HitFilter {
    /// Any material but air.
    #[default]
    NonAir,
    /// A table indexed by id: materials of kind `Solid` or `Transparent` (built by
    /// [`HitFilter::solid_only`]), or those that collide ([`HitFilter::colliding`]). Ids past
    /// the table do not hit.
    Solid(Arc<[bool]>),
    /// A predicate.
    Predicate(Arc<dyn Fn(MaterialId) -> bool + Send + Sync>),
}

impl std::fmt::Debug for HitFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HitFilter::NonAir => f.write_str("NonAir"),
            HitFilter::Solid(t) => write!(f, "Solid({} ids)", t.len()),
            HitFilter::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

impl HitFilter {
    /// Solid and transparent materials of `registry` hit; fluids and air do not.
    pub fn solid_only(registry: &MaterialRegistry) -> Self {
        let mut table = vec![false; registry.id_bound()];
        for m in registry.iter() {
            table[m.id as usize] = matches!(m.kind, MaterialKind::Solid | MaterialKind::Transparent);
        }
        HitFilter::Solid(table.into())
    }

    /// Materials that bodies collide with ([`strata_core::Material::collides`]: the
    /// registry's `collides` flag, by default solids and transparent solids): what a character
    /// mover stands on.
    pub fn colliding(registry: &MaterialRegistry) -> Self {
        let mut table = vec![false; registry.id_bound()];
        for m in registry.iter() {
            table[m.id as usize] = m.collides();
        }
        HitFilter::Solid(table.into())
    }

    /// Whether `m` stops the ray.
    #[inline]
    pub fn hits(&self, m: MaterialId) -> bool {
        if m.is_air() {
            return false;
        }
        match self {
            HitFilter::NonAir => true,
            HitFilter::Solid(t) => t.get(m.0 as usize).copied().unwrap_or(false),
            HitFilter::Predicate(p) => p(m),
        }
    }
}

/// The boxes of shaped materials (slabs, stairs, models; see `strata_core::shape`), by id: a
/// ray hits such a voxel only inside one of its boxes. Empty (the default): every voxel is a
/// full cube. Plants (crosses) have no boxes and are hit as full voxels.
#[derive(Clone, Debug, Default)]
pub struct RayShapes(Arc<[Option<Arc<[ShapeBox]>>]>);

impl RayShapes {
    /// The placed shapes of `registry` ([`MaterialRegistry::shape`]).
    pub fn of_registry(registry: &MaterialRegistry) -> Self {
        let table: Vec<Option<Arc<[ShapeBox]>>> = (0..registry.id_bound())
            .map(|id| {
                let shape = registry.shape(MaterialId(id as u16))?;
                (!shape.boxes.is_empty()).then(|| shape.boxes.as_slice().into())
            })
            .collect();
        Self(table.into())
    }

    /// The boxes of `m`, if it is shaped.
    #[inline]
    pub fn boxes(&self, m: MaterialId) -> Option<&[ShapeBox]> {
        self.0.get(m.0 as usize)?.as_deref()
    }

    /// Whether no material is shaped.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }
}

/// Options of a ray cast.
#[derive(Clone, Debug)]
pub struct RayOptions {
    /// Voxels reached beyond this distance are not hits.
    pub max_distance: f64,
    /// Which materials stop the ray.
    pub filter: HitFilter,
    /// The boxes of shaped materials (default: none, every voxel a full cube).
    pub shapes: RayShapes,
}

impl Default for RayOptions {
    fn default() -> Self {
        Self { max_distance: 1024.0, filter: HitFilter::NonAir, shapes: RayShapes::default() }
    }
}

impl RayOptions {
    /// Options with `max_distance` and the default filter.
    pub fn with_max_distance(max_distance: f64) -> Self {
        Self { max_distance, ..Self::default() }
    }

    /// Options hitting what `filter` accepts, within `max_distance`, with the shapes of
    /// `registry`.
    pub fn for_registry(registry: &MaterialRegistry, filter: HitFilter, max_distance: f64) -> Self {
        Self { max_distance, filter, shapes: RayShapes::of_registry(registry) }
    }

    pub(crate) fn validate(&self) -> Result<(), RayError> {
        if self.max_distance.is_nan() || self.max_distance < 0.0 {
            return Err(RayError::InvalidMaxDistance(self.max_distance));
        }
        Ok(())
    }
}

/// Where a ray stopped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RayHit {
    /// The voxel hit.
    pub voxel: VoxelPos,
    /// The face of `voxel` the ray entered through (its outward normal points back at the
    /// ray); `None` when the origin is inside the hit voxel.
    pub face: Option<Face>,
    /// Distance from the origin to the entry point, in voxels.
    pub distance: f64,
    /// The material of `voxel`.
    pub material: MaterialId,
    /// The chunk holding `voxel`.
    pub chunk: ChunkKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_input_is_typed() {
        assert!(matches!(Ray::new([f64::NAN, 0.0, 0.0], [1.0, 0.0, 0.0]), Err(RayError::NonFiniteOrigin(_))));
        assert!(matches!(Ray::new([0.0; 3], [f64::INFINITY, 0.0, 0.0]), Err(RayError::NonFiniteDirection(_))));
        assert_eq!(Ray::new([0.0; 3], [0.0; 3]), Err(RayError::ZeroDirection));
        assert!(matches!(Ray::new([3e9, 0.0, 0.0], [1.0, 0.0, 0.0]), Err(RayError::OriginOutOfWorld(_))));
        let r = Ray::new([0.0; 3], [1e300, 1e300, 0.0]).unwrap();
        assert!((r.direction()[0] - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
        let bad = RayOptions::with_max_distance(-1.0);
        assert!(matches!(cast_reference(&r, &bad, |_| MaterialId::AIR), Err(RayError::InvalidMaxDistance(_))));
    }

    #[test]
    fn hit_filters() {
        let reg = MaterialRegistry::builtin();
        let solid = HitFilter::solid_only(&reg);
        let (stone, water) = (reg.id("stone").unwrap(), reg.id("water").unwrap());
        assert!(solid.hits(stone) && !solid.hits(water) && !solid.hits(MaterialId::AIR));
        assert!(!solid.hits(MaterialId(60000)));
        assert!(HitFilter::NonAir.hits(water));
        let any = HitFilter::Predicate(Arc::new(|_| true));
        assert!(!any.hits(MaterialId::AIR), "air never hits");
    }

    #[test]
    fn reference_walk_ties_step_x_first() {
        // Through the corner at (1, 1): x first, then y.
        let r = Ray::new([0.5, 0.5, 0.5], [1.0, 1.0, 0.0]).unwrap();
        let mut seen = Vec::new();
        let _ = cast_reference(&r, &RayOptions::with_max_distance(1.5), |v| {
            seen.push(v);
            MaterialId::AIR
        });
        assert_eq!(seen, vec![VoxelPos::new(0, 0, 0), VoxelPos::new(1, 0, 0), VoxelPos::new(1, 1, 0)]);
        let h = cast_reference(&r, &RayOptions::default(), |v| {
            if v == VoxelPos::new(1, 1, 0) { MaterialId(2) } else { MaterialId::AIR }
        })
        .unwrap()
        .unwrap();
        assert_eq!(h.face, Some(Face::NegY));
        assert!((h.distance - 0.5 * std::f64::consts::SQRT_2).abs() < 1e-12);
    }
}
