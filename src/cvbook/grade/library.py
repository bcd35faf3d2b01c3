"""Answers that call the library instead of implementing it (found by reading the code, not running it).

An answer cell of a lab source may declare the library functions its exercise reimplements::

    {"cvbook": {"reimplements": ["cvbook.detection.anchors.assign_anchors", "torchvision.ops.box_iou"]}}

:func:`library_references` reads a student's answer (with the names the lab's own cells import)
and returns the declared names it refers to, however it reaches them: ``anchors.assign_anchors``
after the lab's ``from cvbook.detection import anchors``, an import of its own, an alias
(``from cvbook.detection.anchors import assign_anchors as mine``, ``a = anchors``), a star import,
``getattr(anchors, "assign_anchors")``, a re-export (``cvbook.detection.assign_anchors`` if the
package re-exported it) or ``importlib.import_module("cvbook.detection.anchors")`` together
with the name as a string. Assigning to such a name (``anchors.assign_anchors = ...``) is not a
call of it.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

__all__ = ["library_references", "canonical"]


@lru_cache(maxsize=512)
def canonical(dotted: str) -> str:
    """``module.qualname`` of the object a dotted name leads to (so that a re-export and its
    original agree); the dotted name itself when nothing can be imported."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:cut]))
        except Exception:  # not a module (or not importable here): try a shorter prefix
            continue
        try:
            for attribute in parts[cut:]:
                value = getattr(value, attribute)
        except AttributeError:
            return dotted
        module, name = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
        if isinstance(module, str) and isinstance(name, str) and "<" not in name:
            return f"{module}.{name}"
        if isinstance(value, type(importlib)):
            return value.__name__
        return dotted
    return dotted


def _dotted(node: ast.AST, bindings: Mapping[str, str]) -> str | None:
    """The dotted library name an expression stands for, or None."""
    if isinstance(node, ast.Name):
        return bindings.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, bindings)
        return f"{base}.{node.attr}" if base else None
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
            and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
        base = _dotted(node.args[0], bindings)
        return f"{base}.{node.args[1].value}" if base else None
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str):
        func = _dotted(node.func, bindings) or (node.func.id if isinstance(node.func, ast.Name) else "")
        if func in ("importlib.import_module", "__import__"):
            return node.args[0].value
    return None


def _bindings(tree: ast.AST, lab_bindings: Mapping[str, str]) -> dict[str, str]:
    """Name -> dotted name: the lab's imports ("module:attribute" -> "module.attribute"), then the
    code's own imports and plain aliases (``a = anchors``), wherever they are."""
    bindings = {name: target.replace(":", ".") for name, target in lab_bindings.items()}
    stars: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bindings[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name == "*":
                    stars.append(node.module)
                else:
                    bindings[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for _ in range(3):  # aliases of aliases
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                value = _dotted(node.value, bindings)
                if value and node.targets[0].id not in bindings:
                    bindings[node.targets[0].id] = value
    for module in stars:
        bindings.setdefault(f"*{module}", module)
    return bindings


def library_references(source: str, reimplements: Sequence[str], lab_bindings: Mapping[str, str] | None = None) -> list[str]:
    """The names of ``reimplements`` that ``source`` refers to (reads them, calls them, passes them
    on); ``lab_bindings`` maps the names the lab's cells import to ``module`` or ``module:attribute``."""
    if not reimplements:
        return []
    code = "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in source.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    # canonical() imports what it resolves (torch, torchvision, scikit-learn: seconds in a fresh
    # grader), so only names in the packages of the declared functions are resolved: a re-export
    # stays in its package (cvbook.detection.assign_anchors), and most answers name none of them
    packages = {name.split(".")[0] for name in reimplements}
    wanted: dict[str, str] = {}
    bindings = _bindings(tree, lab_bindings or {})
    stars = [target for name, target in bindings.items() if name.startswith("*")]
    found: set[str] = set()

    def hit(dotted: str | None) -> None:
        if not dotted or dotted.split(".")[0] not in packages:
            return
        if not wanted:
            wanted.update({canonical(name): name for name in reimplements})
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):  # a reference to anchors.assign_anchors.__wrapped__ counts too
            name = canonical(".".join(parts[:cut]))
            if name in wanted:
                found.add(wanted[name])
                return

    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(getattr(node, "ctx", None), ast.Load):
            hit(_dotted(node, bindings))
            if isinstance(node, ast.Name) and node.id not in bindings:
                for module in stars:
                    hit(f"{module}.{node.id}")
        elif isinstance(node, ast.Call):
            resolved = _dotted(node, bindings)
            hit(resolved)
            if resolved and isinstance(node.func, (ast.Name, ast.Attribute)) and resolved == getattr(node.args[0], "value", None):
                for text in strings:  # import_module("cvbook.detection.anchors") ... "assign_anchors"
                    hit(f"{resolved}.{text}")
    return sorted(found)
