"""The Gradescope autograder's runtime: one submission, graded by `./course grade`'s own code.

run_autograder (autograder/gradescope_scripts/) runs this as root, after making
/autograder/source root's alone. It

1. refuses unless the source is private (owned by root, no group or other permissions);
2. lays out the working folder the grader and its sandbox need (below);
3. finds a sandbox (Sandbox.detect): bubblewrap if it works in this container, else
   `--sandbox none` with the student's code run as an unprivileged slot uid; if it can do
   neither it refuses, and no student code runs;
4. grades the one submission with autograder.grade.grade(), skipping nbgrader's gradebook, in
   a store of its own with the zip's key (grading-key.json): the reference runs here, in the
   container, for this submission's hidden cases;
5. writes /autograder/results/results.json from the submission's state.json: one test per test
   cell with its score, max_score and the local feedback page's text, and the page's message
   and notes; the instructor's details (attention notes, grader trouble) go to stdout only.

The working folder, /tmp/minimx-gradescope-XXXX, may be traversed but not listed by others:
  course/        a world-readable copy of the grader's code, because in `--sandbox none` the
                 slot uid reads the harness from there; solutions/checks.py is a copy, the
                 notebooks (solutions/chNN/, book/) are symbolic links into the private source
  grading/       COURSE_GRADING, the store: its key, the reference records, the submission's
                 state and the reports are root's alone; only the staged chapter folder
                 (checks.py, the minimx of earlier chapters) is readable
  submissions/   the one-student folder grade() reads, root's alone

results.json follows Gradescope's "Autograder Specifications"
(gradescope-autograders.readthedocs.io/en/latest/specs/): top-level score, execution_time,
output and stdout_visibility; tests with name, score, max_score, output and visibility. The
student id is the submission's id from /autograder/submission_metadata.json (its "id"; else
its first user's "id"; see .../submission_metadata/), else "student".

This file imports only the standard library at the top, so that it can always say why it did
not grade.
"""
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent
STUDENT_ID = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,63}')       # as autograder/intake.py
NOT_GRADED = 'This submission was not graded: {why} Your instructor has been told.'
SMALL_PRINT = 'Hidden tests ran on inputs drawn for this grading run; their inputs and expected values are not shown.'


class Refusal(Exception):
    """Grading here would expose the source or run the student's code unprotected."""


class NotGradable(Exception):
    """The submission itself cannot be graded (the student's problem, said to the student)."""


