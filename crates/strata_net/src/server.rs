//! Engine-free bookkeeping a server keeps per client: which edits it takes ([`EditGate`]), what
//! it sends next within a byte budget ([`Outbox`]), and when an edit may be acknowledged
//! ([`AckQueue`]: only once a commit made it durable).
//!
//! Times are [`Duration`]s since any fixed origin the caller chooses (a server's start), so the
//! same code runs under Bevy's clock, a test's fake clock or `Instant`.

use crate::message::{EditOutcome, Rejection};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Duration;
use strata_core::{ChunkKey, Edit, EditError, MAX_EDIT_EXTENT};

/// What a server takes from one client.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EditLimits {
    /// Sustained edit intents per second.
    pub edits_per_second: f64,
    /// Intents allowed at once after a quiet spell.
    pub burst: u32,
    /// The most voxels one intent may name (a box's or sphere's volume, a list's length).
    pub max_voxels: u64,
    /// Refused intents in a row after which the client counts as flooding
    /// ([`EditGate::flooding`]): a server disconnects it.
    pub flood_after: u32,
}

impl Default for EditLimits {
    /// 20 intents per second, bursts of 40, at most 64³ voxels each, flooding after 200
    /// refusals in a row.
    fn default() -> Self {
        Self { edits_per_second: 20.0, burst: 40, max_voxels: 64 * 64 * 64, flood_after: 200 }
    }
}

/// A token bucket on a nanosecond clock: `per_second` tokens a second, at most `burst` saved
/// up. Integer arithmetic, so no token is lost or gained to rounding however the calls fall.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    /// Nanoseconds between two tokens (`1 s / per_second`, at least 1).
    interval_ns: u64,
    capacity_ns: u64,
    /// Saved tokens, in nanoseconds of refill.
    bucket_ns: u64,
    last: Option<Duration>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(per_second: f64, burst: u32) -> Self {
        // `!(x > 0)` also takes NaN: no rate is a token per 146 years.
        let interval_ns =
            if per_second > 0.0 { (1e9 / per_second).clamp(1.0, u64::MAX as f64 / 2.0) as u64 } else { u64::MAX / 2 };
        let capacity_ns = interval_ns.saturating_mul(u64::from(burst));
        Self { interval_ns, capacity_ns, bucket_ns: capacity_ns, last: None }
    }

    /// Takes a token at `now` (times before the last call count as the last call), or says how
    /// long until one is there. O(1).
    pub fn take(&mut self, now: Duration) -> Result<(), Duration> {
        let elapsed = self.last.map_or(Duration::ZERO, |t| now.saturating_sub(t));
        self.last = Some(self.last.map_or(now, |t| t.max(now)));
        let elapsed_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.bucket_ns = self.bucket_ns.saturating_add(elapsed_ns).min(self.capacity_ns);
        if self.bucket_ns >= self.interval_ns {
            self.bucket_ns -= self.interval_ns;
            Ok(())
        } else {
            Err(Duration::from_nanos(self.interval_ns - self.bucket_ns))
        }
    }
}

/// Admits or refuses one client's edit intents: the limits every edit keeps
/// ([`Edit::check`]), the voxel limit, and a [`TokenBucket`] for the rate.
#[derive(Clone, Debug)]
pub struct EditGate {
    limits: EditLimits,
    rate: TokenBucket,
    refused_in_row: u32,
}

/// The limits every edit must keep ([`Edit::check`]: extent, radius, game data length) as the
/// refusal a server answers: what [`EditGate`] checks first, at no token's cost, and what a
/// client checks before sending. O(1).
pub fn check_shape(edit: &Edit) -> Result<(), Rejection> {
    edit.check().map_err(|e| match e {
        EditError::BadRadius(r) => Rejection::BadRadius(r),
        EditError::TooLarge { extent } => Rejection::TooLarge { extent, max: u64::from(MAX_EDIT_EXTENT) },
        EditError::DataTooLarge { len } => {
            Rejection::DataTooLarge { len: len as u64, max: strata_core::side::MAX_VALUE_LEN as u64 }
        }
        // A future limit of the core: refused the same way.
        _ => Rejection::TooLarge { extent: u64::MAX, max: u64::from(MAX_EDIT_EXTENT) },
    })
}

