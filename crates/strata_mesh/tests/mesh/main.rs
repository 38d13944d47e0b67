//! Integration tests of the mesher, in one binary (see CONTRIBUTING.md, "How the build is organised").
//! `steady_state_alloc` stays a binary of its own: it installs a counting global allocator,
//! and tests running on other threads of the same process would be counted.

mod block_mesh_quads;
mod common;
mod lod_seam;
mod models;
mod watertight;
