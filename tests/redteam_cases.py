"""The red-team submissions of THREATS.md, built from a chapter's own notebooks.

Each case starts from a correct submission (the student edition with the reference answers
pasted in) and changes one thing: code appended to an answer cell, a wrapper around one
exercise function, notebook surgery, files beside the notebook, or a broken file. Targets
are found in the notebook, not named here: exercise functions that only their own test
calls (so breaking one costs exactly that test), so the cases follow the chapters as they
change. Each case says what the grader must make of it (`Expect`).
"""
import ast
import copy
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

from core.notebook_format import HIDDEN_BEGIN as HIDDEN


@dataclass
class Expect:
    status: str = 'graded'
    zero: tuple = ()              # tests that must score 0
    others_full: bool = True      # every other test must get full marks
    # tests that may score anything: the other feature cells of an exercise whose function a
    # case breaks (a wrong value still raises the errors an `_errors` cell checks)
    either: tuple = ()
    feedback: dict = field(default_factory=dict)   # test id -> text its message must contain
    # test id -> texts, one of which its message must contain: where two limits can stop the
    # same code (memory or CPU time, CPU or wall time), which fires first depends on the
    # machine's load, and a test must not assert it
    feedback_any: dict = field(default_factory=dict)
    text: str = None              # must appear in the message, notes or attention list
    text_any: tuple = ()          # one of these must appear there (see feedback_any)
    attention: bool = False       # must be on the instructor's attention list
    listed_as: str = None         # the student cell of its rows in grades.csv (and attention.csv)
    absent: str = None            # must appear nowhere in the feedback, message, notes or attention


@dataclass
class Case:
    name: str
    build: object                 # build(folder) writes the submission into `folder`
    expect: Expect
    needs_sandbox: bool = False   # harmful or meaningless outside bubblewrap (fork bomb, disk...)
    folder: str = None            # the student folder's name, for cases about the name itself
    known_hole: str = None        # an attack that still works, and why: the case must fail (strict xfail)


@dataclass
class Target:
    answer: str                   # answer cell grade id
    function: str                 # the exercise function it defines
    test: str                     # the first test cell that calls it
    visible_calls: int            # calls of it written in that test's visible part
    tests: tuple = ()             # every test cell of it (an exercise graded feature by feature)


def source(cell):
    return cell['source'] if isinstance(cell['source'], str) else ''.join(cell['source'])


def meta(cell):
    return cell.get('metadata', {}).get('nbgrader', {})


def by_id(nb, grade_id):
    return next(c for c in nb['cells'] if meta(c).get('grade_id') == grade_id)


def _names_used(text):
    try:
        return {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name)}
    except SyntaxError:
        return set()


def find_targets(solution):
    """Exercise functions referenced (as names) only by their own answer and test cells."""
    code = [c for c in solution['cells'] if c['cell_type'] == 'code']
    targets = []
    for cell in code:
        if not meta(cell).get('solution'):
            continue
        defined = [n.name for n in ast.parse(source(cell)).body if isinstance(n, ast.FunctionDef)]
        for name in defined:
            users = [c for c in code if c is not cell and name in _names_used(source(c))]
            if users and all(meta(u).get('grade') and not meta(u).get('solution') for u in users) \
                    and len(defined) == 1:
                visible = source(users[0]).split(HIDDEN)[0]
                targets.append(Target(meta(cell)['grade_id'], name, meta(users[0])['grade_id'],
                                      len(re.findall(rf'\b{name}\(', visible)),
                                      tuple(meta(u)['grade_id'] for u in users)))
    return targets


class Chapter:
    """A chapter's notebooks and the ways to make submissions from them."""

    def __init__(self, ch):
        self.ch = ch
        self.solution = json.loads(ch.source.read_text())
        self.student = json.loads(ch.student.read_text())
        self.answers = [meta(c)['grade_id'] for c in self.solution['cells'] if meta(c).get('solution')]
        self.tests = [meta(c)['grade_id'] for c in self.solution['cells']
                      if meta(c).get('grade') and not meta(c).get('solution')]
        self.points = {meta(c)['grade_id']: float(meta(c).get('points', 0)) for c in self.solution['cells']
                       if meta(c).get('grade') and not meta(c).get('solution')}
        self.targets = find_targets(self.solution)
        dtype_tests = [t for t in self.tests if 'dtype' in source(by_id(self.solution, t)).split(HIDDEN)[0]]
        self.dtype_test = dtype_tests[0] if dtype_tests else None

    def correct(self):
        nb = copy.deepcopy(self.student)
        for gid in self.answers:
            by_id(nb, gid)['source'] = source(by_id(self.solution, gid))
        return nb

    def write(self, folder, nb, name=None):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / (name or f'{self.ch.name}.ipynb')).write_text(json.dumps(nb, indent=1))


def append(nb, grade_id, code):
    cell = by_id(nb, grade_id)
    cell['source'] = source(cell) + '\n\n' + code.strip('\n') + '\n'
    return nb


def wrap(nb, target, body):
    """Rebind the target function: `body` may call `_original(*args, **kwargs)`."""
    code = (f'_original_{target.function} = {target.function}\n\n\n'
            f'def {target.function}(*args, **kwargs):\n'
            f'    _original = _original_{target.function}\n'
            + ''.join(f'    {line}\n' for line in body.strip('\n').splitlines()))
    return append(nb, target.answer, code)


WRONG = '''
import numpy as _np
result = _original(*args, **kwargs)
if isinstance(result, tuple):
    return result + (7,)
return _np.asarray(result) + 1
'''

# Right values, and never an error: what fails an exercise's error feature and nothing else.
SWALLOW = '''
import numpy as _np
try:
    return _original(*args, **kwargs)
except Exception:
    return _np.zeros(1)
'''

LIAR = '''
class _Liar:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    def __len__(self): return 2
    def __iter__(self): return iter((3, 4))
    def __getattr__(self, name): return self
    def __getitem__(self, key): return self
    def __call__(self, *args, **kwargs): return self
    def __repr__(self): return '(3, 4)'
    __hash__ = object.__hash__
return _Liar()
'''

PATCH_RECORDER = '''
import sys
_recorder_module = sys.modules.get('recorder')
if _recorder_module is not None:
    _recorder_module.encode_truth = lambda value: ['bool', True]
    _recorder_module.encode = lambda value, *a, **k: ['bool', True]
    _recorder_module.Recorder.check = lambda self, *a, **k: None
'''

PATCH_HELPERS = '''
import builtins
import numpy as np
import numpy.testing as npt
import checks
def _yes(*args, **kwargs): return True
def _quiet(*args, **kwargs): return None
np.allclose = np.array_equal = np.isclose = np.shares_memory = _yes
npt.assert_allclose = npt.assert_array_equal = npt.assert_equal = _quiet
checks.check = checks.check_equal = checks.check_array = checks.check_raises = _quiet
checks._recorder = None
check = check_equal = check_array = check_raises = _quiet
'''

