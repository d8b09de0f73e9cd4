# Two commands do everything (README.md): `make book` builds the course, `make test` tests it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: book test setup

book: setup
	./course build

test: setup
	$(PY) -m pytest

setup: $(VENV)/.installed

# An existing environment is reused (venv refuses to create over one that is a symlink).
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@
