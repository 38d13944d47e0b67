//! Caller-owned vertex and index buffers.

use crate::ao::UNOCCLUDED;
use strata_core::Face;

/// Tangent axes `(P, Q)` per normal axis, with `P × Q = +normal` (x → (y, z), y → (z, x),
/// z → (x, y)). The vertex code below hard-codes them; tests use the table.
#[cfg(test)]
pub(crate) const TANGENTS: [(usize, usize); 3] = [(1, 2), (2, 0), (0, 1)];

/// Texture axes `(u, v)` per normal axis: sides use `v = y`, so textures stand upright.
#[cfg(test)]
const UV_AXES: [(usize, usize); 3] = [(2, 1), (0, 2), (0, 1)];

/// One mesh as flat vertex attributes plus a triangle list.
///
/// Every quad adds 4 vertices and 6 indices (two counter-clockwise triangles seen from the side
/// the normal points to). Per vertex: position in the chunk's local space (voxel units times the
/// LOD voxel size), unit normal, UV in the same units (a texture repeats once per world voxel),
/// material id (for a per-material colour or a texture-array layer), AO light level in
/// `0.0..=1.0` (1.0 = unoccluded, always 1.0 when AO is off), fluid depth (see
/// [`MeshBuffers::fluid_depth`]) and light (see [`MeshBuffers::light`]).
///
/// [`MeshBuffers::reset`] keeps the capacity: reusing one value per worker makes steady-state
/// meshing allocation-free.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeshBuffers {
    /// Vertex positions.
    pub positions: Vec<[f32; 3]>,
    /// Vertex normals.
    pub normals: Vec<[f32; 3]>,
    /// Vertex UVs.
    pub uvs: Vec<[f32; 2]>,
    /// Material id of each vertex (equal on the 4 vertices of a quad).
    pub materials: Vec<u32>,
    /// AO light level of each vertex.
    pub ao: Vec<f32>,
    /// Fluid behind each vertex's face, in world voxels, when
    /// [`MeshOptions::fluid_depth`](crate::MeshOptions::fluid_depth) is on: the run of the
    /// face's fluid from its cell straight away from the face (down from a water surface), rounded
    /// up to a power of two: 1, 2, 4, 8, 16 or 32, and 64 for anything deeper than 32 (or
    /// continuing into an LOD seam). 0.0 on faces of other materials and when the option is off.
    /// Equal on the 4 vertices of a quad.
    pub fluid_depth: Vec<f32>,
    /// Sky light and block light at each vertex, each in `0.0..=1.0` (level / 15): the smooth
    /// corner light of [`Mesher::mesh_lit`](crate::Mesher::mesh_lit), `[1.0, 0.0]` (full
    /// daylight) when meshed without light. A renderer shades with, say,
    /// `max(sky · sun, block · lamp)`.
    pub light: Vec<[f32; 2]>,
    /// Triangle list, 6 indices per quad.
    pub indices: Vec<u32>,
}

/// Light factor of each AO level (table lookup instead of a division per vertex).
const AO_LIGHT: [f32; 4] = [0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0];

