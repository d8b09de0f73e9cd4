"""Where things live, which chapters exist (found from solutions/chNN/chNN_*.ipynb), and the
time limits every execution in the project uses."""
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / 'solutions'
BOOK = ROOT / 'book'
PACKAGE = ROOT / 'minimx'
CHECKS = SOLUTIONS / 'checks.py'          # the test helpers every notebook imports
BUILD = ROOT / '_build'
# nbgrader's working folders, the gradebook and the grader's store (never committed);
# COURSE_GRADING moves them elsewhere (the tests grade in temporary folders).
GRADING = Path(os.environ.get('COURSE_GRADING') or ROOT / '_grading').resolve()

# Notebook cells may run this long (seconds). nbgrader's and Jupyter's default of 30 s is too
# short for the training chapters; every execution in the project uses this one value.
CELL_TIMEOUT = 600
# A whole submission (or self-check run) may take this long: the grader's budget, which the
# student's check.py states too.
SUBMISSION_SECONDS = 3 * CELL_TIMEOUT


@dataclass(frozen=True)
class Chapter:
    id: str            # 'ch01': the nbgrader assignment id and the CLI's name for it
    number: int
    name: str          # 'ch01_ndarray': the notebook's file name without .ipynb

    @property
    def source(self):
        return SOLUTIONS / self.id / f'{self.name}.ipynb'

    @property
    def student(self):
        return BOOK / self.id / f'{self.name}.ipynb'

    @property
    def grading(self):
        """The chapter's grading settings, from its solution notebook's metadata
        `course.grading`: `env`, variables set for every run the grader makes of it, the
        reference run included, and `demonstrations`, cells the grader does not run
        (autograder/demonstrations.py); {} if it declares none."""
        metadata = json.loads(self.source.read_text(encoding='utf-8')).get('metadata', {})
        return metadata.get('course', {}).get('grading', {})


def chapters():
    """Every chapter with a solution notebook, in order."""
    found = []
    for path in sorted(SOLUTIONS.glob('ch[0-9][0-9]/ch[0-9][0-9]_*.ipynb')):
        cid = path.parent.name
        if path.name.startswith(cid + '_'):
            found.append(Chapter(cid, int(cid[2:]), path.stem))
    return found


def chapter(cid):
    """The chapter called `cid` ('ch01', 'ch1' or '1'); a clear error naming the known ones."""
    m = re.fullmatch(r'(?:ch)?0*(\d+)', str(cid).strip().lower())
    known = chapters()
    if m:
        for ch in known:
            if ch.number == int(m.group(1)):
                return ch
    raise SystemExit(f'error: no chapter {cid!r}; the chapters are: '
                     f'{", ".join(c.id for c in known) or "(none found in solutions/)"}')


def before(ch):
    """The chapters a student of `ch` has already done (their minimx modules ship with `ch`)."""
    return [c for c in chapters() if c.number < ch.number]
