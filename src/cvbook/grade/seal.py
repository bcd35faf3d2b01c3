"""The seal: runs inside the graded kernel and keeps student code from faking the checks.

Student code runs in the same Python process as the checks, so it could replace ``check``,
``numpy.allclose``, ``torch.Tensor.__eq__``, a reference such as ``sklearn.metrics.accuracy_score``,
or the shell's input transformers so that a wrong answer prints the success text. The rebuilt
notebook therefore starts with :func:`install`, before any student code: it imports the modules the
lab uses and takes a snapshot of them. Every check cell then starts with a call to the seal, which

- puts back every module of the snapshot in ``sys.modules``, every attribute of those modules
  that was replaced (and removes added ones that would shadow a builtin), the methods of
  ``torch.Tensor``, and the code and defaults of their Python functions;
- binds the names that the lab's own cells imported (``check``, ``labs``, ``skm``, ...) to the
  genuine objects again;
- puts the shell back as it was (``_Snapshot.restore_shell``): input and AST transformers,
  custom exception handlers, event callbacks, methods patched on the shell's or the kernel's
  classes or instance, ``sys`` hooks (display, except, trace, profile, in every thread), the input
  and output history, the last exception, and the cached text of the check cells run so far;
- switches :func:`cvbook.labs.check.check` to collecting, so that every call of the cell is graded.

It also caps what a cell prints (``output_limit`` characters per stream and cell), and adds an audit
hook that refuses any later audit hook and ``sys._current_frames`` (a hook would see the text of
every later cell as it is compiled; another thread would see the running check's frames).

The grader also calls :func:`reset` after every cell, through an empty execute request whose
``user_expressions`` IPython evaluates without transformers or hooks, even after a cell that
failed; it returns the check calls the cell recorded. So a hook that an answer cell installs to
watch the next cells is gone before the next cell is read. This defeats monkeypatching; a
student who reads this module and goes after the seal itself (it is reachable in memory, like
everything in the process) is not stopped here, which is why the grader also lists such code for
the instructor (:func:`cvbook.grade.rebuild.suspicious`).
"""

from __future__ import annotations

import builtins
import importlib
import json
import linecache
import re
import sys
import threading
import types
from typing import Any

__all__ = ["install", "reset", "SHELL_ATTRIBUTES"]

_MISSING = object()
CUT_MARK = "[output cut by the grader"
GUARD_PREFIX = "_cvbook_seal_"  # the first line of every check cell the grader runs
# instance attributes of the shell that student code could swap for its own (a compiler that
# keeps every cell's text, an event manager, a traceback formatter, ...)
SHELL_ATTRIBUTES = ("compile", "events", "history_manager", "InteractiveTB", "SyntaxTB", "input_transformer_manager",
                    "displayhook", "display_pub", "display_formatter", "payload_manager", "ast_transformers",
                    "input_transformers_cleanup", "input_transformers_post", "custom_exceptions", "CustomTB")
_NUMBERED = re.compile(r"_i?\d+")  # IPython's _5, _i5
_SYS_HOOKS = ("displayhook", "excepthook", "breakpointhook", "unraisablehook")


