"""What a benchmark worker can reach: no network, no file outside its view, no process outside itself.

Network: where the OS lets the worker make one (root, or unprivileged user namespaces), the worker moves into a
fresh network namespace: no interface is up, so nothing is reachable. Always, a guard on ``socket.connect``
records and refuses any attempt to reach an internet address, so a checkpoint that tries is failed with the
address it tried, whether or not the namespace would have stopped it.

Files: with Landlock (``base.isolation.landlock``) a confined worker reads its job's folders, the interpreter and the
libraries, and writes only its scratch folder and shared memory: the wallets, the validator's state and other
miners' downloads are out of its reach, as are other processes' signals and ``/proc`` files. Landlock is the
kernel's own sandbox, per process and unprivileged, so it holds for a validator running as an ordinary user,
which a mount namespace (bubblewrap) or a user of its own would not without privileges the validator lacks.
Where the kernel has no Landlock the worker still runs, with the files its user can read.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from base.isolation import landlock

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
CAPABILITY_VERSION_3 = 0x20080522
_NETWORK_FAMILIES = (socket.AF_INET, socket.AF_INET6)
# Read (and run) from by the interpreter, the libraries and the drivers.
# Not /opt: software installed there (a validator's checkout among it) may keep its data beside it; libraries
# there are on LD_LIBRARY_PATH, which is read.
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")
KERNEL_FOLDERS = ("/proc", "/sys")  # read only: as root, writing there would reconfigure the machine
# The device nodes a runtime opens, read and write; not the others: as root, a worker reading /dev/sda would see
# every file under its view.
DEVICES = ("null", "zero", "full", "random", "urandom", "tty", "kfd", "dri")
DEVICE_PREFIXES = ("nvidia",)
SHARED_MEMORY = Path("/dev/shm")
R = TypeVar("R")
log = logging.getLogger(__name__)

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


@functools.cache
def warn_once_without_landlock() -> None:
    """Say in the log, once per process, that workers cannot be confined to their files here, where they cannot."""
    try:
        landlock.abi_version()
    except landlock.LandlockUnavailable as error:
        log.warning("%s: benchmark workers can read every file this user can, wallets included", error.strerror)


def library_folders() -> set[Path]:
    """What the interpreter and the code it runs read: its prefixes, site folders, native library folders, and
    the folder of every top-level package imported so far.

    The imported packages cover an editable install, whose import hook maps each package to its source folder;
    the project's own folder is not among them, as a validator's data folder may lie inside it.
    """
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    sites = {entry for entry in sys.path if Path(entry).name in ("site-packages", "dist-packages")}
    native = {entry for entry in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if entry}
    return {Path(folder) for folder in prefixes | sites | native} | _imported_packages()


def _imported_packages() -> set[Path]:
    found: set[Path] = set()
    for name, module in list(sys.modules.items()):
        if "." in name:
            continue
        locations, file = getattr(module, "__path__", None), getattr(module, "__file__", None)
        if locations is not None:
            found.update(Path(location) for location in locations)
        elif isinstance(file, str):
            found.add(Path(file))
    return found


def device_nodes() -> dict[Path, landlock.Access]:
    """The devices a runtime opens (listing /dev included), and shared memory."""
    dev = Path("/dev")
    names = [entry for entry in os.listdir(dev) if entry in DEVICES or entry.startswith(DEVICE_PREFIXES)]
    nodes = {dev / name: landlock.DEVICE | landlock.Access.READ_DIR for name in names}
    return {dev: landlock.Access.READ_DIR, **nodes, SHARED_MEMORY: landlock.READ_WRITE}


def file_rules(readable: Sequence[Path], scratch: Path) -> dict[Path, landlock.Access]:
    """A worker's whole view of the files: ``readable``, the libraries, the system, its devices and ``scratch``."""
    rules = {Path(folder): landlock.READ_EXECUTE for folder in SYSTEM_FOLDERS}
    rules |= dict.fromkeys(library_folders(), landlock.READ_EXECUTE)
    rules |= {Path(folder): landlock.READ for folder in KERNEL_FOLDERS}
    rules |= device_nodes()
    rules |= dict.fromkeys(readable, landlock.READ)
    rules[scratch] = landlock.READ_WRITE
    return rules


def confine_files(readable: Sequence[Path], scratch: Path) -> None:
    """Confine the calling (single-threaded, freshly forked) process to its view of the files (see the module).

    The capabilities go first: a worker running as root would otherwise keep powers no file view bounds (loading
    a kernel module; reading another process's /proc files, which Landlock leaves to a holder of CAP_SYS_PTRACE).
    """
    if os.uname().sysname != "Linux":  # neither Landlock nor Linux's capabilities
        return
    drop_capabilities()
    with contextlib.suppress(landlock.LandlockUnavailable):  # the parent said so (``warn_once_without_landlock``)
        landlock.restrict(file_rules(readable, scratch), landlock.Scope.SIGNAL | landlock.Scope.ABSTRACT_UNIX_SOCKET)


class _CapabilityHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapabilitySets(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32))


def drop_capabilities() -> None:
    """Give up every capability, for good: neither this process nor a program it runs has any afterwards."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for capability in range(last + 1):
        libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)  # refused without CAP_SETPCAP, where there is none to drop
    empty = (_CapabilitySets * 2)()
    if libc.capset(ctypes.byref(_CapabilityHeader(CAPABILITY_VERSION_3, 0)), empty) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")
