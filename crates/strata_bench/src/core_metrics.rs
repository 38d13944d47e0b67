//! Metrics of the foundation: codec, store and edits (issue "Foundation").

use crate::{Budget, Metric, keep, median, side_by_side_ns, time_ns};
use std::sync::Arc;
use std::time::Instant;
use strata_core::codec::{self, ChunkEncoder, HEADER_LEN};
use strata_core::rng::SplitMix64;
use strata_core::{
    Chunk, ChunkKey, ChunkStore, DenseChunk, EditLoading, MaterialId, VoxelPos, World, WorldConfig, WorldGenerator,
};
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_redb::RedbStore;

/// The dense surface chunk of the default terrain used by the codec metrics.
pub fn terrain_chunk() -> Chunk {
    let g = NoiseTerrain::new(TerrainConfig::default());
    (0..8)
        .flat_map(|x| (-2..3).map(move |y| ChunkKey::new(x, y, 0)))
        .map(|k| g.generate(k))
        .find(|c| matches!(c, Chunk::Dense(_)))
        .unwrap_or_else(|| g.generate(ChunkKey::new(0, 0, 0)))
}

/// Runs every foundation metric.
pub fn run(budget: Budget) -> Vec<Metric> {
    let mut out = Vec::new();
    codec_metrics(budget, &mut out);
    edit_metrics(budget, &mut out);
    store_metrics(budget, &mut out);
    out
}

fn codec_metrics(budget: Budget, out: &mut Vec<Metric>) {
    let chunk = terrain_chunk();
    let Chunk::Dense(dense) = &chunk else { return };
    // A record as a store keeps it (sealed for its world and key), decoded where it belongs.
    let home = codec::RecordHome { world: strata_core::WorldId(0x5eed), key: ChunkKey::new(3, -1, 2).morton() };
    let mut record = Vec::new();
    codec::seal_into(&codec::encode(home.key, &chunk), home.world, 1, &mut record);
    let payload = record[HEADER_LEN..record.len() - codec::TRAILER_LEN].to_vec();
    let iters = budget.iters(2000);

    // decode: ours (header + checksum + decompress_into the chunk array) vs plain decompress_into:
    // the peer is our own inner step (`lz4_flex_raw_overhead`: what the record format adds), not
    // a competitor. A failing call fails the report (never a fast error path timed).
    let mut buf = DenseChunk::filled(MaterialId::AIR);
    let mut raw = vec![0u8; codec::DENSE_BYTES];
    let (ours, peer) = side_by_side_ns(
        budget.batches,
        iters,
        || {
            keep(
                codec::decode_into_at(keep(&record), home, &mut buf)
                    .expect("codec.decode_dense_32: the record decodes"),
            );
        },
        || {
            keep(lz4_flex::block::decompress_into(keep(&payload), &mut raw).expect("the payload decompresses"));
        },
    );
    out.push(Metric::with_peer("codec.decode_dense_32", ours / 1e3, "us", "lz4_flex_raw_overhead", peer / 1e3));

    // decode through a palette remap (a save written with materials.ron's ids reversed, read
    // with the shipped numbering), side by side with the plain decode of the same chunk.
    let registry = strata_core::MaterialRegistry::builtin();
    let last = registry.iter().map(|m| m.id).max().unwrap_or(1);
    let saved = strata_core::Palette::new(
        registry.iter().map(|m| (if m.id == 0 { 0 } else { last + 1 - m.id }, m.name.clone())),
    )
    .expect("a renumbered registry is a palette");
    let map = strata_core::palette::reconcile(Some(&saved), &registry, &strata_core::PaletteRules::new())
        .expect("the same names")
        .map
        .expect("the numbering differs");
    let mut stored = chunk.clone();
    map.chunk_to_store(&mut stored);
    let mut remapped_record = Vec::new();
    codec::seal_into(&codec::encode(home.key, &stored), home.world, 1, &mut remapped_record);
    let mut check = DenseChunk::filled(MaterialId::AIR);
    codec::decode_into_at(&remapped_record, home, &mut check).expect("the remapped record decodes");
    map.ids_to_registry(check.as_mut_slice());
    assert_eq!(&check, dense, "decoding through the map gives the chunk back");
    let mut plain_buf = DenseChunk::filled(MaterialId::AIR);
    let (ours, plain) = side_by_side_ns(
        budget.batches,
        iters,
        || {
            keep(
                codec::decode_into_at(keep(&remapped_record), home, &mut buf)
                    .expect("codec.decode_dense_32_remapped: the record decodes"),
            );
            map.ids_to_registry(buf.as_mut_slice());
        },
        || {
            keep(
                codec::decode_into_at(keep(&record), home, &mut plain_buf)
                    .expect("codec.decode_dense_32: the record decodes"),
            );
        },
    );
    out.push(Metric::new("codec.decode_dense_32_remapped", ours / 1e3, "us"));
    out.push(Metric::new("codec.decode_dense_32_remapped_over_plain", ours / plain, "ratio"));

    // encode: ours (compress + header + checksum) vs plain compress_into (our inner step again).
    let mut enc = ChunkEncoder::new();
    let mut rec = Vec::with_capacity(64 << 10);
    let input: Vec<u8> = dense.as_slice().iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut scratch = vec![0u8; lz4_flex::block::get_maximum_output_size(input.len())];
    let (ours, peer) = side_by_side_ns(
        budget.batches,
        budget.iters(1000),
        || {
            rec.clear();
            enc.encode(home.key, keep(&chunk), &mut rec);
            keep(rec.len());
        },
        || {
            keep(lz4_flex::block::compress_into(keep(&input), &mut scratch).expect("the chunk compresses"));
        },
    );
    out.push(Metric::with_peer("codec.encode_dense_32", ours / 1e3, "us", "lz4_flex_raw_overhead", peer / 1e3));

    let uniform = Chunk::Uniform(MaterialId(4));
    let mut rec = Vec::with_capacity(64);
    let ns = time_ns(budget.batches, budget.iters(200_000), || {
        rec.clear();
        enc.encode(home.key, keep(&uniform), &mut rec);
        keep(codec::decode_into(&rec, &mut buf).expect("codec.uniform_roundtrip: the record decodes"));
    });
    out.push(Metric::new("codec.uniform_roundtrip", ns / 1e3, "us"));
}

