//! Runtime geology in the plugin: erosion, deposition and volcanism near the viewers, on the
//! async compute pool, within the frame.
//!
//! Thin glue over [`strata_geo::geology::GeologyScheduler`] (the engine-free core, where the
//! rules live): every `1 / steps_per_second` seconds a step begins — the regions within
//! `radius` of a viewer whose chunks are resident take their snapshot chunks from the world
//! (`Arc` clones) — then its colours run one after another, each colour's regions as tasks at
//! once (they never overlap, halos included). Finished regions append their batch to the
//! world's delta log (O(1)); [`StrataSystems::ApplyEdits`] applies it next frame through the
//! compare-and-set rule, and the change feed drives index updates and remeshing like any
//! edit. The main thread never waits for a task and never copies voxels.
//!
//! Add [`StrataGeologyPlugin`] after [`StrataPlugin`](crate::StrataPlugin); change
//! [`GeologySettings`] at run time (the debug overlay has a section for it) and read
//! [`GeologyStats`].

use crate::StrataSystems;
use crate::config::{ConfigError, check_range};
use crate::state::StrataWorld;
use crate::viewer::ViewerPositions;
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, futures::check_ready};
use std::collections::VecDeque;
use std::time::Instant;
use strata_core::{Edit, VoxelPos};
use strata_geo::geology::{GeologyConfig, GeologyScheduler, ProcessKind, RegionJob, RegionOutcome};

/// Adds runtime geology. Panics at build time if [`StrataPlugin`](crate::StrataPlugin) is
/// missing or `config` is invalid, with what to fix.
#[derive(Clone, Debug, Default)]
pub struct StrataGeologyPlugin {
    /// Processes, seed, gravity, region size.
    pub config: GeologyConfig,
    /// Initial run-time settings.
    pub settings: GeologySettings,
}

/// Run-time settings of geology (a `Resource`; changes take effect at the next step).
#[derive(Resource, Reflect, Clone, Debug, PartialEq)]
#[reflect(Resource)]
pub struct GeologySettings {
    /// Whether new steps start.
    pub enabled: bool,
    /// Steps begun per second at most (a step runs one process over every region near the
    /// viewers; the next one waits for it to finish).
    pub steps_per_second: f32,
    /// Regions whose centre is within this many voxels of a viewer take part.
    pub radius: f32,
    /// Region tasks in flight at most.
    pub max_tasks: usize,
}

impl Default for GeologySettings {
    fn default() -> Self {
        Self { enabled: true, steps_per_second: 4.0, radius: 96.0, max_tasks: 8 }
    }
}

impl GeologySettings {
    /// Checks the documented ranges: `steps_per_second` in `0.01..=240`, `radius` in
    /// `0..=1024` voxels, `max_tasks` in `1..=1024`. The plugin checks every change to the
    /// resource; a change that fails is undone (see [`crate::StrataConfigRejected`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_range("steps_per_second", f64::from(self.steps_per_second), 0.01, 240.0, "0.01..=240")?;
        check_range("radius", f64::from(self.radius), 0.0, 1024.0, "0..=1024 voxels")?;
        check_range("max_tasks", self.max_tasks as f64, 1.0, 1024.0, "1..=1024")
    }
}

/// What geology did (a `Resource`, updated every frame).
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct GeologyStats {
    /// Steps finished.
    pub steps: u64,
    /// The process of the running (or last) step.
    pub current: Option<ProcessKind>,
    /// Regions processed.
    pub regions: u64,
    /// Batches the world applied.
    pub batches_applied: u64,
    /// Voxels changed by geology.
    pub voxels_changed: u64,
    /// Batches dropped by the conflict rule (a player edited a voxel the batch writes after its
    /// snapshot was taken).
    pub batches_rejected: u64,
    /// Regions left out of steps because a chunk they read was not resident.
    pub regions_not_resident: u64,
    /// Regions processed per second (over the last second or so).
    pub regions_per_s: f64,
    /// Voxels changed per second (over the last second or so).
    pub voxels_per_s: f64,
    /// Region tasks in flight.
    pub tasks_in_flight: usize,
    /// Region jobs waiting for a task slot in the running step.
    pub queued: usize,
    /// Main-thread time of the last geology systems' frame, milliseconds.
    pub main_thread_ms: f64,
}

