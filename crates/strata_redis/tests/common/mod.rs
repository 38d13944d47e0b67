//! Shared helpers of the cluster tests: where the cluster is, unique world names, node control.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The cluster URL from `STRATA_REDIS_CLUSTER`. Unset: `None` after a note (the test skips) —
/// unless `CI` is set, where a missing cluster is a failure.
pub fn cluster_url(test: &str) -> Option<String> {
    match std::env::var("STRATA_REDIS_CLUSTER") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{test}: CI is set but STRATA_REDIS_CLUSTER is not (.ci/run starts the cluster)")
        }
        _ => {
            eprintln!(
                "SKIPPED {test}: STRATA_REDIS_CLUSTER is unset. Start a cluster with \
                 `.ci/redis_cluster.sh start /tmp/strata-redis` and export \
                 STRATA_REDIS_CLUSTER=<printed URL> STRATA_REDIS_CLUSTER_DIR=/tmp/strata-redis"
            );
            None
        }
    }
}

/// The cluster's directory (pid files, configs), needed by tests that stop nodes.
pub fn cluster_dir(test: &str) -> Option<String> {
    match std::env::var("STRATA_REDIS_CLUSTER_DIR") {
        Ok(d) if !d.is_empty() => Some(d),
        _ if std::env::var_os("CI").is_some() => panic!("{test}: CI is set but STRATA_REDIS_CLUSTER_DIR is not"),
        _ => {
            eprintln!("SKIPPED {test}: STRATA_REDIS_CLUSTER_DIR is unset (needed to stop and restart nodes)");
            None
        }
    }
}

/// `base` with extra query parameters and a world name unique to this run (`<name>-<pid>-<ns>`),
/// so reruns on one cluster and parallel tests never share data.
pub fn url_with(base: &str, name: &str, params: &str) -> (String, String) {
    let world = strata_redis::unique_world_name(name);
    let params = if params.is_empty() { String::new() } else { format!("&{params}") };
    (format!("{}{params}", strata_redis::url_with_world(base, &world)), world)
}

/// `.ci/redis_cluster.sh <args>`; panics with its output on failure.
pub fn script(args: &[&str]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/redis_cluster.sh");
    let out = Command::new("bash").arg(&path).args(args).output().expect("run .ci/redis_cluster.sh");
    assert!(
        out.status.success(),
        "redis_cluster.sh {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The ports of the cluster's six nodes (`STRATA_REDIS_PORT_BASE`, default 7100, and the
/// five after it).
pub fn ports() -> Vec<String> {
    let base: u16 = std::env::var("STRATA_REDIS_PORT_BASE").ok().and_then(|b| b.parse().ok()).unwrap_or(7100);
    (0..6).map(|i| (base + i).to_string()).collect()
}

/// The port of `host:port`.
pub fn port(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(_, p)| p)
}

/// One command on one node (plain connection, short timeouts).
pub fn node_cmd(addr: &str, cmd: &redis::Cmd) -> redis::RedisResult<redis::Value> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let mut con = client.get_connection_with_timeout(Duration::from_millis(500))?;
    con.set_read_timeout(Some(Duration::from_secs(2)))?;
    cmd.query(&mut con)
}

/// Sends one raw command (`args[0]` the command name) to `addr`, behind the store's back, as
/// a buggy or hostile peer would; panics if it fails.
pub fn raw_cmd(addr: &str, args: &[&[u8]]) {
    let mut c = redis::cmd(std::str::from_utf8(args[0]).expect("a command name"));
    for a in &args[1..] {
        c.arg(*a);
    }
    node_cmd(addr, &c).expect("a raw command");
}

/// `CLUSTER INFO` of `addr` says `cluster_state:ok`.
pub fn state_ok(addr: &str) -> bool {
    match node_cmd(addr, redis::cmd("CLUSTER").arg("INFO")) {
        Ok(redis::Value::BulkString(b)) => String::from_utf8_lossy(&b).contains("cluster_state:ok"),
        Ok(redis::Value::VerbatimString { text, .. }) => text.contains("cluster_state:ok"),
        _ => false,
    }
}

/// Polls `cond` every 200 ms until it holds; panics with `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
    start.elapsed()
}
