//! Block shapes and block states: what a voxel that is not a full cube looks like.
//!
//! A material in `materials.ron` may declare a [`Shape`] (`Slab`, `Stairs`, `Cross`, or a
//! model of boxes) and the [`StateKind`]s it varies by (`axis`, `facing`, `half`). The
//! registry gives **every combination of states its own id** (consecutive, from the
//! material's `id`), so storage, codec, summaries and index stay one `u16` per voxel; this
//! module turns an id's shape and [`BlockState`] into geometry, in **sixteenths of a voxel**
//! (`0..=16` per axis), which the mesher, colliders and ray casts share.
//!
//! # Frames
//! A shape is defined upright (`axis: y`), facing north (−Z) and in the bottom half. A state
//! places it by three steps, in this order: `axis` swaps y with the chosen axis (`x` or `z`),
//! `facing` turns it about +Y by quarter turns (north → east → south → west: −Z → +X → +Z →
//! −X), `half: top` mirrors it top to bottom. Each step maps the voxel's cube onto itself.

use crate::Face;
use serde::{Deserialize, Serialize};

/// Sixteenths per voxel edge: shape coordinates run over `0..=UNITS`.
pub const UNITS: u8 = 16;

/// The most boxes a model may have.
pub const MAX_MODEL_BOXES: usize = 16;

/// What a block looks like.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    /// A full voxel (the default): meshed by the greedy pass.
    #[default]
    Cube,
    /// The lower half of a voxel (`half: top`: the upper half).
    Slab,
    /// A slab with a step on its north half (turned by `facing`, flipped by `half`).
    Stairs,
    /// Two crossed diagonal planes (plants): no box, no collision by default.
    Cross,
    /// A model of boxes, each `(min: (x0, y0, z0), max: (x1, y1, z1))` in sixteenths
    /// (`0..=16`, each minimum below its maximum), at most [`MAX_MODEL_BOXES`].
    Boxes(Vec<ShapeBox>),
}

impl Shape {
    /// Whether this is [`Shape::Cube`].
    pub fn is_cube(&self) -> bool {
        matches!(self, Shape::Cube)
    }

    /// The shape's boxes in its own frame (upright, north, bottom); none for `Cube` (a full
    /// voxel, see [`ShapeBox::FULL`]) and `Cross`.
    fn base_boxes(&self) -> Vec<ShapeBox> {
        match self {
            Shape::Cube | Shape::Cross => Vec::new(),
            Shape::Slab => vec![ShapeBox::new([0, 0, 0], [16, 8, 16])],
            Shape::Stairs => vec![ShapeBox::new([0, 0, 0], [16, 8, 16]), ShapeBox::new([0, 8, 0], [16, 16, 8])],
            Shape::Boxes(b) => b.clone(),
        }
    }

    /// Why the shape cannot be used, if it cannot (a model with no box, too many boxes, or a
    /// box out of `0..=16` or empty).
    pub(crate) fn problem(&self) -> Option<String> {
        let Shape::Boxes(boxes) = self else { return None };
        if boxes.is_empty() || boxes.len() > MAX_MODEL_BOXES {
            return Some(format!("a model has 1 to {MAX_MODEL_BOXES} boxes (found {})", boxes.len()));
        }
        boxes.iter().find(|b| !b.is_valid()).map(|b| format!("box {b:?} is empty or leaves 0..=16"))
    }
}

/// An axis-aligned box inside a voxel, in sixteenths: `min` inclusive corner, `max` exclusive
/// (`min[a] < max[a] <= 16` in a valid box).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShapeBox {
    /// Smallest corner.
    pub min: [u8; 3],
    /// Largest corner.
    pub max: [u8; 3],
}

impl ShapeBox {
    /// The whole voxel.
    pub const FULL: ShapeBox = ShapeBox { min: [0; 3], max: [UNITS; 3] };

    /// A box from its corners (not checked; see [`ShapeBox::is_valid`]).
    pub const fn new(min: [u8; 3], max: [u8; 3]) -> Self {
        Self { min, max }
    }

    /// Whether every minimum lies below its maximum, within `0..=16`.
    pub fn is_valid(&self) -> bool {
        (0..3).all(|a| self.min[a] < self.max[a] && self.max[a] <= UNITS)
    }

    /// Whether the box covers the whole side of the voxel towards `face`.
    pub fn covers(&self, face: Face) -> bool {
        let a = face.axis();
        let on_side = if face.is_positive() { self.max[a] == UNITS } else { self.min[a] == 0 };
        on_side && (0..3).filter(|&b| b != a).all(|b| self.min[b] == 0 && self.max[b] == UNITS)
    }

