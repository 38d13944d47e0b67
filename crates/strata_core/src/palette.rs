//! Material palettes: what each material id of a save means, by name, so that renumbering
//! `materials.ron` never silently changes a save.
//!
//! Every save records its [`Palette`] (id → material name) beside its chunks (redb: the meta
//! value [`PALETTE_META`]; Redis: a field of the world's meta hash). Opening a save with a
//! registry **reconciles** the two ([`reconcile`]):
//!
//! - a material the save names is found in the registry **by name**; if the registry gives it
//!   another id, records are remapped on every read and write through an [`IdMap`] (two
//!   64 Ki-entry lookup tables), so the save keeps its numbering and the game sees the
//!   registry's;
//! - a material the save names that the registry no longer has is [`PaletteError::Removed`],
//!   naming it, unless a [`PaletteRules::replace`] rule maps it to a material the registry has
//!   (its voxels then read as that material; the save still names it, so the rule is needed
//!   whenever the save is opened);
//! - a material new to the save joins its palette under the registry's id when the save does
//!   not use that id, else under the smallest free one;
//! - a save without a palette (written before palettes existed, or new) is taken to be in the
//!   registry's numbering, as it always was, and records the registry's palette.
//!
//! Ids a record holds that its save's palette does not name are kept as they are.
//!
//! The stored text is RON: `[(0, "air"), (1, "stone"), …]`, by increasing id.

use crate::chunk::Chunk;
use crate::material::{MaterialId, MaterialRegistry};
use std::collections::{BTreeMap, HashMap};

/// The name of the meta value holding a save's palette.
pub const PALETTE_META: &str = "materials";

/// Number of material ids (`u16`).
const ID_SPACE: usize = 1 << 16;

/// Why a save's palette and a registry do not fit together, or a stored palette is unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaletteError {
    /// The save holds a material the registry no longer defines.
    #[error(
        "the save holds material {name:?} (id {id} in the save) and the materials file no longer defines it: add it back, or map it to another material with a palette rule (PaletteRules::replace)"
    )]
    Removed {
        /// The material's name.
        name: String,
        /// Its id in the save.
        id: u16,
    },
    /// A [`PaletteRules::replace`] rule maps to a material the registry does not define.
    #[error("the palette rule replacing {from:?} names {to:?}, which the materials file does not define")]
    UnknownReplacement {
        /// The material replaced.
        from: String,
        /// The material named as its replacement.
        to: String,
    },
    /// The save and the registry disagree about air: id 0 is air in both, always.
    #[error("id 0 must be air in the save and the materials file (the save names it {0:?})")]
    AirMismatch(String),
    /// Every id is taken: a new material has no id left in the save.
    #[error("no free material id left in the save for {0:?}")]
    Full(String),
    /// The stored palette is not a palette (damaged or foreign).
    #[error("the save's material palette is malformed: {0}")]
    Malformed(String),
}

/// The name of each material id of a save. Invariants: id 0 is present; ids and names are
/// unique.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Palette {
    names: BTreeMap<u16, String>,
}

impl Palette {
    /// The palette of `registry`: each of its materials under its id.
    pub fn of_registry(registry: &MaterialRegistry) -> Self {
        Self { names: registry.iter().map(|m| (m.id, m.name.clone())).collect() }
    }

    /// A palette from (id, name) pairs, checking its invariants.
    pub fn new(entries: impl IntoIterator<Item = (u16, String)>) -> Result<Self, PaletteError> {
        let mut names = BTreeMap::new();
        let mut seen = HashMap::new();
        for (id, name) in entries {
            if let Some(other) = seen.insert(name.clone(), id) {
                return Err(PaletteError::Malformed(format!("{name:?} has ids {other} and {id}")));
            }
            if names.insert(id, name).is_some() {
                return Err(PaletteError::Malformed(format!("id {id} is named twice")));
            }
        }
        if !names.contains_key(&0) {
            return Err(PaletteError::Malformed("id 0 (air) is missing".into()));
        }
        Ok(Self { names })
    }

    /// The name of `id`, if the palette has it.
    pub fn name(&self, id: u16) -> Option<&str> {
        self.names.get(&id).map(String::as_str)
    }

