//! Grids coarser than the octree's roots (levels above [`ROOT_LEVEL`]), made from the
//! generator and the **chunk cells** of edited chunks.
//!
//! A grid at level `L` > [`ROOT_LEVEL`] has cells 2^(`L` − 5) chunks wide. The octree does not
//! reach that high (its roots are level-5 nodes, 32 chunks per side), so the index keeps, for
//! every chunk that may differ from the generator (edited in memory, read from a store, or
//! known from a store's [chunk-cell scan](strata_core::ChunkStore::scan_chunk_cells)), its
//! [chunk cell](strata_core::downsample::chunk_cell): the chunk downsampled to one cell, which
//! is the cell a level-5 grid gives it and depends on that chunk alone.
//!
//! # The rule
//! A cell with no such chunk below is the generator's cell ([`lod_cell`], what
//! [`WorldGenerator::sample_lod`] gives the whole grid). A cell with one is the
//! [downsampling rule](strata_core::downsample) applied level by level from the chunk cells
//! up: at each level a cell is the rule over its eight sub-cells, each a known chunk's cell
//! (at the bottom), a cell computed this way (above it), or — where nothing below is known —
//! the generator's cell at that sub-cell's level; each block uses the world's up at its
//! centre (these blocks are larger than a chunk). So a grid with no edited chunk under it is
//! exactly `sample_lod`, and edits show from every distance as far as the rule lets them (a
//! single chunk changes its level-6 cell only when it tips the count of eight, or is a
//! column top).
//!
//! # Cost
//! 4 bytes per chunk (plus a map entry per root that has any). A grid costs `sample_lod` plus,
//! per chunk cell under it, O(`L` − 5) levels of eight lookups and at most seven generator
//! cells each (one to `level` + 2 samples per cell).

use crate::octree::{NodeId, ROOT_LEVEL};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;
use std::sync::Arc;
use strata_core::downsample::downsample_cell;
use strata_core::generator::{LodCells, lod_cell};
use strata_core::{Chunk, ChunkKey, LocalPos, MaterialId, MortonKey, WorldGenerator};

/// Morton bits of a chunk inside its root (3 × [`ROOT_LEVEL`]).
const LOCAL_BITS: u32 = 3 * ROOT_LEVEL;

/// The chunk cells the index knows, grouped by root (see the [module docs](self)). Cheap to
/// clone: roots are shared until one is changed.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChunkCells {
    /// Root (Morton key >> [`LOCAL_BITS`]) → its chunks' cells by local Morton index, sorted.
    roots: BTreeMap<u128, Arc<Vec<(u16, MaterialId)>>>,
}

/// A chunk's root (Morton key >> [`LOCAL_BITS`]) and its Morton index inside the root.
fn split(key: MortonKey) -> (u128, u16) {
    (key.0 >> LOCAL_BITS, (key.0 & ((1 << LOCAL_BITS) - 1)) as u16)
}

fn join(root: u128, local: u16) -> ChunkKey {
    MortonKey((root << LOCAL_BITS) | u128::from(local)).to_chunk()
}

impl ChunkCells {
    /// Sets the cell of the chunk at `key` (cells are never forgotten: an edited chunk stays
    /// edited). O(log roots + chunks of its root); O(log roots) amortised when keys come in
    /// Morton order.
    pub fn set(&mut self, key: ChunkKey, cell: MaterialId) {
        let (root, local) = split(key.morton());
        let cells = Arc::make_mut(self.roots.entry(root).or_default());
        match cells.binary_search_by_key(&local, |e| e.0) {
            Ok(i) => cells[i].1 = cell,
            Err(i) => cells.insert(i, (local, cell)),
        }
    }

    /// The cells of chunks given in Morton order (each key once). O(n).
    pub fn from_sorted(cells: impl IntoIterator<Item = (MortonKey, MaterialId)>) -> Self {
        let mut roots: BTreeMap<u128, Arc<Vec<(u16, MaterialId)>>> = BTreeMap::new();
        let mut current: Option<(u128, Vec<(u16, MaterialId)>)> = None;
        for (k, c) in cells {
            let (root, local) = split(k);
            match &mut current {
                Some((r, v)) if *r == root => {
                    debug_assert!(v.last().is_some_and(|l| l.0 < local), "cells in Morton order");
                    v.push((local, c));
                }
                _ => {
                    if let Some((r, v)) = current.replace((root, vec![(local, c)])) {
                        roots.insert(r, Arc::new(v));
                    }
                }
            }
        }
        if let Some((r, v)) = current {
            roots.insert(r, Arc::new(v));
        }
        Self { roots }
    }

    /// The cell of the chunk at `key`, if known.
    pub fn get(&self, key: ChunkKey) -> Option<MaterialId> {
        let (root, local) = split(key.morton());
        let cells = self.roots.get(&root)?;
        cells.binary_search_by_key(&local, |e| e.0).ok().map(|i| cells[i].1)
    }

