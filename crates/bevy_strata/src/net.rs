//! Multiplayer (feature `net`): Strata's protocol ([`strata_net`]) over `bevy_replicon` and renet.
//!
//! The protocol's messages travel as opaque frames ([`ToServer`], [`ToClient`]) on one reliable,
//! ordered replicon channel each way (independent of replicon's entity replication). Decoding
//! happens here, not in replicon, so bytes that are not a valid message are seen: the server
//! disconnects a client that sends them and says why ([`ClientDropped`]).
//!
//! What works so far is the handshake: a client sends [`Hello`] with its [`WorldIdentity`]
//! once connected; the server answers [`Welcome`] or refuses with a [`HandshakeError`] naming
//! what differs, and the client checks the server's identity the same way. Both ends hold the
//! same typed error ([`ClientDropped::reason`], [`NetStatus::Refused`]). Then the client
//! reports where its viewers look from ([`NetLink::view`]). Clients that send invalid bytes,
//! flood the server or never say hello are dropped ([`DropReason`]).
//!
//! # Setup
//! Add [`StrataNetServerPlugin`] or [`StrataNetClientPlugin`] (never both in one app) after
//! `bevy_replicon`'s `RepliconPlugins` and `bevy_replicon_renet`'s `RepliconRenetPlugins`, then
//! create renet's server or client resources as `bevy_replicon_renet` documents, with the
//! channels from `RepliconChannels` (read after the plugins are added).

use bevy::prelude::*;
use bevy_replicon::bytes::Bytes;
use bevy_replicon::prelude::*;
use bevy_replicon::shared::message::ctx::{ClientReceiveCtx, ClientSendCtx, ServerReceiveCtx, ServerSendCtx};
use strata_net::message::MAX_VIEWERS;
use strata_net::server::TokenBucket;
use strata_net::{ClientMessage, HandshakeError, Hello, ServerMessage, ViewUpdate, Welcome, WireError, WorldIdentity};

/// A client's encoded [`ClientMessage`], as replicon carries it.
#[derive(Message, Clone, Debug, PartialEq, Eq)]
pub struct ToServer(pub Bytes);

/// A server's encoded [`ServerMessage`], as replicon carries it.
#[derive(Message, Clone, Debug, PartialEq, Eq)]
pub struct ToClient(pub Bytes);

fn write_frame<C>(_: &mut C, frame: &Bytes, out: &mut Vec<u8>) -> Result<()> {
    out.extend_from_slice(frame);
    Ok(())
}

fn read_frame(message: &mut Bytes) -> Bytes {
    message.split_to(message.len())
}

/// Registers the two frame messages (the same order on both ends, as replicon requires).
fn register_frames(app: &mut App) {
    app.add_client_message_with(
        Channel::Ordered,
        |c: &mut ClientSendCtx, m: &ToServer, out| write_frame(c, &m.0, out),
        |_: &mut ServerReceiveCtx, m| Ok(ToServer(read_frame(m))),
    )
    .add_server_message_with(
        Channel::Ordered,
        |c: &mut ServerSendCtx, m: &ToClient, out| write_frame(c, &m.0, out),
        |_: &mut ClientReceiveCtx, m| Ok(ToClient(read_frame(m))),
    )
    .make_message_independent::<ToClient>();
}

/// A message's bytes, or `None` (logged) for one over the protocol's limits: the other end
/// would refuse it.
fn encoded(side: &str, encode: impl FnOnce(&mut Vec<u8>) -> Result<(), WireError>) -> Option<Bytes> {
    let mut out = Vec::new();
    match encode(&mut out) {
        Ok(()) => Some(out.into()),
        Err(e) => {
            error!("strata net: a {side} message over the protocol's limits was not sent: {e}");
            None
        }
    }
}

fn encode_server(m: &ServerMessage) -> Option<ToClient> {
    encoded("server", |out| m.encode(out)).map(ToClient)
}

