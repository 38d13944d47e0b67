#!/usr/bin/env bash
# Screenshot check of the game example at walking height (sky in the upper half, lit ground
# filling the lower half, three crates dropped in view resting on the voxel colliders), with the
# shaped-block showcase built beside them (STRATA_GAME_SHOWCASE; set it empty to leave it out):
# `bash tests/game_screenshot.sh [out.png]`. STRATA_GAME_BIN runs that binary instead of
# building (see tests/example_screenshot.sh). The player is avian's capsule unless
# STRATA_GAME_PHYSICS says otherwise (`mover`: the VoxelMover).
set -euo pipefail
export STRATA_GAME_PHYSICS=${STRATA_GAME_PHYSICS:-avian}
if [ -n "${STRATA_GAME_SHOWCASE-1}" ]; then export STRATA_GAME_SHOWCASE=1; else unset STRATA_GAME_SHOWCASE; fi
exec bash "$(dirname "$0")/example_screenshot.sh" game "${1:-target/game_screenshot.png}" "${STRATA_GAME_BIN:-}"
