#!/usr/bin/env bash
# Screenshot check of the game example at walking height (sky in the upper half, lit ground
# filling the lower half): `bash tests/game_screenshot.sh [out.png]`. STRATA_GAME_BIN runs that
# binary instead of building (see tests/example_screenshot.sh).
set -euo pipefail
exec bash "$(dirname "$0")/example_screenshot.sh" game "${1:-target/game_screenshot.png}" "${STRATA_GAME_BIN:-}"
