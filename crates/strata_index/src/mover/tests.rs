use super::*;
use proptest::prelude::*;
use std::collections::HashSet;
use strata_core::{MaterialId, ShapeBox};

/// A player-sized box.
const PLAYER: [f64; 3] = [0.6, 1.8, 0.6];

fn solids_of(set: &HashSet<VoxelPos>) -> impl FnMut(VoxelPos) -> bool + '_ {
    move |v| set.contains(&v)
}

/// Flat ground: every voxel with `y < 0` in `-r..r` on x and z.
fn ground(r: i32) -> HashSet<VoxelPos> {
    let mut s = HashSet::new();
    for x in -r..r {
        for z in -r..r {
            for y in -3..0 {
                s.insert(VoxelPos::new(x, y, z));
            }
        }
    }
    s
}

#[test]
fn a_falling_body_lands_exactly_on_the_ground_and_is_grounded() {
    let world = ground(8);
    let mut body = Body::standing_at([0.5, 5.25, 0.5], PLAYER);
    let m = move_and_slide(&mut body, [0.0, -20.0, 0.0], 1.0, &mut solids_of(&world)).unwrap();
    assert_eq!(body.min[1], 0.0, "on the plane y = 0, not in it");
    assert_eq!(m.moved[1], -5.25);
    assert!(m.blocked[1] && m.grounded && !m.stepped);
    assert!(is_grounded(&body, &mut solids_of(&world)));
    // A body a hair above the ground is not grounded.
    let hover = Body::standing_at([0.5, 1e-9, 0.5], PLAYER);
    assert!(!is_grounded(&hover, &mut solids_of(&world)));
}

#[test]
fn walking_into_a_wall_slides_along_it() {
    let mut world = ground(8);
    for y in 0..4 {
        for z in -8..8 {
            world.insert(VoxelPos::new(3, y, z));
        }
    }
    let mut body = Body::standing_at([0.5, 0.0, 0.5], PLAYER);
    let m = move_and_slide(&mut body, [4.0, -0.1, 2.0], 1.0, &mut solids_of(&world)).unwrap();
    assert_eq!(body.max[0], 3.0, "stopped on the wall's face");
    assert_eq!(m.moved[2], 2.0, "slid the whole way along it");
    assert_eq!(m.blocked, [true, true, false]);
    assert!(!m.stepped, "a wall of 4 is not a ledge");
}

#[test]
fn a_one_voxel_ledge_is_climbed_and_a_two_voxel_one_is_not() {
    for (height, climbs) in [(1, true), (2, false)] {
        let mut world = ground(8);
        for x in 2..8 {
            for z in -8..8 {
                for y in 0..height {
                    world.insert(VoxelPos::new(x, y, z));
                }
            }
        }
        let mut body = Body::standing_at([0.5, 0.0, 0.5], PLAYER);
        let m = move_and_slide(&mut body, [2.0, 0.0, 0.0], 1.0, &mut solids_of(&world)).unwrap();
        assert_eq!(m.stepped, climbs, "ledge {height}");
        if climbs {
            assert_eq!(body.min[1], 1.0, "on top of the ledge");
            assert_eq!(body.min[0], 2.2, "the whole way");
            assert!(m.grounded);
        } else {
            assert_eq!(body.max[0], 2.0);
        }
        // Without step-up nothing is climbed.
        let mut body = Body::standing_at([0.5, 0.0, 0.5], PLAYER);
        assert!(!move_and_slide(&mut body, [2.0, 0.0, 0.0], 0.0, &mut solids_of(&world)).unwrap().stepped);
    }
}

