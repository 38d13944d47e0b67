//! How much streaming work is kept in flight: enough that no worker runs dry between two
//! frames' dispatches, measured rather than configured.
//!
//! The plugin hands out work once per frame. With `w` workers, a frame interval `f` and tasks
//! that keep a worker busy `t` on average, the workers finish `w · f / t` tasks per frame, so
//! that many (twice as many: slack for uneven tasks) must be in flight or waiting to be
//! applied for them never to idle. `t` is the tasks' geometric mean: a planet's LOD nodes
//! take 1–5 ms next to air chunks of 10 µs, and an arithmetic mean, dragged up by the slow
//! few, kept so few in flight that a run of quick tasks left the workers idle for the rest of
//! the frame (planet flight at 512 voxels/s: view complete 0.64 → 0.70 of the time, workers
//! idle ~20 % of the flight before). Fewer leave the machine idle (a fixed 64 made Strata's first
//! view 6.6× slower than what its workers could do); more only queue results the main thread
//! has not applied yet, which a moving viewer then throws away. Finished results not applied
//! yet count against the target too, so the pipeline can never run ahead of the main thread.

use std::time::{Duration, Instant};

/// A task's output and how long it kept its worker busy.
pub(crate) struct Timed<T> {
    out: T,
    busy: Duration,
}

impl<T> Timed<T> {
    /// `out`, which kept a worker busy for `busy`.
    pub fn new(out: T, busy: Duration) -> Self {
        Self { out, busy }
    }

    /// The output and the busy time.
    pub fn into_parts(self) -> (T, Duration) {
        (self.out, self.busy)
    }

    /// This output, busy for `earlier` more: a task whose steps ran on two workers (a chunk
    /// load's read on I/O, then its generation) counts both.
    pub fn after(self, earlier: Duration) -> Self {
        Self { busy: self.busy + earlier, ..self }
    }
}

/// Runs `f` (a task's work, on its worker) and times it, then yields the worker's core.
///
/// The yield is for the frame: the workers run at a lower priority
/// ([`crate::background_threads`]), yet a frame thread (the main thread, or the compute pool
/// running systems) that wakes while every core runs a worker waits until the scheduler ends
/// the worker's time slice — several ms per frame on a 2-core machine, the largest part of the
/// loading frames' p99. Yielding between tasks (a system call, ~1 µs, when nothing waits) hands
/// the core over at once. Measured side by side on 2 cores (fly-through, 2 workers, loading /
/// flight main-thread p99): LOD 0 4.0–6.0 / 3.7–5.5 ms with the yield, 6.6–8.1 / 5.4–7.4 without;
/// the default LOD view 1.7–4.3 / 2.0–2.7 against 5.0–7.6 / 3.5–4.6; first views the same within
/// noise (LOD 0 +4 %), the view's completeness while flying unchanged.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> Timed<T> {
    let start = Instant::now();
    let out = f();
    let busy = start.elapsed();
    std::thread::yield_now();
    Timed { out, busy }
}

/// Running means of what [`Pacer::target`] needs, each an exponential moving average.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pacer {
    /// Typical busy time of one task (load or mesh), seconds: the geometric mean (a moving
    /// average of the logarithm), which a few slow tasks among many quick ones do not drag up.
    task_s: f64,
    /// Its logarithm's moving average.
    log_task: f64,
    /// Mean interval between two dispatches (frames), seconds.
    frame_s: f64,
}

impl Default for Pacer {
    fn default() -> Self {
        // Until measured: half a millisecond per task, 60 frames per second.
        Self { task_s: 0.5e-3, log_task: (0.5e-3f64).ln(), frame_s: 1.0 / 60.0 }
    }
}

/// Weight of the newest sample in the moving averages.
const NEW_SAMPLE: f64 = 1.0 / 16.0;
/// Tasks in flight per worker at least (so a worker always has its next task queued).
const MIN_PER_WORKER: usize = 2;

