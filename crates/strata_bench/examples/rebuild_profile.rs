//! Profiling harness for `index.full_rebuild_32k`: the same world, `bulk_load` + `publish` on a
//! spawned thread, timed per run. `cargo run --release -p strata_bench --example
//! rebuild_profile [-- RUNS]`; `W=n` sets the workers (default 2). Prints min / lower quartile
//! / median in ms and the CPU time per run (all threads); also handy under
//! `valgrind --tool=callgrind`.
use std::sync::Arc;
use std::time::Instant;
use strata_core::{ChunkKey, WorldGenerator};
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_index::{IndexConfig, IndexWriter};

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20).max(1);
    let workers: usize = std::env::var("W").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let g = Arc::new(NoiseTerrain::new(TerrainConfig::default()));
    let mut chunks = Vec::new();
    for z in 0..32 {
        for y in -16..16 {
            for x in 0..32 {
                let k = ChunkKey::new(x, y, z);
                chunks.push((k, Arc::new(g.generate(k)), 0u64));
            }
        }
    }
    let mut w = IndexWriter::new(g, IndexConfig::default());
    let mut times = Vec::new();
    let cpu0 = cpu_ticks();
    for _ in 0..runs {
        let input = chunks.clone();
        let t = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                w.bulk_load(input, workers);
                std::hint::black_box(w.publish());
            });
        });
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let cpu_ms = (cpu_ticks() - cpu0) as f64 * 10.0 / runs as f64;
    times.sort_by(f64::total_cmp);
    println!("{:.3} {:.3} {:.3} cpu/run {cpu_ms:.2}", times[0], times[runs / 4], times[runs / 2]);
}

/// User + system CPU time of the process so far, in clock ticks (10 ms; Linux only, else 0).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    rest.split_whitespace().skip(11).take(2).filter_map(|v| v.parse::<u64>().ok()).sum()
}
