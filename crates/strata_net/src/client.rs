//! Engine-free bookkeeping of a client: the edits it asked for and has no answer to yet.

use crate::message::{ClientEdit, EditIntent, EditOutcome, Rejection};
use std::collections::BTreeMap;

/// How an edit ended ([`PendingEdits::settle`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Settled {
    /// Durable on the server (the commit's sequence number): the local prediction stands.
    Accepted {
        /// The intent's id.
        id: u32,
        /// The edit.
        edit: ClientEdit,
        /// The commit that made it durable.
        sequence: u64,
    },
    /// Refused: undo the local prediction (the server's chunks are the truth), tell the player.
    Rejected {
        /// The intent's id.
        id: u32,
        /// The edit.
        edit: ClientEdit,
        /// Why.
        reason: Rejection,
    },
}

/// The edits a client sent and has no outcome for, in the order sent.
///
/// Nothing a player did is lost silently: on a reconnect [`PendingEdits::resend`] gives every
/// pending intent again, with its id (the server answers those it already settled instead of
/// applying them twice, see [`EditLedger`](crate::server::EditLedger)); a client that gives up
/// takes them back with [`PendingEdits::abandon`] to report them.
#[derive(Clone, Debug, Default)]
pub struct PendingEdits {
    next_id: u32,
    pending: BTreeMap<u32, ClientEdit>,
}

impl PendingEdits {
    /// No edit pending; ids start at 1.
    pub fn new() -> Self {
        Self { next_id: 1, pending: BTreeMap::new() }
    }

    /// Numbers `edit` and keeps it until its outcome: the intent to send. Ids increase; a
    /// client starts a new session (a new [`Hello::session`](crate::Hello::session)) long before
    /// 2³² intents. O(log n).
    pub fn submit(&mut self, edit: ClientEdit) -> EditIntent {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.pending.insert(id, edit.clone());
        EditIntent { id, edit }
    }

    /// The edit an outcome settles (`None` for an id not pending: already settled, or never
    /// sent). O(log n).
    pub fn settle(&mut self, outcome: &EditOutcome) -> Option<Settled> {
        let edit = self.pending.remove(&outcome.id)?;
        Some(match &outcome.result {
            Ok(sequence) => Settled::Accepted { id: outcome.id, edit, sequence: *sequence },
            Err(reason) => Settled::Rejected { id: outcome.id, edit, reason: reason.clone() },
        })
    }

    /// Every pending intent, in the order sent: what to send again after a reconnect.
    pub fn resend(&self) -> Vec<EditIntent> {
        self.pending.iter().map(|(id, edit)| EditIntent { id: *id, edit: edit.clone() }).collect()
    }

    /// Takes every pending intent back (the client gives up on the server): report them as
    /// lost.
    pub fn abandon(&mut self) -> Vec<EditIntent> {
        let out = self.resend();
        self.pending.clear();
        out
    }

    /// Intents pending.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::{MaterialId, VoxelPos};

    fn set(x: i32) -> ClientEdit {
        ClientEdit::Set(VoxelPos::new(x, 0, 0), MaterialId(1))
    }

    #[test]
    fn outcomes_settle_their_own_edit_once_in_any_order() {
        let mut p = PendingEdits::new();
        let a = p.submit(set(1));
        let b = p.submit(set(2));
        let c = p.submit(set(3));
        assert_eq!((a.id, b.id, c.id), (1, 2, 3));
        let rejected = EditOutcome { id: 2, result: Err(Rejection::OutOfReach) };
        assert_eq!(p.settle(&rejected), Some(Settled::Rejected { id: 2, edit: set(2), reason: Rejection::OutOfReach }));
        assert_eq!(p.settle(&rejected), None, "an answer sent again settles nothing");
        assert_eq!(p.settle(&EditOutcome { id: 9, result: Ok(1) }), None);
        assert_eq!(p.resend(), vec![a.clone(), c.clone()]);
        assert_eq!(
            p.settle(&EditOutcome { id: 3, result: Ok(5) }),
            Some(Settled::Accepted { id: 3, edit: set(3), sequence: 5 })
        );
        assert_eq!(p.abandon(), vec![a]);
        assert!(p.is_empty());
    }
}
