//! Full rebuilds: the whole octree built bottom-up from known chunks, on several threads.
//!
//! # Steps
//! 1. **Order** ([`morton_order`]): every chunk gets the key (root, Morton index inside the
//!    root); a stable LSD radix sort on it makes every node a contiguous run of chunks, children
//!    in order. Duplicate keys keep the first occurrence in the input.
//! 2. **Plan**: the nodes at [`TASK_LEVEL`] that hold chunks become *build tasks* (≤ 512
//!    chunks each); empty nodes above that level become *stubs* (one generator sample each).
//! 3. **Leaves** (first pass): the calling thread and `workers − 1` scoped threads pull tasks
//!    from one queue until it is empty, so a thread slowed by other load simply takes fewer.
//!    The first task is the caller's `beside` on what is known of every chunk before its leaf
//!    (its key, and its material if uniform: the writer bulk-loads the R-tree's shape from it,
//!    the longest single piece of work); the others are the build tasks. A build task makes
//!    its leaves (a dense chunk's histogram, and for an edited one its chunk cell from the same
//!    read of the voxels, is most of the work) and calls the caller's visitor on each. Uniform
//!    chunks cost O(1) and share leaves: one per thread, material and version.
//! 4. **Inner nodes** (second pass, same queue scheme): the caller's `finish` on `beside`'s
//!    result and all visitor outputs (the writer fills the R-tree's entries in) runs as the
//!    first task, while the other threads sample the stubs and build each task's inner nodes
//!    (histogram merges). An inner node over eight times the same node is shared too: a
//!    uniform region is one chain of shared nodes.
//! 5. **Assemble**: the few nodes above the tasks (roots and levels down to [`TASK_LEVEL`] + 1)
//!    are built from the tasks' nodes. Visitor outputs reach `finish` in task order, so the
//!    result does not depend on scheduling (only which of several equal uniform chunks a
//!    shared leaf holds does).

use super::node::{Node, NodeId, ROOT_LEVEL};
use super::order::{LOCAL_BITS, morton_order};
use super::tree::Octree;
use crate::summary::Histogram;
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use strata_core::{CHUNK_VOLUME, Chunk, ChunkKey, MaterialId, ProcessHistory, Up, WorldGenerator};

/// One chunk for [`Octree::build`].
pub(crate) struct BuildEntry {
    pub key: ChunkKey,
    pub chunk: Arc<Chunk>,
    pub version: u64,
    pub history: ProcessHistory,
    /// May differ from the generator's chunk (see `Node::edited`).
    pub edited: bool,
}

/// The level of build tasks: 2³ = 8 chunks per side, up to 512 chunks each, so a 32³-chunk
/// rebuild is 64 tasks: fine enough to balance two threads, coarse enough that the nodes
/// assembled serially above the tasks are few.
const TASK_LEVEL: u32 = 3;
const _: () = assert!(TASK_LEVEL < ROOT_LEVEL);

/// A chunk's leaf, with its key.
type Leaf = (ChunkKey, Arc<Node>);

/// A build task: the node at [`TASK_LEVEL`] and its chunks (Morton order, at least one).
type BuildTask = (NodeId, Vec<BuildEntry>);

/// Work of the first pass (see the module docs).
enum First {
    /// Run the caller's `beside`.
    Beside,
    /// Make the leaves of a build task.
    Leaves(BuildTask),
}

/// What a task of the first pass made: `beside`'s result, or a task's node, leaves and visitor
/// outputs.
enum Visited<B, T> {
    Beside(B),
    Leaves(NodeId, Vec<Leaf>, Vec<T>),
}

/// What [`Octree::build`] tells its `beside` of each chunk before its leaf is made: its key,
/// and its material if it is uniform (`None`: dense).
pub(crate) type Known = (ChunkKey, Option<MaterialId>);

/// Work of the second pass (see the module docs).
enum Second {
    /// Run the caller's `finish` on the leaf outputs.
    Finish,
    /// A node with no known chunk below: a generator sample.
    Stub(NodeId),
    /// The node at [`TASK_LEVEL`] over these leaves (Morton order, at least one).
    Inner(NodeId, Vec<Leaf>),
}

/// What a task of the second pass made.
enum Made<R> {
    Finished(R),
    Node(NodeId, Arc<Node>),
}

