//! Material ids placed by the planet generator.
//!
//! The values match the registry file `assets/materials.ron` (id 0 must be air there); a test
//! checks them against [`MaterialRegistry::builtin`](strata_core::MaterialRegistry::builtin).

use strata_core::MaterialId;

/// `air` (0): above the terrain, the sea and the ice.
pub const AIR: MaterialId = MaterialId(0);
/// `stone` (1): not placed by the planet (kept for completeness of the registry mirror).
pub const STONE: MaterialId = MaterialId(1);
/// `dirt` (2): the soil below the top voxel on dry land.
pub const DIRT: MaterialId = MaterialId(2);
/// `grass` (3): the top voxel of dry land below the snow line.
pub const GRASS: MaterialId = MaterialId(3);
/// `sand` (4): beaches and the shallow sea floor (top and soil layers).
pub const SAND: MaterialId = MaterialId(4);
/// `water` (5): between the sea floor and sea level.
pub const WATER: MaterialId = MaterialId(5);
/// `snow` (6): the top voxel above the snow line and on polar land.
pub const SNOW: MaterialId = MaterialId(6);
/// `ice` (7): polar ice caps on land and sea ice at polar sea level.
pub const ICE: MaterialId = MaterialId(7);
/// `sediment` (8): below the soil, and the whole soil column of the deep sea floor.
pub const SEDIMENT: MaterialId = MaterialId(8);
/// `sandstone` (9): even bands of the continental upper crust.
pub const SANDSTONE: MaterialId = MaterialId(9);
/// `limestone` (10): odd bands of the continental upper crust.
pub const LIMESTONE: MaterialId = MaterialId(10);
/// `granite` (11): continental crust below the banded strata.
pub const GRANITE: MaterialId = MaterialId(11);
/// `basalt` (12): oceanic crust, and the lower crust everywhere.
pub const BASALT: MaterialId = MaterialId(12);
/// `magma` (13): the liquid outer core.
pub const MAGMA: MaterialId = MaterialId(13);
/// `mantle` (14): between the crust and the outer core.
pub const MANTLE: MaterialId = MaterialId(14);
/// `core` (15): the solid inner core.
pub const CORE: MaterialId = MaterialId(15);

/// Every id above with its registry name, in id order.
pub const ALL: [(MaterialId, &str); 16] = [
    (AIR, "air"),
    (STONE, "stone"),
    (DIRT, "dirt"),
    (GRASS, "grass"),
    (SAND, "sand"),
    (WATER, "water"),
    (SNOW, "snow"),
    (ICE, "ice"),
    (SEDIMENT, "sediment"),
    (SANDSTONE, "sandstone"),
    (LIMESTONE, "limestone"),
    (GRANITE, "granite"),
    (BASALT, "basalt"),
    (MAGMA, "magma"),
    (MANTLE, "mantle"),
    (CORE, "core"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::MaterialRegistry;

    #[test]
    fn ids_match_the_registry_file() {
        // `builtin` is `assets/materials.ron`, compiled in.
        let reg = MaterialRegistry::builtin();
        for (id, name) in ALL {
            assert_eq!(reg.id(name).unwrap(), id, "{name}");
        }
    }
}
