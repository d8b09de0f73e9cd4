"""minimx.autograd: every gradient rule against central differences, and MXNet's behaviour."""
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from minimx import autograd, d2l, nd
from minimx.autograd import check_gradient
from minimx.nd import MXNetError

IDX = nd.array([2, 0, 2, 1])

# One case per differentiable operation: (operation, function of NDArrays, input shapes, input range).
# Shapes include broadcasting wherever the operation broadcasts.
CASES = [
    ('add', lambda a, b: a + b, [(3, 1), (1, 4)], (-2, 2)),
    ('subtract', lambda a, b: a - b, [(2, 3), (3,)], (-2, 2)),
    ('multiply', lambda a, b: a * b, [(2, 1, 3), (4, 1)], (-2, 2)),
    ('divide', lambda a, b: a / b, [(2, 3), (2, 1)], (0.5, 2)),
    ('power', lambda a, b: a ** b, [(3, 2), (2,)], (0.5, 2)),
    ('modulo', lambda a, b: a % b, [(4,), (4,)], (2.1, 2.9)),
    ('maximum', lambda a, b: nd.maximum(a, b), [(3, 4), (4,)], (-2, 2)),
    ('minimum', lambda a, b: nd.minimum(a, b), [(3, 1), (3, 4)], (-2, 2)),
    ('negative', lambda a: -a, [(3,)], (-2, 2)),
    ('abs', lambda a: abs(a), [(5,)], (0.2, 2)),
    ('exp', lambda a: a.exp(), [(2, 3)], (-2, 2)),
    ('log', lambda a: a.log(), [(2, 3)], (0.2, 3)),
    ('sqrt', lambda a: a.sqrt(), [(4,)], (0.2, 3)),
    ('square', lambda a: a.square(), [(4,)], (-2, 2)),
    ('relu', lambda a: a.relu(), [(3, 3)], (-2, 2)),
    ('sigmoid', lambda a: a.sigmoid(), [(3, 3)], (-4, 4)),
    ('tanh', lambda a: a.tanh(), [(3, 3)], (-2, 2)),
    ('sum', lambda a: a.sum(axis=(0, 2), keepdims=True), [(2, 3, 2)], (-2, 2)),
    ('mean', lambda a: a.mean(axis=1), [(2, 3, 2)], (-2, 2)),
    ('max', lambda a: a.max(axis=-1), [(3, 4)], (-2, 2)),
    ('min', lambda a: a.min(), [(3, 4)], (-2, 2)),
    ('dot', lambda a, b: nd.dot(a, b, transpose_b=True), [(3, 4), (2, 4)], (-2, 2)),
    ('reshape', lambda a: a.reshape(-1, 0), [(2, 3, 2)], (-2, 2)),
    ('transpose', lambda a: nd.transpose(a, axes=(1, 2, 0)), [(2, 3, 4)], (-2, 2)),
    ('getitem', lambda a: a[1:, ::2] * a[0][1:3] + a[nd.array([0, 0, 2])].sum(), [(3, 4)], (-2, 2)),
    ('take', lambda a: nd.take(a, IDX), [(3, 2)], (-2, 2)),
    ('pick', lambda a: nd.pick(a, nd.array([1, 0, 2])), [(3, 3)], (-2, 2)),
    # chapter 4's fused loss, on scores wide enough that the row maximum matters; labels 2.7 and
    # -1 exercise the truncation and clipping pick does (2 and 0)
    ('softmax_cross_entropy', lambda a: d2l.softmax_cross_entropy(a, nd.array([3, 0, 2.7, -1])) * nd.array([1., 2, 3, 4], dtype=a.dtype),
     [(4, 5)], (-8, 8)),
    ('concat', lambda a, b: nd.concat(a, b, dim=0), [(2, 3), (1, 3)], (-2, 2)),
    ('stack', lambda a, b: nd.stack(a, b, axis=1), [(2, 3), (2, 3)], (-2, 2)),
    ('add_n', lambda a, b, c: nd.add_n(a, b, c), [(2, 2)] * 3, (-2, 2)),
    ('copy', lambda a: _copied(a), [(2, 3)], (-2, 2)),
    ('Convolution', lambda x, w, b: nd.Convolution(x, w, b, kernel=(3, 2), stride=(2, 1), pad=(1, 0)),
     [(2, 2, 5, 4), (3, 2, 3, 2), (3,)], (-2, 2)),
    ('Pooling', lambda x: nd.Pooling(x, kernel=(2, 3), pool_type='max', stride=(1, 2), pad=(1, 1)), [(2, 2, 4, 5)], (-2, 2)),
    ('BatchNorm', lambda x, g, b: _batch_norm(x, g, b, training=True), [(4, 3, 2, 2), (3,), (3,)], (-2, 2)),
]


