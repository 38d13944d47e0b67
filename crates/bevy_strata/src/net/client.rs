//! The client half: hello, the server's chunks into the world, edits predicted and settled.

use super::*;
use crate::StrataStatus;
use crate::state::StrataWorld;
use crate::voxel_world::EditRoute;
use std::sync::Arc;
use strata_core::{ChunkKey, ChunkOrigin, Edit, LoadedChunk, World};
use strata_net::client::{PendingEdits, Settled};
use strata_net::message::{MAX_EDIT_VOXELS, MAX_VIEWERS};
use strata_net::remote_store::{Received, RemoteStore};
use strata_net::{ClientEdit, EditIntent, EditOutcome};

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

/// The client's side of the protocol: the connection, the store its server fills, and the
/// player's edits.
///
/// # Edits
/// Make them with [`NetClient::edit`]: each is sent to the server as an intent and shown at
/// once (the world applies it as a prediction) if its chunks are loaded. When the server answers, the edit is
/// settled ([`EditSettled`]): an accepted edit is durable on the server, and the chunks it
/// touched show the server's content (which holds it, and whatever other players did); a
/// rejected one is undone the same way. Edits made before the welcome, or while the
/// connection is lost, wait and are sent (again, with their ids) after the next welcome; the
/// server answers those it already settled instead of applying them twice.
/// [`NetClient::abandon_pending`] gives them up and returns them, to report as lost.
///
/// Edits made through [`crate::VoxelWorld`] (and its `edit_sender`) are made this way too: the
/// plugin hands them over each frame, before [`crate::StrataSystems::ApplyEdits`], so game
/// code edits the same way in a world of its own and on a server's. Only edits written to the
/// core world directly (`StrataWorld`'s `World`) change just the client's own world, until the
/// server sends those chunks again.
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
    store: Arc<RemoteStore>,
    pending: PendingEdits,
    /// Edits made and not sent yet (none sent before the welcome).
    unsent: Vec<ClientEdit>,
}

impl NetClient {
    /// A client of the world `identity`, with a random session.
    pub fn new(name: impl Into<String>, identity: WorldIdentity) -> Self {
        let session = strata_core::WorldId::random().0;
        Self {
            identity,
            name: name.into(),
            session,
            status: NetStatus::Connecting,
            hello_sent: false,
            last_view: None,
            store: Arc::new(RemoteStore::new()),
            pending: PendingEdits::new(),
            unsent: Vec::new(),
        }
    }

    /// The store the server fills: give it to the `StrataPlugin` as the save
    /// (`StrataPlugin::with_store`), so the world reads the server's chunks.
    pub fn store(&self) -> Arc<RemoteStore> {
        self.store.clone()
    }

    /// Makes `edit`: shown at once where its chunks are loaded, sent to the server (see
    /// [Edits](NetClient#edits)).
    pub fn edit(&mut self, edit: ClientEdit) {
        self.unsent.push(edit);
    }

    /// Edits made and not settled yet (sent or waiting for a connection).
    pub fn pending_edits(&self) -> usize {
        self.pending.len() + self.unsent.len()
    }

    /// Gives up every edit not settled: they are returned (to report as lost) and no longer
    /// sent; the world shows the server's chunks again where they were predicted once the
    /// server sends them.
    pub fn abandon_pending(&mut self) -> Vec<ClientEdit> {
        let mut lost: Vec<ClientEdit> = self.pending.abandon().into_iter().map(|i| i.edit).collect();
        lost.append(&mut self.unsent);
        lost
    }
}

/// An edit made with [`NetClient::edit`] was settled by the server.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct EditSettled(pub Settled);

/// The client half: says hello once connected and follows the answer. Needs a [`NetClient`]
/// resource.
pub struct StrataNetClientPlugin;