class _Snapshot:
    def __init__(self, modules: list[str]) -> None:
        self.modules: dict[str, types.ModuleType] = {}
        for name in modules:
            try:
                self.modules[name] = importlib.import_module(name)
            except Exception:  # a module the kernel lacks fails later, in its own cell
                continue
        self.namespaces = {name: dict(vars(module)) for name, module in self.modules.items()}
        self.classes: dict[type, dict[str, Any]] = {}
        torch = self.modules.get("torch")
        if torch is not None:
            self.classes[torch.Tensor] = dict(vars(torch.Tensor))
        self.functions = {}
        for namespace in [*self.namespaces.values(), *self.classes.values()]:
            for value in namespace.values():
                if isinstance(value, types.FunctionType):
                    self.functions[value] = (value.__code__, value.__defaults__, value.__kwdefaults__)
        self.builtin_names = set(vars(builtins))
        self.streams = (sys.stdout, sys.stderr, sys.displayhook)
        self.shell = _shell()

    def capture_shell(self) -> None:
        """Remember the shell as the grader leaves it (after its own hooks are registered)."""
        self.sys_hooks = {name: getattr(sys, name) for name in _SYS_HOOKS}
        if self.shell is None:
            return
        shell = self.shell
        self.shell_lists = {name: list(getattr(shell, name, []))
                            for name in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")}
        self.custom_exceptions = (shell.custom_exceptions, shell.CustomTB)
        self.shell_attributes = {name: getattr(shell, name) for name in SHELL_ATTRIBUTES if hasattr(shell, name)}
        self.events = {event: list(callbacks) for event, callbacks in shell.events.callbacks.items()}
        kernel = getattr(shell, "kernel", None)
        self.handlers = dict(getattr(kernel, "shell_handlers", {}) or {})
        self.shell_classes = {cls: dict(vars(cls)) for owner in (shell, kernel) if owner is not None
                              for cls in type(owner).__mro__
                              if cls.__module__.split(".")[0] in ("IPython", "ipykernel", "ipykernel_launcher")}
        self.method_names = {name for cls in self.shell_classes for name, value in vars(cls).items() if callable(value)}
        self.shell_code = {value: value.__code__ for saved in self.shell_classes.values() for value in saved.values()
                           if isinstance(value, types.FunctionType)}

    def restore_shell(self, *_: Any) -> None:
        sys.settrace(None)
        sys.setprofile(None)
        threading.settrace(None)  # type: ignore[arg-type]
        threading.setprofile(None)  # type: ignore[arg-type]
        for name, hook in getattr(self, "sys_hooks", {}).items():
            if getattr(sys, name, None) is not hook:
                setattr(sys, name, hook)
        for name in ("last_type", "last_value", "last_traceback", "last_exc"):
            if hasattr(sys, name):
                delattr(sys, name)
        if self.shell is None or not hasattr(self, "shell_lists"):
            return
        shell = self.shell
        for cls, saved in self.shell_classes.items():
            for key in [k for k in vars(cls) if k not in saved]:
                delattr(cls, key)
            for key, value in saved.items():
                if vars(cls).get(key, _MISSING) is not value:
                    setattr(cls, key, value)
        for key in [k for k in vars(shell) if k in self.method_names]:  # a method patched on the instance
            delattr(shell, key)
        for name, value in self.shell_attributes.items():
            if getattr(shell, name, _MISSING) is not value:
                setattr(shell, name, value)
        for name, items in self.shell_lists.items():
            current = getattr(shell, name, None)
            if isinstance(current, list) and current != items:
                current[:] = items
        shell.custom_exceptions, shell.CustomTB = self.custom_exceptions
        callbacks = shell.events.callbacks
        for event in list(callbacks):
            saved = self.events.get(event, [])
            if callbacks[event] != saved:
                callbacks[event][:] = saved + [f for f in callbacks[event] if f not in saved and _library_callback(f)]
        kernel = getattr(shell, "kernel", None)
        if self.handlers and getattr(kernel, "shell_handlers", None) is not None and kernel.shell_handlers != self.handlers:
            kernel.shell_handlers.clear()
            kernel.shell_handlers.update(self.handlers)
        for function, code in self.shell_code.items():
            if function.__code__ is not code:
                function.__code__ = code
        _forget_history(shell)

    def restore(self, bindings: dict[str, str]) -> None:
        for name, module in self.modules.items():
            sys.modules[name] = module
            current, saved = vars(module), self.namespaces[name]
            for key, value in saved.items():
                if current.get(key, _MISSING) is not value:
                    current[key] = value
            for key in [k for k in current if k not in saved and k in self.builtin_names and module is not builtins]:
                del current[key]
        for cls, saved in self.classes.items():
            for key in [k for k in vars(cls) if k not in saved]:
                delattr(cls, key)
            for key, value in saved.items():
                if vars(cls).get(key, _MISSING) is not value:
                    setattr(cls, key, value)
        for function, (code, defaults, kwdefaults) in self.functions.items():
            if function.__code__ is not code:
                function.__code__ = code
            if function.__defaults__ is not defaults:
                function.__defaults__ = defaults
            if function.__kwdefaults__ is not kwdefaults:
                function.__kwdefaults__ = kwdefaults
        sys.stdout, sys.stderr, sys.displayhook = self.streams
        self.restore_shell()
        if self.shell is not None:
            user = self.shell.user_ns
            for name, target in bindings.items():
                value = self._resolve(target)
                if value is not _MISSING:
                    user[name] = value

    def _resolve(self, target: str) -> Any:
        module_name, _, attribute = target.partition(":")
        if not attribute:
            return self.modules.get(module_name, _MISSING)
        if module_name in self.namespaces and attribute in self.namespaces[module_name]:
            return self.namespaces[module_name][attribute]
        submodule = self.modules.get(f"{module_name}.{attribute}")
        return submodule if submodule is not None else _MISSING


def _library_callback(callback: Any) -> bool:
    """A plotting library's own event callback (matplotlib's inline backend registers one when
    pyplot is first imported): a plain function from its installed files, not from a cell."""
    function = getattr(callback, "__func__", callback)
    if not isinstance(function, types.FunctionType):
        return False
    package = (getattr(function, "__module__", None) or "").split(".")[0]
    return package in ("matplotlib", "matplotlib_inline", "ipywidgets") and function.__code__.co_filename.endswith(".py") \
        and "ipykernel_" not in function.__code__.co_filename


def _forget_history(shell: Any) -> None:
    """Drop what the shell remembers of the cells run so far: the input and output history
    (``In``, ``_ih``, ``Out``, ``_i``, ``_``, ...), the last result and traceback, and the cached
    text of the check cells (tracebacks of student cells keep their lines)."""
    history = getattr(shell, "history_manager", None)
    if history is not None:
        for name in ("input_hist_parsed", "input_hist_raw"):
            lines = getattr(history, name, None)
            if isinstance(lines, list) and len(lines) > 1:
                del lines[1:]
        output = getattr(history, "output_hist", None)
        if isinstance(output, dict):
            output.clear()
    user = shell.user_ns
    for name in [k for k in list(user) if _NUMBERED.fullmatch(k)]:
        del user[name]
    for name in ("_i", "_ii", "_iii", "_", "__", "___"):
        if name in user:
            user[name] = ""
    shell.last_execution_result = None
    for formatter in (getattr(shell, "InteractiveTB", None), getattr(shell, "SyntaxTB", None)):
        if formatter is not None and hasattr(formatter, "tb"):
            formatter.tb = None
    names = getattr(getattr(shell, "compile", None), "_filename_map", {})
    for name, entry in list(linecache.cache.items()):
        lines = entry[2] if isinstance(entry, tuple) and len(entry) > 2 else []
        if lines and isinstance(lines[0], str) and lines[0].startswith(GUARD_PREFIX):
            linecache.cache.pop(name, None)
            if isinstance(names, dict):
                names.pop(name, None)


class _CappedStream:
    """Keeps the first ``limit`` characters a cell writes to a stream and drops the rest, so that
    printing gigabytes costs the kernel nothing to send (the grader caps what it receives, too)."""

    def __init__(self, stream: Any, limit: int) -> None:
        self._stream, self._limit, self._used = stream, limit, 0

    def write(self, text: str) -> int:
        room = self._limit - self._used
        self._used += len(text)
        if room >= len(text):
            return self._stream.write(text)
        if room > 0 or self._used - len(text) == self._limit:
            self._stream.write(text[:max(room, 0)] + f"\n{CUT_MARK} after {self._limit} characters]\n")
        return len(text)

    def reset(self, *_: Any) -> None:
        self._used = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _shell() -> Any:
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


_current: list[_Snapshot] = []  # the installed snapshot


def reset() -> str:
    """Put the shell back (``_Snapshot.restore_shell``) and return, as JSON, the check calls
    the last cell recorded (``[[passed, name, message], ...]``; ``[]`` outside check cells).

    IPython applies input transformers before any hook of a cell runs, so a transformer that an
    answer cell installs would rewrite the next check cell before the seal could act. The grader's
    plugin therefore calls this after *every* cell, as a ``user_expressions`` entry of an empty
    execute request: those are evaluated without transformers or hooks, even after a failed cell.
    """
    if not _current:
        return "[]"
    _current[0].restore_shell()
    module = sys.modules.get("cvbook.labs.check")
    calls = module.collected_calls() if module is not None else []
    return json.dumps([[bool(passed), str(name)[:200], str(message)[:2000]] for passed, name, message in calls[:200]],
                      ensure_ascii=False)


def _refuse(event: str, _: tuple) -> None:
    """The seal's audit hook: no later audit hook (it would see every cell's text as it is
    compiled), no ``sys._current_frames`` (another thread would see the running check)."""
    if event in ("sys.addaudithook", "sys._current_frames"):
        raise RuntimeError(f"{event} is not available while grading")


def install(token: str, modules: list[str], output_limit: int = 1_000_000) -> None:
    """Cap what each cell may print, snapshot ``modules`` and the shell, refuse later audit hooks,
    and publish the check cells' guard as ``_cvbook_seal_<token>``."""
    streams = [_CappedStream(sys.stdout, output_limit), _CappedStream(sys.stderr, output_limit)]
    sys.stdout, sys.stderr = streams
    snapshot = _Snapshot(modules)
    _current[:] = [snapshot]
    check_module = importlib.import_module("cvbook.labs.check")

    def guard(bindings: dict[str, str]) -> None:
        snapshot.restore(bindings)
        snapshot.restore_shell()
        check_module.collect_calls()

    setattr(builtins, f"{GUARD_PREFIX}{token}", guard)
    if snapshot.shell is not None:
        snapshot.shell.events.register("pre_run_cell", snapshot.restore_shell)
        for stream in streams:
            snapshot.shell.events.register("pre_run_cell", stream.reset)
    snapshot.capture_shell()
    sys.addaudithook(_refuse)
