#!/usr/bin/env bash
# Screenshot check of the game example: runs `examples/game.rs` in screenshot mode under Xvfb
# with Mesa's software Vulkan. The example waits until the player stands on the ground and
# streaming is idle, saves the PNG, checks it by pixel statistics (sky in the upper half, lit
# ground filling the lower half) and exits non-zero if the check fails.
#
#   bash tests/game_screenshot.sh [out.png]      (needs: apt-get install xvfb mesa-vulkan-drivers)
#
# STRATA_GAME_BIN runs that binary instead of building: CI passes the example binary that
# `cargo test --workspace` has already built (README, "How the build is organised"). Without it
# the script runs `cargo run --example game` (CARGO_PROFILE_ARGS, e.g. "--release", chooses the
# profile).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/game_screenshot.png}
if ! command -v Xvfb >/dev/null; then
  echo "Xvfb not found: apt-get install -y xvfb mesa-vulkan-drivers libvulkan1" >&2
  exit 2
fi
display=:98
Xvfb "$display" -screen 0 1280x720x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true' EXIT
sleep 1
rm -f "$out"
if [ -n "${STRATA_GAME_BIN:-}" ]; then
  DISPLAY=$display STRATA_SCREENSHOT="$out" BEVY_ASSET_ROOT="$PWD" timeout 1200 "$STRATA_GAME_BIN"
else
  # shellcheck disable=SC2086
  DISPLAY=$display STRATA_SCREENSHOT="$out" timeout 1200 cargo run --locked ${CARGO_PROFILE_ARGS:-} --example game
fi
test -s "$out"
echo "game screenshot check passed: $out"
