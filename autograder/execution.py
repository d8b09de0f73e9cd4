"""Run one notebook plan in the sandbox, enforcing the limits from outside.

One *attempt* starts the harness in a fresh sandbox, hands it the plan, and watches three
pipes: the report channel (framed JSON lines, see harness/run_notebook.py), stdout and
stderr. Every 0.1 s it measures the wall and CPU time of the cell in progress (CPU summed
over the sandbox's whole process tree, read from /proc, so a student who patches `time`
changes nothing) and the memory of the whole tree (the address-space rlimit is per process),
and SIGKILLs the tree when a limit is passed or output floods.

A kill, a crash or an exit in the middle of cell k ends the attempt; the next attempt runs
the same plan with cell k skipped, so one runaway cell costs that cell's points and the
rest are still graded. Each cell's result is taken from the first attempt that finished
it. Attempts stop when the harness reports `done`, or when the submission's time budget is
spent.
"""
import json
import os
import secrets
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

import psutil

from autograder.safe_text import needs_cleaning, safe_value

POLL = 0.1
STARTUP_SECONDS = 60           # from start to the harness's "ready" (imports, compiling)


@dataclass
class ReportBudget:
    """What a student's run may send over all its attempts: more is a flood, not a notebook.
    JSON items (lists, objects, and the commas between their elements) are counted as well as
    bytes, because it is the parsed structure (`[[],[],...]` is 28 times its size in memory)
    that would fill the grader's memory. A reference run (the instructor's code) has no budget."""
    bytes: int = 128 << 20
    items: int = 3_000_000
    line_bytes: int = 24 << 20             # an 8 MB array, base64-encoded, fits
    line_items: int = 400_000


def _int(value):
    if type(value) is not int:
        raise TypeError('not an int')
    return value


@dataclass
class CellRun:
    """What the harness reported for one cell."""
    records: list = field(default_factory=list)
    hidden_from: int = None        # index of the first record of the hidden part
    error: dict = None
    finished: bool = False
    cpu: float = 0.0
    wall: float = 0.0
    replaced: list = field(default_factory=list)   # library functions still patched at its end
    rebound: list = field(default_factory=list)    # notebook names (np, nd...) rebound before its test parts


@dataclass
class Attempt:
    cells: dict = field(default_factory=dict)   # cell index -> CellRun
    ready: bool = False
    done: bool = False
    current: int = None            # cell in progress when the attempt ended
    killed: str = None             # why the grader killed it, if it did
    exit_status: int = None        # the sandbox's exit status (negative: signal)
    tampered: str = None           # first malformed or forged line on the channel
    events: dict = field(default_factory=dict)
    seeded: dict = field(default_factory=dict)  # (cell index, seed) -> {'records', 'error'} (reference runs)
    stdout: bytes = b''
    stderr: bytes = b''
    info: dict = field(default_factory=dict)


class _Output:
    """Keeps the first `keep` bytes of a stream and counts the rest."""

    def __init__(self, keep):
        self.keep, self.data, self.total = keep, bytearray(), 0

    def add(self, chunk):
        self.total += len(chunk)
        room = self.keep - len(self.data)
        if room > 0:
            self.data += chunk[:room]


