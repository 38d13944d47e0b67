//! `net.*`: what multiplayer costs.
//!
//! - `net.first_view_bytes_per_client`, peer `all_chunk_records`: the chunk data a server sends
//!   a client joining at the game's spawn point with the default view (`StrataConfig`'s: 384
//!   voxels, LOD levels 0–3, split at 1.5 node edges), on the default world (`NoiseTerrain`,
//!   seed 7) with 1 % of the view's chunks edited. Strata sends what its server sends: one
//!   `ServerMessage::Chunk` (the sealed record) per edited chunk under the nodes the client's
//!   view selects (its interest set, `bevy_strata::net`); the peer sends every chunk of the
//!   same view as the same message (a protocol without a shared generator). Both are the
//!   protocol's encoded message lengths (the transport's framing, the same per message, is
//!   left out; so is the handshake, the same for both). The edited chunks are a uniform random
//!   1 % of the view's chunks (a fixed seed), each edited by a ball of radius 4 at a random
//!   place in it: dug where it is solid, built where it is air — what players do where they
//!   are. `net.first_view_bytes_per_client_surface_edits`: the same with every edit in a chunk
//!   the terrain's surface crosses (the densest records: the worst case for Strata).
//!
//! The view's chunks are every chunk under a selected node, as the client's interest set
//! counts them (levels above 0 included: the server sends a far edited chunk's record too).
//! Bytes, not time: deterministic, measured once.
//!
//! Measured with the Bevy plugin over loopback UDP (`strata_flythrough --net`, see
//! `crates/strata_bench_stream/src/net.rs` for what exactly is timed), each run in a fresh
//! process, the median of the runs (3, or 1 with `--quick`):
//! - `net.edit_visible_ms`: p99 over 100 edits of the time from a client's edit to the voxel
//!   meshed on another client (a redb save: each edit is durable before anyone sees it), and
//!   `net.edit_visible_p50_ms`;
//! - `net.server_main_thread_p99_ms`: the server's frame time (its `App::update`) with 32
//!   simulated clients flying at 64 voxels/s in different directions over a world with edited
//!   chunks all along their paths, and `net.bytes_per_s_per_client`: the chunk data each client
//!   received per second of that flight.

use crate::{Budget, Metric};
use std::sync::Arc;
use strata_core::codec::{self, WorldId};
use strata_core::rng::SplitMix64;
use strata_core::{Chunk, ChunkKey, Edit, MaterialId, MemoryStore, VoxelPos, World, WorldConfig, WorldGenerator};
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_net::{ChunkRecord, ServerMessage};
use strata_stream::lod_select::{LodSelector, LodSettings, ViewRule, Viewer};

const PEER: &str = "all_chunk_records";

/// The default view around the game's spawn point: every chunk under a selected node.
fn view_chunks(terrain: &NoiseTerrain) -> (Vec<ChunkKey>, [f64; 3]) {
    let ground = terrain.height(0, 0).max(terrain.config().sea_level);
    let eye = [0.5, f64::from(ground) + 1.6, 0.5];
    // `StrataConfig::default()`'s LOD settings and view distance.
    let settings = LodSettings { max_level: 3, split_distance: 1.5, hysteresis: 0.25, view_rule: ViewRule::NodeBox };
    let mut selector = LodSelector::new(settings);
    selector.update(&[Viewer { position: eye, view_distance: 384.0 }]);
    let mut chunks = Vec::new();
    for node in selector.selected() {
        let (lo, hi) = node.chunk_range();
        for x in lo[0]..=hi[0] {
            for y in lo[1]..=hi[1] {
                for z in lo[2]..=hi[2] {
                    chunks.push(ChunkKey::new(x as i32, y as i32, z as i32));
                }
            }
        }
    }
    chunks.sort_unstable_by_key(|k| k.morton());
    chunks.dedup();
    (chunks, eye)
}

/// The length of the message that carries `chunk` at `key` as a record sealed for `world`.
fn message_len(world: WorldId, key: ChunkKey, chunk: &Chunk) -> usize {
    let mut sealed = Vec::new();
    codec::seal_into(&codec::encode(key.morton(), chunk), world, 1, &mut sealed);
    let record = ChunkRecord::new(sealed).expect("a record the codec just sealed");
    let mut out = Vec::new();
    ServerMessage::Chunk(record).encode(&mut out).expect("a chunk message within the limits");
    out.len()
}

/// The chunks `edited` after the edits (`World` applies them), keyed.
fn edit(terrain: &Arc<NoiseTerrain>, edited: &[ChunkKey], seed: u64) -> Vec<(ChunkKey, Chunk)> {
    let mut world = World::new(Arc::new(MemoryStore::new()), terrain.clone(), WorldConfig::default());
    let mut rng = SplitMix64(seed);
    for key in edited {
        let min = key.min_voxel();
        let at = VoxelPos::new(min.x + rng.range(4, 28), min.y + rng.range(4, 28), min.z + rng.range(4, 28));
        let solid = terrain.material_at(at) != MaterialId::AIR;
        let material = if solid { MaterialId::AIR } else { MaterialId(1) };
        world.push_edit(Edit::FillSphere { center: at, radius: 4.0, material });
    }
    world.apply().expect("an in-memory world applies");
    edited.iter().map(|&k| (k, (*world.chunk(k).expect("resident")).clone())).collect()
}

