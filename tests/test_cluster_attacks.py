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


def test_a_student_task_on_a_worker_holds_no_answer_key_or_instructor_test(tmp_path):
    import base64
    import hashlib
    import pickle

    from autograder.assignment import Assignment
    from autograder.store import Store
    from core.chapters import chapters
    ch = chapters()[0]
    store = Store(ch, root=tmp_path / 'grading')
    box = sandbox.Sandbox.detect('auto', Limits())
    assignment = Assignment(ch, store, box, store.secret(7), 'bwrap')
    state = {'key': 'alice', 'sha256': hashlib.sha256(ch.student.read_bytes()).hexdigest()}
    assignment.prepare([assignment.seed_for(state)])
    task, _ = assignment.submission_task(state, ch.source.read_bytes())   # the reference answers, handed in

    # What a worker process actually receives, pickled through a real scheduler.
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local, distributed.Client(local) as client:
        received = client.submit(worker.unchanged, task, pure=False).result()
    sent = pickle.dumps(received)
    assert received.plan['reference'] is False
    assert assignment.key not in sent and base64.b64encode(assignment.key) not in sent
    assert assignment.key.hex().encode() not in sent
    # The reference edition of a test part (it records expected values) differs from the
    # student edition; only the student's travels.
    student_code = {p['code'] for parts in assignment.compiled[True].values() for p in parts}
    reference_code = [p['code'] for parts in assignment.compiled[False].values() for p in parts
                      if p['code'] not in student_code]
    assert reference_code, 'the reference edition of the tests differs from the student one'
    assert not [code for code in reference_code if code.encode() in sent]
    assert all(code.encode() in sent for code in student_code)
    # The reference records of this seed stay in the store on the coordinator.
    for record in (assignment.folder).rglob('*.json'):
        assert record.read_bytes() not in sent
