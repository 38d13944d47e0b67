//! Textured blocks: a texture-array material for node meshes, assembled from one PNG per
//! texture name of the material registry (`materials.ron`: `textures: (all: "stone")` or
//! `textures: (top: "grass_top", side: "grass_side", bottom: "dirt")`).
//!
//! Add [`StrataTexturesPlugin`] after [`crate::StrataPlugin`]. It loads `<directory>/<name>.png`
//! for every name in [`MaterialRegistry::texture_names`](strata_core::MaterialRegistry::texture_names)
//! through the `AssetServer` (so from `assets/textures/` by default), stacks them into one
//! array texture in layer order with a full mip chain, and gives node meshes a
//! [`StrataTextureMaterial`]: Bevy's `StandardMaterial` (lighting, shadows, fog) whose base
//! colour, on textured faces, is the texel times the vertex's AO. Untextured materials keep
//! their registry colour, and so does everything until the array is ready, or for good if a
//! PNG is missing or unusable ([`StrataTextures::Failed`], logged once, nothing panics).
//!
//! A game's own textures: put its PNGs (square, a power of two wide, all the same size, 8-bit
//! RGBA or RGB, sRGB) where the directory points and name them in its `materials.ron`. The
//! shipped set (16 × 16, `assets/textures/`) is drawn by `strata textures`.
//!
//! Mesh data: the meshes of a textured registry carry `Mesh::ATTRIBUTE_UV_1` = (layer or −1,
//! AO) per vertex ([`crate::to_bevy_mesh`]); `UV_0` is the position on the face in voxels, so a
//! texture repeats once per level-0 voxel at every LOD (coarse cells read as minified texture).

use crate::StrataWorld;
use crate::node_material::{StrataMaterial, StrataMaterialPlugin};
use bevy::asset::{LoadState, RenderAssetUsages, embedded_asset};
use bevy::image::{ImageAddressMode, ImageFilterMode, ImageSampler, ImageSamplerDescriptor};
use bevy::pbr::{ExtendedMaterial, MaterialExtension};
use bevy::prelude::*;
use bevy::render::render_resource::{
    AsBindGroup, Extent3d, TextureDimension, TextureFormat, TextureViewDescriptor, TextureViewDimension,
};
use bevy::shader::ShaderRef;

/// The node material of [`StrataTexturesPlugin`]: `StandardMaterial` plus the texture array.
pub type StrataTextureMaterial = ExtendedMaterial<StandardMaterial, VoxelTextures>;

/// The texture array part of [`StrataTextureMaterial`] (bindings 100 to 102).
#[derive(Asset, AsBindGroup, Reflect, Debug, Clone)]
pub struct VoxelTextures {
    /// One layer per texture name, in the registry's layer order.
    #[texture(100, dimension = "2d_array")]
    #[sampler(101)]
    pub array: Handle<Image>,
    /// `0`: draw vertex colours (the array is not ready, or failed); `1`: textures.
    #[uniform(102)]
    pub enabled: u32,
}

impl MaterialExtension for VoxelTextures {
    fn fragment_shader() -> ShaderRef {
        "embedded://bevy_strata/textures.wgsl".into()
    }
}

/// Loads the registry's textures and materials node meshes with them (see the module docs).
#[derive(Clone, Debug)]
pub struct StrataTexturesPlugin {
    /// Asset path of the directory holding `<name>.png` (default `"textures"`).
    pub directory: String,
}

impl Default for StrataTexturesPlugin {
    fn default() -> Self {
        Self { directory: "textures".into() }
    }
}

impl StrataTexturesPlugin {
    /// Loads the PNGs from `directory` (an asset path) instead of `textures`.
    pub fn from_directory(directory: impl Into<String>) -> Self {
        Self { directory: directory.into() }
    }
}

impl Plugin for StrataTexturesPlugin {
    fn build(&self, app: &mut App) {
        register_material(app);
        app.add_plugins(StrataMaterialPlugin::<StrataTextureMaterial>::default())
            .insert_resource(TextureSource {
                directory: self.directory.clone(),
                materials: Vec::new(),
                names: Vec::new(),
                images: Vec::new(),
            })
            .init_resource::<StrataTextures>()
            // textures.wgsl dithers LOD cross-fades.
            .insert_resource(crate::StrataLodFadeShader(true))
            .add_systems(
                Update,
                (reload_textures, load_textures.run_if(|t: Res<StrataTextures>| t.is_pending())).chain(),
            );
    }

