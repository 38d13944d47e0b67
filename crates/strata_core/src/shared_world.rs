//! The shared-world model test, and stores that fail the way shared stores do.
//!
//! [`run`] lets several writers — threads, each with its own store handle and [`World`] —
//! commit random edits of the voxels each of them owns (new values, rewrites and reverts of
//! their own voxels, in the same chunks and regions and across regions), then checks with a
//! fresh reader that **every voxel equals its owner's last acknowledged write** (a commit that
//! returned `Ok`). It is the test of "a shared world never loses an acknowledged edit":
//! `strata_core`'s own tests run it on [`RegionAtomicStore`] (a [`MemoryStore`] committed per
//! region, as a Redis Cluster commits) and on [`FaultyStore`] wrappers of it, `strata_redis`'s
//! on a real cluster while a master is killed and restarted, and the performance report prints
//! its lost edits as `redis.shared_world_lost_edits`.

use crate::codec::WorldId;
use crate::coords::{CHUNK_SIZE, ChunkKey, VoxelPos};
use crate::generator::WorldGenerator;
use crate::material::MaterialId;
use crate::morton::MortonKey;
use crate::rng::SplitMix64;
use crate::store::{
    ChunkCellVisitor, ChunkStore, CommitReceipt, MemoryStore, ScanVisitor, StoreError, SummaryVisitor, WriteBatch,
};
use crate::world::{World, WorldConfig};
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What [`run`] does.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Writers, each a thread with its own store handle and world. Voxel `(x, y, z)` belongs to
    /// writer `x mod writers`.
    pub writers: usize,
    /// Commits per writer.
    pub commits: usize,
    /// Voxel writes per commit (each to a random chunk of `chunks`).
    pub edits_per_commit: usize,
    /// The chunks written. Put some in one region and some in others (see
    /// [`Workload::standard`]) so that commits conflict within a region and span regions.
    pub chunks: Vec<ChunkKey>,
    /// Voxels per chunk each writer uses (a small number makes rewrites and reverts common).
    pub voxels_per_chunk: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// A pause after each commit (spreads the commits over time, so that what runs beside
    /// them — a failover — happens while they go on).
    pub pause: Duration,
}

impl Workload {
    /// `writers` × `commits` with 4 writes per commit over nine chunks: seven in one region
    /// of 8³ chunks (three of them next to each other), two in two other regions; 16 voxels
    /// per chunk per writer. So most commits touch some chunks of the shared region and not
    /// others, and conflict on some of those they touch.
    pub fn standard(writers: usize, commits: usize, seed: u64) -> Self {
        let chunks = vec![
            ChunkKey::new(0, 0, 0),
            ChunkKey::new(1, 0, 0),
            ChunkKey::new(0, 1, 0),
            ChunkKey::new(5, 3, 6),
            ChunkKey::new(2, 2, 2),
            ChunkKey::new(7, 7, 7),
            ChunkKey::new(3, 0, 5),
            ChunkKey::new(8, 0, 0),
            ChunkKey::new(-9, 2, 17),
        ];
        Self { writers, commits, edits_per_commit: 4, chunks, voxels_per_chunk: 16, seed, pause: Duration::ZERO }
    }
}

/// What [`run`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Voxels checked: every voxel some writer wrote and had acknowledged.
    pub checked: usize,
    /// Voxels whose value in a fresh reader is not their owner's last acknowledged write:
    /// `(voxel, acknowledged, read)`; `read` is `None` where the reader failed to load it.
    pub lost: Vec<(VoxelPos, MaterialId, Option<MaterialId>)>,
    /// Commits that returned `Ok`, over all writers.
    pub acknowledged_commits: usize,
    /// Commits that returned an error (retried by the next commit).
    pub failed_commits: usize,
    /// Voxels whose last write was never acknowledged (the final commits kept failing): not
    /// checked.
    pub unacknowledged: usize,
}

/// How many times a writer tries its final commit before giving up (pausing 100 ms between
/// tries: long enough for a failover to finish).
pub const FINAL_COMMIT_TRIES: usize = 300;

