//! The mesher: neighbourhood in, opaque and transparent meshes out.

use crate::ao::{UNOCCLUDED, ao_key};
use crate::classify::MaterialTable;
use crate::faces::FaceMasks;
use crate::greedy::{Grow, Rect, merge_slice};
use crate::input::Neighborhood;
use crate::occupancy::{Grid, Occupancy};
use crate::output::{ChunkMesh, MeshBuffers, QuadSpec};
use crate::skip::is_hidden;
use strata_core::{CHUNK_SIZE, Chunk, Face};

/// How to mesh.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeshOptions {
    /// Edge length of one input voxel in output units: 1.0 for full-detail chunks, `2^k` for an
    /// LOD mip covering `2^k` chunks per axis (see [`MeshOptions::lod`]).
    pub voxel_size: f32,
    /// Compute per-vertex ambient occlusion; faces with different AO never merge.
    pub ambient_occlusion: bool,
}

impl Default for MeshOptions {
    fn default() -> Self {
        Self { voxel_size: 1.0, ambient_occlusion: false }
    }
}

impl MeshOptions {
    /// Options for the 32³ mip of an LOD node of `level` (voxel size `2^level`; levels past 32
    /// are clamped to 32).
    pub fn lod(level: u8) -> Self {
        Self { voxel_size: 2f32.powi(i32::from(level.min(32))), ..Self::default() }
    }
}

/// What one call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeshStats {
    /// The chunk was skipped by the homogeneous check (no voxel was read).
    pub skipped: bool,
    /// Quads in the opaque mesh.
    pub opaque_quads: u32,
    /// Quads in the transparent mesh.
    pub transparent_quads: u32,
}

/// A reusable binary greedy mesher for 32³ chunks.
///
/// Holds the material table and ~40 KiB of scratch bit grids; keep one per worker thread.
///
/// # Face rules
/// - A face of an opaque voxel is emitted iff the voxel across it is not opaque.
/// - A face of a transparent or fluid voxel of material `m` is emitted iff the voxel across it
///   is neither opaque nor `m` (so water–water and glass–glass faces vanish, water–ice faces
///   stay).
/// - Air emits nothing. Borders follow the [`crate::Neighbor`] policy.
///
/// Opaque faces go to [`ChunkMesh::opaque`], the others to [`ChunkMesh::transparent`]. Quads
/// merge per face direction, material and (when enabled) AO key; the merge is block-mesh's
/// greedy rule, so quad counts match `greedy_quads` on the same visibility.
///
/// # Runtime
/// O(32³) to classify a dense chunk (rows of one material are a single comparison pass), O(32²)
/// per face direction for the face bits, plus O(covered cells) for the merge of a dense chunk
/// (O(quads) for uniform material). Steady state allocates nothing once the output buffers have
/// grown.
pub struct Mesher {
    table: MaterialTable,
    occupancy: Occupancy,
    faces: Box<FaceMasks>,
}

impl std::fmt::Debug for Mesher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mesher").field("table", &self.table).finish_non_exhaustive()
    }
}

/// Where the material of a face cell comes from.
#[derive(Clone, Copy)]
enum Materials<'a> {
    /// Every cell has this material.
    One(u16),
    /// Look it up in the centre chunk.
    Dense(&'a [u16; CHUNK_SIZE * CHUNK_SIZE * CHUNK_SIZE]),
}

impl Mesher {
    /// A mesher classifying materials with `table`.
    pub fn new(table: MaterialTable) -> Self {
        Self { table, occupancy: Occupancy::new(), faces: FaceMasks::new() }
    }

    /// The material table.
    pub fn table(&self) -> &MaterialTable {
        &self.table
    }

