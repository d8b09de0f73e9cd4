"""The grader's parts, fast and without a sandbox: encoding, decoding, verdicts, structure,
intake and the store. The whole grader under attack is tests/test_redteam.py."""
import ast
import csv
import io
import json
import math
import os
import time
from types import SimpleNamespace

import numpy as np
import pytest

from autograder import gradebook, report, verdict
from autograder import intake as intake_module
from autograder import notebook as notebook_module
from autograder.grade import attempt, find_chapter, record as record_state
from autograder.harness import recorder
from autograder.rewrite import RecordableChecks
from autograder.intake import intake
from autograder.notebook import SubmissionError, match, parse, read_instructor, stub_sources, to_python
from autograder.records import DType, PyType, Unsupported, decode
from autograder.safe_text import csv_cell, safe_text, safe_value
from autograder.store import Store, write_atomically, write_json
from core.chapters import chapters

CH = chapters()[0]


ARMED = []


class Tripwire:
    """An object that fails the test if anything of it is consulted while armed."""

    def __getattribute__(self, name):
        if ARMED:
            raise AssertionError(f'the recorder consulted the student object ({name})')
        return object.__getattribute__(self, name)

    def __eq__(self, other):
        raise AssertionError('__eq__ called')

    __hash__ = object.__hash__


class LyingMeta(type):
    def __eq__(cls, other):
        return True

    __hash__ = type.__hash__


def roundtrip(value):
    return decode(json.loads(json.dumps(recorder.encode(value))))


@pytest.mark.parametrize('value', [None, True, 3, -2 ** 80, 1.5, float('inf'), 2j, 'text', b'raw',
                                   (1, (2.5, 'x')), [1, 2], {'a': 1}, frozenset({1, 2})])
def test_plain_values_survive_the_trip(value):
    assert roundtrip(value) == value and type(roundtrip(value)) is type(value)


@pytest.mark.parametrize('array', [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([np.nan, -np.inf]),
                                   np.zeros((0, 3), np.int64), np.array(True), np.array([1 + 2j]),
                                   np.arange(12).reshape(3, 4).T])
def test_arrays_survive_bit_for_bit(array):
    back = roundtrip(array)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array, equal_nan=True)


def test_numpy_scalars_and_dtypes():
    assert roundtrip(np.float32(2.5)) == np.float32(2.5) and roundtrip(np.float32(2.5)).dtype == np.float32
    assert roundtrip(np.dtype('float32')) == DType('<f4') == roundtrip(np.float32)
    assert roundtrip(int) == PyType('int')


@pytest.mark.parametrize('value', [Tripwire(), (1, Tripwire()), LyingMeta('Liar', (), {}),
                                   type('Tup', (tuple,), {})((1, 2)), np.array([object()]),
                                   np.array([(1, 2.0)], dtype='i4,f8')],
                         ids=['tripwire', 'tripwire-in-tuple', 'lying-metaclass', 'tuple-subclass',
                              'object-array', 'structured-array'])
def test_other_objects_are_unsupported_and_never_consulted(value):
    ARMED.append(True)
    try:
        encoded = recorder.encode(value)
    finally:
        ARMED.clear()
    back = decode(json.loads(json.dumps(encoded)))
    assert not verdict.same(back, back), back          # it equals nothing, not even itself


@pytest.mark.parametrize('encoded', [['array', '|O8', [1], 'AAAAAAAAAAA='], ['array', '<f4', [3], 'AAAA'],
                                     ['array', '<f4', [-1], ''], ['pickle', 'gASVAAAA'], ['int', 5],
                                     ['bytes', '!!notbase64'], ['tuple', 'x'], 'junk', [],
                                     json.loads('[' * 50 + ']' * 50)])
def test_decoding_refuses_anything_else(encoded):
    assert isinstance(decode(encoded), Unsupported)


def test_equality_follows_check_equal():
    assert verdict.same(3, 3.0) and verdict.same((np.int64(2), 3), (2, 3))
    assert not verdict.same((2, 2), [2, 2])
    assert verdict.same(DType('<f4'), DType('<f4')) and verdict.same(DType('<f8'), PyType('float'))
    assert not verdict.same(Unsupported('Liar', ''), Unsupported('Liar', ''))
    assert verdict.same(frozenset({1, 2}), frozenset({2, 1}))


def record(kind, value, **extra):
    return {'kind': kind, 'value': recorder.encode(value) if kind != 'array' else recorder.encode_array_like(value),
            'what': 'w', **extra}


