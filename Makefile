# The two commands of the README: `make book` (build the book) and `make test` (every test).
# Both create .venv on first use and reuse it afterwards.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BOOK_FLAGS := -W -n --keep-going
export CVBOOK_PROFILE ?= quick
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg
# One intra-op thread per process: `make test` runs two pytest workers on two cores, and
# oversubscribed OpenMP threads made training up to 20x slower. `make execute` uses the same
# setting so that committed outputs come from the configuration the tests run.
export OMP_NUM_THREADS ?= 1

.PHONY: book book-in-background test test-setup source-bytecode system-packages rehearsal test-portability test-colab execute labs bench bench-grade browser sandbox clean help

help:
	@echo "make book              build the HTML book into _build/html"
	@echo "make test              run every test (unit, notebooks, labs, book build, browser, rehearsal)"
	@echo "make rehearsal         run every notebook in the full profile against offline stand-ins"
	@echo "make gpu-check         on a GPU: every notebook on CUDA, then training steps/s beside the T4 estimates"
	@echo "make test-portability  unit tests and checked cells with 2 threads, then generic CPU kernels"
	@echo "make test-colab        the book in a Colab-like environment, installed as students install it"
	@echo "make execute           re-execute every notebook in place (quick profile)"
	@echo "make labs              regenerate the student lab notebooks from labs/solutions"
	@echo "make bench             time the box toolkit against its references"
	@echo "make bench-grade       time the grader on 200 generated submissions of lab 4"

# The venv is filled by uv (pinned below, installed with pip first): it downloads and unpacks in
# parallel, 24 s here for requirements.txt where pip took 67 s, and `make test`'s set-up waits
# for it. torch's CUDA build and its libraries take about 6.5 GB in the venv; a download cache
# would hold a second copy of every wheel, so it is off (a CI run once ran out of disk with pip's).
# Nothing is compiled to bytecode here: Python compiles what a command imports, and $(BYTECODE)
# compiles the rest, on every core, for the tests. TLS uses the system's certificates, as pip does.
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
$(STAMP): export UV_NO_CACHE := 1
$(STAMP): export UV_SYSTEM_CERTS := 1
$(STAMP): export PIP_NO_CACHE_DIR := 1
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@free_kb=$$(df -Pk . | awk 'NR==2 {print $$4}'); if [ "$$free_kb" -lt 8000000 ]; then \
	  echo "warning: $$((free_kb / 1048576)) GiB free here; the venv needs about 7 GiB (torch's CUDA build)." \
	       "If the install fails with 'No space left on device', free some space and run make again."; fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q uv==$(UV_VERSION)
	$(UV) pip install -q --python $(PY) -r requirements.txt
	$(UV) pip install -q --python $(PY) --no-deps -r requirements-nodeps.txt
	$(UV) pip install -q --python $(PY) --no-deps -e .
	touch $@

# Bytecode for everything installed, on every core, for the tests: the grader's sandboxed kernels
# cannot write any (a read-only venv), so a module without it would be compiled at every import.
# Files that do not compile (templates, Python 2 leftovers) are left out, as pip leaves them, and so
# are the packages' own test suites (their tests/ folders: 3,300 of 14,300 files), which nothing imports.
BYTECODE := $(VENV)/.bytecode
$(BYTECODE): $(STAMP)
	$(PY) -m compileall -qq -j 0 -x '/tests/' $$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))') || true
	touch $@

# The checkout's own modules (src/, tools/, tests/), compiled at every `make test`: the grader's
# sandboxed kernels cannot write bytecode, and where PYTHONDONTWRITEBYTECODE is set (as in many CI
# images) no process writes any, so every kernel compiled the package's modules again (about
# 0.05 s of CPU for a chapter's imports, in some 300 kernels and grader processes). Up-to-date
# files are skipped.
SOURCE_BYTECODE := src tools tests
source-bytecode: $(STAMP)
	$(PY) -m compileall -qq -j 0 $(SOURCE_BYTECODE)

BOOK_BUILD := $(VENV)/bin/jupyter-book build . $(BOOK_FLAGS)
book: $(STAMP)
	@rm -f _build/.book-building _build/.book-status
	$(BOOK_BUILD)
	@echo "The book: $(CURDIR)/_build/html/index.html"

# `make test` builds the book beside its first tests: the build uses one core for about a minute,
# most of which the set-up's other steps left idle. tests/built_book.py waits for it (its process
# id in _build/.book-building, the exit status in _build/.book-status), and `make test` fails if
# it failed, with the end of its log.
book-in-background: $(STAMP)
	@mkdir -p _build && rm -f _build/.book-status
	@echo "building the book in the background (log: _build/book.log)"
	@sh -c 'echo $$$$ > _build/.book-building; $(BOOK_BUILD) > _build/book.log 2>&1; echo $$? > _build/.book-status' \
	  < /dev/null > /dev/null 2>&1 &

# Headless Chromium for the widget tests comes from Debian (a browser download fails here);
# CVBOOK_CHROMIUM names another Chromium-based browser (GitHub's runners have Google Chrome).
browser:
	@test -x "$${CVBOOK_CHROMIUM:-/nonexistent}" || command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null && apt-get clean; }

# The grader's sandbox (bubblewrap) comes from Debian too; its tests fail in CI without it.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "installing Debian's bubblewrap for the grader's sandbox"; \
	  apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null && apt-get clean; }

