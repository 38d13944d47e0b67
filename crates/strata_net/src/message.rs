//! The messages, what they mean, and their encoding.
//!
//! Every message is `[version u8][kind u8][fields…]`; fields are little-endian, lists and text
//! carry a `u32` length checked against their limit before anything is read, and the decoder
//! refuses trailing bytes. So an encoding is canonical: bytes that decode re-encode to
//! themselves (the fuzz target checks it). [`ClientMessage::encode`] and
//! [`ServerMessage::encode`] refuse a message the other end would refuse (a list over its
//! limit), so nothing a correct sender writes is rejected for its size.

use crate::handshake::{
    HandshakeError, MAX_GENERATOR_KIND_LEN, MAX_GENERATOR_SETTINGS_LEN, MAX_MATERIAL_NAME_LEN, MAX_MATERIALS,
    WorldIdentity,
};
use crate::wire::{Reader, WireError, Writer, is_non_negative};
use crate::{MAX_MESSAGE_LEN, PROTOCOL_VERSION};
use strata_core::codec::{self, RecordHome};
use strata_core::side::MAX_VALUE_LEN;
use strata_core::{ChunkKey, Edit, MaterialId, MortonKey, StoredSummary, VoxelPos, WorldId};

/// The most viewers one client reports (a split-screen game's players).
pub const MAX_VIEWERS: usize = 8;
/// The most voxels one [`ClientEdit::Many`] names.
pub const MAX_EDIT_VOXELS: usize = 4096;
/// The most chunk keys one [`ChunksChanged`] names.
pub const MAX_CHANGED_KEYS: usize = 4096;
/// The longest reason text (refusals, rejections, goodbyes), in bytes.
pub const MAX_REASON_LEN: usize = 512;
/// The longest client name, in bytes.
pub const MAX_CLIENT_NAME_LEN: usize = 64;

/// A client's first message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// A display name for logs.
    pub name: String,
    /// The world the client can show ([`WorldIdentity::check`]ed by the server).
    pub identity: WorldIdentity,
    /// The world the client was connected to before ([`WorldId::UNSEALED`] on a first
    /// connection): a server of another world tells it to drop what it kept.
    pub last_world: WorldId,
    /// The client's session: a random number it keeps across reconnects, so the server knows
    /// a resent intent ([`EditIntent::id`]s increase within a session) and answers it without
    /// applying it twice.
    pub session: u64,
}

/// Where a client looks from and how far: the server streams its interest set from these.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewUpdate {
    /// Viewer positions in voxels (finite), at most [`MAX_VIEWERS`].
    pub viewers: Vec<[f64; 3]>,
    /// View distance in voxels (finite, ≥ 0).
    pub view_distance: f32,
    /// The coarsest LOD level the client shows.
    pub lod_max_level: u8,
    /// LOD split distance (finite, ≥ 0).
    pub lod_split_distance: f32,
    /// LOD hysteresis (finite, ≥ 0).
    pub lod_hysteresis: f32,
}

/// The edits a client may ask for: [`Edit`] without process batches (those belong to the
/// server's own simulation).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ClientEdit {
    /// One voxel.
    Set(VoxelPos, MaterialId),
    /// Several voxels in order (at most [`MAX_EDIT_VOXELS`]).
    Many(Vec<(VoxelPos, MaterialId)>),
    /// A box, inclusive corners.
    FillBox {
        /// Inclusive lower corner.
        min: VoxelPos,
        /// Inclusive upper corner.
        max: VoxelPos,
        /// What to fill with.
        material: MaterialId,
    },
    /// A sphere (any radius bits travel; the server checks them like any edit).
    FillSphere {
        /// Centre voxel.
        center: VoxelPos,
        /// Radius in voxels.
        radius: f32,
        /// What to fill with.
        material: MaterialId,
    },
    /// Sets (`Some`) or removes (`None`) the block data of a voxel ([`Edit::BlockData`]; at most
    /// [`MAX_VALUE_LEN`] bytes). A server takes it only if it lets clients write game data.
    BlockData {
        /// The voxel.
        pos: VoxelPos,
        /// The game's bytes.
        data: Option<Vec<u8>>,
    },
    /// Sets (`Some`) or removes (`None`) an entity record of a chunk ([`Edit::EntityData`]; at
    /// most [`MAX_VALUE_LEN`] bytes). A server takes it only if it lets clients write game data.
    EntityData {
        /// The chunk.
        chunk: ChunkKey,
        /// The record's id.
        id: u64,
        /// The game's bytes.
        data: Option<Vec<u8>>,
    },
}

