"""Hand the sandboxed results to nbgrader, which stays the course's bookkeeper.

`prepare` lets nbgrader's generate_assignment record the chapter (notebook, grade cells,
points) in `_grading/gradebook.db`. `record` writes each final submission's scores as the
grades' auto scores (an instructor's manual override in formgrader is left alone) and an
"autograded" notebook per student -- the student edition with the student's answers and
the grader's message under each test -- so `nbgrader generate_feedback` and
`nbgrader export` work as usual. Hidden tests never enter these notebooks.
"""
import copy
import os
import sys
import warnings

import nbformat

from autograder.notebook import match, parse
from autograder.safe_text import safe_text
from autograder.store import FINAL, write_atomically
from core.chapters import GRADING, ROOT
from core.notebook_format import grade_id, is_test_cell, merge_answers

RELEASE = GRADING / 'release'


def db_url():
    return f'sqlite:///{GRADING / "gradebook.db"}'


def prepare(ch, generate):
    """Register the chapter in the gradebook: `generate` is the course's nbgrader release."""
    generate([ch], release_directory=os.path.relpath(RELEASE, ROOT), work_directory=os.path.relpath(GRADING, ROOT))


def record(ch, assignment, states):
    """Write every final submission with a student id into the gradebook and its autograded
    notebook. Each student is written on their own: one that fails is rolled back and listed
    in the returned [(student, status, why)], the others are recorded."""
    from nbgrader.api import Gradebook

    final = [s for s in states if s['status'] in FINAL and s.get('valid_id') is True]
    failed = []
    with warnings.catch_warnings(), Gradebook(db_url()) as gb:
        warnings.simplefilter('ignore')      # SQLAlchemy chatter from nbgrader's add_submission
        for state in final:
            try:
                _record_scores(gb, ch, assignment, state)
            except Exception as err:
                gb.db.rollback()
                failed.append((state, f'not recorded in nbgrader\'s gradebook: '
                                      f'{type(err).__name__}: {safe_text(err, 300)}'))
    for state in final:
        if any(state is s for s, _ in failed):
            continue
        try:
            write_autograded(ch, assignment, state)
        except Exception as err:
            failed.append((state, f'no autograded notebook for nbgrader: '
                                  f'{type(err).__name__}: {safe_text(err, 300)}'))
    for state, why in failed:
        print(f'error: {state["student"]}: {why}', file=sys.stderr)
    return [(state['student'], state['status'], why) for state, why in failed]


def _record_scores(gb, ch, assignment, state):
    from nbgrader.api import MissingEntry

    student = state['key']
    gb.update_or_create_student(student)
    try:
        gb.find_submission(ch.id, student)
    except MissingEntry:
        gb.add_submission(ch.id, student)
    # the notebook's grades in one query (find_grade per test cell costs a query each: 8 ms a student)
    grades = {grade.name: grade for grade in gb.find_submission_notebook(ch.name, ch.id, student).grades}
    for cell in assignment.tests:
        grade = grades.get(cell.grade_id)
        if grade is None:
            raise MissingEntry(f'the gradebook has no grade {cell.grade_id} for {student}')
        grade.auto_score = float(state['scores'].get(cell.grade_id, 0.0))
        grade.needs_manual_grade = False
    gb.db.commit()


_read = {}


def student_edition(ch):
    """A fresh copy of the released student edition, read (and validated) once per version of
    the file rather than once per submission."""
    path = RELEASE / ch.id / f'{ch.name}.ipynb'
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _read:
        _read.clear()
        _read[key] = nbformat.read(str(path), as_version=4)
    return copy.deepcopy(_read[key])


def write_autograded(ch, assignment, state):
    """`_grading/autograded/<student>/chNN/<name>.ipynb` for nbgrader's feedback: the student
    edition with the student's answers (as parsed, so safe text) and the grader's messages."""
    release = student_edition(ch)
    answers = {}
    if state.get('sha256'):
        try:
            cells, metadata = parse(assignment.store.copy_of(state['key']))
            answers = match(assignment.instructor, assignment.stubs, cells, metadata).answers
        except (OSError, ValueError):
            pass
    merge_answers(release, {gid: safe_text(source, controls=False) for gid, source in answers.items()})
    for cell in release.cells:
        if is_test_cell(cell) and grade_id(cell):
            text = safe_text(state['feedback'].get(grade_id(cell)) or state['message'] or 'not graded')
            cell.outputs = [nbformat.v4.new_output('stream', name='stdout', text=f'grader: {text}\n')]
    target = GRADING / 'autograded' / state['key'] / ch.id / f'{ch.name}.ipynb'
    target.parent.mkdir(parents=True, exist_ok=True)
    # nbformat.writes without its schema validation, which only logs (the student edition is
    # valid, and stream outputs made by new_output keep it so); the bytes written are the same
    write_atomically(target, nbformat.v4.writes(release))
