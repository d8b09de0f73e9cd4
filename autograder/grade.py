"""`./course grade SUBMISSIONS`: grade a folder of untrusted submissions (THREATS.md).

SUBMISSIONS holds one folder per student with their notebook inside
(`SUBMISSIONS/alice/ch01_ndarray.ipynb`). The steps:

1. intake   every submission is validated, copied, hashed and recorded as pending
            (`_grading/store/chNN/`) before any student code runs;
2. reference the reference solution runs through the same harness (cached);
3. grading  each submission runs in its own sandbox (autograder/sandbox.py), in parallel
            across cores; its records are scored outside the sandbox (verdict.py) and its
            state is written atomically: graded, student_error or infra_error;
4. results  nbgrader's gradebook receives the scores (its feedback and export keep
            working); `_grading/reports/chNN/` gets grades.csv, a feedback page per
            student, scores.png and attention.csv.

A rerun after an interruption (even `kill -9`) resumes from the store and leaves graded
submissions alone. The exit status is 1 only if something ended as infra_error.
"""
import os
import queue
import sys
import threading
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autograder import gradebook, report
from autograder.assignment import Assignment, InfraError
from autograder.intake import intake, notebook_chapter
from autograder.notebook import SubmissionError
from autograder.safe_text import safe_text
from autograder.sandbox import Limits, Sandbox
from autograder.store import Store
from core.chapters import chapter

DATASETS = ['/usr/share/datasets']


def find_chapter(submissions, requested=None):
    """The chapter to grade: --chapter, or else the one most students' notebooks are named
    for (chNN_...). A student who handed in another chapter's notebook does not stop the
    batch: intake tells them which chapter this batch grades. A tie needs --chapter."""
    if requested:
        return chapter(requested)
    votes = Counter()
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
    """A bar on a terminal; one line per submission in a log."""

    def __init__(self, total, stream=sys.stderr):
        self.total, self.count, self.stream, self.started = total, 0, stream, time.monotonic()
        self.by_status = {}
        self.live = stream.isatty()
        self.lock = threading.Lock()

    def done(self, state, max_score):
        with self.lock:                 # workers finish concurrently
            self._done(state, max_score)

    def _done(self, state, max_score):
        self.count += 1
        self.by_status[state['status']] = self.by_status.get(state['status'], 0) + 1
        if self.live:
            width = 30
            filled = int(width * self.count / max(self.total, 1))
            rate = self.count / max(time.monotonic() - self.started, 1e-9) * 60
            counts = ' '.join(f'{k} {v}' for k, v in sorted(self.by_status.items()))
            self.stream.write(f'\r  [{"#" * filled}{"." * (width - filled)}] {self.count}/{self.total} '
                              f'{counts}  ({rate:.0f}/min) ')
            if self.count == self.total:
                self.stream.write('\n')
        else:
            total = sum(state['scores'].values())
            shown = f'{total:g}/{max_score:g}' if state['status'] == 'graded' else state['message'][:100]
            self.stream.write(f'  [{self.count}/{self.total}] {state["student"]}: {state["status"]} -- {shown}\n')
        self.stream.flush()


