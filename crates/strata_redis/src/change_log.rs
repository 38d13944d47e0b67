//! The world's change log: a Redis stream in the world's slot that every commit appends the
//! keys it wrote to, so the other processes serving the world (game servers) learn what changed
//! within one poll. See [`strata_core::store::change_log`] for the guarantees.
//!
//! ```text
//! strata:{<world>}:log     stream: one entry per commit (or per LOG_KEYS_PER_ENTRY of its keys):
//!                          n = the entry's number (1, 2, 3, …), w = the writer (a random id per
//!                          opened store), s = the commit's sequence number, k = the keys, 16
//!                          bytes each (the Morton key, big-endian); trimmed to about
//!                          LOG_ENTRIES entries
//! strata:{<world>}:log:n   the number of the last entry appended
//! ```
//!
//! Entries are appended by one script (atomic: number and entry together) after every region of
//! the commit is written and confirmed, and confirmed by the same replicas (`WAIT`/`WAITAOF`)
//! before the commit returns `Ok`. A reader detects a gap from the numbers: the next entry's
//! number must be one more than the last one read, and the stream's last entry must not be
//! behind the reader (a failover to a replica that missed entries).

use crate::cluster::{Fail, bytes};
use crate::keys::key_slot;
use crate::store::{Acks, RedisClusterStore};
use redis::Value;
use strata_core::store::{LogPosition, LogRead};
use strata_core::{BackendError, MortonKey, StoreError};

/// Entries the log keeps (about: trimmed with `MAXLEN ~`). At 10 commits a second from each of
/// ten servers, 100 s of history: a reader that polls less often than that sees a gap.
pub const LOG_ENTRIES: usize = 10_000;

/// Keys per entry at most (64 KiB of keys): a larger commit appends several entries.
pub const LOG_KEYS_PER_ENTRY: usize = 4096;

/// Appends one entry per `ARGV[4..]` (each the keys of one entry). `KEYS`: the stream, the
/// counter. `ARGV`: max entries, writer, sequence, keys…. A stream or counter of the wrong type
/// (a buggy or hostile peer's) is removed first, so the log starts again (readers see a gap).
const LOG_SCRIPT: &str = r#"
local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'stream' and t ~= 'none' then redis.call('DEL', KEYS[1]) end
t = redis.call('TYPE', KEYS[2])['ok']
if t ~= 'string' and t ~= 'none' then redis.call('DEL', KEYS[2]) end
for i = 4, #ARGV do
  local n = redis.pcall('INCR', KEYS[2])
  if type(n) ~= 'number' then
    redis.call('SET', KEYS[2], 1)
    n = 1
  end
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'n', n, 'w', ARGV[2], 's', ARGV[3], 'k', ARGV[i])
end
return #ARGV - 3
"#;

/// One entry as read.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    id: (u64, u64),
    raw_id: String,
    n: u64,
    writer: u64,
    keys: Vec<MortonKey>,
}

impl RedisClusterStore {
    fn log_key(&self) -> String {
        format!("strata:{{{}}}:log", self.cluster_world())
    }

    fn log_counter_key(&self) -> String {
        format!("strata:{{{}}}:log:n", self.cluster_world())
    }

    /// Appends the log entries of a commit that wrote `keys` (sequence `sequence`), confirmed
    /// like the commit's records.
    pub(crate) fn log_commit(&self, keys: &[MortonKey], sequence: u64) -> Result<(), StoreError> {
        let (log, counter) = (self.log_key(), self.log_counter_key());
        let slot = key_slot(log.as_bytes());
        let mut p = redis::pipe();
        let cmd = p.cmd("EVAL").arg(LOG_SCRIPT).arg(2).arg(&log).arg(&counter);
        cmd.arg(LOG_ENTRIES).arg(self.writer()).arg(sequence);
        for part in keys.chunks(LOG_KEYS_PER_ENTRY) {
            cmd.arg(part.iter().flat_map(|k| k.0.to_be_bytes()).collect::<Vec<u8>>());
        }
        let acks = Acks::of(self.config());
        acks.append(&mut p);
        self.cluster().run("log commit", |map, _, deadline| {
            let shard = map.shard(slot).ok_or_else(|| Fail::Retry(format!("slot {slot} is not served")))?;
            let job = acks.job(shard.master.clone(), p.clone(), 1, deadline);
            let v = self.cluster().exchange(&job)?;
            crate::cluster::check_replies(&job.addr, &v[..1])?;
            acks.check(&job.addr, v.get(1))
        })
    }

    /// The log's last entry (from the master), if any.
    fn last_entry(&self, reply: &Value) -> Result<Option<Entry>, StoreError> {
        match reply {
            Value::Array(items) => items.first().map(parse_entry).transpose(),
            Value::Nil => Ok(None),
            other => Err(StoreError::Backend(BackendError::UnexpectedReply {
                command: "XREVRANGE",
                reply: format!("{other:?}"),
            })),
        }
    }

