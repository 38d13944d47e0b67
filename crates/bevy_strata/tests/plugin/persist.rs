//! `PersistWithChunk` entities are saved with their chunks: they come back after a restart
//! with their components, leave the game when their chunk leaves the world and come back with
//! it, and an entity the game despawned stays gone.

use crate::common::*;
use bevy::prelude::*;
use bevy_strata::prelude::*;
use strata_core::ChunkKey;

/// A game's component, saved by reflection.
#[derive(Component, Reflect, Clone, Debug, Default, PartialEq)]
#[reflect(Component)]
struct Loot {
    gold: u32,
    name: String,
}

fn app_on(path: &std::path::Path) -> App {
    app_persisting(path, StrataPersistPlugin::default().with::<Loot>())
}

/// A saved app with `plugin` and a viewer at the origin.
fn app_persisting(path: &std::path::Path, plugin: StrataPersistPlugin) -> App {
    let mut app = saved_app(path, |app| {
        app.add_plugins(plugin);
    });
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(0.0, 4.0, 0.0)));
    app
}

/// The persisted entities: id → (entity, loot, translation).
fn persisted(app: &mut App) -> std::collections::BTreeMap<u64, (Entity, Loot, Vec3)> {
    let mut q = app.world_mut().query::<(Entity, &PersistWithChunk, &Loot, &Transform)>();
    q.iter(app.world()).map(|(e, p, l, t)| (p.id, (e, l.clone(), t.translation))).collect()
}

fn resident(app: &App, key: ChunkKey) -> bool {
    app.world().resource::<bevy_strata::StrataWorld>().world.is_resident(key)
}

#[test]
fn marked_entities_come_back_after_a_restart_and_despawned_ones_stay_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    let chest = Loot { gold: 3, name: "chest".into() };
    let barrel = Loot { gold: 40, name: "barrel".into() };
    let (a, b) = (Vec3::new(5.5, 1.0, 7.25), Vec3::new(40.0, 1.5, -3.0));
    let ids;
    {
        let mut app = app_on(&path);
        run_until(&mut app, 5000, "the chunks under the entities", |app| {
            resident(app, ChunkKey::new(0, 0, 0)) && resident(app, ChunkKey::new(1, 0, -1))
        });
        let pa = PersistWithChunk::new();
        app.world_mut().spawn((pa, Transform::from_translation(a), chest.clone()));
        app.world_mut().spawn((PersistWithChunk::default(), Transform::from_translation(b), barrel.clone()));
        // Not marked: not saved.
        app.world_mut().spawn((Transform::from_translation(a), Loot { gold: 1, name: "stray".into() }));
        app.update();
        ids = persisted(&mut app).keys().copied().collect::<Vec<_>>();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&pa.id) && !ids.contains(&0), "a zero id is replaced: {ids:?}");
        exit(app);
    }
    let removed;
    {
        let mut app = app_on(&path);
        run_until(&mut app, 5000, "both entities respawned", |app| persisted(app).len() == 2);
        for _ in 0..30 {
            app.update();
        }
        let got = persisted(&mut app);
        assert_eq!(got.keys().copied().collect::<Vec<_>>(), ids, "the same ids, once each");
        let by_name: std::collections::HashMap<String, (Loot, Vec3)> =
            got.values().map(|(_, l, t)| (l.name.clone(), (l.clone(), *t))).collect();
        assert_eq!(by_name["chest"], (chest.clone(), a));
        assert_eq!(by_name["barrel"], (barrel.clone(), b));
        let mut q = app.world_mut().query::<&Loot>();
        assert_eq!(q.iter(app.world()).count(), 2, "the unmarked entity was not saved");
        // The game despawns the barrel: its record goes.
        let (&id, &(e, _, _)) = got.iter().find(|(_, (_, l, _))| l.name == "barrel").unwrap();
        removed = id;
        app.world_mut().despawn(e);
        app.update();
        exit(app);
    }
    let mut app = app_on(&path);
    run_until(&mut app, 5000, "the chest respawned", |app| !persisted(app).is_empty());
    for _ in 0..30 {
        app.update();
    }
    let got = persisted(&mut app);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(!got.contains_key(&removed));
    let sw = app.world().resource::<bevy_strata::StrataWorld>();
    let stored = sw.world.store().get_stored(ChunkKey::new(1, 0, -1)).unwrap().map(|s| s.side);
    assert!(stored.is_none_or(|s| s.entity(removed).is_none()), "the barrel's record is gone from the save");
}

