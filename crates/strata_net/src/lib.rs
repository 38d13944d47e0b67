//! Strata's multiplayer protocol, engine-free and transport-free: the messages a server and its
//! clients exchange, their byte encoding, their limits and the handshake rule.
//!
//! A chunk nobody edited costs **zero bytes**: the client runs the same deterministic generator
//! as the server (the handshake refuses a client whose generator or materials differ, naming
//! what differs), so only edited chunks travel, as the sealed, checksummed records the stores
//! keep ([`strata_core::codec`]), and far edited chunks as their summaries.
//!
//! # Messages
//!
//! | client → server | meaning |
//! |---|---|
//! | [`Hello`] | first message: name, [`WorldIdentity`], the world it saw last, its session |
//! | [`ViewUpdate`] | viewer positions, view distance, LOD settings: the server derives the client's interest set |
//! | [`EditIntent`] | an edit to make ([`ClientEdit`]: no process batches), numbered by the client |
//! | [`KeepAlive`] | echoed by the other end |
//! | `Goodbye` | the client leaves, with a reason |
//!
//! | server → client | meaning |
//! |---|---|
//! | [`Welcome`] | the hello is accepted: client number, world id and sequence, the server's identity, the edit rate |
//! | `Refused` | the hello is refused: a [`HandshakeError`], the same value on both ends |
//! | [`ChunkRecord`] | an edited chunk: a sealed codec record (deletion records: back to the generator) |
//! | [`SummaryRecord`] | an edited chunk's summary, for LOD beyond the chunks sent |
//! | [`EditOutcome`] | an intent's result: the sequence of the commit that made it durable, or a [`Rejection`] |
//! | [`ChunksChanged`] | chunks changed by one commit, with its sequence number |
//! | [`KeepAlive`], `Goodbye` | as above |
//!
//! # Wire format
//!
//! ```text
//! offset size field
//!      0    1 protocol version   PROTOCOL_VERSION (2); another version is WireError::Version
//!      1    1 kind               per direction (client: 1 hello … 5 goodbye; server: 1 welcome … 8 goodbye)
//!      2    … fields             little-endian integers, f32/f64 as IEEE bits, bool 0/1,
//!                                text and lists: u32 length (checked against the limit first), then the items
//! ```
//!
//! A transport delivers whole messages (a message is never split or merged by this layer);
//! the longest is [`MAX_MESSAGE_LEN`] (one chunk record that lz4 could not shrink). Decoding
//! takes exactly one message: a short field, a count over its limit, text that is not UTF-8, a
//! non-finite float where a position or distance belongs, an unknown tag or a trailing byte is a
//! [`WireError`]; a chunk record or summary must pass its own checksum. No input panics (the
//! `net_messages` fuzz target) and none allocates more than the limits allow. The encoding is
//! canonical: bytes that decode re-encode to themselves.
//!
//! # Bookkeeping both ends need (engine-free)
//!
//! - [`server::EditGate`]: which intents a server takes from a client (the edit limits, a
//!   voxel limit, a token-bucket rate with the time to retry; a client refused
//!   [`EditLimits::flood_after`](server::EditLimits::flood_after) times in a row is flooding).
//! - [`server::Outbox`]: a client's outgoing chunk messages, nearest first, only the latest per
//!   chunk, within a byte budget (a token bucket a message may overdraw, so nothing starves).
//! - [`server::AckQueue`]: an edit is acknowledged only by the first commit that covers it
//!   (a commit ticket, e.g. the request the server made right after applying it).
//! - [`remote_store::RemoteStore`]: a client's chunk store, the records its server sent (a
//!   client's world reads through it like any save).
//! - [`server::EditLedger`] and [`client::PendingEdits`]: a client keeps every intent until its
//!   outcome and sends the pending ones again after a reconnect, with their ids; the server
//!   answers the ones it already settled (or is about to) instead of applying them twice.
//!   Two clients on simulated links that drop at any point lose no edit and have none applied
//!   twice (property test `reconnects`).
//!
//! # Runtime
//! Encoding and decoding are O(message size); records are checksummed once on decode.

pub mod client;
pub mod handshake;
pub mod message;
pub mod remote_store;
pub mod server;
pub mod wire;

pub use handshake::{HandshakeError, WorldIdentity};
pub use message::{
    ChunkRecord, ChunksChanged, ClientEdit, ClientMessage, EditIntent, EditOutcome, Hello, KeepAlive, Rejection,
    ServerMessage, SummaryRecord, ViewUpdate, Welcome,
};
pub use wire::WireError;

use strata_core::codec::MAX_RECORD_LEN;
use strata_core::summary_record::MAX_SUMMARY_LEN;

/// The protocol version this build speaks (the first byte of every message): 2 since clients
/// may send game data ([`ClientEdit::BlockData`], [`ClientEdit::EntityData`],
/// [`Rejection::DataTooLarge`]); 1 before.
pub const PROTOCOL_VERSION: u8 = 2;

/// The longest message, in bytes: the larger of a chunk record and a summary record, plus
/// their message's header and fields.
pub const MAX_MESSAGE_LEN: usize = if MAX_RECORD_LEN > MAX_SUMMARY_LEN { MAX_RECORD_LEN } else { MAX_SUMMARY_LEN } + 64;

/// What a game needs to speak the protocol.
pub mod prelude {
    pub use crate::client::{PendingEdits, Settled};
    pub use crate::remote_store::{Received, RemoteStore};
    pub use crate::server::{AckQueue, ByteBudget, EditGate, EditLedger, EditLimits, Intake, Outbox};
    pub use crate::{
        ChunkRecord, ClientEdit, ClientMessage, EditIntent, EditOutcome, HandshakeError, Hello, ServerMessage,
        ViewUpdate, Welcome, WireError, WorldIdentity,
    };
}

#[cfg(test)]
mod tests;
