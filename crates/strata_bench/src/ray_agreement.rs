//! Whether another engine's ray hit is ours: the agreement rule of `ray.pick_256` against
//! `bevy_voxel_world` (its cast runs in `strata_bench_stream`, which hands its hits in as
//! [`PeerHit`]). Engine-free, so its tests run with the report's.

use strata_core::{VoxelPos, WorldGenerator};
use strata_index::{Ray, RayHit};

/// A peer's hit, in plain types.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeerHit {
    /// The voxel hit.
    pub voxel: [i32; 3],
    /// The outward normal of the face it entered through (`None`: it started inside).
    pub normal: Option<[i32; 3]>,
    /// The material the peer reports there (`None`: not a solid voxel).
    pub material: Option<u16>,
}

/// How close (voxels) the exact ray must pass to a neighbouring voxel for the peer's hit there
/// to count as a near tie. The peer walks in `f32` and recomputes the direction from an end
/// point it first puts `distance_squared(min, max)` of the loaded box away (about 10⁶ voxels,
/// where an `f32` step is 0.06–0.25 voxels) and then clips back to the box, so its ray is off
/// by a few 10⁻⁴ radians: 0.066 voxels after 118 on one of the report's rays. Where our entry
/// point lies that close to an edge or corner, the peer may take the other side of it.
pub const TIE_TOLERANCE: f64 = 0.1;

/// How the peer's hit relates to ours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Agreement {
    /// Same voxel, material and entry face (which fix the entry distance: the peer returns no
    /// distance of its own).
    Exact,
    /// The peer's walk went round the other side of an edge or corner that our entry point lies
    /// within [`TIE_TOLERANCE`] of (the distance, in voxels): either it entered our voxel
    /// through the other face of that edge, or it entered a solid neighbour of our voxel there.
    NearTie(f64),
}

/// Whether the peer's hit is ours ([`Agreement`]); anything else is an error.
pub fn agree(
    generator: &impl WorldGenerator,
    r: &Ray,
    ours: &RayHit,
    theirs: Option<&PeerHit>,
) -> Result<Agreement, String> {
    let theirs =
        theirs.ok_or_else(|| format!("ours hits {:?} at {:.4}, the peer nothing", ours.voxel, ours.distance))?;
    let v = theirs.voxel;
    let normal = theirs.normal;
    let ours_v = [ours.voxel.x, ours.voxel.y, ours.voxel.z];
    let entry = r.at(ours.distance);
    if v == ours_v {
        if theirs.material != Some(ours.material.0) {
            return Err(format!("material: ours {:?}, the peer {:?}", ours.material, theirs.material));
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
    let neighbour = (0..3).all(|a| (v[a] - ours_v[a]).abs() <= 1);
    let material = generator.material_at(VoxelPos::new(v[0], v[1], v[2]));
    let off = distance_to_voxel(entry, v);
    if neighbour && off <= TIE_TOLERANCE && theirs.material == Some(material.0) && !material.is_air() {
        return Ok(Agreement::NearTie(off));
    }
    Err(format!(
        "ours hits {:?} ({:?} face) at {:.4}, the peer {v:?} (normal {normal:?}, material {:?}; {off:.4} voxels from \
         our entry point, the generator has {material:?} there)",
        ours.voxel, ours.face, ours.distance, theirs.material
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
    use strata_core::{Face, MaterialId};
    use strata_geo::{NoiseTerrain, TerrainConfig};

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

    fn peer_hit(v: [i32; 3], normal: Option<[i32; 3]>, material: MaterialId) -> PeerHit {
        PeerHit { voxel: v, normal, material: Some(material.0) }
    }

    #[test]
    fn the_same_voxel_face_and_material_agree_exactly_and_anything_else_far_away_is_an_error() {
        let g = NoiseTerrain::new(TerrainConfig::default());
        let (r, ours) = down_onto_surface(&g, false);
        let v = [ours.voxel.x, ours.voxel.y, ours.voxel.z];
        let same = peer_hit(v, Some([0, 1, 0]), ours.material);
        assert_eq!(agree(&g, &r, &ours, Some(&same)), Ok(Agreement::Exact));
        assert!(agree(&g, &r, &ours, None).is_err(), "a miss is an error");
        let other_material = peer_hit(v, Some([0, 1, 0]), MaterialId(ours.material.0 + 1));
        assert!(agree(&g, &r, &ours, Some(&other_material)).is_err());
        // The ray enters through the top, 0.5 voxels from every side edge: no tie.
        let side = peer_hit(v, Some([1, 0, 0]), ours.material);
        assert!(agree(&g, &r, &ours, Some(&side)).is_err());
        // The voxel below ours, entered 1 voxel later: not a tie.
        let below = g.material_at(VoxelPos::new(v[0], v[1] - 1, v[2]));
        let deeper = peer_hit([v[0], v[1] - 1, v[2]], Some([0, 1, 0]), below);
        assert!(agree(&g, &r, &ours, Some(&deeper)).is_err());
    }

    #[test]
    fn a_hit_round_the_other_side_of_a_nearby_edge_is_a_near_tie() {
        let g = NoiseTerrain::new(TerrainConfig::default());
        let (r, ours) = down_onto_surface(&g, true);
        let v = [ours.voxel.x, ours.voxel.y, ours.voxel.z];
        // The entry point is 0.03 voxels from our voxel's +x face, but the ray moves along that
        // face, so it can never enter through it: an error.
        let side = peer_hit(v, Some([1, 0, 0]), ours.material);
        assert!(agree(&g, &r, &ours, Some(&side)).is_err());
        // The +x neighbour, 0.03 voxels from the entry point, is a near tie if it holds the
        // material the peer reports.
        let n = VoxelPos::new(v[0] + 1, v[1], v[2]);
        let m = g.material_at(n);
        assert!(!m.is_air());
        match agree(&g, &r, &ours, Some(&peer_hit([n.x, n.y, n.z], Some([0, 1, 0]), m))) {
            Ok(Agreement::NearTie(off)) => assert!((off - 0.03).abs() < 1e-9, "{off}"),
            other => panic!("{other:?}"),
        }
        let wrong = peer_hit([n.x, n.y, n.z], Some([0, 1, 0]), MaterialId(m.0.wrapping_add(1)));
        assert!(agree(&g, &r, &ours, Some(&wrong)).is_err(), "the neighbour must hold what the peer reports");
        // Through the middle, the neighbour is half a voxel away: an error.
        let (mid, ours) = down_onto_surface(&g, false);
        assert!(agree(&g, &mid, &ours, Some(&peer_hit([n.x, n.y, n.z], Some([0, 1, 0]), m))).is_err());
    }

    #[test]
    fn distance_to_a_voxel_is_zero_inside_and_euclidean_outside() {
        assert_eq!(distance_to_voxel([0.5, 0.5, 0.5], [0, 0, 0]), 0.0);
        assert!((distance_to_voxel([2.0, 0.5, 0.5], [0, 0, 0]) - 1.0).abs() < 1e-12);
        assert!((distance_to_voxel([-1.0, -1.0, 0.5], [0, 0, 0]) - 2f64.sqrt()).abs() < 1e-12);
        assert!((distance_to_voxel([-3.0, 5.5, 0.0], [-1, 5, 0]) - 2.0).abs() < 1e-12);
    }
}
