//! LOD grids ("mips"): 32³ cells per octree node, stored as 4×4×4 bricks of 8³ cells, each
//! uniform or dense, so a mostly uniform world costs almost nothing and an edit copies only
//! the bricks it touches.
//!
//! # Downsampling rule
//! A cell of a level-`k` grid stands for a 2×2×2 block of cells of its child (level `k − 1`;
//! at level 1 the child cells are voxels), downsampled by the one LOD rule of
//! [`strata_core::downsample`]: non-air when at least 4 of 8 are, then the most common column
//! top along the world's up (the surface the cell contains). Every cell of a grid at levels
//! 1..=5 lies in one chunk and uses that chunk's up ([`GridUp`]).

pub use super::cells::{CellBox, diff_box};
use super::node::NodeId;
use std::sync::Arc;
use strata_core::downsample::block_uniform;
/// The rule (shared with the stored summaries of chunks, which persist a chunk's half-resolution
/// cells by it).
pub use strata_core::downsample::downsample_cell;
use strata_core::{CHUNK_SIZE, CHUNK_VOLUME, Chunk, DenseChunk, HalfCells, MaterialId, Up, WorldUp};

const BRICK: usize = 8;
const BRICKS_PER_AXIS: usize = CHUNK_SIZE / BRICK;
const BRICK_COUNT: usize = BRICKS_PER_AXIS * BRICKS_PER_AXIS * BRICKS_PER_AXIS;
const BRICK_VOLUME: usize = BRICK * BRICK * BRICK;

/// The up of each cell of one node's grid ([`WorldUp::of_block`]: a cell no larger than a
/// chunk takes its chunk's up).
#[derive(Clone, Copy, Debug)]
pub enum GridUp {
    /// Every cell has this up (the grid lies in one chunk, or the world is flat).
    Fixed(Up),
    /// Cell `c` of the grid of a node whose smallest voxel is `min` and whose cells are `size`
    /// voxels wide has the up of the block `min + c·size`.
    Cells {
        /// The world's up.
        world: WorldUp,
        /// The node's smallest voxel.
        min: [i64; 3],
        /// Cell width in voxels.
        size: i64,
    },
}

impl GridUp {
    /// The cells of node `id`'s grid in a world whose up is `world`.
    pub fn of_node(world: WorldUp, id: NodeId) -> Self {
        if world == WorldUp::PlusY {
            return GridUp::Fixed(Up::PosY);
        }
        let level = id.level.min(26);
        let size = 1i64 << level;
        let min = id.key.to_array().map(|v| i64::from(v) * size * CHUNK_SIZE as i64);
        GridUp::Cells { world, min, size }
    }

