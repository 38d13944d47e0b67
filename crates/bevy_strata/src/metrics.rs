//! Server metrics in the Prometheus text format: [`StrataMetricsPlugin`].
//!
//! Every frame once the world is ready (in `Last`, [`StrataSystems::Diagnostics`]) the plugin reads the
//! world's, the store's commits', streaming's, the index's and (with the `net` feature, on a
//! server) the network's counters into a [`StrataMetrics`] resource and renders them in the
//! [text exposition format](https://prometheus.io/docs/instrumenting/exposition_formats/)
//! (version 0.0.4). With an address it also serves them over HTTP at `/metrics` from a thread
//! of its own (a headless server needs no other web stack): Prometheus scrapes
//! `http://ADDR/metrics`.
//!
//! # The metrics
//! Counters end in `_total` and only grow while the app runs; the rest are gauges.
//!
//! | name | type | what |
//! | --- | --- | --- |
//! | `strata_world_version` | gauge | the world version (one step per applied batch of edits) |
//! | `strata_resident_chunks` | gauge | chunks in the world cache |
//! | `strata_resident_voxel_bytes` | gauge | voxel data the cache and the index hold |
//! | `strata_cache_hits_total`, `strata_cache_misses_total` | counter | cache lookups |
//! | `strata_evictions_total` | counter | chunks evicted from the cache |
//! | `strata_chunks_loaded_total` | counter | chunks read from the store |
//! | `strata_chunks_generated_total` | counter | chunks made by the generator |
//! | `strata_pending_edits` | gauge | edits waiting in the delta log |
//! | `strata_dirty_chunks` | gauge | chunks changed since their last durable commit |
//! | `strata_commits_total` | counter | durable commits |
//! | `strata_commit_failures_total` | counter | commits that failed (retried) |
//! | `strata_committed_chunks_total`, `strata_committed_bytes_total` | counter | chunk records and encoded bytes commits wrote |
//! | `strata_durable_version` | gauge | every edit applied at or before it is durable |
//! | `strata_last_commit_seconds` | gauge | how long the last commit took |
//! | `strata_stream_tasks_in_flight`, `strata_stream_queue_depth`, `strata_stream_ready_depth` | gauge | streaming's pipeline |
//! | `strata_stream_apply_seconds` | gauge | main-thread time applying results in the last frame |
//! | `strata_stream_meshes_total`, `strata_stream_loads_total` | counter | meshes and loads applied |
//! | `strata_stream_load_errors_total`, `strata_stream_dropped_stale_total` | counter | failed loads, results dropped as stale |
//! | `strata_nodes_shown{level="k"}` | gauge | shown LOD nodes per level |
//! | `strata_index_queue`, `strata_index_version_lag` | gauge | index updates waiting, versions behind |
//! | `strata_index_bytes`, `strata_index_released_chunks` | gauge | index memory, chunks it holds summaries of only |
//! | `strata_net_sessions`, `strata_net_unacknowledged_edits` | gauge | a server's sessions, admitted edits not yet durable (feature `net`) |
//! | `strata_net_interest_updates_total`, `strata_net_shared_chunks_total` | counter | views followed, chunks other servers committed (feature `net`) |

use crate::persistence::StrataPersistence;
use crate::sets::StrataSystems;
use crate::state::StrataWorld;
use crate::streaming::StrataStreaming;
use bevy::prelude::*;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Serves and keeps the world's metrics (see the module docs for the names).
#[derive(Clone, Debug, Default)]
pub struct StrataMetricsPlugin {
    /// Where to serve `/metrics` over HTTP (`127.0.0.1:0`: a free port, see
    /// [`StrataMetrics::local_addr`]); `None`: only the [`StrataMetrics`] resource.
    pub address: Option<SocketAddr>,
}

impl StrataMetricsPlugin {
    /// Serves `/metrics` at `address`.
    pub fn serving(address: SocketAddr) -> Self {
        Self { address: Some(address) }
    }
}

impl Plugin for StrataMetricsPlugin {
    fn build(&self, app: &mut App) {
        let text = Arc::new(RwLock::new(String::new()));
        let (local_addr, server) = match self.address {
            Some(address) => match MetricsServer::start(address, text.clone()) {
                Ok(s) => (Some(s.address), Some(s)),
                Err(e) => {
                    error!("strata metrics: cannot serve at {address}: {e}");
                    (None, None)
                }
            },
            None => (None, None),
        };
        app.insert_resource(StrataMetrics { text, local_addr, _server: server.map(Arc::new), scrapes: 0 })
            .add_systems(Last, update_metrics.run_if(crate::strata_ready).in_set(StrataSystems::Diagnostics));
    }
}

