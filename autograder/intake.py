"""Intake: find each student's notebook, validate it, copy and hash it, record it pending.

Runs for the whole batch before any student code does. Every source -- the folder layout
here, the LMS archives of archives.py -- becomes a list of archives.Entry (student id, name,
{file: reader}, refused files, notes, platform facts), and each entry goes through the same
checks in intake_one. The submissions are treated as hostile: a student folder or notebook
that is a symbolic link is refused (it could point at the instructor's files or another
student's), nothing is followed or extracted, other files beside the notebook are listed and
ignored (the sandbox only ever sees the grader's own checks.py and minimx), and a bad file is
that student's error only.
"""
import datetime
import functools
import os
import re
import stat

from autograder import notebook as rules
from autograder.archives import Archive, ArchiveError, Entry
from autograder.archives import entries as archive_entries
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



def folder_entries(submissions):
    """An Entry per folder of the folder layout, SUBMISSIONS/<student>/<files>. Nothing is read
    yet: each file gets a reader that refuses anything but a regular file under the limit."""
    found = []
    for folder in sorted(os.scandir(submissions), key=lambda e: e.name):
        if not (folder.is_dir(follow_symlinks=False) or folder.is_symlink()):
            continue
        entry = Entry(folder.name, printable(folder.name), platform={'platform': 'folder'})
        if folder.is_symlink():
            entry.problem = 'the submission folder is a symbolic link'
        else:
            for item in sorted(os.scandir(folder.path), key=lambda e: e.name):
                if item.is_symlink():
                    entry.refused[item.name] = 'a symbolic link (never followed; submit the file itself)'
                elif item.is_dir(follow_symlinks=False):
                    entry.files[item.name + '/'] = None            # listed as ignored, never read
                else:
                    entry.files[item.name] = functools.partial(read_regular_file, item.path, MAX_NOTEBOOK_BYTES)
        found.append(entry)
    return found


def pick_notebook(entry, ch):
    """(file name, notes) of the entry's notebook for `ch`; SubmissionError if there is none.
    The same rules for every source: the expected name wins, else the one notebook there is."""
    wanted = f'{ch.name}.ipynb'
    allowed = ALLOWED_BESIDE_NOTEBOOK.get(ch.id, ())
    notebooks = sorted(n for n in entry.files if n.endswith('.ipynb'))
    others = sorted(printable(n) for n in entry.files
                    if not n.endswith('.ipynb') and n not in allowed and not n.startswith('.ipynb_checkpoints'))
    notes = []
    if entry.refused:
        notes.append('ignored, not read: ' + ', '.join(f'{printable(n)} ({why})'
                                                       for n, why in sorted(entry.refused.items()))[:300])
    if others:
        notes.append(f'only the notebook is graded; ignored: {", ".join(others)[:200]}')
    if wanted in notebooks:
        extra = [printable(n) for n in notebooks if n != wanted]
        return wanted, notes + ([f'graded {wanted}; other notebooks ignored: {", ".join(extra)[:200]}'] if extra else [])
    if len(notebooks) == 1:
        return notebooks[0], notes + lone_notebook(notebooks[0], ch.id, wanted, {c.id for c in chapters()})
    refused_notebooks = sorted(n for n in entry.refused if n.endswith('.ipynb'))
    if not notebooks and refused_notebooks:
        name = wanted if wanted in entry.refused else refused_notebooks[0]
        raise SubmissionError(f'{printable(name)} was not read: {entry.refused[name]}')
    if not notebooks:
        raise SubmissionError(f'no notebook in the submission (expected {wanted})'
                              + (f'; it holds {", ".join(others)[:200]}, which is not a notebook' if others else ''))
    raise SubmissionError(f'{len(notebooks)} notebooks and none named {wanted}: '
                          f'{", ".join(printable(n) for n in notebooks)[:200]}')


