//! The selection against the light itself: random cave worlds, random edits (lamps placed and
//! removed, walls dug and built, holes through the roof), the light fields of every chunk
//! around computed before and after the edit (`strata_mesh`'s `LightField`, as the plugin's
//! meshes read them: each chunk and its one-voxel border); every chunk whose light changed must
//! be the edited chunk, a face neighbour, or selected.

use super::*;
use proptest::prelude::*;
use std::collections::HashSet;
use std::sync::Arc;
use strata_core::{MaterialRegistry, MemoryStore, VoxelPos, WorldConfig, WorldGenerator, WorldUp};
use strata_mesh::{LightField, LightNeighborhood, MaterialTable};

const STONE: MaterialId = MaterialId(1);
const GLASS: MaterialId = MaterialId(16);
const WATER: MaterialId = MaterialId(5);

fn lamp() -> MaterialId {
    MaterialRegistry::builtin().id("lamp").expect("the shipped lamp")
}

/// A cave world: open sky above a stone roof (voxels 8..=11 up) with holes, a cave under it
/// down to the floor at −40 with pillars, glass and water, and a few lamps; `up` any axis.
struct Caves {
    seed: u64,
    up: WorldUp,
}

fn hash(seed: u64, v: [i32; 3]) -> u64 {
    let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
    for c in v {
        h = (h ^ c as u32 as u64).wrapping_mul(0x1000_0000_01B3).rotate_left(29);
    }
    h ^ h >> 31
}

impl WorldGenerator for Caves {
    fn material_at(&self, pos: VoxelPos) -> MaterialId {
        let h = pos.y;
        let (a, b) = (pos.x, pos.z);
        if h >= 40 {
            return MaterialId::AIR;
        }
        if (8..=11).contains(&h) {
            return if hash(self.seed, [a / 3, 0, b / 3]).is_multiple_of(7) { MaterialId::AIR } else { STONE };
        }
        if h < -40 {
            return STONE;
        }
        if h > 11 {
            return MaterialId::AIR;
        }
        let column = hash(self.seed, [a / 4, 1, b / 4]) % 9;
        let voxel = hash(self.seed, [a, h, b]) % 3000;
        match (column, voxel) {
            (0, _) => STONE,
            (1, _) if h < -30 => WATER,
            (2, _) => GLASS,
            (_, 0..=2) => lamp(),
            _ => MaterialId::AIR,
        }
    }

    fn world_up(&self) -> WorldUp {
        self.up
    }
}

/// Light of every chunk of `keys` as its mesh reads it (the chunk and its border).
fn light_of(world: &World, table: &MaterialTable, keys: &[ChunkKey]) -> Vec<Vec<(u8, u8)>> {
    let mut field = LightField::new();
    keys.iter()
        .map(|&key| {
            let ring: Vec<Option<Arc<Chunk>>> = (0..27)
                .map(|i| {
                    let o = LightNeighborhood::offset(i);
                    let k = key.to_array();
                    world.resident_chunk(ChunkKey::new(k[0] + o[0], k[1] + o[1], k[2] + o[2]))
                })
                .collect();
            let up = world.generator().world_up().of_chunk(key);
            let mut hood = LightNeighborhood::from_fn(up, |o| ring[LightNeighborhood::index(o)].as_deref());
            // The sky beyond the ring as the plugin gives it.
            hood.sky_beyond = sky_beyond(world, |m| table.kind(m), key);
            field.compute(table, &hood);
            let mut out = Vec::with_capacity(34 * 34 * 34);
            for z in -1..=32 {
                for y in -1..=32 {
                    for x in -1..=32 {
                        out.push((field.sky([x, y, z]), field.block([x, y, z])));
                    }
                }
            }
            out
        })
        .collect()
}

#[derive(Clone, Debug)]
enum Op {
    Set(VoxelPos, MaterialId),
    Fill(VoxelPos, VoxelPos, MaterialId),
}

