"""Grading on a real Dask cluster (autograder/cluster.py): a `distributed.LocalCluster` with
worker processes, and `dask scheduler` + `dask worker` started from the command line.

Each batch is graded once on this machine's pool and once on the cluster, with the same key
(`--seed`), and must come out score for score the same, including when a worker is killed in
the middle of a submission (the scheduler gives its task to another worker; the coordinator
records one result per submission). Command-line workers run from an empty folder, without
this repository on their path: they grade with the code the coordinator uploads, and a worker
without bubblewrap refuses to run anything unless the instructor said `--sandbox none`.
"""
import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import distributed
import pytest

from core.chapters import ROOT
from redteam_cases import Chapter, append
from test_redteam import CH, LIMITS, course_grade, grader_env, outcome, stored, write_canaries

pytestmark = pytest.mark.slow
# The same key on every path, and room for the slow submission's sleep.
KEY = ['--seed', '7', '--cell-timeout', '10', '--timeout', '60']
SLOW = '04_slow'
SLEEP = 6


def batch(folder):
    """Two correct notebooks, two with the known bug, and one that sleeps in its first answer."""
    chapter = Chapter(CH)
    write_canaries(chapter, folder, ['00_ok', '01_wrong', '02_ok', '03_wrong'])
    nb = append(chapter.correct(), chapter.answers[0], f'import time\ntime.sleep({SLEEP})')
    chapter.write(folder / SLOW, nb)
    return sorted(p.name for p in folder.iterdir())


def graded_lines(result):
    """The progress lines `./course grade` printed, one per submission it finished."""
    return [line for line in result.stderr.splitlines() if line.strip().startswith('[') and '] ' in line]


def assert_same_grades(cluster, local, names):
    assert set(cluster) == set(local) == set(names)
    for name in names:
        assert outcome(cluster[name]) == outcome(local[name]), name
        assert cluster[name]['status'] == 'graded', cluster[name]['message']


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_a_local_cluster_grades_like_the_local_pool_even_when_a_worker_dies(tmp_path):
    names = batch(tmp_path / 'subs')
    local = course_grade(tmp_path / 'subs', tmp_path / 'local', *KEY)
    assert local.returncode == 0, local.stdout[-2000:] + local.stderr[-2000:]
    totals = {name: sum(state['scores'].values()) for name, state in stored(tmp_path / 'local').items()}
    assert all(totals[n] < totals['00_ok'] == totals[SLOW] for n in names if 'wrong' in n), totals

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        grading = tmp_path / 'cluster'
        proc = subprocess.Popen([sys.executable, '-m', 'cli', 'grade', str(tmp_path / 'subs'), '--chapter', CH.id,
                                 *LIMITS, *KEY, '--cluster', cluster.scheduler_address],
                                cwd=ROOT, env=grader_env(grading), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        # Wait until a worker has been running the slow submission for a while, then kill it.
        key, victim, deadline = f'grade-{SLOW}-', None, time.monotonic() + 300
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            victim = next((w for w, keys in client.processing().items() if any(k.startswith(key) for k in keys)), None)
            time.sleep(0.1)
        assert victim is not None, 'the slow submission never reached a worker'
        time.sleep(2)
        assert stored(grading)[SLOW]['status'] == 'running'
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        client.close()
        cluster.close()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert result.returncode == 0, stdout[-2000:] + stderr[-2000:]
    states = stored(grading)
    assert_same_grades(states, stored(tmp_path / 'local'), names)
    assert states[SLOW]['timing']['worker'] != victim, 'the killed worker cannot have finished the run'
    assert all(states[n]['timing']['worker'].startswith('tcp://') for n in names)
    # Graded once each: one progress line and one gradebook row per submission.
    finished = [line.split('] ', 1)[1].split(':')[0] for line in graded_lines(result)]
    assert sorted(finished) == names, finished
    with open(grading / 'reports' / CH.id / 'grades.csv', newline='') as f:
        assert sorted(row['student'] for row in csv.DictReader(f)) == names


def start(command, cwd, env):
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(*procs):
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)


def test_command_line_workers_grade_with_uploaded_code_and_refuse_without_a_sandbox(tmp_path):
    names = batch(tmp_path / 'subs')
    (tmp_path / 'subs' / SLOW).rename(tmp_path / SLOW)          # nothing here needs to be slow
    names.remove(SLOW)
    local = course_grade(tmp_path / 'subs', tmp_path / 'local', *KEY)
    assert local.returncode == 0, local.stdout[-2000:]
    bin_dir = Path(sys.executable).parent
    port = free_port()
    # The workers run from an empty folder with nothing of this repository on their path, and
    # (first) with a PATH that has the limits' tools but no bubblewrap.
    tools = tmp_path / 'tools'
    tools.mkdir()
    for name in ('prlimit', 'setpriv'):
        os.symlink(shutil.which(name), tools / name)
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    env['PATH'] = f'{bin_dir}:{tools}'
    empty = tmp_path / 'worker-home'
    empty.mkdir()
    address = f'tcp://127.0.0.1:{port}'
    scheduler = start([str(bin_dir / 'dask'), 'scheduler', '--host', '127.0.0.1', '--port', str(port),
                       '--no-dashboard'], empty, env)
    workers = start([str(bin_dir / 'dask'), 'worker', address, '--nworkers', '2', '--nthreads', '1',
                     '--no-dashboard'], empty, env)
    try:
        client = distributed.Client(address, timeout='60s')
        client.wait_for_workers(2, timeout=120)
        found = client.run(eval, '__import__("importlib.util").util.find_spec("autograder") is None')
        assert all(found.values()), 'the workers can import the grader before it is uploaded'
        assert not any(entry == str(ROOT) for paths in client.run(eval, '__import__("sys").path').values()
                       for entry in paths)
        refused = course_grade(tmp_path / 'subs', tmp_path / 'refused', *KEY, '--cluster', address)
        assert refused.returncode == 1, refused.stdout[-2000:] + refused.stderr[-2000:]
        for state in stored(tmp_path / 'refused').values():
            assert state['status'] == 'infra_error' and 'refused' in state['message'] \
                and 'bwrap' in state['message'], state['message']
        # What ran there is the uploaded grader, not a checkout of the course.
        origins = client.run(eval, '__import__("autograder").__file__')
        assert all('minimx_grader.zip' in origin for origin in origins.values()), origins
        bare = course_grade(tmp_path / 'subs', tmp_path / 'bare', *KEY, '--cluster', address, '--sandbox', 'none')
        assert bare.returncode == 0, bare.stdout[-2000:] + bare.stderr[-2000:]
        client.close()
    finally:
        stop(workers, scheduler)
    bare_local = course_grade(tmp_path / 'subs', tmp_path / 'bare-local', *KEY, '--sandbox', 'none')
    assert bare_local.returncode == 0, bare_local.stdout[-2000:]
    assert_same_grades(stored(tmp_path / 'bare'), stored(tmp_path / 'bare-local'), names)
    assert_same_grades(stored(tmp_path / 'bare'), stored(tmp_path / 'local'), names)
    assert all(state['timing']['worker'].startswith('tcp://') for state in stored(tmp_path / 'bare').values())
