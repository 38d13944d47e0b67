//! Sky light and block light of a chunk, computed when it is meshed.
//!
//! # The rule
//! Every voxel has a sky light and a block light level in `0..=15` ([`MAX_LIGHT`]):
//! - **Light passes** through air, transparent solids and fluids ("clear" voxels), and loses one
//!   level per voxel it travels (six-connected steps). Opaque voxels hold no light, except that an
//!   emitter holds its own level.
//! - **Block light** `B(v) = max(e(v), max over the six neighbours n of B(n) − 1)` for a clear
//!   voxel, `e(v)` for an opaque one, where `e` is the material's `light` (`materials.ron`): the
//!   least solution, so a level-`e` emitter lights clear voxels up to `e − 1` steps away.
//! - **Sky light** is 15 in clear voxels **under open sky**: the voxel and every voxel from it
//!   along the world's up are air or transparent solids (a fluid or an opaque voxel closes the
//!   column), up to the top of the chunk's 3 × 3 × 3 neighbourhood, and the sky is open beyond
//!   that ([`LightNeighborhood::sky_beyond`]). Elsewhere `S(v) = max over the neighbours of
//!   S(n) − 1` in clear voxels and 0 in opaque ones: light falls into caves and under overhangs,
//!   and fades one level per voxel of water.
//!
//! A light path into the chunk or its one-voxel border is at most 14 voxels long, so the values
//! of those voxels depend only on the voxels within 15 of the chunk: [`LightField`] computes the
//! rule over that 62³ window (the chunk and 15 voxels of each of its 26 neighbours) and equals
//! the rule over the whole neighbourhood (tested against an independent brute force).
//! Neighbours that are not loaded count as air under open sky: the edge of the loaded world is
//! never dark, and caves that reach it are lit until the neighbour loads (its arrival remeshes).
//!
//! The up is the centre chunk's (a planet's up is constant per chunk); the columns of the whole
//! window run along it.

use crate::classify::{MaterialTable, run_starts};
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use strata_core::{CHUNK_SIZE, CHUNK_VOLUME, Chunk, Face, LocalIndex, LocalPos, MAX_LIGHT};

/// Voxels of each neighbour inside the window, per side.
const MARGIN: usize = 15;
/// The window's edge: the chunk and a margin on each side.
const W: usize = CHUNK_SIZE + 2 * MARGIN;
/// Rows of the window (`y + W · z`).
const ROWS: usize = W * W;
/// Every voxel of a window row.
const FULL: u64 = (1 << W) - 1;

/// The light key of a face in full daylight: sky 15 and block 0 at every corner.
pub(crate) const DAYLIGHT_KEY: u32 = 0x0F0F_0F0F;

/// Light-code bits (see [`MaterialTable::light_code`]): the emitted level in the low nibble.
pub(crate) const EMIT: u8 = 0x0F;
/// Light passes (air, transparent solid, fluid).
pub(crate) const CLEAR: u8 = 0x10;
/// The sky column passes (air, transparent solid).
pub(crate) const SKY_CLEAR: u8 = 0x20;

/// A known voxel of [`LightCells`] (0: not read yet).
const KNOWN_CELL: u16 = 0x8000;
/// A clear voxel of [`LightCells`]: sky level in bits 0..4, block level in 4..8.
const CLEAR_CELL: u16 = 0x100;
/// The clear count's unit in [`LightField::face_key`]'s sums.
const CLEAR_ONE: u32 = 0x100;
/// [`LightCells`]' edge: the chunk and the two voxels on each side that face keys read.
const CELLS_EDGE: usize = CHUNK_SIZE + 4;
/// [`LightCells`]' entry steps along x, y and z.
const CELL_STRIDES: [usize; 3] = [1, CELLS_EDGE, CELLS_EDGE * CELLS_EDGE];

/// `MEAN[64 n + v]`: `v / n` rounded half up (`(2v + n) / 2n`), for `n` in `1..=4` voxels
/// and sums `v < 64` (row 0 as row 1).
static MEAN: [u8; 5 * 64] = {
    let mut table = [0u8; 5 * 64];
    let mut i = 0;
    while i < 5 * 64 {
        let (n, v) = (if i < 64 { 1 } else { i / 64 }, i % 64);
        table[i] = ((2 * v + n) / (2 * n)) as u8;
        i += 1;
    }
    table
};

/// The light of the voxels [`LightField::face_key`] reads, kept from their first read while
/// one chunk is meshed (a voxel is read by up to nine faces per direction): ~91 KiB, one per
/// [`crate::Mesher`].
pub(crate) struct LightCells {
    cells: Box<[u16; CELLS_EDGE * CELLS_EDGE * CELLS_EDGE]>,
}

impl LightCells {
    pub(crate) fn new() -> Self {
        Self { cells: boxed() }
    }

    /// Forgets every voxel (before meshing with another field). O(36³) stores.
    pub(crate) fn reset(&mut self) {
        self.cells.fill(0);
    }