    /// See [`strata_core::ChunkStore::change_log_end`].
    pub(crate) fn log_end(&self) -> Result<LogPosition, StoreError> {
        let log = self.log_key();
        let mut p = redis::pipe();
        p.cmd("XREVRANGE").arg(&log).arg("+").arg("-").arg("COUNT").arg(1);
        let v = self.run_on_master("log end", key_slot(log.as_bytes()), p, 1)?;
        Ok(self.last_entry(&v[0])?.map_or_else(LogPosition::default, |e| LogPosition { entry: e.raw_id, count: e.n }))
    }

    /// See [`strata_core::ChunkStore::read_change_log`]: the entries after `from` (from the
    /// master, one pipeline: the range and the stream's last entry).
    pub(crate) fn log_read(&self, from: &LogPosition, limit: usize) -> Result<LogRead, StoreError> {
        let log = self.log_key();
        let start = if from.entry.is_empty() { "-".to_string() } else { format!("({}", from.entry) };
        let mut p = redis::pipe();
        p.cmd("XRANGE").arg(&log).arg(&start).arg("+").arg("COUNT").arg(limit.max(1));
        p.cmd("XREVRANGE").arg(&log).arg("+").arg("-").arg("COUNT").arg(1);
        let v = match self.run_on_master("read log", key_slot(log.as_bytes()), p, 2) {
            // A malformed position (`from` not from this store): read from the start, as a gap.
            Err(StoreError::Backend(BackendError::Server { detail, .. }))
                if detail.starts_with("Invalid stream ID") && !from.entry.is_empty() =>
            {
                let mut read = self.log_read(&LogPosition::default(), limit)?;
                read.gap = true;
                return Ok(read);
            }
            v => v?,
        };
        Ok(read_entries(&v[0], self.last_entry(&v[1]), from, self.writer()))
    }
}

/// The [`LogRead`] of an `XRANGE` reply after `from`, given the stream's last entry (`last`).
fn read_entries(range: &Value, last: Result<Option<Entry>, StoreError>, from: &LogPosition, writer: u64) -> LogRead {
    let mut read = LogRead { next: from.clone(), ..LogRead::default() };
    let from_id = if from.entry.is_empty() { Some((0, 0)) } else { parse_id(from.entry.as_bytes()) };
    match last {
        // The log is behind the reader (a failover to a replica that missed entries, or it was
        // deleted): start again from its end.
        Ok(None) if from.count > 0 => {
            read.gap = true;
            read.next = LogPosition::default();
            return read;
        }
        Ok(Some(e)) if e.n < from.count || from_id.is_none_or(|f| e.id < f) => {
            read.gap = true;
            read.next = LogPosition { entry: e.raw_id, count: e.n };
            return read;
        }
        Ok(_) => {}
        Err(_) => read.gap = true,
    }
    let Value::Array(items) = range else {
        read.gap = true;
        return read;
    };
    for item in items {
        read.entries += 1;
        match parse_entry(item) {
            Ok(e) => {
                // A hostile entry may carry n = u64::MAX: no overflow, just a gap.
                if Some(e.n) != read.next.count.checked_add(1) {
                    read.gap = true;
                }
                if e.writer != writer {
                    read.keys.extend(e.keys.iter().map(|k| k.to_chunk()));
                }
                read.next = LogPosition { entry: e.raw_id, count: e.n };
            }
            // An entry that does not parse (a buggy or hostile peer's): its keys are unknown.
            _ => {
                read.gap = true;
                if let Some(id) = entry_id(item) {
                    read.next.entry = id;
                    read.next.count = read.next.count.saturating_add(1);
                }
            }
        }
    }
    read
}

fn entry_id(item: &Value) -> Option<String> {
    let Value::Array(parts) = item else { return None };
    let id = bytes(parts.first()?)?;
    parse_id(id)?;
    Some(String::from_utf8_lossy(id).into_owned())
}

