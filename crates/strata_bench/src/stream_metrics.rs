//! `stream.*`: the headless streaming fly-through of the Bevy plugin against `bevy_voxel_world`.
//!
//! This crate stays engine-free: the fly-through lives in the `strata_bench_stream` package
//! (binary `strata_flythrough`), which this area builds with the same cargo and profile and
//! runs as a subprocess, one fresh process per run (so each run starts with cold task pools
//! and caches, as a game does). Runs alternate between Strata and the peer (A B A B …) and
//! each side reports the median of its runs. See `crates/strata_bench_stream/src/scenario.rs`
//! for the scenario and the definition of every number.
//!
//! - `stream.main_thread_p99_ms`, `stream.main_thread_max_ms`: main-thread time per frame.
//! - `stream.chunks_ready_per_s`: 32³ grids (chunks or LOD nodes) made ready per second while
//!   the initial view streams (saturated throughput).
//! - `stream.first_view_s`: time until the initial view is complete.
//! - `stream.near_view_s`: time until every node Strata shows within 64 voxels of the viewer
//!   has its first mesh (the ground under the player; Strata only: the peer reports no such
//!   point, so no peer value).
//! - `stream.chunks_ready_per_s_lod0`: the same throughput with Strata's LOD turned off, so
//!   both engines do the same work per grid (one 32³ chunk of voxels).
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
    let mut ours_lod0: Vec<Sample> = Vec::new();
    let mut ours_geo: Vec<Sample> = Vec::new();
    for _ in 0..runs {
        for (engine, extra, out) in [
            ("strata", None, &mut ours),
            (PEER, None, &mut peer),
            ("strata", Some("--lod0"), &mut ours_lod0),
            ("strata", Some("--geology"), &mut ours_geo),
        ] {
            match fly(&exe, engine, flight_s, extra) {
                Ok(s) => out.push(s),
                Err(e) => {
                    eprintln!("stream: {engine} {} run failed: {e}", extra.unwrap_or(""));
                    return Vec::new();
                }
            }
        }
    }
    let m = |v: &[Sample], key: &str| median(&v.iter().map(|s| s[key]).collect::<Vec<_>>());
    vec![
        Metric::with_peer(
            "stream.main_thread_p99_ms",
            m(&ours, "main_thread_p99_ms"),
            "ms",
            PEER,
            m(&peer, "main_thread_p99_ms"),
        ),
        Metric::with_peer(
            "stream.main_thread_max_ms",
            m(&ours, "main_thread_max_ms"),
            "ms",
            PEER,
            m(&peer, "main_thread_max_ms"),
        ),
        Metric::with_peer(
            "stream.chunks_ready_per_s",
            m(&ours, "chunks_ready_per_s"),
            "grids_per_s",
            PEER,
            m(&peer, "chunks_ready_per_s"),
        ),
        Metric::with_peer("stream.first_view_s", m(&ours, "first_view_s"), "s", PEER, m(&peer, "first_view_s")),
        Metric::new("stream.near_view_s", m(&ours, "near_view_s"), "s"),
        Metric::with_peer(
            "stream.chunks_ready_per_s_lod0",
            m(&ours_lod0, "chunks_ready_per_s"),
            "chunks_per_s",
            PEER,
            m(&peer, "chunks_ready_per_s"),
        ),
        Metric::with_peer(
            "stream.first_view_s_lod0",
            m(&ours_lod0, "first_view_s"),
            "s",
            PEER,
            m(&peer, "first_view_s"),
        ),
        Metric::with_peer(
            "geo.main_thread_p99_ms",
            m(&ours_geo, "main_thread_p99_ms"),
            "ms",
            "strata_without_geology",
            m(&ours, "main_thread_p99_ms"),
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
/// sampled each second, the slope fitted from minute 2 of the flight to its end.
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
    for (engine, extra) in [("strata", None), ("strata", Some("--lod0")), (PEER, None)] {
        match fly(&exe, engine, flight_s, extra) {
            Ok(s) => runs.push(s),
            Err(e) => {
                eprintln!("stream: {engine} {} long flight failed: {e}", extra.unwrap_or(""));
                return Vec::new();
            }
        }
    }
    let (ours, lod0, peer) = (&runs[0], &runs[1], &runs[2]);
    vec![
        Metric::new("stream.rss_growth_mib_per_min", ours["rss_slope_mib_per_min"], "mib_per_min"),
        Metric::new("stream.rss_growth_mib_per_min_lod0", lod0["rss_slope_mib_per_min"], "mib_per_min"),
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
fn fly(exe: &PathBuf, engine: &str, flight_s: &str, extra: Option<&str>) -> Result<Sample, String> {
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

/// Parses the last line of `key=value` pairs.
pub(crate) fn parse(stdout: &str) -> Option<Sample> {
    let line = stdout.lines().rev().find(|l| l.contains("first_view_s="))?;
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