FAKE_OUTPUT = '''
import sys
print('✓ all visible tests passed')
print('Tests passed: 11/11, score 11/11')
print('{"t": "rec", "kind": "check", "value": ["bool", true]}')
print('{"t": "done"}', file=sys.stderr)
'''

FORGE_CHANNEL = '''
import json, os
for _fd in range(3, 1024):
    for _msg in ({"t": "done", "k": "guess", "n": 1}, {"t": "end", "i": 0, "error": None}):
        try:
            os.write(_fd, (json.dumps(_msg) + "\\n").encode())
        except OSError:
            pass
'''

READ_SECRETS = '''
import os
_found = []
for _top in ['/', os.getcwd(), '/work', '/root', '/home', '/tmp', '/course', '/harness', '/srv', '/var']:
    for _dir, _subdirs, _files in os.walk(_top):
        _subdirs[:] = [d for d in _subdirs if d not in ('proc', 'sys', 'dev', 'usr', 'site-packages', 'lib')]
        for _name in _files:
            if _name.endswith(('.ipynb', '.db', '.json', '.csv')):
                try:
                    with open(os.path.join(_dir, _name), errors='ignore') as _f:
                        if SECRET in _f.read(1 << 22) or 'gradebook' in _name:
                            _found.append(os.path.join(_dir, _name))
                except OSError:
                    pass
for _guess in ['../solutions', '../../solutions', '../_grading/gradebook.db']:
    if os.path.exists(_guess):
        _found.append(_guess)
print('FOUND-SECRET' if _found else 'nothing found', _found[:5])
'''

WRITE_EVERYWHERE = '''
import os, sys, glob, sqlite3
for _d in list(sys.path) + [os.path.dirname(os.__file__), '/course', '/harness', '/tmp/..', '..']:
    for _name in ('sitecustomize.py', 'usercustomize.py', 'zzz_redteam.pth', 'checks.py', 'numpy.py'):
        try:
            with open(os.path.join(_d, _name), 'w') as _f:
                _f.write('raise SystemExit("redteam")\\n')
        except OSError:
            pass
_dbs = ['../_grading/gradebook.db', 'gradebook.db']
for _top in ['/', '/tmp', '/work', '/root', '/course', '/harness']:
    for _dir, _subdirs, _files in os.walk(_top):
        _subdirs[:] = [d for d in _subdirs if d not in ('proc', 'sys', 'dev', 'usr', 'site-packages', 'lib')]
        _dbs += [os.path.join(_dir, f) for f in _files if f.endswith(('.db', '.json'))]
for _db in _dbs[:50]:
    try:
        _c = sqlite3.connect(_db)
        _c.execute('create table if not exists redteam (x)')
        _c.execute('update grade set auto_score = 0') if 'grade' in str(_c.execute('select name from sqlite_master').fetchall()) else None
        _c.commit()
    except Exception:
        pass
'''

DAEMON = '''
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(3)
        for _pid in range(2, 4 << 20):
            try:
                os.kill(_pid, 9)
            except OSError:
                pass
        os._exit(0)
    os._exit(0)
'''

KILL_GRADER = '''
import os, signal
for _kill in (lambda: os.kill(os.getppid(), signal.SIGKILL), lambda: os.kill(1, signal.SIGKILL),
              lambda: os.kill(-1, signal.SIGKILL), lambda: os.killpg(os.getpgrp(), signal.SIGKILL)):
    try:
        _kill()
    except OSError:
        pass
'''

GRADING_DETECTOR = '''
import os
grading = bool(os.environ.get('NBGRADER_EXECUTION') or os.environ.get('HOME') == '/tmp'
               or os.path.exists('/harness') or os.path.exists('/course') or os.getuid() >= 60000)
if grading:
''' + ''.join('    ' + line + '\n' for line in LIAR.strip().splitlines()) + WRONG

# Right answers for as many calls as the visible tests make, wrong ones afterwards: what a
# submission that hard-codes the visible cases amounts to.
HARD_CODED = '''
global _calls
_calls = globals().get('_calls', 0) + 1
if _calls <= VISIBLE:
    return _original(*args, **kwargs)
''' + WRONG

NETWORK = '''
import socket
_connected = []
for _host, _port in [('127.0.0.1', PORT), ('localhost', PORT), ('1.1.1.1', 53), ('pypi.org', 443)]:
    try:
        socket.create_connection((_host, _port), timeout=2).close()
        _connected.append(_host)
    except OSError:
        pass
'''

# A student run looking for the grading cluster (or the worker that runs it): any other
# process, a Dask variable, an inherited descriptor, or a TCP peer it can connect to (the
# scheduler and the worker hold connections; /proc/net/tcp lists them where the network is
# shared). Under the sandbox it finds nothing.
FIND_THE_CLUSTER = '''
import os, socket
_found = [k for k in os.environ if k.startswith('DASK')]
_found += [p for p in os.listdir('/proc') if p.isdigit() and int(p) > 2]   # bwrap, the harness
_found += [fd for fd in os.listdir('/proc/self/fd') if int(fd) > 64]
for _table in ('/proc/net/tcp', '/proc/net/tcp6'):
    try:
        _rows = open(_table).read().splitlines()[1:]
    except OSError:
        continue
    for _row in _rows:
        _port = int(_row.split()[2 if _row.split()[3] == '01' else 1].rsplit(':', 1)[1], 16)
        try:
            socket.create_connection(('127.0.0.1', _port), timeout=1).close()
            _found.append(_port)
        except OSError:
            pass
'''

TAMPER_ENVIRONMENT = '''
import os, sys
import checks
os.environ.update(PYTHONPATH='/tmp', OMP_NUM_THREADS='64', MPLBACKEND='redteam', CASE_SEED_OFFSET='0')
checks.CASE_SEED_OFFSET = 0
sys.path.insert(0, '/tmp')
with open('/tmp/checks.py', 'w') as _f:
    _f.write('def check(*a, **k): pass\\ncheck_equal = check_array = check_raises = check\\n')
os.chdir('/')
'''

TAMPER_COURSE_FILES = '''
import os, shutil
for _step in (lambda: os.chdir('/course'), lambda: os.remove('checks.py'),
              lambda: shutil.rmtree('minimx'), lambda: open('checks.py', 'w').write('x = 1'),
              lambda: os.chdir('/')):
    try:
        _step()
    except Exception:
        pass
'''

SIGNALS = '''
import signal
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGXCPU, signal.SIGALRM, signal.SIGHUP, signal.SIGUSR1):
    try:
        signal.signal(_sig, signal.SIG_IGN)
    except (OSError, ValueError):
        pass
while True:
    pass
'''

