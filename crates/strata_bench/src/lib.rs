//! Strata's performance report harness.
//!
//! Every metric is printed as one line:
//! `metric=<name> value=<number> unit=<unit> [peer=<name> peer_value=<number> ratio=<value/peer_value>]`.
//! Timings with a peer are measured side by side: ours and the peer's alternate batch by batch
//! (A B A B …) on the same inputs, and each side reports the median of its batches, so drift in
//! machine speed hits both alike.
//!
//! ```sh
//! cargo run --release -p strata_bench --bin report            # full
//! cargo run --release -p strata_bench --bin report -- --quick # shorter
//! ```
//!
//! # The metrics
//! The per-area modules ([`core_metrics`], [`index_metrics`], [`mesh_metrics`], [`light_metrics`], [`geo_metrics`],
//! [`play_metrics`], [`stream_metrics`], [`scale_metrics`], [`redis_metrics`], [`net_metrics`])
//! document each metric's inputs; the areas at a glance:
//!
//! `--only core,index,mesh,light,geo,play,stream,scale,redis,net` picks areas (`redis` needs `STRATA_REDIS_CLUSTER`). The `stream` area builds and runs the headless
//! fly-through (`crates/strata_bench_stream`, Strata vs `bevy_voxel_world`, one process per run) on
//! equal terms: both engines get two async-compute threads at the same priority for their CPU work
//! and the one I/O thread Bevy creates (Strata's only reads the store; the peer's stays idle),
//! the peer is tuned as its docs recommend for streaming (`attach_chunks_to_root = false`,
//! `max_active_chunk_threads` = 512, its best measured: 64 and 512 within noise of each other, 1,024 slower), and the lines with a peer run
//! Strata with LOD off and the peer's keep-in-view rule (`view_distance_in_chunks`: chunks within
//! 12 whole chunks of the viewer's), so both make the same full-resolution chunks ready
//! (`stream.view_chunks` shows the counts; Strata also loads the ring of neighbour chunks its
//! seams read, the peer pads each chunk by generating one voxel around it). Each chunk counts once:
//! `stream.first_view_s`, main-thread p99 and max per phase
//! (`stream.loading_…`, `stream.flight_…`) and `stream.main_thread_ms_per_chunk`. Strata's default
//! LOD view has its own lines without a peer (`stream.lod_first_view_s`,
//! `stream.lod_flight_main_thread_p99_ms`); `stream.near_view_s`
//! is the time until everything it shows within 64 voxels of the viewer has its mesh (the plugin
//! hands out work nearest first). What a player sees while moving: `stream.flight_view_complete_fraction`
//! (mean over the flight's frames, and `_min`), of the view's chunks those displaying their mesh
//! after each frame, at 64 voxels/s and at 256 (`_256`), LOD 0 and the default LOD view
//! (`stream.lod_flight_…`); the LOD-0 lines have the peer's fraction beside them (its headless
//! camera casts no spawning rays, so it keeps the whole view queued every frame:
//! `min_despawn_distance` = spawning distance, `max_spawn_per_frame` for that cube; with its
//! defaults it spawned nothing between its first view and the edge of its loaded sphere). The peer's voxel lookup reads the same cached height tiles as Strata's
//! generator (`NoiseTerrain::height_tile`). `stream.first_view_cpu_s` is the CPU seconds the whole
//! process used for the first view, beside its time. The planet, Strata alone (`--planet walk|fly`:
//! the globe viewer's LOD view, headless, geology off, east along a parallel):
//! `stream.planet_first_view_s`, `stream.planet_walk_view_complete_fraction` (6 voxels above the
//! ground at 64 voxels/s) and `stream.planet_flight_view_complete_fraction` (256 voxels up at 512).
//! With LOD, a node that replaces others keeps their meshes on screen until it has its own (the
//! LOD hand-over, ARCHITECTURE.md, *Plugin*): the `…_view_covered_fraction` lines beside each LOD
//! `_complete_` line count what is on screen, the `_complete_` lines only the selected levels'
//! own meshes (planet flight here: 0.94–0.96 own meshes, 0.9999 covered).
//! The `play` area measures what a game's own systems cost: `mover.move_us`, one move of a
//! player-sized box at 10 voxels per step over the index area's hills (no peer has an engine-free
//! mover); with avian 0.7 (`strata_flythrough --physics`), `physics.collider_build_us` per terrain
//! chunk against `Collider::trimesh_from_mesh` on the chunk's mesh (`avian_trimesh_from_mesh`) and
//! against parry's voxel shape (`avian_voxels`), and `physics.step_ms` with 300 terrain chunk
//! colliders and 50 awake boxes against the same boxes on a flat floor (`flat_ground_plane`) and
//! on the same chunks as trimeshes (`avian_trimesh_terrain`); and `play.main_thread_p99_ms` (and
//! `…_max_ms`), the game example headless (`strata_flythrough --play`) while its player walks,
//! digs, builds and drops crates for 30 s at 60 frames per second.
//! The `scale` area measures what stays bounded while exploring: `scale.index_bytes_per_released_chunk`
//! (and `…_edited_chunk`) from an index fed a straight flight, and one long fly-through per
//! configuration (10 minutes, 3 with `--quick`; Strata's default LOD view, its LOD-0 view, and
//! `bevy_voxel_world`) sampling resident memory each second: `stream.rss_growth_mib_per_min` (slope
//! from minute 2 on), `stream.rss_mib_end`, `stream.voxel_budget_mib`, and on Strata's runs the live
//! heap bytes a counting global allocator sees (`--live-heap`): `stream.live_heap_growth_mib_per_min`
//! (and `_lod0`) and `stream.live_heap_mib_end`, growth that resident memory hides below what the
//! allocator keeps after the first view's peak; and the plugin starting over
//! redb saves of 10,000 and 100,000 stored edited chunks spread over a planet (made once, cached in
//! `target/strata_bench/saves/`) against an empty save: `scale.startup_main_thread_ms` (time before
//! the first frame), `scale.first_view_s` and `scale.startup_worst_frame_ms` (the longest frame
//! until the first view, the first included) (`_10k` for the smaller save, `_dense_10k` for a save
//! of the 10,000 chunks nearest the viewer, all read by the first view; the peer is the empty
//! save; the page cache is warm); and `scale.scan_us_per_stored_chunk`, what summarising a densely edited far region costs
//! per stored chunk (scans read the chunk summaries stored beside the records; peer
//! `decode_records`: decoding every record, as scans did before), with
//! `scale.summary_bytes_per_stored_chunk` (peer: the chunk records). `STRATA_SCALE_PARTS=bytes,scan,startup,rss`
//! runs only some of these parts.
//! The `net` area measures multiplayer (`crates/strata_bench/src/net_metrics.rs`):
//! `net.first_view_bytes_per_client`, the chunk data a server sends a client joining at the spawn
//! point with the default view (13,312 chunks under its selected nodes) when 1 % of them are
//! edited (a uniform random choice, a ball dug or built in each), against every chunk of that view
//! sent as the same record message (`all_chunk_records`), and `…_surface_edits`, the worst case
//! with every edit in a chunk the surface crosses; then, with the plugin over loopback UDP
//! (`strata_flythrough --net`): `net.edit_visible_ms`, p99 over 100 edits at a player's pace of the
//! time from a client's edit to the voxel meshed on another client (the server's save is redb, so
//! each edit is durable before anyone sees it; `net.edit_visible_p50_ms` too; the run also prints
//! its slowest edits with the server commit each waited for: measured 16 ms median, p99 20–23 ms,
//! and the rare 90–130 ms edit is a redb commit whose fsync took 77–110 ms on this machine), and
//! `net.server_main_thread_p99_ms`, the server's frame time with 32 simulated clients flying at 64
//! voxels/s in different directions over a redb world edited along their paths, with
//! `net.bytes_per_s_per_client`, what each received per second of that flight.
//! Timings with a peer are measured side by side in the same run, interleaved batch by batch, median
//! of at least 9 batches. Compare ratios, not absolute times: the build machines are noisy.
#![forbid(unsafe_code)]

