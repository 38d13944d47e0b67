//! `--net`: Strata's multiplayer over loopback UDP (`bevy_strata::net`: replicon + renet), for
//! the report's `net` area. Every app runs in this process on one thread, updated in turn as
//! fast as they go (the task pools are shared, [`Pools::STRATA`]).
//!
//! - `--net visible`: a server (a redb save in a temporary directory: commits are durable, as
//!   a player's edits must be before they are acknowledged) and two clients with the default
//!   view at the spawn point. Client A makes [`EDITS`] single-voxel edits one at a time, each
//!   in a chunk of B's level-0 view, the next once the last was seen and at least 100 ms after
//!   the last began (a player's pace, within the server's edit rate); each is timed from A's
//!   `NetClient::edit` (before A's next update) to B's `NodeRemeshed` of the edited chunk: the
//!   voxel is meshed on the other client. Prints `edit_visible_p50_ms`, `edit_visible_p99_ms`,
//!   `edit_visible_max_ms`, the server's commit times (`commit_p50_ms`, `commit_p99_ms`: the
//!   store's write and fsync) and, on a line before, the three slowest edits with the commit
//!   each waited for.
//! - `--net load`: a server whose world (a redb save) has edited chunks spread over the flight
//!   area (about 1 % of the surface chunks within [`AREA`] voxels of the spawn point, a ball dug
//!   or built in each) and `--clients N` simulated clients (protocol clients without a world of their own:
//!   what a server sees of real ones), each flying from the spawn point at 64 voxels/s in its
//!   own direction at 40 voxels above the ground, reporting its view as the game does (every 8
//!   voxels) with the default view settings. The server's frame time is the wall time of its
//!   `App::update` (its main thread: protocol, interest sets, store scans, sends). Prints
//!   `server_main_thread_p50_ms`, `server_main_thread_p99_ms`, `server_main_thread_max_ms` over
//!   the flight (after the first view's burst: from the first second of flight on) and
//!   `bytes_per_s_per_client` (chunk data the clients received over the flight, per second, per
//!   client).

use crate::pools::Pools;
use bevy::math::DVec3;
use bevy::prelude::*;
use bevy_strata::net::{
    self, ClientEdit, NetClient, NetPlugins, NetServer, NetStatus, StrataNetClientPlugin, StrataNetServerPlugin,
    ToClient, WorldIdentity, world_identity,
};
use bevy_strata::prelude::*;
use bevy_strata::{NodeRemeshed, StrataStreaming, ViewerPositions};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_core::rng::SplitMix64;
use strata_core::{ChunkStore, Edit, MaterialId, MaterialRegistry, VoxelPos, World, WorldConfig, WorldGenerator};
use strata_geo::{NoiseTerrain, TerrainConfig};
use strata_index::NodeId;

/// Edits timed by `--net visible`.
pub const EDITS: usize = 100;
/// Radius (voxels) around the spawn point of the edited chunks of `--net load`.
pub const AREA: i32 = 1600;
/// How fast the simulated clients fly.
const SPEED: f64 = 64.0;

fn identity() -> WorldIdentity {
    let terrain = TerrainConfig { seed: StrataConfig::default().terrain_seed, ..TerrainConfig::default() };
    world_identity("strata_geo::NoiseTerrain", format!("{terrain:?}"), &MaterialRegistry::builtin())
}

fn terrain() -> Arc<NoiseTerrain> {
    Arc::new(NoiseTerrain::new(TerrainConfig {
        seed: StrataConfig::default().terrain_seed,
        ..TerrainConfig::default()
    }))
}

fn ground(terrain: &NoiseTerrain, x: i32, z: i32) -> i32 {
    terrain.height(x, z).max(terrain.config().sea_level)
}

fn strata_app(plugin: StrataPlugin, extend: impl FnOnce(&mut App)) -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins.set(Pools::STRATA.plugin()),
        TransformPlugin,
        StrataMinimalPlugins::with_plugin(plugin),
    ));
    extend(&mut app);
    app.finish();
    app.cleanup();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Open, not ready: a client is `Connecting` until its server (stepped later) welcomes it.
    while matches!(app.world().resource::<StrataStatus>(), StrataStatus::Loading) {
        assert!(Instant::now() < deadline, "the world did not open within 60 s");
        app.update();
    }
    if let StrataStatus::Failed(e) = app.world().resource::<StrataStatus>() {
        panic!("the world did not open: {e}");
    }
    app
}

