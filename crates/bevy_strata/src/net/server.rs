//! The server half: handshake, clients' views and interest sets, edit intents, acknowledgements
//! and the chunks each client is sent.

use super::shared::{SharedFollow, follow_shared_world};
use super::*;
use crate::messages::{EditsCommitted, GameDataEdited, VoxelsEdited};
use crate::persistence::StrataPersistence;
use crate::state::StrataWorld;
use bevy::platform::collections::{HashMap, HashSet};
use bevy::tasks::{IoTaskPool, Task, futures::check_ready};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;
use strata_core::codec::{self, WorldId};
use strata_core::store::{ChunkStore, StoreError};
use strata_core::{ChunkKey, Edit, MortonKey};
use strata_index::NodeId;
use strata_net::message::MAX_CHANGED_KEYS;
use strata_net::server::{AckQueue, ByteBudget, EditGate, EditLedger, EditLimits, Intake, Outbox, TokenBucket};
use strata_net::{ChunkRecord, ChunksChanged, EditIntent, EditOutcome, Rejection};
use strata_stream::lod_select::{LodSelector, LodSettings, ViewRule, Viewer};

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
    Silent(Duration),
    /// The client kept sending edits the server refuses ([`EditLimits::flood_after`] in a row).
    #[error("sent {0} refused edits in a row")]
    EditFlooding(u32),
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

/// A game's rule for edits, asked after the server's own limits: `Err` refuses the edit with
/// that reason (e.g. [`Rejection::Game`]), told to the client.
pub type EditHook = Arc<dyn Fn(&EditRequest) -> Result<(), Rejection> + Send + Sync>;

/// An edit a client asks for, as [`NetServer::edit_hook`] sees it.
#[derive(Debug)]
pub struct EditRequest<'a> {
    /// The client's entity.
    pub client: Entity,
    /// Its session.
    pub session: u64,
    /// The edit.
    pub edit: &'a Edit,
    /// Where its viewers were, as it last said (voxels).
    pub viewers: &'a [[f64; 3]],
}

