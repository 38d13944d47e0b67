//! Finding (and removing) what does not belong in a Redis world: what `strata verify --redis`
//! runs. Anything with write access to the cluster — a buggy peer, an older or newer Strata, a
//! hostile one — can leave keys of the wrong type, index members that name no chunk, records
//! that do not decode where they are, or summaries without a record. The store tolerates all of
//! them (see the crate docs); this lists them so that an operator can see and remove them.

use crate::cluster::bytes;
use crate::keys::{member, parse_member};
use crate::store::RedisClusterStore;
use redis::Value;
use strata_core::codec::{self, RecordHome};
use strata_core::summary_record::{self, StoredSummary};
use strata_core::{ChunkKey, MortonKey, StoreError};

/// One thing [`RedisClusterStore::inspect`] found that does not belong.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A member of the regions set that names no region.
    BadRegionName {
        /// The regions set.
        set: String,
        /// The member.
        member: Vec<u8>,
    },
    /// A key of another type than the layout gives it.
    WrongType {
        /// The key.
        key: String,
        /// The chunk, if it is a record key.
        chunk: Option<ChunkKey>,
        /// Its type.
        found: String,
        /// The type it should have.
        expected: &'static str,
    },
    /// An index member that is not the key of a chunk of its region.
    BadIndexMember {
        /// The index.
        index: String,
        /// The member.
        member: Vec<u8>,
    },
    /// A chunk the index lists whose record is missing (or empty).
    MissingRecord {
        /// The index.
        index: String,
        /// The chunk.
        chunk: ChunkKey,
    },
    /// A record that does not decode where it is: corrupt, larger than any record, sealed for
    /// another key or world.
    BadRecord {
        /// The record's key.
        key: String,
        /// The chunk.
        chunk: ChunkKey,
        /// Why.
        why: String,
    },
    /// A record sealed with a sequence number more than a day ahead of this machine's clock
    /// (commits do not follow it; see the crate docs).
    FutureSequence {
        /// The record's key.
        key: String,
        /// The chunk.
        chunk: ChunkKey,
        /// Its sequence number.
        sequence: u64,
    },
    /// A summary whose field names no chunk of the index, or that does not decode.
    BadSummary {
        /// The summaries hash.
        hash: String,
        /// The field.
        field: Vec<u8>,
        /// Why.
        why: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(80)]).into_owned();
        match self {
            Problem::BadRegionName { set, member } => write!(f, "{set}: member {:?} names no region", show(member)),
            Problem::WrongType { key, found, expected, .. } => write!(f, "{key}: a {found}, not a {expected}"),
            Problem::BadIndexMember { index, member } => {
                write!(f, "{index}: member {:?} is no chunk of this region", show(member))
            }
            Problem::MissingRecord { index, chunk } => write!(f, "{index}: lists chunk {chunk:?}, which has no record"),
            Problem::BadRecord { key, chunk, why } => write!(f, "{key} (chunk {chunk:?}): {why}"),
            Problem::FutureSequence { key, chunk, sequence } => {
                write!(f, "{key} (chunk {chunk:?}): sealed at sequence {sequence}, over a day ahead of this clock")
            }
            Problem::BadSummary { hash, field, why } => write!(f, "{hash}: field {:?}: {why}", show(field)),
        }
    }
}

/// What [`RedisClusterStore::inspect`] looked at and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inspection {
    /// Regions looked at.
    pub regions: usize,
    /// Records read.
    pub records: usize,
    /// What does not belong, region by region.
    pub problems: Vec<Problem>,
}

/// The type of a Redis key as `TYPE` names it.
fn type_name(v: &Value) -> String {
    match v {
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "ok".into(),
        other => bytes(other).map_or_else(|| format!("{other:?}"), |b| String::from_utf8_lossy(b).into_owned()),
    }
}

