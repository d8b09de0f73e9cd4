"""Fair exercises (issue 14): the points show the effort, each graded feature earns its own
points, and nothing is graded that the exercise does not state and a visible check does not try.

The contract, per exercise of a solution notebook:

- its heading reads `### Exercise N — title (P points)` (or `(1 point)`), with 1 <= P <= 3;
- the test cells between this heading and the next exercise (or section) heading together
  give P points: one test cell per graded feature, so a partly right answer earns part of P;
- each test cell names its feature in its metadata (`course.feature`), and that sentence
  stands in the exercise's text, so a student reads everything that is graded;
- each test cell's visible part runs at least one check, so the self-check tries every graded
  feature before the hidden tests (which use other values) do.
"""
import re

import pytest

from core.chapters import chapters
from core.notebook_format import HIDDEN_BEGIN, nbgrader_metadata, split_test

import nbformat

HEADING = re.compile(r'^### Exercise (\d+) — (.+?)(?: \((\d+) points?\))?\s*$', re.M)
SECTION = re.compile(r'^#{1,3} ', re.M)
CHECK_CALL = re.compile(r'\b(check|check_equal|check_array|check_raises|check_gradient|check_close)\(')


def normalized(text):
    return ' '.join(text.replace('`', '').split()).lower()


def exercises(ch):
    """[(number, title, stated points, markdown text, [test cells])] of one chapter, in order."""
    nb = nbformat.read(str(ch.source), as_version=4)
    found, current = [], None
    for cell in nb.cells:
        if cell.cell_type == 'markdown':
            heading = HEADING.search(cell.source)
            if heading:
                current = [int(heading.group(1)), heading.group(2),
                           int(heading.group(3)) if heading.group(3) else None, cell.source, []]
                found.append(current)
                continue
            if current is not None and SECTION.search(cell.source):
                current = None                          # a new section ends the exercise
            elif current is not None:
                current[3] += '\n' + cell.source
        elif current is not None and nbgrader_metadata(cell).get('grade') and not nbgrader_metadata(cell).get('solution'):
            current[4].append(cell)
    return [tuple(e) for e in found]


CASES = [(ch, e) for ch in chapters() for e in exercises(ch) if e[4]]


@pytest.mark.parametrize('ch, exercise', CASES, ids=[f'{ch.id}-ex{e[0]}' for ch, e in CASES])
def test_points_show_the_effort_and_add_up(ch, exercise):
    number, title, stated, _, tests = exercise
    assert stated is not None, f'{ch.id} exercise {number}: the heading must say its points, e.g. "(2 points)"'
    assert 1 <= stated <= 3, f'{ch.id} exercise {number}: {stated} points (1 to 3)'
    total = sum(float(nbgrader_metadata(c).get('points', 0)) for c in tests)
    assert total == stated, f'{ch.id} exercise {number}: the heading says {stated}, its test cells give {total}'


@pytest.mark.parametrize('ch, exercise', CASES, ids=[f'{ch.id}-ex{e[0]}' for ch, e in CASES])
def test_every_graded_feature_is_stated_and_tried_visibly(ch, exercise):
    number, _, _, text, tests = exercise
    for cell in tests:
        gid = nbgrader_metadata(cell).get('grade_id')
        feature = cell.metadata.get('course', {}).get('feature')
        assert feature, f'{ch.id} {gid}: no course.feature saying what this test cell grades'
        assert normalized(feature) in normalized(text), \
            f'{ch.id} {gid}: the feature "{feature}" is not stated in exercise {number}\'s text'
        visible, hidden, _ = split_test(cell.source)
        assert CHECK_CALL.search(visible), f'{ch.id} {gid}: no visible check of "{feature}"'
        if HIDDEN_BEGIN in cell.source:
            assert CHECK_CALL.search(hidden), f'{ch.id} {gid}: an empty hidden part'


def test_the_contract_sees_every_exercise():
    """The parser finds the exercises (a renamed heading must not make the checks above vacuous)."""
    per_chapter = {ch.id: len([e for e in exercises(ch) if e[4]]) for ch in chapters()}
    assert all(n >= 3 for n in per_chapter.values()), per_chapter