    /// After every plugin is built (so whichever order they were added in): node meshes carry
    /// the texture layers from the first one on.
    fn finish(&self, app: &mut App) {
        match app.world_mut().get_resource_mut::<crate::StrataConfig>() {
            Some(mut config) => config.texture_layers = true,
            None => warn!("StrataTexturesPlugin without StrataPlugin: no world to texture"),
        }
    }
}

/// Registers [`StrataTextureMaterial`] (its shader, the LOD-fade import it uses, its
/// `MaterialPlugin`) once: for this plugin, and for the plugin's default node material, which
/// is the same material without textures.
pub(crate) fn register_material(app: &mut App) {
    if app.is_plugin_added::<MaterialPlugin<StrataTextureMaterial>>() {
        return;
    }
    embedded_asset!(app, "textures.wgsl");
    crate::lod_fade::load_shader(app);
    app.add_plugins(MaterialPlugin::<StrataTextureMaterial>::default());
}

/// Where the PNGs are, and the materials the plugin made (the ones that get the array).
#[derive(Resource)]
struct TextureSource {
    directory: String,
    materials: Vec<Handle<StrataTextureMaterial>>,
    /// The texture names the array is (being) built from.
    names: Vec<String>,
    /// Their PNGs, kept after the array is built so that a changed file rebuilds it.
    images: Vec<Handle<Image>>,
}

/// Where the texture array stands.
#[derive(Resource, Debug, Default)]
#[non_exhaustive]
pub enum StrataTextures {
    /// Not started (the world is not open yet).
    #[default]
    NotStarted,
    /// The PNGs are loading; node meshes show their vertex colours meanwhile.
    Loading {
        /// The PNGs, by layer.
        images: Vec<Handle<Image>>,
    },
    /// The registry names no textures: vertex colours.
    Untextured,
    /// Node meshes are textured.
    Ready {
        /// Layers in the array.
        layers: u32,
        /// Width and height of each layer, in pixels.
        size: u32,
    },
    /// The array could not be built: vertex colours.
    Failed(TextureError),
}

impl StrataTextures {
    /// Whether the array is still to come (not started or loading).
    pub fn is_pending(&self) -> bool {
        matches!(self, StrataTextures::NotStarted | StrataTextures::Loading { .. })
    }

    /// Whether node meshes are textured.
    pub fn is_ready(&self) -> bool {
        matches!(self, StrataTextures::Ready { .. })
    }
}

impl std::fmt::Display for StrataTextures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StrataTextures::NotStarted => f.write_str("not started"),
            StrataTextures::Loading { images } => write!(f, "loading {} PNGs", images.len()),
            StrataTextures::Untextured => f.write_str("none named in the materials"),
            StrataTextures::Ready { layers, size } => write!(f, "{layers} of {size} x {size} pixels"),
            StrataTextures::Failed(error) => write!(f, "off ({error})"),
        }
    }
}

/// Why a texture set cannot become an array.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextureError {
    /// The PNG did not load (missing, unreadable, not an image).
    #[error("texture {texture:?} did not load from {path}: {reason}")]
    Load {
        /// The texture name.
        texture: String,
        /// The asset path tried.
        path: String,
        /// The asset server's error.
        reason: String,
    },
    /// Not square, or not a power of two wide.
    #[error("texture {texture:?} is {width} x {height}: textures must be square and a power of two wide")]
    BadSize {
        /// The texture name.
        texture: String,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
    /// Not the size of the first texture.
    #[error("texture {texture:?} is {size} pixels wide, the first texture {expected}: all must be the same size")]
    SizeMismatch {
        /// The texture name.
        texture: String,
        /// Its width.
        size: u32,
        /// The first texture's width.
        expected: u32,
    },
    /// A pixel format that cannot be converted to 8-bit sRGB RGBA.
    #[error("texture {texture:?} has the unsupported format {format}")]
    UnsupportedFormat {
        /// The texture name.
        texture: String,
        /// The format found.
        format: String,
    },
}