FILL_DISK = '''
import os
block = b'x' * (16 << 20)
for _n in range(1000):
    for _where in ('/tmp', '.'):
        with open(os.path.join(_where, f'fill{_n}'), 'wb') as _f:
            _f.write(block)
'''

THREADS = '''
import threading
def _spin():
    while True:
        pass
for _ in range(10000):
    threading.Thread(target=_spin, daemon=True).start()
'''

# The messages of the limits (execution.death): CPU time, wall time, memory.
CPU_OR_WALL = ('CPU time', 'ran longer than a cell may')
MEMORY_OR_TIME = ('memory', *CPU_OR_WALL)

RECURSION = '''
import sys
sys.setrecursionlimit(10 ** 7)
class _Deep:
    def __repr__(self):
        return repr(self)
repr(_Deep())
'''


def build_cases(chapter, bug, port):
    """Every red-team case for `chapter`. `bug(nb)` plants the chapter's known honest bug
    (the wrong canary's); `port` is a TCP port the test listens on outside the sandbox."""
    C = chapter
    if len(C.targets) < 3:
        raise RuntimeError(f'{C.ch.id}: need three exercise functions used only by their own tests, '
                           f'found {[t.function for t in C.targets]}')
    V, A, L = C.targets[0], C.targets[1], C.targets[-1]
    first = C.answers[0]
    secret = next(line for line in source(by_id(C.solution, V.answer)).splitlines()
                  if line.strip() and not line.strip().startswith(('#', 'def ', '"""')) and len(line.strip()) > 15)

    def nb_case(name, make, expect, **kw):
        return Case(name, lambda folder: C.write(folder, make()), expect, **kw)

    def with_code(grade_id, code):
        return lambda: append(C.correct(), grade_id, code)

    def wrapped(target, body):
        return lambda: wrap(C.correct(), target, body)

    def wrong_v(extra_first):
        return lambda: wrap(append(C.correct(), first, extra_first), V, WRONG)

    zero_v, zero_a, zero_l = Expect(zero=(V.test,)), Expect(zero=(A.test,)), Expect(zero=(L.test,))
    # A feature test cell after the first of its exercise, and an answer that fails that feature
    # alone (it never raises): the cell's points must stay lost whatever is done to the cell.
    feature = next(t for t in V.tests if t != V.test)

    def swallowing(change):
        return lambda: change(wrap(C.correct(), V, SWALLOW))
    cases = [
        # -- cheating --------------------------------------------------------------------------
        nb_case('patch_assert_helpers', wrong_v(PATCH_HELPERS), zero_v),
        nb_case('patch_the_recorder', wrong_v(PATCH_RECORDER), zero_v),
        nb_case('patch_the_recorder_during_a_test', wrapped(V, PATCH_RECORDER + WRONG), zero_v),
        nb_case('lying_eq', wrapped(V, LIAR), Expect(zero=(V.test,), feedback={V.test: '_Liar'})),
        Case('files_beside_notebook', lambda folder: _beside(C, folder, wrap(C.correct(), V, WRONG)),
             Expect(zero=(V.test,), text='numpy.py', attention=True)),
        nb_case('test_cell_deleted', lambda: _delete(C.correct(), V.test),
                Expect(text='missing from your notebook', attention=True)),
        nb_case('test_cell_edited', lambda: _edit_test(wrap(C.correct(), V, WRONG), V.test),
                Expect(zero=(V.test,), text='was edited', attention=True)),
        nb_case('test_cell_remarked', lambda: _remark(C.correct(), V.test), Expect(text='metadata was changed')),
        nb_case('test_cell_renamed', lambda: _rename(C.correct(), V.test, 'test_mine'),
                Expect(text='missing from your notebook', attention=True)),
        nb_case('test_cell_duplicated', lambda: _duplicate(C.correct(), V.test), Expect(text='copies of this test')),
        nb_case('feature_test_cell_edited', swallowing(lambda nb: _edit_test(nb, feature)),
                Expect(zero=(feature,), text='was edited', attention=True)),
        nb_case('feature_test_cell_deleted', swallowing(lambda nb: _delete(nb, feature)),
                Expect(zero=(feature,), text='missing from your notebook', attention=True)),
        nb_case('feature_test_cell_moved_above_its_answer', swallowing(lambda nb: _move_first(nb, feature)),
                Expect(zero=(feature,))),
        nb_case('feature_test_cell_remarked', swallowing(lambda nb: _remark(nb, feature)),
                Expect(zero=(feature,), text='metadata was changed')),
        # The answer takes the feature test's grade id (its cell id kept) and the test cell goes.
        nb_case('answer_holds_a_feature_test_id',
                swallowing(lambda nb: _rename(_delete(nb, feature), V.answer, feature, keep_cell_id=True)),
                Expect(zero=(feature,), text='found by its cell id', attention=True)),
        nb_case('answer_renamed', lambda: _rename(C.correct(), V.answer, 'ex_mine'),
                Expect(zero=(V.test,), text='answer cell is missing')),
        nb_case('answer_grade_id_changed', lambda: _rename(C.correct(), V.answer, 'ex_mine', keep_cell_id=True),
                Expect(text='found by its cell id')),
        nb_case('answer_duplicated', lambda: _duplicate(wrap(C.correct(), V, WRONG), V.answer, fix_second=C),
                Expect(text='the last one was graded')),
        nb_case('sys_exit_top_level', with_code(first, 'import sys\nsys.exit(0)'), Expect(text='sys.exit')),
        nb_case('os_exit_in_function', wrapped(V, 'import os\nos._exit(0)'),
                Expect(zero=(V.test,), feedback={V.test: 'exit status 0'})),
        nb_case('system_exit_in_function', wrapped(A, 'raise SystemExit(3)'),
                Expect(zero=(A.test,), feedback={A.test: 'sys.exit'})),
        nb_case('read_instructor_files', lambda: wrap(append(C.correct(), first, f'SECRET = {secret!r}\n' + READ_SECRETS),
                                                     V, 'if not _found:\n' + _indent(WRONG) + 'return _original(*args, **kwargs)'),
                Expect(zero=(V.test,)), needs_sandbox=True),
        nb_case('write_gradebook_and_site_packages', with_code(first, WRITE_EVERYWHERE), Expect(), needs_sandbox=True),
        nb_case('daemon_after_grading', with_code(L.answer, DAEMON), Expect(), needs_sandbox=True),
        nb_case('kill_the_grader', with_code(L.answer, KILL_GRADER), Expect(text='os.kill', attention=True),
                needs_sandbox=True),
        nb_case('branch_on_grading_environment', wrapped(V, GRADING_DETECTOR), zero_v),
        nb_case('hard_code_visible_cases', wrapped(V, HARD_CODED.replace('VISIBLE', str(V.visible_calls))),
                Expect(zero=(V.test,), feedback={V.test: 'hidden'})),
        nb_case('fake_passing_output', wrong_v(FAKE_OUTPUT), zero_v),
        nb_case('forge_report_channel', with_code(first, FORGE_CHANNEL),
                Expect(zero=tuple(C.tests), others_full=False, feedback={V.test: 'private channel'}, attention=True)),
        nb_case('network', lambda: wrap(append(C.correct(), first, NETWORK.replace('PORT', str(port))), V,
                                        'if not _connected:\n' + _indent(WRONG) + 'return _original(*args, **kwargs)'),
                zero_v, needs_sandbox=True),
        nb_case('find_the_cluster', lambda: wrap(append(C.correct(), first, FIND_THE_CLUSTER), V,
                                                 'if not _found:\n' + _indent(WRONG) + 'return _original(*args, **kwargs)'),
                zero_v, needs_sandbox=True),
        nb_case('patch_time_and_run_slow', wrapped(A, '''
import time
time.time = time.perf_counter = time.monotonic = time.process_time = lambda: 0.0
while True:
    pass'''), Expect(zero=(A.test,), feedback_any={A.test: CPU_OR_WALL})),
        nb_case('forbidden_library', wrapped(V, 'import torch\nreturn _original(*args, **kwargs)'),
                Expect(zero=(V.test,), feedback={V.test: 'ImportError'}, text='refused import torch', attention=True)),
        # -- resources -------------------------------------------------------------------------
        nb_case('infinite_loop_top_level', with_code(L.answer, 'while True:\n    pass'),
                Expect(zero=(L.test,), text_any=CPU_OR_WALL)),
        nb_case('infinite_loop_in_function', wrapped(V, 'while True:\n    pass'),
                Expect(zero=(V.test,), feedback_any={V.test: CPU_OR_WALL})),
        nb_case('loop_ignoring_signals', wrapped(A, SIGNALS), zero_a),
        nb_case('sleep_forever', wrapped(V, 'import time\ntime.sleep(10 ** 9)'),
                Expect(zero=(V.test,), feedback={V.test: 'sleeping'})),
        nb_case('input_call', wrapped(V, 'input()'), Expect(zero=(V.test,), feedback={V.test: 'EOFError'})),
        nb_case('memory_bomb', wrapped(A, 'return bytearray(64 << 30)'),
                Expect(zero=(A.test,), feedback_any={A.test: MEMORY_OR_TIME})),
        nb_case('fork_bomb', wrapped(L, 'import os\nwhile True:\n    os.fork()'), zero_l, needs_sandbox=True),
        nb_case('memory_in_many_processes', wrapped(L, '''
import os, time
for _ in range(12):
    if os.fork() == 0:
        hog = bytearray(600 << 20)
        for i in range(0, len(hog), 4096):
            hog[i] = 1
        time.sleep(60)
        os._exit(0)
time.sleep(60)'''), Expect(zero=(L.test,), feedback_any={L.test: MEMORY_OR_TIME}), needs_sandbox=True),
        nb_case('fill_the_disk', wrapped(V, FILL_DISK), zero_v, needs_sandbox=True),
        nb_case('flood_stdout', wrapped(V, "while True:\n    print('x' * 10000)"),
                Expect(zero=(V.test,), feedback={V.test: 'output'})),
        nb_case('many_threads', wrapped(L, THREADS), zero_l, needs_sandbox=True),
        nb_case('every_cell_times_out', lambda: _everywhere(C, 'while True:\n    pass'),
                Expect(status='student_error', zero=tuple(C.tests), others_full=False, text='timed out')),
        # -- tampering -------------------------------------------------------------------------
        nb_case('environment_for_later_cells', wrong_v(TAMPER_ENVIRONMENT), zero_v),
        nb_case('delete_course_files', with_code(first, TAMPER_COURSE_FILES), Expect()),
        nb_case('signal_handlers_against_limits', wrapped(V, SIGNALS), zero_v),
        # -- malformed input -------------------------------------------------------------------
        Case('truncated', lambda folder: _raw(C, folder, json.dumps(C.correct())[:5000]),
             Expect(status='student_error', text='invalid JSON')),
        Case('empty_file', lambda folder: _raw(C, folder, ''), Expect(status='student_error', text='empty')),
        Case('binary_file', lambda folder: _raw(C, folder, bytes(range(256)) * 64),
             Expect(status='student_error', text='not UTF-8')),
        Case('not_json', lambda folder: _raw(C, folder, 'print("hello")\n'),
             Expect(status='student_error', text='not a Jupyter notebook')),
        Case('duplicate_json_keys', lambda folder: _raw(C, folder, '{"cells": [], "cells": []}'),
             Expect(status='student_error', text='repeats a key')),
        Case('renamed_notebook', lambda folder: C.write(folder, C.correct(), f'{C.ch.name} (1).ipynb'),
             Expect(text='expected name')),
        Case('two_candidates', lambda folder: (C.write(folder, C.correct(), 'a.ipynb'), C.write(folder, C.correct(), 'b.ipynb')),
             Expect(status='student_error', text='2 notebooks')),
        nb_case('nbformat_3', lambda: nbformat.convert(nbformat.reads(json.dumps(C.correct()), 4), 3), Expect()),
        nb_case('no_cell_ids', lambda: _without_ids(C.correct()), Expect()),
        Case('huge_notebook', lambda folder: _sparse(C, folder, 500 << 20), Expect(status='student_error', text='limit')),
        nb_case('answer_became_markdown', lambda: _retype(C.correct(), V.answer), Expect(zero=(V.test,), text='markdown')),
        nb_case('test_became_markdown', lambda: _retype(C.correct(), V.test), Expect(text='markdown')),
        nb_case('kernelspec_changed', lambda: _kernelspec(C.correct()), Expect(text='kernel')),
        Case('symlinked_notebook', lambda folder: _symlink(folder, C.ch.source, f'{C.ch.name}.ipynb'),
             Expect(status='student_error', zero=tuple(C.tests), others_full=False, text='symbolic link')),
        Case('links_and_dotdot_names', lambda folder: _links_beside(C, folder), Expect(text='never followed')),
        nb_case('malformed_nbgrader_metadata', lambda: _bad_metadata(C.correct(), V.answer), Expect(text='malformed')),
        # -- honest but broken -----------------------------------------------------------------
        nb_case('not_implemented', lambda: copy.deepcopy(C.student),
                Expect(zero=tuple(C.tests), feedback={V.test: 'not implemented'})),
        nb_case('exception_in_function', wrapped(A, "raise ValueError('boom in my code')"),
                Expect(zero=(A.test,), feedback={A.test: 'raised ValueError'})),
        nb_case('syntax_error', with_code(V.answer, 'def broken(:\n    pass'), Expect(zero=(V.test,), text='SyntaxError')),
        nb_case('null_bytes_and_deep_nesting', lambda: append(with_code(V.answer, 'x = 1\0')(), A.answer,
                                                               'y = ' + '(' * 300000 + ')' * 300000),
                Expect(zero=(V.test,) + A.tests, text='null bytes')),
        nb_case('wrong_shape', wrapped(A, 'return _original(*args, **kwargs)[..., None]'),
                Expect(zero=(A.test,), feedback={A.test: 'shape'})),
        nb_case('nan_result', wrapped(A, 'import numpy as np\nr = np.array(_original(*args, **kwargs), dtype=float)\n'
                                         'r.flat[0] = np.nan\nreturn r'), Expect(zero=(A.test,), feedback={A.test: 'NaN'})),
        nb_case('mutates_its_input', wrapped(A, '''
import numpy as np
result = _original(*args, **kwargs)
for a in args:
    if isinstance(a, np.ndarray) and a.flags.writeable and a.size and a.dtype.kind == 'f':
        a += 1
return result'''), Expect(zero=(A.test,), feedback={A.test: 'in place'})),
        nb_case('correct_but_slow', wrapped(V, '''
global _slow_done
if not globals().get('_slow_done'):
    _slow_done = True
    import time
    end = time.process_time() + 0.6
    while time.process_time() < end:
        pass
return _original(*args, **kwargs)'''), Expect()),
        nb_case('unseeded_randomness', wrapped(A, '''
import numpy as np
result = _original(*args, **kwargs)
return result + 1e-3 if np.random.rand() < 0.5 else result'''), Expect(others_full=False)),
        nb_case('unseeded_randomness_again', wrapped(A, '''
import numpy as np
result = _original(*args, **kwargs)
return result + 1e-3 if np.random.rand() < 0.5 else result'''), Expect(others_full=False)),
        nb_case('relies_on_a_later_cell', lambda: append(wrap(C.correct(), V, 'return _helper_from_later(*args)'),
                                                         L.answer, '_helper_from_later = None'),
                Expect(zero=(V.test,), feedback={V.test: 'Restart & Run All'})),
        nb_case('deep_recursion', wrapped(V, RECURSION), zero_v),
        nb_case('noise_on_stderr', wrapped(V, "import sys, warnings\nprint('debug', file=sys.stderr)\n"
                                              "warnings.warn('noise')\nreturn _original(*args, **kwargs)"), Expect()),
        nb_case('ipython_magics', with_code(first, '%timeit -n1 -r1 1 + 1\n!echo hello'), Expect()),
    ]
    cases += malformed_text_cases(C, V, A, L)
    cases += harness_attack_cases(C, V, A, L)
    if C.dtype_test:
        dtype_target = next(g for g in C.answers if g.replace('ex_', 'test_') == C.dtype_test)
        cases.append(nb_case('wrong_dtype', lambda: append(C.correct(), dtype_target, _dtype_wrapper(C, dtype_target)),
                             Expect(zero=(C.dtype_test,), others_full=False, feedback={C.dtype_test: 'float64'})))
    for case in cases:
        extra = tuple(t for target in C.targets if target.test in case.expect.zero
                      for t in target.tests if t not in case.expect.zero)
        # a copy: cases share Expect objects (zero_v...)
        case.expect = replace(case.expect, **({'zero': case.expect.zero + extra} if case.name in FAILS_ON_EVERY_CALL
                                              else {'either': extra}))
    return cases


