"""tools/test_colab.py's verdict (`make test-colab`): nothing of Colab's list may change."""
import sys

import pytest

from notebooks import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import test_colab  # noqa: E402


def test_colab_lists_pin_what_colabs_published_lists_name():
    """Colab's current runtime (Python 3.13) and the past one it keeps selectable (2026.07, Python 3.12)."""
    current, past = test_colab.requirements_of("current"), test_colab.requirements_of("2026.07")
    assert current == ROOT / "colab" / "requirements.txt" and past == ROOT / "colab" / "requirements-2026.07.txt"
    assert (test_colab.python_version(current), test_colab.python_version(past)) == ("3.13", "3.12")
    pins, old = test_colab.pinned(current), test_colab.pinned(past)
    assert (pins["torch"], pins["torchvision"], pins["numpy"], pins["pycocotools"]) == ("2.11.0", "0.26.0", "2.1.3", "2.0.11")
    assert (old["torch"], old["torchvision"], old["numpy"]) == ("2.11.0", "0.26.0", "2.0.2")
    for both in (pins, old):
        assert (both["ipywidgets"], both["anywidget"], both["jupyter-client"], both["notebook"]) == \
            ("7.7.1", "0.9.21", "7.4.9", "6.5.7")
    assert pins.keys() == old.keys(), "both runtimes pin the same packages"


def test_an_unknown_runtime_or_a_python_of_another_version_is_refused_clearly(tmp_path):
    with pytest.raises(SystemExit, match=r"no pinned list for the Colab runtime '1999\.01'.*known: current, 2026\.07"):
        test_colab.requirements_of("1999.01")
    with pytest.raises(SystemExit, match=r"is Python 3\.\d+, but this Colab runtime has Python 3\.2"):
        test_colab.find_python("3.2", sys.executable)
    assert test_colab.find_python("%d.%d" % sys.version_info[:2], sys.executable) == sys.executable
    unnamed = tmp_path / "requirements.txt"
    unnamed.write_text("torch==2.11.0\n")
    with pytest.raises(SystemExit, match="must be like '# python: 3.13'"):
        test_colab.python_version(unnamed)


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


def test_pins_are_compared_with_colabs_published_freeze(tmp_path):
    """googlecolab/backend-info's pip-freeze.txt: torch from download.pytorch.org is a URL line."""
    freeze = ("# Do not modify this file directly\nnumpy==2.1.3\nipywidgets==7.7.1\n"
              "torch @ https://download.pytorch.org/whl/cu128/torch-2.11.0%2Bcu128-cp313-cp313-manylinux_2_28_x86_64.whl"
              "#sha256=0123\ntorchvision @ https://download.pytorch.org/whl/cu128/torchvision-0.26.0%2Bcu128-cp313-cp313-"
              "manylinux_2_28_x86_64.whl\nPyYAML==6.0.3\njupyter_client==7.4.9\n")
    versions = test_colab.published_versions(freeze)
    assert versions == {"numpy": "2.1.3", "ipywidgets": "7.7.1", "torch": "2.11.0", "torchvision": "0.26.0",
                        "pyyaml": "6.0.3", "jupyter-client": "7.4.9"}
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# python: 3.13\ntorch==2.11.0\nnumpy==2.0.2\nPyYAML==6.0.3\nnbval==0.11.0\n")
    assert test_colab.compare(requirements, freeze) == ["  numpy: pinned 2.0.2, Colab has 2.1.3",
                                                        "  nbval: pinned 0.11.0, Colab has (not in its list)"]


def test_the_tests_left_out_for_needing_a_checkout_exist():
    """A renamed test would silently run (and fail) in `make test-colab` again: each name must exist."""
    for node in test_colab.NEEDS_A_CHECKOUT:
        path, name = node.split("::")
        assert f"def {name}(" in (test_colab.ROOT / path).read_text(), f"{node} is no longer in {path}"
