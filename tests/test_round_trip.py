"""Every stage as a user runs it: nbval on the solutions, release, check, grade."""
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time

import nbformat
import pytest

from core.chapters import ROOT, chapters
from pipeline.check import nbval_args
from core.environment import DETERMINISTIC_ENV
from core.notebook_format import approximate_output
from core.staging import staged

CHAPTERS = chapters()
COURSE = [sys.executable, '-m', 'cli']
pytestmark = pytest.mark.slow
# Chapters whose stored run trains for a minute or more (chapter 10: LeNet, 5 epochs in about 50 s;
# chapter 13: about four minutes). The round trip runs them as
# the grader does, with their grading `env` (MINIMX_EPOCHS: one epoch, or a fraction of one), and leaves
# the outputs of the cells that read MINIMX_EPOCHS uncompared, by nbval and by check alike;
# tests/test_training.py checks what their training reaches.
SHORTENED = {'ch10', 'ch13'}


def round_trip_env(ch):
    """The variables a round-trip run of `ch` sets: its grading env if it is SHORTENED."""
    return dict(ch.grading.get('env', {})) if ch.id in SHORTENED else {}


def reads_epochs(cell):
    return cell.cell_type == 'code' and 'MINIMX_EPOCHS' in cell.source


def trains_by_epochs(ch):
    return any(reads_epochs(c) for c in nbformat.read(str(ch.student), as_version=4).cells)


# tests/test_student_check.py runs these chapters' reference answers through check.py as a student
# does (a chapter that trains nothing, and those whose training MINIMX_EPOCHS shortens); here,
# through `./course check` (the same check.py, in a released folder), the others. One run each.
STUDENT_CHECKED = [c for c in CHAPTERS if c.id == 'ch01' or trains_by_epochs(c)]


def run(args, env_extra=None, pythonpath=True, **kwargs):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(DETERMINISTIC_ENV, **(env_extra or {}))
    if pythonpath:
        env['PYTHONPATH'] = str(ROOT)
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env, **kwargs)


@pytest.mark.parametrize('ch', CHAPTERS, ids=lambda c: c.id)
def test_solution_outputs_reproduce_under_nbval(ch):
    with staged(ch) as folder:
        nb = nbformat.read(str(ch.source), as_version=4)
        for cell in nb.cells:
            # nbval compares digits: a training cell's (tagged approximate-output) differ from
            # one CPU to another; test_reference_answers_reproduce_the_student_editions_outputs
            # compares them as numbers, within the spread of training (student/check.py)
            if (ch.id in SHORTENED and reads_epochs(cell)) or approximate_output(cell):
                cell.metadata.setdefault('tags', []).append('nbval-ignore-output')
        nbformat.write(nb, str(folder / ch.source.name))
        # no PYTHONPATH: the kernel must import the staged minimx of the earlier chapters, as the
        # build did, not this checkout's (which holds the chapter's own reference code)
        result = run([sys.executable, '-m', 'pytest', *nbval_args(folder / ch.source.name)], round_trip_env(ch),
                     pythonpath=False)
    assert result.returncode == 0, result.stdout[-5000:]


@pytest.mark.parametrize('ch', CHAPTERS, ids=lambda c: c.id)
def test_release_ships_only_earlier_chapters(ch, tmp_path):
    result = run([*COURSE, 'release', ch.id, '--to', str(tmp_path / ch.id)])
    assert result.returncode == 0, result.stderr
    shipped = {p.relative_to(tmp_path / ch.id).as_posix() for p in (tmp_path / ch.id).rglob('*') if p.is_file()}
    assert f'{ch.name}.ipynb' in shipped and 'checks.py' in shipped
    sources = ' '.join((tmp_path / ch.id / p).read_text() for p in shipped if p.startswith('minimx/'))
    for later in CHAPTERS:
        if later.number >= ch.number:
            assert f'solutions/{later.id}/' not in sources, f'{ch.id} ships code of {later.id}'


def answer_cell(nb, grade_id):
    return next(c for c in nb.cells if c.get('metadata', {}).get('nbgrader', {}).get('grade_id') == grade_id)


def with_bug(ch, grade_id, old, new, dest):
    """A copy of the solution notebook whose answer `grade_id` has `old` replaced by `new`."""
    nb = nbformat.read(str(ch.source), as_version=4)
    cell = answer_cell(nb, grade_id)
    assert old in cell.source
    cell.source = cell.source.replace(old, new)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(dest))
    return dest


