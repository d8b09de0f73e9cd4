"""Seconds per training epoch of chapter 5's MLP: minimx next to hand-written numpy (and PyTorch).

    .venv/bin/python benchmarks/mlp_epoch.py [--epochs 5] [--threads 1 2]

All train 784-256-10 (ReLU, softmax cross-entropy, SGD lr 0.5, batch 256) on the real
Fashion-MNIST training set, float32, from the same initial weights. minimx runs what chapter 5's
`train_ch3` runs for each batch (d2l.DataLoader batches, record, d2l.mlp, d2l.softmax_cross_entropy,
backward, d2l.sgd; not its accuracy bookkeeping); numpy runs a manual forward and backward over
the same kind of shuffled batches; PyTorch (CPU, if installed: an optional baseline, never a
dependency) runs the same model with torch.autograd. Epochs alternate between the contenders so
that the machine's bursts of noise hit all alike, once per thread count (BLAS threads for
numpy and minimx, torch.set_num_threads for PyTorch). Training only: evaluation is not timed.
"""
import argparse
import contextlib
import ctypes
import glob
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np                                   # noqa: E402

from benchmarks.common import interleaved           # noqa: E402
from minimx import autograd, d2l, nd                 # noqa: E402

NAME = 'MLP epoch (784-256-10, batch 256)'
QUICK_BATCHES = 30             # measure(quick=True) times this many batches, not an epoch


def _openblas():
    """numpy's bundled OpenBLAS, whose thread count can change while the process runs."""
    for path in glob.glob(os.path.join(os.path.dirname(np.__file__) + '.libs', '*openblas*.so*')):
        lib = ctypes.CDLL(path)
        for prefix in ('scipy_openblas', 'openblas'):
            for suffix in ('64_', '_64_', ''):
                setter = getattr(lib, f'{prefix}_set_num_threads{suffix}', None)
                getter = getattr(lib, f'{prefix}_get_num_threads{suffix}', None)
                if setter is not None and getter is not None:
                    return setter, getter
    return None


@contextlib.contextmanager
def blas_threads(n):
    """Run the block with n BLAS threads (numpy's OpenBLAS and, if loaded, torch's); yields the count
    actually in force (None if numpy's BLAS cannot be told)."""
    blas = _openblas()
    torch = sys.modules.get('torch')
    old_torch = torch.get_num_threads() if torch else None
    old = blas[1]() if blas else None
    if blas:
        blas[0](n)
    if torch:
        torch.set_num_threads(n)
    try:
        yield blas[1]() if blas else None
    finally:
        if blas:
            blas[0](old)
        if torch:
            torch.set_num_threads(old_torch)


def minimx_epoch(train_iter, params, lr=0.5, batch_size=256):
    for X, y in train_iter:
        with autograd.record():
            l = d2l.softmax_cross_entropy(d2l.mlp(X, params), y).sum()
        l.backward()
        d2l.sgd(params, lr, batch_size)


def numpy_step(X, y, weights, lr=0.5, batch_size=256):
    """One SGD step by hand: in-place bias and ReLU, the ReLU output reused as its mask."""
    W1, b1, W2, b2 = weights
    n = len(y)
    H = X @ W1
    H += b1
    np.maximum(H, 0, out=H)
    scores = H @ W2 + b2
    scores -= scores.max(axis=1, keepdims=True)
    P = np.exp(scores)
    P /= P.sum(axis=1, keepdims=True)
    P[np.arange(n), y] -= 1                           # d(summed loss)/d scores
    dW2, db2 = H.T @ P, P.sum(axis=0)
    dH = P @ W2.T
    dH *= H > 0
    dW1, db1 = X.T @ dH, dH.sum(axis=0)
    for w, g in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
        w -= (lr / batch_size) * g


def numpy_epoch(images, labels, weights, rng, lr=0.5, batch_size=256):
    order = rng.permutation(len(labels))
    for start in range(0, len(labels), batch_size):
        idx = order[start:start + batch_size]
        numpy_step(images[idx], labels[idx], weights, lr, batch_size)


def _torch_contender(images, labels, weights, seed, lr=0.5, batch_size=256):
    try:
        import torch
    except ImportError:
        return None
    X_all, y_all = torch.from_numpy(images), torch.from_numpy(labels)
    params = [torch.tensor(w, requires_grad=True) for w in weights]
    generator = torch.Generator().manual_seed(seed)

    def epoch():
        W1, b1, W2, b2 = params
        order = torch.randperm(len(y_all), generator=generator)
        for start in range(0, len(y_all), batch_size):
            idx = order[start:start + batch_size]
            scores = torch.relu(X_all[idx] @ W1 + b1) @ W2 + b2
            loss = torch.nn.functional.cross_entropy(scores, y_all[idx], reduction='sum')
            for p in params:
                p.grad = None
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p -= (lr / batch_size) * p.grad
    return epoch


