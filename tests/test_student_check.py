"""The student's check.py, used as a student uses it: `python check.py ...` in a released
chapter folder, in a subprocess, reading only what it prints and writes.

The words of every refusal are compared with what the grader itself (autograder.notebook,
autograder.intake) says about the same file. Chapter 10's LeNet demonstration trains one
epoch here (MINIMX_EPOCHS=1; chapter 13's training cells their grading setting, a fiftieth of an
epoch), so that those cells differ from the reference run by design;
tests/test_round_trip.py runs every chapter's reference answers through `./course check`,
the same tool, and proves that every output is reproduced (chapters 10 and 13 with their
grading MINIMX_EPOCHS as here; tests/test_training.py checks what their training reaches).
"""
import copy
import datetime
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from autograder.intake import folder_entries, pick_notebook
from autograder.notebook import (MAX_NOTEBOOK_BYTES, SubmissionError, match, out_of_time, parse, read_instructor,
                                 stub_sources)
from core.chapters import ROOT, before, chapter, chapters
from core.export import package_files
from core.notebook_format import grade_id, merge_answers, read_cells, without_solution_markers
from pipeline.release import release
from pipeline.schedule import Schedule
from pipeline.schedule import load as load_schedule
from test_round_trip import KNOWN_BUGS, STUDENT_CHECKED

CHAPTERS = chapters()
slow = pytest.mark.slow


# -- making what a student has --------------------------------------------------------------------

def released(ch, parent, as_of=None):
    """The chapter's folder as a student downloads it, in `parent`: with minimx of the earlier
    chapters (as_of=None), or as the release calendar has it on `as_of`."""
    schedule = Schedule(datetime.date.today()) if as_of is None else load_schedule(as_of=as_of)
    return release(ch, parent / ch.name, schedule)


def answered(ch, bug=None):
    """The student edition with the reference answers typed in (without nbgrader's solution
    markers, as a student has them), optionally with a known bug (KNOWN_BUGS)."""
    answers = {c.grade_id: without_solution_markers(c.source) for c in read_cells(ch.source) if c.is_answer}
    nb = merge_answers(nbformat.read(str(ch.student), as_version=4), answers)
    if bug:
        gid, old, new, _ = bug
        cell = next(c for c in nb.cells if grade_id(c) == gid)
        assert old in cell.source
        cell.source = cell.source.replace(old, new)
    return nb


def write(nb, path):
    """Save `nb` as it is (nbformat.write would mend a duplicated cell id; a student's editor may not)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding='utf-8')
    return path


def edited(nb, gid, **changes):
    """A copy of `nb` whose cell `gid` has its source, grade id or cell id changed (or is gone)."""
    nb = copy.deepcopy(nb)
    cell = next(c for c in nb.cells if grade_id(c) == gid)
    if changes.get('delete'):
        nb.cells.remove(cell)
    if 'source' in changes:
        cell.source = changes['source'](cell.source)
    if 'grade_id' in changes:
        cell.metadata.nbgrader.grade_id = changes['grade_id']
    if 'cell_id' in changes:
        cell.id = changes['cell_id']
    return nb


def check_py(folder, *args, epochs=True, timeout=900):
    """`python check.py ARGS` in `folder`, as a student runs it (no PYTHONPATH, no terminal), with
    MINIMX_EPOCHS=1 (or `epochs`, if it is a string) unless epochs=False."""
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'MINIMX_EPOCHS')}
    if epochs:
        env['MINIMX_EPOCHS'] = epochs if isinstance(epochs, str) else '1'
    return subprocess.run([sys.executable, 'check.py', *map(str, args)], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=timeout)


# -- reading the report ---------------------------------------------------------------------------

def flat(text):
    """The report with its line wrapping undone, to find a message that may span lines."""
    return ' '.join(text.split())


def failing(report):
    """The exercises the report marks ✗."""
    return re.findall(r'^  ✗ (\S+)', report, re.M)


def passing(report):
    return re.findall(r'^  ✓ (\S+)', report, re.M)


def differing(report):
    """The [In n] numbers of the cells whose outputs the report says differ."""
    section = report.split('Outputs compared with the reference run', 1)[1].split('\n\n', 1)[0]
    listed = re.findall(r'^  \[In (\d+)\] (?!printed warnings)', section, re.M)
    more = re.findall(r'^  also differ: (.*)$', section, re.M)
    return {int(n) for n in listed + (re.findall(r'\d+', more[0]) if more else [])}


def in_numbers(ch):
    """{grade id: n} of the chapter's cells, [In n] being the n-th code cell."""
    cells = [c for c in nbformat.read(str(ch.student), as_version=4).cells if c.cell_type == 'code']
    return {grade_id(c): n for n, c in enumerate(cells, 1) if grade_id(c)}


