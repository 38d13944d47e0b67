//! Turning mesher output into Bevy meshes and node entities.

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
    handles: Local<'s, Option<(Handle<StandardMaterial>, Handle<StandardMaterial>)>>,
}

impl MeshAssets<'_, '_> {
    fn material_handles(&mut self) -> Option<(Handle<StandardMaterial>, Handle<StandardMaterial>)> {
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

/// Builds a triangle-list mesh from mesher buffers: positions, normals, UVs (repeat per voxel),
/// vertex colours (registry colour × AO) and [`ATTRIBUTE_MATERIAL`].
pub fn to_bevy_mesh(buffers: &MeshBuffers, registry: &MaterialRegistry) -> Mesh {
    let colors: Vec<[f32; 4]> = buffers
        .materials
        .iter()
        .zip(buffers.ao.iter().chain(std::iter::repeat(&1.0)))
        .map(|(&m, &ao)| {
            let c = registry.get(MaterialId(m as u16)).map(|d| d.color).unwrap_or([1.0, 0.0, 1.0, 1.0]);
            [c[0] * ao, c[1] * ao, c[2] * ao, c[3]]
        })
        .collect();
    Mesh::new(PrimitiveTopology::TriangleList, RenderAssetUsages::default())
        .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, buffers.positions.clone())
        .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, buffers.normals.clone())
        .with_inserted_attribute(Mesh::ATTRIBUTE_UV_0, buffers.uvs.clone())
        .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, colors)
        .with_inserted_attribute(ATTRIBUTE_MATERIAL, buffers.materials.clone())
        .with_inserted_indices(Indices::U32(buffers.indices.clone()))
}

/// Spawns, updates or despawns a node's entity for a new mesh. Returns the entity, or `None`
/// when the node has no geometry (all air, or buried).
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn_or_update(
    commands: &mut Commands,
    assets: &mut MeshAssets,
    registry: &MaterialRegistry,
    existing: Option<Entity>,
    node: NodeId,
    translation: Vec3,
    mesh: &ChunkMesh,
) -> Option<Entity> {
    if mesh.opaque.is_empty() && mesh.transparent.is_empty() {
        if let Some(e) = existing {
            commands.entity(e).despawn();
        }
        return None;
    }
    let handles = assets.material_handles();
    let entity = match existing {
        Some(e) => {
            commands.entity(e).despawn_related::<Children>().remove::<(Mesh3d, MeshMaterial3d<StandardMaterial>)>();
            e
        }
        None => {
            commands.spawn((StrataNode(node), Transform::from_translation(translation), Visibility::default())).id()
        }
    };
    if !mesh.opaque.is_empty() {
        let handle = assets.meshes.add(to_bevy_mesh(&mesh.opaque, registry));
        let mut ec = commands.entity(entity);
        ec.insert(Mesh3d(handle));
        if let Some((opaque, _)) = &handles {
            ec.insert(MeshMaterial3d(opaque.clone()));
        }
    }
    if !mesh.transparent.is_empty() {
        let handle = assets.meshes.add(to_bevy_mesh(&mesh.transparent, registry));
        let mut child = commands.spawn((Mesh3d(handle), Transform::IDENTITY, Visibility::default(), ChildOf(entity)));
        if let Some((_, transparent)) = &handles {
            child.insert(MeshMaterial3d(transparent.clone()));
        }
    }
    Some(entity)
}