/// Starts loading once the world is open; assembles the array once every PNG has loaded.
fn load_textures(
    mut state: ResMut<StrataTextures>,
    mut source: ResMut<TextureSource>,
    world: Option<Res<StrataWorld>>,
    asset_server: Res<AssetServer>,
    mut images: ResMut<Assets<Image>>,
    mut materials: ResMut<Assets<StrataTextureMaterial>>,
    mut commands: Commands,
) {
    let Some(world) = world else { return };
    // Loading: the names the loads were started for (the registry may have changed since:
    // `reload_textures` starts again once this load is done).
    let names = match &*state {
        StrataTextures::NotStarted => world.registry.texture_names().to_vec(),
        _ => source.names.clone(),
    };
    let directory = source.directory.clone();
    let path = |name: &str| format!("{directory}/{name}.png");
    let next = match &*state {
        StrataTextures::NotStarted => {
            let placeholder = images.add(placeholder_array());
            let mut material = |base: StandardMaterial| {
                let extension = VoxelTextures { array: placeholder.clone(), enabled: 0 };
                materials.add(ExtendedMaterial { base, extension })
            };
            // No specular (as the untextured material): voxel light scales the texel, not the
            // sun's reflection.
            let opaque = material(StandardMaterial { perceptual_roughness: 0.95, reflectance: 0.0, ..default() });
            let transparent =
                material(StandardMaterial { alpha_mode: AlphaMode::Blend, perceptual_roughness: 0.2, ..default() });
            source.materials = vec![opaque.clone(), transparent.clone()];
            commands.insert_resource(StrataMaterial { opaque, transparent });
            source.images = names.iter().map(|name| asset_server.load(path(name))).collect();
            source.names = names;
            if source.names.is_empty() {
                StrataTextures::Untextured
            } else {
                StrataTextures::Loading { images: source.images.clone() }
            }
        }
        StrataTextures::Loading { images: handles } => {
            let failed = names.iter().zip(handles).find_map(|(name, handle)| match asset_server.load_state(handle) {
                LoadState::Failed(error) => {
                    Some(TextureError::Load { texture: name.clone(), path: path(name), reason: error.to_string() })
                }
                _ => None,
            });
            let loaded = handles.iter().map(|h| images.get(h)).collect::<Option<Vec<&Image>>>();
            match (failed, loaded) {
                (Some(error), _) => StrataTextures::Failed(error),
                (None, None) => return,
                (None, Some(loaded)) => {
                    let layers: Vec<(&str, &Image)> = names.iter().map(String::as_str).zip(loaded).collect();
                    match texture_array(&layers) {
                        Ok(array) => {
                            let (layers, size) = (array.texture_descriptor.size.depth_or_array_layers, array.width());
                            let array = images.add(array);
                            for handle in &source.materials {
                                if let Some(mut material) = materials.get_mut(handle) {
                                    material.extension = VoxelTextures { array: array.clone(), enabled: 1 };
                                }
                            }
                            info!("textured blocks: {layers} textures of {size} x {size} pixels");
                            StrataTextures::Ready { layers, size }
                        }
                        Err(error) => StrataTextures::Failed(error),
                    }
                }
            }
        }
        _ => return,
    };
    if let StrataTextures::Failed(error) = &next {
        error!("textured blocks off, vertex colours instead: {error}");
    }
    *state = next;
}

/// Starts building the array again when the materials name other textures (a materials
/// reload) or one of the PNGs changed (Bevy's `file_watcher`, or a change in `Assets<Image>`);
/// meanwhile the last array stays in use. Named textures gone: vertex colours.
fn reload_textures(
    mut state: ResMut<StrataTextures>,
    mut source: ResMut<TextureSource>,
    mut events: MessageReader<AssetEvent<Image>>,
    world: Option<Res<StrataWorld>>,
    asset_server: Res<AssetServer>,
    mut materials: ResMut<Assets<StrataTextureMaterial>>,
) {
    let changed =
        events.read().any(|e| matches!(e, AssetEvent::Modified { id } if source.images.iter().any(|h| h.id() == *id)));
    let Some(world) = world else { return };
    if state.is_pending() {
        return;
    }
    let names = world.registry.texture_names();
    if names == source.names.as_slice() && !changed {
        return;
    }
    let directory = source.directory.clone();
    source.names = names.to_vec();
    source.images = names.iter().map(|name| asset_server.load(format!("{directory}/{name}.png"))).collect();
    if names.is_empty() {
        for handle in &source.materials {
            if let Some(mut material) = materials.get_mut(handle) {
                material.extension.enabled = 0;
            }
        }
        *state = StrataTextures::Untextured;
    } else {
        info!("textured blocks: rebuilding the array ({} textures)", names.len());
        *state = StrataTextures::Loading { images: source.images.clone() };
    }
}

/// Views an image as a 2D array (wgpu would view an array of one layer as a plain 2D texture).
fn array_view() -> TextureViewDescriptor<'static> {
    TextureViewDescriptor { dimension: Some(TextureViewDimension::D2Array), ..default() }
}

