//! Node failures on a real cluster (`.ci/redis_cluster.sh`). These kill and restart nodes, so
//! they run **sequentially in one test** of their own binary: cargo runs test binaries one after
//! another, so the non-disruptive tests in `cluster.rs` never see a node die.
//!
//! 1. Failover: acknowledged batches, `kill -9` of a master, its replica takes over; every
//!    acknowledged batch is intact; commits after failover succeed (with `wait_replicas=0` at
//!    once; with `wait_replicas=1` once the killed node is back as the new master's replica —
//!    until then they fail, never silently succeed).
//! 2. Whole cluster down and back up under a `World`: commits fail quickly with a clear error,
//!    resident chunks stay readable, edits stay dirty; after the restart (AOF) the next commit
//!    succeeds and a fresh store sees every acknowledged edit.

mod common;

use common::{cluster_dir, cluster_url, port, ports, script, state_ok, url_with, wait_until};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_core::rng::SplitMix64;
use strata_core::store::{WriteBatch, full_range};
use strata_core::{
    Chunk, ChunkKey, ChunkStore, DenseChunk, FlatGenerator, MaterialId, MortonKey, StoreError, VoxelPos, World,
    WorldConfig,
};

fn dense(seed: u16) -> Chunk {
    Chunk::Dense(DenseChunk::from_fn(|p| {
        MaterialId(if (p.z as u16 + seed).is_multiple_of(5) { seed % 100 + 1 } else { 2 })
    }))
}

