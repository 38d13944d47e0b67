//! Multiplayer over real UDP sockets on 127.0.0.1 (`bevy_replicon` over renet): a
//! server app and client apps in one process, stepped in turn.

use crate::common;
use bevy::ecs::system::RunSystemOnce;
use bevy::prelude::*;
use bevy_strata::net::bevy_replicon_renet::RenetClient;
use bevy_strata::net::bevy_replicon_renet::RenetServer;
use bevy_strata::net::{
    self, ClientDropped, ClientJoined, DropReason, EditSettled, NetClient, NetPlugins, NetServer, NetStatus,
    StrataNetClientPlugin, StrataNetServerPlugin, ToServer, listen,
};
use bevy_strata::{
    GameDataEdited, NodeRemeshed, StrataPersistence, StrataPlugin, StrataStatus, StrataStatusChanged, StrataStreaming,
    StrataWorld, StreamingViewer, VoxelWorld,
};
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use strata_core::WorldId;
use strata_core::store::{ChunkStore, CommitReceipt, ScanVisitor, StoreError, WriteBatch};
use strata_core::{ChunkKey, MaterialId, MemoryStore, MortonKey, VoxelPos};
use strata_index::NodeId;
use strata_net::client::Settled;
use strata_net::{ClientEdit, HandshakeError, Rejection, WorldIdentity};

fn identity() -> WorldIdentity {
    WorldIdentity {
        generator_kind: "strata_geo::PlanetGenerator".into(),
        generator_settings: "(seed: 7)".into(),
        materials: ["air", "stone", "grass", "water"].map(String::from).to_vec(),
    }
}

/// A headless Strata app over the flat test world (ground below y = 0) with replicon, renet
/// and `net` (the server or client plugin), started.
fn strata_app(customize: impl FnOnce(StrataPlugin) -> StrataPlugin, net: impl Plugin) -> App {
    let mut app = common::flat_app_extended(
        customize,
        |app| {
            app.add_plugins((NetPlugins, net));
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
    let addr = listen(app.world_mut(), SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0), 8).expect("a server");
    let mut net = NetServer::new(identity);
    tune(&mut net);
    app.insert_resource(net);
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
    app.add_plugins((MinimalPlugins, NetPlugins, StrataNetClientPlugin));
    app.finish();
    connect(&mut app, id, port);
    app
}

/// Gives `app` a renet client connecting to `port` as client `id`.
fn connect(app: &mut App, id: u64, port: u16) {
    net::connect(app.world_mut(), SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port), id).expect("a client");
}

/// Steps the server and the clients until `done` or 10 s ([`run`], its messages dropped).
fn step_until(server: &mut App, clients: &mut [&mut App], mut done: impl FnMut(&App, &[&mut App]) -> bool) -> bool {
    run(server, clients, &mut Vec::new(), &mut Vec::new(), |s, c| done(s, c))
}

fn status(app: &App) -> NetStatus {
    app.world().resource::<NetClient>().status.clone()
}

/// The messages `M` sent since the last call (none for an app without them: a bare connection).
fn drained<M: Message + Clone>(app: &mut App) -> Vec<M> {
    app.world_mut().get_resource_mut::<Messages<M>>().map_or_else(Vec::new, |mut m| m.drain().collect())
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
    bad.world_mut().write_message(ToServer(vec![strata_net::PROTOCOL_VERSION, 2, 250, 0, 0].into()));
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
fn any_link(server: &App, f: impl Fn(&net::NetLink) -> bool) -> bool {
    server.world().try_query::<&net::NetLink>().is_some_and(|mut q| q.iter(server.world()).any(f))
}

/// The viewer position the server holds for its only client.
fn seen_view(server: &mut App) -> Option<[f64; 3]> {
    let mut q = server.world_mut().query::<&net::NetLink>();
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
    let mut q = server.world_mut().query::<&net::NetLink>();
    let view = q.iter(server.world()).find_map(|l| l.view().cloned()).expect("a view");
    assert_eq!((view.view_distance, view.lod_max_level), (256.0, common::small_view().lod_max_level as u8));
}

const GRASS: MaterialId = MaterialId(2);

/// An in-memory store whose commits, while it is closed, write and then report a failure (the
/// hard case between "applied" and "durable": the reply lost after the write, a replica that
/// confirmed too late), and whose scans fail while `scans_closed` (an outage).
#[derive(Default)]
struct GatedStore {
    inner: MemoryStore,
    closed: AtomicBool,
    scans_closed: AtomicBool,
}

impl ChunkStore for GatedStore {
    fn world_id(&self) -> WorldId {
        self.inner.world_id()
    }
    fn get_record(&self, key: MortonKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_record(key)
    }
    fn scan(&self, range: RangeInclusive<MortonKey>, visit: &mut ScanVisitor<'_>) -> Result<(), StoreError> {
        if self.scans_closed.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("the store is down".into()));
        }
        self.inner.scan(range, visit)
    }
    fn commit(&self, batch: &WriteBatch) -> Result<CommitReceipt, StoreError> {
        let receipt = self.inner.commit(batch)?;
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::backend("written, but the reply was lost"));
        }
        Ok(receipt)
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

fn strata_status(app: &App) -> StrataStatus {
    app.world().resource::<StrataStatus>().clone()
}

