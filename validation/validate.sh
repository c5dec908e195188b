#!/usr/bin/env bash
# Run before submission: NIST-style validation of lib/ + config/ + doc/ (layout,
# driver build, renamed read-only config, forks, thread count, log checks) and the
# single-core timing check. Extra image folders: validation/validate.sh --images DIR...
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for tool in g++ cmake taskset; do
    command -v "$tool" >/dev/null || { echo "ERROR: $tool is required" >&2; exit 1; }
done
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || { echo "ERROR: run 'make setup' first (no $PY)" >&2; exit 1; }
cd "$ROOT"
exec "$PY" -m frvt_submission validate "$@"