fn terrain_world(store: Arc<dyn ChunkStore>) -> World {
    World::new(
        store,
        Arc::new(NoiseTerrain::new(TerrainConfig::default())),
        WorldConfig { cache_budget_bytes: 1 << 30, ..WorldConfig::default() },
    )
}

fn edit_metrics(budget: Budget, out: &mut Vec<Metric>) {
    // Voxel writes through the batch API (`set_many` + `apply`) into resident chunks: a brush-like
    // workload (random voxels within a 64³ box = 8 chunks) and a scattered one (256³ = 512 chunks).
    // `_deferred`: the same with `EditLoading::Deferred`, the plugin's mode (an apply first
    // checks that every chunk a batch writes is resident).
    for (name, extent, loading) in [
        ("edits.batch_writes_per_s", 64, EditLoading::Blocking),
        ("edits.batch_writes_per_s_scattered_256", 256, EditLoading::Blocking),
        ("edits.batch_writes_per_s_scattered_256_deferred", 256, EditLoading::Deferred),
    ] {
        let mut world = terrain_world(Arc::new(strata_core::MemoryStore::new()));
        let per_batch = 1 << 18;
        let mut rng = SplitMix64(0x9E37_79B9);
        let batches: Vec<Vec<(VoxelPos, MaterialId)>> = (0..4)
            .map(|_| {
                (0..per_batch)
                    .map(|_| {
                        let p = VoxelPos::new(
                            rng.below(extent) as i32,
                            rng.below(extent) as i32 - 32,
                            rng.below(extent) as i32,
                        );
                        (p, MaterialId(1 + rng.below(8) as u16))
                    })
                    .collect()
            })
            .collect();
        // Make the chunks resident and dense first.
        world.set_many(batches[0].clone());
        world.apply().expect("applying the first batch");
        world.set_edit_loading(loading);
        let mut samples = Vec::new();
        for b in 0..budget.batches {
            let edits = batches[b % batches.len()].clone();
            let t = Instant::now();
            world.set_many(edits);
            world.apply().expect("applying a batch");
            samples.push(per_batch as f64 / t.elapsed().as_secs_f64());
        }
        out.push(Metric::new(name, median(&samples), "writes_per_s"));
    }
}

