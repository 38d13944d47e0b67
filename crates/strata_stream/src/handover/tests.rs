use super::*;
use proptest::prelude::*;
use strata_core::ChunkKey;

fn node(level: u32, x: i32, y: i32, z: i32) -> NodeId {
    NodeId::new(level, ChunkKey::new(x, y, z))
}

fn children_of(n: NodeId) -> Vec<NodeId> {
    (0..8).map(|i| n.child(i)).collect()
}

fn sorted(mut v: Vec<NodeId>) -> Vec<NodeId> {
    v.sort_unstable();
    v
}

#[test]
fn a_split_keeps_the_parent_until_every_child_is_meshed() {
    let mut h = Handover::new();
    let parent = node(1, 0, 0, 0);
    let children = children_of(parent);
    let u = h.view_changed(&children, &[parent], &[parent]);
    assert_eq!(u.retire, vec![parent]);
    assert!(u.drop.is_empty());
    assert!(children.iter().all(|&c| h.is_held(c)));
    for &c in &children[..7] {
        let u = h.meshed(c);
        assert!(u.drop.is_empty() && u.reveal.is_empty(), "{c:?}: the parent still covers the rest");
        assert!(h.is_held(c), "a child's mesh stays hidden while its parent shows");
    }
    let u = h.meshed(children[7]);
    assert_eq!(u.drop, vec![parent]);
    assert_eq!(sorted(u.reveal), sorted(children.clone()), "all eight children appear in the frame the parent goes");
    assert_eq!(h.retired_count(), 0);
    assert!(children.iter().all(|&c| !h.is_held(c)));
}

#[test]
fn a_merge_keeps_the_children_until_the_parent_is_meshed() {
    let mut h = Handover::new();
    let parent = node(1, 0, 0, 0);
    let children = children_of(parent);
    // Two children have no mesh (still loading): nothing to keep for them.
    let u = h.view_changed(&[parent], &children, &children[2..]);
    let want = sorted(children[2..].to_vec());
    assert_eq!(sorted(u.retire), want);
    assert!(h.is_held(parent));
    let u = h.meshed(parent);
    assert_eq!(sorted(u.drop), want);
    assert_eq!(u.reveal, vec![parent]);
}

#[test]
fn a_node_leaving_the_view_goes_at_once() {
    let mut h = Handover::new();
    let a = node(0, 5, 0, 0);
    let u = h.view_changed(&[node(0, 9, 0, 0)], &[a], &[a]);
    assert_eq!(u.drop, vec![a]);
    assert!(u.retire.is_empty());
    assert_eq!(h.retired_count(), 0);
}

#[test]
fn a_replacement_that_leaves_before_its_mesh_passes_the_wait_on() {
    let mut h = Handover::new();
    let root = node(2, 0, 0, 0);
    let mid = children_of(root);
    h.view_changed(&mid, &[root], &[root]);
    // The first child splits again before any mesh arrived.
    let fine = children_of(mid[0]);
    let u = h.view_changed(&fine, &[mid[0]], &[]);
    assert!(u.drop.is_empty(), "the root still covers everything");
    for &n in mid[1..].iter().chain(&fine) {
        h.meshed(n);
    }
    assert_eq!(h.retired_count(), 0, "every node over the root is meshed");
}

#[test]
fn a_retired_node_selected_again_gets_its_display_back() {
    let mut h = Handover::new();
    let parent = node(1, 0, 0, 0);
    let children = children_of(parent);
    h.view_changed(&children, &[parent], &[parent]);
    h.meshed(children[0]);
    let u = h.view_changed(&[parent], &children, &children[..1]);
    assert_eq!(u.restore, vec![parent]);
    assert!(u.retire.is_empty(), "a held child's mesh was never on screen");
    assert!(u.reveal.is_empty(), "the children left");
    assert_eq!(h.retired_count(), 0);
    assert!(!h.is_held(parent));
}

