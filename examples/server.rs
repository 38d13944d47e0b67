//! A headless Strata server: it keeps the game's world (a save file, or a Redis Cluster shared
//! with other servers) and streams it to the `game` clients that connect, taking their edits.
//!
//! ```text
//! cargo run --release --example server -- [--listen 0.0.0.0:5000] [--save server.strata | --redis URL] [--reach 12] [--metrics 127.0.0.1:9100]
//! cargo run --release --example game -- --connect 127.0.0.1:5000      # as many as you like
//! ```
//!
//! Unedited chunks cost nothing on the wire: every client generates them itself. Each client is
//! sent the edited chunks its view shows and every change to them; an edit is acknowledged once
//! it is durable in the save. `--reach` refuses edits farther than that from the player (voxels;
//! default 24: the game reaches 6, the bot below 16, and players move while their edits travel). Ctrl-C stops the server (the world is committed first).
//! Every 10 s it logs its clients and what it sent. `--metrics ADDR:PORT` serves its counters
//! (store, commits, streaming, network) for Prometheus at `http://ADDR:PORT/metrics`
//! (`StrataMetricsPlugin`).
//!
//! `server --bot ADDR:PORT` is a scripted player instead (for demos and the multiplayer
//! screenshot check, `tests/multiplayer_screenshot.sh`): a headless client that builds a magma
//! wall 13 voxels in front of the game's spawn point (where a new player looks), waits until
//! the server acknowledged it, and exits.

use bevy::app::ScheduleRunnerPlugin;
use bevy::prelude::*;
use bevy_strata::net::{self, NetLink};
use bevy_strata::prelude::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use strata::core::ChunkStore;

#[path = "shared/net_world.rs"]
mod net_world;

/// Where the world is kept.
enum Save {
    File(String),
    Redis(String),
}

struct Args {
    listen: SocketAddr,
    save: Save,
    reach: f64,
    bot: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: server [--listen ADDR:PORT] [--save FILE | --redis URL] [--reach VOXELS] [--metrics ADDR:PORT]"
    );
    std::process::exit(2);
}

fn args() -> Args {
    let mut args = Args {
        listen: ([0, 0, 0, 0], 5000).into(),
        save: Save::File("server.strata".into()),
        reach: 24.0,
        bot: None,
        metrics: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--listen" => args.listen = value().parse().unwrap_or_else(|e| usage(&format!("--listen: {e}"))),
            "--save" => args.save = Save::File(value()),
            "--redis" => args.save = Save::Redis(value()),
            "--reach" => args.reach = value().parse().unwrap_or_else(|e| usage(&format!("--reach: {e}"))),
            "--bot" => args.bot = Some(value().parse().unwrap_or_else(|e| usage(&format!("--bot: {e}")))),
            "--metrics" => {
                args.metrics = Some(value().parse().unwrap_or_else(|e| usage(&format!("--metrics: {e}"))));
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    args
}

/// The address to listen on, until the world is open.
#[derive(Resource)]
struct ListenOn(SocketAddr);

fn main() -> AppExit {
    let args = args();
    if let Some(server) = args.bot {
        return bot::run(server);
    }
    let config = net_world::config();
    let plugin = StrataPlugin::new(config.clone());
    let plugin = match args.save {
        Save::File(path) => plugin.with_save_file(path),
        Save::Redis(url) => {
            plugin.with_store_opener("redis", move || Ok(Arc::new(strata_redis::open(&url)?) as Arc<dyn ChunkStore>))
        }
    };
    let mut server = NetServer::new(net_world::identity(&config));
    server.reach = Some(args.reach);
    let mut app = headless(plugin);
    if let Some(addr) = args.metrics {
        app.add_plugins(bevy_strata::StrataMetricsPlugin::serving(addr));
    }
    app.add_plugins(StrataNetServerPlugin)
        .insert_resource(server)
        .insert_resource(ListenOn(args.listen))
        .add_systems(Update, (listen_when_open, report_every_10_s))
        .run()
}

/// A headless app at 60 frames a second with logs, the plugin and the transport (the server's
/// or the bot's).
fn headless(plugin: StrataPlugin) -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(Duration::from_secs_f64(1.0 / 60.0))),
        bevy::log::LogPlugin::default(),
        StrataMinimalPlugins::with_plugin(plugin),
        NetPlugins,
    ));
    app
}

/// Opens the socket once the world is open (a client welcomed before would be refused).
fn listen_when_open(world: &mut World) {
    let Some(ListenOn(addr)) = world.get_resource::<ListenOn>().map(|l| ListenOn(l.0)) else { return };
    match world.resource::<StrataStatus>() {
        StrataStatus::Ready(_) => {}
        StrataStatus::Failed(e) => {
            error!("the world did not open: {e}");
            world.write_message(AppExit::error());
            world.remove_resource::<ListenOn>();
            return;
        }
        _ => return,
    }
    world.remove_resource::<ListenOn>();
    match net::listen(world, addr, 64) {
        Ok(at) => info!("strata server: listening on {at} (protocol id {:#x})", net::PROTOCOL_ID),
        Err(e) => {
            error!("strata server: cannot listen on {addr}: {e}");
            world.write_message(AppExit::error());
        }
    }
}

