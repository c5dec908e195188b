"""Measuring tuning candidates on other machines: TVM's RPC tracker and the servers registered with it."""

from __future__ import annotations

from ..errors import CompileError

# A candidate's upload + load + timed runs; the slowest detector kernels take ~1 s.
SESSION_TIMEOUT_S = 60


def parse_address(text: str) -> tuple[str, int]:
    """'HOST:PORT' -> (host, port), with a clear error for anything else."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CompileError(f"--rpc {text!r}: expected HOST:PORT of a TVM RPC tracker, e.g. 127.0.0.1:9190")
    return host, int(port)


def registered_servers(host: str, port: int, key: str) -> int:
    """How many servers are registered with the tracker under key (free or busy)."""
    import socket

    from tvm import rpc

    no_tracker = f"no TVM RPC tracker answers at {host}:{port}"
    try:  # TVM's own connect retries every 5 s for a minute, printing each retry
        socket.create_connection((host, port), timeout=10).close()
    except OSError as exc:
        raise CompileError(f"{no_tracker} ({exc}); start one with scripts/rpc_tracker.sh") from None
    try:
        summary = rpc.connect_tracker(host, port).summary()
    except Exception as exc:  # socket errors arrive as TVM or OS errors
        raise CompileError(f"{no_tracker} ({exc}); start one with scripts/rpc_tracker.sh") from None
    return sum(1 for s in summary.get("server_info", []) if str(s.get("key", "")).split(":", 1)[-1] == key)


def rpc_runner(address: str, key: str, log=print):
    """A MetaSchedule runner that measures on every server registered under key, in parallel."""
    from tvm.s_tir.meta_schedule.runner import RPCConfig, RPCRunner

    host, port = parse_address(address)
    servers = registered_servers(host, port, key)
    if servers == 0:
        raise CompileError(f"the tracker at {host}:{port} has no server under key {key!r}; on each measuring "
                           f"machine run scripts/rpc_server.sh {host}:{port} {key}")
    log(f"measuring on {servers} server(s) registered as {key!r} at {host}:{port}")
    config = RPCConfig(tracker_host=host, tracker_port=port, tracker_key=key, session_timeout_sec=SESSION_TIMEOUT_S)
    return RPCRunner(rpc_config=config, max_workers=servers)
