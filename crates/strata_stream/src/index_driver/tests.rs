use super::*;
use proptest::prelude::*;
use std::collections::HashSet;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use strata_core::store::{CommitReceipt, ScanVisitor, SummaryVisitor};
use strata_core::{DenseChunk, FlatGenerator, MaterialId, MemoryStore, MortonKey, WorldId, WriteBatch};
use strata_index::{IndexConfig, IndexSnapshot};

fn generator() -> Arc<FlatGenerator> {
    Arc::new(FlatGenerator { height: 3, material: MaterialId(1) })
}

/// Six chunks across root borders on x (32) and y (0).
const KEYS: [(i32, i32, i32); 6] = [(30, 0, 0), (31, 0, 0), (32, 0, 0), (33, -1, 0), (31, -1, 1), (32, 1, -1)];

fn key(i: usize) -> ChunkKey {
    let (x, y, z) = KEYS[i % KEYS.len()];
    ChunkKey::new(x, y, z)
}

/// Ground of a height and material the seed picks, with a wall of another material.
fn content(seed: u32) -> Chunk {
    let h = (seed % 33) as u8;
    let m = 2 + (seed / 33 % 5) as u16;
    let mut c = Chunk::Dense(DenseChunk::from_fn(|p| {
        MaterialId(match () {
            _ if p.x == h % 32 => m + 1,
            _ if p.y < h => m,
            _ => 0,
        })
    }));
    c.normalize();
    c
}

/// A store whose scans fail while `failing` is set.
struct FlakyScans {
    inner: MemoryStore,
    failing: AtomicBool,
}

impl FlakyScans {
    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::Relaxed) { Err(StoreError::Unavailable("injected".into())) } else { Ok(()) }
    }
}

impl ChunkStore for FlakyScans {
    fn world_id(&self) -> WorldId {
        self.inner.world_id()
    }
    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_record(key)
    }
    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        self.check()?;
        self.inner.scan(range, visit)
    }
    fn scan_summaries(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut SummaryVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.scan_summaries(range, visit)
    }
    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        self.inner.commit(batch)
    }
}

/// A store holding `stored` (key index, seed) and, if given, a record that does not decode.
fn store_with(stored: &[(usize, u32)], corrupt: Option<usize>) -> Arc<FlakyScans> {
    let inner = MemoryStore::new();
    let mut batch = WriteBatch::new();
    for (k, seed) in stored {
        batch.put(key(*k), &content(*seed));
    }
    if let Some(k) = corrupt {
        batch.put_record(key(k).morton(), b"not a record");
    }
    inner.commit(&batch).unwrap();
    Arc::new(FlakyScans { inner, failing: AtomicBool::new(false) })
}

fn driver(store: Arc<FlakyScans>) -> IndexDriver {
    IndexDriver::new(IndexWriter::new(generator(), IndexConfig::default()), store, 12)
}

/// Runs batches until nothing is queued.
fn drain(d: &mut IndexDriver) -> Vec<IndexPublished> {
    let mut out = Vec::new();
    while let Some(batch) = d.take_batch() {
        out.push(d.finish_batch(batch.run()));
    }
    out
}

#[derive(Clone, Debug)]
enum Step {
    Load(usize, u32),
    Change(usize, u32),
    Release(usize),
    /// Ask for the stored chunks under the node of level `.1` holding key `.0`.
    Scan(usize, u32),
    /// Take a batch (if the writer is idle) and run it on a thread.
    Take,
    /// Wait for the batch out and hand it back.
    Finish,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..KEYS.len(), any::<u32>()).prop_map(|(k, s)| Step::Load(k, s)),
        3 => (0..KEYS.len(), any::<u32>()).prop_map(|(k, s)| Step::Change(k, s)),
        2 => (0..KEYS.len()).prop_map(Step::Release),
        2 => (0..KEYS.len(), 1u32..=7).prop_map(|(k, l)| Step::Scan(k, l)),
        2 => Just(Step::Take),
        2 => Just(Step::Finish),
    ]
}

/// The index facts streaming reads, per known chunk and every node above it up to the roots.
fn facts(s: &IndexSnapshot) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..KEYS.len() {
        let k = key(i);
        out.push(format!("{k:?} chunk {:?} released {}", s.chunk(k), s.is_released(k)));
        for level in 0..=ROOT_LEVEL {
            let id = NodeId::containing(k, level);
            out.push(format!("{id:?} {:?} {:?}", s.summary(id), s.histogram(id).map(|h| h.total())));
        }
    }
    let mut entries: Vec<_> = s.rtree_entries().map(|e| format!("{:?} {:?}", e.key, e.summary)).collect();
    entries.sort();
    out.extend(entries);
    out
}

