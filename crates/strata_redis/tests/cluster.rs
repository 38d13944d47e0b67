//! `RedisClusterStore` against a real cluster (`.ci/redis_cluster.sh`), without disrupting it:
//! round trips against `MemoryStore`, sharding, a bounded load test. Node failures are in
//! `failover.rs` (a separate test binary, so they never run concurrently with these).

mod common;

use common::{cluster_url, url_with};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_core::rng::SplitMix64;
use strata_core::store::{WriteBatch, full_range};
use strata_core::{
    Chunk, ChunkKey, ChunkStore, DecodeError, DenseChunk, MaterialId, MemoryStore, MortonKey, StoreError, StoredSummary,
};

fn dense(seed: u16) -> Chunk {
    Chunk::Dense(DenseChunk::from_fn(|p| {
        MaterialId(if (p.x as u16 + p.y as u16 * 3 + seed) % 7 < 3 { seed % 200 + 1 } else { 0 })
    }))
}

/// Every record a scan gives, by key, decoded where it was read (so each must be sealed for the
/// store's world and bound to its key; stores of different worlds compare by content).
type Decoded = Result<(Chunk, strata_core::ProcessHistory), DecodeError>;
fn records(store: &dyn ChunkStore, range: std::ops::RangeInclusive<MortonKey>) -> Vec<(MortonKey, Decoded)> {
    let mut out = Vec::new();
    store
        .scan(range, &mut |k, r| {
            out.push((k, strata_core::codec::decode_at(r, store.home(k))));
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

/// Every summary a scan gives, by key (`Err` for chunks that could not be summarised).
fn summaries(
    store: &dyn ChunkStore,
    range: std::ops::RangeInclusive<MortonKey>,
) -> Vec<(MortonKey, Result<StoredSummary, DecodeError>)> {
    let mut out = Vec::new();
    store
        .scan_summaries(range, &mut |k, s| {
            out.push((k, s));
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

/// Every chunk cell a scan gives, by key.
fn chunk_cells(
    store: &dyn ChunkStore,
    range: std::ops::RangeInclusive<MortonKey>,
) -> Vec<(MortonKey, Result<strata_core::summary_record::StoredCell, DecodeError>)> {
    let mut out = Vec::new();
    store
        .scan_chunk_cells(range, &mut |k, c| {
            out.push((k, c));
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

#[test]
fn bad_url_and_unreachable_cluster_are_typed_errors() {
    assert!(matches!(strata_redis::open("redis://127.0.0.1:7100/"), Err(StoreError::InvalidConfig(_))));
    assert!(matches!(strata_redis::open("redis+cluster://127.0.0.1:7100/?bogus=1"), Err(StoreError::InvalidConfig(_))));
    // Nothing listens on port 1: a clear error, quickly.
    let start = Instant::now();
    let r = strata_redis::open("redis+cluster://127.0.0.1:1/?connect_timeout_ms=500");
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{:?}", r.err());
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// The contract every store keeps (the one `MemoryStore` and `RedbStore` pass), on a fresh world.
#[test]
fn keeps_the_store_contract() {
    let Some(base) = cluster_url("keeps_the_store_contract") else { return };
    let (url, _) = url_with(&base, "contract", "");
    strata_core::store::contract::run(&strata_redis::open(&url).unwrap());
}

/// The palette contract on a shared world: reopened with materials renumbered or removed, and
/// two servers recording their palettes at once (compare-and-set in the meta hash).
#[test]
fn keeps_the_palette_contract() {
    let Some(base) = cluster_url("keeps_the_palette_contract") else { return };
    let (url, _) = url_with(&base, "palettes", "");
    strata_core::store::contract::palettes(&|| Arc::new(strata_redis::open(&url).unwrap()) as Arc<dyn ChunkStore>);
    let (url, _) = url_with(&base, "game-data", "");
    strata_core::store::contract::game_data(&|| Arc::new(strata_redis::open(&url).unwrap()) as Arc<dyn ChunkStore>);
    let (url, _) = url_with(&base, "palette-writers", "");
    strata_core::store::contract::concurrent_palettes(&|| {
        Arc::new(strata_redis::open(&url).unwrap()) as Arc<dyn ChunkStore>
    });
}

#[test]
fn round_trip_matches_memory_store() {
    let Some(base) = cluster_url("round_trip_matches_memory_store") else { return };
    let (url, _) = url_with(&base, "roundtrip", "region_level=2");
    let store = strata_redis::open(&url).unwrap();
    let reference = MemoryStore::new();
    let mut rng = SplitMix64(0x5eed_1234);
    // Keys over several regions of 4³ chunks, including negative coordinates.
    let keys: Vec<ChunkKey> =
        (0..120).map(|_| ChunkKey::new(rng.range(-9, 9), rng.range(-5, 5), rng.range(-9, 9))).collect();
    let mut batch = WriteBatch::new();
    for round in 0..25 {
        batch.clear();
        for _ in 0..rng.below(40) + 1 {
            let k = keys[rng.below(keys.len() as u64) as usize];
            match rng.below(5) {
                0 => batch.delete(k),
                1 | 2 => batch.put(k, &Chunk::Uniform(MaterialId(rng.below(50) as u16))),
                _ => batch.put(k, &dense(rng.below(1000) as u16)),
            }
        }
        let receipt = store.commit(&batch).unwrap();
        assert_eq!(receipt.entries, batch.len());
        reference.commit(&batch).unwrap();

        assert_eq!(store.get_many(&keys).unwrap(), reference.get_many(&keys).unwrap(), "round {round}");
        for k in keys.iter().take(5) {
            assert_eq!(store.get(*k).unwrap(), reference.get(*k).unwrap());
        }
        assert_eq!(records(&store, full_range()), records(&reference, full_range()), "full scan, round {round}");
        assert_eq!(summaries(&store, full_range()), summaries(&reference, full_range()), "summaries, round {round}");
        assert_eq!(chunk_cells(&store, full_range()), chunk_cells(&reference, full_range()), "cells, round {round}");
        for _ in 0..4 {
            let c = keys[rng.below(keys.len() as u64) as usize];
            let range = MortonKey::region_range(c, rng.below(5) as u32);
            assert_eq!(records(&store, range.clone()), records(&reference, range.clone()), "region scan");
            assert_eq!(summaries(&store, range.clone()), summaries(&reference, range.clone()), "region summaries");
            assert_eq!(chunk_cells(&store, range.clone()), chunk_cells(&reference, range), "region cells");
            let (a, b) = (keys[rng.below(120) as usize].morton(), keys[rng.below(120) as usize].morton());
            let range = a.min(b)..=a.max(b);
            assert_eq!(records(&store, range.clone()), records(&reference, range), "key range scan");
        }
    }
    assert_eq!(store.stats().unwrap(), reference.stats().unwrap());

    // Early stop.
    let mut n = 0;
    store
        .scan(full_range(), &mut |_, _| {
            n += 1;
            if n == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .unwrap();
    assert_eq!(n, 3.min(reference.stats().unwrap().records as usize));

    // A corrupt record is a typed error through the trait, never a panic.
    let bad = ChunkKey::new(100, 100, 100);
    batch.clear();
    batch.put_record(bad.morton(), b"STRCgarbage");
    store.commit(&batch).unwrap();
    assert!(matches!(store.get(bad), Err(StoreError::Corrupt { key, .. }) if key == bad));
    assert!(matches!(store.get_many(&[keys[0], bad]), Err(StoreError::Corrupt { key, .. }) if key == bad));
    let bad_range = MortonKey::region_range(bad, 0);
    assert!(matches!(summaries(&store, bad_range)[..], [(k, Err(_))] if k == bad.morton()));

    // A chunk stored without a summary (as a world written before summaries were kept) is
    // summarised from its record; one whose summary is damaged too.
    let old = ChunkKey::new(101, 100, 100);
    let region = store.layout().region_of(old.morton());
    let mut record = Vec::new();
    strata_core::codec::seal_into(
        &strata_core::codec::encode(old.morton(), &dense(77)),
        store.world_id(),
        1,
        &mut record,
    );
    let primary = store.master_of(old.morton()).unwrap();
    let mut set = redis::cmd("SET");
    set.arg(store.layout().record_key(old.morton())).arg(&record);
    common::node_cmd(&primary, &set).unwrap();
    let mut zadd = redis::cmd("ZADD");
    zadd.arg(store.layout().index_key(region)).arg(0).arg(strata_redis::keys::member(old.morton()));
    common::node_cmd(&primary, &zadd).unwrap();
    let want = vec![(old.morton(), Ok(StoredSummary::of(&dense(77), Default::default(), strata_core::Up::PosY)))];
    assert_eq!(summaries(&store, MortonKey::region_range(old, 0)), want);
    let cell = vec![(
        old.morton(),
        Ok(StoredSummary::of(&dense(77), Default::default(), strata_core::Up::PosY).stored_cell()),
    )];
    assert_eq!(chunk_cells(&store, MortonKey::region_range(old, 0)), cell);
    let mut hset = redis::cmd("HSET");
    hset.arg(store.layout().summaries_key(region))
        .arg(strata_redis::keys::member(old.morton()))
        .arg(&b"STRS damaged"[..]);
    common::node_cmd(&primary, &hset).unwrap();
    assert_eq!(summaries(&store, MortonKey::region_range(old, 0)), want);
    assert_eq!(chunk_cells(&store, MortonKey::region_range(old, 0)), cell);

    // Records are sealed for the world and bound to their key: the same intact record SET
    // under another key (as a key-mapping bug or a hand-copied key would) is misplaced.
    let (header, _) = strata_core::codec::parse_record(&store.get_record(keys[0].morton()).unwrap().unwrap()).unwrap();
    assert_eq!(header.home, Some(store.home(keys[0].morton())));
    let moved = ChunkKey::new(102, 100, 100);
    let mut set = redis::cmd("SET");
    set.arg(store.layout().record_key(moved.morton())).arg(&record);
    common::node_cmd(&store.master_of(moved.morton()).unwrap(), &set).unwrap();
    match store.get(moved) {
        Err(StoreError::Corrupt { key, source: DecodeError::Misplaced { claims, .. } }) => {
            assert_eq!((key, claims.key), (moved, old.morton()));
        }
        other => panic!("{other:?}"),
    }

    // A fresh store on the same world sees the same data (nothing lives only in the client).
    let reopened = strata_redis::open(&url).unwrap();
    assert_eq!(reopened.world_id(), store.world_id());
    assert_eq!(reopened.get_many(&keys).unwrap(), reference.get_many(&keys).unwrap());
    // The world's region level is fixed.
    let other_level = url.replace("region_level=2", "region_level=3");
    assert!(matches!(strata_redis::open(&other_level), Err(StoreError::InvalidConfig(_))));

    // A hand-made key outside the valid range (it would alias x = CHUNK_COORD_MIN) is refused
    // on read and on commit, and a batch naming one writes nothing.
    let bad = ChunkKey::new(strata_core::CHUNK_COORD_MAX + 1, 0, 0);
    let fresh = ChunkKey::new(40, 40, 40);
    let mut batch = WriteBatch::new();
    batch.put(fresh, &dense(1));
    batch.put(bad, &dense(2));
    assert!(matches!(store.commit(&batch), Err(StoreError::InvalidKey { key }) if key == bad));
    assert_eq!(store.get(fresh).unwrap(), None);
    assert!(matches!(store.get_many(&[fresh, bad]), Err(StoreError::InvalidKey { key }) if key == bad));
    assert!(matches!(store.get(bad), Err(StoreError::InvalidKey { key }) if key == bad));
}

#[test]
fn reads_from_replicas() {
    let Some(base) = cluster_url("reads_from_replicas") else { return };
    let (url, _) = url_with(&base, "replica-reads", "wait_replicas=1");
    let store = strata_redis::open(&url).unwrap();
    let mut batch = WriteBatch::new();
    let keys: Vec<ChunkKey> = (0..40).map(|i| ChunkKey::new(i * 8, 0, -i * 8)).collect();
    for (i, k) in keys.iter().enumerate() {
        batch.put(*k, &Chunk::Uniform(MaterialId(i as u16 + 1)));
    }
    store.commit(&batch).unwrap();
    // WAIT confirmed the replicas received the writes, so replica reads see them.
    let replica_url = format!("{url}&read_from_replicas=true");
    let replica = strata_redis::open(&replica_url).unwrap();
    assert_eq!(replica.get_many(&keys).unwrap(), store.get_many(&keys).unwrap());
    assert_eq!(records(&replica, full_range()), records(&store, full_range()));
}

#[test]
fn regions_share_a_slot_and_spread_over_masters() {
    let Some(base) = cluster_url("regions_share_a_slot_and_spread_over_masters") else { return };
    let (url, _) = url_with(&base, "sharding", "region_level=3");
    let store = strata_redis::open(&url).unwrap();
    let layout = store.layout();

    // Every chunk of one 8³ region: one slot, and our slot equals the server's CLUSTER KEYSLOT.
    let origin = ChunkKey::new(-16, 8, 24);
    let region: Vec<MortonKey> =
        (0..512).map(|i| ChunkKey::new(-16 + (i & 7), 8 + ((i >> 3) & 7), 24 + (i >> 6)).morton()).collect();
    let slot = store.slot_of(origin.morton());
    assert!(region.iter().all(|k| store.slot_of(*k) == slot));
    let master = store.master_of(origin.morton()).unwrap();
    for k in region.iter().step_by(97) {
        let name = layout.record_key(*k);
        let v = common::node_cmd(&master, redis::cmd("CLUSTER").arg("KEYSLOT").arg(&name)).unwrap();
        assert_eq!(v, redis::Value::Int(slot as i64), "{name}");
    }
    // The neighbouring region is elsewhere.
    assert_ne!(store.slot_of(ChunkKey::new(-8, 8, 24).morton()), slot);

    // A globe: every chunk a sphere of radius 40 chunks (1280 voxels) passes through. Its
    // regions spread over all three masters, none with much more than its share. (A fixed
    // world name, so the hash tags — and the outcome — do not change between runs.)
    let layout = &strata_redis::keys::Layout::new("globe", 3);
    let r = 40.0f64;
    let mut regions = HashSet::new();
    let n = 41;
    for x in -n..=n {
        for y in -n..=n {
            for z in -n..=n {
                let d = ((x as f64 + 0.5).powi(2) + (y as f64 + 0.5).powi(2) + (z as f64 + 0.5).powi(2)).sqrt();
                if (d - r).abs() < 0.87 {
                    regions.insert(layout.region_of(ChunkKey::new(x, y, z).morton()));
                }
            }
        }
    }
    let mut per_master: HashMap<String, usize> = HashMap::new();
    for reg in &regions {
        let (lo, _) = layout.region_bounds(*reg);
        *per_master.entry(store.master_of_slot(layout.region_slot(layout.region_of(lo))).unwrap()).or_default() += 1;
    }
    assert_eq!(per_master.len(), 3, "{per_master:?}");
    let max = *per_master.values().max().unwrap() as f64;
    let mean = regions.len() as f64 / 3.0;
    eprintln!("globe: {} regions, max/mean {:.3}: {per_master:?}", regions.len(), max / mean);
    assert!(max / mean < 1.2, "max/mean = {} over {} regions: {per_master:?}", max / mean, regions.len());
}

#[test]
fn bounded_load_four_threads() {
    let Some(base) = cluster_url("bounded_load_four_threads") else { return };
    let (url, _) = url_with(&base, "load", "");
    let store = Arc::new(strata_redis::open(&url).unwrap());
    let start = Instant::now();
    let limit = Duration::from_secs(20);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut rng = SplitMix64(0xabc + t);
                let mut expected: BTreeMap<ChunkKey, Chunk> = BTreeMap::new();
                let mut batch = WriteBatch::new();
                let mut commits = 0;
                // Each thread owns the chunks with x ≡ t (mod 4), spread over many regions.
                while commits < 100 && start.elapsed() < limit {
                    batch.clear();
                    for _ in 0..8 {
                        let k = ChunkKey::new(rng.range(-10, 10) * 4 + t as i32, rng.range(-6, 6), rng.range(-40, 40));
                        let c = if rng.below(3) == 0 {
                            dense(rng.below(500) as u16)
                        } else {
                            Chunk::Uniform(MaterialId(rng.below(99) as u16))
                        };
                        batch.put(k, &c);
                        expected.insert(k, c);
                    }
                    store.commit(&batch).unwrap();
                    commits += 1;
                    let keys: Vec<ChunkKey> = expected.keys().copied().collect();
                    let got = store.get_many(&keys).unwrap();
                    for (k, g) in keys.iter().zip(got) {
                        assert_eq!(g.as_ref(), expected.get(k), "thread {t}, {k:?}");
                    }
                }
                (commits, expected)
            })
        })
        .collect();
    let mut all = BTreeMap::new();
    let mut commits = 0;
    for t in threads {
        let (c, e) = t.join().unwrap();
        commits += c;
        all.extend(e);
    }
    assert!(start.elapsed() < limit + Duration::from_secs(5));
    assert!(commits >= 60, "only {commits} commits in {:?}", start.elapsed());
    let keys: Vec<ChunkKey> = all.keys().copied().collect();
    let got = store.get_many(&keys).unwrap();
    assert!(keys.iter().zip(&got).all(|(k, g)| g.as_ref() == all.get(k)));
    assert_eq!(store.stats().unwrap().records, all.len() as u64);
    eprintln!("load: {commits} commits of 8 chunks + reads by 4 threads in {:?}", start.elapsed());
}

/// Conditional puts: the script refuses a region whose condition fails and writes nothing of
/// it; other regions of the batch are written.
#[test]
fn conditional_puts_refuse_a_changed_record() {
    use strata_core::store::Expect;
    let Some(base) = cluster_url("conditional_puts_refuse_a_changed_record") else { return };
    let (url, _) = url_with(&base, "cas", "");
    let store = strata_redis::open(&url).unwrap();
    // k and near share a region, other is in another.
    let (k, near, other) = (ChunkKey::new(0, 0, 0), ChunkKey::new(1, 0, 0), ChunkKey::new(64, 0, 0));
    let history = strata_core::ProcessHistory::EMPTY;
    let mut batch = WriteBatch::new();
    batch.put_if(k, &dense(1), &history, Expect::Absent);
    let first = store.commit(&batch).unwrap();
    let stored = store.get_stored(k).unwrap().unwrap();
    assert_eq!(stored.sequence, first.sequence);
    // Absent, or an old sequence, no longer holds.
    for wrong in [Expect::Absent, Expect::Sequence(first.sequence - 1), Expect::Sequence(0)] {
        let mut batch = WriteBatch::new();
        batch.put_if(k, &dense(2), &history, wrong);
        batch.put_if(other, &dense(3), &history, Expect::Absent);
        batch.put(near, &dense(5));
        match store.commit(&batch) {
            // Exactly the other region's entry is reported written: not `near`, although its
            // own put had no condition (it once was, and its edits were lost).
            Err(StoreError::Conflict { keys, written, sequence }) => {
                assert_eq!((keys, written), (vec![k], vec![other]), "{wrong:?}");
                assert_eq!(store.get_stored(other).unwrap().unwrap().sequence, sequence);
            }
            r => panic!("{wrong:?}: {r:?}"),
        }
        assert_eq!(store.get(k).unwrap(), Some(dense(1)), "{wrong:?}: nothing of its region written");
        assert_eq!(store.get(near).unwrap(), None, "{wrong:?}: nothing of its region written");
        assert_eq!(store.get(other).unwrap(), Some(dense(3)), "the other region was written");
        let mut undo = WriteBatch::new();
        undo.delete(other);
        store.commit(&undo).unwrap();
    }
    // The right sequence holds, and the new record's sequence is above it.
    let mut batch = WriteBatch::new();
    batch.put_if(k, &dense(4), &history, Expect::Sequence(first.sequence));
    let second = store.commit(&batch).unwrap();
    assert!(second.sequence > first.sequence);
    assert_eq!(
        store.get_stored(k).unwrap().unwrap(),
        strata_core::StoredChunk { chunk: dense(4), history, side: Default::default(), sequence: second.sequence }
    );
}

/// Two servers (two store handles, two worlds) edit the same chunks concurrently: every edit
/// either acknowledged survives (compare-and-set on commit, re-read and merge on conflict).
#[test]
fn two_servers_editing_one_chunk_lose_no_acknowledged_edit() {
    use strata_core::{FlatGenerator, VoxelPos, World, WorldConfig};
    let Some(base) = cluster_url("two_servers_editing_one_chunk_lose_no_acknowledged_edit") else { return };
    let (url, _) = url_with(&base, "two-servers", "");
    const ROUNDS: i32 = 12;
    let ground = Arc::new(FlatGenerator { height: 0, material: MaterialId(1) });
    let servers: Vec<_> = (0..2)
        .map(|server: i32| {
            let store: Arc<dyn ChunkStore> = Arc::new(strata_redis::open(&url).unwrap());
            let ground = ground.clone();
            std::thread::spawn(move || {
                let mut world = World::new(store, ground, WorldConfig::default());
                let mut acknowledged = Vec::new();
                for round in 0..ROUNDS {
                    // The same two chunks (two regions) every round; each server its own voxels.
                    let edits = [
                        (VoxelPos::new(round, 2, server), MaterialId(10 + server as u16)),
                        (VoxelPos::new(64 * 32 + round, 2, server), MaterialId(20 + server as u16)),
                    ];
                    world.set_many(edits.to_vec());
                    world.commit().unwrap();
                    acknowledged.extend(edits);
                }
                acknowledged
            })
        })
        .collect();
    let acknowledged: Vec<_> = servers.into_iter().flat_map(|s| s.join().unwrap()).collect();
    assert_eq!(acknowledged.len(), 2 * 2 * ROUNDS as usize);
    let mut reader = World::new(Arc::new(strata_redis::open(&url).unwrap()), ground, WorldConfig::default());
    for (pos, material) in acknowledged {
        assert_eq!(reader.voxel(pos).unwrap(), material, "{pos:?}");
    }
}

/// Opening a world writes its id and level; like a commit, that is confirmed by the replicas
/// (it once was not: a failover right after a new world's first open could lose its id, and
/// every record sealed with it would belong to no world). The CI cluster has one replica per
/// master, so asking for two cannot be confirmed and the open fails.
#[test]
fn opening_a_world_waits_for_its_replicas() {
    let Some(base) = cluster_url("opening_a_world_waits_for_its_replicas") else { return };
    let (url, _) = url_with(&base, "open-wait", "wait_replicas=2&wait_timeout_ms=200");
    match strata_redis::open(&url) {
        Err(StoreError::Unavailable(msg)) => assert!(msg.contains("WAIT confirmed 1 of 2"), "{msg}"),
        other => panic!("{:?}", other.map(|_| "opened")),
    }
    let (url, _) = url_with(&base, "open-wait", "wait_replicas=1");
    strata_redis::open(&url).expect("one replica confirms");
}

/// A buggy or hostile peer with write access cannot stop a region's commits or scans with keys
/// of the wrong type or index members that are not keys, cannot make a point read exhaust
/// memory, and cannot blind the compare-and-set with a record sealed at `u64::MAX`.
#[test]
fn a_hostile_peer_cannot_stop_or_blind_a_shared_world() {
    use strata_core::{FlatGenerator, VoxelPos, World, WorldConfig, codec};
    let Some(base) = cluster_url("a_hostile_peer_cannot_stop_or_blind_a_shared_world") else { return };
    let (url, _) = url_with(&base, "hostile", "");
    let store = Arc::new(strata_redis::open(&url).unwrap());
    let ground = Arc::new(FlatGenerator { height: 0, material: MaterialId(1) });
    let world = |store: Arc<strata_redis::RedisClusterStore>| World::new(store, ground.clone(), WorldConfig::default());
    let (k, near) = (ChunkKey::new(0, 0, 0), ChunkKey::new(1, 0, 0));
    let (p, q) = (VoxelPos::new(3, 5, 3), VoxelPos::new(32 + 3, 5, 3));
    let mut w = world(store.clone());
    w.set_many(vec![(p, MaterialId(7)), (q, MaterialId(8))]);
    w.commit().unwrap();
    let layout = store.layout();
    let region = layout.region_of(k.morton());
    let master = store.master_of(k.morton()).unwrap();
    let cmd = |args: &[&[u8]]| common::raw_cmd(&master, args);
    let (idx, sums, near_key) =
        (layout.index_key(region), layout.summaries_key(region), layout.record_key(near.morton()));
    // Wrong types: the index a string, the summaries a list, a record a hash; a bad member.
    cmd(&[b"SET", idx.as_bytes(), b"garbage"]);
    cmd(&[b"DEL", sums.as_bytes()]);
    cmd(&[b"RPUSH", sums.as_bytes(), b"x"]);
    cmd(&[b"DEL", near_key.as_bytes()]);
    cmd(&[b"HSET", near_key.as_bytes(), b"a", b"b"]);
    w.set_many(vec![(p, MaterialId(9)), (q, MaterialId(10))]);
    w.commit().expect("the region's next commit removes what does not belong");
    // Right after k's own member in the index's order: within every scan of k's region.
    let bad_member = format!("{}zz", strata_redis::keys::member(k.morton()));
    cmd(&[b"ZADD", idx.as_bytes(), b"0", bad_member.as_bytes()]);
    let scanned = records(store.as_ref(), MortonKey::region_range(k, 3));
    assert_eq!(scanned.iter().map(|(m, _)| *m).collect::<Vec<_>>(), vec![k.morton(), near.morton()]);
    let mut fresh = world(Arc::new(strata_redis::open(&url).unwrap()));
    assert_eq!((fresh.voxel(p).unwrap(), fresh.voxel(q).unwrap()), (MaterialId(9), MaterialId(10)));

    // A value larger than any record is read only that far, and is corrupt.
    let huge = vec![b'S'; 8 << 20];
    cmd(&[b"SET", near_key.as_bytes(), &huge]);
    assert_eq!(store.get_record(near.morton()).unwrap().unwrap().len(), codec::MAX_RECORD_LEN + 1);
    assert!(matches!(store.get(near), Err(StoreError::Corrupt { key, .. }) if key == near));
    // So is it in a scan. A summary larger than any is read only that far too (`inspect` reads
    // summaries as the scans do), and the scans summarise that chunk from its record instead.
    let mut read = Vec::new();
    store
        .scan(MortonKey::region_range(k, 3), &mut |key, r| {
            read.push((key, r.len()));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(read.contains(&(near.morton(), codec::MAX_RECORD_LEN + 1)), "{read:?}");
    let k_member = strata_redis::keys::member(k.morton());
    cmd(&[b"HSET", sums.as_bytes(), k_member.as_bytes(), &huge]);
    let summed = summaries(store.as_ref(), MortonKey::region_range(k, 3));
    let of_k =
        StoredSummary::of(&store.get(k).unwrap().unwrap(), strata_core::ProcessHistory::EMPTY, strata_core::Up::PosY);
    assert!(
        summed.iter().any(|(key, s)| *key == k.morton() && s.as_ref().is_ok_and(|s| s.histogram == of_k.histogram)),
        "{summed:?}"
    );
    let too_long =
        format!("larger than any summary ({} bytes or more)", strata_core::summary_record::MAX_SUMMARY_LEN + 1);
    let problems = store.inspect(&mut || {}).unwrap().problems;
    assert!(
        problems.iter().any(|p| matches!(p, strata_redis::Problem::BadSummary { why, .. } if *why == too_long)),
        "{problems:#?}"
    );

    // A record sealed at u64::MAX: two writers that both read it must still conflict.
    let mut sealed = Vec::new();
    codec::seal_into(
        &codec::encode(k.morton(), &Chunk::Uniform(MaterialId(1))),
        store.world_id(),
        u64::MAX,
        &mut sealed,
    );
    cmd(&[b"SET", layout.record_key(k.morton()).as_bytes(), &sealed]);
    let (a_store, b_store) = (Arc::new(strata_redis::open(&url).unwrap()), Arc::new(strata_redis::open(&url).unwrap()));
    let (mut a, mut b) = (world(a_store.clone()), world(b_store));
    let (pa, pb) = (VoxelPos::new(1, 2, 1), VoxelPos::new(2, 2, 1));
    assert_eq!((a.voxel(pa).unwrap(), b.voxel(pb).unwrap()), (MaterialId(1), MaterialId(1)));
    a.set_voxel(pa, MaterialId(20));
    a.commit().unwrap();
    b.set_voxel(pb, MaterialId(21));
    b.commit().unwrap();
    a.set_voxel(pa, MaterialId(22));
    a.commit().expect("a handle that once followed a huge sequence number still commits");
    let mut fresh = world(Arc::new(strata_redis::open(&url).unwrap()));
    assert_eq!((fresh.voxel(pa).unwrap(), fresh.voxel(pb).unwrap()), (MaterialId(22), MaterialId(21)));
}

/// `inspect` (what `strata verify --redis` runs) lists everything a buggy or hostile peer left
/// in a world, and `remove` removes each: afterwards the world inspects clean and reads.
#[test]
fn inspect_lists_what_does_not_belong_and_remove_clears_it() {
    use common::node_cmd;
    use strata_core::{FlatGenerator, VoxelPos, World, WorldConfig, codec};
    use strata_redis::Problem;
    let Some(base) = cluster_url("inspect_lists_what_does_not_belong_and_remove_clears_it") else { return };
    let (url, _) = url_with(&base, "inspect", "");
    let store = Arc::new(strata_redis::open(&url).unwrap());
    let ground = Arc::new(FlatGenerator { height: 0, material: MaterialId(1) });
    let mut w = World::new(store.clone(), ground.clone(), WorldConfig::default());
    let (k, near, far) = (ChunkKey::new(0, 0, 0), ChunkKey::new(1, 0, 0), ChunkKey::new(64, 0, 0));
    let inside = |c: ChunkKey| {
        let o = c.min_voxel();
        VoxelPos::new(o.x + 1, o.y + 3, o.z + 1)
    };
    for key in [k, near, far] {
        w.set_voxel(inside(key), MaterialId(7));
    }
    w.commit().unwrap();
    assert_eq!(store.inspect(&mut || {}).unwrap().problems, vec![], "a world Strata wrote is clean");

    let layout = store.layout();
    let region = layout.region_of(k.morton());
    let master = store.master_of(k.morton()).unwrap();
    let cmd = |args: &[&[u8]]| common::raw_cmd(&master, args);
    let (idx, sums) = (layout.index_key(region), layout.summaries_key(region));
    let member = |c: ChunkKey| strata_redis::keys::member(c.morton());
    let (missing, hashed) = (ChunkKey::new(2, 0, 0), ChunkKey::new(3, 0, 0));
    let bad_member = format!("{}zz", member(k));
    cmd(&[b"ZADD", idx.as_bytes(), b"0", bad_member.as_bytes()]);
    cmd(&[b"ZADD", idx.as_bytes(), b"0", member(missing).as_bytes()]);
    cmd(&[b"ZADD", idx.as_bytes(), b"0", member(hashed).as_bytes()]);
    cmd(&[b"HSET", layout.record_key(hashed.morton()).as_bytes(), b"a", b"b"]);
    cmd(&[b"HSET", sums.as_bytes(), b"bogus", b"x"]);
    cmd(&[b"SET", layout.record_key(near.morton()).as_bytes(), b"STRC garbage"]);
    let mut sealed = Vec::new();
    codec::seal_into(
        &codec::encode(k.morton(), &Chunk::Uniform(MaterialId(1))),
        store.world_id(),
        u64::MAX,
        &mut sealed,
    );
    cmd(&[b"SET", layout.record_key(k.morton()).as_bytes(), &sealed]);
    let set = layout.regions_key();
    node_cmd(
        &store.master_of_slot(strata_redis::keys::key_slot(set.as_bytes())).unwrap(),
        redis::cmd("SADD").arg(&set).arg("not-a-region"),
    )
    .unwrap();

    let found = store.inspect(&mut || {}).unwrap();
    let mut kinds: Vec<String> = found
        .problems
        .iter()
        .map(|p| match p {
            Problem::BadRegionName { .. } => "region name".to_owned(),
            Problem::BadIndexMember { .. } => "index member".to_owned(),
            Problem::MissingRecord { chunk, .. } => format!("missing {chunk:?}"),
            Problem::WrongType { key, .. } => format!("type {}", key == &layout.record_key(hashed.morton())),
            Problem::BadRecord { chunk, .. } => format!("record {chunk:?}"),
            Problem::FutureSequence { chunk, .. } => format!("future {chunk:?}"),
            Problem::BadSummary { .. } => "summary".to_owned(),
            other => format!("{other:?}"),
        })
        .collect();
    kinds.sort();
    let mut want = vec![
        "region name".to_owned(),
        "index member".to_owned(),
        format!("missing {missing:?}"),
        "type true".to_owned(),
        format!("record {near:?}"),
        format!("future {k:?}"),
        "summary".to_owned(),
    ];
    want.sort();
    assert_eq!(kinds, want, "{:#?}", found.problems);
    for p in &found.problems {
        eprintln!("removing: {p}");
        store.remove(p).unwrap();
    }
    assert_eq!(store.inspect(&mut || {}).unwrap().problems, vec![], "clean after removing");
    let mut fresh = World::new(Arc::new(strata_redis::open(&url).unwrap()), ground, WorldConfig::default());
    assert_eq!(fresh.voxel(inside(far)).unwrap(), MaterialId(7), "the rest is intact");
}

/// The change log tells each server what the others committed — every chunk of every
/// acknowledged commit, the written regions of a conflicting one, never its own — and a log
/// a hostile peer deleted or broke reads as a gap, after which following goes on.
#[test]
fn the_change_log_names_what_other_servers_committed() {
    use strata_core::store::{Expect, LogPosition};
    let Some(base) = cluster_url("the_change_log_names_what_other_servers_committed") else { return };
    let (url, world) = url_with(&base, "change-log", "");
    let (a, b) = (strata_redis::open(&url).unwrap(), strata_redis::open(&url).unwrap());
    assert_ne!(a.writer(), b.writer());
    let read = |s: &strata_redis::RedisClusterStore, at: &mut LogPosition| {
        let r = s.read_change_log(at, 100).unwrap();
        *at = r.next.clone();
        r
    };
    let mut at_b = b.change_log_end().unwrap().expect("a Redis world has a change log");
    let mut at_a = a.change_log_end().unwrap().unwrap();
    assert_eq!(read(&b, &mut at_b.clone()).keys, vec![], "nothing committed yet");
    // Two regions, likely on two masters; then a commit of b's.
    let (k, far) = (ChunkKey::new(0, 0, 0), ChunkKey::new(64, 0, 0));
    let mut batch = WriteBatch::new();
    batch.put(k, &dense(1));
    batch.put(far, &dense(2));
    a.commit(&batch).unwrap();
    let mut batch = WriteBatch::new();
    batch.delete(far);
    b.commit(&batch).unwrap();
    let seen = read(&b, &mut at_b);
    assert!(!seen.gap);
    let mut keys = seen.keys.clone();
    keys.sort_unstable_by_key(|k| k.morton());
    assert_eq!(keys, vec![k, far], "b sees a's commit, not its own");
    assert_eq!(seen.entries, 2);
    let seen = read(&a, &mut at_a);
    assert_eq!((seen.keys, seen.gap), (vec![far], false), "a sees b's delete");
    assert!(read(&a, &mut at_a).keys.is_empty(), "read once");
    // A conflicting commit names the region it did write.
    let mut batch = WriteBatch::new();
    batch.put_if(k, &dense(3), &strata_core::ProcessHistory::EMPTY, Expect::Absent);
    batch.put(far, &dense(4));
    assert!(matches!(a.commit(&batch), Err(StoreError::Conflict { .. })));
    assert_eq!(read(&b, &mut at_b).keys, vec![far]);
    // A large commit is several entries, all read.
    let mut batch = WriteBatch::new();
    let many: Vec<ChunkKey> = (0..5000).map(|i| ChunkKey::new(i % 100, i / 100, 7)).collect();
    for &key in &many {
        batch.put(key, &Chunk::Uniform(MaterialId(3)));
    }
    a.commit(&batch).unwrap();
    let seen = read(&b, &mut at_b);
    assert_eq!((seen.entries, seen.gap, seen.keys.len()), (2, false, 5000));
    // A peer deletes the log: a gap, and the log goes on from the next commit.
    let log = format!("strata:{{{world}}}:log");
    let master = a.master_of_slot(strata_redis::keys::key_slot(log.as_bytes())).unwrap();
    common::raw_cmd(&master, &[b"DEL", log.as_bytes()]);
    let seen = read(&b, &mut at_b);
    assert!(seen.gap, "{seen:?}");
    let mut batch = WriteBatch::new();
    batch.put(k, &dense(5));
    a.commit(&batch).unwrap();
    let seen = read(&b, &mut at_b);
    assert_eq!(seen.keys, vec![k], "{seen:?}");
    // A counter and a log of the wrong type: the next commit starts them again, readers see a gap.
    common::raw_cmd(&master, &[b"SET", log.as_bytes(), b"junk"]);
    common::raw_cmd(&master, &[b"DEL", format!("{log}:n").as_bytes()]);
    common::raw_cmd(&master, &[b"SADD", format!("{log}:n").as_bytes(), b"junk"]);
    a.commit(&batch).unwrap();
    let seen = read(&b, &mut at_b);
    assert!(seen.gap, "{seen:?}");
    a.commit(&batch).unwrap();
    let seen = read(&b, &mut at_b);
    assert_eq!((seen.keys, seen.gap), (vec![k], false));
    // A position that is not this log's reads from the start, as a gap.
    let seen = b.read_change_log(&LogPosition { entry: "not-an-id".into(), count: 3 }, 100).unwrap();
    assert!(seen.gap);
}
