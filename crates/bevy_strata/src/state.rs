//! The plugin's world state: the hybrid world, its index and the material tables.

use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task};
use crossbeam_channel::Receiver;
use std::sync::Arc;
use strata_core::{Chunk, ChunkChange, ChunkKey, MaterialRegistry, World};
use strata_index::{IndexReader, IndexSnapshot, IndexWriter};
use strata_mesh::MaterialTable;

/// The world the plugin streams, with its index. Most code should use [`crate::VoxelWorld`].
#[derive(Resource)]
pub struct StrataWorld {
    /// The hybrid world (owned by the main thread; tasks get `ChunkSource`s and `Arc` snapshots).
    pub world: World,
    pub(crate) feed: Receiver<ChunkChange>,
    pub(crate) index: IndexDriver,
    /// Material definitions.
    pub registry: Arc<MaterialRegistry>,
    pub(crate) table: Arc<MaterialTable>,
}

impl StrataWorld {
    pub(crate) fn new(mut world: World, writer: IndexWriter, registry: MaterialRegistry) -> Self {
        let feed = world.subscribe();
        let table = Arc::new(MaterialTable::new(&registry));
        Self { world, feed, index: IndexDriver::new(writer), registry: Arc::new(registry), table }
    }

    /// The newest published index snapshot (never blocks).
    pub fn index(&self) -> Arc<IndexSnapshot> {
        self.index.reader.snapshot()
    }
}

/// Drives the index writer on the async compute pool: one task at a time takes the writer and
/// the pending updates, folds them in, publishes a snapshot and hands the writer back. Readers
/// keep reading the previous snapshot meanwhile.
pub(crate) struct IndexDriver {
    writer: Option<IndexWriter>,
    task: Option<Task<(IndexWriter, Vec<ChunkKey>)>>,
    pub reader: IndexReader,
    loaded: Vec<(ChunkKey, Arc<Chunk>)>,
    changes: Vec<ChunkChange>,
    /// Index updates folded in so far.
    pub updates: u64,
}

impl IndexDriver {
    fn new(writer: IndexWriter) -> Self {
        let reader = writer.reader();
        Self { writer: Some(writer), task: None, reader, loaded: Vec::new(), changes: Vec::new(), updates: 0 }
    }

    pub fn queue_loaded(&mut self, key: ChunkKey, chunk: Arc<Chunk>) {
        self.loaded.push((key, chunk));
    }

    pub fn queue_change(&mut self, change: ChunkChange) {
        self.changes.push(change);
    }

    /// Updates waiting for the next index task.
    pub fn queue_depth(&self) -> usize {
        self.loaded.len() + self.changes.len()
    }

    /// Starts an index task if the writer is idle and there is work.
    pub fn dispatch(&mut self) {
        if self.task.is_some() || (self.loaded.is_empty() && self.changes.is_empty()) {
            return;
        }
        let Some(mut writer) = self.writer.take() else { return };
        let loaded = std::mem::take(&mut self.loaded);
        let changes = std::mem::take(&mut self.changes);
        self.updates += (loaded.len() + changes.len()) as u64;
        self.task = Some(AsyncComputeTaskPool::get().spawn(async move {
            let mut changed = Vec::with_capacity(changes.len());
            for (k, c) in loaded {
                writer.insert_loaded(k, c);
            }
            for c in &changes {
                writer.apply_change(c);
                changed.push(c.key);
            }
            writer.publish();
            (writer, changed)
        }));
    }

    /// Collects a finished index task; returns the chunks whose edits it published.
    pub fn poll(&mut self) -> Option<Vec<ChunkKey>> {
        let task = self.task.as_mut()?;
        let (writer, changed) = bevy::tasks::futures::check_ready(task)?;
        self.task = None;
        self.writer = Some(writer);
        Some(changed)
    }

    /// Waits for the running index task (used on exit only).
    pub fn finish(&mut self) {
        if let Some(task) = self.task.take() {
            let (writer, _) = bevy::tasks::block_on(task);
            self.writer = Some(writer);
        }
    }
}
