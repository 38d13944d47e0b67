//! [`StrataAtmospherePlugin`]: sky colour and distance fog that follow the camera's height, for
//! flat worlds and planets alike — what the globe viewer shows, for any game.
//!
//! Add the plugin and put a [`StrataAtmosphere`] on the camera (a [`StreamingViewer`]: the fog
//! reaches out to its view distance). Every frame, after the cameras moved
//! ([`PostUpdate`], after transform propagation), the plugin sets the [`ClearColor`] and the
//! camera's [`DistanceFog`] from the camera's height above the ground:
//!
//! - **Sky**: [`StrataAtmosphere::sky`] near the ground, fading to [`StrataAtmosphere::space`]
//!   between 300 voxels and a tenth of the planet's radius (log scale). Flat worlds stay at the
//!   sky colour.
//! - **Fog**: linear, from part-way out to 1.5 sea-level horizons near a planet's ground (the
//!   far ground and the coarsest LOD rings dissolve into the sky), out to the view distance from
//!   orbit (a thinner haze that brightens the limb: [`StrataAtmosphere::haze`]); on a flat world
//!   from 15 % of the view distance to all of it. The sun lights the fog where one looks toward
//!   it ([`StrataAtmosphere::sun_glow`]).
//!
//! The height is the camera's altitude above sea level (its distance from the planet's centre
//! minus [`AtmospherePlanet::sea_level_radius`]; on a flat world its `y`) minus
//! [`StrataAtmosphere::ground_altitude`], which the game may keep current (the globe viewer sets
//! it from the planet's surface under the camera). O(cameras) per frame.

use crate::viewer::{StrataOrigin, StreamingViewer};
use bevy::math::DVec3;
use bevy::pbr::{DistanceFog, FogFalloff};
use bevy::prelude::*;

/// Sky colour and fog on the cameras that carry a [`StrataAtmosphere`] (see the module docs).
pub struct StrataAtmospherePlugin;

impl Plugin for StrataAtmospherePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ClearColor>().add_systems(PostUpdate, update_atmosphere.after(TransformSystems::Propagate));
    }
}

/// The planet an atmosphere surrounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AtmospherePlanet {
    /// Its centre, in world voxels.
    pub centre: DVec3,
    /// Sea-level radius, voxels.
    pub sea_level_radius: f64,
}

/// The atmosphere a camera sees (put it on the camera; see the module docs).
#[derive(Component, Clone, Debug, PartialEq)]
pub struct StrataAtmosphere {
    /// The sky near the ground (clear colour and fog colour).
    pub sky: Color,
    /// The clear colour from orbit.
    pub space: Color,
    /// The fog colour from orbit (a haze over the limb).
    pub haze: Color,
    /// The colour the sun gives the fog toward it.
    pub sun_glow: Color,
    /// How tightly that glow gathers around the sun (Bevy's `directional_light_exponent`).
    pub sun_exponent: f32,
    /// The planet, if the world is one (`None`: a flat world).
    pub planet: Option<AtmospherePlanet>,
    /// The ground's altitude above sea level under the camera, voxels (default 0).
    pub ground_altitude: f64,
}

impl Default for StrataAtmosphere {
    /// A blue sky, black space and a light blue haze; a flat world.
    fn default() -> Self {
        Self {
            sky: Color::srgb(0.50, 0.68, 0.90),
            space: Color::srgb(0.01, 0.012, 0.03),
            haze: Color::srgba(0.55, 0.72, 1.0, 0.8),
            sun_glow: Color::srgba(1.0, 0.92, 0.75, 0.5),
            sun_exponent: 24.0,
            planet: None,
            ground_altitude: 0.0,
        }
    }
}

impl StrataAtmosphere {
    /// The default colours around a planet of sea-level radius `radius` centred on `centre`.
    pub fn planet(centre: DVec3, radius: f64) -> Self {
        Self { planet: Some(AtmospherePlanet { centre, sea_level_radius: radius }), ..Self::default() }
    }

    /// The clear colour and fog for a camera at `altitude` above sea level (`view`: its view
    /// distance, if it streams).
    pub fn look(&self, altitude: f64, view: Option<f32>) -> (Color, DistanceFog) {
        let height = (altitude - self.ground_altitude).max(1.0);
        let (space, horizon, near) = match self.planet {
            Some(p) => {
                let radius = p.sea_level_radius;
                // 0 near the ground, 1 in space.
                let space = ((height / 300.0).ln() / (radius * 0.1 / 300.0).ln()).clamp(0.0, 1.0) as f32;
                let r = radius + altitude.max(0.0);
                (space, 1.5 * (r * r - radius * radius).max(0.0).sqrt() as f32, height as f32)
            }
            None => (0.0, view.unwrap_or(1024.0), 0.0),
        };
        // The fog ends at 1.5 times the sea-level horizon near the ground and at the view
        // distance from orbit; it starts 15 % (ground) to 25 % (orbit) of the way there from
        // the nearest ground.
        let end = horizon + (view.unwrap_or(horizon) - horizon) * space;
        let start = near + (end - near).max(0.0) * (0.15 + 0.1 * space);
        let fog = DistanceFog {
            color: self.sky.mix(&self.haze, space),
            directional_light_color: self.sun_glow,
            directional_light_exponent: self.sun_exponent,
            falloff: FogFalloff::Linear { start, end: end.max(start + 1.0) },
        };
        (self.sky.mix(&self.space, space), fog)
    }

