//! Durable commits of edits: periodic, on the I/O task pool, and once more on exit.
//!
//! The main thread only captures the dirty chunks (`World::prepare_commit`, reference counts);
//! encoding and the fsync run in an [`IoTaskPool`] task, and the result is folded back with
//! `World::finish_commit` (a failed commit keeps the chunks dirty for the next try). On
//! [`AppExit`] the plugin waits for a running start-up or commit and commits what is left — the
//! only place it blocks, by design: exiting must not lose edits.

use crate::config::StrataConfig;
use crate::messages::{CommitFailed, EditsCommitted};
use crate::startup::{StartupTask, StrataStatus};
use crate::state::StrataWorld;
use bevy::prelude::*;
use bevy::tasks::{IoTaskPool, Task, block_on, futures::check_ready};
use strata_core::{BackendError, ChunkStore, CommitReceipt, PreparedCommit, StoreError};

type CommitResult = (PreparedCommit, Result<CommitReceipt, StoreError>);

/// A request for a commit now, from [`StrataPersistence::commit_now`]: compare it with
/// [`EditsCommitted::request`] or ask [`StrataPersistence::is_durable`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitRequest(pub u64);

/// Commit state and counters (all O(1): no store scan after a commit).
///
/// # Durability of a game's edits
/// Edits are durable once a commit that covers them succeeds; each success sends
/// [`EditsCommitted`] with the world version it covers, each failure [`CommitFailed`] (the
/// edits stay queued and the next commit retries them). Commits run every
/// [`StrataConfig::commit_interval_s`], or as soon as possible after [`StrataPersistence::commit_now`].
#[derive(Resource, Default)]
pub struct StrataPersistence {
    since_last_s: f32,
    task: Option<(Task<CommitResult>, CommitRequest)>,
    /// The last request handed out by [`StrataPersistence::commit_now`].
    requested: CommitRequest,
    /// The last request a successful commit covered.
    durable_request: CommitRequest,
    /// Durable commits done.
    pub commits: u64,
    /// Commits that failed.
    pub failed_commits: u64,
    /// The last commit error, if the last commit failed.
    pub last_error: Option<String>,
    /// Every edit applied at or before this world version is durable, except edits held back
    /// because their chunk could not be loaded (see [`EditsCommitted::held_edits`]).
    pub durable_version: u64,
    /// Chunk records written by successful commits since start.
    pub committed_chunks: u64,
    /// Encoded bytes written by successful commits since start (the records' compressed size).
    pub committed_bytes: u64,
    /// The last successful commit's receipt.
    pub last_receipt: Option<CommitReceipt>,
    /// Whether the exit commit ran.
    pub exit_committed: bool,
    /// Game values waiting to be written ([`StrataPersistence::set_game_data`]), by name.
    game_data: std::collections::BTreeMap<String, Option<Vec<u8>>>,
    /// The game values being written on the I/O pool, and the result.
    data_task: Option<Task<(GameData, Result<(), StoreError>)>>,
}

/// Game values by name (`None`: remove).
type GameData = std::collections::BTreeMap<String, Option<Vec<u8>>>;

impl StrataPersistence {
    /// Asks for a commit as soon as possible (the next frame, or right after the commit in
    /// flight, which may have captured the world before the request). Every edit sent before
    /// this call is covered by the returned request: it is durable once
    /// [`StrataPersistence::is_durable`] says so, or an [`EditsCommitted`] with
    /// `request >= ` it arrives — unless its chunk cannot be loaded (then the commit reports
    /// `held_edits > 0` and does not cover the request; a later one will).
    pub fn commit_now(&mut self) -> CommitRequest {
        self.requested.0 += 1;
        self.requested
    }

    /// Whether every edit sent before `request` was made is durable.
    pub fn is_durable(&self, request: CommitRequest) -> bool {
        request <= self.durable_request
    }

    /// Whether a commit is running on the I/O pool.
    pub fn is_committing(&self) -> bool {
        self.task.is_some()
    }