/// [`MeshBuffers::light`] of each corner light byte (sky in the low nibble, block in the high).
static LIGHT_LEVEL: [[f32; 2]; 256] = {
    let mut t = [[0.0; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [(i & 15) as f32 / 15.0, (i >> 4) as f32 / 15.0];
        i += 1;
    }
    t
};

/// The largest fluid depth code: deeper than 32 world voxels.
pub(crate) const DEEP_FLUID_CODE: u32 = 7;

/// [`MeshBuffers::fluid_depth`] of each depth code (0 = not a fluid face or not computed;
/// code `k` ≥ 1 is a depth of at most 2^(k−1) world voxels).
const FLUID_DEPTH: [f32; 8] = [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// One quad, before it becomes vertices.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QuadSpec {
    pub face: Face,
    /// The voxel layer the face belongs to (along the normal axis).
    pub slice: u32,
    /// Extent along the first tangent axis, `[start, end)`.
    pub p: [u32; 2],
    /// Extent along the second tangent axis, `[start, end)`.
    pub q: [u32; 2],
    pub material: u16,
    /// Corner AO levels, see [`crate::ao::CORNERS`].
    pub ao: u32,
    /// Fluid depth code (index into `FLUID_DEPTH`).
    pub depth: u8,
    /// Corner light, see [`crate::LightField`]'s face key: per corner 8 bits, sky in the low
    /// nibble, block in the high one.
    pub light: u32,
}

impl MeshBuffers {
    /// Clears every buffer, keeping allocations.
    pub fn reset(&mut self) {
        self.positions.clear();
        self.normals.clear();
        self.uvs.clear();
        self.materials.clear();
        self.ao.clear();
        self.fluid_depth.clear();
        self.light.clear();
        self.indices.clear();
    }

    /// Number of quads.
    pub fn quad_count(&self) -> usize {
        self.positions.len() / 4
    }

    /// Whether the mesh has no geometry.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Appends one quad.
    ///
    /// Builds each attribute as a 4-element array and appends it in one `extend_from_slice`
    /// (one capacity check per attribute, no per-lane stores).
    #[inline]
    pub(crate) fn push_quad<const AXIS: usize>(&mut self, quad: &QuadSpec, scale: f32) {
        let plane = (quad.slice + u32::from(quad.face.is_positive())) as f32 * scale;
        let p = [quad.p[0] as f32 * scale, quad.p[1] as f32 * scale];
        let q = [quad.q[0] as f32 * scale, quad.q[1] as f32 * scale];
        self.push_rect::<AXIS>(plane, p, q, quad);
    }

    /// Appends one quad of `quad`'s face, material, AO, depth and light at `plane` along the
    /// normal axis, spanning `p` and `q` along the tangents (any real extents: model faces
    /// lie inside voxels).
    #[inline]
    pub(crate) fn push_rect<const AXIS: usize>(&mut self, plane: f32, p: [f32; 2], q: [f32; 2], quad: &QuadSpec) {
        let axis = AXIS;
        let positive = quad.face.is_positive();
        let base = self.positions.len() as u32;
        let ([p0, p1], [q0, q1]) = (p, q);
        // Corners (−P,−Q), (+P,−Q), (+P,+Q), (−P,+Q): counter-clockwise around +normal; the
        // negative face walks them backwards.
        let corners: [(f32, f32, u32); 4] = if positive {
            [(p0, q0, 0), (p1, q0, 1), (p1, q1, 2), (p0, q1, 3)]
        } else {
            [(p0, q0, 0), (p0, q1, 3), (p1, q1, 2), (p1, q0, 1)]
        };
        // Tangents (see TANGENTS): x → (P = y, Q = z), y → (P = z, Q = x), z → (P = x, Q = y).
        let place = |(p, q, _): (f32, f32, u32)| match axis {
            0 => [plane, p, q],
            1 => [q, plane, p],
            _ => [p, q, plane],
        };
        // UV axes (see UV_AXES): x → (z, y) = (Q, P), y → (x, z) = (Q, P), z → (x, y) = (P, Q).
        let uv = |(p, q, _): (f32, f32, u32)| if axis == 2 { [p, q] } else { [q, p] };
        let sign = if positive { 1.0 } else { -1.0 };
        let normal = match axis {
            0 => [sign, 0.0, 0.0],
            1 => [0.0, sign, 0.0],
            _ => [0.0, 0.0, sign],
        };
        let levels = corners.map(|(_, _, c)| (quad.ao >> (2 * c)) & 3);
        self.positions.extend_from_slice(&corners.map(place));
        self.normals.extend_from_slice(&[normal; 4]);
        self.uvs.extend_from_slice(&corners.map(uv));
        self.materials.extend_from_slice(&[u32::from(quad.material); 4]);
        self.ao.extend_from_slice(&levels.map(|l| AO_LIGHT[l as usize & 3]));
        self.fluid_depth.extend_from_slice(&[FLUID_DEPTH[usize::from(quad.depth) & 7]; 4]);
        let lights = corners.map(|(_, _, c)| (quad.light >> (8 * c)) & 0xFF);
        self.light.extend_from_slice(&lights.map(|l| LIGHT_LEVEL[l as usize]));
        // Split along the diagonal whose ends are brighter together, so a single dark corner
        // shades one triangle symmetrically (no anisotropy seam). Brightness: AO level times
        // the brighter of the two lights.
        let bright = |i: usize| (levels[i] + 1) * (1 + (lights[i] & 0xF).max(lights[i] >> 4));
        let even_light = lights.iter().all(|&l| l == lights[0]);
        let tri: [u32; 6] = if (quad.ao == UNOCCLUDED && even_light) || bright(0) + bright(2) > bright(1) + bright(3) {
            [0, 1, 2, 0, 2, 3]
        } else {
            [1, 2, 3, 1, 3, 0]
        };
        self.indices.extend_from_slice(&tri.map(|i| base + i));
    }

    /// Appends a quad with free corners (counter-clockwise seen from the side `normal` points
    /// to), unoccluded, of `material` and corner light `light` (see [`QuadSpec::light`]).
    pub(crate) fn push_free(
        &mut self,
        corners: [[f32; 3]; 4],
        normal: [f32; 3],
        uvs: [[f32; 2]; 4],
        material: u16,
        light: u32,
    ) {
        let base = self.positions.len() as u32;
        self.positions.extend_from_slice(&corners);
        self.normals.extend_from_slice(&[normal; 4]);
        self.uvs.extend_from_slice(&uvs);
        self.materials.extend_from_slice(&[u32::from(material); 4]);
        self.ao.extend_from_slice(&[1.0; 4]);
        self.fluid_depth.extend_from_slice(&[0.0; 4]);
        let lights: [usize; 4] = std::array::from_fn(|c| (light >> (8 * c)) as usize & 0xFF);
        self.light.extend_from_slice(&lights.map(|l| LIGHT_LEVEL[l]));
        self.indices.extend_from_slice(&[0, 1, 2, 0, 2, 3].map(|i| base + i));
    }

    /// The quads as axis-aligned boxes (for tests, tools and picking): per quad its face, the
    /// minimum and maximum corner (equal on the normal axis) and its material.
    ///
    /// # Runtime
    /// O(quads).
    pub fn quads(&self) -> impl Iterator<Item = QuadBox> + '_ {
        self.positions.chunks_exact(4).zip(self.normals.chunks_exact(4)).zip(self.materials.chunks_exact(4)).map(
            |((p, n), m)| {
                let mut min = p[0];
                let mut max = p[0];
                for v in &p[1..] {
                    for a in 0..3 {
                        min[a] = min[a].min(v[a]);
                        max[a] = max[a].max(v[a]);
                    }
                }
                let axis = (0..3).find(|&a| n[0][a] != 0.0).unwrap_or(0);
                let face = Face::ALL[2 * axis + usize::from(n[0][axis] > 0.0)];
                QuadBox { face, min, max, material: m[0] }
            },
        )
    }
}

