//! Static [avian](https://docs.rs/avian3d/0.7) colliders for the voxels around the bodies that
//! need them (feature `avian`): [`StrataCollidersPlugin`].
//!
//! Every chunk whose box lies within [`StrataColliderSettings::collider_distance`] of an entity
//! marked [`CollidesWithVoxels`] (and of every [`crate::StreamingViewer`], unless
//! `around_viewers` is off) gets one top-level entity with [`VoxelChunkCollider`],
//! `RigidBody::Static` and a `Collider` built **on the async-compute pool from the chunk's
//! voxels** (level 0, whatever LOD the chunk is shown at): a compound of the disjoint boxes
//! [`strata_mesh::CollisionBoxes`] merges from the voxels whose material collides (`collides`
//! in `materials.ron`; by default solids and transparent solids, not fluids). Why boxes and not
//! a trimesh of the mesh: ARCHITECTURE.md, "Colliders".
//!
//! Lifecycle, each frame ([`crate::StrataSystems::Dispatch`] then [`crate::StrataSystems::Apply`]):
//! - a chunk that enters the range is asked for (`StrataWorld::request_resident`) and, once its
//!   voxels are resident, built; a chunk that leaves it loses its entity (and its build, if one
//!   is running) at once;
//! - an edit gives the chunk new voxel data (a new `Arc`), which the next frame sees and
//!   rebuilds from; the old collider stays until the new one replaces it, so a body never falls
//!   through ground that is only being rebuilt;
//! - a chunk with no colliding voxel has no entity;
//! - avian does not wake a sleeping body when the static collider under it changes, so when a
//!   chunk's collider is replaced or removed, every sleeping rigid body whose `ColliderAabb`
//!   touches the chunk's box (plus half a voxel) is woken (`WakeBody`): a box resting on ground
//!   that is dug away falls.
//!
//! Collider entities are top-level, so the floating origin shifts them with everything else.

use crate::StrataSchedule;
use crate::sets::StrataSystems;
use crate::state::StrataWorld;
use crate::viewer::{StrataOrigin, StreamingViewer};
use avian3d::prelude::{Collider, ColliderAabb, Position, RigidBody, Rotation, Sleeping, WakeBody};
use bevy::math::DVec3;
use bevy::platform::collections::{HashMap, HashSet};
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, futures_lite::future};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_core::{CHUNK_SIZE, Chunk, ChunkKey};
use strata_mesh::{CollisionBox, CollisionBoxes, CollisionTable, PartBox};

/// Marks an entity (a dynamic body, a character, a top-level entity) whose surroundings need
/// voxel colliders: chunks within [`StrataColliderSettings::collider_distance`] of its
/// `Transform` get them. [`crate::StreamingViewer`]s count too, unless
/// [`StrataColliderSettings::around_viewers`] is off.
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct CollidesWithVoxels;

/// The collider entity of one chunk: `RigidBody::Static`, a compound `Collider`, and a
/// `Transform` at the chunk's minimum corner.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoxelChunkCollider {
    /// The chunk.
    pub chunk: ChunkKey,
}

/// Tuning of [`StrataCollidersPlugin`] (a resource; changes apply from the next frame).
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct StrataColliderSettings {
    /// Chunks whose box lies within this many voxels of an anchor get colliders. Default 40
    /// (a body moving 600 voxels per second for a frame of 1/15 s stays inside).
    pub collider_distance: f32,
    /// Whether [`crate::StreamingViewer`]s are anchors too. Default `true`.
    pub around_viewers: bool,
    /// Collider builds running at once at most. Default 8.
    pub max_builds_in_flight: usize,
}

impl Default for StrataColliderSettings {
    fn default() -> Self {
        Self { collider_distance: 40.0, around_viewers: true, max_builds_in_flight: 8 }
    }
}

/// What the collider systems hold and did (a resource).
#[derive(Resource, Default)]
pub struct StrataColliders {
    chunks: HashMap<ChunkKey, ChunkColliderState>,
    /// Which materials collide, and the materials version it was made from.
    table: Option<(u64, Arc<CollisionTable>)>,
    /// Chunks whose collider was replaced or removed this frame (bodies near them are woken).
    changed: Vec<ChunkKey>,
    stats: ColliderStats,
}

