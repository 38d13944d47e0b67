//! A client's [`ChunkStore`]: the edited chunks its server sent, and nothing else.
//!
//! A client's world reads through it like any save (streaming, meshing, the index and picking
//! stay unchanged): a chunk the server sent is read from its record, every other chunk comes
//! from the generator both ends share. The client hands each record it receives to
//! [`RemoteStore::receive`], which checks it and keeps it (or forgets the chunk, for a deletion
//! record); the client then shows the decoded chunk (`World::adopt`).
//!
//! The server is the authority: a client's own commits keep nothing ([`ChunkStore::commit`]
//! succeeds and writes nothing), so what its world predicts from its own edits never becomes
//! "stored" here, and a chunk the world evicts is read back as the server last sent it.

use crate::message::ChunkRecord;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use strata_core::MortonKey;
use strata_core::codec::{self, DecodeError, WorldId};
use strata_core::store::{ChunkStore, CommitReceipt, ScanVisitor, StoreError, WriteBatch};
use strata_core::{Chunk, ChunkKey, ChunkSide, ProcessHistory};

/// What a received record says about its chunk ([`RemoteStore::receive`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Received {
    /// The chunk's content on the server, by the commit numbered `sequence`.
    Chunk {
        /// The voxels.
        chunk: Chunk,
        /// The processes that changed it.
        history: ProcessHistory,
        /// The commit that wrote it.
        sequence: u64,
        /// Its game data (block data, entity records).
        side: ChunkSide,
    },
    /// The chunk is the generator's again (a deletion record).
    Deleted,
}

/// Why a received record was not kept.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The record is sealed for another world than the server's ([`RemoteStore::set_world`]).
    #[error("a record of world {got}, not of the server's world {expected}")]
    OtherWorld {
        /// The server's world.
        expected: WorldId,
        /// The record's.
        got: WorldId,
    },
    /// The record's bytes do not decode.
    #[error("a record that does not decode: {0}")]
    Decode(#[from] DecodeError),
}

/// The records a client's server sent, keyed by Morton order (see the [module docs](self)).
///
/// # Runtime
/// Reads and [`RemoteStore::receive`] are O(log n) map operations (plus a decode), `n` = chunks
/// held; memory is the records' bytes.
#[derive(Debug, Default)]
pub struct RemoteStore {
    world: AtomicU64,
    records: RwLock<BTreeMap<MortonKey, Vec<u8>>>,
}

