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
//! it). The one allowed difference is a *near tie* ([`TIE_TOLERANCE`]): the peer's ray drifts
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
use strata_bench::{keep, median, side_by_side_ns};
use strata_core::{VoxelPos, WorldGenerator};
use strata_index::{IndexConfig, IndexWriter, Ray, RayHit, RayOptions};

/// The peer's spawning distance, chunks. A camera sits at the centre of every chunk a ray
/// crosses; the peer finds a camera's chunk by truncating (`as_ivec3() / 32`), which is one
/// chunk off per negative axis, so a distance of 2 (squared distance ≤ 4 covers the offset
/// (1, 1, 1)) still spawns the chunk the camera sits in.
const SPAWNING_DISTANCE: u32 = 2;

/// How close (voxels) the exact ray must pass to a neighbouring voxel for the peer's hit there
/// to count as a near tie. The peer walks in `f32` and recomputes the direction from an end
/// point it first puts `distance_squared(min, max)` of the loaded box away (about 10⁶ voxels,
/// where an `f32` step is 0.06–0.25 voxels) and then clips back to the box, so its ray is off
/// by a few 10⁻⁴ radians: 0.066 voxels after 118 on one of the report's rays. Where our entry
/// point lies that close to an edge or corner, the peer may take the other side of it.
const TIE_TOLERANCE: f64 = 0.1;

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
        let v = VoxelPos::new(p[0].floor() as i32, p[1].floor() as i32, p[2].floor() as i32).chunk();
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

/// How the peer's hit relates to ours.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Agreement {
    /// Same voxel, material and entry face (which fix the entry distance: the peer returns no
    /// distance of its own).
    Exact,
    /// The peer's walk went round the other side of an edge or corner that our entry point lies
    /// within [`TIE_TOLERANCE`] of (the distance, in voxels): either it entered our voxel
    /// through the other face of that edge, or it entered a solid neighbour of our voxel there.
    NearTie(f64),
}

/// Whether the peer's hit is ours ([`Agreement`]); anything else is an error.
fn agree(
    generator: &impl WorldGenerator,
    r: &Ray,
    ours: &RayHit,
    theirs: Option<&VoxelRaycastResult<u16>>,
) -> Result<Agreement, String> {
    let theirs =
        theirs.ok_or_else(|| format!("ours hits {:?} at {:.4}, the peer nothing", ours.voxel, ours.distance))?;
    let v = theirs.voxel_pos();
    let normal = theirs.voxel_normal().map(|n| [n.x, n.y, n.z]);
    let ours_v = [ours.voxel.x, ours.voxel.y, ours.voxel.z];
    let entry = r.at(ours.distance);
    if [v.x, v.y, v.z] == ours_v {
        if theirs.voxel != WorldVoxel::Solid(ours.material.0) {
            return Err(format!("material: ours {:?}, the peer {:?}", ours.material, theirs.voxel));
        }
        if normal == ours.face.map(|f| f.offset()) {
            return Ok(Agreement::Exact);
        }
        // The other face of an edge our entry point lies near, facing the ray.
        if let Some(n) = normal {
            let b = (0..3).find(|&b| n[b] != 0).unwrap_or(0);
            let plane = f64::from(if n[b] > 0 { ours_v[b] + 1 } else { ours_v[b] });
            let off = (entry[b] - plane).abs();
            if f64::from(n[b]) * r.direction()[b] < 0.0 && off <= TIE_TOLERANCE {
                return Ok(Agreement::NearTie(off));
            }
        }
        return Err(format!("entry face: ours {:?}, the peer's normal {normal:?}", ours.face));
    }
    let neighbour = (0..3).all(|a| ([v.x, v.y, v.z][a] - ours_v[a]).abs() <= 1);
    let material = generator.material_at(VoxelPos::new(v.x, v.y, v.z));
    let off = distance_to_voxel(entry, [v.x, v.y, v.z]);
    if neighbour && off <= TIE_TOLERANCE && theirs.voxel == WorldVoxel::Solid(material.0) && !material.is_air() {
        return Ok(Agreement::NearTie(off));
    }
    Err(format!(
        "ours hits {:?} ({:?} face) at {:.4}, the peer {v} (normal {normal:?}, {:?}; {off:.4} voxels from our entry \
         point, the generator has {material:?} there)",
        ours.voxel, ours.face, ours.distance, theirs.voxel
    ))
}

