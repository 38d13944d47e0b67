//! Metrics of the Redis Cluster backend. Runs only when `STRATA_REDIS_CLUSTER` holds a
//! store URL (`.ci/redis_cluster.sh start <dir>` prints one); otherwise one note on stderr and no
//! metric lines. The peer is the embedded store (`RedbStore` in a temporary directory), measured
//! in the same run, batch by batch.

use crate::{Budget, Metric, keep, median, side_by_side_ns};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use strata_core::store::WriteBatch;
use strata_core::{Chunk, ChunkKey, ChunkStore, MaterialId, StoreError, VoxelPos, World, WorldConfig, WorldGenerator};
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_redb::RedbStore;
use strata_redis::RedisClusterStore;
use strata_redis::keys::Layout;

/// Runs every Redis metric (none without a cluster).
pub fn run(budget: Budget) -> Vec<Metric> {
    let Some(base) = std::env::var("STRATA_REDIS_CLUSTER").ok().filter(|u| !u.is_empty()) else {
        eprintln!(
            "redis metrics skipped: STRATA_REDIS_CLUSTER is unset (start a cluster with \
             `.ci/redis_cluster.sh start <dir>` and export the URL it prints)"
        );
        return Vec::new();
    };
    // A world of its own per run, so reruns on one cluster never see old data.
    let url = strata_redis::url_with_world(&base, &strata_redis::unique_world_name("bench"));
    let redis = match strata_redis::open(&url) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("redis metrics skipped: cannot open {url}: {e}");
            return Vec::new();
        }
    };
    let Ok(dir) = tempfile::tempdir() else {
        eprintln!("redis metrics skipped: no temporary directory");
        return Vec::new();
    };
    let Ok(redb) = RedbStore::open(dir.path().join("peer.strata")) else {
        eprintln!("redis metrics skipped: cannot create the redb peer");
        return Vec::new();
    };
    let redb = Arc::new(redb);

    let mut out = Vec::new();
    read_metric(budget, &redis, &redb, &mut out);
    commit_metric(budget, &redis, &redb, &mut out);
    concurrent_commit_metric(budget, &base, &mut out);
    placement_metrics(&redis, &mut out);
    shared_world_metric(&base, &mut out);
    out
}

/// 256 dense chunks of the default terrain's surface: per (x, z) column of a 16 × 16 patch, the
/// first dense chunk from y = -4 up.
fn surface_chunks() -> Vec<(ChunkKey, Chunk)> {
    let g = NoiseTerrain::new(TerrainConfig::default());
    let mut out = Vec::with_capacity(256);
    for x in 0..16 {
        for z in 0..16 {
            let found = (-4..8)
                .map(|y| ChunkKey::new(x, y, z))
                .map(|k| (k, g.generate(k)))
                .find(|(_, c)| matches!(c, Chunk::Dense(_)));
            if let Some(kc) = found {
                out.push(kc);
            }
        }
    }
    out
}

/// `redis.read_chunks_per_s`: one batched read (`get_many`: a pipeline of `GET`s per master,
/// masters in parallel; redb: 256 point reads in one read transaction) of 256 stored dense
/// terrain chunks, decoded. Every read must return all 256 chunks on both sides: a failed or
/// short read fails the report instead of timing an error path.
fn read_metric(budget: Budget, redis: &Arc<RedisClusterStore>, redb: &Arc<RedbStore>, out: &mut Vec<Metric>) {
    let chunks = surface_chunks();
    let mut batch = WriteBatch::new();
    for (k, c) in &chunks {
        batch.put(*k, c);
    }
    if let Err(e) = redis.commit(&batch).and_then(|_| redb.commit(&batch)) {
        eprintln!("redis.read_chunks_per_s skipped: {e}");
        return;
    }
    let keys: Vec<ChunkKey> = chunks.iter().map(|(k, _)| *k).collect();
    let hits = |side: &str, got: Result<Vec<Option<Chunk>>, StoreError>| -> usize {
        let n = match got {
            Ok(v) => v.iter().filter(|c| c.is_some()).count(),
            Err(e) => panic!("redis.read_chunks_per_s: the {side} read failed: {e}"),
        };
        assert_eq!(n, keys.len(), "redis.read_chunks_per_s: the {side} read found {n} of {} chunks", keys.len());
        n
    };
    let (ns_redis, ns_redb) = side_by_side_ns(
        budget.batches.max(9),
        budget.iters(10),
        || {
            keep(hits("redis", redis.get_many(&keys)));
        },
        || {
            keep(hits("redb", redb.get_many(&keys)));
        },
    );
    let per_s = |ns: f64| keys.len() as f64 * 1e9 / ns;
    out.push(Metric::with_peer("redis.read_chunks_per_s", per_s(ns_redis), "chunks_per_s", "redb", per_s(ns_redb)));
    batch.clear();
    for k in &keys {
        batch.delete(*k);
    }
    let _ = redis.commit(&batch);
}

