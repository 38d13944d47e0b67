//! Turning mesher output into Bevy meshes and node entities.

use crate::node_material::{StrataStandardMaterial, StrataSurface};
use crate::streaming::StrataNode;
use crate::textures::{StrataTextureMaterial, VoxelTextures, placeholder_array};
use bevy::asset::RenderAssetUsages;
use bevy::ecs::system::SystemParam;
use bevy::mesh::{Indices, MeshVertexAttribute, PrimitiveTopology, VertexFormat};
use bevy::pbr::ExtendedMaterial;
use bevy::prelude::*;
use strata_core::{FaceKind, MaterialId, MaterialRegistry};
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
    materials: Option<ResMut<'w, Assets<StrataTextureMaterial>>>,
    images: Option<ResMut<'w, Assets<Image>>>,
    standard: Option<Res<'w, StrataStandardMaterial>>,
    handles: Local<'s, Option<(Handle<StrataTextureMaterial>, Handle<StrataTextureMaterial>)>>,
}

impl MeshAssets<'_, '_> {
    /// The plugin's default node materials (opaque, transparent): Bevy's `StandardMaterial`
    /// lighting on the registry's vertex colours, through the texture material's shader with
    /// textures off, which dithers LOD cross-fades ([`crate::lod_fade`]).
    fn material_handles(&mut self) -> Option<(Handle<StrataTextureMaterial>, Handle<StrataTextureMaterial>)> {
        if self.standard.as_ref().is_some_and(|s| !s.0) {
            return None;
        }
        if self.handles.is_none() {
            let materials = self.materials.as_mut()?;
            let placeholder = self.images.as_mut()?.add(placeholder_array());
            let mut material = |base: StandardMaterial| {
                materials
                    .add(ExtendedMaterial { base, extension: VoxelTextures { array: placeholder.clone(), enabled: 0 } })
            };
            // No specular: voxel light (in the vertex colours) scales only the diffuse part, and
            // a floor seen at a grazing angle in a dark cave would shine with the sun's
            // reflection (Bevy derives the grazing reflectance from `reflectance`: 0 is none).
            let opaque = material(StandardMaterial {
                base_color: Color::WHITE,
                perceptual_roughness: 0.95,
                reflectance: 0.0,
                ..default()
            });
            let transparent = material(StandardMaterial {
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
    /// ([`StrataConfig::keep_mesh_data`](crate::StrataConfig::keep_mesh_data)); `texture_layers`:
    /// add `ATTRIBUTE_UV_1` if the registry has textures
    /// ([`StrataConfig::texture_layers`](crate::StrataConfig::texture_layers)), which faces'
    /// textures (see [`TextureLayers`]).
    pub fn build(mesh: ChunkMesh, registry: &MaterialRegistry, keep_data: bool, texture_layers: TextureLayers) -> Self {
        #[cfg(test)]
        let opaque_quads = mesh.opaque.quad_count();
        let usage = if keep_data {
            RenderAssetUsages::MAIN_WORLD | RenderAssetUsages::RENDER_WORLD
        } else {
            RenderAssetUsages::RENDER_WORLD
        };
        let build = |b: MeshBuffers| (!b.is_empty()).then(|| into_bevy_mesh(b, registry, usage, texture_layers));
        Self {
            opaque: build(mesh.opaque),
            transparent: build(mesh.transparent),
            #[cfg(test)]
            opaque_quads,
        }
    }

    /// No geometry (a node whose mesh is known to be empty).
    pub fn empty() -> Self {
        Self {
            opaque: None,
            transparent: None,
            #[cfg(test)]
            opaque_quads: 0,
        }
    }

    /// Whether there is no geometry at all.
    pub fn is_empty(&self) -> bool {
        self.opaque.is_none() && self.transparent.is_none()
    }
}

/// Builds a triangle-list mesh from mesher buffers: positions, normals, UVs (repeat per voxel),
/// vertex colours (registry colour × AO) and [`ATTRIBUTE_MATERIAL`]; when the registry has
/// textures, also `ATTRIBUTE_UV_1` = (texture layer or −1, AO) per vertex.
/// The mesh keeps its data in the main world (`RenderAssetUsages::default()`).
pub fn to_bevy_mesh(buffers: &MeshBuffers, registry: &MaterialRegistry) -> Mesh {
    into_bevy_mesh(buffers.clone(), registry, RenderAssetUsages::default(), TextureLayers::ByFace)
}

/// Which texture layers a node mesh carries (`ATTRIBUTE_UV_1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TextureLayers {
    /// None: vertex colours only.
    Off,
    /// Each face its material's texture for its direction (top, side, bottom): full-detail
    /// chunks.
    ByFace,
    /// Every face its material's top texture: coarse LOD nodes. A coarse cell stands for the
    /// surface of the columns it covers (the LOD rule keeps their tops), and its sides are the
    /// steps of a coarse grid, not cliffs: grass there stays grass (with side textures a grassy
    /// planet looked like bare dirt from orbit).
    Tops,
}

/// [`to_bevy_mesh`] taking the buffers by value (no copies of the vertex data), with `usage`,
/// and the texture layers only if `texture_layers`.
fn into_bevy_mesh(
    buffers: MeshBuffers,
    registry: &MaterialRegistry,
    usage: RenderAssetUsages,
    texture_layers: TextureLayers,
) -> Mesh {
    let colors: Vec<[f32; 4]> = buffers
        .materials
        .iter()
        .zip(buffers.ao.iter().chain(std::iter::repeat(&1.0)))
        .zip(buffers.fluid_depth.iter().chain(std::iter::repeat(&0.0)))
        .zip(buffers.light.iter().chain(std::iter::repeat(&DAYLIGHT)))
        .map(|(((&m, &ao), &depth), &light)| {
            let c = registry.get(MaterialId(m as u16)).map(|d| d.color).unwrap_or([1.0, 0.0, 1.0, 1.0]);
            let (shade, alpha) = fluid_shade(c[3], depth);
            let l = ao * shade * voxel_light(light);
            [c[0] * l, c[1] * l, c[2] * l, alpha]
        })
        .collect();
    let texture_uvs = (texture_layers != TextureLayers::Off && registry.has_textures())
        .then(|| texture_layers_and_ao(&buffers, registry, texture_layers == TextureLayers::Tops));
    let mut mesh = Mesh::new(PrimitiveTopology::TriangleList, usage)
        .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, buffers.positions)
        .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, buffers.normals)
        .with_inserted_attribute(Mesh::ATTRIBUTE_UV_0, buffers.uvs)
        .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, colors)
        .with_inserted_attribute(ATTRIBUTE_MATERIAL, buffers.materials)
        .with_inserted_indices(Indices::U32(buffers.indices));
    if let Some(uvs) = texture_uvs {
        mesh.insert_attribute(Mesh::ATTRIBUTE_UV_1, uvs);
    }
    mesh
}

