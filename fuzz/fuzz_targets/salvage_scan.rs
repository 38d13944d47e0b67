//! `strata salvage`'s scanner on any file: never a panic, and every chunk it recovers is an
//! intact record of the world it reports, for the key it is filed under.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata_core::codec::{self, RecordHome};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("damaged.strata");
    std::fs::write(&path, data).expect("writing the file");
    let found = strata_redb::salvage::scan(&path, None).expect("reading the file");
    for key in found.chunks.keys() {
        let world = found.world.expect("recovered chunks belong to a world");
        let record = found.record(*key).expect("the file is unchanged").expect("a recovered record");
        assert!(codec::decode_at(&record, RecordHome { world, key: *key }).is_ok());
    }
});
