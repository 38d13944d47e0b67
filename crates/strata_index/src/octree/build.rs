//! Full rebuilds: the whole octree built bottom-up from known chunks, on several threads.
//!
//! # Steps
//! 1. **Order** ([`morton_order`]): every chunk gets the key (root, Morton index inside the
//!    root); a stable LSD radix sort on it makes every node a contiguous run of chunks, children
//!    in order. Duplicate keys keep the first occurrence in the input.
//! 2. **Plan**: the nodes at [`TASK_LEVEL`] that hold chunks become *build tasks* (≤ 512
//!    chunks each); empty nodes above that level become *stub tasks* (one generator sample each).
//! 3. **Work**: the calling thread and `workers − 1` scoped threads pull tasks from a shared
//!    queue (stubs first: they are the most expensive) until it is empty, so a thread slowed by
//!    other load simply takes fewer tasks. A build task computes the leaves' histograms, its
//!    inner nodes (histogram merges) and its stubs, and calls the leaf visitor on each leaf in
//!    Morton order. Uniform chunks cost O(1) and share leaves (one per thread, material and
//!    version), and an inner node over eight times the same node is shared too: a uniform
//!    region is one chain of shared nodes.
//! 4. **Assemble**: the few nodes above the tasks (roots and levels down to [`TASK_LEVEL`] + 1)
//!    are built from the tasks' nodes; the visitor outputs are concatenated in task order, so
//!    the result does not depend on scheduling (only which of several equal uniform chunks a
//!    shared leaf holds does).

use super::node::{Node, NodeId, ROOT_LEVEL};
use super::tree::Octree;
use crate::summary::Histogram;
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use strata_core::{CHUNK_VOLUME, Chunk, ChunkKey, MaterialId, WorldGenerator};

/// One chunk for [`Octree::build`].
pub(crate) struct BuildEntry {
    pub key: ChunkKey,
    pub chunk: Arc<Chunk>,
    pub version: u64,
}

/// The level of build tasks: 2³ = 8 chunks per side, up to 512 chunks each, so a 32³-chunk
/// rebuild is 64 tasks: fine enough to balance two threads, coarse enough that the nodes
/// assembled serially above the tasks are few.
const TASK_LEVEL: u32 = 3;
const _: () = assert!(TASK_LEVEL < ROOT_LEVEL);

/// Bits of the Morton index of a chunk inside its root.
const LOCAL_BITS: u32 = 3 * ROOT_LEVEL;

enum Task {
    /// A node with no known chunk below: a generator sample.
    Stub(NodeId),
    /// A node at [`TASK_LEVEL`] over its chunks (Morton order, at least one).
    Build(NodeId, Vec<BuildEntry>),
}