impl Plugin for StrataNetClientPlugin {
    fn build(&self, app: &mut App) {
        register_frames(app);
        app.init_resource::<EditRoute>()
            .add_message::<EditSettled>()
            .add_systems(
                Update,
                (say_hello, follow_server, route_edits, send_edits, send_view)
                    .chain()
                    .before(crate::StrataSystems::ApplyEdits)
                    .run_if(resource_exists::<NetClient>),
            )
            .add_systems(
                PreUpdate,
                connection_status
                    .after(crate::StrataSystems::Startup)
                    .run_if(resource_exists::<NetClient>)
                    .run_if(resource_exists::<StrataStatus>),
            );
    }
}

/// Once the save (the client's [`RemoteStore`]) is open, [`StrataStatus`] follows the
/// connection: `Connecting` until the first welcome (nothing streams), `Ready` while connected,
/// `Lost` after (streaming goes on with what was received) until a reconnect's welcome. Each
/// change is sent as [`StrataStatusChanged`].
fn connection_status(
    client: Res<NetClient>,
    mut status: ResMut<StrataStatus>,
    mut report: Local<Option<crate::StartupReport>>,
    mut changed: MessageWriter<crate::StrataStatusChanged>,
) {
    match &*status {
        StrataStatus::Ready(r) => *report = Some(r.clone()),
        StrataStatus::Connecting | StrataStatus::Lost(_) => {}
        // Still opening, or failed: the save's status.
        _ => return,
    }
    let wanted = match &client.status {
        NetStatus::Connecting => StrataStatus::Connecting,
        NetStatus::Connected(_) => StrataStatus::Ready(report.clone().unwrap_or_default()),
        NetStatus::Refused(e) => StrataStatus::Lost(format!("refused at the handshake: {e}")),
        NetStatus::Lost(why) => StrataStatus::Lost(why.clone()),
    };
    if std::mem::discriminant(&wanted) != std::mem::discriminant(&*status)
        || matches!((&wanted, &*status), (StrataStatus::Lost(a), StrataStatus::Lost(b)) if a != b)
    {
        *status = wanted.clone();
        changed.write(crate::StrataStatusChanged { status: wanted });
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
            // A new connection starts without the server knowing the view.
            client.last_view = None;
            if matches!(client.status, NetStatus::Connected(_) | NetStatus::Connecting) {
                client.status = NetStatus::Lost("disconnected".into());
            }
        }
        _ => {}
    }
}

