"""Where a submission's kernel runs: a bubblewrap sandbox, or the ``unshare`` fallback.

Both give the kernel new process, network, IPC and mount namespaces (so: no network at all, not
even 127.0.0.1 of the machine; no view of other processes; everything it starts dies with it),
a read-only view of the Python installation, the virtual environment and the cvbook package
only (no lab sources, submissions or gradebooks), size-limited writable tmpfs folders (its home,
``/tmp``, ``/dev/shm``), resource limits, and, when the grader runs as root, an unprivileged user
of its own. They differ in how the file system is narrowed:

- **bubblewrap** (``bwrap``, Debian package ``bubblewrap``) builds the kernel's file system from
  an allow-list of read-only binds;
- **unshare** (util-linux, needs root) starts from the machine's file system and covers every
  non-system top-level directory with an empty tmpfs, then binds back what the kernel needs
  (:mod:`cvbook.grade.confine` does the mounting).

Both show the kernel the same few entries of ``/etc`` (``ETC``: the dynamic linker's cache, the
time zone, fonts, ``localhost``), never the rest (the machine's users, its configuration).

The kernel's last step in is ``confine.py`` (limits, user, ``exec``). :func:`choose` picks a
sandbox and proves it works before any submission is graded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .watch import can_switch_users

__all__ = ["Limits", "Sandbox", "SandboxError", "available", "choose", "run_confined", "KINDS", "HOME", "USER", "ETC"]

KINDS = ("bubblewrap", "unshare")
USER = "student"  # the kernel's user name (USER, LOGNAME), whatever its user id
HOME = "/home/student"  # the kernel's home and working folder inside bubblewrap
# The entries of /etc a kernel sees, in both sandboxes. Found by trying: with an empty /etc, the
# book's stack (torch, torchvision, ipykernel, matplotlib, PIL, scipy, scikit-image, scikit-learn,
# pycocotools) imports and runs, and only fontconfig complains (on stderr, when pyplot is imported);
# added, what a library may need on other machines: the dynamic linker's cache (libraries outside
# its default folders), Debian's alternatives (a system BLAS), the time zone, "localhost" resolving.
# Not the machine's users (passwd, group: USER and LOGNAME name the kernel's user) nor its TLS
# certificates (the kernel has no network).
ETC = ("ld.so.cache", "alternatives", "localtime", "timezone", "fonts", "nsswitch.conf", "hosts")
_TOP_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_CONFINE = Path(__file__).with_name("confine.py")


class SandboxError(Exception):
    """No sandbox can run here, or it would expose what it must hide; the message says why."""


@dataclass(frozen=True)
class Limits:
    """What one submission may use."""

    cell_timeout: float = 60.0
    notebook_timeout: float = 600.0
    memory_mb: int = 2048  # per process (RLIMIT_DATA); all its processes together: total_memory_mb (watched)
    processes: int = 64  # processes and threads of the sandbox user (RLIMIT_NPROC)
    open_files: int = 256
    file_mb: int = 64  # largest file it may write (RLIMIT_FSIZE)
    scratch_mb: int = 256  # size of each writable tmpfs: home, /tmp
    output_bytes: int = 1_000_000  # printed output kept per cell

    @property
    def total_memory_mb(self) -> int:
        """What all the submission's processes may hold together (a fork bomb's children included)."""
        return self.memory_mb + max(512, self.memory_mb // 2)

    @property
    def address_space_bytes(self) -> int:
        """The address-space limit (``RLIMIT_AS``): the memory limit plus room for the libraries torch maps."""
        return (self.memory_mb + 6144) * 2**20

    def describe(self) -> str:
        return (f"{self.cell_timeout:g} s per cell, {self.notebook_timeout:g} s per notebook, "
                f"{self.memory_mb} MB of memory per process and {self.total_memory_mb} MB in all, {self.processes} processes and threads, {self.open_files} open files, "
                f"files up to {self.file_mb} MB, {self.scratch_mb} MB of scratch space, no network")


def _kernel_paths(python: str) -> list[str]:
    """What the kernel's Python reads: its prefixes and the directories on its ``sys.path``."""
    probe = ("import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, "
             "sys.base_exec_prefix, *sys.path]))")
    out = subprocess.run([python, "-I", "-c", probe], capture_output=True, text=True, check=True, timeout=60).stdout
    paths: list[str] = []
    for entry in json.loads(out):
        path = os.path.realpath(entry)
        if entry and os.path.isdir(path) and not any(path == p or path.startswith(p + os.sep) for p in paths):
            paths = [p for p in paths if not p.startswith(path + os.sep)] + [path]
    prefix = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    if prefix not in paths:  # a virtual environment's bin/ (its python is a symlink into base_prefix)
        paths.append(prefix)
    data = os.environ.get("CVBOOK_DATA", os.path.expanduser("~/.cache/cvbook"))
    if os.path.isdir(data):
        paths.append(os.path.realpath(data))
    return sorted(paths)


