"""minimx.optimizer (chapters 8 and 12) against MXNet 1.x's update rules, computed by hand.

Each optimizer is made by name, as `gluon.Trainer` makes it, with every hyper-parameter set to a
value other than its default, and run for several steps on gradients that make clipping bite;
the expected weights and states are MXNet's formulas in numpy float64. Then the registry, the
defaults, and a Trainer given an Optimizer instance.
"""
import warnings

import numpy as np
import pytest

from minimx import autograd, d2l, gluon, init, nd
from minimx import optimizer as opt

W0 = np.array([1.0, -2.0, 0.5, 3.0])
GRADS = [np.array([0.4, -3.0, 1.0, 0.2]), np.array([-1.5, 0.5, 2.5, -0.1]), np.array([0.3, 0.3, -4.0, 1.0])]


def clip(g, c):
    return g if c is None else np.clip(g, -c, c)


def run(name, index=0, **kwargs):
    """The weight and state after one update per gradient of GRADS, by the named optimizer."""
    optimizer = opt.create(name, **kwargs)
    weight = nd.array(W0)
    state = optimizer.create_state(index, weight)
    for g in GRADS:
        optimizer.update(index, weight, nd.array(g), state)
    return weight.asnumpy(), state


def close(got, want):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, rtol=2e-5, atol=1e-6)


def test_sgd_with_momentum_weight_decay_clipping_and_rescaling():
    w, v = W0.copy(), np.zeros(4)
    for g in GRADS:
        v = 0.7 * v + 0.3 * (clip(0.5 * g, 0.6) + 0.2 * w)     # MXNet: clip(rescale·grad), then wd
        w = w - v
    got, state = run('sgd', learning_rate=0.3, momentum=0.7, wd=0.2, rescale_grad=0.5, clip_gradient=0.6)
    close(got, w)
    close(state.asnumpy(), v)
    w = W0.copy()
    for g in GRADS:
        w = (1 - 0.3 * 0.2) * w - 0.3 * clip(0.5 * g, 0.6)
    got, state = run('SGD', learning_rate=0.3, wd=0.2, rescale_grad=0.5, clip_gradient=0.6)
    close(got, w)
    assert state is None


def test_adagrad_eps_inside_the_root_and_weight_decay_after_the_division():
    w, h = W0.copy(), np.zeros(4)
    for g in GRADS:
        g = clip(0.5 * g, 0.6)
        h = h + g ** 2
        w = w - 0.2 * (g / np.sqrt(h + 0.01) + 0.1 * w)
    got, state = run('adagrad', learning_rate=0.2, eps=0.01, wd=0.1, rescale_grad=0.5, clip_gradient=0.6)
    close(got, w)
    close(state.asnumpy(), h)


def test_rmsprop_weight_decay_before_clipping():
    w, n = W0.copy(), np.zeros(4)
    for g in GRADS:
        g = clip(0.5 * g + 0.1 * w, 0.6)
        n = 0.8 * n + 0.2 * g ** 2
        w = w - 0.05 * g / np.sqrt(n + 0.01)
    got, state = run('rmsprop', learning_rate=0.05, gamma1=0.8, epsilon=0.01, wd=0.1, rescale_grad=0.5,
                     clip_gradient=0.6)
    close(got, w)
    close(state[0].asnumpy(), n)


def test_rmsprop_centered_with_momentum_and_clipped_weights():
    w, n, m, delta = W0.copy(), np.zeros(4), np.zeros(4), np.zeros(4)
    for g in GRADS:
        g = clip(0.5 * g + 0.1 * w, 0.6)
        n = 0.8 * n + 0.2 * g ** 2
        m = 0.8 * m + 0.2 * g
        delta = 0.7 * delta - 0.05 * g / np.sqrt(n - m ** 2 + 0.01)
        w = np.clip(w + delta, -2.5, 2.5)
    got, state = run('rmsprop', learning_rate=0.05, gamma1=0.8, gamma2=0.7, epsilon=0.01, centered=True,
                     clip_weights=2.5, wd=0.1, rescale_grad=0.5, clip_gradient=0.6)
    close(got, w)
    assert len(state) == 3
    close(state[2].asnumpy(), delta)


