use super::*;
use crate::generator::FlatGenerator;
use crate::store::MemoryStore;
use proptest::prelude::*;
use std::collections::HashMap;

fn flat_world(store: Arc<dyn ChunkStore>) -> World {
    World::new(store, Arc::new(FlatGenerator { height: 0, material: MaterialId(1) }), WorldConfig::default())
}

#[test]
fn reads_fall_back_to_generator_and_unedited_chunks_are_not_stored() {
    let store = Arc::new(MemoryStore::new());
    let mut w = flat_world(store.clone());
    assert_eq!(w.voxel(VoxelPos::new(5, 0, 5)).unwrap(), MaterialId(1));
    assert_eq!(w.voxel(VoxelPos::new(5, 40, 5)).unwrap(), MaterialId::AIR);
    w.commit().unwrap();
    assert_eq!(store.stats().unwrap().records, 0, "nothing edited, nothing stored");
    assert_eq!(w.stats().generated, 2);
}

#[test]
fn edits_apply_in_order_commit_and_reload() {
    // The reload is a new world on the same store (reopening a save file is `strata_redb`'s test).
    let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
    {
        let mut w = flat_world(store.clone());
        w.set_voxel(VoxelPos::new(1, 5, 1), MaterialId(3));
        w.set_voxel(VoxelPos::new(1, 5, 1), MaterialId(4));
        w.set_many(vec![(VoxelPos::new(-1, -1, -1), MaterialId::AIR), (VoxelPos::new(40, 2, 0), MaterialId(9))]);
        assert_eq!(w.voxel(VoxelPos::new(1, 5, 1)).unwrap(), MaterialId::AIR, "not applied yet");
        assert_eq!(w.stats().pending_edits, 3);
        let r = w.apply().unwrap();
        assert_eq!((r.edits, r.voxels, r.chunks), (3, 4, 3));
        assert_eq!(w.voxel(VoxelPos::new(1, 5, 1)).unwrap(), MaterialId(4));
        assert_eq!(w.stats().dirty_chunks, 3);
        let receipt = w.commit().unwrap();
        assert_eq!(receipt.entries, 3);
        assert_eq!(w.stats().dirty_chunks, 0);
    }
    let mut w = flat_world(store);
    assert_eq!(w.voxel(VoxelPos::new(1, 5, 1)).unwrap(), MaterialId(4));
    assert_eq!(w.voxel(VoxelPos::new(-1, -1, -1)).unwrap(), MaterialId::AIR);
    assert_eq!(w.voxel(VoxelPos::new(40, 2, 0)).unwrap(), MaterialId(9));
    assert_eq!(w.voxel(VoxelPos::new(2, 5, 1)).unwrap(), MaterialId::AIR);
    assert_eq!(w.stats().loaded_from_store, 3);
}

#[test]
fn fills_collapse_to_uniform_and_match_brute_force() {
    let mut w = flat_world(Arc::new(MemoryStore::new()));
    w.fill_box(VoxelPos::new(-32, -32, -32), VoxelPos::new(31, 31, 31), MaterialId(7)).unwrap();
    w.apply().unwrap();
    for k in [ChunkKey::new(-1, -1, -1), ChunkKey::new(0, 0, 0)] {
        assert_eq!(*w.chunk(k).unwrap(), Chunk::Uniform(MaterialId(7)));
    }
    w.fill_sphere(VoxelPos::new(100, 0, 0), 40.0, MaterialId(8)).unwrap();
    w.apply().unwrap();
    for p in [VoxelPos::new(100, 0, 0), VoxelPos::new(140, 0, 0), VoxelPos::new(100, -40, 0)] {
        assert_eq!(w.voxel(p).unwrap(), MaterialId(8), "{p:?}");
    }
    assert_ne!(w.voxel(VoxelPos::new(141, 0, 0)).unwrap(), MaterialId(8));
    assert_ne!(w.voxel(VoxelPos::new(129, 29, 0)).unwrap(), MaterialId(8));
    // Writing the generator's own content back collapses the chunk to uniform again.
    w.fill_box(VoxelPos::new(0, 0, 0), VoxelPos::new(31, 31, 31), MaterialId(1)).unwrap();
    w.set_voxel(VoxelPos::new(3, 3, 3), MaterialId(2));
    w.set_voxel(VoxelPos::new(3, 3, 3), MaterialId(1));
    w.apply().unwrap();
    assert_eq!(*w.chunk(ChunkKey::new(0, 0, 0)).unwrap(), Chunk::Uniform(MaterialId(1)));
}

#[test]
fn change_feed_reports_each_changed_chunk_once_per_apply() {
    let mut w = flat_world(Arc::new(MemoryStore::new()));
    let feed = w.subscribe();
    w.set_many((0..100).map(|i| (VoxelPos::new(i, 0, 0), MaterialId(2))).collect());
    let r = w.apply().unwrap();
    let changes: Vec<ChunkChange> = feed.try_iter().collect();
    assert_eq!(changes.len(), 4);
    assert!(changes.iter().all(|c| c.version == r.version));
    assert_eq!(changes[0].chunk.get(LocalPos::new(0, 0, 0).index()), MaterialId(2));
    w.apply().unwrap();
    assert_eq!(feed.try_iter().count(), 0, "an empty apply publishes nothing");
    assert_eq!(w.version(), r.version);
}

#[test]
fn cache_respects_budget_but_pins_dirty_chunks() {
    let mut w = World::new(
        Arc::new(MemoryStore::new()),
        Arc::new(FlatGenerator { height: 16, material: MaterialId(1) }),
        WorldConfig { cache_budget_bytes: 4 * 65536, ..WorldConfig::default() },
    );
    for x in 0..8 {
        w.set_voxel(VoxelPos::new(x * 32, 0, 0), MaterialId(19));
    }
    w.apply().unwrap();
    assert_eq!(w.stats().dirty_chunks, 8, "dirty chunks are never evicted");
    for x in 0..8 {
        assert_eq!(w.voxel(VoxelPos::new(x * 32, 0, 0)).unwrap(), MaterialId(19));
    }
    w.commit().unwrap();
    for x in 100..140 {
        w.chunk(ChunkKey::new(x, 0, 0)).unwrap();
    }
    let s = w.stats();
    assert!(s.resident_bytes <= 4 * 65536, "{s:?}");
    assert!(s.evictions > 0);
    for x in 0..8 {
        assert_eq!(w.voxel(VoxelPos::new(x * 32, 0, 0)).unwrap(), MaterialId(19), "re-read from the store");
    }
}

#[test]
fn edits_from_other_threads() {
    let mut w = flat_world(Arc::new(MemoryStore::new()));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = w.edit_sender();
            std::thread::spawn(move || {
                for i in 0..250 {
                    s.set(VoxelPos::new(t * 1000 + i, 10, 0), MaterialId(5));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let r = w.apply().unwrap();
    assert_eq!(r.voxels, 1000);
    assert_eq!(w.voxel(VoxelPos::new(3249, 10, 0)).unwrap(), MaterialId(5));
}

/// A store whose reads fail on demand, to check that failing applies lose nothing.
struct FlakyStore {
    inner: MemoryStore,
    fail: std::sync::atomic::AtomicBool,
}

impl ChunkStore for FlakyStore {
    fn world_id(&self) -> crate::WorldId {
        self.inner.world_id()
    }
    fn get_record(&self, key: crate::MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::backend("injected"));
        }
        self.inner.get_record(key)
    }
    fn scan(
        &self,
        r: std::ops::RangeInclusive<crate::MortonKey>,
        v: &mut crate::store::ScanVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.inner.scan(r, v)
    }
    fn commit(&self, b: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::backend("injected"));
        }
        self.inner.commit(b)
    }
}

#[test]
fn store_failures_lose_no_edit() {
    let store = Arc::new(FlakyStore { inner: MemoryStore::new(), fail: true.into() });
    let mut w = flat_world(store.clone());
    w.set_voxel(VoxelPos::new(0, 5, 0), MaterialId(2));
    w.set_voxel(VoxelPos::new(64, 5, 0), MaterialId(3));
    assert!(w.apply().is_err());
    assert!(w.commit().is_err());
    assert_eq!(w.stats().pending_edits, 2);
    store.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    w.commit().unwrap();
    assert_eq!(w.voxel(VoxelPos::new(0, 5, 0)).unwrap(), MaterialId(2));
    assert_eq!(w.voxel(VoxelPos::new(64, 5, 0)).unwrap(), MaterialId(3));
    assert_eq!(store.inner.stats().unwrap().records, 2);
    // A failed commit keeps chunks dirty for the next one.
    w.set_voxel(VoxelPos::new(0, 6, 0), MaterialId(4));
    w.apply().unwrap();
    store.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(w.commit().is_err());
    assert_eq!(w.stats().dirty_chunks, 1);
    store.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    w.commit().unwrap();
    assert_eq!(w.stats().dirty_chunks, 0);
}

/// A memory store that counts its record reads.
#[derive(Default)]
struct CountingStore {
    inner: MemoryStore,
    reads: std::sync::atomic::AtomicUsize,
}

