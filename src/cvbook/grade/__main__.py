"""``python -m cvbook.grade``: see :mod:`cvbook.grade.cli`."""

from .cli import main

raise SystemExit(main())
