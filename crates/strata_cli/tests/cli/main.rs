//! End-to-end tests of the `strata` binary, in one test binary (see CONTRIBUTING.md, "How the build is
//! organised"): `commands` (exit codes, output, files written) and `crash` (SIGKILL mid-commit).

mod commands;
mod crash;
mod damage;
mod parquet;
