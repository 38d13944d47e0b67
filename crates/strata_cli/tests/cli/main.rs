//! End-to-end tests of the `strata` binary, in one test binary (see CONTRIBUTING.md, "How the build is
//! organised"): `commands` (exit codes, output, files written) and `crash` (SIGKILL mid-commit).

mod commands;
mod crash;
mod damage;
mod parquet;

/// The CI Redis Cluster's URL (`STRATA_REDIS_CLUSTER`), or `None` after saying that `test` is
/// skipped without one; a failure when `CI` is set.
fn redis_cluster(test: &str) -> Option<String> {
    match std::env::var("STRATA_REDIS_CLUSTER") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!("CI is set but STRATA_REDIS_CLUSTER is not"),
        _ => {
            eprintln!("SKIPPED {test}: STRATA_REDIS_CLUSTER is unset");
            None
        }
    }
}