/// Counters of [`StrataColliders`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ColliderStats {
    /// Chunks in range of an anchor (with or without colliding voxels).
    pub chunks_in_range: usize,
    /// Chunks with a collider entity.
    pub colliders: usize,
    /// Builds running.
    pub builds_in_flight: usize,
    /// Builds finished since start.
    pub builds_done: u64,
    /// Wall time of the last finished build on its worker thread.
    pub last_build: Duration,
}

impl StrataColliders {
    /// The collider entity of `chunk`, if it has one.
    pub fn entity(&self, chunk: ChunkKey) -> Option<Entity> {
        self.chunks.get(&chunk).and_then(|c| c.entity)
    }

    /// The counters (O(1)).
    pub fn stats(&self) -> ColliderStats {
        self.stats
    }
}

#[derive(Default)]
struct ChunkColliderState {
    /// The entity holding the current collider (`None`: nothing collides, or not built yet).
    entity: Option<Entity>,
    /// The voxels the current collider was built from.
    built_from: Option<Arc<Chunk>>,
    /// A build in flight, and the voxels it builds from.
    building: Option<(Arc<Chunk>, Task<BuiltCollider>)>,
}

struct BuiltCollider {
    /// `Err`: the build panicked (its message).
    collider: Result<Option<Collider>, String>,
    took: Duration,
}

/// Adds voxel colliders to a game that runs avian's `PhysicsPlugins` (feature `avian`). Add it
/// after [`crate::StrataPlugin`]; mark the bodies that need ground with [`CollidesWithVoxels`].
///
/// ```no_run
/// use avian3d::prelude::*;
/// use bevy::prelude::*;
/// use bevy_strata::colliders::{CollidesWithVoxels, StrataCollidersPlugin};
/// use bevy_strata::prelude::*;
///
/// App::new()
///     .add_plugins((DefaultPlugins, PhysicsPlugins::default(), StrataPlugin::default(), StrataCollidersPlugin))
///     .add_systems(Startup, |mut commands: Commands| {
///         commands.spawn((RigidBody::Dynamic, Collider::cuboid(1.0, 1.0, 1.0), CollidesWithVoxels, Transform::from_xyz(0.0, 60.0, 0.0)));
///     })
///     .run();
/// ```
pub struct StrataCollidersPlugin;

impl Plugin for StrataCollidersPlugin {
    fn build(&self, app: &mut App) {
        let schedule = StrataSchedule::of(app);
        app.init_resource::<StrataColliderSettings>().init_resource::<StrataColliders>().add_systems(
            schedule,
            (plan_colliders.in_set(StrataSystems::Dispatch), finish_colliders.in_set(StrataSystems::Apply)),
        );
    }
}

/// Chunks whose box lies within `distance` voxels of `p` (world voxels).
fn chunks_near(p: DVec3, distance: f64, out: &mut HashSet<ChunkKey>) {
    if !p.is_finite() || distance.is_nan() || distance < 0.0 {
        return;
    }
    let size = CHUNK_SIZE as f64;
    let lo = ((p - distance) / size).floor();
    let hi = ((p + distance) / size).floor();
    let clamp =
        |v: f64| v.clamp(f64::from(strata_core::CHUNK_COORD_MIN), f64::from(strata_core::CHUNK_COORD_MAX)) as i32;
    for z in clamp(lo.z)..=clamp(hi.z) {
        for y in clamp(lo.y)..=clamp(hi.y) {
            for x in clamp(lo.x)..=clamp(hi.x) {
                let min = DVec3::new(f64::from(x), f64::from(y), f64::from(z)) * size;
                let nearest = p.clamp(min, min + size);
                if nearest.distance_squared(p) <= distance * distance {
                    out.insert(ChunkKey::new(x, y, z));
                }
            }
        }
    }
}

