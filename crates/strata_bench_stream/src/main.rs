//! `strata_flythrough --engine strata|bevy_voxel_world [--flight-s S] [--speed V] [--lod0] [--geology] [--live-heap]
//! [--max-tasks N] [--max-results N] [--planet walk|fly]`: one
//! headless streaming fly-through, printed as one `key=value` line for the performance report.
//! `--geology` (Strata only) runs erosion, deposition and volcanism near the viewer during the
//! whole run ([`bevy_strata::StrataGeologyPlugin`], default settings but 8 steps per second).
//! `--planet walk|fly` (Strata only): the planet instead, walking at 64 or flying at 512 voxels
//! per second ([`strata_bench::planet_route`]; `--speed` still overrides).
//! `strata_flythrough --startup [--save PATH]`: the plugin starting over a save instead
//! ([`startup`]). `strata_flythrough --rays [--batches N] [--iters N]`: the report's
//! `ray.pick_256` against `bevy_voxel_world`'s own ray cast ([`rays`]).
//! `strata_flythrough --physics [--batches N]`: the report's avian collider metrics
//! ([`physics`]). `strata_flythrough --play [--seconds S]`: a game's main thread while its
//! player walks and digs ([`play`]).
//!
//! Both engines run in the same kind of app: `MinimalPlugins` + `TransformPlugin` + assets and
//! meshes (built, never rendered), the same worker threads ([`pools`]), the same generator
//! ([`strata_geo::NoiseTerrain`], seed 7), the same view radius and the same path, paced at 60
//! frames per second like a game with vsync. `--lod0` turns Strata's LOD off and keeps the
//! peer's whole-chunk view rule, so both make the same chunks ready. See [`scenario`] for what
//! is measured.

mod live_heap;
mod net;
mod peer_bvw;
mod physics;
mod play;
mod pools;
mod rays;
mod scenario;
mod startup;
mod strata_engine;

use scenario::{Scenario, fly, scenario_position};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let mut scenario = Scenario::default();
    if let Some(s) = value("--flight-s") {
        scenario.flight_s = s.parse().expect("--flight-s takes seconds");
    }
    if args.iter().any(|a| a == "--live-heap") {
        live_heap::enable();
    }
    if let Some(mode) = value("--planet") {
        let planet = std::sync::Arc::new(strata_geo::PlanetGenerator::default());
        let (height, speed) = match mode.as_str() {
            "walk" => (strata_bench::planet_route::PlanetRoute::WALK_HEIGHT, 64.0),
            "fly" => (strata_bench::planet_route::PlanetRoute::FLY_HEIGHT, 512.0),
            other => {
                eprintln!("unknown planet mode {other:?}: use walk or fly");
                std::process::exit(2);
            }
        };
        scenario.view_distance = (planet.config().sea_level_radius() * 4.0) as f32;
        scenario.speed = speed;
        let route = strata_bench::planet_route::PlanetRoute::new(planet, height);
        scenario.start = scenario_position(&route, 0.0);
        scenario.planet = Some(route);
    }
    if let Some(s) = value("--speed") {
        scenario.speed = s.parse().expect("--speed takes voxels per second");
    }
    let lod0 = args.iter().any(|a| a == "--lod0");
    let geology = args.iter().any(|a| a == "--geology");
    if args.iter().any(|a| a == "--startup") {
        print_or_exit(startup::run(value("--save"), &scenario), "start-up failed");
        return;
    }
    if args.iter().any(|a| a == "--rays") {
        let count = |flag: &str, default: usize| value(flag).map_or(default, |v| v.parse().expect("a count"));
        print_or_exit(
            rays::run(count("--batches", 15), count("--iters", 400)),
            "ray.pick_256 against bevy_voxel_world failed",
        );
        return;
    }
    if let Some(mode) = value("--net") {
        let result = match mode.as_str() {
            "visible" => net::visible(),
            "load" => {
                let clients = value("--clients").map_or(32, |v| v.parse().expect("a count"));
                let seconds = value("--seconds").map_or(20.0, |v| v.parse().expect("seconds"));
                net::load(clients, seconds)
            }
            other => {
                eprintln!("unknown net mode {other:?}: use visible or load");
                std::process::exit(2);
            }
        };
        print_or_exit(result, "net metrics failed");
        return;
    }
    if args.iter().any(|a| a == "--physics") {
        let batches = value("--batches").map_or(9, |v| v.parse().expect("a count"));
        print_or_exit(physics::run(batches), "physics metrics failed");
        return;
    }
    if args.iter().any(|a| a == "--play") {
        let seconds = value("--seconds").map_or(30.0, |v| v.parse().expect("seconds"));
        print_or_exit(play::run(seconds), "play metrics failed");
        return;
    }
    let engine = value("--engine").unwrap_or_else(|| "strata".into());
    let result = match engine.as_str() {
        "strata" => {
            // `--max-tasks N --max-results N`: the pipeline's caps instead of the defaults.
            let count = |flag: &str| value(flag).map(|v| v.parse::<usize>().expect("a count"));
            let caps = match (count("--max-tasks"), count("--max-results")) {
                (None, None) => None,
                (tasks, results) => {
                    let d = bevy_strata::prelude::StrataConfig::default();
                    Some((tasks.unwrap_or(d.max_tasks_in_flight), results.unwrap_or(d.max_results_per_frame)))
                }
            };
            fly(&mut strata_engine::StrataEngine::new(&scenario, lod0, geology, caps), &scenario)
        }
        "bevy_voxel_world" => fly(&mut peer_bvw::PeerEngine::new(&scenario), &scenario),
        other => {
            eprintln!("unknown engine {other:?}: use strata or bevy_voxel_world");
            std::process::exit(2);
        }
    };
    match result {
        Ok(r) => println!("{}", r.line()),
        Err(e) => {
            eprintln!("fly-through failed: {e}");
            std::process::exit(1);
        }
    }
}

/// Prints a mode's result line, or `what` and the error on stderr and exits with code 1.
fn print_or_exit(result: Result<String, String>, what: &str) {
    match result {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("{what}: {e}");
            std::process::exit(1);
        }
    }
}
