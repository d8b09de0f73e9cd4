"""Seconds per training epoch of chapter 5's MLP: minimx next to hand-written numpy.

    .venv/bin/python benchmarks/mlp_epoch.py [--epochs 5]

Both train 784-256-10 (ReLU, softmax cross-entropy, SGD lr 0.5, batch 256) on the real
Fashion-MNIST training set, float32, from the same initial weights. minimx runs exactly what
the chapter runs (d2l.DataLoader batches, record/backward, d2l.sgd); numpy runs a manual
forward and backward over the same kind of shuffled batches. Epochs alternate between the
two so that the machine's bursts of noise hit both alike; the medians and their ratio are
reported. Training only: evaluation is not timed.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np                                   # noqa: E402

from minimx import autograd, d2l, nd                 # noqa: E402


def minimx_epoch(train_iter, params, lr=0.5, batch_size=256):
    for X, y in train_iter:
        with autograd.record():
            l = d2l.softmax_cross_entropy(d2l.mlp(X, params), y).sum()
        l.backward()
        d2l.sgd(params, lr, batch_size)


def numpy_epoch(images, labels, weights, rng, lr=0.5, batch_size=256):
    W1, b1, W2, b2 = weights
    order = rng.permutation(len(labels))
    for start in range(0, len(labels), batch_size):
        idx = order[start:start + batch_size]
        X, y = images[idx], labels[idx]
        n = len(y)
        H = X @ W1
        H += b1
        np.maximum(H, 0, out=H)
        scores = H @ W2 + b2
        scores -= scores.max(axis=1, keepdims=True)
        P = np.exp(scores)
        P /= P.sum(axis=1, keepdims=True)
        P[np.arange(n), y] -= 1                       # d(summed loss)/d scores
        dW2, db2 = H.T @ P, P.sum(axis=0)
        dH = P @ W2.T
        dH *= H > 0
        dW1, db1 = X.T @ dH, dH.sum(axis=0)
        for w, g in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
            w -= (lr / batch_size) * g


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=5, help='epochs of each (default 5)')
    args = parser.parse_args()

    train_iter, _ = d2l.load_data_fashion_mnist(256)
    images = train_iter.features.reshape(-1, 784)
    labels = train_iter.labels.astype(np.int64)
    nd.random.seed(0)
    params = d2l.init_mlp_params(784, 256, 10)
    weights = [p.asnumpy() for p in params]
    rng = np.random.default_rng(0)

    minimx_epoch(train_iter, params)                   # warm-up: caches, BLAS threads
    numpy_epoch(images, labels, weights, rng)
    times = {'numpy, manual backward': [], 'minimx (chapter 5)': []}
    for _ in range(args.epochs):
        start = time.perf_counter()
        numpy_epoch(images, labels, weights, rng)
        times['numpy, manual backward'].append(time.perf_counter() - start)
        start = time.perf_counter()
        minimx_epoch(train_iter, params)
        times['minimx (chapter 5)'].append(time.perf_counter() - start)
    medians = {k: statistics.median(v) for k, v in times.items()}
    base = medians['numpy, manual backward']
    print(f'MLP 784-256-10, batch 256, one training epoch over 60000 images ({args.epochs} epochs each, median)')
    for name, seconds in medians.items():
        print(f'  {name:24s} {seconds:6.3f} s/epoch   {seconds / base:4.2f}x numpy   '
              f'(runs: {", ".join(f"{t:.3f}" for t in times[name])})')
    print(f'ratio minimx / numpy = {medians["minimx (chapter 5)"] / base:.2f} (target <= 1.5)')


if __name__ == '__main__':
    main()
