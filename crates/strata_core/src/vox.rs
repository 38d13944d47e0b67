//! MagicaVoxel `.vox` models: [`VoxScene::parse`] reads a file (every model of its scene, placed
//! by the scene graph's translations and rotations) into voxels in Strata's axes, and
//! [`VoxScene::materials`] maps its palette onto a [`MaterialRegistry`] (nearest colour, or by
//! name where told). Engine-free; `bevy_strata`'s `VoxelWorld::paste` stamps a scene into a
//! world.
//!
//! # Format
//! `VOX ` and a version (150 or 200), then a `MAIN` chunk whose children are read: `SIZE` +
//! `XYZI` pairs (the models, in order), `RGBA` (the palette; MagicaVoxel's default palette
//! when absent), and the scene graph `nTRN` (a transform: its first frame's `_t` translation and
//! `_r` rotation), `nGRP` (a group) and `nSHP` (a shape: models). Other chunks are skipped.
//! A file without a scene graph places each model at the origin.
//!
//! # Axes
//! MagicaVoxel's z is up; a voxel `(x, y, z)` of the scene lands at `(x, z, −1 − y)` (a quarter
//! turn about x: right-handed, y up). A model's voxel `v` sits at its transform's translation
//! plus the rotation of its offset from the model's centre (`floor(size / 2)` for unrotated
//! models, as MagicaVoxel shows them).
//!
//! # Bad input
//! Every malformed file is a [`VoxError`] (truncated chunks, sizes past [`MAX_MODEL_EDGE`],
//! voxels outside their model, bad rotations, dangling or cyclic scene nodes, more than
//! [`MAX_SCENE_VOXELS`] voxels in all); nothing panics and nothing is half-read.

use crate::material::{MaterialId, MaterialKind, MaterialRegistry};
use std::collections::HashMap;

/// The longest model edge MagicaVoxel writes.
pub const MAX_MODEL_EDGE: u32 = 256;
/// The most voxels a scene may place (all its models and instances together).
pub const MAX_SCENE_VOXELS: usize = 1 << 26;
/// The deepest scene graph read.
const MAX_DEPTH: usize = 64;

/// A `.vox` file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VoxError {
    /// It does not start with `VOX ` and a `MAIN` chunk.
    #[error("not a MagicaVoxel file")]
    NotVox,
    /// A version this reader does not know.
    #[error("unsupported .vox version {0}")]
    Version(u32),
    /// A chunk or value runs past the end of its parent.
    #[error("truncated .vox: {0} runs past its end")]
    Truncated(&'static str),
    /// A chunk's content does not make sense.
    #[error("bad .vox {chunk} chunk: {reason}")]
    BadChunk {
        /// The chunk id.
        chunk: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The scene is larger than [`MAX_SCENE_VOXELS`].
    #[error("the scene places more than {MAX_SCENE_VOXELS} voxels")]
    TooLarge,
    /// A palette entry is mapped to a material name the registry does not have.
    #[error("palette entry {index} is mapped to material {name:?}, which the registry does not define")]
    UnknownMaterial {
        /// The palette index.
        index: u8,
        /// The name asked for.
        name: String,
    },
    /// The registry has no material a colour can map to (only air and fluids).
    #[error("the registry has no solid or transparent material to map colours to")]
    NoMaterials,
}

/// A scene read from a `.vox` file: voxels in Strata's axes with their palette index, and the
/// palette.
#[derive(Clone, Debug, PartialEq)]
pub struct VoxScene {
    /// Each voxel's position (relative to the scene's origin, see the module docs) and palette
    /// index (`1..=255`). A voxel written twice keeps the last.
    pub voxels: Vec<([i32; 3], u8)>,
    /// RGBA per palette index (index 0 unused).
    pub palette: [[u8; 4]; 256],
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], VoxError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len()).ok_or(VoxError::Truncated(what))?;
        let s = &self.data[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, VoxError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self, what: &'static str) -> Result<i32, VoxError> {
        self.u32(what).map(|v| v as i32)
    }
    fn string(&mut self, what: &'static str) -> Result<String, VoxError> {
        let n = self.u32(what)? as usize;
        Ok(String::from_utf8_lossy(self.take(n, what)?).into_owned())
    }
    fn dict(&mut self, what: &'static str) -> Result<HashMap<String, String>, VoxError> {
        let n = self.u32(what)?;
        let mut out = HashMap::new();
        for _ in 0..n {
            let k = self.string(what)?;
            let v = self.string(what)?;
            out.insert(k, v);
        }
        Ok(out)
    }
    fn done(&self) -> bool {
        self.at >= self.data.len()
    }
}

