//! Which chunks an edit relights: the chunks whose light (sky or block, as `strata_mesh`'s
//! light field computes it for a chunk mesh) the edit may change, beyond the chunk itself and
//! its six face neighbours, which
//! [`StreamPlan::chunk_edited`](crate::stream_plan::StreamPlan::chunk_edited) remeshes anyway.
//!
//! A chunk's light is computed from its 3 × 3 × 3 ring of chunks, with the sky beyond the ring's
//! top layer open unless the chunk there is resident and uniform solid or fluid ([`sky_beyond`]).
//! Light travels at most 14 voxels, −1 per voxel, and a mesh reads its chunk's voxels and the
//! layer around them; sky light stays 15 straight down a column open from the ring's top. So an
//! edit in chunk `K` changes the light of:
//! - ring chunks within [`LIGHT_REACH`] voxels of what it wrote (an emitter placed or removed,
//!   a wall opened or closed);
//! - if a column of what it wrote is open from the top of `K` ([`sky_reaches`]), the chunks of
//!   the layer below `K` that the column's light reaches (it darkens or lights that column
//!   through their whole ring);
//! - if `K` is now, or may have been, uniform solid or fluid, the 3 × 3 chunks two layers
//!   below: `K` is beyond their ring, and their sky opens or closes there.
//!
//! A lamp placed in a cave therefore relights at most its 3 × 3 × 3 ring; a hole dug through a
//! roof also the layers below that the new sky reaches in the light model. The selection never
//! misses a chunk whose light changes (a property test compares light fields before and after
//! random edits); it may include some whose light stays the same.
//!
//! Cost: O(26) for the ring, plus the sky test: per column of the written box, the voxels above
//! it up to the top of `K` or the first that closes the column, and (for a dense `K`) one pass
//! over its voxels outside the box for the uniformity test.

use strata_core::{CHUNK_SIZE, ChangeExtent, Chunk, ChunkKey, LocalPos, MaterialId, MaterialKind, World};

/// How far (voxels) an edit's light change reaches into a neighbour's mesh: 14 voxels of light
/// and the one-voxel border the mesher reads.
pub const LIGHT_REACH: usize = 15;

/// Whether a voxel of `kind` lets the sky's column through (air and transparent materials; a
/// fluid or solid voxel closes it, as in the light field).
fn sky_passes(kind: MaterialKind) -> bool {
    matches!(kind, MaterialKind::Air | MaterialKind::Transparent)
}

/// Whether a uniform chunk of `kind` closes the sky beyond a ring (solid or fluid).
fn closes_sky(kind: MaterialKind) -> bool {
    matches!(kind, MaterialKind::Solid | MaterialKind::Fluid)
}

/// The chunk `n` steps from `key` along `offset`.
fn step(key: ChunkKey, offset: [i32; 3], n: i32) -> ChunkKey {
    let k = key.to_array();
    ChunkKey::new(k[0].wrapping_add(offset[0] * n), k[1].wrapping_add(offset[1] * n), k[2].wrapping_add(offset[2] * n))
}

/// Whether the sky is open beyond the top layer of chunk `key`'s ring, per ring entry (indexed
/// as `strata_mesh::LightNeighborhood::index`: `x + 1 + 3 (y + 1) + 9 (z + 1)`; entries off the
/// top layer are `true` and not read): closed where the world cache holds the chunk beyond and
/// it is uniform solid or fluid, open otherwise (unknown counts as open, so the edge of the
/// loaded world is never dark). What the plugin gives the light field. O(9) cache lookups.
pub fn sky_beyond(world: &World, kind: impl Fn(MaterialId) -> MaterialKind, key: ChunkKey) -> [bool; 27] {
    let up = world.generator().world_up().of_chunk(key);
    let step_up = up.offset();
    let k = key.to_array();
    std::array::from_fn(|i| {
        let i = i as i32;
        let o = [i % 3 - 1, i / 3 % 3 - 1, i / 9 - 1];
        if o[up.axis()] != step_up[up.axis()] {
            return true;
        }
        let beyond = ChunkKey::new(
            k[0].wrapping_add(o[0] + step_up[0]),
            k[1].wrapping_add(o[1] + step_up[1]),
            k[2].wrapping_add(o[2] + step_up[2]),
        );
        !world.resident_chunk(beyond).and_then(|c| c.as_uniform()).is_some_and(|m| closes_sky(kind(m)))
    })
}