impl CountingStore {
    fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl ChunkStore for CountingStore {
    fn world_id(&self) -> crate::WorldId {
        self.inner.world_id()
    }
    fn get_record(&self, key: crate::MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.get_record(key)
    }
    fn scan(
        &self,
        r: std::ops::RangeInclusive<crate::MortonKey>,
        v: &mut crate::store::ScanVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.scan(r, v)
    }
    fn commit(&self, b: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        self.inner.commit(b)
    }
}

/// Loads `keys` as a worker thread would and hands them in.
fn hand_in(w: &mut World, keys: impl IntoIterator<Item = ChunkKey>) {
    let source = w.source();
    for key in keys {
        assert_eq!(w.insert_loaded(key, source.load(key).unwrap()), HandIn::Inserted, "{key:?}");
    }
}

fn awaited(w: &World) -> Vec<ChunkKey> {
    let mut keys: Vec<_> = w.awaited_chunks().collect();
    keys.sort_unstable_by_key(|k| k.morton());
    keys
}

#[test]
fn a_deferred_apply_reads_nothing_and_applies_each_edit_whole_once_its_chunks_are_handed_in() {
    let store = Arc::new(CountingStore::default());
    let (a, b, c, d) = (ChunkKey::new(0, 0, 0), ChunkKey::new(1, 0, 0), ChunkKey::new(4, 0, 0), ChunkKey::new(5, 0, 0));
    {
        // A stored edit in b, so that a load reads the store.
        let mut other = flat_world(store.clone());
        other.set_voxel(VoxelPos::new(40, 9, 0), MaterialId(9));
        other.commit().unwrap();
    }
    let mut w = flat_world(store.clone());
    w.set_edit_loading(EditLoading::Deferred);
    let feed = w.subscribe();
    hand_in(&mut w, [a]);
    let reads = store.reads();
    let (in_a, in_b) = (VoxelPos::new(1, 1, 1), VoxelPos::new(33, 1, 1));
    w.set_voxel(VoxelPos::new(2, 2, 2), MaterialId(5)); // a is resident: applied now
    w.set_many(vec![(in_a, MaterialId(6)), (in_b, MaterialId(6))]); // needs b: waits, writes nothing
    w.set_voxel(in_a, MaterialId(7)); // after the list, same chunks: waits behind it
    // Covers c whole (replaced, never read) and d in part (awaited).
    w.fill_box(c.min_voxel(), VoxelPos::new(d.min_voxel().x, 31, 31), MaterialId(8)).unwrap();
    let report = w.apply().unwrap();
    assert_eq!(store.reads(), reads, "a deferred apply reads nothing");
    assert_eq!((report.edits, report.held_edits, report.awaited_chunks), (1, 3, 2), "{report:?}");
    assert_eq!(awaited(&w), vec![b, d]);
    let a_now = w.resident_chunk(a).unwrap();
    assert_eq!(a_now.get(VoxelPos::new(2, 2, 2).local().index()), MaterialId(5));
    assert_eq!(a_now.get(in_a.local().index()), MaterialId::AIR, "the waiting list wrote nothing in a");
    assert_eq!(feed.try_iter().map(|c| c.key).collect::<Vec<_>>(), vec![a]);
    assert!(w.prepare_commit().unwrap().held_edits() == 3 && store.reads() == reads, "nor does preparing a commit");
    // The loads arrive (on a worker): they stay until the edits apply.
    hand_in(&mut w, [b, d]);
    assert!(!w.evict(b), "an awaited chunk stays resident");
    let report = w.apply().unwrap();
    assert_eq!((report.edits, report.held_edits, report.awaited_chunks), (3, 0, 0), "{report:?}");
    assert_eq!(w.awaited_chunks().len(), 0);
    assert_eq!(w.voxel(in_a).unwrap(), MaterialId(7), "edits to one chunk keep their order");
    assert_eq!(w.voxel(in_b).unwrap(), MaterialId(6));
    assert_eq!(w.voxel(VoxelPos::new(40, 9, 0)).unwrap(), MaterialId(9), "b came from the store");
    assert_eq!(w.voxel(VoxelPos::new(c.min_voxel().x + 5, 20, 9)).unwrap(), MaterialId(8));
    assert_eq!(w.voxel(VoxelPos::new(d.min_voxel().x, 20, 9)).unwrap(), MaterialId(8));
    assert_eq!(w.voxel(VoxelPos::new(d.min_voxel().x + 1, 20, 9)).unwrap(), MaterialId::AIR);
    w.commit().unwrap();
    assert!(w.evict(b), "evictable once applied and committed");
}

#[test]
fn a_blocking_commit_applies_what_deferred_edits_wait_for() {
    let store = Arc::new(MemoryStore::new());
    let mut w = flat_world(store.clone());
    w.set_edit_loading(EditLoading::Deferred);
    let far = VoxelPos::new(9_000, -40, 77);
    w.set_voxel(far, MaterialId(4));
    assert_eq!(w.apply().unwrap().held_edits, 1);
    w.commit().unwrap();
    assert_eq!((w.stats().pending_edits, w.awaited_chunks().len()), (0, 0));
    assert_eq!(flat_world(store).voxel(far).unwrap(), MaterialId(4));
}

#[derive(Clone, Debug)]
enum Op {
    Set(i32, i32, i32, u16),
    Box(i32, i32, i32, i32, i32, i32, u16),
    Sphere(i32, i32, i32, u8, u16),
    Many(Vec<(i32, i32, i32, u16)>),
    Apply,
    Commit,
}

fn op() -> impl Strategy<Value = Op> {
    let c = -40i32..40;
    prop_oneof![
        6 => (c.clone(), c.clone(), c.clone(), 0u16..4).prop_map(|(x, y, z, m)| Op::Set(x, y, z, m)),
        1 => (c.clone(), c.clone(), c.clone(), 0i32..40, 0i32..40, 0i32..40, 0u16..4).prop_map(|(x, y, z, a, b, d, m)| Op::Box(x, y, z, x + a, y + b, z + d, m)),
        1 => (c.clone(), c.clone(), c, 0u8..20, 0u16..4).prop_map(|(x, y, z, r, m)| Op::Sphere(x, y, z, r, m)),
        2 => proptest::collection::vec((-40i32..40, -40i32..40, -8i32..8, 0u16..4), 200..700).prop_map(Op::Many),
        1 => Just(Op::Apply),
        1 => Just(Op::Commit),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// The world agrees with a per-voxel HashMap model, before and after a reload from the store.
    #[test]
    /// With `deferred` loading, applies and prepared commits read nothing, and after each
    /// apply every other awaited chunk is handed in (loaded as a worker would).
    fn world_matches_brute_force_model(ops in proptest::collection::vec(op(), 1..30), deferred in any::<bool>()) {
        let store = Arc::new(CountingStore::default());
        let generator = FlatGenerator { height: 0, material: MaterialId(1) };
        let mut w = flat_world(store.clone());
        if deferred {
            w.set_edit_loading(EditLoading::Deferred);
        }
        let mut model: HashMap<VoxelPos, MaterialId> = HashMap::new();
        for op in &ops {
            match *op {
                Op::Set(x, y, z, m) => { w.set_voxel(VoxelPos::new(x, y, z), MaterialId(m)); model.insert(VoxelPos::new(x, y, z), MaterialId(m)); }
                Op::Box(x0, y0, z0, x1, y1, z1, m) => {
                    w.fill_box(VoxelPos::new(x0, y0, z0), VoxelPos::new(x1, y1, z1), MaterialId(m)).unwrap();
                    for x in x0..=x1 { for y in y0..=y1 { for z in z0..=z1 { model.insert(VoxelPos::new(x, y, z), MaterialId(m)); } } }
                }
                Op::Sphere(x, y, z, r, m) => {
                    w.fill_sphere(VoxelPos::new(x, y, z), r as f32, MaterialId(m)).unwrap();
                    let r = r as i32;
                    for dx in -r..=r { for dy in -r..=r { for dz in -r..=r {
                        if dx * dx + dy * dy + dz * dz <= r * r { model.insert(VoxelPos::new(x + dx, y + dy, z + dz), MaterialId(m)); }
                    } } }
                }
                Op::Many(ref list) => {
                    // Repeats of the same voxel must resolve in log order.
                    let edits: Vec<(VoxelPos, MaterialId)> = list.iter().map(|&(x, y, z, m)| (VoxelPos::new(x, y, z), MaterialId(m))).collect();
                    for (p, m) in &edits { model.insert(*p, *m); }
                    w.set_many(edits);
                }
                Op::Apply => {
                    let reads = store.reads();
                    w.apply().unwrap();
                    if deferred {
                        prop_assert_eq!(store.reads(), reads, "a deferred apply reads nothing");
                        let keys = awaited(&w);
                        hand_in(&mut w, keys.into_iter().step_by(2));
                    }
                }
                Op::Commit if deferred => {
                    let reads = store.reads();
                    let prepared = w.prepare_commit().unwrap();
                    prop_assert_eq!(store.reads(), reads, "preparing a deferred commit reads nothing");
                    let result = prepared.execute(store.as_ref());
                    w.finish_commit(prepared, result).unwrap();
                }
                Op::Commit => { w.commit().unwrap(); }
            }
        }
        w.commit().unwrap();
        let mut reloaded = flat_world(store);
        // Every voxel of every chunk an edit touched (so a write outside what an edit names is
        // caught too): the model's material, else the generator's.
        let touched: std::collections::BTreeSet<ChunkKey> = model.keys().map(|p| p.chunk()).collect();
        for key in touched {
            let (ours, again) = (w.chunk(key).unwrap(), reloaded.chunk(key).unwrap());
            let o = key.min_voxel();
            for (x, y, z) in (0..32u8).flat_map(|x| (0..32u8).flat_map(move |y| (0..32u8).map(move |z| (x, y, z)))) {
                let p = VoxelPos::new(o.x + i32::from(x), o.y + i32::from(y), o.z + i32::from(z));
                let want = model.get(&p).copied().unwrap_or_else(|| generator.material_at(p));
                let i = LocalPos::new(x, y, z).index();
                prop_assert_eq!(ours.get(i), want, "{:?}", p);
                prop_assert_eq!(again.get(i), want, "{:?} after a reload", p);
            }
        }
        // Untouched voxels still come from the generator.
        for p in [VoxelPos::new(-77, 0, 3), VoxelPos::new(90, 1, 90)] {
            if !model.contains_key(&p) {
                prop_assert_eq!(reloaded.voxel(p).unwrap(), generator.material_at(p));
            }
        }
    }
}

fn stamp(process: u8, step: u32) -> crate::ProcessStamp {
    crate::ProcessStamp { process: crate::ProcessId::new(process).unwrap(), step }
}

fn write(pos: VoxelPos, expect: u16, material: u16) -> crate::ProcessWrite {
    crate::ProcessWrite { pos, expect: MaterialId(expect), material: MaterialId(material) }
}

#[test]
fn process_batches_apply_all_or_nothing_and_record_history() {
    let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
    // Flat ground: y <= 0 is material 1. A grain moves from (31,0,0) (chunk 0) to (32,1,0) (chunk 1).
    let (from, to) = (VoxelPos::new(31, 0, 0), VoxelPos::new(32, 1, 0));
    {
        let mut w = flat_world(store.clone());
        let feed = w.subscribe();
        let moved = ProcessBatch { stamp: stamp(0, 7), writes: vec![write(from, 1, 0), write(to, 0, 1)] };
        w.push_edit(Edit::Process(moved.clone()));
        let r = w.apply().unwrap();
        assert_eq!((r.voxels, r.chunks, r.rejected_batches), (2, 2, 0));
        assert_eq!(w.voxel(from).unwrap(), MaterialId::AIR);
        assert_eq!(w.voxel(to).unwrap(), MaterialId(1));
        let changes: Vec<_> = feed.try_iter().collect();
        assert_eq!(changes.len(), 2);
        for c in &changes {
            assert_eq!(c.history.last_step(crate::ProcessId::new(0).unwrap()), Some(7), "{:?}", c.key);
        }
        // The same batch again is stale (`from` is air now): dropped whole, `to` keeps one grain.
        w.push_edit(Edit::Process(moved));
        // A player edit in between is never overwritten by a batch computed before it.
        w.set_voxel(VoxelPos::new(5, 0, 5), MaterialId(19));
        w.push_edit(Edit::Process(ProcessBatch {
            stamp: stamp(1, 2),
            writes: vec![write(VoxelPos::new(6, 0, 5), 1, 8), write(VoxelPos::new(5, 0, 5), 1, 8)],
        }));
        let r = w.apply().unwrap();
        assert_eq!(r.rejected_batches, 2);
        assert_eq!(w.voxel(VoxelPos::new(5, 0, 5)).unwrap(), MaterialId(19));
        assert_eq!(w.voxel(VoxelPos::new(6, 0, 5)).unwrap(), MaterialId(1), "nothing of a rejected batch lands");
        assert_eq!(w.stats().rejected_process_batches, 2);
        assert_eq!(w.stats().process_batches, 1);
        // A player edit keeps the history; a later step of another process adds to it.
        w.set_voxel(VoxelPos::new(1, 1, 1), MaterialId(3));
        w.push_edit(Edit::Process(ProcessBatch {
            stamp: stamp(2, 40),
            writes: vec![write(VoxelPos::new(2, 1, 1), 0, 12)],
        }));
        w.apply().unwrap();
        w.commit().unwrap();
    }
    let (_, h0) = store.get_with_history(ChunkKey::new(0, 0, 0)).unwrap().unwrap();
    assert_eq!(h0.iter().collect::<Vec<_>>(), vec![stamp(0, 7), stamp(2, 40)]);
    let (_, h1) = store.get_with_history(ChunkKey::new(1, 0, 0)).unwrap().unwrap();
    assert_eq!(h1.iter().collect::<Vec<_>>(), vec![stamp(0, 7)]);
    let mut w = flat_world(store.clone());
    assert_eq!(w.voxel(to).unwrap(), MaterialId(1));
    assert_eq!(w.voxel(from).unwrap(), MaterialId::AIR);
    assert_eq!(w.resident_history(ChunkKey::new(0, 0, 0)), Some(h0));
    // The history survives a reload and a later commit of a player edit.
    w.set_voxel(VoxelPos::new(3, 3, 3), MaterialId(4));
    w.commit().unwrap();
    assert_eq!(store.get_with_history(ChunkKey::new(0, 0, 0)).unwrap().unwrap().1, h0);
}

#[test]
fn a_process_batch_over_an_unreadable_chunk_waits_and_loses_nothing() {
    let store = Arc::new(MemoryStore::new());
    let mut w = flat_world(store.clone());
    let key = ChunkKey::new(0, 0, 0);
    let mut bad = WriteBatch::new();
    bad.put_record(key.morton(), b"garbage");
    store.commit(&bad).unwrap();
    w.push_edit(Edit::Process(ProcessBatch {
        stamp: stamp(0, 1),
        writes: vec![write(VoxelPos::new(40, 0, 0), 1, 0), write(VoxelPos::new(1, 0, 0), 1, 0)],
    }));
    assert!(w.apply().is_err());
    assert_eq!(w.voxel(VoxelPos::new(40, 0, 0)).unwrap(), MaterialId(1), "nothing written before the failure");
    assert_eq!(w.stats().pending_edits, 1, "the batch waits for the next apply");
    let mut fix = WriteBatch::new();
    fix.delete(key);
    store.commit(&fix).unwrap();
    let r = w.apply().unwrap();
    assert_eq!((r.voxels, r.rejected_batches), (2, 0));
}

#[test]
fn tracked_evictions_name_every_chunk_that_left_the_cache_and_never_a_dirty_one() {
    let store = Arc::new(MemoryStore::new());
    let generator = Arc::new(FlatGenerator { height: 5, material: MaterialId(1) });
    // Room for four dense chunks.
    let mut w =
        World::new(store, generator, WorldConfig { cache_budget_bytes: 4 * 65536 + 1024, ..WorldConfig::default() });
    assert!(w.take_evicted().is_empty(), "not tracked yet");
    w.track_evictions();
    w.set_voxel(VoxelPos::new(0, 0, 0), MaterialId(3));
    w.apply().unwrap();
    for x in 1..12 {
        w.chunk(ChunkKey::new(x, 0, 0)).unwrap();
    }
    let evicted = w.take_evicted();
    assert!(!evicted.is_empty());
    assert!(!evicted.contains(&ChunkKey::new(0, 0, 0)), "dirty chunks stay");
    for k in &evicted {
        assert!(!w.is_resident(*k) || evicted.iter().filter(|e| *e == k).count() > 1, "{k:?} is still resident");
    }
    let resident = (0..12).filter(|x| w.is_resident(ChunkKey::new(*x, 0, 0))).count();
    assert_eq!(resident + evicted.len(), 12);
    assert!(w.take_evicted().is_empty(), "taken");
    assert!(w.evict(ChunkKey::new(11, 0, 0)));
    assert_eq!(w.take_evicted(), vec![ChunkKey::new(11, 0, 0)]);
}

/// One unreadable chunk holds back only the edits that may write it: the others are
/// applied and committed, and the held ones apply in their order once the chunk reads again.
#[test]
fn one_unreadable_chunk_holds_back_only_the_edits_that_touch_it() {
    let store = Arc::new(MemoryStore::new());
    let bad = ChunkKey::new(0, 0, 0);
    let mut batch = WriteBatch::new();
    batch.put_record(bad.morton(), b"garbage");
    store.commit(&batch).unwrap();
    let mut w = flat_world(store.clone());
    let (in_bad, elsewhere, behind) = (VoxelPos::new(1, 5, 1), VoxelPos::new(64, 5, 0), VoxelPos::new(40, 1, 1));
    w.set_voxel(in_bad, MaterialId(2)); // held: its chunk does not load
    w.set_voxel(elsewhere, MaterialId(3)); // chunk (2,0,0): applied
    w.fill_box(VoxelPos::new(20, 0, 0), VoxelPos::new(40, 3, 3), MaterialId(4)).unwrap(); // chunks 0 and 1: held
    w.set_voxel(behind, MaterialId(6)); // chunk 1, after the held box: held, to keep the order
    w.set_voxel(in_bad, MaterialId(5)); // held, after the first
    assert!(matches!(w.apply(), Err(StoreError::Corrupt { key, .. }) if key == bad));
    assert_eq!(w.voxel(elsewhere).unwrap(), MaterialId(3));
    assert_eq!(w.stats().pending_edits, 4);
    // The commit makes the applied edit durable and says the held ones are not.
    assert!(matches!(w.commit(), Err(StoreError::Corrupt { .. })));
    let stored = store.get(elsewhere.chunk()).unwrap().expect("the applied edit is committed");
    assert_eq!(stored.get(elsewhere.local().index()), MaterialId(3));
    let prepared = w.prepare_commit().expect("preparing a commit is not stopped by a held edit");
    assert!(prepared.is_empty());
    drop(prepared); // one prepared commit at a time
    // The chunk reads again: the held edits apply, in their order.
    batch.clear();
    batch.delete(bad);
    store.commit(&batch).unwrap();
    let report = w.apply().unwrap();
    assert_eq!((report.edits, report.held_edits), (4, 0));
    assert_eq!(w.voxel(in_bad).unwrap(), MaterialId(5));
    assert_eq!(w.voxel(behind).unwrap(), MaterialId(6), "the later edit wins over the box");
    assert_eq!(w.voxel(VoxelPos::new(30, 1, 1)).unwrap(), MaterialId(4));
    w.commit().unwrap();
    assert_eq!(w.stats().pending_edits, 0);
}

#[test]
fn chunk_bounds_cover_every_chunk_an_edit_writes() {
    let m = MaterialId(1);
    let b = |e: Edit| e.chunk_bounds().map(|b| (b.min, b.max));
    assert_eq!(b(Edit::Set(VoxelPos::new(-1, 32, 5), m)), Some((ChunkKey::new(-1, 1, 0), ChunkKey::new(-1, 1, 0))));
    let many = Edit::Many(vec![(VoxelPos::new(-40, 0, 0), m), (VoxelPos::new(70, -1, 3), m)]);
    assert_eq!(b(many), Some((ChunkKey::new(-2, -1, 0), ChunkKey::new(2, 0, 0))));
    assert_eq!(b(Edit::Many(vec![])), None);
    let empty_box = Edit::FillBox { min: VoxelPos::new(5, 0, 0), max: VoxelPos::new(4, 9, 9), material: m };
    assert_eq!(b(empty_box), None);
    let sphere = Edit::FillSphere { center: VoxelPos::new(0, 0, 0), radius: 1.5, material: m };
    assert_eq!(b(sphere), Some((ChunkKey::new(-1, -1, -1), ChunkKey::new(0, 0, 0))));
    let huge = Edit::FillSphere { center: VoxelPos::new(0, 0, 0), radius: f32::MAX, material: m };
    assert_eq!(
        b(huge.clone()),
        Some((
            VoxelPos::new(-i32::MAX, -i32::MAX, -i32::MAX).chunk(),
            VoxelPos::new(i32::MAX, i32::MAX, i32::MAX).chunk()
        ))
    );
    assert_eq!(b(Edit::FillSphere { center: VoxelPos::new(0, 0, 0), radius: f32::NAN, material: m }), None);
    let full = Edit::FillBox {
        min: VoxelPos::new(i32::MIN, i32::MIN, i32::MIN),
        max: VoxelPos::new(i32::MAX, i32::MAX, i32::MAX),
        material: m,
    };
    assert_eq!(full.voxel_count(), u64::MAX, "saturates instead of overflowing");
    assert_eq!(huge.voxel_count(), u64::MAX);
}

/// Edits have a documented maximum extent and typed errors: a box or sphere larger
/// than `MAX_EDIT_EXTENT`, or a radius that is not a finite number ≥ 0, is refused at the call
/// and dropped (never applied, never a panic or an endless walk) when sent through a sender.
#[test]
fn oversized_fills_and_bad_radii_are_typed_errors_never_panics() {
    let store = Arc::new(MemoryStore::new());
    let mut w = flat_world(store);
    let o = VoxelPos::new(0, 0, 0);
    let m = MaterialId(2);
    let max = crate::MAX_EDIT_EXTENT as i32;
    assert_eq!(w.fill_box(o, VoxelPos::new(max, 0, 0), m), Err(EditError::TooLarge { extent: max as u64 + 1 }));
    let full = w.fill_box(VoxelPos::new(i32::MIN, i32::MIN, i32::MIN), VoxelPos::new(i32::MAX, i32::MAX, i32::MAX), m);
    assert_eq!(full, Err(EditError::TooLarge { extent: 1 << 32 }));
    for r in [f32::MAX, 1e10, 600.0] {
        assert!(matches!(w.fill_sphere(o, r, m), Err(EditError::TooLarge { .. })), "radius {r}");
    }
    for r in [f32::NAN, f32::INFINITY, -1.0] {
        assert!(matches!(w.fill_sphere(o, r, m), Err(EditError::BadRadius(_))), "radius {r}");
    }
    assert_eq!(w.stats().pending_edits, 0, "nothing refused was appended");
    // The limits themselves are allowed.
    w.fill_box(o, VoxelPos::new(max - 1, 0, 0), m).unwrap();
    w.fill_sphere(VoxelPos::new(0, 3000, 0), 511.0, m).unwrap();
    // Through a sender the same edits are dropped by the apply, counted.
    let sender = w.edit_sender();
    sender.send(Edit::FillSphere { center: o, radius: 1e10, material: m });
    sender.send(Edit::FillBox { min: VoxelPos::new(i32::MIN, 0, 0), max: VoxelPos::new(i32::MAX, 0, 0), material: m });
    sender.send(Edit::FillSphere { center: o, radius: f32::NAN, material: m });
    let report = w.apply().unwrap();
    assert_eq!((report.rejected_edits, report.edits), (3, 2));
    assert_eq!(w.voxel(VoxelPos::new(max - 1, 0, 0)).unwrap(), m);
}

/// Hand-made keys outside the valid range alias other chunks' Morton keys: the world refuses
/// them on every path that takes a key, and never caches one.
#[test]
fn out_of_range_chunk_keys_are_refused() {
    use crate::{CHUNK_COORD_MAX, CHUNK_COORD_MIN};
    let mut w = flat_world(Arc::new(MemoryStore::new()));
    let bad = ChunkKey::new(0, CHUNK_COORD_MIN - 1, 0);
    assert!(matches!(w.chunk(bad), Err(StoreError::InvalidKey { key }) if key == bad));
    assert!(matches!(w.source().load(bad), Err(StoreError::InvalidKey { key }) if key == bad));
    let loaded = LoadedChunk {
        chunk: Arc::new(Chunk::Uniform(MaterialId(9))),
        history: ProcessHistory::EMPTY,
        side: Default::default(),
        origin: ChunkOrigin::Generator,
        sequence: 0,
    };
    assert_eq!(w.insert_loaded(bad, loaded), HandIn::InvalidKey);
    assert!(!w.is_resident(bad));
    // Valid keys at both ends of the range work.
    for key in [ChunkKey::new(CHUNK_COORD_MIN, CHUNK_COORD_MAX, 0), ChunkKey::new(CHUNK_COORD_MAX, 0, CHUNK_COORD_MIN)]
    {
        w.chunk(key).unwrap();
    }
}

/// A load that read the store before a commit must not bring the old content back once the
/// chunk was evicted: it is refused as stale, and the next read loads the committed copy.
#[test]
fn a_load_that_started_before_a_commit_is_refused_after_eviction() {
    let store = Arc::new(MemoryStore::new());
    let mut w = flat_world(store.clone());
    let pos = VoxelPos::new(3, 40, 3);
    let key = pos.chunk();
    let before_edit = w.source().load(key).unwrap(); // in flight on a worker thread
    let before_commit = {
        w.set_voxel(pos, MaterialId(7));
        w.apply().unwrap();
        w.source().load(key).unwrap() // read the store before the commit (no record yet)
    };
    let receipt = w.commit().unwrap();
    assert!(receipt.sequence > 0, "the memory store seals records");
    assert!(w.evict(key));
    assert_eq!(w.insert_loaded(key, before_edit), HandIn::Stale);
    assert_eq!(w.insert_loaded(key, before_commit), HandIn::Stale);
    assert!(!w.is_resident(key), "a refused copy is not installed");
    assert_eq!(w.voxel(pos).unwrap(), MaterialId(7), "the next read loads the committed copy");
    // A load that read after the commit is current: handed in, once.
    assert!(w.evict(key));
    let after = w.source().load(key).unwrap();
    assert_eq!(after.sequence, receipt.sequence);
    assert_eq!(w.insert_loaded(key, after.clone()), HandIn::Inserted);
    assert_eq!(w.insert_loaded(key, after), HandIn::Resident);
    assert_eq!(w.voxel(pos).unwrap(), MaterialId(7));
    // Chunks this world never committed accept any copy.
    let other = ChunkKey::new(5, 0, 0);
    assert!(!w.is_stale(other, 0));
    assert_eq!(w.insert_loaded(other, w.source().load(other).unwrap()), HandIn::Inserted);
}

/// A store read from a replica that has not seen the latest commits (Redis replica reads).
struct LaggingReplica {
    primary: MemoryStore,
    /// Records as the replica last saw them.
    replica: std::sync::Mutex<HashMap<crate::MortonKey, Vec<u8>>>,
    lagging: std::sync::atomic::AtomicBool,
}

impl LaggingReplica {
    /// The replica catches up with the primary.
    fn sync(&self) {
        let mut replica = self.replica.lock().unwrap();
        replica.clear();
        self.primary
            .scan(crate::store::full_range(), &mut |k, r| {
                replica.insert(k, r.to_vec());
                std::ops::ControlFlow::Continue(())
            })
            .unwrap();
    }
}

impl ChunkStore for LaggingReplica {
    fn world_id(&self) -> crate::WorldId {
        self.primary.world_id()
    }
    fn get_record(&self, key: crate::MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        if self.lagging.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(self.replica.lock().unwrap().get(&key).cloned());
        }
        self.primary.get_record(key)
    }
    fn scan(
        &self,
        r: std::ops::RangeInclusive<crate::MortonKey>,
        v: &mut crate::store::ScanVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.primary.scan(r, v)
    }
    fn commit(&self, b: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        self.primary.commit(b)
    }
}

/// Reads from a lagging replica return older copies of chunks this world committed: every
/// path refuses them (loads handed in, loads for edits and reads), edits wait, nothing is lost.
#[test]
fn a_lagging_replica_never_brings_back_an_older_copy() {
    let store =
        Arc::new(LaggingReplica { primary: MemoryStore::new(), replica: Default::default(), lagging: true.into() });
    let mut w = flat_world(store.clone());
    let (a, b) = (VoxelPos::new(1, 1, 1), VoxelPos::new(2, 1, 1));
    w.set_voxel(a, MaterialId(3));
    w.commit().unwrap();
    store.sync();
    w.set_voxel(a, MaterialId(4));
    w.commit().unwrap(); // the replica still has material 3
    let key = a.chunk();
    assert!(w.evict(key));
    assert_eq!(w.insert_loaded(key, w.source().load(key).unwrap()), HandIn::Stale);
    assert!(matches!(w.voxel(a), Err(StoreError::Stale { key: k, read, committed }) if k == key && read < committed));
    // An edit of the chunk waits for a fresh copy instead of writing over the stale one.
    w.set_voxel(b, MaterialId(5));
    assert!(matches!(w.apply(), Err(StoreError::Stale { .. })));
    assert_eq!(w.stats().pending_edits, 1);
    store.sync();
    w.commit().unwrap();
    assert_eq!((w.voxel(a).unwrap(), w.voxel(b).unwrap()), (MaterialId(4), MaterialId(5)));
    store.lagging.store(false, std::sync::atomic::Ordering::SeqCst);
    let mut fresh = flat_world(store);
    assert_eq!((fresh.voxel(a).unwrap(), fresh.voxel(b).unwrap()), (MaterialId(4), MaterialId(5)));
}

/// Only one prepared commit exists at a time, so commits land in the order they were prepared.
#[test]
fn commits_are_sequenced() {
    let store = Arc::new(MemoryStore::new());
    let mut w = flat_world(store.clone());
    let pos = VoxelPos::new(0, 3, 0);
    w.set_voxel(pos, MaterialId(2));
    let first = w.prepare_commit().unwrap();
    assert_eq!(first.version(), w.version());
    w.set_voxel(pos, MaterialId(3));
    assert!(matches!(w.prepare_commit(), Err(StoreError::CommitInProgress)));
    assert!(matches!(w.commit(), Err(StoreError::CommitInProgress)));
    // Executed after a second commit would have been, the first would overwrite material 3.
    let result = first.execute(store.as_ref());
    w.finish_commit(first, result).unwrap();
    let second = w.prepare_commit().expect("the first is finished");
    assert!(second.version() > 0);
    drop(second); // dropped unexecuted: the world can prepare again, and nothing is lost
    w.commit().unwrap();
    assert_eq!(flat_world(store).voxel(pos).unwrap(), MaterialId(3));
}

/// Two worlds (two servers) on one store edit the same chunk: the later commit conflicts,
/// merges the other's record per voxel and commits again, so both writers' acknowledged edits
/// survive, and the merged voxels reach the later writer's change feed.
#[test]
fn two_worlds_on_one_store_keep_both_writers_edits() {
    // The same on a save file is `strata_redb`'s test.
    {
        let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
        let mut a = flat_world(store.clone());
        let mut b = flat_world(store.clone());
        let feed = b.subscribe();
        let (pa, pb, both) = (VoxelPos::new(1, 4, 1), VoxelPos::new(2, 4, 1), VoxelPos::new(3, 4, 1));
        // Both hold the chunk, as loaded before either edit.
        assert_eq!((a.voxel(pa).unwrap(), b.voxel(pb).unwrap()), (MaterialId::AIR, MaterialId::AIR));
        a.set_many(vec![(pa, MaterialId(5)), (both, MaterialId(5))]);
        a.commit().unwrap();
        b.set_many(vec![(pb, MaterialId(6)), (both, MaterialId(6))]);
        b.commit().expect("a conflict is merged, not an error");
        let stored = store.get(pa.chunk()).unwrap().unwrap();
        let at = |p: VoxelPos| stored.get(p.local().index());
        assert_eq!((at(pa), at(pb)), (MaterialId(5), MaterialId(6)), "both writers' edits survive");
        assert_eq!(at(both), MaterialId(6), "a voxel both changed: the later commit's");
        assert_eq!(b.voxel(pa).unwrap(), MaterialId(5), "the later writer sees the merged chunk");
        let merged = feed.try_iter().last().expect("the merge is published");
        assert_eq!(merged.chunk.get(pa.local().index()), MaterialId(5));
        // A's next commit of the chunk merges B's edits in the same way.
        a.set_voxel(VoxelPos::new(4, 4, 1), MaterialId(7));
        a.commit().unwrap();
        let stored = store.get(pa.chunk()).unwrap().unwrap();
        assert_eq!(stored.get(pb.local().index()), MaterialId(6));
        assert_eq!(stored.get(VoxelPos::new(4, 4, 1).local().index()), MaterialId(7));
        assert_eq!(a.voxel(pb).unwrap(), MaterialId(6));
    }
}

#[derive(Clone, Debug)]
enum TwoWriterOp {
    /// World 0 or 1 writes voxel `(x, y)` of a two-chunk strip.
    Set(usize, u8, u8),
    Commit(usize),
    /// World 0 or 1 evicts its clean chunks (it reads the store again later).
    Evict(usize),
}

fn two_writer_op() -> impl Strategy<Value = TwoWriterOp> {
    prop_oneof![
        4 => (0..2usize, 0..48u8, 0..4u8).prop_map(|(w, x, y)| TwoWriterOp::Set(w, x, y)),
        2 => (0..2usize).prop_map(TwoWriterOp::Commit),
        1 => (0..2usize).prop_map(TwoWriterOp::Evict),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any interleaving of two worlds' edits and commits on one store ends, once both have
    /// committed, with what a brute-force model gives: each commit writes the voxels its world
    /// changed since its last commit over whatever the store holds, in commit order.
    #[test]
    fn two_writers_lose_no_acknowledged_edit(ops in proptest::collection::vec(two_writer_op(), 1..40)) {
        let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
        let mut worlds = [flat_world(store.clone()), flat_world(store.clone())];
        let mut model: HashMap<VoxelPos, MaterialId> = HashMap::new();
        let mut pending: [HashMap<VoxelPos, MaterialId>; 2] = Default::default();
        let mut next = 2u16;
        let all = ops.iter().cloned().chain([TwoWriterOp::Commit(0), TwoWriterOp::Commit(1)]);
        for op in all {
            match op {
                TwoWriterOp::Set(w, x, y) => {
                    let pos = VoxelPos::new(i32::from(x), i32::from(y), 0);
                    worlds[w].set_voxel(pos, MaterialId(next));
                    pending[w].insert(pos, MaterialId(next));
                    next += 1;
                }
                TwoWriterOp::Commit(w) => {
                    worlds[w].commit().unwrap();
                    model.extend(pending[w].drain());
                }
                TwoWriterOp::Evict(w) => {
                    worlds[w].apply().unwrap();
                    for key in [ChunkKey::new(0, 0, 0), ChunkKey::new(1, 0, 0)] {
                        worlds[w].evict(key);
                    }
                }
            }
        }
        let ground = FlatGenerator { height: 0, material: MaterialId(1) };
        let mut fresh = flat_world(store);
        for x in 0..48 {
            for y in 0..4 {
                let pos = VoxelPos::new(x, y, 0);
                let want = model.get(&pos).copied().unwrap_or_else(|| ground.material_at(pos));
                prop_assert_eq!(fresh.voxel(pos).unwrap(), want, "{:?}", pos);
            }
        }
    }
}

/// A store handle whose next reads or commit misbehave once, as scripted by the test.
struct Scripted {
    inner: Arc<dyn ChunkStore>,
    /// Records the next `get_record` calls return instead of the stored one (front first).
    reads: std::sync::Mutex<VecDeque<Option<Vec<u8>>>>,
    /// The next commit is done, then reported as failed.
    lose_reply: std::sync::atomic::AtomicBool,
}

impl Scripted {
    fn new(inner: Arc<dyn ChunkStore>) -> Arc<Self> {
        Arc::new(Self { inner, reads: Default::default(), lose_reply: Default::default() })
    }
}

impl ChunkStore for Scripted {
    fn world_id(&self) -> crate::codec::WorldId {
        self.inner.world_id()
    }
    fn get_record(&self, key: crate::MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        match self.reads.lock().unwrap().pop_front() {
            Some(record) => Ok(record),
            None => self.inner.get_record(key),
        }
    }
    fn scan(
        &self,
        range: std::ops::RangeInclusive<crate::MortonKey>,
        visit: &mut crate::store::ScanVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.inner.scan(range, visit)
    }
    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        let result = self.inner.commit(batch);
        if self.lose_reply.swap(false, std::sync::atomic::Ordering::Relaxed) {
            return Err(StoreError::Unavailable("reply lost".into()));
        }
        result
    }
}

/// A distributed store writes per region: when one chunk of a region conflicts, the other
/// chunks of that region are not written either, and the world must not count them as
/// written (it once did: a third of the acknowledged voxels of two writers were lost).
#[test]
fn chunks_beside_a_conflict_in_its_region_are_committed_again() {
    use crate::shared_world::RegionAtomicStore;
    let store = RegionAtomicStore::new(3);
    let (mut a, mut b) = (flat_world(Arc::new(store.handle())), flat_world(Arc::new(store.handle())));
    // Two chunks of one region, one of another.
    let (k0, k1, far) = (VoxelPos::new(0, 5, 0), VoxelPos::new(32, 5, 0), VoxelPos::new(32 * 8, 5, 0));
    for p in [k0, k1, far] {
        a.voxel(p).unwrap();
    }
    b.set_voxel(VoxelPos::new(1, 5, 0), MaterialId(7));
    b.commit().unwrap();
    // a's commit conflicts on k0's chunk; k1's chunk shares its region, `far`'s does not.
    a.set_many(vec![(k0, MaterialId(3)), (k1, MaterialId(4)), (far, MaterialId(5))]);
    a.commit().unwrap();
    let mut fresh = flat_world(Arc::new(store.handle()));
    for (p, m) in [(k0, 3), (k1, 4), (far, 5), (VoxelPos::new(1, 5, 0), 7)] {
        assert_eq!(fresh.voxel(p).unwrap(), MaterialId(m), "{p:?}");
    }
}

/// A commit whose write landed but whose reply was lost leaves the world unsure; if the user
/// then reverts a voxel, the merge with its own landed record must not bring the reverted
/// value back.
#[test]
fn a_revert_after_a_lost_reply_is_not_undone_by_the_landed_write() {
    let inner: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
    let scripted = Scripted::new(inner.clone());
    let mut w = flat_world(scripted.clone());
    let (p, q) = (VoxelPos::new(3, 5, 3), VoxelPos::new(4, 5, 3));
    w.set_voxel(p, MaterialId(9));
    scripted.lose_reply.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(w.commit().is_err(), "the reply was lost");
    // Another writer changes the chunk, so the next commit conflicts.
    let mut other = flat_world(inner.clone());
    other.set_voxel(q, MaterialId(6));
    other.commit().unwrap();
    w.set_voxel(p, MaterialId::AIR);
    w.commit().unwrap();
    let mut fresh = flat_world(inner);
    assert_eq!(fresh.voxel(p).unwrap(), MaterialId::AIR, "the revert is acknowledged");
    assert_eq!(fresh.voxel(q).unwrap(), MaterialId(6), "the other writer's edit survives");
}

/// A conflict's re-read that returns an older record than the world's copy is based on (a
/// lagging replica) is not merged with: it would make the world's earlier changes look like
/// the other writer's.
#[test]
fn an_older_copy_read_on_a_conflict_does_not_undo_a_revert() {
    let inner: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
    let scripted = Scripted::new(inner.clone());
    let mut w = flat_world(scripted.clone());
    let (p, q) = (VoxelPos::new(3, 5, 3), VoxelPos::new(4, 5, 3));
    w.set_voxel(p, MaterialId(9));
    w.commit().unwrap();
    let mut other = flat_world(inner.clone());
    other.set_voxel(q, MaterialId(6));
    other.commit().unwrap();
    // w reverts; its commit conflicts, and the re-read returns "no record" (older than w's).
    w.set_voxel(p, MaterialId::AIR);
    scripted.reads.lock().unwrap().push_back(None);
    w.commit().unwrap();
    let mut fresh = flat_world(inner);
    assert_eq!(fresh.voxel(p).unwrap(), MaterialId::AIR, "the revert is acknowledged");
    assert_eq!(fresh.voxel(q).unwrap(), MaterialId(6), "the other writer's edit survives");
}

/// Another writer's record that cannot be read (corrupt, misplaced, of a newer format) does
/// not fail every later commit: it is replaced with this world's copy, and counted.
#[test]
fn an_unreadable_record_of_another_writer_is_replaced_not_fatal() {
    let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
    let mut w = flat_world(store.clone());
    let (p, q) = (VoxelPos::new(3, 5, 3), VoxelPos::new(40, 5, 3));
    w.set_many(vec![(p, MaterialId(9)), (q, MaterialId(8))]);
    w.commit().unwrap();
    let mut batch = WriteBatch::new();
    batch.put_record(p.split().0.morton(), b"STRC not a record");
    store.commit(&batch).unwrap();
    w.set_many(vec![(p, MaterialId(10)), (q, MaterialId(11))]);
    w.commit().expect("the unreadable record is replaced");
    assert_eq!(w.stats().replaced_records, 1);
    let mut fresh = flat_world(store);
    assert_eq!(fresh.voxel(p).unwrap(), MaterialId(10));
    assert_eq!(fresh.voxel(q).unwrap(), MaterialId(11));
    assert_eq!(fresh.voxel(VoxelPos::new(4, 5, 3)).unwrap(), MaterialId::AIR, "the rest: this world's copy");
}

/// A store whose data an operator can swap for a backup (a restore).
struct Restorable(std::sync::RwLock<Arc<MemoryStore>>);

impl ChunkStore for Restorable {
    fn world_id(&self) -> crate::codec::WorldId {
        self.0.read().unwrap().world_id()
    }
    fn get_record(&self, key: crate::MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.read().unwrap().get_record(key)
    }
    fn scan(
        &self,
        range: std::ops::RangeInclusive<crate::MortonKey>,
        visit: &mut crate::store::ScanVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.0.read().unwrap().scan(range, visit)
    }
    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        self.0.read().unwrap().commit(batch)
    }
}

