//! The texture set the project ships (`assets/textures/*.png`), drawn by this program: every
//! texture is 16 × 16 RGBA (sRGB), tiles seamlessly, and is computed from the material colours
//! of the built-in registry and a fixed integer hash — no downloaded or hand-drawn assets, so
//! the set is as freely licensed as the code. `strata textures <dir>` writes it; a test checks
//! that the committed PNGs are exactly what this module draws.
//!
//! A game supplies its own set the same way the renderer loads this one: one PNG per texture
//! name in `materials.ron` (see `bevy_strata::textures`).

use std::path::Path;
use strata_core::MaterialRegistry;

/// Width and height of every texture, in pixels.
pub const SIZE: usize = 16;

/// One texture: its name (the file stem) and `SIZE × SIZE` RGBA pixels in sRGB, row by row
/// from the top.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Texture {
    /// The name `materials.ron` uses.
    pub name: String,
    /// `SIZE * SIZE * 4` bytes.
    pub rgba: Vec<u8>,
}

/// Linear RGB and alpha of one pixel.
type Pixel = [f32; 4];

/// Draws every texture the built-in registry names, in its layer order.
pub fn texture_set() -> Vec<Texture> {
    let registry = MaterialRegistry::builtin();
    let colour = |material: &str| {
        let id = registry.id(material).expect("the built-in registry names the material");
        registry.get(id).expect("an id of the registry").color
    };
    registry
        .texture_names()
        .iter()
        .map(|name| {
            let draw = painter(name, &colour);
            let mut rgba = Vec::with_capacity(SIZE * SIZE * 4);
            for y in 0..SIZE as i32 {
                for x in 0..SIZE as i32 {
                    let [r, g, b, a] = draw(x, y);
                    rgba.extend([to_srgb8(r), to_srgb8(g), to_srgb8(b), (a.clamp(0.0, 1.0) * 255.0).round() as u8]);
                }
            }
            Texture { name: name.clone(), rgba }
        })
        .collect()
}

/// Writes the set into `dir` as `<name>.png` (creating `dir`). Returns how many it wrote.
pub fn write_texture_set(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let set = texture_set();
    for texture in &set {
        let file = std::fs::File::create(dir.join(format!("{}.png", texture.name)))?;
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), SIZE as u32, SIZE as u32);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_source_srgb(png::SrgbRenderingIntent::Perceptual);
        let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
        writer.write_image_data(&texture.rgba).map_err(std::io::Error::other)?;
        writer.finish().map_err(std::io::Error::other)?;
    }
    Ok(set.len())
}