#[test]
fn a_display_waiting_through_repeated_splits_and_merges_links_each_node_once() {
    // The parent's display waits for its children; one child keeps splitting and merging
    // again before any mesh arrives. Each time, the nodes replacing it are inside both the
    // child that left (whose wait they inherit) and the parent's display: linked twice, the
    // lists doubled with every change (34 million links after 47 changes in a seed the CI
    // met, which ran out of memory).
    let mut h = Handover::new();
    let parent = node(2, 0, 0, 0);
    let children = children_of(parent);
    h.view_changed(&children, &[parent], &[parent]);
    let grandchildren = children_of(children[0]);
    for round in 0..12 {
        h.view_changed(&grandchildren, &children[..1], &[]);
        for &g in &grandchildren {
            assert_eq!(h.held[&g], vec![parent], "round {round}: {g:?}");
        }
        h.view_changed(&children[..1], &grandchildren, &[]);
        assert_eq!(h.held[&children[0]], vec![parent], "round {round}");
    }
    for &c in &children {
        h.meshed(c);
    }
    assert_eq!(h.retired_count(), 0, "every node over the parent is meshed");
    assert!(h.held.is_empty());
}

// --- Property test against a brute-force model of what is on screen ---------------------

const ROOT_LEVEL_HERE: u32 = 3;

/// A random selection under the level-3 root: each node is left out (beyond the view), shown,
/// or split, by the next random numbers.
fn selection(rng: &mut strata_core::rng::SplitMix64, n: NodeId, out: &mut Vec<NodeId>) {
    let r = rng.below(100);
    if r < 6 {
        return;
    }
    if n.level > 0 && r < 6 + 30 + 10 * n.level as u64 {
        for i in 0..8 {
            selection(rng, n.child(i), out);
        }
        return;
    }
    out.push(n);
}

/// Level-0 chunks of a node.
fn chunks_of(n: NodeId) -> Vec<ChunkKey> {
    let (lo, hi) = n.chunk_range();
    let mut v = Vec::new();
    for x in lo[0]..=hi[0] {
        for y in lo[1]..=hi[1] {
            for z in lo[2]..=hi[2] {
                v.push(ChunkKey::new(x as i32, y as i32, z as i32));
            }
        }
    }
    v
}

/// What an engine holds: per selected node whether the plan counts it meshed and whether
/// it has an entity (and if that is visible); retired entities (always visible).
#[derive(Default)]
struct Screen {
    selected: FxHashSet<NodeId>,
    meshed: FxHashSet<NodeId>,
    entity_visible: FxHashMap<NodeId, bool>,
    retired: FxHashSet<NodeId>,
}

impl Screen {
    fn visible(&self) -> Vec<NodeId> {
        let own = self.entity_visible.iter().filter(|e| *e.1).map(|e| *e.0);
        own.chain(self.retired.iter().copied()).collect()
    }

    fn covered(&self) -> FxHashSet<ChunkKey> {
        self.visible().into_iter().flat_map(chunks_of).collect()
    }

