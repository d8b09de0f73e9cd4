# Two commands do everything (README.md): `make book` builds the course, `make test` tests it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: book test test-fast setup

book: setup
	./course build

# One pytest worker per core (pytest-xdist). Tests sharing an expensive fixture (the built site,
# one grading batch, one publication) carry the same xdist_group, so it is built once.
PARALLEL := -n auto --dist loadgroup

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
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@
