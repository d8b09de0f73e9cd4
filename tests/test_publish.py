"""What students get (`./course publish`), as of several days of the release calendar: only the
chapters released by then, the reference code of an earlier chapter only after its deadline,
and nowhere -- no page, notebook, zip member, search index or source file -- a line of an
answer the calendar does not release, of a hidden test, or of an instructor note."""
import datetime
import html
import io
import re
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import FIGURES, built_once, leaked, public_text
from core.chapters import ROOT, chapters
from core.notebook_format import marker_lines, region_bodies
from pipeline.publish import CHAPTER_LINK, publish
from pipeline.schedule import SCHEDULE, load

pytestmark = pytest.mark.slow
PUBLIC = '\n'.join(public_text(ch) for ch in chapters())


def region_lines(ch, hidden):
    """Lines of the chapter's hidden tests (`hidden`) or of its reference answers."""
    lines = set()
    for cell in nbformat.read(str(ch.source), as_version=4).cells:
        for body in region_bodies(cell.source, hidden):
            lines.update(line.strip() for line in body.splitlines())
    return {line for line in lines if len(line) > 20 and line not in PUBLIC}


def instructor_lines(ch):
    """Lines of the cells tagged `instructor` (the instructor guide's material)."""
    lines = set()
    for cell in nbformat.read(str(ch.source), as_version=4).cells:
        if 'instructor' in cell.get('metadata', {}).get('tags', []):
            lines.update(line.strip() for line in cell.source.splitlines())
    return {line for line in lines if len(line) > 20 and line not in PUBLIC}


TAG = re.compile(r'<[^>]*>')
SMART_QUOTES = str.maketrans({'\u2018': "'", '\u2019': "'", '\u201c': '"', '\u201d': '"'})


def shown_text(page):
    """An HTML page's text as a browser shows it. In the markup a leaked line is never whole:
    highlighted code is a span per token, `<`, `&` and quotes are entities, and prose gets
    curly quotes."""
    return html.unescape(TAG.sub('', page)).translate(SMART_QUOTES)


def published_texts(out):
    """(name, text) of every file under `out`, and of every member of every zip there; an
    HTML page also as it is shown."""
    for path in sorted(p for p in Path(out).rglob('*') if p.is_file()):
        data = path.read_bytes()
        yield str(path.relative_to(out)), data.decode('utf-8', errors='ignore')
        if path.suffix == '.html':
            yield f'{path.relative_to(out)} (as shown)', shown_text(data.decode('utf-8', errors='ignore'))
        if path.suffix == '.zip':
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for member in zf.namelist():
                    yield f'{path.relative_to(out)}:{member}', zf.read(member).decode('utf-8', errors='ignore')


DAYS = {
    'before the term': datetime.date(2027, 1, 4),
    'chapter 2 out, chapter 1 still due': datetime.date(2027, 1, 20),
    'chapter 1 past its deadline': datetime.date(2027, 1, 26),
    'the end of the term': datetime.date(2027, 6, 1),
}


# Each day's publication is built once: its tests share one xdist worker (Makefile).
@pytest.fixture(scope='module', params=[pytest.param(day, marks=pytest.mark.xdist_group(f'publish-{n}'))
                                        for n, day in enumerate(DAYS)],
                ids=lambda day: day.replace(' ', '_'))
def published(request, tmp_path_factory):
    as_of = DAYS[request.param]
    out = built_once(('published', as_of), lambda: publish(tmp_path_factory.mktemp('published'), as_of=as_of))
    return out, load(SCHEDULE, as_of)


def test_nothing_is_published_that_the_calendar_keeps(published):
    out, schedule = published
    kept, released = {}, set()                # line -> what it is, for the lines that must not be there
    for ch in chapters():
        for line in region_lines(ch, hidden=True) | instructor_lines(ch):
            kept[line] = f'{ch.id} hidden test or instructor note'
        answers = region_lines(ch, hidden=False)
        if schedule.past_deadline(ch):
            released |= answers
        else:
            for line in answers:
                kept.setdefault(line, f'{ch.id} answer (deadline {schedule.deadline(ch)})')
    # A line that a released reference answer holds too may be there (in that chapter's code).
    forbidden = {line: what for line, what in kept.items() if not (line in released and ' answer ' in what)}
    scanned, found = 0, []
    for name, text in published_texts(out):
        scanned += 1
        found += [(name, forbidden[line]) for line in leaked(list(forbidden), text)]
        assert 'solutions/' not in text, f'{name} names the instructor repository\'s solutions/'
        # compiled code holds no line of its source: this scan could not see what it carries
        assert not name.endswith(('.pyc', '.pyo', '.so')), f'{name} is compiled code'
    FIGURES[f'publish as of {schedule.as_of}: files scanned (zip members included)'] = scanned
    assert found == [], found[:10]
    assert scanned > 10