/// `redis.commit_256_ms`: `World::commit` of 256 dirty chunks (one voxel edited in each of a
/// 16 × 4 × 4 block of terrain chunks — a few regions, so a few masters), same edits in both
/// worlds, alternating batch by batch. Redis: per-region `MULTI`/`EXEC` + `WAIT` for the
/// configured replicas (default 1); redb: one transaction with fsync.
fn commit_metric(budget: Budget, redis: &Arc<RedisClusterStore>, redb: &Arc<RedbStore>, out: &mut Vec<Metric>) {
    let generator = Arc::new(NoiseTerrain::new(TerrainConfig::default()));
    let mut worlds = [
        World::new(redis.clone(), generator.clone(), WorldConfig::default()),
        World::new(redb.clone(), generator, WorldConfig::default()),
    ];
    let keys: Vec<ChunkKey> = (0..256).map(|i| ChunkKey::new(i % 16, (i / 16) % 4 - 2, i / 64)).collect();
    for w in &mut worlds {
        for k in &keys {
            w.chunk(*k).expect("loading a chunk");
        }
    }
    let mut ms = [Vec::new(), Vec::new()];
    for b in 0..budget.batches.max(9) {
        for (w, samples) in worlds.iter_mut().zip(&mut ms) {
            for k in &keys {
                let p = k.min_voxel();
                w.set_voxel(VoxelPos::new(p.x + (b % 32) as i32, p.y + 3, p.z + 7), MaterialId(19 - (b % 2) as u16));
            }
            w.apply().expect("applying the edits");
            let t = Instant::now();
            let receipt = w.commit().expect("redis.commit_256_ms: a commit failed");
            samples.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(receipt.entries, 256, "redis.commit_256_ms: every chunk in the commit");
        }
    }
    if ms[0].len() >= 9 && ms[1].len() >= 9 {
        out.push(Metric::with_peer("redis.commit_256_ms", median(&ms[0]), "ms", "redb", median(&ms[1])));
    }
    let mut batch = WriteBatch::new();
    for k in &keys {
        batch.delete(*k);
    }
    let _ = redis.commit(&batch);
}

