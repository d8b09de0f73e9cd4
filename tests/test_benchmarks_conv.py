"""benchmarks/conv.py: the figures it hands to the book's speed page are well formed, and the
hand-written numpy it compares minimx with computes the same thing (no speed is asserted)."""
import math

import numpy as np
import pytest

from benchmarks import conv
from minimx import autograd, nd


def test_measure_quick_gives_the_page_its_schema():
    figures = conv.measure(quick=True)
    assert set(figures) == {'workloads'} and figures['workloads']
    names = [w['name'] for w in figures['workloads']]
    assert len(names) == len(set(names)), names
    assert any(name.startswith('LeNet') for name in names)
    assert any(name.startswith('conv 1→6, 5×5 pad 2, forward+backward') for name in names)
    for w in figures['workloads']:
        assert {'name', 'unit', 'threads', 'repeats', 'medians', 'target'} <= set(w), w
        assert w['unit'] in ('s', 'ms') and w['threads'] == 1 and w['repeats'] >= 1
        assert {'minimx', 'numpy'} <= set(w['medians']) <= {'minimx', 'numpy', 'torch'}, w['medians']
        for value in w['medians'].values():
            assert isinstance(value, float) and math.isfinite(value) and value > 0, w
        assert w['target'] is None or (w['target']['against'] in ('torch', 'numpy') and w['target']['ratio'] > 0)
    assert conv.finite_positive(figures)


@pytest.mark.parametrize('shape, out_channels, pad', [((3, 1, 9, 9), 6, 2), ((2, 3, 8, 7), 4, 0), ((2, 2, 6, 6), 3, 1)],
                         ids=['one channel, pad 2', 'three channels, no pad', 'pad 1'])
def test_numpy_convolution_agrees_with_minimx(shape, out_channels, pad):
    """Forward, and every gradient (input, weight, bias), of the hand-written im2col against
    nd.Convolution under autograd, in float64 so that a wrong index shows."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((out_channels, shape[1], 5, 5)) * 0.3
    b = rng.standard_normal(out_channels)
    out_shape = (shape[0], out_channels, shape[2] + 2 * pad - 4, shape[3] + 2 * pad - 4)
    dy = rng.standard_normal(out_shape)
    want_out, want_dw, want_db, want_dx = conv.numpy_conv(x, w, b, dy, True, pad)
    xs, ws, bs = (nd.array(v, dtype='float64') for v in (x, w, b))
    for v in (xs, ws, bs):
        v.attach_grad()
    with autograd.record():
        out = nd.Convolution(xs, ws, bs, kernel=(5, 5), pad=(pad, pad), num_filter=out_channels)
    out.backward(nd.array(dy, dtype='float64'))
    for what, got, want in [('forward', out, want_out), ('input gradient', xs.grad, want_dx),
                            ('weight gradient', ws.grad, want_dw), ('bias gradient', bs.grad, want_db)]:
        assert got.shape == want.shape, (what, got.shape, want.shape)
        assert np.allclose(got.asnumpy(), want, rtol=1e-10, atol=1e-10), \
            f'{what}: max difference {np.abs(got.asnumpy() - want).max():.3g}'


def test_numpy_lenet_takes_the_same_step_as_minimx():
    """Two training steps of the hand-written LeNet land on minimx's parameters (float32)."""
    contenders = conv._lenet_contenders(steps=2, threads=1)
    contenders['minimx']()
    contenders['numpy']()
    params = [p.data().asnumpy() for p in contenders['minimx'].net.collect_params().values()]
    assert len(params) == len(contenders['numpy'].net.p) == 10
    for got, want in zip(params, contenders['numpy'].net.p):
        assert got.shape == want.shape and np.allclose(got, want, rtol=1e-4, atol=1e-6), \
            f'{got.shape}: max difference {np.abs(got - want).max():.3g}'
