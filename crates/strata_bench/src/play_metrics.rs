//! Play metrics: what a game's own systems cost on a streamed world. `mover.move_us`: one move
//! of a player-sized box (0.6 × 1.8 × 0.6) at 10 voxels per step over the index area's terrain,
//! with gravity and step-up, through `strata_index::mover` reading an index snapshot. No peer:
//! the peers have no engine-free character mover.
//!
//! Physics with avian 0.7 runs in `strata_flythrough --physics` (this crate stays engine-free;
//! see `crates/strata_bench_stream/src/physics.rs` for the terrain, the boxes and the peers):
//! - `physics.collider_build_us` per terrain chunk: Strata's compound of merged boxes from the
//!   voxels, against `avian_trimesh_from_mesh` (`Collider::trimesh_from_mesh` on the chunk's
//!   opaque mesh; target ratio ≤ 0.5) and against `avian_voxels` (`Collider::voxels`);
//! - `physics.step_ms`: one step with 300 terrain chunk colliders and 50 dynamic boxes,
//!   against the same boxes on a `flat_ground_plane` (the cost the terrain adds) and on
//!   `avian_trimesh_terrain` (the same chunks as trimeshes);
//! - `physics.collider_boxes_per_chunk` and `physics.trimesh_triangles_per_chunk`: the shapes'
//!   sizes.
//!
//! `play.main_thread_p99_ms` (target ≤ 4 ms) and `play.main_thread_max_ms`: the game example
//! headless while its player walks, digs, builds and drops crates for 30 s
//! (`strata_flythrough --play`, see `crates/strata_bench_stream/src/play.rs`). No peer: no
//! peer ships a game to compare with.

use crate::index_metrics::bench_world;
use crate::stream_metrics::{build, parse_line};
use crate::{Budget, Metric, keep, time_ns};
use std::process::Command;
use strata_core::MaterialRegistry;
use strata_index::mover::{Body, SnapshotSolids, move_and_slide};
use strata_index::{HitFilter, IndexConfig, IndexWriter};

/// Runs every play metric.
pub fn run(budget: Budget) -> Vec<Metric> {
    let (generator, chunks) = bench_world();
    let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());
    writer.bulk_load(chunks, 2);
    let snapshot = writer.publish();
    let filter = HitFilter::colliding(&MaterialRegistry::builtin());

    // A walk over the hills: 10 voxels per move along a heading that turns a little each move
    // (and back towards the middle near the edge of the loaded 1024 × 1024 voxels), 2 voxels
    // of fall per move, ledges of one voxel climbed.
    let surface = |x: f64, z: f64| f64::from(generator.height(x as i32, z as i32) + 1);
    let start = [512.3, surface(512.3, 512.7) + 0.5, 512.7];
    let mut body = Body::standing_at(start, [0.6, 1.8, 0.6]);
    let mut heading = 0.0f64;
    let mut moves = 0u64;
    let mut stepped = 0u64;
    let mut travelled = 0.0f64;
    let mut walk = || {
        let [x, _, z] = body.feet();
        heading += 0.05;
        if !(128.0..896.0).contains(&x) || !(128.0..896.0).contains(&z) {
            heading = (512.0 - z).atan2(512.0 - x);
        }
        let delta = [10.0 * heading.cos(), -2.0, 10.0 * heading.sin()];
        let motion = move_and_slide(&mut body, delta, 1.0, &mut SnapshotSolids::new(&snapshot, &filter))
            .expect("a move inside the world");
        moves += 1;
        stepped += u64::from(motion.stepped);
        travelled += motion.moved[0].hypot(motion.moved[2]);
        keep(motion);
    };
    let ns = time_ns(budget.batches, budget.iters(20_000), &mut walk);
    // A walk, not a box pressed against a wall: most moves go most of the way.
    assert!(stepped > 0 && stepped < moves, "the walk climbs some ledges ({stepped} of {moves} moves)");
    assert!(travelled / moves as f64 > 5.0, "{travelled} voxels in {moves} moves");
    let mut out = vec![Metric::new("mover.move_us", ns / 1e3, "us")];
    let exe = build().unwrap_or_else(|e| panic!("play metrics: {e}"));
    out.extend(physics(&exe, budget));
    out.extend(playing(&exe));
    out
}

/// `play.main_thread_*`, from `strata_flythrough --play` (30 s of walking) in a fresh process.
fn playing(exe: &std::path::Path) -> Vec<Metric> {
    let s = run_line(exe, &["--play", "--seconds", "30"], "play_p99_ms=");
    eprintln!(
        "play: {} frames, on the ground after {:.1} s, {} digs, {} builds, {:.0} voxels walked, {} crates, {} chunk colliders",
        s["frames"], s["ground_s"], s["digs"], s["builds"], s["walked_voxels"], s["crates"], s["colliders"]
    );
    vec![
        Metric::new("play.main_thread_p99_ms", s["play_p99_ms"], "ms"),
        Metric::new("play.main_thread_max_ms", s["play_max_ms"], "ms"),
    ]
}

/// Runs `exe` with `args` and parses its result line (the one containing `marker`).
fn run_line(exe: &std::path::Path, args: &[&str], marker: &str) -> crate::stream_metrics::Sample {
    let out = Command::new(exe).args(args).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    match parse_line(&stdout, marker) {
        Some(s) if out.status.success() => s,
        _ => panic!("{} {args:?} failed ({}): {}", exe.display(), out.status, String::from_utf8_lossy(&out.stderr)),
    }
}

/// The physics metrics, from `strata_flythrough --physics` in a fresh process.
fn physics(exe: &std::path::Path, budget: Budget) -> Vec<Metric> {
    let s = run_line(exe, &["--physics", "--batches", &budget.batches.to_string()], "build_ours_us=");
    eprintln!(
        "physics: {} chunks, {} boxes, {} resting on the terrain after the run",
        s["chunks"], s["boxes"], s["resting_boxes"]
    );
    // The boxes must have landed on the terrain colliders, not fallen through them.
    assert!(
        s["resting_boxes"] >= s["boxes"] * 0.9,
        "only {} of {} boxes rest on the terrain",
        s["resting_boxes"],
        s["boxes"]
    );
    let build = s["build_ours_us"];
    let step = s["step_boxes_ms"];
    vec![
        Metric::with_peer("physics.collider_build_us", build, "us", "avian_trimesh_from_mesh", s["build_trimesh_us"]),
        // Ours as timed beside this peer: a ratio never mixes two pairings.
        Metric::with_peer(
            "physics.collider_build_us",
            s["build_ours_beside_voxels_us"],
            "us",
            "avian_voxels",
            s["build_voxels_us"],
        ),
        Metric::with_peer("physics.step_ms", step, "ms", "flat_ground_plane", s["step_plane_ms"]),
        Metric::with_peer("physics.step_ms", step, "ms", "avian_trimesh_terrain", s["step_trimesh_ms"]),
        Metric::new("physics.collider_boxes_per_chunk", s["boxes_per_chunk"], "boxes"),
        Metric::new("physics.trimesh_triangles_per_chunk", s["triangles_per_chunk"], "triangles"),
    ]
}
