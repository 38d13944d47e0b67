//! LOD hand-over: which meshes stay on screen while the nodes replacing them are meshed, so a
//! change of level never opens a hole.
//!
//! When the [`LodSelector`](crate::lod_select::LodSelector) replaces a node by its children
//! (the viewer came closer) or children by their parent (it went away), the new nodes have no
//! mesh yet: without a hand-over the area is empty until their meshes arrive, which on a fast
//! flight is a large part of the view. [`Handover`] keeps the old display instead:
//!
//! - A node that leaves the selection while **displayed** (its mesh visible) is **retired**
//!   if new nodes overlap it: its display stays until every one of them has its first mesh,
//!   then goes ([`HandoverUpdate::drop`]). With no new node over it (it left the view), it
//!   goes at once.
//! - A selected node whose area a retired display still covers is **held**: its own mesh, when
//!   it arrives, stays hidden until every retired display over it has gone, then is revealed
//!   ([`HandoverUpdate::reveal`]). So two levels never show the same place at once (no
//!   z-fighting, no double surfaces), and a split or a merge swaps in one frame.
//! - A new node that leaves again before its mesh arrived passes its share of the wait on to
//!   the nodes that replace it, so a retired display stays until its area is covered again
//!   however often the selection changes meanwhile; a retired node selected again gets its
//!   display back ([`HandoverUpdate::restore`]).
//!
//! Selected nodes tile the view with no overlap, so the new nodes over a retired node are
//! exactly its selected descendants or its selected ancestor, all added in the same change.
//!
//! # Invariants (checked by the property test against a brute-force model)
//! - Visible displays (held nodes' meshes excluded, retired displays included) never overlap.
//! - Every part of a selected node that was displayed before the change stays covered by a
//!   visible display until new meshes cover it.
//! - A retired display goes as soon as every selected node over it has a mesh: nothing is kept
//!   longer than the selection needs, so retired nodes are bounded by the selection's churn.
//! - A held node lists each retired display over it once, and exactly the displays that name
//!   it, so the bookkeeping stays within the links themselves however long a display waits
//!   through splits and merges below it.
//!
//! # Cost
//! A view change costs O((shown + hidden) × levels) hash lookups (ancestor walks), a first
//! mesh O(retired displays over the node + their replacements when they go).

use rustc_hash::{FxHashMap, FxHashSet};
use strata_core::ChunkKey;
use strata_index::NodeId;

/// A retired display and the selected nodes over it.
#[derive(Clone, Debug, Default)]
struct Retired {
    /// Selected nodes over it without a mesh yet: it goes when this is empty.
    waiting: FxHashSet<NodeId>,
    /// Every selected node over it (each held while it is displayed).
    over: FxHashSet<NodeId>,
}

/// What the engine does after a hand-over step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandoverUpdate {
    /// Retired nodes whose displays go now (despawn them). Includes nodes hidden in this
    /// change that nothing replaces.
    pub drop: Vec<NodeId>,
    /// Nodes hidden in this change whose displays stay (retired): keep them, apart from the
    /// selected nodes' displays.
    pub retire: Vec<NodeId>,
    /// Retired nodes selected again: their displays are theirs again (shown, to be remeshed).
    pub restore: Vec<NodeId>,
    /// Selected nodes no retired display covers any more: show their meshes (if they have
    /// one already; later meshes show at once).
    pub reveal: Vec<NodeId>,
}

/// The hand-over bookkeeping of one view (see the [module docs](self)).
#[derive(Clone, Debug, Default)]
pub struct Handover {
    retired: FxHashMap<NodeId, Retired>,
    /// Selected node → the retired displays over it (it is held while this is non-empty).
    held: FxHashMap<NodeId, Vec<NodeId>>,
    /// The highest level seen (ancestor walks stop there).
    max_level: u32,
}

impl Handover {
    /// An empty hand-over.
    pub fn new() -> Self {
        Self::default()
    }

