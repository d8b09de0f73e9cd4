"""Convolution forward + backward, and one LeNet epoch: minimx next to hand-written numpy (and PyTorch).

    .venv/bin/python benchmarks/conv.py [--lenet-epochs 1]

Layer: a (256, 1, 28, 28) float32 batch through 6 channels of 5×5 with padding 2 (LeNet's first
layer), forward and backward for the weight and bias (the input needs no gradient, as in
training), and once more with the input's gradient too. minimx runs nd.Convolution under
autograd; "numpy im2col" is a hand-written forward and backward with the same im2col layout;
PyTorch (CPU) runs if it is installed (`pip install torch==2.13.0`; never a dependency of the
course). Medians of interleaved repetitions. Then one training epoch of chapter 10's LeNet in
minimx, on the real Fashion-MNIST.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np                                   # noqa: E402

from benchmarks.common import compare, report       # noqa: E402
from minimx import autograd, nd                      # noqa: E402


def numpy_conv(x, w, b, dy, need_dx):
    """Hand-written im2col convolution, forward and backward (the lower bound for numpy)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    cols = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    cols = cols.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, -1)
    out = (w.reshape(o, -1) @ cols + b[:, None]).reshape(o, n, h, wd).transpose(1, 0, 2, 3)
    dy2 = dy.transpose(1, 0, 2, 3).reshape(o, -1)
    dw = (cols @ dy2.T).T.reshape(w.shape)
    db = dy.sum(axis=(0, 2, 3))
    if need_dx:
        dcols = (w.reshape(o, -1).T @ dy2).reshape(c, kh, kw, n, h, wd)
        dxp = np.zeros_like(xp)
        for i in range(kh):
            for j in range(kw):
                dxp[:, :, i:i + h, j:j + wd] += dcols[:, i, j].transpose(1, 0, 2, 3)
        return out, dw, db, dxp[:, :, 2:-2, 2:-2]
    return out, dw, db


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--lenet-epochs', type=int, default=1, help='LeNet epochs to time (default 1; 0 skips)')
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x_np = rng.random((256, 1, 28, 28), dtype=np.float32)
    w_np = rng.standard_normal((6, 1, 5, 5)).astype(np.float32) * 0.1
    b_np = np.zeros(6, np.float32)
    dy_np = rng.standard_normal((256, 6, 28, 28)).astype(np.float32)
    x, w, b, dy = nd.array(x_np), nd.array(w_np), nd.array(b_np), nd.array(dy_np)
    w.attach_grad()
    b.attach_grad()
    x_var = nd.array(x_np)
    x_var.attach_grad()

    def minimx_step(data):
        with autograd.record():
            out = nd.Convolution(data, w, b, kernel=(5, 5), pad=(2, 2), num_filter=6)
        out.backward(dy)

    out_np, dw_np, db_np = numpy_conv(x_np, w_np, b_np, dy_np, False)
    minimx_step(x)
    assert np.allclose(w.grad.asnumpy(), dw_np, rtol=1e-3, atol=1e-2), 'minimx and numpy disagree'
    contenders = {'numpy im2col (dW, db)': lambda: numpy_conv(x_np, w_np, b_np, dy_np, False),
                  'minimx (dW, db)': lambda: minimx_step(x),
                  'numpy im2col (dW, db, dX)': lambda: numpy_conv(x_np, w_np, b_np, dy_np, True),
                  'minimx (dW, db, dX)': lambda: minimx_step(x_var)}
    try:
        import torch
        torch.set_num_threads(2)
        tx = torch.from_numpy(x_np)
        tw = torch.from_numpy(w_np).requires_grad_()
        tb = torch.from_numpy(b_np).requires_grad_()
        tdy = torch.from_numpy(dy_np)

        def torch_step():
            torch.nn.functional.conv2d(tx, tw, tb, padding=2).backward(tdy)
        contenders['pytorch (dW, db)'] = torch_step
    except ImportError:
        print('(PyTorch is not installed: its column is skipped)')
    medians = compare(contenders, repeats=20)
    report('conv (256, 1, 28, 28) -> 6 @ 5x5, pad 2: forward + backward, float32', medians, 'numpy im2col (dW, db)')
    print(f'ratio minimx / numpy (dW, db)     = {medians["minimx (dW, db)"] / medians["numpy im2col (dW, db)"]:.2f} (target <= 2)')
    print(f'ratio minimx / numpy (dW, db, dX) = '
          f'{medians["minimx (dW, db, dX)"] / medians["numpy im2col (dW, db, dX)"]:.2f}')

    if args.lenet_epochs:
        from minimx import d2l
        if not hasattr(d2l, 'lenet'):
            print('(chapter 10 is not built yet: no LeNet epoch)')
            return
        train_iter, test_iter = d2l.load_data_fashion_mnist(256)
        from minimx import gluon
        from minimx.gluon import loss as gloss
        nd.random.seed(0)
        net = d2l.lenet()
        trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1, 'momentum': 0.9})
        loss = gloss.SoftmaxCrossEntropyLoss()
        times = []
        for _ in range(args.lenet_epochs):
            start = time.perf_counter()
            for X, y in train_iter:
                with autograd.record():
                    l = loss(net(X), y).sum()
                l.backward()
                trainer.step(256)
            times.append(time.perf_counter() - start)
        print(f'LeNet, one training epoch over 60000 images: {np.median(times):.2f} s '
              f'(test accuracy after it: {d2l.evaluate_accuracy(test_iter, net):.3f})')


if __name__ == '__main__':
    main()
