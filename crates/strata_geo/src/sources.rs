//! [`Source`]s of grid-node values: [`Direct`] (single voxels) and [`Patch`] (chunks and LOD
//! nodes: one rectangle of nodes per cube face, or fixed tables for large LOD nodes). They
//! return exactly what [`Model::coarse_node`] and [`Model::height_node`] return.

use crate::coarse_field::{CoarseField, CoarseTile};
use crate::fields::{CoarseNode, Relief};
use crate::fine_field::{FineField, FineTile};
use crate::grid::{COARSE_FACTOR, GridPos, bilerp};
use crate::model::Model;
use std::sync::Arc;
use strata_core::TileKey;

/// Supplies grid-node values to [`Model::classify`]. Implementations may cache; they must return
/// exactly [`Model::coarse_node`] and [`Model::height_node`].
pub(crate) trait Source {
    /// Coarse node `(ci, cj)` of `face`.
    fn coarse(&mut self, m: &Model, face: u8, ci: u32, cj: u32) -> CoarseNode;
    /// Height at fine node `(i, j)` of `face`.
    fn height(&mut self, m: &Model, face: u8, i: u32, j: u32) -> f64;
    /// [`Source::height`] of a node whose relief the caller computed
    /// ([`Model::relief_at_node`]: the same value), so a miss need not compute it again.
    #[inline(always)]
    fn height_given_relief(&mut self, m: &Model, face: u8, i: u32, j: u32, relief: Relief) -> f64 {
        let _ = relief;
        self.height(m, face, i, j)
    }
    /// Heights at fine nodes `(i, j)`, `(i+1, j)`, `(i, j+1)`, `(i+1, j+1)` of `face`: the
    /// corners of a fine cell.
    #[inline(always)]
    fn height_corners(&mut self, m: &Model, face: u8, i: u32, j: u32) -> [f64; 4] {
        corner_heights(self, m, face, i, j)
    }
    /// Coarse nodes `(ci, cj)`, `(ci+1, cj)`, `(ci, cj+1)`, `(ci+1, cj+1)` of `face`: the corners
    /// of a coarse cell.
    #[inline(always)]
    fn coarse_corners(&mut self, m: &Model, face: u8, ci: u32, cj: u32) -> [CoarseNode; 4] {
        [
            self.coarse(m, face, ci, cj),
            self.coarse(m, face, ci + 1, cj),
            self.coarse(m, face, ci, cj + 1),
            self.coarse(m, face, ci + 1, cj + 1),
        ]
    }
    /// Optional cheap bounds `(lo, hi)` of the height at `g` (see [`Model::cell_bounds`]); when
    /// given, `classify` decides voxels far from the surface without fine nodes.
    fn height_bounds(&mut self, _m: &Model, _g: GridPos) -> Option<(f64, f64)> {
        None
    }
}

/// [`Source::height`] of the four corners of fine cell `(i, j)`, one by one.
#[inline(always)]
fn corner_heights<S: Source + ?Sized>(src: &mut S, m: &Model, face: u8, i: u32, j: u32) -> [f64; 4] {
    [
        src.height(m, face, i, j),
        src.height(m, face, i + 1, j),
        src.height(m, face, i, j + 1),
        src.height(m, face, i + 1, j + 1),
    ]
}

/// Computes nodes on demand for one voxel, remembering the few coarse nodes it needs (the four
/// fine nodes around a direction usually share the same four coarse nodes).
#[derive(Default)]
pub(crate) struct Direct {
    coarse: [((u8, u32, u32), CoarseNode); 8],
    len: usize,
}

impl Source for Direct {
    fn coarse(&mut self, m: &Model, face: u8, ci: u32, cj: u32) -> CoarseNode {
        let key = (face, ci, cj);
        if let Some((_, n)) = self.coarse[..self.len].iter().find(|(k, _)| *k == key) {
            return *n;
        }
        let n = m.coarse_cached(face, ci, cj);
        if self.len < self.coarse.len() {
            self.coarse[self.len] = (key, n);
            self.len += 1;
        }
        n
    }
    fn height(&mut self, m: &Model, face: u8, i: u32, j: u32) -> f64 {
        m.height_node(face, i, j, self)
    }
}