fn encode_client(m: &ClientMessage) -> Option<ToServer> {
    encoded("client", |out| m.encode(out)).map(ToServer)
}

/// `e` as a goodbye's reason, cut to the protocol's limit at a character boundary.
fn reason_text(e: &impl std::fmt::Display) -> String {
    let mut s = e.to_string();
    let mut end = s.len().min(strata_net::message::MAX_REASON_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

/// Why the server ended a client's connection.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// The handshake failed (the client was told the same error).
    #[error("refused at the handshake: {0}")]
    Refused(HandshakeError),
    /// The client sent bytes that are not a valid message.
    #[error("sent an invalid message: {0}")]
    BadMessage(WireError),
    /// The client sent something other than a hello first, or a second hello.
    #[error("broke the protocol: {0}")]
    Protocol(&'static str),
    /// The client said goodbye, with its reason.
    #[error("left: {0}")]
    Left(String),
    /// The client sent messages faster than [`NetServer::messages_per_second`] allows.
    #[error("sent more than {0} messages a second")]
    Flooding(f64),
    /// The client sent no hello within [`NetServer::hello_timeout`].
    #[error("said no hello within {0:?}")]
    Silent(std::time::Duration),
}

/// The server ended a client's connection (also logged as a warning).
#[derive(Message, Clone, Debug, PartialEq)]
pub struct ClientDropped {
    /// The client's entity (replicon's `ConnectedClient`).
    pub client: Entity,
    /// Why.
    pub reason: DropReason,
}

/// A client completed the handshake.
#[derive(Message, Clone, Debug, PartialEq, Eq)]
pub struct ClientJoined {
    /// The client's entity.
    pub client: Entity,
    /// Its name and session, as it sent them.
    pub name: String,
    /// Its session.
    pub session: u64,
}

/// The server's side of the protocol: its world's identity and id, and its clients.
#[derive(Resource, Debug)]
pub struct NetServer {
    /// What clients must match.
    pub identity: WorldIdentity,
    /// The world's id (chunk records carry it).
    pub world: strata_core::WorldId,
    /// Edit intents per second granted to each client (told in [`Welcome`]).
    pub edits_per_second: u32,
    /// Messages of any kind a client may send per second (sustained; default 200), and at once
    /// (default 400): a client over it is dropped ([`DropReason::Flooding`]).
    pub messages_per_second: f64,
    /// See [`NetServer::messages_per_second`].
    pub message_burst: u32,
    /// How long a connected client may stay without a hello (default 10 s): a connection that
    /// never says hello holds a slot ([`DropReason::Silent`]).
    pub hello_timeout: std::time::Duration,
    next_client: u32,
}

impl NetServer {
    /// A server of the world `identity`, `world`, with the default limits.
    pub fn new(identity: WorldIdentity, world: strata_core::WorldId) -> Self {
        Self {
            identity,
            world,
            edits_per_second: 20,
            messages_per_second: 200.0,
            message_burst: 400,
            hello_timeout: std::time::Duration::from_secs(10),
            next_client: 1,
        }
    }
}

/// Per connected client, on replicon's client entity.
#[derive(Component, Debug, Default)]
pub struct NetLink {
    /// The client's session once it said hello.
    pub session: Option<u64>,
    /// When the server first saw the connection (real time since start-up).
    since: Option<std::time::Duration>,
    /// Its message rate ([`NetServer::messages_per_second`]), from its first message.
    rate: Option<TokenBucket>,
    /// Whether the server has asked to disconnect it.
    dropped: bool,
    /// Where it looks from, as it last said.
    view: Option<ViewUpdate>,
}

impl NetLink {
    /// Where the client looks from, as it last said (`None` before its first view).
    pub fn view(&self) -> Option<&ViewUpdate> {
        self.view.as_ref()
    }
}

/// The server half: answers hellos, drops clients that send garbage. Needs a [`NetServer`]
/// resource.
pub struct StrataNetServerPlugin;

impl Plugin for StrataNetServerPlugin {
    fn build(&self, app: &mut App) {
        register_frames(app);
        app.add_message::<ClientDropped>()
            .add_message::<ClientJoined>()
            .add_observer(|add: On<Add, ConnectedClient>, mut commands: Commands| {
                commands.entity(add.entity).insert(NetLink::default());
            })
            .add_systems(Update, (serve, drop_silent).chain().run_if(resource_exists::<NetServer>));
    }
}

/// What the server writes to its clients and the transport.
#[derive(bevy::ecs::system::SystemParam)]
struct Outgoing<'w> {
    frames: MessageWriter<'w, ToClients<ToClient>>,
    disconnect: MessageWriter<'w, DisconnectRequest>,
    dropped: MessageWriter<'w, ClientDropped>,
}

impl Outgoing<'_> {
    fn send(&mut self, client: Entity, m: &ServerMessage) {
        if let Some(f) = encode_server(m) {
            self.frames.write(ToClients { targets: SendTargets::Single(ClientId::Client(client)), message: f });
        }
    }

    /// Drops `client` for `reason`: the refusal (if it is one) is sent first, then the
    /// transport is asked to disconnect it; logged and reported as [`ClientDropped`].
    fn drop_client(&mut self, client: Entity, link: &mut NetLink, reason: DropReason) {
        if link.dropped {
            return;
        }
        link.dropped = true;
        warn!("strata net: dropping client {client}: {reason}");
        if let DropReason::Refused(e) = &reason {
            self.send(client, &ServerMessage::Refused(e.clone()));
        }
        self.disconnect.write(DisconnectRequest { client });
        self.dropped.write(ClientDropped { client, reason });
    }
}