/// A quad read back from [`MeshBuffers::quads`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuadBox {
    /// The direction it faces.
    pub face: Face,
    /// Minimum corner.
    pub min: [f32; 3],
    /// Maximum corner.
    pub max: [f32; 3],
    /// Material id.
    pub material: u32,
}

/// The output of meshing one chunk: opaque and see-through geometry in separate meshes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChunkMesh {
    /// Opaque solids.
    pub opaque: MeshBuffers,
    /// Transparent solids and fluids (render after the opaque pass, blended).
    pub transparent: MeshBuffers,
}

impl ChunkMesh {
    /// Clears both meshes, keeping allocations.
    pub fn reset(&mut self) {
        self.opaque.reset();
        self.transparent.reset();
    }

    /// Quads in both meshes.
    pub fn quad_count(&self) -> usize {
        self.opaque.quad_count() + self.transparent.quad_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
        [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    }

    fn push(m: &mut MeshBuffers, q: &QuadSpec, scale: f32) {
        match q.face.axis() {
            0 => m.push_quad::<0>(q, scale),
            1 => m.push_quad::<1>(q, scale),
            _ => m.push_quad::<2>(q, scale),
        }
    }

    #[test]
    fn triangles_face_their_normal() {
        for face in Face::ALL {
            for ao in [UNOCCLUDED, 0b11_11_11_00] {
                let mut m = MeshBuffers::default();
                push(
                    &mut m,
                    &QuadSpec { face, slice: 3, p: [1, 4], q: [2, 3], material: 9, ao, depth: 0, light: 0x0F0F_0F0F },
                    2.0,
                );
                assert_eq!(m.quad_count(), 1);
                for t in m.indices.chunks_exact(3) {
                    let [a, b, c] = [t[0], t[1], t[2]].map(|i| m.positions[i as usize]);
                    let n = cross([b[0] - a[0], b[1] - a[1], b[2] - a[2]], [c[0] - a[0], c[1] - a[1], c[2] - a[2]]);
                    let dot: f32 = (0..3).map(|i| n[i] * m.normals[0][i]).sum();
                    assert!(dot > 0.0, "{face:?} winding");
                }
                let (ua, va) = UV_AXES[face.axis()];
                for (pos, uv) in m.positions.iter().zip(&m.uvs) {
                    assert_eq!(*uv, [pos[ua], pos[va]]);
                }
                let q = m.quads().next().unwrap();
                assert_eq!(q.face, face);
                assert_eq!(q.max[face.axis()], if face.is_positive() { 8.0 } else { 6.0 });
                m.reset();
                assert!(m.is_empty());
            }
        }
    }
}
