//! Material ids and the material registry.
//!
//! A voxel holds a [`MaterialId`] (`u16`); `0` is always air. What an id means (name, colour, how it
//! renders) lives in a [`MaterialRegistry`], loaded from RON (`assets/materials.ron`).

use crate::Face;
use crate::shape::{BlockState, PlacedShape, Shape, StateKind};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The material of one voxel. `MaterialId(0)` is air.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(transparent)]
pub struct MaterialId(pub u16);

impl MaterialId {
    /// Empty space.
    pub const AIR: MaterialId = MaterialId(0);

    /// Whether this is air.
    #[inline]
    pub const fn is_air(self) -> bool {
        self.0 == 0
    }
}

/// How a material takes part in rendering and physics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MaterialKind {
    /// Nothing: not rendered, never hit by rays by default.
    Air,
    /// Opaque solid: hides the faces of solids next to it.
    Solid,
    /// Solid but see-through (glass, ice): rendered in the transparent pass.
    Transparent,
    /// A fluid (water, magma): rendered in the transparent pass; faces between two cells of the
    /// same fluid are not emitted.
    Fluid,
}

impl MaterialKind {
    /// Whether this kind hides what lies behind it.
    pub const fn is_opaque(self) -> bool {
        matches!(self, MaterialKind::Solid)
    }
}

/// One entry of the registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Material {
    /// The id voxels store.
    pub id: u16,
    /// A unique, human-readable name (`"stone"`).
    pub name: String,
    /// Linear RGBA colour, each channel in `0.0..=1.0`.
    pub color: [f32; 4],
    /// How it renders.
    pub kind: MaterialKind,
    /// Whether physics bodies and voxel movers collide with it ([`Material::collides`]);
    /// `None` (left out of the RON): solids and transparent solids do, fluids do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collides: Option<bool>,
    /// Texture names for texture-array rendering, per face ([`FaceTextures`]); `None` (left out
    /// of the RON): the material renders in its colour only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub textures: Option<FaceTextures>,
    /// The block light it gives off, `0..=15` (0, the default: none). An emitter's own cell
    /// holds this level and light loses one level per voxel it travels through non-opaque
    /// voxels (see `strata_mesh`'s light module); a registry refuses more than
    /// [`MAX_LIGHT`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub light: u8,
    /// What the block looks like ([`Shape`]; `Cube`, the default, when left out). Not on air
    /// or fluids.
    #[serde(default, skip_serializing_if = "Shape::is_cube")]
    pub shape: Shape,
    /// The states the block varies by (`states: [facing, half]`; none when left out): the
    /// registry gives each combination its own id, consecutive from `id` (see
    /// [`MaterialRegistry::new`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<StateKind>,
    /// The combination of `states` this entry stands for: set by the registry on the entries
    /// it expands (those [`MaterialRegistry::iter`] returns), `None` in files and hand-made
    /// entries. An entry with it set is taken as that one block, unexpanded, so entries read
    /// from a registry build it again (renumbered, edited) without expanding twice.
    #[serde(skip)]
    pub state: Option<BlockState>,
}

/// The brightest light level (sky light under open sky, the strongest emitter).
pub const MAX_LIGHT: u8 = 15;

fn is_zero(v: &u8) -> bool {
    *v == 0
}

/// The textures of a material's faces, by name (a renderer loads `<name>.png`, see
/// `bevy_strata::textures`). Each face takes its own entry, else `all`:
/// `textures: (all: "stone")`, or `textures: (top: "grass_top", side: "grass_side", bottom: "dirt")`.
/// A registry refuses a material whose faces do not all resolve to a name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceTextures {
    /// The texture of every face that names none of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<String>,
    /// Faces looking up (+Y).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<String>,
    /// Faces looking along ±X and ±Z.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<String>,
    /// Faces looking down (−Y).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bottom: Option<String>,
}

impl FaceTextures {
    /// The texture names of the top, side and bottom faces, if every face has one.
    pub fn resolved(&self) -> Option<[&str; 3]> {
        let all = self.all.as_deref();
        Some([self.top.as_deref().or(all)?, self.side.as_deref().or(all)?, self.bottom.as_deref().or(all)?])
    }
}

/// Which way a face looks, for choosing its texture ([`MaterialRegistry::texture_layer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaceKind {
    /// Looking up (+Y).
    Top,
    /// Looking along ±X or ±Z.
    Side,
    /// Looking down (−Y).
    Bottom,
}

