"""The harness's guard (autograder/harness/guard.py), without a sandbox: student code is refused
what would let it reach the tests' frames, while the libraries a notebook uses keep working.

An audit hook cannot be removed once added, so every case runs in a fresh interpreter that
installs the hook as the harness does, marks `<answer>` as the student's file, and reports
what each snippet did.
"""
import json
import subprocess
import sys
import textwrap

import pytest

from core.chapters import ROOT

DRIVER = textwrap.dedent('''
    import json, sys
    sys.path.insert(0, {harness!r})
    import guard
    problems = guard.lockdown() if {lockdown!r} else []
    forgotten = guard.forget_ctypes() if {lockdown!r} else []
    sealed = []
    if {lockdown!r}:
        guard.restrict_gc()
        sealed.append(guard.restrict_builtin_modules(['torch']))
    hook, arm, take = guard.make_hook({{'<answer>'}}, guard.frame_users(), frozenset({{'torch', 'ctypes', '_ctypes', 'gc'}}),
                                      ['/usr'], '/tmp/x', sealed)
    sys.addaudithook(hook)
    arm()
    results = {{}}
    for name, source in json.loads(sys.stdin.read()).items():
        namespace = {{'__name__': '__main__'}}
        try:
            exec(compile(source, '<answer>', 'exec'), namespace)
            results[name] = ['ok', repr(namespace.get('result'))[:200]]
        except BaseException as err:
            results[name] = [type(err).__name__, str(err)[:400]]
    print(json.dumps({{'results': results, 'counts': take(), 'lockdown': problems, 'forgotten': forgotten}}))
''')


def run_snippets(snippets, lockdown=False):
    driver = DRIVER.format(harness=str(ROOT / 'autograder' / 'harness'), lockdown=lockdown)
    done = subprocess.run([sys.executable, '-S', '-c', driver], input=json.dumps(snippets), capture_output=True,
                          text=True, timeout=120, env={'PATH': '/usr/bin:/bin'})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


REFUSED = {
    'getframe': 'import sys\nresult = sys._getframe().f_back',
    'inspect_stack': 'import inspect\nresult = inspect.stack()',
    'current_frames': 'import sys\nresult = sys._current_frames()',
    'traceback_frame': 'try:\n    1 / 0\nexcept ZeroDivisionError as err:\n    result = err.__traceback__.tb_frame',
    'walk_tb': ('import traceback\ntry:\n    1 / 0\nexcept ZeroDivisionError as err:\n'
                '    result = [f for f, _ in traceback.walk_tb(err.__traceback__)]'),
    'locals_in_summaries': ('import traceback\ntry:\n    1 / 0\nexcept ZeroDivisionError as err:\n'
                            '    result = traceback.TracebackException.from_exception(err, capture_locals=True)'),
    'generator_frame': 'def g():\n    yield 1\nresult = g().gi_frame',
    'gc_objects': 'import gc\nresult = len(gc.get_objects())',
    'gc_referrers': 'import gc\nresult = gc.get_referrers(print)',
    'gc_referents': 'import gc\nresult = gc.get_referents([1])',
    'settrace': 'import sys\nsys.settrace(lambda *a: None)',
    'setprofile': 'import sys\nsys.setprofile(lambda *a: None)',
    'ctypes': 'import ctypes\nresult = ctypes.string_at(id(1), 8)',
    'code_swap': 'import json\njson.dumps.__code__ = (lambda *a, **k: "lie").__code__',
    'defaults_of_library': 'import json\njson.dumps.__kwdefaults__ = {}',
    'module_class': 'import types, json\nclass Spy(types.ModuleType): pass\njson.__class__ = Spy',
    'code_object': 'result = (lambda: 1).__code__.replace(co_filename="/usr/lib/python3/x.py")',
    'forbidden_import': 'import torch',
    # traceback's and logging's helpers pass frames on to module functions notebook code can
    # replace (found by a red-team review): they get no frame either.
    'format_exc': 'import traceback\ntry:\n    1 / 0\nexcept ZeroDivisionError:\n    result = traceback.format_exc()',
    'rebound_walk_stack': ('import traceback\nseen = []\ntraceback.walk_stack = lambda f: seen.append(f) or iter(())\n'
                           'traceback.extract_stack()\nresult = seen'),
    'rebound_linecache': ('import traceback, linecache\nseen = []\nlinecache.lazycache = lambda f, g: seen.append(g)\n'
                          'try:\n    1 / 0\nexcept ZeroDivisionError as err:\n    traceback.extract_tb(err.__traceback__)\n'
                          'result = seen'),
    # A frame through a library function called from code compiled under another name: the
    # compiled code is the student's too.
    'compiled_elsewhere': ('code = compile("import sys\\nresult = sys._getframe()", "/usr/lib/python3.11/os.py", "exec")\n'
                           'ns = {}\nexec(code, ns)\nresult = ns["result"]'),
}

