//! The light field against a brute force written from the rule alone: the whole 96³
//! neighbourhood relaxed until nothing changes.

use super::*;
use proptest::prelude::*;
use std::sync::Arc;
use strata_core::{DenseChunk, MaterialId, MaterialKind, MaterialRegistry};

/// Edge of the neighbourhood in voxels.
const N: usize = 3 * CHUNK_SIZE;

const AIR: u16 = 0;
const STONE: u16 = 1;
const GLASS: u16 = 2;
const WATER: u16 = 3;
const LAMP: u16 = 4;
const GLOW: u16 = 5;
const MAGMA: u16 = 6;
const EMBER: u16 = 7;

fn registry() -> MaterialRegistry {
    MaterialRegistry::from_ron_str(
        "(materials: [
            (id: 0, name: \"air\", color: (0,0,0,0), kind: Air),
            (id: 1, name: \"stone\", color: (0,0,0,1), kind: Solid),
            (id: 2, name: \"glass\", color: (0,0,0,1), kind: Transparent),
            (id: 3, name: \"water\", color: (0,0,0,1), kind: Fluid),
            (id: 4, name: \"lamp\", color: (0,0,0,1), kind: Solid, light: 15),
            (id: 5, name: \"glow\", color: (0,0,0,1), kind: Transparent, light: 7),
            (id: 6, name: \"magma\", color: (0,0,0,1), kind: Fluid, light: 9),
            (id: 7, name: \"ember\", color: (0,0,0,1), kind: Solid, light: 3),
        ])",
    )
    .unwrap()
}

/// A 3 × 3 × 3 neighbourhood as one voxel array (`x + N·y + N²·z`, the centre chunk at
/// `32..64`), with the chunks that are not loaded and the sky beyond the top layer.
struct World {
    ids: Vec<u16>,
    unloaded: [bool; 27],
    sky_beyond: [bool; 27],
    up: Face,
}

fn at(p: [usize; 3]) -> usize {
    p[0] + N * (p[1] + N * p[2])
}

/// The chunk of neighbourhood voxel `p`, as an index into the 27.
fn chunk_of(p: [usize; 3]) -> usize {
    LightNeighborhood::index(p.map(|v| (v / CHUNK_SIZE) as i32 - 1))
}

impl World {
    fn chunks(&self) -> Vec<Option<Chunk>> {
        (0..27)
            .map(|i| {
                if self.unloaded[i] {
                    return None;
                }
                let o = LightNeighborhood::offset(i).map(|d| ((d + 1) as usize) * CHUNK_SIZE);
                let dense = DenseChunk::from_fn(|l| {
                    MaterialId(self.ids[at([o[0] + l.x as usize, o[1] + l.y as usize, o[2] + l.z as usize])])
                });
                let mut c = Chunk::Dense(dense);
                c.normalize();
                Some(c)
            })
            .collect()
    }

    /// The rule, by relaxation over every voxel: `(sky, block)` per voxel.
    fn brute_force(&self, registry: &MaterialRegistry) -> (Vec<u8>, Vec<u8>) {
        let kind = |id: u16| registry.kind(MaterialId(id)).unwrap();
        let emit = |id: u16| registry.get(MaterialId(id)).unwrap().light;
        let clear = |id: u16| kind(id) != MaterialKind::Solid;
        let sky_clear = |id: u16| matches!(kind(id), MaterialKind::Air | MaterialKind::Transparent);
        // Open sky: walk every column from the top of the neighbourhood down.
        let axis = self.up.axis();
        let positive = self.up.is_positive();
        let mut open = vec![false; N * N * N];
        for u in 0..N {
            for v in 0..N {
                let mut p = [0; 3];
                let others: Vec<usize> = (0..3).filter(|&a| a != axis).collect();
                p[others[0]] = u;
                p[others[1]] = v;
                p[axis] = if positive { N - 1 } else { 0 };
                let mut lit = self.sky_beyond[chunk_of(p)];
                for step in 0..N {
                    p[axis] = if positive { N - 1 - step } else { step };
                    lit &= sky_clear(self.ids[at(p)]);
                    open[at(p)] = lit;
                }
            }
        }
        let neighbours = |p: [usize; 3]| {
            let mut out = Vec::with_capacity(6);
            for a in 0..3 {
                for d in [-1i32, 1] {
                    let v = p[a] as i32 + d;
                    if (0..N as i32).contains(&v) {
                        let mut q = p;
                        q[a] = v as usize;
                        out.push(q);
                    }
                }
            }
            out
        };
        let mut sky: Vec<u8> = (0..N * N * N).map(|i| if open[i] { 15 } else { 0 }).collect();
        let mut block: Vec<u8> = self.ids.iter().map(|&id| emit(id)).collect();
        loop {
            let mut changed = false;
            for z in 0..N {
                for y in 0..N {
                    for x in 0..N {
                        let p = [x, y, z];
                        let i = at(p);
                        if !clear(self.ids[i]) {
                            continue;
                        }
                        for q in neighbours(p) {
                            let j = at(q);
                            if !open[i] && sky[j] > sky[i] + 1 {
                                sky[i] = sky[j] - 1;
                                changed = true;
                            }
                            if block[j] > block[i] + 1 {
                                block[i] = block[j] - 1;
                                changed = true;
                            }
                        }
                    }
                }
            }
            if !changed {
                return (sky, block);
            }
        }
    }

    /// Checks the field of this world against the brute force on the centre chunk and its
    /// one-voxel border, then the light of every face the mesher emits with it.
    fn check(&self) -> Result<(), TestCaseError> {
        let registry = registry();
        let table = MaterialTable::new(&registry);
        let chunks = self.chunks();
        let mut hood = LightNeighborhood::from_fn(self.up, |o| chunks[LightNeighborhood::index(o)].as_ref());
        hood.sky_beyond = self.sky_beyond;
        let mut field = LightField::new();
        // Twice: the second run must not see the first one's light.
        field.compute(&table, &LightNeighborhood::from_fn(self.up, |_| None));
        field.compute(&table, &hood);
        let (sky, block) = self.brute_force(&registry);
        // The same light from rows kept per chunk: built, then served from what was kept.
        let shared: [Option<Arc<Chunk>>; 27] = std::array::from_fn(|i| chunks[i].clone().map(Arc::new));
        let mut kept = LightField::new();
        for round in 0..2 {
            kept.compute_shared(&table, &shared, self.up, self.sky_beyond);
            let dense = shared.iter().flatten().filter(|c| c.as_uniform().is_none()).count();
            prop_assert_eq!(kept.rows_kept(), dense, "round {}", round);
            for z in -1..=CHUNK_SIZE as i32 {
                for y in -1..=CHUNK_SIZE as i32 {
                    for x in -1..=CHUNK_SIZE as i32 {
                        let p = [x, y, z];
                        prop_assert_eq!((kept.sky(p), kept.block(p)), (field.sky(p), field.block(p)), "{:?}", p);
                    }
                }
            }
        }
        for z in -1..=CHUNK_SIZE as i32 {
            for y in -1..=CHUNK_SIZE as i32 {
                for x in -1..=CHUNK_SIZE as i32 {
                    let p = [x, y, z];
                    let i = at(p.map(|v| (v + CHUNK_SIZE as i32) as usize));
                    prop_assert_eq!(field.sky(p), sky[i], "sky at {:?}", p);
                    prop_assert_eq!(field.block(p), block[i], "block at {:?}", p);
                    prop_assert_eq!(
                        field.is_clear(p),
                        registry.kind(MaterialId(self.ids[i])).unwrap() != MaterialKind::Solid
                    );
                }
            }
        }
        self.check_mesh(&table, &chunks, &field, &sky, &block)
    }

    /// Every unit face of every quad of the lit mesh has the quad's vertex light, and that is
    /// the smooth corner rule over the brute force's levels: per corner the rounded mean over
    /// the clear voxels among the one the face looks into, the two beside it towards the corner
    /// and the diagonal one (only when a side is clear).
    fn check_mesh(
        &self,
        table: &MaterialTable,
        chunks: &[Option<Chunk>],
        field: &LightField,
        sky: &[u8],
        block: &[u8],
    ) -> Result<(), TestCaseError> {
        use crate::{ChunkMesh, MeshOptions, Mesher, Neighbor, Neighborhood};
        const TANGENTS: [(usize, usize); 3] = [(1, 2), (2, 0), (0, 1)];
        const CORNERS: [(i32, i32); 4] = [(-1, -1), (1, -1), (1, 1), (-1, 1)];
        let Some(center) = chunks[13].as_ref() else { unreachable!("the centre is loaded") };
        let hood = Neighborhood::from_fn(center, |f| {
            chunks[LightNeighborhood::index(f.offset())].as_ref().map_or(Neighbor::Unloaded, Neighbor::Loaded)
        });
        let mut mesher = Mesher::new(table.clone());
        let mut mesh = ChunkMesh::default();
        let options = MeshOptions { ambient_occlusion: true, fluid_depth: true, ..MeshOptions::default() };
        // The mesher first lights the chunk with the sky on the other side: nothing it read
        // then may show in the second mesh.
        let mut other = LightField::new();
        let up = LightNeighborhood::from_fn(self.up.opposite(), |o| chunks[LightNeighborhood::index(o)].as_ref());
        other.compute(table, &up);
        mesher.mesh_lit(&hood, Some(&other), &options, &mut mesh);
        mesher.mesh_lit(&hood, Some(field), &options, &mut mesh);
        let clear =
            |p: [i32; 3]| table.kind(MaterialId(self.ids[at(p.map(|v| (v + 32) as usize))])) != MaterialKind::Solid;
        let level = |p: [i32; 3]| {
            let i = at(p.map(|v| (v + 32) as usize));
            (u32::from(sky[i]), u32::from(block[i]))
        };
        let emits = registry();
        let mut faces = 0;
        for buffers in [&mesh.opaque, &mesh.transparent] {
            for (qi, q) in buffers.quads().enumerate() {
                let a = q.face.axis();
                let (pa, qa) = TANGENTS[a];
                let mut corners = [[0.0f32; 2]; 4];
                for v in 0..4 {
                    let pos = buffers.positions[qi * 4 + v];
                    let sp = if pos[pa] == q.min[pa] { -1 } else { 1 };
                    let sq = if pos[qa] == q.min[qa] { -1 } else { 1 };
                    let corner = CORNERS.iter().position(|&c| c == (sp, sq)).unwrap_or(0);
                    corners[corner] = buffers.light[qi * 4 + v];
                }
                let slice = q.min[a] as i32 - i32::from(q.face.is_positive());
                for u in q.min[pa] as i32..q.max[pa] as i32 {
                    for w in q.min[qa] as i32..q.max[qa] as i32 {
                        let mut cell = [0; 3];
                        cell[a] = slice;
                        cell[pa] = u;
                        cell[qa] = w;
                        let n = q.face.offset();
                        let front = [cell[0] + n[0], cell[1] + n[1], cell[2] + n[2]];
                        for (i, (sp, sq)) in CORNERS.into_iter().enumerate() {
                            let (mut s1, mut s2) = (front, front);
                            s1[pa] += sp;
                            s2[qa] += sq;
                            let mut d = s1;
                            d[qa] += sq;
                            let mut counted = vec![front];
                            counted.extend([s1, s2].into_iter().filter(|&c| clear(c)));
                            if (clear(s1) || clear(s2)) && clear(d) {
                                counted.push(d);
                            }
                            let k = counted.len() as u32;
                            let (s, b) = counted.iter().fold((0, 0), |(s, b), &c| (s + level(c).0, b + level(c).1));
                            let mean = |v: u32| (2 * v + k) / (2 * k);
                            // An emitter's faces show at least its own level.
                            let own = u32::from(emits.get(MaterialId(q.material as u16)).unwrap().light);
                            let want = [mean(s) as f32 / 15.0, mean(b).max(own) as f32 / 15.0];
                            prop_assert_eq!(corners[i], want, "{:?} of {:?} corner {}", q.face, cell, i);
                            faces += 1;
                        }
                    }
                }
            }
        }
        prop_assert!(faces > 0 || mesh.quad_count() == 0);
        Ok(())
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// A random neighbourhood with the hard cases: ground and open sky along `up`, roofs with holes
/// over caves, glass and water bodies, emitters of every kind (many near the centre's borders
/// and in diagonal chunks), uniform chunks, chunks not loaded and closed sky beyond some columns.
fn random_world(seed: u64, up: Face) -> World {
    let mut rng = Rng(seed | 1);
    let mut ids = vec![AIR; N * N * N];
    let axis = up.axis();
    // Height along up, in "up coordinates" (0 = bottom of the neighbourhood along up).
    let height = |p: [usize; 3]| if up.is_positive() { p[axis] } else { N - 1 - p[axis] };
    let ground = 24 + rng.below(48);
    let fill_box = |rng: &mut Rng, ids: &mut Vec<u16>, id: u16, max: usize| {
        let size: [usize; 3] = std::array::from_fn(|_| 1 + rng.below(max));
        let lo: [usize; 3] = std::array::from_fn(|a| rng.below(N - size[a] + 1));
        for z in lo[2]..lo[2] + size[2] {
            for y in lo[1]..lo[1] + size[1] {
                for x in lo[0]..lo[0] + size[0] {
                    ids[at([x, y, z])] = id;
                }
            }
        }
    };
    for z in 0..N {
        for y in 0..N {
            for x in 0..N {
                if height([x, y, z]) < ground {
                    ids[at([x, y, z])] = STONE;
                }
            }
        }
    }
    for _ in 0..6 {
        fill_box(&mut rng, &mut ids, AIR, 30);
    }
    for _ in 0..3 {
        let id = [GLASS, WATER][rng.below(2)];
        fill_box(&mut rng, &mut ids, id, 20);
    }
    // A roof across up with holes in it.
    let roof = ground + rng.below(20);
    let thick = 1 + rng.below(3);
    for z in 0..N {
        for y in 0..N {
            for x in 0..N {
                let h = height([x, y, z]);
                let [a, b] = [0, 1, 2].into_iter().filter(|&a| a != axis).collect::<Vec<_>>()[..] else {
                    unreachable!()
                };
                if (roof..roof + thick).contains(&h)
                    && (10..86).contains(&[x, y, z][a])
                    && (10..86).contains(&[x, y, z][b])
                {
                    ids[at([x, y, z])] = STONE;
                }
            }
        }
    }
    for _ in 0..4 {
        fill_box(&mut rng, &mut ids, AIR, 6);
    }
    // Uniform chunks and unloaded ones.
    let mut unloaded = [false; 27];
    for (i, u) in unloaded.iter_mut().enumerate() {
        if i == 13 {
            continue;
        }
        let o = LightNeighborhood::offset(i).map(|d| ((d + 1) as usize) * CHUNK_SIZE);
        let fill = match rng.below(20) {
            0..=2 => Some(AIR),
            3 => Some(STONE),
            4 => Some(WATER),
            5 => Some(GLASS),
            _ => None,
        };
        *u = rng.chance(12);
        let fill = if *u { Some(AIR) } else { fill };
        if let Some(id) = fill {
            for z in 0..CHUNK_SIZE {
                for y in 0..CHUNK_SIZE {
                    for x in 0..CHUNK_SIZE {
                        ids[at([o[0] + x, o[1] + y, o[2] + z])] = id;
                    }
                }
            }
        }
    }
    // Emitters, mostly within reach of the centre chunk (and not in unloaded chunks).
    for _ in 0..24 {
        let id = [LAMP, GLOW, MAGMA, EMBER][rng.below(4)];
        let p: [usize; 3] = std::array::from_fn(|_| 14 + rng.below(N - 28));
        if !unloaded[chunk_of(p)] {
            ids[at(p)] = id;
        }
    }
    let sky_beyond = std::array::from_fn(|_| rng.chance(75));
    World { ids, unloaded, sky_beyond, up }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn equals_the_brute_force_over_the_whole_neighbourhood(seed in any::<u64>(), up in 0usize..6) {
        random_world(seed, Face::ALL[up]).check()?;
    }
}

/// A world of stone with the given cells set.
fn stone_world(up: Face, cells: &[([usize; 3], u16)]) -> World {
    let mut ids = vec![STONE; N * N * N];
    for &(p, id) in cells {
        ids[at(p)] = id;
    }
    World { ids, unloaded: [false; 27], sky_beyond: [true; 27], up }
}

#[test]
fn a_lamp_in_a_diagonal_chunk_lights_the_centre_through_a_tunnel() {
    // A lamp in the (+1, +1, 0) chunk at (64, 64, 40), next to the end of a sealed tunnel along
    // x at y = 63 that runs from the (+1, 0, 0) chunk into the centre chunk.
    let mut cells: Vec<([usize; 3], u16)> = (48..=64).map(|x| ([x, 63, 40], AIR)).collect();
    cells.push(([64, 64, 40], LAMP));
    let world = stone_world(Face::PosY, &cells);
    world.check().unwrap();
    let table = MaterialTable::new(&registry());
    let chunks = world.chunks();
    let hood = LightNeighborhood::from_fn(Face::PosY, |o| chunks[LightNeighborhood::index(o)].as_ref());
    let mut field = LightField::new();
    field.compute(&table, &hood);
    // Centre coordinates: the tunnel runs at y = 31, z = 8; its voxel at x = 32 touches the lamp.
    assert_eq!(field.block([32, 31, 8]), 14);
    assert_eq!(field.block([31, 31, 8]), 13);
    assert_eq!(field.block([19, 31, 8]), 1);
    assert_eq!(field.block([18, 31, 8]), 0);
    assert_eq!(field.block([32, 32, 8]), 15, "the lamp holds its own level");
    assert_eq!(field.sky([25, 31, 8]), 0, "a sealed tunnel sees no sky");
}

#[test]
fn water_takes_one_level_per_voxel_from_the_sky() {
    // Open sky above a lake: the water column darkens one level per voxel.
    let mut ids = vec![AIR; N * N * N];
    for z in 0..N {
        for y in 0..N {
            for x in 0..N {
                ids[at([x, y, z])] = match y {
                    0..40 => STONE,
                    40..50 => WATER,
                    _ => AIR,
                };
            }
        }
    }
    let world = World { ids, unloaded: [false; 27], sky_beyond: [true; 27], up: Face::PosY };
    world.check().unwrap();
    let table = MaterialTable::new(&registry());
    let chunks = world.chunks();
    let hood = LightNeighborhood::from_fn(Face::PosY, |o| chunks[LightNeighborhood::index(o)].as_ref());
    let mut field = LightField::new();
    field.compute(&table, &hood);
    for y in 40..50 {
        assert_eq!(field.sky([5, y - 32, 5]), 15 - (50 - y as u8), "water at y {y}");
    }
    assert_eq!(field.sky([5, 50 - 32, 5]), 15);
}

#[test]
fn kept_rows_are_never_served_for_an_edited_chunk() {
    let table = MaterialTable::new(&registry());
    // A sealed stone world with a lamp-lit cell in the centre; then the lamp is removed from a
    // copy of the chunk (a new Arc, as the world's copy-on-write edit makes) and edited in place
    // (`Arc::make_mut` with only the field's weak reference left).
    let mut dense = DenseChunk::filled(MaterialId(STONE));
    dense.set(LocalPos::new(10, 10, 10).index(), MaterialId(AIR));
    dense.set(LocalPos::new(11, 10, 10).index(), MaterialId(LAMP));
    let stone = Arc::new(Chunk::Uniform(MaterialId(STONE)));
    let mut ring: [Option<Arc<Chunk>>; 27] = std::array::from_fn(|_| Some(stone.clone()));
    ring[13] = Some(Arc::new(Chunk::Dense(dense)));
    let mut field = LightField::new();
    field.compute_shared(&table, &ring, Face::PosY, [false; 27]);
    assert_eq!(field.block([10, 10, 10]), 14);
    // Edited in place: the field's weak reference is all that shares it.
    let mut centre = ring[13].take().unwrap();
    Arc::make_mut(&mut centre).set(LocalPos::new(11, 10, 10).index(), MaterialId(STONE));
    ring[13] = Some(centre);
    field.compute_shared(&table, &ring, Face::PosY, [false; 27]);
    assert_eq!(field.block([10, 10, 10]), 0, "the lamp is gone");
    assert_eq!(field.sky([10, 10, 10]), 0);
}
