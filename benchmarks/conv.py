"""Convolution forward + backward, and chapter 10's LeNet training epoch: minimx next to
hand-written numpy (and PyTorch, if installed).

    .venv/bin/python benchmarks/conv.py [--quick] [--threads 1 2] [--repeats 5] [--steps 0]

Each thread count runs in its own process, because OpenBLAS reads OPENBLAS_NUM_THREADS only
when numpy is imported (torch gets torch.set_num_threads). Within a process every workload's
contenders run interleaved (benchmarks.common.compare), and the table gives medians.

- Layers: LeNet's first convolution, a (256, 1, 28, 28) float32 batch through 6 channels of 5×5
  with padding 2, forward and backward for the weight and bias (the input needs no gradient,
  as in training), and again with the input's gradient; and LeNet's second, (256, 6, 14, 14)
  through 16 channels of 5×5 with every gradient. minimx runs nd.Convolution under autograd;
  "numpy" is a hand-written NCHW im2col forward and backward (`numpy_conv`).
- LeNet: chapter 10's network (conv 6@5×5 pad 2, ReLU, max pool 2, conv 16@5×5, ReLU, max pool
  2, dense 120, 84, 10), softmax cross-entropy, SGD with learning rate 0.1 and momentum 0.9,
  batches of 256 of the real Fashion-MNIST. All three start from minimx's Xavier weights and
  see the same batches, taken by indexing the in-memory arrays (no loader). "numpy" is a careful
  hand-written numpy LeNet (`NumpyLeNet`): activations channel-major (C, N, H, W), im2col
  built K-major in one copy, col2im by strided adds in (C, N, H, W). minimx no longer uses
  im2col for these layers: chapter 9 lowers whole rows against a banded weight where that is
  faster (stride 1, few channels: both of LeNet's convolutions), and chapter 10 takes the max
  over tiling windows a row at a time; where minimx beats this numpy, that is why. One sample
  is a whole epoch (235 steps),
  or `--steps` steps if given. PyTorch (CPU) is an optional baseline and never a dependency.

`measure(quick=False)` returns the figures as a dict (benchmarks/speed.py builds the book's
page from it); `main()` prints them with their ratios.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.common import optional_torch     # noqa: E402  (no numpy: threads are set before it loads)

LENET_NAME = 'LeNet epoch (Fashion-MNIST, batch 256)'
TARGET = {'against': 'torch', 'ratio': 1.5}      # issue 17: a LeNet epoch within 1.5x PyTorch's


# ---------------------------------------------------------------- hand-written numpy, NCHW layer

def numpy_conv(x, w, b, dy, need_dx, pad=2):
    """Hand-written NCHW im2col convolution, forward and backward, stride 1: (out, dw, db[, dx])."""
    import numpy as np
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    cols = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    cols = cols.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, -1)
    out = (w.reshape(o, -1) @ cols + b[:, None]).reshape(o, n, oh, ow).transpose(1, 0, 2, 3)
    dy2 = dy.transpose(1, 0, 2, 3).reshape(o, -1)
    dw = (cols @ dy2.T).T.reshape(w.shape)
    db = dy2.sum(axis=1)
    if not need_dx:
        return out, dw, db
    dcols = (w.reshape(o, -1).T @ dy2).reshape(c, kh, kw, n, oh, ow)
    dxp = np.zeros_like(xp)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + oh, j:j + ow] += dcols[:, i, j].transpose(1, 0, 2, 3)
    return out, dw, db, dxp[:, :, pad:pad + h, pad:pad + wd]


# ---------------------------------------------------------------- hand-written numpy LeNet

class NumpyLeNet:
    """Chapter 10's LeNet with a hand-written backward; activations (C, N, H, W) throughout."""

    def __init__(self, params):
        import numpy as np
        self.np = np
        self.p = [np.array(v, dtype=np.float32) for v in params]     # w1 b1 w2 b2 w3 b3 w4 b4 w5 b5
        self.v = [np.zeros_like(v) for v in self.p]

    def _conv(self, x, w, b, pad):
        np = self.np
        c, n, h, wd = x.shape
        o, _, k, _ = w.shape
        if pad:
            x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))      # c n oh ow k k
        oh, ow = win.shape[2:4]
        cols = np.ascontiguousarray(win.transpose(0, 4, 5, 1, 2, 3)).reshape(c * k * k, n * oh * ow)
        z = w.reshape(o, -1) @ cols
        z += b[:, None]
        np.maximum(z, 0, out=z)                                                      # ReLU in place
        return cols, z.reshape(o, n, oh, ow)

    def _pool(self, a):
        np = self.np
        c, n, h, w = a.shape
        v = a.reshape(c, n, h // 2, 2, w // 2, 2)
        out = np.maximum(np.maximum(v[:, :, :, 0, :, 0], v[:, :, :, 0, :, 1]),
                         np.maximum(v[:, :, :, 1, :, 0], v[:, :, :, 1, :, 1]))
        return out

    def _pool_back(self, a, out, dout):
        np = self.np
        c, n, h, w = a.shape
        v = a.reshape(c, n, h // 2, 2, w // 2, 2)
        grad = np.zeros_like(a)
        g = grad.reshape(c, n, h // 2, 2, w // 2, 2)
        unclaimed = np.ones(out.shape, bool)
        for i in range(2):
            for j in range(2):
                hit = (v[:, :, :, i, :, j] == out) & unclaimed
                np.multiply(dout, hit, out=g[:, :, :, i, :, j])
                unclaimed ^= hit
        return grad

    def step(self, X, y, lr=0.1, momentum=0.9):
        np = self.np
        w1, b1, w2, b2, w3, b3, w4, b4, w5, b5 = self.p
        n = X.shape[0]
        x = X.transpose(1, 0, 2, 3)                                  # (1, N, 28, 28): no copy for C = 1
        cols1, a1 = self._conv(x, w1, b1, 2)                         # (6, N, 28, 28)
        p1 = self._pool(a1)                                          # (6, N, 14, 14)
        cols2, a2 = self._conv(p1, w2, b2, 0)                        # (16, N, 10, 10)
        p2 = self._pool(a2)                                          # (16, N, 5, 5)
        f = np.ascontiguousarray(p2.transpose(1, 0, 2, 3)).reshape(n, -1)   # MXNet's flatten order
        h3 = f @ w3.T
        h3 += b3
        np.maximum(h3, 0, out=h3)
        h4 = h3 @ w4.T
        h4 += b4
        np.maximum(h4, 0, out=h4)
        s = h4 @ w5.T
        s += b5
        s -= s.max(axis=1, keepdims=True)                            # softmax cross-entropy, summed
        np.exp(s, out=s)
        s /= s.sum(axis=1, keepdims=True)
        s[np.arange(n), y] -= 1                                      # d(sum of losses)/d(scores)
        g5, gb5 = s.T @ h4, s.sum(0)
        d4 = s @ w5
        d4 *= h4 > 0
        g4, gb4 = d4.T @ h3, d4.sum(0)
        d3 = d4 @ w4
        d3 *= h3 > 0
        g3, gb3 = d3.T @ f, d3.sum(0)
        dp2 = (d3 @ w3).reshape(n, 16, 5, 5).transpose(1, 0, 2, 3)
        da2 = self._pool_back(a2, p2, dp2)
        da2 *= a2 > 0
        dz2 = da2.reshape(16, -1)
        g2, gb2 = (cols2 @ dz2.T).T.reshape(w2.shape), dz2.sum(1)
        dcols = (w2.reshape(16, -1).T @ dz2).reshape(6, 5, 5, n, 10, 10)
        dp1 = np.zeros_like(p1)
        for i in range(5):
            for j in range(5):
                dp1[:, :, i:i + 10, j:j + 10] += dcols[:, i, j]
        da1 = self._pool_back(a1, p1, dp1)
        da1 *= a1 > 0
        dz1 = da1.reshape(6, -1)
        g1, gb1 = (cols1 @ dz1.T).T.reshape(w1.shape), dz1.sum(1)
        for p, v, g in zip(self.p, self.v, [g1, gb1, g2, gb2, g3, gb3, g4, gb4, g5, gb5]):
            v *= momentum                                            # MXNet's SGD: v = m v + lr g / n
            v += (lr / n) * g
            p -= v


# ---------------------------------------------------------------- the measurements (one process)

def _lenet_contenders(steps, threads, seed=0):
    """{name: one sample} for the three LeNets: `steps` training steps each, the same batches."""
    import numpy as np
    from minimx import autograd, d2l, gluon, nd
    from minimx.data import load_fashion_mnist
    from minimx.gluon import loss as gloss
    train_x, train_y, _, _ = load_fashion_mnist()
    features = (train_x.reshape(-1, 1, 28, 28) / np.float32(255)).astype(np.float32)
    labels = train_y.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(labels))
    batches = [order[i:i + 256] for i in range(0, len(labels), 256)][:steps]

    nd.random.seed(seed)
    net = d2l.lenet()
    net(nd.array(features[:2]))                                       # deferred shapes
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1, 'momentum': 0.9})
    loss = gloss.SoftmaxCrossEntropyLoss()
    start = [p.data().asnumpy() for p in net.collect_params().values()]

    def minimx_epoch():
        for idx in batches:
            X, y = nd.NDArray(features[idx]), nd.NDArray(labels[idx])
            with autograd.record():
                l = loss(net(X), y).sum()
            l.backward()
            trainer.step(256)

    numpy_net = NumpyLeNet(start)

    def numpy_epoch():
        for idx in batches:
            numpy_net.step(features[idx], labels[idx])

    minimx_epoch.net, numpy_epoch.net = net, numpy_net          # for the tests' comparison
    contenders = {'minimx': minimx_epoch, 'numpy': numpy_epoch}
    torch = optional_torch(threads)
    if torch is not None:
        tnet = torch.nn.Sequential(
            torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2, 2),
            torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2, 2), torch.nn.Flatten(),
            torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(),
            torch.nn.Linear(84, 10))
        with torch.no_grad():
            for p, v in zip(tnet.parameters(), start):
                p.copy_(torch.from_numpy(v))
        # torch's SGD: v = m v + g, p -= lr v; with the mean loss that is MXNet's update exactly
        opt = torch.optim.SGD(tnet.parameters(), lr=0.1, momentum=0.9)
        tloss = torch.nn.CrossEntropyLoss()
        tfeatures, tlabels = torch.from_numpy(features), torch.from_numpy(labels.astype(np.int64))

        def torch_epoch():
            for idx in batches:
                i = torch.from_numpy(idx)
                opt.zero_grad()
                tloss(tnet(tfeatures[i]), tlabels[i]).backward()
                opt.step()
        contenders['torch'] = torch_epoch
    return contenders


