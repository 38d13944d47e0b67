//! The store record path: arbitrary bytes stored under a key come back through `get` as a typed
//! `Corrupt` error or as a chunk — never a panic — and its summary is there exactly when the
//! chunk decodes. Read through a material palette (`RemappedStore`, ids renumbered) the same
//! bytes give the same answer, remapped; and as a stored palette's text they give a palette or a
//! typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::ops::ControlFlow;
use std::sync::Arc;
use strata_core::palette::reconcile;
use strata_core::store::full_range;
use strata_core::{
    ChunkKey, ChunkStore, MaterialRegistry, MemoryStore, Palette, PaletteRules, RemappedStore, StoreError, WriteBatch,
};

/// The built-in materials as a save that numbered them in reverse would map them (made once).
fn reversed() -> &'static strata_core::IdMap {
    static MAP: std::sync::OnceLock<strata_core::IdMap> = std::sync::OnceLock::new();
    MAP.get_or_init(reversed_map)
}

fn reversed_map() -> strata_core::IdMap {
    let registry = MaterialRegistry::builtin();
    let last = registry.iter().map(|m| m.id).max().unwrap_or(1);
    let saved = Palette::new(registry.iter().map(|m| (if m.id == 0 { 0 } else { last + 1 - m.id }, m.name.clone())))
        .expect("a palette");
    reconcile(Some(&saved), &registry, &PaletteRules::new()).expect("same names").map.expect("renumbered")
}

fuzz_target!(|data: &[u8]| {
    let store = MemoryStore::new();
    let key = ChunkKey::new(-3, 1, 2);
    let mut batch = WriteBatch::new();
    batch.put_record(key.morton(), data);
    if store.commit(&batch).is_err() {
        return;
    }
    match store.get(key) {
        Ok(Some(_)) => {}
        Err(StoreError::Corrupt { key: k, .. }) => assert_eq!(k, key),
        other => panic!("unexpected result {other:?}"),
    }
    let mut summarised = None;
    let scanned = store.scan_summaries(full_range(), &mut |k, s| {
        assert_eq!(k, key.morton());
        summarised = Some(s.is_ok());
        ControlFlow::Continue(())
    });
    assert!(scanned.is_ok());
    assert_eq!(summarised, Some(store.get(key).is_ok()));
    let _ = store.stats();

    let _ = Palette::from_text(&String::from_utf8_lossy(data));
    let map = reversed();
    let plain = store.get(key);
    let store = Arc::new(store);
    let remapped = RemappedStore::new(store.clone(), map.clone());
    match (&plain, remapped.get(key)) {
        (Ok(Some(p)), Ok(Some(mut r))) => {
            let mut expected = p.clone();
            map.chunk_to_registry(&mut expected);
            expected.normalize();
            r.normalize();
            assert_eq!(r, expected);
        }
        (Err(StoreError::Corrupt { .. }), Err(StoreError::Corrupt { key: k, .. })) => assert_eq!(k, key),
        (p, r) => panic!("plain {p:?}, through the palette {r:?}"),
    }
    let mut summaries = 0;
    let scanned = remapped.scan_summaries(full_range(), &mut |_, s| {
        summaries += 1;
        assert_eq!(s.is_ok(), plain.is_ok());
        ControlFlow::Continue(())
    });
    assert!(scanned.is_ok() && summaries == 1);
    let _ = remapped.get_record(key.morton());
});
