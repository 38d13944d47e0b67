//! Strata under test: `MinimalPlugins` (with [`Pools::STRATA`]) + `TransformPlugin` +
//! [`StrataMinimalPlugins`] with the default configuration (in-memory store, octree LOD,
//! ambient occlusion), or LOD off (`--lod0`: every node one chunk, the work the peer does), or
//! the planet with the globe viewer's view (`--planet`, [`strata_bench::planet_route`]).
//!
//! Besides the common result line it prints `near_view_s`: wall time from the first frame until
//! every node shown within [`NEAR_VOXELS`] of the viewer has its first mesh (the ground a
//! player stands on; `NaN` if that never happened before the flight).

use crate::pools::Pools;
use crate::scenario::{Engine, Scenario, lattice_view};
use bevy::prelude::*;
use bevy_strata::StrataStreaming;
use bevy_strata::geology::{GeologySettings, GeologyStats, StrataGeologyPlugin};
use bevy_strata::prelude::*;
use std::collections::HashSet;
use std::time::Instant;
use strata_index::NodeId;

/// What counts as near the viewer for `near_view_s`, voxels from the node's box.
pub const NEAR_VOXELS: f64 = 64.0;

/// The nodes that got their first mesh (`NodeMeshed`; remeshes are `NodeRemeshed`), until the
/// first view: then only their count is kept. (A set of every node meshed during a long
/// flight grew by ~20 bytes per node and was most of what the live-heap lines measured.)
#[derive(Resource, Default)]
struct FirstMeshed {
    nodes: HashSet<NodeId>,
    /// The count at the first view, once it was taken.
    counted: Option<u64>,
}

fn track_first_meshes(mut loaded: MessageReader<NodeMeshed>, mut first: ResMut<FirstMeshed>) {
    let nodes = loaded.read().map(|m| m.node);
    if first.counted.is_none() {
        first.nodes.extend(nodes);
    } else {
        nodes.for_each(|_| ());
    }
}

/// The Strata app and its viewer.
pub struct StrataEngine {
    app: App,
    viewer: Entity,
    /// Where the viewer is, and when it was first placed (the first frame).
    viewer_at: Vec3,
    first_frame: Option<Instant>,
    near_view_s: Option<f64>,
    /// LOD 0 (the peer's view: [`lattice_view`]) or the default LOD selection.
    lod0: bool,
    view_distance: f32,
}

impl StrataEngine {
    /// A fresh app; `lod0` turns LOD off (every node is one chunk) and measures the view
    /// distance in whole chunks as the peer does (`view_distance_in_chunks`: a chunk at offset
    /// `o` from the viewer's chunk is kept iff `|o|² ≤ (view_distance / 32)²`), so both load the
    /// same chunks; `geology` adds [`StrataGeologyPlugin`] running throughout.
    /// `caps`: the pipeline's caps (`max_tasks_in_flight`, `max_results_per_frame`) instead of
    /// the defaults (`--max-tasks`, `--max-results`).
    pub fn new(sc: &Scenario, lod0: bool, geology: bool, caps: Option<(usize, usize)>) -> Self {
        let defaults = StrataConfig::default();
        let (max_tasks_in_flight, max_results_per_frame) =
            caps.unwrap_or((defaults.max_tasks_in_flight, defaults.max_results_per_frame));
        let mut config = StrataConfig {
            max_tasks_in_flight,
            max_results_per_frame,
            save_path: None,
            view_distance: sc.view_distance,
            lod_max_level: if lod0 { 0 } else { StrataConfig::default().lod_max_level },
            view_distance_in_chunks: lod0,
            ..StrataConfig::default()
        };
        let mut plugin = StrataPlugin::new(config.clone());
        if let Some(route) = &sc.planet {
            // The globe viewer's view: the whole planet, levels up to the top, split at 2.
            config.lod_max_level = bevy_strata::MAX_LOD_LEVEL;
            config.lod_split_distance = 2.0;
            plugin = StrataPlugin::new(config).with_generator(route.planet().clone());
        }
        let mut app = App::new();
        app.add_plugins((
            MinimalPlugins.set(Pools::STRATA.plugin()),
            TransformPlugin,
            StrataMinimalPlugins::with_plugin(plugin),
        ))
        .init_resource::<FirstMeshed>()
        .add_systems(Last, track_first_meshes);
        if geology {
            let settings = GeologySettings { steps_per_second: 8.0, ..GeologySettings::default() };
            app.add_plugins(StrataGeologyPlugin { settings, ..StrataGeologyPlugin::default() });
        }
        app.finish();
        app.cleanup();
        let viewer = app.world_mut().spawn((StreamingViewer::default(), Transform::from_translation(sc.start))).id();
        Self {
            app,
            viewer,
            viewer_at: sc.start,
            first_frame: None,
            near_view_s: None,
            lod0,
            view_distance: sc.view_distance,
        }
    }
}

