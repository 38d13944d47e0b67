//! In-app debug overlay (feature `debug_ui`, `bevy_egui`): add [`StrataDebugUiPlugin`] to any app
//! that has [`StrataPlugin`](crate::StrataPlugin) and a window.
//!
//! - **F3** toggles a panel with frame time, shown nodes per LOD, tasks in flight, queue depths,
//!   apply time, store and cache statistics, index freshness, and a progress bar while the
//!   view streams. Everything it shows is read from the same `DiagnosticsStore` paths
//!   ([`crate::diagnostics`]) any other tool can read. With the feature `avian` and
//!   `colliders::StrataCollidersPlugin`, a line of collider counters
//!   (`colliders::StrataColliders::stats`). With `StrataTexturesPlugin`, the textures' state.
//! - A **pick inspector** shows the voxel under the pointer (position, material, normal,
//!   distance), from [`VoxelPicked`].
//! - **Sliders** change [`StrataConfig`] (view distance, LOD split distance and hysteresis,
//!   per-frame budget, tasks in flight); the plugin reads the config every frame, so they take
//!   effect live.
//! - With [`StrataGeologyPlugin`](crate::StrataGeologyPlugin): a **Geology** section to pause
//!   it, set its speed and radius, and see regions processed and voxels changed per second.
//! - **Gizmo toggles**: shown node bounds coloured by LOD, octree nodes the index holds, R-tree
//!   boxes, homogeneous regions, and the last pick ray. Drawn in render space (floating-origin
//!   aware), each capped at [`StrataDebugUi::max_boxes`] boxes per frame.

use crate::diagnostics as paths;
use crate::geology::{GeologySettings, GeologyStats};
use crate::messages::VoxelPicked;
use crate::sets::StrataSystems;
use crate::state::StrataWorld;
use crate::streaming::StrataStreaming;
use crate::viewer::{StrataOrigin, ViewerPositions};
use crate::{MAX_LOD_LEVEL, StrataConfig};
use bevy::diagnostic::{DiagnosticPath, DiagnosticsStore, FrameTimeDiagnosticsPlugin};
use bevy::math::DVec3;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, egui};
use std::collections::HashSet;
use strata_core::CHUNK_SIZE;
use strata_index::{ChunkBox, NodeId, ROOT_LEVEL};

/// Adds the overlay (and `EguiPlugin` and `FrameTimeDiagnosticsPlugin` if missing).
pub struct StrataDebugUiPlugin;

impl Plugin for StrataDebugUiPlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<EguiPlugin>() {
            app.add_plugins(EguiPlugin::default());
        }
        if !app.is_plugin_added::<FrameTimeDiagnosticsPlugin>() {
            app.add_plugins(FrameTimeDiagnosticsPlugin::default());
        }
        let schedule = crate::StrataSchedule::of(app);
        app.init_resource::<StrataDebugUi>()
            .add_systems(schedule, (toggle_panel, record_picks, draw_gizmos).chain().in_set(StrataSystems::DebugUi))
            .configure_sets(schedule, StrataSystems::DebugUi.after(StrataSystems::Apply))
            .add_systems(EguiPrimaryContextPass, panel.in_set(StrataSystems::DebugPanel));
    }
}

/// Which gizmos the overlay draws.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Reflect)]
pub struct DebugGizmos {
    /// Bounds of every shown node, coloured by LOD level.
    pub node_bounds: bool,
    /// Octree nodes the index holds (edited data) around shown nodes, by occupancy.
    pub octree_nodes: bool,
    /// R-tree entries (non-air chunks) near the viewers.
    pub rtree_boxes: bool,
    /// Maximal homogeneous regions near the viewers.
    pub homogeneous_regions: bool,
    /// The last pick ray and the voxel it hit.
    pub pick_ray: bool,
}

/// State of the overlay: change it from code too (e.g. open it at start).
#[derive(Resource, Clone, Debug, Reflect)]
#[reflect(Resource)]
pub struct StrataDebugUi {
    /// Whether the panel is shown.
    pub open: bool,
    /// The key that toggles the panel.
    pub toggle_key: KeyCode,
    /// Gizmo toggles.
    pub gizmos: DebugGizmos,
    /// At most this many boxes per gizmo kind and frame.
    pub max_boxes: usize,
    /// Chunks around each viewer scanned for R-tree and homogeneous-region gizmos.
    pub gizmo_radius_chunks: i32,
    /// The last voxel picked under a pointer.
    #[reflect(ignore)]
    pub last_pick: Option<VoxelPicked>,
    /// Why the last change made in the Settings section was not applied (shown there).
    pub settings_error: Option<String>,
}

