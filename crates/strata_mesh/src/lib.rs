//! Engine-free binary greedy meshing of Strata chunks.
//!
//! [`Mesher::mesh`] turns a 32³ chunk and its six face neighbours ([`Neighborhood`]) into an
//! opaque and a transparent mesh ([`ChunkMesh`]) in caller-owned, reusable buffers:
//! - face culling on bit rows (`solid & !neighbour`, 32 voxels per operation), including across
//!   chunk borders, with a documented policy for unloaded neighbours ([`Neighbor`]);
//! - greedy merge per direction, material and optional AO key on bitmasks ([`MeshOptions`]);
//! - transparent and fluid materials in their own mesh, no faces between cells of one fluid;
//! - uniform chunks whose neighbours hide them cost an O(1) check and nothing else ([`skip`]);
//! - LOD mips meshed at scale `2^k`, crack-free at LOD borders via [`Neighbor::Seam`] ([`lod`]).
//!
//! [`CollisionBoxes`] turns a chunk's colliding voxels into few disjoint boxes for physics
//! engines (a compound collider).
//!
//! Materials are classified by a [`MaterialTable`] built from the
//! [`strata_core::MaterialRegistry`]; unknown ids are opaque.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ao;
mod classify;
pub mod collision_boxes;
mod faces;
mod greedy;
mod input;
pub mod light;
pub mod lod;
mod mesher;
mod model;
mod occupancy;
mod output;
pub mod skip;

pub use classify::MaterialTable;
pub use collision_boxes::{CollisionBox, CollisionBoxes, CollisionTable, PartBox};
pub use input::{Neighbor, Neighborhood};
pub use light::{LightField, LightNeighborhood};
pub use mesher::{MeshOptions, MeshStats, Mesher};
pub use output::{ChunkMesh, MeshBuffers, QuadBox};
pub use skip::NeighborSummary;

/// The names most users need: `use strata_mesh::prelude::*;`.
pub mod prelude {
    pub use crate::{ChunkMesh, MaterialTable, MeshBuffers, MeshOptions, Mesher, Neighbor, Neighborhood};
}