pub mod block_mesh_peer;
pub mod core_metrics;
pub mod geo_metrics;
pub mod index_metrics;
pub mod light_metrics;
pub mod mesh_metrics;
pub mod net_metrics;
pub mod planet_route;
pub mod play_metrics;
pub mod ray_agreement;
pub mod redis_metrics;
pub mod scale_metrics;
pub mod stream_metrics;

use std::hint::black_box;
use std::time::Instant;

/// One area of the report: measures its metrics within a budget.
pub type Area = fn(Budget) -> Vec<Metric>;

/// How long to measure.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Batches per side (≥ 9).
    pub batches: usize,
    /// Scale factor for iteration counts (1.0 normal, smaller with `--quick`).
    pub scale: f64,
}

impl Budget {
    /// From the command line: `--quick` shortens every measurement.
    pub fn from_args() -> Self {
        if std::env::args().any(|a| a == "--quick") {
            Self { batches: 9, scale: 0.2 }
        } else {
            Self { batches: 15, scale: 1.0 }
        }
    }

    /// `n` scaled by the budget, at least 1.
    pub fn iters(&self, n: usize) -> usize {
        ((n as f64 * self.scale) as usize).max(1)
    }
}

/// One line of the report.
#[derive(Clone, Debug)]
pub struct Metric {
    /// Name, exactly as the issue names it.
    pub name: String,
    /// Our value.
    pub value: f64,
    /// Unit.
    pub unit: String,
    /// Peer name and value, if measured side by side.
    pub peer: Option<(String, f64)>,
}

