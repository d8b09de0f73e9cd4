"""The harness: run one notebook plan inside the sandbox, reporting over a pipe.

run_notebook.py loads this file into a private namespace (never `sys.modules`, with a private
copy of the builtins), so no object notebook code can reach leads here, and patching a module
or a builtin changes nothing the harness relies on. Everything up to the first cell happens
before any student code: the plan is read and stdin closed, the kernel's restrictions are set
(guard.lockdown), the libraries the notebook will use are imported, every cell is compiled
(test cells arrive compiled by the grader: autograder/rewrite.py), the report channel and the
check helpers are built as closures, and the audit hook is armed. Then the cells run in order
in the notebook's namespace -- the module `__main__`, as in Jupyter:

- answer cells hold the student's code; other cells are the instructor's;
- before each part of a test cell, the environment, working folder, sys.path, stdout/stderr,
  the libraries test code uses and the names the instructor's cells imported (`np`, `nd`...)
  are put back as they were; a rebinding is reported to the grader;
- a test part is a function whose helpers are parameters bound here, so nothing in the
  notebook can rebind them; the hidden part's variables are its own locals;
- in a reference run, each hidden part runs once per seed of `plan["seeds"]`, each time in a
  forked child, so one reference run gives the expected values of a whole batch's
  submissions (every submission has its own hidden cases);
- cells listed in plan["skip"] are not run (the grader killed them in an earlier attempt).

Messages on the channel are JSON lines carrying the plan's nonce and a sequence number;
the grader rejects anything else. Nothing here decides a score.
"""
import base64
import builtins
import json
import marshal
import os
import sys
import types


def load(name, private_builtins):
    """Another harness file, executed into a private namespace like this one."""
    path = os.path.join(os.path.dirname(__file__), f'{name}.py')
    with open(path) as f:
        source = f.read()
    namespace = {'__builtins__': private_builtins, '__name__': f'grading-{name}', '__file__': path}
    exec(compile(source, path, 'exec'), namespace)
    return types.SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith('__')})


def read_plan():
    plan = json.loads(sys.stdin.buffer.read())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)                               # input() gets EOF, never the plan
    os.close(null)
    return plan


def make_channel(fd, nonce, dumps):
    """send(**fields): one framed JSON line to the grader. A process forked by student code
    loses the pipe (closed at fork) and, should it ever get back here, exits quietly."""
    write, getpid, exit_, close = os.write, os.getpid, os._exit, os.close
    owner, seq = getpid(), [0]

    def send(**fields):
        if getpid() != owner:
            exit_(0)
        fields['k'], fields['n'] = nonce, seq[0] + 1
        data = memoryview((dumps(fields) + '\n').encode())
        seq[0] += 1                                # only once the line exists: no gap in the sequence
        while data:
            data = data[write(fd, data):]

    def forked():
        try:
            close(fd)
        except OSError:
            pass

    os.register_at_fork(after_in_child=forked)
    return send


PROTECTED = ('builtins', 'os', 'posixpath', 'math', 'cmath', 'operator', 'functools', 'itertools', 're',
             'collections', 'copy', 'numbers', 'random', 'checks')


def make_libraries(watched_functions):
    """(restore, replaced): the modules test code relies on as they were before student code
    ran. `replaced()` lists what is still changed at the end of a cell (a test judged with a
    patched function cannot count): identities, and for the functions test code calls, their
    code, defaults and closure contents too."""
    modules = {name: module for name, module in sys.modules.items()
               if module is not None and (name in PROTECTED or name == 'numpy' or name.startswith('numpy.'))}
    saved = {name: dict(module.__dict__) for name, module in modules.items()}
    functions = []
    for dotted in watched_functions:
        module_name, _, attr = dotted.rpartition('.')
        fn = saved.get(module_name, {}).get(attr)
        if isinstance(fn, types.FunctionType):
            functions.append((dotted, fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__,
                              tuple(c.cell_contents for c in fn.__closure__ or ())))

    def restore():
        for name, module in modules.items():
            sys.modules[name] = module
            module.__dict__.update(saved[name])

    def replaced():
        found = []
        for name, before in saved.items():
            current = modules[name].__dict__
            found += [f'{name}.{key}' for key, value in before.items()
                      if current.get(key, current) is not value and key not in ('__builtins__',)]
            if sys.modules.get(name) is not modules[name]:
                found.append(f'sys.modules[{name!r}]')
        for dotted, fn, code, defaults, kwdefaults, cells in functions:
            try:
                now = (fn.__code__, fn.__defaults__, fn.__kwdefaults__, tuple(c.cell_contents for c in fn.__closure__ or ()))
            except ValueError:                    # an emptied cell
                now = None
            if now is None or now[0] is not code or now[1] is not defaults or now[2] is not kwdefaults \
                    or len(now[3]) != len(cells) or any(a is not b for a, b in zip(now[3], cells)):
                found.append(f'{dotted} (its code, defaults or closure)')
        return found[:20]

    return restore, replaced


