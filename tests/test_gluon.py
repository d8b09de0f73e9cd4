"""minimx.gluon and minimx.init against MXNet 1.x's documented behaviour (shared/API.md §3–8)."""
import numpy as np
import pytest

from minimx import autograd, gluon, init, nd
from minimx.gluon import loss as gloss
from minimx.gluon import nn
from minimx.nd import MXNetError


def test_naming_counters_and_name_scope():
    a, b = nn.Dense(2), nn.Dense(2)
    assert int(b.prefix[5:-1]) == int(a.prefix[5:-1]) + 1 and a.name == a.prefix[:-1]
    outer = nn.Sequential(prefix='model_')
    with outer.name_scope():
        outer.add(nn.Dense(3), nn.Dense(4))
    assert [outer[0].prefix, outer[1].prefix] == ['model_dense0_', 'model_dense1_']
    assert list(outer.collect_params()) == ['model_dense0_weight', 'model_dense0_bias',
                                            'model_dense1_weight', 'model_dense1_bias']
    act = nn.Dense(2, activation='relu', prefix='d_')
    assert act.act.prefix == 'd_relu_'


def test_repr_and_deferred_shapes():
    net = nn.Sequential()
    net.add(nn.Dense(256, activation='relu', in_units=20), nn.Dense(10))
    assert repr(net) == ('Sequential(\n  (0): Dense(20 -> 256, Activation(relu))\n'
                         '  (1): Dense(None -> 10, linear)\n)')
    assert net[1].weight.shape == (10, 0)
    p = gluon.Parameter('p', shape=(2, 3))
    assert repr(p) == "Parameter p (shape=(2, 3), dtype=<class 'numpy.float32'>)"


def test_initialization_errors_and_warnings():
    net = nn.Dense(3)
    with pytest.raises(RuntimeError, match='has not been initialized. Note that you should initialize'):
        net(nd.ones((1, 2)))
    net.initialize()
    with pytest.raises(gluon.DeferredInitializationError, match='initialization was deferred'):
        net.weight.data()
    net(nd.ones((1, 2)))
    with pytest.warns(UserWarning, match='is already initialized, ignoring. Set force_reinit=True'):
        net.initialize()
    old = net.weight.data()
    net.initialize(force_reinit=True)
    assert net.weight.data() is not old                    # force_reinit replaces the data objects
    with pytest.raises(ValueError, match='invalid shape'):
        gluon.Parameter('q', shape=(3, 0)).initialize()
    with pytest.raises(AssertionError, match="grad_req must be one of 'write', 'add', or 'null'"):
        gluon.Parameter('r', grad_req='sometimes')


def test_initializer_rules():
    net = nn.Dense(4, in_units=3)
    net.initialize(init.Constant(1))
    assert net.weight.data().asnumpy().min() == 1 and net.bias.data().asnumpy().max() == 0   # bias: 'zeros'
    with pytest.raises(ValueError, match='Xavier initializer cannot be applied to vector'):
        nn.Dense(4, in_units=3, weight_initializer='zeros', bias_initializer=init.Xavier()).initialize()
    assert isinstance(init.create('zeros'), init.Zero) and isinstance(init.create('ones'), init.One)
    u = nd.zeros((500, 100))
    init.Uniform()('w', u)
    assert 0.06 < u.abs().max().asscalar() <= 0.07


def test_collect_params_select_uses_re_match():
    net = nn.Sequential(prefix='test_')
    with net.name_scope():
        net.add(nn.Dense(2), nn.Dense(2))
    assert len(net.collect_params('.*weight')) == 2
    assert len(net.collect_params('weight')) == 0
    assert list(net.collect_params('test_dense0_bias|test_dense1_bias')) == ['test_dense0_bias', 'test_dense1_bias']


def test_sharing_accumulates_gradients():
    shared = nn.Dense(3, in_units=3)
    twin = nn.Dense(3, in_units=3, params=shared.params)
    assert twin.weight is shared.weight
    shared.initialize()
    x = nd.ones((1, 3))
    with autograd.record():
        y = (shared(x) + twin(x)).sum()
    y.backward()
    np.testing.assert_allclose(shared.weight.grad().asnumpy(), 2 * np.ones((3, 3)))


def test_layers_follow_mxnet():
    x = nd.random.normal(shape=(3, 4, 5, 6))
    assert nn.Flatten()(x).shape == (3, 120) and nn.Flatten()(nd.ones((3,))).shape == (3, 1)
    drop = nn.Dropout(0.5)
    assert (drop(x) == x).min().asscalar() == 1            # identity outside training
    with autograd.train_mode():
        out = drop(nd.ones((100, 100))).asnumpy()
    assert set(np.unique(out)) <= {0.0, 2.0} and 0.4 < (out == 0).mean() < 0.6
    with pytest.raises(ValueError, match='In HybridBlock, there must be one NDArray'):
        nn.Dense(2, in_units=2)(np.ones((1, 2)))
    dense = nn.Dense(5, in_units=20)
    dense.initialize()
    with pytest.raises(MXNetError, match=r'Shape inconsistent, Provided = \[5,20\], inferred shape=\[5,10\]'):
        dense(nd.ones((2, 10)))