impl From<ClientEdit> for Edit {
    fn from(e: ClientEdit) -> Self {
        match e {
            ClientEdit::Set(p, m) => Edit::Set(p, m),
            ClientEdit::Many(v) => Edit::Many(v),
            ClientEdit::FillBox { min, max, material } => Edit::FillBox { min, max, material },
            ClientEdit::FillSphere { center, radius, material } => Edit::FillSphere { center, radius, material },
            ClientEdit::BlockData { pos, data } => Edit::BlockData { pos, data },
            ClientEdit::EntityData { chunk, id, data } => Edit::EntityData { chunk, id, data },
        }
    }
}

impl TryFrom<Edit> for ClientEdit {
    /// The edit back, when it is not one a client may send (a process batch).
    type Error = Edit;

    fn try_from(e: Edit) -> Result<Self, Edit> {
        Ok(match e {
            Edit::Set(p, m) => ClientEdit::Set(p, m),
            Edit::Many(v) => ClientEdit::Many(v),
            Edit::FillBox { min, max, material } => ClientEdit::FillBox { min, max, material },
            Edit::FillSphere { center, radius, material } => ClientEdit::FillSphere { center, radius, material },
            Edit::BlockData { pos, data } => ClientEdit::BlockData { pos, data },
            Edit::EntityData { chunk, id, data } => ClientEdit::EntityData { chunk, id, data },
            other => return Err(other),
        })
    }
}

/// An edit a client asks the server to make.
#[derive(Clone, Debug, PartialEq)]
pub struct EditIntent {
    /// The client's number for it (its [`EditOutcome`] carries it back): increasing within a
    /// session; an intent sent again after a reconnect keeps its number.
    pub id: u32,
    /// The edit.
    pub edit: ClientEdit,
}

/// A keep-alive; the other end answers with the same nonce (a round-trip time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepAlive {
    /// Echoed.
    pub nonce: u64,
    /// Whether this is the answer.
    pub reply: bool,
}

/// What a client sends.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ClientMessage {
    /// First message of a connection.
    Hello(Hello),
    /// Where the client looks from (whenever it changes enough to matter).
    View(ViewUpdate),
    /// An edit to make.
    Edit(EditIntent),
    /// A keep-alive.
    KeepAlive(KeepAlive),
    /// The client leaves.
    Goodbye(String),
}

/// The server's answer to a [`Hello`] it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Welcome {
    /// The client's number on this server.
    pub client: u32,
    /// The world's id: chunk records carry it.
    pub world: WorldId,
    /// The world's sequence number now (records and notices carry later ones).
    pub sequence: u64,
    /// The server's world, for the client's own check.
    pub identity: WorldIdentity,
    /// Edits per second the server takes from this client.
    pub edits_per_second: u32,
}

/// A sealed chunk record ([`strata_core::codec`]): an edited chunk's content, its place (world
/// and key) and the commit that wrote it, under its checksum. Only a record that passes its
/// checks can be built or decoded; a deletion record means "back to the generator".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkRecord {
    bytes: Vec<u8>,
    home: RecordHome,
    sequence: u64,
}

impl ChunkRecord {
    /// Checks `bytes` (a version-3 record: lengths, checksum, a place) and keeps them.
    ///
    /// # Runtime
    /// One checksum pass over the record.
    pub fn new(bytes: Vec<u8>) -> Result<Self, WireError> {
        let (header, _) = codec::parse_record(&bytes)?;
        let home = header.home.ok_or(WireError::BadValue { what: "chunk record version" })?;
        Ok(Self { home, sequence: header.sequence, bytes })
    }

    /// The record's bytes ([`strata_core::codec::decode_at`] them with [`ChunkRecord::home`]).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Where the record says it belongs.
    pub fn home(&self) -> RecordHome {
        self.home
    }