def short_epochs(ch):
    """MINIMX_EPOCHS for a chapter's self-check here: 1, or its grading setting if that is shorter
    (chapter 13 trains a fiftieth of an epoch)."""
    declared = ch.grading.get('env', {}).get('MINIMX_EPOCHS')
    return declared if declared is not None and float(declared) < 1 else '1'


def epoch_cells(ch):
    """The cells MINIMX_EPOCHS shortens: with it set, their outputs differ by design."""
    cells = [c for c in nbformat.read(str(ch.student), as_version=4).cells if c.cell_type == 'code']
    return {n for n, c in enumerate(cells, 1) if 'MINIMX_EPOCHS' in c.source}


def assert_plain_and_honest(report):
    """No colour without a terminal, no traceback, no claim that the work is finished, and the
    last word on what the hidden tests will still check."""
    assert '\x1b[' not in report
    assert 'Traceback' not in report and 'checks.py", line' not in report
    assert not re.search(r'\b(done|complete)', report, re.I), report
    assert 'Hidden tests will also check, for each exercise:' in report


def graders_notes(ch, path):
    """What the grader itself notes about a submitted file (its instructor copy is the
    solution notebook; the stubs come from the student edition)."""
    cells, metadata = parse(path.read_bytes())
    return match(read_instructor(ch.source), stub_sources(read_instructor(ch.student)), cells, metadata)


# -- the self-check -------------------------------------------------------------------------------

@slow
@pytest.mark.parametrize('ch', [c for c in CHAPTERS if c.id in KNOWN_BUGS], ids=lambda c: c.id)
def test_a_known_bug_names_its_exercise_and_the_cells_that_differ(ch, tmp_path):
    folder = released(ch, tmp_path)
    bug = KNOWN_BUGS[ch.id]
    write(answered(ch, bug), folder / f'{ch.name}.ipynb')
    result = check_py(folder, epochs=short_epochs(ch))         # the chapter's notebook by default
    report = result.stdout
    assert result.returncode == 1, report + result.stderr
    numbers = in_numbers(ch)
    assert failing(report) == [bug[0]], report
    assert re.search(rf'^  ✗ {bug[0]} +\[In {numbers[bug[0]]}\], its test \[In {numbers[bug[3]]}\]$', report, re.M)
    assert differing(report) == {numbers[bug[3]]} | epoch_cells(ch), report
    assert f'Next: fix {bug[0]}' in flat(report)
    assert_plain_and_honest(report)


# As a student runs it: a chapter that trains nothing and those whose training MINIMX_EPOCHS
# shortens (the report explains their differing cells); tests/test_round_trip.py runs the other
# chapters' reference answers through the same check.py.
@slow
@pytest.mark.parametrize('ch', STUDENT_CHECKED, ids=lambda c: c.id)
def test_the_reference_answers_pass_every_visible_check_and_match_every_output(ch, tmp_path):
    folder = released(ch, tmp_path)
    write(answered(ch), folder / f'{ch.name}.ipynb')
    result = check_py(folder, f'{ch.name}.ipynb', epochs=short_epochs(ch))
    report = result.stdout
    info = json.loads((folder / '.course' / 'chapter.json').read_text())
    assert failing(report) == [], report
    assert passing(report) == [e['answer'] for e in info['exercises']]
    assert differing(report) == epoch_cells(ch), report
    assert result.returncode == (1 if epoch_cells(ch) else 0), report + result.stderr
    assert 'Cells are numbered [In n]: the n-th code cell' in flat(report)
    hidden = flat(report.split('Hidden tests will also check, for each exercise:', 1)[1])
    for e in info['exercises']:
        assert f'{e["answer"]}: {e["hidden"] or "other cases"}' in hidden
    if not epoch_cells(ch):
        assert f'Next: `python check.py --submit {ch.name}.ipynb`' in report
    assert_plain_and_honest(report)
    assert not (folder / 'submit').exists() and sorted(p.name for p in folder.iterdir()) == sorted(
        ['.course', 'README.md', 'check.py', 'checks.py', f'{ch.name}.ipynb'] + (['minimx'] if before(ch) else []))


