//! End-to-end checks of the `strata` binary: exit codes, output and the files it writes.

use std::process::{Command, Output};
use strata_core::{ChunkKey, ChunkStore, WriteBatch};
use strata_redb::RedbStore;

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata")).args(args).output().expect("run strata")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn edit_verify_stats_export_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("w.strata");
    let s = save.to_str().unwrap();
    let o = strata(&["edit", "--save", s, "--batches", "3", "--edits", "500"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.starts_with("committed batch=")).count(), 3);

    let o = strata(&["verify", "--save", s]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("all decode"), "{}", text(&o));

    let o = strata(&["stats", "--save", s]);
    assert!(o.status.success() && text(&o).contains("stored"), "{}", text(&o));

    let out = dir.path().join("r.raw");
    let o = strata(&["export", "--save", s, "--min=-4,-4,-4", "--max=35,3,3", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let raw = std::fs::read(&out).unwrap();
    assert_eq!(raw.len(), 40 * 8 * 8 * 2);
    let header = std::fs::read_to_string(dir.path().join("r.raw.json")).unwrap();
    assert!(header.contains("\"size\"") && header.contains("40"), "{header}");

    // The exported voxels are the world's voxels.
    let save_h = strata_cli::Save::open(&save, None).unwrap();
    let mut world = save_h.world(strata_core::WorldConfig::default());
    let at = |x: i32, y: i32, z: i32| {
        let i = (((z + 4) * 8 + (y + 4)) * 40 + (x + 4)) as usize * 2;
        u16::from_le_bytes([raw[i], raw[i + 1]])
    };
    for (x, y, z) in [(-4, -4, -4), (35, 3, 3), (0, 0, 0), (31, 1, -1), (32, -2, 2)] {
        assert_eq!(at(x, y, z), world.voxel(strata_core::VoxelPos::new(x, y, z)).unwrap().0, "{x},{y},{z}");
    }
}

#[test]
fn verify_lists_corrupt_records_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("w.strata");
    let s = save.to_str().unwrap();
    assert!(strata(&["edit", "--save", s, "--batches", "1", "--edits", "100"]).status.success());
    let mut first = None;
    {
        let store = RedbStore::open(&save).unwrap();
        let mut b = WriteBatch::new();
        b.put_record(ChunkKey::new(-7, 8, 9).morton(), b"STRC\x01\x01\0\0garbage");
        // An intact record of another chunk stored under (5, -6, 7): misplaced.
        store
            .scan(strata_core::store::full_range(), &mut |k, rec| {
                first = Some((k.to_chunk(), rec.to_vec()));
                std::ops::ControlFlow::Break(())
            })
            .unwrap();
        b.put_record(ChunkKey::new(5, -6, 7).morton(), &first.as_ref().unwrap().1);
        store.commit(&b).unwrap();
    }
    let o = strata(&["verify", "--save", s]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("chunk -7,8,9"), "{}", text(&o));
    let a = first.unwrap().0;
    let line = text(&o).lines().find(|l| l.contains("chunk 5,-6,7:")).map(str::to_owned).unwrap_or_default();
    assert!(
        line.contains("misplaced") && line.contains(&format!("record of chunk {},{},{}", a.x, a.y, a.z)),
        "{}",
        text(&o)
    );
}

