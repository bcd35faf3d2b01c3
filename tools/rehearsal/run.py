"""Run one notebook in the full profile against the stand-ins; write what happened as JSON.

Usage (normally through :func:`rehearse`, which wraps it in a network namespace)::

    python tools/rehearsal/run.py NOTEBOOK --standins DIR --torch-home DIR --work DIR [--netns]

In the namespace (``--netns``) the loopback interface is brought up first. Then an HTTP server
on 127.0.0.1 serves the dataset stand-ins, a ``CVBOOK_SOURCES`` table points there, and a
fresh kernel executes a copy of the notebook (never written back) with the full profile, the
caps and the guard (``guard/sitecustomize.py``). The result, ``WORK/result.json``, lists
each failed cell, each failed ``assert`` (recorded, not fatal: a capped run cannot reach
the targets), each refused network access, the wall and CPU seconds, and per-cell seconds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from rehearsal import datasets  # noqa: E402

#: The caps of a rehearsal run: full-size models and inputs, one optimiser step per fit, a handful of items.
#: 16 items: chapters show grids of the first 16 images; VOC 2007 keeps 32 because chapter 10
#: drops incomplete batches of 32, and so does chapter 15 for Oxford-IIIT Pet; MNIST keeps 64 for
#: chapter 17's PCA of up to 32 components; Penn-Fudan keeps 1 image per split: chapters 12 and 16 train
#: a Faster/Mask R-CNN at 800 pixels on it (a training step on CPU takes about 13 s per image, and the
#: code path is the same for a batch of one: a list of images); the generated face scenes keep 8 (chapter
#: 12 shows scenes 0-3 and runs two detectors over every scene, upright and tilted: about 0.3 s a scene).
CAPS = {"CVBOOK_MAX_STEPS": "1", "CVBOOK_MAX_BATCH": "2",
        "CVBOOK_MAX_ITEMS": "16,generated=64,face-scenes=8,mnist=64,voc2007=32,oxford-iiit-pet=32,penn-fudan=1"}
ALLOWED_ERRORS = ["AssertionError"]
CELL_TIMEOUT_S = 900
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def bring_loopback_up() -> None:
    """``ip link set lo up`` without iproute2: SIOCSIFFLAGS on ``lo`` (allowed in our own namespace)."""
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, siocgifflags, request)[:18])[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))


def netns_available() -> bool:
    """Whether ``unshare -rn`` (a user and network namespace, no privileges needed) works here, with
    a loopback interface that can be brought up and connected to."""
    if shutil.which("unshare") is None:
        return False
    probe = ("import socket, sys; sys.path.insert(0, sys.argv[1]); from rehearsal.run import bring_loopback_up; "
             "bring_loopback_up(); s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
             "socket.create_connection(s.getsockname(), timeout=5).close()")
    try:
        done = subprocess.run(["unshare", "-rn", sys.executable, "-c", probe, str(HERE.parent)],
                              capture_output=True, timeout=60)
        return done.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def kernel_environment(work: Path, table: Path, torch_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CAPS)
    env.update({
        "CVBOOK_PROFILE": "full",
        "CVBOOK_SOURCES": str(table),
        "CVBOOK_DATA": str(work / "data"),
        "TORCH_HOME": str(torch_home),
        "CVBOOK_REHEARSAL_NETLOG": str(work / "network.jsonl"),
        "PYTHONPATH": os.pathsep.join([str(HERE / "guard"), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",  # figures are drawn, as in Colab
        "HF_HUB_OFFLINE": "1",
    })
    return env


def _seconds(cell) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = lambda t: datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
    return round((parse(end) - parse(start)).total_seconds(), 2)


def _stop_unless_allowed(cell, cell_index: int, execute_reply: dict) -> None:
    """nbclient's ``on_cell_error`` hook: an error other than ALLOWED_ERRORS ends the run, as a failed cell."""
    from nbclient.exceptions import CellExecutionError

    if execute_reply["content"].get("ename") not in ALLOWED_ERRORS:
        raise CellExecutionError.from_cell_and_msg(cell, execute_reply["content"])


