//! Asynchronous incremental rebuilds: the change feed in, snapshots out.
//!
//! A [`RebuildManager`] owns an [`IndexWriter`] on a coordinator thread. It consumes the world's
//! change feed and [`RebuildManager::insert_loaded`] hand-ins, coalesces them per chunk (the
//! newest content wins), and every rebuild interval (the [`RebuildStrategy`]) prepares the
//! dirty chunks (histograms, on `workers` crossbeam-channel threads), folds them into the
//! octree and R-tree and publishes one snapshot. Readers ([`IndexReader`]) never wait for any
//! of it.
//!
//! The manager is one way to drive the writer. Engines with their own executors (Bevy's task
//! pools) can instead call [`PreparedChunk::new`] in tasks and [`IndexWriter::apply`] /
//! [`IndexWriter::publish`] wherever they own the writer.
//!
//! Start-up: build the writer, run [`IndexWriter::bulk_load_store`] (full rebuild from the
//! store) and publish, then spawn the manager with the feed subscribed *before* the bulk load
//! so no change is missed (changes already in the bulk load are folded in again harmlessly).

use crate::error::RebuildError;
use crate::snapshot::IndexSnapshot;
use crate::writer::{IndexReader, IndexWriter, PreparedChunk};
use crossbeam_channel::{Receiver, Sender, select};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use strata_core::{Chunk, ChunkChange, ChunkKey};

/// How eagerly dirty chunks are folded in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RebuildStrategy {
    /// As soon as anything is pending (lowest staleness, most publishes).
    Aggressive,
    /// At most every 16 ms (about once per frame at 60 Hz), coalescing bursts.
    #[default]
    Balanced,
    /// At most every 250 ms: cheapest under edit storms, staler reads.
    Lazy,
    /// A custom interval.
    Interval(Duration),
}

impl RebuildStrategy {
    /// How long the oldest pending change may wait before a rebuild.
    pub fn interval(self) -> Duration {
        match self {
            RebuildStrategy::Aggressive => Duration::ZERO,
            RebuildStrategy::Balanced => Duration::from_millis(16),
            RebuildStrategy::Lazy => Duration::from_millis(250),
            RebuildStrategy::Interval(d) => d,
        }
    }
}

/// Settings of a [`RebuildManager`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RebuildConfig {
    /// Threads preparing chunk updates (≥ 1; with 1 the coordinator prepares them itself).
    pub workers: usize,
    /// When to rebuild.
    pub strategy: RebuildStrategy,
}

impl Default for RebuildConfig {
    fn default() -> Self {
        Self { workers: 1, strategy: RebuildStrategy::Balanced }
    }
}

/// How fresh the published index is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FreshnessMetrics {
    /// Chunk updates waiting (coalesced) plus feed entries not yet read.
    pub queue_depth: usize,
    /// Age of the oldest pending update, if any.
    pub oldest_pending: Option<Duration>,
    /// Chunk rebuilds per second since the manager started.
    pub rebuilds_per_s: f64,
    /// Total chunk rebuilds folded in.
    pub rebuilds: u64,
    /// Version of the latest published snapshot.
    pub snapshot_version: u64,
}

#[derive(Default)]
struct Shared {
    pending: AtomicUsize,
    /// Microseconds since `started` of the oldest pending update; `u64::MAX` if none.
    oldest_us: AtomicU64,
    rebuilds: AtomicU64,
    snapshot_version: AtomicU64,
}

enum Command {
    Loaded(ChunkKey, Arc<Chunk>),
    Flush(Sender<u64>),
    Shutdown,
}

enum Pending {
    Change(u64, Arc<Chunk>),
    Loaded(Arc<Chunk>),
}

/// Runs an [`IndexWriter`] on its own threads. See the module docs.
pub struct RebuildManager {
    commands: Sender<Command>,
    feed: Receiver<ChunkChange>,
    reader: IndexReader,
    shared: Arc<Shared>,
    started: Instant,
    coordinator: Option<JoinHandle<IndexWriter>>,
}