/// The scheduler and the running step.
#[derive(Resource)]
pub struct Geology {
    scheduler: GeologyScheduler,
    colors: VecDeque<Vec<RegionJob>>,
    waiting: Vec<RegionJob>,
    tasks: Vec<Task<Result<RegionOutcome, String>>>,
    running: bool,
    last_start: Option<f64>,
    window: RateWindow,
    /// The last settings that passed validation.
    accepted: GeologySettings,
}

impl Geology {
    /// The scheduler (regions, halo, step counter).
    pub fn scheduler(&self) -> &GeologyScheduler {
        &self.scheduler
    }

    /// Region jobs of the running step not started yet.
    fn queued(&self) -> usize {
        self.waiting.len() + self.colors.iter().map(Vec::len).sum::<usize>()
    }

    /// Whether a step is running.
    pub fn is_running(&self) -> bool {
        self.running
    }
}

/// Counts over a sliding window of about one second.
#[derive(Default)]
struct RateWindow {
    start: f64,
    regions: u64,
    voxels: u64,
    last_voxels_total: u64,
}

impl Plugin for StrataGeologyPlugin {
    fn build(&self, app: &mut App) {
        assert!(
            app.world().contains_resource::<StrataWorld>(),
            "StrataGeologyPlugin needs StrataPlugin: add StrataPlugin (or StrataMinimalPlugins) before it."
        );
        let scheduler = GeologyScheduler::new(&self.config)
            .unwrap_or_else(|e| panic!("StrataGeologyPlugin: invalid GeologyConfig: {e}"));
        if let Err(e) = self.settings.validate() {
            panic!("StrataGeologyPlugin: invalid GeologySettings: {e}");
        }
        let schedule = crate::StrataSchedule::of(app);
        app.insert_resource(Geology {
            scheduler,
            colors: VecDeque::new(),
            waiting: Vec::new(),
            tasks: Vec::new(),
            running: false,
            last_start: None,
            window: RateWindow::default(),
            accepted: self.settings.clone(),
        })
        .insert_resource(self.settings.clone())
        .register_type::<GeologySettings>()
        .init_resource::<GeologyStats>()
        .add_systems(
            schedule,
            (
                check_settings.in_set(StrataSystems::TrackViewers),
                dispatch.in_set(StrataSystems::Dispatch),
                poll.in_set(StrataSystems::Poll),
            ),
        );
    }
}

/// Undoes a change to [`GeologySettings`] that fails validation (and reports it).
fn check_settings(
    mut settings: ResMut<GeologySettings>,
    mut geo: ResMut<Geology>,
    mut rejected: MessageWriter<crate::StrataConfigRejected>,
) {
    if !settings.is_changed() || *settings == geo.accepted {
        return;
    }
    match settings.validate() {
        Ok(()) => geo.accepted = settings.clone(),
        Err(e) => {
            warn!("GeologySettings change refused, previous values kept: {e}");
            rejected.write(crate::StrataConfigRejected { resource: "GeologySettings", reason: e.to_string() });
            *settings = geo.accepted.clone();
        }
    }
}

/// Dispatch: begins a step when it is time, and starts the current colour's region tasks.
fn dispatch(
    time: Res<Time<Real>>,
    settings: Res<GeologySettings>,
    viewers: Res<ViewerPositions>,
    sw: Res<StrataWorld>,
    mut geo: ResMut<Geology>,
    mut stats: ResMut<GeologyStats>,
) {
    let t0 = Instant::now();
    let now = time.elapsed_secs_f64();
    let due = geo.last_start.is_none_or(|t| now - t >= 1.0 / f64::from(settings.steps_per_second.max(0.01)));
    if !geo.running && settings.enabled && due && !viewers.viewers.is_empty() {
        let centres: Vec<VoxelPos> = viewers.viewers.iter().map(|(p, _)| VoxelPos::containing(p.to_array())).collect();
        let regions = geo.scheduler.regions_near(&centres, f64::from(settings.radius.max(0.0)));
        if let Some(plan) = geo.scheduler.begin_step(&sw.world, &regions) {
            stats.current = Some(plan.kind);
            stats.regions_not_resident += plan.not_resident as u64;
            geo.colors = plan.colors.into();
            geo.running = true;
            geo.last_start = Some(now);
        }
    }
    advance(&mut geo, &mut stats, settings.max_tasks);
    stats.tasks_in_flight = geo.tasks.len();
    stats.queued = geo.queued();
    stats.main_thread_ms = t0.elapsed().as_secs_f64() * 1e3;
}

