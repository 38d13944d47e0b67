//! `strata`: generate, inspect, verify, edit and export Strata worlds.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use strata_cli::{CliError, EditPlan, GENERATOR_META, Save, parse_pos};
use strata_core::{Chunk, ChunkKey, ChunkStore, MortonKey, VoxelPos, WorldConfig, WorldGenerator, codec};
use strata_geo::NoiseTerrain;
use strata_redb::{RedbStore, RedbStoreOptions, salvage};

#[derive(Parser)]
#[command(name = "strata", version, about = "Generate, inspect, verify, edit and export Strata voxel worlds")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a region (all chunks between two voxel corners); with --bake, store them too.
    Generate {
        /// The save file (created if missing).
        #[arg(long)]
        save: PathBuf,
        /// Terrain seed for a new save (an existing save keeps its own).
        #[arg(long)]
        seed: Option<u32>,
        /// Inclusive lower voxel corner `x,y,z`.
        #[arg(long, default_value = "-256,-128,-256", value_parser = parse_pos, allow_hyphen_values = true)]
        min: VoxelPos,
        /// Inclusive upper voxel corner `x,y,z`.
        #[arg(long, default_value = "255,127,255", value_parser = parse_pos, allow_hyphen_values = true)]
        max: VoxelPos,
        /// Store the generated chunks in the save (normally only edited chunks are stored).
        #[arg(long)]
        bake: bool,
        /// Worker threads (default: available cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Import a MagicaVoxel `.vox` model (every model of its scene) into a save at a position,
    /// committed in one durable commit of whole chunks. Palette entries take the material of
    /// the nearest colour, or the one `--map INDEX=NAME` names. A bad file or mapping writes
    /// nothing.
    Import {
        /// What to import: `vox`.
        #[arg(value_parser = ["vox"])]
        format: String,
        /// The `.vox` file.
        file: PathBuf,
        /// The save file (created if missing).
        #[arg(long)]
        save: PathBuf,
        /// Where the scene's origin goes, `x,y,z`.
        #[arg(long, default_value = "0,0,0", value_parser = parse_pos, allow_hyphen_values = true)]
        at: VoxelPos,
        /// Palette index to material name, e.g. `--map 12=brick` (repeatable).
        #[arg(long = "map", value_parser = parse_mapping)]
        maps: Vec<(u8, String)>,
    },
    /// Print what a save holds.
    Stats {
        /// The save file.
        #[arg(long)]
        save: PathBuf,
    },
    /// Decode and checksum every record and check its summary; exit non-zero listing the bad keys.
    /// With --redis, a Redis world instead: list every key, member or field that does not
    /// belong (a buggy or hostile peer's), and with --remove remove them.
    Verify {
        /// The save file.
        #[arg(long, required_unless_present = "redis", conflicts_with = "redis")]
        save: Option<PathBuf>,
        /// A Redis world's store URL (`redis+cluster://host:port,…/?world=<name>`).
        #[arg(long)]
        redis: Option<String>,
        /// With --redis: remove what does not belong (bad records: the chunk reads as the
        /// generator's afterwards).
        #[arg(long, requires = "redis")]
        remove: bool,
    },
    /// Apply seeded random edit batches (voxels, and block data on a few of them), committing
    /// each; one line per acknowledged commit.
    Edit {
        /// The save file (created if missing).
        #[arg(long)]
        save: PathBuf,
        /// Terrain seed for a new save.
        #[arg(long)]
        seed: Option<u32>,
        /// Seed of the edit batches.
        #[arg(long, default_value_t = 1)]
        edit_seed: u64,
        /// Number of batches.
        #[arg(long, default_value_t = 10)]
        batches: u64,
        /// Voxel writes per batch.
        #[arg(long, default_value_t = 1000)]
        edits: usize,
        /// Inclusive lower voxel corner of the edited region.
        #[arg(long, default_value = "-64,-32,-64", value_parser = parse_pos, allow_hyphen_values = true)]
        min: VoxelPos,
        /// Inclusive upper voxel corner of the edited region.
        #[arg(long, default_value = "63,31,63", value_parser = parse_pos, allow_hyphen_values = true)]
        max: VoxelPos,
    },
    /// Recover every intact record of a damaged save into a new save, even when its database
    /// structure is destroyed (exit 1 if any chunk was lost or only an older copy was found).
    Salvage {
        /// The damaged save (only read).
        #[arg(long)]
        save: PathBuf,
        /// The new save to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Rewrite the save to release space freed by earlier commits.
    Compact {
        /// The save file.
        #[arg(long)]
        save: PathBuf,
    },
    /// Export a region: as raw little-endian u16 material ids plus a JSON header
    /// (`<out>.json`), or with `--format parquet` as two Parquet tables in the directory `out`
    /// (`voxels.parquet`: one row per run of equal non-air voxels along x; `chunks.parquet`:
    /// one row per chunk with its counts per material), from a save or a Redis Cluster world.
    Export {
        /// The save file.
        #[arg(long, required_unless_present = "redis", conflicts_with = "redis")]
        save: Option<PathBuf>,
        /// With `--format parquet`: a Redis world's store URL (`redis+cluster://host:port,…/?world=<name>`).
        #[arg(long)]
        redis: Option<String>,
        /// With --redis: the terrain seed the world's servers generate with (a Redis world
        /// records no generator settings).
        #[arg(long, requires = "redis")]
        seed: Option<u32>,
        /// Inclusive lower voxel corner.
        #[arg(long, value_parser = parse_pos, allow_hyphen_values = true)]
        min: VoxelPos,
        /// Inclusive upper voxel corner.
        #[arg(long, value_parser = parse_pos, allow_hyphen_values = true)]
        max: VoxelPos,
        /// Output: the raw voxels' file, or the Parquet tables' directory.
        #[arg(long)]
        out: PathBuf,
        /// `raw` (u16 ids + JSON header) or `parquet`.
        #[arg(long, default_value = "raw", value_parser = ["raw", "parquet"])]
        format: String,
        /// With `--format parquet`: only the chunks stored in the save (edited), not the
        /// generated ones.
        #[arg(long)]
        only_edited: bool,
        /// With `--format parquet`: worker threads generating chunks (default: available cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// The whole pipeline on a fresh save: generate a region, edit and commit, verify, print stats.
    Demo {
        /// The save file (created if missing).
        #[arg(long, default_value = "demo.strata")]
        save: PathBuf,
    },
    /// Draw the shipped texture set (16 x 16 PNGs, one per texture name of the built-in
    /// materials.ron) into a directory: how assets/textures/ was made.
    Textures {
        /// Where to write `<name>.png` (created if missing).
        #[arg(default_value = "assets/textures")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Generate { save, seed, min, max, bake, threads } => generate(&save, seed, min, max, bake, threads),
        Command::Import { format: _, file, save, at, maps } => import_vox(&file, &save, at, &maps),
        Command::Stats { save } => stats(&save),
        Command::Verify { save: Some(save), .. } => verify(&save),
        Command::Verify { redis: Some(url), remove, .. } => verify_redis(&url, remove),
        Command::Verify { .. } => Err(CliError::Usage("verify needs --save or --redis".into())),
        Command::Edit { save, seed, edit_seed, batches, edits, min, max } => {
            let plan = EditPlan { seed: edit_seed, edits_per_batch: edits, min, max };
            edit(&save, seed, plan, batches)
        }
        Command::Export { save, redis, seed, min, max, out, format, only_edited, threads } => {
            if format == "parquet" {
                let source = match (&save, &redis) {
                    (Some(save), _) => Source::Save(save),
                    (None, Some(url)) => Source::Redis { url, seed },
                    (None, None) => return Err(CliError::Usage("export needs --save or --redis".into())),
                };
                export_parquet(source, min, max, &out, only_edited, threads)
            } else {
                if only_edited || threads.is_some() {
                    return Err(CliError::Usage("--only-edited and --threads need --format parquet".into()));
                }
                let Some(save) = save else {
                    return Err(CliError::Usage("--redis needs --format parquet (raw exports read saves)".into()));
                };
                export(&save, min, max, &out)
            }
        }
        Command::Compact { save } => compact(&save),
        Command::Salvage { save, out } => salvage(&save, &out),
        Command::Textures { dir } => {
            let written = strata_cli::textures::write_texture_set(&dir)?;
            println!("wrote {written} textures to {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { save } => {
            let min = VoxelPos::new(-128, -64, -128);
            let max = VoxelPos::new(127, 63, 127);
            generate(&save, None, min, max, false, None)?;
            let plan = EditPlan { seed: 42, edits_per_batch: 5000, min, max };
            edit(&save, None, plan, 5)?;
            let code = verify(&save)?;
            stats(&save)?;
            Ok(code)
        }
    }
}

fn check_box(min: VoxelPos, max: VoxelPos) -> Result<(), CliError> {
    if min.x > max.x || min.y > max.y || min.z > max.z {
        return Err(CliError::Usage(format!("--min {min:?} must not exceed --max {max:?} on any axis")));
    }
    Ok(())
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_owned());
    pb
}

fn chunk_keys(min: VoxelPos, max: VoxelPos) -> Vec<ChunkKey> {
    let (a, b) = (min.chunk(), max.chunk());
    let mut keys = Vec::new();
    for z in a.z..=b.z {
        for y in a.y..=b.y {
            for x in a.x..=b.x {
                keys.push(ChunkKey::new(x, y, z));
            }
        }
    }
    keys.sort_by_key(|k| k.morton());
    keys
}

fn generate(
    path: &Path,
    seed: Option<u32>,
    min: VoxelPos,
    max: VoxelPos,
    bake: bool,
    threads: Option<usize>,
) -> Result<ExitCode, CliError> {
    check_box(min, max)?;
    // Counted before anything is allocated (u128: the full i32 range has 2⁸¹ chunks).
    let (lo, hi) = (min.chunk(), max.chunk());
    let span = |a: i32, b: i32| (b as i128 - a as i128 + 1) as u128;
    let chunks = span(lo.x, hi.x) * span(lo.y, hi.y) * span(lo.z, hi.z);
    if chunks > 1 << 22 {
        return Err(CliError::Usage(format!("region has {chunks} chunks; the limit is {}", 1 << 22)));
    }
    let save = Save::open(path, seed)?;
    let generator = NoiseTerrain::new(save.terrain.clone());
    let keys = chunk_keys(min, max);
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let pb = bar(keys.len() as u64, if bake { "generate + bake" } else { "generate" });
    let start = Instant::now();
    let (mut uniform, mut baked) = (0usize, 0usize);
    let mut generating = std::time::Duration::ZERO;
    // Block by block, so memory stays bounded (a block of dense chunks is 256 MiB) whatever
    // the region: generated in parallel, counted, baked, dropped.
    // `STRATA_GENERATE_BLOCK` overrides the block size (tests: many blocks in a small region).
    let block_size = std::env::var("STRATA_GENERATE_BLOCK").ok().and_then(|b| b.parse().ok()).unwrap_or(GENERATE_BLOCK);
    for block in keys.chunks(block_size.max(1)) {
        let t = Instant::now();
        let per = block.len().div_ceil(threads).max(1);
        let generated: Vec<(ChunkKey, Chunk)> = std::thread::scope(|s| {
            let handles: Vec<_> = block
                .chunks(per)
                .map(|part| {
                    let generator = &generator;
                    s.spawn(move || part.iter().map(|&k| (k, generator.generate(k))).collect::<Vec<_>>())
                })
                .collect();
            // A panicking generator thread is a bug in the generator; report it as such.
            handles.into_iter().flat_map(|h| h.join().expect("generator thread panicked")).collect()
        });
        generating += t.elapsed();
        uniform += generated.iter().filter(|(_, c)| c.as_uniform().is_some()).count();
        if bake {
            for part in generated.chunks(1024) {
                let mut batch = strata_core::WriteBatch::new();
                for (k, c) in part {
                    batch.put(*k, c);
                }
                save.store.commit(&batch)?;
                baked += part.len();
            }
        }
        pb.inc(block.len() as u64);
    }
    pb.finish_and_clear();
    let total = keys.len();
    println!(
        "generated {total} chunks ({uniform} uniform, {} dense) in {:.2} s ({:.0} chunks/s, {threads} threads)",
        total - uniform,
        generating.as_secs_f64(),
        total as f64 / generating.as_secs_f64().max(1e-9),
    );
    if bake {
        println!("baked {baked} chunks into {} in {:.2} s in all", path.display(), start.elapsed().as_secs_f64());
    }
    Ok(ExitCode::SUCCESS)
}

/// Chunks `strata generate` holds at a time (4,096: at most 256 MiB of dense chunks; the
/// environment variable `STRATA_GENERATE_BLOCK` overrides it).
const GENERATE_BLOCK: usize = 4096;

fn stats(path: &Path) -> Result<ExitCode, CliError> {
    if !path.exists() {
        return Err(CliError::Usage(format!("no save at {}", path.display())));
    }
    let save = Save::open_read_only(path)?;
    let s = save.store.stats()?;
    let raw = s.records * codec::DENSE_BYTES as u64;
    let file = std::fs::metadata(path)?.len();
    println!("save          {}", path.display());
    println!("generator     {}", save.store.meta(GENERATOR_META)?.unwrap_or_default());
    println!(
        "chunks        {} stored ({} uniform, {} dense)",
        s.records,
        s.uniform_records,
        s.records - s.uniform_records
    );
    println!("raw bytes     {raw}");
    println!("record bytes  {} (ratio {:.1})", s.record_bytes, raw as f64 / s.record_bytes.max(1) as f64);
    println!("file bytes    {file} (ratio {:.1})", raw as f64 / file.max(1) as f64);
    Ok(ExitCode::SUCCESS)
}

fn verify(path: &Path) -> Result<ExitCode, CliError> {
    if !path.exists() {
        return Err(CliError::Usage(format!("no save at {}", path.display())));
    }
    // redb checks the checksum of every page of the save while opening it.
    let options = RedbStoreOptions { check_integrity: true, ..RedbStoreOptions::default() };
    let store = RedbStore::open_with(path, options)?;
    let pb = bar(store.stats()?.records, "verify");
    let report = store.verify(&mut || pb.inc(1))?;
    pb.finish_and_clear();
    if report.is_clean() {
        println!(
            "verified {} records and {} meta values: all decode, belong where they are stored and match their checksums, and so do their summaries and the save's digest",
            report.records, report.metas
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !report.bad_records.is_empty() {
        println!("{} of {} records are bad:", report.bad_records.len(), report.records);
        for (key, e) in &report.bad_records {
            let c = key.to_chunk();
            println!("  chunk {},{},{}: {e}", c.x, c.y, c.z);
        }
    }
    if !report.summaries.is_empty() {
        // Scans make these summaries again from their records: nothing is lost, but the file
        // is damaged.
        println!("{} chunk summaries are bad (scans read those chunks' records instead):", report.summaries.len());
        for (key, problem) in &report.summaries {
            let c = key.to_chunk();
            println!("  chunk {},{},{}: {problem}", c.x, c.y, c.z);
        }
    }
    if !report.deletions.is_empty() {
        println!("{} deletion records are bad:", report.deletions.len());
        for (key, problem) in &report.deletions {
            let c = key.to_chunk();
            println!("  chunk {},{},{}: {problem}", c.x, c.y, c.z);
        }
    }
    for (name, problem) in &report.metas_bad {
        println!("meta value {name:?} is bad: {problem}");
    }
    if let Some(mismatch) = &report.digest {
        println!("{mismatch}");
    }
    println!(
        "the save is damaged: `strata salvage --save {} --out <new save>` recovers its intact records",
        path.display()
    );
    Ok(ExitCode::FAILURE)
}

fn verify_redis(url: &str, remove: bool) -> Result<ExitCode, CliError> {
    let store = strata_redis::open(url)?;
    let found = store.inspect(&mut || {})?;
    if found.problems.is_empty() {
        println!(
            "verified {} regions and {} records: every key, index member and summary belongs where it is",
            found.regions, found.records
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} things do not belong ({} regions, {} records read):",
        found.problems.len(),
        found.regions,
        found.records
    );
    for problem in &found.problems {
        println!("  {problem}");
    }
    if !remove {
        println!(
            "remove them with `strata verify --redis <url> --remove` (a bad record's chunk then reads as the generator's)"
        );
        return Ok(ExitCode::FAILURE);
    }
    for problem in &found.problems {
        store.remove(problem)?;
    }
    println!("removed {}", found.problems.len());
    Ok(ExitCode::SUCCESS)
}

fn salvage(path: &Path, out: &Path) -> Result<ExitCode, CliError> {
    if !path.exists() {
        return Err(CliError::Usage(format!("no save at {}", path.display())));
    }
    if out.exists() {
        return Err(CliError::Usage(format!("{} exists: salvage writes a new save", out.display())));
    }
    // The world id from the damaged save when it still opens (read-only: nothing is written to
    // it); else the world most intact records belong to.
    let options = RedbStoreOptions { read_only: true, ..RedbStoreOptions::default() };
    let world = RedbStore::open_with(path, options).ok().map(|s| s.world_id());
    let found = salvage::scan(path, world)?;
    let Some(world) = found.world else {
        println!("no intact record of format 3 found in {} ({} bytes scanned)", path.display(), found.bytes_scanned);
        return Ok(ExitCode::FAILURE);
    };
    let written = found.write_save(out)?;
    let chunk = |k: &MortonKey| {
        let c = k.to_chunk();
        format!("{},{},{}", c.x, c.y, c.z)
    };
    let list = |keys: &[MortonKey]| keys.iter().map(chunk).collect::<Vec<_>>().join(" ");
    println!(
        "recovered {} chunks and {} meta values of world {world} into {}",
        written.chunks,
        written.metas,
        out.display()
    );
    println!(
        "lost {} chunks (only damaged copies found){}",
        found.lost.len(),
        if found.lost.is_empty() { String::new() } else { format!(": {}", list(&found.lost)) }
    );
    println!(
        "stale {} chunks (an older copy recovered: the newest is damaged){}",
        found.stale.len(),
        if found.stale.is_empty() { String::new() } else { format!(": {}", list(&found.stale)) }
    );
    println!(
        "skipped {} deleted chunks, {} older copies, {} records of other worlds, {} records without a key (format 1-2); {} bytes scanned",
        found.deleted.len(),
        found.superseded,
        found.foreign,
        found.unplaced,
        found.bytes_scanned
    );
    if !found.meta.contains_key(GENERATOR_META) {
        println!("warning: the generator settings ({GENERATOR_META}) were not recovered");
    }
    Ok(if found.lost.is_empty() && found.stale.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn edit(path: &Path, seed: Option<u32>, plan: EditPlan, batches: u64) -> Result<ExitCode, CliError> {
    check_box(plan.min, plan.max)?;
    let save = Save::open(path, seed)?;
    let mut world = save.world(WorldConfig::default());
    let mut out = std::io::stdout().lock();
    let start = Instant::now();
    for i in 0..batches {
        world.set_many(plan.batch(i));
        for (p, data) in plan.block_data(i) {
            world.set_block_data(p, Some(data)).map_err(|e| CliError::Usage(e.to_string()))?;
        }
        // Says when a commit is in progress (the crash test checks its kills land in some).
        writeln!(out, "committing batch={i}")?;
        out.flush()?;
        let receipt = world.commit()?;
        // The commit returned: the batch is durable. Only now acknowledge it.
        writeln!(
            out,
            "committed batch={i} chunks={} bytes={} ms={:.2}",
            receipt.entries,
            receipt.bytes,
            receipt.duration.as_secs_f64() * 1e3
        )?;
        out.flush()?;
    }
    let s = world.stats();
    writeln!(
        out,
        "done: {batches} batches of {} edits in {:.2} s; {} chunks resident, cache hit rate {:.3}",
        plan.edits_per_batch,
        start.elapsed().as_secs_f64(),
        s.resident_chunks,
        s.cache_hit_rate()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `INDEX=NAME` of `--map`.
fn parse_mapping(s: &str) -> Result<(u8, String), String> {
    let (i, name) = s.split_once('=').ok_or("expected INDEX=NAME")?;
    let i: u8 = i.trim().parse().map_err(|_| format!("palette index {i:?} is not 1..=255"))?;
    if i == 0 || name.is_empty() {
        return Err("expected INDEX=NAME with INDEX in 1..=255".into());
    }
    Ok((i, name.to_owned()))
}

fn import_vox(file: &Path, path: &Path, at: VoxelPos, maps: &[(u8, String)]) -> Result<ExitCode, CliError> {
    // Read and map everything before the save is touched: a bad file writes nothing.
    let scene = strata_core::vox::VoxScene::parse(&std::fs::read(file)?)?;
    let registry = strata_core::MaterialRegistry::builtin();
    let by_name: Vec<(u8, &str)> = maps.iter().map(|(i, n)| (*i, n.as_str())).collect();
    let materials = scene.materials(&registry, &by_name)?;
    let mut edits = Vec::with_capacity(scene.voxels.len());
    for &(p, index) in &scene.voxels {
        let moved = [p[0].checked_add(at.x), p[1].checked_add(at.y), p[2].checked_add(at.z)];
        let [Some(x), Some(y), Some(z)] = moved else {
            return Err(CliError::Usage(format!("the model does not fit at {at:?}: it leaves the world")));
        };
        edits.push((VoxelPos::new(x, y, z), materials[&index]));
    }
    let save = Save::open(path, None)?;
    let mut world = save.world(WorldConfig::default());
    world.set_many(edits);
    let receipt = world.commit()?;
    println!(
        "imported {} voxels of {} into {} chunks ({} bytes) at {},{},{}",
        scene.voxels.len(),
        file.display(),
        receipt.entries,
        receipt.bytes,
        at.x,
        at.y,
        at.z
    );
    Ok(ExitCode::SUCCESS)
}

fn compact(path: &Path) -> Result<ExitCode, CliError> {
    if !path.exists() {
        return Err(CliError::Usage(format!("no save at {}", path.display())));
    }
    let before = std::fs::metadata(path)?.len();
    let mut store = RedbStore::open(path)?;
    store.compact()?;
    drop(store);
    let after = std::fs::metadata(path)?.len();
    println!("compacted {}: {before} -> {after} bytes", path.display());
    Ok(ExitCode::SUCCESS)
}

/// Whether `a` and `b` name one existing file (the same path, a link to it, or another name
/// of it: on Unix the same device and inode).
fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        ma.dev() == mb.dev() && ma.ino() == mb.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (ma, mb);
        std::fs::canonicalize(a).ok().is_some_and(|ca| std::fs::canonicalize(b).ok() == Some(ca))
    }
}

/// Where `strata export --format parquet` reads.
enum Source<'a> {
    Save(&'a Path),
    Redis { url: &'a str, seed: Option<u32> },
}

fn export_parquet(
    source: Source<'_>,
    min: VoxelPos,
    max: VoxelPos,
    out: &Path,
    only_edited: bool,
    threads: Option<usize>,
) -> Result<ExitCode, CliError> {
    use strata_cli::parquet_export::{self, CHUNKS_FILE, ParquetOptions, Region, VOXELS_FILE};
    check_box(min, max)?;
    let (store, terrain): (std::sync::Arc<dyn ChunkStore>, strata_geo::TerrainConfig) = match source {
        Source::Save(path) => {
            for name in [VOXELS_FILE, CHUNKS_FILE] {
                if same_file(&out.join(name), path) {
                    return Err(CliError::Usage(format!(
                        "{} is the save itself: export writes elsewhere (it would overwrite the save)",
                        out.join(name).display()
                    )));
                }
            }
            let save = Save::open_read_only(path)?;
            (save.store, save.terrain)
        }
        Source::Redis { url, seed } => {
            let store = strata_redis::open(url)?;
            let terrain = strata_geo::TerrainConfig {
                seed: seed.unwrap_or(strata_geo::TerrainConfig::default().seed),
                ..strata_geo::TerrainConfig::default()
            };
            (std::sync::Arc::new(store), terrain)
        }
    };
    let store = parquet_export::export_store(store)?;
    let generator = NoiseTerrain::new(terrain.clone());
    let mut options = ParquetOptions { only_edited, ..ParquetOptions::default() };
    if let Some(t) = threads {
        options.threads = t.max(1);
    }
    let region = Region { min, max };
    let total = region.chunk_count();
    let pb = bar(if only_edited { 0 } else { total.min(u128::from(u64::MAX)) as u64 }, "export");
    let metadata = [("strata.generator", serde_json::to_string(&terrain).unwrap_or_default())];
    let start = Instant::now();
    let written =
        parquet_export::export_parquet(store.as_ref(), &generator, region, &options, out, &metadata, &mut |n| {
            pb.inc(n);
        })?;
    pb.finish_and_clear();
    println!(
        "exported {} chunks ({} edited) and {} runs of {} non-air voxels in {} row groups to {} and {} in {:.2} s",
        written.chunks,
        written.edited_chunks,
        written.runs,
        written.voxels,
        written.row_groups,
        out.join(VOXELS_FILE).display(),
        out.join(CHUNKS_FILE).display(),
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn export(path: &Path, min: VoxelPos, max: VoxelPos, out: &Path) -> Result<ExitCode, CliError> {
    check_box(min, max)?;
    if !path.exists() {
        return Err(CliError::Usage(format!("no save at {}", path.display())));
    }
    let size = [
        (max.x as i64 - min.x as i64 + 1) as u64,
        (max.y as i64 - min.y as i64 + 1) as u64,
        (max.z as i64 - min.z as i64 + 1) as u64,
    ];
    // u128: the full i32 range has 2⁹⁶ voxels (a u64 product would overflow, or wrap past the
    // limit in release builds).
    let voxels = size.iter().map(|&d| u128::from(d)).product::<u128>();
    if voxels > 1 << 30 {
        return Err(CliError::Usage(format!("region has {voxels} voxels; the export limit is {}", 1u64 << 30)));
    }
    let mut header_path = out.as_os_str().to_owned();
    header_path.push(".json");
    for target in [out, Path::new(&header_path)] {
        if same_file(target, path) {
            return Err(CliError::Usage(format!(
                "{} is the save itself: export writes elsewhere (it would overwrite the save)",
                target.display()
            )));
        }
    }
    let save = Save::open_read_only(path)?;
    let mut world = save.world(WorldConfig::default());
    let mut data = Vec::with_capacity(voxels as usize * 2);
    let pb = bar(size[1] * size[2], "export");
    for z in min.z..=max.z {
        for y in min.y..=max.y {
            let mut x = min.x;
            loop {
                let chunk = world.chunk(VoxelPos::new(x, y, z).chunk())?;
                // Copy the run of this row that lies in this chunk.
                let run_end = (x | (strata_core::CHUNK_SIZE as i32 - 1)).min(max.x);
                for xx in x..=run_end {
                    let m = chunk.get(VoxelPos::new(xx, y, z).local().index());
                    data.extend_from_slice(&m.0.to_le_bytes());
                }
                if run_end == max.x {
                    break;
                }
                x = run_end + 1;
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    std::fs::write(out, &data)?;
    let header = serde_json::json!({
        "format": "strata-raw-u16le",
        "version": 1,
        "min": min.to_array(),
        "size": size,
        "order": "x fastest, then y, then z",
        "data": out.file_name().map(|n| n.to_string_lossy().into_owned()),
        "generator": serde_json::to_value(&save.terrain).unwrap_or_default(),
    });
    std::fs::write(&header_path, serde_json::to_string_pretty(&header).unwrap_or_default())?;
    println!("exported {voxels} voxels to {} (+ {})", out.display(), PathBuf::from(header_path).display());
    Ok(ExitCode::SUCCESS)
}
