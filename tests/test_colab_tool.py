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


def test_install_cells_add_data_wheels_at_the_versions_ci_pins():
    """Notebooks that read a wheel's files (MTCNN weights, the nuclei image) install it in Colab, --no-deps."""
    extras = test_colab.install_cell_extras()
    assert {"facenet-pytorch==2.6.0", "stardist==0.9.2"} <= set(extras)
    nodeps = {line.split("#")[0].strip() for line in (ROOT / "requirements-nodeps.txt").read_text().splitlines()}
    assert set(extras) <= nodeps, f"install cells and requirements-nodeps.txt disagree: {set(extras) - nodeps}"