    /// The chunk.
    pub fn key(&self) -> ChunkKey {
        self.home.key.to_chunk()
    }

    /// The commit that wrote it.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
}

/// An edited chunk's summary ([`StoredSummary`]): what a client's LOD needs of an edited chunk
/// beyond the chunks it is sent (histogram, half-resolution cells, chunk cell).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRecord {
    key: MortonKey,
    bytes: Vec<u8>,
}

impl SummaryRecord {
    /// Checks `bytes` as the summary of chunk `key` and keeps them.
    ///
    /// # Runtime
    /// One decode of the summary (a checksum pass and its cells).
    pub fn new(key: MortonKey, bytes: Vec<u8>) -> Result<Self, WireError> {
        StoredSummary::decode(key, &bytes)?.ok_or(WireError::BadValue { what: "summary record" })?;
        Ok(Self { key, bytes })
    }

    /// The chunk's key.
    pub fn key(&self) -> MortonKey {
        self.key
    }

    /// The summary's bytes ([`StoredSummary::decode`] them with [`SummaryRecord::key`]).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Why the server refused an edit.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Larger than an edit may be (see [`strata_core::MAX_EDIT_EXTENT`]).
    #[error("the edit spans {extent} voxels; the limit is {max}")]
    TooLarge {
        /// Its extent.
        extent: u64,
        /// The limit.
        max: u64,
    },
    /// A sphere radius that is not a finite number ≥ 0.
    #[error("bad sphere radius {0}")]
    BadRadius(f32),
    /// Over the client's edit rate; it may try again after the given time.
    #[error("too many edits; try again in {retry_after_ms} ms")]
    RateLimited {
        /// Milliseconds until the client's budget allows it.
        retry_after_ms: u32,
    },
    /// Outside what this player may reach.
    #[error("out of reach")]
    OutOfReach,
    /// The game refused it.
    #[error("refused by the game: {0}")]
    Game(String),
    /// The server could not commit it durably; nothing changed.
    #[error("not committed: {0}")]
    NotCommitted(String),
    /// An intent sent again after a reconnect whose outcome the server no longer remembers
    /// (older than its memory of the session): it may or may not have been applied.
    #[error("the server no longer knows this edit's outcome")]
    Forgotten,
    /// Game data longer than a value may be ([`MAX_VALUE_LEN`]).
    #[error("{len} bytes of game data; the limit is {max}")]
    DataTooLarge {
        /// Its length.
        len: u64,
        /// The limit.
        max: u64,
    },
}

/// The server's answer to one [`EditIntent`].
#[derive(Clone, Debug, PartialEq)]
pub struct EditOutcome {
    /// The intent's id.
    pub id: u32,
    /// The sequence number of the commit that made it durable, or why it was refused.
    pub result: Result<u64, Rejection>,
}

/// Chunks the client holds records of that changed (by the commit numbered `sequence`) and are
/// not sent again, because they left the client's interest set: what it keeps of them is
/// stale, and it forgets them (the server sends them again when they are back in its interest).
/// A changed chunk in the interest set travels as its new [`ChunkRecord`] instead (a deletion
/// record if it is the generator's again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunksChanged {
    /// The commit's sequence number.
    pub sequence: u64,
    /// The chunks (at most [`MAX_CHANGED_KEYS`]).
    pub keys: Vec<ChunkKey>,
}

/// What a server sends.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ServerMessage {
    /// The [`Hello`] is accepted.
    Welcome(Welcome),
    /// The [`Hello`] is refused; the connection ends.
    Refused(HandshakeError),
    /// An edited chunk's record.
    Chunk(ChunkRecord),
    /// An edited chunk's summary.
    Summary(SummaryRecord),
    /// The answer to an edit intent.
    EditOutcome(EditOutcome),
    /// Chunks changed.
    Changed(ChunksChanged),
    /// A keep-alive.
    KeepAlive(KeepAlive),
    /// The server ends the connection.
    Goodbye(String),
}

mod kind {
    pub const HELLO: u8 = 1;
    pub const VIEW: u8 = 2;
    pub const EDIT: u8 = 3;
    pub const KEEP_ALIVE: u8 = 4;
    pub const GOODBYE: u8 = 5;