/// An entity carried into a chunk the world does not hold is saved there and despawned, and
/// comes back once that chunk is resident; its old chunk's record goes in the same commit.
#[test]
fn an_entity_leaves_with_its_chunk_and_comes_back_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_on(&dir.path().join("w.strata"));
    run_until(&mut app, 5000, "the chunk under the entity", |app| resident(app, ChunkKey::new(0, 0, 0)));
    let marker = PersistWithChunk::new();
    let loot = Loot { gold: 7, name: "crate".into() };
    let first = app.world_mut().spawn((marker, Transform::from_xyz(3.0, 1.0, 3.0), loot.clone())).id();
    for _ in 0..40 {
        app.update();
    }
    // Moved far outside the view, into a chunk nobody loaded.
    let far = Vec3::new(20_000.5, 1.0, 3.0);
    let far_chunk = ChunkKey::new(625, 0, 0);
    assert!(!resident(&app, far_chunk));
    app.world_mut().entity_mut(first).insert(Transform::from_translation(far));
    app.update();
    assert!(app.world().get_entity(first).is_err(), "released with its chunk");
    run_until(&mut app, 5000, "back once its chunk is resident", |app| {
        persisted(app).get(&marker.id).is_some_and(|(_, l, t)| *l == loot && *t == far)
    });
    assert_eq!(persisted(&mut app).len(), 1);
    let request = app.world_mut().resource_mut::<StrataPersistence>().commit_now();
    run_until(&mut app, 2000, "the commit", |app| app.world().resource::<StrataPersistence>().is_durable(request));
    let sw = app.world().resource::<bevy_strata::StrataWorld>();
    let side = |key| sw.world.store().get_stored(key).unwrap().map(|s| s.side).unwrap_or_default();
    assert!(side(far_chunk).entity(marker.id).is_some());
    assert!(side(ChunkKey::new(0, 0, 0)).entity(marker.id).is_none(), "its old record went");
}

/// A game component that checks what it is made from: a level above 10 is refused (as a newer
/// game version may refuse what an older one saved). No `Default`: nothing to fall back on.
#[derive(Component, Reflect, Clone, Debug, PartialEq)]
#[reflect(Component, FromReflect, from_reflect = false)]
struct Level(u8);

impl FromReflect for Level {
    fn from_reflect(value: &dyn PartialReflect) -> Option<Self> {
        let level = *value.reflect_ref().as_tuple_struct().ok()?.field(0)?.try_downcast_ref::<u8>()?;
        (level <= 10).then_some(Level(level))
    }
}

fn levels(app: &mut App) -> Vec<(u64, u8)> {
    let mut q = app.world_mut().query::<(&PersistWithChunk, &Level)>();
    let mut v: Vec<(u64, u8)> = q.iter(app.world()).map(|(p, l)| (p.id, l.0)).collect();
    v.sort_unstable();
    v
}

/// A record whose bytes deserialize but that its component type refuses is left in the save as
/// it is and spawns nothing (no panic, no half entity saved back without it); the other records
/// of its chunk load.
#[test]
fn a_record_its_component_refuses_is_kept_and_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.strata");
    let app_with_levels = |path: &std::path::Path| app_persisting(path, StrataPersistPlugin::default().with::<Level>());
    let (good, bad) = (PersistWithChunk::new(), PersistWithChunk::new());
    let key = ChunkKey::new(0, 0, 0);
    {
        let mut app = app_with_levels(&path);
        run_until(&mut app, 5000, "the chunk under the entities", |app| resident(app, key));
        app.world_mut().spawn((good, Transform::from_xyz(2.5, 1.0, 2.5), Level(3)));
        // Saved as it is: the serializer does not ask the type.
        app.world_mut().spawn((bad, Transform::from_xyz(4.5, 1.0, 4.5), Level(50)));
        app.update();
        exit(app);
    }
    let mut app = app_with_levels(&path);
    run_until(&mut app, 5000, "the readable record respawned", |app| !levels(app).is_empty());
    for _ in 0..30 {
        app.update();
    }
    assert_eq!(levels(&mut app), vec![(good.id, 3)]);
    exit(app);
    let app = app_with_levels(&path);
    let sw = app.world().resource::<bevy_strata::StrataWorld>();
    let side = sw.world.store().get_stored(key).unwrap().map(|s| s.side).unwrap_or_default();
    assert!(side.entity(bad.id).is_some(), "the refused record is still in the save");
    assert!(side.entity(good.id).is_some());
}
