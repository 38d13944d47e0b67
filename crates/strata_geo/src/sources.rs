//! [`Source`]s of grid-node values: [`Direct`] (single voxels), one rectangle of nodes per cube
//! face ([`Patch`]: chunks and small LOD nodes), or hash maps ([`NodeMaps`]: large LOD nodes,
//! whose cells are far apart). Each computes a node at most once per call and returns exactly
//! what [`Model::coarse_node`] and [`Model::height_node`] return.

use crate::fields::CoarseNode;
use crate::grid::{COARSE_FACTOR, GridPos};
use crate::model::Model;
use rustc_hash::FxHashMap;

/// Supplies grid-node values to [`Model::classify`]. Implementations may cache; they must return
/// exactly [`Model::coarse_node`] and [`Model::height_node`].
pub(crate) trait Source {
    /// Coarse node `(ci, cj)` of `face`.
    fn coarse(&mut self, m: &Model, face: u8, ci: u32, cj: u32) -> CoarseNode;
    /// Height at fine node `(i, j)` of `face`.
    fn height(&mut self, m: &Model, face: u8, i: u32, j: u32) -> f64;
    /// Optional cheap bounds `(lo, hi)` of the height at `g` (see [`Model::cell_bounds`]); when
    /// given, `classify` decides voxels far from the surface without fine nodes.
    fn height_bounds(&mut self, _m: &Model, _g: GridPos) -> Option<(f64, f64)> {
        None
    }
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
        let n = m.coarse_node(face, ci, cj);
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

const UNSET: CoarseNode = CoarseNode { land: f64::NAN, mask: 0.0, ridge: 0.0, fold: 0.0, deep: 0.0, ice: 0.0 };

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

/// The nodes of one face a box needs.
#[derive(Debug, Default)]
struct FacePatch {
    active: bool,
    fine: [Span; 2],
    heights: Vec<f64>,
    coarse_span: [Span; 2],
    coarse: Vec<CoarseNode>,
    /// Height bounds per coarse cell (`lo` NaN = not computed); cells span one less than nodes.
    bounds: Vec<(f64, f64)>,
}

/// Per-face rectangles of lazily computed nodes, covering one box of voxels.
#[derive(Debug, Default)]
pub(crate) struct Patch {
    faces: [FacePatch; 6],
    use_bounds: bool,
}

impl Patch {
    /// Fine nodes the patch of box `lo..=hi` would hold (to choose between a patch and hash maps).
    pub fn area(m: &Model, lo: [i64; 3], hi: [i64; 3]) -> u64 {
        (0..6u8)
            .filter_map(|f| m.grid.face_rect(f, lo, hi))
            .map(|[a, b]| (a.1 - a.0 + 1) as u64 * (b.1 - b.0 + 1) as u64)
            .sum()
    }

    /// Prepares the patch for the voxels of box `lo..=hi`. With `use_bounds`, `classify` may skip
    /// fine nodes for voxels far from the surface (worth it when voxels are far apart).
    pub fn reset(&mut self, m: &Model, lo: [i64; 3], hi: [i64; 3], use_bounds: bool) {
        self.use_bounds = use_bounds;
        let nc = m.grid.nc;
        for (face, f) in self.faces.iter_mut().enumerate() {
            let Some([(i0, i1), (j0, j1)]) = m.grid.face_rect(face as u8, lo, hi) else {
                f.active = false;
                continue;
            };
            f.active = true;
            f.fine = [Span::new(i0, i1), Span::new(j0, j1)];
            f.heights.clear();
            f.heights.resize((f.fine[0].len * f.fine[1].len) as usize, f64::NAN);
            let k = COARSE_FACTOR;
            let c = |a: u32, b: u32| Span::new((a / k).min(nc - 1), (b / k).min(nc - 1) + 1);
            f.coarse_span = [c(i0, i1), c(j0, j1)];
            f.coarse.clear();
            f.coarse.resize((f.coarse_span[0].len * f.coarse_span[1].len) as usize, UNSET);
            f.bounds.clear();
            f.bounds.resize(((f.coarse_span[0].len - 1) * (f.coarse_span[1].len - 1)) as usize, (f64::NAN, 0.0));
        }
    }