# Cases whose target function returns nothing right on any call (it is missing, never compiles,
# loops, exits, raises an error no check expects or returns a liar): every feature cell of its
# exercise scores 0, the error checks included. The other cases call the original somewhere,
# so a feature they leave alone (the errors the original raises) may still pass: `either`.
FAILS_ON_EVERY_CALL = {
    'lying_eq', 'answer_renamed', 'answer_became_markdown', 'syntax_error', 'null_bytes_and_deep_nesting',
    'os_exit_in_function', 'system_exit_in_function', 'branch_on_grading_environment', 'forbidden_library',
    'patch_time_and_run_slow', 'infinite_loop_top_level', 'infinite_loop_in_function', 'loop_ignoring_signals',
    'sleep_forever', 'input_call', 'memory_bomb', 'flood_stdout', 'signal_handlers_against_limits',
    'exception_in_function', 'relies_on_a_later_cell', 'deep_recursion',
}


# -- student text is data ----------------------------------------------------------------------
SURROGATE = '\udcff'         # a lone surrogate: JSON carries it as the escape \udcff (json.dumps writes that)
UNDECODABLE = os.fsdecode(b'\xff')     # how Python names a folder whose name is not UTF-8
MAGIC_BLOCK = ('%timeit -n1 -r1 1 + 1\n!echo hello\n_magic_x = 1\nfor _magic_i in range(2):\n'
               '    %time _magic_i * 2\n    _magic_y = !ls\n')