/// Appends to `out` the chunks an edit that wrote `extent` in chunk `key` relights besides
/// `key` and its face neighbours (see the module docs); `kind` classifies materials. No chunk
/// repeats within one call.
pub fn relit_chunks(
    world: &World,
    kind: impl Fn(MaterialId) -> MaterialKind,
    key: ChunkKey,
    extent: ChangeExtent,
    out: &mut Vec<ChunkKey>,
) {
    let up = world.generator().world_up().of_chunk(key);
    let sky = sky_reaches(world, &kind, key, extent);
    let down = up.opposite().offset();
    let reach = LIGHT_REACH as u8;
    for i in 0..27i32 {
        let o = [i % 3 - 1, i / 3 % 3 - 1, i / 9 - 1];
        if o.iter().map(|v| v.abs()).sum::<i32>() < 2 {
            // The chunk itself and its face neighbours: remeshed by every edit.
            continue;
        }
        let near = (0..3).all(|a| match o[a] {
            0 => true,
            d if sky && d == down[a] => true,
            -1 => extent.min[a] < reach,
            _ => extent.max[a] >= CHUNK_SIZE as u8 - reach,
        });
        if near {
            out.push(step(key, o, 1));
        }
    }
    if may_flip_uniform(world, &kind, key, extent) {
        let (a, b) = other_axes(up.axis());
        for da in -1..=1 {
            for db in -1..=1 {
                let mut o = down.map(|d| d * 2);
                o[a] += da;
                o[b] += db;
                out.push(step(key, o, 1));
            }
        }
    }
}

/// Whether chunk `key` is uniform solid or fluid now, or may have been before an edit that
/// wrote only `extent` (every voxel outside the box is one solid or fluid material): then the
/// chunks two layers below see their sky close or open beyond their ring.
fn may_flip_uniform(
    world: &World,
    kind: &impl Fn(MaterialId) -> MaterialKind,
    key: ChunkKey,
    extent: ChangeExtent,
) -> bool {
    let Some(chunk) = world.resident_chunk(key) else { return false };
    if let Some(m) = chunk.as_uniform() {
        return closes_sky(kind(m));
    }
    let inside = |p: [u8; 3]| (0..3).all(|a| (extent.min[a]..=extent.max[a]).contains(&p[a]));
    let mut first = None;
    for z in 0..CHUNK_SIZE as u8 {
        for y in 0..CHUNK_SIZE as u8 {
            for x in 0..CHUNK_SIZE as u8 {
                if inside([x, y, z]) {
                    continue;
                }
                let m = chunk.get(LocalPos::new(x, y, z).index());
                match first {
                    None if !closes_sky(kind(m)) => return false,
                    None => first = Some(m),
                    Some(f) if f != m => return false,
                    Some(_) => {}
                }
            }
        }
    }
    true
}

/// The two axes other than `axis`, in increasing order.
fn other_axes(axis: usize) -> (usize, usize) {
    match axis {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    }
}

/// Whether, in the light model, the sky reaches a voxel of `extent` in chunk `key`: some column
/// of the box is open (air or glass) from just above the box to the top of the chunk along its
/// up, and the sky beyond the chunk is open there (the chunk above is not resident uniform
/// solid or fluid: what the light fields of the chunks below see, whose rings end with this
/// chunk's layer). Opening or closing voxels there changes the sky light of the column below
/// them in those chunks.
pub fn sky_reaches(
    world: &World,
    kind: &impl Fn(MaterialId) -> MaterialKind,
    key: ChunkKey,
    extent: ChangeExtent,
) -> bool {
    let up = world.generator().world_up().of_chunk(key);
    let above = world.resident_chunk(step(key, up.offset(), 1));
    if above.and_then(|c| c.as_uniform()).is_some_and(|m| closes_sky(kind(m))) {
        return false;
    }
    let Some(own) = world.resident_chunk(key) else { return true };
    if let Some(m) = own.as_uniform() {
        return sky_passes(kind(m));
    }
    let axis = up.axis();
    let positive = up.offset()[axis] > 0;
    let (a, b) = other_axes(axis);
    let (from, to) = if positive {
        (i32::from(extent.max[axis]) + 1, CHUNK_SIZE as i32 - 1)
    } else {
        (0, i32::from(extent.min[axis]) - 1)
    };
    let voxel = |chunk: &Chunk, pa: u8, pb: u8, h: i32| {
        let mut p = [0u8; 3];
        p[a] = pa;
        p[b] = pb;
        p[axis] = h as u8;
        chunk.get(LocalPos::new(p[0], p[1], p[2]).index())
    };
    (extent.min[a]..=extent.max[a]).any(|pa| {
        (extent.min[b]..=extent.max[b]).any(|pb| (from..=to).all(|h| sky_passes(kind(voxel(&own, pa, pb, h)))))
    })
}

#[cfg(test)]
mod tests;