    /// The up of cell `c`.
    #[inline]
    pub fn at(&self, c: [usize; 3]) -> Up {
        match *self {
            GridUp::Fixed(up) => up,
            GridUp::Cells { world, min, size } => {
                world.of_block(std::array::from_fn(|a| min[a] + c[a] as i64 * size), size)
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Brick {
    Uniform(u16),
    Dense(Arc<[u16; BRICK_VOLUME]>),
}

impl Brick {
    #[inline]
    fn get(&self, i: usize) -> u16 {
        match self {
            Brick::Uniform(m) => *m,
            Brick::Dense(d) => d[i],
        }
    }

    fn make_dense(&mut self) -> &mut [u16; BRICK_VOLUME] {
        if let Brick::Uniform(m) = *self {
            *self = Brick::Dense(Arc::new([m; BRICK_VOLUME]));
        }
        match self {
            Brick::Dense(d) => Arc::make_mut(d),
            // Invariant: converted just above.
            Brick::Uniform(_) => unreachable!("brick made dense above"),
        }
    }

    fn normalize(&mut self) {
        if let Brick::Dense(d) = self {
            let first = d[0];
            if d.iter().all(|&x| x == first) {
                *self = Brick::Uniform(first);
            }
        }
    }
}

/// A 32³ LOD grid: one material, or 64 bricks of 8³ cells (brick `bx + 4·by + 16·bz`, cell
/// `x + 8·y + 64·z` inside), each uniform or dense and shared between snapshots.
///
/// Invariant (kept by every mutation): a bricked grid has at least two different cells, and a
/// dense brick has at least two different cells; so equal grids are structurally equal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mip(Repr);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Repr {
    Uniform(MaterialId),
    Bricked(Arc<[Brick; BRICK_COUNT]>),
}

impl Default for Mip {
    fn default() -> Self {
        Mip::uniform(MaterialId::AIR)
    }
}

#[inline]
fn split(x: usize, y: usize, z: usize) -> (usize, usize) {
    let b = (x / BRICK) + BRICKS_PER_AXIS * (y / BRICK) + BRICKS_PER_AXIS * BRICKS_PER_AXIS * (z / BRICK);
    let c = (x % BRICK) + BRICK * (y % BRICK) + BRICK * BRICK * (z % BRICK);
    (b, c)
}

impl Mip {
    /// A grid filled with `m`.
    pub const fn uniform(m: MaterialId) -> Self {
        Mip(Repr::Uniform(m))
    }

    /// The cell at `(x, y, z)`, each in `0..32`.
    #[inline]
    pub fn get(&self, x: usize, y: usize, z: usize) -> MaterialId {
        match &self.0 {
            Repr::Uniform(m) => *m,
            Repr::Bricked(b) => {
                let (bi, ci) = split(x, y, z);
                MaterialId(b[bi].get(ci))
            }
        }
    }

    /// `Some(material)` if every cell holds it.
    pub fn as_uniform(&self) -> Option<MaterialId> {
        match self.0 {
            Repr::Uniform(m) => Some(m),
            Repr::Bricked(_) => None,
        }
    }

    /// The grid as a chunk (`x + 32·y + 1024·z`), for meshing.
    ///
    /// # Runtime
    /// O(1) for uniform grids, O(32³) otherwise.
    pub fn to_chunk(&self) -> Chunk {
        match self.0 {
            Repr::Uniform(m) => Chunk::Uniform(m),
            Repr::Bricked(_) => {
                let mut d = DenseChunk::filled(MaterialId::AIR);
                let out = d.as_mut_slice();
                for (i, v) in out.iter_mut().enumerate() {
                    *v = self.get(i % CHUNK_SIZE, (i / CHUNK_SIZE) % CHUNK_SIZE, i / (CHUNK_SIZE * CHUNK_SIZE)).0;
                }
                Chunk::Dense(d)
            }
        }
    }

    /// Bytes held on the heap: the brick table and the dense bricks (shared bricks counted in
    /// full).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Uniform(_) => 0,
            Repr::Bricked(b) => ARC_HEADER + size_of_val(&**b) + dense_bytes(b.iter()),
        }
    }

    fn bricks_mut(&mut self) -> &mut [Brick; BRICK_COUNT] {
        if let Repr::Uniform(m) = self.0 {
            self.0 = Repr::Bricked(Arc::new(std::array::from_fn(|_| Brick::Uniform(m.0))));
        }
        match &mut self.0 {
            Repr::Bricked(b) => Arc::make_mut(b),
            // Invariant: converted just above.
            Repr::Uniform(_) => unreachable!("mip made bricked above"),
        }
    }

    fn normalize(&mut self) {
        if let Repr::Bricked(b) = &self.0
            && let Brick::Uniform(first) = b[0]
            && b.iter().all(|x| *x == Brick::Uniform(first))
        {
            self.0 = Repr::Uniform(MaterialId(first));
        }
    }

    /// Recomputes the cells of octant `octant` (bit 0 = +x half, bit 1 = +y, bit 2 = +z) that
    /// depend on the child cells in the inclusive box `dirty` (child coordinates, `0..32`),
    /// from `child` with [`downsample_cell`], each parent cell with its up in `up`. Returns the
    /// parent cells rewritten (inclusive box).
    ///
    /// # Runtime
    /// O(cells in `dirty`); 8³ child blocks that are uniform fill 4³ parent cells at once.
    pub fn downsample_octant(&mut self, octant: usize, child: Cells<'_>, dirty: CellBox, up: GridUp) -> CellBox {
        let lo = dirty.min.map(|v| v & !1);
        let hi = dirty.max.map(|v| v | 1);
        let off = octant_offset(octant);
        let plo: [usize; 3] = std::array::from_fn(|a| off[a] + lo[a] / 2);
        let phi: [usize; 3] = std::array::from_fn(|a| off[a] + hi[a] / 2);
        if let Some(m) = child.uniform() {
            self.fill(plo, phi, m);
            return CellBox { min: plo, max: phi };
        }
        let bricks = self.bricks_mut();
        for bz in plo[2] / BRICK..=phi[2] / BRICK {
            for by in plo[1] / BRICK..=phi[1] / BRICK {
                for bx in plo[0] / BRICK..=phi[0] / BRICK {
                    let bi = bx + BRICKS_PER_AXIS * by + BRICKS_PER_AXIS * BRICKS_PER_AXIS * bz;
                    let b0 = [bx * BRICK, by * BRICK, bz * BRICK];
                    let r0: [usize; 3] = std::array::from_fn(|a| plo[a].max(b0[a]) - b0[a]);
                    let r1: [usize; 3] = std::array::from_fn(|a| phi[a].min(b0[a] + BRICK - 1) - b0[a]);
                    let whole = r0 == [0; 3] && r1 == [BRICK - 1; 3];
                    let mut buf = [0u16; BRICK_VOLUME];
                    if !whole {
                        match &bricks[bi] {
                            Brick::Uniform(m) => buf.fill(*m),
                            Brick::Dense(d) => buf.copy_from_slice(&d[..]),
                        }
                    }
                    // Each 4³ quarter of the parent brick comes from one 8³ block of the child.
                    for q in 0..8 {
                        let q0 = [(q & 1) * 4, ((q >> 1) & 1) * 4, (q >> 2) * 4];
                        let lo: [usize; 3] = std::array::from_fn(|a| r0[a].max(q0[a]));
                        let hi: [usize; 3] = std::array::from_fn(|a| r1[a].min(q0[a] + 3));
                        if (0..3).any(|a| lo[a] > hi[a]) {
                            continue;
                        }
                        let c0: [usize; 3] = std::array::from_fn(|a| 2 * (b0[a] + q0[a] - off[a]));
                        match child.block8(c0) {
                            Block8::Uniform(m) => for_cells(lo, hi, |i, _| buf[i] = m),
                            Block8::Brick(src) => for_cells(lo, hi, |i, p| {
                                let c: [usize; 3] = std::array::from_fn(|a| 2 * (p[a] - q0[a]));
                                let up = up.at(std::array::from_fn(|a| b0[a] + p[a]));
                                buf[i] =
                                    downsample_cell(gather(|x, y, z| src[x + BRICK * y + BRICK * BRICK * z], c), up);
                            }),
                            Block8::Chunk(src) if let Some(m) = block_uniform(src, c0) => {
                                for_cells(lo, hi, |i, _| buf[i] = m);
                            }
                            Block8::Chunk(src) => for_cells(lo, hi, |i, p| {
                                let c: [usize; 3] = std::array::from_fn(|a| c0[a] + 2 * (p[a] - q0[a]));
                                let up = up.at(std::array::from_fn(|a| b0[a] + p[a]));
                                buf[i] = downsample_cell(gather_dense(src, c), up);
                            }),
                        }
                    }
                    let first = buf[0];
                    bricks[bi] = if buf.iter().all(|&v| v == first) {
                        Brick::Uniform(first)
                    } else {
                        Brick::Dense(Arc::new(buf))
                    };
                }
            }
        }
        self.normalize();
        CellBox { min: plo, max: phi }
    }

    /// Sets every cell in the inclusive box to `m`.
    fn fill(&mut self, lo: [usize; 3], hi: [usize; 3], m: MaterialId) {
        if self.as_uniform() == Some(m) {
            return;
        }
        if lo == [0; 3] && hi == [CHUNK_SIZE - 1; 3] {
            *self = Mip::uniform(m);
            return;
        }
        let bricks = self.bricks_mut();
        for bz in lo[2] / BRICK..=hi[2] / BRICK {
            for by in lo[1] / BRICK..=hi[1] / BRICK {
                for bx in lo[0] / BRICK..=hi[0] / BRICK {
                    let bi = bx + BRICKS_PER_AXIS * by + BRICKS_PER_AXIS * BRICKS_PER_AXIS * bz;
                    let b0 = [bx * BRICK, by * BRICK, bz * BRICK];
                    let r0: [usize; 3] = std::array::from_fn(|a| lo[a].max(b0[a]) - b0[a]);
                    let r1: [usize; 3] = std::array::from_fn(|a| hi[a].min(b0[a] + BRICK - 1) - b0[a]);
                    let brick = &mut bricks[bi];
                    if r0 == [0; 3] && r1 == [BRICK - 1; 3] {
                        *brick = Brick::Uniform(m.0);
                        continue;
                    }
                    if brick.get(0) == m.0 && matches!(brick, Brick::Uniform(_)) {
                        continue;
                    }
                    let d = brick.make_dense();
                    for z in r0[2]..=r1[2] {
                        for y in r0[1]..=r1[1] {
                            for x in r0[0]..=r1[0] {
                                d[x + BRICK * y + BRICK * BRICK * z] = m.0;
                            }
                        }
                    }
                    brick.normalize();
                }
            }
        }
        self.normalize();
    }

    /// Writes a child's [`Contribution`] into octant `octant` (bit 0 = +x half, bit 1 = +y,
    /// bit 2 = +z): the same cells [`Mip::downsample_octant`] writes from the child's full
    /// cells. Returns the parent cells written (the octant).
    ///
    /// # Runtime
    /// O(1) per brick (bricks are shared, not copied).
    pub fn set_octant(&mut self, octant: usize, c: &Contribution) -> CellBox {
        let off = octant_offset(octant);
        let out = CellBox { min: off, max: off.map(|v| v + 15) };
        match &c.0 {
            Contrib::Uniform(m) => self.fill(out.min, out.max, *m),
            Contrib::Bricks(b) => {
                let bricks = self.bricks_mut();
                for (j, brick) in b.iter().enumerate() {
                    bricks[octant_brick(octant, j)] = brick.clone();
                }
                self.normalize();
            }
        }
        out
    }

    /// Converts a chunk (a generator sample) into a grid.
    pub fn from_chunk(chunk: &Chunk) -> Self {
        let mut mip = Mip::default();
        if let Some(m) = chunk.as_uniform() {
            return Mip::uniform(m);
        }
        let bricks = mip.bricks_mut();
        for (bi, brick) in bricks.iter_mut().enumerate() {
            let b0 = [bi % 4 * BRICK, (bi / 4) % 4 * BRICK, bi / 16 * BRICK];
            let mut cells = [0u16; BRICK_VOLUME];
            for (ci, c) in cells.iter_mut().enumerate() {
                let (x, y, z) = (b0[0] + ci % BRICK, b0[1] + (ci / BRICK) % BRICK, b0[2] + ci / (BRICK * BRICK));
                *c = chunk.get(strata_core::LocalPos::new(x as u8, y as u8, z as u8).index()).0;
            }
            *brick = Brick::Dense(Arc::new(cells));
            brick.normalize();
        }
        mip.normalize();
        mip
    }
}

/// An `Arc`'s two counters.
const ARC_HEADER: usize = 2 * size_of::<usize>();

/// Heap bytes of the dense bricks among `bricks` (each in its `Arc`).
fn dense_bytes<'a>(bricks: impl Iterator<Item = &'a Brick>) -> usize {
    bricks.filter(|b| matches!(b, Brick::Dense(_))).count() * (ARC_HEADER + BRICK_VOLUME * 2)
}

