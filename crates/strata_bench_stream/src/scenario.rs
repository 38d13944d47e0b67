//! The fly-through: what both engines do and what is measured.
//!
//! 1. **Initial view** (the loading phase). The viewer hovers at `start` until the engine reports
//!    its view complete (every node or chunk in range loaded and meshed, nothing in flight).
//!    `first_view_s` is the wall time from the first frame to that frame; `grids_first_view` is
//!    the number of distinct 32³ grids (chunks, or LOD nodes for Strata) made ready by then, each
//!    counted once however often it was remeshed; `chunks_ready_per_s` is that number divided by
//!    `first_view_s` — the saturated throughput of generation + meshing + apply;
//!    `first_view_cpu_s` the CPU seconds the whole process (every thread) used meanwhile.
//! 2. **Flight.** The viewer moves along +x at `speed` voxels per second of wall time for
//!    `flight_s` seconds, so a slow engine sees the same path in fewer frames. (In the planet
//!    mode, east along a parallel at a height above the ground: [`strata_bench::planet_route`].)
//!
//! Frames are paced at 60 Hz (sleeping out the rest of each 16.7 ms, as a game with vsync
//! would), so task-pool threads get the CPU between frames. **Main-thread time** is the wall
//! time of one `App::update`. Per phase: its 99th percentile and maximum
//! (`loading_main_thread_p99_ms`, `loading_main_thread_max_ms`, `flight_main_thread_p99_ms`,
//! `flight_main_thread_max_ms`); over both phases `main_thread_p99_ms` and
//! `main_thread_max_ms`; and `main_thread_ms_per_chunk`, the main-thread milliseconds of the
//! loading phase per grid made ready.

use bevy::prelude::*;
use std::time::{Duration, Instant};

/// Parameters shared by both engines.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// View radius, voxels (Strata's default `view_distance`).
    pub view_distance: f32,
    /// Start position (voxels); above the highest terrain of the default generator.
    pub start: Vec3,
    /// Flight speed along +x, voxels per second.
    pub speed: f32,
    /// Flight duration, seconds.
    pub flight_s: f32,
    /// Give up on the initial view after this long.
    pub timeout_s: f32,
    /// Frame period, seconds.
    pub frame_s: f32,
    /// The flight's path: a straight line along +x from `start`, or a route over a planet
    /// (`start` is then its first point).
    pub planet: Option<strata_bench::planet_route::PlanetRoute>,
}

impl Scenario {
    /// Where the viewer is `t` seconds into the flight.
    pub fn position(&self, t: f32) -> Vec3 {
        match &self.planet {
            Some(route) => scenario_position(route, f64::from(self.speed) * f64::from(t)),
            None => self.start + Vec3::X * self.speed * t,
        }
    }
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            view_distance: 384.0,
            start: Vec3::new(16.0, 72.0, 16.0),
            speed: 64.0,
            flight_s: 10.0,
            timeout_s: 300.0,
            frame_s: 1.0 / 60.0,
            planet: None,
        }
    }
}

/// `route`'s point `distance` voxels along, as a render-space position.
pub fn scenario_position(route: &strata_bench::planet_route::PlanetRoute, distance: f64) -> Vec3 {
    let p = route.position(distance);
    Vec3::new(p[0] as f32, p[1] as f32, p[2] as f32)
}

/// One engine under test.
pub trait Engine {
    /// The app.
    fn app(&mut self) -> &mut App;
    /// Moves the viewer (and camera) to `pos`.
    fn set_viewer(&mut self, pos: Vec3);
    /// Whether everything in range around the viewer is loaded and meshed, nothing in flight.
    fn view_complete(&mut self) -> bool;
    /// Distinct 32³ grids made ready (loaded and meshed, or found to need no mesh) since start,
    /// each counted once; called at the first view (an engine may stop counting then).
    fn grids_ready(&mut self) -> u64;
    /// The fraction of the view a player sees now: of the view's chunks (or, with LOD, of the
    /// nodes selected), those displaying their mesh (or known to need none). Measured after
    /// the frame, outside its timing.
    fn view_fraction(&mut self) -> f64;
    /// With LOD, the fraction of the selected nodes whose place is covered on screen: by
    /// their own mesh or by the older meshes they replace, kept until they are meshed (the
    /// LOD hand-over). `None` where the engine has no such notion.
    fn view_covered_fraction(&mut self) -> Option<f64> {
        None
    }
    /// More `key=value` pairs for the result line (engine-specific counters).
    fn extra(&mut self) -> String {
        String::new()
    }
}