    /// Every (id, name), by increasing id.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &str)> {
        self.names.iter().map(|(id, n)| (*id, n.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the palette has no entries (never true for a checked palette: air is in it).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The stored text: RON `[(id, "name"), …]` by increasing id.
    pub fn to_text(&self) -> String {
        let entries: Vec<(u16, &str)> = self.iter().collect();
        ron::to_string(&entries).unwrap_or_else(|e| unreachable!("a list of (u16, &str) serialises: {e}"))
    }

    /// Parses [`Palette::to_text`]'s form; anything else is [`PaletteError::Malformed`].
    pub fn from_text(text: &str) -> Result<Self, PaletteError> {
        let entries: Vec<(u16, String)> = ron::from_str(text).map_err(|e| PaletteError::Malformed(e.to_string()))?;
        Self::new(entries)
    }
}

/// How to read materials a save holds that the registry no longer has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaletteRules {
    replace: HashMap<String, String>,
}

impl PaletteRules {
    /// No rules: a removed material is an error.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads voxels of the save's material `from` (no longer in the registry) as the registry's
    /// material `to`.
    pub fn replace(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.replace.insert(from.into(), to.into());
        self
    }
}

/// Translates material ids between a save's numbering ("store ids") and a registry's.
/// Built by [`reconcile`] when they differ; ~256 KiB.
#[derive(Clone)]
pub struct IdMap {
    to_registry: Box<[u16; ID_SPACE]>,
    to_store: Box<[u16; ID_SPACE]>,
}

impl std::fmt::Debug for IdMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let moved: Vec<(u16, u16)> = (0..ID_SPACE)
            .filter(|&i| self.to_registry[i] as usize != i)
            .map(|i| (i as u16, self.to_registry[i]))
            .collect();
        f.debug_struct("IdMap").field("store_to_registry", &moved).finish()
    }
}

fn identity_table() -> Box<[u16; ID_SPACE]> {
    let table: Vec<u16> = (0..=u16::MAX).collect();
    match table.into_boxed_slice().try_into() {
        Ok(t) => t,
        Err(_) => unreachable!("the table has 65536 entries"),
    }
}

impl IdMap {
    /// The registry's id of store id `id`.
    #[inline]
    pub fn to_registry(&self, id: MaterialId) -> MaterialId {
        MaterialId(self.to_registry[id.0 as usize])
    }

    /// The store id of the registry's `id`.
    #[inline]
    pub fn to_store(&self, id: MaterialId) -> MaterialId {
        MaterialId(self.to_store[id.0 as usize])
    }

    /// Rewrites a chunk read from the save into the registry's ids.
    ///
    /// # Runtime
    /// O(1) for a uniform chunk; for a dense one a pass over its 32,768 ids as 8,192 words of
    /// four: a word that repeats the one before it (runs, as in terrain) costs a compare, others
    /// four lookups.
    pub fn chunk_to_registry(&self, chunk: &mut Chunk) {
        remap_chunk(chunk, &self.to_registry);
    }

    /// Rewrites a chunk in the registry's ids into the save's (before it is encoded).
    /// Runtime as [`IdMap::chunk_to_registry`].
    pub fn chunk_to_store(&self, chunk: &mut Chunk) {
        remap_chunk(chunk, &self.to_store);
    }

    /// Rewrites dense ids through the save-to-registry table (see
    /// [`IdMap::chunk_to_registry`]).
    pub fn ids_to_registry(&self, ids: &mut [u16]) {
        remap_ids(ids, &self.to_registry);
    }
}

fn remap_chunk(chunk: &mut Chunk, table: &[u16; ID_SPACE]) {
    match chunk {
        Chunk::Uniform(m) => m.0 = table[m.0 as usize],
        Chunk::Dense(d) => remap_ids(d.as_mut_slice(), table),
    }
}