/// A 1 × 1 white array of one layer: bound until the real array is ready, and for good in the
/// plugin's untextured default material.
pub(crate) fn placeholder_array() -> Image {
    let mut image = Image::new(
        Extent3d { width: 1, height: 1, depth_or_array_layers: 1 },
        TextureDimension::D2,
        vec![255; 4],
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::RENDER_WORLD,
    );
    image.texture_view_descriptor = Some(array_view());
    image
}

/// Stacks named textures into one array image (layer `i` = `layers[i]`) with a full mip chain,
/// each level the 2 × 2 average of the one above in linear light (alpha averaged as is).
/// Sampling: nearest when magnified (crisp texels up close), trilinear when minified, repeating.
///
/// Errors name the first texture that is not square and a power of two wide, not the first's
/// size, or not convertible to 8-bit sRGB RGBA. O(total pixels).
pub fn texture_array(layers: &[(&str, &Image)]) -> Result<Image, TextureError> {
    let mut size = 0;
    let mut data = Vec::new();
    for (i, (name, image)) in layers.iter().enumerate() {
        let (width, height) = (image.width(), image.height());
        if width != height || !width.is_power_of_two() {
            return Err(TextureError::BadSize { texture: (*name).to_owned(), width, height });
        }
        if i == 0 {
            size = width;
        } else if width != size {
            return Err(TextureError::SizeMismatch { texture: (*name).to_owned(), size: width, expected: size });
        }
        let unsupported = || TextureError::UnsupportedFormat {
            texture: (*name).to_owned(),
            format: format!("{:?}", image.texture_descriptor.format),
        };
        let converted;
        let rgba = match image.texture_descriptor.format {
            TextureFormat::Rgba8UnormSrgb | TextureFormat::Rgba8Unorm => image,
            _ => {
                converted = image.convert(TextureFormat::Rgba8UnormSrgb).ok_or_else(unsupported)?;
                &converted
            }
        };
        let pixels = rgba.data.as_deref().filter(|d| d.len() == (size * size * 4) as usize).ok_or_else(unsupported)?;
        data.extend_from_slice(pixels);
        let mut level = pixels.to_vec();
        let mut side = size as usize;
        while side > 1 {
            level = half_size(&level, side);
            side /= 2;
            data.extend_from_slice(&level);
        }
    }
    let layer_count = layers.len() as u32;
    let mut image = Image::new_uninit(
        Extent3d { width: size, height: size, depth_or_array_layers: layer_count },
        TextureDimension::D2,
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::RENDER_WORLD,
    );
    image.texture_descriptor.mip_level_count = size.max(1).ilog2() + 1;
    image.data = Some(data);
    image.texture_view_descriptor = Some(array_view());
    image.sampler = ImageSampler::Descriptor(ImageSamplerDescriptor {
        address_mode_u: ImageAddressMode::Repeat,
        address_mode_v: ImageAddressMode::Repeat,
        mag_filter: ImageFilterMode::Nearest,
        min_filter: ImageFilterMode::Linear,
        mipmap_filter: ImageFilterMode::Linear,
        ..default()
    });
    Ok(image)
}

