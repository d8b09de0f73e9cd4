"""Sphinx extension for the course site (loaded by _config.yml): chapter downloads, {chapter} role.

- Every chapter page gets an "about this chapter" box (estimated times, points, the chapters
  it builds on, its sections in d2l-zh's first edition: pipeline/overview.py) and a "your copy of this chapter" box under its title with two
  downloads: the student notebook, and a zip of the folder `./course release chNN` makes
  (notebook, checks.py, check.py, and the minimx of the *earlier* chapters whose deadlines
  have passed, by the release calendar of the build). Both are Sphinx download references,
  so a missing file is a build warning, and -W makes it an error.
- {chapter}`3` or {chapter}`Linear regression <3>` links chapter 3 when it is in the table
  of contents and prints plain text marked "in preparation" until then, so the landing
  page and the appendices can name the whole plan without a link that leads nowhere.
- MathJax is served by the site itself from node_modules (npm, pinned in package.json):
  the book must work offline and pass a browser test with no network.
- One search box per page (one_search_box), and the site's own CSS and search-excerpt
  script from book/_static (see _config.yml).
- Two fixes a browser notices: each page's scripts are de-duplicated (a twice-declared
  `const` is an error in the console), and /favicon.ico exists.
Chapter pages are found by their docname, book/chNN/chNN_*, whatever _toc.yml lists.
"""
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

from core.chapters import chapters
from pipeline.release import release

CHAPTER_DOC = re.compile(r'book/(ch(\d\d))/\1_[^/]+')
logger = logging.getLogger(__name__)


def chapter_docs(env):
    """{chapter number: docname} of the chapter pages in this build."""
    found = (CHAPTER_DOC.fullmatch(d) for d in env.found_docs)
    return {int(m.group(2)): m.group(0) for m in found if m}