impl Octree {
    /// Builds the whole tree from known chunks (a full rebuild) with up to `workers` threads
    /// (the calling thread is one of them), and returns it with `visit`'s outputs for every
    /// leaf, in Morton order inside each root and roots in Morton order. Duplicate keys keep
    /// the first occurrence in `entries`. See the module docs for the steps.
    ///
    /// LOD grids are not computed here: readers compute them on first use (see the module docs
    /// of [`octree`](super)).
    ///
    /// # Runtime
    /// O(dense chunks × 32³) (their histograms) + O(nodes) (histogram merges) + O(stubs × 32³)
    /// (generator samples), divided by the workers, plus O(chunks) serial work to sort (radix
    /// sort) and distribute the chunks; uniform chunks cost O(1).
    pub fn build<T: Send>(
        entries: Vec<BuildEntry>,
        generator: &dyn WorldGenerator,
        workers: usize,
        visit: impl Fn(ChunkKey, &Node) -> Option<T> + Sync,
    ) -> (Self, Vec<T>) {
        let (roots, tasks) = plan(entries);
        let task_count = tasks.len();
        let queue = Mutex::new(tasks.into_iter().enumerate());
        let work = || {
            let mut worker =
                Worker { generator, visit: &visit, uniform: FxHashMap::default(), repeated: FxHashMap::default() };
            let mut done = Vec::new();
            loop {
                // A panic while holding the lock cannot leave the iterator half-updated.
                let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                let Some((i, task)) = next else { break };
                let mut out = Vec::new();
                let (id, node) = match task {
                    Task::Stub(id) => (id, Arc::new(Node::generated(id, generator))),
                    Task::Build(id, entries) => (id, worker.node(id, &mut entries.into_iter().peekable(), &mut out)),
                };
                done.push((i, id, node, out));
            }
            done
        };
        let workers = workers.clamp(1, task_count.max(1));
        let parts: Vec<_> = std::thread::scope(|s| {
            let helpers: Vec<_> = (1..workers).map(|_| s.spawn(work)).collect();
            let mut parts = vec![work()];
            // A panicking builder is a bug; re-raise it on this thread.
            parts.extend(helpers.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))));
            parts
        });
        let mut nodes: FxHashMap<NodeId, Arc<Node>> = FxHashMap::default();
        nodes.reserve(task_count);
        let mut outs: Vec<Vec<T>> = std::iter::repeat_with(Vec::new).take(task_count).collect();
        for (i, id, node, out) in parts.into_iter().flatten() {
            nodes.insert(id, node);
            outs[i] = out;
        }
        let mut tree = HashMap::with_capacity(roots.len());
        for root in roots {
            tree.insert(root, assemble(NodeId::new(ROOT_LEVEL, root), &mut nodes));
        }
        (Self { roots: Arc::new(tree) }, outs.into_iter().flatten().collect())
    }
}

/// Sorts and deduplicates `entries` (step 1) and cuts them into tasks (step 2). Returns the
/// root keys (Morton order) and the tasks, stubs first.
fn plan(entries: Vec<BuildEntry>) -> (Vec<ChunkKey>, Vec<Task>) {
    let (roots, order) = morton_order(&entries);
    let mut slots: Vec<Option<BuildEntry>> = entries.into_iter().map(Some).collect();
    let mut stubs = Vec::new();
    let mut builds = Vec::new();
    let mut at = 0;
    for (r, root) in roots.iter().enumerate() {
        let end = at + order[at..].iter().take_while(|o| (o.0 >> LOCAL_BITS) as usize == r).count();
        split_tasks(NodeId::new(ROOT_LEVEL, *root), &order[at..end], &mut slots, &mut stubs, &mut builds);
        at = end;
    }
    stubs.append(&mut builds);
    (roots, stubs)
}

/// Cuts the node `id` over `order` (its chunks, sorted, non-empty) into tasks.
fn split_tasks(
    id: NodeId,
    order: &[(u64, u32)],
    slots: &mut [Option<BuildEntry>],
    stubs: &mut Vec<Task>,
    builds: &mut Vec<Task>,
) {
    if id.level == TASK_LEVEL {
        let mut entries = Vec::with_capacity(order.len());
        let mut last = None;
        for &(key, index) in order {
            // Equal keys are adjacent, in input order: keep the first.
            if last != Some(key) {
                // Invariant: every index occurs once in `order`.
                entries.extend(slots[index as usize].take());
                last = Some(key);
            }
        }
        builds.push(Task::Build(id, entries));
        return;
    }
    // The child index at this level is 3 bits of the local Morton index.
    let shift = 3 * (id.level - 1);
    let mut rest = order;
    for i in 0..8 {
        let n = rest.iter().take_while(|o| ((o.0 >> shift) & 7) as usize == i).count();
        let (mine, r) = rest.split_at(n);
        rest = r;
        if mine.is_empty() {
            stubs.push(Task::Stub(id.child(i)));
        } else {
            split_tasks(id.child(i), mine, slots, stubs, builds);
        }
    }
}

