//! `strata export --format parquet`: a region of a world as two Parquet tables, for DuckDB,
//! Polars, pandas or Spark.
//!
//! - **`voxels.parquet`**: one row per **run** of equal non-air voxels along x inside one
//!   chunk and the region (at most 32 voxels): the chunk key, the run's first voxel, its
//!   length, the material id and name, whether the chunk is edited (stored in the save: the
//!   hybrid store's deltas) and the chunk's geology history. Runs, not voxels: terrain rows are
//!   mostly one or two runs, so a region has ~10–30× fewer rows than non-air voxels, and every
//!   per-voxel question stays a query away (`SUM(length)` counts voxels; a run's voxels are
//!   `x .. x + length`).
//! - **`chunks.parquet`**: one row per chunk of the region (edited or generated): key, edited,
//!   uniform or dense, the sequence number of the commit that wrote it (0 when generated), the
//!   geology history, and the voxel count per material of its part inside the region (air
//!   included), so `SUM(count)` of the non-air materials equals `SUM(length)` of its runs.
//!
//! Ids and names are the materials registry's ([`MaterialRegistry::builtin`]): a save whose
//! palette numbers materials differently is read through its palette ([`export_store`]).
//!
//! Memory is bounded whatever the region: chunks are read (a batch of records per block of
//! [`BLOCK_CHUNKS`] keys, or a scan of the stored ones with `only_edited`), generated and cut
//! into runs a block at a time, and the buffered rows are written as a row group of both files
//! whenever [`ParquetOptions::row_group_runs`] runs are buffered.
//!
//! Encoding: Snappy pages, dictionary encoding (names, histories and flags cost a few bits a
//! row), Parquet 1.0 pages readable by every reader.

use crate::CliError;
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::parser::parse_message_type;
use std::fs::File;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use strata_core::{
    CHUNK_SIZE, Chunk, ChunkKey, ChunkStore, MaterialRegistry, ProcessHistory, StoredChunk, VoxelPos, WorldGenerator,
};

/// The voxel-run table's file name.
pub const VOXELS_FILE: &str = "voxels.parquet";
/// The chunk table's file name.
pub const CHUNKS_FILE: &str = "chunks.parquet";
/// Chunks read, generated and cut into runs at a time.
pub const BLOCK_CHUNKS: usize = 256;

const VOXELS_SCHEMA: &str = "
message strata_voxel_runs {
  required int32 chunk_x;
  required int32 chunk_y;
  required int32 chunk_z;
  required int32 x;
  required int32 y;
  required int32 z;
  required int32 length;
  required int32 material;
  required binary material_name (UTF8);
  required boolean edited;
  required int32 history_mask;
  required binary history (UTF8);
}";

const CHUNKS_SCHEMA: &str = "
message strata_chunks {
  required int32 chunk_x;
  required int32 chunk_y;
  required int32 chunk_z;
  required boolean edited;
  required boolean uniform;
  required int64 sequence;
  required int32 history_mask;
  required binary history (UTF8);
  required int32 region_voxels;
  required group materials (LIST) {
    repeated group list {
      required group element {
        required int32 material;
        required binary name (UTF8);
        required int32 count;
      }
    }
  }
}";

/// How to export.
#[derive(Clone, Debug)]
pub struct ParquetOptions {
    /// Only the chunks stored in the save (edited: the hybrid store's deltas); else every
    /// chunk of the region, generated where not stored.
    pub only_edited: bool,
    /// Runs buffered before both tables get a row group (bounds the memory: ~40 bytes a run).
    pub row_group_runs: usize,
    /// Threads generating and cutting chunks (`only_edited` reads in one).
    pub threads: usize,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        Self {
            only_edited: false,
            row_group_runs: 1 << 20,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// What an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportedTables {
    /// Rows of the chunk table.
    pub chunks: u64,
    /// Of which edited (stored in the save).
    pub edited_chunks: u64,
    /// Rows of the voxel table.
    pub runs: u64,
    /// Non-air voxels in those runs.
    pub voxels: u64,
    /// Row groups written to each file.
    pub row_groups: u64,
}

/// The inclusive voxel box of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Lower corner.
    pub min: VoxelPos,
    /// Upper corner.
    pub max: VoxelPos,
}