/// The server's side of the protocol: its world's identity, its limits, and the bookkeeping of
/// its clients' edits.
///
/// # What a client gets
/// Its **interest set** is what its own view shows: the octree nodes a [`LodSelector`] with the
/// client's LOD settings selects around the viewers it reported, the view distance capped by
/// [`NetServer::max_view_distance`] and widened by [`INTEREST_MARGIN`] (so a client that moved
/// a little since it last said is still covered). Every **stored** chunk under those nodes is
/// sent once as its sealed record, nearest first, within the client's [`ByteBudget`]
/// ([`NetServer::budget`]); unedited chunks cost nothing. After each durable commit, every
/// changed chunk goes at once (not paced) to each client whose interest holds it, as its new
/// record (a deletion record if it is the generator's again), before the acknowledgements of
/// that commit; a client holding a changed chunk outside its interest is told it is stale
/// ([`ChunksChanged`]).
///
/// # Edits
/// An intent is checked by the client's [`EditGate`] ([`NetServer::edit_limits`]), the reach
/// ([`NetServer::reach`]) and the game's [`NetServer::edit_hook`]; a refusal is answered at
/// once. An admitted edit goes to the world's delta log with a commit request
/// ([`StrataPersistence::commit_now`]) and is acknowledged when the commit covering that
/// request succeeded (the commit's sequence number), never before: an acknowledged edit is
/// durable. Intents sent again after a reconnect are answered from the session's
/// [`EditLedger`], never applied twice.
#[derive(Resource)]
pub struct NetServer {
    /// What clients must match.
    pub identity: WorldIdentity,
    /// What each client may edit: rate, burst, voxels per intent, refusals before it counts
    /// as flooding (then it is dropped, [`DropReason::EditFlooding`]).
    pub edit_limits: EditLimits,
    /// Messages of any kind a client may send per second (sustained; default 200), and at once
    /// (default 400): a client over it is dropped ([`DropReason::Flooding`]).
    pub messages_per_second: f64,
    /// See [`NetServer::messages_per_second`].
    pub message_burst: u32,
    /// How long a connected client may stay without a hello (default 10 s): a connection that
    /// never says hello holds a slot ([`DropReason::Silent`]).
    pub hello_timeout: Duration,
    /// Bytes per second of chunk records each client is sent while its view fills (default
    /// 1 MiB/s, bursts of 256 KiB).
    pub budget: ByteBudget,
    /// The largest view distance (voxels) served to a client, whatever it asks (default 4096).
    pub max_view_distance: f64,
    /// How far (voxels) from one of the client's viewers every voxel of its edit must be;
    /// `None` (default): no limit. Farther edits are refused [`Rejection::OutOfReach`].
    pub reach: Option<f64>,
    /// The game's rule for edits, if any (see [`EditHook`]).
    pub edit_hook: Option<EditHook>,
    /// Whether clients may write game data ([`ClientEdit::BlockData`](strata_net::ClientEdit::BlockData),
    /// [`ClientEdit::EntityData`](strata_net::ClientEdit::EntityData)); default `false`: such
    /// edits are refused ([`Rejection::Game`]), because entity records also hold what the server
    /// itself saves ([`crate::PersistWithChunk`] entities) and only the game knows which bytes
    /// a player may change. When `true`, they pass the same gate as voxel edits (one token
    /// each, at most [`MAX_VALUE_LEN`](strata_core::side::MAX_VALUE_LEN) bytes), the reach (block
    /// data: its voxel; an entity record: its chunk's box) and the [`NetServer::edit_hook`],
    /// which should check them.
    pub client_game_data: bool,
    /// Settled outcomes remembered per session, to answer intents sent again after a
    /// reconnect (default 1024).
    pub ledger_memory: usize,
    /// How long a session's outcomes are remembered after its connection went (default 10 min).
    /// Then only its highest intent id is kept (a few bytes): intents it sends again after
    /// reconnecting later are answered [`Rejection::Forgotten`] (whether they were applied is
    /// not known any more), never applied twice; new ones are taken as usual.
    pub session_memory: Duration,
    /// Main-thread time per frame for following clients' views (selecting their interest sets,
    /// scanning the store; default 2 ms): the views changed longest ago go first, at least one
    /// a frame, and the rest wait for the next frame (a client's interest set reaches
    /// [`INTEREST_MARGIN`] beyond its view, so it is still covered while it waits).
    pub interest_budget: Duration,
    /// How often the store's change log is read for chunks other servers sharing the world
    /// committed (default 100 ms; only for a store other processes write, a Redis Cluster
    /// world): their clients' edits reach this server's clients within about this much plus
    /// one frame.
    pub shared_poll: Duration,
    /// Edited chunks' records a client may hold (default 8,192: tens of MiB at most): past it,
    /// those outside its interest set are forgotten, farthest first, down to 3/4 of it — by the
    /// server and, told by a [`ChunksChanged`], by the client — and sent again if its view comes
    /// back. So neither side's memory grows with a long flight over an edited world.
    pub client_chunk_budget: usize,
    pub(super) shared: SharedFollow,
    next_client: u32,
    view_serial: u64,
    interest_updates: u64,
    interest_lag_max: Duration,
    ledgers: HashMap<u64, EditLedger>,
    acks: AckQueue<u64>,
    /// The connection of each session that said hello (the latest one), and since when it is
    /// gone (real time since start-up).
    sessions: HashMap<u64, (Entity, Option<Duration>)>,
    /// The highest intent id of each session forgotten ([`NetServer::session_memory`]).
    forgotten: HashMap<u64, u32>,
    /// Chunks changed by applies (world version, key), waiting for the commit that makes them
    /// durable.
    changed: Vec<(u64, ChunkKey)>,
    /// Chunks durable and not sent yet: committed by this server or named by the change log
    /// (or a store read failed: read again next frame).
    pub(super) to_send: Vec<ChunkKey>,
}

impl std::fmt::Debug for NetServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetServer")
            .field("identity", &self.identity)
            .field("edit_limits", &self.edit_limits)
            .field("sessions", &self.sessions.len())
            .field("unacknowledged", &self.acks.len())
            .finish_non_exhaustive()
    }
}

/// How far (voxels) beyond a client's view distance its interest set reaches: more than a
/// viewer moves between two view updates, so what the client shows is covered.
pub const INTEREST_MARGIN: f64 = 48.0;

impl NetServer {
    /// A server of the world `identity`, with the default limits.
    pub fn new(identity: WorldIdentity) -> Self {
        Self {
            identity,
            edit_limits: EditLimits::default(),
            messages_per_second: 200.0,
            message_burst: 400,
            hello_timeout: Duration::from_secs(10),
            budget: ByteBudget::default(),
            max_view_distance: 4096.0,
            reach: None,
            edit_hook: None,
            client_game_data: false,
            ledger_memory: 1024,
            interest_budget: Duration::from_millis(2),
            session_memory: Duration::from_secs(600),
            shared_poll: Duration::from_millis(100),
            client_chunk_budget: 8192,
            shared: SharedFollow::default(),
            next_client: 1,
            view_serial: 0,
            interest_updates: 0,
            interest_lag_max: Duration::ZERO,
            ledgers: HashMap::default(),
            acks: AckQueue::default(),
            sessions: HashMap::default(),
            forgotten: HashMap::default(),
            changed: Vec::new(),
            to_send: Vec::new(),
        }
    }

    /// Edits applied and waiting for the commit that acknowledges them.
    pub fn unacknowledged(&self) -> usize {
        self.acks.len()
    }

    /// Sessions remembered (connected, or gone for less than [`NetServer::session_memory`]).
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Interest sets updated since start (one per view followed), and the longest a view
    /// waited for it ([`NetServer::interest_budget`]).
    pub fn interest_updates(&self) -> (u64, Duration) {
        (self.interest_updates, self.interest_lag_max)
    }