def malformed_text_cases(C, V, A, L):
    """Submissions whose text, numbers or folder names are hostile: each may cost that
    student, never the batch, the reports or the gradebook of anyone else."""
    every = tuple(C.tests)

    def nb_case(name, make, expect):
        return Case(name, lambda folder: C.write(folder, make()), expect)

    def named(name, text, listed_as):
        """A correct notebook in a folder called `name`, which is no student id."""
        return Case(f'folder_name_{text}', lambda folder: C.write(folder, C.correct()),
                    Expect(status='student_error', zero=every, others_full=False, text='student id',
                           attention=True, listed_as=listed_as), folder=name)

    magic_cell = MAGIC_BLOCK * (170 * 1024 // len(MAGIC_BLOCK))         # 170 KB of whole blocks
    return [
        nb_case('surrogate_in_answer_source',
                lambda: append(C.correct(), V.answer, f'_note = "{SURROGATE}"  # {SURROGATE}'), Expect()),
        nb_case('surrogate_in_exception_message',
                wrapped_in(C, A, f"raise ValueError('boom ' + chr({ord(SURROGATE)}))"),
                Expect(zero=(A.test,), feedback={A.test: 'raised ValueError'})),
        # Raised before any hidden test ran, the message is shown: with U+FFFD for the surrogate.
        nb_case('surrogate_in_error_before_the_tests', lambda: append(C.correct(), C.answers[0],
                                                                      f"raise RuntimeError('early ' + chr({ord(SURROGATE)}))"),
                Expect(text='RuntimeError: early \ufffd')),
        nb_case('surrogate_in_top_level_error', lambda: append(C.correct(), L.answer,
                                                               f"raise RuntimeError('top ' + chr({ord(SURROGATE)}))"),
                Expect(text='raised an error when run')),
        nb_case('surrogate_in_grade_id', lambda: _rename(C.correct(), V.answer, 'ex_' + SURROGATE, keep_cell_id=True),
                Expect(text='found by its cell id')),
        nb_case('surrogate_in_metadata', lambda: _surrogate_metadata(C.correct(), L.test), Expect(text='kernel')),
        Case('points_400_digits', lambda folder: _points_as(C, folder, V.test, '9' * 400),
             Expect(text='points are not a number')),
        Case('points_1e999', lambda folder: _points_as(C, folder, V.test, '1e999'),
             Expect(text='points are not a number')),
        nb_case('magic_heavy_170kb_answer', lambda: append(C.correct(), C.answers[0], magic_cell), Expect()),
        named('zz_folder_' + UNDECODABLE, 'undecodable', 'zz_folder_?'),
        named('zz_folder_newline\n', 'trailing_newline', 'zz_folder_newline?'),
        named('=HYPERLINK("x.example","y")', 'equals', '\'=HYPERLINK("x.example","y")'),
        named('+cmd', 'plus', "'+cmd"),
        named('-2+3', 'minus', "'-2+3"),
        named('@SUM(1)', 'at', "'@SUM(1)"),
    ]


def wrapped_in(C, target, body):
    return lambda: wrap(C.correct(), target, body)


def _surrogate_metadata(nb, grade_id):
    """Lone surrogates in the kernelspec, in metadata keys, in a cell id and in a test's
    nbgrader metadata strings the grader never uses."""
    nb['metadata']['kernelspec'].update(name='python3' + SURROGATE, display_name=SURROGATE)
    nb['metadata'][SURROGATE] = {SURROGATE: [SURROGATE]}
    cell = by_id(nb, grade_id)
    cell['metadata']['tags'] = [SURROGATE]
    cell['metadata']['nbgrader']['schema_' + SURROGATE] = SURROGATE
    plain = next(c for c in nb['cells'] if c['cell_type'] == 'code' and not meta(c))
    plain['id'] = 'id-' + SURROGATE
    return nb


def _points_as(C, folder, grade_id, literal):
    """A correct notebook whose test cell `grade_id` claims `literal` points, written as is
    (json.dumps would write infinity as Infinity, which strict JSON refuses)."""
    nb = C.correct()
    by_id(nb, grade_id)['metadata']['nbgrader']['points'] = 'POINTS'
    _raw(C, folder, json.dumps(nb, indent=1).replace('"POINTS"', literal))


def _indent(code, by='    '):
    return ''.join(by + line + '\n' for line in code.strip('\n').splitlines())


def _dtype_wrapper(C, answer):
    name = next(n.name for n in ast.parse(source(by_id(C.solution, answer))).body if isinstance(n, ast.FunctionDef))
    return (f'_original_{name} = {name}\n\n\n'
            f'def {name}(*args, **kwargs):\n'
            f'    result = _original_{name}(*args, **kwargs)\n'
            f'    return result.astype("float64") if kwargs.get("dtype") is None and len(args) < 3 else result\n')


def _beside(C, folder, nb):
    C.write(folder, nb)
    for name, text in [('numpy.py', 'raise SystemExit("redteam numpy")\n'), ('sitecustomize.py', 'import os\n'),
                       ('usercustomize.py', 'import os\n'), ('zzz.pth', 'import os; os._exit(0)\n'),
                       ('checks.py', 'def check(*a, **k): pass\n')]:
        (folder / name).write_text(text)


def _delete(nb, grade_id):
    nb['cells'] = [c for c in nb['cells'] if meta(c).get('grade_id') != grade_id]
    return nb


def _edit_test(nb, grade_id):
    by_id(nb, grade_id)['source'] = 'pass  # tests removed\n'
    return nb


def _remark(nb, grade_id):
    by_id(nb, grade_id)['metadata']['nbgrader'].update(points=100, grade=False, solution=True)
    return nb


def _move_first(nb, grade_id):
    cell = by_id(nb, grade_id)
    nb['cells'].remove(cell)
    nb['cells'].insert(0, cell)
    return nb


def _rename(nb, grade_id, new, keep_cell_id=False):
    cell = by_id(nb, grade_id)
    cell['metadata']['nbgrader']['grade_id'] = new
    if not keep_cell_id:
        cell['id'] = new
    return nb


def _duplicate(nb, grade_id, fix_second=None):
    """A second copy of a cell; with `fix_second`, the copy holds the reference answer."""
    cell = by_id(nb, grade_id)
    twin = copy.deepcopy(cell)
    twin['id'] = cell.get('id', 'x') + '-copy'
    if fix_second:
        twin['source'] = source(by_id(fix_second.solution, grade_id))
    nb['cells'].insert(nb['cells'].index(cell) + 1, twin)
    return nb


def _everywhere(C, code):
    nb = C.correct()
    for gid in C.answers:
        append(nb, gid, code)
    return nb


def _raw(C, folder, data):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f'{C.ch.name}.ipynb'
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def _sparse(C, folder, size):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f'{C.ch.name}.ipynb', 'wb') as f:
        f.truncate(size)


