//! Brute-force references shared by the integration tests.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use strata_core::{CHUNK_VOLUME, Chunk, ChunkKey, ChunkSummary, DenseChunk, LocalPos, MaterialId, Up, WorldGenerator};
use strata_index::{DataSource, IndexSnapshot, NodeId, ROOT_LEVEL};

/// The documented downsampling rule, written out again independently: sub-cell `k` sits at
/// `(k & 1, k >> 1 & 1, k >> 2)`; non-air when 4 of 8 are; then the most common of the
/// column tops along `up` (the higher non-air cell of each pair that differs only along up),
/// ties to the smaller id.
pub fn rule(v: &[u16], up: Up) -> u16 {
    if v.iter().all(|&x| x == v[0]) {
        return v[0];
    }
    if v.iter().filter(|&&x| x != 0).count() < 4 {
        return 0;
    }
    let step = up.step();
    let axis = (0..3).find(|&a| step[a] != 0).unwrap_or(1);
    let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
    for k in 0..8 {
        let pos = [k & 1, k >> 1 & 1, k >> 2];
        // `k` is the higher cell of its column when it sits on the side up points to.
        let high = if step[axis] > 0 { pos[axis] == 1 } else { pos[axis] == 0 };
        if !high {
            continue;
        }
        let low = k ^ (1 << axis);
        let top = if v[k] != 0 { v[k] } else { v[low] };
        if top != 0 {
            *counts.entry(top).or_default() += 1;
        }
    }
    // Largest count, then smallest id.
    counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(m, _)| *m).unwrap_or(0)
}

/// A generator whose world's up points away from `centre`: with `centre` inside a test's
/// region, its chunks' ups differ (±X, ±Y, ±Z), so every grid cell must use its own chunk's.
pub struct Tilted {
    /// The voxels.
    pub ground: strata_core::FlatGenerator,
    /// The point up points away from.
    pub centre: [i64; 3],
}

impl WorldGenerator for Tilted {
    fn material_at(&self, pos: strata_core::VoxelPos) -> MaterialId {
        self.ground.material_at(pos)
    }

    fn world_up(&self) -> strata_core::WorldUp {
        strata_core::WorldUp::AwayFrom { centre: self.centre }
    }
}

/// A reference node: summary numbers (without version) and its 32³ cells.
#[derive(Clone)]
pub struct RefNode {
    pub version: u64,
    pub hist: BTreeMap<u16, u64>,
    pub cells: Chunk,
    pub source: DataSource,
    pub children: Vec<RefNode>,
}

fn hist_of(c: &Chunk, weight: u64) -> BTreeMap<u16, u64> {
    let mut counts = vec![0u64; 1 << 16];
    for i in 0..CHUNK_VOLUME {
        counts[usize::from(c.get(strata_core::LocalIndex::new(i as u16)).0)] += weight;
    }
    counts.iter().enumerate().filter(|(_, n)| **n > 0).map(|(m, n)| (m as u16, *n)).collect()
}

/// Reference nodes without a known chunk below them (the generator's alone), kept between
/// [`reference_memo`] calls of one test: they depend on nothing but the generator and the node.
pub type GeneratedNodes = HashMap<NodeId, RefNode>;

/// Recomputes node `id` from scratch: known chunks where given, generator samples elsewhere.
/// `versions` holds the last change version of each known chunk (absent: 0).
pub fn reference(
    id: NodeId,
    known: &HashMap<ChunkKey, Chunk>,
    versions: &HashMap<ChunkKey, u64>,
    generator: &dyn WorldGenerator,
) -> RefNode {
    reference_memo(id, known, versions, generator, &mut GeneratedNodes::new())
}

