//! Power loss under the redb store: the store runs on a storage backend that
//! records every write and sync; at a random point the power fails. What reaches the platter is
//! every write covered by a completed sync and — in the second mode — the unsynced writes that
//! followed, in order, the last one torn at a random sector boundary; in the third, any subset
//! of them, each whole or torn (a later write on the platter, an earlier one not). Reopened from that image,
//! the save must hold exactly the acknowledged commits (or those plus the commit that was in
//! flight, whole), never part of a commit, and verify clean. Half the chunks carry game data
//! (a "chest" at a voxel whose contents name the voxel's material, and an entity record): after
//! every loss each chest's contents match its voxel — never a chest without its contents, nor
//! contents without the chest.

use super::*;
use std::collections::BTreeMap;
use std::sync::Mutex;
use strata_core::MaterialId;
use strata_core::rng::SplitMix64;
use strata_core::{ChunkSide, DenseChunk};

const SECTOR: usize = 512;

/// What survives the power loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loss {
    /// Every write after the last completed sync is lost.
    Unsynced,
    /// The writes after the last completed sync reached the disk in order, the last one torn
    /// after a random number of whole sectors.
    TornLast,
    /// Any subset of the writes after the last completed sync reached the disk, each whole or
    /// torn at a sector boundary: a disk (or its cache) reorders writes between syncs, so a
    /// later write can be on the platter while an earlier one is not.
    AnySubset,
}

/// The first `k`-ish whole sectors of a write of `len` bytes at `offset` (sectors of the disk's
/// grid: up to the first boundary, then whole ones): a torn write keeps this many bytes.
fn torn_len(offset: usize, len: usize, rng: &mut SplitMix64) -> usize {
    let first = (SECTOR - offset % SECTOR) % SECTOR;
    let k = rng.below(len as u64 / SECTOR as u64 + 2) as usize;
    if k == 0 { 0 } else { (first + (k - 1) * SECTOR).min(len) }
}

enum Op {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Default)]
struct Disk {
    /// The bytes as the running process sees them.
    current: Vec<u8>,
    /// The bytes on the platter as of the last completed sync.
    durable: Vec<u8>,
    /// Writes and length changes since the last completed sync, in order.
    pending: Vec<Op>,
    /// Writes, length changes and syncs so far; the power fails at the `fail_at`-th.
    ops: u64,
    fail_at: u64,
    dead: bool,
    /// `ops` when the workload armed the failure (the count `fail_after` starts from).
    armed_at: u64,
    /// `ops` at each completed sync.
    syncs: Vec<u64>,
}

impl Disk {
    fn tick(&mut self) -> io::Result<()> {
        if !self.dead {
            self.ops += 1;
            self.dead = self.ops >= self.fail_at;
        }
        if self.dead { Err(io::Error::other("the power failed")) } else { Ok(()) }
    }

    /// The platter after the power loss.
    /// The platter after the power loss, and whether it holds a write that came after one it
    /// lost or tore (the case in-order modes never produce).
    fn after_loss(&self, loss: Loss, rng: &mut SplitMix64) -> (Vec<u8>, bool) {
        let mut image = self.durable.clone();
        let (mut lost_one, mut reordered) = (false, false);
        if loss != Loss::Unsynced {
            let n = self.pending.len();
            for (i, op) in self.pending.iter().enumerate() {
                match op {
                    Op::SetLen(len) => image.resize(*len as usize, 0),
                    Op::Write(offset, data) => {
                        let offset = *offset as usize;
                        let keep = match loss {
                            Loss::TornLast if i + 1 == n => torn_len(offset, data.len(), rng),
                            // Lost, whole or torn, a third each.
                            Loss::AnySubset => match rng.below(3) {
                                0 => 0,
                                1 => data.len(),
                                _ => torn_len(offset, data.len(), rng),
                            },
                            _ => data.len(),
                        };
                        reordered |= lost_one && keep > 0;
                        lost_one |= keep < data.len();
                        if image.len() < offset + keep {
                            image.resize(offset + keep, 0);
                        }
                        image[offset..offset + keep].copy_from_slice(&data[..keep]);
                    }
                }
            }
        }
        (image, reordered)
    }
}

#[derive(Clone)]
struct PowerLossBackend(Arc<Mutex<Disk>>);

impl std::fmt::Debug for PowerLossBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PowerLossBackend")
    }
}