fn drop_silent(
    server: Res<NetServer>,
    time: Res<Time<Real>>,
    mut links: Query<(Entity, &mut NetLink)>,
    mut out: Outgoing,
) {
    let now = time.elapsed();
    for (client, mut link) in &mut links {
        let since = *link.since.get_or_insert(now);
        if link.session.is_none() && now.saturating_sub(since) > server.hello_timeout {
            out.drop_client(client, &mut link, DropReason::Silent(server.hello_timeout));
        }
    }
}

fn serve(
    mut frames: MessageReader<FromClient<ToServer>>,
    time: Res<Time<Real>>,
    mut server: ResMut<NetServer>,
    mut links: Query<&mut NetLink>,
    mut out: Outgoing,
    mut joined: MessageWriter<ClientJoined>,
) {
    for frame in frames.read() {
        let ClientId::Client(client) = frame.client_id else { continue };
        let Ok(mut link) = links.get_mut(client) else { continue };
        if link.dropped {
            continue;
        }
        let (rate, burst) = (server.messages_per_second, server.message_burst);
        if link.rate.get_or_insert_with(|| TokenBucket::new(rate, burst)).take(time.elapsed()).is_err() {
            out.drop_client(client, &mut link, DropReason::Flooding(rate));
            continue;
        }
        let reply = match ClientMessage::decode(&frame.message.0) {
            Err(WireError::Version { got, .. }) => Err(DropReason::Refused(HandshakeError::protocol(got))),
            Err(e) => Err(DropReason::BadMessage(e)),
            Ok(message) => answer(&mut server, client, &mut link, message, &mut joined),
        };
        match reply {
            Ok(Some(m)) => out.send(client, &m),
            Ok(None) => {}
            Err(reason) => out.drop_client(client, &mut link, reason),
        }
    }
}

