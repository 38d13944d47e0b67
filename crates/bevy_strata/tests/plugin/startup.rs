//! Start-up off the main thread: the app runs frames while the save opens, reports
//! `Loading` → `Ready` / `Failed` once, skips corrupt records by key and never panics on a save
//! it cannot open.

use crate::common::{STONE, flat_app, flat_app_with, run_until, small_view, wait_started};
use bevy::ecs::system::RunSystemOnce;
use bevy::prelude::*;
use bevy_strata::prelude::*;
use bevy_strata::{StartupError, StrataStreaming, StrataWorld};
use std::sync::Arc;
use strata_core::{ChunkKey, ChunkStore, FlatGenerator, LocalPos, StoreError, WorldGenerator, WriteBatch};
use strata_index::NodeId;
use strata_redb::RedbStore;

fn app(save: Option<String>) -> App {
    flat_app(StrataConfig { save_path: save, commit_interval_s: 3600.0, ..small_view() }, 0)
}

fn status_messages(app: &mut App) -> Vec<StrataStatus> {
    app.world_mut().resource_mut::<Messages<StrataStatusChanged>>().drain().map(|m| m.status).collect()
}

const BRICK: MaterialId = MaterialId(19);

/// A save with an edited chunk at the origin (a brick at (3, 2, 3)), an edited chunk at
/// (4, 0, 4) (an aligned 8³ brick box, so coarse grids show it; the view shows it at level 1
/// or 2), and a record beside it at (5, 0, 4), in the same level-1 node, that does not decode.
fn save_with_edits_and_a_corrupt_record(path: &std::path::Path) {
    let store = RedbStore::open(path).unwrap();
    let flat = FlatGenerator { height: 0, material: STONE };
    let mut origin = flat.generate(ChunkKey::new(0, 0, 0));
    origin.set(VoxelPos::new(3, 2, 3).local().index(), BRICK);
    let mut boxed = flat.generate(FAR);
    for (x, y, z) in (8..16).flat_map(|x| (8..16).flat_map(move |y| (8..16).map(move |z| (x, y, z)))) {
        boxed.set(LocalPos::new(x, y, z).index(), BRICK);
    }
    let mut batch = WriteBatch::new();
    batch.put(ChunkKey::new(0, 0, 0), &origin);
    batch.put(FAR, &boxed);
    batch.put_record(CORRUPT.morton(), b"not a chunk record");
    store.commit(&batch).unwrap();
}

const FAR: ChunkKey = ChunkKey::new(4, 0, 4);
const CORRUPT: ChunkKey = ChunkKey::new(5, 0, 4);

/// Streams until the view is complete, then reads the level-2 grid cell inside FAR's 8³ box
/// (its 4³-voxel cells there are all box when the index knows the stored chunk).
fn stream_and_read_far_box(app: &mut App) -> MaterialId {
    run_until(app, 3000, "the view around the edits", |a| a.world().resource::<StrataStreaming>().is_idle());
    let grid = app.world().resource::<StrataWorld>().index().lod_chunk(NodeId::containing(FAR, 2));
    grid.get(LocalPos::new(((FAR.x % 4) * 8 + 3) as u8, 3, ((FAR.z % 4) * 8 + 3) as u8).index())
}

#[test]
fn a_save_opens_in_the_background_and_the_view_reads_only_what_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    save_with_edits_and_a_corrupt_record(&path);
    let mut app = app(Some(path.to_string_lossy().into_owned()));
    // Building the plugin opened nothing: the status only changes in a frame.
    assert!(matches!(*app.world().resource::<StrataStatus>(), StrataStatus::Loading));
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0)));
    wait_started(&mut app);
    let messages = status_messages(&mut app);
    assert_eq!(messages.len(), 1, "one status message: {messages:?}");
    assert!(matches!(messages[0], StrataStatus::Ready(_)), "{:?}", messages[0]);
    // Coarse grids near the viewer show the stored edit at FAR, read by a scan of the coarse
    // node showing it.
    assert_eq!(stream_and_read_far_box(&mut app), BRICK, "the level-2 grid shows the stored box");
    let sw = app.world().resource::<StrataWorld>();
    // The scan of the coarse node showing FAR skipped the corrupt record beside it by key.
    assert!(sw.stored_scans() >= 1);
    assert_eq!(sw.skipped_records(), 1);
    let w = &mut app.world_mut().resource_mut::<StrataWorld>().world;
    assert_eq!(w.voxel(VoxelPos::new(3, 2, 3)).unwrap(), BRICK);
    // The skipped chunk says why when it is read, and nothing else stops.
    assert!(matches!(w.voxel(CORRUPT.min_voxel()), Err(StoreError::Corrupt { .. })));
    for _ in 0..10 {
        app.update();
    }
    assert!(status_messages(&mut app).is_empty(), "the status changes once");
}

