//! Entities saved with their chunks: [`PersistWithChunk`] and [`StrataPersistPlugin`].
//!
//! A game marks the entities that belong to the world — crates, chests' mobs, dropped items —
//! with [`PersistWithChunk`]. The plugin saves each one's persisted components (those named
//! with [`StrataPersistPlugin::with`], [`Transform`] always) as an **entity record** of the chunk
//! it stands in ([`strata_core::side`]: in the chunk's own record, committed with its voxels),
//! and brings it back when that chunk is resident again:
//!
//! - **Saved** every [`StrataPersistPlugin::save_interval_s`] (when its bytes changed), when its
//!   chunk leaves the world's cache (then it is despawned: nothing is simulated where no voxels
//!   are), and on exit, before the exit commit. An entity that moved to another chunk leaves
//!   its old chunk's record in the same batch of edits.
//! - **Respawned** when a chunk holding records becomes resident (loaded by the view or by an
//!   edit): a new entity with [`PersistWithChunk`] and the saved components, which the game
//!   dresses (meshes, physics) from `Added<…>` of its own components, as after a scene load.
//! - **Removed** from the save when the game despawns the entity (or removes its marker).
//!
//! Components are stored by reflection (`bevy_reflect`'s serializer, RON text: each component
//! must derive `Reflect` with `#[reflect(Component)]`); the `Transform` is kept in world voxels
//! (the floating origin's offset added), so entities come back where they were whatever the
//! origin is then. A record that does not deserialize (a component renamed or removed from the
//! game) or that a component type refuses (its `FromReflect` returns `None`) is left as it is,
//! with a warning, and never overwritten; nothing of it is spawned.
//!
//! World-level data (the player's position, an inventory) goes through
//! [`crate::StrataPersistence::set_game_data`].
//!
//! # Runtime
//! Per frame: O(persisted entities) (a chunk lookup each) plus the arrivals' records; a save
//! pass serializes every persisted entity (a few µs each).

use crate::sets::StrataSystems;
use crate::state::StrataWorld;
use crate::viewer::StrataOrigin;
use bevy::app::AppExit;
use bevy::ecs::message::Messages;
use bevy::ecs::query::QueryState;
use bevy::prelude::*;
use bevy::reflect::serde::{ReflectDeserializer, ReflectSerializer};
use bevy::reflect::{ReflectFromReflect, TypeRegistry};
use serde::de::DeserializeSeed;
use std::any::TypeId;
use std::collections::{HashMap, HashSet};
use strata_core::{ChunkKey, VoxelPos};

/// Marks an entity saved with the chunk it stands in (see the [module docs](self)). `id`
/// names its record: unique in the world ([`PersistWithChunk::new`] draws one at random; 0 is
/// replaced by a fresh id when the entity is first seen).
#[derive(Component, Reflect, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[reflect(Component)]
pub struct PersistWithChunk {
    /// The entity's record id.
    pub id: u64,
}

impl PersistWithChunk {
    /// A marker with a fresh random id.
    pub fn new() -> Self {
        Self { id: fresh_id() }
    }
}

/// A random non-zero id (the standard library's randomly seeded hasher, the clock and a
/// counter).
fn fresh_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    h.write_u128(now.as_nanos());
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.finish().max(1)
}

/// A persisted component type and what registers it.
type PersistedType = (TypeId, fn(&mut App));

/// Saves and respawns [`PersistWithChunk`] entities (see the [module docs](self)). Add it after
/// [`crate::StrataPlugin`].
pub struct StrataPersistPlugin {
    types: Vec<PersistedType>,
    /// Seconds between save passes over every persisted entity (default 0.5).
    pub save_interval_s: f32,
}

impl Default for StrataPersistPlugin {
    fn default() -> Self {
        let transform = |app: &mut App| {
            app.register_type::<Transform>();
        };
        Self { types: vec![(TypeId::of::<Transform>(), transform)], save_interval_s: 0.5 }
    }
}

