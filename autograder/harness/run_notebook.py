"""The grader's harness: run one notebook plan inside the sandbox, reporting over a pipe.

Started by the grader as `python -S -s -B -P run_notebook.py` in a clean environment, with
the plan (JSON) on stdin. Everything up to the first cell runs before any student code:
the plan is read and stdin closed, the report channel (an inherited pipe) and the record-mode
helpers are captured, every cell is compiled, and an audit hook starts noting sensitive
calls. Then the cells run in order in one namespace, as "Restart & Run All" would:

- answer cells hold the student's code; other cells are the instructor's;
- before each test cell, the environment, working folder, sys.path, stdout/stderr and the
  check helpers are put back as they were, and checks.py is switched to record mode;
- a test cell's visible part runs in the notebook's namespace, its hidden part in a copy of
  it, so student functions (whose globals are the notebook's) cannot see hidden variables;
- cells listed in plan["skip"] are not run (the grader killed them in an earlier attempt).

Messages on the channel are JSON lines carrying the plan's nonce and a sequence number;
the grader rejects anything else. Nothing here decides a score.
"""
import ast
import base64
import builtins
import json
import os
import random
import sys

HIDDEN_BEGIN = '### BEGIN HIDDEN TESTS'
CHECK_HELPERS = ('check', 'check_equal', 'check_array', 'check_raises', 'passed', 'case_rng')
# Calls worth an instructor's look when a submission makes them and the reference does not.
WATCHED_EVENTS = {
    'os.system', 'subprocess.Popen', 'os.exec', 'os.posix_spawn', 'os.spawn', 'os.fork',
    'os.forkpty', 'os.kill', 'os.killpg', 'signal.pthread_kill', 'socket.connect', 'socket.bind',
    'socket.getaddrinfo', 'ctypes.dlopen', 'ctypes.dlsym', 'ctypes.cdata', 'sys._getframe',
    'sys._current_frames', 'gc.get_objects', 'gc.get_referrers', 'gc.get_referents',
    'sys.settrace', 'sys.setprofile', 'os.remove', 'os.rmdir', 'os.rename', 'shutil.rmtree',
    'os.chdir', 'os.putenv', 'os.unsetenv', 'builtins.input', 'sys.addaudithook',
    'marshal.loads', 'pickle.find_class', 'os.listdir', 'os.scandir', 'import', 'open',
}
MAX_EVENTS = 200


class Channel:
    """Writes framed JSON lines to the grader's pipe with references held from the start.
    A process forked by student code loses the pipe (closed at fork) and, should it ever get
    back here, exits quietly: only the harness's own process reports."""

    def __init__(self, fd, nonce):
        self._fd, self._nonce, self._seq = fd, nonce, 0
        self._write, self._dumps, self._getpid, self._exit = os.write, json.dumps, os.getpid, os._exit
        self._owner = os.getpid()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self):
        try:
            os.close(self._fd)
        except OSError:
            pass

    def send(self, **fields):
        if self._getpid() != self._owner:
            self._exit(0)
        self._seq += 1
        fields['k'], fields['n'] = self._nonce, self._seq
        data = memoryview((self._dumps(fields, separators=(',', ':')) + '\n').encode())
        while data:
            data = data[self._write(self._fd, data):]