impl EditGate {
    /// A gate with a full bucket.
    pub fn new(limits: EditLimits) -> Self {
        Self { limits, rate: TokenBucket::new(limits.edits_per_second, limits.burst), refused_in_row: 0 }
    }

    /// The limits.
    pub fn limits(&self) -> EditLimits {
        self.limits
    }

    /// Whether `edit` (a client's [`ClientEdit`](crate::ClientEdit), converted once for the
    /// gate and the world), arriving at `now`, may be applied; a refusal says why (and, for the
    /// rate, when to try again). Shape checks come first and cost no token. O(1), or O(voxels)
    /// for a list.
    pub fn admit(&mut self, edit: &Edit, now: Duration) -> Result<(), Rejection> {
        let verdict = self.judge(edit, now);
        self.refused_in_row = if verdict.is_ok() { 0 } else { self.refused_in_row.saturating_add(1) };
        verdict
    }

    fn judge(&mut self, edit: &Edit, now: Duration) -> Result<(), Rejection> {
        check_shape(edit)?;
        let voxels = edit.voxel_count();
        if voxels > self.limits.max_voxels {
            return Err(Rejection::TooLarge { extent: voxels, max: self.limits.max_voxels });
        }
        self.rate.take(now).map_err(|wait| {
            let ms = u64::try_from(wait.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
            Rejection::RateLimited { retry_after_ms: u32::try_from(ms).unwrap_or(u32::MAX) }
        })
    }

    /// Whether the client keeps sending what the gate refuses ([`EditLimits::flood_after`]
    /// refusals in a row).
    pub fn flooding(&self) -> bool {
        self.refused_in_row >= self.limits.flood_after
    }
}

/// Bytes per second a server sends one client, and how much may go at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ByteBudget {
    /// Sustained rate.
    pub bytes_per_second: f64,
    /// The most sent at once after a quiet spell (and the most one message may overdraw).
    pub burst: usize,
}

impl Default for ByteBudget {
    /// 1 MiB/s with bursts of 256 KiB.
    fn default() -> Self {
        Self { bytes_per_second: 1024.0 * 1024.0, burst: 256 * 1024 }
    }
}

#[derive(Debug)]
struct Queued {
    stamp: u64,
    bytes: Vec<u8>,
}

/// One client's outgoing chunk data, nearest first, within a [`ByteBudget`].
///
/// Entries are keyed by chunk: a newer message for a chunk replaces the queued one (only the
/// latest content of a chunk is worth sending). Lower `priority` goes first (e.g. the squared
/// distance to the client's nearest viewer, in chunks); ties go in the order queued.
///
/// # Budget
/// A token bucket of bytes: it refills at `bytes_per_second` up to `burst`. A message is sent
/// while the bucket is positive and may overdraw it (a record larger than the burst still goes,
/// then the bucket refills before the next): the long-run rate holds and nothing starves.
///
/// # Runtime
/// `push` O(log n), `drain` O(log n) per message; replaced entries leave a stale heap entry
/// skipped when reached.
#[derive(Debug)]
pub struct Outbox {
    budget: ByteBudget,
    tokens: f64,
    last: Option<Duration>,
    heap: BinaryHeap<Reverse<(u64, u64, ChunkKey)>>,
    entries: HashMap<ChunkKey, Queued>,
    next_stamp: u64,
    queued_bytes: usize,
}

impl Outbox {
    /// An empty outbox with a full budget.
    pub fn new(budget: ByteBudget) -> Self {
        Self {
            budget,
            tokens: budget.burst as f64,
            last: None,
            heap: BinaryHeap::new(),
            entries: HashMap::new(),
            next_stamp: 0,
            queued_bytes: 0,
        }
    }

    /// Queues `message` (an encoded message about chunk `key`) at `priority`, replacing what was
    /// queued for that chunk.
    pub fn push(&mut self, key: ChunkKey, priority: u64, message: Vec<u8>) {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        self.queued_bytes += message.len();
        if let Some(old) = self.entries.insert(key, Queued { stamp, bytes: message }) {
            self.queued_bytes -= old.bytes.len();
        }
        self.heap.push(Reverse((priority, stamp, key)));
    }

    /// Drops what is queued for `key` (it left the client's interest); whether anything was.
    pub fn cancel(&mut self, key: ChunkKey) -> bool {
        match self.entries.remove(&key) {
            Some(old) => {
                self.queued_bytes -= old.bytes.len();
                true
            }
            None => false,
        }
    }