def chapter_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    env = inliner.document.settings.env
    m = re.fullmatch(r'\s*(?:(.+?)\s*<(\d+)>|(\d+))\s*', text)
    if not m:
        msg = inliner.reporter.error(f'{{chapter}} wants a number or "title <number>", got {text!r}',
                                     line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    title, number = m.group(1), int(m.group(2) or m.group(3))
    # a page naming chapters must be re-read when the table of contents gains one
    env.note_dependency(str(Path(env.srcdir, env.config.external_toc_path)))
    docname = chapter_docs(env).get(number)
    if docname is None:
        return [nodes.inline(rawtext, f'{title or f"Chapter {number}"} (in preparation)',
                             classes=['chapter-planned'])], []
    ref = addnodes.pending_xref(rawtext, nodes.inline(rawtext, title or ''), refdomain='std',
                                reftype='doc', reftarget='/' + docname, refdoc=env.docname,
                                refexplicit=bool(title), refwarn=True)
    return [ref], []


def write_zip(ch, folder, schedule=None):
    """folder/chNN_name.zip: the release folder of `ch`, byte-identical from build to build
    (sorted members, fixed dates), rewritten only when its content changes."""
    target = Path(folder) / f'{ch.name}.zip'
    with tempfile.TemporaryDirectory(prefix=f'{ch.id}-zip-') as tmp:
        released = release(ch, Path(tmp) / ch.name, schedule)
        scratch = Path(tmp) / 'out.zip'
        with zipfile.ZipFile(scratch, 'w', zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(p for p in released.rglob('*') if p.is_file()):
                info = zipfile.ZipInfo(f'{ch.name}/{path.relative_to(released).as_posix()}',
                                       date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
        data = scratch.read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_bytes() != data:
        target.write_bytes(data)
    return target


def make_downloads(app):
    """Zip each released chapter's folder beside the html output (_build/downloads/), as the
    release calendar of this build has it (pipeline/publish.site_schedule)."""
    from pipeline.publish import site_schedule

    folder = Path(app.outdir).parent / 'downloads'
    app.course_schedule = schedule = site_schedule()
    app.course_zips = {ch.id: write_zip(ch, folder, schedule) for ch in chapters() if schedule.released(ch)}


def download(target, label):
    return addnodes.download_reference('', '', nodes.literal('', label), reftarget=target,
                                       refdomain='', reftype='download', refexplicit=True,
                                       refwarn=True)


class ChapterDownloads(SphinxTransform):
    """Insert the download box under the title of every chapter page."""
    default_priority = 500

    def apply(self, **kwargs):
        m = CHAPTER_DOC.fullmatch(self.env.docname)
        section = next(iter(self.document.findall(nodes.section)), None)
        if not m or section is None:
            return
        ch = next((c for c in chapters() if c.id == m.group(1)), None)
        zips = getattr(self.app, 'course_zips', {})
        if ch is None or ch.id not in zips:
            logger.warning(f'no release zip for {self.env.docname}: is it in solutions/?',
                           location=self.env.docname)
            return
        here = Path(self.env.doc2path(self.env.docname)).parent
        # relative to the page: Sphinx resolves download targets from the document's folder
        zip_target = os.path.relpath(Path(zips[ch.id]).resolve(), here.resolve())
        schedule = self.app.course_schedule
        shipped = all(schedule.past_deadline(k) for k in chapters() if k.number < ch.number)
        earlier = ('no minimx yet: this chapter starts it' if ch.number == 1 else
                   (f'minimx as built in chapters 1–{ch.number - 1}' if ch.number > 2 else 'minimx as built in chapter 1')
                   if shipped else 'check.py, which builds minimx from your own notebooks of the earlier chapters')
        items = nodes.bullet_list()
        items += nodes.list_item('', nodes.paragraph(
            '', '', download(ch.student.name, ch.student.name), nodes.Text(' — the notebook you fill in.')))
        items += nodes.list_item('', nodes.paragraph(
            '', '', download(Path(zip_target).as_posix(), f'{ch.name}.zip'),
            nodes.Text(' — the folder to work in: the notebook, '), nodes.literal('', 'checks.py'),
            nodes.Text(' (the helpers its test cells call), '), nodes.literal('', 'check.py'),
            nodes.Text(f' (check your work, then submit) and {earlier}.')))
        box = nodes.admonition(classes=['tip', 'chapter-downloads'])
        box += nodes.title('', 'Your copy of this chapter')
        box += items
        box += nodes.paragraph('', 'Open the notebook in Jupyter from that folder and run it top to '
                                   'bottom. The outputs on this page are the reference run: '
                                   'yours should print the same.')
        title = next((i for i, child in enumerate(section) if isinstance(child, nodes.title)), -1)
        section.insert(title + 1, box)
        section.insert(title + 1, about_box(self.env, ch))


def about_box(env, ch):
    """'About this chapter' under the title: its estimated times, points, the chapters it builds
    on and its sections in d2l-zh (first edition), all from pipeline/overview.py."""
    from pipeline import overview

    env.note_dependency(str(ch.source))         # the figures are counted in the solution notebook
    f = overview.facts(ch)
    method = addnodes.pending_xref('', nodes.inline('', 'how they are estimated'), refdomain='std',
                                   reftype='ref', reftarget='time-estimates', refexplicit=True,
                                   refdoc=env.docname, refwarn=True)
    times = nodes.paragraph('', '', nodes.strong('', 'Time: '), nodes.Text(
        f'reading about {overview.duration(f.reading_minutes)}, exercises about '
        f'{overview.duration(f.exercise_minutes)} (estimates from the chapter\'s length, not timings: '),
        method, nodes.Text(f'). {f.exercises} exercises, {overview.points_text(f.points)} points. '),
        nodes.strong('', 'Builds on: '),
        nodes.Text(f'chapters {overview.chapter_range(f.prerequisites)}.' if f.prerequisites else
                   'no earlier chapter.'))
    d2l = nodes.paragraph('', '', nodes.strong('', 'In d2l-zh, first edition (MXNet): '))
    for i, s in enumerate(f.d2l):
        if i:
            d2l += nodes.Text('; ')
        d2l += nodes.reference('', f'{s.number} {s.title}', refuri=s.url)
    d2l += nodes.Text('.')
    box = nodes.admonition(classes=['note', 'chapter-about'])
    box += nodes.title('', 'About this chapter')
    box += times
    box += d2l
    return box


def drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    """Under Jupyter Book 1 and Sphinx 7, sphinx-thebe's and sphinx-togglebutton's inline
    scripts land on every page twice (once named None, once ""), and the second `const`
    declaration throws in the browser. Keep each script once. Runs after the other
    html-page-context handlers, so that it sees what they add."""
    scripts = context.get('script_files', [])
    seen, kept = set(), []
    for js in scripts:
        key = (str(js.filename or ''), tuple(sorted(js.attributes.items()))) if hasattr(js, 'attributes') else str(js)
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept            # in place: the builder renders (and later resets) this list


def write_favicon_ico(app, exception):
    """/favicon.ico at the site root, drawn like book/_static/favicon.svg: browsers ask for it
    on pages that name no icon (index.html, the redirect jupyter-book writes) and for bookmarks."""
    if exception is not None or app.builder.format != 'html':
        return
    from PIL import Image, ImageDraw

    size = 64
    image = Image.new('RGBA', (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, size - 1, size - 1), radius=14, fill='#1f5f8b')
    draw.polygon([(12, 16), (52, 16), (32, 52)], outline='#ffffff', width=6)
    image.save(Path(app.outdir) / 'favicon.ico', sizes=[(16, 16), (32, 32), (64, 64)])


MATHJAX = Path(__file__).resolve().parent.parent / 'node_modules' / 'mathjax' / 'es5'


def check_mathjax(app):
    """The site serves MathJax itself (no CDN: the book must work offline); it comes from npm."""
    if not (MATHJAX / 'tex-mml-chtml.js').is_file():
        raise RuntimeError(f'MathJax is missing ({MATHJAX}): run `npm ci` in the repository root '
                           f'(make book does it)')


def copy_mathjax(app, exception):
    """Copy the one MathJax bundle the pages load, and its fonts, into _static/mathjax."""
    if exception is not None or app.builder.format != 'html':
        return
    target = Path(app.outdir) / '_static' / 'mathjax'
    fonts = Path('output') / 'chtml' / 'fonts' / 'woff-v2'
    (target / fonts).mkdir(parents=True, exist_ok=True)
    shutil.copy(MATHJAX / 'tex-mml-chtml.js', target / 'tex-mml-chtml.js')
    for font in (MATHJAX / fonts).iterdir():
        shutil.copy(font, target / fonts / font.name)


def one_search_box(app, config):
    """pydata-sphinx-theme 0.16+ puts a search field in the top navbar ("navbar_persistent")
    although sphinx-book-theme already has one in the sidebar: two search boxes on every page.
    Keep the sidebar's (and the theme's own icon for narrow screens)."""
    config.html_theme_options['navbar_persistent'] = []


def setup(app):
    app.add_role('chapter', chapter_role)
    app.connect('config-inited', one_search_box)
    app.connect('builder-inited', check_mathjax)
    app.connect('build-finished', copy_mathjax)
    app.add_transform(ChapterDownloads)
    app.connect('builder-inited', make_downloads)
    app.connect('html-page-context', drop_duplicate_scripts, priority=900)
    app.connect('build-finished', write_favicon_ico)
    return {'version': '1', 'parallel_read_safe': True, 'parallel_write_safe': True}
