//! The store record path: arbitrary bytes stored under a key come back through `get` as a typed
//! `Corrupt` error or as a chunk — never a panic — and its summary is there exactly when the
//! chunk decodes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::ops::ControlFlow;
use strata_core::store::full_range;
use strata_core::{ChunkKey, ChunkStore, MemoryStore, StoreError, WriteBatch};

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
});