/// The smallest cell of octant `octant` of a grid.
fn octant_offset(octant: usize) -> [usize; 3] {
    [(octant & 1) * 16, ((octant >> 1) & 1) * 16, ((octant >> 2) & 1) * 16]
}

/// The grid brick index of brick `j` (bit 0 = +x, bit 1 = +y, bit 2 = +z) of octant `octant`.
fn octant_brick(octant: usize, j: usize) -> usize {
    let o = octant_offset(octant).map(|v| v / BRICK);
    let b = [o[0] + (j & 1), o[1] + ((j >> 1) & 1), o[2] + ((j >> 2) & 1)];
    b[0] + BRICKS_PER_AXIS * b[1] + BRICKS_PER_AXIS * BRICKS_PER_AXIS * b[2]
}

/// What one child gives its parent's grid: the 16³ cells of its octant (2×2×2 bricks of 8³,
/// each uniform or dense), downsampled from its 32³ cells by the rule in the module docs.
/// A released chunk keeps this instead of its voxels, so every coarser grid can still be
/// computed without them (at most 8 KiB; 2 bytes when uniform).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contribution(Contrib);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Contrib {
    Uniform(MaterialId),
    Bricks(Arc<[Brick; 8]>),
}

impl Contribution {
    /// Downsamples `child` (a chunk's 32³ voxels, whose blocks all have up `up`) to the 16³
    /// cells it gives its parent.
    ///
    /// # Runtime
    /// O(16³) downsampling (uniform 8³ blocks cost O(1)).
    pub fn of(child: Cells<'_>, up: Up) -> Self {
        let mut mip = Mip::default();
        mip.downsample_octant(0, child, CellBox::FULL, GridUp::Fixed(up));
        match &mip.0 {
            Repr::Uniform(m) => Contribution(Contrib::Uniform(*m)),
            Repr::Bricked(b) => {
                let bricks: [Brick; 8] = std::array::from_fn(|j| b[octant_brick(0, j)].clone());
                match bricks[0] {
                    Brick::Uniform(m) if bricks.iter().all(|x| *x == Brick::Uniform(m)) => {
                        Contribution(Contrib::Uniform(MaterialId(m)))
                    }
                    _ => Contribution(Contrib::Bricks(Arc::new(bricks))),
                }
            }
        }
    }