fn scan_all(store: &dyn ChunkStore) -> BTreeMap<MortonKey, Vec<u8>> {
    let mut out = BTreeMap::new();
    store
        .scan(full_range(), &mut |k, r| {
            out.insert(k, r.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

fn check(store: &dyn ChunkStore, expected: &BTreeMap<ChunkKey, Chunk>, what: &str) {
    check_allowing(store, expected, &BTreeMap::new(), what);
}

/// Every `expected` chunk is stored and intact; other stored chunks must be in `maybe` (an
/// unacknowledged batch that may have landed in some regions) with exactly its content.
fn check_allowing(
    store: &dyn ChunkStore,
    expected: &BTreeMap<ChunkKey, Chunk>,
    maybe: &BTreeMap<ChunkKey, Chunk>,
    what: &str,
) -> usize {
    let keys: Vec<ChunkKey> = expected.keys().copied().collect();
    let got = store.get_many(&keys).unwrap_or_else(|e| panic!("{what}: get_many: {e}"));
    for (k, g) in keys.iter().zip(got) {
        assert_eq!(g.as_ref(), expected.get(k), "{what}: chunk {k:?}");
    }
    let scanned = scan_all(store);
    let mut extra = 0;
    for (k, rec) in &scanned {
        let chunk = k.to_chunk();
        let want = expected.get(&chunk).or_else(|| maybe.get(&chunk));
        assert!(want.is_some(), "{what}: unexpected record {chunk:?}");
        assert_eq!(Some(&strata_core::codec::decode(rec).unwrap()), want, "{what}: scanned {chunk:?}");
        extra += !expected.contains_key(&chunk) as usize;
    }
    assert_eq!(scanned.len() - extra, expected.len(), "{what}: scan count");
    extra
}

#[test]
fn node_failures() {
    let Some(base) = cluster_url("node_failures") else { return };
    let Some(dir) = cluster_dir("node_failures") else { return };
    hung_node(&base, &dir);
    failover(&base, &dir);
    cluster_down_and_up(&base, &dir);
}

/// A master that accepts connections but never answers (SIGSTOP): calls fail within the
/// configured timeouts instead of hanging. Resumed well before `cluster-node-timeout` (2 s), so
/// no failover starts.
fn hung_node(base: &str, dir: &str) {
    let (url, _) = url_with(base, "hung", "op_timeout_ms=800&response_timeout_ms=250&retries=5");
    let store = strata_redis::open(&url).unwrap();
    let key = ChunkKey::new(3, 4, 5);
    let mut batch = WriteBatch::new();
    batch.put(key, &Chunk::Uniform(MaterialId(8)));
    store.commit(&batch).unwrap();
    let victim = store.master_of(key.morton()).unwrap();
    script(&["pause-node", dir, port(&victim)]);
    let start = Instant::now();
    let read = store.get(key);
    let took = start.elapsed();
    script(&["resume-node", dir, port(&victim)]);
    eprintln!("hung node {victim}: read failed after {took:?}: {:?}", read.as_ref().err());
    assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");
    // op_timeout plus at most one socket timeout and scheduling noise (observed: ~1.25 s).
    assert!(took < Duration::from_millis(2500), "read took {took:?} (op_timeout 800 ms, response timeout 250 ms)");
    // Back to normal at once.
    assert_eq!(store.get(key).unwrap(), Some(Chunk::Uniform(MaterialId(8))));
    let live: Vec<String> = ports().into_iter().map(|p| format!("127.0.0.1:{p}")).collect();
    wait_until("cluster_state:ok after resume", Duration::from_secs(30), || live.iter().all(|a| state_ok(a)));
}

fn failover(base: &str, dir: &str) {
    let (url, _) = url_with(base, "failover", "wait_replicas=1&wait_timeout_ms=1000&retries=6");
    let store = strata_redis::open(&url).unwrap();
    let mut rng = SplitMix64(0xfa11);
    let mut expected: BTreeMap<ChunkKey, Chunk> = BTreeMap::new();
    let mut batch = WriteBatch::new();
    let put_random = |batch: &mut WriteBatch, expected: &mut BTreeMap<ChunkKey, Chunk>, rng: &mut SplitMix64| {
        batch.clear();
        for _ in 0..16 {
            let k = ChunkKey::new(rng.range(-64, 64), rng.range(-8, 8), rng.range(-64, 64));
            let c = if rng.below(2) == 0 {
                dense(rng.below(300) as u16)
            } else {
                Chunk::Uniform(MaterialId(rng.below(50) as u16))
            };
            batch.put(k, &c);
            expected.insert(k, c);
        }
    };
    for _ in 0..20 {
        put_random(&mut batch, &mut expected, &mut rng);
        store.commit(&batch).expect("commit before failover");
    }
    check(&store, &expected, "before failover");

    // Kill the master of the first key.
    let first = *expected.keys().next().unwrap();
    let victim = store.master_of(first.morton()).unwrap();
    let victim_keys = expected.keys().filter(|k| store.master_of(k.morton()).as_deref() == Some(&victim)).count();
    eprintln!("failover: killing master {victim} ({victim_keys} of {} chunks)", expected.len());
    script(&["kill-node", dir, port(&victim)]);

    // A commit during the failover window (fresh keys, over every master): all or `Err`, never
    // a partial `Ok`. An `Err` may leave some regions written; resending converges (below).
    let mut in_window = WriteBatch::new();
    let mut in_window_chunks = BTreeMap::new();
    for i in 0..24 {
        let k = ChunkKey::new(i * 9 - 100, 100, i * 13 - 150);
        let c = dense(400 + i as u16);
        in_window.put(k, &c);
        in_window_chunks.insert(k, c);
    }
    let start = Instant::now();
    let in_window_result = store.commit(&in_window);
    eprintln!(
        "failover: commit during the failover window: {:?} after {:?}",
        in_window_result.as_ref().err(),
        start.elapsed()
    );
    if in_window_result.is_ok() {
        expected.extend(in_window_chunks.clone());
    }
    let live: Vec<String> =
        ports().into_iter().filter(|p| p != port(&victim)).map(|p| format!("127.0.0.1:{p}")).collect();
    let took = wait_until("a replica to take over", Duration::from_secs(30), || {
        store.refresh_topology().is_ok()
            && !store.masters().contains(&victim)
            && store.masters().len() == 3
            && live.iter().all(|a| state_ok(a))
    });
    let promoted = store.master_of(first.morton()).unwrap();
    eprintln!("failover: {promoted} took over after {took:?}");

    // Every acknowledged batch is readable and intact (an unacknowledged batch may have landed
    // partly, but only with its own records).
    let partial = check_allowing(&store, &expected, &in_window_chunks, "after failover");
    eprintln!("failover: {partial} chunk(s) of an unacknowledged batch landed");

    // The promoted master has no replica yet: WAIT 1 cannot be satisfied there, so a commit
    // touching it must fail — not be acknowledged.
    batch.clear();
    let c = dense(7);
    batch.put(first, &c);
    let start = Instant::now();
    let result = store.commit(&batch);
    let Err(StoreError::Unavailable(msg)) = &result else {
        panic!("a commit to a master without replicas must fail with wait_replicas=1, got {result:?}");
    };
    eprintln!("failover: orphaned shard, commit refused in {:?}: {msg}", start.elapsed());
    // With wait_replicas=0 commits succeed right away (writes to the primaries only).
    let no_wait = strata_redis::open(&url.replace("wait_replicas=1", "wait_replicas=0")).unwrap();
    no_wait.commit(&batch).expect("commit with wait_replicas=0 after failover");
    expected.insert(first, c);
    // Resending the failed in-window batch (as World does) converges.
    if in_window_result.is_err() {
        no_wait.commit(&in_window).expect("resending the in-window batch");
        expected.extend(in_window_chunks);
    }
    for _ in 0..3 {
        put_random(&mut batch, &mut expected, &mut rng);
        no_wait.commit(&batch).expect("commit with wait_replicas=0 after failover");
    }

    // The killed node comes back (its AOF and nodes.conf), rejoins as the new master's replica;
    // then commits with wait_replicas=1 succeed again.
    script(&["start-node", dir, port(&victim)]);
    let mut n = 0;
    let took = wait_until("the restarted node to replicate", Duration::from_secs(30), || {
        n += 1;
        store.commit(&batch).is_ok()
    });
    eprintln!("failover: restarted node replicates; commit with WAIT 1 ok after {took:?} ({n} attempts)");
    for _ in 0..5 {
        put_random(&mut batch, &mut expected, &mut rng);
        store.commit(&batch).expect("commit with wait_replicas=1 after recovery");
    }
    let fresh = strata_redis::open(&url).unwrap();
    check(&fresh, &expected, "after recovery");
    assert!(!fresh.masters().contains(&victim), "the restarted node should be a replica now");
}

fn cluster_down_and_up(base: &str, dir: &str) {
    let (url, _) = url_with(
        base,
        "down-up",
        "wait_replicas=1&wait_timeout_ms=1000&retries=3&op_timeout_ms=4000&connect_timeout_ms=300",
    );
    let store: Arc<dyn ChunkStore> = Arc::new(strata_redis::open(&url).unwrap());
    let generator = Arc::new(FlatGenerator { height: 0, material: MaterialId(1) });
    let mut world = World::new(store, generator.clone(), WorldConfig::default());
    let mut expected: BTreeMap<VoxelPos, MaterialId> = BTreeMap::new();
    let set = |world: &mut World, expected: &mut BTreeMap<VoxelPos, MaterialId>, pos: VoxelPos, m: u16| {
        world.set_voxel(pos, MaterialId(m));
        expected.insert(pos, MaterialId(m));
    };
    // Edits in 12 chunks over many regions.
    let positions: Vec<VoxelPos> =
        (0..12).map(|i| VoxelPos::new(i * 700 - 4000, (i % 3) * 40 - 40, 3000 - i * 600)).collect();
    for (i, p) in positions.iter().enumerate() {
        set(&mut world, &mut expected, *p, 10 + i as u16);
    }
    world.commit().expect("commit with the cluster up");

    // The whole cluster dies.
    for p in ports() {
        script(&["kill-node", dir, &p]);
    }
    for (i, p) in positions.iter().enumerate() {
        set(&mut world, &mut expected, VoxelPos::new(p.x + 1, p.y, p.z), 30 + i as u16);
    }
    let start = Instant::now();
    let err = world.commit().expect_err("commit with the cluster down must fail");
    let took = start.elapsed();
    eprintln!("cluster down: commit failed after {took:?}: {err}");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(took < Duration::from_secs(6), "commit took {took:?} (op_timeout 4 s)");
    // The game keeps running from the cache: resident chunks read, edits kept.
    for (p, m) in &expected {
        assert_eq!(world.voxel(*p).unwrap(), *m, "resident read at {p:?}");
    }
    assert_eq!(world.stats().dirty_chunks, positions.len(), "edits must stay dirty");
    // A second failing commit changes nothing either.
    assert!(world.commit().is_err());
    assert_eq!(world.stats().dirty_chunks, positions.len());

    // Back up: every node from its own config, nodes.conf and AOF (the script waits for
    // cluster_state:ok and synced replicas). The store's pooled connections are dead; the commit
    // reconnects within its retries.
    script(&["start-all", dir]);
    let live: Vec<String> = ports().into_iter().map(|p| format!("127.0.0.1:{p}")).collect();
    assert!(live.iter().all(|a| state_ok(a)));
    let r = world.commit().expect("the first commit after the restart");
    eprintln!("cluster up: commit ok ({} chunks)", r.entries);
    assert_eq!(world.stats().dirty_chunks, 0);
    set(&mut world, &mut expected, VoxelPos::new(5, 5, 5), 99);
    world.commit().expect("commit after recovery");

    // A fresh store and world see every acknowledged and every later-committed edit.
    let fresh: Arc<dyn ChunkStore> = Arc::new(strata_redis::open(&url).unwrap());
    assert_eq!(fresh.stats().unwrap().records, positions.len() as u64 + 1);
    let mut reread = World::new(fresh, generator, WorldConfig::default());
    for (p, m) in &expected {
        assert_eq!(reread.voxel(*p).unwrap(), *m, "after restart at {p:?}");
    }
}
