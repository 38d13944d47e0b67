//! The plugin saving to a Redis Cluster: the game opens the store with `strata_redis::open` in
//! a store opener (`StrataPlugin::with_store_opener`, run on the I/O pool at start-up); edits
//! made through `VoxelWorld` are committed there on exit and a new app finds them. Needs a
//! cluster (`.ci/redis_cluster.sh start`, URL in `STRATA_REDIS_CLUSTER`); without one the test
//! prints SKIPPED, unless `CI` is set, where it fails.

use bevy::prelude::*;
use bevy_strata::prelude::*;
use bevy_strata::{StrataPlugin, StrataWorld};
use std::sync::Arc;
use strata_core::ChunkStore;

pub(crate) fn cluster_url() -> Option<String> {
    match std::env::var("STRATA_REDIS_CLUSTER") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!("CI is set but STRATA_REDIS_CLUSTER is not"),
        _ => {
            eprintln!("SKIPPED: STRATA_REDIS_CLUSTER is unset (`.ci/redis_cluster.sh start <dir>` prints it)");
            None
        }
    }
}

/// A plugin saving to the Redis Cluster at `url`, opened by a store opener.
pub(crate) fn redis_plugin(plugin: StrataPlugin, url: &str) -> StrataPlugin {
    let url = url.to_string();
    plugin.with_store_opener("the test cluster", move || Ok(Arc::new(strata_redis::open(&url)?) as Arc<dyn ChunkStore>))
}

fn app(url: &str) -> App {
    crate::common::flat_app_with(
        |plugin| redis_plugin(plugin, url),
        StrataConfig { view_distance: 64.0, ..StrataConfig::default() },
        0,
    )
}

/// A fresh world on the test cluster (`None`: no cluster, skipped).
pub(crate) fn fresh_world_url(name: &str) -> Option<String> {
    Some(strata_redis::url_with_world(&cluster_url()?, &strata_redis::unique_world_name(name)))
}

#[test]
fn edits_are_saved_to_the_cluster_and_found_by_a_new_app() {
    let Some(url) = fresh_world_url("plugin") else { return };
    let edits = [(VoxelPos::new(3, 0, 3), MaterialId(19)), (VoxelPos::new(-40, 5, 70), MaterialId(4))];
    {
        let mut app = app(&url);
        {
            let sw = app.world().resource::<StrataWorld>();
            for (p, m) in edits {
                sw.world.set_voxel(p, m);
            }
        }
        for _ in 0..5 {
            app.update();
        }
        app.world_mut().write_message(AppExit::Success);
        app.update();
    }
    let mut app = app(&url);
    crate::common::wait_started(&mut app);
    let w = &mut app.world_mut().resource_mut::<StrataWorld>().world;
    for (p, m) in edits {
        assert_eq!(w.voxel(p).unwrap(), m, "{p:?} after reopening");
    }
    assert_eq!(w.voxel(VoxelPos::new(3, 1, 3)).unwrap(), MaterialId::AIR);
}