impl Region {
    /// The chunks it touches, counted without enumerating them.
    pub fn chunk_count(&self) -> u128 {
        let (lo, hi) = (self.min.chunk(), self.max.chunk());
        let span = |a: i32, b: i32| (b as i128 - a as i128 + 1).max(0) as u128;
        span(lo.x, hi.x) * span(lo.y, hi.y) * span(lo.z, hi.z)
    }

    fn contains_chunk(&self, k: ChunkKey) -> bool {
        let (lo, hi) = (self.min.chunk(), self.max.chunk());
        (lo.x..=hi.x).contains(&k.x) && (lo.y..=hi.y).contains(&k.y) && (lo.z..=hi.z).contains(&k.z)
    }

    /// The part of chunk `k` inside the region, as local `[lo, hi]` per axis (inclusive).
    fn local_box(&self, k: ChunkKey) -> [[usize; 2]; 3] {
        let origin = [k.x, k.y, k.z].map(|c| c as i64 * CHUNK_SIZE as i64);
        let (min, max) = (self.min.to_array(), self.max.to_array());
        std::array::from_fn(|a| {
            let lo = (min[a] as i64 - origin[a]).clamp(0, CHUNK_SIZE as i64 - 1) as usize;
            let hi = (max[a] as i64 - origin[a]).clamp(0, CHUNK_SIZE as i64 - 1) as usize;
            [lo, hi]
        })
    }
}

/// One chunk cut into rows.
struct ChunkRows {
    key: ChunkKey,
    edited: bool,
    uniform: bool,
    sequence: u64,
    history: ProcessHistory,
    /// Local `(x, y, z)` of each run's first voxel, its length and material.
    runs: Vec<([u8; 3], u8, u16)>,
    /// Voxels per material inside the region, by id.
    counts: Vec<(u16, u32)>,
}

impl ChunkRows {
    /// Runs of equal non-air ids along x, and counts per material, of the chunk's part inside
    /// `region`.
    ///
    /// # Runtime
    /// O(voxels inside the region) for a dense chunk, O(rows) for a uniform one.
    fn cut(key: ChunkKey, stored: Option<StoredChunk>, generated: impl FnOnce() -> Chunk, region: &Region) -> Self {
        let (chunk, edited, sequence, history) = match stored {
            Some(s) => (s.chunk, true, s.sequence, s.history),
            None => (generated(), false, 0, ProcessHistory::EMPTY),
        };
        let [bx, by, bz] = region.local_box(key);
        let mut runs = Vec::new();
        let mut counts: Vec<(u16, u32)> = Vec::new();
        let mut count = |m: u16, n: u32| match counts.iter_mut().find(|(id, _)| *id == m) {
            Some((_, c)) => *c += n,
            None => counts.push((m, n)),
        };
        let row_len = (bx[1] - bx[0] + 1) as u32;
        match &chunk {
            Chunk::Uniform(m) => {
                let rows = ((by[1] - by[0] + 1) * (bz[1] - bz[0] + 1)) as u32;
                count(m.0, row_len * rows);
                if m.0 != 0 {
                    for z in bz[0]..=bz[1] {
                        for y in by[0]..=by[1] {
                            runs.push(([bx[0] as u8, y as u8, z as u8], row_len as u8, m.0));
                        }
                    }
                }
            }
            Chunk::Dense(d) => {
                let ids = d.as_slice();
                for z in bz[0]..=bz[1] {
                    for y in by[0]..=by[1] {
                        let row = &ids[CHUNK_SIZE * (y + CHUNK_SIZE * z)..][..CHUNK_SIZE];
                        let mut x = bx[0];
                        while x <= bx[1] {
                            let m = row[x];
                            let start = x;
                            while x <= bx[1] && row[x] == m {
                                x += 1;
                            }
                            let len = (x - start) as u32;
                            count(m, len);
                            if m != 0 {
                                runs.push(([start as u8, y as u8, z as u8], len as u8, m));
                            }
                        }
                    }
                }
            }
        }
        counts.sort_unstable();
        Self { key, edited, uniform: chunk.as_uniform().is_some(), sequence, history, runs, counts }
    }
}

