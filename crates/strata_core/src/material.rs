//! Material ids and the material registry.
//!
//! A voxel holds a [`MaterialId`] (`u16`); `0` is always air. What an id means (name, colour, how it
//! renders) lives in a [`MaterialRegistry`], loaded from RON (`assets/materials.ron`).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

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
}

impl MaterialRegistry {
    /// Builds a registry from entries, checking its invariants.
    pub fn new(materials: Vec<Material>) -> Result<Self, MaterialError> {
        let mut by_id: Vec<Option<Material>> = Vec::new();
        let mut by_name = HashMap::new();
        for m in materials {
            if (m.id == 0) != (m.kind == MaterialKind::Air) {
                return Err(MaterialError::AirMismatch(m.name));
            }
            if m.kind == MaterialKind::Air && m.collides == Some(true) {
                return Err(MaterialError::AirCollides(m.name));
            }
            if m.light > MAX_LIGHT || (m.kind == MaterialKind::Air && m.light > 0) {
                return Err(MaterialError::LightOutOfRange { name: m.name, light: m.light });
            }
            let slot = m.id as usize;
            if by_id.len() <= slot {
                by_id.resize(slot + 1, None);
            }
            if by_id[slot].is_some() {
                return Err(MaterialError::DuplicateId(m.id));
            }
            if by_name.insert(m.name.clone(), MaterialId(m.id)).is_some() {
                return Err(MaterialError::DuplicateName(m.name));
            }
            if let Some(textures) = &m.textures {
                check_textures(&m, textures)?;
            }
            by_id[slot] = Some(m);
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
        Ok(Self { by_id, by_name, textures, layers })
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
    fn face_kind_follows_the_normal() {
        assert_eq!(FaceKind::of_normal([0.0, 1.0, 0.0]), FaceKind::Top);
        assert_eq!(FaceKind::of_normal([0.0, -1.0, 0.0]), FaceKind::Bottom);
        for n in [[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]] {
            assert_eq!(FaceKind::of_normal(n), FaceKind::Side);
        }
    }
}