/// The drawing of texture `name`: a function of the pixel (x right, y down).
fn painter<'a>(name: &str, colour: &'a dyn Fn(&str) -> [f32; 4]) -> Box<dyn Fn(i32, i32) -> Pixel + 'a> {
    let seed = name.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    let speckled = move |material: &'static str, amount: f32| {
        let base = colour(material);
        move |x: i32, y: i32| shade(base, 1.0 + amount * (grain(seed, x, y) - 0.5))
    };
    match name {
        "grass_top" => {
            let (grass, dry) = (colour("grass"), [0.32, 0.50, 0.12, 1.0]);
            Box::new(move |x, y| {
                let patch = smooth(seed, x, y, 4);
                shade(mix(grass, dry, 0.5 * patch), 0.62 + 0.7 * hash01(seed, x, y))
            })
        }
        "grass_side" => {
            let (grass, dirt) = (colour("grass"), speckled("dirt", 0.5));
            Box::new(move |x, y| {
                // A fringe of grass over the dirt, 2 to 4 pixels deep.
                let depth = 2 + (hash01(seed ^ 0x9e37, x, 0) * 3.0) as i32;
                if y < depth { shade(grass, 0.8 + 0.45 * hash01(seed, x, y)) } else { dirt(x, y) }
            })
        }
        "stone" => {
            let stone = speckled("stone", 0.35);
            Box::new(move |x, y| {
                let crack = (smooth(seed ^ 0x51, x, y, 8) - 0.5).abs() < 0.04;
                if crack { shade(stone(x, y), 0.7) } else { stone(x, y) }
            })
        }
        "dirt" => {
            let dirt = speckled("dirt", 0.5);
            Box::new(move |x, y| if hash01(seed ^ 7, x, y) > 0.94 { shade(dirt(x, y), 1.5) } else { dirt(x, y) })
        }
        "sand" => Box::new(speckled("sand", 0.18)),
        "snow" => Box::new(speckled("snow", 0.08)),
        "sediment" => {
            let base = colour("sediment");
            Box::new(move |x, y| shade(base, 0.85 + 0.2 * row(seed, y) + 0.12 * (hash01(seed, x, y) - 0.5)))
        }
        "sandstone" => {
            let base = colour("sandstone");
            Box::new(move |x, y| {
                let band = if (y / 2) % 4 == 1 { 0.86 } else { 1.0 };
                shade(base, band * (0.95 + 0.1 * row(seed, y)) + 0.08 * (hash01(seed, x, y) - 0.5))
            })
        }
        "sandstone_top" => Box::new(speckled("sandstone", 0.14)),
        "limestone" => {
            let limestone = speckled("limestone", 0.15);
            Box::new(
                move |x, y| if hash01(seed ^ 3, x, y) > 0.96 { shade(limestone(x, y), 0.75) } else { limestone(x, y) },
            )
        }
        "granite" => {
            let base = colour("granite");
            Box::new(move |x, y| match hash01(seed, x, y) {
                h if h < 0.15 => shade(base, 0.45),
                h if h > 0.85 => mix(base, [0.9, 0.7, 0.65, 1.0], 0.6),
                h => shade(base, 0.9 + 0.2 * h),
            })
        }
        "basalt" => {
            let basalt = speckled("basalt", 0.3);
            Box::new(
                move |x, y| {
                    if x % 8 == 0 || (y + 4 * (x / 8)) % 8 == 0 { shade(basalt(x, y), 0.6) } else { basalt(x, y) }
                },
            )
        }
        "magma" => {
            let (crust, hot) = ([0.35, 0.05, 0.01, 1.0], [1.0, 0.8, 0.2, 1.0]);
            let magma = colour("magma");
            Box::new(move |x, y| {
                let heat = smooth(seed, x, y, 4);
                if heat < 0.5 { mix(crust, magma, heat * 2.0) } else { mix(magma, hot, heat * 2.0 - 1.0) }
            })
        }
        "mantle" => {
            let base = colour("mantle");
            Box::new(move |x, y| shade(base, 0.75 + 0.5 * smooth(seed, x, y, 4)))
        }
        "core" => Box::new(speckled("core", 0.2)),
        "water" => {
            let water = colour("water");
            Box::new(move |x, y| {
                let phase = std::f32::consts::TAU * (x as f32 + 2.0 * smooth(seed, x, y, 8) * SIZE as f32 / 4.0) / 8.0;
                let ripple = 1.0 + 0.12 * (phase + y as f32 * std::f32::consts::TAU / 16.0).sin();
                shade(water, ripple)
            })
        }
        "ice" => {
            let ice = colour("ice");
            Box::new(move |x, y| {
                let frost = shade(ice, 0.94 + 0.1 * hash01(seed, x, y));
                if (x + y) % 8 == 0 { with_alpha(shade(ice, 1.15), ice[3] + 0.1) } else { frost }
            })
        }
        "glass" => {
            let glass = colour("glass");
            Box::new(move |x, y| {
                let frame = x == 0 || y == 0 || x == SIZE as i32 - 1 || y == SIZE as i32 - 1;
                let glint = (x - y).abs() <= 1 && (3..7).contains(&x);
                if frame {
                    with_alpha(shade(glass, 0.8), 0.85)
                } else if glint {
                    with_alpha(glass, glass[3] + 0.25)
                } else {
                    glass
                }
            })
        }
        "wood_side" => {
            let wood = colour("wood");
            Box::new(move |x, y| {
                // Bark: vertical grooves whose depth varies slowly down the texture.
                let groove = hash01(seed, x, 0);
                shade(wood, 0.7 + 0.45 * groove + 0.12 * (smooth(seed ^ 5, x, y, 8) - 0.5))
            })
        }
        "wood_top" => {
            let wood = colour("wood");
            let heartwood = [0.62, 0.46, 0.26, 1.0];
            Box::new(move |x, y| {
                let (dx, dy) = (x as f32 - 7.5, y as f32 - 7.5);
                let ring = dx.abs().max(dy.abs());
                if ring > 6.5 {
                    shade(wood, 0.8)
                } else {
                    shade(heartwood, 0.9 + 0.15 * (ring * 1.7).sin() + 0.06 * (hash01(seed, x, y) - 0.5))
                }
            })
        }
        "leaves" => {
            let leaves = colour("leaves");
            Box::new(move |x, y| match hash01(seed, x, y) {
                h if h < 0.14 => shade(leaves, 0.45),
                h if h > 0.9 => shade(leaves, 1.5),
                _ => shade(leaves, 0.85 + 0.35 * smooth(seed ^ 9, x, y, 4)),
            })
        }
        "brick" => {
            let (brick, mortar) = (colour("brick"), [0.55, 0.54, 0.50, 1.0]);
            Box::new(move |x, y| {
                // Courses 4 pixels high, bricks 8 wide, every other course shifted by half a brick.
                let course = y / 4;
                let bx = x + if course % 2 == 1 { 4 } else { 0 };
                if y % 4 == 3 || bx % 8 == 7 {
                    shade(mortar, 0.95 + 0.1 * hash01(seed, x, y))
                } else {
                    let each = hash01(seed ^ 11, bx.rem_euclid(16) / 8, course);
                    shade(brick, 0.85 + 0.3 * each + 0.12 * (hash01(seed, x, y) - 0.5))
                }
            })
        }
        // A name without a drawing: grey, speckled. (The built-in
        // registry names only the textures above; a test checks that each has a drawing.)
        _ => Box::new(move |x, y| shade([0.5, 0.5, 0.5, 1.0], 1.0 + 0.3 * (grain(seed, x, y) - 0.5))),
    }
}

