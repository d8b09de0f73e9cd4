"""The red-team suite of THREATS.md, run through `./course grade` as an instructor would.

Every case (tests/redteam_cases.py) is one submission with the outcome the grader must
give it. The batch interleaves them with canaries -- a correct submission and one with a
known honest bug, alternating -- so each case is graded between a correct and a wrong
canary, two at a time; every canary must come out exactly as in a batch of canaries alone.
Then: nothing escaped (no process survives, the site-packages and the network are
untouched, nothing was found), a rerun changes nothing, and `kill -9` of the grader in the
middle of a batch followed by a rerun gives the results of an uninterrupted run.

REDTEAM_CASES=name,name grades only those cases (and their canaries): the whole batch takes
minutes, and a single case is what one tries while working on it.
"""
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from autograder.intake import store_key
from autograder.notebook import (MAX_NOTEBOOK_BYTES, SubmissionError, cell_imports, compiled_tests, match, parse,
                                 plan_cells, read_instructor,
                                 stub_sources)
from autograder.sandbox import Limits, Sandbox
from core.chapters import ROOT, chapters
from conftest import built_once
from core.environment import DETERMINISTIC_ENV
from redteam_cases import Case, Chapter, Expect, build_cases, by_id, source
from test_round_trip import KNOWN_BUGS

pytestmark = pytest.mark.slow
CH = chapters()[0]
LIMITS = ['--cell-timeout', '2', '--timeout', '20', '--memory', '1024', '--jobs', '2']
SLOT_UIDS = range(61000, 61000 + 64 * 60 + 64)


def plant_bug(chapter):
    grade_id, old, new, failing = KNOWN_BUGS[chapter.ch.id]

    def bug(nb):
        cell = by_id(nb, grade_id)
        assert old in source(cell), f'KNOWN_BUGS[{chapter.ch.id!r}] no longer matches the notebook'
        cell['source'] = source(cell).replace(old, new)
        return nb
    return bug, failing


def grader_env(grading):
    # The grader unpacks what its sandboxes mount in $TMPDIR (autograder/worker.py): under the
    # store, so that sandbox_processes can tell this grader's sandboxes from any other's.
    tmp = Path(grading, 'store', 'tmp')
    tmp.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(DETERMINISTIC_ENV, PYTHONPATH=str(ROOT), COURSE_GRADING=str(grading), TMPDIR=str(tmp))
    return env


