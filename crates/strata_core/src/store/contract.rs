//! The contract every [`ChunkStore`] must keep, as a test: call [`run`] from your store's
//! tests with an empty store (it panics, like `assert!`, on the first broken promise). Behind
//! the `contract` feature: enable it in your store's `[dev-dependencies]`
//! (`strata_core = { …, features = ["contract"] }`).
use super::*;
use crate::chunk::DenseChunk;
use crate::material::MaterialId;
use crate::side::ChunkSide;

/// A dense test chunk: material `seed` in the layers below `y = seed % 32`, air above.
pub fn dense(seed: u16) -> Chunk {
    Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(if (p.y as u16) < seed % 32 { seed } else { 0 })))
}

/// Runs the contract against `store`, which must start empty: puts and deletes in one
/// batch, later entries winning, scans in Morton order within their range, stats, a corrupt
/// record read as a typed error, summaries and chunk cells of every stored chunk.
///
/// # Panics
/// On the first promise the store breaks.
pub fn run(store: &dyn ChunkStore) {
    let a = ChunkKey::new(0, 0, 0);
    let b = ChunkKey::new(-1, 2, -3);
    let c = ChunkKey::new(1, 0, 0);
    assert_eq!(store.get(a).unwrap(), None);

    let mut batch = WriteBatch::new();
    batch.put(a, &dense(5));
    batch.put(b, &Chunk::Uniform(MaterialId(4)));
    batch.put(c, &dense(9));
    let r = store.commit(&batch).unwrap();
    assert_eq!(r.entries, 3);
    assert_eq!(store.get(a).unwrap(), Some(dense(5)));
    assert_eq!(store.get(b).unwrap(), Some(Chunk::Uniform(MaterialId(4))));
    assert_eq!(store.get_many(&[c, ChunkKey::new(7, 7, 7)]).unwrap(), vec![Some(dense(9)), None]);

    // Later entries win; deletes remove.
    batch.clear();
    batch.put(a, &dense(6));
    batch.put(a, &dense(7));
    batch.delete(c);
    store.commit(&batch).unwrap();
    assert_eq!(store.get(a).unwrap(), Some(dense(7)));
    assert_eq!(store.get(c).unwrap(), None);

    // Scans are in Morton order and respect ranges.
    let mut seen = Vec::new();
    store
        .scan(full_range(), &mut |k, _| {
            seen.push(k);
            ControlFlow::Continue(())
        })
        .unwrap();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    assert_eq!(seen.len(), 2);
    let only_a = MortonKey::region_range(a, 0);
    let mut n = 0;
    store
        .scan(only_a, &mut |k, _| {
            assert_eq!(k, a.morton());
            n += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(n, 1);

    let s = store.stats().unwrap();
    assert_eq!((s.records, s.uniform_records), (2, 1));

    // A corrupt record is a typed error on read, never a panic.
    batch.clear();
    batch.put_record(c.morton(), b"STRCgarbage");
    store.commit(&batch).unwrap();
    assert!(matches!(store.get(c), Err(StoreError::Corrupt { key, .. }) if key == c));
    assert!(matches!(store.get_many(&[a, c]), Err(StoreError::Corrupt { key, .. }) if key == c));
    // Batched record reads: each key's bytes as `get_record` gives them, in order (the
    // corrupt one too: callers decode), none for a key without a record.
    let keys = [c.morton(), ChunkKey::new(7, 7, 7).morton(), b.morton(), a.morton()];
    let one_by_one: Vec<Option<Vec<u8>>> = keys.iter().map(|k| store.get_record(*k).unwrap()).collect();
    assert_eq!(one_by_one[1], None);
    assert!(one_by_one.iter().filter(|r| r.is_some()).count() == 3);
    assert_eq!(store.get_records(&keys).unwrap(), one_by_one);
    assert_eq!(store.get_records(&[]).unwrap(), Vec::<Option<Vec<u8>>>::new());

    // Summaries: one per stored chunk in key order, each what summarising the chunk gives;
    // the record that does not decode is reported with its error.
    let mut sums = Vec::new();
    store
        .scan_summaries(full_range(), &mut |k, s| {
            sums.push((k, s));
            ControlFlow::Continue(())
        })
        .unwrap();
    let mut want = vec![
        (a.morton(), Ok(StoredSummary::of(&dense(7), ProcessHistory::EMPTY, Up::PosY))),
        (b.morton(), Ok(StoredSummary::of(&Chunk::Uniform(MaterialId(4)), ProcessHistory::EMPTY, Up::PosY))),
    ];
    want.sort_by_key(|(k, _)| *k);
    let corrupt: Vec<_> = sums.iter().filter(|(_, s)| s.is_err()).map(|(k, _)| *k).collect();
    assert_eq!(corrupt, vec![c.morton()]);
    sums.retain(|(_, s)| s.is_ok());
    assert_eq!(sums, want);
    let mut n = 0;
    store
        .scan_summaries(MortonKey::region_range(b, 0), &mut |k, _| {
            assert_eq!(k, b.morton());
            n += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(n, 1);

    // Chunk cells: the same chunks, each the summary's chunk cell (the cell the chunk
    // downsamples to, counted here from the chunk itself); the corrupt record reported.
    let mut cells = Vec::new();
    store
        .scan_chunk_cells(full_range(), &mut |k, c| {
            cells.push((k, c));
            ControlFlow::Continue(())
        })
        .unwrap();
    let corrupt: Vec<_> = cells.iter().filter(|(_, c)| c.is_err()).map(|(k, _)| *k).collect();
    assert_eq!(corrupt, vec![c.morton()]);
    cells.retain(|(_, c)| c.is_ok());
    let cell = |c: &Chunk| StoredSummary::of(c, ProcessHistory::EMPTY, Up::PosY).stored_cell();
    let mut want =
        vec![(a.morton(), Ok(cell(&dense(7)))), (b.morton(), Ok(StoredCell { cell: MaterialId(4), up: Up::PosY }))];
    want.sort_by_key(|(k, _)| *k);
    assert_eq!(cells, want);
    batch.clear();
    batch.put(a, &dense(20));
    store.commit(&batch).unwrap();
    let mut n = 0;
    store
        .scan_chunk_cells(MortonKey::region_range(a, 0), &mut |k, c| {
            assert_eq!((k, c), (a.morton(), Ok(cell(&dense(20)))), "the cell of the chunk now stored");
            n += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(n, 1);

    sealing(store);
    invalid_keys(store);
    conditional_puts(store);
    summaries_keep_their_up(store);
    side_records(store);
}

/// Game data ([`ChunkSide`]) is stored in its chunk's record: read back whole by every read
/// (`get_stored`, raw records, scans), replaced with the chunk, gone when the chunk is put
/// without it or deleted, and written by a conditional put only with its chunk.
fn side_records(store: &dyn ChunkStore) {
    let k = ChunkKey::new(-70, 5, 9);
    let mut side = ChunkSide::new();
    side.set_block(crate::LocalIndex::new(33), MaterialId(7), Some(b"chest".to_vec().into()));
    side.set_entity(9, Some(vec![3; 5000].into()));
    let history = ProcessHistory::EMPTY;
    let mut batch = WriteBatch::new();
    batch.put_full(k, &dense(7), &history, &side, Some(Expect::Absent));
    let first = store.commit(&batch).unwrap();
    let stored = store.get_stored(k).unwrap().unwrap();
    assert_eq!((stored.chunk, stored.side, stored.sequence), (dense(7), side.clone(), first.sequence));
    let record = store.get_records(&[k.morton()]).unwrap().remove(0).expect("the record");
    assert_eq!(codec::decode_full_at(&record, store.home(k.morton())).unwrap().side, side);
    let mut scanned = 0;
    store
        .scan(MortonKey::region_range(k, 0), &mut |key, record| {
            assert_eq!(codec::decode_full_at(record, store.home(key)).unwrap().side, side);
            scanned += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(scanned, 1);
    // A failed condition writes neither the voxels nor the data.
    let mut other = side.clone();
    other.set_entity(10, Some(b"new".to_vec().into()));
    batch.clear();
    batch.put_full(k, &dense(8), &history, &other, Some(Expect::Absent));
    assert!(matches!(store.commit(&batch), Err(StoreError::Conflict { .. })));
    assert_eq!(store.get_stored(k).unwrap().unwrap().side, side);
    // Put without data: the record holds none; deleted: nothing.
    batch.clear();
    batch.put(k, &dense(8));
    store.commit(&batch).unwrap();
    assert!(store.get_stored(k).unwrap().unwrap().side.is_empty());
    batch.clear();
    batch.delete(k);
    store.commit(&batch).unwrap();
    assert_eq!(store.get_stored(k).unwrap(), None);
}

/// A batch for a world whose up is not `+Y` writes each summary with its chunk's up, and
/// the store hands it back as written (cells, chunk cell and up).
fn summaries_keep_their_up(store: &dyn ChunkStore) {
    let planet = WorldUp::AwayFrom { centre: [0, 0, 0] };
    let k = ChunkKey::new(-90, 5, 12); // far along −X from the centre
    assert_eq!(planet.of_chunk(k), Up::NegX);
    // Grass (3) on the −X face of stone (1): a +Y summary would see the majority.
    let side = Chunk::Dense(DenseChunk::from_fn(|p| {
        MaterialId(match p.x {
            0 => 3,
            1..16 => 1,
            _ => 0,
        })
    }));
    let mut batch = WriteBatch::for_world(planet);
    batch.put(k, &side);
    store.commit(&batch).unwrap();
    let mut got = Vec::new();
    store
        .scan_summaries(MortonKey::region_range(k, 0), &mut |_, s| {
            got.push(s);
            ControlFlow::Continue(())
        })
        .unwrap();
    let want = StoredSummary::of(&side, ProcessHistory::EMPTY, Up::NegX);
    assert_eq!(want.chunk_cell(), MaterialId(3));
    assert_eq!(got, vec![Ok(want.clone())]);
    let mut cells = Vec::new();
    store
        .scan_chunk_cells(MortonKey::region_range(k, 0), &mut |_, c| {
            cells.push(c);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(cells, vec![Ok(want.stored_cell())]);
}

/// Conditional puts commit only while the stored record is the expected one; a failed
/// condition is a `Conflict` naming the key. Of the rest of the batch, an atomic store wrote
/// nothing (`written: None`); a distributed one (atomic per region) may have written every
/// other entry, durably, with the sequence number it reports (`written: Some`). Receipts and
/// stored records carry the commit's sequence number.
fn conditional_puts(store: &dyn ChunkStore) {
    let k = ChunkKey::new(40, -3, 7);
    let history = ProcessHistory::EMPTY;
    let mut batch = WriteBatch::new();
    batch.put_if(k, &dense(1), &history, Expect::Absent);
    let first = store.commit(&batch).unwrap();
    let stored = store.get_stored(k).unwrap().unwrap();
    assert_eq!((stored.chunk, stored.sequence), (dense(1), first.sequence));
    let wrongs = [Expect::Absent, Expect::Sequence(first.sequence + 1), Expect::Sequence(first.sequence - 1)];
    for (i, wrong) in wrongs.into_iter().enumerate() {
        // A key far from `k` (in another region of any distributed store) and one next to
        // it (in the same region of any store with regions of 2³ chunks or more).
        let other = ChunkKey::new(-300 - 100 * i as i32, 3, 7);
        let near = ChunkKey::new(40 + i as i32, -3, 6);
        let mut batch = WriteBatch::new();
        batch.put(other, &dense(3));
        batch.put(near, &dense(6));
        batch.put_if(k, &dense(2), &history, wrong);
        let Err(StoreError::Conflict { keys, written, sequence }) = store.commit(&batch) else {
            panic!("{wrong:?}: not a conflict")
        };
        assert_eq!(keys, vec![k], "{wrong:?}");
        // Exactly the entries listed as written were written, with the reported sequence.
        for (key, chunk) in [(other, dense(3)), (near, dense(6))] {
            match store.get_stored(key).unwrap() {
                Some(s) => {
                    assert!(written.contains(&key), "{wrong:?}: {key:?} written but not listed");
                    assert_eq!((s.chunk, s.sequence), (chunk, sequence), "{wrong:?}");
                }
                None => assert!(!written.contains(&key), "{wrong:?}: {key:?} listed but not written"),
            }
        }
        assert!(written.iter().all(|w| [other, near].contains(w)), "{wrong:?}: {written:?}");
        assert_eq!(store.get(k).unwrap(), Some(dense(1)), "{wrong:?}: not overwritten");
    }
    let other = ChunkKey::new(41, -3, 7);
    let mut batch = WriteBatch::new();
    batch.put_if(k, &dense(4), &history, Expect::Sequence(first.sequence));
    batch.put_if(other, &dense(5), &history, Expect::Absent);
    let second = store.commit(&batch).unwrap();
    assert!(second.sequence > first.sequence);
    assert_eq!(store.get_stored(k).unwrap().unwrap().sequence, second.sequence);
    assert_eq!(store.get(other).unwrap(), Some(dense(5)));
    batch.clear();
    assert!(batch.conditions().is_empty(), "clear forgets the conditions");
}

/// A key outside the valid range would alias another chunk's Morton key (x = MAX + 1 wraps
/// to x = MIN): refused on read and on commit, and a batch naming one writes nothing.
fn invalid_keys(store: &dyn ChunkStore) {
    use crate::{CHUNK_COORD_MAX, CHUNK_COORD_MIN};
    let bad = ChunkKey::new(CHUNK_COORD_MAX + 1, 0, 0);
    let alias = ChunkKey::new(CHUNK_COORD_MIN, 0, 0);
    assert_eq!(bad.morton(), alias.morton(), "the key this test guards against aliases");
    let good = ChunkKey::new(5, 5, 5);
    let is_bad = |r: &StoreError| matches!(r, StoreError::InvalidKey { key } if *key == bad);
    let mut batch = WriteBatch::new();
    batch.put(good, &dense(3));
    batch.put(bad, &dense(4));
    assert!(is_bad(&store.commit(&batch).unwrap_err()));
    batch.clear();
    batch.delete(bad);
    assert!(is_bad(&store.commit(&batch).unwrap_err()));
    assert_eq!(store.get(good).unwrap(), None, "nothing of a refused batch is written");
    assert_eq!(store.get(alias).unwrap(), None);
    assert!(is_bad(&store.get(bad).unwrap_err()));
    assert!(is_bad(&store.get_with_history(bad).unwrap_err()));
    assert!(is_bad(&store.get_many(&[good, bad]).unwrap_err()));
    batch.clear();
    batch.put(good, &dense(3));
    store.commit(&batch).unwrap();
    assert_eq!(store.get(good).unwrap(), Some(dense(3)), "a cleared batch accepts keys again");
}

/// Records are sealed for the store's world and numbered by commit; an intact record read
/// under another key, or copied from another world, is misplaced.
fn sealing(store: &dyn ChunkStore) {
    let (a, b, c) = (ChunkKey::new(3, 1, 4), ChunkKey::new(-1, -5, 9), ChunkKey::new(2, 6, -5));
    let header = |k: ChunkKey| codec::parse_record(&store.get_record(k.morton()).unwrap().unwrap()).unwrap().0;
    let mut batch = WriteBatch::new();
    batch.put(a, &dense(11));
    store.commit(&batch).unwrap();
    let first = header(a);
    assert_ne!(store.world_id(), WorldId::UNSEALED);
    assert_eq!(first.home, Some(store.home(a.morton())));
    batch.clear();
    batch.put(b, &Chunk::Uniform(MaterialId(2)));
    store.commit(&batch).unwrap();
    assert!(header(b).sequence > first.sequence, "{:?} then {:?}", first, header(b));
    assert_eq!(header(a), first, "a record not rewritten keeps its seal");

    // a's record stored under c.
    let moved = store.get_record(a.morton()).unwrap().unwrap();
    batch.clear();
    batch.put_record(c.morton(), &moved);
    store.commit(&batch).unwrap();
    let misplaced = |k: ChunkKey| match store.get(k) {
        Err(StoreError::Corrupt { key, source: DecodeError::Misplaced { stored_at, claims } }) => {
            key == k && stored_at == store.home(k.morton()) && claims.key == a.morton()
        }
        other => panic!("{other:?}"),
    };
    assert!(misplaced(c));
    // a's record as another world sealed it, stored under a.
    let mut foreign = Vec::new();
    codec::seal_into(&codec::encode(a.morton(), &dense(11)), WorldId(store.world_id().0 ^ 1), 1, &mut foreign);
    batch.clear();
    batch.put_record(a.morton(), &foreign);
    store.commit(&batch).unwrap();
    assert!(misplaced(a));
    let mut seen = Vec::new();
    store
        .scan_summaries(MortonKey::region_range(c, 0), &mut |k, s| {
            seen.push((k, s.is_ok()));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(seen, vec![(c.morton(), false)], "a misplaced record has no summary either");
    batch.clear();
    batch.delete(a);
    batch.delete(b);
    batch.delete(c);
    store.commit(&batch).unwrap();
}

/// A registry of air and the solids `entries` (id, name).
pub fn registry(entries: &[(u16, &str)]) -> crate::MaterialRegistry {
    use crate::material::{Material, MaterialKind};
    let air = Material {
        id: 0,
        name: "air".into(),
        color: [0.0; 4],
        kind: MaterialKind::Air,
        collides: None,
        textures: None,
        light: 0,
        shape: Default::default(),
        states: Vec::new(),
        state: None,
    };
    let solids = entries.iter().map(|&(id, name)| Material {
        id,
        name: name.into(),
        kind: MaterialKind::Solid,
        color: [0.5; 4],
        ..air.clone()
    });
    crate::MaterialRegistry::new(std::iter::once(air.clone()).chain(solids).collect())
        .expect("test registries are valid")
}

/// The palette contract: `reopen` opens the same save again (each store it returned before is
/// dropped first). A save written with one registry reads every voxel by name when reopened
/// with the materials renumbered (and a new one at an id the save uses); what is written then
/// reads back after reopening with yet another numbering; a removed material is
/// [`StoreError::Palette`] naming it, unless a rule replaces it.
///
/// # Panics
/// On the first promise broken.
pub fn palettes(reopen: &dyn Fn() -> std::sync::Arc<dyn ChunkStore>) {
    use crate::palette::{PaletteError, PaletteRules};
    use crate::store::open_with_palette;
    let first = registry(&[(1, "stone"), (2, "dirt"), (3, "grass"), (4, "marble")]);
    let store = open_with_palette(reopen(), &first, &PaletteRules::new()).unwrap();
    let k = ChunkKey::new(3, -2, 5);
    let chunk = Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(u16::from((p.y + p.x) % 5))));
    let mut batch = WriteBatch::new();
    batch.put(k, &chunk);
    store.commit(&batch).unwrap();
    drop(store);

    // Renumbered, with a new material at an id the save uses.
    let second = registry(&[(7, "stone"), (1, "dirt"), (2, "grass"), (3, "marble"), (4, "lamp")]);
    let store = open_with_palette(reopen(), &second, &PaletteRules::new()).unwrap();
    let name = |reg: &crate::MaterialRegistry, m: MaterialId| reg.get(m).unwrap().name.clone();
    let after = store.get(k).unwrap().unwrap();
    for i in 0..crate::CHUNK_VOLUME as u16 {
        let i = crate::LocalIndex::new(i);
        assert_eq!(name(&first, chunk.get(i)), name(&second, after.get(i)), "voxel {i:?} by name");
    }
    // The index's view agrees: the summary is the renumbered chunk's.
    let mut sums = Vec::new();
    store
        .scan_summaries(MortonKey::region_range(k, 0), &mut |_, s| {
            sums.push(s);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(sums, vec![Ok(StoredSummary::of(&after, ProcessHistory::EMPTY, Up::PosY))]);
    let recorded = store.palette().unwrap().expect("the palette is recorded");
    assert_eq!(recorded.name(5), Some("lamp"), "the new material took a free id: {recorded:?}");
    // A lamp placed now reads back as a lamp after reopening with another numbering.
    batch.clear();
    batch.put(k, &Chunk::Uniform(MaterialId(4)));
    store.commit(&batch).unwrap();
    drop(store);
    let third = registry(&[(1, "stone"), (2, "dirt"), (3, "grass"), (4, "marble"), (9, "lamp")]);
    let store = open_with_palette(reopen(), &third, &PaletteRules::new()).unwrap();
    assert_eq!(store.get(k).unwrap(), Some(Chunk::Uniform(MaterialId(9))));
    drop(store);

    // Marble removed: a typed error naming it, nothing opened.
    let without = registry(&[(1, "stone"), (2, "dirt"), (3, "grass"), (9, "lamp")]);
    let err = open_with_palette(reopen(), &without, &PaletteRules::new()).err().expect("marble was removed");
    assert!(matches!(&err, StoreError::Palette(PaletteError::Removed { name, id: 4 }) if name == "marble"), "{err:?}");
    assert!(err.to_string().contains("\"marble\""), "the message names it: {err}");
    // Or read as stone by rule.
    let rules = PaletteRules::new().replace("marble", "stone");
    let store = open_with_palette(reopen(), &without, &rules).unwrap();
    assert_eq!(store.get(k).unwrap(), Some(Chunk::Uniform(MaterialId(9))));
}

/// Two writers opening one shared save at once (several servers on one world), each with the
/// materials numbered its own way: one palette is recorded (compare-and-set: a palette recorded
/// meanwhile is never overwritten) and each writer's voxels read back by name through the
/// other's numbering. `reopen` gives another handle on the same, new save while others live.
///
/// # Panics
/// On the first promise broken.
pub fn concurrent_palettes(reopen: &(dyn Fn() -> std::sync::Arc<dyn ChunkStore> + Sync)) {
    use crate::palette::{Palette, PaletteRules};
    use crate::store::open_with_palette;
    // Compare-and-set, deterministically.
    let store = reopen();
    assert_eq!(store.palette().unwrap(), None, "a new save");
    let p = |names: &[&str]| Palette::new(names.iter().enumerate().map(|(i, n)| (i as u16, (*n).to_owned()))).unwrap();
    let (p1, p2) = (p(&["air", "stone", "dirt"]), p(&["air", "dirt", "stone"]));
    assert!(store.swap_palette(None, &p1).unwrap());
    assert!(!store.swap_palette(None, &p2).unwrap(), "a palette recorded meanwhile is kept");
    assert!(!store.swap_palette(Some(&p2), &p2).unwrap());
    assert_eq!(store.palette().unwrap().as_ref(), Some(&p1));
    let p3 = p(&["air", "stone", "dirt", "torch"]);
    assert!(store.swap_palette(Some(&p1), &p3).unwrap());
    assert_eq!(store.palette().unwrap().as_ref(), Some(&p3));
    drop(store);

    // Two writers numbering new materials differently, at once.
    let a = registry(&[(1, "stone"), (2, "dirt"), (3, "torch"), (4, "crate"), (5, "lamp")]);
    let b = registry(&[(1, "stone"), (2, "dirt"), (3, "torch"), (5, "crate"), (4, "lamp")]);
    let opened: Vec<std::sync::Arc<dyn ChunkStore>> = std::thread::scope(|s| {
        let ha = s.spawn(|| open_with_palette(reopen(), &a, &PaletteRules::new()).unwrap());
        let hb = s.spawn(|| open_with_palette(reopen(), &b, &PaletteRules::new()).unwrap());
        vec![ha.join().unwrap(), hb.join().unwrap()]
    });
    // Each places "crate" in its own numbering; both read back as crate through a third.
    let (ka, kb) = (ChunkKey::new(-7, 1, 1), ChunkKey::new(-7, 1, 2));
    for (store, key, id) in [(&opened[0], ka, 4), (&opened[1], kb, 5)] {
        let mut batch = WriteBatch::new();
        batch.put(key, &Chunk::Uniform(MaterialId(id)));
        store.commit(&batch).unwrap();
    }
    drop(opened);
    let c = registry(&[(9, "crate"), (1, "stone"), (2, "dirt"), (3, "torch"), (4, "lamp")]);
    let store = open_with_palette(reopen(), &c, &PaletteRules::new()).unwrap();
    assert_eq!(store.get(ka).unwrap(), Some(Chunk::Uniform(MaterialId(9))), "a's crate");
    assert_eq!(store.get(kb).unwrap(), Some(Chunk::Uniform(MaterialId(9))), "b's crate");
}

/// The game-data contract: `reopen` opens the same save again (each store it returned before
/// is dropped first). Values are kept byte for byte across reopening (empty, binary, the
/// largest allowed), replaced, removed; names and sizes out of bounds are refused.
///
/// # Panics
/// On the first promise broken.
pub fn game_data(reopen: &dyn Fn() -> std::sync::Arc<dyn ChunkStore>) {
    let store = reopen();
    assert_eq!(store.game_data("player").unwrap(), None);
    let binary: Vec<u8> = (0..=255u8).chain(0..=255).collect();
    let largest = vec![0xA5; MAX_GAME_DATA_LEN];
    store.set_game_data("player", Some(b"(1.5, 64.0, -3.25)")).unwrap();
    store.set_game_data("binary", Some(&binary)).unwrap();
    store.set_game_data("empty", Some(b"")).unwrap();
    store.set_game_data("largest", Some(&largest)).unwrap();
    store.set_game_data("gone", Some(b"x")).unwrap();
    store.set_game_data("gone", None).unwrap();
    store.set_game_data("never set", None).unwrap();
    store.set_game_data("player", Some(b"(2.0, 65.0, -3.0)")).unwrap();
    for bad in ["", &"n".repeat(MAX_GAME_DATA_NAME + 1)] {
        assert!(matches!(store.set_game_data(bad, Some(b"v")), Err(StoreError::InvalidConfig(_))), "name {bad:?}");
    }
    let too_large = vec![0; MAX_GAME_DATA_LEN + 1];
    assert!(matches!(store.set_game_data("big", Some(&too_large)), Err(StoreError::InvalidConfig(_))));
    drop(store);
    let store = reopen();
    assert_eq!(store.game_data("player").unwrap().as_deref(), Some(&b"(2.0, 65.0, -3.0)"[..]));
    assert_eq!(store.game_data("binary").unwrap(), Some(binary));
    assert_eq!(store.game_data("empty").unwrap(), Some(Vec::new()));
    assert_eq!(store.game_data("largest").unwrap(), Some(largest));
    assert_eq!(store.game_data("gone").unwrap(), None);
    assert_eq!(store.game_data("big").unwrap(), None);
    assert_eq!(store.game_data("never set").unwrap(), None);
}
