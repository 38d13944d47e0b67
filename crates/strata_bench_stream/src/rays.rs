//! `strata_flythrough --rays [--batches N] [--iters N]`: `ray.pick_256` against
//! `bevy_voxel_world`'s own ray cast, the call its users make (`VoxelWorld::raycast` with a
//! filter that accepts every voxel, as in its docs), timed side by side with Strata's
//! `IndexSnapshot::cast_ray_with` in this one process and thread.
//!
//! **Same world, same rays.** Both sides cast the 64 rays of the report's `ray.pick_256`
//! ([`pick_256_rays`]) over the report's index world ([`bench_world`]:
//! `NoiseTerrain::default()`); the peer's voxels come from that generator through its voxel
//! lookup ([`PeerWorld`], its full plugin on [`crate::pools::Pools::PEER`]). Its cast walks
//! loaded chunks only (an unloaded chunk reads as `Unset` and is skipped), so a camera is put in
//! every chunk a ray crosses up to its hit and the app runs until all of those chunks have
//! spawned; nothing updates while timing. Only rays that hit within
//! [`PICK_MAX_DISTANCE`] take part: the peer's cast has no maximum distance (it walks to the
//! end of the loaded chunks), so on a miss it would do other work than ours.
//!
//! **Agreement, asserted before timing.** For every ray both must return the same voxel, the
//! same material and the same entry face (the peer returns no distance; voxel and face fix
//! it). The one allowed difference is a *near tie* ([`strata_bench::ray_agreement::TIE_TOLERANCE`]): the peer's ray drifts
//! by hundredths of a voxel (it walks in `f32` along a direction it recomputes from a
//! far-away `f32` end point), so where our entry point lies within a tenth of a voxel of an
//! edge or corner, the peer may enter our voxel through the other face of that edge, or a
//! solid neighbour of ours there (which must then hold the material the peer reports in the
//! generator). Such rays are counted, with the largest offset seen. Any other disagreement is
//! an error and the report fails.
//!
//! The result line: `ray_pick_rays` (rays compared), `ray_pick_near_ties`,
//! `ray_pick_worst_tie_voxels`, `ray_pick_ours_us` and `ray_pick_peer_us` (medians over rays
//! of per-ray medians, as in the report's line against `fast_dda`),
//! `peer_cameras`, `peer_chunks` and `peer_setup_s` (what loading the peer's chunks took).

use crate::peer_bvw::{PeerReady, PeerWorld, peer_app};
use bevy::ecs::system::SystemState;
use bevy::prelude::*;
use bevy_voxel_world::prelude::*;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use strata_bench::index_metrics::{PICK_MAX_DISTANCE, bench_world, pick_256_rays};
use strata_bench::ray_agreement::{Agreement, PeerHit, agree};
use strata_bench::{keep, median, side_by_side_ns};
use strata_core::VoxelPos;
use strata_index::{IndexConfig, IndexWriter, Ray, RayHit, RayOptions};

/// The peer's spawning distance, chunks. A camera sits at the centre of every chunk a ray
/// crosses; the peer finds a camera's chunk by truncating (`as_ivec3() / 32`), which is one
/// chunk off per negative axis, so a distance of 2 (squared distance ≤ 4 covers the offset
/// (1, 1, 1)) still spawns the chunk the camera sits in.
const SPAWNING_DISTANCE: u32 = 2;

/// Give up loading the peer's chunks after this long.
const SETUP_TIMEOUT: Duration = Duration::from_secs(300);

