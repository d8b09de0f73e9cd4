"""The built site in a real browser: Debian's Chromium, driven by Playwright, against the site
served on localhost. Every page of the table of contents, and every page linked from them,
loads without console errors; every internal link and image resolves; search works; the
downloads download. Screenshots land in tests/artifacts/ (gitignored) for a human to look at.
"""
import functools
import http.server
import json
import os
import shutil
import threading
import time
import zipfile
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
import yaml
from playwright.sync_api import Error as PlaywrightError, sync_playwright

from conftest import FIGURES
from core.chapters import ROOT, chapters

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.xdist_group('site')]  # the built site: one xdist worker builds it (Makefile)
ARTIFACTS = ROOT / 'tests' / 'artifacts'
# The flags the course runs Chromium with: headless, no GPU, and no traffic of its own.
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync']
TIMEOUT_MS = 90_000          # generous: two cores, and the build or another test may be busy
VIEWPORT = {'width': 1280, 'height': 800}
SEARCH_TERM = 'broadcasting'  # chapter 1's central idea: search must find the chapter 1 page


def toc_pages():
    """The html path of every page in _toc.yml, in order."""
    toc = yaml.safe_load((ROOT / '_toc.yml').read_text(encoding='utf-8'))
    files = [toc['root']]

    def walk(entries):
        for entry in entries or []:
            if 'file' in entry:
                files.append(entry['file'])
            walk(entry.get('chapters'))
            walk(entry.get('sections'))
    walk(toc.get('parts'))
    walk(toc.get('chapters'))
    return [f'{f}.html' for f in files]


TOC_PAGES = toc_pages()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope='session')
def base_url(site):
    """The site on a free localhost port, for as long as the tests run."""
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                             functools.partial(QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_port}/'
    server.shutdown()
    server.server_close()


@pytest.fixture(scope='session')
def browser(tmp_path_factory):
    executable = os.environ.get('CHROMIUM') or shutil.which('chromium')
    if not executable:
        pytest.fail("Debian's Chromium is not installed: apt-get install chromium chromium-driver "
                    "(.ci/run does it), or point $CHROMIUM at a Chromium binary", pytrace=False)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp('chromium-profile')), executable_path=executable,
            headless=True, args=CHROMIUM_FLAGS, viewport=VIEWPORT, accept_downloads=True,
            timeout=TIMEOUT_MS)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        yield context
        context.close()


class Visit:
    """One page load, with everything that went wrong while it loaded."""

    def __init__(self, page, url):
        self.url, self.problems = url, []
        handlers = {'console': self._console, 'pageerror': self._pageerror,
                    'requestfailed': self._requestfailed, 'response': self._response}
        for event, handler in handlers.items():
            page.on(event, handler)
        response = page.goto(url, wait_until='load')
        self.status = response.status if response else None
        if self.status != 200:
            self.problems.append(f'HTTP {self.status or "no response"}')
        try:                    # let late scripts run: a static site goes quiet quickly
            page.wait_for_load_state('networkidle', timeout=15_000)
        except Exception:
            pass
        for attempt in range(3):
            try:
                self.links, self.ids, self.images = page.evaluate(COLLECT)
                break
            except PlaywrightError:       # a redirect (index.html's) replaced the page mid-way
                if attempt == 2:
                    raise
                page.wait_for_load_state('load')
        for event, handler in handlers.items():
            page.remove_listener(event, handler)

    def _console(self, msg):
        if msg.type == 'error':
            self.problems.append(f'console error: {msg.text}')

    def _pageerror(self, error):
        self.problems.append(f'uncaught exception: {error}')

    def _requestfailed(self, request):
        self.problems.append(f'request failed: {request.url} ({request.failure})')

    def _response(self, response):
        if response.status >= 400:
            self.problems.append(f'HTTP {response.status} for {response.url}')


# Links, element ids and images of the loaded page. Images are made eager and decoded, so a
# lazy image below the fold is loaded and checked too.
COLLECT = """async () => {
  const links = Array.from(document.querySelectorAll('a[href]'), a => a.href);
  const ids = Array.from(document.querySelectorAll('[id]'), e => e.id)
      .concat(Array.from(document.querySelectorAll('a[name]'), a => a.name));
  const images = await Promise.all(Array.from(document.images, async img => {
    img.loading = 'eager';
    try { await Promise.race([img.decode(), new Promise((_, no) => setTimeout(no, 30000))]); }
    catch (e) {}
    return [img.currentSrc || img.src, img.complete && img.naturalWidth > 0];
  }));
  return [links, ids, images];
}"""


