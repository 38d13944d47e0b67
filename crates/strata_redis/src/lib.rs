//! A [`ChunkStore`](strata_core::ChunkStore) on a **Redis Cluster**, for shared worlds that
//! outgrow one machine.
//!
//! ```no_run
//! let store = strata_redis::open("redis+cluster://127.0.0.1:7100,127.0.0.1:7101/?world=earth")?;
//! # Ok::<(), strata_core::StoreError>(())
//! ```
//!
//! # Using it
//! When a shared world outgrows one machine, [`RedisClusterStore`] keeps the edited
//! chunks in an existing **Redis Cluster** instead of the embedded redb file. It implements the same
//! `ChunkStore` trait and stores the same checksummed chunk records, so `World`, the index and the
//! plugin use it unchanged. Use redb for a single game or server; use Redis when several servers
//! must share one world or the save must survive the loss of a machine.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use strata_core::ChunkStore;
//! let store: Arc<dyn ChunkStore> = Arc::new(strata_redis::open(
//!     "redis+cluster://10.0.0.1:7000,10.0.0.2:7000/?world=earth&wait_replicas=1",
//! )?);
//! # Ok::<(), strata_core::StoreError>(())
//! ```
//!
//! In the Bevy plugin, hand the store in with a store opener, which the plugin runs on the I/O task
//! pool at start-up (so connecting never blocks a frame; an unreachable cluster is
//! `StrataStatus::Failed`):
//!
//! ```ignore
//! // In a Bevy app (`bevy_strata`, which this crate does not depend on):
//! let url = "redis+cluster://10.0.0.1:7000,10.0.0.2:7000/?world=earth&wait_replicas=1";
//! let plugin = StrataPlugin::new(config).with_store_opener("redis earth", move || {
//!     Ok(Arc::new(strata_redis::open(url)?) as Arc<dyn ChunkStore>)
//! });
//! ```
//!
//! The plugin commits to the cluster on the I/O task pool, and keeps running from its cache
//! while the cluster is down (commits fail with a warning; the edits stay dirty and are committed
//! once it is back).
//!
//! URL parameters (defaults): `world` (`default`; several worlds can share a cluster),
//! `region_level` (`3`: regions of 8³ chunks share one hash slot; fixed per world), `wait_replicas`
//! (`1`), `wait_timeout_ms` (`2000`), `read_from_replicas` (`false`), `retries` (`5`),
//! `connect_timeout_ms` (`1000`), `response_timeout_ms` (`3000`), `op_timeout_ms` (`10000`: no
//! store call blocks much longer), `wait_aof` (`false`, see below). A bad URL is
//! `StoreError::InvalidConfig`; an unreachable cluster `StoreError::Unavailable`. A cluster without
//! replicas needs `wait_replicas=0` (then an acknowledged commit is only on the primaries and a
//! failover can lose it).
//!
//! **Credentials.** A cluster with `requirepass` or ACL users: put them before the nodes,
//! percent-encoded — `redis+cluster://user:password@10.0.0.1:7000,…/` or `redis+cluster://:password@…`.
//! Every connection authenticates first; refused credentials are `StoreError::InvalidConfig` at
//! open (at once, no retries), and the password never appears in `Debug` output or errors. Without
//! credentials anyone who reaches the cluster can write records: keep it on a private network.
//! TLS (`rediss://`) is not supported; use a tunnel or a TLS proxy across untrusted networks.
//!
//! **Guarantees.** A commit is acknowledged only when every region of the batch is written on its
//! primary and `WAIT` confirmed `wait_replicas` replicas on every master involved; otherwise it
//! returns `Err`. Acknowledged means **in the memory** of the primary and `wait_replicas` replicas
//! (on their disks only as their `appendfsync` policy says): losing all of them at once before they
//! write it out loses the commit. With `wait_aof=true` (Redis ≥ 7.2, `appendonly yes`; checked at
//! open) the store sends `WAITAOF 1 <wait_replicas>` instead, and acknowledged means **fsynced to
//! the append-only file** of the primary and `wait_replicas` replicas. Each region's writes are one
//! atomic script, but Redis Cluster has no cross-slot
//! transactions: a batch spanning several regions is atomic **per region**, not as a whole (weaker
//! than redb). After an `Err` the `World` keeps every chunk dirty and resends the whole batch next
//! commit; the writes are idempotent whole-chunk records, so retries converge. Reads from replicas
//! may lag: a `World` refuses any copy older than its own last commit of the chunk (records carry
//! the commit's sequence number) and reads it again — for up to `WorldConfig::stale_patience` (5 s):
//! a copy the store keeps returning after that is taken as the store's (a failover lost the write,
//! or an operator restored a backup), so the chunk never stays a hole. Several servers can share one world: every put is
//! conditional on the record the server started from (a compare-and-set script per region); when
//! another server committed the chunk in between, the `World` reads its record, merges per voxel
//! (its own changes over theirs) and commits again. No server's acknowledged edits (a commit that
//! returned `Ok`) are overwritten by another's; **on the same voxel, the later commit wins**. A
//! commit that failed may still have landed: its chunks stay dirty, and a later merge never brings
//! back a value the server wrote and then reverted. Tested on the CI cluster with four servers
//! committing their own voxels — rewrites and reverts, in shared regions — while a master is
//! killed and restarted: every voxel holds its owner's last acknowledged write
//! (`redis.shared_world_lost_edits` in the report; the exact rules are in ARCHITECTURE.md, *Shared
//! worlds*). The protocol behind these promises is below; the exact rules are in ARCHITECTURE.md.
//!
//! # Sharding and key layout
//! Chunks are grouped into **regions**: aligned cubes of 2^`region_level` chunks per side, i.e.
//! the Morton prefix `key >> (3 · region_level)` (default level 3: 8³ chunks, 256³ voxels). A
//! region's records and its index share one hash tag, so one hash slot and one master; different
//! regions hash (CRC16) to different slots, spreading the world over the masters. See [`keys`]
//! for the exact names:
//!
//! ```text
//! strata:{<world>:<region>}:<key>   the chunk's codec record, exactly as WriteBatch holds it
//! strata:{<world>:<region>}:idx     sorted set of the region's <key>s (Morton order) for scans
//! strata:{<world>:<region>}:sum     hash <key> → the chunk's summary record (scan_summaries)
//! strata:{<world>}:regions          set of regions that ever held a record (full scans, stats)
//! strata:{<world>}:meta             region_level (checked on open), world_id, materials (palette),
//!                                   game/<name> (game values: xxh3-64 LE, then the bytes)
//! strata:{<world>}:log              the change log: the keys each commit wrote (see change_log)
//! ```
//!
//! The regions set and meta hash live in **one slot per world**: a hot spot only for full
//! scans and for the first write into a new region (the store remembers which regions it has
//! registered, so steady-state commits do not touch it). Regions are never removed from it; a
//! region whose chunks were all deleted costs an empty index probe in full scans.
//!
//! # Commit protocol and guarantees
//! 1. New regions are added to the regions set, followed by `WAIT` (so a full scan never misses
//!    an acknowledged record, even after a failover).
//! 2. The batch is grouped by region; each region's puts and deletes (record `SET`/`DEL`,
//!    index `ZADD`/`ZREM`, summaries `HSET`/`HDEL`) are one Lua script (`EVAL`, atomic) that
//!    first checks the conditions of conditional puts
//!    ([`WriteBatch::put_if`](strata_core::store::WriteBatch::put_if): the stored record's
//!    sequence number, or its absence) and writes nothing of the region if one fails; all
//!    regions of one master are one pipeline on one connection, ending with
//!    `WAIT <wait_replicas> <wait_timeout_ms>`; masters run in parallel.
//! 3. `Ok` only when every region's script wrote **and** every master's `WAIT` confirmed at
//!    least `wait_replicas` replicas. Otherwise `Err` (never a partial `Ok`); failed conditions
//!    give [`strata_core::StoreError::Conflict`] with their keys and the keys of exactly the
//!    regions that were written (a region with a failed condition writes none of its entries),
//!    and [`strata_core::World`] merges the other writer's record and commits the rest again —
//!    so several servers can share one world without overwriting each other's acknowledged
//!    edits (on the same voxel, the later commit wins). A script reply that names an entry
//!    out of range, twice, or without a condition is not trusted: the commit fails.
//!
//! 4. The keys of every region written are appended to the world's [change log](change_log)
//!    (confirmed like the records) before the commit returns; a commit whose entry fails
//!    returns `Err`. Other processes serving the world follow it
//!    ([`ChunkStore::read_change_log`](strata_core::ChunkStore::read_change_log)).
//!
//! **Weaker than redb:** Redis Cluster has no cross-slot transactions, so a batch is atomic
//! **per region**, not as a whole: after an `Err`, some regions may hold the new records and
//! others not, and a reader may see a multi-region commit half applied. This converges because
//! [`strata_core::World`] keeps every chunk of a failed commit dirty and resends the whole batch
//! next time, and every entry is a put (or delete) of a complete chunk record: a resent put
//! whose region did commit finds that record, its own, fails its condition, and the merge
//! (this world's voxels over its own earlier record) writes the same content again.
//! Durability of an acknowledged commit = on the primary plus `wait_replicas` replicas, **in
//! their memory** (on disk only as their `appendfsync` policy says); with `wait_aof=true`
//! ([`RedisClusterConfig::wait_aof`], Redis ≥ 7.2) it is fsynced to the append-only files of the
//! primary and `wait_replicas` replicas (`WAITAOF`). A failover to a replica that
//! confirmed keeps it; `wait_replicas=0` gives no such guarantee. `WAIT` is not a consensus
//! protocol: Redis can still lose acknowledged writes in rare partition scenarios.
//! Reads from replicas (`read_from_replicas=true`) may lag the primary.
//!
//! # Failures
//! Redirections (`MOVED`/`ASK`), `TRYAGAIN`, `CLUSTERDOWN`, `LOADING` and lost connections are
//! retried up to `retries` times with exponential backoff (100 ms, 200 ms, …) and a refreshed
//! slot map, within `op_timeout`; regions already written and confirmed are not resent. A
//! `WAIT` that confirms too few replicas fails the commit at once. Every socket has connect,
//! read and write timeouts, so an unreachable cluster gives [`StoreError::Unavailable`]
//! (`strata_core::StoreError`) within about `op_timeout`, never a hang or a panic. During a live
//! slot migration (`ASK`), commits touching the migrating slot fail until it finishes.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod change_log;
mod cluster;
mod config;
mod inspect;
pub mod keys;
mod store;

pub use cluster::{Shard, SlotMap};

/// The parsers of what a Redis server sends back, for the fuzz targets in `fuzz/` (not an API:
/// it may change without notice).
#[doc(hidden)]
pub mod fuzzing {
    pub use redis::Value;

    /// Parses a `CLUSTER SLOTS` reply as the store does (`queried_host` stands in for empty
    /// host names).
    pub fn parse_slot_map(reply: &Value, queried_host: &str) -> Option<crate::SlotMap> {
        crate::cluster::SlotMap::parse(reply, queried_host)
    }

    /// The region script's reply handling: `reply` lists the entries whose condition failed
    /// among `conditional.len()` entries (`conditional[i]`: entry i has a condition). Returns
    /// the failed entries' indices (0-based) or why the reply is not trusted.
    pub fn script_reply(conditional: &[bool], reply: &[Value]) -> Result<Vec<usize>, String> {
        crate::store::script_reply_indices(conditional, reply)
    }
}
pub use config::{RedisClusterConfig, SCHEME, Secret, UrlError, unique_world_name, url_with_world};
pub use inspect::{Inspection, Problem};
pub use store::{RedisClusterStore, open};

#[cfg(doc)]
use strata_core::StoreError;
