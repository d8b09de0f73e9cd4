"""Where student code runs: a fresh bubblewrap sandbox per run, with limits set from outside.

The sandbox sees a read-only /usr, the Python installation and its site-packages, the
harness (/harness) and the staged chapter folder (/course: checks.py and the minimx of
earlier chapters), plus a private, size-capped /tmp. No network, no other processes, no
repository, gradebook or other submission. As root, bubblewrap drops the process to an
unprivileged uid of its own per worker slot, so the process limit counts only that
sandbox's processes; `prlimit` sets memory, CPU, file-size, process and file limits before
bubblewrap starts, and everything inherits them. The grader kills the whole tree with
SIGKILL at the end (bubblewrap's PID namespace dies with its first process).

Where bubblewrap is missing the grader still runs, loudly: same limits, a private working
folder and (as root) an unprivileged uid, but the student's code can read this machine.
"""
import fcntl
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from core.chapters import CELL_TIMEOUT, SUBMISSION_SECONDS
from core.environment import DETERMINISTIC_ENV

HARNESS = Path(__file__).resolve().parent / 'harness'
SLOT_UID_BASE = 61000          # uids 61000.. are unused on Debian (system users stop at 999)
# A run holds one slot of this machine for as long as it runs: a lock on one file of this
# folder, shared by every grader and every cluster worker here, so no two sandboxes ever run
# as the same uid (and cleaning up a slot's processes can only hit its own).
SLOT_LOCKS = Path('/tmp/minimx-grading-slots')
SLOTS = 512
WARNING = """\
WARNING: NO SANDBOX. bubblewrap (bwrap) is not usable here, so student code runs with
only resource limits and a private working folder: it can read files on this machine and
use the network{as_you}. Install bubblewrap (Debian: apt-get install bubblewrap) before
grading a real class."""


@dataclass(frozen=True)
class Limits:
    """Hard limits for one submission. Time per cell is CPU time (reproducible under load);
    wall time per cell is twice that, to stop sleeps and waits."""
    cell_seconds: float = CELL_TIMEOUT
    submission_seconds: float = SUBMISSION_SECONDS
    memory_mb: int = 3072
    processes: int = 64
    file_mb: int = 64
    tmp_mb: int = 256
    output_kept_kb: int = 64
    output_max_mb: int = 16

    @property
    def cell_wall_seconds(self):
        return 2 * self.cell_seconds

    def describe(self):
        return asdict(self)


def _python_paths():
    """The interpreter, its prefix and the import path a clean run of it needs."""
    python = os.path.realpath(sys.executable)
    roots = {os.path.realpath(sys.base_prefix)}
    for key in ('purelib', 'platlib'):
        roots.add(os.path.realpath(sysconfig.get_paths()[key]))
    path = []
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ''
        if real and os.path.isdir(real) and any(real == r or real.startswith(r + os.sep) for r in roots) \
                and real not in path:
            path.append(real)
    roots.add(os.path.dirname(os.path.dirname(python)))
    return python, sorted(roots), path