@dataclass(frozen=True)
class Sandbox:
    """A way to start a confined kernel."""

    kind: str
    python: str
    keep: tuple[str, ...]  # read-only paths the kernel needs
    profile: str = "quick"

    def ensure_hidden(self, *paths: Path) -> None:
        """Refuse to grade when a path the kernel must not see lies in what it sees."""
        for path in paths:
            real = os.path.realpath(path)
            for kept in self.keep:
                if real == kept or real.startswith(kept + os.sep):
                    raise SandboxError(f"{path} is inside {kept}, which the kernel must read (it holds Python or the "
                                       "cvbook package): move it elsewhere, or install cvbook from a folder without "
                                       "lab sources, submissions or results")

    def environment(self, home: str) -> dict[str, str]:
        bindir = os.path.dirname(os.path.abspath(self.python))
        # USER and LOGNAME: the sandbox users have no entry in /etc/passwd, and without them
        # getpass.getuser() raises (OSError on Python 3.13, KeyError before); torch 2.11 calls it,
        # unguarded, when torchvision imports torch._dynamo (for its compile cache's folder name), so
        # `import torchvision` failed in the sandbox (torch 2.14 catches it).
        env = {"HOME": home, "USER": USER, "LOGNAME": USER, "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin",
               "LANG": "C.UTF-8", "TMPDIR": "/tmp",
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "CVBOOK_PROFILE": self.profile, "MPLBACKEND": "module://matplotlib_inline.backend_inline",
               "MPLCONFIGDIR": f"{home}/.matplotlib", "CVBOOK_DATA": f"{home}/data"}
        data = os.environ.get("CVBOOK_DATA", os.path.expanduser("~/.cache/cvbook"))
        if os.path.realpath(data) in self.keep:
            env["CVBOOK_DATA"] = os.path.realpath(data)
        return env

    def argv(self, command: list[str], runtime: Path, home: Path, limits: Limits, uid: int | None) -> list[str]:
        """The command line that runs ``command`` confined; ``runtime`` is shared with the grader
        (connection file and sockets), ``home`` is where the fallback mounts the kernel's home."""
        confine = [self.python, "-I", "-S", str(_CONFINE),
                   "--nproc", str(limits.processes), "--nofile", str(limits.open_files),
                   "--data", str(limits.memory_mb * 2**20), "--as", str(limits.address_space_bytes),
                   "--fsize", str(limits.file_mb * 2**20), "--scratch", str(limits.scratch_mb * 2**20)]
        if uid is not None:
            confine += ["--uid", str(uid), "--gid", str(uid)]
        scratch = str(limits.scratch_mb * 2**20)
        if self.kind == "bubblewrap":
            args = ["bwrap", "--die-with-parent", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                    "--unshare-cgroup-try", "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
            for name in _TOP_LINKS:
                path = "/" + name
                if os.path.islink(path):
                    args += ["--symlink", os.readlink(path), path]
                elif os.path.isdir(path):
                    args += ["--ro-bind", path, path]
            args += ["--perms", "0755", "--dir", "/etc"]  # else 0700 as made for the binds: unreadable to the kernel
            for name in ETC:
                args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
            made = {"/", "/usr"}

            def bind(option: str, path: str) -> list[str]:
                """A bind whose parents are made traversable (bubblewrap copies e.g. /root's 0700)."""
                parents = [str(p) for p in reversed(Path(path).parents) if str(p) not in made]
                made.update([*parents, path])
                return [arg for parent in parents for arg in ("--perms", "0755", "--dir", parent)] + [option, path, path]

            args += ["--proc", "/proc", "--dev", "/dev",
                     "--perms", "1777", "--size", "67108864", "--tmpfs", "/dev/shm",
                     "--perms", "1777", "--size", scratch, "--tmpfs", "/tmp",
                     "--perms", "0777", "--size", scratch, "--tmpfs", HOME]
            made.update(["/tmp", HOME])
            for path in self.keep:  # after the tmpfs mounts, which would hide a Python kept under /tmp
                args += bind("--ro-bind", path)
            args += bind("--bind", str(runtime)) + ["--chdir", HOME, "--clearenv"]
            for key, value in self.environment(HOME).items():
                args += ["--setenv", key, value]
            if uid is not None:
                args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
            return args + confine + ["--home", HOME, "--"] + command
        env = [f"{key}={value}" for key, value in self.environment(str(home)).items()]
        hide = ["--hide-filesystem", "--home", str(home), "--keep-writable", str(runtime)]
        for path in self.keep:
            hide += ["--keep", path]
        for name in ETC:
            hide += ["--etc", name]
        return (["unshare", "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child", "--propagation", "private",
                 "--", "/usr/bin/env", "-i", *env] + confine + hide + ["--"] + command)

    def kernelspec(self, runtime: Path, home: Path, limits: Limits, uid: int | None) -> dict:
        """A Jupyter kernel spec whose kernel runs in this sandbox."""
        command = [self.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        return {"argv": self.argv(command, runtime, home, limits, uid), "display_name": f"cvbook-grade ({self.kind})",
                "language": "python", "interrupt_mode": "message", "metadata": {"debugger": False}}


def available(kind: str) -> str | None:
    """Why ``kind`` cannot run here, or None."""
    if not sys.platform.startswith("linux"):
        return "grading needs Linux namespaces"
    if kind == "bubblewrap" and shutil.which("bwrap") is None:
        return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    if kind == "unshare":
        if shutil.which("unshare") is None:
            return "unshare (util-linux) is not installed"
        if not can_switch_users():
            return "the unshare sandbox needs root (with the sandbox users' ids mapped); install bubblewrap"
    return None


# Sandboxes whose trial run passed in this process: a second choice of the same one (an instructor's
# script grading lab after lab, the tests) skips the trial, which imports torch in a fresh kernel.
_TRIED: set[Sandbox] = set()


def choose(kind: str = "auto", python: str | None = None, profile: str = "quick") -> Sandbox:
    """The sandbox to grade in (``auto``: bubblewrap when it works, else unshare), after a trial run
    that checks that the kernel's Python starts inside it and has no network (once per process)."""
    python = python or sys.executable
    kinds = KINDS if kind == "auto" else (kind,)
    if kind not in (*KINDS, "auto"):
        raise SandboxError(f"unknown sandbox {kind!r}; choose one of: auto, {', '.join(KINDS)}")
    reasons = []
    for candidate in kinds:
        reason = available(candidate)
        if reason is None:
            sandbox = Sandbox(candidate, python, tuple(_kernel_paths(python)), profile)
            reason = None if sandbox in _TRIED else _trial(sandbox)
            if reason is None:
                _TRIED.add(sandbox)
                return sandbox
        reasons.append(f"{candidate}: {reason}")
    raise SandboxError("no sandbox can run here. " + "; ".join(reasons))


def run_confined(sandbox: Sandbox, code: str, limits: Limits | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the Python ``code`` in ``sandbox`` (as a sandbox user when the grader is root), with its
    output captured: the trial run, and the tests' probes of what a kernel sees."""
    import tempfile

    from .watch import UidSlot

    with tempfile.TemporaryDirectory(prefix="cvbook-grade-trial-") as tmp, UidSlot() as uid:
        runtime, home = Path(tmp, "rt"), Path(tmp, "home")
        runtime.mkdir()
        home.mkdir()
        if uid is not None:
            os.chown(runtime, uid, uid)
        argv = sandbox.argv([sandbox.python, "-c", code], runtime, home, limits or Limits(), uid)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, start_new_session=True)


def _trial(sandbox: Sandbox) -> str | None:
    # torch (its libraries load in the sandbox) and getpass.getuser(), which torch's compiler calls when a
    # lab imports torchvision and which raises for a user without a name; not torchvision itself (1.5 s more)
    probe = ("import getpass, socket, os, torch, ipykernel\n"
             "getpass.getuser()\n"
             "s = socket.socket(); s.settimeout(1)\n"
             "try:\n    s.connect(('1.1.1.1', 53)); print('network')\n"
             "except OSError:\n    print('ok', os.getuid())\n")
    try:
        result = run_confined(sandbox, probe)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the trial run failed ({error})"
    if result.stdout.strip().split()[:1] != ["ok"]:
        detail = (result.stderr.strip().splitlines() or [result.stdout.strip() or f"exit status {result.returncode}"])[-1]
        return f"the trial run failed: {detail}"
    return None