#[test]
fn no_speed_tunnels_through_a_thin_wall() {
    let world: HashSet<VoxelPos> = (-4..4).flat_map(|y| (-4..4).map(move |z| VoxelPos::new(100, y, z))).collect();
    for speed in [0.5, 1.0, 7.3, 99.0, 100.0, 500.0, MAX_MOVE] {
        let mut body = Body { min: [0.1, 0.0, 0.0], max: [0.7, 1.8, 0.6] };
        move_and_slide(&mut body, [speed, 0.0, 0.0], 0.0, &mut solids_of(&world)).unwrap();
        assert!(body.max[0] <= 100.0, "speed {speed}: {body:?}");
        let mut back = Body { min: [200.0, 0.0, 0.0], max: [200.6, 1.8, 0.6] };
        move_and_slide(&mut back, [-speed, 0.0, 0.0], 0.0, &mut solids_of(&world)).unwrap();
        assert!(back.min[0] >= 101.0 || speed < 99.0, "speed {speed}: {back:?}");
    }
}

#[test]
fn a_voxel_placed_inside_the_body_does_not_trap_it() {
    let mut world = ground(8);
    world.insert(VoxelPos::new(0, 1, 0));
    let mut body = Body::standing_at([0.5, 0.0, 0.5], PLAYER);
    assert!(body.overlaps(VoxelPos::new(0, 1, 0)));
    let m = move_and_slide(&mut body, [3.0, 0.0, 0.0], 1.0, &mut solids_of(&world)).unwrap();
    assert_eq!(m.moved[0], 3.0);
    assert!(!body.overlaps(VoxelPos::new(0, 1, 0)));
}

#[test]
fn bad_input_is_a_typed_error_and_changes_nothing() {
    let world = ground(4);
    let start = Body::standing_at([0.5, 0.0, 0.5], PLAYER);
    let mut body = start;
    let mut s = solids_of(&world);
    assert!(matches!(move_and_slide(&mut body, [f64::NAN, 0.0, 0.0], 1.0, &mut s), Err(MoveError::InvalidMove { .. })));
    assert!(matches!(move_and_slide(&mut body, [0.0; 3], -1.0, &mut s), Err(MoveError::InvalidMove { .. })));
    assert!(matches!(move_and_slide(&mut body, [0.0, 0.0, 2000.0], 1.0, &mut s), Err(MoveError::TooFar(_))));
    assert_eq!(body, start);
    let mut flat = Body { min: [0.0; 3], max: [1.0, 0.0, 1.0] };
    assert!(matches!(move_and_slide(&mut flat, [1.0; 3], 1.0, &mut s), Err(MoveError::InvalidBody(_))));
    let mut far = Body { min: [3e9, 0.0, 0.0], max: [3e9 + 1.0, 1.0, 1.0] };
    assert!(matches!(move_and_slide(&mut far, [1.0; 3], 1.0, &mut s), Err(MoveError::InvalidBody(_))));
    // At the edge of the world the edge blocks; nothing wraps around.
    let edge = f64::from(i32::MAX) + 1.0;
    let mut body = Body { min: [edge - 2.0, 0.0, 0.0], max: [edge - 1.0, 1.0, 1.0] };
    let m = move_and_slide(&mut body, [10.0, 0.0, 0.0], 0.0, &mut |_| false).unwrap();
    assert!(m.blocked[0] && body.max[0] == edge, "{body:?}");
    let mut low = Body { min: [f64::from(i32::MIN) + 1.0, 0.0, 0.0], max: [f64::from(i32::MIN) + 2.0, 1.0, 1.0] };
    let m = move_and_slide(&mut low, [-10.0, 0.0, 0.0], 0.0, &mut |_| false).unwrap();
    assert!(m.blocked[0] && low.min[0] == f64::from(i32::MIN), "{low:?}");
    // And a body there still moves.
    move_and_slide(&mut body, [-1.0, 0.0, 0.0], 0.0, &mut |_| false).unwrap();
    move_and_slide(&mut low, [1.0, 0.0, 0.0], 0.0, &mut |_| false).unwrap();
}

