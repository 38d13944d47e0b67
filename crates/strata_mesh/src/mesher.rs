//! The mesher: neighbourhood in, opaque and transparent meshes out.

use crate::ao::{UNOCCLUDED, ao_key};
use crate::classify::{FLUID, MaterialTable};
use crate::faces::FaceMasks;
use crate::greedy::{Grow, Rect, merge_runs, merge_slice};
use crate::input::{Neighbor, Neighborhood};
use crate::light::{DAYLIGHT_KEY, LightCells, LightField};
use crate::model::{ModelGeometry, TANGENT_AXES};
use crate::occupancy::{Grid, Occupancy, is_set};
use crate::output::{ChunkMesh, DEEP_FLUID_CODE, MeshBuffers, QuadSpec};
use crate::skip::is_hidden;
use strata_core::{CHUNK_SIZE, Chunk, Face, LocalPos};

/// How to mesh.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeshOptions {
    /// Edge length of one input voxel in output units: 1.0 for full-detail chunks, `2^k` for an
    /// LOD mip covering `2^k` chunks per axis (see [`MeshOptions::lod`]).
    pub voxel_size: f32,
    /// Compute per-vertex ambient occlusion; faces with different AO never merge.
    pub ambient_occlusion: bool,
    /// Give each fluid face the depth of fluid behind it ([`MeshBuffers::fluid_depth`], for
    /// water that darkens with depth); fluid faces of different depth buckets never merge.
    pub fluid_depth: bool,
}