/// The ranges `(min, max)` of the coarse fields the rock under a box reads
/// ([`Patch::coarse_ranges`], [`Model::rock_box`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CoarseRanges {
    pub land: (f64, f64),
    pub deep: (f64, f64),
    pub fold: (f64, f64),
}

impl CoarseRanges {
    const EMPTY: Self = Self {
        land: (f64::INFINITY, f64::NEG_INFINITY),
        deep: (f64::INFINITY, f64::NEG_INFINITY),
        fold: (f64::INFINITY, f64::NEG_INFINITY),
    };

    fn include(&mut self, land: f64, deep: f64, fold: f64) {
        let widen = |(lo, hi): (f64, f64), v: f64| (lo.min(v), hi.max(v));
        self.land = widen(self.land, land);
        self.deep = widen(self.deep, deep);
        self.fold = widen(self.fold, fold);
    }
}

const UNSET: CoarseNode = CoarseNode { land: f64::NAN, mask: 0.0, ridge: 0.0, fold: 0.0, deep: 0.0, ice: 0.0 };

/// Fine nodes a patch keeps in per-face rectangles; beyond, in [`Patch`]'s fine table.
const DENSE_FINE_LIMIT: u64 = 1 << 16;
/// Coarse nodes a patch keeps in per-face rectangles; beyond, in its coarse tables.
const DENSE_COARSE_LIMIT: u64 = 1 << 13;

/// A face's fine node rectangle, inclusive: `[(i0, i1), (j0, j1)]`.
type FineRect = [(u32, u32); 2];

/// The coarse cells under a box on one face (`[ci0, ci1, cj0, cj1]`, inclusive) and the fine
/// node rectangle they come from.
type CellsUnder = ([u32; 4], FineRect);

/// Inclusive index range start and length.
#[derive(Clone, Copy, Debug, Default)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn new(lo: u32, hi: u32) -> Self {
        Self { start: lo, len: hi - lo + 1 }
    }
    #[inline]
    fn offset(self, v: u32) -> Option<usize> {
        let d = v.wrapping_sub(self.start);
        (d < self.len).then_some(d as usize)
    }
}

/// A direct-mapped cache of node values by `(face, i, j)`: a fixed number of slots, each key
/// in one slot (a multiplicative hash), a colliding key replacing the one there. Node values
/// are pure functions of their key, so a replaced value is only computed again: no answer
/// changes. Allocated once per thread; clearing rewrites the keys only.
#[derive(Debug)]
struct Table<V> {
    keys: Box<[u64]>,
    values: Box<[V]>,
    shift: u32,
    used: bool,
}

impl<V: Copy> Table<V> {
    const EMPTY: u64 = u64::MAX;

    fn new(bits: u32, fill: V) -> Self {
        Self {
            keys: vec![Self::EMPTY; 1 << bits].into(),
            values: vec![fill; 1 << bits].into(),
            shift: 64 - bits,
            used: false,
        }
    }

    /// Face `< 8`, `i` and `j` `< 2³⁰` (grids have at most 1.5 · 2²⁸ / 0.5 fine cells per face
    /// edge, see `PlanetConfig`'s ranges): distinct keys, none `EMPTY`.
    #[inline(always)]
    fn key(face: u8, i: u32, j: u32) -> u64 {
        (u64::from(face) << 60) | (u64::from(i) << 30) | u64::from(j)
    }