    fn apply(&mut self, u: &HandoverUpdate) {
        for r in &u.drop {
            self.retired.remove(r);
        }
        for r in &u.restore {
            assert!(self.retired.remove(r), "restored {r:?}, which was not retired");
            self.entity_visible.insert(*r, true);
        }
        for n in &u.reveal {
            assert!(self.selected.contains(n), "revealed {n:?}, which is not selected");
            if let Some(v) = self.entity_visible.get_mut(n) {
                *v = true;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    /// Random selection changes and mesh arrivals: visible displays never overlap, an area on
    /// screen stays covered while it is selected, and a retired display lasts exactly as long
    /// as some selected node over it has no mesh.
    #[test]
    fn the_screen_never_opens_a_hole_nor_shows_two_levels(seed in any::<u64>(), steps in 1usize..64) {
        screen_run(seed, steps)?;
    }
}

fn screen_run(seed: u64, steps: usize) -> Result<(), TestCaseError> {
    let mut rng = strata_core::rng::SplitMix64(seed);
    let root = node(ROOT_LEVEL_HERE, 0, 0, 0);
    let mut h = Handover::new();
    let mut screen = Screen::default();
    for _ in 0..steps {
        let before = screen.covered();
        if rng.below(3) == 0 {
            // A new selection.
            let mut sel = Vec::new();
            selection(&mut rng, root, &mut sel);
            let new: FxHashSet<NodeId> = sel.into_iter().collect();
            let mut shown: Vec<NodeId> = new.difference(&screen.selected).copied().collect();
            let mut hidden: Vec<NodeId> = screen.selected.difference(&new).copied().collect();
            shown.sort_unstable();
            hidden.sort_unstable();
            let meshed: Vec<NodeId> =
                hidden.iter().copied().filter(|n| screen.entity_visible.contains_key(n)).collect();
            let u = h.view_changed(&shown, &hidden, &meshed);
            for n in &hidden {
                let visible = screen.entity_visible.remove(n);
                screen.meshed.remove(n);
                if u.retire.contains(n) {
                    prop_assert_eq!(visible, Some(true), "retired {:?}, which was not on screen", n);
                    screen.retired.insert(*n);
                }
            }
            for n in &u.drop {
                prop_assert!(screen.retired.contains(n) || hidden.contains(n), "dropped {:?}", n);
            }
            screen.selected = new;
            screen.apply(&u);
            // Selected, still-covered chunks stay covered.
            let after = screen.covered();
            for n in &screen.selected {
                for c in chunks_of(*n) {
                    prop_assert!(
                        !before.contains(&c) || after.contains(&c),
                        "hole at {:?} in {:?} after a change",
                        c,
                        n
                    );
                }
            }
        } else {
            // A mesh arrives for some selected node without one.
            let mut waiting: Vec<NodeId> = screen.selected.difference(&screen.meshed).copied().collect();
            if waiting.is_empty() {
                continue;
            }
            waiting.sort_unstable();
            let n = waiting[rng.below(waiting.len() as u64) as usize];
            screen.meshed.insert(n);
            let u = h.meshed(n);
            screen.entity_visible.insert(n, false);
            screen.apply(&u);
            let visible = !h.is_held(n);
            screen.entity_visible.insert(n, visible);
            let after = screen.covered();
            let selected: FxHashSet<ChunkKey> = screen.selected.iter().flat_map(|s| chunks_of(*s)).collect();
            for c in before {
                prop_assert!(!selected.contains(&c) || after.contains(&c), "hole at {:?} after meshing {:?}", c, n);
            }
        }
        // The bookkeeping agrees with itself and stays bounded: each held node lists every
        // retired display over it once, and each retired display names the nodes it holds.
        check_links(&h)?;
        // No two visible displays overlap (each chunk under at most one).
        let mut under: FxHashMap<ChunkKey, NodeId> = FxHashMap::default();
        for v in screen.visible() {
            for c in chunks_of(v) {
                if let Some(other) = under.insert(c, v) {
                    prop_assert!(false, "{:?} and {:?} both on screen", other, v);
                }
            }
        }
        // A retired display lasts while, and only while, a selected node over it has no
        // mesh (selected nodes tile: look each chunk's node up).
        let mut selected_at: FxHashMap<ChunkKey, NodeId> = FxHashMap::default();
        for n in &screen.selected {
            for c in chunks_of(*n) {
                selected_at.insert(c, *n);
            }
        }
        for r in &screen.retired {
            let pending = chunks_of(*r).iter().any(|c| selected_at.get(c).is_some_and(|s| !screen.meshed.contains(s)));
            prop_assert!(pending, "{:?} is kept although everything over it is meshed", r);
            prop_assert!(h.is_retired(*r));
        }
        prop_assert_eq!(h.retired_count(), screen.retired.len());
        // A selected node with a mesh and no retired display over it is visible.
        let retired_chunks: FxHashSet<ChunkKey> = screen.retired.iter().flat_map(|r| chunks_of(*r)).collect();
        for (n, visible) in &screen.entity_visible {
            let covered_by_retired = chunks_of(*n).iter().any(|c| retired_chunks.contains(c));
            prop_assert_eq!(*visible, !covered_by_retired, "{:?}", n);
            prop_assert_eq!(h.is_held(*n), covered_by_retired, "{:?}", n);
        }
    }
    Ok(())
}

/// `held` and the retired displays' `over` sets name the same links, each once: a held node
/// lists only retired displays that overlap it, so a list is at most as long as the retired
/// displays (duplicates would be inherited by every replacement and multiply with each change).
fn check_links(h: &Handover) -> Result<(), TestCaseError> {
    let mut links = 0;
    for (node, over) in &h.held {
        prop_assert!(!over.is_empty(), "{:?} is held by nothing", node);
        let distinct: FxHashSet<NodeId> = over.iter().copied().collect();
        prop_assert_eq!(distinct.len(), over.len(), "{:?} lists a retired display twice: {:?}", node, over);
        for r in over {
            let ret = h.retired.get(r);
            prop_assert!(
                ret.is_some_and(|ret| ret.over.contains(node)),
                "{:?} lists {:?}, which does not hold it",
                node,
                r
            );
            prop_assert!(overlap(*r, *node), "{:?} lists {:?}, which does not cover it", node, r);
        }
        links += over.len();
    }
    let back: usize = h.retired.values().map(|r| r.over.len()).sum();
    prop_assert_eq!(links, back, "held lists and retired displays disagree");
    Ok(())
}
