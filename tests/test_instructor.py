"""Instructor-only cells (tagged `instructor`): kept out of the student edition, answering every
chapter's exercises to think about, and collected into the generated instructor guide."""
import re

import nbformat
import pytest
import yaml

from pipeline import instructor
from core.chapters import BOOK, ROOT, chapters
from pipeline.nbgrader_settings import INSTRUCTOR_TAG, DropInstructorCells, config, is_instructor_cell

CHAPTERS = chapters()
EXERCISES = '**Exercises to think about (not graded).**'
GUIDE = 'book/instructor/guide'


def cells(path):
    return nbformat.read(str(path), as_version=4).cells


def ch_doc(ch):
    return f'/book/{ch.id}/{ch.name}'


def numbered(text):
    """The numbers of the top-level items of a markdown numbered list ('1. ...' at column 0)."""
    return [int(n) for n in re.findall(r'^(\d+)\. ', text, re.M)]


@pytest.mark.parametrize('ch', CHAPTERS, ids=lambda c: c.id)
def test_student_edition_has_no_instructor_cell_and_no_instructor_text(ch):
    student = cells(ch.student)
    assert not [c.get('id') for c in student if is_instructor_cell(c)], 'instructor cells in the student edition'
    for cell in student:
        assert 'for instructors' not in cell.source.lower(), f'{ch.id} {cell.get("id")}: an instructor note'
        assert 'instructor note' not in cell.source.lower(), f'{ch.id} {cell.get("id")}: points to an instructor note'
        if cell.cell_type == 'markdown':
            assert 'MINIMX_EPOCHS' not in cell.source, f'{ch.id} {cell.get("id")}: tells students about grading'
    for cell in student:
        if cell.cell_type == 'code':
            comments = ' '.join(line for line in cell.source.splitlines() if line.lstrip().startswith('#'))
            assert not re.search(r'grad(ing|er)\b|instructor', comments, re.I), \
                f'{ch.id} {cell.get("id")}: a comment about grading or instructors: {comments[:120]}'


@pytest.mark.parametrize('ch', CHAPTERS, ids=lambda c: c.id)
def test_student_edition_is_the_solution_without_its_instructor_cells(ch):
    kept = [c.get('id') for c in cells(ch.source) if not is_instructor_cell(c)]
    assert [c.get('id') for c in cells(ch.student)] == kept


@pytest.mark.parametrize('ch', CHAPTERS, ids=lambda c: c.id)
def test_instructor_cells_are_markdown_sections(ch):
    tagged = [c for c in cells(ch.source) if is_instructor_cell(c)]
    for cell in tagged:
        assert cell.cell_type == 'markdown' and not cell.metadata.get('nbgrader'), cell.get('id')
        assert cell.source.startswith('## For instructors: '), f'{ch.id} {cell.get("id")}: heading'
    untagged = [c for c in cells(ch.source) if not is_instructor_cell(c)]
    assert not [c.get('id') for c in untagged if 'for instructors' in c.source.lower()], \
        'an instructor note without the instructor tag'


@pytest.mark.parametrize('ch', CHAPTERS, ids=lambda c: c.id)
def test_every_exercise_to_think_about_has_an_instructor_answer(ch):
    nb = cells(ch.source)
    found = [i for i, c in enumerate(nb) if c.cell_type == 'markdown' and EXERCISES in c.source]
    assert len(found) == 1, f'{ch.id}: {len(found)} cells with the exercises to think about'
    at = found[0]
    questions = numbered(nb[at].source.partition(EXERCISES)[2])
    assert questions and questions == list(range(1, len(questions) + 1)), f'{ch.id}: exercises {questions}'
    assert at + 1 < len(nb), f'{ch.id}: nothing after the exercises'
    answers = nb[at + 1]
    assert is_instructor_cell(answers), f'{ch.id}: the cell after the exercises is not an instructor cell'
    assert answers.source.startswith('## For instructors: answers'), f'{ch.id}: {answers.source[:60]!r}'
    assert numbered(answers.source) == questions, f'{ch.id}: answers {numbered(answers.source)} to {questions}'
    for number, body in enumerate(re.split(r'^\d+\. ', answers.source, flags=re.M)[1:], 1):
        assert len(body.split()) >= 25, f'{ch.id}: answer {number} is too short to teach anything'


