//! A [`World`] over a save file: what it commits is there after the save is closed and opened
//! again, process histories included, and two worlds sharing one save merge each other's
//! edits through the save's conditional puts.

use std::sync::Arc;
use strata_core::{
    ChunkKey, ChunkStore, Edit, FlatGenerator, MaterialId, ProcessBatch, ProcessId, ProcessStamp, ProcessWrite,
    VoxelPos, World, WorldConfig,
};
use strata_redb::RedbStore;

fn flat_world(store: Arc<dyn ChunkStore>) -> World {
    World::new(store, Arc::new(FlatGenerator { height: 0, material: MaterialId(1) }), WorldConfig::default())
}

#[test]
fn committed_edits_and_histories_are_there_after_reopening_the_save() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    let stamp = ProcessStamp { process: ProcessId::new(0).unwrap(), step: 7 };
    let (from, to) = (VoxelPos::new(31, 0, 0), VoxelPos::new(32, 1, 0));
    {
        let mut w = flat_world(Arc::new(RedbStore::open(&path).unwrap()));
        w.set_voxel(VoxelPos::new(1, 5, 1), MaterialId(4));
        w.set_many(vec![(VoxelPos::new(-1, -1, -1), MaterialId::AIR), (VoxelPos::new(40, 2, 0), MaterialId(9))]);
        // A grain moves from chunk (0,0,0) to chunk (1,0,0), stamped by process 0.
        w.push_edit(Edit::Process(ProcessBatch {
            stamp,
            writes: vec![
                ProcessWrite { pos: from, expect: MaterialId(1), material: MaterialId::AIR },
                ProcessWrite { pos: to, expect: MaterialId::AIR, material: MaterialId(1) },
            ],
        }));
        w.apply().unwrap();
        assert_eq!(w.commit().unwrap().entries, 3);
    }
    let store: Arc<dyn ChunkStore> = Arc::new(RedbStore::open(&path).unwrap());
    let (_, history) = store.get_with_history(ChunkKey::new(1, 0, 0)).unwrap().unwrap();
    assert_eq!(history.iter().collect::<Vec<_>>(), vec![stamp]);
    let mut w = flat_world(store);
    assert_eq!(w.voxel(VoxelPos::new(1, 5, 1)).unwrap(), MaterialId(4));
    assert_eq!(w.voxel(VoxelPos::new(-1, -1, -1)).unwrap(), MaterialId::AIR);
    assert_eq!(w.voxel(VoxelPos::new(40, 2, 0)).unwrap(), MaterialId(9));
    assert_eq!((w.voxel(from).unwrap(), w.voxel(to).unwrap()), (MaterialId::AIR, MaterialId(1)));
    assert_eq!(w.voxel(VoxelPos::new(2, 5, 1)).unwrap(), MaterialId::AIR, "generated, never stored");
    assert_eq!(w.stats().loaded_from_store, 3);
    assert_eq!(w.resident_history(ChunkKey::new(1, 0, 0)), Some(history));
}

#[test]
fn two_worlds_on_one_save_keep_both_writers_edits() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ChunkStore> = Arc::new(RedbStore::open(dir.path().join("w.strata")).unwrap());
    let mut a = flat_world(store.clone());
    let mut b = flat_world(store.clone());
    let (pa, pb, both) = (VoxelPos::new(1, 4, 1), VoxelPos::new(2, 4, 1), VoxelPos::new(3, 4, 1));
    // Both hold the chunk, as loaded before either edit.
    assert_eq!((a.voxel(pa).unwrap(), b.voxel(pb).unwrap()), (MaterialId::AIR, MaterialId::AIR));
    a.set_many(vec![(pa, MaterialId(5)), (both, MaterialId(5))]);
    a.commit().unwrap();
    b.set_many(vec![(pb, MaterialId(6)), (both, MaterialId(6))]);
    b.commit().expect("the save refuses B's stale put; B merges and commits again");
    let stored = store.get(pa.chunk()).unwrap().unwrap();
    let at = |p: VoxelPos| stored.get(p.local().index());
    assert_eq!((at(pa), at(pb), at(both)), (MaterialId(5), MaterialId(6), MaterialId(6)));
    assert_eq!(b.voxel(pa).unwrap(), MaterialId(5), "the later writer sees the merged chunk");
}
