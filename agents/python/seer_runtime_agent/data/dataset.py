"""A labelled image dataset as Seer's `Dataset` (Sources/Shared/Data/Dataset.swift) holds it: a training pool with a
seeded train/validation split, a test pool, its SHA-256 and its normalization."""

import numpy as np

from .split import split

SPLITS = ("train", "validation", "test")


class DataError(Exception):
    """Data that cannot be read, or that are not what a job names; the message names the file or field at fault."""


class Normalization:
    """(x - mean[c]) / std[c] per channel, in float32, on pixels scaled to [0, 1] (uint8 data) or as stored (floats).
    One value applies to every channel."""

    def __init__(self, mean, std):
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]

    @classmethod
    def from_json(cls, value, field="normalization"):
        """A job's `{"mean": number | [numbers], "std": ...}`."""
        if not isinstance(value, dict) or set(value) - {"mean", "std"} or not {"mean", "std"} <= set(value):
            raise DataError(f"{field}: expected {{\"mean\": ..., \"std\": ...}}, got {value!r}")
        parts = []
        for name in ("mean", "std"):
            v = value[name]
            v = [v] if isinstance(v, (int, float)) and not isinstance(v, bool) else v
            if not isinstance(v, list) or not v or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
                raise DataError(f"{field}.{name}: expected a number or a list of numbers, got {value[name]!r}")
            parts.append(v)
        return cls(*parts)

    def validate(self, channels, field="normalization"):
        for name, values in (("mean", self.mean), ("std", self.std)):
            if not values:
                raise DataError(f"{field}.{name}: give at least one value")
            if channels is not None and len(values) not in (1, channels):
                raise DataError(f"{field}.{name}: {len(values)} values for {channels}-channel images (give 1 or {channels})")
            if not all(np.isfinite(values)):
                raise DataError(f"{field}.{name}: {values} holds a value that is not a finite number")
        if any(v <= 0 for v in self.std):
            raise DataError(f"{field}.std: {self.std} holds a value that is not positive")

    def apply(self, x):
        """x [N, C, H, W] float32, normalized as the engine's batches are: (x - mean) / std in float32."""
        channels = x.shape[1]
        self.validate(channels)
        mean = np.asarray(self.mean * (channels if len(self.mean) == 1 else 1), dtype=np.float32).reshape(1, channels, 1, 1)
        std = np.asarray(self.std * (channels if len(self.std) == 1 else 1), dtype=np.float32).reshape(1, channels, 1, 1)
        return (x - mean) / std

    def __eq__(self, other):
        return isinstance(other, Normalization) and (self.mean, self.std) == (other.mean, other.std)

    def __repr__(self):
        return f"Normalization(mean={self.mean}, std={self.std})"


IDENTITY = Normalization([0.0], [1.0])


class Dataset:
    """Pools as stored: pixels uint8 or float32 [N, C, H, W], labels int64 [N]."""

    def __init__(self, image_shape, classes, train, test, validation_count, sha256, source, normalization, split_seed=0):
        self.image_shape = list(image_shape)
        self.classes = classes
        self.train_pixels, self.train_labels = train
        self.test_pixels, self.test_labels = test
        self.sha256 = sha256
        self.source = source
        self.normalization = normalization
        self.split_seed = split_seed
        normalization.validate(self.image_shape[0], f"{source}: normalization")
        for (pixels, labels), name in ((train, "training"), (test, "test")):
            if pixels.shape[1:] != tuple(image_shape) or len(pixels) != len(labels):
                raise DataError(f"{source}: the {name} pool has {pixels.shape} pixels for {len(labels)} labels of "
                                f"{list(image_shape)} images")
            bad = np.flatnonzero((labels < 0) | (labels >= classes))
            if bad.size:
                raise DataError(f"{source} ({name}): label {labels[bad[0]]} at index {bad[0]} is outside 0..<{classes}")
        if not 0 <= validation_count <= len(self.train_labels):
            raise DataError(f"{source}: cannot hold out {validation_count} validation images from a training pool of "
                            f"{len(self.train_labels)}")
        train_idx, validation_idx = split(len(self.train_labels), validation_count, split_seed)
        self._indices = {"train": np.asarray(train_idx, dtype=np.int64),
                         "validation": np.asarray(validation_idx, dtype=np.int64),
                         "test": np.arange(len(self.test_labels), dtype=np.int64)}

    def resplit(self, validation_count):
        """The same pools with `validation_count` validation images (a job's `validation_count`)."""
        if validation_count == self.count("validation"):
            return self
        return Dataset(self.image_shape, self.classes, (self.train_pixels, self.train_labels),
                       (self.test_pixels, self.test_labels), validation_count, self.sha256, self.source,
                       self.normalization, self.split_seed)

    def count(self, split_name):
        return len(self._storage(split_name)[1])

    def _storage(self, split_name):
        if split_name not in SPLITS:
            raise DataError(f"split '{split_name}' (train, validation or test)")
        pool = (self.test_pixels, self.test_labels) if split_name == "test" else (self.train_pixels, self.train_labels)
        return pool, self._indices[split_name]

    def images(self, split_name, limit=None):
        """The first `limit` images of a split as the model's input before normalization (float32 [N, C, H, W]: byte
        pixels / 255, float pixels as stored) and their labels (int64)."""
        (pixels, labels), indices = self._storage(split_name)
        if limit is not None:
            indices = indices[:limit]
        x = pixels[indices]
        x = x.astype(np.float32) / np.float32(255) if x.dtype == np.uint8 else x.astype(np.float32, copy=False)
        return x, labels[indices].astype(np.int64)