#[test]
fn errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.strata");
    let o = strata(&["verify", "--save", missing.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: no save at"), "{err}");

    let garbage = dir.path().join("garbage.strata");
    std::fs::write(&garbage, vec![7u8; 10_000]).unwrap();
    let o = strata(&["stats", "--save", garbage.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("error: "), "{}", text(&o));

    let save = dir.path().join("w.strata");
    let s = save.to_str().unwrap();
    assert!(strata(&["edit", "--save", s, "--seed", "1", "--batches", "1", "--edits", "1"]).status.success());
    let o = strata(&["edit", "--save", s, "--seed", "2", "--batches", "1"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("created with seed 1"), "{}", text(&o));

    let o = strata(&["export", "--save", s, "--min=5,5,5", "--max=0,0,0", "--out", "x.raw"]);
    assert!(!o.status.success() && text(&o).contains("must not exceed"), "{}", text(&o));
}

/// The user story: a save whose database header and roots are destroyed cannot be
/// opened, `verify` says so and what to do, and `salvage` brings back every edit.
#[test]
fn a_save_with_destroyed_roots_is_salvaged_with_every_edit() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("w.strata");
    let s = save.to_str().unwrap();
    assert!(strata(&["edit", "--save", s, "--batches", "3", "--edits", "500"]).status.success());
    let region = ["--min=-64,-32,-64", "--max=63,31,63"];
    let before = dir.path().join("before.raw");
    let o = strata(&["export", "--save", s, region[0], region[1], "--out", before.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    // Zero the first 16 KiB: redb's header and the pages right after it.
    let mut bytes = std::fs::read(&save).unwrap();
    bytes[..16 << 10].fill(0);
    std::fs::write(&save, &bytes).unwrap();

    let o = strata(&["verify", "--save", s]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("error: ") && text(&o).contains("strata salvage"), "{}", text(&o));

    let out = dir.path().join("recovered.strata");
    let o = strata(&["salvage", "--save", s, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("lost 0 chunks") && text(&o).contains("stale 0 chunks"), "{}", text(&o));
    let o = strata(&["verify", "--save", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let after = dir.path().join("after.raw");
    let o =
        strata(&["export", "--save", out.to_str().unwrap(), region[0], region[1], "--out", after.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read(&before).unwrap() == std::fs::read(&after).unwrap(), "every voxel as committed");
    // Never over an existing file.
    let o = strata(&["salvage", "--save", s, "--out", out.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("exists"), "{}", text(&o));
}

/// Regions over the whole i32 range are refused by their limits, with one line, before any
/// allocation — never a multiplication overflow or an allocation failure.
#[test]
fn full_range_regions_are_refused_by_their_limits() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("w.strata");
    let s = save.to_str().unwrap();
    assert!(strata(&["edit", "--save", s, "--batches", "1", "--edits", "1"]).status.success());
    let (lo, hi) = ("--min=-2147483648,-2147483648,-2147483648", "--max=2147483647,2147483647,2147483647");
    let out = dir.path().join("x.raw");
    let o = strata(&["export", "--save", s, lo, hi, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("export limit") && !text(&o).contains("panicked"), "{}", text(&o));
    let o = strata(&["generate", "--save", s, lo, hi]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("the limit is") && !text(&o).contains("panicked"), "{}", text(&o));
}

/// `strata verify --redis`: clean on a world Strata wrote; a record a peer broke is listed
/// (exit 1) and `--remove` removes it. Needs the CI cluster (`STRATA_REDIS_CLUSTER`; skipped
/// without it, a failure when `CI` is set).
#[test]
fn verify_redis_lists_and_removes_what_does_not_belong() {
    let Some(base) = crate::redis_cluster("verify_redis_lists_and_removes_what_does_not_belong") else { return };
    let url = strata_redis::url_with_world(&base, &strata_redis::unique_world_name("cli-verify"));
    let store = strata_redis::open(&url).unwrap();
    let (good, broken) = (ChunkKey::new(0, 0, 0), ChunkKey::new(1, 0, 0));
    let mut batch = WriteBatch::new();
    batch.put(good, &strata_core::store::contract::dense(5));
    batch.put_record(broken.morton(), b"STRC not a record");
    store.commit(&batch).unwrap();
    let o = strata(&["verify", "--redis", &url]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("1 things do not belong") && text(&o).contains("chunk ChunkKey { x: 1"), "{}", text(&o));
    let o = strata(&["verify", "--redis", &url, "--remove"]);
    assert!(o.status.success() && text(&o).contains("removed 1"), "{}", text(&o));
    let o = strata(&["verify", "--redis", &url]);
    assert!(o.status.success() && text(&o).contains("verified 1 regions and 1 records"), "{}", text(&o));
    assert_eq!(store.get(good).unwrap(), Some(strata_core::store::contract::dense(5)));
    assert_eq!(store.get(broken).unwrap(), None);
}

/// `strata export --out` naming the save itself (or a link to it) is refused and the save is
/// untouched (it once overwrote it with the exported voxels).
#[test]
fn export_refuses_to_overwrite_the_save() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("w.strata");
    let s = save.to_str().unwrap();
    let o = strata(&["edit", "--save", s, "--batches", "1", "--edits", "50"]);
    assert!(o.status.success(), "{}", text(&o));
    let before = std::fs::read(&save).unwrap();
    let link = dir.path().join("link.strata");
    std::fs::hard_link(&save, &link).unwrap();
    for out in [s, link.to_str().unwrap()] {
        let o = strata(&["export", "--save", s, "--min=0,0,0", "--max=3,3,3", "--out", out]);
        assert!(!o.status.success() && text(&o).contains("is the save itself"), "{}", text(&o));
    }
    assert!(std::fs::read(&save).unwrap() == before, "the save is untouched");
    let o = strata(&["verify", "--save", s]);
    assert!(o.status.success(), "{}", text(&o));
}

/// `strata generate --bake` works block by block (bounded memory): over several blocks every
/// chunk is counted once and stored as the generator makes it.
#[test]
fn generate_bakes_every_chunk_block_by_block() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("w.strata");
    let s = save.to_str().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["generate", "--save", s, "--min=-64,-32,-64", "--max=63,31,63", "--bake"])
        .env("STRATA_GENERATE_BLOCK", "7")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("generated 32 chunks") && text(&o).contains("baked 32 chunks"), "{}", text(&o));
    let save = strata_cli::Save::open_read_only(&save).unwrap();
    assert_eq!(save.store.stats().unwrap().records, 32);
    let generator = strata_geo::NoiseTerrain::new(save.terrain.clone());
    let mut stored = 0;
    save.store
        .scan(strata_core::store::full_range(), &mut |k, _| {
            stored += 1;
            let chunk = save.store.get(k.to_chunk()).unwrap().unwrap();
            assert!(chunk == strata_core::WorldGenerator::generate(&generator, k.to_chunk()), "{k:?}");
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(stored, 32);
}

/// `strata import vox`: the shipped model lands voxel for voxel in one commit; a bad file or
/// an unknown material name fails naming it and writes nothing (not even a new save).
#[test]
fn import_vox_lands_the_model_and_bad_input_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/models/axes.vox");
    let save = dir.path().join("w.strata");
    let s = save.to_str().unwrap();
    let o = strata(&["import", "vox", model, "--save", s, "--at=10,300,-20", "--map", "1=brick"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("imported 12452 voxels"), "{}", text(&o));

    let scene = strata_core::vox::VoxScene::parse(&std::fs::read(model).unwrap()).unwrap();
    let registry = strata_core::MaterialRegistry::builtin();
    let materials = scene.materials(&registry, &[(1, "brick")]).unwrap();
    let mut want = std::collections::HashMap::new();
    for &(p, i) in &scene.voxels {
        want.insert(strata_core::VoxelPos::new(p[0] + 10, p[1] + 300, p[2] - 20), materials[&i]);
    }
    let handle = strata_cli::Save::open(&save, None).unwrap();
    let mut world = handle.world(strata_core::WorldConfig::default());
    for (p, m) in &want {
        assert_eq!(world.voxel(*p).unwrap(), *m, "{p:?}");
    }
    drop(world);
    drop(handle);
    let o = strata(&["verify", "--save", s]);
    assert!(o.status.success(), "{}", text(&o));

    // Bad input: nothing written.
    let junk = dir.path().join("junk.vox");
    std::fs::write(&junk, b"VOX \x96\x00\x00\x00MAIN\x00\x00\x00\x00\xff\x00\x00\x00").unwrap();
    let fresh = dir.path().join("fresh.strata");
    let f = fresh.to_str().unwrap();
    let o = strata(&["import", "vox", junk.to_str().unwrap(), "--save", f]);
    assert!(!o.status.success() && text(&o).contains("truncated"), "{}", text(&o));
    let o = strata(&["import", "vox", model, "--save", f, "--map", "1=unobtainium"]);
    assert!(!o.status.success() && text(&o).contains("unobtainium"), "{}", text(&o));
    assert!(!fresh.exists(), "a failed import created the save");
}