/// A copy older than this world's commit that the store keeps returning (here: an operator
/// restored a backup; equally a failover that lost the write, or a writer whose clock is behind
/// rewriting the chunk) is refused only for `stale_patience`, then taken: the chunk is not a
/// hole for ever, and the edits waiting for it land on it.
#[test]
fn a_copy_that_stays_older_is_taken_after_the_patience() {
    let world_id = crate::codec::WorldId(0x5ca1e);
    let (live, backup) = (Arc::new(MemoryStore::with_world(world_id)), Arc::new(MemoryStore::with_world(world_id)));
    let store = Arc::new(Restorable(std::sync::RwLock::new(live)));
    let config = WorldConfig { stale_patience: Duration::from_millis(100), ..WorldConfig::default() };
    let ground: Arc<dyn WorldGenerator> = Arc::new(FlatGenerator { height: 0, material: MaterialId(1) });
    let mut w = World::new(store.clone(), ground.clone(), config);
    let (a, b) = (VoxelPos::new(1, 1, 1), VoxelPos::new(2, 1, 1));
    w.set_voxel(a, MaterialId(3));
    w.commit().unwrap();
    let mut copy = WriteBatch::new();
    copy.put(a.chunk(), &w.chunk(a.chunk()).unwrap());
    backup.commit(&copy).unwrap(); // the backup: material 3, an older sequence number
    w.set_voxel(a, MaterialId(4));
    w.commit().unwrap();
    assert!(w.evict(a.chunk()));
    *store.0.write().unwrap() = backup.clone(); // restored
    assert!(matches!(w.voxel(a), Err(StoreError::Stale { .. })), "refused at first");
    w.set_voxel(b, MaterialId(5));
    assert!(matches!(w.apply(), Err(StoreError::Stale { .. })), "the edit waits");
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(w.voxel(a).unwrap(), MaterialId(3), "the store's copy is taken");
    assert_eq!(w.stats().stale_copies_taken, 1);
    w.commit().unwrap();
    let mut fresh = World::new(backup, ground, WorldConfig::default());
    assert_eq!((fresh.voxel(a).unwrap(), fresh.voxel(b).unwrap()), (MaterialId(3), MaterialId(5)));
}

