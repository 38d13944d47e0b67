//! Start-up off the main thread: the save is opened on the I/O task pool while the app already
//! runs frames, and nothing is read from it up front.
//!
//! [`StrataPlugin`](crate::StrataPlugin) inserts [`StrataStatus::Loading`] and starts one
//! start-up task; [`StrataSystems::Startup`](crate::StrataSystems::Startup) (in `PreUpdate`)
//! polls it without blocking. The task opens the store named by
//! [`StrataConfig::save_path`](crate::StrataConfig::save_path) (redb file, Redis Cluster URL, or
//! memory); a store that cannot be opened — or that panics inside its database library — is
//! [`StrataStatus::Failed`]. Either way [`StrataStatusChanged`] is sent once and the app keeps
//! running.
//!
//! **Start-up follows the view.** The index starts empty. Stored chunks reach it the way the
//! view needs them: a chunk shown at full resolution is loaded by the world (one key lookup);
//! before a coarse grid (levels 1 to [`ROOT_LEVEL`](strata_index::ROOT_LEVEL)) is loaded, the
//! stored chunks under its node are read with one Morton range scan (unless a scan of the node
//! or an ancestor already did) and kept in the index as summaries
//! ([`IndexWriter::scan_stored`](strata_index::IndexWriter::scan_stored)).
//! Before a coarser grid is loaded, the stored chunks under its node give their chunk cells
//! (one range scan reading each summary's header:
//! [`IndexWriter::scan_chunk_cells`](strata_index::IndexWriter::scan_chunk_cells)), which the
//! index folds into the generator's samples ([`strata_index::above_roots`]). So the work before the
//! first view grows with the stored chunks near the viewers, not with the save. A record that
//! does not decode is skipped and logged with its key
//! ([`StrataWorld::skipped_records`](crate::StrataWorld::skipped_records)).
//!
//! Until the status is [`StrataStatus::Ready`], the streaming sets (`PlanLod` … `Apply`) and
//! periodic commits do not run: nothing is shown, edits made through
//! [`VoxelWorld`](crate::VoxelWorld) wait in the delta log, and reads that need the store answer
//! [`StoreError::Unavailable`]. After a failure that stays so (the edits are kept in memory; an
//! exit does not write them anywhere). On [`AppExit`] during loading the exit commit waits for
//! the start-up task, so edits made while loading are saved.

use crate::config::StrataConfig;
use bevy::prelude::*;
use bevy::tasks::{IoTaskPool, Task, block_on, futures::check_ready};
use std::ops::RangeInclusive;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use strata_core::store::{ChunkCellVisitor, ScanVisitor, StoreStats, StoredChunk, SummaryVisitor};
use strata_core::{
    Chunk, ChunkKey, ChunkStore, CommitReceipt, MemoryStore, MortonKey, ProcessHistory, RedbStore, StoreError, WorldId,
    WriteBatch,
};

/// Where the plugin's start-up is. Read it as a resource, or react to [`StrataStatusChanged`].
#[derive(Resource, Clone, Debug, Default)]
pub enum StrataStatus {
    /// The save is being opened and the index built (off the main thread).
    #[default]
    Loading,
    /// Streaming runs.
    Ready(StartupReport),
    /// The save could not be opened or read; nothing streams. The app keeps running.
    Failed(StartupError),
}

impl StrataStatus {
    /// Whether streaming runs.
    pub fn is_ready(&self) -> bool {
        matches!(self, StrataStatus::Ready(_))
    }
}

/// How start-up went.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct StartupReport {
    /// Time to open the store (on the I/O pool).
    pub open_time: Duration,
}

/// Why start-up failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The store could not be opened.
    #[error(
        "cannot open the save {save}: {source}. Check the path or URL (for Redis: is the cluster up?), close other \
         programs using it, or set StrataConfig::save_path to None for an in-memory world"
    )]
    Open {
        /// The save path or URL.
        save: String,
        /// Why.
        source: Arc<StoreError>,
    },
    /// The storage library panicked (a damaged file can make redb panic); contained here.
    #[error("the store panicked while opening or reading {save}: {message}; run `strata verify --save <path>`")]
    Panicked {
        /// The save path or URL.
        save: String,
        /// The panic message.
        message: String,
    },
    /// `save_path` is a Redis Cluster URL but `bevy_strata` was built without the `redis` feature.
    #[error(
        "save_path {url:?} is a Redis Cluster URL, but bevy_strata was built without the `redis` feature: enable it \
         (bevy_strata = {{ features = [\"redis\"] }})"
    )]
    RedisNotBuilt {
        /// The URL.
        url: String,
    },
}