/// A client's `StrataStatus` follows its connection: `Connecting` until the server's welcome,
/// with nothing streamed (the world without the server's chunks is not the server's), then
/// `Ready`; each change is a `StrataStatusChanged`.
#[test]
fn a_client_streams_nothing_until_its_server_welcomes_it() {
    let (mut server, port) = server(identity());
    let mut a = client(61, port, identity());
    viewer_at(&mut a, 0.0, 8.0, 0.0);
    let mut changes: Vec<StrataStatus> = Vec::new();
    for _ in 0..30 {
        a.update();
        changes.extend(drained::<StrataStatusChanged>(&mut a).into_iter().map(|c| c.status));
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert!(matches!(strata_status(&a), StrataStatus::Connecting), "{:?}", strata_status(&a));
    assert!(!strata(&mut a).world.is_resident(ChunkKey::new(0, 0, 0)), "nothing streams before the welcome");
    let ready = step_until(&mut server, &mut [&mut a], |_, c| connected(c[0]));
    assert!(ready, "A did not connect");
    a.update();
    assert!(matches!(strata_status(&a), StrataStatus::Ready(_)), "{:?}", strata_status(&a));
    changes.extend(drained::<StrataStatusChanged>(&mut a).into_iter().map(|c| c.status));
    assert!(matches!(changes.as_slice(), [.., StrataStatus::Connecting, StrataStatus::Ready(_)]), "{changes:?}");
    let shown = run(&mut server, &mut [&mut a], &mut Vec::new(), &mut Vec::new(), |_, c| view_ready(c[0]));
    assert!(shown, "A does not stream once welcomed");
}

fn pending(app: &App) -> usize {
    app.world().resource::<NetClient>().pending_edits()
}

/// A server (tuned by `tune`) saving to a [`GatedStore`], and clients `ids` looking from the
/// same place, connected and with their view loaded.
fn gated_server_and_two_clients(
    ids: [u64; 2],
    tune: impl FnOnce(&mut NetServer),
) -> (Arc<GatedStore>, App, u16, App, App) {
    let store = Arc::new(GatedStore::default());
    let save = store.clone();
    let (mut server, port) = server_over(|p| p.with_store(save), identity(), tune);
    let mut a = client(ids[0], port, identity());
    let mut b = client(ids[1], port, identity());
    viewer_at(&mut a, 0.0, 8.0, 0.0);
    viewer_at(&mut b, 0.0, 8.0, 0.0);
    let ready = run(&mut server, &mut [&mut a, &mut b], &mut Vec::new(), &mut Vec::new(), |_, c| {
        c.iter_mut().all(|c| connected(c) && view_ready(c))
    });
    assert!(ready, "the clients did not connect and load their view");
    (store, server, port, a, b)
}

#[test]
fn a_client_that_reconnects_sends_its_pending_edits_again_and_none_is_applied_twice() {
    let (store, mut server, port, mut a, mut b) = gated_server_and_two_clients([21, 22], |_| {});
    let (mut settled, mut remeshed) = (Vec::new(), Vec::new());
    // A's first edit reaches the server and is applied, but its commit fails: no answer yet.
    store.closed.store(true, Ordering::SeqCst);
    let (p1, p2) = (VoxelPos::new(3, -2, 3), VoxelPos::new(-9, -1, 5));
    a.world_mut().resource_mut::<NetClient>().edit(ClientEdit::Set(p1, GRASS));
    let applied = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |s, _| {
        strata(s).world.voxel(p1).unwrap() == GRASS
    });
    assert!(applied, "the server never applied A's edit");
    // A's connection drops before the answer.
    a.world_mut().resource_mut::<RenetClient>().disconnect();
    let lost = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |s, c| {
        s.world().resource::<RenetServer>().connected_clients() == 1 && matches!(status(c[0]), NetStatus::Lost(_))
    });
    assert!(lost, "A's disconnection was not seen: {:?}", status(&a));
    a.update();
    assert!(matches!(strata_status(&a), StrataStatus::Lost(_)), "{:?}", strata_status(&a));
    assert!(strata_status(&a).is_ready(), "a lost client keeps streaming what it received");
    // While it is away: A makes a second edit, the commit succeeds (acknowledging the first edit
    // to nobody), and B overwrites the first edit's voxel.
    a.world_mut().resource_mut::<NetClient>().edit(ClientEdit::Set(p2, GRASS));
    store.closed.store(false, Ordering::SeqCst);
    let committed = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |s, _| {
        s.world().resource::<NetServer>().unacknowledged() == 0
    });
    assert!(committed, "the first edit was never committed");
    const CLAY: MaterialId = MaterialId(3);
    b.world_mut().resource_mut::<NetClient>().edit(ClientEdit::Set(p1, CLAY));
    let overwritten = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |_, c| pending(c[1]) == 0);
    assert!(overwritten, "B's edit was not settled");
    assert_eq!(pending(&a), 2, "A still waits for both edits");
    // A reconnects (same session): both intents go again; the first is answered, not applied
    // again over B's edit; the second is applied.
    connect(&mut a, 121, port);
    let back = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |_, c| {
        connected(c[0]) && pending(c[0]) == 0
    });
    assert!(back, "A did not settle its edits after reconnecting: {:?}, {} pending", status(&a), pending(&a));
    a.update();
    assert!(matches!(strata_status(&a), StrataStatus::Ready(_)), "{:?}", strata_status(&a));
    let ids: Vec<u32> = settled[0]
        .iter()
        .map(|s| match &s.0 {
            Settled::Accepted { id, .. } => *id,
            other => panic!("refused: {other:?}"),
        })
        .collect();
    assert_eq!(ids, vec![1, 2], "each edit settled once");
    assert_eq!(strata(&mut server).world.voxel(p1).unwrap(), CLAY, "the resent first edit was applied again");
    assert_eq!(strata(&mut server).world.voxel(p2).unwrap(), GRASS, "the edit made offline is lost");
    let agree = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |s, c| {
        view_ready(c[0]) && differences(s, c[0]) == 0 && differences(s, c[1]) == 0
    });
    assert!(
        agree,
        "the clients differ from the server: {} and {}",
        differences(&mut server, &mut a),
        differences(&mut server, &mut b)
    );
}

