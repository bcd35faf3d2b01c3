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
- removes input and AST transformers, custom exception handlers and trace functions.

It also caps what a cell prints (``output_limit`` characters per stream and cell).

The grader also calls :func:`reset` after every cell (IPython transforms a cell's text before any of
its hooks run), and a pre-run hook repeats it. This defeats monkeypatching; a
student who reads this module and goes after the seal itself (it is reachable in memory, like
everything in the process) is not stopped here, which is why the grader also lists such code for
the instructor (:func:`cvbook.grade.rebuild.suspicious`).
"""

from __future__ import annotations

import builtins
import importlib
import sys
import types
from typing import Any

__all__ = ["install", "reset"]

_MISSING = object()
CUT_MARK = "[output cut by the grader"


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
        if self.shell is not None:
            self.shell_lists = {name: list(getattr(self.shell, name, []))
                                for name in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")}
            self.custom_exceptions = (self.shell.custom_exceptions, self.shell.CustomTB)

    def restore_shell(self, *_: Any) -> None:
        sys.settrace(None)
        sys.setprofile(None)
        if self.shell is None:
            return
        for name, items in self.shell_lists.items():
            current = getattr(self.shell, name, None)
            if isinstance(current, list) and current != items:
                current[:] = items
        self.shell.custom_exceptions, self.shell.CustomTB = self.custom_exceptions

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


def reset() -> None:
    """Remove input and AST transformers, custom exception handlers and trace functions.

    IPython applies input transformers before any hook of a cell runs, so a transformer that an
    answer cell installs would rewrite the next check cell before the seal could act. The grader's
    plugin therefore calls this after *every* cell, as a ``user_expressions`` entry of the execute
    request: those are evaluated after the cell and its hooks, and are never transformed.
    """
    if _current:
        _current[0].restore_shell()


def install(token: str, modules: list[str], output_limit: int = 1_000_000) -> None:
    """Cap what each cell may print, snapshot ``modules``, and publish the check cells' guard as
    ``_cvbook_seal_<token>``."""
    streams = [_CappedStream(sys.stdout, output_limit), _CappedStream(sys.stderr, output_limit)]
    sys.stdout, sys.stderr = streams
    snapshot = _Snapshot(modules)
    _current[:] = [snapshot]

    def guard(bindings: dict[str, str]) -> None:
        snapshot.restore(bindings)

    setattr(builtins, f"_cvbook_seal_{token}", guard)
    if snapshot.shell is not None:
        snapshot.shell.events.register("pre_run_cell", snapshot.restore_shell)
        for stream in streams:
            snapshot.shell.events.register("pre_run_cell", stream.reset)
