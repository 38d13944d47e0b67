//! LOD cross-fades, headless: a display the hand-over lets go fades out for exactly the fade
//! time and is despawned, while the displays replacing it fade in from the same frame, so at
//! every frame each place is drawn by complementary shares.

use crate::common::{flat_app_extended, run_until, small_view};
use bevy::light::NotShadowCaster;
use bevy::mesh::MeshTag;
use bevy::prelude::*;
use bevy_strata::lod_fade::{FADING, FADING_OUT, PROGRESS};
use bevy_strata::prelude::*;
use bevy_strata::{StrataLodFade, StrataLodFadeShader, StrataNode, StrataStreaming};
use std::collections::HashMap;
use std::time::Duration;
use strata_index::NodeId;

const FADE_S: f32 = 0.15;

/// Whether two octree nodes overlap (one holds the other), from their chunk ranges.
fn overlap(a: NodeId, b: NodeId) -> bool {
    let ((alo, ahi), (blo, bhi)) = (a.chunk_range(), b.chunk_range());
    (0..3).all(|i| alo[i] <= bhi[i] && blo[i] <= ahi[i])
}

/// One node entity as a frame left it.
#[derive(Clone, Debug)]
struct Seen {
    node: NodeId,
    visible: bool,
    fade: Option<StrataLodFade>,
    tag: u32,
    casts_shadow: bool,
}

fn snapshot(app: &mut App) -> HashMap<Entity, Seen> {
    app.world_mut()
        .query::<(Entity, &StrataNode, &Visibility, Option<&StrataLodFade>, Option<&MeshTag>, Has<NotShadowCaster>)>()
        .iter(app.world())
        .map(|(e, n, v, fade, tag, no_shadow)| {
            let seen = Seen {
                node: n.0,
                visible: *v != Visibility::Hidden,
                fade: fade.copied(),
                tag: tag.map_or(0, |t| t.0),
                casts_shadow: !no_shadow,
            };
            (e, seen)
        })
        .collect()
}

