//! Diagnostics published to Bevy's `DiagnosticsStore` (read them with `DiagnosticsStore::get`).

use crate::persistence::StrataPersistence;
use crate::state::StrataWorld;
use crate::streaming::StrataStreaming;
use bevy::diagnostic::{Diagnostic, DiagnosticPath, Diagnostics, RegisterDiagnostic};
use bevy::prelude::*;

/// Shown nodes per LOD level: `strata/nodes_lod_0` … `strata/nodes_lod_12`
/// (index = level, up to [`crate::MAX_LOD_LEVEL`]).
pub const NODES_PER_LOD: [DiagnosticPath; crate::MAX_LOD_LEVEL as usize + 1] = [
    DiagnosticPath::const_new("strata/nodes_lod_0"),
    DiagnosticPath::const_new("strata/nodes_lod_1"),
    DiagnosticPath::const_new("strata/nodes_lod_2"),
    DiagnosticPath::const_new("strata/nodes_lod_3"),
    DiagnosticPath::const_new("strata/nodes_lod_4"),
    DiagnosticPath::const_new("strata/nodes_lod_5"),
    DiagnosticPath::const_new("strata/nodes_lod_6"),
    DiagnosticPath::const_new("strata/nodes_lod_7"),
    DiagnosticPath::const_new("strata/nodes_lod_8"),
    DiagnosticPath::const_new("strata/nodes_lod_9"),
    DiagnosticPath::const_new("strata/nodes_lod_10"),
    DiagnosticPath::const_new("strata/nodes_lod_11"),
    DiagnosticPath::const_new("strata/nodes_lod_12"),
];
/// Load + mesh tasks in flight.
pub const TASKS_IN_FLIGHT: DiagnosticPath = DiagnosticPath::const_new("strata/tasks_in_flight");
/// Nodes queued or waiting for data.
pub const QUEUE_DEPTH: DiagnosticPath = DiagnosticPath::const_new("strata/queue_depth");
/// Finished results not applied yet.
pub const READY_DEPTH: DiagnosticPath = DiagnosticPath::const_new("strata/ready_depth");
/// Main-thread time applying results this frame (ms).
pub const APPLY_MS: DiagnosticPath = DiagnosticPath::const_new("strata/apply_ms");
/// Resident chunks in the cache.
pub const RESIDENT_CHUNKS: DiagnosticPath = DiagnosticPath::const_new("strata/resident_chunks");
/// Cache hit rate (0–1).
pub const CACHE_HIT_RATE: DiagnosticPath = DiagnosticPath::const_new("strata/cache_hit_rate");
/// Edits waiting in the delta log.
pub const PENDING_EDITS: DiagnosticPath = DiagnosticPath::const_new("strata/pending_edits");
/// Chunks changed since the last durable commit.
pub const DIRTY_CHUNKS: DiagnosticPath = DiagnosticPath::const_new("strata/dirty_chunks");
/// Chunk records written by commits since start (a counter: no store scan).
pub const COMMITTED_CHUNKS: DiagnosticPath = DiagnosticPath::const_new("strata/committed_chunks");
/// Encoded bytes written by commits since start.
pub const COMMITTED_BYTES: DiagnosticPath = DiagnosticPath::const_new("strata/committed_bytes");
/// Raw voxel bytes (64 KiB per chunk) ÷ encoded bytes, over the records commits wrote.
pub const COMPRESSION_RATIO: DiagnosticPath = DiagnosticPath::const_new("strata/compression_ratio");
/// Index updates waiting for the next rebuild task.
pub const INDEX_QUEUE: DiagnosticPath = DiagnosticPath::const_new("strata/index_queue");
/// World versions the published index lags behind (0 = fresh).
pub const INDEX_LAG: DiagnosticPath = DiagnosticPath::const_new("strata/index_version_lag");
/// What a player sees of the view, 0–1: of the shown nodes, the fraction displaying a mesh,
/// current or older ([`StrataStreaming::view_displayed`]). A node that replaced coarser or finer
/// ones counts as a hole until its own mesh arrives. Not measured while nothing is shown.
pub const VIEW_DISPLAYED: DiagnosticPath = DiagnosticPath::const_new("strata/view_displayed");
/// What a player sees of the view with the LOD hand-over, 0–1: of the shown nodes, the fraction
/// whose place shows a mesh, their own or that of the nodes they replace, kept on screen until
/// theirs arrives ([`StrataStreaming::view_covered`]). Not measured while nothing is shown.
pub const VIEW_COVERED: DiagnosticPath = DiagnosticPath::const_new("strata/view_covered");
/// Stale results dropped since start.
pub const DROPPED_STALE: DiagnosticPath = DiagnosticPath::const_new("strata/dropped_stale");

