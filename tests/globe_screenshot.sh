#!/usr/bin/env bash
# Screenshot check of the globe viewer: runs `examples/globe_viewer.rs` in screenshot mode under
# Xvfb with Mesa's software Vulkan. The example waits until streaming is idle and the meshes
# have been on screen for a while, saves the PNG, checks it by pixel statistics (the planet
# covers a sensible part of the frame; ocean and land colours both present) and exits non-zero
# if the check fails.
#
#   bash tests/globe_screenshot.sh [out.png]      (needs: apt-get install xvfb mesa-vulkan-drivers)
#
# STRATA_GLOBE_BIN runs that binary instead of building: CI passes the example binary that
# `cargo test --workspace` has already built, so Bevy is not built a second time (README, "How the
# build is organised"). Without it the script runs `cargo run --example globe_viewer`, and
# CARGO_PROFILE_ARGS (e.g. "--release") chooses that build's profile.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/globe_screenshot.png}
if ! command -v Xvfb >/dev/null; then
  echo "Xvfb not found: apt-get install -y xvfb mesa-vulkan-drivers libvulkan1" >&2
  exit 2
fi
display=:97
Xvfb "$display" -screen 0 1280x720x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true' EXIT
sleep 1
rm -f "$out"
if [ -n "${STRATA_GLOBE_BIN:-}" ]; then
  DISPLAY=$display STRATA_SCREENSHOT="$out" BEVY_ASSET_ROOT="$PWD" timeout 1200 "$STRATA_GLOBE_BIN"
else
  # shellcheck disable=SC2086
  DISPLAY=$display STRATA_SCREENSHOT="$out" timeout 1200 cargo run --locked ${CARGO_PROFILE_ARGS:-} --example globe_viewer
fi
test -s "$out"
echo "globe screenshot check passed: $out"
