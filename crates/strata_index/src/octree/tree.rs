//! The octree: an unbounded map of root nodes (level [`ROOT_LEVEL`]), each a persistent tree.

use super::mip::CellBox;
use super::node::{Node, NodeId, ROOT_LEVEL, fresh_path, replace};
use std::collections::HashMap;
use std::sync::Arc;
use strata_core::{ChunkKey, WorldGenerator};

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
    pub(super) roots: Arc<HashMap<ChunkKey, Arc<Node>>>,
}

impl Octree {
    /// Number of roots.
    pub fn root_count(&self) -> usize {
        self.roots.len()
    }

    /// The roots.
    #[cfg(test)]
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
        self.set_node(NodeId::chunk(chunk), leaf, dirty, generator);
    }

    /// Sets the node at `target` (any level) to `node` and updates the path to its root.
    /// `dirty` is the box of `target`'s cells that differ from what the tree holds there.
    ///
    /// # Runtime
    /// As [`Octree::set_leaf`].
    pub fn set_node(
        &mut self,
        target: NodeId,
        node: Arc<Node>,
        dirty: Option<CellBox>,
        generator: &dyn WorldGenerator,
    ) {
        let root = NodeId::new(ROOT_LEVEL, NodeId::containing(target.key, ROOT_LEVEL - target.level).key);
        let roots = Arc::make_mut(&mut self.roots);
        let new_root = match roots.get(&root.key) {
            Some(r) => replace(r, root, target, node, dirty, generator).0,
            None => fresh_path(root, target, node, generator),
        };
        roots.insert(root.key, new_root);
    }

    /// Removes the root holding `chunk`; returns it.
    pub fn remove_root(&mut self, chunk: ChunkKey) -> Option<Arc<Node>> {
        let root = NodeId::containing(chunk, ROOT_LEVEL);
        Arc::make_mut(&mut self.roots).remove(&root.key)
    }

    /// The nodes on the path from the root down to `chunk`'s level-0 node, root first (fewer if
    /// the path ends in a stub or a leaf above level 0, none outside every root).
    pub fn path(&self, chunk: ChunkKey) -> Vec<(NodeId, &Arc<Node>)> {
        let mut out = Vec::with_capacity(ROOT_LEVEL as usize + 1);
        let root = NodeId::containing(chunk, ROOT_LEVEL);
        let Some(mut node) = self.roots.get(&root.key) else { return out };
        let mut id = root;
        loop {
            out.push((id, node));
            let Some(children) = node.children() else { break };
            let i = NodeId::child_index_of(chunk, id.level);
            id = id.child(i);
            node = &children[i];
        }
        out
    }

    /// Every root.
    pub fn root_nodes(&self) -> impl Iterator<Item = (NodeId, &Arc<Node>)> {
        self.roots.iter().map(|(k, n)| (NodeId::new(ROOT_LEVEL, *k), n))
    }
}