    /// The contribution of a chunk given by its cells at half resolution (as a stored summary
    /// keeps them): equal to [`Contribution::of`] the chunk.
    ///
    /// # Runtime
    /// O(16³) copies.
    pub fn of_half(cells: &HalfCells) -> Self {
        let HalfCells::Dense(c) = cells else {
            return Contribution(Contrib::Uniform(cells.as_uniform().unwrap_or(MaterialId::AIR)));
        };
        const H: usize = 2 * BRICK;
        let bricks: [Brick; 8] = std::array::from_fn(|j| {
            let o = [(j & 1) * BRICK, ((j >> 1) & 1) * BRICK, (j >> 2) * BRICK];
            let mut b = [0u16; BRICK_VOLUME];
            for_cells([0; 3], [BRICK - 1; 3], |i, [x, y, z]| {
                b[i] = c[(o[0] + x) + H * (o[1] + y) + H * H * (o[2] + z)];
            });
            let mut brick = Brick::Dense(Arc::new(b));
            brick.normalize();
            brick
        });
        match bricks[0] {
            Brick::Uniform(m) if bricks.iter().all(|x| *x == Brick::Uniform(m)) => {
                Contribution(Contrib::Uniform(MaterialId(m)))
            }
            _ => Contribution(Contrib::Bricks(Arc::new(bricks))),
        }
    }