class RecordableChecks(ast.NodeTransformer):
    """Rewrites test code so that every verdict carries a value, not just a boolean:
    `assert c, m` becomes `check(c, m)`, `check(a == b, m)` becomes `check_equal(a, b, m)`
    (so an object whose __eq__ lies is recorded as what it is), and numpy.testing's asserts
    become check_array/check_equal. The reference run gets the same rewrite."""

    NUMPY_ASSERTS = {'assert_allclose', 'assert_array_equal', 'assert_array_almost_equal',
                     'assert_almost_equal', 'assert_equal'}

    def visit_Assert(self, node):
        message = node.msg or ast.Constant(ast.unparse(node.test))
        call = ast.Call(ast.Name('check', ast.Load()), [node.test, message], [])
        return ast.copy_location(ast.Expr(self.visit(call)), node)

    def visit_Call(self, node):
        self.generic_visit(node)
        name = node.func.id if isinstance(node.func, ast.Name) else \
            node.func.attr if isinstance(node.func, ast.Attribute) else None
        if name == 'check' and node.args and isinstance(node.args[0], ast.Compare) \
                and len(node.args[0].ops) == 1 and isinstance(node.args[0].ops[0], ast.Eq):
            compare = node.args[0]
            keywords = [ast.keyword('what' if k.arg == 'message' else k.arg, k.value) for k in node.keywords]
            return self._call('check_equal', [compare.left, compare.comparators[0], *node.args[1:]],
                              keywords, node)
        if name in self.NUMPY_ASSERTS and len(node.args) >= 2:
            return self._numpy_assert(name, node)
        return node

    def _numpy_assert(self, name, node):
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        actual, desired = node.args[:2]
        message = kw.get('err_msg') or ast.Constant(f'numpy.testing.{name}')
        if name == 'assert_equal':
            return self._call('check_equal', [actual, desired, message], [], node)
        if name == 'assert_allclose':
            rtol, atol = kw.get('rtol', ast.Constant(1e-7)), kw.get('atol', ast.Constant(0.0))
        elif name == 'assert_array_equal':
            rtol, atol = ast.Constant(0.0), ast.Constant(0.0)
        else:
            decimal = kw.get('decimal', node.args[2] if len(node.args) > 2 else ast.Constant(6 if 'array' in name else 7))
            rtol = ast.Constant(0.0)
            atol = ast.BinOp(ast.Constant(1.5), ast.Mult(), ast.BinOp(ast.Constant(10.0), ast.Pow(),
                                                                       ast.UnaryOp(ast.USub(), decimal)))
        return self._call('check_array', [actual, desired, message],
                          [ast.keyword('rtol', rtol), ast.keyword('atol', atol)], node)

    @staticmethod
    def _call(name, args, keywords, like):
        return ast.fix_missing_locations(ast.copy_location(
            ast.Call(ast.Name(name, ast.Load()), args, keywords), like))


def names_in(tree):
    return sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)})


def compile_cell(cell):
    """{'parts': [(label, code, names)], 'error': None} or a SyntaxError description."""
    source, filename = cell['source'], cell['file']
    parts = [('code', source, 0)]
    if cell['kind'] == 'test':
        lines = source.split('\n')
        cut = next((i for i, line in enumerate(lines) if line.strip() == HIDDEN_BEGIN), len(lines))
        parts = [('visible', '\n'.join(lines[:cut]), 0), ('hidden', '\n'.join(lines[cut:]), cut)]
    compiled = []
    for label, text, first_line in parts:
        tree = ast.parse(text, filename)
        ast.increment_lineno(tree, first_line)
        if cell['kind'] == 'test':
            tree = ast.fix_missing_locations(RecordableChecks().visit(tree))
        compiled.append((label, compile(tree, filename, 'exec'), names_in(tree)))
    return compiled


class NoIPython:
    """`get_ipython()` for magics the transformer turned into calls: they do nothing here."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class ForbiddenImports:
    """A meta-path finder that refuses the libraries the course forbids (e.g. torch)."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, name, path=None, target=None):
        if name.partition('.')[0] in self.names:
            raise ImportError(f'{name} is not available when grading: this course builds '
                              f'everything on numpy alone')
        return None