def grade(submissions, requested_chapter=None, jobs=None, seed=None, limits=None, sandbox='auto', generate=None,
          record_gradebook=True):
    """Grade a folder of submissions; return the exit status (1 if any infra_error).

    `generate(chapters, release_directory, work_directory)` is the course's nbgrader
    generate_assignment (pipeline/generate.py, passed in by the CLI): nbgrader's gradebook
    learns a chapter's cells only from it, and the grader does not build the course.
    `record_gradebook=False` skips the gradebook (Gradescope keeps the grades); `sandbox` may
    also be a Sandbox already detected (the caller has checked what it protects)."""
    if generate is None and record_gradebook:
        raise ValueError('grade() needs the course\'s generate (pipeline.generate.generate) for the gradebook')
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise SystemExit(f'error: {submissions} is not a folder of submissions')
    ch = find_chapter(submissions, requested_chapter)
    store = Store(ch)
    store.lock()
    read_only = DATASETS + ([os.environ['FASHION_MNIST']] if os.environ.get('FASHION_MNIST') else [])
    box = sandbox if isinstance(sandbox, Sandbox) else Sandbox.detect(sandbox, limits or Limits(), read_only)
    if not box.isolated:
        print("\n" + box.warning() + "\n", file=sys.stderr, flush=True)
    assignment = Assignment(ch, store, box, store.secret(seed))
    states = intake(submissions, ch, store, assignment.fingerprint)
    todo = [s for s in states if s['status'] == 'pending']        # not final, not failed at intake
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    print(f'grading {ch.id}: {len(states)} submissions, {len(todo)} to run '
          f'({len(states) - len(todo)} already final), {jobs} at a time, sandbox: {box.mode}', flush=True)
    try:
        if record_gradebook:
            gradebook.prepare(ch, generate)
        if todo:
            started = time.monotonic()
            seeds = sorted({assignment.seed_for(s) for s in todo})
            assignment.prepare(seeds, jobs)
            print(f'reference solution ready for {len(seeds)} sets of hidden cases '
                  f'({time.monotonic() - started:.1f} s)', flush=True)
    except (InfraError, SystemExit) as err:
        for state in todo:
            state.update(status='infra_error', message=f'the grader could not run: {str(err)[:2000]}')
            store.save_safely(state)
        print(f'error: {err}', file=sys.stderr)
        return finish(ch, assignment, states)
    progress = Progress(len(todo))
    slots = queue.Queue()
    for slot in range(jobs):
        slots.put(slot)

    def work(state):
        """Never raises: a submission that breaks the grader is that submission's infra_error."""
        slot = slots.get()
        try:
            grade_one(assignment, store, state, slot)
        finally:
            slots.put(slot)
        try:
            progress.done(state, assignment.max_score)
        except Exception as err:
            print(f'error: progress display failed: {safe_text(err, 200)}', file=sys.stderr)

    started = time.monotonic()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(work, todo))
    if todo:
        seconds = time.monotonic() - started
        print(f'graded {len(todo)} in {seconds:.1f} s ({len(todo) / seconds * 60:.0f}/min)', flush=True)
    try:
        unrecorded = gradebook.record(ch, assignment, states) if record_gradebook else ()
    except Exception as err:                    # the store and reports are still right
        print(f'error: could not write nbgrader\'s gradebook: {safe_text(err, 1000)}', file=sys.stderr)
        return finish(ch, assignment, states) or 1
    return finish(ch, assignment, states, unrecorded) or (1 if unrecorded else 0)


def grade_one(assignment, store, state, slot):
    """Grade one submission; every way this can go wrong ends in a recorded status. Never
    raises (even if saving fails, the state in memory says so and the report shows it)."""
    try:
        state['status'] = 'running'
        store.save(state)
        files = store.files_of(state['key'], state.get('files', []))
        assignment.grade(state, store.copy_of(state['key']), slot, files)
    except SubmissionError as err:
        state.update(status='student_error', message=str(err))
    except InfraError as err:
        state.update(status='infra_error', message=str(err)[:2000])
    except Exception as err:                    # a grader bug: say so, grade the others
        where = traceback.format_exc(limit=-3).strip().splitlines()
        state.update(status='infra_error', message=f'grader failure: {type(err).__name__}: {err} '
                                                   f'({" | ".join(where[-4:])[:600]})')
    try:
        store.save_safely(state)
    except Exception as err:                    # the store itself cannot be written
        state.update(status='infra_error', message=f'the result could not be saved: '
                                                   f'{type(err).__name__}: {safe_text(err, 300)}')
        print(f'error: {state["key"]}: {state["message"]}', file=sys.stderr)


def finish(ch, assignment, states, unrecorded=()):
    report.write(ch, assignment, states, unrecorded)
    counts = {s: sum(st['status'] == s for st in states) for s in ('graded', 'student_error', 'infra_error')}
    print(f'{counts["graded"]} graded, {counts["student_error"]} student errors, '
          f'{counts["infra_error"]} infra errors')
    return 1 if counts['infra_error'] else 0
