//! Homogeneous skip: deciding, without touching voxels, that a chunk produces no faces.
//!
//! A uniform chunk can only show faces on its borders. It shows none when every border hides
//! it:
//! - uniform air shows nothing at all;
//! - an opaque chunk is hidden by opaque or unloaded neighbours;
//! - a transparent or fluid chunk of material `m` is hidden by opaque, unloaded or uniform-`m`
//!   neighbours.
//!
//! A [`crate::input::Neighbor::Seam`] never hides (it behaves as air), and a non-uniform
//! neighbour is conservatively assumed to expose the chunk.
//!
//! # Runtime
//! O(1): six material lookups. Measured well under 1 µs (`mesh.skip_uniform`).

use crate::classify::{AIR, MaterialTable, OPAQUE, SHAPED};
use crate::input::{Neighborhood, Side};
use strata_core::{ChunkSummary, MaterialId};

/// A neighbour as seen by [`is_hidden_by_summaries`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighborSummary {
    /// A loaded chunk with this summary.
    Loaded(ChunkSummary),
    /// Not loaded: opaque.
    Unloaded,
    /// LOD seam: air.
    Seam,
}

impl NeighborSummary {
    fn side(&self) -> Side {
        match self {
            NeighborSummary::Loaded(s) if s.is_uniform() => Side::Uniform(s.dominant),
            NeighborSummary::Loaded(_) => Side::Varied,
            NeighborSummary::Unloaded => Side::Unloaded,
            NeighborSummary::Seam => Side::Seam,
        }
    }
}

/// Whether meshing `hood` is known to produce nothing, from the chunks' storage form alone.
///
/// The mesher calls this first, so such chunks cost no meshing work.
#[inline]
pub fn is_hidden(table: &MaterialTable, hood: &Neighborhood<'_>) -> bool {
    hidden(table, hood.center.as_uniform(), hood.neighbors.map(|n| n.side()))
}

/// [`is_hidden`] from [`ChunkSummary`] values, for callers that keep summaries but not voxels
/// (e.g. a scheduler deciding whether to queue a meshing task at all).
#[inline]
pub fn is_hidden_by_summaries(table: &MaterialTable, center: &ChunkSummary, neighbors: &[NeighborSummary; 6]) -> bool {
    let center = center.is_uniform().then_some(center.dominant);
    hidden(table, center, neighbors.map(|n| n.side()))
}

fn hidden(table: &MaterialTable, center: Option<MaterialId>, sides: [Side; 6]) -> bool {
    let Some(m) = center else {
        return false;
    };
    let code = table.code(m.0);
    if code == AIR {
        return true;
    }
    sides.iter().all(|side| match *side {
        Side::Unloaded => true,
        // One see-through material throughout hides itself; shaped voxels do not (their open
        // parts line up across chunks).
        Side::Uniform(n) => table.code(n.0) == OPAQUE || (code != OPAQUE && code != SHAPED && n == m),
        Side::Varied | Side::Seam => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Neighbor;
    use strata_core::{Chunk, MaterialKind};

    fn table() -> MaterialTable {
        MaterialTable::from_kinds(&[MaterialKind::Air, MaterialKind::Solid, MaterialKind::Fluid, MaterialKind::Fluid])
    }

    #[test]
    fn uniform_rules() {
        let t = table();
        let (air, stone, water, lava) = (
            Chunk::Uniform(MaterialId(0)),
            Chunk::Uniform(MaterialId(1)),
            Chunk::Uniform(MaterialId(2)),
            Chunk::Uniform(MaterialId(3)),
        );
        let all = |c: &Chunk, n: Neighbor<'_>| is_hidden(&t, &Neighborhood::from_fn(c, |_| n));
        assert!(all(&air, Neighbor::Seam));
        assert!(all(&stone, Neighbor::Unloaded));
        assert!(all(&stone, Neighbor::Loaded(&stone)));
        assert!(!all(&stone, Neighbor::Loaded(&water)));
        assert!(!all(&stone, Neighbor::Seam));
        assert!(all(&water, Neighbor::Loaded(&water)));
        assert!(all(&water, Neighbor::Loaded(&stone)));
        assert!(!all(&water, Neighbor::Loaded(&lava)));
        assert!(!all(&water, Neighbor::Loaded(&air)));
        let mut dense = Chunk::Uniform(MaterialId(1));
        dense.make_dense();
        assert!(!all(&dense, Neighbor::Unloaded), "dense chunks are meshed");
        assert!(!all(&stone, Neighbor::Loaded(&dense)), "varied neighbours may expose");
    }

    #[test]
    fn summaries_agree() {
        let t = table();
        let stone = Chunk::Uniform(MaterialId(1)).summary();
        let water = Chunk::Uniform(MaterialId(2)).summary();
        assert!(is_hidden_by_summaries(&t, &stone, &[NeighborSummary::Loaded(stone); 6]));
        let mut n = [NeighborSummary::Unloaded; 6];
        assert!(is_hidden_by_summaries(&t, &water, &n));
        n[3] = NeighborSummary::Loaded(Chunk::Uniform(MaterialId::AIR).summary());
        assert!(!is_hidden_by_summaries(&t, &water, &n));
    }
}