/// Runs `workload`: writer `w` opens its store with `open(w)` and commits through its own
/// [`World`] over `generator`; `during` runs on the calling thread meanwhile (kill a node,
/// say). Then each writer commits until it succeeds (up to [`FINAL_COMMIT_TRIES`]), and a
/// fresh world over `reader` reads every voxel a writer had acknowledged.
///
/// # Panics
/// If a writer thread panics.
pub fn run(
    workload: &Workload,
    generator: Arc<dyn WorldGenerator>,
    open: &(dyn Fn(usize) -> Arc<dyn ChunkStore> + Sync),
    reader: Arc<dyn ChunkStore>,
    during: impl FnOnce(),
) -> Outcome {
    let results: Vec<Writer> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workload.writers)
            .map(|w| {
                let generator = generator.clone();
                scope.spawn(move || write(workload, w, open(w), generator))
            })
            .collect();
        during();
        handles.into_iter().map(|h| h.join().expect("a writer panicked")).collect()
    });
    let mut outcome = Outcome::default();
    let mut world = World::new(reader, generator, WorldConfig::default());
    for writer in results {
        outcome.acknowledged_commits += writer.acknowledged_commits;
        outcome.failed_commits += writer.failed_commits;
        for (pos, (last, acknowledged)) in writer.voxels {
            if Some(last) != acknowledged {
                outcome.unacknowledged += 1;
                continue;
            }
            outcome.checked += 1;
            let read = world.voxel(pos).ok();
            if read != Some(last) {
                outcome.lost.push((pos, last, read));
            }
        }
    }
    outcome.lost.sort_unstable_by_key(|(p, ..)| (p.x, p.y, p.z));
    outcome
}

/// What one writer did: per voxel its last write and the last one acknowledged.
struct Writer {
    voxels: FxHashMap<VoxelPos, (MaterialId, Option<MaterialId>)>,
    acknowledged_commits: usize,
    failed_commits: usize,
}