impl Octree {
    /// Builds the whole tree from known chunks (a full rebuild) with up to `workers` threads
    /// (the calling thread is one of them). `beside` gets every chunk's [`Known`] (duplicates
    /// dropped, in the order below) and runs while the other threads make the leaves. `visit` is
    /// called on every leaf with its chunk cell
    /// ([`chunk_cell_of`](strata_core::downsample::chunk_cell_of) with the generator's up; for
    /// edited leaves only, made in the same read of the voxels as the histogram); `finish` gets
    /// `beside`'s result and the visitor's outputs, one per chunk in the same order as
    /// `beside`'s list (Morton order inside each root, roots in Morton order), and runs while
    /// the other threads build the inner nodes. Duplicate keys keep the first occurrence in
    /// `entries`. See the module docs for the steps.
    ///
    /// LOD grids are not computed here: readers compute them on first use (see the module docs
    /// of [`octree`](super)).
    ///
    /// # Runtime
    /// O(dense chunks × 32³) (their histograms) + O(nodes) (histogram merges) + O(stubs × 32³)
    /// (generator samples), divided by the workers, plus O(chunks) serial work to sort (radix
    /// sort) and distribute the chunks; uniform chunks cost O(1).
    pub fn build<B: Send, T: Send, R: Send>(
        entries: Vec<BuildEntry>,
        generator: &dyn WorldGenerator,
        workers: usize,
        beside: impl FnOnce(&[Known]) -> B + Send,
        visit: impl Fn(ChunkKey, &Node, Option<MaterialId>) -> T + Sync,
        finish: impl FnOnce(B, Vec<T>) -> R + Send,
    ) -> (Self, R) {
        let (roots, stubs, builds) = plan(entries);
        let world_up = generator.world_up();
        let known: Vec<Known> =
            builds.iter().flat_map(|(_, entries)| entries.iter().map(|e| (e.key, e.chunk.as_uniform()))).collect();
        // First pass: `beside` first (the longest task), then the leaves and what `visit` makes
        // of them.
        let mut first = vec![First::Beside];
        first.extend(builds.into_iter().map(First::Leaves));
        let beside = Mutex::new(Some(beside));
        let visited = run_queue(first, workers, FxHashMap::default, |uniform, task| {
            let (id, entries) = match task {
                First::Beside => {
                    // Invariant: the queue holds one `Beside`.
                    let taken = beside.lock().unwrap_or_else(PoisonError::into_inner).take();
                    let Some(f) = taken else { unreachable!("beside runs once") };
                    return Visited::Beside(f(&known));
                }
                First::Leaves(task) => task,
            };
            let mut out = Vec::with_capacity(entries.len());
            let leaves: Vec<Leaf> = entries
                .into_iter()
                .map(|e| {
                    let up = world_up.of_chunk(e.key);
                    let (leaf, cell) = leaf(uniform, e.chunk, e.version, e.history, e.edited, up);
                    out.push(visit(e.key, &leaf, cell));
                    (e.key, leaf)
                })
                .collect();
            Visited::Leaves(id, leaves, out)
        });
        // Second pass: `finish` first (the longest task), then the stubs and the inner nodes.
        let mut second = vec![Second::Finish];
        second.extend(stubs.into_iter().map(Second::Stub));
        let mut outs = Vec::with_capacity(known.len());
        let mut beside = None;
        for v in visited {
            match v {
                Visited::Beside(b) => beside = Some(b),
                Visited::Leaves(id, l, out) => {
                    second.push(Second::Inner(id, l));
                    outs.extend(out);
                }
            }
        }
        // Invariant: the first pass ran `Beside`.
        let Some(beside) = beside else { unreachable!("beside ran") };
        let finish = Mutex::new(Some((finish, beside, outs)));
        let made = run_queue(second, workers, FxHashMap::default, |repeated, task| match task {
            Second::Finish => {
                // Invariant: the queue holds one `Finish`.
                let taken = finish.lock().unwrap_or_else(PoisonError::into_inner).take();
                let Some((f, beside, outs)) = taken else { unreachable!("finish runs once") };
                Made::Finished(f(beside, outs))
            }
            Second::Stub(id) => Made::Node(id, Arc::new(Node::generated(id, generator))),
            Second::Inner(id, leaves) => {
                let mut it = leaves.into_iter().peekable();
                Made::Node(id, inner(id, &mut it, generator, repeated))
            }
        });
        let mut nodes: FxHashMap<NodeId, Arc<Node>> = FxHashMap::default();
        nodes.reserve(made.len());
        let mut result = None;
        for m in made {
            match m {
                Made::Finished(r) => result = Some(r),
                Made::Node(id, n) => {
                    nodes.insert(id, n);
                }
            }
        }
        let mut tree = HashMap::with_capacity(roots.len());
        for root in roots {
            tree.insert(root, assemble(NodeId::new(ROOT_LEVEL, root), &mut nodes));
        }
        // Invariant: the second pass ran `Finish`.
        let Some(result) = result else { unreachable!("finish ran") };
        (Self { roots: Arc::new(tree) }, result)
    }
}

