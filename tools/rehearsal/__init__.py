"""The full-profile rehearsal: every notebook run with ``CVBOOK_PROFILE=full``, offline.

``make rehearsal`` (part of ``make test``) executes copies of every notebook of ``book/`` and
``labs/solutions/`` in the full profile against stand-ins, with nothing reachable but 127.0.0.1:

- :mod:`rehearsal.datasets`: a miniature of each real dataset of ``cvbook/data/sources.json``
  in its exact upstream format, built by ``standins/<dataset>.py`` (``build(folder)``), served
  over HTTP on 127.0.0.1 through a generated ``CVBOOK_SOURCES`` table;
- :mod:`rehearsal.weights`: pretrained torchvision weights as files with the exact keys and
  shapes (random values) in ``$TORCH_HOME/hub/checkpoints/``, for every weights enum the
  notebooks and the package name;
- ``guard/sitecustomize.py``: refuses (and records) every connection or name lookup that is
  not for the loopback address; each notebook also runs in a network namespace that has only
  loopback (``unshare -rn``) where the system allows one;
- caps in the package, set for the notebook's kernel as ``CVBOOK_MAX_STEPS``, ``CVBOOK_MAX_BATCH``
  and ``CVBOOK_MAX_ITEMS`` and read there once by :func:`cvbook.profile.settings` (the banner of the
  notebook's first cell prints them): :func:`cvbook.train.fit` stops after one step on the first
  two items of a batch, and :func:`cvbook.data.load` keeps the first items of a downloaded
  dataset: full-size models and inputs, a handful of steps and items;
- :mod:`rehearsal.run` runs one notebook that way; ``test_notebooks.py`` is the pytest module
  (one test per notebook, spread over workers with ``pytest -n 2``).

Every cell must run without error. Checked numbers are not compared, so a failed
``assert`` (a claim a capped run cannot reach, such as a target accuracy) is recorded and
listed, not fatal; any other exception, and any attempt to reach the network, fails.
"""