def test_the_preprocessor_drops_tagged_markdown_and_refuses_tagged_code():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    drop = DropInstructorCells(config=config(ROOT))
    assert drop.enabled
    nb = new_notebook(cells=[new_markdown_cell('# Title'),
                             new_markdown_cell('## For instructors: x', metadata={'tags': [INSTRUCTOR_TAG]}),
                             new_code_cell('1 + 1'),
                             new_markdown_cell('other tags stay', metadata={'tags': ['hide-input']})])
    out, _ = drop.preprocess(nb, {})
    assert [c.source for c in out.cells] == ['# Title', '1 + 1', 'other tags stay']
    for bad in (new_code_cell('x = 1', metadata={'tags': [INSTRUCTOR_TAG]}),
                new_markdown_cell('graded', metadata={'tags': [INSTRUCTOR_TAG], 'nbgrader': {'grade': True}})):
        with pytest.raises(ValueError, match='tagged'):
            drop.preprocess(new_notebook(cells=[bad]), {})


def test_the_preprocessor_runs_first_when_the_student_edition_is_generated():
    steps = config(ROOT).GenerateAssignment.preprocessors
    assert steps[0] is DropInstructorCells, 'instructor cells go before anything else sees them'


def test_instructor_guide_is_generated_and_current():
    committed = instructor.PAGE.read_text(encoding='utf-8')
    assert committed.startswith('% GENERATED by `./course build` (pipeline/instructor.py)'), 'say it is generated'
    assert committed == instructor.render(), \
        f'{instructor.PAGE.relative_to(ROOT)} is stale: run ./course build and commit'


def test_instructor_guide_has_every_instructor_cell_in_order_under_its_chapter():
    page = instructor.PAGE.read_text(encoding='utf-8')
    assert 'not part of what students get' in page
    headings = [f'<{ch_doc(ch)}>`\n' for ch in CHAPTERS]
    positions = [page.index(h) for h in headings]
    assert positions == sorted(positions), 'chapters in book order'
    for ch, start, end in zip(CHAPTERS, positions, positions[1:] + [len(page)]):
        section = page[start:end]
        at = 0
        for cell in (c for c in cells(ch.source) if is_instructor_cell(c)):
            body = cell.source.partition('\n')[2].strip()           # below the cell's own heading
            title = cell.source.partition('\n')[0].removeprefix('## For instructors: ')
            found = section.find(f'### {title[:1].upper()}{title[1:]}\n', at)
            assert found >= 0, f'{ch.id}: no section {title!r} in the guide'
            assert section.find(body, found) > found, f'{ch.id}: {title!r} differs from the notebook'
            at = found + 1
    headings = [line for line in page.splitlines() if line.startswith('#')]
    assert not [h for h in headings if 'For instructors:' in h], 'the whole page is for instructors'


def test_instructor_guide_is_the_last_part_of_the_toc():
    toc = yaml.safe_load((ROOT / '_toc.yml').read_text())
    parts = toc['parts']
    last = [c['file'] for c in parts[-1]['chapters']]
    assert GUIDE in last, 'the guide is listed in the last part'
    assert all(f.startswith('book/instructor/') for f in last), f'only instructor pages in the last part: {last}'
    assert 'instructor' in parts[-1]['caption'].lower()
    earlier = [c['file'] for part in parts[:-1] for c in part['chapters']] + [toc['root']]
    assert not [f for f in earlier if f.startswith('book/instructor/')], 'instructor pages only in the last part'
    assert (BOOK / 'instructor' / 'guide.md').is_file()


@pytest.mark.slow
@pytest.mark.xdist_group('site')       # the built site: the worker that built it for test_site (Makefile)
def test_instructor_guide_page_links_every_chapter(site):
    page = (site / 'book' / 'instructor' / 'guide.html').read_text(encoding='utf-8')
    for ch in CHAPTERS:
        assert f'href="../{ch.id}/{ch.name}.html"' in page, f'the guide does not link {ch.id}'
    assert page.count('Answers to the exercises to think about') >= len(CHAPTERS)