/// Sent once, when start-up finished ([`StrataStatus::Ready`] or [`StrataStatus::Failed`]).
#[derive(Message, Clone, Debug)]
pub struct StrataStatusChanged {
    /// The new status.
    pub status: StrataStatus,
}

/// The run condition of the streaming sets: start-up finished successfully.
pub fn strata_ready(status: Res<StrataStatus>) -> bool {
    status.is_ready()
}

/// The store the world is built on while the real one opens: every call answers
/// [`StoreError::Unavailable`] until [`OpeningStore::install`], then forwards (one atomic load
/// per call).
pub(crate) struct OpeningStore {
    inner: OnceLock<Result<Arc<dyn ChunkStore>, String>>,
}

impl OpeningStore {
    pub fn new() -> Self {
        Self { inner: OnceLock::new() }
    }

    fn install(&self, store: Result<Arc<dyn ChunkStore>, String>) {
        // Installed once, by the one start-up task's result.
        let _ = self.inner.set(store);
    }

    fn get(&self) -> Result<&Arc<dyn ChunkStore>, StoreError> {
        match self.inner.get() {
            Some(Ok(store)) => Ok(store),
            Some(Err(why)) => Err(StoreError::Unavailable(format!("the save could not be opened: {why}"))),
            None => Err(StoreError::Unavailable("the save is still opening (StrataStatus::Loading)".into())),
        }
    }
}

impl ChunkStore for OpeningStore {
    /// The opened store's (unsealed until it is open: every read fails until then anyway).
    fn world_id(&self) -> WorldId {
        self.get().map_or(WorldId::UNSEALED, |s| s.world_id())
    }
    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.get()?.get_record(key)
    }
    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        self.get()?.scan(range, visit)
    }
    fn scan_summaries(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut SummaryVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.get()?.scan_summaries(range, visit)
    }
    fn scan_chunk_cells(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut ChunkCellVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.get()?.scan_chunk_cells(range, visit)
    }
    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        self.get()?.commit(batch)
    }
    fn sync_count(&self) -> Option<u64> {
        self.get().ok()?.sync_count()
    }
    fn get(&self, key: ChunkKey) -> Result<Option<Chunk>, StoreError> {
        self.get()?.get(key)
    }
    fn get_with_history(&self, key: ChunkKey) -> Result<Option<(Chunk, ProcessHistory)>, StoreError> {
        self.get()?.get_with_history(key)
    }
    fn get_stored(&self, key: ChunkKey) -> Result<Option<StoredChunk>, StoreError> {
        self.get()?.get_stored(key)
    }
    fn get_many(&self, keys: &[ChunkKey]) -> Result<Vec<Option<Chunk>>, StoreError> {
        self.get()?.get_many(keys)
    }
    fn stats(&self) -> Result<StoreStats, StoreError> {
        self.get()?.stats()
    }
}

/// What the start-up task hands back.
struct Opened {
    store: Arc<dyn ChunkStore>,
    report: StartupReport,
}

/// The running start-up task and the store it installs into.
#[derive(Resource)]
pub(crate) struct Startup {
    store: Arc<OpeningStore>,
    task: Option<Task<Result<Opened, StartupError>>>,
}

impl Startup {
    /// Starts opening `config.save_path` on the I/O pool, or installing `given` (a store the
    /// game opened: [`StrataPlugin::with_store`](crate::StrataPlugin::with_store)).
    pub fn begin(config: &StrataConfig, given: Option<Arc<dyn ChunkStore>>, store: Arc<OpeningStore>) -> Self {
        let save = config.save_path.clone();
        let task = IoTaskPool::get_or_init(Default::default).spawn(async move {
            match given {
                Some(store) => Ok(Opened { store, report: StartupReport::default() }),
                None => open(save),
            }
        });
        Self { store, task: Some(task) }
    }

