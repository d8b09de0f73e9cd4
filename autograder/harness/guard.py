"""What notebook code may not do in the harness's interpreter, and what the kernel refuses it.

Student code and the grader's test code share one interpreter, so every object is in the end
reachable from student code: through frames, the garbage collector's object lists, tracing,
threads that run beside the tests, or ctypes. The harness keeps its state where no attribute
walk leads (closures of functions nothing reachable refers to) and this module closes the
other ways in:

- an audit hook (PEP 578), installed before the first cell, *refuses* -- raises
  `NotAllowedWhileGrading` -- every event that yields a frame (`sys._getframe`, a traceback's
  `tb_frame`, a generator's `gi_frame`, ...), lists live objects (`gc.get_objects`,
  `gc.get_referrers`, `gc.get_referents`), traces (`sys.settrace`, `sys.setprofile`), adds
  an audit hook, uses ctypes, writes a function's `__code__`, or swaps a module's class. A few
  library functions read one attribute of a frame and let go of it (namedtuple and typing
  take the caller's module name): those exact functions, identified by their code objects
  captured at start-up, keep working. Library code that would hand a frame on (traceback's
  summaries, logging's caller) gets the refusal as the AttributeError/ValueError it is
  written to expect where frames are unavailable, or fails. `gc.set_debug` is replaced
  (DEBUG_SAVEALL would put collected frames in `gc.garbage`), and gc, ctypes and CPython's
  test modules cannot be created again through the import machinery.
- code objects that student code creates (compile, exec, eval, marshal then FunctionType) are
  student code from then on, whatever file name they claim: while student code is on the
  stack, defaults of other code may not be rewritten, and the events it causes are counted
  for the instructor (`attention.csv`) -- by count, so a submission is flagged when it
  introspects more than the reference solution does.
- the kernel (seccomp, set up by `lockdown` before any student code) refuses to install
  signal handlers (a handler receives the frame it interrupted) and threads (a thread could
  run while the harness's hook is busy, or race the tests), and refuses ptrace and reading
  another process's memory; the harness process is made non-dumpable, so its /proc files
  (/proc/self/mem among them) belong to root.

What remains possible is said in the README ("What the grader does not defend against").
"""
import sys

FRAME_EVENTS = frozenset({'sys._getframe', 'sys._current_frames'})
FRAME_ATTRIBUTES = frozenset({'tb_frame', 'gi_frame', 'cr_frame', 'ag_frame'})
ALWAYS_REFUSED = frozenset({'gc.get_objects', 'gc.get_referrers', 'gc.get_referents', 'sys.settrace',
                            'sys.setprofile', 'sys.addaudithook', '_thread.start_new_thread'})
DEFAULTS = frozenset({'__defaults__', '__kwdefaults__'})
TAINTING = frozenset({'compile', 'exec', 'function.__new__'})
# Worth an instructor's look when student code makes them (counted, not refused).
WATCHED = frozenset({
    'os.system', 'subprocess.Popen', 'os.exec', 'os.posix_spawn', 'os.spawn', 'os.fork', 'os.forkpty',
    'os.kill', 'os.killpg', 'signal.pthread_kill', 'socket.connect', 'socket.bind', 'socket.getaddrinfo',
    'os.remove', 'os.rmdir', 'os.rename', 'shutil.rmtree', 'os.chdir', 'os.putenv', 'os.unsetenv',
    'builtins.input', 'marshal.loads', 'pickle.find_class', 'os.listdir', 'os.scandir', 'import', 'open',
    'code.__new__', 'function.__new__', 'object.__getattr__', 'object.__setattr__', 'object.__delattr__'})
PATH_EVENTS = frozenset({'open', 'os.remove', 'os.rmdir', 'os.rename', 'shutil.rmtree', 'os.chdir',
                         'os.listdir', 'os.scandir'})
