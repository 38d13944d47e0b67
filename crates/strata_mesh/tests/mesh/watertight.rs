//! Watertightness against brute force: the unit faces covered by the emitted quads are exactly
//! the exposed voxel faces (no overlap, no hole), per material and per opaque/transparent mesh.

use crate::common;

use common::*;
use proptest::prelude::*;
use strata_core::{Chunk, Face, LocalPos, MaterialId, MaterialKind};
use strata_mesh::{ChunkMesh, MeshBuffers, MeshOptions, Mesher};

const PALETTES: [&[u16]; 4] =
    [&[AIR, STONE], &[AIR, STONE, DIRT, WATER], &[AIR, STONE, WATER, ICE, GLASS, MAGMA, UNKNOWN], &[WATER, ICE, AIR]];

fn neighbor_spec() -> impl Strategy<Value = (u8, u64, usize)> {
    (0u8..4, any::<u64>(), 0usize..8)
}

fn build_spec((kind, seed, pick): (u8, u64, usize), palette: &[u16]) -> NeighborSpec {
    match kind {
        0 => NeighborSpec::Unloaded,
        1 => NeighborSpec::Seam,
        2 => NeighborSpec::Loaded(Chunk::Uniform(MaterialId(palette[pick % palette.len()]))),
        _ => NeighborSpec::Loaded(random_chunk(seed, palette)),
    }
}

/// Meshes and checks coverage, AO (when `ao`) and, when `depth` gives a voxel size, the fluid
/// depth of every face (meshed at that voxel size with `fluid_depth` on).
fn check(center: &Chunk, neighbors: &[NeighborSpec; 6], ao: bool, depth: Option<f32>) -> Result<(), TestCaseError> {
    let table = table();
    let mut mesher = Mesher::new(table.clone());
    let mut mesh = ChunkMesh::default();
    let voxel_size = depth.unwrap_or(1.0);
    let options = MeshOptions { ambient_occlusion: ao, fluid_depth: depth.is_some(), voxel_size };
    mesher.mesh(&hood(center, neighbors), &options, &mut mesh);
    // Back to voxel units (exact: small integers times a power of two).
    for p in mesh.opaque.positions.iter_mut().chain(&mut mesh.transparent.positions) {
        *p = p.map(|v| v / voxel_size);
    }
    for buffers in [&mesh.opaque, &mesh.transparent] {
        prop_assert_eq!(buffers.fluid_depth.len(), buffers.positions.len());
    }
    prop_assert!(mesh.opaque.fluid_depth.iter().all(|&d| d == 0.0), "opaque faces have no fluid depth");
    match depth {
        Some(voxel_size) => check_fluid_depth(&mesh.transparent, center, neighbors, voxel_size)?,
        None => prop_assert!(mesh.transparent.fluid_depth.iter().all(|&d| d == 0.0), "fluid depth is off"),
    }
    let got = all_unit_faces(&mesh);
    for w in got.windows(2) {
        prop_assert!(w[0] != w[1], "overlapping quads cover {:?} twice", w[0]);
    }
    let expected = reference_faces(&table, center, neighbors);
    if got != expected {
        let missing: Vec<_> = expected.iter().filter(|f| got.binary_search(f).is_err()).take(5).collect();
        let extra: Vec<_> = got.iter().filter(|f| expected.binary_search(f).is_err()).take(5).collect();
        prop_assert!(false, "holes {missing:?} extra {extra:?}");
    }
    if ao {
        check_ao(&mesh.opaque, center, neighbors)?;
        check_ao(&mesh.transparent, center, neighbors)?;
    }
    Ok(())
}

/// The unit faces under quad `qi` of `buffers` (voxel size 1).
fn quad_unit_faces(buffers: &MeshBuffers, qi: usize) -> Vec<UnitFace> {
    let quad = qi * 4..qi * 4 + 4;
    let mut cells = Vec::new();
    mesh_unit_faces(
        &MeshBuffers {
            positions: buffers.positions[quad.clone()].to_vec(),
            normals: buffers.normals[quad.clone()].to_vec(),
            materials: buffers.materials[quad].to_vec(),
            ..MeshBuffers::default()
        },
        false,
        &mut cells,
    );
    cells
}

