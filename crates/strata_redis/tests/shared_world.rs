//! Several servers share one world on a real cluster (`.ci/redis_cluster.sh`) while a master is
//! killed and restarted: every voxel equals its owner's last acknowledged write
//! ([`strata_core::shared_world`]). A binary of its own: it kills a node, and cargo runs test
//! binaries one after another, so no other test sees it.

mod common;

use common::{cluster_dir, cluster_url, port, ports, script, state_ok, url_with, wait_until};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_core::shared_world::{self, Workload};
use strata_core::{ChunkStore, FlatGenerator, MaterialId};

#[test]
fn writers_sharing_a_world_through_a_failover_lose_no_acknowledged_edit() {
    let test = "writers_sharing_a_world_through_a_failover_lose_no_acknowledged_edit";
    let (Some(base), Some(dir)) = (cluster_url(test), cluster_dir(test)) else { return };
    let (url, _) = url_with(&base, "shared", "wait_replicas=1&wait_timeout_ms=1000&retries=6");
    let workload = Workload { pause: Duration::from_millis(30), ..Workload::standard(4, 80, 0x5eed) };
    let probe = strata_redis::open(&url).unwrap();
    let victim = probe.master_of(workload.chunks[0].morton()).unwrap();
    let generator = Arc::new(FlatGenerator { height: 4, material: MaterialId(1) });
    let open = |_| -> Arc<dyn ChunkStore> { Arc::new(strata_redis::open(&url).unwrap()) };
    let start = Instant::now();
    let outcome = shared_world::run(&workload, generator, &open, Arc::new(strata_redis::open(&url).unwrap()), || {
        std::thread::sleep(Duration::from_millis(600));
        eprintln!("{test}: killing master {victim} after {:?}", start.elapsed());
        script(&["kill-node", &dir, port(&victim)]);
        wait_until("a replica to take over", Duration::from_secs(30), || {
            probe.refresh_topology().is_ok() && !probe.masters().contains(&victim) && probe.masters().len() == 3
        });
        eprintln!("{test}: a replica took over after {:?}; restarting {victim}", start.elapsed());
        script(&["start-node", &dir, port(&victim)]);
    });
    // The restarted node is a replica again, and the cluster is whole for the tests after.
    let nodes: Vec<String> = ports().into_iter().map(|p| format!("127.0.0.1:{p}")).collect();
    wait_until("cluster_state:ok everywhere", Duration::from_secs(30), || nodes.iter().all(|a| state_ok(a)));
    eprintln!(
        "{test}: {} voxels checked, {} lost, {} unacknowledged; {} commits acknowledged, {} failed; {:?}",
        outcome.checked,
        outcome.lost.len(),
        outcome.unacknowledged,
        outcome.acknowledged_commits,
        outcome.failed_commits,
        start.elapsed()
    );
    assert!(outcome.checked > 400, "{outcome:?}");
    assert!(outcome.failed_commits > 0, "the failover happened while the writers committed");
    assert_eq!(outcome.unacknowledged, 0, "every writer's last commit succeeded in the end");
    assert!(outcome.lost.is_empty(), "{} of {} voxels lost: {:?}", outcome.lost.len(), outcome.checked, outcome.lost);
}