/// [`reference`], taking generated nodes from `memo` (and adding those it computes): `memo`
/// must only ever have seen `generator`.
pub fn reference_memo(
    id: NodeId,
    known: &HashMap<ChunkKey, Chunk>,
    versions: &HashMap<ChunkKey, u64>,
    generator: &dyn WorldGenerator,
    memo: &mut GeneratedNodes,
) -> RefNode {
    let any_known = known.keys().any(|k| id.contains(*k));
    if !any_known {
        return memo
            .entry(id)
            .or_insert_with(|| {
                let cells = generator.sample_lod(id.level, id.key);
                RefNode {
                    version: 0,
                    hist: hist_of(&cells, 1u64 << (3 * id.level)),
                    cells,
                    source: DataSource::Generated,
                    children: vec![],
                }
            })
            .clone();
    }
    if id.level == 0 {
        let cells = known[&id.key].clone();
        let version = versions.get(&id.key).copied().unwrap_or(0);
        return RefNode { version, hist: hist_of(&cells, 1), cells, source: DataSource::Exact, children: vec![] };
    }
    let children: Vec<RefNode> =
        (0..8).map(|i| reference_memo(id.child(i), known, versions, generator, memo)).collect();
    let mut d = DenseChunk::filled(MaterialId::AIR);
    for z in 0..32usize {
        for y in 0..32usize {
            for x in 0..32usize {
                let o = (x / 16) | ((y / 16) << 1) | ((z / 16) << 2);
                let c = &children[o].cells;
                let mut v = [0u16; 8];
                for (k, slot) in v.iter_mut().enumerate() {
                    let (cx, cy, cz) = (2 * (x % 16) + (k & 1), 2 * (y % 16) + ((k >> 1) & 1), 2 * (z % 16) + (k >> 2));
                    *slot = c.get(LocalPos::new(cx as u8, cy as u8, cz as u8).index()).0;
                }
                let size = 1i64 << id.level;
                let min = [x, y, z].map(|c| c as i64 * size);
                let min: [i64; 3] = std::array::from_fn(|a| i64::from(id.key.to_array()[a]) * 32 * size + min[a]);
                let up = generator.world_up().of_block(min, size);
                d.set(LocalPos::new(x as u8, y as u8, z as u8).index(), MaterialId(rule(&v, up)));
            }
        }
    }
    let mut cells = Chunk::Dense(d);
    cells.normalize();
    let mut hist = BTreeMap::new();
    for c in &children {
        for (m, n) in &c.hist {
            *hist.entry(*m).or_default() += n;
        }
    }
    let source =
        if children.iter().all(|c| c.source == DataSource::Exact) { DataSource::Exact } else { DataSource::Mixed };
    let version = children.iter().map(|c| c.version).max().unwrap_or(0);
    RefNode { version, hist, cells, source, children }
}

/// Checks every node of the reference tree at `id` against the snapshot.
pub fn check_node(snap: &IndexSnapshot, id: NodeId, r: &RefNode) -> Result<(), String> {
    let s = snap.summary(id);
    let total: u64 = r.hist.values().sum();
    let (dom, dom_n) = r.hist.iter().fold((0u16, 0u64), |b, (m, n)| if *n > b.1 { (*m, *n) } else { b });
    let non_air: u64 = r.hist.iter().filter(|(m, _)| **m != 0).map(|(_, n)| n).sum();
    let want = (id.level, dom, dom_n, total, r.hist.len() as u32, non_air, r.source, r.version);
    let got = (s.level, s.dominant.0, s.dominant_count, s.volume, s.distinct, s.non_air_count, s.source, s.version);
    if want != got {
        return Err(format!("summary of {id:?}: want {want:?}, got {got:?}"));
    }
    if snap.lod_chunk(id) != r.cells {
        return Err(format!("cells of {id:?} differ"));
    }
    for (i, c) in r.children.iter().enumerate() {
        check_node(snap, id.child(i), c)?;
    }
    Ok(())
}

/// Checks the whole index against a from-scratch recompute over `known` (chunk versions in
/// `versions`, absent: 0).
pub fn check_index(
    snap: &IndexSnapshot,
    known: &HashMap<ChunkKey, Chunk>,
    versions: &HashMap<ChunkKey, u64>,
    generator: &dyn WorldGenerator,
) -> Result<(), String> {
    let mut roots: Vec<NodeId> = known.keys().map(|k| NodeId::containing(*k, ROOT_LEVEL)).collect();
    roots.sort();
    roots.dedup();
    if roots.len() != snap.root_count() {
        return Err(format!("{} roots, want {}", snap.root_count(), roots.len()));
    }
    for id in roots {
        check_node(snap, id, &reference(id, known, versions, generator))?;
    }
    let mut want: Vec<(ChunkKey, ChunkSummary)> =
        known.iter().filter(|(_, c)| c.summary().non_air_count > 0).map(|(k, c)| (*k, c.summary())).collect();
    let mut got: Vec<(ChunkKey, ChunkSummary)> = snap.rtree_entries().map(|e| (e.key, e.summary)).collect();
    want.sort_by_key(|e| e.0);
    got.sort_by_key(|e| e.0);
    if want != got {
        return Err(format!("R-tree: {} entries, want {}", got.len(), want.len()));
    }
    for e in snap.rtree_entries() {
        if e.chunk.as_deref().is_some_and(|c| *c != known[&e.key]) {
            return Err(format!("R-tree payload of {:?} is stale", e.key));
        }
    }
    Ok(())
}
