"""The appendix page "How fast is your minimx?": benchmarks/speed.py, then the page that draws it.

The notebook book/appendix/speed.ipynb is the page's only source, as a solution notebook is
its chapter's: its prose and its plotting cells are edited there, and `./course build` stores
its outputs in place, with the digest of its inputs in the metadata (`course.inputs`). There is
no template to generate it from, because nothing in it differs between the source and the
page: no answers to cut out, no tests to hide.

Its inputs are what the figures depend on: the benchmark code (speed.py, common.py and every
module speed.py lists), the minimx package the benchmarks time, and the page's code cells.
When one changes, or with `--force`, the build runs benchmarks/speed.py (minutes), which
writes book/appendix/speed.json, and then executes the page, which reads only that file.
Otherwise the page is reported current. Editing the prose re-runs nothing, as for a chapter.

The page shows timings and never code: it imports nothing of minimx, and no benchmark code
reaches the site. So `./course publish` publishes it on every day of the calendar.
"""
import hashlib
import subprocess
import sys

import nbformat

from core.chapters import BOOK, ROOT
from core.export import read_package
from pipeline.execute import coalesce_streams, run_notebook

PAGE = BOOK / 'appendix' / 'speed.ipynb'
RESULTS = PAGE.with_name('speed.json')          # the page reads it by this name, beside itself
BENCHMARKS = ROOT / 'benchmarks'


def code_cells(path=PAGE):
    return [c.source for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == 'code']


def benchmark_files():
    """speed.py, the helpers every benchmark shares, and each module speed.py runs."""
    from benchmarks.speed import BENCHMARKS as modules        # stdlib only at import time
    return [BENCHMARKS / 'speed.py', BENCHMARKS / 'common.py'] + [BENCHMARKS / f'{m}.py' for m in modules]


def current_inputs():
    """{name: text} of everything the page's stored outputs depend on."""
    inputs = {p.relative_to(ROOT).as_posix(): p.read_text(encoding='utf-8') for p in benchmark_files()}
    inputs |= read_package(ROOT)
    inputs['the page\'s code cells'] = '\0'.join(code_cells())
    return inputs


def inputs_hash(inputs=None):
    digest = hashlib.sha256()
    for name, text in sorted((current_inputs() if inputs is None else inputs).items()):
        digest.update(name.encode() + b'\0' + text.encode() + b'\0')
    return digest.hexdigest()[:16]


def stored_hash():
    return nbformat.read(str(PAGE), as_version=4).metadata.get('course', {}).get('inputs')


def is_current():
    return stored_hash() == inputs_hash()


def build(force=False):
    """Measure and execute the page if its inputs changed (or `force`); say which happened."""
    name = PAGE.relative_to(ROOT)
    if not force and is_current():
        print(f'  {name}: outputs are current (inputs unchanged), benchmarks not re-run')
        return
    print(f'  {name}: running benchmarks/speed.py (takes minutes)', flush=True)
    # A process of its own: speed.py sets the BLAS threads before numpy starts, which this
    # process (one thread, pinned for reproducible notebooks) can no longer change.
    result = subprocess.run([sys.executable, str(BENCHMARKS / 'speed.py'), '--out', str(RESULTS)], cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f'error: benchmarks/speed.py failed (exit status {result.returncode}); '
                         f'{name} was left as it was')
    nb = nbformat.read(str(PAGE), as_version=4)
    seconds = run_notebook(nb, PAGE.parent, 'speed page')
    coalesce_streams(nb)
    nb.metadata.setdefault('course', {})['inputs'] = inputs_hash()
    nbformat.write(nb, str(PAGE))
    print(f'  {name}: executed in {seconds:.1f} s, outputs stored in place')
