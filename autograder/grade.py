"""`./course grade SUBMISSIONS`: grade a folder of untrusted submissions (THREATS.md).

SUBMISSIONS holds one folder per student with their notebook inside
(`SUBMISSIONS/alice/ch01_ndarray.ipynb`), or is the zip a platform wrote (Canvas, Moodle,
Gradescope; archives.py), read in memory. The steps:

1. intake   every submission is validated, copied, hashed and recorded as pending
            (`_grading/store/chNN/`) before any student code runs;
2. reference the reference solution runs through the same harness (cached);
3. grading  each submission runs in its own sandbox (autograder/sandbox.py), several at a
            time on this machine or on a Dask cluster (autograder/cluster.py); its records
            are scored here, outside the sandbox (verdict.py), and its state is written
            atomically: graded, student_error or infra_error;
4. results  nbgrader's gradebook receives the scores (its feedback and export keep
            working); `_grading/reports/chNN/` gets grades.csv, a feedback page per
            student, scores.png and attention.csv.

A rerun after an interruption (even `kill -9`) resumes from the store and leaves graded
submissions alone. The exit status is 1 if something ended as infra_error, 2 if an archive
cannot be read at all.
"""
import os
import posixpath
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

from autograder import gradebook, report
from autograder.archives import ArchiveError
from autograder.cluster import pool as cluster_pool
from autograder.assignment import Assignment, InfraError
from autograder.intake import intake, notebook_chapter, open_submissions
from autograder.notebook import SubmissionError
from autograder.safe_text import safe_text
from autograder.sandbox import Limits, Sandbox
from autograder.store import Store
from core.chapters import chapter

DATASETS = ['/usr/share/datasets']


def find_chapter(submissions, requested=None):
    """The chapter to grade: --chapter, or else the one most students' notebooks are named
    for (chNN_...). A student who handed in another chapter's notebook does not stop the
    batch: intake tells them which chapter this batch grades. A tie needs --chapter.
    `submissions` is a folder of the folder layout or a list of archives.Entry."""
    if requested:
        return chapter(requested)
    votes = Counter()
    if isinstance(submissions, list):
        for entry in submissions:
            votes.update({notebook_chapter(posixpath.basename(n)) for n in entry.files if n.endswith('.ipynb')} - {None})
    else:
        for folder in os.scandir(submissions):
            try:
                if folder.is_dir(follow_symlinks=False):
                    votes.update({notebook_chapter(f.name) for f in os.scandir(folder.path)
                                  if f.name.endswith('.ipynb')} - {None})
            except OSError:
                pass                                # unreadable: intake will say so
    ranked = votes.most_common()
    tally = ', '.join(f'{cid}: {n}' for cid, n in sorted(ranked))
    if not ranked or len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        raise SystemExit('error: cannot tell which chapter these submissions are for'
                         + (f' (notebooks named for {tally})' if tally else '') + '; pass --chapter chNN')
    ch = chapter(ranked[0][0])
    others = sum(n for _, n in ranked[1:])
    print(f'chapter {ch.id}: the chapter most notebooks are named for ({tally})'
          + (f'; {others} with another chapter\'s notebook will be told so (--chapter chNN chooses)' if others else ''),
          flush=True)
    return ch



class Progress:
    """A bar on a terminal; one line per submission in a log. Both say how many are done,
    how many are running on the workers, how many failed, and the rate."""

    def __init__(self, total, stream=sys.stderr, running=lambda: None):
        self.total, self.count, self.stream, self.started = total, 0, stream, time.monotonic()
        self.by_status, self.running = {}, running
        self.live = stream.isatty()
        self.lock = threading.Lock()

    def done(self, state, max_score):
        """Never raises: a display that fails must not cost a submission its grade."""
        try:
            with self.lock:
                self._done(state, max_score)
        except Exception as err:
            print(f'error: progress display failed: {safe_text(err, 200)}', file=sys.stderr)

    def _done(self, state, max_score):
        self.count += 1
        self.by_status[state['status']] = self.by_status.get(state['status'], 0) + 1
        elapsed = max(time.monotonic() - self.started, 1e-9)
        failed = self.by_status.get('student_error', 0) + self.by_status.get('infra_error', 0)
        running = self.running()
        counts = (f'{self.by_status.get("graded", 0)} graded, {failed} failed'
                  + (f', {running} running' if running is not None else '') + f', {self.count / elapsed:.2f}/s')
        if self.live:
            width = 30
            filled = int(width * self.count / max(self.total, 1))
            self.stream.write(f'\r  [{"#" * filled}{"." * (width - filled)}] {self.count}/{self.total} {counts} ')
            if self.count == self.total:
                self.stream.write('\n')
        else:
            total = sum(state['scores'].values())
            shown = f'{total:g}/{max_score:g}' if state['status'] == 'graded' else state['message'][:100]
            self.stream.write(f'  [{self.count}/{self.total}] {state["student"]}: {state["status"]} -- {shown}'
                              f'  ({counts})\n')
        self.stream.flush()