def test_adadelta_has_no_learning_rate_and_unscaled_weight_decay():
    w, acc_g, acc_d = W0.copy(), np.zeros(4), np.zeros(4)
    for g in GRADS:
        g = clip(0.5 * g, 0.6)
        acc_g = 0.8 * acc_g + 0.2 * g ** 2
        step = np.sqrt(acc_d + 0.01) / np.sqrt(acc_g + 0.01) * g
        acc_d = 0.8 * acc_d + 0.2 * step ** 2
        w = w - (step + 0.1 * w)
    kwargs = dict(rho=0.8, epsilon=0.01, wd=0.1, rescale_grad=0.5, clip_gradient=0.6)
    got, state = run('adadelta', **kwargs)
    close(got, w)
    close(state[1].asnumpy(), acc_d)
    close(run('adadelta', learning_rate=123.0, **kwargs)[0], w)        # the learning rate is ignored


def test_adam_bias_correction_in_the_learning_rate_and_epsilon_outside_the_root():
    w, m, v = W0.copy(), np.zeros(4), np.zeros(4)
    for t, g in enumerate(GRADS, 1):
        g = clip(0.5 * g + 0.1 * w, 0.6)
        m = 0.8 * m + 0.2 * g
        v = 0.9 * v + 0.1 * g ** 2
        w = w - 0.05 * np.sqrt(1 - 0.9 ** t) / (1 - 0.8 ** t) * m / (np.sqrt(v) + 0.01)
    got, state = run('adam', learning_rate=0.05, beta1=0.8, beta2=0.9, epsilon=0.01, wd=0.1, rescale_grad=0.5,
                     clip_gradient=0.6)
    close(got, w)
    close(state[0].asnumpy(), m)
    close(state[1].asnumpy(), v)


@pytest.mark.parametrize('name, defaults', [
    ('sgd', {'learning_rate': 0.01, 'momentum': 0.0}),
    ('adagrad', {'learning_rate': 0.01, 'float_stable_eps': 1e-7}),
    ('rmsprop', {'learning_rate': 0.001, 'gamma1': 0.9, 'gamma2': 0.9, 'epsilon': 1e-8, 'centered': False,
                 'clip_weights': None}),
    ('adadelta', {'rho': 0.9, 'epsilon': 1e-5}),
    ('adam', {'learning_rate': 0.001, 'beta1': 0.9, 'beta2': 0.999, 'epsilon': 1e-8}),
])
def test_mxnet_defaults(name, defaults):
    optimizer = opt.create(name)
    assert {k: getattr(optimizer, k) for k in defaults} == defaults
    assert (optimizer.wd, optimizer.rescale_grad, optimizer.clip_gradient) == (0.0, 1.0, None)


def initialized(name):
    p = gluon.Parameter(name, shape=(1,), init='zeros')
    p.initialize()
    return p


def test_the_registry_names_what_it_knows_and_refuses_what_it_does_not():
    assert isinstance(opt.create('AdaM'), opt.Adam) and opt.create is opt.create_optimizer
    with pytest.raises(ValueError, match='Cannot find optimizer nadam; the registered optimizers are '
                                         'adadelta, adagrad, adam, rmsprop, sgd'):
        opt.create('nadam')
    with pytest.raises(ValueError, match=r"unknown optimizer_params \['betas'\]; adam takes .*'beta1'"):
        opt.create('adam', betas=(0.9, 0.99))
    with pytest.raises(ValueError, match='Cannot find optimizer lbfgs'):
        gluon.Trainer([initialized('p')], 'lbfgs')

    @opt.register
    class Sign(opt.Optimizer):
        def update(self, index, weight, grad, state):
            weight[:] = weight - self.lr * grad.sign()
    try:
        assert isinstance(opt.create('sign', learning_rate=0.5), Sign)
        with pytest.warns(UserWarning, match='is overriding existing optimizer'):
            opt.register(Sign)
    finally:
        del opt.Optimizer.opt_registry['sign']


