"""The package's layout: layers, private names, one training loop, module sizes, and the chapter map."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat
import pytest

import cvbook
from notebooks import BOOK, LAB_SOURCES, ROOT

sys.path.insert(0, str(ROOT / "tools"))
from api_page import notebook_modules, render  # noqa: E402

SRC = ROOT / "src" / "cvbook"
MODULES = sorted(p for p in SRC.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# Lower layers never import higher ones. Parts come in the book's order: Part III may use
# Part II's detection code, never the other way round.
LAYERS = [
    (0.0, ("cvbook", "cvbook._checks", "cvbook.profile")),
    (1.0, ("cvbook.plot", "cvbook.history", "cvbook.batches", "cvbook.lr_schedule", "cvbook.layers", "cvbook.boxes",
           "cvbook.data")),
    (2.0, ("cvbook.metrics",)),
    (3.0, ("cvbook.backbones", "cvbook.convolutionize", "cvbook.augment", "cvbook.transfer", "cvbook.weights")),
    (4.0, ("cvbook.train",)),
    (5.0, ("cvbook.detection",)),
    (5.1, ("cvbook.segmentation",)),
    (5.2, ("cvbook.generative", "cvbook.geometry")),
    (6.0, ("cvbook.widgets", "cvbook.labs", "cvbook.grade")),
]


def layer(name: str) -> float:
    best, found = -1, None
    for level, prefixes in LAYERS:
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), level
    assert found is not None, f"{name} has no layer: add it to LAYERS in {__file__}"
    return found


def cvbook_imports(path: Path) -> list[tuple[str, list[str], int]]:
    """Every import of a cvbook module in a file, with the names it takes: (module, names, line)."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "cvbook" or target.startswith("cvbook."):
                found.append((target, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("cvbook")]
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_import_goes_up_a_layer_or_takes_a_private_name(path):
    me = module_name(path)
    for target, names, line in cvbook_imports(path):
        for name in names or [""]:
            full = f"{target}.{name}" if name and (SRC / Path(*target.split(".")[1:], name)).exists() else target
            assert layer(full) <= layer(me), f"{me} (line {line}) imports {full} from a higher layer"
            private = name.startswith("_") or any(part.startswith("_") and part not in ("_checks",)
                                                  for part in full.split(".")[1:] if part != "__init__")
            same_package = full.rpartition(".")[0] == me.rpartition(".")[0] or full.startswith(me + ".")
            assert not private or same_package, f"{me} (line {line}) imports the private {full}.{name}"


def test_no_optimiser_step_or_backward_outside_the_training_loop():
    offenders = []
    for path in MODULES:
        if path.name == "train.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("step", "backward", "zero_grad") and not node.args:
                offenders.append(f"{module_name(path)} line {node.lineno}: .{node.func.attr}()")
    assert not offenders, "every model trains through cvbook.train.fit: " + "; ".join(offenders)


def imported_modules(path: Path) -> set[str]:
    """The cvbook modules a file imports, anywhere in it (a function's import counts too): a name taken
    from a package is its submodule when one has that name, else the package itself."""
    found = set()
    for target, names, _ in cvbook_imports(path):
        for name in names or [""]:
            inside = SRC.joinpath(*target.split(".")[1:], name) if name else None
            submodule = inside is not None and (inside.with_suffix(".py").exists() or (inside / "__init__.py").exists())
            found.add(f"{target}.{name}" if submodule else target)
    return found - {module_name(path)}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of ``graph`` (module -> modules it imports), each as a path back to its start."""
    cycles, done = [], set()

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph.get(module, ())):
            if target in path:
                cycle = path[path.index(target):] + [target]
                if not any(set(cycle) == set(c) for c in cycles):
                    cycles.append(cycle)
            elif target not in done and target in graph:
                visit(target, path + [target])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    return cycles


def test_import_cycles_are_found():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert import_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []
    assert import_cycles({"a": {"a.x"}, "a.x": {"a"}}) == [["a", "a.x", "a"]]


def test_no_import_circle_among_cvbook_modules():
    """No two modules need each other, not even through an import hidden inside a function
    (a package's ``__init__`` re-exporting its own modules is the one expected loop)."""
    graph = {module_name(p): imported_modules(p) for p in MODULES}
    graph = {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in graph.items()}
    cycles = import_cycles(graph)
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles) + \
        " (move what both need into a third module that imports neither)"


ENVIRONMENT = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def environment_reads(path: Path) -> list[str]:
    """Lines of a file that touch the process environment: ``os.environ``, ``os.getenv``, ``from os import environ``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and ENVIRONMENT & {a.name for a in node.names}:
            found.append(f"line {node.lineno}: from os import ...")
    return found


def test_only_the_profile_reads_the_environment(tmp_path):
    """Settings come from cvbook.profile.settings() (read once, printed by the banner); grade/ builds the
    environment of its sandboxes, which is its job."""
    offenders = [f"{module_name(p)} {where}" for p in MODULES
                 if p.name != "profile.py" or p.parent != SRC
                 if "grade" not in p.relative_to(SRC).parts[:1]
                 for where in environment_reads(p)]
    assert not offenders, "read the setting from cvbook.profile.settings() instead: " + "; ".join(offenders)
    assert environment_reads(SRC / "profile.py")  # the check sees an os.environ read when there is one
    sample = tmp_path / "sample.py"
    sample.write_text("from os import getenv\nimport os\nx = os.environ.get('A')\n")
    assert environment_reads(sample) == ["line 1: from os import ...", "line 3: .environ"]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_modules_stay_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 420, f"{module_name(path)} has {lines} lines; split it by concept (about 400 at most)"


# ------------------------------------------------------------------------- chapter map


def chapter_map() -> dict[str, set[str]]:
    """The map in cvbook's docstring: ``- ``book/NN_name``: module, module, ...`` lines."""
    entries = re.findall(r"^- ``([\w/]+)``: (.+)$", cvbook.__doc__, flags=re.M)
    assert entries, "cvbook's docstring has no chapter map"
    return {page: {m.strip() for m in modules.split(",")} for page, modules in entries}


def page(path: Path) -> str:
    return path.relative_to(ROOT).with_suffix("").as_posix()


def test_chapter_map_lists_every_page_and_only_existing_modules():
    pages = {page(p) for p in BOOK + LAB_SOURCES}
    mapped = chapter_map()
    assert set(mapped) == pages, f"missing from the map: {sorted(pages - set(mapped))}; stale: {sorted(set(mapped) - pages)}"
    for modules in mapped.values():
        for m in modules:
            target = SRC.joinpath(*m.split("."))
            assert target.with_suffix(".py").exists() or (target / "__init__.py").exists(), f"no module cvbook.{m}"


@pytest.mark.parametrize("path", BOOK + LAB_SOURCES, ids=page)
def test_chapter_map_agrees_with_the_notebooks_imports(path):
    assert notebook_modules(path) == chapter_map()[page(path)], (
        f"{page(path)} imports {sorted(notebook_modules(path))}; update the chapter map: python tools/api_page.py --update-map")


def test_api_page_is_generated_from_the_chapter_map():
    assert (ROOT / "book" / "api.md").read_text() == render(), "book/api.md is stale: run `python tools/api_page.py`"
