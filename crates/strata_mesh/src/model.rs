//! The model pass: voxels whose material has a shape (slabs, stairs, plants, models of boxes).
//!
//! Each shaped voxel emits the faces of its placed boxes ([`strata_core::PlacedShape`]), one
//! quad per face, in sixteenths of the voxel:
//! - a face inside the voxel is always emitted, except one covered whole by another box of the
//!   same shape lying against it (the inside of stairs);
//! - a face on the voxel's side is **hidden by a full neighbour**: an opaque cube, or a shaped
//!   voxel whose boxes cover the whole touching side ([`strata_core::PlacedShape::covers`]);
//!   across an unloaded neighbour it is hidden too (as the greedy pass hides cube faces), across
//!   a seam it is emitted;
//! - a cross (plant) emits its two diagonal planes, each from both sides, always.
//!
//! A cube face is hidden by a shaped voxel of the same chunk whose touching side is full (the
//! grass under a slab); shaped voxels of neighbour chunks hide no cube face (drawn behind
//! them: never a hole). Shaped voxels sealed in by opaque cubes (no open cell reaches them,
//! even through other shaped voxels) are invisible: they emit nothing and count as opaque
//! cubes.
//!
//! AO and light of a model face are those of the cube face of its voxel in the same direction
//! (a slab top reads the cells above the voxel); a cross takes its voxel's upward light and no
//! AO. Faces of transparent shaped materials go to the transparent mesh. LOD mips (voxel size
//! above 1) mesh shaped voxels as cubes of their material.

use strata_core::shape::UNITS;
use strata_core::{Face, PlacedShape};

/// One face of a placed shape, in sixteenths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ModelFace {
    pub face: Face,
    /// Its plane along the face's axis, `0..=16`.
    pub plane: u8,
    /// Extent along the first tangent axis `P` (see `output`'s tangents), `[start, end)`.
    pub p: [u8; 2],
    /// Extent along the second tangent axis `Q`.
    pub q: [u8; 2],
    /// Whether it lies on the voxel's side (a neighbour may hide it).
    pub boundary: bool,
}

/// The faces a shaped id emits, precomputed once per id.
#[derive(Clone, Debug)]
pub(crate) struct ModelGeometry {
    pub faces: Vec<ModelFace>,
    pub cross: bool,
    /// See [`PlacedShape::full_faces`].
    pub full_faces: u8,
    /// The material is transparent: faces go to the transparent mesh.
    pub transparent: bool,
}

/// Tangent axes `(P, Q)` per normal axis, as the output's quads use them.
pub(crate) const TANGENT_AXES: [(usize, usize); 3] = [(1, 2), (2, 0), (0, 1)];

impl ModelGeometry {
    pub fn new(shape: &PlacedShape, transparent: bool) -> Self {
        let mut faces = Vec::new();
        for (i, b) in shape.boxes.iter().enumerate() {
            for face in Face::ALL {
                let a = face.axis();
                let (pa, qa) = TANGENT_AXES[a];
                let plane = if face.is_positive() { b.max[a] } else { b.min[a] };
                let (p, q) = ([b.min[pa], b.max[pa]], [b.min[qa], b.max[qa]]);
                // Another box lying against this face and covering it whole: inside the shape.
                let inside = shape.boxes.iter().enumerate().any(|(j, o)| {
                    let touching = if face.is_positive() { o.min[a] == plane } else { o.max[a] == plane };
                    j != i
                        && touching
                        && o.min[pa] <= p[0]
                        && p[1] <= o.max[pa]
                        && o.min[qa] <= q[0]
                        && q[1] <= o.max[qa]
                });
                if !inside {
                    let boundary = if face.is_positive() { plane == UNITS } else { plane == 0 };
                    faces.push(ModelFace { face, plane, p, q, boundary });
                }
            }
        }
        Self { faces, cross: shape.cross, full_faces: shape.full_faces, transparent }
    }

    /// Whether the shape covers its whole side towards `face`.
    #[inline]
    pub fn covers(&self, face: Face) -> bool {
        self.full_faces >> (face as u8) & 1 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::{BlockState, Shape};

    #[test]
    fn stairs_lose_the_face_between_their_boxes() {
        let stairs = PlacedShape::new(&Shape::Stairs, BlockState::default()).unwrap();
        let g = ModelGeometry::new(&stairs, false);
        // 12 box faces, less the step's bottom (lying on the slab).
        assert_eq!(g.faces.len(), 11);
        assert!(!g.faces.iter().any(|f| f.face == Face::NegY && f.plane == 8));
        assert!(g.faces.iter().any(|f| f.face == Face::PosY && f.plane == 8), "the slab's top stays (half open)");
        let slab = ModelGeometry::new(&PlacedShape::new(&Shape::Slab, BlockState::default()).unwrap(), false);
        assert_eq!(slab.faces.iter().filter(|f| f.boundary).count(), 5, "all but the top at 8");
    }
}
