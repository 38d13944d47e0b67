// The fragment shader of `StrataTextureMaterial` (textures.rs): Bevy's StandardMaterial, whose
// base colour on textured faces is the texture array's texel, and whose lit colour there is
// scaled by the vertex's AO, fluid shade and voxel light.
//
// Mesh data (mesh_build.rs): `uv` is the position on the face in voxels (one repeat per voxel;
// on side faces its v grows upward); `uv_b` is (texture layer, or -1 for an untextured
// material; AO x fluid shade x voxel light, 0..1). Untextured faces, and all of them while
// `textures_enabled` is 0, keep the vertex colour (registry colour x the same). Node displays
// in an LOD cross-fade are dithered (lod_fade.wgsl).
#import bevy_pbr::{
    pbr_fragment::pbr_input_from_standard_material,
    pbr_functions::alpha_discard,
    forward_io::{VertexOutput, FragmentOutput},
    pbr_functions::{apply_pbr_lighting, main_pass_post_lighting_processing},
}
#import bevy_strata::lod_fade::strata_lod_fade

@group(#{MATERIAL_BIND_GROUP}) @binding(100) var voxel_textures: texture_2d_array<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(101) var voxel_sampler: sampler;
@group(#{MATERIAL_BIND_GROUP}) @binding(102) var<uniform> textures_enabled: u32;

@fragment
fn fragment(in: VertexOutput, @builtin(front_facing) is_front: bool) -> FragmentOutput {
    // A display in an LOD cross-fade keeps its share of the pixels (lod_fade.wgsl).
    strata_lod_fade(in.position, in.instance_index);
    var pbr_input = pbr_input_from_standard_material(in, is_front);
    // How much of the light reaches the face (AO x fluid shade x voxel light); 1 where the
    // vertex colour carries it instead.
    var shade = 1.0;
#ifdef VERTEX_UVS_A
#ifdef VERTEX_UVS_B
    // Sampled on every fragment (uniform control flow for the derivatives), used where textured.
    // v is negated so that the texture's top row lies at the top of each voxel on side faces.
    let layer = max(i32(round(in.uv_b.x)), 0);
    let texel = textureSample(voxel_textures, voxel_sampler, vec2(in.uv.x, -in.uv.y), layer);
    if textures_enabled != 0u && in.uv_b.x >= 0.0 {
        pbr_input.material.base_color = texel;
        shade = in.uv_b.y;
    }
#endif
#endif
    pbr_input.material.base_color = alpha_discard(pbr_input.material, pbr_input.material.base_color);
    var out: FragmentOutput;
    out.color = apply_pbr_lighting(pbr_input);
    // Scales everything the face receives (the sun, ambient light, reflections): a cave's
    // darkness is light that does not arrive, not a darker stone. Before fog.
    out.color = vec4(out.color.rgb * shade, out.color.a);
    out.color = main_pass_post_lighting_processing(pbr_input, out.color);
    return out;
}
