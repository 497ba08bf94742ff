"""Take network access away from a process: defense in depth for query workers.

The SPARQL guard (:mod:`kg.sparql_guard`) refuses ``SERVICE`` and ``LOAD``
before a query runs. Should a request ever get past it (two parsers that
disagree on a detail nobody has thought of yet), the engine would open a
connection from the server's machine: to another host, or to a service on
127.0.0.1 that trusts local callers. Query workers therefore call
:func:`isolate_network` first thing: on Linux the process moves into a network
namespace of its own, which holds only a loopback interface that is down, so
every ``connect()`` fails (``ENETUNREACH``) and every name lookup fails too.

* As root (or with ``CAP_SYS_ADMIN``), ``unshare(CLONE_NEWNET)`` is enough.
* Otherwise a user namespace comes first (``CLONE_NEWUSER | CLONE_NEWNET``,
  as ``unshare --net --map-user=$(id -u)`` does); the process keeps its own
  uid and gid, mapped 1:1, so it reads the store's files exactly as before.
  Debian and Ubuntu allow unprivileged user namespaces by default; a kernel
  with ``kernel.unprivileged_userns_clone=0`` (or an AppArmor rule, or a
  container's seccomp profile) refuses them.

The pipe to the serving process is a socket pair made before the move, so it
keeps working. Python 3.11 has no ``os.unshare`` (3.12 does): the call goes
through libc with ctypes, and this module is small enough that a dependency
(python-prctl, pyroute2) would not earn its place.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000


def _unshare(flags: int) -> int:
    """libc unshare(2): 0 on success, else the errno."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    if libc.unshare(ctypes.c_int(flags)) == 0:
        return 0
    return ctypes.get_errno()


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def isolate_network() -> str | None:
    """Move the calling process into a network namespace with no usable interface.

    Returns None when the process can no longer reach any network, else why
    not (the caller reports it; nothing is raised). Call it before the process
    starts threads: the kernel refuses a new user namespace to a threaded process.
    """
    if not sys.platform.startswith("linux"):
        return f"network namespaces exist on Linux only (this is {sys.platform})"
    errno_root = _unshare(CLONE_NEWNET)
    if errno_root == 0:
        return None
    uid, gid = os.getuid(), os.getgid()
    errno_user = _unshare(CLONE_NEWUSER | CLONE_NEWNET)
    if errno_user != 0:
        return (
            f"the kernel refused a network namespace ({os.strerror(errno_root)}) and an unprivileged "
            f"user namespace ({os.strerror(errno_user)})"
        )
    try:  # keep our own identity inside the new user namespace
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError:
        # The network is gone already, which is what this function promises;
        # without the mapping, files look owned by nobody, and a store that
        # then fails to open says so itself.
        pass
    return None
