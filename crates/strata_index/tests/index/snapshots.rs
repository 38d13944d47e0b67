//! Readers running while the writer updates always see a consistent snapshot; queries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use strata_core::{Chunk, ChunkKey, FlatGenerator, MaterialId, MemoryStore, VoxelPos, World, WorldConfig};
use strata_index::{ChunkBox, DataSource, IndexConfig, IndexSnapshot, IndexWriter, NodeId, Occupancy, ROOT_LEVEL};

/// Internal consistency of one snapshot: R-tree and octree agree, and every root's counts add
/// up to its volume.
fn check_consistent(s: &IndexSnapshot) -> Result<(), String> {
    for e in s.rtree_entries() {
        let leaf = s.chunk(e.key).ok_or_else(|| format!("R-tree entry {:?} has no octree leaf", e.key))?;
        let chunk = e.chunk.as_ref().ok_or_else(|| format!("R-tree entry {:?} lost its voxels", e.key))?;
        if !Arc::ptr_eq(&leaf, chunk) {
            return Err(format!("R-tree entry {:?} and octree leaf differ", e.key));
        }
        if e.summary != chunk.summary() || e.summary.non_air_count == 0 {
            return Err(format!("R-tree summary of {:?} is wrong", e.key));
        }
        let root = NodeId::containing(e.key, ROOT_LEVEL);
        let h = s.histogram(root).ok_or("missing root")?;
        if h.total() != s.summary(root).volume {
            return Err(format!("root {root:?} counts {} voxels", h.total()));
        }
    }
    Ok(())
}

#[test]
fn readers_see_consistent_snapshots_during_updates() {
    let generator = Arc::new(FlatGenerator { height: 0, material: MaterialId(1) });
    let mut world = World::new(Arc::new(MemoryStore::new()), generator.clone(), WorldConfig::default());
    let feed = world.subscribe();
    let mut writer = IndexWriter::new(generator.clone(), IndexConfig::default());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = writer.reader();
    let stop2 = stop.clone();
    let t = std::thread::spawn(move || {
        let (mut seen, mut last) = (0u64, 0u64);
        while !stop2.load(Ordering::Relaxed) {
            let s = reader.snapshot();
            check_consistent(&s)?;
            if s.version() < last {
                return Err(format!("snapshot version went back from {last} to {}", s.version()));
            }
            last = s.version();
            seen += 1;
        }
        Ok::<u64, String>(seen)
    });
    for i in 0..60 {
        let c = VoxelPos::new((i * 7) % 90 - 45, (i * 3) % 20 - 10, (i * 11) % 90 - 45);
        world.fill_sphere(c, 6.0, MaterialId((i % 3) as u16)).unwrap();
        world.apply().unwrap();
        // The writer folds the feed in and publishes while the reader reads.
        for change in feed.try_iter() {
            writer.apply_change(&change);
        }
        writer.publish();
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let seen = t.join().unwrap().unwrap();
    assert!(seen > 0);
    let snap = writer.reader().snapshot();
    assert_eq!(snap.version(), 60);
    assert!(snap.rtree_len() > 0);
    check_consistent(&snap).unwrap();
}

#[test]
fn summaries_occupancy_and_homogeneous_regions() {
    // Ground at y = -1: chunk rows y < 0 are solid, rows y >= 0 are air.
    let generator = Arc::new(FlatGenerator { height: -1, material: MaterialId(1) });
    let mut w = IndexWriter::new(generator.clone(), IndexConfig::default());
    let mut chunks = Vec::new();
    for z in 0..4 {
        for y in -2..2 {
            for x in 0..4 {
                let k = ChunkKey::new(x, y, z);
                chunks.push((k, Arc::new(strata_core::WorldGenerator::generate(generator.as_ref(), k)), 0));
            }
        }
    }
    w.bulk_load(chunks, 1);
    let s = w.publish();
    let air = s.summary(NodeId::chunk(ChunkKey::new(0, 0, 0)));
    assert_eq!(air.occupancy(), Occupancy::Empty);
    assert!(air.is_uniform());
    let solid = s.summary(NodeId::chunk(ChunkKey::new(0, -1, 0)));
    assert_eq!(solid.occupancy(), Occupancy::Solid);
    // The level-2 node at y = -1 covers chunk rows -4..=-1; rows -4 and -3 are unknown (generated).
    let n = s.summary(NodeId::new(2, ChunkKey::new(0, -1, 0)));
    assert_eq!(n.source, DataSource::Mixed);
    assert_eq!(s.summary(NodeId::new(2, ChunkKey::new(0, 0, 0))).source, DataSource::Mixed);
    assert_eq!(s.summary(NodeId::new(1, ChunkKey::new(0, 0, 0))).source, DataSource::Exact);
    assert!(s.is_homogeneous(NodeId::new(1, ChunkKey::new(0, 0, 0)), 0.95));
    assert!(s.is_homogeneous(NodeId::new(1, ChunkKey::new(0, -1, 0)), 0.95));
    // Region query over 4×4×4 chunks (128³ voxels): everything is homogeneous air or stone.
    let regions = s.homogeneous_regions(ChunkBox::new(ChunkKey::new(0, -2, 0), ChunkKey::new(3, 1, 3)), 0);
    let covered: i64 = regions
        .iter()
        .map(|r| {
            let (lo, hi) = r.node.chunk_range();
            (0..3).map(|a| hi[a] - lo[a] + 1).product::<i64>()
        })
        .sum();
    assert_eq!(covered, 64);
    assert!(regions.iter().all(|r| r.summary.is_homogeneous(0.95)));
    assert!(regions.iter().any(|r| r.node.level == 1), "{regions:?}");
    // LOD data of a known node and a node nobody knows.
    assert_eq!(s.lod_chunk(NodeId::new(1, ChunkKey::new(0, 0, 0))), Chunk::Uniform(MaterialId::AIR));
    let far = NodeId::new(3, ChunkKey::new(100, -10, 100));
    assert_eq!(s.summary(far).source, DataSource::Generated);
    assert_eq!(s.lod_chunk(far), Chunk::Uniform(MaterialId(1)));
    // Box histograms: an unaligned box inside the known chunks equals the brute-force count.
    let b = ChunkBox::new(ChunkKey::new(1, -2, 0), ChunkKey::new(3, 0, 2));
    let mut want = strata_index::Histogram::new();
    for z in 0..=2 {
        for y in -2..=0 {
            for x in 1..=3 {
                want.merge(&strata_index::Histogram::of_chunk(&s.chunk(ChunkKey::new(x, y, z)).unwrap(), 1));
            }
        }
    }
    assert_eq!(s.region_histogram(b), want);
    assert!(!s.is_region_homogeneous(b, 0.95));
    assert!(s.is_region_homogeneous(ChunkBox::new(ChunkKey::new(1, -2, 0), ChunkKey::new(3, -1, 2)), 1.0));
    // R-tree region query.
    let n = s.chunks_in(ChunkBox::new(ChunkKey::new(0, -2, 0), ChunkKey::new(1, 1, 1))).count();
    assert_eq!(n, 8, "two solid rows of 2×2 chunks");
}
