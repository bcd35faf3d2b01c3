"""The book's GitHub repository and branch, in one place.

Every Colab badge, every install cell, every link to a file of the repository on GitHub (made
with :func:`github_url`: a lab opened in Colab has no ``tools/`` beside it), ``_config.yml`` (the
repository button and the launch buttons), the README and CONTRIBUTING.md name the repository;
``tests/test_repository.py`` checks that they all name the one below. A fork changes it once::

    python tools/repository.py                      # check: list every place that disagrees
    python tools/repository.py OWNER/NAME [BRANCH]  # rewrite every place, and this file

Rewriting is idempotent (a second run changes nothing) and touches only the URLs. An install
cell's stored source hash (``make execute``) is updated with it: the cell has no output
outside Colab, so no output goes stale.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = "cvbook/cvbook"
BRANCH = "main"

ROOT = Path(__file__).resolve().parents[1]
NAME = r"[A-Za-z0-9_.-]+"
PATTERNS = {
    "Colab badge": re.compile(rf"https://colab\.research\.google\.com/github/(?P<repo>{NAME}/{NAME})/blob/(?P<branch>{NAME})/"),
    "install cell": re.compile(rf"git\+https://github\.com/(?P<repo>{NAME}/{NAME})@(?P<branch>{NAME})"),
    "GitHub file link": re.compile(rf"https://github\.com/(?P<repo>{NAME}/{NAME})/blob/(?P<branch>{NAME})/"),
    "repository URL": re.compile(rf"url: https://github\.com/(?P<repo>{NAME}/{NAME})\n(?P<rest>(?:[ \t].*\n)*?)"
                                 rf"[ \t]+branch: (?P<branch>{NAME})"),
}
TEXT_FILES = ("README.md", "CONTRIBUTING.md", "_config.yml")


def github_url(path: str, repository: str | None = None, branch: str | None = None) -> str:
    """The address of the repository's file ``path`` (relative to its root) on GitHub, at ``branch``:
    ``https://github.com/cvbook/cvbook/blob/main/tools/t4_estimates.py``. The defaults are read when
    called, so a generator that writes such a link follows a fork's rewrite of this file."""
    return f"https://github.com/{repository or REPOSITORY}/blob/{branch or BRANCH}/{path.lstrip('/')}"


@dataclass(frozen=True)
class Occurrence:
    path: str
    what: str
    repository: str
    branch: str


def notebooks(root: Path = ROOT) -> list[Path]:
    return sorted([*root.glob("book/*.ipynb"), *root.glob("labs/*.ipynb"), *root.glob("labs/solutions/*.ipynb")])


def _find(text: str, where: str) -> list[Occurrence]:
    return [Occurrence(where, what, m["repo"], m["branch"]) for what, pattern in PATTERNS.items()
            for m in pattern.finditer(text)]


def occurrences(root: Path = ROOT) -> list[Occurrence]:
    """Every place that names the repository: notebooks' cells, the README, CONTRIBUTING.md, _config.yml."""
    found = []
    for path in notebooks(root):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            found += _find("".join(cell["source"]), f"{path.relative_to(root)} cell {i}")
    for name in TEXT_FILES:
        if (root / name).exists():
            found += _find((root / name).read_text(), name)
    return found


def mismatches(root: Path = ROOT, repository: str = REPOSITORY, branch: str = BRANCH) -> list[Occurrence]:
    """The places that name another repository or branch than ``repository@branch``."""
    return [o for o in occurrences(root) if (o.repository, o.branch) != (repository, branch)]


def _replace(text: str, repository: str, branch: str) -> str:
    def badge(m):
        return f"https://colab.research.google.com/github/{repository}/blob/{branch}/"

    def install(m):
        return f"git+https://github.com/{repository}@{branch}"

    def file_link(m):
        return github_url("", repository, branch)

    def config(m):
        return m[0].replace(f"url: https://github.com/{m['repo']}", f"url: https://github.com/{repository}", 1)[
            : -len(m["branch"])] + branch

    for pattern, fix in zip(PATTERNS.values(), (badge, install, file_link, config)):
        text = pattern.sub(fix, text)
    return text


def rewrite(repository: str, branch: str = BRANCH, root: Path = ROOT, *, this_file: Path | None = None) -> list[str]:
    """Make every place name ``repository@branch``; returns the files changed (none the second time)."""
    if not re.fullmatch(rf"{NAME}/{NAME}", repository) or not re.fullmatch(NAME, branch):
        raise ValueError(f"{repository!r}@{branch!r}: give OWNER/NAME and a branch name, as on GitHub")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from execute_notebooks import source_hash

    changed = []
    for path in notebooks(root):
        text = path.read_text()
        nb = json.loads(text)
        touched = False
        for cell in nb["cells"]:
            old = "".join(cell["source"])
            new = _replace(old, repository, branch)
            if new != old:
                cell["source"] = new.splitlines(keepends=True)
                stored = cell.get("metadata", {}).get("cvbook", {})
                if cell["cell_type"] == "code" and not cell.get("outputs") and "source_sha256" in stored:
                    stored["source_sha256"] = source_hash(new)
                touched = True
        if touched:
            path.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n")
            changed.append(str(path.relative_to(root)))
    for name in TEXT_FILES:
        path = root / name
        if path.exists():
            old = path.read_text()
            new = _replace(old, repository, branch)
            if new != old:
                path.write_text(new)
                changed.append(name)
    this_file = this_file or Path(__file__).resolve()
    source = this_file.read_text()
    updated = re.sub(r'^REPOSITORY = ".*"$', f'REPOSITORY = "{repository}"', source, count=1, flags=re.M)
    updated = re.sub(r'^BRANCH = ".*"$', f'BRANCH = "{branch}"', updated, count=1, flags=re.M)
    if updated != source:
        this_file.write_text(updated)
        changed.append(str(this_file.relative_to(root)) if this_file.is_relative_to(root) else str(this_file))
    return changed


def main(argv: list[str]) -> int:
    if not argv:
        wrong = mismatches()
        for o in wrong:
            print(f"{o.path}: {o.what} names {o.repository}@{o.branch}, not {REPOSITORY}@{BRANCH}")
        print(f"{len(occurrences())} places name the repository; {len(wrong)} disagree with {REPOSITORY}@{BRANCH}")
        return 1 if wrong else 0
    changed = rewrite(argv[0], argv[1] if len(argv) > 1 else BRANCH)
    print("\n".join(changed) if changed else "nothing to change")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