/// [`MeshBuffers::light`] of unlit meshes: full sky light, no block light.
const DAYLIGHT: [f32; 2] = [1.0, 0.0];

/// The darkest a voxel face looks (no sky light, no block light), in display terms (see
/// [`voxel_light`]): caves are dark, not black.
pub const MIN_VOXEL_LIGHT: f32 = 0.05;

/// How much a face's colour is scaled under voxel light `[sky, block]` (each `level / 15`,
/// [`MeshBuffers::light`]). In display terms the brighter of the two, each level 20 % darker
/// than the one above (`0.8^(15 − level)`, the classic curve: level 14 looks 0.8, 8 looks 0.21),
/// lifted so no light looks [`MIN_VOXEL_LIGHT`]; raised to the power 2.2, since vertex colours
/// and base colours are linear (a factor of 0.2 on a linear colour still looks half as bright
/// on screen). Full daylight (`[1, 0]`) gives 1: unlit meshes look as before.
///
/// # Runtime
/// A table lookup (levels are whole numbers: `v · 15` is rounded).
pub fn voxel_light(light: [f32; 2]) -> f32 {
    static BY_LEVEL: std::sync::LazyLock<[f32; 16]> = std::sync::LazyLock::new(|| {
        std::array::from_fn(|level| {
            let bright = 0.8f32.powi(15 - level as i32);
            (MIN_VOXEL_LIGHT + (1.0 - MIN_VOXEL_LIGHT) * bright).powf(2.2)
        })
    });
    let level = |v: f32| (v.clamp(0.0, 1.0) * 15.0).round() as usize;
    // The curve rises with the level: the brighter light is the larger level.
    BY_LEVEL[level(light[0]).max(level(light[1])).min(15)]
}

/// How deep fluid looks: `(light, alpha)` for a face with [`MeshBuffers::fluid_depth`] `depth`
/// world voxels of fluid behind it and material alpha `alpha` (`(1.0, alpha)` for depth 0:
/// not a fluid face). Deeper fluid is darker (light `0.35 + 0.65·e^(−depth/16)`: 0.96 at one
/// voxel, 0.59 at 16, 0.36 past 32) and more opaque (transmission `(1 − alpha)·e^(−depth/8)`),
/// so a sea hides its floor and shows its depth, while a shallow shore stays clear.
pub fn fluid_shade(alpha: f32, depth: f32) -> (f32, f32) {
    if depth <= 0.0 {
        return (1.0, alpha);
    }
    let light = 0.35 + 0.65 * (-depth / 16.0).exp();
    (light, 1.0 - (1.0 - alpha) * (-depth / 8.0).exp())
}

