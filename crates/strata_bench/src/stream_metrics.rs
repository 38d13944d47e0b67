//! `stream.*`: the headless streaming fly-through of the Bevy plugin against `bevy_voxel_world`.
//!
//! This crate stays engine-free: the fly-through lives in the `strata_bench_stream` package
//! (binary `strata_flythrough`), which this area builds with the same cargo and profile and
//! runs as a subprocess, one fresh process per run (so each run starts with cold task pools
//! and caches, as a game does). Runs alternate between Strata and the peer (A B A B …) and
//! each side reports the median of its runs. See `crates/strata_bench_stream/src/scenario.rs`
//! for the scenario and the definition of every number.
//!
//! **Equal terms.** Both engines get the same two worker threads at the same priority (see
//! `crates/strata_bench_stream/src/pools.rs`; the thread counts are printed with every run on
//! stderr), the same generator, view radius, path and frame pacing; the peer is configured as
//! its docs recommend for streaming (chunks not parented to the world root, chunk tasks bounded
//! by Strata's `max_tasks_in_flight`, the whole view kept queued since a headless camera casts
//! no spawning rays). The lines with a `bevy_voxel_world` peer compare
//! full-resolution chunks with full-resolution chunks: Strata runs with LOD off (`--lod0`).
//! Each chunk counts once, however often it is remeshed.
//!
//! - `stream.first_view_s`: time until the initial view is complete (LOD 0).
//! - `stream.first_view_cpu_s`: CPU seconds the whole process (every thread) used from the
//!   first frame to that view: what the view cost the machine, beside how long it took.
//! - `stream.view_chunks`: how many chunks the initial view held: the same on both sides,
//!   since `--lod0` also keeps the peer's rule (`view_distance_in_chunks`: chunks within 12
//!   whole chunks of the viewer's). (`stream.chunks_ready_per_s`, that count divided by the
//!   first view's time, said nothing `stream.first_view_s` does not: dropped, and so was
//!   `stream.lod_grids_ready_per_s`.)
//! - `stream.loading_main_thread_p99_ms` / `…_max_ms` and `stream.flight_main_thread_p99_ms` /
//!   `…_max_ms`: main-thread time per frame while the initial view loads, and during the flight;
//!   `stream.main_thread_ms_per_chunk`: main-thread milliseconds of the loading phase per chunk
//!   made ready.
//! - `ray.pick_256` with peer `bevy_voxel_world`: the index area's 64 picking rays over its
//!   world, cast by Strata and by the peer's own `VoxelWorld::raycast` side by side in one
//!   process (`strata_flythrough --rays`, see `crates/strata_bench_stream/src/rays.rs`), after
//!   asserting both return the same voxel, material, face and distance for every ray; rays
//!   without a hit within 256 voxels are left out (the peer's cast has no maximum distance).
//! - Strata's default view (octree LOD), no peer (the peer's own LOD is not enabled):
//!   `stream.lod_first_view_s`,
//!   `stream.lod_flight_main_thread_p99_ms`, and `stream.near_view_s`: time until every node
//!   shown within 64 voxels of the viewer has its first mesh (the ground under the player).
//! - `stream.flight_view_complete_fraction` (and `_min`): the fraction of the view a player
//!   sees during the flight, after each frame (mean over the flight, and its minimum): LOD 0,
//!   of the 7,153 chunks within view of the viewer's chunk, those shown with their mesh (or
//!   known to need none); `_256` the same flight at 256 voxels/s instead of 64;
//!   `stream.lod_flight_view_complete_fraction` (`_min`, `_256`, `_256_min`): the default LOD
//!   view, of the nodes selected after each frame, those displaying a mesh (a node that
//!   replaced coarser or finer ones is a hole until its mesh arrives). The LOD-0 lines have
//!   the peer's fraction beside them: of the same chunks, those it has spawned with their
//!   mesh. Its camera is headless (no viewport, so no spawning rays), so it keeps the whole
//!   view queued every frame (`min_despawn_distance` = the spawning distance, and
//!   `max_spawn_per_frame` large enough for that cube); with its defaults it spawned nothing
//!   between its first view and the edge of its loaded sphere.
//! - The planet (`--planet walk|fly`, Strata alone: no peer streams a planet; see
//!   `crates/strata_bench_stream/src/planet_route.rs`): the default planet with the globe
//!   viewer's LOD view, headless, geology off, going east at a height above the ground.
//!   `stream.planet_first_view_s` (walking height), `stream.planet_walk_view_complete_fraction`
//!   (and `_min`): walking (6 voxels up) at 64 voxels/s; `stream.planet_flight_view_complete_fraction`
//!   (and `_min`): flying (256 voxels up) at 512 voxels/s. Fractions as for the LOD view.
//! - `..._view_covered_fraction` (`stream.lod_flight_…`, `…_256`, `stream.planet_walk_…`,
//!   `stream.planet_flight_…`, each with `_min`): the same flights, counting what is on
//!   screen with the LOD hand-over: of the nodes selected after each frame, those whose place
//!   shows a mesh — their own, or the older meshes of the nodes they replaced, which stay
//!   until every node over them is meshed. The `_complete_` lines count only the selected
//!   levels' own meshes; the difference is the holes the hand-over closes.
//! - `geo.main_thread_p99_ms`: Strata's main-thread p99 with geology running near the viewer
//!   throughout (`--geology`), peer: the same fly-through without geology; and
//!   `geo.flythrough_voxels_per_s`, voxels geology changed per second of that run.

