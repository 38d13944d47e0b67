//! The world the multiplayer examples share (`server`, `game --connect`): a server and its
//! clients must show the same one where nobody edited, so both build its identity here.

use bevy_strata::net::{WorldIdentity, world_identity};
use bevy_strata::prelude::*;

/// The game's settings (its view distance; the terrain seed is the default's).
pub fn config() -> StrataConfig {
    StrataConfig { view_distance: 192.0, ..StrataConfig::default() }
}

/// The world's identity: the plugin's default generator (`NoiseTerrain` seeded with
/// `config.terrain_seed`) and the built-in materials.
pub fn identity(config: &StrataConfig) -> WorldIdentity {
    let terrain = TerrainConfig { seed: config.terrain_seed, ..TerrainConfig::default() };
    world_identity("strata_geo::NoiseTerrain", format!("{terrain:?}"), &MaterialRegistry::builtin())
}