def test_array_failures_are_explained():
    want = record('array', np.ones((2, 3)), expected=recorder.encode(np.ones((2, 3))),
                  params={'rtol': 1e-5, 'atol': 1e-6, 'dtype': '<f4'})
    assert verdict.judge(record('array', np.ones((2, 3), np.float32)), want) is None
    assert 'shape (2, 3), got shape (3, 2)' in verdict.judge(record('array', np.ones((3, 2), np.float32)), want).visible
    assert 'dtype float32, got float64' in verdict.judge(record('array', np.ones((2, 3))), want).visible
    nan = np.ones((2, 3), np.float32)
    nan[0, 0] = np.nan
    assert 'NaN' in verdict.judge(record('array', nan), want).hidden
    off = verdict.judge(record('array', np.full((2, 3), 2, np.float32)), want)
    assert 'largest difference 1' in off.visible and off.hidden == 'wrong values on a hidden case'


@pytest.mark.parametrize('got', [np.ones((2, 3), np.float32), np.ones((3, 2), np.float32), np.ones((2, 3)),
                                 np.full((2, 3), np.nan, np.float32), np.full((2, 3), 2, np.float32),
                                 np.arange(6).reshape(2, 3)], ids=['right', 'shape', 'dtype', 'nan', 'values', 'ints'])
def test_the_self_check_and_the_grader_judge_arrays_alike(got):
    """checks.check_array (what a student runs) and the grader's verdict share one function:
    the same verdict, in the same words."""
    checks = verdict._course_checks()            # solutions/checks.py, as shipped
    want = np.ones((2, 3), np.float32)
    reference = record('array', want, expected=recorder.encode(want), params={'rtol': 1e-5, 'atol': 1e-6, 'dtype': '<f4'})
    graded = verdict.judge(record('array', got), reference)
    try:
        checks.check_array(got, want, 'w', dtype='<f4')
        self_check = None
    except checks.CheckFailed as err:
        self_check = str(err)
    assert (graded and f'w: {graded.visible}') == self_check


def test_raises_is_judged_by_name_and_message():
    want = {'kind': 'raises', 'value': ['raised', ['MXNetError'], 'x'], 'params': {'types': ['MXNetError'], 'match': 'larger'}}
    ok = {'kind': 'raises', 'value': ['raised', ['MXNetError', 'RuntimeError'], 'target is larger']}
    assert verdict.judge(ok, want) is None
    assert 'does not contain' in verdict.judge({**ok, 'value': ['raised', ['MXNetError'], 'nope']}, want).visible
    assert 'nothing was raised' in verdict.judge({**ok, 'value': ['none']}, want).visible
    assert 'got ValueError' in verdict.judge({**ok, 'value': ['raised', ['ValueError'], 'larger']}, want).visible


def test_hidden_descriptions_are_masked():
    assert verdict.mask('infer_reshape((2, 3), [-1, 3])') == 'infer_reshape(…)'
    assert verdict.mask("take (4, 3) {'axis': 1} indices [3.0, -1.0]") == 'take (…) (…) indices (…)'
    assert not any(ch.isdigit() for ch in verdict.mask('dot 3x4 with 0.25 and 1e-3'))
    assert verdict.mask('take (4, 3) axis=1 mode=wrap') == 'take (…) axis=… mode=…'


def test_an_input_changed_in_place_is_named():
    ref = [{'fp': {'x': 'a', 'y': 'b'}}, {'fp': {'x': 'a', 'y': 'c'}}]
    student = [{'fp': {'x': 'a', 'y': 'b'}}, {'fp': {'x': 'z', 'y': 'c'}}]
    assert verdict.mutated(student, ref, 1) == ['x']


def rewritten(code, hidden=True):
    return ast.unparse(RecordableChecks(hidden).visit(ast.parse(code)))