/// `redis.commit_256_ms_4_writers`: `World::commit` of 256 dirty chunks (one voxel edited in
/// each of a 16 × 4 × 4 block of terrain chunks) by each of 4 writers at once — threads, each
/// its own store handle and world, the **same** 256 chunks, each writer its own voxels, so
/// every commit conflicts on chunks the others committed and merges them (the cost of a shared
/// world that loses nothing). Peer `1_writer`: the same commit by one writer alone (its chunks
/// reloaded first, untimed, so nothing conflicts), rounds of the two alternating in one run.
/// The median over every commit of the rounds' writers.
fn concurrent_commit_metric(budget: Budget, base: &str, out: &mut Vec<Metric>) {
    const WRITERS: usize = 4;
    let url = strata_redis::url_with_world(base, &strata_redis::unique_world_name("bench-writers"));
    let generator: Arc<dyn WorldGenerator> = Arc::new(NoiseTerrain::new(TerrainConfig::default()));
    let keys: Vec<ChunkKey> = (0..256).map(|i| ChunkKey::new(i % 16, (i / 16) % 4 - 2, i / 64)).collect();
    let open = || -> Option<World> {
        let store =
            strata_redis::open(&url).map_err(|e| eprintln!("redis.commit_256_ms_4_writers skipped: {e}")).ok()?;
        let mut w = World::new(Arc::new(store), generator.clone(), WorldConfig::default());
        for k in &keys {
            w.chunk(*k).ok()?;
        }
        Some(w)
    };
    let Some(mut worlds) = (0..WRITERS).map(|_| open()).collect::<Option<Vec<World>>>() else { return };
    // Writer `w` edits voxels with x ≡ w (mod 4), a new one per round.
    let commit = |w: usize, world: &mut World, round: usize| -> f64 {
        for k in &keys {
            let p = k.min_voxel();
            let x = (4 * (round % 8) + w) as i32;
            world.set_voxel(
                VoxelPos::new(p.x + x, p.y + 3 + (round / 8 % 8) as i32, p.z + 7),
                MaterialId(30 + w as u16),
            );
        }
        world.apply().expect("applying the edits");
        let t = Instant::now();
        let receipt = world.commit().expect("redis.commit_256_ms_4_writers: a commit failed");
        assert_eq!(receipt.entries, 256, "redis.commit_256_ms_4_writers: every chunk in the commit");
        t.elapsed().as_secs_f64() * 1e3
    };
    let (mut alone, mut together) = (Vec::new(), Vec::new());
    for round in 0..budget.batches.max(9) {
        // Alone: writer 0 first reloads the chunks the others wrote (not timed), so its commit
        // conflicts with nothing, as a writer alone in its world.
        for k in &keys {
            worlds[0].evict(*k);
            worlds[0].chunk(*k).expect("reloading a chunk");
        }
        alone.push(commit(0, &mut worlds[0], 2 * round));
        let times: Vec<f64> = std::thread::scope(|scope| {
            let handles: Vec<_> = worlds
                .iter_mut()
                .enumerate()
                .map(|(w, world)| scope.spawn(move || commit(w, world, 2 * round + 1)))
                .collect();
            handles.into_iter().map(|h| h.join().expect("a writer panicked")).collect()
        });
        together.extend(times);
    }
    out.push(Metric::with_peer("redis.commit_256_ms_4_writers", median(&together), "ms", "1_writer", median(&alone)));
    let mut batch = WriteBatch::new();
    for k in &keys {
        batch.delete(*k);
    }
    let _ = worlds[0].store().commit(&batch);
}