/// Builds the compound collider of `chunk`'s colliding voxels (`None` if none collide), in
/// chunk-local voxel units: whole voxels merged into boxes, shaped ones (slabs, stairs) as
/// their own boxes. Runs on a worker thread.
pub fn chunk_collider(chunk: &Chunk, table: &CollisionTable, builder: &mut CollisionBoxes) -> Option<Collider> {
    let (mut boxes, mut parts) = (Vec::new(), Vec::new());
    builder.build(chunk, table, &mut boxes, &mut parts);
    compound_of(&boxes, &parts)
}

/// The compound collider of `boxes` and `parts` (chunk-local voxel units); `None` for none.
pub fn compound_of(boxes: &[CollisionBox], parts: &[PartBox]) -> Option<Collider> {
    if boxes.is_empty() && parts.is_empty() {
        return None;
    }
    let cuboid = |center: [f32; 3], [sx, sy, sz]: [f32; 3]| {
        (Position(Vec3::from_array(center)), Rotation::IDENTITY, Collider::cuboid(sx, sy, sz))
    };
    let shapes = boxes
        .iter()
        .map(|b| cuboid(b.center(), b.size().map(f32::from)))
        .chain(parts.iter().map(|p| cuboid(p.center(), p.size())))
        .collect();
    Some(Collider::compound(shapes))
}

/// Entities whose surroundings get colliders (viewers count unless `around_viewers` is off).
type Anchors = Or<(With<CollidesWithVoxels>, With<StreamingViewer>)>;

/// Rigid bodies avian put to sleep.
type SleepingBodies = (With<Sleeping>, With<RigidBody>);

/// [`StrataSystems::Dispatch`]: the chunks in range; drops those that left it, starts builds
/// for those whose voxels are new.
fn plan_colliders(
    mut commands: Commands,
    settings: Res<StrataColliderSettings>,
    origin: Res<StrataOrigin>,
    strata: Res<StrataWorld>,
    mut state: ResMut<StrataColliders>,
    anchors: Query<(&Transform, Has<CollidesWithVoxels>), Anchors>,
    mut wanted: Local<HashSet<ChunkKey>>,
) {
    wanted.clear();
    let distance = f64::from(settings.collider_distance);
    for (transform, marked) in &anchors {
        if marked || settings.around_viewers {
            chunks_near(origin.to_world(transform.translation), distance, &mut wanted);
        }
    }
    let state = &mut *state;
    let changed = &mut state.changed;
    state.chunks.retain(|key, c| {
        let keep = wanted.contains(key);
        if !keep && let Some(e) = c.entity {
            commands.entity(e).despawn();
            changed.push(*key);
        }
        keep
    });
    // Reloaded materials may collide otherwise: a new table, and every collider built again.
    if state.table.as_ref().is_none_or(|(version, _)| *version != strata.materials_version) {
        if state.table.is_some() {
            for c in state.chunks.values_mut() {
                c.building = None;
                c.built_from = None;
            }
        }
        state.table = Some((strata.materials_version, Arc::new(CollisionTable::new(&strata.registry))));
    }
    let Some((_, table)) = state.table.clone() else { return };
    let mut in_flight = state.chunks.values().filter(|c| c.building.is_some()).count();
    for &key in wanted.iter() {
        let c = state.chunks.entry(key).or_default();
        let Some(voxels) = strata.world.resident_chunk(key) else {
            strata.request_resident(key);
            continue;
        };
        let current = c.building.as_ref().map(|(v, _)| v).or(c.built_from.as_ref());
        if current.is_some_and(|v| Arc::ptr_eq(v, &voxels)) || in_flight >= settings.max_builds_in_flight {
            continue;
        }
        // A build of older voxels is dropped (cancelled) and replaced.
        in_flight += usize::from(c.building.is_none());
        let (data, table) = (voxels.clone(), table.clone());
        let task = AsyncComputeTaskPool::get().spawn(async move {
            let start = Instant::now();
            let collider = crate::jobs::contained(|| chunk_collider(&data, &table, &mut CollisionBoxes::new()));
            BuiltCollider { collider, took: start.elapsed() }
        });
        c.building = Some((voxels, task));
    }
    state.stats.chunks_in_range = wanted.len();
    state.stats.builds_in_flight = in_flight;
}

