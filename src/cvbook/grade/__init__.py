"""Grading a class's lab submissions through nbval, in a sandbox (``python -m cvbook.grade``).

- :mod:`~cvbook.grade.source`: the lab source, its checks and points;
- :mod:`~cvbook.grade.rebuild`: a submission's answers in the source's notebook;
- :mod:`~cvbook.grade.seal`: in the kernel, keeps student code from faking the checks;
- :mod:`~cvbook.grade.sandbox`, :mod:`~cvbook.grade.confine`, :mod:`~cvbook.grade.watch`: where
  and how a submission's kernel runs, and its limits;
- :mod:`~cvbook.grade.plugin`: the pytest plugin that adapts nbval to untrusted code;
- :mod:`~cvbook.grade.run`: one submission, from rebuild to result;
- :mod:`~cvbook.grade.report`: gradebook, feedback, the instructor's flags;
- :mod:`~cvbook.grade.lms`: a roster, an LMS's bulk download matched to it, Canvas's and Moodle's import files;
- :mod:`~cvbook.grade.cli`: the command line;
- :mod:`~cvbook.grade.gradescope`: the Gradescope autograder (a zip Gradescope runs on each submission).
"""