use crate::{Budget, Metric, median};

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

const PEER: &str = "bevy_voxel_world";

/// Runs the fly-throughs; prints why to stderr and returns nothing if they cannot run.
pub fn run(budget: Budget) -> Vec<Metric> {
    let exe = match build() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("stream: fly-through not measured: {e}");
            return Vec::new();
        }
    };
    // Each run takes the initial view plus the flight (~15–40 s); the quick budget runs 3 pairs.
    let runs = if budget.scale < 1.0 { 3 } else { 9 };
    let flight_s = if budget.scale < 1.0 { "6" } else { "10" };
    let mut ours: Vec<Sample> = Vec::new();
    let mut peer: Vec<Sample> = Vec::new();
    let mut ours_lod: Vec<Sample> = Vec::new();
    let mut ours_geo: Vec<Sample> = Vec::new();
    let mut ours_fast: Vec<Sample> = Vec::new();
    let mut ours_lod_fast: Vec<Sample> = Vec::new();
    let mut peer_fast: Vec<Sample> = Vec::new();
    let mut planet_walk: Vec<Sample> = Vec::new();
    let mut planet_fly: Vec<Sample> = Vec::new();
    for _ in 0..runs {
        for (engine, extra, out) in [
            ("strata", &["--lod0"][..], &mut ours),
            (PEER, &[][..], &mut peer),
            ("strata", &[][..], &mut ours_lod),
            ("strata", &["--geology"][..], &mut ours_geo),
            ("strata", &["--lod0", "--speed", "256"][..], &mut ours_fast),
            (PEER, &["--speed", "256"][..], &mut peer_fast),
            ("strata", &["--speed", "256"][..], &mut ours_lod_fast),
            ("strata", &["--planet", "walk"][..], &mut planet_walk),
            ("strata", &["--planet", "fly"][..], &mut planet_fly),
        ] {
            match fly(&exe, engine, flight_s, extra) {
                Ok(s) => out.push(s),
                Err(e) => {
                    eprintln!("stream: {engine} {} run failed: {e}", extra.join(" "));
                    return Vec::new();
                }
            }
        }
    }
    for (name, runs) in [("strata", &ours), (PEER, &peer)] {
        let threads = |k: &str| runs.first().and_then(|s| s.get(k)).copied().unwrap_or(f64::NAN);
        eprintln!(
            "stream: {name}: worker_threads={} io_threads={} async_compute_threads={} compute_threads={}",
            threads("worker_threads"),
            threads("io_threads"),
            threads("async_compute_threads"),
            threads("compute_threads")
        );
    }
    let rays = match pick_against_peer(&exe, budget) {
        Ok(s) => s,
        // A disagreement (or a peer that cannot load the rays' chunks) fails the report.
        Err(e) => panic!("ray.pick_256 against {PEER}: {e}"),
    };
    eprintln!(
        "ray.pick_256 against {PEER}: {} rays, peer {} cameras, {} chunks loaded in {} s",
        rays["ray_pick_rays"], rays["peer_cameras"], rays["peer_chunks"], rays["peer_setup_s"]
    );
    let m = |v: &[Sample], key: &str| median(&v.iter().map(|s| s[key]).collect::<Vec<_>>());
    let vs_peer = |name: &str, key: &str, unit: &str| Metric::with_peer(name, m(&ours, key), unit, PEER, m(&peer, key));
    // The view-fraction lines: the 256 voxels/s runs against the peer's, and Strata's LOD view.
    const FRACTION_MEAN: &str = "flight_view_fraction_mean";
    const FRACTION_MIN: &str = "flight_view_fraction_min";
    const COVERED_MEAN: &str = "flight_view_covered_mean";
    const COVERED_MIN: &str = "flight_view_covered_min";
    let fraction_vs_peer =
        |name: &str, key: &str| Metric::with_peer(name, m(&ours_fast, key), "fraction", PEER, m(&peer_fast, key));
    let fraction = |runs: &[Sample], name: &str, key: &str| Metric::new(name, m(runs, key), "fraction");
    vec![
        vs_peer("stream.first_view_s", "first_view_s", "s"),
        vs_peer("stream.first_view_cpu_s", "first_view_cpu_s", "s"),
        vs_peer("stream.view_chunks", "grids_first_view", "chunks"),
        vs_peer("stream.loading_main_thread_p99_ms", "loading_main_thread_p99_ms", "ms"),
        vs_peer("stream.loading_main_thread_max_ms", "loading_main_thread_max_ms", "ms"),
        vs_peer("stream.flight_main_thread_p99_ms", "flight_main_thread_p99_ms", "ms"),
        vs_peer("stream.flight_main_thread_max_ms", "flight_main_thread_max_ms", "ms"),
        vs_peer("stream.main_thread_ms_per_chunk", "main_thread_ms_per_chunk", "ms"),
        Metric::with_peer("ray.pick_256", rays["ray_pick_ours_us"], "us", PEER, rays["ray_pick_peer_us"]),
        Metric::new("stream.lod_first_view_s", m(&ours_lod, "first_view_s"), "s"),
        Metric::new("stream.lod_flight_main_thread_p99_ms", m(&ours_lod, "flight_main_thread_p99_ms"), "ms"),
        Metric::new("stream.near_view_s", m(&ours_lod, "near_view_s"), "s"),
        vs_peer("stream.flight_view_complete_fraction", FRACTION_MEAN, "fraction"),
        vs_peer("stream.flight_view_complete_fraction_min", FRACTION_MIN, "fraction"),
        fraction_vs_peer("stream.flight_view_complete_fraction_256", FRACTION_MEAN),
        fraction_vs_peer("stream.flight_view_complete_fraction_256_min", FRACTION_MIN),
        fraction(&ours_lod, "stream.lod_flight_view_complete_fraction", FRACTION_MEAN),
        fraction(&ours_lod, "stream.lod_flight_view_complete_fraction_min", FRACTION_MIN),
        fraction(&ours_lod_fast, "stream.lod_flight_view_complete_fraction_256", FRACTION_MEAN),
        fraction(&ours_lod_fast, "stream.lod_flight_view_complete_fraction_256_min", FRACTION_MIN),
        fraction(&ours_lod, "stream.lod_flight_view_covered_fraction", COVERED_MEAN),
        fraction(&ours_lod, "stream.lod_flight_view_covered_fraction_min", COVERED_MIN),
        fraction(&ours_lod_fast, "stream.lod_flight_view_covered_fraction_256", COVERED_MEAN),
        fraction(&ours_lod_fast, "stream.lod_flight_view_covered_fraction_256_min", COVERED_MIN),
        Metric::new("stream.planet_first_view_s", m(&planet_walk, "first_view_s"), "s"),
        fraction(&planet_walk, "stream.planet_walk_view_complete_fraction", FRACTION_MEAN),
        fraction(&planet_walk, "stream.planet_walk_view_complete_fraction_min", FRACTION_MIN),
        fraction(&planet_fly, "stream.planet_flight_view_complete_fraction", FRACTION_MEAN),
        fraction(&planet_fly, "stream.planet_flight_view_complete_fraction_min", FRACTION_MIN),
        fraction(&planet_walk, "stream.planet_walk_view_covered_fraction", COVERED_MEAN),
        fraction(&planet_walk, "stream.planet_walk_view_covered_fraction_min", COVERED_MIN),
        fraction(&planet_fly, "stream.planet_flight_view_covered_fraction", COVERED_MEAN),
        fraction(&planet_fly, "stream.planet_flight_view_covered_fraction_min", COVERED_MIN),
        Metric::with_peer(
            "geo.main_thread_p99_ms",
            m(&ours_geo, "main_thread_p99_ms"),
            "ms",
            "strata_without_geology",
            m(&ours_lod, "main_thread_p99_ms"),
        ),
        Metric::new(
            "geo.flythrough_voxels_per_s",
            median(&ours_geo.iter().map(geo_rate).collect::<Vec<_>>()),
            "voxels_per_s",
        ),
    ]
}

