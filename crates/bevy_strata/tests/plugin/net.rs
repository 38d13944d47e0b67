//! The multiplayer handshake over real UDP sockets on 127.0.0.1 (`bevy_replicon` over renet): a
//! server app and client apps in one process, stepped in turn.

use crate::common;
use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy_replicon::prelude::*;
use bevy_replicon_renet::netcode::{
    ClientAuthentication, NetcodeClientTransport, NetcodeServerTransport, ServerAuthentication, ServerConfig,
};
use bevy_replicon_renet::renet::ConnectionConfig;
use bevy_replicon_renet::{RenetChannelsExt, RenetClient, RenetServer, RepliconRenetPlugins};
use bevy_strata::net::EditSettled;
use bevy_strata::net::{
    ClientDropped, ClientJoined, DropReason, NetClient, NetServer, NetStatus, StrataNetClientPlugin,
    StrataNetServerPlugin, ToServer,
};
use bevy_strata::{NodeRemeshed, StrataPersistence, StrataPlugin, StrataStreaming, StrataWorld, StreamingViewer};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;
use strata_core::WorldId;
use strata_core::store::{ChunkStore, CommitReceipt, ScanVisitor, StoreError, WriteBatch};
use strata_core::{ChunkKey, MaterialId, MemoryStore, MortonKey, VoxelPos};
use strata_index::NodeId;
use strata_net::client::Settled;
use strata_net::{ClientEdit, Rejection};
use strata_net::{HandshakeError, WorldIdentity};

const PROTOCOL_ID: u64 = 0x5354_5241_5441;

fn identity() -> WorldIdentity {
    WorldIdentity {
        generator_kind: "strata_geo::PlanetGenerator".into(),
        generator_settings: "(seed: 7)".into(),
        materials: ["air", "stone", "grass", "water"].map(String::from).to_vec(),
    }
}

fn now() -> std::time::Duration {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).expect("a clock after 1970")
}

fn connection(app: &App) -> ConnectionConfig {
    let channels = app.world().resource::<RepliconChannels>();
    ConnectionConfig {
        server_channels_config: channels.server_configs(),
        client_channels_config: channels.client_configs(),
        ..Default::default()
    }
}

/// A headless Strata app over the flat test world (ground below y = 0) with replicon, renet
/// and `net` (the server or client plugin), started.
fn strata_app(customize: impl FnOnce(StrataPlugin) -> StrataPlugin, net: impl Plugin) -> App {
    let mut app = common::flat_app_extended(
        customize,
        |app| {
            app.add_plugins((StatesPlugin, RepliconPlugins, RepliconRenetPlugins, net));
        },
        common::small_view(),
        0,
    );
    common::wait_started(&mut app);
    app
}

/// A server of `identity` on an ephemeral port, over an in-memory world.
fn server(identity: WorldIdentity) -> (App, u16) {
    server_with(identity, |_| {})
}

/// [`server`] with its limits changed by `tune`.
fn server_with(identity: WorldIdentity, tune: impl FnOnce(&mut NetServer)) -> (App, u16) {
    server_over(|p| p, identity, tune)
}

/// [`server_with`] over the save `customize` gives its plugin.
fn server_over(
    customize: impl FnOnce(StrataPlugin) -> StrataPlugin,
    identity: WorldIdentity,
    tune: impl FnOnce(&mut NetServer),
) -> (App, u16) {
    let mut app = strata_app(customize, StrataNetServerPlugin);
    let socket = UdpSocket::bind(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0)).expect("bind 127.0.0.1");
    let addr = socket.local_addr().expect("a local address");
    let config = ServerConfig {
        current_time: now(),
        max_clients: 8,
        protocol_id: PROTOCOL_ID,
        public_addresses: vec![addr],
        authentication: ServerAuthentication::Unsecure,
    };
    let transport = NetcodeServerTransport::new(config, socket).expect("a server transport");
    let renet = RenetServer::new(connection(&app));
    let mut net = NetServer::new(identity);
    tune(&mut net);
    app.insert_resource(renet).insert_resource(transport).insert_resource(net);
    (app, addr.port())
}

fn client(id: u64, port: u16, identity: WorldIdentity) -> App {
    let net = NetClient::new(format!("client {id}"), identity);
    let store = net.store();
    let mut app = strata_app(|p| p.with_store(store), StrataNetClientPlugin);
    connect(&mut app, id, port);
    app.insert_resource(net);
    app
}

/// A client connection that speaks the frames but never says hello (no [`NetClient`]).
fn silent_client(id: u64, port: u16) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, StatesPlugin, RepliconPlugins, RepliconRenetPlugins, StrataNetClientPlugin));
    app.finish();
    connect(&mut app, id, port);
    app
}