#[test]
fn a_client_flooding_edits_or_sending_oversized_messages_is_dropped_and_nothing_admitted_is_lost() {
    let (mut server, port) = server_with(identity(), |s| {
        s.edit_limits.edits_per_second = 5.0;
        s.edit_limits.burst = 10;
        s.edit_limits.flood_after = 50;
    });
    let mut calm = client(31, port, identity());
    let mut noisy = client(32, port, identity());
    let mut huge = client(33, port, identity());
    for c in [&mut calm, &mut noisy, &mut huge] {
        viewer_at(c, 0.0, 8.0, 0.0);
    }
    let (mut settled, mut remeshed) = (Vec::new(), Vec::new());
    let ready = run(&mut server, &mut [&mut calm, &mut noisy, &mut huge], &mut settled, &mut remeshed, |_, c| {
        c.iter().all(|c| connected(c))
    });
    assert!(ready, "the clients did not connect");
    drained::<ClientDropped>(&mut server);
    // 100 edits at once: the first 10 (the burst) are admitted, the next 50 refused as over the
    // rate, and then the client counts as flooding.
    let at = |i: i32| VoxelPos::new(i % 10 - 5, -1, i / 10 - 5);
    {
        let mut net = noisy.world_mut().resource_mut::<NetClient>();
        for i in 0..100 {
            net.edit(ClientEdit::Set(at(i), GRASS));
        }
    }
    // A message longer than any the protocol allows.
    let mut oversized = vec![strata_net::PROTOCOL_VERSION, 3];
    oversized.resize(strata_net::MAX_MESSAGE_LEN + 1, 0);
    huge.world_mut().write_message(ToServer(oversized.into()));
    let mut dropped = Vec::new();
    let gone = run(&mut server, &mut [&mut calm, &mut noisy, &mut huge], &mut settled, &mut remeshed, |s, _| {
        dropped.extend(drained::<ClientDropped>(s));
        dropped.len() >= 2 && s.world().resource::<NetServer>().unacknowledged() == 0
    });
    assert!(gone, "not both dropped: {dropped:?}");
    let mut reasons: Vec<String> = dropped.iter().map(|d| d.reason.to_string()).collect();
    reasons.sort();
    assert!(dropped.iter().any(|d| matches!(d.reason, DropReason::EditFlooding(_))), "{reasons:?}");
    assert!(dropped.iter().any(|d| matches!(d.reason, DropReason::BadMessage(_))), "{reasons:?}");
    let refused = settled[1]
        .iter()
        .filter(|s| matches!(s.0, Settled::Rejected { reason: Rejection::RateLimited { .. }, .. }))
        .count();
    assert!(refused >= 40, "the refusals were not told: {refused}");
    // What was admitted is in the world, durably; nothing else is.
    let grass = (0..100).filter(|&i| strata(&mut server).world.voxel(at(i)).unwrap() == GRASS).count();
    assert_eq!(grass, 10);
    assert_eq!(server.world().resource::<StrataPersistence>().failed_commits, 0);
    // The calm client is still served.
    calm.world_mut().resource_mut::<NetClient>().edit(ClientEdit::Set(VoxelPos::new(20, -1, 20), GRASS));
    let served = run(&mut server, &mut [&mut calm], &mut settled, &mut remeshed, |_, c| pending(c[0]) == 0);
    assert!(served && connected(&calm), "the calm client was not served: {:?}", status(&calm));
    assert!(matches!(settled[0].last(), Some(EditSettled(Settled::Accepted { .. }))), "{:?}", settled[0]);
}

#[test]
fn a_server_restarted_on_its_save_serves_every_acknowledged_edit() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("world.strata").to_string_lossy().into_owned();
    let on_file = |p: StrataPlugin| {
        let mut p = p;
        p.config.save_path = Some(path.clone());
        p
    };
    let edits = [
        ClientEdit::FillBox { min: VoxelPos::new(-3, -4, -3), max: VoxelPos::new(3, -1, 3), material: MaterialId::AIR },
        ClientEdit::FillSphere { center: VoxelPos::new(-20, 2, -12), radius: 3.0, material: GRASS },
        ClientEdit::Set(VoxelPos::new(30, -1, 0), GRASS),
    ];
    let (mut settled, mut remeshed) = (Vec::new(), Vec::new());
    {
        let (mut server, port) = server_over(on_file, identity(), |_| {});
        let mut a = client(41, port, identity());
        viewer_at(&mut a, 0.0, 8.0, 0.0);
        let ready = run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |_, c| connected(c[0]));
        assert!(ready, "A did not connect");
        for e in edits.clone() {
            a.world_mut().resource_mut::<NetClient>().edit(e);
        }
        let acked = run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |_, c| pending(c[0]) == 0);
        assert!(acked, "the edits were not acknowledged");
        assert_eq!(settled[0].iter().filter(|s| matches!(s.0, Settled::Accepted { .. })).count(), edits.len());
        server.world_mut().write_message(AppExit::Success);
        server.update();
    }
    let (mut server, port) = server_over(on_file, identity(), |_| {});
    for (p, m) in [
        (VoxelPos::new(0, -2, 0), MaterialId::AIR),
        (VoxelPos::new(-20, 2, -12), GRASS),
        (VoxelPos::new(30, -1, 0), GRASS),
    ] {
        assert_eq!(strata(&mut server).world.voxel(p).unwrap(), m, "{p:?} after the restart");
    }
    let mut c = client(42, port, identity());
    viewer_at(&mut c, 0.0, 8.0, 0.0);
    let shown = run(&mut server, &mut [&mut c], &mut settled, &mut remeshed, |s, cs| {
        connected(cs[0]) && view_ready(cs[0]) && differences(s, cs[0]) == 0
    });
    assert!(shown, "a new client does not show the edits: {} voxels differ", differences(&mut server, &mut c));
}

