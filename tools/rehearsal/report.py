"""Print the last rehearsal's results: each notebook's wall and CPU seconds, its failed
assertions (recorded, not fatal) and its verdict. ``make rehearsal`` and ``make test`` run it after the tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rehearsal import prepare, run  # noqa: E402


def main() -> int:
    files = sorted((prepare.BUILD / "results").glob("*.json"))
    if not files:
        print("no rehearsal results yet: run `make rehearsal`")
        return 1
    results = [json.loads(f.read_text()) for f in files]
    print(f"{'notebook':44} {'wall s':>7} {'CPU s':>7}  verdict")
    for r in sorted(results, key=lambda r: -r["cpu_seconds"]):
        name = Path(r["notebook"]).relative_to(prepare.ROOT).as_posix()
        verdict = "FAILED" if run.problems(r) else ("same as the quick profile (no profile switch): its "
                                                    "quick run is the test" if r.get("same_as_quick") else "ok")
        print(f"{name:44} {r['seconds']:7.1f} {r['cpu_seconds']:7.1f}  {verdict}"
              + (f"  ({len(r['assertions'])} assertion(s) not met, as expected of a capped run)" if r["assertions"] else ""))
    print(f"{'all notebooks':44} {sum(r['seconds'] for r in results):7.1f} {sum(r['cpu_seconds'] for r in results):7.1f}"
          f"  (namespace: {'yes' if all(r.get('netns') for r in results) else 'no, guard only'})")
    for r in results:
        for a in r["assertions"]:
            print(f"  {Path(r['notebook']).name} cell {a['cell']}: {a['message'][:150] or '(assert without message)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
