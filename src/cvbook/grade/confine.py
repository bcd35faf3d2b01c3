"""The last step into the sandbox, run as ``python -I -S confine.py OPTIONS -- COMMAND...``.

It runs inside the new namespaces (those of bubblewrap, or of ``unshare`` for the fallback
sandbox) and, before it replaces itself with COMMAND (the kernel):

1. with ``--hide-filesystem`` (the fallback sandbox, as root): mounts an empty tmpfs over every
   top-level directory except the system ones (``/usr``, ``/lib*``, ``/bin``, ...), then binds
   back, read-only, the ``--keep`` paths the kernel needs (the Python installation, the virtual
   environment, the cvbook package) and, writable, the ``--keep-writable`` ones; ``/etc`` becomes
   a read-only tmpfs that holds only the ``--etc`` entries (bound read-only, symbolic links
   copied), the ones bubblewrap's sandbox binds too, so that neither shows more of ``/etc``; a
   size-limited tmpfs becomes ``/tmp``, ``/dev/shm`` and the ``--home`` folder; ``/proc`` is
   mounted anew for the new process namespace, and this process stays as its reaper (PID 1);
2. sets the resource limits (``--nproc``, ``--nofile``, ``--data``, ``--as``, ``--fsize``,
   ``--core`` 0) and starts a new session (its own process group);
3. as root: drops to ``--uid``/``--gid`` (no supplementary groups, no capabilities) and sets
   ``no_new_privs``, so the process limit counts this sandbox's processes only and root-owned
   files stay read-only.

It only uses the standard library, and is started with ``-I -S`` so that nothing from the
environment or ``site`` runs before the limits are in place.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import signal
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
SYSTEM_DIRS = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "proc", "dev"}  # and /etc, narrowed

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda s: None if s is None else s.encode()  # noqa: E731
    if _libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source or fstype} on {target}: {os.strerror(errno)}")


def _bind_back(path: str, fd: int, can_write: bool) -> None:
    """Bind what ``fd`` (``O_PATH``, opened before the tmpfs covered it) names at ``path`` again."""
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "a").close()
    _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
    if not can_write:
        _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.close(fd)


def _hide_filesystem(keep: list[str], writable: list[str], home: str, scratch_bytes: int, etc: list[str]) -> None:
    """Empty tmpfs over the non-system top-level directories, then the kept paths bound back;
    ``/etc`` holds only the ``etc`` entries."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    kept = [(path, os.open(path, os.O_PATH), False) for path in keep if os.path.exists(path)]
    kept += [(path, os.open(path, os.O_PATH), True) for path in writable]
    etc_links = {name: os.readlink(f"/etc/{name}") for name in etc if os.path.islink(f"/etc/{name}")}
    etc_kept = [(f"/etc/{name}", os.open(f"/etc/{name}", os.O_PATH), False) for name in etc
                if name not in etc_links and os.path.exists(f"/etc/{name}")]
    for name in sorted(os.listdir("/")):
        path = "/" + name
        if name in SYSTEM_DIRS or os.path.islink(path) or not os.path.isdir(path):
            continue
        if name == "tmp":
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={scratch_bytes},mode=1777")
        else:
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for name, target in etc_links.items():
        os.symlink(target, f"/etc/{name}")
    for path, fd, can_write in etc_kept:
        _bind_back(path, fd, can_write)
    _mount(None, "/etc", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for path, fd, can_write in kept:
        _bind_back(path, fd, can_write)
    os.makedirs(home, exist_ok=True)
    _mount("tmpfs", home, "tmpfs", MS_NOSUID | MS_NODEV, f"size={scratch_bytes},mode=0777")
    _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV)


def _reap_until(child: int) -> int:
    """As PID 1 of the namespace: reap every orphan until ``child`` exits; its exit status."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda s, _f: os.kill(child, s))
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 1
        if pid == child:
            return os.waitstatus_to_exitcode(status) % 256


def _limit(kind: int, value: int) -> None:
    soft, hard = resource.getrlimit(kind)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(kind, (value, value))


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print("usage: confine.py OPTIONS -- COMMAND...", file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="confine.py")
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    parser.add_argument("--nproc", type=int, required=True)
    parser.add_argument("--nofile", type=int, required=True)
    parser.add_argument("--data", type=int, required=True, help="bytes")
    parser.add_argument("--as", dest="address_space", type=int, required=True, help="bytes")
    parser.add_argument("--fsize", type=int, required=True, help="bytes")
    parser.add_argument("--hide-filesystem", action="store_true")
    parser.add_argument("--keep", action="append", default=[])
    parser.add_argument("--keep-writable", action="append", default=[])
    parser.add_argument("--etc", action="append", default=[], help="an entry of /etc to keep (with --hide-filesystem)")
    parser.add_argument("--home", default="/tmp")
    parser.add_argument("--scratch", type=int, default=256 * 2**20, help="bytes of each tmpfs")
    options = parser.parse_args(argv[:split])
    command = argv[split + 1:]

    if options.hide_filesystem:
        _hide_filesystem(options.keep, options.keep_writable, options.home, options.scratch, options.etc)
        if os.getpid() == 1:
            child = os.fork()
            if child:
                return _reap_until(child)
    os.chdir(options.home)
    for kind, value in ((resource.RLIMIT_NPROC, options.nproc), (resource.RLIMIT_NOFILE, options.nofile),
                        (resource.RLIMIT_DATA, options.data), (resource.RLIMIT_AS, options.address_space),
                        (resource.RLIMIT_FSIZE, options.fsize), (resource.RLIMIT_CORE, 0)):
        _limit(kind, value)
    try:
        os.setsid()
    except PermissionError:  # already a session leader
        pass
    if options.uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(options.gid, options.gid, options.gid)
        os.setresuid(options.uid, options.uid, options.uid)
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    os.execv(command[0], command)
    return 127


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