    /// Chunks the shared world's change log named (other servers' commits) since start, and
    /// the gaps it had (each made every client's view be read again). Both 0 for a world only
    /// this server writes.
    pub fn shared_changes(&self) -> (u64, u64) {
        (self.shared.chunks_named, self.shared.gaps)
    }
}

/// What the server keeps of a client's view: the nodes it shows and the chunks it was sent.
#[derive(Debug)]
struct Interest {
    selector: LodSelector,
    viewers: Vec<[f64; 3]>,
    /// Chunks whose record the client holds (sent, and not declared stale since).
    known: HashSet<ChunkKey>,
    outbox: Outbox,
    /// Store scans of nodes that entered the interest set, running on the I/O pool.
    scans: Vec<ScanTask>,
    /// Ranges whose scan failed: scanned again from the instant ([`RESCAN_DELAY`] later).
    rescan: Vec<RangeInclusive<MortonKey>>,
    rescan_at: Option<std::time::Instant>,
}

/// How long after a failed scan of a client's view it is tried again.
const RESCAN_DELAY: Duration = Duration::from_millis(500);

/// What a scan found: each stored chunk's record, or the ranges and why the scan failed.
type Scanned = Result<Vec<(ChunkKey, Vec<u8>)>, (Vec<RangeInclusive<MortonKey>>, StoreError)>;

/// A scan of node ranges on the I/O pool.
struct ScanTask(Task<Scanned>);

impl std::fmt::Debug for ScanTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScanTask")
    }
}

/// Scans `ranges` of `store` on the I/O pool (the main thread never waits on a store: a Redis
/// scan is a round trip or two).
fn spawn_scan(store: Arc<dyn ChunkStore>, ranges: Vec<RangeInclusive<MortonKey>>) -> ScanTask {
    ScanTask(IoTaskPool::get_or_init(Default::default).spawn(async move {
        let mut found = Vec::new();
        for range in &ranges {
            let scanned = store.scan(range.clone(), &mut |key, record| {
                found.push((key.to_chunk(), record.to_vec()));
                std::ops::ControlFlow::Continue(())
            });
            if let Err(e) = scanned {
                return Err((ranges, e));
            }
        }
        Ok(found)
    }))
}

impl Interest {
    /// Whether `key` lies under a selected node. O(levels).
    fn contains(&self, key: ChunkKey) -> bool {
        selected_over(&self.selector, key)
    }

    /// Queue order of `key`: squared distance (chunks) from the nearest viewer to its centre.
    fn priority(&self, key: ChunkKey) -> u64 {
        let c = key.to_array().map(|v| (f64::from(v) + 0.5) * strata_core::CHUNK_SIZE as f64);
        let d2 = self
            .viewers
            .iter()
            .map(|p| (0..3).map(|a| ((c[a] - p[a]) / strata_core::CHUNK_SIZE as f64).powi(2)).sum::<f64>())
            .fold(f64::INFINITY, f64::min);
        if d2.is_finite() { d2 as u64 } else { u64::MAX }
    }
}

/// Whether `key` lies under a node `selector` selected. O(levels).
fn selected_over(selector: &LodSelector, key: ChunkKey) -> bool {
    (0..=selector.settings().max_level).any(|level| selector.is_selected(&NodeId::containing(key, level)))
}

/// Per connected client, on replicon's client entity.
#[derive(Component, Debug, Default)]
pub struct NetLink {
    /// The client's session once it said hello.
    pub session: Option<u64>,
    /// When the server first saw the connection (real time since start-up).
    since: Option<Duration>,
    /// Its message rate ([`NetServer::messages_per_second`]), from its first message.
    rate: Option<TokenBucket>,
    /// Whether the server has asked to disconnect it.
    dropped: bool,
    /// Where it looks from, as it last said.
    view: Option<ViewUpdate>,
    /// When `view` changed (the server's view serial, and the time) if the interest set has not
    /// followed yet.
    view_waiting: Option<(u64, std::time::Instant)>,
    /// Its edit limits, from its hello.
    gate: Option<EditGate>,
    interest: Option<Interest>,
}

impl NetLink {
    /// Where the client looks from, as it last said (`None` before its first view).
    pub fn view(&self) -> Option<&ViewUpdate> {
        self.view.as_ref()
    }

    /// Chunk records queued for the client (its view is still filling).
    pub fn queued_chunks(&self) -> usize {
        self.interest.as_ref().map_or(0, |i| i.outbox.len())
    }

    /// Store scans of the client's view running (nodes that entered its interest set).
    pub fn scans_in_flight(&self) -> usize {
        self.interest.as_ref().map_or(0, |i| i.scans.len())
    }

    /// Chunks whose record the client holds.
    pub fn known_chunks(&self) -> usize {
        self.interest.as_ref().map_or(0, |i| i.known.len())
    }

