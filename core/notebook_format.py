"""The course's notebook format, in one place.

A chapter's solution notebook (in the instructor repository) is an nbgrader source notebook
with three conventions of the course on top:

- an **answer cell** (nbgrader `solution: true`, grade id `ex_*`) holds the reference answer
  between `### BEGIN SOLUTION` and `### END SOLUTION` lines (a *solution region*);
- a **test cell** (nbgrader `grade: true`, grade id `test_*`, points) holds visible checks, then
  the hidden ones between `### BEGIN HIDDEN TESTS` and `### END HIDDEN TESTS`;
- a code cell whose first line is `#| export minimx/MODULE.py` is part of the package;
- a code cell tagged `approximate-output` (Jupyter's cell tags) prints what a training run
  reaches: its numbers vary from one CPU to another, and are compared within training's spread.

Everything that reads these conventions -- the exporter, the API appendix, the student's
check.py, the grader, the tests -- reads them here, so they cannot drift apart (they did: a
marker on a cell's last line, which has no newline, used to leak into minimx/).

Needs only the standard library (nbformat for files, imported where used): check.py ships
this file in the student's `.course/core/`.
"""
import re
from dataclasses import dataclass, field

SOLUTION_BEGIN, SOLUTION_END = '### BEGIN SOLUTION', '### END SOLUTION'
HIDDEN_BEGIN, HIDDEN_END = '### BEGIN HIDDEN TESTS', '### END HIDDEN TESTS'
MARKERS = (SOLUTION_BEGIN, SOLUTION_END, HIDDEN_BEGIN, HIDDEN_END)

APPROXIMATE_TAG = 'approximate-output'
EXPORT = re.compile(r'^#\| export (\S+)[ \t]*$')
# A region runs from the start of its BEGIN line to the end of its END line; group 2 is its body.
_REGION = re.compile(r'^[ \t]*### BEGIN (SOLUTION|HIDDEN TESTS)[ \t]*\n(.*?)^[ \t]*### END \1[ \t]*$',
                     re.S | re.M)
_SOLUTION_LINE = re.compile(r'[ \t]*### (?:BEGIN|END) SOLUTION[ \t]*')


# -- text of a cell -------------------------------------------------------------------------------

def export_target(source):
    """(module path, code after the directive) of a cell that starts `#| export MODULE`, else
    (None, source)."""
    first, _, rest = source.partition('\n')
    found = EXPORT.match(first)
    return (found.group(1), rest) if found else (None, source)


def without_solution_markers(source):
    """The source with its `### BEGIN/END SOLUTION` lines removed, wherever they stand (the
    last line of a cell has no newline after it)."""
    return '\n'.join(line for line in source.split('\n') if not _SOLUTION_LINE.fullmatch(line))


def without_regions(source):
    """The source as a student sees it: solution and hidden-test regions cut out, markers and all."""
    return _REGION.sub('', source)


def region_bodies(source, hidden=None):
    """The text inside each region of the source: hidden-test regions (`hidden=True`),
    solution regions (`hidden=False`) or both."""
    return [found.group(2) for found in _REGION.finditer(source)
            if hidden is None or (found.group(1) == 'HIDDEN TESTS') == hidden]


def split_test(source):
    """(visible part, hidden part, line index where the hidden part starts) of a test cell;
    the hidden part starts with its BEGIN line, so line numbers stay those of the cell."""
    lines = source.split('\n')
    cut = next((i for i, line in enumerate(lines) if line.strip() == HIDDEN_BEGIN), len(lines))
    return '\n'.join(lines[:cut]), '\n'.join(lines[cut:]), cut


def marker_lines(text):
    """The lines of `text` (any file) that hold a marker of the format: in anything generated
    for students or for the package, each one is a leak."""
    return [line.strip() for line in text.splitlines() if any(m in line for m in MARKERS)]


# -- cells ------------------------------------------------------------------------------------------

def approximate_output(cell):
    """True for a cell tagged APPROXIMATE_TAG."""
    tags = cell.get('metadata', {}).get('tags') or []
    return isinstance(tags, list) and APPROXIMATE_TAG in tags


def nbgrader_metadata(cell):
    """The nbgrader metadata of an nbformat cell ({} if none)."""
    return cell.get('metadata', {}).get('nbgrader', {}) or {}


def grade_id(cell):
    return nbgrader_metadata(cell).get('grade_id')


def is_answer_cell(cell):
    return cell.get('cell_type') == 'code' and bool(nbgrader_metadata(cell).get('solution'))


def is_test_cell(cell):
    meta = nbgrader_metadata(cell)
    return cell.get('cell_type') == 'code' and bool(meta.get('grade')) and not meta.get('solution')


@dataclass
class Cell:
    """A cell as the grader and check.py see it: its kind, source and nbgrader marks."""
    kind: str              # 'code', 'markdown' or 'raw'
    source: str
    cell_id: str = None
    grade_id: str = None
    solution: bool = False
    grade: bool = False
    points: float = 0.0
    problem: str = None    # what was wrong with its metadata, if anything

    @property
    def is_answer(self):
        return self.kind == 'code' and self.solution

    @property
    def is_test(self):
        return self.kind == 'code' and self.grade and not self.solution

    @property
    def label(self):
        return self.grade_id or self.cell_id


def read_cells(path):
    """The Cells of a notebook the course itself wrote (a solution notebook or the student
    edition). Submissions are read by autograder/notebook.py:parse, which trusts nothing."""
    import nbformat

    cells = []
    for cell in nbformat.read(str(path), as_version=4).cells:
        meta = nbgrader_metadata(cell)
        cells.append(Cell(cell.cell_type, cell.source, cell_id=cell.get('id'), grade_id=meta.get('grade_id'),
                          solution=bool(meta.get('solution')), grade=bool(meta.get('grade')),
                          points=float(meta.get('points', 0.0))))
    return cells


