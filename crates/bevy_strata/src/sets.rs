//! The plugin's public system sets.

use bevy::ecs::schedule::ScheduleLabel;
use bevy::prelude::*;

/// Every system of the plugin belongs to one of these sets, so apps can order theirs around them.
///
/// In [`Update`] — or the schedule chosen with
/// [`StrataPlugin::in_schedule`](crate::StrataPlugin::in_schedule), kept in [`StrataSchedule`]
/// — chained in this order:
/// - [`StrataSystems::Move`]: move every [`crate::VoxelMover`] (gravity, collisions), so the
///   viewers it carries are tracked where they are this frame. Steer movers before it.
/// - [`StrataSystems::TrackViewers`]: check changes to [`crate::StrataConfig`] (a change that
///   fails validation is undone, [`crate::StrataConfigRejected`]), recentre the floating
///   origin, read viewer positions.
/// - [`StrataSystems::PlanLod`]: choose the octree nodes to show (load / unload / change LOD).
/// - [`StrataSystems::ApplyEdits`]: fold edits made through [`crate::VoxelWorld`] into the
///   world, queue remeshing, feed the index.
/// - [`StrataSystems::Dispatch`]: start meshing and index tasks (and, with
///   [`crate::StrataGeologyPlugin`], geology region tasks; with the feature `avian`'s
///   `colliders::StrataCollidersPlugin`, collider builds) on the task pools.
/// - [`StrataSystems::Poll`]: collect finished tasks (never blocks); geology batches go to the
///   delta log here and are applied by the next frame's `ApplyEdits`.
/// - [`StrataSystems::Apply`]: apply results within the per-frame budget (spawn / update mesh
///   entities, send messages; install finished colliders).
///
/// In [`Last`]: [`StrataSystems::Persist`] (periodic and on-exit durable commits) and
/// [`StrataSystems::Diagnostics`].
///
/// In [`PreUpdate`]: [`StrataSystems::Startup`] (installs the save and the index when the
/// start-up task finished, see [`crate::StrataStatus`]), then [`StrataSystems::Picking`], inside
/// `bevy_picking`'s backend set.
///
/// With the debug overlay (feature `debug_ui`): [`StrataSystems::DebugUi`] in that schedule after
/// `Apply` (the F3 toggle, pick recording, gizmos) and [`StrataSystems::DebugPanel`] in
/// `bevy_egui`'s `EguiPrimaryContextPass` (the panel). Each set lives in one schedule.
///
/// `Move`, `PlanLod` … `Apply` and the periodic commit run only once the status is
/// [`crate::StrataStatus::Ready`] (run condition [`crate::strata_ready`]).
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrataSystems {
    /// Voxel movers.
    Move,
    /// Config checks, floating origin and viewer positions.
    TrackViewers,
    /// LOD selection.
    PlanLod,
    /// Edits into the world.
    ApplyEdits,
    /// Task spawning.
    Dispatch,
    /// Task polling.
    Poll,
    /// Result application.
    Apply,
    /// Durable commits.
    Persist,
    /// Diagnostics.
    Diagnostics,
    /// The picking backend.
    Picking,
    /// Polling the start-up task.
    Startup,
    /// The debug overlay's per-frame systems (feature `debug_ui`).
    DebugUi,
    /// The debug overlay's egui panel (feature `debug_ui`).
    DebugPanel,
}

/// The schedule the streaming sets (`Move` … `Apply`) run in: `Update` unless the game
/// chose another with [`StrataPlugin::in_schedule`](crate::StrataPlugin::in_schedule).
/// Companion plugins ([`crate::StrataGeologyPlugin`], the debug overlay) add their systems to
/// it; add them after [`crate::StrataPlugin`].
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrataSchedule(pub bevy::ecs::schedule::InternedScheduleLabel);

impl StrataSchedule {
    /// The schedule in `app` (`Update` before the plugin is added).
    pub fn of(app: &App) -> bevy::ecs::schedule::InternedScheduleLabel {
        app.world().get_resource::<StrataSchedule>().map_or_else(|| Update.intern(), |s| s.0)
    }
}