    /// Chunks queued.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes queued.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// The messages to send at `now`, in order: the budget refills for the time since the last
    /// call, then messages go while it is positive.
    pub fn drain(&mut self, now: Duration) -> Vec<(ChunkKey, Vec<u8>)> {
        let elapsed = self.last.map_or(Duration::ZERO, |t| now.saturating_sub(t));
        self.last = Some(self.last.map_or(now, |t| t.max(now)));
        self.tokens =
            (self.tokens + elapsed.as_secs_f64() * self.budget.bytes_per_second).min(self.budget.burst as f64);
        let mut out = Vec::new();
        while self.tokens > 0.0 {
            let Some(Reverse((_, stamp, key))) = self.heap.pop() else { break };
            if self.entries.get(&key).is_none_or(|e| e.stamp != stamp) {
                continue;
            }
            let Some(e) = self.entries.remove(&key) else { continue };
            self.queued_bytes -= e.bytes.len();
            self.tokens -= e.bytes.len() as f64;
            out.push((key, e.bytes));
        }
        if self.entries.is_empty() {
            self.heap.clear();
        }
        out
    }
}

/// Edit intents applied to the world and waiting for a commit to make them durable: a server
/// acknowledges an edit only then (a crash before the commit loses it, and the client was never
/// told otherwise).
///
/// Each intent is pushed with a commit *ticket*: a number that grows from intent to intent such
/// that a successful commit covering ticket `t` made every intent pushed with a ticket `<= t`
/// durable — e.g. the commit request a server makes right after handing the edit to its world
/// (`bevy_strata`'s `StrataPersistence::commit_now`: every edit sent before the request is
/// covered by the commit that reports it).
#[derive(Debug)]
pub struct AckQueue<C> {
    pending: VecDeque<(u64, C, u32)>,
}

impl<C> Default for AckQueue<C> {
    fn default() -> Self {
        Self { pending: VecDeque::new() }
    }
}

impl<C: Copy> AckQueue<C> {
    /// Intent `id` of `client`, handed to the world, covered by commit ticket `ticket`.
    pub fn applied(&mut self, ticket: u64, client: C, id: u32) {
        // Tickets only grow; an out-of-order caller still gets a correct (later) ack.
        let ticket = self.pending.back().map_or(ticket, |(t, ..)| ticket.max(*t));
        self.pending.push_back((ticket, client, id));
    }

    /// Intents waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// A commit covering every ticket `<= ticket` succeeded with store sequence `sequence`: the
    /// outcomes to send, in the order the intents were applied.
    pub fn committed(&mut self, ticket: u64, sequence: u64) -> Vec<(C, EditOutcome)> {
        let mut out = Vec::new();
        while let Some(&(t, client, id)) = self.pending.front() {
            if t > ticket {
                break;
            }
            self.pending.pop_front();
            out.push((client, EditOutcome { id, result: Ok(sequence) }));
        }
        out
    }

    /// Forgets the intents of `client` when the server forgets that client's session itself
    /// (its [`EditLedger`] goes too; the edits stay applied and will be committed). Key the
    /// queue by session, not by connection, and do not call this when a connection drops: a
    /// session that reconnects resends those intents, its ledger answers them
    /// [`Intake::InFlight`], and only this queue's acknowledgement would ever settle them.
    pub fn forget(&mut self, client: C)
    where
        C: PartialEq,
    {
        self.pending.retain(|(_, c, _)| *c != client);
    }
}

/// What the server does with an intent, by its id ([`EditLedger::intake`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Intake {
    /// A new intent: gate it, apply it, and [`EditLedger::settled`] its outcome later.
    New,
    /// Sent again after a reconnect and already settled: send this outcome again, apply
    /// nothing.
    Answered(EditOutcome),
    /// Sent again after a reconnect while it is applied and waiting for its commit: its
    /// acknowledgement will come; nothing to do.
    InFlight,
}

/// What a server remembers of one session's edit intents, so an intent a client sends again
/// after a reconnect is answered instead of applied twice (a second application could undo
/// another player's edit made in between).
///
/// Relies on ids increasing within a session and on the transport delivering a connection's
/// messages in order (so an id below the highest seen was seen). Keeps the outcomes of the
/// last `memory` settled intents; an older one sent again is answered
/// [`Rejection::Forgotten`].
#[derive(Clone, Debug)]
pub struct EditLedger {
    highest: Option<u32>,
    in_flight: std::collections::BTreeSet<u32>,
    outcomes: VecDeque<EditOutcome>,
    memory: usize,
}

