"""minimx.data: the IDX reader, the search order, the download, the loader — on files the tests write."""
import gzip
import hashlib
import os

import numpy as np
import pytest

from minimx import d2l, data, nd

STEMS = [s for pair in data.FILES.values() for s in pair]


def idx_bytes(array):
    return bytes([0, 0, 8, array.ndim]) + b''.join(int(d).to_bytes(4, 'big') for d in array.shape) + array.tobytes()


def tiny_dataset(folder, n_train=7, n_test=3, gz=True):
    """Write a Fashion-MNIST-shaped dataset of a few random images; return its arrays."""
    rng = np.random.default_rng(0)
    arrays = {'train-images-idx3-ubyte': rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              'train-labels-idx1-ubyte': rng.integers(0, 10, n_train, dtype=np.uint8),
              't10k-images-idx3-ubyte': rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              't10k-labels-idx1-ubyte': rng.integers(0, 10, n_test, dtype=np.uint8)}
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        raw = idx_bytes(array)
        if gz:
            (folder / (stem + '.gz')).write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return arrays


@pytest.fixture
def no_system_data(monkeypatch, tmp_path):
    """Hide every real copy: empty cache, no environment variable, no Debian folder."""
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, 'DEBIAN_DIR', tmp_path / 'no-debian')


def test_reads_gzipped_and_plain_idx(tmp_path):
    arrays = tiny_dataset(tmp_path / 'gz')
    tiny_dataset(tmp_path / 'plain', gz=False)
    for folder in ('gz', 'plain'):
        loaded = data.load_fashion_mnist(tmp_path / folder)
        for got, want in zip(loaded, arrays.values()):
            np.testing.assert_array_equal(got, want)


def test_truncated_and_corrupt_files_name_the_file(tmp_path):
    tiny_dataset(tmp_path)
    path = tmp_path / 'train-images-idx3-ubyte.gz'
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match='train-images-idx3-ubyte.gz.*(truncated|damaged)'):
        data.read_idx(path)
    raw = tmp_path / 'labels'
    raw.write_bytes(idx_bytes(np.arange(10, dtype=np.uint8))[:-4])
    with pytest.raises(ValueError, match='labels: truncated'):
        data.read_idx(raw)
    raw.write_bytes(b'<html>404 Not Found</html>')
    with pytest.raises(ValueError, match='labels: not an IDX file'):
        data.read_idx(raw)


def test_mismatched_image_and_label_counts(tmp_path):
    tiny_dataset(tmp_path)
    (tmp_path / 'train-labels-idx1-ubyte.gz').write_bytes(gzip.compress(idx_bytes(np.zeros(5, np.uint8))))
    with pytest.raises(ValueError, match='7 images but 5 labels'):
        data.load_fashion_mnist(tmp_path)


def test_search_order(tmp_path, monkeypatch, no_system_data):
    for name in ('root', 'env', 'cache', 'debian'):
        tiny_dataset(tmp_path / name)
    monkeypatch.setattr(data, 'DEBIAN_DIR', tmp_path / 'debian')
    assert data.find_fashion_mnist() == tmp_path / 'debian'
    cache = data.cache_dir()
    tiny_dataset(cache)
    assert data.find_fashion_mnist() == cache
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / 'env'))
    assert data.find_fashion_mnist() == tmp_path / 'env'
    assert data.find_fashion_mnist(root=tmp_path / 'root') == tmp_path / 'root'
    with pytest.raises(FileNotFoundError, match='does not hold the four Fashion-MNIST files'):
        data.find_fashion_mnist(root=tmp_path / 'nothing')


def test_offline_without_a_copy_says_the_three_ways(no_system_data):
    with pytest.raises(FileNotFoundError) as err:
        data.find_fashion_mnist(mirror='file:///nonexistent-mirror/')
    message = str(err.value)
    assert 'apt-get install dataset-fashion-mnist' in message and data.ENV_VAR in message
    assert 'download them from' in message


def test_download_checks_checksums_and_shows_progress(tmp_path, no_system_data, capsys):
    mirror_dir = tmp_path / 'mirror'
    arrays = tiny_dataset(mirror_dir)
    sums = {stem: hashlib.sha256(idx_bytes(a)).hexdigest() for stem, a in arrays.items()}
    dest = tmp_path / 'downloaded'
    data.download_fashion_mnist(dest, mirror_dir.as_uri() + '/', checksums=sums)
    assert sorted(p.name for p in dest.iterdir()) == sorted(s + '.gz' for s in STEMS)
    assert 'downloading train-images-idx3-ubyte.gz' in capsys.readouterr().err
    bad = dict(sums, **{'t10k-labels-idx1-ubyte': '0' * 64})
    with pytest.raises(OSError, match='failed its checksum'):
        data.download_fashion_mnist(tmp_path / 'again', mirror_dir.as_uri() + '/', checksums=bad)
    assert not (tmp_path / 'again' / 't10k-labels-idx1-ubyte.gz').exists(), 'a file failing its checksum is not kept'


def test_real_checksums_match_the_debian_copy():
    if not data._complete(data.DEBIAN_DIR):
        assert not os.environ.get('CI'), 'CI=true but dataset-fashion-mnist is not installed (.ci/run installs it)'
        pytest.skip('the Debian package dataset-fashion-mnist is not installed (CI installs it)')
    for stem in STEMS:
        content = gzip.open(data._locate(data.DEBIAN_DIR, stem)).read()
        assert hashlib.sha256(content).hexdigest() == data.CONTENT_SHA256[stem]


def test_loader_batches_scale_and_reproducible_shuffle(tmp_path):
    tiny_dataset(tmp_path, n_train=10, n_test=3)
    train_iter, test_iter = d2l.load_data_fashion_mnist(4, root=tmp_path)
    nd.random.seed(1)
    first = [y.asnumpy().tolist() for _, y in train_iter]
    nd.random.seed(1)
    again = [y.asnumpy().tolist() for _, y in train_iter]
    assert first == again and [len(b) for b in first] == [4, 4, 2]
    X, y = next(iter(test_iter))
    assert X.shape == (3, 1, 28, 28) and X.dtype == np.float32 and y.dtype == np.int32
    assert 0 <= X.asnumpy().min() and X.asnumpy().max() <= 1
