//! The multiplayer handshake over real UDP sockets on 127.0.0.1 (`bevy_replicon` over renet): a
//! server app and client apps in one process, stepped in turn.

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy_replicon::prelude::*;
use bevy_replicon_renet::netcode::{
    ClientAuthentication, NetcodeClientTransport, NetcodeServerTransport, ServerAuthentication, ServerConfig,
};
use bevy_replicon_renet::renet::ConnectionConfig;
use bevy_replicon_renet::{RenetChannelsExt, RenetClient, RenetServer, RepliconRenetPlugins};
use bevy_strata::net::{
    ClientDropped, ClientJoined, DropReason, NetClient, NetServer, NetStatus, StrataNetClientPlugin,
    StrataNetServerPlugin, ToServer,
};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::SystemTime;
use strata_core::WorldId;
use strata_net::{HandshakeError, WorldIdentity};

const PROTOCOL_ID: u64 = 0x5354_5241_5441;

fn identity() -> WorldIdentity {
    WorldIdentity {
        generator_kind: "strata_geo::PlanetGenerator".into(),
        generator_settings: "(seed: 7)".into(),
        materials: ["air", "stone", "grass", "water"].map(String::from).to_vec(),
    }
}

fn app() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, StatesPlugin, RepliconPlugins, RepliconRenetPlugins));
    app
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

/// A server of `identity` on an ephemeral port.
fn server(identity: WorldIdentity) -> (App, u16) {
    server_with(identity, |_| {})
}

/// [`server`] with its limits changed by `tune`.
fn server_with(identity: WorldIdentity, tune: impl FnOnce(&mut NetServer)) -> (App, u16) {
    let mut app = app();
    app.add_plugins(StrataNetServerPlugin).finish();
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
    let mut net = NetServer::new(identity, WorldId(42));
    tune(&mut net);
    app.insert_resource(renet).insert_resource(transport).insert_resource(net);
    (app, addr.port())
}

fn client(id: u64, port: u16, identity: WorldIdentity) -> App {
    let mut app = silent_client(id, port);
    app.insert_resource(NetClient::new(format!("client {id}"), identity));
    app
}

/// A client connection that speaks the frames but never says hello (no [`NetClient`]).
fn silent_client(id: u64, port: u16) -> App {
    let mut app = app();
    app.add_plugins(StrataNetClientPlugin).finish();
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1");
    let auth = ClientAuthentication::Unsecure {
        client_id: id,
        protocol_id: PROTOCOL_ID,
        server_addr: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
        user_data: None,
    };
    let transport = NetcodeClientTransport::new(now(), auth, socket).expect("a client transport");
    let renet = RenetClient::new(connection(&app));
    app.insert_resource(renet).insert_resource(transport);
    app
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
    assert_eq!(welcome.world, WorldId(42));
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
    use bevy::math::DVec3;
    let (mut server, port) = server(identity());
    let mut a = client(9, port, identity());
    let at = |x: f64| bevy_strata::ViewerPositions { viewers: vec![(DVec3::new(x, 20.0, -40.0), 256.0)] };
    a.insert_resource(at(100.0));
    let ok = step_until(&mut server, &mut [&mut a], |s, _| any_link(s, |l| l.view().is_some()));
    assert!(ok, "the server never heard the client's view");
    assert_eq!(seen_view(&mut server), Some([100.0, 20.0, -40.0]));
    // A step smaller than the threshold is not worth a message; a larger one is.
    a.insert_resource(at(103.0));
    for _ in 0..30 {
        a.update();
        server.update();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(seen_view(&mut server), Some([100.0, 20.0, -40.0]));
    a.insert_resource(at(140.0));
    let ok = step_until(&mut server, &mut [&mut a], |s, _| {
        any_link(s, |l| l.view().is_some_and(|v| v.viewers[0][0] == 140.0))
    });
    assert!(ok, "the server did not hear the move: {:?}", seen_view(&mut server));
    let mut q = server.world_mut().query::<&bevy_strata::net::NetLink>();
    let view = q.iter(server.world()).find_map(|l| l.view().cloned()).expect("a view");
    assert_eq!(
        (view.view_distance, view.lod_max_level),
        (256.0, bevy_strata::StrataConfig::default().lod_max_level as u8)
    );
}
