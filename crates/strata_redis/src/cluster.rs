//! Slot routing, per-node connections and bounded retries.
//!
//! We route ourselves rather than through `redis::cluster::ClusterConnection`: a commit needs
//! several `MULTI`/`EXEC` blocks and a `WAIT` **on the same connection** to one master (`WAIT`
//! counts the replicas that acknowledged that connection's writes), which the cluster client's
//! pipelines do not offer. The slot map comes from `CLUSTER SLOTS`; connections are plain
//! `redis::Connection`s pooled per node, each with connect, read and write timeouts.

use crate::config::RedisClusterConfig;
use crate::keys::SLOTS;
use redis::{ConnectionLike, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use strata_core::{BackendError, StoreError};

/// One master and its replicas (`host:port`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// The primary.
    pub master: String,
    /// Its replicas.
    pub replicas: Vec<String>,
}

/// Which shard serves each of the 16384 slots.
#[derive(Clone, Debug, Default)]
pub struct SlotMap {
    shards: Vec<Shard>,
    slot_shard: Vec<u16>,
}

const UNASSIGNED: u16 = u16::MAX;

impl SlotMap {
    /// The shard serving `slot`, if any.
    pub fn shard(&self, slot: u16) -> Option<&Shard> {
        self.slot_shard.get(slot as usize).filter(|&&s| s != UNASSIGNED).map(|&s| &self.shards[s as usize])
    }

