"""What the grader knows about one chapter, and grading one submission of it.

The instructor's notebook gives the plan; the student edition gives the stubs used for
missing answers; `stage()` gives the folder a student works in (checks.py and the minimx
of earlier chapters), mounted read-only in the sandbox. The reference solution runs through
the very same harness with the same seed offset -- twice, to prove its records reproduce --
and its records are cached per grader fingerprint, so a batch runs it once.
"""
import base64
import hashlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path

from autograder import execution, verdict
from autograder.notebook import Structure, match, parse, plan_cells, read_instructor, stub_sources
from autograder.sandbox import HARNESS
from autograder.store import read_json, write_json
from pipeline.chapters import CHECKS, before
from pipeline.execute import stage
from pipeline.export import package_files

GRADER_VERSION = 1
# Libraries a submission may not use to do the exercises (the course builds on numpy alone).
FORBIDDEN_MODULES = ('torch', 'tensorflow', 'jax', 'jaxlib', 'mxnet', 'keras', 'scipy', 'sklearn',
                     'cupy', 'numba', 'autograd', 'chainer', 'paddle', 'theano', 'd2l', 'd2lzh')


class InfraError(RuntimeError):
    """The grader cannot grade this chapter (or submission) correctly; not the student's fault."""


class Assignment:
    def __init__(self, ch, store, sandbox, seed):
        self.ch, self.store, self.sandbox, self.seed = ch, store, sandbox, seed
        self.instructor = read_instructor(ch.source)
        self.stubs = stub_sources(read_instructor(ch.student))
        self.tests = [c for c in self.instructor if c.is_test]
        self.stage = store.stage_dir()
        shutil.rmtree(self.stage, ignore_errors=True)
        stage(ch, self.stage)
        self.fingerprint = self._fingerprint()
        self.reference = None

    def _fingerprint(self):
        """Everything a score depends on besides the submission itself."""
        h = hashlib.sha256(f'grader {GRADER_VERSION} seed {self.seed}'.encode())
        for path in [*sorted(HARNESS.glob('*.py')), CHECKS, self.ch.source, self.ch.student,
                     *sorted(Path(__file__).parent.glob('*.py'))]:
            h.update(path.name.encode() + path.read_bytes())
        for rel, text in sorted(package_files(before(self.ch)).items()):
            h.update(rel.encode() + text.encode())
        h.update(json.dumps([self.sandbox.mode, self.sandbox.limits.describe(), sys.version,
                             FORBIDDEN_MODULES], sort_keys=True).encode())
        return h.hexdigest()[:20]

    @property
    def max_score(self):
        return sum(c.points for c in self.tests)

    def plan(self, answers, reference=False):
        sandbox = self.sandbox
        return {'cells': plan_cells(self.instructor, answers), 'seed_offset': self.seed,
                'reference': reference, 'forbidden_modules': list(FORBIDDEN_MODULES),
                'sys_path': [sandbox.stage_dir(self.stage), *sandbox.python_path],
                'read_ok': sandbox.readable_prefixes(self.stage)}

    def run(self, plan, slot):
        return execution.run_plan(self.sandbox, slot, self.stage, plan, self.sandbox.limits.submission_seconds)

    # -- the reference run ---------------------------------------------------------------------
    def load_reference(self, slot=0):
        """The reference solution's records per test cell (cached), or InfraError."""
        path = self.store.reference_path(self.fingerprint)
        cached = read_json(path)
        if cached is None:
            answers = {c.grade_id: c.source for c in self.instructor if c.is_answer}
            first, second = (self.run(self.plan(answers, reference=True), slot) for _ in range(2))
            problems = self._problems(first) or self._problems(second) or mark_unstable(first, second)
            if problems:
                raise InfraError('the reference solution does not pass its own tests under the grader:\n  '
                                 + '\n  '.join(problems))
            cached = {'cells': {str(i): {'records': r.records, 'hidden_from': r.hidden_from,
                                         'replaced': r.replaced} for i, r in first.cells.items()},
                      'events': first.events}
            write_json(path, cached)
        self.reference = {int(i): execution.CellRun(records=c['records'], hidden_from=c['hidden_from'],
                                                    replaced=c['replaced'], finished=True)
                          for i, c in cached['cells'].items()}
        self.reference_events = cached['events']
        return self.reference

    def _problems(self, run):
        if run.harness_failed:
            return [run.harness_failed]
        problems = [f'cell {i} was killed: {why}' for i, why in run.skipped.items()]
        if not run.complete:
            problems.append('the run did not complete' + (f' ({run.tampered})' if run.tampered else ''))
        index = {c['index']: c for c in self.plan({})['cells']}
        for i, cell_run in run.cells.items():
            if index[i]['kind'] != 'test' and cell_run.error:
                problems.append(f'cell {index[i]["label"]} raised {cell_run.error["types"][0]}: '
                                f'{cell_run.error["message"][:200]}')
        for i, cell in index.items():
            if cell['kind'] == 'test':
                problems += verdict.check_reference(cell['grade_id'], run.cells.get(i))
        return problems

    # -- one submission ------------------------------------------------------------------------
    def grade(self, state, data, slot, files=None):
        """Run and score one parsed submission; returns the updated state (not saved)."""
        cells, metadata = parse(data)
        structure = match(self.instructor, self.stubs, cells, metadata)
        plan = self.plan(structure.answers)
        plan['files'] = {name: base64.b64encode(content).decode() for name, content in (files or {}).items()}
        run = self.run(plan, slot)
        if run.harness_failed:
            raise InfraError(run.harness_failed)
        return score(self, state, structure, run)


