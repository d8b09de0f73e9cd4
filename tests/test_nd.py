"""minimx.nd against numpy and against MXNet's documented behaviour (shared/API.md §1)."""
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from minimx import nd
from minimx.nd import MXNetError

settings.register_profile('course', deadline=None, max_examples=60)
settings.load_profile('course')

floats = st.floats(-10, 10, width=32)


def arrays(shape):
    return hnp.arrays(np.float32, shape, elements=floats)


# -- creation and attributes ---------------------------------------------------------------

def test_array_defaults_to_float32_and_copies():
    src = np.arange(4, dtype=np.float64)
    x = nd.array(src)
    assert x.dtype is np.float32 and x.dtype == np.float32
    src[0] = 9
    assert x.asnumpy()[0] == 0
    assert nd.array([1, 2]).dtype == np.float32
    assert nd.array(nd.array([1, 2], dtype='int32')).dtype == np.int32
    assert nd.array([]).shape == (0,)
    with pytest.raises(TypeError, match='source_array must be array like object'):
        nd.array('abc')


def test_creation_helpers():
    assert nd.zeros(3).shape == (3,) and nd.ones((2, 3)).dtype == np.float32
    assert nd.full((2,), 7).asnumpy().tolist() == [7, 7]
    assert nd.arange(2, 6, step=1.5, repeat=2).asnumpy().tolist() == [2, 2, 3.5, 3.5, 5, 5]
    with pytest.raises(MXNetError, match=r'Invalid range'):
        nd.arange(0)
    x = nd.ones((2, 3))
    assert nd.zeros_like(x).shape == (2, 3) and x.ones_like().dtype == np.float32


def test_random_is_seeded_float32_and_shape_1_by_default():
    nd.random.seed(3)
    a = nd.random.normal(0, 1, shape=(2, 3))
    nd.random.seed(3)
    b = nd.random.normal(0, 1, shape=(2, 3))
    assert (a == b).sum().asscalar() == 6 and a.dtype == np.float32
    assert nd.random.uniform().shape == (1,)
    u = nd.random.uniform(2, 3, shape=(1000,)).asnumpy()
    assert u.min() >= 2 and u.max() < 3


def test_attributes_and_conversion():
    x = nd.arange(6).reshape(2, 3)
    assert (x.shape, x.size, x.ndim, len(x)) == ((2, 3), 6, 2, 2)
    assert repr(x.context) == 'cpu(0)' and x.as_in_context(nd.cpu()) is x
    copy = x.asnumpy()
    copy[0, 0] = 100
    assert x.asnumpy()[0, 0] == 0
    assert isinstance(nd.array([3]).asscalar(), np.float32)
    with pytest.raises(ValueError, match='not a scalar'):
        x.asscalar()
    with pytest.raises(ValueError, match='ambiguous'):
        bool(x)
    assert bool(nd.array([1])) and not bool(nd.zeros((0,)))
    assert x.astype('int32').dtype == np.int32 and x.astype(np.float32, copy=False) is x


def test_repr_matches_mxnet():
    x = nd.arange(6).reshape(2, 3)
    assert repr(x) == '\n' + str(x.asnumpy()) + '\n<NDArray 2x3 @cpu(0)>'
    assert repr(nd.ones(4)).endswith('<NDArray 4 @cpu(0)>')


# -- broadcasting arithmetic against numpy -------------------------------------------------

@given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4), st.data())
def test_binary_ops_broadcast_like_numpy(shapes, data):
    (sa, sb), result = shapes
    a, b = data.draw(arrays(sa)), data.draw(arrays(sb))
    x, y = nd.array(a), nd.array(b)
    for got, want in [(x + y, a + b), (x - y, a - b), (x * y, a * b),
                      (nd.maximum(x, y), np.maximum(a, b)), (x >= y, (a >= b).astype(np.float32))]:
        assert got.shape == result and got.dtype == np.float32
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-6)
    assert nd.broadcast_shape(sa, sb) == np.broadcast_shapes(sa, sb)


def test_broadcast_error_names_both_shapes():
    with pytest.raises(MXNetError, match=r'operands could not be broadcast together with shapes \[2,3\] \[4\]'):
        nd.ones((2, 3)) + nd.ones(4)


def test_scalars_keep_dtype_and_other_types_are_rejected():
    x = nd.array([1, 2, 3])
    assert (x * 2).dtype == np.float32 and (2 - x).asnumpy().tolist() == [1, 0, -1]
    assert (2 ** x).asnumpy().tolist() == [2, 4, 8] and (x * np.float32(2)).dtype == np.float32
    for bad in ([1, 2, 3], np.ones(3), None):
        with pytest.raises(TypeError, match='not supported'):
            x + bad
    with pytest.raises(MXNetError, match='Incompatible attr'):
        x + nd.array([1, 2, 3], dtype='int32')


