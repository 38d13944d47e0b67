//! Round trips, canonical bytes, truncation, limits and hostile input, for both directions.

use super::*;
use crate::handshake::{MAX_MATERIAL_NAME_LEN, MAX_MATERIALS};
use crate::message::{MAX_CHANGED_KEYS, MAX_EDIT_VOXELS, MAX_VIEWERS};
use proptest::prelude::*;
use strata_core::codec;
use strata_core::{
    Chunk, ChunkKey, DenseChunk, MaterialId, MortonKey, ProcessHistory, StoredSummary, Up, VoxelPos, WorldId,
};

fn record(key: ChunkKey, seed: u16, world: u64, sequence: u64) -> Vec<u8> {
    let chunk = if seed.is_multiple_of(3) {
        Chunk::Uniform(MaterialId(seed))
    } else {
        Chunk::Dense(DenseChunk::from_fn(|p| {
            MaterialId(u16::from(p.x).wrapping_mul(seed).wrapping_add(u16::from(p.y)) % 7)
        }))
    };
    let raw = codec::encode(MortonKey::from_chunk(key), &chunk);
    let mut sealed = Vec::new();
    assert!(codec::seal_into(&raw, WorldId(world), sequence, &mut sealed));
    sealed
}

fn summary(key: ChunkKey, seed: u16) -> Vec<u8> {
    let chunk = Chunk::Dense(DenseChunk::from_fn(|p| MaterialId(u16::from(p.z).wrapping_add(seed) % 5)));
    let mut out = Vec::new();
    StoredSummary::of(&chunk, ProcessHistory::default(), Up::PosY).encode(MortonKey::from_chunk(key), &mut out);
    out
}

fn identity() -> WorldIdentity {
    WorldIdentity {
        generator_kind: "strata_geo::PlanetGenerator".into(),
        generator_settings: "(seed: 7, radius: 32768)".into(),
        materials: ["air", "stone", "grass", "water"].map(String::from).to_vec(),
    }
}

fn encode_client(m: &ClientMessage) -> Vec<u8> {
    let mut out = Vec::new();
    m.encode(&mut out).expect("within limits");
    out
}

fn encode_server(m: &ServerMessage) -> Vec<u8> {
    let mut out = Vec::new();
    m.encode(&mut out).expect("within limits");
    out
}

fn pos() -> impl Strategy<Value = VoxelPos> {
    (any::<i32>(), any::<i32>(), any::<i32>()).prop_map(|(x, y, z)| VoxelPos::new(x, y, z))
}

fn key() -> impl Strategy<Value = ChunkKey> {
    (-1000i32..1000, -1000i32..1000, -1000i32..1000).prop_map(|(x, y, z)| ChunkKey::new(x, y, z))
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!(".{{0,{}}}", max / 4)).expect("regex")
}

fn client_edit() -> impl Strategy<Value = ClientEdit> {
    let m = any::<u16>().prop_map(MaterialId);
    prop_oneof![
        (pos(), m.clone()).prop_map(|(p, m)| ClientEdit::Set(p, m)),
        proptest::collection::vec((pos(), m.clone()), 0..40).prop_map(ClientEdit::Many),
        (pos(), pos(), m.clone()).prop_map(|(min, max, material)| ClientEdit::FillBox { min, max, material }),
        // Finite radii: NaN is carried too, but NaN != NaN would fail the equality below.
        (pos(), -1e6f32..1e6, m).prop_map(|(center, radius, material)| ClientEdit::FillSphere {
            center,
            radius,
            material
        }),
        (pos(), data()).prop_map(|(pos, data)| ClientEdit::BlockData { pos, data }),
        (key(), any::<u64>(), data()).prop_map(|(chunk, id, data)| ClientEdit::EntityData { chunk, id, data }),
    ]
}