/// What the server answers a valid message with (`Err`: drop the client for that reason).
fn answer(
    server: &mut NetServer,
    client: Entity,
    link: &mut NetLink,
    message: ClientMessage,
    joined: &mut MessageWriter<ClientJoined>,
) -> Result<Option<ServerMessage>, DropReason> {
    match (message, link.session) {
        (ClientMessage::Hello(hello), None) => {
            server.identity.check(&hello.identity).map_err(DropReason::Refused)?;
            link.session = Some(hello.session);
            let number = server.next_client;
            server.next_client = server.next_client.wrapping_add(1);
            info!("strata net: client {client} ({:?}, session {:x}) joined", hello.name, hello.session);
            joined.write(ClientJoined { client, name: hello.name, session: hello.session });
            Ok(Some(ServerMessage::Welcome(Welcome {
                client: number,
                world: server.world,
                sequence: 0,
                identity: server.identity.clone(),
                edits_per_second: server.edits_per_second,
            })))
        }
        (ClientMessage::Goodbye(reason), _) => Err(DropReason::Left(reason)),
        (ClientMessage::Hello(_), Some(_)) => Err(DropReason::Protocol("a second hello")),
        (_, None) => Err(DropReason::Protocol("a message before its hello")),
        (ClientMessage::KeepAlive(k), Some(_)) if !k.reply => {
            Ok(Some(ServerMessage::KeepAlive(strata_net::KeepAlive { nonce: k.nonce, reply: true })))
        }
        (ClientMessage::View(v), Some(_)) => {
            link.view = Some(v);
            Ok(None)
        }
        // Edits: handled by the streaming server (to come).
        (_, Some(_)) => Ok(None),
    }
}

/// Where a client's connection stands.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum NetStatus {
    /// Not connected yet, or the hello is on its way.
    #[default]
    Connecting,
    /// The server welcomed us.
    Connected(Welcome),
    /// The handshake failed: the server refused us, or we refused the server (the same error
    /// either way).
    Refused(HandshakeError),
    /// The connection ended otherwise (the server sent something invalid, or went away).
    Lost(String),
}

/// The client's side of the protocol.
#[derive(Resource, Debug)]
pub struct NetClient {
    /// The world this client shows.
    pub identity: WorldIdentity,
    /// A display name for the server's logs.
    pub name: String,
    /// Kept across reconnects (see [`Hello::session`]).
    pub session: u64,
    /// Where the connection stands.
    pub status: NetStatus,
    hello_sent: bool,
    /// The view last sent and when (real time).
    last_view: Option<(ViewUpdate, std::time::Duration)>,
}

impl NetClient {
    /// A client of the world `identity`, with a random session.
    pub fn new(name: impl Into<String>, identity: WorldIdentity) -> Self {
        let session = strata_core::WorldId::random().0;
        Self { identity, name: name.into(), session, status: NetStatus::Connecting, hello_sent: false, last_view: None }
    }
}

/// The client half: says hello once connected and follows the answer. Needs a [`NetClient`]
/// resource.
pub struct StrataNetClientPlugin;

impl Plugin for StrataNetClientPlugin {
    fn build(&self, app: &mut App) {
        register_frames(app);
        app.add_systems(Update, (say_hello, follow_server, send_view).chain().run_if(resource_exists::<NetClient>));
    }
}

fn say_hello(state: Res<State<ClientState>>, mut client: ResMut<NetClient>, mut out: MessageWriter<ToServer>) {
    match state.get() {
        ClientState::Connected if !client.hello_sent => {
            let hello = Hello {
                name: client.name.clone(),
                identity: client.identity.clone(),
                last_world: strata_core::WorldId::UNSEALED,
                session: client.session,
            };
            // Sent once per connection: a hello over the limits (too many materials) ends here
            // instead of being retried every frame.
            client.hello_sent = true;
            match encode_client(&ClientMessage::Hello(hello)) {
                Some(f) => {
                    out.write(f);
                }
                None => client.status = NetStatus::Lost("our hello is over the protocol's limits".into()),
            }
        }
        ClientState::Disconnected if client.hello_sent => {
            client.hello_sent = false;
            if matches!(client.status, NetStatus::Connected(_) | NetStatus::Connecting) {
                client.status = NetStatus::Lost("disconnected".into());
            }
        }
        _ => {}
    }
}