def test_unary_ops_and_quiet_log():
    x = nd.array([-2, 0, 3])
    assert x.relu().asnumpy().tolist() == [0, 0, 3] and abs(x).asnumpy().tolist() == [2, 0, 3]
    assert np.isneginf(nd.log(nd.zeros(1)).asnumpy()[0])
    s = nd.sigmoid(nd.array([-1000, 0, 1000])).asnumpy()
    assert np.isfinite(s).all() and s.tolist() == [0, 0.5, 1]
    assert abs(-3) == 3 and nd.sum([1, 2]) == 3          # the builtins still work on plain values


# -- reshape, indexing and memory ----------------------------------------------------------

@pytest.mark.parametrize('target,expected', [((5, -1), (5, 6)), ((0, -1), (2, 15)), ((-1, 0), (10, 3)),
                                             ((0, 0, 5), (2, 3, 5)), ((30,), (30,))])
def test_reshape_special_values(target, expected):
    x = nd.arange(30).reshape(2, 3, 5)
    assert x.reshape(target).shape == expected and x.reshape(*target).shape == expected


def test_reshape_errors_and_views():
    x = nd.arange(30)
    with pytest.raises(ValueError, match='Cannot reshape array of size 30 into shape'):
        x.reshape(2, 3)
    with pytest.raises(MXNetError, match='larger'):
        x.reshape(7, 7)
    with pytest.raises(MXNetError, match='One and only one dim can be inferred'):
        x.reshape(-1, -1)
    with pytest.raises(TypeError):
        x.reshape((2, 15), reverse=True)
    x.reshape(2, 15)[:] = 0
    assert x.sum().asscalar() == 0
    assert nd.ones((3, 4, 5)).flatten().shape == (3, 20)


def test_indexing_follows_mxnet():
    x = nd.arange(12).reshape(3, 4)
    assert x[1].shape == (4,) and x[1][2].shape == (1,) and x[1:3].shape == (2, 4)
    x[0][:] = -1
    assert x.asnumpy()[0].tolist() == [-1] * 4
    with pytest.raises(IndexError, match='out of bounds'):
        x[5]
    with pytest.raises(MXNetError, match='Invalid slicing range'):
        x[2:1]
    assert x[nd.array([0, 2])].shape == (2, 4)
    assert [row.shape for row in nd.arange(3)] == [(1,)] * 3


def test_in_place_updates_keep_identity_and_buffer():
    X, Y = nd.arange(4).reshape(2, 2), nd.ones((2, 2))
    Z = nd.zeros((2, 2))
    ident, buf = id(Z), Z._data
    Z[:] = X + Y
    assert id(Z) == ident and Z._data is buf
    assert nd.elemwise_add(X, Y, out=Z) is Z and Z._data is buf
    before = id(X)
    X += Y
    X *= 2
    assert id(X) == before and X.asnumpy().tolist() == [[2, 4], [6, 8]]
    with pytest.raises(MXNetError):
        Y += nd.ones((3, 2, 2))                   # would enlarge Y
    with pytest.raises(TypeError, match='not supported'):
        Y += [1]
    with pytest.raises(MXNetError, match=r'expected \[3,4\], got \[4,3\]'):
        nd.elemwise_add(nd.ones((3, 4)), nd.ones((4, 3)))
    y = Y + X
    assert y is not Y


def test_broadcast_view_shares_memory_with_zero_strides():
    col = np.arange(3, dtype=np.float32).reshape(3, 1)
    view = nd.broadcast_view(col, (2, 3, 4))
    assert np.shares_memory(view, col) and view.strides[0] == 0 and view.strides[2] == 0
    np.testing.assert_array_equal(view, np.broadcast_to(col, (2, 3, 4)))


# -- reductions, dot, take, pick -----------------------------------------------------------

@given(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), st.data())
def test_reductions_match_numpy_with_the_shape_1_rule(shape, data):
    a = data.draw(arrays(shape))
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    keepdims = data.draw(st.booleans())
    x = nd.array(a)
    for name in ('sum', 'mean', 'max', 'min'):
        got = getattr(x, name)(axis=axis, keepdims=keepdims)
        want = np.asarray(getattr(np, name)(a, axis=axis, keepdims=keepdims))
        assert got.shape == (want.shape or (1,))
        np.testing.assert_allclose(got.asnumpy().reshape(want.shape), want, rtol=1e-5, atol=1e-4)


