"""Intake: find each student's notebook, validate it, copy and hash it, record it pending.

Runs for the whole batch before any student code does. The submission folder is treated
as hostile: a student folder or notebook that is a symbolic link is refused (it could point
at the instructor's files or another student's), nothing is followed or extracted, other
files beside the notebook are listed and ignored (the sandbox only ever sees the grader's
own checks.py and minimx), and a bad file is that student's error only.
"""
import os
import re
import stat
from pathlib import Path

from autograder import notebook as rules
from autograder.notebook import MAX_NOTEBOOK_BYTES, SubmissionError, lone_notebook, parse, printable  # noqa: F401
from autograder.store import FINAL, sha256
from core.chapters import chapters

STUDENT_ID = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,63}')      # the whole name (fullmatch)
# Store key of a folder whose name is no student id: a hash behind a "_", which no student
# id starts with, so it can never be some student's key.
INVALID_KEY_PREFIX = '_invalid-'
# Files a student may hand in beside the notebook, per chapter (none so far). They are copied
# into the run's working folder; every other file is listed and ignored.
ALLOWED_BESIDE_NOTEBOOK = {}       # chapter id -> file names, e.g. {'ch08': ('my_net.params',)}
MAX_EXTRA_BYTES = 1 << 20


def new_state(key, student, fingerprint, valid_id=True):
    """A submission's record; `valid_id` says whether `key` is a student id nbgrader may know."""
    return {'key': key, 'student': student, 'valid_id': valid_id, 'status': 'pending', 'message': '',
            'sha256': None, 'notebook': None, 'files': [], 'notes': [], 'attention': [], 'scores': {},
            'feedback': {}, 'grader': fingerprint}


def store_key(name):
    """(key, valid_id) of a student folder called `name`: its name if that is a student id,
    else a hash of it behind INVALID_KEY_PREFIX."""
    if STUDENT_ID.fullmatch(name):
        return name, True
    return INVALID_KEY_PREFIX + sha256(os.fsencode(name))[:12], False


def notebook_chapter(name):
    """The id of the chapter a notebook's file name is for ('ch02_autograd (1).ipynb' -> 'ch02'), or None."""
    return rules.notebook_chapter(name, {ch.id for ch in chapters()})


def pick_notebook(folder, ch):
    """(path, notes) of the student's notebook for `ch`; SubmissionError if there is none."""
    notebooks, links, others = [], [], []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_symlink():
            links.append(printable(entry.name))
        elif entry.name.endswith('.ipynb') and entry.is_file(follow_symlinks=False):
            notebooks.append(entry.name)
        elif entry.name not in ALLOWED_BESIDE_NOTEBOOK.get(ch.id, ()) and not entry.name.startswith('.ipynb_checkpoints'):
            others.append(printable(entry.name) + ('/' if entry.is_dir(follow_symlinks=False) else ''))
    notes = []
    if links:
        notes.append(f'symbolic links are never followed; ignored: {", ".join(links)[:200]}')
    if others:
        notes.append(f'only the notebook is graded; ignored: {", ".join(others)[:200]}')
    wanted = f'{ch.name}.ipynb'
    if wanted in notebooks:
        return Path(folder, wanted), notes
    if len(notebooks) == 1:
        notes += lone_notebook(notebooks[0], ch.id, wanted, {c.id for c in chapters()})
        return Path(folder, notebooks[0]), notes
    if wanted in [printable(n) for n in links]:
        raise SubmissionError(f'{wanted} is a symbolic link; submit the notebook file itself')
    if not notebooks:
        raise SubmissionError(f'no notebook in the submission (expected {wanted})')
    raise SubmissionError(f'{len(notebooks)} notebooks and none named {wanted}: '
                          f'{", ".join(printable(n) for n in notebooks)[:200]}')


def read_regular_file(path, limit):
    """The bytes of a regular file that is not a symlink, refusing files over `limit`."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionError('the notebook is not a regular file')
        if info.st_size > limit:
            raise SubmissionError(f'the notebook is {info.st_size / 2**20:.0f} MB; the limit is '
                                  f'{limit >> 20} MB (clear large outputs and resubmit)')
        with os.fdopen(os.dup(fd), 'rb') as f:
            return f.read(limit + 1)
    finally:
        os.close(fd)


def intake_one(entry, ch, store, fingerprint):
    """The state of one student folder after intake (saved in the store). Never raises: a
    bad submission is that student's error, a failure of the grader's own an infra_error."""
    name = entry.name
    key, valid = store_key(name)
    state = new_state(key, printable(name), fingerprint, valid)
    try:
        if entry.is_symlink():
            raise SubmissionError('the submission folder is a symbolic link')
        if not valid:
            raise SubmissionError('the folder name is not a usable student id (letters, digits, "_", "-", ".", '
                                  'starting with a letter or digit, at most 64)')
        path, state['notes'] = pick_notebook(entry.path, ch)
        data = read_regular_file(path, MAX_NOTEBOOK_BYTES)
        extra = allowed_files(entry.path, ch)
        state['notebook'], state['files'] = printable(path.name), sorted(extra)
        state['sha256'] = sha256(data + b''.join(n.encode() + sha256(b).encode() for n, b in sorted(extra.items())))
        old = store.state(key)
        if old and old.get('sha256') == state['sha256'] and old.get('grader') == fingerprint \
                and old.get('status') in FINAL:
            return old                              # already graded: a rerun changes nothing
        store.keep_copy(key, data, extra)
        store.save(state)                           # recorded before anything runs
        parse(data)                                 # raises SubmissionError only
    except SubmissionError as err:
        state.update(status='student_error', message=str(err))
    except OSError as err:
        state.update(status='student_error', message=f'the submission could not be read ({err.strerror})')
    except Exception as err:                        # a grader bug: this submission only
        state.update(status='infra_error', message=f'intake failed: {type(err).__name__}: {err}'[:2000])
    store.save_safely(state)
    return state


def allowed_files(folder, ch):
    """{name: bytes} of the allow-listed regular files beside the notebook."""
    found = {}
    for name in ALLOWED_BESIDE_NOTEBOOK.get(ch.id, ()):
        path = Path(folder, name)
        if path.is_file() and not path.is_symlink():
            found[name] = read_regular_file(path, MAX_EXTRA_BYTES)
    return found


def intake(submissions, ch, store, fingerprint):
    folders = [e for e in sorted(os.scandir(submissions), key=lambda e: e.name)
               if e.is_dir(follow_symlinks=False) or e.is_symlink()]
    return [intake_one(entry, ch, store, fingerprint) for entry in folders]
