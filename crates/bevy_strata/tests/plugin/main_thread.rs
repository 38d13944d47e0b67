//! Frames never wait for the store: edits and reads of chunks that are not resident are served
//! by loads on the task pools, and only the exit commit reads on the main thread.

use crate::common::{STONE, run_until, small_view};
use bevy::ecs::system::RunSystemOnce;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use bevy_strata::prelude::*;
use bevy_strata::{StrataStreaming, StrataWorld};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_core::store::ScanVisitor;
use strata_core::{
    ChunkKey, ChunkStore, CommitReceipt, FlatGenerator, MemoryStore, MortonKey, StoreError, World, WorldConfig,
    WorldId, WriteBatch,
};

/// A memory store that records each read made, once armed, on a thread that runs systems (the
/// main thread or Bevy's compute pool): there a read stalls a frame, on a network store for a
/// round trip or, in an outage, for the whole operation timeout.
#[derive(Default)]
struct FrameReadDetector {
    inner: MemoryStore,
    armed: AtomicBool,
    frame_reads: Mutex<Vec<String>>,
    /// Background reads take 300 ms (a slow network).
    slow: AtomicBool,
}

impl FrameReadDetector {
    fn check_thread(&self, what: &str) {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("(unnamed)");
        let background = name.starts_with("IO Task Pool") || name.starts_with("Async Compute Task Pool");
        if self.armed.load(Ordering::SeqCst) && !background {
            self.frame_reads.lock().unwrap().push(format!("{what} on thread {name:?}"));
        }
        if self.slow.load(Ordering::SeqCst) && background {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl ChunkStore for FrameReadDetector {
    fn world_id(&self) -> WorldId {
        self.inner.world_id()
    }
    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_thread("get_record");
        self.inner.get_record(key)
    }
    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        self.check_thread("scan");
        self.inner.scan(range, visit)
    }
    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        self.inner.commit(batch)
    }
}

const BRICK: MaterialId = MaterialId(9);
const GLASS: MaterialId = MaterialId(12);

#[test]
fn edits_and_reads_far_from_the_view_never_read_the_store_in_a_frame() {
    let store = Arc::new(FrameReadDetector::default());
    let generator = Arc::new(FlatGenerator { height: 4, material: STONE });
    // A stored edit far outside the view (chunk (40, 0, 40)), made by an earlier session.
    let far = ChunkKey::new(40, 0, 40);
    let stored = VoxelPos::new(far.min_voxel().x + 1, 5, far.min_voxel().z + 1);
    {
        let mut earlier = World::new(store.clone(), generator.clone(), WorldConfig::default());
        earlier.set_voxel(stored, BRICK);
        earlier.commit().unwrap();
    }
    let plugin = StrataPlugin::new(small_view()).with_generator(generator).with_store(store.clone());
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, StrataMinimalPlugins::with_plugin(plugin)))
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(16)));
    app.finish();
    app.cleanup();
    store.armed.store(true, Ordering::SeqCst);
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0)));
    run_until(&mut app, 3000, "view streamed", |a| a.world().resource::<StrataStreaming>().is_idle());
    assert!(!app.world().resource::<StrataWorld>().world.is_resident(far));

    // An edit and a read in the far chunk, from a game system.
    let placed = VoxelPos::new(far.min_voxel().x + 7, 6, far.min_voxel().z + 3);
    let first_read = app
        .world_mut()
        .run_system_once(move |world: VoxelWorld| {
            world.set_voxel(placed, GLASS);
            world.voxel(stored)
        })
        .unwrap();
    assert_eq!(first_read, None, "not resident: no answer yet, and no wait");
    let mut edited = Vec::new();
    run_until(&mut app, 2000, "the far edit applied", |a| {
        edited.extend(a.world_mut().resource_mut::<Messages<VoxelsEdited>>().drain().flat_map(|m| m.chunks));
        let sw = a.world().resource::<StrataWorld>();
        sw.world.resident_chunk(far).is_some_and(|c| c.get(placed.local().index()) == GLASS)
    });
    assert!(edited.contains(&far), "{edited:?}");
    let read = app.world_mut().run_system_once(move |world: VoxelWorld| world.voxel(stored)).unwrap();
    assert_eq!(read, Some(BRICK), "the chunk came from the store, with the earlier session's edit");
    // A read alone (no edit there) brings its chunk too.
    let elsewhere = VoxelPos::new(-2000, 3, 900);
    let read = |a: &mut App| a.world_mut().run_system_once(move |world: VoxelWorld| world.voxel(elsewhere)).unwrap();
    assert_eq!(read(&mut app), None);
    run_until(&mut app, 2000, "the read chunk loaded", |a| read(a).is_some());
    assert_eq!(read(&mut app), Some(STONE));

    // Durable on request, still without a read in a frame.
    let request = app.world_mut().resource_mut::<StrataPersistence>().commit_now();
    run_until(&mut app, 2000, "the edit is durable", |a| a.world().resource::<StrataPersistence>().is_durable(request));
    let frame_reads = store.frame_reads.lock().unwrap().clone();
    assert!(frame_reads.is_empty(), "store reads that stalled a frame: {frame_reads:?}");
    let saved = store.inner.get(far).unwrap().expect("the far chunk is saved");
    assert_eq!((saved.get(placed.local().index()), saved.get(stored.local().index())), (GLASS, BRICK));
}

/// The exit commit is the one place the plugin may wait: an edit whose chunk is still loading
/// when the app exits is saved, its chunk read there and then (on the main thread).
#[test]
fn an_edit_waiting_for_its_chunk_at_exit_is_saved() {
    let store = Arc::new(FrameReadDetector::default());
    let generator = Arc::new(FlatGenerator { height: 4, material: STONE });
    let plugin = StrataPlugin::new(small_view()).with_generator(generator).with_store(store.clone());
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, StrataMinimalPlugins::with_plugin(plugin)));
    app.finish();
    app.cleanup();
    crate::common::wait_started(&mut app);
    // The chunk's load cannot finish within the exit frame.
    store.slow.store(true, Ordering::SeqCst);
    let placed = VoxelPos::new(5000, 2, -5000);
    app.world_mut().run_system_once(move |world: VoxelWorld| world.set_voxel(placed, GLASS)).unwrap();
    app.world_mut().write_message(AppExit::Success);
    app.update();
    assert!(app.world().resource::<StrataPersistence>().exit_committed);
    let saved = store.inner.get(placed.chunk()).unwrap().expect("saved on exit");
    assert_eq!(saved.get(placed.local().index()), GLASS);
}
