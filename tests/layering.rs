//! The intended dependency graph, checked against `cargo tree` (normal and build edges, so
//! transitive dependencies count) and, for tests, against each crate's `[dev-dependencies]`
//! ([`DEV_ALLOWED`]: the workspace crates a crate's tests may use directly).
//!
//! - Only `bevy_strata`, the facade and the examples may depend on Bevy: the engine-free crates
//!   must not, not even transitively. One documented exception: `strata_bench_stream`, the
//!   performance report's headless fly-through of the plugin against a Bevy peer plugin. It is
//!   a leaf (nothing depends on it; `strata_bench` runs it as a subprocess), so Bevy never
//!   reaches an engine-free crate through it.
//! - Between our own crates, each may reach only the crates [`ALLOWED`] lists for it: the core
//!   reaches none of the others; the index, the mesher, geology and the two store backends
//!   (`strata_redb`, `strata_redis`) and the multiplayer protocol (`strata_net`) build on the
//!   core alone (so the mesher does not reach the index, and none of them the plugin); the
//!   streaming logic (`strata_stream`) on the core and the index; the
//!   plugin reaches the embedded store (`strata_redb`, its default save) and the protocol, but no
//!   other store backend, benchmark or tool; nothing but the report's fly-through
//!   reaches the report.
//!
//! A crate added under `crates/` without an entry here fails the test, so the graph stays
//! written down.
//!
//! - The core, the index, the streaming logic and the mesher link no database and no noise library ([`HEAVY`]): a
//!   game that meshes its own chunks, or a tool that only reads saves, pays for neither.
//! - The plugin enables only the Bevy features it uses, so a headless server that depends on it
//!   links no windowing, UI or text crate ([`WINDOWING`]).

use std::collections::BTreeSet;
use std::process::Command;

/// Each crate under `crates/`, the workspace crates it may reach, and whether it may reach
/// Bevy.
const ALLOWED: &[(&str, &[&str], bool)] = &[
    ("strata_core", &[], false),
    ("strata_index", &["strata_core"], false),
    ("strata_mesh", &["strata_core"], false),
    ("strata_geo", &["strata_core"], false),
    ("strata_redb", &["strata_core"], false),
    ("strata_redis", &["strata_core"], false),
    ("strata_net", &["strata_core"], false),
    ("strata_stream", &["strata_core", "strata_index"], false),
    ("strata_cli", &["strata_core", "strata_index", "strata_mesh", "strata_geo", "strata_redb", "strata_redis"], false),
    (
        "bevy_strata",
        &["strata_core", "strata_index", "strata_stream", "strata_mesh", "strata_geo", "strata_redb", "strata_net"],
        true,
    ),
    (
        "strata_bench",
        &[
            "strata_core",
            "strata_index",
            "strata_stream",
            "strata_mesh",
            "strata_geo",
            "strata_redb",
            "strata_redis",
            "strata_net",
        ],
        false,
    ),
    (
        "strata_bench_stream",
        &[
            "strata_core",
            "strata_index",
            "strata_stream",
            "strata_mesh",
            "strata_geo",
            "strata_redb",
            "strata_redis",
            "bevy_strata",
            "strata_bench",
            "strata_net",
        ],
        true,
    ),
];

/// Each crate under `crates/` and the workspace crates its `[dev-dependencies]` may name:
/// tests build on the crates below them (a generator to test against, a store to persist
/// into), never on the plugin or a tool. One exception, written down: the mesher's quad-count
/// property test compares with the report's block-mesh adapter, which lives once, in the
/// bench crate, where peers live. Another: the streaming logic's relight selection is tested
/// against the mesher's light field (what it selects for).
const DEV_ALLOWED: &[(&str, &[&str])] = &[
    ("strata_core", &[]),
    ("strata_index", &["strata_core", "strata_geo"]),
    ("strata_mesh", &["strata_core", "strata_geo", "strata_bench"]),
    ("strata_geo", &["strata_core", "strata_redb"]),
    ("strata_redb", &["strata_core"]),
    ("strata_redis", &["strata_core"]),
    ("strata_net", &["strata_core"]),
    ("strata_stream", &["strata_core", "strata_index", "strata_mesh"]),
    ("strata_cli", &["strata_core", "strata_geo", "strata_redb"]),
    ("bevy_strata", &["strata_core", "strata_geo", "strata_redb", "strata_redis"]),
    ("strata_bench", &["strata_core", "strata_geo"]),
    ("strata_bench_stream", &["strata_core", "strata_geo"]),
];

/// The workspace crates (names starting `strata` or `bevy_strata`) the `[dev-dependencies]`
/// table of `manifest` names.
fn dev_dependencies(manifest: &str) -> BTreeSet<String> {
    let mut in_dev = false;
    let mut out = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dev = line == "[dev-dependencies]";
            continue;
        }
        let name = line.split(['=', '.', ' ']).next().unwrap_or("");
        if in_dev && (name.starts_with("strata") || name.starts_with("bevy_strata")) {
            out.insert(name.to_string());
        }
    }
    out
}