def _batch_norm(x, gamma, beta, training, **attrs):
    """nd.BatchNorm in training or prediction mode for both the tape and central differences (which
    run outside record()); fresh moving statistics on every call."""
    c = x.shape[attrs.get('axis', 1)]
    moving_mean = nd.array(np.linspace(-0.5, 0.5, c), dtype=np.float64)
    moving_var = nd.array(np.linspace(0.5, 2.0, c), dtype=np.float64)
    with autograd.train_mode() if training else autograd.predict_mode():
        return nd.BatchNorm(x, gamma, beta, moving_mean, moving_var, **{'eps': 1e-5, 'fix_gamma': False, **attrs})


def test_batch_norm_gradient_in_every_mode():
    """Chapter 13's fused operator: batch statistics (2-D and NCHW, another channel axis), the moving
    statistics (prediction, use_global_stats), and fix_gamma, whose gamma gets no gradient."""
    for shapes, training, attrs in ((((6, 4), (4,), (4,)), True, {}), (((3, 2, 3, 2), (2,), (2,)), False, {}),
                                     (((3, 2, 3, 4), (4,), (4,)), True, {'axis': -1}),
                                     (((4, 3, 2, 2), (3,), (3,)), True, {'use_global_stats': True}),
                                     (((5, 3), (3,), (3,)), True, {'fix_gamma': True})):
        for seed in range(2):
            check_gradient(lambda x, g, b: _batch_norm(x, g, b, training, **attrs), *shapes,
                           rng=np.random.default_rng(seed))
    x, g, b = (nd.array(np.random.default_rng(0).standard_normal(s)) for s in ((5, 3), (3,), (3,)))
    g.attach_grad()
    with autograd.record():
        y = nd.BatchNorm(x, g, b, nd.zeros(3), nd.ones(3))               # MXNet's default: fix_gamma=True
    y.backward()
    assert np.all(g.grad.asnumpy() == 0)


def test_global_average_pooling_gradient():
    from minimx.gluon import nn
    check_gradient(lambda x: nn.GlobalAvgPool2D()(x), (2, 3, 4, 5), rng=np.random.default_rng(1))


def test_average_pooling_gradient():
    for attrs in (dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1)), dict(kernel=(2, 2), stride=(2, 2), pooling_convention='full'),
                  dict(kernel=(2, 2), stride=(1, 1), pad=(1, 1), count_include_pad=False)):
        check_gradient(lambda x: nd.Pooling(x, pool_type='avg', **attrs), (1, 2, 5, 5), rng=np.random.default_rng(3))


def _copied(a):
    out = nd.zeros(a.shape, dtype=np.float64)
    out[:] = a * 1                           # whole-array assignment of a graph value: a recorded copy
    return out


@pytest.mark.parametrize('op,fn,shapes,bounds', CASES, ids=[c[0] for c in CASES])
def test_every_rule_agrees_with_central_differences(op, fn, shapes, bounds):
    for seed in range(3):
        check_gradient(fn, *shapes, rng=np.random.default_rng(seed), low=bounds[0], high=bounds[1])