/// A held edit that writes voxels in two far-apart chunks holds back only later edits of those
/// chunks, not every edit inside its bounding box (it once held back everything between).
#[test]
fn a_held_list_edit_blocks_only_its_own_chunks() {
    let mut w = flat_world(Arc::new(MemoryStore::new()));
    let (missing, far, between) = (VoxelPos::new(1, 1, 1), VoxelPos::new(100 * 32, 1, 1), VoxelPos::new(50 * 32, 1, 1));
    for p in [far, between] {
        w.voxel(p).unwrap(); // resident
    }
    w.set_edit_loading(EditLoading::Deferred);
    w.set_many(vec![(missing, MaterialId(5)), (far, MaterialId(6))]); // waits for `missing`'s chunk
    w.set_voxel(between, MaterialId(7)); // inside that edit's bounding box, not in its chunks
    w.set_voxel(far, MaterialId(8)); // one of its chunks: must stay behind it
    let report = w.apply().unwrap();
    assert_eq!((report.edits, report.held_edits), (1, 2), "{report:?}");
    assert_eq!(w.voxel(between).unwrap(), MaterialId(7));
    assert_eq!(w.voxel(far).unwrap(), MaterialId::AIR, "not reordered before the held edit");
    w.set_edit_loading(EditLoading::Blocking);
    w.apply().unwrap();
    assert_eq!((w.voxel(missing).unwrap(), w.voxel(far).unwrap()), (MaterialId(5), MaterialId(8)));
}