def grade(submissions, requested_chapter=None, jobs=None, seed=None, limits=None, sandbox='auto', generate=None,
          cluster=None, platform=None, deadlines=None, record_gradebook=True):
    """Grade a folder or an LMS archive of submissions; return the exit status (1 if any
    infra_error, 2 if the archive cannot be read). `platform` is --from (None: detect it);
    `deadlines` maps chapter ids to the release calendar's deadline (a date), from the CLI.

    `generate(chapters, release_directory, work_directory)` is the course's nbgrader
    generate_assignment (pipeline/generate.py, passed in by the CLI): nbgrader's gradebook
    learns a chapter's cells only from it, and the grader does not build the course.
    `cluster`: the address of a Dask scheduler, or 'local' (autograder/cluster.py); None runs
    `jobs` sandboxes at a time in this process.
    `record_gradebook=False` skips the gradebook (Gradescope keeps the grades); `sandbox` may
    also be a Sandbox already detected (the caller has checked what it protects)."""
    if generate is None and record_gradebook:
        raise ValueError('grade() needs the course\'s generate (pipeline.generate.generate) for the gradebook')
    try:
        source, archive = open_submissions(Path(submissions), platform)
    except ArchiveError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    ch = find_chapter(source, requested_chapter)
    store = Store(ch)
    store.lock()
    read_only = DATASETS + ([os.environ['FASHION_MNIST']] if os.environ.get('FASHION_MNIST') else [])
    box = sandbox if isinstance(sandbox, Sandbox) else Sandbox.detect(sandbox, limits or Limits(), read_only)
    if not box.isolated:
        print("\n" + box.warning() + "\n", file=sys.stderr, flush=True)
    # Workers sandbox as this machine does; on a cluster each insists on bubblewrap unless the
    # instructor asked for none (a worker without it refuses the task: worker.py).
    request = 'none' if sandbox == 'none' or (not cluster and not box.isolated) else 'bwrap'
    assignment = Assignment(ch, store, box, store.secret(seed), request)
    states = intake(source, ch, store, assignment.fingerprint, (deadlines or {}).get(ch.id))
    if archive:
        archive.close()                 # every member is now in the store or refused
    todo = [s for s in states if s['status'] == 'pending']        # not final, not failed at intake
    jobs = max(1, jobs or os.cpu_count() or 1)
    if assignment.left_out:
        names = ', '.join(assignment.instructor[i].label for i in sorted(assignment.left_out))
        print(f'not run: {len(assignment.left_out)} demonstration cells the chapter declares '
              f'(course.grading.demonstrations): {names}', flush=True)
    try:
        if record_gradebook:
            gradebook.prepare(ch, generate)
        if todo:
            started = time.monotonic()
            seeds = sorted({assignment.seed_for(s) for s in todo})
            assignment.prepare(seeds, min(jobs, os.cpu_count() or 1))
            print(f'reference solution ready for {len(seeds)} sets of hidden cases '
                  f'({time.monotonic() - started:.1f} s)', flush=True)
    except (InfraError, SystemExit) as err:
        for state in todo:
            state.update(status='infra_error', message=f'the grader could not run: {str(err)[:2000]}')
            store.save_safely(state)
        print(f'error: {err}', file=sys.stderr)
        return finish(ch, assignment, states)
    if todo:
        started = time.monotonic()
        runner = cluster_pool(cluster, min(jobs, len(todo)))
        if cluster:
            print(f'Dask cluster ready ({time.monotonic() - started:.1f} s)', flush=True)
        print(f'grading {ch.id}: {len(states)} submissions, {len(todo)} to run '
              f'({len(states) - len(todo)} already final), {runner.description}, sandbox: {request}', flush=True)
        try:
            started = time.monotonic()
            grade_all(assignment, store, todo, runner, Progress(len(todo), running=runner.running))
        finally:
            runner.close()
        seconds = time.monotonic() - started
        print(f'graded {len(todo)} in {seconds:.1f} s ({len(todo) / seconds * 60:.0f}/min)', flush=True)
    else:
        print(f'grading {ch.id}: {len(states)} submissions, 0 to run ({len(states)} already final)', flush=True)
    try:
        unrecorded = gradebook.record(ch, assignment, states) if record_gradebook else ()
    except Exception as err:                    # the store and reports are still right
        print(f'error: could not write nbgrader\'s gradebook: {safe_text(err, 1000)}', file=sys.stderr)
        return finish(ch, assignment, states) or 1
    return finish(ch, assignment, states, unrecorded) or (1 if unrecorded else 0)


