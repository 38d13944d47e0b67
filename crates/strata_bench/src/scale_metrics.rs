//! `scale.*`: what stays bounded as a player explores (see issue "Streaming that stays bounded").
//!
//! - `scale.index_bytes_per_released_chunk`: an index fed like the plugin feeds it during a
//!   straight flight over `NoiseTerrain` (a window of 16 × 8 × 16 chunks moving one column of
//!   chunks at a time, the columns behind released), no edits; everything the index holds after
//!   the last release (`IndexWriter::memory().total()`), divided by the chunks released.
//! - `scale.index_bytes_per_released_edited_chunk`: the same flight with one chunk in 64 edited
//!   (scattered), divided by the edited chunks: what an edited chunk costs once released (its
//!   summary leaf with its contribution to the level-1 grid, its R-tree entry, and the nodes on
//!   the path to it with the generated stubs beside it).
//! - `scale.startup_main_thread_ms` and `scale.first_view_s` (with `_10k`): the plugin starting
//!   over a redb save holding 100,000 (10,000) stored edited chunks, peer: the same start over
//!   an empty save, so the ratio is what the stored chunks cost. Each start runs in a fresh
//!   process (`strata_flythrough --startup`, see `crates/strata_bench_stream/src/startup.rs`
//!   for the two definitions); sizes alternate run by run (empty, 10k, 100k, empty, …) and
//!   each reports its median. The saves are made once and cached under
//!   `target/strata_bench/saves/` ([`edited_save`]). `scale.startup_worst_frame_ms` (with
//!   `_10k`, same peer): the longest frame from the first to the first view's, what a player
//!   feels of the start (the main-thread time before the first frame is not a frame).
//!   `…_dense_10k` (same peer): a save of the 10,000 chunks nearest the viewer ([`dense_save`]),
//!   all read by the first view (the sparse saves leave ~5 stored chunks in it). The page
//!   cache is warm: each save was read by the rounds before (and made on this machine).
//! - `scale.scan_us_per_stored_chunk`: what summarising a far region costs per stored chunk.
//!   A redb save holding 8,192 stored edited chunks packed in 64 × 64 chunk columns (two
//!   chunks deep at the surface, each with a brick box: dense) is scanned root by root into a
//!   fresh index (`IndexWriter::scan_stored`, which reads the summaries stored beside the
//!   records); peer `decode_records`: the same roots read the way scans read them before
//!   summaries were stored (each record decoded, inserted and released, which makes the same
//!   index). Same save, same roots, one thread each, runs alternated, medians.
//!   `scale.summary_bytes_per_stored_chunk` (peer `record`): the mean summary record of those
//!   chunks, against their mean chunk record.
//! - `stream.rss_growth_mib_per_min*`, `stream.rss_mib_end*`: the long fly-throughs, see
//!   [`stream_metrics::run_rss`].

use crate::{Budget, Metric, median, stream_metrics};
use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;
use strata_core::summary_record::SUMMARY_VERSION;
use strata_core::{
    Chunk, ChunkKey, ChunkOrigin, ChunkStore, LocalPos, MaterialId, MortonKey, ProcessHistory, WorldGenerator,
    WriteBatch, codec,
};
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_index::{IndexConfig, IndexWriter, NodeId, PreparedChunk, ROOT_LEVEL};
use strata_redb::{RedbStore, SAVE_FORMAT_VERSION};