impl FaceKind {
    /// The face kind of a surface with this normal: up if `y > 0.5`, down if `y < -0.5`, else a
    /// side (the mesher's normals are axis-aligned unit vectors).
    pub fn of_normal(normal: [f32; 3]) -> Self {
        if normal[1] > 0.5 {
            FaceKind::Top
        } else if normal[1] < -0.5 {
            FaceKind::Bottom
        } else {
            FaceKind::Side
        }
    }
}

impl Material {
    /// Whether bodies collide with this material: the `collides` flag if given, else `true`
    /// for [`MaterialKind::Solid`] and [`MaterialKind::Transparent`]. Air never collides
    /// (a registry refuses `collides: true` on air).
    pub fn collides(&self) -> bool {
        match self.kind {
            MaterialKind::Air => false,
            kind => self.collides.unwrap_or(matches!(kind, MaterialKind::Solid | MaterialKind::Transparent)),
        }
    }
}

#[derive(Deserialize)]
struct RegistryFile {
    materials: Vec<Material>,
}

/// Errors building or querying a [`MaterialRegistry`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaterialError {
    /// The id is not in the registry.
    #[error("unknown material id {0}")]
    UnknownId(u16),
    /// The name is not in the registry.
    #[error("unknown material name {0:?}")]
    UnknownName(String),
    /// Two entries share an id.
    #[error("material id {0} is defined twice")]
    DuplicateId(u16),
    /// Two entries share a name.
    #[error("material name {0:?} is defined twice")]
    DuplicateName(String),
    /// Id 0 must be air, and only id 0.
    #[error("material id 0 must be the one entry of kind Air (found {0:?})")]
    AirMismatch(String),
    /// Air was given `collides: true`.
    #[error("air cannot collide (material {0:?} has kind Air and collides: true)")]
    AirCollides(String),
    /// A material gives off more light than [`MAX_LIGHT`], or air gives off any.
    #[error("material {name:?} gives off light {light}: the levels are 0..=15, and air gives off none")]
    LightOutOfRange {
        /// The material.
        name: String,
        /// The level it asked for.
        light: u8,
    },
    /// A material's textures leave a face without a name.
    #[error("material {0:?} names no texture for some faces (give `all`, or `top`, `side` and `bottom`)")]
    IncompleteTextures(String),
    /// A texture name is not a plain file stem (`[a-z0-9_-]`, 1 to 64 characters).
    #[error("material {material:?}: texture name {texture:?} must be 1 to 64 of a-z, 0-9, _ and -")]
    BadTextureName {
        /// The material.
        material: String,
        /// The name refused.
        texture: String,
    },
    /// Air was given textures (it is never drawn).
    #[error("air cannot have textures (material {0:?})")]
    AirTextured(String),
    /// A shape or state list cannot be used (on air or a fluid, a state listed twice, a bad
    /// model, or ids past 65535).
    #[error("material {material:?}: {reason}")]
    BadShape {
        /// The material.
        material: String,
        /// What is wrong.
        reason: String,
    },
    /// The RON text does not parse.
    #[error("materials file does not parse: {0}")]
    Parse(String),
    /// The file cannot be read.
    #[error("cannot read materials file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Maps material ids to their definitions.
///
/// Invariants (checked on construction): ids and names are unique; id 0 exists and is the only
/// entry of kind [`MaterialKind::Air`]; textured materials name a valid texture for every face.
///
/// **Block states**: an entry with `states` stands for one block per combination of its
/// states, with consecutive ids from its `id` in the order of [`StateKind::ALL`] (axis, then
/// facing, then half; the last varies fastest), each an entry of its own named
/// `name[state=value,…]` (`stone_stairs[facing=east,half=top]`) with the entry's colour, kind,
/// textures and light. The bare name stays an alias of the default combination (axis y, facing
/// north, half bottom): `id("oak_log")` is `oak_log[axis=y]`, and a save made before the block
/// had states opens onto it. Shapes ([`MaterialRegistry::shape`]) come placed by each id's state.
///
/// Texture layers: every distinct texture name gets a layer, in order of first use by
/// increasing material id and then top, side, bottom ([`MaterialRegistry::texture_names`]); a
/// renderer builds its texture array in that order.
#[derive(Clone, Debug)]
pub struct MaterialRegistry {
    by_id: Vec<Option<Material>>,
    by_name: HashMap<String, MaterialId>,
    /// Texture names, by layer.
    textures: Vec<String>,
    /// The top, side and bottom layers of each id (`None`: untextured or no such id).
    layers: Vec<Option<[u32; 3]>>,
    /// Per id with states or a shape: its block type's name, state and placed shape.
    blocks: Vec<Option<BlockInfo>>,
}