/// Whether `node` or an ancestor is in `done`, by walking up to the level where scans stop
/// merging (the driver merges eight siblings; the model keeps every node).
fn covered(done: &HashSet<NodeId>, node: NodeId) -> bool {
    let top = if node.level > ROOT_LEVEL { 12 } else { ROOT_LEVEL };
    let mut n = node;
    loop {
        if done.contains(&n) {
            return true;
        }
        if n.level >= top {
            return false;
        }
        n = n.parent();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Updates queued while batches run on another thread, batches taken and handed back at
    /// random points: the published index equals a writer given the same updates one by one in
    /// the order queued, and scans are queued once, until a finished scan covers the node.
    #[test]
    fn batches_fold_updates_in_the_order_queued(
        stored in proptest::collection::vec((0..KEYS.len(), any::<u32>()), 0..5),
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let store = store_with(&stored, None);
        let mut d = driver(store.clone());
        let mut reference = IndexWriter::new(generator(), IndexConfig::default());
        // The model of the scan bookkeeping: finished scans, and scans queued or running.
        let (mut done, mut pending) = (HashSet::new(), HashSet::new());
        let mut out: Option<JoinHandle<IndexBatchDone>> = None;
        let mut version = 0u64;
        let finish = |d: &mut IndexDriver, out: &mut Option<JoinHandle<IndexBatchDone>>,
                          done: &mut HashSet<NodeId>, pending: &mut HashSet<NodeId>| {
            if let Some(h) = out.take() {
                let published = d.finish_batch(h.join().unwrap());
                assert!(published.failed_scans.is_empty() && published.newly_skipped.is_empty());
                for n in published.scanned {
                    pending.remove(&n);
                    done.insert(n);
                }
            }
        };
        for s in &steps {
            match *s {
                Step::Load(k, seed) => {
                    let c = Arc::new(content(seed));
                    d.queue_loaded(key(k), c.clone(), ChunkOrigin::Store, ProcessHistory::default());
                    reference.insert_loaded_from(key(k), c, ChunkOrigin::Store, ProcessHistory::default());
                }
                Step::Change(k, seed) => {
                    version += 1;
                    let change = ChunkChange {
                        key: key(k),
                        version,
                        chunk: Arc::new(content(seed)),
                        history: ProcessHistory::default(),
                        extent: strata_core::ChangeExtent::WHOLE,
                    };
                    reference.apply_change(&change);
                    d.queue_change(change);
                }
                Step::Release(k) => {
                    d.queue_release([key(k)]);
                    reference.release(key(k));
                }
                Step::Scan(k, level) => {
                    let node = NodeId::containing(key(k), level);
                    let before = d.queue_depth();
                    let is_covered = d.ensure_scanned(node);
                    prop_assert_eq!(is_covered, covered(&done, node), "{:?}", node);
                    let queued = d.queue_depth() > before;
                    prop_assert_eq!(queued, !is_covered && !pending.contains(&node), "{:?}", node);
                    if queued {
                        pending.insert(node);
                        if level > ROOT_LEVEL {
                            reference.scan_chunk_cells(store.as_ref(), node).unwrap();
                        } else {
                            reference.scan_stored(store.as_ref(), node).unwrap();
                        }
                    }
                }
                Step::Take => {
                    if out.is_none() {
                        let queued = d.queue_depth();
                        match d.take_batch() {
                            Some(batch) => {
                                prop_assert_eq!(batch.len(), queued);
                                prop_assert!(d.is_busy() && d.queue_depth() == 0);
                                out = Some(std::thread::spawn(move || batch.run()));
                            }
                            None => prop_assert_eq!(queued, 0),
                        }
                    } else {
                        prop_assert!(d.take_batch().is_none(), "a second batch while one is out");
                    }
                }
                Step::Finish => finish(&mut d, &mut out, &mut done, &mut pending),
            }
        }
        finish(&mut d, &mut out, &mut done, &mut pending);
        for published in drain(&mut d) {
            for n in published.scanned {
                pending.remove(&n);
            }
        }
        prop_assert!(pending.is_empty());
        prop_assert_eq!(d.queue_depth(), 0);
        prop_assert_eq!(facts(&d.reader().snapshot()), facts(&reference.publish()));
    }
}

/// A failed scan is reported, not counted as done, and queued again when asked for; once the
/// store answers, it covers the node and its descendants.
#[test]
fn a_failed_scan_is_reported_and_asked_again() {
    let store = store_with(&[(2, 40)], None);
    let mut d = driver(store.clone());
    let root = NodeId::containing(key(2), ROOT_LEVEL);
    store.failing.store(true, Ordering::Relaxed);
    assert!(!d.ensure_scanned(root));
    assert!(!d.ensure_scanned(root), "still not scanned");
    assert_eq!(d.queue_depth(), 1, "queued once");
    let published = drain(&mut d);
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].scanned, vec![root]);
    assert!(matches!(published[0].failed_scans.as_slice(), [(n, StoreError::Unavailable(_))] if *n == root));
    assert_eq!(d.scans(), 0);
    assert!(!d.reader().snapshot().is_released(key(2)), "nothing read");

    store.failing.store(false, Ordering::Relaxed);
    assert!(!d.ensure_scanned(root), "a failed scan does not cover the node");
    assert_eq!(d.queue_depth(), 1, "queued again");
    let published = drain(&mut d);
    assert!(published[0].failed_scans.is_empty());
    assert_eq!(d.scans(), 1);
    assert!(d.ensure_scanned(root) && d.ensure_scanned(NodeId::containing(key(2), 2)));
    assert_eq!(d.queue_depth(), 0);
    let snap = d.reader().snapshot();
    assert!(snap.is_released(key(2)), "the stored chunk is known, its voxels not held");
    assert_eq!(
        snap.summary(NodeId::containing(key(2), 0)).non_air_count,
        u64::from(content(40).summary().non_air_count)
    );
}