#[test]
fn a_session_forgotten_after_a_long_absence_gets_forgotten_answers_never_a_second_application() {
    let store = Arc::new(GatedStore::default());
    let save = store.clone();
    let (mut server, port) =
        server_over(|p| p.with_store(save), identity(), |s| s.session_memory = std::time::Duration::from_millis(200));
    let mut a = client(51, port, identity());
    viewer_at(&mut a, 0.0, 8.0, 0.0);
    let (mut settled, mut remeshed) = (Vec::new(), Vec::new());
    assert!(run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |_, c| connected(c[0])));
    // Applied, its commit failing; then the connection goes for longer than the server remembers.
    store.closed.store(true, Ordering::SeqCst);
    let p1 = VoxelPos::new(2, -1, 2);
    a.world_mut().resource_mut::<NetClient>().edit(ClientEdit::Set(p1, GRASS));
    assert!(run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |s, _| strata(s).world.voxel(p1).unwrap()
        == GRASS));
    a.world_mut().resource_mut::<RenetClient>().disconnect();
    let forgotten = run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |s, _| {
        s.world().resource::<NetServer>().sessions() == 0
    });
    assert!(forgotten, "the session was not forgotten");
    store.closed.store(false, Ordering::SeqCst);
    // A reconnects: the intent it sends again is answered Forgotten (it was applied: not again),
    // and a new edit is taken.
    connect(&mut a, 151, port);
    let p2 = VoxelPos::new(-2, -1, 2);
    let answered =
        run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |_, c| connected(c[0]) && pending(c[0]) == 0);
    assert!(answered, "A's resent edit was not answered: {:?}", settled[0]);
    assert!(
        matches!(&settled[0][..], [EditSettled(Settled::Rejected { id: 1, reason: Rejection::Forgotten, .. })]),
        "{:?}",
        settled[0]
    );
    a.world_mut().resource_mut::<NetClient>().edit(ClientEdit::Set(p2, GRASS));
    assert!(run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |_, c| pending(c[0]) == 0));
    assert!(matches!(settled[0].last(), Some(EditSettled(Settled::Accepted { id: 2, .. }))), "{:?}", settled[0]);
    assert_eq!(strata(&mut server).world.voxel(p1).unwrap(), GRASS);
    assert_eq!(strata(&mut server).world.voxel(p2).unwrap(), GRASS);
}

