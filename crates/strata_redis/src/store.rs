//! [`RedisClusterStore`]: the [`ChunkStore`] over a Redis Cluster.

use crate::cluster::{Cluster, Fail, Job, SlotMap, bytes, check_replies, server_fail};
use crate::config::RedisClusterConfig;
use crate::keys::{Layout, key_slot, member, parse_member};
use redis::Value;
use std::collections::{BTreeMap, HashSet};
use std::ops::ControlFlow;
use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use strata_core::codec::{self, RecordKind};
use strata_core::palette::{PALETTE_META, Palette};
use strata_core::store::{
    ChunkCellVisitor, CommitReceipt, Expect, LogPosition, LogRead, Put, ScanVisitor, StoreStats, SummaryVisitor,
    WriteBatch, visit_chunk_cell, visit_summary,
};
use strata_core::summary_record;
use strata_core::{BackendError, Chunk, ChunkKey, ChunkStore, MortonKey, StoreError, WorldId};

/// A batch grouped by region: each region's entries (record and summary, `None` = delete; the
/// put's condition, if any), last entry per key.
type ByRegion<'a> = BTreeMap<u128, Vec<RegionEntry<'a>>>;

/// One entry of a region's writes: the key, its record and summary (`None` = delete) and the
/// put's condition, if any.
type RegionEntry<'a> = (MortonKey, Option<Put<'a>>, Option<Expect>);

/// The script of one region's writes (see `RedisClusterStore::region_script`). `ARGV[1]` is
/// the entry count n; then per entry five arguments: `p` (put) or `d` (delete), the condition
/// (empty: none; `a`: no record; else the 8-byte little-endian sequence number the stored
/// record's header must carry — 0 for records without one), the record, the index member and
/// the summary. `KEYS` are the n record keys, the index and the summaries hash.
///
/// First it removes keys of the wrong type (written by a buggy or hostile peer: a command on
/// them would fail the script half-way, leaving the region half written and every later commit
/// failing): a summaries hash that is not a hash (summaries are made again from the records),
/// an index that is not a sorted set (rebuilt from the summaries' fields), a record key that
/// is not a string (no record; an empty string counts as none too).
const REGION_SCRIPT: &str = r#"
local n = tonumber(ARGV[1])
local idx, sums = KEYS[n + 1], KEYS[n + 2]
local function kind(k) return redis.call('TYPE', k)['ok'] end
if kind(sums) ~= 'hash' and kind(sums) ~= 'none' then redis.call('DEL', sums) end
if kind(idx) ~= 'zset' and kind(idx) ~= 'none' then
  redis.call('DEL', idx)
  for _, m in ipairs(redis.call('HKEYS', sums)) do redis.call('ZADD', idx, 0, m) end
end
for i = 1, n do
  if kind(KEYS[i]) ~= 'string' and kind(KEYS[i]) ~= 'none' then redis.call('DEL', KEYS[i]) end