#[test]
fn a_replaced_display_fades_out_for_the_fade_time_while_its_replacements_fade_in() {
    let config = StrataConfig { lod_fade_s: FADE_S, ..small_view() };
    let mut app = flat_app_extended(
        |plugin| plugin,
        |app| {
            // Headless: no shader, but the material is declared to dither.
            app.insert_resource(StrataLodFadeShader(true));
        },
        config,
        0,
    );
    let viewer = app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0))).id();
    let idle = |app: &mut App| app.world().resource::<StrataStreaming>().is_idle();
    run_until(&mut app, 2000, "initial view streamed", idle);
    assert!(snapshot(&mut app).values().all(|s| s.fade.is_none()), "the first view swaps nothing: no fades");

    let now = |app: &App| app.world().resource::<Time<Real>>().elapsed();
    let mut before = snapshot(&mut app);
    let mut before_time = now(&app);
    let (mut faded_out, mut faded_in, mut fading_frames) = (0, 0, 0);
    // Up to 248 voxels over the ground and down again at 2 voxels a frame, twice (nodes under
    // the viewer merge, then split), then at rest.
    for frame in 0..700 {
        if frame < 480 {
            let k = (frame % 240) as f32;
            let y = 8.0 + 2.0 * if k < 120.0 { k } else { 240.0 - k };
            app.world_mut().entity_mut(viewer).insert(Transform::from_xyz(16.0, y, 16.0));
        }
        app.update();
        std::thread::sleep(Duration::from_millis(2));
        let t = now(&app);
        let seen = snapshot(&mut app);
        // A display fading out is despawned at the first frame its fade is over, not before.
        for (e, old) in &before {
            let Some(fade @ StrataLodFade { out: true, .. }) = old.fade else { continue };
            let end = fade.start + Duration::from_secs_f32(FADE_S);
            if seen.contains_key(e) {
                assert!(t < end || seen[e].fade.is_some(), "{:?} kept after its fade", old.node);
            } else {
                assert!(t >= end, "{:?} despawned {:?} into a fade of {FADE_S} s", old.node, t - fade.start);
                assert!(before_time < end, "{:?} outlived its fade by a frame", old.node);
                faded_out += 1;
            }
        }
        for (e, s) in &seen {
            let Some(fade) = s.fade else {
                assert_eq!(s.tag, 0, "{:?}: a tag without a fade", s.node);
                assert!(s.casts_shadow, "{:?}: no shadow after its fade", s.node);
                continue;
            };
            if !fade.out && before.get(e).is_none_or(|b| b.fade.is_none()) {
                faded_in += 1;
            }
            // The tag says where the fade is now: what the shader dithers by.
            let progress = fade.progress(t, FADE_S);
            assert!(progress < 1.0, "{:?}: a finished fade left on", s.node);
            assert_eq!(s.tag & FADING, FADING, "{:?}: fading without the tag", s.node);
            assert_eq!(s.tag & FADING_OUT != 0, fade.out, "{:?}: the tag's direction", s.node);
            let tagged = (s.tag & PROGRESS) as f32 / PROGRESS as f32;
            assert!((tagged - progress).abs() <= 1.0 / PROGRESS as f32, "{:?}: tag {tagged} at {progress}", s.node);
            assert!(!s.casts_shadow, "{:?}: a fading display casts a shadow", s.node);
            assert!(s.visible, "{:?}: a fading display is hidden", s.node);
            if !fade.out {
                // No hole: what showed this place the frame before is still there (fading out
                // from the same frame).
                for (old_e, old) in before.iter().filter(|(o, b)| *o != e && b.visible && overlap(b.node, s.node)) {
                    assert!(seen.contains_key(old_e), "{:?} went while {:?} fades in over it", old.node, s.node);
                }
            } else {
                // Partners: every visible display over a going one fades in from the same frame,
                // so the two draw complementary pixels (no hole, no double surface).
                for other in seen.values().filter(|o| o.visible && o.node != s.node && overlap(o.node, s.node)) {
                    let partner = other.fade.is_some_and(|f| !f.out && f.start == fade.start);
                    assert!(partner, "{:?} drawn whole over {:?} fading out", other.node, s.node);
                }
            }
        }
        // Outside fades, visible displays never overlap (the hand-over's invariant).
        let whole: Vec<NodeId> = seen.values().filter(|s| s.visible && s.fade.is_none()).map(|s| s.node).collect();
        for (i, a) in whole.iter().enumerate() {
            for b in &whole[i + 1..] {
                assert!(!overlap(*a, *b), "{a:?} and {b:?} both drawn whole");
            }
        }
        fading_frames += usize::from(seen.values().any(|s| s.fade.is_some()));
        before = seen;
        before_time = t;
    }
    eprintln!("fades: {faded_out} out, {faded_in} in, over {fading_frames} frames");
    assert!(faded_out > 0 && faded_in > 0, "level changes cross-faded ({faded_out} out, {faded_in} in)");
    run_until(&mut app, 2000, "view at rest, fades over", |app| {
        idle(app) && snapshot(app).values().all(|s| s.fade.is_none() && s.tag == 0)
    });
    let st = app.world().resource::<StrataStreaming>();
    let with_entity = st.shown_nodes().filter(|n| st.entity(*n).is_some()).count();
    let entities = app.world_mut().query::<&StrataNode>().iter(app.world()).count();
    assert_eq!(entities, with_entity, "no display outlives its fade");
}

#[test]
fn without_a_dithering_material_lod_changes_swap_in_one_frame() {
    // The default `StandardMaterial` cannot dither: two whole surfaces would flicker.
    let config = StrataConfig { max_tasks_in_flight: 2, lod_fade_s: FADE_S, ..small_view() };
    let mut app = flat_app_extended(|plugin| plugin, |_| {}, config, 0);
    let viewer = app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(16.0, 8.0, 16.0))).id();
    run_until(&mut app, 2000, "initial view streamed", |app| app.world().resource::<StrataStreaming>().is_idle());
    for frame in 0..240 {
        app.world_mut().entity_mut(viewer).insert(Transform::from_xyz(16.0 + 4.0 * frame as f32, 8.0, 16.0));
        app.update();
        assert!(snapshot(&mut app).values().all(|s| s.fade.is_none()), "no fade without a dithering material");
    }
}