impl Default for StrataDebugUi {
    fn default() -> Self {
        Self {
            open: false,
            toggle_key: KeyCode::F3,
            gizmos: DebugGizmos::default(),
            max_boxes: 4096,
            gizmo_radius_chunks: 4,
            last_pick: None,
            settings_error: None,
        }
    }
}

fn toggle_panel(keys: Option<Res<ButtonInput<KeyCode>>>, mut ui: ResMut<StrataDebugUi>) {
    if keys.is_some_and(|k| k.just_pressed(ui.toggle_key)) {
        ui.open = !ui.open;
    }
}

fn record_picks(mut picks: MessageReader<VoxelPicked>, mut ui: ResMut<StrataDebugUi>) {
    if let Some(p) = picks.read().last() {
        ui.last_pick = Some(p.clone());
    }
}

/// Colour of LOD level `level` (a hue wheel, so neighbouring levels differ).
pub fn lod_color(level: u32) -> Color {
    Color::hsl((level as f32 * 47.0) % 360.0, 0.9, 0.55)
}

/// Render-space transform of a box given in world voxels (`min`, edge lengths `size`).
fn box_transform(origin: &StrataOrigin, min: DVec3, size: DVec3) -> Transform {
    let centre = min + size * 0.5 - origin.voxel.as_dvec3();
    Transform::from_translation(centre.as_vec3()).with_scale(size.as_vec3())
}

fn node_box(origin: &StrataOrigin, id: NodeId) -> Transform {
    let edge = (CHUNK_SIZE as f64) * f64::from(1u32 << id.level.min(30));
    let min = DVec3::new(f64::from(id.key.x), f64::from(id.key.y), f64::from(id.key.z)) * edge;
    box_transform(origin, min, DVec3::splat(edge))
}

fn chunk_box_transform(origin: &StrataOrigin, b: ChunkBox) -> Transform {
    let s = CHUNK_SIZE as f64;
    let min = DVec3::new(f64::from(b.min.x), f64::from(b.min.y), f64::from(b.min.z)) * s;
    let max = DVec3::new(f64::from(b.max.x) + 1.0, f64::from(b.max.y) + 1.0, f64::from(b.max.z) + 1.0) * s;
    box_transform(origin, min, max - min)
}

/// Chunk boxes of radius `r` around every viewer.
fn viewer_boxes(viewers: &ViewerPositions, r: i32) -> Vec<ChunkBox> {
    viewers
        .viewers
        .iter()
        .map(|&(p, _)| {
            let c = p.to_array().map(|v| (v / CHUNK_SIZE as f64).floor() as i32);
            ChunkBox::new(
                strata_core::ChunkKey::new(c[0] - r, c[1] - r, c[2] - r),
                strata_core::ChunkKey::new(c[0] + r, c[1] + r, c[2] + r),
            )
        })
        .collect()
}

fn draw_gizmos(
    ui: Res<StrataDebugUi>,
    st: Res<StrataStreaming>,
    sw: Res<StrataWorld>,
    origin: Res<StrataOrigin>,
    viewers: Res<ViewerPositions>,
    mut gizmos: Gizmos,
) {
    let g = ui.gizmos;
    let cap = ui.max_boxes;
    if g.node_bounds {
        for id in st.shown_nodes().take(cap) {
            gizmos.cube(node_box(&origin, id), lod_color(id.level));
        }
    }
    if g.octree_nodes {
        let snapshot = sw.index();
        let mut seen = HashSet::new();
        let mut drawn = 0;
        'nodes: for id in st.shown_nodes() {
            for level in id.level.max(1)..=ROOT_LEVEL {
                let a = NodeId::containing(id.key, level - id.level);
                if !seen.insert(a) {
                    break;
                }
                if let Some(s) = snapshot.stored_summary(a) {
                    let color = if s.non_air_count == 0 {
                        Color::srgb(0.4, 0.7, 1.0)
                    } else if s.non_air_count == s.volume {
                        Color::srgb(0.8, 0.5, 0.2)
                    } else {
                        Color::srgb(0.9, 0.9, 0.3)
                    };
                    gizmos.cube(node_box(&origin, a), color);
                    drawn += 1;
                    if drawn >= cap {
                        break 'nodes;
                    }
                }
            }
        }
    }
    if g.rtree_boxes || g.homogeneous_regions {
        let snapshot = sw.index();
        for b in viewer_boxes(&viewers, ui.gizmo_radius_chunks.clamp(0, 64)) {
            if g.rtree_boxes {
                for e in snapshot.chunks_in(b).take(cap) {
                    gizmos.cube(chunk_box_transform(&origin, ChunkBox::new(e.key, e.key)), Color::srgb(1.0, 0.2, 0.6));
                }
            }
            if g.homogeneous_regions {
                for r in snapshot.homogeneous_regions(b, 0).into_iter().take(cap) {
                    let c = sw.registry.get(r.summary.dominant).map_or(Color::WHITE, |m| {
                        let [r, g, b, _] = m.color;
                        Color::linear_rgb(r, g, b)
                    });
                    gizmos.cube(chunk_box_transform(&origin, r.chunks), c);
                }
            }
        }
    }
    if g.pick_ray
        && let Some(p) = &ui.last_pick
    {
        let from = (p.ray_origin - origin.voxel.as_dvec3()).as_vec3();
        let to = from + p.ray_direction * p.distance;
        gizmos.line(from, to, Color::srgb(1.0, 0.1, 0.1));
        let v = DVec3::new(f64::from(p.voxel.x), f64::from(p.voxel.y), f64::from(p.voxel.z));
        gizmos.cube(box_transform(&origin, v, DVec3::ONE), Color::srgb(1.0, 0.1, 0.1));
    }
}

