"""The repository URL lives in one place (tools/repository.py); badges, install cells, _config.yml
and the README agree with it, and a fork rewrites them all at once, idempotently."""
import shutil
import sys
from collections import Counter

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
        # and, where it links a file of the repository (its full-profile line), a GitHub file link
        assert kinds - {"GitHub file link"} == {"Colab badge", "install cell"}, (
            f"{rel} names the repository in {kinds or 'no place'}")
    assert {"README.md", "_config.yml", "CONTRIBUTING.md"} <= places


def test_a_fork_rewrites_everything_once_and_back(tmp_path):
    for rel in ["book/01_tasks_and_measures.ipynb", "labs/solutions/lab01_measures.ipynb", "labs/lab01_measures.ipynb",
                *repository.TEXT_FILES]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    this = tmp_path / "tools" / "repository.py"
    this.parent.mkdir()
    shutil.copy(ROOT / "tools" / "repository.py", this)
    # a link to a file on GitHub, as tools/t4_estimates.py writes into each notebook (whether or not the
    # copied notebooks carry the new line yet)
    (tmp_path / "README.md").write_text((tmp_path / "README.md").read_text()
                                        + f"\nSee [the estimator]({repository.github_url('tools/t4_estimates.py')}).\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    kinds = Counter(o.what for o in repository.occurrences(tmp_path))
    # 3 notebooks × (badge, install), CONTRIBUTING (badge, install), README 1 install, _config 1, and file links
    assert kinds["Colab badge"] == 4 and kinds["install cell"] == 5 and kinds["repository URL"] == 1
    assert kinds["GitHub file link"] >= 1

    changed = repository.rewrite("someone/cv-course", "dev", tmp_path, this_file=this)
    assert len(changed) == 7
    assert repository.mismatches(tmp_path, "someone/cv-course", "dev") == []
    assert Counter(o.what for o in repository.occurrences(tmp_path)) == kinds
    assert "[the estimator](https://github.com/someone/cv-course/blob/dev/tools/t4_estimates.py)" in (
        tmp_path / "README.md").read_text()
    assert 'REPOSITORY = "someone/cv-course"' in this.read_text() and 'BRANCH = "dev"' in this.read_text()
    notebook = (tmp_path / "book/01_tasks_and_measures.ipynb").read_text()
    assert "colab.research.google.com/github/someone/cv-course/blob/dev/book/01_tasks_and_measures.ipynb" in notebook
    assert "git+https://github.com/someone/cv-course@dev" in notebook
    assert "url: https://github.com/someone/cv-course\n" in (tmp_path / "_config.yml").read_text()
    assert "  branch: dev\n" in (tmp_path / "_config.yml").read_text()
    assert repository.rewrite("someone/cv-course", "dev", tmp_path, this_file=this) == []  # idempotent

    repository.rewrite("cvbook/cvbook", "main", tmp_path, this_file=this)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # byte for byte


def test_github_url_names_a_file_of_the_repository_at_its_branch():
    assert repository.github_url("tools/t4_estimates.py") == (
        f"https://github.com/{repository.REPOSITORY}/blob/{repository.BRANCH}/tools/t4_estimates.py")
    assert repository.github_url("/README.md", "someone/cv-course", "dev") == (
        "https://github.com/someone/cv-course/blob/dev/README.md")
    (found,) = repository._find(repository.github_url("tools/repository.py", "someone/cv-course", "dev"), "here")
    assert (found.what, found.repository, found.branch) == ("GitHub file link", "someone/cv-course", "dev")
    # neither a Colab badge nor an install cell reads as a file link, nor the repository button
    for text in ("https://colab.research.google.com/github/cvbook/cvbook/blob/main/labs/lab01_measures.ipynb",
                 "git+https://github.com/cvbook/cvbook@main", "url: https://github.com/cvbook/cvbook\n"):
        assert "GitHub file link" not in {o.what for o in repository._find(text, "here")}, text


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
