import gzip
import hashlib
import http.server
import os
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from toygan.errors import ToyganError
from toygan.mnist.data import download, load_mnist, read_idx

SHARED = Path(os.environ.get("TOYGAN_MNIST_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))
needs_real_mnist = pytest.mark.skipif(
    not (SHARED / "mnist.npz").is_file(), reason=f"real MNIST not found at {SHARED} (set TOYGAN_MNIST_DIR)"
)


def idx_bytes(array: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


@pytest.fixture
def digits():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), rng.integers(0, 10, 12, dtype=np.uint8)


@needs_real_mnist
def test_the_real_files_in_every_format():
    npz = load_mnist(SHARED / "mnist.npz")
    assert len(npz.train) == 22_699 and len(npz.test) == 10_000
    assert npz.train.images_NxHxW.shape == (22_699, 28, 28) and npz.train.images_NxHxW.dtype == np.uint8
    assert set(np.unique(npz.test.labels_N)) == set(range(10))
    idx = load_mnist(SHARED / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(idx.train.images_NxHxW, npz.test.images_NxHxW)
    np.testing.assert_array_equal(idx.train.labels_N, npz.test.labels_N)
    folder = load_mnist(SHARED)
    assert len(folder.train) == 22_699
    scaled = npz.test.scaled()
    assert scaled.shape == (10_000, 784) and scaled.min() == -1.0 and scaled.max() == 1.0


def test_idx_plain_and_gzipped_and_folders(tmp_path, digits):
    images, labels = digits
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images[:5])))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels[:5])))
    data = load_mnist(tmp_path)
    np.testing.assert_array_equal(data.train.images_NxHxW, images)
    np.testing.assert_array_equal(data.test.labels_N, labels[:5])
    single = load_mnist(tmp_path / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(single.train.images_NxHxW, images[:5])


def test_csv_with_and_without_header_and_npz(tmp_path, digits):
    images, labels = digits
    rows = np.column_stack([labels, images.reshape(12, -1)])
    np.savetxt(tmp_path / "plain.csv", rows, fmt="%d", delimiter=",")
    header = "label," + ",".join(f"pixel{i}" for i in range(784))
    np.savetxt(tmp_path / "header.csv", rows, fmt="%d", delimiter=",", header=header, comments="")
    for name in ("plain.csv", "header.csv"):
        data = load_mnist(tmp_path / name)
        np.testing.assert_array_equal(data.train.images_NxHxW, images)
        np.testing.assert_array_equal(data.train.labels_N, labels)
    np.savez(tmp_path / "m.npz", x_train=images, y_train=labels, x_test=images[:3], y_test=labels[:3])
    data = load_mnist(tmp_path / "m.npz")
    assert len(data.train) == 12 and len(data.test) == 3


def _error(path) -> str:
    with pytest.raises(ToyganError) as info:
        load_mnist(path)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_missing_corrupt_and_wrongly_shaped_data_get_clear_errors(tmp_path, digits):
    images, labels = digits
    assert "does not exist" in _error(tmp_path / "nope.npz")
    (tmp_path / "bad-images-idx3-ubyte").write_bytes(b"\x12\x34\x56\x78garbage")
    (tmp_path / "bad-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    assert "bad magic number" in _error(tmp_path / "bad-images-idx3-ubyte")
    (tmp_path / "cut-images-idx3-ubyte").write_bytes(idx_bytes(images)[:-100])
    (tmp_path / "cut-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    assert "truncated" in _error(tmp_path / "cut-images-idx3-ubyte")
    (tmp_path / "wide-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((3, 28, 30), np.uint8)))
    (tmp_path / "wide-labels-idx1-ubyte").write_bytes(idx_bytes(labels[:3]))
    assert "not 28 x 28" in _error(tmp_path / "wide-images-idx3-ubyte")
    (tmp_path / "few-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "few-labels-idx1-ubyte").write_bytes(idx_bytes(labels[:4]))
    assert "4 labels for 12 images" in _error(tmp_path / "few-images-idx3-ubyte")
    (tmp_path / "alone-images-idx3-ubyte").write_bytes(idx_bytes(images))
    assert "no labels file" in _error(tmp_path / "alone-images-idx3-ubyte")
    (tmp_path / "zip-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b" + b"not really gzip")
    (tmp_path / "zip-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    assert "is corrupt or unreadable" in _error(tmp_path / "zip-images-idx3-ubyte.gz")
    np.savez(tmp_path / "keys.npz", images=images)
    assert "lacks x_train, y_train" in _error(tmp_path / "keys.npz")
    np.savez(tmp_path / "flat.npz", x_train=np.zeros((3, 100)), y_train=labels[:3])
    assert "expected (N, 28, 28)" in _error(tmp_path / "flat.npz")
    rows = np.column_stack([np.full(12, 12), images.reshape(12, -1)])
    np.savetxt(tmp_path / "labels.csv", rows, fmt="%d", delimiter=",")
    assert "MNIST labels are 0..9" in _error(tmp_path / "labels.csv")
    np.savetxt(tmp_path / "short.csv", rows[:, :100], fmt="%d", delimiter=",")
    assert "has 100 columns" in _error(tmp_path / "short.csv")
    (tmp_path / "notes.txt").write_text("hello")
    assert "unknown MNIST format" in _error(tmp_path / "notes.txt")
    (tmp_path / "empty-dir").mkdir()
    assert "no train-images" in _error(tmp_path / "empty-dir")


def test_read_idx_understands_other_element_types(tmp_path):
    values = np.arange(6, dtype=">i4").reshape(2, 3)
    (tmp_path / "ints").write_bytes(struct.pack(">BBBB", 0, 0, 0x0C, 2) + struct.pack(">2I", 2, 3) + values.tobytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "ints"), np.arange(6).reshape(2, 3))


@pytest.fixture
def local_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/served, counting requests."""
    served = tmp_path / "served"
    served.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/", requests
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_download_checks_the_checksum_and_caches(tmp_path, local_server, digits):
    served, url, requests = local_server
    payload = gzip.compress(idx_bytes(digits[1]))
    (served / "labels.gz").write_bytes(payload)
    good = {"labels.gz": hashlib.sha256(payload).hexdigest()}
    cache = tmp_path / "cache"
    download(cache, good, mirrors=(url,))
    assert (cache / "labels.gz").read_bytes() == payload
    fetched = len(requests)
    download(cache, good, mirrors=(url,))
    assert len(requests) == fetched, "a verified cached file is not fetched again"

    (cache / "labels.gz").write_bytes(b"damaged")
    dead = "http://127.0.0.1:9/"  # nothing listens on the discard port: the next mirror is tried
    download(cache, good, mirrors=(dead, url))
    assert (cache / "labels.gz").read_bytes() == payload

    wrong = {"labels.gz": "0" * 64}
    other = tmp_path / "other"
    with pytest.raises(ToyganError, match="sha256 .* is not the expected") as info:
        download(other, wrong, mirrors=(url,))
    assert "\n" not in str(info.value)
    assert not any(other.iterdir()), "a file that fails its checksum is not kept"
    with pytest.raises(ToyganError, match="could not download missing.gz"):
        download(other, {"missing.gz": "0" * 64}, mirrors=(url,))
