//! Loads that fail: a chunk whose store read fails is loaded again with a back-off (not every
//! frame, with a warning each time), and loads once the store heals.

use crate::common::{flat_app_with, run_until, small_view, wait_started};
use bevy::prelude::*;
use bevy_strata::prelude::*;
use bevy_strata::{StrataStreaming, StrataWorld};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use strata_core::{ChunkKey, ChunkStore, MemoryStore, StoreError, WriteBatch};

/// A memory store whose reads of one chunk fail while `failing` is set, counting them.
struct OneBadChunk {
    inner: MemoryStore,
    key: ChunkKey,
    failing: AtomicBool,
    reads: AtomicU64,
}

impl ChunkStore for OneBadChunk {
    fn world_id(&self) -> strata_core::WorldId {
        self.inner.world_id()
    }
    fn get_record(&self, key: strata_core::MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        if key == self.key.morton() {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("injected: the chunk's node is down".into()));
            }
        }
        self.inner.get_record(key)
    }
    fn scan(
        &self,
        range: std::ops::RangeInclusive<strata_core::MortonKey>,
        visit: &mut strata_core::store::ScanVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.inner.scan(range, visit)
    }
    fn commit(&self, batch: &WriteBatch) -> Result<strata_core::CommitReceipt, StoreError> {
        self.inner.commit(batch)
    }
}

#[test]
fn a_failing_load_backs_off_and_loads_once_the_store_heals() {
    let key = ChunkKey::new(0, 0, 0);
    let store =
        Arc::new(OneBadChunk { inner: MemoryStore::new(), key, failing: true.into(), reads: AtomicU64::new(0) });
    let handle: Arc<dyn ChunkStore> = store.clone();
    let mut app = flat_app_with(|plugin| plugin.with_store(handle), small_view(), 0);
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0)));
    wait_started(&mut app);
    run_until(&mut app, 200, "the first failed read", |_| store.reads.load(Ordering::SeqCst) > 0);
    // 100 frames of 16 ms (1.6 s of `Time<Real>`): retries after 0.1, 0.2, 0.4 and 0.8 s at
    // most (fewer when the loads' tasks are slow to run), not one a frame.
    for _ in 0..100 {
        app.update();
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
    let reads = store.reads.load(Ordering::SeqCst);
    let stats = app.world().resource::<StrataStreaming>().stats();
    assert!((2..=7).contains(&reads), "{reads} reads in 100 frames: {stats:?}");
    // Every failed read is counted, one still in flight a frame or two later (the next retry
    // is at least 0.8 s away).
    run_until(&mut app, 20, "every failed read counted as a load error", |a| {
        a.world().resource::<StrataStreaming>().stats().load_errors == store.reads.load(Ordering::SeqCst)
    });
    assert!(!app.world().resource::<StrataWorld>().world.is_resident(key));
    store.failing.store(false, Ordering::SeqCst);
    // The next try is at most LOAD_RETRY_MAX (5 s, 313 frames) away.
    run_until(&mut app, 1000, "the chunk loads once the store heals", |a| {
        a.world().resource::<StrataWorld>().world.is_resident(key)
    });
    assert_eq!(app.world().resource::<StrataStreaming>().stats().cooling_loads, 0);
}

/// A store whose reads of chunks at `x ≥ far_x` fail (an outage far away), or panic at one key.
struct Outage {
    inner: MemoryStore,
    far_x: i32,
    far_reads: AtomicU64,
    panic_at: Option<ChunkKey>,
}

impl ChunkStore for Outage {
    fn world_id(&self) -> strata_core::WorldId {
        self.inner.world_id()
    }
    fn get_record(&self, key: strata_core::MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        let chunk = key.to_chunk();
        if Some(chunk) == self.panic_at {
            panic!("injected: a bug in the store");
        }
        if chunk.x >= self.far_x {
            // Counted where systems run (the exit commit's loads), not on the I/O and async
            // compute pools (streaming's loads, which retry with their back-off).
            let thread = std::thread::current();
            if !thread.name().is_some_and(|n| n.starts_with("IO Task Pool") || n.starts_with("Async Compute")) {
                self.far_reads.fetch_add(1, Ordering::SeqCst);
            }
            return Err(StoreError::Unavailable("injected: the far shard is down".into()));
        }
        self.inner.get_record(key)
    }
    fn scan(
        &self,
        range: std::ops::RangeInclusive<strata_core::MortonKey>,
        visit: &mut strata_core::store::ScanVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.inner.scan(range, visit)
    }
    fn commit(&self, batch: &WriteBatch) -> Result<strata_core::CommitReceipt, StoreError> {
        self.inner.commit(batch)
    }
}

/// A store read that panics (a bug) fails that load; the app keeps running and streaming.
#[test]
fn a_panicking_store_read_fails_the_load_not_the_app() {
    let bad = ChunkKey::new(0, 0, 0);
    let store =
        Arc::new(Outage { inner: MemoryStore::new(), far_x: i32::MAX, far_reads: 0.into(), panic_at: Some(bad) });
    let handle: Arc<dyn ChunkStore> = store.clone();
    let mut app = flat_app_with(|plugin| plugin.with_store(handle), small_view(), 0);
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0)));
    wait_started(&mut app);
    run_until(&mut app, 400, "the panicking load to be counted as failed", |a| {
        a.world().resource::<StrataStreaming>().stats().load_errors > 0
    });
    run_until(&mut app, 400, "other chunks to load", |a| {
        a.world().resource::<StrataWorld>().world.is_resident(ChunkKey::new(1, 0, 0))
    });
}

/// Exiting with edits that wait for chunks of a shard that is down loads them only until the
/// first load fails (each would fail after the store's timeout: the exit hung for minutes),
/// and commits everything else.
#[test]
fn exiting_during_an_outage_stops_at_the_first_failed_load() {
    let far_x = 100;
    let store = Arc::new(Outage { inner: MemoryStore::new(), far_x, far_reads: 0.into(), panic_at: None });
    let handle: Arc<dyn ChunkStore> = store.clone();
    let config = StrataConfig { commit_interval_s: 3600.0, ..small_view() };
    let mut app = flat_app_with(|plugin| plugin.with_store(handle), config, 0);
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0)));
    wait_started(&mut app);
    let near = VoxelPos::new(5, 1, 5);
    {
        let sw = app.world_mut().resource_mut::<StrataWorld>();
        sw.world.set_voxel(near, MaterialId(9));
        for i in 0..5 {
            sw.world.set_voxel(VoxelPos::new((far_x + 10 * i) * 32, 1, 0), MaterialId(9));
        }
    }
    run_until(&mut app, 400, "the far edits to wait for their chunks", |a| {
        a.world().resource::<StrataWorld>().world.awaited_chunks().len() == 5
    });
    for _ in 0..5 {
        app.update();
    }
    let before = store.far_reads.load(Ordering::SeqCst);
    app.world_mut().write_message(AppExit::Success);
    app.update();
    assert_eq!(store.far_reads.load(Ordering::SeqCst) - before, 1, "one failed load ends the exit's loading");
    let stored = store.inner.get(near.chunk()).unwrap().expect("the near edit is committed");
    assert_eq!(stored.get(near.local().index()), MaterialId(9));
}