    pub const WELCOME: u8 = 1;
    pub const REFUSED: u8 = 2;
    pub const CHUNK: u8 = 3;
    pub const SUMMARY: u8 = 4;
    pub const EDIT_OUTCOME: u8 = 5;
    pub const CHANGED: u8 = 6;
    pub const SERVER_KEEP_ALIVE: u8 = 7;
    pub const SERVER_GOODBYE: u8 = 8;
}

/// [`WireError::TooMany`] unless `count <= max`.
fn limit(what: &'static str, count: usize, max: usize) -> Result<(), WireError> {
    if count > max { Err(WireError::TooMany { what, count, max }) } else { Ok(()) }
}

/// Checks the header and returns the kind and a reader over the fields.
fn open(bytes: &[u8]) -> Result<(u8, Reader<'_>), WireError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(WireError::TooLong { len: bytes.len(), max: MAX_MESSAGE_LEN });
    }
    let mut r = Reader::new(bytes);
    let version = r.u8("protocol version")?;
    if version != PROTOCOL_VERSION {
        return Err(WireError::Version { got: version, supported: PROTOCOL_VERSION });
    }
    let kind = r.u8("message kind")?;
    Ok((kind, r))
}

/// Writes a message: header, then `body`; nothing is appended to `out` on error.
fn seal(
    out: &mut Vec<u8>,
    kind: u8,
    body: impl FnOnce(&mut Writer<'_>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let start = out.len();
    let mut w = Writer::new(out);
    w.u8(PROTOCOL_VERSION);
    w.u8(kind);
    let written = body(&mut w).and_then(|()| {
        let len = out.len() - start;
        if len > MAX_MESSAGE_LEN { Err(WireError::TooLong { len, max: MAX_MESSAGE_LEN }) } else { Ok(()) }
    });
    if written.is_err() {
        out.truncate(start);
    }
    written
}

fn write_text(w: &mut Writer<'_>, what: &'static str, s: &str, max: usize) -> Result<(), WireError> {
    limit(what, s.len(), max)?;
    w.text(s);
    Ok(())
}

/// Three coordinates, x first (voxel positions and chunk keys).
fn write_xyz(w: &mut Writer<'_>, xyz: [i32; 3]) {
    for v in xyz {
        w.i32(v);
    }
}

fn write_pos(w: &mut Writer<'_>, p: VoxelPos) {
    write_xyz(w, [p.x, p.y, p.z]);
}

fn read_pos(r: &mut Reader<'_>) -> Result<VoxelPos, WireError> {
    Ok(VoxelPos::new(r.i32("voxel x")?, r.i32("voxel y")?, r.i32("voxel z")?))
}

fn write_identity(w: &mut Writer<'_>, id: &WorldIdentity) -> Result<(), WireError> {
    write_text(w, "generator kind", &id.generator_kind, MAX_GENERATOR_KIND_LEN)?;
    write_text(w, "generator settings", &id.generator_settings, MAX_GENERATOR_SETTINGS_LEN)?;
    limit("materials", id.materials.len(), MAX_MATERIALS)?;
    w.count(id.materials.len());
    for m in &id.materials {
        write_text(w, "material name", m, MAX_MATERIAL_NAME_LEN)?;
    }
    Ok(())
}

fn read_identity(r: &mut Reader<'_>) -> Result<WorldIdentity, WireError> {
    let generator_kind = r.text("generator kind", MAX_GENERATOR_KIND_LEN)?;
    let generator_settings = r.text("generator settings", MAX_GENERATOR_SETTINGS_LEN)?;
    let n = r.count("materials", MAX_MATERIALS)?;
    let materials = (0..n).map(|_| r.text("material name", MAX_MATERIAL_NAME_LEN)).collect::<Result<_, _>>()?;
    Ok(WorldIdentity { generator_kind, generator_settings, materials })
}

fn write_keep_alive(w: &mut Writer<'_>, k: &KeepAlive) {
    w.u64(k.nonce);
    w.bool(k.reply);
}

fn read_keep_alive(r: &mut Reader<'_>) -> Result<KeepAlive, WireError> {
    Ok(KeepAlive { nonce: r.u64("keep-alive nonce")?, reply: r.bool("keep-alive reply")? })
}

fn write_f32(w: &mut Writer<'_>, what: &'static str, v: f32) -> Result<(), WireError> {
    if !is_non_negative(v) {
        return Err(WireError::BadValue { what });
    }
    w.f32(v);
    Ok(())
}

fn write_edit(w: &mut Writer<'_>, e: &ClientEdit) -> Result<(), WireError> {
    match e {
        ClientEdit::Set(p, m) => {
            w.u8(0);
            write_pos(w, *p);
            w.u16(m.0);
        }
        ClientEdit::Many(v) => {
            limit("edit voxels", v.len(), MAX_EDIT_VOXELS)?;
            w.u8(1);
            w.count(v.len());
            for (p, m) in v {
                write_pos(w, *p);
                w.u16(m.0);
            }
        }
        ClientEdit::FillBox { min, max, material } => {
            w.u8(2);
            write_pos(w, *min);
            write_pos(w, *max);
            w.u16(material.0);
        }
        ClientEdit::FillSphere { center, radius, material } => {
            w.u8(3);
            write_pos(w, *center);
            w.f32(*radius);
            w.u16(material.0);
        }
        ClientEdit::BlockData { pos, data } => {
            limit("block data", data.as_ref().map_or(0, Vec::len), MAX_VALUE_LEN)?;
            w.u8(4);
            write_pos(w, *pos);
            write_data(w, data.as_deref());
        }
        ClientEdit::EntityData { chunk, id, data } => {
            limit("entity record", data.as_ref().map_or(0, Vec::len), MAX_VALUE_LEN)?;
            w.u8(5);
            write_key(w, *chunk);
            w.u64(*id);
            write_data(w, data.as_deref());
        }
    }
    Ok(())
}

/// Game data: `false`, or `true` and its bytes (a removal is `false`).
fn write_data(w: &mut Writer<'_>, data: Option<&[u8]>) {
    w.bool(data.is_some());
    if let Some(d) = data {
        w.bytes(d);
    }
}

fn read_data(r: &mut Reader<'_>, what: &'static str) -> Result<Option<Vec<u8>>, WireError> {
    Ok(if r.bool(what)? { Some(r.bytes(what, MAX_VALUE_LEN)?.to_vec()) } else { None })
}

fn write_key(w: &mut Writer<'_>, k: ChunkKey) {
    write_xyz(w, k.to_array());
}

fn read_key(r: &mut Reader<'_>) -> Result<ChunkKey, WireError> {
    Ok(ChunkKey::new(r.i32("chunk x")?, r.i32("chunk y")?, r.i32("chunk z")?))
}

fn read_edit(r: &mut Reader<'_>) -> Result<ClientEdit, WireError> {
    let material = |r: &mut Reader<'_>| r.u16("material").map(MaterialId);
    Ok(match r.u8("edit kind")? {
        0 => ClientEdit::Set(read_pos(r)?, material(r)?),
        1 => {
            let n = r.count("edit voxels", MAX_EDIT_VOXELS)?;
            ClientEdit::Many((0..n).map(|_| Ok((read_pos(r)?, material(r)?))).collect::<Result<_, WireError>>()?)
        }
        2 => ClientEdit::FillBox { min: read_pos(r)?, max: read_pos(r)?, material: material(r)? },
        3 => ClientEdit::FillSphere { center: read_pos(r)?, radius: r.f32("sphere radius")?, material: material(r)? },
        4 => ClientEdit::BlockData { pos: read_pos(r)?, data: read_data(r, "block data")? },
        5 => ClientEdit::EntityData {
            chunk: read_key(r)?,
            id: r.u64("entity id")?,
            data: read_data(r, "entity record")?,
        },
        tag => return Err(WireError::UnknownTag { what: "edit kind", tag }),
    })
}

impl ClientMessage {
    /// Appends the message to `out` (nothing on error: a list or text over its limit, a
    /// non-finite or negative view setting).
    ///
    /// # Runtime
    /// O(encoded size).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self {
            ClientMessage::Hello(h) => seal(out, kind::HELLO, |w| {
                write_text(w, "client name", &h.name, MAX_CLIENT_NAME_LEN)?;
                write_identity(w, &h.identity)?;
                w.u64(h.last_world.0);
                w.u64(h.session);
                Ok(())
            }),
            ClientMessage::View(v) => seal(out, kind::VIEW, |w| {
                limit("viewers", v.viewers.len(), MAX_VIEWERS)?;
                w.count(v.viewers.len());
                for p in &v.viewers {
                    for c in p {
                        if !c.is_finite() {
                            return Err(WireError::BadValue { what: "viewer position" });
                        }
                        w.f64(*c);
                    }
                }
                write_f32(w, "view distance", v.view_distance)?;
                w.u8(v.lod_max_level);
                write_f32(w, "LOD split distance", v.lod_split_distance)?;
                write_f32(w, "LOD hysteresis", v.lod_hysteresis)
            }),
            ClientMessage::Edit(e) => seal(out, kind::EDIT, |w| {
                w.u32(e.id);
                write_edit(w, &e.edit)
            }),
            ClientMessage::KeepAlive(k) => seal(out, kind::KEEP_ALIVE, |w| {
                write_keep_alive(w, k);
                Ok(())
            }),
            ClientMessage::Goodbye(reason) => {
                seal(out, kind::GOODBYE, |w| write_text(w, "goodbye reason", reason, MAX_REASON_LEN))
            }
        }
    }

    /// Decodes one whole message.
    ///
    /// # Errors
    /// A [`WireError`] for any bytes that are not exactly one valid message; never panics,
    /// and allocates at most what the limits allow.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let (kind, mut r) = open(bytes)?;
        let m = match kind {
            kind::HELLO => ClientMessage::Hello(Hello {
                name: r.text("client name", MAX_CLIENT_NAME_LEN)?,
                identity: read_identity(&mut r)?,
                last_world: WorldId(r.u64("last world")?),
                session: r.u64("session")?,
            }),
            kind::VIEW => {
                let n = r.count("viewers", MAX_VIEWERS)?;
                let viewers = (0..n)
                    .map(|_| {
                        Ok([
                            r.finite_f64("viewer position")?,
                            r.finite_f64("viewer position")?,
                            r.finite_f64("viewer position")?,
                        ])
                    })
                    .collect::<Result<_, WireError>>()?;
                ClientMessage::View(ViewUpdate {
                    viewers,
                    view_distance: r.non_negative_f32("view distance")?,
                    lod_max_level: r.u8("LOD max level")?,
                    lod_split_distance: r.non_negative_f32("LOD split distance")?,
                    lod_hysteresis: r.non_negative_f32("LOD hysteresis")?,
                })
            }
            kind::EDIT => ClientMessage::Edit(EditIntent { id: r.u32("edit id")?, edit: read_edit(&mut r)? }),
            kind::KEEP_ALIVE => ClientMessage::KeepAlive(read_keep_alive(&mut r)?),
            kind::GOODBYE => ClientMessage::Goodbye(r.text("goodbye reason", MAX_REASON_LEN)?),
            tag => return Err(WireError::UnknownTag { what: "client message kind", tag }),
        };
        r.finish()?;
        Ok(m)
    }
}

