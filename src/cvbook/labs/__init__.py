"""Labs: one source notebook with solutions, one generated student notebook.

- :mod:`cvbook.labs.check`: what students call, :func:`~cvbook.labs.check.check` and :func:`~cvbook.labs.check.summary`;
- :mod:`cvbook.labs.cells`: which cells are answers, checks (with their points) and the summary;
- :mod:`cvbook.labs.author`: the student version (``python -m cvbook.labs``, ``make labs``).

``from cvbook.labs import check`` is what every lab does.
"""

from .author import strip_solutions, student_notebook
from .check import check, summary

__all__ = ["check", "summary", "strip_solutions", "student_notebook"]