    /// Saves the game's value `name` (`None` removes it) in the save beside the chunks
    /// ([`ChunkStore::set_game_data`](strata_core::ChunkStore::set_game_data): a player's
    /// position, an inventory). Written on the I/O pool from the next frame (a later call for
    /// the same name replaces a value not written yet) and on exit; read it back with
    /// [`StrataWorld::game_data`](crate::StrataWorld::game_data). A failed write is logged and
    /// retried at the next commit interval.
    pub fn set_game_data(&mut self, name: impl Into<String>, value: Option<Vec<u8>>) {
        self.game_data.insert(name.into(), value);
    }

    /// Puts the values of a failed write back in the queue, except those set again since.
    fn requeue(&mut self, failed: GameData) {
        for (name, value) in failed {
            self.game_data.entry(name).or_insert(value);
        }
    }

    /// Whether game values wait to be written (or are being written).
    pub fn game_data_pending(&self) -> bool {
        !self.game_data.is_empty() || self.data_task.is_some()
    }
}

/// Writes `data` to `store`, in name order; stops at the first failure.
fn write_game_data(store: &dyn ChunkStore, data: &GameData) -> Result<(), StoreError> {
    data.iter().try_for_each(|(name, value)| store.set_game_data(name, value.as_deref()))
}

/// [`StrataSystems::Persist`](crate::StrataSystems::Persist): writes waiting game values on the
/// I/O pool once the save is open, one write task at a time; a failed write's values go back
/// to the queue (unless set again since) for the next commit interval.
pub(crate) fn write_game_values(
    time: Res<Time>,
    config: Res<StrataConfig>,
    status: Res<StrataStatus>,
    sw: Res<StrataWorld>,
    mut p: ResMut<StrataPersistence>,
    mut retry_in: Local<f32>,
) {
    if let Some(task) = p.data_task.as_mut()
        && let Some((written, result)) = check_ready(task)
    {
        p.data_task = None;
        if let Err(e) = result {
            warn!("strata: saving game values failed, retrying: {e}");
            p.requeue(written);
            *retry_in = config.commit_interval_s.max(0.0);
        }
    }
    *retry_in -= time.delta_secs();
    if p.data_task.is_some() || p.game_data.is_empty() || *retry_in > 0.0 || !status.is_ready() {
        return;
    }
    let data = std::mem::take(&mut p.game_data);
    let store = sw.world.store().clone();
    p.data_task = Some(IoTaskPool::get().spawn(async move {
        let result = write_game_data(store.as_ref(), &data);
        (data, result)
    }));
}

fn finish(
    sw: &mut StrataWorld,
    p: &mut StrataPersistence,
    (prepared, result): CommitResult,
    request: CommitRequest,
    committed: &mut MessageWriter<EditsCommitted>,
    failed: &mut MessageWriter<CommitFailed>,
) {
    let (version, held_edits) = (prepared.version(), prepared.held_edits());
    match sw.world.finish_commit(prepared, result) {
        Ok(receipt) => {
            p.commits += 1;
            p.last_error = None;
            p.durable_version = p.durable_version.max(version);
            p.committed_chunks += receipt.entries as u64;
            p.committed_bytes += receipt.bytes as u64;
            p.last_receipt = Some(receipt);
            if held_edits == 0 {
                p.durable_request = p.durable_request.max(request);
            }
            committed.write(EditsCommitted {
                version,
                request: p.durable_request,
                chunks: receipt.entries,
                bytes: receipt.bytes,
                duration: receipt.duration,
                held_edits,
            });
        }
        Err(e) => {
            warn!("strata: commit failed, edits stay queued for the next one: {e}");
            p.failed_commits += 1;
            p.last_error = Some(e.to_string());
            failed.write(CommitFailed { reason: e.to_string() });
        }
    }
}

