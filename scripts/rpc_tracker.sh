#!/usr/bin/env bash
# Start a TVM RPC tracker: the meeting point of `tune --rpc` and the measuring machines.
#   scripts/rpc_tracker.sh [PORT]        (default 9190; every interface, or RPC_HOST=ADDR)
# Measuring machines register with scripts/rpc_server.sh HOST:PORT KEY.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || { echo "ERROR: run 'make setup' first (no $PY)" >&2; exit 1; }
PORT="${1:-9190}"
case "$PORT" in ''|*[!0-9]*) echo "ERROR: port must be a number, got '$PORT'" >&2; exit 2;; esac
# (0 or 65535 and up ended in a TVM traceback whose cause was buried mid-way)
[ "${#PORT}" -le 5 ] && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65534 ] \
    || { echo "ERROR: port must be 1-65534 (the tracker also takes the next one), got '$PORT'" >&2; exit 2; }
echo "TVM RPC tracker on ${RPC_HOST:-0.0.0.0}:$PORT; stop with Ctrl-C"
exec "$PY" -m tvm.exec.rpc_tracker --host "${RPC_HOST:-0.0.0.0}" --port "$PORT" --port-end "$((PORT + 1))"