class AuditLog:
    """Counts watched audit events raised by code other than the harness itself. Reads of the
    Python installation and the course folder, and anything in the run's private temporary
    folder, are routine and not counted."""

    PATH_EVENTS = ('open', 'os.remove', 'os.rmdir', 'os.rename', 'shutil.rmtree', 'os.chdir',
                   'os.listdir', 'os.scandir')

    def __init__(self, routine_reads, private):
        self.events, self.quiet = {}, True
        self._reads, self._private = tuple(routine_reads), private.rstrip('/') + '/'

    def hook(self, event, args):
        if self.quiet or event not in WATCHED_EVENTS:
            return
        detail = ''
        if event == 'import':
            detail = str(args[0]).partition('.')[0]
        elif event in self.PATH_EVENTS:
            path = args[0] if args else None
            if isinstance(path, int) or path is None:
                return
            path = os.fsdecode(path) if isinstance(path, (str, bytes)) else str(path)
            if path.startswith(self._private) or not path.startswith('/'):
                return
            writing = False
            if event == 'open':
                mode = args[1] if len(args) > 1 else 'r'
                writing = isinstance(mode, str) and any(c in mode for c in 'wax+') or \
                    isinstance(mode, int) and mode & (os.O_WRONLY | os.O_RDWR)
                event = 'open for writing' if writing else 'open'
            if event in ('open', 'os.listdir', 'os.scandir') and path.startswith(self._reads):
                return                               # imports and data: routine reading
            detail = path[:120]
        elif event in ('os.kill', 'os.killpg'):
            detail = repr(args[:2])[:120]
        elif event == 'socket.connect':
            detail = repr(args[1])[:120]
        key = f'{event} {detail}'.strip()
        if key in self.events or len(self.events) < MAX_EVENTS:
            self.events[key] = self.events.get(key, 0) + 1

    def take(self):
        taken, self.events = self.events, {}
        return taken


class Libraries:
    """What test code and the recorder rely on -- numpy, a few standard modules, checks.py,
    the recorder module and its Recorder class -- as it was before student code ran.
    Replaced attributes are put back before each test cell, and a replacement still in place
    when a cell ends is reported (a test judged with a patched function cannot count)."""

    NAMES = ('builtins', 'os', 'posixpath', 'math', 'cmath', 'operator', 'functools', 'itertools', 're',
             'collections', 'copy', 'numbers', 'random', 'checks', 'recorder')
    SET_BY_HARNESS = {'_recorder', 'CASE_SEED_OFFSET'}      # checks.py's record-mode switches

    def __init__(self, classes=()):
        self.modules = {name: module for name, module in sys.modules.items()
                        if module is not None and (name in self.NAMES or name == 'numpy' or name.startswith('numpy.'))}
        self.saved = {name: dict(module.__dict__) for name, module in self.modules.items()}
        self.classes = {cls: dict(vars(cls)) for cls in classes}

    def restore(self):
        for name, module in self.modules.items():
            sys.modules[name] = module
            module.__dict__.update(self.saved[name])
        for cls, saved in self.classes.items():
            for key, value in saved.items():
                if key not in ('__dict__', '__weakref__') and vars(cls).get(key) is not value:
                    setattr(cls, key, value)

    def replaced(self):
        found = []
        for name, saved in self.saved.items():
            current = self.modules[name].__dict__
            found += [f'{name}.{key}' for key, value in saved.items()
                      if current.get(key, current) is not value and key not in self.SET_BY_HARNESS]
            if sys.modules.get(name) is not self.modules[name]:
                found.append(f'sys.modules[{name!r}]')
        for cls, saved in self.classes.items():
            found += [f'{cls.__name__}.{key}' for key, value in saved.items() if vars(cls).get(key) is not value]
        return found[:20]