def test_test_code_is_rewritten_to_record_values():
    assert rewritten("check(a.shape == (2, 2), 'm')") == "check_equal(a.shape, (2, 2), 'm')"
    assert rewritten('assert f(x) == 3') == "check_equal(f(x), 3, 'f(x) == 3')"
    assert rewritten('assert ok') == "check(ok, 'ok')"
    assert rewritten('np.testing.assert_allclose(a, b, rtol=0.1)') == \
        "check_array(a, b, 'numpy.testing.assert_allclose', rtol=0.1, atol=0.0)"
    assert rewritten("check(a is b, 'm')") == "check_same(a, b, 'm', expect=True)"
    assert rewritten("check(not np.shares_memory(a, b), 'm')") == "check_shares_memory(a, b, 'm', expect=False)"
    assert rewritten("check(x < y, 'm')") == "check_compare(x, '<', y, 'm')"
    assert rewritten("check(p is q and x < 2, 'm')") == "check_same(p, q, 'm', expect=True)\ncheck_compare(x, '<', 2, 'm')"
    # A visible part keeps conditions whose operands need not be plain values.
    assert rewritten("check(x < y and p, 'm')", hidden=False) == "check(x < y and p, 'm')"


def test_strict_parse():
    for data, words in [(b'', 'empty'), (b'\xff\xfe', 'UTF-8'), (b'[1]', 'not an object'),
                        (b'{"cells": 1}', 'no list of cells'), (b'{"a": NaN}', 'NaN'),
                        (b'{"cells": [], "cells": []}', 'repeats a key')]:
        with pytest.raises(SubmissionError, match=words):
            parse(data)


def test_the_untouched_student_edition_has_no_structural_notes():
    instructor, student = read_instructor(CH.source), read_instructor(CH.student)
    found = match(instructor, stub_sources(student), student, {'kernelspec': {'name': 'python3'}})
    assert found.notes == [] and found.tampering == []
    assert set(found.answers) == {c.grade_id for c in instructor if c.is_answer}


def test_intake_refuses_links_and_odd_names(tmp_path):
    subs = tmp_path / 'subs'
    (subs / 'alice').mkdir(parents=True)
    (subs / 'alice' / f'{CH.name}.ipynb').write_bytes(CH.student.read_bytes())
    (subs / 'bob').symlink_to(subs / 'alice')
    (subs / 'carol').mkdir()
    (subs / 'carol' / f'{CH.name}.ipynb').symlink_to(CH.source)
    (subs / 'bad name!').mkdir()
    store = Store(CH, root=tmp_path / 'grading')
    states = {s['student']: s for s in intake(subs, CH, store, 'fingerprint')}
    assert states['alice']['status'] == 'pending' and states['alice']['sha256']
    assert store.copy_of('alice') == CH.student.read_bytes()
    assert states['bob']['status'] == 'student_error' and 'symbolic link' in states['bob']['message']
    assert states['carol']['status'] == 'student_error' and 'symbolic link' in states['carol']['message']
    assert states['bad name!']['status'] == 'student_error' and 'student id' in states['bad name!']['message']


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    for n in range(3):
        write_atomically(tmp_path / 'state.json', f'{{"n": {n}}}')
    assert os.listdir(tmp_path) == ['state.json'] and json.loads((tmp_path / 'state.json').read_text()) == {'n': 2}


def test_only_allow_listed_files_travel_with_the_notebook(tmp_path, monkeypatch):
    monkeypatch.setitem(intake_module.ALLOWED_BESIDE_NOTEBOOK, CH.id, ('weights.params',))
    folder = tmp_path / 'subs' / 'alice'
    folder.mkdir(parents=True)
    (folder / f'{CH.name}.ipynb').write_bytes(CH.student.read_bytes())
    (folder / 'weights.params').write_bytes(b'\x00\x01')
    (folder / 'numpy.py').write_text('raise SystemExit\n')
    store = Store(CH, root=tmp_path / 'grading')
    state, = intake(tmp_path / 'subs', CH, store, 'fingerprint')
    assert state['files'] == ['weights.params']
    assert store.files_of('alice', state['files']) == {'weights.params': b'\x00\x01'}
    assert any('numpy.py' in note for note in state['notes'])


# -- student text is data: every field of a submission may be hostile ------------------------
SURROGATE = '\udcff'           # what JSON can carry as the escape \udcff


def notebook_bytes(edit):
    """The student edition as JSON bytes after `edit(nb)`; json.dumps writes lone
    surrogates as \\udcff escapes, as a hostile notebook file would hold them."""
    nb = json.loads(CH.student.read_text())
    edit(nb)
    return json.dumps(nb).encode()


def answer_cells(nb):
    return [c for c in nb['cells'] if c.get('metadata', {}).get('nbgrader', {}).get('solution')]


def encodable(*texts):
    for text in texts:
        text.encode('utf-8')
    return True


