#!/usr/bin/env bash
# Run before submission: NIST-style validation of lib/ + config/ + doc/ (layout,
# driver build, renamed read-only config, forks, thread count, log checks) and the
# single-core timing check. Extra image folders: validation/validate.sh --images DIR...
# A settings file (as make passes SETTINGS=): validation/validate.sh --settings FILE [...]
# Paths and ./frvt.toml are the caller's folder's, as for every frvt command.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for tool in g++ cmake taskset; do
    command -v "$tool" >/dev/null || { echo "ERROR: $tool is required" >&2; exit 1; }
done
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || { echo "ERROR: run 'make setup' first (no $PY)" >&2; exit 1; }
settings=()
if [ "${1:-}" = "--settings" ]; then  # the frvt command's own option: it goes before `validate`
    [ $# -ge 2 ] || { echo "ERROR: --settings needs a file" >&2; exit 2; }
    settings=(--settings "$2")
    shift 2
fi
exec "$PY" -m frvt_submission "${settings[@]}" validate "$@"
