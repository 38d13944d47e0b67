//! The material of node meshes: by default the plugin's own — Bevy's `StandardMaterial` lighting
//! on the registry's vertex colours, drawn by the texture material's shader with textures off
//! ([`crate::StrataTextureMaterial`]: it dithers LOD cross-fades) — or any material of the
//! game's ([`StrataMaterialPlugin`]).

use bevy::prelude::*;
use std::marker::PhantomData;

/// Which part of a node's geometry a mesh entity holds: the node's entity holds the opaque
/// surface, a child of it the transparent and fluid one. Inserted with each new mesh (a
/// remesh inserts it again), removed when the entity loses its mesh: observe
/// `On<Insert, StrataSurface>` to give node meshes a material of your own — or let
/// [`StrataMaterialPlugin`] do it.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StrataSurface {
    /// Solid faces (alpha ignored).
    Opaque,
    /// Transparent and fluid faces (blended).
    Transparent,
}

/// Whether the plugin gives node meshes its own default material (a
/// [`StrataTextureMaterial`](crate::StrataTextureMaterial) without textures: `StandardMaterial`
/// lighting on vertex colours). [`StrataMaterialPlugin`] turns it off; a game that materials
/// surfaces itself (observing [`StrataSurface`]) does too.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrataStandardMaterial(pub bool);

impl Default for StrataStandardMaterial {
    fn default() -> Self {
        Self(true)
    }
}

/// The game's materials for node meshes, one per [`StrataSurface`]. Insert it (at start-up or
/// any time: changing it re-materials every shown node) with [`StrataMaterialPlugin`] added.
#[derive(Resource, Clone, Debug)]
pub struct StrataMaterial<M: Material> {
    /// For the opaque surfaces.
    pub opaque: Handle<M>,
    /// For the transparent and fluid surfaces (use a blending alpha mode).
    pub transparent: Handle<M>,
}

impl<M: Material> StrataMaterial<M> {
    fn for_surface(&self, surface: StrataSurface) -> Handle<M> {
        match surface {
            StrataSurface::Opaque => self.opaque.clone(),
            StrataSurface::Transparent => self.transparent.clone(),
        }
    }
}

/// Gives node meshes the game's material `M` (any Bevy `Material`, e.g. an
/// `ExtendedMaterial<StandardMaterial, _>` whose shader reads
/// [`ATTRIBUTE_MATERIAL`](crate::ATTRIBUTE_MATERIAL) and the UVs) instead of the plugin's
/// default material: add it after [`crate::StrataPlugin`] (and `M`'s `MaterialPlugin`) and
/// insert a [`StrataMaterial<M>`]. The mesher is unchanged: the meshes keep their positions,
/// normals, UVs (one repeat per voxel), vertex colours (registry colour × AO) and material ids.
/// LOD changes cross-fade only if its shader calls `bevy_strata::lod_fade::strata_lod_fade` and
/// the game sets [`StrataLodFadeShader`](crate::StrataLodFadeShader) (see [`crate::lod_fade`]).
pub struct StrataMaterialPlugin<M: Material>(PhantomData<M>);

impl<M: Material> Default for StrataMaterialPlugin<M> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<M: Material> Plugin for StrataMaterialPlugin<M> {
    fn build(&self, app: &mut App) {
        app.insert_resource(StrataStandardMaterial(false))
            .add_observer(give_material::<M>)
            .add_observer(take_material::<M>)
            .add_systems(PostUpdate, rematerial::<M>.run_if(resource_exists_and_changed::<StrataMaterial<M>>));
    }
}

fn give_material<M: Material>(
    insert: On<Insert, StrataSurface>,
    surfaces: Query<&StrataSurface>,
    material: Option<Res<StrataMaterial<M>>>,
    mut commands: Commands,
) {
    if let (Ok(surface), Some(material)) = (surfaces.get(insert.entity), material) {
        commands.entity(insert.entity).insert(MeshMaterial3d(material.for_surface(*surface)));
    }
}

/// A surface removed: its material goes too. `Remove` also fires when the entity is despawned
/// (a node unloaded): then the command finds no entity, which is no error.
fn take_material<M: Material>(remove: On<Remove, StrataSurface>, mut commands: Commands) {
    if let Ok(mut e) = commands.get_entity(remove.entity) {
        e.try_remove::<MeshMaterial3d<M>>();
    }
}

/// A new or changed [`StrataMaterial`]: every surface shown gets it.
fn rematerial<M: Material>(
    material: Res<StrataMaterial<M>>,
    surfaces: Query<(Entity, &StrataSurface)>,
    mut commands: Commands,
) {
    for (e, surface) in &surfaces {
        commands.entity(e).insert(MeshMaterial3d(material.for_surface(*surface)));
    }
}
