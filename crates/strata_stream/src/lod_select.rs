//! Octree LOD selection around viewers: which nodes to show, at which level.
//!
//! A node at level `k` covers 2ᵏ chunks per side ([`NodeId`]). Starting from level
//! [`LodSettings::max_level`] nodes near the viewers, a node is split into its 8 children while a
//! viewer is closer to it than `split_distance × edge` (edge = the node's edge in voxels), so
//! detail falls off with distance and every visible node covers about the same screen size. The
//! selected leaves tile the view region with no overlap and no gap.
//!
//! **Hysteresis**: a node that is split stays split until viewers are farther than
//! `split_distance × edge × (1 + hysteresis)`, and a node that is shown stays shown until it is
//! farther than `view_distance × (1 + hysteresis)`, so a viewer resting on a threshold does not
//! make nodes flicker between levels or in and out of view.

use rustc_hash::FxHashSet;
use strata_core::{CHUNK_SIZE, ChunkKey};
use strata_index::NodeId;

/// Geometry of octree nodes that the selection needs (distances: [`NodeId::distance_to`]).
trait NodeGeometry {
    fn edge_voxels(self) -> f64;
    #[cfg(test)]
    fn min_voxel_f64(self) -> [f64; 3];
    #[cfg(test)]
    fn children_vec(self) -> Vec<NodeId>;
}

impl NodeGeometry for NodeId {
    fn edge_voxels(self) -> f64 {
        ((1i64 << self.level.min(30)) * CHUNK_SIZE as i64) as f64
    }

    #[cfg(test)]
    fn min_voxel_f64(self) -> [f64; 3] {
        let e = self.edge_voxels();
        [self.key.x, self.key.y, self.key.z].map(|v| v as f64 * e)
    }

    #[cfg(test)]
    fn children_vec(self) -> Vec<NodeId> {
        if self.level == 0 { Vec::new() } else { (0..8).map(|i| self.child(i)).collect() }
    }
}

/// How LOD falls off with distance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LodSettings {
    /// Coarsest level shown (the size of the roots).
    pub max_level: u32,
    /// A node splits while a viewer is closer than `split_distance × edge`.
    pub split_distance: f64,
    /// Extra distance fraction before a split node merges again (e.g. 0.2).
    pub hysteresis: f64,
    /// How the distance from a viewer to a node is measured (view and split tests).
    pub view_rule: ViewRule,
}

impl Default for LodSettings {
    fn default() -> Self {
        Self { max_level: 4, split_distance: 1.5, hysteresis: 0.25, view_rule: ViewRule::NodeBox }
    }
}

/// How [`LodSelector`] measures the distance from a viewer to a node, for the view distance and
/// the split distance alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ViewRule {
    /// From the viewer to the nearest point of the node's box, in voxels
    /// ([`NodeId::distance_to`]).
    #[default]
    NodeBox,
    /// In whole chunks, as a "render distance in chunks" (and `bevy_voxel_world`) counts it: from
    /// the chunk holding the viewer to the nearest chunk of the node, times [`CHUNK_SIZE`]. A
    /// chunk at integer offset `o` from the viewer's chunk is `32·|o|` voxels away, so it is in
    /// view iff `|o|² ≤ (view_distance / 32)²`. Never nearer than [`ViewRule::NodeBox`]'s
    /// distance and at most a chunk's diagonal (32·√3 voxels) farther, so at one view distance
    /// it shows a subset of what `NodeBox` shows.
    ChunkLattice,
}

impl ViewRule {
    /// The distance from `position` (voxels) to `node` under this rule, in voxels. O(1).
    pub fn distance(self, node: NodeId, position: [f64; 3]) -> f64 {
        match self {
            ViewRule::NodeBox => node.distance_to(position),
            ViewRule::ChunkLattice => {
                let (lo, hi) = node.chunk_range();
                let d2: f64 = (0..3)
                    .map(|a| {
                        let viewer = (position[a] / CHUNK_SIZE as f64).floor();
                        let d = (lo[a] as f64 - viewer).max(viewer - hi[a] as f64).max(0.0);
                        d * d
                    })
                    .sum();
                d2.sqrt() * CHUNK_SIZE as f64
            }
        }
    }
}

/// Coarsest level [`LodSettings::validate`] accepts (a level-26 node spans the whole valid chunk
/// range on an axis).
pub const MAX_SELECT_LEVEL: u32 = 26;

/// Most nodes one viewer's [`LodSelector::update`] may visit under settings that
/// [`LodSettings::validate`] accepts: 2¹⁷. At about 1 µs per node a recomputation then stays
/// within ~0.1 s even in the worst case; the plugin's default settings visit under 5,000.
pub const MAX_VISITED_NODES: f64 = (1u32 << 17) as f64;