    /// Makes the client's view be read again from scratch (after a gap in the shared world's
    /// change log): its interest set is selected and scanned anew at the next update; returns
    /// the chunks it holds, to be sent again (or declared stale).
    pub(super) fn read_again(&mut self) -> Vec<ChunkKey> {
        let Some(interest) = self.interest.as_mut() else { return Vec::new() };
        interest.selector = LodSelector::new(interest.selector.settings());
        self.view_waiting.get_or_insert((0, std::time::Instant::now()));
        interest.known.iter().copied().collect()
    }
}

/// The server half: the handshake, each client's interest set and chunks, edit intents and
/// their acknowledgements; drops clients that misbehave. Needs a [`NetServer`] resource and,
/// to serve a world, the `StrataPlugin` (or `StrataMinimalPlugins`).
pub struct StrataNetServerPlugin;

impl Plugin for StrataNetServerPlugin {
    fn build(&self, app: &mut App) {
        register_frames(app);
        app.add_message::<ClientDropped>()
            .add_message::<ClientJoined>()
            .add_message::<EditsCommitted>()
            .add_message::<VoxelsEdited>()
            .add_message::<GameDataEdited>()
            .add_observer(|add: On<Add, ConnectedClient>, mut commands: Commands| {
                commands.entity(add.entity).insert(NetLink::default());
            })
            .add_systems(
                Update,
                (
                    (serve, drop_silent).chain().before(crate::StrataSystems::ApplyEdits),
                    (follow_shared_world, stream_chunks).chain().after(crate::StrataSystems::ApplyEdits),
                )
                    .run_if(resource_exists::<NetServer>),
            );
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
            self.send_frame(client, f);
        }
    }

    fn send_frame(&mut self, client: Entity, frame: ToClient) {
        self.frames.write(ToClients { targets: SendTargets::Single(ClientId::Client(client)), message: frame });
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
    mut server: ResMut<NetServer>,
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
    forget_old_sessions(&mut server, now, |client| links.contains(client));
}

/// Forgets the sessions whose connection has been gone for [`NetServer::session_memory`]: their
/// ledger and unacknowledged intents (the edits stay applied and are committed). O(sessions).
fn forget_old_sessions(server: &mut NetServer, now: Duration, connected: impl Fn(Entity) -> bool) {
    let server = &mut *server;
    let memory = server.session_memory;
    let mut forgotten = Vec::new();
    for (&session, (client, gone)) in &mut server.sessions {
        if connected(*client) {
            *gone = None;
        } else if now.saturating_sub(*gone.get_or_insert(now)) >= memory {
            forgotten.push(session);
        }
    }
    for session in forgotten {
        server.sessions.remove(&session);
        if let Some(highest) = server.ledgers.remove(&session).and_then(|l| l.highest()) {
            server.forgotten.insert(session, highest);
        }
        server.acks.forget(session);
    }
}

/// The world, when it is open: where admitted edits go.
#[derive(bevy::ecs::system::SystemParam)]
struct ServedWorld<'w> {
    world: Option<ResMut<'w, StrataWorld>>,
    persistence: Option<ResMut<'w, StrataPersistence>>,
}

fn serve(
    mut frames: MessageReader<FromClient<ToServer>>,
    time: Res<Time<Real>>,
    mut server: ResMut<NetServer>,
    mut world: ServedWorld,
    mut links: Query<&mut NetLink>,
    mut out: Outgoing,
    mut joined: MessageWriter<ClientJoined>,
) {
    let now = time.elapsed();
    for frame in frames.read() {
        let ClientId::Client(client) = frame.client_id else { continue };
        let Ok(mut link) = links.get_mut(client) else { continue };
        if link.dropped {
            continue;
        }
        let (rate, burst) = (server.messages_per_second, server.message_burst);
        if link.rate.get_or_insert_with(|| TokenBucket::new(rate, burst)).take(now).is_err() {
            out.drop_client(client, &mut link, DropReason::Flooding(rate));
            continue;
        }
        let reply = match ClientMessage::decode(&frame.message.0) {
            Err(WireError::Version { got, .. }) => Err(DropReason::Refused(HandshakeError::protocol(got))),
            Err(e) => Err(DropReason::BadMessage(e)),
            Ok(ClientMessage::Edit(intent)) if link.session.is_some() => {
                take_edit(&mut server, &mut world, client, &mut link, intent, now)
            }
            Ok(message) => answer(&mut server, &world, client, &mut link, message, &mut joined),
        };
        match reply {
            Ok(Some(m)) => out.send(client, &m),
            Ok(None) => {}
            Err(reason) => out.drop_client(client, &mut link, reason),
        }
    }
}

