//! [`FineField`]: the planet's fine height nodes near the ground, computed once per tile of the
//! fine grid and shared by every chunk, dense LOD node and thread.
//!
//! A fine node (the height: hills and fine ridges, ~8 Perlin octaves, ~0.15 µs) is the same for
//! every box whose voxels lie over it, and streaming asks for the same ones again and again:
//! the chunks of a column the surface crosses, and the LOD levels 0, 1 and 2 of one place (a
//! level-2 node, then its level-1 children, then their chunks, as the viewer comes closer) all
//! read every fine node under them. Kept in tiles of [`TILE`]² nodes per cube face, each node
//! computed on first use, at most [`FineField::TILES`] tiles, the oldest going first.
//!
//! Only rectangles of nodes (chunks and LOD nodes at levels 1 and 2) use it: far LOD nodes read
//! a sparse few nodes spread over hundreds of tiles.
//!
//! # Invariants
//! A tile holds exactly [`Model::height_node`](crate::model::Model::height_node) of each node
//! it has set (a pure function of the face and index), so the planet is the same with or
//! without the cache. A slot is one atomic word: two threads that miss the same node both
//! compute it and store the same bits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use strata_core::{TileCache, TileKey};

/// Fine nodes per tile edge.
pub(crate) const TILE: u32 = 64;

/// The nodes of one tile, `j` major (`nodes[(j % TILE) * TILE + i % TILE]`): each the bits of
/// its height, or [`UNSET`].
pub(crate) type FineTile = [AtomicU64; (TILE * TILE) as usize];

/// A slot not computed yet: a NaN payload no arithmetic produces (heights are finite anyway).
const UNSET: u64 = u64::MAX;

/// See the [module docs](self).
pub(crate) struct FineField {
    tiles: TileCache<FineTile>,
}

impl FineField {
    /// Tiles kept: 32 KiB each, so 16 MiB; about 2,000 × 2,000 voxels of ground at the default
    /// spacing, more than the chunks and levels 1 and 2 of a view.
    pub const TILES: usize = 512;

    pub fn new() -> Self {
        Self { tiles: TileCache::new(Self::TILES) }
    }

    /// The key of the tile holding node `(i, j)` of `face`.
    #[inline]
    pub fn key(face: u8, i: u32, j: u32) -> TileKey {
        TileKey { level: u32::from(face), x: (i / TILE) as i32, z: (j / TILE) as i32 }
    }

    /// The tile at `key` (from [`FineField::key`]), allocated empty on a miss.
    ///
    /// # Runtime
    /// One hash and a short lock (and a 32 KiB allocation on a miss).
    pub fn tile(&self, key: TileKey) -> Arc<FineTile> {
        self.tiles.get_or_compute(key, || std::array::from_fn(|_| AtomicU64::new(UNSET)))
    }

    /// Node `(i, j)` from `tile` (the tile of [`FineField::key`]), if computed.
    #[inline(always)]
    pub fn get(tile: &FineTile, i: u32, j: u32) -> Option<f64> {
        let bits = tile[Self::slot(i, j)].load(Ordering::Relaxed);
        (bits != UNSET).then(|| f64::from_bits(bits))
    }

    /// Keeps `height`, the value of node `(i, j)` of `tile`.
    #[inline(always)]
    pub fn set(tile: &FineTile, i: u32, j: u32, height: f64) {
        tile[Self::slot(i, j)].store(height.to_bits(), Ordering::Relaxed);
    }

    #[inline(always)]
    fn slot(i: u32, j: u32) -> usize {
        ((j % TILE) * TILE + i % TILE) as usize
    }

    /// Forgets every tile.
    pub fn clear(&self) {
        self.tiles.clear();
    }

    /// Tiles held now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.tiles.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes of different faces, tiles and slots are kept apart, a node reads back what was
    /// set, and a clear forgets everything.
    #[test]
    fn nodes_are_kept_apart_and_read_back() {
        let f = FineField::new();
        let nodes =
            [(0u8, 3u32, 5u32), (1, 3, 5), (0, 3 + TILE, 5), (0, 3, 5 + TILE), (5, 3 + TILE, 5 + TILE), (0, 4, 5)];
        for (n, &(face, i, j)) in nodes.iter().enumerate() {
            let tile = f.tile(FineField::key(face, i, j));
            assert_eq!(FineField::get(&tile, i, j), None, "{face} {i} {j}");
            FineField::set(&tile, i, j, n as f64 - 2.5);
        }
        for (n, &(face, i, j)) in nodes.iter().enumerate() {
            assert_eq!(FineField::get(&f.tile(FineField::key(face, i, j)), i, j), Some(n as f64 - 2.5));
        }
        assert_eq!(f.len(), 5);
        f.clear();
        assert_eq!(f.len(), 0);
        assert_eq!(FineField::get(&f.tile(FineField::key(0, 3, 5)), 3, 5), None);
    }
}
