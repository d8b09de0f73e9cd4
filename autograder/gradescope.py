"""`./course gradescope chNN`: the zip Gradescope's autograder runs for one chapter.

What Gradescope does with it, as its documentation describes it ("Autograder
Specifications", "Submission Metadata", "Technical Details" and "Base Images" at
gradescope-autograders.readthedocs.io; docs/specs.md and docs/base_images.md of
github.com/gradescope/autograder_samples):

- the zip's contents are extracted into /autograder/source, and `setup.sh` runs there once,
  as root, when the image is built (Ubuntu 22.04 is the default base image);
- for each submission a fresh container of that image starts, puts the student's files in
  /autograder/submission and /autograder/submission_metadata.json, and runs
  /autograder/run_autograder (a copy of ours) as root, with /autograder as the working folder;
- what it uploads is /autograder/results/results.json; run_autograder's output goes to
  /autograder/results/stdout, which only instructors see unless results.json says otherwise.

The zip holds everything grading needs and nothing else:

  setup.sh, run_autograder, requirements.txt   the environment and the entry point
  gradescope.json, grading-key.json            the chapter; a fresh key for the hidden cases
  autograder/, core/, solutions/checks.py      the grader, the very code `./course grade` runs
  solutions/chNN/, book/chNN/                  the instructor notebook and the student edition
  solutions/chMM/ (MM < NN)                    each earlier chapter reduced to its exported cells
                                               and headings: what core/staging.py builds the
                                               staged minimx of earlier chapters from, no more

The student's code runs in the same container, so the zip is secret: run_autograder makes
/autograder/source root's alone before anything else runs (autograder/gradescope_run.py).
"""
import json
import re
import secrets
import zipfile
from pathlib import Path

import nbformat

from core.chapters import BUILD, CHECKS, ROOT, before
from core.requirements import pinned_closure
from core.notebook_format import export_target, nbgrader_metadata

SCRIPTS = Path(__file__).resolve().parent / 'gradescope_scripts'
# What the grader imports besides the standard library (autograder/, core/, the harness,
# checks.py and minimx); nbgrader's gradebook is not used on Gradescope.
GRADER_PACKAGES = ('numpy', 'matplotlib', 'nbformat', 'psutil')
# A zip's entries all get this time stamp: the same chapter gives the same zip but for the key.
STAMP = (2020, 1, 1, 0, 0, 0)


def default_path(ch):
    return BUILD / 'gradescope' / f'{ch.id}-autograder.zip'


def pinned_requirements(packages=GRADER_PACKAGES):
    """requirements.txt of `packages` and everything they pull in, at this environment's
    versions (the ones requirements.txt pins)."""
    return ''.join(f'{line}\n' for line in [
        f'# The grader\'s environment on Gradescope: {", ".join(packages)} and what they pull in,',
        '# pinned as the course\'s requirements.txt pins them. Written by `./course gradescope`.',
        *pinned_closure(packages)])


HEADING = re.compile(r'^#{1,3} ')


def exports_only(notebook_path):
    """An earlier chapter's notebook with only what its exported modules are built from: the
    `#| export` cells (with their nbgrader metadata, which says whether a cell is an
    exercise's answer) and the headings of the markdown cells (chapter, section, exercise:
    the provenance comments). No hidden test, other answer, prose or instructor note."""
    nb = nbformat.read(str(notebook_path), as_version=4)
    kept = []
    for cell in nb.cells:
        if cell.cell_type == 'markdown':
            headings = [line for line in cell.source.split('\n') if HEADING.match(line)]
            if headings:
                kept.append(nbformat.v4.new_markdown_cell('\n'.join(headings)))
        elif cell.cell_type == 'code' and export_target(cell.source)[0] is not None:
            code = nbformat.v4.new_code_cell(cell.source)
            if nbgrader_metadata(cell):
                code.metadata['nbgrader'] = dict(nbgrader_metadata(cell))
            kept.append(code)
    out = nbformat.v4.new_notebook(cells=kept)
    docs = nb.metadata.get('course', {}).get('module_docs')
    if docs:
        out.metadata['course'] = {'module_docs': docs}
    for cell in out.cells:
        cell.pop('id', None)             # fresh random ids would make every zip differ
    out.nbformat_minor = 4
    return nbformat.writes(out)


def members(ch):
    """[(name in the zip, bytes, executable)] of everything the autograder needs, but the key."""
    files = [('setup.sh', (SCRIPTS / 'setup.sh').read_bytes(), True),
             ('run_autograder', (SCRIPTS / 'run_autograder').read_bytes(), True),
             ('requirements.txt', pinned_requirements().encode(), False),
             ('gradescope.json', json.dumps({'chapter': ch.id}, indent=1).encode() + b'\n', False)]
    for package in ('autograder', 'core'):
        for path in sorted((ROOT / package).rglob('*.py')):
            if '__pycache__' not in path.parts:
                files.append((path.relative_to(ROOT).as_posix(), path.read_bytes(), False))
    files.append(('solutions/checks.py', CHECKS.read_bytes(), False))
    for earlier in before(ch):
        files.append((earlier.source.relative_to(ROOT).as_posix(), exports_only(earlier.source).encode(), False))
    for path in (ch.source, ch.student):
        files.append((path.relative_to(ROOT).as_posix(), path.read_bytes(), False))
    return files


def write(ch, out=None):
    """Write the chapter's autograder zip (default _build/gradescope/chNN-autograder.zip)."""
    out = Path(out or default_path(ch))
    out.parent.mkdir(parents=True, exist_ok=True)
    # Like Store.secret: a random key from which every submission's hidden cases are a keyed
    # hash of its identity; a new one per zip, so an old zip's cases say nothing of a new one's.
    key = json.dumps({'key': secrets.token_hex(32)}).encode() + b'\n'
    tmp = out.with_name(f'.{out.name}.tmp')
    with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as archive:
        for name, data, executable in [*members(ch), ('grading-key.json', key, False)]:
            info = zipfile.ZipInfo(name, STAMP)
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    tmp.replace(out)
    return out
