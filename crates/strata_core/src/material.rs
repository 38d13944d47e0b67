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
/// entry of kind [`MaterialKind::Air`].
#[derive(Clone, Debug)]
pub struct MaterialRegistry {
    by_id: Vec<Option<Material>>,
    by_name: HashMap<String, MaterialId>,
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
            by_id[slot] = Some(m);
        }
        if by_id.first().is_none_or(Option::is_none) {
            return Err(MaterialError::AirMismatch("<missing id 0>".into()));
        }
        Ok(Self { by_id, by_name })
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
}