/// A model: its size and voxels (`x, y, z, index`).
struct Model {
    size: [u32; 3],
    voxels: Vec<[u8; 4]>,
}

/// A scene graph node.
enum Node {
    Transform { child: i32, rotation: [[i32; 3]; 3], translation: [i32; 3] },
    Group { children: Vec<i32> },
    Shape { models: Vec<i32> },
}

fn bad(chunk: &'static str, reason: impl Into<String>) -> VoxError {
    VoxError::BadChunk { chunk, reason: reason.into() }
}

/// The rotation a `_r` byte encodes: bits 0–1 the column of row 0's non-zero entry, bits 2–3
/// row 1's, row 2's the remaining column; bits 4, 5, 6 negate rows 0, 1, 2.
fn rotation(byte: u8) -> Result<[[i32; 3]; 3], VoxError> {
    let (c0, c1) = (usize::from(byte & 3), usize::from(byte >> 2 & 3));
    if c0 > 2 || c1 > 2 || c0 == c1 {
        return Err(bad("nTRN", format!("rotation {byte} is not a rotation")));
    }
    let c2 = 3 - c0 - c1;
    let mut m = [[0; 3]; 3];
    for (row, col) in [c0, c1, c2].into_iter().enumerate() {
        m[row][col] = if byte >> (4 + row) & 1 == 1 { -1 } else { 1 };
    }
    Ok(m)
}

