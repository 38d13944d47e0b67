//! The octree: an unbounded map of root nodes (level [`ROOT_LEVEL`]), each a persistent tree.

use super::mip::CellBox;
use super::node::{Node, NodeId, ROOT_LEVEL, fresh_path, replace};
use crate::summary::Histogram;
use std::collections::HashMap;
use std::sync::Arc;
use strata_core::{Chunk, ChunkKey, WorldGenerator};

/// What the octree holds at a node.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lookup<'a> {
    /// A node built from known chunks (fully or partly).
    Node(&'a Arc<Node>),
    /// No known chunk below: the node is generator data. Carries the generated stub that
    /// covers it, if the tree holds one at exactly this node.
    Generated(Option<&'a Arc<Node>>),
}

/// Roots by root key. Cloning is O(1) (the map is shared); the first change after a clone
/// copies the map, O(roots).
#[derive(Clone, Default)]
pub(crate) struct Octree {
    roots: Arc<HashMap<ChunkKey, Arc<Node>>>,
}

/// One chunk for [`Octree::build`].
pub(crate) struct BuildEntry {
    pub key: ChunkKey,
    pub chunk: Arc<Chunk>,
    pub version: u64,
}

impl Octree {
    /// Number of roots.
    pub fn root_count(&self) -> usize {
        self.roots.len()
    }

    /// The roots.
    pub fn roots(&self) -> impl Iterator<Item = (NodeId, &Arc<Node>)> {
        self.roots.iter().map(|(k, n)| (NodeId::new(ROOT_LEVEL, *k), n))
    }

    /// The node at `id`, or how it is covered.
    pub fn lookup(&self, id: NodeId) -> Lookup<'_> {
        if id.level > ROOT_LEVEL {
            return Lookup::Generated(None);
        }
        let root = NodeId::containing(id.key, ROOT_LEVEL - id.level);
        let Some(mut node) = self.roots.get(&root.key) else { return Lookup::Generated(None) };
        let mut level = ROOT_LEVEL;
        while level > id.level {
            let Some(children) = node.children() else { return Lookup::Generated(None) };
            let i = NodeId::child_index_of(id.key, level - id.level);
            node = &children[i];
            level -= 1;
        }
        if node.is_generated() { Lookup::Generated(Some(node)) } else { Lookup::Node(node) }
    }

    /// The known leaf at `chunk`, if any.
    pub fn leaf(&self, chunk: ChunkKey) -> Option<&Arc<Node>> {
        match self.lookup(NodeId::chunk(chunk)) {
            Lookup::Node(n) => Some(n),
            Lookup::Generated(_) => None,
        }
    }

    /// The level-0 node at `chunk` (known or generated), if the tree holds one.
    pub fn level0(&self, chunk: ChunkKey) -> Option<&Arc<Node>> {
        match self.lookup(NodeId::chunk(chunk)) {
            Lookup::Node(n) | Lookup::Generated(Some(n)) => Some(n),
            Lookup::Generated(None) => None,
        }
    }

    /// Sets the known chunk at `chunk` to `leaf` and updates the path to its root. `dirty` is
    /// the box of voxels that differ from [`Octree::level0`] (full if there is none).
    ///
    /// # Runtime
    /// O(`ROOT_LEVEL`) node copies plus downsampling of the changed cells (in grids already
    /// computed); creating a new root or
    /// replacing a generated stub samples the generator for each new sibling (up to 7 per level).
    pub fn set_leaf(
        &mut self,
        chunk: ChunkKey,
        leaf: Arc<Node>,
        dirty: Option<CellBox>,
        generator: &dyn WorldGenerator,
    ) {
        let root = NodeId::containing(chunk, ROOT_LEVEL);
        let roots = Arc::make_mut(&mut self.roots);
        let new_root = match roots.get(&root.key) {
            Some(r) => replace(r, root, chunk, leaf, dirty, generator).0,
            None => fresh_path(root, chunk, leaf, generator),
        };
        roots.insert(root.key, new_root);
    }

    /// Builds the whole tree from known chunks (a full rebuild), splitting the roots over up to
    /// `workers` threads.
    ///
    /// LOD grids are not computed here: readers compute them on first use (see the module docs).
    ///
    /// # Runtime
    /// O(dense chunks × 32³) (their histograms) + O(nodes) (histogram merges), divided by the
    /// workers, plus O(chunks log chunks) to sort; uniform chunks cost O(1).
    pub fn build(mut entries: Vec<BuildEntry>, generator: &dyn WorldGenerator, workers: usize) -> Self {
        entries.sort_by_cached_key(|e| e.key.morton());
        entries.dedup_by_key(|e| e.key);
        // Morton order makes every root (and every node) a contiguous run.
        let mut groups: Vec<&[BuildEntry]> = Vec::new();
        let mut rest = &entries[..];
        while let Some(first) = rest.first() {
            let root = NodeId::containing(first.key, ROOT_LEVEL);
            let n = rest.iter().take_while(|e| root.contains(e.key)).count();
            let (g, r) = rest.split_at(n);
            groups.push(g);
            rest = r;
        }
        // Work items: the subtrees one level below the roots, so even a single root spreads
        // over the workers.
        let mut tasks: Vec<(NodeId, &[BuildEntry])> = Vec::new();
        for g in &groups {
            let root = NodeId::containing(g[0].key, ROOT_LEVEL);
            let mut rest = *g;
            for i in 0..8 {
                let cid = root.child(i);
                let n = rest.iter().take_while(|e| cid.contains(e.key)).count();
                let (mine, r) = rest.split_at(n);
                rest = r;
                if !mine.is_empty() {
                    tasks.push((cid, mine));
                }
            }
        }
        let workers = workers.clamp(1, tasks.len().max(1));
        let mut built: HashMap<NodeId, Arc<Node>> = HashMap::with_capacity(tasks.len());
        if workers == 1 {
            built.extend(tasks.iter().map(|(id, e)| (*id, build_node(*id, e, generator))));
        } else {
            // Largest tasks first, dealt round-robin, so threads get similar work.
            tasks.sort_by_key(|t| std::cmp::Reverse(t.1.len()));
            let parts: Vec<Vec<(NodeId, Arc<Node>)>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..workers)
                    .map(|w| {
                        let mine: Vec<(NodeId, &[BuildEntry])> =
                            tasks.iter().skip(w).step_by(workers).copied().collect();
                        s.spawn(move || {
                            mine.into_iter().map(|(id, e)| (id, build_node(id, e, generator))).collect::<Vec<_>>()
                        })
                    })
                    .collect();
                // A panicking builder is a bug; re-raise it on this thread.
                handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
            });
            built.extend(parts.into_iter().flatten());
        }
        let mut roots = HashMap::with_capacity(groups.len());
        for g in &groups {
            let root = NodeId::containing(g[0].key, ROOT_LEVEL);
            let children: [Arc<Node>; 8] = std::array::from_fn(|i| {
                let cid = root.child(i);
                built.remove(&cid).unwrap_or_else(|| Arc::new(Node::generated(cid, generator)))
            });
            roots.insert(root.key, Arc::new(Node::inner(ROOT_LEVEL, children)));
        }
        Self { roots: Arc::new(roots) }
    }
}

/// Builds the node `id` over `entries` (sorted by Morton key, all inside `id`, non-empty).
fn build_node(id: NodeId, entries: &[BuildEntry], generator: &dyn WorldGenerator) -> Arc<Node> {
    if id.level == 0 {
        let e = &entries[0];
        return Arc::new(Node::leaf(e.chunk.clone(), Histogram::of_chunk(&e.chunk, 1), e.version));
    }
    let mut rest = entries;
    let children: [Arc<Node>; 8] = std::array::from_fn(|i| {
        let cid = id.child(i);
        let n = rest.iter().take_while(|e| cid.contains(e.key)).count();
        let (mine, r) = rest.split_at(n);
        rest = r;
        if mine.is_empty() { Arc::new(Node::generated(cid, generator)) } else { build_node(cid, mine, generator) }
    });
    Arc::new(Node::inner(id.level, children))
}
