//! block-mesh as a peer: our chunks in its input format, configured as its docs show (a padded
//! 34³ array of voxels with a visibility and a merge value, `greedy_quads` over the interior
//! `[0; 3]..=[33; 3]`, the right-handed Y-up faces). Shared by the report's meshing metrics and
//! the mesher's quad-count property test, so both compare against the same peer.

use block_mesh::ndshape::{ConstShape, ConstShape3u32};
use block_mesh::{GreedyQuadsBuffer, MergeVoxel, RIGHT_HANDED_Y_UP_CONFIG, Voxel, VoxelVisibility, greedy_quads};
use strata_core::{MaterialId, MaterialKind};
use strata_mesh::MaterialTable;

/// One voxel as block-mesh sees it: our material id (its merge value) and its visibility.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BmVoxel(pub u16, pub VoxelVisibility);

impl Voxel for BmVoxel {
    fn get_visibility(&self) -> VoxelVisibility {
        self.1
    }
}

impl MergeVoxel for BmVoxel {
    type MergeValue = u16;
    fn merge_value(&self) -> u16 {
        self.0
    }
}

/// A chunk padded by one voxel on every side: 34³.
pub type Padded = ConstShape3u32<34, 34, 34>;

/// The padded input for a chunk whose voxel at `p` (each coordinate in `-1..=32`) is
/// `voxel(p)`: air is empty, solids opaque, fluids and transparent materials translucent.
/// `None` (a voxel nobody knows, such as an unloaded neighbour's) is opaque, so no face is made
/// against it.
///
/// # Runtime
/// 34³ calls of `voxel`.
pub fn padded_voxels(table: &MaterialTable, voxel: impl Fn([i32; 3]) -> Option<u16>) -> Vec<BmVoxel> {
    (0..Padded::SIZE)
        .map(|i| {
            let [x, y, z] = Padded::delinearize(i);
            match voxel([x as i32 - 1, y as i32 - 1, z as i32 - 1]) {
                None => BmVoxel(u16::MAX, VoxelVisibility::Opaque),
                Some(id) => BmVoxel(
                    id,
                    match table.kind(MaterialId(id)) {
                        MaterialKind::Air => VoxelVisibility::Empty,
                        MaterialKind::Solid => VoxelVisibility::Opaque,
                        _ => VoxelVisibility::Translucent,
                    },
                ),
            }
        })
        .collect()
}

/// The number of quads block-mesh's greedy meshing makes of padded `voxels`.
pub fn greedy_quad_count(voxels: &[BmVoxel]) -> usize {
    let mut buffer = GreedyQuadsBuffer::new(voxels.len());
    greedy_quads(voxels, &Padded {}, [0; 3], [33; 3], &RIGHT_HANDED_Y_UP_CONFIG.faces, &mut buffer);
    buffer.quads.num_quads()
}