def compile_cells(plan, namespace, helpers, describe):
    """Each cell's code before anything runs: answer and instructor cells from source, test
    cells as part functions (the grader compiled them) with the helpers bound."""
    compiled = []
    for cell in plan['cells']:
        try:
            if cell['kind'] == 'test':
                parts = []
                for part in cell['parts']:
                    code = marshal.loads(base64.b64decode(part['code']))
                    function = types.FunctionType(code, namespace, code.co_name)
                    function.__kwdefaults__ = dict(helpers)
                    parts.append((part['label'], function, tuple(part['names'])))
                compiled.append(parts)
            else:
                compiled.append(compile(cell['source'], cell['file'], 'exec', dont_inherit=True))
        except Exception as err:       # SyntaxError; also null bytes, absurd nesting
            compiled.append(dict(describe(err, {cell['file']: cell['label']}), compile=True))
    return compiled


def main():
    plan = read_plan()
    private = dict(vars(builtins))
    guard = load('guard', private)
    sys.path[:] = plan['sys_path']
    import numpy as np
    import checks
    for name in plan.get('preimport', []):        # what the notebook will use, imported while no student code runs
        try:
            __import__(name)
        except Exception:
            pass
    matplotlib = sys.modules.get('matplotlib')
    if matplotlib is not None:
        # Plots are not graded. Labels like '$\\lambda$' go through pyparsing, which takes a
        # stack frame (refused while a notebook runs): show them as plain text instead.
        matplotlib.rcParams['text.parse_math'] = False
    problems = guard.lockdown()                   # from here on: no signal handlers, no threads
    guard.forget_ctypes()
    guard.restrict_gc()
    sealed = [guard.restrict_builtin_modules(plan['forbidden_modules'])]
    recorder = load('recorder', private)
    send = make_channel(plan['channel_fd'], plan['nonce'], recorder.dumps)
    files = {c['file']: c['label'] for c in plan['cells']}
    describe = recorder.describe_exception

    notebook = types.ModuleType('__main__')
    namespace = notebook.__dict__
    namespace['__builtins__'] = builtins
    current = {'cell': None, 'names': (), 'seed': plan['seed']}
    emit = [None]                                  # where records go: the channel, or a forked child's list

    def record(kind, what, value, scope, extra):
        if current['cell'] is None:
            return
        emit[0](dict(t='rec', i=current['cell'], kind=kind, what='' if what is None else recorder.text(what),
                     value=value, fp=recorder.fingerprints((scope, namespace), current['names']), **extra))

    emit[0] = lambda message: send(**message)
    helpers = recorder.make_helpers(record, plan['reference'], lambda: current['seed'], checks.isolated, namespace)
    compiled = compile_cells(plan, namespace, helpers, describe)

    os.makedirs(plan['workdir'], exist_ok=True)
    os.chdir(plan['workdir'])
    for name, content in plan.get('files', {}).items():     # allow-listed files from the student
        with open(os.path.basename(name), 'wb') as f:
            f.write(base64.b64decode(content))
    saved = dict(environ=dict(os.environ), cwd=os.getcwd(), path=list(sys.path), meta_path=list(sys.meta_path),
                 path_hooks=list(sys.path_hooks), stdout=sys.stdout, stderr=sys.stderr)
    restore_libraries, replaced = make_libraries(plan.get('watched_functions', []))
    imported = {}                                  # names the instructor's cells imported -> value

    def restore():
        """Put back what student code may have changed, before trusted test code runs;
        returns the notebook names that had been rebound."""
        restore_libraries()
        for key in [k for k in os.environ if k not in saved['environ']]:
            del os.environ[key]
        os.environ.update(saved['environ'])
        os.chdir(saved['cwd'])
        sys.path[:] = saved['path']
        sys.meta_path[:], sys.path_hooks[:] = saved['meta_path'], saved['path_hooks']
        sys.stdout, sys.stderr = saved['stdout'], saved['stderr']
        rebound = [name for name, value in imported.items() if namespace.get(name, namespace) is not value]
        namespace.update(imported)
        if namespace.get('__builtins__') is not builtins:
            rebound.append('__builtins__')
            namespace['__builtins__'] = builtins
        sys.modules['__main__'] = notebook
        return rebound

    hook, arm, take_counts = guard.make_hook(
        set(plan['student_files']), guard.frame_users([recorder.where_in_notebook]),
        frozenset(plan['forbidden_modules']), plan['read_ok'], os.path.dirname(plan['workdir']), sealed)
    restore()
    sys.modules['__main__'] = notebook
    sys.addaudithook(hook)
    import random
    random.seed(0)
    np.random.seed(0)
    loaded = set(sys.modules)
    send(t='ready', python=sys.version.split()[0], numpy=np.__version__, lockdown=problems)
    arm()

    def run_part(index, function, names):
        current['cell'], current['names'] = index, names
        try:
            function()
        finally:
            current['cell'] = None

    def run_seeded(index, function, names):
        """The hidden part once per seed, each in a child forked from this state; the child's
        records come back whole through a pipe and are sent as one message."""
        for seed in plan['seeds']:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_end)
                records = []
                emit[0] = records.append
                current['seed'] = seed
                error = None
                try:
                    run_part(index, function, names)
                except BaseException as err:
                    error = describe(err, files)
                # A reference run holds no student code: the json module's C encoder is safe here.
                data = memoryview(json.dumps({'records': records, 'error': error}, separators=(',', ':')).encode())
                while data:
                    data = data[os.write(write_end, data):]
                os._exit(0)
            os.close(write_end)
            chunks = []
            while True:
                chunk = os.read(read_end, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
            os.close(read_end)
            os.waitpid(pid, 0)
            send(t='seeded', i=index, seed=seed, result=b''.join(chunks).decode(errors='replace'))

    def run_cell(cell, code):
        index = cell['index']
        send(t='cell', i=index, events=take_counts())
        error, rebound = None, []
        try:
            if isinstance(code, dict):              # a SyntaxError found while compiling
                error = code
            elif cell['kind'] == 'test':
                for label, function, names in code:
                    rebound += [n for n in restore() if n not in rebound]
                    if label == 'hidden':
                        send(t='hidden', i=index)
                        if plan['reference'] and plan.get('seeds'):
                            run_seeded(index, function, names)
                            continue
                    run_part(index, function, names)
            else:
                exec(code, namespace)
                for name in cell.get('imports', ()):
                    if cell['kind'] == 'code' and name in namespace:
                        imported[name] = namespace[name]
        except BaseException as err:                # SystemExit and KeyboardInterrupt too
            error = describe(err, files)
        send(t='end', i=index, error=error, events=take_counts(), replaced=replaced(), rebound=rebound)

    skip = {int(i) for i in plan['skip']}
    flush_stdout, flush_stderr = sys.stdout.flush, sys.stderr.flush
    for cell, code in zip(plan['cells'], compiled):
        if cell['index'] not in skip:
            run_cell(cell, code)
    for flush in (flush_stdout, flush_stderr):
        try:
            flush()
        except Exception:
            pass
    # A reference run tells the grader which libraries the notebook imported, so that student
    # runs import them before any student code does (an import while student code runs may
    # be refused some of what a library does at import time).
    modules = sorted(m for m in set(sys.modules) - loaded if isinstance(m, str)) if plan['reference'] else []
    send(t='done', events=take_counts(), modules=modules)
    os._exit(0)                                    # no atexit handlers, no waiting on threads
