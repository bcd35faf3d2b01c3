"""Rosters, LMS bulk downloads and the grade files Canvas and Moodle import (cvbook.grade.lms),
and the grading command with --roster and --format (kernels replaced: see test_grade_cli.py
and the appendix for real runs)."""
import csv
import os
import sys
from pathlib import Path

import pytest

from cvbook.grade import cli, lms, run
from cvbook.grade.rebuild import Flag
from cvbook.grade.sandbox import Sandbox
from cvbook.grade.source import load_lab
from grading import corpus

LAB = load_lab(corpus.SOURCE)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_three_roster_headers_are_read(tmp_path):
    plain = lms.read_roster(write(tmp_path / "a.csv", "id,name,email\n101,Jane Doe,jane@u.edu\n102,Ann Lee,\n"))
    assert list(plain.students) == ["101", "102"] and plain.students["101"].email == "jane@u.edu"
    canvas = lms.read_roster(write(tmp_path / "b.csv", "Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 (77)\n"
                                   "    Points Possible,,,,,5\n\"Doe, Jane\",101,s-1,jdoe,CV 101,\n"))
    assert canvas.students["101"] == lms.Student("101", "Doe, Jane", "", "s-1", "jdoe", "CV 101")
    moodle = lms.read_roster(write(tmp_path / "c.csv", "\ufeffIdentifier,Full name,Email address,Status,Grade\n"
                                   "Participant 657831,Jane Doe,jane@u.edu,Submitted,\n"))
    assert moodle.students["657831"].name == "Jane Doe" and moodle.students["657831"].email == "jane@u.edu"


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("student_number,surname\n1,x\n", "needs an id and a name column"),
    ("id,name\n101,A\n101,B\n", "on the roster twice"),
    ("id,name\n../x,A\n", "is not an id"),
    ("id,name\n", "no student"),
])
def test_a_wrong_roster_says_what_to_fix(tmp_path, text, message):
    with pytest.raises(lms.RosterError, match=message):
        lms.read_roster(write(tmp_path / "r.csv", text))


def test_bulk_download_names():
    assert lms.parse_name("doejane_101_90001_lab01_measures.ipynb") == ("101", "no", 90001)
    assert lms.parse_name("doejane_LATE_101_90002_lab01_measures-1.ipynb") == ("101", "yes", 90002)
    assert lms.parse_name("Jane Doe_657831_assignsubmission_file_lab01.ipynb") == ("657831", "", -1)
    assert lms.parse_name("Jane Doe_657831_assignsubmission_file_") == ("657831", "", -1)
    assert lms.parse_name("Jane Doe_657831_assignsubmission_file") == ("657831", "", -1)
    assert lms.parse_name("alice.ipynb") is None
    assert lms.parse_name("Jane Doe_657831_assignsubmission_file_x.ipynb", "canvas") is None


def test_two_uploads_are_one_row_the_latest_counts(tmp_path):
    roster = lms.read_roster(write(tmp_path / "r.csv", "id,name\n101,Jane Doe\n102,Ann Lee\n103,Bo Chen\n104,Cy Diaz\n"))
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("doejane_101_90001_lab01.ipynb", "doejane_LATE_101_90007_lab01-1.ipynb", "leeann_102_90003_lab01.ipynb",
                 "leeann_102_90009_notes.txt", "chenbo_103_90004_lab01.py", "zzz_999_90005_lab01.ipynb", "README.txt"):
        (subs / name).write_text("{}")
    matched = lms.match(roster, subs)
    assert matched.submissions["101"].name == "doejane_LATE_101_90007_lab01-1.ipynb" and matched.late["101"] == "yes"
    assert matched.uploads["101"] == ["doejane_LATE_101_90007_lab01-1.ipynb", "doejane_101_90001_lab01.ipynb"]
    assert matched.submissions["102"].name == "leeann_102_90003_lab01.ipynb", "the latest notebook, not a later text file"
    assert matched.late["102"] == "no" and "102" not in matched.problems
    assert "no notebook (.ipynb) among the uploads: chenbo_103_90004_lab01.py" == matched.problems["103"]
    assert "104" not in matched.submissions
    notes = " ".join(matched.notes)
    assert "zzz_999_90005_lab01.ipynb" in notes and "README.txt" in notes and "Cy Diaz" in notes


def test_moodle_folders_and_the_newest_file(tmp_path):
    roster = lms.read_roster(write(tmp_path / "r.csv", "Identifier,Full name\nParticipant 5,Jane Doe\n"))
    folder = tmp_path / "subs" / "Jane Doe_5_assignsubmission_file_"
    folder.mkdir(parents=True)
    old, new = folder / "lab01.ipynb", folder / "lab01 (1).ipynb"
    old.write_text("{}")
    new.write_text("{}")
    os.utime(old, (1_700_000_000, 1_700_000_000))
    os.utime(new, (1_700_000_100, 1_700_000_100))
    matched = lms.match(roster, tmp_path / "subs")
    assert matched.submissions["5"] == new and matched.late["5"] == ""