fn value(d: &DiagnosticsStore, path: &DiagnosticPath) -> Option<f64> {
    d.get(path).and_then(|d| d.smoothed())
}

/// The newest measurement of `path`: for values a smoothed average would carry over from a
/// state that has ended (the view's completeness).
fn latest(d: &DiagnosticsStore, path: &DiagnosticPath) -> Option<f64> {
    d.get(path).and_then(|d| d.value())
}

// A Bevy system: its parameters are its dependencies.
#[allow(clippy::too_many_arguments)]
fn panel(
    mut contexts: EguiContexts,
    mut ui_state: ResMut<StrataDebugUi>,
    mut config: ResMut<StrataConfig>,
    diagnostics: Res<DiagnosticsStore>,
    st: Res<StrataStreaming>,
    sw: Res<StrataWorld>,
    persistence: Res<crate::StrataPersistence>,
    mut geology: Option<ResMut<GeologySettings>>,
    geology_stats: Option<Res<GeologyStats>>,
    textures: Option<Res<crate::StrataTextures>>,
    #[cfg(feature = "avian")] colliders: Option<Res<crate::colliders::StrataColliders>>,
) -> Result {
    let (done, total) = st.view_progress();
    let streaming = total > 0 && done < total;
    if !ui_state.open && !streaming {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    if !ui_state.open {
        // Closed panel: only the loading bar while the view streams.
        egui::Area::new(egui::Id::new("strata_loading")).anchor(egui::Align2::CENTER_BOTTOM, [0.0, -16.0]).show(
            ctx,
            |ui| {
                ui.add(
                    egui::ProgressBar::new(done as f32 / total as f32)
                        .desired_width(320.0)
                        .text(format!("streaming {done}/{total} nodes")),
                );
            },
        );
        return Ok(());
    }
    let mut open = ui_state.open;
    egui::Window::new("Strata (F3)").open(&mut open).default_width(320.0).show(ctx, |ui| {
        let fps = value(&diagnostics, &FrameTimeDiagnosticsPlugin::FPS);
        let ft = value(&diagnostics, &FrameTimeDiagnosticsPlugin::FRAME_TIME);
        ui.label(format!(
            "{} fps, {} ms/frame",
            fps.map_or("–".into(), |v| format!("{v:.0}")),
            ft.map_or("–".into(), |v| format!("{v:.1}"))
        ));
        if total > 0 {
            ui.add(egui::ProgressBar::new(done as f32 / total as f32).text(format!("view {done}/{total} nodes")));
        }
        egui::CollapsingHeader::new("Streaming").default_open(true).show(ui, |ui| {
            let per_level = st.shown_per_level();
            let levels: Vec<String> =
                per_level.iter().enumerate().filter(|&(_, n)| *n > 0).map(|(l, n)| format!("L{l}: {n}")).collect();
            ui.label(format!("shown nodes: {}", if levels.is_empty() { "none".into() } else { levels.join("  ") }));
            if let (Some(shown), Some(covered)) =
                (latest(&diagnostics, &paths::VIEW_DISPLAYED), latest(&diagnostics, &paths::VIEW_COVERED))
            {
                ui.label(format!(
                    "on screen: {:.1} % of the view with its own mesh, {:.1} % covered (hand-over)",
                    shown * 100.0,
                    covered * 100.0
                ));
            }
            let get = |p: &DiagnosticPath| value(&diagnostics, p).unwrap_or(0.0);
            let s = st.stats();
            ui.label(format!(
                "tasks in flight {:.0} (target {}, {:.0} µs each) · queued {:.0} · ready {:.0}",
                get(&paths::TASKS_IN_FLIGHT),
                s.in_flight_target,
                s.mean_task_us,
                get(&paths::QUEUE_DEPTH),
                get(&paths::READY_DEPTH)
            ));
            ui.label(format!(
                "apply {:.2} ms/frame ({} results) · stale dropped {}",
                get(&paths::APPLY_MS),
                s.applied_last_frame,
                s.dropped_stale
            ));
            if let Some(t) = &textures {
                ui.label(format!("textures: {}", **t));
            }
            #[cfg(feature = "avian")]
            if let Some(c) = &colliders {
                let c = c.stats();
                ui.label(format!(
                    "colliders {} of {} chunks in range · building {} · {} built, last {:.0} µs",
                    c.colliders,
                    c.chunks_in_range,
                    c.builds_in_flight,
                    c.builds_done,
                    c.last_build.as_secs_f64() * 1e6
                ));
            }
        });
        egui::CollapsingHeader::new("Store & index").default_open(true).show(ui, |ui| {
            let get = |p: &DiagnosticPath| value(&diagnostics, p);
            let w = sw.world.stats();
            ui.label(format!(
                "resident chunks {} · cache hit rate {:.1} %",
                w.resident_chunks,
                w.cache_hit_rate() * 100.0
            ));
            ui.label(format!("pending edits {} · dirty chunks {}", w.pending_edits, w.dirty_chunks));
            match (get(&paths::COMMITTED_CHUNKS), get(&paths::COMMITTED_BYTES), get(&paths::COMPRESSION_RATIO)) {
                (Some(c), Some(b), Some(r)) => ui.label(format!(
                    "committed {c:.0} chunk records, {:.1} KiB, ratio {r:.1}× · durable to version {}",
                    b / 1024.0,
                    persistence.durable_version
                )),
                _ => ui.label("committed: nothing yet"),
            };
            ui.label(format!(
                "index: queue {:.0} · lag {:.0} versions · {} roots · {} R-tree entries",
                get(&paths::INDEX_QUEUE).unwrap_or(0.0),
                get(&paths::INDEX_LAG).unwrap_or(0.0),
                sw.index().root_count(),
                sw.index().rtree_len()
            ));
        });
        egui::CollapsingHeader::new("Pick").default_open(true).show(ui, |ui| match &ui_state.last_pick {
            Some(p) => {
                let name = sw.registry.get(p.material).map_or("unknown", |m| m.name.as_str());
                ui.label(format!(
                    "voxel ({}, {}, {})  {} (id {})",
                    p.voxel.x, p.voxel.y, p.voxel.z, name, p.material.0
                ));
                ui.label(format!("normal {:?} · distance {:.1}", p.normal.to_array(), p.distance));
            }
            None => {
                ui.label("point at the world");
            }
        });
        if let (Some(settings), Some(gs)) = (geology.as_deref_mut(), geology_stats.as_deref()) {
            egui::CollapsingHeader::new("Geology").default_open(true).show(ui, |ui| geology_section(ui, settings, gs));
        }
        egui::CollapsingHeader::new("Settings (live)").default_open(false).show(ui, |ui| {
            let mut edited = config.clone();
            ui.add(egui::Slider::new(&mut edited.lod_max_level, 0..=MAX_LOD_LEVEL).text("max LOD level"));
            ui.add(egui::Slider::new(&mut edited.lod_split_distance, 0.5..=6.0).text("LOD split distance"));
            ui.add(egui::Slider::new(&mut edited.lod_hysteresis, 0.0..=1.0).text("LOD hysteresis"));
            // The view distance slider ends where these LOD settings stop being accepted.
            let max_view = edited.max_view_distance().max(32.0);
            ui.add(
                egui::Slider::new(&mut edited.view_distance, 32.0..=max_view).logarithmic(true).text("view distance"),
            );
            ui.add(egui::Slider::new(&mut edited.apply_budget_ms, 0.1..=16.0).text("apply budget ms"));
            ui.add(egui::Slider::new(&mut edited.max_results_per_frame, 1..=4096).text("results per frame (cap)"));
            ui.add(egui::Slider::new(&mut edited.max_tasks_in_flight, 1..=4096).text("tasks in flight (cap)"));
            if edited != *config {
                match capped_settings(edited) {
                    Ok(accepted) => {
                        *config = accepted;
                        ui_state.settings_error = None;
                    }
                    Err(e) => ui_state.settings_error = Some(e.to_string()),
                }
            }
            if let Some(e) = &ui_state.settings_error {
                ui.colored_label(egui::Color32::from_rgb(255, 120, 90), format!("not applied: {e}"));
            }
        });
        let g = &mut ui_state.gizmos;
        egui::CollapsingHeader::new("Gizmos").default_open(true).show(ui, |ui| {
            ui.checkbox(&mut g.node_bounds, "node bounds (by LOD)");
            ui.checkbox(&mut g.octree_nodes, "octree nodes (edited)");
            ui.checkbox(&mut g.rtree_boxes, "R-tree boxes");
            ui.checkbox(&mut g.homogeneous_regions, "homogeneous regions");
            ui.checkbox(&mut g.pick_ray, "last pick ray");
        });
    });
    ui_state.open = open;
    Ok(())
}

/// What the Settings section applies for `edited`: the view distance pulled down to the
/// largest the LOD settings allow (raising the split distance or lowering the max level
/// shortens it), then validated; `Err` leaves the config as it was.
fn capped_settings(mut edited: StrataConfig) -> Result<StrataConfig, crate::ConfigError> {
    edited.view_distance = edited.view_distance.min(edited.max_view_distance());
    edited.validate()?;
    Ok(edited)
}

fn geology_section(ui: &mut egui::Ui, settings: &mut GeologySettings, gs: &GeologyStats) {
    ui.checkbox(&mut settings.enabled, "erosion, deposition, volcanism running");
    ui.add(egui::Slider::new(&mut settings.steps_per_second, 0.1..=60.0).logarithmic(true).text("steps per second"));
    ui.add(egui::Slider::new(&mut settings.radius, 32.0..=320.0).text("radius (voxels)"));
    let current = gs.current.map_or("–".to_string(), |k| format!("{k:?}"));
    ui.label(format!(
        "{} steps · now {current} · {:.1} regions/s · {:.0} voxels/s",
        gs.steps, gs.regions_per_s, gs.voxels_per_s
    ));
    ui.label(format!(
        "{} voxels changed · {} batches applied · {} dropped (edited meanwhile)",
        gs.voxels_changed, gs.batches_applied, gs.batches_rejected
    ));
    ui.label(format!(
        "tasks {} · queued {} · main thread {:.2} ms/frame",
        gs.tasks_in_flight, gs.queued, gs.main_thread_ms
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_are_in_render_space() {
        let origin = StrataOrigin { voxel: IVec3::new(1000, 0, -1000) };
        let t = node_box(&origin, NodeId::new(1, strata_core::ChunkKey::new(15, 0, -16)));
        // Level 1: 64 voxels; min corner (960, 0, -1024) → render (-40, 0, -24); centre +32.
        assert_eq!(t.translation, Vec3::new(-8.0, 32.0, 8.0));
        assert_eq!(t.scale, Vec3::splat(64.0));
        let b = chunk_box_transform(
            &StrataOrigin::default(),
            ChunkBox::new(strata_core::ChunkKey::new(-1, 0, 0), strata_core::ChunkKey::new(0, 0, 0)),
        );
        assert_eq!(b.translation, Vec3::new(0.0, 16.0, 16.0));
        assert_eq!(b.scale, Vec3::new(64.0, 32.0, 32.0));
    }

    #[test]
    fn lod_colours_differ_between_neighbouring_levels() {
        for l in 0..MAX_LOD_LEVEL {
            assert_ne!(lod_color(l), lod_color(l + 1));
        }
    }

    /// What the sliders can reach is applied only if it validates: the view distance that once
    /// made a million-node plan (level 0, 200,000 voxels) is pulled down to what level 0 allows,
    /// and so is a far view with the finest split the sliders offer.
    #[test]
    fn settings_section_caps_what_it_applies() {
        let wide = StrataConfig { lod_max_level: 0, view_distance: 200_000.0, ..default() };
        let applied = capped_settings(wide).unwrap();
        assert!(applied.view_distance < 2_000.0, "{}", applied.view_distance);
        applied.validate().unwrap();
        let too_fine = StrataConfig {
            lod_max_level: MAX_LOD_LEVEL,
            lod_split_distance: 6.0,
            lod_hysteresis: 1.0,
            view_distance: 131_072.0,
            ..default()
        };
        assert!(too_fine.validate().is_err());
        let applied = capped_settings(too_fine).unwrap();
        assert!(applied.view_distance < 131_072.0);
        applied.validate().unwrap();
        // Within the limits, what was asked is what is applied.
        let fine = StrataConfig { view_distance: 500.0, ..default() };
        assert_eq!(capped_settings(fine.clone()).unwrap(), fine);
    }
}
