"""The part of grading that runs on a worker: one sandboxed run of one plan.

A worker, a thread of this process or a Dask worker on another machine (autograder/cluster.py),
gets a *task*: the plan of one run and the *bundle*, the files its sandbox mounts (the harness,
checks.py and the minimx of earlier chapters). It returns what the run reported, an
execution.Execution. A student run's plan holds that submission's answer cells and the student
edition of the tests (never an expected value); the worker never sees the store, the grading
key, the reference answers or the reference records, because verdicts are reached by the
coordinating process (autograder/grade.py). Reference runs use the same function but only on
the coordinating machine, since their plans hold the answers.

A worker sandboxes the way the coordinator asked: with `--sandbox none` it may run without
bubblewrap; otherwise a worker without a working bubblewrap refuses the task.
"""
import hashlib
import os
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from autograder import execution
from autograder.sandbox import HARNESS, Limits, Sandbox, claimed_slot



class WorkerRefused(RuntimeError):
    """This worker cannot run the task as the coordinator asked (no sandbox, say)."""


@dataclass(frozen=True)
class Bundle:
    """The files a run's sandbox mounts, as bytes: 'harness/...' and 'stage/...' paths."""
    files: tuple                       # ((relative path, bytes), ...), sorted
    digest: str

    @classmethod
    def of(cls, stage):
        files = []
        for prefix, root in (('harness', HARNESS), ('stage', Path(stage))):
            for path in sorted(root.rglob('*')):
                if path.is_file() and '__pycache__' not in path.parts:
                    files.append((f'{prefix}/{path.relative_to(root).as_posix()}', path.read_bytes()))
        digest = hashlib.sha256(b''.join(name.encode() + b'\0' + hashlib.sha256(data).digest()
                                         for name, data in files)).hexdigest()[:20]
        return cls(tuple(files), digest)

    def unpacked(self):
        """(harness folder, stage folder) of this bundle on this machine, written once per digest.
        Folders are world-readable and read-only: an unprivileged sandbox uid reads them. They
        live in the temporary folder ($TMPDIR), one per digest, so a batch unpacks each once."""
        bundles = Path(tempfile.gettempdir()) / 'minimx-grading-bundles'
        if not bundles.is_dir():
            bundles.mkdir(parents=True, exist_ok=True)
            os.chmod(bundles, 0o755)            # the sandbox's unprivileged uid reads below it
        if not only_ours(bundles):
            # Someone else made this folder (the digest is public: they could have planted a
            # harness or checks.py under it). Unpack where nobody else writes.
            bundles = private_bundles()
        folder = bundles / self.digest
        if not folder.is_dir():
            partial = Path(tempfile.mkdtemp(prefix=f'.{self.digest}-', dir=bundles))
            for name, data in self.files:
                path = partial / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                path.chmod(0o444)
            for sub in (partial, *[p for p in partial.rglob('*') if p.is_dir()]):
                sub.chmod(0o755)
            (partial / 'harness').mkdir(exist_ok=True)
            (partial / 'stage').mkdir(exist_ok=True)
            try:
                partial.rename(folder)      # atomic: a concurrent worker's copy is as good
            except OSError:
                shutil.rmtree(partial, ignore_errors=True)
        return folder / 'harness', folder / 'stage'


def only_ours(folder):
    """True if `folder` is a real folder that only this user (and root) can write to."""
    info = os.lstat(folder)
    return (os.path.isdir(folder) and not os.path.islink(folder)
            and info.st_uid == os.geteuid() and not info.st_mode & 0o022)


_private = []


def private_bundles():
    """A bundle folder of this process alone, made once."""
    with _lock:
        if not _private:
            _private.append(Path(tempfile.mkdtemp(prefix='minimx-grading-bundles-')))
            os.chmod(_private[0], 0o755)
        return _private[0]


@dataclass
class Task:
    """One run: what the coordinator sends a worker."""
    name: str                          # the submission's store key ('reference' for reference runs)
    plan: dict
    budget_seconds: float
    limits: Limits
    sandbox: str                       # the mode the coordinator asked for: 'auto', 'bwrap' or 'none'
    read_only: list = field(default_factory=list)   # data folders the sandbox may read (datasets)


_sandboxes = {}
_lock = threading.Lock()


def sandbox_for(task, harness):
    """The sandbox this machine gives the task, probed once per process and settings."""
    key = (task.sandbox, task.limits, tuple(task.read_only), str(harness))
    with _lock:
        if key not in _sandboxes:
            try:
                _sandboxes[key] = Sandbox.detect(task.sandbox, task.limits, task.read_only, harness)
            except SystemExit as err:
                _sandboxes[key] = WorkerRefused(f'{where()}: {err}'.replace('error: ', ''))
        box = _sandboxes[key]
    if isinstance(box, WorkerRefused):
        raise box
    return box


def where():
    """This worker's name: its Dask address, or the host for the coordinator's own pool."""
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return f'{socket.gethostname()} (local)'


def run_task(task, bundle):
    """Run one task in a sandbox of this machine; the Execution, with where it ran in `info`."""
    harness, stage = bundle.unpacked()
    box = sandbox_for(task, harness)
    plan = dict(task.plan, sys_path=[box.stage_dir(stage), *box.python_path], read_ok=box.readable_prefixes(stage))
    with claimed_slot() as slot:
        result = execution.run_plan(box, slot, stage, plan, task.budget_seconds, task.limits)
    result.info = dict(result.info, worker=where(), sandbox=box.mode)
    return result


def unchanged(value):
    """A task that hands a cluster one value every run depends on (see cluster.DaskPool.run)."""
    return value