/// A server over `store`, listening on an ephemeral loopback port.
fn server(store: Arc<dyn ChunkStore>, max_clients: usize) -> Result<(App, SocketAddr), String> {
    let mut app = strata_app(StrataPlugin::new(StrataConfig::default()).with_store(store), |app| {
        app.add_plugins((NetPlugins, StrataNetServerPlugin)).insert_resource(NetServer::new(identity()));
    });
    let addr = net::listen(app.world_mut(), SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0), max_clients)
        .map_err(|e| e.to_string())?;
    Ok((app, addr))
}

/// A game client (the plugin with the default view, its world read from the server) with a
/// viewer at `eye`.
fn game_client(server: SocketAddr, id: u64, eye: Vec3) -> Result<App, String> {
    let client = NetClient::new(format!("client {id}"), identity());
    let store = client.store();
    let mut app = strata_app(StrataPlugin::new(StrataConfig::default()).with_store(store), |app| {
        app.add_plugins((NetPlugins, StrataNetClientPlugin)).insert_resource(client);
    });
    net::connect(app.world_mut(), server, id).map_err(|e| e.to_string())?;
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_translation(eye)));
    Ok(app)
}

fn connected(app: &App) -> bool {
    matches!(app.world().resource::<NetClient>().status, NetStatus::Connected(_))
}