def test_both_lowerings_of_a_convolution_and_both_max_pools_agree():
    """Chapter 9 registers nd.Convolution a second time (rows lowered against a banded weight, for
    the layers where that is faster) and chapter 10 nd.Pooling (the max over tiling windows, a row
    at a time): each must give the exercises' numbers, and their gradients central differences'."""
    from minimx.nd import convolution as cv, pooling as pl
    rng = np.random.default_rng(0)
    layers = [((3, 1, 7, 6), (2, 1, 3, 3), (1, 1)), ((2, 3, 6, 7), (4, 3, 3, 2), (0, 1)),
              ((2, 6, 14, 14), (16, 6, 5, 5), (0, 0)), ((2, 1, 28, 28), (6, 1, 5, 5), (2, 2))]
    for shape, w_shape, pad in layers:
        assert cv._by_rows(shape, w_shape, pad, (1, 1)), (shape, w_shape)
        x, w, b = rng.standard_normal(shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
        got = cv.fast_convolution(x, w, b, kernel=w_shape[2:], pad=pad)
        np.testing.assert_allclose(got, cv.convolution_forward(x, w, b, kernel=w_shape[2:], pad=pad), rtol=1e-12, atol=1e-12)
        assert got.flags.c_contiguous
    # the two helpers also lower strided layers (which _by_rows leaves to im2col): rows · band is the layer
    x, w = rng.standard_normal((2, 3, 9, 11)), rng.standard_normal((4, 3, 3, 2))
    want = cv.convolution_forward(x, w, kernel=(3, 2), pad=(1, 2), stride=(2, 3))
    out_w = want.shape[3]
    rows = cv.lower_rows(x, (3, 2), pad=(1, 2), stride=(2, 3))
    got = (rows @ cv.banded_weight(w, 11 + 2 * 2, out_w, 3)).reshape(2, want.shape[2], 4, out_w).transpose(0, 2, 1, 3)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # a kernel that does not fit the weight is named, on either path (stride 1: rows; 2: im2col)
    for stride in ((1, 1), (2, 2)):
        with pytest.raises(MXNetError, match=r'kernel \(3, 3\) does not fit weight'):
            nd.Convolution(nd.ones((2, 1, 8, 8)), nd.ones((3, 1, 5, 5)), kernel=(3, 3), stride=stride, no_bias=True)
    # where rows lose (stride 2, many channels on a wide input) the exercises' im2col runs
    assert not cv._by_rows((2, 1, 28, 28), (16, 1, 5, 5), (2, 2), (2, 2))
    assert not cv._by_rows((2, 3, 32, 32), (64, 3, 3, 3), (1, 1), (1, 1))
    for seed in range(2):
        check_gradient(lambda x, w, b: nd.Convolution(x, w, b, kernel=(3, 2), pad=(1, 0)),
                       (2, 2, 5, 4), (3, 2, 3, 2), (3,), rng=np.random.default_rng(seed))
        check_gradient(lambda x, w: nd.Convolution(x, w, kernel=(3, 3), pad=(1, 1), no_bias=True),
                       (2, 3, 4, 6), (2, 3, 3, 3), rng=np.random.default_rng(seed))
    # the rows path adds the bias inside its product (a column of ones) and reads db off dB's last
    # row: whichever gradients are asked for, with or without a bias, exercise 8 gives the same
    x, w, b = rng.standard_normal((3, 2, 6, 7)), rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4)
    attrs = dict(kernel=(3, 3), pad=(1, 1), stride=(1, 1))
    dy = rng.standard_normal(cv.convolution_forward(x, w, kernel=(3, 3), pad=(1, 1)).shape)
    for values in ([x, w, b], [x, w]):
        for needs in ([False, False, True], [False, True, True], [True, False, False], [True, True, True]):
            node = SimpleNamespace(values=values, attrs=attrs, needs=needs[:len(values)], out=np.empty(0))
            got, want = cv.fast_convolution_gradient(node, dy), cv.convolution_backward(node, dy)
            assert [g is None for g in got] == [g is None for g in want] == [not n for n in node.needs]
            for g, v in zip(got, want):
                if v is not None:
                    np.testing.assert_allclose(g, v, rtol=1e-12, atol=1e-12)
    # pooling: ties and negative values included, the fast path and the offset loop agree exactly
    x = np.round(rng.standard_normal((2, 3, 8, 6)), 1)
    for kernel in ((2, 2), (2, 3), (4, 1)):
        assert pl._tiles(x.shape, kernel, (0, 0), kernel)
        np.testing.assert_array_equal(pl.fast_pooling(x, kernel, 'max', (0, 0), kernel),
                                      pl.pooling_forward(x, kernel, 'max', (0, 0), kernel))
    assert not pl._tiles((2, 3, 7, 6), (2, 2), (0, 0), (2, 2)) and not pl._tiles(x.shape, (2, 2), (1, 1), (2, 2))
    for seed in range(2):
        check_gradient(lambda x: nd.Pooling(x, kernel=(2, 2), stride=(2, 2), pool_type='max'), (2, 2, 4, 6),
                       rng=np.random.default_rng(seed))


