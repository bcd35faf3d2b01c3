"""tools/test_colab.py's verdict (`make test-colab`): nothing of Colab's list may change."""
import sys

from notebooks import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import test_colab  # noqa: E402


def test_colab_list_pins_what_the_issue_names():
    pins = test_colab.pinned()
    assert pins["torch"] == "2.8.0" and pins["torchvision"] == "0.23.0" and pins["numpy"] == "2.0.2"
    assert pins["ipywidgets"] == "7.7.1" and pins["anywidget"].startswith("0.9") and pins["pycocotools"] == "2.0.10"


def test_an_upgraded_colab_package_is_a_violation_an_added_one_is_not():
    before = {"ipywidgets": "7.7.1", "numpy": "2.0.2", "six": "1.16.0"}
    after = {"ipywidgets": "8.1.9", "numpy": "2.0.2", "six": "1.17.0", "cvbook": "git+file:///repo@abc", "comm": "0.2.3"}
    lines, violations = test_colab.changes(before, after)
    assert violations == ["ipywidgets: 7.7.1 -> 8.1.9"]
    assert "  cvbook: (absent) -> git+file:///repo@abc" in lines and "  six: 1.16.0 -> 1.17.0" in lines
    _, removed = test_colab.changes(before, {"six": "1.16.0"})
    assert removed == ["ipywidgets: 7.7.1 -> (removed)", "numpy: 2.0.2 -> (removed)"]
    assert test_colab.changes(before, dict(before)) == ([], [])


def test_names_are_compared_as_pip_normalises_them():
    assert test_colab.canonical("Jupyter_Client") == test_colab.canonical("jupyter-client") == "jupyter-client"
