"""The Gradescope autograder, run as Gradescope runs it.

`./course gradescope ch01` writes the zip; each test unpacks it into a temporary folder laid
out as Gradescope lays out /autograder (source/, submission/, results/,
submission_metadata.json: gradescope-autograders.readthedocs.io, "Autograder
Specifications") and runs `bash source/run_autograder` as root, one fresh folder per
submission as Gradescope uses one fresh container. Its results.json must agree score for
score, and feedback for feedback, with `./course grade` on the same notebooks, follow the
documented schema, and carry nothing of the hidden tests or the reference solution.
"""
import ast
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.gradescope_run import private_problem, student_id
from autograder.sandbox import SLOT_UID_BASE, Limits, Sandbox
from conftest import public_text, secret_lines
from core.chapters import ROOT, before, chapter, chapters
from core.export import assemble, exported_cells, package_files
from core.notebook_format import HIDDEN_BEGIN, SOLUTION_BEGIN, region_bodies
from redteam_cases import Chapter
from test_round_trip import COURSE, KNOWN_BUGS, run, with_bug

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group('gradescope')]  # one worker builds the module's zip
CH = chapter('ch01')
VISIBILITY = {'hidden', 'after_due_date', 'after_published', 'visible'}
# The Python run_autograder uses (setup.sh's venv on Gradescope).
GRADER_PYTHON = os.environ.get('GRADESCOPE_TEST_PYTHON') or sys.executable
TOP_FIELDS = {'score': (int, float), 'execution_time': (int, float), 'output': str, 'visibility': str,
              'stdout_visibility': str, 'extra_data': dict, 'tests': list, 'leaderboard': list}
TEST_FIELDS = {'score': (int, float), 'max_score': (int, float), 'name': str, 'number': str, 'output': str,
               'tags': list, 'visibility': str, 'extra_data': dict}


def schema_problems(results):
    """What in `results` is not in the fields and types Gradescope documents for results.json."""
    problems = []

    def check(where, value, fields):
        if not isinstance(value, dict):
            return problems.append(f'{where} is not an object')
        for key, item in value.items():
            if key not in fields:
                problems.append(f'{where}: undocumented field {key!r}')
            elif isinstance(item, bool) or not isinstance(item, fields[key]):
                problems.append(f'{where}.{key} is a {type(item).__name__}')
            elif key.endswith('visibility') and item not in VISIBILITY:
                problems.append(f'{where}.{key} = {item!r}')
    check('results', results, TOP_FIELDS)
    for n, test in enumerate(results.get('tests') or []):
        check(f'tests[{n}]', test, TEST_FIELDS)
        if 'score' not in results and 'score' not in (test if isinstance(test, dict) else {}):
            problems.append(f'tests[{n}] has no score, and there is no top-level score')
    if 'score' not in results and not results.get('tests'):
        problems.append('neither a top-level score nor tests')
    return problems


def test_the_validator_finds_what_the_schema_does_not_allow():
    assert schema_problems({'score': 1.0, 'tests': [{'name': 'a', 'score': 1, 'max_score': 1}]}) == []
    assert len(schema_problems({'score': True, 'points': 3, 'stdout_visibility': 'students',
                                'tests': [{'score': '1', 'hint': ''}, 7]})) == 6
    assert schema_problems({'tests': [{'name': 'a'}]}) == ['tests[0] has no score, and there is no top-level score']