/// Gives `app` a renet client connecting to `port` as client `id`.
fn connect(app: &mut App, id: u64, port: u16) {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1");
    let auth = ClientAuthentication::Unsecure {
        client_id: id,
        protocol_id: PROTOCOL_ID,
        server_addr: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
        user_data: None,
    };
    let transport = NetcodeClientTransport::new(now(), auth, socket).expect("a client transport");
    let renet = RenetClient::new(connection(app));
    app.insert_resource(renet).insert_resource(transport);
}

/// Steps the server and the clients until `done` or 5 s.
fn step_until(server: &mut App, clients: &mut [&mut App], mut done: impl FnMut(&App, &[&mut App]) -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed().as_secs_f32() < 5.0 {
        for c in clients.iter_mut() {
            c.update();
        }
        server.update();
        if done(server, clients) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    false
}

fn status(app: &App) -> NetStatus {
    app.world().resource::<NetClient>().status.clone()
}

fn drained<M: Message + Clone>(app: &mut App) -> Vec<M> {
    app.world_mut().resource_mut::<Messages<M>>().drain().collect()
}

#[test]
fn a_client_of_the_same_world_is_welcomed() {
    let (mut server, port) = server(identity());
    let mut a = client(1, port, identity());
    let ok = step_until(&mut server, &mut [&mut a], |_, c| matches!(status(c[0]), NetStatus::Connected(_)));
    assert!(ok, "not welcomed: {:?}", status(&a));
    let NetStatus::Connected(welcome) = status(&a) else { unreachable!() };
    let world = server.world().resource::<StrataWorld>().world.store().world_id();
    assert_eq!(welcome.world, world);
    assert_ne!(world, WorldId::UNSEALED);
    assert_eq!(welcome.identity, identity());
    let joined: Vec<ClientJoined> = drained(&mut server);
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0].session, a.world().resource::<NetClient>().session);
}

#[test]
fn a_generator_or_material_mismatch_is_the_same_typed_error_on_both_sides() {
    let (mut server, port) = server(identity());
    let mut other = identity();
    other.materials[2] = "moss".into();
    let mut b = client(2, port, other);
    let ok = step_until(&mut server, &mut [&mut b], |_, c| matches!(status(c[0]), NetStatus::Refused(_)));
    assert!(ok, "not refused: {:?}", status(&b));
    let want = HandshakeError::Material { id: 2, ours: "grass".into(), theirs: "moss".into() };
    assert_eq!(status(&b), NetStatus::Refused(want.clone()));
    let dropped: Vec<ClientDropped> = drained(&mut server);
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].reason, DropReason::Refused(want));
    // The server lets it go.
    let gone =
        step_until(&mut server, &mut [&mut b], |s, _| s.world().resource::<RenetServer>().connected_clients() == 0);
    assert!(gone, "the refused client is still connected");
}

#[test]
fn garbage_from_a_client_drops_it_and_the_others_stay() {
    let (mut server, port) = server(identity());
    let mut good = client(3, port, identity());
    let mut bad = client(4, port, identity());
    let ok = step_until(&mut server, &mut [&mut good, &mut bad], |_, c| {
        c.iter().all(|c| matches!(status(c), NetStatus::Connected(_)))
    });
    assert!(ok, "not both welcomed: {:?} {:?}", status(&good), status(&bad));
    drained::<ClientJoined>(&mut server);
    bad.world_mut().write_message(ToServer(vec![1, 2, 250, 0, 0].into()));
    let mut dropped = Vec::new();
    let ok = step_until(&mut server, &mut [&mut good, &mut bad], |s, _| {
        s.world().resource::<RenetServer>().connected_clients() == 1
    });
    dropped.extend(drained::<ClientDropped>(&mut server));
    assert!(ok, "the client that sent garbage is still connected");
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert!(matches!(dropped[0].reason, DropReason::BadMessage(_)), "{:?}", dropped[0].reason);
    assert!(matches!(status(&good), NetStatus::Connected(_)), "the other client stays: {:?}", status(&good));
    // A mismatching version byte is a refusal naming the versions.
    let mut late = client(5, port, identity());
    let ok = step_until(&mut server, &mut [&mut late], |_, c| matches!(status(c[0]), NetStatus::Connected(_)));
    assert!(ok);
    drained::<ClientDropped>(&mut server);
    late.world_mut().write_message(ToServer(vec![strata_net::PROTOCOL_VERSION + 1, 1].into()));
    let ok = step_until(&mut server, &mut [&mut late], |_, c| matches!(status(c[0]), NetStatus::Refused(_)));
    assert!(ok, "{:?}", status(&late));
    assert_eq!(
        status(&late),
        NetStatus::Refused(HandshakeError::Protocol {
            ours: strata_net::PROTOCOL_VERSION,
            theirs: strata_net::PROTOCOL_VERSION + 1
        })
    );
}