    /// The entry of voxel `c` (centre-chunk coordinates, each in `-2..34`).
    #[inline]
    fn index(c: [i32; 3]) -> usize {
        let [x, y, z] = c.map(|v| (v + 2) as usize);
        debug_assert!(x < CELLS_EDGE && y < CELLS_EDGE && z < CELLS_EDGE);
        x + CELLS_EDGE * (y + CELLS_EDGE * z)
    }
}

/// The chunks around the chunk being lit.
#[derive(Clone, Copy, Debug)]
pub struct LightNeighborhood<'a> {
    /// The 3 × 3 × 3 chunks centred on the chunk being lit, at [`LightNeighborhood::index`]
    /// of their offset; `None`: not loaded (air under open sky).
    pub chunks: [Option<&'a Chunk>; 27],
    /// The direction of the sky in the centre chunk ([`strata_core::WorldUp`]).
    pub up: Face,
    /// Whether the sky is open beyond the far face (along `up`) of each chunk of the layer at
    /// offset `+1` along `up`, at that chunk's [`LightNeighborhood::index`] (other entries are not
    /// read). A caller that knows nothing passes `true`; the plugin asks its index whether the
    /// chunks above are all air.
    pub sky_beyond: [bool; 27],
}

impl<'a> LightNeighborhood<'a> {
    /// The index of the chunk at `offset` (each component in `-1..=1`) from the centre.
    pub const fn index(offset: [i32; 3]) -> usize {
        ((offset[0] + 1) + 3 * (offset[1] + 1) + 9 * (offset[2] + 1)) as usize
    }

    /// The offset of the chunk at `index` (the inverse of [`LightNeighborhood::index`]).
    pub const fn offset(index: usize) -> [i32; 3] {
        let i = index as i32;
        [i % 3 - 1, i / 3 % 3 - 1, i / 9 - 1]
    }

    /// Asks `chunk` for each offset; the sky is open beyond every column.
    pub fn from_fn(up: Face, mut chunk: impl FnMut([i32; 3]) -> Option<&'a Chunk>) -> Self {
        Self { chunks: std::array::from_fn(|i| chunk(Self::offset(i))), up, sky_beyond: [true; 27] }
    }
}

/// The sky and block light of one chunk and its one-voxel border, computed by the rule of the
/// [module docs](self) over a 62³ window.
///
/// Holds ~0.5 MiB of reusable buffers; keep one per worker thread next to its
/// [`crate::Mesher`].
///
/// # Runtime
/// Building the window is one table lookup per run of equal ids in each 32-voxel row of the 27
/// chunks' parts (a uniform chunk costs one lookup), then word operations per row for the sky
/// columns; the two breadth-first fills visit only voxels that emitters light and voxels in
/// shadow within 14 of open sky. Nothing is allocated once the buffers have grown.
pub struct LightField {
    /// Clear voxels, one bit per voxel (`x` bit of row `y + W · z`).
    clear: Box<[u64; ROWS]>,
    /// Voxels the sky column passes.
    sky_clear: Box<[u64; ROWS]>,
    /// Voxels under open sky (sky light 15).
    open: Box<[u64; ROWS]>,
    /// Whether the sky is open just beyond the window, per column (layout by the up's axis, see
    /// [`LightField::columns_beyond`]).
    beyond: Box<[u64; ROWS]>,
    /// Sky light of voxels not under open sky, bit-sliced: bit `i` of the level in plane `i`.
    sky: Planes,
    /// Block light, bit-sliced.
    block: Planes,
    /// The voxels lit at the current level or above while filling (scratch).
    lit: Box<[u64; ROWS]>,
    /// Emitters per level: window row and voxels.
    emitters: [Vec<(u32, u64)>; MAX_LIGHT as usize + 1],
    /// Rows the next level may light (scratch), the rows after that, and their marks.
    rows: Vec<u32>,
    next_rows: Vec<u32>,
    row_marks: Box<[u64; ROWS.div_ceil(64)]>,
    /// Voxels lit at the current level, per row (scratch).
    adds: Vec<(u32, u64)>,
    /// Every clear voxel of the window is under open sky and nothing emits: all light is
    /// (15, 0).
    daylight: bool,
    /// Per face axis, the voxels whose 3 × 3 neighbourhood across that axis (the layer a face
    /// looks into) is in plain daylight: each voxel opaque, or under open sky without block
    /// light. Set around the chunk and its border only.
    plain: [Box<[u64; ROWS]>; 3],
    /// [`LightField::compute_shared`]'s rows of the chunks seen lately, by address (checked by
    /// a weak reference: a chunk edited in place, or freed, is never served), and the address
    /// of the table they were built with.
    kept: HashMap<usize, (Weak<Chunk>, Arc<ChunkRows>)>,
    kept_table: usize,
}

impl std::fmt::Debug for LightField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LightField").field("daylight", &self.daylight).finish_non_exhaustive()
    }
}

