//! Credentials and on-disk acknowledgement against a real server: a one-node cluster of its
//! own with `requirepass` (started and killed by the test, on port 7191, beside the shared
//! cluster), so the store's `AUTH` is exercised for real.

mod common;

use common::cluster_url;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use strata_core::{Chunk, ChunkKey, ChunkStore, MaterialId, StoreError, WriteBatch};

const PORT: u16 = 7191;
const PASSWORD: &str = "s3cret/with:odd@chars";

/// A `redis-server` child in cluster mode with a password, killed on drop.
struct Node(Child, std::path::PathBuf);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn start_node() -> Node {
    let dir = std::env::temp_dir().join(format!("strata-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new("redis-server")
        .args(["--port", &PORT.to_string(), "--bind", "127.0.0.1", "--cluster-enabled", "yes"])
        .args(["--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no"])
        .args(["--requirepass", PASSWORD])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (installed by .ci/redis_cluster.sh)");
    let node = Node(child, dir);
    let info = redis::IntoConnectionInfo::into_connection_info(format!("redis://127.0.0.1:{PORT}/")).unwrap();
    let settings = info.redis_settings().clone().set_password(PASSWORD);
    let info = info.set_redis_settings(settings);
    let client = redis::Client::open(info).unwrap();
    let start = Instant::now();
    let mut con = loop {
        match client.get_connection_with_timeout(Duration::from_millis(200)) {
            Ok(c) => break c,
            Err(e) => assert!(start.elapsed() < Duration::from_secs(10), "redis-server did not start: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(0).arg(16383).query::<()>(&mut con).unwrap();
    loop {
        let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut con).unwrap();
        if info.contains("cluster_state:ok") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the one-node cluster did not become ok");
        std::thread::sleep(Duration::from_millis(50));
    }
    node
}

fn url(credentials: &str, params: &str) -> String {
    format!("redis+cluster://{credentials}127.0.0.1:{PORT}/?world=auth&wait_replicas=0&op_timeout_ms=3000{params}")
}

#[test]
fn credentials_are_required_checked_and_used() {
    // The shared cluster's presence says redis-server is installed (CI installs both).
    if cluster_url("credentials_are_required_checked_and_used").is_none() {
        return;
    }
    let _node = start_node();
    let invalid = |r: Result<strata_redis::RedisClusterStore, StoreError>| match r {
        Err(StoreError::InvalidConfig(why)) => why,
        Err(e) => panic!("expected InvalidConfig, got {e}"),
        Ok(_) => panic!("expected InvalidConfig, got a store"),
    };
    let start = Instant::now();
    let why = invalid(strata_redis::open(&url("", "")));
    assert!(why.contains("credentials"), "{why}");
    let why = invalid(strata_redis::open(&url(":wrong@", "")));
    assert!(why.contains("credentials") && !why.contains("wrong"), "{why}");
    assert!(start.elapsed() < Duration::from_secs(5), "refused credentials fail fast, not after retries");

    let encoded: String = PASSWORD
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let store = strata_redis::open(&url(&format!(":{encoded}@"), "")).unwrap();
    let key = ChunkKey::new(1, 2, 3);
    let mut batch = WriteBatch::new();
    batch.put(key, &Chunk::Uniform(MaterialId(9)));
    store.commit(&batch).unwrap();
    assert_eq!(store.get(key).unwrap(), Some(Chunk::Uniform(MaterialId(9))));

    // On-disk acknowledgement needs WAITAOF (Redis ≥ 7.2) and appendonly: refused at open
    // when the server cannot give it (this node has appendonly off; older servers lack the
    // command).
    let why = invalid(strata_redis::open(&url(&format!(":{encoded}@"), "&wait_aof=true")));
    assert!(why.contains("wait_aof"), "{why}");
}
