//! `strata export --format parquet`: the tables, read back by the parquet crate's reader and
//! independently by DuckDB, hold exactly the world's voxels: edited and generated chunks,
//! several row groups, a region across negative coordinates, `--only-edited`.

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{ListAccessor, Row, RowAccessor};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use strata_cli::parquet_export::{CHUNKS_FILE, ParquetOptions, Region, VOXELS_FILE, export_parquet, export_store};
use strata_core::{
    ChunkKey, ChunkStore, MaterialId, MaterialRegistry, ProcessHistory, ProcessId, ProcessStamp, VoxelPos, World,
    WorldConfig, WriteBatch,
};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata")).args(args).output().expect("run strata")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

const MIN: [i32; 3] = [-45, -37, -20];
const MAX: [i32; 3] = [70, 30, 12];

/// A save with edits in a few chunks of the region (voxels set to several materials, air dug
/// out), a chunk with a geology history, and a stored chunk just outside the region (z = 1)
/// whose Morton key lies between the region's corners.
fn edited_save(path: &Path) -> (strata_cli::Save, ChunkKey) {
    let save = strata_cli::Save::open(path, Some(11)).unwrap();
    let mut world = save.world(WorldConfig::default());
    let mut edits = Vec::new();
    for i in 0..3000i32 {
        let p = VoxelPos::new(-40 + (i * 7) % 100, -30 + (i * 13) % 55, -18 + (i * 5) % 28);
        edits.push((p, MaterialId((i % 5) as u16)));
    }
    world.set_many(edits);
    world.commit().unwrap();
    // A chunk with a history, committed as a process would (through the store).
    let key = ChunkKey::new(1, 0, -1);
    let chunk = world.chunk(key).unwrap();
    let mut history = ProcessHistory::EMPTY;
    history.record(ProcessStamp { process: ProcessId::new(2).unwrap(), step: 17 });
    history.record(ProcessStamp { process: ProcessId::new(0).unwrap(), step: 4 });
    let mut batch = WriteBatch::new();
    batch.put_with_history(key, &chunk, &history);
    save.store.commit(&batch).unwrap();
    // Outside the region (z = 1 > 12 / 32) but inside its Morton range.
    let outside = ChunkKey::new(0, 0, 1);
    let (lo, hi) = (VoxelPos::from(MIN).chunk().morton(), VoxelPos::from(MAX).chunk().morton());
    assert!((lo..=hi).contains(&outside.morton()), "the test needs a key between the corners");
    let mut batch = WriteBatch::new();
    batch.put(outside, &strata_core::Chunk::Uniform(MaterialId(3)));
    save.store.commit(&batch).unwrap();
    (save, key)
}

/// The region's voxels through the world (store, then generator), x fastest.
fn reference(world: &mut World) -> Vec<u16> {
    let mut out = Vec::new();
    for z in MIN[2]..=MAX[2] {
        for y in MIN[1]..=MAX[1] {
            for x in MIN[0]..=MAX[0] {
                out.push(world.voxel(VoxelPos::new(x, y, z)).unwrap().0);
            }
        }
    }
    out
}

/// The voxel at `i` in [`reference`]'s order.
fn position(i: usize) -> [i32; 3] {
    let size = [0, 1, 2].map(|a| (MAX[a] - MIN[a] + 1) as usize);
    [MIN[0] + (i % size[0]) as i32, MIN[1] + (i / size[0] % size[1]) as i32, MIN[2] + (i / (size[0] * size[1])) as i32]
}

/// `strata export --format parquet` of the region from `source` (`--save PATH`, or `--redis URL
/// --seed N`) into `out`.
fn export_region(source: &[&str], out: &Path) -> Output {
    let (min, max) =
        (format!("--min={},{},{}", MIN[0], MIN[1], MIN[2]), format!("--max={},{},{}", MAX[0], MAX[1], MAX[2]));
    let mut args = vec!["export", "--format", "parquet"];
    args.extend_from_slice(source);
    args.extend([min.as_str(), max.as_str(), "--out", out.to_str().unwrap()]);
    strata(&args)
}

fn index(p: [i32; 3]) -> Option<usize> {
    let size = [0, 1, 2].map(|a| (MAX[a] - MIN[a] + 1) as usize);
    let l: [i64; 3] = std::array::from_fn(|a| i64::from(p[a]) - i64::from(MIN[a]));
    if (0..3).any(|a| l[a] < 0 || l[a] >= size[a] as i64) {
        return None;
    }
    Some((l[2] as usize * size[1] + l[1] as usize) * size[0] + l[0] as usize)
}

fn rows(path: &Path) -> (Vec<Row>, usize) {
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let groups = reader.num_row_groups();
    (reader.get_row_iter(None).unwrap().map(|r| r.unwrap()).collect(), groups)
}