#[test]
fn snapshot_solids_read_the_index_and_unknown_chunks_block() {
    use crate::{IndexConfig, IndexWriter};
    use strata_core::{DenseChunk, FlatGenerator};
    let generator = Arc::new(FlatGenerator { height: -1, material: MaterialId(1) });
    let mut w = IndexWriter::new(generator, IndexConfig::default());
    let water_and_stone = Chunk::Dense(DenseChunk::from_fn(|p| {
        MaterialId(if p.y < 4 {
            1
        } else if p.y < 8 {
            5
        } else {
            0
        })
    }));
    w.bulk_load(vec![(ChunkKey::new(0, 0, 0), Arc::new(water_and_stone), 1)], 1);
    let snap = w.publish();
    let filter = HitFilter::solid_only(&strata_core::MaterialRegistry::builtin());
    let mut s = SnapshotSolids::new(&snap, &filter);
    assert!(s.is_solid(VoxelPos::new(3, 3, 3)), "stone");
    assert!(!s.is_solid(VoxelPos::new(3, 5, 3)), "water is not solid");
    assert!(!s.is_solid(VoxelPos::new(3, 20, 3)), "air");
    assert!(s.is_solid(VoxelPos::new(40, 20, 3)), "a chunk the index does not know blocks");
    // A body dropped into the known chunk lands on the stone, through the water.
    let mut body = Body::standing_at([10.5, 20.0, 10.5], PLAYER);
    let m = move_and_slide(&mut body, [0.0, -30.0, 0.0], 1.0, &mut s).unwrap();
    assert_eq!((body.min[1], m.grounded), (4.0, true));
}

// ---- Property tests against a brute-force reference ----

/// Solid boxes in world units: `(min, max)`.
type Boxes = Vec<([f64; 3], [f64; 3])>;

/// Every voxel of `world` as a box.
fn boxes_of(world: &HashSet<VoxelPos>) -> Boxes {
    world.iter().map(|v| (v.to_array().map(f64::from), v.to_array().map(|c| f64::from(c) + 1.0))).collect()
}

/// The reference sweep: looks at every solid box of the world. A box stops the body when it
/// lies in the body's cross-section on the other two axes and ahead of it within the move.
fn ref_sweep(body: &mut Body, a: usize, d: f64, world: &Boxes) -> bool {
    if d == 0.0 {
        return false;
    }
    let across = |(lo, hi): &&([f64; 3], [f64; 3])| {
        (0..3).filter(|&b| b != a).all(|b| body.min[b] < hi[b] && body.max[b] > lo[b])
    };
    if d > 0.0 {
        let target = body.max[a] + d;
        let stop = world
            .iter()
            .filter(across)
            .map(|(lo, _)| lo[a])
            .filter(|&lo| lo >= body.max[a] && lo < target)
            .fold(f64::INFINITY, f64::min);
        if stop.is_finite() {
            body.min[a] += stop - body.max[a];
            body.max[a] = stop;
            return true;
        }
        body.min[a] += d;
        body.max[a] = target;
    } else {
        let target = body.min[a] + d;
        let stop = world
            .iter()
            .filter(across)
            .map(|(_, hi)| hi[a])
            .filter(|&hi| hi <= body.min[a] && hi > target)
            .fold(f64::NEG_INFINITY, f64::max);
        if stop.is_finite() {
            body.max[a] += stop - body.min[a];
            body.min[a] = stop;
            return true;
        }
        body.max[a] += d;
        body.min[a] = target;
    }
    false
}

fn ref_grounded(body: &Body, world: &Boxes) -> bool {
    world
        .iter()
        .any(|(lo, hi)| hi[1] == body.min[1] && [0, 2].iter().all(|&b| body.min[b] < hi[b] && body.max[b] > lo[b]))
}

/// Whether the body overlaps a box of the world.
fn ref_overlaps(body: &Body, world: &Boxes) -> bool {
    world.iter().any(|(lo, hi)| (0..3).all(|a| body.min[a] < hi[a] && body.max[a] > lo[a]))
}

