"""One recorded dot + backward in minimx next to the same three products in plain numpy (and PyTorch).

    .venv/bin/python benchmarks/autograd_dot.py [--quick]

(256, 784) · (784, 256), float32, both inputs needing gradients: forward A·B, then
dA = dY·Bᵀ and dB = Aᵀ·dY. Medians over interleaved repetitions (see common.py). The three
matmuls are the whole cost for numpy, so minimx's excess over it is what recording the op
and walking the tape back cost. PyTorch (CPU) joins if it is installed; it is never a
dependency of the course. `measure()` is what benchmarks/speed.py collects.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np                                  # noqa: E402

from benchmarks.common import compare_apart, report  # noqa: E402
from minimx import autograd, nd                     # noqa: E402

NAME = 'dot (256, 784)·(784, 256) forward + backward, float32'


def blas_threads():
    """The threads numpy's BLAS uses: what the environment asks for, else OpenBLAS's default,
    one per core this process may run on."""
    for var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS'):
        if os.environ.get(var, '').isdigit():
            return int(os.environ[var])
    return len(os.sched_getaffinity(0))


def agrees(got, want):
    """Equal up to float32 rounding, relative to the largest entry: an entry of da is a sum of 256
    terms that can cancel to nearly 0, where a relative test per entry fails on summation order."""
    return float(np.abs(got - want).max()) <= 1e-5 * float(np.abs(want).max())


def contenders(threads):
    """{'numpy' | 'minimx' | 'torch': a zero-argument step}, each checked against numpy once."""
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((256, 784)).astype(np.float32)
    b_np = rng.standard_normal((784, 256)).astype(np.float32)
    a, b = nd.array(a_np), nd.array(b_np)
    a.attach_grad()
    b.attach_grad()

    def minimx_step():
        with autograd.record():
            y = nd.dot(a, b)
        y.backward()

    def numpy_step():
        y = a_np @ b_np
        dy = np.ones_like(y)
        return dy @ b_np.T, a_np.T @ dy

    minimx_step()
    da, db = numpy_step()
    assert agrees(a.grad.asnumpy(), da) and agrees(b.grad.asnumpy(), db)
    steps = {'numpy': numpy_step, 'minimx': minimx_step}
    try:
        import torch
    except ImportError:
        return steps
    torch.set_num_threads(threads)                 # the same thread count as numpy's BLAS
    ta = torch.from_numpy(a_np).requires_grad_()
    tb = torch.from_numpy(b_np).requires_grad_()

    def torch_step():
        ta.grad = tb.grad = None                   # write the gradients, as minimx does, not add to them
        (ta @ tb).backward(torch.ones(256, 256))

    torch_step()
    assert agrees(ta.grad.numpy(), da) and agrees(tb.grad.numpy(), db)
    steps['torch'] = torch_step
    return steps


def measure(quick=False):
    """This benchmark as benchmarks/speed.py collects it: one workload, medians in ms."""
    threads = blas_threads()
    repeats = 5 if quick else 50
    medians = compare_apart(contenders(threads), repeats=repeats, warmup=1 if quick else 3)
    return {'workloads': [{
        'name': NAME,
        'unit': 'ms',
        'threads': threads,
        'repeats': repeats,
        'medians': {who: seconds * 1e3 for who, seconds in medians.items()},
        'target': None,                            # issue 17 sets no target for a lone dot
    }]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='5 repetitions instead of 50')
    workload = measure(quick=parser.parse_args().quick)['workloads'][0]
    medians = {who: ms / 1e3 for who, ms in workload['medians'].items()}
    report(f'{NAME} ({workload["threads"]} threads)', medians, 'numpy')


if __name__ == '__main__':
    main()
