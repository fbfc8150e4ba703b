"""sd_notify(3) without libsystemd: READY=1 when every layer is up, WATCHDOG=1
while healthy, STOPPING=1 on SIGTERM. A datagram to $NOTIFY_SOCKET; nothing
happens when it is not set (not under systemd)."""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send one state string; True if a notify socket was there to take it."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path  # abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(address)
        sock.sendall(state.encode())
    return True


def watchdog_interval_s() -> float | None:
    """Half of WatchdogSec= (from $WATCHDOG_USEC), if the watchdog is on for us."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec) / 2 / 1_000_000