def _without_ids(nb):
    nb['nbformat_minor'] = 4
    for cell in nb['cells']:
        cell.pop('id', None)
    return nb


def _retype(nb, grade_id):
    cell = by_id(nb, grade_id)
    cell['cell_type'] = 'markdown'
    for key in ('outputs', 'execution_count'):
        cell.pop(key, None)
    return nb


def _kernelspec(nb):
    nb['metadata']['kernelspec'] = {'name': 'ir', 'display_name': 'R', 'language': 'R'}
    return nb


def _bad_metadata(nb, grade_id):
    cells = [c for c in nb['cells'] if c['cell_type'] == 'code' and not meta(c)]
    cells[0].setdefault('metadata', {})['nbgrader'] = {'grade': 'yes', 'solution': 3}
    by_id(nb, grade_id)['metadata']['nbgrader']['grade_id'] = ['not', 'a', 'string']
    return nb


def _symlink(folder, target, name):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).symlink_to(Path(target).resolve())


def _links_beside(C, folder):
    C.write(folder, C.correct())
    (folder / 'minimx').symlink_to('../..')
    (folder / '..checks.py').write_text('x = 1\n')
    (folder / 'other.ipynb').symlink_to('/etc/passwd')


# -- attacks on the harness itself (what the student's process must not hold or reach) --------
# Each starts from the untouched student edition (every answer a stub) and adds the attack, so
# a full score would mean the attack worked; each must score 0 and be listed for the instructor.
# Where an attack needs the helpers, the recorder or the channel, it looks for them as a real
# one would, and falls back to doing nothing.

FIND_AND_FORGE = '''
def _forge(found):
    """Whatever grading object was found: record every expected value as produced, or write
    to the channel with its nonce."""
    for obj in found:
        for name in ('check_equal', 'check_array', 'check', '_send', 'send', 'record'):
            fn = getattr(obj, name, None) if not isinstance(obj, dict) else obj.get(name)
            if callable(fn):
                try:
                    fn(['bool', True], ['bool', True], 'forged')
                except Exception:
                    pass
'''