impl RebuildManager {
    /// Starts the coordinator (and `config.workers − 1` preparation threads) consuming `feed`.
    pub fn spawn(
        writer: IndexWriter,
        feed: Receiver<ChunkChange>,
        config: RebuildConfig,
    ) -> Result<Self, RebuildError> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared { oldest_us: AtomicU64::new(u64::MAX), ..Shared::default() });
        let started = Instant::now();
        let reader = writer.reader();
        shared.snapshot_version.store(reader.snapshot().version(), Ordering::Relaxed);
        let coord = Coordinator {
            writer,
            feed: feed.clone(),
            commands: rx,
            pending: HashMap::new(),
            oldest: None,
            interval: config.strategy.interval(),
            shared: shared.clone(),
            started,
            pool: Pool::new(config.workers.saturating_sub(1))?,
        };
        let handle = std::thread::Builder::new()
            .name("strata-index".into())
            .spawn(move || coord.run())
            .map_err(|e| RebuildError::Spawn(e.to_string()))?;
        Ok(Self { commands: tx, feed, reader, shared, started, coordinator: Some(handle) })
    }

    /// A handle for readers.
    pub fn reader(&self) -> IndexReader {
        self.reader.clone()
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<IndexSnapshot> {
        self.reader.snapshot()
    }

    /// Hands in a chunk the world loaded (ignored if the index knows it already).
    pub fn insert_loaded(&self, key: ChunkKey, chunk: Arc<Chunk>) -> Result<(), RebuildError> {
        self.commands.send(Command::Loaded(key, chunk)).map_err(|_| RebuildError::Stopped)
    }

    /// Folds in everything sent so far (feed and hand-ins) and publishes; returns the snapshot
    /// version. Blocks the caller (not readers) until done.
    pub fn flush(&self) -> Result<u64, RebuildError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.commands.send(Command::Flush(tx)).map_err(|_| RebuildError::Stopped)?;
        rx.recv().map_err(|_| RebuildError::Stopped)
    }

    /// Freshness metrics.
    pub fn metrics(&self) -> FreshnessMetrics {
        let s = &self.shared;
        let oldest = s.oldest_us.load(Ordering::Relaxed);
        let now_us = self.started.elapsed().as_micros() as u64;
        let rebuilds = s.rebuilds.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        FreshnessMetrics {
            queue_depth: s.pending.load(Ordering::Relaxed) + self.feed.len(),
            oldest_pending: (oldest != u64::MAX).then(|| Duration::from_micros(now_us.saturating_sub(oldest))),
            rebuilds_per_s: rebuilds as f64 / secs,
            rebuilds,
            snapshot_version: s.snapshot_version.load(Ordering::Relaxed),
        }
    }

    /// Stops the threads after folding in what is pending, and returns the writer.
    pub fn shutdown(mut self) -> Result<IndexWriter, RebuildError> {
        let _ = self.commands.send(Command::Shutdown);
        let h = self.coordinator.take().ok_or(RebuildError::Stopped)?;
        h.join().map_err(|_| RebuildError::Stopped)
    }
}

impl Drop for RebuildManager {
    fn drop(&mut self) {
        if let Some(h) = self.coordinator.take() {
            let _ = self.commands.send(Command::Shutdown);
            let _ = h.join();
        }
    }
}