fn follow_server(mut frames: MessageReader<ToClient>, mut client: ResMut<NetClient>, mut out: MessageWriter<ToServer>) {
    for frame in frames.read() {
        match ServerMessage::decode(&frame.0) {
            Ok(ServerMessage::Welcome(w)) => {
                client.status = match client.identity.check(&w.identity) {
                    Ok(()) => NetStatus::Connected(w),
                    Err(e) => {
                        warn!("strata net: refusing the server's world: {e}");
                        out.write_batch(encode_client(&ClientMessage::Goodbye(reason_text(&e))));
                        NetStatus::Refused(e)
                    }
                };
            }
            Ok(ServerMessage::Refused(e)) => {
                warn!("strata net: the server refused us: {e}");
                client.status = NetStatus::Refused(e);
            }
            Ok(ServerMessage::Goodbye(reason)) => client.status = NetStatus::Lost(reason),
            Ok(_) => {}
            Err(e) => {
                warn!("strata net: the server sent an invalid message: {e}");
                client.status = NetStatus::Lost(format!("invalid message from the server: {e}"));
            }
        }
    }
}

/// How far (voxels) a viewer moves before the client tells the server again.
const VIEW_MOVE: f64 = 8.0;
/// The least time between two views sent.
const VIEW_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// Once welcomed, tells the server where the app's viewers ([`ViewerPositions`]: the first
/// [`MAX_VIEWERS`]) look from and the LOD settings ([`StrataConfig`]), again when a viewer moved
/// [`VIEW_MOVE`] voxels or the settings changed, at most every [`VIEW_INTERVAL`].
fn send_view(
    time: Res<Time<Real>>,
    mut client: ResMut<NetClient>,
    viewers: Option<Res<crate::ViewerPositions>>,
    config: Option<Res<crate::StrataConfig>>,
    mut out: MessageWriter<ToServer>,
) {
    if !matches!(client.status, NetStatus::Connected(_)) {
        return;
    }
    let Some(viewers) = viewers else { return };
    let config = config.map(|c| c.clone()).unwrap_or_default();
    let positions: Vec<[f64; 3]> = viewers.viewers.iter().take(MAX_VIEWERS).map(|(p, _)| p.to_array()).collect();
    let distance = viewers.viewers.iter().take(MAX_VIEWERS).map(|(_, d)| *d).fold(0.0, f64::max);
    let view = ViewUpdate {
        viewers: positions,
        view_distance: if distance.is_finite() { distance.max(0.0) as f32 } else { 0.0 },
        lod_max_level: u8::try_from(config.lod_max_level).unwrap_or(u8::MAX),
        lod_split_distance: finite_non_negative(config.lod_split_distance),
        lod_hysteresis: finite_non_negative(config.lod_hysteresis),
    };
    let now = time.elapsed();
    if let Some((last, at)) = &client.last_view
        && (now.saturating_sub(*at) < VIEW_INTERVAL || !view_moved(last, &view))
    {
        return;
    }
    if let Some(f) = encode_client(&ClientMessage::View(view.clone())) {
        out.write(f);
        client.last_view = Some((view, now));
    }
}

fn finite_non_negative(v: f32) -> f32 {
    if strata_net::wire::is_non_negative(v) { v } else { 0.0 }
}

/// Whether `new` is worth telling the server after `old`.
fn view_moved(old: &ViewUpdate, new: &ViewUpdate) -> bool {
    old.viewers.len() != new.viewers.len()
        || old.view_distance != new.view_distance
        || old.lod_max_level != new.lod_max_level
        || old.lod_split_distance != new.lod_split_distance
        || old.lod_hysteresis != new.lod_hysteresis
        || old.viewers.iter().zip(&new.viewers).any(|(a, b)| {
            let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
            d[0] * d[0] + d[1] * d[1] + d[2] * d[2] >= VIEW_MOVE * VIEW_MOVE
        })
}
