"""Keeping an eye on a submission's processes from outside: its own user, its memory, the end.

- :class:`UidSlot` gives each running submission an unprivileged user id of its own (when the
  grader runs as root), reserved with a lock file so that concurrent graders on one machine never
  share one. ``RLIMIT_NPROC`` then counts that submission's processes only, and
  :func:`kill_user` can end every process it started, wherever it hid.
- :class:`Watchdog` adds up the memory of all processes below the grader's pytest (the sandbox's
  kernel and anything it forked): per-process limits cannot bound a fork bomb that allocates in
  every child. Resident memory is the cheap first test; when it is over the limit, the
  proportional set size (shared pages split among their users) decides.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

__all__ = ["can_switch_users", "UidSlot", "kill_user", "processes_of", "stray_processes", "descendants", "kill_tree", "Watchdog"]

UID_BASE = int(os.environ.get("CVBOOK_GRADE_UID_BASE", "3500000"))
UID_COUNT = 1000
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _lock_dir() -> Path:
    base = Path("/run/lock") if os.access("/run/lock", os.W_OK) else Path("/tmp")
    path = base / "cvbook-grade-uids"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def can_switch_users() -> bool:
    """Whether this process may run submissions as the sandbox users: root, with their ids mapped
    (inside a user namespace that maps only root, as ``unshare -r`` makes, it may not)."""
    if os.geteuid() != 0:
        return False
    try:
        with open("/proc/self/uid_map") as f:
            ranges = [tuple(map(int, line.split())) for line in f if line.strip()]
    except OSError:
        return True
    return any(inside <= UID_BASE and UID_BASE + UID_COUNT <= inside + count for inside, _, count in ranges)


class UidSlot:
    """``with UidSlot() as uid``: a free sandbox user id while inside (``None`` unless
    :func:`cvbook.grade.watch.can_switch_users`)."""

    def __init__(self) -> None:
        self.uid: int | None = None
        self._fd: int | None = None

    def __enter__(self) -> int | None:
        if not can_switch_users():
            return None
        lock_dir = _lock_dir()
        start = (os.getpid() * 7919) % UID_COUNT
        for k in range(UID_COUNT):
            uid = UID_BASE + (start + k) % UID_COUNT
            fd = os.open(lock_dir / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            if processes_of(uid):  # left over by a grader that was killed: end them first
                kill_user(uid)
            self.uid, self._fd = uid, fd
            return uid
        raise RuntimeError(f"all {UID_COUNT} sandbox user ids from {UID_BASE} are in use")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self.uid is not None:
            kill_user(self.uid)
        if self._fd is not None:
            os.close(self._fd)
        self.uid = self._fd = None


def _proc_files(name: str) -> Iterator[tuple[int, bytes]]:
    """``(pid, contents of /proc/pid/name)`` for every process that is still there to be read."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/{name}", "rb") as f:
                    yield int(entry.name), f.read()
            except OSError:
                continue  # ended while we looked


def _live_processes_by_uid() -> dict[int, list[int]]:
    """Real user id -> the live (not zombie) processes it owns."""
    by_uid: dict[int, list[int]] = {}
    for pid, status in _proc_files("status"):
        state = re.search(rb"^State:\s+(\S)", status, re.MULTILINE)
        real = re.search(rb"^Uid:\s+(\d+)", status, re.MULTILINE)
        if real and not (state and state.group(1) in (b"Z", b"X")):
            by_uid.setdefault(int(real.group(1)), []).append(pid)
    return by_uid


def processes_of(uid: int) -> list[int]:
    """The live (not zombie) processes whose real user id is ``uid``."""
    return _live_processes_by_uid().get(uid, [])


def stray_processes() -> dict[int, list[int]]:
    """Processes of sandbox users that no grader holds at the moment (there should be none)."""
    stray = {}
    for uid, pids in _live_processes_by_uid().items():
        if not UID_BASE <= uid < UID_BASE + UID_COUNT:
            continue
        fd = os.open(_lock_dir() / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a running grader's sandbox
        finally:
            os.close(fd)
        stray[uid] = pids
    return stray


def kill_user(uid: int, attempts: int = 20) -> bool:
    """SIGKILL every process of ``uid``: a child of ours becomes that user and sends ``kill(-1)``,
    which reaches all of its processes, in any namespace below ours. True when none is left."""
    for _ in range(attempts):
        if not processes_of(uid):
            return True
        child = os.fork()
        if child == 0:  # only system calls here: this process may have other threads
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        time.sleep(0.05)
    return not processes_of(uid)


def _table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, resident pages) of every process."""
    table = {}
    for pid, stat in _proc_files("stat"):
        fields = stat[stat.rfind(b")") + 2:].split()  # after the command name, which may hold spaces
        table[pid] = (int(fields[1]), int(fields[21]))
    return table


def descendants(root: int, table: dict[int, tuple[int, int]] | None = None) -> list[int]:
    """Every process below ``root`` (not ``root`` itself)."""
    table = _table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, stack = [], list(children.get(root, []))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def kill_tree(root: int, include_root: bool = False) -> None:
    """SIGKILL every process below ``root`` (and ``root``), repeating until none is left."""
    for _ in range(20):
        pids = descendants(root) + ([root] if include_root else [])
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if include_root:
            include_root = False
        time.sleep(0.05)


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Watchdog:
    """Memory and process count of the processes below ``root``, and of a shared folder."""

    def __init__(self, root: int, memory_bytes: int, processes: int, folder: Path, folder_bytes: int = 64 * 2**20):
        self.root, self.memory_bytes, self.processes = root, memory_bytes, processes
        self.folder, self.folder_bytes = folder, folder_bytes
        self._last_folder_check = 0.0
        self._last_pss = 0.0  # proportional set sizes cost ~20 ms per torch process: at most once a second

    def over(self) -> str | None:
        """Why the sandbox must be stopped now (``memory``, ``processes``, ``disk``), or None."""
        table = _table()
        pids = descendants(self.root, table)
        now = time.monotonic()
        resident = sum(table[pid][1] for pid in pids) * _PAGE
        if resident > self.memory_bytes and now - self._last_pss >= 1.0:
            # forked children share pages that resident sizes count once per process: look closer
            self._last_pss = now
            resident = sum(_pss(pid) for pid in pids)
            if resident > self.memory_bytes:
                return "memory"
        if len(pids) > self.processes + 8:
            return "processes"
        if now - self._last_folder_check > 2.0:
            self._last_folder_check = now
            total = 0
            for k, entry in enumerate(os.scandir(self.folder)):
                if k > 1000:
                    return "disk"
                try:
                    total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
            if total > self.folder_bytes:
                return "disk"
        return None
