//! `cargo run --release -p strata_bench --bin report [-- --quick] [--only <area>[,<area>…]]`:
//! prints the performance report. Areas: core, index, mesh, geo, play, stream, scale, redis, net
//! (redis: only with `STRATA_REDIS_CLUSTER` set to a cluster URL, see `.ci/redis_cluster.sh`).
use strata_bench::{
    Area, Budget, core_metrics, geo_metrics, index_metrics, light_metrics, mesh_metrics, net_metrics, play_metrics,
    redis_metrics, scale_metrics, stream_metrics,
};

fn main() {
    let budget = Budget::from_args();
    let args: Vec<String> = std::env::args().collect();
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|list| list.split(',').map(str::to_owned).collect());
    // Each area adds its module here; an area's metrics print when the area is done.
    let areas: [(&str, Area); 10] = [
        ("core", core_metrics::run),
        ("index", index_metrics::run),
        ("mesh", mesh_metrics::run),
        ("light", light_metrics::run),
        ("geo", geo_metrics::run),
        ("play", play_metrics::run),
        ("stream", stream_metrics::run),
        ("scale", scale_metrics::run),
        ("redis", redis_metrics::run),
        ("net", net_metrics::run),
    ];
    for (area, run) in areas {
        if only.as_ref().is_some_and(|o| !o.iter().any(|a| a == area)) {
            continue;
        }
        for m in run(budget) {
            m.print();
        }
    }
}