/// What the registry knows of an id that has states or a shape.
#[derive(Clone, Debug)]
struct BlockInfo {
    /// The block type's name (the entry's `name`, without states).
    base: Arc<str>,
    /// The states the type varies by, in [`StateKind::ALL`] order.
    kinds: Arc<[StateKind]>,
    state: BlockState,
    /// `None` for cubes.
    shape: Option<Arc<PlacedShape>>,
}

/// The combinations of `kinds` (in [`StateKind::ALL`] order), in id order: the last kind
/// varies fastest.
fn combinations(kinds: &[StateKind]) -> Vec<BlockState> {
    let mut out = vec![BlockState::default()];
    for &k in kinds {
        out = out.iter().flat_map(|s| (0..k.values()).map(move |v| s.with(k, v))).collect();
    }
    out
}

/// `name[kind=value,…]` of `state` over `kinds`.
fn state_name(name: &str, kinds: &[StateKind], state: BlockState) -> String {
    let parts: Vec<String> = kinds.iter().map(|&k| format!("{}={}", k.name(), k.value_name(state.value(k)))).collect();
    format!("{name}[{}]", parts.join(","))
}

/// `m` expanded into one entry per combination of its states (itself when it has none), with
/// each id's block info; checks its shape and states.
fn expand(m: Material) -> Result<Vec<(Material, Option<BlockInfo>)>, MaterialError> {
    let bad = |reason: String| MaterialError::BadShape { material: m.name.clone(), reason };
    if !m.shape.is_cube() && matches!(m.kind, MaterialKind::Air | MaterialKind::Fluid) {
        return Err(bad(format!("a {:?} cannot have a shape", m.kind)));
    }
    if m.kind == MaterialKind::Air && !m.states.is_empty() {
        return Err(bad("air cannot have states".into()));
    }
    if let Some(problem) = m.shape.problem() {
        return Err(bad(problem));
    }
    let mut kinds = m.states.clone();
    kinds.sort();
    if kinds.windows(2).any(|w| w[0] == w[1]) {
        return Err(bad("a state is listed twice".into()));
    }
    if kinds.is_empty() && m.shape.is_cube() {
        return Ok(vec![(Material { state: None, ..m }, None)]);
    }
    let base_name = |name: &str| name.split_once('[').map_or(name, |(b, _)| b).to_owned();
    if let Some(state) = m.state {
        // One entry a registry expanded before: keep it as it is.
        let info = BlockInfo {
            base: base_name(&m.name).as_str().into(),
            kinds: kinds.into(),
            state,
            shape: PlacedShape::new(&m.shape, state).map(Arc::new),
        };
        return Ok(vec![(m, Some(info))]);
    }
    let states = combinations(&kinds);
    if usize::from(m.id) + states.len() > usize::from(u16::MAX) + 1 {
        return Err(bad(format!(
            "its {} states need ids {}..{}, past 65535",
            states.len(),
            m.id,
            m.id as usize + states.len()
        )));
    }
    let (base, kinds): (Arc<str>, Arc<[StateKind]>) = (m.name.as_str().into(), kinds.into());
    Ok(states
        .iter()
        .enumerate()
        .map(|(k, &state)| {
            let info = BlockInfo {
                base: base.clone(),
                kinds: kinds.clone(),
                state,
                shape: PlacedShape::new(&m.shape, state).map(Arc::new),
            };
            let name = if kinds.is_empty() { m.name.clone() } else { state_name(&m.name, &kinds, state) };
            (Material { id: m.id + k as u16, name, state: Some(state), ..m.clone() }, Some(info))
        })
        .collect())
}