def lateness(platform, deadline):
    """(late, why): True if the platform says so or its timestamp is past the end of the
    deadline's day (local time of the grading machine); None if nothing tells."""
    if platform.get('late'):
        return True, f'late: {platform["platform"].capitalize()} marks this submission late'
    submitted = platform.get('submitted_at')
    if submitted and deadline:
        moment = datetime.datetime.fromisoformat(submitted)
        end = datetime.datetime.combine(deadline + datetime.timedelta(days=1), datetime.time()).astimezone()
        if moment >= end:
            return True, f'late: submitted {submitted}, after the deadline {deadline} (schedule.toml)'
        return False, None
    return (False, None) if platform.get('late') is False else (None, None)


def intake_one(entry, ch, store, fingerprint, deadline=None):
    """The state of one entry (a student's submission) after intake, saved in the store.
    Never raises: a bad submission is that student's error, a failure of the grader's own an
    infra_error."""
    key, valid = store_key(entry.student_id)
    shown = entry.name if entry.name in (entry.student_id, '') or not valid else f'{entry.name} ({entry.student_id})'
    state = new_state(key, printable(shown or entry.student_id), fingerprint, valid)
    state['platform'] = dict(entry.platform)
    state['late'], late_note = lateness(entry.platform, deadline)
    state['notes'] = entry.notes + ([late_note] if late_note else [])
    try:
        if entry.problem:
            raise SubmissionError(entry.problem)
        if not valid:
            raise SubmissionError(f'the {entry.id_source} is not a usable student id (letters, digits, "_", "-", '
                                  f'".", starting with a letter or digit, at most 64)')
        name, notes = pick_notebook(entry, ch)
        state['notes'] += notes
        data = entry.files[name]()
        extra = {n: entry.files[n]() for n in ALLOWED_BESIDE_NOTEBOOK.get(ch.id, ()) if entry.files.get(n)}
        too_big = [n for n, b in extra.items() if len(b) > MAX_EXTRA_BYTES]
        if too_big:
            raise SubmissionError(f'{printable(too_big[0])} is over the limit of {MAX_EXTRA_BYTES >> 20} MB')
        state['notebook'], state['files'] = printable(name), sorted(extra)
        state['sha256'] = sha256(data + b''.join(n.encode() + sha256(b).encode() for n, b in sorted(extra.items())))
        old = store.state(key)
        if old and old.get('sha256') == state['sha256'] and old.get('grader') == fingerprint \
                and old.get('status') in FINAL:
            return refreshed(old, state, store)     # already graded: a rerun changes nothing
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


def refreshed(old, new, store):
    """A final state kept from an earlier run, with this run's platform facts (the same archive
    downloaded again may say more, e.g. a late flag). Its notes are the grading run's, kept
    as they are but for a late note it lacks."""
    facts = {k: new[k] for k in ('platform', 'late')}
    late_notes = [n for n in new['notes'] if n.startswith('late: ') and n not in old.get('notes', [])]
    if late_notes or any(old.get(k) != v for k, v in facts.items()):
        old.update(facts, notes=[n for n in old.get('notes', []) if not n.startswith('late: ')]
                   + [n for n in new['notes'] if n.startswith('late: ')])
        store.save_safely(old)
    return old


def open_submissions(submissions, platform=None):
    """(source, archive or None): `source` is the folder itself or the archive's entries.
    ArchiveError if an archive cannot be read at all; SystemExit if there is nothing to read."""
    if submissions.is_dir():
        if platform not in (None, 'folder'):
            raise ArchiveError(f'{submissions} is a folder; --from {platform} needs the zip the platform wrote')
        return submissions, None
    if not submissions.is_file():
        raise SystemExit(f'error: {submissions} is neither a folder of submissions nor an archive')
    archive = Archive(submissions)
    try:
        found, entries = archive_entries(archive, platform)
    except ArchiveError:
        archive.close()
        raise
    loose = sum(e.student_id.startswith('unmapped file ') for e in entries)
    print(f'{submissions.name}: a {found} archive, {len(entries) - loose} students'
          + (f', {loose} file(s) that map to no student' if loose else ''), flush=True)
    return entries, archive


def intake(submissions, ch, store, fingerprint, deadline=None):
    """Intake of a folder of submissions, or of a list of archives.Entry; one state each."""
    entries = folder_entries(submissions) if isinstance(submissions, (str, os.PathLike)) else submissions
    return [intake_one(entry, ch, store, fingerprint, deadline) for entry in entries]