    /// The same 16³ cells as [`HalfCells`] (the inverse of [`Contribution::of_half`]).
    ///
    /// # Runtime
    /// O(16³) copies (O(1) when uniform).
    pub fn to_half(&self) -> HalfCells {
        if let Some(m) = self.as_uniform() {
            return HalfCells::Uniform(m);
        }
        const H: usize = 2 * BRICK;
        let mut cells = Box::new([0u16; H * H * H]);
        for (i, c) in cells.iter_mut().enumerate() {
            *c = self.get(i % H, (i / H) % H, i / (H * H)).0;
        }
        HalfCells::from_cells(cells)
    }

    /// `Some(material)` if every cell holds it.
    pub fn as_uniform(&self) -> Option<MaterialId> {
        match self.0 {
            Contrib::Uniform(m) => Some(m),
            Contrib::Bricks(_) => None,
        }
    }

    /// The cell at `(x, y, z)`, each in `0..16`.
    pub fn get(&self, x: usize, y: usize, z: usize) -> MaterialId {
        match &self.0 {
            Contrib::Uniform(m) => *m,
            Contrib::Bricks(b) => {
                let j = (x / BRICK) | ((y / BRICK) << 1) | ((z / BRICK) << 2);
                MaterialId(b[j].get(x % BRICK + BRICK * (y % BRICK) + BRICK * BRICK * (z % BRICK)))
            }
        }
    }

