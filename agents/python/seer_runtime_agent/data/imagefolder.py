"""Image folders in torchvision's ImageFolder convention (Sources/Shared/Data/ImageFolderSource.swift).

`ROOT/train/CLASS/*.png|jpg|jpeg` for training (the validation split is carved from it) and `ROOT/val/CLASS/...` (or
`ROOT/test/...`) for the test split. Classes are the sorted folder names under `train/`; other files are skipped.
Images are decoded to the model's 1 or 3 channels and resized / center-cropped to its [rows, columns] (`codecs`).
The SHA-256 covers, per image file in sorted order under train/ then the test folder, its path below the root, a zero
byte, its length as 8 little-endian bytes and its bytes.
"""

import hashlib
import os
import struct

import numpy as np

from . import codecs
from .dataset import DataError, Dataset

EXTENSIONS = ("png", "jpg", "jpeg")
TEST_FOLDERS = ("val", "test")


def _folders(path):
    try:
        names = os.listdir(path)
    except OSError:
        return []
    return sorted(n for n in names if not n.startswith(".") and os.path.isdir(os.path.join(path, n)))


def _images(path):
    try:
        names = os.listdir(path)
    except OSError:
        return []
    return sorted(n for n in names if not n.startswith(".") and os.path.splitext(n)[1][1:].lower() in EXTENSIONS)


def listing(root):
    """(class names, [(label, relative path)] of train, the same of the test folder); relative paths start with '/'."""
    classes = _folders(root + "/train")
    if not classes:
        raise DataError(f"{root}/train: no class folders (an image folder holds train/CLASS/*.png|jpg)")
    test_name = next((n for n in TEST_FOLDERS if os.path.exists(root + "/" + n)), None)
    if test_name is None:
        raise DataError(f"{root}: no val/ (or test/) folder beside train/: the test split comes from it")
    train = []
    for label, name in enumerate(classes):
        files = _images(f"{root}/train/{name}")
        if not files:
            raise DataError(f"{root}/train/{name}: no .png, .jpg or .jpeg images in this class folder")
        train += [(label, f"/train/{name}/{f}") for f in files]
    test = []
    for name in _folders(f"{root}/{test_name}"):
        if name not in classes:
            raise DataError(f"{root}/{test_name}/{name}: class '{name}' is not among train/'s classes ({', '.join(classes)})")
        test += [(classes.index(name), f"/{test_name}/{name}/{f}") for f in _images(f"{root}/{test_name}/{name}")]
    return classes, train, test


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}")


def _hash_file(digest, relative, data):
    digest.update(relative.encode("utf-8") + b"\0" + struct.pack("<Q", len(data)))
    digest.update(data)


def fingerprint(spec):
    _, train, test = listing(spec.path)
    digest = hashlib.sha256()
    for _, relative in train + test:
        _hash_file(digest, relative, _read(spec.path + relative))
    return digest.hexdigest()


def load(spec, normalization, image_shape, split_seed=0):
    if image_shape is None or len(image_shape) != 3 or image_shape[0] not in (1, 3) or min(image_shape[1:]) < 1:
        raise DataError(f"data.path: {spec.path} is an image folder; its images are resized to the model's input, which "
                        f"must be [1 or 3, rows, columns] (got {image_shape if image_shape is not None else 'no model'})")
    channels, rows, columns = image_shape
    classes, train, test = listing(spec.path)
    digest = hashlib.sha256()

    def pool(files):
        pixels = np.empty((len(files), channels, rows, columns), dtype=np.uint8)
        for i, (_, relative) in enumerate(files):
            data = _read(spec.path + relative)
            _hash_file(digest, relative, data)
            pixels[i] = codecs.resize_and_crop(codecs.decode(data, channels, spec.path + relative), rows, columns)
        return pixels, np.asarray([label for label, _ in files], dtype=np.int64)

    train_pool, test_pool = pool(train), pool(test)
    validation = spec.validation if spec.validation is not None else len(train) // 10
    return Dataset(list(image_shape), len(classes), train_pool, test_pool, validation, digest.hexdigest(), spec.path,
                   normalization, split_seed)