/// The reference move, from the rules in the module docs.
fn ref_move(body: &mut Body, delta: [f64; 3], step: f64, world: &Boxes) -> Motion {
    let start = *body;
    let was_grounded = ref_grounded(body, world);
    let mut blocked = [false; 3];
    blocked[1] = ref_sweep(body, 1, delta[1], world);
    let after_y = *body;
    blocked[0] = ref_sweep(body, 0, delta[0], world);
    blocked[2] = ref_sweep(body, 2, delta[2], world);
    let mut stepped = false;
    if was_grounded && step > 0.0 && (blocked[0] || blocked[2]) {
        let mut s = after_y;
        ref_sweep(&mut s, 1, step, world);
        let risen = s.min[1] - after_y.min[1];
        let bx = ref_sweep(&mut s, 0, delta[0], world);
        let bz = ref_sweep(&mut s, 2, delta[2], world);
        ref_sweep(&mut s, 1, -risen, world);
        let travel = |b: &Body| (b.min[0] - after_y.min[0]).powi(2) + (b.min[2] - after_y.min[2]).powi(2);
        if travel(&s) > travel(body) {
            *body = s;
            (blocked[0], blocked[2], stepped) = (bx, bz, true);
        }
    }
    Motion {
        moved: std::array::from_fn(|a| body.min[a] - start.min[a]),
        blocked,
        grounded: ref_grounded(body, world),
        stepped,
    }
}

/// A world of whole voxels and shaped ones (boxes in sixteenths).
#[derive(Clone, Debug, Default)]
struct ShapedWorld {
    whole: HashSet<VoxelPos>,
    shaped: std::collections::HashMap<VoxelPos, Vec<ShapeBox>>,
}

impl SolidVoxels for ShapedWorld {
    fn is_solid(&mut self, pos: VoxelPos) -> bool {
        self.whole.contains(&pos) || self.shaped.contains_key(&pos)
    }
    fn shape(&mut self, pos: VoxelPos) -> Option<&[ShapeBox]> {
        self.shaped.get(&pos).map(Vec::as_slice)
    }
}

impl ShapedWorld {
    fn boxes(&self) -> Boxes {
        let mut out = boxes_of(&self.whole);
        for (v, bs) in &self.shaped {
            for b in bs {
                let o = v.to_array().map(f64::from);
                out.push((
                    std::array::from_fn(|a| o[a] + f64::from(b.min[a]) / 16.0),
                    std::array::from_fn(|a| o[a] + f64::from(b.max[a]) / 16.0),
                ));
            }
        }
        out
    }
}

/// The boxes of the shapes a game uses: slabs and stairs in every state, a post, a thin plate.
fn shape_boxes() -> Vec<Vec<ShapeBox>> {
    use strata_core::{BlockState, PlacedShape, Shape, StateKind};
    let mut out = Vec::new();
    for shape in [Shape::Slab, Shape::Stairs] {
        for k in 0..24u16 {
            let state = BlockState::default()
                .with(StateKind::Axis, k / 8)
                .with(StateKind::Facing, k / 2 % 4)
                .with(StateKind::Half, k % 2);
            out.push(PlacedShape::new(&shape, state).unwrap().boxes);
        }
    }
    out.push(vec![ShapeBox::new([6, 0, 6], [10, 12, 10]), ShapeBox::new([0, 12, 0], [16, 16, 16])]);
    out.push(vec![ShapeBox::new([0, 0, 0], [16, 1, 16])]);
    out
}

/// A small world: ground with random holes and steps, random pillars and floating blocks.
fn world_strategy() -> impl Strategy<Value = HashSet<VoxelPos>> {
    (any::<u64>(), 0u64..40).prop_map(|(seed, density)| {
        let mut rng = strata_core::rng::SplitMix64(seed);
        let mut s = HashSet::new();
        for x in -6..6 {
            for z in -6..6 {
                let top = rng.range(-2, 2);
                for y in -4..top {
                    s.insert(VoxelPos::new(x, y, z));
                }
                for y in top..6 {
                    if rng.below(1000) < density {
                        s.insert(VoxelPos::new(x, y, z));
                    }
                }
            }
        }
        s
    })
}