INTROSPECTION = frozenset({'__code__', '__defaults__', '__kwdefaults__', 'f_code', 'gi_code', 'cr_code', 'ag_code'})
MAX_KEYS = 200
MAX_STACK = 10_000

NotAllowedWhileGrading = type('NotAllowedWhileGrading', (AttributeError, ValueError), {
    '__module__': 'grading',
    '__doc__': 'Raised when notebook code asks for something grading does not allow (frames, the garbage '
               "collector's object lists, tracing, threads, ctypes, rewriting code).",
})
REASON = ('is not allowed while a notebook is graded, because it would let notebook code read or change the '
          'tests: remove this call from your notebook (off limits: frames, the garbage collector\'s object lists, '
          'tracing, threads, ctypes, rewriting code)')


def _code(function):
    return getattr(function, '__func__', function).__code__


def frame_users(trusted_functions=()):
    """{code object: None}: the library functions allowed to take a frame. Each uses the frame
    at once, through C-level operations only (`frame.f_globals.get('__name__')`, `frame.f_back`),
    and hands it to nothing a notebook could rebind -- which rules out traceback's and
    logging's helpers: they pass frames to module functions (`walk_stack`, `linecache.lazycache`,
    `_is_internal_frame`) that notebook code can replace."""
    import collections
    import enum
    import typing

    allowed = [collections.namedtuple, typing._caller, enum.EnumType._create_, *trusted_functions]
    api = sys.modules.get('matplotlib._api')
    if api is not None and hasattr(api, 'warn_external'):
        allowed.append(api.warn_external)          # walks f_back to find the first frame outside matplotlib
    cbook = sys.modules.get('matplotlib.cbook')
    if cbook is not None and hasattr(cbook, '_get_running_interactive_framework'):
        allowed.append(cbook._get_running_interactive_framework)
    return {_code(f): None for f in allowed}


