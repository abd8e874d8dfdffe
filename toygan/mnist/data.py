"""MNIST from a Keras `mnist.npz`, IDX files (gzipped or not) or CSV, or downloaded into a cache.

Only gzip, struct and numpy are used to read the files; the download checks each file's sha256
before it enters the cache, so a cached file is always a verified one.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toygan.errors import ToyganError

SIDE = 28
MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
CANONICAL_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.int16, 0x0C: np.int32, 0x0D: np.float32, 0x0E: np.float64}


@dataclass(frozen=True)
class Digits:
    """Images (N, 28, 28) uint8 0..255 and labels (N,) uint8 0..9."""

    images_NxHxW: np.ndarray
    labels_N: np.ndarray

    def __post_init__(self):
        n = len(self.images_NxHxW)
        if self.images_NxHxW.shape[1:] != (SIDE, SIDE):
            raise ToyganError(f"images have shape {list(self.images_NxHxW.shape[1:])}, not 28 x 28: this is not MNIST")
        if self.labels_N.shape != (n,):
            raise ToyganError(f"{len(self.labels_N)} labels for {n} images: the label file does not match")
        if n and (self.labels_N.min() < 0 or self.labels_N.max() > 9):
            raise ToyganError(f"labels range over {self.labels_N.min()}..{self.labels_N.max()}: MNIST labels are 0..9")

    def scaled(self) -> np.ndarray:
        """Flattened pixels in [-1, 1] for a tanh generator, (N, 784) float32."""
        return self.images_NxHxW.reshape(len(self), -1).astype(np.float32) / 127.5 - 1.0

    def __len__(self) -> int:
        return len(self.labels_N)


@dataclass(frozen=True)
class MnistData:
    train: Digits
    test: Digits | None
    source: str


def cache_dir() -> Path:
    """Where downloads go: $TOYGAN_DATA, else $XDG_CACHE_HOME/toygan/mnist, else ~/.cache/toygan/mnist."""
    if "TOYGAN_DATA" in os.environ:
        return Path(os.environ["TOYGAN_DATA"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "toygan" / "mnist"


def load_mnist(path: str | Path | None = None) -> MnistData:
    """Read MNIST from `path` (.npz, an IDX images file, a folder of IDX files, or .csv); without a
    path, from the download cache, downloading the canonical files first when they are absent."""
    if path is None:
        folder = download(cache_dir())
        return MnistData(*_idx_folder(folder), source=str(folder))
    path = Path(path).expanduser()
    if not path.exists():
        raise ToyganError(f"MNIST data {path} does not exist: check --data, or leave it out to download MNIST")
    if path.is_dir():
        train, test = _idx_folder(path)
        return MnistData(train, test, str(path))
    name = path.name.lower()
    if name.endswith(".npz"):
        return MnistData(*_npz(path), source=str(path))
    if name.endswith(".csv"):
        return MnistData(_csv(path), None, str(path))
    if "idx3" in name:
        return MnistData(_idx_pair(path), None, str(path))
    raise ToyganError(f"{path}: unknown MNIST format; give a .npz, an IDX images file (…idx3-ubyte[.gz]), a folder of IDX files or a .csv")


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (big-endian header: 0, 0, type code, rank, then one uint32 per dimension)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise ToyganError(f"{path} is corrupt or unreadable ({error}): download it again") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise ToyganError(f"{path} is not an IDX file (bad magic number): give an MNIST IDX file")
    rank = raw[3]
    header = 4 + 4 * rank
    if len(raw) < header:
        raise ToyganError(f"{path} is truncated: its header is incomplete")
    shape = struct.unpack(f">{rank}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]]).newbyteorder(">")
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ToyganError(f"{path} holds {len(raw) - header} data bytes, its header says {expected}: the file is truncated or corrupt")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _idx_pair(images_path: Path) -> Digits:
    labels_stem = images_path.name.replace("images-idx3", "labels-idx1").removesuffix(".gz")
    labels_path = _find(images_path.parent, labels_stem)
    if labels_path is None:
        raise ToyganError(f"no labels file {labels_stem}[.gz] beside {images_path}: MNIST images need their labels")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise ToyganError(f"{images_path} holds an array of shape {list(images.shape)}, not images")
    return Digits(images.astype(np.uint8), labels.astype(np.uint8))


def _find(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _idx_folder(folder: Path) -> tuple[Digits, Digits | None]:
    if (folder / "mnist.npz").is_file() and _find(folder, "train-images-idx3-ubyte") is None:
        return _npz(folder / "mnist.npz")
    train_images = _find(folder, "train-images-idx3-ubyte")
    if train_images is None:
        raise ToyganError(f"{folder} has no train-images-idx3-ubyte[.gz] (nor mnist.npz): point --data at MNIST files")
    test_images = _find(folder, "t10k-images-idx3-ubyte")
    return _idx_pair(train_images), _idx_pair(test_images) if test_images else None


def _npz(path: Path) -> tuple[Digits, Digits | None]:
    try:
        with np.load(path) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as error:
        raise ToyganError(f"{path} is not a readable .npz archive ({type(error).__name__}): check the file") from None
    missing = [key for key in ("x_train", "y_train") if key not in arrays]
    if missing:
        raise ToyganError(f"{path} lacks {', '.join(missing)}: expected the Keras layout x_train, y_train, x_test, y_test")
    test = None
    if "x_test" in arrays and "y_test" in arrays:
        test = Digits(_pixels(arrays["x_test"], path), arrays["y_test"].astype(np.int64).astype(np.uint8))
    return Digits(_pixels(arrays["x_train"], path), arrays["y_train"].astype(np.int64).astype(np.uint8)), test


def _pixels(images: np.ndarray, where: Path) -> np.ndarray:
    if images.ndim == 2 and images.shape[1] == SIDE * SIDE:
        images = images.reshape(-1, SIDE, SIDE)
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise ToyganError(f"{where}: images have shape {list(images.shape)}, expected (N, 28, 28) or (N, 784)")
    if images.size and (images.min() < 0 or images.max() > 255):
        raise ToyganError(f"{where}: pixel values range over {images.min()}..{images.max()}, expected 0..255")
    return images.astype(np.uint8)


def _csv(path: Path) -> Digits:
    """Rows of `label, pixel_1, ..., pixel_784`; a header row is skipped."""
    with open(path) as f:
        first = f.readline()
    skip = 0 if first.split(",")[0].strip().lstrip("-").isdigit() else 1
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=skip, dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise ToyganError(f"{path} is not a numeric CSV ({error}): expected rows of label, then 784 pixels") from None
    if table.shape[1] != 1 + SIDE * SIDE:
        raise ToyganError(f"{path} has {table.shape[1]} columns, expected 785 (label, then 784 pixels)")
    return Digits(_pixels(table[:, 1:], path), table[:, 0].astype(np.int64).astype(np.uint8))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(folder: Path, files: dict[str, str] = CANONICAL_SHA256, mirrors: tuple[str, ...] = MIRRORS) -> Path:
    """Fill `folder` with `files` ({name: sha256}); each is fetched only when absent and kept only if it checks out."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, sha256 in files.items():
        target = folder / name
        if target.is_file() and sha256_of(target) == sha256:
            continue
        errors = []
        for mirror in mirrors:
            partial = folder / f".{name}.part"
            try:
                with urllib.request.urlopen(mirror + name, timeout=60) as response, open(partial, "wb") as out:
                    while block := response.read(1 << 20):
                        out.write(block)
            except (urllib.error.URLError, OSError) as error:
                partial.unlink(missing_ok=True)
                errors.append(f"{mirror}: {getattr(error, 'reason', error)}")
                continue
            got = sha256_of(partial)
            if got != sha256:
                partial.unlink()
                errors.append(f"{mirror}: sha256 {got[:12]}… is not the expected {sha256[:12]}…")
                continue
            partial.replace(target)
            break
        else:
            raise ToyganError(f"could not download {name} ({'; '.join(errors)}): check the network, or pass --data PATH")
    return folder