/// The fluid behind the unit face of fluid `m` at `cell`, by the rule of
/// `MeshBuffers::fluid_depth` walked voxel by voxel: the run of `m` from `cell` against the
/// face's normal (into the neighbour across the opposite face: a seam is deep, unloaded space
/// ends it), in world voxels, rounded up to a power of two; 64 past 32.
fn reference_depth(center: &Chunk, neighbors: &[NeighborSpec; 6], face: Face, cell: [i32; 3], m: u16, vs: f32) -> f32 {
    let (a, n) = (face.axis(), face.offset());
    let mut p = cell;
    let mut run = 0u32;
    loop {
        if run as f32 * vs > 32.0 {
            return 64.0;
        }
        let here = if (0..32).contains(&p[a]) {
            Some(center.get(LocalPos::new(p[0] as u8, p[1] as u8, p[2] as u8).index()).0)
        } else {
            match &neighbors[face.opposite() as usize] {
                NeighborSpec::Seam => return 64.0,
                NeighborSpec::Loaded(c) if (-32..64).contains(&p[a]) => {
                    let w = p.map(|v| v.rem_euclid(32) as u8);
                    Some(c.get(LocalPos::new(w[0], w[1], w[2]).index()).0)
                }
                // Unloaded space is solid; past the neighbour nothing is known.
                NeighborSpec::Unloaded | NeighborSpec::Loaded(_) => None,
            }
        };
        if here != Some(m) {
            break;
        }
        run += 1;
        p = [p[0] - n[0], p[1] - n[1], p[2] - n[2]];
    }
    let world = run as f32 * vs;
    let mut d = 1.0;
    while d < world {
        d *= 2.0;
    }
    d
}

/// Every unit face inside a transparent quad has the quad's fluid depth: the reference for
/// fluids, 0 for transparent solids.
fn check_fluid_depth(
    buffers: &MeshBuffers,
    center: &Chunk,
    neighbors: &[NeighborSpec; 6],
    vs: f32,
) -> Result<(), TestCaseError> {
    let table = table();
    for qi in 0..buffers.quad_count() {
        let depth = buffers.fluid_depth[qi * 4];
        prop_assert!(buffers.fluid_depth[qi * 4..qi * 4 + 4].iter().all(|&d| d == depth));
        for (_, face, x, y, z, m) in quad_unit_faces(buffers, qi) {
            let want = if table.kind(MaterialId(m as u16)) == MaterialKind::Fluid {
                reference_depth(center, neighbors, face, [x, y, z], m as u16, vs)
            } else {
                0.0
            };
            prop_assert_eq!(depth, want, "{:?} cell {:?} of material {} at voxel size {}", face, [x, y, z], m, vs);
        }
    }
    Ok(())
}