    #[inline(always)]
    fn slot(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    #[inline(always)]
    fn get(&self, key: u64) -> Option<V> {
        let s = self.slot(key);
        (self.keys[s] == key).then(|| self.values[s])
    }

    #[inline(always)]
    fn put(&mut self, key: u64, v: V) {
        let s = self.slot(key);
        self.keys[s] = key;
        self.values[s] = v;
        self.used = true;
    }

    fn clear(&mut self) {
        if self.used {
            self.keys.fill(Self::EMPTY);
            self.used = false;
        }
    }
}

/// The nodes of one face a box needs.
#[derive(Debug, Default)]
struct FacePatch {
    active: bool,
    /// The fine rectangle; its heights are in `heights` when `dense_fine`, else in the table.
    fine: [Span; 2],
    dense_fine: bool,
    heights: Vec<f64>,
    /// The coarse rectangle; its nodes and cell bounds are in `coarse` and `bounds` when
    /// `dense_coarse`, else in the tables.
    coarse_span: [Span; 2],
    dense_coarse: bool,
    coarse: Vec<CoarseNode>,
    /// Height bounds per coarse cell (`lo` NaN = not computed); cells span one less than nodes.
    bounds: Vec<(f64, f64)>,
}

/// Lazily computed grid nodes for one box of voxels: per cube face, the rectangle of fine and
/// coarse nodes the box's voxels can need, each node computed at most once. Rectangles too
/// large to allocate (LOD nodes, whose cells lie far apart and use a sparse few of their
/// nodes) go to fixed direct-mapped tables instead, so no call allocates per node. Kept per
/// thread and reset per box.
#[derive(Debug)]
pub(crate) struct Patch {
    faces: [FacePatch; 6],
    use_bounds: bool,
    fine_table: Table<f64>,
    coarse_table: Table<CoarseNode>,
    bounds_table: Table<(f64, f64)>,
    /// See [`Patch::fine_area`].
    fine_area: u64,
    /// The corners of the coarse cell read last (see `coarse_corners`).
    last_corners: Option<((u8, u32, u32), [CoarseNode; 4])>,
    /// Shared coarse tiles used lately (a direct-mapped handful).
    tiles: [Option<(TileKey, Arc<CoarseTile>)>; TILE_SLOTS],
    /// Whether fine nodes missing from the rectangles come from the planet's [`FineField`]
    /// (see [`Patch::share_fine_nodes`]).
    share_fine: bool,
    /// Shared fine tiles used lately (a direct-mapped handful).
    fine_tiles: [Option<(TileKey, Arc<FineTile>)>; TILE_SLOTS],
}

/// Shared coarse tiles a patch keeps at hand (and as many fine ones).
const TILE_SLOTS: usize = 16;

/// The slot of a patch's shared-tile handful that tile `key` goes to (`key.level` is the face).
#[inline]
fn tile_slot(key: TileKey) -> usize {
    (key.x as usize).wrapping_mul(7).wrapping_add(key.z as usize * 3 + key.level as usize) % TILE_SLOTS
}

impl Default for Patch {
    fn default() -> Self {
        Self {
            faces: Default::default(),
            use_bounds: false,
            fine_table: Table::new(13, 0.0),
            coarse_table: Table::new(11, UNSET),
            bounds_table: Table::new(11, (0.0, 0.0)),
            tiles: Default::default(),
            share_fine: false,
            fine_tiles: Default::default(),
            fine_area: 0,
            last_corners: None,
        }
    }
}

impl Patch {
    /// Prepares the patch for the voxels of box `lo..=hi`. With `use_bounds`, `classify` may skip
    /// fine nodes for voxels far from the surface (worth it when voxels are far apart).
    ///
    /// # Runtime
    /// O(nodes in the box's rectangles) when they fit the dense limits (65,536 fine and 8,192
    /// coarse nodes), else O(table slots) to clear the tables used.
    pub fn reset(&mut self, m: &Model, lo: [i64; 3], hi: [i64; 3], use_bounds: bool) {
        self.use_bounds = use_bounds;
        // The tiles and corners may be another planet's: the patch is per thread, not per
        // generator.
        self.tiles = Default::default();
        self.fine_tiles = Default::default();
        self.share_fine = false;
        self.last_corners = None;
        self.fine_table.clear();
        self.coarse_table.clear();
        self.bounds_table.clear();
        let nc = m.grid.nc;
        let k = COARSE_FACTOR;
        let rects: [Option<[(u32, u32); 2]>; 6] = std::array::from_fn(|f| m.grid.face_rect(f as u8, lo, hi));
        let area = |r: &[(u32, u32); 2]| (r[0].1 - r[0].0 + 1) as u64 * (r[1].1 - r[1].0 + 1) as u64;
        let coarse_rect = |r: &[(u32, u32); 2]| {
            let c = |a: u32, b: u32| Span::new((a / k).min(nc - 1), (b / k).min(nc - 1) + 1);
            [c(r[0].0, r[0].1), c(r[1].0, r[1].1)]
        };
        let fine_area: u64 = rects.iter().flatten().map(area).sum();
        let coarse_area: u64 = rects.iter().flatten().map(&coarse_rect).map(|[a, b]| a.len as u64 * b.len as u64).sum();
        let (dense_fine, dense_coarse) = (fine_area <= DENSE_FINE_LIMIT, coarse_area <= DENSE_COARSE_LIMIT);
        self.fine_area = fine_area;
        for (f, rect) in self.faces.iter_mut().zip(&rects) {
            let Some(r) = rect else {
                f.active = false;
                continue;
            };
            f.active = true;
            f.fine = [Span::new(r[0].0, r[0].1), Span::new(r[1].0, r[1].1)];
            f.dense_fine = dense_fine;
            f.heights.clear();
            if dense_fine {
                f.heights.resize((f.fine[0].len * f.fine[1].len) as usize, f64::NAN);
            }
            f.coarse_span = coarse_rect(r);
            f.dense_coarse = dense_coarse;
            f.coarse.clear();
            f.bounds.clear();
            if dense_coarse {
                f.coarse.resize((f.coarse_span[0].len * f.coarse_span[1].len) as usize, UNSET);
                let cells = ((f.coarse_span[0].len - 1) * (f.coarse_span[1].len - 1)) as usize;
                f.bounds.resize(cells, (f64::NAN, 0.0));
            }
        }
    }