impl MaterialRegistry {
    /// Builds a registry from entries, checking its invariants; entries with `states` expand
    /// into one entry per combination (see the type docs).
    pub fn new(materials: Vec<Material>) -> Result<Self, MaterialError> {
        let mut by_id: Vec<Option<Material>> = Vec::new();
        let mut blocks: Vec<Option<BlockInfo>> = Vec::new();
        let mut by_name = HashMap::new();
        let mut aliases = Vec::new();
        for entry in materials {
            if (entry.id == 0) != (entry.kind == MaterialKind::Air) {
                return Err(MaterialError::AirMismatch(entry.name));
            }
            if entry.kind == MaterialKind::Air && entry.collides == Some(true) {
                return Err(MaterialError::AirCollides(entry.name));
            }
            if entry.light > MAX_LIGHT || (entry.kind == MaterialKind::Air && entry.light > 0) {
                return Err(MaterialError::LightOutOfRange { name: entry.name, light: entry.light });
            }
            if let Some(textures) = &entry.textures {
                check_textures(&entry, textures)?;
            }
            for (m, info) in expand(entry)? {
                let slot = m.id as usize;
                if by_id.len() <= slot {
                    by_id.resize(slot + 1, None);
                    blocks.resize(slot + 1, None);
                }
                if by_id[slot].is_some() {
                    return Err(MaterialError::DuplicateId(m.id));
                }
                if by_name.insert(m.name.clone(), MaterialId(m.id)).is_some() {
                    return Err(MaterialError::DuplicateName(m.name));
                }
                if let Some(b) = info.as_ref().filter(|b| !b.kinds.is_empty() && b.state == BlockState::default()) {
                    // The bare name is the default combination.
                    aliases.push((b.base.to_string(), m.id));
                }
                blocks[slot] = info;
                by_id[slot] = Some(m);
            }
        }
        for (name, id) in aliases {
            if by_name.insert(name.clone(), MaterialId(id)).is_some() {
                return Err(MaterialError::DuplicateName(name));
            }
        }
        if by_id.first().is_none_or(Option::is_none) {
            return Err(MaterialError::AirMismatch("<missing id 0>".into()));
        }
        let mut textures: Vec<String> = Vec::new();
        let mut layers = vec![None; by_id.len()];
        for m in by_id.iter().flatten() {
            let Some(names) = m.textures.as_ref().and_then(FaceTextures::resolved) else { continue };
            layers[m.id as usize] = Some(names.map(|name| match textures.iter().position(|t| t == name) {
                Some(layer) => layer as u32,
                None => {
                    textures.push(name.to_owned());
                    textures.len() as u32 - 1
                }
            }));
        }
        Ok(Self { by_id, by_name, textures, layers, blocks })
    }

    /// Parses RON of the form `(materials: [(id: 0, name: "air", color: (..), kind: Air), ..])`.
    pub fn from_ron_str(text: &str) -> Result<Self, MaterialError> {
        // `collides: false` reads as `Some(false)` (no `Some(..)` needed in the file).
        let options = ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let file: RegistryFile = options.from_str(text).map_err(|e| MaterialError::Parse(e.to_string()))?;
        Self::new(file.materials)
    }

    /// Reads and parses a RON file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, MaterialError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| MaterialError::Io { path: path.display().to_string(), source })?;
        Self::from_ron_str(&text)
    }

    /// The registry shipped in `assets/materials.ron`, compiled in.
    pub fn builtin() -> Self {
        // The embedded file is covered by a unit test, so this cannot fail at run time.
        Self::from_ron_str(include_str!("../../../assets/materials.ron"))
            .expect("assets/materials.ron is valid (checked by tests)")
    }

    /// The definition of `id`.
    pub fn get(&self, id: MaterialId) -> Result<&Material, MaterialError> {
        self.by_id.get(id.0 as usize).and_then(Option::as_ref).ok_or(MaterialError::UnknownId(id.0))
    }

    /// The id named `name`.
    pub fn id(&self, name: &str) -> Result<MaterialId, MaterialError> {
        self.by_name.get(name).copied().ok_or_else(|| MaterialError::UnknownName(name.to_owned()))
    }

    /// The kind of `id`; unknown ids are reported, not guessed.
    pub fn kind(&self, id: MaterialId) -> Result<MaterialKind, MaterialError> {
        self.get(id).map(|m| m.kind)
    }

    /// Every entry, by increasing id.
    pub fn iter(&self) -> impl Iterator<Item = &Material> {
        self.by_id.iter().flatten()
    }

    /// One past the largest id (the size of an id-indexed lookup table).
    pub fn id_bound(&self) -> usize {
        self.by_id.len()
    }

    /// The distinct texture names of all materials, by texture-array layer (empty when no
    /// material is textured).
    pub fn texture_names(&self) -> &[String] {
        &self.textures
    }

    /// Whether any material is textured.
    pub fn has_textures(&self) -> bool {
        !self.textures.is_empty()
    }

    /// The texture-array layer of `id`'s `face` ([`MaterialRegistry::texture_names`]), or
    /// `None` if the material is untextured or unknown. O(1).
    #[inline]
    pub fn texture_layer(&self, id: MaterialId, face: FaceKind) -> Option<u32> {
        let layers = (*self.layers.get(id.0 as usize)?)?;
        Some(match face {
            FaceKind::Top => layers[0],
            FaceKind::Side => layers[1],
            FaceKind::Bottom => layers[2],
        })
    }

    /// The texture-array layer of the face of `id` that looks towards `world` (a world
    /// direction): the face kind in the block's own frame, so a log lying along x shows its top
    /// texture on ±X ([`BlockState::own_face`]). The same as [`MaterialRegistry::texture_layer`]
    /// for ids without states. O(1).
    #[inline]
    pub fn texture_layer_towards(&self, id: MaterialId, world: Face) -> Option<u32> {
        let own = match self.blocks.get(id.0 as usize) {
            Some(Some(b)) => b.state.own_face(world),
            _ => world,
        };
        let kind = match own {
            Face::PosY => FaceKind::Top,
            Face::NegY => FaceKind::Bottom,
            _ => FaceKind::Side,
        };
        self.texture_layer(id, kind)
    }

    /// The placed shape of `id` (its boxes in sixteenths, see [`crate::shape`]), `None` for
    /// full cubes and unknown ids. O(1).
    #[inline]
    pub fn shape(&self, id: MaterialId) -> Option<&PlacedShape> {
        self.blocks.get(id.0 as usize)?.as_ref()?.shape.as_deref()
    }

    /// The block type's name and the state of `id`: `("stone_stairs", state)`; `None` for ids
    /// without states or a shape.
    pub fn block_state(&self, id: MaterialId) -> Option<(&str, BlockState)> {
        let b = self.blocks.get(id.0 as usize)?.as_ref()?;
        Some((&b.base, b.state))
    }

    /// The id of block type `name` in `state` (the states the type does not vary by are
    /// ignored); a plain material's own id.
    ///
    /// # Errors
    /// [`MaterialError::UnknownName`] for a name the registry lacks.
    pub fn id_with_state(&self, name: &str, state: BlockState) -> Result<MaterialId, MaterialError> {
        let id = self.id(name)?;
        match self.blocks.get(id.0 as usize) {
            Some(Some(b)) if !b.kinds.is_empty() => self.id(&state_name(&b.base, &b.kinds, state)),
            _ => Ok(id),
        }
    }
}