impl StrataPersistPlugin {
    /// Persists component `C` too (it must derive `Reflect` with `#[reflect(Component)]`; the
    /// plugin registers it).
    pub fn with<C: Component + Reflect + bevy::reflect::GetTypeRegistration + TypePath>(mut self) -> Self {
        self.types.push((TypeId::of::<C>(), |app| {
            app.register_type::<C>();
        }));
        self
    }
}

impl Plugin for StrataPersistPlugin {
    fn build(&self, app: &mut App) {
        app.register_type::<PersistWithChunk>();
        for (_, register) in &self.types {
            register(app);
        }
        app.insert_resource(PersistState {
            types: self.types.iter().map(|(t, _)| *t).collect(),
            interval: f64::from(self.save_interval_s.max(0.0)),
            ..PersistState::default()
        });
        app.add_systems(Last, persist_entities.before(StrataSystems::Persist).run_if(crate::strata_ready));
    }
}

/// What the plugin knows of persisted entities.
#[derive(Resource, Default)]
pub(crate) struct PersistState {
    types: Vec<TypeId>,
    interval: f64,
    next_save: f64,
    tracking: bool,
    /// Live persisted entities and their ids (an entity missing from the world, or without its
    /// marker, was despawned by the game).
    live: HashMap<Entity, u64>,
    /// The entity of each live id.
    entity_of: HashMap<u64, Entity>,
    /// Per id, the chunk and bytes this session last wrote (newer than what a chunk arriving
    /// from the store may hold until that write is applied).
    written: HashMap<u64, (ChunkKey, Vec<u8>)>,
    /// Chunks holding entities released this session, waiting to be resident again.
    released: HashMap<ChunkKey, HashSet<u64>>,
    /// Records that did not deserialize (left alone).
    unreadable: HashSet<u64>,
    /// The query of marked entities, kept between frames (a new one scans every archetype).
    marked: Option<QueryState<(Entity, &'static mut PersistWithChunk)>>,
}

/// The plugin's one system (exclusive: reflection reads and writes any component).
fn persist_entities(world: &mut World) {
    let Some(mut st) = world.remove_resource::<PersistState>() else { return };
    run(world, &mut st);
    world.insert_resource(st);
}

fn run(world: &mut World, st: &mut PersistState) {
    if !st.tracking {
        world.resource_mut::<StrataWorld>().world.track_entity_arrivals();
        st.tracking = true;
    }
    let exiting = world.get_resource::<Messages<AppExit>>().is_some_and(|m| !m.is_empty());
    let now = world.resource::<Time>().elapsed_secs_f64();
    let origin = *world.resource::<StrataOrigin>();
    let registry = world.resource::<AppTypeRegistry>().clone();
    let registry = registry.read();

    // Despawned by the game: their records go.
    let gone: Vec<(Entity, u64)> = st
        .live
        .iter()
        .filter(|(e, id)| world.get::<PersistWithChunk>(**e).is_none_or(|p| p.id != **id))
        .map(|(e, id)| (*e, *id))
        .collect();
    for (e, id) in gone {
        st.live.remove(&e);
        st.entity_of.remove(&id);
        if let Some((chunk, _)) = st.written.remove(&id) {
            let _ = world.resource::<StrataWorld>().world.set_entity_data(chunk, id, None);
        }
    }

    // New marked entities (spawned by the game): ids assigned.
    let marked = st.marked.get_or_insert_with(|| world.query::<(Entity, &mut PersistWithChunk)>());
    let mut fresh = Vec::new();
    for (e, mut p) in marked.iter_mut(world) {
        if st.live.contains_key(&e) {
            continue;
        }
        if p.id == 0 || st.entity_of.contains_key(&p.id) {
            p.id = fresh_id();
        }
        fresh.push((e, p.id));
    }
    for (e, id) in fresh {
        st.live.insert(e, id);
        st.entity_of.insert(id, e);
    }

    // Chunks back in the world: their entities respawn.
    let mut arrived = world.resource_mut::<StrataWorld>().world.take_entity_arrivals();
    let back: Vec<ChunkKey> =
        st.released.keys().copied().filter(|k| world.resource::<StrataWorld>().world.is_resident(*k)).collect();
    arrived.extend(back);
    for key in arrived {
        respawn(world, st, &registry, origin, key);
    }

    // Save pass; release of entities whose chunk left the world.
    let save_all = exiting || now >= st.next_save;
    if save_all {
        st.next_save = now + st.interval;
    }
    let entities: Vec<(Entity, u64)> = st.live.iter().map(|(e, id)| (*e, *id)).collect();
    for (e, id) in entities {
        let Some(transform) = world.get::<Transform>(e) else { continue };
        let chunk = origin.voxel_at(transform.translation).chunk();
        let resident = world.resource::<StrataWorld>().world.is_resident(chunk);
        if !save_all && resident {
            continue;
        }
        save(world, st, &registry, origin, e, id, chunk);
        if !resident && !exiting {
            st.live.remove(&e);
            st.entity_of.remove(&id);
            st.released.entry(chunk).or_default().insert(id);
            world.despawn(e);
        }
    }
}

/// Writes entity `e`'s record into `chunk` if its bytes or chunk changed since the last write
/// (and removes the record from the chunk it left).
#[allow(clippy::too_many_arguments)]
fn save(
    world: &mut World,
    st: &mut PersistState,
    registry: &TypeRegistry,
    origin: StrataOrigin,
    e: Entity,
    id: u64,
    chunk: ChunkKey,
) {
    let Some(bytes) = encode(world, registry, &st.types, origin, e) else { return };
    if st.written.get(&id).is_some_and(|(c, b)| *c == chunk && *b == bytes) {
        return;
    }
    let sw = world.resource::<StrataWorld>();
    if let Some((old, _)) = st.written.get(&id)
        && *old != chunk
    {
        let _ = sw.world.set_entity_data(*old, id, None);
    }
    match sw.world.set_entity_data(chunk, id, Some(bytes.clone())) {
        Ok(()) => {
            st.written.insert(id, (chunk, bytes));
        }
        Err(err) => warn!("strata: entity {e} (record {id}) is not saved: {err}"),
    }
}

/// Brings back the entities of `key` that are not live: each record of the resident chunk (or
/// the newer bytes this session wrote for it), except records this session moved elsewhere.
fn respawn(world: &mut World, st: &mut PersistState, registry: &TypeRegistry, origin: StrataOrigin, key: ChunkKey) {
    let Some(side) = world.resource::<StrataWorld>().world.resident_side(key) else { return };
    let mut ids: Vec<u64> = side.entities().map(|(id, _)| id).collect();
    if let Some(released) = st.released.remove(&key) {
        ids.extend(released);
    }
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        if st.entity_of.contains_key(&id) || st.unreadable.contains(&id) {
            continue;
        }
        let bytes = match st.written.get(&id) {
            Some((chunk, bytes)) if *chunk == key => bytes.clone(),
            // Written elsewhere since: this copy is stale (its removal is on its way).
            Some(_) => continue,
            None => match side.entity(id) {
                Some(b) => b.to_vec(),
                None => continue,
            },
        };
        match decode(&bytes, registry) {
            Ok(parts) => {
                let mut entity = world.spawn(PersistWithChunk { id });
                for part in parts {
                    insert(&mut entity, registry, origin, part);
                }
                let e = entity.id();
                st.live.insert(e, id);
                st.entity_of.insert(id, e);
                st.written.entry(id).or_insert((key, bytes));
            }
            Err(err) => {
                warn!("strata: entity record {id} of chunk {key:?} does not load ({err}); it is kept as it is");
                st.unreadable.insert(id);
            }
        }
    }
}

