"""`./course check chNN NOTEBOOK`: the student's self-check, run by the instructor.

The chapter's folder is released into a temporary directory, exactly as a student gets it,
and its `check.py` (student/check.py) runs there on the notebook: the instructor sees the
report the student sees, produced by the same code. The folder is released as if every
earlier chapter were past its deadline, so minimx/ is the reference code of the earlier
chapters, as in grading.

`nbval_args` is what the solution notebooks' own test (tests/test_round_trip.py) validates
their stored outputs with.
"""
import datetime
import subprocess
import sys
import tempfile
from pathlib import Path

from core.chapters import CELL_TIMEOUT
from core.notebook_format import HIDDEN_BEGIN, answer_sources, merge_answers, read_cells

SANITIZE = Path(__file__).with_name('nbval_sanitize.cfg')


def check(ch, notebook):
    """Run the chapter folder's check.py on `notebook` (printing its report); its exit status."""
    from pipeline.release import release
    from pipeline.schedule import Schedule

    notebook = Path(notebook).resolve()
    if not notebook.exists():
        raise SystemExit(f'error: {notebook} does not exist')
    with tempfile.TemporaryDirectory(prefix=f'{ch.id}-check-') as tmp:
        folder = release(ch, Path(tmp) / ch.name, Schedule(datetime.date.today()))
        if HIDDEN_BEGIN in notebook.read_text(encoding='utf-8', errors='replace'):
            notebook = as_student_edition(ch, notebook, Path(tmp) / 'answers' / ch.student.name)
        command = [sys.executable, str(folder / 'check.py'), str(notebook)]
        sys.stdout.flush()
        return subprocess.run(command, cwd=folder).returncode


def as_student_edition(ch, notebook, dest):
    """An instructor's notebook (hidden tests and all) as a student with its answers would have
    it: its answer cells in the student edition. Otherwise check.py, which compares test cells
    with the student edition's, would report every test cell as edited."""
    import nbformat

    nb = merge_answers(nbformat.read(str(ch.student), as_version=4), answer_sources(read_cells(notebook)))
    dest.parent.mkdir(parents=True)
    nbformat.write(nb, str(dest))
    print(f'{notebook.name} holds hidden tests (an instructor\'s notebook): checking its answer cells in the '
          f'student edition', flush=True)
    return dest


def nbval_args(notebook_path):
    """pytest arguments that validate one notebook's outputs with the course's sanitizers."""
    return [str(notebook_path), '--nbval', f'--nbval-sanitize-with={SANITIZE}',
            f'--nbval-cell-timeout={CELL_TIMEOUT}', '-p', 'no:cacheprovider', '-q',
            '--no-header', '-o', 'addopts=', '-o', 'pythonpath=', f'--rootdir={Path(notebook_path).parent}']