impl Metric {
    /// A metric without peer.
    pub fn new(name: &str, value: f64, unit: &str) -> Self {
        Self { name: name.into(), value, unit: unit.into(), peer: None }
    }

    /// A metric with a peer measured in the same run.
    pub fn with_peer(name: &str, value: f64, unit: &str, peer: &str, peer_value: f64) -> Self {
        Self { name: name.into(), value, unit: unit.into(), peer: Some((peer.into(), peer_value)) }
    }

    /// The report line.
    pub fn line(&self) -> String {
        let mut s = format!("metric={} value={} unit={}", self.name, fmt_num(self.value), self.unit);
        if let Some((peer, pv)) = &self.peer {
            let ratio = if *pv != 0.0 { self.value / pv } else { f64::NAN };
            s.push_str(&format!(" peer={peer} peer_value={} ratio={}", fmt_num(*pv), fmt_num(ratio)));
        }
        s
    }

    /// Prints the line to stdout.
    pub fn print(&self) {
        println!("{}", self.line());
    }
}

fn fmt_num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let mag = v.abs().log10().floor() as i32;
    if !(-3..9).contains(&mag) { format!("{v:.4e}") } else { format!("{:.*}", (4 - mag).clamp(0, 6) as usize, v) }
}

/// Median of a slice (sorted copy).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Nanoseconds per call of `f`, median over `batches` batches of `iters` calls.
pub fn time_ns(batches: usize, iters: usize, mut f: impl FnMut()) -> f64 {
    let mut samples = Vec::with_capacity(batches);
    f(); // warm-up
    for _ in 0..batches {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        samples.push(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    median(&samples)
}

/// Nanoseconds per call of `ours` and of `peer`, interleaved batch by batch, medians of each.
pub fn side_by_side_ns(batches: usize, iters: usize, mut ours: impl FnMut(), mut peer: impl FnMut()) -> (f64, f64) {
    ours();
    peer();
    let (mut a, mut b) = (Vec::with_capacity(batches), Vec::with_capacity(batches));
    for _ in 0..batches {
        let t = Instant::now();
        for _ in 0..iters {
            ours();
        }
        a.push(t.elapsed().as_nanos() as f64 / iters as f64);
        let t = Instant::now();
        for _ in 0..iters {
            peer();
        }
        b.push(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    (median(&a), median(&b))
}

/// CPU time this process has used (user + system, all threads), seconds, from
/// `/proc/self/stat` (`utime` + `stime`, in the kernel's fixed 100 ticks per second); `None`
/// where procfs is missing.
pub fn process_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command (which may hold spaces) and its closing parenthesis: state
    // is field 3, utime 14, stime 15.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Re-exported so metric modules keep results alive.
pub fn keep<T>(v: T) -> T {
    black_box(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        let m = Metric::with_peer("codec.decode_dense_32", 12.5, "us", "lz4_flex_raw_overhead", 10.0);
        assert_eq!(
            m.line(),
            "metric=codec.decode_dense_32 value=12.500 unit=us peer=lz4_flex_raw_overhead peer_value=10.000 ratio=1.2500"
        );
        assert_eq!(Metric::new("x", 5e7, "writes_per_s").line(), "metric=x value=50000000 unit=writes_per_s");
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }

    #[test]
    fn process_cpu_counts_the_work_of_every_thread() {
        let before = process_cpu_s().expect("procfs");
        // Two other threads work until the process has used 0.4 CPU seconds (or 20 s of wall
        // time pass): a count of the calling thread alone (which only sleeps here) never gets
        // there. Not timed by wall clock: on a busy machine the threads get less than a core each.
        let stop = std::sync::atomic::AtomicBool::new(false);
        let start = Instant::now();
        let used = std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let mut x = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        for _ in 0..10_000 {
                            x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
                        }
                    }
                });
            }
            let mut used = 0.0;
            while start.elapsed() < std::time::Duration::from_secs(20) {
                std::thread::sleep(std::time::Duration::from_millis(10));
                used = process_cpu_s().unwrap() - before;
                if used >= 0.4 {
                    break;
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            used
        });
        assert!(used >= 0.4, "{used} CPU seconds counted for two threads working {:?}", start.elapsed());
    }
}