impl PowerLossBackend {
    fn disk(&self) -> std::sync::MutexGuard<'_, Disk> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_image(image: Vec<u8>) -> Self {
        Self(Arc::new(Mutex::new(Disk {
            current: image.clone(),
            durable: image,
            fail_at: u64::MAX,
            ..Disk::default()
        })))
    }
}

impl StorageBackend for PowerLossBackend {
    fn len(&self) -> io::Result<u64> {
        Ok(self.disk().current.len() as u64)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let disk = self.disk();
        let offset = offset as usize;
        match disk.current.get(offset..offset + out.len()) {
            Some(bytes) => {
                out.copy_from_slice(bytes);
                Ok(())
            }
            None => Err(io::Error::new(io::ErrorKind::InvalidInput, "read past the end")),
        }
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut disk = self.disk();
        disk.tick()?;
        disk.current.resize(len as usize, 0);
        disk.pending.push(Op::SetLen(len));
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        let mut disk = self.disk();
        disk.tick()?;
        disk.durable = disk.current.clone();
        disk.pending.clear();
        let at = disk.ops;
        disk.syncs.push(at);
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut disk = self.disk();
        disk.tick()?;
        let at = offset as usize;
        if disk.current.len() < at + data.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "write past the end"));
        }
        disk.current[at..at + data.len()].copy_from_slice(data);
        disk.pending.push(Op::Write(offset, data.to_vec()));
        Ok(())
    }
}

/// A save's contents: chunks by key and meta values.
type State = (BTreeMap<MortonKey, (Chunk, ChunkSide)>, BTreeMap<String, String>);

/// Game data for `chunk` (half the time none): a chest at a random voxel whose contents name
/// the voxel's material, and an entity record.
fn game_data(rng: &mut SplitMix64, chunk: &Chunk) -> ChunkSide {
    let mut side = ChunkSide::new();
    if rng.below(2) == 0 {
        let at = strata_core::LocalIndex::new(rng.below(32_768) as u16);
        let material = chunk.get(at);
        side.set_block(at, material, Some(format!("chest on {}", material.0).into_bytes().into()));
        side.set_entity(rng.next_u64(), Some(vec![rng.below(256) as u8; rng.below(300) as usize].into()));
    }
    side
}

fn chunk(rng: &mut SplitMix64) -> Chunk {
    if rng.below(3) == 0 {
        return Chunk::Uniform(MaterialId(rng.below(9) as u16));
    }
    let (a, b) = (rng.below(7) as u16 + 1, rng.below(31) as u16 + 1);
    Chunk::Dense(DenseChunk::from_fn(|p| MaterialId((p.x as u16 * a + p.y as u16 * b + p.z as u16) % 11)))
}

/// Runs the workload of `seed` with the power failing at the `fail_after`-th disk operation
/// after the save was created; returns the acknowledged states (the first: empty) and the
/// state the in-flight commit would have made, if one was in flight.
fn workload(backend: &PowerLossBackend, seed: u64, fail_after: u64) -> (Vec<State>, Option<State>) {
    let mut rng = SplitMix64(seed);
    let options = RedbStoreOptions { new_world_id: Some(WorldId(seed | 1)), ..Default::default() };
    let store = RedbStore::open_backend(backend.clone(), "power-loss", options).expect("the save is created");
    {
        let mut disk = backend.disk();
        disk.fail_at = disk.ops.saturating_add(fail_after);
        disk.armed_at = disk.ops;
    }
    let keys: Vec<ChunkKey> = (0..24).map(|i| ChunkKey::new(i % 5 - 2, i / 5 - 2, (i * 7) % 3)).collect();
    let mut acked = vec![State::default()];
    for round in 0..10 {
        let mut next = acked.last().cloned().unwrap_or_default();
        let result = if round % 4 == 3 {
            let value = format!("(seed: {}, round: {round})", rng.below(1000));
            next.1.insert("generator".into(), value.clone());
            store.set_meta("generator", &value)
        } else {
            let mut batch = WriteBatch::new();
            for _ in 0..rng.below(10) + 1 {
                let k = keys[rng.below(keys.len() as u64) as usize];
                if rng.below(5) == 0 {
                    batch.delete(k);
                    next.0.remove(&k.morton());
                } else {
                    let c = chunk(&mut rng);
                    let side = game_data(&mut rng, &c);
                    batch.put_full(k, &c, &strata_core::ProcessHistory::EMPTY, &side, None);
                    next.0.insert(k.morton(), (c, side));
                }
            }
            store.commit(&batch).map(drop)
        };
        match result {
            Ok(()) => acked.push(next),
            Err(_) => {
                drop(store);
                return (acked, Some(next));
            }
        }
    }
    drop(store);
    (acked, None)
}