def make_hook(student_files, allowed, forbidden, routine_reads, private_dir, sealed=()):
    """(hook, arm, take_counts). `student_files` is the set of file names of student code (it
    grows as student code compiles more); `allowed` is frame_users(); `sealed` are functions
    of the harness whose defaults hold what no one else may touch."""
    getframe, type_of, str_type, code_type = sys._getframe, type, str, type(_code(frame_users))
    # Every name the hook uses is a local of this call, so that nothing reachable from notebook
    # code (this module's globals, say) can change what the armed hook does.
    frame_events, frame_attributes, always_refused, defaults_names = FRAME_EVENTS, FRAME_ATTRIBUTES, ALWAYS_REFUSED, DEFAULTS
    tainting, watched, path_events, introspection = TAINTING, WATCHED, PATH_EVENTS, INTROSPECTION
    refusal, reason, max_keys, max_stack = NotAllowedWhileGrading, REASON, MAX_KEYS, MAX_STACK
    sealed = tuple(sealed)
    import gc
    import os
    gc_enabled, gc_disable, gc_enable = gc.isenabled, gc.disable, gc.enable
    fsdecode = os.fsdecode
    module_type = type(sys)
    function_type = type(frame_users)
    join = ''.join
    routine_reads = tuple(routine_reads)
    private_dir = private_dir.rstrip('/') + '/'
    state = {'armed': False, 'busy': False}
    counts = {}

    def name_of(value):
        """An exact str for a file name of any type, without running its methods."""
        if type_of(value) is str_type:
            return value
        if type_of(value) is bytes:
            return fsdecode(value)
        if isinstance(value, str_type):
            return join([value])             # a str subclass: an exact copy
        return '<not a string>'

    def is_student(code):
        filename = code.co_filename
        return type_of(filename) is not str_type or filename in student_files

    def student_on_stack(frame):
        steps = 0
        while frame is not None and steps < max_stack:
            if is_student(frame.f_code):
                return True
            frame, steps = frame.f_back, steps + 1
        return steps >= max_stack

    def taint(code, depth=0):
        if type_of(code) is not code_type or depth > 50:
            return
        student_files.add(name_of(code.co_filename))
        for const in code.co_consts:
            taint(const, depth + 1)

    def count(key):
        if key in counts or len(counts) < max_keys:
            counts[key] = counts.get(key, 0) + 1

    def frame_allowed(caller):
        return caller is not None and caller.f_code in allowed and not is_student(caller.f_code)

    def detail(event, args):
        if event == 'import':
            return str_type(args[0]).partition('.')[0] if type_of(args[0]) is str_type else ''
        if event in path_events:
            path = args[0]
            if path is None or type_of(path) is int:
                return None
            path = name_of(path)
            if path.startswith(private_dir) or not path.startswith('/'):
                return None
            if event == 'open':
                mode = args[1] if args[1] is not None else 'r'
                writing = (type_of(mode) is str_type and any(c in mode for c in 'wax+')) or \
                    (type_of(mode) is int and mode & (os.O_WRONLY | os.O_RDWR))
                if not writing and path.startswith(routine_reads):
                    return None
                return ('for writing ' if writing else '') + path[:120]
            if event in ('os.listdir', 'os.scandir') and path.startswith(routine_reads):
                return None
            return path[:120]
        if event in ('object.__getattr__', 'object.__setattr__', 'object.__delattr__'):
            return args[1] if type_of(args[1]) is str_type else ''
        if event in ('os.kill', 'os.killpg'):
            return f'{args[0] if type_of(args[0]) is int else "?"} {args[1] if type_of(args[1]) is int else "?"}'
        return ''

    def judge(event, args):
        """None, or why the event is refused. Runs with the hook marked busy. `args` can be
        anything (notebook code may raise events itself with sys.audit)."""
        try:
            caller = getframe(3)              # judge <- guarded <- hook <- the code that asked
        except ValueError:                    # raised from C with no Python code below
            caller = None
        if type_of(args) is not tuple:
            return 'an audit event with malformed arguments'
        args = args + (None, None, None)      # every index below exists
        if event in frame_events or (event == 'object.__getattr__' and args[1] in frame_attributes):
            if frame_allowed(caller):
                return None
            return event if event in frame_events else f'reading {args[1]}'
        if event in always_refused or event.startswith('ctypes.'):
            return event
        if event == 'grading.refused':       # raised by the grader's own stand-ins (gc.set_debug)
            return args[0] if args[0] in ('gc.set_debug',) else None
        if event in ('object.__getattr__', 'object.__setattr__', 'object.__delattr__') and \
                any(args[0] is f for f in sealed) and args[1] in ('__defaults__', '__kwdefaults__', '__code__'):
            return f'touching {args[1]} of the grader\'s own code'
        if event == 'import' and type_of(args[0]) is str_type and args[0].partition('.')[0] in forbidden:
            return f'import {args[0][:60]}'
        on_stack = None
        if event in tainting or event in watched or event in ('object.__setattr__', 'object.__delattr__'):
            on_stack = student_on_stack(caller)
        if on_stack and event in tainting:
            if event == 'compile':
                student_files.add(name_of(args[1]))
            else:
                taint(args[0])
        if event in ('object.__setattr__', 'object.__delattr__'):
            target, name = args[0], args[1]
            if name == '__code__':
                return f'setting {name}'
            if name == '__class__' and type_of(target) is module_type:
                return 'changing a module\'s class'
            if name in defaults_names and on_stack and not (type_of(target) is function_type and is_student(target.__code__)):
                return f'setting {name} of code that is not yours'
        if event == 'code.__new__' and (on_stack if on_stack is not None else student_on_stack(caller)):
            return 'creating a code object'
        if on_stack and event in watched:
            if event == 'object.__getattr__' and args[1] not in introspection:
                return None
            what = detail(event, args)
            if what is not None:
                count(f'{event} {what}'.strip())
        return None

    def guarded(event, args):
        was_enabled = gc_enabled()
        gc_disable()                          # no finalizer may run while the hook is busy
        try:
            return judge(event, args)
        finally:
            if was_enabled:
                gc_enable()

    def hook(event, args):
        if state['busy'] or not state['armed']:
            return
        state['busy'] = True
        try:
            refused = guarded(event, args)
        except Exception:                     # a fault of this hook must not let anything through
            refused = f'{event if type_of(event) is str_type else "an event"} (the grader could not judge it)'
        finally:
            state['busy'] = False
        if refused is not None:
            count(f'refused {refused}')
            if refused.startswith('import '):
                raise ImportError(f'{refused[7:]} is not available when grading: the course builds everything on '
                                  f'numpy alone, and some modules expose the interpreter\'s internals')
            raise refusal(f'{refused} {reason}')

    def arm():
        state['armed'] = True

    def take_counts():
        taken = dict(counts)
        counts.clear()
        return taken

    return hook, arm, take_counts