    /// Until the next reset, fine nodes the rectangles miss come from (and go to) the planet's
    /// shared [`FineField`]: for boxes that read every fine node under them (chunks, LOD levels
    /// 1 and 2), which the boxes above, below, and at the other dense levels read again. Far LOD
    /// nodes read a sparse few over many tiles and keep theirs to themselves.
    pub fn share_fine_nodes(&mut self) {
        self.share_fine = true;
    }

    /// Whether `classify` looks at height bounds before fine nodes (see [`Patch::reset`]).
    pub fn set_use_bounds(&mut self, use_bounds: bool) {
        self.use_bounds = use_bounds;
    }

    /// Fine nodes in the rectangles of the box the patch was reset for.
    pub fn fine_area(&self) -> u64 {
        self.fine_area
    }

    /// Bounds `(lo, hi)` of the terrain height at every voxel of box `lo..=hi` (inside the
    /// patch's box), from the bounds of the coarse cells under it (no fine noise), if the box
    /// lies over at most `max_cells` coarse cells, else `None` (bounds of far-apart LOD cells
    /// over many coarse cells cost more than they save).
    pub fn coarse_bounds_within(
        &mut self,
        m: &Model,
        lo: [i64; 3],
        hi: [i64; 3],
        max_cells: usize,
    ) -> Option<(f64, f64)> {
        let rects = self.coarse_cells_under(m, lo, hi, max_cells)?;
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for (face, rect) in rects.into_iter().enumerate() {
            let Some(([ci0, ci1, cj0, cj1], _)) = rect else { continue };
            for cj in cj0..=cj1 {
                for ci in ci0..=ci1 {
                    let (l, h) = self.cell_bounds(m, face as u8, ci, cj);
                    min = min.min(l);
                    max = max.max(h);
                }
            }
        }
        Some((min, max))
    }