fn store_metrics(budget: Budget, out: &mut Vec<Metric>) {
    let Ok(dir) = tempfile::tempdir() else {
        eprintln!("store metrics skipped: no temporary directory");
        return;
    };

    // Committing 256 dirty chunks: time and fsyncs per commit (World::commit: encode + one
    // transaction + durability).
    let path = dir.path().join("commit.strata");
    let Ok(store) = RedbStore::open(&path) else { return };
    let store = Arc::new(store);
    let mut world = terrain_world(store.clone());
    let keys: Vec<ChunkKey> = (0..256).map(|i| ChunkKey::new(i % 16, (i / 16) % 4 - 2, i / 64)).collect();
    for k in &keys {
        world.chunk(*k).expect("loading a chunk");
    }
    let (mut ms, mut syncs) = (Vec::new(), Vec::new());
    for b in 0..budget.batches.max(9) {
        for k in &keys {
            let p = k.min_voxel();
            world.set_voxel(VoxelPos::new(p.x + (b % 32) as i32, p.y + 3, p.z + 7), MaterialId(19 - (b % 2) as u16));
        }
        world.apply().expect("applying the edits");
        let before = store.sync_count().expect("redb counts its fsyncs");
        let t = Instant::now();
        let receipt = world.commit().expect("committing 256 chunks");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        syncs.push((store.sync_count().expect("redb counts its fsyncs") - before) as f64);
        assert_eq!(receipt.entries, 256, "store.commit_256_ms: every chunk in the commit");
    }
    out.push(Metric::new("store.commit_256_ms", median(&ms), "ms"));
    out.push(Metric::new("store.commit_256_fsyncs", median(&syncs), "fsyncs"));

    // Size: a generated 256³ region, 100k random edits committed (10 commits of 10k).
    let path = dir.path().join("size.strata");
    let Ok(store) = RedbStore::open(&path) else { return };
    let store: Arc<RedbStore> = Arc::new(store);
    let mut world = terrain_world(store.clone());
    let mut rng = SplitMix64(12345);
    for _ in 0..10 {
        let edits = (0..10_000)
            .map(|_| {
                let p = VoxelPos::new(
                    rng.below(256) as i32 - 128,
                    rng.below(256) as i32 - 128,
                    rng.below(256) as i32 - 128,
                );
                (p, MaterialId(1 + rng.below(18) as u16))
            })
            .collect();
        world.set_many(edits);
        world.commit().expect("committing 10k edits");
    }
    // 100k edits over 512 chunks (~195 each): every chunk of the region is stored.
    let s = store.stats().expect("store stats");
    assert_eq!(s.records, 512, "store.size_ratio_region256: every chunk of the region stored");
    // Raw: the stored chunks' voxels, 2 bytes each.
    let raw = s.records * strata_core::CHUNK_VOLUME as u64 * 2;
    // Peers: each stored chunk's raw voxels compressed on its own (what a store that compresses
    // whole chunks and nothing else writes; no uniform shortcut), with lz4_flex and with zstd
    // (libzstd at its default level, 3).
    let (mut lz4_bytes, mut zstd_bytes) = (0u64, 0u64);
    for z in -4..4 {
        for y in -4..4 {
            for x in -4..4 {
                let mut chunk = store.get(ChunkKey::new(x, y, z)).expect("read").expect("stored");
                let bytes: Vec<u8> = chunk.make_dense().as_slice().iter().flat_map(|v| v.to_le_bytes()).collect();
                lz4_bytes += lz4_flex::compress_prepend_size(&bytes).len() as u64;
                zstd_bytes += zstd::bulk::compress(&bytes, 3).expect("zstd compresses").len() as u64;
            }
        }
    }
    let ours = raw as f64 / s.record_bytes.max(1) as f64;
    for (peer, bytes) in [("lz4_flex_per_chunk", lz4_bytes), ("zstd3_per_chunk", zstd_bytes)] {
        out.push(Metric::with_peer(
            "store.size_ratio_region256",
            ours,
            "raw_over_record_bytes",
            peer,
            raw as f64 / bytes as f64,
        ));
    }
    drop(world);
    // File size after compaction (`strata compact`): what the save costs on disk.
    if let Ok(mut store) = Arc::try_unwrap(store) {
        let _ = store.compact();
        drop(store);
        if let Ok(meta) = std::fs::metadata(&path) {
            out.push(Metric::new(
                "store.size_ratio_region256_file",
                raw as f64 / meta.len().max(1) as f64,
                "raw_over_compacted_file_bytes",
            ));
        }
    }
    salvage_metrics(&path, out);
}

/// Salvage after the database structure is destroyed: every byte of the save that is not part
/// of a live chunk record (headers, B-tree pages, summaries, allocator state, older copies) is
/// zeroed, then `salvage::scan` reads the file. The fraction counts live records recovered
/// byte for byte (found by searching the file for each record's bytes, not by the scanner).
fn salvage_metrics(path: &std::path::Path, out: &mut Vec<Metric>) {
    let options = strata_redb::RedbStoreOptions { read_only: true, ..Default::default() };
    let Ok(store) = RedbStore::open_with(path, options) else { return };
    let mut live: Vec<(strata_core::MortonKey, Vec<u8>)> = Vec::new();
    let scanned = store.scan(strata_core::store::full_range(), &mut |k, r| {
        live.push((k, r.to_vec()));
        std::ops::ControlFlow::Continue(())
    });
    drop(store);
    let Ok(mut bytes) = std::fs::read(path) else { return };
    if scanned.is_err() || live.is_empty() {
        return;
    }
    let mut keep = vec![false; bytes.len()];
    for (_, r) in &live {
        let at = memchr::memmem::find(&bytes, r)
            .expect("store.salvage_recovered_fraction: a live record lies whole in the file");
        keep[at..at + r.len()].fill(true);
    }
    bytes.iter_mut().zip(&keep).filter(|(_, k)| !**k).for_each(|(b, _)| *b = 0);
    let destroyed = path.with_extension("destroyed");
    if std::fs::write(&destroyed, &bytes).is_err() {
        return;
    }
    let t = Instant::now();
    let found = strata_redb::salvage::scan(&destroyed, None)
        .expect("store.salvage_recovered_fraction: the scan reads the file");
    let secs = t.elapsed().as_secs_f64();
    let recovered = live.iter().filter(|(k, r)| found.record(*k).ok().flatten().is_some_and(|f| f == *r)).count();
    out.push(Metric::new("store.salvage_recovered_fraction", recovered as f64 / live.len() as f64, "fraction"));
    out.push(Metric::new("store.salvage_scan_mb_per_s", bytes.len() as f64 / 1e6 / secs.max(1e-9), "MB_per_s"));
}