/// Why LOD settings were refused (see [`LodSettings::validate`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LodSettingsError {
    /// A value is NaN or infinite.
    #[error("{field} is {value}, not a finite number")]
    NotFinite {
        /// The setting.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// A value lies outside its documented range.
    #[error("{field} is {value}, outside {range}")]
    OutOfRange {
        /// The setting.
        field: &'static str,
        /// Its value.
        value: f64,
        /// The accepted range, in words.
        range: &'static str,
    },
    /// The settings would make one viewer's selection visit too many nodes.
    #[error(
        "these LOD settings could visit up to {bound:.0} nodes per viewer and update (at most {max:.0}): \
         lower the view distance or the split distance, or raise the max level"
    )]
    TooManyNodes {
        /// [`LodSettings::max_nodes_visited`] for them.
        bound: f64,
        /// [`MAX_VISITED_NODES`].
        max: f64,
    },
}

impl LodSettings {
    /// An upper bound of the nodes one viewer with `view_distance` makes
    /// [`LodSelector::update`] visit (roots enumerated, plus the 8 children of every split node).
    ///
    /// Along each axis, nodes of edge `e` that meet a ball of radius `r` number at most
    /// `2r/e + 2`. The roots are enumerated over the hysteresis reach `r = d·(1 + h)`; a node of
    /// level `k + 1` is split only within `s·e·(1 + h)` of the viewer (and within the reach), so
    /// level `k` gets 8 children of each. The bound is therefore
    /// `(2d(1+h)/e_L + 2)³ + Σ_{k<L} 8·(2·min(s·e_{k+1}, d)·(1+h)/e_{k+1} + 2)³` with `e_k`
    /// the edge of level `k` in voxels. Infinite for non-finite inputs.
    ///
    /// # Runtime
    /// O(`max_level`).
    pub fn max_nodes_visited(&self, view_distance: f64) -> f64 {
        let (d, s, h) = (view_distance.max(0.0), self.split_distance.max(0.0), self.hysteresis.max(0.0));
        if !(d.is_finite() && s.is_finite() && h.is_finite()) {
            return f64::INFINITY;
        }
        let level = self.max_level.min(MAX_SELECT_LEVEL);
        let edge = |k: u32| (CHUNK_SIZE as f64) * f64::from(1u32 << k);
        let mut bound = (2.0 * d * (1.0 + h) / edge(level) + 2.0).powi(3);
        for k in 0..level {
            let e = edge(k + 1);
            bound += 8.0 * (2.0 * (s * e).min(d) * (1.0 + h) / e + 2.0).powi(3);
        }
        bound
    }

    /// Checks the settings for one viewer with `view_distance` (voxels): every value finite,
    /// `max_level` in `0..=`[`MAX_SELECT_LEVEL`], `split_distance` in `0..=64`, `hysteresis`
    /// in `0..=4`, `view_distance` in `0..=2³⁰`, and [`LodSettings::max_nodes_visited`] at most
    /// [`MAX_VISITED_NODES`].
    pub fn validate(&self, view_distance: f64) -> Result<(), LodSettingsError> {
        let fields = [
            ("view_distance", view_distance, 0.0, f64::from(1u32 << 30), "0..=2^30 voxels"),
            ("split_distance", self.split_distance, 0.0, 64.0, "0..=64 node edges"),
            ("hysteresis", self.hysteresis, 0.0, 4.0, "0..=4"),
            ("max_level", f64::from(self.max_level), 0.0, f64::from(MAX_SELECT_LEVEL), "0..=26"),
        ];
        for (field, value, lo, hi, range) in fields {
            if !value.is_finite() {
                return Err(LodSettingsError::NotFinite { field, value });
            }
            if !(lo..=hi).contains(&value) {
                return Err(LodSettingsError::OutOfRange { field, value, range });
            }
        }
        let bound = self.max_nodes_visited(view_distance);
        if bound > MAX_VISITED_NODES {
            return Err(LodSettingsError::TooManyNodes { bound, max: MAX_VISITED_NODES });
        }
        Ok(())
    }
}

/// One viewer: a position and how far it sees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Viewer {
    /// Position in voxels.
    pub position: [f64; 3],
    /// Nodes farther than this (voxels) are not shown.
    pub view_distance: f64,
}

/// What changed between two selections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LodDiff {
    /// Nodes now selected that were not.
    pub added: Vec<NodeId>,
    /// Nodes no longer selected.
    pub removed: Vec<NodeId>,
}

