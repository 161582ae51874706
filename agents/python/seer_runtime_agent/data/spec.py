"""Which data to load and how: the Python side of `DataSpec` (Sources/Shared/Data/DataSpec.swift) as the agent's
`--data PATH [--data-mean M] [--data-std S] [--data-layout L]` give it, and `DataSource`, which loads it."""

import os

from . import idx, imagefolder, npz
from .dataset import IDENTITY, DataError, Normalization

FORMATS = ("idx", "npz", "imagefolder")
LAYOUTS = ("nhwc", "nchw")
FASHION_MNIST = Normalization([0.2860], [0.3530])


def _numbers(text, option):
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise DataError(f"{option}: expected comma-separated numbers (one per channel), got '{text}'")


class DataSpec:
    def __init__(self, path, format=None, mean=None, std=None, layout=None, classes=None, validation=None):
        self.path = path
        self.format = format
        self.mean = mean
        self.std = std
        self.layout = layout
        self.classes = classes
        self.validation = validation

    @classmethod
    def command_line(cls, path, mean=None, std=None, layout=None):
        """The spec the `--data` options give (Swift: `DataSpec.commandLine`); errors name the option."""
        if layout is not None and layout.lower() not in LAYOUTS:
            raise DataError(f"--data-layout: expected nhwc or nchw, got '{layout}'")
        spec = cls(path, mean=_numbers(mean, "--data-mean"), std=_numbers(std, "--data-std"),
                   layout=layout.lower() if layout is not None else None)
        spec.validate()
        return spec

    def normalization(self, format):
        """The spec's mean and std, or the format's default: Fashion-MNIST's for IDX, none for npz and image folders."""
        fallback = FASHION_MNIST if format == "idx" else IDENTITY
        return Normalization(self.mean if self.mean is not None else (fallback.mean if self.std is None else [0.0]),
                             self.std if self.std is not None else (fallback.std if self.mean is None else [1.0]))

    def validate(self):
        if not self.path:
            raise DataError("data.path: must not be empty")
        if self.mean is not None or self.std is not None:
            self.normalization(self.format or "npz").validate(None, "data")
        if self.validation is not None and self.validation < 0:
            raise DataError(f"data.validation: must be at least 0, got {self.validation}")
        format = self.resolved_format()
        if self.layout is not None and format != "npz":
            raise DataError(f"data.layout: only npz data have a declared layout (this is {format})")
        if self.classes is not None and format != "npz":
            raise DataError(f"data.classes: only npz data declare a class count ({format} data give their own)")

    def resolved_format(self):
        """`format`, or what `path` is: a `.npz` file, a directory with IDX files, a directory with a `train/` folder."""
        if self.format is not None:
            if self.format not in FORMATS:
                raise DataError(f"data.format: expected one of {', '.join(FORMATS)}, got '{self.format}'")
            return self.format
        if self.path.lower().endswith(".npz"):
            return "npz"
        if not os.path.exists(self.path):
            return "idx"  # the IDX reader explains how to install Fashion-MNIST, the default source
        if not os.path.isdir(self.path):
            raise DataError(f"data.path: {self.path} is a file but not a .npz; give data.format or a directory (IDX "
                            "files, or an image folder with train/ and val/)")
        if idx.is_idx_directory(self.path):
            return "idx"
        if os.path.exists(os.path.join(self.path, "train")):
            return "imagefolder"
        raise DataError(f"data.path: {self.path} holds neither {idx.FILES[0]} (IDX) nor a train/ folder (image folder); "
                        "give data.format")


class DataSource:
    """A spec's data, loaded on demand: the SHA-256 from the raw bytes alone, datasets per model input shape (image
    folders are decoded at the model's size; IDX and npz images are what they are)."""

    def __init__(self, spec, split_seed=0):
        spec.validate()
        self.spec = spec
        self.split_seed = split_seed
        self.format = spec.resolved_format()
        self._sha256 = None
        self._datasets = {}

    @property
    def path(self):
        return self.spec.path

    @property
    def normalization(self):
        return self.spec.normalization(self.format)

    def sha256(self):
        """What jobs name these data by (docs/PROTOCOL.md section 4, `dataset_sha256`)."""
        if self._sha256 is None:
            self._sha256 = {"idx": lambda: idx.fingerprint(self.spec.path), "npz": lambda: npz.fingerprint(self.spec),
                            "imagefolder": lambda: imagefolder.fingerprint(self.spec)}[self.format]()
        return self._sha256

    def dataset(self, image_shape=None):
        """The dataset for a model taking [C, H, W] `image_shape` (None: IDX and npz data as they are); a model whose
        input differs from IDX or npz images is an error naming both."""
        key = tuple(image_shape) if self.format == "imagefolder" and image_shape is not None else None
        if key not in self._datasets:
            if self.format == "idx":
                data = idx.load(self.spec, self.normalization, self.split_seed)
            elif self.format == "npz":
                data = npz.load(self.spec, self.normalization, self.split_seed)
            else:
                data = imagefolder.load(self.spec, self.normalization, image_shape, self.split_seed)
            self._sha256 = data.sha256
            self._datasets[key] = data
        data = self._datasets[key]
        if image_shape is not None and list(image_shape) != data.image_shape:
            raise DataError(f"{self.path}: the model takes {list(image_shape)} images but the data hold {data.image_shape}")
        return data
