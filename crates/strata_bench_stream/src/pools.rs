//! The task pools of a fly-through: both engines get the same number of worker threads for their
//! background work ([`WORKER_THREADS`]), at the same lowered OS priority
//! ([`bevy_strata::background_threads`]), and one compute thread for systems.
//!
//! Both engines run their CPU work on async compute: Strata its generation, LOD grids, meshing
//! and index updates (its I/O thread only reads the store, and hands unedited chunks to async
//! compute to generate); `bevy_voxel_world` all of its chunk tasks (its I/O thread stays idle).
//! So each gets two async-compute threads and the one I/O thread Bevy always creates.
//! The counts are fixed, not derived from the machine's cores, so runs compare alike anywhere;
//! the result line prints them as the pools report them.

use bevy::app::{TaskPoolOptions, TaskPoolPlugin, TaskPoolThreadAssignmentPolicy};
use bevy::tasks::{AsyncComputeTaskPool, ComputeTaskPool, IoTaskPool};

/// Worker threads doing each engine's background work.
pub const WORKER_THREADS: usize = 2;

/// Thread counts of the I/O and async-compute pools.
#[derive(Clone, Copy, Debug)]
pub struct Pools {
    io: usize,
    async_compute: usize,
    /// Of those, the threads the engine gives work.
    workers: usize,
}

impl Pools {
    /// Strata: store reads on I/O, the CPU work on async compute.
    pub const STRATA: Pools = Pools { io: 1, async_compute: WORKER_THREADS, workers: WORKER_THREADS };
    /// `bevy_voxel_world`: everything on async compute (its I/O thread stays idle).
    pub const PEER: Pools = Pools { io: 1, async_compute: WORKER_THREADS, workers: WORKER_THREADS };

    /// The `TaskPoolPlugin` creating these pools (replaces `MinimalPlugins`' default one).
    pub fn plugin(self) -> TaskPoolPlugin {
        let fixed = |n: usize| TaskPoolThreadAssignmentPolicy {
            min_threads: n,
            max_threads: n,
            percent: 0.0,
            on_thread_spawn: None,
            on_thread_destroy: None,
        };
        TaskPoolPlugin {
            task_pool_options: TaskPoolOptions {
                io: bevy_strata::background_threads(fixed(self.io)),
                async_compute: bevy_strata::background_threads(fixed(self.async_compute)),
                compute: fixed(1),
                ..TaskPoolOptions::default()
            },
        }
    }

    /// The `key=value` pairs of the result line, with the counts the running pools report.
    pub fn describe(self) -> String {
        format!(
            "worker_threads={} io_threads={} async_compute_threads={} compute_threads={}",
            self.workers,
            IoTaskPool::get().thread_num(),
            AsyncComputeTaskPool::get().thread_num(),
            ComputeTaskPool::get().thread_num()
        )
    }
}