/// Game data: a removal, empty bytes, a few bytes or the longest value.
fn data() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Some),
        any::<u8>().prop_map(|b| Some(vec![b; strata_core::side::MAX_VALUE_LEN])),
    ]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    let f = || 0.0f32..1e6;
    prop_oneof![
        (
            text(MAX_CLIENT_NAME),
            proptest::collection::vec(text(MAX_MATERIAL_NAME_LEN), 0..20),
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(|(name, materials, w, session)| ClientMessage::Hello(Hello {
                name,
                identity: WorldIdentity { materials, ..identity() },
                last_world: WorldId(w),
                session,
            })),
        (
            proptest::collection::vec([-1e9f64..1e9, -1e9f64..1e9, -1e9f64..1e9], 0..=MAX_VIEWERS),
            f(),
            any::<u8>(),
            f(),
            f()
        )
            .prop_map(|(viewers, view_distance, lod_max_level, lod_split_distance, lod_hysteresis)| {
                ClientMessage::View(ViewUpdate {
                    viewers,
                    view_distance,
                    lod_max_level,
                    lod_split_distance,
                    lod_hysteresis,
                })
            }),
        (any::<u32>(), client_edit()).prop_map(|(id, edit)| ClientMessage::Edit(EditIntent { id, edit })),
        (any::<u64>(), any::<bool>()).prop_map(|(nonce, reply)| ClientMessage::KeepAlive(KeepAlive { nonce, reply })),
        text(400).prop_map(ClientMessage::Goodbye),
    ]
}

const MAX_CLIENT_NAME: usize = message::MAX_CLIENT_NAME_LEN;

fn rejection() -> impl Strategy<Value = Rejection> {
    prop_oneof![
        (any::<u64>(), any::<u64>()).prop_map(|(extent, max)| Rejection::TooLarge { extent, max }),
        (-1e3f32..1e3).prop_map(Rejection::BadRadius),
        any::<u32>().prop_map(|retry_after_ms| Rejection::RateLimited { retry_after_ms }),
        Just(Rejection::OutOfReach),
        text(400).prop_map(Rejection::Game),
        text(400).prop_map(Rejection::NotCommitted),
        Just(Rejection::Forgotten),
        (any::<u64>(), any::<u64>()).prop_map(|(len, max)| Rejection::DataTooLarge { len, max }),
    ]
}

