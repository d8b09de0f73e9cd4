"""The grader's working store, `_grading/store/chNN/` (never committed).

One folder per submission holds the intake copy of the notebook and `state.json`, the
submission's one source of truth: its hash and a status that moves pending -> running ->
graded | student_error | infra_error, with scores and messages. Every write goes to a
temporary file and is then renamed over the old one, so a `kill -9` at any moment leaves
either the old state or the new one; a rerun regrades whatever is not final for the same
notebook, grader and seed, and leaves the rest alone.
"""
import fcntl
import hashlib
import json
import os
import secrets
from pathlib import Path

from autograder.safe_text import safe_text, safe_value
from core.chapters import GRADING

FINAL = ('graded', 'student_error')          # infra_error is retried by the next run
STATUSES = ('pending', 'running', 'graded', 'student_error', 'infra_error')


def write_atomically(path, data):
    """Write bytes or text so that readers see the old file or the new one, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp')
    with open(tmp, 'wb') as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path, value):
    """JSON, readable UTF-8 where it can be; text that UTF-8 cannot hold (a lone surrogate
    from a submission) is written as a JSON escape instead, so it reads back unchanged."""
    text = json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + '\n'
    try:
        data = text.encode()
    except UnicodeEncodeError:
        data = (json.dumps(value, indent=1, sort_keys=True) + '\n').encode()
    write_atomically(path, data)


def read_json(path, default=None):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Store:
    def __init__(self, ch, root=None):
        self.ch = ch
        self.root = Path(root or GRADING) / 'store' / ch.id
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = None

    def lock(self):
        """One grading run per chapter at a time (the lock dies with the process)."""
        self._lock = open(self.root / '.lock', 'w')
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SystemExit(f'error: another `./course grade` is grading {self.ch.id} right now') from None

    def secret(self, requested=None):
        """The key from which every submission's hidden-case seed is derived (a keyed hash of
        the student id and the notebook, see Assignment.seed_for). Made once at random and kept
        in the store, readable by the grader only, so reruns agree and nobody can compute
        another student's cases; `--seed N` derives it from N instead (a reproducible re-grade)."""
        path = self.root / 'seed-key.json'
        stored = read_json(path, {})
        if requested is not None:
            wanted = hashlib.sha256(f'minimx course seed {int(requested)}'.encode()).hexdigest()
            if stored.get('key') != wanted:
                stored = {'key': wanted}
                write_json(path, stored)
        if not isinstance(stored.get('key'), str) or len(stored['key']) != 64:
            stored = {'key': secrets.token_hex(32)}
            write_json(path, stored)
        os.chmod(path, 0o600)
        return bytes.fromhex(stored['key'])

    def folder(self, key):
        return self.root / 'submissions' / key

    def state(self, key):
        return read_json(self.folder(key) / 'state.json')

    def save(self, state):
        """Write a submission's state; its text is made safe first (in place, so the reports
        of this run and of a rerun show the same)."""
        assert state['status'] in STATUSES, state['status']
        state.update(safe_value(state))
        write_json(self.folder(state['key']) / 'state.json', state)

    def save_safely(self, state):
        """save(), and if that fails (a value JSON cannot hold, a grader bug), an infra_error
        state of plain text in its place: a rerun then grades the submission again. Raises
        only if the store itself cannot be written."""
        try:
            return self.save(state)
        except OSError:
            raise
        except Exception as err:
            problem = (f'the grader could not save this submission\'s result '
                       f'({type(err).__name__}: {safe_text(err, 300)})')
        fallback = {k: None if state.get(k) is None else safe_text(state[k], 200)
                    for k in ('key', 'student', 'sha256', 'notebook', 'grader')}
        fallback.update(valid_id=state.get('valid_id') is True, status='infra_error', message=problem,
                        files=[], notes=[], attention=[problem], scores={}, feedback={})
        state.clear()
        state.update(fallback)
        write_json(self.folder(state['key']) / 'state.json', state)

    def keep_copy(self, key, data, files=None):
        """The intake copy of the notebook (and of allow-listed files beside it)."""
        for name, content in (files or {}).items():
            write_atomically(self.folder(key) / 'files' / name, content)
        write_atomically(self.folder(key) / 'submitted.ipynb', data)

    def copy_of(self, key):
        return (self.folder(key) / 'submitted.ipynb').read_bytes()

    def files_of(self, key, names):
        return {name: (self.folder(key) / 'files' / name).read_bytes() for name in names}

    def reference_dir(self, fingerprint):
        """Cached reference records of one grader fingerprint: main.json (what every run shares),
        seeds/<seed>.json (the hidden parts' records for one submission's cases), validated.json."""
        return self.root / 'reference' / fingerprint

    def stage_dir(self):
        return self.root / 'stage'
