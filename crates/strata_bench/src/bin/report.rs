//! `cargo run --release -p strata_bench --bin report [-- --quick]`: prints the performance report.
use strata_bench::{Area, Budget, core_metrics, geo_metrics, index_metrics, mesh_metrics};

fn main() {
    let budget = Budget::from_args();
    // Each area adds its module here; an area's metrics print when the area is done.
    let areas: [(&str, Area); 4] = [
        ("core", core_metrics::run),
        ("index", index_metrics::run),
        ("mesh", mesh_metrics::run),
        ("geo", geo_metrics::run),
    ];
    for (_area, run) in areas {
        for m in run(budget) {
            m.print();
        }
    }
}
