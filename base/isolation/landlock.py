"""Landlock: a process gives up every file access but the ones it names, for itself and all it starts.

Landlock is the kernel's own unprivileged sandbox (Linux 5.13 and later): no helper binary, no root and no
user namespace, so it holds for a validator running as an ordinary user as it does here. A restriction
applies to the calling thread and to every process it starts later, and nothing lifts it again. The kernel
also keeps a restricted process from tracing, or reading the ``/proc`` files of, a process outside its
sandbox (another process's environment, memory or open files), unless it holds CAP_SYS_PTRACE.

Each kernel speaks an ABI version; rights a kernel does not know are left out, so every right the kernel
has is enforced and the older ones still hold where the newer ones are missing.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path

# The same numbers on every architecture but alpha (they came after the syscall tables were unified).
SYS_CREATE_RULESET = 444
SYS_ADD_RULE = 445
SYS_RESTRICT_SELF = 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38
# What a kernel answers when it has no Landlock: not built in, disabled at boot, or refused by a seccomp filter.
UNAVAILABLE = (errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM)


class Access(enum.IntFlag):
    """File access rights (``LANDLOCK_ACCESS_FS_*``)."""

    EXECUTE = 1 << 0
    WRITE_FILE = 1 << 1
    READ_FILE = 1 << 2
    READ_DIR = 1 << 3
    REMOVE_DIR = 1 << 4
    REMOVE_FILE = 1 << 5
    MAKE_CHAR = 1 << 6
    MAKE_DIR = 1 << 7
    MAKE_REG = 1 << 8
    MAKE_SOCK = 1 << 9
    MAKE_FIFO = 1 << 10
    MAKE_BLOCK = 1 << 11
    MAKE_SYM = 1 << 12
    REFER = 1 << 13  # ABI 2: link or rename a file into another folder
    TRUNCATE = 1 << 14  # ABI 3
    IOCTL_DEV = 1 << 15  # ABI 5: ioctl on a device file (a GPU driver's whole interface)


INTRODUCED_IN = {Access.REFER: 2, Access.TRUNCATE: 3, Access.IOCTL_DEV: 5}  # the ABI version; 1 for the others


class Scope(enum.IntFlag):
    """What a restricted process cannot reach outside its sandbox (``LANDLOCK_SCOPE_*``, ABI 6)."""

    ABSTRACT_UNIX_SOCKET = 1 << 0
    SIGNAL = 1 << 1


# The rights a rule on a file (rather than a folder) may carry.
FILE_ACCESS = Access.EXECUTE | Access.WRITE_FILE | Access.READ_FILE | Access.TRUNCATE | Access.IOCTL_DEV
READ = Access.READ_FILE | Access.READ_DIR
READ_EXECUTE = READ | Access.EXECUTE
DEVICE = Access.READ_FILE | Access.WRITE_FILE | Access.TRUNCATE | Access.IOCTL_DEV
READ_WRITE = (
    READ_EXECUTE
    | Access.WRITE_FILE
    | Access.REMOVE_DIR
    | Access.REMOVE_FILE
    | Access.MAKE_DIR
    | Access.MAKE_REG
    | Access.MAKE_SOCK
    | Access.MAKE_FIFO
    | Access.MAKE_SYM
    | Access.REFER
    | Access.TRUNCATE
)


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class LandlockUnavailable(OSError):
    """This kernel has no Landlock for this process."""


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _checked(result: int, what: str) -> int:
    if result < 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")
    return result


def abi_version() -> int:
    """The kernel's Landlock ABI version; raises ``LandlockUnavailable`` (with the reason) where there is none."""
    if os.uname().sysname != "Linux":
        raise LandlockUnavailable(errno.ENOSYS, "Landlock is Linux's")
    result = _libc().syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    number = ctypes.get_errno()
    if result < 0 and number in UNAVAILABLE:
        raise LandlockUnavailable(number, f"this kernel has no Landlock ({errno.errorcode[number]})")
    return _checked(result, "landlock_create_ruleset")


def known_access(abi: int) -> Access:
    """Every file right the given ABI version knows."""
    known = Access(0)
    for right in Access:
        if INTRODUCED_IN.get(right, 1) <= abi:
            known |= right
    return known


def restrict(rules: Mapping[Path, Access], scopes: Scope) -> int:
    """Allow this thread, and every process it starts, only ``rules``' access, each beneath its path.

    Paths that cannot be opened are left out; a rule on a file keeps only the rights a file can have. ``scopes``
    apply where the kernel has them (ABI 6). Call it while the process has a single thread: other threads keep
    their access. Returns the ABI version enforced; raises ``LandlockUnavailable`` where there is none.
    """
    abi = abi_version()
    handled = known_access(abi)
    attr = _RulesetAttr(int(handled), 0, int(scopes) if abi >= 6 else 0)
    libc = _libc()
    ruleset = _checked(
        libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0)),
        "landlock_create_ruleset",
    )
    try:
        for path, access in rules.items():
            _add_rule(libc, ruleset, path, access & handled)
        _checked(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        _checked(libc.syscall(SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi


def _add_rule(libc: ctypes.CDLL, ruleset: int, path: Path, access: Access) -> None:
    try:
        folder = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:  # a path that cannot be opened is one nothing needs to be allowed beneath
        return
    try:
        if not stat.S_ISDIR(os.fstat(folder).st_mode):
            access &= FILE_ACCESS
        if access:
            rule = _PathBeneathAttr(int(access), folder)
            _checked(
                libc.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0)),
                f"landlock_add_rule({path})",
            )
    finally:
        os.close(folder)