/// [`StrataSystems::Apply`]: installs finished colliders (spawning, replacing or despawning the
/// chunk's entity), then wakes the sleeping bodies next to every chunk whose collider changed.
fn finish_colliders(
    mut commands: Commands,
    origin: Res<StrataOrigin>,
    mut state: ResMut<StrataColliders>,
    sleeping: Query<(Entity, &ColliderAabb), SleepingBodies>,
) {
    let state = &mut *state;
    let mut colliders = 0;
    for (&key, c) in &mut state.chunks {
        if let Some((_, task)) = &mut c.building
            && let Some(built) = future::block_on(future::poll_once(task))
        {
            let (voxels, _) = c.building.take().expect("polled above");
            state.stats.builds_done += 1;
            state.stats.builds_in_flight = state.stats.builds_in_flight.saturating_sub(1);
            state.stats.last_build = built.took;
            c.built_from = Some(voxels);
            // A bug in the collider build: the chunk keeps the collider it had; the app goes on.
            let collider = match built.collider {
                Ok(collider) => collider,
                Err(panic) => {
                    error!("strata: building the collider of chunk {key:?} panicked: {panic}");
                    continue;
                }
            };
            match (collider, c.entity) {
                (Some(collider), Some(e)) => {
                    commands.entity(e).insert(collider);
                    state.changed.push(key);
                }
                (Some(collider), None) => {
                    let at = origin.to_render(key.min_voxel());
                    c.entity = Some(
                        commands
                            .spawn((
                                VoxelChunkCollider { chunk: key },
                                RigidBody::Static,
                                collider,
                                Transform::from_translation(at),
                            ))
                            .id(),
                    );
                }
                (None, Some(e)) => {
                    commands.entity(e).despawn();
                    c.entity = None;
                    state.changed.push(key);
                }
                (None, None) => {}
            }
        }
        colliders += usize::from(c.entity.is_some());
    }
    state.stats.colliders = colliders;
    if !state.changed.is_empty() {
        for (body, aabb) in &sleeping {
            let touches = state.changed.iter().any(|&key| {
                let min = origin.to_render(key.min_voxel()) - 0.5;
                let max = min + (CHUNK_SIZE as f32 + 1.0);
                aabb.min.cmple(max).all() && aabb.max.cmpge(min).all()
            });
            if touches {
                commands.queue(WakeBody(body));
            }
        }
        state.changed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every chunk within `d` of `p` by the box distance, one chunk at a time over a wide cube.
    fn brute_force(p: DVec3, d: f64) -> HashSet<ChunkKey> {
        let mut out = HashSet::default();
        let c = (p / 32.0).floor().as_ivec3();
        let r = (d / 32.0).ceil() as i32 + 2;
        for z in c.z - r..=c.z + r {
            for y in c.y - r..=c.y + r {
                for x in c.x - r..=c.x + r {
                    let mut dist2 = 0.0;
                    for (a, k) in [x, y, z].into_iter().enumerate() {
                        let (lo, hi) = (f64::from(k) * 32.0, f64::from(k) * 32.0 + 32.0);
                        let gap = if p[a] < lo {
                            lo - p[a]
                        } else if p[a] > hi {
                            p[a] - hi
                        } else {
                            0.0
                        };
                        dist2 += gap * gap;
                    }
                    if dist2 <= d * d {
                        out.insert(ChunkKey::new(x, y, z));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_chunks_in_range_are_those_whose_box_is_near() {
        let mut rng = strata_core::rng::SplitMix64::new(7);
        for _ in 0..200 {
            let mut coord = || rng.unit() * 400.0 - 200.0;
            let p = DVec3::new(coord(), coord(), coord());
            let d = rng.unit() * 100.0;
            let mut got = HashSet::default();
            chunks_near(p, d, &mut got);
            assert_eq!(got, brute_force(p, d), "p {p} d {d}");
        }
        let mut none = HashSet::default();
        chunks_near(DVec3::NAN, 10.0, &mut none);
        chunks_near(DVec3::ZERO, -1.0, &mut none);
        assert!(none.is_empty());
    }
}
