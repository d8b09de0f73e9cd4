"""Read a submitted notebook strictly, and build the plan the harness runs.

The structure comes from the instructor's copy: which cells run, in which order, which are
answers and which are tests, how many points each test is worth, and every test's code
including the hidden part. From the submission the grader takes only the source of the
answer cells, matched by nbgrader grade id (or, if the student's metadata was damaged, by
cell id). Everything else in the submission -- edited, deleted, re-marked, renamed or
duplicated cells, other metadata, the kernelspec -- is ignored and reported.
"""
import ast
import json
import math
import re

import nbformat

from autograder.safe_text import safe_text
# The course's notebook format: the grader's picture of a cell, and its rules for picking a
# student's answers (check.py applies the same rules, from its copy of the file).
from core.notebook_format import Cell, Structure, answer_sources, match  # noqa: F401  (re-exported)

MAX_NOTEBOOK_BYTES = 20 << 20
MAX_ID = 100                # characters of a grade or cell id (the course's are short)
MAX_POINTS = 10 ** 6        # more points than this in a cell's metadata is malformed


class SubmissionError(ValueError):
    """The submission cannot be graded; the message is for the student."""


# -- rules on a submission as a file (intake, and the student's `check.py --submit`) ---------------

def printable(name):
    """A file or folder name as shown in reports: what is not printable (control characters,
    lone surrogates from undecodable bytes, bidirectional overrides) becomes '?'."""
    return safe_text(''.join(c if c.isprintable() else '?' for c in name[:80]))


def notebook_chapter(name, known):
    """The id of the chapter a notebook's file name is for ('ch02_autograd (1).ipynb' -> 'ch02'),
    if it is one of `known` (the course's chapter ids), or None."""
    found = re.match(r'ch\d+', name)
    return found.group() if found and found.group() in known else None


def lone_notebook(name, chapter_id, wanted, known):
    """Notes on the one notebook a student handed in for chapter `chapter_id`, whose expected
    file name is `wanted`; SubmissionError if its name says it is another chapter's."""
    if name == wanted:
        return []
    other = notebook_chapter(name, known)
    if other not in (None, chapter_id):
        raise SubmissionError(f'{printable(name)} is a notebook of chapter {other}, '
                              f'and this batch grades chapter {chapter_id}: hand in {wanted}')
    return [f'graded {printable(name)} (the expected name is {wanted})']


def out_of_time(submission_seconds):
    """The status message of a submission that used its whole time budget."""
    return (f'timed out: the notebook used its whole time budget ({submission_seconds:g} s); '
            f'tests not reached score 0')


def _reject_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise SubmissionError('the notebook repeats a key inside one JSON object')
    return dict(pairs)


def _reject_constant(name):
    raise SubmissionError(f'the notebook contains {name}, which is not valid JSON')


def parse(data):
    """(cells, metadata) of a notebook given as bytes; SubmissionError says what is wrong
    with it. Whatever else goes wrong on a hostile file (a bug here, a library's exception)
    is that submission's error too, never the batch's."""
    try:
        return _parse(data)
    except SubmissionError:
        raise
    except Exception as err:
        raise SubmissionError(f'the notebook could not be read ({type(err).__name__}: {safe_text(err, 200)}); '
                              f're-download the chapter notebook and copy your answers into it') from None


def _parse(data):
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise SubmissionError(f'the notebook is {len(data) / 2**20:.0f} MB; the limit is '
                              f'{MAX_NOTEBOOK_BYTES >> 20} MB (clear large outputs and resubmit)')
    if not data.strip():
        raise SubmissionError('the notebook file is empty')
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        raise SubmissionError('the file is not a Jupyter notebook (it is not UTF-8 text)') from None
    try:
        nb = json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except RecursionError:
        raise SubmissionError('the notebook is nested too deeply to be read') from None
    except ValueError as err:
        if isinstance(err, SubmissionError):
            raise
        raise SubmissionError(f'the file is not a Jupyter notebook (invalid JSON: {str(err)[:120]}); '
                              f're-download the chapter notebook and copy your answers into it') from None
    if not isinstance(nb, dict):
        raise SubmissionError('the file is not a Jupyter notebook (its JSON is not an object)')
    if nb.get('nbformat') == 3 and isinstance(nb.get('worksheets'), list):
        try:
            nb = nbformat.convert(nbformat.from_dict(nb), 4)
        except Exception as err:
            raise SubmissionError(f'the nbformat 3 notebook could not be converted: {safe_text(err, 120)}') from None
    if not isinstance(nb.get('cells'), list):
        raise SubmissionError('the file is not a Jupyter notebook (it has no list of cells)')
    return [_cell(raw, n) for n, raw in enumerate(nb['cells'])], _metadata(nb.get('metadata'))


