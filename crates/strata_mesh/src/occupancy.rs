//! Padded occupancy bit grids: the chunk plus one boundary layer from each face neighbour.
//!
//! Layout: a 34 × 34 grid of `u64` rows indexed by `(y + 1) + 34 · (z + 1)`; bit `x + 1` of a row
//! is the voxel at `(x, y, z)`, for `x, y, z` in `-1..=32`. Only the centre and the six face
//! layers are filled; the 12 edge strips and 8 corners stay 0 (the mesher has no diagonal
//! neighbours, so ambient occlusion treats them as empty).

use crate::classify::{AIR, FLUID, MaterialTable, OPAQUE, SHAPED, run_starts};
use crate::input::{Neighbor, Neighborhood};
use strata_core::{CHUNK_SIZE, Chunk, Face};

/// Padded edge length (32 + 2).
pub(crate) const PAD: usize = CHUNK_SIZE + 2;
/// Rows in a padded grid, plus one scratch row used while classifying ±X borders.
pub(crate) const GRID: usize = PAD * PAD + 1;
/// The scratch row (never read by culling or AO).
const SCRATCH: usize = PAD * PAD;
/// A row with every chunk-interior bit (`x` in `0..32`) set.
pub(crate) const INNER: u64 = 0xFFFF_FFFF << 1;

/// One padded bit grid.
pub(crate) type Grid = [u64; GRID];

/// The row index of padded coordinates (`yp = y + 1`, `zp = z + 1`).
#[inline]
pub(crate) const fn row(yp: usize, zp: usize) -> usize {
    yp + PAD * zp
}

/// The bit grids of one neighbourhood: opaque voxels, and one grid per transparent or fluid
/// material present in the centre chunk.
///
/// Invariant: `layers[..layer_count]` are the live layers; grids past it are a reuse pool, so
/// steady-state meshing allocates nothing.
pub(crate) struct Occupancy {
    /// Opaque solids.
    pub opaque: Box<Grid>,
    layers: Vec<(u16, Box<Grid>)>,
    layer_count: usize,
    /// Shaped voxels of the centre chunk (see [`crate::model`]): row `y + 32·z`, bit `x`.
    pub shaped: Box<[u32; CHUNK_SIZE * CHUNK_SIZE]>,
    /// Whether any bit of `shaped` is set.
    pub any_shaped: bool,
    /// Shaped voxels count as opaque cubes (LOD mips).
    shapes_as_cubes: bool,
    /// Scratch of [`Occupancy::seal_enclosed_shapes`]: open cells, reached shaped cells (zero
    /// between uses), the padded rows holding shaped voxels.
    open: Box<Grid>,
    reach: Box<Grid>,
    shaped_rows: Vec<(usize, u64)>,
    /// Per direction `d` (`Face as usize`): the shaped voxels whose side towards `−d` is full,
    /// which hide a cube face looking along `d` (allocated on first use).
    pub covers: Vec<Box<Grid>>,
    /// Whether any bit of `covers` is set.
    pub any_covers: bool,
}

fn zeroed_grid() -> Box<Grid> {
    let boxed: Box<[u64]> = vec![0; GRID].into_boxed_slice();
    match boxed.try_into() {
        Ok(g) => g,
        // Invariant: built with exactly GRID elements.
        Err(_) => unreachable!("grid has GRID rows"),
    }
}

impl Occupancy {
    pub(crate) fn new() -> Self {
        Self {
            opaque: zeroed_grid(),
            layers: Vec::new(),
            layer_count: 0,
            shaped: Box::new([0; CHUNK_SIZE * CHUNK_SIZE]),
            any_shaped: false,
            shapes_as_cubes: false,
            open: zeroed_grid(),
            reach: zeroed_grid(),
            shaped_rows: Vec::new(),
            covers: Vec::new(),
            any_covers: false,
        }
    }

    /// The live transparent / fluid layers: `(material, grid)`.
    pub(crate) fn layers(&self) -> &[(u16, Box<Grid>)] {
        &self.layers[..self.layer_count]
    }

    fn layer_index(&self, id: u16) -> Option<usize> {
        self.layers[..self.layer_count].iter().position(|(m, _)| *m == id)
    }

    fn layer_or_insert(&mut self, id: u16) -> usize {
        if let Some(i) = self.layer_index(id) {
            return i;
        }
        if self.layer_count == self.layers.len() {
            self.layers.push((id, zeroed_grid()));
        } else {
            let slot = &mut self.layers[self.layer_count];
            slot.0 = id;
            slot.1.fill(0);
        }
        self.layer_count += 1;
        self.layer_count - 1
    }