/// `stream.rss_growth_mib_per_min` (and `_lod0`), `stream.rss_mib_end` (and `_lod0`, peer
/// `bevy_voxel_world` on the same path) and `stream.voxel_budget_mib`: one long flight per
/// configuration (10 minutes, 3 with the quick budget) in a fresh process, resident memory
/// sampled each second, the slope fitted from minute 2 of the flight to its end. Strata's runs
/// also count live heap bytes (`--live-heap`, a counting global allocator):
/// `stream.live_heap_growth_mib_per_min` (and `_lod0`), fitted the same way, and
/// `stream.live_heap_mib_end` — growth that resident memory hides below the allocator's
/// retained first-view peak.
pub fn run_rss(budget: Budget) -> Vec<Metric> {
    let exe = match build() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("stream: fly-through not measured: {e}");
            return Vec::new();
        }
    };
    let flight_s = if budget.scale < 1.0 { "180" } else { "600" };
    let mut runs = Vec::new();
    for (engine, extra) in
        [("strata", &["--live-heap"][..]), ("strata", &["--lod0", "--live-heap"][..]), (PEER, &[][..])]
    {
        match fly(&exe, engine, flight_s, extra) {
            Ok(s) => runs.push(s),
            Err(e) => {
                eprintln!("stream: {engine} {} long flight failed: {e}", extra.join(" "));
                return Vec::new();
            }
        }
    }
    let (ours, lod0, peer) = (&runs[0], &runs[1], &runs[2]);
    vec![
        Metric::new("stream.rss_growth_mib_per_min", ours["rss_slope_mib_per_min"], "mib_per_min"),
        Metric::new("stream.rss_growth_mib_per_min_lod0", lod0["rss_slope_mib_per_min"], "mib_per_min"),
        Metric::new("stream.live_heap_growth_mib_per_min", ours["live_heap_slope_mib_per_min"], "mib_per_min"),
        Metric::new("stream.live_heap_growth_mib_per_min_lod0", lod0["live_heap_slope_mib_per_min"], "mib_per_min"),
        Metric::new("stream.live_heap_mib_end", ours["live_heap_mib_end"], "mib"),
        Metric::with_peer("stream.rss_mib_end", ours["rss_mib_end"], "mib", PEER, peer["rss_mib_end"]),
        Metric::with_peer("stream.rss_mib_end_lod0", lod0["rss_mib_end"], "mib", PEER, peer["rss_mib_end"]),
        Metric::new("stream.voxel_budget_mib", ours.get("voxel_budget_mib").copied().unwrap_or(f64::NAN), "mib"),
    ]
}