/// Preparation threads: jobs in, prepared updates out.
struct Pool {
    jobs: Option<Sender<(ChunkKey, Arc<Chunk>, u64)>>,
    results: Receiver<PreparedChunk>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    fn new(n: usize) -> Result<Self, RebuildError> {
        let (jtx, jrx) = crossbeam_channel::unbounded::<(ChunkKey, Arc<Chunk>, u64)>();
        let (rtx, rrx) = crossbeam_channel::unbounded();
        let mut threads = Vec::new();
        for i in 0..n {
            let (jrx, rtx) = (jrx.clone(), rtx.clone());
            let t = std::thread::Builder::new()
                .name(format!("strata-index-{i}"))
                .spawn(move || {
                    for (k, c, v) in jrx {
                        if rtx.send(PreparedChunk::with_histogram(k, c, v)).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| RebuildError::Spawn(e.to_string()))?;
            threads.push(t);
        }
        Ok(Self { jobs: (n > 0).then_some(jtx), results: rrx, threads })
    }

    /// Computes the histograms of chunks the writer does not know yet on the workers (the
    /// writer updates known ones incrementally, which is cheaper than a full count).
    fn prepare(&self, writer: &IndexWriter, items: Vec<(ChunkKey, Arc<Chunk>, u64)>) -> Vec<PreparedChunk> {
        let (fresh, known): (Vec<_>, Vec<_>) = items.into_iter().partition(|(k, _, _)| !writer.knows(*k));
        let mut out: Vec<PreparedChunk> = known.into_iter().map(|(k, c, v)| PreparedChunk::new(k, c, v)).collect();
        let Some(jobs) = self.jobs.as_ref().filter(|_| fresh.len() > 1) else {
            out.extend(fresh.into_iter().map(|(k, c, v)| PreparedChunk::new(k, c, v)));
            return out;
        };
        let items = fresh;
        let n = items.len();
        for it in items {
            // Workers only stop when `jobs` is dropped, so sending cannot fail here.
            let _ = jobs.send(it);
        }
        out.extend(self.results.iter().take(n));
        out
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

struct Coordinator {
    writer: IndexWriter,
    feed: Receiver<ChunkChange>,
    commands: Receiver<Command>,
    pending: HashMap<ChunkKey, Pending>,
    oldest: Option<Instant>,
    interval: Duration,
    shared: Arc<Shared>,
    started: Instant,
    pool: Pool,
}

impl Coordinator {
    fn run(mut self) -> IndexWriter {
        let never = crossbeam_channel::never();
        let mut feed_open = true;
        loop {
            let timeout = match self.oldest {
                Some(t) => self.interval.saturating_sub(t.elapsed()),
                None => Duration::from_secs(3600),
            };
            let feed = if feed_open { self.feed.clone() } else { never.clone() };
            select! {
                recv(feed) -> msg => match msg {
                    Ok(c) => self.push(c.key, Pending::Change(c.version, c.chunk)),
                    Err(_) => feed_open = false,
                },
                recv(self.commands) -> cmd => match cmd {
                    Ok(Command::Loaded(k, c)) => self.push(k, Pending::Loaded(c)),
                    Ok(Command::Flush(reply)) => {
                        self.drain_feed();
                        self.rebuild();
                        let _ = reply.send(self.writer.publish().version());
                    }
                    Ok(Command::Shutdown) | Err(_) => {
                        self.drain_feed();
                        self.rebuild();
                        break;
                    }
                },
                default(timeout) => {}
            }
            if self.oldest.is_some_and(|t| t.elapsed() >= self.interval) {
                self.drain_feed();
                self.rebuild();
            }
        }
        self.writer
    }

    fn drain_feed(&mut self) {
        while let Ok(c) = self.feed.try_recv() {
            self.push(c.key, Pending::Change(c.version, c.chunk));
        }
    }

    fn push(&mut self, key: ChunkKey, p: Pending) {
        use std::collections::hash_map::Entry;
        match self.pending.entry(key) {
            Entry::Vacant(v) => {
                v.insert(p);
            }
            Entry::Occupied(mut o) => {
                // The newest change wins; a load never replaces a change.
                if let (Pending::Change(old, _), Pending::Change(new, _)) = (o.get(), &p)
                    && new >= old
                {
                    o.insert(p);
                } else if matches!(o.get(), Pending::Loaded(_)) {
                    o.insert(p);
                }
            }
        }
        if self.oldest.is_none() {
            let now = Instant::now();
            self.oldest = Some(now);
            self.shared.oldest_us.store(now.duration_since(self.started).as_micros() as u64, Ordering::Relaxed);
        }
        self.shared.pending.store(self.pending.len(), Ordering::Relaxed);
    }

    fn rebuild(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut changes = Vec::new();
        for (k, p) in self.pending.drain() {
            match p {
                Pending::Change(v, c) => changes.push((k, c, v)),
                Pending::Loaded(c) => {
                    self.writer.insert_loaded(k, c);
                }
            }
        }
        let n = changes.len() as u64;
        for p in self.pool.prepare(&self.writer, changes) {
            self.writer.apply(p);
        }
        let snap = self.writer.publish();
        self.oldest = None;
        self.shared.oldest_us.store(u64::MAX, Ordering::Relaxed);
        self.shared.pending.store(0, Ordering::Relaxed);
        self.shared.rebuilds.fetch_add(n, Ordering::Relaxed);
        self.shared.snapshot_version.store(snap.version(), Ordering::Relaxed);
    }
}