#[test]
fn a_save_that_cannot_be_opened_fails_and_the_app_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    // A directory is not a save file.
    let mut app = app(Some(dir.path().to_string_lossy().into_owned()));
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0)));
    app.world_mut().run_system_once(|w: VoxelWorld| w.set_voxel(VoxelPos::new(1, 1, 1), BRICK)).unwrap();
    wait_started(&mut app);
    let status = app.world().resource::<StrataStatus>().clone();
    assert!(matches!(status, StrataStatus::Failed(StartupError::Open { .. })), "{status:?}");
    assert!(status_messages(&mut app).iter().all(|s| matches!(s, StrataStatus::Failed(_))));
    for _ in 0..20 {
        app.update();
    }
    // Nothing streamed, reads say why, and the edit is still held in memory.
    assert_eq!(app.world().resource::<StrataStreaming>().view_progress(), (0, 0));
    let w = &mut app.world_mut().resource_mut::<StrataWorld>().world;
    assert!(matches!(w.voxel(VoxelPos::new(1, 1, 1)), Err(StoreError::Unavailable(_))));
    assert_eq!(w.stats().pending_edits, 1);
    // Exiting does not panic either.
    app.world_mut().write_message(AppExit::Success);
    app.update();
}

/// A save whose database header and roots are destroyed (one bad sector): start-up fails with
/// the typed damage (naming `strata salvage`), the app keeps running and keeps its edits.
#[test]
fn a_damaged_save_fails_saying_how_to_salvage_it_and_the_app_keeps_its_edits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    save_with_edits_and_a_corrupt_record(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..16 << 10].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    let mut app = app(Some(path.to_string_lossy().into_owned()));
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0)));
    app.world_mut().run_system_once(|w: VoxelWorld| w.set_voxel(VoxelPos::new(1, 1, 1), BRICK)).unwrap();
    wait_started(&mut app);
    let status = app.world().resource::<StrataStatus>().clone();
    match &status {
        StrataStatus::Failed(StartupError::Open { source, .. }) => {
            assert!(matches!(**source, StoreError::Damaged { .. }), "{source}");
            assert!(source.to_string().contains("strata salvage"), "{source}");
        }
        other => panic!("{other:?}"),
    }
    for _ in 0..20 {
        app.update();
    }
    let w = &mut app.world_mut().resource_mut::<StrataWorld>().world;
    assert_eq!(w.stats().pending_edits, 1, "the edit is held in memory");
    app.world_mut().write_message(AppExit::Success);
    app.update();
}

#[test]
fn edits_made_while_the_save_opens_are_committed_on_exit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    {
        let mut app = app(Some(path.to_string_lossy().into_owned()));
        // Before the first frame: the save is (most likely) still opening.
        app.world().resource::<StrataWorld>().world.set_voxel(VoxelPos::new(-5, 3, 7), BRICK);
        app.world_mut().write_message(AppExit::Success);
        app.update();
    }
    let store = RedbStore::open(&path).unwrap();
    let c = store.get(ChunkKey::new(-1, 0, 0)).unwrap().expect("the edited chunk was committed");
    assert_eq!(c.get(VoxelPos::new(-5, 3, 7).local().index()), BRICK);
}

#[test]
fn a_url_as_save_path_fails_start_up_with_what_to_do_instead() {
    let mut app = app(Some("redis+cluster://user:hunter2@127.0.0.1:7100/?world=w".into()));
    wait_started(&mut app);
    let status = app.world().resource::<StrataStatus>().clone();
    let StrataStatus::Failed(e) = status else { panic!("failure expected, got {status:?}") };
    assert!(matches!(e, StartupError::NotAFilePath { .. }), "{e:?}");
    assert!(e.to_string().contains("with_store_opener") && !e.to_string().contains("hunter2"), "{e}");
}

/// A redb save whose chunk reads on the task pools take 200 ms (a slow disk), so loads are in
/// flight whenever the app exits (scans, which the exit waits for, are not slowed).
struct SlowReads(RedbStore);