pub(crate) type Sample = HashMap<String, f64>;

/// Voxels geology changed per second of a `--geology` run (initial view + flight).
fn geo_rate(s: &Sample) -> f64 {
    let seconds = s.get("run_s").copied().unwrap_or(f64::NAN);
    s.get("geo_voxels").copied().unwrap_or(0.0) / seconds
}

/// Builds `strata_flythrough` with this process's cargo and profile; returns its path.
pub(crate) fn build() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "strata_bench_stream", "--bin", "strata_flythrough"]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building strata_bench_stream failed ({status})"));
    }
    let here = std::env::current_exe().map_err(|e| e.to_string())?;
    let exe = here.with_file_name(format!("strata_flythrough{}", std::env::consts::EXE_SUFFIX));
    if exe.exists() { Ok(exe) } else { Err(format!("{} not found after the build", exe.display())) }
}

/// One fly-through in a fresh process; parses its `key=value` line.
fn fly(exe: &PathBuf, engine: &str, flight_s: &str, extra: &[&str]) -> Result<Sample, String> {
    let mut cmd = Command::new(exe);
    cmd.args(["--engine", engine, "--flight-s", flight_s]);
    cmd.args(extra);
    let out = cmd.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{}: {}", out.status, err.lines().last().unwrap_or("")));
    }
    parse(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| "no result line".into())
}

/// `strata_flythrough --rays` in a fresh process with this budget's batches and iterations
/// (those of the index area's `ray.pick_256` line); parses its `key=value` line.
fn pick_against_peer(exe: &PathBuf, budget: Budget) -> Result<Sample, String> {
    let out = Command::new(exe)
        .args(["--rays", "--batches", &budget.batches.to_string(), "--iters", &budget.iters(400).to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{}: {}", out.status, err.lines().last().unwrap_or("")));
    }
    parse_line(&String::from_utf8_lossy(&out.stdout), "ray_pick_rays=").ok_or_else(|| "no result line".into())
}

/// Parses the last line of `key=value` pairs.
pub(crate) fn parse(stdout: &str) -> Option<Sample> {
    parse_line(stdout, "first_view_s=")
}

/// Parses the last line holding `marker` as `key=value` pairs.
pub(crate) fn parse_line(stdout: &str, marker: &str) -> Option<Sample> {
    let line = stdout.lines().rev().find(|l| l.contains(marker))?;
    line.split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_result_line() {
        let s = super::parse("log\nfirst_view_s=1.5 chunks_ready_per_s=20 frames=3\n").unwrap();
        assert_eq!(s["first_view_s"], 1.5);
        assert_eq!(s["frames"], 3.0);
        assert!(super::parse("first_view_s=oops").is_none());
        assert!(super::parse("nothing").is_none());
    }
}
