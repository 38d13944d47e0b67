//! Start-up off the main thread: the save is opened on the I/O task pool while the app already
//! runs frames, and nothing is read from it up front.
//!
//! [`StrataPlugin`](crate::StrataPlugin) inserts [`StrataStatus::Loading`] and starts one
//! start-up task; [`StrataSystems::Startup`](crate::StrataSystems::Startup) (in `PreUpdate`)
//! polls it without blocking. The task opens the save [`SaveSource`] names: the redb file
//! [`StrataConfig::save_path`](crate::StrataConfig::save_path) names (or memory), a store the
//! game opened, or one the game's function opens (a Redis Cluster through `strata_redis`); a
//! store that cannot be opened — or that panics inside its database library — is
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

use crate::SaveSource;
use crate::config::StrataConfig;
use bevy::prelude::*;
use bevy::tasks::{IoTaskPool, Task, block_on, futures::check_ready};
use std::ops::RangeInclusive;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};
use strata_core::store::{
    ChunkCellVisitor, LogPosition, LogRead, ScanVisitor, StoreStats, StoredChunk, SummaryVisitor,
};
use strata_core::{
    Chunk, ChunkKey, ChunkStore, CommitReceipt, MemoryStore, MortonKey, ProcessHistory, StoreError, WorldId, WriteBatch,
};
use strata_core::{MaterialRegistry, Palette, PaletteError, PaletteRules, open_with_palette};
use strata_redb::RedbStore;

/// Where the plugin's start-up is — and, for a multiplayer client (`net::NetClient`, feature
/// `net`), its connection. Read it as a resource, or react to [`StrataStatusChanged`].
#[derive(Resource, Clone, Debug, Default)]
#[non_exhaustive]
pub enum StrataStatus {
    /// The save is being opened and the index built (off the main thread).
    #[default]
    Loading,
    /// Streaming runs (a multiplayer client: connected, welcomed by its server).
    Ready(StartupReport),
    /// The save could not be opened or read; nothing streams. The app keeps running.
    Failed(StartupError),
    /// A multiplayer client whose server has not welcomed it yet: nothing streams until it
    /// does (the world it would show without the server's chunks is not the server's).
    Connecting,
    /// A multiplayer client whose connection ended (lost, or refused at the handshake: the
    /// reason says which, `NetClient::status` has the typed error). Streaming goes on with the
    /// chunks received; edits wait, and are sent after a reconnect's welcome (then `Ready`).
    Lost(String),
}

impl StrataStatus {
    /// Whether streaming runs (`Ready`, or `Lost`: a client keeps showing what it received).
    pub fn is_ready(&self) -> bool {
        matches!(self, StrataStatus::Ready(_) | StrataStatus::Lost(_))
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
    /// The save's material palette and the plugin's materials do not fit together: the save
    /// holds a material the materials file no longer defines (or its palette is unreadable).
    /// Nothing was read or written.
    #[error(
        "the save {save} does not fit the materials: {source}. Restore the material in materials.ron, or map it \
         with StrataPlugin::with_palette_rules(PaletteRules::new().replace(\"old\", \"new\"))"
    )]
    Palette {
        /// The save path or URL.
        save: String,
        /// Why.
        source: PaletteError,
    },
    /// The storage library panicked (a damaged file can make redb panic); contained here.
    #[error("the store panicked while opening or reading {save}: {message}; run `strata verify --save <path>`")]
    Panicked {
        /// The save path or URL.
        save: String,
        /// The panic message.
        message: String,
    },
    /// `save_path` is a URL (`scheme://…`), but it names a redb file; other stores are handed
    /// in ([`StrataPlugin::with_store_opener`](crate::StrataPlugin::with_store_opener)).
    #[error(
        "save_path {save:?} is a URL, but save_path names a redb file: open other stores with their crate (a Redis \
         Cluster: strata_redis::open) and hand them in with StrataPlugin::with_store_opener"
    )]
    NotAFilePath {
        /// The URL, credentials hidden.
        save: String,
    },
}