ALLOWED = {
    'namedtuple': 'from collections import namedtuple\nresult = namedtuple("P", "x y", defaults=(0,))(1)',
    'typed_namedtuple': 'from typing import NamedTuple\nclass P(NamedTuple):\n    x: int = 3\nresult = P()',
    'enum': 'import enum\nresult = enum.Enum("Color", "RED GREEN").RED',
    # logging catches the refusal (a ValueError) and logs without the caller's line; a
    # replaced _is_internal_frame is never handed a frame.
    'logging': 'import logging, io\nh = logging.StreamHandler(io.StringIO())\nlog = logging.getLogger("x")\n'
               'log.addHandler(h)\nseen = []\nlogging._is_internal_frame = lambda f: seen.append(f) or False\n'
               'log.warning("hi")\nresult = (h.stream.getvalue(), seen)',
    'signature': 'import inspect\ndef f(a, b=2, *, c=3): pass\nresult = str(inspect.signature(f))',
    'dataclass': 'from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int = 1\nresult = P()',
    'own_defaults': 'def f(a=1): return a\nf.__defaults__ = (5,)\nresult = f()',
    # Python swallows a hook's refusal of sys.addaudithook: the new hook is simply not added.
    'new_audit_hook': 'import sys\nseen = []\nsys.addaudithook(lambda e, a: seen.append(e))\nsys.audit("x")\nresult = seen',
    'warnings': 'import warnings\nwith warnings.catch_warnings(record=True) as w:\n    warnings.simplefilter("always")\n'
                '    warnings.warn("careful")\nresult = len(w)',
}


def test_introspection_is_refused_while_the_libraries_keep_working():
    report = run_snippets({**REFUSED, **ALLOWED})
    results = report['results']
    for name in REFUSED:
        status, message = results[name]
        assert status in ('NotAllowedWhileGrading', 'ImportError'), (name, results[name])
    for name in ALLOWED:
        assert results[name][0] == 'ok', (name, results[name])
    assert results['new_audit_hook'] == ['ok', '[]']
    assert results['logging'] == ['ok', "('hi\\n', [])"], results['logging']
    assert results['getframe'][1].startswith('sys._getframe is not allowed while a notebook is graded')
    assert 'remove this call' in results['getframe'][1]
    refused = {k for k in report['counts'] if k.startswith('refused ')}
    assert {'refused sys._getframe', 'refused gc.get_objects', 'refused reading tb_frame',
            'refused sys.addaudithook'} <= refused


def test_student_code_is_counted_and_library_code_is_not():
    report = run_snippets({'reads_code': 'def f(): pass\nfor _ in range(3):\n    f.__code__',
                           'library_reads': 'import inspect\ninspect.signature(print)'})
    assert report['counts'].get('object.__getattr__ __code__') == 3, report['counts']


@pytest.mark.skipif(sys.platform != 'linux', reason='seccomp and prctl are Linux system calls')
def test_the_kernel_refuses_signal_handlers_and_threads_but_not_fork_and_ctypes_is_gone():
    report = run_snippets({'handler': 'import signal\nsignal.signal(signal.SIGALRM, lambda *a: None)',
                           'query': 'import signal\nresult = signal.getsignal(signal.SIGINT)',
                           'ignore': 'import signal\nsignal.signal(signal.SIGUSR1, signal.SIG_IGN)',
                           'thread': 'import threading\nthreading.Thread(target=print).start()',
                           'ctypes': 'import ctypes',
                           'gc_save_all': 'import gc\ngc.set_debug(gc.DEBUG_SAVEALL)',
                           'gc_again': ('import _imp, importlib.machinery\n'
                                        '_imp.create_builtin(importlib.machinery.ModuleSpec("gc", None))'),
                           'gc_collect': 'import gc\nresult = (gc.collect() >= 0, gc.garbage)',
                           'sealed_defaults': 'import _imp\nresult = _imp.create_builtin.__kwdefaults__',
                           'other_builtin': ('import _imp, importlib.machinery\n'
                                             'result = _imp.create_builtin(importlib.machinery.ModuleSpec("_symtable", None)).__name__'),
                           'ctypes_in_sys_modules': 'import sys\nresult = [m for m in sys.modules if "ctypes" in m]',
                           'fork': 'import os\npid = os.fork()\nif pid == 0:\n    os._exit(7)\n'
                                   'result = os.waitpid(pid, 0)[1] >> 8'}, lockdown=True)
    assert report['lockdown'] == [], report['lockdown']
    assert report['results']['handler'][0] == 'PermissionError', report['results']
    assert report['results']['ignore'][0] == 'PermissionError', report['results']
    assert report['results']['query'][0] == 'ok'
    assert report['results']['thread'] == ['RuntimeError', "can't start new thread"], report['results']
    assert report['results']['fork'] == ['ok', '7'], report['results']
    assert 'ctypes' in report['forgotten'] and report['results']['ctypes'][0] == 'ImportError'
    assert report['results']['ctypes_in_sys_modules'] == ['ok', '[]']
    assert report['results']['gc_save_all'][0] == 'NotAllowedWhileGrading'
    assert report['results']['gc_again'][0] == 'ImportError'
    assert report['results']['gc_collect'] == ['ok', '(True, [])']
    assert report['results']['sealed_defaults'][0] == 'NotAllowedWhileGrading'
    assert report['results']['other_builtin'] == ['ok', "'_symtable'"], report['results']['other_builtin']