/// Starts a commit when one is due (the interval passed, or [`StrataPersistence::commit_now`] asked),
/// and collects a finished one. At most one commit runs at a time, so commits land in order.
pub(crate) fn periodic_commit(
    time: Res<Time>,
    config: Res<StrataConfig>,
    mut sw: ResMut<StrataWorld>,
    mut p: ResMut<StrataPersistence>,
    mut committed: MessageWriter<EditsCommitted>,
    mut failed: MessageWriter<CommitFailed>,
) {
    if let Some((task, _)) = p.task.as_mut()
        && let Some(done) = check_ready(task)
    {
        let request = p.task.take().map(|(_, r)| r).unwrap_or_default();
        finish(&mut sw, &mut p, done, request, &mut committed, &mut failed);
    }
    p.since_last_s += time.delta_secs();
    let asked = p.requested > p.durable_request;
    if p.task.is_some() || (!asked && p.since_last_s < config.commit_interval_s.max(0.0)) {
        return;
    }
    p.since_last_s = 0.0;
    let request = p.requested;
    let w = sw.world.stats();
    if w.dirty_chunks == 0 && w.pending_edits == 0 {
        // Everything applied is durable already.
        p.durable_version = p.durable_version.max(w.version);
        if asked {
            p.durable_request = request;
            committed.write(EditsCommitted { version: w.version, request, ..default() });
        }
        return;
    }
    let prepared = match sw.world.prepare_commit() {
        Ok(prepared) => prepared,
        Err(e) => {
            warn!("strata: preparing a commit failed: {e}");
            return;
        }
    };
    if prepared.is_empty() {
        // Nothing dirty after applying: only edits held back by a load error are pending.
        let (version, held_edits) = (prepared.version(), prepared.held_edits());
        p.durable_version = p.durable_version.max(version);
        if held_edits == 0 {
            p.durable_request = request;
        }
        if asked {
            committed.write(EditsCommitted { version, request: p.durable_request, held_edits, ..default() });
        }
        return;
    }
    let store = sw.world.store().clone();
    let task = IoTaskPool::get().spawn(async move {
        // A panic in the commit (a bug) fails this commit, not the app (polling a task whose
        // future panicked would panic the main thread).
        let result = crate::jobs::contained(|| prepared.execute(store.as_ref())).unwrap_or_else(|panic| {
            Err(StoreError::Backend(BackendError::Panicked { what: "the commit", message: panic.to_string() }))
        });
        (prepared, result)
    });
    p.task = Some((task, request));
}

/// On exit: waits for a running commit, then commits every remaining edit.
pub(crate) fn commit_on_exit(
    mut exits: MessageReader<AppExit>,
    mut sw: ResMut<StrataWorld>,
    mut p: ResMut<StrataPersistence>,
    mut startup: ResMut<StartupTask>,
    mut status: ResMut<StrataStatus>,
    mut committed: MessageWriter<EditsCommitted>,
    mut failed: MessageWriter<CommitFailed>,
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
    exit_commit(&mut sw, &mut p, &mut committed, &mut failed);
    // Loads the streaming started may still be reading: wait for them, then close the save.
    startup.close_store();
}

/// The exit commit proper: waits for a running commit, then commits every remaining edit.
fn exit_commit(
    sw: &mut StrataWorld,
    p: &mut StrataPersistence,
    committed: &mut MessageWriter<EditsCommitted>,
    failed: &mut MessageWriter<CommitFailed>,
) {
    if let Some((task, request)) = p.task.take() {
        let done = block_on(task);
        finish(sw, p, done, request, committed, failed);
    }
    // Game values: the running write, then what waits.
    if let Some(task) = p.data_task.take() {
        let (written, result) = block_on(task);
        if result.is_err() {
            p.requeue(written);
        }
    }
    let data = std::mem::take(&mut p.game_data);
    if let Err(e) = write_game_data(sw.world.store().as_ref(), &data) {
        error!("strata: saving game values on exit failed: {e}");
    }
    sw.index.finish();
    // Exiting may block: edits still waiting for their chunk load it now — but only while the
    // store answers: the first failed load ends it (in an outage every load would fail, each
    // after the store's timeout, and the exit would hang for minutes), and the commit then
    // writes what could be applied.
    load_awaited_until_a_failure(&mut sw.world);
    let request = p.requested;
    match sw.world.prepare_commit() {
        Ok(prepared) => {
            let result = if prepared.is_empty() {
                Ok(CommitReceipt::default())
            } else {
                prepared.execute(sw.world.store().as_ref())
            };
            let held = prepared.held_edits();
            finish(sw, p, (prepared, result), request, committed, failed);
            if p.last_error.is_none() && held == 0 {
                p.exit_committed = true;
            } else {
                error!(
                    "strata: the exit commit failed, recent edits are not saved: {}",
                    p.last_error
                        .clone()
                        .unwrap_or_else(|| format!("{held} edits wait for chunks that cannot be loaded"))
                );
            }
        }
        Err(e) => error!("strata: the exit commit failed, recent edits are not saved: {e}"),
    }
}