/// `history` as text: `Name@step` per process, in id order (`ThermalErosion@12
/// Volcanism@3`), empty when no process touched the chunk.
pub fn history_text(history: &ProcessHistory) -> String {
    let names = ["ThermalErosion", "HydraulicErosion", "Volcanism"];
    history
        .iter()
        .map(|s| match names.get(usize::from(s.process.get())) {
            Some(name) => format!("{name}@{}", s.step),
            None => format!("process{}@{}", s.process.get(), s.step),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The bits of `history` (bit `i`: process `i` touched the chunk).
fn history_mask(history: &ProcessHistory) -> i32 {
    history.iter().fold(0, |m, s| m | 1 << s.process.get())
}

/// Appends one row group to `file`: `write(index, column)` fills each leaf column in schema
/// order.
fn write_row_group(
    file: &mut SerializedFileWriter<File>,
    mut write: impl FnMut(usize, &mut SerializedColumnWriter<'_>) -> parquet::errors::Result<usize>,
) -> Result<(), CliError> {
    let mut group = file.next_row_group().map_err(parquet_err)?;
    let mut index = 0;
    while let Some(mut column) = group.next_column().map_err(parquet_err)? {
        write(index, &mut column).map_err(parquet_err)?;
        column.close().map_err(parquet_err)?;
        index += 1;
    }
    group.close().map_err(parquet_err)?;
    Ok(())
}

/// The buffered rows of both tables and their writers.
struct Tables {
    voxels: SerializedFileWriter<File>,
    chunks: SerializedFileWriter<File>,
    /// Material names by id (unknown ids: `#<id>`), built on first use.
    names: Vec<Option<ByteArray>>,
    registry: MaterialRegistry,
    rows: Vec<ChunkRows>,
    buffered_runs: usize,
    written: ExportedTables,
}

fn parquet_err(e: parquet::errors::ParquetError) -> CliError {
    CliError::Parquet(e.to_string())
}

impl Tables {
    fn create(dir: &Path, region: &Region, metadata: &[(&str, String)]) -> Result<Self, CliError> {
        std::fs::create_dir_all(dir)?;
        let mut kv: Vec<KeyValue> = metadata.iter().map(|(k, v)| KeyValue::new((*k).to_owned(), v.clone())).collect();
        kv.push(KeyValue::new("strata.region.min".to_owned(), format!("{:?}", region.min.to_array())));
        kv.push(KeyValue::new("strata.region.max".to_owned(), format!("{:?}", region.max.to_array())));
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_created_by(format!("strata {}", env!("CARGO_PKG_VERSION")))
                .set_key_value_metadata(Some(kv))
                .build(),
        );
        let open = |name: &str, schema: &str| -> Result<SerializedFileWriter<File>, CliError> {
            let schema = Arc::new(parse_message_type(schema).map_err(parquet_err)?);
            let file = File::create(dir.join(name))?;
            SerializedFileWriter::new(file, schema, props.clone()).map_err(parquet_err)
        };
        Ok(Self {
            voxels: open(VOXELS_FILE, VOXELS_SCHEMA)?,
            chunks: open(CHUNKS_FILE, CHUNKS_SCHEMA)?,
            names: Vec::new(),
            registry: MaterialRegistry::builtin(),
            rows: Vec::new(),
            buffered_runs: 0,
            written: ExportedTables::default(),
        })
    }

    fn name(&mut self, id: u16) -> ByteArray {
        if self.names.len() <= usize::from(id) {
            self.names.resize(usize::from(id) + 1, None);
        }
        let registry = &self.registry;
        self.names[usize::from(id)]
            .get_or_insert_with(|| {
                let name =
                    registry.get(strata_core::MaterialId(id)).map_or_else(|_| format!("#{id}"), |m| m.name.clone());
                ByteArray::from(name.into_bytes())
            })
            .clone()
    }

    fn push(&mut self, rows: ChunkRows, row_group_runs: usize) -> Result<(), CliError> {
        self.buffered_runs += rows.runs.len();
        self.rows.push(rows);
        if self.buffered_runs >= row_group_runs.max(1) {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered rows as one row group of each file.
    fn flush(&mut self) -> Result<(), CliError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        self.buffered_runs = 0;
        self.write_voxels(&rows)?;
        self.write_chunks(&rows)?;
        self.written.row_groups += 1;
        Ok(())
    }

    fn write_voxels(&mut self, rows: &[ChunkRows]) -> Result<(), CliError> {
        let n: usize = rows.iter().map(|r| r.runs.len()).sum();
        let mut ints: [Vec<i32>; 9] = std::array::from_fn(|_| Vec::with_capacity(n));
        let (mut names, mut edited, mut histories) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for r in rows {
            let origin = [r.key.x, r.key.y, r.key.z].map(|c| c * CHUNK_SIZE as i32);
            let history = ByteArray::from(history_text(&r.history).into_bytes());
            let mask = history_mask(&r.history);
            for &(l, len, m) in &r.runs {
                let values = [
                    r.key.x,
                    r.key.y,
                    r.key.z,
                    origin[0] + i32::from(l[0]),
                    origin[1] + i32::from(l[1]),
                    origin[2] + i32::from(l[2]),
                    i32::from(len),
                    i32::from(m),
                    mask,
                ];
                for (column, v) in ints.iter_mut().zip(values) {
                    column.push(v);
                }
                names.push(self.name(m));
                edited.push(r.edited);
                histories.push(history.clone());
                self.written.voxels += u64::from(len);
            }
        }
        self.written.runs += n as u64;
        write_row_group(&mut self.voxels, |index, column| match index {
            0..=7 => column.typed::<Int32Type>().write_batch(&ints[index], None, None),
            8 => column.typed::<ByteArrayType>().write_batch(&names, None, None),
            9 => column.typed::<BoolType>().write_batch(&edited, None, None),
            10 => column.typed::<Int32Type>().write_batch(&ints[8], None, None),
            _ => column.typed::<ByteArrayType>().write_batch(&histories, None, None),
        })?;
        Ok(())
    }

    fn write_chunks(&mut self, rows: &[ChunkRows]) -> Result<(), CliError> {
        let n = rows.len();
        let mut keys: [Vec<i32>; 3] = std::array::from_fn(|_| Vec::with_capacity(n));
        let (mut edited, mut uniform, mut sequence) = (Vec::new(), Vec::new(), Vec::new());
        let (mut masks, mut histories, mut region_voxels) = (Vec::new(), Vec::new(), Vec::new());
        // The list's leaves: one entry per (chunk, material); repetition level 0 starts a
        // chunk's list, 1 continues it; every entry is defined (level 1).
        let (mut ids, mut names, mut counts, mut rep) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in rows {
            for (column, v) in keys.iter_mut().zip([r.key.x, r.key.y, r.key.z]) {
                column.push(v);
            }
            edited.push(r.edited);
            uniform.push(r.uniform);
            // Sequences come from disk: one past i64 (never written by a store) saturates.
            sequence.push(i64::try_from(r.sequence).unwrap_or(i64::MAX));
            masks.push(history_mask(&r.history));
            histories.push(ByteArray::from(history_text(&r.history).into_bytes()));
            region_voxels.push(r.counts.iter().map(|(_, c)| *c as i32).sum::<i32>());
            for (i, &(m, c)) in r.counts.iter().enumerate() {
                ids.push(i32::from(m));
                names.push(self.name(m));
                counts.push(c as i32);
                rep.push(i16::from(i > 0));
            }
            self.written.chunks += 1;
            self.written.edited_chunks += u64::from(r.edited);
        }
        let def = vec![1i16; ids.len()];
        write_row_group(&mut self.chunks, |index, column| match index {
            0..=2 => column.typed::<Int32Type>().write_batch(&keys[index], None, None),
            3 => column.typed::<BoolType>().write_batch(&edited, None, None),
            4 => column.typed::<BoolType>().write_batch(&uniform, None, None),
            5 => column.typed::<Int64Type>().write_batch(&sequence, None, None),
            6 => column.typed::<Int32Type>().write_batch(&masks, None, None),
            7 => column.typed::<ByteArrayType>().write_batch(&histories, None, None),
            8 => column.typed::<Int32Type>().write_batch(&region_voxels, None, None),
            9 => column.typed::<Int32Type>().write_batch(&ids, Some(&def), Some(&rep)),
            10 => column.typed::<ByteArrayType>().write_batch(&names, Some(&def), Some(&rep)),
            _ => column.typed::<Int32Type>().write_batch(&counts, Some(&def), Some(&rep)),
        })?;
        Ok(())
    }

    fn finish(mut self) -> Result<ExportedTables, CliError> {
        self.flush()?;
        self.voxels.close().map_err(parquet_err)?;
        self.chunks.close().map_err(parquet_err)?;
        Ok(self.written)
    }
}

/// Exports `region` of the world that `store` (in the registry's numbering: see
/// [`export_store`]) and `generator` make into `dir` ([`VOXELS_FILE`] and
/// [`CHUNKS_FILE`], replaced if present), calling `progress` with the chunks done since its
/// last call. `metadata` is added to both files' key-value metadata (the generator settings,
/// say).
///
/// # Errors
/// [`CliError::Usage`] for a region of more than 2²² chunks or outside the world; the store's
/// errors (a record that does not decode is [`strata_core::StoreError::Corrupt`]: the export
/// stops, it does not skip it); [`CliError::Parquet`] and I/O errors writing.
///
/// # Runtime
/// O(chunks of the region) reads and generations (O(stored chunks in the region's Morton
/// range) with `only_edited`), O(voxels of the region) to cut runs; memory
/// O(`row_group_runs` + [`BLOCK_CHUNKS`] chunks).
#[allow(clippy::too_many_arguments)]
pub fn export_parquet(
    store: &dyn ChunkStore,
    generator: &(dyn WorldGenerator + Sync),
    region: Region,
    options: &ParquetOptions,
    dir: &Path,
    metadata: &[(&str, String)],
    progress: &mut dyn FnMut(u64),
) -> Result<ExportedTables, CliError> {
    let (lo, hi) = (region.min.chunk(), region.max.chunk());
    if !lo.is_valid() || !hi.is_valid() {
        return Err(CliError::Usage(format!("region {:?}..{:?} leaves the world", region.min, region.max)));
    }
    let chunks = region.chunk_count();
    if chunks > 1 << 22 {
        return Err(CliError::Usage(format!("region has {chunks} chunks; the limit is {}", 1 << 22)));
    }
    let mut tables = Tables::create(dir, &region, metadata)?;
    if options.only_edited {
        // The stored chunks of the region's Morton range (Morton order is monotone along each
        // axis, so the box's corners bound it), those inside the box kept.
        let range = lo.morton()..=hi.morton();
        let mut failed = None;
        store.scan(range, &mut |morton, record| {
            let key = morton.to_chunk();
            if !region.contains_chunk(key) {
                return ControlFlow::Continue(());
            }
            let rows = strata_core::store::decode_stored(record, store.home(morton), key)
                .map_err(CliError::from)
                .map(|s| ChunkRows::cut(key, Some(s), || unreachable!("stored"), &region));
            match rows.and_then(|rows| tables.push(rows, options.row_group_runs)) {
                Ok(()) => {
                    progress(1);
                    ControlFlow::Continue(())
                }
                Err(e) => {
                    failed = Some(e);
                    ControlFlow::Break(())
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        return tables.finish();
    }
    let mut keys = Vec::with_capacity(BLOCK_CHUNKS);
    let mut block = |keys: &mut Vec<ChunkKey>, tables: &mut Tables| -> Result<(), CliError> {
        let mortons: Vec<_> = keys.iter().map(|k| k.morton()).collect();
        let records = store.get_records(&mortons)?;
        let stored: Vec<Option<StoredChunk>> = records
            .into_iter()
            .zip(keys.iter().zip(&mortons))
            .map(|(r, (k, m))| r.map(|b| strata_core::store::decode_stored(&b, store.home(*m), *k)).transpose())
            .collect::<Result<_, _>>()?;
        let work: Vec<(ChunkKey, Option<StoredChunk>)> = keys.drain(..).zip(stored).collect();
        let per = work.len().div_ceil(options.threads.max(1)).max(1);
        let mut parts: Vec<Vec<(ChunkKey, Option<StoredChunk>)>> = Vec::new();
        let mut rest = work.into_iter();
        loop {
            let part: Vec<_> = rest.by_ref().take(per).collect();
            if part.is_empty() {
                break;
            }
            parts.push(part);
        }
        let cut: Vec<ChunkRows> = std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .into_iter()
                .map(|part| {
                    s.spawn(move || {
                        part.into_iter()
                            .map(|(k, stored)| ChunkRows::cut(k, stored, || generator.generate(k), &region))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            // A panicking worker is a bug in the generator or here; report it as such.
            handles.into_iter().flat_map(|h| h.join().expect("export worker panicked")).collect()
        });
        let n = cut.len() as u64;
        for rows in cut {
            tables.push(rows, options.row_group_runs)?;
        }
        progress(n);
        Ok(())
    };
    // Row by row of chunks (z, then y, then x): bounded memory without listing the region.
    for z in lo.z..=hi.z {
        for y in lo.y..=hi.y {
            for x in lo.x..=hi.x {
                keys.push(ChunkKey::new(x, y, z));
                if keys.len() == BLOCK_CHUNKS {
                    block(&mut keys, &mut tables)?;
                }
            }
        }
    }
    if !keys.is_empty() {
        block(&mut keys, &mut tables)?;
    }
    tables.finish()
}

/// `store` in the registry's numbering, for reading: the save's palette reconciled with the
/// built-in registry ([`strata_core::palette::reconcile`]) and nothing recorded (an export
/// writes nothing to the save). A save naming a material the registry lacks is
/// [`strata_core::StoreError::Palette`].
pub fn export_store(store: Arc<dyn ChunkStore>) -> Result<Arc<dyn ChunkStore>, CliError> {
    let registry = MaterialRegistry::builtin();
    let saved = store.palette()?;
    let reconciled = strata_core::palette::reconcile(saved.as_ref(), &registry, &strata_core::PaletteRules::new())
        .map_err(strata_core::StoreError::from)?;
    Ok(match reconciled.map {
        None => store,
        Some(map) => Arc::new(strata_core::RemappedStore::new(store, map)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::palette::Palette;
    use strata_core::{MaterialId, MemoryStore, WriteBatch};

    fn region() -> Region {
        Region { min: VoxelPos::new(0, 0, 0), max: VoxelPos::new(63, 31, 31) }
    }

    fn voxel_names(dir: &Path) -> Vec<(i32, String)> {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::record::RowAccessor;
        let reader = SerializedFileReader::new(File::open(dir.join(VOXELS_FILE)).unwrap()).unwrap();
        let rows = reader.get_row_iter(None).unwrap();
        rows.map(|r| {
            let r = r.unwrap();
            (r.get_int(7).unwrap(), r.get_string(8).unwrap().clone())
        })
        .collect()
    }

    /// A record that does not decode stops the export with the store's typed error naming the
    /// chunk (never a panic, never a table silently missing it), in both modes.
    #[test]
    fn a_damaged_record_is_a_typed_error() {
        let store = MemoryStore::new();
        let mut batch = WriteBatch::new();
        batch.put_record(ChunkKey::new(1, 0, 0).morton(), b"STRC not a record");
        store.commit(&batch).unwrap();
        let generator = strata_core::FlatGenerator { height: 3, material: MaterialId(1) };
        for only_edited in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let options = ParquetOptions { only_edited, ..ParquetOptions::default() };
            let e = export_parquet(&store, &generator, region(), &options, dir.path(), &[], &mut |_| {}).unwrap_err();
            assert!(
                matches!(e, CliError::Store(strata_core::StoreError::Corrupt { key, .. }) if key == ChunkKey::new(1, 0, 0)),
                "{e:?}"
            );
        }
    }

    /// A save numbering materials unlike the registry is exported in the registry's ids and
    /// names (read through its palette), and nothing is recorded in it.
    #[test]
    fn a_renumbered_save_exports_registry_ids_and_names() {
        let registry = MaterialRegistry::builtin();
        let (stone, dirt) = (registry.id("stone").unwrap(), registry.id("dirt").unwrap());
        // The save calls its id of stone "dirt" and its id of dirt "stone".
        let swapped = Palette::of_registry(&registry)
            .iter()
            .map(|(id, name)| {
                let name = match name {
                    "stone" => "dirt",
                    "dirt" => "stone",
                    other => other,
                };
                (id, name.to_owned())
            })
            .collect::<Vec<_>>();
        let palette = Palette::new(swapped).unwrap();
        let inner = Arc::new(MemoryStore::new());
        assert!(inner.swap_palette(None, &palette).unwrap());
        let mut batch = WriteBatch::new();
        batch.put(ChunkKey::new(0, 0, 0), &Chunk::Uniform(stone));
        inner.commit(&batch).unwrap();
        let store = export_store(inner.clone()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let options = ParquetOptions { only_edited: true, ..ParquetOptions::default() };
        let generator = strata_core::FlatGenerator { height: 3, material: MaterialId(1) };
        export_parquet(store.as_ref(), &generator, region(), &options, dir.path(), &[], &mut |_| {}).unwrap();
        let names = voxel_names(dir.path());
        assert_eq!(names.len(), 1024);
        assert!(names.iter().all(|(id, name)| *id == i32::from(dirt.0) && name == "dirt"), "{:?}", names[0]);
        assert_eq!(inner.palette().unwrap(), Some(palette), "nothing recorded");
    }
}