impl LodDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// The rows of roots a viewer reaches under [`ViewRule::ChunkLattice`]: a root is in reach only
/// if the whole-chunk gaps between its chunks and the viewer's chunk, squared and summed, are at
/// most the squared reach (in chunks), so each row (fixed y and z) spans a known x range.
struct LatticeRows {
    chunk: [i64; 3],
    reach2: f64,
    shift: u32,
}

impl LatticeRows {
    /// The gap in whole chunks between root coordinate `r` and the viewer's chunk `c`.
    fn gap(&self, r: i64, c: i64) -> i64 {
        let (lo, hi) = (r << self.shift, ((r + 1) << self.shift) - 1);
        (lo - c).max(c - hi).max(0)
    }

    /// The roots' x range of row (`y`, `z`) in reach, or `None` if none is.
    fn x_range(&self, y: i64, z: i64) -> Option<(i64, i64)> {
        let (gy, gz) = (self.gap(y, self.chunk[1]) as f64, self.gap(z, self.chunk[2]) as f64);
        let rest = self.reach2 - gy * gy - gz * gz;
        if rest < 0.0 {
            return None;
        }
        let hx = rest.sqrt().floor() as i64;
        Some(((self.chunk[0] - hx) >> self.shift, (self.chunk[0] + hx) >> self.shift))
    }
}

/// The chunk a viewer is in (what [`ViewRule::ChunkLattice`] measures from).
fn viewer_chunk(v: &Viewer) -> [i64; 3] {
    v.position.map(|c| (c / CHUNK_SIZE as f64).floor() as i64)
}

/// Keeps the selected leaves and the split nodes between updates (for hysteresis).
///
/// An update whose viewers all moved less than [`LodSelector::min_move`] voxels since the last
/// recomputation (same count, same view distances, same settings) changes nothing and costs
/// O(viewers): the selection lags a viewer by less than that distance, far inside the
/// hysteresis band, and a game calling it every frame pays the O(selected) recomputation only
/// when a viewer has actually moved.
#[derive(Clone, Debug)]
pub struct LodSelector {
    settings: LodSettings,
    selected: FxHashSet<NodeId>,
    split: FxHashSet<NodeId>,
    /// Viewers and settings of the last recomputation.
    last: Option<(Vec<Viewer>, LodSettings)>,
    min_move: f64,
    /// Recomputations so far.
    recomputations: u64,
    /// Nodes the last recomputation visited.
    visited: u64,
}

impl Default for LodSelector {
    fn default() -> Self {
        Self::new(LodSettings::default())
    }
}

impl LodSelector {
    /// A selector with nothing selected.
    pub fn new(settings: LodSettings) -> Self {
        Self {
            settings,
            selected: FxHashSet::default(),
            split: FxHashSet::default(),
            last: None,
            min_move: 2.0,
            recomputations: 0,
            visited: 0,
        }
    }

    /// How many updates recomputed the selection (the others were skipped by
    /// [`LodSelector::min_move`]).
    pub fn recomputations(&self) -> u64 {
        self.recomputations
    }

    /// Nodes the last recomputation visited (popped from its work list, selected or not); at
    /// most [`LodSettings::max_nodes_visited`] per viewer.
    pub fn nodes_visited(&self) -> u64 {
        self.visited
    }

    /// Viewers closer than this (voxels) to where they were at the last recomputation do not
    /// trigger a new one. Default 2 voxels; 0 recomputes on every update.
    pub fn min_move(&self) -> f64 {
        self.min_move
    }

    /// Sets [`LodSelector::min_move`].
    pub fn set_min_move(&mut self, voxels: f64) {
        self.min_move = voxels.max(0.0);
    }

    /// Whether `viewers` are close enough to the last recomputation's to skip this one: each
    /// moved less than `min_move`, or (under [`ViewRule::ChunkLattice`], whose distances
    /// depend only on the viewer's chunk, and so do the roots it enumerates) stayed in its
    /// chunk, so a recomputation would select exactly the same nodes.
    fn unchanged(&self, viewers: &[Viewer]) -> bool {
        let Some((last, settings)) = &self.last else { return false };
        let lattice = self.settings.view_rule == ViewRule::ChunkLattice;
        *settings == self.settings
            && last.len() == viewers.len()
            && last.iter().zip(viewers).all(|(a, b)| {
                let d2: f64 = (0..3).map(|i| (a.position[i] - b.position[i]).powi(2)).sum();
                a.view_distance == b.view_distance
                    && (d2 < self.min_move * self.min_move || lattice && viewer_chunk(a) == viewer_chunk(b))
            })
    }

