//! Headless tests of the plugin (`MinimalPlugins`, fixed time step, bounded update loops), in one
//! binary: each Bevy-linked test binary costs a link of all of Bevy (see CONTRIBUTING.md, "How the build is
//! organised"). Test names keep the module path (`headless::…`, `geology::…`, `redis_save::…`).

#[cfg(feature = "avian")]
mod colliders;
mod common;
mod game_data;
mod geology;
mod headless;
mod light;
mod load_failures;
mod lod_fade;
mod main_thread;
mod metrics;
mod mover;
#[cfg(feature = "net")]
mod net;
mod pacing;
mod paste;
mod persist;
mod redis_save;
mod residency;
mod startup;
mod textures;