/// Two servers share one Redis Cluster world, one client each: what A builds through the first
/// server reaches B through the second, voxel for voxel, and B's edits over A's reach A; each
/// server's world takes the other's copy of a chunk it holds (the store's change log names it).
#[test]
fn edits_cross_between_two_servers_sharing_a_redis_world() {
    let Some(cluster) = crate::redis_save::cluster_url() else { return };
    let name = strata_redis::unique_world_name("net-two-servers");
    let url = strata_redis::url_with_world(&cluster, &name);
    let on_redis = |p: StrataPlugin| crate::redis_save::redis_plugin(p, &url);
    let (mut first, port1) = server_over(on_redis, identity(), |_| {});
    let (mut second, port2) = server_over(on_redis, identity(), |_| {});
    let mut a = client(51, port1, identity());
    let mut b = client(52, port2, identity());
    viewer_at(&mut a, 0.0, 8.0, 0.0);
    viewer_at(&mut b, 4.0, 8.0, -4.0);
    let (mut settled, mut remeshed) = (Vec::new(), Vec::new());
    // The second server steps as one of the "clients" (index 2).
    let ready = run(&mut first, &mut [&mut a, &mut b, &mut second], &mut settled, &mut remeshed, |_, c| {
        c[..2].iter_mut().all(|c| connected(c) && view_ready(c))
    });
    assert!(ready, "the clients did not connect and load their view: {:?} {:?}", status(&a), status(&b));
    let edits = [
        ClientEdit::FillBox { min: VoxelPos::new(-6, -5, -6), max: VoxelPos::new(6, -1, 6), material: MaterialId::AIR },
        ClientEdit::FillSphere { center: VoxelPos::new(20, 3, 10), radius: 4.5, material: GRASS },
    ];
    for e in edits {
        a.world_mut().resource_mut::<NetClient>().edit(e);
    }
    let acked =
        run(&mut first, &mut [&mut a, &mut b, &mut second], &mut settled, &mut remeshed, |_, c| pending(c[0]) == 0);
    assert!(acked, "the first server did not acknowledge A's edits");
    let since = std::time::Instant::now();
    let crossed = run(&mut first, &mut [&mut a, &mut b, &mut second], &mut settled, &mut remeshed, |s, c| {
        differences(s, c[1]) == 0
    });
    assert!(crossed, "B does not show A's edits: {} voxels differ", differences(&mut first, &mut b));
    eprintln!("A's edits reached B through the other server {:?} after their acknowledgement", since.elapsed());
    assert_eq!(strata(&mut second).world.voxel(VoxelPos::new(0, -3, 0)).unwrap(), MaterialId::AIR);

    // B fills part of A's pit: A sees it, and the first server's resident copy follows.
    let floor = VoxelPos::new(2, -5, 2);
    assert!(strata(&mut first).world.is_resident(floor.chunk()), "the first server holds the pit's chunk");
    b.world_mut().resource_mut::<NetClient>().edit(ClientEdit::FillBox {
        min: VoxelPos::new(0, -5, 0),
        max: VoxelPos::new(3, -4, 3),
        material: GRASS,
    });
    let crossed = run(&mut first, &mut [&mut a, &mut b, &mut second], &mut settled, &mut remeshed, |_, c| {
        let [a, b, second] = c else { unreachable!() };
        pending(b) == 0 && differences(second, a) == 0
    });
    assert!(crossed, "A does not show B's edit: {} voxels differ", differences(&mut second, &mut a));
    let held = strata(&mut first).world.resident_chunk(floor.chunk()).expect("still resident");
    assert_eq!(held.get(floor.local().index()), GRASS, "the first server's copy of the chunk follows");
    let (named, gaps) = first.world().resource::<NetServer>().shared_changes();
    assert!(named > 0 && gaps == 0, "named {named}, gaps {gaps}");
    assert_eq!(settled[0].iter().filter(|s| matches!(s.0, Settled::Accepted { .. })).count(), 2);
    assert_eq!(settled[1].iter().filter(|s| matches!(s.0, Settled::Accepted { .. })).count(), 1);

    // The log starts again (deleted with its counter behind the servers' backs, as a failover
    // to a replica that missed it would): the first server sees a gap at B's next edit and
    // reads A's whole view again, so A still shows that edit.
    let seed = cluster.trim_start_matches("redis+cluster://").split([',', '/']).next().unwrap().to_string();
    let (host, port) = seed.rsplit_once(':').unwrap();
    let deleted = std::process::Command::new("redis-cli")
        .args([
            "-c",
            "-h",
            host,
            "-p",
            port,
            "DEL",
            &format!("strata:{{{name}}}:log"),
            &format!("strata:{{{name}}}:log:n"),
        ])
        .output()
        .expect("redis-cli (the Redis tools) runs");
    assert_eq!(String::from_utf8_lossy(&deleted.stdout).trim(), "2", "{deleted:?}");
    b.world_mut().resource_mut::<NetClient>().edit(ClientEdit::Set(VoxelPos::new(-4, -5, -4), GRASS));
    let healed = run(&mut first, &mut [&mut a, &mut b, &mut second], &mut settled, &mut remeshed, |s, c| {
        let [a, b, second] = c else { unreachable!() };
        pending(b) == 0 && s.world().resource::<NetServer>().shared_changes().1 == 1 && differences(second, a) == 0
    });
    assert!(
        healed,
        "after the gap A differs in {} voxels; gaps seen: {}",
        differences(&mut second, &mut a),
        first.world().resource::<NetServer>().shared_changes().1
    );
}

/// A client over its chunk budget (0 here) is told to drop the edited chunks outside its
/// interest set (the server forgets it had them), so neither side's memory grows with a long
/// flight; back again, it is sent them anew and shows them.
#[test]
fn a_client_forgets_the_edited_chunks_it_flies_away_from_and_gets_them_again_when_back() {
    let (mut server, port) = server_with(identity(), |s| s.client_chunk_budget = 0);
    let mut a = client(71, port, identity());
    viewer_at(&mut a, 0.0, 8.0, 0.0);
    let (mut settled, mut remeshed) = (Vec::new(), Vec::new());
    let ready =
        run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |_, c| connected(c[0]) && view_ready(c[0]));
    assert!(ready, "A did not connect and load its view");
    a.world_mut().resource_mut::<NetClient>().edit(ClientEdit::FillBox {
        min: VoxelPos::new(-6, -5, -6),
        max: VoxelPos::new(6, -1, 6),
        material: MaterialId::AIR,
    });
    let held = run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |_, c| {
        pending(c[0]) == 0 && !c[0].world().resource::<NetClient>().store().is_empty()
    });
    assert!(held, "A's edit was not acknowledged and sent back");
    assert!(any_link(&server, |l| l.known_chunks() > 0));
    let move_to = |app: &mut App, x: f32| {
        let mut q = app.world_mut().query_filtered::<&mut Transform, With<StreamingViewer>>();
        for mut t in q.iter_mut(app.world_mut()) {
            t.translation.x = x;
        }
    };
    move_to(&mut a, 4000.0);
    let forgotten = run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |s, c| {
        c[0].world().resource::<NetClient>().store().is_empty() && any_link(s, |l| l.known_chunks() == 0)
    });
    assert!(forgotten, "the chunks left behind are still held");
    move_to(&mut a, 0.0);
    let back = run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |s, c| {
        view_ready(c[0]) && differences(s, c[0]) == 0
    });
    assert!(back, "back at the edit, A differs in {} voxels", differences(&mut server, &mut a));
    assert!(any_link(&server, |l| l.known_chunks() > 0));
}

