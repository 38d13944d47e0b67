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
    textured_app_with(directory, |_| {})
}

/// [`textured_app`], with `extend` adding plugins before the app finishes.
fn textured_app_with(directory: &str, extend: impl FnOnce(&mut App)) -> App {
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
    extend(&mut app);
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

/// The stone top faces' texture layers and vertex colours, over every shown node mesh.
fn stone_tops(app: &mut App) -> Vec<(f32, [f32; 4])> {
    let mut q = app.world_mut().query_filtered::<&Mesh3d, With<StrataSurface>>();
    let meshes = app.world().resource::<Assets<Mesh>>();
    let mut out = Vec::new();
    for mesh in q.iter(app.world()) {
        let mesh = meshes.get(&mesh.0).expect("headless meshes keep their data");
        let (
            Some(VertexAttributeValues::Float32x2(layers)),
            Some(VertexAttributeValues::Float32x3(normals)),
            Some(VertexAttributeValues::Float32x4(colors)),
        ) = (
            mesh.attribute(Mesh::ATTRIBUTE_UV_1),
            mesh.attribute(Mesh::ATTRIBUTE_NORMAL),
            mesh.attribute(Mesh::ATTRIBUTE_COLOR),
        )
        else {
            panic!("a node mesh without layers, normals or colours");
        };
        for ((layer, normal), color) in layers.iter().zip(normals).zip(colors) {
            if normal[1] > 0.5 {
                out.push((layer[0], *color));
            }
        }
    }
    out
}

/// `materials.ron` reloaded while the game runs: stone's new colour and texture show on every
/// shown node (the array rebuilt without the texture no material names any more); a reload
/// that renumbers a material is refused and changes nothing.
#[test]
fn reloaded_materials_remesh_what_is_shown_and_renumbering_is_refused() {
    use bevy_strata::materials_reload::{StrataMaterialsAsset, StrataMaterialsReloadPlugin, StrataMaterialsReloaded};
    #[derive(Resource, Default)]
    struct Reloads(Vec<StrataMaterialsReloaded>);
    let mut app = textured_app_with("textures", |app| {
        app.add_plugins(StrataMaterialsReloadPlugin::default()).init_resource::<Reloads>().add_systems(
            Last,
            |mut read: MessageReader<StrataMaterialsReloaded>, mut log: ResMut<Reloads>| {
                log.0.extend(read.read().cloned());
            },
        );
    });
    run_until(&mut app, 3000, "the textures and materials.ron loaded", |app| {
        settled(app) && app.world().resource::<Assets<StrataMaterialsAsset>>().len() == 1
    });
    run_until(&mut app, 2000, "the view streamed", |app| app.world().resource::<StrataStreaming>().is_idle());
    app.update();
    // The file is the built-in registry: loading it changed nothing.
    assert_eq!(app.world().resource::<StrataWorld>().materials_version(), 0);
    let before = app.world().resource::<StrataWorld>().registry.texture_names().to_vec();
    let stone_layer = before.iter().position(|n| n == "stone").unwrap() as f32;
    assert!(stone_tops(&mut app).iter().all(|(layer, _)| *layer == stone_layer));

    // Stone turns red and takes the sand texture: "stone" is no longer a texture name.
    let edit = |app: &mut App, change: &dyn Fn(&mut strata_core::Material)| {
        let mut assets = app.world_mut().resource_mut::<Assets<StrataMaterialsAsset>>();
        let (_, asset) = assets.iter_mut().next().expect("the loaded file");
        let materials = asset
            .registry
            .iter()
            .cloned()
            .map(|mut m| {
                change(&mut m);
                m
            })
            .collect();
        asset.registry = MaterialRegistry::new(materials).unwrap();
    };
    // Stone and its slabs (the other users of the stone texture).
    edit(&mut app, &|m| {
        if m.name == "stone" || m.name.starts_with("stone_slab") {
            m.color = [1.0, 0.0, 0.0, 1.0];
            m.textures = Some(strata_core::FaceTextures { all: Some("sand".into()), ..Default::default() });
        }
    });
    run_until(&mut app, 3000, "reloaded and remeshed", |app| {
        app.world().resource::<StrataWorld>().materials_version() == 1
            && settled(app)
            && app.world().resource::<StrataStreaming>().is_idle()
    });
    app.update();
    let reloads = std::mem::take(&mut app.world_mut().resource_mut::<Reloads>().0);
    assert!(matches!(reloads.as_slice(), [StrataMaterialsReloaded::Applied { .. }]), "{reloads:?}");
    let after = app.world().resource::<StrataWorld>().registry.texture_names().to_vec();
    assert!(!after.contains(&"stone".to_owned()) && after.len() == before.len() - 1, "{after:?}");
    let state = app.world().resource::<StrataTextures>();
    assert!(matches!(state, StrataTextures::Ready { layers, .. } if *layers as usize == after.len()), "{state:?}");
    let sand_layer = after.iter().position(|n| n == "sand").unwrap() as f32;
    let tops = stone_tops(&mut app);
    assert!(!tops.is_empty());
    for (layer, color) in tops {
        assert_eq!(layer, sand_layer, "every shown stone top was remeshed with its new texture");
        assert!(color[0] > 0.0 && color[1] == 0.0 && color[2] == 0.0, "and its new colour: {color:?}");
    }

    // A PNG changes (as Bevy's file watcher reloads it): the array is built again with it.
    let array_before = opaque_material(&app).extension.array.clone();
    let sand = app.world().resource::<AssetServer>().get_handle::<Image>("textures/sand.png").expect("sand is loaded");
    {
        let mut images = app.world_mut().resource_mut::<Assets<Image>>();
        let mut image = images.get_mut(&sand).expect("the sand PNG is kept");
        let data = image.data.as_mut().expect("pixels");
        for px in data.chunks_mut(4) {
            px.copy_from_slice(&[255, 0, 0, 255]);
        }
    }
    run_until(&mut app, 300, "the array rebuilt", |app| {
        settled(app) && opaque_material(app).extension.array != array_before
    });
    let array = app.world().resource::<Assets<Image>>().get(&opaque_material(&app).extension.array).unwrap();
    // Layer-major: each layer's mip chain, then the next layer.
    let data = array.data.as_ref().unwrap();
    let layer_bytes = data.len() / array.texture_descriptor.size.depth_or_array_layers as usize;
    let first = &data[sand_layer as usize * layer_bytes..][..4];
    assert_eq!(first, &[255, 0, 0, 255], "sand's layer holds the changed PNG");

    // Renumbered: refused, nothing changes.
    edit(&mut app, &|m| {
        if m.name == "stone" {
            m.id = 200;
        }
    });
    for _ in 0..5 {
        app.update();
    }
    let reloads = std::mem::take(&mut app.world_mut().resource_mut::<Reloads>().0);
    assert!(
        matches!(reloads.as_slice(), [StrataMaterialsReloaded::Refused(why)] if why.contains("\"stone\" moved")),
        "{reloads:?}"
    );
    assert_eq!(app.world().resource::<StrataWorld>().materials_version(), 1);
}