def loss_after_one_step(batch_size=256, lr=0.5, seed=0):
    """(minimx loss, numpy loss) on one batch after one SGD step from the same initial weights:
    the two computations must agree to float32 tolerance."""
    train_iter, _ = d2l.load_data_fashion_mnist(batch_size)
    nd.random.seed(seed)
    params = d2l.init_mlp_params(784, 256, 10)
    weights = [p.asnumpy() for p in params]
    X, y = next(iter(train_iter))
    Xn, yn = X.asnumpy().reshape(len(y), -1), y.asnumpy().astype(np.int64)
    with autograd.record():
        l = d2l.softmax_cross_entropy(d2l.mlp(X, params), y).sum()
    l.backward()
    d2l.sgd(params, lr, batch_size)
    numpy_step(Xn, yn, weights, lr, batch_size)
    after = float(d2l.softmax_cross_entropy(d2l.mlp(X, params), y).sum().asscalar())
    H = np.maximum(Xn @ weights[0] + weights[1], 0)
    scores = H @ weights[2] + weights[3]
    shifted = scores - scores.max(axis=1, keepdims=True)
    numpy_after = float((np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(yn)), yn]).sum())
    return after, numpy_after, [p.asnumpy() for p in params], weights


def measure(quick=False, threads=(1, 2), epochs=None):
    """The epoch medians as a JSON-serialisable dict, one workload per thread count:
    {'workloads': [{'name', 'unit': 's', 'threads', 'repeats', 'medians': {'minimx', 'numpy'[, 'torch']},
    'target': {'against': 'numpy', 'ratio': 1.2}}, ...]}, plus each contender's 'samples'.
    quick=True times QUICK_BATCHES batches instead of an epoch, 3 times each (for tests)."""
    train_iter, _ = d2l.load_data_fashion_mnist(256)
    images = train_iter.features.reshape(-1, 784)
    labels = train_iter.labels.astype(np.int64)
    if quick:
        keep = QUICK_BATCHES * 256
        train_iter = d2l.DataLoader(train_iter.features[:keep], train_iter.labels[:keep], 256, shuffle=True)
        images, labels = images[:keep], labels[:keep]
    repeats = epochs or (3 if quick else 5)
    nd.random.seed(0)
    params = d2l.init_mlp_params(784, 256, 10)
    weights = [p.asnumpy() for p in params]
    rng = np.random.default_rng(0)
    contenders = {'minimx': lambda: minimx_epoch(train_iter, params),
                  'numpy': lambda: numpy_epoch(images, labels, weights, rng)}
    torch_epoch = _torch_contender(images, labels, [w.copy() for w in weights], seed=0)
    if torch_epoch is not None:
        contenders['torch'] = torch_epoch
    workloads = []
    for n in threads:
        with blas_threads(n) as in_force:
            times = interleaved(contenders, repeats, warmup=1)     # warm-up: caches, BLAS threads
        workloads.append({'name': NAME + (f' ({QUICK_BATCHES} batches)' if quick else ''), 'unit': 's',
                          'threads': in_force if in_force is not None else n, 'repeats': repeats,
                          'medians': {name: statistics.median(t) for name, t in times.items()},
                          'samples': times,
                          'target': {'against': 'numpy', 'ratio': 1.2}})
    return {'workloads': workloads}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=5, help='epochs of each per thread count (default 5)')
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2], help='thread counts (default 1 2)')
    parser.add_argument('--quick', action='store_true', help=f'{QUICK_BATCHES} batches instead of an epoch, as the tests run')
    args = parser.parse_args()
    result = measure(quick=args.quick, threads=args.threads, epochs=args.epochs)
    for w in result['workloads']:
        base = w['medians']['numpy']
        print(f"{w['name']}, {w['threads']} thread(s), median of {w['repeats']} interleaved epochs")
        for name, seconds in w['medians'].items():
            runs = ', '.join(f'{t:.3f}' for t in w['samples'][name])
            print(f'  {name:8s} {seconds:6.3f} s/epoch   {seconds / base:4.2f}x numpy   (runs: {runs})')
        ratio = w['medians']['minimx'] / base
        print(f"  ratio minimx / numpy = {ratio:.2f} (target <= {w['target']['ratio']})")


if __name__ == '__main__':
    main()
