//! Sequences of edits with extreme values (coordinates at the ends of the `i32` range, huge,
//! negative, NaN and infinite radii, inverted and oversized boxes), interleaved with applies,
//! commits and evictions: never a panic; an oversized edit is refused with a typed error; every
//! voxel an accepted edit wrote reads back as the last write to it — after each apply, and from
//! a fresh world over the same store after the final commit (checked against a map of the
//! expected voxels, filled by brute force here, not by the world's own kernels).
#![no_main]
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::sync::Arc;
use strata_core::{
    ChunkStore, EditError, FlatGenerator, MAX_EDIT_EXTENT, MaterialId, MemoryStore, VoxelPos, World, WorldConfig,
    WorldGenerator,
};

/// Largest box side and sphere radius actually executed (bigger accepted edits are skipped to
/// keep each run fast; refused ones are always tried).
const RUN_BOX: i64 = 12;
const RUN_RADIUS: f32 = 6.0;

fn coord(u: &mut Unstructured, anchor: i32) -> Result<i32> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => u.arbitrary()?,
        _ => anchor.saturating_add(u.int_in_range(-40i32..=40)?),
    })
}

fn pos(u: &mut Unstructured, anchor: [i32; 3]) -> Result<VoxelPos> {
    Ok(VoxelPos::new(coord(u, anchor[0])?, coord(u, anchor[1])?, coord(u, anchor[2])?))
}

fn radius(u: &mut Unstructured) -> Result<f32> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::MAX,
        3 => 1e10,
        4 => -f32::from(u.int_in_range(1u16..=100)?),
        5 => u.arbitrary()?,
        _ => u.int_in_range(0u16..=600)? as f32 / 100.0,
    })
}

fn material(u: &mut Unstructured) -> Result<MaterialId> {
    Ok(MaterialId(u.int_in_range(0u16..=9)?))
}

fn run(u: &mut Unstructured) -> Result<()> {
    let store = Arc::new(MemoryStore::new());
    let generator = Arc::new(FlatGenerator { height: 0, material: MaterialId(1) });
    let cache_bytes = if u.arbitrary()? { 1 << 16 } else { 64 << 20 };
    let mut world = World::new(store.clone(), generator.clone(), WorldConfig { cache_budget_bytes: cache_bytes, ..WorldConfig::default() });
    let anchors = [0, i32::MAX - 20, i32::MIN + 20, 1 << 30, -(1 << 29)];
    let anchor = [
        anchors[u.choose_index(anchors.len())?],
        anchors[u.choose_index(anchors.len())?],
        anchors[u.choose_index(anchors.len())?],
    ];
    // Expected voxels after the next apply: pending edits fold into it in order.
    let mut pending: Vec<(VoxelPos, MaterialId)> = Vec::new();
    let mut applied: HashMap<VoxelPos, MaterialId> = HashMap::new();
    let ops = u.int_in_range(1u8..=24)?;
    for _ in 0..ops {
        match u.int_in_range(0u8..=6)? {
            0 => {
                let (p, m) = (pos(u, anchor)?, material(u)?);
                world.set_voxel(p, m);
                pending.push((p, m));
            }
            1 => {
                let (a, b, m) = (pos(u, anchor)?, pos(u, anchor)?, material(u)?);
                let side = |lo: i32, hi: i32| if hi < lo { 0 } else { i64::from(hi) - i64::from(lo) + 1 };
                let extent = side(a.x, b.x).max(side(a.y, b.y)).max(side(a.z, b.z));
                if extent > i64::from(MAX_EDIT_EXTENT) {
                    assert!(matches!(world.fill_box(a, b, m), Err(EditError::TooLarge { .. })), "{a:?} {b:?}");
                } else if extent <= RUN_BOX {
                    world.fill_box(a, b, m).expect("a small box is accepted");
                    for z in a.z..=b.z {
                        for y in a.y..=b.y {
                            for x in a.x..=b.x {
                                pending.push((VoxelPos::new(x, y, z), m));
                            }
                        }
                    }
                }
            }
            2 => {
                let (c, r, m) = (pos(u, anchor)?, radius(u)?, material(u)?);
                if !r.is_finite() || r < 0.0 {
                    assert!(matches!(world.fill_sphere(c, r, m), Err(EditError::BadRadius(_))), "{r}");
                } else if f64::from(r) * 2.0 + 1.0 > f64::from(MAX_EDIT_EXTENT) {
                    assert!(matches!(world.fill_sphere(c, r, m), Err(EditError::TooLarge { .. })), "{r}");
                } else if r <= RUN_RADIUS {
                    world.fill_sphere(c, r, m).expect("a small sphere is accepted");
                    let (r64, ri) = (f64::from(r), r.ceil() as i64);
                    let cc = [c.x, c.y, c.z].map(i64::from);
                    for dz in -ri..=ri {
                        for dy in -ri..=ri {
                            for dx in -ri..=ri {
                                let p = [cc[0] + dx, cc[1] + dy, cc[2] + dz];
                                let inside =
                                    p.iter().all(|&v| (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v));
                                if inside && ((dx * dx + dy * dy + dz * dz) as f64) <= r64 * r64 {
                                    pending.push((VoxelPos::new(p[0] as i32, p[1] as i32, p[2] as i32), m));
                                }
                            }
                        }
                    }
                }
            }
            3 => {
                let report = world.apply().expect("a memory store never fails a load");
                assert_eq!(report.rejected_edits, 0);
                applied.extend(pending.drain(..));
                for (p, m) in applied.iter().take(512) {
                    assert_eq!(world.voxel(*p).unwrap(), *m, "{p:?} after apply");
                }
            }
            4 => {
                world.commit().expect("a memory store commit succeeds");
                applied.extend(pending.drain(..));
            }
            5 => {
                let p = pos(u, anchor)?;
                world.evict(p.chunk());
            }
            _ => {
                let p = pos(u, anchor)?;
                let _ = world.voxel(p).unwrap();
            }
        }
    }
    world.commit().expect("the final commit succeeds");
    applied.extend(pending.drain(..));
    let mut fresh = World::new(store.clone() as Arc<dyn ChunkStore>, generator.clone(), WorldConfig::default());
    for (p, m) in &applied {
        assert_eq!(fresh.voxel(*p).unwrap(), *m, "{p:?} from a fresh world");
    }
    // Chunks nobody wrote are not stored: every stored chunk holds at least one written voxel.
    let written: std::collections::HashSet<_> = applied.keys().map(|p| p.chunk()).collect();
    let mut stored = 0;
    store
        .scan(strata_core::store::full_range(), &mut |k, _| {
            assert!(written.contains(&k.to_chunk()), "chunk {:?} stored but never edited", k.to_chunk());
            stored += 1;
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert!(stored <= written.len());
    let _ = generator.material_at(VoxelPos::new(0, 0, 0));
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