    /// Fills the grids from `hood`; with `shapes_as_cubes` (LOD mips), shaped voxels are opaque
    /// cubes, else they go to [`Occupancy::shaped`] (centre) or nowhere (borders: they hide
    /// nothing).
    ///
    /// # Runtime
    /// O(32³) for a dense centre (rows of one material cost one comparison pass and no lookups),
    /// O(32²) for a uniform one, plus O(32²) per border.
    pub(crate) fn build(&mut self, table: &MaterialTable, hood: &Neighborhood<'_>, shapes_as_cubes: bool) {
        self.opaque.fill(0);
        self.layer_count = 0;
        if self.any_shaped {
            self.shaped.fill(0);
            self.any_shaped = false;
        }
        self.shapes_as_cubes = shapes_as_cubes;
        match hood.center {
            Chunk::Uniform(m) => {
                for zp in 1..=CHUNK_SIZE {
                    for yp in 1..=CHUNK_SIZE {
                        self.fill_row(table, m.0, row(yp, zp), INNER, true);
                    }
                }
            }
            Chunk::Dense(d) => {
                for (i, ids) in d.as_slice().chunks_exact(CHUNK_SIZE).enumerate() {
                    let (y, z) = (i % CHUNK_SIZE, i / CHUNK_SIZE);
                    self.classify_row(table, ids, row(y + 1, z + 1), true);
                }
            }
        }
        for face in Face::ALL {
            self.border(table, face, hood.neighbor(face));
        }
        if self.any_covers {
            // The rows `mark_covers` set: those of the shaped voxels it read.
            for &(r, _) in &self.shaped_rows {
                self.covers.iter_mut().for_each(|g| g[r] = 0);
            }
            self.any_covers = false;
        }
        if self.any_shaped {
            self.seal_enclosed_shapes();
            self.mark_covers(table, hood.center);
        }
    }

    /// Fills [`Occupancy::covers`] from the shaped voxels left after sealing (in the rows of
    /// `shaped_rows`, which the next build clears).
    fn mark_covers(&mut self, table: &MaterialTable, center: &Chunk) {
        if self.covers.is_empty() {
            self.covers = (0..6).map(|_| zeroed_grid()).collect();
        }
        for &(r, _) in &self.shaped_rows {
            let (y, z) = (r % PAD - 1, r / PAD - 1);
            let mut rest = self.shaped[y + CHUNK_SIZE * z];
            while rest != 0 {
                let x = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                let id = center.get(strata_core::LocalPos::new(x as u8, y as u8, z as u8).index());
                let Some(shape) = table.shape(id.0) else { continue };
                for side in Face::ALL {
                    if shape.covers(side) {
                        self.covers[side.opposite() as usize][row(y + 1, z + 1)] |= 1 << (x + 1);
                        self.any_covers = true;
                    }
                }
            }
        }
    }

    /// Shaped voxels no open cell can see become opaque cubes: a shaped voxel is **reachable**
    /// when a face neighbour is open (neither opaque nor shaped: air, see-through materials,
    /// anything across a seam or in a neighbour chunk that is not opaque) or is a reachable
    /// shaped voxel (through its open parts). The others sit in pockets sealed by opaque cubes
    /// (buried slabs): nothing of them can be seen, so they are marked opaque — the greedy
    /// pass then draws no face towards them, and the model pass skips them.
    ///
    /// # Runtime
    /// O(32²) row operations per pass, one pass per step of the longest chain of shaped voxels
    /// (a few at terrain densities).
    fn seal_enclosed_shapes(&mut self) {
        const MASK: u64 = (1 << PAD) - 1;
        // The padded rows holding shaped voxels, and those voxels.
        self.shaped_rows.clear();
        for (i, &bits) in self.shaped.iter().enumerate() {
            if bits != 0 {
                self.shaped_rows.push((row(i % CHUNK_SIZE + 1, i / CHUNK_SIZE + 1), u64::from(bits) << 1));
            }
        }
        for r in 0..PAD * PAD {
            self.open[r] = !self.opaque[r] & MASK;
        }
        for &(r, s) in &self.shaped_rows {
            self.open[r] &= !s;
        }
        let grow = |g: &Grid, r: usize| g[r] << 1 | g[r] >> 1 | g[r - 1] | g[r + 1] | g[r - PAD] | g[r + PAD];
        let mut sealed_any = false;
        for &(r, s) in &self.shaped_rows {
            self.reach[r] = s & grow(&self.open, r);
            sealed_any |= self.reach[r] != s;
        }
        if sealed_any {
            // Spread through shaped neighbours until nothing changes.
            loop {
                let mut changed = false;
                for &(r, s) in &self.shaped_rows {
                    let next = s & (self.reach[r] | grow(&self.reach, r));
                    if next != self.reach[r] {
                        self.reach[r] = next;
                        changed = true;
                    }
                }
                if !changed {
                    break;
                }
            }
        }
        let mut any = false;
        for &(r, s) in &self.shaped_rows {
            let kept = self.reach[r];
            self.reach[r] = 0;
            self.opaque[r] |= s & !kept;
            let (yp, zp) = (r % PAD, r / PAD);
            self.shaped[yp - 1 + CHUNK_SIZE * (zp - 1)] = (kept >> 1) as u32;
            any |= kept != 0;
        }
        self.any_shaped = any;
    }

