#!/usr/bin/env bash
# Multiplayer screenshot: a server (`examples/server.rs`, in a temporary save), a scripted player
# (`server --bot`) that builds a magma wall in front of the spawn point and waits until the
# server acknowledged it, then the game connected to the server in screenshot mode: the picture
# shows the other player's wall (the game's pixel check as a client: magma covers at least 5 %
# of the upper half, where the sky would be; a server without the wall fails it). Run in CI.
#
#   bash tests/multiplayer_screenshot.sh [out.png]     (needs: apt-get install xvfb mesa-vulkan-drivers)
#
# STRATA_SERVER_BIN and STRATA_GAME_BIN run those binaries instead of building them.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/multiplayer_screenshot.png}
if [ -z "${STRATA_SERVER_BIN:-}" ] || [ -z "${STRATA_GAME_BIN:-}" ]; then
  cargo build --locked ${CARGO_PROFILE_ARGS:-} --example server --example game
  dir=target/$([ "${CARGO_PROFILE_ARGS:-}" = "--release" ] && echo release || echo debug)/examples
  STRATA_SERVER_BIN=${STRATA_SERVER_BIN:-$dir/server}
  STRATA_GAME_BIN=${STRATA_GAME_BIN:-$dir/game}
fi
save=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
"$STRATA_SERVER_BIN" --listen "127.0.0.1:$port" --save "$save/server.strata" >"$save/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$save"' EXIT
for _ in $(seq 300); do
  grep -q "listening on" "$save/server.log" && break
  kill -0 $server 2>/dev/null || { cat "$save/server.log" >&2; echo "the server stopped" >&2; exit 1; }
  sleep 0.1
done
timeout 120 "$STRATA_SERVER_BIN" --bot "127.0.0.1:$port"
STRATA_CONNECT="127.0.0.1:$port" STRATA_GAME_BIN="$STRATA_GAME_BIN" bash tests/game_screenshot.sh "$out"