    /// The box with every point `p` moved to `f(p)` (a map of the voxel's cube onto itself
    /// that keeps boxes axis-aligned).
    fn mapped(&self, f: impl Fn([u8; 3]) -> [u8; 3]) -> Self {
        let (a, b) = (f(self.min), f(self.max));
        Self { min: std::array::from_fn(|i| a[i].min(b[i])), max: std::array::from_fn(|i| a[i].max(b[i])) }
    }
}

/// A state a block type can vary by (`states: [facing, half]` in `materials.ron`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateKind {
    /// Which axis the block's own y runs along (logs, pillars): `x`, `y`, `z`.
    Axis,
    /// Which horizontal direction it faces (stairs, furnaces): `north`, `east`, `south`, `west`.
    Facing,
    /// Bottom or top half (slabs, upside-down stairs): `bottom`, `top`.
    Half,
}

impl StateKind {
    /// Every kind, in the order ids enumerate them (the last varies fastest).
    pub const ALL: [StateKind; 3] = [StateKind::Axis, StateKind::Facing, StateKind::Half];

    /// The number of values.
    pub const fn values(self) -> u16 {
        match self {
            StateKind::Axis => 3,
            StateKind::Facing => 4,
            StateKind::Half => 2,
        }
    }

    /// The name of value `v` (`< values()`).
    pub fn value_name(self, v: u16) -> &'static str {
        const AXES: [&str; 3] = ["x", "y", "z"];
        const FACINGS: [&str; 4] = ["north", "east", "south", "west"];
        const HALVES: [&str; 2] = ["bottom", "top"];
        let names: &[&str] = match self {
            StateKind::Axis => &AXES,
            StateKind::Facing => &FACINGS,
            StateKind::Half => &HALVES,
        };
        names[usize::from(v).min(names.len() - 1)]
    }

    /// The state's name as `materials.ron` spells it.
    pub fn name(self) -> &'static str {
        match self {
            StateKind::Axis => "axis",
            StateKind::Facing => "facing",
            StateKind::Half => "half",
        }
    }
}

/// Which axis a block's own y runs along.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Axis {
    /// Along x.
    X,
    /// Upright (the default).
    #[default]
    Y,
    /// Along z.
    Z,
}

/// Which horizontal direction a block faces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Facing {
    /// −Z (the default).
    #[default]
    North,
    /// +X.
    East,
    /// +Z.
    South,
    /// −X.
    West,
}

/// Bottom or top half.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Half {
    /// The lower half (the default).
    #[default]
    Bottom,
    /// The upper half (mirrored top to bottom).
    Top,
}

/// One combination of states. A block type that does not vary by a state has its default
/// value there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BlockState {
    /// See [`StateKind::Axis`].
    pub axis: Axis,
    /// See [`StateKind::Facing`].
    pub facing: Facing,
    /// See [`StateKind::Half`].
    pub half: Half,
}

impl BlockState {
    /// The value index of `kind` (as [`StateKind::value_name`] numbers them).
    pub fn value(&self, kind: StateKind) -> u16 {
        match kind {
            StateKind::Axis => self.axis as u16,
            StateKind::Facing => self.facing as u16,
            StateKind::Half => self.half as u16,
        }
    }

    /// `self` with `kind` set to value `v` (taken modulo the number of values).
    pub fn with(mut self, kind: StateKind, v: u16) -> Self {
        let v = v % kind.values();
        match kind {
            StateKind::Axis => self.axis = [Axis::X, Axis::Y, Axis::Z][usize::from(v)],
            StateKind::Facing => {
                self.facing = [Facing::North, Facing::East, Facing::South, Facing::West][usize::from(v)];
            }
            StateKind::Half => self.half = [Half::Bottom, Half::Top][usize::from(v)],
        }
        self
    }

    /// The state a player means when placing a block against face `face` of another (the new
    /// block lies across that face), looking along `look` (world axes, +Y up), the ray having
    /// met the face at height `height` (`0..1`) within the voxel hit: `axis` along the face's
    /// normal (a log set against a wall lies out of it), `facing` the horizontal direction it
    /// looks in most (stairs climb away from the player), `half` top against an underside or
    /// the upper half of a side, else bottom. The usual rule of block games.
    pub fn placed_against(face: Face, look: [f64; 3], height: f64) -> Self {
        let axis = match face.axis() {
            0 => Axis::X,
            1 => Axis::Y,
            _ => Axis::Z,
        };
        let facing = if look[0].abs() > look[2].abs() {
            if look[0] > 0.0 { Facing::East } else { Facing::West }
        } else if look[2] > 0.0 {
            Facing::South
        } else {
            Facing::North
        };
        let half = match face {
            Face::NegY => Half::Top,
            Face::PosY => Half::Bottom,
            _ if height >= 0.5 => Half::Top,
            _ => Half::Bottom,
        };
        Self { axis, facing, half }
    }