    /// The least and greatest `land`, `deep` and `fold` the voxels of box `lo..=hi` can
    /// interpolate (up to rounding), if the box lies over at most `max_cells` coarse cells: per
    /// coarse cell under it, the bilinear fields at the corners of the part of the cell the
    /// box's fine nodes span (a bilinear function takes its extremes over a rectangle at its
    /// corners), so a small box gets the narrow ranges of its own part of a cell.
    pub fn coarse_ranges(&mut self, m: &Model, lo: [i64; 3], hi: [i64; 3], max_cells: usize) -> Option<CoarseRanges> {
        let rects = self.coarse_cells_under(m, lo, hi, max_cells)?;
        let k = COARSE_FACTOR;
        let mut r = CoarseRanges::EMPTY;
        for (face, rect) in rects.into_iter().enumerate() {
            let Some(([ci0, ci1, cj0, cj1], [(i0, i1), (j0, j1)])) = rect else { continue };
            // The fraction of coarse cell `c` (along one axis) the fine nodes `a..=b` span.
            let part = |c: u32, a: u32, b: u32| {
                let t = |v: u32| f64::from(v.saturating_sub(c * k).min(k)) / f64::from(k);
                [t(a), t(b)]
            };
            for cj in cj0..=cj1 {
                for ci in ci0..=ci1 {
                    let n = self.coarse_corners(m, face as u8, ci, cj);
                    for tx in part(ci, i0, i1) {
                        for ty in part(cj, j0, j1) {
                            let f = |v: fn(&CoarseNode) -> f64| bilerp(v(&n[0]), v(&n[1]), v(&n[2]), v(&n[3]), tx, ty);
                            r.include(f(|n| n.land), f(|n| n.deep), f(|n| n.fold));
                        }
                    }
                }
            }
        }
        Some(r)
    }

    /// Per face, the coarse cells (`[ci0, ci1, cj0, cj1]`, inclusive) holding every voxel of box
    /// `lo..=hi` on the patch's faces, with the fine node rectangle they come from
    /// ([`Grid::face_rect`](crate::grid::Grid::face_rect)); `None` if they are more than
    /// `max_cells`.
    fn coarse_cells_under(
        &self,
        m: &Model,
        lo: [i64; 3],
        hi: [i64; 3],
        max_cells: usize,
    ) -> Option<[Option<CellsUnder>; 6]> {
        let (k, last) = (COARSE_FACTOR, m.grid.nc - 1);
        let mut rects = [None; 6];
        let mut cells = 0usize;
        for (face, rect) in rects.iter_mut().enumerate() {
            if !self.faces[face].active {
                continue;
            }
            let Some(fine @ [(i0, i1), (j0, j1)]) = m.grid.face_rect(face as u8, lo, hi) else { continue };
            // Each voxel's fine cell `c` (and `c + 1`) lies in the rectangle; its coarse cell is
            // `c / k`.
            let r = [i0 / k, (i1 / k).min(last), j0 / k, (j1 / k).min(last)];
            cells += (r[1] - r[0] + 1) as usize * (r[3] - r[2] + 1) as usize;
            *rect = Some((r, fine));
        }
        (cells <= max_cells).then_some(rects)
    }

    /// Exact extremes of the fine height nodes under box `lo..=hi`: every voxel's height
    /// (clamped bilinear) lies between them. Computes those nodes.
    pub fn fine_bounds(&mut self, m: &Model, lo: [i64; 3], hi: [i64; 3]) -> (f64, f64) {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for face in 0..6u8 {
            if !self.faces[face as usize].active {
                continue;
            }
            let Some([(i0, i1), (j0, j1)]) = m.grid.face_rect(face, lo, hi) else { continue };
            for j in j0..=j1 {
                let f = &self.faces[face as usize];
                // A row inside the face's rectangle: read it as a slice.
                if f.dense_fine
                    && let (Some(a0), Some(a1), Some(b)) =
                        (f.fine[0].offset(i0), f.fine[0].offset(i1), f.fine[1].offset(j))
                {
                    let row = b * f.fine[0].len as usize;
                    for (a, i) in (row + a0..=row + a1).zip(i0..) {
                        let mut h = self.faces[face as usize].heights[a];
                        if h.is_nan() {
                            h = self.height(m, face, i, j);
                        }
                        min = min.min(h);
                        max = max.max(h);
                    }
                    continue;
                }
                for i in i0..=i1 {
                    let h = self.height(m, face, i, j);
                    min = min.min(h);
                    max = max.max(h);
                }
            }
        }
        (min, max)
    }

