//! Configurations with extreme values: terrain settings (validated or not), LOD settings with any
//! view distance, and the geology region walk with any radius. Never a panic or an overflow;
//! `NoiseTerrain::new` accepts anything and its chunks agree with `material_at`; settings that
//! pass `LodSettings::validate` keep a real selection within the node bound the validation
//! promises; the region walk stays bounded for any radius.
#![no_main]
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_core::{
    CHUNK_COORD_MAX, CHUNK_COORD_MIN, ChunkKey, LocalIndex, VoxelPos, WorldGenerator,
};
use strata_geo::geology::{GeologyConfig, GeologyScheduler, MAX_NEAR_REGIONS};
use strata_stream::lod_select::{LodSelector, LodSettings, MAX_VISITED_NODES, ViewRule, Viewer};

fn extreme_f64(u: &mut Unstructured) -> Result<f64> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => f64::MAX,
        4 => -f64::MAX,
        5 => u.arbitrary()?,
        _ => f64::from(u.int_in_range(-100_000i32..=100_000)?) / 100.0,
    })
}

fn extreme_i32(u: &mut Unstructured) -> Result<i32> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => i32::MAX,
        1 => i32::MIN,
        2 => u.arbitrary()?,
        _ => u.int_in_range(-200i32..=200)?,
    })
}

fn chunk_key(u: &mut Unstructured) -> Result<ChunkKey> {
    let mut c = || -> Result<i32> { u.int_in_range(CHUNK_COORD_MIN..=CHUNK_COORD_MAX) };
    Ok(ChunkKey::new(c()?, c()?, c()?))
}

fn terrain(u: &mut Unstructured) -> Result<()> {
    let config = TerrainConfig {
        seed: u.arbitrary()?,
        base_height: extreme_i32(u)?,
        amplitude: extreme_f64(u)?,
        frequency: extreme_f64(u)?,
        octaves: u.int_in_range(0usize..=40)?,
        sea_level: extreme_i32(u)?,
        soil_depth: extreme_i32(u)?,
    };
    let valid = config.validate().is_ok();
    assert_eq!(NoiseTerrain::try_new(config.clone()).is_ok(), valid);
    let g = NoiseTerrain::new(config);
    let key = chunk_key(u)?;
    let chunk = g.generate(key);
    for i in [0u16, 1, 31, 1000, 32767] {
        let l = LocalIndex::new(i);
        assert_eq!(chunk.get(l), g.material_at(VoxelPos::from_parts(key, l.pos())));
    }
    let level = u.int_in_range(0u32..=40)?;
    let _ = g.sample_lod(level, chunk_key(u)?);
    Ok(())
}

fn lod(u: &mut Unstructured) -> Result<()> {
    let settings = LodSettings {
        max_level: u.int_in_range(0u32..=40)?,
        split_distance: extreme_f64(u)?,
        hysteresis: extreme_f64(u)?,
        view_rule: if u.arbitrary()? { ViewRule::ChunkLattice } else { ViewRule::NodeBox },
    };
    let view_distance = extreme_f64(u)?;
    let bound = settings.max_nodes_visited(view_distance);
    if settings.validate(view_distance).is_err() {
        return Ok(());
    }
    assert!(bound <= MAX_VISITED_NODES);
    let mut selector = LodSelector::new(settings);
    selector.set_min_move(0.0);
    for _ in 0..u.int_in_range(1u8..=3)? {
        let position = [extreme_f64(u)?, extreme_f64(u)?, extreme_f64(u)?].map(|c| if c.is_finite() { c } else { 0.0 });
        selector.update(&[Viewer { position, view_distance }]);
        assert!(selector.nodes_visited() as f64 <= bound, "{} > {bound}", selector.nodes_visited());
    }
    Ok(())
}

fn regions(u: &mut Unstructured) -> Result<()> {
    let config = GeologyConfig { region_chunks: u.int_in_range(1u32..=16)?, ..GeologyConfig::default() };
    let scheduler = GeologyScheduler::new(&config).expect("region sizes 1..=16 are valid");
    let centres = [VoxelPos::new(extreme_i32(u)?, extreme_i32(u)?, extreme_i32(u)?)];
    let radius = extreme_f64(u)?;
    let near = scheduler.regions_near(&centres, radius);
    assert!(near.len() <= (2 * MAX_NEAR_REGIONS as usize + 3).pow(3));
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = match u.int_in_range(0u8..=2) {
        Ok(0) => terrain(&mut u),
        Ok(1) => lod(&mut u),
        Ok(_) => regions(&mut u),
        Err(e) => Err(e),
    };
});
