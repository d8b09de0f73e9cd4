"""The page "How fast is your minimx?" and the benchmark run behind it (benchmarks/speed.py,
pipeline/speed_page.py): its stored outputs belong to the current benchmarks, minimx and code
cells; the JSON has the shape the page reads; the page shows timings and never code. No test
here asserts a speed: the machine's speed is not the code's."""
import ast
import html
import importlib.util
import json
import numbers
import re
import subprocess
import sys

import nbformat
import pytest

from benchmarks import speed
from core.chapters import ROOT
from pipeline import speed_page

MACHINE_KEYS = {'cpu', 'cores', 'threads', 'python', 'numpy', 'blas', 'torch', 'date'}
WORKLOAD_KEYS = {'name', 'unit', 'threads', 'repeats', 'medians', 'target', 'module'}
HAS_TORCH = importlib.util.find_spec('torch') is not None


def schema_problems(run, torch_importable=None):
    """What in a speed.py result does not have the shape the page reads; [] if nothing. With
    `torch_importable`, PyTorch must be in the machine exactly when it was importable."""
    problems = []
    if set(run) != {'about', 'quick', 'machine', 'workloads'}:
        problems.append(f'top-level keys {sorted(run)}')
    machine = run.get('machine', {})
    if set(machine) != MACHINE_KEYS:
        problems.append(f'machine keys {sorted(machine)}')
    for key in ('cpu', 'python', 'numpy', 'date'):
        if not isinstance(machine.get(key), str) or not machine.get(key):
            problems.append(f'machine {key} = {machine.get(key)!r}')
    if not (isinstance(machine.get('cores'), int) and isinstance(machine.get('threads'), int)):
        problems.append('machine cores and threads must be integers')
    if not re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00', machine.get('date', '')):
        problems.append(f'machine date {machine.get("date")!r} is not an ISO time in UTC')
    if not machine.get('blas') or not all({'internal_api', 'version'} <= set(b) for b in machine['blas']):
        problems.append(f'machine blas {machine.get("blas")!r}')
    if torch_importable is not None and (machine.get('torch') is not None) != torch_importable:
        problems.append(f'torch {machine.get("torch")!r}, but importable is {torch_importable}')
    if not run.get('workloads'):
        problems.append('no workloads')
    for w in run.get('workloads', []):
        name = w.get('name', '?')
        if WORKLOAD_KEYS - set(w):
            problems.append(f'{name}: no {sorted(WORKLOAD_KEYS - set(w))}')
            continue
        if not (isinstance(w['unit'], str) and w['unit'] and isinstance(w['name'], str) and w['name']):
            problems.append(f'{name}: name and unit must be non-empty text')
        if not (isinstance(w['threads'], int) and w['threads'] >= 1 and isinstance(w['repeats'], int)
                and w['repeats'] >= 1):
            problems.append(f'{name}: threads {w["threads"]!r}, repeats {w["repeats"]!r}')
        medians = w['medians']
        if 'minimx' not in medians or not set(medians) <= {'minimx', 'numpy', 'torch'}:
            problems.append(f'{name}: contenders {sorted(medians)}')
        if not all(isinstance(v, numbers.Real) and v > 0 for v in medians.values()):
            problems.append(f'{name}: medians {medians}')
        target = w['target']
        # a target against PyTorch stands where PyTorch is not installed: the page then shows the
        # ratio to numpy and says that the target's baseline was not measured
        measured = target is not None and (target.get('against') in medians or target.get('against') == 'torch'
                                           and 'torch' not in medians and not machine.get('torch'))
        if target is not None and not (set(target) == {'against', 'ratio'} and measured
                                       and isinstance(target['ratio'], numbers.Real) and target['ratio'] > 0):
            problems.append(f'{name}: target {target}')
        if not (ROOT / w['module']).is_file():
            problems.append(f'{name}: module {w["module"]}')
    return problems


# One quick run for the tests that read it: they share one xdist worker (Makefile), or each
# worker would run the benchmarks again (20 s each).
QUICK_RUN = pytest.mark.xdist_group('speed_quick_run')