/// Texture names this module draws by hand (the rest fall back to a speckled colour).
pub const DRAWN: [&str; 22] = [
    "grass_top",
    "grass_side",
    "stone",
    "dirt",
    "sand",
    "snow",
    "sediment",
    "sandstone",
    "sandstone_top",
    "limestone",
    "granite",
    "basalt",
    "magma",
    "mantle",
    "core",
    "water",
    "ice",
    "glass",
    "wood_side",
    "wood_top",
    "leaves",
    "brick",
];

/// Scales the colour, keeping alpha.
fn shade(c: Pixel, by: f32) -> Pixel {
    [c[0] * by, c[1] * by, c[2] * by, c[3]]
}

fn with_alpha(c: Pixel, alpha: f32) -> Pixel {
    [c[0], c[1], c[2], alpha]
}

/// `a` to `b` by `t` in `0..=1` (alpha too).
fn mix(a: Pixel, b: Pixel, t: f32) -> Pixel {
    let t = t.clamp(0.0, 1.0);
    std::array::from_fn(|i| a[i] + (b[i] - a[i]) * t)
}

/// A hash of the pixel in `0..1` (lowbias32), wrapping at the texture size so it tiles.
fn hash01(seed: u32, x: i32, y: i32) -> f32 {
    let (x, y) = (x.rem_euclid(SIZE as i32) as u32, y.rem_euclid(SIZE as i32) as u32);
    let mut h = seed ^ x.wrapping_mul(0x27d4_eb2d) ^ y.wrapping_mul(0x1656_67b1);
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846c_a68b);
    h ^= h >> 16;
    (h >> 8) as f32 / (1u32 << 24) as f32
}