# -- the kernel's part ---------------------------------------------------------------------------
# seccomp_data: int nr @0, u32 arch @4, u64 ip @8, u64 args[6] @16. Syscall numbers per architecture.
_ARCHES = {
    'x86_64': (0xC000003E, {'rt_sigaction': 13, 'ptrace': 101, 'process_vm_readv': 310, 'process_vm_writev': 311,
                            'pidfd_getfd': 438, 'clone': 56, 'clone3': 435}),
    'aarch64': (0xC00000B7, {'rt_sigaction': 134, 'ptrace': 117, 'process_vm_readv': 270, 'process_vm_writev': 271,
                             'pidfd_getfd': 438, 'clone': 220, 'clone3': 435}),
}
_LD, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _EPERM, _ENOSYS = 0x7FFF0000, 0x00050001, 0x00050026
_CLONE_THREAD = 0x00010000


def seccomp_program(machine):
    """A BPF filter. EPERM for: rt_sigaction with a new action (a Python signal handler is
    handed the frame it interrupted), clone with CLONE_THREAD (a thread would run beside the
    tests), ptrace and cross-process memory access; ENOSYS for clone3, whose flags a filter
    cannot read (the C library then falls back to clone). Everything else is allowed; fork
    too. None for an architecture we have no table for."""
    if machine not in _ARCHES:
        return None
    arch, nr = _ARCHES[machine]
    denied = [nr['ptrace'], nr['process_vm_readv'], nr['process_vm_writev'], nr['pidfd_getfd']]
    prog = [(_LD, 0, 0, 4), (_JEQ, 1, 0, arch), (_RET, 0, 0, _EPERM),       # another ABI: refuse
            (_LD, 0, 0, 0)]
    if machine == 'x86_64':
        prog.append((_JGE, 0, 1, 0x40000000))                                 # x32 numbers: refuse
        prog.append((_RET, 0, 0, _EPERM))
    for number in denied:
        prog += [(_JEQ, 0, 1, number), (_RET, 0, 0, _EPERM)]
    prog += [(_JEQ, 0, 1, nr['clone3']), (_RET, 0, 0, _ENOSYS),
             (_JEQ, 0, 3, nr['clone']),
             (_LD, 0, 0, 16), (_JSET, 0, 1, _CLONE_THREAD), (_RET, 0, 0, _EPERM),   # flags, low 32 bits
             (_LD, 0, 0, 0),                                                 # the number again
             (_JEQ, 1, 0, nr['rt_sigaction']), (_RET, 0, 0, _ALLOW),
             (_LD, 0, 0, 24), (_JEQ, 1, 0, 0), (_RET, 0, 0, _EPERM),          # act, low 32 bits
             (_LD, 0, 0, 28), (_JEQ, 1, 0, 0), (_RET, 0, 0, _EPERM),          # act, high 32 bits
             (_RET, 0, 0, _ALLOW)]                                           # act == NULL: a query
    return prog