class _Channel:
    """Parses the harness's report lines; anything malformed or forged marks tampering."""

    MAX_LINE = 256 << 20           # even a reference run's lines (one seed's hidden records) are smaller

    def __init__(self, nonce, attempt, clock, budget=None):
        self.nonce, self.attempt, self.clock, self.budget = nonce, attempt, clock, budget
        self.buffer, self.seq = bytearray(), 0
        self.cell_started = None     # (index, wall, cpu) of the cell in progress

    def feed(self, chunk, cpu_now):
        budget = self.budget
        if budget is not None:
            budget.bytes -= len(chunk)
            if budget.bytes < 0:
                return self._tamper('more check results than a notebook produces')
        self.buffer += chunk
        longest = budget.line_bytes if budget is not None else self.MAX_LINE
        if len(self.buffer) > longest and b'\n' not in self.buffer:
            self._tamper('an overlong line')
            self.buffer.clear()
        while not self.attempt.tampered and b'\n' in self.buffer:
            line, _, rest = bytes(self.buffer).partition(b'\n')
            self.buffer = bytearray(rest)
            if budget is not None:
                items = line.count(b'[') + line.count(b'{') + line.count(b',')
                budget.items -= items
                if items > budget.line_items or budget.items < 0 or len(line) > budget.line_bytes:
                    return self._tamper('more check results than a notebook produces')
            try:
                self._message(line, cpu_now)
            except (TypeError, KeyError, ValueError, AttributeError, IndexError):
                self._tamper('a malformed message')

    def _tamper(self, what):
        if not self.attempt.tampered:
            self.attempt.tampered = what

    def _message(self, line, cpu_now):
        try:
            msg = json.loads(line)
            ok = isinstance(msg, dict) and msg.get('k') == self.nonce and msg.get('n') == self.seq + 1
        except (ValueError, RecursionError):
            ok = False
        if not ok:
            return self._tamper('a line that the harness did not write')
        self.seq += 1
        if needs_cleaning(line):    # student text (messages, values, names) is data: lone surrogates go here
            msg = safe_value(msg)
        a, kind = self.attempt, msg.get('t')
        for key, count in (msg.get('events') or {}).items():
            a.events[str(key)[:200]] = a.events.get(str(key)[:200], 0) + _int(count)
        if kind == 'ready':
            a.ready, a.info = True, {k: msg.get(k) for k in ('python', 'numpy', 'lockdown')}
        elif kind == 'cell':
            a.current = _int(msg['i'])
            a.cells[a.current] = CellRun()
            self.cell_started = (a.current, self.clock(), cpu_now)
        elif kind == 'hidden' and msg.get('i') == a.current:
            a.cells[a.current].hidden_from = len(a.cells[a.current].records)
        elif kind == 'rec' and msg.get('i') == a.current:
            a.cells[a.current].records.append({k: v for k, v in msg.items() if k not in ('k', 'n', 't', 'i')})
        elif kind == 'end' and msg.get('i') == a.current:
            run = a.cells[a.current]
            error = msg.get('error')
            if error is not None and not (isinstance(error, dict) and isinstance(error.get('types', []), list)):
                raise TypeError('not an error')
            run.error, run.finished = error, True
            run.replaced = [str(x)[:100] for x in (msg.get('replaced') or [])][:20]
            run.rebound = [str(x)[:100] for x in (msg.get('rebound') or [])][:20]
            _, started, cpu_started = self.cell_started
            run.wall, run.cpu = self.clock() - started, max(0.0, cpu_now - cpu_started)
            a.current, self.cell_started = None, None
        elif kind == 'seeded' and msg.get('i') == a.current:
            a.seeded[(a.current, _int(msg.get('seed')))] = _seeded_result(msg.get('result'))
        elif kind == 'done':
            a.done = True
            a.info['modules'] = [str(m)[:200] for m in (msg.get('modules') or [])][:2000]
        else:
            self._tamper(f'an unexpected message {kind!r}')


def _seeded_result(text):
    """A forked reference child's {'records', 'error'} for one seed (see harness/runtime.py)."""
    try:
        result = json.loads(text)
        if needs_cleaning(text.encode()):
            result = safe_value(result)
        if isinstance(result, dict) and isinstance(result.get('records'), list):
            return {'records': result['records'], 'error': result.get('error')}
    except (TypeError, ValueError, RecursionError):
        pass
    return {'records': [], 'error': {'types': ['GraderError'], 'message': 'the reference run for this seed '
                                                                          'ended without a result', 'where': None}}


