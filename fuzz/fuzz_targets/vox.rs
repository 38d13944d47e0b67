//! MagicaVoxel files from anywhere: `VoxScene::parse` never panics, and a scene it returns
//! stays within its limits and maps onto the built-in materials.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata_core::MaterialRegistry;
use strata_core::vox::{MAX_SCENE_VOXELS, VoxScene};

fuzz_target!(|data: &[u8]| {
    // Half the inputs get a valid header, so the fuzzer spends its time in the chunks.
    let mut bytes = Vec::with_capacity(data.len() + 20);
    if data.first().is_some_and(|b| b & 1 == 1) {
        bytes.extend(b"VOX ");
        bytes.extend(150u32.to_le_bytes());
        bytes.extend(b"MAIN");
        bytes.extend(0u32.to_le_bytes());
        bytes.extend((data.len() as u32 - 1).to_le_bytes());
        bytes.extend(&data[1..]);
    } else {
        bytes.extend(data);
    }
    if let Ok(scene) = VoxScene::parse(&bytes) {
        assert!(scene.voxels.len() <= MAX_SCENE_VOXELS);
        if !scene.voxels.is_empty() {
            let map = scene.materials(&MaterialRegistry::builtin(), &[]).expect("built-in materials map every colour");
            assert!(scene.voxels.iter().all(|(_, i)| map.contains_key(i)));
        }
    }
});
