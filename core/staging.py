"""A chapter's folder as a student has it: checks.py and the minimx of the earlier chapters.

Building (pipeline/execute.py), releasing (pipeline/release.py) and grading
(autograder/assignment.py) all run or hand out a chapter beside exactly this, so it is
computed here once: a chapter never sees the reference code of itself or a later chapter.
"""
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from core.chapters import CHECKS, before
from core.export import assemble, exported_cells, package_files, write_package


def earlier_package(ch, for_students=False):
    """{relative path: text} of the minimx built from the reference code of the chapters
    before `ch` ({} for the first chapter). `for_students`: the files' headers name the
    chapters' notebooks, not the repository's paths (a released folder)."""
    earlier = before(ch)
    if not earlier:
        return {}
    if for_students:
        return assemble([(f'{k.name}.ipynb', exported_cells(k.source)) for k in earlier], how='the course',
                        advice='it is built from the chapters\' notebooks')
    return package_files(earlier)


def stage(ch, folder):
    """Fill `folder` with what a student of `ch` has: checks.py and minimx of earlier chapters."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(CHECKS, folder / 'checks.py')
    files = earlier_package(ch)
    if files:
        write_package(files, folder)
    return folder


@contextmanager
def staged(ch):
    with tempfile.TemporaryDirectory(prefix=f'{ch.id}-run-') as tmp:
        yield stage(ch, tmp)