/// The nodes from `id` down to the tasks' nodes, which are taken from `nodes`.
fn assemble(id: NodeId, nodes: &mut FxHashMap<NodeId, Arc<Node>>) -> Arc<Node> {
    if let Some(n) = nodes.remove(&id) {
        return n;
    }
    // Invariant: `split_tasks` made a task for every node at `TASK_LEVEL` under a root that
    // holds chunks and for every empty node above, so only nodes above `TASK_LEVEL` get here.
    assert!(id.level > TASK_LEVEL, "no task built {id:?}");
    let children: [Arc<Node>; 8] = std::array::from_fn(|i| assemble(id.child(i), nodes));
    Arc::new(Node::inner(id.level, children))
}

/// One thread's builder: the generator, the leaf visitor, and the uniform leaves made so far.
struct Worker<'a, V> {
    generator: &'a dyn WorldGenerator,
    visit: &'a V,
    /// Uniform leaves by material and version. Nodes hold nothing that depends on their
    /// position, so equal uniform chunks share one leaf (and its chunk): most chunks of a world
    /// are uniform (air, rock), and each then costs neither an allocation now nor a free when
    /// the tree is dropped.
    uniform: FxHashMap<(MaterialId, u64), Arc<Node>>,
    /// Inner nodes whose eight children are one and the same node, by that child, so a
    /// uniform region becomes one chain of shared nodes. The key is only compared, never
    /// dereferenced; the node it points to lives as long as the entry (the value holds it).
    repeated: FxHashMap<*const Node, Arc<Node>>,
}

impl<V: Fn(ChunkKey, &Node) -> Option<T>, T> Worker<'_, V> {
    /// Builds the node `id` from the entries `it` yields while they lie inside it (Morton
    /// order, at least one), calling the visitor on each leaf.
    fn node<I: Iterator<Item = BuildEntry>>(
        &mut self,
        id: NodeId,
        it: &mut std::iter::Peekable<I>,
        out: &mut Vec<T>,
    ) -> Arc<Node> {
        if id.level == 0 {
            // Invariant: the caller only descends into a child holding the next entry.
            let Some(e) = it.next() else { unreachable!("a leaf task without its chunk") };
            let leaf = self.leaf(e.chunk, e.version);
            out.extend((self.visit)(e.key, &leaf));
            return leaf;
        }
        let children: [Arc<Node>; 8] = std::array::from_fn(|i| {
            let cid = id.child(i);
            if it.peek().is_some_and(|e| cid.contains(e.key)) {
                self.node(cid, it, out)
            } else {
                Arc::new(Node::generated(cid, self.generator))
            }
        });
        if children[1..].iter().all(|c| Arc::ptr_eq(c, &children[0])) {
            let key = Arc::as_ptr(&children[0]);
            return self.repeated.entry(key).or_insert_with(|| Arc::new(Node::inner(id.level, children))).clone();
        }
        Arc::new(Node::inner(id.level, children))
    }

    /// The leaf of one known chunk: the shared one for a uniform chunk (O(1)), a new one with
    /// its histogram (O(32³)) for a dense chunk.
    fn leaf(&mut self, chunk: Arc<Chunk>, version: u64) -> Arc<Node> {
        let Some(m) = chunk.as_uniform() else {
            let hist = Histogram::of_chunk(&chunk, 1);
            return Arc::new(Node::leaf(chunk, hist, version));
        };
        let hist = || Histogram::uniform(m, CHUNK_VOLUME as u64);
        self.uniform.entry((m, version)).or_insert_with(|| Arc::new(Node::leaf(chunk, hist(), version))).clone()
    }
}

/// Spreads the low 5 bits of `v` to every third bit (bits 0, 3, 6, 9, 12).
fn spread5(v: i32) -> u64 {
    let v = (v & 31) as u64;
    let v = (v | (v << 8)) & 0x100f;
    let v = (v | (v << 4)) & 0x10c3;
    (v | (v << 2)) & 0x1249
}