fn write_refusal(w: &mut Writer<'_>, e: &HandshakeError) -> Result<(), WireError> {
    let pair = |w: &mut Writer<'_>, tag: u8, max: usize, ours: &str, theirs: &str| {
        w.u8(tag);
        write_text(w, "refusal text", ours, max)?;
        write_text(w, "refusal text", theirs, max)
    };
    match e {
        HandshakeError::Protocol { ours, theirs } => {
            w.u8(0);
            w.u8(*ours);
            w.u8(*theirs);
            Ok(())
        }
        HandshakeError::GeneratorKind { ours, theirs } => pair(w, 1, MAX_GENERATOR_KIND_LEN, ours, theirs),
        HandshakeError::GeneratorSettings { ours, theirs } => pair(w, 2, MAX_GENERATOR_SETTINGS_LEN, ours, theirs),
        HandshakeError::MaterialCount { ours, theirs } => {
            w.u8(3);
            w.count(*ours);
            w.count(*theirs);
            Ok(())
        }
        HandshakeError::Material { id, ours, theirs } => {
            w.u8(4);
            w.u16(*id);
            write_text(w, "refusal text", ours, MAX_MATERIAL_NAME_LEN)?;
            write_text(w, "refusal text", theirs, MAX_MATERIAL_NAME_LEN)
        }
        HandshakeError::Refused(reason) => {
            w.u8(5);
            write_text(w, "refusal text", reason, MAX_REASON_LEN)
        }
    }
}

