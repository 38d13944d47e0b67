//! The save's identity and content digest: table `identity` (`&str` → `u64`).
//!
//! | name       | value                                                                  |
//! |------------|------------------------------------------------------------------------|
//! | `world`    | the save's [`WorldId`], sealed into every record                       |
//! | `sequence` | the last commit's sequence number (records carry the one that wrote them) |
//! | `records`  | chunk records in table `chunks`                                        |
//! | `metas`    | meta records in table `meta_records`                                   |
//! | `digest`   | wrapping sum of the [fingerprints](chunk_fingerprint) of those records |
//! | `check`    | xxh3-64 of the five values above: damage to this table is detected     |
//!
//! Every commit updates the counts and the digest with what it inserts and what it replaces or
//! removes (redb hands back the replaced value, so this costs no extra read), in the same
//! transaction. `RedbStore::verify` recomputes both from the tables: a record that vanished
//! from the B-tree, or an older copy of a record brought back by a damaged page pointer, makes
//! them disagree where every record on its own still passes its checksum.

use redb::{ReadableTable, TableDefinition};
use strata_core::MortonKey;
use strata_core::codec::{self, WorldId};

pub(super) const IDENTITY: TableDefinition<&str, u64> = TableDefinition::new("identity");

/// The values of the `identity` table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Identity {
    pub world: WorldId,
    pub sequence: u64,
    pub records: u64,
    pub metas: u64,
    pub digest: u64,
}

/// The fingerprint of the chunk record `record` stored at `key`: its key and stored checksum
/// (which covers its bytes), or for bytes without a record header, a hash of all of them.
pub(super) fn chunk_fingerprint(key: MortonKey, record: &[u8]) -> u64 {
    let sum = codec::stored_checksum(record).unwrap_or_else(|| xxhash_rust::xxh3::xxh3_64(record));
    let mut bytes = [0u8; 24];
    bytes[..16].copy_from_slice(&key.0.to_le_bytes());
    bytes[16..].copy_from_slice(&sum.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// The fingerprint of the meta record `record` stored under `name` (a different domain from
/// chunk fingerprints).
pub(super) fn meta_fingerprint(name: &str, record: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(record, xxhash_rust::xxh3::xxh3_64(name.as_bytes()) ^ 0x4d45_5441)
}

impl Identity {
    pub fn new(world: WorldId) -> Self {
        Self { world, ..Self::default() }
    }

    fn check_value(&self) -> u64 {
        let mut bytes = [0u8; 40];
        for (i, v) in [self.world.0, self.sequence, self.records, self.metas, self.digest].into_iter().enumerate() {
            bytes[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        xxhash_rust::xxh3::xxh3_64(&bytes)
    }

    /// Reads the table: `Ok(None)` if it has no world (a save being created or upgraded),
    /// `Err(detail)` if its values do not match their check value.
    pub fn read(table: &impl ReadableTable<&'static str, u64>) -> Result<Option<Self>, IdentityError> {
        let get = |name: &str| -> Result<Option<u64>, IdentityError> {
            Ok(table.get(name).map_err(|e| IdentityError::Redb(e.into()))?.map(|g| g.value()))
        };
        let Some(world) = get("world")? else { return Ok(None) };
        let id = Self {
            world: WorldId(world),
            sequence: get("sequence")?.unwrap_or_default(),
            records: get("records")?.unwrap_or_default(),
            metas: get("metas")?.unwrap_or_default(),
            digest: get("digest")?.unwrap_or_default(),
        };
        if get("check")? != Some(id.check_value()) || id.world == WorldId::UNSEALED {
            return Err(IdentityError::Damaged);
        }
        Ok(Some(id))
    }

    pub fn write(&self, table: &mut redb::Table<&str, u64>) -> Result<(), redb::StorageError> {
        for (name, v) in [
            ("world", self.world.0),
            ("sequence", self.sequence),
            ("records", self.records),
            ("metas", self.metas),
            ("digest", self.digest),
            ("check", self.check_value()),
        ] {
            table.insert(name, v)?;
        }
        Ok(())
    }

    pub fn add_chunk(&mut self, key: MortonKey, record: &[u8]) {
        self.records = self.records.wrapping_add(1);
        self.digest = self.digest.wrapping_add(chunk_fingerprint(key, record));
    }

    pub fn remove_chunk(&mut self, key: MortonKey, record: &[u8]) {
        self.records = self.records.wrapping_sub(1);
        self.digest = self.digest.wrapping_sub(chunk_fingerprint(key, record));
    }

    pub fn add_meta(&mut self, name: &str, record: &[u8]) {
        self.metas = self.metas.wrapping_add(1);
        self.digest = self.digest.wrapping_add(meta_fingerprint(name, record));
    }

    pub fn remove_meta(&mut self, name: &str, record: &[u8]) {
        self.metas = self.metas.wrapping_sub(1);
        self.digest = self.digest.wrapping_sub(meta_fingerprint(name, record));
    }

    /// The counts and digest of `other` (the contents as found), for comparing.
    pub fn contents(&self) -> (u64, u64, u64) {
        (self.records, self.metas, self.digest)
    }
}

/// Why the identity table could not be read.
#[derive(Debug)]
pub(super) enum IdentityError {
    /// Its values do not match their check value.
    Damaged,
    /// redb failed.
    Redb(redb::Error),
}