impl SlowReads {
    fn wait(&self) {
        let thread = std::thread::current();
        if thread.name().is_some_and(|n| n.starts_with("IO Task Pool") || n.starts_with("Async Compute Task Pool")) {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

impl ChunkStore for SlowReads {
    fn world_id(&self) -> strata_core::WorldId {
        self.0.world_id()
    }
    fn get_record(&self, key: strata_core::MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.wait();
        self.0.get_record(key)
    }
    fn scan(
        &self,
        range: std::ops::RangeInclusive<strata_core::MortonKey>,
        visit: &mut strata_core::store::ScanVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.0.scan(range, visit)
    }
    fn commit(&self, batch: &WriteBatch) -> Result<strata_core::CommitReceipt, StoreError> {
        self.0.commit(batch)
    }
}

#[test]
fn the_save_is_closed_once_the_exit_frame_is_over_even_with_loads_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow.strata");
    let opened = path.clone();
    {
        let mut app = flat_app_with(
            |plugin| {
                plugin.with_store_opener("slow save", move || {
                    Ok(Arc::new(SlowReads(RedbStore::open(&opened)?)) as Arc<dyn ChunkStore>)
                })
            },
            StrataConfig { commit_interval_s: 3600.0, ..small_view() },
            0,
        );
        app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0)));
        wait_started(&mut app);
        run_until(&mut app, 100, "tasks in flight", |a| a.world().resource::<StrataStreaming>().tasks_in_flight() > 0);
        app.world_mut().write_message(AppExit::Success);
        app.update();
        assert!(app.world().resource::<StrataPersistence>().exit_committed);
    }
    // The app is gone: the file opens again (redb refuses a second open of a file in use).
    RedbStore::open(&path).expect("the save is closed once the app has exited");
}

/// An app saving to the Redis Cluster at `url` through a store opener.
fn redis_app(url: &str) -> App {
    flat_app_with(
        |plugin| crate::redis_save::redis_plugin(plugin, url),
        StrataConfig { commit_interval_s: 3600.0, ..small_view() },
        0,
    )
}

#[test]
fn an_unreachable_redis_cluster_fails_and_the_app_keeps_running() {
    // Port 1 on the loopback: nothing listens, connections are refused.
    let url = "redis+cluster://127.0.0.1:1/?world=unreachable&connect_timeout_ms=200&retries=1&op_timeout_ms=1000";
    let mut app = redis_app(url);
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0)));
    wait_started(&mut app);
    let status = app.world().resource::<StrataStatus>().clone();
    let StrataStatus::Failed(e) = status else { panic!("failure expected, got {status:?}") };
    assert!(matches!(e, StartupError::Open { .. }), "{e:?}");
    assert!(e.to_string().contains("the test cluster"), "the message names the save as the opener does: {e}");
    assert!(e.to_string().contains("127.0.0.1:1"), "and says why: {e}");
    for _ in 0..20 {
        app.update();
    }
    assert_eq!(app.world().resource::<StrataStreaming>().view_progress(), (0, 0));
}

#[test]
fn coarse_grids_show_edits_stored_in_a_redis_cluster() {
    let Some(url) = crate::redis_save::fresh_world_url("startup") else { return };
    let (lo, hi) = (FAR.min_voxel(), FAR.min_voxel());
    let (lo, hi) = (VoxelPos::new(lo.x + 8, lo.y + 8, lo.z + 8), VoxelPos::new(hi.x + 15, hi.y + 15, hi.z + 15));
    {
        let mut app = redis_app(&url);
        wait_started(&mut app);
        app.world_mut().run_system_once(move |w: VoxelWorld| w.fill_box(lo, hi, BRICK)).unwrap().unwrap();
        app.world_mut().write_message(AppExit::Success);
        app.update();
    }
    let mut app = redis_app(&url);
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0)));
    wait_started(&mut app);
    assert_eq!(stream_and_read_far_box(&mut app), BRICK, "the level-2 grid shows the box stored in the cluster");
    assert!(app.world().resource::<StrataWorld>().stored_scans() >= 1);
}

