"""The whole path a student walks, on a machine that has only what students get.

Publish the student edition as of a day in the term; copy it to a "laptop" folder; make a
fresh virtual environment with only the student requirements; take chapter 4, fill in the
reference answers (and, in another copy, a known bug); self-check, validate and write the
submissions with the chapter's own check.py; then grade what came out with `./course grade`:
full marks, and the known bug's expected partial score.
"""
import csv
import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from core.chapters import ROOT, chapter
from core.environment import DETERMINISTIC_ENV
from core.notebook_format import answer_sources, grade_id, is_answer_cell, merge_answers, read_cells
from pipeline.publish import publish
from test_round_trip import KNOWN_BUGS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group('student_path')]  # one worker sets up the module's venv
AS_OF = datetime.date(2027, 2, 10)       # chapter 4 is out; chapters 1-3 are past their deadlines
CH = chapter('ch04')


@pytest.fixture(scope='module')
def laptop(tmp_path_factory):
    """(student folder, python of a fresh venv with only the student requirements)."""
    tmp = tmp_path_factory.mktemp('laptop')
    out = publish(tmp / 'published', as_of=AS_OF, site=False)
    student = tmp / 'home' / 'course'
    shutil.copytree(out / 'student', student)
    venv = tmp / 'home' / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
    python = venv / 'bin' / 'python'
    install = subprocess.run([str(python), '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
                              '-r', str(student / 'requirements.txt')], capture_output=True, text=True, timeout=1800)
    assert install.returncode == 0, install.stderr[-3000:]
    return student, python


def filled(folder, bug=None):
    """The chapter's notebook in `folder` with the reference answers typed in (and a bug)."""
    path = folder / f'{CH.name}.ipynb'
    nb = nbformat.read(str(path), as_version=4)
    merge_answers(nb, answer_sources(read_cells(CH.source)))
    for cell in nb.cells:
        if is_answer_cell(cell):
            if bug and grade_id(cell) == bug[0]:
                assert bug[1] in cell.source
                cell.source = cell.source.replace(bug[1], bug[2])
    nbformat.write(nb, str(path))
    return path


def student_run(python, folder, *args):
    env = {'PATH': '/usr/bin:/bin', 'HOME': str(folder.parent), 'LANG': 'C.UTF-8', 'MPLBACKEND': 'Agg'}
    return subprocess.run([str(python), 'check.py', *args], cwd=folder, capture_output=True, text=True,
                          env=env, timeout=1800)


def test_a_student_checks_submits_and_is_graded(laptop, tmp_path):
    student, python = laptop
    grade_id, old, new, failing = KNOWN_BUGS[CH.id]
    submissions = tmp_path / 'submissions'
    for who, bug in [('alice', None), ('bob', (grade_id, old, new))]:
        folder = tmp_path / who / CH.name
        shutil.copytree(student / CH.name, folder)
        notebook = filled(folder, bug)
        check = student_run(python, folder, notebook.name)
        report = check.stdout
        assert check.returncode == (1 if bug else 0), report[-3000:] + check.stderr[-2000:]
        assert 'Hidden tests will also check' in report
        if bug:
            assert f'✗ {grade_id}' in report, report[-3000:]
        submit = student_run(python, folder, '--submit', notebook.name)
        assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-2000:]
        handed_in = folder / 'submit' / f'{CH.name}.ipynb'
        assert handed_in.exists(), submit.stdout[-2000:]
        (submissions / who).mkdir(parents=True)
        shutil.copy(handed_in, submissions / who / handed_in.name)
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(DETERMINISTIC_ENV, PYTHONPATH=str(ROOT), COURSE_GRADING=str(tmp_path / 'grading'))
    graded = subprocess.run([sys.executable, '-m', 'cli', 'grade', str(submissions), '--chapter', CH.id],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]
    with open(tmp_path / 'grading' / 'reports' / CH.id / 'grades.csv') as f:
        rows = {r['student']: r for r in csv.DictReader(f)}
    assert rows['alice']['status'] == 'graded' and float(rows['alice']['total']) == float(rows['alice']['max'])
    assert float(rows['bob'][failing]) == 0
    assert float(rows['bob']['total']) == float(rows['bob']['max']) - 1
    state = json.loads((tmp_path / 'grading' / 'store' / CH.id / 'submissions' / 'alice' / 'state.json').read_text())
    assert state['notes'] == [], state['notes']     # the submission check left nothing for the grader to fix