    /// Marks `bits` of row `r` as material `id`.
    #[inline(always)]
    fn fill_row(&mut self, table: &MaterialTable, id: u16, r: usize, bits: u64, create: bool) {
        match table.code(id) {
            AIR => {}
            OPAQUE => self.opaque[r] |= bits,
            SHAPED => self.fill_shaped(table, id, r, bits, create),
            _ => self.fill_layer(id, r, bits, create),
        }
    }

    /// The shaped part of [`Occupancy::fill_row`]: for LOD mips, cubes (opaque, or a layer of
    /// their own for transparent materials), else the centre's bits in `shaped` (padded row
    /// `r`, bits `1..=32`).
    #[inline(never)]
    fn fill_shaped(&mut self, table: &MaterialTable, id: u16, r: usize, bits: u64, create: bool) {
        if self.shapes_as_cubes {
            if table.shape(id).is_some_and(|g| g.transparent) {
                self.fill_layer(id, r, bits, create);
            } else {
                self.opaque[r] |= bits;
            }
        } else if create {
            let (y, z) = (r % PAD - 1, r / PAD - 1);
            self.shaped[y + CHUNK_SIZE * z] |= (bits >> 1) as u32;
            self.any_shaped = true;
        }
    }

    /// The see-through part of [`Occupancy::fill_row`]: marks `bits` in the layer of `id`,
    /// creating it if `create` (centre voxels) and skipping it otherwise (border voxels of a
    /// material the centre lacks).
    #[inline(never)]
    fn fill_layer(&mut self, id: u16, r: usize, bits: u64, create: bool) {
        let layer = if create { Some(self.layer_or_insert(id)) } else { self.layer_index(id) };
        if let Some(l) = layer {
            self.layers[l].1[r] |= bits;
        }
    }

    /// Classifies 32 ids along x into row `r` (bits 1..=32), one table lookup per run of equal
    /// ids (terrain rows hold one to a few runs).
    #[inline(always)]
    fn classify_row(&mut self, table: &MaterialTable, ids: &[u16], r: usize, create: bool) {
        let Ok(ids) = <&[u16; CHUNK_SIZE]>::try_from(ids) else {
            // Invariant: callers pass exactly one row of CHUNK_SIZE ids.
            unreachable!("a row has CHUNK_SIZE ids")
        };
        let Some(starts) = run_starts(ids) else {
            // Uniform (most of a terrain chunk): one lookup.
            self.fill_row(table, ids[0], r, INNER, create);
            return;
        };
        let mut rest = starts;
        while rest != 0 {
            let x0 = rest.trailing_zeros();
            rest &= rest - 1;
            let x1 = if rest == 0 { CHUNK_SIZE as u32 } else { rest.trailing_zeros() };
            let bits = (((1u64 << (x1 - x0)) - 1) << x0) << 1;
            self.fill_row(table, ids[x0 as usize], r, bits, create);
        }
    }

