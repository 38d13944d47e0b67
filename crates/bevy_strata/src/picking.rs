//! A `bevy_picking` backend: pointer rays hit voxel chunks, so `Pointer<Click>`, `Pointer<Over>`…
//! reach node entities with the hit position and normal.

use crate::messages::VoxelPicked;
use crate::state::StrataWorld;
use crate::streaming::StrataStreaming;
use crate::viewer::StrataOrigin;
use crate::voxel_world::face_normal;
use bevy::picking::backend::ray::{RayId, RayMap};
use bevy::picking::backend::{HitData, PointerHits};
use bevy::picking::pointer::{PointerAction, PointerButton, PointerId, PointerInput};
use bevy::platform::collections::{HashMap, HashSet};
use bevy::prelude::*;
use strata_core::VoxelPos;
use strata_index::{HitFilter, Ray, RayError, RayOptions};

/// Settings of the picking backend.
#[derive(Resource, Reflect, Clone, Debug)]
#[reflect(Resource)]
pub struct StrataPickingSettings {
    /// Longest pick, in voxels.
    pub max_distance: f32,
}

impl Default for StrataPickingSettings {
    fn default() -> Self {
        Self { max_distance: 512.0 }
    }
}

// A Bevy system: its parameters are its dependencies.
#[allow(clippy::too_many_arguments)]
/// For every pointer ray: casts it through the index and reports the node entity hit
/// (`PointerHits`, every frame, as picking backends do), and [`VoxelPicked`] when the voxel or
/// face under that pointer ray changed since its last one (it entered a voxel, moved to another
/// or came back after hitting nothing) or a button was pressed on it this frame.
pub(crate) fn update_hits(
    mut last: Local<HashMap<RayId, (VoxelPos, IVec3)>>,
    mut inputs: MessageReader<PointerInput>,
    ray_map: Option<Res<RayMap>>,
    cameras: Query<&Camera>,
    settings: Res<StrataPickingSettings>,
    sw: Res<StrataWorld>,
    st: Res<StrataStreaming>,
    origin: Res<StrataOrigin>,
    mut hits: MessageWriter<PointerHits>,
    mut picked: MessageWriter<VoxelPicked>,
) {
    let pressed: HashMap<PointerId, PointerButton> = inputs
        .read()
        .filter_map(|i| match i.action {
            PointerAction::Press(button) => Some((i.pointer_id, button)),
            _ => None,
        })
        .collect();
    let Some(ray_map) = ray_map else { return };
    let mut hovering: HashSet<RayId> = HashSet::new();
    let snapshot = sw.index();
    let options = RayOptions {
        max_distance: f64::from(settings.max_distance),
        filter: HitFilter::solid_only(&sw.registry),
        shapes: sw.ray_shapes.clone(),
    };
    for (&ray_id, &ray3) in ray_map.iter() {
        let Ok(camera) = cameras.get(ray_id.camera) else { continue };
        let d = ray3.direction.as_vec3();
        let Ok(ray) =
            Ray::new(origin.to_world(ray3.origin).to_array(), [f64::from(d.x), f64::from(d.y), f64::from(d.z)])
        else {
            continue;
        };
        let hit = match snapshot.cast_ray(&ray, &options) {
            Ok(Some(hit)) => hit,
            // The ray reached a released chunk: load it; the pointer hits it in a later frame.
            Err(RayError::NotResident { chunk }) => {
                sw.request_resident(chunk);
                continue;
            }
            Ok(None) | Err(_) => continue,
        };
        let Some(entity) = st.node_covering(hit.chunk).and_then(|n| st.entity(n)) else { continue };
        let normal = face_normal(hit.face);
        let position = ray3.origin + d * hit.distance as f32;
        let data = HitData::new(ray_id.camera, hit.distance as f32, Some(position), Some(normal.as_vec3()));
        hits.write(PointerHits::new(ray_id.pointer, vec![(entity, data)], camera.order as f32));
        hovering.insert(ray_id);
        let button = pressed.get(&ray_id.pointer).copied();
        if last.get(&ray_id) != Some(&(hit.voxel, normal)) || button.is_some() {
            last.insert(ray_id, (hit.voxel, normal));
            picked.write(VoxelPicked {
                camera: ray_id.camera,
                voxel: hit.voxel,
                normal,
                material: hit.material,
                distance: hit.distance as f32,
                ray_origin: bevy::math::DVec3::from_array(ray.origin()),
                ray_direction: d,
                pressed: button,
            });
        }
    }
    // A ray that hit nothing this frame sends again when it hits.
    last.retain(|id, _| hovering.contains(id));
}