/// Steps `apps` in turn until `done` or `limit`.
fn step_until(apps: &mut [&mut App], limit: Duration, mut done: impl FnMut(&mut [&mut App]) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        for app in apps.iter_mut() {
            app.update();
        }
        if done(apps) {
            return true;
        }
    }
    false
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// `--net visible`.
pub fn visible() -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store: Arc<dyn ChunkStore> =
        Arc::new(strata_redb::RedbStore::open(dir.path().join("server.strata")).map_err(|e| e.to_string())?);
    let terrain = terrain();
    let (mut server, addr) = server(store, 4)?;
    let g = ground(&terrain, 0, 0) as f32;
    let eye = Vec3::new(0.5, g + 1.6, 0.5);
    let mut a = game_client(addr, 1, eye)?;
    let mut b = game_client(addr, 2, eye)?;
    let ready = step_until(&mut [&mut a, &mut server, &mut b], Duration::from_secs(120), |apps| {
        [0, 2].iter().all(|&i| connected(apps[i]) && apps[i].world().resource::<StrataStreaming>().is_idle())
    });
    if !ready {
        return Err("the clients did not connect and load their view within 120 s".into());
    }
    let mut rng = SplitMix64(0x7669_7369);
    let mut times = Vec::with_capacity(EDITS);
    // The server's commit that made each edit durable (its store write, fsync included).
    let mut commits = Vec::with_capacity(EDITS);
    let mut used = std::collections::HashSet::new();
    let mut last_start: Option<Instant> = None;
    for _ in 0..EDITS {
        // A surface voxel within 24 voxels of the spawn point (B's level-0 chunks), each column
        // once (a second edit of one voxel could change nothing, and nothing would be remeshed).
        let (x, z) = loop {
            let xz = (rng.range(-24, 25), rng.range(-24, 25));
            if used.insert(xz) {
                break xz;
            }
        };
        let y = terrain.height(x, z);
        let at = VoxelPos::new(x, y, z);
        let chunk = NodeId::new(0, at.chunk());
        let material = if terrain.material_at(at) == MaterialId::AIR { MaterialId(1) } else { MaterialId::AIR };
        // A player's pace (10 edits a second, half the server's default rate): the server
        // refuses edits over its rate, and a refused edit is seen by no one.
        if let Some(last) = last_start {
            step_until(
                &mut [&mut a, &mut server, &mut b],
                Duration::from_millis(100).saturating_sub(last.elapsed()),
                |_| false,
            );
        }
        b.world_mut().resource_mut::<Messages<NodeRemeshed>>().clear();
        let start = Instant::now();
        last_start = Some(start);
        a.world_mut().resource_mut::<NetClient>().edit(ClientEdit::Set(at, material));
        let seen = step_until(&mut [&mut a, &mut server, &mut b], Duration::from_secs(10), |apps| {
            apps[2].world_mut().resource_mut::<Messages<NodeRemeshed>>().drain().any(|r| r.node == chunk)
        });
        if !seen {
            let server_has = server.world_mut().resource_mut::<bevy_strata::StrataWorld>().world.voxel(at).ok();
            let b_has = b
                .world()
                .resource::<bevy_strata::StrataWorld>()
                .world
                .resident_chunk(at.chunk())
                .map(|c| c.get(at.local().index()));
            let b_holds = b.world().resource::<NetClient>().store().holds(at.chunk());
            let a_pending = a.world().resource::<NetClient>().pending_edits();
            let shown = b.world().resource::<StrataStreaming>().plan().is_shown(chunk);
            return Err(format!(
                "client B never remeshed {chunk:?} after A's edit {} of {at:?} to {material:?}: server {server_has:?}, \
                 B {b_has:?} (record held: {b_holds}, node shown: {shown}), A pending {a_pending}",
                times.len()
            ));
        }
        times.push(start.elapsed().as_secs_f64() * 1e3);
        let receipt = server.world().resource::<StrataPersistence>().last_receipt;
        commits.push(receipt.map_or(f64::NAN, |r| r.duration.as_secs_f64() * 1e3));
        // Settle A's edit before the next one (its acknowledgement follows B's view of it).
        step_until(&mut [&mut a, &mut server, &mut b], Duration::from_secs(10), |apps| {
            apps[0].world().resource::<NetClient>().pending_edits() == 0
        });
    }
    // The slowest edits, with the commit each waited for: what the time went to.
    let mut slowest: Vec<(f64, f64)> = times.iter().copied().zip(commits.iter().copied()).collect();
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    let slowest: Vec<String> = slowest.iter().take(3).map(|(t, c)| format!("{t:.1}/{c:.1}")).collect();
    times.sort_by(f64::total_cmp);
    commits.sort_by(f64::total_cmp);
    Ok(format!(
        "slowest edits (visible ms / their commit ms): {}\nedits={} edit_visible_p50_ms={:.2} \
         edit_visible_p99_ms={:.2} edit_visible_max_ms={:.2} commit_p50_ms={:.2} commit_p99_ms={:.2} {}",
        slowest.join(", "),
        times.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.last().copied().unwrap_or(f64::NAN),
        percentile(&commits, 0.5),
        percentile(&commits, 0.99),
        Pools::STRATA.describe()
    ))
}

/// A redb save in `dir` holding about 1 % of the surface chunks within [`AREA`] of the spawn
/// point, each with a ball dug or built in it.
fn edited_world(terrain: &Arc<NoiseTerrain>, dir: &std::path::Path) -> Result<(Arc<dyn ChunkStore>, usize), String> {
    let store: Arc<dyn ChunkStore> =
        Arc::new(strata_redb::RedbStore::open(dir.join("server.strata")).map_err(|e| e.to_string())?);
    let mut world = World::new(store.clone(), terrain.clone(), WorldConfig::default());
    let mut rng = SplitMix64(0x6c6f_6164);
    let columns = (2 * AREA / 32) as usize;
    // Surface chunks: about one per column (two where the surface crosses a chunk border).
    let count = columns * columns / 100;
    for _ in 0..count {
        let (x, z) = (rng.range(-AREA, AREA), rng.range(-AREA, AREA));
        if x * x + z * z > AREA * AREA {
            continue;
        }
        let at = VoxelPos::new(x, terrain.height(x, z) + rng.range(-3, 4), z);
        let material = if terrain.material_at(at) == MaterialId::AIR { MaterialId(1) } else { MaterialId::AIR };
        world.push_edit(Edit::FillSphere { center: at, radius: 4.0, material });
    }
    world.commit().map_err(|e| e.to_string())?;
    let records = store.stats().map_err(|e| e.to_string())?.records as usize;
    Ok((store, records))
}