    /// Bytes held on the heap, as [`Mip::heap_bytes`].
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Contrib::Uniform(_) => 0,
            Contrib::Bricks(b) => ARC_HEADER + size_of_val(&**b) + dense_bytes(b.iter()),
        }
    }
}

/// Calls `f(index in brick, [x, y, z] in brick)` for each cell of the inclusive box.
#[inline]
fn for_cells(lo: [usize; 3], hi: [usize; 3], mut f: impl FnMut(usize, [usize; 3])) {
    for z in lo[2]..=hi[2] {
        for y in lo[1]..=hi[1] {
            for x in lo[0]..=hi[0] {
                f(x + BRICK * y + BRICK * BRICK * z, [x, y, z]);
            }
        }
    }
}

/// The 2×2×2 voxels of a dense chunk with smallest corner `c` (one bounds check).
#[inline]
fn gather_dense(src: &[u16; CHUNK_VOLUME], c: [usize; 3]) -> [u16; 8] {
    const Y: usize = CHUNK_SIZE;
    const Z: usize = CHUNK_SIZE * CHUNK_SIZE;
    let base = c[0] + Y * c[1] + Z * c[2];
    let s = &src[base..base + Z + Y + 2];
    [s[0], s[1], s[Y], s[Y + 1], s[Z], s[Z + 1], s[Z + Y], s[Z + Y + 1]]
}

/// The 2×2×2 cells with smallest corner `c`, read through `get(x, y, z)`.
#[inline]
fn gather(get: impl Fn(usize, usize, usize) -> u16, c: [usize; 3]) -> [u16; 8] {
    let [x, y, z] = c;
    [
        get(x, y, z),
        get(x + 1, y, z),
        get(x, y + 1, z),
        get(x + 1, y + 1, z),
        get(x, y, z + 1),
        get(x + 1, y, z + 1),
        get(x, y + 1, z + 1),
        get(x + 1, y + 1, z + 1),
    ]
}

