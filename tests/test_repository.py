"""The repository URL lives in one place (tools/repository.py); badges, install cells, _config.yml
and the README agree with it, and a fork rewrites them all at once, idempotently."""
import shutil
import sys

from notebooks import BOOK, LAB_SOURCES, ROOT, STUDENT_LABS

sys.path.insert(0, str(ROOT / "tools"))
import repository  # noqa: E402


def test_every_place_names_the_one_repository():
    found = repository.occurrences()
    assert not repository.mismatches(), "\n".join(map(str, repository.mismatches()))
    places = {o.path.split(" cell ")[0] for o in found}
    for path in BOOK + LAB_SOURCES + STUDENT_LABS:
        rel = path.relative_to(ROOT).as_posix()
        kinds = {o.what for o in found if o.path.startswith(rel + " ")}
        assert kinds == {"Colab badge", "install cell"}, f"{rel} names the repository in {kinds or 'no place'}"
    assert {"README.md", "_config.yml", "CONTRIBUTING.md"} <= places


def test_a_fork_rewrites_everything_once_and_back(tmp_path):
    for rel in ["book/01_tasks_and_measures.ipynb", "labs/solutions/lab01_measures.ipynb", "labs/lab01_measures.ipynb",
                *repository.TEXT_FILES]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    this = tmp_path / "tools" / "repository.py"
    this.parent.mkdir()
    shutil.copy(ROOT / "tools" / "repository.py", this)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    changed = repository.rewrite("someone/cv-course", "dev", tmp_path, this_file=this)
    assert len(changed) == 7
    assert repository.mismatches(tmp_path, "someone/cv-course", "dev") == []
    assert len(repository.occurrences(tmp_path)) == 10  # 3 notebooks × 2, CONTRIBUTING 2, README 1, _config 1
    assert 'REPOSITORY = "someone/cv-course"' in this.read_text() and 'BRANCH = "dev"' in this.read_text()
    notebook = (tmp_path / "book/01_tasks_and_measures.ipynb").read_text()
    assert "colab.research.google.com/github/someone/cv-course/blob/dev/book/01_tasks_and_measures.ipynb" in notebook
    assert "git+https://github.com/someone/cv-course@dev" in notebook
    assert "url: https://github.com/someone/cv-course\n" in (tmp_path / "_config.yml").read_text()
    assert "  branch: dev\n" in (tmp_path / "_config.yml").read_text()
    assert repository.rewrite("someone/cv-course", "dev", tmp_path, this_file=this) == []  # idempotent

    repository.rewrite("cvbook/cvbook", "main", tmp_path, this_file=this)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # byte for byte


def test_the_install_cells_stored_hash_follows_the_rewrite(tmp_path):
    import nbformat

    from execute_notebooks import source_hash

    (tmp_path / "book").mkdir()
    shutil.copy(ROOT / "book/01_tasks_and_measures.ipynb", tmp_path / "book")
    shutil.copy(ROOT / "tools/repository.py", tmp_path / "repository.py")
    repository.rewrite("someone/cv-course", "main", tmp_path, this_file=tmp_path / "repository.py")
    install = nbformat.read(tmp_path / "book/01_tasks_and_measures.ipynb", as_version=4).cells[1]
    assert install.metadata["cvbook"]["source_sha256"] == source_hash(install.source)


def test_update_timings_keeps_only_units_that_still_exist():
    import json

    import schedule

    recorded = json.loads(schedule.TIMINGS.read_text())
    assert recorded and all(schedule._still_there(unit) for unit in recorded), "tests/timings.json names a deleted file"
    assert not schedule._still_there("tests/test_grade_leaks.py")  # deleted in issue 18
    assert not schedule._still_there(schedule.REHEARSAL + "book/99_gone.ipynb]")
    assert schedule._still_there(schedule.REHEARSAL + "book/12_region_based.ipynb]")