/// The next mip level of a `side × side` sRGB RGBA level: each pixel the mean of a 2 × 2 block,
/// colour averaged in linear light.
fn half_size(level: &[u8], side: usize) -> Vec<u8> {
    let half = side / 2;
    let mut out = Vec::with_capacity(half * half * 4);
    for y in 0..half {
        for x in 0..half {
            let texel = |dx: usize, dy: usize, c: usize| level[((2 * y + dy) * side + 2 * x + dx) * 4 + c];
            for c in 0..4 {
                let samples = [texel(0, 0, c), texel(1, 0, c), texel(0, 1, c), texel(1, 1, c)];
                out.push(if c == 3 {
                    ((samples.iter().map(|&a| u32::from(a)).sum::<u32>() + 2) / 4) as u8
                } else {
                    let linear =
                        samples.iter().map(|&s| Srgba::gamma_function(f32::from(s) / 255.0)).sum::<f32>() / 4.0;
                    (Srgba::gamma_function_inverse(linear).clamp(0.0, 1.0) * 255.0).round() as u8
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `width × height` image of 4-byte pixels in `format`, all zero.
    fn blank(width: u32, height: u32, format: TextureFormat) -> Image {
        let size = Extent3d { width, height, depth_or_array_layers: 1 };
        Image::new(size, TextureDimension::D2, vec![0; (width * height * 4) as usize], format, RenderAssetUsages::all())
    }

    fn rgba(side: u32, pixels: impl Fn(u32, u32) -> [u8; 4]) -> Image {
        let mut image = blank(side, side, TextureFormat::Rgba8UnormSrgb);
        image.data = Some((0..side * side).flat_map(|i| pixels(i % side, i / side)).collect());
        image
    }

    /// sRGB byte → linear → mean → sRGB byte, in f64 (the reference for the mips).
    fn mean_srgb(bytes: [u8; 4]) -> u8 {
        let lin = |b: u8| {
            let s = f64::from(b) / 255.0;
            if s <= 0.04045 { s / 12.92 } else { ((s + 0.055) / 1.055).powf(2.4) }
        };
        let l = bytes.iter().map(|&b| lin(b)).sum::<f64>() / 4.0;
        let s = if l <= 0.003_130_8 { l * 12.92 } else { 1.055 * l.powf(1.0 / 2.4) - 0.055 };
        (s * 255.0).round() as u8
    }

    #[test]
    fn layers_stack_in_order_each_with_its_mip_chain_averaged_in_linear_light() {
        let checker = rgba(4, |x, y| if (x + y) % 2 == 0 { [255, 0, 40, 255] } else { [0, 128, 40, 0] });
        let ramp = rgba(4, |x, y| [(x * 60) as u8, (y * 60) as u8, 7, 200]);
        let array = texture_array(&[("checker", &checker), ("ramp", &ramp)]).unwrap();
        assert_eq!(array.texture_descriptor.size, Extent3d { width: 4, height: 4, depth_or_array_layers: 2 });
        assert_eq!(array.texture_descriptor.mip_level_count, 3);
        let data = array.data.as_ref().unwrap();
        let per_layer = (16 + 4 + 1) * 4;
        assert_eq!(data.len(), 2 * per_layer);
        for (layer, image) in [&checker, &ramp].into_iter().enumerate() {
            let source = image.data.as_ref().unwrap();
            let layer_data = &data[layer * per_layer..(layer + 1) * per_layer];
            assert_eq!(&layer_data[..64], &source[..], "level 0 is the PNG itself");
            // Level 1, pixel (1, 0): the block x 2..4, y 0..2 of level 0.
            let at = |x: usize, y: usize, c: usize| source[(y * 4 + x) * 4 + c];
            let level1 = &layer_data[64..80];
            for c in 0..3 {
                let expected = mean_srgb([at(2, 0, c), at(3, 0, c), at(2, 1, c), at(3, 1, c)]);
                assert!(
                    level1[4 + c].abs_diff(expected) <= 1,
                    "layer {layer} channel {c}: {} vs {expected}",
                    level1[4 + c]
                );
            }
            let alpha = [at(2, 0, 3), at(3, 0, 3), at(2, 1, 3), at(3, 1, 3)].map(u32::from);
            assert_eq!(u32::from(level1[7]), (alpha.iter().sum::<u32>() + 2) / 4);
        }
        // A checker of red and green is not a dull average of the bytes: linear light.
        assert_eq!(data[64], mean_srgb([255, 0, 255, 0]));
        assert!(data[64] > 180, "{}", data[64]);
        assert_eq!(
            array.texture_view_descriptor.as_ref().and_then(|v| v.dimension),
            Some(TextureViewDimension::D2Array)
        );
    }

    #[test]
    fn unusable_textures_are_named_in_the_error() {
        let good = rgba(8, |_, _| [1, 2, 3, 4]);
        let err = |layers: &[(&str, &Image)]| texture_array(layers).unwrap_err();
        let tall = blank(8, 16, TextureFormat::Rgba8UnormSrgb);
        assert!(
            matches!(err(&[("tall", &tall)]), TextureError::BadSize { texture, width: 8, height: 16 } if texture == "tall")
        );
        let odd = rgba(6, |_, _| [0; 4]);
        assert!(
            matches!(err(&[("ok", &good), ("odd", &odd)]), TextureError::BadSize { texture, .. } if texture == "odd")
        );
        let small = rgba(4, |_, _| [0; 4]);
        assert!(matches!(
            err(&[("ok", &good), ("small", &small)]),
            TextureError::SizeMismatch { texture, size: 4, expected: 8 } if texture == "small"
        ));
        let depth = blank(8, 8, TextureFormat::Depth32Float);
        assert!(
            matches!(err(&[("depth", &depth)]), TextureError::UnsupportedFormat { texture, .. } if texture == "depth")
        );
    }
}