fn refusal() -> impl Strategy<Value = HandshakeError> {
    prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(|(ours, theirs)| HandshakeError::Protocol { ours, theirs }),
        (text(100), text(100)).prop_map(|(ours, theirs)| HandshakeError::GeneratorKind { ours, theirs }),
        (text(2000), text(2000)).prop_map(|(ours, theirs)| HandshakeError::GeneratorSettings { ours, theirs }),
        (0usize..5000, 0usize..5000).prop_map(|(ours, theirs)| HandshakeError::MaterialCount { ours, theirs }),
        (any::<u16>(), text(60), text(60)).prop_map(|(id, ours, theirs)| HandshakeError::Material { id, ours, theirs }),
        text(400).prop_map(HandshakeError::Refused),
    ]
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        (any::<u32>(), any::<u64>(), any::<u64>(), any::<u32>()).prop_map(|(client, w, sequence, edits_per_second)| {
            ServerMessage::Welcome(Welcome {
                client,
                world: WorldId(w),
                sequence,
                identity: identity(),
                edits_per_second,
            })
        }),
        refusal().prop_map(ServerMessage::Refused),
        (key(), any::<u16>(), 1u64..u64::MAX, any::<u64>()).prop_map(|(k, seed, w, s)| {
            ServerMessage::Chunk(ChunkRecord::new(record(k, seed, w, s)).expect("a sealed record"))
        }),
        (key(), any::<u16>()).prop_map(|(k, seed)| {
            let key = MortonKey::from_chunk(k);
            ServerMessage::Summary(SummaryRecord::new(key, summary(k, seed)).expect("a summary"))
        }),
        (any::<u32>(), prop_oneof![any::<u64>().prop_map(Ok), rejection().prop_map(Err)])
            .prop_map(|(id, result)| ServerMessage::EditOutcome(EditOutcome { id, result })),
        (any::<u64>(), proptest::collection::vec(key(), 0..50))
            .prop_map(|(sequence, keys)| ServerMessage::Changed(ChunksChanged { sequence, keys })),
        (any::<u64>(), any::<bool>()).prop_map(|(nonce, reply)| ServerMessage::KeepAlive(KeepAlive { nonce, reply })),
        text(400).prop_map(ServerMessage::Goodbye),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every message reads back as itself; every strict prefix is an error (a transport that
    /// cut a message short is caught), and so is any byte appended.
    #[test]
    fn client_messages_round_trip_and_cut_ones_fail(m in client_message(), extra in any::<u8>()) {
        let bytes = encode_client(&m);
        prop_assert!(bytes.len() <= MAX_MESSAGE_LEN);
        prop_assert_eq!(ClientMessage::decode(&bytes), Ok(m));
        for cut in 0..bytes.len() {
            prop_assert!(ClientMessage::decode(&bytes[..cut]).is_err(), "prefix of {} bytes decoded", cut);
        }
        let mut longer = bytes.clone();
        longer.push(extra);
        prop_assert_eq!(ClientMessage::decode(&longer), Err(WireError::TrailingBytes { count: 1 }));
    }

    #[test]
    fn server_messages_round_trip_and_cut_ones_fail(m in server_message(), extra in any::<u8>()) {
        let bytes = encode_server(&m);
        prop_assert!(bytes.len() <= MAX_MESSAGE_LEN);
        prop_assert_eq!(ServerMessage::decode(&bytes), Ok(m));
        // Records are long: every cut near the ends and a stride through the middle.
        let cuts = (0..bytes.len()).filter(|c| *c < 80 || bytes.len() - c < 80 || c % 97 == 0);
        for cut in cuts {
            prop_assert!(ServerMessage::decode(&bytes[..cut]).is_err(), "prefix of {} bytes decoded", cut);
        }
        let mut longer = bytes.clone();
        longer.push(extra);
        prop_assert_eq!(ServerMessage::decode(&longer), Err(WireError::TrailingBytes { count: 1 }));
    }

    /// Any bytes: no panic, and what decodes re-encodes to the same bytes (one encoding per
    /// message). Starting from a valid message with a few bytes changed reaches deep fields.
    #[test]
    fn hostile_bytes_are_errors_or_canonical_messages(
        m in client_message(),
        s in server_message(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        noise in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        for mut bytes in [encode_client(&m), encode_server(&s), noise.clone()] {
            if !bytes.is_empty() {
                for (at, v) in &flips {
                    let i = at.index(bytes.len());
                    bytes[i] = *v;
                }
            }
            if let Ok(c) = ClientMessage::decode(&bytes) {
                prop_assert_eq!(encode_client(&c), bytes.clone());
            }
            if let Ok(c) = ServerMessage::decode(&bytes) {
                prop_assert_eq!(encode_server(&c), bytes.clone());
            }
        }
    }
}

#[test]
fn another_protocol_version_is_a_typed_error() {
    let mut bytes = encode_client(&ClientMessage::KeepAlive(KeepAlive { nonce: 1, reply: false }));
    bytes[0] = PROTOCOL_VERSION + 1;
    assert_eq!(
        ClientMessage::decode(&bytes),
        Err(WireError::Version { got: PROTOCOL_VERSION + 1, supported: PROTOCOL_VERSION })
    );
    assert!(matches!(ServerMessage::decode(&[PROTOCOL_VERSION, 99]), Err(WireError::UnknownTag { tag: 99, .. })));
    assert!(matches!(ClientMessage::decode(&[]), Err(WireError::Truncated { .. })));
}

#[test]
fn a_damaged_chunk_record_is_refused_on_both_ends() {
    let bytes = record(ChunkKey::new(3, -2, 9), 5, 77, 12);
    let c = ChunkRecord::new(bytes.clone()).expect("valid");
    assert_eq!((c.key(), c.sequence(), c.home().world), (ChunkKey::new(3, -2, 9), 12, WorldId(77)));
    let encoded = encode_server(&ServerMessage::Chunk(c));
    // Flip one bit of every byte of the record in turn: the checksum catches each.
    let start = encoded.len() - bytes.len();
    for i in (start..encoded.len()).step_by(7) {
        let mut bad = encoded.clone();
        bad[i] ^= 0x10;
        assert!(matches!(ServerMessage::decode(&bad), Err(WireError::BadRecord(_))), "byte {i}");
    }
    let mut bad = bytes.clone();
    bad[50] ^= 1;
    assert!(matches!(ChunkRecord::new(bad), Err(WireError::BadRecord(_))));
    let summary_bytes = summary(ChunkKey::new(1, 2, 3), 4);
    // A summary offered under another key is refused.
    assert!(SummaryRecord::new(MortonKey::from_chunk(ChunkKey::new(1, 2, 4)), summary_bytes.clone()).is_err());
    assert!(SummaryRecord::new(MortonKey::from_chunk(ChunkKey::new(1, 2, 3)), summary_bytes).is_ok());
}

#[test]
fn limits_are_enforced_when_sending_and_when_receiving() {
    let many = ClientEdit::Many(vec![(VoxelPos::new(0, 0, 0), MaterialId(1)); MAX_EDIT_VOXELS + 1]);
    let mut out = vec![9];
    let err = ClientMessage::Edit(EditIntent { id: 1, edit: many }).encode(&mut out);
    assert!(matches!(err, Err(WireError::TooMany { what: "edit voxels", .. })));
    assert_eq!(out, [9], "nothing appended on error");
    // A receiver sees the declared count before the voxels: refused without reading them.
    let fine = encode_client(&ClientMessage::Edit(EditIntent {
        id: 1,
        edit: ClientEdit::Many(vec![(VoxelPos::new(0, 0, 0), MaterialId(1)); 2]),
    }));
    let mut forged = fine[..11].to_vec();
    forged[7..11].copy_from_slice(&(MAX_EDIT_VOXELS as u32 + 1).to_le_bytes());
    assert!(matches!(ClientMessage::decode(&forged), Err(WireError::TooMany { what: "edit voxels", .. })));

    // Game data over the value limit: refused by the encoder, and by a decoder reading the
    // declared length before the bytes.
    let value = strata_core::side::MAX_VALUE_LEN;
    for edit in [
        ClientEdit::BlockData { pos: VoxelPos::new(1, 2, 3), data: Some(vec![7; value + 1]) },
        ClientEdit::EntityData { chunk: ChunkKey::new(1, 2, 3), id: 9, data: Some(vec![7; value + 1]) },
    ] {
        let mut out = vec![9];
        assert!(ClientMessage::Edit(EditIntent { id: 1, edit }).encode(&mut out).is_err());
        assert_eq!(out, [9], "nothing appended on error");
    }
    let longest = encode_client(&ClientMessage::Edit(EditIntent {
        id: 1,
        edit: ClientEdit::BlockData { pos: VoxelPos::new(1, 2, 3), data: Some(vec![7; value]) },
    }));
    // version, kind, id (4), tag, position (12), present: the length at 20..24.
    let mut forged = longest.clone();
    forged[20..24].copy_from_slice(&(value as u32 + 1).to_le_bytes());
    assert!(matches!(ClientMessage::decode(&forged), Err(WireError::TooMany { what: "block data", .. })));
    assert!(ClientMessage::decode(&longest).is_ok());

    let view = |viewers: usize, d: f32| {
        ClientMessage::View(ViewUpdate {
            viewers: vec![[0.0; 3]; viewers],
            view_distance: d,
            lod_max_level: 4,
            lod_split_distance: 2.0,
            lod_hysteresis: 0.1,
        })
    };
    assert!(view(MAX_VIEWERS + 1, 1.0).encode(&mut Vec::new()).is_err());
    assert!(view(1, f32::NAN).encode(&mut Vec::new()).is_err());
    assert!(view(1, -1.0).encode(&mut Vec::new()).is_err());
    let mut inf = encode_client(&view(1, 1.0));
    inf[6..14].copy_from_slice(&f64::INFINITY.to_le_bytes());
    assert_eq!(ClientMessage::decode(&inf), Err(WireError::BadValue { what: "viewer position" }));

    let keys =
        ServerMessage::Changed(ChunksChanged { sequence: 1, keys: vec![ChunkKey::new(0, 0, 0); MAX_CHANGED_KEYS + 1] });
    assert!(keys.encode(&mut Vec::new()).is_err());
    let materials = WorldIdentity { materials: vec!["m".into(); MAX_MATERIALS + 1], ..identity() };
    let hello =
        ClientMessage::Hello(Hello { name: "a".into(), identity: materials, last_world: WorldId(0), session: 1 });
    assert!(matches!(hello.encode(&mut Vec::new()), Err(WireError::TooMany { what: "materials", .. })));
    let long_name = WorldIdentity { materials: vec!["x".repeat(MAX_MATERIAL_NAME_LEN + 1)], ..identity() };
    let hello =
        ClientMessage::Hello(Hello { name: "a".into(), identity: long_name, last_world: WorldId(0), session: 1 });
    assert!(hello.encode(&mut Vec::new()).is_err());
    assert!(matches!(ClientMessage::decode(&vec![0; MAX_MESSAGE_LEN + 1]), Err(WireError::TooLong { .. })));
}

#[test]
fn a_handshake_mismatch_reaches_the_client_as_the_same_error() {
    let server = identity();
    let mut client = identity();
    client.materials[2] = "moss".into();
    let hello = ClientMessage::Hello(Hello {
        name: "b".into(),
        identity: client.clone(),
        last_world: WorldId::UNSEALED,
        session: 9,
    });
    let ClientMessage::Hello(received) = ClientMessage::decode(&encode_client(&hello)).expect("valid") else {
        panic!("a hello")
    };
    let refusal = server.check(&received.identity).expect_err("materials differ");
    assert_eq!(refusal, HandshakeError::Material { id: 2, ours: "grass".into(), theirs: "moss".into() });
    let answer = ServerMessage::decode(&encode_server(&ServerMessage::Refused(refusal.clone()))).expect("valid");
    assert_eq!(answer, ServerMessage::Refused(refusal));
    // Accepted: the client checks the server's identity the same way.
    let welcome = ServerMessage::Welcome(Welcome {
        client: 1,
        world: WorldId(5),
        sequence: 40,
        identity: server,
        edits_per_second: 20,
    });
    let ServerMessage::Welcome(w) = ServerMessage::decode(&encode_server(&welcome)).expect("valid") else {
        panic!("a welcome")
    };
    assert!(matches!(client.check(&w.identity), Err(HandshakeError::Material { id: 2, .. })));
}

#[test]
fn process_batches_are_not_client_edits() {
    let batch = strata_core::Edit::Process(strata_core::ProcessBatch {
        stamp: strata_core::ProcessStamp { process: strata_core::ProcessId::new(1).expect("an id"), step: 3 },
        writes: Vec::new(),
    });
    assert!(ClientEdit::try_from(batch).is_err());
    let set = strata_core::Edit::Set(VoxelPos::new(1, 2, 3), MaterialId(4));
    let back: strata_core::Edit = ClientEdit::try_from(set.clone()).expect("a client edit").into();
    assert_eq!(back, set);
}

/// Two clients and a server over links that drop, their edits interleaved in one world: every
/// edit ends settled on its client, none is applied twice, and an accepted one was applied once
/// and made durable.
mod reconnects {
    use crate::client::{PendingEdits, Settled};
    use crate::server::{AckQueue, EditLedger, Intake};
    use crate::{ClientEdit, EditIntent, EditOutcome, Rejection};
    use proptest::prelude::*;
    use std::collections::{HashMap, VecDeque};
    use strata_core::{MaterialId, VoxelPos};

    #[derive(Clone, Copy, Debug)]
    enum Step {
        Submit,
        ToServer,
        ToClient,
        Commit,
        Drop,
        Reconnect,
    }

    fn step() -> impl Strategy<Value = (Step, usize)> {
        let s = prop_oneof![
            3 => Just(Step::Submit),
            4 => Just(Step::ToServer),
            4 => Just(Step::ToClient),
            2 => Just(Step::Commit),
            1 => Just(Step::Drop),
            1 => Just(Step::Reconnect),
        ];
        (s, 0usize..2)
    }

    /// One client, its link, and what the server keeps of its session.
    struct Side {
        pending: PendingEdits,
        ledger: EditLedger,
        connected: bool,
        to_server: VecDeque<EditIntent>,
        to_client: VecDeque<EditOutcome>,
        settled: HashMap<u32, Settled>,
        submitted: u32,
    }

    struct Sim {
        sides: [Side; 2],
        acks: AckQueue<usize>,
        version: u64,
        sequence: u64,
        applied: HashMap<(usize, u32), (u32, u64)>,
        durable_version: u64,
    }

    impl Sim {
        fn new() -> Self {
            let side = || Side {
                pending: PendingEdits::new(),
                ledger: EditLedger::new(1 << 20),
                connected: false,
                to_server: VecDeque::new(),
                to_client: VecDeque::new(),
                settled: HashMap::new(),
                submitted: 0,
            };
            Self {
                sides: [side(), side()],
                acks: AckQueue::default(),
                version: 0,
                sequence: 0,
                applied: HashMap::new(),
                durable_version: 0,
            }
        }

        fn run(&mut self, s: Step, c: usize) {
            match s {
                Step::Submit => {
                    let side = &mut self.sides[c];
                    side.submitted += 1;
                    let intent = side.pending.submit(ClientEdit::Set(VoxelPos::new(0, 0, 0), MaterialId(c as u16 + 1)));
                    if side.connected {
                        side.to_server.push_back(intent);
                    }
                }
                Step::ToServer => {
                    let side = &mut self.sides[c];
                    let Some(intent) = side.to_server.pop_front() else { return };
                    match side.ledger.intake(intent.id) {
                        // The game refuses every seventh edit.
                        Intake::New if intent.id % 7 == 0 => {
                            let o = EditOutcome { id: intent.id, result: Err(Rejection::OutOfReach) };
                            side.ledger.settled(&o);
                            side.to_client.push_back(o);
                        }
                        Intake::New => {
                            self.version += 1;
                            let e = self.applied.entry((c, intent.id)).or_insert((0, 0));
                            e.0 += 1;
                            e.1 = self.version;
                            self.acks.applied(self.version, c, intent.id);
                        }
                        Intake::Answered(o) => side.to_client.push_back(o),
                        Intake::InFlight => {}
                    }
                }
                Step::ToClient => {
                    let side = &mut self.sides[c];
                    if let Some(o) = side.to_client.pop_front()
                        && let Some(s) = side.pending.settle(&o)
                    {
                        assert!(side.settled.insert(o.id, s).is_none(), "settled twice");
                    }
                }
                Step::Commit => {
                    self.sequence += 1;
                    self.durable_version = self.version;
                    for (owner, o) in self.acks.committed(self.version, self.sequence) {
                        let side = &mut self.sides[owner];
                        side.ledger.settled(&o);
                        if side.connected {
                            side.to_client.push_back(o);
                        }
                    }
                }
                Step::Drop => {
                    let side = &mut self.sides[c];
                    side.connected = false;
                    side.to_server.clear();
                    side.to_client.clear();
                }
                Step::Reconnect => {
                    let side = &mut self.sides[c];
                    if !side.connected {
                        side.connected = true;
                        side.to_server.extend(side.pending.resend());
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn no_edit_is_lost_or_applied_twice(steps in proptest::collection::vec(step(), 1..400)) {
            let mut sim = Sim::new();
            for (s, c) in steps {
                sim.run(s, c);
                prop_assert!(sim.applied.values().all(|(n, _)| *n == 1), "an edit applied twice");
            }
            // The links come back for good: everything settles.
            for c in 0..2 {
                sim.run(Step::Reconnect, c);
            }
            for _ in 0..4 {
                for c in 0..2 {
                    while !sim.sides[c].to_server.is_empty() {
                        sim.run(Step::ToServer, c);
                    }
                }
                sim.run(Step::Commit, 0);
                for c in 0..2 {
                    while !sim.sides[c].to_client.is_empty() {
                        sim.run(Step::ToClient, c);
                    }
                }
            }
            for (c, side) in sim.sides.iter().enumerate() {
                prop_assert!(side.pending.is_empty(), "client {}: {} edits still pending", c, side.pending.len());
                prop_assert_eq!(side.settled.len() as u32, side.submitted);
                for (id, s) in &side.settled {
                    match s {
                        Settled::Accepted { sequence, .. } => {
                            let (n, version) = sim.applied.get(&(c, *id)).copied().unwrap_or_default();
                            prop_assert_eq!(n, 1, "client {}: accepted edit {} applied once", c, id);
                            prop_assert!(version <= sim.durable_version && *sequence >= 1);
                        }
                        Settled::Rejected { .. } => {
                            prop_assert!(!sim.applied.contains_key(&(c, *id)), "client {}: rejected edit {} applied", c, id);
                        }
                    }
                }
            }
        }
    }
}
