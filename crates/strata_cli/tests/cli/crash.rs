//! Crash safety: run `strata edit` as a child process, SIGKILL it at random moments, reopen the
//! save and check that every acknowledged commit is fully present and that no batch is partly
//! visible — voxels and block data alike (each batch puts "chests" on some of the voxels it
//! writes: never a chest without its contents nor contents without their chest).
//!
//! Iterations: 50 by default; set `STRATA_CRASH_ITERATIONS` for more. The writer says when a
//! commit starts (`committing batch=`) and when it is durable (`committed batch=`); a kill after
//! the first and before the second landed **mid-commit**, and the test requires some: if the
//! iterations had none, it goes on (up to 4× as many) until one lands, else it fails.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::ops::ControlFlow;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use strata_cli::{EditPlan, Save};
use strata_core::rng::SplitMix64;
use strata_core::store::full_range;
use strata_core::{Chunk, ChunkKey, ChunkSide, ChunkStore, MemoryStore, VoxelPos, World, WorldConfig};
use strata_geo::NoiseTerrain;

const SEED: u32 = 3;

fn plan(edit_seed: u64) -> EditPlan {
    EditPlan {
        seed: edit_seed,
        edits_per_batch: 3000,
        min: VoxelPos::new(-64, -32, -64),
        max: VoxelPos::new(63, 31, 63),
    }
}

/// The chunks the save must hold after exactly `batches` committed batches.
fn expected_after(plan: &EditPlan, batches: u64, terrain: &strata_geo::TerrainConfig) -> HashMap<ChunkKey, Stored> {
    let store = Arc::new(MemoryStore::new());
    let mut world = World::new(store.clone(), Arc::new(NoiseTerrain::new(terrain.clone())), WorldConfig::default());
    for i in 0..batches {
        world.set_many(plan.batch(i));
        for (p, data) in plan.block_data(i) {
            world.set_block_data(p, Some(data)).expect("small block data");
        }
        world.commit().expect("memory store commit");
    }
    let mut out = HashMap::new();
    store
        .scan(full_range(), &mut |k, rec| {
            let d = strata_core::codec::decode_full(rec).expect("simulated record decodes");
            out.insert(k.to_chunk(), (d.chunk, d.side));
            ControlFlow::Continue(())
        })
        .expect("memory scan");
    out
}

/// A chunk's voxels and game data.
type Stored = (Chunk, ChunkSide);

fn stored(store: &dyn ChunkStore) -> HashMap<ChunkKey, Stored> {
    let mut out = HashMap::new();
    let mut bad = Vec::new();
    store
        .scan(full_range(), &mut |k, rec| {
            match strata_core::codec::decode_full(rec) {
                Ok(d) => {
                    // Every chest stands on the material its contents were written for.
                    for (at, chest) in d.side.blocks() {
                        assert_eq!(d.chunk.get(at), chest.material, "contents without their chest in {k:?}");
                    }
                    out.insert(k.to_chunk(), (d.chunk, d.side));
                }
                Err(e) => bad.push((k.to_chunk(), e)),
            }
            ControlFlow::Continue(())
        })
        .expect("scan after crash");
    assert!(bad.is_empty(), "corrupt records after a crash: {bad:?}");
    out
}

#[test]
fn sigkill_never_loses_an_acknowledged_commit_nor_shows_a_partial_batch() {
    let iterations: u64 = std::env::var("STRATA_CRASH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let exe = env!("CARGO_BIN_EXE_strata");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = SplitMix64::new(0xC0FFEE);
    let mut expected_cache: HashMap<(u64, u64), HashMap<ChunkKey, Stored>> = HashMap::new();
    let mut outcomes = BTreeSet::new();
    let mut mid_commit = 0u64;
    let mut it = 0u64;
    while it < iterations || (mid_commit == 0 && it < 4 * iterations) {
        it += 1;
        let path = dir.path().join(format!("crash-{it}.strata"));
        let edit_seed = it % 5;
        let mut child = Command::new(exe)
            .args(["edit", "--save"])
            .arg(&path)
            .args(["--seed", &SEED.to_string(), "--edit-seed", &edit_seed.to_string(), "--batches", "1000"])
            .args(["--edits", "3000", "--min=-64,-32,-64", "--max=63,31,63"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn strata edit");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        // Wait for a random number of acknowledgments (0 = kill during start-up), then a random
        // extra delay so the kill lands anywhere: mid-apply, mid-encode, mid-commit, mid-fsync.
        let wait_acks = rng.below(12);
        let mut acked = 0u64;
        // The last progress line the writer printed: was a commit in progress?
        let mut committing = false;
        while acked < wait_acks {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("committed batch=") => {
                    acked += 1;
                    committing = false;
                }
                Some(Ok(l)) if l.starts_with("committing batch=") => committing = true,
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(15_000)));
        child.kill().expect("SIGKILL the writer");
        // Acknowledgments written before the kill still count: drain the pipe.
        for l in lines.map_while(Result::ok) {
            if l.starts_with("committed batch=") {
                acked += 1;
                committing = false;
            } else if l.starts_with("committing batch=") {
                committing = true;
            }
        }
        if committing {
            mid_commit += 1;
            outcomes.insert("killed mid-commit".to_string());
        }
        let status = child.wait().expect("reap");
        assert!(!status.success() || acked > 0, "writer finished before the kill?");

        if !path.exists() {
            assert_eq!(acked, 0, "acknowledged commits but no save file");
            outcomes.insert("killed before the save existed".to_string());
            continue;
        }
        // Save creation is atomic: a save that exists always opens.
        let save = match Save::open(&path, Some(SEED)) {
            Ok(s) => s,
            Err(e) => panic!("iteration {it}: save with {acked} acknowledged commits does not open: {e}"),
        };
        let actual = stored(save.store.as_ref());
        // Summaries are written in the records' transactions: never one without the other.
        let summaries = save.store.summary_problems().expect("summaries readable");
        assert!(summaries.is_empty(), "iteration {it}: summaries out of step after a crash: {summaries:?}");
        let p = plan(edit_seed);
        // The store must equal the state after exactly `acked` batches, or after `acked + 1`
        // (the kill landed after the commit but before its acknowledgment was printed).
        let mut matched = None;
        for n in [acked, acked + 1] {
            let exp = expected_cache.entry((edit_seed, n)).or_insert_with(|| expected_after(&p, n, &save.terrain));
            if *exp == actual {
                matched = Some(n);
                break;
            }
        }
        match matched {
            Some(n) => {
                outcomes.insert(if n == acked {
                    "exact".to_string()
                } else {
                    "one unacknowledged commit landed".to_string()
                });
            }
            None => {
                let exp = &expected_cache[&(edit_seed, acked)];
                let missing = exp.keys().filter(|k| !actual.contains_key(k)).count();
                let differing = exp.iter().filter(|(k, c)| actual.get(k).is_some_and(|a| a != *c)).count();
                panic!(
                    "iteration {it}: store matches neither {acked} nor {} batches ({} stored chunks, {missing} missing, {differing} differing)",
                    acked + 1,
                    actual.len()
                );
            }
        }
    }
    eprintln!("crash outcomes over {it} iterations ({mid_commit} mid-commit): {outcomes:?}");
    assert!(mid_commit > 0, "no kill landed while a commit was in progress in {it} iterations");
}