/// Chunks that held edits wait for, handed in one by one under a tight cache budget, are not
/// evicted before the edits apply (the cache once dropped the earlier ones as the later ones
/// came in, and the edits waited for ever).
#[test]
fn awaited_chunks_handed_in_under_a_tight_budget_stay_until_applied() {
    // Ground at y = 16: every chunk at y = 0 is dense (64 KiB), two fit in the budget.
    let ground: Arc<dyn WorldGenerator> = Arc::new(FlatGenerator { height: 16, material: MaterialId(1) });
    let config = WorldConfig { cache_budget_bytes: 2 * 65536 + 4096, ..WorldConfig::default() };
    let mut w = World::new(Arc::new(MemoryStore::new()), ground, config);
    w.set_edit_loading(EditLoading::Deferred);
    let edits: Vec<(VoxelPos, MaterialId)> =
        (0..4).map(|i| (VoxelPos::new(i * 32 + 3, 20, 3), MaterialId(9))).collect();
    w.set_many(edits.clone());
    assert_eq!(w.apply().unwrap().held_edits, 1);
    let mut awaited: Vec<ChunkKey> = w.awaited_chunks().collect();
    awaited.sort();
    assert_eq!(awaited.len(), 4);
    for key in awaited {
        let loaded = w.source().load(key).unwrap();
        assert_eq!(w.insert_loaded(key, loaded), HandIn::Inserted);
    }
    let report = w.apply().unwrap();
    assert_eq!((report.edits, report.held_edits), (1, 0), "{report:?}");
    for (p, m) in edits {
        assert_eq!(w.voxel(p).unwrap(), m);
    }
}