/// Runs the area. `STRATA_SCALE_PARTS` (comma-separated `bytes`, `scan`, `startup`, `rss`) runs
/// only those parts (all by default).
pub fn run(budget: Budget) -> Vec<Metric> {
    let parts = std::env::var("STRATA_SCALE_PARTS").ok();
    let part = |name: &str| parts.as_deref().is_none_or(|p| p.split(',').any(|x| x.trim() == name));
    let mut out = Vec::new();
    if part("bytes") {
        let columns = if budget.scale < 1.0 { 64 } else { 256 };
        let (plain_bytes, plain_released, _) = flight(columns, None);
        let (edit_bytes, _, edited) = flight(columns, Some(64));
        out.push(Metric::new(
            "scale.index_bytes_per_released_chunk",
            plain_bytes as f64 / plain_released.max(1) as f64,
            "bytes",
        ));
        out.push(Metric::new(
            "scale.index_bytes_per_released_edited_chunk",
            edit_bytes as f64 / edited.max(1) as f64,
            "bytes",
        ));
    }
    if part("scan") {
        out.extend(scan(budget));
    }
    if part("startup") {
        out.extend(startup(budget));
    }
    if part("rss") {
        out.extend(stream_metrics::run_rss(budget));
    }
    out
}

/// Flies `columns` chunk columns along +x; every `edit_every`-th chunk (by a hash of its key)
/// is edited. Returns (bytes the index holds at the end, chunks released, chunks edited).
fn flight(columns: i32, edit_every: Option<u64>) -> (usize, usize, usize) {
    let generator = Arc::new(NoiseTerrain::new(TerrainConfig::default()));
    let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());
    const WINDOW: i32 = 16;
    let keys = |x: i32| (-8..8).flat_map(move |z| (-4..4).map(move |y| ChunkKey::new(x, y, z)));
    let (mut released, mut edited) = (0usize, 0usize);
    for x in 0..columns + WINDOW {
        if x < columns {
            for k in keys(x) {
                let chunk = Arc::new(generator.generate(k));
                let h = (k.x as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    ^ (k.z as u64).wrapping_mul(0xc2b2_ae3d)
                    ^ (k.y as u64).wrapping_mul(0x1656_67b1);
                if edit_every.is_some_and(|n| h.is_multiple_of(n)) {
                    writer.apply(PreparedChunk::new(k, chunk, 1));
                    edited += 1;
                } else {
                    writer.insert_loaded_from(k, chunk, ChunkOrigin::Generator, ProcessHistory::EMPTY);
                }
            }
        }
        if x >= WINDOW {
            for k in keys(x - WINDOW) {
                released += usize::from(writer.release(k));
            }
        }
        writer.publish();
    }
    (writer.memory().total(), released, edited)
}

/// `scale.scan_us_per_stored_chunk` (see the module docs).
fn scan(budget: Budget) -> Vec<Metric> {
    let path = match region_save() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("scale: scan not measured: {e}");
            return Vec::new();
        }
    };
    let store = match RedbStore::open(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("scale: scan not measured: {e}");
            return Vec::new();
        }
    };
    let generator: Arc<dyn WorldGenerator> =
        Arc::new(NoiseTerrain::new(TerrainConfig { seed: 7, ..TerrainConfig::default() }));
    let mut roots: Vec<NodeId> = region_keys().map(|(k, _)| NodeId::containing(k, ROOT_LEVEL)).collect();
    roots.sort();
    roots.dedup();
    let runs = if budget.scale < 1.0 { 3 } else { 7 };
    let (mut ours, mut peer) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());
        let start = Instant::now();
        let mut n = 0;
        for root in &roots {
            n += writer.scan_stored(&store as &dyn ChunkStore, *root).map_or(0, |l| l.chunks);
        }
        writer.publish();
        ours.push(start.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64);

        let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());
        let start = Instant::now();
        let mut n = 0;
        for root in &roots {
            let (lo, _) = root.chunk_range();
            let range = MortonKey::region_range(ChunkKey::new(lo[0] as i32, lo[1] as i32, lo[2] as i32), root.level);
            let scanned = store.scan(range, &mut |key, record| {
                if let Ok((chunk, history)) = codec::decode_with_history(record) {
                    let key = key.to_chunk();
                    writer.insert_loaded_from(key, Arc::new(chunk), ChunkOrigin::Store, history);
                    writer.release(key);
                    n += 1;
                }
                ControlFlow::Continue(())
            });
            if let Err(e) = scanned {
                eprintln!("scale: scan not measured: {e}");
                return Vec::new();
            }
        }
        writer.publish();
        peer.push(start.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64);
    }
    // What the scan reads per chunk instead of the record.
    let mut batch = WriteBatch::new();
    let made = NoiseTerrain::new(TerrainConfig { seed: 7, ..TerrainConfig::default() });
    for (key, h) in region_keys() {
        batch.put(key, &with_brick_box(made.generate(key), h));
    }
    let per = |bytes: usize| bytes as f64 / batch.len().max(1) as f64;
    vec![
        Metric::with_peer("scale.scan_us_per_stored_chunk", median(&ours), "us", "decode_records", median(&peer)),
        Metric::with_peer(
            "scale.summary_bytes_per_stored_chunk",
            per(batch.summary_bytes()),
            "bytes",
            "record",
            per(batch.encoded_bytes()),
        ),
    ]
}

