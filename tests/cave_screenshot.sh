#!/usr/bin/env bash
# Screenshot check of the game example's cave (`--cave`): a sealed tunnel under the spawn with a
# lamp on its floor; the check wants no sky, a dark far end and the lamp's surroundings at least
# CAVE_CONTRAST times brighter than it (see examples/game.rs):
# `bash tests/cave_screenshot.sh [out.png]`. STRATA_GAME_BIN runs that binary instead of
# building (see tests/example_screenshot.sh).
set -euo pipefail
export STRATA_GAME_CAVE=1 STRATA_GAME_PHYSICS=mover
exec bash "$(dirname "$0")/example_screenshot.sh" game "${1:-target/cave_screenshot.png}" "${STRATA_GAME_BIN:-}"