impl Engine for StrataEngine {
    fn app(&mut self) -> &mut App {
        &mut self.app
    }

    fn set_viewer(&mut self, pos: Vec3) {
        self.first_frame.get_or_insert_with(Instant::now);
        self.viewer_at = pos;
        if let Some(mut t) = self.app.world_mut().get_mut::<Transform>(self.viewer) {
            t.translation = pos;
        }
    }

    fn view_complete(&mut self) -> bool {
        let streaming = self.app.world().resource::<StrataStreaming>();
        if self.near_view_s.is_none() {
            let p = self.viewer_at.as_dvec3().to_array();
            let plan = streaming.plan();
            let mut near = plan.shown_nodes().filter(|n| n.distance_to(p) <= NEAR_VOXELS).peekable();
            if near.peek().is_some() && near.all(|n| plan.is_meshed(n)) {
                self.near_view_s = self.first_frame.map(|t| t.elapsed().as_secs_f64());
            }
        }
        streaming.is_idle()
    }

    /// LOD 0: of the chunks of the view around the viewer ([`lattice_view`], the peer's
    /// rule), those shown with a mesh (current or older; an empty one counts: nothing to
    /// draw). With LOD: of the nodes selected now, those displaying a mesh
    /// (`StrataStreaming::view_displayed`): a node that replaced coarser or finer ones is a
    /// hole until its mesh arrives.
    fn view_fraction(&mut self) -> f64 {
        let streaming = self.app.world().resource::<StrataStreaming>();
        if self.lod0 {
            let plan = streaming.plan();
            let (mut shown, mut all) = (0usize, 0usize);
            for c in lattice_view(self.viewer_at, self.view_distance) {
                all += 1;
                shown += usize::from(plan.is_meshed(NodeId::chunk(ChunkKey::new(c.x, c.y, c.z))));
            }
            shown as f64 / all.max(1) as f64
        } else {
            let (shown, all) = streaming.view_displayed();
            shown as f64 / all.max(1) as f64
        }
    }

    /// With LOD: of the nodes selected now, those whose place shows a mesh — their own or the
    /// older ones they replace (`StrataStreaming::view_covered`, the LOD hand-over). LOD 0 has
    /// no levels to hand over: `None`.
    fn view_covered_fraction(&mut self) -> Option<f64> {
        if self.lod0 {
            return None;
        }
        let (covered, all) = self.app.world().resource::<StrataStreaming>().view_covered();
        Some(covered as f64 / all.max(1) as f64)
    }

    /// The nodes meshed so far; the first call (at the first view) stops the tracking.
    fn grids_ready(&mut self) -> u64 {
        let mut first = self.app.world_mut().resource_mut::<FirstMeshed>();
        if first.counted.is_none() {
            first.counted = Some(first.nodes.len() as u64);
            first.nodes = HashSet::new();
        }
        first.counted.unwrap_or_default()
    }

    fn extra(&mut self) -> String {
        let sw = self.app.world().resource::<bevy_strata::StrataWorld>();
        let memory = format!(
            "{} near_view_s={:.4} voxel_budget_mib={} resident_voxel_mib={:.1} index_mib={:.2} released_chunks={}",
            Pools::STRATA.describe(),
            self.near_view_s.unwrap_or(f64::NAN),
            sw.voxel_budget_bytes() >> 20,
            sw.resident_voxel_bytes() as f64 / f64::from(1u32 << 20),
            sw.index_memory().total() as f64 / f64::from(1u32 << 20),
            sw.index_memory().released_chunks
        );
        match self.app.world().get_resource::<GeologyStats>() {
            Some(g) => format!(
                "{memory} geo_steps={} geo_regions={} geo_voxels={} geo_rejected={}",
                g.steps, g.regions, g.voxels_changed, g.batches_rejected
            ),
            None => memory,
        }
    }
}
