//! Level-of-detail meshing.
//!
//! An LOD node of level `k` covers `2^k` chunks per axis and is stored as one 32³ grid
//! (a `Chunk`): the index's (`IndexSnapshot::lod_chunk`), or one a game builds with
//! `strata_core::downsample::node_grid` (the one downsampling rule, shared with the index and
//! the stored summaries). Mesh it like any chunk with [`crate::MeshOptions::lod`]`(k)`, so each
//! grid cell becomes a `2^k`-voxel cube in the node's local space. Neighbours at the same level
//! are passed as [`crate::Neighbor::Loaded`] grids.
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
//!
//! Fluids are the exception: a fluid emits no face towards a seam (it treats the seam as more
//! of itself), because the closed surface of a see-through fluid is visible — a vertical sheet
//! of water wherever the two levels' water surfaces differ in height. What is given up: looking
//! along a water surface across an LOD border, one can see under the edge of the higher one.