/// An 8³ block of child cells, as the downsampler reads it.
enum Block8<'a> {
    Uniform(u16),
    /// A dense brick of a grid (brick-local indexing).
    Brick(&'a [u16; BRICK_VOLUME]),
    /// A dense chunk (chunk indexing; the block is at the given corner).
    Chunk(&'a [u16; CHUNK_VOLUME]),
}

/// Read access to 32³ cells: a chunk (level 0), a generator sample or a LOD grid.
#[derive(Clone, Debug)]
pub enum Cells<'a> {
    /// A chunk's voxels.
    Chunk(&'a Chunk),
    /// A generator sample taken for this read (a generated stub keeps none unless uniform,
    /// see `NodeData::Generated`).
    Sample(Chunk),
    /// A LOD grid.
    Mip(&'a Mip),
}

impl Cells<'_> {
    /// `Some(material)` if every cell holds it.
    pub fn uniform(&self) -> Option<MaterialId> {
        match self {
            Cells::Chunk(c) => c.as_uniform(),
            Cells::Sample(c) => c.as_uniform(),
            Cells::Mip(m) => m.as_uniform(),
        }
    }

    /// The cell at `(x, y, z)`.
    #[inline]
    pub fn get(&self, x: usize, y: usize, z: usize) -> MaterialId {
        match self {
            Cells::Chunk(c) => chunk_cell(c, x, y, z),
            Cells::Sample(c) => chunk_cell(c, x, y, z),
            Cells::Mip(m) => m.get(x, y, z),
        }
    }

    /// The 8³ block with smallest corner `c` (multiples of 8).
    #[inline]
    fn block8(&self, c: [usize; 3]) -> Block8<'_> {
        match self {
            Cells::Chunk(chunk) => chunk_block8(chunk),
            Cells::Sample(chunk) => chunk_block8(chunk),
            Cells::Mip(m) => match &m.0 {
                Repr::Uniform(u) => Block8::Uniform(u.0),
                Repr::Bricked(b) => match &b[split(c[0], c[1], c[2]).0] {
                    Brick::Uniform(u) => Block8::Uniform(*u),
                    Brick::Dense(d) => Block8::Brick(d),
                },
            },
        }
    }
}

#[inline]
fn chunk_cell(c: &Chunk, x: usize, y: usize, z: usize) -> MaterialId {
    match c {
        Chunk::Uniform(m) => *m,
        Chunk::Dense(d) => MaterialId(d.as_slice()[x + CHUNK_SIZE * y + CHUNK_SIZE * CHUNK_SIZE * z]),
    }
}

/// A chunk's 8³ blocks (the caller indexes the chunk at the block's corner).
#[inline]
fn chunk_block8(c: &Chunk) -> Block8<'_> {
    match c {
        Chunk::Uniform(m) => Block8::Uniform(m.0),
        Chunk::Dense(d) => Block8::Chunk(d.as_slice()),
    }
}

