"""minimx.gluon.data, its vision transforms, the devices and the binary cross-entropy (chapter 11)
against MXNet 1.x's documented behaviour, used as d2l-zh's concise chapters use them."""
import numpy as np
import pytest

import minimx as mx
from minimx import autograd, d2l, nd
from minimx.autograd import check_gradient
from minimx.gluon import data as gdata
from minimx.gluon import loss as gloss

transforms = gdata.vision.transforms


def test_batch_sampler_keeps_discards_and_rolls_over():
    # MXNet's own docstring example, then the other two ways to end an epoch
    keep = gdata.BatchSampler(gdata.SequentialSampler(10), 3, 'keep')
    assert list(keep) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]] and len(keep) == 4
    discard = gdata.BatchSampler(gdata.SequentialSampler(10), 3, 'discard')
    assert list(discard) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]] and len(discard) == 3
    rolling = gdata.BatchSampler(gdata.SequentialSampler(10), 3, 'rollover')
    epochs = [list(rolling) for _ in range(3)]
    assert epochs[1][0] == [9, 0, 1] and epochs[2][0] == [8, 9, 0]
    assert sum(len(b) for e in epochs for b in e) == 30 - len(rolling._prev) and len(rolling._prev) == 0
    with pytest.raises(ValueError, match="last_batch must be one of 'keep', 'discard', or 'rollover'"):
        gdata.BatchSampler(gdata.SequentialSampler(10), 3, 'drop')


def test_data_loader_refuses_contradictory_arguments_and_accepts_num_workers():
    dataset = gdata.ArrayDataset(nd.arange(20).reshape((10, 2)), nd.arange(10))
    with pytest.raises(ValueError, match='batch_size must be specified'):
        gdata.DataLoader(dataset)
    with pytest.raises(ValueError, match='shuffle must not be specified if sampler is specified'):
        gdata.DataLoader(dataset, 2, shuffle=True, sampler=gdata.SequentialSampler(10))
    batches = gdata.BatchSampler(gdata.SequentialSampler(10), 4)
    with pytest.raises(ValueError, match='must not be specified if batch_sampler is specified'):
        gdata.DataLoader(dataset, 4, batch_sampler=batches)
    loader = gdata.DataLoader(dataset, batch_sampler=batches, num_workers=4)
    shapes = [(X.shape, y.shape, y.dtype) for X, y in loader]
    assert shapes == [((4, 2), (4,), np.float32)] * 2 + [((2, 2), (2,), np.float32)] and len(loader) == 3


def first_batches(loader, seed, n=3):
    """The first n batches of an epoch that starts right after nd.random.seed(seed)."""
    nd.random.seed(seed)
    batches = []
    for X, y in loader:
        batches.append((X.asnumpy(), y.asnumpy()))
        if len(batches) == n:
            return batches


def test_shuffled_batches_are_chapter_4s_from_the_same_seed():
    chapter4, _ = d2l.load_data_fashion_mnist(512)
    mnist = gdata.vision.FashionMNIST(train=True).transform_first(transforms.ToTensor())
    general = gdata.DataLoader(mnist, 512, shuffle=True)
    for (X1, y1), (X2, y2) in zip(first_batches(chapter4, 7), first_batches(general, 7)):
        assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
        assert X2.shape == (512, 1, 28, 28) and y2.dtype == np.int32
    assert not np.array_equal(first_batches(general, 7)[0][1], first_batches(general, 8)[0][1])


def test_fashion_mnist_items_are_mxnets():
    image, label = gdata.vision.FashionMNIST(train=False)[0]
    assert (image.shape, image.dtype, type(label)) == ((28, 28, 1), np.uint8, np.int32)


def test_transforms_compose_to_what_the_network_reads():
    raw = np.random.default_rng(0).integers(0, 256, (6, 4, 3)).astype(np.uint8)
    pipeline = transforms.Compose([transforms.Resize((2, 3)), transforms.ToTensor(),
                                   transforms.Normalize((0.5, 0.5, 0.5), (0.25, 0.5, 1.0))])
    out = pipeline(nd.array(raw, dtype='uint8'))
    assert (out.shape, out.dtype) == ((3, 3, 2), np.float32)
    resized = transforms.Resize((2, 3))(nd.array(raw, dtype='uint8')).asnumpy()
    want = (resized.transpose(2, 0, 1) / 255 - 0.5) / np.array([0.25, 0.5, 1.0]).reshape(3, 1, 1)
    assert np.allclose(out.asnumpy(), want, atol=1e-6)
    # a 2x downscale with half-pixel centres averages each 2x2 block exactly
    block = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    halved = transforms.bilinear_resize(block, 2, 2)[..., 0]
    assert np.allclose(halved, block[..., 0].reshape(2, 2, 2, 2).mean(axis=(1, 3)))


def test_devices():
    assert mx.cpu() == nd.zeros(1).context and str(mx.cpu()) == 'cpu(0)'
    assert d2l.try_gpu() == mx.cpu() and mx.context.num_gpus() == 0
    with pytest.raises(mx.base.MXNetError, match='minimx computes with numpy on the CPU only'):
        mx.gpu()
    assert issubclass(mx.base.MXNetError, RuntimeError)


def test_sigmoid_bce_is_stable_and_its_gradient_is_right():
    loss = gloss.SigmoidBCELoss()
    label = nd.array([[1.0, 0.0, 1.0]], dtype=np.float64)
    assert np.isfinite(loss(nd.array([[-1000.0, 1000.0, 30.0]]), nd.array([[1.0, 0.0, 1.0]])).asnumpy()).all()
    check_gradient(lambda x: loss(x, label), (1, 3))
    probabilities = gloss.SigmoidBinaryCrossEntropyLoss(from_sigmoid=True)
    p = nd.array([[0.3, 0.6, 0.9]])
    want = -np.mean([np.log(0.3), np.log(0.4), np.log(0.9)])
    assert np.allclose(probabilities(p, nd.array([[1, 0, 1]])).asnumpy(), [want], rtol=1e-5)
