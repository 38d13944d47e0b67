//! `StrataMetricsPlugin`: the world's counters served in the Prometheus text format over HTTP.
//! The output is read by a parser written here from the format's rules (not the plugin's
//! renderer); its counters move when the world is edited and committed; bad requests get
//! errors and the endpoint keeps serving.

use crate::common::*;
use bevy::ecs::system::RunSystemOnce;
use bevy::prelude::*;
use bevy_strata::prelude::*;
use bevy_strata::{StrataMetrics, StrataMetricsPlugin, StrataPersistence};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A parsed exposition: per sample (name with its labels as written) the value, and per family
/// its type.
#[derive(Debug, Default)]
struct Exposition {
    samples: HashMap<String, f64>,
    types: HashMap<String, String>,
}

/// Parses the text format strictly: `# HELP name text`, `# TYPE name counter|gauge` before the
/// family's samples, samples `name{label="value",…} number` whose name is a declared family
/// (or a histogram's suffix of one), valid metric and label names, a value that is a float,
/// `NaN` or `±Inf`, and counters (`_total`) never negative.
fn parse(text: &str) -> Result<Exposition, String> {
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .enumerate()
                .all(|(i, c)| c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
    };
    let mut e = Exposition::default();
    for (i, line) in text.lines().enumerate() {
        let bad = |why: &str| Err(format!("line {}: {why}: {line:?}", i + 1));
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), Some(_)) if valid_name(name) => {}
                (Some("TYPE"), Some(name), Some(kind)) if valid_name(name) => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return bad("unknown type");
                    }
                    if e.types.insert(name.to_string(), kind.to_string()).is_some() {
                        return bad("a family declared twice");
                    }
                }
                _ => return bad("a comment that is neither HELP nor TYPE"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or("no value").map_err(|w| format!("line {}: {w}", i + 1))?;
        let name = series.split('{').next().unwrap_or_default();
        if !valid_name(name) {
            return bad("a bad metric name");
        }
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            let Some(inner) = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}')) else {
                return bad("labels not in braces");
            };
            for pair in inner.split(',').filter(|p| !p.is_empty()) {
                let Some((k, v)) = pair.split_once('=') else { return bad("a label without =") };
                if !valid_name(k) || !v.starts_with('"') || !v.ends_with('"') || v.len() < 2 {
                    return bad("a bad label");
                }
            }
        }
        if !e.types.contains_key(name) {
            return bad("a sample before its TYPE");
        }
        let v: f64 = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| format!("line {}: value {v:?} is not a number", i + 1))?,
        };
        if e.types[name] == "counter" && v < 0.0 {
            return bad("a negative counter");
        }
        e.samples.insert(series.to_string(), v);
    }
    Ok(e)
}

/// Sends `request` raw and returns the response (status line, body).
fn http(addr: SocketAddr, request: &[u8]) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    // What arrived before the server closed (it may reset a connection it stopped reading).
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8(out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

fn scrape(addr: SocketAddr) -> Exposition {
    let (status, body) = http(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"))
}

#[test]
fn metrics_are_served_as_prometheus_text_and_follow_the_world() {
    let dir = tempfile::tempdir().unwrap();
    let config = StrataConfig {
        save_path: Some(dir.path().join("w.strata").to_string_lossy().into_owned()),
        commit_interval_s: 3600.0,
        ..small_view()
    };
    let mut app = flat_app_extended(
        |p| p,
        |app| {
            app.add_plugins(StrataMetricsPlugin::serving("127.0.0.1:0".parse().unwrap()));
        },
        config,
        0,
    );
    wait_started(&mut app);
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(0.0, 4.0, 0.0)));
    run_until(&mut app, 2000, "streamed", |app| {
        let st = app.world().resource::<StrataStreaming>();
        st.is_idle() && st.stats().meshes_applied > 0
    });
    let addr = app.world().resource::<StrataMetrics>().local_addr().expect("served");
    let before = scrape(addr);
    for family in
        ["strata_world_version", "strata_commits_total", "strata_resident_chunks", "strata_stream_meshes_total"]
    {
        assert!(before.types.contains_key(family), "{family} missing");
    }
    assert_eq!(before.types["strata_commits_total"], "counter");
    assert_eq!(before.types["strata_resident_chunks"], "gauge");
    assert!(before.samples["strata_resident_chunks"] > 0.0 && before.samples["strata_stream_meshes_total"] > 0.0);
    assert!(before.samples.contains_key("strata_nodes_shown{level=\"0\"}"));
    assert_eq!(before.samples["strata_commits_total"], 0.0);

    // An edit, committed: the version, the commits and the bytes written move.
    let pos = VoxelPos::new(3, 0, 4);
    app.world_mut().run_system_once(move |world: VoxelWorld| world.set_voxel(pos, MaterialId(12))).unwrap();
    let request = app.world_mut().resource_mut::<StrataPersistence>().commit_now();
    run_until(&mut app, 500, "the commit", |app| app.world().resource::<StrataPersistence>().is_durable(request));
    app.update();
    let after = scrape(addr);
    assert!(after.samples["strata_world_version"] > before.samples["strata_world_version"]);
    assert_eq!(after.samples["strata_commits_total"], 1.0);
    assert!(after.samples["strata_committed_bytes_total"] > 0.0);
    assert!(after.samples["strata_durable_version"] >= after.samples["strata_world_version"] - 1.0);
    // Every counter only grew.
    for (series, v) in &before.samples {
        let name = series.split('{').next().unwrap();
        if before.types[name] == "counter" {
            assert!(after.samples[series] >= *v, "{series} went down");
        }
    }

    // Bad requests get errors, a silent client times out, and the endpoint keeps serving.
    assert_eq!(http(addr, b"GET /other HTTP/1.1\r\n\r\n").0, "HTTP/1.1 404 Not Found");
    assert_eq!(http(addr, b"\x00\xff garbage\r\n\r\n").0, "HTTP/1.1 400 Bad Request");
    assert_eq!(http(addr, b"POST /metrics HTTP/1.1\r\n\r\n").0, "HTTP/1.1 400 Bad Request");
    assert!(http(addr, &vec![b'a'; 20_000]).0.starts_with("HTTP/1.1 431"));
    let silent = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    drop(silent);
    let again = scrape(addr);
    assert_eq!(again.samples["strata_commits_total"], 1.0);
    assert!(app.world().resource::<StrataMetrics>().text().starts_with("# HELP "));
}

/// The parser refuses what the format forbids (so the test above cannot pass on any text).
#[test]
fn the_test_parser_refuses_broken_text() {
    let ok = "# HELP a_total x\n# TYPE a_total counter\na_total 1\n";
    assert!(parse(ok).is_ok());
    for broken in [
        "a_total 1\n",
        "# TYPE a_total counter\na_total -1\n",
        "# TYPE a gauge\na one\n",
        "# TYPE a gauge\n1a 3\n",
        "# TYPE a gauge\na{l=x} 3\n",
        "# TYPE a gauge\n# TYPE a gauge\n",
        "# TYPE a size\n",
        "# comment\n",
    ] {
        assert!(parse(broken).is_err(), "{broken:?} parsed");
    }
}