/// The persisted components of `e`, one RON text each in a RON list (`None` if it has none).
fn encode(
    world: &World,
    registry: &TypeRegistry,
    types: &[TypeId],
    origin: StrataOrigin,
    e: Entity,
) -> Option<Vec<u8>> {
    let entity = world.get_entity(e).ok()?;
    let mut parts = Vec::new();
    for ty in types {
        let text = if *ty == TypeId::of::<Transform>() {
            let Some(t) = entity.get::<Transform>() else { continue };
            let at = origin.to_world(t.translation);
            let saved = Transform { translation: Vec3::new(at.x as f32, at.y as f32, at.z as f32), ..*t };
            ron::to_string(&ReflectSerializer::new(&saved, registry))
        } else {
            let Some(rc) = registry.get_type_data::<ReflectComponent>(*ty) else { continue };
            let Some(value) = rc.reflect(entity) else { continue };
            ron::to_string(&ReflectSerializer::new(value.as_partial_reflect(), registry))
        };
        match text {
            Ok(text) => parts.push(text),
            Err(err) => warn!("strata: a component of entity {e} does not serialize: {err}"),
        }
    }
    ron::to_string(&parts).ok().map(String::into_bytes)
}

/// The components of a record, deserialized and made values of their own types.
///
/// Every part must make a value of its registered type before anything is spawned: bytes that
/// deserialize but that the type refuses (a validating `FromReflect`, a field a newer game
/// version changed) or a type that is not a reflected component make the whole record
/// unreadable — kept as it is, never half-loaded (`ReflectComponent::insert` would panic on
/// such a value, and a partial entity would be saved back without the refused component).
fn decode(bytes: &[u8], registry: &TypeRegistry) -> Result<Vec<Box<dyn Reflect>>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let parts: Vec<String> = ron::from_str(text).map_err(|e| e.to_string())?;
    parts
        .iter()
        .map(|part| {
            let mut de = ron::Deserializer::from_str(part).map_err(|e| e.to_string())?;
            let value = ReflectDeserializer::new(registry).deserialize(&mut de).map_err(|e| e.to_string())?;
            concrete(registry, &*value)
        })
        .collect()
}

