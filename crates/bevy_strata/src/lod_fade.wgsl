// LOD cross-fades (lod_fade.rs): a fading node display carries a mesh tag; its fragments keep
// a share of the screen's pixels by a 4 x 4 ordered dither. An arriving display at progress t
// draws the pixels whose threshold is below t, a going one the others: partners fading in the
// same frame draw every pixel exactly once.
#define_import_path bevy_strata::lod_fade

#import bevy_pbr::mesh_functions::get_tag

const STRATA_FADING: u32 = 0x80000000u;
const STRATA_FADING_OUT: u32 = 0x40000000u;
const STRATA_PROGRESS: u32 = 0xffffu;

// Discards the fragment at `frag_coord` (the fragment's `position`) when the fade of mesh
// instance `instance_index` leaves its pixel to the partner display. No effect without a fade.
fn strata_lod_fade(frag_coord: vec4<f32>, instance_index: u32) {
    let tag = get_tag(instance_index);
    if (tag & STRATA_FADING) == 0u {
        return;
    }
    let t = f32(tag & STRATA_PROGRESS) / f32(STRATA_PROGRESS);
    // 4 x 4 Bayer matrix, thresholds 0..15: one row per entry, one byte per column.
    var bayer = array<u32, 4>(0x0a020800u, 0x060e040cu, 0x09010b03u, 0x050d070fu);
    let c = vec2<u32>(floor(frag_coord.xy)) % 4u;
    let level = (bayer[c.y] >> (c.x * 8u)) & 0xffu;
    let threshold = (f32(level) + 0.5) / 16.0;
    let below = threshold < t;
    let going = (tag & STRATA_FADING_OUT) != 0u;
    if below == going {
        discard;
    }
}