    /// Meshes `hood` into `out` (reset first).
    pub fn mesh(&mut self, hood: &Neighborhood<'_>, options: &MeshOptions, out: &mut ChunkMesh) -> MeshStats {
        out.reset();
        if is_hidden(&self.table, hood) {
            return MeshStats { skipped: true, ..MeshStats::default() };
        }
        self.occupancy.build(&self.table, hood);
        let materials = match hood.center {
            Chunk::Uniform(m) => Materials::One(m.0),
            Chunk::Dense(d) => Materials::Dense(d.as_slice()),
        };
        let opaque = &self.occupancy.opaque;
        if self.faces.compute(opaque, |r| opaque[r]) {
            emit_all(&mut self.faces, opaque, materials, options, &mut out.opaque);
        }
        for (material, cells) in self.occupancy.layers() {
            if self.faces.compute(cells, |r| cells[r] | opaque[r]) {
                emit_all(&mut self.faces, opaque, Materials::One(*material), options, &mut out.transparent);
            }
        }
        MeshStats {
            skipped: false,
            opaque_quads: out.opaque.quad_count() as u32,
            transparent_quads: out.transparent.quad_count() as u32,
        }
    }
}

/// Voxel coordinates of cell (`row`, `bit`) of `slice` for a face on `axis` (see
/// [`crate::faces`] for the layout).
#[inline]
fn cell(axis: usize, slice: usize, row: usize, bit: usize) -> [usize; 3] {
    match axis {
        0 => [slice, bit, row],
        1 => [bit, slice, row],
        _ => [bit, row, slice],
    }
}

fn emit_all(
    faces: &mut FaceMasks,
    opaque: &Grid,
    materials: Materials<'_>,
    options: &MeshOptions,
    out: &mut MeshBuffers,
) {
    for face in Face::ALL {
        // One monomorphised copy per axis, so cell coordinates are compile-time shuffles.
        match face.axis() {
            0 => emit_face::<0>(faces, face, opaque, materials, options, out),
            1 => emit_face::<1>(faces, face, opaque, materials, options, out),
            _ => emit_face::<2>(faces, face, opaque, materials, options, out),
        }
    }
}

fn emit_face<const AXIS: usize>(
    faces: &mut FaceMasks,
    face: Face,
    opaque: &Grid,
    materials: Materials<'_>,
    options: &MeshOptions,
    out: &mut MeshBuffers,
) {
    let axis = AXIS;
    let grow = if axis == 2 { Grow::BitsFirst } else { Grow::RowsFirst };
    let ao = options.ambient_occlusion;
    let check = ao || matches!(materials, Materials::Dense(_));
    for (slice, rows) in faces.slices_mut(face).iter_mut().enumerate() {
        if rows.iter().fold(0, |a, &r| a | r) == 0 {
            continue;
        }
        let key = |row: usize, bit: usize| {
            let c = cell(AXIS, slice, row, bit);
            let m = match materials {
                Materials::One(m) => m,
                Materials::Dense(ids) => ids[c[0] + CHUNK_SIZE * c[1] + CHUNK_SIZE * CHUNK_SIZE * c[2]],
            };
            let a = if ao { ao_key(opaque, face, c.map(|v| v as i32)) } else { UNOCCLUDED };
            u32::from(m) | (a << 16)
        };
        merge_slice(rows, grow, check, key, |rect: Rect, k| {
            let (p, q) = tangent_extents(axis, rect);
            let spec = QuadSpec { face, slice: slice as u32, p, q, material: (k & 0xFFFF) as u16, ao: k >> 16 };
            out.push_quad::<AXIS>(&spec, options.voxel_size);
        });
    }
}

/// Maps a slice rectangle to extents along the face's tangent axes `(P, Q)`.
#[inline]
fn tangent_extents(axis: usize, r: Rect) -> ([u32; 2], [u32; 2]) {
    let rows = [r.row, r.row + r.rows];
    let bits = [r.bit, r.bit + r.bits];
    // Y: P = z (rows), Q = x (bits). X: P = y (bits), Q = z (rows). Z: P = x (bits), Q = y (rows).
    if axis == 1 { (rows, bits) } else { (bits, rows) }
}