class Sandbox:
    """Builds the command that runs the harness for one worker slot."""

    def __init__(self, mode, limits, read_only=(), harness=HARNESS):
        self.mode, self.limits, self.harness = mode, limits, Path(harness)
        self.python, self.roots, self.python_path = _python_paths()
        self.read_only = [str(p) for p in read_only if Path(p).exists()]
        self.root = os.geteuid() == 0
        self.drop = self.root and bool(shutil.which('setpriv'))   # run as a slot uid, not root
        # The grader's tools by absolute path: the sandbox's own PATH must not choose them.
        self.tools = {name: shutil.which(name) or name for name in ('prlimit', 'bwrap', 'setpriv')}

    @classmethod
    def detect(cls, requested, limits, read_only=(), harness=HARNESS):
        """'auto' uses bubblewrap when it works here; 'bwrap' insists; 'none' skips it."""
        if not shutil.which('prlimit'):
            raise SystemExit('error: prlimit (Debian package util-linux) is needed to limit student code')
        if requested != 'none' and shutil.which('bwrap'):
            mode = 'bwrap' if os.geteuid() == 0 and shutil.which('setpriv') else 'bwrap-userns'
            box = cls(mode, limits, read_only, harness)
            problem = box.probe()
            if not problem:
                return box
            if requested == 'bwrap':
                raise SystemExit(f'error: bubblewrap does not work here: {problem}')
        elif requested == 'bwrap':
            raise SystemExit('error: --sandbox bwrap, but bwrap is not installed')
        box = cls('none', limits, read_only, harness)
        if box.drop and box.probe():
            box.drop = False       # the slot uid cannot read this Python (e.g. under /root)
        return box

    @property
    def isolated(self):
        return self.mode != 'none'

    def warning(self):
        as_you = '' if self.drop else ', and it runs as you: it can signal your processes'
        return WARNING.format(as_you=as_you)

    def probe(self):
        """None if a contained interpreter starts and imports numpy, else what went wrong."""
        with tempfile.TemporaryDirectory(prefix='probe-') as stage, claimed_slot() as slot:
            os.chmod(stage, 0o755)
            code = 'import sys; sys.path[:] = %r; import numpy' % (self.python_path,)
            command = self.command(slot, stage, [self.python, '-S', '-s', '-B', '-c', code])
            try:
                result = subprocess.run(command, env=self.environment(), capture_output=True,
                                        text=True, timeout=60, start_new_session=True)
            except (OSError, subprocess.TimeoutExpired) as err:
                return str(err)
            return None if result.returncode == 0 else (result.stderr.strip()[-500:] or f'exit {result.returncode}')

    # -- paths the harness sees ---------------------------------------------------------------
    def harness_dir(self):
        return '/harness' if self.isolated else str(self.harness)

    def stage_dir(self, stage):
        return '/course' if self.isolated else str(stage)

    def work_dir(self, scratch):
        return '/tmp/work' if self.isolated else os.path.join(scratch, 'work')

    def readable_prefixes(self, stage):
        """Reads under these are routine (imports, data), not worth an instructor's look."""
        return [*self.roots, self.stage_dir(stage), self.harness_dir(), *self.read_only, '/usr', '/dev/null']

    # -- the command ---------------------------------------------------------------------------
    def slot_uid(self, slot):
        return SLOT_UID_BASE + slot

    def environment(self, scratch=None, chapter_env=None):
        """The run's whole environment: nothing inherited but the data location, plus the
        chapter's own grading settings (`chapter_env`, from the plan: see Chapter.grading)."""
        home = '/tmp' if self.isolated else scratch or tempfile.gettempdir()
        env = dict(DETERMINISTIC_ENV, PATH='/usr/bin:/bin', HOME=home, TMPDIR=home, LANG='C.UTF-8',
                   LC_ALL='C.UTF-8', MPLBACKEND='Agg', MPLCONFIGDIR=os.path.join(home, 'matplotlib'),
                   PYTHONDONTWRITEBYTECODE='1', PYTHONIOENCODING='utf-8')
        if os.environ.get('FASHION_MNIST'):
            env['FASHION_MNIST'] = os.environ['FASHION_MNIST']
        env.update(chapter_env or {})
        return env

    def _rlimits(self):
        lim = self.limits
        processes = lim.processes
        if self.mode == 'bwrap-userns' or (self.mode == 'none' and not self.root):
            # The process limit counts every process of the real user: leave room for the
            # ones this user already runs.
            import psutil
            mine = sum(1 for p in psutil.process_iter(['uids']) if p.info['uids'] and p.info['uids'].real == os.getuid())
            processes += mine
        cpu = int(lim.submission_seconds) + 5
        return [self.tools['prlimit'], f'--as={lim.memory_mb << 20}', f'--cpu={cpu}', f'--fsize={lim.file_mb << 20}',
                f'--nproc={processes}', '--nofile=256', '--core=0', '--']

    def _drop_privileges(self, slot):
        uid = self.slot_uid(slot)
        return [self.tools['setpriv'], f'--reuid={uid}', f'--regid={uid}', '--clear-groups', '--no-new-privs',
                '--bounding-set=-all', '--inh-caps=-all', '--pdeathsig=KILL', '--']

    def _mounts(self, stage):
        args, made = [], set()

        def parents(path):
            for parent in reversed(Path(path).parents):
                p = str(parent)
                if p != '/' and p not in made and not any(p == m or p.startswith(m + '/') for m in bound):
                    args.extend(['--perms', '0755', '--dir', p])
                    made.add(p)

        bound = ['/usr']
        args += ['--ro-bind', '/usr', '/usr']
        # The private /tmp first: a Python or venv that lives under /tmp (a CI checkout, say)
        # is then bound on top of it instead of being hidden by it.
        args += ['--perms', '1777', '--size', str(self.limits.tmp_mb << 20), '--tmpfs', '/tmp']
        made.add('/tmp')                    # exists now, world-writable: never re-create it
        for name in ('bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'):
            host = Path('/', name)
            if host.is_symlink():
                args += ['--symlink', os.readlink(host), str(host)]
            elif host.is_dir():
                args += ['--ro-bind', str(host), str(host)]
                bound.append(str(host))
        for path in [*self.roots, *self.python_path, *self.read_only]:
            if not any(path == b or path.startswith(b + '/') for b in bound):
                parents(path)
                args += ['--ro-bind', path, path]
                bound.append(path)
        args += ['--ro-bind', str(self.harness), '/harness', '--ro-bind', str(stage), '/course']
        args += ['--proc', '/proc', '--dev', '/dev', '--chdir', '/tmp']
        return args

    def command(self, slot, stage, program):
        """The argv that runs `program` (a list) contained, for worker `slot`."""
        if self.mode == 'none':
            # No PID namespace to die with: at least the interpreter dies with the grader.
            drop = self._drop_privileges(slot) if self.drop else \
                [self.tools['setpriv'], '--pdeathsig=KILL', '--'] if shutil.which('setpriv') else []
            return [*self._rlimits(), *drop, *program]
        namespaces = ['--unshare-ipc', '--unshare-pid', '--unshare-net', '--unshare-uts',
                      '--unshare-cgroup-try', '--die-with-parent', '--new-session']
        if self.mode == 'bwrap':
            return [*self._rlimits(), self.tools['bwrap'], *namespaces, *self._mounts(stage),
                    '--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID', '--',
                    *self._drop_privileges(slot), *program]
        return [*self._rlimits(), self.tools['bwrap'], *namespaces, '--unshare-user', '--uid', '65534', '--gid', '65534',
                *self._mounts(stage), '--', *program]

    def harness_command(self, slot, stage):
        return self.command(slot, stage, [self.python, '-S', '-s', '-B',
                                          os.path.join(self.harness_dir(), 'run_notebook.py')])

    def prepare_scratch(self, slot):
        """A private working folder for an unsandboxed run (None when sandboxed: /tmp is)."""
        if self.isolated:
            return None
        scratch = tempfile.mkdtemp(prefix=f'grading-slot{slot}-')
        if self.drop:
            uid = self.slot_uid(slot)
            os.chown(scratch, uid, uid)
        os.chmod(scratch, 0o700)
        return scratch

    def cleanup(self, slot, scratch):
        """After a run: no process of the slot may survive; the scratch folder goes."""
        if not self.isolated and self.drop:
            import psutil
            uid = self.slot_uid(slot)
            for proc in psutil.process_iter(['uids']):
                if proc.info['uids'] and proc.info['uids'].real == uid:
                    try:
                        proc.kill()
                    except psutil.Error:
                        pass
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def claimed_slot():
    """A slot number no other run on this machine holds until the block ends (see SLOT_LOCKS)."""
    if not SLOT_LOCKS.is_dir():
        SLOT_LOCKS.mkdir(exist_ok=True)
        os.chmod(SLOT_LOCKS, 0o1777)        # every grader of this machine, whoever runs it
    owner = os.lstat(SLOT_LOCKS)
    if os.path.islink(SLOT_LOCKS) or owner.st_uid not in (0, os.geteuid()) or \
            (owner.st_mode & 0o002 and not owner.st_mode & 0o1000):
        # Whoever owns the folder (or anyone, without the sticky bit) can swap lock files.
        raise RuntimeError(f'{SLOT_LOCKS} belongs to uid {owner.st_uid} or is not sticky: '
                           'remove it and grade again')
    for slot in range(SLOTS):
        try:
            fd = os.open(SLOT_LOCKS / str(slot), os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError:
            continue                        # a symlink, or a file we may not open
        if os.fstat(fd).st_uid not in (0, os.geteuid()):
            # Its owner (a slot uid of an unsandboxed run, say) can unlink it while we hold
            # its lock; the next grader would then lock a new file of the same slot.
            os.close(fd)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        try:
            yield slot
        finally:
            os.close(fd)                    # closing releases the lock, also when the process dies
        return
    raise RuntimeError(f'all {SLOTS} sandbox slots of this machine are in use ({SLOT_LOCKS})')