#[test]
fn a_flooding_client_is_dropped_and_the_others_stay() {
    let (mut server, port) = server_with(identity(), |s| {
        s.messages_per_second = 50.0;
        s.message_burst = 20;
    });
    let mut calm = client(6, port, identity());
    let mut noisy = client(7, port, identity());
    let ok = step_until(&mut server, &mut [&mut calm, &mut noisy], |_, c| {
        c.iter().all(|c| matches!(status(c), NetStatus::Connected(_)))
    });
    assert!(ok, "not both welcomed");
    let mut keep_alive = Vec::new();
    strata_net::ClientMessage::KeepAlive(strata_net::KeepAlive { nonce: 1, reply: false })
        .encode(&mut keep_alive)
        .expect("a keep-alive");
    for _ in 0..100 {
        noisy.world_mut().write_message(ToServer(keep_alive.clone().into()));
    }
    let ok = step_until(&mut server, &mut [&mut calm, &mut noisy], |s, _| {
        s.world().resource::<RenetServer>().connected_clients() == 1
    });
    assert!(ok, "the flooding client is still connected");
    let dropped: Vec<ClientDropped> = drained(&mut server);
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].reason, DropReason::Flooding(50.0));
    // The calm client keeps talking: a keep-alive of its own is answered, it stays connected.
    calm.world_mut().write_message(ToServer(keep_alive.into()));
    for _ in 0..20 {
        calm.update();
        server.update();
    }
    assert!(matches!(status(&calm), NetStatus::Connected(_)));
    assert_eq!(server.world().resource::<RenetServer>().connected_clients(), 1);
}

#[test]
fn a_connection_that_never_says_hello_is_dropped() {
    let (mut server, port) = server_with(identity(), |s| s.hello_timeout = std::time::Duration::from_millis(300));
    let mut mute = silent_client(8, port);
    let connected =
        step_until(&mut server, &mut [&mut mute], |s, _| s.world().resource::<RenetServer>().connected_clients() == 1);
    assert!(connected, "the connection was not made");
    let gone =
        step_until(&mut server, &mut [&mut mute], |s, _| s.world().resource::<RenetServer>().connected_clients() == 0);
    assert!(gone, "a connection without a hello keeps its slot");
    let dropped: Vec<ClientDropped> = drained(&mut server);
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].reason, DropReason::Silent(std::time::Duration::from_millis(300)));
}

/// Whether any client link of the server passes `f`.
fn any_link(server: &App, f: impl Fn(&bevy_strata::net::NetLink) -> bool) -> bool {
    server.world().try_query::<&bevy_strata::net::NetLink>().is_some_and(|mut q| q.iter(server.world()).any(f))
}

/// The viewer position the server holds for its only client.
fn seen_view(server: &mut App) -> Option<[f64; 3]> {
    let mut q = server.world_mut().query::<&bevy_strata::net::NetLink>();
    q.iter(server.world()).find_map(|l| l.view().and_then(|v| v.viewers.first().copied()))
}

#[test]
fn the_server_knows_where_a_client_looks_from() {
    let (mut server, port) = server(identity());
    let mut a = client(9, port, identity());
    let viewer = a
        .world_mut()
        .spawn((StreamingViewer { view_distance: Some(256.0) }, Transform::from_xyz(100.0, 20.0, -40.0)))
        .id();
    let at = |a: &mut App, x: f32| {
        a.world_mut().entity_mut(viewer).insert(Transform::from_xyz(x, 20.0, -40.0));
    };
    let ok = step_until(&mut server, &mut [&mut a], |s, _| any_link(s, |l| l.view().is_some()));
    assert!(ok, "the server never heard the client's view");
    assert_eq!(seen_view(&mut server), Some([100.0, 20.0, -40.0]));
    // A step smaller than the threshold is not worth a message; a larger one is.
    at(&mut a, 103.0);
    for _ in 0..30 {
        a.update();
        server.update();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(seen_view(&mut server), Some([100.0, 20.0, -40.0]));
    at(&mut a, 140.0);
    let ok = step_until(&mut server, &mut [&mut a], |s, _| {
        any_link(s, |l| l.view().is_some_and(|v| v.viewers[0][0] == 140.0))
    });
    assert!(ok, "the server did not hear the move: {:?}", seen_view(&mut server));
    let mut q = server.world_mut().query::<&bevy_strata::net::NetLink>();
    let view = q.iter(server.world()).find_map(|l| l.view().cloned()).expect("a view");
    assert_eq!((view.view_distance, view.lod_max_level), (256.0, common::small_view().lod_max_level as u8));
}

const GRASS: MaterialId = MaterialId(2);

/// An in-memory store whose commits fail while it is closed (a disk unplugged between
/// "applied" and "durable").
#[derive(Default)]
struct GatedStore {
    inner: MemoryStore,
    closed: AtomicBool,
}

impl ChunkStore for GatedStore {
    fn world_id(&self) -> WorldId {
        self.inner.world_id()
    }
    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_record(key)
    }
    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        self.inner.scan(range, visit)
    }
    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("the disk is unplugged".into()));
        }
        self.inner.commit(batch)
    }
}