def test_every_op_has_a_checked_rule_or_a_stated_reason():
    """The op table (nd.OPS) is the one place an operation is declared: each entry has either a
    gradient rule, checked here against central differences, or a reason it has none."""
    with_rule = {name for name, op in nd.OPS.items() if op.gradient is not None}
    covered = {c[0] for c in CASES}
    assert with_rule <= covered, f'no checker case for {with_rule - covered}'
    neither = {name for name, op in nd.OPS.items() if op.gradient is None and not op.no_gradient}
    assert not neither, f'operations with neither a rule nor a reason: {neither}'
    assert not {name for name, op in nd.OPS.items() if op.gradient and op.no_gradient}


def test_every_nd_function_and_method_goes_through_the_op_table(monkeypatch):
    """Each computing function and method reaches numpy only through the op table's kernels."""
    seen = []
    for name, op in nd.OPS.items():
        monkeypatch.setattr(op, 'forward', lambda *a, _name=name, _real=op.forward, **k:
                            seen.append(_name) or _real(*a, **k))
    x, i = nd.array([[1., 2.], [3., 4.]]), nd.array([1, 0])
    calls = {
        'copy': lambda: x.copy(), 'argmax': lambda: x.argmax(axis=1), 'argmin': lambda: nd.argmin(x),
        'one_hot': lambda: nd.one_hot(i, 3), 'prod': lambda: x.prod(), 'sign': lambda: x.sign(),
        'getitem': lambda: x[0], 'reshape': lambda: x.reshape(4), 'transpose': lambda: x.T,
        'add': lambda: x + 1, 'lesser': lambda: 1 > x, 'dot': lambda: nd.dot(x, x),
        'pick': lambda: nd.pick(x, i), 'take': lambda: nd.take(x, i), 'concat': lambda: nd.concat(x, x),
        'stack': lambda: nd.stack(x, x), 'add_n': lambda: nd.add_n(x, x), 'sum': lambda: x.sum(),
        'BatchNorm': lambda: nd.BatchNorm(x, nd.ones(2), nd.zeros(2), nd.zeros(2), nd.ones(2)),
        'softmax_cross_entropy': lambda: d2l.softmax_cross_entropy(x, i),
    }
    for name, call in calls.items():
        seen.clear()
        call()
        assert name in seen, f'{name} did not go through invoke (saw {seen})'
    assert set(calls) | {'Convolution', 'Pooling'} >= set(nd.OPS) - {
        'subtract', 'multiply', 'divide', 'power', 'modulo', 'maximum', 'minimum', 'equal', 'not_equal',
        'greater', 'greater_equal', 'lesser_equal', 'negative', 'abs', 'exp', 'log', 'sqrt', 'square',
        'relu', 'sigmoid', 'tanh', 'mean', 'max', 'min'}


@settings(deadline=None, max_examples=40)
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       st.sampled_from(['add', 'subtract', 'multiply', 'divide', 'maximum']), st.integers(0, 2**16))
def test_broadcasting_gradients_on_random_shapes(shapes, op, seed):
    (sa, sb), _ = shapes
    fn = {'add': lambda a, b: a + b, 'subtract': lambda a, b: a - b, 'multiply': lambda a, b: a * b,
          'divide': lambda a, b: a / b, 'maximum': nd.maximum}[op]
    check_gradient(fn, sa, sb, rng=np.random.default_rng(seed), low=0.5, high=2)


def test_seed_examples():
    x = nd.arange(4).reshape((4, 1))
    x.attach_grad()
    with autograd.record():
        y = 2 * nd.dot(x.T, x)
    y.backward()
    assert (x.grad == 4 * x).sum().asscalar() == 4
    a = nd.array([0.3])
    a.attach_grad()
    with autograd.record():
        b = a * 2
        while b.norm().asscalar() < 1000:
            b = b * 2
        c = b if b.sum().asscalar() > 0 else 100 * b
    c.backward()
    assert np.isclose(a.grad.asscalar(), (c / a).asscalar())