impl RedisClusterStore {
    /// Reads the whole world — the regions set, then per region its index, summaries and every
    /// record the index lists — and lists what does not belong ([`Problem`]). Read-only.
    /// `progress` is called once per region.
    ///
    /// # Runtime
    /// Three round trips per region (its keys' types, index and summary fields; its records'
    /// types; its records and summaries, each read up to [`codec::MAX_RECORD_LEN`] +
    /// 1 and [`summary_record::MAX_SUMMARY_LEN`] + 1 bytes).
    pub fn inspect(&self, progress: &mut dyn FnMut()) -> Result<Inspection, StoreError> {
        let layout = self.layout();
        let set = layout.regions_key();
        let mut out = Inspection::default();
        let members = self.regions_members()?;
        let mut regions = Vec::new();
        for m in members {
            match layout.parse_region(&m) {
                Some(r) if layout.region_name(r).as_bytes() == m.as_slice() => regions.push(r),
                _ => out.problems.push(Problem::BadRegionName { set: set.clone(), member: m }),
            }
        }
        regions.sort_unstable();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros();
        let ahead = now as u64 + 86_400_000_000;
        for region in regions {
            out.regions += 1;
            progress();
            let (idx, sums) = (layout.index_key(region), layout.summaries_key(region));
            let slot = layout.region_slot(region);
            let head = self.on_slot("inspect region", slot, |p| {
                p.cmd("TYPE").arg(&idx).cmd("TYPE").arg(&sums);
                p.cmd("ZRANGE").arg(&idx).arg(0).arg(-1).cmd("HKEYS").arg(&sums);
            })?;
            let (idx_type, sums_type) = (type_name(&head[0]), type_name(&head[1]));
            let idx_ok = matches!(idx_type.as_str(), "zset" | "none");
            let sums_ok = matches!(sums_type.as_str(), "hash" | "none");
            if !idx_ok {
                out.problems.push(Problem::WrongType {
                    key: idx.clone(),
                    chunk: None,
                    found: idx_type,
                    expected: "zset",
                });
            }
            if !sums_ok {
                out.problems.push(Problem::WrongType {
                    key: sums.clone(),
                    chunk: None,
                    found: sums_type,
                    expected: "hash",
                });
            }
            let list = |v: &Value| -> Vec<Vec<u8>> {
                match v {
                    Value::Array(items) | Value::Set(items) => {
                        items.iter().filter_map(bytes).map(<[u8]>::to_vec).collect()
                    }
                    _ => Vec::new(),
                }
            };
            let (lo, hi) = layout.region_bounds(region);
            let mut chunks: Vec<MortonKey> = Vec::new();
            for m in if idx_ok { list(&head[2]) } else { Vec::new() } {
                match parse_member(&m).filter(|k| (lo..=hi).contains(k)) {
                    Some(k) => chunks.push(k),
                    None => out.problems.push(Problem::BadIndexMember { index: idx.clone(), member: m }),
                }
            }
            let fields = if sums_ok { list(&head[3]) } else { Vec::new() };
            if chunks.is_empty() && fields.is_empty() {
                continue;
            }
            let names: Vec<String> = chunks.iter().map(|k| layout.record_key(*k)).collect();
            // Types first: a read of a key of another type would fail the whole pipeline.
            let kinds: Vec<String> = if names.is_empty() {
                Vec::new()
            } else {
                self.on_slot("inspect record types", slot, |p| {
                    for name in &names {
                        p.cmd("TYPE").arg(name);
                    }
                })?
                .iter()
                .map(type_name)
                .collect()
            };
            let strings: Vec<usize> = (0..names.len()).filter(|&i| kinds[i] == "string").collect();
            let values = self.on_slot("inspect records", slot, |p| {
                for &i in &strings {
                    p.cmd("GETRANGE").arg(&names[i]).arg(0).arg(codec::MAX_RECORD_LEN);
                }
                if !fields.is_empty() {
                    crate::store::hmget_bounded(p, &sums, &fields);
                }
            })?;
            let mut records = values.iter();
            for (i, (k, name)) in chunks.iter().zip(&names).enumerate() {
                let chunk = k.to_chunk();
                let record: &[u8] = match kinds[i].as_str() {
                    "string" => records.next().and_then(bytes).unwrap_or_default(),
                    "none" => &[],
                    _ => {
                        let found = kinds[i].clone();
                        out.problems.push(Problem::WrongType {
                            key: name.clone(),
                            chunk: Some(chunk),
                            found,
                            expected: "string",
                        });
                        continue;
                    }
                };
                if record.is_empty() {
                    out.problems.push(Problem::MissingRecord { index: idx.clone(), chunk });
                    continue;
                }
                out.records += 1;
                if record.len() > codec::MAX_RECORD_LEN {
                    out.problems.push(Problem::BadRecord {
                        key: name.clone(),
                        chunk,
                        why: format!("larger than any record ({} bytes or more)", record.len()),
                    });
                    continue;
                }
                match codec::decode_stored_at(
                    record,
                    RecordHome { world: strata_core::ChunkStore::world_id(self), key: *k },
                ) {
                    Err(e) => out.problems.push(Problem::BadRecord { key: name.clone(), chunk, why: e.to_string() }),
                    Ok((_, _, sequence)) if sequence > ahead => {
                        out.problems.push(Problem::FutureSequence { key: name.clone(), chunk, sequence });
                    }
                    Ok(_) => {}
                }
            }
            if let Some(Value::Array(summaries)) = values.get(strings.len()) {
                for (field, v) in fields.iter().zip(summaries) {
                    let why = match parse_member(field) {
                        Some(_) if bytes(v).is_some_and(|s| s.len() > summary_record::MAX_SUMMARY_LEN) => {
                            Some(format!("larger than any summary ({} bytes or more)", bytes(v).map_or(0, <[u8]>::len)))
                        }
                        Some(k) if chunks.contains(&k) => bytes(v)
                            .and_then(|s| StoredSummary::decode(k, s).err().map(|e| format!("does not decode: {e}"))),
                        _ => Some("names no chunk of the index".into()),
                    };
                    if let Some(why) = why {
                        out.problems.push(Problem::BadSummary { hash: sums.clone(), field: field.clone(), why });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Removes what `problem` names: a key of the wrong type, the regions-set member, the
    /// index member, the summary field — or, for a bad record (corrupt, of the wrong type,
    /// sealed in the future), the chunk: its record, index member and summary, so it reads as
    /// the generator's afterwards. What is removed is gone.
    pub fn remove(&self, problem: &Problem) -> Result<(), StoreError> {
        let layout = self.layout();
        let mut p = redis::pipe();
        let key = match problem {
            Problem::BadRegionName { set, member } => {
                p.cmd("SREM").arg(set).arg(member);
                set.clone()
            }
            Problem::WrongType { key, chunk: None, .. } => {
                p.cmd("DEL").arg(key);
                key.clone()
            }
            Problem::WrongType { key, chunk: Some(chunk), .. }
            | Problem::BadRecord { key, chunk, .. }
            | Problem::FutureSequence { key, chunk, .. } => {
                let region = layout.region_of(chunk.morton());
                let m = member(chunk.morton());
                p.cmd("DEL").arg(key);
                p.cmd("ZREM").arg(layout.index_key(region)).arg(&m);
                p.cmd("HDEL").arg(layout.summaries_key(region)).arg(&m);
                key.clone()
            }
            Problem::BadIndexMember { index, member } => {
                p.cmd("ZREM").arg(index).arg(member);
                index.clone()
            }
            Problem::MissingRecord { index, chunk } => {
                let region = layout.region_of(chunk.morton());
                let m = member(chunk.morton());
                p.cmd("ZREM").arg(index).arg(&m);
                p.cmd("HDEL").arg(layout.summaries_key(region)).arg(&m);
                index.clone()
            }
            Problem::BadSummary { hash, field, .. } => {
                p.cmd("HDEL").arg(hash).arg(field);
                hash.clone()
            }
        };
        let slot = crate::keys::key_slot(key.as_bytes());
        let replies = p.cmd_iter().count();
        self.run_on_master("remove", slot, p, replies).map(drop)
    }

    /// Runs the commands `add` queues on the master of `slot` (retried like every call);
    /// returns their replies. A server error fails it.
    fn on_slot(&self, what: &str, slot: u16, add: impl Fn(&mut redis::Pipeline)) -> Result<Vec<Value>, StoreError> {
        let mut p = redis::pipe();
        add(&mut p);
        let replies = p.cmd_iter().count();
        self.run_on_master(what, slot, p, replies)
    }
}