def _layer_contenders(threads, second):
    """{name: one forward+backward} for LeNet's first (or second) convolution."""
    import numpy as np
    from minimx import autograd, nd
    rng = np.random.default_rng(0)
    c, o, hw, pad = (6, 16, 14, 0) if second else (1, 6, 28, 2)
    out = hw + 2 * pad - 4
    x_np = rng.random((256, c, hw, hw), dtype=np.float32)
    w_np = (rng.standard_normal((o, c, 5, 5)) * 0.1).astype(np.float32)
    b_np = np.zeros(o, np.float32)
    dy_np = rng.standard_normal((256, o, out, out)).astype(np.float32)
    w, b, dy = nd.array(w_np), nd.array(b_np), nd.array(dy_np)
    w.attach_grad()
    b.attach_grad()
    x = nd.array(x_np)
    if second:
        x.attach_grad()

    def minimx_step():
        with autograd.record():
            y = nd.Convolution(x, w, b, kernel=(5, 5), pad=(pad, pad), num_filter=o)
        y.backward(dy)

    contenders = {'minimx': minimx_step,
                  'numpy': lambda: numpy_conv(x_np, w_np, b_np, dy_np, second, pad)}
    torch = optional_torch(threads)
    if torch is not None:
        tx = torch.from_numpy(x_np).requires_grad_(second)
        tw = torch.from_numpy(w_np).requires_grad_()
        tb = torch.from_numpy(b_np).requires_grad_()
        tdy = torch.from_numpy(dy_np)

        def torch_step():
            torch.nn.functional.conv2d(tx, tw, tb, padding=pad).backward(tdy)
        contenders['torch'] = torch_step
    return contenders