/// Sent when start-up finished ([`StrataStatus::Ready`] or [`StrataStatus::Failed`]), and for a
/// multiplayer client each time its connection changes it (`Connecting`, `Ready`, `Lost`).
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
/// [`StoreError::Unavailable`] until [`OpeningStore::install`], then forwards (one uncontended
/// read lock per call), until [`OpeningStore::close`] at exit.
pub(crate) struct OpeningStore {
    state: RwLock<OpenState>,
}

enum OpenState {
    Opening,
    Open(Arc<dyn ChunkStore>),
    Failed(String),
    Closed,
}

/// The open store, borrowed for one call (the read lock [`OpeningStore::close`] waits for).
struct OpenGuard<'a>(RwLockReadGuard<'a, OpenState>);

impl std::ops::Deref for OpenGuard<'_> {
    type Target = Arc<dyn ChunkStore>;
    fn deref(&self) -> &Self::Target {
        match &*self.0 {
            OpenState::Open(store) => store,
            // `OpeningStore::get` hands out guards of open stores only.
            _ => unreachable!("an OpenGuard of a store that is not open"),
        }
    }
}

impl OpeningStore {
    pub fn new() -> Self {
        Self { state: RwLock::new(OpenState::Opening) }
    }

    fn install(&self, store: Result<Arc<dyn ChunkStore>, String>) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        // Installed once, by the one start-up task's result (never after a close).
        if matches!(*state, OpenState::Opening) {
            *state = match store {
                Ok(store) => OpenState::Open(store),
                Err(why) => OpenState::Failed(why),
            };
        }
    }

    /// Closes the store at exit: waits for the calls in flight on the task pools (loads the
    /// streaming started) to return, then drops it, so a save file is closed — and can be
    /// opened again — once the exit frame is over; later calls answer
    /// [`StoreError::Unavailable`]. A store the game handed in stays open while it holds it.
    pub fn close(&self) {
        let closed =
            std::mem::replace(&mut *self.state.write().unwrap_or_else(PoisonError::into_inner), OpenState::Closed);
        drop(closed);
    }

    fn get(&self) -> Result<OpenGuard<'_>, StoreError> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        match &*state {
            OpenState::Open(_) => Ok(OpenGuard(state)),
            OpenState::Failed(why) => Err(StoreError::Unavailable(format!("the save could not be opened: {why}"))),
            OpenState::Opening => {
                Err(StoreError::Unavailable("the save is still opening (StrataStatus::Loading)".into()))
            }
            OpenState::Closed => Err(StoreError::Unavailable("the app exited and closed the save".into())),
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
    fn change_log_end(&self) -> Result<Option<LogPosition>, StoreError> {
        self.get()?.change_log_end()
    }
    fn read_change_log(&self, from: &LogPosition, limit: usize) -> Result<LogRead, StoreError> {
        self.get()?.read_change_log(from, limit)
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
    fn get_records(&self, keys: &[MortonKey]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.get()?.get_records(keys)
    }
    fn stats(&self) -> Result<StoreStats, StoreError> {
        self.get()?.stats()
    }
    fn palette(&self) -> Result<Option<Palette>, StoreError> {
        self.get()?.palette()
    }
    fn swap_palette(&self, expected: Option<&Palette>, new: &Palette) -> Result<bool, StoreError> {
        self.get()?.swap_palette(expected, new)
    }
    fn game_data(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get()?.game_data(name)
    }
    fn set_game_data(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        self.get()?.set_game_data(name, value)
    }
}

/// What the start-up task hands back.
struct Opened {
    store: Arc<dyn ChunkStore>,
    report: StartupReport,
}

/// The running start-up task and the store it installs into.
#[derive(Resource)]
pub(crate) struct StartupTask {
    store: Arc<OpeningStore>,
    task: Option<Task<Result<Opened, StartupError>>>,
}

