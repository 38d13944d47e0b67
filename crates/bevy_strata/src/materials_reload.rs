//! Reloading the materials while the game runs: `materials.ron` as a Bevy asset
//! ([`StrataMaterialsAsset`]); when it changes on disk (Bevy's `file_watcher` feature) or in
//! `Assets`, the world takes the new materials and every shown node is remeshed with their
//! look — colours, kinds, light, textures (`StrataTexturesPlugin` reloads its array when the
//! texture names change, and when a PNG changes).
//!
//! A reload may change anything about a material but its id and name, and may add materials.
//! Renumbering or removing a material needs a restart (the save is reconciled with the
//! materials when it opens, [`strata_core::palette`]): such a reload is refused, the materials
//! in use stay, and [`StrataMaterialsReloaded`] says why. A new material joins the save's
//! palette (written to the store on the main thread, once per reload that adds materials); one
//! whose id the save uses for another material is refused too.

use crate::StrataWorld;
use crate::startup::StrataStatus;
use crate::streaming::StrataStreaming;
use bevy::asset::io::Reader;
use bevy::asset::{AssetLoader, LoadContext};
use bevy::prelude::*;
use strata_core::{MaterialError, MaterialRegistry, Palette};

/// A materials file loaded as an asset (`assets/materials.ron` by default).
#[derive(Asset, TypePath, Debug, Clone)]
pub struct StrataMaterialsAsset {
    /// The materials.
    pub registry: MaterialRegistry,
}

/// Loads [`StrataMaterialsAsset`] from RON (`MaterialRegistry::from_ron_str`): chosen by asset
/// type, so any path works; files named `*.materials.ron` load as materials untyped too.
#[derive(Default, TypePath)]
pub struct StrataMaterialsLoader;

impl AssetLoader for StrataMaterialsLoader {
    type Asset = StrataMaterialsAsset;
    type Settings = ();
    type Error = MaterialError;

    async fn load(
        &self,
        reader: &mut dyn Reader,
        _settings: &(),
        load_context: &mut LoadContext<'_>,
    ) -> Result<StrataMaterialsAsset, MaterialError> {
        let path = load_context.path().to_string();
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).await.map_err(|source| MaterialError::Io { path: path.clone(), source })?;
        let text = std::str::from_utf8(&bytes).map_err(|e| MaterialError::Parse(format!("{path}: not UTF-8: {e}")))?;
        Ok(StrataMaterialsAsset { registry: MaterialRegistry::from_ron_str(text)? })
    }

    fn extensions(&self) -> &[&str] {
        &["materials.ron"]
    }
}

/// Watches a materials file and applies its changes (see the [module docs](self)). Add it
/// after `StrataPlugin`; give `StrataPlugin` the same materials to start with
/// (`with_materials(MaterialRegistry::load("assets/materials.ron")?)`), or the first load
/// replaces the built-in ones.
#[derive(Clone, Debug)]
pub struct StrataMaterialsReloadPlugin {
    /// Asset path of the materials file (default `"materials.ron"`).
    pub path: String,
}

impl Default for StrataMaterialsReloadPlugin {
    fn default() -> Self {
        Self { path: "materials.ron".into() }
    }
}

impl Plugin for StrataMaterialsReloadPlugin {
    fn build(&self, app: &mut App) {
        app.init_asset::<StrataMaterialsAsset>().register_asset_loader(StrataMaterialsLoader);
        let handle = app.world().resource::<AssetServer>().load::<StrataMaterialsAsset>(self.path.clone());
        let schedule = crate::StrataSchedule::of(app);
        app.add_message::<StrataMaterialsReloaded>()
            .insert_resource(MaterialsSource { handle, pending: false })
            .add_systems(schedule, apply_reloaded_materials.in_set(crate::StrataSystems::ApplyEdits));
    }
}

/// The watched file.
#[derive(Resource)]
struct MaterialsSource {
    handle: Handle<StrataMaterialsAsset>,
    /// A load or change not applied yet (waits for the save to be open).
    pending: bool,
}

/// What became of a reload of the materials file.
#[derive(Message, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StrataMaterialsReloaded {
    /// The new materials are in use; shown nodes are being remeshed.
    Applied {
        /// Materials in the file.
        materials: usize,
    },
    /// The file's materials were refused (the ones in use stay): why.
    Refused(String),
}

/// Why a reload cannot be applied while the save is open, if it cannot: `old` are the
/// materials in use, `new` the file's, `saved` the save's palette (`None`: none recorded).
/// On success, the palette to record (`None`: nothing new).
pub fn check_reload(
    old: &MaterialRegistry,
    new: &MaterialRegistry,
    saved: Option<&Palette>,
) -> Result<Option<Palette>, String> {
    for m in old.iter() {
        match new.id(&m.name) {
            Ok(id) if id.0 == m.id => {}
            Ok(id) => {
                return Err(format!(
                    "material {:?} moved from id {} to {}: renumbering needs a restart (the save is reconciled when it opens)",
                    m.name, m.id, id.0
                ));
            }
            Err(_) => return Err(format!("material {:?} was removed: removing a material needs a restart", m.name)),
        }
    }
    let Some(saved) = saved else { return Ok(None) };
    let mut entries: Vec<(u16, String)> = saved.iter().map(|(id, n)| (id, n.to_owned())).collect();
    for m in new.iter().filter(|m| old.id(&m.name).is_err()) {
        match saved.name(m.id) {
            None => entries.push((m.id, m.name.clone())),
            Some(name) if name == m.name => {}
            Some(name) => {
                return Err(format!(
                    "new material {:?} takes id {}, which the save uses for {name:?}: give it a free id",
                    m.name, m.id
                ));
            }
        }
    }
    if entries.len() == saved.len() {
        return Ok(None);
    }
    Palette::new(entries).map(Some).map_err(|e| e.to_string())
}