/// Every `net.*` metric (see the [module docs](self)).
pub fn run(budget: Budget) -> Vec<Metric> {
    let mut lines = first_view_bytes();
    match flythrough(budget) {
        Ok(more) => lines.extend(more),
        Err(e) => eprintln!("net: the plugin's metrics were not measured: {e}"),
    }
    lines
}

/// `strata_flythrough --net visible` and `--net load`, each in fresh processes.
fn flythrough(budget: Budget) -> Result<Vec<Metric>, String> {
    let exe = crate::stream_metrics::build()?;
    let runs = if budget.scale < 1.0 { 1 } else { 3 };
    let seconds = if budget.scale < 1.0 { "10" } else { "20" };
    let run = |args: &[&str], marker: &str| -> Result<crate::stream_metrics::Sample, String> {
        let out = std::process::Command::new(&exe).args(args).output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!("{args:?}: {}: {}", out.status, err.lines().last().unwrap_or("")));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!("net {args:?}: {}", stdout.trim());
        crate::stream_metrics::parse_line(&stdout, marker).ok_or_else(|| format!("{args:?}: no result line"))
    };
    let (mut visible, mut load) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        visible.push(run(&["--net", "visible"], "edit_visible_p99_ms=")?);
        load.push(run(&["--net", "load", "--clients", "32", "--seconds", seconds], "server_main_thread_p99_ms=")?);
    }
    let m = |v: &[crate::stream_metrics::Sample], k: &str| crate::median(&v.iter().map(|s| s[k]).collect::<Vec<_>>());
    Ok(vec![
        Metric::new("net.edit_visible_ms", m(&visible, "edit_visible_p99_ms"), "ms"),
        Metric::new("net.edit_visible_p50_ms", m(&visible, "edit_visible_p50_ms"), "ms"),
        Metric::new("net.server_main_thread_p99_ms", m(&load, "server_main_thread_p99_ms"), "ms"),
        Metric::new("net.bytes_per_s_per_client", m(&load, "bytes_per_s_per_client"), "bytes_per_s"),
    ])
}

/// `net.first_view_bytes_per_client` (and the surface-edit variant) against every chunk of the
/// view as a record.
fn first_view_bytes() -> Vec<Metric> {
    let terrain = Arc::new(NoiseTerrain::new(TerrainConfig::default()));
    let (chunks, eye) = view_chunks(&terrain);
    let world = WorldId(0x5354_5241_5441);
    // The peer: every chunk of the view, as generated (edits change a record's size little
    // next to the whole view's; they are counted with their edits below).
    let generated: Vec<(ChunkKey, Chunk)> = chunks.iter().map(|&k| (k, terrain.generate(k))).collect();
    let surface: Vec<ChunkKey> = generated.iter().filter(|(_, c)| c.as_uniform().is_none()).map(|(k, _)| *k).collect();
    let count = chunks.len().div_ceil(100);
    let pick = |from: &[ChunkKey], seed: u64| -> Vec<ChunkKey> {
        let mut rng = SplitMix64(seed);
        let mut pool = from.to_vec();
        let mut out = Vec::with_capacity(count);
        while out.len() < count && !pool.is_empty() {
            out.push(pool.swap_remove(rng.below(pool.len() as u64) as usize));
        }
        out
    };
    let mut lines = Vec::new();
    for (name, pool) in
        [("net.first_view_bytes_per_client", &chunks), ("net.first_view_bytes_per_client_surface_edits", &surface)]
    {
        let edited = edit(&terrain, &pick(pool, 0x6e65_7431), 0x6e65_7432);
        let ours: usize = edited.iter().map(|(k, c)| message_len(world, *k, c)).sum();
        let changed: std::collections::HashMap<ChunkKey, &Chunk> = edited.iter().map(|(k, c)| (*k, c)).collect();
        let peer: usize =
            generated.iter().map(|(k, c)| message_len(world, *k, changed.get(k).copied().unwrap_or(c))).sum();
        let dense = edited.iter().filter(|(_, c)| c.as_uniform().is_none()).count();
        eprintln!(
            "{name}: view of {} chunks ({} the surface crosses) from {eye:?}, {} edited ({dense} of them not uniform): \
             {ours} bytes, every chunk {peer} bytes",
            chunks.len(),
            surface.len(),
            edited.len()
        );
        lines.push(Metric::with_peer(name, ours as f64, "bytes", PEER, peer as f64));
    }
    lines
}
