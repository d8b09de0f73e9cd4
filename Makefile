# Two commands do everything (README.md): `make book` builds the course, `make test` tests it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: book test test-fast setup

book: setup
	./course build

# One pytest worker per core and one more (pytest-xdist): a third of a test's time is spent waiting
# for the processes it starts (sandboxes at their time limits, kernels, a Dask worker's death),
# and the extra worker fills it. Measured on 2 cores: 14:56 with 2 workers, 13:20 with 3.
# Tests sharing an expensive fixture (the built site, one grading batch, one publication) carry
# the same xdist_group, so it is built once (tests/test_parallel.py checks that it is).
WORKERS  := $(shell echo $$(( $$(nproc) + 1 )))
PARALLEL := -n $(WORKERS) --dist loadgroup

test: setup
	$(PY) -m pytest $(PARALLEL)

# The quick answer while developing: everything but the tests marked slow (whole notebooks run,
# submissions graded, the site built and browsed). CI runs `make test`.
test-fast: setup
	$(PY) -m pytest $(PARALLEL) -m 'not slow'

setup: $(VENV)/.installed node_modules/.installed

# MathJax for the site (package.json pins it; the book must not depend on a CDN).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# An existing environment is reused (venv refuses to create over one that is a symlink).
# requirements.txt is a full lock: installed as it is (--no-deps), checked complete (pip check),
# and an environment made before rfc3987-syntax left the lock loses it (requirements.txt says why).
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.txt
	$(PY) -m pip uninstall --quiet --yes rfc3987-syntax lark 2>/dev/null
	$(PY) -m pip check
	touch $@