/// Checks the two tables in `dir` against the world; `only_edited`: only stored chunks.
/// `row_groups`: whether the export was made with small row groups (several per file).
fn check_tables(
    dir: &Path,
    store: &dyn ChunkStore,
    world: &mut World,
    only_edited: bool,
    history_key: Option<ChunkKey>,
    row_groups: bool,
) {
    let registry = MaterialRegistry::builtin();
    let expected = reference(world);
    let stored = |k: ChunkKey| store.get_record(k.morton()).unwrap().is_some();
    // Voxels: every run inside the region and one chunk, no voxel twice, each equal to the world.
    let (voxel_rows, groups) = rows(&dir.join(VOXELS_FILE));
    assert!(!row_groups || groups > 1, "the small row groups make several ({groups})");
    let mut seen = vec![false; expected.len()];
    let mut per_chunk: BTreeMap<[i32; 3], u64> = BTreeMap::new();
    for r in &voxel_rows {
        let key = [0, 1, 2].map(|i| r.get_int(i).unwrap());
        let p = [3, 4, 5].map(|i| r.get_int(i).unwrap());
        let (len, m) = (r.get_int(6).unwrap(), r.get_int(7).unwrap() as u16);
        assert!((1..=32).contains(&len) && m != 0, "{r:?}");
        assert_eq!(r.get_string(8).unwrap(), &registry.get(MaterialId(m)).unwrap().name);
        let chunk = ChunkKey::new(key[0], key[1], key[2]);
        assert_eq!(r.get_bool(9).unwrap(), stored(chunk), "{r:?}");
        if only_edited {
            assert!(stored(chunk), "{r:?}");
        }
        let history = if Some(chunk) == history_key { "ThermalErosion@4 Volcanism@17" } else { "" };
        assert_eq!(r.get_string(11).unwrap(), history);
        assert_eq!(r.get_int(10).unwrap(), if Some(chunk) == history_key { 0b101 } else { 0 });
        for dx in 0..len {
            let q = [p[0] + dx, p[1], p[2]];
            assert_eq!(q.map(|c| c.div_euclid(32)), key, "run {r:?} leaves its chunk");
            let i = index(q).unwrap_or_else(|| panic!("run {r:?} leaves the region"));
            assert!(!seen[i], "voxel {q:?} in two runs");
            seen[i] = true;
            assert_eq!(m, expected[i], "voxel {q:?}");
        }
        *per_chunk.entry(key).or_default() += len as u64;
    }
    // Every non-air voxel of an exported chunk is in a run.
    let mut chunks_seen = 0;
    for (i, &m) in expected.iter().enumerate() {
        let p = position(i);
        let k = VoxelPos::from(p).chunk();
        if m != 0 && (!only_edited || stored(k)) {
            assert!(seen[i], "voxel {p:?} ({m}) in no run");
        }
    }
    // Chunks: one row each, counts per material over its part of the region.
    let (chunk_rows, _) = rows(&dir.join(CHUNKS_FILE));
    let (lo, hi) = (VoxelPos::from(MIN).chunk(), VoxelPos::from(MAX).chunk());
    for r in &chunk_rows {
        let key = [0, 1, 2].map(|i| r.get_int(i).unwrap());
        let chunk = ChunkKey::new(key[0], key[1], key[2]);
        assert!(
            (lo.x..=hi.x).contains(&chunk.x) && (lo.y..=hi.y).contains(&chunk.y) && (lo.z..=hi.z).contains(&chunk.z)
        );
        let edited = r.get_bool(3).unwrap();
        assert_eq!(edited, stored(chunk));
        assert_eq!(r.get_long(5).unwrap() > 0, edited, "sequence of {chunk:?}");
        let materials = r.get_list(9).unwrap();
        let (mut total, mut solid) = (0i64, 0u64);
        for e in 0..materials.len() {
            let g = materials.get_group(e).unwrap();
            let (m, count) = (g.get_int(0).unwrap() as u16, g.get_int(2).unwrap());
            assert_eq!(g.get_string(1).unwrap(), &registry.get(MaterialId(m)).unwrap().name);
            total += i64::from(count);
            if m != 0 {
                solid += count as u64;
            }
        }
        let volume: i64 = (0..3)
            .map(|a| {
                let o = [chunk.x, chunk.y, chunk.z][a] * 32;
                i64::from((MAX[a]).min(o + 31) - MIN[a].max(o) + 1)
            })
            .product();
        assert_eq!(total, volume, "{chunk:?}");
        assert_eq!(i64::from(r.get_int(8).unwrap()), volume);
        assert_eq!(solid, per_chunk.get(&key).copied().unwrap_or(0), "{chunk:?}: counts vs runs");
        chunks_seen += 1;
    }
    let all = ((hi.x - lo.x + 1) * (hi.y - lo.y + 1) * (hi.z - lo.z + 1)) as usize;
    if only_edited {
        assert!(chunks_seen > 2 && chunks_seen < all, "{chunks_seen} of {all}");
    } else {
        assert_eq!(chunks_seen, all);
    }
}

