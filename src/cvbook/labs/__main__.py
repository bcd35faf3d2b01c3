"""``python -m cvbook.labs [SOLUTIONS [OUT]]``: write the student versions of the labs."""

from .author import main

raise SystemExit(main())