fn contents(store: &RedbStore) -> State {
    let mut chunks = BTreeMap::new();
    store
        .scan(strata_core::store::full_range(), &mut |k, _| {
            chunks.insert(k, (Chunk::Uniform(MaterialId(0)), ChunkSide::new()));
            ControlFlow::Continue(())
        })
        .unwrap();
    for (k, c) in chunks.iter_mut() {
        let stored = store.get_stored(k.to_chunk()).unwrap().unwrap();
        for (at, chest) in stored.side.blocks() {
            let material = stored.chunk.get(at);
            assert_eq!(chest.material, material, "a chest's contents belong to its voxel");
            assert_eq!(&chest.bytes[..], format!("chest on {}", material.0).as_bytes());
        }
        *c = (stored.chunk, stored.side);
    }
    let meta = store.meta("generator").unwrap().map(|v| ("generator".to_owned(), v)).into_iter().collect();
    (chunks, meta)
}

#[test]
fn after_a_power_loss_the_save_holds_the_acknowledged_commits_whole_and_verifies() {
    let mut rng = SplitMix64(0x9051_7e55);
    let mut tally: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut losses = 0;
    let mut reorderings = 0;
    for run in 0..520u64 {
        let seed = rng.next_u64();
        // The workload's disk operations without a failure.
        let dry = PowerLossBackend::with_image(Vec::new());
        let (all, _) = workload(&dry, seed, u64::MAX);
        let total = dry.disk().ops;
        // The operations right after a completed sync: where a commit can be durable but not
        // yet acknowledged (rare among all operations, so every fourth run aims there).
        let after_sync: Vec<u64> = {
            let d = dry.disk();
            d.syncs.iter().filter(|&&s| s > d.armed_at).map(|s| s - d.armed_at + 1).collect()
        };
        assert_eq!(all.len(), 11, "without a failure every commit is acknowledged");
        for loss in [Loss::Unsynced, Loss::TornLast, Loss::AnySubset] {
            let backend = PowerLossBackend::with_image(Vec::new());
            let fail_after = if run % 4 == 0 && !after_sync.is_empty() {
                after_sync[rng.below(after_sync.len() as u64) as usize]
            } else {
                rng.below(total.max(2)) + 1
            };
            let (acked, in_flight) = workload(&backend, seed, fail_after);
            assert!(acked.len() <= all.len());
            let (image, reordered) = backend.disk().after_loss(loss, &mut rng);
            reorderings += reordered as usize;
            losses += 1;
            let store = RedbStore::open_backend(PowerLossBackend::with_image(image), "after", Default::default())
                .unwrap_or_else(|e| panic!("run {run} {loss:?} at op {fail_after}: the save does not open: {e}"));
            let report = store.verify(&mut || {}).unwrap();
            assert!(report.is_clean(), "run {run} {loss:?} at op {fail_after}: {report:?}");
            let got = contents(&store);
            let last = acked.last().unwrap();
            let outcome = if &got == last {
                "acknowledged"
            } else if in_flight.as_ref() == Some(&got) {
                "acknowledged + in flight"
            } else {
                panic!(
                    "run {run} {loss:?} at op {fail_after}: {} commits acknowledged, the save holds another state ({} chunks)",
                    acked.len() - 1,
                    got.0.len()
                )
            };
            let mode = match loss {
                Loss::Unsynced => "unsynced lost",
                Loss::TornLast => "torn last write",
                Loss::AnySubset => "any subset",
            };
            *tally.entry((mode, outcome)).or_default() += 1;
        }
    }
    eprintln!(
        "{losses} power losses ({reorderings} with a later write on the platter and an earlier one not): {tally:?}"
    );
    assert!(reorderings >= 100, "{reorderings}");
    assert!(losses >= 1500);
    // Both outcomes occur in every mode (a test that never sees the in-flight commit land, or
    // never loses one, would prove little).
    assert_eq!(tally.len(), 6, "{tally:?}");
}