impl Default for LightField {
    fn default() -> Self {
        Self::new()
    }
}

fn boxed<T: Copy + Default, const N: usize>() -> Box<[T; N]> {
    match vec![T::default(); N].into_boxed_slice().try_into() {
        Ok(b) => b,
        // Invariant: built with exactly N elements.
        Err(_) => unreachable!("buffer has N elements"),
    }
}

/// The part of a neighbour at offset `d` (one axis) inside the window: its voxels `lo..hi`
/// land at window coordinates `start..`.
fn span(d: i32) -> (usize, usize, usize) {
    match d {
        -1 => (CHUNK_SIZE - MARGIN, CHUNK_SIZE, 0),
        0 => (0, CHUNK_SIZE, MARGIN),
        _ => (0, MARGIN, MARGIN + CHUNK_SIZE),
    }
}

/// `len` bits from bit `from`.
#[inline]
fn run_bits(from: usize, len: usize) -> u64 {
    ((1u64 << len) - 1) << from
}

/// Calls `run(light code, start - xs.start, length)` for each run of equal ids of row `(y, z)`
/// of `chunk` within `xs` (`None`: air). One lookup for a uniform chunk or row.
#[inline]
fn for_runs(
    table: &MaterialTable,
    chunk: Option<&Chunk>,
    y: usize,
    z: usize,
    xs: std::ops::Range<usize>,
    mut run: impl FnMut(u8, usize, usize),
) {
    let ids = match chunk {
        None => return run(table.light_code(0), 0, xs.len()),
        Some(Chunk::Uniform(m)) => return run(table.light_code(m.0), 0, xs.len()),
        Some(Chunk::Dense(d)) => d.as_slice(),
    };
    let start = (y + CHUNK_SIZE * z) * CHUNK_SIZE;
    let Ok(full) = <&[u16; CHUNK_SIZE]>::try_from(&ids[start..start + CHUNK_SIZE]) else {
        unreachable!("a row has CHUNK_SIZE ids")
    };
    let Some(starts) = run_starts(full) else {
        return run(table.light_code(full[0]), 0, xs.len());
    };
    // Cut to `xs`.
    let mut rest = (starts >> xs.start) as u64 | 1;
    let end = xs.len() as u32;
    rest &= (1u64 << end) - 1;
    while rest != 0 {
        let x0 = rest.trailing_zeros();
        rest &= rest - 1;
        let x1 = if rest == 0 { end } else { rest.trailing_zeros() };
        run(table.light_code(full[xs.start + x0 as usize]), x0 as usize, (x1 - x0) as usize);
    }
}

/// Window coordinate of centre-chunk coordinate `v`, if inside the window.
#[inline]
fn window(v: i32) -> Option<usize> {
    let w = v + MARGIN as i32;
    (0..W as i32).contains(&w).then_some(w as usize)
}

impl LightField {
    /// Empty buffers (every voxel dark until [`LightField::compute`]).
    pub fn new() -> Self {
        Self {
            clear: boxed(),
            sky_clear: boxed(),
            open: boxed(),
            beyond: boxed(),
            sky: Planes::new(),
            block: Planes::new(),
            lit: boxed(),
            emitters: std::array::from_fn(|_| Vec::new()),
            rows: Vec::new(),
            next_rows: Vec::new(),
            row_marks: boxed(),
            adds: Vec::new(),
            daylight: false,
            plain: std::array::from_fn(|_| boxed()),
            kept: HashMap::new(),
            kept_table: 0,
        }
    }

    /// Whether all light of the window is (sky 15, block 0): faces need no voxel reads.
    pub(crate) fn is_daylight(&self) -> bool {
        self.daylight
    }

    /// The sky light at `p` (centre-chunk coordinates, `-15..47` per axis; 0 outside).
    #[inline]
    pub fn sky(&self, p: [i32; 3]) -> u8 {
        let Some([x, y, z]) = Self::cell(p) else { return 0 };
        let r = y + W * z;
        if self.open[r] >> x & 1 == 1 { MAX_LIGHT } else { self.sky.level(r, x) }
    }

    /// The block light at `p` (centre-chunk coordinates, `-15..47` per axis; 0 outside).
    #[inline]
    pub fn block(&self, p: [i32; 3]) -> u8 {
        let Some([x, y, z]) = Self::cell(p) else { return 0 };
        self.block.level(y + W * z, x)
    }

    /// Whether light passes `p` (air, transparent solid or fluid; centre-chunk coordinates,
    /// `-15..47` per axis; `false` outside).
    #[inline]
    pub fn is_clear(&self, p: [i32; 3]) -> bool {
        Self::cell(p).is_some_and(|[x, y, z]| self.clear[y + W * z] >> x & 1 == 1)
    }