@pytest.fixture(scope='session')
def crawl(browser, base_url, site):
    """Visit every TOC page and every internal page linked from a visited page; fetch every
    other internal link target. Returns ({url: Visit}, {url: fetch problem or None})."""
    started = time.monotonic()
    page = browser.new_page()
    # the TOC, plus the pages Sphinx adds beside it (index.html, search.html, genindex.html, ...)
    extra = sorted(p.name for p in site.glob('*.html'))
    visits, fetched, queue = {}, {}, [base_url + p for p in TOC_PAGES + extra]
    while queue:
        url = queue.pop(0)
        if url in visits:
            continue
        visits[url] = visit = Visit(page, url)
        for link in visit.links:
            target = urldefrag(link).url
            if not target.startswith(base_url) or target in visits:
                continue
            if urlsplit(target).path.endswith(('.html', '/')):
                queue.append(target)
            elif target not in fetched:
                fetched[target] = fetch_problem(browser, target)
    page.close()
    links = {link for v in visits.values() for link in v.links if link.startswith(base_url)}
    FIGURES['browser: internal links checked (on all pages)'] = sum(
        link.startswith(base_url) for v in visits.values() for link in v.links)
    images = {src for v in visits.values() for src, _ in v.images}
    FIGURES['browser: pages loaded'] = len(visits)
    FIGURES['browser: internal links checked (distinct)'] = len(links)
    FIGURES['browser: downloads and other files fetched'] = len(fetched)
    FIGURES['browser: images checked (distinct)'] = len(images)
    FIGURES['browser: images checked (on all pages)'] = sum(len(v.images) for v in visits.values())
    FIGURES['browser: crawl time'] = f'{time.monotonic() - started:.1f} s'
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / 'crawl.json').write_text(json.dumps(
        {url.removeprefix(base_url): {'problems': v.problems, 'links': len(v.links), 'images': v.images}
         for url, v in visits.items()}, indent=1, ensure_ascii=False), encoding='utf-8')
    return visits, fetched


def fetch_problem(browser, url):
    response = browser.request.get(url)
    if response.status != 200:
        return f'HTTP {response.status}'
    if not response.body():
        return 'empty file'
    return None


@pytest.mark.parametrize('path', TOC_PAGES)
def test_toc_page_loads_without_console_errors(crawl, base_url, path):
    visit = crawl[0][base_url + path]
    assert not visit.problems, f'{path}:\n  ' + '\n  '.join(visit.problems)


def test_pages_reached_by_links_load_without_console_errors(crawl, base_url):
    bad = {url.removeprefix(base_url): v.problems for url, v in crawl[0].items() if v.problems}
    assert not bad, f'pages with problems: {json.dumps(bad, indent=1)}'


def test_every_internal_link_resolves(crawl, base_url):
    visits, fetched = crawl
    broken = []
    for url, visit in visits.items():
        for link in visit.links:
            if not link.startswith(base_url):
                continue
            target, fragment = urldefrag(link)
            if target in fetched and fetched[target]:
                broken.append(f'{url.removeprefix(base_url)} -> {link}: {fetched[target]}')
            elif target in visits and visits[target].status != 200:
                broken.append(f'{url.removeprefix(base_url)} -> {link}: HTTP {visits[target].status}')
            elif target in visits and fragment and unquote(fragment) not in visits[target].ids:
                broken.append(f'{url.removeprefix(base_url)} -> {link}: no element with id "{fragment}"')
    assert not broken, 'broken links:\n  ' + '\n  '.join(broken)


def test_every_image_loads(crawl, base_url):
    broken = [f'{url.removeprefix(base_url)}: {src}' for url, v in crawl[0].items()
              for src, ok in v.images if not ok]
    assert not broken, 'images that did not load:\n  ' + '\n  '.join(broken)


FIRST = chapters()[0]


@pytest.mark.parametrize('term, wanted', [
    (SEARCH_TERM, f'book/{FIRST.id}/{FIRST.name}.html'),
    ('广播机制', 'book/appendix/glossary.html'),        # the glossary's Chinese is searchable too
])
def test_search_finds_a_term(browser, base_url, term, wanted):
    """As a reader searches: the search button, a term, Enter, the results page."""
    wanted = base_url + wanted
    page = browser.new_page()
    page.goto(f'{base_url}book/intro.html', wait_until='load')
    page.locator('button.search-button__button:visible').first.click()
    field = page.locator('input[name="q"]:visible').first
    field.fill(term)
    field.press('Enter')
    page.wait_for_url('**/search.html?q=*')
    # Sphinx's search fills the result list from its index after the page has loaded
    found = 'want => Array.from(document.querySelectorAll("#search-results li a")).some(a => a.href.startsWith(want))'
    try:
        page.wait_for_function(found, arg=wanted)
    except Exception:
        hits = page.eval_on_selector_all('#search-results li a', 'as => as.map(a => a.href)')
        pytest.fail(f'searching "{term}" did not find {wanted}; results: {hits}', pytrace=False)
    finally:
        page.close()


