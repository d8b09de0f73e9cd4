"""The seed notes' listings (section 一.6, and the module names of 一.4) run on minimx as written.

Each test is the listing from seed/000_c7c38b4f497ce5f1.txt with `mxnet` replaced by `minimx`
and the typos CHAPTERS.md lists fixed (a missing parenthesis, a full-width comma); comments
say where a listing needed anything else.
"""
import os

import numpy as np
import pytest

from minimx import autograd as ag
from minimx import gluon, init, nd
from minimx.gluon import nn


def test_6_1_building_networks():
    class MySequential(nn.Block):
        def __init__(self, **kwargs):
            super(MySequential, self).__init__(**kwargs)

        def add(self, block):
            self._children[block.name] = block

        def forward(self, x):
            for block in self._children.values():
                x = block(x)
            return x

    class FancyMLP(nn.Block):
        def __init__(self, **kwargs):
            super(FancyMLP, self).__init__(**kwargs)
            self.rand_weight = self.params.get_constant("rand_weight", nd.random.uniform(shape=(10, 10)))
            self.dense = nn.Dense(10, activation="relu")

        def forward(self, x):
            x = self.dense(x)
            x = nd.relu(nd.dot(x, self.rand_weight.data()) + 1)
            x = self.dense(x)
            while x.norm().asscalar() > 1:
                x /= 2
            if x.norm().asscalar() < 0.8:
                x *= 10
            return x.sum()

    class MLP(nn.Block):
        def __init__(self, **kwargs):
            super(MLP, self).__init__(**kwargs)
            self.hidden = nn.Dense(20, activation="relu")
            self.output = nn.Dense(10)

        def forward(self, x):
            return self.output(self.hidden(x))

    class NestMLP(nn.Block):                 # the seed's "wrong example": forward returns None
        def __init__(self, **kwargs):
            super(NestMLP, self).__init__(**kwargs)
            self.rand_weight = self.params.get_constant('rand_weight', nd.random.uniform(shape=(10, 10)))
            self.dense = nn.Dense(20, activation="relu")

        def add(self, block):
            self._children[block.name] = block

        def forward(self, x):
            for block in self._children.values():
                x = block(x)

    net = nn.Sequential()
    net.add(MLP(), nn.Dense(10), FancyMLP())
    net.initialize()
    X = nd.random.uniform(shape=(20, 20))
    assert net(X).shape == (1,)
    my = MySequential()
    my.add(nn.Dense(256, activation='relu'))
    my.add(nn.Dense(10))
    my.initialize()
    assert my(X).shape == (20, 10)
    nest = NestMLP()
    nest.initialize()
    assert nest(X) is None                   # the bug the chapter explains


def test_6_2_parameters_access_init_sharing(capsys):
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu"))
    net.add(nn.Dense(10))
    net.initialize()
    X = nd.random.uniform(shape=(2, 20))
    Y = net(X)
    get_net = nn.Sequential()
    get_net.add(nn.Dense(256, activation="relu"))
    get_net.add(nn.Dense(10))
    with pytest.raises(RuntimeError, match='has not been initialized'):
        get_net(X)
    assert net[0].params and (net[0].weight, net[0].bias)
    assert net[0].weight.data().shape == (256, 20) and net[0].bias.data().shape == (256,)
    assert net[0].weight.grad().shape == (256, 20)
    assert len(net.collect_params()) == 4 and len(net.collect_params(".*weight")) == 2

    class MyInit(init.Initializer):
        def _init_weight(self, name, data):
            print("Init", name, data.shape)
            data[:] = nd.random.uniform(low=-10, high=10, shape=data.shape)
            data *= data.abs() >= 5

    net.initialize(MyInit(), force_reinit=True)
    assert capsys.readouterr().out.count('Init') == 2          # weights only: biases have 'zeros'
    w = net[0].weight.data()
    net[0].weight.set_data(net[0].weight.data() + 1)
    assert net[0].weight.data() is w

    net = nn.Sequential()
    shared = nn.Dense(8)
    net.add(nn.Dense(8, activation="relu"), shared, nn.Dense(8, activation="relu", params=shared.params), nn.Dense(10))
    net.initialize()
    X = nd.random.uniform(shape=(2, 20))
    net(X)
    assert (net[1].weight.data() == net[2].weight.data()).min().asscalar() == 1

    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu", in_units=20))
    net.add(nn.Dense(10, in_units=256))

    class MyInit2(init.Initializer):
        def _init_weight(self, name, data):
            print('Init', name, data.shape)

    net.initialize(init=MyInit2())
    printed = capsys.readouterr().out
    assert '(256, 20)' in printed and '(10, 256)' in printed      # at initialize(): in_units known


def test_6_3_saving_and_loading(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)             # the listing writes 'x' and 'mlp_params' to the working folder
    x = nd.ones(3)
    nd.save("x", x)
    assert nd.load('x')[0].asnumpy().tolist() == [1, 1, 1]

    class MLP(nn.Block):
        def __init__(self, **kwargs):
            super(MLP, self).__init__(**kwargs)
            self.hidden = nn.Dense(256, activation="relu")
            self.output = nn.Dense(10)

        def forward(self, x):
            return self.output(self.hidden(x))

    net = MLP()
    net.initialize()
    X = nd.random.uniform(shape=(2, 20))
    print(net(X))
    filename = 'mlp_params'
    net.save_parameters(filename)
    net2 = MLP()
    net2.load_parameters(filename)
    net2(X)
    same = net2(X) == net(X)
    assert same.min().asscalar() == 1                        # bit-identical outputs
    assert os.path.exists('mlp_params')