/// The store scans that fill a client's view run on the I/O pool; one that fails (an outage) is
/// run again until it succeeds, and the client gets the edited chunks then (before, a failed scan
/// was only logged: those chunks never reached the client until its view moved).
#[test]
fn a_failed_scan_of_a_clients_view_is_retried_until_the_view_is_sent() {
    let store = Arc::new(GatedStore::default());
    let save = store.clone();
    let (mut server, port) = server_over(|p| p.with_store(save), identity(), |_| {});
    {
        let mut s = strata(&mut server);
        s.world.fill_box(VoxelPos::new(-4, -3, -4), VoxelPos::new(4, -1, 4), MaterialId::AIR).unwrap();
        s.world.commit().unwrap();
    }
    store.scans_closed.store(true, Ordering::SeqCst);
    let mut a = client(81, port, identity());
    viewer_at(&mut a, 0.0, 8.0, 0.0);
    let (mut settled, mut remeshed) = (Vec::new(), Vec::new());
    let asked = run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |s, c| {
        connected(c[0]) && any_link(s, |l| l.view().is_some())
    });
    assert!(asked, "A did not connect and send its view");
    for _ in 0..20 {
        run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |_, _| true);
    }
    assert!(a.world().resource::<NetClient>().store().is_empty(), "nothing could be read");
    store.scans_closed.store(false, Ordering::SeqCst);
    let shown = run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |s, c| {
        view_ready(c[0]) && differences(s, c[0]) == 0
    });
    assert!(shown, "after the outage A differs in {} voxels", differences(&mut server, &mut a));
}

/// The settled edits of one client, as (id, refusal if any).
fn outcomes(settled: &[EditSettled]) -> Vec<(u32, Option<Rejection>)> {
    settled
        .iter()
        .map(|s| match &s.0 {
            Settled::Accepted { id, .. } => (*id, None),
            Settled::Rejected { id, reason, .. } => (*id, Some(reason.clone())),
        })
        .collect()
}

/// Game data from clients: a server refuses it unless it lets clients write it (its own
/// entity records live there too); one that does applies a chest's contents and an entity
/// record, commits them and sends them to the other client, whose game is told
/// (`GameDataEdited`) and which remeshes nothing (no voxel changed); data over the value limit
/// is refused by the sender without a round trip, and nothing of it is shown.
#[test]
fn clients_write_game_data_only_where_the_server_lets_them_and_the_others_receive_it() {
    let chest = VoxelPos::new(3, -2, 3);
    let key = chest.chunk();
    let contents = b"12 gold, a map".to_vec();
    let record = b"(crate: 4)".to_vec();
    let writes = || {
        [
            ClientEdit::BlockData { pos: chest, data: Some(contents.clone()) },
            ClientEdit::EntityData { chunk: key, id: 77, data: Some(record.clone()) },
        ]
    };
    // A server with the default: both refused, nothing changes.
    {
        let (mut server, port) = server(identity());
        let mut a = client(41, port, identity());
        viewer_at(&mut a, 0.0, 8.0, 0.0);
        let (mut settled, mut remeshed) = (Vec::new(), Vec::new());
        let ready = run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |_, c| connected(c[0]));
        assert!(ready, "A did not connect");
        for edit in writes() {
            a.world_mut().resource_mut::<NetClient>().edit(edit);
        }
        let done = run(&mut server, &mut [&mut a], &mut settled, &mut remeshed, |_, c| pending(c[0]) == 0);
        assert!(done, "the refusals never came");
        let refused = Some(Rejection::Game("this server takes no game data from clients".into()));
        assert_eq!(outcomes(&settled[0]), vec![(1, refused.clone()), (2, refused)]);
        let side = strata(&mut server).world.chunk_side(key).unwrap();
        assert!(side.block(chest.local().index()).is_none() && side.entity(77).is_none());
    }
    let (mut server, port) = server_with(identity(), |s| s.client_game_data = true);
    let mut a = client(42, port, identity());
    let mut b = client(43, port, identity());
    viewer_at(&mut a, 0.0, 8.0, 0.0);
    viewer_at(&mut b, 4.0, 8.0, -4.0);
    let (mut settled, mut remeshed) = (Vec::new(), Vec::new());
    let ready = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |_, c| {
        c.iter_mut().all(|c| connected(c) && view_ready(c))
    });
    assert!(ready, "the clients did not connect and load their view");
    remeshed.iter_mut().for_each(Vec::clear);
    for edit in writes() {
        a.world_mut().resource_mut::<NetClient>().edit(edit);
    }
    // Over the limit: refused at once, never predicted.
    let value = strata_core::side::MAX_VALUE_LEN;
    a.world_mut()
        .resource_mut::<NetClient>()
        .edit(ClientEdit::BlockData { pos: VoxelPos::new(5, -2, 5), data: Some(vec![1; value + 1]) });
    let shown = |app: &mut App| {
        strata(app).world.resident_side(key).is_some_and(|s| {
            s.block(chest.local().index()).is_some_and(|d| *d.bytes == contents[..])
                && s.entity(77) == Some(&record[..])
        })
    };
    let mut told = [false; 2];
    let done = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |s, c| {
        for (told, c) in told.iter_mut().zip(c.iter_mut()) {
            *told |= drained::<GameDataEdited>(c).iter().any(|g| g.chunks.contains(&key));
        }
        pending(c[0]) == 0 && shown(s) && shown(c[0]) && shown(c[1]) && told == [true; 2]
    });
    assert!(
        done,
        "the game data did not reach the server and both clients (told {told:?}): {} pending, shown: server {} A \
         {} B {}, {:?}",
        pending(&a),
        shown(&mut server),
        shown(&mut a),
        shown(&mut b),
        outcomes(&settled[0])
    );
    let mut got = outcomes(&settled[0]);
    got.sort_by_key(|o| o.0);
    let too_large = Rejection::DataTooLarge { len: value as u64 + 1, max: value as u64 };
    assert_eq!(got, vec![(1, None), (2, None), (3, Some(too_large))]);
    // Game data alone: the server's records of the chunk (A's answer, B's news) changed no
    // voxel, so neither client remeshed anything.
    run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |_, _| false);
    for (name, r) in ["A", "B"].iter().zip(&remeshed) {
        assert!(r.is_empty(), "{name} remeshed {:?} for game data", r.iter().map(|r| r.node).collect::<Vec<_>>());
    }
    let side = strata(&mut server).world.chunk_side(VoxelPos::new(5, -2, 5).chunk()).unwrap();
    assert!(side.block(VoxelPos::new(5, -2, 5).local().index()).is_none(), "the oversized data went nowhere");
    // Durable: in the server's save.
    let stored = strata(&mut server).world.store().get_stored(key).unwrap().expect("the chunk is stored");
    assert_eq!(stored.side.entity(77), Some(&record[..]));
}