    /// [`Source::coarse`] for faces whose coarse nodes are in the table (out of line: the
    /// dense path stays small enough to inline into the per-voxel loops).
    #[inline(never)]
    fn coarse_in_table(&mut self, m: &Model, face: u8, ci: u32, cj: u32) -> CoarseNode {
        let key = Table::<CoarseNode>::key(face, ci, cj);
        if let Some(v) = self.coarse_table.get(key) {
            return v;
        }
        let v = self.shared_coarse(m, face, ci, cj);
        self.coarse_table.put(key, v);
        v
    }

    /// Coarse node `(ci, cj)` of `face` from the planet's shared tiles ([`CoarseField`]),
    /// through the few tiles this patch used last (no lock for those).
    #[inline(never)]
    fn shared_coarse(&mut self, m: &Model, face: u8, ci: u32, cj: u32) -> CoarseNode {
        let key = CoarseField::key(face, ci, cj);
        let slot = tile_slot(key);
        if let Some((k, tile)) = &self.tiles[slot]
            && *k == key
        {
            return CoarseField::node(m, tile, face, ci, cj);
        }
        let tile = m.coarse.tile(key);
        let v = CoarseField::node(m, &tile, face, ci, cj);
        self.tiles[slot] = Some((key, tile));
        v
    }

    /// Fine node `(i, j)` of `face` from the face's rectangle or the table, `compute`d (with
    /// this patch as the source of its coarse nodes) and kept on a miss: what
    /// [`Source::height`] and [`Source::height_given_relief`] share.
    #[inline(always)]
    fn fine_height(&mut self, m: &Model, face: u8, i: u32, j: u32, compute: impl FnOnce(&mut Self) -> f64) -> f64 {
        let f = &self.faces[face as usize];
        if f.active && !f.dense_fine {
            return self.fine_height_in_table(face, i, j, compute);
        }
        if f.active
            && let (Some(a), Some(b)) = (f.fine[0].offset(i), f.fine[1].offset(j))
        {
            let idx = b * f.fine[0].len as usize + a;
            let v = f.heights[idx];
            if !v.is_nan() {
                return v;
            }
            let v = if self.share_fine { self.shared_fine(m, face, i, j, compute) } else { compute(self) };
            self.faces[face as usize].heights[idx] = v;
            return v;
        }
        compute(self)
    }

    /// Fine node `(i, j)` of `face` from the planet's shared fine tiles ([`FineField`]),
    /// through the few tiles this patch used last; `compute`d and kept there on a miss.
    #[inline(never)]
    fn shared_fine(&mut self, m: &Model, face: u8, i: u32, j: u32, compute: impl FnOnce(&mut Self) -> f64) -> f64 {
        let key = FineField::key(face, i, j);
        let slot = tile_slot(key);
        if !matches!(&self.fine_tiles[slot], Some((k, _)) if *k == key) {
            self.fine_tiles[slot] = Some((key, m.fine.tile(key)));
        }
        let Some((_, tile)) = &self.fine_tiles[slot] else { return compute(self) };
        if let Some(v) = FineField::get(tile, i, j) {
            return v;
        }
        let tile = Arc::clone(tile);
        let v = compute(self);
        FineField::set(&tile, i, j, v);
        v
    }

    /// [`Patch::fine_height`] for faces whose fine nodes are in the table (out of line: the
    /// dense path stays small enough to inline into the per-voxel loops).
    #[inline(never)]
    fn fine_height_in_table(&mut self, face: u8, i: u32, j: u32, compute: impl FnOnce(&mut Self) -> f64) -> f64 {
        let key = Table::<f64>::key(face, i, j);
        if let Some(v) = self.fine_table.get(key) {
            return v;
        }
        let v = compute(self);
        self.fine_table.put(key, v);
        v
    }