impl Default for MeshOptions {
    fn default() -> Self {
        Self { voxel_size: 1.0, ambient_occlusion: false, fluid_depth: false }
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
/// Holds the material table (64 KiB) and ~45 KiB of scratch bit grids; keep one per worker
/// thread.
///
/// # Face rules
/// - A face of an opaque voxel is emitted iff the voxel across it is not opaque.
/// - A face of a transparent or fluid voxel of material `m` is emitted iff the voxel across it
///   is neither opaque nor `m` (so water–water and glass–glass faces vanish, water–ice faces
///   stay).
/// - Air emits nothing. Borders follow the [`crate::Neighbor`] policy (a fluid emits nothing
///   towards a [`crate::Neighbor::Seam`]).
///
/// Opaque faces go to [`ChunkMesh::opaque`], the others to [`ChunkMesh::transparent`]. Quads
/// merge per face direction, material and (when enabled) AO key. Side slices use block-mesh's
/// greedy rule; top and bottom slices keep the better of that rule and whole-run merging, so the
/// quad count is never above block-mesh `greedy_quads` on the same visibility (tested) and on
/// terrain at or below binary-greedy-meshing's (measured).
///
/// # Runtime
/// O(32³) to classify a dense chunk (a word-wise comparison per 32-voxel row, then one table
/// lookup per run of equal ids), O(32²) word operations per face direction for the face bits,
/// plus, for a dense chunk, one id read per visible face cell; merging is O(quads · 32) word
/// operations (per-cell AO keys when AO is on). Steady state allocates nothing once the output
/// buffers have grown (tested). About 50 µs for a 32³ terrain surface chunk on the reference
/// machine (`mesh.greedy_32_terrain`).
pub struct Mesher {
    table: MaterialTable,
    occupancy: Occupancy,
    faces: Box<FaceMasks>,
    /// Candidate rectangles of the two ±Y strategies (reused, see `Emitter::merge`).
    rects: [Vec<(Rect, u64)>; 2],
    /// Per-cell merge keys of the current slice when AO or light is on (computed once per cell).
    keys: Box<[u64; CHUNK_SIZE * CHUNK_SIZE]>,
    /// The current slice split by material (reused).
    groups: Vec<(u64, [u32; CHUNK_SIZE])>,
    /// The light of the voxels lit faces read, while meshing with a [`LightField`].
    light_cells: LightCells,
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
        Self {
            table,
            occupancy: Occupancy::new(),
            faces: FaceMasks::new(),
            rects: [Vec::new(), Vec::new()],
            keys: Box::new([0; CHUNK_SIZE * CHUNK_SIZE]),
            groups: Vec::new(),
            light_cells: LightCells::new(),
        }
    }

    /// The material table.
    pub fn table(&self) -> &MaterialTable {
        &self.table
    }

    /// Meshes `hood` into `out` (reset first), in full daylight ([`MeshBuffers::light`] is sky 15,
    /// block 0 everywhere).
    pub fn mesh(&mut self, hood: &Neighborhood<'_>, options: &MeshOptions, out: &mut ChunkMesh) -> MeshStats {
        self.mesh_lit(hood, None, options, out)
    }

    /// Meshes `hood` into `out` (reset first) with the sky and block light of `light`, computed
    /// for the same centre chunk ([`LightField::compute`]; `None`: full daylight). Faces whose
    /// corner light differs never merge. Light is a full-detail rule: pass `None` for LOD mips.
    ///
    /// # Runtime
    /// As [`Mesher::mesh`] with AO, plus nine cached light reads per visible face cell in
    /// shadow (none under plain daylight) and each read voxel's bit planes once.
    pub fn mesh_lit(
        &mut self,
        hood: &Neighborhood<'_>,
        light: Option<&LightField>,
        options: &MeshOptions,
        out: &mut ChunkMesh,
    ) -> MeshStats {
        out.reset();
        if is_hidden(&self.table, hood) {
            return MeshStats { skipped: true, ..MeshStats::default() };
        }
        // LOD mips show shaped voxels as cubes of their material.
        self.occupancy.build(&self.table, hood, options.voxel_size > 1.0);
        if light.is_some_and(|l| !l.is_daylight()) {
            self.light_cells.reset();
        }
        let materials = match hood.center {
            Chunk::Uniform(m) => Materials::One(m.0),
            Chunk::Dense(d) => Materials::Dense(d.as_slice()),
        };
        let opaque = &self.occupancy.opaque;
        // Cube faces are hidden by opaque cubes and by shaped voxels whose touching side is full.
        let visible = if self.occupancy.any_covers {
            let covers = &self.occupancy.covers;
            self.faces.compute(opaque, |d, r| opaque[r] | covers[d as usize][r])
        } else {
            self.faces.compute(opaque, |_, r| opaque[r])
        };
        if visible {
            let mut e = Emitter {
                table: &self.table,
                opaque,
                materials,
                options,
                out: &mut out.opaque,
                rects: &mut self.rects,
                keys: &mut self.keys[..],
                groups: &mut self.groups,
                depth: None,
                light,
                light_cells: &mut self.light_cells,
            };
            e.emit_all(&mut self.faces);
        }
        for (material, cells) in self.occupancy.layers() {
            let depth = (options.fluid_depth && self.table.code(*material) == FLUID).then_some(FluidDepth {
                cells,
                hood,
                material: *material,
                voxel_size: options.voxel_size,
            });
            if self.faces.compute(cells, |_, r| cells[r] | opaque[r]) {
                let materials = Materials::One(*material);
                let mut e = Emitter {
                    table: &self.table,
                    opaque,
                    materials,
                    options,
                    out: &mut out.transparent,
                    rects: &mut self.rects,
                    keys: &mut self.keys[..],
                    groups: &mut self.groups,
                    depth,
                    light,
                    light_cells: &mut self.light_cells,
                };
                e.emit_all(&mut self.faces);
            }
        }
        if self.occupancy.any_shaped {
            self.emit_models(hood, materials, light, options, out);
        }
        MeshStats {
            skipped: false,
            opaque_quads: out.opaque.quad_count() as u32,
            transparent_quads: out.transparent.quad_count() as u32,
        }
    }
}

impl Mesher {
    /// The model pass ([`crate::model`]): every shaped voxel of the centre chunk, face by face.
    ///
    /// # Runtime
    /// O(shaped voxels · faces of their shapes), one id read per boundary face's neighbour.
    fn emit_models(
        &mut self,
        hood: &Neighborhood<'_>,
        materials: Materials<'_>,
        light: Option<&LightField>,
        options: &MeshOptions,
        out: &mut ChunkMesh,
    ) {
        let id_at = |c: [usize; 3]| match materials {
            Materials::One(m) => m,
            Materials::Dense(ids) => ids[c[0] + CHUNK_SIZE * c[1] + CHUNK_SIZE * CHUNK_SIZE * c[2]],
        };
        let scale = options.voxel_size;
        let sixteenth = 1.0 / f32::from(strata_core::shape::UNITS);
        for (r, &row) in self.occupancy.shaped.iter().enumerate() {
            let mut bits = row;
            while bits != 0 {
                let x = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let c = [x, r % CHUNK_SIZE, r / CHUNK_SIZE];
                let id = id_at(c);
                let Some(g) = self.table.shape(id) else { continue };
                let buffers = if g.transparent { &mut out.transparent } else { &mut out.opaque };
                let ci = c.map(|v| v as i32);
                let emission = self.table.emission(strata_core::MaterialId(id));
                let light_key = |face: Face, cells: &mut LightCells| {
                    light.map_or(DAYLIGHT_KEY, |l| with_own_light(l.face_key(cells, face, ci), emission))
                };
                if g.cross {
                    let l = light_key(Face::PosY, &mut self.light_cells);
                    push_cross(buffers, c, scale, id, l);
                    continue;
                }
                for f in &g.faces {
                    if f.boundary && hidden_across(&self.table, &self.occupancy.opaque, hood, &id_at, c, f.face) {
                        continue;
                    }
                    let ao =
                        if options.ambient_occlusion { ao_key(&self.occupancy.opaque, f.face, ci) } else { UNOCCLUDED };
                    let quad = QuadSpec {
                        face: f.face,
                        slice: 0,
                        p: [0; 2],
                        q: [0; 2],
                        material: id,
                        ao,
                        depth: 0,
                        light: light_key(f.face, &mut self.light_cells),
                    };
                    let a = f.face.axis();
                    let (pa, qa) = TANGENT_AXES[a];
                    let at = |axis: usize, v: u8| (c[axis] as f32 + f32::from(v) * sixteenth) * scale;
                    let (plane, p, q) = (at(a, f.plane), f.p.map(|v| at(pa, v)), f.q.map(|v| at(qa, v)));
                    match a {
                        0 => buffers.push_rect::<0>(plane, p, q, &quad),
                        1 => buffers.push_rect::<1>(plane, p, q, &quad),
                        _ => buffers.push_rect::<2>(plane, p, q, &quad),
                    }
                }
            }
        }
    }
}

/// Whether the side of voxel `c` towards `face` is hidden by its neighbour: an opaque cube
/// (or an unloaded chunk, as in the occupancy grid), or a shaped voxel covering the touching
/// side.
fn hidden_across(
    table: &MaterialTable,
    opaque: &Grid,
    hood: &Neighborhood<'_>,
    id_at: &impl Fn([usize; 3]) -> u16,
    c: [usize; 3],
    face: Face,
) -> bool {
    let o = face.offset();
    let n = [0, 1, 2].map(|a| c[a] as i32 + o[a]);
    if is_set(opaque, n[0], n[1], n[2]) {
        return true;
    }
    let inside = n.iter().all(|v| (0..CHUNK_SIZE as i32).contains(v));
    let neighbour = if inside {
        id_at(n.map(|v| v as usize))
    } else {
        match hood.neighbor(face) {
            Neighbor::Loaded(chunk) => {
                let w = n.map(|v| v.rem_euclid(CHUNK_SIZE as i32) as u8);
                chunk.get(LocalPos::new(w[0], w[1], w[2]).index()).0
            }
            Neighbor::Unloaded | Neighbor::Seam => return false,
        }
    };
    table.shape(neighbour).is_some_and(|g: &ModelGeometry| g.covers(face.opposite()))
}

/// The two diagonal planes of a cross at voxel `c`, each from both sides.
fn push_cross(out: &mut MeshBuffers, c: [usize; 3], scale: f32, material: u16, light: u32) {
    let o = c.map(|v| v as f32);
    let at = |x: f32, y: f32, z: f32| [(o[0] + x) * scale, (o[1] + y) * scale, (o[2] + z) * scale];
    let h = std::f32::consts::FRAC_1_SQRT_2;
    let uvs = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    let back = [uvs[0], uvs[3], uvs[2], uvs[1]];
    // (0,0,0)–(1,·,1): counter-clockwise seen from (−1, 0, 1).
    let a = [at(0.0, 0.0, 0.0), at(1.0, 0.0, 1.0), at(1.0, 1.0, 1.0), at(0.0, 1.0, 0.0)];
    out.push_free(a, [-h, 0.0, h], uvs, material, light);
    out.push_free([a[0], a[3], a[2], a[1]], [h, 0.0, -h], back, material, light);
    // (1,0,0)–(0,·,1): counter-clockwise seen from (−1, 0, −1).
    let b = [at(1.0, 0.0, 0.0), at(0.0, 0.0, 1.0), at(0.0, 1.0, 1.0), at(1.0, 1.0, 0.0)];
    out.push_free(b, [-h, 0.0, -h], uvs, material, light);
    out.push_free([b[0], b[3], b[2], b[1]], [h, 0.0, h], back, material, light);
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

/// What the merge of one face-mask set needs besides the masks.
struct Emitter<'a, 'b> {
    table: &'a MaterialTable,
    opaque: &'a Grid,
    materials: Materials<'a>,
    options: &'a MeshOptions,
    out: &'b mut MeshBuffers,
    rects: &'b mut [Vec<(Rect, u64)>; 2],
    keys: &'b mut [u64],
    groups: &'b mut Vec<(u64, [u32; CHUNK_SIZE])>,
    /// Set for a fluid layer when [`MeshOptions::fluid_depth`] is on.
    depth: Option<FluidDepth<'a>>,
    /// The light of the chunk, if lit.
    light: Option<&'a LightField>,
    /// The voxels' light as `light` was read (see [`LightField::face_key`]).
    light_cells: &'b mut LightCells,
}

/// Bits of a merge key: material id in bits 0..16, AO corners in 16..24, fluid depth code in
/// 24..27 (see [`MeshBuffers::fluid_depth`]), corner light in 32..64 (see
/// [`LightField::face_key`]).
const AO_SHIFT: u32 = 16;
const DEPTH_SHIFT: u32 = 24;
const LIGHT_SHIFT: u32 = 32;

/// The fluid depth behind the faces of one fluid layer.
#[derive(Clone, Copy)]
struct FluidDepth<'a> {
    /// The layer's padded bit grid (the chunk and one boundary layer).
    cells: &'a Grid,
    hood: &'a Neighborhood<'a>,
    material: u16,
    voxel_size: f32,
}

impl FluidDepth<'_> {
    /// The depth code of the face cell `c` of `face`: the run of this fluid from `c` straight
    /// away from the face (against its normal), in world voxels, bucketed (see
    /// [`MeshBuffers::fluid_depth`]). Past the chunk the run continues into the neighbour across
    /// the opposite face: a loaded one is read; an unloaded one ends it (it counts as solid);
    /// a seam counts as deep (the fluid goes on at another LOD).
    ///
    /// # Runtime
    /// At most `32 / voxel_size + 1` cells are read.
    fn code(&self, face: Face, c: [usize; 3]) -> u32 {
        let axis = face.axis();
        let step: i32 = if face.is_positive() { -1 } else { 1 };
        // Cells that make the run deeper than the last bucket.
        let need = (DEEP_RUN / self.voxel_size.max(1.0)) as u32 + 1;
        let mut p = c.map(|v| v as i32);
        let mut n = 0u32;
        while n < need && (0..CHUNK_SIZE as i32).contains(&p[axis]) {
            if !is_set(self.cells, p[0], p[1], p[2]) {
                return depth_code(n, self.voxel_size);
            }
            n += 1;
            p[axis] += step;
        }
        if n >= need {
            return DEEP_FLUID_CODE;
        }
        match self.hood.neighbor(face.opposite()) {
            Neighbor::Seam => DEEP_FLUID_CODE,
            Neighbor::Unloaded => depth_code(n, self.voxel_size),
            Neighbor::Loaded(chunk) => {
                p[axis] = p[axis].rem_euclid(CHUNK_SIZE as i32);
                while n < need && (0..CHUNK_SIZE as i32).contains(&p[axis]) {
                    let at = LocalPos::new(p[0] as u8, p[1] as u8, p[2] as u8);
                    if chunk.get(at.index()).0 != self.material {
                        return depth_code(n, self.voxel_size);
                    }
                    n += 1;
                    p[axis] += step;
                }
                if n >= need { DEEP_FLUID_CODE } else { depth_code(n, self.voxel_size) }
            }
        }
    }
}

