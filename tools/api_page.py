"""Write book/api.md, the API appendix, from the chapter map in cvbook's docstring.

Usage: python tools/api_page.py [--update-map]
(tests/test_layout.py fails when book/api.md or the map is stale)

``--update-map`` first rewrites the chapter map in ``src/cvbook/__init__.py`` from the
notebooks' imports (``from cvbook import data`` counts as ``data``).

Each chapter (and lab) gets a section with the modules it is the first to import, in the
order of the book; modules that no notebook imports directly (building blocks of others)
come last. Every public module of the package appears exactly once.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "cvbook"
sys.path.insert(0, str(ROOT / "src"))

import cvbook  # noqa: E402


def chapter_map() -> list[tuple[str, list[str]]]:
    return [(page, [m.strip() for m in modules.split(",")])
            for page, modules in re.findall(r"^- ``([\w/]+)``: (.+)$", cvbook.__doc__, flags=re.M)]


def notebook_modules(path: Path) -> set[str]:
    """The cvbook modules a notebook imports (``from cvbook import data`` -> ``data``)."""
    found = set()
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        source = "\n".join(re.sub(r"^(\s*)[!%].*", r"\1pass", line) for line in lines)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "cvbook":
                base = node.module.split(".")[1:]
                for alias in node.names:
                    target = SRC.joinpath(*base, alias.name)
                    is_module = target.with_suffix(".py").exists() or (target / "__init__.py").exists()
                    found.add(".".join(base + [alias.name]) if is_module else ".".join(base))
            elif isinstance(node, ast.Import):
                found |= {a.name.partition(".")[2] for a in node.names if a.name.startswith("cvbook.")}
    return found


def pages() -> list[Path]:
    return sorted((ROOT / "book").glob("*.ipynb")) + sorted((ROOT / "labs" / "solutions").glob("*.ipynb"))


def update_map() -> None:
    init = SRC / "__init__.py"
    text = init.read_text()
    lines = [f"- ``{p.relative_to(ROOT).with_suffix('').as_posix()}``: {', '.join(sorted(notebook_modules(p)))}"
             for p in pages()]
    text = re.sub(r"(?:^- ``[\w/]+``: .+\n)+", "\n".join(lines) + "\n", text, count=1, flags=re.M)
    init.write_text(text)


def public_modules() -> list[str]:
    names = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if any(p.startswith("_") and p != "__init__" for p in parts) or parts[-1] == "__main__":
            continue
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if parts:
            names.append(".".join(parts))
    return names


def title(page: str) -> str:
    nb = json.loads((ROOT / f"{page}.ipynb").read_text())
    return "".join(nb["cells"][0]["source"]).splitlines()[0].lstrip("# ").strip()


def is_package(module: str) -> bool:
    return (SRC.joinpath(*module.split(".")) / "__init__.py").exists()


def block(module: str) -> str:
    """A package shows its docstring (its members are documented in their own modules)."""
    members = "" if is_package(module) else "\n   :members:"
    return f"```{{eval-rst}}\n.. automodule:: cvbook.{module}{members}\n```\n"


def with_submodules(module: str) -> list[str]:
    """A package, then its public submodules; a module alone."""
    if not is_package(module):
        return [module]
    return [m for m in public_modules() if m == module or m.startswith(module + ".")]


def render() -> str:
    out = ["# API reference, chapter by chapter\n",
           "The `cvbook` package holds the code the chapters import, one module per concept. Each section\n"
           "lists the modules a chapter (or lab) is the first to use; later chapters reuse them. The map\n"
           "is kept in the package's docstring (below) and checked against the notebooks' imports.\n",
           "```{eval-rst}\n.. automodule:: cvbook\n```\n"]
    seen: set[str] = set()
    for page, modules in chapter_map():
        new = [m for name in modules for m in with_submodules(name) if m not in seen]
        new = list(dict.fromkeys(new))
        seen.update(new)
        if new:
            out.append(f"## {title(page)}\n")
            out += [block(m) for m in new]
    rest = [m for m in public_modules() if m not in seen]
    if rest:
        out.append("## Building blocks used by the modules above\n")
        out += [block(m) for m in rest]
    return "\n".join(out)


if __name__ == "__main__":
    if "--update-map" in sys.argv:
        update_map()
        import importlib

        importlib.reload(cvbook)
    (ROOT / "book" / "api.md").write_text(render())
    print("wrote book/api.md")