    /// Bounds `(lo, hi)` of the terrain height at every voxel of box `lo..=hi` (inside the
    /// patch's box), from the bounds of the coarse cells under it (no fine noise).
    pub fn coarse_bounds(&mut self, m: &Model, lo: [i64; 3], hi: [i64; 3]) -> (f64, f64) {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        let (k, last) = (COARSE_FACTOR, m.grid.nc - 1);
        for face in 0..6u8 {
            if !self.faces[face as usize].active {
                continue;
            }
            let Some([(i0, i1), (j0, j1)]) = m.grid.face_rect(face, lo, hi) else { continue };
            // Each voxel's fine cell `c` (and `c + 1`) lies in the rectangle; its height lies in
            // the bounds of coarse cell `c / k`.
            for cj in j0 / k..=(j1 / k).min(last) {
                for ci in i0 / k..=(i1 / k).min(last) {
                    let (l, h) = self.cell_bounds(m, face, ci, cj);
                    min = min.min(l);
                    max = max.max(h);
                }
            }
        }
        (min, max)
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
                for i in i0..=i1 {
                    let h = self.height(m, face, i, j);
                    min = min.min(h);
                    max = max.max(h);
                }
            }
        }
        (min, max)
    }

    fn cell_bounds(&mut self, m: &Model, face: u8, ci: u32, cj: u32) -> (f64, f64) {
        let f = &self.faces[face as usize];
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
    #[inline(always)]
    fn coarse(&mut self, m: &Model, face: u8, ci: u32, cj: u32) -> CoarseNode {
        let f = &mut self.faces[face as usize];
        if f.active
            && let (Some(a), Some(b)) = (f.coarse_span[0].offset(ci), f.coarse_span[1].offset(cj))
        {
            let slot = &mut f.coarse[b * f.coarse_span[0].len as usize + a];
            if slot.land.is_nan() {
                *slot = m.coarse_node(face, ci, cj);
            }
            return *slot;
        }
        m.coarse_node(face, ci, cj)
    }

    #[inline]
    fn height(&mut self, m: &Model, face: u8, i: u32, j: u32) -> f64 {
        let f = &self.faces[face as usize];
        if f.active
            && let (Some(a), Some(b)) = (f.fine[0].offset(i), f.fine[1].offset(j))
        {
            let idx = b * f.fine[0].len as usize + a;
            let v = f.heights[idx];
            if !v.is_nan() {
                return v;
            }
            let v = m.height_node(face, i, j, self);
            self.faces[face as usize].heights[idx] = v;
            return v;
        }
        m.height_node(face, i, j, self)
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

type Key = (u8, u32, u32);

/// Hash maps of nodes, for LOD nodes too large for a [`Patch`].
#[derive(Debug, Default)]
pub(crate) struct NodeMaps {
    coarse: FxHashMap<Key, CoarseNode>,
    heights: FxHashMap<Key, f64>,
    bounds: FxHashMap<Key, (f64, f64)>,
}

impl NodeMaps {
    /// Forgets every node (keeps the allocations).
    pub fn clear(&mut self) {
        self.coarse.clear();
        self.heights.clear();
        self.bounds.clear();
    }
}

impl Source for NodeMaps {
    #[inline]
    fn coarse(&mut self, m: &Model, face: u8, ci: u32, cj: u32) -> CoarseNode {
        *self.coarse.entry((face, ci, cj)).or_insert_with(|| m.coarse_node(face, ci, cj))
    }

    #[inline]
    fn height(&mut self, m: &Model, face: u8, i: u32, j: u32) -> f64 {
        if let Some(&v) = self.heights.get(&(face, i, j)) {
            return v;
        }
        let v = m.height_node(face, i, j, self);
        self.heights.insert((face, i, j), v);
        v
    }

    fn height_bounds(&mut self, m: &Model, g: GridPos) -> Option<(f64, f64)> {
        let c = m.grid.fine_cell(g);
        let key = (g.face, c.i / COARSE_FACTOR, c.j / COARSE_FACTOR);
        if let Some(&v) = self.bounds.get(&key) {
            return Some(v);
        }
        let v = m.cell_bounds(key.0, key.1, key.2, self);
        self.bounds.insert(key, v);
        Some(v)
    }
}