/// Voxel data held by the world cache and the index together, MiB (the residency budget bounds
/// it: `StrataConfig::voxel_budget_mib`).
pub const RESIDENT_VOXEL_MIB: DiagnosticPath = DiagnosticPath::const_new("strata/resident_voxel_mib");
/// Everything the index holds (nodes, grids, stubs, R-tree), MiB.
pub const INDEX_MIB: DiagnosticPath = DiagnosticPath::const_new("strata/index_mib");
/// Chunks the index knows but has released (summary only).
pub const RELEASED_CHUNKS: DiagnosticPath = DiagnosticPath::const_new("strata/released_chunks");

pub(crate) fn register(app: &mut App) {
    for p in NODES_PER_LOD {
        app.register_diagnostic(Diagnostic::new(p));
    }
    for p in [
        TASKS_IN_FLIGHT,
        QUEUE_DEPTH,
        READY_DEPTH,
        APPLY_MS,
        VIEW_DISPLAYED,
        VIEW_COVERED,
        RESIDENT_CHUNKS,
        RESIDENT_VOXEL_MIB,
        INDEX_MIB,
        RELEASED_CHUNKS,
        CACHE_HIT_RATE,
        PENDING_EDITS,
        DIRTY_CHUNKS,
        COMMITTED_CHUNKS,
        COMMITTED_BYTES,
        COMPRESSION_RATIO,
        INDEX_QUEUE,
        INDEX_LAG,
        DROPPED_STALE,
    ] {
        app.register_diagnostic(Diagnostic::new(p));
    }
}

pub(crate) fn measure(mut d: Diagnostics, sw: Res<StrataWorld>, st: Res<StrataStreaming>, p: Res<StrataPersistence>) {
    let per_level = st.shown_per_level();
    for (level, &n) in per_level.iter().enumerate() {
        if let Some(path) = NODES_PER_LOD.get(level) {
            d.add_measurement(path, || n as f64);
        }
    }
    let s = st.stats();
    d.add_measurement(&TASKS_IN_FLIGHT, || st.tasks_in_flight() as f64);
    d.add_measurement(&QUEUE_DEPTH, || st.queue_depth() as f64);
    d.add_measurement(&READY_DEPTH, || st.ready_depth() as f64);
    d.add_measurement(&APPLY_MS, || f64::from(s.apply_ms_last_frame));
    d.add_measurement(&DROPPED_STALE, || s.dropped_stale as f64);
    // O(shown) each (a scan of the shown nodes' states), only while the diagnostic is enabled.
    if per_level.iter().any(|&n| n > 0) {
        let fraction = |(part, all): (usize, usize)| part as f64 / all.max(1) as f64;
        d.add_measurement(&VIEW_DISPLAYED, || fraction(st.view_displayed()));
        d.add_measurement(&VIEW_COVERED, || fraction(st.view_covered()));
    }
    let w = sw.world.stats();
    d.add_measurement(&RESIDENT_CHUNKS, || w.resident_chunks as f64);
    d.add_measurement(&CACHE_HIT_RATE, || w.cache_hit_rate());
    d.add_measurement(&PENDING_EDITS, || w.pending_edits as f64);
    d.add_measurement(&DIRTY_CHUNKS, || w.dirty_chunks as f64);
    if p.committed_chunks > 0 {
        d.add_measurement(&COMMITTED_CHUNKS, || p.committed_chunks as f64);
        d.add_measurement(&COMMITTED_BYTES, || p.committed_bytes as f64);
        let raw = p.committed_chunks as f64 * 65536.0;
        d.add_measurement(&COMPRESSION_RATIO, || raw / p.committed_bytes.max(1) as f64);
    }
    d.add_measurement(&INDEX_QUEUE, || sw.index.driver.queue_depth() as f64);
    let lag = w.version.saturating_sub(sw.index().world_version());
    d.add_measurement(&INDEX_LAG, || lag as f64);
    let mib = |b: usize| b as f64 / f64::from(1u32 << 20);
    let im = sw.index_memory();
    d.add_measurement(&RESIDENT_VOXEL_MIB, || mib(sw.resident_voxel_bytes()));
    d.add_measurement(&INDEX_MIB, || mib(im.total()));
    d.add_measurement(&RELEASED_CHUNKS, || im.released_chunks as f64);
}
