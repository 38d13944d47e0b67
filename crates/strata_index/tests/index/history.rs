//! Process histories (which processes changed a chunk, and when) are visible through the index:
//! per chunk, and as the union over every node above it, after incremental updates and after a
//! full rebuild from the store.

use std::sync::Arc;
use strata_core::{
    ChunkKey, ChunkStore, Edit, FlatGenerator, MaterialId, MemoryStore, ProcessBatch, ProcessHistory, ProcessId,
    ProcessStamp, ProcessWrite, VoxelPos, World, WorldConfig,
};
use strata_index::{IndexConfig, IndexWriter, NodeId, ROOT_LEVEL};

fn stamp(p: u8, step: u32) -> ProcessStamp {
    ProcessStamp { process: ProcessId::new(p).unwrap(), step }
}

/// Turns the ground voxel at `pos` (material 1) into sediment (8) as process `p` at `step`.
fn erode(world: &World, pos: VoxelPos, p: u8, step: u32) {
    let write = ProcessWrite { pos, expect: MaterialId(1), material: MaterialId(8) };
    world.push_edit(Edit::Process(ProcessBatch { stamp: stamp(p, step), writes: vec![write] }));
}

#[test]
fn histories_reach_every_node_above_and_survive_a_rebuild_from_the_store() {
    let generator = Arc::new(FlatGenerator { height: 0, material: MaterialId(1) });
    let store = Arc::new(MemoryStore::new());
    let mut world = World::new(store.clone(), generator.clone(), WorldConfig::default());
    let feed = world.subscribe();
    let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());

    erode(&world, VoxelPos::new(3, 0, 3), 0, 5);
    erode(&world, VoxelPos::new(40, -1, 3), 1, 9);
    erode(&world, VoxelPos::new(4, 0, 3), 0, 6);
    world.set_voxel(VoxelPos::new(-100, 0, 0), MaterialId(19)); // a player edit: no history
    world.apply().unwrap();
    for change in feed.try_iter() {
        writer.apply_change(&change);
    }
    let snap = writer.publish();

    let (a, b) = (ChunkKey::new(0, 0, 0), ChunkKey::new(1, -1, 0));
    let ha = snap.summary(NodeId::new(0, a)).history;
    assert_eq!(ha.iter().collect::<Vec<_>>(), vec![stamp(0, 6)]);
    let hb = snap.summary(NodeId::new(0, b)).history;
    assert_eq!(hb.iter().collect::<Vec<_>>(), vec![stamp(1, 9)]);
    assert!(snap.summary(NodeId::new(0, ChunkKey::new(-4, 0, 0))).history.is_empty(), "player edits leave none");
    // Every level up to the root that holds both: the union with the latest steps.
    let mut both = ha;
    both.merge(&hb);
    for level in 1..=ROOT_LEVEL {
        let over_a = snap.summary(NodeId::containing(a, level)).history;
        let over_b = snap.summary(NodeId::containing(b, level)).history;
        if NodeId::containing(a, level) == NodeId::containing(b, level) {
            assert_eq!(over_a, both, "level {level}");
        } else {
            assert_eq!((over_a, over_b), (ha, hb), "level {level}");
        }
    }

    world.commit().unwrap();
    let mut rebuilt = IndexWriter::new(generator, IndexConfig::default());
    rebuilt.bulk_load_store(store.as_ref() as &dyn ChunkStore, Vec::new(), 2).unwrap();
    let snap2 = rebuilt.publish();
    for key in [a, b, ChunkKey::new(-4, 0, 0)] {
        for level in 0..=ROOT_LEVEL {
            let id = NodeId::containing(key, level);
            assert_eq!(snap2.summary(id).history, snap.summary(id).history, "{id:?}");
        }
    }
    assert_ne!(snap2.summary(NodeId::containing(a, ROOT_LEVEL)).history, ProcessHistory::EMPTY);
}