#[test]
fn adopt_replaces_local_edits_with_the_authority_and_publishes_the_change() {
    let mut w = flat_world(Arc::new(MemoryStore::new()));
    let feed = w.subscribe();
    let key = ChunkKey::new(0, 0, 0);
    let p = VoxelPos::new(3, 4, 5);
    // A local edit, applied and not committed: the chunk is dirty.
    w.set_voxel(p, MaterialId(9));
    w.apply().unwrap();
    assert_eq!(w.stats().dirty_chunks, 1);
    let _ = feed.try_iter().count();
    // The authority's copy: a different voxel set.
    let mut theirs = Chunk::Uniform(MaterialId(1));
    theirs.set(VoxelPos::new(1, 1, 1).local().index(), MaterialId(5));
    let loaded = LoadedChunk {
        chunk: Arc::new(theirs.clone()),
        history: ProcessHistory::EMPTY,
        side: Default::default(),
        origin: ChunkOrigin::Store,
        sequence: 7,
    };
    let before = w.version();
    let version = w.adopt(key, loaded.clone()).expect("a valid key");
    assert!(version > before);
    assert_eq!(w.voxel(p).unwrap(), MaterialId(1), "the local edit is discarded");
    assert_eq!(w.voxel(VoxelPos::new(1, 1, 1)).unwrap(), MaterialId(5));
    assert_eq!(w.stats().dirty_chunks, 0, "the authority's copy is clean");
    let changes: Vec<_> = feed.try_iter().collect();
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].key, changes[0].version, &*changes[0].chunk), (key, version, &theirs));
    // An edit sent again applies on top.
    w.set_voxel(p, MaterialId(9));
    w.apply().unwrap();
    assert_eq!(w.voxel(p).unwrap(), MaterialId(9));
    assert_eq!(w.voxel(VoxelPos::new(1, 1, 1)).unwrap(), MaterialId(5));
    // A chunk that was not resident becomes resident.
    let far = ChunkKey::new(10, 0, 0);
    assert!(!w.is_resident(far));
    w.adopt(far, loaded).unwrap();
    assert_eq!(w.resident_chunk(far).as_deref(), Some(&theirs));
    assert_eq!(w.adopt(ChunkKey::new(i32::MAX, 0, 0), LoadedChunk { sequence: 0, ..w.source().generated(far) }), None);
}

/// The authority's copy of what a world already shows (its answer to an edit the world
/// predicted, or a change of game data alone) remeshes and reindexes nothing: no change on the
/// feed; new game data is a side change, as an apply's would be. Other voxels are published.
#[test]
fn adopting_the_voxels_a_world_shows_publishes_nothing_and_new_game_data_is_a_side_change() {
    let mut w = flat_world(Arc::new(MemoryStore::new()));
    let feed = w.subscribe();
    w.track_side_changes();
    let key = ChunkKey::new(0, 0, 0);
    let p = VoxelPos::new(3, 4, 5);
    // A predicted edit, applied and not committed.
    w.set_voxel(p, MaterialId(9));
    w.apply().unwrap();
    let _ = feed.try_iter().count();
    // The authority's record of the same voxels: a copy, not the world's own `Arc`.
    let shown = (*w.resident_chunk(key).unwrap()).clone();
    let loaded = |chunk: &Chunk, side: ChunkSide| LoadedChunk {
        chunk: Arc::new(chunk.clone()),
        history: ProcessHistory::EMPTY,
        side: Arc::new(side),
        origin: ChunkOrigin::Store,
        sequence: 7,
    };
    let before = w.version();
    let version = w.adopt(key, loaded(&shown, ChunkSide::new())).expect("a valid key");
    assert!(version > before);
    assert_eq!(w.stats().dirty_chunks, 0, "the authority's copy is clean");
    assert_eq!(feed.try_iter().count(), 0, "the same voxels: nothing to remesh");
    assert!(w.take_side_changes().is_empty(), "nothing changed at all");
    // The same voxels with an entity record: a change of game data alone.
    let mut side = ChunkSide::new();
    side.set_entity(4, Some(b"crate".to_vec().into_boxed_slice()));
    w.adopt(key, loaded(&shown, side)).unwrap();
    assert_eq!(feed.try_iter().count(), 0);
    assert_eq!(w.take_side_changes(), vec![key]);
    assert_eq!(w.resident_side(key).unwrap().entity(4), Some(&b"crate"[..]));
    // Other voxels: published whole.
    let mut theirs = shown.clone();
    theirs.set(p.local().index(), MaterialId(1));
    let version = w.adopt(key, loaded(&theirs, ChunkSide::new())).unwrap();
    let changes: Vec<_> = feed.try_iter().collect();
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].key, changes[0].version, &*changes[0].chunk), (key, version, &theirs));
    assert!(w.take_side_changes().is_empty(), "a voxel change is on the feed instead");
    assert_eq!(w.voxel(p).unwrap(), MaterialId(1));
}

/// Another writer's copy (a shared store's change log named the chunk) replaces only a clean
/// resident chunk, and only with news: a chunk with edits waiting keeps them (its commit merges),
/// the copy it holds, an older one and a chunk not resident change nothing.
#[test]
fn refresh_takes_another_writers_copy_only_over_a_clean_resident_chunk() {
    let store = Arc::new(MemoryStore::new());
    let mut w = flat_world(store.clone());
    let feed = w.subscribe();
    let (key, p) = (ChunkKey::new(0, 0, 0), VoxelPos::new(3, 4, 5));
    w.set_voxel(p, MaterialId(9));
    let mine = w.commit().unwrap().sequence;
    assert!(mine > 0);
    let _ = feed.try_iter().count();
    let theirs = |sequence: u64, material: u16| LoadedChunk {
        chunk: Arc::new(Chunk::Uniform(MaterialId(material))),
        history: ProcessHistory::EMPTY,
        side: Default::default(),
        origin: ChunkOrigin::Store,
        sequence,
    };
    assert_eq!(w.refresh(key, theirs(mine, 6)), None, "the copy it holds (same commit)");
    assert_eq!(w.refresh(key, theirs(mine - 1, 6)), None, "older than this world's commit");
    assert_eq!(w.refresh(ChunkKey::new(9, 0, 0), theirs(mine + 1, 6)), None, "not resident");
    assert!(!w.is_resident(ChunkKey::new(9, 0, 0)));
    assert_eq!(feed.try_iter().count(), 0);
    let version = w.refresh(key, theirs(mine + 1, 6)).expect("news over a clean chunk");
    assert_eq!(w.voxel(p).unwrap(), MaterialId(6));
    assert_eq!(feed.try_iter().map(|c| (c.key, c.version)).collect::<Vec<_>>(), vec![(key, version)]);
    // Edits waiting to commit are kept.
    w.set_voxel(p, MaterialId(2));
    w.apply().unwrap();
    assert_eq!(w.refresh(key, theirs(mine + 5, 7)), None, "dirty");
    assert_eq!(w.voxel(p).unwrap(), MaterialId(2));
}

/// The extent of one chunk's change in `feed`'s next batch.
fn extents(feed: &Receiver<ChunkChange>) -> HashMap<ChunkKey, ChangeExtent> {
    feed.try_iter().map(|c| (c.key, c.extent)).collect()
}