def test_a_line_in_a_highlighted_or_escaped_page_is_found():
    """A line the site shows is found even where its markup splits or escapes it: a code block
    highlighted token by token, `<` and quotes as entities."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    line = "return (a < b) & (mode == 'wrap')"
    for page in (highlight(line, PythonLexer(), HtmlFormatter()), f'<p>{html.escape(line)}</p>'):
        assert leaked([line], page) == []                       # the markup alone hides it
        assert leaked([line], shown_text(page)) == [line], page


# The shipped copy of the format's own definition is the one file that names the markers.
FORMAT_COPY = '.course/core/notebook_format.py'


def test_no_published_file_holds_a_marker(published):
    out, _ = published
    found = [(name, lines[0]) for name, text in published_texts(out)
             if not name.endswith(FORMAT_COPY) and (lines := marker_lines(text))]
    assert found == [], found[:10]


def test_only_released_chapters_and_due_references_are_there(published):
    out, schedule = published
    student = out / 'student'
    for ch in chapters():
        folder = student / ch.name
        assert folder.exists() == schedule.released(ch), ch.id
        assert (out / 'site' / 'book' / ch.id).exists() == schedule.released(ch), ch.id
        if not folder.exists():
            continue
        earlier = [k for k in chapters() if k.number < ch.number]
        for k in earlier:
            shipped = (folder / '.course' / 'exports' / f'{k.id}.json').exists()
            assert shipped == schedule.past_deadline(k), (ch.id, k.id)
        assert (folder / 'minimx').exists() == bool(earlier and all(schedule.past_deadline(k) for k in earlier)), ch.id
        assert {'check.py', 'checks.py', f'{ch.name}.ipynb', 'README.md'} <= {p.name for p in folder.iterdir()}
    assert not (out / 'site' / 'book' / 'instructor').exists()
    assert (student / 'requirements.txt').read_text() == (ROOT / 'student' / 'requirements.txt').read_text()


def test_the_student_pages_describe_only_the_student_edition(published):
    out, _ = published
    readme = (out / 'student' / 'README.md').read_text()
    preface = (out / 'site' / 'book' / 'preface.html').read_text()
    for text in (readme, preface):
        for word in ('./course', 'make book', 'solutions', 'instructor repository', 'For instructors'):
            assert word not in text, word


def test_the_pitfalls_page_names_only_released_chapters(published):
    """A pitfall of a chapter to come describes one of its exercises: it waits for the chapter."""
    out, schedule = published
    page = (out / 'site' / 'book' / 'appendix' / 'pitfalls.html').read_text()
    released = {ch.number for ch in chapters() if schedule.released(ch)}
    sections = re.split(r'(?m)^### ', (ROOT / 'book' / 'appendix' / 'pitfalls.md').read_text())[1:]
    shown = [s for s in sections if {int(a or b) for a, b in CHAPTER_LINK.findall(s)} <= released]
    assert page.count('<h3') == len(shown)
    assert 'in preparation' not in page                      # what a link to an unreleased chapter says
    assert ('NestMLP' in page) == (7 in released)             # chapter 7's find-the-bug exercise
    assert ('once those chapters are published' in page) == (len(shown) < len(sections))


def test_without_a_calendar_everything_is_published_loudly(tmp_path, capsys):
    out = publish(tmp_path / 'out', as_of=datetime.date(2027, 1, 4), schedule_path=tmp_path / 'missing.toml',
                  site=False)
    assert 'WARNING: no schedule.toml' in capsys.readouterr().out
    assert {p.name for p in (out / 'student').iterdir() if p.is_dir()} == {ch.name for ch in chapters()}


@pytest.mark.parametrize('text, words', [
    ('[ch99]\nrelease = 2027-01-01\ndeadline = 2027-01-02\n', 'do not exist'),
    ('[ch01]\nrelease = 2027-01-10\ndeadline = 2027-01-02\n', 'before its release'),
    ('[ch01]\nrelease = 2027-01-10\n', 'needs exactly'),
    ('[ch01\n', 'not valid TOML'),
])
def test_a_broken_calendar_is_named(tmp_path, text, words):
    path = tmp_path / 'schedule.toml'
    path.write_text(text)
    with pytest.raises(SystemExit, match=words):
        load(path, datetime.date(2027, 1, 4))


def test_the_landing_page_overviews_the_released_chapters_only(published):
    """The chapter table of the student site: a row per released chapter, with its figures; of
    the chapters to come only how many there are and the next date, never their titles."""
    out, schedule = published
    page = (out / 'site' / 'book' / 'intro.html').read_text(encoding='utf-8')
    assert 'in preparation' not in page
    from pipeline import overview
    for f in overview.all_facts():
        ch = next(c for c in chapters() if c.number == f.number)
        linked = f'href="{ch.id}/{ch.name}.html"' in page
        assert linked == schedule.released(ch), ch.id
        assert all((s.url in page) == schedule.released(ch) for s in f.d2l), ch.id   # its row of the d2l table
    unreleased = [ch for ch in chapters() if not schedule.released(ch)]
    assert ('more chapter' in page) == bool(unreleased)
    assert 'How the times are estimated' in page


def test_the_speed_page_is_published_every_day_and_scanned(published):
    """The page shows timings only (tests/test_speed.py: its code imports nothing of minimx), so it
    is published on every day; the scan above reads it, its notebook and its JSON like every file."""
    out, _ = published
    page = out / 'site' / 'book' / 'appendix' / 'speed.html'
    assert page.exists() and 'How fast is your minimx?' in page.read_text(encoding='utf-8')
    scanned = {name for name, _ in published_texts(out)}
    assert {'site/book/appendix/speed.html', 'site/book/appendix/speed.html (as shown)',
            'site/_sources/book/appendix/speed.ipynb'} <= scanned
    assert any(name.startswith('site/_downloads/') and name.endswith('/speed.json') for name in scanned)