/// A record that does not decode is reported by the first scan that skips it, not again.
#[test]
fn a_record_that_does_not_decode_is_reported_once() {
    let store = store_with(&[(0, 7)], Some(1));
    let mut d = driver(store);
    let root = NodeId::containing(key(1), ROOT_LEVEL);
    for level in [1, ROOT_LEVEL] {
        d.ensure_scanned(NodeId::containing(key(1), level));
        let published = drain(&mut d);
        let skipped: Vec<ChunkKey> = published.iter().flat_map(|p| p.newly_skipped.iter().map(|(k, _)| *k)).collect();
        assert_eq!(skipped, if level == 1 { vec![key(1)] } else { vec![] }, "level {level}");
    }
    assert_eq!(d.skipped_records(), 1);
    assert!(d.ensure_scanned(root));
}

/// A batch that never comes back (it panicked) stops the index for good: no batch is handed out
/// again, what was published stays readable.
#[test]
fn a_lost_batch_stops_updates() {
    let mut d = driver(store_with(&[], None));
    d.queue_loaded(key(0), Arc::new(content(3)), ChunkOrigin::Store, ProcessHistory::default());
    drain(&mut d);
    let before = d.reader().snapshot().version();
    d.queue_change(ChunkChange {
        key: key(0),
        version: 1,
        chunk: Arc::new(content(4)),
        history: Default::default(),
        extent: strata_core::ChangeExtent::WHOLE,
    });
    let batch = d.take_batch().expect("a batch");
    drop(batch);
    d.lose_batch();
    assert!(d.is_lost() && !d.is_busy());
    d.queue_release([key(0)]);
    assert!(d.take_batch().is_none());
    assert_eq!(d.reader().snapshot().version(), before);
    assert_eq!(d.reader().snapshot().chunk(key(0)).as_deref(), Some(&content(3)));
}

#[test]
fn scanned_nodes_cover_descendants_and_merge_complete_siblings() {
    let mut s = ScannedNodes::up_to(ROOT_LEVEL);
    let parent = NodeId::new(2, ChunkKey::new(-1, 0, 3));
    for i in 0..7 {
        s.insert(parent.child(i));
        assert!(s.covers(parent.child(i)) && s.covers(parent.child(i).child(5)));
        assert!(!s.covers(parent), "not all children yet");
    }
    assert!(!s.covers(parent.child(7)));
    s.insert(parent.child(7));
    assert!(s.covers(parent) && s.covers(parent.child(7).child(0)));
    assert!(!s.covers(parent.parent()) && !s.covers(NodeId::new(2, ChunkKey::new(0, 0, 3))));
    assert_eq!(s.len(), 1, "eight children merged into their parent");
}