    /// The light key of the face of voxel `p` (centre-chunk coordinates `0..32`) towards `face`:
    /// per corner (in [`crate::ao`]'s corner order, 8 bits each) the sky level in the low and
    /// the block level in the high nibble, each the rounded mean over the clear voxels among the
    /// four in front of that corner (the voxel the face looks into, the two beside it towards
    /// the corner and the diagonal one, which counts only when a side is clear: smooth lighting
    /// that does not leak around corners).
    ///
    /// `cells` holds the voxels' light as first read ([`LightCells::reset`] once per mesh of
    /// this field).
    ///
    /// # Runtime
    /// Nine reads of `cells` (a voxel's bit planes are read once per mesh), or none under plain
    /// daylight.
    #[inline]
    pub(crate) fn face_key(&self, cells: &mut LightCells, face: Face, p: [i32; 3]) -> u32 {
        if self.daylight {
            return DAYLIGHT_KEY;
        }
        let n = face.offset();
        let q = [p[0] + n[0], p[1] + n[1], p[2] + n[2]];
        if let Some([x, y, z]) = Self::cell(q)
            && self.plain[face.axis()][y + W * z] >> x & 1 == 1
        {
            return DAYLIGHT_KEY;
        }
        // Tangent axes (P, Q) as in `output::TANGENTS`.
        let (pa, qa) = match face.axis() {
            0 => (1, 2),
            1 => (2, 0),
            _ => (0, 1),
        };
        // The 3 × 3 voxels around q in the face's layer, index (dp + 1) + 3 (dq + 1), as sums:
        // sky in bits 0..8, one in bits 8..16 when clear, block in bits 16..24.
        let mut around = [0u32; 9];
        let mut corner = q;
        corner[pa] -= 1;
        corner[qa] -= 1;
        let (base, sp, sq) = (LightCells::index(corner), CELL_STRIDES[pa], CELL_STRIDES[qa]);
        for (i, a) in around.iter_mut().enumerate() {
            let (dp, dq) = (i % 3, i / 3);
            *a = self.cell_sum(cells, base + dp * sp + dq * sq, [dp, dq], corner, (pa, qa));
        }
        let mut key = 0;
        for (i, (sp, sq)) in crate::ao::CORNERS.into_iter().enumerate() {
            let at = |dp: i32, dq: i32| around[((dp + 1) + 3 * (dq + 1)) as usize];
            let (s1, s2) = (at(sp, 0), at(0, sq));
            let diagonal = if (s1 | s2) & CLEAR_ONE != 0 { at(sp, sq) } else { 0 };
            let sum = at(0, 0) + s1 + s2 + diagonal;
            // The face's own voxel is clear (faces look into clear voxels), so n ≥ 1; an
            // unloaded border counts as opaque in the mesher but is never faced.
            let n = (sum >> 8 & 0xFF) as usize;
            let mean = |v: u32| u32::from(MEAN[n * 64 + (v & 0x3F) as usize]);
            key |= (mean(sum) | mean(sum >> 16) << 4) << (8 * i);
        }
        key
    }

    /// The light of the voxel at entry `i` of `cells`, `corner` plus `d` along the tangent
    /// axes `(pa, qa)` (centre-chunk coordinates `-2..34`), in [`LightField::face_key`]'s sum
    /// form: from `cells` or, on its first read, from the bit planes (then kept).
    #[inline]
    fn cell_sum(
        &self,
        cells: &mut LightCells,
        i: usize,
        d: [usize; 2],
        corner: [i32; 3],
        (pa, qa): (usize, usize),
    ) -> u32 {
        let mut v = cells.cells[i];
        if v == 0 {
            let mut c = corner;
            c[pa] += d[0] as i32;
            c[qa] += d[1] as i32;
            debug_assert_eq!(LightCells::index(c), i);
            v = KNOWN_CELL;
            if let Some([x, y, z]) = Self::cell(c) {
                let r = y + W * z;
                if self.clear[r] >> x & 1 == 1 {
                    let sky = if self.open[r] >> x & 1 == 1 { MAX_LIGHT } else { self.sky.level(r, x) };
                    v |= CLEAR_CELL | u16::from(sky) | u16::from(self.block.level(r, x)) << 4;
                }
            }
            cells.cells[i] = v;
        }
        u32::from(v & 0x10F) | u32::from(v & 0xF0) << 12
    }

    #[inline]
    fn cell(p: [i32; 3]) -> Option<[usize; 3]> {
        Some([window(p[0])?, window(p[1])?, window(p[2])?])
    }

    /// Computes the light of `hood`'s centre chunk and its border (see the [module docs](self)).
    pub fn compute(&mut self, table: &MaterialTable, hood: &LightNeighborhood<'_>) {
        self.sky.clear();
        self.block.clear();
        self.emitters.iter_mut().for_each(Vec::clear);
        self.clear.fill(0);
        self.sky_clear.fill(0);
        for (i, chunk) in hood.chunks.iter().enumerate() {
            self.add_chunk(table, LightNeighborhood::offset(i), *chunk);
        }
        self.columns_beyond(table, hood);
        self.open_sky(hood.up);
        self.fill_sky();
        self.fill_block();
        self.find_plain_daylight();
    }