@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('speed') / 'speed.json'
    result = subprocess.run([sys.executable, 'benchmarks/speed.py', '--quick', '--out', str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(out.read_text(encoding='utf-8')), result.stdout


@pytest.mark.slow
@QUICK_RUN
def test_a_quick_run_writes_what_the_page_reads(quick_run):
    run, printed = quick_run
    assert schema_problems(run, torch_importable=HAS_TORCH) == []
    assert run['quick'] is True
    dot = [w for w in run['workloads'] if w['module'] == 'benchmarks/autograd_dot.py']
    assert len(dot) == 1 and {'minimx', 'numpy'} <= set(dot[0]['medians'])
    assert ('torch' in dot[0]['medians']) == HAS_TORCH
    assert f'[1/{len(speed.BENCHMARKS)}] {speed.BENCHMARKS[0]}' in printed, 'progress is shown'


@pytest.mark.slow
@QUICK_RUN
def test_a_quick_run_names_no_folder_of_the_machine(quick_run):
    text = json.dumps(quick_run[0])
    assert not re.search(r'/(work|root|home|opt|usr|tmp)/', text), text


def test_the_schema_check_can_fail():
    run = json.loads(speed_page.RESULTS.read_text(encoding='utf-8'))
    broken = json.loads(json.dumps(run))
    broken['workloads'][0]['medians']['minimx'] = -1.0
    del broken['machine']['date']
    assert len(schema_problems(broken)) >= 2


def test_the_stored_measurements_have_the_schema():
    assert schema_problems(json.loads(speed_page.RESULTS.read_text(encoding='utf-8'))) == []


def test_a_benchmark_without_measure_is_an_error_not_a_skip():
    with pytest.raises(SystemExit, match=r'benchmarks/common\.py has no measure'):
        speed.measure_functions(['autograd_dot', 'common'])
    assert list(speed.measure_functions()) == speed.BENCHMARKS


def test_the_stored_page_belongs_to_the_current_inputs():
    assert speed_page.is_current(), (f'{speed_page.PAGE.relative_to(ROOT)} is stale (benchmark code, minimx '
                                     f'or its code cells changed): run ./course build and commit')


def test_the_inputs_are_the_benchmarks_minimx_and_the_page_code():
    inputs = speed_page.current_inputs()
    expected = {'benchmarks/speed.py', 'benchmarks/common.py', *(f'benchmarks/{m}.py' for m in speed.BENCHMARKS)}
    assert expected <= set(inputs)
    assert sum(name.startswith('minimx/') for name in inputs) > 10
    assert 'speed.json' in inputs["the page's code cells"]
    reference = speed_page.inputs_hash(inputs)
    for name in [*sorted(expected), 'minimx/autograd.py', "the page's code cells"]:
        assert name in inputs, name
        changed = dict(inputs, **{name: inputs[name] + '\n# one more line'})
        assert speed_page.inputs_hash(changed) != reference, f'a change to {name} goes unnoticed'


def test_the_build_runs_the_benchmarks_only_when_an_input_changed(monkeypatch, capsys):
    def no_benchmarks(*args, **kwargs):
        raise AssertionError('ran benchmarks/speed.py')
    monkeypatch.setattr(speed_page.subprocess, 'run', no_benchmarks)
    monkeypatch.setattr(speed_page, 'run_notebook', no_benchmarks)
    speed_page.build()
    assert 'outputs are current' in capsys.readouterr().out
    with pytest.raises(AssertionError, match='ran benchmarks'):
        speed_page.build(force=True)
    monkeypatch.setattr(speed_page, 'inputs_hash', lambda inputs=None: 'changed')
    with pytest.raises(AssertionError, match='ran benchmarks'):
        speed_page.build()


def page_cells():
    return nbformat.read(str(speed_page.PAGE), as_version=4).cells


def test_the_page_shows_the_stored_measurements():
    run = json.loads(speed_page.RESULTS.read_text(encoding='utf-8'))
    code = [c for c in page_cells() if c.cell_type == 'code']
    assert all(c.execution_count is not None for c in code), 'the page was not executed: ./course build'
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == 'error' or o.get('name') == 'stderr']
    shown = '\n'.join(o.get('data', {}).get('text/html', '') for o in outputs)
    assert sum('image/png' in o.get('data', {}) for o in outputs) == 1, 'one chart'
    assert run['machine']['date'].replace('T', ' ') in shown, 'the page shows another run than speed.json'
    for workload in run['workloads']:
        assert html.escape(workload['name']) in shown


def test_the_page_shows_timings_never_code():
    """Its code reads speed.json and draws it: nothing of minimx or of the benchmarks (whose
    hand-written numpy versions answer exercises) is imported, so no code of a chapter not yet
    released can reach the page, which is published on every day of the calendar."""
    imported = set()
    for cell in page_cells():
        if cell.cell_type == 'code':
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Import):
                    imported |= {a.name.partition('.')[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom):
                    imported.add(node.module.partition('.')[0])
    assert imported and imported <= {'html', 'json', 'pathlib', 'matplotlib', 'IPython'}, imported