def test_state_scopes_nest_and_restore():
    assert not autograd.is_recording() and not autograd.is_training()
    with autograd.record():
        assert autograd.is_recording() and autograd.is_training()
        with autograd.pause():
            assert not autograd.is_recording() and not autograd.is_training()
        with autograd.predict_mode():
            assert autograd.is_recording() and not autograd.is_training()
    assert not autograd.is_recording() and not autograd.is_training()


def test_only_operations_touching_the_graph_are_recorded():
    x, c = nd.ones(2), nd.ones(2)
    x.attach_grad()
    with autograd.record():
        y, k = x * c, c * 2
        with autograd.pause():
            p = x * 2
    assert y._node is not None and k._node is None and p._node is None


def test_grad_req_and_unreached_variables():
    x, z = nd.array([1., 2.]), nd.array([5.])
    x.attach_grad('add')
    z.attach_grad()
    z._grad[:] = 3
    for _ in range(2):
        with autograd.record():
            y = (x * x).sum()
        y.backward()
    assert x.grad.asnumpy().tolist() == [4, 8] and z.grad.asnumpy().tolist() == [3]
    with pytest.raises(KeyError):
        x.attach_grad('sometimes')


def test_errors_have_mxnet_meaning():
    x = nd.ones(3)
    x.attach_grad()
    with autograd.record():
        y = (x * 2).sum()
    y.backward()
    with pytest.raises(MXNetError, match='Cannot differentiate node because it is not in a computational graph'):
        y.backward()
    with pytest.raises(MXNetError, match='not in a computational graph'):
        (x * 2).backward()
    with autograd.record():
        y = x * 2
        with pytest.raises(MXNetError, match='Assigning to NDArrays that are already in a computational graph'):
            x += 1
        with pytest.raises(MXNetError, match='Assigning to NDArrays'):
            y[0] = 5
        fresh = nd.zeros(3)
        with pytest.raises(MXNetError, match='Inplace operations'):
            fresh[1:] = y[1:]
        with pytest.raises(MXNetError, match='Inplace operations'):
            fresh += y
        with pytest.raises(MXNetError, match='Assigning to NDArrays'):
            nd.elemwise_add(x, x, out=x)
    n = nd.ones(2)
    n.attach_grad('null')
    with autograd.record():
        m = n * 2
    with pytest.raises(MXNetError, match='There are no inputs in computation graph that require gradients'):
        m.backward()


def test_retain_graph_and_head_gradients():
    x = nd.array([1., 2., 3.])
    x.attach_grad()
    with autograd.record():
        y = x * x
    y.backward(nd.array([1., 0., 1.]), retain_graph=True)
    assert x.grad.asnumpy().tolist() == [2, 0, 6]
    y.backward()
    assert x.grad.asnumpy().tolist() == [2, 4, 6]


def test_detach_blocks_gradients_and_shares_memory():
    x = nd.array([1., 2.])
    x.attach_grad()
    with autograd.record():
        y = x * x.detach()
    y.backward()
    assert x.grad.asnumpy().tolist() == [1, 2]
    d = x.detach()
    d[:] = 7
    assert x.asnumpy().tolist() == [7, 7]


def test_autograd_grad_leaves_dot_grad_alone():
    x = nd.array([1., 2.])
    x.attach_grad()
    with autograd.record():
        y = (x ** 3).sum()
    g = autograd.grad(y, x)
    assert g.asnumpy().tolist() == [3, 12] and x.grad.asnumpy().tolist() == [0, 0]
    c = nd.ones(2)
    with autograd.record():
        y = (x * c).sum()
    with pytest.raises(MXNetError, match='does not require gradient'):
        autograd.grad(y, [x, c])
    with pytest.raises(NotImplementedError):
        autograd.grad(y, x, create_graph=True)


def test_non_differentiable_ops_pass_nothing_back():
    x = nd.array([1., -2.])
    x.attach_grad()
    with autograd.record():
        y = (x > 0) * x + x.argmax()
    y.backward()
    assert x.grad.asnumpy().tolist() == [1, 0]


# Arrays that share memory (API.md §1.2, §1.8, §1.9, §2.3). Gradients belong to tape entries,
# not to buffers: MXNet keeps one autograd entry per NDArray, so x and x.detach() are two
# variables over one buffer, while reshapes and slices recorded under record() are new nodes
# whose gradients flow back to their source.

