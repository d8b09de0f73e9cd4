"""One recorded dot + backward in minimx next to the same three products in plain numpy.

    .venv/bin/python benchmarks/autograd_dot.py

(256, 784) · (784, 256), float32, both inputs needing gradients: forward A·B, then
dA = dY·Bᵀ and dB = Aᵀ·dY. Medians over interleaved repetitions (see common.py).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np                                  # noqa: E402

from benchmarks.common import compare, report      # noqa: E402
from minimx import autograd, nd                     # noqa: E402


def main():
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
    assert np.allclose(a.grad.asnumpy(), da, rtol=1e-4) and np.allclose(b.grad.asnumpy(), db, rtol=1e-3)
    medians = compare({'plain numpy (3 matmuls)': numpy_step, 'minimx record + backward': minimx_step})
    report('dot (256, 784)·(784, 256) forward + backward, float32', medians, 'plain numpy (3 matmuls)')


if __name__ == '__main__':
    main()