def _metadata(metadata):
    """The notebook metadata the grader uses (the kernel's name), as safe text."""
    kernel = metadata.get('kernelspec') if isinstance(metadata, dict) else None
    if not isinstance(kernel, dict) or kernel.get('name') is None:
        return {}
    name = kernel['name']
    return {'kernelspec': {'name': safe_text(name, MAX_ID) if isinstance(name, str) else f'a {type(name).__name__}'}}


def _text(source):
    """A cell's source as text that can be written anywhere (lone surrogates replaced); code
    keeps its control characters, so a null byte is still reported as the SyntaxError it is."""
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        source = ''.join(source)
    return safe_text(source, controls=False) if isinstance(source, str) else None


def _id(value):
    """A grade or cell id as safe text, or None if it is missing or not text."""
    return (safe_text(value, MAX_ID) or None) if isinstance(value, str) else None


def _points(value):
    """(points, problem): points must be a number from 0 to MAX_POINTS. A 400-digit integer,
    1e999 (which JSON reads as infinity), a negative number or a boolean is malformed metadata,
    reported like any other, and never converted (float() of a huge integer raises)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= MAX_POINTS \
            and math.isfinite(value):
        return float(value), None
    return 0.0, f'its nbgrader points are not a number from 0 to {MAX_POINTS} and were ignored'


def _cell(raw, n):
    if not isinstance(raw, dict):
        return Cell('raw', '', problem=f'cell {n + 1} is not a JSON object')
    kind = raw.get('cell_type') if raw.get('cell_type') in ('code', 'markdown', 'raw') else 'raw'
    source = _text(raw.get('source', ''))
    cell = Cell(kind, source or '', cell_id=_id(raw.get('id')))
    if source is None:
        cell.problem = 'its source is not text'
    meta = raw.get('metadata', {})
    nbg = meta.get('nbgrader') if isinstance(meta, dict) else None
    if nbg is None:
        return cell
    if not isinstance(nbg, dict) or not isinstance(nbg.get('grade_id', ''), str) \
            or not isinstance(nbg.get('solution', False), bool) or not isinstance(nbg.get('grade', False), bool):
        cell.problem = 'its nbgrader metadata is malformed and was ignored'
        return cell
    cell.grade_id = _id(nbg.get('grade_id'))
    cell.solution, cell.grade = nbg.get('solution', False), nbg.get('grade', False)
    if 'points' in nbg:
        cell.points, problem = _points(nbg['points'])
        cell.problem = cell.problem or problem
    return cell


def read_instructor(path):
    """Cells of a notebook the course itself wrote (the instructor's copy or the student edition)."""
    cells, _ = parse(path.read_bytes())
    return cells


# `name = %magic ...`, `a, b = !cmd`: IPython's assignment from a magic or a shell command.
ASSIGN_MAGIC = re.compile(r'([ \t]*)([A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*)[ \t]*=[ \t]*[%!](?!=)')


def to_python(source):
    """IPython syntax as plain Python that does nothing, line for line (so line numbers in
    tracebacks stay right): `%magic` and `!cmd` lines become `pass`, `x = %magic` becomes
    `x = None`, a `%%cell` magic makes the whole cell do nothing. Under grading magics do
    nothing anyway; this runs in the grader, outside every sandbox limit, so it is one pass
    over the text (IPython's TransformerManager took minutes on a 170 KB cell)."""
    if '%' not in source and '!' not in source:
        return source
    lines = source.split('\n')
    first = next((line for line in lines if line.strip()), '')
    if first.lstrip().startswith('%%'):
        return '\n'.join(['pass'] + [''] * (len(lines) - 1))
    out, scanner, in_magic = [], _Scanner(), False
    for line in lines:
        if in_magic:                       # a magic continued with a trailing backslash
            out.append('')
        elif scanner.at_statement_start() and (plain := _magic_line(line)) is not None:
            out.append(plain)
        else:
            scanner.feed(line)
            out.append(line)
            continue
        in_magic = line.rstrip('\r').endswith('\\')
    return '\n'.join(out)


def _magic_line(line):
    """The do-nothing Python for a line that is a magic or a shell command, else None."""
    code = line.lstrip()
    indent = line[:len(line) - len(code)]
    if code.startswith(('%', '!')) and not code.startswith('!='):
        return indent + 'pass'
    assigned = ASSIGN_MAGIC.match(line)
    if assigned:
        names = [name.strip() for name in assigned.group(2).split(',')]
        return f'{assigned.group(1)}{", ".join(names)} = {", ".join(["None"] * len(names))}'
    return None


class _Scanner:
    """Just enough of Python's tokenizer to know whether a line starts a statement: open
    brackets, strings (triple-quoted ones span lines), comments and backslash continuations.
    A `%` that starts a line inside brackets is the modulo operator, not a magic."""

    def __init__(self):
        self.depth, self.quote, self.continued = 0, None, False

    def at_statement_start(self):
        return self.depth == 0 and self.quote is None and not self.continued

    def feed(self, line):
        line = line.rstrip('\r')
        i, n, self.continued = 0, len(line), False
        while i < n:
            c = line[i]
            if self.quote:
                if c == '\\':
                    i += 2                 # an escaped character (or, at the end, the newline)
                    continue
                if line.startswith(self.quote, i):
                    i, self.quote = i + len(self.quote), None
                    continue
            elif c == '#':
                break
            elif c in '"\'':
                self.quote = line[i:i + 3] if line[i:i + 3] in ('"""', "'''") else c
                i += len(self.quote)
                continue
            elif c in '([{':
                self.depth += 1
            elif c in ')]}':
                self.depth = max(0, self.depth - 1)
            elif c == '\\' and i == n - 1:
                self.continued = True
            i += 1
        if self.quote and len(self.quote) == 1 and i <= n:
            self.quote = None              # an unterminated one-line string: a SyntaxError to report


def plan_cells(instructor, answers, tests, imports, left_out=()):
    """The harness's list of code cells: instructor cells, answer cells from `answers`, test
    cells as `tests` (grade id -> compiled parts, see compiled_tests) has them, and for each
    instructor cell the names its imports bind (`imports`, see cell_imports). Cells whose
    index is in `left_out` (the chapter's demonstrations, see demonstrations.py) are not in
    it. Called from many grading threads at once, so it parses nothing (CPython 3.11's parser
    is not thread-safe)."""
    cells = []
    for n, cell in enumerate(instructor):
        if cell.kind != 'code' or n in left_out:
            continue
        kind = 'answer' if cell.is_answer else 'test' if cell.is_test else 'code'
        label = cell.label or f'cell {n + 1}'
        entry = {'index': n, 'kind': kind, 'grade_id': cell.grade_id, 'label': label, 'file': f'<{label}>'}
        if kind == 'test':
            entry['parts'] = tests[cell.grade_id]
        else:
            source = answers.get(cell.grade_id, '') if kind == 'answer' else cell.source
            entry['source'] = to_python(source)
            if kind == 'code':
                entry['imports'] = imports.get(n, [])
        cells.append(entry)
    return cells


def _tree(source):
    try:
        return ast.parse(to_python(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ast.Module([], [])


def cell_imports(instructor):
    """{cell index: names its import statements bind} for the instructor's code cells."""
    return {n: sorted(imported_names(c.source)) for n, c in enumerate(instructor) if c.kind == 'code'}


def imported_names(source):
    """Names an (instructor's) cell binds with import statements: `np`, `nd`, `check`..."""
    found = set()
    for node in ast.walk(_tree(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update((a.asname or a.name).partition('.')[0] for a in node.names if a.name != '*')
    return found


def imported_modules(instructor):
    """Modules the instructor's cells import, and {alias: module} of `import m as alias`."""
    modules, aliases = set(), {}
    for cell in instructor:
        if cell.kind != 'code':
            continue
        for node in ast.walk(_tree(cell.source)):
            if isinstance(node, ast.Import):
                for a in node.names:
                    modules.add(a.name)
                    aliases[(a.asname or a.name).partition('.')[0]] = a.name if a.asname else a.name.partition('.')[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module)
                modules.update(f'{node.module}.{a.name}' for a in node.names if a.name != '*')   # may be submodules
    return modules, aliases


def compiled_tests(instructor, student):
    """{grade id: [part, ...]} of every test cell, compiled by autograder/rewrite.py for a
    reference run (`student=False`) or a student run; parts are plan-ready dicts."""
    import base64

    from autograder import rewrite
    reads = {}
    for cell in instructor:
        if cell.kind == 'code':
            reads[cell.grade_id or id(cell)] = {n.id for n in ast.walk(_tree(cell.source))
                                                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    tests = {}
    for cell in instructor:
        if cell.is_test:
            keep = set().union(*(names for key, names in reads.items() if key != cell.grade_id))
            parts = rewrite.compile_test(cell.source, f'<{cell.label}>', student=student, keep=keep)
            tests[cell.grade_id] = [{'label': p.label, 'code': base64.b64encode(p.code).decode(), 'names': p.names}
                                    for p in parts]
    return tests


def watched_functions(instructor, aliases):
    """'module.function' for every call `alias.function(...)` in the test cells, where `alias`
    is a module the instructor imported (np -> numpy): the harness checks their code,
    defaults and closures as well as their identity."""
    found = set()
    for cell in instructor:
        if cell.is_test:
            for node in ast.walk(_tree(cell.source)):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and isinstance(node.func.value, ast.Name) and node.func.value.id in aliases:
                    found.add(f'{aliases[node.func.value.id]}.{node.func.attr}')
    return sorted(found)


def stub_sources(student_edition):
    return answer_sources(student_edition)
