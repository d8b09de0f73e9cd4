"""The site as jupyter-book builds it from a clean checkout: pages, outputs, no solutions."""
import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import leaked, secret_lines
from pipeline.chapters import ROOT, chapters

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('site')
    jb = Path(sys.executable).with_name('jupyter-book')
    result = subprocess.run([str(jb), 'build', str(ROOT), '-W', '-n', '--keep-going',
                             '--path-output', str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out / '_build' / 'html'


def text(path):
    """What a reader sees on a page: tags stripped (code is split into highlighting spans)."""
    return html.unescape(re.sub(r'<[^>]+>', '', path.read_text(encoding='utf-8')))


def test_landing_page_and_preface_render(site):
    index = text(site / 'book' / 'intro.html')
    assert 'Deep Learning from Zero' in index and 'How to start' in index
    preface = text(site / 'book' / 'preface.html')
    assert './course check ch01' in preface and '一.1' in preface


@pytest.mark.parametrize('ch', chapters(), ids=lambda c: c.id)
def test_chapter_pages_show_reference_outputs_and_no_solutions(site, ch):
    page = text(site / 'book' / ch.id / f'{ch.name}.html')
    assert page.count('visible tests passed') >= 8, 'the test cells\' reference outputs are shown'
    assert 'raise NotImplementedError' in page, 'the stubs are shown, not the solutions'
    found = leaked(secret_lines(ch), page)
    assert not found, f'solution lines published on the {ch.id} page: {found[:3]}'