    /// Every shard.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// Parses a `CLUSTER SLOTS` reply; `queried_host` stands in for empty host names.
    pub(crate) fn parse(reply: &Value, queried_host: &str) -> Option<Self> {
        let Value::Array(ranges) = reply else { return None };
        let mut map = SlotMap { shards: Vec::new(), slot_shard: vec![UNASSIGNED; SLOTS as usize] };
        for range in ranges {
            let Value::Array(fields) = range else { return None };
            let (start, end) = (int(fields.first()?)?, int(fields.get(1)?)?);
            let mut nodes = fields[2..].iter().map(|n| node_addr(n, queried_host));
            let master = nodes.next()??;
            let replicas = nodes.collect::<Option<Vec<_>>>()?;
            let shard = Shard { master, replicas };
            let idx = match map.shards.iter().position(|s| s.master == shard.master) {
                Some(i) => i,
                None => {
                    map.shards.push(shard);
                    map.shards.len() - 1
                }
            };
            if start < 0 || end >= SLOTS as i64 || start > end {
                return None;
            }
            for s in start..=end {
                map.slot_shard[s as usize] = idx as u16;
            }
        }
        Some(map)
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

/// The bytes of a string reply.
pub fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn node_addr(v: &Value, queried_host: &str) -> Option<String> {
    let Value::Array(f) = v else { return None };
    let host = std::str::from_utf8(bytes(f.first()?)?).ok()?;
    let port = int(f.get(1)?)?;
    let host = if host.is_empty() || host == "?" { queried_host } else { host };
    Some(format!("{host}:{port}"))
}

/// Why an attempt failed.
#[derive(Debug)]
pub enum Fail {
    /// Worth retrying after a slot map refresh (redirection, lost connection, failover…).
    Retry(String),
    /// Not worth retrying.
    Fatal(StoreError),
}

/// The error of credentials a node refused (or of a node that wants some).
fn auth_refused(node: &str, detail: &str) -> StoreError {
    StoreError::InvalidConfig(format!(
        "{node} refused the connection's credentials ({detail}); give them in the store URL: \
         redis+cluster://[user]:password@host:port,…"
    ))
}

/// Classifies a server error reply.
pub fn server_fail(node: &str, code: &str, detail: Option<&str>) -> Fail {
    let msg = format!("{node}: {code} {}", detail.unwrap_or(""));
    match code {
        "NOAUTH" | "WRONGPASS" | "NOPERM" => Fail::Fatal(auth_refused(node, msg.trim_end())),
        "MOVED" | "ASK" | "TRYAGAIN" | "CLUSTERDOWN" | "LOADING" | "MASTERDOWN" | "READONLY" | "EXECABORT" => {
            Fail::Retry(msg)
        }
        _ => Fail::Fatal(StoreError::Backend(BackendError::Server {
            node: node.to_string(),
            code: code.to_string(),
            detail: detail.unwrap_or("").to_string(),
        })),
    }
}

/// Fails with the first server error among `values` (or none).
pub fn check_replies(node: &str, values: &[Value]) -> Result<(), Fail> {
    for v in values {
        if let Value::ServerError(e) = v {
            return Err(server_fail(node, e.code(), e.details()));
        }
    }
    Ok(())
}

/// One pipeline for one node.
pub struct Job {
    /// `host:port`.
    pub addr: String,
    /// Whether the connection must be `READONLY` (reads from a replica).
    pub readonly: bool,
    /// The packed commands.
    pub packed: Vec<u8>,
    /// Number of replies to read.
    pub replies: usize,
    /// Read timeout for this exchange.
    pub timeout: Duration,
    /// The operation's deadline: connect, read and write timeouts never reach past it.
    pub deadline: Instant,
}

type Pool = HashMap<(String, bool), Vec<redis::Connection>>;

/// The connection to a cluster: slot map, connection pool, retry policy.
pub struct Cluster {
    cfg: RedisClusterConfig,
    map: RwLock<Arc<SlotMap>>,
    pool: Mutex<Pool>,
    round_robin: AtomicUsize,
    /// The last authentication failure a node reported (what `connect` turns into
    /// `InvalidConfig`).
    auth_error: Mutex<Option<String>>,
}

impl Cluster {
    /// Connects: fetches the slot map from the first reachable seed.
    pub fn connect(cfg: RedisClusterConfig) -> Result<Self, StoreError> {
        let c = Self {
            cfg,
            map: RwLock::new(Arc::new(SlotMap::default())),
            pool: Mutex::new(HashMap::new()),
            round_robin: AtomicUsize::new(0),
            auth_error: Mutex::new(None),
        };
        if let Err(e) = c.refresh_until(Instant::now() + c.cfg.op_timeout) {
            // Credentials the cluster refuses are a configuration error, not an outage.
            return Err(match c.auth_error.lock().unwrap_or_else(|e| e.into_inner()).take() {
                Some(auth) => StoreError::InvalidConfig(auth),
                None => StoreError::Unavailable(e),
            });
        }
        Ok(c)
    }

    /// The configuration.
    pub fn config(&self) -> &RedisClusterConfig {
        &self.cfg
    }

    /// The current slot map.
    pub fn map(&self) -> Arc<SlotMap> {
        self.map.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Re-reads the slot map (`CLUSTER SLOTS`) from the first node that answers with a map that
    /// covers every slot (seeds first, then the known masters and replicas).
    pub fn refresh(&self) -> Result<(), String> {
        self.refresh_until(Instant::now() + self.cfg.op_timeout)
    }

    /// [`refresh`](Self::refresh), asking no further node once `deadline` has passed.
    fn refresh_until(&self, deadline: Instant) -> Result<(), String> {
        let current = self.map();
        let mut candidates: Vec<String> = self.cfg.seeds.iter().map(|(h, p)| format!("{h}:{p}")).collect();
        for s in current.shards() {
            candidates.push(s.master.clone());
            candidates.extend(s.replicas.iter().cloned());
        }
        let mut seen = std::collections::HashSet::new();
        candidates.retain(|c| seen.insert(c.clone()));
        let mut errors = Vec::new();
        let mut partial = None;
        for addr in candidates {
            if Instant::now() >= deadline {
                errors.push("operation timeout reached".into());
                break;
            }
            let job = Job {
                addr: addr.clone(),
                readonly: false,
                packed: redis::cmd("CLUSTER").arg("SLOTS").get_packed_command(),
                replies: 1,
                timeout: self.cfg.response_timeout,
                deadline,
            };
            let reply = self.exchange(&job).and_then(|v| match v.first() {
                Some(Value::ServerError(e)) => Err(server_fail(&addr, e.code(), e.details())),
                _ => Ok(v),
            });
            match reply {
                Ok(v) => {
                    let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
                    match v.first().and_then(|r| SlotMap::parse(r, host)) {
                        Some(map) if map.slot_shard.iter().all(|&s| s != UNASSIGNED) => {
                            *self.map.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
                            return Ok(());
                        }
                        Some(map) => {
                            errors.push(format!("{addr}: slot map does not cover every slot"));
                            partial.get_or_insert(map);
                        }
                        None => errors.push(format!("{addr}: unexpected CLUSTER SLOTS reply")),
                    }
                }
                Err(Fail::Retry(e)) => errors.push(e),
                Err(Fail::Fatal(StoreError::InvalidConfig(e))) => {
                    *self.auth_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.clone());
                    errors.push(e);
                }
                Err(Fail::Fatal(e)) => errors.push(format!("{addr}: {e}")),
            }
        }
        if let Some(map) = partial {
            *self.map.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        }
        Err(format!("no cluster node answered with a full slot map ({})", errors.join("; ")))
    }

    /// The node to read `slot` from: a replica (round robin) if configured and this is the
    /// first attempt, else the master.
    pub fn read_target(&self, map: &SlotMap, slot: u16, attempt: u32) -> Result<(String, bool), Fail> {
        let shard = map.shard(slot).ok_or_else(|| Fail::Retry(format!("slot {slot} is not served")))?;
        if self.cfg.read_from_replicas && attempt == 0 && !shard.replicas.is_empty() {
            let i = self.round_robin.fetch_add(1, Ordering::Relaxed) % shard.replicas.len();
            return Ok((shard.replicas[i].clone(), true));
        }
        Ok((shard.master.clone(), false))
    }

    fn checkout(&self, addr: &str, readonly: bool, remaining: Duration) -> Result<redis::Connection, Fail> {
        let pooled = self
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&(addr.to_string(), readonly))
            .and_then(Vec::pop);
        if let Some(c) = pooled {
            return Ok(c);
        }
        let fail = |e: redis::RedisError| match e.kind() {
            redis::ErrorKind::AuthenticationFailed => Fail::Fatal(auth_refused(addr, &e.to_string())),
            _ => Fail::Retry(format!("{addr}: {e}")),
        };
        let info = redis::IntoConnectionInfo::into_connection_info(format!("redis://{addr}/")).map_err(fail)?;
        let mut settings = info.redis_settings().clone();
        if let Some(user) = &self.cfg.username {
            settings = settings.set_username(user);
        }
        if let Some(password) = &self.cfg.password {
            settings = settings.set_password(password.reveal());
        }
        let client = redis::Client::open(info.set_redis_settings(settings)).map_err(fail)?;
        let mut con = client.get_connection_with_timeout(self.cfg.connect_timeout.min(remaining)).map_err(fail)?;
        if readonly {
            con.set_read_timeout(Some(self.cfg.response_timeout.min(remaining))).map_err(fail)?;
            redis::cmd("READONLY").query::<()>(&mut con).map_err(fail)?;
        }
        Ok(con)
    }

    fn checkin(&self, addr: &str, readonly: bool, con: redis::Connection) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        let list = pool.entry((addr.to_string(), readonly)).or_default();
        if list.len() < 8 {
            list.push(con);
        }
    }

