//! [`CoarseField`]: the planet's coarse nodes, computed once per tile of the coarse grid and
//! shared by every chunk, LOD node and thread.
//!
//! A coarse node is the most expensive value of the planet (23 Perlin octaves: continents,
//! their warp, mountain belts and ridges, strata, crust and ice undulations), and far LOD
//! nodes need thousands of them each: a level-10 node's cells lie 8 coarse cells apart, so
//! every cell needs its own four. Every level samples the same coarse grid, so the nodes one
//! LOD node computes are the ones its neighbours, parents and children need. Kept in tiles of
//! [`TILE`]² nodes per cube face, each node computed on first use (far LOD nodes read a sparse
//! few of a tile's nodes); at most [`CoarseField::TILES`] tiles (the default planet has about
//! 3,700).
//!
//! # Invariants
//! A tile holds exactly [`Model::coarse_node`] of each of its nodes (a pure function of the
//! face and index), so a cached node equals a computed one bit for bit, and the planet is the
//! same with or without the cache (a test compares them over tile and face edges).

use crate::fields::CoarseNode;
use crate::model::Model;
use std::sync::{Arc, OnceLock};
use strata_core::{TileCache, TileKey};

/// Coarse nodes per tile edge.
pub(crate) const TILE: u32 = 16;

/// The nodes of one tile, `j` major (`nodes[(j % TILE) * TILE + i % TILE]`), each set on first
/// use.
pub(crate) type CoarseTile = [OnceLock<CoarseNode>; (TILE * TILE) as usize];

/// See the [module docs](self).
pub(crate) struct CoarseField {
    tiles: TileCache<CoarseTile>,
}

impl CoarseField {
    /// Tiles kept: 14 KiB each, so 28 MiB; more than half of the default planet's coarse grid
    /// (a hemisphere), a small planet's whole grid.
    pub const TILES: usize = 2048;

    pub fn new() -> Self {
        Self { tiles: TileCache::new(Self::TILES) }
    }

    /// The key of the tile holding node `(ci, cj)` of `face`.
    #[inline]
    pub fn key(face: u8, ci: u32, cj: u32) -> TileKey {
        TileKey { level: u32::from(face), x: (ci / TILE) as i32, z: (cj / TILE) as i32 }
    }

    /// The tile at `key` (from [`CoarseField::key`]), allocated empty on a miss.
    ///
    /// # Runtime
    /// One hash and a short lock (and a 14 KiB allocation on a miss).
    pub fn tile(&self, key: TileKey) -> Arc<CoarseTile> {
        self.tiles.get_or_compute(key, || std::array::from_fn(|_| OnceLock::new()))
    }

    /// Node `(ci, cj)` of `face` from `tile` (the tile of [`CoarseField::key`]): computed on
    /// first use (~0.4 µs), then read without a lock.
    #[inline(always)]
    pub fn node(m: &Model, tile: &CoarseTile, face: u8, ci: u32, cj: u32) -> CoarseNode {
        *tile[((cj % TILE) * TILE + ci % TILE) as usize].get_or_init(|| m.coarse_node(face, ci, cj))
    }

    /// Node `(ci, cj)` of `face`, through the cache.
    pub fn get(&self, m: &Model, face: u8, ci: u32, cj: u32) -> CoarseNode {
        Self::node(m, &self.tile(Self::key(face, ci, cj)), face, ci, cj)
    }

    /// Forgets every tile.
    pub fn clear(&self) {
        self.tiles.clear();
    }

    /// Tiles held now.
    pub fn len(&self) -> usize {
        self.tiles.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PlanetConfig;

    /// Cached nodes equal computed ones on every face, at tile edges, at the face's last node
    /// (a partial tile) and across a clear, read from two threads at once.
    #[test]
    fn cached_nodes_are_the_computed_nodes() {
        let m = Model::new(&PlanetConfig::scaled(4096));
        let nc = m.grid.nc;
        let picks: Vec<u32> = [0, 1, TILE - 1, TILE, TILE + 1, 2 * TILE - 1, nc / 2, nc - 1, nc]
            .into_iter()
            .filter(|&v| v <= nc)
            .collect();
        let check = |m: &Model| {
            for face in 0..6u8 {
                for &ci in &picks {
                    for &cj in &picks {
                        assert_eq!(m.coarse_cached(face, ci, cj), m.coarse_node(face, ci, cj), "{face} {ci} {cj}");
                    }
                }
            }
        };
        std::thread::scope(|s| {
            s.spawn(|| check(&m));
            s.spawn(|| check(&m));
        });
        assert!(m.coarse.len() > 0);
        m.coarse.clear();
        assert_eq!(m.coarse.len(), 0);
        check(&m);
    }

    /// Neighbouring nodes in different tiles are kept apart (a key that dropped the face or a
    /// tile coordinate would mix them up).
    #[test]
    fn tiles_of_different_faces_and_places_do_not_mix() {
        let m = Model::new(&PlanetConfig::scaled(4096));
        for (face, ci, cj) in [(0, 3, 5), (1, 3, 5), (0, 3 + TILE, 5), (0, 3, 5 + TILE), (5, 3 + TILE, 5 + TILE)] {
            assert_eq!(m.coarse_cached(face, ci, cj), m.coarse_node(face, ci, cj), "{face} {ci} {cj}");
        }
    }
}
