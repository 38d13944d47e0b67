//! Per-material classification: which ids are air, opaque, transparent or fluid.

use crate::light::{CLEAR, EMIT, SKY_CLEAR};
use crate::model::ModelGeometry;
use std::sync::Arc;
use strata_core::{MAX_LIGHT, MaterialId, MaterialKind, MaterialRegistry};

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
/// Not a full cube (slab, stairs, plant, model): meshed by the model pass, hides nothing in the
/// greedy pass, lets light through.
pub(crate) const SHAPED: u8 = 4;

/// How the mesher treats each material id: an id-indexed lookup table built once from a
/// [`MaterialRegistry`].
///
/// Invariants: id 0 is air; ids the registry does not know are **opaque solids** (they hide their
/// neighbours and are meshed in the opaque pass), so corrupt or newer data never panics and never
/// opens holes in the world.
///
/// # Runtime
/// Building is O(65536) (two 64 KiB tables, classes and light, so lookups need no bounds check); [`MaterialTable::kind`]
/// is O(1).
#[derive(Clone)]
pub struct MaterialTable {
    codes: Box<[u8; ID_SPACE]>,
    /// Light codes ([`crate::light`]: emitted level, clear, sky-clear), one byte per id.
    light: Box<[u8; ID_SPACE]>,
    /// The faces of each [`SHAPED`] id (indexed by id; shorter than the id space).
    shapes: Arc<[Option<ModelGeometry>]>,
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
    /// Builds the table from a registry; ids missing from the registry are opaque. Ids with a
    /// shape ([`MaterialRegistry::shape`]) go to the model pass: they hide nothing in the
    /// greedy pass, let light through and report [`MaterialKind::Transparent`].
    pub fn new(registry: &MaterialRegistry) -> Self {
        let mut kinds = vec![MaterialKind::Solid; registry.id_bound()];
        let mut lights = vec![0; registry.id_bound()];
        for m in registry.iter() {
            kinds[m.id as usize] = m.kind;
            lights[m.id as usize] = m.light;
        }
        let mut table = Self::from_kinds_and_light(&kinds, &lights);
        let shapes: Vec<Option<ModelGeometry>> = (0..registry.id_bound())
            .map(|id| {
                let id = MaterialId(id as u16);
                let shape = registry.shape(id)?;
                Some(ModelGeometry::new(shape, kinds[id.0 as usize] == MaterialKind::Transparent))
            })
            .collect();
        for (id, shape) in shapes.iter().enumerate() {
            if shape.is_some() {
                table.codes[id] = SHAPED;
                table.light[id] = CLEAR | SKY_CLEAR | (table.light[id] & EMIT);
            }
        }
        table.shapes = shapes.into();
        table
    }

    /// The model faces of a [`SHAPED`] id.
    #[inline]
    pub(crate) fn shape(&self, id: u16) -> Option<&ModelGeometry> {
        self.shapes.get(id as usize)?.as_ref()
    }

    /// Builds the table from an id-indexed list of kinds; ids past the end are opaque.
    ///
    /// Id 0 is air whatever `kinds[0]` says (the registry guarantees the same).
    pub fn from_kinds(kinds: &[MaterialKind]) -> Self {
        Self::from_kinds_and_light(kinds, &[])
    }

    /// Builds the table from id-indexed lists of kinds and emitted light levels (`light` in
    /// `materials.ron`, clamped to 15); ids past the end of `kinds` are opaque, past the end of
    /// `lights` dark.
    ///
    /// Id 0 is dark air whatever the lists say (the registry guarantees the same).
    pub fn from_kinds_and_light(kinds: &[MaterialKind], lights: &[u8]) -> Self {
        let mut codes = table_of(OPAQUE);
        for (code, kind) in codes.iter_mut().zip(kinds) {
            *code = code_of(*kind);
        }
        codes[0] = AIR;
        let mut light = table_of(0);
        for (id, l) in light.iter_mut().enumerate() {
            let pass = match codes[id] {
                AIR | TRANSPARENT => CLEAR | SKY_CLEAR,
                FLUID => CLEAR,
                _ => 0,
            };
            let emits = if id == 0 { 0 } else { lights.get(id).map_or(0, |&e| e.min(MAX_LIGHT)) };
            *l = pass | emits;
        }
        Self { codes, light, shapes: Arc::new([]) }
    }

    /// The light code of a raw id ([`crate::light`]): emitted level in bits 0..4, light passes
    /// ([`CLEAR`]), the sky column passes ([`SKY_CLEAR`]).
    #[inline]
    pub(crate) fn light_code(&self, id: u16) -> u8 {
        self.light[id as usize]
    }

    /// The light level `id` gives off (0..=15).
    #[inline]
    pub fn emission(&self, id: MaterialId) -> u8 {
        self.light_code(id.0) & EMIT
    }

    /// How the mesher treats `id`.
    #[inline]
    pub fn kind(&self, id: MaterialId) -> MaterialKind {
        match self.code(id.0) {
            AIR => MaterialKind::Air,
            TRANSPARENT | SHAPED => MaterialKind::Transparent,
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

/// Where the runs of equal ids of a 32-id row start: `None` for a uniform row (most rows of
/// terrain: compared 4 ids at a time as 64-bit words, no branches), else bit `x` set iff a run
/// starts at `x` (bit 0 always; branch-free compares of the row against itself shifted by one,
/// which vectorise). Shared by the occupancy build and the light window.
#[inline(always)]
pub(crate) fn run_starts(ids: &[u16; 32]) -> Option<u32> {
    let first = u64::from(ids[0]) * 0x0001_0001_0001_0001;
    let differs = ids
        .chunks_exact(4)
        .map(|c| u64::from(c[0]) | u64::from(c[1]) << 16 | u64::from(c[2]) << 32 | u64::from(c[3]) << 48)
        .fold(0, |acc, w| acc | (w ^ first));
    (differs != 0).then(|| (1..32).fold(1u32, |m, x| m | (u32::from(ids[x] != ids[x - 1]) << x)))
}

/// A table with every entry `value`.
fn table_of(value: u8) -> Box<[u8; ID_SPACE]> {
    match vec![value; ID_SPACE].into_boxed_slice().try_into() {
        Ok(t) => t,
        // Invariant: the vector was built with exactly ID_SPACE elements.
        Err(_) => unreachable!("table has ID_SPACE entries"),
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