def tree_usage(pid):
    """(CPU seconds so far, resident MB now) of `pid` and all its descendants. CPU includes
    reaped children; memory is the sum of resident sizes, which counts pages shared after a
    fork once per process -- generous to the limit, never blind to a fork of hogs."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None, None
    cpu = rss = 0.0
    for proc in procs:
        try:
            with proc.oneshot():
                t = proc.cpu_times()
                cpu += t.user + t.system + t.children_user + t.children_system
                rss += proc.memory_info().rss
        except psutil.Error:
            pass
    return cpu, rss / 2 ** 20


def kill_tree(proc):
    """SIGKILL the sandbox: its process group, then anything still below it."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        children = []
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    for child in children:
        try:
            child.kill()
        except psutil.Error:
            pass


def run_attempt(command, env, cwd, plan, limits, deadline, budget=None):
    """Start the harness with `plan` (dict, filled in here with the channel and nonce)."""
    nonce = secrets.token_hex(16)
    read_fd, write_fd = os.pipe()
    plan = dict(plan, nonce=nonce, channel_fd=write_fd)
    attempt = Attempt()
    clock = time.monotonic
    channel = _Channel(nonce, attempt, clock, budget)
    out = _Output(limits.output_kept_kb << 10)
    err = _Output(limits.output_kept_kb << 10)
    started = clock()
    try:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, pass_fds=(write_fd,), env=env, cwd=cwd,
                                start_new_session=True)
    finally:
        os.close(write_fd)

    def feed_plan():
        try:
            proc.stdin.write(json.dumps(plan).encode())
            proc.stdin.close()
        except OSError:
            pass                   # the harness died before reading it: seen below
    threading.Thread(target=feed_plan, daemon=True).start()

    selector = selectors.DefaultSelector()
    streams = {proc.stdout.fileno(): out, proc.stderr.fileno(): err, read_fd: 'channel'}
    for fd in streams:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    def read(fd):
        """Take what one pipe has; False once it has nothing more right now."""
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return False
        if not chunk:
            selector.unregister(fd)
            del streams[fd]
            return False
        target = streams[fd]
        if target == 'channel':
            channel.feed(chunk, cpu)
        else:
            target.add(chunk)
        return True

    cpu, polled, ended = 0.0, 0.0, None
    try:
        while streams:
            for key, _ in selector.select(POLL):
                read(key.fd)
            now = clock()
            if now - polled < POLL:            # measure at most ten times a second
                continue
            polled = now
            if proc.poll() is not None:
                ended = ended or now
                # Exited: done, or nothing can write any more, or whatever still holds the
                # pipes open (outside a sandbox, an escaped child) is not waited for.
                if attempt.done or read_fd not in streams or now - ended > 2:
                    break
            if attempt.killed:
                continue
            measured_cpu, memory = tree_usage(proc.pid)
            cpu = measured_cpu or cpu
            reason = _over_limit(attempt, channel, limits, now, cpu, memory or 0, started, deadline, out, err)
            if reason:
                attempt.killed = reason
                kill_tree(proc)
    finally:
        if proc.poll() is None:
            kill_tree(proc)
        proc.wait()
        for fd in list(streams):                # what is still buffered in the pipes
            while read(fd) and out.total + err.total < limits.output_max_mb << 20:
                pass
        selector.close()
        os.close(read_fd)
        for stream in (proc.stdout, proc.stderr):
            stream.close()
    attempt.exit_status = proc.returncode
    attempt.stdout, attempt.stderr = bytes(out.data), bytes(err.data)
    attempt.info['output_bytes'] = out.total + err.total
    return attempt


def _over_limit(attempt, channel, limits, now, cpu, memory, started, deadline, out, err):
    if attempt.tampered:
        return 'tampered'
    if out.total + err.total > limits.output_max_mb << 20:
        return 'output'
    if memory > limits.memory_mb:      # all processes together (the rlimit is per process)
        return 'memory'
    if now > deadline:
        return 'budget'
    if not attempt.ready:
        return 'startup' if now - started > STARTUP_SECONDS else None
    if channel.cell_started:
        _, cell_wall, cell_cpu = channel.cell_started
        if cpu - cell_cpu > limits.cell_seconds:
            return 'cpu'
        if now - cell_wall > limits.cell_wall_seconds:
            return 'wall'
    return None