/// The second UV set of a textured registry's meshes: per vertex, `x` the texture-array layer
/// of its material's face ([`MaterialRegistry::texture_layer_towards`], by the normal in the
/// block's own frame: top, side or bottom) or `-1.0` for an untextured material, and `y` its AO light level (`0..=1`; on fluid
/// faces times the depth's light, see [`fluid_shade`]), which the vertex colour only carries
/// multiplied into the material's colour. The texture material
/// ([`crate::textures`]) reads both; `StandardMaterial` ignores them. `tops`: every face takes
/// the top texture ([`TextureLayers::Tops`]).
fn texture_layers_and_ao(buffers: &MeshBuffers, registry: &MaterialRegistry, tops: bool) -> Vec<[f32; 2]> {
    let ao = buffers.ao.iter().chain(std::iter::repeat(&1.0));
    let depth = buffers.fluid_depth.iter().chain(std::iter::repeat(&0.0));
    let light = buffers.light.iter().chain(std::iter::repeat(&DAYLIGHT));
    (buffers.materials.iter().zip(&buffers.normals).zip(ao).zip(depth).zip(light))
        .map(|((((&m, &normal), &ao), &depth), &light)| {
            let id = MaterialId(m as u16);
            let layer = if tops {
                registry.texture_layer(id, FaceKind::Top)
            } else {
                // By the block's own frame: a log lying along x shows its rings on ±X.
                registry.texture_layer_towards(id, face_of_normal(normal))
            };
            [layer.map_or(-1.0, |l| l as f32), ao * fluid_shade(1.0, depth).0 * voxel_light(light)]
        })
        .collect()
}