def test_detach_of_a_variable_is_a_variable_of_its_own():
    x = nd.array([1, 2])
    x.attach_grad()
    d = x.detach()
    d.attach_grad()
    with autograd.record():
        y = 2 * x + 3 * d
    y.backward()
    assert x.grad.asnumpy().tolist() == [2, 2] and d.grad.asnumpy().tolist() == [3, 3]
    gx, gd = autograd.grad(_recorded(lambda: 2 * x + 3 * d), [x, d])
    assert gx.asnumpy().tolist() == [2, 2] and gd.asnumpy().tolist() == [3, 3]


def _recorded(fn):
    with autograd.record():
        return fn()


def test_reshape_views_are_nodes_whose_gradient_reaches_the_source():
    x = nd.array([1., 2., 3., 4.])
    x.attach_grad()
    with autograd.record():
        v = x.reshape(2, 2)                   # same buffer as x
        y = (v * v).sum() + (x * 10).sum()
    y.backward()
    assert np.shares_memory(v._data, x._data)
    assert x.grad.asnumpy().tolist() == [12, 14, 16, 18]
    with autograd.record():
        same = x.reshape(4)                   # even a reshape to the same shape is a node
        y = same * x
    y.backward()
    assert x.grad.asnumpy().tolist() == [2, 4, 6, 8]


def test_slices_of_one_buffer_send_gradients_to_their_own_positions():
    x = nd.array([1., 2., 3.])
    x.attach_grad()
    with autograd.record():
        y = x[0:2] * x[1:3] + x[1]            # views at overlapping offsets, an int index
    y.backward()
    # d/dx of x0*x1 + x1*x2 + 2*x1 (x[1] has shape (1,) and broadcasts over the 2 outputs)
    assert x.grad.asnumpy().tolist() == [2, 1 + 3 + 2, 2]


def test_out_into_a_view_of_a_variable():
    a, b, x = nd.array([1., 2.]), nd.array([3., 4.]), nd.zeros(2)
    for v in (a, b, x):
        v.attach_grad()
    with autograd.record():
        view = x.detach()                     # not in the graph, so out= may write into it
        nd.elemwise_add(a, b, out=view)       # x's buffer now holds a + b
        y = x * view
    y.backward()
    assert x.asnumpy().tolist() == [4, 6]
    for v in (x, a, b):
        assert v.grad.asnumpy().tolist() == [4, 6]


def test_out_and_whole_array_copy_are_recorded_results():
    a = nd.array([1., 2.])
    a.attach_grad()
    z, w = nd.zeros(2), nd.zeros(2)
    with autograd.record():
        nd.elemwise_add(a, a, out=z)          # z = 2a, recorded
        w[:] = z * a                          # a recorded copy: w = 2a²
        y = w + z
    y.backward()
    assert a.grad.asnumpy().tolist() == [4 * 1 + 2, 4 * 2 + 2]


def test_the_fused_loss_computes_what_pick_of_log_softmax_computes():
    """Chapter 4's one-op loss against the composed definition it replaces, on scores large
    enough to overflow exp without the shift: the same losses, the same gradient."""
    rng = np.random.default_rng(7)
    scores = nd.array(rng.normal(0, 40, (6, 10)))
    labels = nd.array(rng.integers(0, 10, 6), dtype='int32')
    weights = nd.array(rng.uniform(0.5, 2, 6))
    results = []
    for loss in (d2l.softmax_cross_entropy, lambda s, y: -nd.pick(d2l.log_softmax(s), y)):
        scores.attach_grad()
        with autograd.record():
            per_example = loss(scores, labels)
            total = (per_example * weights).sum()
        total.backward()
        results.append((per_example.asnumpy(), scores.grad.asnumpy()))
    (fused, fused_grad), (composed, composed_grad) = results
    assert fused.shape == (6,) and np.isfinite(fused).all()
    np.testing.assert_array_equal(fused, composed)
    np.testing.assert_allclose(fused_grad, composed_grad, rtol=1e-5, atol=1e-6)
    with pytest.raises(MXNetError, match='one label per row'):
        d2l.softmax_cross_entropy(nd.ones((3, 4)), nd.array([1, 2]))
    with pytest.raises(MXNetError, match=r'scores \(batch, classes\)'):
        d2l.softmax_cross_entropy(nd.ones((4,)), nd.array([1]))
