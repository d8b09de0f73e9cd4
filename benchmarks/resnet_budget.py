"""Chapter 13's ResNet-8, trained with the chapter's whole recipe for one seed: its test accuracy and
what the training took.

    .venv/bin/python benchmarks/resnet_budget.py SEED [--epochs 4] [--threads 1]

The recipe is the notebook's `train_resnet` cell: `small_resnet()`, batches of 128, SGD with
momentum 0.9, learning rate 0.1 on a cosine schedule over four epochs (minimx.cnn.train_cnn). The
seed is given to Python's, numpy's and minimx's generators, as tests/test_training.py does; seed 0
is the notebook's own run. BLAS runs one thread by default, as every notebook does
(core/environment.py).

Besides the wall time of each epoch, it reports an estimate for a quiet machine: on a shared
machine most batches are slowed by other processes taking the core, so the quiet time of a batch is
estimated by the median of the fastest 5% of batches, and an epoch by that times the number of
batches (the evaluation of the test set, forward only, is measured and reported apart).
"""
import argparse
import os
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('seed', type=int)
    parser.add_argument('--epochs', type=float, default=4)
    parser.add_argument('--threads', type=int, default=1, help='BLAS threads (the notebooks use 1)')
    args = parser.parse_args()
    for name in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[name] = str(args.threads)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    import random
    import time

    import numpy as np

    from minimx import autograd, d2l, nd
    from minimx.cnn import small_resnet, train_cnn

    random.seed(args.seed)
    np.random.seed(args.seed)
    nd.random.seed(args.seed)
    train_iter, test_iter = d2l.load_data_fashion_mnist(128)
    net = small_resnet()
    stamps = []              # the time of every training forward: consecutive ones frame one step
    net.register_forward_pre_hook(lambda block, inputs: stamps.append(time.perf_counter())
                                  if autograd.is_training() else None)
    started = time.perf_counter()
    history = train_cnn(net, train_iter, test_iter, args.epochs, lr=0.1)
    total = time.perf_counter() - started
    steps = np.diff(stamps)
    steps = steps[steps < 10 * np.median(steps)]       # drop the gaps that hold an evaluation
    fastest = np.sort(steps)[:max(1, len(steps) // 20)]
    quiet_epoch = float(np.median(fastest)) * len(train_iter)
    print(f'seed {args.seed}: test accuracy {history["test_acc"][-1]:.4f} after {args.epochs:g} epochs; '
          f'training {sum(history["seconds"]):.0f} s ({", ".join(f"{s:.0f}" for s in history["seconds"])} per epoch), '
          f'training and evaluation {total:.0f} s; quiet-machine estimate {quiet_epoch:.0f} s per epoch, '
          f'{quiet_epoch * args.epochs:.0f} s of training')


if __name__ == '__main__':
    main()