/// Measures and returns the result line; an error if the casts disagree or the peer's chunks do
/// not load.
pub fn run(batches: usize, iters: usize) -> Result<String, String> {
    let (generator, chunks) = bench_world();
    let rays = pick_256_rays(&generator);
    let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());
    writer.bulk_load(chunks, 2);
    let snap = writer.publish();
    let opts = RayOptions::with_max_distance(PICK_MAX_DISTANCE);
    let mut cases: Vec<(Ray, RayHit)> = Vec::new();
    for r in &rays {
        if let Some(hit) = snap.cast_ray(r, &opts).map_err(|e| format!("our cast failed: {e}"))? {
            cases.push((*r, hit));
        }
    }
    if cases.is_empty() {
        return Err("no ray hits within the maximum distance".into());
    }

    let started = Instant::now();
    let mut app = peer_app(PeerWorld::new(generator.clone(), SPAWNING_DISTANCE));
    let crossed: HashSet<IVec3> = cases.iter().flat_map(|(r, hit)| chunks_crossed(r, hit.distance)).collect();
    for c in &crossed {
        app.world_mut().spawn((
            Camera3d::default(),
            VoxelWorldCamera::<PeerWorld>::default(),
            Transform::from_translation(c.as_vec3() * 32.0 + Vec3::splat(16.0)),
        ));
    }
    while !crossed.iter().all(|c| app.world().resource::<PeerReady>().spawned.contains(c)) {
        if started.elapsed() > SETUP_TIMEOUT {
            return Err(format!(
                "the peer did not load the {} chunks the rays cross in {SETUP_TIMEOUT:?}",
                crossed.len()
            ));
        }
        app.update();
        std::thread::sleep(Duration::from_millis(2));
    }
    let setup_s = started.elapsed().as_secs_f64();
    let peer_chunks = app.world().resource::<PeerReady>().spawned.len();

    let mut state = SystemState::<VoxelWorld<PeerWorld>>::new(app.world_mut());
    let peer = state.get_mut(app.world_mut()).map_err(|e| format!("the peer's VoxelWorld: {e}"))?;
    let peer_rays: Vec<Ray3d> = cases.iter().map(|(r, _)| to_ray3d(r)).collect::<Result<_, _>>()?;
    let accept_all = |_: (Vec3, WorldVoxel<u16>)| true;
    let (mut near_ties, mut worst_tie) = (0, 0.0_f64);
    for (i, ((r, ours), peer_ray)) in cases.iter().zip(&peer_rays).enumerate() {
        let theirs = peer.raycast(*peer_ray, &accept_all);
        let theirs = theirs.map(|h| PeerHit {
            voxel: h.voxel_pos().to_array(),
            normal: h.voxel_normal().map(|n| n.to_array()),
            material: match h.voxel {
                WorldVoxel::Solid(m) => Some(m),
                _ => None,
            },
        });
        match agree(generator.as_ref(), r, ours, theirs.as_ref()) {
            Ok(Agreement::Exact) => {}
            Ok(Agreement::NearTie(off)) => {
                near_ties += 1;
                worst_tie = worst_tie.max(off);
            }
            Err(e) => return Err(format!("ray {i} ({:?} → {:?}): {e}", r.origin(), r.direction())),
        }
    }

    let mut buf = Vec::new();
    let (mut ours_ns, mut peer_ns) = (Vec::new(), Vec::new());
    for ((r, _), peer_ray) in cases.iter().zip(&peer_rays) {
        let (a, b) = side_by_side_ns(
            batches,
            iters,
            || {
                keep(snap.cast_ray_with(r, &opts, &mut buf).expect("every chunk is resident"));
            },
            || {
                keep(peer.raycast(*peer_ray, &accept_all));
            },
        );
        ours_ns.push(a);
        peer_ns.push(b);
    }
    Ok(format!(
        "ray_pick_rays={} ray_pick_near_ties={near_ties} ray_pick_worst_tie_voxels={worst_tie:.4} ray_pick_ours_us={:.4} ray_pick_peer_us={:.4} peer_cameras={} peer_chunks={peer_chunks} peer_setup_s={setup_s:.2}",
        cases.len(),
        median(&ours_ns) / 1e3,
        median(&peer_ns) / 1e3,
        crossed.len(),
    ))
}

/// The chunks the segment from the ray's origin to `distance` (plus one voxel) passes through,
/// found by sampling it every quarter voxel; the agreement check catches a chunk this misses.
fn chunks_crossed(r: &Ray, distance: f64) -> impl Iterator<Item = IVec3> + '_ {
    let steps = ((distance + 1.0) * 4.0).ceil() as u32;
    (0..=steps).map(move |i| {
        let p = r.at(f64::from(i) * 0.25);
        let v = VoxelPos::containing(p).chunk();
        IVec3::new(v.x, v.y, v.z)
    })
}

/// Our ray in the peer's types (`f32`).
fn to_ray3d(r: &Ray) -> Result<Ray3d, String> {
    let [ox, oy, oz] = r.origin();
    let [dx, dy, dz] = r.direction();
    let dir = Dir3::new(Vec3::new(dx as f32, dy as f32, dz as f32)).map_err(|e| format!("ray direction: {e}"))?;
    Ok(Ray3d::new(Vec3::new(ox as f32, oy as f32, oz as f32), dir))
}