    /// A change of the selection: `shown` joined it (no mesh yet), `hidden` left it, and
    /// `meshed` are those of `hidden` that had a mesh, on screen or held back (an empty mesh
    /// counts: nothing to draw is what the player saw there). Returns what to drop, retire,
    /// restore and reveal; nodes in neither list are left as they are.
    ///
    /// # Runtime
    /// O((shown + hidden) × levels) expected.
    pub fn view_changed(&mut self, shown: &[NodeId], hidden: &[NodeId], meshed: &[NodeId]) -> HandoverUpdate {
        let mut update = HandoverUpdate::default();
        for n in shown.iter().chain(hidden) {
            self.max_level = self.max_level.max(n.level);
        }
        let hidden_set: FxHashSet<NodeId> = hidden.iter().copied().collect();
        let visible: Vec<NodeId> = meshed.iter().copied().filter(|&h| !self.is_held(h)).collect();
        // Retired nodes selected again take their displays back; the nodes over them are
        // hidden in this same change (selected nodes do not overlap).
        for &s in shown {
            if let Some(r) = self.retired.remove(&s) {
                self.unlink(s, &r, &mut update);
                update.restore.push(s);
            }
        }
        // Areas the shown nodes must cover before retired displays go, with those displays:
        // held nodes leaving (their retired displays wait for their replacements instead)…
        let mut areas: FxHashMap<NodeId, Vec<NodeId>> = FxHashMap::default();
        for &h in hidden {
            if let Some(over) = self.held.remove(&h) {
                for r in &over {
                    if let Some(ret) = self.retired.get_mut(r) {
                        ret.waiting.remove(&h);
                        ret.over.remove(&h);
                    }
                }
                areas.insert(h, over);
            }
        }
        // …displays leaving the selection, and displays retired before (part of a retired
        // display may have been beyond the view then and be selected now).
        for h in visible {
            self.retired.insert(h, Retired::default());
        }
        for &r in self.retired.keys() {
            areas.entry(r).or_default().push(r);
        }
        // Restored nodes show their own display: nothing holds them.
        let restored: FxHashSet<NodeId> = update.restore.iter().copied().collect();
        let new: Vec<NodeId> = shown.iter().copied().filter(|s| !restored.contains(s)).collect();
        let shown_set: FxHashSet<NodeId> = new.iter().copied().collect();
        let mut links = Vec::new();
        for &s in &new {
            // Shown nodes inside an area (an ancestor of theirs is the area).
            let mut a = s;
            while a.level < self.max_level {
                a = a.parent();
                if areas.contains_key(&a) {
                    links.push((a, s));
                }
            }
        }
        for &h in areas.keys() {
            // Shown nodes over an area (an ancestor of the area is shown).
            let mut a = h;
            while a.level < self.max_level {
                a = a.parent();
                if shown_set.contains(&a) {
                    links.push((h, a));
                }
            }
        }
        for (area, node) in links {
            // An area inherited from a held node that left may hold several retired displays;
            // a node waits only for those it overlaps.
            for r in areas[&area].iter().filter(|&&r| overlap(r, node)) {
                if let Some(ret) = self.retired.get_mut(r) {
                    ret.waiting.insert(node);
                    ret.over.insert(node);
                    // A node inside several areas over the same display (a held node that
                    // left and the display itself) is linked once: duplicates would be
                    // inherited by every replacement and multiply with each change.
                    let list = self.held.entry(node).or_default();
                    if !list.contains(r) {
                        list.push(*r);
                    }
                }
            }
        }
        // Retired displays nothing new covers go now; the others stay.
        let mut candidates: Vec<NodeId> = areas.into_values().flatten().collect();
        candidates.sort_unstable();
        candidates.dedup();
        for r in candidates {
            let Some(ret) = self.retired.get(&r) else { continue };
            if ret.waiting.is_empty() {
                let ret = self.retired.remove(&r).unwrap_or_default();
                self.unlink(r, &ret, &mut update);
                update.drop.push(r);
            } else if hidden_set.contains(&r) {
                update.retire.push(r);
            }
        }
        // Nodes that left are not revealed.
        update.reveal.retain(|n| !hidden_set.contains(n));
        update
    }

    /// `node` (selected) has its first mesh (an empty one counts). Returns the retired
    /// displays that go now and the nodes that are revealed (`node` among them if no retired
    /// display covers it any more).
    ///
    /// # Runtime
    /// O(retired displays over `node` + the nodes over those that go).
    pub fn meshed(&mut self, node: NodeId) -> HandoverUpdate {
        let mut update = HandoverUpdate::default();
        let Some(over) = self.held.get(&node).cloned() else { return update };
        for r in over {
            let done = match self.retired.get_mut(&r) {
                Some(ret) => {
                    ret.waiting.remove(&node);
                    ret.waiting.is_empty()
                }
                None => false,
            };
            if done {
                let ret = self.retired.remove(&r).unwrap_or_default();
                self.unlink(r, &ret, &mut update);
                update.drop.push(r);
            }
        }
        update
    }

    /// Whether `node`'s own mesh must stay hidden: a retired display covers (part of) it.
    pub fn is_held(&self, node: NodeId) -> bool {
        self.held.contains_key(&node)
    }

    /// Whether `node` is retired (its display stays while its replacements are meshed).
    pub fn is_retired(&self, node: NodeId) -> bool {
        self.retired.contains_key(&node)
    }

    /// Retired displays.
    pub fn retired_count(&self) -> usize {
        self.retired.len()
    }

    /// Every retired node.
    pub fn retired_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.retired.keys().copied()
    }

    /// Forgets everything (the view was dropped as a whole).
    pub fn clear(&mut self) {
        self.retired.clear();
        self.held.clear();
    }

    /// Removes the retired display `r` from the nodes over it; those left uncovered are
    /// revealed.
    fn unlink(&mut self, r: NodeId, ret: &Retired, update: &mut HandoverUpdate) {
        for o in &ret.over {
            if let Some(list) = self.held.get_mut(o) {
                list.retain(|&x| x != r);
                if list.is_empty() {
                    self.held.remove(o);
                    update.reveal.push(*o);
                }
            }
        }
    }
}

/// Whether two octree nodes overlap (one holds the other). O(1).
fn overlap(a: NodeId, b: NodeId) -> bool {
    let (big, small) = if a.level >= b.level { (a, b) } else { (b, a) };
    let shift = (big.level - small.level).min(31);
    let k = small.key;
    ChunkKey::new(k.x >> shift, k.y >> shift, k.z >> shift) == big.key
}

#[cfg(test)]
mod tests;
