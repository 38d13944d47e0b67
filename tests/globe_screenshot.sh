#!/usr/bin/env bash
# Screenshot check of the globe viewer (the planet covers a sensible part of the frame; ocean and
# land colours both present): `bash tests/globe_screenshot.sh [out.png]`. STRATA_GLOBE_BIN runs
# that binary instead of building (see tests/example_screenshot.sh).
set -euo pipefail
exec bash "$(dirname "$0")/example_screenshot.sh" globe_viewer "${1:-target/globe_screenshot.png}" "${STRATA_GLOBE_BIN:-}"
