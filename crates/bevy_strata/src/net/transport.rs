//! The transport: renet's netcode over UDP, set up for Strata's frames.
//!
//! [`listen`] and [`connect`] create `bevy_replicon_renet`'s server or client resources with the
//! channels replicon registered (so call them after the plugins are added: [`NetPlugins`] and
//! the server or client plugin). Authentication is netcode's *unsecure* mode: any client that
//! knows [`PROTOCOL_ID`] may connect (for LAN games and tests; a public server puts netcode's
//! secure tokens in front, which `bevy_replicon_renet` documents).

use bevy::prelude::*;
use bevy_replicon::prelude::RepliconChannels;
use bevy_replicon_renet::netcode::{
    ClientAuthentication, NetcodeClientTransport, NetcodeServerTransport, ServerAuthentication, ServerConfig,
};
use bevy_replicon_renet::renet::ConnectionConfig;
use bevy_replicon_renet::{RenetChannelsExt, RenetClient, RenetServer};
use std::net::{SocketAddr, UdpSocket};
use std::time::SystemTime;

/// The netcode protocol id of Strata's protocol version 1 (`"STRATA"` and the version): servers
/// and clients of other games or versions cannot connect by mistake.
pub const PROTOCOL_ID: u64 = 0x5354_5241_5441_0001;

/// The plugins the transport needs: replicon (with its state machine) and its renet backend.
/// Add them before [`super::StrataNetServerPlugin`] or [`super::StrataNetClientPlugin`].
pub struct NetPlugins;

impl Plugin for NetPlugins {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<bevy::state::app::StatesPlugin>() {
            app.add_plugins(bevy::state::app::StatesPlugin);
        }
        app.add_plugins((bevy_replicon::prelude::RepliconPlugins, bevy_replicon_renet::RepliconRenetPlugins));
    }
}

/// Why the transport could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The UDP socket could not be bound.
    #[error("binding the UDP socket failed: {0}")]
    Bind(#[from] std::io::Error),
    /// netcode refused the setup.
    #[error("netcode: {0}")]
    Netcode(String),
    /// The system clock is before 1970.
    #[error("the system clock is before 1970")]
    Clock,
}

fn now() -> Result<std::time::Duration, TransportError> {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_err(|_| TransportError::Clock)
}

fn connection(world: &World) -> ConnectionConfig {
    let channels = world.resource::<RepliconChannels>();
    ConnectionConfig {
        server_channels_config: channels.server_configs(),
        client_channels_config: channels.client_configs(),
        ..Default::default()
    }
}

/// Starts a server listening on `addr` (port 0: any free port) for up to `max_clients`; returns
/// the address it listens on. Needs [`NetPlugins`] and the server plugin added.
pub fn listen(world: &mut World, addr: SocketAddr, max_clients: usize) -> Result<SocketAddr, TransportError> {
    let socket = UdpSocket::bind(addr)?;
    let local = socket.local_addr()?;
    let config = ServerConfig {
        current_time: now()?,
        max_clients,
        protocol_id: PROTOCOL_ID,
        public_addresses: vec![local],
        authentication: ServerAuthentication::Unsecure,
    };
    let transport = NetcodeServerTransport::new(config, socket).map_err(|e| TransportError::Netcode(e.to_string()))?;
    let renet = RenetServer::new(connection(world));
    world.insert_resource(renet);
    world.insert_resource(transport);
    Ok(local)
}

/// Connects to the server at `server` as netcode client `client_id` (any number unique among
/// the server's clients, e.g. random). Replaces a previous connection's resources (a reconnect:
/// the [`super::NetClient`] and its session stay). Needs [`NetPlugins`] and the client plugin added.
pub fn connect(world: &mut World, server: SocketAddr, client_id: u64) -> Result<(), TransportError> {
    let bind = if server.is_ipv4() { SocketAddr::from(([0, 0, 0, 0], 0)) } else { SocketAddr::from(([0u16; 8], 0)) };
    let socket = UdpSocket::bind(bind)?;
    let auth =
        ClientAuthentication::Unsecure { client_id, protocol_id: PROTOCOL_ID, server_addr: server, user_data: None };
    let transport =
        NetcodeClientTransport::new(now()?, auth, socket).map_err(|e| TransportError::Netcode(e.to_string()))?;
    let renet = RenetClient::new(connection(world));
    // Removed first: replicon starts connecting when the client resource is added.
    world.remove_resource::<RenetClient>();
    world.remove_resource::<NetcodeClientTransport>();
    world.insert_resource(renet);
    world.insert_resource(transport);
    Ok(())
}
