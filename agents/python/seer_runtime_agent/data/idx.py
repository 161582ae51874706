"""IDX directories of the MNIST family (Fashion-MNIST, MNIST): four gzipped IDX files, 1-channel images, 10 classes
(Sources/Shared/Data/FashionMNIST.swift). The SHA-256 is the four compressed files concatenated in the order train
images, train labels, test images, test labels."""

import gzip
import hashlib
import math
import os
import struct
import zlib

import numpy as np

from .dataset import DataError, Dataset

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
MAGICS = (0x803, 0x801, 0x803, 0x801)
CLASSES = 10
DEFAULT_VALIDATION_COUNT = 5000


def is_idx_directory(path):
    return os.path.exists(os.path.join(path, FILES[0]))


def _read(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        raise DataError(f"{path} is missing: an IDX directory holds {', '.join(FILES)} (Fashion-MNIST: the Debian "
                        f"package dataset-fashion-mnist installs them in {DEFAULT_DATA_DIR})")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}")


def _decode(compressed, magic, path):
    try:
        raw = gzip.decompress(compressed)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a gzip file ({e})")
    if len(raw) < 4:
        raise DataError(f"{path}: too short for an IDX header")
    found, = struct.unpack(">I", raw[:4])
    if found != magic:
        raise DataError(f"{path}: IDX magic {found:#x}, expected {magic:#x}")
    ndim = magic & 0xFF
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: IDX header cut off")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(dims):
        raise DataError(f"{path}: {data.size} values for dimensions {dims}")
    return data.reshape(dims)


def fingerprint(directory):
    digest = hashlib.sha256()
    for name in FILES:
        digest.update(_read(directory, name))
    return digest.hexdigest()


def load(spec, normalization, split_seed=0):
    directory = spec.path
    digest = hashlib.sha256()
    arrays = []
    for name, magic in zip(FILES, MAGICS):
        compressed = _read(directory, name)
        digest.update(compressed)
        arrays.append(_decode(compressed, magic, os.path.join(directory, name)))
    train_images, train_labels, test_images, test_labels = arrays
    for images, labels, name in ((train_images, train_labels, FILES[0]), (test_images, test_labels, FILES[2])):
        if images.shape[0] != labels.shape[0]:
            raise DataError(f"{os.path.join(directory, name)}: {images.shape[0]} images but {labels.shape[0]} labels")
    if train_images.shape[1:] != test_images.shape[1:]:
        raise DataError(f"{directory}: training images are {list(train_images.shape[1:])} but test images "
                        f"{list(test_images.shape[1:])}")
    rows, columns = train_images.shape[1:]
    validation = spec.validation if spec.validation is not None else DEFAULT_VALIDATION_COUNT
    return Dataset([1, rows, columns], CLASSES,
                   (train_images.reshape(-1, 1, rows, columns), train_labels.astype(np.int64)),
                   (test_images.reshape(-1, 1, rows, columns), test_labels.astype(np.int64)),
                   validation, digest.hexdigest(), directory, normalization, split_seed)
