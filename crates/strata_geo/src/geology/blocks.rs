//! The Margolus block rule shared by thermal erosion and magma flow.
//!
//! Per step the grid is cut into 2×2×2 blocks whose corners sit at `offset + 2k`, where the
//! offset's three bits come from `step % 8` (x: bit 0, y: bit 1, z: bit 2), so over 8 steps every
//! pair of neighbouring voxels — straight or diagonal — shares a block. Each block's contents are
//! only **permuted**, which conserves every material exactly. A voxel's block lies within one
//! voxel of it, so with a halo of 1 any partition (alignment 1) computes the blocks that straddle
//! its border exactly like its neighbour does.

use super::process::{MaterialTable, StepContext, hash, mix, unit};
use super::region::{RegionSnapshot, VoxelBox};
use strata_core::{MaterialId, VoxelPos};

/// The block grid's offset for `step`, per axis (0 or 1).
pub(crate) fn block_offset(step: u64) -> [i64; 3] {
    [(step & 1) as i64, ((step >> 1) & 1) as i64, ((step >> 2) & 1) as i64]
}

/// What may move and into what.
pub(crate) struct BlockRule<'a> {
    /// Per material: chance per step of a diagonal slide when resting on something; negative =
    /// not loose (never moves); 0 = falls straight down only.
    pub(crate) loose: &'a MaterialTable<f32>,
    /// Materials a loose grain may swap places with (air, water).
    pub(crate) empty: &'a MaterialTable<bool>,
    /// Hash salt (the process id).
    pub(crate) salt: u64,
}

/// One block: positions, input and result materials, and which cells lie in the core.
pub(crate) struct Block {
    pub(crate) pos: [VoxelPos; 8],
    pub(crate) old: [MaterialId; 8],
    pub(crate) new: [MaterialId; 8],
    pub(crate) in_core: [bool; 8],
}

impl BlockRule<'_> {
    /// Calls `visit` for every block intersecting `core` (the snapshot must cover
    /// `core.expand(1)`; blocks reaching outside it or the `i32` range are passed unchanged).
    /// `changed` tells whether the permutation moved anything.
    ///
    /// # Runtime
    /// O(core volume): 8 reads per block, a few hashes per block with loose material.
    pub(crate) fn for_each_block(
        &self,
        input: &RegionSnapshot,
        core: &VoxelBox,
        ctx: &StepContext,
        mut visit: impl FnMut(&Block, bool),
    ) {
        if core.is_empty() {
            return;
        }
        let off = block_offset(ctx.step);
        let lo = core.min.to_array().map(i64::from);
        let hi = core.max.to_array().map(i64::from);
        let first: [i64; 3] = std::array::from_fn(|a| lo[a] - (lo[a] - off[a]).rem_euclid(2));
        let mut block = Block {
            pos: [VoxelPos::default(); 8],
            old: [MaterialId::AIR; 8],
            new: [MaterialId::AIR; 8],
            in_core: [false; 8],
        };
        let mut bz = first[2];
        while bz <= hi[2] {
            let mut by = first[1];
            while by <= hi[1] {
                let mut bx = first[0];
                while bx <= hi[0] {
                    let b = [bx, by, bz];
                    if self.load(input, core, b, &mut block) {
                        let changed = self.permute(b, ctx, &mut block);
                        visit(&block, changed);
                    }
                    bx += 2;
                }
                by += 2;
            }
            bz += 2;
        }
    }

    /// Reads the block at `b`; `false` if part of it lies outside the snapshot.
    fn load(&self, input: &RegionSnapshot, core: &VoxelBox, b: [i64; 3], block: &mut Block) -> bool {
        for k in 0..8 {
            let c = [b[0] + (k & 1) as i64, b[1] + ((k >> 1) & 1) as i64, b[2] + ((k >> 2) & 1) as i64];
            let (Ok(x), Ok(y), Ok(z)) = (i32::try_from(c[0]), i32::try_from(c[1]), i32::try_from(c[2])) else {
                return false;
            };
            let p = VoxelPos::new(x, y, z);
            let Some(m) = input.get(p) else {
                return false;
            };
            block.pos[k] = p;
            block.old[k] = m;
            block.new[k] = m;
            block.in_core[k] = core.contains(p);
        }
        true
    }

    /// Applies the rule to `block.new`; returns whether anything moved.
    fn permute(&self, b: [i64; 3], ctx: &StepContext, block: &mut Block) -> bool {
        let cells = &mut block.new;
        if !cells.iter().any(|&m| self.loose.get(m) >= 0.0) || !cells.iter().any(|&m| self.empty.get(m)) {
            return false;
        }
        let down = ctx.gravity.down_at_doubled([2 * b[0] + 2, 2 * b[1] + 2, 2 * b[2] + 2]);
        let axis = down.axis();
        let (a1, a2) = match axis {
            0 => (1, 2),
            1 => (0, 2),
            _ => (0, 1),
        };
        // Offset along the gravity axis of the lower layer: 0 when down is negative.
        let lower = usize::from(down.is_positive());
        let idx = |col: usize, layer: usize| -> usize {
            let mut o = [0usize; 3];
            o[axis] = if layer == 0 { lower } else { 1 - lower };
            o[a1] = col & 1;
            o[a2] = col >> 1;
            o[0] | (o[1] << 1) | (o[2] << 2)
        };
        let mut moved = false;
        // Phase 1: grains above an empty cell fall straight down.
        for col in 0..4 {
            let (u, l) = (idx(col, 1), idx(col, 0));
            if self.loose.get(cells[u]) >= 0.0 && self.empty.get(cells[l]) {
                cells.swap(u, l);
                moved = true;
            }
        }
        // Phase 2: resting grains slide diagonally down into a column empty in both layers (the
        // neighbouring surface lies at least 2 lower: steeper than 45°).
        let h = hash(ctx.seed, ctx.step, self.salt, b);
        let start = (h & 3) as usize;
        for k in 0..4 {
            let col = (start + k) & 3;
            let u = idx(col, 1);
            let chance = self.loose.get(cells[u]);
            if chance <= 0.0 || self.empty.get(cells[idx(col, 0)]) {
                continue;
            }
            let hc = mix(h ^ (col as u64 + 1));
            if chance < 1.0 && unit(hc) >= chance {
                continue;
            }
            let rot = ((hc >> 8) % 3) as usize;
            for j in 0..3 {
                let other = col ^ (1 + (rot + j) % 3);
                let (ou, ol) = (idx(other, 1), idx(other, 0));
                if self.empty.get(cells[ou]) && self.empty.get(cells[ol]) {
                    cells.swap(u, ol);
                    moved = true;
                    break;
                }
            }
        }
        moved
    }
}
