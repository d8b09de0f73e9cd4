"""`./course check chNN NOTEBOOK`: does the student's code reproduce the reference outputs?

The student's answer cells are merged (by nbgrader grade id) into a pristine copy of the
release notebook, which still carries the reference outputs. nbval then runs that copy
beside the minimx of earlier chapters and compares every cell's output with the reference,
after sanitizing what legitimately varies (memory addresses, timings, temporary paths).
"""
import re
import shutil
import textwrap
from pathlib import Path

import nbformat

from pipeline.chapters import CELL_TIMEOUT
from pipeline.execute import pin_environment, staged

SANITIZE = Path(__file__).with_name('nbval_sanitize.cfg')


def grade_id(cell):
    return cell.get('metadata', {}).get('nbgrader', {}).get('grade_id')


def is_answer(cell):
    return cell.cell_type == 'code' and cell.get('metadata', {}).get('nbgrader', {}).get('solution', False)


def read_notebook(path):
    """The student's notebook, or SystemExit naming what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f'error: {path} does not exist')
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as err:                    # any parse failure: say what, not a traceback
        raise SystemExit(f'error: {path} is not a readable Jupyter notebook ({type(err).__name__}: '
                         f'{str(err)[:300]}). Re-download the chapter notebook and copy your '
                         f'answers into it.') from None


def merge(pristine, submitted):
    """Copy the student's answer cells into `pristine`; return (merged, list of problems)."""
    answers = {}
    for cell in submitted.cells:
        if cell.cell_type == 'code' and grade_id(cell):
            answers.setdefault(grade_id(cell), cell.source)
    merged = nbformat.from_dict(pristine)
    problems = []
    for cell in merged.cells:
        if is_answer(cell):
            gid = grade_id(cell)
            if gid in answers:
                cell.source = answers[gid]
            else:
                problems.append(f'answer cell {gid!r} is missing from your notebook; the empty '
                                f'stub was used (copy your answer into the cell with that id)')
    return merged, problems


def describe(cell):
    gid = grade_id(cell)
    if gid:
        kind = 'your answer' if is_answer(cell) else 'tests'
        return f'{gid} ({kind})'
    lines = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.startswith('#|')]
    return f'"{lines[0][:60]}"' if lines else '(empty cell)'


class _Collector:
    """A pytest plugin that keeps each nbval cell's outcome."""

    def __init__(self):
        self.reports = {}

    def pytest_runtest_logreport(self, report):
        m = re.search(r'::Cell (\d+)$', report.nodeid)
        if m and (report.when == 'call' or report.failed):
            self.reports.setdefault(int(m.group(1)), report)


def nbval_args(notebook_path):
    """pytest arguments that validate one notebook's outputs with the course's sanitizers."""
    return [str(notebook_path), '--nbval', f'--nbval-sanitize-with={SANITIZE}',
            f'--nbval-cell-timeout={CELL_TIMEOUT}', '-p', 'no:cacheprovider', '-q',
            '--no-header', '-o', 'addopts=', '-o', 'pythonpath=', f'--rootdir={Path(notebook_path).parent}']


def run_nbval(notebook_path):
    """Run nbval on one notebook in-process; {code cell number: pytest report}."""
    import pytest

    pin_environment()
    collector = _Collector()
    pytest.main(nbval_args(notebook_path), plugins=[collector])
    return collector.reports


def check(ch, notebook):
    """Print a per-cell report; return the number of cells whose output differs."""
    submitted = read_notebook(notebook)
    pristine = nbformat.read(str(ch.student), as_version=4)
    merged, problems = merge(pristine, submitted)
    for problem in problems:
        print(f'warning: {problem}')
    code_cells = [c for c in merged.cells if c.cell_type == 'code']
    with staged(ch) as folder:
        target = folder / ch.student.name
        nbformat.write(merged, str(target))
        print(f'checking {notebook} against the reference outputs of {ch.id} '
              f'({len(code_cells)} code cells)...', flush=True)
        reports = run_nbval(target)
    failed = {n: r for n, r in sorted(reports.items()) if r.failed}
    width = shutil.get_terminal_size((100, 20)).columns
    print()
    for n, report in failed.items():
        cell = code_cells[n]
        print(f'✗ cell {n + 1} of {len(code_cells)}: {describe(cell)}')
        print(textwrap.indent(_explain(report), '    ')[: 40 * width])
    same = len(code_cells) - len(failed)
    print(f'{same} of {len(code_cells)} code cells match the reference; {len(failed)} differ.')
    if not failed:
        print('All outputs match the reference run.')
    return len(failed)


def _explain(report):
    """nbval's failure text in a student's terms: the exception, or the differing lines."""
    text = re.sub(r'\x1b\[[0-9;]*m', '', str(report.longrepr))
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if 'Cell outputs differ' not in text:
        # The cell raised: the last frames say where, the final line says what.
        return 'the cell raised an exception:\n' + '\n'.join(lines[-4:])
    # pytest's diff of `reference == yours`: '+' lines are the reference's, '-' lines yours.
    shown = []
    for line in lines:
        body = line.strip()
        if body.startswith('+ '):
            shown.append('reference: ' + body[2:])
        elif body.startswith('- '):
            shown.append('yours:     ' + body[2:])
    if not shown:
        shown = lines[-8:]
    return 'the output differs from the reference:\n' + '\n'.join(shown[:20]) + ('\n...' if len(shown) > 20 else '')