/// The chunks of [`region_save`] with their edit seeds: 64 × 64 columns from the origin, the
/// surface chunk of each and the one below.
fn region_keys() -> impl Iterator<Item = (ChunkKey, u64)> {
    let generator = Arc::new(NoiseTerrain::new(TerrainConfig { seed: 7, ..TerrainConfig::default() }));
    (0..64).flat_map(move |x| {
        let g = generator.clone();
        (0..64).flat_map(move |z| {
            let y = g.height(x * 32 + 16, z * 32 + 16).div_euclid(32);
            let h = (x as u64 * 64 + z as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            [(ChunkKey::new(x, y, z), h), (ChunkKey::new(x, y - 1, z), h >> 7)]
        })
    })
}

/// A redb save of the chunks of [`region_keys`], each the terrain's chunk with a 6³ brick box,
/// cached as `target/strata_bench/saves/region-8192-f<format>s<summary format>.redb`.
fn region_save() -> Result<PathBuf, String> {
    let name = format!("region-8192-f{SAVE_FORMAT_VERSION}s{SUMMARY_VERSION}.redb");
    cached_save(&name, |store| {
        let generator = NoiseTerrain::new(TerrainConfig { seed: 7, ..TerrainConfig::default() });
        let mut batch = WriteBatch::new();
        for (key, h) in region_keys() {
            batch.put(key, &with_brick_box(generator.generate(key), h));
            if batch.len() == 1024 {
                store.commit(&batch).map_err(|e| e.to_string())?;
                batch.clear();
            }
        }
        store.commit(&batch).map(|_| ()).map_err(|e| e.to_string())
    })
}

/// `chunk` with a 6³ box of material 19 at a corner picked by `h`.
fn with_brick_box(mut chunk: Chunk, h: u64) -> Chunk {
    let o = [(h >> 8) % 26, (h >> 16) % 26, (h >> 24) % 26].map(|v| v as u8);
    for (x, y, z) in (0..6).flat_map(|x| (0..6).flat_map(move |y| (0..6).map(move |z| (x, y, z)))) {
        chunk.set(LocalPos::new(o[0] + x, o[1] + y, o[2] + z).index(), MaterialId(19));
    }
    chunk
}

/// The save `target/strata_bench/saves/<name>`, made by `fill` once (under a temporary name,
/// then renamed).
fn cached_save(name: &str, fill: impl FnOnce(&RedbStore) -> Result<(), String>) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/report → target/
    let target = exe.parent().and_then(|p| p.parent()).ok_or("no target directory")?;
    let dir = target.join("strata_bench").join("saves");
    let path = dir.join(name);
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let tmp = dir.join(format!("{name}.making"));
    let _ = std::fs::remove_file(&tmp);
    eprintln!("scale: making {} (once)", path.display());
    let store = RedbStore::open(&tmp).map_err(|e| e.to_string())?;
    fill(&store)?;
    drop(store);
    std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
    Ok(path)
}

