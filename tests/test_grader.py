"""The grader's parts, fast and without a sandbox: encoding, decoding, verdicts, structure,
intake and the store. The whole grader under attack is tests/test_redteam.py."""
import ast
import json
import os
import time

import numpy as np
import pytest

from autograder import verdict
from autograder.harness import recorder
from autograder.harness.run_notebook import RecordableChecks
from autograder import intake as intake_module
from autograder.intake import intake
from autograder.notebook import SubmissionError, match, parse, read_instructor, stub_sources, to_python
from autograder.records import DType, PyType, Unsupported, decode
from autograder.store import Store, write_atomically
from pipeline.chapters import chapters

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


def test_an_input_changed_in_place_is_named():
    ref = [{'fp': {'x': 'a', 'y': 'b'}}, {'fp': {'x': 'a', 'y': 'c'}}]
    student = [{'fp': {'x': 'a', 'y': 'b'}}, {'fp': {'x': 'z', 'y': 'c'}}]
    assert verdict.mutated(student, ref, 1) == ['x']


def rewritten(code):
    return ast.unparse(RecordableChecks().visit(ast.parse(code)))


def test_test_code_is_rewritten_to_record_values():
    assert rewritten("check(a.shape == (2, 2), 'm')") == "check_equal(a.shape, (2, 2), 'm')"
    assert rewritten('assert f(x) == 3') == "check_equal(f(x), 3, 'f(x) == 3')"
    assert rewritten('assert ok') == "check(ok, 'ok')"
    assert rewritten('np.testing.assert_allclose(a, b, rtol=0.1)') == \
        "check_array(a, b, 'numpy.testing.assert_allclose', rtol=0.1, atol=0.0)"
    assert rewritten("check(a is b, 'm')") == "check(a is b, 'm')"


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