fn size_strategy() -> impl Strategy<Value = [f64; 3]> {
    prop_oneof![Just(PLAYER), Just([1.0, 1.0, 1.0]), Just([0.25, 0.5, 0.25]), Just([2.5, 0.75, 1.25]),]
}

fn delta_strategy() -> impl Strategy<Value = [f64; 3]> {
    // Whole, half and arbitrary steps, so faces land on planes exactly and in between.
    let component = prop_oneof![
        2 => (-24i32..24).prop_map(|v| f64::from(v) / 2.0),
        2 => -12.0f64..12.0,
        1 => Just(0.0),
    ];
    [component.clone(), component.clone(), component]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Every move equals the brute-force reference, and no sequence of moves leaves the box
    /// overlapping a solid voxel.
    #[test]
    fn moves_equal_the_brute_force_reference_and_never_overlap(
        world in world_strategy(),
        size in size_strategy(),
        start in (-4.0f64..4.0, 2.0f64..9.0, -4.0f64..4.0),
        moves in proptest::collection::vec((delta_strategy(), prop_oneof![Just(0.0), Just(1.0), Just(0.5)]), 1..24),
    ) {
        // Start somewhere free: above every solid voxel of the world.
        let mut body = Body::standing_at([start.0, 7.0 + start.1, start.2], size);
        let mut reference = body;
        for (delta, step) in moves {
            let got = move_and_slide(&mut body, delta, step, &mut solids_of(&world)).unwrap();
            let want = ref_move(&mut reference, delta, step, &boxes_of(&world));
            prop_assert_eq!(body, reference, "move {:?} step {}", delta, step);
            prop_assert_eq!(got, want);
            let overlapping: Vec<&VoxelPos> = world.iter().filter(|v| body.overlaps(**v)).collect();
            prop_assert!(overlapping.is_empty(), "{:?} overlaps {:?}", body, overlapping);
        }
    }

    /// A wall one voxel thick stops a box at any speed up to the largest move.
    #[test]
    fn no_move_tunnels_through_a_wall(speed in 0.0f64..MAX_MOVE, wall in 1i32..900, y in -0.5f64..0.5, size in size_strategy()) {
        let world: HashSet<VoxelPos> = (-3..4).flat_map(|y| (-3..4).map(move |z| VoxelPos::new(wall, y, z))).collect();
        // The box starts with its front face at x = 0, in front of the wall (a box wider than
        // the gap would start inside it).
        let mut body = Body { min: [-size[0], y, 0.0], max: [0.0, y + size[1], size[2]] };
        move_and_slide(&mut body, [speed, 0.0, 0.0], 0.0, &mut solids_of(&world)).unwrap();
        prop_assert!(body.max[0] <= f64::from(wall), "{:?}", body);
        prop_assert!(world.iter().all(|v| !body.overlaps(*v)));
    }
}

/// Where local voxel `v` of a `+Y`-up world lies in a world whose up is `up`, written out per
/// face (independently of the mover's frame): the local up axis becomes `up`'s, the other two
/// keep their order, and a negative up mirrors (voxel `y` → `−y − 1`).
fn placed(up: Face, v: VoxelPos) -> VoxelPos {
    let (x, y, z) = (v.x, v.y, v.z);
    match up {
        Face::PosY => VoxelPos::new(x, y, z),
        Face::NegY => VoxelPos::new(x, -y - 1, z),
        Face::PosX => VoxelPos::new(y, x, z),
        Face::NegX => VoxelPos::new(-y - 1, x, z),
        Face::PosZ => VoxelPos::new(x, z, y),
        Face::NegZ => VoxelPos::new(x, z, -y - 1),
    }
}

