"""The benchmarks' measure(): the schema benchmarks/speed.py builds the book's speed page from, and
that each benchmark's minimx and numpy contenders compute the same thing. Nothing here times
anything against a limit: speed is the benchmarks' to show, never a test's."""
import json
import math
import numbers

import numpy as np
import pytest

from benchmarks import autograd_overhead, mlp_epoch

KEYS = {'name', 'unit', 'threads', 'repeats', 'medians', 'target'}


def schema_problems(result):
    """What is wrong with a measure() result, as readable lines (empty if nothing)."""
    problems = []
    json.dumps(result)                                      # JSON-serialisable, or TypeError
    workloads = result.get('workloads')
    if not isinstance(workloads, list) or not workloads:
        return [f'no list of workloads: {result!r:.200}']
    for w in workloads:
        name = w.get('name', '?')
        if not KEYS <= set(w):
            problems.append(f'{name}: missing {sorted(KEYS - set(w))}')
            continue
        if not (isinstance(w['name'], str) and w['name'] and isinstance(w['unit'], str) and w['unit']):
            problems.append(f'{name}: name and unit must be non-empty strings')
        for key in ('threads', 'repeats'):
            if not (isinstance(w[key], int) and w[key] >= 1):
                problems.append(f'{name}: {key} = {w[key]!r}, not a positive int')
        if not {'minimx', 'numpy'} <= set(w['medians']) <= {'minimx', 'numpy', 'torch'}:
            problems.append(f'{name}: contenders {sorted(w["medians"])}')
        for who, value in w['medians'].items():
            if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
                problems.append(f'{name}: median of {who} is {value!r}, not a positive finite number')
        target = w['target']
        if target is not None and not (set(target) == {'against', 'ratio'} and target['against'] in w['medians']
                                       and isinstance(target['ratio'], numbers.Real) and target['ratio'] > 0):
            problems.append(f'{name}: target {target!r}')
    return problems


def test_the_schema_check_can_fail():
    good = {'workloads': [{'name': 'w', 'unit': 's', 'threads': 1, 'repeats': 3, 'target': None,
                           'medians': {'minimx': 1.0, 'numpy': 0.5}}]}
    assert schema_problems(good) == []
    for broken in ({'medians': {'minimx': float('nan'), 'numpy': 0.5}}, {'medians': {'minimx': 1.0}},
                   {'threads': 0}, {'target': {'against': 'torch', 'ratio': 1.5}}, {'medians': {'minimx': -1, 'numpy': 1}}):
        assert schema_problems({'workloads': [dict(good['workloads'][0], **broken)]}), broken


@pytest.fixture(scope='module')
def mlp_result():
    return mlp_epoch.measure(quick=True)


def test_mlp_measure_follows_the_schema(mlp_result):
    assert schema_problems(mlp_result) == []
    threads = [w['threads'] for w in mlp_result['workloads']]
    assert threads == [1, 2], f'one workload at 1 thread and one at 2 threads, got {threads}'
    for w in mlp_result['workloads']:
        assert w['unit'] == 's' and w['target'] == {'against': 'numpy', 'ratio': 1.2}
        assert all(len(times) == w['repeats'] for times in w['samples'].values())


def test_mlp_minimx_and_numpy_agree_after_one_step():
    """Same initial weights, same batch, one SGD step each: the loss afterwards and every updated
    parameter match to float32 tolerance, so the benchmark compares like with like."""
    after, numpy_after, params, weights = mlp_epoch.loss_after_one_step()
    assert math.isfinite(after) and after > 0
    assert abs(after - numpy_after) <= 1e-5 * abs(numpy_after), (after, numpy_after)
    for name, mine, theirs in zip(['W1', 'b1', 'W2', 'b2'], params, weights):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-6, err_msg=f'{name} after one step')
    before = mlp_epoch.loss_after_one_step(lr=0.0)
    assert before[0] > after, 'the step lowered the loss (lr 0.5 against lr 0)'


def test_autograd_overhead_measure_follows_the_schema():
    result = autograd_overhead.measure(quick=True)
    assert schema_problems(result) == []
    for w in result['workloads']:
        assert w['unit'] == 'us per op' and w['target'] is None and w['target_us_per_op'] == 5.0
        assert set(w['forward_us']) == set(w['medians'])
        assert all(math.isfinite(v) and v > 0 for v in w['forward_us'].values())
        # the overhead is each framework's time above numpy's floor, so it is derived, not measured
        assert set(w['overhead_us']) == set(w['medians']) - {'numpy'}
        for who, overhead in w['overhead_us'].items():
            assert overhead == w['medians'][who] - w['medians']['numpy']


def test_autograd_overhead_minimx_and_numpy_compute_the_same_gradients():
    """The hand-written numpy backward the benchmark takes as its floor gives minimx's gradients."""
    for workload in (autograd_overhead.chain_workload(50), autograd_overhead.deep_workload(6, 16, 8)):
        _, ops, agreement = workload
        assert ops > 0
        assert all(err < 1e-5 for err in agreement.values()), agreement
