//! The change log of a store that several processes write (a Redis Cluster world served by
//! several game servers): which chunks the **other** writers committed, in commit order, so a
//! process can refresh what it holds and tell its own clients.
//!
//! A store only one process writes (redb, memory) has no change log:
//! [`ChunkStore::change_log_end`](super::ChunkStore::change_log_end) answers `None`.
//!
//! # Guarantees (for the stores that keep one)
//! - Every commit a store acknowledged (`Ok`) has its entry in the log **before** the commit
//!   returns, naming every chunk it wrote, and that entry is appended only after the records
//!   are readable: a reader that sees the entry and then reads the records gets the commit's
//!   records or later ones.
//! - A reader starting at [`ChunkStore::change_log_end`](super::ChunkStore::change_log_end)
//!   sees every commit acknowledged after that call returned.
//! - The log keeps a bounded number of entries; a reader that falls behind further, or a log
//!   that lost entries (a failover before they were replicated), is told so
//!   ([`LogRead::gap`]): then any chunk may have changed.
//! - Entries of a commit that was **not** acknowledged (its writer died between writing the
//!   records and logging them) may be missing: such a write reaches readers when they next read
//!   the chunk.

use crate::coords::ChunkKey;

/// A position in a store's change log: what [`LogRead`]s continue from. Its meaning is the
/// store's (for Redis: the stream entry id and the entry's number).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LogPosition {
    /// The backend's id of the last entry read (empty: before the first).
    pub entry: String,
    /// The number of the last entry read (entries are numbered 1, 2, 3, … as appended; 0:
    /// none). A reader sees a gap when the next entry's number is not one more.
    pub count: u64,
}

/// What [`ChunkStore::read_change_log`](super::ChunkStore::read_change_log) found after a
/// position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogRead {
    /// The chunks other writers committed, in log order (a chunk may appear more than once).
    pub keys: Vec<ChunkKey>,
    /// Entries between the position read from and the first one returned are gone (the log
    /// was trimmed past the reader, or lost entries), or an entry could not be read: **any**
    /// chunk may have changed since the position.
    pub gap: bool,
    /// Where the next read continues (after the entries read).
    pub next: LogPosition,
    /// Entries read (the caller's own included, though their keys are not in
    /// [`LogRead::keys`]).
    pub entries: usize,
}
