"""Execute notebooks the way a student's machine would: beside the minimx of earlier chapters.

A chapter's notebook never runs against the repository's full package: it runs in a fresh
folder holding `checks.py` and the minimx built from the chapters before it, exactly what
`./course release` hands a student. The folder comes from core/staging.py, the pinned
environment from core/environment.py.
"""
import hashlib
import json
import re
import sys
import time

import nbformat

from core.chapters import CELL_TIMEOUT, CHECKS
from core.environment import DETERMINISTIC_ENV, pin_environment
from core.staging import earlier_package, staged


def inputs_hash(ch):
    """A digest of everything the chapter's outputs depend on: its code cells, checks.py and
    the minimx of earlier chapters. Unchanged digest = stored outputs are still current."""
    nb = nbformat.read(str(ch.source), as_version=4)
    h = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == 'code':
            h.update(cell.source.encode())
            h.update(b'\0')
    h.update(CHECKS.read_bytes())
    for rel, text in earlier_package(ch).items():
        h.update(rel.encode() + text.encode())
    h.update(json.dumps(DETERMINISTIC_ENV, sort_keys=True).encode())
    return h.hexdigest()[:16]


def is_current(ch):
    nb = nbformat.read(str(ch.source), as_version=4)
    return nb.metadata.get('course', {}).get('inputs') == inputs_hash(ch)


def run_notebook(nb, folder, label, timeout=CELL_TIMEOUT, allow_errors=False):
    """Execute `nb` (in memory) with `folder` as its working directory, printing progress."""
    from nbclient import NotebookClient

    pin_environment()
    code_cells = [c for c in nb.cells if c.cell_type == 'code']
    started = time.monotonic()
    done = [0]

    live = sys.stderr.isatty()

    def progress(cell, cell_index, execute_reply):
        # One line rewritten in place on a terminal; in a log, a line per 10 s of work.
        if cell.cell_type != 'code':
            return
        done[0] += 1
        elapsed = time.monotonic() - started
        if live:
            sys.stderr.write(f'\r  {label}: cell {done[0]}/{len(code_cells)}  ({elapsed:5.1f} s)')
        elif elapsed > 10 * (progress.reported + 1):
            progress.reported = int(elapsed // 10)
            sys.stderr.write(f'  {label}: cell {done[0]}/{len(code_cells)} after {elapsed:.0f} s\n')
        sys.stderr.flush()
    progress.reported = 0

    client = NotebookClient(nb, timeout=timeout, kernel_name='python3', allow_errors=allow_errors,
                            resources={'metadata': {'path': str(folder)}},
                            record_timing=False, on_cell_executed=progress,
                            # ipykernel warns about its loopback TCP transport on every start
                            extra_arguments=['--IPKernelApp.log_level=ERROR'])
    try:
        client.execute()
    finally:
        if live:
            sys.stderr.write('\n')
    return time.monotonic() - started


def coalesce_streams(nb):
    """Store a cell's consecutive prints as one output. The kernel sends them in chunks, as they
    are flushed (a training loop: one per epoch), and every chunk would be a box of its own on
    the site and a hunk of its own in a diff. nbval and check.py join streams too."""
    for cell in nb.cells:
        if cell.cell_type != 'code':
            continue
        merged = []
        for out in cell.outputs:
            last = merged[-1] if merged else None
            if last and out.output_type == last.output_type == 'stream' and out.name == last.name:
                last.text += out.text
            else:
                merged.append(out)
        cell.outputs = merged
    return nb


def execute_chapter(ch):
    """Run the chapter's solution notebook in a staged folder and store its outputs in place."""
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(str(ch.source), as_version=4)
    with staged(ch) as folder:
        try:
            seconds = run_notebook(nb, folder, ch.id)
        except CellExecutionError as err:
            text = re.sub(r'\x1b\[[0-9;]*m', '', str(err))
            raise SystemExit(f'error: the solution notebook {ch.source.name} failed while executing:\n'
                             f'{text[-3000:]}\nFix the notebook; nothing was written.') from None
    coalesce_streams(nb)
    nb.metadata.setdefault('course', {})['inputs'] = inputs_hash(ch)     # beside the grading settings
    nbformat.write(nb, str(ch.source))
    return seconds