impl VoxScene {
    /// Reads a `.vox` file (see the module docs).
    ///
    /// # Errors
    /// [`VoxError`] for anything malformed; nothing is returned half-read.
    ///
    /// # Runtime
    /// O(file size + voxels placed).
    pub fn parse(bytes: &[u8]) -> Result<Self, VoxError> {
        let mut r = Reader { data: bytes, at: 0 };
        if r.take(4, "header").map_err(|_| VoxError::NotVox)? != b"VOX " {
            return Err(VoxError::NotVox);
        }
        let version = r.u32("header").map_err(|_| VoxError::NotVox)?;
        if !(150..=200).contains(&version) {
            return Err(VoxError::Version(version));
        }
        if r.take(4, "MAIN").map_err(|_| VoxError::NotVox)? != b"MAIN" {
            return Err(VoxError::NotVox);
        }
        let content = r.u32("MAIN")? as usize;
        let children = r.u32("MAIN")? as usize;
        r.take(content, "MAIN")?;
        let body = r.take(children, "MAIN")?;
        let mut r = Reader { data: body, at: 0 };
        let (mut models, mut nodes, mut palette) = (Vec::new(), HashMap::new(), None);
        let mut size: Option<[u32; 3]> = None;
        while !r.done() {
            let id = r.take(4, "chunk id")?;
            let n = r.u32("chunk")? as usize;
            let m = r.u32("chunk")? as usize;
            let mut c = Reader { data: r.take(n, "chunk content")?, at: 0 };
            r.take(m, "chunk children")?;
            match id {
                b"SIZE" => {
                    let s = [c.u32("SIZE")?, c.u32("SIZE")?, c.u32("SIZE")?];
                    if s.iter().any(|&e| e == 0 || e > MAX_MODEL_EDGE) {
                        return Err(bad("SIZE", format!("size {s:?} is outside 1..={MAX_MODEL_EDGE}")));
                    }
                    size = Some(s);
                }
                b"XYZI" => {
                    let s = size.take().ok_or_else(|| bad("XYZI", "voxels without a SIZE before them"))?;
                    let count = c.u32("XYZI")? as usize;
                    let raw = c.take(count.checked_mul(4).ok_or(VoxError::TooLarge)?, "XYZI")?;
                    let voxels: Vec<[u8; 4]> = raw.chunks_exact(4).map(|v| [v[0], v[1], v[2], v[3]]).collect();
                    if let Some(v) = voxels.iter().find(|v| (0..3).any(|a| u32::from(v[a]) >= s[a])) {
                        return Err(bad("XYZI", format!("voxel {:?} lies outside its model of size {s:?}", &v[..3])));
                    }
                    models.push(Model { size: s, voxels });
                }
                b"RGBA" => {
                    let raw = c.take(1024, "RGBA")?;
                    let mut p = [[0u8; 4]; 256];
                    for i in 0..255 {
                        p[i + 1] = [raw[4 * i], raw[4 * i + 1], raw[4 * i + 2], raw[4 * i + 3]];
                    }
                    palette = Some(p);
                }
                b"nTRN" => {
                    let id = c.i32("nTRN")?;
                    c.dict("nTRN")?;
                    let child = c.i32("nTRN")?;
                    let _reserved = c.i32("nTRN")?;
                    let _layer = c.i32("nTRN")?;
                    let frames = c.u32("nTRN")?;
                    let mut rot = rotation(0b0000_0100)?;
                    let mut translation = [0; 3];
                    for f in 0..frames {
                        let d = c.dict("nTRN")?;
                        if f > 0 {
                            continue;
                        }
                        if let Some(t) = d.get("_t") {
                            let v: Vec<i32> = t.split_whitespace().filter_map(|s| s.parse().ok()).collect();
                            translation = <[i32; 3]>::try_from(v.as_slice())
                                .map_err(|_| bad("nTRN", format!("translation {t:?} is not three integers")))?;
                            if translation.iter().any(|c| c.unsigned_abs() > 1 << 24) {
                                return Err(bad("nTRN", format!("translation {t:?} is too far")));
                            }
                        }
                        if let Some(rs) = d.get("_r") {
                            let b: u8 =
                                rs.parse().map_err(|_| bad("nTRN", format!("rotation {rs:?} is not a byte")))?;
                            rot = rotation(b)?;
                        }
                    }
                    nodes.insert(id, Node::Transform { child, rotation: rot, translation });
                }
                b"nGRP" => {
                    let id = c.i32("nGRP")?;
                    c.dict("nGRP")?;
                    let n = c.u32("nGRP")?;
                    let children = (0..n).map(|_| c.i32("nGRP")).collect::<Result<_, _>>()?;
                    nodes.insert(id, Node::Group { children });
                }
                b"nSHP" => {
                    let id = c.i32("nSHP")?;
                    c.dict("nSHP")?;
                    let n = c.u32("nSHP")?;
                    let mut ms = Vec::new();
                    for _ in 0..n {
                        ms.push(c.i32("nSHP")?);
                        c.dict("nSHP")?;
                    }
                    nodes.insert(id, Node::Shape { models: ms });
                }
                _ => {}
            }
        }
        let palette = palette.unwrap_or_else(default_palette);
        let mut scene = VoxScene { voxels: Vec::new(), palette };
        if nodes.is_empty() {
            for m in &models {
                scene.place(m, &rotation(0b0000_0100)?, [0; 3])?;
            }
        } else {
            let identity = rotation(0b0000_0100)?;
            scene.walk(&nodes, &models, 0, identity, [0; 3], 0)?;
        }
        // The axes swap: z up becomes y up.
        for (p, _) in &mut scene.voxels {
            *p = [p[0], p[2], -1 - p[1]];
        }
        Ok(scene)
    }

    /// Places the models under node `id` with the transform so far (`rot`, `t`).
    fn walk(
        &mut self,
        nodes: &HashMap<i32, Node>,
        models: &[Model],
        id: i32,
        rot: [[i32; 3]; 3],
        t: [i32; 3],
        depth: usize,
    ) -> Result<(), VoxError> {
        if depth > MAX_DEPTH {
            return Err(bad("nTRN", "the scene graph is deeper than 64 nodes (a cycle?)"));
        }
        match nodes.get(&id).ok_or_else(|| bad("nTRN", format!("node {id} is referenced but missing")))? {
            Node::Transform { child, rotation, translation } => {
                // parent ∘ child: p ↦ rot·(rotation·p + translation) + t.
                let r = mul(rot, *rotation);
                let moved = apply(rot, *translation);
                self.walk(nodes, models, *child, r, [t[0] + moved[0], t[1] + moved[1], t[2] + moved[2]], depth + 1)
            }
            Node::Group { children } => {
                for c in children {
                    self.walk(nodes, models, *c, rot, t, depth + 1)?;
                }
                Ok(())
            }
            Node::Shape { models: ms } => {
                for m in ms {
                    let model = usize::try_from(*m)
                        .ok()
                        .and_then(|i| models.get(i))
                        .ok_or_else(|| bad("nSHP", format!("model {m} does not exist")))?;
                    self.place(model, &rot, t)?;
                }
                Ok(())
            }
        }
    }

