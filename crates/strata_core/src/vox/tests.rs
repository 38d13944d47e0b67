use super::*;

/// A chunk: id, content, no children.
fn chunk(id: &[u8; 4], content: &[u8]) -> Vec<u8> {
    let mut out = id.to_vec();
    out.extend((content.len() as u32).to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out.extend(content);
    out
}

fn string(s: &str) -> Vec<u8> {
    let mut out = (s.len() as u32).to_le_bytes().to_vec();
    out.extend(s.as_bytes());
    out
}

fn dict(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
    for (k, v) in pairs {
        out.extend(string(k));
        out.extend(string(v));
    }
    out
}

fn ints(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|i| i.to_le_bytes()).collect()
}

fn size(s: [u32; 3]) -> Vec<u8> {
    chunk(b"SIZE", &s.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>())
}

fn xyzi(voxels: &[[u8; 4]]) -> Vec<u8> {
    let mut c = (voxels.len() as u32).to_le_bytes().to_vec();
    c.extend(voxels.iter().flatten());
    chunk(b"XYZI", &c)
}

fn transform(id: i32, child: i32, frame: &[(&str, &str)]) -> Vec<u8> {
    let mut c = ints(&[id]);
    c.extend(dict(&[]));
    c.extend(ints(&[child, -1, 0, 1]));
    c.extend(dict(frame));
    chunk(b"nTRN", &c)
}

fn group(id: i32, children: &[i32]) -> Vec<u8> {
    let mut c = ints(&[id]);
    c.extend(dict(&[]));
    c.extend(ints(&[children.len() as i32]));
    c.extend(ints(children));
    chunk(b"nGRP", &c)
}

fn shape(id: i32, model: i32) -> Vec<u8> {
    let mut c = ints(&[id]);
    c.extend(dict(&[]));
    c.extend(ints(&[1, model]));
    c.extend(dict(&[]));
    chunk(b"nSHP", &c)
}