/// Applies pending edits ([`strata_core::EditLoading::Deferred`]: nothing loads) and loads the
/// chunks they wait for ([`strata_core::World::awaited_chunks`]) on this thread, one by one,
/// until all are applied or a load fails. Returns how many chunks were loaded.
fn load_awaited_until_a_failure(world: &mut strata_core::World) -> usize {
    let source = world.source();
    let mut loaded = 0;
    loop {
        // Held edits load nothing here (a load error is reported by the commit).
        let _ = world.apply();
        let keys: Vec<_> = world.awaited_chunks().collect();
        if keys.is_empty() {
            return loaded;
        }
        let before = loaded;
        for key in keys {
            match source.load(key) {
                Ok(chunk) => {
                    if world.insert_loaded(key, chunk) == strata_core::HandIn::Inserted {
                        loaded += 1;
                    }
                }
                Err(e) => {
                    error!(
                        "strata: loading chunk {key:?} for the exit commit failed ({e}); the edits waiting for chunks are not saved"
                    );
                    return loaded;
                }
            }
        }
        if loaded == before {
            // Nothing could be handed in (stale copies): the commit writes what it can.
            return loaded;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StrataMinimalPlugins, strata_ready};
    use std::ops::RangeInclusive;
    use std::sync::Arc;
    use strata_core::store::ScanVisitor;
    use strata_core::{
        ChunkStore, FlatGenerator, MaterialId, MortonKey, VoxelPos, World, WorldConfig, WorldId, WriteBatch,
    };

    /// A store that is unreachable for writes.
    struct Unwritable;

    impl ChunkStore for Unwritable {
        fn world_id(&self) -> WorldId {
            WorldId::UNSEALED
        }
        fn get_record(&self, _: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(None)
        }
        fn scan(&self, _: RangeInclusive<MortonKey>, _: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
            Ok(())
        }
        fn commit(&self, _: &WriteBatch) -> Result<CommitReceipt, StoreError> {
            Err(StoreError::Unavailable("injected".into()))
        }
    }

    /// A failed commit is reported (`CommitFailed`, counters) and covers nothing; the edits stay
    /// dirty for the next try.
    #[test]
    fn a_failed_commit_is_reported_and_covers_nothing() {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StrataMinimalPlugins::new(StrataConfig::default())));
        app.finish();
        app.cleanup();
        for _ in 0..5000 {
            app.update();
            if app.world_mut().run_system_cached(strata_ready).unwrap() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        {
            let mut sw = app.world_mut().resource_mut::<StrataWorld>();
            let generator = Arc::new(FlatGenerator { height: 0, material: MaterialId(1) });
            let mut world = World::new(Arc::new(Unwritable), generator, WorldConfig::default());
            sw.feed = world.subscribe();
            sw.world = world;
            sw.world.set_voxel(VoxelPos::new(1, 1, 1), MaterialId(3));
        }
        let request = app.world_mut().resource_mut::<StrataPersistence>().commit_now();
        let mut failures = Vec::new();
        for _ in 0..2000 {
            app.update();
            failures.extend(app.world_mut().resource_mut::<Messages<CommitFailed>>().drain());
            if !failures.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(failures[0].reason.contains("injected"), "{failures:?}");
        let p = app.world().resource::<StrataPersistence>();
        assert!(!p.is_durable(request));
        assert_eq!((p.commits, p.failed_commits, p.durable_version), (0, 1, 0));
        assert!(p.last_error.is_some());
        assert_eq!(app.world().resource::<StrataWorld>().world.stats().dirty_chunks, 1, "kept for the next try");
    }
}
