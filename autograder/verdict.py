"""Score a student's run against the reference run, record by record, outside the sandbox.

Both runs execute the same instructor test code on the same seeded inputs; only the answer
cells differ. A test cell earns its points when the student's run finished it without an
exception and every one of its records passes the check it came from, judged here with the
parameters (tolerance, dtype, expected exception, hidden or not) of the reference run's
record at the same position and against the reference run's expected values. Values the
student's process claims to expect are never read.

Messages talk to the student: what was checked and why it failed (shape, dtype, NaN/Inf,
wrong values, an input changed in place, an exception). For hidden checks they say how the
result was wrong, never the hidden inputs or expected values.
"""
import functools
import importlib.util
import re
from dataclasses import dataclass, field

import numpy as np

from autograder.records import DType, NDArrayLike, PyType, Raised, Unsupported, decode
from core.chapters import CHECKS

MAX_MESSAGE = 600


@functools.cache
def _course_checks():
    """solutions/checks.py, loaded here in the grader's own process: arrays are judged by its
    `array_mismatch`, the rules and words of the `check_array` students run themselves."""
    spec = importlib.util.spec_from_file_location('_course_checks', CHECKS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class CellVerdict:
    grade_id: str
    points: float
    score: float
    message: str
    attention: list = field(default_factory=list)


def mask(text):
    """A hidden check's description with its inputs blanked: 'take(…) axis=…'."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", '…', str(text))
    while True:
        masked = re.sub(r'\([^()\[\]{}]*\)|\[[^()\[\]{}]*\]|\{[^()\[\]{}]*\}', '\x01', text)
        if masked == text:
            break
        text = masked
    text = re.sub(r'[-+]?\d+(\.\d+)?([eE][-+]?\d+)?', '…', text)
    text = re.sub(r'=\s*[^\s,;:()\[\]{}…]+', '=…', text)     # axis=1 mode=wrap: the values are inputs too
    return text.replace('\x01', '(…)')[:120]


def short(value, limit=120):
    if isinstance(value, (DType, PyType)):
        return str(np.dtype(value.name)) if isinstance(value, DType) else value.name
    text = repr(value.array if isinstance(value, NDArrayLike) else value)
    return text if len(text) <= limit else text[:limit] + '…'


def _is_number(x):
    return isinstance(x, (bool, int, float, complex, np.generic)) and not isinstance(x, np.ndarray)


def _dtype_of(x):
    if isinstance(x, DType):
        return np.dtype(x.name)
    if isinstance(x, PyType) and x.name in ('bool', 'int', 'float', 'complex'):
        return np.dtype(x.name)
    return None


def same(a, b):
    """`a == b` as check_equal means it, on decoded plain values."""
    if isinstance(a, Unsupported) or isinstance(b, Unsupported):
        return False
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, frozenset) or isinstance(b, frozenset):
        return isinstance(a, frozenset) and isinstance(b, frozenset) and a == b
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() \
            and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (np.ndarray, NDArrayLike)) or isinstance(b, (np.ndarray, NDArrayLike)):
        x = a.array if isinstance(a, NDArrayLike) else a
        y = b.array if isinstance(b, NDArrayLike) else b
        try:
            return np.shape(x) == np.shape(y) and bool(np.array_equal(x, y))
        except (TypeError, ValueError):
            return False
    if isinstance(a, (DType, PyType)) or isinstance(b, (DType, PyType)):
        if isinstance(a, PyType) and isinstance(b, PyType):
            return a == b
        da, db = _dtype_of(a), _dtype_of(b)
        return da is not None and da == db
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


@dataclass
class Failure:
    visible: str        # shown when the check is visible
    hidden: str         # shown when it is hidden


def _unsupported(value):
    text = f'got a {value.type_name} ({value.reason}); the check needs a plain value (a number, tuple, string or array)'
    # On a hidden case the class name is left out: code could name a class after the inputs.
    return Failure(text, 'got a value that is not a plain one (a number, tuple, string or array)')


def _judge_check(value, record, student_record):
    if isinstance(value, Unsupported):
        return _unsupported(value)
    if value is True:
        return None
    return Failure('this check failed', 'a hidden check failed')


def _judge_equal(value, record, student_record):
    if isinstance(value, Unsupported):
        return _unsupported(value)
    expected, reference = decode(record.get('expected', ['none'])), decode(record['value'])
    if same(value, expected) or same(value, reference):
        return None
    return Failure(f'expected {short(expected)}, got {short(value)}', 'wrong value on a hidden case')


def _judge_array(value, record, student_record):
    if isinstance(value, Unsupported):
        return _unsupported(value)
    want = decode(record.get('expected', ['none']))
    want = want.array if isinstance(want, NDArrayLike) else want
    got = value.array if isinstance(value, NDArrayLike) else np.asarray(value) if _is_number(value) else value
    if not isinstance(got, np.ndarray):
        text = f'got a {type(value).__name__}, not an array'
        return Failure(text, text)
    if not isinstance(want, np.ndarray):
        return Failure('the reference value could not be read', 'the reference value could not be read')
    params = record.get('params') or {}
    wrong = _course_checks().array_mismatch(got, want, rtol=params.get('rtol', 1e-5), atol=params.get('atol', 1e-6),
                                            dtype=params.get('dtype') or None)
    return Failure(*wrong) if wrong else None


def _judge_raises(value, record, student_record):
    params = record.get('params') or {}
    names = params.get('types') or ['an exception']
    wanted = ' or '.join(names)
    if isinstance(value, Unsupported):
        return _unsupported(value)
    if not isinstance(value, Raised):
        return Failure(f'expected {wanted} to be raised, but nothing was raised',
                       'expected an error on a hidden case, but nothing was raised')
    if not set(names) & set(value.types):
        return Failure(f'expected {wanted}, got {value.types[0]}: {value.message[:200]}',
                       f'raised {value.types[0]} instead of the expected error on a hidden case')
    match = params.get('match')
    if match is not None and not re.search(match, value.message):
        return Failure(f'raised {value.types[0]} as it should, but the message {value.message[:200]!r} '
                       f'does not contain {match!r}', 'the error message on a hidden case is not the expected one')
    return None


def _judge_fact(value, record, student_record):
    """`a is b` or np.shares_memory(a, b): a boolean the recorder computed, which must equal
    the reference's expectation."""
    if isinstance(value, Unsupported):
        return _unsupported(value)
    expected = decode(record.get('expected', ['none']))
    if value is expected:
        return None
    if record['kind'] == 'same':
        text = 'expected the very same object' if expected else 'expected a new object, got the same one'
    else:
        text = 'expected the arrays to share memory (a view, not a copy)' if expected else \
            'expected a copy, got an array that shares memory with the input'
    return Failure(text, text)


RELATIONS = {'<': lambda a, b: a < b, '<=': lambda a, b: a <= b, '>': lambda a, b: a > b, '>=': lambda a, b: a >= b,
             '!=': lambda a, b: not same(a, b), 'in': lambda a, b: any(same(a, x) for x in b),
             'not in': lambda a, b: not any(same(a, x) for x in b)}


def _plain_operand(x):
    x = x.array if isinstance(x, NDArrayLike) else x
    if isinstance(x, np.ndarray) and x.size == 1:
        x = x.reshape(()).item()
    return x.item() if isinstance(x, np.generic) else x


def _judge_compare(value, record, student_record):
    """`a < b` and the like, compared here on the two values the student's run recorded."""
    op = (record.get('params') or {}).get('op')
    if isinstance(value, Unsupported):
        return _unsupported(value)
    if not (isinstance(value, tuple) and len(value) == 2) or op not in RELATIONS:
        return Failure('the comparison could not be read', 'the comparison could not be read')
    a, b = (_plain_operand(x) for x in value)
    for side in (a, b):
        if isinstance(side, Unsupported):
            return _unsupported(side)
    numbers = all(isinstance(x, (bool, int, float)) for x in (a, b))
    containers = op in ('in', 'not in') and isinstance(b, (tuple, list, frozenset, str, dict))
    if not (numbers or containers or op == '!=' or (isinstance(a, str) and isinstance(b, str))):
        text = f'expected two numbers to compare, got {type(a).__name__} and {type(b).__name__}'
        return Failure(text, text)
    try:
        holds = bool(RELATIONS[op](a, list(b) if containers and not isinstance(b, str) else b))
    except TypeError:
        holds = False
    if holds:
        return None
    return Failure(f'expected {short(a)} {op} {short(b)}', 'a comparison failed on a hidden case')


JUDGES = {'check': _judge_check, 'equal': _judge_equal, 'array': _judge_array, 'raises': _judge_raises,
          'same': _judge_fact, 'shares': _judge_fact, 'compare': _judge_compare}


def judge(student_record, reference_record):
    """None if the student's record passes the reference record's check, else a Failure."""
    kind = reference_record.get('kind')
    if student_record.get('kind') != kind:
        text = 'the checks ran in a different order than in a correct solution'
        return Failure(text, text)
    return JUDGES[kind](decode(student_record.get('value')), reference_record, student_record)


def mutated(student_records, reference_records, upto):
    """Names of arrays the student's code changed in place before record `upto`: their
    digest changed between two checks where, in the reference run, it did not."""
    names = []
    for r in range(1, min(upto + 1, len(student_records), len(reference_records))):
        s0, s1 = student_records[r - 1].get('fp') or {}, student_records[r].get('fp') or {}
        f0, f1 = reference_records[r - 1].get('fp') or {}, reference_records[r].get('fp') or {}
        for name in s1:
            if name in s0 and name in f0 and name in f1 and s0[name] != s1[name] and f0[name] == f1[name] \
                    and name not in names:
                names.append(name)
    return names


import builtins as _builtins

# Exception class names shown even after hidden tests ran: a class the notebook defines could
# carry data out in its name.
KNOWN_ERRORS = {n for n, v in vars(_builtins).items() if isinstance(v, type) and issubclass(v, BaseException)} | \
    {'MXNetError', 'DeferredInitializationError', 'NotAllowedWhileGrading', 'CheckFailed'}


def explain_error(error, hidden, memory_mb, after=None):
    """A student-facing sentence for an exception the harness reported. Once hidden tests have
    run (`after` names the first exercise whose hidden part ran), messages are not shown: an
    answer could carry hidden inputs out in them."""
    types, message = error.get('types') or ['Exception'], (error.get('message') or '').strip()
    name = types[0]
    if (hidden or after) and name not in KNOWN_ERRORS and not error.get('compile'):
        name = next((f'an error of its own class (a {t})' for t in types if t in KNOWN_ERRORS), 'an error of its own class')
    where = error.get('where') or [None, None]
    at = f' (line {where[1]} of {where[0]})' if where[0] and where[1] else ''
    if (hidden or after) and not error.get('compile'):
        at = f' (in {where[0]})' if where[0] else ''      # code can raise from any line number it likes
    if name == 'NotImplementedError':
        return 'not implemented yet: the answer still raises NotImplementedError' + at
    if name == 'SystemExit':
        return 'your code called sys.exit() (or raised SystemExit)' + at
    if name == 'MemoryError':
        return f'ran out of memory (the limit is {memory_mb} MB)' + at
    if name == 'RecursionError':
        return 'maximum recursion depth exceeded (infinite recursion?)' + at
    if name == 'NotAllowedWhileGrading':             # what was refused is in the notes (the grader's own count)
        return 'grading refused a call that reads the interpreter\'s internals (see the notes)' + at
    if hidden:
        return f'your code raised {name} on a hidden case' + at
    if after and not error.get('compile'):        # a compile error was found before any test ran
        hint = ' -- does your notebook pass "Restart & Run All"?' if name == 'NameError' else ''
        return (f'your code raised {name}{at}; its message is not shown because the hidden tests of {after} '
                f'ran before (run the notebook yourself to see it){hint}')
    text = f'{name}: {message[:300]}' if message else name
    if name == 'NameError':
        text += ' -- the grader runs the notebook top to bottom in a fresh interpreter: does yours ' \
                'pass "Restart & Run All"?'
    return text + at


def judge_cell(grade_id, points, reference, student, memory_mb, after_hidden=None):
    """The verdict for one test cell the student's run finished, given both runs' CellRun
    (cells that were skipped or never reached are the caller's: assignment._judge_test)."""
    refs, recs = reference.records, student.records
    hidden_from = reference.hidden_from if reference.hidden_from is not None else len(refs)
    count = f'{len(refs)} checks'
    for r, ref in enumerate(refs):
        hidden = r >= hidden_from
        if r >= len(recs):
            hidden = student.hidden_from is not None      # the run had reached the hidden part
            text = explain_error(student.error, hidden, memory_mb, after_hidden) if student.error else \
                f'the test stopped after {r} of {count}'
            return CellVerdict(grade_id, points, 0.0, _cap(f'{_position(r, hidden, hidden_from)}: {text}'))
        failure = judge(recs[r], ref)
        if failure and after_hidden and ref.get('kind') == 'raises':
            failure = Failure(f'raised a different error than expected (the message is not shown because the '
                              f'hidden tests of {after_hidden} ran before)', failure.hidden)
        if failure:
            if hidden:
                what = f'hidden check ({mask(ref.get("what", ""))}): {failure.hidden}'
            else:
                what = f'{recs[r].get("what") or ref.get("what")}: {failure.visible}'
            changed = mutated(recs, refs, r)
            if changed:
                what += (f'; note: your code changed its input {", ".join(f"`{n}`" for n in changed)} in place '
                         f'(functions must not modify the arrays they are given)')
            return CellVerdict(grade_id, points, 0.0, _cap(f'check {r + 1} of {len(refs)}, {what}'))
    if student.error:
        return CellVerdict(grade_id, points, 0.0,
                           _cap(explain_error(student.error, student.hidden_from is not None, memory_mb,
                                              after_hidden)))
    if len(recs) != len(refs):
        return CellVerdict(grade_id, points, 0.0, f'ran {len(recs)} checks where a correct solution runs {len(refs)}')
    return CellVerdict(grade_id, points, points, f'passed ({count})')


def _expected_errors(run):
    """The exception names a test cell of error checks alone (every check a check_raises)
    expects, from the reference run; None for a cell that checks anything else."""
    records = run.records if run is not None else []
    if not records or any(r.get('kind') != 'raises' for r in records):
        return None
    return [t for r in records for t in (r.get('params') or {}).get('types') or []]


def error_checks_not_earned(exercises, reference, student):
    """{grade id: message} of the error-only test cells that cannot count: another test cell of
    the same exercise, which the reference finished, stopped in the student's run on one of the
    errors the cell expects. An answer that raises on valid input too tells nothing apart: stubs
    that raise MXNetError would earn every error feature of a chapter. `exercises` lists each
    exercise's test cells as [(grade id, cell index)]; reference and student map index -> CellRun."""
    found = {}
    for cells in exercises:
        for gid, i in cells:
            expected = _expected_errors(reference.get(i))
            for other, j in cells if expected else ():
                mine, theirs = student.get(j), reference.get(j)
                if other == gid or mine is None or not mine.error or theirs is None or theirs.error \
                        or _expected_errors(theirs) is not None:
                    continue
                raised = next((t for t in expected if t in (mine.error.get('types') or ())), None)
                if raised:
                    found[gid] = (f'not counted: your answer raised {raised} in {other}, where a correct answer '
                                  f'returns a result; error checks count only for an answer that raises them on '
                                  f'wrong input, not on everything')
                    break
    return found


def _position(r, hidden, hidden_from):
    return f'hidden checks, after {max(0, r - hidden_from)} passed' if hidden else f'check {r + 1}'


def _cap(text):
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + '…'


def check_reference(grade_id, run):
    """Problems with the reference run of one test cell (the grader cannot trust it then)."""
    if run is None or not run.finished:
        return [f'{grade_id}: the reference solution did not finish this test']
    if run.error:
        return [f'{grade_id}: the reference solution raised {run.error.get("types", ["?"])[0]}: '
                f'{run.error.get("message", "")[:300]}']
    problems = []
    for r, record in enumerate(run.records):
        failure = judge(record, record)
        if failure:
            problems.append(f'{grade_id}: check {r + 1} fails on the reference solution itself: {failure.visible}')
    return problems[:5]