end
local failed = {}
for i = 1, n do
  local expect = ARGV[(i - 1) * 5 + 3]
  if expect ~= '' then
    local head = redis.call('GETRANGE', KEYS[i], 0, 43)
    if expect == 'a' then
      if head ~= '' then failed[#failed + 1] = i end
    elseif head == '' then
      failed[#failed + 1] = i
    else
      local seq = string.rep('\0', 8)
      if #head == 44 and string.sub(head, 1, 4) == 'STRC' and string.byte(head, 5) == 3 then
        seq = string.sub(head, 37, 44)
      end
      if seq ~= expect then failed[#failed + 1] = i end
    end
  end
end
if #failed > 0 then return failed end
for i = 1, n do
  local b = (i - 1) * 5 + 1
  local member = ARGV[b + 4]
  if ARGV[b + 1] == 'p' then
    redis.call('SET', KEYS[i], ARGV[b + 3])
    redis.call('ZADD', idx, 0, member)
    redis.call('HSET', sums, member, ARGV[b + 5])
  else
    redis.call('DEL', KEYS[i])
    redis.call('ZREM', idx, member)
    redis.call('HDEL', sums, member)
  end
end
return failed
"#;

/// Reads at most `ARGV[1]` + 1 bytes of each of `KEYS` (records of one region): nil where a key
/// is missing, empty or not a string. What `MGET` would give, except that a value a buggy or
/// hostile peer made larger than any record is read only that far.
const BOUNDED_MGET_SCRIPT: &str = r#"
local n = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  local v = redis.pcall('GETRANGE', KEYS[i], 0, n)
  if type(v) ~= 'string' or v == '' then v = false end
  out[i] = v
end
return out
"#;

/// Reads at most `ARGV[1]` + 1 bytes of each field `ARGV[2..]` of the hash `KEYS[1]` (a
/// region's summaries): nil where a field is missing, or for every field when the key is not a
/// hash. What `HMGET` would give, bounded as [`BOUNDED_MGET_SCRIPT`].
const BOUNDED_HMGET_SCRIPT: &str = r#"
local n = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV do
  local v = redis.pcall('HGET', KEYS[1], ARGV[i])
  if type(v) ~= 'string' then v = false elseif #v > n + 1 then v = string.sub(v, 1, n + 1) end
  out[i - 1] = v
end
return out
"#;

/// What the attempts of one commit have done so far (a retry does not redo it).
#[derive(Default)]
struct CommitProgress {
    /// The batch's new regions are in the regions set.
    registered: bool,
    /// Regions written and confirmed.
    done: HashSet<u128>,
    /// Regions not written because a condition failed, with the keys whose condition failed.
    conflicts: BTreeMap<u128, Vec<ChunkKey>>,
}

/// How far (in microseconds, one day) a sequence number may be ahead of this process's clock
/// and still be followed by its commits (see `RedisClusterStore::commit`).
const MAX_CLOCK_AHEAD_US: u64 = 86_400_000_000;

/// Regions per scan step (bounds memory and lets a visitor stop early).
const SCAN_STEP: usize = 128;
/// Scans over at most this many candidate regions probe them directly instead of reading the
/// regions set.
const DIRECT_REGIONS: u128 = 64;

/// A chunk store on a Redis Cluster. See the crate docs for the layout and the guarantees.
pub struct RedisClusterStore {
    cluster: Cluster,
    layout: Layout,
    /// Regions this process has seen confirmed in the regions set (skips re-adding them).
    registered: Mutex<HashSet<u128>>,
    /// The world's id (the meta hash's `world_id`, set by the first process to open it).
    world: WorldId,
    /// The last sequence number this process sealed records with.
    sequence: AtomicU64,
    /// This store's id in the change log (random): its own entries are not reported back.
    writer: u64,
}

impl RedisClusterStore {
    /// Connects to the cluster and checks (or records, for a new world) the world's
    /// `region_level` and its [`WorldId`] (chosen at random by the first process to open the
    /// world, including worlds made before ids existed).
    ///
    /// Errors: [`StoreError::Unavailable`] if no seed answers with a full slot map;
    /// [`StoreError::InvalidConfig`] if the world was created with another `region_level`.
    pub fn open(config: RedisClusterConfig) -> Result<Self, StoreError> {
        let layout = Layout::new(&config.world, config.region_level);
        let cluster = Cluster::connect(config)?;
        let meta = layout.meta_key();
        let level = layout.region_level();
        let mut p = redis::pipe();
        p.cmd("HSETNX").arg(&meta).arg("region_level").arg(level).cmd("HGET").arg(&meta).arg("region_level");
        p.cmd("HSETNX").arg(&meta).arg("world_id").arg(WorldId::random().0).cmd("HGET").arg(&meta).arg("world_id");
        // The world's id and level are confirmed by the replicas like a commit: a failover right
        // after a new world's first open must not lose its id (records sealed with it would
        // then belong to no world).
        let acks = Acks::replicas_only(cluster.config());
        acks.append(&mut p);
        let parse = |v: &Value| bytes(v).and_then(|b| std::str::from_utf8(b).ok()).and_then(|s| s.parse::<u64>().ok());
        let (stored, world) = cluster.run("open", |map, _, deadline| {
            let slot = key_slot(meta.as_bytes());
            let shard = map.shard(slot).ok_or_else(|| Fail::Retry(format!("slot {slot} is not served")))?;
            let job = acks.job(shard.master.clone(), p.clone(), 4, deadline);
            let v = cluster.exchange(&job)?;
            check_replies(&job.addr, &v[..4])?;
            acks.check(&job.addr, v.get(4))?;
            Ok((parse(&v[1]), parse(&v[3])))
        })?;
        let Some(world) = world.map(WorldId).filter(|w| *w != WorldId::UNSEALED) else {
            return Err(StoreError::Backend(BackendError::Malformed {
                what: "world meta",
                detail: format!("{meta}: world_id is not a non-zero integer"),
            }));
        };
        let store = Self {
            cluster,
            layout,
            registered: Mutex::new(HashSet::new()),
            world,
            sequence: AtomicU64::new(0),
            writer: WorldId::random().0,
        };
        if store.config().wait_aof {
            store.check_waitaof()?;
        }
        if stored != Some(u64::from(level)) {
            return Err(StoreError::InvalidConfig(format!(
                "world {:?} was created with region_level={}, not {level}",
                store.cluster.config().world,
                stored.map_or("?".into(), |l| l.to_string())
            )));
        }
        Ok(store)
    }

    /// `wait_aof` needs every master to confirm fsyncs (`WAITAOF`, Redis ≥ 7.2, `appendonly
    /// yes`): asks each one now, so a cluster that cannot is refused at open, not at the first
    /// commit.
    fn check_waitaof(&self) -> Result<(), StoreError> {
        let cfg = self.cluster.config();
        let deadline = Instant::now() + cfg.op_timeout;
        for addr in self.masters() {
            let job = Job {
                addr: addr.clone(),
                readonly: false,
                packed: redis::cmd("WAITAOF").arg(1).arg(0).arg(100).get_packed_command(),
                replies: 1,
                timeout: cfg.response_timeout,
                deadline,
            };
            match self.cluster.exchange(&job) {
                Ok(v) => match v.first() {
                    Some(Value::Array(_)) => {}
                    Some(Value::ServerError(e)) => {
                        return Err(StoreError::InvalidConfig(format!(
                            "wait_aof: {addr} cannot confirm on-disk writes ({} {}); it needs Redis ≥ 7.2 with appendonly yes",
                            e.code(),
                            e.details().unwrap_or("")
                        )));
                    }
                    other => {
                        return Err(StoreError::Backend(BackendError::UnexpectedReply {
                            command: "WAITAOF",
                            reply: format!("{addr}: {other:?}"),
                        }));
                    }
                },
                Err(Fail::Fatal(e)) => return Err(e),
                Err(Fail::Retry(e)) => return Err(StoreError::Unavailable(e)),
            }
        }
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &RedisClusterConfig {
        self.cluster.config()
    }

    /// The key layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub(crate) fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub(crate) fn cluster_world(&self) -> &str {
        &self.cluster.config().world
    }

    /// This store's id in the [change log](strata_core::store::change_log) (random per opened
    /// store): entries it appended are not reported by its own reads of the log.
    pub fn writer(&self) -> u64 {
        self.writer
    }

    /// The hash slot holding `key`'s record (and its region's index).
    pub fn slot_of(&self, key: MortonKey) -> u16 {
        self.layout.region_slot(self.layout.region_of(key))
    }

    /// The master (`host:port`) currently serving `key`, per the cached slot map.
    pub fn master_of(&self, key: MortonKey) -> Option<String> {
        self.cluster.map().shard(self.slot_of(key)).map(|s| s.master.clone())
    }

    /// The master (`host:port`) currently serving `slot`, per the cached slot map.
    pub fn master_of_slot(&self, slot: u16) -> Option<String> {
        self.cluster.map().shard(slot).map(|s| s.master.clone())
    }

    /// The masters of the cached slot map.
    pub fn masters(&self) -> Vec<String> {
        self.cluster.map().shards().iter().map(|s| s.master.clone()).collect()
    }

    /// Re-reads the slot map now.
    pub fn refresh_topology(&self) -> Result<(), StoreError> {
        self.cluster.refresh().map_err(StoreError::Unavailable)
    }

    /// Sends `per_item` commands per item (added by `add`) to the node serving the item's slot,
    /// one pipeline per node, nodes in parallel; returns each item's replies. Server errors fail
    /// the attempt (redirections and the like are retried with a fresh slot map).
    fn query_by_slot(
        &self,
        what: &str,
        slots: &[u16],
        per_item: usize,
        add: impl Fn(usize, &mut redis::Pipeline),
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        if slots.is_empty() {
            return Ok(Vec::new());
        }
        self.cluster.run(what, |map, attempt, deadline| {
            let mut groups: BTreeMap<(String, bool), Vec<usize>> = BTreeMap::new();
            for (i, &slot) in slots.iter().enumerate() {
                groups.entry(self.cluster.read_target(map, slot, attempt)?).or_default().push(i);
            }
            let jobs: Vec<Job> = groups
                .iter()
                .map(|((addr, readonly), items)| {
                    let mut p = redis::pipe();
                    for &i in items {
                        add(i, &mut p);
                    }
                    Job {
                        addr: addr.clone(),
                        readonly: *readonly,
                        packed: p.get_packed_pipeline(),
                        replies: items.len() * per_item,
                        timeout: self.cluster.config().response_timeout,
                        deadline,
                    }
                })
                .collect();
            let mut out = vec![Vec::new(); slots.len()];
            for ((job, items), result) in jobs.iter().zip(groups.values()).zip(self.cluster.exchange_all(&jobs)) {
                let values = result?;
                check_replies(&job.addr, &values)?;
                for (&i, replies) in items.iter().zip(values.chunks(per_item)) {
                    out[i] = replies.to_vec();
                }
            }
            Ok(out)
        })
    }

    /// The members of the regions set, as stored.
    pub(crate) fn regions_members(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let key = self.layout.regions_key();
        let replies = self.query_by_slot("list regions", &[key_slot(key.as_bytes())], 1, |_, p| {
            p.cmd("SMEMBERS").arg(&key);
        })?;
        Ok(match replies.first().and_then(|r| r.first()) {
            Some(Value::Array(items) | Value::Set(items)) => {
                items.iter().filter_map(bytes).map(<[u8]>::to_vec).collect()
            }
            _ => Vec::new(),
        })
    }

    /// Every region in the regions set, sorted. A member that names no region (a buggy or
    /// hostile peer's) is skipped, so that it cannot stop every full scan (`strata verify
    /// --redis` lists it).
    fn all_regions(&self) -> Result<Vec<u128>, StoreError> {
        let mut regions: Vec<u128> =
            self.regions_members()?.iter().filter_map(|m| self.layout.parse_region(m)).collect();
        regions.sort_unstable();
        regions.dedup();
        Ok(regions)
    }

    /// Sends pipeline `p` of `replies` commands to the master serving `slot` (retried like
    /// every call); returns the replies. A server error fails it.
    pub(crate) fn run_on_master(
        &self,
        what: &str,
        slot: u16,
        p: redis::Pipeline,
        replies: usize,
    ) -> Result<Vec<Value>, StoreError> {
        self.cluster.run(what, |map, _, deadline| {
            let shard = map.shard(slot).ok_or_else(|| Fail::Retry(format!("slot {slot} is not served")))?;
            let job = Job {
                addr: shard.master.clone(),
                readonly: false,
                packed: p.get_packed_pipeline(),
                replies,
                timeout: self.cluster.config().response_timeout,
                deadline,
            };
            let v = self.cluster.exchange(&job)?;
            check_replies(&job.addr, &v)?;
            Ok(v)
        })
    }

    /// The stored keys of `regions` within `lo..=hi`, in key order per region.
    fn index_range(&self, regions: &[u128], lo: MortonKey, hi: MortonKey) -> Result<Vec<Vec<MortonKey>>, StoreError> {
        let slots: Vec<u16> = regions.iter().map(|&r| self.layout.region_slot(r)).collect();
        let replies = self.query_by_slot("scan index", &slots, 1, |i, p| {
            let (rlo, rhi) = self.layout.region_bounds(regions[i]);
            p.cmd("ZRANGEBYLEX")
                .arg(self.layout.index_key(regions[i]))
                .arg(format!("[{}", member(rlo.max(lo))))
                .arg(format!("[{}", member(rhi.min(hi))));
        })?;
        replies
            .iter()
            .map(|r| match r.first() {
                // A member that is not a key (a buggy or hostile peer's) names no record: it is
                // skipped, so that it cannot stop every scan of the region (`strata verify
                // --redis` lists such members).
                Some(Value::Array(ms)) => Ok(ms.iter().filter_map(|m| bytes(m).and_then(parse_member)).collect()),
                other => Err(StoreError::Backend(BackendError::UnexpectedReply {
                    command: "ZRANGEBYLEX",
                    reply: format!("{other:?}"),
                })),
            })
            .collect()
    }

    /// Queues the read of `keys`' summaries in `region`, each at most
    /// [`summary_record::MAX_SUMMARY_LEN`] + 1 bytes (one reply: an array, nil where a summary
    /// is missing).
    fn fetch_summaries(&self, region: u128, keys: &[MortonKey], p: &mut redis::Pipeline) {
        let fields: Vec<String> = keys.iter().map(|k| member(*k)).collect();
        hmget_bounded(p, &self.layout.summaries_key(region), &fields);
    }

    /// Visits every stored key in `range` in key order with the reply that `fetch` (one
    /// command per region, given the region's keys in range) gives for it: per step of 128
    /// regions, `ZRANGEBYLEX` on each region's index, then the fetch, pipelined per node.
    fn scan_regions(
        &self,
        range: RangeInclusive<MortonKey>,
        fetch: impl Fn(u128, &[MortonKey], &mut redis::Pipeline),
        mut each: impl FnMut(MortonKey, &Value) -> Result<ControlFlow<()>, StoreError>,
    ) -> Result<(), StoreError> {
        let (lo, hi) = (*range.start(), *range.end());
        if lo > hi {
            return Ok(());
        }
        let (rlo, rhi) = (self.layout.region_of(lo), self.layout.region_of(hi));
        let regions: Vec<u128> = if rhi - rlo < DIRECT_REGIONS {
            (rlo..=rhi).collect()
        } else {
            self.all_regions()?.into_iter().filter(|r| (rlo..=rhi).contains(r)).collect()
        };
        for step in regions.chunks(SCAN_STEP) {
            let keys = self.index_range(step, lo, hi)?;
            let nonempty: Vec<usize> = (0..step.len()).filter(|&i| !keys[i].is_empty()).collect();
            let slots: Vec<u16> = nonempty.iter().map(|&i| self.layout.region_slot(step[i])).collect();
            let replies =
                self.query_by_slot("scan", &slots, 1, |j, p| fetch(step[nonempty[j]], &keys[nonempty[j]], p))?;
            for (j, &i) in nonempty.iter().enumerate() {
                let Some(Value::Array(values)) = replies[j].first() else {
                    return Err(StoreError::Backend(BackendError::UnexpectedReply {
                        command: "scan",
                        reply: format!("{:?}", replies[j]),
                    }));
                };
                for (k, v) in keys[i].iter().zip(values) {
                    if each(*k, v)?.is_break() {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds `region`'s script to `p`: it checks every entry's condition (the sequence number in
    /// the stored record's header, or its absence) and, only if all hold, writes every entry —
    /// record `SET`/`DEL`, index `ZADD`/`ZREM`, summary `HSET`/`HDEL`. Its reply lists the
    /// (1-based) entries whose condition failed; empty: written. A script runs atomically, and
    /// its keys share the region's hash slot.
    fn region_script(&self, region: u128, entries: &[RegionEntry<'_>], p: &mut redis::Pipeline) {
        let cmd = p.cmd("EVAL").arg(REGION_SCRIPT).arg(entries.len() + 2);
        for (k, ..) in entries {
            cmd.arg(self.layout.record_key(*k));
        }
        cmd.arg(self.layout.index_key(region)).arg(self.layout.summaries_key(region));
        cmd.arg(entries.len());
        for (k, put, expect) in entries {
            let expect: Vec<u8> = match expect {
                None => Vec::new(),
                Some(Expect::Absent) => b"a".to_vec(),
                Some(Expect::Sequence(s)) => s.to_le_bytes().to_vec(),
            };
            match put {
                Some(put) => cmd.arg("p").arg(expect).arg(put.record).arg(member(*k)).arg(put.summary),
                None => cmd.arg("d").arg(expect).arg("").arg(member(*k)).arg(""),
            };
        }
    }

    /// One attempt at the rest of a commit (what `progress` records as done is skipped):
    /// [register](Self::register_regions) the new regions, then
    /// [write the regions](Self::write_regions), each step confirmed by the replicas.
    fn commit_attempt(
        &self,
        map: &SlotMap,
        regions: &ByRegion<'_>,
        new_regions: &[u128],
        progress: &mut CommitProgress,
        deadline: Instant,
    ) -> Result<(), Fail> {
        let acks = Acks::of(self.cluster.config());
        if !progress.registered {
            self.register_regions(map, new_regions, &acks, deadline)?;
            progress.registered = true;
        }
        self.write_regions(map, regions, progress, &acks, deadline)
    }

    /// Phase 1: new regions join the regions set, before their records exist, so a full scan
    /// never misses an acknowledged record.
    fn register_regions(
        &self,
        map: &SlotMap,
        new_regions: &[u128],
        acks: &Acks<'_>,
        deadline: Instant,
    ) -> Result<(), Fail> {
        let key = self.layout.regions_key();
        let slot = key_slot(key.as_bytes());
        let shard = map.shard(slot).ok_or_else(|| Fail::Retry(format!("slot {slot} is not served")))?;
        let mut p = redis::pipe();
        let sadd = p.cmd("SADD").arg(&key);
        for &r in new_regions {
            sadd.arg(self.layout.region_name(r));
        }
        acks.append(&mut p);
        let job = acks.job(shard.master.clone(), p, 1, deadline);
        let v = self.cluster.exchange(&job)?;
        check_replies(&job.addr, &v[..1])?;
        acks.check(&job.addr, v.get(1))
    }

    /// Phase 2: one script per region not yet done (it checks every condition, then writes all
    /// or nothing), one pipeline per master ending in the acknowledgement wait. Regions written
    /// and confirmed join `progress.done`; regions whose conditions failed join
    /// `progress.conflicts`. Returns the first failure (a fatal one over a retryable one).
    fn write_regions(
        &self,
        map: &SlotMap,
        regions: &ByRegion<'_>,
        progress: &mut CommitProgress,
        acks: &Acks<'_>,
        deadline: Instant,
    ) -> Result<(), Fail> {
        let mut per_master: BTreeMap<&str, Vec<u128>> = BTreeMap::new();
        for &r in regions.keys().filter(|r| !progress.done.contains(r) && !progress.conflicts.contains_key(r)) {
            let slot = self.layout.region_slot(r);
            let shard = map.shard(slot).ok_or_else(|| Fail::Retry(format!("slot {slot} is not served")))?;
            per_master.entry(&shard.master).or_default().push(r);
        }
        let jobs: Vec<Job> = per_master
            .iter()
            .map(|(addr, rs)| {
                let mut p = redis::pipe();
                for r in rs {
                    self.region_script(*r, &regions[r], &mut p);
                }
                acks.append(&mut p);
                acks.job(addr.to_string(), p, rs.len(), deadline)
            })
            .collect();

        let mut first_fail: Option<Fail> = None;
        let mut keep = |f: Fail| {
            // A fatal failure wins over a retryable one: retrying cannot help the batch.
            if matches!(first_fail, None | Some(Fail::Retry(_))) {
                first_fail = Some(f);
            }
        };
        for ((job, shape), result) in jobs.iter().zip(per_master.values()).zip(self.cluster.exchange_all(&jobs)) {
            match result {
                Ok(values) => settle_region_replies(job, shape, &values, regions, progress, acks, &mut keep),
                Err(f) => keep(f),
            }
        }
        first_fail.map_or(Ok(()), Err)
    }
}

/// The replies of one master's pipeline of region scripts (`shape`: its regions, in pipeline
/// order), then its acknowledgement. Regions count as done only once the acknowledgement
/// confirmed them; regions whose conditions failed are recorded as conflicts either way. A
/// failed acknowledgement, then the node's first failed script, go to `keep`.
fn settle_region_replies(
    job: &Job,
    shape: &[u128],
    values: &[Value],
    regions: &ByRegion<'_>,
    progress: &mut CommitProgress,
    acks: &Acks<'_>,
    keep: &mut impl FnMut(Fail),
) {
    let mut written = Vec::new();
    let mut node_fail = None;
    for (r, reply) in shape.iter().zip(values) {
        match reply {
            // The indices (1-based) of the entries whose condition failed: nothing of the
            // region was written.
            Value::Array(failed) if !failed.is_empty() => match conflict_keys(&regions[r], failed) {
                Ok(keys) => {
                    progress.conflicts.insert(*r, keys);
                }
                Err(e) => {
                    node_fail.get_or_insert(Fail::Fatal(StoreError::Backend(BackendError::UnexpectedReply {
                        command: "region script",
                        reply: format!("{}: {e}", job.addr),
                    })));
                }
            },
            Value::Array(_) => written.push(*r),
            Value::ServerError(e) => {
                node_fail.get_or_insert(server_fail(&job.addr, e.code(), e.details()));
            }
            other => {
                node_fail.get_or_insert(Fail::Retry(format!("{}: unexpected script reply {other:?}", job.addr)));
            }
        }
    }
    match acks.check(&job.addr, values.get(shape.len())) {
        Ok(()) => progress.done.extend(written),
        Err(f) => keep(f),
    }
    if let Some(f) = node_fail {
        keep(f);
    }
}

/// Queues a read of the record at `name` of at most [`codec::MAX_RECORD_LEN`] + 1 bytes
/// (`GETRANGE`): a value a buggy or hostile peer made larger than any record is read that far
/// only (it then fails to decode: corrupt), so it cannot exhaust this process's memory.
fn get_bounded(p: &mut redis::Pipeline, name: &str) {
    p.cmd("GETRANGE").arg(name).arg(0).arg(codec::MAX_RECORD_LEN);
}

/// Queues the read of the records at `names` (of one region), each at most
/// [`codec::MAX_RECORD_LEN`] + 1 bytes ([`BOUNDED_MGET_SCRIPT`]; one reply: an array, nil where a
/// record is missing). A value larger than any record then fails to decode (corrupt) instead of
/// being read whole.
pub(crate) fn mget_bounded(p: &mut redis::Pipeline, names: &[String]) {
    p.cmd("EVAL").arg(BOUNDED_MGET_SCRIPT).arg(names.len()).arg(names).arg(codec::MAX_RECORD_LEN);
}

/// Queues the read of the summaries `fields` of the hash `hash`, each at most
/// [`summary_record::MAX_SUMMARY_LEN`] + 1 bytes ([`BOUNDED_HMGET_SCRIPT`]; one reply: an array,
/// nil where a field is missing, every one nil when `hash` is not a hash).
pub(crate) fn hmget_bounded<F: redis::ToRedisArgs>(p: &mut redis::Pipeline, hash: &str, fields: &[F]) {
    p.cmd("EVAL").arg(BOUNDED_HMGET_SCRIPT).arg(1).arg(hash).arg(summary_record::MAX_SUMMARY_LEN).arg(fields);
}

/// The reply of [`get_bounded`]: `None` for no record (`GETRANGE` of a missing key is empty,
/// and an empty value is no record either: the region script treats it the same way).
fn bounded_record(v: &Value) -> Result<Option<&[u8]>, StoreError> {
    match v {
        Value::Nil => Ok(None),
        v => match bytes(v) {
            Some([]) => Ok(None),
            Some(b) => Ok(Some(b)),
            None => {
                Err(StoreError::Backend(BackendError::UnexpectedReply { command: "GETRANGE", reply: format!("{v:?}") }))
            }
        },
    }
}

/// The keys of a region script's reply listing failed conditions (`failed`: 1-based entry
/// indices). Every index must name an entry that has a condition, once; anything else is an
/// error (the reply cannot be trusted, so the region counts as neither written nor conflicting
/// and the commit fails).
fn conflict_keys(entries: &[RegionEntry<'_>], failed: &[Value]) -> Result<Vec<ChunkKey>, String> {
    let conditional: Vec<bool> = entries.iter().map(|(_, _, expect)| expect.is_some()).collect();
    Ok(script_reply_indices(&conditional, failed)?.into_iter().map(|i| entries[i].0.to_chunk()).collect())
}

/// [`conflict_keys`] on entry indices: `conditional[i]` says whether entry `i` has a
/// condition; returns the 0-based indices `failed` names.
pub(crate) fn script_reply_indices(conditional: &[bool], failed: &[Value]) -> Result<Vec<usize>, String> {
    let mut out = Vec::with_capacity(failed.len());
    let mut seen = HashSet::new();
    for v in failed {
        let Value::Int(i) = v else { return Err(format!("region script reply: {v:?} is not an entry index")) };
        let index = usize::try_from(*i).ok().and_then(|i| i.checked_sub(1)).filter(|&i| i < conditional.len());
        match index {
            Some(at) if conditional[at] && seen.insert(at) => out.push(at),
            Some(at) if conditional[at] => return Err(format!("region script reply names entry {i} twice")),
            Some(_) => return Err(format!("region script reply names entry {i}, which has no condition")),
            None => return Err(format!("region script reply names entry {i} of {}", conditional.len())),
        }
    }
    Ok(out)
}

/// How writes are acknowledged: `WAIT` for the configured replicas, `WAITAOF` for their
/// fsyncs too, or nothing when neither is configured.
pub(crate) struct Acks<'a> {
    cfg: &'a RedisClusterConfig,
    wait: bool,
    /// `WAITAOF` instead of `WAIT`.
    aof: bool,
}

impl<'a> Acks<'a> {
    pub(crate) fn of(cfg: &'a RedisClusterConfig) -> Self {
        Self { cfg, wait: cfg.wait_replicas > 0 || cfg.wait_aof, aof: cfg.wait_aof }
    }

    /// `WAIT` for the configured replicas, never `WAITAOF`: for the world's meta hash at open,
    /// before the cluster was asked whether it can confirm fsyncs.
    fn replicas_only(cfg: &'a RedisClusterConfig) -> Self {
        Self { cfg, wait: cfg.wait_replicas > 0, aof: false }
    }

    /// Appends the wait command (if any) to a pipeline.
    pub(crate) fn append(&self, p: &mut redis::Pipeline) {
        let ms = self.cfg.wait_timeout.as_millis() as u64;
        if self.aof {
            p.cmd("WAITAOF").arg(1).arg(self.cfg.wait_replicas).arg(ms);
        } else if self.wait {
            p.cmd("WAIT").arg(self.cfg.wait_replicas).arg(ms);
        }
    }

    /// A write job of `commands` commands plus the wait, with time for both.
    pub(crate) fn job(&self, addr: String, p: redis::Pipeline, commands: usize, deadline: Instant) -> Job {
        let timeout = self.cfg.response_timeout + if self.wait { self.cfg.wait_timeout } else { Default::default() };
        Job {
            addr,
            readonly: false,
            packed: p.get_packed_pipeline(),
            replies: commands + self.wait as usize,
            timeout,
            deadline,
        }
    }

    /// Checks the wait's reply `v` from `addr` (`Ok` when no wait is configured).
    pub(crate) fn check(&self, addr: &str, v: Option<&Value>) -> Result<(), Fail> {
        if !self.wait {
            return Ok(());
        }
        let cfg = self.cfg;
        let too_few = |what: String| {
            Err(Fail::Fatal(StoreError::Unavailable(format!(
                "{addr}: {what} within {} ms; the batch is not acknowledged",
                cfg.wait_timeout.as_millis()
            ))))
        };
        match v {
            // WAITAOF: [local fsyncs, replica fsyncs].
            Some(Value::Array(counts)) if self.aof => match counts.as_slice() {
                [Value::Int(local), Value::Int(n)] if *local >= 1 && *n >= cfg.wait_replicas as i64 => Ok(()),
                [Value::Int(local), Value::Int(n)] => too_few(format!(
                    "WAITAOF confirmed {local} local and {n} of {} replica fsync(s)",
                    cfg.wait_replicas
                )),
                other => Err(Fail::Retry(format!("{addr}: unexpected WAITAOF reply {other:?}"))),
            },
            Some(Value::Int(n)) if *n >= cfg.wait_replicas as i64 => Ok(()),
            Some(Value::Int(n)) => too_few(format!("WAIT confirmed {n} of {} replica(s)", cfg.wait_replicas)),
            // E.g. "WAIT cannot be used with replica instances": a stale slot map (the node was
            // demoted); its writes were redirected too. Retry on a fresh map.
            Some(Value::ServerError(e)) => {
                Err(Fail::Retry(format!("{addr}: WAIT: {} {}", e.code(), e.details().unwrap_or(""))))
            }
            other => Err(Fail::Retry(format!("{addr}: unexpected WAIT reply {other:?}"))),
        }
    }
}

/// Opens a store from a `redis+cluster://` URL (see [`RedisClusterConfig::from_url`]).
pub fn open(url: &str) -> Result<RedisClusterStore, StoreError> {
    let config = RedisClusterConfig::from_url(url).map_err(|e| StoreError::InvalidConfig(e.to_string()))?;
    RedisClusterStore::open(config)
}

/// Records a palette in the world's meta hash if the field still holds the text read
/// (`ARGV[1]`: `1` when there was one, `0` for none; `ARGV[2]` that text; `ARGV[3]` the new
/// palette). Returns 1 when written, 0 when another writer changed it first.
const PALETTE_SWAP_SCRIPT: &str = r#"
local cur = redis.call('HGET', KEYS[1], ARGV[4])
if (ARGV[1] == '0' and cur == false) or (ARGV[1] == '1' and cur == ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[3])
  return 1
end
return 0
"#;

impl RedisClusterStore {
    /// Runs `p`, one command on the world's meta hash, on the hash's master, followed by the
    /// configured acknowledgement (replicas, and their fsyncs with `wait_aof`): the command's
    /// reply once acknowledged.
    fn write_meta(&self, what: &str, mut p: redis::Pipeline) -> Result<Value, StoreError> {
        let slot = key_slot(self.layout.meta_key().as_bytes());
        let acks = Acks::of(self.cluster.config());
        acks.append(&mut p);
        self.cluster.run(what, |map, _, deadline| {
            let shard = map.shard(slot).ok_or_else(|| Fail::Retry(format!("slot {slot} is not served")))?;
            let job = acks.job(shard.master.clone(), p.clone(), 1, deadline);
            let v = self.cluster.exchange(&job)?;
            check_replies(&job.addr, &v[..1])?;
            acks.check(&job.addr, v.get(1))?;
            Ok(v[0].clone())
        })
    }

    /// The palette field's text in the world's meta hash (`None`: none).
    fn palette_text(&self) -> Result<Option<String>, StoreError> {
        let meta = self.layout.meta_key();
        let mut p = redis::pipe();
        p.cmd("HGET").arg(&meta).arg(PALETTE_META);
        let v = self.run_on_master("read the material palette", key_slot(meta.as_bytes()), p, 1)?;
        match v.first() {
            None | Some(Value::Nil) => Ok(None),
            Some(v) => {
                bytes(v).and_then(|b| std::str::from_utf8(b).ok()).map(|s| Some(s.to_owned())).ok_or_else(|| {
                    StoreError::Backend(BackendError::Malformed {
                        what: "material palette",
                        detail: format!("{meta}: {PALETTE_META} is not UTF-8 text"),
                    })
                })
            }
        }
    }
}

impl ChunkStore for RedisClusterStore {
    fn world_id(&self) -> WorldId {
        self.world
    }

    /// The field `game/<name>` of the world's meta hash: the value after its xxh3-64 (8 bytes,
    /// little-endian), checked on read.
    fn game_data(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let meta = self.layout.meta_key();
        let mut p = redis::pipe();
        p.cmd("HGET").arg(&meta).arg(format!("game/{name}"));
        let v = self.run_on_master("read a game value", key_slot(meta.as_bytes()), p, 1)?;
        let Some(stored) = v.first().and_then(bytes) else { return Ok(None) };
        let malformed = |detail: String| StoreError::Backend(BackendError::Malformed { what: "game value", detail });
        let (sum, value) = stored
            .split_first_chunk::<8>()
            .ok_or_else(|| malformed(format!("{meta}: game/{name} is shorter than its checksum")))?;
        if u64::from_le_bytes(*sum) != xxhash_rust::xxh3::xxh3_64(value) {
            return Err(malformed(format!("{meta}: game/{name} fails its checksum")));
        }
        Ok(Some(value.to_vec()))
    }

    /// `HSET` (or `HDEL`) on the meta hash's shard, acknowledged like a commit.
    fn set_game_data(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        strata_core::store::check_game_data(name, value)?;
        let meta = self.layout.meta_key();
        let field = format!("game/{name}");
        let mut p = redis::pipe();
        match value {
            Some(v) => {
                let mut stored = xxhash_rust::xxh3::xxh3_64(v).to_le_bytes().to_vec();
                stored.extend_from_slice(v);
                p.cmd("HSET").arg(&meta).arg(&field).arg(stored);
            }
            None => {
                p.cmd("HDEL").arg(&meta).arg(&field);
            }
        }
        self.write_meta("write a game value", p).map(drop)
    }

    /// The `materials` field of the world's meta hash.
    fn palette(&self) -> Result<Option<Palette>, StoreError> {
        self.palette_text()?.map(|t| Palette::from_text(&t)).transpose().map_err(StoreError::Palette)
    }

    /// Compare-and-set in one script on the meta hash's shard, acknowledged like a commit.
    fn swap_palette(&self, expected: Option<&Palette>, new: &Palette) -> Result<bool, StoreError> {
        let now = self.palette_text()?;
        let parsed = now.as_deref().map(Palette::from_text).transpose()?;
        if parsed.as_ref() != expected {
            return Ok(false);
        }
        let meta = self.layout.meta_key();
        let mut p = redis::pipe();
        p.cmd("EVAL")
            .arg(PALETTE_SWAP_SCRIPT)
            .arg(1)
            .arg(&meta)
            .arg(if now.is_some() { "1" } else { "0" })
            .arg(now.as_deref().unwrap_or(""))
            .arg(new.to_text())
            .arg(PALETTE_META);
        let reply = self.write_meta("record the material palette", p)?;
        Ok(matches!(reply, Value::Int(1)))
    }

    /// The stream's last entry (`XREVRANGE`, on the master). See [`crate::change_log`].
    fn change_log_end(&self) -> Result<Option<LogPosition>, StoreError> {
        self.log_end().map(Some)
    }

    /// One pipeline on the world slot's master: `XRANGE` after `from` and the stream's last
    /// entry (to see a log gone back). Entries this store appended are left out of the keys.
    fn read_change_log(&self, from: &LogPosition, limit: usize) -> Result<LogRead, StoreError> {
        self.log_read(from, limit)
    }

    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        let k = self.layout.record_key(key);
        let replies = self.query_by_slot("get", &[self.slot_of(key)], 1, |_, p| {
            get_bounded(p, &k);
        })?;
        match replies.first().and_then(|r| r.first()) {
            Some(v) => bounded_record(v).map(|r| r.map(<[u8]>::to_vec)),
            None => Err(StoreError::Backend(BackendError::UnexpectedReply { command: "GET", reply: "none".into() })),
        }
    }

    /// # Runtime
    /// One pipeline of bounded `GET`s per node, the nodes in parallel.
    fn get_many(&self, keys: &[ChunkKey]) -> Result<Vec<Option<Chunk>>, StoreError> {
        let mortons = keys.iter().map(|&k| strata_core::store::checked_morton(k)).collect::<Result<Vec<_>, _>>()?;
        keys.iter()
            .zip(self.get_records(&mortons)?)
            .map(|(&key, record)| match record {
                None => Ok(None),
                Some(b) => codec::decode_at(&b, self.home(key.morton()))
                    .map(|(chunk, _)| Some(chunk))
                    .map_err(|source| StoreError::Corrupt { key, source }),
            })
            .collect()
    }

    /// # Runtime
    /// One pipeline of bounded `GET`s per node, the nodes in parallel.
    fn get_records(&self, keys: &[MortonKey]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let names: Vec<String> = keys.iter().map(|k| self.layout.record_key(*k)).collect();
        let slots: Vec<u16> = keys.iter().map(|k| self.slot_of(*k)).collect();
        let replies = self.query_by_slot("get_records", &slots, 1, |i, p| {
            get_bounded(p, &names[i]);
        })?;
        replies
            .iter()
            .map(|r| match r.first() {
                Some(v) => bounded_record(v).map(|r| r.map(<[u8]>::to_vec)),
                None => {
                    Err(StoreError::Backend(BackendError::UnexpectedReply { command: "GET", reply: "none".into() }))
                }
            })
            .collect()
    }

    /// # Runtime
    /// Per region overlapping `range` (probed directly when at most 64 regions overlap, else
    /// taken from the regions set): `ZRANGEBYLEX` on its index, then a bounded `MGET`
    /// (`mget_bounded`), pipelined per node, 128 regions per step. Not a snapshot across
    /// regions: a concurrent commit may be seen in some regions and not yet in others (each
    /// region is seen before or after it).
    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        self.scan_regions(
            range,
            |_, keys, p| {
                mget_bounded(p, &keys.iter().map(|k| self.layout.record_key(*k)).collect::<Vec<_>>());
            },
            |k, v| {
                // Nil: deleted between the index read and the read of the records.
                Ok(match bytes(v) {
                    Some(rec) => visit(k, rec),
                    None => ControlFlow::Continue(()),
                })
            },
        )
    }

    /// # Runtime
    /// As [`RedisClusterStore::scan`], with a bounded `HMGET` (`hmget_bounded`) on each
    /// region's summaries hash instead of the read of its records. A chunk without a summary (written before summaries existed) or
    /// with a damaged one costs a `GET` of its record, which is then summarised.
    fn scan_summaries(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut SummaryVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.scan_regions(
            range,
            |region, keys, p| self.fetch_summaries(region, keys, p),
            |k, v| visit_summary(self.home(k), bytes(v), || self.get_record(k), &mut *visit),
        )
    }

    /// The same bounded `HMGET` of summaries as [`ChunkStore::scan_summaries`], reading only each
    /// summary's header (its chunk cell) and checksum.
    fn scan_chunk_cells(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut ChunkCellVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.scan_regions(
            range,
            |region, keys, p| self.fetch_summaries(region, keys, p),
            |k, v| visit_chunk_cell(self.home(k), bytes(v), || self.get_record(k), &mut *visit),
        )
    }

    /// Commits per region (see the crate docs): phase 1 registers new regions (`SADD` + `WAIT`),
    /// phase 2 sends every region's entries as one `MULTI`/`EXEC`, pipelined per master and
    /// followed by `WAIT`. Retried (bounded) on redirections and lost connections; regions already
    /// written and confirmed are not resent. `Ok` only when every region is written and confirmed.
    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        batch.check()?;
        let start = Instant::now();
        // Records are sealed with the world id and a sequence number: the clock in microseconds,
        // or one more than this process's last (no transaction spans the shards to count in).
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let now = now.as_micros() as u64;
        // Above every sequence a condition expects, so each chunk's sequence numbers increase
        // from write to write whichever process wrote them.
        // A sequence number more than MAX_CLOCK_AHEAD ahead of this clock is not believed (a
        // buggy or hostile peer's record sealed at u64::MAX, say): following it would seal this
        // commit with the same saturated number, and a later put expecting it would match either
        // record — a blind compare-and-set.
        let believable = now.saturating_add(MAX_CLOCK_AHEAD_US);
        let floor = batch
            .conditions()
            .iter()
            .filter_map(|(_, e)| match e {
                Expect::Sequence(s) if *s < believable => Some(s + 1),
                Expect::Sequence(_) | Expect::Absent => None,
            })
            .max()
            .unwrap_or(0)
            .max(now);
        let next = |s: u64| if s < believable { floor.max(s + 1) } else { floor };
        let prev = self.sequence.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| Some(next(s)));
        let sequence = prev.map_or(floor, next);
        let mut sealed = Vec::with_capacity(batch.encoded_bytes());
        let mut ranges = Vec::with_capacity(batch.len());
        for (_, rec) in batch.iter() {
            let start = sealed.len();
            if let Some(record) = rec {
                codec::seal_into(record, self.world, sequence, &mut sealed);
            }
            ranges.push(start..sealed.len());
        }
        let mut latest: BTreeMap<MortonKey, (Option<Put<'_>>, Option<Expect>)> = BTreeMap::new();
        for ((k, rec), range) in batch.iter_with_summaries().zip(ranges) {
            latest.insert(k, (rec.map(|put| Put { record: &sealed[range], summary: put.summary }), None));
        }
        for &(k, expect) in batch.conditions() {
            if let Some((_, condition)) = latest.get_mut(&k) {
                *condition = Some(expect);
            }
        }
        let mut regions: ByRegion<'_> = BTreeMap::new();
        for (k, (rec, expect)) in latest {
            regions.entry(self.layout.region_of(k)).or_default().push((k, rec, expect));
        }
        let new_regions: Vec<u128> = {
            let known = self.registered.lock().unwrap_or_else(|e| e.into_inner());
            regions
                .iter()
                .filter(|(r, entries)| !known.contains(*r) && entries.iter().any(|(_, rec, _)| rec.is_some()))
                .map(|(r, _)| *r)
                .collect()
        };
        let mut progress = CommitProgress { registered: new_regions.is_empty(), ..Default::default() };
        let outcome = if regions.is_empty() {
            Ok(())
        } else {
            self.cluster.run("commit", |map, _, deadline| {
                self.commit_attempt(map, &regions, &new_regions, &mut progress, deadline)
            })
        };
        // Exactly the regions written and confirmed are written: the entries of a region with a
        // failed condition were not, whatever their own conditions.
        let written: Vec<MortonKey> = progress.done.iter().flat_map(|r| &regions[r]).map(|(k, ..)| *k).collect();
        // The change log names what was written, failed commit or not, once it is readable;
        // the commit is acknowledged only with its entry appended.
        let logged = if written.is_empty() { Ok(()) } else { self.log_commit(&written, sequence) };
        outcome?;
        self.registered.lock().unwrap_or_else(|e| e.into_inner()).extend(new_regions);
        if !progress.conflicts.is_empty() {
            return Err(StoreError::Conflict {
                keys: progress.conflicts.into_values().flatten().collect(),
                written: written.iter().map(|k| k.to_chunk()).collect(),
                sequence,
            });
        }
        if let Err(e) = logged {
            return Err(StoreError::Unavailable(format!(
                "the commit's records are written but its change log entry is not (the commit is not acknowledged): {e}"
            )));
        }
        Ok(CommitReceipt { entries: batch.len(), bytes: batch.encoded_bytes(), duration: start.elapsed(), sequence })
    }

    /// Totals without transferring records: per key `STRLEN` and the record's kind byte
    /// (`GETRANGE key 5 5`), pipelined per node.
    fn stats(&self) -> Result<StoreStats, StoreError> {
        let mut s = StoreStats::default();
        let (lo, hi) =
            (strata_core::store::full_range().start().to_owned(), strata_core::store::full_range().end().to_owned());
        for step in self.all_regions()?.chunks(SCAN_STEP) {
            let keys: Vec<MortonKey> = self.index_range(step, lo, hi)?.into_iter().flatten().collect();
            let names: Vec<String> = keys.iter().map(|k| self.layout.record_key(*k)).collect();
            let slots: Vec<u16> = keys.iter().map(|k| self.slot_of(*k)).collect();
            let replies = self.query_by_slot("stats", &slots, 2, |i, p| {
                p.cmd("STRLEN").arg(&names[i]).cmd("GETRANGE").arg(&names[i]).arg(5).arg(5);
            })?;
            for r in replies {
                if let Some(Value::Int(len)) = r.first()
                    && *len > 0
                {
                    s.records += 1;
                    s.record_bytes += *len as u64;
                    if r.get(1).and_then(bytes) == Some(&[RecordKind::Uniform as u8][..]) {
                        s.uniform_records += 1;
                    }
                }
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The region script's list of failed conditions is trusted only when every index names a
    /// conditional entry, once (a dropped bogus index once made the region count as written).
    #[test]
    fn a_script_reply_naming_no_conditional_entry_once_is_refused() {
        let (a, b, c) = (MortonKey(1), MortonKey(2), MortonKey(3));
        let entries: Vec<RegionEntry<'_>> =
            vec![(a, None, Some(Expect::Absent)), (b, None, None), (c, None, Some(Expect::Sequence(4)))];
        let ints = |v: &[i64]| v.iter().map(|i| Value::Int(*i)).collect::<Vec<_>>();
        assert_eq!(conflict_keys(&entries, &ints(&[1, 3])), Ok(vec![a.to_chunk(), c.to_chunk()]));
        for bad in [&[0][..], &[4], &[-1], &[1, 1], &[2], &[i64::MAX]] {
            assert!(conflict_keys(&entries, &ints(bad)).is_err(), "{bad:?}");
        }
        assert!(conflict_keys(&entries, &[Value::Nil]).is_err());
        assert!(conflict_keys(&entries, &[Value::BulkString(b"1".to_vec())]).is_err());
    }
}
