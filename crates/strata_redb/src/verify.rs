//! [`RedbStore::verify`]: everything a save holds, checked.

use super::identity::Identity;
use super::{CHUNKS, DELETED, IDENTITY, META_RECORDS, OrStoreError, RedbStore, SummaryProblem};
use redb::ReadableTable;
use strata_core::MortonKey;
use strata_core::codec::{self, DecodeError, RecordKind};
use strata_core::meta_record;
use strata_core::store::{ChunkStore, StoreError};

/// What [`RedbStore::verify`] found. Clean when every list is empty and the digest matches.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Chunk records checked.
    pub records: u64,
    /// Meta records checked.
    pub metas: u64,
    /// Chunk records that do not decode, or belong to another key or world.
    pub bad_records: Vec<(MortonKey, DecodeError)>,
    /// Summaries that are missing, damaged, stale or orphaned.
    pub summaries: Vec<(MortonKey, SummaryProblem)>,
    /// Deletion records that do not decode or belong elsewhere, and deleted keys that also
    /// hold a record.
    pub deletions: Vec<(MortonKey, String)>,
    /// Meta records that do not decode, or belong to another name or world.
    pub metas_bad: Vec<(String, String)>,
    /// The contents disagree with what the commits recorded.
    pub digest: Option<DigestMismatch>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.bad_records.is_empty()
            && self.summaries.is_empty()
            && self.deletions.is_empty()
            && self.metas_bad.is_empty()
            && self.digest.is_none()
    }
}

/// The save's contents differ from what its commits recorded in the identity table: records
/// are missing or extra, or an older copy of a record came back (each still passing its own
/// checksum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the save holds {found_records} chunk records and {found_metas} meta values, its commits recorded {recorded_records} and {recorded_metas}{}",
    if self.found_records == self.recorded_records && self.found_metas == self.recorded_metas { " with other contents (an older copy of a record came back)" } else { " (records are missing or extra)" }
)]
pub struct DigestMismatch {
    /// Chunk records the commits recorded.
    pub recorded_records: u64,
    /// Chunk records found.
    pub found_records: u64,
    /// Meta records the commits recorded.
    pub recorded_metas: u64,
    /// Meta records found.
    pub found_metas: u64,
}

impl RedbStore {
    /// Checks everything the save holds, in one read transaction: every chunk record decodes
    /// and belongs where it is stored (its key and this world), every summary matches its
    /// record ([`RedbStore::summary_problems`], its own transaction), every deletion record
    /// is intact and its key holds no record, every meta record is intact and belongs to its
    /// name and world, and the counts and digest of the contents equal what the commits
    /// recorded. `progress` is called once per chunk record.
    ///
    /// Together with redb's page checksums ([`RedbStoreOptions::check_integrity`](super::RedbStoreOptions)),
    /// a clean report means the save holds what was committed: a flipped bit anywhere in a
    /// record fails its checksum, a record moved to another key fails its place, and a record
    /// lost or brought back from an older copy fails the digest.
    ///
    /// # Runtime
    /// One decode per chunk record, one summary per chunk (O(stored bytes)).
    pub fn verify(&self, progress: &mut dyn FnMut()) -> Result<VerifyReport, StoreError> {
        let mut report = self.contain("verifying", || {
            let mut report = VerifyReport::default();
            let txn = self.database()?.begin_read().db()?;
            let recorded = self.read_identity(&txn.open_table(IDENTITY).db()?)?;
            let mut found = Identity::new(self.world);
            let mut buf = strata_core::DenseChunk::filled(strata_core::MaterialId::AIR);
            let chunks = txn.open_table(CHUNKS).db()?;
            for item in chunks.iter().db()? {
                let (k, record) = item.db()?;
                let key = MortonKey(k.value());
                found.add_chunk(key, record.value());
                if let Err(e) = codec::decode_into_at(record.value(), self.home(key), &mut buf) {
                    report.bad_records.push((key, e));
                }
                progress();
            }
            for item in txn.open_table(DELETED).db()?.iter().db()? {
                let (k, record) = item.db()?;
                let key = MortonKey(k.value());
                let home = self.home(key);
                match codec::parse_record(record.value()) {
                    Err(e) => report.deletions.push((key, e.to_string())),
                    Ok((h, _)) if h.kind != RecordKind::Deletion => {
                        report.deletions.push((key, "not a deletion record".into()));
                    }
                    Ok((h, _)) => {
                        if let Err(e) = codec::check_home(&h, home) {
                            report.deletions.push((key, e.to_string()));
                        }
                    }
                }
                if chunks.get(key.0).db()?.is_some() {
                    report.deletions.push((key, "the deleted key also holds a record".into()));
                }
            }
            for item in txn.open_table(META_RECORDS).db()?.iter().db()? {
                let (k, record) = item.db()?;
                let name = k.value().to_owned();
                found.add_meta(&name, record.value());
                match meta_record::decode(record.value()) {
                    Err(e) => report.metas_bad.push((name, e.to_string())),
                    Ok(m) if m.name != name || m.world != self.world => {
                        report.metas_bad.push((name, format!("holds the value of {:?} in world {}", m.name, m.world)));
                    }
                    Ok(_) => {}
                }
            }
            report.records = found.records;
            report.metas = found.metas;
            if found.contents() != recorded.contents() {
                report.digest = Some(DigestMismatch {
                    recorded_records: recorded.records,
                    found_records: found.records,
                    recorded_metas: recorded.metas,
                    found_metas: found.metas,
                });
            }
            Ok(report)
        })?;
        report.summaries = self.summary_problems()?;
        if !report.is_clean() {
            self.suspect.store(true, std::sync::atomic::Ordering::Release);
        }
        Ok(report)
    }
}
