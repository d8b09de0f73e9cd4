"""The course's layers, read from the import statements (ast, nothing is imported).

    cli.py                     the command line: may use everything
    pipeline/   autograder/    building the course / grading it: never each other
    core/                      what both stand on: never anything above it

The modules that ship into a student's `.course/` folder must need nothing but the standard
library, nbformat and each other, since that is all a student's machine has.
"""
import ast
import sys

import pytest

from core.chapters import ROOT
from pipeline.release import SHIPPED_CODE

FORBIDDEN = {'core': {'pipeline', 'autograder', 'cli'}, 'pipeline': {'autograder', 'cli'},
             'autograder': {'pipeline', 'cli'}}


def imports(path):
    """(line, top-level module) of every absolute import in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name.partition('.')[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module.partition('.')[0]))
    return found


@pytest.mark.parametrize('package', sorted(FORBIDDEN))
def test_packages_import_only_downwards(package):
    files = sorted((ROOT / package).rglob('*.py'))
    assert files
    wrong = [f'{path.relative_to(ROOT)}:{line} imports {module}' for path in files
             for line, module in imports(path) if module in FORBIDDEN[package]]
    assert not wrong, 'imports against the layering:\n' + '\n'.join(wrong)


def test_shipped_code_needs_only_the_standard_library_and_nbformat():
    shipped = {rel.partition('/')[0].removesuffix('.py') for rel in SHIPPED_CODE}
    for rel, source in SHIPPED_CODE.items():
        for line, module in imports(source):
            assert module in sys.stdlib_module_names or module == 'nbformat' or module in shipped, \
                f'{rel}:{line} imports {module}, which the student\'s .course/ folder does not have'


def test_chapter_settings_live_in_the_chapter_not_in_the_grader():
    """Chapter 10 leaves its LeNet training out of grading, and trains one epoch wherever the
    grader runs it: its notebook says so (metadata course.grading), the plan carries it, and
    nothing in autograder/ names a chapter's setting. The student edition does not carry the
    grader's settings."""
    import json

    from core.chapters import chapter
    lenet = chapter('ch10')
    assert lenet.grading['env'] == {'MINIMX_EPOCHS': '1'}
    assert 'code040' in lenet.grading['demonstrations']['skip']
    assert 'grading' not in json.loads(lenet.student.read_text(encoding='utf-8'))['metadata'].get('course', {})
    for path in sorted((ROOT / 'autograder').rglob('*.py')):
        assert 'MINIMX_EPOCHS' not in path.read_text(encoding='utf-8'), path.relative_to(ROOT)
