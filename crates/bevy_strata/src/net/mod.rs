//! Multiplayer (feature `net`): Strata's protocol ([`strata_net`]) over `bevy_replicon` and renet.
//!
//! The protocol's messages travel as opaque frames ([`ToServer`], [`ToClient`]) on one reliable,
//! ordered replicon channel each way (independent of replicon's entity replication). Decoding
//! happens here, not in replicon, so bytes that are not a valid message are seen: the server
//! disconnects a client that sends them and says why ([`ClientDropped`]).
//!
//! A client sends [`Hello`] with its [`WorldIdentity`] once connected; the server answers
//! [`Welcome`] or refuses with a [`HandshakeError`] naming what differs, and the client checks
//! the server's identity the same way. Both ends hold the same typed error
//! ([`ClientDropped::reason`], [`NetStatus::Refused`]). Then the client reports where its
//! viewers look from ([`NetLink::view`]); the server sends it the edited chunks its view shows
//! and every durable change to them ([`NetServer`]: *What a client gets*), and takes its edits
//! ([`NetClient::edit`], acknowledged only once durable). Clients that send invalid bytes,
//! flood the server or never say hello are dropped ([`DropReason`]).
//!
//! # Setup
//! Add [`NetPlugins`] (replicon and its renet backend) and [`StrataNetServerPlugin`] or
//! [`StrataNetClientPlugin`] (never both in one app), then [`listen`] or [`connect`] (they
//! create renet's server or client resources with the channels replicon registered). Both apps run the
//! `StrataPlugin` (or `StrataMinimalPlugins`) with the same generator and materials; a client's
//! plugin reads its save from [`NetClient::store`].

use bevy::prelude::*;
use bevy_replicon::bytes::Bytes;
use bevy_replicon::prelude::*;
use bevy_replicon::shared::message::ctx::{ClientReceiveCtx, ClientSendCtx, ServerReceiveCtx, ServerSendCtx};
use strata_net::{ClientMessage, HandshakeError, Hello, ServerMessage, ViewUpdate, Welcome, WireError};

/// The identity of a world made by the generator named `kind` with `settings` (as text both ends
/// render alike, e.g. its RON config) and the materials of `registry` (names in id order; an id
/// no material uses has an empty name): what [`NetServer::new`] and [`NetClient::new`] take.
/// O(materials).
pub fn world_identity(
    kind: impl Into<String>,
    settings: impl Into<String>,
    registry: &strata_core::MaterialRegistry,
) -> WorldIdentity {
    let mut materials = vec![String::new(); registry.id_bound()];
    for m in registry.iter() {
        if let Some(name) = materials.get_mut(usize::from(m.id)) {
            name.clone_from(&m.name);
        }
    }
    WorldIdentity { generator_kind: kind.into(), generator_settings: settings.into(), materials }
}

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

mod client;
mod server;
mod shared;
mod transport;

pub use client::*;
pub use server::*;
pub use strata_net::client::Settled;
pub use strata_net::{ClientEdit, Rejection, WorldIdentity};
pub use transport::{NetPlugins, PROTOCOL_ID, TransportError, connect, listen};
/// The transport crates, for their types (e.g. `bevy_replicon_renet::RenetServer`), and the
/// protocol crate.
pub use {bevy_replicon, bevy_replicon_renet, strata_net};
