//! Play metrics: what a game's own systems cost on a streamed world. `mover.move_us`: one move
//! of a player-sized box (0.6 × 1.8 × 0.6) at 10 voxels per step over the index area's terrain,
//! with gravity and step-up, through `strata_index::mover` reading an index snapshot. No peer:
//! the peers have no engine-free character mover.

use crate::index_metrics::bench_world;
use crate::{Budget, Metric, keep, time_ns};
use strata_core::MaterialRegistry;
use strata_index::mover::{Body, SnapshotSolids, move_and_slide};
use strata_index::{HitFilter, IndexConfig, IndexWriter};

/// Runs every play metric.
pub fn run(budget: Budget) -> Vec<Metric> {
    let (generator, chunks) = bench_world();
    let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());
    writer.bulk_load(chunks, 2);
    let snapshot = writer.publish();
    let filter = HitFilter::solid_only(&MaterialRegistry::builtin());

    // A walk over the hills: 10 voxels per move along a heading that turns a little each move
    // (and back towards the middle near the edge of the loaded 1024 × 1024 voxels), 2 voxels
    // of fall per move, ledges of one voxel climbed.
    let surface = |x: f64, z: f64| f64::from(generator.height(x as i32, z as i32) + 1);
    let start = [512.3, surface(512.3, 512.7) + 0.5, 512.7];
    let mut body = Body::standing_at(start, [0.6, 1.8, 0.6]);
    let mut heading = 0.0f64;
    let mut moves = 0u64;
    let mut stepped = 0u64;
    let mut travelled = 0.0f64;
    let mut walk = || {
        let [x, _, z] = body.feet();
        heading += 0.05;
        if !(128.0..896.0).contains(&x) || !(128.0..896.0).contains(&z) {
            heading = (512.0 - z).atan2(512.0 - x);
        }
        let delta = [10.0 * heading.cos(), -2.0, 10.0 * heading.sin()];
        let motion = move_and_slide(&mut body, delta, 1.0, &mut SnapshotSolids::new(&snapshot, &filter))
            .expect("a move inside the world");
        moves += 1;
        stepped += u64::from(motion.stepped);
        travelled += motion.moved[0].hypot(motion.moved[2]);
        keep(motion);
    };
    let ns = time_ns(budget.batches, budget.iters(20_000), &mut walk);
    // A walk, not a box pressed against a wall: most moves go most of the way.
    assert!(stepped > 0 && stepped < moves, "the walk climbs some ledges ({stepped} of {moves} moves)");
    assert!(travelled / moves as f64 > 5.0, "{travelled} voxels in {moves} moves");
    vec![Metric::new("mover.move_us", ns / 1e3, "us")]
}
