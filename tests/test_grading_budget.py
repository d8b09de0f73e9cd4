"""Demonstrations left out of grading change no grade (autograder/demonstrations.py).

For every chapter that declares demonstrations, the reference solution runs once with every
cell, in the real sandbox through the real Assignment (`all_cells=True`); then its answers
are graded as a student's, once, with the declared cells left out, against that run. Every
check of every test, visible and hidden, must record exactly the values it recorded with the
demonstrations run, and every test must earn full marks: no test reads a value that only a
left-out cell produces. A declaration that wrongly leaves out a cell a test needs fails the
same comparison (the last test), and a declaration the grader cannot honour is refused
before anything runs.
"""
import json
import re
from dataclasses import dataclass

import pytest

from autograder.assignment import Assignment, InfraError, score
from autograder.demonstrations import declared_demonstrations
from autograder.notebook import match, parse, read_instructor
from autograder.sandbox import Limits, Sandbox
from autograder.store import Store
from core.chapters import Chapter, chapter, chapters
from conftest import built_once
from redteam_cases import Chapter as Notebooks

KEY = b'grading-budget-test-key'
SEED = 1234
DECLARING = [ch.id for ch in chapters() if ch.grading.get('demonstrations')]


# The module's reference runs are computed once: its tests share one xdist worker (Makefile).
pytestmark = pytest.mark.xdist_group('grading_budget')


@pytest.fixture(scope='module')
def sandbox():
    return Sandbox.detect('auto', Limits())


@pytest.fixture(scope='module')
def full_runs(tmp_path_factory, sandbox):
    """{chapter id: (assignment, reference records) of the reference run of every cell}."""
    # kept if pytest sets the fixture up again (conftest.built_once)
    runs, tmp = built_once('grading-budget runs', lambda: ({}, tmp_path_factory.mktemp('every-cell')))

    def full_run(ch):
        if ch.id not in runs:
            every = Assignment(ch, Store(ch, root=tmp / ch.id), sandbox, KEY, all_cells=True)
            assert not every.left_out
            every.compute_reference([SEED])
            runs[ch.id] = every, every.reference_for(SEED)
        return runs[ch.id]
    return full_run


def graded_without_demonstrations(ch, store_root, sandbox, every, reference):
    """The reference answers graded as a student's under `ch`'s declaration, against the
    run of every cell: (assignment, differences in what the checks recorded, scores)."""
    declared = Assignment(ch, Store(ch, root=store_root), sandbox, KEY)
    assert declared.left_out and not declared.problems, declared.problems
    # Student runs import what the reference run imported (prepare() reads it from there).
    declared.main = every.main
    data = json.dumps(Notebooks(ch).correct()).encode()
    cells, metadata = parse(data)
    structure = match(declared.instructor, declared.stubs, cells, metadata)
    run = declared.run(declared.plan(structure.answers, seed=SEED))
    assert not run.harness_failed, run.harness_failed
    state = score(declared, {'key': 'reference', 'student': 'reference'}, structure, run, reference)
    return declared, declared.differences(run, reference), state


@pytest.mark.parametrize('cid', DECLARING)
def test_no_test_reads_what_a_demonstration_computes(cid, full_runs, sandbox, tmp_path):
    ch = chapter(cid)
    every, reference = full_runs(ch)
    declared, differences, state = graded_without_demonstrations(ch, tmp_path, sandbox, every, reference)
    left_out = {declared.instructor[i].label for i in declared.left_out}
    planned = {cell['label'] for cell in declared.plan({})['cells']}
    assert left_out and not left_out & planned
    assert differences == [], f'{cid}: a test depends on a declared demonstration:\n  ' + '\n  '.join(differences)
    full = {t.grade_id: t.points for t in declared.tests}
    assert state['scores'] == full, (state['scores'], state['feedback'])
    assert state['status'] == 'graded'


@dataclass(frozen=True)
class Redeclared(Chapter):
    """A chapter whose declaration leaves out `also` besides what its notebook declares."""
    also: tuple = ()

    @property
    def grading(self):
        grading = json.loads(json.dumps(super().grading))
        grading.setdefault('demonstrations', {}).setdefault('skip', []).extend(self.also)
        return grading


def test_leaving_out_a_cell_a_test_reads_is_caught(full_runs, sandbox, tmp_path):
    """Chapter 10's first test reads X and K, which the cell `corr2d_multi_in_demo` makes:
    declared a demonstration, it makes that test compute something else, and the comparison
    of the first test says so."""
    ch = chapter('ch10')
    wrong = Redeclared(ch.id, ch.number, ch.name, also=('corr2d_multi_in_demo',))
    every, reference = full_runs(ch)
    _, differences, state = graded_without_demonstrations(wrong, tmp_path, sandbox, every, reference)
    assert any(d.startswith('test_corr2d_multi_in_out:') for d in differences), differences
    assert state['scores']['test_corr2d_multi_in_out'] == 0


@pytest.mark.parametrize('skip, refused', [
    (['ex_lenet'], "'ex_lenet', which is an answer cell"),
    (['test_lenet'], "'test_lenet', which is a test cell"),
    (['code040', 'code_renamed'], "'code_renamed', which no cell of the notebook has as its id"),
    (['instructor-time-budget'], 'a markdown cell'),
    (['code040', 'code040'], "'code040' twice"),
    ('code040', 'must be a list of cell ids'),
])
def test_a_declaration_the_grader_cannot_honour_is_refused(skip, refused, sandbox, tmp_path):
    ch = chapter('ch10')
    left_out, problems = declared_demonstrations(read_instructor(ch.source), {'demonstrations': {'skip': skip}})
    assert left_out == set() and any(refused in p for p in problems), problems
    wrong = Redeclared(ch.id, ch.number, ch.name, also=tuple(skip) if isinstance(skip, list) else ())
    if isinstance(skip, list):
        assignment = Assignment(wrong, Store(wrong, root=tmp_path), sandbox, KEY)
        assert not assignment.left_out
        with pytest.raises(InfraError, match=re.escape(refused)):
            assignment.prepare([SEED])


def test_unknown_keys_are_refused():
    cells = read_instructor(chapter('ch10').source)
    _, problems = declared_demonstrations(cells, {'demonstrations': {'skips': ['code040']}})
    assert problems == ["course.grading.demonstrations has an unknown key 'skips' (known: skip)"]
    _, problems = declared_demonstrations(cells, {'demonstrations': ['code040']})
    assert problems and 'must be an object' in problems[0]


def test_every_declaration_in_the_course_is_honoured():
    """A renamed or deleted demonstration cell fails here, before any batch is graded."""
    for ch in chapters():
        left_out, problems = declared_demonstrations(read_instructor(ch.source), ch.grading)
        assert problems == [], f'{ch.id}: {problems}'
        assert bool(left_out) == (ch.id in DECLARING)
