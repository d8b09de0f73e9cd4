"""`./course build`: solutions -> executed outputs -> minimx (and the figures) -> student edition
(and the speed page, whose benchmarks time that minimx) -> the site."""
import subprocess
import sys
import time
from pathlib import Path

from pipeline import apidoc, figures, instructor, overview, speed_page
from core.chapters import BUILD, ROOT, chapters
from pipeline.execute import execute_chapter, is_current
from core.export import package_files, write_package
from pipeline.generate import generate


def step(message):
    print(f'==> {message}', flush=True)


def execute_all(chapter_list, force=False):
    for ch in chapter_list:
        if not force and is_current(ch):
            print(f'  {ch.id}: outputs are current (inputs unchanged), not re-executed')
            continue
        seconds = execute_chapter(ch)
        print(f'  {ch.id}: executed in {seconds:.1f} s, outputs stored in {ch.source.relative_to(ROOT)}')


def jupyter_book(path_output=None, source=ROOT):
    """The one site build command: any Sphinx warning, broken cross-reference or missing
    image fails it (-W -n); --keep-going reports them all before failing."""
    jb = Path(sys.executable).with_name('jupyter-book')
    cmd = [str(jb), 'build', str(source), '-W', '-n', '--keep-going']
    return cmd + (['--path-output', str(path_output)] if path_output else [])


def build_site():
    """jupyter-book with warnings as errors; the notebooks are not executed again here."""
    result = subprocess.run(jupyter_book() + ['--quiet'], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f'error: jupyter-book build failed (warnings count as errors):\n'
                         f'{result.stdout[-4000:]}\n{result.stderr[-4000:]}')
    return BUILD / 'html' / 'index.html'


def build(force=False, site=True):
    started = time.monotonic()
    all_chapters = chapters()
    step(f'1/4 executing solution notebooks ({len(all_chapters)} chapters)')
    execute_all(all_chapters, force=force)
    step('2/4 exporting tagged cells into minimx/')
    files = package_files(all_chapters)
    write_package(files, ROOT)
    print(f'  wrote {len(files)} files')
    print(f'  drew {figures.write(all_chapters)} figures into their cells (pipeline/figures.py)')
    step('3/4 generating the student edition, the appendices and the instructor guide into book/')
    generate(all_chapters)
    print(f'  wrote {apidoc.write(all_chapters).relative_to(ROOT)}')
    print(f'  wrote {overview.write(all_chapters).relative_to(ROOT)} (the chapter overview)')
    from pipeline.publish import write_requirements
    print(f'  wrote {write_requirements().relative_to(ROOT)}')
    print(f'  wrote {instructor.write(all_chapters).relative_to(ROOT)}')
    speed_page.build(force=force)                  # after step 2: it times the minimx just written
    if site:
        step('4/4 building the site with jupyter-book')
        index = build_site()
        print(f'  open {index.relative_to(ROOT)} in a browser')
    print(f'build finished in {time.monotonic() - started:.1f} s')