/// Checks that `CHUNK_VOLUME` is what the brick layout assumes.
const _: () = assert!(BRICK_COUNT * BRICK_VOLUME == CHUNK_VOLUME);

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::LocalPos;

    const Y: GridUp = GridUp::Fixed(Up::PosY);

    fn reference(child: &Chunk) -> Chunk {
        let mut d = DenseChunk::filled(MaterialId::AIR);
        for i in 0..CHUNK_VOLUME {
            let (x, y, z) = (i % 32, (i / 32) % 32, i / 1024);
            if x >= 16 || y >= 16 || z >= 16 {
                continue;
            }
            let v: [u16; 8] = std::array::from_fn(|k| {
                child
                    .get(
                        LocalPos::new(
                            (2 * x + (k & 1)) as u8,
                            (2 * y + ((k >> 1) & 1)) as u8,
                            (2 * z + (k >> 2)) as u8,
                        )
                        .index(),
                    )
                    .0
            });
            d.as_mut_slice()[i] = downsample_cell(v, Up::PosY);
        }
        let mut c = Chunk::Dense(d);
        c.normalize();
        c
    }

    #[test]
    fn octant_downsample_matches_reference_and_incremental_matches_full() {
        let child =
            Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(if p.y < 9 + p.x % 3 { 1 + (p.z as u16 % 2) } else { 0 })));
        let mut mip = Mip::default();
        mip.downsample_octant(0, Cells::Chunk(&child), CellBox::FULL, Y);
        assert_eq!(mip.to_chunk(), reference(&child));
        // Edit a few voxels, update only the dirty box.
        let mut edited = child.clone();
        edited.set(LocalPos::new(3, 20, 4).index(), MaterialId(9));
        edited.set(LocalPos::new(2, 21, 5).index(), MaterialId(9));
        edited.set(LocalPos::new(3, 21, 4).index(), MaterialId(9));
        edited.set(LocalPos::new(2, 20, 4).index(), MaterialId(9));
        let dirty = diff_box(&child, &edited).unwrap();
        assert_eq!(dirty, CellBox { min: [2, 20, 4], max: [3, 21, 5] });
        let mut inc = mip.clone();
        inc.downsample_octant(0, Cells::Chunk(&edited), dirty, Y);
        assert_eq!(inc.to_chunk(), reference(&edited));
        assert_eq!(Mip::from_chunk(&reference(&edited)), inc);
        // Uniform child fills; full-uniform collapses.
        let mut u = Mip::default();
        for o in 0..8 {
            u.downsample_octant(o, Cells::Chunk(&Chunk::Uniform(MaterialId(4))), CellBox::FULL, Y);
        }
        assert_eq!(u, Mip::uniform(MaterialId(4)));
    }

    /// A child's contribution written into an octant equals downsampling the child there, over
    /// any grid; its cells are the reference's.
    #[test]
    fn a_contribution_writes_what_downsampling_the_child_writes() {
        let children = [
            Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(if p.y < 9 + p.x % 3 { 1 + (p.z as u16 % 2) } else { 0 }))),
            // Uniform 8³ blocks beside dense ones.
            Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(if p.x < 16 { 2 } else { u16::from(p.y % 3 == 0) }))),
            // Sparse: downsamples to air.
            Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(u16::from(p.x == 3 && p.y == 7)))),
            Chunk::Uniform(MaterialId(5)),
        ];
        let base = {
            let mut m = Mip::default();
            m.downsample_octant(3, Cells::Chunk(&children[0]), CellBox::FULL, Y);
            m.downsample_octant(6, Cells::Chunk(&children[1]), CellBox::FULL, Y);
            m
        };
        for child in &children {
            let c = Contribution::of(Cells::Chunk(child), Up::PosY);
            let r = reference(child);
            for (x, y, z) in (0..16 * 16 * 16).map(|i| (i % 16, (i / 16) % 16, i / 256)) {
                assert_eq!(c.get(x, y, z), r.get(LocalPos::new(x as u8, y as u8, z as u8).index()));
            }
            for start in [Mip::default(), Mip::uniform(MaterialId(7)), base.clone()] {
                for o in 0..8 {
                    let (mut a, mut b) = (start.clone(), start.clone());
                    a.downsample_octant(o, Cells::Chunk(child), CellBox::FULL, Y);
                    b.set_octant(o, &c);
                    assert_eq!(a, b, "octant {o}");
                }
            }
        }
        // A stored summary's half-resolution cells give the same contribution, representation
        // included (uniform bricks stay uniform).
        for child in &children {
            assert_eq!(
                Contribution::of_half(&HalfCells::of(child, Up::PosY)),
                Contribution::of(Cells::Chunk(child), Up::PosY)
            );
            assert_eq!(Contribution::of(Cells::Chunk(child), Up::PosY).to_half(), HalfCells::of(child, Up::PosY));
        }
        assert_eq!(Contribution::of(Cells::Chunk(&children[2]), Up::PosY).as_uniform(), Some(MaterialId::AIR));
        assert!(
            Contribution::of(Cells::Chunk(&children[0]), Up::PosY).heap_bytes() <= 8 * (2 * BRICK_VOLUME + 16) + 160
        );
    }
}