ATTACKS = {
    # The old hole: the check helpers recorded the `expected` argument the test passed in.
    'records_expected_as_produced': '''
import sys
_checks = sys.modules.get('checks')
if _checks is not None:
    for _name in ('check_equal', 'check_array'):
        _real = getattr(_checks, _name)
        setattr(_checks, _name, lambda actual, expected=None, *a, _real=_real, **k: _real(expected, expected, *a, **k))
check_equal = lambda actual, expected=None, *a, **k: None
check_array = check_equal
''',
    # ... and the recorder reached through the harness in sys.modules['__main__'].
    'neuters_the_harness_in_main': FIND_AND_FORGE + '''
import sys
_main = sys.modules['__main__']
for _name in ('Harness', 'Libraries', 'Recorder', 'Channel', 'AuditLog'):
    _cls = getattr(_main, _name, None)
    if _cls is not None:
        for _attr in ('restore', 'replaced', 'hook', 'check', 'check_equal'):
            setattr(_cls, _attr, lambda *a, **k: None)
_forge([getattr(_main, n, None) for n in ('harness', 'recorder', 'channel')])
''',
    'walks_frames': FIND_AND_FORGE + '''
import sys
try:
    _frame = sys._getframe()
    _found = []
    while _frame is not None:
        _found += [_frame.f_locals, _frame.f_globals]
        _frame = _frame.f_back
    _forge(_found)
except Exception:
    pass
''',
    'walks_frames_through_a_traceback': FIND_AND_FORGE + '''
try:
    raise KeyError('x')
except KeyError as _err:
    try:
        _frame = _err.__traceback__.tb_frame
        while _frame is not None:
            _forge([_frame.f_locals, _frame.f_globals])
            _frame = _frame.f_back
    except Exception:
        pass
''',
    'walks_frames_through_a_generator': FIND_AND_FORGE + '''
def _gen():
    yield
_g = _gen()
try:
    _frame = _g.gi_frame
    while _frame is not None:
        _forge([_frame.f_locals])
        _frame = _frame.f_back
except Exception:
    pass
''',
    'walks_frames_with_inspect_and_traceback': FIND_AND_FORGE + '''
import inspect, traceback
for _walk in (lambda: [f.frame.f_locals for f in inspect.stack()],
              lambda: [f.f_locals for f, _ in traceback.walk_stack(None)]):
    try:
        _forge(_walk())
    except Exception:
        pass
''',
    'gets_a_frame_from_a_signal_handler': FIND_AND_FORGE + '''
import signal, time
def _handler(signum, frame):
    while frame is not None:
        _forge([frame.f_locals, frame.f_globals])
        frame = frame.f_back
try:
    signal.signal(signal.SIGALRM, _handler)
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
except OSError:
    pass
''',
    'gets_frames_from_a_thread': FIND_AND_FORGE + '''
import sys, threading
def _spy():
    for _ in range(1000):
        try:
            _forge([f.f_locals for f in sys._current_frames().values()])
        except Exception:
            pass
try:
    threading.Thread(target=_spy, daemon=True).start()
except RuntimeError:
    pass
''',
    'traces_the_tests': FIND_AND_FORGE + '''
import sys
def _tracer(frame, event, arg):
    _forge([frame.f_locals])
    return _tracer
try:
    sys.settrace(_tracer)
    sys.setprofile(lambda frame, event, arg: _forge([frame.f_locals]))
except Exception:
    pass
''',
    'walks_the_garbage_collector': FIND_AND_FORGE + '''
import gc
try:
    _forge([o for o in gc.get_objects() if isinstance(o, dict) and ('send' in o or 'check_equal' in o)])
except Exception:
    pass
try:
    _forge(gc.get_referrers(print))
except Exception:
    pass
''',
    'walks_closures_and_subclasses': FIND_AND_FORGE + '''
import sys
_seen = []
def _cells(fn):
    for cell in getattr(fn, '__closure__', None) or ():
        try:
            _seen.append(cell.cell_contents)
        except ValueError:
            pass
for _module in list(sys.modules.values()):
    try:
        for _value in list(vars(_module).values()):
            if callable(_value):
                _cells(_value)
                _seen.append(getattr(_value, '__globals__', None))
    except Exception:
        pass
_stack = list(object.__subclasses__())
while _stack:
    _cls = _stack.pop()
    try:
        _stack += type.__subclasses__(_cls) if isinstance(_cls, type) else []
        for _value in list(vars(_cls).values()):
            _cells(_value)
            _seen.append(getattr(_value, '__globals__', None))
    except Exception:
        pass
_forge([x for x in _seen if isinstance(x, dict) and ('send' in x or 'make_helpers' in x)])
''',
    # Found by a red-team review: library helpers that take a frame and hand it on to a module
    # function the notebook can replace, and the collector keeping frames for the asking.
    'grabs_frames_through_traceback_helpers': FIND_AND_FORGE + '''
import traceback, linecache
_got = []
def _walk(f):
    while f is not None:
        _got.append(f)
        f = f.f_back
    return iter(())
_real_walk, _real_lazy = traceback.walk_stack, linecache.lazycache
traceback.walk_stack = _walk
linecache.lazycache = lambda filename, module_globals: _got.append(module_globals)
for _call in (traceback.extract_stack, traceback.format_stack, lambda: traceback.extract_tb(_tb)):
    try:
        try:
            raise KeyError('x')
        except KeyError as _err:
            _tb = _err.__traceback__
        _call()
    except Exception:
        pass
traceback.walk_stack, linecache.lazycache = _real_walk, _real_lazy
_forge([x for f in _got for x in ((f.f_locals, f.f_globals) if hasattr(f, 'f_locals') else (f,))])
print('FRAMES-GRABBED' if _got else 'no frames')
''',
    'grabs_frames_through_logging': FIND_AND_FORGE + '''
import logging
_got = []
_real = logging._is_internal_frame
logging._is_internal_frame = lambda frame: _got.append(frame) or _real(frame)
logging.getLogger('redteam').warning('hello')
logging._is_internal_frame = _real
_forge([f.f_locals for f in _got])
print('FRAMES-GRABBED' if _got else 'no frames')
''',
    'keeps_frames_in_gc_garbage': FIND_AND_FORGE + '''
import gc, sys, _imp, importlib.machinery
def _cycle():
    try:
        raise ValueError('x')
    except ValueError as e:
        loop = [e]
        loop.append(loop)
for _gc in (gc, lambda: _imp.create_builtin(importlib.machinery.ModuleSpec('gc', None))):
    try:
        _module = _gc() if callable(_gc) else _gc
        _module.set_debug(_module.DEBUG_SAVEALL)
        _cycle()
        _module.collect()
        _frames = [o for o in _module.garbage if type(o).__name__ == 'frame']
        print('FRAMES-GRABBED' if _frames else 'no frames')
        _forge([f.f_locals for f in _frames])
    except Exception:
        pass
''',
    'swaps_code_of_library_functions': '''
import json, sys
for _fn in (sys.modules['checks'].check_equal, json.dumps):
    try:
        _fn.__code__ = (lambda *a, **k: None).__code__
    except Exception:
        pass
    try:
        _fn.__defaults__ = (None, None)
    except Exception:
        pass
''',
    'uses_ctypes_on_the_interpreter': '''
import sys
for _get in (lambda: sys.modules['ctypes'], lambda: __import__('ctypes'), lambda: __import__('_ctypes'),
             lambda: sys.modules['numpy._core._internal'].ctypes):
    try:
        _ctypes = _get()
        _ctypes.memmove(id(1), id(2), 8)
        print('CTYPES-USED')
    except Exception:
        pass
''',
    'reads_its_own_memory_through_proc': '''
try:
    with open('/proc/self/mem', 'rb') as _f:
        _f.seek(id(print))
        print('MEM-READ-OK' if len(_f.read(8)) == 8 else 'MEM-READ-SHORT')
except OSError as _err:
    print('MEM-READ-REFUSED', _err)
''',
    'adds_an_audit_hook': '''
import sys
sys.addaudithook(lambda event, args: print('SEEN', event, args))
''',
}

