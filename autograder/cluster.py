"""Where submissions' sandboxed runs happen: a pool of this machine, or a Dask cluster.

Both run the same function, worker.run_task, on the same tasks; only the transport differs.

- `LocalPool(jobs)`: `jobs` threads of the coordinating process, each running one sandbox
  at a time (`./course grade` without `--cluster`).
- `DaskPool(address, jobs)`: a Dask `distributed` cluster. `address` is a scheduler
  (`tcp://host:8786`) that you started with `dask scheduler` / `dask worker` or through
  dask-jobqueue or dask-kubernetes, or `local` for a `LocalCluster` of `jobs` worker processes
  on this machine. The grader's own code, `autograder/` and `core/` without any chapter, is
  uploaded to the workers, and the bundle (harness, checks.py, earlier chapters' minimx) goes
  to them once, as the result of a task every run depends on. So a worker needs only the course's pinned environment,
  bubblewrap and util-linux, and never a checkout of this repository or its solutions.

A worker that dies mid-run (killed, out of memory, its machine gone) loses nothing. The
scheduler gives its task to another worker, and the coordinator receives exactly one result
per submission. A task whose workers died `distributed.scheduler.allowed-failures` times
(3 by default) comes back as an error, which becomes that submission's infra_error.
"""
import io
import logging
import tempfile
import threading
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from autograder.worker import run_task, unchanged

GRADER_PACKAGES = ('autograder', 'core')
ROOT = Path(__file__).resolve().parent.parent


class LocalPool:
    """`jobs` sandboxes at a time on this machine."""

    def __init__(self, jobs):
        self.jobs, self.started, self.finished = jobs, 0, 0
        self.description = f'{jobs} at a time on this machine'
        self.lock = threading.Lock()

    def run(self, tasks, bundle):
        """Yield (task, Execution or the exception it raised) as runs finish."""
        def counted(task):
            with self.lock:
                self.started += 1
            try:
                return run_task(task, bundle)
            finally:
                with self.lock:
                    self.finished += 1
        with ThreadPoolExecutor(self.jobs) as pool:
            futures = {pool.submit(counted, task): task for task in tasks}
            for future in as_completed(futures):
                yield futures[future], future.exception() or future.result()

    def running(self):
        with self.lock:
            return self.started - self.finished

    def close(self):
        pass


def grader_zip():
    """The grader's code as a zip Dask can put on its workers' path: no chapter, no answers."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
        for package in GRADER_PACKAGES:
            for path in sorted((ROOT / package).rglob('*.py')):
                if '__pycache__' not in path.parts:
                    archive.write(path, path.relative_to(ROOT).as_posix())
    return buffer.getvalue()


class DaskPool:
    """Runs on a Dask cluster; see the module's docstring."""

    def __init__(self, address, jobs):
        from distributed import Client, LocalCluster
        self.cluster = None
        if address == 'local':
            self.cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(address, timeout='30s')
            except (OSError, TimeoutError) as err:
                raise SystemExit(f'error: cannot reach the Dask scheduler at {address}: {err}') from None
        workers = self.client.scheduler_info()['workers']
        if not workers:
            try:
                self.client.wait_for_workers(1, timeout=120)
            except TimeoutError:
                self.close()
                raise SystemExit(f'error: no worker joined the Dask scheduler at {address} in 120 s') from None
            workers = self.client.scheduler_info()['workers']
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder, 'minimx_grader.zip')
            path.write_bytes(grader_zip())
            self.client.upload_file(str(path))
        threads = sum(w.get('nthreads', 1) for w in workers.values())
        self.description = (f'on the Dask cluster at {self.client.scheduler.address} '
                            f'({len(workers)} workers, {threads} threads)')
        self.futures = {}

    def run(self, tasks, bundle):
        from distributed import as_completed as finished
        # The bundle is the result of a task, not scattered data: a result the scheduler lost with
        # a dead worker is computed again, scattered data is gone for good.
        shared = self.client.submit(unchanged, bundle, key=f'bundle-{bundle.digest}', pure=False)
        # A task's key names its submission, so an instructor watching the cluster (and the
        # tests) can tell which worker runs whose notebook.
        self.futures = {self.client.submit(run_task, task, shared, key=task_key(task), pure=False): task
                        for task in tasks}
        for future in finished(list(self.futures)):
            task = self.futures.pop(future)
            try:
                yield task, future.result()
            except Exception as err:        # the task's own error, or KilledWorker
                yield task, err
            future.release()

    def running(self):
        """How many tasks the cluster's workers hold now (this batch's, and any other client's)."""
        processing = self.client.processing()
        return sum(len(keys) for keys in processing.values())

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def task_key(task):
    """The Dask key of one run: the submission's name, and a part no other run has. A
    scheduler keeps one task per key and hands it to everyone who asks, so two batches on one
    scheduler (two chapters, two coordinators) grading a student of the same name would
    otherwise get the same run back."""
    return f'grade-{task.name}-{uuid.uuid4().hex[:12]}'


def pool(cluster, jobs):
    """The pool a batch runs on: `--cluster ADDRESS` or this machine."""
    return DaskPool(cluster, jobs) if cluster else LocalPool(jobs)
