//! Meta records, compaction, the summaries' check and the save's identity.

use super::*;
use crate::contain::{PANIC_PREFIX, contain};

impl RedbStore {
    /// A text value stored beside the chunks (e.g. the generator settings a save was made
    /// with). A value whose record is damaged, or was written for another world, is
    /// [`StoreError::Damaged`]: a silently different value could make a different world.
    pub fn meta(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.contain("reading a meta value", || {
            let txn = self.database()?.begin_read().db()?;
            let table = txn.open_table(META_RECORDS).db()?;
            let Some(bytes) = table.get(name).db()? else { return Ok(None) };
            let decoded =
                meta_record::decode(bytes.value()).map_err(|e| self.damaged(format!("meta value {name:?}: {e}")))?;
            if decoded.name != name || decoded.world != self.world {
                return Err(self.damaged(format!(
                    "meta value {name:?} holds the record of {:?} in world {}",
                    decoded.name, decoded.world
                )));
            }
            Ok(Some(decoded.value.to_owned()))
        })
    }

    /// Stores a text value durably (its own transaction, numbered like a commit).
    pub fn set_meta(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.write_meta(name, value, |_| Ok(true)).map(drop)
    }

    /// Removes a text value durably (its own transaction, numbered like a commit); nothing to
    /// remove is no error.
    pub(crate) fn remove_meta(&self, name: &str) -> Result<(), StoreError> {
        self.contain("removing a meta value", || {
            let txn = self.database()?.begin_write()?;
            {
                let mut table = txn.open_table(META_RECORDS).db()?;
                let mut identity_table = txn.open_table(IDENTITY).db()?;
                let mut identity = self.read_identity(&identity_table)?;
                if let Some(old) = table.remove(name).db()? {
                    identity.remove_meta(name, old.value());
                    identity.sequence += 1;
                    identity.write(&mut identity_table).db()?;
                }
            }
            txn.commit().db()?;
            Ok(())
        })
    }

    /// Stores a text value durably if `expected` accepts the value stored now (`None`: none),
    /// read in the same write transaction; returns whether it was stored.
    pub(crate) fn write_meta(
        &self,
        name: &str,
        value: &str,
        expected: impl FnOnce(Option<&str>) -> Result<bool, StoreError>,
    ) -> Result<bool, StoreError> {
        if name.len() > usize::from(u16::MAX) || u32::try_from(value.len()).is_err() {
            return Err(StoreError::InvalidConfig(format!(
                "meta value {name:?}: names are at most 65,535 bytes and values at most 4 GiB"
            )));
        }
        self.contain("writing a meta value", || {
            let txn = self.database()?.begin_write()?;
            {
                let mut table = txn.open_table(META_RECORDS).db()?;
                let now = match table.get(name).db()? {
                    None => None,
                    Some(bytes) => {
                        let decoded = meta_record::decode(bytes.value())
                            .map_err(|e| self.damaged(format!("meta value {name:?}: {e}")))?;
                        Some(decoded.value.to_owned())
                    }
                };
                if !expected(now.as_deref())? {
                    return Ok(false);
                }
                let mut identity_table = txn.open_table(IDENTITY).db()?;
                let mut identity = self.read_identity(&identity_table)?;
                identity.sequence += 1;
                let mut record = Vec::new();
                meta_record::encode(name, value, self.world, identity.sequence, &mut record);
                if let Some(old) = table.insert(name, record.as_slice()).db()? {
                    identity.remove_meta(name, old.value());
                }
                identity.add_meta(name, &record);
                identity.write(&mut identity_table).db()?;
            }
            txn.commit().db()?;
            Ok(true)
        })
    }