    /// Under [`ViewRule::ChunkLattice`], which roots of each row can be in a viewer's reach
    /// (`None` under the box rule: the whole range is visited).
    fn lattice_rows(&self, v: &Viewer) -> Option<LatticeRows> {
        (self.settings.view_rule == ViewRule::ChunkLattice).then(|| {
            let reach = v.view_distance * (1.0 + self.settings.hysteresis) / CHUNK_SIZE as f64;
            // A hair wider than the reach: the per-node test decides; this only must not skip.
            LatticeRows {
                chunk: viewer_chunk(v),
                reach2: reach * reach * (1.0 + 1e-9) + 1e-9,
                shift: self.settings.max_level.min(40),
            }
        })
    }

    /// The roots (nodes at `max_level`) a viewer's reach may touch, lowest and highest corner:
    /// as far as a previously shown node may stay (the hysteresis reach).
    ///
    /// Under [`ViewRule::ChunkLattice`] the range follows the viewer's chunk (a node in reach
    /// is at most ⌊reach / 32⌋ whole chunks from it on each axis), so it is the same anywhere
    /// in that chunk; under [`ViewRule::NodeBox`] it follows the position.
    fn root_range(&self, v: &Viewer) -> ([i64; 3], [i64; 3]) {
        let s = self.settings;
        let reach = v.view_distance * (1.0 + s.hysteresis);
        match s.view_rule {
            ViewRule::ChunkLattice => {
                let chunks = (reach / CHUNK_SIZE as f64).floor().min(1e12) as i64;
                let shift = s.max_level.min(40);
                let c = viewer_chunk(v);
                (c.map(|c| (c - chunks) >> shift), c.map(|c| (c + chunks) >> shift))
            }
            ViewRule::NodeBox => {
                let root_edge = NodeId::new(s.max_level, ChunkKey::new(0, 0, 0)).edge_voxels();
                let lo = v.position.map(|c| ((c - reach) / root_edge).floor() as i64);
                let hi = v.position.map(|c| ((c + reach) / root_edge).floor() as i64);
                (lo, hi)
            }
        }
    }

    /// The settings.
    pub fn settings(&self) -> LodSettings {
        self.settings
    }

    /// Changes the settings; takes effect at the next update.
    pub fn set_settings(&mut self, settings: LodSettings) {
        self.settings = settings;
    }

    /// The selected leaves.
    pub fn selected(&self) -> impl Iterator<Item = &NodeId> {
        self.selected.iter()
    }

    /// Whether `node` is selected.
    pub fn is_selected(&self, node: &NodeId) -> bool {
        self.selected.contains(node)
    }

    /// Number of selected nodes per level (index = level).
    pub fn count_per_level(&self) -> Vec<usize> {
        let mut v = vec![0; self.settings.max_level as usize + 1];
        for n in &self.selected {
            if let Some(c) = v.get_mut(n.level as usize) {
                *c += 1;
            }
        }
        v
    }

