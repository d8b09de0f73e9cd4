"""The site as jupyter-book builds it from a clean checkout: pages, outputs, downloads, the
generated API appendix, and no solution code anywhere in it."""
import datetime
import html
import os
import re
import subprocess
import tempfile
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import FIGURES, leaked, secret_lines, secret_lines_of, solution_text
from pipeline import apidoc
from pipeline.build import jupyter_book
from core.chapters import ROOT, chapters
from pipeline.release import release
from pipeline.schedule import Schedule

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group('site')]  # the built site: one xdist worker builds it (Makefile)
CHAPTERS = chapters()
IMAGE_TYPES = ('image/png', 'image/jpeg', 'image/svg+xml', 'image/gif')


def text(path):
    """What a reader sees on a page: tags stripped (code is split into highlighting spans)."""
    return html.unescape(re.sub(r'<[^>]+>', '', Path(path).read_text(encoding='utf-8')))


def earlier(ch):
    """The chapters a release of `ch` may ship: worked out here, not by the code under test."""
    return [c for c in CHAPTERS if c.number < ch.number]


def page_of(site, ch):
    return site / 'book' / ch.id / f'{ch.name}.html'


def downloads(site, ch):
    """{file name: path} of the downloads the chapter page links to."""
    hrefs = re.findall(r'<a class="reference download internal" download="" href="([^"]+)"',
                       page_of(site, ch).read_text(encoding='utf-8'))
    return {Path(h).name: (page_of(site, ch).parent / h).resolve() for h in hrefs}


def test_landing_page_and_preface_render(site):
    index = text(site / 'book' / 'intro.html')
    assert 'Deep Learning from Zero' in index and 'How to start' in index
    preface = text(site / 'book' / 'preface.html')
    assert 'check.py ch01_ndarray.ipynb' in preface and 'check.py --submit' in preface and '一.1' in preface


def test_landing_page_links_every_published_chapter(site):
    index = (site / 'book' / 'intro.html').read_text(encoding='utf-8')
    for ch in CHAPTERS:
        assert f'href="{ch.id}/{ch.name}.html"' in index, f'the landing page does not link {ch.id}'


@pytest.mark.parametrize('ch', CHAPTERS, ids=lambda c: c.id)
def test_chapter_pages_show_reference_outputs_and_no_solutions(site, ch):
    page = text(page_of(site, ch))
    assert page.count('visible tests passed') >= 8, 'the test cells\' reference outputs are shown'
    assert 'raise NotImplementedError' in page, 'the stubs are shown, not the solutions'
    found = leaked(secret_lines(ch), page)
    assert not found, f'solution lines published on the {ch.id} page: {found[:3]}'


@pytest.mark.parametrize('ch', CHAPTERS, ids=lambda c: c.id)
def test_chapter_pages_show_every_stored_output_and_figure(site, ch):
    page, raw = text(page_of(site, ch)), page_of(site, ch).read_text(encoding='utf-8')
    nb = nbformat.read(str(ch.student), as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs]
    missing = []
    for out in outputs:
        if any(t in out.get('data', {}) for t in IMAGE_TYPES):
            continue                       # a figure is shown as its image, counted below
        shown = out.get('text') or out.get('data', {}).get('text/plain', '')
        lines = [ln.strip() for ln in shown.splitlines() if ln.strip()]
        if lines and lines[0] not in page:
            missing.append(lines[0])
    assert not missing, f'{ch.id}: stored outputs not on the page: {missing[:3]}'
    figures = sum(1 for o in outputs if any(t in o.get('data', {}) for t in IMAGE_TYPES))
    shown = len(re.findall(r'<img [^>]*src="[^"]*_images/', raw))
    assert shown >= figures, f'{ch.id}: {figures} figures in the notebook, {shown} on the page'


@pytest.mark.parametrize('ch', CHAPTERS, ids=lambda c: c.id)
def test_chapter_downloads_are_the_notebook_and_its_release_folder(site, ch):
    files = downloads(site, ch)
    assert set(files) == {ch.student.name, f'{ch.name}.zip'}, f'{ch.id} page links {sorted(files)}'
    assert files[ch.student.name].read_bytes() == ch.student.read_bytes()
    with zipfile.ZipFile(files[f'{ch.name}.zip']) as zf:
        shipped = {n.removeprefix(f'{ch.name}/'): zf.read(n) for n in zf.namelist()}
    with tempfile.TemporaryDirectory() as tmp:          # the instructor's site: every chapter, every reference
        folder = release(ch, Path(tmp) / ch.name, Schedule(datetime.date.today()))
        expected = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob('*') if p.is_file()}
    assert set(shipped) == set(expected), sorted(set(shipped) ^ set(expected))
    assert all(shipped[p] == expected[p] for p in expected), 'the zip is not the release folder: stale?'
    assert {'check.py', 'checks.py', ch.student.name, '.course/chapter.json'} <= set(shipped)
    assert any(p.startswith('minimx/') for p in shipped) == bool(earlier(ch))


