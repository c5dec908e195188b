#!/usr/bin/env bash
# Register this machine with a TVM RPC tracker to measure tuning candidates for `tune --rpc`.
#   scripts/rpc_server.sh TRACKER_HOST:PORT [KEY] [CORE]
# KEY (default frvt) names a kind of machine: use one key per CPU class, e.g.
# "xeon-avx512". Measurements run pinned to CORE (default 0), as NIST times them.
# Needs only this project's environment (make setup); candidates arrive built.
# RPC_HOST=ADDR binds the server to one address (default: every interface).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || { echo "ERROR: run 'make setup' first (no $PY)" >&2; exit 1; }
[ $# -ge 1 ] || { sed -n '2,6p' "$0" >&2; exit 2; }
TRACKER="$1"; KEY="${2:-frvt}"; CORE="${3:-0}"
HOST="${TRACKER%:*}"; PORT="${TRACKER##*:}"
# (a port of letters was a ValueError traceback, 99999 a thread's traceback and then a hang)
if [ "$HOST" = "$TRACKER" ] || [ -z "$HOST" ] || [ -z "$PORT" ] || [ "${#PORT}" -gt 5 ] \
        || [ -n "${PORT//[0-9]/}" ] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
    echo "ERROR: tracker must be HOST:PORT with a port of 1-65535, got '$TRACKER'" >&2; exit 2
fi
CPUS="$(nproc --all)"
case "$CORE" in ''|*[!0-9]*) echo "ERROR: core must be a number, got '$CORE'" >&2; exit 2;; esac
[ "$CORE" -lt "$CPUS" ] || { echo "ERROR: core $CORE does not exist: this machine has cores 0-$((CPUS - 1))" >&2; exit 2; }
# One thread per measurement, like the submission itself: every pool the library sets (runtime_env).
for var in $("$PY" -c 'from frvt_runtime.runtime_env import THREAD_VARIABLES as v; print(" ".join(v))'); do
    export "$var=1"
done
echo "registering $(hostname) as '$KEY' with $TRACKER (core $CORE); stop with Ctrl-C"
exec taskset -c "$CORE" "$PY" -m tvm.exec.rpc_server --tracker "$TRACKER" --key "$KEY" ${RPC_HOST:+--host "$RPC_HOST"}
