"""What the grader knows about one chapter, and grading one submission of it.

The instructor's notebook gives the plan; the student edition gives the stubs used for
missing answers; `stage()` gives the folder a student works in (checks.py and the minimx
of earlier chapters), mounted read-only in the sandbox. Test cells are compiled twice
(autograder/rewrite.py): in full for the reference run, without their expected side for
student runs.

Every submission has hidden cases of its own: its seed is a keyed hash of the student id and
the notebook (the key stays in the store). Before a batch runs, the reference solution runs
through the very same harness once for all the batch's seeds -- visible parts and the other
cells once, each hidden part once per seed in a forked child -- and its records are cached per
grader fingerprint and seed, so a rerun runs nothing again. Then, once per fingerprint, the
reference answers are graded like a student's: the student edition of the tests must give
exactly the reference run's values, which proves both that removing the expected side changed
nothing the student's code sees and that no hidden part leaves traces later cells depend on.
"""
import base64
import hashlib
import hmac
import importlib.util
import json
import shutil
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from autograder import execution, verdict, worker
from autograder.demonstrations import declared_demonstrations
from autograder.notebook import (Structure, cell_imports, compiled_tests, imported_modules, match, out_of_time, parse,
                                 plan_cells, read_instructor, stub_sources, watched_functions)
from autograder.rewrite import lint
from autograder.sandbox import HARNESS
from autograder.store import read_json, write_json
from core.chapters import CHECKS
from core.notebook_format import exercise_tests
from core.staging import earlier_package, stage

GRADER_VERSION = 2
# Libraries a submission may not use to do the exercises (the course builds on numpy alone);
# CPython's test modules and ctypes, which expose the interpreter's internals and memory.
FORBIDDEN_MODULES = ('torch', 'tensorflow', 'jax', 'jaxlib', 'mxnet', 'keras', 'scipy', 'sklearn',
                     'cupy', 'numba', 'autograd', 'chainer', 'paddle', 'theano', 'd2l', 'd2lzh',
                     '_testcapi', '_testinternalcapi', '_testbuffer', '_testmultiphase', '_testsinglephase',
                     '_testimportmultiple', '_xxsubinterpreters', '_xxinterpchannels', '_ctypes_test',
                     'ctypes', '_ctypes', 'gc')
# Libraries a module imports only when first used: imported with it, before any student code
# runs (matplotlib does at import time what a running notebook may not do).
LAZY_IMPORTS = {'minimx.d2l': ('matplotlib.pyplot',)}
SEED_RANGE = 2 ** 31
SEEDS_PER_RUN = 50             # hidden-case seeds one reference run computes


class InfraError(RuntimeError):
    """The grader cannot grade this chapter (or submission) correctly; not the student's fault."""