    fn cell_bounds(&mut self, m: &Model, face: u8, ci: u32, cj: u32) -> (f64, f64) {
        let f = &self.faces[face as usize];
        if !f.dense_coarse {
            let key = Table::<(f64, f64)>::key(face, ci, cj);
            if let Some(v) = self.bounds_table.get(key) {
                return v;
            }
            let v = m.cell_bounds(face, ci, cj, self);
            self.bounds_table.put(key, v);
            return v;
        }
        let [si, sj] = f.coarse_span;
        let idx = match (si.offset(ci), sj.offset(cj)) {
            (Some(a), Some(b)) if a + 1 < si.len as usize && b + 1 < sj.len as usize => {
                Some(b * (si.len as usize - 1) + a)
            }
            _ => None,
        };
        if let Some(idx) = idx {
            let v = f.bounds[idx];
            if !v.0.is_nan() {
                return v;
            }
            let v = m.cell_bounds(face, ci, cj, self);
            self.faces[face as usize].bounds[idx] = v;
            v
        } else {
            m.cell_bounds(face, ci, cj, self)
        }
    }
}

impl Source for Patch {
    /// Consecutive voxels and cells mostly lie in one coarse cell: its corners are kept.
    #[inline(always)]
    fn coarse_corners(&mut self, m: &Model, face: u8, ci: u32, cj: u32) -> [CoarseNode; 4] {
        if let Some((k, n)) = &self.last_corners
            && *k == (face, ci, cj)
        {
            return *n;
        }
        let n = [
            self.coarse(m, face, ci, cj),
            self.coarse(m, face, ci + 1, cj),
            self.coarse(m, face, ci, cj + 1),
            self.coarse(m, face, ci + 1, cj + 1),
        ];
        self.last_corners = Some(((face, ci, cj), n));
        n
    }

    #[inline(always)]
    fn coarse(&mut self, m: &Model, face: u8, ci: u32, cj: u32) -> CoarseNode {
        let f = &mut self.faces[face as usize];
        if f.active && !f.dense_coarse {
            return self.coarse_in_table(m, face, ci, cj);
        }
        if f.active
            && let (Some(a), Some(b)) = (f.coarse_span[0].offset(ci), f.coarse_span[1].offset(cj))
        {
            let slot = &mut f.coarse[b * f.coarse_span[0].len as usize + a];
            if !slot.land.is_nan() {
                return *slot;
            }
            let idx = b * f.coarse_span[0].len as usize + a;
            let v = self.shared_coarse(m, face, ci, cj);
            self.faces[face as usize].coarse[idx] = v;
            return v;
        }
        self.shared_coarse(m, face, ci, cj)
    }

    /// Two adjacent rows of the face's rectangle when the cell lies in it and its nodes are
    /// computed (a chunk's voxels read nodes their box's bounds computed): four loads.
    #[inline(always)]
    fn height_corners(&mut self, m: &Model, face: u8, i: u32, j: u32) -> [f64; 4] {
        let f = &self.faces[face as usize];
        if f.active
            && f.dense_fine
            && let (Some(a), Some(b)) = (f.fine[0].offset(i), f.fine[1].offset(j))
            && a + 1 < f.fine[0].len as usize
            && b + 1 < f.fine[1].len as usize
        {
            let w = f.fine[0].len as usize;
            let (r0, r1) = (b * w + a, (b + 1) * w + a);
            let v = [f.heights[r0], f.heights[r0 + 1], f.heights[r1], f.heights[r1 + 1]];
            if !v.iter().any(|h| h.is_nan()) {
                return v;
            }
        }
        corner_heights(self, m, face, i, j)
    }

    #[inline(always)]
    fn height_given_relief(&mut self, m: &Model, face: u8, i: u32, j: u32, relief: Relief) -> f64 {
        self.fine_height(m, face, i, j, |_| m.height_with_relief(face, i, j, relief))
    }

    #[inline(always)]
    fn height(&mut self, m: &Model, face: u8, i: u32, j: u32) -> f64 {
        self.fine_height(m, face, i, j, |patch| m.height_node(face, i, j, patch))
    }

    #[inline]
    fn height_bounds(&mut self, m: &Model, g: GridPos) -> Option<(f64, f64)> {
        if !self.use_bounds {
            return None;
        }
        let c = m.grid.fine_cell(g);
        Some(self.cell_bounds(m, g.face, c.i / COARSE_FACTOR, c.j / COARSE_FACTOR))
    }
}