    /// Chunk cells known. O(roots).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.roots.values().map(|v| v.len()).sum()
    }

    /// Heap bytes (cells and one map entry per root).
    pub fn heap_bytes(&self) -> usize {
        self.roots.values().map(|v| v.capacity() * size_of::<(u16, MaterialId)>() + 64).sum()
    }

    /// Every known cell of a chunk under `id` (level ≥ [`ROOT_LEVEL`]), in Morton order.
    fn under(&self, id: NodeId) -> impl Iterator<Item = (ChunkKey, MaterialId)> + '_ {
        let (lo, _) = id.chunk_range();
        let min = ChunkKey::new(lo[0] as i32, lo[1] as i32, lo[2] as i32);
        let range = MortonKey::region_range(min, id.level);
        let roots = (range.start().0 >> LOCAL_BITS)..=(range.end().0 >> LOCAL_BITS);
        self.roots.range(roots).flat_map(|(&root, cells)| cells.iter().map(move |&(l, c)| (join(root, l), c)))
    }

    /// The 32³ grid of node `id` (level > [`ROOT_LEVEL`]) by the rule in the
    /// [module docs](self).
    ///
    /// # Runtime
    /// One `sample_lod`; then, per known chunk cell under `id`, O(`id.level` − 5) levels of
    /// hash lookups and at most seven `material_at` samples per level.
    pub fn grid(&self, id: NodeId, generator: &dyn WorldGenerator) -> Chunk {
        debug_assert!(id.level > ROOT_LEVEL);
        let base = strata_core::sample_hinted(generator, id.level, id.key);
        let world_up = generator.world_up();
        // Cells of the level-`level` grid by global cell coordinates (at level 5: chunk keys).
        let mut cells: FxHashMap<[i32; 3], u16> = self.under(id).map(|(k, c)| (k.to_array(), c.0)).collect();
        if cells.is_empty() {
            return base;
        }
        for level in ROOT_LEVEL..id.level {
            let parents: FxHashSet<[i32; 3]> = cells.keys().map(|c| c.map(|v| v >> 1)).collect();
            cells = parents
                .into_iter()
                .map(|p| {
                    let sub = std::array::from_fn(|i| {
                        let c = [2 * p[0] + (i & 1) as i32, 2 * p[1] + (i >> 1 & 1) as i32, 2 * p[2] + (i >> 2) as i32];
                        cells.get(&c).copied().unwrap_or_else(|| generated_cell(generator, level, c))
                    });
                    // The parent cell is 2^(level + 1) voxels wide: larger than a chunk.
                    let size = 2i64 << level;
                    let up = world_up.of_block(p.map(|v| i64::from(v) * size), size);
                    (p, downsample_cell(sub, up))
                })
                .collect();
        }
        let origin = id.key.to_array().map(|v| i64::from(v) * 32);
        let mut out = base;
        for (c, m) in cells {
            let l = [0, 1, 2].map(|a| (i64::from(c[a]) - origin[a]) as u8);
            out.set(LocalPos::new(l[0], l[1], l[2]).index(), MaterialId(m));
        }
        out.normalize();
        out
    }
}

/// The generator's cell `c` of a level-`level` grid (cells 2^`level` voxels wide), as
/// [`WorldGenerator::sample_lod`] makes it ([`lod_cell`]).
fn generated_cell(generator: &dyn WorldGenerator, level: u32, c: [i32; 3]) -> u16 {
    // The node holding the cell, and the cell's place in it.
    let node = ChunkKey::new(c[0] >> 5, c[1] >> 5, c[2] >> 5);
    let l = c.map(|v| (v & 31) as u8);
    let cells = LodCells::new(level, node);
    let at = |p: [i64; 3]| generator.material_at(LodCells::clamped(p));
    lod_cell(&cells, LocalPos::new(l[0], l[1], l[2]), &generator.world_up(), at).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_get() {
        let mut cells = ChunkCells::default();
        let a = ChunkKey::new(-40, 3, 1000);
        let b = ChunkKey::new(-39, 3, 1000);
        cells.set(a, MaterialId(3));
        cells.set(b, MaterialId(4));
        let clone = cells.clone();
        cells.set(a, MaterialId(5));
        assert_eq!((cells.get(a), cells.get(b), cells.len()), (Some(MaterialId(5)), Some(MaterialId(4)), 2));
        assert_eq!(cells.get(ChunkKey::new(-38, 3, 1000)), None);
        assert_eq!(clone.get(a), Some(MaterialId(3)), "clones keep their own roots");
    }

    #[test]
    fn from_sorted_equals_one_by_one() {
        let keys =
            [ChunkKey::new(-40, 3, 1000), ChunkKey::new(-39, 3, 1000), ChunkKey::new(5, 5, 5), ChunkKey::new(64, 0, 0)];
        let mut sorted: Vec<(MortonKey, MaterialId)> =
            keys.iter().enumerate().map(|(i, k)| (k.morton(), MaterialId(i as u16 + 1))).collect();
        sorted.sort();
        let bulk = ChunkCells::from_sorted(sorted.iter().copied());
        let mut one = ChunkCells::default();
        for (k, c) in &sorted {
            one.set(k.to_chunk(), *c);
        }
        assert_eq!(bulk.roots, one.roots);
    }

    #[test]
    fn cells_under_a_node_are_exactly_its_chunks() {
        let mut cells = ChunkCells::default();
        let keys =
            [ChunkKey::new(-1, 0, 0), ChunkKey::new(0, 0, 0), ChunkKey::new(63, 63, 63), ChunkKey::new(64, 0, 0)];
        for k in keys {
            cells.set(k, MaterialId(1));
        }
        let node = NodeId::new(6, ChunkKey::new(0, 0, 0));
        let under: Vec<ChunkKey> = cells.under(node).map(|(k, _)| k).collect();
        assert_eq!(under.len(), 2);
        assert!(under.contains(&keys[1]) && under.contains(&keys[2]));
        let neg: Vec<ChunkKey> = cells.under(NodeId::new(6, ChunkKey::new(-1, 0, 0))).map(|(k, _)| k).collect();
        assert_eq!(neg, vec![keys[0]]);
    }
}