/// Logs the clients, what they hold and what waits for them.
fn report_every_10_s(
    time: Res<Time<Real>>,
    mut last: Local<Duration>,
    server: Res<NetServer>,
    links: Query<&NetLink>,
    persistence: Option<Res<StrataPersistence>>,
) {
    if time.elapsed() < *last + Duration::from_secs(10) {
        return;
    }
    *last = time.elapsed();
    let (clients, known, queued) = links.iter().fold((0, 0, 0), |(c, k, q), l| {
        (c + usize::from(l.session.is_some()), k + l.known_chunks(), q + l.queued_chunks())
    });
    let commits = persistence.map_or(0, |p| p.commits);
    info!(
        "strata server: {clients} clients holding {known} chunk records, {queued} queued, {} edits awaiting their commit, {commits} commits",
        server.unacknowledged()
    );
}

/// The scripted player (`--bot`).
mod bot {
    use super::*;
    use bevy_strata::net::{EditSettled, Settled};
    use strata::geo::{NoiseTerrain, TerrainConfig};

    /// The ground height at the game's spawn point.
    fn ground(config: &StrataConfig) -> i32 {
        let terrain = NoiseTerrain::new(TerrainConfig { seed: config.terrain_seed, ..TerrainConfig::default() });
        terrain.height(0, 0).max(terrain.config().sea_level)
    }

    /// The wall: 13 voxels in front of the spawn point (the game's player looks along −z), 21
    /// wide, from 2 below the ground to 20 above it.
    fn wall(config: &StrataConfig) -> ClientEdit {
        let ground = ground(config);
        let magma = MaterialRegistry::builtin().id("magma").unwrap_or(MaterialId(1));
        ClientEdit::FillBox {
            min: VoxelPos::new(-10, ground - 2, -13),
            max: VoxelPos::new(10, ground + 20, -13),
            material: magma,
        }
    }

    #[derive(Resource)]
    struct Script {
        server: SocketAddr,
        edit: Option<ClientEdit>,
        started: Option<Duration>,
    }

    pub fn run(server: SocketAddr) -> AppExit {
        let config = StrataConfig { view_distance: 64.0, ..net_world::config() };
        let client = NetClient::new("bot", net_world::identity(&config));
        let plugin = StrataPlugin::new(config.clone()).with_store(client.store());
        let wall = wall(&config);
        headless(plugin)
            .add_plugins(StrataNetClientPlugin)
            .insert_resource(client)
            .insert_resource(Script { server, edit: Some(wall), started: None })
            // The bot flies between the spawn point and the wall (within the server's reach: at
            // most 16 voxels from every corner).
            .add_systems(Startup, move |mut commands: Commands| {
                let eye = Vec3::new(0.5, ground(&config) as f32 + 9.0, -8.0);
                commands.spawn((StreamingViewer::default(), Transform::from_translation(eye)));
            })
            .add_systems(Update, play)
            .run()
    }

    /// Connects, builds the wall once welcomed and its view loaded, exits once it is
    /// acknowledged (or after 60 s).
    fn play(world: &mut World) {
        let now = world.resource::<Time<Real>>().elapsed();
        let mut script = world.resource_mut::<Script>();
        let started = *script.started.get_or_insert(now);
        if now.saturating_sub(started) > Duration::from_secs(60) {
            error!("bot: the wall was not acknowledged within 60 s");
            world.write_message(AppExit::error());
            return;
        }
        if now == started {
            let server = script.server;
            if let Err(e) = net::connect(world, server, strata::core::WorldId::random().0) {
                error!("bot: cannot connect to {server}: {e}");
                world.write_message(AppExit::error());
            }
            return;
        }
        let problem = match &world.resource::<NetClient>().status {
            NetStatus::Connected(_) => None,
            NetStatus::Refused(e) => Some(e.to_string()),
            NetStatus::Lost(e) => Some(e.clone()),
            _ => return,
        };
        if let Some(e) = problem {
            error!("bot: {e}");
            world.write_message(AppExit::error());
            return;
        }
        // The answer first, every frame: a message lives two frames, and the view is remeshed
        // (not complete) while the server's records of the wall arrive with it.
        let settled: Vec<_> = world.resource_mut::<Messages<EditSettled>>().drain().collect();
        // Once its view is loaded (the server knows where it stands by then).
        if settled.is_empty() && !world.resource::<StrataStreaming>().plan().is_complete() {
            return;
        }
        if let Some(edit) = world.resource_mut::<Script>().edit.take() {
            info!("bot: building {edit:?}");
            world.resource_mut::<NetClient>().edit(edit);
            return;
        }
        for EditSettled(settled) in settled {
            match settled {
                Settled::Accepted { sequence, .. } => {
                    info!("bot: the wall is built, durable in commit {sequence}");
                    world.write_message(AppExit::Success);
                }
                Settled::Rejected { reason, .. } => {
                    error!("bot: the server refused the wall: {reason}");
                    world.write_message(AppExit::error());
                }
            }
        }
    }
}
