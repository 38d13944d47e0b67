//! Integration tests of the index, in one binary (see CONTRIBUTING.md, "How the build is organised");
//! test names keep the module path. `common` holds the brute-force references.

mod above_roots;
mod common;
mod history;
mod index_exact;
mod lazy_grids;
mod rays;
mod release;
mod scan;
mod shaped_rays;
mod snapshots;