def test_api_reference_is_generated_and_current():
    committed = apidoc.PAGE.read_text(encoding='utf-8')
    assert committed.startswith('% GENERATED by `./course build`'), 'say it is generated'
    assert committed == apidoc.render(), f'{apidoc.PAGE.relative_to(ROOT)} is stale: run ./course build and commit'


def test_api_reference_documents_the_package_without_source(site):
    page = (site / 'book' / 'appendix' / 'api.html').read_text(encoding='utf-8')
    for module in ('minimx.nd', 'minimx.autograd'):
        assert f'id="module-{module}"' in page, f'no section for {module}'
    documented = re.findall(r'<dt class="sig sig-object py" id="([^"]+)"', page)
    assert len(documented) > 50 and 'minimx.nd.array' in documented and 'minimx.autograd.backward' in documented
    # viewcode would publish the reference solutions minimx is exported from
    assert not (site / '_modules').exists() and 'viewcode-link' not in page


def site_files(site):
    for path in sorted(p for p in site.rglob('*') if p.is_file()):
        if path.suffix == '.zip':
            continue
        try:
            yield path, path.read_text(encoding='utf-8')
        except UnicodeDecodeError:                 # images and fonts
            continue


def test_no_solution_code_anywhere_in_the_site(site):
    """Every page, script, search index, source copy and download, zips unpacked."""
    secrets = secret_lines_of(CHAPTERS)
    assert len(secrets) > 20 * len(CHAPTERS), 'the leak check needs solution lines to look for'
    checked, found = 0, []
    for path, raw in site_files(site):
        checked += 1
        seen = raw + (text(path) if path.suffix == '.html' else '')
        found += [(path.relative_to(site).as_posix(), line) for line in leaked(secrets, seen)]
    for ch in CHAPTERS:
        # a chapter's zip ships the minimx of earlier chapters: their solutions are allowed there
        later = [c for c in CHAPTERS if c.number >= ch.number]
        known = solution_text(earlier(ch))
        own = secret_lines_of(later, known)
        archive = downloads(site, ch)[f'{ch.name}.zip']
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                checked += 1
                found += [(f'{ch.name}.zip:{name}', line)
                          for line in leaked(own, zf.read(name).decode('utf-8', errors='replace'))]
    FIGURES['site files searched for solution lines'] = checked
    assert not found, f'solution lines published: {found[:5]}'


def test_build_fails_on_warning_broken_reference_and_missing_image(tmp_path):
    """The site command itself, on a scratch book with the three mistakes it must refuse."""
    book = tmp_path / 'book'
    book.mkdir()
    (book / '_config.yml').write_text((ROOT / '_config.yml').read_text())
    (book / '_toc.yml').write_text('format: jb-book\nroot: intro\n')
    (book / 'intro.md').write_text('# Scratch\n\nSee {doc}`no-such-page` and {ref}`no-such-label`.\n\n'
                                   '![a figure](no-such-image.png)\n\n{chapter}`not a number`\n')
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}        # the project's Sphinx extension
    result = subprocess.run(jupyter_book(tmp_path / 'out', source=book), cwd=book,
                            capture_output=True, text=True, env=env)
    log = result.stdout + result.stderr
    assert result.returncode != 0, 'the build passed despite broken references'
    for problem in ('no-such-page', 'no-such-label', 'no-such-image.png', 'not a number'):
        assert problem in log, f'the build did not report {problem}:\n{log[-3000:]}'



def test_the_speed_page_shows_its_chart_figures_and_machine(site):
    """The appendix "How fast is your minimx?" (tests/test_speed.py checks its inputs and JSON)."""
    import json
    from pipeline import speed_page

    path = site / 'book' / 'appendix' / 'speed.html'
    assert path.exists(), 'the speed page is not in the site (_toc.yml)'
    raw, shown = path.read_text(encoding='utf-8'), text(path)
    run = json.loads(speed_page.RESULTS.read_text(encoding='utf-8'))
    assert 'How fast is your minimx?' in shown and 'benchmarks/speed.py' in shown
    assert len(re.findall(r'<img [^>]*src="[^"]*_images/', raw)) == 1, 'the chart'
    assert run['machine']['cpu'] in shown and run['machine']['date'].replace('T', ' ') in shown
    assert all(w['name'] in shown for w in run['workloads']) and '<table' in raw
    links = re.findall(r'href="([^"]*_downloads/[^"]*/speed\.json)"', raw)
    assert links and (path.parent / links[0]).resolve().read_bytes() == speed_page.RESULTS.read_bytes()
