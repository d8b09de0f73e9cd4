"""The Makefile's parallel run keeps each xdist_group on one worker.

Several modules build something expensive once (the site, a graded red-team batch, a
publication) and rely on `--dist loadgroup` to send all of its tests to one worker. When the
grouping silently stops, every worker builds it again: pytest 9.2.0 with pytest-xdist 3.8.0
did exactly that (pytest-xdist issue 1386), and the suite built the red-team batches and the
site twice, about 400 s of work. This runs a small suite with the Makefile's own options and
checks where its tests ran.
"""
import json
import re
import subprocess
import sys
from collections import defaultdict

from core.chapters import ROOT

GROUPED = '''
import json, os, pytest
pytestmark = pytest.mark.xdist_group('{group}')

@pytest.mark.parametrize('n', range(6))
def test_{name}(n):
    with open(os.environ['WHERE'], 'a') as f:
        f.write(json.dumps(['{group}', os.environ['PYTEST_XDIST_WORKER']]) + '\\n')
'''

BY_FIXTURE = '''
import json, os, pytest

@pytest.fixture(scope='module', params=[pytest.param(e, marks=pytest.mark.xdist_group(f'engine-{e}'))
                                        for e in ('a', 'b')])
def engine(request):
    return request.param

@pytest.mark.parametrize('n', range(6))
def test_case(engine, n):
    with open(os.environ['WHERE'], 'a') as f:
        f.write(json.dumps([f'engine-{engine}', os.environ['PYTEST_XDIST_WORKER']]) + '\\n')
'''


def makefile_parallel():
    found = re.search(r'^PARALLEL\s*:=\s*(.+)$', (ROOT / 'Makefile').read_text(), re.M)
    assert found, 'the Makefile no longer sets PARALLEL'
    return found.group(1).split()


def test_each_group_runs_on_one_worker(tmp_path):
    for name, group in (('first', 'shared'), ('second', 'shared'), ('third', 'other')):
        (tmp_path / f'test_{name}.py').write_text(GROUPED.format(group=group, name=name))
    (tmp_path / 'test_by_fixture.py').write_text(BY_FIXTURE)
    (tmp_path / 'pytest.ini').write_text('[pytest]\n')
    where = tmp_path / 'where.jsonl'
    options = ['2' if o.startswith('$(') else o for o in makefile_parallel()]     # -n $(WORKERS): two here
    result = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', *options],
                            cwd=tmp_path, env={'WHERE': str(where), 'PATH': '/usr/bin:/bin'},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    workers = defaultdict(set)
    runs = [json.loads(line) for line in where.read_text().splitlines()]
    for group, worker in runs:
        workers[group].add(worker)
    assert len(runs) == 3 * 6 + 2 * 6 and set(workers) == {'shared', 'other', 'engine-a', 'engine-b'}
    split = {group: sorted(w) for group, w in workers.items() if len(w) > 1}
    assert not split, f'xdist_group split across workers: {split} (check the pytest/pytest-xdist pins)'