    /// Recomputes the selection for `viewers` and returns what changed.
    ///
    /// # Runtime
    /// O(selected nodes × viewers); with the default settings a viewer selects a few hundred
    /// nodes. O(viewers) when no viewer moved [`LodSelector::min_move`] voxels.
    pub fn update(&mut self, viewers: &[Viewer]) -> LodDiff {
        if self.unchanged(viewers) {
            return LodDiff::default();
        }
        self.last = Some((viewers.to_vec(), self.settings));
        self.recomputations += 1;
        let s = self.settings;
        let mut selected = FxHashSet::with_capacity_and_hasher(self.selected.len(), Default::default());
        let mut split = FxHashSet::with_capacity_and_hasher(self.split.len(), Default::default());
        // Several viewers' root ranges may overlap: each root once.
        let mut roots: FxHashSet<NodeId> = FxHashSet::default();
        let mut stack: Vec<NodeId> = Vec::new();
        let valid = |v: &&Viewer| {
            v.view_distance.is_finite() && v.view_distance >= 0.0 && v.position.iter().all(|c| c.is_finite())
        };
        let several = viewers.iter().filter(valid).count() > 1;
        for v in viewers.iter().filter(valid) {
            let (lo, hi) = self.root_range(v);
            let clamp = |c: i64| c.clamp(i32::MIN as i64 >> s.max_level, i32::MAX as i64 >> s.max_level) as i32;
            let rows = self.lattice_rows(v);
            for z in lo[2]..=hi[2] {
                for y in lo[1]..=hi[1] {
                    let (x0, x1) = match &rows {
                        Some(rows) => match rows.x_range(y, z) {
                            Some((x0, x1)) => (x0.max(lo[0]), x1.min(hi[0])),
                            None => continue,
                        },
                        None => (lo[0], hi[0]),
                    };
                    for x in x0..=x1 {
                        let root = NodeId::new(s.max_level, ChunkKey::new(clamp(x), clamp(y), clamp(z)));
                        if !several || roots.insert(root) {
                            stack.push(root);
                        }
                    }
                }
            }
        }
        self.visited = 0;
        while let Some(node) = stack.pop() {
            self.visited += 1;
            let was_split = self.split.contains(&node);
            // Hysteresis at the view boundary too: a node shown (or split) last time stays
            // until it is `hysteresis` beyond the view distance.
            let was_shown = was_split || self.selected.contains(&node);
            let reach = if was_shown { 1.0 + s.hysteresis } else { 1.0 };
            let factor = if was_split { 1.0 + s.hysteresis } else { 1.0 };
            let threshold = s.split_distance * node.edge_voxels() * factor;
            // One distance per viewer: visible to any, near any.
            let (mut visible, mut near) = (false, false);
            for v in viewers {
                let d = s.view_rule.distance(node, v.position);
                visible |= d <= v.view_distance * reach;
                near |= d < threshold;
            }
            if !visible {
                continue;
            }
            if node.level > 0 && near {
                split.insert(node);
                stack.extend((0..8).map(|i| node.child(i)));
            } else {
                selected.insert(node);
            }
        }
        let diff = LodDiff {
            added: selected.difference(&self.selected).copied().collect(),
            removed: self.selected.difference(&selected).copied().collect(),
        };
        self.selected = selected;
        self.split = split;
        diff
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn viewer(x: f64, y: f64, z: f64, d: f64) -> Viewer {
        Viewer { position: [x, y, z], view_distance: d }
    }

    fn covering(sel: &LodSelector, chunk: ChunkKey) -> Vec<NodeId> {
        sel.selected().copied().filter(|n| NodeId::containing(chunk, n.level) == *n).collect()
    }

    /// The bound the validation relies on holds: a real selection never visits more nodes than
    /// `max_nodes_visited`, for any settings, view distance and viewer position (here with
    /// nothing selected before and after a first update, so hysteresis reaches are in play).
    #[test]
    fn visited_nodes_stay_within_the_bound() {
        proptest!(ProptestConfig::with_cases(200), |(
            max_level in 0u32..6,
            split_distance in 0.0f64..4.0,
            hysteresis in 0.0f64..1.0,
            view_distance in 0.0f64..1500.0,
            pos in proptest::array::uniform3(-5000.0f64..5000.0),
            step in proptest::array::uniform3(-80.0f64..80.0),
            lattice in any::<bool>(),
        )| {
            let view_rule = if lattice { ViewRule::ChunkLattice } else { ViewRule::NodeBox };
            let settings = LodSettings { max_level, split_distance, hysteresis, view_rule };
            let bound = settings.max_nodes_visited(view_distance);
            let mut sel = LodSelector::new(settings);
            sel.set_min_move(0.0);
            sel.update(&[viewer(pos[0], pos[1], pos[2], view_distance)]);
            prop_assert!(sel.nodes_visited() as f64 <= bound, "{} > {bound}", sel.nodes_visited());
            let moved = [pos[0] + step[0], pos[1] + step[1], pos[2] + step[2]];
            sel.update(&[viewer(moved[0], moved[1], moved[2], view_distance)]);
            prop_assert!(sel.nodes_visited() as f64 <= bound, "{} > {bound} after a move", sel.nodes_visited());
        });
    }

    #[test]
    fn validation_refuses_what_would_stall_a_frame() {
        let ok = LodSettings { max_level: 3, split_distance: 1.5, hysteresis: 0.25, ..LodSettings::default() };
        ok.validate(384.0).unwrap();
        assert!(ok.max_nodes_visited(384.0) < 5_000.0, "{}", ok.max_nodes_visited(384.0));
        // The globe viewer's settings.
        LodSettings { max_level: 12, split_distance: 2.0, ..LodSettings::default() }.validate(131_072.0).unwrap();
        // What the debug UI once allowed: level 0 and a view distance of 200,000 voxels.
        let flat = LodSettings { max_level: 0, ..ok };
        assert!(matches!(flat.validate(200_000.0), Err(LodSettingsError::TooManyNodes { .. })));
        assert!(matches!(ok.validate(f64::INFINITY), Err(LodSettingsError::NotFinite { field: "view_distance", .. })));
        assert!(matches!(
            LodSettings { hysteresis: f64::NAN, ..ok }.validate(100.0),
            Err(LodSettingsError::NotFinite { field: "hysteresis", .. })
        ));
        assert!(matches!(
            LodSettings { split_distance: -1.0, ..ok }.validate(100.0),
            Err(LodSettingsError::OutOfRange { field: "split_distance", .. })
        ));
        assert!(matches!(
            LodSettings { max_level: 27, ..ok }.validate(100.0),
            Err(LodSettingsError::OutOfRange { field: "max_level", .. })
        ));
    }

    #[test]
    fn node_geometry() {
        let n = NodeId::containing(ChunkKey::new(-1, 5, 9), 2);
        assert_eq!(n, NodeId::new(2, ChunkKey::new(-1, 1, 2)));
        assert_eq!(n.min_voxel_f64(), [-128.0, 128.0, 256.0]);
        assert_eq!(NodeId::containing(ChunkKey::new(-4, 7, 11), 2), n);
        assert_ne!(NodeId::containing(ChunkKey::new(0, 7, 11), 2), n);
        assert_eq!(n.children_vec().len(), 8);
        assert!(n.children_vec().iter().all(|c| c.parent() == n));
        assert_eq!(n.distance_to([-100.0, 150.0, 300.0]), 0.0);
        assert_eq!(n.distance_to([-138.0, 150.0, 300.0]), 10.0);
    }

    #[test]
    fn detail_falls_off_with_distance() {
        let mut sel = LodSelector::new(LodSettings::default());
        sel.update(&[viewer(16.0, 16.0, 16.0, 2000.0)]);
        assert_eq!(covering(&sel, ChunkKey::new(0, 0, 0))[0].level, 0, "the viewer's own chunk is finest");
        let far = covering(&sel, ChunkKey::new(50, 0, 0));
        assert_eq!(far.len(), 1);
        assert!(far[0].level >= 3, "{far:?}");
        let counts = sel.count_per_level();
        assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
    }

    #[test]
    fn moving_viewer_loads_and_unloads() {
        let mut sel = LodSelector::new(LodSettings::default());
        let d = sel.update(&[viewer(0.0, 0.0, 0.0, 600.0)]);
        assert!(!d.added.is_empty() && d.removed.is_empty());
        let d = sel.update(&[viewer(0.0, 0.0, 0.0, 600.0)]);
        assert!(d.is_empty(), "a still viewer changes nothing");
        let d = sel.update(&[viewer(3000.0, 0.0, 0.0, 600.0)]);
        assert!(!d.added.is_empty() && !d.removed.is_empty());
        assert!(sel.selected().all(|n| n.distance_to([3000.0, 0.0, 0.0]) <= 600.0 * 1.25));
        assert!(covering(&sel, ChunkKey::new(0, 0, 0)).is_empty(), "left behind");
    }

    #[test]
    fn no_flicker_on_a_threshold() {
        let settings = LodSettings::default();
        let mut sel = LodSelector::new(settings);
        // Every update recomputes (the skip for small moves would hide a flicker).
        sel.set_min_move(0.0);
        // A level-1 node's split threshold is 1.5 × 64 = 96 voxels from its box.
        let node = NodeId::new(1, ChunkKey::new(0, 0, 0));
        let edge = node.edge_voxels();
        let threshold = settings.split_distance * edge;
        let base = edge + threshold; // on the threshold along +x
        sel.update(&[viewer(base - 1.0, 32.0, 32.0, 5000.0)]);
        // Visit both ends once: the first crossing may legitimately bring nodes into view.
        sel.update(&[viewer(base + 0.5, 32.0, 32.0, 5000.0)]);
        sel.update(&[viewer(base - 0.5, 32.0, 32.0, 5000.0)]);
        let mut changes = 0;
        let before = sel.recomputations();
        for i in 0..50 {
            let x = base + if i % 2 == 0 { 0.5 } else { -0.5 };
            changes += usize::from(!sel.update(&[viewer(x, 32.0, 32.0, 5000.0)]).is_empty());
        }
        assert_eq!(sel.recomputations() - before, 50, "every oscillation was recomputed");
        assert_eq!(changes, 0, "oscillating by one voxel across a threshold must not change the selection");
        // Moving well past the hysteresis band does merge.
        let d = sel.update(&[viewer(base + threshold * settings.hysteresis + 40.0, 32.0, 32.0, 5000.0)]);
        assert!(!d.is_empty());
    }

    #[test]
    fn small_moves_skip_the_recomputation_and_large_ones_do_not() {
        let mut sel = LodSelector::new(LodSettings::default());
        sel.update(&[viewer(0.0, 0.0, 0.0, 600.0)]);
        let before: FxHashSet<NodeId> = sel.selected().copied().collect();
        assert!(sel.update(&[viewer(1.5, 0.0, 0.0, 600.0)]).is_empty());
        // Many small steps add up: each is measured from the last recomputation.
        let mut changed = false;
        for i in 1..=400 {
            changed |= !sel.update(&[viewer(1.5 * i as f64, 0.0, 0.0, 600.0)]).is_empty();
        }
        assert!(changed, "600 voxels of small steps must change the selection");
        assert_ne!(before, sel.selected().copied().collect());
        // A new view distance or new settings recompute at once.
        assert!(!sel.update(&[viewer(600.0, 0.0, 0.0, 300.0)]).is_empty());
        sel.set_min_move(0.0);
        assert_eq!(sel.min_move(), 0.0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Under the chunk lattice the selection covers every chunk in view and nothing out of
        /// reach, checked chunk by chunk over the reach's whole cube (the rule restated: whole
        /// chunk offsets `o` with `32·|o| ≤ view distance`), for LOD 0 and with LOD.
        #[test]
        fn lattice_selection_covers_exactly_the_chunks_in_view(
            p in proptest::array::uniform3(-300.0f64..300.0),
            d in 20.0f64..260.0,
            max_level in 0u32..3,
        ) {
            let settings = LodSettings { max_level, view_rule: ViewRule::ChunkLattice, ..LodSettings::default() };
            let mut sel = LodSelector::new(settings);
            sel.update(&[viewer(p[0], p[1], p[2], d)]);
            let c = p.map(|v| (v / 32.0).floor() as i32);
            let k = (d * 1.25 / 32.0).ceil() as i32 + 2;
            for dz in -k..=k {
                for dy in -k..=k {
                    for dx in -k..=k {
                        let chunk = ChunkKey::new(c[0] + dx, c[1] + dy, c[2] + dz);
                        let d2 = f64::from(dx * dx + dy * dy + dz * dz);
                        let covered = !covering(&sel, chunk).is_empty();
                        if d2.sqrt() * 32.0 <= d {
                            prop_assert!(covered, "chunk {chunk:?} in view is not covered");
                        }
                        if max_level == 0 && d2.sqrt() * 32.0 > d {
                            prop_assert!(!covered, "chunk {chunk:?} beyond the view selected");
                        }
                    }
                }
            }
        }
    }

    /// Under the chunk lattice a viewer walking inside its chunk costs no recomputation, even
    /// with `min_move` 0; leaving the chunk costs one.
    #[test]
    fn a_viewer_inside_its_chunk_is_not_recomputed_under_the_lattice() {
        let settings = LodSettings { max_level: 0, view_rule: ViewRule::ChunkLattice, ..LodSettings::default() };
        let mut sel = LodSelector::new(settings);
        sel.set_min_move(0.0);
        for x in 1..31 {
            sel.update(&[viewer(f64::from(x), 5.0, 7.0, 200.0)]);
        }
        assert_eq!(sel.recomputations(), 1);
        sel.update(&[viewer(33.0, 5.0, 7.0, 200.0)]);
        assert_eq!(sel.recomputations(), 2);
        // The box rule measures from the position itself: every move recomputes.
        let mut boxed = LodSelector::new(LodSettings { view_rule: ViewRule::NodeBox, ..settings });
        boxed.set_min_move(0.0);
        for x in 1..31 {
            boxed.update(&[viewer(f64::from(x), 5.0, 7.0, 200.0)]);
        }
        assert_eq!(boxed.recomputations(), 30);
    }

    #[test]
    fn bad_viewers_select_nothing() {
        let mut sel = LodSelector::new(LodSettings::default());
        assert!(sel.update(&[viewer(f64::NAN, 0.0, 0.0, 100.0), viewer(0.0, 0.0, 0.0, -1.0)]).is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Under the chunk lattice an update that skips (the viewers stayed in their chunks)
        /// keeps exactly what a forced recomputation from the same state selects, for walks
        /// that wander inside chunks and across their borders, with one or two viewers and
        /// with or without LOD.
        #[test]
        fn lattice_skips_select_what_a_recomputation_would(
            start in proptest::collection::vec((-500.0f64..500.0, -100.0f64..100.0, -500.0f64..500.0), 1..3),
            steps in proptest::collection::vec((-20.0f64..20.0, -6.0f64..6.0, -20.0f64..20.0), 1..40),
            max_level in 0u32..3,
            d in 60.0f64..200.0,
        ) {
            let settings = LodSettings { max_level, view_rule: ViewRule::ChunkLattice, ..LodSettings::default() };
            let mut sel = LodSelector::new(settings);
            sel.set_min_move(0.0);
            let mut vs: Vec<Viewer> = start.iter().map(|&(x, y, z)| viewer(x, y, z, d)).collect();
            sel.update(&vs);
            for (i, &(dx, dy, dz)) in steps.iter().enumerate() {
                for v in &mut vs {
                    v.position = [v.position[0] + dx, v.position[1] + dy, v.position[2] + dz];
                }
                let mut forced = sel.clone();
                forced.last = None;
                sel.update(&vs);
                forced.update(&vs);
                prop_assert!(sel.selected == forced.selected, "step {i}: the selections differ");
                prop_assert!(sel.split == forced.split, "step {i}: the split nodes differ");
            }
        }

        /// Selected leaves never overlap, and every chunk within view of a viewer is covered.
        #[test]
        fn leaves_tile_the_view(
            viewers in proptest::collection::vec((-3000.0f64..3000.0, -500.0f64..500.0, -3000.0f64..3000.0, 100.0f64..700.0), 1..3),
            steps in 1usize..4,
        ) {
            let mut sel = LodSelector::new(LodSettings { max_level: 4, split_distance: 1.2, hysteresis: 0.3, ..LodSettings::default() });
            let vs: Vec<Viewer> = viewers.iter().map(|&(x, y, z, d)| viewer(x, y, z, d)).collect();
            for i in 0..steps {
                let moved: Vec<Viewer> = vs.iter().map(|v| viewer(v.position[0] + 37.0 * i as f64, v.position[1], v.position[2], v.view_distance)).collect();
                sel.update(&moved);
                // no overlap: no selected node has a selected ancestor
                for n in sel.selected() {
                    let mut p = *n;
                    while p.level < 4 {
                        p = p.parent();
                        prop_assert!(!sel.is_selected(&p), "{n:?} and its ancestor {p:?} both selected");
                    }
                }
                // coverage of sampled chunks near each viewer
                for v in &moved {
                    for (dx, dz) in [(0.0, 0.0), (40.0, -30.0), (-0.7 * v.view_distance, 0.0)] {
                        let c = strata_core::VoxelPos::new((v.position[0] + dx).floor() as i32, v.position[1].floor() as i32, (v.position[2] + dz).floor() as i32).chunk();
                        prop_assert_eq!(covering(&sel, c).len(), 1, "chunk {:?} near viewer {:?}", c, v);
                    }
                }
            }
        }
    }

    /// The lattice rule at level 0 selects exactly `bevy_voxel_world`'s chunks: offset `o` from the
    /// viewer's chunk (the position divided by 32, floored) with `|o|² ≤ d²`, `d` the view
    /// distance in chunks (the peer's `chunk_is_close_to_any_camera`, restated here).
    #[test]
    fn the_chunk_lattice_rule_selects_the_chunks_within_a_whole_chunk_radius() {
        proptest!(ProptestConfig::with_cases(64), |(x in -300.0f64..300.0, y in -100.0f64..100.0, z in -300.0f64..300.0, d in 0u32..9)| {
            let settings = LodSettings { max_level: 0, view_rule: ViewRule::ChunkLattice, ..LodSettings::default() };
            let mut sel = LodSelector::new(settings);
            sel.update(&[viewer(x, y, z, f64::from(d) * 32.0)]);
            let got: FxHashSet<NodeId> = sel.selected().copied().collect();
            let c = [x, y, z].map(|v| (v / 32.0).floor() as i32);
            let d = d as i32;
            let mut want = FxHashSet::default();
            for oz in -d..=d {
                for oy in -d..=d {
                    for ox in -d..=d {
                        if ox * ox + oy * oy + oz * oz <= d * d {
                            want.insert(NodeId::chunk(ChunkKey::new(c[0] + ox, c[1] + oy, c[2] + oz)));
                        }
                    }
                }
            }
            prop_assert_eq!(got, want);
        });
    }

    /// Lattice distances are box distances rounded up to whole chunks: never nearer, at most a
    /// chunk's diagonal farther.
    #[test]
    fn lattice_distances_bound_box_distances() {
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: i64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % (2 * n as u64)) as i64 - n
        };
        for _ in 0..2000 {
            let node = NodeId::new(
                next(3).unsigned_abs() as u32,
                ChunkKey::new(next(20) as i32, next(20) as i32, next(20) as i32),
            );
            let p = [next(2000) as f64 + 0.5, next(2000) as f64 + 0.25, next(2000) as f64];
            let (b, l) = (ViewRule::NodeBox.distance(node, p), ViewRule::ChunkLattice.distance(node, p));
            assert!(b <= l + 1e-9 && l <= b + 32.0 * 3f64.sqrt() + 1e-9, "{node:?} {p:?}: box {b}, lattice {l}");
        }
    }
}
