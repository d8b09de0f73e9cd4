# Two commands do everything (README.md): `make book` builds the course, `make test` tests it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: book test setup

book: setup
	./course build

test: setup
	$(PY) -m pytest

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
