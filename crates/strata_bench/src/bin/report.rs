//! `cargo run --release -p strata_bench --bin report [-- --quick]`: prints the performance report.
use strata_bench::{Budget, Metric, core_metrics, mesh_metrics};

/// A report area: its name and the function measuring its metrics.
type Area = (&'static str, fn(Budget) -> Vec<Metric>);

fn main() {
    let budget = Budget::from_args();
    // Each area adds its module here; metrics print as soon as they are measured.
    let areas: [Area; 2] = [("core", core_metrics::run), ("mesh", mesh_metrics::run)];
    for (_area, run) in areas {
        for m in run(budget) {
            m.print();
        }
    }
}
