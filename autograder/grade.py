"""`./course grade SUBMISSIONS`: autograde a folder of submissions with nbgrader.

SUBMISSIONS holds one folder per student with their notebook inside
(`SUBMISSIONS/alice/ch01_ndarray.ipynb`). Every student ends with a recorded status:
`graded` (scores per exercise) or `student_error` (no readable notebook, or nbgrader could
not grade it), with a message. One broken submission never stops the others.

Results land in `_grading/reports/chNN/`: `grades.csv` (student x exercise) and one HTML
feedback page per graded student.
"""
import csv
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from pipeline.chapters import GRADING, ROOT, chapter, chapters
from pipeline.execute import pin_environment, stage
from pipeline.generate import generate, nbgrader_api

STUDENT_ID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')


@dataclass
class Outcome:
    student: str
    status: str                       # 'graded' or 'student_error'
    message: str = ''
    scores: dict = field(default_factory=dict)    # grade id -> (score, max)

    @property
    def total(self):
        return sum(s for s, _ in self.scores.values())


def find_chapter(submissions, requested=None):
    if requested:
        return chapter(requested)
    names = {p.stem for p in Path(submissions).glob('*/*.ipynb')}
    found = [ch for ch in chapters() if any(n.startswith(ch.id) for n in names)]
    if len(found) != 1:
        raise SystemExit('error: cannot tell which chapter these submissions are for; '
                         'pass --chapter chNN')
    return found[0]


def pick_notebook(student_dir, ch):
    """The student's notebook for `ch`, or raise ValueError saying what is wrong."""
    candidates = sorted(p for p in student_dir.glob('*.ipynb') if p.is_file())
    exact = [p for p in candidates if p.stem == ch.name]
    if exact:
        return exact[0]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ValueError(f'no .ipynb file in the submission (expected {ch.name}.ipynb)')
    raise ValueError(f'{len(candidates)} notebooks and none named {ch.name}.ipynb: '
                     f'{", ".join(p.name for p in candidates)}')


def validate(path):
    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except Exception as err:
        raise ValueError(f'{path.name} is not a valid notebook: {type(err).__name__}: '
                         f'{str(err).splitlines()[0][:200]}') from None
    return nb


def grade(submissions, requested_chapter=None):
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise SystemExit(f'error: {submissions} is not a folder of submissions')
    ch = find_chapter(submissions, requested_chapter)
    pin_environment()
    shutil.rmtree(GRADING, ignore_errors=True)          # a fresh gradebook for every run
    generate([ch], release_directory='_grading/release', work_directory='_grading')
    api = nbgrader_api(ROOT, release_directory='_grading/release')
    students = sorted(p for p in submissions.iterdir() if p.is_dir())
    print(f'grading {len(students)} submissions of {ch.id}')
    outcomes = []
    for i, student_dir in enumerate(students, 1):
        outcome = grade_one(api, ch, student_dir)
        outcomes.append(outcome)
        shown = f'{outcome.total:g} points' if outcome.status == 'graded' else outcome.message
        print(f'  [{i}/{len(students)}] {outcome.student}: {outcome.status} -- {shown}', flush=True)
    return write_report(ch, outcomes, api)


def grade_one(api, ch, student_dir):
    student = student_dir.name
    if not STUDENT_ID.match(student):
        return Outcome(student, 'student_error', 'folder name is not a usable student id')
    try:
        notebook = pick_notebook(student_dir, ch)
        validate(notebook)
    except ValueError as err:
        return Outcome(student, 'student_error', str(err))
    target = GRADING / 'submitted' / student / ch.id
    shutil.rmtree(target, ignore_errors=True)
    stage(ch, target)                                  # our checks.py and minimx, not theirs
    shutil.copy(notebook, target / f'{ch.name}.ipynb')
    result = api.autograde(ch.id, student, force=True)
    if not result.get('success'):
        log = (result.get('error') or result.get('log') or '').strip().splitlines()
        return Outcome(student, 'student_error', 'nbgrader could not grade it: ' + (log[-1] if log else '?'))
    api.generate_feedback(ch.id, student, force=True)
    return Outcome(student, 'graded', scores=read_scores(api, ch, student))


def read_scores(api, ch, student):
    from nbgrader.api import Gradebook

    with Gradebook(api.coursedir.db_url) as gb:
        nb = gb.find_submission_notebook(ch.name, ch.id, student)
        return {g.name: (g.score, g.max_score) for g in sorted(nb.grades, key=lambda g: g.name)}


def write_report(ch, outcomes, api):
    report = GRADING / 'reports' / ch.id
    (report / 'feedback').mkdir(parents=True, exist_ok=True)
    ids = sorted({gid for o in outcomes for gid in o.scores})
    max_total = max((sum(m for _, m in o.scores.values()) for o in outcomes if o.scores), default=0)
    with open(report / 'grades.csv', 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['student', 'status', 'total', 'max', *ids, 'message'])
        for o in outcomes:
            writer.writerow([o.student, o.status, f'{o.total:g}', f'{max_total:g}',
                             *[f'{o.scores[g][0]:g}' if g in o.scores else '' for g in ids], o.message])
    for o in outcomes:
        page = GRADING / 'feedback' / o.student / ch.id / f'{ch.name}.html'
        if page.exists():
            shutil.copy(page, report / 'feedback' / f'{o.student}.html')
    counts = {s: sum(o.status == s for o in outcomes) for s in ('graded', 'student_error')}
    print(f'{counts["graded"]} graded, {counts["student_error"]} student errors')
    print(f'scores:   {(report / "grades.csv").relative_to(ROOT)}')
    print(f'feedback: {(report / "feedback").relative_to(ROOT)}/<student>.html')
    return outcomes