@slow
def test_a_deleted_or_renamed_answer_cell_is_named_and_its_exercise_fails(tmp_path):
    ch = chapter('ch01')
    folder = released(ch, tmp_path)
    good = answered(ch)
    gone = write(edited(good, 'ex_reshape', delete=True), tmp_path / 'gone' / f'{ch.name}.ipynb')
    report = check_py(folder, gone).stdout
    note = next(n for n in graders_notes(ch, gone).notes if n.startswith('ex_reshape:'))
    assert note in flat(report)                       # "ex_reshape: your answer cell is missing, ..."
    assert 'ex_reshape' in failing(report)
    assert 'your answer cell was not found in your notebook' in flat(report)
    # Only the grade id changed: the grader still finds the cell by its cell id, and says so.
    renamed = write(edited(good, 'ex_reshape', grade_id='my_reshape'), tmp_path / 'renamed' / f'{ch.name}.ipynb')
    result = check_py(folder, renamed)
    assert result.returncode == 0, result.stdout
    for note in graders_notes(ch, renamed).notes:
        assert note in flat(result.stdout)            # found by its cell id; unknown grade id ignored


def test_notebooks_the_grader_would_refuse_are_named_in_its_words(tmp_path):
    ch = chapter('ch04')
    folder = released(ch, tmp_path)
    other = chapter('ch05')
    wrong = tmp_path / 'wrong'
    wrong.mkdir()
    (wrong / f'{other.name}.ipynb').write_bytes(other.student.read_bytes())
    with pytest.raises(SubmissionError) as intake_says:
        entry, = [e for e in folder_entries(tmp_path) if e.student_id == 'wrong']
        pick_notebook(entry, ch)                      # the grader's intake on the same file
    corrupt = tmp_path / 'corrupt' / f'{ch.name}.ipynb'
    corrupt.parent.mkdir()
    corrupt.write_bytes(ch.student.read_bytes()[:5000])
    huge = tmp_path / 'huge' / f'{ch.name}.ipynb'
    huge.parent.mkdir()
    nb = json.loads(ch.student.read_text())
    nb['cells'][0]['source'] = 'x' * (MAX_NOTEBOOK_BYTES + 1)
    huge.write_text(json.dumps(nb))
    cases = [(wrong / f'{other.name}.ipynb', str(intake_says.value))]
    for path in (corrupt, huge):
        with pytest.raises(SubmissionError) as parse_says:
            parse(path.read_bytes())
        cases.append((path, str(parse_says.value)))
    for path, words in cases:
        for args in ([path], ['--submit', path]):
            result = check_py(folder, *args)
            assert result.returncode == 1, (args, result.stdout)
            assert flat(words) in flat(result.stdout), (args, result.stdout)
            assert 'would refuse it' in result.stdout and 'Traceback' not in result.stdout + result.stderr
        assert 'Nothing was written' in result.stdout
    assert not (folder / 'submit').exists()


def test_submit_refuses_cells_the_grader_would_not_take_as_written(tmp_path):
    ch = chapter('ch04')
    folder = released(ch, tmp_path)
    good = answered(ch)
    cases = {
        'deleted': (edited(good, 'ex_softmax', delete=True), 'answer cells, found by their ids'),
        'both ids changed': (edited(good, 'ex_softmax', grade_id='mine', cell_id='mine'),
                             'answer cells, found by their ids'),
        'test edited': (edited(good, 'test_softmax', source=lambda s: '# ' + s), 'The grader runs the originals'),
    }
    for name, (nb, words) in cases.items():
        path = write(nb, tmp_path / name / f'{ch.name}.ipynb')
        result = check_py(folder, '--submit', path)
        assert result.returncode == 1, (name, result.stdout)
        assert words in flat(result.stdout), (name, result.stdout)
        for gid in graders_notes(ch, path).replaced:
            note = next(n for n in graders_notes(ch, path).notes if n.startswith(f'{gid}:'))
            assert f'- {note}' in flat(result.stdout), (name, result.stdout)
        assert re.search(r'^  ✗ ', result.stdout, re.M) and 'Nothing was written' in result.stdout
    assert not (folder / 'submit').exists()