    /// Point `p` of the shape's own frame (sixteenths, `0..=16`) placed by this state (see the
    /// module docs: axis, then facing, then half).
    pub fn place(&self, p: [u8; 3]) -> [u8; 3] {
        const U: u8 = UNITS;
        let [x, y, z] = match self.axis {
            Axis::Y => p,
            Axis::X => [p[1], p[0], p[2]],
            Axis::Z => [p[0], p[2], p[1]],
        };
        // A quarter turn about +Y taking north (−Z) to east (+X): (x, z) → (16 − z, x).
        let [x, z] = match self.facing {
            Facing::North => [x, z],
            Facing::East => [U - z, x],
            Facing::South => [U - x, U - z],
            Facing::West => [z, U - x],
        };
        let y = if self.half == Half::Top { U - y } else { y };
        [x, y, z]
    }

    /// The face of the shape's own frame that this state turns towards world face `world`
    /// (for choosing a face's texture: a log lying along x shows its top texture on ±X).
    pub fn own_face(&self, world: Face) -> Face {
        // `place` maps the cube onto itself; a face's direction goes with the centre of that
        // face. Try each own face: exactly one lands on `world`.
        let centre = |f: Face| -> [u8; 3] {
            let o = f.offset();
            std::array::from_fn(|a| (8 + 8 * o[a]) as u8)
        };
        Face::ALL.into_iter().find(|&f| self.place(centre(f)) == centre(world)).unwrap_or(world)
    }
}

/// The geometry of one id: its shape placed by its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedShape {
    /// The boxes, in world-aligned sixteenths of the voxel (empty for a cross).
    pub boxes: Vec<ShapeBox>,
    /// Two crossed diagonal planes instead of boxes.
    pub cross: bool,
    /// Bit `f` (`Face as usize`) set: the boxes cover the whole side towards face `f`, so it
    /// hides the face of a neighbour across it.
    pub full_faces: u8,
}

impl PlacedShape {
    /// `shape` placed by `state`; `None` for a [`Shape::Cube`] (the greedy pass meshes it).
    pub fn new(shape: &Shape, state: BlockState) -> Option<Self> {
        if shape.is_cube() {
            return None;
        }
        let boxes: Vec<ShapeBox> = shape.base_boxes().iter().map(|b| b.mapped(|p| state.place(p))).collect();
        let full_faces = Face::ALL.iter().filter(|&&f| covers_side(&boxes, f)).fold(0u8, |m, &f| m | 1 << (f as u8));
        Some(Self { boxes, cross: matches!(shape, Shape::Cross), full_faces })
    }

    /// Whether the boxes cover the whole side towards `face`.
    #[inline]
    pub fn covers(&self, face: Face) -> bool {
        self.full_faces >> (face as u8) & 1 != 0
    }
}

