"""The landing page's chapter overview and the time estimates: generated from the solution
notebooks (pipeline/overview.py) and current in the committed book/intro.md."""
import pytest

from core.chapters import ROOT, chapters
from pipeline import overview


def test_the_landing_page_overview_is_generated_and_current():
    committed = overview.INTRO.read_text(encoding='utf-8')
    assert overview.BEGIN in committed and overview.END in committed, 'the generated part is marked'
    expected = overview.render_intro(committed, overview.all_facts())
    assert committed == expected, f'{overview.INTRO.relative_to(ROOT)} is stale: run ./course build and commit'


def test_the_landing_page_does_not_call_published_chapters_in_preparation():
    assert 'in preparation' not in overview.INTRO.read_text(encoding='utf-8')


@pytest.mark.parametrize('ch', chapters(), ids=lambda c: c.id)
def test_every_chapter_has_figures_and_a_d2l_section(ch):
    f = overview.facts(ch)
    assert f.exercises > 0 and f.points > 0 and f.answer_lines > 0 and f.prose_words > 500
    assert 0 < f.reading_minutes < 8 * 60 and 0 < f.exercise_minutes < 20 * 60
    assert all(k < ch.number for k in f.prerequisites)
    assert (ch.number == 1) == (not f.prerequisites), 'every chapter after the first imports earlier minimx'
    assert f.builds and f.d2l and all(s.title and s.page.startswith('chapter_') for s in f.d2l)


def test_the_estimate_follows_the_stated_rates():
    f = overview.Facts(1, 'ch01', 'book/ch01/x', 'T', 'b', exercises=3, points=3, prose_words=1200,
                       code_lines=100, answer_lines=30, prerequisites=(), d2l=())
    assert f.reading_minutes == 20              # 1200 / 120 + 100 / 10
    assert f.exercise_minutes == 75             # 3 * 5 + 30 * 2
    assert overview.duration(75) == '1 h 15 min' and overview.duration(60) == '1 h'
    assert overview.chapter_range([1, 2, 3, 5]) == '1–3, 5' and overview.chapter_range([1, 2]) == '1, 2'


def test_the_student_site_overview_lists_released_chapters_only():
    every = overview.all_facts()
    text = overview.render_overview(every[:2], later='8 more chapters follow on the release calendar.')
    assert every[0].docname in text and every[1].docname in text
    assert all(f.docname not in text and f.builds not in text for f in every[2:])
    assert '8 more chapters follow' in text and 'in preparation' not in text