# A known bug per chapter: (answer cell, text replaced, replacement, the test cell it fails).
KNOWN_BUGS = {
    'ch01': ('ex_pick', "index = clip_or_wrap(index, data.shape[axis], mode)",
             "index = index.astype(np.int64)", 'test_pick_modes'),
    'ch02': ('ex_grad_unary', "return (dy * s * (1 - s),)", "return (dy * s * (1 + s),)", 'test_grad_unary_saturating'),
    'ch03': ('ex_gradient_by_hand', "r.sum().reshape((1,))", "r.mean().reshape((1,))", 'test_gradient_by_hand_bias'),
    'ch04': ('ex_log_softmax', "shifted = X - X.detach().max(axis=1, keepdims=True)", "shifted = X", 'test_log_softmax'),
    'ch05': ('ex_count_params', "n_in * n_out + n_out", "n_in * n_out", 'test_count_params'),
    'ch06': ('ex_l1_penalty', "return w.abs().sum()", "return (w ** 2).sum()", 'test_l1_penalty'),
    'ch07': ('ex_nest_mlp', "return self.dense(self.net1(self.net0(x)))", "self.dense(self.net1(self.net0(x)))",
             'test_nest_mlp'),
    'ch08': ('ex_xavier', "'in': fan_in, 'out': fan_out", "'in': fan_out, 'out': fan_in", 'test_xavier_options'),
    'ch09': ('ex_conv2d_infer', "if x.ndim != 4:", "if x.ndim < 2:", 'test_conv2d_infer'),
    'ch10': ('ex_pool2d', "window.max() if mode == 'max' else window.mean()", "window.max() if mode == 'max' else window.sum()",
             'test_pool2d'),
    'ch11': ('ex_batch_sampler', "self._prev = batch", "self._prev = []", 'test_batch_sampler_rollover'),
    'ch12': ('ex_adam_update', "g = self._clip(grad * self.rescale_grad + wd * weight)",
             "g = self._clip(grad * self.rescale_grad) + wd * weight", 'test_adam_update_options'),
    'ch13': ('ex_batch_norm', "moving[:] = momentum * moving + (1 - momentum) * stat",
             "moving[:] = (1 - momentum) * moving + momentum * stat", 'test_batch_norm_moving'),
}


# `./course check` is the student's check.py run in a released folder: test_student_check.py
# runs each chapter's known bug through check.py itself (with shortened training); here the
# instructor's command is tried once, on a chapter that trains nothing, at full length.
@pytest.mark.parametrize('ch', [c for c in CHAPTERS if c.id == 'ch01'], ids=lambda c: c.id)
def test_check_names_the_cell_of_a_wrong_answer(ch, tmp_path):
    grade_id, old, new, failing = KNOWN_BUGS[ch.id]
    buggy = with_bug(ch, grade_id, old, new, tmp_path / f'{ch.name}.ipynb')
    result = run([*COURSE, 'check', ch.id, str(buggy)], round_trip_env(ch))
    assert result.returncode == 1, result.stdout[-3000:]
    assert re.findall(r'^  ✗ (\S+)', result.stdout, re.M) == [grade_id], result.stdout[-3000:]
    code = [c for c in nbformat.read(str(ch.student), as_version=4).cells if c.cell_type == 'code']
    test_cell = next(n for n, c in enumerate(code, 1) if c.metadata.get('nbgrader', {}).get('grade_id') == failing)
    differ = re.findall(r'^  \[In (\d+)\] (?!printed warnings)(?!.*: it reads MINIMX_EPOCHS, which is set:$)',
                        result.stdout, re.M)
    assert differ == [str(test_cell)], result.stdout[-3000:]


@pytest.mark.parametrize('ch', [c for c in CHAPTERS if c not in STUDENT_CHECKED], ids=lambda c: c.id)
def test_reference_answers_reproduce_the_student_editions_outputs(ch):
    """The student edition has no hidden tests: its cells must still print exactly what the
    reference run printed (hidden tests may not change state later cells see). The reference
    answers run in the student edition through the student's own check.py."""
    good = run([*COURSE, 'check', ch.id, str(ch.source)])
    n = len(re.findall(r'^  ✓ ', good.stdout, re.M))
    assert good.returncode == 0 and n > 0 and f'{n} of {n} pass their visible checks' in good.stdout, \
        good.stdout[-3000:]
    compared = re.search(r'^  (\d+) of (\d+) cells match the reference run\'s outputs[ ;]', good.stdout, re.M)
    assert compared and compared.group(1) == compared.group(2), good.stdout[-3000:]