impl EditLedger {
    /// A ledger keeping `memory` outcomes (at least 1).
    pub fn new(memory: usize) -> Self {
        Self { highest: None, in_flight: Default::default(), outcomes: VecDeque::new(), memory: memory.max(1) }
    }

    /// The ledger of a session the server forgot (its outcomes dropped) after it saw intents up
    /// to `highest`: those are answered [`Rejection::Forgotten`] if sent again, never applied.
    pub fn after(memory: usize, highest: u32) -> Self {
        Self { highest: Some(highest), ..Self::new(memory) }
    }

    /// The highest intent id seen (`None` before the first).
    pub fn highest(&self) -> Option<u32> {
        self.highest
    }

    /// Sorts intent `id` as new, answered or in flight. O(memory) for a resent intent, O(log n)
    /// otherwise.
    pub fn intake(&mut self, id: u32) -> Intake {
        if self.highest.is_none_or(|h| id > h) {
            self.highest = Some(id);
            self.in_flight.insert(id);
            return Intake::New;
        }
        if self.in_flight.contains(&id) {
            return Intake::InFlight;
        }
        match self.outcomes.iter().rev().find(|o| o.id == id) {
            Some(o) => Intake::Answered(o.clone()),
            None => Intake::Answered(EditOutcome { id, result: Err(Rejection::Forgotten) }),
        }
    }

    /// Records an intent's outcome (acknowledged or rejected): a later resend gets it again.
    pub fn settled(&mut self, outcome: &EditOutcome) {
        self.in_flight.remove(&outcome.id);
        if self.outcomes.len() == self.memory {
            self.outcomes.pop_front();
        }
        self.outcomes.push_back(outcome.clone());
    }

    /// Intents applied and not settled yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use strata_core::{MaterialId, VoxelPos};

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn set() -> Edit {
        Edit::Set(VoxelPos::new(1, 2, 3), MaterialId(1))
    }

    #[test]
    fn the_gate_refuses_bad_shapes_without_spending_the_rate() {
        let mut g = EditGate::new(EditLimits { edits_per_second: 1.0, burst: 1, ..EditLimits::default() });
        let huge =
            Edit::FillBox { min: VoxelPos::new(0, 0, 0), max: VoxelPos::new(2000, 0, 0), material: MaterialId(1) };
        assert_eq!(g.admit(&huge, ms(0)), Err(Rejection::TooLarge { extent: 2001, max: 1024 }));
        let nan = Edit::FillSphere { center: VoxelPos::new(0, 0, 0), radius: f32::NAN, material: MaterialId(1) };
        assert!(matches!(g.admit(&nan, ms(0)), Err(Rejection::BadRadius(r)) if r.is_nan()));
        let big =
            Edit::FillBox { min: VoxelPos::new(0, 0, 0), max: VoxelPos::new(99, 99, 99), material: MaterialId(1) };
        assert_eq!(g.admit(&big, ms(0)), Err(Rejection::TooLarge { extent: 1_000_000, max: 64 * 64 * 64 }));
        let value = strata_core::side::MAX_VALUE_LEN;
        let chest = Edit::BlockData { pos: VoxelPos::new(1, 2, 3), data: Some(vec![0; value + 1]) };
        let limit = Rejection::DataTooLarge { len: value as u64 + 1, max: value as u64 };
        assert_eq!(g.admit(&chest, ms(0)), Err(limit));
        // The one token is still there.
        assert_eq!(g.admit(&set(), ms(0)), Ok(()));
        assert_eq!(g.admit(&set(), ms(0)), Err(Rejection::RateLimited { retry_after_ms: 1000 }));
        assert_eq!(g.admit(&set(), ms(400)), Err(Rejection::RateLimited { retry_after_ms: 600 }));
        assert_eq!(g.admit(&set(), ms(1000)), Ok(()));
    }

    #[test]
    fn a_bucket_without_a_rate_gives_its_burst_only() {
        for rate in [0.0, -3.0, f64::NAN] {
            let mut b = TokenBucket::new(rate, 2);
            assert!(b.take(ms(0)).is_ok() && b.take(ms(0)).is_ok(), "{rate}");
            assert!(b.take(Duration::from_secs(3600)).is_err(), "{rate}");
        }
    }