/// Euclidean distance from `p` to the unit cube of voxel `v` (0 inside).
fn distance_to_voxel(p: [f64; 3], v: [i32; 3]) -> f64 {
    (0..3)
        .map(|a| {
            let (lo, hi) = (f64::from(v[a]), f64::from(v[a]) + 1.0);
            (lo - p[a]).max(p[a] - hi).max(0.0)
        })
        .map(|d| d * d)
        .sum::<f64>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::{Face, MaterialId, NoiseTerrain, TerrainConfig};

    /// A column whose +x neighbour's surface is at least as high, a ray straight down onto
    /// its surface voxel 0.03 voxels inside the +x side (`edge`) or through the middle, and our
    /// hit there.
    fn down_onto_surface(g: &NoiseTerrain, edge: bool) -> (Ray, RayHit) {
        let x = (0..1000).find(|&x| g.height(x + 1, 10) >= g.height(x, 10)).unwrap();
        let h = g.height(x, 10);
        let top = VoxelPos::new(x, h, 10);
        let material = g.material_at(top);
        assert!(!material.is_air());
        let at = f64::from(x) + if edge { 1.0 - 0.03 } else { 0.5 };
        let r = Ray::new([at, f64::from(h) + 20.0, 10.5], [0.0, -1.0, 0.0]).unwrap();
        (r, RayHit { voxel: top, face: Some(Face::PosY), distance: 19.0, material, chunk: top.chunk() })
    }

    fn peer_hit(v: [i32; 3], normal: Option<Vec3>, material: MaterialId) -> VoxelRaycastResult<u16> {
        VoxelRaycastResult { position: IVec3::from(v).as_vec3(), normal, voxel: WorldVoxel::Solid(material.0) }
    }

    #[test]
    fn the_same_voxel_face_and_material_agree_exactly_and_anything_else_far_away_is_an_error() {
        let g = NoiseTerrain::new(TerrainConfig::default());
        let (r, ours) = down_onto_surface(&g, false);
        let v = [ours.voxel.x, ours.voxel.y, ours.voxel.z];
        let same = peer_hit(v, Some(Vec3::Y), ours.material);
        assert_eq!(agree(&g, &r, &ours, Some(&same)), Ok(Agreement::Exact));
        assert!(agree(&g, &r, &ours, None).is_err(), "a miss is an error");
        let other_material = peer_hit(v, Some(Vec3::Y), MaterialId(ours.material.0 + 1));
        assert!(agree(&g, &r, &ours, Some(&other_material)).is_err());
        // The ray enters through the top, 0.5 voxels from every side edge: no tie.
        let side = peer_hit(v, Some(Vec3::X), ours.material);
        assert!(agree(&g, &r, &ours, Some(&side)).is_err());
        // The voxel below ours, entered 1 voxel later: not a tie.
        let below = g.material_at(VoxelPos::new(v[0], v[1] - 1, v[2]));
        let deeper = peer_hit([v[0], v[1] - 1, v[2]], Some(Vec3::Y), below);
        assert!(agree(&g, &r, &ours, Some(&deeper)).is_err());
    }

    #[test]
    fn a_hit_round_the_other_side_of_a_nearby_edge_is_a_near_tie() {
        let g = NoiseTerrain::new(TerrainConfig::default());
        let (r, ours) = down_onto_surface(&g, true);
        let v = [ours.voxel.x, ours.voxel.y, ours.voxel.z];
        // The entry point is 0.03 voxels from our voxel's +x face, but the ray moves along that
        // face, so it can never enter through it: an error.
        let side = peer_hit(v, Some(Vec3::X), ours.material);
        assert!(agree(&g, &r, &ours, Some(&side)).is_err());
        // The +x neighbour, 0.03 voxels from the entry point, is a near tie if it holds the
        // material the peer reports.
        let n = VoxelPos::new(v[0] + 1, v[1], v[2]);
        let m = g.material_at(n);
        assert!(!m.is_air());
        match agree(&g, &r, &ours, Some(&peer_hit([n.x, n.y, n.z], Some(Vec3::Y), m))) {
            Ok(Agreement::NearTie(off)) => assert!((off - 0.03).abs() < 1e-9, "{off}"),
            other => panic!("{other:?}"),
        }
        let wrong = peer_hit([n.x, n.y, n.z], Some(Vec3::Y), MaterialId(m.0.wrapping_add(1)));
        assert!(agree(&g, &r, &ours, Some(&wrong)).is_err(), "the neighbour must hold what the peer reports");
        // Through the middle, the neighbour is half a voxel away: an error.
        let (mid, ours) = down_onto_surface(&g, false);
        assert!(agree(&g, &mid, &ours, Some(&peer_hit([n.x, n.y, n.z], Some(Vec3::Y), m))).is_err());
    }

    #[test]
    fn distance_to_a_voxel_is_zero_inside_and_euclidean_outside() {
        assert_eq!(distance_to_voxel([0.5, 0.5, 0.5], [0, 0, 0]), 0.0);
        assert!((distance_to_voxel([2.0, 0.5, 0.5], [0, 0, 0]) - 1.0).abs() < 1e-12);
        assert!((distance_to_voxel([-1.0, -1.0, 0.5], [0, 0, 0]) - 2f64.sqrt()).abs() < 1e-12);
        assert!((distance_to_voxel([-3.0, 5.5, 0.0], [-1, 5, 0]) - 2.0).abs() < 1e-12);
    }
}