    /// Adds `model`'s voxels, centred, rotated by `rot` and moved by `t` (MagicaVoxel's axes).
    fn place(&mut self, model: &Model, rot: &[[i32; 3]; 3], t: [i32; 3]) -> Result<(), VoxError> {
        if self.voxels.len() + model.voxels.len() > MAX_SCENE_VOXELS {
            return Err(VoxError::TooLarge);
        }
        let s = model.size.map(|e| e as i32);
        for v in &model.voxels {
            // Doubled coordinates of the voxel's centre relative to the model's centre.
            let c = [0, 1, 2].map(|a| 2 * i32::from(v[a]) + 1 - s[a]);
            let r = apply(*rot, c);
            let p = [0, 1, 2].map(|a| r[a].div_euclid(2) + t[a]);
            self.voxels.push((p, v[3]));
        }
        Ok(())
    }

    /// The smallest and largest voxel of the scene (`None` if empty).
    pub fn bounds(&self) -> Option<([i32; 3], [i32; 3])> {
        let first = self.voxels.first()?.0;
        Some(self.voxels.iter().fold((first, first), |(lo, hi), (p, _)| {
            (std::array::from_fn(|a| lo[a].min(p[a])), std::array::from_fn(|a| hi[a].max(p[a])))
        }))
    }

    /// The material of each palette index the scene uses: the one named in `by_name` where it
    /// names one, else the registry's solid or transparent material of the nearest colour
    /// (squared distance in sRGB, alpha included; the lowest id on ties).
    ///
    /// # Errors
    /// [`VoxError::UnknownMaterial`] for a name the registry lacks (used by the scene or not),
    /// [`VoxError::NoMaterials`]
    /// when it has nothing a colour can map to.
    pub fn materials(
        &self,
        registry: &MaterialRegistry,
        by_name: &[(u8, &str)],
    ) -> Result<HashMap<u8, MaterialId>, VoxError> {
        let candidates: Vec<(MaterialId, [f32; 4])> = registry
            .iter()
            .filter(|m| matches!(m.kind, MaterialKind::Solid | MaterialKind::Transparent))
            .filter(|m| registry.shape(MaterialId(m.id)).is_none())
            .map(|m| (MaterialId(m.id), m.color.map(linear_to_srgb)))
            .collect();
        // Every name given must exist, used by the scene or not (a typo is never ignored).
        for &(index, name) in by_name {
            registry.id(name).map_err(|_| VoxError::UnknownMaterial { index, name: name.to_owned() })?;
        }
        let mut out = HashMap::new();
        for &(_, index) in &self.voxels {
            if out.contains_key(&index) {
                continue;
            }
            let id = match by_name.iter().find(|(i, _)| *i == index) {
                Some((_, name)) => {
                    registry.id(name).map_err(|_| VoxError::UnknownMaterial { index, name: (*name).to_owned() })?
                }
                None => {
                    let c = self.palette[usize::from(index)].map(|v| f32::from(v) / 255.0);
                    let d = |m: &[f32; 4]| (0..4).map(|a| (m[a] - c[a]).powi(2)).sum::<f32>();
                    candidates
                        .iter()
                        .min_by(|a, b| d(&a.1).total_cmp(&d(&b.1)).then(a.0.cmp(&b.0)))
                        .ok_or(VoxError::NoMaterials)?
                        .0
                }
            };
            out.insert(index, id);
        }
        Ok(out)
    }
}

/// A linear colour channel in sRGB (alpha passes through when used on it: close enough).
fn linear_to_srgb(v: f32) -> f32 {
    if v <= 0.003_130_8 { v * 12.92 } else { 1.055 * v.powf(1.0 / 2.4) - 0.055 }
}

fn mul(a: [[i32; 3]; 3], b: [[i32; 3]; 3]) -> [[i32; 3]; 3] {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
}

fn apply(m: [[i32; 3]; 3], v: [i32; 3]) -> [i32; 3] {
    std::array::from_fn(|i| (0..3).map(|k| m[i][k] * v[k]).sum())
}

/// MagicaVoxel's default palette (for files without an `RGBA` chunk): 0xAABBGGRR words, index
/// 1 first.
fn default_palette() -> [[u8; 4]; 256] {
    const WORDS: [u32; 255] = include!("vox_default_palette.in");
    let mut p = [[0u8; 4]; 256];
    for (i, w) in WORDS.iter().enumerate() {
        p[i + 1] = w.to_le_bytes();
    }
    p
}

#[cfg(test)]
mod tests;