@slow
def test_submit_writes_a_file_the_grader_reads_exactly_as_the_answers_were(tmp_path):
    ch = chapter('ch02')
    folder = released(ch, tmp_path)
    nb = answered(ch, KNOWN_BUGS[ch.id])            # a failing exercise does not stop handing in
    nb.cells.insert(3, nbformat.v4.new_code_cell('print("scratch")'))
    path = write(nb, tmp_path / 'work' / 'my copy.ipynb')
    result = check_py(folder, '--submit', path)
    assert result.returncode == 0, result.stdout + result.stderr
    target = folder / 'submit' / f'{ch.name}.ipynb'
    assert f'Wrote submit/{ch.name}.ipynb' in result.stdout
    assert f'not {KNOWN_BUGS[ch.id][0]}' in result.stdout
    assert 'graded my copy.ipynb (the expected name is' in flat(result.stdout)   # the grader's note
    graded = graders_notes(ch, target)
    assert graded.notes == [] and graded.replaced == []
    assert graded.answers == graders_notes(ch, path).answers
    written = nbformat.read(str(target), as_version=4)
    assert all(not c.get('outputs') for c in written.cells if c.cell_type == 'code')
    assert 'scratch' not in target.read_text()
    assert_plain_and_honest(result.stdout)


@slow
def test_time_limits_cut_a_cell_and_stop_the_run_as_grading_would(tmp_path):
    ch = chapter('ch01')
    folder = released(ch, tmp_path)
    info_path = folder / '.course' / 'chapter.json'
    info = json.loads(info_path.read_text())
    info.update(cell_timeout=2, submission_seconds=12)
    info_path.write_text(json.dumps(info))
    loop = write(edited(answered(ch), 'ex_array', source=lambda s: 'while True:\n    pass\n'), tmp_path / 'loop.ipynb')
    report = check_py(folder, loop).stdout
    assert 'ex_array' in failing(report)
    code = [c for c in nbformat.read(str(ch.student), as_version=4).cells if c.cell_type == 'code']
    n = next(i for i, c in enumerate(code, 1) if c.metadata.get('nbgrader', {}).get('grade_id') == 'ex_array')
    assert f'your cell [In {n}] did not finish within the cell time limit, 2 s' in flat(report)
    stubborn = textwrap.dedent('''\
        import time
        while True:
            try:
                time.sleep(0.1)
            except KeyboardInterrupt:
                pass
        ''')
    stuck = write(edited(answered(ch), 'ex_array', source=lambda s: stubborn), tmp_path / 'stuck.ipynb')
    started = time.monotonic()
    result = check_py(folder, '--submit', stuck)
    assert time.monotonic() - started < 40
    assert result.returncode == 1
    assert out_of_time(12) in flat(result.stdout) and 'Nothing was written' in result.stdout
    assert not (folder / 'submit').exists()


# -- minimx from the earlier chapters -------------------------------------------------------------

def without_headers(files):
    """{module: code} without the two GENERATED lines that say where the code came from."""
    return {rel: text.split('\n', 2)[2] if not rel.endswith('__init__.py') else text.split('\n', 1)[1]
            for rel, text in files.items()}


def test_minimx_is_built_from_the_students_own_notebooks_before_the_deadlines(tmp_path):
    ch = chapter('ch04')
    folder = released(ch, tmp_path, as_of=datetime.date(2027, 1, 26))   # only ch01's deadline has passed
    info = json.loads((folder / '.course' / 'chapter.json').read_text())
    assert [e['reference'] for e in info['earlier']] == [True, False, False]
    assert not (folder / 'minimx').exists()
    for k in (chapter('ch02'), chapter('ch03')):
        write(answered(k), tmp_path / k.name / f'{k.name}.ipynb')
    result = check_py(folder, '--minimx')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'reference code of ch01 and your notebooks of ch02, ch03' in flat(result.stdout)
    built = {p.relative_to(folder).as_posix(): p.read_text() for p in (folder / 'minimx').rglob('*.py')}
    # The reference answers typed in by a student build exactly the reference package.
    assert without_headers(built) == without_headers(package_files(before(ch)))
    assert str(tmp_path / 'ch02_autograd' / 'ch02_autograd.ipynb') in built['minimx/autograd.py'].split('\n')[0]
    # --earlier DIR: the notebooks side by side in one folder.
    flat_dir = tmp_path / 'all'
    for k in (chapter('ch02'), chapter('ch03')):
        write(answered(k), flat_dir / f'{k.name}.ipynb')
    result = check_py(folder, '--minimx', '--earlier', flat_dir)
    assert result.returncode == 0 and str(flat_dir) in (folder / 'minimx' / 'autograd.py').read_text()


