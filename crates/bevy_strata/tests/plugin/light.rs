//! Light in streamed meshes: a sealed cave is dark, a lamp lights it, a hole to the sky lets
//! daylight in (an edit in the chunk above relights the cave below), and `light: false` meshes
//! everything in daylight.

use crate::common::{flat_app, run_until, small_view};
use bevy::ecs::system::RunSystemOnce;
use bevy::mesh::VertexAttributeValues;
use bevy::prelude::*;
use bevy_strata::prelude::*;
use bevy_strata::{StrataStreaming, voxel_light};
use strata_core::{ChunkKey, MaterialRegistry, VoxelPos};
use strata_index::NodeId;

/// The ground's top voxel layer is y = 63 (chunks (x, 1, z) hold the surface).
const GROUND: i32 = 64;

fn idle(app: &mut App) -> bool {
    app.world().resource::<StrataStreaming>().is_idle()
}

/// Brightness of the cave floor's top faces in chunk (0, 0, 0) (the floor is y = 29, its faces
/// at y = 30), per vertex `(x, z, brightness)`: the vertex colour over stone's colour.
fn floor_light(app: &mut App) -> Vec<(f32, f32, f32)> {
    let st = app.world().resource::<StrataStreaming>();
    let entity = st.entity(NodeId::chunk(ChunkKey::new(0, 0, 0))).expect("the cave's chunk has a mesh");
    let handle = app.world().get::<Mesh3d>(entity).expect("an opaque mesh").0.clone();
    let mesh = app.world().resource::<Assets<Mesh>>().get(&handle).expect("kept mesh data");
    let Some(VertexAttributeValues::Float32x3(positions)) = mesh.attribute(Mesh::ATTRIBUTE_POSITION) else {
        panic!("positions")
    };
    let Some(VertexAttributeValues::Float32x3(normals)) = mesh.attribute(Mesh::ATTRIBUTE_NORMAL) else {
        panic!("normals")
    };
    let Some(VertexAttributeValues::Float32x4(colors)) = mesh.attribute(Mesh::ATTRIBUTE_COLOR) else {
        panic!("colours")
    };
    let registry = MaterialRegistry::builtin();
    let stone = registry.get(registry.id("stone").unwrap()).unwrap().color;
    positions
        .iter()
        .zip(normals)
        .zip(colors)
        .filter(|((p, n), _)| p[1] == 30.0 && n[1] == 1.0)
        .map(|((p, _), c)| (p[0], p[2], c[0] / stone[0]))
        .collect()
}

fn edit(app: &mut App, f: impl Fn(&VoxelWorld) + Send + Sync + 'static) {
    app.world_mut().run_system_once(move |world: VoxelWorld| f(&world)).unwrap();
}

fn remeshed(app: &mut App, before: u64) -> impl FnMut(&mut App) -> bool + use<> {
    let _ = app;
    move |app: &mut App| {
        let st = app.world().resource::<StrataStreaming>();
        st.is_idle() && st.plan().generation(NodeId::chunk(ChunkKey::new(0, 0, 0))).is_some_and(|g| g > before)
    }
}

fn generation(app: &App) -> u64 {
    app.world().resource::<StrataStreaming>().plan().generation(NodeId::chunk(ChunkKey::new(0, 0, 0))).unwrap()
}

#[test]
fn a_sealed_cave_is_dark_a_lamp_lights_it_and_a_shaft_lets_the_sky_in() {
    let mut app = flat_app(StrataConfig { keep_mesh_data: true, ..small_view() }, GROUND);
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 40.0, 16.0)));
    run_until(&mut app, 3000, "the view", idle);
    // A sealed cave: air at x, z 4..=12, y 30..=35, inside chunk (0, 0, 0).
    let before = generation(&app);
    edit(&mut app, |w| w.fill_box(VoxelPos::new(4, 30, 4), VoxelPos::new(12, 35, 12), MaterialId::AIR).unwrap());
    let done = remeshed(&mut app, before);
    run_until(&mut app, 3000, "the cave meshed", done);
    let dark = floor_light(&mut app);
    assert!(!dark.is_empty(), "the cave has a floor");
    let night = voxel_light([0.0, 0.0]);
    for &(x, z, b) in &dark {
        assert!((b - night).abs() < 1e-4, "sealed cave floor at ({x}, {z}) lit {b}");
    }

    // A lamp on the floor at (8, 30, 8): the floor around it is lit, brighter near it.
    let lamp = MaterialRegistry::builtin().id("lamp").unwrap();
    let before = generation(&app);
    edit(&mut app, move |w| w.set_voxel(VoxelPos::new(8, 30, 8), lamp));
    let done = remeshed(&mut app, before);
    run_until(&mut app, 3000, "the lamp's light", done);
    let lit = floor_light(&mut app);
    let near = lit.iter().filter(|(x, z, _)| (x - 8.5).abs() <= 2.0 && (z - 8.5).abs() <= 2.0).map(|l| l.2);
    let near = near.fold(f32::INFINITY, f32::min);
    assert!(near > 5.0 * night, "lamp-lit floor {near} against the dark cave {night}");
    let far = lit.iter().filter(|(x, z, _)| *x <= 4.0 && *z <= 4.0).map(|l| l.2).fold(0.0, f32::max);
    assert!(far < near && far > night, "light fades with distance: corner {far}, near {near}");

    // A shaft from the cave's corner (5, 36..64, 5) to the surface: chunk (0, 1, 0) is edited,
    // and the floor under the shaft, in chunk (0, 0, 0), gets the sky.
    let before = generation(&app);
    edit(&mut app, |w| w.fill_box(VoxelPos::new(5, 36, 5), VoxelPos::new(5, GROUND - 1, 5), MaterialId::AIR).unwrap());
    let done = remeshed(&mut app, before);
    run_until(&mut app, 3000, "daylight in the cave", done);
    let sky = floor_light(&mut app);
    let under = sky.iter().filter(|(x, z, _)| (5.0..=6.0).contains(x) && (5.0..=6.0).contains(z)).map(|l| l.2);
    let under = under.fold(f32::INFINITY, f32::min);
    assert!(under > 0.3, "the floor under the shaft sees the sky: {under}");
}

#[test]
fn without_light_a_sealed_cave_is_in_daylight() {
    let mut app = flat_app(StrataConfig { keep_mesh_data: true, light: false, ..small_view() }, GROUND);
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 40.0, 16.0)));
    run_until(&mut app, 3000, "the view", idle);
    let before = generation(&app);
    edit(&mut app, |w| w.fill_box(VoxelPos::new(4, 30, 4), VoxelPos::new(12, 35, 12), MaterialId::AIR).unwrap());
    let done = remeshed(&mut app, before);
    run_until(&mut app, 3000, "the cave meshed", done);
    let floor = floor_light(&mut app);
    assert!(!floor.is_empty() && floor.iter().all(|l| l.2 == 1.0), "{floor:?}");
}