#[test]
fn coarse_levels_above_the_index_roots_show_stored_edits_far_away() {
    // 8 × 8 × 8 stored brick chunks (an aligned block: one whole cell of a level-8 grid)
    // 8,000 voxels from a viewer high above the ground: the coarse node (level > 5) showing
    // them reads their chunk cells before its grid is made, and its grid shows the bricks.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("far.strata");
    {
        let store = RedbStore::open(&path).unwrap();
        let mut batch = WriteBatch::new();
        for (x, y, z) in (256..264).flat_map(|x| (-8..0).flat_map(move |y| (0..8).map(move |z| (x, y, z)))) {
            batch.put(ChunkKey::new(x, y, z), &strata_core::Chunk::Uniform(BRICK));
        }
        store.commit(&batch).unwrap();
    }
    let config = StrataConfig {
        save_path: Some(path.to_string_lossy().into_owned()),
        commit_interval_s: 3600.0,
        view_distance: 12_000.0,
        lod_max_level: 8,
        lod_split_distance: 1.0,
        ..small_view()
    };
    let mut app = flat_app(config, 0);
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 600.0, 16.0)));
    wait_started(&mut app);
    run_until(&mut app, 4000, "the view with far coarse nodes", |a| a.world().resource::<StrataStreaming>().is_idle());
    let st = app.world().resource::<StrataStreaming>();
    let inside = ChunkKey::new(260, -4, 4);
    let far = st.node_covering(inside).expect("the far block is in view");
    assert!(far.level > strata_index::ROOT_LEVEL && far.level <= 8, "{far:?}");
    let grid = st.plan().grid(far).expect("the shown node's grid is held");
    let shift = far.level - strata_index::ROOT_LEVEL;
    let local = [inside.x, inside.y, inside.z].map(|v| ((v >> shift) - ((v >> far.level) << 5)) as u8);
    assert_eq!(grid.get(LocalPos::new(local[0], local[1], local[2]).index()), BRICK, "{far:?} at {local:?}");
    assert!(app.world().resource::<StrataWorld>().stored_scans() >= 1);
}

/// The built-in materials with every non-air id reversed (`materials.ron` renumbered), and
/// optionally without `drop`.
fn renumbered(drop: Option<&str>) -> MaterialRegistry {
    let builtin = MaterialRegistry::builtin();
    let last = builtin.iter().map(|m| m.id).max().unwrap();
    let materials = builtin
        .iter()
        .filter(|m| Some(m.name.as_str()) != drop)
        .map(|m| strata_core::Material { id: if m.id == 0 { 0 } else { last + 1 - m.id }, ..m.clone() })
        .collect();
    MaterialRegistry::new(materials).unwrap()
}

/// A save records its materials by name: reopened with `materials.ron` renumbered, an edit reads
/// back as the same material; with that material removed, start-up fails naming it (nothing is
/// read or written), and a palette rule reads it as another.
#[test]
fn a_save_reopened_with_renumbered_materials_reads_its_edits_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    let config = StrataConfig { save_path: Some(path.to_string_lossy().into_owned()), ..small_view() };
    let at = VoxelPos::new(-5, 3, 7);
    {
        let mut app = flat_app(config.clone(), 0);
        wait_started(&mut app);
        app.world().resource::<StrataWorld>().world.set_voxel(at, BRICK);
        app.world_mut().write_message(AppExit::Success);
        app.update();
    }
    let voxel_with = |materials: MaterialRegistry, rules: PaletteRules| {
        let mut app = flat_app_with(|p| p.with_materials(materials).with_palette_rules(rules), config.clone(), 0);
        wait_started(&mut app);
        let status = app.world().resource::<StrataStatus>().clone();
        let voxel = app.world_mut().resource_mut::<StrataWorld>().world.voxel(at);
        (status, voxel)
    };
    let registry = renumbered(None);
    let (status, voxel) = voxel_with(registry.clone(), PaletteRules::new());
    assert!(matches!(status, StrataStatus::Ready(_)), "{status:?}");
    assert_eq!(voxel.unwrap(), registry.id("brick").unwrap(), "the brick is a brick, under its new id");
    assert_ne!(registry.id("brick").unwrap(), BRICK);

    let (status, _) = voxel_with(renumbered(Some("brick")), PaletteRules::new());
    match &status {
        StrataStatus::Failed(StartupError::Palette { source, .. }) => {
            assert!(
                matches!(source, strata_core::PaletteError::Removed { name, id: 19 } if name == "brick"),
                "{source}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(status_text(&status).contains("\"brick\""), "{}", status_text(&status));

    let without = renumbered(Some("brick"));
    let (status, voxel) = voxel_with(without.clone(), PaletteRules::new().replace("brick", "granite"));
    assert!(matches!(status, StrataStatus::Ready(_)), "{status:?}");
    assert_eq!(voxel.unwrap(), without.id("granite").unwrap());
}