/// The order of a full rebuild: the distinct root keys in Morton order, and for every entry
/// `(root index << LOCAL_BITS | Morton index inside the root, entry index)`, sorted by key and,
/// for equal keys, by entry index.
///
/// # Runtime
/// O(n) (plus O(roots log roots)): a stable LSD radix sort, 8 bits per pass, over only the
/// bits the keys use (two passes for up to 2 roots).
fn morton_order(entries: &[BuildEntry]) -> (Vec<ChunkKey>, Vec<(u64, u32)>) {
    let root_of = |k: ChunkKey| NodeId::containing(k, ROOT_LEVEL).key;
    let mut roots: Vec<ChunkKey> = Vec::new();
    let mut last: Option<ChunkKey> = None;
    let mut index: FxHashMap<ChunkKey, u64> = FxHashMap::default();
    for e in entries {
        let r = root_of(e.key);
        // Neighbouring entries usually share a root: skip the map then.
        if last != Some(r) {
            index.entry(r).or_insert_with(|| {
                roots.push(r);
                0
            });
            last = Some(r);
        }
    }
    roots.sort_unstable_by_key(|r| r.morton());
    for (i, r) in roots.iter().enumerate() {
        index.insert(*r, i as u64);
    }
    let mut last: Option<(ChunkKey, u64)> = None;
    let mut order: Vec<(u64, u32)> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let r = root_of(e.key);
            let ri = match last {
                Some((k, ri)) if k == r => ri,
                // Invariant: every root was indexed above.
                _ => index[&r],
            };
            last = Some((r, ri));
            let local = spread5(e.key.x) | (spread5(e.key.y) << 1) | (spread5(e.key.z) << 2);
            ((ri << LOCAL_BITS) | local, i as u32)
        })
        .collect();
    let key_bits = LOCAL_BITS + (u64::BITS - (roots.len().max(1) as u64 - 1).leading_zeros());
    radix_sort(&mut order, key_bits);
    (roots, order)
}

/// Stable LSD radix sort of `items` by their key's low `key_bits` bits (higher bits are zero).
fn radix_sort(items: &mut Vec<(u64, u32)>, key_bits: u32) {
    let mut buf = vec![(0, 0); items.len()];
    for shift in (0..key_bits).step_by(8) {
        let digit = |k: u64| ((k >> shift) & 0xff) as usize;
        let mut at = [0usize; 256];
        for it in items.iter() {
            at[digit(it.0)] += 1;
        }
        if at.contains(&items.len()) {
            continue; // One digit value: this pass would not move anything.
        }
        let mut sum = 0;
        for a in &mut at {
            (*a, sum) = (sum, sum + *a);
        }
        for it in items.iter() {
            let d = &mut at[digit(it.0)];
            buf[*d] = *it;
            *d += 1;
        }
        std::mem::swap(items, &mut buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The radix order equals a plain sort by (root Morton key, chunk Morton key, index).
        #[test]
        fn morton_order_equals_a_comparison_sort(
            keys in proptest::collection::vec((-70i32..70, -70i32..70, -70i32..70), 0..300),
        ) {
            let entries: Vec<BuildEntry> = keys
                .iter()
                .map(|&(x, y, z)| BuildEntry { key: ChunkKey::new(x, y, z), chunk: Arc::new(Chunk::default()), version: 0 })
                .collect();
            let (roots, order) = morton_order(&entries);
            let got: Vec<u32> = order.iter().map(|o| o.1).collect();
            let mut want: Vec<u32> = (0..entries.len() as u32).collect();
            want.sort_by_key(|&i| {
                let k = entries[i as usize].key;
                (NodeId::containing(k, ROOT_LEVEL).key.morton(), k.morton(), i)
            });
            proptest::prop_assert_eq!(got, want);
            let mut want_roots: Vec<ChunkKey> = entries.iter().map(|e| NodeId::containing(e.key, ROOT_LEVEL).key).collect();
            want_roots.sort_by_key(|r| r.morton());
            want_roots.dedup();
            proptest::prop_assert_eq!(roots, want_roots);
        }
    }
}