def test_surrogates_in_a_notebook_become_safe_text():
    def edit(nb):
        first, second = answer_cells(nb)[:2]
        first['source'] = f'x = "{SURROGATE}"\n'
        second['metadata']['nbgrader']['grade_id'] = 'ex_' + SURROGATE
        second['id'] = 'id' + SURROGATE
        nb['metadata']['kernelspec']['name'] = SURROGATE * 3
    assert SURROGATE.encode('unicode_escape') in notebook_bytes(edit)
    cells, metadata = parse(notebook_bytes(edit))
    assert encodable(*[c.source for c in cells], *[c.label or '' for c in cells])
    found = match(read_instructor(CH.source), stub_sources(read_instructor(CH.student)), cells, metadata)
    assert encodable(*found.notes, *found.answers.values())
    assert any('kernel' in n for n in found.notes) and any('unknown grade ids' in n for n in found.notes)


def test_safe_text_replaces_what_no_writer_takes_and_code_keeps_its_controls():
    assert safe_text('a\0b\r\n' + SURROGATE, controls=False) == 'a\0b\r\n\ufffd'
    assert safe_text('a\0b\tc\n\x1b[1m\u202e' + SURROGATE) == 'a\ufffdb\tc\n\ufffd[1m\ufffd\ufffd'
    assert safe_text('x' * 50, limit=10) == 'x' * 10 and safe_text(None) == '' and safe_text(3) == '3'
    assert safe_value({SURROGATE: [SURROGATE, (1, 'ok')], 'n': 2.5}) == {'\ufffd': ['\ufffd', (1, 'ok')], 'n': 2.5}
    deep = []
    for _ in range(5000):
        deep = [deep]
    assert encodable(json.dumps(safe_value(deep)))            # cut, not a RecursionError


def test_a_state_with_surrogates_is_saved_and_reads_back(tmp_path):
    store = Store(CH, root=tmp_path)
    state = intake_module.new_state('alice', 'alice', 'fp')
    state.update(status='graded', message='boom ' + SURROGATE, notes=[SURROGATE], feedback={'t': SURROGATE},
                 output=SURROGATE + '\x00')
    store.save(state)
    back = store.state('alice')
    assert back == state and back['message'] == 'boom \ufffd' and back['output'] == '\ufffd\ufffd'
    write_json(tmp_path / 'raw.json', {'text': SURROGATE})      # lossless where nothing is shown
    assert json.loads((tmp_path / 'raw.json').read_text()) == {'text': SURROGATE}


def test_a_state_that_cannot_be_saved_still_ends_recorded(tmp_path):
    """A grader bug that leaves in the state a value JSON cannot hold, and one that raises."""
    store = Store(CH, root=tmp_path)
    state = intake_module.new_state('alice', 'alice', 'fp')
    store.keep_copy('alice', b'{}')
    attempt(state, lambda: state.update(status='graded', message='ok', scores={'t': object()}))
    record_state(store, state)
    assert state['status'] == 'infra_error' and 'could not save' in state['message']
    assert store.state('alice')['status'] == 'infra_error'
    bob = intake_module.new_state('bob', 'bob', 'fp')
    assert attempt(bob, lambda: 1 / 0) is None
    record_state(store, bob)
    assert store.state('bob')['status'] == 'infra_error' and 'ZeroDivisionError' in store.state('bob')['message']


def big_points(value):
    def edit(nb):
        test = next(c for c in nb['cells'] if c.get('metadata', {}).get('nbgrader', {}).get('grade'))
        test['metadata']['nbgrader']['points'] = value
    return edit


@pytest.mark.parametrize('points', ['9' * 400, '1e999', '-1', 'true', '"2"', '1000001'])
def test_absurd_points_are_malformed_metadata(points):
    data = notebook_bytes(big_points('POINTS')).replace(b'"POINTS"', points.encode())
    cells, _ = parse(data)
    assert [c.problem for c in cells if c.problem] == ['its nbgrader points are not a number from 0 to 1000000 '
                                                       'and were ignored']
    assert all(math.isfinite(c.points) for c in cells)


def test_any_parse_failure_is_that_students_error(tmp_path, monkeypatch):
    subs = folders(tmp_path, ['alice', 'bob'])
    (subs / 'bob' / f'{CH.name}.ipynb').write_bytes(notebook_bytes(lambda nb: nb['cells'][0].update(boom=1)))
    real_cell = notebook_module._cell

    def cell_or_fail(raw, n):
        if 'boom' in raw:
            raise TypeError('a bug in a library')
        return real_cell(raw, n)
    monkeypatch.setattr(notebook_module, '_cell', cell_or_fail)
    states = {s['key']: s for s in intake(subs, CH, Store(CH, root=tmp_path / 'grading'), 'fingerprint')}
    assert states['alice']['status'] == 'pending'
    assert states['bob']['status'] == 'student_error' and 'TypeError: a bug in a library' in states['bob']['message']