fn file(children: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = children.concat();
    let mut out = b"VOX ".to_vec();
    out.extend(150u32.to_le_bytes());
    out.extend(b"MAIN");
    out.extend(0u32.to_le_bytes());
    out.extend((body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

/// A palette whose entry `i` is `(i, 255 − i, 7, 255)`.
fn rgba() -> Vec<u8> {
    chunk(b"RGBA", &(0..256u32).flat_map(|i| [(i + 1) as u8, 254u32.wrapping_sub(i) as u8, 7, 255]).collect::<Vec<_>>())
}

/// Scene voxel `(x, y, z)` (MagicaVoxel's axes) in Strata's: `(x, z, −1 − y)`.
fn strata(p: [i32; 3]) -> [i32; 3] {
    [p[0], p[2], -1 - p[1]]
}

fn sorted(mut v: Vec<([i32; 3], u8)>) -> Vec<([i32; 3], u8)> {
    v.sort_unstable();
    v
}

/// Two models, one moved by (10, 20, 30), the other turned a quarter about z (x → y) and moved
/// by (−5, 0, 0), under a group: every voxel where the rules put it, by hand.
#[test]
fn models_land_where_the_scene_graph_puts_them() {
    // Model 0: 3 × 2 × 1, voxels at (0,0,0) index 1 and (2,1,0) index 2. Centre floor(s/2) = (1,1,0).
    // Model 1: 2 × 1 × 1, voxels (0,0,0) index 3 and (1,0,0) index 4.
    let bytes = file(&[
        size([3, 2, 1]),
        xyzi(&[[0, 0, 0, 1], [2, 1, 0, 2]]),
        size([2, 1, 1]),
        xyzi(&[[0, 0, 0, 3], [1, 0, 0, 4]]),
        transform(0, 1, &[]),
        group(1, &[2, 4]),
        transform(2, 3, &[("_t", "10 20 30")]),
        shape(3, 0),
        // Rotation byte: row 0 → column 1 (negated), row 1 → column 0 (bits 2–3 zero): x' = −y, y' = x.
        transform(4, 5, &[("_t", "-5 0 0"), ("_r", &(1 | 1 << 4).to_string())]),
        shape(5, 1),
        rgba(),
    ]);
    let scene = VoxScene::parse(&bytes).unwrap();
    // Model 0: v − (1, 1, 0) + t.
    let mut want = vec![(strata([9, 19, 30]), 1), (strata([11, 20, 30]), 2)];
    // Model 1: doubled centres c = 2v + 1 − s: (−1, 0, 0) and (1, 0, 0); rotated (x' = −y,
    // y' = x): (0, −1, 0) and (0, 1, 0); halved and floored: (0, −1, 0), (0, 0, 0); + t.
    want.extend([(strata([-5, -1, 0]), 3), (strata([-5, 0, 0]), 4)]);
    assert_eq!(sorted(scene.voxels.clone()), sorted(want));
    assert_eq!(scene.palette[1], [1, 254, 7, 255]);
    assert_eq!(scene.palette[255], [255, 0, 7, 255]);
    assert_eq!(scene.bounds(), Some(([-5, 0, -21], [11, 30, 0])));
}

/// Without a scene graph each model sits at the origin; without a palette the default one.
#[test]
fn a_bare_file_places_models_at_the_origin_with_the_default_palette() {
    let scene = VoxScene::parse(&file(&[size([1, 1, 1]), xyzi(&[[0, 0, 0, 1]])])).unwrap();
    assert_eq!(scene.voxels, vec![([0, 0, -1], 1)]);
    assert_eq!(scene.palette[1], [255, 255, 255, 255], "the default palette starts with white");
    assert_eq!(scene.palette[255], [0x11, 0x11, 0x11, 255]);
}

#[test]
fn the_shipped_model_reads_whole() {
    let bytes = include_bytes!("../../../../assets/models/axes.vox");
    let scene = VoxScene::parse(bytes).unwrap();
    // Ten shapes over four models of 920, 1,640, 1,480 and 332 voxels (counted from the file
    // by hand): three of each of the first three, one of the last.
    assert_eq!(scene.voxels.len(), 3 * (920 + 1640 + 1480) + 332);
    let (lo, hi) = scene.bounds().unwrap();
    assert!((0..3).all(|a| hi[a] - lo[a] < 512), "{lo:?} {hi:?}");
    assert!(scene.voxels.iter().all(|&(_, i)| i > 0));
}

#[test]
fn colours_map_to_the_nearest_material_or_by_name() {
    let registry = MaterialRegistry::builtin();
    let stone = registry.get(registry.id("stone").unwrap()).unwrap().color.map(linear_to_srgb);
    let brick = registry.get(registry.id("brick").unwrap()).unwrap().color.map(linear_to_srgb);
    let mut palette = [[0u8; 4]; 256];
    palette[1] = stone.map(|v| (v * 255.0).round() as u8);
    palette[2] = brick.map(|v| (v * 255.0).round() as u8);
    let scene = VoxScene { voxels: vec![([0; 3], 1), ([1, 0, 0], 2), ([2, 0, 0], 3)], palette };
    let map = scene.materials(&registry, &[(3, "glass")]).unwrap();
    assert_eq!(map[&1], registry.id("stone").unwrap());
    assert_eq!(map[&2], registry.id("brick").unwrap());
    assert_eq!(map[&3], registry.id("glass").unwrap());
    assert_eq!(
        scene.materials(&registry, &[(3, "unobtainium")]),
        Err(VoxError::UnknownMaterial { index: 3, name: "unobtainium".into() })
    );
    let air_only =
        MaterialRegistry::from_ron_str("(materials: [(id: 0, name: \"air\", color: (0,0,0,0), kind: Air)])").unwrap();
    assert_eq!(scene.materials(&air_only, &[]), Err(VoxError::NoMaterials));
}

/// Every way a file can be wrong is a typed error: no panic, nothing returned.
#[test]
fn bad_files_are_typed_errors() {
    let good = file(&[size([2, 2, 2]), xyzi(&[[1, 1, 1, 5]]), transform(0, 1, &[]), shape(1, 0)]);
    assert!(VoxScene::parse(&good).is_ok());
    assert_eq!(VoxScene::parse(b"PNG\x89"), Err(VoxError::NotVox));
    assert_eq!(VoxScene::parse(b""), Err(VoxError::NotVox));
    let mut old = good.clone();
    old[4] = 99;
    assert_eq!(VoxScene::parse(&old), Err(VoxError::Version(99)));
    // Every truncation of the good file.
    for n in 0..good.len() {
        assert!(VoxScene::parse(&good[..n]).is_err(), "{n} bytes parsed");
    }
    let errs = [
        file(&[size([0, 2, 2]), xyzi(&[])]),
        file(&[size([300, 2, 2]), xyzi(&[])]),
        file(&[size([2, 2, 2]), xyzi(&[[2, 0, 0, 1]])]),
        file(&[xyzi(&[[0, 0, 0, 1]])]),
        file(&[size([2, 2, 2]), xyzi(&[[0, 0, 0, 1]]), transform(0, 1, &[("_r", "3")]), shape(1, 0)]),
        file(&[size([2, 2, 2]), xyzi(&[[0, 0, 0, 1]]), transform(0, 1, &[("_t", "1 2")]), shape(1, 0)]),
        file(&[size([2, 2, 2]), xyzi(&[[0, 0, 0, 1]]), transform(0, 1, &[("_r", "x")]), shape(1, 0)]),
        file(&[size([2, 2, 2]), xyzi(&[[0, 0, 0, 1]]), transform(0, 7, &[])]),
        file(&[size([2, 2, 2]), xyzi(&[[0, 0, 0, 1]]), transform(0, 1, &[]), shape(1, 4)]),
        // A cycle: 0 → 1 → 0.
        file(&[size([2, 2, 2]), xyzi(&[[0, 0, 0, 1]]), transform(0, 1, &[]), group(1, &[0])]),
    ];
    for (i, e) in errs.iter().enumerate() {
        assert!(matches!(VoxScene::parse(e), Err(VoxError::BadChunk { .. })), "case {i}: {:?}", VoxScene::parse(e));
    }
    // A count that claims more voxels than the chunk holds.
    let mut c = 1000u32.to_le_bytes().to_vec();
    c.extend([0, 0, 0, 1]);
    assert!(VoxScene::parse(&file(&[size([2, 2, 2]), chunk(b"XYZI", &c)])).is_err());
    // Random bytes after a valid header never panic.
    let mut rng = crate::rng::SplitMix64(9);
    for _ in 0..2000 {
        let mut bytes = good.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len() as u64) as usize;
            bytes[at] = rng.below(256) as u8;
        }
        let _ = VoxScene::parse(&bytes);
    }
}
