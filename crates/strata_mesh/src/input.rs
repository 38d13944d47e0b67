//! What the mesher reads: a chunk and its six face neighbours.

use strata_core::{Chunk, Face, MaterialId};

/// The chunk across one face of the chunk being meshed.
///
/// # Border policy
/// - [`Neighbor::Loaded`]: faces on that border are culled exactly as inside the chunk.
/// - [`Neighbor::Unloaded`]: the neighbour is treated as **opaque solid**, so no face is emitted
///   towards unloaded space (no walls at the edge of the loaded world; the streaming layer
///   remeshes the chunk when the neighbour loads).
/// - [`Neighbor::Seam`]: the neighbour is treated as **air** by solids and transparent solids,
///   so each of their voxels on that border emits its face and the mesh is closed on that side.
///   Use it where the neighbour is meshed at a different LOD: the two closed meshes cannot leave
///   a crack between them (see [`crate::lod`]). A **fluid** treats the seam as more of itself
///   and emits no face there: the water surface of two levels meets without a wall of water
///   between them.
#[derive(Clone, Copy, Debug)]
pub enum Neighbor<'a> {
    /// The neighbour's voxels, at the same scale as the chunk being meshed.
    Loaded(&'a Chunk),
    /// Not available: behaves as opaque solid.
    Unloaded,
    /// A level-of-detail seam: behaves as air (fluids: as the same fluid), closing the mesh
    /// of solids on this border.
    Seam,
}

impl Neighbor<'_> {
    /// The material of the whole neighbour if it is known to be uniform, in O(1).
    #[inline]
    pub(crate) fn side(&self) -> Side {
        match self {
            Neighbor::Loaded(Chunk::Uniform(m)) => Side::Uniform(*m),
            Neighbor::Loaded(Chunk::Dense(_)) => Side::Varied,
            Neighbor::Unloaded => Side::Unloaded,
            Neighbor::Seam => Side::Seam,
        }
    }
}

/// What a border looks like from the meshing skip's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// One material fills the neighbour.
    Uniform(MaterialId),
    /// The neighbour holds several materials.
    Varied,
    /// Unloaded (opaque).
    Unloaded,
    /// LOD seam (air).
    Seam,
}

/// A chunk and its six face neighbours, indexed by [`Face`] (`neighbors[face as usize]`).
#[derive(Clone, Copy, Debug)]
pub struct Neighborhood<'a> {
    /// The chunk to mesh.
    pub center: &'a Chunk,
    /// The neighbours, in [`Face::ALL`] order (−X, +X, −Y, +Y, −Z, +Z).
    pub neighbors: [Neighbor<'a>; 6],
}

impl<'a> Neighborhood<'a> {
    /// A chunk whose neighbours are all [`Neighbor::Unloaded`].
    pub fn isolated(center: &'a Chunk) -> Self {
        Self { center, neighbors: [Neighbor::Unloaded; 6] }
    }

    /// Builds a neighbourhood by asking `neighbor` for each face.
    pub fn from_fn(center: &'a Chunk, mut neighbor: impl FnMut(Face) -> Neighbor<'a>) -> Self {
        Self { center, neighbors: Face::ALL.map(&mut neighbor) }
    }

    /// The neighbour across `face`.
    #[inline]
    pub fn neighbor(&self, face: Face) -> Neighbor<'a> {
        self.neighbors[face as usize]
    }
}