def magic_heavy_cell(kb):
    block = '%timeit -n1 -r1 1 + 1\n!echo hello\nx = 1\nfor i in range(2):\n    %time i * 2\n    y = !ls\n'
    return block * (kb * 1024 // len(block))


def test_magics_become_do_nothing_python_line_for_line():
    source = ('x = (3\n     % 2)\n%timeit f()\nif x:\n    !echo hi\n    out = !ls\n    a, b = %who\n'
              's = """\n%not a magic\n"""\nz = 1 != 2\n%time \\\n  g()\n')
    out = to_python(source)
    assert out.split('\n') == ['x = (3', '     % 2)', 'pass', 'if x:', '    pass', '    out = None',
                               '    a, b = None, None', 's = """', '%not a magic', '"""', 'z = 1 != 2',
                               'pass', '', '']
    assert to_python('%%bash\necho hi\n') == 'pass\n\n' and to_python('y = 5 % 3\n') == 'y = 5 % 3\n'
    compile(out, 'cell', 'exec')
    assert 'get_ipython' not in to_python(magic_heavy_cell(10))


def test_a_huge_magic_heavy_cell_is_transformed_in_linear_time():
    source = magic_heavy_cell(170)
    started = time.perf_counter()
    out = to_python(source)
    assert time.perf_counter() - started < 1.0
    assert out.count('\n') == source.count('\n')
    compile(out, 'cell', 'exec')


def folders(tmp_path, names, notebook=None):
    subs = tmp_path / 'subs'
    for name in names:
        (subs / name).mkdir(parents=True)
        (subs / name / (notebook or f'{CH.name}.ipynb')).write_bytes(CH.student.read_bytes())
    return subs


def test_student_ids_match_in_full_and_invalid_keys_are_no_ids(tmp_path):
    subs = folders(tmp_path, ['alice\n', 'bad name!', 'invalid-0123456789ab'])
    store = Store(CH, root=tmp_path / 'grading')
    states = {s['student']: s for s in intake(subs, CH, store, 'fingerprint')}
    assert states['alice?']['status'] == 'student_error' and 'student id' in states['alice?']['message']
    bad = states['bad name!']
    assert not bad['valid_id'] and not intake_module.STUDENT_ID.fullmatch(bad['key'])
    valid = states['invalid-0123456789ab']
    assert valid['valid_id'] and valid['key'] == 'invalid-0123456789ab' and valid['status'] == 'pending'


def test_surrogates_and_formulas_in_folder_names_are_safe(tmp_path):
    names = [os.fsdecode(b'x\xff'), '=HYPERLINK("x.example","y")', '+cmd', '-2+3', '@SUM(1)']
    subs = folders(tmp_path, names)
    store = Store(CH, root=tmp_path / 'grading')
    states = intake(subs, CH, store, 'fingerprint')
    assert all(s['status'] == 'student_error' and encodable(s['student']) for s in states)
    table = list(csv.reader(io.StringIO(report.grades_csv(states, ['t'], 2.0))))
    shown = {row[0] for row in table[1:]}
    assert shown == {'x?', '\'=HYPERLINK("x.example","y")', "'+cmd", "'-2+3", "'@SUM(1)"}


def test_only_our_numbers_start_with_a_minus_in_a_csv():
    state = {'student': '-1', 'status': 'graded', 'scores': {'t': -1.0}, 'message': '=1+1'}
    assert report.grades_csv([state], ['t'], 2.0).splitlines()[1] == "'-1,graded,-1,2,-1,'=1+1"
    assert csv_cell(2.5) == '2.5' and csv_cell(3) == '3' and csv_cell('\tx') == "'\tx" and csv_cell('a=b') == 'a=b'


def test_the_majority_chapter_is_graded_and_the_odd_one_told(tmp_path):
    other = chapters()[1]
    subs = folders(tmp_path, ['alice', 'bob'])
    (subs / 'carol').mkdir()
    (subs / 'carol' / f'{other.name}.ipynb').write_bytes(other.student.read_bytes())
    assert find_chapter(subs) == CH
    states = {s['key']: s for s in intake(subs, CH, Store(CH, root=tmp_path / 'grading'), 'fingerprint')}
    assert states['carol']['status'] == 'student_error'
    message = states['carol']['message']
    assert f'chapter {other.id}' in message and f'grades chapter {CH.id}' in message
    (subs / 'dave').mkdir()
    (subs / 'dave' / f'{other.name}.ipynb').write_bytes(other.student.read_bytes())
    with pytest.raises(SystemExit, match='--chapter'):
        find_chapter(subs)                                    # two against two


class FakeGradebook:
    """nbgrader's Gradebook, failing for one student."""
    recorded = []

    def __init__(self, url):
        self.db = SimpleNamespace(commit=lambda: None, rollback=lambda: None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update_or_create_student(self, student):
        if student == 'bob':
            raise RuntimeError('database says no')
        self.recorded.append(student)

    def find_submission(self, *args):
        return None

    def find_submission_notebook(self, *args):
        return SimpleNamespace(grades=[])


def test_gradebook_records_each_student_on_their_own(monkeypatch):
    import nbgrader.api
    monkeypatch.setattr(nbgrader.api, 'Gradebook', FakeGradebook)
    written = []
    monkeypatch.setattr(gradebook, 'write_autograded', lambda ch, a, state: written.append(state['key']))
    states = [dict(intake_module.new_state(key, key, 'fp'), status='graded') for key in ('alice', 'bob', 'invalid-x')]
    states.append(dict(intake_module.new_state('_invalid-1', 'bad name', 'fp', valid_id=False), status='student_error'))
    failed = gradebook.record(CH, SimpleNamespace(tests=[]), states)
    assert FakeGradebook.recorded == ['alice', 'invalid-x'] and written == ['alice', 'invalid-x']
    assert [(student, status) for student, status, _ in failed] == [('bob', 'graded')]
    assert 'database says no' in failed[0][2]


def test_an_autograded_notebook_takes_any_answer_text(tmp_path, monkeypatch):
    release = tmp_path / 'release'
    (release / CH.id).mkdir(parents=True)
    (release / CH.id / f'{CH.name}.ipynb').write_bytes(CH.student.read_bytes())
    monkeypatch.setattr(gradebook, 'RELEASE', release)
    monkeypatch.setattr(gradebook, 'GRADING', tmp_path)
    store = Store(CH, root=tmp_path)
    data = notebook_bytes(lambda nb: answer_cells(nb)[0].update(source=f'x = "{SURROGATE}"\n'))
    store.keep_copy('alice', data)
    instructor = read_instructor(CH.source)
    assignment = SimpleNamespace(store=store, instructor=instructor, stubs=stub_sources(read_instructor(CH.student)))
    state = dict(intake_module.new_state('alice', 'alice', 'fp'), status='graded', sha256='x',
                 feedback={c.grade_id: SURROGATE for c in instructor if c.is_test})
    gradebook.write_autograded(CH, assignment, state)
    written = (tmp_path / 'autograded' / 'alice' / CH.id / f'{CH.name}.ipynb').read_text()
    assert 'x = \\"\ufffd\\"' in written


def test_one_broken_state_does_not_stop_the_reports(tmp_path, monkeypatch):
    monkeypatch.setattr(report, 'GRADING', tmp_path)
    monkeypatch.setattr(report, 'chart', lambda *args: None)
    assignment = SimpleNamespace(tests=[SimpleNamespace(grade_id='t', points=1.0)], max_score=1.0,
                                 sandbox=SimpleNamespace(limits=SimpleNamespace(cell_seconds=2)), ch=CH)
    good = dict(intake_module.new_state('alice', 'alice', 'fp'), status='graded', scores={'t': 1.0},
                feedback={'t': 'passed ' + SURROGATE}, notes=['ignored ' + SURROGATE])
    broken = dict(intake_module.new_state('bob', 'bob', 'fp'), status='graded', scores={'t': 'x'}, notes=None,
                  feedback=None, message=None)
    report.write(CH, assignment, [broken, good], [('carol', 'graded', 'not recorded ' + SURROGATE)])
    folder = tmp_path / 'reports' / CH.id
    assert 'passed \ufffd' in (folder / 'feedback' / 'alice.html').read_text()
    assert 'could not be made' in (folder / 'feedback' / 'bob.html').read_text()
    rows = list(csv.reader(io.StringIO((folder / 'grades.csv').read_text())))
    assert [row[0] for row in rows] == ['student', 'bob', 'alice'] and rows[2][2] == '1'
    attention = (folder / 'attention.csv').read_text()
    assert 'carol' in attention and 'not recorded \ufffd' in attention and 'alice' in attention


def channel_lines(nonce, messages):
    return b''.join(json.dumps(dict(m, k=nonce, n=n)).encode() + b'\n' for n, m in enumerate(messages, 1))


def test_a_flood_on_the_channel_is_stopped_across_attempts():
    """Even a submission that could write authenticated lines cannot make the grader hold more
    than a notebook's worth of records: the budget is shared by all attempts of a run."""
    from autograder import execution
    budget = execution.ReportBudget(items=50_000, line_items=20_000)
    for attempt_number in range(3):
        attempt = execution.Attempt()
        channel = execution._Channel('nonce', attempt, time.monotonic, budget)
        flood = [{'t': 'cell', 'i': 1}] + [{'t': 'rec', 'i': 1, 'kind': 'check', 'value': [[]] * 5000}] * 6
        channel.feed(channel_lines('nonce', flood), 0.0)
        if attempt.tampered:
            break
    assert attempt.tampered == 'more check results than a notebook produces' and attempt_number <= 1
    one_line = execution._Channel('nonce', execution.Attempt(), time.monotonic, execution.ReportBudget(line_items=100))
    one_line.feed(channel_lines('nonce', [{'t': 'cell', 'i': 1, 'junk': [[]] * 200}]), 0.0)
    assert one_line.attempt.tampered


def test_a_malformed_authenticated_message_marks_tampering_not_a_grader_failure():
    from autograder import execution
    attempt = execution.Attempt()
    channel = execution._Channel('nonce', attempt, time.monotonic, execution.ReportBudget())
    channel.feed(channel_lines('nonce', [{'t': 'cell', 'i': [1, 2]}]), 0.0)
    assert attempt.tampered == 'a malformed message'


def test_messages_after_hidden_tests_keep_nothing_the_code_chose():
    error = {'types': ['Stolen_abc123', 'Exception'], 'message': 'inputs: 1 2 3', 'where': ['ex_take', 1440103]}
    shown = verdict.explain_error(error, hidden=False, memory_mb=1, after='test_array')
    assert 'inputs' not in shown and '1440103' not in shown and 'Stolen' not in shown and 'ex_take' in shown
    refused = {'types': ['NotAllowedWhileGrading'], 'message': 'stolen text', 'where': None}
    assert 'stolen' not in verdict.explain_error(refused, hidden=True, memory_mb=1)
    before = verdict.explain_error(error, hidden=False, memory_mb=1)
    assert 'inputs: 1 2 3' in before and 'line 1440103' in before


def test_error_checks_count_only_for_an_answer_that_returns_on_valid_input():
    """An exercise's error-only feature cell (every check a check_raises) is no evidence when the
    answer raised the same error in the exercise's value cell: stubs that raise MXNetError would
    earn every error feature. A wrong value, or another exception, leaves its points alone."""
    from autograder.execution import CellRun
    raises = {'kind': 'raises', 'value': ['raised', ['MXNetError'], 'x'], 'params': {'types': ['MXNetError']}}
    reference = {1: CellRun(records=[{'kind': 'array', 'value': ['none']}], finished=True),
                 2: CellRun(records=[raises, raises], finished=True)}
    exercise = [[('test_view', 1), ('test_view_error', 2)]]

    def student(error):
        return {1: CellRun(records=[], finished=True, error=error), 2: CellRun(records=[raises, raises], finished=True)}
    everywhere = {'types': ['_Refused', 'MXNetError', 'RuntimeError', 'Exception'], 'message': 'no', 'where': None}
    found = verdict.error_checks_not_earned(exercise, reference, student(everywhere))
    assert list(found) == ['test_view_error'] and 'raised MXNetError in test_view' in found['test_view_error']
    other = {'types': ['IndexError', 'Exception'], 'message': 'bug', 'where': None}
    assert verdict.error_checks_not_earned(exercise, reference, student(other)) == {}
    assert verdict.error_checks_not_earned(exercise, reference, student(None)) == {}
    reference[1].error = everywhere                 # the reference raises there too: nothing to tell apart
    assert verdict.error_checks_not_earned(exercise, reference, student(everywhere)) == {}