/// What the server answers a valid message other than an edit with (`Err`: drop the client for
/// that reason).
fn answer(
    server: &mut NetServer,
    world: &ServedWorld,
    client: Entity,
    link: &mut NetLink,
    message: ClientMessage,
    joined: &mut MessageWriter<ClientJoined>,
) -> Result<Option<ServerMessage>, DropReason> {
    match (message, link.session) {
        (ClientMessage::Hello(hello), None) => {
            server.identity.check(&hello.identity).map_err(DropReason::Refused)?;
            let Some(sw) = world.world.as_ref() else {
                return Err(DropReason::Refused(HandshakeError::Refused("the world is still opening".into())));
            };
            link.session = Some(hello.session);
            link.gate = Some(EditGate::new(server.edit_limits));
            server.sessions.insert(hello.session, (client, None));
            let number = server.next_client;
            server.next_client = server.next_client.wrapping_add(1);
            info!("strata net: client {client} ({:?}, session {:x}) joined", hello.name, hello.session);
            joined.write(ClientJoined { client, name: hello.name, session: hello.session });
            Ok(Some(ServerMessage::Welcome(Welcome {
                client: number,
                world: sw.world.store().world_id(),
                sequence: 0,
                identity: server.identity.clone(),
                edits_per_second: server.edit_limits.edits_per_second.clamp(0.0, f64::from(u32::MAX)) as u32,
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
            server.view_serial += 1;
            link.view_waiting.get_or_insert((server.view_serial, std::time::Instant::now()));
            Ok(None)
        }
        (_, Some(_)) => Ok(None),
    }
}

/// An edit intent: answered from the ledger if it was sent before, else checked and either
/// refused at once or handed to the world (acknowledged by [`stream_chunks`] after its commit).
fn take_edit(
    server: &mut NetServer,
    world: &mut ServedWorld,
    client: Entity,
    link: &mut NetLink,
    intent: EditIntent,
    now: Duration,
) -> Result<Option<ServerMessage>, DropReason> {
    let Some(session) = link.session else { return Err(DropReason::Protocol("an edit before its hello")) };
    let memory = server.ledger_memory;
    let forgotten = &mut server.forgotten;
    let ledger = server.ledgers.entry(session).or_insert_with(|| match forgotten.remove(&session) {
        Some(highest) => EditLedger::after(memory, highest),
        None => EditLedger::new(memory),
    });
    match ledger.intake(intent.id) {
        Intake::New => {}
        Intake::Answered(outcome) => return Ok(Some(ServerMessage::EditOutcome(outcome))),
        Intake::InFlight => return Ok(None),
    }
    let edit: Edit = intent.edit.into();
    let gate = link.gate.get_or_insert_with(|| EditGate::new(server.edit_limits));
    let viewers = link.view.as_ref().map_or(&[][..], |v| &v.viewers[..]);
    let game_data = matches!(edit, Edit::BlockData { .. } | Edit::EntityData { .. });
    let verdict = gate
        .admit(&edit, now)
        .and_then(|()| {
            if game_data && !server.client_game_data {
                Err(Rejection::Game("this server takes no game data from clients".into()))
            } else {
                Ok(())
            }
        })
        .and_then(|()| match server.reach {
            Some(reach) if !within_reach(&edit, viewers, reach) => Err(Rejection::OutOfReach),
            _ => Ok(()),
        })
        .and_then(|()| match &server.edit_hook {
            Some(hook) => hook(&EditRequest { client, session, edit: &edit, viewers }),
            None => Ok(()),
        });
    let flooding = gate.flooding();
    let admitted = match (verdict, world.world.as_mut(), world.persistence.as_mut()) {
        (Err(reason), ..) => Err(reason),
        (Ok(()), Some(sw), Some(p)) => {
            sw.world.push_edit(edit);
            Ok(p.commit_now())
        }
        (Ok(()), ..) => Err(Rejection::NotCommitted("the world is not open".into())),
    };
    let ledger = server.ledgers.entry(session).or_insert_with(|| EditLedger::new(memory));
    match admitted {
        Ok(ticket) => {
            server.acks.applied(ticket.0, session, intent.id);
            Ok(None)
        }
        Err(reason) => {
            let outcome = EditOutcome { id: intent.id, result: Err(reason) };
            ledger.settled(&outcome);
            if flooding {
                return Err(DropReason::EditFlooding(server.edit_limits.flood_after));
            }
            Ok(Some(ServerMessage::EditOutcome(outcome)))
        }
    }
}

/// Whether every voxel `edit` writes lies within `reach` voxels of one of `viewers` (none: no
/// viewer reported, nothing is in reach). Measured to the edit's bounding box. O(1), O(n) for a
/// list.
fn within_reach(edit: &Edit, viewers: &[[f64; 3]], reach: f64) -> bool {
    let Some((lo, hi)) = voxel_box(edit) else { return true };
    viewers.iter().any(|p| {
        // The farthest corner of the box from the viewer (voxel centres).
        let d2: f64 = (0..3)
            .map(|a| {
                let far = (p[a] - (lo[a] + 0.5)).abs().max((hi[a] + 0.5 - p[a]).abs());
                far * far
            })
            .sum();
        d2 <= reach * reach
    })
}

/// The voxels `edit` may write: an inclusive box (`None` for an empty list).
fn voxel_box(edit: &Edit) -> Option<([f64; 3], [f64; 3])> {
    let f = |p: &strata_core::VoxelPos| [p.x, p.y, p.z].map(f64::from);
    match edit {
        Edit::Set(p, _) => Some((f(p), f(p))),
        Edit::Many(list) => {
            let mut it = list.iter().map(|(p, _)| f(p));
            let first = it.next()?;
            Some(it.fold((first, first), |(lo, hi), p| {
                (std::array::from_fn(|a| lo[a].min(p[a])), std::array::from_fn(|a| hi[a].max(p[a])))
            }))
        }
        Edit::FillBox { min, max, .. } => Some((f(min), f(max))),
        Edit::FillSphere { center, radius, .. } => {
            let c = f(center);
            let r = f64::from(radius.ceil());
            Some((c.map(|v| v - r), c.map(|v| v + r)))
        }
        Edit::BlockData { pos, .. } => Some((f(pos), f(pos))),
        Edit::EntityData { chunk, .. } => {
            let lo = f(&chunk.min_voxel());
            Some((lo, lo.map(|v| v + (strata_core::CHUNK_SIZE - 1) as f64)))
        }
        // Not a client's edit; the whole world.
        _ => Some(([f64::MIN; 3], [f64::MAX; 3])),
    }
}

/// The LOD settings and viewers the server selects a client's interest set with, from its
/// view: the client's settings (node-box distances, the wider rule), its view distance capped
/// and widened by [`INTEREST_MARGIN`]. `None` for settings the selector refuses.
fn interest_view(view: &ViewUpdate, max_view_distance: f64) -> Option<(LodSettings, Vec<Viewer>)> {
    let settings = LodSettings {
        max_level: u32::from(view.lod_max_level).min(crate::MAX_LOD_LEVEL),
        split_distance: f64::from(view.lod_split_distance),
        hysteresis: f64::from(view.lod_hysteresis),
        view_rule: ViewRule::NodeBox,
    };
    let distance = f64::from(view.view_distance).min(max_view_distance) + INTEREST_MARGIN;
    settings.validate(distance).ok()?;
    Some((settings, view.viewers.iter().map(|&position| Viewer { position, view_distance: distance }).collect()))
}

/// Follows a client's new view: the nodes it now shows are scanned for stored chunks on the I/O
/// pool ([`take_scans`] queues those it does not hold, nearest first). Returns the chunks the
/// server forgot the client holds ([`NetServer::client_chunk_budget`]): the client is to be told
/// to drop them ([`ChunksChanged`]).
fn update_interest(link: &mut NetLink, server: &mut NetServer, store: &Arc<dyn ChunkStore>) -> Vec<ChunkKey> {
    if let Some((_, since)) = link.view_waiting.take() {
        server.interest_updates += 1;
        server.interest_lag_max = server.interest_lag_max.max(since.elapsed());
    }
    let Some(view) = &link.view else { return Vec::new() };
    let Some((settings, viewers)) = interest_view(view, server.max_view_distance) else {
        warn!("strata net: a client's view has LOD settings the server cannot serve; keeping its last one");
        return Vec::new();
    };
    let interest = link.interest.get_or_insert_with(|| Interest {
        selector: LodSelector::new(settings),
        viewers: Vec::new(),
        known: HashSet::default(),
        outbox: Outbox::new(server.budget),
        scans: Vec::new(),
        rescan: Vec::new(),
        rescan_at: None,
    });
    interest.selector.set_settings(settings);
    interest.viewers = viewers.iter().map(|v| v.position).collect();
    let diff = interest.selector.update(&viewers);
    let mut left = Vec::new();
    if interest.known.len() > server.client_chunk_budget {
        // Farthest first, down to 3/4 of the budget (so this runs once per quarter budget of
        // new chunks, not at every update), and only chunks outside the interest set: with LOD,
        // a chunk leaves it when its coarse node splits and comes back when it merges, so
        // forgetting every chunk that left would send the same records again and again
        // (measured: twice the bytes of a straight flight).
        let mut outside: Vec<(u64, ChunkKey)> = interest
            .known
            .iter()
            .filter(|&&key| !interest.contains(key))
            .map(|&key| (interest.priority(key), key))
            .collect();
        outside.sort_unstable_by(|a, b| b.cmp(a));
        let budget = server.client_chunk_budget;
        let excess = interest.known.len() - (budget - budget / 4);
        for (_, key) in outside.into_iter().take(excess) {
            interest.known.remove(&key);
            left.push(key);
        }
    }
    let ranges = coalesced(diff.added.iter().map(|node| {
        let (lo, _) = node.chunk_range();
        MortonKey::region_range(ChunkKey::new(lo[0] as i32, lo[1] as i32, lo[2] as i32), node.level)
    }));
    if !ranges.is_empty() {
        interest.scans.push(spawn_scan(store.clone(), ranges));
    }
    left
}

/// Queues the records the client's finished scans found and it does not hold (still in its
/// interest set), nearest first; a failed scan is started again [`RESCAN_DELAY`] later.
fn take_scans(interest: &mut Interest, store: &Arc<dyn ChunkStore>) {
    if !interest.rescan.is_empty() && interest.rescan_at.is_none_or(|t| std::time::Instant::now() >= t) {
        let ranges = std::mem::take(&mut interest.rescan);
        interest.scans.push(spawn_scan(store.clone(), ranges));
    }
    let mut finished = Vec::new();
    interest.scans.retain_mut(|task| match check_ready(&mut task.0) {
        Some(result) => {
            finished.push(result);
            false
        }
        None => true,
    });
    for result in finished {
        let found = match result {
            Ok(found) => found,
            Err((ranges, e)) => {
                warn!("strata net: reading the chunks of a client's view failed (trying again): {e}");
                interest.rescan.extend(ranges);
                interest.rescan_at = Some(std::time::Instant::now() + RESCAN_DELAY);
                continue;
            }
        };
        for (key, record) in found {
            if interest.known.contains(&key) || !interest.contains(key) {
                continue;
            }
            let message = ChunkRecord::new(record).and_then(|record| {
                let mut message = Vec::new();
                ServerMessage::Chunk(record).encode(&mut message).map(|()| message)
            });
            match message {
                Ok(message) => interest.outbox.push(key, interest.priority(key), message),
                Err(e) => warn!("strata net: a stored record of chunk {key:?} is not sent: {e}"),
            }
        }
    }
}

/// What the world did: applies (changed chunks) and commits.
#[derive(bevy::ecs::system::SystemParam)]
struct WorldNews<'w, 's> {
    edited: MessageReader<'w, 's, VoxelsEdited>,
    game_data: MessageReader<'w, 's, GameDataEdited>,
    committed: MessageReader<'w, 's, EditsCommitted>,
}

/// `ranges` sorted and merged where one ends right before the next starts (the nodes a view
/// adds lie side by side, and side by side in Morton order too, mostly): one store scan per
/// run instead of one per node. O(n log n).
fn coalesced(ranges: impl Iterator<Item = RangeInclusive<MortonKey>>) -> Vec<RangeInclusive<MortonKey>> {
    let mut ranges: Vec<(u128, u128)> = ranges.map(|r| (r.start().0, r.end().0)).collect();
    ranges.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out.into_iter().map(|(lo, hi)| MortonKey(lo)..=MortonKey(hi)).collect()
}

/// Per frame: follows the clients' views, sends what the last commit made durable (changed
/// chunks, then the acknowledgements), and feeds each client's view from its outbox.
fn stream_chunks(
    time: Res<Time<Real>>,
    mut server: ResMut<NetServer>,
    sw: Option<ResMut<StrataWorld>>,
    persistence: Option<Res<StrataPersistence>>,
    mut news: WorldNews,
    mut links: Query<(Entity, &mut NetLink)>,
    mut out: Outgoing,
) {
    let server = &mut *server;
    for e in news.edited.read() {
        server.changed.extend(e.chunks.iter().map(|&k| (e.version, k)));
    }
    // Game data travels in the chunk's record: a chest's new contents are a new record.
    for e in news.game_data.read() {
        server.changed.extend(e.chunks.iter().map(|&k| (e.version, k)));
    }
    let last = news.committed.read().fold(None, |last: Option<&EditsCommitted>, c| match last {
        Some(l) if (l.version, l.request) >= (c.version, c.request) => Some(l),
        _ => Some(c),
    });
    let (Some(mut sw), Some(persistence)) = (sw, persistence) else { return };
    let store = sw.world.store().clone();
    // Oldest view change first, within the interest budget (at least one a frame).
    let mut waiting: Vec<(u64, Entity)> = links
        .iter()
        .filter(|(_, l)| l.session.is_some() && !l.dropped && server.shared.ready())
        .filter_map(|(e, l)| Some((l.view_waiting?.0, e)))
        .collect();
    waiting.sort_unstable();
    let sequence = persistence.last_receipt.map_or(0, |r| r.sequence);
    let started = std::time::Instant::now();
    for (i, (_, client)) in waiting.into_iter().enumerate() {
        if i > 0 && started.elapsed() >= server.interest_budget {
            break;
        }
        if let Ok((_, mut link)) = links.get_mut(client) {
            let left = update_interest(&mut link, server, &store);
            for keys in left.chunks(MAX_CHANGED_KEYS) {
                out.send(client, &ServerMessage::Changed(ChunksChanged { sequence, keys: keys.to_vec() }));
            }
        }
    }
    if let Some(c) = last {
        let version = c.version;
        server.changed.retain(|&(v, key)| {
            if v <= version {
                server.to_send.push(key);
            }
            v > version
        });
    }
    if !server.to_send.is_empty() {
        send_changes(server, &mut sw.world, sequence, &mut links, &mut out);
    }
    if let Some(c) = last {
        for (session, outcome) in server.acks.committed(c.request.0, sequence) {
            if let Some(ledger) = server.ledgers.get_mut(&session) {
                ledger.settled(&outcome);
            }
            if let Some(&(client, _)) = server.sessions.get(&session)
                && links.get(client).is_ok_and(|(_, l)| !l.dropped)
            {
                out.send(client, &ServerMessage::EditOutcome(outcome));
            }
        }
    }
    let now = time.elapsed();
    for (client, mut link) in &mut links {
        let Some(interest) = link.interest.as_mut() else { continue };
        take_scans(interest, &store);
        for (key, bytes) in interest.outbox.drain(now) {
            if interest.contains(key) && interest.known.insert(key) {
                out.send_frame(client, ToClient(bytes.into()));
            }
        }
    }
}

/// Sends the durable chunks in `server.to_send`: each client whose interest holds one gets its
/// record now (a deletion record for a chunk with none), each client holding one outside its
/// interest is told it is stale. A store read that fails leaves them for the next frame. The
/// world takes the records of chunks another server committed ([`World::refresh`]).
///
/// [`World::refresh`]: strata_core::World::refresh
fn send_changes(
    server: &mut NetServer,
    world: &mut strata_core::World,
    sequence: u64,
    links: &mut Query<(Entity, &mut NetLink)>,
    out: &mut Outgoing,
) {
    let store = world.store().clone();
    let mut keys = std::mem::take(&mut server.to_send);
    keys.sort_unstable_by_key(|k| k.morton());
    keys.dedup();
    let mortons: Vec<MortonKey> = keys.iter().map(|k| k.morton()).collect();
    let records = match store.get_records(&mortons) {
        Ok(records) => records,
        Err(e) => {
            warn!("strata net: reading changed chunks failed, sending them later: {e}");
            server.to_send = keys;
            return;
        }
    };
    let world_id = store.world_id();
    let mut frames = Vec::with_capacity(keys.len());
    for (&key, record) in keys.iter().zip(records) {
        if server.shared.foreign.remove(&key)
            && let Some(bytes) = &record
        {
            // A deleted chunk is not refreshed (its generated copy looks older than this world's
            // commit of it); the world's next commit of it merges.
            // Decoded whole: the other server's game data comes with its voxels.
            match codec::decode_full_at(bytes, store.home(key.morton())) {
                Ok(d) => {
                    let loaded = strata_core::LoadedChunk {
                        chunk: Arc::new(d.chunk),
                        history: d.history,
                        side: Arc::new(d.side),
                        origin: strata_core::ChunkOrigin::Store,
                        sequence: d.sequence,
                    };
                    world.refresh(key, loaded);
                }
                Err(e) => warn!("strata net: another server's record of chunk {key:?} does not decode: {e}"),
            }
        }
        let bytes = match record {
            Some(bytes) => bytes,
            None => deletion_record(key, world_id, sequence),
        };
        match ChunkRecord::new(bytes) {
            Ok(record) => frames.push((key, encode_server(&ServerMessage::Chunk(record)))),
            Err(e) => warn!("strata net: the stored record of chunk {key:?} is not sent: {e}"),
        }
    }
    for (client, mut link) in links.iter_mut() {
        if link.dropped {
            continue;
        }
        let Some(interest) = link.interest.as_mut() else { continue };
        let mut stale = Vec::new();
        for (key, frame) in &frames {
            if interest.contains(*key) {
                interest.outbox.cancel(*key);
                if let Some(f) = frame {
                    interest.known.insert(*key);
                    out.send_frame(client, f.clone());
                }
            } else if interest.known.remove(key) {
                stale.push(*key);
            }
        }
        for keys in stale.chunks(MAX_CHANGED_KEYS) {
            out.send(client, &ServerMessage::Changed(ChunksChanged { sequence, keys: keys.to_vec() }));
        }
    }
}

/// The sealed deletion record of `key`: "back to the generator".
fn deletion_record(key: ChunkKey, world: WorldId, sequence: u64) -> Vec<u8> {
    let (mut plain, mut sealed) = (Vec::new(), Vec::new());
    codec::encode_deletion(key.morton(), &mut plain);
    codec::seal_into(&plain, world, sequence, &mut sealed);
    sealed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_and_overlapping_ranges_merge_and_gaps_stay() {
        let r = |a: u128, b: u128| MortonKey(a)..=MortonKey(b);
        let merged = coalesced([r(8, 15), r(0, 7), r(20, 23), r(16, 17), r(21, 30), r(40, 40)].into_iter());
        assert_eq!(merged, vec![r(0, 17), r(20, 30), r(40, 40)]);
        assert!(coalesced(std::iter::empty()).is_empty());
        let top = u128::MAX;
        assert_eq!(coalesced([r(5, top), r(top, top)].into_iter()), vec![r(5, top)]);
    }
}