def lockdown():
    """Make this process non-dumpable and install the seccomp filter; returns what could not be
    done (an empty list when everything is in place)."""
    import ctypes
    import platform

    problems = []
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    if prctl(4, 0, 0, 0, 0) != 0:                      # PR_SET_DUMPABLE
        problems.append('could not make the harness non-dumpable')
    if prctl(38, 1, 0, 0, 0) != 0:                     # PR_SET_NO_NEW_PRIVS, required for seccomp
        problems.append('no_new_privs is not available')
    program = seccomp_program(platform.machine())
    if program is None:
        return problems + [f'no seccomp table for {platform.machine()}']

    class Filter(ctypes.Structure):
        _fields_ = [('code', ctypes.c_ushort), ('jt', ctypes.c_ubyte), ('jf', ctypes.c_ubyte), ('k', ctypes.c_uint)]

    class Program(ctypes.Structure):
        _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.POINTER(Filter))]

    filters = (Filter * len(program))(*[Filter(*op) for op in program])
    fprog = Program(len(program), filters)
    if prctl(22, 2, ctypes.addressof(fprog), 0, 0) != 0:   # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        problems.append(f'seccomp failed (errno {ctypes.get_errno()})')
    return problems


def restrict_gc():
    """`gc.set_debug(gc.DEBUG_SAVEALL)` would keep everything the collector frees -- frames of
    finished calls among it, whose `f_back` leads on -- in the list `gc.garbage`. The function is
    replaced by one that refuses (defined in a namespace that holds nothing else); gc cannot be
    created again through the import machinery (it is among the forbidden modules)."""
    import gc
    inert = {'__builtins__': {}, 'refusal': NotAllowedWhileGrading, 'message': f'gc.set_debug {REASON}',
             'audit': sys.audit}
    exec('def set_debug(*args, **kwargs):\n    audit("grading.refused", "gc.set_debug")\n    raise refusal(message)\n', inert)
    gc.set_debug(0)
    gc.garbage.clear()
    gc.set_debug = inert['set_debug']


RECREATE_REFUSED = frozenset({'gc', '_imp'})


def restrict_builtin_modules(refused):
    """`_imp.create_builtin(spec)` makes a fresh module object of a built-in module -- a fresh gc,
    with the real set_debug -- and raises no audit event. It is replaced by a function that
    refuses the modules in `refused` (and RECREATE_REFUSED) and otherwise calls the original
    with a spec of its own, so that a spec whose `name` changes between two reads cannot slip
    by. The original lives in the replacement's keyword defaults, which the audit hook keeps
    from being read or written (see make_hook's `sealed`). Returns the replacement."""
    import _imp
    import types
    inert = {'__builtins__': {}}
    exec('def create_builtin(spec, *, _original=None, _refused=None, _spec=None, _str=None, _error=None):\n'
         '    name = spec.name\n'
         '    if type(name) is not _str or name.partition(".")[0] in _refused:\n'
         '        raise _error(f"{name} is not available when grading")\n'
         '    return _original(_spec(name=name))\n', inert)
    replacement = inert['create_builtin']
    replacement.__kwdefaults__ = {'_original': _imp.create_builtin, '_refused': frozenset(refused) | RECREATE_REFUSED,
                                  '_spec': types.SimpleNamespace, '_str': str, '_error': ImportError}
    inert['type'] = type
    _imp.create_builtin = replacement
    return replacement


def forget_ctypes():
    """Take ctypes out of reach: several of its functions (memmove, cast) raise no audit event,
    so the modules leave sys.modules and every module attribute that holds them is cleared;
    importing them again is refused by the hook (they are among the forbidden modules)."""
    gone = [name for name in sys.modules if name == '_ctypes' or name == 'ctypes' or name.startswith('ctypes.')]
    modules = [sys.modules.pop(name) for name in gone]
    for module in list(sys.modules.values()):
        attributes = getattr(module, '__dict__', None)
        if type(attributes) is dict:
            for key, value in list(attributes.items()):
                if any(value is m for m in modules):
                    attributes[key] = None
    return gone