/// Maps every id of `ids` through `table`, four ids (a `u64` word) at a time: a word equal to
/// the one before it (a run, as terrain rows are) takes the previous word's result, others one
/// lookup per id.
fn remap_ids(ids: &mut [u16], table: &[u16; ID_SPACE]) {
    let (head, words, tail) = bytemuck::pod_align_to_mut::<u16, u64>(ids);
    for id in head.iter_mut().chain(tail.iter_mut()) {
        *id = table[*id as usize];
    }
    let map_word = |w: u64| {
        (0..4).fold(0u64, |out, lane| out | u64::from(table[(w >> (16 * lane)) as u16 as usize]) << (16 * lane))
    };
    let Some(&first) = words.first() else { return };
    let (mut last_in, mut last_out) = (first, map_word(first));
    let (blocks, rest) = words.as_chunks_mut::<8>();
    for block in blocks {
        // A whole block repeating the last word (runs of 32 ids: air, rock) in a few vector
        // operations.
        if block.iter().fold(0, |diff, w| diff | (w ^ last_in)) == 0 {
            *block = [last_out; 8];
            continue;
        }
        for w in block.iter_mut() {
            if *w != last_in {
                last_in = *w;
                last_out = map_word(*w);
            }
            *w = last_out;
        }
    }
    for w in rest.iter_mut() {
        if *w != last_in {
            last_in = *w;
            last_out = map_word(*w);
        }
        *w = last_out;
    }
}

/// The outcome of opening a save with a registry.
#[derive(Clone, Debug)]
pub struct Reconciled {
    /// The palette the save records from now on: its own entries and the registry's new
    /// materials.
    pub palette: Palette,
    /// How ids translate, or `None` when the save's ids are the registry's.
    pub map: Option<IdMap>,
}

/// Reconciles the palette a save recorded (`None`: it has none) with `registry`, following
/// `rules` for materials the registry no longer has (see the [module docs](self)).
///
/// # Errors
/// [`PaletteError::Removed`] names the first removed material without a rule (by increasing
/// save id); [`PaletteError::UnknownReplacement`] a rule naming a material the registry lacks;
/// [`PaletteError::AirMismatch`] a save whose id 0 is not `air`'s name in the registry.
///
/// # Runtime
/// O(materials) plus, when ids differ, filling the two 64 Ki-entry tables.
pub fn reconcile(
    saved: Option<&Palette>,
    registry: &MaterialRegistry,
    rules: &PaletteRules,
) -> Result<Reconciled, PaletteError> {
    let Some(saved) = saved else {
        return Ok(Reconciled { palette: Palette::of_registry(registry), map: None });
    };
    let air = registry.get(MaterialId::AIR).map(|m| m.name.as_str()).unwrap_or("air");
    if saved.name(0) != Some(air) {
        return Err(PaletteError::AirMismatch(saved.name(0).unwrap_or_default().to_owned()));
    }
    // Save id → registry id, for every saved material.
    let mut moved = Vec::new();
    for (sid, name) in saved.iter() {
        let rid = match registry.id(name) {
            Ok(rid) => rid,
            Err(_) => match rules.replace.get(name) {
                Some(to) => registry
                    .id(to)
                    .map_err(|_| PaletteError::UnknownReplacement { from: name.to_owned(), to: to.clone() })?,
                None => return Err(PaletteError::Removed { name: name.to_owned(), id: sid }),
            },
        };
        moved.push((sid, rid.0));
    }
    // Registry materials new to the save: their own id if the save does not use it, else the
    // smallest free one.
    let mut palette = saved.names.clone();
    let by_name: HashMap<&str, u16> = saved.iter().map(|(id, n)| (n, id)).collect();
    let mut new = Vec::new();
    for m in registry.iter() {
        if by_name.contains_key(m.name.as_str()) {
            continue;
        }
        new.push(m);
    }
    let mut free = 1u32;
    for m in new {
        let sid = if palette.contains_key(&m.id) {
            while palette.contains_key(&(free as u16)) {
                free += 1;
                if free > u32::from(u16::MAX) {
                    return Err(PaletteError::Full(m.name.clone()));
                }
            }
            free as u16
        } else {
            m.id
        };
        palette.insert(sid, m.name.clone());
        moved.push((sid, m.id));
    }
    let palette = Palette { names: palette };
    if moved.iter().all(|(sid, rid)| sid == rid) {
        return Ok(Reconciled { palette, map: None });
    }
    let (mut to_registry, mut to_store) = (identity_table(), identity_table());
    for &(sid, rid) in &moved {
        to_registry[sid as usize] = rid;
    }
    // A registry id goes back to the save id named like it (a replaced material's voxels are
    // written back as their replacement).
    for (sid, name) in palette.iter() {
        if let Ok(rid) = registry.id(name) {
            to_store[rid.0 as usize] = sid;
        }
    }
    Ok(Reconciled { palette, map: Some(IdMap { to_registry, to_store }) })
}

#[cfg(test)]
mod tests;
