"""Attacks on the worker side of grading (autograder/worker.py, cluster.py, sandbox.py) by a
local user or an unsandboxed student run of this machine, and by a second batch on the same
Dask scheduler. Each test fails on the weakness it names."""
import os
import tempfile

import distributed
import pytest

from autograder import cluster, sandbox, worker
from autograder.sandbox import Limits

PLANTED = b'def check(*a, **k):\n    return True   # planted\n'


def test_a_bundle_folder_made_by_another_user_is_not_trusted(tmp_path, monkeypatch):
    stage = tmp_path / 'stage'
    stage.mkdir()
    (stage / 'checks.py').write_bytes(b'REAL = 1\n')
    bundle = worker.Bundle.of(stage)
    # Another user knows the digest (it hashes public code) and unpacks a bundle of their own.
    shared = tmp_path / 'tmp' / 'minimx-grading-bundles'
    planted = shared / bundle.digest / 'stage'
    planted.mkdir(parents=True)
    (shared / bundle.digest / 'harness').mkdir()
    (planted / 'checks.py').write_bytes(PLANTED)
    for path in (shared, shared / bundle.digest, planted, planted / 'checks.py'):
        os.chown(path, 12345, 12345)
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path / 'tmp'))
    monkeypatch.setattr(worker, '_private', [], raising=False)
    harness, unpacked = bundle.unpacked()
    assert (unpacked / 'checks.py').read_bytes() == b'REAL = 1\n'
    assert (harness / 'run_notebook.py').is_file()


def test_a_lock_file_its_owner_could_unlink_is_never_a_slot(tmp_path, monkeypatch):
    locks = tmp_path / 'slots'
    locks.mkdir()
    os.chmod(locks, 0o1777)
    monkeypatch.setattr(sandbox, 'SLOT_LOCKS', locks)
    # An unsandboxed run as slot uid 61003 left lock files behind; it could unlink them later.
    for slot in range(2):
        (locks / str(slot)).touch()
        os.chown(locks / str(slot), 61003, 61003)
    with sandbox.claimed_slot() as slot:
        assert slot == 2


def test_a_slot_folder_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    locks = tmp_path / 'slots'
    locks.mkdir()
    os.chmod(locks, 0o1777)
    os.chown(locks, 12345, 12345)
    monkeypatch.setattr(sandbox, 'SLOT_LOCKS', locks)
    with pytest.raises(RuntimeError, match='belongs to uid 12345'):
        with sandbox.claimed_slot():
            pass


def test_two_batches_grading_students_of_the_same_name_get_their_own_runs():
    # Two coordinators on one scheduler (say chapter 1 and chapter 2) both grade 'alice'.
    first = worker.Task('alice', {'chapter': 'ch01'}, 60, Limits(), 'auto')
    second = worker.Task('alice', {'chapter': 'ch02'}, 60, Limits(), 'auto')
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local, distributed.Client(local) as client:
        runs = [client.submit(worker.unchanged, task.plan, key=cluster.task_key(task), pure=False)
                for task in (first, second)]
        assert [run.result() for run in runs] == [{'chapter': 'ch01'}, {'chapter': 'ch02'}]
    assert all(run.key.startswith('grade-alice-') for run in runs)