/// Bytes of chunk data a simulated client received.
#[derive(Resource, Default)]
struct Received(usize);

fn count_received(mut frames: MessageReader<ToClient>, mut received: ResMut<Received>) {
    received.0 += frames.read().map(|f| f.0.len()).sum::<usize>();
}

/// A protocol client without a world: it says hello and reports a viewer.
fn simulated_client(server: SocketAddr, id: u64, at: DVec3) -> Result<App, String> {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins.set(Pools::STRATA.plugin()), NetPlugins, StrataNetClientPlugin))
        .insert_resource(NetClient::new(format!("sim {id}"), identity()))
        .insert_resource(ViewerPositions { viewers: vec![(at, f64::from(StrataConfig::default().view_distance))] })
        .insert_resource(StrataConfig::default())
        .init_resource::<Received>()
        .add_systems(Update, count_received);
    app.finish();
    app.cleanup();
    net::connect(app.world_mut(), server, id).map_err(|e| e.to_string())?;
    Ok(app)
}

/// `--net load`.
pub fn load(clients: usize, flight_s: f64) -> Result<String, String> {
    let terrain = terrain();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (store, records) = edited_world(&terrain, dir.path())?;
    let (mut server, addr) = server(store, clients + 1)?;
    let height = f64::from(ground(&terrain, 0, 0)) + 40.0;
    let start = DVec3::new(0.5, height, 0.5);
    let mut sims =
        (0..clients).map(|i| simulated_client(addr, 100 + i as u64, start)).collect::<Result<Vec<_>, _>>()?;
    let joined = {
        let started = Instant::now();
        loop {
            for s in &mut sims {
                s.update();
            }
            server.update();
            if sims.iter().all(connected) {
                break true;
            }
            if started.elapsed() > Duration::from_secs(60) {
                break false;
            }
        }
    };
    if !joined {
        return Err("the simulated clients did not connect within 60 s".into());
    }
    let received_before: usize = sims.iter().map(|s| s.world().resource::<Received>().0).sum();
    let mut frames = Vec::new();
    let flight = Instant::now();
    let mut received_from_1s = None;
    while flight.elapsed().as_secs_f64() < flight_s {
        let t = flight.elapsed().as_secs_f64();
        for (i, s) in sims.iter_mut().enumerate() {
            let angle = i as f64 / clients as f64 * std::f64::consts::TAU;
            let at = start + DVec3::new(angle.cos(), 0.0, angle.sin()) * SPEED * t;
            s.world_mut().resource_mut::<ViewerPositions>().viewers[0].0 = at;
            s.update();
        }
        let frame = Instant::now();
        server.update();
        let ms = frame.elapsed().as_secs_f64() * 1e3;
        if t >= 1.0 {
            frames.push(ms);
            received_from_1s
                .get_or_insert_with(|| sims.iter().map(|s| s.world().resource::<Received>().0).sum::<usize>());
        }
    }
    let flown = flight.elapsed().as_secs_f64();
    let received: usize = sims.iter().map(|s| s.world().resource::<Received>().0).sum();
    let counted_s = (flown - 1.0).max(1e-9);
    let per_client = (received - received_from_1s.unwrap_or(received_before)) as f64 / counted_s / clients as f64;
    frames.sort_by(f64::total_cmp);
    let (updates, lag) = server.world().resource::<NetServer>().interest_updates();
    Ok(format!(
        "clients={clients} stored_chunks={records} interest_updates={updates} interest_lag_max_ms={:.1} \
         server_frames={} server_main_thread_p50_ms={:.3} \
         server_main_thread_p99_ms={:.3} server_main_thread_max_ms={:.3} bytes_per_s_per_client={:.0} \
         first_second_bytes_per_client={:.0} {}",
        lag.as_secs_f64() * 1e3,
        frames.len(),
        percentile(&frames, 0.5),
        percentile(&frames, 0.99),
        frames.last().copied().unwrap_or(f64::NAN),
        per_client,
        (received_from_1s.unwrap_or(received_before) - received_before) as f64 / clients as f64,
        Pools::STRATA.describe()
    ))
}