def result(student: str, score: float) -> run.Result:
    return run.Result(student, "graded", score, 5.0, [run.CheckResult(c.id, c.points, 0.0, "") for c in LAB.checks])


def test_import_files_are_what_canvas_and_moodle_read(tmp_path):
    roster = lms.read_roster(write(tmp_path / "r.csv", "id,name,email,sis_user_id,sis_login_id,section\n"
                                   "101,\"Doe, Jane\",jane@u.edu,s-1,jdoe,CV 101\n102,=cmd(),ann@u.edu,,,\n"))
    results = {"101": result("101", 4.5)}
    assert lms.canvas_rows(roster, results, "Lab 1") == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 1"],
        ["Doe, Jane", "101", "s-1", "jdoe", "CV 101", "4.5"],
        ["'=cmd()", "102", "", "", "", ""]]  # no formula from a name; no submission: an empty cell
    rows = lms.moodle_rows(roster, results, 5.0, when=0)
    assert rows[0] == ["Identifier", "Full name", "Email address", "Grade", "Maximum Grade", "Last modified (grade)"]
    assert rows[1][:5] == ["Participant 101", "Doe, Jane", "jane@u.edu", "4.5", "5"] and rows[1][5].startswith("1970-01-01")
    assert rows[2][3:] == ["", "5", "-"]
    lms.write_import("canvas", tmp_path / "canvas.csv", roster, results, "Lab 1", 5.0)
    assert list(csv.reader(open(tmp_path / "canvas.csv"))) == lms.canvas_rows(roster, results, "Lab 1")
    with pytest.raises(ValueError, match="canvas or moodle"):
        lms.write_import("blackboard", tmp_path / "x.csv", roster, results, "Lab 1", 5.0)


def test_the_command_with_a_roster_writes_one_row_per_student_and_the_lms_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "choose", lambda kind, profile: Sandbox("bubblewrap", sys.executable, ()))
    graded = []

    def fake(lab, student, submission, out, scratch, sandbox, limits, **options):
        graded.append((student, submission.name))
        r = result(student, 5.0 if "LATE" in submission.name else 2.0)
        r.source_sha256, r.submission_sha256 = lab.sha256, run.fingerprint(submission)
        if student == "102":
            r.flags = [Flag("answer 30f74f54 (Exercise 1: accuracy)", "opens a file outside its folder")]
        return r

    monkeypatch.setattr(run, "grade_one", fake)
    write(tmp_path / "roster.csv", "id,name,email\n101,Jane Doe,jane@u.edu\n102,Ann Lee,ann@u.edu\n103,Bo Chen,\n")
    subs = tmp_path / "download"
    subs.mkdir()
    for name in ("doejane_101_90001_lab01.ipynb", "doejane_LATE_101_90007_lab01-1.ipynb", "leeann_102_90003_lab01.ipynb"):
        (subs / name).write_text("{}")
    monkeypatch.chdir(tmp_path)
    # the lab by its path: under the cwd (tmp_path) or an installed, not editable, package (make test-colab),
    # "lab01" names no lab
    lab01 = str(Path(__file__).resolve().parents[1] / "labs" / "solutions" / "lab01_measures.ipynb")
    assert cli.main([lab01, "download", "--out", "graded", "--roster", "roster.csv", "--format", "canvas",
                     "--format", "moodle", "--assignment", "Lab 1 (77)"]) == 0
    assert sorted(graded) == [("101", "doejane_LATE_101_90007_lab01-1.ipynb"), ("102", "leeann_102_90003_lab01.ipynb")]
    book = list(csv.DictReader(open(tmp_path / "graded" / "gradebook.csv")))
    assert [(r["student"], r["name"], r["late"], r["score"], r["status"]) for r in book] == [
        ("101", "Jane Doe", "yes", "5", "graded"), ("102", "Ann Lee", "no", "2", "graded"), ("103", "Bo Chen", "", "", "missing")]
    assert book[0]["uploads"] == "doejane_LATE_101_90007_lab01-1.ipynb; doejane_101_90001_lab01.ipynb"
    canvas = list(csv.reader(open(tmp_path / "graded" / "canvas.csv")))
    assert canvas[0][-1] == "Lab 1 (77)" and [row[-1] for row in canvas[1:]] == ["5", "2", ""]
    moodle = list(csv.DictReader(open(tmp_path / "graded" / "moodle.csv")))
    assert [(m["Identifier"], m["Grade"]) for m in moodle] == [("Participant 101", "5"), ("Participant 102", "2"),
                                                                ("Participant 103", "")]
    said = capsys.readouterr().err
    assert "Bo Chen" in said, "who did not hand in is said"
    assert "worth a look (code that reaches for the grader or the system): 102 (Ann Lee)\n" in said, said


def test_format_needs_a_roster(tmp_path, capsys):
    assert cli.main(["lab01", str(tmp_path), "--out", str(tmp_path / "o"), "--format", "canvas"]) == 2
    assert "needs --roster" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("x,y\n")
    assert cli.main(["lab01", str(tmp_path), "--out", str(tmp_path / "o"), "--roster", str(tmp_path / "bad.csv")]) == 2
    assert "needs an id and a name column" in capsys.readouterr().err