/// `redis.shared_world_lost_edits`: the shared-world model workload
/// ([`strata_core::shared_world`]: 4 writers × 200 commits of 4 voxel writes each, their own
/// voxels in nine chunks of three regions, rewrites and reverts included, a 40 ms pause after
/// each commit) while the master holding the first chunk is killed (`kill -9`) one second in
/// and restarted once a replica took over; then the voxels whose last write was acknowledged
/// that a fresh reader does not see. Target 0. `redis.shared_world_checked_voxels` says how
/// many were checked. Needs `STRATA_REDIS_CLUSTER_DIR` (the cluster `.ci/redis_cluster.sh`
/// started) to kill the node; without it, one note and no metric.
fn shared_world_metric(base: &str, out: &mut Vec<Metric>) {
    use strata_core::shared_world::{self, Workload};
    let Some(dir) = std::env::var("STRATA_REDIS_CLUSTER_DIR").ok().filter(|d| !d.is_empty()) else {
        eprintln!("redis.shared_world_lost_edits skipped: STRATA_REDIS_CLUSTER_DIR is unset (needed to kill a master)");
        return;
    };
    let url = strata_redis::url_with_world(base, &strata_redis::unique_world_name("bench-shared"));
    let url = format!("{url}&wait_replicas=1&wait_timeout_ms=1000&retries=6");
    let workload = Workload { pause: std::time::Duration::from_millis(40), ..Workload::standard(4, 200, 0x5eed) };
    let open_store =
        || strata_redis::open(&url).map_err(|e| eprintln!("redis.shared_world_lost_edits skipped: {e}")).ok();
    let (Some(probe), Some(reader)) = (open_store(), open_store()) else { return };
    let Some(victim) = probe.master_of(workload.chunks[0].morton()) else { return };
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/redis_cluster.sh");
    let node = |what: &str, addr: &str| {
        let port = addr.rsplit_once(':').map_or(addr, |(_, p)| p);
        let status = std::process::Command::new("bash").arg(&script).args([what, &dir, port]).status();
        assert!(status.is_ok_and(|s| s.success()), "redis.shared_world_lost_edits: {what} {addr} failed");
    };
    let generator: Arc<dyn WorldGenerator> =
        Arc::new(strata_core::FlatGenerator { height: 4, material: MaterialId(1) });
    let open = |_| -> Arc<dyn ChunkStore> { Arc::new(strata_redis::open(&url).expect("opening a writer's store")) };
    let outcome = shared_world::run(&workload, generator, &open, Arc::new(reader), || {
        std::thread::sleep(std::time::Duration::from_secs(1));
        node("kill-node", &victim);
        let start = Instant::now();
        while !(probe.refresh_topology().is_ok() && !probe.masters().contains(&victim) && probe.masters().len() == 3) {
            assert!(start.elapsed().as_secs() < 60, "redis.shared_world_lost_edits: no replica took over");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        node("start-node", &victim);
    });
    eprintln!(
        "redis.shared_world_lost_edits: {} voxels checked, {} lost, {} unacknowledged; {} commits acknowledged, {} failed (retried)",
        outcome.checked,
        outcome.lost.len(),
        outcome.unacknowledged,
        outcome.acknowledged_commits,
        outcome.failed_commits
    );
    out.push(Metric::new("redis.shared_world_lost_edits", outcome.lost.len() as f64, "voxels"));
    out.push(Metric::new("redis.shared_world_checked_voxels", outcome.checked as f64, "voxels"));
    // The restarted node rejoins as a replica: wait for the cluster to be whole again.
    let status = std::process::Command::new("bash").arg(&script).args(["wait-ok", &dir]).status();
    assert!(status.is_ok_and(|s| s.success()), "redis.shared_world_lost_edits: the cluster did not recover");
}

/// Placement, from the key layout and the cluster's live slot map (no data written):
///
/// - `redis.balance_max_over_mean`: a globe — every chunk a sphere of radius 128 chunks (4096
///   voxels) passes through (≈ 206 k chunks, its whole surface shell) — counted per master that
///   would store it; keys on the fullest master ÷ the mean over masters (1 = perfect).
/// - `redis.locality`: a viewer on that sphere's surface reads every chunk within 8 chunks
///   (2 109 chunks); the fraction of those reads served by the single node that serves the most
///   of them (1 = one node serves the whole neighbourhood; 1/3 = spread evenly over 3 masters).
///
/// Both use a fixed world name (`globe`) with the store's `region_level`, so they do not depend
/// on this run's world name (the hash tag includes it).
fn placement_metrics(redis: &RedisClusterStore, out: &mut Vec<Metric>) {
    let layout = Layout::new("globe", redis.layout().region_level());
    let mut master_of_region: HashMap<u128, Option<String>> = HashMap::new();
    let mut master = |k: ChunkKey| -> Option<String> {
        let region = layout.region_of(k.morton());
        master_of_region.entry(region).or_insert_with(|| redis.master_of_slot(layout.region_slot(region))).clone()
    };

    let r = 128.0f64;
    let n = r as i32 + 1;
    let mut per_master: HashMap<String, u64> = redis.masters().into_iter().map(|m| (m, 0)).collect();
    for x in -n..=n {
        for y in -n..=n {
            for z in -n..=n {
                // Chunks whose centre is within √3/2 chunk of the sphere.
                let d = ((x as f64 + 0.5).powi(2) + (y as f64 + 0.5).powi(2) + (z as f64 + 0.5).powi(2)).sqrt();
                if (d - r).abs() < 0.87
                    && let Some(m) = master(ChunkKey::new(x, y, z))
                {
                    *per_master.entry(m).or_default() += 1;
                }
            }
        }
    }
    let total: u64 = per_master.values().sum();
    if total > 0 && !per_master.is_empty() {
        let mean = total as f64 / per_master.len() as f64;
        let max = *per_master.values().max().unwrap_or(&0) as f64;
        out.push(Metric::new("redis.balance_max_over_mean", max / mean, "ratio"));
    }

    // Viewer at the top of the sphere.
    let (cx, cy, cz) = (0, r as i32, 0);
    let rv = 8;
    let mut reads: HashMap<String, u64> = HashMap::new();
    for x in -rv..=rv {
        for y in -rv..=rv {
            for z in -rv..=rv {
                if x * x + y * y + z * z <= rv * rv
                    && let Some(m) = master(ChunkKey::new(cx + x, cy + y, cz + z))
                {
                    *reads.entry(m).or_default() += 1;
                }
            }
        }
    }
    let total: u64 = reads.values().sum();
    if total > 0 {
        let max = *reads.values().max().unwrap_or(&0) as f64;
        out.push(Metric::new("redis.locality", max / total as f64, "fraction"));
    }
}
