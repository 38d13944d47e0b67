//! Game data through the plugin: block data and entity records written with `VoxelWorld` are
//! committed with their chunk, read back after a restart, and a mined chest loses its contents
//! in the same commit.

use crate::common::*;
use bevy::ecs::system::RunSystemOnce;
use bevy::prelude::*;
use bevy_strata::prelude::*;
use strata_core::ChunkKey;

fn app_on(path: &std::path::Path) -> App {
    saved_app(path, |_| {})
}

/// Frames a read of a chunk may take: the task pools are shared with every test of the
/// process, so under a parallel run a load can wait behind theirs.
const LOAD_FRAMES: usize = 5000;

/// Updates until the chunk holding `pos` is resident (the read asks for it).
fn wait_resident(app: &mut App, pos: VoxelPos) {
    run_until(app, LOAD_FRAMES, "the chunk is resident", |app| {
        app.world_mut().run_system_once(move |world: VoxelWorld| world.voxel(pos).is_some()).unwrap()
    });
}

fn commit(app: &mut App) {
    let request = app.world_mut().resource_mut::<StrataPersistence>().commit_now();
    run_until(app, 1000, "the commit", |app| app.world().resource::<StrataPersistence>().is_durable(request));
}

#[test]
fn block_data_and_entity_records_survive_a_restart_and_leave_with_their_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    let (chest, other) = (VoxelPos::new(3, 0, 4), VoxelPos::new(9, 0, 4));
    const CHEST: MaterialId = MaterialId(5);
    {
        let mut app = app_on(&path);
        app.world_mut()
            .run_system_once(move |world: VoxelWorld| {
                world.set_many(vec![(chest, CHEST), (other, CHEST)]);
                world.set_block_data(chest, Some(b"3 apples".to_vec())).unwrap();
                world.set_block_data(other, Some(b"a map".to_vec())).unwrap();
                world.set_entity_data(ChunkKey::new(0, 0, 0), 7, Some(b"crate".to_vec())).unwrap();
                assert!(world.set_block_data(chest, Some(vec![0; 1 << 17])).is_err(), "over the limit");
            })
            .unwrap();
        commit(&mut app);
        exit(app);
    }
    {
        let mut app = app_on(&path);
        wait_resident(&mut app, chest);
        let contents = app
            .world_mut()
            .run_system_once(move |world: VoxelWorld| world.block_data(chest).map(|d| (d.material, d.bytes.to_vec())))
            .unwrap();
        assert_eq!(contents, Some((CHEST, b"3 apples".to_vec())), "read back after a restart");
        let crate_record = app
            .world_mut()
            .run_system_once(|world: VoxelWorld| {
                world.chunk_side(ChunkKey::new(0, 0, 0)).unwrap().entity(7).map(<[u8]>::to_vec)
            })
            .unwrap();
        assert_eq!(crate_record.as_deref(), Some(&b"crate"[..]));
        // Mined: the contents go in the same commit.
        app.world_mut().run_system_once(move |world: VoxelWorld| world.set_voxel(chest, MaterialId::AIR)).unwrap();
        commit(&mut app);
        exit(app);
    }
    let mut app = app_on(&path);
    wait_resident(&mut app, chest);
    let mined = app.world_mut().run_system_once(move |world: VoxelWorld| world.voxel(chest)).unwrap();
    assert_eq!(mined, Some(MaterialId::AIR), "the mined chest was committed");
    let (mined, kept) = app
        .world_mut()
        .run_system_once(move |world: VoxelWorld| (world.block_data(chest), world.block_data(other)))
        .unwrap();
    assert_eq!(mined, None, "no contents without their chest");
    assert_eq!(kept.map(|d| d.bytes.to_vec()), Some(b"a map".to_vec()));
}

/// Writing game data alone is told with `GameDataEdited` (it is not a voxel edit: no
/// `VoxelsEdited`, nothing remeshed); a voxel edit with data goes in `VoxelsEdited` only.
#[test]
fn game_data_alone_is_told_apart_from_voxel_edits() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_on(&dir.path().join("w.strata"));
    let (chest, other) = (VoxelPos::new(3, 0, 4), VoxelPos::new(40, 0, 4));
    wait_resident(&mut app, chest);
    wait_resident(&mut app, other);
    let read = |app: &mut App| -> (Vec<GameDataEdited>, Vec<VoxelsEdited>) {
        let g = app.world_mut().resource_mut::<Messages<GameDataEdited>>().drain().collect();
        let v = app.world_mut().resource_mut::<Messages<VoxelsEdited>>().drain().collect();
        (g, v)
    };
    app.update();
    read(&mut app);
    app.world_mut()
        .run_system_once(move |world: VoxelWorld| {
            world.set_block_data(chest, Some(b"3 apples".to_vec())).unwrap();
            world.set_voxel(other, MaterialId(5));
            world.set_block_data(other, Some(b"a map".to_vec())).unwrap();
        })
        .unwrap();
    app.update();
    let (game, voxels) = read(&mut app);
    let game: Vec<ChunkKey> = game.iter().flat_map(|m| m.chunks.clone()).collect();
    let voxels: Vec<ChunkKey> = voxels.iter().flat_map(|m| m.chunks.clone()).collect();
    assert_eq!(game, vec![chest.chunk()]);
    assert_eq!(voxels, vec![other.chunk()]);
}