def _layer_with_dx(threads):
    """LeNet's first convolution with the input's gradient too (minimx and numpy; torch too)."""
    import numpy as np
    from minimx import autograd, nd
    rng = np.random.default_rng(1)
    x_np = rng.random((256, 1, 28, 28), dtype=np.float32)
    w_np = (rng.standard_normal((6, 1, 5, 5)) * 0.1).astype(np.float32)
    b_np = np.zeros(6, np.float32)
    dy_np = rng.standard_normal((256, 6, 28, 28)).astype(np.float32)
    x, w, b, dy = nd.array(x_np), nd.array(w_np), nd.array(b_np), nd.array(dy_np)
    for v in (x, w, b):
        v.attach_grad()

    def minimx_step():
        with autograd.record():
            y = nd.Convolution(x, w, b, kernel=(5, 5), pad=(2, 2), num_filter=6)
        y.backward(dy)
    contenders = {'minimx': minimx_step, 'numpy': lambda: numpy_conv(x_np, w_np, b_np, dy_np, True)}
    torch = optional_torch(threads)
    if torch is not None:
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x_np, w_np, b_np))
        tdy = torch.from_numpy(dy_np)
        contenders['torch'] = lambda: torch.nn.functional.conv2d(tx, tw, tb, padding=2).backward(tdy)
    return contenders