fn follow_server(
    mut frames: MessageReader<ToClient>,
    mut client: ResMut<NetClient>,
    sw: Option<ResMut<StrataWorld>>,
    mut out: MessageWriter<ToServer>,
    mut settled: MessageWriter<EditSettled>,
) {
    let client = &mut *client;
    let mut world = sw.map(|sw| sw.map_unchanged(|sw| &mut sw.world));
    // Chunks given the server's content this frame: the predictions on them are made again.
    let mut adopted = Vec::new();
    for frame in frames.read() {
        match ServerMessage::decode(&frame.0) {
            Ok(ServerMessage::Welcome(w)) => {
                client.status = match client.identity.check(&w.identity) {
                    Ok(()) => {
                        client.store.set_world(w.world);
                        // Sent again, with their ids: the server answers those it settled.
                        for intent in client.pending.resend() {
                            out.write_batch(encode_client(&ClientMessage::Edit(intent)));
                        }
                        NetStatus::Connected(w)
                    }
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
            Ok(ServerMessage::Chunk(record)) => {
                // Before the world is open it is only kept: the world reads it when it loads it.
                let key = record.key();
                match client.store.receive(&record) {
                    Ok(received) => {
                        if let Some(w) = world.as_deref_mut() {
                            let loaded = match received {
                                Received::Chunk { chunk, history, sequence, side } => LoadedChunk {
                                    chunk: Arc::new(chunk),
                                    history,
                                    side: Arc::new(side),
                                    origin: ChunkOrigin::Store,
                                    sequence,
                                },
                                Received::Deleted => w.source().generated(key),
                            };
                            adopt(w, key, loaded, &mut adopted);
                        }
                    }
                    Err(e) => warn!("strata net: the server sent a chunk that is not kept: {e}"),
                }
            }
            Ok(ServerMessage::Changed(changed)) => {
                for key in changed.keys {
                    client.store.forget(key);
                    if let Some(w) = world.as_deref_mut() {
                        // Outside the view: dropped (a chunk with predictions stays until they settle).
                        w.evict(key);
                    }
                }
            }
            Ok(ServerMessage::EditOutcome(outcome)) => {
                let Some(done) = client.pending.settle(&outcome) else { continue };
                let edit = match &done {
                    Settled::Accepted { edit, .. } => edit,
                    Settled::Rejected { edit, reason, .. } => {
                        info!("strata net: the server refused an edit: {reason}");
                        edit
                    }
                };
                if let Some(w) = world.as_deref_mut() {
                    for key in edit_chunks(&Edit::from(edit.clone())) {
                        if w.is_resident(key) {
                            show_authority(w, key, &mut adopted);
                        }
                    }
                }
                settled.write(EditSettled(done));
            }
            Ok(_) => {}
            Err(e) => {
                warn!("strata net: the server sent an invalid message: {e}");
                client.status = NetStatus::Lost(format!("invalid message from the server: {e}"));
            }
        }
    }
    if let Some(w) = world.as_deref_mut()
        && !adopted.is_empty()
    {
        predict_again(w, &client.pending, &adopted);
    }
}

/// Shows the server's content of `key` as the client's store holds it (its record, or the
/// generator's chunk): see [`adopt`].
fn show_authority(world: &mut World, key: ChunkKey, adopted: &mut Vec<ChunkKey>) {
    match world.source().read_stored(key) {
        Ok(Some(loaded)) => adopt(world, key, loaded, adopted),
        Ok(None) => {
            let generated = world.source().generated(key);
            adopt(world, key, generated, adopted);
        }
        Err(e) => warn!("strata net: a chunk the server sent does not read back: {e}"),
    }
}

/// The world adopts the server's content of `key`, dropping the predictions on it (made again
/// by [`predict_again`]).
fn adopt(world: &mut World, key: ChunkKey, loaded: LoadedChunk, adopted: &mut Vec<ChunkKey>) {
    if world.adopt(key, loaded).is_some() {
        adopted.push(key);
    }
}

/// The chunks `edit` may write, each once: those of its voxels for a list (not their bounding
/// box, which a scattered list makes huge), every chunk of its box otherwise — at most 33³, the
/// edit limits; none for an edit over them (the world never applies it).
fn edit_chunks(edit: &Edit) -> Vec<ChunkKey> {
    let mut keys: Vec<ChunkKey> = match edit {
        _ if edit.check().is_err() => Vec::new(),
        Edit::Set(p, _) => vec![p.chunk()],
        Edit::Many(list) => list.iter().map(|(p, _)| p.chunk()).collect(),
        other => other.chunk_bounds().map_or_else(Vec::new, |b| {
            (b.min.x..=b.max.x)
                .flat_map(|x| {
                    (b.min.y..=b.max.y).flat_map(move |y| (b.min.z..=b.max.z).map(move |z| ChunkKey::new(x, y, z)))
                })
                .collect()
        }),
    };
    keys.sort_unstable_by_key(|k| k.morton());
    keys.dedup();
    keys
}

/// Applies again, in the order made, every pending edit that touches one of `adopted` (their
/// predictions were replaced by the server's content) and whose chunks are all loaded.
fn predict_again(world: &mut World, pending: &PendingEdits, adopted: &[ChunkKey]) {
    for intent in pending.resend() {
        let edit = Edit::from(intent.edit);
        let chunks = edit_chunks(&edit);
        let touches = chunks.iter().any(|k| adopted.contains(k));
        // Like a new prediction: only where every chunk it writes is loaded.
        if touches && chunks.iter().all(|&k| world.is_resident(k)) {
            world.push_edit(edit);
        }
    }
}

/// The edits game systems made through [`crate::VoxelWorld`], made as the player's (see
/// [`NetClient`]'s *Edits*): a list longer than one edit may carry is cut into several.
fn route_edits(route: Res<EditRoute>, mut client: ResMut<NetClient>) {
    for edit in route.take() {
        match edit {
            Edit::Many(list) if list.len() > MAX_EDIT_VOXELS => {
                for part in list.chunks(MAX_EDIT_VOXELS) {
                    client.edit(ClientEdit::Many(part.to_vec()));
                }
            }
            edit => match ClientEdit::try_from(edit) {
                Ok(made) => client.edit(made),
                // `VoxelWorld` makes only edits a client may send.
                Err(_) => warn!("strata net: an edit a client cannot send was dropped"),
            },
        }
    }
}

/// Sends the edits made with [`NetClient::edit`] once welcomed. Each is predicted (applied to
/// the world at once) if every chunk it may write is resident — the world applies it this frame,
/// before any answer can come back; an edit of chunks not loaded shows when the server sends
/// them.
///
/// An edit the protocol cannot carry (more voxels than
/// [`MAX_EDIT_VOXELS`](strata_net::message::MAX_EDIT_VOXELS), game data over
/// [`MAX_VALUE_LEN`](strata_core::side::MAX_VALUE_LEN)) is not sent nor predicted: it settles
/// at once as refused, with the limit it broke.
fn send_edits(
    mut client: ResMut<NetClient>,
    sw: Option<Res<StrataWorld>>,
    mut out: MessageWriter<ToServer>,
    mut settled: MessageWriter<EditSettled>,
) {
    if client.unsent.is_empty() || !matches!(client.status, NetStatus::Connected(_)) {
        return;
    }
    let Some(sw) = sw else { return };
    for made in std::mem::take(&mut client.unsent) {
        let edit = Edit::from(made.clone());
        let intent: EditIntent = client.pending.submit(made);
        let id = intent.id;
        let mut bytes = Vec::new();
        let sendable = strata_net::server::check_shape(&edit).and_then(|()| {
            // The wire's own limits (a list's length).
            ClientMessage::Edit(intent).encode(&mut bytes).map_err(|e| match e {
                WireError::TooMany { count, max, .. } => Rejection::TooLarge { extent: count as u64, max: max as u64 },
                other => Rejection::Game(format!("not sent: {other}")),
            })
        });
        if let Err(reason) = sendable {
            info!("strata net: an edit over the protocol's limits was not sent: {reason}");
            if let Some(done) = client.pending.settle(&EditOutcome { id, result: Err(reason) }) {
                settled.write(EditSettled(done));
            }
            continue;
        }
        out.write(ToServer(bytes.into()));
        let chunks = edit_chunks(&edit);
        if !chunks.is_empty() && chunks.iter().all(|&k| sw.world.is_resident(k)) {
            sw.world.push_edit(edit);
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

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::{MaterialId, VoxelPos};

    #[test]
    fn an_edit_touches_the_chunks_of_its_voxels_not_of_their_bounding_box() {
        let far = 1 << 29;
        let list = Edit::Many(vec![
            (VoxelPos::new(-far, 0, 0), MaterialId(1)),
            (VoxelPos::new(far, 5, 0), MaterialId(1)),
            (VoxelPos::new(far + 1, 6, 0), MaterialId(1)),
        ]);
        assert_eq!(edit_chunks(&list).len(), 2, "two chunks, not the 2^25 between them");
        let block =
            Edit::FillBox { min: VoxelPos::new(-1, 0, 0), max: VoxelPos::new(32, 0, 0), material: MaterialId(1) };
        assert_eq!(edit_chunks(&block).len(), 3);
        let huge =
            Edit::FillBox { min: VoxelPos::new(-far, 0, 0), max: VoxelPos::new(far, 0, 0), material: MaterialId(1) };
        assert!(edit_chunks(&huge).is_empty(), "over the limits: never applied, nothing to show");
        assert!(edit_chunks(&Edit::Many(Vec::new())).is_empty());
    }
}