/// The chunks of the LOD-0 view around `viewer` (both engines' rule): offsets `o` from the
/// viewer's chunk with `|o|² ≤ (view_distance / 32)²`.
pub fn lattice_view(viewer: Vec3, view_distance: f32) -> impl Iterator<Item = IVec3> {
    let c = (viewer / 32.0).floor().as_ivec3();
    let d = (view_distance / 32.0).round() as i32;
    (-d..=d).flat_map(move |x| {
        (-d..=d).flat_map(move |y| {
            (-d..=d).filter_map(move |z| {
                let o = IVec3::new(x, y, z);
                (o.length_squared() <= d * d).then_some(c + o)
            })
        })
    })
}

/// Resident memory of this process (`VmRSS` from `/proc/self/status`), MiB; `None` where procfs
/// is missing.
pub fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Least-squares slope of `samples` (seconds, MiB) in MiB per minute, over the samples from
/// `from_s` on (all of them if fewer than two are that late).
pub fn slope_mib_per_min(samples: &[(f64, f64)], from_s: f64) -> f64 {
    let late: Vec<(f64, f64)> = samples.iter().copied().filter(|s| s.0 >= from_s).collect();
    let used = if late.len() >= 2 { &late[..] } else { samples };
    let n = used.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let (mx, my) = (used.iter().map(|s| s.0).sum::<f64>() / n, used.iter().map(|s| s.1).sum::<f64>() / n);
    let sxy: f64 = used.iter().map(|s| (s.0 - mx) * (s.1 - my)).sum();
    let sxx: f64 = used.iter().map(|s| (s.0 - mx).powi(2)).sum();
    sxy / sxx * 60.0
}

/// What one fly-through measured.
#[derive(Clone, Debug)]
pub struct FlyReport {
    /// Seconds until the initial view was complete.
    pub first_view_s: f64,
    /// CPU seconds the whole process used from the first frame to the initial view (every
    /// thread: what the view cost the machine).
    pub first_view_cpu_s: f64,
    /// Grids ready per second during the initial view.
    pub chunks_ready_per_s: f64,
    /// Main-thread time per frame over both phases: 99th percentile and maximum, ms.
    pub main_thread: Percentiles,
    /// The same over the loading phase.
    pub loading: Percentiles,
    /// The same over the flight.
    pub flight: Percentiles,
    /// Main-thread milliseconds of the loading phase per grid made ready.
    pub main_thread_ms_per_chunk: f64,
    /// Frames run.
    pub frames: usize,
    /// Grids ready at the end of the initial view.
    pub grids_first_view: u64,
    /// Wall time of the whole run (initial view + flight), seconds.
    pub run_s: f64,
    /// Resident memory at the start of the flight and at its end, MiB.
    pub rss_mib_start: f64,
    /// See `rss_mib_start`.
    pub rss_mib_end: f64,
    /// Growth of resident memory during the flight, MiB per minute: the least-squares slope of
    /// one sample per second, from minute 2 of the flight on (the whole flight if shorter).
    pub rss_slope_mib_per_min: f64,
    /// Live heap bytes at the end of the flight, MiB (counted from the start of the process;
    /// NaN without `--live-heap`).
    pub live_heap_mib_end: f64,
    /// Growth of the live heap during the flight, MiB per minute, fitted like
    /// `rss_slope_mib_per_min` (NaN without `--live-heap`).
    pub live_heap_slope_mib_per_min: f64,
    /// [`Engine::view_fraction`] after each flight frame: mean and minimum (NaN without a
    /// flight).
    pub view_fraction_mean: f64,
    /// See `view_fraction_mean`.
    pub view_fraction_min: f64,
    /// [`Engine::view_covered_fraction`] after each flight frame: mean and minimum (NaN
    /// without one).
    pub view_covered_mean: f64,
    /// See `view_covered_mean`.
    pub view_covered_min: f64,
    /// [`Engine::extra`] at the end.
    pub extra: String,
}

impl FlyReport {
    /// The machine-readable line the report parses.
    pub fn line(&self) -> String {
        format!(
            "first_view_s={:.4} first_view_cpu_s={:.2} chunks_ready_per_s={:.2} main_thread_p99_ms={:.4} main_thread_max_ms={:.4} \
             loading_main_thread_p99_ms={:.4} loading_main_thread_max_ms={:.4} flight_main_thread_p99_ms={:.4} \
             flight_main_thread_max_ms={:.4} main_thread_ms_per_chunk={:.5} frames={} grids_first_view={} run_s={:.3} \
             rss_mib_start={:.1} rss_mib_end={:.1} rss_slope_mib_per_min={:.3} flight_view_fraction_mean={:.5} \
             flight_view_fraction_min={:.5} flight_view_covered_mean={:.5} flight_view_covered_min={:.5} \
             live_heap_mib_end={:.2} live_heap_slope_mib_per_min={:.4} {}",
            self.first_view_s,
            self.first_view_cpu_s,
            self.chunks_ready_per_s,
            self.main_thread.p99_ms,
            self.main_thread.max_ms,
            self.loading.p99_ms,
            self.loading.max_ms,
            self.flight.p99_ms,
            self.flight.max_ms,
            self.main_thread_ms_per_chunk,
            self.frames,
            self.grids_first_view,
            self.run_s,
            self.rss_mib_start,
            self.rss_mib_end,
            self.rss_slope_mib_per_min,
            self.view_fraction_mean,
            self.view_fraction_min,
            self.view_covered_mean,
            self.view_covered_min,
            self.live_heap_mib_end,
            self.live_heap_slope_mib_per_min,
            self.extra
        )
    }
}