impl StartupTask {
    /// Starts opening the save `source` names on the I/O pool (installing a store the game
    /// opened, [`StrataPlugin::with_store`](crate::StrataPlugin::with_store), takes no time).
    /// The save is reconciled with `materials` ([`strata_core::open_with_palette`], following
    /// `rules`) before the world reads anything from it.
    pub fn begin(
        config: &StrataConfig,
        source: SaveSource,
        store: Arc<OpeningStore>,
        materials: MaterialRegistry,
        rules: PaletteRules,
    ) -> Self {
        let save = config.save_path.clone();
        let task =
            IoTaskPool::get_or_init(Default::default).spawn(async move { open(source, save, &materials, &rules) });
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

/// `save` as errors and logs show it: a URL's credentials (`scheme://user:password@…`) become
/// `***@`.
fn shown(save: &str) -> String {
    let Some((scheme, rest)) = save.split_once("://") else { return save.into() };
    let authority = rest.find(['/', '?']).map_or(rest, |i| &rest[..i]);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => save.into(),
    }
}

/// The start-up task: opens the store and reconciles its palette with `materials`, containing
/// panics.
fn open(
    source: SaveSource,
    save_path: Option<String>,
    materials: &MaterialRegistry,
    rules: &PaletteRules,
) -> Result<Opened, StartupError> {
    let start = Instant::now();
    let name = match &source {
        SaveSource::Opener { name, .. } => name.clone(),
        _ => save_name(&save_path),
    };
    let opened = catch_unwind(AssertUnwindSafe(|| {
        match source {
            SaveSource::Store(store) => Ok(store),
            SaveSource::Opener { name, open } => {
                open().map_err(|e| StartupError::Open { save: name, source: Arc::new(e) })
            }
            _ => open_embedded(save_path.as_deref()),
        }
        .and_then(|store| {
            open_with_palette(store, materials, rules).map_err(|e| match e {
                StoreError::Palette(source) => StartupError::Palette { save: name.clone(), source },
                e => StartupError::Open { save: name.clone(), source: Arc::new(e) },
            })
        })
    }));
    match opened {
        Ok(store) => Ok(Opened { store: store?, report: StartupReport { open_time: start.elapsed() } }),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            Err(StartupError::Panicked { save: name, message })
        }
    }
}

/// The embedded default: the redb file at `save` (a URL is refused), or memory.
fn open_embedded(save: Option<&str>) -> Result<Arc<dyn ChunkStore>, StartupError> {
    match save {
        None => Ok(Arc::new(MemoryStore::new())),
        Some(url) if url.contains("://") => Err(StartupError::NotAFilePath { save: shown(url) }),
        Some(path) => RedbStore::open(path)
            .map(|s| Arc::new(s) as Arc<dyn ChunkStore>)
            .map_err(|e| StartupError::Open { save: path.into(), source: Arc::new(e) }),
    }
}

/// [`StrataSystems::Startup`](crate::StrataSystems::Startup): installs the start-up result
/// when it is ready (never blocks) and sends [`StrataStatusChanged`].
pub(crate) fn poll_startup(
    mut startup: ResMut<StartupTask>,
    mut status: ResMut<StrataStatus>,
    mut changed: MessageWriter<StrataStatusChanged>,
) {
    if let Some(new) = startup.finish(false) {
        *status = new.clone();
        changed.write(StrataStatusChanged { status: new });
    }
}

impl StartupTask {
    /// Closes the store at exit ([`OpeningStore::close`]).
    pub(crate) fn close_store(&self) {
        self.store.close();
    }
}

/// For the exit commit: waits for a running start-up task and installs its result.
pub(crate) fn finish_blocking(startup: &mut StartupTask, status: &mut StrataStatus) {
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
        let err = open_embedded(Some("redis+cluster://user:hunter2@127.0.0.1:1/?world=w"))
            .err()
            .expect("a URL is not a file path");
        assert!(matches!(err, StartupError::NotAFilePath { .. }), "{err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("with_store_opener"), "the message says what to do instead: {err}");
    }
}
