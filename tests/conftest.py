"""Shared helpers for the test suite, and the site that test_site and test_browser check."""
import functools
import json
import os
import subprocess
import sys
import time

# One BLAS thread in every test process, set before numpy loads OpenBLAS (which reads these once).
# `make test` runs one worker per core and most tests start more processes besides: with OpenBLAS's
# default of a thread per core, a worker's training spun threads against the other worker's and
# its own subprocesses', and a LeNet epoch took 28 s instead of 11 s. The benchmarks choose their
# thread counts themselves, per process or through OpenBLAS's setter.
assert 'numpy' not in sys.modules, 'numpy was imported before tests/conftest.py could limit its BLAS threads'
for _variable in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(_variable, '1')

import ahocorasick
import nbformat
import pytest

from pipeline.build import jupyter_book
from core.chapters import ROOT, chapters
from core.notebook_format import region_bodies, without_regions
from pipeline.nbgrader_settings import is_instructor_cell

# Figures the site tests measure, printed at the end of the run (see pytest_terminal_summary).
FIGURES = {}


def _sources(ch, student_visible=False):
    return _notebook_sources(ch.source, student_visible)


@functools.lru_cache(maxsize=None)
def _notebook_sources(path, student_visible):
    # read once per test process: the site's leak check asks for every chapter's lines some
    # hundred times (half a minute of reading notebooks again)
    cells = nbformat.read(str(path), as_version=4).cells
    return tuple(c.source for c in cells if not (student_visible and is_instructor_cell(c)))


def public_text(ch):
    """Everything of the chapter's notebook a student may see: the regions cut out, and the
    instructor cells left out (a line quoted there is still a secret)."""
    return '\n'.join(without_regions(src) for src in _sources(ch, student_visible=True))


def secret_lines(ch, known=''):
    """Lines of the chapter's reference solutions and hidden tests that appear nowhere a
    student may look (outside those regions, in any chapter, nor in `known`), so finding one
    published means a leak."""
    return secret_lines_of([ch], known)


def secret_lines_of(chapter_list, known=''):
    """The secret lines (secret_lines) of all these chapters, searched for together."""
    lines = frozenset(line.strip() for ch in chapter_list for src in _sources(ch) for body in region_bodies(src)
                      for line in body.splitlines() if len(line.strip()) > 20)
    return set(lines - _public(lines) - _occurring(lines, known))


@functools.lru_cache(maxsize=64)
def _public(lines):
    return _occurring(lines, _all_public_text())


@functools.lru_cache(maxsize=1)
def _all_public_text():
    return '\n'.join(public_text(c) for c in chapters())


def solution_text(chapter_list):
    """The full source of these chapters, reference solutions included."""
    return '\n'.join(src for ch in chapter_list for src in _sources(ch))


def leaked(lines, text):
    """The secret lines found in `text` (raw, or as escaped inside a notebook's JSON), in the
    order of `lines`. One pass over `text` finds them all (Aho-Corasick): searching for each of
    some thousand lines in turn took half a minute for the site alone."""
    found = _occurring(frozenset(lines), text, escaped=True)
    return [line for line in lines if line in found]


def _occurring(lines, text, escaped=False):
    """The set of `lines` found in `text` (with `escaped`, also as a JSON string escapes them)."""
    if not lines or not text:
        return set()
    return {line for _, line in _searcher(lines, escaped).iter(text)}


@functools.lru_cache(maxsize=64)
def _searcher(lines, escaped):
    automaton = ahocorasick.Automaton()
    for line in lines:
        for form in (line, json.dumps(line)[1:-1]) if escaped else (line,):
            automaton.add_word(form, line)
    automaton.make_automaton()
    return automaton


_BUILT = {}


def built_once(key, build):
    """`build()`, computed once per test process. pytest-xdist may give a worker a module's
    tests in two stretches with other tests between, and pytest then sets a module fixture up
    again; fixtures that grade a batch or publish the course keep what they built here."""
    if key not in _BUILT:
        _BUILT[key] = build()
    return _BUILT[key]


@pytest.fixture(scope='session')
def site(tmp_path_factory):
    """The site built from this checkout by the command `./course build` uses, into a
    scratch folder; returns its html folder."""
    out = tmp_path_factory.mktemp('site')
    started = time.monotonic()
    result = subprocess.run(jupyter_book(out), cwd=ROOT, capture_output=True, text=True)
    FIGURES['site build (jupyter-book, clean)'] = f'{time.monotonic() - started:.1f} s'
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out / '_build' / 'html'


def pytest_sessionfinish(session):
    """Under pytest-xdist tests run in workers and the controller prints the summary: each worker
    leaves its figures beside its own temporary folder, where the controller looks for them."""
    worker = os.environ.get('PYTEST_XDIST_WORKER')
    if worker and FIGURES:
        shared = session.config._tmp_path_factory.getbasetemp().parent / f'figures-{worker}.json'
        shared.write_text(json.dumps(FIGURES))


def pytest_terminal_summary(terminalreporter, config):
    figures = dict(FIGURES)
    if not hasattr(config, 'workerinput'):           # the controller (or a run without xdist)
        for shared in sorted(config._tmp_path_factory.getbasetemp().glob('figures-*.json')):
            figures |= json.loads(shared.read_text())
    if figures:
        terminalreporter.section('site figures')
        for name, value in figures.items():
            terminalreporter.write_line(f'{name}: {value}')


# The modules whose tests take longest, longest first (measured with --durations=0; the red-team
# batches take two to three minutes each). pytest-xdist hands out work in collection order: a
# long module collected last keeps one worker busy while the others have finished.
LONGEST_FIRST = ('test_redteam.py', 'test_student_path.py', 'test_cluster.py', 'test_browser.py', 'test_site.py',
                 'test_publish.py', 'test_gradescope.py', 'test_grading_budget.py', 'test_round_trip.py',
                 'test_student_check.py', 'test_training.py')


def pytest_collection_modifyitems(items):
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))
    # A test of the built site outside the 'site' group builds the site again on another worker
    # (40 s of work: test_instructor's guide test did, unnoticed).
    apart = [item.nodeid for item in items if 'site' in getattr(item, 'fixturenames', ())
             and 'site' not in {mark.kwargs.get('name', mark.args[0] if mark.args else None)
                                for mark in item.iter_markers('xdist_group')}]
    if apart:
        raise pytest.UsageError(f"these tests use the site fixture but not @pytest.mark.xdist_group('site'): {apart}")