def grade_all(assignment, store, todo, runner, progress):
    """Every state in `todo` ends recorded. Tasks are made and results judged here, in the
    coordinating process; `runner` only runs them."""
    sent = {}                                   # task name -> (state, context, task)

    def make_task(state):
        state['status'] = 'running'
        store.save(state)
        files = store.files_of(state['key'], state.get('files', []))
        task, context = assignment.submission_task(state, store.copy_of(state['key']), files)
        sent[task.name] = state, context, task
        return task

    def judge(state, context, outcome):
        if isinstance(outcome, BaseException):
            raise InfraError(worker_failure(outcome))
        return assignment.judge(state, context, outcome)

    for state in todo:
        if attempt(state, make_task, state) is None:
            record(store, state)
            progress.done(state, assignment.max_score)
    for task, outcome in runner.run([task for _, _, task in sent.values()], assignment.bundle):
        state, context, _ = sent.pop(task.name)
        attempt(state, judge, state, context, outcome)
        record(store, state)
        progress.done(state, assignment.max_score)
    for state, _, _ in sent.values():           # a runner that lost a task: still never silent
        state.update(status='infra_error', message='the workers returned no result for this submission')
        record(store, state)
        progress.done(state, assignment.max_score)


def worker_failure(err):
    """What a submission's record says when its run could not be brought back."""
    if type(err).__name__ == 'KilledWorker':
        return ('every worker that ran this submission died (out of memory or killed) before it finished; '
                'the rest of the batch is unaffected')
    if type(err).__name__ == 'WorkerRefused':
        return f'a worker refused to run it: {safe_text(err, 500)}'
    return f'the run failed on its worker: {type(err).__name__}: {safe_text(err, 500)}'


def attempt(state, action, *args):
    """`action(*args)`, or None with the failure recorded in `state`: a submission that cannot
    be graded is the student's error, one the grader cannot grade an infra_error."""
    try:
        return action(*args)
    except SubmissionError as err:
        state.update(status='student_error', message=str(err))
    except InfraError as err:
        state.update(status='infra_error', message=str(err)[:2000])
    except Exception as err:                    # a grader bug: say so, grade the others
        where = traceback.format_exc(limit=-3).strip().splitlines()
        state.update(status='infra_error', message=f'grader failure: {type(err).__name__}: {err} '
                                                   f'({" | ".join(where[-4:])[:600]})')
    return None


def record(store, state):
    """Save a final state. Never raises: if the store cannot be written, the state in memory
    says so and the report shows it."""
    try:
        store.save_safely(state)
    except Exception as err:
        state.update(status='infra_error', message=f'the result could not be saved: '
                                                   f'{type(err).__name__}: {safe_text(err, 300)}')
        print(f'error: {state["key"]}: {state["message"]}', file=sys.stderr)


def finish(ch, assignment, states, unrecorded=()):
    report.write(ch, assignment, states, unrecorded)
    counts = {s: sum(st['status'] == s for st in states) for s in ('graded', 'student_error', 'infra_error')}
    print(f'{counts["graded"]} graded, {counts["student_error"]} student errors, '
          f'{counts["infra_error"]} infra errors')
    return 1 if counts['infra_error'] else 0