/// Whether two registries define the same materials.
fn same_materials(a: &MaterialRegistry, b: &MaterialRegistry) -> bool {
    a.iter().eq(b.iter())
}

/// Applies a loaded or changed materials file once the save is open.
fn apply_reloaded_materials(
    mut events: MessageReader<AssetEvent<StrataMaterialsAsset>>,
    mut source: ResMut<MaterialsSource>,
    assets: Res<Assets<StrataMaterialsAsset>>,
    status: Res<StrataStatus>,
    mut sw: ResMut<StrataWorld>,
    mut streaming: ResMut<StrataStreaming>,
    mut out: MessageWriter<StrataMaterialsReloaded>,
) {
    let id = source.handle.id();
    for e in events.read() {
        if matches!(e, AssetEvent::Added { id: i } | AssetEvent::Modified { id: i } if *i == id) {
            source.pending = true;
        }
    }
    if !source.pending || !matches!(*status, StrataStatus::Ready(_)) {
        return;
    }
    source.pending = false;
    let Some(asset) = assets.get(id) else { return };
    if same_materials(&sw.registry, &asset.registry) {
        return;
    }
    let store = sw.world.store().clone();
    let outcome = store.palette().map_err(|e| format!("the save's palette cannot be read: {e}")).and_then(|saved| {
        let extended = check_reload(&sw.registry, &asset.registry, saved.as_ref())?;
        if let Some(palette) = extended {
            match store.swap_palette(saved.as_ref(), &palette) {
                Ok(true) | Err(strata_core::StoreError::ReadOnly) => {}
                Ok(false) => return Err("another writer changed the save's palette meanwhile: reload again".into()),
                Err(e) => return Err(format!("the save's palette cannot be written: {e}")),
            }
        }
        Ok(())
    });
    match outcome {
        Ok(()) => {
            let materials = asset.registry.iter().count();
            sw.set_registry(asset.registry.clone());
            streaming.plan.remesh_all();
            info!("strata: materials reloaded ({materials} materials); remeshing what is shown");
            out.write(StrataMaterialsReloaded::Applied { materials });
        }
        Err(reason) => {
            warn!("strata: materials reload refused, the materials in use stay: {reason}");
            out.write(StrataMaterialsReloaded::Refused(reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(entries: &[(u16, &str)]) -> MaterialRegistry {
        let material = |id: u16, name: &str| strata_core::Material {
            id,
            name: name.into(),
            color: [0.5; 4],
            kind: if id == 0 { strata_core::MaterialKind::Air } else { strata_core::MaterialKind::Solid },
            collides: None,
            textures: None,
            light: 0,
            shape: Default::default(),
            states: Vec::new(),
            state: None,
        };
        let all = std::iter::once(material(0, "air")).chain(entries.iter().map(|&(id, n)| material(id, n)));
        MaterialRegistry::new(all.collect()).unwrap()
    }

    #[test]
    fn a_reload_keeps_ids_and_names_and_new_ids_must_be_free_in_the_save() {
        let old = registry(&[(1, "stone"), (2, "dirt")]);
        let saved = Palette::of_registry(&registry(&[(1, "stone"), (2, "dirt"), (3, "marble")]));
        // Looks only: nothing to record.
        assert_eq!(check_reload(&old, &old, Some(&saved)), Ok(None));
        // A new material at a free id joins the palette.
        let more = registry(&[(1, "stone"), (2, "dirt"), (4, "lamp")]);
        let recorded = check_reload(&old, &more, Some(&saved)).unwrap().unwrap();
        assert_eq!(recorded.name(4), Some("lamp"));
        assert_eq!(recorded.name(3), Some("marble"), "the save's entries stay");
        // At an id the save uses for another material: refused.
        let clash = registry(&[(1, "stone"), (2, "dirt"), (3, "lamp")]);
        assert!(check_reload(&old, &clash, Some(&saved)).unwrap_err().contains("marble"));
        // Renumbered or removed: refused, naming the material.
        let moved = registry(&[(2, "stone"), (1, "dirt")]);
        assert!(check_reload(&old, &moved, Some(&saved)).unwrap_err().contains("\"stone\" moved"));
        let removed = registry(&[(1, "stone")]);
        assert!(check_reload(&old, &removed, Some(&saved)).unwrap_err().contains("\"dirt\" was removed"));
    }
}
