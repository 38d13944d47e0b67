//! Geology tests, in one binary (see CONTRIBUTING.md, "How the build is organised"): `processes` (the rules
//! on snapshots) and `through_world` (the scheduler through the hybrid world and its store).

mod processes;
mod through_world;