    /// Fills the boundary layer across `face` following the [`Neighbor`] policy.
    fn border(&mut self, table: &MaterialTable, face: Face, neighbor: Neighbor<'_>) {
        let chunk = match neighbor {
            Neighbor::Seam => {
                // Solids close on a seam (air across it); fluids continue across it, so no wall
                // of water stands at an LOD border.
                for (id, grid) in &mut self.layers[..self.layer_count] {
                    if table.code(*id) == FLUID {
                        fill_border_plane(grid, face);
                    }
                }
                return;
            }
            Neighbor::Unloaded => None,
            Neighbor::Loaded(c) => Some(c),
        };
        const LAST: usize = CHUNK_SIZE - 1;
        const EDGE: usize = CHUNK_SIZE + 1;
        match face {
            Face::NegX | Face::PosX => {
                let (bit, nx) = if face == Face::NegX { (0, LAST) } else { (EDGE, 0) };
                for z in 0..CHUNK_SIZE {
                    match chunk {
                        None => (0..CHUNK_SIZE).for_each(|y| self.opaque[row(y + 1, z + 1)] |= 1 << bit),
                        Some(Chunk::Uniform(m)) => {
                            (0..CHUNK_SIZE).for_each(|y| self.fill_row(table, m.0, row(y + 1, z + 1), 1 << bit, false));
                        }
                        Some(Chunk::Dense(d)) => {
                            // Classify the column along y as a row into the scratch row, then
                            // move its bits to the border bit of each row.
                            let ids = d.as_slice();
                            let column: [u16; CHUNK_SIZE] =
                                std::array::from_fn(|y| ids[nx + CHUNK_SIZE * y + CHUNK_SIZE * CHUNK_SIZE * z]);
                            self.classify_row(table, &column, SCRATCH, false);
                            let layers = self.layer_count;
                            for grid in std::iter::once(&mut self.opaque)
                                .chain(self.layers[..layers].iter_mut().map(|l| &mut l.1))
                            {
                                let bits = grid[SCRATCH] >> 1;
                                grid[SCRATCH] = 0;
                                // Rows (y + 1, z + 1) for y in 0..32 are contiguous: branch-free.
                                let base = row(1, z + 1);
                                for (y, cell) in grid[base..base + CHUNK_SIZE].iter_mut().enumerate() {
                                    *cell |= ((bits >> y) & 1) << bit;
                                }
                            }
                        }
                    }
                }
            }
            _ => {
                // Rows along x: ±Y borders vary z, ±Z borders vary y.
                let (outer_fixed, neighbour_layer) = if face.is_positive() { (EDGE, 0) } else { (0, LAST) };
                let y_border = matches!(face, Face::NegY | Face::PosY);
                for k in 0..CHUNK_SIZE {
                    let r = if y_border { row(outer_fixed, k + 1) } else { row(k + 1, outer_fixed) };
                    match chunk {
                        None => self.opaque[r] |= INNER,
                        Some(Chunk::Uniform(m)) => self.fill_row(table, m.0, r, INNER, false),
                        Some(Chunk::Dense(d)) => {
                            let (ny, nz) = if y_border { (neighbour_layer, k) } else { (k, neighbour_layer) };
                            let start = CHUNK_SIZE * ny + CHUNK_SIZE * CHUNK_SIZE * nz;
                            self.classify_row(table, &d.as_slice()[start..start + CHUNK_SIZE], r, false);
                        }
                    }
                }
            }
        }
    }
}

/// Sets every cell of the padding plane across `face` in `grid`.
fn fill_border_plane(grid: &mut Grid, face: Face) {
    const EDGE: usize = CHUNK_SIZE + 1;
    match face {
        Face::NegX | Face::PosX => {
            let bit = if face == Face::NegX { 0 } else { EDGE };
            for z in 1..=CHUNK_SIZE {
                for y in 1..=CHUNK_SIZE {
                    grid[row(y, z)] |= 1 << bit;
                }
            }
        }
        _ => {
            let fixed = if face.is_positive() { EDGE } else { 0 };
            let y_border = matches!(face, Face::NegY | Face::PosY);
            for k in 1..=CHUNK_SIZE {
                grid[if y_border { row(fixed, k) } else { row(k, fixed) }] |= INNER;
            }
        }
    }
}

/// Whether the padded cell at `(x, y, z)` (each in `-1..=32`) is set in `grid`.
#[inline]
pub(crate) fn is_set(grid: &Grid, x: i32, y: i32, z: i32) -> bool {
    (grid[row((y + 1) as usize, (z + 1) as usize)] >> (x + 1)) & 1 != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::{DenseChunk, LocalPos, MaterialId, MaterialKind};

    #[test]
    fn borders_follow_policy() {
        let table = MaterialTable::from_kinds(&[MaterialKind::Air, MaterialKind::Solid, MaterialKind::Fluid]);
        let center = Chunk::Uniform(MaterialId(2));
        let mut dense = DenseChunk::filled(MaterialId::AIR);
        dense.set(LocalPos::new(31, 4, 5).index(), MaterialId(1));
        dense.set(LocalPos::new(31, 6, 5).index(), MaterialId(2));
        let dense = Chunk::Dense(dense);
        let water = Chunk::Uniform(MaterialId(2));
        let hood = Neighborhood {
            center: &center,
            neighbors: [
                Neighbor::Loaded(&dense),
                Neighbor::Unloaded,
                Neighbor::Seam,
                Neighbor::Loaded(&water),
                Neighbor::Unloaded,
                Neighbor::Seam,
            ],
        };
        let mut occ = Occupancy::new();
        occ.build(&table, &hood, false);
        assert!(is_set(&occ.opaque, -1, 4, 5));
        assert!(!is_set(&occ.opaque, -1, 6, 5));
        assert_eq!(occ.layers().len(), 1);
        let water_grid = &occ.layers()[0].1;
        assert!(is_set(water_grid, -1, 6, 5) && is_set(water_grid, 3, 32, 3) && is_set(water_grid, 0, 0, 0));
        assert!(is_set(&occ.opaque, 32, 0, 0) && is_set(&occ.opaque, 7, 7, -1));
        assert!(!is_set(&occ.opaque, 3, -1, 3) && !is_set(&occ.opaque, 3, 3, 32));
        assert!(!is_set(&occ.opaque, -1, -1, 3), "edges stay empty");
    }
}
