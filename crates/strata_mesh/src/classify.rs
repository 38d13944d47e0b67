//! Per-material classification: which ids are air, opaque, transparent or fluid.

use strata_core::{MaterialId, MaterialKind, MaterialRegistry};

/// Number of distinct `u16` material ids.
const ID_SPACE: usize = 1 << 16;

/// Class codes stored in the table (one byte per id).
pub(crate) const AIR: u8 = 0;
/// Opaque solid.
pub(crate) const OPAQUE: u8 = 1;
/// Transparent solid (glass, ice).
pub(crate) const TRANSPARENT: u8 = 2;
/// Fluid (water, magma).
pub(crate) const FLUID: u8 = 3;

/// How the mesher treats each material id: an id-indexed lookup table built once from a
/// [`MaterialRegistry`].
///
/// Invariants: id 0 is air; ids the registry does not know are **opaque solids** (they hide their
/// neighbours and are meshed in the opaque pass), so corrupt or newer data never panics and never
/// opens holes in the world.
///
/// # Runtime
/// Building is O(65536) (one 64 KiB table, so lookups need no bounds check); [`MaterialTable::kind`]
/// is O(1).
#[derive(Clone)]
pub struct MaterialTable {
    codes: Box<[u8; ID_SPACE]>,
}

impl std::fmt::Debug for MaterialTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let non_opaque = self.codes.iter().filter(|&&c| c != OPAQUE).count();
        f.debug_struct("MaterialTable").field("non_opaque_ids", &non_opaque).finish()
    }
}

impl Default for MaterialTable {
    /// Every id but air is an opaque solid.
    fn default() -> Self {
        Self::from_kinds(&[MaterialKind::Air])
    }
}

impl MaterialTable {
    /// Builds the table from a registry; ids missing from the registry are opaque.
    pub fn new(registry: &MaterialRegistry) -> Self {
        let mut kinds = vec![MaterialKind::Solid; registry.id_bound()];
        for m in registry.iter() {
            kinds[m.id as usize] = m.kind;
        }
        Self::from_kinds(&kinds)
    }

    /// Builds the table from an id-indexed list of kinds; ids past the end are opaque.
    ///
    /// Id 0 is air whatever `kinds[0]` says (the registry guarantees the same).
    pub fn from_kinds(kinds: &[MaterialKind]) -> Self {
        let boxed: Box<[u8]> = vec![OPAQUE; ID_SPACE].into_boxed_slice();
        let mut codes: Box<[u8; ID_SPACE]> = match boxed.try_into() {
            Ok(c) => c,
            // Invariant: the vector was built with exactly ID_SPACE elements.
            Err(_) => unreachable!("table has ID_SPACE entries"),
        };
        for (code, kind) in codes.iter_mut().zip(kinds) {
            *code = code_of(*kind);
        }
        codes[0] = AIR;
        Self { codes }
    }

    /// How the mesher treats `id`.
    #[inline]
    pub fn kind(&self, id: MaterialId) -> MaterialKind {
        match self.code(id.0) {
            AIR => MaterialKind::Air,
            TRANSPARENT => MaterialKind::Transparent,
            FLUID => MaterialKind::Fluid,
            _ => MaterialKind::Solid,
        }
    }

    /// The class code of a raw id.
    #[inline]
    pub(crate) fn code(&self, id: u16) -> u8 {
        self.codes[id as usize]
    }
}

fn code_of(kind: MaterialKind) -> u8 {
    match kind {
        MaterialKind::Air => AIR,
        MaterialKind::Solid => OPAQUE,
        MaterialKind::Transparent => TRANSPARENT,
        MaterialKind::Fluid => FLUID,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_registry_and_unknown_ids() {
        let r = MaterialRegistry::builtin();
        let t = MaterialTable::new(&r);
        assert_eq!(t.kind(MaterialId::AIR), MaterialKind::Air);
        assert_eq!(t.kind(r.id("stone").unwrap()), MaterialKind::Solid);
        assert_eq!(t.kind(r.id("water").unwrap()), MaterialKind::Fluid);
        assert_eq!(t.kind(r.id("ice").unwrap()), MaterialKind::Transparent);
        assert_eq!(t.kind(MaterialId(60000)), MaterialKind::Solid, "unknown ids are opaque");
        assert_eq!(t.kind(MaterialId(u16::MAX)), MaterialKind::Solid);
        assert_eq!(MaterialTable::from_kinds(&[MaterialKind::Solid]).kind(MaterialId::AIR), MaterialKind::Air);
    }
}