impl RemoteStore {
    /// An empty store of a world not known yet ([`WorldId::UNSEALED`] until
    /// [`RemoteStore::set_world`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The server's world (from its welcome). A different world than before drops every
    /// record: they belong to the other one.
    pub fn set_world(&self, world: WorldId) {
        if self.world.swap(world.0, Ordering::AcqRel) != world.0 {
            self.write().clear();
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<MortonKey, Vec<u8>>> {
        // No code path panics while holding the lock with the map half changed.
        self.records.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<MortonKey, Vec<u8>>> {
        self.records.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks `record` against the server's world, decodes it, and keeps it (a deletion record
    /// forgets the chunk instead). On an error nothing changes.
    ///
    /// # Runtime
    /// One decode (at most one dense chunk allocated), O(log n) to keep it.
    pub fn receive(&self, record: &ChunkRecord) -> Result<Received, ReceiveError> {
        let world = self.world_id();
        let home = record.home();
        if home.world != world {
            return Err(ReceiveError::OtherWorld { expected: world, got: home.world });
        }
        let received = match codec::decode_full_at(record.bytes(), home) {
            Ok(d) => Received::Chunk { chunk: d.chunk, history: d.history, sequence: d.sequence, side: d.side },
            Err(DecodeError::Deletion) => Received::Deleted,
            Err(e) => return Err(e.into()),
        };
        let mut records = self.write();
        match received {
            Received::Deleted => records.remove(&home.key),
            Received::Chunk { .. } => records.insert(home.key, record.bytes().to_vec()),
        };
        Ok(received)
    }

    /// Forgets `key` (what the client held of it is stale): reads of it fall back to the
    /// generator until the server sends it again. Whether it was held.
    pub fn forget(&self, key: ChunkKey) -> bool {
        self.write().remove(&key.morton()).is_some()
    }

    /// Whether a record of `key` is held.
    pub fn holds(&self, key: ChunkKey) -> bool {
        self.read().contains_key(&key.morton())
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }
}

impl ChunkStore for RemoteStore {
    fn world_id(&self) -> WorldId {
        WorldId(self.world.load(Ordering::Acquire))
    }

    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read().get(&key).cloned())
    }

    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        for (k, v) in self.read().range(range) {
            if visit(*k, v).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Keeps nothing: the server is the authority (see the [module docs](self)). Succeeds, with
    /// sequence 0 (so the world never takes a received record for an older copy of its own).
    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        Ok(CommitReceipt { entries: batch.len(), ..CommitReceipt::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::{MaterialId, World, WorldConfig, generator::FlatGenerator};

    fn record(world: WorldId, key: ChunkKey, chunk: &Chunk, sequence: u64) -> ChunkRecord {
        let mut sealed = Vec::new();
        assert!(codec::seal_into(&codec::encode(key.morton(), chunk), world, sequence, &mut sealed));
        ChunkRecord::new(sealed).expect("a sealed record")
    }

    fn deletion(world: WorldId, key: ChunkKey, sequence: u64) -> ChunkRecord {
        let (mut plain, mut sealed) = (Vec::new(), Vec::new());
        codec::encode_deletion(key.morton(), &mut plain);
        assert!(codec::seal_into(&plain, world, sequence, &mut sealed));
        ChunkRecord::new(sealed).expect("a sealed deletion")
    }

    #[test]
    fn a_world_reads_what_the_server_sent_and_the_generator_elsewhere() {
        let server = WorldId(77);
        let store = Arc::new(RemoteStore::new());
        store.set_world(server);
        let key = ChunkKey::new(2, -1, 3);
        let mut chunk = Chunk::Uniform(MaterialId(4));
        chunk.set(strata_core::VoxelPos::new(1, 2, 3).local().index(), MaterialId(9));
        assert_eq!(
            store.receive(&record(server, key, &chunk, 3)),
            Ok(Received::Chunk {
                chunk: chunk.clone(),
                history: ProcessHistory::EMPTY,
                sequence: 3,
                side: ChunkSide::new()
            })
        );
        let generator = Arc::new(FlatGenerator { height: 0, material: MaterialId(1) });
        let mut world = World::new(store.clone(), generator, WorldConfig::default());
        assert_eq!(*world.chunk(key).unwrap(), chunk);
        assert_eq!(*world.chunk(ChunkKey::new(0, -1, 0)).unwrap(), Chunk::Uniform(MaterialId(1)));
        // The world's own commits keep nothing here.
        world.set_voxel(ChunkKey::new(0, -1, 0).min_voxel(), MaterialId(2));
        world.commit().unwrap();
        assert_eq!(store.len(), 1);
        // A deletion: back to the generator.
        assert_eq!(store.receive(&deletion(server, key, 4)), Ok(Received::Deleted));
        assert!(!store.holds(key));
    }

    #[test]
    fn records_of_another_world_or_damaged_are_refused_and_change_nothing() {
        let store = RemoteStore::new();
        store.set_world(WorldId(1));
        let key = ChunkKey::new(0, 0, 0);
        let chunk = Chunk::Uniform(MaterialId(3));
        assert!(matches!(store.receive(&record(WorldId(2), key, &chunk, 1)), Err(ReceiveError::OtherWorld { .. })));
        assert!(store.is_empty());
        store.receive(&record(WorldId(1), key, &chunk, 1)).unwrap();
        assert!(store.forget(key));
        assert!(!store.forget(key));
        // A new world drops the old one's records.
        store.receive(&record(WorldId(1), key, &chunk, 1)).unwrap();
        store.set_world(WorldId(1));
        assert_eq!(store.len(), 1);
        store.set_world(WorldId(5));
        assert!(store.is_empty());
    }

    use std::sync::Arc;
}