def write_results(root, results):
    folder = Path(root) / 'results'
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f'.results.json.{os.getpid()}.tmp'
    tmp.write_text(json.dumps(results, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    os.replace(tmp, folder / 'results.json')


def not_graded(why, tests=()):
    """A score of 0 that says why, with each test at 0 of its points."""
    return {'score': 0.0, 'output': NOT_GRADED.format(why=why), 'stdout_visibility': 'hidden',
            'tests': [{'name': c.grade_id, 'score': 0.0, 'max_score': c.points, 'visibility': 'visible'}
                      for c in tests]}


def private_problem(source):
    """None if every file under `source` is ours alone, else the first that is not."""
    me = os.geteuid()
    for folder, dirs, files in os.walk(source):
        for path in [folder, *(os.path.join(folder, name) for name in dirs + files)]:
            info = os.lstat(path)
            if info.st_uid != me or info.st_mode & 0o077:
                return f'{path} is readable by others (mode {info.st_mode & 0o777:o}, owner {info.st_uid})'
    return None


def student_id(root):
    """The submission's id from Gradescope's metadata (else its first user's), else 'student'."""
    try:
        meta = json.loads((Path(root) / 'submission_metadata.json').read_text(encoding='utf-8'))
    except (OSError, ValueError):
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    users = meta.get('users') if isinstance(meta.get('users'), list) else []
    for candidate in [meta.get('id'), *(u.get('id') for u in users if isinstance(u, dict))]:
        if isinstance(candidate, (int, str)) and not isinstance(candidate, bool) \
                and STUDENT_ID.fullmatch(str(candidate)):
            return str(candidate)
    return 'student'


def public_copy(source, dest):
    """The Python files under `source`, readable by everyone, under `dest`."""
    for path in sorted(source.rglob('*.py')):
        if '__pycache__' not in path.parts:
            target = dest / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)          # not the private mode bits: the umask's


def lay_out(work, chapter_id, key_hex):
    """The working folder (see the module's docstring); returns (course, grading, submissions)."""
    course, grading, submissions = work / 'course', work / 'grading', work / 'submissions'
    for package in ('autograder', 'core'):
        public_copy(SOURCE / package, course / package)
    (course / 'solutions').mkdir()
    shutil.copyfile(SOURCE / 'solutions' / 'checks.py', course / 'solutions' / 'checks.py')
    for folder in sorted((SOURCE / 'solutions').iterdir()):
        if folder.is_dir():
            os.symlink(folder, course / 'solutions' / folder.name)
    os.symlink(SOURCE / 'book', course / 'book')
    store = grading / 'store' / chapter_id
    store.mkdir(parents=True)
    for folder in (work, grading, grading / 'store', store):
        os.chmod(folder, 0o711)                    # the staged folder inside must be reachable
    for folder in (store / 'reference', store / 'submissions', grading / 'reports', submissions):
        folder.mkdir(mode=0o700)
    fd = os.open(store / 'seed-key.json', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as f:
        json.dump({'key': key_hex}, f)
    return course, grading, submissions


def take_submission(root, folder, limit):
    """Copy the regular .ipynb files of /autograder/submission (never through a symbolic link)
    into `folder`; the grader's intake then picks and checks the notebook."""
    folder.mkdir(mode=0o700)
    given = Path(root) / 'submission'
    for entry in sorted(os.scandir(given), key=lambda e: e.name) if given.is_dir() else []:
        if not entry.name.endswith('.ipynb') or not entry.is_file(follow_symlinks=False):
            continue
        size = entry.stat(follow_symlinks=False).st_size
        if size > limit:
            raise NotGradable(f'the notebook {entry.name[:100]!r} is {size / 2**20:.0f} MB; the limit is '
                              f'{limit >> 20} MB (clear large outputs and resubmit).')
        fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, 'rb') as f:
            (folder / entry.name).write_bytes(f.read(limit + 1))


def choose_sandbox(Sandbox, Limits, datasets):
    """Bubblewrap, or no sandbox with the code run as a slot uid; Refusal if neither works."""
    requested = os.environ.get('GRADESCOPE_SANDBOX', 'auto')       # the tests force 'none'
    read_only = datasets + ([os.environ['FASHION_MNIST']] if os.environ.get('FASHION_MNIST') else [])
    try:
        box = Sandbox.detect(requested if requested in ('auto', 'bwrap', 'none') else 'auto', Limits(), read_only)
    except SystemExit as err:
        raise Refusal(f'no usable sandbox ({err})') from None
    if not box.isolated and not box.drop:
        raise Refusal('bubblewrap does not work in this container, and the student\'s code cannot be run as an '
                      'unprivileged user either (the autograder must run as root, with setpriv from util-linux, '
                      'and the grader\'s Python must be readable by other users: see setup.sh).')
    return box


def results_of(ch, tests, state):
    """results.json of a submission's state: what its local feedback page shows, no more."""
    from autograder.report import STATUS_WORDS, total
    from autograder.safe_text import safe_text

    scores, feedback = state.get('scores') or {}, state.get('feedback') or {}
    maximum = sum(c.points for c in tests)
    status = state['status']
    lines = [f'{ch.id} ({ch.name}): {STATUS_WORDS.get(status, status)}. Score: {total(state):g} / {maximum:g}']
    if state.get('message') and status != 'infra_error':          # grader trouble is the instructor's
        lines.append(state['message'])
    if state.get('notes'):
        lines += ['', 'Notes:', *(f'- {note}' for note in state['notes'][:30])]
    lines += ['', SMALL_PRINT]
    return {'score': float(total(state)), 'output': safe_text('\n'.join(lines)), 'stdout_visibility': 'hidden',
            'tests': [{'name': c.grade_id, 'score': float(scores.get(c.grade_id, 0.0)), 'max_score': c.points,
                       'output': safe_text(feedback.get(c.grade_id, '')), 'visibility': 'visible'}
                      for c in tests]}


def log(started, what):
    print(f'[{time.monotonic() - started:5.1f} s] {what}', flush=True)


def grade_submission(root, started):
    """results.json for /autograder/submission (see the module's docstring)."""
    problem = private_problem(SOURCE)
    if problem:
        raise Refusal(f'the autograder\'s files are not private: {problem}.')
    config = json.loads((SOURCE / 'gradescope.json').read_text(encoding='utf-8'))
    key_hex = json.loads((SOURCE / 'grading-key.json').read_text(encoding='utf-8'))['key']
    if not re.fullmatch(r'ch\d\d', str(config.get('chapter'))) or not re.fullmatch(r'[0-9a-f]{64}', key_hex):
        raise Refusal('gradescope.json or grading-key.json is malformed; rebuild the zip with ./course gradescope.')
    os.umask(0o022)
    work = Path(tempfile.mkdtemp(prefix='minimx-gradescope-'))
    try:
        course, grading, submissions = lay_out(work, config['chapter'], key_hex)
        os.environ['COURSE_GRADING'] = str(grading)                # read when core.chapters is imported
        sys.path[:0] = [str(course)]
        from autograder.grade import DATASETS, grade
        from autograder.notebook import MAX_NOTEBOOK_BYTES, read_instructor
        from autograder.sandbox import Limits, Sandbox
        from autograder.store import Store
        from core.chapters import chapter
        from core.environment import pin_environment

        pin_environment()
        ch = chapter(config['chapter'])
        tests = [c for c in read_instructor(ch.source) if c.is_test]
        log(started, f'grader loaded from {course}')
        box = choose_sandbox(Sandbox, Limits, DATASETS)
        student = student_id(root)
        try:
            take_submission(root, submissions / student, MAX_NOTEBOOK_BYTES)
        except NotGradable as err:
            return {**not_graded(str(err), tests), 'output': f'This submission was not graded: {err}'}
        log(started, f'grading submission {student} of {ch.id}, sandbox: {box.mode}'
            + ('' if box.isolated else ' (code runs as an unprivileged uid)'))
        try:
            grade(submissions, ch.id, jobs=1, sandbox=box, record_gradebook=False)
        except SystemExit as err:
            print(f'error: the grader stopped: {err}', flush=True)
        log(started, 'graded')
        state = Store(ch).state(student)
        if not state:
            raise RuntimeError('the grader recorded no state for the submission')
        print(f'{state["status"]}: {state.get("message", "")}', flush=True)
        for note in state.get('attention') or []:
            print(f'  attention: {note}', flush=True)
        if state.get('timing'):
            print(f'  timing: {json.dumps(state["timing"])[:2000]}', flush=True)
        return results_of(ch, tests, state)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv):
    root = Path(argv[1] if len(argv) > 1 else os.environ.get('AUTOGRADER_ROOT', '/autograder'))
    started = time.monotonic()
    try:
        results = grade_submission(root, started)
    except Refusal as err:
        print(f'REFUSED TO GRADE: {err}', flush=True)
        results = not_graded(f'the autograder refused to run it here, and none of its code ran: {err}')
    except (Exception, SystemExit) as err:          # SystemExit: the grader's own clear errors
        traceback.print_exc(file=sys.stdout)
        print(f'error: the autograder failed: {type(err).__name__}: {err}', flush=True)
        results = not_graded('the autograder failed (a problem of the grader, not of your notebook).')
    results['execution_time'] = round(time.monotonic() - started)
    write_results(root, results)
    print(f'results.json written: {results["score"]:g} points in {results["execution_time"]} s', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
