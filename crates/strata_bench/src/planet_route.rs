//! The route of the fly-through's planet mode (`strata_flythrough --planet walk|fly`), engine-free
//! so its tests run with the report's: Strata alone (no peer streams a
//! planet), headless, geology off, streaming [`PlanetGenerator::default`] with the globe
//! viewer's LOD view (view distance 4 radii: the whole planet, levels up to
//! `bevy_strata::MAX_LOD_LEVEL`, split distance 2). The viewer goes east along its latitude at a
//! fixed height above the ground under it (the sea's surface over water): walking (6 voxels up,
//! 64 voxels per second) or flying (256 voxels up, 512 voxels per second).

use std::sync::Arc;
use strata_geo::{GeoCoord, PlanetGenerator};

/// Where the route starts: the first of these (latitude, longitude) with land under it.
const STARTS: [(f64, f64); 6] =
    [(20.0, 30.0), (10.0, -60.0), (35.0, 100.0), (-15.0, 140.0), (45.0, -100.0), (0.0, 0.0)];

/// A route east along a parallel of the planet at a height above its ground.
#[derive(Clone, Debug)]
pub struct PlanetRoute {
    planet: Arc<PlanetGenerator>,
    lat: f64,
    lon: f64,
    above_ground: f64,
}

impl PlanetRoute {
    /// Walking: 6 voxels above the ground (the globe viewer's walk check).
    pub const WALK_HEIGHT: f64 = 6.0;
    /// Flying: 256 voxels above the ground.
    pub const FLY_HEIGHT: f64 = 256.0;

    /// A route over `planet` at `above_ground` voxels, from the first of six fixed places
    /// (20° N 30° E, then 10° N 60° W, …) with land under it.
    pub fn new(planet: Arc<PlanetGenerator>, above_ground: f64) -> Self {
        let (lat, lon) = STARTS
            .into_iter()
            .find(|&(lat, lon)| planet.surface_altitude(lat, lon).is_ok_and(|a| a > 0.0))
            .unwrap_or(STARTS[0]);
        Self { planet, lat, lon, above_ground }
    }

    /// The planet.
    pub fn planet(&self) -> &Arc<PlanetGenerator> {
        &self.planet
    }

    /// The viewer's position (voxels) after `distance` voxels east along the parallel.
    pub fn position(&self, distance: f64) -> [f64; 3] {
        let radius = self.planet.config().sea_level_radius();
        let coslat = self.lat.to_radians().cos().max(0.05);
        let lon = self.lon + (distance / (radius * coslat)).to_degrees();
        let lon = (lon + 540.0).rem_euclid(360.0) - 180.0;
        let ground = self.planet.surface_altitude(self.lat, lon).unwrap_or(0.0).max(0.0);
        let p = self
            .planet
            .frame()
            .to_voxel(GeoCoord::new(self.lat, lon, ground + self.above_ground))
            .expect("latitude and longitude in range");
        p.to_array().map(f64::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_keeps_its_height_above_the_ground_and_goes_east_at_its_speed() {
        let planet = Arc::new(PlanetGenerator::default());
        let route = PlanetRoute::new(planet.clone(), PlanetRoute::WALK_HEIGHT);
        let frame = planet.frame();
        let radius = planet.config().sea_level_radius();
        let geo_of = |p: [f64; 3]| frame.to_geo(strata_core::VoxelPos::new(p[0] as i32, p[1] as i32, p[2] as i32));
        let mut prev = geo_of(route.position(0.0));
        for step in 1..=20 {
            let d = f64::from(step) * 64.0;
            let geo = geo_of(route.position(d));
            let ground = planet.surface_altitude(geo.lat_deg, geo.lon_deg).unwrap().max(0.0);
            assert!(
                (geo.alt - ground - PlanetRoute::WALK_HEIGHT).abs() < 2.0,
                "{d}: {} above the ground",
                geo.alt - ground
            );
            // East along the parallel: 64 voxels of it (at sea level) per step, to the voxel's
            // rounding.
            let east = (geo.lon_deg - prev.lon_deg).to_radians() * radius * route.lat.to_radians().cos();
            assert!((east - 64.0).abs() < 1.5, "{d}: {east} voxels east");
            assert!((geo.lat_deg - route.lat).abs() * radius.to_radians() < 1.5, "{d}: left the parallel");
            prev = geo;
        }
        assert!(planet.surface_altitude(route.lat, route.lon).unwrap() > 0.0, "starts on land");
    }
}