/// Value noise with lattice cells `cell` pixels wide (a divisor of `SIZE`), smoothly
/// interpolated, wrapping at the texture size: `0..1`.
fn smooth(seed: u32, x: i32, y: i32, cell: i32) -> f32 {
    let (cx, cy) = (x.div_euclid(cell), y.div_euclid(cell));
    let (fx, fy) = ((x.rem_euclid(cell) as f32 + 0.5) / cell as f32, (y.rem_euclid(cell) as f32 + 0.5) / cell as f32);
    let ease = |t: f32| t * t * (3.0 - 2.0 * t);
    let (sx, sy) = (ease(fx), ease(fy));
    let at = |i: i32, j: i32| hash01(seed ^ 0xa5a5, (cx + i) * cell, (cy + j) * cell);
    let top = at(0, 0) + (at(1, 0) - at(0, 0)) * sx;
    let bottom = at(0, 1) + (at(1, 1) - at(0, 1)) * sx;
    top + (bottom - top) * sy
}

/// Blotches and single-pixel grain together: `0..1`.
fn grain(seed: u32, x: i32, y: i32) -> f32 {
    0.55 * smooth(seed, x, y, 4) + 0.45 * hash01(seed, x, y)
}

/// A brightness per row (layered rock): `0..1`.
fn row(seed: u32, y: i32) -> f32 {
    hash01(seed ^ 0x77, 0, y / 2)
}

/// Linear `0..=1` to an 8-bit sRGB value.
fn to_srgb8(linear: f32) -> u8 {
    let c = linear.clamp(0.0, 1.0);
    let s = if c <= 0.003_130_8 { c * 12.92 } else { 1.055 * c.powf(1.0 / 2.4) - 0.055 };
    (s * 255.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_texture_the_registry_names_is_drawn_and_tiles() {
        let set = texture_set();
        assert_eq!(set.len(), MaterialRegistry::builtin().texture_names().len());
        for texture in &set {
            assert!(DRAWN.contains(&texture.name.as_str()), "{} has no drawing of its own", texture.name);
            assert_eq!(texture.rgba.len(), SIZE * SIZE * 4);
            // Not a flat colour: a pattern of at least three distinct pixels (glass: frame, glint, pane).
            let mut pixels: Vec<&[u8]> = texture.rgba.chunks_exact(4).collect();
            pixels.sort_unstable();
            pixels.dedup();
            assert!(pixels.len() >= 3, "{} is flat ({} colours)", texture.name, pixels.len());
        }
    }

    /// `assets/textures/` holds exactly this module's drawings (run `strata textures` after
    /// changing a drawing or `materials.ron`).
    #[test]
    fn the_committed_texture_set_is_what_this_module_draws() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/textures");
        let mut committed: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        committed.sort();
        let mut drawn: Vec<String> = texture_set().iter().map(|t| format!("{}.png", t.name)).collect();
        drawn.sort();
        assert_eq!(committed, drawn, "the files in assets/textures");
        for texture in texture_set() {
            let file = std::fs::File::open(dir.join(format!("{}.png", texture.name))).unwrap();
            let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().unwrap();
            let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
            let info = reader.next_frame(&mut pixels).unwrap();
            assert_eq!((info.width, info.height, info.color_type), (SIZE as u32, SIZE as u32, png::ColorType::Rgba));
            assert!(pixels == texture.rgba, "{}.png differs from its drawing: run `strata textures`", texture.name);
        }
    }

    #[test]
    fn noise_wraps_at_the_texture_size() {
        for (x, y) in [(0, 0), (3, 15), (15, 7)] {
            assert_eq!(smooth(1, x, y, 4), smooth(1, x + SIZE as i32, y - SIZE as i32, 4));
            assert_eq!(hash01(1, x, y), hash01(1, x - SIZE as i32, y + 2 * SIZE as i32));
        }
    }

    #[test]
    fn srgb_encoding_matches_the_standard_at_known_points() {
        assert_eq!(to_srgb8(0.0), 0);
        assert_eq!(to_srgb8(1.0), 255);
        assert_eq!(to_srgb8(0.5), 188); // 0.5 linear is 0.7354 in sRGB
        assert_eq!(to_srgb8(0.2159), 128); // sRGB 128/255 is 0.21586 linear
    }
}