/// The 99th percentile and the maximum of some frame times.
#[derive(Clone, Copy, Debug)]
pub struct Percentiles {
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Maximum, ms.
    pub max_ms: f64,
}

impl Percentiles {
    /// Of `frame_ms` (NaN if empty).
    pub fn of(frame_ms: &[f64]) -> Self {
        let mut v = frame_ms.to_vec();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => Self { p99_ms: f64::NAN, max_ms: f64::NAN },
            n => Self { p99_ms: v[((n as f64 * 0.99).ceil() as usize).clamp(1, n) - 1], max_ms: v[n - 1] },
        }
    }
}

/// Runs the scenario on `engine`.
pub fn fly(engine: &mut impl Engine, sc: &Scenario) -> Result<FlyReport, String> {
    let frame = Duration::from_secs_f32(sc.frame_s);
    let mut loading_ms = Vec::new();
    let cpu_start = strata_bench::process_cpu_s();
    let start = Instant::now();
    let first_view_s = loop {
        step(engine, sc.start, frame, &mut loading_ms);
        if engine.view_complete() {
            break start.elapsed().as_secs_f64();
        }
        if start.elapsed().as_secs_f32() > sc.timeout_s {
            return Err(format!("initial view not complete after {} s", sc.timeout_s));
        }
    };
    let grids_first_view = engine.grids_ready();
    let first_view_cpu_s = match (cpu_start, strata_bench::process_cpu_s()) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };

    let mut flight_ms = Vec::new();
    let mut fractions = Vec::new();
    let mut covered = Vec::new();
    let flight = Instant::now();
    let mut rss = Vec::new();
    let mut heap = Vec::new();
    let mut next_sample = 0.0;
    while flight.elapsed().as_secs_f32() < sc.flight_s {
        let t = flight.elapsed().as_secs_f32();
        if t >= next_sample {
            rss.extend(rss_mib().map(|m| (f64::from(t), m)));
            heap.extend(crate::live_heap::live_mib().map(|m| (f64::from(t), m)));
            next_sample += 1.0;
        }
        step(engine, sc.position(t), frame, &mut flight_ms);
        fractions.push(engine.view_fraction());
        covered.extend(engine.view_covered_fraction());
    }
    rss.extend(rss_mib().map(|m| (flight.elapsed().as_secs_f64(), m)));
    heap.extend(crate::live_heap::live_mib().map(|m| (flight.elapsed().as_secs_f64(), m)));

    let all: Vec<f64> = loading_ms.iter().chain(&flight_ms).copied().collect();
    Ok(FlyReport {
        first_view_s,
        first_view_cpu_s,
        chunks_ready_per_s: grids_first_view as f64 / first_view_s,
        main_thread: Percentiles::of(&all),
        loading: Percentiles::of(&loading_ms),
        flight: Percentiles::of(&flight_ms),
        main_thread_ms_per_chunk: loading_ms.iter().sum::<f64>() / grids_first_view as f64,
        frames: all.len(),
        grids_first_view,
        run_s: start.elapsed().as_secs_f64(),
        rss_mib_start: rss.first().map_or(f64::NAN, |s| s.1),
        rss_mib_end: rss.last().map_or(f64::NAN, |s| s.1),
        rss_slope_mib_per_min: slope_mib_per_min(&rss, 120.0),
        live_heap_mib_end: heap.last().map_or(f64::NAN, |s| s.1),
        live_heap_slope_mib_per_min: if heap.is_empty() { f64::NAN } else { slope_mib_per_min(&heap, 120.0) },
        view_fraction_mean: fractions.iter().sum::<f64>() / fractions.len() as f64,
        view_fraction_min: fractions.iter().copied().fold(f64::NAN, f64::min),
        view_covered_mean: covered.iter().sum::<f64>() / covered.len() as f64,
        view_covered_min: covered.iter().copied().fold(f64::NAN, f64::min),
        extra: engine.extra(),
    })
}

/// One paced frame: move the viewer, time `App::update`, sleep out the rest of the period.
fn step(engine: &mut impl Engine, pos: Vec3, frame: Duration, frame_ms: &mut Vec<f64>) {
    let tick = Instant::now();
    engine.set_viewer(pos);
    let t = Instant::now();
    engine.app().update();
    frame_ms.push(t.elapsed().as_secs_f64() * 1e3);
    if let Some(rest) = frame.checked_sub(tick.elapsed()) {
        std::thread::sleep(rest);
    }
}