    #[test]
    fn a_client_that_keeps_pushing_is_flooding() {
        let mut g =
            EditGate::new(EditLimits { edits_per_second: 1.0, burst: 2, flood_after: 10, ..EditLimits::default() });
        for _ in 0..11 {
            let _ = g.admit(&set(), ms(0));
        }
        assert!(!g.flooding(), "2 admitted, 9 refused in a row");
        let _ = g.admit(&set(), ms(0));
        assert!(g.flooding());
        assert_eq!(g.admit(&set(), ms(5000)), Ok(()));
        assert!(!g.flooding(), "an admitted edit ends the run");
    }

    proptest! {
        /// Over any arrival pattern, a gate never admits more than `burst + rate · t` intents in
        /// any window of length `t` from the start, and admits every intent that arrives with a
        /// whole token in the bucket (checked against a separately written bucket).
        #[test]
        fn the_gate_keeps_the_rate(
            gaps in proptest::collection::vec(0u64..300, 1..200),
            rate in prop::sample::select(vec![1u32, 2, 4, 5, 8, 10, 16, 20, 25, 40, 50]),
            burst in 1u32..20,
        ) {
            let limits = EditLimits { edits_per_second: f64::from(rate), burst, ..EditLimits::default() };
            let mut g = EditGate::new(limits);
            let mut now = 0u64;
            let mut admitted = 0u64;
            // Reference: a bucket of nanoseconds, one intent per `10⁹ / rate` ns (exact: the
            // rates divide 10⁹), refilled 10⁶ ns per millisecond.
            let token = 1_000_000_000 / u64::from(rate);
            let mut tokens = u64::from(burst) * token;
            let mut last = 0u64;
            for gap in gaps {
                now += gap;
                tokens = (tokens + (now - last) * 1_000_000).min(u64::from(burst) * token);
                last = now;
                let want = tokens >= token;
                if want {
                    tokens -= token;
                }
                let got = g.admit(&set(), ms(now)).is_ok();
                prop_assert_eq!(got, want, "at {} ms", now);
                admitted += u64::from(got);
                prop_assert!(admitted <= u64::from(burst) + now * u64::from(rate) / 1000);
            }
        }
    }

    #[test]
    fn the_outbox_sends_nearest_first_latest_only_within_budget() {
        let mut o = Outbox::new(ByteBudget { bytes_per_second: 1000.0, burst: 1000 });
        let k = |x| ChunkKey::new(x, 0, 0);
        o.push(k(1), 9, vec![1; 400]);
        o.push(k(2), 1, vec![2; 400]);
        o.push(k(3), 5, vec![3; 400]);
        o.push(k(1), 9, vec![4; 300]); // newer content for chunk 1
        assert_eq!((o.len(), o.queued_bytes()), (3, 1100));
        let first = o.drain(ms(0));
        // 1000 bytes of budget: 400 + 400 sent, the bucket at 200 > 0 lets a third overdraw.
        let keys: Vec<_> = first.iter().map(|(key, _)| key.x).collect();
        assert_eq!(keys, [2, 3, 1]);
        assert_eq!(first[2].1, vec![4; 300], "only the latest content of chunk 1");
        assert!(o.is_empty());
        // Overdrawn by 100: nothing goes until the bucket refills.
        o.push(k(5), 0, vec![5; 10]);
        assert!(o.drain(ms(50)).is_empty());
        assert_eq!(o.drain(ms(150)).len(), 1);
        o.push(k(6), 0, vec![6; 10]);
        assert!(o.cancel(k(6)));
        assert!(o.drain(ms(2000)).is_empty());
        assert_eq!(o.queued_bytes(), 0);
    }

