//! Servers sharing one world (a Redis Cluster world): each follows the store's
//! [change log](strata_core::store::change_log) and forwards what the others committed to its own
//! clients, as it does its own commits.
//!
//! On the I/O pool, every [`NetServer::shared_poll`]: one read of the log after the last position
//! (one round trip). The chunks it names go the way of the server's own commits (read from the
//! store, sent to every client whose interest set holds them, a stale notice to other holders),
//! and the world takes the new copy of a clean resident chunk ([`World::refresh`]). A gap in the
//! log (the server fell further behind than the log keeps, or the log lost entries) makes every
//! client's view be read again: each chunk a client holds is sent again, and its interest set is
//! selected and scanned from scratch.
//!
//! No client view is followed before the log's position is known (the first poll), so a chunk
//! committed by another server after a view was scanned is always named by a later read.
//!
//! [`World::refresh`]: strata_core::World::refresh

use super::server::NetLink;
use super::*;
use crate::state::StrataWorld;
use bevy::platform::collections::HashSet;
use bevy::tasks::{IoTaskPool, Task, futures::check_ready};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_core::store::{LogPosition, LogRead};
use strata_core::{ChunkKey, ChunkStore, StoreError};

/// Log entries read per poll at most.
const ENTRIES_PER_READ: usize = 1024;

/// Where the server is in the store's change log.
#[derive(Debug, Default)]
enum Position {
    /// Not asked yet (or the store was not open).
    #[default]
    Unknown,
    /// The store has no change log: this server is its only writer.
    Unshared,
    /// After this entry.
    At(LogPosition),
}

/// What a poll of the log brought.
enum Polled {
    End(Option<LogPosition>),
    Read(LogRead),
}

/// This server's following of a shared world's change log (part of [`NetServer`]).
#[derive(Debug, Default)]
pub(super) struct SharedFollow {
    position: Position,
    task: Option<PollTask>,
    next_poll: Option<Instant>,
    /// Chunks the log named, for the world to refresh once read.
    pub(super) foreign: HashSet<ChunkKey>,
    last_warning: Option<Instant>,
    pub(super) chunks_named: u64,
    pub(super) gaps: u64,
}

struct PollTask(Task<Result<Polled, StoreError>>);

impl std::fmt::Debug for PollTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PollTask")
    }
}

impl SharedFollow {
    /// Whether client views may be followed: the log's position is known (or there is none).
    pub(super) fn ready(&self) -> bool {
        !matches!(self.position, Position::Unknown)
    }

    fn warn(&mut self, what: &str, e: &StoreError) {
        let now = Instant::now();
        if self.last_warning.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10)) {
            self.last_warning = Some(now);
            warn!("strata net: {what}: {e}");
        }
    }
}

/// Per frame: takes a finished poll of the change log (its chunks go to the server's send
/// queue; a gap reads every client's view again) and starts the next one when
/// [`NetServer::shared_poll`] has passed.
pub(super) fn follow_shared_world(
    mut server: ResMut<NetServer>,
    sw: Option<Res<StrataWorld>>,
    mut links: Query<&mut NetLink>,
) {
    let Some(sw) = sw else { return };
    let server = &mut *server;
    let follow = &mut server.shared;
    if let Some(task) = follow.task.as_mut()
        && let Some(result) = check_ready(&mut task.0)
    {
        follow.task = None;
        match result {
            Ok(Polled::End(None)) => follow.position = Position::Unshared,
            Ok(Polled::End(Some(at))) => follow.position = Position::At(at),
            Ok(Polled::Read(read)) => {
                follow.position = Position::At(read.next);
                follow.chunks_named += read.keys.len() as u64;
                follow.foreign.extend(read.keys.iter().copied());
                server.to_send.extend(read.keys);
                if read.gap {
                    follow.gaps += 1;
                    warn!("strata net: the shared world's change log has a gap; reading every client's view again");
                    for mut link in &mut links {
                        server.to_send.extend(link.read_again());
                    }
                }
            }
            // While the save opens, every call fails: nothing to warn about.
            Err(StoreError::Unavailable(_)) if matches!(follow.position, Position::Unknown) => {}
            Err(e) => follow.warn("reading the shared world's change log failed (trying again)", &e),
        }
    }
    let follow = &mut server.shared;
    let now = Instant::now();
    if follow.task.is_some()
        || matches!(follow.position, Position::Unshared)
        || follow.next_poll.is_some_and(|t| now < t)
    {
        return;
    }
    follow.next_poll = Some(now + server.shared_poll);
    let store: Arc<dyn ChunkStore> = sw.world.store().clone();
    let from = match &follow.position {
        Position::At(at) => Some(at.clone()),
        _ => None,
    };
    follow.task = Some(PollTask(IoTaskPool::get_or_init(Default::default).spawn(async move {
        match from {
            None => store.change_log_end().map(Polled::End),
            Some(at) => store.read_change_log(&at, ENTRIES_PER_READ).map(Polled::Read),
        }
    })));
}