/// [`placed`] for a box (`−max..−min` where mirrored) and a vector.
fn placed_body(up: Face, b: &Body) -> Body {
    let (lo, hi) = (b.min, b.max);
    let (min, max) = match up {
        Face::PosY => (lo, hi),
        Face::NegY => ([lo[0], -hi[1], lo[2]], [hi[0], -lo[1], hi[2]]),
        Face::PosX => ([lo[1], lo[0], lo[2]], [hi[1], hi[0], hi[2]]),
        Face::NegX => ([-hi[1], lo[0], lo[2]], [-lo[1], hi[0], hi[2]]),
        Face::PosZ => ([lo[0], lo[2], lo[1]], [hi[0], hi[2], hi[1]]),
        Face::NegZ => ([lo[0], lo[2], -hi[1]], [hi[0], hi[2], -lo[1]]),
    };
    Body { min, max }
}

fn placed_vec(up: Face, d: [f64; 3]) -> [f64; 3] {
    match up {
        Face::PosY => d,
        Face::NegY => [d[0], -d[1], d[2]],
        Face::PosX => [d[1], d[0], d[2]],
        Face::NegX => [-d[1], d[0], d[2]],
        Face::PosZ => [d[0], d[2], d[1]],
        Face::NegZ => [d[0], d[2], -d[1]],
    }
}

/// A `+Y` flag triple (per local axis) in the placed world's axes.
fn placed_flags(up: Face, f: [bool; 3]) -> [bool; 3] {
    match up {
        Face::PosY | Face::NegY => f,
        Face::PosX | Face::NegX => [f[1], f[0], f[2]],
        Face::PosZ | Face::NegZ => [f[0], f[2], f[1]],
    }
}