/// Game data between "written" and "acknowledged": A writes a chest's contents and an entity
/// record while the server's commits write and then report a failure, and drops before any
/// answer. While A is away the commits succeed again (the write is durable, acknowledged to
/// nobody) and B writes other contents into the same chest. A comes back with the same session
/// and sends both intents again: each is answered once, neither applied a second time over
/// B's contents, and all three show B's chest and A's record.
#[test]
fn a_game_data_write_whose_commit_failed_is_answered_after_a_reconnect_not_applied_twice() {
    let (store, mut server, port, mut a, mut b) = gated_server_and_two_clients([51, 52], |s| s.client_game_data = true);
    let (mut settled, mut remeshed) = (Vec::new(), Vec::new());
    let chest = VoxelPos::new(3, -2, 3);
    let key = chest.chunk();
    let (mine, theirs, record) = (b"A's gold".to_vec(), b"B's map".to_vec(), b"(crate: 9)".to_vec());
    let chest_holds = |app: &mut App, want: &[u8]| {
        strata(app)
            .world
            .resident_side(key)
            .is_some_and(|s| s.block(chest.local().index()).is_some_and(|d| *d.bytes == *want))
    };
    let record_held =
        |app: &mut App| strata(app).world.resident_side(key).is_some_and(|s| s.entity(5) == Some(&record[..]));
    // A's writes reach the server and are applied, but their commit fails: no answer yet.
    store.closed.store(true, Ordering::SeqCst);
    a.world_mut().resource_mut::<NetClient>().edit(ClientEdit::BlockData { pos: chest, data: Some(mine.clone()) });
    a.world_mut().resource_mut::<NetClient>().edit(ClientEdit::EntityData {
        chunk: key,
        id: 5,
        data: Some(record.clone()),
    });
    let applied = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |s, _| {
        chest_holds(s, &mine) && record_held(s)
    });
    assert!(applied, "the server never applied A's game data");
    assert!(
        outcomes(&settled[0]).is_empty(),
        "nothing may be acknowledged while the commit fails: {:?}",
        outcomes(&settled[0])
    );
    a.world_mut().resource_mut::<RenetClient>().disconnect();
    let lost = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |s, c| {
        s.world().resource::<RenetServer>().connected_clients() == 1 && matches!(status(c[0]), NetStatus::Lost(_))
    });
    assert!(lost, "A's disconnection was not seen: {:?}", status(&a));
    // While A is away: the commits succeed again, then B fills the chest with its own contents.
    store.closed.store(false, Ordering::SeqCst);
    let committed = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |s, _| {
        s.world().resource::<NetServer>().unacknowledged() == 0
    });
    assert!(committed, "A's game data was never committed");
    b.world_mut().resource_mut::<NetClient>().edit(ClientEdit::BlockData { pos: chest, data: Some(theirs.clone()) });
    let overwritten = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |s, c| {
        pending(c[1]) == 0 && chest_holds(s, &theirs)
    });
    assert!(overwritten, "B's write was not settled");
    assert_eq!(pending(&a), 2, "A still waits for both writes");
    // A reconnects with the same session: both intents go again and are answered, not applied.
    connect(&mut a, 151, port);
    let back = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |_, c| {
        connected(c[0]) && pending(c[0]) == 0
    });
    assert!(back, "A did not settle its writes after reconnecting: {:?}, {} pending", status(&a), pending(&a));
    assert_eq!(outcomes(&settled[0]), vec![(1, None), (2, None)], "each write settled once, accepted");
    let agree = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |s, c| {
        chest_holds(s, &theirs)
            && chest_holds(c[0], &theirs)
            && chest_holds(c[1], &theirs)
            && record_held(s)
            && record_held(c[0])
            && record_held(c[1])
    });
    assert!(
        agree,
        "B's chest and A's record are not everywhere: server {} A {} B {}",
        chest_holds(&mut server, &theirs),
        chest_holds(&mut a, &theirs),
        chest_holds(&mut b, &theirs)
    );
    // Durable: in the save, B's contents (A's resent write never landed over them).
    let stored = strata(&mut server).world.store().get_stored(key).unwrap().expect("the chunk is stored");
    assert_eq!(stored.side.block(chest.local().index()).map(|d| d.bytes.to_vec()), Some(theirs));
    assert_eq!(stored.side.entity(5), Some(&record[..]));
}

