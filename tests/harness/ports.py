"""free_port(): a TCP port on 127.0.0.1 for a server a test is about to start.

The usual trick, bind(("127.0.0.1", 0)), hands out a port of the kernel's
ephemeral range (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by
default): the range every outgoing connection takes its local port from.
Between the test choosing the port and the server binding it, any client on
the machine (a Kafka client, curl, the harness's own admin requests) may
connect from that very port, and the server fails with EADDRINUSE (CI saw
weir-sink exit so once).  So the port is picked at random below that range,
checked by binding it, and never handed out twice by this process.
"""

from __future__ import annotations

import random
import socket
import threading

_lock = threading.Lock()
_given: set[int] = set()


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port() -> int:
    """A port nothing listens on now, outside the ephemeral range when the
    machine leaves room below it (else from bind(0), as before)."""
    hi = _ephemeral_low() - 1
    lo = 20000
    with _lock:
        if hi - lo >= 1000:
            for _ in range(200):
                port = random.randint(lo, hi)
                if port not in _given and _bindable(port):
                    _given.add(port)
                    return port
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        _given.add(port)
        return port
