//! `scale.*`: what stays bounded as a player explores (see issue "Streaming that stays bounded").
//!
//! - `scale.index_bytes_per_released_chunk`: an index fed like the plugin feeds it during a
//!   straight flight over `NoiseTerrain` (a window of 16 × 8 × 16 chunks moving one column of
//!   chunks at a time, the columns behind released), no edits; everything the index holds after
//!   the last release (`IndexWriter::memory().total()`), divided by the chunks released.
//! - `scale.index_bytes_per_released_edited_chunk`: the same flight with one chunk in 64 edited
//!   (scattered), divided by the edited chunks: what an edited chunk costs once released (its
//!   summary leaf, its R-tree entry, and the generated stubs and grids on the paths to it).
//! - `stream.rss_growth_mib_per_min*`, `stream.rss_mib_end*`: the long fly-throughs, see
//!   [`stream_metrics::run_rss`].

use crate::{Budget, Metric, stream_metrics};
use std::sync::Arc;
use strata_core::{ChunkKey, ChunkOrigin, NoiseTerrain, ProcessHistory, TerrainConfig, WorldGenerator};
use strata_index::{IndexConfig, IndexWriter, PreparedChunk};

/// Runs the area.
pub fn run(budget: Budget) -> Vec<Metric> {
    let columns = if budget.scale < 1.0 { 64 } else { 256 };
    let (plain_bytes, plain_released, _) = flight(columns, None);
    let (edit_bytes, _, edited) = flight(columns, Some(64));
    let mut out = vec![
        Metric::new("scale.index_bytes_per_released_chunk", plain_bytes as f64 / plain_released.max(1) as f64, "bytes"),
        Metric::new("scale.index_bytes_per_released_edited_chunk", edit_bytes as f64 / edited.max(1) as f64, "bytes"),
    ];
    out.extend(stream_metrics::run_rss(budget));
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