    /// [`LightField::compute`] for chunks held in `Arc`s (`ring` in
    /// [`LightNeighborhood::index`] order, `None`: not loaded), the same light: each chunk's
    /// voxels are classified once into rows (~8 KiB for a dense chunk) and kept
    /// for the next calls that see the same `Arc` — a chunk is in the ring of 27 meshes. Up to
    /// [`ROWS_KEPT`] chunks are kept; a chunk edited in place or freed is never served (the
    /// entry holds a weak reference), nor rows built with another table.
    ///
    /// # Runtime
    /// Per chunk not kept yet, one lookup per run of equal ids of its 1,024 rows (one for a
    /// uniform chunk); then word operations per window row, as [`LightField::compute`] after
    /// its window.
    pub fn compute_shared(
        &mut self,
        table: &MaterialTable,
        ring: &[Option<Arc<Chunk>>; 27],
        up: Face,
        sky_beyond: [bool; 27],
    ) {
        let table_id = std::ptr::from_ref(table) as usize;
        if self.kept_table != table_id {
            self.kept.clear();
            self.kept_table = table_id;
        }
        if self.kept.len() > ROWS_KEPT {
            self.kept.retain(|_, (weak, _)| weak.strong_count() > 0);
            if self.kept.len() > ROWS_KEPT / 2 {
                self.kept.clear();
            }
        }
        let rows: [Arc<ChunkRows>; 27] = std::array::from_fn(|i| match &ring[i] {
            None => Arc::new(ChunkRows::Uniform(table.light_code(0))),
            Some(chunk) => {
                if let Some(code) = chunk.as_uniform().map(|m| table.light_code(m.0)) {
                    return Arc::new(ChunkRows::Uniform(code));
                }
                let key = Arc::as_ptr(chunk) as usize;
                match self.kept.get(&key) {
                    Some((weak, rows)) if weak.upgrade().is_some_and(|c| Arc::ptr_eq(&c, chunk)) => rows.clone(),
                    _ => {
                        let rows = Arc::new(ChunkRows::of(table, chunk));
                        self.kept.insert(key, (Arc::downgrade(chunk), rows.clone()));
                        rows
                    }
                }
            }
        });
        self.sky.clear();
        self.block.clear();
        self.emitters.iter_mut().for_each(Vec::clear);
        self.clear.fill(0);
        self.sky_clear.fill(0);
        for (i, r) in rows.iter().enumerate() {
            self.add_rows(LightNeighborhood::offset(i), r);
        }
        self.columns_beyond_rows(&rows, up, &sky_beyond);
        self.open_sky(up);
        self.fill_sky();
        self.fill_block();
        self.find_plain_daylight();
    }

    /// Chunks whose rows [`LightField::compute_shared`] kept (for tests and diagnostics).
    pub fn rows_kept(&self) -> usize {
        self.kept.len()
    }

    /// The window part of a chunk at `offset` from its rows (see [`span`]).
    fn add_rows(&mut self, offset: [i32; 3], rows: &ChunkRows) {
        let [(x0, x1, wx), (y0, y1, wy), (z0, z1, wz)] = offset.map(span);
        let part = |bits: u32| (u64::from(bits) >> x0 & ((1u64 << (x1 - x0)) - 1)) << wx;
        match rows {
            ChunkRows::Uniform(code) => {
                let bits = run_bits(wx, x1 - x0);
                for z in z0..z1 {
                    for y in y0..y1 {
                        self.mark(*code, wy + y - y0 + W * (wz + z - z0), bits);
                    }
                }
            }
            ChunkRows::Dense { clear, sky, emitters } => {
                for z in z0..z1 {
                    for y in y0..y1 {
                        let (r, i) = (wy + y - y0 + W * (wz + z - z0), y + CHUNK_SIZE * z);
                        self.clear[r] |= part(clear[i]);
                        self.sky_clear[r] |= part(sky[i]);
                    }
                }
                for &(index, level) in emitters {
                    let p = LocalIndex::new(index).pos();
                    let [x, y, z] = [p.x, p.y, p.z].map(usize::from);
                    if (x0..x1).contains(&x) && (y0..y1).contains(&y) && (z0..z1).contains(&z) {
                        let r = wy + y - y0 + W * (wz + z - z0);
                        self.emitters[usize::from(level)].push((r as u32, 1 << (wx + x - x0)));
                    }
                }
            }
        }
    }