/// The face a (unit) normal looks through: its largest component's axis and sign (x first on
/// ties, as the diagonal planes of plants).
fn face_of_normal(n: [f32; 3]) -> strata_core::Face {
    let a = if n[0].abs() >= n[1].abs() && n[0].abs() >= n[2].abs() {
        0
    } else if n[1].abs() >= n[2].abs() {
        1
    } else {
        2
    };
    strata_core::Face::ALL[2 * a + usize::from(n[a] > 0.0)]
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
            commands.entity(e).despawn_related::<Children>().remove::<(
                Mesh3d,
                MeshMaterial3d<StrataTextureMaterial>,
                StrataSurface,
            )>();
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

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::mesh::VertexAttributeValues;

    #[test]
    fn deeper_fluid_is_darker_and_more_opaque() {
        assert_eq!(fluid_shade(0.7, 0.0), (1.0, 0.7), "not a fluid face");
        let depths = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
        let shades = depths.map(|d| fluid_shade(0.7, d));
        for w in shades.windows(2) {
            assert!(w[1].0 < w[0].0 && w[1].1 > w[0].1, "{shades:?}");
        }
        // A one-voxel puddle keeps its look; a sea is dark and hides its floor.
        assert!(shades[0].0 > 0.9 && (shades[0].1 - 0.7).abs() < 0.05, "{:?}", shades[0]);
        assert!(shades[6].0 < 0.4 && shades[6].1 > 0.99, "{:?}", shades[6]);
        // Vertex colours carry it: a water quad at depth 64 against one at depth 1.
        let registry = MaterialRegistry::builtin();
        let water = registry.id("water").unwrap();
        let c = registry.get(water).unwrap().color;
        let buffers = MeshBuffers {
            positions: vec![[0.0; 3]; 2],
            normals: vec![[0.0, 1.0, 0.0]; 2],
            uvs: vec![[0.0; 2]; 2],
            materials: vec![u32::from(water.0); 2],
            ao: vec![1.0; 2],
            fluid_depth: vec![1.0, 64.0],
            light: Vec::new(),
            indices: vec![0, 1, 1],
        };
        let mesh = to_bevy_mesh(&buffers, &registry);
        let Some(VertexAttributeValues::Float32x4(colors)) = mesh.attribute(Mesh::ATTRIBUTE_COLOR) else {
            panic!("vertex colours");
        };
        for (color, (light, alpha)) in colors.iter().zip([fluid_shade(c[3], 1.0), fluid_shade(c[3], 64.0)]) {
            assert_eq!(*color, [c[0] * light, c[1] * light, c[2] * light, alpha]);
        }
        let Some(VertexAttributeValues::Float32x2(uvs)) = mesh.attribute(Mesh::ATTRIBUTE_UV_1) else {
            panic!("the builtin registry is textured");
        };
        assert_eq!((uvs[0][1], uvs[1][1]), (fluid_shade(1.0, 1.0).0, fluid_shade(1.0, 64.0).0));
    }

    #[test]
    fn textured_registries_give_each_vertex_its_face_layer_and_ao() {
        let registry = MaterialRegistry::from_ron_str(
            "(materials: [(id: 0, name: \"air\", color: (0,0,0,0), kind: Air),
                (id: 1, name: \"grass\", color: (0,1,0,1), kind: Solid,
                    textures: (top: \"grass_top\", side: \"grass_side\", bottom: \"dirt\")),
                (id: 2, name: \"plain\", color: (1,1,1,1), kind: Solid)])",
        )
        .unwrap();
        let (up, down, east, south) = ([0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]);
        let buffers = MeshBuffers {
            positions: vec![[0.0; 3]; 5],
            normals: vec![up, east, down, south, up],
            uvs: vec![[0.0; 2]; 5],
            materials: vec![1, 1, 1, 1, 2],
            ao: vec![1.0, 2.0 / 3.0, 1.0 / 3.0, 0.0, 1.0],
            fluid_depth: vec![0.0; 5],
            light: vec![[1.0, 0.0]; 5],
            indices: vec![0, 1, 2, 2, 3, 4],
        };
        let mesh = to_bevy_mesh(&buffers, &registry);
        let Some(VertexAttributeValues::Float32x2(uvs)) = mesh.attribute(Mesh::ATTRIBUTE_UV_1) else {
            panic!("a textured registry's mesh has UV_1");
        };
        // Layers by first use: grass_top 0, grass_side 1, dirt 2; the untextured `plain` -1.
        assert_eq!(uvs, &vec![[0.0, 1.0], [1.0, 2.0 / 3.0], [2.0, 1.0 / 3.0], [1.0, 0.0], [-1.0, 1.0]]);
        let untextured = MaterialRegistry::from_ron_str(
            "(materials: [(id: 0, name: \"air\", color: (0,0,0,0), kind: Air),
                (id: 1, name: \"grass\", color: (0,1,0,1), kind: Solid), (id: 2, name: \"plain\", color: (1,1,1,1), kind: Solid)])",
        )
        .unwrap();
        assert!(to_bevy_mesh(&buffers, &untextured).attribute(Mesh::ATTRIBUTE_UV_1).is_none());
    }

    #[test]
    fn voxel_light_darkens_both_paths_and_daylight_changes_nothing() {
        assert_eq!(voxel_light([1.0, 0.0]), 1.0);
        assert_eq!(voxel_light([0.0, 1.0]), 1.0, "a lamp's own level is full light");
        let shown = |v: f32| (MIN_VOXEL_LIGHT + (1.0 - MIN_VOXEL_LIGHT) * v).powf(2.2);
        assert_eq!(voxel_light([0.0, 0.0]), shown(0.8f32.powi(15)));
        assert!(voxel_light([0.0, 0.0]) < 0.01, "a dark cave looks dark on screen");
        let level = |l: u8| voxel_light([f32::from(l) / 15.0, 0.0]);
        assert!((1..=15).all(|l| level(l) > level(l - 1)), "brighter with every level");
        assert!((level(14) - shown(0.8)).abs() < 1e-6);
        // The brighter light wins.
        assert_eq!(voxel_light([3.0 / 15.0, 9.0 / 15.0]), voxel_light([9.0 / 15.0, 0.0]));
        // Both paths carry it: a stone face in a dark cave and one lit by a lamp two voxels away.
        let registry = MaterialRegistry::builtin();
        let stone = registry.id("stone").unwrap();
        let c = registry.get(stone).unwrap().color;
        let buffers = MeshBuffers {
            positions: vec![[0.0; 3]; 2],
            normals: vec![[0.0, 1.0, 0.0]; 2],
            uvs: vec![[0.0; 2]; 2],
            materials: vec![u32::from(stone.0); 2],
            ao: vec![1.0; 2],
            fluid_depth: vec![0.0; 2],
            light: vec![[0.0, 0.0], [0.0, 13.0 / 15.0]],
            indices: vec![0, 1, 1],
        };
        let mesh = to_bevy_mesh(&buffers, &registry);
        let Some(VertexAttributeValues::Float32x4(colors)) = mesh.attribute(Mesh::ATTRIBUTE_COLOR) else {
            panic!("vertex colours");
        };
        for (color, light) in colors.iter().zip(&buffers.light) {
            let l = voxel_light(*light);
            assert_eq!(*color, [c[0] * l, c[1] * l, c[2] * l, c[3]]);
        }
        let Some(VertexAttributeValues::Float32x2(uvs)) = mesh.attribute(Mesh::ATTRIBUTE_UV_1) else {
            panic!("the builtin registry is textured");
        };
        assert_eq!((uvs[0][1], uvs[1][1]), (voxel_light([0.0, 0.0]), voxel_light([0.0, 13.0 / 15.0])));
        assert!(uvs[1][1] > 10.0 * uvs[0][1], "the lamp lights the cave");
    }
}
