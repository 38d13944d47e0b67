//! Metrics of the foundation: codec, store and edits.
use crate::{Budget, Metric};

/// Runs every foundation metric.
pub fn run(_budget: Budget) -> Vec<Metric> {
    Vec::new()
}