    proptest! {
        /// Whatever is pushed and cancelled, each chunk's latest content goes exactly once, in
        /// priority order per drain, and the bytes sent by time `t` stay within
        /// `burst + rate · t` plus one message (the overdraw).
        #[test]
        fn the_outbox_keeps_its_promises(
            ops in proptest::collection::vec((0i32..12, 0u64..5, 1usize..3000, any::<bool>(), 0u64..200), 1..150),
        ) {
            let budget = ByteBudget { bytes_per_second: 20_000.0, burst: 4_000 };
            let mut o = Outbox::new(budget);
            let mut latest: HashMap<i32, Option<Vec<u8>>> = HashMap::new();
            let mut now = 0u64;
            let mut sent_bytes = 0usize;
            let mut counter = 0u8;
            let check = |batch: Vec<(ChunkKey, Vec<u8>)>, latest: &mut HashMap<i32, Option<Vec<u8>>>, sent: &mut usize, now: u64| {
                let mut prev_priority = None;
                for (key, bytes) in batch {
                    let want = latest.get_mut(&key.x).and_then(Option::take);
                    assert_eq!(Some(&bytes), want.as_ref(), "chunk {} sent its latest content once", key.x);
                    let p = u64::from(bytes[1]);
                    assert!(prev_priority.is_none_or(|q| q <= p), "priority order");
                    prev_priority = Some(p);
                    *sent += bytes.len();
                }
                let allowed = budget.burst as f64 + budget.bytes_per_second * now as f64 / 1000.0 + 3000.0;
                assert!((*sent as f64) <= allowed, "{sent} bytes by {now} ms");
            };
            for (x, priority, len, cancel, gap) in ops {
                counter = counter.wrapping_add(1);
                if cancel {
                    o.cancel(ChunkKey::new(x, 0, 0));
                    latest.insert(x, None);
                } else {
                    // Byte 0 tells pushes apart, byte 1 carries the priority for the check.
                    let mut bytes = vec![counter; len.max(2)];
                    bytes[1] = priority as u8;
                    o.push(ChunkKey::new(x, 0, 0), priority, bytes.clone());
                    latest.insert(x, Some(bytes));
                }
                now += gap;
                let batch = o.drain(ms(now));
                check(batch, &mut latest, &mut sent_bytes, now);
            }
            // Given time, everything still queued goes.
            for _ in 0..100 {
                now += 1000;
                let batch = o.drain(ms(now));
                check(batch, &mut latest, &mut sent_bytes, now);
            }
            prop_assert!(o.is_empty());
            prop_assert!(latest.values().all(Option::is_none), "every latest content was sent");
        }
    }

    #[test]
    fn the_ledger_answers_resent_intents_and_says_when_it_forgot() {
        let mut l = EditLedger::new(2);
        assert_eq!(l.intake(1), Intake::New);
        assert_eq!(l.intake(2), Intake::New);
        assert_eq!(l.intake(3), Intake::New);
        assert_eq!(l.in_flight(), 3);
        assert_eq!(l.intake(2), Intake::InFlight);
        let ok = |id| EditOutcome { id, result: Ok(10) };
        for id in 1..=3 {
            l.settled(&ok(id));
        }
        assert_eq!(l.intake(3), Intake::Answered(ok(3)));
        assert_eq!(l.intake(2), Intake::Answered(ok(2)));
        assert_eq!(l.intake(1), Intake::Answered(EditOutcome { id: 1, result: Err(Rejection::Forgotten) }));
        assert_eq!(l.intake(4), Intake::New);
        assert_eq!(l.in_flight(), 1);
    }

    #[test]
    fn edits_are_acknowledged_only_by_a_commit_that_covers_them() {
        let mut q = AckQueue::default();
        q.applied(3, 'a', 1);
        q.applied(3, 'b', 7);
        q.applied(5, 'a', 2);
        assert!(q.committed(2, 10).is_empty(), "a commit that started before the edits");
        let acks = q.committed(4, 11);
        assert_eq!(
            acks,
            vec![('a', EditOutcome { id: 1, result: Ok(11) }), ('b', EditOutcome { id: 7, result: Ok(11) })]
        );
        q.applied(6, 'b', 8);
        q.forget('a');
        assert_eq!(q.committed(9, 12), vec![('b', EditOutcome { id: 8, result: Ok(12) })]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_forgotten_session_answers_old_intents_and_takes_new_ones() {
        let mut ledger = EditLedger::after(4, 9);
        assert_eq!(ledger.highest(), Some(9));
        for id in [1, 9] {
            assert_eq!(ledger.intake(id), Intake::Answered(EditOutcome { id, result: Err(Rejection::Forgotten) }));
        }
        assert_eq!(ledger.intake(10), Intake::New);
        assert_eq!(ledger.intake(10), Intake::InFlight);
        assert_eq!(EditLedger::new(4).highest(), None);
    }
}