fn read_refusal(r: &mut Reader<'_>) -> Result<HandshakeError, WireError> {
    let text = |r: &mut Reader<'_>, max| r.text("refusal text", max);
    Ok(match r.u8("refusal kind")? {
        0 => HandshakeError::Protocol { ours: r.u8("protocol version")?, theirs: r.u8("protocol version")? },
        1 => HandshakeError::GeneratorKind {
            ours: text(r, MAX_GENERATOR_KIND_LEN)?,
            theirs: text(r, MAX_GENERATOR_KIND_LEN)?,
        },
        2 => HandshakeError::GeneratorSettings {
            ours: text(r, MAX_GENERATOR_SETTINGS_LEN)?,
            theirs: text(r, MAX_GENERATOR_SETTINGS_LEN)?,
        },
        3 => HandshakeError::MaterialCount {
            ours: r.u32("material count")? as usize,
            theirs: r.u32("material count")? as usize,
        },
        4 => HandshakeError::Material {
            id: r.u16("material id")?,
            ours: text(r, MAX_MATERIAL_NAME_LEN)?,
            theirs: text(r, MAX_MATERIAL_NAME_LEN)?,
        },
        5 => HandshakeError::Refused(text(r, MAX_REASON_LEN)?),
        tag => return Err(WireError::UnknownTag { what: "refusal kind", tag }),
    })
}

