//! Textured blocks, headless: `StrataTexturesPlugin` stacks the shipped PNGs into one array,
//! node meshes carry each vertex's texture layer, and a missing PNG is a named error that
//! leaves the world in its vertex colours.

use crate::common::{STONE, run_until, small_view};
use bevy::asset::AssetPlugin;
use bevy::image::{CompressedImageFormats, ImageLoader, ImagePlugin};
use bevy::mesh::VertexAttributeValues;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use bevy_strata::prelude::*;
use bevy_strata::textures::{StrataTextureMaterial, TextureError};
use bevy_strata::{StrataMaterial, StrataMinimalPlugins, StrataStreaming, StrataSurface, StrataTextures, StrataWorld};
use std::sync::Arc;
use std::time::Duration;
use strata_core::{FaceKind, FlatGenerator};

/// A flat stone world (stone is textured in the built-in registry) with the texture plugin
/// reading `directory` under the repository's `assets/`. Headless apps have no render device,
/// so the PNG loader (which `RenderPlugin` registers) is registered here.
fn textured_app(directory: &str) -> App {
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets");
    let plugin = StrataPlugin::new(small_view()).with_generator(Arc::new(FlatGenerator { height: 0, material: STONE }));
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        StrataMinimalPlugins::with_plugin(plugin).set(AssetPlugin { file_path: assets.into(), ..default() }),
        ImagePlugin::default(),
        StrataTexturesPlugin::from_directory(directory),
    ))
    .register_asset_loader(ImageLoader::new(CompressedImageFormats::empty()))
    .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(16)));
    app.finish();
    app.cleanup();
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0)));
    app
}

fn settled(app: &mut App) -> bool {
    !app.world().resource::<StrataTextures>().is_pending()
}

/// The plugin's opaque material.
fn opaque_material(app: &App) -> &StrataTextureMaterial {
    let handle = &app.world().resource::<StrataMaterial<StrataTextureMaterial>>().opaque;
    app.world().resource::<Assets<StrataTextureMaterial>>().get(handle).expect("the plugin's material")
}

#[test]
fn the_shipped_textures_become_one_array_and_node_meshes_carry_their_layers() {
    let mut app = textured_app("textures");
    run_until(&mut app, 3000, "the textures loaded", settled);
    let names = app.world().resource::<StrataWorld>().registry.texture_names().to_vec();
    let state = app.world().resource::<StrataTextures>();
    assert!(
        matches!(state, StrataTextures::Ready { layers, size: 16 } if *layers as usize == names.len()),
        "{state:?}"
    );
    let material = opaque_material(&app);
    assert_eq!(material.extension.enabled, 1);
    let array = app.world().resource::<Assets<Image>>().get(&material.extension.array).expect("the array image");
    let size = array.texture_descriptor.size;
    assert_eq!((size.width, size.height, size.depth_or_array_layers as usize), (16, 16, names.len()));
    assert_eq!(array.texture_descriptor.mip_level_count, 5, "16, 8, 4, 2, 1");

    run_until(&mut app, 2000, "the view streamed", |app| app.world().resource::<StrataStreaming>().is_idle());
    app.update();
    // The flat ground's top faces are stone: their layer is stone's, at the index of its name.
    let stone = names.iter().position(|n| n == "stone").expect("stone is textured") as f32;
    let registry = app.world().resource::<StrataWorld>().registry.clone();
    assert_eq!(registry.texture_layer(STONE, FaceKind::Top), Some(stone as u32));
    let mut q = app.world_mut().query_filtered::<&Mesh3d, With<StrataSurface>>();
    let meshes = app.world().resource::<Assets<Mesh>>();
    let mut tops = 0;
    for mesh in q.iter(app.world()) {
        let mesh = meshes.get(&mesh.0).expect("headless meshes keep their data");
        let Some(VertexAttributeValues::Float32x2(layers)) = mesh.attribute(Mesh::ATTRIBUTE_UV_1) else {
            panic!("a node mesh without texture layers");
        };
        let Some(VertexAttributeValues::Float32x3(normals)) = mesh.attribute(Mesh::ATTRIBUTE_NORMAL) else {
            panic!("a node mesh without normals");
        };
        for (layer, normal) in layers.iter().zip(normals) {
            if normal[1] > 0.5 {
                assert_eq!(layer[0], stone, "a top face of the stone ground");
                tops += 1;
            }
        }
    }
    assert!(tops > 0, "the ground's top faces are shown");
}

#[test]
fn a_missing_texture_is_a_named_error_and_the_world_keeps_its_colours() {
    let mut app = textured_app("no_such_pack");
    run_until(&mut app, 3000, "the textures failed", settled);
    let names = app.world().resource::<StrataWorld>().registry.texture_names().to_vec();
    match app.world().resource::<StrataTextures>() {
        StrataTextures::Failed(TextureError::Load { texture, path, .. }) => {
            assert!(names.contains(texture), "{texture:?} is one of the registry's textures");
            assert_eq!(path, &format!("no_such_pack/{texture}.png"));
        }
        other => panic!("expected a load error naming a texture, got {other:?}"),
    }
    assert_eq!(opaque_material(&app).extension.enabled, 0, "vertex colours stay on");
    // And the world streams on.
    run_until(&mut app, 2000, "the view streamed", |app| app.world().resource::<StrataStreaming>().is_idle());
}