fn viewer_at(app: &mut App, x: f32, y: f32, z: f32) {
    app.world_mut().spawn((StreamingViewer::default(), Transform::from_xyz(x, y, z)));
}

fn strata(app: &mut App) -> Mut<'_, StrataWorld> {
    app.world_mut().resource_mut::<StrataWorld>()
}

/// The voxels the edits below may touch (and some around them).
fn region() -> impl Iterator<Item = VoxelPos> {
    (-40..=48).flat_map(|x| (-8..=10).flat_map(move |y| (-40..=16).map(move |z| VoxelPos::new(x, y, z))))
}

/// Voxels of `region` where `client`'s resident chunks differ from the server's world (a chunk
/// not resident on the client counts as a difference: the client does not show it).
fn differences(server: &mut App, client: &mut App) -> usize {
    let mut expected = Vec::new();
    {
        let mut s = strata(server);
        for p in region() {
            expected.push((p, s.world.voxel(p).expect("the server reads its world")));
        }
    }
    let c = strata(client);
    expected
        .iter()
        .filter(|(p, m)| c.world.resident_chunk(p.chunk()).is_none_or(|ch| ch.get(p.local().index()) != *m))
        .count()
}

/// Steps the apps in turn until `done`, at most 10 s; collects each client's [`EditSettled`] and
/// [`NodeRemeshed`] messages.
fn run(
    server: &mut App,
    clients: &mut [&mut App],
    settled: &mut Vec<Vec<EditSettled>>,
    remeshed: &mut Vec<Vec<NodeRemeshed>>,
    mut done: impl FnMut(&mut App, &mut [&mut App]) -> bool,
) -> bool {
    settled.resize(clients.len(), Vec::new());
    remeshed.resize(clients.len(), Vec::new());
    let start = std::time::Instant::now();
    while start.elapsed().as_secs_f32() < 10.0 {
        for (i, c) in clients.iter_mut().enumerate() {
            c.update();
            settled[i].extend(drained::<EditSettled>(c));
            remeshed[i].extend(drained::<NodeRemeshed>(c));
        }
        server.update();
        if done(server, clients) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    false
}

fn connected(c: &App) -> bool {
    matches!(status(c), NetStatus::Connected(_))
}

/// Whether `app`'s view is meshed and every chunk of `region` is resident in its world.
fn view_ready(app: &mut App) -> bool {
    app.world().resource::<StrataStreaming>().plan().is_complete() && {
        let s = strata(app);
        region().all(|p| s.world.is_resident(p.chunk()))
    }
}

#[test]
fn edits_of_one_client_reach_the_others_voxel_for_voxel_and_a_late_joiner() {
    let store = Arc::new(GatedStore::default());
    let save = store.clone();
    let (mut server, port) = server_over(|p| p.with_store(save), identity(), |s| s.reach = Some(60.0));
    let mut a = client(11, port, identity());
    let mut b = client(12, port, identity());
    viewer_at(&mut a, 0.0, 8.0, 0.0);
    viewer_at(&mut b, 4.0, 8.0, -4.0);
    let (mut settled, mut remeshed) = (Vec::new(), Vec::new());
    let ready = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |_, c| {
        c.iter_mut().all(|c| connected(c) && view_ready(c))
    });
    assert!(ready, "the clients did not connect and load their view: {:?} {:?}", status(&a), status(&b));
    // A digs a pit across chunk borders, builds a ball, sets single voxels and a list.
    let edits = [
        ClientEdit::FillBox { min: VoxelPos::new(-6, -5, -6), max: VoxelPos::new(6, -1, 6), material: MaterialId::AIR },
        ClientEdit::FillSphere { center: VoxelPos::new(20, 3, 10), radius: 4.5, material: GRASS },
        ClientEdit::Set(VoxelPos::new(0, -5, 0), GRASS),
        ClientEdit::Many(vec![(VoxelPos::new(1, -5, 0), GRASS), (VoxelPos::new(40, -1, -33), MaterialId::AIR)]),
    ];
    {
        let mut net = a.world_mut().resource_mut::<NetClient>();
        for e in edits.clone() {
            net.edit(e);
        }
    }
    // The prediction is shown on A in the next frame, before any answer.
    store.closed.store(true, Ordering::SeqCst);
    a.update();
    let pit = VoxelPos::new(0, -3, 0);
    assert_eq!(strata(&mut a).world.resident_chunk(pit.chunk()).unwrap().get(pit.local().index()), MaterialId::AIR);
    // While the server's commits fail, nothing is acknowledged and B is sent nothing.
    let failing = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |s, _| {
        s.world().resource::<StrataPersistence>().failed_commits >= 5
    });
    assert!(failing, "the commits did not fail");
    assert!(settled[0].is_empty(), "an edit was settled while no commit succeeded: {:?}", settled[0]);
    assert_eq!(a.world().resource::<NetClient>().pending_edits(), edits.len());
    assert_eq!(strata(&mut b).world.resident_chunk(pit.chunk()).unwrap().get(pit.local().index()), common::STONE);
    store.closed.store(false, Ordering::SeqCst);
    let done = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |s, c| {
        c[0].world().resource::<NetClient>().pending_edits() == 0 && differences(s, c[1]) == 0
    });
    assert!(done, "B does not show A's edits: {} voxels differ", differences(&mut server, &mut b));
    assert_eq!(differences(&mut server, &mut a), 0, "A's own view differs from the server's");
    assert_eq!(strata(&mut server).world.voxel(VoxelPos::new(0, -3, 0)).unwrap(), MaterialId::AIR, "the pit is dug");
    assert_eq!(strata(&mut server).world.voxel(VoxelPos::new(20, 3, 10)).unwrap(), GRASS, "the ball is built");
    let accepted = settled[0].iter().filter(|s| matches!(s.0, Settled::Accepted { .. })).count();
    assert_eq!(accepted, edits.len(), "{:?}", settled[0]);
    // The voxels are there; their meshes follow within frames.
    let pit = NodeId::new(0, ChunkKey::new(0, -1, 0));
    for _ in 0..200 {
        if remeshed[1].iter().any(|r| r.node == pit) {
            break;
        }
        run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |_, _| true);
    }
    assert!(
        remeshed[1].iter().any(|r| r.node == pit),
        "B never remeshed the pit's chunk: {:?}",
        remeshed[1].iter().map(|r| r.node).collect::<Vec<_>>()
    );
    assert!(!b.world().resource::<NetClient>().store().is_empty(), "B holds the edited chunks' records");

    // A late joiner sees every earlier edit.
    let mut c = client(13, port, identity());
    viewer_at(&mut c, -8.0, 8.0, 8.0);
    let joined = run(&mut server, &mut [&mut a, &mut b, &mut c], &mut settled, &mut remeshed, |s, cs| {
        connected(cs[2]) && differences(s, cs[2]) == 0
    });
    assert!(joined, "the late joiner does not show the edits: {} voxels differ", differences(&mut server, &mut c));

    // An edit out of reach is refused, and A's prediction of it is undone.
    let far = VoxelPos::new(0, -1, 62);
    assert!(strata(&mut a).world.is_resident(far.chunk()), "the far voxel is in A's view");
    a.world_mut().resource_mut::<NetClient>().edit(ClientEdit::Set(far, GRASS));
    a.update();
    assert_eq!(strata(&mut a).world.voxel(far).unwrap(), GRASS, "predicted");
    settled[0].clear();
    let refused = run(&mut server, &mut [&mut a, &mut b, &mut c], &mut settled, &mut remeshed, |_, cs| {
        cs[0].world().resource::<NetClient>().pending_edits() == 0
    });
    assert!(refused, "no answer to the far edit");
    assert!(
        matches!(&settled[0][..], [EditSettled(Settled::Rejected { reason: Rejection::OutOfReach, .. })]),
        "{:?}",
        settled[0]
    );
    a.update();
    assert_eq!(strata(&mut a).world.voxel(far).unwrap(), common::STONE, "the refused prediction is undone");
    assert_eq!(strata(&mut server).world.voxel(far).unwrap(), common::STONE);
}
