//! Headless geology: `MinimalPlugins`, a fixed time step and bounded update loops. Erosion runs
//! on the task pool near the viewer, its batches reach the world and are remeshed like edits,
//! a player edit made meanwhile is never overwritten, and the history is saved.

use crate::common::run_until;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use bevy_strata::geology::{Geology, GeologySettings, GeologyStats, StrataGeologyPlugin};
use bevy_strata::prelude::*;
use bevy_strata::{StrataStreaming, StrataWorld};
use std::sync::Arc;
use std::time::Duration;
use strata_core::{ChunkKey, ChunkStore, ProcessId, WorldGenerator};
use strata_geo::geology::{GeologyConfig, HydraulicConfig};
use strata_geo::ids;
use strata_redb::RedbStore;

/// A steep cone of dirt over granite at the origin, flat granite elsewhere.
struct Cone;

impl WorldGenerator for Cone {
    fn material_at(&self, p: VoxelPos) -> MaterialId {
        let r = ((p.x as f32).powi(2) + (p.z as f32).powi(2)).sqrt();
        let h = (40.0 - r * 1.5).max(0.0) as i32;
        if p.y > h {
            ids::AIR
        } else if p.y <= 0 {
            ids::GRANITE
        } else {
            ids::DIRT
        }
    }
}

fn app(save: &std::path::Path) -> App {
    let config = StrataConfig {
        save_path: Some(save.to_string_lossy().into_owned()),
        view_distance: 96.0,
        lod_max_level: 1,
        lod_split_distance: 2.0,
        max_tasks_in_flight: 16,
        apply_budget_ms: 50.0,
        ambient_occlusion: false,
        ..StrataConfig::default()
    };
    let geology = StrataGeologyPlugin {
        config: GeologyConfig {
            seed: 9,
            hydraulic: Some(HydraulicConfig { rain: 2, erosion_rate: 0.2, ..HydraulicConfig::default() }),
            volcanism: None,
            ..GeologyConfig::default()
        },
        settings: GeologySettings { steps_per_second: 60.0, radius: 48.0, ..GeologySettings::default() },
    };
    let mut app = App::new();
    let plugin = StrataPlugin::new(config).with_generator(Arc::new(Cone));
    app.add_plugins((MinimalPlugins, StrataMinimalPlugins::with_plugin(plugin), geology))
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(16)));
    app.finish();
    app.cleanup();
    app
}

#[test]
fn erosion_runs_near_the_viewer_keeps_player_edits_and_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("geo.strata");
    let brick = VoxelPos::new(10, 25, 0); // a dirt voxel on the slope
    {
        let mut app = app(&save);
        app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(0.0, 45.0, 0.0)));
        run_until(&mut app, 3000, "the cone streamed", |a| a.world().resource::<StrataStreaming>().is_idle());
        let remeshed_before = app.world().resource::<StrataStreaming>().stats().meshes_applied;
        run_until(&mut app, 3000, "erosion changed voxels", |a| {
            a.world().resource::<GeologyStats>().voxels_changed > 200
        });
        // A player edit while geology runs: on the slope, where grains move.
        app.world_mut().resource_mut::<StrataWorld>().world.set_voxel(brick, MaterialId(19));
        let steps = app.world().resource::<GeologyStats>().steps;
        run_until(&mut app, 3000, "more steps", |a| a.world().resource::<GeologyStats>().steps >= steps + 6);
        let stats = app.world().resource::<GeologyStats>().clone();
        assert!(stats.regions > 0 && stats.batches_applied > 0, "{stats:?}");
        assert!(app.world().resource::<Geology>().scheduler().step() >= 6);
        let st = app.world().resource::<StrataStreaming>();
        assert!(st.stats().meshes_applied > remeshed_before, "eroded chunks were remeshed");
        let w = &mut app.world_mut().resource_mut::<StrataWorld>().world;
        assert_eq!(w.voxel(brick).unwrap(), MaterialId(19), "geology never overwrites a player edit");
        // Pausing stops new steps.
        app.world_mut().resource_mut::<GeologySettings>().enabled = false;
        run_until(&mut app, 600, "the running step finished", |a| !a.world().resource::<Geology>().is_running());
        let steps = app.world().resource::<GeologyStats>().steps;
        for _ in 0..30 {
            app.update();
        }
        assert_eq!(app.world().resource::<GeologyStats>().steps, steps);
        app.world_mut().write_message(AppExit::Success);
        app.update();
    }
    let store = RedbStore::open(&save).unwrap();
    let (_, history) = store.get_with_history(ChunkKey::new(0, 1, 0)).unwrap().expect("the cone's top was eroded");
    assert!(history.touched_by(ProcessId::new(0).unwrap()) || history.touched_by(ProcessId::new(1).unwrap()));
    let (chunk, _) = store.get_with_history(brick.chunk()).unwrap().expect("the brick was saved");
    assert_eq!(chunk.get(brick.local().index()), MaterialId(19));
}

/// An infinite geology radius once overflowed the scheduler: a change that fails validation is
/// undone (and reported) before the next step begins, and steps go on.
#[test]
fn invalid_geology_settings_are_undone_and_steps_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(&dir.path().join("geo.strata"));
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(0.0, 45.0, 0.0)));
    run_until(&mut app, 3000, "the cone streamed", |a| a.world().resource::<StrataStreaming>().is_idle());
    let before = app.world().resource::<GeologySettings>().clone();
    app.world_mut().resource_mut::<GeologySettings>().radius = f32::INFINITY;
    app.update();
    assert_eq!(*app.world().resource::<GeologySettings>(), before);
    let rejected: Vec<_> =
        app.world_mut().resource_mut::<Messages<bevy_strata::StrataConfigRejected>>().drain().collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].resource, "GeologySettings");
    assert!(rejected[0].reason.contains("radius"), "{}", rejected[0].reason);
    let steps = app.world().resource::<GeologyStats>().steps;
    run_until(&mut app, 3000, "more steps", |a| a.world().resource::<GeologyStats>().steps >= steps + 2);
}

/// Geology's pace is not tied to the frame rate (in a slow frame, as in a software-rendered
/// window, a frame per colour made a step take many seconds): at the end of every frame a
/// running step has region tasks in flight. A colour whose tasks finished hands over to the
/// next in the same frame, colours without work are skipped, and a step without work begins
/// and ends in one frame.
#[test]
fn a_running_step_never_spends_a_frame_without_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(&dir.path().join("geo.strata"));
    app.world_mut().resource_mut::<GeologySettings>().enabled = false;
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(0.0, 45.0, 0.0)));
    run_until(&mut app, 3000, "the cone streamed", |a| a.world().resource::<StrataStreaming>().is_idle());
    app.world_mut().resource_mut::<GeologySettings>().enabled = true;
    let mut frames = 0;
    while app.world().resource::<GeologyStats>().steps < 8 {
        app.update();
        frames += 1;
        assert!(frames < 5000, "8 steps within 5000 frames");
        let (running, stats) = (app.world().resource::<Geology>().is_running(), app.world().resource::<GeologyStats>());
        assert!(!running || stats.tasks_in_flight > 0, "frame {frames}: a running step without tasks: {stats:?}");
    }
    assert!(app.world().resource::<GeologyStats>().regions > 0, "the steps had work");
}