# A wrong answer (a copy where a view is asked for) with a lying `np` in the notebook's
# namespace: the aliasing check is judged with numpy's own function, captured at start-up.
PROXY_NUMPY = '''
import numpy as _numpy
class _LyingNumpy:
    def __getattr__(self, name):
        return getattr(_numpy, name)
    def shares_memory(self, *args, **kwargs):
        return True
np = _LyingNumpy()
'''

# On the first hidden call, an exception raised from a line number the code chose (here a
# constant, where an attack would encode the call's arguments).
LINE_CHANNEL = '''
import ast as _ast
global _line_calls
_line_calls = globals().get('_line_calls', 0) + 1
if _line_calls > VISIBLE:
    _tree = _ast.parse('raise RuntimeError("x")')
    for _node in _ast.walk(_tree):
        if hasattr(_node, 'lineno'):
            _node.lineno = _node.end_lineno = 7654321
    exec(compile(_tree, '<CELL>', 'exec'), {})
return _original(*args, **kwargs)
'''

# The arguments of the first hidden call, carried out in an exception message right away and
# again from a later cell.
EXFILTRATE = '''
global _calls, _stolen
_calls = globals().get('_calls', 0) + 1
if _calls > VISIBLE:
    _stolen = repr(args)[:200]
    raise ValueError('LEAKED ' + _stolen)
return _original(*args, **kwargs)
'''


# Every stub raises what the error checks expect, and nothing is implemented: a test cell of
# error checks alone (one graded feature of an exercise) must not count for it. The message
# names the shapes of the arguments as MXNet does, which the checks' `match=` look for.
REFUSE_EVERYTHING = '''
class _Refused(MXNetError, ValueError, TypeError, IndexError, KeyError):
    def __init__(self, arguments):
        shapes = [getattr(v, 'shape', v) for v in arguments.values()]
        shapes = ' '.join('[' + ','.join(map(str, s)) + ']' for s in shapes if isinstance(s, tuple))
        super().__init__(f'operands could not be broadcast together with shapes {shapes}: Incompatible attr')
'''


# The same without raising on valid input: the answer measures how deep it is called (how many
# frames it can still recurse into) and raises only when called deeper than a value check calls
# it, as from check_raises(lambda: ...). No frame is read; nothing is validated.
DEPTH_ORACLE = '''
global _shallowest
def _room(n=0):
    try:
        return _room(n + 1)
    except RecursionError:
        return n
room = _room()
_shallowest = max(globals().get('_shallowest', 0), room)
if room < _shallowest:
    raise MXNetError(' '.join('[' + ','.join(map(str, getattr(a, 'shape', a))) + ']' for a in args
                              if hasattr(a, 'shape') or isinstance(a, tuple)))
''' + WRONG


def refuse_everything(C):
    nb = append(copy.deepcopy(C.student), C.answers[0], REFUSE_EVERYTHING)
    for gid in C.answers:
        cell = by_id(nb, gid)
        cell['source'] = source(cell).replace('raise NotImplementedError()', 'raise _Refused(dict(locals()))')
    return nb


def harness_attack_cases(C, V, A, L):
    every = tuple(C.tests)
    first = C.answers[0]

    def stub_with(code):
        return lambda folder: C.write(folder, append(copy.deepcopy(C.student), first, code))

    absent = {'reads_its_own_memory_through_proc': 'MEM-READ-OK', 'uses_ctypes_on_the_interpreter': 'CTYPES-USED'}
    cases = [Case(f'stub_{name}', stub_with(code), Expect(zero=every, others_full=False, attention=True,
                                                          absent=absent.get(name, 'FRAMES-GRABBED')))
             for name, code in ATTACKS.items()]
    cases.append(Case('stub_rebinds_builtins_in_the_namespace',
                      stub_with('__builtins__ = {"__import__": __import__, "print": print}'),
                      Expect(zero=every, others_full=False, attention=True, text='rebound __builtins__')))
    cases.append(Case('exfiltrates_hidden_inputs_in_messages',
                      lambda folder: C.write(folder, append(wrap(C.correct(), V, EXFILTRATE.replace('VISIBLE', str(V.visible_calls))),
                                                            L.answer, "raise RuntimeError('LEAKED ' + globals().get('_stolen', ''))")),
                      Expect(zero=(V.test,), absent='LEAKED')))
    cases.append(Case('line_numbers_carry_hidden_inputs',
                      lambda folder: C.write(folder, wrap(C.correct(), V, LINE_CHANNEL.replace('VISIBLE', str(V.visible_calls))
                                                          .replace('CELL', V.answer))),
                      Expect(zero=(V.test,), absent='7654321')))
    cases.append(Case('stub_raises_what_error_checks_expect', lambda folder: C.write(folder, refuse_everything(C)),
                      Expect(zero=every, others_full=False)))
    cases.append(Case('raises_only_inside_check_raises', lambda folder: C.write(folder, wrap(C.correct(), V, DEPTH_ORACLE)),
                      Expect(zero=V.tests), known_hole=(
                          'an error-only test cell calls the answer only from check_raises, which the answer can tell '
                          'by its call depth (or by counting calls): the tests must mix calls that must return into '
                          'their hidden error checks, in an order seeded per submission and through one helper depth')))
    view = next((t for t in C.targets if t.function == 'broadcast_view'), None)
    if view is not None:
        copying = 'import numpy as _np\nreturn _np.array(_original(*args, **kwargs))'
        cases.append(Case('lying_numpy_in_the_namespace',
                          lambda folder: C.write(folder, append(wrap(C.correct(), view, copying), first, PROXY_NUMPY)),
                          Expect(zero=(view.test,), attention=True, text='rebound np')))
    return cases