impl Pacer {
    /// A task kept a worker busy for `busy`.
    pub fn task_done(&mut self, busy: Duration) {
        // 1 µs floor: a task's timing is never zero, and the target stays finite.
        let s = busy.as_secs_f64().max(1e-6);
        self.log_task += (s.ln() - self.log_task) * NEW_SAMPLE;
        self.task_s = self.log_task.exp();
    }

    /// A frame of `interval` passed (from the previous dispatch to this one).
    pub fn frame(&mut self, interval: Duration) {
        // Clamped: a stall (a debugger, a window drag) must not blow the target up for long.
        let s = interval.as_secs_f64().clamp(1e-4, 0.25);
        self.frame_s += (s - self.frame_s) * NEW_SAMPLE;
    }

    /// Tasks that should be in flight or waiting to be applied for `workers` threads to stay
    /// busy until the next dispatch: 2 · workers · frame / task, at least 2 per worker, at most
    /// `cap` (`StrataConfig::max_tasks_in_flight`) and never 0.
    pub fn target(&self, workers: usize, cap: usize) -> usize {
        let workers = workers.max(1);
        let per_frame = (2.0 * workers as f64 * self.frame_s / self.task_s).ceil();
        let floor = MIN_PER_WORKER * workers;
        // `as` saturates a huge (or infinite) ratio.
        (per_frame as usize).max(floor).min(cap.max(1))
    }

    /// Records how long a finished task kept its worker busy; returns its output.
    pub fn done<T>(&mut self, t: Timed<T>) -> T {
        self.task_done(t.busy);
        t.out
    }

    /// The typical (geometric mean) task time, microseconds (diagnostics).
    pub fn task_us(&self) -> f64 {
        self.task_s * 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(task: Duration, frame: Duration) -> Pacer {
        let mut p = Pacer::default();
        for _ in 0..400 {
            p.task_done(task);
            p.frame(frame);
        }
        p
    }

    #[test]
    fn the_target_keeps_every_worker_busy_for_two_frames() {
        // 0.2 ms tasks, 16 ms frames, 2 workers: each worker does 80 per frame.
        let p = settled(Duration::from_micros(200), Duration::from_millis(16));
        assert_eq!(p.target(2, 4096), 320);
        assert_eq!(p.target(4, 4096), 640, "twice the workers, twice the work");
        // Slow tasks: the floor of two per worker.
        let slow = settled(Duration::from_millis(50), Duration::from_millis(16));
        assert_eq!(slow.target(2, 4096), 4);
    }

    /// A planet: one 5 ms LOD node among nine 10 µs air chunks. The workers finish hundreds of
    /// the quick ones per frame, so hundreds must be in flight; a mean dragged up by the slow
    /// one (0.5 ms: 128 tasks) would leave them idle after a run of quick ones.
    #[test]
    fn a_few_slow_tasks_do_not_starve_the_workers_of_quick_ones() {
        let mut p = Pacer::default();
        for i in 0..1000 {
            p.task_done(if i % 10 == 9 { Duration::from_millis(5) } else { Duration::from_micros(10) });
            p.frame(Duration::from_millis(16));
        }
        let t = p.target(2, 4096);
        assert!(t >= 1000, "{t} tasks for {:.0} µs each", p.task_us());
        assert!((10.0..60.0).contains(&p.task_us()), "typical task {:.0} µs", p.task_us());
    }

    #[test]
    fn the_target_stays_within_its_bounds_whatever_is_measured() {
        for (task, frame) in [(0, 0), (0, 10_000_000), (10_000_000, 0), (1, 16_000), (u64::MAX / 4, u64::MAX / 4)] {
            let p = settled(Duration::from_micros(task), Duration::from_micros(frame));
            for workers in [0, 1, 2, 64] {
                for cap in [0, 1, 7, 64, 4096] {
                    let t = p.target(workers, cap);
                    assert!(
                        (1..=cap.max(1)).contains(&t),
                        "task {task} µs, frame {frame} µs, {workers} workers, cap {cap}: {t}"
                    );
                    if cap >= 2 * workers.max(1) {
                        assert!(t >= 2 * workers.max(1), "below two per worker: {t}");
                    }
                }
            }
        }
    }
}