/// The start-up metrics (see the module docs); nothing if the binary or a save cannot be made.
fn startup(budget: Budget) -> Vec<Metric> {
    let made = stream_metrics::build().and_then(|exe| {
        let saves = [edited_save(0), edited_save(10_000), edited_save(100_000), dense_save(10_000)];
        let saves: Vec<PathBuf> = saves.into_iter().collect::<Result<_, _>>()?;
        Ok((exe, saves))
    });
    let (exe, saves) = match made {
        Ok(x) => x,
        Err(e) => {
            eprintln!("scale: start-up not measured: {e}");
            return Vec::new();
        }
    };
    let reps = if budget.scale < 1.0 { 3 } else { 7 };
    let mut samples: Vec<Vec<stream_metrics::Sample>> = vec![Vec::new(); saves.len()];
    for _ in 0..reps {
        for (i, save) in saves.iter().enumerate() {
            let out = Command::new(&exe).arg("--startup").arg("--save").arg(save).output();
            let parsed = match out {
                Ok(o) if o.status.success() => stream_metrics::parse(&String::from_utf8_lossy(&o.stdout)),
                Ok(o) => {
                    eprintln!("scale: start-up over {} failed: {}", save.display(), String::from_utf8_lossy(&o.stderr));
                    None
                }
                Err(e) => {
                    eprintln!("scale: cannot run {}: {e}", exe.display());
                    None
                }
            };
            match parsed {
                Some(s) => samples[i].push(s),
                None => return Vec::new(),
            }
        }
    }
    let med = |i: usize, key: &str| {
        median(&samples[i].iter().map(|s| s.get(key).copied().unwrap_or(f64::NAN)).collect::<Vec<_>>())
    };
    let (main, view, worst) = ("startup_main_thread_ms", "first_view_s", "worst_frame_ms");
    for (i, n) in ["0", "10,000", "100,000", "10,000 dense"].into_iter().enumerate() {
        eprintln!(
            "scale: start-up over {n} stored chunks: main thread {:.2} ms, first frame {:.2} ms, first view {:.3} s, \
             longest frame {:.2} ms, store opened in {:.1} ms, {:.0} range scans read {:.0} stored chunks, index {:.2} MiB, rss {:.0} MiB",
            med(i, main),
            med(i, "first_frame_ms"),
            med(i, view),
            med(i, "max_frame_ms"),
            med(i, "open_ms"),
            med(i, "stored_scans"),
            med(i, "stored_read"),
            med(i, "index_mib"),
            med(i, "rss_mib")
        );
    }
    const EMPTY: &str = "empty_save";
    vec![
        Metric::with_peer("scale.startup_main_thread_ms", med(2, main), "ms", EMPTY, med(0, main)),
        Metric::with_peer("scale.startup_main_thread_ms_10k", med(1, main), "ms", EMPTY, med(0, main)),
        Metric::with_peer("scale.first_view_s", med(2, view), "s", EMPTY, med(0, view)),
        Metric::with_peer("scale.first_view_s_10k", med(1, view), "s", EMPTY, med(0, view)),
        Metric::with_peer("scale.startup_worst_frame_ms", med(2, worst), "ms", EMPTY, med(0, worst)),
        Metric::with_peer("scale.startup_worst_frame_ms_10k", med(1, worst), "ms", EMPTY, med(0, worst)),
        Metric::with_peer("scale.startup_main_thread_ms_dense_10k", med(3, main), "ms", EMPTY, med(0, main)),
        Metric::with_peer("scale.first_view_s_dense_10k", med(3, view), "s", EMPTY, med(0, view)),
        Metric::with_peer("scale.startup_worst_frame_ms_dense_10k", med(3, worst), "ms", EMPTY, med(0, worst)),
    ]
}