fn op() -> impl Strategy<Value = Op> {
    let pos = (-40i32..40, -44i32..20, -40i32..40).prop_map(|(x, y, z)| VoxelPos::new(x, y, z));
    let material = prop_oneof![Just(MaterialId::AIR), Just(STONE), Just(GLASS), Just(WATER), Just(lamp())];
    prop_oneof![
        (pos.clone(), material.clone()).prop_map(|(p, m)| Op::Set(p, m)),
        (pos.clone(), 0i32..6, 0i32..6, 0i32..6, material)
            .prop_map(|(p, dx, dy, dz, m)| { Op::Fill(p, VoxelPos::new(p.x + dx, p.y + dy, p.z + dz), m) }),
        // A whole chunk of the roof's layer turned to stone (uniform: the sky two layers down
        // closes beyond their ring).
        (-2i32..2, -2i32..2).prop_map(|(cx, cz)| {
            Op::Fill(VoxelPos::new(cx * 32, 0, cz * 32), VoxelPos::new(cx * 32 + 31, 31, cz * 32 + 31), STONE)
        }),
        // A hole through the roof.
        (-40i32..40, -40i32..40, 1i32..4).prop_map(|(x, z, w)| {
            Op::Fill(VoxelPos::new(x, 7, z), VoxelPos::new(x + w, 12, z + w), MaterialId::AIR)
        }),
    ]
}

/// Chunks whose light changed and which the edit did not select.
fn missed(
    seed: u64,
    up: WorldUp,
    pre: &[Op],
    ops: &[Op],
    selector: impl Fn(&World, ChunkKey, ChangeExtent, &mut Vec<ChunkKey>),
) -> Vec<ChunkKey> {
    let registry = MaterialRegistry::builtin();
    let table = MaterialTable::new(&registry);
    let mut world = World::new(Arc::new(MemoryStore::new()), Arc::new(Caves { seed, up }), WorldConfig::default());
    // Chunks x, z in -2..=1 and y in -2..=0 are checked; one more layer around is resident.
    let checked: Vec<ChunkKey> =
        (-2..=1).flat_map(|x| (-2..=0).flat_map(move |y| (-2..=1).map(move |z| ChunkKey::new(x, y, z)))).collect();
    for x in -3..=2 {
        for y in -3..=1 {
            for z in -3..=2 {
                world.chunk(ChunkKey::new(x, y, z)).expect("a memory store");
            }
        }
    }
    for op in pre {
        edit(&world, op);
    }
    world.apply().expect("a memory store");
    let changes = world.subscribe();
    let before = light_of(&world, &table, &checked);
    for op in ops {
        edit(&world, op);
    }
    world.apply().expect("a memory store");
    let mut selected: HashSet<ChunkKey> = HashSet::new();
    for c in changes.try_iter() {
        let k = c.key.to_array();
        selected.insert(c.key);
        for d in [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]] {
            selected.insert(ChunkKey::new(k[0] + d[0], k[1] + d[1], k[2] + d[2]));
        }
        let mut out = Vec::new();
        selector(&world, c.key, c.extent, &mut out);
        selected.extend(out);
    }
    let after = light_of(&world, &table, &checked);
    checked
        .iter()
        .zip(before.iter().zip(&after))
        .filter(|(k, (b, a))| b != a && !selected.contains(k))
        .map(|(k, _)| *k)
        .collect()
}

fn edit(world: &World, op: &Op) {
    match *op {
        Op::Set(p, m) => world.set_voxel(p, m),
        Op::Fill(a, b, m) => world.fill_box(a, b, m).expect("a small box"),
    }
}

fn relit(table: &MaterialTable) -> impl Fn(&World, ChunkKey, ChangeExtent, &mut Vec<ChunkKey>) + '_ {
    move |world, key, extent, out| relit_chunks(world, |m| table.kind(m), key, extent, out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_chunk_whose_light_an_edit_changes_is_relit(
        seed in any::<u64>(),
        ops in prop::collection::vec(op(), 1..4),
    ) {
        let table = MaterialTable::new(&MaterialRegistry::builtin());
        let missed = missed(seed, WorldUp::PlusY, &[], &ops, relit(&table));
        prop_assert!(missed.is_empty(), "light changed in {missed:?}, not relit");
    }
}

