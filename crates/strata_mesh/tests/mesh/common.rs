//! Shared brute-force references for the integration tests.
#![allow(dead_code)]

use strata_core::rng::SplitMix64;
use strata_core::{CHUNK_SIZE, Chunk, DenseChunk, Face, LocalPos, MaterialId, MaterialKind, MaterialRegistry};
use strata_mesh::{ChunkMesh, MaterialTable, MeshBuffers, Neighbor, Neighborhood};

pub const AIR: u16 = 0;
pub const STONE: u16 = 1;
pub const DIRT: u16 = 2;
pub const WATER: u16 = 5;
pub const ICE: u16 = 7;
pub const MAGMA: u16 = 13;
pub const GLASS: u16 = 16;
/// Not in the registry: must behave as opaque.
pub const UNKNOWN: u16 = 900;

pub fn registry() -> MaterialRegistry {
    MaterialRegistry::builtin()
}

pub fn table() -> MaterialTable {
    MaterialTable::new(&registry())
}

/// A random chunk: boxes of random materials on a background, plus sprinkled voxels, so both
/// large merges and single cells occur.
pub fn random_chunk(seed: u64, palette: &[u16]) -> Chunk {
    let mut rng = SplitMix64(seed | 1);
    let background = palette[rng.below(palette.len() as u64) as usize];
    let mut d = DenseChunk::filled(MaterialId(background));
    let boxes = rng.below(12);
    for _ in 0..boxes {
        let m = palette[rng.below(palette.len() as u64) as usize];
        let lo: [u64; 3] = [rng.below(32), rng.below(32), rng.below(32)];
        let size: [u64; 3] = [1 + rng.below(20), 1 + rng.below(20), 1 + rng.below(20)];
        for z in lo[2]..(lo[2] + size[2]).min(32) {
            for y in lo[1]..(lo[1] + size[1]).min(32) {
                for x in lo[0]..(lo[0] + size[0]).min(32) {
                    d.set(LocalPos::new(x as u8, y as u8, z as u8).index(), MaterialId(m));
                }
            }
        }
    }
    let sprinkles = rng.below(300);
    for _ in 0..sprinkles {
        let m = palette[rng.below(palette.len() as u64) as usize];
        d.as_mut_slice()[rng.below(32768) as usize] = m;
    }
    let mut c = Chunk::Dense(d);
    c.normalize();
    c
}

/// Test description of a neighbour.
#[derive(Clone, Debug)]
pub enum NeighborSpec {
    Loaded(Chunk),
    Unloaded,
    Seam,
}

impl NeighborSpec {
    pub fn as_neighbor(&self) -> Neighbor<'_> {
        match self {
            NeighborSpec::Loaded(c) => Neighbor::Loaded(c),
            NeighborSpec::Unloaded => Neighbor::Unloaded,
            NeighborSpec::Seam => Neighbor::Seam,
        }
    }
}

pub fn hood<'a>(center: &'a Chunk, neighbors: &'a [NeighborSpec; 6]) -> Neighborhood<'a> {
    Neighborhood { center, neighbors: [0, 1, 2, 3, 4, 5].map(|i| neighbors[i].as_neighbor()) }
}

/// What lies at `p` (coordinates in `-1..=32`, at most one outside `0..32`): `Some(id)` or
/// `None` for "opaque, unknown" (unloaded).
pub fn voxel_at(center: &Chunk, neighbors: &[NeighborSpec; 6], p: [i32; 3]) -> Option<u16> {
    let outside = (0..3).find(|&a| !(0..32).contains(&p[a]));
    let Some(a) = outside else {
        return Some(center.get(LocalPos::new(p[0] as u8, p[1] as u8, p[2] as u8).index()).0);
    };
    if (0..3).filter(|&b| !(0..32).contains(&p[b])).count() > 1 {
        return Some(AIR); // edges and corners: no data, empty
    }
    let face = Face::ALL[2 * a + usize::from(p[a] >= 32)];
    match &neighbors[face as usize] {
        NeighborSpec::Unloaded => None,
        NeighborSpec::Seam => Some(AIR),
        NeighborSpec::Loaded(c) => {
            let w = p.map(|v| v.rem_euclid(32) as u8);
            Some(c.get(LocalPos::new(w[0], w[1], w[2]).index()).0)
        }
    }
}

/// A unit face: (transparent mesh?, face, voxel x, y, z, material).
pub type UnitFace = (bool, Face, i32, i32, i32, u32);

/// Every exposed voxel face by the documented rules, voxel by voxel.
pub fn reference_faces(table: &MaterialTable, center: &Chunk, neighbors: &[NeighborSpec; 6]) -> Vec<UnitFace> {
    let mut out = Vec::new();
    let opaque = |v: Option<u16>| v.is_none_or(|id| table.kind(MaterialId(id)) == MaterialKind::Solid);
    for z in 0..32 {
        for y in 0..32 {
            for x in 0..32 {
                let Some(m) = voxel_at(center, neighbors, [x, y, z]) else { unreachable!() };
                let kind = table.kind(MaterialId(m));
                if kind == MaterialKind::Air {
                    continue;
                }
                for face in Face::ALL {
                    let o = face.offset();
                    let p = [x + o[0], y + o[1], z + o[2]];
                    let n = voxel_at(center, neighbors, p);
                    // Across a seam: air for solids and transparent solids, more of the same
                    // for a fluid (no water walls at LOD borders).
                    let seam = (0..3).any(|a| !(0..32).contains(&p[a]))
                        && matches!(neighbors[face as usize], NeighborSpec::Seam);
                    let visible = match kind {
                        MaterialKind::Solid => !opaque(n),
                        MaterialKind::Fluid if seam => false,
                        _ => !opaque(n) && n != Some(m),
                    };
                    if visible {
                        out.push((kind != MaterialKind::Solid, face, x, y, z, u32::from(m)));
                    }
                }
            }
        }
    }
    out.sort_unstable();
    out
}

/// Expands quads back to unit faces (voxel size 1).
pub fn mesh_unit_faces(buffers: &MeshBuffers, transparent: bool, out: &mut Vec<UnitFace>) {
    for q in buffers.quads() {
        let a = q.face.axis();
        let plane = q.min[a] as i32;
        let layer = if q.face.is_positive() { plane - 1 } else { plane };
        let (lo, hi) = (q.min.map(|v| v as i32), q.max.map(|v| v as i32));
        let mut hi = hi;
        hi[a] = lo[a] + 1;
        for z in lo[2]..hi[2] {
            for y in lo[1]..hi[1] {
                for x in lo[0]..hi[0] {
                    let mut p = [x, y, z];
                    p[a] = layer;
                    out.push((transparent, q.face, p[0], p[1], p[2], q.material));
                }
            }
        }
    }
}

pub fn all_unit_faces(mesh: &ChunkMesh) -> Vec<UnitFace> {
    let mut v = Vec::new();
    mesh_unit_faces(&mesh.opaque, false, &mut v);
    mesh_unit_faces(&mesh.transparent, true, &mut v);
    v.sort_unstable();
    v
}

pub fn chunk_size() -> usize {
    CHUNK_SIZE
}