#[test]
fn a_clients_voxel_world_edits_go_to_the_server_and_reach_the_others() {
    // The save's gate stays open: a plain store.
    let (_, mut server, _, mut a, mut b) = gated_server_and_two_clients([61, 62], |s| {
        s.reach = Some(60.0);
        s.client_game_data = true;
    });
    let (mut settled, mut remeshed) = (Vec::new(), Vec::new());
    // A's game edits through `VoxelWorld`, as it would in a world of its own: a voxel, a pit,
    // game data, a list longer than one edit may carry (cut into two) and a voxel sent from
    // another thread; a refused sphere goes nowhere.
    let slab: Vec<(VoxelPos, MaterialId)> = (-20..20)
        .flat_map(|x| (-4..0).flat_map(move |y| (-30..0).map(move |z| (VoxelPos::new(x, y, z), MaterialId::AIR))))
        .collect();
    assert!(slab.len() > strata_net::message::MAX_EDIT_VOXELS);
    let chest = VoxelPos::new(3, -6, 3);
    a.world_mut()
        .run_system_once(move |world: VoxelWorld| {
            world.set_voxel(VoxelPos::new(0, 2, 0), GRASS);
            world.fill_box(VoxelPos::new(8, -5, 8), VoxelPos::new(12, -1, 12), MaterialId::AIR).expect("a small box");
            world.set_many(slab.clone());
            assert!(world.fill_sphere(VoxelPos::new(0, 0, 0), f32::NAN, GRASS).is_err(), "a NaN radius is refused");
            world.set_block_data(chest, Some(b"gold".to_vec())).expect("small data");
            // From another thread, through the world's sender.
            let sender = world.edit_sender();
            std::thread::spawn(move || sender.set(VoxelPos::new(-2, 2, 1), GRASS)).join().expect("the thread");
        })
        .expect("the system runs");
    // The plugin hands them over (six intents: the list in two) and shows them at once.
    a.update();
    assert_eq!(a.world().resource::<NetClient>().pending_edits(), 6, "every edit is the player's, the list cut in two");
    let pit = VoxelPos::new(10, -3, 10);
    assert_eq!(strata(&mut a).world.resident_chunk(pit.chunk()).unwrap().get(pit.local().index()), MaterialId::AIR);
    let done = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |s, c| {
        c[0].world().resource::<NetClient>().pending_edits() == 0 && differences(s, c[1]) == 0
    });
    assert!(done, "B does not show A's edits: {} voxels differ", differences(&mut server, &mut b));
    let accepted = settled[0].iter().filter(|s| matches!(s.0, Settled::Accepted { .. })).count();
    assert_eq!(accepted, 6, "{:?}", settled[0]);
    {
        let mut s = strata(&mut server);
        assert_eq!(s.world.voxel(VoxelPos::new(0, 2, 0)).unwrap(), GRASS, "the voxel is the server's");
        assert_eq!(s.world.voxel(VoxelPos::new(-2, 2, 1)).unwrap(), GRASS, "the sent voxel is the server's");
        assert_eq!(s.world.voxel(pit).unwrap(), MaterialId::AIR, "the pit is dug on the server");
        assert_eq!(s.world.voxel(VoxelPos::new(-20, -4, -30)).unwrap(), MaterialId::AIR, "the list's first part");
        assert_eq!(s.world.voxel(VoxelPos::new(19, -1, -1)).unwrap(), MaterialId::AIR, "the list's last part");
        let data = s.world.block_data(chest).unwrap().expect("the chest's data is the server's");
        assert_eq!(*data.bytes, b"gold"[..]);
    }
    assert_eq!(differences(&mut server, &mut a), 0, "A's view is the server's");
}

/// The server's answer to an edit a client predicted holds the voxels the client already shows:
/// the client meshes the edited chunk once, for its prediction, not again for the answer (nor
/// for B, which meshes it once for the news).
#[test]
fn an_acknowledged_edit_is_meshed_once_on_the_client_that_predicted_it() {
    let (_, mut server, _, mut a, mut b) = gated_server_and_two_clients([71, 72], |_| {});
    let (mut settled, mut remeshed) = (Vec::new(), Vec::new());
    let p = VoxelPos::new(2, -1, 2);
    let node = NodeId::new(0, p.chunk());
    a.world_mut().resource_mut::<NetClient>().edit(ClientEdit::Set(p, GRASS));
    let done = run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |_, c| {
        pending(c[0]) == 0
            && strata(c[1]).world.resident_chunk(p.chunk()).is_some_and(|k| k.get(p.local().index()) == GRASS)
    });
    assert!(done, "the edit was not acknowledged and shown on B");
    // Time for any remesh the answer would cause to finish.
    for _ in 0..40 {
        run(&mut server, &mut [&mut a, &mut b], &mut settled, &mut remeshed, |_, _| true);
    }
    assert!(matches!(&settled[0][..], [EditSettled(Settled::Accepted { .. })]), "{:?}", settled[0]);
    for (name, r) in ["A", "B"].iter().zip(&remeshed) {
        assert_eq!(r.iter().filter(|r| r.node == node).count(), 1, "{name} remeshed the edited chunk");
    }
}