def _measure_here(threads, repeats, steps, layer_repeats):
    """Every workload at the thread count this process was started with (see measure)."""
    from benchmarks.common import compare, compare_apart
    workloads = []
    layers = [('conv 1→6, 5×5 pad 2, forward+backward (dW, db)', lambda: _layer_contenders(threads, False)),
              ('conv 1→6, 5×5 pad 2, forward+backward (dW, db, dX)', lambda: _layer_with_dx(threads)),
              ('conv 6→16, 5×5, forward+backward (dW, db, dX)', lambda: _layer_contenders(threads, True))]
    for name, make in layers:
        medians = compare_apart(make(), repeats=layer_repeats, warmup=2)     # milliseconds: see compare_apart
        workloads.append({'name': name, 'unit': 'ms', 'threads': threads, 'repeats': layer_repeats,
                          'medians': {k: v * 1e3 for k, v in medians.items()}, 'target': None})
    medians = compare(_lenet_contenders(steps, threads), repeats=repeats, warmup=1)
    name = LENET_NAME if steps >= 235 else f'LeNet, {steps} training steps (Fashion-MNIST, batch 256)'
    workloads.append({'name': name, 'unit': 's', 'threads': threads, 'repeats': repeats,
                      'steps': min(steps, 235), 'medians': medians, 'target': TARGET})
    return workloads


def measure(quick=False, threads=(1, 2), repeats=5, steps=None):
    """Returns {'workloads': [...]}: per workload its name, unit, thread count, repeats, the
    median of each contender ('minimx', 'numpy', 'torch' if importable) and the target ratio
    (or None). quick=True: one thread, 3 repeats, LeNet for 4 steps instead of an epoch (~20 s)."""
    if quick:
        threads, repeats, steps, layer_repeats = (1,), 3, 4, 3
    else:
        steps, layer_repeats = steps or 235, 15
    workloads = []
    for t in threads:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
        result = subprocess.run([sys.executable, os.path.abspath(__file__), '--child', str(t), str(repeats),
                                 str(steps), str(layer_repeats)], env=env, capture_output=True, text=True, cwd=ROOT)
        if result.returncode:
            raise RuntimeError(f'benchmark process ({t} threads) failed:\n{result.stderr[-3000:]}')
        workloads += json.loads(result.stdout.strip().splitlines()[-1])
    return {'workloads': workloads}


def print_table(figures):
    for w in figures['workloads']:
        m = w['medians']
        print(f"{w['name']}, {w['threads']} thread{'s' if w['threads'] > 1 else ''}, "
              f"medians of {w['repeats']}:")
        for name, value in m.items():
            ratio = '' if name == 'minimx' else f"   minimx / {name} = {m['minimx'] / value:.2f}"
            print(f"  {name:8s} {value:9.3f} {w['unit']}{ratio}")
        if w['target'] and w['target']['against'] in m:
            got = m['minimx'] / m[w['target']['against']]
            verdict = 'within' if got <= w['target']['ratio'] else 'NOT within'
            print(f"  target: minimx <= {w['target']['ratio']} x {w['target']['against']}: {got:.2f}, {verdict}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == '--child':            # one thread count, JSON on stdout
        threads, repeats, steps, layer_repeats = (int(a) for a in sys.argv[2:6])
        print(json.dumps(_measure_here(threads, repeats, steps, layer_repeats)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='a few LeNet steps, 1 thread (what the tests run)')
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--repeats', type=int, default=5, help='LeNet samples per contender (default 5)')
    parser.add_argument('--steps', type=int, default=0, help='steps per LeNet sample (default: a whole epoch)')
    parser.add_argument('--json', help='also write the figures to this file')
    args = parser.parse_args()
    started = time.perf_counter()
    figures = measure(args.quick, tuple(args.threads), args.repeats, args.steps or None)
    print_table(figures)
    print(f'({time.perf_counter() - started:.0f} s)')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(figures, f, indent=1)


def finite_positive(figures):
    """True when every median of every workload is a finite positive number (the tests' check)."""
    return all(isinstance(v, float) and math.isfinite(v) and v > 0
               for w in figures['workloads'] for v in w['medians'].values())


if __name__ == '__main__':
    main()