def test_search_results_show_an_excerpt_of_the_text(browser, base_url):
    """Each hit on a page shows a passage of its text, not the page's headings: the first
    chapter's hit for its central idea quotes its prose (course-search.js)."""
    page = browser.new_page()
    page.goto(f'{base_url}search.html?q={SEARCH_TERM}', wait_until='load')
    wanted = f'{base_url}book/{FIRST.id}/{FIRST.name}.html'
    excerpt = """want => { const a = Array.from(document.querySelectorAll('#search-results li a'))
                  .find(a => a.href.startsWith(want));
                  const p = a && a.parentElement.querySelector('p.context');
                  return p ? p.textContent : null; }"""
    text = page.wait_for_function(excerpt, arg=wanted).json_value()
    page.screenshot(path=str(ARTIFACTS / 'search.png'))
    page.close()
    assert SEARCH_TERM in text.lower() and len(text) > 100, text
    assert 'Contents' not in text and 'Exercise 1' not in text, f'the excerpt is the page\'s headings: {text}'


# The search controls a reader can see (the dialog the button opens is closed).
SEARCH_BOXES = """() => Array.from(document.querySelectorAll('input[name="q"], .search-button-field, .search-button'))
  .filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0
                 && getComputedStyle(e).visibility !== 'hidden' && !e.closest('dialog:not([open])'); })
  .map(e => e.outerHTML.slice(0, 80))"""
# Code boxes whose text runs past their right edge (a wrapped box has nothing hidden).
CLIPPED_CODE = """() => Array.from(document.querySelectorAll('pre'))
  .filter(e => e.getBoundingClientRect().width > 0 && e.scrollWidth > e.clientWidth + 1)
  .map(e => [e.scrollWidth, e.clientWidth, e.innerText.split('\\n')[0].slice(0, 60)])"""


@pytest.mark.parametrize('width', [1280, 800])
@pytest.mark.parametrize('path', ['book/intro.html', 'book/preface.html', 'search.html',
                                  f'book/{FIRST.id}/{FIRST.name}.html', 'book/appendix/api.html'])
def test_one_search_box_and_no_clipped_code(browser, base_url, path, width):
    page = browser.new_page()
    page.set_viewport_size({'width': width, 'height': VIEWPORT['height']})
    page.goto(base_url + path, wait_until='load')
    boxes, clipped = page.evaluate(SEARCH_BOXES), page.evaluate(CLIPPED_CODE)
    page.close()
    assert len(boxes) == 1, f'{path} at {width} px shows {len(boxes)} search boxes: {boxes}'
    assert not clipped, f'{path} at {width} px: code runs past its box (scroll, client, line): {clipped[:3]}'


@pytest.mark.parametrize('ch', chapters(), ids=lambda c: c.id)
def test_chapter_downloads_download(browser, base_url, ch, tmp_path):
    page = browser.new_page()
    page.goto(f'{base_url}book/{ch.id}/{ch.name}.html', wait_until='load')
    box = page.locator('.chapter-downloads')
    got = {}
    for name in (ch.student.name, f'{ch.name}.zip'):
        with page.expect_download() as info:
            box.locator('a.download', has_text=name).click()
        got[name] = tmp_path / info.value.suggested_filename
        info.value.save_as(got[name])
    page.close()
    assert got[ch.student.name].read_bytes() == ch.student.read_bytes(), 'the download is not the student notebook'
    with zipfile.ZipFile(got[f'{ch.name}.zip']) as zf:
        names = zf.namelist()
    assert f'{ch.name}/{ch.student.name}' in names and f'{ch.name}/checks.py' in names, names


def test_landing_page_fits_one_screen_and_screenshots(browser, base_url):
    """What the course is and how to start, without scrolling; screenshots kept for review."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    page.goto(base_url, wait_until='load')
    page.wait_for_url('**/book/intro.html')           # index.html redirects to the root page
    page.wait_for_load_state('load')
    cards = page.locator('.sd-card')
    assert cards.count() >= 3, 'the "How to start" cards are missing'
    last = cards.nth(cards.count() - 1).bounding_box()
    assert last['y'] + last['height'] <= VIEWPORT['height'], \
        f'"How to start" ends {last["y"] + last["height"]:.0f} px down, below the first screen'
    page.screenshot(path=str(ARTIFACTS / 'landing.png'))
    icon = browser.request.get(base_url + 'favicon.ico')     # what a bookmark shows
    assert icon.status == 200 and icon.body()[:4] == b'\x00\x00\x01\x00', 'no /favicon.ico'
    first = chapters()[0]
    page.goto(f'{base_url}book/{first.id}/{first.name}.html', wait_until='load')
    page.screenshot(path=str(ARTIFACTS / f'{first.id}.png'))
    page.close()
    assert (ARTIFACTS / 'landing.png').stat().st_size > 10_000