def test_a_missing_earlier_notebook_is_named_with_what_to_do(tmp_path):
    ch = chapter('ch04')
    folder = released(ch, tmp_path, as_of=datetime.date(2027, 1, 26))
    write(answered(chapter('ch02')), tmp_path / 'ch02_autograd' / 'ch02_autograd.ipynb')
    for args in (['--minimx'], [], ['--submit']):
        result = check_py(folder, *args)
        assert result.returncode == 1, result.stdout
        report = flat(result.stdout)
        if args == ['--submit']:                  # the notebook is unanswered but readable: on to the run
            assert 'a notebook the grader can read' in report
        assert 'minimx/ needs your notebook of ch03' in report, result.stdout
        assert str(tmp_path / 'ch03_linear_regression' / 'ch03_linear_regression.ipynb') in report
        assert 'python check.py --minimx --earlier DIR' in report and 'Traceback' not in result.stderr


@slow
def test_the_self_check_builds_minimx_when_missing_or_older_than_its_notebooks(tmp_path):
    ch = chapter('ch02')
    folder = released(ch, tmp_path, as_of=datetime.date(2027, 1, 20))    # ch01 is not past its deadline
    earlier = write(answered(chapter('ch01')), tmp_path / 'ch01_ndarray' / 'ch01_ndarray.ipynb')
    write(answered(ch), folder / f'{ch.name}.ipynb')
    first = check_py(folder)
    assert first.returncode == 0, first.stdout + first.stderr
    assert 'minimx: built just now from your notebooks of ch01' in flat(first.stdout)
    second = check_py(folder)
    assert 'minimx: built from your notebooks of ch01' in flat(second.stdout)
    later = time.time() + 5
    os.utime(earlier, (later, later))
    third = check_py(folder)
    assert 'minimx: built just now from your notebooks of ch01' in flat(third.stdout)
    assert third.returncode == 0


# -- what the tool may rely on --------------------------------------------------------------------

BLOCKER = '''
import importlib.abc, runpy, sys
COURSE = {course!r}
class Blocker(importlib.abc.MetaPathFinder):
    """Refuse what a student's machine does not have: the course repository and its tools."""
    def find_spec(self, name, path=None, target=None):
        top = name.partition('.')[0]
        if top in ('nbgrader', 'nbval', 'pytest', 'pipeline', 'solutions', 'tests', 'jupyter_server', 'notebook'):
            raise ImportError(f'{{name}} is not installed on a student machine')
        return None
sys.meta_path.insert(0, Blocker())
sys.path[:] = [p for p in sys.path if p not in ('', {root!r})]
sys.argv = ['check.py', *sys.argv[1:]]
try:
    runpy.run_path('check.py', run_name='__main__')
except SystemExit as stop:
    code = stop.code
assert 'autograder.notebook' in sys.modules
for name in ('autograder', 'autograder.notebook', 'autograder.safe_text', 'export'):
    if name in sys.modules:
        assert sys.modules[name].__file__.startswith(COURSE), (name, sys.modules[name].__file__)
sys.exit(code)
'''