    /// Installs a finished result; `wait`: blocks for it (exit only).
    fn finish(&mut self, wait: bool) -> Option<StrataStatus> {
        let task = self.task.as_mut()?;
        let result = if wait { block_on(self.task.take()?) } else { check_ready(task)? };
        self.task = None;
        Some(match result {
            Ok(Opened { store, report }) => {
                self.store.install(Ok(store));
                info!("strata: save ready (opened in {:.0} ms)", report.open_time.as_secs_f64() * 1e3);
                StrataStatus::Ready(report)
            }
            Err(e) => {
                self.store.install(Err(e.to_string()));
                error!("strata: start-up failed, nothing will stream: {e}");
                StrataStatus::Failed(e)
            }
        })
    }
}

fn save_name(save: &Option<String>) -> String {
    save.as_deref().map_or_else(|| "(in memory)".into(), shown)
}

/// `save` as errors and logs show it: a Redis URL's credentials (`user:password@`) become
/// `***@`.
fn shown(save: &str) -> String {
    let Some(rest) = save.strip_prefix(crate::REDIS_SCHEME) else { return save.into() };
    let authority = rest.find(['/', '?']).map_or(rest, |i| &rest[..i]);
    match authority.rfind('@') {
        Some(at) => format!("{}***{}", crate::REDIS_SCHEME, &rest[at..]),
        None => save.into(),
    }
}

/// The start-up task: opens the store, containing panics.
fn open(save: Option<String>) -> Result<Opened, StartupError> {
    let start = Instant::now();
    match catch_unwind(AssertUnwindSafe(|| open_store(save.as_deref()))) {
        Ok(store) => Ok(Opened { store: store?, report: StartupReport { open_time: start.elapsed() } }),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            Err(StartupError::Panicked { save: save_name(&save), message })
        }
    }
}

fn open_store(save: Option<&str>) -> Result<Arc<dyn ChunkStore>, StartupError> {
    match save {
        None => Ok(Arc::new(MemoryStore::new())),
        Some(url) if url.starts_with(crate::REDIS_SCHEME) => open_redis(url),
        Some(path) => RedbStore::open(path)
            .map(|s| Arc::new(s) as Arc<dyn ChunkStore>)
            .map_err(|e| StartupError::Open { save: path.into(), source: Arc::new(e) }),
    }
}

#[cfg(feature = "redis")]
fn open_redis(url: &str) -> Result<Arc<dyn ChunkStore>, StartupError> {
    strata_redis::open(url)
        .map(|s| Arc::new(s) as Arc<dyn ChunkStore>)
        .map_err(|e| StartupError::Open { save: shown(url), source: Arc::new(e) })
}

#[cfg(not(feature = "redis"))]
fn open_redis(url: &str) -> Result<Arc<dyn ChunkStore>, StartupError> {
    Err(StartupError::RedisNotBuilt { url: shown(url) })
}

/// [`StrataSystems::Startup`](crate::StrataSystems::Startup): installs the start-up result
/// when it is ready (never blocks) and sends [`StrataStatusChanged`].
pub(crate) fn poll_startup(
    mut startup: ResMut<Startup>,
    mut status: ResMut<StrataStatus>,
    mut changed: MessageWriter<StrataStatusChanged>,
) {
    if let Some(new) = startup.finish(false) {
        *status = new.clone();
        changed.write(StrataStatusChanged { status: new });
    }
}

/// For the exit commit: waits for a running start-up task and installs its result.
pub(crate) fn finish_blocking(startup: &mut Startup, status: &mut StrataStatus) {
    if let Some(new) = startup.finish(true) {
        *status = new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Errors and logs name the save, never a Redis URL's password.
    #[test]
    fn shown_save_names_hide_credentials() {
        assert_eq!(shown("redis+cluster://u:p%40ss@h:1,h:2/?world=w"), "redis+cluster://***@h:1,h:2/?world=w");
        assert_eq!(shown("redis+cluster://:pw@h:1"), "redis+cluster://***@h:1");
        assert_eq!(shown("redis+cluster://h:1/?world=a@b"), "redis+cluster://h:1/?world=a@b");
        assert_eq!(shown("saves/w@1.strata"), "saves/w@1.strata");
        let err = open_store(Some("redis+cluster://user:hunter2@127.0.0.1:1/?connect_timeout_ms=50&op_timeout_ms=100"))
            .err()
            .expect("nothing listens on port 1");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