    /// Sends one pipeline and reads its raw replies (server errors stay `Value::ServerError`).
    /// A connection that failed is dropped, never reused.
    /// After a failure, every pooled connection to that node is dropped too (after a node restart
    /// they are all dead; reusing them would burn one retry each).
    pub fn exchange(&self, job: &Job) -> Result<Vec<Value>, Fail> {
        let result = self.exchange_once(job);
        if result.is_err() {
            self.pool.lock().unwrap_or_else(|e| e.into_inner()).retain(|(addr, _), _| *addr != job.addr);
        }
        result
    }

    fn exchange_once(&self, job: &Job) -> Result<Vec<Value>, Fail> {
        let remaining = job.deadline.saturating_duration_since(Instant::now());
        if remaining < Duration::from_millis(1) {
            return Err(Fail::Retry(format!("{}: operation timeout reached", job.addr)));
        }
        let mut con = self.checkout(&job.addr, job.readonly, remaining)?;
        let fail = |e: redis::RedisError| Fail::Retry(format!("{}: {e}", job.addr));
        let timeout = job.timeout.min(remaining);
        con.set_read_timeout(Some(timeout)).map_err(fail)?;
        con.set_write_timeout(Some(timeout)).map_err(fail)?;
        let values = con.req_packed_commands(&job.packed, 0, job.replies).map_err(fail)?;
        if values.len() != job.replies {
            return Err(Fail::Retry(format!("{}: {} replies, expected {}", job.addr, values.len(), job.replies)));
        }
        self.checkin(&job.addr, job.readonly, con);
        Ok(values)
    }

    /// [`exchange`](Self::exchange) for several nodes at once (one scoped thread per extra node).
    pub fn exchange_all(&self, jobs: &[Job]) -> Vec<Result<Vec<Value>, Fail>> {
        if jobs.len() <= 1 {
            return jobs.iter().map(|j| self.exchange(j)).collect();
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = jobs[1..].iter().map(|j| s.spawn(move || self.exchange(j))).collect();
            let mut out = vec![self.exchange(&jobs[0])];
            for h in handles {
                out.push(h.join().unwrap_or_else(|_| Err(Fail::Retry("pipeline thread panicked".into()))));
            }
            out
        })
    }

    /// Runs `attempt` (given the slot map, the attempt number and the operation's deadline for its
    /// [`Job`]s) until it succeeds, fails fatally, or `retries` / `op_timeout` run out. Before
    /// each retry: exponential backoff (100 ms, 200 ms, … ≤ 1.6 s) and a slot map refresh. No
    /// socket timeout reaches past the deadline, so a call returns within about `op_timeout`.
    pub fn run<T>(
        &self,
        what: &str,
        mut attempt: impl FnMut(&SlotMap, u32, Instant) -> Result<T, Fail>,
    ) -> Result<T, StoreError> {
        let deadline = Instant::now() + self.cfg.op_timeout;
        let mut last = String::new();
        let mut tries = 0;
        let mut refresh_note = None;
        for n in 0..=self.cfg.retries {
            if n > 0 {
                let backoff = Duration::from_millis(100 << (n - 1).min(4));
                if Instant::now() + backoff > deadline {
                    break;
                }
                std::thread::sleep(backoff);
                refresh_note = self.refresh_until(deadline).err();
            }
            tries += 1;
            match attempt(&self.map(), n, deadline) {
                Ok(v) => return Ok(v),
                Err(Fail::Fatal(e)) => return Err(e),
                Err(Fail::Retry(e)) => {
                    last = match refresh_note.take() {
                        Some(r) => format!("{e} (slot map refresh: {r})"),
                        None => e,
                    }
                }
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        Err(StoreError::Unavailable(format!("{what} failed after {tries} attempt(s): {last}")))
    }
}