class Assignment:
    def __init__(self, ch, store, sandbox, key, sandbox_request=None, all_cells=False):
        """`all_cells` runs the chapter's demonstrations too (see demonstrations.py): the
        grader as it was before chapters declared them, for tests and benchmarks."""
        self.ch, self.store, self.sandbox, self.key = ch, store, sandbox, key
        # What every worker is told to use: this machine's own choice by default; a cluster asks
        # for bubblewrap unless the instructor said --sandbox none (see grade.py).
        self.sandbox_request = sandbox_request or ('none' if sandbox.mode == 'none' else 'bwrap')
        self.instructor = read_instructor(ch.source)
        self.stubs = stub_sources(read_instructor(ch.student))
        self.tests = [c for c in self.instructor if c.is_test]
        self.problems = [p for c in self.tests for p in lint(c.source, c.grade_id)]
        # Cells no grade depends on, left out of every run (the chapter's metadata
        # course.grading.demonstrations); a declaration that is wrong is refused in prepare().
        demonstrations, problems = declared_demonstrations(self.instructor, ch.grading)
        self.problems += problems
        self.left_out = set() if all_cells else demonstrations
        self.compiled = {mode: compiled_tests(self.instructor, student=mode) for mode in (False, True)}
        self.imports = cell_imports(self.instructor)
        modules, aliases = imported_modules(self.instructor)
        self.preimport = sorted(modules | {lazy for m in modules for lazy in LAZY_IMPORTS.get(m, ())})
        self.watched = watched_functions(self.instructor, aliases)
        # Variables the chapter's notebook asks to be set for every run of it, the reference
        # run included (its metadata course.grading.env).
        self.env = {str(k): str(v) for k, v in ch.grading.get('env', {}).items()}
        self.stage = store.stage_dir()
        shutil.rmtree(self.stage, ignore_errors=True)
        stage(ch, self.stage)
        self.bundle = worker.Bundle.of(self.stage)
        self.fingerprint = self._fingerprint()
        self.folder = store.reference_dir(self.fingerprint)
        self.main = None                      # the reference run's shared records (see prepare)
        self.lock = threading.Lock()

    def _fingerprint(self):
        """Everything a score depends on besides the submission itself."""
        h = hashlib.sha256(f'grader {GRADER_VERSION} key {hashlib.sha256(self.key).hexdigest()}'.encode())
        for path in [*sorted(HARNESS.glob('*.py')), CHECKS, self.ch.source, self.ch.student,
                     *sorted(Path(__file__).parent.glob('*.py'))]:
            h.update(path.name.encode() + path.read_bytes())
        for rel, text in sorted(earlier_package(self.ch).items()):
            h.update(rel.encode() + text.encode())
        h.update(json.dumps([self.sandbox.mode, self.sandbox.limits.describe(), sys.version,
                             FORBIDDEN_MODULES, sorted(self.left_out)], sort_keys=True).encode())
        return h.hexdigest()[:20]

    @property
    def max_score(self):
        return sum(c.points for c in self.tests)

    def seed_for(self, state):
        """This submission's hidden-case seed: a keyed hash of its id and its notebook."""
        message = f'{state["key"]}\n{state.get("sha256") or ""}'.encode()
        return int.from_bytes(hmac.new(self.key, message, 'sha256').digest()[:8], 'big') % SEED_RANGE

    def plan(self, answers, reference=False, seed=0, seeds=()):
        """What the harness runs (worker.run_task adds the paths of the machine it runs on)."""
        preimport = self.preimport + ((self.main or {}).get('modules') or [])
        cells = plan_cells(self.instructor, answers, self.compiled[not reference], self.imports, self.left_out)
        return {'cells': cells, 'seed': seed,
                'seeds': list(seeds), 'reference': reference, 'forbidden_modules': list(FORBIDDEN_MODULES),
                'preimport': sorted(set(preimport)), 'watched_functions': self.watched, 'env': self.env,
                'student_files': [f'<{c.label}>' for c in self.instructor if c.is_answer]}

    def task(self, name, plan, limits=None):
        """A worker's task for one run of `plan`: sandboxed as this grader's sandbox is."""
        limits = limits or self.sandbox.limits
        return worker.Task(name, plan, limits.submission_seconds, limits, self.sandbox_request, self.sandbox.read_only)

    def run(self, plan, limits=None):
        """Run a plan on this machine (the reference runs: their plans hold the answers)."""
        return worker.run_task(self.task('reference', plan, limits), self.bundle)

    def reference_answers(self):
        return {c.grade_id: c.source for c in self.instructor if c.is_answer}

    # -- the reference run ---------------------------------------------------------------------
    def prepare(self, seeds, jobs=1):
        """Reference records for every seed in `seeds` (cached), then the one-time check that
        a student run of the reference answers reproduces them. InfraError if anything is off."""
        probe = min(seeds) if seeds else 0
        self.compute_reference({*seeds, probe}, jobs)
        if not read_json(self.folder / 'validated.json'):
            self._validate(probe)
        return self.main

    def compute_reference(self, seeds, jobs=1):
        """The reference run's records for every seed in `seeds` (cached), without the check
        prepare() makes next. InfraError if the chapter cannot be graded."""
        if self.problems:
            raise InfraError('the chapter\'s tests or grading settings cannot be used safely:\n  '
                             + '\n  '.join(self.problems[:10]))
        self.main = read_json(self.folder / 'main.json')
        missing = [s for s in sorted(seeds) if self.main is None or not self._seed_path(s).exists()]
        if missing:
            # Chunks of at most SEEDS_PER_RUN seeds, `jobs` runs at a time: a run keeps its
            # seeds' records in memory until it ends.
            count = max(min(jobs, len(missing)), -(-len(missing) // SEEDS_PER_RUN))
            chunks = [missing[k::count] for k in range(count)]
            with ThreadPoolExecutor(max(1, min(jobs, count))) as pool:
                for result in pool.map(self._reference_run, chunks):
                    if isinstance(result, InfraError):
                        raise result

    def _seed_path(self, seed):
        return self.folder / 'seeds' / f'{int(seed)}.json'

    def _reference_limits(self, seeds):
        """The reference runs each hidden part once per seed: its cells get that much more time,
        and memory for a forked child beside the parent."""
        limits = self.sandbox.limits
        factor = len(seeds) + 1
        return replace(limits, cell_seconds=limits.cell_seconds * factor,
                       submission_seconds=limits.submission_seconds * factor, memory_mb=limits.memory_mb * 2)

    def _reference_run(self, seeds):
        try:
            plan = self.plan(self.reference_answers(), reference=True, seed=seeds[0], seeds=seeds)
            run = self.run(plan, self._reference_limits(seeds))
            problems = self._problems(run)
            if problems:
                return InfraError('the reference solution does not pass its own tests under the grader:\n  '
                                  + '\n  '.join(problems))
            main = {'cells': {str(i): {'records': r.records, 'hidden_from': r.hidden_from, 'replaced': r.replaced}
                              for i, r in run.cells.items()},
                    'events': run.events, 'modules': run.info.get('modules') or []}
            with self.lock:
                known = read_json(self.folder / 'main.json')
                if known is not None and known['cells'] != json.loads(json.dumps(main['cells'])):
                    return InfraError('two reference runs gave different results for the visible tests '
                                      '(unseeded randomness or object ids in a test?)')
                if known is None:
                    write_json(self.folder / 'main.json', main)
                self.main = read_json(self.folder / 'main.json')
                for seed in seeds:
                    hidden = {str(i): run.seeded.get((i, seed)) for i in run.cells if run.cells[i].hidden_from is not None}
                    write_json(self._seed_path(seed), {'seed': seed, 'cells': hidden})
            return None
        except InfraError as err:
            return err

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

    def reference_for(self, seed):
        """{cell index: CellRun} of the reference run for one submission's seed, or InfraError
        (the reference fails on these cases: the submission cannot be graded)."""
        stored = read_json(self._seed_path(seed))
        if stored is None or self.main is None:
            raise InfraError(f'no reference results for this submission\'s hidden cases (seed {seed})')
        cells = {}
        for key, main in self.main['cells'].items():
            records, error = list(main['records']), None
            if main['hidden_from'] is not None:
                seeded = (stored['cells'] or {}).get(key) or {'records': [], 'error': {'types': ['GraderError'],
                                                                                        'message': 'missing'}}
                records += seeded['records']
                error = seeded.get('error')
            run = execution.CellRun(records=records, hidden_from=main['hidden_from'], replaced=main['replaced'],
                                    finished=True, error=error)
            if main['hidden_from'] is not None:
                label = next(c.grade_id for n, c in enumerate(self.instructor) if n == int(key))
                problems = verdict.check_reference(label, run)
                if problems:
                    raise InfraError(f'the reference solution fails its own hidden tests on this submission\'s '
                                     f'cases (seed {seed}): ' + '; '.join(problems)[:1500])
            cells[int(key)] = run
        return cells

    @property
    def reference_events(self):
        return (self.main or {}).get('events', {})

    def _validate(self, seed):
        """The reference answers, graded as a student's: same values, check for check."""
        run = self.run(self.plan(self.reference_answers(), seed=seed))
        problems = self.differences(run, self.reference_for(seed))
        if problems:
            raise InfraError('the reference answers do not reproduce the reference run when graded as a student\'s '
                             '(a test computes an expected value in a way the student edition cannot drop, or a '
                             'hidden part leaves a trace later cells see; see autograder/rewrite.py):\n  '
                             + '\n  '.join(problems[:10]))
        write_json(self.folder / 'validated.json', {'seed': seed, 'ok': True})

    def differences(self, run, reference):
        """Where a student run of the reference answers (`run`) departs from reference records
        (`reference_for`): a cell that raised or did not run, a test whose checks produced other
        values. [] when every check of every test saw exactly the reference's values."""
        problems = [] if run.complete else ['the run did not complete']
        index = {c['index']: c for c in self.plan({})['cells']}
        for i, cell in index.items():
            got = run.cells.get(i)
            if got is None or got.error:
                problems.append(f'{cell["label"]}: ' + (f'raised {got.error["types"][0]}: {got.error["message"][:200]}'
                                                        if got else 'did not run'))
                continue
            if cell['kind'] != 'test':
                continue
            want = reference[i].records
            if len(got.records) != len(want):
                problems.append(f'{cell["label"]}: {len(got.records)} checks ran where the reference run has {len(want)}')
                continue
            for r, (mine, theirs) in enumerate(zip(got.records, want)):
                if (mine.get('kind'), mine.get('value')) != (theirs.get('kind'), theirs.get('value')):
                    part = 'hidden' if r >= (reference[i].hidden_from or 0) else 'visible'
                    problems.append(f'{cell["label"]}: check {r + 1} ({part}, {theirs.get("what", "")[:60]!r}) '
                                    f'computes something else in a student run than in the reference run')
                    break
        return problems

    # -- one submission ------------------------------------------------------------------------
    def submission_task(self, state, data, files=None):
        """(task, context) of one submission: what a worker runs, and what judging its result
        needs here. SubmissionError for a notebook that cannot be graded, InfraError when the
        reference fails on this submission's cases."""
        cells, metadata = parse(data)
        structure = match(self.instructor, self.stubs, cells, metadata)
        reference = self.reference_for(self.seed_for(state))
        plan = self.plan(structure.answers, seed=self.seed_for(state))
        plan['files'] = {name: base64.b64encode(content).decode() for name, content in (files or {}).items()}
        return self.task(state['key'], plan), (structure, reference)

    def judge(self, state, context, run):
        """Score a submission's run; returns the updated state (not saved)."""
        structure, reference = context
        if run.harness_failed:
            raise InfraError(run.harness_failed)
        return score(self, state, structure, run, reference)

    def grade(self, state, data, files=None):
        """Run (on this machine) and score one submission."""
        task, context = self.submission_task(state, data, files)
        return self.judge(state, context, worker.run_task(task, self.bundle))


def _patched(reference, run, i):
    """Library functions the student's code left replaced at the end of cell i."""
    ref = reference.get(i)
    return sorted(set(run.cells[i].replaced) - set(ref.replaced if ref else ()))


def _judge_test(assignment, test, i, run, reference, after_hidden):
    """(score, message) of one test cell."""
    limits = assignment.sandbox.limits
    if i in run.cells:
        patched = _patched(reference, run, i)
        if patched:
            return 0.0, (f'your code replaced {", ".join(patched)[:200]} while this test ran; '
                         f'a test judged with patched libraries cannot count')
        v = verdict.judge_cell(test.grade_id, test.points, reference[i], run.cells[i], limits.memory_mb,
                               after_hidden=after_hidden)
        return v.score, v.message
    if i in run.skipped:
        return 0.0, f'this test {run.skipped[i]}; no points'
    if run.tampered:
        return 0.0, 'not run: your code wrote to the grader\'s private channel'
    if run.budget_spent:
        return 0.0, f'not run: the submission used up its time budget ({limits.submission_seconds:g} s)'
    return 0.0, 'not run'


def score(assignment, state, structure: Structure, run, reference):
    """Turn a run into scores, messages and attention notes."""
    limits = assignment.sandbox.limits
    index = {c['index']: c for c in assignment.plan({})['cells']}
    scores, feedback, attention = {}, {}, list(structure.tampering)
    notes = list(state.get('notes', [])) + structure.notes
    for i, why in run.skipped.items():
        if index[i]['kind'] != 'test':
            notes.append(f'cell {index[i]["label"]} {why}; it was skipped and the rest of the notebook run without it')
        attention.append(f'{index[i]["label"]}: {why}')
    reported, hidden_seen, after_hidden = set(), None, {}
    for i, cell_run in sorted(run.cells.items()):
        after_hidden[i] = hidden_seen
        patched = [name for name in _patched(reference, run, i) if name not in reported]
        if patched:                        # where each replacement is first seen
            attention.append(f'{index[i]["label"]}: replaced {", ".join(patched)[:200]}')
            reported.update(patched)
        if cell_run.rebound:
            attention.append(f'{index[i]["label"]}: rebound {", ".join(cell_run.rebound)[:200]} before the test ran '
                             f'(put back for the test)')
        if index[i]['kind'] == 'answer' and cell_run.error:
            notes.append(f'your cell {index[i]["label"]} raised an error when run: '
                         f'{verdict.explain_error(cell_run.error, False, limits.memory_mb, after=hidden_seen)}')
        if index[i]['kind'] == 'test' and cell_run.hidden_from is not None and hidden_seen is None:
            hidden_seen = index[i]['grade_id']
    position = {cell['grade_id']: n for n, cell in index.items() if cell['kind'] == 'test'}
    for test in assignment.tests:
        i = position[test.grade_id]
        scores[test.grade_id], feedback[test.grade_id] = _judge_test(assignment, test, i, run, reference,
                                                                     after_hidden.get(i))
    exercises = [[(t.grade_id, position[t.grade_id]) for t in tests]
                 for _, tests in exercise_tests(assignment.instructor)]
    for gid, why in verdict.error_checks_not_earned(exercises, reference, run.cells).items():
        if scores[gid] > 0:
            scores[gid], feedback[gid] = 0.0, why
            attention.append(f'{gid}: {why}')
    if run.tampered:
        attention.append(f'wrote to the grader\'s report channel ({run.tampered}); later tests were not run')
    refused = {k[8:]: n for k, n in run.events.items() if k.startswith('refused ')}
    if refused:
        listed = ', '.join(f'{k} ({n}x)' for k, n in sorted(refused.items()))[:400]
        # The student sees kinds only: the details (a module's name, say) are the code's to choose.
        kinds = sorted({k.split(' ')[0] if not k.startswith('reading ') else k for k in refused})
        notes.append(f'grading refused {", ".join(kinds)[:300]}: frames, the garbage collector\'s object lists, '
                     f'tracing, threads, ctypes, rewriting code and libraries outside the course are off limits while '
                     f'a notebook is graded')
        attention.append(f'refused {listed}')
    attention += suspicious_events({k: n for k, n in run.events.items() if not k.startswith('refused ')},
                                   assignment.reference_events)
    attention += introspection_in_source(structure.answers, assignment.reference_answers())
    failed = [c.grade_id for c in assignment.tests if scores[c.grade_id] < c.points]
    status = 'graded'
    message = f'{sum(scores.values()):g}/{assignment.max_score:g}: ' + \
        (f'not passed: {", ".join(failed)}' if failed else 'every test passed')
    if run.budget_spent:
        status = 'student_error'
        message = out_of_time(limits.submission_seconds)
    state.update(status=status, message=message, scores=scores, feedback=feedback,
                 notes=notes, attention=attention,
                 timing={'seconds': round(run.seconds, 2), 'attempts': run.attempts, 'worker': run.info.get('worker'),
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
    """Watched calls the submission's code made more often than the reference's did (both
    counted only while notebook answer code was running), for the instructor."""
    found = []
    for key in sorted(events):
        extra = events[key] - reference_events.get(key, 0)
        if extra <= 0:
            continue
        name, _, detail = key.partition(' ')
        if name == 'import' and not third_party(detail):
            continue
        found.append(f'called {key[:160]}' + (f' ({extra}x more than the reference)' if extra > 1 else ''))
    return found[:15]


INTROSPECTION_WORDS = ('_getframe', 'f_back', 'f_globals', 'f_locals', 'tb_frame', 'gi_frame', 'cr_frame',
                       'gc.get_', 'get_referrers', 'get_referents', 'get_objects', '__code__', '__globals__',
                       '__closure__', 'cell_contents', '__kwdefaults__', '__defaults__', '__subclasses__',
                       'ctypes', 'settrace', 'setprofile', 'addaudithook', 'sys.modules', 'signal.signal',
                       '__array_interface__', 'as_strided', 'marshal', 'CodeType', 'FunctionType', 'set_debug',
                       'gc.garbage', '_imp', 'walk_stack', 'walk_tb', '_is_internal_frame', 'lazycache')


def introspection_in_source(answers, reference):
    """Interpreter internals an answer names and the reference answer does not: no exercise
    needs them, so a person should look."""
    found = []
    for grade_id, source in sorted(answers.items()):
        words = [w for w in INTROSPECTION_WORDS if w in (source or '') and w not in reference.get(grade_id, '')]
        if words:
            found.append(f'{grade_id} uses {", ".join(words)[:150]}')
    return found[:10]