@pytest.fixture(scope='module')
def autograder_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp('zip') / 'autograder.zip'
    result = run([*COURSE, 'gradescope', CH.id, '--out', str(out)])
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def gradescope(autograder_zip, notebook, env=None, submission_id=4242, root=None):
    """Unpack the zip as Gradescope does, hand in `notebook` (bytes), run run_autograder as
    Gradescope runs it (root, working folder /autograder); (results, stdout, root)."""
    root = root or Path(tempfile.mkdtemp(prefix='gradescope-'))
    os.chmod(root, 0o755)                              # as /autograder: anyone may look in
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / 'source')
    (root / 'submission').mkdir()
    (root / 'results').mkdir()
    (root / 'submission' / f'{CH.name}.ipynb').write_bytes(notebook)
    (root / 'submission_metadata.json').write_text(json.dumps(
        {'id': submission_id, 'created_at': '2027-02-01T10:00:00.000000-08:00', 'assignment': {'title': CH.id},
         'users': [{'email': 'student@example.com', 'id': 1234, 'name': 'Student User'}], 'previous_submissions': []}))
    environment = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'COURSE_GRADING')}
    environment.update(AUTOGRADER_ROOT=str(root), GRADER_PYTHON=GRADER_PYTHON, **(env or {}))
    result = subprocess.run(['bash', str(root / 'source' / 'run_autograder')], cwd=root, env=environment,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((root / 'results' / 'results.json').read_text()), result.stdout + result.stderr, root


def submissions():
    """The three notebooks both graders get: the reference answers, the untouched student
    edition and the known bug of test_round_trip."""
    grade_id, old, new, _ = KNOWN_BUGS[CH.id]
    with tempfile.TemporaryDirectory() as tmp:
        buggy = with_bug(CH, grade_id, old, new, Path(tmp) / f'{CH.name}.ipynb').read_bytes()
    return {'reference': CH.source.read_bytes(), 'untouched': CH.student.read_bytes(), 'buggy': buggy}


@pytest.fixture(scope='module')
def local(tmp_path_factory):
    """`./course grade` on the same notebooks, under two keys: {seed: {student: state}}."""
    subs = tmp_path_factory.mktemp('subs')
    for student, data in submissions().items():
        (subs / student).mkdir()
        (subs / student / f'{CH.name}.ipynb').write_bytes(data)
    graded = {}
    for seed in (1, 2):
        grading = tmp_path_factory.mktemp(f'grading{seed}')
        result = run([*COURSE, 'grade', str(subs), '--chapter', CH.id, '--seed', str(seed)], timeout=900,
                     env_extra={'COURSE_GRADING': str(grading)})
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        graded[seed] = {s: json.loads((grading / 'store' / CH.id / 'submissions' / s / 'state.json').read_text())
                        for s in submissions()}
    return graded


@pytest.fixture(scope='module')
def on_gradescope(autograder_zip):
    runs = {student: gradescope(autograder_zip, data) for student, data in submissions().items()}
    yield runs
    for _, _, root in runs.values():
        shutil.rmtree(root, ignore_errors=True)


def test_these_submissions_score_the_same_under_any_key(local):
    """What makes the comparison with Gradescope's run (another key) fair."""
    for student in submissions():
        one, two = local[1][student], local[2][student]
        assert one['status'] == two['status'] == 'graded', student
        assert one['scores'] == two['scores'] and one['feedback'] == two['feedback'], student


def test_results_match_the_local_grader(on_gradescope, local):
    tests = [c for c in nbformat.read(str(CH.source), as_version=4).cells
             if c.metadata.get('nbgrader', {}).get('grade') and not c.metadata['nbgrader'].get('solution')]
    names = [c.metadata['nbgrader']['grade_id'] for c in tests]
    points = [float(c.metadata['nbgrader']['points']) for c in tests]
    for student, (results, stdout, _) in on_gradescope.items():
        state = local[1][student]
        assert schema_problems(results) == [], student
        assert [t['name'] for t in results['tests']] == names and [t['max_score'] for t in results['tests']] == points
        assert {t['name']: t['score'] for t in results['tests']} == state['scores'], (student, stdout[-3000:])
        assert {t['name']: t['output'] for t in results['tests']} == state['feedback'], student
        assert results['score'] == sum(state['scores'].values())
        assert state['message'] in results['output'] and results['stdout_visibility'] == 'hidden'
        assert 'sandbox: bwrap' in stdout or 'unprivileged uid' in stdout, stdout[-2000:]
    maximum = sum(points)
    assert on_gradescope['reference'][0]['score'] == maximum > 0
    assert on_gradescope['untouched'][0]['score'] == 0
    failing = KNOWN_BUGS[CH.id][3]
    buggy = {t['name']: t['score'] for t in on_gradescope['buggy'][0]['tests']}
    assert buggy[failing] == 0 and sum(buggy.values()) == maximum - points[names.index(failing)]


def hidden_literals(ch):
    """String constants of the hidden parts (check messages, hard-coded cases) that a student
    sees nowhere."""
    public = '\n'.join(public_text(c) for c in chapters())
    found = set()
    for cell in nbformat.read(str(ch.source), as_version=4).cells:
        for body in region_bodies(cell.source, hidden=True):
            for node in ast.walk(ast.parse(textwrap.dedent(body))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) >= 8:
                    found.add(node.value)
    return {text for text in found if text not in public}


def test_results_carry_no_hidden_test_or_solution(on_gradescope):
    secrets = secret_lines(CH)
    literals = hidden_literals(CH)
    assert secrets and literals
    key = json.loads((on_gradescope['reference'][2] / 'source' / 'grading-key.json').read_text())['key']
    for student, (results, _, _) in on_gradescope.items():
        text = json.dumps(results, ensure_ascii=False)
        assert HIDDEN_BEGIN not in text and SOLUTION_BEGIN not in text and key not in text
        assert not [line for line in secrets if line in text], student
        assert not [literal for literal in literals if literal in text], student


def readable_by(uid, paths):
    """The paths a process of `uid` (no groups) can read: files opened, folders listed."""
    script = 'for p; do if [ -d "$p" ]; then ls "$p" >/dev/null 2>&1 && echo "$p"; ' \
             'else cat "$p" >/dev/null 2>&1 && echo "$p"; fi; done'
    result = subprocess.run(['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups', '/bin/sh', '-c',
                             script, 'sh', *map(str, paths)], capture_output=True, text=True)
    return set(result.stdout.split())


@pytest.mark.skipif(os.geteuid() != 0, reason='Gradescope runs the autograder as root')
def test_the_source_is_root_s_alone_after_run_autograder(on_gradescope):
    _, _, root = on_gradescope['reference']
    source = root / 'source'
    paths = [source, *source.rglob('*')]
    assert len(paths) > 30 and (source / 'grading-key.json') in paths
    assert readable_by(SLOT_UID_BASE, paths) == set()
    # the probe does see what is readable: the submission Gradescope put there
    assert readable_by(SLOT_UID_BASE, [root / 'submission' / f'{CH.name}.ipynb']) == {
        str(root / 'submission' / f'{CH.name}.ipynb')}
    assert private_problem(source) is None


def test_private_problem_names_a_readable_file(tmp_path):
    (tmp_path / 'key.json').write_text('{}')
    os.chmod(tmp_path, 0o700)
    os.chmod(tmp_path / 'key.json', 0o644)
    assert 'key.json' in private_problem(tmp_path)
    os.chmod(tmp_path / 'key.json', 0o600)
    assert private_problem(tmp_path) is None


PROBE = """
import glob as _glob, json as _json, os as _os
_tried = {}
_root = %(root)r
_paths = [_root + '/source', _root + '/source/grading-key.json', _root + '/source/solutions/ch01/ch01_ndarray.ipynb']
for _work in _glob.glob('/tmp/minimx-gradescope-*'):
    _store = _work + '/grading/store/ch01'
    _paths += [_work, _work + '/submissions', _work + '/grading/reports', _store, _store + '/seed-key.json',
               _store + '/reference', _store + '/submissions', _work + '/course/solutions/ch01/ch01_ndarray.ipynb',
               _store + '/stage/checks.py', _work + '/course/autograder/harness/run_notebook.py']
for _path in _paths:
    try:
        if _os.path.isdir(_path):
            _os.listdir(_path)
        else:
            open(_path, 'rb').read(10)
        _tried[_path] = 'read'
    except Exception as _error:
        _tried[_path] = type(_error).__name__
open(%(canary)r, 'w').write(_json.dumps(_tried))
"""
# Readable by design: the staged chapter folder and the grader's code (the harness).
PUBLIC = ('/stage/checks.py', '/course/autograder/harness/run_notebook.py')


def can_drop_to_a_slot_uid(python):
    """Whether `python`, run as root, can run its code as a slot uid: what Sandbox.detect
    finds out for `--sandbox none` (its probe)."""
    code = 'from autograder.sandbox import Limits, Sandbox; box = Sandbox("none", Limits()); ' \
           'print(box.drop and box.probe() is None)'
    result = subprocess.run([python, '-c', code], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip() == 'True'


def test_without_bubblewrap_student_code_runs_unprivileged_or_not_at_all(autograder_zip, local):
    """`--sandbox none` is only acceptable with the code run as an unprivileged uid, which must
    then be unable to read the source, the key, the reference records or the store; where even
    that cannot work (the slot uid cannot read the grader's Python: this machine's pyenv lives
    under /root; GRADESCOPE_TEST_PYTHON may name one it can, such as a venv of the zip's
    requirements.txt made with /usr/bin/python3.11), nothing runs and results.json says so."""
    canary = Path('/tmp') / f'gradescope-canary-{os.getpid()}'
    canary.unlink(missing_ok=True)
    root = Path(tempfile.mkdtemp(prefix='gradescope-'))
    nb = Chapter(CH).correct()
    answer = Chapter(CH).answers[0]
    cell = next(c for c in nb['cells'] if c.get('metadata', {}).get('nbgrader', {}).get('grade_id') == answer)
    cell['source'] = ''.join(cell['source']) + PROBE % {'root': str(root), 'canary': str(canary)}
    results, stdout, root = gradescope(autograder_zip, json.dumps(nb).encode(), env={'GRADESCOPE_SANDBOX': 'none'},
                                       root=root)
    try:
        assert schema_problems(results) == []
        if can_drop_to_a_slot_uid(GRADER_PYTHON):
            assert 'unprivileged uid' in stdout, stdout[-3000:]
            assert {t['name']: t['score'] for t in results['tests']} == local[1]['reference']['scores']
            assert canary.stat().st_uid >= SLOT_UID_BASE          # it ran, and not as root
            tried = json.loads(canary.read_text())
            assert any(path.endswith('/seed-key.json') for path in tried), tried
            read = {path for path, outcome in tried.items() if outcome == 'read'}
            assert {path for path in read if not path.endswith(PUBLIC)} == set(), tried
            assert {path for path in tried if path.endswith(PUBLIC)} <= read, tried
        else:
            assert 'REFUSED TO GRADE' in stdout and results['score'] == 0, stdout[-3000:]
            assert 'refused' in results['output'] and 'none of its code ran' in results['output']
            assert not canary.exists()
    finally:
        canary.unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)


def test_a_broken_notebook_gets_zero_and_the_grader_s_message(autograder_zip):
    results, stdout, root = gradescope(autograder_zip, b'{"cells": [')
    try:
        assert schema_problems(results) == [] and results['score'] == 0
        assert 'could not be graded' in results['output'] and 'JSON' in results['output'], results['output']
        assert [t['score'] for t in results['tests']] == [0.0] * len(results['tests']) and results['tests']
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_student_id_is_the_submission_s_then_the_user_s(tmp_path):
    def given(meta):
        (tmp_path / 'submission_metadata.json').write_text(meta if isinstance(meta, str) else json.dumps(meta))
        return student_id(tmp_path)
    assert given({'id': 123456, 'users': [{'id': 1234}]}) == '123456'
    assert given({'id': '../x', 'users': [{'id': 1234}]}) == '1234'
    assert given({'id': True, 'users': 'nobody'}) == 'student'
    assert given('[not json') == 'student'


def test_earlier_chapters_ship_only_what_their_minimx_is_built_from(tmp_path):
    """A later chapter's zip stages the same minimx the local grader stages, from earlier
    notebooks cut down to their exported cells: no hidden test, no other answer."""
    ch = chapter('ch02')
    out = tmp_path / 'ch02.zip'
    result = run([*COURSE, 'gradescope', ch.id, '--out', str(out)])
    assert result.returncode == 0, result.stderr[-3000:]
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / 'source')
    assert {n.split('/')[0] for n in names} == {'setup.sh', 'run_autograder', 'requirements.txt', 'gradescope.json',
                                                'grading-key.json', 'autograder', 'core', 'solutions', 'book'}
    assert {n for n in names if n.endswith('.ipynb')} == {
        *(k.source.relative_to(ROOT).as_posix() for k in [*before(ch), ch]), ch.student.relative_to(ROOT).as_posix()}
    shipped = [(k.source.relative_to(ROOT).as_posix(), exported_cells(tmp_path / 'source' / k.source.relative_to(ROOT)))
               for k in before(ch)]
    package = package_files(before(ch))
    assert assemble(shipped) == package
    for earlier in before(ch):
        text = (tmp_path / 'source' / earlier.source.relative_to(ROOT)).read_text()
        assert HIDDEN_BEGIN not in text
        published = '\n'.join(package.values())
        assert not [line for line in secret_lines(earlier) if line in text and line not in published]