def exercise_tests(cells):
    """[(answer cell, [its test cells])] in notebook order: a test cell belongs to the answer
    cell nearest above it. An answer may have several test cells, one per graded feature (each
    with its own points), so that a partly right answer earns part of the exercise's points."""
    groups = []
    for cell in cells:
        if cell.is_answer:
            groups.append((cell, []))
        elif cell.is_test and groups:
            groups[-1][1].append(cell)
    return groups


def answer_sources(cells):
    """{grade id: source} of the answer cells among `cells` (Cells)."""
    return {c.grade_id: c.source for c in cells if c.is_answer}


def merge_answers(nb, answers, clear_outputs=False):
    """Put `answers` ({grade id: source}) into the answer cells of the nbformat notebook `nb`
    (a clean copy of the chapter), in place; returns `nb`. Only answer cells change: a test
    or instructor cell never takes text from a submission."""
    for cell in nb.cells:
        if is_answer_cell(cell) and grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
        if clear_outputs and cell.cell_type == 'code':
            cell.outputs, cell.execution_count = [], None
    return nb


# -- picking a student's answers (the grader's rules, which check.py applies too) -------------------

@dataclass
class Structure:
    answers: dict = field(default_factory=dict)      # grade id -> the student's source
    notes: list = field(default_factory=list)        # for the student (and the instructor)
    tampering: list = field(default_factory=list)    # notes worth the instructor's attention
    replaced: list = field(default_factory=list)     # grade ids not graded as the student wrote them:
    #                                                  answers graded as the stub, tests run as the original


def match(instructor, stubs, submitted, metadata=None):
    """Pick the student's answer for each answer cell of `instructor` (Cells), by grade id
    or, if the student's metadata was damaged, by cell id; report the rest. `stubs` are the
    student edition's answer cells, graded where the student's answer is missing."""
    result = Structure()
    by_grade, by_id = {}, {}
    for cell in submitted:
        if cell.problem:
            result.notes.append(f'a cell ({cell.label or "no id"}): {cell.problem}')
        if cell.grade_id:
            by_grade.setdefault(cell.grade_id, []).append(cell)
        if cell.cell_id:
            by_id.setdefault(cell.cell_id, []).append(cell)
    known = {c.grade_id for c in instructor if c.grade_id}
    for cell in instructor:
        if not cell.grade_id:
            continue
        found = by_grade.get(cell.grade_id) or []
        if not found and by_id.get(cell.cell_id):
            found = by_id[cell.cell_id]
            result.notes.append(f'{cell.grade_id}: found by its cell id (its nbgrader grade id was changed)')
        if cell.is_answer:
            _answer(cell, found, stubs, result)
        elif cell.is_test:
            _test(cell, found, result)
    unknown = sorted({g for g in by_grade if g not in known})
    if unknown:
        result.notes.append(f'cells with unknown grade ids were ignored: {", ".join(unknown)[:200]}')
    kernel = (metadata or {}).get('kernelspec', {}) if isinstance(metadata, dict) else {}
    if isinstance(kernel, dict) and kernel.get('name') not in (None, 'python3'):
        result.notes.append(f'the notebook asks for kernel {str(kernel.get("name"))[:40]!r}; '
                            f'it was graded with the course\'s Python 3')
    return result


def _answer(cell, found, stubs, result):
    gid = cell.grade_id
    if not found:
        result.notes.append(f'{gid}: your answer cell is missing, so the empty stub was graded')
        result.answers[gid] = stubs.get(gid, '')
        result.replaced.append(gid)
        return
    if len(found) > 1:
        result.notes.append(f'{gid}: your notebook has {len(found)} cells with this id; the last one was '
                            f'graded (as "Run All" would define it last)')
        result.tampering.append(f'{gid} duplicated')
    chosen = found[-1]
    if chosen.kind != 'code':
        result.notes.append(f'{gid}: your answer cell was turned into {chosen.kind}, so the empty stub was graded')
        result.answers[gid] = stubs.get(gid, '')
        result.replaced.append(gid)
        return
    if not chosen.solution:
        result.notes.append(f'{gid}: your answer cell\'s metadata no longer marks it as an answer; it was graded anyway')
    result.answers[gid] = chosen.source


def _test(cell, found, result):
    tampered = len(result.tampering)
    _judge_test_cell(cell, found, result)
    if len(result.tampering) > tampered:
        result.replaced.append(cell.grade_id)


def _judge_test_cell(cell, found, result):
    gid = cell.grade_id
    if not found:
        result.notes.append(f'{gid}: this test cell is missing from your notebook; the original test was run')
        result.tampering.append(f'{gid} deleted')
    elif len(found) > 1:
        result.notes.append(f'{gid}: your notebook has {len(found)} copies of this test; the original was run')
        result.tampering.append(f'{gid} duplicated')
    elif found[0].kind != 'code':
        result.notes.append(f'{gid}: this test cell was turned into {found[0].kind}; the original test was run')
        result.tampering.append(f'{gid} re-typed')
    elif found[0].source.strip() not in (cell.source.strip().split(HIDDEN_BEGIN)[0].strip(), cell.source.strip()):
        # the student edition holds the visible part only: that, or the whole cell, is unedited
        result.notes.append(f'{gid}: this test cell was edited; the original test was run')
        result.tampering.append(f'{gid} edited')
    elif found[0].solution or not found[0].grade or found[0].points != cell.points:
        result.notes.append(f'{gid}: this test cell\'s nbgrader metadata was changed; the original was used')
        result.tampering.append(f'{gid} re-marked')
