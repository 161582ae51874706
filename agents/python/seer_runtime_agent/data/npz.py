"""`.npz` archives in the Keras convention: `x_train`, `y_train`, `x_test`, `y_test` (Sources/Shared/Data/NpzSource.swift).

Images are uint8 (scaled by 1/255 before normalization) or float32/float64 (taken as they are), shaped [N, H, W] (one
channel), [N, H, W, C] or [N, C, H, W]; the spec's layout says which of the last two, or it is inferred from which axis
has 1, 3 or 4 entries (an error when both or neither do). Labels are integers, [N] or [N, 1]. The SHA-256 is the
archive file's.
"""

import hashlib
import io
import sys
import zipfile

import numpy as np

from .dataset import DataError, Dataset

ARRAYS = ("x_train", "y_train", "x_test", "y_test")
CHANNELISH = (1, 3, 4)
# The element types Seer's .npy reader takes (little-endian, C order); anything else is refused on both sides.
IMAGE_KINDS = ("u1", "f4", "f8")
LABEL_KINDS = ("u1", "i1", "i2", "u2", "i4", "u4", "i8", "u8")


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}")


def fingerprint(spec):
    return hashlib.sha256(_read(spec.path)).hexdigest()


def _kind(array):
    little = array.dtype.byteorder in ("<", "|") or (array.dtype.byteorder == "=" and sys.byteorder == "little")
    return f"{array.dtype.kind}{array.dtype.itemsize}" if little else None


def _arrays(path, raw):
    try:
        archive = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not an npz archive ({e})")
    with archive:
        missing = [name for name in ARRAYS if name not in archive.files]
        if missing:
            raise DataError(f"{path}: no array {missing[0]} (an npz dataset holds {', '.join(ARRAYS)}; it has "
                            f"{', '.join(archive.files)})")
        arrays = {}
        for name in ARRAYS:
            try:
                array = archive[name]
            except ValueError as e:
                raise DataError(f"{path}: {name}: {e}")
            if array.ndim > 1 and not array.flags.c_contiguous:
                raise DataError(f"{path}: {name}: Fortran-order arrays are not supported")
            arrays[name] = array
        return arrays


def _images(array, name, spec):
    def fail(reason):
        return DataError(f"{spec.path}: {name}: {reason}")

    shape = array.shape
    if len(shape) == 3:
        layout = "nchw"
    elif len(shape) == 4:
        if spec.layout is not None:
            layout = spec.layout
        elif shape[3] in CHANNELISH and shape[1] not in CHANNELISH:
            layout = "nhwc"
        elif shape[1] in CHANNELISH and shape[3] not in CHANNELISH:
            layout = "nchw"
        else:
            raise DataError(f"data.layout: {spec.path}: cannot tell whether {name} of shape {list(shape)} is NHWC or "
                            "NCHW; give layout: nhwc or layout: nchw")
    else:
        raise fail(f"images must be [N, H, W], [N, H, W, C] or [N, C, H, W], got shape {list(shape)}")
    kind = _kind(array)
    if kind not in IMAGE_KINDS:
        raise fail(f"images of type {array.dtype.str} are not supported (uint8, or float32/float64 in the model's input range)")
    if len(shape) == 3:
        array = array.reshape(shape[0], 1, shape[1], shape[2])
    elif layout == "nhwc":
        array = array.transpose(0, 3, 1, 2)
    if min(array.shape[1:]) < 1:
        raise fail(f"empty images of shape {list(shape)}")
    array = np.ascontiguousarray(array if kind == "u1" else array.astype(np.float32))
    return array


def _labels(array, name, count, path):
    def fail(reason):
        return DataError(f"{path}: {name}: {reason}")

    if array.shape not in ((count,), (count, 1)):
        raise fail(f"labels must have shape [{count}] or [{count}, 1] to match the images, got {list(array.shape)}")
    if _kind(array) not in LABEL_KINDS:
        raise fail(f"labels must be integers, got {array.dtype.str} (one-hot labels: save their argmax)")
    values = array.reshape(count).astype(np.int64)
    bad = np.flatnonzero((values < 0) | (values > 2**31 - 1))
    if bad.size:
        raise fail(f"label {values[bad[0]]} at index {bad[0]} is not a class index (0 or more)")
    return values


def load(spec, normalization, split_seed=0):
    raw = _read(spec.path)
    arrays = _arrays(spec.path, raw)
    train = _images(arrays["x_train"], "x_train", spec)
    test = _images(arrays["x_test"], "x_test", spec)
    if train.shape[1:] != test.shape[1:]:
        raise DataError(f"{spec.path}: x_train holds {list(train.shape[1:])} images (CHW) but x_test holds "
                        f"{list(test.shape[1:])}")
    train_labels = _labels(arrays["y_train"], "y_train", len(arrays["x_train"]), spec.path)
    test_labels = _labels(arrays["y_test"], "y_test", len(arrays["x_test"]), spec.path)
    largest = int(max(train_labels.max(initial=0), test_labels.max(initial=0)))
    if spec.classes is not None and largest >= spec.classes:
        raise DataError(f"data.classes: {spec.classes} classes, but {spec.path} has label {largest}")
    classes = spec.classes if spec.classes is not None else largest + 1
    validation = spec.validation if spec.validation is not None else len(train_labels) // 10
    return Dataset(list(train.shape[1:]), classes, (train, train_labels), (test, test_labels), validation,
                   hashlib.sha256(raw).hexdigest(), spec.path, normalization, split_seed)