    /// [`LightField::columns_beyond`] from rows.
    fn columns_beyond_rows(&mut self, rows: &[Arc<ChunkRows>; 27], up: Face, sky_beyond: &[bool; 27]) {
        let axis = up.axis();
        let sign = if up.is_positive() { 1 } else { -1 };
        let past = if sign > 0 { MARGIN..CHUNK_SIZE } else { 0..CHUNK_SIZE - MARGIN };
        self.beyond.fill(0);
        for (i, chunk) in rows.iter().enumerate() {
            let offset = LightNeighborhood::offset(i);
            if offset[axis] != sign || !sky_beyond[i] {
                continue;
            }
            let [(x0, x1, wx), (y0, y1, wy), (z0, z1, wz)] = offset.map(span);
            // The sky-clear voxels of row (y, z), all 32.
            let row = |y: usize, z: usize| -> u32 {
                match &**chunk {
                    ChunkRows::Uniform(code) => {
                        if code & SKY_CLEAR != 0 {
                            u32::MAX
                        } else {
                            0
                        }
                    }
                    ChunkRows::Dense { sky, .. } => sky[y + CHUNK_SIZE * z],
                }
            };
            let part = |bits: u32| (u64::from(bits) >> x0 & ((1u64 << (x1 - x0)) - 1)) << wx;
            match axis {
                0 => {
                    let all = (((1u64 << past.len()) - 1) << past.start) as u32;
                    for z in z0..z1 {
                        for y in y0..y1 {
                            if row(y, z) & all == all {
                                self.beyond[wy + y - y0 + W * (wz + z - z0)] = 1;
                            }
                        }
                    }
                }
                1 => {
                    for z in z0..z1 {
                        let open = past.clone().fold(u32::MAX, |open, y| open & row(y, z));
                        self.beyond[wz + z - z0] |= part(open);
                    }
                }
                _ => {
                    for y in y0..y1 {
                        let open = past.clone().fold(u32::MAX, |open, z| open & row(y, z));
                        self.beyond[wy + y - y0] |= part(open);
                    }
                }
            }
        }
    }

    /// Marks, per face axis, the voxels of the chunk and its border whose 3 × 3 layer across
    /// that axis is in plain daylight ([`LightField::face_key`] then needs no voxel reads).
    ///
    /// # Runtime
    /// O(rows) word operations.
    fn find_plain_daylight(&mut self) {
        for plain in &mut self.plain {
            plain.fill(0);
        }
        if self.daylight {
            return;
        }
        // Plain voxels: into `lit` (free after the fills).
        for r in 0..ROWS {
            let dark = self.block.bits.iter().fold(0, |acc, plane| acc | plane[r]);
            self.lit[r] = (!self.clear[r] | (self.open[r] & !dark)) & FULL;
        }
        let lit = &self.lit;
        // Eroded along x (the window's edge voxels count their outside as plain).
        let along_x = |r: usize| lit[r] & (lit[r] << 1 | 1) & (lit[r] >> 1 | 1 << (W - 1));
        let rows = MARGIN - 1..MARGIN + CHUNK_SIZE + 1;
        for z in rows.clone() {
            for y in rows.clone() {
                let r = y + W * z;
                // x faces: the layer spans y and z; y faces: x and z; z faces: x and y.
                self.plain[0][r] = lit[r - W - 1]
                    & lit[r - W]
                    & lit[r - W + 1]
                    & lit[r - 1]
                    & lit[r]
                    & lit[r + 1]
                    & lit[r + W - 1]
                    & lit[r + W]
                    & lit[r + W + 1];
                self.plain[1][r] = along_x(r - W) & along_x(r) & along_x(r + W);
                self.plain[2][r] = along_x(r - 1) & along_x(r) & along_x(r + 1);
            }
        }
    }

    /// The window part of the chunk at `offset` (see [`span`]).
    fn add_chunk(&mut self, table: &MaterialTable, offset: [i32; 3], chunk: Option<&Chunk>) {
        let [(x0, x1, wx), (y0, y1, wy), (z0, z1, wz)] = offset.map(span);
        for z in z0..z1 {
            for y in y0..y1 {
                let r = wy + y - y0 + W * (wz + z - z0);
                for_runs(table, chunk, y, z, x0..x1, |code, from, len| {
                    self.mark(code, r, run_bits(wx + from, len));
                });
            }
        }
    }

    /// Marks `bits` of window row `r` with light code `code`.
    #[inline]
    fn mark(&mut self, code: u8, r: usize, bits: u64) {
        if code & CLEAR != 0 {
            self.clear[r] |= bits;
        }
        if code & SKY_CLEAR != 0 {
            self.sky_clear[r] |= bits;
        }
        if code & EMIT != 0 {
            self.emitters[usize::from(code & EMIT)].push((r as u32, bits));
        }
    }

