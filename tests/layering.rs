//! Only `bevy_strata`, the facade and the examples may depend on Bevy: the engine-free crates
//! must not, not even transitively. One documented exception: `strata_bench_stream`, the
//! performance report's headless fly-through of the plugin against a Bevy peer plugin. It is a
//! leaf (nothing depends on it; `strata_bench` runs it as a subprocess), so Bevy never reaches
//! an engine-free crate through it.

use std::process::Command;

#[test]
fn engine_free_crates_do_not_depend_on_bevy() {
    let root = env!("CARGO_MANIFEST_DIR");
    let crates_dir = std::path::Path::new(root).join("crates");
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates_dir).expect("crates/ exists") {
        let name = entry.expect("dir entry").file_name().to_string_lossy().into_owned();
        // The Bevy-side crates: the plugin and the report's fly-through (see the module docs).
        let bevy_side = name == "bevy_strata" || name == "strata_bench_stream";
        if bevy_side || !crates_dir.join(&name).join("Cargo.toml").exists() {
            continue;
        }
        let out = Command::new(env!("CARGO"))
            .args(["tree", "--offline", "-e", "normal,build", "--prefix", "none", "-p", &name])
            .current_dir(root)
            .output()
            .expect("run cargo tree");
        assert!(out.status.success(), "cargo tree -p {name} failed: {}", String::from_utf8_lossy(&out.stderr));
        let tree = String::from_utf8_lossy(&out.stdout);
        let bevy: Vec<&str> = tree.lines().filter(|l| l.starts_with("bevy")).collect();
        assert!(bevy.is_empty(), "{name} depends on Bevy: {bevy:?}");
        checked += 1;
    }
    assert!(checked >= 3, "expected to check strata_core, strata_cli and strata_bench at least");
}
