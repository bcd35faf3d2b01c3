"""``python -m cvbook.labs [SOLUTIONS [OUT]]`` (``make labs``): write the student versions of the labs.

SOLUTIONS (default ``labs/solutions``) holds the lab sources; OUT (default: the folder above
SOLUTIONS, i.e. ``labs``) receives one student notebook per source, same file name. OUT is
created when missing. See :mod:`cvbook.labs.author` for what a student version is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .author import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cvbook.labs",
        description="Write the student version of every lab source: solution regions become hinted "
                    "NotImplementedError stubs, hidden checks are left out, outputs are cleared, cell ids are kept.",
        epilog="Run from the repository root without arguments, it does what `make labs` does: "
               "labs/solutions/*.ipynb -> labs/*.ipynb.")
    parser.add_argument("solutions", nargs="?", type=Path, default=Path("labs/solutions"),
                        help="folder of lab sources (default: labs/solutions)")
    parser.add_argument("out", nargs="?", type=Path, default=None,
                        help="folder for the student versions, created when missing (default: SOLUTIONS/..)")
    args = parser.parse_args(argv)
    solutions = args.solutions
    out = args.out if args.out is not None else solutions.resolve().parent
    if not solutions.is_dir():
        print(f"error: {solutions} is not a folder of lab sources (run from the repository root, or give "
              "the folder: python -m cvbook.labs SOLUTIONS OUT)", file=sys.stderr)
        return 2
    if not any(solutions.glob("*.ipynb")):
        print(f"error: {solutions} holds no lab source (*.ipynb)", file=sys.stderr)
        return 2
    if out.exists() and not out.is_dir():
        print(f"error: {out} exists and is not a folder", file=sys.stderr)
        return 2
    if out.resolve() == solutions.resolve():
        print("error: OUT is SOLUTIONS: the student versions would overwrite the sources", file=sys.stderr)
        return 2
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = generate(solutions, out)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
