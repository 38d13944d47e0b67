//! Turning mesher output into Bevy meshes and node entities.

use crate::node_material::{StrataStandardMaterial, StrataSurface};
use crate::streaming::StrataNode;
use bevy::asset::RenderAssetUsages;
use bevy::ecs::system::SystemParam;
use bevy::mesh::{Indices, MeshVertexAttribute, PrimitiveTopology, VertexFormat};
use bevy::prelude::*;
use strata_core::{MaterialId, MaterialRegistry};
use strata_index::NodeId;
use strata_mesh::{ChunkMesh, MeshBuffers};

/// Per-vertex material id (`u32`), for texture-array shaders. The default material ignores it
/// and uses the vertex colours taken from the material registry.
pub const ATTRIBUTE_MATERIAL: MeshVertexAttribute =
    MeshVertexAttribute::new("Vertex_StrataMaterial", 0x5354_5241_0001, VertexFormat::Uint32);

/// Asset access for building node meshes. Works without `bevy_pbr` (headless apps): then nodes
/// get a `Mesh3d` and no material.
#[derive(SystemParam)]
pub(crate) struct MeshAssets<'w, 's> {
    meshes: ResMut<'w, Assets<Mesh>>,
    materials: Option<ResMut<'w, Assets<StandardMaterial>>>,
    standard: Option<Res<'w, StrataStandardMaterial>>,
    handles: Local<'s, Option<(Handle<StandardMaterial>, Handle<StandardMaterial>)>>,
}

impl MeshAssets<'_, '_> {
    fn material_handles(&mut self) -> Option<(Handle<StandardMaterial>, Handle<StandardMaterial>)> {
        if self.standard.as_ref().is_some_and(|s| !s.0) {
            return None;
        }
        if self.handles.is_none() {
            let materials = self.materials.as_mut()?;
            let opaque =
                materials.add(StandardMaterial { base_color: Color::WHITE, perceptual_roughness: 0.95, ..default() });
            let transparent = materials.add(StandardMaterial {
                base_color: Color::WHITE,
                alpha_mode: AlphaMode::Blend,
                perceptual_roughness: 0.2,
                ..default()
            });
            *self.handles = Some((opaque, transparent));
        }
        self.handles.clone()
    }
}

/// The Bevy meshes of one node, built on a task-pool thread so the main thread only adds the
/// assets and spawns.
pub(crate) struct NodeMeshes {
    /// Opaque geometry, if any.
    pub opaque: Option<Mesh>,
    /// Transparent and fluid geometry, if any.
    pub transparent: Option<Mesh>,
    /// Quads in the opaque mesh (for tests).
    #[cfg(test)]
    pub opaque_quads: usize,
}

impl NodeMeshes {
    /// Converts mesher output (consumed: its buffers move into the meshes without copying);
    /// `keep_data`: the meshes stay readable in the main world after upload
    /// ([`StrataConfig::keep_mesh_data`](crate::StrataConfig::keep_mesh_data)).
    pub fn build(mesh: ChunkMesh, registry: &MaterialRegistry, keep_data: bool) -> Self {
        #[cfg(test)]
        let opaque_quads = mesh.opaque.quad_count();
        let usage = if keep_data {
            RenderAssetUsages::MAIN_WORLD | RenderAssetUsages::RENDER_WORLD
        } else {
            RenderAssetUsages::RENDER_WORLD
        };
        let build = |b: MeshBuffers| (!b.is_empty()).then(|| into_bevy_mesh(b, registry, usage));
        Self {
            opaque: build(mesh.opaque),
            transparent: build(mesh.transparent),
            #[cfg(test)]
            opaque_quads,
        }
    }

    /// Whether there is no geometry at all.
    pub fn is_empty(&self) -> bool {
        self.opaque.is_none() && self.transparent.is_none()
    }
}

/// Builds a triangle-list mesh from mesher buffers: positions, normals, UVs (repeat per voxel),
/// vertex colours (registry colour × AO) and [`ATTRIBUTE_MATERIAL`].
/// The mesh keeps its data in the main world (`RenderAssetUsages::default()`).
pub fn to_bevy_mesh(buffers: &MeshBuffers, registry: &MaterialRegistry) -> Mesh {
    into_bevy_mesh(buffers.clone(), registry, RenderAssetUsages::default())
}

/// [`to_bevy_mesh`] taking the buffers by value (no copies of the vertex data), with `usage`.
fn into_bevy_mesh(buffers: MeshBuffers, registry: &MaterialRegistry, usage: RenderAssetUsages) -> Mesh {
    let colors: Vec<[f32; 4]> = buffers
        .materials
        .iter()
        .zip(buffers.ao.iter().chain(std::iter::repeat(&1.0)))
        .map(|(&m, &ao)| {
            let c = registry.get(MaterialId(m as u16)).map(|d| d.color).unwrap_or([1.0, 0.0, 1.0, 1.0]);
            [c[0] * ao, c[1] * ao, c[2] * ao, c[3]]
        })
        .collect();
    Mesh::new(PrimitiveTopology::TriangleList, usage)
        .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, buffers.positions)
        .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, buffers.normals)
        .with_inserted_attribute(Mesh::ATTRIBUTE_UV_0, buffers.uvs)
        .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, colors)
        .with_inserted_attribute(ATTRIBUTE_MATERIAL, buffers.materials)
        .with_inserted_indices(Indices::U32(buffers.indices))
}

/// Spawns, updates or despawns a node's entity for a new mesh. Returns the entity, or `None`
/// when the node has no geometry (all air, or buried).
pub(crate) fn spawn_or_update(
    commands: &mut Commands,
    assets: &mut MeshAssets,
    existing: Option<Entity>,
    node: NodeId,
    translation: Vec3,
    mesh: NodeMeshes,
) -> Option<Entity> {
    if mesh.is_empty() {
        if let Some(e) = existing {
            commands.entity(e).despawn();
        }
        return None;
    }
    let handles = assets.material_handles();
    let entity = match existing {
        Some(e) => {
            commands
                .entity(e)
                .despawn_related::<Children>()
                .remove::<(Mesh3d, MeshMaterial3d<StandardMaterial>, StrataSurface)>();
            e
        }
        None => {
            commands.spawn((StrataNode(node), Transform::from_translation(translation), Visibility::default())).id()
        }
    };
    if let Some(opaque_mesh) = mesh.opaque {
        let handle = assets.meshes.add(opaque_mesh);
        let mut ec = commands.entity(entity);
        ec.insert((Mesh3d(handle), StrataSurface::Opaque));
        if let Some((opaque, _)) = &handles {
            ec.insert(MeshMaterial3d(opaque.clone()));
        }
    }
    if let Some(transparent_mesh) = mesh.transparent {
        let handle = assets.meshes.add(transparent_mesh);
        let mut child = commands.spawn((
            Mesh3d(handle),
            StrataSurface::Transparent,
            Transform::IDENTITY,
            Visibility::default(),
            ChildOf(entity),
        ));
        if let Some((_, transparent)) = &handles {
            child.insert(MeshMaterial3d(transparent.clone()));
        }
    }
    Some(entity)
}