def execute(notebook: Path, work: Path, standins: Path, torch_home: Path) -> dict:
    """Execute a copy of ``notebook`` as described in the module docstring; returns the result dict."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    work.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(notebook, as_version=4)
    result: dict = {"notebook": str(notebook), "failed": None, "assertions": [], "network": []}
    start, cpu_start = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    with datasets.serve(standins) as base_url:
        table = work / "sources.json"
        table.write_text(json.dumps(datasets.local_table(standins, base_url), indent=1))
        try:
            # allow_errors with a hook that stops on the others, not allow_error_names: that one makes
            # nbclient ask the kernel to stop on error, and Colab's ipykernel (6.17) then aborts requests
            # until a call_later(0) callback has run; under Python 3.13 the next cell's request came
            # first, so the cell after an allowed AssertionError was aborted unrun.
            # shutdown_kernel="immediate": the kernel is killed after its last cell, as nbval does, instead
            # of tearing down the interpreter (about 1 s of CPU with torch loaded); nothing it writes is
            # left unflushed (the guard appends each refused access as it happens).
            client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
                                    on_cell_error=_stop_unless_allowed, shutdown_kernel="immediate",
                                    resources={"metadata": {"path": str(work)}})
            client.execute(env=kernel_environment(work, table, torch_home))
        except CellExecutionError as e:
            result["failed"] = ANSI.sub("", str(e))[-3000:]
        except Exception as e:  # a kernel that died, a timeout: as fatal as a failed cell
            result["failed"] = f"{type(e).__name__}: {e}"[-3000:]
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["cpu_seconds"] = round(cpu.ru_utime + cpu.ru_stime - cpu_start.ru_utime - cpu_start.ru_stime, 1)
    result["cells"] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        result["cells"].append({"id": cell.get("id"), "seconds": _seconds(cell)})
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") in ALLOWED_ERRORS:
                message = ANSI.sub("", out.get("evalue") or "")[:300]
                result["assertions"].append({"cell": cell.get("id"), "message": message})
    log = work / "network.jsonl"
    if log.exists():
        result["network"] = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    nbformat.write(nb, work / notebook.name)  # the executed copy, for inspection
    return result


def problems(result: dict) -> list[str]:
    """What makes a rehearsal result a failure: a refused network access, or a cell that raised
    anything but an ``AssertionError``. An empty list is a pass."""
    found = []
    for attempt in result["network"][:5]:
        found.append(f"tried the network: {attempt['what']} {attempt['target']} (pid {attempt['pid']}), from\n    "
                     + "\n    ".join(attempt["stack"][-5:]))
    if result["failed"] is not None:
        found.append(f"a cell failed:\n{result['failed']}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--standins", type=Path, required=True)
    parser.add_argument("--torch-home", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--netns", action="store_true", help="inside `unshare -rn`: bring loopback up first")
    args = parser.parse_args(argv)
    if args.netns:
        bring_loopback_up()
    result = execute(args.notebook.resolve(), args.work.resolve(), args.standins.resolve(), args.torch_home.resolve())
    result["netns"] = args.netns
    (args.work / "result.json").write_text(json.dumps(result, indent=1))
    return 0


def rehearse(notebook: Path, work: Path, standins: Path, torch_home: Path, *, netns: bool | None = None) -> dict:
    """Run :func:`main` for ``notebook`` in a fresh process, in a loopback-only network namespace
    when the system allows one (``netns=None``: detect), and return its result."""
    netns = netns_available() if netns is None else netns
    command = [sys.executable, str(Path(__file__).resolve()), str(notebook), "--standins", str(standins),
               "--torch-home", str(torch_home), "--work", str(work)]
    if netns:
        command = ["unshare", "-rn", *command, "--netns"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE / "guard"), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["CVBOOK_REHEARSAL_NETLOG"] = str(Path(work).resolve() / "network.jsonl")
    shutil.rmtree(work, ignore_errors=True)  # a fresh CVBOOK_DATA: every dataset is downloaded again
    work.mkdir(parents=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not (work / "result.json").exists():
        raise RuntimeError(f"the rehearsal of {notebook} did not finish (exit {done.returncode}):\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads((work / "result.json").read_text())


if __name__ == "__main__":
    sys.exit(main())