/// Moves the running step on as far as it can without waiting: starts queued region jobs up
/// to `max_tasks`, and once the current colour has nothing queued or in flight (its batches
/// are in the log), takes the next colour, skipping empty ones, or ends the step. So a colour
/// with work costs the frames its tasks take (at least one), a colour without work none, and a
/// step with no work begins and ends in the same frame: the step rate is not a fraction of the
/// frame rate.
///
/// Invariant: the next colour may start as soon as the previous one's batches are appended
/// (not applied), since every region of a step reads the step-start snapshot.
fn advance(geo: &mut Geology, stats: &mut GeologyStats, max_tasks: usize) {
    let pool = AsyncComputeTaskPool::get();
    while geo.running {
        while geo.tasks.len() < max_tasks.max(1) {
            let Some(job) = geo.waiting.pop() else { break };
            geo.tasks.push(pool.spawn(async move {
                let region = job.region;
                crate::jobs::contained(|| job.run()).map_err(|panic| format!("region {region:?}: {panic}"))
            }));
        }
        if !geo.tasks.is_empty() || !geo.waiting.is_empty() {
            break;
        }
        match geo.colors.pop_front() {
            Some(jobs) => geo.waiting = jobs,
            None => {
                geo.running = false;
                stats.steps += 1;
            }
        }
    }
}

/// Poll: collects finished region tasks (never blocks) and appends their batches to the log.
fn poll(
    time: Res<Time<Real>>,
    settings: Res<GeologySettings>,
    sw: Res<StrataWorld>,
    mut geo: ResMut<Geology>,
    mut stats: ResMut<GeologyStats>,
) {
    let t0 = Instant::now();
    let geo = &mut *geo;
    let mut finished = 0u64;
    geo.tasks.retain_mut(|task| match check_ready(task) {
        // A bug in a process: that region skips this step; the app goes on.
        Some(Err(panic)) => {
            finished += 1;
            error!("strata: a geology step panicked: {panic}");
            false
        }
        Some(Ok(outcome)) => {
            finished += 1;
            if let Some(e) = &outcome.error {
                warn!("strata: geology step over {:?} failed: {e}", outcome.region);
            }
            if let Some(batch) = outcome.batch {
                sw.world.push_edit(Edit::Process(batch));
            }
            false
        }
        None => true,
    });
    stats.regions += finished;
    // The finished colour's batches are in the log: the next colour starts now, not a frame
    // later.
    advance(geo, &mut stats, settings.max_tasks);
    let totals = sw.world.process_totals();
    stats.batches_applied = totals.batches;
    stats.batches_rejected = totals.rejected;
    stats.voxels_changed = totals.voxels;
    let now = time.elapsed_secs_f64();
    let win = &mut geo.window;
    win.regions += finished;
    win.voxels += totals.voxels.saturating_sub(win.last_voxels_total);
    win.last_voxels_total = totals.voxels;
    let span = now - win.start;
    if span >= 1.0 {
        stats.regions_per_s = win.regions as f64 / span;
        stats.voxels_per_s = win.voxels as f64 / span;
        (win.start, win.regions, win.voxels) = (now, 0, 0);
    }
    stats.tasks_in_flight = geo.tasks.len();
    stats.queued = geo.queued();
    stats.main_thread_ms += t0.elapsed().as_secs_f64() * 1e3;
}