#[test]
fn tests_use_only_the_crates_the_intended_graph_allows() {
    let crates_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates_dir).expect("crates/ exists") {
        let dir = entry.expect("dir entry").path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else { continue };
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let Some((_, allowed)) = DEV_ALLOWED.iter().find(|(n, _)| *n == name) else {
            panic!("crates/{name} has no entry in DEV_ALLOWED: say what its tests may use");
        };
        let dev = dev_dependencies(&manifest);
        let forbidden: Vec<&String> = dev.iter().filter(|d| !allowed.contains(&d.as_str())).collect();
        assert!(forbidden.is_empty(), "the tests of {name} use {forbidden:?}; they may use only {allowed:?}");
        checked += 1;
    }
    assert_eq!(checked, DEV_ALLOWED.len(), "every crate in DEV_ALLOWED exists");
}

#[test]
fn the_dev_dependency_reader_finds_workspace_crates() {
    let manifest = "[dependencies]\nstrata_core.workspace = true\n\n[dev-dependencies]\nproptest.workspace = true\nstrata_geo.workspace = true\nstrata_bench = { path = \"../strata_bench\" }\nbevy_strata = { path = \"x\" }\n\n[lints]\nworkspace = true\n";
    let found: Vec<String> = dev_dependencies(manifest).into_iter().collect();
    assert_eq!(found, ["bevy_strata", "strata_bench", "strata_geo"]);
}

/// Every package `cargo tree -p name` lists (normal and build edges), by name.
fn reached(root: &str, name: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-e", "normal,build", "--prefix", "none", "-p", name])
        .current_dir(root)
        .output()
        .expect("run cargo tree");
    assert!(out.status.success(), "cargo tree -p {name} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// What a headless server must not link: windowing (winit, X11, Wayland) and Bevy's UI and
/// text.
const WINDOWING: &[&str] =
    &["winit", "bevy_winit", "x11-dl", "x11rb", "wayland-client", "wayland-sys", "bevy_ui", "bevy_text"];

/// What the core, the index, the streaming logic and the mesher must not link: a database (redb, Redis) or the
/// terrain generator's noise library.
const HEAVY: &[&str] = &["redb", "redis", "noise"];

#[test]
fn the_core_the_index_the_streaming_logic_and_the_mesher_link_no_database_or_noise_library() {
    for name in ["strata_core", "strata_index", "strata_stream", "strata_mesh"] {
        let reached = reached(env!("CARGO_MANIFEST_DIR"), name);
        assert!(reached.contains("rustc-hash"), "the tree of {name} lists its dependencies: {reached:?}");
        let found: Vec<&String> = reached.iter().filter(|d| HEAVY.contains(&d.as_str())).collect();
        assert!(found.is_empty(), "{name} links {found:?}");
    }
}

#[test]
fn the_plugin_links_no_windowing_ui_or_text_crate() {
    let reached = reached(env!("CARGO_MANIFEST_DIR"), "bevy_strata");
    assert!(reached.iter().any(|d| d == "bevy_pbr"), "the tree lists Bevy's crates: {reached:?}");
    let found: Vec<&String> = reached.iter().filter(|d| WINDOWING.contains(&d.as_str())).collect();
    assert!(found.is_empty(), "bevy_strata links {found:?}: a headless server would too");
}

#[test]
fn every_crate_reaches_only_the_crates_the_intended_graph_allows() {
    let root = env!("CARGO_MANIFEST_DIR");
    let crates_dir = std::path::Path::new(root).join("crates");
    let ours: BTreeSet<String> = std::fs::read_dir(&crates_dir)
        .expect("crates/ exists")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|name| crates_dir.join(name).join("Cargo.toml").exists())
        .collect();
    let mut checked = 0;
    for name in &ours {
        let Some((_, allowed, bevy_allowed)) = ALLOWED.iter().find(|(n, _, _)| n == name) else {
            panic!("crates/{name} has no entry in ALLOWED: say what it may depend on");
        };
        let reached = reached(root, name);
        let workspace: Vec<&String> =
            reached.iter().filter(|d| *d != name && (ours.contains(*d) || d.as_str() == "strata")).collect();
        let forbidden: Vec<&&String> = workspace.iter().filter(|d| !allowed.contains(&d.as_str())).collect();
        assert!(forbidden.is_empty(), "{name} reaches {forbidden:?}; it may reach only {allowed:?}");
        if !bevy_allowed {
            let bevy: Vec<&String> = reached.iter().filter(|d| d.starts_with("bevy")).collect();
            assert!(bevy.is_empty(), "{name} depends on Bevy: {bevy:?}");
        }
        checked += 1;
    }
    assert!(checked >= ALLOWED.len(), "expected to check every crate in ALLOWED, checked {checked}");
}
