"""The pytest plugin the grader adds to nbval (``pytest -p cvbook.grade.plugin --nbval-lax ...``).

nbval runs the rebuilt notebook and compares outputs; this plugin only adapts it to untrusted
code, without changing what passes:

- kernels talk over IPC (Unix sockets in ``$JUPYTER_RUNTIME_DIR``), so that a kernel in its own
  network namespace can still be reached, and a client socket refuses messages over 64 MB;
- output is capped: a cell keeps its first ``--grade-output-limit`` bytes of printed text, the
  rest is dropped with a note, so printing gigabytes cannot exhaust the grader's memory;
- a kernel that dies is noticed within half a second instead of at the cell timeout;
- the whole notebook has a time budget (``--grade-notebook-timeout``): each cell's timeout is
  cut to what remains, and cells after the budget fail at once;
- after every cell an empty execute request makes the kernel call :func:`cvbook.grade.seal.reset`
  as a ``user_expressions`` entry (IPython evaluates those without transformers or hooks, and,
  the request being empty and silent, whether or not the cell failed): it removes input
  transformers and the like that student code installed (IPython applies them before any hook of
  the next cell), and returns the ``check()`` calls of a check cell, which the JUnit property
  ``calls`` records (JSON ``[[passed, name, message], ...]``);
- stderr (warnings) is left out of the output comparison;
- JUnit properties record what happened (``kernel``, ``truncated``, ``budget``).

Reproducing a grade does not need this plugin: plain ``pytest --nbval-lax`` gives the same
pass/fail for every check of an ordinary submission.
"""

from __future__ import annotations

import ast
import os
import time
import uuid
from queue import Empty
from typing import Any

import pytest

from .rebuild import PROLOGUE_ID
from .seal import CUT_MARK

__all__ = ["KernelDied", "MAX_MESSAGE_BYTES"]

MAX_MESSAGE_BYTES = 64 * 2**20
# Evaluated by the kernel after each cell and its hooks, without input transformers (see seal.reset).
RESET_SEAL = "__import__('sys').modules.get('cvbook.grade.seal', __import__('types')).__dict__.get('reset', int)()"
_state: dict[str, Any] = {"start": time.monotonic(), "truncated": {}, "died": None}


class KernelDied(RuntimeError):
    """The kernel process ended while a cell was running."""


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("cvbook-grade", "cvbook grader")
    group.addoption("--grade-notebook-timeout", type=float, default=600.0,
                    help="seconds for the whole notebook, kernel start included")
    group.addoption("--grade-output-limit", type=int, default=1_000_000,
                    help="bytes of output kept per cell")