fn write(workload: &Workload, w: usize, store: Arc<dyn ChunkStore>, generator: Arc<dyn WorldGenerator>) -> Writer {
    let mut rng = SplitMix64(workload.seed ^ (w as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut world = World::new(store, generator, WorldConfig::default());
    let writers = workload.writers as i32;
    // Per voxel: every value it had, oldest first (the first is what it was before this
    // writer's first write), and the last acknowledged.
    let mut history: FxHashMap<VoxelPos, Vec<MaterialId>> = FxHashMap::default();
    let mut acknowledged: FxHashMap<VoxelPos, MaterialId> = FxHashMap::default();
    // This writer's voxels of each chunk: x ≡ w (mod writers), so every chunk has voxels of
    // every writer.
    let slots: Vec<Vec<VoxelPos>> = workload
        .chunks
        .iter()
        .map(|key| {
            let origin = key.min_voxel();
            (0..workload.voxels_per_chunk)
                .map(|_| {
                    let lanes = (CHUNK_SIZE as i32 - w as i32 + writers - 1) / writers;
                    let x = w as i32 + writers * rng.range(0, lanes.max(1));
                    let (y, z) = (rng.range(0, CHUNK_SIZE as i32), rng.range(0, CHUNK_SIZE as i32));
                    VoxelPos::new(origin.x + x, origin.y + y, origin.z + z)
                })
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        })
        .collect();
    let mut out = Writer { voxels: FxHashMap::default(), acknowledged_commits: 0, failed_commits: 0 };
    let commit = |world: &mut World,
                  history: &FxHashMap<VoxelPos, Vec<MaterialId>>,
                  acknowledged: &mut FxHashMap<VoxelPos, MaterialId>,
                  out: &mut Writer| {
        match world.commit() {
            Ok(_) => {
                out.acknowledged_commits += 1;
                for (pos, values) in history {
                    acknowledged.insert(*pos, *values.last().expect("a voxel's history is never empty"));
                }
                true
            }
            Err(_) => {
                out.failed_commits += 1;
                false
            }
        }
    };
    for _ in 0..workload.commits {
        let mut edits = Vec::with_capacity(workload.edits_per_commit);
        for _ in 0..workload.edits_per_commit {
            let chunk = &slots[rng.below(slots.len() as u64) as usize];
            let pos = chunk[rng.below(chunk.len() as u64) as usize];
            let values = match history.get_mut(&pos) {
                Some(v) => v,
                None => {
                    // What the voxel is before this writer's first write (the generator's,
                    // or what an earlier run left).
                    let Ok(before) = world.voxel(pos) else { continue };
                    history.entry(pos).or_insert(vec![before])
                }
            };
            let value = match rng.below(4) {
                // Revert to an earlier value (the first: back to what it was).
                0 => values[rng.below(values.len() as u64) as usize],
                _ => MaterialId(1 + rng.below(250) as u16),
            };
            values.push(value);
            edits.push((pos, value));
        }
        world.set_many(edits);
        commit(&mut world, &history, &mut acknowledged, &mut out);
        std::thread::sleep(workload.pause);
    }
    for _ in 0..FINAL_COMMIT_TRIES {
        if commit(&mut world, &history, &mut acknowledged, &mut out) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    out.voxels = history
        .into_iter()
        .filter(|(_, values)| values.len() > 1)
        .map(|(pos, values)| (pos, (*values.last().expect("not empty"), acknowledged.get(&pos).copied())))
        .collect();
    out
}

/// A [`MemoryStore`] that commits a batch **per region** (aligned cubes of 2^`region_level`
/// chunks per side) like a Redis Cluster: each region atomically, one after another, other
/// writers' commits interleaving between them; a region whose condition fails writes nothing
/// and the others are written ([`StoreError::Conflict`] lists exactly what was). Handles made
/// with [`RegionAtomicStore::handle`] share the data.
#[derive(Clone)]
pub struct RegionAtomicStore {
    inner: Arc<MemoryStore>,
    region_level: u32,
}

impl RegionAtomicStore {
    /// An empty store with regions of 2^`region_level` chunks per side.
    pub fn new(region_level: u32) -> Self {
        Self { inner: Arc::new(MemoryStore::new()), region_level }
    }

    /// Another handle on the same data.
    pub fn handle(&self) -> Self {
        self.clone()
    }

    fn region(&self, key: MortonKey) -> u128 {
        key.0 >> (3 * self.region_level)
    }
}

impl ChunkStore for RegionAtomicStore {
    fn world_id(&self) -> WorldId {
        self.inner.world_id()
    }
    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_record(key)
    }
    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        self.inner.scan(range, visit)
    }
    fn scan_summaries(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut SummaryVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.inner.scan_summaries(range, visit)
    }
    fn scan_chunk_cells(
        &self,
        range: RangeInclusive<MortonKey>,
        visit: &mut ChunkCellVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.inner.scan_chunk_cells(range, visit)
    }

    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        batch.check()?;
        let start = std::time::Instant::now();
        let sequence = self.inner.reserve_sequence();
        let regions: BTreeSet<u128> = batch.iter().map(|(k, _)| self.region(k)).collect();
        let (mut written, mut conflicts) = (Vec::new(), Vec::new());
        for region in regions {
            match self.inner.commit_part(batch, &|k| self.region(k) == region, sequence) {
                Ok(_) => {
                    written.extend(batch.iter().filter(|(k, _)| self.region(*k) == region).map(|(k, _)| k.to_chunk()));
                }
                Err(StoreError::Conflict { keys, .. }) => conflicts.extend(keys),
                Err(e) => return Err(e),
            }
            // Let other writers' commits land between two regions of this one.
            std::thread::yield_now();
        }
        if !conflicts.is_empty() {
            written.dedup();
            return Err(StoreError::Conflict { keys: conflicts, written, sequence });
        }
        Ok(CommitReceipt { entries: batch.len(), bytes: batch.encoded_bytes(), duration: start.elapsed(), sequence })
    }
}