@slow
def test_check_py_needs_nothing_of_the_course_repository(tmp_path):
    """Building minimx from the student's own notebook, running and writing the submission,
    with the course repository and its tools out of reach."""
    ch = chapter('ch02')
    folder = released(ch, tmp_path, as_of=datetime.date(2027, 1, 20))
    write(answered(chapter('ch01')), tmp_path / 'ch01_ndarray' / 'ch01_ndarray.ipynb')
    write(answered(ch), folder / f'{ch.name}.ipynb')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    result = subprocess.run([sys.executable, '-c', BLOCKER.format(course=str(folder / '.course'), root=str(ROOT)),
                             '--submit'], cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    n = len(json.loads((folder / '.course' / 'chapter.json').read_text())['exercises'])
    assert f'visible checks: {n} of {n} exercises pass\n' in result.stdout
    assert (folder / 'submit' / f'{ch.name}.ipynb').is_file() and (folder / 'minimx' / 'nd' / 'ndarray.py').is_file()


def test_release_ships_what_check_py_reads(tmp_path):
    ch = chapter('ch04')
    folder = released(ch, tmp_path)
    course = folder / '.course'
    assert (folder / 'check.py').read_text() == (ROOT / 'student' / 'check.py').read_text()
    assert (course / 'checks.py').read_text() == (ROOT / 'solutions' / 'checks.py').read_text()
    info = json.loads((course / 'chapter.json').read_text())
    assert info['chapters'] == [c.id for c in CHAPTERS]
    assert {'cell_timeout', 'submission_seconds', 'exercises', 'earlier'} <= set(info)
    for shipped in ('autograder/notebook.py', 'core/environment.py'):     # check.py's pinned environment too
        assert (course / shipped).read_text().split('\n', 1)[1] == (ROOT / shipped).read_text(), shipped


@pytest.mark.parametrize('ch', CHAPTERS, ids=lambda c: c.id)
def test_the_tools_reading_of_a_notebook_is_the_graders(ch, tmp_path):
    """check.py matches a notebook against the student edition (all it has); the grader against
    the solution notebook, hidden tests and all. Their notes must be the same, word for word."""
    good = answered(ch)
    answer = next(grade_id(c) for c in good.cells if c.get('metadata', {}).get('nbgrader', {}).get('solution'))
    test = next(grade_id(c) for c in good.cells if c.get('metadata', {}).get('nbgrader', {}).get('grade')
                and not c.metadata.nbgrader.get('solution'))
    duplicated = copy.deepcopy(good)
    duplicated.cells.append(copy.deepcopy(next(c for c in good.cells if grade_id(c) == answer)))
    retyped = copy.deepcopy(good)
    next(c for c in retyped.cells if grade_id(c) == test).cell_type = 'markdown'
    variants = [good, duplicated, retyped, edited(good, answer, delete=True), edited(good, test, delete=True),
                edited(good, answer, grade_id='renamed'), edited(good, answer, grade_id='renamed', cell_id='renamed'),
                edited(good, test, source=lambda s: s + '\n# a comment')]
    student_edition = read_instructor(ch.student)
    for n, nb in enumerate(variants):
        path = write(nb, tmp_path / str(n) / f'{ch.name}.ipynb')
        cells, metadata = parse(path.read_bytes())
        tool = match(student_edition, stub_sources(student_edition), cells, metadata)
        grader = graders_notes(ch, path)
        assert (tool.notes, tool.replaced, tool.answers) == (grader.notes, grader.replaced, grader.answers), n


def test_outputs_are_compared_as_numbers_within_the_cpus_rounding_and_trainings_spread():
    import importlib.util
    spec = importlib.util.spec_from_file_location('student_check', ROOT / 'student' / 'check.py')
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    same = check.same_output
    # a float32 result's last digits (one CPU's BLAS kernel against another's)
    assert same(['features[0] = [0.0 1.5]  label[0] = 0.66096365'], ['features[0] = [0.0 1.5]  label[0] = 0.6609634'])
    assert same(['mean of the output: -2.9e-09'], ['mean of the output: 0.0e+00'])
    assert not same(['label[0] = 0.66096365'], ['label[0] = 0.6619634'])          # a real difference
    assert not same(['shape (256, 784)'], ['shape (256, 785)'])                    # integers are exact
    assert not same(['loss 0.5'], ['error 0.5'])                                   # so are the words
    assert not same(['a', 'b'], ['a'])
    # a training run on another CPU: within 25% there, not elsewhere
    ran, other = ['epoch 1, loss 0.8218, train acc 0.694'], ['epoch 1, loss 0.8134, train acc 0.696']
    assert same(ran, other, training=True) and not same(ran, other)
    assert not same(['epoch 1, loss 0.8218, train acc 0.694'], ['epoch 1, loss 2.3026, train acc 0.100'],
                    training=True)                                                 # a run that did not learn
    assert not same(['epoch 1, loss 0.82'], ['epoch 2, loss 0.82'], training=True)
    assert check.approximate({'metadata': {'tags': ['approximate-output']}})
    assert not check.approximate({'metadata': {}})