/// The metrics of the last frame, in the Prometheus text format.
#[derive(Resource)]
pub struct StrataMetrics {
    text: Arc<RwLock<String>>,
    local_addr: Option<SocketAddr>,
    /// Stops the server thread when the resource goes.
    _server: Option<Arc<MetricsServer>>,
    scrapes: u64,
}

impl StrataMetrics {
    /// The exposition text of the last frame (empty before the first).
    pub fn text(&self) -> String {
        self.text.read().map(|t| t.clone()).unwrap_or_default()
    }

    /// Where `/metrics` is served, if it is (the port chosen when asked for port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Frames that rendered the metrics since start.
    pub fn updates(&self) -> u64 {
        self.scrapes
    }
}

/// One sample: name, labels, value.
type Sample = (&'static str, Option<(&'static str, String)>, f64);

/// Renders families as text: per name a `# HELP` and a `# TYPE` line, then its samples.
pub(crate) fn render(families: &[(&'static str, &'static str, &'static str, Vec<Sample>)]) -> String {
    let mut out = String::new();
    for (name, kind, help, samples) in families {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (sample, label, value) in samples {
            let value = if value.is_finite() { format!("{value}") } else { "NaN".to_string() };
            match label {
                Some((k, v)) => {
                    let _ = writeln!(out, "{sample}{{{k}=\"{}\"}} {value}", escape_label(v));
                }
                None => {
                    let _ = writeln!(out, "{sample} {value}");
                }
            }
        }
    }
    out
}

/// A label value with `\`, `"` and newlines escaped.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn update_metrics(
    mut metrics: ResMut<StrataMetrics>,
    sw: Res<StrataWorld>,
    st: Res<StrataStreaming>,
    p: Res<StrataPersistence>,
    #[cfg(feature = "net")] server: Option<Res<crate::net::NetServer>>,
) {
    let w = sw.world.stats();
    let s = st.stats();
    let im = sw.index_memory();
    let one = |name: &'static str, v: f64| vec![(name, None, v)];
    let gauge = |name: &'static str, help: &'static str, v: f64| (name, "gauge", help, one(name, v));
    let counter = |name: &'static str, help: &'static str, v: f64| (name, "counter", help, one(name, v));
    #[cfg_attr(not(feature = "net"), allow(unused_mut))]
    let mut families = vec![
        gauge("strata_world_version", "The world version.", w.version as f64),
        gauge("strata_resident_chunks", "Chunks in the world cache.", w.resident_chunks as f64),
        gauge(
            "strata_resident_voxel_bytes",
            "Voxel data the cache and the index hold.",
            sw.resident_voxel_bytes() as f64,
        ),
        counter("strata_cache_hits_total", "Cache lookups that hit.", w.cache_hits as f64),
        counter("strata_cache_misses_total", "Cache lookups that missed.", w.cache_misses as f64),
        counter("strata_evictions_total", "Chunks evicted from the cache.", w.evictions as f64),
        counter("strata_chunks_loaded_total", "Chunks read from the store.", w.loaded_from_store as f64),
        counter("strata_chunks_generated_total", "Chunks made by the generator.", w.generated as f64),
        gauge("strata_pending_edits", "Edits waiting in the delta log.", w.pending_edits as f64),
        gauge("strata_dirty_chunks", "Chunks changed since their last durable commit.", w.dirty_chunks as f64),
        counter("strata_commits_total", "Durable commits.", p.commits as f64),
        counter("strata_commit_failures_total", "Commits that failed.", p.failed_commits as f64),
        counter("strata_committed_chunks_total", "Chunk records commits wrote.", p.committed_chunks as f64),
        counter("strata_committed_bytes_total", "Encoded bytes commits wrote.", p.committed_bytes as f64),
        gauge(
            "strata_durable_version",
            "Every edit applied at or before this version is durable.",
            p.durable_version as f64,
        ),
        gauge(
            "strata_last_commit_seconds",
            "Duration of the last commit.",
            w.last_commit.map_or(0.0, |d| d.as_secs_f64()),
        ),
        gauge("strata_stream_tasks_in_flight", "Load and mesh tasks in flight.", st.tasks_in_flight() as f64),
        gauge("strata_stream_queue_depth", "Nodes queued or waiting for data.", st.queue_depth() as f64),
        gauge("strata_stream_ready_depth", "Finished results not applied yet.", st.ready_depth() as f64),
        gauge(
            "strata_stream_apply_seconds",
            "Main-thread time applying results in the last frame.",
            f64::from(s.apply_ms_last_frame) / 1e3,
        ),
        counter("strata_stream_meshes_total", "Meshes applied.", s.meshes_applied as f64),
        counter("strata_stream_loads_total", "Node data loads applied.", s.loads_applied as f64),
        counter("strata_stream_load_errors_total", "Loads that failed.", s.load_errors as f64),
        counter("strata_stream_dropped_stale_total", "Results dropped as stale.", s.dropped_stale as f64),
        (
            "strata_nodes_shown",
            "gauge",
            "Shown LOD nodes per level.",
            st.shown_per_level()
                .into_iter()
                .enumerate()
                .map(|(level, n)| ("strata_nodes_shown", Some(("level", level.to_string())), n as f64))
                .collect(),
        ),
        gauge("strata_index_queue", "Index updates waiting.", sw.index.driver.queue_depth() as f64),
        gauge(
            "strata_index_version_lag",
            "World versions the published index lags behind.",
            w.version.saturating_sub(sw.index().world_version()) as f64,
        ),
        gauge("strata_index_bytes", "Memory the index holds.", im.total() as f64),
        gauge("strata_index_released_chunks", "Chunks the index holds summaries of only.", im.released_chunks as f64),
    ];
    #[cfg(feature = "net")]
    if let Some(server) = server {
        let (views, _) = server.interest_updates();
        let (shared, _) = server.shared_changes();
        families.extend([
            gauge("strata_net_sessions", "Client sessions remembered.", server.sessions() as f64),
            gauge("strata_net_unacknowledged_edits", "Admitted edits not yet durable.", server.unacknowledged() as f64),
            counter("strata_net_interest_updates_total", "Client views followed.", views as f64),
            counter("strata_net_shared_chunks_total", "Chunks other servers committed.", shared as f64),
        ]);
    }
    let text = render(&families);
    if let Ok(mut t) = metrics.text.write() {
        *t = text;
    }
    metrics.scrapes += 1;
}

/// The HTTP endpoint: a thread accepting connections on a non-blocking listener, answering
/// `GET /metrics` with the latest text and anything else with 404 or 400, one request per
/// connection. Bad or slow clients get an error or a time-out, never a panic, and never hold
/// the thread longer than [`REQUEST_TIMEOUT`].
struct MetricsServer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How long a client may take to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
/// The longest request head read.
const MAX_REQUEST: usize = 8 * 1024;

impl MetricsServer {
    fn start(address: SocketAddr, text: Arc<RwLock<String>>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("strata-metrics".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = serve(stream, &text);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })?;
        Ok(Self { address, stop, thread: Some(thread) })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one connection.
fn serve(mut stream: TcpStream, text: &RwLock<String>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    // The request head, up to its blank line.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            return respond(&mut stream, "431 Request Header Fields Too Large", "request too large\n");
        }
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("GET"), Some(path), Some(v)) if v.starts_with("HTTP/1.") => {
            if path == "/metrics" || path.starts_with("/metrics?") {
                let body = text.read().map(|t| t.clone()).unwrap_or_default();
                respond(&mut stream, "200 OK", &body)
            } else {
                respond(&mut stream, "404 Not Found", "only /metrics is served\n")
            }
        }
        _ => respond(&mut stream, "400 Bad Request", "expected GET /metrics HTTP/1.1\n"),
    }
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()?;
    // Close our side, then read what the client still sends (a bounded amount, within the
    // time-out): closing with unread input would reset the connection and could lose the
    // answer on its way.
    stream.shutdown(Shutdown::Write)?;
    let mut rest = [0u8; 4096];
    let mut drained = 0;
    while drained < 16 * MAX_REQUEST {
        match stream.read(&mut rest) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_with_help_type_and_escaped_labels() {
        let text = render(&[
            ("a_total", "counter", "Things.", vec![("a_total", None, 3.0)]),
            ("b", "gauge", "Per level.", vec![("b", Some(("level", "x\"y\\z\n".into())), 1.5), ("b", None, f64::NAN)]),
        ]);
        assert_eq!(
            text,
            "# HELP a_total Things.\n# TYPE a_total counter\na_total 3\n\
             # HELP b Per level.\n# TYPE b gauge\nb{level=\"x\\\"y\\\\z\\n\"} 1.5\nb NaN\n"
        );
    }
}