def test_6_4_custom_layers():
    class CenterLayer(nn.Block):
        def __init__(self, **kwargs):
            super(CenterLayer, self).__init__(**kwargs)

        def forward(self, x):
            return x - x.mean()

    net = nn.Sequential()
    net.add(nn.Dense(128), CenterLayer())
    net.initialize()
    y = net(nd.random.uniform(shape=(4, 8)))
    assert abs(y.mean().asscalar()) < 1e-6

    my_param = gluon.Parameter('my_param', shape=(2, 20))          # the closing ')' restored
    my_param.initialize()
    assert (my_param.data().shape, my_param.grad().shape) == ((2, 20), (2, 20))
    params = gluon.ParameterDict()
    params.get('param2', shape=(2, 3))
    assert 'param2' in repr(params)

    class MyDense(nn.Block):
        def __init__(self, units, in_units, **kwargs):
            super(MyDense, self).__init__(**kwargs)
            self.weight = self.params.get('weight', shape=(in_units, units))
            self.bias = self.params.get('bias', shape=(units,))

        def forward(self, x):
            linear = nd.dot(x, self.weight.data()) + self.bias.data()
            return nd.relu(linear)

    dense = MyDense(in_units=5, units=3, prefix='oomydense')        # ',' instead of the full-width '，'
    dense.initialize()
    assert list(dense.params.keys()) == ['oomydenseweight', 'oomydensebias']
    assert dense(nd.random.uniform(shape=(2, 5))).shape == (2, 3)
    net = nn.Sequential()
    net.add(MyDense(in_units=256, units=128), MyDense(in_units=128, units=10))
    net.initialize()
    assert net(nd.random.uniform(shape=(2, 256))).shape == (2, 10)


def test_reloaded_network_is_bit_identical_and_bad_files_are_refused(tmp_path):
    net = nn.Sequential()
    net.add(nn.Dense(64, activation='relu'), nn.Dropout(0.5), nn.Dense(10))
    net.initialize(init.Xavier())
    X = nd.random.uniform(shape=(4, 30))
    net(X)
    path = str(tmp_path / 'net.params')
    net.save_parameters(path)
    fresh = nn.Sequential()
    fresh.add(nn.Dense(64, activation='relu'), nn.Dropout(0.5), nn.Dense(10))
    fresh.load_parameters(path)
    assert (fresh(X).asnumpy() == net(X).asnumpy()).all()
    smaller = nn.Sequential()
    smaller.add(nn.Dense(64, activation='relu'))
    with pytest.raises(ValueError, match="Parameter '2.weight' loaded from file .* is not present"):
        smaller.load_parameters(path)
    wider = nn.Sequential()
    wider.add(nn.Dense(65, activation='relu'), nn.Dropout(0.5), nn.Dense(10))
    wider.initialize()
    wider(X)
    with pytest.raises(AssertionError, match='shape incompatible expected \\(65, 30\\) vs saved \\(64, 30\\)'):
        wider.load_parameters(path)


def test_gluon_training_step_matches_mxnet():
    x = gluon.Parameter('x', shape=(10,), init='zeros')
    x.initialize()
    trainer = gluon.Trainer([x], 'sgd', {'learning_rate': 1.0, 'momentum': 0.5})
    with ag.record():
        y = x.data() + 1
    y.backward()
    trainer.step(1)
    assert x.data().asnumpy().tolist() == [-1.0] * 10


def test_mxnet_module_names():
    """`from mxnet import ndarray as nd` (the seed's MLP listing, 一.4) and `mx.base.MXNetError`
    (API.md §0) name the same objects in minimx as in MXNet."""
    import minimx
    from minimx import base
    from minimx import ndarray as nd_long
    import minimx.ndarray
    from minimx.ndarray import NDArray

    assert nd_long is nd and minimx.ndarray is minimx.nd and NDArray is nd.NDArray
    assert issubclass(base.MXNetError, RuntimeError) and base.MXNetError is nd.MXNetError
    with pytest.raises(base.MXNetError, match='operands could not be broadcast'):
        nd.ones((2, 3)) + nd.ones(4)


def test_mlp_listing_with_the_long_module_name():
    """The start of the seed's 一.4 listing, which imports `ndarray as nd`, on one random batch
    (the full training run is tests/test_training.py's)."""
    from minimx import autograd as ag
    from minimx import ndarray as nd

    num_inputs, num_outputs, num_hiddens = 28 * 28, 10, 256
    nd.random.seed(0)
    w1 = nd.random.normal(scale=0.01, shape=(num_inputs, num_hiddens))
    b1 = nd.zeros(num_hiddens)
    w2 = nd.random.normal(scale=0.01, shape=(num_hiddens, num_outputs))
    b2 = nd.zeros(num_outputs)
    for param in [w1, b1, w2, b2]:
        param.attach_grad()

    def relu(X):
        return nd.maximum(X, 0)

    def Softmax(X):
        X_sum_exp = X.exp().sum(axis=1, keepdims=True)
        return X.exp() / X_sum_exp

    def net(X):
        X = X.reshape(-1, num_inputs)
        H1 = relu(nd.dot(X, w1) + b1)
        return Softmax(nd.dot(H1, w2) + b2)

    def cross_entropy(y_hat, y):
        return -nd.pick(y_hat, y).log()

    X = nd.random.uniform(shape=(8, 1, 28, 28))
    y = nd.array([0, 1, 2, 3, 4, 5, 6, 7])
    with ag.record():
        l = cross_entropy(net(X), y).sum()
    l.backward()
    assert l.shape == (1,) and abs(l.asscalar() - 8 * float(np.log(10))) < 0.1
    assert w1.grad.shape == (784, 256) and float(abs(w2.grad).sum().asscalar()) > 0
