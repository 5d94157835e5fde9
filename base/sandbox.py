"""Cutting a benchmark worker off the network.

Where the OS lets the worker make one (root, or unprivileged user namespaces), the worker moves into a
fresh network namespace: no interface is up, so nothing is reachable. Always, a guard on
``socket.connect`` records and refuses any attempt to reach an internet address, so a checkpoint that
tries is failed with the address it tried, whether or not the namespace would have stopped it.
"""

from __future__ import annotations

import ctypes
import os
import socket
from collections.abc import Callable
from typing import Any, TypeVar

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
_NETWORK_FAMILIES = (socket.AF_INET, socket.AF_INET6)
R = TypeVar("R")

attempts: list[str] = []  # addresses this process tried to connect to


class NetworkRefused(PermissionError):
    """A benchmark worker tried to open a network connection."""


def _unshare(flags: int) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.unshare(flags) == 0


def _guarded(original: Callable[..., R]) -> Callable[..., R]:
    def connect(self: socket.socket, address: Any, *args: Any) -> R:
        if self.family in _NETWORK_FAMILIES:
            where = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
            attempts.append(where)
            raise NetworkRefused(f"network access is not allowed in a benchmark worker (tried {where})")
        return original(self, address, *args)

    return connect


def isolate_network() -> str:
    """Isolate the calling (single-threaded, freshly forked) process; returns how: namespace or guard."""
    # Patching the class itself is the point: every socket the worker opens from now on is guarded.
    socket.socket.connect = _guarded(socket.socket.connect)  # type: ignore[method-assign]  # deliberate patch
    socket.socket.connect_ex = _guarded(socket.socket.connect_ex)  # type: ignore[method-assign]  # deliberate patch
    if os.uname().sysname == "Linux" and (_unshare(CLONE_NEWNET) or _unshare(CLONE_NEWUSER | CLONE_NEWNET)):
        return "network namespace and socket guard"
    return "socket guard"