def trained(trainer_args, steps=2, batch_size=2):
    """A Dense(1) without bias, weight 1, trained `steps` times on x = [[1, 2]], y = its output."""
    net = gluon.nn.Dense(1, in_units=2, use_bias=False)
    net.initialize(init.One())
    trainer = gluon.Trainer(net.collect_params(), *trainer_args)
    for _ in range(steps):
        with autograd.record():
            y = net(nd.array([[1.0, 2.0]])).sum()
        y.backward()
        trainer.step(batch_size)
    return net.weight.data().asnumpy().ravel(), trainer


def test_a_trainer_takes_an_optimizer_instance_and_gives_it_the_parameters():
    adam = opt.Adam(learning_rate=0.1, wd=0.01)
    by_instance, trainer = trained([adam])
    by_name, _ = trained(['adam', {'learning_rate': 0.1, 'wd': 0.01}])
    close(by_instance, by_name)
    assert trainer.optimizer is adam and list(adam.param_dict.values()) == list(trainer._params)
    assert adam._index_update_count == {0: 2} and trainer.learning_rate == 0.1
    trainer.set_learning_rate(0.05)
    assert adam.learning_rate == 0.05
    with pytest.raises(AssertionError, match='optimizer_params must be None if optimizer is an instance'):
        gluon.Trainer([initialized('q')], opt.SGD(), {'learning_rate': 1.0})


def test_the_trainer_rescales_by_the_batch_size_and_the_parameters_multipliers_apply():
    net = gluon.nn.Dense(1, in_units=1)
    net.initialize(init.One())
    net.weight.lr_mult, net.bias.wd_mult = 0.5, 0.0
    trainer = gluon.Trainer(net.collect_params(), 'rmsprop',
                            {'learning_rate': 0.1, 'wd': 0.5, 'rescale_grad': 2.0, 'gamma1': 0.5})
    with autograd.record():
        y = net(nd.array([[3.0]])).sum()
    y.backward()
    trainer.step(4)                        # rescale_grad = 2 / 4; the bias is index 0, the weight index 1
    assert trainer.optimizer.rescale_grad == 0.5
    g_w, g_b = 0.5 * 3.0 + 0.5 * 1.0, 0.5 * 1.0 + 0.0
    close(net.weight.data().asnumpy().ravel(), [1.0 - 0.05 * g_w / np.sqrt(0.5 * g_w ** 2 + 1e-8)])
    close(net.bias.data().asnumpy(), [0.0 - 0.1 * g_b / np.sqrt(0.5 * g_b ** 2 + 1e-8)])   # the bias starts at 0


def test_get_data_ch7_reads_the_airfoil_format(tmp_path):
    rng = np.random.default_rng(7)
    table = rng.standard_normal((1503, 6)) * [800, 5, 0.1, 40, 0.01, 7] + [2000, 6, 0.1, 50, 0.01, 125]
    path = tmp_path / 'airfoil_self_noise.dat'
    path.write_text('\n'.join('\t'.join(f'{x:.6f}' for x in row) for row in table) + '\n')
    table = np.loadtxt(path, delimiter='\t')
    features, labels = d2l.get_data_ch7(str(path))
    standard = (table - table.mean(axis=0)) / table.std(axis=0)
    assert features.shape == (1500, 5) and labels.shape == (1500,) and features.dtype == np.float32
    close(features.asnumpy(), standard[:1500, :5])
    close(labels.asnumpy(), standard[:1500, 5])
    (tmp_path / 'bad.dat').write_text('1\t2\t3\n4\t5\t6\n')
    with pytest.raises(ValueError, match=r'bad\.dat: expected rows of 6 tab-separated numbers .* found 3 columns'):
        d2l.get_data_ch7(str(tmp_path / 'bad.dat'))


def test_the_chapter_7_helpers_are_d2ls():
    from minimx import d2l_optim
    for name in ('show_trace_2d', 'train_2d', 'get_data_ch7', 'train_ch7', 'train_gluon_ch7'):
        assert getattr(d2l, name) is getattr(d2l_optim, name)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        points = d2l.train_2d(lambda x1, x2, s1, s2: (x1 * 0.5, x2 * 0.5, s1, s2), num_steps=2)
    assert points == [(-5, -2), (-2.5, -1.0), (-1.25, -0.5)]