fn status_text(status: &StrataStatus) -> String {
    match status {
        StrataStatus::Failed(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}

/// Game values (a player's position) are saved beside the chunks: one written while the game
/// runs, one set in the exit frame; a new app over the save reads both; a removed one is gone.
#[test]
fn game_values_are_saved_and_read_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = Some(dir.path().join("w.strata").to_string_lossy().into_owned());
    {
        let mut app = app(path.clone());
        wait_started(&mut app);
        let mut p = app.world_mut().resource_mut::<StrataPersistence>();
        p.set_game_data("player", Some(b"(1.0, 40.0, -2.5)".to_vec()));
        p.set_game_data("old", Some(b"x".to_vec()));
        run_until(&mut app, 500, "the values written", |a| {
            !a.world().resource::<StrataPersistence>().game_data_pending()
        });
        let sw = app.world().resource::<StrataWorld>();
        assert_eq!(sw.game_data("player").unwrap().as_deref(), Some(&b"(1.0, 40.0, -2.5)"[..]));
        // One value being written (an fsync on the I/O pool) and newer ones set meanwhile, in
        // the exit frame: the exit commit waits for the write, then writes the newer ones.
        app.world_mut().resource_mut::<StrataPersistence>().set_game_data("player", Some(b"(2.0, 0.0, 0.0)".to_vec()));
        app.update();
        let mut p = app.world_mut().resource_mut::<StrataPersistence>();
        p.set_game_data("player", Some(b"(3.0, 41.0, 7.0)".to_vec()));
        p.set_game_data("old", None);
        app.world_mut().write_message(AppExit::Success);
        app.update();
    }
    let mut app = app(path);
    wait_started(&mut app);
    let sw = app.world().resource::<StrataWorld>();
    assert_eq!(sw.game_data("player").unwrap().as_deref(), Some(&b"(3.0, 41.0, 7.0)"[..]));
    assert_eq!(sw.game_data("old").unwrap(), None);
}

/// A store whose game-value writes fail: the first one after writing (written, reported
/// failed), the second one before writing.
struct FlakyValues {
    inner: strata_core::MemoryStore,
    writes: std::sync::atomic::AtomicUsize,
}

impl ChunkStore for FlakyValues {
    fn world_id(&self) -> strata_core::WorldId {
        self.inner.world_id()
    }
    fn get_record(&self, key: strata_core::MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_record(key)
    }
    fn scan(
        &self,
        range: std::ops::RangeInclusive<strata_core::MortonKey>,
        visit: &mut strata_core::store::ScanVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.inner.scan(range, visit)
    }
    fn commit(&self, batch: &WriteBatch) -> Result<strata_core::CommitReceipt, StoreError> {
        self.inner.commit(batch)
    }
    fn game_data(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.game_data(name)
    }
    fn set_game_data(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        match self.writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => {
                self.inner.set_game_data(name, value)?;
                Err(StoreError::Unavailable("written, but the acknowledgement was lost".into()))
            }
            1 => Err(StoreError::Unavailable("not written".into())),
            _ => self.inner.set_game_data(name, value),
        }
    }
}

/// Game-value writes that fail (one after writing, one before) are retried until they land;
/// a value set again meanwhile wins over the failed one.
#[test]
fn failed_game_value_writes_are_retried_and_the_newest_value_wins() {
    let store = Arc::new(FlakyValues { inner: strata_core::MemoryStore::new(), writes: Default::default() });
    let config = StrataConfig { commit_interval_s: 0.0, ..small_view() };
    let mut app = flat_app_with(|p| p.with_store(store.clone()), config, 0);
    wait_started(&mut app);
    app.world_mut().resource_mut::<StrataPersistence>().set_game_data("player", Some(b"first".to_vec()));
    run_until(&mut app, 500, "the first write failed", |_| store.writes.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    app.world_mut().resource_mut::<StrataPersistence>().set_game_data("player", Some(b"second".to_vec()));
    run_until(&mut app, 500, "the values written", |a| !a.world().resource::<StrataPersistence>().game_data_pending());
    assert!(store.writes.load(std::sync::atomic::Ordering::SeqCst) >= 3, "two failures, then a write");
    assert_eq!(store.inner.game_data("player").unwrap().as_deref(), Some(&b"second"[..]));
}