/// Faults a [`FaultyStore`] injects, each with a probability in per mille.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// The commit is done (all of it, or what a conflict let through), then an error is
    /// returned: a reply lost after the write, a replica that confirmed too late.
    pub wrote_but_failed: u16,
    /// An error is returned and nothing is written.
    pub failed: u16,
    /// A read returns an older copy of the record than the store holds (one this handle read
    /// before), or none if it read none: a lagging replica.
    pub older_copy: u16,
}

/// A store handle that injects [`Faults`] into another's commits and reads. Its random
/// choices are seeded, so a run is repeatable up to thread interleaving.
pub struct FaultyStore<S> {
    inner: S,
    faults: Faults,
    state: Mutex<FaultState>,
}

struct FaultState {
    rng: SplitMix64,
    /// Per key, the records this handle has read, oldest first.
    seen: FxHashMap<MortonKey, Vec<Vec<u8>>>,
}

impl<S: ChunkStore> FaultyStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, faults: Faults, seed: u64) -> Self {
        Self { inner, faults, state: Mutex::new(FaultState { rng: SplitMix64(seed), seen: FxHashMap::default() }) }
    }

    fn roll(&self, per_mille: u16) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.rng.below(1000) < u64::from(per_mille)
    }
}

impl<S: ChunkStore> ChunkStore for FaultyStore<S> {
    fn world_id(&self) -> WorldId {
        self.inner.world_id()
    }

    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        let current = self.inner.get_record(key)?;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let older = state.rng.below(1000) < u64::from(self.faults.older_copy);
        let seen = state.seen.entry(key).or_default();
        if older {
            // The oldest copy this handle saw, or none at all.
            return Ok(seen.first().cloned());
        }
        if let Some(record) = &current
            && seen.last() != Some(record)
        {
            seen.push(record.clone());
        }
        Ok(current)
    }

    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        self.inner.scan(range, visit)
    }

    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        if self.roll(self.faults.failed) {
            return Err(StoreError::Unavailable("injected: nothing written".into()));
        }
        let result = self.inner.commit(batch);
        if self.roll(self.faults.wrote_but_failed) {
            return Err(StoreError::Unavailable(format!(
                "injected: the commit was done ({}), its reply lost",
                if result.is_ok() { "all of it" } else { "what a conflict let through" }
            )));
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::FlatGenerator;

    fn ground() -> Arc<dyn WorldGenerator> {
        Arc::new(FlatGenerator { height: 4, material: MaterialId(1) })
    }

    /// Runs `workload` with writer `w` on `handle(w)` of one region-atomic store; asserts that
    /// nothing acknowledged was lost and that every write was acknowledged in the end.
    fn no_lost_edit(workload: &Workload, handle: impl Fn(&RegionAtomicStore, usize) -> Arc<dyn ChunkStore> + Sync) {
        let store = RegionAtomicStore::new(3);
        let outcome = run(workload, ground(), &|w| handle(&store, w), Arc::new(store.handle()), || {});
        assert_none_lost(&outcome);
    }

    /// Asserts that nothing acknowledged was lost and that every write was acknowledged.
    fn assert_none_lost(outcome: &Outcome) {
        eprintln!(
            "checked {} voxels: {} lost, {} unacknowledged; {} commits acknowledged, {} failed",
            outcome.checked,
            outcome.lost.len(),
            outcome.unacknowledged,
            outcome.acknowledged_commits,
            outcome.failed_commits
        );
        assert!(outcome.checked > 100, "{outcome:?}");
        assert_eq!(outcome.unacknowledged, 0);
        assert!(
            outcome.lost.is_empty(),
            "{} of {} voxels lost: {:?}",
            outcome.lost.len(),
            outcome.checked,
            outcome.lost
        );
    }

    #[test]
    fn region_atomic_store_keeps_the_store_contract() {
        crate::store::contract::run(&RegionAtomicStore::new(3));
    }

    #[test]
    fn writers_sharing_regions_lose_no_acknowledged_edit() {
        no_lost_edit(&Workload::standard(4, 60, 1), |s, _| Arc::new(s.handle()));
    }

    #[test]
    fn writers_whose_commits_fail_after_writing_lose_no_acknowledged_edit() {
        let faults = Faults { wrote_but_failed: 200, failed: 50, older_copy: 0 };
        no_lost_edit(&Workload::standard(4, 60, 2), |s, w| Arc::new(FaultyStore::new(s.handle(), faults, w as u64)));
    }

    #[test]
    fn writers_reading_older_copies_lose_no_acknowledged_edit() {
        let faults = Faults { wrote_but_failed: 0, failed: 0, older_copy: 200 };
        no_lost_edit(&Workload::standard(4, 60, 3), |s, w| Arc::new(FaultyStore::new(s.handle(), faults, w as u64)));
    }

    /// Writers (and the reader) whose materials are numbered in reverse of the save's, on a
    /// store with every fault: every record they read and write goes through a material palette
    /// ([`crate::RemappedStore`]: commits re-encoded, conflicting records re-read and merged in
    /// the registry's ids) and no acknowledged edit is lost.
    #[test]
    fn writers_through_a_renumbered_palette_lose_no_acknowledged_edit() {
        use crate::palette::{Palette, PaletteRules, reconcile};
        let names: Vec<(u16, String)> = (1..=251).map(|i| (i, format!("m{i}"))).collect();
        let materials = names
            .iter()
            .map(|(id, name)| crate::Material {
                id: *id,
                name: name.clone(),
                color: [0.5; 4],
                kind: crate::MaterialKind::Solid,
                collides: None,
                textures: None,
                light: 0,
                shape: Default::default(),
                states: Vec::new(),
                state: None,
            })
            .chain(std::iter::once(crate::Material {
                id: 0,
                name: "air".into(),
                color: [0.0; 4],
                kind: crate::MaterialKind::Air,
                collides: None,
                textures: None,
                light: 0,
                shape: Default::default(),
                states: Vec::new(),
                state: None,
            }))
            .collect();
        let registry = crate::MaterialRegistry::new(materials).unwrap();
        let saved =
            Palette::new(std::iter::once((0, "air".to_owned())).chain(names.iter().map(|(i, n)| (252 - i, n.clone()))))
                .unwrap();
        let map = reconcile(Some(&saved), &registry, &PaletteRules::new()).unwrap().map.unwrap();
        let faults = Faults { wrote_but_failed: 100, failed: 50, older_copy: 100 };
        let store = RegionAtomicStore::new(3);
        let through =
            |inner: Arc<dyn ChunkStore>| Arc::new(crate::RemappedStore::new(inner, map.clone())) as Arc<dyn ChunkStore>;
        let outcome = run(
            &Workload::standard(3, 60, 5),
            ground(),
            &|w| through(Arc::new(FaultyStore::new(store.handle(), faults, w as u64))),
            through(Arc::new(store.handle())),
            || {},
        );
        assert_none_lost(&outcome);
        // And the save holds its own numbering: every stored voxel is the reverse (252 − id) of
        // what the writers' numbering reads.
        let (raw, remapped) = (store.handle(), through(Arc::new(store.handle())));
        let mut keys = Vec::new();
        raw.scan(crate::store::full_range(), &mut |key, _| {
            keys.push(key.to_chunk());
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
        assert!(!keys.is_empty());
        for key in keys {
            let (stored, read) = (raw.get(key).unwrap().unwrap(), remapped.get(key).unwrap().unwrap());
            for i in 0..crate::CHUNK_VOLUME as u16 {
                let i = crate::LocalIndex::new(i);
                let (s, r) = (stored.get(i).0, read.get(i).0);
                assert_eq!(s, if r == 0 { 0 } else { 252 - r }, "{key:?} {i:?}");
            }
        }
    }

    #[test]
    fn writers_on_a_store_with_every_fault_lose_no_acknowledged_edit() {
        let faults = Faults { wrote_but_failed: 100, failed: 50, older_copy: 100 };
        no_lost_edit(&Workload::standard(3, 60, 4), |s, w| Arc::new(FaultyStore::new(s.handle(), faults, w as u64)));
    }
}
