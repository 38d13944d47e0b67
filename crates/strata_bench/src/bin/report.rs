//! `cargo run --release -p strata_bench --bin report [-- --quick]`: prints the performance report.
use strata_bench::{Budget, core_metrics, index_metrics};

fn main() {
    let budget = Budget::from_args();
    // Each area adds its module here; metrics print as soon as they are measured.
    let areas: [(&str, fn(Budget) -> Vec<strata_bench::Metric>); 2] =
        [("core", core_metrics::run), ("index", index_metrics::run)];
    for (_area, run) in areas {
        for m in run(budget) {
            m.print();
        }
    }
}