/// `value` as a value of its registered type: through its `FromReflect` registration, or its
/// `Default` with the value applied when it has no `FromReflect` (what
/// `ReflectComponent::insert` would do, without its panics).
fn concrete(registry: &TypeRegistry, value: &dyn PartialReflect) -> Result<Box<dyn Reflect>, String> {
    let info = value.get_represented_type_info().ok_or("a component without type information")?;
    let (ty, path) = (info.type_id(), info.type_path());
    if ty != TypeId::of::<Transform>() && registry.get_type_data::<ReflectComponent>(ty).is_none() {
        return Err(format!("{path} is not a reflected component"));
    }
    if let Some(from) = registry.get_type_data::<ReflectFromReflect>(ty) {
        return from.from_reflect(value).ok_or_else(|| format!("{path} refuses the saved value"));
    }
    let Some(default) = registry.get_type_data::<ReflectDefault>(ty) else {
        return Err(format!("{path} registers neither FromReflect nor Default"));
    };
    let mut made = default.default();
    made.try_apply(value).map_err(|e| format!("{path}: {e}"))?;
    Ok(made)
}

/// Inserts a component made by [`decode`] (a `Transform` moved from world voxels to render
/// space).
fn insert(entity: &mut EntityWorldMut, registry: &TypeRegistry, origin: StrataOrigin, part: Box<dyn Reflect>) {
    let part = match part.downcast::<Transform>() {
        Ok(mut t) => {
            // World voxels to render space: minus the origin.
            t.translation += origin.to_render(VoxelPos::new(0, 0, 0));
            entity.insert(*t);
            return;
        }
        Err(part) => part,
    };
    // Invariant: `decode` checked the registration; the value is of its own type, which
    // `FromReflect` (or `Default`) takes back as it is.
    if let Some(rc) = registry.get_type_data::<ReflectComponent>(part.as_any().type_id()) {
        rc.insert(entity, part.as_partial_reflect(), registry);
    }
}
