//! Durable commits of edits: periodic, on the I/O task pool, and once more on exit.
//!
//! The main thread only captures the dirty chunks (`World::prepare_commit`, reference counts);
//! encoding and the fsync run in an [`IoTaskPool`] task, and the result is folded back with
//! `World::finish_commit` (a failed commit keeps the chunks dirty for the next try). On
//! [`AppExit`] the plugin waits for a running start-up or commit and commits what is left — the
//! only place it blocks, by design: exiting must not lose edits.

use crate::config::StrataConfig;
use crate::startup::{Startup, StrataStatus};
use crate::state::StrataWorld;
use bevy::prelude::*;
use bevy::tasks::{IoTaskPool, Task, block_on, futures::check_ready};
use strata_core::store::StoreStats;
use strata_core::{CommitReceipt, PreparedCommit, StoreError};

type CommitResult = (PreparedCommit, Result<CommitReceipt, StoreError>, Option<StoreStats>);

/// Commit state and the last store statistics (for diagnostics).
#[derive(Resource, Default)]
pub struct Persistence {
    since_last_s: f32,
    task: Option<Task<CommitResult>>,
    /// Durable commits done.
    pub commits: u64,
    /// The last commit error, if the last commit failed.
    pub last_error: Option<String>,
    /// Store totals after the last commit.
    pub store_stats: Option<StoreStats>,
    /// Whether the exit commit ran.
    pub exit_committed: bool,
}

fn finish(sw: &mut StrataWorld, p: &mut Persistence, (prepared, result, stats): CommitResult) {
    match sw.world.finish_commit(prepared, result) {
        Ok(_) => {
            p.commits += 1;
            p.last_error = None;
            if stats.is_some() {
                p.store_stats = stats;
            }
        }
        Err(e) => {
            warn!("strata: commit failed, edits stay queued for the next one: {e}");
            p.last_error = Some(e.to_string());
        }
    }
}

/// Starts a periodic commit when due, and collects a finished one.
pub(crate) fn periodic_commit(
    time: Res<Time>,
    config: Res<StrataConfig>,
    mut sw: ResMut<StrataWorld>,
    mut p: ResMut<Persistence>,
) {
    if let Some(task) = p.task.as_mut()
        && let Some(done) = check_ready(task)
    {
        p.task = None;
        finish(&mut sw, &mut p, done);
    }
    p.since_last_s += time.delta_secs();
    if p.task.is_some() || p.since_last_s < config.commit_interval_s.max(0.0) {
        return;
    }
    p.since_last_s = 0.0;
    if sw.world.stats().dirty_chunks == 0 && sw.world.stats().pending_edits == 0 {
        return;
    }
    let prepared = match sw.world.prepare_commit() {
        Ok(prepared) if !prepared.is_empty() => prepared,
        Ok(_) => return,
        Err(e) => {
            warn!("strata: preparing a commit failed: {e}");
            return;
        }
    };
    let store = sw.world.store().clone();
    p.task = Some(IoTaskPool::get().spawn(async move {
        let result = prepared.execute(store.as_ref());
        let stats = store.stats().ok();
        (prepared, result, stats)
    }));
}

/// On exit: waits for a running commit, then commits every remaining edit.
pub(crate) fn commit_on_exit(
    mut exits: MessageReader<AppExit>,
    mut sw: ResMut<StrataWorld>,
    mut p: ResMut<Persistence>,
    mut startup: ResMut<Startup>,
    mut status: ResMut<StrataStatus>,
) {
    if exits.read().next().is_none() || p.exit_committed {
        return;
    }
    // Edits made while the save was opening are in the delta log: wait for the store.
    crate::startup::finish_blocking(&mut startup, &mut status);
    if !status.is_ready() {
        error!("strata: the save never opened, recent edits are not saved: {status:?}");
        return;
    }
    if let Some(task) = p.task.take() {
        let done = block_on(task);
        finish(&mut sw, &mut p, done);
    }
    sw.index.finish();
    match sw.world.commit() {
        Ok(_) => {
            p.commits += 1;
            p.exit_committed = true;
        }
        Err(e) => error!("strata: the exit commit failed, recent edits are not saved: {e}"),
    }
}