/// Runs `tasks` on the calling thread and up to `workers − 1` scoped threads, each with its
/// own `state`, pulling the next task from one queue until it is empty (so a thread slowed by
/// other load simply takes fewer). Returns the results in task order.
fn run_queue<I: Send, O: Send, S>(
    tasks: Vec<I>,
    workers: usize,
    state: impl Fn() -> S + Sync,
    run: impl Fn(&mut S, I) -> O + Sync,
) -> Vec<O> {
    let count = tasks.len();
    let queue = Mutex::new(tasks.into_iter().enumerate());
    let work = || {
        let mut st = state();
        let mut done = Vec::new();
        loop {
            // The guard is a temporary of this statement: no task runs under the lock.
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some((i, task)) = next else { break };
            done.push((i, run(&mut st, task)));
        }
        done
    };
    let workers = workers.clamp(1, count.max(1));
    let parts: Vec<Vec<(usize, O)>> = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..workers).map(|_| s.spawn(work)).collect();
        let mut parts = vec![work()];
        // A panicking task is a bug; re-raise it on this thread.
        parts.extend(helpers.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))));
        parts
    });
    let mut slots: Vec<Option<O>> = std::iter::repeat_with(|| None).take(count).collect();
    for (i, o) in parts.into_iter().flatten() {
        slots[i] = Some(o);
    }
    // Invariant: the queue handed out every task once, and every worker returned its results.
    slots.into_iter().map(|o| o.unwrap_or_else(|| unreachable!("every task ran"))).collect()
}

/// Sorts and deduplicates `entries` (step 1) and cuts them into tasks (step 2). Returns the
/// root keys (Morton order), the stubs and the build tasks.
fn plan(entries: Vec<BuildEntry>) -> (Vec<ChunkKey>, Vec<NodeId>, Vec<BuildTask>) {
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
    (roots, stubs, builds)
}

/// Cuts the node `id` over `order` (its chunks, sorted, non-empty) into tasks.
fn split_tasks(
    id: NodeId,
    order: &[(u64, u32)],
    slots: &mut [Option<BuildEntry>],
    stubs: &mut Vec<NodeId>,
    builds: &mut Vec<BuildTask>,
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
        builds.push((id, entries));
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
            stubs.push(id.child(i));
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

/// The leaf of one known chunk: a new one with its histogram (O(32³)) for a dense chunk, the
/// shared one from `uniform` (by material and version) for a uniform chunk (O(1)). Nodes hold
/// nothing that depends on their position, so equal uniform chunks can share one leaf (and
/// its chunk): most chunks of a world are uniform (air, rock), and each then costs neither an
/// allocation now nor a free when the tree is dropped.
fn leaf(
    uniform: &mut FxHashMap<(MaterialId, u64, ProcessHistory, bool), Arc<Node>>,
    chunk: Arc<Chunk>,
    version: u64,
    history: ProcessHistory,
    edited: bool,
    up: Up,
) -> (Arc<Node>, Option<MaterialId>) {
    let Some(m) = chunk.as_uniform() else {
        // An edited chunk's cell comes from the same read of its voxels as its histogram.
        let (hist, cell) = if edited {
            let (hist, cell) = Histogram::of_chunk_and_cell(&chunk, up);
            (hist, Some(cell))
        } else {
            (Histogram::of_chunk(&chunk, 1), None)
        };
        return (Arc::new(Node::leaf(chunk, hist, version, history, edited)), cell);
    };
    let hist = || Histogram::uniform(m, CHUNK_VOLUME as u64);
    let node = uniform
        .entry((m, version, history, edited))
        .or_insert_with(|| Arc::new(Node::leaf(chunk, hist(), version, history, edited)))
        .clone();
    (node, edited.then_some(m))
}

/// Builds the inner node `id` (level ≥ 1) over the leaves `it` yields while they lie inside
/// it (Morton order, at least one); children without leaves are generated stubs.
///
/// `repeated` holds the inner nodes made so far whose eight children are one and the same
/// node, by that child: such a node is shared too, so a uniform region becomes one chain of
/// shared nodes. Its keys are only compared, never dereferenced; the node a key points to
/// lives as long as its entry (the value holds it).
fn inner<I: Iterator<Item = Leaf>>(
    id: NodeId,
    it: &mut std::iter::Peekable<I>,
    generator: &dyn WorldGenerator,
    repeated: &mut FxHashMap<*const Node, Arc<Node>>,
) -> Arc<Node> {
    let children: [Arc<Node>; 8] = std::array::from_fn(|i| {
        let cid = id.child(i);
        if !it.peek().is_some_and(|(k, _)| cid.contains(*k)) {
            return Arc::new(Node::generated(cid, generator));
        }
        if cid.level > 0 {
            return inner(cid, it, generator, repeated);
        }
        // Invariant: peeked just above.
        let Some((_, leaf)) = it.next() else { unreachable!("a peeked leaf") };
        leaf
    });
    if children[1..].iter().all(|c| Arc::ptr_eq(c, &children[0])) {
        let key = Arc::as_ptr(&children[0]);
        return repeated.entry(key).or_insert_with(|| Arc::new(Node::inner(id.level, children))).clone();
    }
    Arc::new(Node::inner(id.level, children))
}