def course_grade(submissions, grading, *extra, timeout=1200, chapter=True):
    env = grader_env(grading)
    return subprocess.run([sys.executable, '-m', 'cli', 'grade', str(submissions),
                           *(['--chapter', CH.id] if chapter else []), *LIMITS, *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def stored(grading):
    folder = Path(grading) / 'store' / CH.id / 'submissions'
    return {p.parent.name: json.loads(p.read_text()) for p in folder.glob('*/state.json')}


def outcome(state):
    return state['status'], state['message'], state['scores'], state['feedback']


def sandbox_processes(grading):
    """Processes of sandboxes that grading into `grading` started: a sandbox's processes see its
    chapter stage (under `grading`) mounted at /course, which /proc/PID/mountinfo shows. Other
    graders on the machine (another test run, another checkout) share the sandbox uids, so the
    uid alone does not say whose process it is."""
    ours = str(Path(grading).resolve())
    found = []
    for proc in psutil.process_iter(['uids', 'cmdline']):
        uids, cmdline = proc.info['uids'], ' '.join(proc.info['cmdline'] or [])
        if not (uids and uids.real in SLOT_UIDS or 'run_notebook.py' in cmdline):
            continue
        if f'{ours}/store/' in cmdline:          # bwrap itself, binding the stage
            found.append((proc.pid, cmdline[:100]))
            continue
        try:
            mounts = Path(f'/proc/{proc.pid}/mountinfo').read_text()
        except OSError:                       # it has just exited
            continue
        for line in mounts.splitlines():
            fields = line.split()                 # ID PARENT DEV ROOT MOUNTPOINT ...
            # ROOT is the path inside its own filesystem: all of it, or the part below /tmp's
            if len(fields) > 4 and fields[4] == '/course' and '/store/' in fields[3]:
                where = fields[3][:fields[3].index('/store/')]
                if ours == where or ours.endswith(where) and where.count('/') >= 3:
                    found.append((proc.pid, cmdline[:100]))
    return found


class Listener:
    """A TCP server outside the sandbox: no submission may reach it."""

    def __init__(self):
        self.server = socket.create_server(('127.0.0.1', 0))
        self.port, self.connections = self.server.getsockname()[1], 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


def write_canaries(chapter, folder, names):
    bug, _ = plant_bug(chapter)
    for name in names:
        nb = chapter.correct()
        chapter.write(folder / name, bug(nb) if 'wrong' in name else nb)


def all_cases(chapter, port):
    bug, _ = plant_bug(chapter)
    cases = build_cases(chapter, bug, port)
    cases.append(Case('symlinked_folder', lambda folder: folder.symlink_to(folder.parent / '000_canary_ok'),
                      Expect(status='student_error', zero=tuple(chapter.tests), others_full=False,
                             text='symbolic link')))
    return cases


CASE_NAMES = [c.name for c in all_cases(Chapter(CH), 0)]
WANTED = {n for n in os.environ.get('REDTEAM_CASES', '').split(',') if n}
assert WANTED <= set(CASE_NAMES), f'REDTEAM_CASES names no such case: {sorted(WANTED - set(CASE_NAMES))}'


# Each engine's batch is graded once: its tests share one xdist worker (Makefile).
@pytest.fixture(scope='module', params=[pytest.param(engine, marks=pytest.mark.xdist_group(f'redteam-{engine}'))
                                        for engine in ('local', 'cluster')])
def redteam(request, tmp_path_factory):
    """The batch, graded by a pool of this process or (`cluster`) by the worker processes of a
    Dask LocalCluster; the canaries are compared with a baseline graded locally either way.
    Graded once per engine and test process (conftest.built_once)."""
    return built_once(('redteam', request.param), lambda: graded_batch(request, tmp_path_factory))


def graded_batch(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f'redteam-{request.param}')
    engine = ['--cluster', 'local'] if request.param == 'cluster' else []
    chapter, listener = Chapter(CH), Listener()
    sandboxed = Sandbox.detect('auto', Limits()).isolated
    # CI installs bubblewrap: there, running unsandboxed is a regression to report, not a skip.
    assert sandboxed or not os.environ.get('CI'), 'CI=true but the bubblewrap sandbox does not work here'
    cases = [c for c in all_cases(chapter, listener.port) if (sandboxed or not c.needs_sandbox)
             and (not WANTED or c.name in WANTED)]
    write_canaries(chapter, tmp / 'baseline', ['canary_ok', 'canary_wrong'])
    baseline = course_grade(tmp / 'baseline', tmp / 'grading-baseline')
    assert baseline.returncode == 0, baseline.stdout[-3000:] + baseline.stderr[-3000:]
    base = stored(tmp / 'grading-baseline')

    batch, folders, canaries = tmp / 'batch', {}, []
    for n in range(len(cases) + 1):
        canaries.append(f'{n:03d}_canary_{"ok" if n % 2 == 0 else "wrong"}')
    write_canaries(chapter, batch, canaries)
    for n, case in enumerate(cases, 1):
        folders[case.name] = case.folder or f'{n - 1:03d}_x_{case.name}'
        case.build(batch / folders[case.name])
    site_packages = sysconfig.get_paths()['purelib']
    before = sorted(os.listdir(site_packages))
    started = time.monotonic()
    result = course_grade(batch, tmp / 'grading', *engine)
    seconds = time.monotonic() - started
    time.sleep(4)                  # the daemon case's process would act after 3 s
    print(f'red-team batch ({request.param}): {len(cases)} cases + {len(canaries)} canaries graded in {seconds:.0f} s')
    return SimpleNamespace(cases={c.name: c for c in cases}, folders=folders, canaries=canaries,
                           result=result, states=stored(tmp / 'grading'), baseline=base, tmp=tmp,
                           chapter=chapter, listener=listener, survivors=sandbox_processes(tmp / 'grading'),
                           site_packages=(site_packages, before), sandboxed=sandboxed)


def describe(state):
    return json.dumps({k: state.get(k) for k in ('status', 'message', 'feedback', 'notes', 'attention')},
                      indent=1, ensure_ascii=False)[:4000]


TESTS = compiled_tests(read_instructor(CH.source), student=True)
IMPORTS = cell_imports(read_instructor(CH.source))


def planning_seconds(folder):
    """Seconds the grader spends outside any sandbox reading a submission's notebooks and
    planning their run (parse, match, magics): bounded work, whatever the notebook holds."""
    instructor = read_instructor(CH.source)
    stubs = stub_sources(read_instructor(CH.student))
    started = time.monotonic()
    for path in [] if folder.is_symlink() else folder.glob('*.ipynb'):
        if path.is_symlink() or path.stat().st_size > MAX_NOTEBOOK_BYTES:
            continue
        try:
            cells, metadata = parse(path.read_bytes())
        except SubmissionError:
            continue
        plan_cells(instructor, match(instructor, stubs, cells, metadata).answers, TESTS, IMPORTS)
    return time.monotonic() - started


def report_rows(redteam, name):
    with open(redteam.tmp / 'grading' / 'reports' / CH.id / name, newline='') as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize('name', CASE_NAMES)
def test_case_gets_its_expected_outcome(redteam, name, request):
    if WANTED and name not in WANTED:
        pytest.skip('not in REDTEAM_CASES')
    if name not in redteam.cases:
        pytest.skip('harmful or meaningless without the bubblewrap sandbox (not available here)')
    case = redteam.cases[name]
    if case.known_hole:            # once the grader or the tests close it, this fails: drop known_hole then
        request.applymarker(pytest.mark.xfail(strict=True, reason=f'known hole: {case.known_hole}'))
    folder = redteam.folders[name]
    state = redteam.states[store_key(folder)[0]]
    expect = case.expect
    assert state['status'] == expect.status, describe(state)
    json.dumps(state, ensure_ascii=False).encode()          # every text in it can be written
    points = redteam.chapter.points
    for test in redteam.chapter.tests:
        score = state['scores'].get(test, 0.0)
        if test in expect.zero:
            assert score == 0, f'{test} scored {score}\n{describe(state)}'
        elif test in expect.either:
            continue
        elif expect.others_full and expect.status == 'graded':
            assert score == points[test], f'{test} scored {score}\n{describe(state)}'
    for test, text in expect.feedback.items():
        assert text in state['feedback'].get(test, ''), describe(state)
    for test, texts in expect.feedback_any.items():
        assert any(text in state['feedback'].get(test, '') for text in texts), describe(state)
    everything = ' '.join([state['message'], *state.get('notes', []), *state.get('attention', [])])
    if expect.text:
        assert expect.text in everything, describe(state)
    if expect.text_any:
        assert any(text in everything for text in expect.text_any), describe(state)
    if expect.absent:
        assert expect.absent not in everything + ' '.join(state['feedback'].values()) + state.get('output', ''), \
            describe(state)
    assert planning_seconds(redteam.tmp / 'batch' / folder) < 5
    listed_as = expect.listed_as or folder
    assert listed_as in {row['student'] for row in report_rows(redteam, 'grades.csv')}, describe(state)
    if expect.attention:
        assert listed_as in {row['student'] for row in report_rows(redteam, 'attention.csv')}, describe(state)


def test_batch_finishes_with_exit_status_zero(redteam):
    assert redteam.result.returncode == 0, redteam.result.stdout[-3000:] + redteam.result.stderr[-3000:]
    assert len(redteam.states) == len(redteam.cases) + len(redteam.canaries)
    assert 'infra_error' not in {s['status'] for s in redteam.states.values()}


def test_every_submission_has_one_row_in_grades_csv(redteam):
    assert len(report_rows(redteam, 'grades.csv')) == len(redteam.states)


def test_canaries_are_undisturbed(redteam):
    expected = {kind: outcome(redteam.baseline[f'canary_{kind}']) for kind in ('ok', 'wrong')}
    assert expected['ok'][2] != expected['wrong'][2]
    for name in redteam.canaries:
        kind = name.rsplit('_', 1)[1]
        assert outcome(redteam.states[name]) == expected[kind], f'{name}: {describe(redteam.states[name])}'


def test_unseeded_randomness_is_reproducible(redteam):
    if not {'unseeded_randomness', 'unseeded_randomness_again'} <= set(redteam.cases):
        pytest.skip('not in REDTEAM_CASES')
    first, again = (redteam.states[redteam.folders[n]] for n in ('unseeded_randomness', 'unseeded_randomness_again'))
    assert outcome(first) == outcome(again)


def test_nothing_escapes_the_sandbox(redteam):
    if not redteam.sandboxed:
        pytest.skip('only bubblewrap keeps files and the network out of reach')
    assert redteam.survivors == [], 'processes of the sandbox outlived the grading run'
    assert redteam.listener.connections == 0, 'a submission reached a server outside the sandbox'
    path, before = redteam.site_packages
    assert sorted(os.listdir(path)) == before, 'a submission wrote into site-packages'
    if 'read_instructor_files' in redteam.folders:
        reader = redteam.states[redteam.folders['read_instructor_files']]
        assert 'FOUND-SECRET' not in reader.get('output', ''), reader.get('output')


def test_gradebook_holds_the_canaries_scores(redteam):
    from nbgrader.api import Gradebook

    with Gradebook(f'sqlite:///{redteam.tmp / "grading" / "gradebook.db"}') as gb:
        for name in redteam.canaries:
            submission = gb.find_submission(CH.id, name)
            assert submission.score == sum(redteam.states[name]['scores'].values()), name


def test_rerun_changes_nothing(redteam):
    before = {k: json.dumps(v, sort_keys=True) for k, v in stored(redteam.tmp / 'grading').items()}
    again = course_grade(redteam.tmp / 'batch', redteam.tmp / 'grading')
    assert again.returncode == 0, again.stdout[-2000:]
    assert ' 0 to run' in again.stdout, again.stdout[:500]
    after = {k: json.dumps(v, sort_keys=True) for k, v in stored(redteam.tmp / 'grading').items()}
    assert after == before


@pytest.mark.parametrize('engine', [[], ['--cluster', 'local']], ids=['local', 'cluster'])
def test_kill_minus_nine_mid_batch_then_rerun(tmp_path, engine):
    """The grader is killed while sandboxes run (on its own pool or on the workers of the
    LocalCluster it started); the store stays consistent, nothing of the sandboxes survives,
    and a rerun ends with what an uninterrupted run gives."""
    chapter = Chapter(CH)
    slow = by_id(chapter.solution, chapter.targets[0].answer)
    names = [f'{n:02d}_{"wrong" if n % 3 == 0 else "ok"}' for n in range(10)]
    folder = tmp_path / 'subs'
    write_canaries(chapter, folder, names)
    for name in names[::2]:                          # half of them take a second more
        nb = json.loads((folder / name / f'{CH.name}.ipynb').read_text())
        by_id(nb, chapter.answers[0])['source'] += '\nimport time\ntime.sleep(1.5)\n'
        (folder / name / f'{CH.name}.ipynb').write_text(json.dumps(nb))
    originals = {p: p.read_bytes() for p in folder.rglob('*.ipynb')}
    assert slow is not None

    uninterrupted = course_grade(folder, tmp_path / 'whole')
    assert uninterrupted.returncode == 0, uninterrupted.stdout[-2000:]

    grading = tmp_path / 'killed'
    proc = subprocess.Popen([sys.executable, '-m', 'cli', 'grade', str(folder), '--chapter', CH.id, *LIMITS, *engine],
                            cwd=ROOT, env=grader_env(grading), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        statuses = [s['status'] for s in stored(grading).values()]
        if any(s in ('graded', 'student_error') for s in statuses) and 'running' in statuses:
            break
        time.sleep(0.05)
    else:
        pytest.fail('the batch never reached a state with graded and running submissions')
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1)
    assert sandbox_processes(grading) == [], 'sandboxes outlived the killed grader'
    interrupted = stored(grading)
    assert {s['status'] for s in interrupted.values()} <= {'pending', 'running', 'graded', 'student_error'}
    assert 'running' in {s['status'] for s in interrupted.values()}

    rerun = course_grade(folder, grading)
    assert rerun.returncode == 0, rerun.stdout[-2000:]
    final, whole = stored(grading), stored(tmp_path / 'whole')
    assert set(final) == set(names)
    for name in names:
        assert outcome(final[name]) == outcome(whole[name]), name
        assert final[name]['status'] in ('graded', 'student_error')
    assert {p: p.read_bytes() for p in folder.rglob('*.ipynb')} == originals, 'a submission was modified'


def test_without_a_sandbox_the_grader_warns_and_still_grades(tmp_path):
    chapter = Chapter(CH)
    write_canaries(chapter, tmp_path / 'subs', ['canary_ok', 'canary_wrong'])
    boxed = course_grade(tmp_path / 'subs', tmp_path / 'boxed')
    bare = course_grade(tmp_path / 'subs', tmp_path / 'bare', '--sandbox', 'none')
    assert bare.returncode == 0, bare.stdout[-2000:] + bare.stderr[-2000:]
    assert 'WARNING: NO SANDBOX' in bare.stderr
    assert [outcome(s) for _, s in sorted(stored(tmp_path / 'bare').items())] == \
        [outcome(s) for _, s in sorted(stored(tmp_path / 'boxed').items())]


def test_another_chapters_notebook_does_not_stop_the_batch(redteam, tmp_path):
    """Without --chapter, the chapter most notebooks are for is graded; a student who handed
    in another chapter's notebook is told which chapter that is and which this batch grades."""
    other = chapters()[1]
    write_canaries(redteam.chapter, tmp_path / 'subs', ['canary_ok', 'canary_wrong'])
    (tmp_path / 'subs' / 'other_chapter').mkdir()
    (tmp_path / 'subs' / 'other_chapter' / f'{other.name}.ipynb').write_bytes(other.student.read_bytes())
    result = course_grade(tmp_path / 'subs', tmp_path / 'grading', chapter=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f'chapter {CH.id}: the chapter most notebooks are named for' in result.stdout, result.stdout[:1000]
    states = stored(tmp_path / 'grading')
    odd = states['other_chapter']
    assert odd['status'] == 'student_error', odd
    assert f'chapter {other.id}' in odd['message'] and f'grades chapter {CH.id}' in odd['message'], odd['message']
    for kind in ('ok', 'wrong'):
        assert outcome(states[f'canary_{kind}']) == outcome(redteam.baseline[f'canary_{kind}'])


def test_infra_error_is_the_only_failing_exit_status(tmp_path):
    chapter = Chapter(CH)
    write_canaries(chapter, tmp_path / 'subs', ['canary_ok'])
    starved = course_grade(tmp_path / 'subs', tmp_path / 'grading', '--memory', '40')
    assert starved.returncode == 1, starved.stdout[-2000:]
    state = stored(tmp_path / 'grading')['canary_ok']
    assert state['status'] == 'infra_error' and state['message']
