"""The environment every notebook of the course runs in: building, checking and grading.

Seeds are set by the notebooks; what is pinned here is everything else that could change an
output (hash seed, BLAS threads, plotting backend). Every chapter folder ships a copy in
.course/core/, so a student's check.py runs its kernel in this very environment.
"""
import os
import sys
from pathlib import Path

# One BLAS thread: sums come out bit-identical run after run, so stored outputs reproduce.
DETERMINISTIC_ENV = {
    'PYTHONHASHSEED': '0',
    'OPENBLAS_NUM_THREADS': '1',
    'OMP_NUM_THREADS': '1',
    'MKL_NUM_THREADS': '1',
    'MPLBACKEND': 'module://matplotlib_inline.backend_inline',
}


def pin_environment():
    """Apply DETERMINISTIC_ENV to this process, so kernels started from it inherit it."""
    os.environ.update(DETERMINISTIC_ENV)
    os.environ.pop('PYTHONPATH', None)       # kernels must import minimx from their own folder
    # nbgrader runs tools of its environment (alembic) by name: put that environment first.
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get('PATH', '').split(os.pathsep)[0] != bin_dir:
        os.environ['PATH'] = bin_dir + os.pathsep + os.environ.get('PATH', '')