/// A material's textures are usable: not on air, every face named, every name a plain stem.
fn check_textures(m: &Material, textures: &FaceTextures) -> Result<(), MaterialError> {
    if m.kind == MaterialKind::Air {
        return Err(MaterialError::AirTextured(m.name.clone()));
    }
    let names = [&textures.all, &textures.top, &textures.side, &textures.bottom];
    for name in names.into_iter().flatten() {
        let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
        if name.is_empty() || name.len() > 64 || !name.chars().all(plain) {
            return Err(MaterialError::BadTextureName { material: m.name.clone(), texture: name.clone() });
        }
    }
    if textures.resolved().is_none() {
        return Err(MaterialError::IncompleteTextures(m.name.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_registry_is_valid() {
        let r = MaterialRegistry::builtin();
        assert_eq!(r.kind(MaterialId::AIR).unwrap(), MaterialKind::Air);
        let stone = r.id("stone").unwrap();
        assert_eq!(r.kind(stone).unwrap(), MaterialKind::Solid);
        assert_eq!(r.kind(r.id("water").unwrap()).unwrap(), MaterialKind::Fluid);
        for name in ["stone", "dirt", "grass", "sand", "water"] {
            r.id(name).unwrap();
        }
        // The shipped shapes: logs along each axis, slabs, stairs every way, a plant.
        assert_eq!(r.id("log[axis=x]").unwrap(), MaterialId(21));
        assert!(r.shape(r.id("log").unwrap()).is_none());
        let top_slab = r.id_with_state("stone_slab", BlockState::default().with(StateKind::Half, 1)).unwrap();
        assert!(r.shape(top_slab).unwrap().covers(Face::PosY));
        assert_eq!((26..34).filter(|&i| r.shape(MaterialId(i)).is_some()).count(), 8, "brick_stairs");
        let grass = r.get(r.id("tall_grass").unwrap()).unwrap();
        assert!(r.shape(MaterialId(grass.id)).unwrap().cross && !grass.collides());
    }

    #[test]
    fn unknown_ids_and_bad_files_are_errors() {
        let r = MaterialRegistry::builtin();
        assert!(matches!(r.get(MaterialId(60000)), Err(MaterialError::UnknownId(60000))));
        assert!(matches!(r.id("unobtainium"), Err(MaterialError::UnknownName(_))));
        assert!(matches!(MaterialRegistry::from_ron_str("(materials: ["), Err(MaterialError::Parse(_))));
        let dup = "(materials: [(id: 0, name: \"air\", color: (0,0,0,0), kind: Air), (id: 0, name: \"b\", color: (0,0,0,0), kind: Air)])";
        assert!(matches!(MaterialRegistry::from_ron_str(dup), Err(MaterialError::DuplicateId(0))));
        let no_air = "(materials: [(id: 1, name: \"s\", color: (0,0,0,1), kind: Solid)])";
        assert!(matches!(MaterialRegistry::from_ron_str(no_air), Err(MaterialError::AirMismatch(_))));
        assert!(matches!(MaterialRegistry::load("/nonexistent/x.ron"), Err(MaterialError::Io { .. })));
        let solid_air = "(materials: [(id: 0, name: \"air\", color: (0,0,0,0), kind: Air, collides: true)])";
        assert!(matches!(MaterialRegistry::from_ron_str(solid_air), Err(MaterialError::AirCollides(_))));
    }

    #[test]
    fn light_levels_are_read_and_checked() {
        let r = registry("(id: 1, name: \"lamp\", color: (1,1,1,1), kind: Solid, light: 15)").unwrap();
        assert_eq!(r.get(MaterialId(1)).unwrap().light, 15);
        assert_eq!(r.get(MaterialId::AIR).unwrap().light, 0, "light defaults to none");
        let too_bright = registry("(id: 1, name: \"sun\", color: (1,1,1,1), kind: Solid, light: 16)");
        assert!(matches!(too_bright, Err(MaterialError::LightOutOfRange { light: 16, .. })));
        let glowing_air = "(materials: [(id: 0, name: \"air\", color: (0,0,0,0), kind: Air, light: 3)])";
        assert!(matches!(MaterialRegistry::from_ron_str(glowing_air), Err(MaterialError::LightOutOfRange { .. })));
        // The shipped file's emitters survive a round trip through RON.
        let builtin = MaterialRegistry::builtin();
        let lamp = builtin.get(builtin.id("lamp").unwrap()).unwrap();
        assert_eq!(lamp.light, 15);
        let text = ron::to_string(lamp).unwrap();
        assert!(text.contains("light:15"), "{text}");
    }

    #[test]
    fn collision_follows_the_kind_unless_the_file_says_otherwise() {
        let r = MaterialRegistry::builtin();
        let collides = |name: &str| r.get(r.id(name).unwrap()).unwrap().collides();
        assert!(collides("stone") && collides("glass") && collides("ice"));
        assert!(!collides("air") && !collides("water") && !collides("magma"));
        let text = "(materials: [(id: 0, name: \"air\", color: (0,0,0,0), kind: Air),
            (id: 1, name: \"tall_grass\", color: (0,1,0,1), kind: Solid, collides: false),
            (id: 2, name: \"mud\", color: (0,0,0,1), kind: Fluid, collides: true)])";
        let r = MaterialRegistry::from_ron_str(text).unwrap();
        assert!(!r.get(MaterialId(1)).unwrap().collides());
        assert!(r.get(MaterialId(2)).unwrap().collides());
    }

    const AIR: &str = "(id: 0, name: \"air\", color: (0,0,0,0), kind: Air)";

    fn registry(entries: &str) -> Result<MaterialRegistry, MaterialError> {
        MaterialRegistry::from_ron_str(&format!("(materials: [{AIR}, {entries}])"))
    }

    #[test]
    fn faces_take_their_own_texture_else_all_and_layers_are_shared_by_name() {
        let r = registry(
            "(id: 1, name: \"grass\", color: (0,1,0,1), kind: Solid,
                textures: (top: \"grass_top\", side: \"grass_side\", bottom: \"dirt\")),
             (id: 2, name: \"dirt\", color: (1,0,0,1), kind: Solid, textures: (all: \"dirt\")),
             (id: 3, name: \"log\", color: (1,0,0,1), kind: Solid, textures: (all: \"bark\", top: \"rings\", bottom: \"rings\")),
             (id: 4, name: \"plain\", color: (1,1,1,1), kind: Solid)",
        )
        .unwrap();
        assert_eq!(r.texture_names(), ["grass_top", "grass_side", "dirt", "rings", "bark"]);
        let layers =
            |id: u16| [FaceKind::Top, FaceKind::Side, FaceKind::Bottom].map(|f| r.texture_layer(MaterialId(id), f));
        assert_eq!(layers(1), [Some(0), Some(1), Some(2)]);
        assert_eq!(layers(2), [Some(2); 3], "one layer for `dirt`, however many materials use it");
        assert_eq!(layers(3), [Some(3), Some(4), Some(3)], "first use: top, then side, then bottom");
        assert_eq!(layers(4), [None; 3]);
        assert_eq!(layers(0), [None; 3]);
        assert_eq!(layers(999), [None; 3]);
        assert!(r.has_textures());
    }

    #[test]
    fn unusable_textures_are_refused_by_name() {
        let incomplete =
            registry("(id: 1, name: \"s\", color: (0,0,0,1), kind: Solid, textures: (top: \"a\", side: \"b\"))");
        assert!(matches!(incomplete, Err(MaterialError::IncompleteTextures(m)) if m == "s"));
        for bad in ["", "../etc/passwd", "Stone", "a b", &"x".repeat(65)] {
            let r = registry(&format!("(id: 1, name: \"s\", color: (0,0,0,1), kind: Solid, textures: (all: {bad:?}))"));
            assert!(
                matches!(&r, Err(MaterialError::BadTextureName { texture, .. }) if texture == bad),
                "{bad:?}: {r:?}"
            );
        }
        let air = "(materials: [(id: 0, name: \"air\", color: (0,0,0,0), kind: Air, textures: (all: \"x\"))])";
        assert!(matches!(MaterialRegistry::from_ron_str(air), Err(MaterialError::AirTextured(_))));
        let typo = registry("(id: 1, name: \"s\", color: (0,0,0,1), kind: Solid, textures: (sides: \"a\"))");
        assert!(matches!(typo, Err(MaterialError::Parse(_))), "unknown face names are parse errors");
    }

    #[test]
    fn states_expand_into_consecutive_named_ids() {
        let r = registry(
            "(id: 1, name: \"stone\", color: (0,0,0,1), kind: Solid),
             (id: 10, name: \"stairs\", color: (0,0,0,1), kind: Solid, shape: Stairs, states: [half, facing],
                textures: (all: \"stone\")),
             (id: 18, name: \"log\", color: (0,0,0,1), kind: Solid, states: [axis],
                textures: (all: \"bark\", top: \"rings\", bottom: \"rings\")),
             (id: 21, name: \"fern\", color: (0,1,0,1), kind: Solid, shape: Cross, collides: false)",
        )
        .unwrap();
        // Facing before half whatever the file's order; the last varies fastest.
        let names: Vec<&str> = (10..18).map(|i| r.get(MaterialId(i)).unwrap().name.as_str()).collect();
        assert_eq!(
            names,
            [
                "stairs[facing=north,half=bottom]",
                "stairs[facing=north,half=top]",
                "stairs[facing=east,half=bottom]",
                "stairs[facing=east,half=top]",
                "stairs[facing=south,half=bottom]",
                "stairs[facing=south,half=top]",
                "stairs[facing=west,half=bottom]",
                "stairs[facing=west,half=top]",
            ]
        );
        assert_eq!(r.id("stairs").unwrap(), MaterialId(10), "the bare name is the default state");
        assert_eq!(r.id("log").unwrap(), MaterialId(19), "axis y is the log's default");
        assert_eq!(r.id("log[axis=z]").unwrap(), MaterialId(20));
        let east_top = BlockState::default().with(StateKind::Facing, 1).with(StateKind::Half, 1);
        assert_eq!(r.id_with_state("stairs", east_top).unwrap(), MaterialId(13));
        assert_eq!(r.id_with_state("log", east_top).unwrap(), MaterialId(19), "states a type lacks are ignored");
        assert_eq!(r.id_with_state("stone", east_top).unwrap(), MaterialId(1));
        assert_eq!(r.block_state(MaterialId(13)), Some(("stairs", east_top)));
        assert_eq!(r.block_state(MaterialId(1)), None);
        for id in 10..18 {
            let (_, state) = r.block_state(MaterialId(id)).unwrap();
            assert_eq!(r.shape(MaterialId(id)), PlacedShape::new(&Shape::Stairs, state).as_ref());
        }
        assert!(r.shape(MaterialId(19)).is_none(), "logs are cubes");
        assert!(r.shape(MaterialId(21)).unwrap().cross);
        assert!(!r.get(MaterialId(21)).unwrap().collides());
        assert_eq!(r.get(r.id("log[axis=x]").unwrap()).unwrap().textures, r.get(MaterialId(19)).unwrap().textures);
        // A log lying along x shows its rings on ±X and its bark on top.
        let (rings, bark) = (r.texture_names().iter().position(|t| t == "rings").unwrap() as u32, 2u32);
        assert_eq!(r.texture_names()[bark as usize], "bark");
        let x = r.id("log[axis=x]").unwrap();
        assert_eq!(r.texture_layer_towards(x, Face::PosX), Some(rings));
        assert_eq!(r.texture_layer_towards(x, Face::NegX), Some(rings));
        assert_eq!(r.texture_layer_towards(x, Face::PosY), Some(bark));
        assert_eq!(r.texture_layer_towards(MaterialId(19), Face::PosY), Some(rings));
        assert_eq!(r.texture_layer_towards(MaterialId(19), Face::PosZ), Some(bark));
        // Every id has its own palette name.
        let palette = crate::Palette::of_registry(&r);
        assert_eq!(palette.len(), r.iter().count());

        // Its entries build it again, renumbered (ids reversed): nothing expands twice, every
        // name keeps its state and shape, the bare names and state lookups follow.
        let last = r.iter().map(|m| m.id).max().unwrap();
        let again = MaterialRegistry::new(
            r.iter().map(|m| Material { id: if m.id == 0 { 0 } else { last + 1 - m.id }, ..m.clone() }).collect(),
        )
        .unwrap();
        assert_eq!(again.iter().count(), r.iter().count());
        for m in r.iter() {
            let id = again.id(&m.name).unwrap();
            assert_eq!(again.block_state(id), r.block_state(MaterialId(m.id)), "{}", m.name);
            assert_eq!(again.shape(id), r.shape(MaterialId(m.id)), "{}", m.name);
        }
        assert_eq!(again.id("stairs").unwrap(), again.id("stairs[facing=north,half=bottom]").unwrap());
        assert_eq!(again.id_with_state("stairs", east_top).unwrap(), again.id("stairs[facing=east,half=top]").unwrap());
    }

    #[test]
    fn unusable_shapes_and_states_are_refused_by_name() {
        let bad = |entry: &str| match registry(entry) {
            Err(MaterialError::BadShape { material, reason }) => (material, reason),
            other => panic!("{entry}: {other:?}"),
        };
        assert_eq!(bad("(id: 1, name: \"w\", color: (0,0,0,1), kind: Fluid, shape: Slab)").0, "w");
        bad("(id: 1, name: \"s\", color: (0,0,0,1), kind: Solid, states: [half, half])");
        bad("(id: 1, name: \"m\", color: (0,0,0,1), kind: Solid, shape: Boxes([]))");
        bad("(id: 1, name: \"m\", color: (0,0,0,1), kind: Solid, shape: Boxes([(min: (0, 0, 0), max: (16, 20, 16))]))");
        let (_, reason) = bad("(id: 65530, name: \"s\", color: (0,0,0,1), kind: Solid, states: [axis, facing])");
        assert!(reason.contains("65535"), "{reason}");
        let air = "(materials: [(id: 0, name: \"air\", color: (0,0,0,0), kind: Air, states: [half])])";
        assert!(matches!(MaterialRegistry::from_ron_str(air), Err(MaterialError::BadShape { .. })));
        // Expanded ids collide like any other.
        let overlap = registry(
            "(id: 1, name: \"slab\", color: (0,0,0,1), kind: Solid, shape: Slab, states: [half]),
             (id: 2, name: \"stone\", color: (0,0,0,1), kind: Solid)",
        );
        assert!(matches!(overlap, Err(MaterialError::DuplicateId(2))));
        let alias = registry(
            "(id: 1, name: \"slab\", color: (0,0,0,1), kind: Solid, shape: Slab, states: [half]),
             (id: 5, name: \"slab[half=top]\", color: (0,0,0,1), kind: Solid)",
        );
        assert!(matches!(alias, Err(MaterialError::DuplicateName(n)) if n == "slab[half=top]"));
        let model = registry(
            "(id: 1, name: \"post\", color: (0,0,0,1), kind: Solid,
                shape: Boxes([(min: (6, 0, 6), max: (10, 16, 10))]))",
        )
        .unwrap();
        assert_eq!(model.shape(MaterialId(1)).unwrap().boxes, [crate::ShapeBox::new([6, 0, 6], [10, 16, 10])]);
    }

    #[test]
    fn face_kind_follows_the_normal() {
        assert_eq!(FaceKind::of_normal([0.0, 1.0, 0.0]), FaceKind::Top);
        assert_eq!(FaceKind::of_normal([0.0, -1.0, 0.0]), FaceKind::Bottom);
        for n in [[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]] {
            assert_eq!(FaceKind::of_normal(n), FaceKind::Side);
        }
    }
}