/// `<ms>-<seq>`.
fn parse_id(id: &[u8]) -> Option<(u64, u64)> {
    let s = std::str::from_utf8(id).ok()?;
    let (ms, seq) = s.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// One `[id, [field, value, …]]` stream entry (`Err` for one that is not a log entry).
fn parse_entry(item: &Value) -> Result<Entry, StoreError> {
    let bad = || StoreError::Backend(BackendError::Malformed { what: "change log entry", detail: format!("{item:?}") });
    let Value::Array(parts) = item else { return Err(bad()) };
    let [id, Value::Array(fields)] = parts.as_slice() else { return Err(bad()) };
    let raw = bytes(id).ok_or_else(bad)?;
    let id = parse_id(raw).ok_or_else(bad)?;
    let (mut n, mut writer, mut keys) = (None, None, None);
    for pair in fields.chunks(2) {
        let [name, value] = pair else { return Err(bad()) };
        let value = bytes(value).ok_or_else(bad)?;
        let number = || std::str::from_utf8(value).ok().and_then(|v| v.parse::<u64>().ok());
        match bytes(name).ok_or_else(bad)? {
            b"n" => n = number(),
            b"w" => writer = number(),
            b"k" if value.len() % 16 == 0 => {
                keys = Some(
                    value
                        .chunks_exact(16)
                        .map(|c| MortonKey(c.iter().fold(0u128, |k, &b| (k << 8) | u128::from(b))))
                        .collect(),
                );
            }
            _ => {}
        }
    }
    match (n, writer, keys) {
        (Some(n), Some(writer), Some(keys)) => {
            Ok(Entry { id, raw_id: String::from_utf8_lossy(raw).into_owned(), n, writer, keys })
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, n: u64, writer: u64, keys: &[u128]) -> Value {
        let k: Vec<u8> = keys.iter().flat_map(|k| k.to_be_bytes()).collect();
        let s = |v: &str| Value::BulkString(v.as_bytes().to_vec());
        Value::Array(vec![
            s(id),
            Value::Array(vec![
                s("n"),
                s(&n.to_string()),
                s("w"),
                s(&writer.to_string()),
                s("s"),
                s("7"),
                s("k"),
                Value::BulkString(k),
            ]),
        ])
    }

    fn last(id: &str, n: u64) -> Result<Option<Entry>, StoreError> {
        parse_entry(&entry(id, n, 1, &[])).map(Some)
    }

    fn at(entry: &str, count: u64) -> LogPosition {
        LogPosition { entry: entry.into(), count }
    }

    #[test]
    fn entries_in_sequence_give_other_writers_keys() {
        let range = Value::Array(vec![entry("5-0", 3, 9, &[1, 2]), entry("6-0", 4, 1, &[3]), entry("6-1", 5, 9, &[4])]);
        let read = read_entries(&range, last("6-1", 5), &at("4-0", 2), 1);
        assert!(!read.gap);
        assert_eq!(read.keys, [1u128, 2, 4].map(|k| MortonKey(k).to_chunk()).to_vec());
        assert_eq!(read.next, at("6-1", 5));
        assert_eq!(read.entries, 3);
        let quiet = read_entries(&Value::Array(vec![]), last("6-1", 5), &at("6-1", 5), 1);
        assert_eq!((quiet.gap, quiet.keys.len(), quiet.next), (false, 0, at("6-1", 5)));
    }

    #[test]
    fn a_missing_number_a_log_gone_back_or_a_bad_entry_is_a_gap() {
        // Trimmed past the reader: the first entry is not the next number.
        let read = read_entries(&Value::Array(vec![entry("9-0", 7, 2, &[1])]), last("9-0", 7), &at("4-0", 2), 1);
        assert!(read.gap);
        assert_eq!(read.next, at("9-0", 7));
        // The log's last entry is behind the reader (a failover lost entries): from its end.
        let read = read_entries(&Value::Array(vec![]), last("3-0", 1), &at("4-0", 2), 1);
        assert_eq!((read.gap, read.next), (true, at("3-0", 1)));
        let read = read_entries(&Value::Array(vec![]), Ok(None), &at("4-0", 2), 1);
        assert_eq!((read.gap, read.next), (true, LogPosition::default()));
        // Same numbers, but a stream id behind the reader: the log started again.
        let read = read_entries(&Value::Array(vec![]), last("3-0", 2), &at("4-0", 2), 1);
        assert!(read.gap);
        // An entry that does not parse: its keys are unknown, the reader moves past it.
        let garbage = Value::Array(vec![Value::BulkString(b"5-0".to_vec()), Value::Array(vec![])]);
        let read =
            read_entries(&Value::Array(vec![garbage, entry("6-0", 4, 2, &[8])]), last("6-0", 4), &at("4-0", 2), 1);
        assert!(read.gap);
        assert_eq!(read.keys, vec![MortonKey(8).to_chunk()]);
        assert_eq!(read.next, at("6-0", 4));
        // Keys that are not whole 16-byte Morton keys.
        let mut odd = entry("5-0", 3, 2, &[1]);
        if let Value::Array(parts) = &mut odd
            && let Value::Array(fields) = &mut parts[1]
        {
            fields[7] = Value::BulkString(vec![0; 15]);
        }
        assert!(parse_entry(&odd).is_err());
        // Entry numbers at the top of u64 (a hostile peer's): a gap, never an overflow.
        let top = Value::Array(vec![entry("7-0", u64::MAX, 2, &[3]), entry("8-0", u64::MAX, 2, &[4])]);
        let read = read_entries(&top, last("8-0", u64::MAX), &at("6-0", u64::MAX - 1), 1);
        assert!(read.gap);
        assert_eq!(read.keys, [3u128, 4].map(|k| MortonKey(k).to_chunk()).to_vec());
        // From the start of an empty log: nothing, no gap.
        let read = read_entries(&Value::Array(vec![]), Ok(None), &LogPosition::default(), 1);
        assert!(!read.gap);
    }
}