    /// Whether the sky is open just beyond the window along `up`, per window column: the rest of
    /// the column through the neighbour layer (its voxels past the window) passes the sky and
    /// the sky is open beyond that chunk. Layout of `beyond`: up along x: bit 0 of row
    /// `y + W · z`; along y: bit x of entry `z`; along z: bit x of entry `y`.
    ///
    /// # Runtime
    /// One pass over the rows of the voxels past the window (a run lookup per row, one for a
    /// uniform row).
    fn columns_beyond(&mut self, table: &MaterialTable, hood: &LightNeighborhood<'_>) {
        let axis = hood.up.axis();
        let sign = if hood.up.is_positive() { 1 } else { -1 };
        // The chunk voxels along the axis that lie beyond the window.
        let past = if sign > 0 { MARGIN..CHUNK_SIZE } else { 0..CHUNK_SIZE - MARGIN };
        self.beyond.fill(0);
        for (i, chunk) in hood.chunks.iter().enumerate() {
            let offset = LightNeighborhood::offset(i);
            if offset[axis] != sign || !hood.sky_beyond[i] {
                continue;
            }
            let [(x0, x1, wx), (y0, y1, wy), (z0, z1, wz)] = offset.map(span);
            // The sky-clear voxels of row (y, z) of the chunk: bits at window x.
            let row = |y: usize, z: usize| {
                let mut bits = 0;
                let xs = if axis == 0 { past.clone() } else { x0..x1 };
                let start = if axis == 0 { 0 } else { wx };
                for_runs(table, *chunk, y, z, xs.clone(), |code, from, len| {
                    if code & SKY_CLEAR != 0 {
                        bits |= run_bits(start + from, len);
                    }
                });
                bits
            };
            match axis {
                0 => {
                    let all = run_bits(0, past.len());
                    for z in z0..z1 {
                        for y in y0..y1 {
                            if row(y, z) == all {
                                self.beyond[wy + y - y0 + W * (wz + z - z0)] = 1;
                            }
                        }
                    }
                }
                1 => {
                    for z in z0..z1 {
                        let open = past.clone().fold(FULL, |open, y| open & row(y, z));
                        self.beyond[wz + z - z0] |= open;
                    }
                }
                _ => {
                    for y in y0..y1 {
                        let open = past.clone().fold(FULL, |open, z| open & row(y, z));
                        self.beyond[wy + y - y0] |= open;
                    }
                }
            }
        }
    }

    /// Which voxels lie under open sky: column scans along `up` as word operations.
    fn open_sky(&mut self, up: Face) {
        let positive = up.is_positive();
        match up.axis() {
            0 => {
                for r in 0..ROWS {
                    let pass = self.sky_clear[r];
                    let blocked = !pass & FULL;
                    self.open[r] = if self.beyond[r] == 0 {
                        0
                    } else if blocked == 0 {
                        FULL
                    } else if positive {
                        // Above the highest blocked voxel.
                        let top = 63 - blocked.leading_zeros() as usize;
                        FULL & !((2u64 << top) - 1)
                    } else {
                        // Below the lowest blocked voxel.
                        (1u64 << blocked.trailing_zeros()) - 1
                    };
                }
            }
            axis => {
                // Columns run across rows: y (axis 1) or z (axis 2); the other row index is
                // the entry of `beyond`.
                for other in 0..W {
                    let mut above = self.beyond[other];
                    for step in 0..W {
                        let along = if positive { W - 1 - step } else { step };
                        let r = if axis == 1 { along + W * other } else { other + W * along };
                        above &= self.sky_clear[r];
                        self.open[r] = above;
                    }
                }
            }
        }
    }

    /// Sky light of clear voxels in shadow: open sky (level 15) spread level by level.
    fn fill_sky(&mut self) {
        let shade = |r: usize, s: &Self| s.clear[r] & !s.open[r];
        if (0..ROWS).all(|r| shade(r, self) == 0) {
            self.daylight = self.emitters.iter().all(Vec::is_empty);
            return;
        }
        self.daylight = false;
        self.lit.copy_from_slice(&self.open[..]);
        // Level 14 can reach any shadowed row next to an open one.
        self.rows.clear();
        for r in 0..ROWS {
            if shade(r, self) != 0 {
                self.rows.push(r as u32);
            }
        }
        self.spread(true);
    }

    /// Block light: every emitter's level spread level by level.
    fn fill_block(&mut self) {
        if self.emitters.iter().all(Vec::is_empty) {
            return;
        }
        self.lit.fill(0);
        self.rows.clear();
        self.spread(false);
    }

