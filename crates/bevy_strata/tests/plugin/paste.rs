//! `VoxelWorld::paste`: a MagicaVoxel scene stamped into a streamed world lands voxel for voxel
//! (its colours mapped to materials), and leaves the voxels around it alone.

use crate::common::*;
use bevy::ecs::system::RunSystemOnce;
use bevy::prelude::*;
use bevy_strata::prelude::*;
use strata_core::vox::VoxScene;

#[test]
fn a_pasted_model_lands_voxel_for_voxel() {
    let mut app = flat_app(small_view(), 0);
    wait_started(&mut app);
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(0.0, 4.0, 0.0)));
    let scene = VoxScene::parse(include_bytes!("../../../../assets/models/axes.vox")).unwrap();
    let registry = app.world().resource::<bevy_strata::StrataWorld>().registry.clone();
    let materials = scene.materials(&registry, &[]).unwrap();
    let at = VoxelPos::new(100, 300, -50);
    let placed = app
        .world_mut()
        .run_system_once({
            let (scene, materials) = (scene.clone(), materials.clone());
            move |world: VoxelWorld| world.paste(&scene, &materials, at)
        })
        .unwrap();
    assert_eq!(placed, scene.voxels.len());
    // The last write of each position wins, as in the scene.
    let mut want = std::collections::HashMap::new();
    for &(p, i) in &scene.voxels {
        want.insert(VoxelPos::new(p[0] + at.x, p[1] + at.y, p[2] + at.z), materials[&i]);
    }
    let (lo, hi) = scene.bounds().unwrap();
    run_until(&mut app, 600, "every pasted voxel reads back", |app| {
        app.world_mut()
            .run_system_once({
                let want = want.clone();
                move |world: VoxelWorld| want.iter().all(|(p, m)| world.voxel(*p) == Some(*m))
            })
            .unwrap()
    });
    // Around the model (one voxel past its box on each side) the world is as generated: air
    // this high above the ground.
    let outside = [
        VoxelPos::new(lo[0] + at.x - 1, lo[1] + at.y, lo[2] + at.z),
        VoxelPos::new(hi[0] + at.x + 1, hi[1] + at.y, hi[2] + at.z),
        VoxelPos::new(lo[0] + at.x, hi[1] + at.y + 1, lo[2] + at.z),
    ];
    run_until(&mut app, 600, "the voxels around it read", |app| {
        app.world_mut()
            .run_system_once(move |world: VoxelWorld| outside.iter().all(|p| world.voxel(*p) == Some(MaterialId::AIR)))
            .unwrap()
    });
}