    /// Rewrites the file to release pages freed by earlier commits (copy-on-write leaves them
    /// behind). Needs exclusive access; returns whether anything was reclaimed.
    ///
    /// # Runtime
    /// Proportional to the file size; run it offline (the `strata compact` command) or rarely.
    pub fn compact(&mut self) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let Some(Db::Writable(db)) =
            self.db.get_mut().unwrap_or_else(|e| e.into_inner()).as_mut().and_then(Arc::get_mut)
        else {
            return Err(StoreError::ReadOnly);
        };
        let result = contain(&path, "compacting the save", || {
            let mut any = false;
            while db.compact().db()? {
                any = true;
            }
            Ok(any)
        });
        if matches!(&result, Err(StoreError::Damaged { detail, .. }) if detail.starts_with(PANIC_PREFIX)) {
            *self.poisoned.get_mut() = true;
        }
        result
    }

    /// Checks every chunk summary against its record (a full pass over both tables): each
    /// record has a summary, each summary a record, and each summary decodes under its key and
    /// equals what summarising the record gives (when the record decodes). Scans never depend
    /// on this — they make a missing or damaged summary again from the record — but a damaged
    /// summary is damage in the file, so `strata verify` reports it.
    ///
    /// # Runtime
    /// One decode and summary per stored chunk.
    pub fn summary_problems(&self) -> Result<Vec<(MortonKey, SummaryProblem)>, StoreError> {
        self.contain("checking summaries", || {
            let txn = self.database()?.begin_read().db()?;
            let chunks = txn.open_table(CHUNKS).db()?;
            let summaries = txn.open_table(SUMMARIES).db()?;
            let mut out = Vec::new();
            for item in chunks.iter().db()? {
                let (k, record) = item.db()?;
                let key = MortonKey(k.value());
                let Some(stored) = summaries.get(key.0).db()? else {
                    out.push((key, SummaryProblem::Missing));
                    continue;
                };
                let decoded = StoredSummary::decode(key, stored.value());
                // Remade with the up the stored summary was made with (stores do not know their
                // world's up; readers compare it with theirs).
                let up = match &decoded {
                    Ok(Some(s)) => s.up(),
                    _ => strata_core::store::STORE_UP,
                };
                let remade = StoredSummary::of_stored_record(record.value(), self.home(key), up).ok();
                match (decoded, remade) {
                    (Err(e), _) => out.push((key, SummaryProblem::Damaged(e))),
                    // Written by an older format (read as "no summary"): scans summarise the
                    // record, nothing is damaged.
                    (Ok(None), Some(_)) if summary_record::is_older_version(stored.value()) => {}
                    (Ok(None), Some(_)) | (Ok(Some(_)), None) => out.push((key, SummaryProblem::Stale)),
                    (Ok(Some(s)), Some(r)) if s != r => out.push((key, SummaryProblem::Stale)),
                    _ => {}
                }
            }
            for item in summaries.iter().db()? {
                let (k, _) = item.db()?;
                if chunks.get(k.value()).db()?.is_none() {
                    out.push((MortonKey(k.value()), SummaryProblem::Orphan));
                }
            }
            out.sort_by_key(|(k, _)| *k);
            Ok(out)
        })
    }

    /// The last commit's sequence number (records carry the one that wrote them).
    pub fn sequence(&self) -> Result<u64, StoreError> {
        self.contain("reading the identity", || {
            let txn = self.database()?.begin_read().db()?;
            let table = txn.open_table(IDENTITY).db()?;
            Ok(self.read_identity(&table)?.sequence)
        })
    }

    /// Reads from the file since it was opened (redb page reads that missed its cache),
    /// including those of opening it.
    pub fn file_reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn damaged(&self, detail: String) -> StoreError {
        StoreError::Damaged { path: self.path.clone(), detail }
    }

    pub(crate) fn read_identity(&self, table: &impl ReadableTable<&'static str, u64>) -> Result<Identity, StoreError> {
        match Identity::read(table) {
            Ok(Some(id)) if id.world == self.world => Ok(id),
            Ok(Some(id)) => {
                Err(self.damaged(format!("the identity table names world {}, not {}", id.world, self.world)))
            }
            Ok(None) => Err(self.damaged("the identity table has no world id".into())),
            Err(IdentityError::Damaged) => Err(self.damaged("the identity table fails its check value".into())),
            Err(IdentityError::Redb(e)) => Err(store_error(e)),
        }
    }
}

/// What is wrong with a chunk's summary (see [`RedbStore::summary_problems`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SummaryProblem {
    /// The chunk record has no summary.
    #[error("the record has no summary")]
    Missing,
    /// A summary without a chunk record.
    #[error("a summary without a record")]
    Orphan,
    /// The summary does not decode (under its key).
    #[error("the summary is damaged: {0}")]
    Damaged(strata_core::DecodeError),
    /// The summary decodes but is not what the record gives.
    #[error("the summary does not match its record")]
    Stale,
}