def test_losses_return_one_value_per_example():
    pred, label = nd.array([[1., 2.], [3., 5.]]), nd.array([[0., 2.], [3., 1.]])
    np.testing.assert_allclose(gloss.L2Loss()(pred, label).asnumpy(), [0.25, 4.0])   # ½·mean of squares
    assert gloss.L2Loss()(nd.array([1., 2.]), nd.array([0., 0.])).shape == (2,)
    ce = gloss.SoftmaxCELoss()(nd.array([[0., 0.], [0., 0.]]), nd.array([0, 1]))
    np.testing.assert_allclose(ce.asnumpy(), [np.log(2)] * 2, rtol=1e-6)


def test_trainer_rules():
    with pytest.raises(ValueError, match='First argument must be a list or dict of Parameters'):
        gluon.Trainer('params', 'sgd')
    with pytest.raises(RuntimeError, match='has not been initialized'):
        gluon.Trainer([gluon.Parameter('u', shape=(1,))], 'sgd')
    net = nn.Dense(1, in_units=1)
    net.initialize(init.One())
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1, 'wd': 1.0})
    assert trainer.learning_rate == 0.1
    with autograd.record():
        y = net(nd.array([[2.]])).sum()
    y.backward()
    trainer.step(2)
    # w = (1 - 0.1)·1 - 0.1·(2 / 2) = 0.8; the bias decays too: (1 - 0.1)·0 - 0.1·(1 / 2) = -0.05
    np.testing.assert_allclose(net.weight.data().asnumpy(), [[0.8]], rtol=1e-6)
    np.testing.assert_allclose(net.bias.data().asnumpy(), [-0.05], rtol=1e-6)
    with pytest.raises(UserWarning, match='has not been updated by backward since last `step`'):
        trainer.step(1)
    trainer.set_learning_rate(0.5)
    assert trainer.learning_rate == 0.5


def test_constant_parameters_are_not_trained():
    class WithConstant(nn.Block):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.c = self.params.get_constant('c', nd.ones((2,)))

        def forward(self, x):
            return x * self.c.data()

    block = WithConstant()
    block.initialize()
    assert block.c.grad_req == 'null'
    with pytest.raises(KeyError, match="No constant named 'd'"):
        block.params.get_constant('d')
    trainer = gluon.Trainer(block.collect_params(), 'sgd')
    trainer.step(1)                                         # nothing to update, nothing stale
    assert block(nd.ones(2)).asnumpy().tolist() == [1, 1]


def test_batch_norm_layer_matches_mxnet():
    """nn.BatchNorm (chapter 13): MXNet 1.x's parameters, defaults and modes. Facts from MXNet's
    gluon/nn/basic_layers.py and src/operator/nn/batch_norm.cc: gamma/beta/running_mean/running_var
    initialized ones/zeros/zeros/ones, the running ones with grad_req 'null'; fix_gamma = not scale;
    the batch variance is the biased one (divided by m), and the moving averages are
    momentum * moving + (1 - momentum) * batch statistic."""
    bn = nn.BatchNorm()
    assert bn.prefix.startswith('batchnorm') and bn.gamma.shape == (0,)
    bn.initialize()
    x = nd.array(np.arange(12, dtype=np.float32).reshape(3, 2, 2) ** 1.5)
    with autograd.record():
        y = bn(x)
    assert [p.name[len(bn.prefix):] for p in bn.params.values()] == ['gamma', 'beta', 'running_mean', 'running_var']
    assert [p.grad_req for p in bn.params.values()] == ['write', 'write', 'null', 'null']
    assert repr(bn) == ('BatchNorm(axis=1, eps=1e-05, momentum=0.9, fix_gamma=False, use_global_stats=False, '
                        'in_channels=2)')
    xs = x.asnumpy().astype(np.float64)
    mean, var = xs.mean(axis=(0, 2)), xs.var(axis=(0, 2))                  # biased variance
    np.testing.assert_allclose(y.asnumpy(), (xs - mean[:, None]) / np.sqrt(var[:, None] + 1e-5), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.data().asnumpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.data().asnumpy(), 0.9 + 0.1 * var, rtol=1e-5)
    with autograd.record(train_mode=False):                                  # prediction: the running ones
        z = bn(x)
    np.testing.assert_allclose(z.asnumpy(), (xs - 0.1 * mean[:, None]) / np.sqrt(0.9 + 0.1 * var[:, None] + 1e-5),
                               rtol=1e-4, atol=1e-5)
    trainer = gluon.Trainer(bn.collect_params(), 'sgd', {'learning_rate': 0.1})
    with autograd.record():
        loss = (bn(x) * nd.array(np.arange(12, dtype=np.float32).reshape(3, 2, 2))).sum()
    loss.backward()
    statistics = [bn.running_mean.data().asnumpy(), bn.running_var.data().asnumpy()]
    gamma = bn.gamma.data().asnumpy()
    trainer.step(1)                                                          # the running statistics are not trained
    assert not np.allclose(bn.gamma.data().asnumpy(), gamma)
    np.testing.assert_array_equal(bn.running_mean.data().asnumpy(), statistics[0])
    np.testing.assert_array_equal(bn.running_var.data().asnumpy(), statistics[1])
    fixed = nn.BatchNorm(scale=False, center=False, in_channels=2)
    fixed.initialize()
    assert (fixed.gamma.grad_req, fixed.beta.grad_req) == ('null', 'null')
    with pytest.raises(MXNetError, match='Shape inconsistent'):
        nd.BatchNorm(x, nd.ones(3), nd.zeros(2), nd.zeros(2), nd.ones(2))
    assert nn.GlobalAvgPool2D()(nd.ones((2, 3, 5, 4))).shape == (2, 3, 1, 1)
