//! The store record path: arbitrary bytes stored under a key come back through `get` as a typed
//! `Corrupt` error or as a chunk — never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
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
    let _ = store.stats();
});
