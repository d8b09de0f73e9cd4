"""The student edition: nbgrader's generate_assignment, solutions/chNN -> book/chNN.

Answer regions become `raise NotImplementedError()`, hidden tests disappear, cells tagged
`instructor` are left out (nbgrader_settings.DropInstructorCells; pipeline/instructor.py puts
them in the instructor guide), and the reference outputs stay as the expected output (see
nbgrader_settings.ClearSolutionOutputs).
"""
import logging
import re
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from core.chapters import ROOT
from core.environment import pin_environment
from pipeline.nbgrader_settings import config


@lru_cache(maxsize=None)
def alembic_head():
    """The newest revision of nbgrader's gradebook schema: the one revision in its migration
    scripts that no other revises.

    nbgrader stamps each new gradebook with it by running `alembic heads` in a subprocess,
    which was most of every generate_assignment's time (6-7 s of 8 on a busy machine, paid by
    each `./course grade` and every student-edition check). The scripts say the same thing."""
    import nbgrader

    revisions, revised = set(), set()
    for script in (Path(nbgrader.__file__).parent / 'alembic' / 'versions').glob('*.py'):
        text = script.read_text(encoding='utf-8')
        revisions.update(re.findall(r"^revision = '(\w+)'", text, re.M))
        revised.update(re.findall(r"^down_revision = '(\w+)'", text, re.M))
    heads = revisions - revised
    if len(heads) != 1:
        raise SystemExit(f"error: nbgrader's gradebook migrations have {len(heads)} newest revisions "
                         f"({sorted(heads)}); reinstall the pinned nbgrader (requirements.txt)")
    return heads.pop()


def nbgrader_api(root, **settings):
    import nbgrader.api
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    pin_environment()                 # nbgrader may still call its own `alembic`: needs our PATH
    head = alembic_head()
    nbgrader.api.get_alembic_version = lambda: head       # instead of a subprocess per gradebook
    cfg = config(root, **settings)
    api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
    api.log.setLevel(logging.WARNING)
    return api


def _run(result, what):
    if not result.get('success'):
        raise SystemExit(f'error: nbgrader {what} failed:\n{result.get("error") or result.get("log")}')


def generate(chapter_list, root=ROOT, release_directory='book', work_directory=None):
    """Write the student edition of each chapter into `root/release_directory/chNN/`.

    nbgrader records the assignment in the gradebook of `work_directory`; without one (the
    book), a throwaway gradebook is used so that building never touches a real one."""
    with tempfile.TemporaryDirectory(prefix='gradebook-') as scratch:
        work = work_directory or scratch
        Path(root, work).mkdir(parents=True, exist_ok=True)
        api = nbgrader_api(root, release_directory=release_directory, work_directory=work)
        for ch in chapter_list:
            _run(api.generate_assignment(ch.id, force=True, create=True), f'generate_assignment {ch.id}')


def generate_elsewhere(chapter_list):
    """Generate the student editions from the current solutions into a scratch copy of the
    course and return {relative path: bytes} of what landed in its book/ (staleness checks)."""
    with tempfile.TemporaryDirectory(prefix='student-edition-') as tmp:
        tmp = Path(tmp)
        for ch in chapter_list:
            shutil.copytree(ch.source.parent, tmp / 'solutions' / ch.id)
        generate(chapter_list, root=tmp)
        return {p.relative_to(tmp / 'book').as_posix(): p.read_bytes()
                for p in sorted((tmp / 'book').rglob('*')) if p.is_file()}