    /// The level sets `{v : light(v) ≥ k}` from 14 (sky) or 15 (block) down to 1, as bit rows:
    /// level `k` adds the clear voxels next to level `k + 1`'s and the level-`k` emitters. Only
    /// rows next to the previous level's additions are examined (`rows` holds the first level's).
    /// Each voxel's level is written once, into the bit planes.
    ///
    /// # Runtime
    /// O(examined rows) word operations per level: the rows next to the light's frontier.
    fn spread(&mut self, sky: bool) {
        let top = if sky { MAX_LIGHT - 1 } else { MAX_LIGHT };
        for level in (1..=top).rev() {
            self.adds.clear();
            for &r in &self.rows {
                let r = r as usize;
                let (y, z) = (r % W, r / W);
                let l = self.lit[r];
                let mut near = l << 1 | l >> 1;
                if y > 0 {
                    near |= self.lit[r - 1];
                }
                if y + 1 < W {
                    near |= self.lit[r + 1];
                }
                if z > 0 {
                    near |= self.lit[r - W];
                }
                if z + 1 < W {
                    near |= self.lit[r + W];
                }
                let add = near & self.clear[r] & !l & FULL;
                if add != 0 {
                    self.adds.push((r as u32, add));
                }
            }
            if !sky {
                for &(r, bits) in &self.emitters[usize::from(level)] {
                    let add = bits & !self.lit[r as usize];
                    if add != 0 {
                        self.adds.push((r, add));
                    }
                }
            }
            // Light the additions and examine their rows' neighbours at the next level.
            self.next_rows.clear();
            self.row_marks.fill(0);
            let planes = if sky { &mut self.sky } else { &mut self.block };
            for &(r, add) in &self.adds {
                let r = r as usize;
                // Rows may repeat (an emitter row also lit from a neighbour): set once.
                let add = add & !self.lit[r];
                self.lit[r] |= add;
                planes.set(r, add, level);
                let (y, z) = (r % W, r / W);
                let mut mark = |n: usize| {
                    if self.row_marks[n / 64] >> (n % 64) & 1 == 0 {
                        self.row_marks[n / 64] |= 1 << (n % 64);
                        self.next_rows.push(n as u32);
                    }
                };
                mark(r);
                if y > 0 {
                    mark(r - 1);
                }
                if y + 1 < W {
                    mark(r + 1);
                }
                if z > 0 {
                    mark(r - W);
                }
                if z + 1 < W {
                    mark(r + W);
                }
            }
            std::mem::swap(&mut self.rows, &mut self.next_rows);
        }
    }
}

/// Chunks [`LightField::compute_shared`] keeps rows of, at most (~8 MiB of dense rows).
pub const ROWS_KEPT: usize = 1024;

/// One chunk's voxels as light sees them.
enum ChunkRows {
    /// Every voxel has this light code.
    Uniform(u8),
    /// Clear and sky-clear voxels as rows (bit `x` of row `y + 32 z`), and the emitters (local
    /// index, level).
    Dense {
        clear: Box<[u32; CHUNK_SIZE * CHUNK_SIZE]>,
        sky: Box<[u32; CHUNK_SIZE * CHUNK_SIZE]>,
        emitters: Vec<(u16, u8)>,
    },
}

impl ChunkRows {
    /// The rows of `chunk`. O(runs of equal ids).
    fn of(table: &MaterialTable, chunk: &Chunk) -> Self {
        if let Some(m) = chunk.as_uniform() {
            return Self::Uniform(table.light_code(m.0));
        }
        let (mut clear, mut sky): (Box<[u32; 1024]>, Box<[u32; 1024]>) = (boxed(), boxed());
        let mut emitters = Vec::new();
        for z in 0..CHUNK_SIZE {
            for y in 0..CHUNK_SIZE {
                let i = y + CHUNK_SIZE * z;
                for_runs(table, Some(chunk), y, z, 0..CHUNK_SIZE, |code, from, len| {
                    let bits = run_bits(from, len) as u32;
                    if code & CLEAR != 0 {
                        clear[i] |= bits;
                    }
                    if code & SKY_CLEAR != 0 {
                        sky[i] |= bits;
                    }
                    if code & EMIT != 0 {
                        for x in from..from + len {
                            let index = LocalPos::new(x as u8, y as u8, z as u8).index().get() as u16;
                            emitters.push((index, code & EMIT));
                        }
                    }
                });
            }
        }
        debug_assert!(emitters.len() <= CHUNK_VOLUME);
        Self::Dense { clear, sky, emitters }
    }
}

/// A light level per voxel of the window, bit-sliced: plane `i` holds bit `i` of every
/// voxel's level, as window rows; the rows written are remembered, so clearing costs what
/// lighting did.
struct Planes {
    bits: [Box<[u64; ROWS]>; 4],
    written: Vec<u32>,
}

impl Planes {
    fn new() -> Self {
        Self { bits: std::array::from_fn(|_| boxed()), written: Vec::new() }
    }

    /// The level of voxel `x` of row `r`.
    #[inline]
    fn level(&self, r: usize, x: usize) -> u8 {
        let bit = |i: usize| ((self.bits[i][r] >> x & 1) as u8) << i;
        bit(0) | bit(1) | bit(2) | bit(3)
    }

    /// Gives the voxels `add` of row `r` (all at level 0 so far) `level`.
    #[inline]
    fn set(&mut self, r: usize, add: u64, level: u8) {
        if add == 0 {
            return;
        }
        for (i, plane) in self.bits.iter_mut().enumerate() {
            if level >> i & 1 == 1 {
                plane[r] |= add;
            }
        }
        self.written.push(r as u32);
    }

    /// Every voxel back to level 0.
    fn clear(&mut self) {
        for &r in &self.written {
            for plane in &mut self.bits {
                plane[r as usize] = 0;
            }
        }
        self.written.clear();
    }
}

#[cfg(test)]
mod tests;