    /// The camera's altitude above sea level at world point `p`.
    fn altitude(&self, p: DVec3) -> f64 {
        match self.planet {
            Some(planet) => (p - planet.centre).length() - planet.sea_level_radius,
            None => p.y,
        }
    }
}

/// What [`update_atmosphere`] reads and writes of a camera.
type AtmosphereCamera = (
    Entity,
    &'static StrataAtmosphere,
    &'static GlobalTransform,
    Option<&'static StreamingViewer>,
    Option<&'static mut DistanceFog>,
);

/// Sets the clear colour and each atmosphere camera's fog (see the module docs).
fn update_atmosphere(
    mut commands: Commands,
    origin: Option<Res<StrataOrigin>>,
    mut clear: ResMut<ClearColor>,
    mut cameras: Query<AtmosphereCamera>,
) {
    for (entity, atmosphere, transform, viewer, fog) in &mut cameras {
        // Without the streaming plugin there is no floating origin: render space is world space.
        let at = origin.as_ref().map_or(transform.translation().as_dvec3(), |o| o.to_world(transform.translation()));
        let (colour, look) = atmosphere.look(atmosphere.altitude(at), viewer.and_then(|v| v.view_distance));
        if clear.0 != colour {
            clear.0 = colour;
        }
        match fog {
            Some(mut fog) => *fog = look,
            None => {
                commands.entity(entity).insert(look);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plugin gives an atmosphere camera its fog and sets the clear colour, following the
    /// camera from the ground to orbit.
    #[test]
    fn the_plugin_follows_the_camera_from_the_ground_to_orbit() {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, TransformPlugin, StrataAtmospherePlugin));
        let a = StrataAtmosphere::planet(DVec3::ZERO, 32_000.0);
        let camera = app.world_mut().spawn((a.clone(), Transform::from_xyz(0.0, 32_100.0, 0.0))).id();
        app.update();
        assert_eq!(app.world().resource::<ClearColor>().0, a.sky);
        let fog = app.world().get::<DistanceFog>(camera).expect("fog added").clone();
        assert_eq!(fog.color, a.sky);
        app.world_mut().get_mut::<Transform>(camera).unwrap().translation.y = 45_000.0;
        app.update();
        assert_eq!(app.world().resource::<ClearColor>().0, a.space);
        assert_eq!(app.world().get::<DistanceFog>(camera).unwrap().color, a.haze);
    }

    #[test]
    fn near_the_ground_the_sky_is_blue_and_the_fog_ends_past_the_horizon_from_orbit_space_and_haze() {
        let a = StrataAtmosphere::planet(DVec3::ZERO, 32_000.0);
        let (clear, fog) = a.look(100.0, Some(5_000.0));
        assert_eq!(clear, a.sky, "under 300 voxels: all sky");
        assert_eq!(fog.color, a.sky);
        let FogFalloff::Linear { start, end } = fog.falloff else { panic!("linear fog") };
        let horizon = 1.5 * ((32_100.0f64).powi(2) - 32_000.0f64.powi(2)).sqrt() as f32;
        assert!((end - horizon).abs() < 1e-3 && start < end, "{start} {end} {horizon}");
        // Above a tenth of the radius: space, the haze, the fog out to the view distance.
        let (clear, fog) = a.look(10_000.0, Some(50_000.0));
        assert_eq!(clear, a.space);
        assert_eq!(fog.color, a.haze);
        let FogFalloff::Linear { start, end } = fog.falloff else { panic!("linear fog") };
        assert_eq!(end, 50_000.0);
        assert!((start - (10_000.0 + 40_000.0 * 0.25)).abs() < 1e-2, "a quarter of the way: {start}");
        // A flat world: always sky; fog from 15 % of the view distance to all of it.
        let flat = StrataAtmosphere::default();
        let (clear, fog) = flat.look(5_000.0, Some(400.0));
        assert_eq!(clear, flat.sky);
        let FogFalloff::Linear { start, end } = fog.falloff else { panic!("linear fog") };
        assert!((start - 60.0).abs() < 1e-3 && end == 400.0, "{start} {end}");
    }
}