#[test]
fn changes_say_which_voxels_changed_and_whether_only_processes_wrote_them() {
    let mut w = flat_world(Arc::new(MemoryStore::new()));
    let feed = w.subscribe();
    let (c0, c1) = (ChunkKey::new(0, 0, 0), ChunkKey::new(1, 0, 0));
    // Two single writes in chunk 0: the box around both.
    w.set_voxel(VoxelPos::new(3, 4, 5), MaterialId(9));
    w.set_voxel(VoxelPos::new(10, 1, 2), MaterialId(9));
    w.apply().unwrap();
    let want = ChangeExtent { min: [3, 1, 2], max: [10, 4, 5], processes_only: false };
    assert_eq!(extents(&feed), HashMap::from([(c0, want)]));
    // A box across the border of chunks 0 and 1: each gets its part.
    w.fill_box(VoxelPos::new(30, 2, 2), VoxelPos::new(33, 3, 4), MaterialId(9)).unwrap();
    w.apply().unwrap();
    let got = extents(&feed);
    assert_eq!(got[&c0], ChangeExtent { min: [30, 2, 2], max: [31, 3, 4], processes_only: false });
    assert_eq!(got[&c1], ChangeExtent { min: [0, 2, 2], max: [1, 3, 4], processes_only: false });
    // A sphere: a box that holds every voxel it wrote.
    w.fill_sphere(VoxelPos::new(16, 16, 16), 3.0, MaterialId(9)).unwrap();
    w.apply().unwrap();
    let e = extents(&feed)[&c0];
    for z in 0..32u8 {
        for y in 0..32u8 {
            for x in 0..32u8 {
                let written = w.voxel(VoxelPos::new(x.into(), y.into(), z.into())).unwrap() == MaterialId(9)
                    && (13..=19).contains(&x);
                if written && (13..=19).contains(&y) && (13..=19).contains(&z) {
                    assert!((0..3).all(|a| e.min[a] <= [x, y, z][a] && [x, y, z][a] <= e.max[a]), "{e:?} {x} {y} {z}");
                }
            }
        }
    }
    assert!(!e.processes_only);
    // A process batch alone: processes only; with a player's edit in the same apply: not.
    let batch = |v: u16| ProcessBatch { stamp: stamp(0, v.into()), writes: vec![write(VoxelPos::new(7, 0, 7), 1, 0)] };
    w.push_edit(Edit::Process(batch(1)));
    w.apply().unwrap();
    assert_eq!(extents(&feed)[&c0], ChangeExtent { min: [7, 0, 7], max: [7, 0, 7], processes_only: true });
    w.push_edit(Edit::Process(ProcessBatch { stamp: stamp(0, 2), writes: vec![write(VoxelPos::new(8, 0, 8), 1, 0)] }));
    w.set_voxel(VoxelPos::new(20, 0, 1), MaterialId(9));
    w.apply().unwrap();
    assert_eq!(extents(&feed)[&c0], ChangeExtent { min: [8, 0, 1], max: [20, 0, 8], processes_only: false });
    // Many writes (grouped by chunk): each chunk its own box.
    let many: Vec<_> = (0..200).map(|i| (VoxelPos::new(i % 40, 1 + i / 40, 3), MaterialId(9))).collect();
    w.push_edit(Edit::Many(many));
    w.apply().unwrap();
    let got = extents(&feed);
    assert_eq!(got[&c0], ChangeExtent { min: [0, 1, 3], max: [31, 5, 3], processes_only: false });
    assert_eq!(got[&c1], ChangeExtent { min: [0, 1, 3], max: [7, 5, 3], processes_only: false });
}

/// Game data ([`crate::side`]): block data and entity records travel with their chunk.
mod game_data {
    use super::*;
    use crate::side::{BlockData, MAX_SIDE_LEN, MAX_VALUE_LEN};

    const CHEST: MaterialId = MaterialId(5);

    fn bytes(s: &str) -> Option<Vec<u8>> {
        Some(s.as_bytes().to_vec())
    }

    fn chest(contents: &str) -> Option<BlockData> {
        Some(BlockData { material: CHEST, bytes: contents.as_bytes().into() })
    }

    /// A world over `store` with a chest at `pos` holding `contents`, committed.
    fn with_chest(store: &Arc<dyn ChunkStore>, pos: VoxelPos, contents: &str) -> World {
        let mut w = flat_world(store.clone());
        w.set_voxel(pos, CHEST);
        w.set_block_data(pos, bytes(contents)).unwrap();
        w.commit().unwrap();
        w
    }

    /// Chunks whose game data alone changed are listed once per apply when tracked (they are
    /// not on the change feed); a chunk whose voxels changed too is on the feed instead.
    #[test]
    fn side_only_changes_are_listed_when_tracked() {
        let mut w = flat_world(Arc::new(MemoryStore::new()));
        let feed = w.subscribe();
        let (a, b) = (VoxelPos::new(3, -2, 3), VoxelPos::new(40, -2, 3));
        w.set_block_data(a, bytes("untracked")).unwrap();
        w.apply().unwrap();
        assert!(w.take_side_changes().is_empty(), "not tracked yet");
        w.track_side_changes();
        w.set_block_data(a, bytes("gold")).unwrap();
        w.set_entity_data(a.chunk(), 7, bytes("crate")).unwrap();
        w.set_voxel(b, CHEST);
        w.set_block_data(b, bytes("silver")).unwrap();
        w.apply().unwrap();
        assert_eq!(w.take_side_changes(), vec![a.chunk()]);
        let on_feed: Vec<ChunkKey> = feed.try_iter().map(|c| c.key).collect();
        assert!(on_feed.contains(&b.chunk()) && !on_feed.contains(&a.chunk()), "{on_feed:?}");
        assert!(w.take_side_changes().is_empty(), "taken");
        // Writing what is already there changes nothing.
        w.set_block_data(a, bytes("gold")).unwrap();
        w.apply().unwrap();
        assert!(w.take_side_changes().is_empty());
    }

    /// Game data counts against the cache budget: chunks of air (2 bytes of voxels each)
    /// holding 200 KiB of entity records each are evicted once committed, and their records
    /// come back from the store.
    #[test]
    fn game_data_counts_against_the_cache_budget() {
        let budget = 1 << 20;
        let ground: Arc<dyn WorldGenerator> = Arc::new(FlatGenerator { height: 0, material: MaterialId(1) });
        let config = WorldConfig { cache_budget_bytes: budget, ..WorldConfig::default() };
        let mut w = World::new(Arc::new(MemoryStore::new()), ground, config);
        let record = vec![7u8; 50 << 10];
        let keys: Vec<ChunkKey> = (0..16).map(|x| ChunkKey::new(x, 1, 0)).collect();
        for &key in &keys {
            for id in 0..4 {
                w.set_entity_data(key, id, Some(record.clone())).unwrap();
            }
        }
        w.apply().unwrap();
        let held = 16 * 4 * record.len();
        assert!(w.cache_used_bytes() >= held, "dirty: held and counted ({} bytes)", w.cache_used_bytes());
        w.commit().unwrap();
        // A read runs an eviction pass.
        w.chunk(ChunkKey::new(100, 0, 0)).unwrap();
        let s = w.stats();
        assert!(s.resident_bytes <= budget && s.evictions > 0, "{s:?}");
        for &key in &keys {
            assert_eq!(w.chunk_side(key).unwrap().entity(3), Some(&record[..]), "re-read from the store");
        }
        // Loaded chunks count their records too: reading all sixteen back left at most the
        // budget's worth resident.
        let resident = keys.iter().filter(|k| w.is_resident(**k)).count();
        assert!(resident <= budget / (4 * record.len()), "{resident} chunks of 200 KiB resident");
        assert!(w.cache_used_bytes() <= budget);
    }

    #[test]
    fn block_data_and_entity_records_are_committed_with_their_chunk() {
        let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
        let pos = VoxelPos::new(3, 4, 5);
        let mut w = with_chest(&store, pos, "3 apples");
        w.set_entity_data(pos.chunk(), 77, bytes("crate")).unwrap();
        w.commit().unwrap();
        let stored = store.get_stored(pos.chunk()).unwrap().unwrap();
        assert_eq!(stored.side.block(pos.local().index()).cloned(), chest("3 apples"));
        assert_eq!(stored.side.entity(77), Some(&b"crate"[..]));
        let mut fresh = flat_world(store.clone());
        assert_eq!(fresh.block_data(pos).unwrap(), chest("3 apples"));
        assert_eq!(fresh.chunk_side(pos.chunk()).unwrap().entity(77), Some(&b"crate"[..]));
        // Removed again: the chunk keeps its voxels, the record loses the data.
        fresh.set_block_data(pos, None).unwrap();
        fresh.set_entity_data(pos.chunk(), 77, None).unwrap();
        fresh.commit().unwrap();
        assert!(store.get_stored(pos.chunk()).unwrap().unwrap().side.is_empty());
        assert_eq!(flat_world(store).voxel(pos).unwrap(), CHEST);
    }

    /// Every kind of voxel change that replaces a chest drops its contents in the same commit;
    /// an edit that leaves the chest (the same material written again) keeps them.
    #[test]
    fn changing_a_voxels_material_drops_its_block_data_in_the_same_commit() {
        let pos = VoxelPos::new(3, 4, 5);
        let changes: [fn(&World, VoxelPos); 5] = [
            |w, p| w.set_voxel(p, MaterialId::AIR),
            |w, p| w.set_many(vec![(p, MaterialId(2)), (VoxelPos::new(p.x + 1, p.y, p.z), MaterialId(2))]),
            |w, p| w.fill_box(p, VoxelPos::new(p.x + 2, p.y + 2, p.z + 2), MaterialId(3)).unwrap(),
            // The whole chunk replaced without being read.
            |w, _| w.fill_box(VoxelPos::new(-40, -40, -40), VoxelPos::new(80, 80, 80), MaterialId(3)).unwrap(),
            |w, p| w.push_edit(Edit::Process(ProcessBatch { stamp: stamp(1, 1), writes: vec![write(p, 5, 0)] })),
        ];
        for (n, change) in changes.into_iter().enumerate() {
            let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
            let mut w = with_chest(&store, pos, "gold");
            w.set_entity_data(pos.chunk(), 1, bytes("crate")).unwrap();
            change(&w, pos);
            w.commit().unwrap();
            let stored = store.get_stored(pos.chunk()).unwrap().unwrap();
            assert_ne!(stored.chunk.get(pos.local().index()), CHEST, "change {n}");
            assert_eq!(stored.side.block(pos.local().index()), None, "change {n}: the contents went with the chest");
            assert_eq!(stored.side.entity(1), Some(&b"crate"[..]), "change {n}: entities are not voxels");
            assert_eq!(w.block_data(pos).unwrap(), None);
        }
        let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
        let mut w = with_chest(&store, pos, "gold");
        w.set_voxel(pos, CHEST);
        w.commit().unwrap();
        assert_eq!(flat_world(store).block_data(pos).unwrap(), chest("gold"));
    }

    /// A change of game data alone makes its chunk dirty and is committed, without a change on
    /// the feed (the voxels did not change: nothing to remesh).
    #[test]
    fn a_change_of_game_data_alone_is_committed_without_a_voxel_change() {
        let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
        let pos = VoxelPos::new(3, 4, 5);
        let mut w = with_chest(&store, pos, "gold");
        let feed = w.subscribe();
        let version = w.version();
        w.set_block_data(pos, bytes("silver")).unwrap();
        w.apply().unwrap();
        assert!(feed.try_iter().next().is_none(), "no voxel changed");
        assert!(w.version() > version);
        let prepared = w.prepare_commit().unwrap();
        assert_eq!(prepared.len(), 1, "the chunk is dirty");
        // Changed again while the commit is in flight: it stays dirty afterwards.
        w.set_block_data(pos, bytes("bronze")).unwrap();
        w.apply().unwrap();
        let result = prepared.execute(store.as_ref());
        w.finish_commit(prepared, result).unwrap();
        assert_eq!(flat_world(store.clone()).block_data(pos).unwrap(), chest("silver"));
        w.commit().unwrap();
        assert_eq!(flat_world(store).block_data(pos).unwrap(), chest("bronze"));
    }

