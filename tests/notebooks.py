"""Which notebooks the project has, by role (shared by the hygiene and lab tests)."""
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from repository import BRANCH, REPOSITORY  # noqa: E402,F401  (the one place: tools/repository.py)

BOOK = sorted((ROOT / "book").glob("*.ipynb"))
LAB_SOURCES = sorted((ROOT / "labs" / "solutions").glob("*.ipynb"))
STUDENT_LABS = sorted((ROOT / "labs").glob("*.ipynb"))
EXECUTED = BOOK + LAB_SOURCES  # carry the outputs of a quick-profile run


def toc_files() -> list[str]:
    """Every `file:` entry of _toc.yml (without suffix), the root included."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc.get("parts", []))
    walk(toc.get("chapters", []))
    return files