def test_reduction_exclude_and_duplicates():
    x = nd.ones((2, 3, 4))
    assert x.sum(axis=1, exclude=True).asnumpy().tolist() == [8, 8, 8]
    with pytest.raises(MXNetError, match='Reduction axes have duplicates'):
        x.sum(axis=(1, -2))
    assert nd.array([[1, 5, 5]]).argmax(axis=1).asnumpy().tolist() == [1.0]
    assert nd.array([1, 5, 2]).argmax().shape == (1,)
    assert np.isclose(nd.array([3, 4]).norm().asscalar(), 5)


@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.data())
def test_dot_matches_numpy(m, k, n, data):
    a, b = data.draw(arrays((m, k))), data.draw(arrays((k, n)))
    np.testing.assert_allclose(nd.dot(nd.array(a), nd.array(b)).asnumpy(), a @ b, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(nd.dot(nd.array(a.T), nd.array(b), transpose_a=True).asnumpy(), a @ b,
                               rtol=1e-4, atol=1e-3)


def test_dot_shapes_and_errors():
    v = nd.array([1, 2, 3])
    assert nd.dot(v, v).shape == (1,) and nd.dot(v, v).asscalar() == 14
    assert nd.dot(nd.ones((2, 3, 4)), nd.ones((4, 5))).shape == (2, 3, 5)
    with pytest.raises(MXNetError, match=r'dot shape error: \[3,4\] X \[5,6\]'):
        nd.dot(nd.ones((3, 4)), nd.ones((5, 6)))
    with pytest.raises(AssertionError, match='must have NDArray type'):
        nd.dot([[1]], nd.ones((1, 1)))


def test_take_and_pick_follow_mxnet():
    a = nd.arange(12).reshape(4, 3)
    assert nd.take(a, nd.array([2, 0])).asnumpy()[:, 0].tolist() == [6, 0]
    assert nd.take(a, nd.array([-1, 9])).asnumpy()[:, 0].tolist() == [0, 9]       # clip, no wrap
    assert nd.take(a, nd.array([-1]), mode='wrap').asnumpy()[0, 0] == 9
    assert nd.take(a, nd.array([[0, 1]])).shape == (1, 2, 3)
    y_hat = nd.array([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    np.testing.assert_allclose(nd.pick(y_hat, nd.array([0, 2])).asnumpy(), [0.1, 0.5])
    assert y_hat.pick(nd.array([0, 2]), keepdims=True).shape == (2, 1)
    with pytest.raises(MXNetError):
        nd.pick(y_hat, nd.array([0, 1, 2]))


# -- joining and saving --------------------------------------------------------------------

def test_concat_stack_add_n():
    x, y = nd.ones((2, 3)), nd.zeros((2, 3))
    assert nd.concat(x, y).shape == (2, 6) and nd.concat(x, y, dim=0).shape == (4, 3)
    assert nd.stack(x, y).shape == (2, 2, 3) and nd.stack(x, y, axis=2).shape == (2, 3, 2)
    assert nd.add_n(x, x, y).sum().asscalar() == 12
    with pytest.raises(MXNetError):
        nd.concat(nd.ones(3), nd.ones(3))                                           # default dim=1
    with pytest.raises(AssertionError, match='must have NDArray type'):
        nd.add_n(x, [1])


def test_save_load_round_trip_and_errors(tmp_path):
    f = str(tmp_path / 'x')
    nd.save(f, nd.ones(3))
    assert isinstance(nd.load(f), list) and nd.load(f)[0].asnumpy().tolist() == [1, 1, 1]
    assert os.path.exists(f)                                # no '.npz' appended
    nd.save(f, {'w': nd.arange(4).reshape(2, 2), 'b': nd.zeros(2, dtype='int32')})
    loaded = nd.load(f)
    assert sorted(loaded) == ['b', 'w'] and loaded['b'].dtype == np.int32
    nd.save(f, [nd.ones(1), nd.zeros(2)])
    assert [a.shape for a in nd.load(f)] == [(1,), (2,)]
    with pytest.raises(ValueError, match='data needs to either be'):
        nd.save(f, (nd.ones(1),))
    with pytest.raises(TypeError, match='save only accept'):
        nd.save(f, {1: nd.ones(1)})
    with pytest.raises(TypeError, match='fname required to be a string'):
        nd.load(tmp_path)
    (tmp_path / 'junk').write_bytes(b'not an archive')
    with pytest.raises(MXNetError, match='not a file written by nd.save'):
        nd.load(str(tmp_path / 'junk'))