class Harness:
    def __init__(self, plan, channel, checks, recorder_class, case_rng_factory):
        self.plan, self.channel, self.checks = plan, channel, checks
        self.Recorder, self.case_rng = recorder_class, case_rng_factory(plan['seed_offset'])
        self.helpers = {name: getattr(checks, name) for name in CHECK_HELPERS}
        self.helpers['case_rng'] = self.case_rng
        self.files = {c['file']: c['label'] for c in plan['cells']}
        self.audit = AuditLog(plan['read_ok'], os.path.dirname(plan['workdir']))
        self.saved = dict(environ=dict(os.environ), cwd=os.getcwd(), path=list(sys.path),
                          stdout=sys.stdout, stderr=sys.stderr)
        self.libraries = Libraries(classes=[recorder_class])
        self.swapped = False           # student code replaced the recorder during a test

    def restore(self):
        """Put back what student code may have changed, before trusted test code runs."""
        saved = self.saved
        for key in [k for k in os.environ if k not in saved['environ']]:
            del os.environ[key]
        os.environ.update(saved['environ'])
        os.chdir(saved['cwd'])
        sys.path[:] = saved['path']
        sys.stdout, sys.stderr = saved['stdout'], saved['stderr']
        self.libraries.restore()
        sys.modules['checks'] = self.checks
        for name, fn in self.helpers.items():
            setattr(self.checks, name, fn)
        self.checks.CASE_SEED_OFFSET = self.plan['seed_offset']

    def run_part(self, cell, code, namespace, names):
        recorder = None
        if cell['kind'] == 'test':
            recorder = self.Recorder(self.channel.send, self.plan['reference'])
            recorder.cell = (cell['index'], namespace, names)
            self.checks._recorder = recorder
            namespace.update(self.helpers)
        self.audit.quiet = False
        try:
            exec(code, namespace)
        finally:
            self.audit.quiet = True
            if recorder is not None:
                recorder.cell = None
                self.swapped = self.swapped or self.checks._recorder is not recorder

    def replaced(self):
        found = self.libraries.replaced()
        return found + ['checks._recorder'] if self.swapped else found

    def run_cell(self, cell, compiled, namespace, describe):
        send = self.channel.send
        send(t='cell', i=cell['index'], events=self.audit.take())
        error, self.swapped = None, False
        try:
            if isinstance(compiled, dict):          # a SyntaxError found while compiling
                error = compiled
            else:
                for label, code, names in compiled:
                    if cell['kind'] == 'test':
                        self.restore()
                        if label == 'hidden':
                            send(t='hidden', i=cell['index'])
                            namespace = dict(namespace)
                    self.run_part(cell, code, namespace, names)
        except BaseException as err:                # SystemExit and KeyboardInterrupt too
            self.audit.quiet = True
            error = describe(err, self.files)
        send(t='end', i=cell['index'], error=error, events=self.audit.take(), replaced=self.replaced())


def main():
    plan = json.loads(sys.stdin.buffer.read())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)                               # input() gets EOF, never the plan
    os.close(null)
    channel = Channel(plan['channel_fd'], plan['nonce'])
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [here] + plan['sys_path']
    import numpy as np
    import recorder as recording
    sys.path[:] = plan['sys_path']
    import checks

    def case_rng_factory(offset, default_rng=np.random.default_rng):
        return lambda n: default_rng(n + offset)

    compiled = []
    for cell in plan['cells']:
        try:
            compiled.append(compile_cell(cell))
        except Exception as err:       # SyntaxError; also null bytes, absurd nesting
            compiled.append(recording.describe_exception(err, {cell['file']: cell['label']}))
    os.makedirs(plan['workdir'], exist_ok=True)
    os.chdir(plan['workdir'])
    for name, content in plan.get('files', {}).items():     # allow-listed files from the student
        with open(os.path.basename(name), 'wb') as f:
            f.write(base64.b64decode(content))
    harness = Harness(plan, channel, checks, recording.Recorder, case_rng_factory)
    harness.restore()
    sys.meta_path.insert(0, ForbiddenImports(plan['forbidden_modules']))
    sys.addaudithook(harness.audit.hook)
    random.seed(0)
    np.random.seed(0)
    namespace = {'__name__': '__main__', '__builtins__': builtins, 'get_ipython': NoIPython}
    channel.send(t='ready', python=sys.version.split()[0], numpy=np.__version__)
    skip = {int(i) for i in plan['skip']}
    flush_stdout, flush_stderr = sys.stdout.flush, sys.stderr.flush
    for cell, code in zip(plan['cells'], compiled):
        if cell['index'] not in skip:
            harness.run_cell(cell, code, namespace, recording.describe_exception)
    for flush in (flush_stdout, flush_stderr):
        try:
            flush()
        except Exception:
            pass
    channel.send(t='done', events=harness.audit.take())
    os._exit(0)                                    # no atexit handlers, no waiting on threads


if __name__ == '__main__':
    main()