#[test]
fn a_lamp_fourteen_steps_from_a_diagonal_chunk_relights_it() {
    // An open cave (pillars cleared); a lamp at local (31, 16, 17) of chunk (0, −1, 0) lights
    // voxel (31, 16, 31) at level 1: the border of chunk (1, −1, 1).
    let table = MaterialTable::new(&MaterialRegistry::builtin());
    let clear = [Op::Fill(VoxelPos::new(0, -30, 0), VoxelPos::new(63, -1, 63), MaterialId::AIR)];
    let lamp_op = [Op::Set(VoxelPos::new(31, -16, 17), lamp())];
    assert_eq!(missed(5, WorldUp::PlusY, &clear, &lamp_op, relit(&table)), Vec::<ChunkKey>::new());
    // Selecting only what lies within 12 voxels misses it.
    let short = |world: &World, key: ChunkKey, extent: ChangeExtent, out: &mut Vec<ChunkKey>| {
        let mut all = Vec::new();
        relit_chunks(world, |m| table.kind(m), key, extent, &mut all);
        out.extend(all.into_iter().filter(|k| k.x <= 0 || k.z <= 0));
    };
    assert_eq!(missed(5, WorldUp::PlusY, &clear, &lamp_op, short), vec![ChunkKey::new(1, -1, 1)]);
}

#[test]
fn a_lamp_in_a_cave_relights_its_ring_at_most_and_a_roof_hole_the_layer_below() {
    let table = MaterialTable::new(&MaterialRegistry::builtin());
    let kind = |m| table.kind(m);
    let mut world = World::new(
        Arc::new(MemoryStore::new()),
        Arc::new(Caves { seed: 3, up: WorldUp::PlusY }),
        WorldConfig::default(),
    );
    for x in -2..=2 {
        for y in -3..=2 {
            for z in -2..=2 {
                world.chunk(ChunkKey::new(x, y, z)).expect("a memory store");
            }
        }
    }
    // A lamp under the roof, in a corner of its chunk: its ring at most (the cave's ceiling
    // closes every column above it).
    let corner = ChangeExtent::new(LocalPos::new(1, 1, 1), LocalPos::new(1, 1, 1), false);
    assert!(!sky_reaches(&world, &kind, ChunkKey::new(0, -1, 0), corner));
    let mut out = Vec::new();
    relit_chunks(&world, kind, ChunkKey::new(0, -1, 0), corner, &mut out);
    assert_eq!(out.len(), 4, "the 4 ring chunks beyond the face neighbours on the corner's side: 11 remeshed");
    // In the middle of its chunk: nothing beyond the face neighbours (7 in all).
    let middle = ChangeExtent::new(LocalPos::new(16, 16, 16), LocalPos::new(16, 16, 16), false);
    out.clear();
    relit_chunks(&world, kind, ChunkKey::new(0, -1, 0), middle, &mut out);
    assert_eq!(out, Vec::<ChunkKey>::new());
    // A hole through the roof (voxels 7..=12 up) at the chunk's +x +z corner: the sky reaches
    // it, so the diagonal chunks below are relit though the hole is 19 voxels above them.
    world.fill_box(VoxelPos::new(29, 7, 29), VoxelPos::new(31, 12, 31), MaterialId::AIR).expect("a small box");
    world.apply().expect("a memory store");
    let hole = ChangeExtent::new(LocalPos::new(29, 7, 29), LocalPos::new(31, 12, 31), false);
    assert!(sky_reaches(&world, &kind, ChunkKey::new(0, 0, 0), hole));
    out.clear();
    relit_chunks(&world, kind, ChunkKey::new(0, 0, 0), hole, &mut out);
    assert!(out.contains(&ChunkKey::new(1, -1, 1)), "{out:?}");
}