def mark_unstable(first, second):
    """Compare two reference runs: their checks must be the same, in the same order; a check
    whose values differ (object ids, say) is marked `unstable` and judged by the student
    process's own verdict on plain values (see verdict.py). Returns problems, if any."""
    for i, run in first.cells.items():
        other = second.cells.get(i)
        shape = [(r.get('kind'), r.get('params')) for r in run.records]
        if other is None or shape != [(r.get('kind'), r.get('params')) for r in other.records] \
                or run.hidden_from != other.hidden_from:
            return [f'cell {i}: two runs of the reference with the same seed ran different checks '
                    f'(unseeded randomness in a test?)']
        for mine, theirs in zip(run.records, other.records):
            if (mine.get('value'), mine.get('expected')) != (theirs.get('value'), theirs.get('expected')):
                mine['unstable'] = True
    return []


def _patched(assignment, run, i):
    """Library functions the student's code left replaced at the end of cell i."""
    reference = assignment.reference.get(i)
    return sorted(set(run.cells[i].replaced) - set(reference.replaced if reference else ()))


def _judge_test(assignment, test, i, run):
    """(score, message) of one test cell."""
    limits = assignment.sandbox.limits
    if i in run.cells:
        patched = _patched(assignment, run, i)
        if patched:
            return 0.0, (f'your code replaced {", ".join(patched)[:200]} while this test ran; '
                         f'a test judged with patched libraries cannot count')
        v = verdict.judge_cell(test.grade_id, test.points, assignment.reference[i], run.cells[i], limits.memory_mb)
        return v.score, v.message
    if i in run.skipped:
        return 0.0, f'this test {run.skipped[i]}; no points'
    if run.tampered:
        return 0.0, 'not run: your code wrote to the grader\'s private channel'
    if run.budget_spent:
        return 0.0, f'not run: the submission used up its time budget ({limits.submission_seconds:g} s)'
    return 0.0, 'not run'


def score(assignment, state, structure: Structure, run):
    """Turn a run into scores, messages and attention notes."""
    limits = assignment.sandbox.limits
    index = {c['index']: c for c in assignment.plan({})['cells']}
    scores, feedback, attention = {}, {}, list(structure.tampering)
    notes = list(state.get('notes', [])) + structure.notes
    for i, why in run.skipped.items():
        if index[i]['kind'] != 'test':
            notes.append(f'cell {index[i]["label"]} {why}; it was skipped and the rest of the notebook run without it')
        attention.append(f'{index[i]["label"]}: {why}')
    reported = set()
    for i, cell_run in sorted(run.cells.items()):
        patched = [name for name in _patched(assignment, run, i) if name not in reported]
        if patched:                        # where each replacement is first seen
            attention.append(f'{index[i]["label"]}: replaced {", ".join(patched)[:200]}')
            reported.update(patched)
        if index[i]['kind'] == 'answer' and cell_run.error:
            notes.append(f'your cell {index[i]["label"]} raised an error when run: '
                         f'{verdict.explain_error(cell_run.error, False, limits.memory_mb)}')
    for test in assignment.tests:
        i = next(n for n, cell in index.items() if cell['grade_id'] == test.grade_id and cell['kind'] == 'test')
        scores[test.grade_id], feedback[test.grade_id] = _judge_test(assignment, test, i, run)
    if run.tampered:
        attention.append(f'wrote to the grader\'s report channel ({run.tampered}); later tests were not run')
    attention += suspicious_events(run.events, assignment.reference_events)
    failed = [c.grade_id for c in assignment.tests if scores[c.grade_id] < c.points]
    status = 'graded'
    message = f'{sum(scores.values()):g}/{assignment.max_score:g}: ' + \
        (f'not passed: {", ".join(failed)}' if failed else 'every test passed')
    if run.budget_spent:
        status = 'student_error'
        message = (f'timed out: the notebook used its whole time budget ({limits.submission_seconds:g} s); '
                   f'tests not reached score 0')
    state.update(status=status, message=message, scores=scores, feedback=feedback,
                 notes=notes, attention=attention,
                 timing={'seconds': round(run.seconds, 2), 'attempts': run.attempts,
                         'cpu_by_cell': {index[i]['label']: round(r.cpu, 2) for i, r in run.cells.items()}},
                 output=run.stdout.decode(errors='replace')[-4000:] + run.stderr.decode(errors='replace')[-4000:])
    return state


def third_party(module):
    """True for a forbidden module, or one installed beside the course's own libraries."""
    if module in FORBIDDEN_MODULES:
        return True
    if module in sys.stdlib_module_names or module in ('numpy', 'minimx', 'checks', 'matplotlib'):
        return False
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    return spec is not None and 'site-packages' in str(spec.origin or '')


def suspicious_events(events, reference_events):
    """Watched calls the submission made and the reference did not (for the instructor)."""
    found = []
    for key in sorted(events):
        if key in reference_events:
            continue
        name, _, detail = key.partition(' ')
        if name == 'import' and not third_party(detail):
            continue
        found.append(f'called {key[:160]}' + (f' ({events[key]}x)' if events[key] > 1 else ''))
    return found[:15]