/// Whether the union of `boxes` covers the side of the voxel towards `face`: every sixteenth
/// square of that side lies in a box touching it.
fn covers_side(boxes: &[ShapeBox], face: Face) -> bool {
    if boxes.iter().any(|b| b.covers(face)) {
        return true;
    }
    let a = face.axis();
    let (u, v) = match a {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    };
    let touching: Vec<&ShapeBox> =
        boxes.iter().filter(|b| if face.is_positive() { b.max[a] == UNITS } else { b.min[a] == 0 }).collect();
    (0..UNITS).all(|i| {
        (0..UNITS).all(|j| touching.iter().any(|b| b.min[u] <= i && i < b.max[u] && b.min[v] <= j && j < b.max[v]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_states() -> Vec<BlockState> {
        let mut out = Vec::new();
        for a in 0..3 {
            for f in 0..4 {
                for h in 0..2 {
                    out.push(
                        BlockState::default()
                            .with(StateKind::Axis, a)
                            .with(StateKind::Facing, f)
                            .with(StateKind::Half, h),
                    );
                }
            }
        }
        out
    }

    /// Every state maps the cube's 17³ lattice onto itself one to one (so boxes stay inside
    /// the voxel and keep their volume).
    #[test]
    fn placing_permutes_the_cube() {
        for s in all_states() {
            let mut seen = std::collections::HashSet::new();
            for x in 0..=UNITS {
                for y in 0..=UNITS {
                    for z in 0..=UNITS {
                        let p = s.place([x, y, z]);
                        assert!(p.iter().all(|&c| c <= UNITS), "{s:?}");
                        assert!(seen.insert(p), "{s:?} maps two points to {p:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn slabs_and_stairs_land_where_their_states_say() {
        let slab = |s: BlockState| PlacedShape::new(&Shape::Slab, s).unwrap();
        let bottom = slab(BlockState::default());
        assert_eq!(bottom.boxes, [ShapeBox::new([0, 0, 0], [16, 8, 16])]);
        assert!(bottom.covers(Face::NegY) && !bottom.covers(Face::PosY) && !bottom.covers(Face::NegX));
        let top = slab(BlockState::default().with(StateKind::Half, 1));
        assert_eq!(top.boxes, [ShapeBox::new([0, 8, 0], [16, 16, 16])]);
        assert!(top.covers(Face::PosY) && !top.covers(Face::NegY));
        let side = slab(BlockState::default().with(StateKind::Axis, 0));
        assert_eq!(side.boxes, [ShapeBox::new([0, 0, 0], [8, 16, 16])]);
        assert!(side.covers(Face::NegX));

        // Stairs facing north climb towards −Z: the north side is full, the south side is not.
        let north = PlacedShape::new(&Shape::Stairs, BlockState::default()).unwrap();
        assert!(north.covers(Face::NegZ) && north.covers(Face::NegY) && !north.covers(Face::PosZ));
        assert!(!north.covers(Face::PosY) && !north.covers(Face::NegX));
        let east = PlacedShape::new(&Shape::Stairs, BlockState::default().with(StateKind::Facing, 1)).unwrap();
        assert!(east.covers(Face::PosX) && !east.covers(Face::NegX) && !east.covers(Face::NegZ));
        let upside_down = PlacedShape::new(&Shape::Stairs, BlockState::default().with(StateKind::Half, 1)).unwrap();
        assert!(upside_down.covers(Face::PosY) && upside_down.covers(Face::NegZ) && !upside_down.covers(Face::NegY));
        assert!(PlacedShape::new(&Shape::Cube, BlockState::default()).is_none());
        let cross = PlacedShape::new(&Shape::Cross, BlockState::default()).unwrap();
        assert!(cross.cross && cross.boxes.is_empty() && cross.full_faces == 0);
    }

    /// Two boxes that together cover a side (and neither alone) count as covering it.
    #[test]
    fn sides_covered_by_several_boxes_count() {
        let halves = Shape::Boxes(vec![ShapeBox::new([0, 0, 0], [8, 16, 16]), ShapeBox::new([8, 0, 0], [16, 16, 4])]);
        let p = PlacedShape::new(&halves, BlockState::default()).unwrap();
        assert!(p.covers(Face::NegZ) && !p.covers(Face::PosZ) && p.covers(Face::NegX) && !p.covers(Face::PosX));
        assert!(!p.covers(Face::NegY), "the second box leaves z 4..16 of the bottom open for x 8..16");
    }

    #[test]
    fn own_face_undoes_the_placement() {
        let log_x = BlockState::default().with(StateKind::Axis, 0);
        assert_eq!(log_x.own_face(Face::PosX), Face::PosY);
        assert_eq!(log_x.own_face(Face::NegX), Face::NegY);
        assert_eq!(log_x.own_face(Face::PosZ), Face::PosZ);
        for s in all_states() {
            for f in Face::ALL {
                let own = s.own_face(f);
                // The centre of the own face lands on the centre of the world face.
                let o = own.offset();
                let c: [u8; 3] = std::array::from_fn(|a| (8 + 8 * o[a]) as u8);
                let w = f.offset();
                assert_eq!(s.place(c), std::array::from_fn(|a| (8 + 8 * w[a]) as u8), "{s:?} {f:?}");
            }
        }
    }

    #[test]
    fn placing_follows_the_face_and_the_look() {
        let s = BlockState::placed_against(Face::PosX, [1.0, -0.2, 0.3], 0.7);
        assert_eq!((s.axis, s.facing, s.half), (Axis::X, Facing::East, Half::Top));
        let s = BlockState::placed_against(Face::PosY, [-0.1, -1.0, -0.5], 0.9);
        assert_eq!((s.axis, s.facing, s.half), (Axis::Y, Facing::North, Half::Bottom));
        let s = BlockState::placed_against(Face::NegY, [-0.8, 0.5, 0.1], 0.0);
        assert_eq!((s.axis, s.facing, s.half), (Axis::Y, Facing::West, Half::Top));
        let s = BlockState::placed_against(Face::NegZ, [0.0, 0.0, 1.0], 0.2);
        assert_eq!((s.axis, s.facing, s.half), (Axis::Z, Facing::South, Half::Bottom));
    }

    #[test]
    fn bad_models_are_named() {
        assert!(Shape::Boxes(vec![]).problem().is_some());
        assert!(Shape::Boxes(vec![ShapeBox::new([0, 0, 0], [17, 1, 1])]).problem().is_some());
        assert!(Shape::Boxes(vec![ShapeBox::new([3, 0, 0], [3, 1, 1])]).problem().is_some());
        assert!(Shape::Boxes(vec![ShapeBox::FULL; MAX_MODEL_BOXES + 1]).problem().is_some());
        assert!(Shape::Boxes(vec![ShapeBox::FULL]).problem().is_none());
        assert!(Shape::Stairs.problem().is_none());
    }
}