def _patch_nbval(output_limit: int) -> None:
    import zmq
    from jupyter_client.client import KernelClient
    from jupyter_client.manager import KernelManager
    from nbval import kernel as nbval_kernel
    from traitlets import CaselessStrEnum

    class IPCKernelManager(KernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        def _connection_file_default(self) -> str:
            from jupyter_core.paths import jupyter_runtime_dir

            return os.path.join(jupyter_runtime_dir(), f"kernel-{uuid.uuid4().hex[:12]}.json")

        def write_connection_file(self, **kwargs: Any) -> None:
            super().write_connection_file(**kwargs)
            owner = os.environ.get("CVBOOK_GRADE_UID")
            if owner:  # the kernel runs as this user and must read its connection file
                os.chown(self.connection_file, int(owner), int(owner))

        def client(self, **kwargs: Any) -> Any:
            # jupyter_client 7 (Colab's) clients take an asyncio context, 8 a plain one
            expected = getattr(KernelClient.class_traits()["context"], "klass", zmq.Context)
            context = expected() if isinstance(expected, type) else zmq.Context()
            context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
            return super().client(context=context, **kwargs)

    nbval_kernel.KernelManager = IPCKernelManager
    running = nbval_kernel.RunningKernel
    get_message = running.get_message

    def capped_get_message(self: Any, stream: str, timeout: float | None = None) -> Any:
        msg = get_message(self, stream, timeout=timeout)
        if stream == "iopub" and msg["msg_type"] in ("stream", "display_data", "execute_result", "error"):
            parent = msg["parent_header"].get("msg_id", "")
            used = _state["truncated"].setdefault(parent, [0, False])
            content = msg["content"]
            if msg["msg_type"] == "error":  # a student's exception can carry megabytes too
                content["evalue"] = str(content.get("evalue", ""))[:10_000]
                content["traceback"] = [str(line)[:10_000] for line in content.get("traceback", [])[-60:]]
            if CUT_MARK in content.get("text", ""):
                used[1] = True
            size = len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values())
            if used[0] + size > output_limit:
                if msg["msg_type"] == "stream":
                    room = max(0, output_limit - used[0])
                    content["text"] = content["text"][:room] + ("" if used[1] else
                                                                f"\n[output cut by the grader after {output_limit} bytes]\n")
                else:
                    content["data"] = {"text/plain": "[display cut by the grader]"}
                used[1] = True
            used[0] += size
        return msg

    def await_reply(self: Any, msg_id: str, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            try:
                msg = self.get_message(stream="shell", timeout=wait)
            except Empty:
                if not self.km.is_alive():
                    process = getattr(self.km.provisioner, "process", None)
                    code = process.poll() if process is not None else None
                    _state["died"] = "unknown" if code is None else code
                    raise KernelDied(f"the kernel stopped while running this cell (exit status {code})") from None
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                if msg["content"]["status"] == "aborted":
                    raise RuntimeError("Kernel aborted execution request")
                return

    def execute_cell_input(self: Any, cell_input: str, allow_stdin: bool | None = None) -> str:
        return self.kc.execute(cell_input, store_history=False, allow_stdin=allow_stdin, stop_on_error=False)

    running.get_message = capped_get_message
    running.await_reply = await_reply
    running.execute_cell_input = execute_cell_input


def pytest_configure(config: Any) -> None:
    if config.getoption("nbval_lax", False) or config.getoption("nbval", False):
        _state["start"] = time.monotonic()
        _state["cell_timeout"] = config.option.nbval_cell_timeout
        _patch_nbval(config.getoption("grade_output_limit"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: Any) -> None:
    parent = getattr(item, "parent", None)
    if parent is not None and "stderr" not in getattr(parent, "skip_compare", ("stderr",)):
        parent.skip_compare = (*parent.skip_compare, "stderr")
    budget = item.config.getoption("grade_notebook_timeout")
    remaining = budget - (time.monotonic() - _state["start"])
    if remaining <= 2:  # too little to run a cell: fail it now rather than interrupt it at once
        item.user_properties.append(("budget", "exhausted"))
        pytest.fail(f"not run: the notebook time limit of {budget:g} s was reached", pytrace=False)
    cell_timeout = _state["cell_timeout"]
    if getattr(item, "cell", {}).get("id") == PROLOGUE_ID:  # grader code: imports the lab's modules up front
        cell_timeout = max(cell_timeout, 300.0)
    item.config.option.nbval_cell_timeout = max(1.0, min(cell_timeout, remaining))


def reset_seal(kernel: Any, timeout: float = 20.0) -> str | None:
    """Make the kernel run :func:`cvbook.grade.seal.reset` (see the module docstring); the JSON of
    the check calls it returns, or None when the kernel did not answer in time."""
    msg_id = kernel.kc.execute("", silent=True, store_history=False, stop_on_error=False,
                               user_expressions={"cvbook_seal": RESET_SEAL})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kernel.get_message(stream="shell", timeout=max(0.1, deadline - time.monotonic()))
        except Empty:
            return None
        if msg["parent_header"].get("msg_id") == msg_id:
            value = msg["content"].get("user_expressions", {}).get("cvbook_seal", {})
            text = value.get("data", {}).get("text/plain", "") if value.get("status") == "ok" else ""
            try:
                calls = ast.literal_eval(text) if text else None
            except (ValueError, SyntaxError):
                return None
            return calls if isinstance(calls, str) else None
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    outcome = yield
    parent = getattr(item, "parent", None)
    kernel = getattr(parent, "kernel", None)
    if call.when == "call" and kernel is not None and _state["died"] is None:
        try:
            alive = kernel.is_alive()
        except Exception:
            alive = False
        # after a timeout too (a student's loop must not switch the resets off), but a kernel still
        # busy with a loop that ignores the interrupt is not waited for long
        calls = reset_seal(kernel, 5.0 if getattr(parent, "timed_out", False) else 20.0) if alive else None
        if calls and calls != "[]":
            item.user_properties.append(("calls", calls))
    if call.when == "call":
        if _state["died"] is not None:
            item.user_properties.append(("kernel", f"died: exit status {_state['died']}"))
            _state["died"] = None
        if any(used[1] for used in _state["truncated"].values()):
            item.user_properties.append(("truncated", "yes"))
            _state["truncated"].clear()
    return outcome