@dataclass
class Execution:
    """Everything the grader learnt from running one plan, over all attempts."""
    cells: dict = field(default_factory=dict)     # index -> CellRun (first finished run)
    skipped: dict = field(default_factory=dict)   # index -> why the cell had to be skipped
    complete: bool = False         # the last attempt reached the end of the notebook
    budget_spent: bool = False
    tampered: str = None
    harness_failed: str = None     # the harness never got going: the grader's problem
    events: dict = field(default_factory=dict)
    seeded: dict = field(default_factory=dict)    # (cell index, seed) -> records of a reference run
    info: dict = field(default_factory=dict)
    stdout: bytes = b''
    stderr: bytes = b''
    attempts: int = 0
    seconds: float = 0.0


def death(attempt, limits):
    """Why an attempt ended before `done`, in words for the student."""
    status = attempt.exit_status
    if attempt.killed == 'cpu':
        return f'used more CPU time than a cell may ({limits.cell_seconds:g} s)'
    if attempt.killed == 'wall':
        return f'ran longer than a cell may ({limits.cell_wall_seconds:g} s; waiting or sleeping?)'
    if attempt.killed == 'output':
        return f'printed more output than a notebook may ({limits.output_max_mb} MB)'
    if attempt.killed == 'memory':
        return f'used more memory than a submission may ({limits.memory_mb} MB in all its processes)'
    if attempt.killed == 'budget':
        return 'was still running when the submission\'s time budget ran out'
    if status is not None and status < 0:
        name = signal.Signals(-status).name if -status in signal.valid_signals() else str(-status)
        return f'stopped the interpreter (signal {name})'
    if status is not None and status >= 128 and status - 128 in signal.valid_signals():
        return f'stopped the interpreter (signal {signal.Signals(status - 128).name})'
    return f'ended the interpreter (exit status {status})'


def run_plan(sandbox, slot, stage, plan, budget_seconds, limits=None):
    """Attempts until the notebook completes, the budget is spent or the channel is forged."""
    limits = limits or sandbox.limits
    result = Execution()
    started = time.monotonic()
    deadline = started + budget_seconds
    skip = {}
    code_cells = len(plan['cells'])
    budget = None if plan.get('reference') else ReportBudget()      # shared by all attempts
    while result.attempts <= code_cells:
        if time.monotonic() >= deadline:
            result.budget_spent = True
            break
        scratch = sandbox.prepare_scratch(slot)
        try:
            attempt_plan = dict(plan, skip=sorted(skip), workdir=sandbox.work_dir(scratch or ''))
            attempt = run_attempt(sandbox.harness_command(slot, stage), sandbox.environment(scratch, plan.get('env')),
                                  scratch or '/', attempt_plan, limits, deadline, budget)
        finally:
            sandbox.cleanup(slot, scratch)
        result.attempts += 1
        for key, count in attempt.events.items():
            result.events[key] = max(result.events.get(key, 0), count)
        for index, run in attempt.cells.items():
            if run.finished and index not in result.cells:
                result.cells[index] = run
        for key, seeded in attempt.seeded.items():
            result.seeded.setdefault(key, seeded)
        result.info = result.info or attempt.info
        if not result.stdout and not result.stderr:
            result.stdout, result.stderr = attempt.stdout, attempt.stderr
        if attempt.done:
            result.complete = True
            break
        if attempt.tampered:
            result.tampered = attempt.tampered
            break
        if attempt.killed == 'budget':
            result.budget_spent = True
            break
        if not attempt.ready:
            result.harness_failed = (f'the harness did not start ({attempt.killed or death(attempt, limits)}): '
                                     f'{attempt.stderr.decode(errors="replace")[-800:]}')
            break
        if attempt.current is None:        # died between cells: blame the last one begun
            begun = [i for i in attempt.cells]
            attempt.current = begun[-1] if begun else plan['cells'][0]['index']
        skip[attempt.current] = death(attempt, limits)
        result.cells.pop(attempt.current, None)
    result.skipped = skip
    result.seconds = time.monotonic() - started
    return result