fn write_rejection(w: &mut Writer<'_>, e: &Rejection) -> Result<(), WireError> {
    match e {
        Rejection::TooLarge { extent, max } => {
            w.u8(0);
            w.u64(*extent);
            w.u64(*max);
        }
        Rejection::BadRadius(r) => {
            w.u8(1);
            w.f32(*r);
        }
        Rejection::RateLimited { retry_after_ms } => {
            w.u8(2);
            w.u32(*retry_after_ms);
        }
        Rejection::OutOfReach => w.u8(3),
        Rejection::Game(reason) => {
            w.u8(4);
            write_text(w, "rejection reason", reason, MAX_REASON_LEN)?;
        }
        Rejection::NotCommitted(reason) => {
            w.u8(5);
            write_text(w, "rejection reason", reason, MAX_REASON_LEN)?;
        }
        Rejection::Forgotten => w.u8(6),
        Rejection::DataTooLarge { len, max } => {
            w.u8(7);
            w.u64(*len);
            w.u64(*max);
        }
    }
    Ok(())
}

fn read_rejection(r: &mut Reader<'_>) -> Result<Rejection, WireError> {
    Ok(match r.u8("rejection kind")? {
        0 => Rejection::TooLarge { extent: r.u64("edit extent")?, max: r.u64("edit extent limit")? },
        1 => Rejection::BadRadius(r.f32("sphere radius")?),
        2 => Rejection::RateLimited { retry_after_ms: r.u32("retry after")? },
        3 => Rejection::OutOfReach,
        4 => Rejection::Game(r.text("rejection reason", MAX_REASON_LEN)?),
        5 => Rejection::NotCommitted(r.text("rejection reason", MAX_REASON_LEN)?),
        6 => Rejection::Forgotten,
        7 => Rejection::DataTooLarge { len: r.u64("data length")?, max: r.u64("data length limit")? },
        tag => return Err(WireError::UnknownTag { what: "rejection kind", tag }),
    })
}

