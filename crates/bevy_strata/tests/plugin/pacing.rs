//! The pipeline cannot stall: whatever its caps (`max_tasks_in_flight`, `max_results_per_frame`,
//! `apply_budget_ms`) within their valid ranges, a LOD-0 view completes, and no chunk is loaded
//! twice while its first load waits to be applied. Once, with 256 tasks in flight and 64
//! results per frame, finished loads not applied yet were handed out again, those duplicates
//! outran the main thread (loads were applied first, under one count cap) and the first view
//! never came.

use crate::common::{flat_app, flat_app_with, small_view};
use bevy::prelude::*;
use bevy_strata::StrataStreaming;
use bevy_strata::prelude::*;
use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use strata_core::store::ScanVisitor;
use strata_core::{ChunkStore, CommitReceipt, MemoryStore, MortonKey, StoreError, WorldId, WriteBatch};

/// A memory store counting the reads of each chunk's record (every chunk load reads the store
/// first, then asks the generator if nothing is stored).
#[derive(Default)]
struct ReadCounter {
    inner: MemoryStore,
    reads: Mutex<HashMap<MortonKey, u32>>,
}

impl ChunkStore for ReadCounter {
    fn world_id(&self) -> WorldId {
        self.inner.world_id()
    }
    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        *self.reads.lock().unwrap().entry(key).or_default() += 1;
        self.inner.get_record(key)
    }
    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        self.inner.scan(range, visit)
    }
    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        self.inner.commit(batch)
    }
}

/// Frames until the view around the origin is complete (every shown node meshed, nothing in
/// flight), at most `limit`.
fn frames_to_first_view(config: StrataConfig, limit: usize) -> Option<usize> {
    let mut app = flat_app(config, 5);
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0)));
    for frame in 1..=limit {
        app.update();
        let st = app.world().resource::<StrataStreaming>();
        if st.plan().shown_len() > 0 && st.is_idle() {
            return Some(frame);
        }
        // Let the task pools' threads run between frames, as real frames do.
        std::thread::yield_now();
    }
    None
}

/// Every combination of the caps' extremes completes a first view. (The 64-results /
/// 256-tasks livelock itself needed the fly-through's 7,153-chunk view at 60 frames per second
/// to show — `strata_flythrough --lod0 --max-tasks 256 --max-results 64` never reached a first
/// view before the fix, and does in ~4 s now; its cause, finished loads handed out again, is
/// what `a_chunk_waiting_to_be_applied_is_not_loaded_again` catches at this scale.)
#[test]
fn no_combination_of_the_throttle_caps_stalls_the_first_view() {
    // LOD 0 only: every chunk of the view is loaded and meshed (~900 chunks and their ring).
    let base = StrataConfig { lod_max_level: 0, view_distance: 112.0, ..small_view() };
    let mut report = Vec::new();
    for (tasks, results, budget_ms) in [
        (1024, 4096, 3.0),
        (256, 64, 3.0),
        (64, 256, 3.0),
        (4096, 1, 3.0),
        (1, 4096, 3.0),
        (1, 1, 0.1),
        (4096, 65_536, 0.1),
    ] {
        let config = StrataConfig {
            max_tasks_in_flight: tasks,
            max_results_per_frame: results,
            apply_budget_ms: budget_ms,
            ..base.clone()
        };
        config.validate().expect("within the documented ranges");
        let frames = frames_to_first_view(config, 40_000);
        report.push(format!("{tasks} tasks, {results} results, {budget_ms} ms: {frames:?} frames"));
        assert!(frames.is_some(), "the first view never came:\n{}", report.join("\n"));
    }
    eprintln!("{}", report.join("\n"));
}

/// The pipeline keeps more than a fixed handful of tasks busy when the workers are fast, and
/// never lets finished results pile up beyond what it aims to keep in flight.
#[test]
fn work_in_flight_follows_the_workers_and_never_outruns_the_main_thread() {
    let config = StrataConfig { lod_max_level: 0, view_distance: 112.0, ..small_view() };
    let config = StrataConfig { max_tasks_in_flight: 1024, max_results_per_frame: 2, ..config };
    let mut app = flat_app(config, 5);
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0)));
    let (mut most, mut peak_target) = (0, 0);
    for _ in 0..20_000 {
        app.update();
        let st = app.world().resource::<StrataStreaming>();
        let s = st.stats();
        // What is in flight and what waits to be applied only grows by dispatches, each up to
        // its target: it never exceeds the largest target so far (the target itself falls as
        // fast as tasks slow down, e.g. when other tests share the cores).
        peak_target = peak_target.max(s.in_flight_target);
        most = most.max(st.tasks_in_flight() + st.ready_depth());
        assert!(
            st.tasks_in_flight() + st.ready_depth() <= peak_target,
            "{} in flight + {} ready, largest target {peak_target}",
            st.tasks_in_flight(),
            st.ready_depth()
        );
        if st.plan().shown_len() > 0 && st.is_idle() {
            assert!(s.in_flight_target >= 4, "at least two per worker: {s:?}");
            assert!(most > 16, "never more than a handful in flight ({most}): the workers idled");
            return;
        }
        std::thread::yield_now();
    }
    panic!("the view never completed");
}

/// Every chunk of a first view is read once, however the caps let results wait: a load that
/// finished and waits to be applied still counts as in flight, so nodes that look for its data
/// meanwhile do not load it again.
#[test]
fn a_chunk_waiting_to_be_applied_is_not_loaded_again() {
    for (tasks, results) in [(256, 1), (256, 64), (1024, 4096)] {
        let store = Arc::new(ReadCounter::default());
        let config = StrataConfig {
            lod_max_level: 0,
            view_distance: 112.0,
            max_tasks_in_flight: tasks,
            max_results_per_frame: results,
            ..small_view()
        };
        let mut app = flat_app_with(|p| p.with_store(store.clone()), config, 5);
        app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0)));
        crate::common::run_until(&mut app, 40_000, "the first view", |a| {
            let st = a.world().resource::<StrataStreaming>();
            st.plan().shown_len() > 0 && st.is_idle()
        });
        let reads = store.reads.lock().unwrap();
        let twice: Vec<_> = reads.iter().filter(|(_, n)| **n > 1).map(|(k, n)| (k.to_chunk(), *n)).collect();
        assert!(reads.len() > 300, "{tasks}/{results}: only {} chunks read", reads.len());
        assert!(
            twice.is_empty(),
            "{tasks} tasks, {results} results: {} of {} chunks read more than once: {:?}",
            twice.len(),
            reads.len(),
            &twice[..twice.len().min(8)]
        );
    }
}