#[test]
fn parquet_export_holds_the_worlds_voxels_edited_and_generated() {
    let dir = tempfile::tempdir().unwrap();
    let (save, history_key) = edited_save(&dir.path().join("w.strata"));
    let mut world = save.world(WorldConfig::default());
    let generator = strata_geo::NoiseTerrain::new(save.terrain.clone());
    let region = Region { min: VoxelPos::from(MIN), max: VoxelPos::from(MAX) };
    for only_edited in [false, true] {
        let out = dir.path().join(format!("out_{only_edited}"));
        let options = ParquetOptions { only_edited, row_group_runs: 2000, threads: 2 };
        let store = export_store(save.store.clone()).unwrap();
        let mut done = 0;
        let written =
            export_parquet(store.as_ref(), &generator, region, &options, &out, &[], &mut |n| done += n).unwrap();
        assert_eq!(done, written.chunks, "progress counts every chunk");
        check_tables(&out, save.store.as_ref(), &mut world, only_edited, Some(history_key), true);
    }
}

/// The same from a Redis Cluster world (`--redis`, `--seed`), through the binary. Needs the CI
/// cluster (`STRATA_REDIS_CLUSTER`; skipped without it, a failure when `CI` is set).
#[test]
fn parquet_export_reads_a_redis_world() {
    let Some(base) = crate::redis_cluster("parquet_export_reads_a_redis_world") else { return };
    let url = strata_redis::url_with_world(&base, &strata_redis::unique_world_name("cli-parquet"));
    let store: std::sync::Arc<dyn ChunkStore> = std::sync::Arc::new(strata_redis::open(&url).unwrap());
    let terrain = strata_geo::TerrainConfig { seed: 23, ..strata_geo::TerrainConfig::default() };
    let generator = std::sync::Arc::new(strata_geo::NoiseTerrain::new(terrain));
    let mut world = World::new(store.clone(), generator.clone(), WorldConfig::default());
    let edits = (0..2000i32)
        .map(|i| {
            (VoxelPos::new(-40 + (i * 7) % 100, -30 + (i * 13) % 55, -18 + (i * 5) % 28), MaterialId((i % 4) as u16))
        })
        .collect();
    world.set_many(edits);
    world.commit().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    let o = export_region(&["--redis", &url, "--seed", "23"], &out);
    assert!(o.status.success(), "{}", text(&o));
    let mut fresh = World::new(store.clone(), generator, WorldConfig::default());
    check_tables(&out, store.as_ref(), &mut fresh, false, None, false);
}

/// The README's example query, run by DuckDB (a reader written independently of the writer)
/// over an export by the `strata` binary, gives the world's counts of non-air voxels per
/// material in edited chunks; so do the chunk table's lists. Skipped without DuckDB's Python
/// module unless `STRATA_REQUIRE_DUCKDB` is set (CI installs it and sets it).
#[test]
fn duckdb_reads_the_export_and_the_readme_query_counts_edited_voxels() {
    let probe = Command::new("python3").args(["-c", "import duckdb"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("STRATA_REQUIRE_DUCKDB").is_none(),
            "STRATA_REQUIRE_DUCKDB is set and DuckDB is missing"
        );
        eprintln!("skipped: python3 -m pip install duckdb to run this test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    let (save, _) = edited_save(&path);
    let mut world = save.world(WorldConfig::default());
    // The world's counts: non-air voxels of the region per material name, edited chunks only.
    let registry = MaterialRegistry::builtin();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let voxels = reference(&mut world);
    for (i, &m) in voxels.iter().enumerate() {
        let p = position(i);
        if m != 0 && save.store.get_record(VoxelPos::from(p).chunk().morton()).unwrap().is_some() {
            *expected.entry(registry.get(MaterialId(m)).unwrap().name.clone()).or_default() += 1;
        }
    }
    assert!(expected.len() >= 3, "{expected:?}");
    drop(world);
    drop(save);
    let out = dir.path().join("export");
    let o = export_region(&["--save", path.to_str().unwrap()], &out);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("edited"), "{}", text(&o));
    // The README's query, as printed there.
    let readme = include_str!("../../../../README.md");
    let start = readme.find("```sql\n").expect("README has an SQL example") + 7;
    let query = &readme[start..start + readme[start..].find("```").unwrap()];
    let script = "import duckdb, sys\ncon = duckdb.connect()\n\
                  for q in sys.argv[1:]:\n    for name, n in con.execute(q).fetchall(): print(f'{name} {n}')\n    print('--')\n";
    let lists = "SELECT m.name, SUM(m.count) FROM (SELECT unnest(materials) AS m FROM 'chunks.parquet' WHERE edited) \
                 WHERE m.material <> 0 GROUP BY 1 ORDER BY 1";
    let o = Command::new("python3").args(["-c", script, query, lists]).current_dir(&out).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    let parts: Vec<&str> = printed.split("--\n").collect();
    let (by_runs, by_lists) = (parts[0], parts[1]);
    let parse = |s: &str| -> BTreeMap<String, u64> {
        s.lines()
            .map(|l| {
                let (name, n) = l.rsplit_once(' ').unwrap();
                (name.to_owned(), n.parse().unwrap())
            })
            .collect()
    };
    assert_eq!(parse(by_runs), expected, "README query over voxels.parquet");
    assert_eq!(parse(by_lists), expected, "material lists of chunks.parquet");
}