/// A redb save holding `n` stored edited chunks spread over a planet-sized area (chunk
/// columns x, z in [-2048, 2048), 131,072 voxels across): for each, a pseudo-random column's
/// surface chunk of the report's terrain (`NoiseTerrain`, seed 7, as the plugin's default)
/// with a 6³ brick box set in it (so most are dense). Made once (generation on all cores),
/// written under a temporary name and renamed, cached as
/// `target/strata_bench/saves/edited-<n>-f<format>s<summary format>.redb` (a new save or
/// summary format makes new saves).
pub fn edited_save(n: usize) -> Result<PathBuf, String> {
    cached_save(&format!("edited-{n}-f{SAVE_FORMAT_VERSION}s{SUMMARY_VERSION}.redb"), |store| fill_edited(store, n))
}

/// Fills [`edited_save`].
fn fill_edited(store: &RedbStore, n: usize) -> Result<(), String> {
    let generator = NoiseTerrain::new(TerrainConfig { seed: 7, ..TerrainConfig::default() });
    let mut seen = HashSet::new();
    let mut keys = Vec::with_capacity(n);
    let mut state = 0x5eed_u64;
    while keys.len() < n {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let (x, z) = (((state >> 20) % 4096) as i32 - 2048, ((state >> 40) % 4096) as i32 - 2048);
        let y = generator.height(x * 32 + 16, z * 32 + 16).div_euclid(32);
        if seen.insert((x, z)) {
            keys.push((ChunkKey::new(x, y, z), state));
        }
    }
    write_edited(store, &generator, &keys)
}

/// The chunk of the fly-through's viewer at start (`Scenario::default().start`, (16, 72, 16)).
const VIEWER_CHUNK: ChunkKey = ChunkKey::new(0, 2, 0);

/// A redb save holding the `n` stored edited chunks nearest the fly-through's viewer at start
/// (`VIEWER_CHUNK`; nearest by chunk distance, ties in coordinate order): 10,000 fill the
/// 7,153 chunks within the default view distance (12 chunks) and the nearest ~2,850 beyond it,
/// so the first view reads them all. Each is the terrain's chunk (air, ground or stone) with a
/// brick box set in it, as in [`edited_save`]. Cached as `dense-<n>-f<format>s<summary>.redb`.
pub fn dense_save(n: usize) -> Result<PathBuf, String> {
    cached_save(&format!("dense-{n}-f{SAVE_FORMAT_VERSION}s{SUMMARY_VERSION}.redb"), |store| {
        let generator = NoiseTerrain::new(TerrainConfig { seed: 7, ..TerrainConfig::default() });
        let r = (n as f64).cbrt().ceil() as i32 + 1;
        let mut keys: Vec<(i64, ChunkKey)> = Vec::new();
        for z in -r..=r {
            for y in -r..=r {
                for x in -r..=r {
                    let d2 = i64::from(x * x + y * y + z * z);
                    let c = VIEWER_CHUNK;
                    keys.push((d2, ChunkKey::new(c.x + x, c.y + y, c.z + z)));
                }
            }
        }
        keys.sort_by_key(|&(d2, k)| (d2, k.z, k.y, k.x));
        let keys: Vec<(ChunkKey, u64)> = keys
            .into_iter()
            .take(n)
            .map(|(_, k)| {
                (k, (k.x as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (k.y as u64) << 21 ^ (k.z as u64) << 42)
            })
            .collect();
        write_edited(store, &generator, &keys)
    })
}

/// Commits `keys`' chunks of `generator`, each with a brick box placed by its seed, generated
/// on every core in blocks of 4,096.
fn write_edited(store: &RedbStore, generator: &NoiseTerrain, keys: &[(ChunkKey, u64)]) -> Result<(), String> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    for block in keys.chunks(4096) {
        let per = block.len().div_ceil(threads);
        let batches: Vec<WriteBatch> = std::thread::scope(|s| {
            let handles: Vec<_> = block
                .chunks(per)
                .map(|part| {
                    s.spawn(move || {
                        let mut batch = WriteBatch::new();
                        for &(key, h) in part {
                            batch.put(key, &with_brick_box(generator.generate(key), h));
                        }
                        batch
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("save generation thread")).collect()
        });
        for batch in &batches {
            store.commit(batch).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