impl ServerMessage {
    /// Appends the message to `out` (nothing on error: a list or text over its limit).
    ///
    /// # Runtime
    /// O(encoded size).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self {
            ServerMessage::Welcome(m) => seal(out, kind::WELCOME, |w| {
                w.u32(m.client);
                w.u64(m.world.0);
                w.u64(m.sequence);
                write_identity(w, &m.identity)?;
                w.u32(m.edits_per_second);
                Ok(())
            }),
            ServerMessage::Refused(e) => seal(out, kind::REFUSED, |w| write_refusal(w, e)),
            ServerMessage::Chunk(c) => seal(out, kind::CHUNK, |w| {
                limit("chunk record", c.bytes.len(), codec::MAX_RECORD_LEN)?;
                w.bytes(&c.bytes);
                Ok(())
            }),
            ServerMessage::Summary(s) => seal(out, kind::SUMMARY, |w| {
                limit("summary record", s.bytes.len(), strata_core::summary_record::MAX_SUMMARY_LEN)?;
                w.u128(s.key.0);
                w.bytes(&s.bytes);
                Ok(())
            }),
            ServerMessage::EditOutcome(o) => seal(out, kind::EDIT_OUTCOME, |w| {
                w.u32(o.id);
                match &o.result {
                    Ok(sequence) => {
                        w.u8(0);
                        w.u64(*sequence);
                        Ok(())
                    }
                    Err(e) => {
                        w.u8(1);
                        write_rejection(w, e)
                    }
                }
            }),
            ServerMessage::Changed(c) => seal(out, kind::CHANGED, |w| {
                limit("changed keys", c.keys.len(), MAX_CHANGED_KEYS)?;
                w.u64(c.sequence);
                w.count(c.keys.len());
                for k in &c.keys {
                    write_key(w, *k);
                }
                Ok(())
            }),
            ServerMessage::KeepAlive(k) => seal(out, kind::SERVER_KEEP_ALIVE, |w| {
                write_keep_alive(w, k);
                Ok(())
            }),
            ServerMessage::Goodbye(reason) => {
                seal(out, kind::SERVER_GOODBYE, |w| write_text(w, "goodbye reason", reason, MAX_REASON_LEN))
            }
        }
    }

    /// Decodes one whole message; chunk and summary records are checked (checksum, lengths,
    /// place) before they are accepted.
    ///
    /// # Errors
    /// A [`WireError`] for any bytes that are not exactly one valid message; never panics,
    /// and allocates at most what the limits allow.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let (kind, mut r) = open(bytes)?;
        let m = match kind {
            kind::WELCOME => ServerMessage::Welcome(Welcome {
                client: r.u32("client number")?,
                world: WorldId(r.u64("world id")?),
                sequence: r.u64("sequence")?,
                identity: read_identity(&mut r)?,
                edits_per_second: r.u32("edit rate")?,
            }),
            kind::REFUSED => ServerMessage::Refused(read_refusal(&mut r)?),
            kind::CHUNK => {
                ServerMessage::Chunk(ChunkRecord::new(r.bytes("chunk record", codec::MAX_RECORD_LEN)?.to_vec())?)
            }
            kind::SUMMARY => {
                let key = MortonKey(r.u128("summary key")?);
                let bytes = r.bytes("summary record", strata_core::summary_record::MAX_SUMMARY_LEN)?;
                ServerMessage::Summary(SummaryRecord::new(key, bytes.to_vec())?)
            }
            kind::EDIT_OUTCOME => {
                let id = r.u32("edit id")?;
                let result = match r.u8("edit result")? {
                    0 => Ok(r.u64("sequence")?),
                    1 => Err(read_rejection(&mut r)?),
                    tag => return Err(WireError::UnknownTag { what: "edit result", tag }),
                };
                ServerMessage::EditOutcome(EditOutcome { id, result })
            }
            kind::CHANGED => {
                let sequence = r.u64("sequence")?;
                let n = r.count("changed keys", MAX_CHANGED_KEYS)?;
                let keys = (0..n).map(|_| read_key(&mut r)).collect::<Result<_, WireError>>()?;
                ServerMessage::Changed(ChunksChanged { sequence, keys })
            }
            kind::SERVER_KEEP_ALIVE => ServerMessage::KeepAlive(read_keep_alive(&mut r)?),
            kind::SERVER_GOODBYE => ServerMessage::Goodbye(r.text("goodbye reason", MAX_REASON_LEN)?),
            tag => return Err(WireError::UnknownTag { what: "server message kind", tag }),
        };
        r.finish()?;
        Ok(m)
    }
}