#[test]
fn under_every_up_a_body_falls_along_it_lands_on_the_plane_and_climbs_a_ledge() {
    for up in Face::ALL {
        let s = up.offset();
        // Ground: the layer just below the plane at 0 along up, a ledge one voxel high at +2
        // along the first other axis.
        let (a, b, c) = (up.axis(), (up.axis() + 1) % 3, (up.axis() + 2) % 3);
        let first = b.min(c);
        let mut world = HashSet::new();
        for i in -8..8 {
            for j in -8..8 {
                let mut v = [0; 3];
                v[a] = if s[a] > 0 { -1 } else { 0 };
                v[b] = i;
                v[c] = j;
                world.insert(VoxelPos::new(v[0], v[1], v[2]));
                let along_first = if first == b { i } else { j };
                if along_first >= 2 {
                    v[a] = if s[a] > 0 { 0 } else { -1 };
                    world.insert(VoxelPos::new(v[0], v[1], v[2]));
                }
            }
        }
        let mut feet = [0.5; 3];
        feet[a] = 5.25 * f64::from(s[a]);
        let mut body = Body::standing_on(feet, PLAYER, up);
        assert_eq!(body.feet_on(up), feet, "{up:?}");
        let mut fall = [0.0; 3];
        fall[a] = -20.0 * f64::from(s[a]);
        let m = move_and_slide_up(&mut body, fall, 1.0, up, &mut solids_of(&world)).unwrap();
        assert!(m.blocked[a] && m.grounded, "{up:?}: {m:?}");
        assert_eq!(body.feet_on(up)[a], 0.0, "{up:?}: on the plane");
        assert!(is_grounded_up(&body, up, &mut solids_of(&world)), "{up:?}");
        assert!(!is_grounded(&body, &mut solids_of(&world)) || up == Face::PosY, "{up:?}: +Y's rule sees no ground");
        // Walk 2 voxels along the first other axis: onto the ledge.
        let mut walk = [0.0; 3];
        walk[first] = 2.0;
        let m = move_and_slide_up(&mut body, walk, 1.0, up, &mut solids_of(&world)).unwrap();
        assert!(m.stepped && m.grounded, "{up:?}: {m:?}");
        assert_eq!(body.feet_on(up)[a], f64::from(s[a]), "{up:?}: one voxel up");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Under any up, a sequence of moves in a world equals the `+Y` reference in the same world
    /// turned so that up is `+Y`, and never leaves the body overlapping a solid voxel.
    #[test]
    fn every_up_moves_as_plus_y_in_the_turned_world(
        world in world_strategy(),
        size in size_strategy(),
        up_index in 0usize..6,
        start in (-4.0f64..4.0, 2.0f64..9.0, -4.0f64..4.0),
        moves in proptest::collection::vec((delta_strategy(), prop_oneof![Just(0.0), Just(1.0), Just(0.5)]), 1..16),
    ) {
        let up = Face::ALL[up_index];
        let turned: HashSet<VoxelPos> = world.iter().map(|v| placed(up, *v)).collect();
        let mut reference = Body::standing_at([start.0, 7.0 + start.1, start.2], size);
        let mut body = placed_body(up, &reference);
        for (delta, step) in moves {
            let want = ref_move(&mut reference, delta, step, &boxes_of(&world));
            let got = move_and_slide_up(&mut body, placed_vec(up, delta), step, up, &mut solids_of(&turned)).unwrap();
            prop_assert_eq!(body, placed_body(up, &reference), "{:?} move {:?}", up, delta);
            prop_assert_eq!(got.blocked, placed_flags(up, want.blocked));
            prop_assert_eq!((got.grounded, got.stepped), (want.grounded, want.stepped));
            prop_assert_eq!(is_grounded_up(&body, up, &mut solids_of(&turned)), want.grounded);
            prop_assert!(turned.iter().all(|v| !body.overlaps(*v)), "{:?} overlaps", body);
        }
    }
}

/// A world of ground with shaped voxels on it and floating: slabs and stairs of every state,
/// posts and plates, among whole voxels.
fn shaped_world_strategy() -> impl Strategy<Value = ShapedWorld> {
    (world_strategy(), any::<u64>(), 0u64..300).prop_map(|(whole, seed, density)| {
        let shapes = shape_boxes();
        let mut rng = strata_core::rng::SplitMix64(seed);
        let mut w = ShapedWorld { whole, ..ShapedWorld::default() };
        for x in -6..6 {
            for z in -6..6 {
                for y in -3..6 {
                    let v = VoxelPos::new(x, y, z);
                    if !w.whole.contains(&v) && rng.below(1000) < density {
                        w.shaped.insert(v, shapes[rng.below(shapes.len() as u64) as usize].clone());
                    }
                }
            }
        }
        w
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Among slabs, stairs and models, every move equals the brute-force reference over every
    /// box of the world, and no sequence of moves leaves the body overlapping a box.
    #[test]
    fn moves_among_shapes_equal_the_reference_and_never_overlap(
        world in shaped_world_strategy(),
        size in size_strategy(),
        start in (-4.0f64..4.0, 2.0f64..9.0, -4.0f64..4.0),
        moves in proptest::collection::vec((delta_strategy(), prop_oneof![Just(0.0), Just(1.0), Just(0.5)]), 1..24),
    ) {
        let boxes = world.boxes();
        let mut solids = world.clone();
        let mut body = Body::standing_at([start.0, 7.0 + start.1, start.2], size);
        let mut reference = body;
        for (delta, step) in moves {
            let got = move_and_slide(&mut body, delta, step, &mut solids).unwrap();
            let want = ref_move(&mut reference, delta, step, &boxes);
            prop_assert_eq!(body, reference, "move {:?} step {}", delta, step);
            prop_assert_eq!(got, want);
            prop_assert!(!ref_overlaps(&body, &boxes), "{:?} overlaps a box", body);
        }
    }

    /// Under any up, moves among shapes equal the `+Y` reference in the world turned so that
    /// up is `+Y` (the shapes turned with it).
    #[test]
    fn every_up_moves_among_shapes_as_plus_y(
        world in shaped_world_strategy(),
        up_index in 0usize..6,
        start in (-4.0f64..4.0, 2.0f64..9.0, -4.0f64..4.0),
        moves in proptest::collection::vec((delta_strategy(), prop_oneof![Just(0.0), Just(1.0), Just(0.5)]), 1..16),
    ) {
        let up = Face::ALL[up_index];
        let mut turned = ShapedWorld { whole: world.whole.iter().map(|v| placed(up, *v)).collect(), ..ShapedWorld::default() };
        for (v, bs) in &world.shaped {
            let w = placed(up, *v);
            let o = v.to_array().map(f64::from);
            let wo = w.to_array().map(f64::from);
            let boxes = bs.iter().map(|b| {
                let local = Body {
                    min: std::array::from_fn(|a| o[a] + f64::from(b.min[a]) / 16.0),
                    max: std::array::from_fn(|a| o[a] + f64::from(b.max[a]) / 16.0),
                };
                let p = placed_body(up, &local);
                ShapeBox::new(
                    std::array::from_fn(|a| ((p.min[a] - wo[a]) * 16.0) as u8),
                    std::array::from_fn(|a| ((p.max[a] - wo[a]) * 16.0) as u8),
                )
            });
            turned.shaped.insert(w, boxes.collect());
        }
        let boxes = world.boxes();
        let mut reference = Body::standing_at([start.0, 7.0 + start.1, start.2], PLAYER);
        let mut body = placed_body(up, &reference);
        for (delta, step) in moves {
            let want = ref_move(&mut reference, delta, step, &boxes);
            let got = move_and_slide_up(&mut body, placed_vec(up, delta), step, up, &mut turned).unwrap();
            prop_assert_eq!(body, placed_body(up, &reference), "{:?} move {:?}", up, delta);
            prop_assert_eq!(got.blocked, placed_flags(up, want.blocked));
            prop_assert_eq!((got.grounded, got.stepped), (want.grounded, want.stepped));
        }
    }
}

/// Walking onto a slab climbs half a voxel and stands on its top; a top slab above leaves
/// head room under it and stops a jump at its underside.
#[test]
fn slabs_are_floors_and_ceilings_at_their_half() {
    use strata_core::{BlockState, PlacedShape, Shape, StateKind};
    let bottom = PlacedShape::new(&Shape::Slab, BlockState::default()).unwrap().boxes;
    let top = PlacedShape::new(&Shape::Slab, BlockState::default().with(StateKind::Half, 1)).unwrap().boxes;
    let mut world = ShapedWorld { whole: ground(8), ..ShapedWorld::default() };
    for z in -8..8 {
        for x in 2..8 {
            world.shaped.insert(VoxelPos::new(x, 0, z), bottom.clone());
        }
    }
    let mut body = Body::standing_at([0.5, 0.0, 0.5], PLAYER);
    let m = move_and_slide(&mut body, [2.0, 0.0, 0.0], 1.0, &mut world).unwrap();
    assert!(m.stepped && m.grounded, "{m:?}");
    assert_eq!(body.min[1], 0.5, "on the slab's top");
    assert!(is_grounded(&body, &mut world));
    // Without step-up a slab is a wall half a voxel high.
    let mut body = Body::standing_at([0.5, 0.0, 0.5], PLAYER);
    let m = move_and_slide(&mut body, [2.0, 0.0, 0.0], 0.0, &mut world).unwrap();
    assert_eq!((body.max[0], m.blocked[0]), (2.0, true));

    // A top slab at y = 2 (its box 2.5..3): a 1.8-tall body fits under it and a jump stops
    // at its underside.
    let mut world = ShapedWorld { whole: ground(8), ..ShapedWorld::default() };
    world.shaped.insert(VoxelPos::new(0, 2, 0), top);
    let mut body = Body::standing_at([0.5, 0.0, 0.5], PLAYER);
    let m = move_and_slide(&mut body, [0.0, 3.0, 0.0], 1.0, &mut world).unwrap();
    assert_eq!((body.max[1], m.blocked[1]), (2.5, true));
}
