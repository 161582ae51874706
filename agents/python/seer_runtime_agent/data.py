"""Fashion-MNIST as Seer splits it (docs/PROTOCOL.md "Artifacts": the data an artifact job evaluates on).

The validation split holds out `validation_count` (5000) of the 60,000 training images: positions 0..<60000 are
shuffled with xoshiro256** seeded by SplitMix64 (seed 0), Fisher-Yates from the top (j = next() % (i + 1)); the last
`validation_count` positions are validation, sorted ascending. `test` is the 10,000 test images in file order.
Images are float32 pixels / 255, NCHW [N, 1, 28, 28]; the artifact normalizes them itself.
"""

import gzip
import hashlib
import math
import os
import struct

import numpy as np

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
VALIDATION_COUNT = 5000
MASK64 = (1 << 64) - 1


class DataError(Exception):
    pass


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK64


class SeededGenerator:
    """xoshiro256** seeded by SplitMix64."""

    def __init__(self, seed):
        z = seed & MASK64
        self.s = []
        for _ in range(4):
            z = (z + 0x9E3779B97F4A7C15) & MASK64
            x = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
            self.s.append(x ^ (x >> 31))

    def next(self):
        s0, s1, s2, s3 = self.s
        result = (_rotl((s1 * 5) & MASK64, 7) * 9) & MASK64
        t = (s1 << 17) & MASK64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        self.s = [s0, s1, s2, _rotl(s3, 45)]
        return result


def split(pool_count, validation_count=VALIDATION_COUNT, seed=0):
    """(train positions, validation positions), each ascending."""
    order = list(range(pool_count))
    rng = SeededGenerator(seed)
    for i in range(pool_count - 1, 0, -1):
        j = rng.next() % (i + 1)
        order[i], order[j] = order[j], order[i]
    cut = pool_count - validation_count
    return sorted(order[:cut]), sorted(order[cut:])


def _read_idx(path, magic):
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}")
    found, = struct.unpack(">I", raw[:4])
    if found != magic:
        raise DataError(f"{path}: IDX magic {found:#x}, expected {magic:#x}")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(dims):
        raise DataError(f"{path}: {data.size} values for dimensions {dims}")
    return data.reshape(dims)


class Dataset:
    """The four IDX files of a directory, loaded once; `images(split, limit)` gives a split's first `limit` images."""

    def __init__(self, directory=DEFAULT_DATA_DIR):
        self.directory = directory
        self._pools = {}
        self._validation = None
        self._sha256 = None

    def _pool(self, name):
        if name not in self._pools:
            images, labels = FILES[name]
            self._pools[name] = (_read_idx(os.path.join(self.directory, images), 0x803),
                                 _read_idx(os.path.join(self.directory, labels), 0x801))
        return self._pools[name]

    def sha256(self):
        """The SHA-256 jobs name the data by (protocol revision 3): the four compressed files concatenated in the
        order train images, train labels, test images, test labels."""
        if self._sha256 is None:
            digest = hashlib.sha256()
            for name in ("train", "test"):
                for file in FILES[name]:
                    with open(os.path.join(self.directory, file), "rb") as f:
                        digest.update(f.read())
            self._sha256 = digest.hexdigest()
        return self._sha256

    def images(self, split_name, limit=None):
        if split_name == "test":
            images, labels = self._pool("test")
            indices = np.arange(images.shape[0])
        elif split_name == "validation":
            images, labels = self._pool("train")
            if self._validation is None:
                self._validation = np.asarray(split(images.shape[0])[1], dtype=np.int64)
            indices = self._validation
        else:
            raise DataError(f"split '{split_name}' (validation or test)")
        if limit is not None:
            indices = indices[:limit]
        x = images[indices].astype(np.float32) / np.float32(255)
        return x.reshape(len(indices), 1, images.shape[1], images.shape[2]), labels[indices].astype(np.int64)