    #[test]
    fn oversized_game_data_is_refused_and_loses_nothing() {
        let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
        let pos = VoxelPos::new(3, 4, 5);
        let mut w = with_chest(&store, pos, "gold");
        let big = vec![1u8; MAX_VALUE_LEN + 1];
        assert_eq!(w.set_block_data(pos, Some(big.clone())), Err(EditError::DataTooLarge { len: MAX_VALUE_LEN + 1 }));
        // Through a sender the check runs at apply.
        w.push_edit(Edit::EntityData { chunk: pos.chunk(), id: 1, data: Some(big) });
        assert_eq!(w.apply().unwrap().rejected_edits, 1);
        // Values within the limit until the chunk's section would outgrow its limit.
        let full = vec![2u8; MAX_VALUE_LEN];
        for id in 0..5 {
            w.set_entity_data(pos.chunk(), id, Some(full.clone())).unwrap();
        }
        let report = w.apply().unwrap();
        let kept = w.chunk_side(pos.chunk()).unwrap();
        assert_eq!(report.rejected_edits, 5 - kept.entities().len());
        assert!(report.rejected_edits >= 1 && kept.encoded_len() <= MAX_SIDE_LEN);
        w.commit().unwrap();
        let stored = store.get_stored(pos.chunk()).unwrap().unwrap().side;
        assert_eq!(stored, *kept);
        assert_eq!(stored.block(pos.local().index()).cloned(), chest("gold"), "the chest kept its contents");
    }

    /// Two writers of one chunk: each keeps the game data it changed, the other's where it did
    /// not; a chest one broke loses the contents the other put in (in either commit order), so
    /// the store never holds contents without their chest.
    #[test]
    fn two_writers_merge_game_data_and_never_keep_contents_without_their_chest() {
        let (p, q) = (VoxelPos::new(3, 4, 5), VoxelPos::new(6, 4, 5));
        let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
        let mut setup = with_chest(&store, p, "gold");
        setup.set_voxel(q, CHEST);
        setup.set_block_data(q, bytes("wood")).unwrap();
        setup.commit().unwrap();
        let (mut a, mut b) = (flat_world(store.clone()), flat_world(store.clone()));
        a.voxel(p).unwrap();
        b.voxel(p).unwrap();
        a.set_block_data(p, bytes("more gold")).unwrap();
        a.set_entity_data(p.chunk(), 1, bytes("a's crate")).unwrap();
        a.commit().unwrap();
        b.set_block_data(q, bytes("iron")).unwrap();
        b.set_entity_data(p.chunk(), 2, bytes("b's crate")).unwrap();
        b.commit().expect("merged");
        let side = store.get_stored(p.chunk()).unwrap().unwrap().side;
        assert_eq!(side.block(p.local().index()).cloned(), chest("more gold"));
        assert_eq!(side.block(q.local().index()).cloned(), chest("iron"));
        assert_eq!((side.entity(1), side.entity(2)), (Some(&b"a's crate"[..]), Some(&b"b's crate"[..])));
        assert_eq!(b.block_data(p).unwrap(), chest("more gold"), "the later writer sees the merge");

        for breaker_first in [true, false] {
            let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
            with_chest(&store, p, "gold");
            let (mut breaker, mut filler) = (flat_world(store.clone()), flat_world(store.clone()));
            breaker.voxel(p).unwrap();
            filler.voxel(p).unwrap();
            breaker.set_voxel(p, MaterialId::AIR);
            filler.set_block_data(p, bytes("diamonds")).unwrap();
            let (first, second) = if breaker_first { (&mut breaker, &mut filler) } else { (&mut filler, &mut breaker) };
            first.commit().unwrap();
            second.commit().unwrap();
            let stored = store.get_stored(p.chunk()).unwrap().unwrap();
            assert_eq!(stored.chunk.get(p.local().index()), MaterialId::AIR, "breaker first: {breaker_first}");
            assert!(stored.side.is_empty(), "breaker first: {breaker_first}: no contents without a chest");
            if breaker_first {
                assert_eq!(filler.block_data(p).unwrap(), None, "the later writer sees the merge");
            }
        }
    }

    /// A world's voxel and entity writes since its last commit.
    type Pending = (HashMap<VoxelPos, MaterialId>, HashMap<(ChunkKey, u64), Vec<u8>>);

    /// Game data sent by a commit whose reply was lost, then reverted, stays reverted when the
    /// next commit merges with the landed write (as for voxels).
    #[test]
    fn a_game_data_revert_after_a_lost_reply_is_not_undone_by_the_landed_write() {
        let inner: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
        let scripted = Scripted::new(inner.clone());
        let mut w = flat_world(scripted.clone());
        let (p, q) = (VoxelPos::new(3, 5, 3), VoxelPos::new(4, 5, 3));
        w.voxel(p).unwrap();
        w.set_entity_data(p.chunk(), 1, bytes("sent")).unwrap();
        w.set_block_data(p, bytes("sent")).unwrap();
        scripted.lose_reply.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(w.commit().is_err(), "the reply was lost");
        // Another writer changes the chunk, so the next commit conflicts.
        let mut other = flat_world(inner.clone());
        other.set_voxel(q, MaterialId(6));
        other.set_entity_data(p.chunk(), 2, bytes("theirs")).unwrap();
        other.commit().unwrap();
        w.set_entity_data(p.chunk(), 1, None).unwrap();
        w.set_block_data(p, None).unwrap();
        w.commit().unwrap();
        let side = inner.get_stored(p.chunk()).unwrap().unwrap().side;
        assert_eq!(side.entity(1), None, "the revert is acknowledged");
        assert_eq!(side.block(p.local().index()), None, "the revert is acknowledged");
        assert_eq!(side.entity(2), Some(&b"theirs"[..]), "the other writer's record survives");
    }

    /// Chunks that become resident holding entity records are reported once per arrival, and
    /// tracking starts with the ones resident already; chunks without records are not.
    #[test]
    fn chunks_arriving_with_entity_records_are_reported() {
        let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
        let (with, without) = (ChunkKey::new(0, 0, 0), ChunkKey::new(1, 0, 0));
        let mut w = flat_world(store.clone());
        w.set_entity_data(with, 1, bytes("crate")).unwrap();
        w.set_voxel(without.min_voxel(), CHEST);
        w.commit().unwrap();
        let mut r = flat_world(store.clone());
        r.track_entity_arrivals();
        assert!(r.take_entity_arrivals().is_empty());
        r.chunk(without).unwrap();
        assert!(r.take_entity_arrivals().is_empty(), "no records");
        r.chunk(with).unwrap();
        assert_eq!(r.take_entity_arrivals(), vec![with]);
        assert!(r.take_entity_arrivals().is_empty());
        r.evict(with);
        let loaded = r.source().load(with).unwrap();
        assert_eq!(r.insert_loaded(with, loaded), HandIn::Inserted);
        assert_eq!(r.take_entity_arrivals(), vec![with], "handed in");
        let mut s = flat_world(store);
        s.chunk(with).unwrap();
        s.track_entity_arrivals();
        assert_eq!(s.take_entity_arrivals(), vec![with], "resident before tracking started");
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// World 0 or 1 writes voxel `x` of a two-chunk strip.
        Set(usize, u8),
        /// World 0 or 1 writes entity record `id` of chunk 0 or 1.
        Entity(usize, u8, u8),
        Commit(usize),
        Evict(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            2 => (0..2usize, 0..64u8).prop_map(|(w, x)| Op::Set(w, x)),
            3 => (0..2usize, 0..2u8, 0..4u8).prop_map(|(w, c, id)| Op::Entity(w, c, id)),
            2 => (0..2usize).prop_map(Op::Commit),
            1 => (0..2usize).prop_map(Op::Evict),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Any interleaving of two worlds' voxel and entity writes and commits on one store
        /// ends with what a brute-force model gives: each commit writes the voxels and
        /// entity records its world changed since its last commit over the store's, in commit
        /// order (the voxels and the records of one chunk merged independently).
        #[test]
        fn two_writers_lose_no_acknowledged_entity_record(ops in proptest::collection::vec(op(), 1..40)) {
            let store: Arc<dyn ChunkStore> = Arc::new(MemoryStore::new());
            let mut worlds = [flat_world(store.clone()), flat_world(store.clone())];
            let mut voxels: HashMap<VoxelPos, MaterialId> = HashMap::new();
            let mut records: HashMap<(ChunkKey, u64), Vec<u8>> = HashMap::new();
            let mut pending: [Pending; 2] = Default::default();
            let all = ops.iter().cloned().chain([Op::Commit(0), Op::Commit(1)]);
            for (next, op) in (2u16..).zip(all) {
                match op {
                    Op::Set(w, x) => {
                        let pos = VoxelPos::new(i32::from(x), 1, 0);
                        worlds[w].set_voxel(pos, MaterialId(next));
                        pending[w].0.insert(pos, MaterialId(next));
                    }
                    Op::Entity(w, c, id) => {
                        let key = ChunkKey::new(i32::from(c), 0, 0);
                        let value = next.to_le_bytes().to_vec();
                        worlds[w].set_entity_data(key, u64::from(id), Some(value.clone())).unwrap();
                        pending[w].1.insert((key, u64::from(id)), value);
                    }
                    Op::Commit(w) => {
                        worlds[w].commit().unwrap();
                        voxels.extend(pending[w].0.drain());
                        records.extend(pending[w].1.drain());
                    }
                    Op::Evict(w) => {
                        worlds[w].apply().unwrap();
                        for key in [ChunkKey::new(0, 0, 0), ChunkKey::new(1, 0, 0)] {
                            worlds[w].evict(key);
                        }
                    }
                }
            }
            let ground = FlatGenerator { height: 0, material: MaterialId(1) };
            let mut fresh = flat_world(store);
            for x in 0..64 {
                let pos = VoxelPos::new(x, 1, 0);
                let want = voxels.get(&pos).copied().unwrap_or_else(|| ground.material_at(pos));
                prop_assert_eq!(fresh.voxel(pos).unwrap(), want, "{:?}", pos);
            }
            for c in 0..2 {
                let key = ChunkKey::new(c, 0, 0);
                let side = fresh.chunk_side(key).unwrap();
                for id in 0..4u64 {
                    prop_assert_eq!(side.entity(id), records.get(&(key, id)).map(|v| &v[..]), "{:?} {}", key, id);
                }
            }
        }
    }
}