/// World voxels of fluid beyond which every run is [`DEEP_FLUID_CODE`].
const DEEP_RUN: f32 = 32.0;

/// The bucket of a run of `cells` cells of `voxel_size`: 1 + ⌈log₂ depth⌉ for depths up to 32
/// world voxels (1 → 1, 2 → 2, 3–4 → 3, …, 17–32 → 6), [`DEEP_FLUID_CODE`] beyond.
fn depth_code(cells: u32, voxel_size: f32) -> u32 {
    let world = (u64::from(cells) * voxel_size.max(1.0) as u64).max(1);
    (1 + (64 - (world - 1).leading_zeros())).min(DEEP_FLUID_CODE)
}

impl Emitter<'_, '_> {
    fn emit_all(&mut self, faces: &mut FaceMasks) {
        for face in Face::ALL {
            // One monomorphised copy per axis, so cell coordinates are compile-time shuffles.
            match face.axis() {
                0 => self.emit_face::<0>(faces, face),
                1 => self.emit_face::<1>(faces, face),
                _ => self.emit_face::<2>(faces, face),
            }
        }
    }

    /// Merges and emits every slice of `face`.
    ///
    /// ±X and ±Z slices use block-mesh's greedy order (sides of terrain are horizontal bands,
    /// which it merges well). ±Y slices (tops and bottoms) also try whole-run merging and keep
    /// whichever gives fewer quads, so the count never exceeds block-mesh's and is usually lower.
    fn emit_face<const AXIS: usize>(&mut self, faces: &mut FaceMasks, face: Face) {
        let ao = self.options.ambient_occlusion;
        let (opaque, materials, depth, light, table) =
            (self.opaque, self.materials, self.depth, self.light, self.table);
        let mut slices = faces.nonempty(face);
        while slices != 0 {
            let slice = slices.trailing_zeros() as usize;
            slices &= slices - 1;
            let rows = faces.slice_mut(face, slice);
            let mut cell_key = |row: usize, bit: usize| {
                let c = cell(AXIS, slice, row, bit);
                let m = match materials {
                    Materials::One(m) => m,
                    Materials::Dense(ids) => ids[c[0] + CHUNK_SIZE * c[1] + CHUNK_SIZE * CHUNK_SIZE * c[2]],
                };
                let a = if ao { ao_key(opaque, face, c.map(|v| v as i32)) } else { UNOCCLUDED };
                let d = depth.map_or(0, |d| d.code(face, c));
                let l = light.map_or(DAYLIGHT_KEY, |l| {
                    // An emitter's faces show at least its own level.
                    with_own_light(
                        l.face_key(self.light_cells, face, c.map(|v| v as i32)),
                        table.emission(strata_core::MaterialId(m)),
                    )
                });
                u64::from(m) | u64::from(a) << AO_SHIFT | u64::from(d) << DEPTH_SHIFT | u64::from(l) << LIGHT_SHIFT
            };
            match (ao || depth.is_some() || light.is_some(), materials) {
                (false, Materials::One(m)) => {
                    // One key for the whole slice: pure bit operations.
                    let k = u64::from(m) | u64::from(UNOCCLUDED) << AO_SHIFT | u64::from(DAYLIGHT_KEY) << LIGHT_SHIFT;
                    self.merge::<AXIS>(rows, face, slice, false, |_, _| k);
                }
                (false, Materials::Dense(_)) => {
                    // Split the slice by material (one id read per face cell), then merge each
                    // material's bits without per-cell checks. Equivalent to merging with the
                    // material as key: quads of one material never see another's cells.
                    self.groups.clear();
                    let mut last = usize::MAX;
                    for (r, line) in rows.iter_mut().enumerate() {
                        let mut bits = std::mem::take(line);
                        while bits != 0 {
                            let b = bits.trailing_zeros() as usize;
                            bits &= bits - 1;
                            let k = cell_key(r, b);
                            // Neighbouring cells mostly share a material: try the last group first.
                            if self.groups.get(last).is_none_or(|(gk, _)| *gk != k) {
                                last = match self.groups.iter().position(|(gk, _)| *gk == k) {
                                    Some(g) => g,
                                    None => {
                                        self.groups.push((k, [0; CHUNK_SIZE]));
                                        self.groups.len() - 1
                                    }
                                };
                            }
                            self.groups[last].1[r] |= 1 << b;
                        }
                    }
                    for g in 0..self.groups.len() {
                        let (k, mut bits) = self.groups[g];
                        self.merge::<AXIS>(&mut bits, face, slice, false, |_, _| k);
                    }
                }
                (true, _) => {
                    // AO keys cost a table lookup and a few row reads, depth codes a run of
                    // bit reads, light nine voxel reads: compute each cell's key once, then
                    // merge on keys.
                    for (r, &line) in rows.iter().enumerate() {
                        let mut bits = line;
                        while bits != 0 {
                            let b = bits.trailing_zeros() as usize;
                            bits &= bits - 1;
                            self.keys[r * CHUNK_SIZE + b] = cell_key(r, b);
                        }
                    }
                    let keys = std::mem::take(&mut self.keys);
                    self.merge::<AXIS>(rows, face, slice, true, |r, b| keys[r * CHUNK_SIZE + b]);
                    self.keys = keys;
                }
            }
        }
    }