/// Every unit face inside a quad has the quad's corner AO levels (quads with different AO never
/// merge), computed by brute force.
fn check_ao(buffers: &MeshBuffers, center: &Chunk, neighbors: &[NeighborSpec; 6]) -> Result<(), TestCaseError> {
    const TANGENTS: [(usize, usize); 3] = [(1, 2), (2, 0), (0, 1)];
    const CORNERS: [(i32, i32); 4] = [(-1, -1), (1, -1), (1, 1), (-1, 1)];
    let table = table();
    let opaque =
        |p: [i32; 3]| voxel_at(center, neighbors, p).is_none_or(|id| table.kind(MaterialId(id)) == MaterialKind::Solid);
    for (qi, q) in buffers.quads().enumerate() {
        let a = q.face.axis();
        let (pa, qa) = TANGENTS[a];
        let mut levels = [0u32; 4];
        for v in 0..4 {
            let pos = buffers.positions[qi * 4 + v];
            let sp = if pos[pa] == q.min[pa] { -1 } else { 1 };
            let sq = if pos[qa] == q.min[qa] { -1 } else { 1 };
            let corner = CORNERS.iter().position(|&c| c == (sp, sq)).unwrap_or(0);
            levels[corner] = (buffers.ao[qi * 4 + v] * 3.0).round() as u32;
        }
        for (_, face, x, y, z, _) in quad_unit_faces(buffers, qi) {
            let n = face.offset();
            let air_side = [x + n[0], y + n[1], z + n[2]];
            for (i, (sp, sq)) in CORNERS.into_iter().enumerate() {
                let mut s1 = air_side;
                s1[pa] += sp;
                let mut s2 = air_side;
                s2[qa] += sq;
                let mut d = s1;
                d[qa] += sq;
                let (o1, o2, od) = (u32::from(opaque(s1)), u32::from(opaque(s2)), u32::from(opaque(d)));
                let level = if o1 == 1 && o2 == 1 { 0 } else { 3 - o1 - o2 - od };
                prop_assert_eq!(level, levels[i], "cell {:?} {:?} corner {}", face, [x, y, z], i);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn quads_cover_exactly_the_exposed_faces(
        seed in any::<u64>(),
        palette in 0usize..PALETTES.len(),
        uniform_center in proptest::option::weighted(0.2, 0usize..8),
        specs in proptest::array::uniform6(neighbor_spec()),
        ao in any::<bool>(),
        depth in proptest::option::of(prop_oneof![Just(1.0f32), Just(2.0), Just(8.0)]),
    ) {
        let palette = PALETTES[palette];
        let center = match uniform_center {
            Some(i) => Chunk::Uniform(MaterialId(palette[i % palette.len()])),
            None => random_chunk(seed, palette),
        };
        let neighbors = specs.map(|s| build_spec(s, palette));
        check(&center, &neighbors, ao, depth)?;
    }
}

#[test]
fn fluids_hide_faces_between_cells_of_one_fluid_only() {
    let table = table();
    let mut mesher = Mesher::new(table);
    let mut mesh = ChunkMesh::default();
    // Water everywhere, an ice block inside, water neighbours all round.
    let mut center = Chunk::Uniform(MaterialId(WATER));
    for x in 10..12u8 {
        center.set(LocalPos::new(x, 5, 5).index(), MaterialId(ICE));
    }
    let water = NeighborSpec::Loaded(Chunk::Uniform(MaterialId(WATER)));
    let neighbors: [NeighborSpec; 6] = std::array::from_fn(|_| water.clone());
    mesher.mesh(&hood(&center, &neighbors), &MeshOptions::default(), &mut mesh);
    assert!(mesh.opaque.is_empty());
    let faces = all_unit_faces(&mesh);
    // The ice bar: 10 unit faces outward; the water around it: 10 unit faces facing the ice.
    assert_eq!(faces.iter().filter(|f| f.5 == u32::from(ICE)).count(), 10);
    assert_eq!(faces.iter().filter(|f| f.5 == u32::from(WATER)).count(), 10);
    assert!(faces.iter().all(|f| f.0), "all in the transparent mesh");
    // Ice and water meet with two faces on each shared side, merged: 6 + 6 quads at most.
    assert!(mesh.transparent.quad_count() <= 12);
}

#[test]
fn unloaded_neighbours_are_opaque_and_seams_are_air() {
    let mut mesher = Mesher::new(table());
    let mut mesh = ChunkMesh::default();
    let stone = Chunk::Uniform(MaterialId(STONE));
    let mut neighbors: [NeighborSpec; 6] = std::array::from_fn(|_| NeighborSpec::Unloaded);
    let stats = mesher.mesh(&hood(&stone, &neighbors), &MeshOptions::default(), &mut mesh);
    assert!(stats.skipped && mesh.quad_count() == 0, "no faces towards unloaded space");
    neighbors[Face::PosY as usize] = NeighborSpec::Seam;
    let stats = mesher.mesh(&hood(&stone, &neighbors), &MeshOptions::default(), &mut mesh);
    assert!(!stats.skipped);
    assert_eq!(mesh.opaque.quad_count(), 1, "one merged 32×32 wall towards the seam");
    let q = mesh.opaque.quads().next().unwrap();
    assert_eq!((q.face, q.min, q.max), (Face::PosY, [0.0, 32.0, 0.0], [32.0, 32.0, 32.0]));
}

/// A fluid continues across an LOD seam (no wall of water at the border), while solids and
/// transparent solids still close on it (crack-free).
#[test]
fn seams_close_solids_but_not_fluids() {
    let mut mesher = Mesher::new(table());
    let mut mesh = ChunkMesh::default();
    // Water in the lower half, an ice column through it, stone below the water; seams all round.
    let mut center = Chunk::Uniform(MaterialId::AIR);
    for z in 0..32u8 {
        for x in 0..32u8 {
            center.set(LocalPos::new(x, 0, z).index(), MaterialId(STONE));
            for y in 1..16u8 {
                let m = if (x, z) == (5, 5) { ICE } else { WATER };
                center.set(LocalPos::new(x, y, z).index(), MaterialId(m));
            }
        }
    }
    let seams: [NeighborSpec; 6] = std::array::from_fn(|_| NeighborSpec::Seam);
    mesher.mesh(&hood(&center, &seams), &MeshOptions::default(), &mut mesh);
    let faces = all_unit_faces(&mesh);
    let on_border = |f: &&(bool, Face, i32, i32, i32, u32)| {
        let o = f.1.offset();
        let p = [f.2 + o[0], f.3 + o[1], f.4 + o[2]];
        p.iter().any(|v| !(0..32).contains(v))
    };
    let water = faces.iter().filter(|f| f.5 == u32::from(WATER));
    assert_eq!(water.clone().filter(on_border).count(), 0, "no water face towards a seam");
    assert_eq!(water.count(), 32 * 32 - 1 + 4 * 15, "the surface (but over the ice) and the faces against the ice");
    let ice_border = faces.iter().filter(|f| f.5 == u32::from(ICE)).filter(on_border).count();
    assert_eq!(ice_border, 0, "the ice column touches no seam");
    let stone_border = faces.iter().filter(|f| f.5 == u32::from(STONE)).filter(on_border).count();
    assert_eq!(stone_border, 4 * 32 + 32 * 32, "stone closes on the four sides and below");
    assert_eq!(faces, reference_faces(&table(), &center, &seams));
}

#[test]
fn uniform_hidden_chunks_do_no_work_and_others_are_meshed() {
    let mut mesher = Mesher::new(table());
    let mut mesh = ChunkMesh::default();
    let stone = Chunk::Uniform(MaterialId(STONE));
    let air = NeighborSpec::Loaded(Chunk::Uniform(MaterialId::AIR));
    let mut neighbors: [NeighborSpec; 6] = std::array::from_fn(|_| NeighborSpec::Loaded(stone.clone()));
    assert!(mesher.mesh(&hood(&stone, &neighbors), &MeshOptions::default(), &mut mesh).skipped);
    neighbors[Face::NegZ as usize] = air;
    let stats = mesher.mesh(&hood(&stone, &neighbors), &MeshOptions::default(), &mut mesh);
    assert_eq!((stats.skipped, stats.opaque_quads), (false, 1));
    let air_center = Chunk::Uniform(MaterialId::AIR);
    let seams: [NeighborSpec; 6] = std::array::from_fn(|_| NeighborSpec::Seam);
    assert!(mesher.mesh(&hood(&air_center, &seams), &MeshOptions::default(), &mut mesh).skipped);
}

#[test]
fn lod_scale_multiplies_positions_and_uvs() {
    let mut mesher = Mesher::new(table());
    let mut mesh = ChunkMesh::default();
    let mut c = Chunk::Uniform(MaterialId::AIR);
    c.set(LocalPos::new(1, 2, 3).index(), MaterialId(STONE));
    mesher.mesh(&strata_mesh::Neighborhood::isolated(&c), &MeshOptions::lod(2), &mut mesh);
    assert_eq!(mesh.opaque.quad_count(), 6);
    let top = mesh.opaque.quads().find(|q| q.face == Face::PosY).unwrap();
    assert_eq!((top.min, top.max), ([4.0, 12.0, 12.0], [8.0, 12.0, 16.0]));
    assert!(mesh.opaque.uvs.iter().all(|uv| uv[0] % 4.0 == 0.0 && uv[1] % 4.0 == 0.0));
    assert_eq!(mesh.opaque.indices.len(), 36);
    assert!(mesh.opaque.materials.iter().all(|&m| m == u32::from(STONE)));
}

/// A sea surface gets the depth of the water under it: bucketed per column, continued into a
/// loaded chunk below, cut by unloaded space, deep across a seam.
#[test]
fn fluid_depth_follows_the_water_column() {
    let mut mesher = Mesher::new(table());
    let mut mesh = ChunkMesh::default();
    // Water from y = 31 down to a floor at y = 31 − depth(x); x = 31 has water all the way.
    let mut center = Chunk::Uniform(MaterialId::AIR);
    for z in 0..32u8 {
        for x in 0..32u8 {
            let floor = if x == 31 { 0 } else { 31 - u8::min(x, 31) };
            for y in floor..32u8 {
                let m = if y == floor && x != 31 { STONE } else { WATER };
                center.set(LocalPos::new(x, y, z).index(), MaterialId(m));
            }
        }
    }
    let air = NeighborSpec::Loaded(Chunk::Uniform(MaterialId::AIR));
    let mut neighbors: [NeighborSpec; 6] = std::array::from_fn(|_| air.clone());
    let surface_depths = |mesher: &mut Mesher, mesh: &mut ChunkMesh, neighbors: &[NeighborSpec; 6], vs: f32| {
        let options = MeshOptions { fluid_depth: true, voxel_size: vs, ..MeshOptions::default() };
        mesher.mesh(&hood(&center, neighbors), &options, mesh);
        let mut by_x = [f32::NAN; 32];
        for (qi, q) in mesh.transparent.quads().enumerate() {
            if q.face == Face::PosY {
                let columns = (q.min[0] / vs) as usize..(q.max[0] / vs) as usize;
                by_x[columns].fill(mesh.transparent.fluid_depth[qi * 4]);
            }
        }
        by_x
    };
    // Column x holds x water voxels above its floor (x = 0: none, the floor is at the top).
    let d = surface_depths(&mut mesher, &mut mesh, &neighbors, 1.0);
    assert_eq!(&d[1..10], &[1.0, 2.0, 4.0, 4.0, 8.0, 8.0, 8.0, 8.0, 16.0]);
    assert_eq!((d[16], d[17], d[30]), (16.0, 32.0, 32.0));
    // x = 31: 32 voxels of water, then air below: 32.
    assert_eq!(d[31], 32.0);
    // More water below: deeper than 32.
    neighbors[Face::NegY as usize] = NeighborSpec::Loaded(Chunk::Uniform(MaterialId(WATER)));
    assert_eq!(surface_depths(&mut mesher, &mut mesh, &neighbors, 1.0)[31], 64.0);
    // Unloaded below counts as solid; a seam below counts as deep.
    neighbors[Face::NegY as usize] = NeighborSpec::Unloaded;
    assert_eq!(surface_depths(&mut mesher, &mut mesh, &neighbors, 1.0)[31], 32.0);
    neighbors[Face::NegY as usize] = NeighborSpec::Seam;
    assert_eq!(surface_depths(&mut mesher, &mut mesh, &neighbors, 1.0)[31], 64.0);
    // At voxel size 4 each cell is 4 voxels deep: 1 cell → 4, 8 cells → 32, 9 → deep.
    let d = surface_depths(&mut mesher, &mut mesh, &neighbors, 4.0);
    assert_eq!((d[1], d[2], d[8], d[9]), (4.0, 8.0, 32.0, 64.0));
}
