"""The concept diagrams (pipeline/figures.py): each chapter has one, each is the picture drawn
now, and each reaches the student edition, the release folder and the site."""
import re

import nbformat
import pytest

from core.chapters import chapters
from pipeline import figures

CHAPTERS = chapters()


def figure_cells(path):
    return [(figures.figure_name(c), c) for c in nbformat.read(str(path), as_version=4).cells
            if figures.figure_name(c)]


@pytest.mark.parametrize('ch', CHAPTERS, ids=lambda c: c.id)
def test_every_chapter_has_a_concept_diagram_that_its_text_refers_to(ch):
    cells = figure_cells(ch.source)
    assert cells, f'{ch.id} has no figure cell'
    prose = '\n'.join(c.source for c in nbformat.read(str(ch.source), as_version=4).cells if c.cell_type == 'markdown')
    for number, (name, cell) in enumerate(cells, 1):
        assert name.startswith(ch.id + '_'), f'{ch.id} shows {name}, a figure of another chapter'
        label = f'Figure {ch.number}.{number}'
        assert f'*{label} — ' in cell.source, f'{name}: no caption starting "*{label} — "'
        assert prose.count(label) >= 2, f'{name}: the text never refers to {label}'
        alt = re.search(r'!\[([^\]]*)\]\(data:image/png', cell.source)
        assert alt and len(alt.group(1)) > 40, f'{name}: the image needs a description (alt text)'


def test_every_figure_is_shown_once():
    shown = [name for ch in CHAPTERS for name, _ in figure_cells(ch.source)]
    assert sorted(shown) == sorted(figures.FIGURES), 'pipeline/figures.py and the figure cells disagree'


@pytest.mark.parametrize('ch', CHAPTERS, ids=lambda c: c.id)
def test_figure_cells_hold_the_picture_drawn_now(ch):
    """Stale when the drawing code (or a name or shape minimx reports) changed: ./course build."""
    for name, cell in figure_cells(ch.source):
        assert figures.embedded(cell) == figures.drawn(name), \
            f'{ch.source.name}: the picture of {name} is stale: run ./course build and commit'


@pytest.mark.parametrize('ch', CHAPTERS, ids=lambda c: c.id)
def test_student_edition_carries_the_figures(ch):
    """The student edition is what the site, the downloads and `./course release` ship."""
    source = {name: figures.embedded(cell) for name, cell in figure_cells(ch.source)}
    student = {name: figures.embedded(cell) for name, cell in figure_cells(ch.student)}
    assert student == source


def test_drawing_is_deterministic_and_legible():
    name = 'ch01_broadcasting'
    assert figures.png(figures.FIGURES[name]()) == figures.png(figures.FIGURES[name]())
    fig, ax = figures.canvas(2, 1)
    figures.text(ax, 1, 0.5, 'too small', size=figures.MIN_FONT - 1)
    with pytest.raises(ValueError, match='too small'):
        figures.png(fig)


def test_a_figure_cell_holds_exactly_one_image():
    with pytest.raises(ValueError):
        figures.with_figure('no image here', b'')
    one = 'Look.\n\n![what it shows](data:image/png;base64,)\n\n*caption*'
    assert figures.with_figure(one, b'PNG') == one.replace('base64,)', 'base64,UE5H)')