    /// Merges one slice and appends its quads. ±X and ±Z slices use block-mesh's greedy order
    /// (sides of terrain are horizontal bands, which it merges well); ±Y slices (tops and
    /// bottoms) also try whole-run merging and keep whichever gives fewer quads, so the count
    /// never exceeds block-mesh's and is usually lower.
    fn merge<const AXIS: usize>(
        &mut self,
        rows: &mut [u32; CHUNK_SIZE],
        face: Face,
        slice: usize,
        check: bool,
        key: impl Fn(usize, usize) -> u64,
    ) {
        let grow = if AXIS == 2 { Grow::BitsFirst } else { Grow::RowsFirst };
        let scale = self.options.voxel_size;
        let out = &mut *self.out;
        let mut push = |rect: Rect, k: u64| {
            let (p, q) = tangent_extents(AXIS, rect);
            let spec = QuadSpec {
                face,
                slice: slice as u32,
                p,
                q,
                material: (k & 0xFFFF) as u16,
                ao: (k >> AO_SHIFT) as u32 & 0xFF,
                depth: (k >> DEPTH_SHIFT) as u8 & 7,
                light: (k >> LIGHT_SHIFT) as u32,
            };
            out.push_quad::<AXIS>(&spec, scale);
        };
        if AXIS == 1 {
            let [greedy, runs] = &mut *self.rects;
            greedy.clear();
            runs.clear();
            let mut copy = *rows;
            merge_slice(rows, grow, check, &key, |r, k| greedy.push((r, k)));
            merge_runs(&mut copy, check, &key, |r, k| runs.push((r, k)));
            let best = if runs.len() < greedy.len() { runs } else { greedy };
            best.iter().for_each(|&(r, k)| push(r, k));
        } else {
            merge_slice(rows, grow, check, key, push);
        }
    }
}

/// `key` (a face's corner light, see [`LightField::face_key`]) with every corner's block light
/// at least `emission`.
#[inline]
fn with_own_light(key: u32, emission: u8) -> u32 {
    if emission == 0 {
        return key;
    }
    let e = u32::from(emission.min(15));
    (0..4).fold(0, |out, i| {
        let corner = key >> (8 * i) & 0xFF;
        out | ((corner & 0x0F) | (corner >> 4).max(e) << 4) << (8 * i)
    })
}

/// Maps a slice rectangle to extents along the face's tangent axes `(P, Q)`.
#[inline]
fn tangent_extents(axis: usize, r: Rect) -> ([u32; 2], [u32; 2]) {
    let rows = [r.row, r.row + r.rows];
    let bits = [r.bit, r.bit + r.bits];
    // Y: P = z (rows), Q = x (bits). X: P = y (bits), Q = z (rows). Z: P = x (bits), Q = y (rows).
    if axis == 1 { (rows, bits) } else { (bits, rows) }
}
