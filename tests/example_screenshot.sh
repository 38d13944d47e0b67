#!/usr/bin/env bash
# Screenshot check of an example: runs it in screenshot mode (`STRATA_SCREENSHOT`) under Xvfb
# with Mesa's software Vulkan. The example waits until what it shows is ready, saves the PNG,
# checks it by pixel statistics and exits non-zero if the check fails (see each example's docs
# and `examples/shared/screenshot_check.rs`).
#
#   bash tests/example_screenshot.sh <example> <out.png> [binary]
#                                   (needs: apt-get install xvfb mesa-vulkan-drivers)
#
# With a binary it runs that instead of building: CI passes the example binaries that `cargo
# test --workspace` has already built, so Bevy is not built a second time (CONTRIBUTING.md, "How the
# build is organised"). Without it the script runs `cargo run --example <example>`, and
# CARGO_PROFILE_ARGS (e.g. "--release") chooses that build's profile. STRATA_SCREENSHOT_TIMEOUT_S
# (default 1200) kills the run after that many seconds (raise it for a long one, e.g. a geology
# before/after pair, together with the example's own STRATA_SCREENSHOT_LIMIT_S).
set -euo pipefail
cd "$(dirname "$0")/.."
example=$1
out=$2
bin=${3:-}
if ! command -v Xvfb >/dev/null; then
  echo "Xvfb not found: apt-get install -y xvfb mesa-vulkan-drivers libvulkan1" >&2
  exit 2
fi
# A display of its own per example, so two checks never share one.
case "$example" in globe_viewer) display=:97 ;; *) display=:98 ;; esac
# The server is waited for on exit (so a next check on the same display never meets a dying
# one), and its socket is waited for before the example starts.
Xvfb "$display" -screen 0 1280x720x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; wait $xvfb 2>/dev/null || true' EXIT
socket=/tmp/.X11-unix/X${display#:}
for _ in $(seq 100); do
  [ -S "$socket" ] && break
  kill -0 $xvfb 2>/dev/null || { echo "Xvfb $display did not start (display in use?)" >&2; exit 2; }
  sleep 0.1
done
[ -S "$socket" ] || { echo "Xvfb $display gave no socket in 10 s" >&2; exit 2; }
rm -f "$out"
if [ -n "$bin" ]; then
  DISPLAY=$display STRATA_SCREENSHOT="$out" BEVY_ASSET_ROOT="$PWD" timeout "${STRATA_SCREENSHOT_TIMEOUT_S:-1200}" "$bin"
else
  # shellcheck disable=SC2086
  DISPLAY=$display STRATA_SCREENSHOT="$out" timeout "${STRATA_SCREENSHOT_TIMEOUT_S:-1200}" cargo run --locked ${CARGO_PROFILE_ARGS:-} --example "$example"
fi
test -s "$out"
echo "$example screenshot check passed: $out"