@pytest.mark.parametrize('ch', CHAPTERS, ids=lambda c: c.id)
def test_grading_round_trip(ch, tmp_path):
    """Reference = full marks, untouched student edition = 0, a known bug = a known partial
    score, broken files = student_error; nbgrader's feedback and export see the results."""
    subs, grading = tmp_path / 'submissions', tmp_path / 'grading'
    for student, source in [('reference', ch.source), ('untouched', ch.student)]:
        (subs / student).mkdir(parents=True)
        shutil.copy(source, subs / student / f'{ch.name}.ipynb')
    if ch.id in KNOWN_BUGS:
        grade_id, old, new, failing = KNOWN_BUGS[ch.id]
        with_bug(ch, grade_id, old, new, subs / 'buggy' / f'{ch.name}.ipynb')
    (subs / 'not_json').mkdir()
    (subs / 'not_json' / f'{ch.name}.ipynb').write_text('{"cells": [')
    bad_meta = json.loads(ch.student.read_text())
    bad_meta['cells'][1]['metadata']['nbgrader'] = {'grade': 'yes', 'solution': 3}
    (subs / 'bad_metadata').mkdir()
    (subs / 'bad_metadata' / f'{ch.name}.ipynb').write_text(json.dumps(bad_meta))
    (subs / 'empty').mkdir()

    started = time.monotonic()
    result = run([*COURSE, 'grade', str(subs), '--chapter', ch.id], timeout=900,
                 env_extra={'COURSE_GRADING': str(grading)})
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(grading / 'reports' / ch.id / 'grades.csv') as f:
        rows = {r['student']: r for r in csv.DictReader(f)}
    assert set(rows) == {'reference', 'untouched', 'not_json', 'bad_metadata', 'empty'} | (
        {'buggy'} if ch.id in KNOWN_BUGS else set())
    ref = rows['reference']
    assert ref['status'] == 'graded' and float(ref['total']) == float(ref['max']) > 0
    assert rows['untouched']['status'] == 'graded' and float(rows['untouched']['total']) == 0
    if ch.id in KNOWN_BUGS:
        buggy = rows['buggy']
        assert buggy['status'] == 'graded' and float(buggy[failing]) == 0
        assert float(buggy['total']) == float(ref['max']) - float(ref[failing])
    for student in ('not_json', 'empty'):
        assert rows[student]['status'] == 'student_error' and rows[student]['message'], student
    # Malformed metadata is the student's notebook's problem only: ignored, reported, graded.
    assert rows['bad_metadata']['status'] == 'graded' and float(rows['bad_metadata']['total']) == 0
    state = json.loads((grading / 'store' / ch.id / 'submissions' / 'bad_metadata' / 'state.json').read_text())
    assert any('malformed' in note for note in state['notes'])
    page = (grading / 'reports' / ch.id / 'feedback' / 'reference.html').read_text()
    assert f'{ref["total"]} / {ref["max"]}' in page
    assert (grading / 'reports' / ch.id / 'scores.png').read_bytes()[:4] == b'\x89PNG'
    assert_nbgrader_sees(ch, grading, {s: float(r['total']) for s, r in rows.items()})
    print(f'{ch.id}: graded {len(rows)} submissions in {elapsed:.1f} s')


def assert_nbgrader_sees(ch, grading, totals):
    """nbgrader's own export and feedback work on the grader's results."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    from pipeline.generate import nbgrader_api

    work = os.path.relpath(grading, ROOT)
    with Gradebook(f'sqlite:///{grading / "gradebook.db"}') as gb:
        CsvExportPlugin(to=str(grading / 'export.csv')).export(gb)
    with open(grading / 'export.csv') as f:
        exported = {r['student_id']: float(r['score']) for r in csv.DictReader(f) if r['assignment'] == ch.id}
    assert exported == totals
    api = nbgrader_api(ROOT, work_directory=work, release_directory=f'{work}/release')
    assert api.generate_feedback(ch.id, 'reference', force=True)['success']
    html = (grading / 'feedback' / 'reference' / ch.id / f'{ch.name}.html').read_text()
    assert 'grader: passed' in html and '### BEGIN HIDDEN TESTS' not in html