# nbval runs every chapter here; every lab source runs through nbval in the grader's sandbox
# (tests/test_grade_labs.py: the source itself must score full marks), so not a second time here.
# The rehearsal runs in the same session, so that two workers stay busy to the end: each takes the
# longest file or rehearsed notebook left (tests/schedule.py).
# The set-up runs two jobs at a time (uv beside apt-get: both mostly wait for the network), then
# compiles the bytecode while the book builds in the background (book-in-background), on into the
# first tests. The last line printed splits the time between the set-up and the tests.
test:
	@mkdir -p _build && date +%s > _build/.test-started
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-setup
	@date +%s > _build/.test-set-up
	$(PY) -m pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env -q --durations=20 \
	  tests book tools/rehearsal/test_notebooks.py; \
	status=$$?; $(PY) tools/rehearsal/report.py; \
	while [ ! -f _build/.book-status ] && kill -0 "$$(cat _build/.book-building 2>/dev/null)" 2>/dev/null; do sleep 1; done; \
	book=$$(cat _build/.book-status 2>/dev/null || echo none); \
	if [ "$$book" != 0 ]; then tail -n 40 _build/book.log; echo "make test: the book did not build" \
	  "(exit status $$book; log: _build/book.log)"; status=1; fi; \
	start=$$(cat _build/.test-started); setup=$$(cat _build/.test-set-up); end=$$(date +%s); \
	echo "make test: set-up $$((setup - start)) s, tests $$((end - setup)) s, $$((end - start)) s in all (exit status $$status)"; \
	exit $$status

test-setup: $(STAMP) $(BYTECODE) source-bytecode system-packages book-in-background

# The Debian packages of the tests, one apt-get after the other (apt-get holds a lock).
system-packages:
	@$(MAKE) --no-print-directory browser
	@$(MAKE) --no-print-directory sandbox

# The full profile, rehearsed offline (tools/rehearsal): every notebook of book/ and
# labs/solutions/ with CVBOOK_PROFILE=full against miniature datasets and weight stand-ins served
# on 127.0.0.1, nothing else reachable, one step per fit and a handful of items. One test per
# notebook; a notebook whose code never selects the profile is its quick run, which `make test` checks.
rehearsal: $(STAMP) $(BYTECODE)
	$(PY) -m pytest -n 2 -q -p no:cacheprovider tools/rehearsal/test_notebooks.py; \
	status=$$?; $(PY) tools/rehearsal/report.py; exit $$status

# Checked outputs must not depend on the machine: the suite (without the book build and the
# browser) with two OpenMP threads per process, then with torch's generic CPU kernels (no AVX2 or
# AVX-512), as on an older CPU. Slow (two passes over every notebook): not part of `make test`.
PORTABLE := --nbval-lax --nbval-current-env -q tests book labs/solutions \
	--ignore=tests/test_book.py --ignore=tests/test_browser.py --ignore=tests/test_rehearsal.py
test-portability: $(STAMP) $(BYTECODE)
	OMP_NUM_THREADS=2 $(PY) -m pytest -n 1 --dist loadfile $(PORTABLE)
	ATEN_CPU_CAPABILITY=default $(PY) -m pytest -n 2 --dist loadfile $(PORTABLE)

# A Colab-like environment (colab/requirements.txt: Colab's current runtime, Python 3.13), the
# package installed as a notebook's install cell does (from this repository's last commit), fails if
# pip moved anything of Colab's; then the unit tests and every notebook (quick profile). See
# tools/test_colab.py and colab/README.md. `make test-colab COLAB=2026.07`: the past runtime Colab
# keeps selectable (colab/requirements-2026.07.txt, Python 3.12). COLAB_PYTHON: the interpreter,
# by default the Python the list names (python3.13, python3.12; pyenv's when not on the PATH).
COLAB ?= current
COLAB_PYTHON ?= python$(shell sed -n 's/^\# python: \(3\.[0-9]*\)$$/\1/p' \
  colab/requirements$(if $(filter current,$(COLAB)),,-$(COLAB)).txt)
test-colab:
	$(PYTHON) tools/test_colab.py --runtime $(COLAB) --python $(COLAB_PYTHON)

# On a machine with an NVIDIA GPU, no internet needed (≤ 8 minutes on one GPU): every notebook in the
# full profile on CUDA against the rehearsal's stand-ins, one step per fit, then a fixed number of
# training steps per pass, timed beside tools/t4_estimates.py's figures; fails on any device error.
# Without a GPU: python tools/gpu_check.py --device cpu --notebooks 1 --steps 1 --max-batch 2
.PHONY: gpu-check
gpu-check: $(STAMP)
	$(PY) tools/gpu_check.py --json _build/gpu-check.json

execute: $(STAMP)
	$(PY) tools/execute_notebooks.py book/*.ipynb labs/solutions/*.ipynb

labs: $(STAMP)
	$(PY) -m cvbook.labs

bench: $(STAMP)
	$(PY) benchmarks/boxes.py
	$(PY) benchmarks/greedy_nms.py

bench-grade: $(STAMP) $(BYTECODE) sandbox
	$(PY) benchmarks/grading.py --lab lab04 --n 200 --jobs 2

clean:
	rm -rf _build
