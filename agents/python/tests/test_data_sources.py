"""The Python runtime agent reads every data source as Seer's Swift side does: for each format the same images (to the
bit), labels, train/validation/test split, class count, normalization and SHA-256 as `seer-agent dataset` reports."""

import os

import numpy as np
import pytest

from data_fixtures import random_npz, write_idx, write_image_folder, write_npz
from seer_binary import seer_agent, seer_agent_error
from seer_runtime_agent.data import DataError, DataSource, DataSpec, Normalization
from seer_runtime_agent.data.codecs import resize_and_crop


def assert_same_as_swift(tmp_path, path, image_shape=None, validation=None, mean=None, std=None, layout=None):
    """Loads `path` on both sides and compares everything a job depends on."""
    dump = tmp_path / "swift"
    args = ["dataset", "--data", path, "--dump", dump]
    for flag, value in (("--input-shape", image_shape and ",".join(map(str, image_shape))), ("--validation", validation),
                        ("--data-mean", mean), ("--data-std", std), ("--data-layout", layout)):
        if value is not None:
            args += [flag, value]
    swift = seer_agent(*args)
    spec = DataSpec.command_line(str(path), mean, std, layout)
    spec.validation = validation
    source = DataSource(spec)
    assert source.sha256() == swift["sha256"]  # from the raw bytes alone, before decoding
    data = source.dataset(image_shape)
    assert data.sha256 == swift["sha256"]
    assert source.format == swift["format"]
    assert data.image_shape == swift["image_shape"]
    assert data.classes == swift["classes"]
    assert np.array_equal(np.float32(data.normalization.mean), np.float32(swift["normalization"]["mean"]))
    assert np.array_equal(np.float32(data.normalization.std), np.float32(swift["normalization"]["std"]))
    for split in ("train", "validation", "test"):
        assert data.count(split) == swift["counts"][split], split
        x, y = data.images(split)
        swift_x = np.load(dump / f"{split}-images.npy")
        swift_y = np.load(dump / f"{split}-labels.npy")
        assert x.dtype == np.float32 and x.shape == swift_x.shape, split
        assert np.array_equal(y, swift_y.astype(np.int64)), f"{split} labels differ"
        differ = np.argwhere(x != swift_x)
        assert differ.size == 0, f"{split}: {len(differ)} pixels differ, first at {differ[0].tolist()}: " \
                                 f"{x[tuple(differ[0])]} here, {swift_x[tuple(differ[0])]} in Swift"
    return data


def test_idx_directory(tmp_path):
    data = assert_same_as_swift(tmp_path, write_idx(str(tmp_path / "idx")), validation=7)
    assert data.normalization == Normalization([0.2860], [0.3530])  # Fashion-MNIST's, IDX's default


@pytest.mark.parametrize("shape,dtype,labels,layout", [
    ((8, 6, 3), np.uint8, None, None),          # Keras: NHWC bytes, inferred
    ((3, 8, 6), np.float32, "column", None),    # PyTorch: NCHW floats, labels [N, 1], inferred
    ((9, 7), np.float64, None, None),           # [N, H, W] doubles: one channel
    ((4, 5, 3), np.uint8, None, "nhwc"),        # ambiguous (3 and 4 both look like channels), declared
    ((3, 5, 4), np.float32, None, "nchw"),
])
def test_npz(tmp_path, shape, dtype, labels, layout):
    path = random_npz(str(tmp_path / "d.npz"), shape, dtype, label_shape=labels, label_dtype=np.uint8 if labels else np.int64)
    assert_same_as_swift(tmp_path, path, layout=layout)


def test_npz_compressed_with_normalization_and_split(tmp_path):
    path = random_npz(str(tmp_path / "d.npz"), (6, 6, 3), np.uint8, compressed=True, train=50)
    data = assert_same_as_swift(tmp_path, path, validation=13, mean="0.5,0.4,0.3", std="0.25,0.2,0.1")
    x, _ = data.images("validation", 4)
    expected = (x - np.float32([0.5, 0.4, 0.3]).reshape(1, 3, 1, 1)) / np.float32([0.25, 0.2, 0.1]).reshape(1, 3, 1, 1)
    assert np.array_equal(data.normalization.apply(x), expected)


@pytest.mark.parametrize("image_shape", [(3, 16, 16), (1, 12, 20), (3, 40, 9)])
def test_image_folder(tmp_path, image_shape):
    root = write_image_folder(str(tmp_path / "images"))
    data = assert_same_as_swift(tmp_path, root, image_shape=image_shape)
    assert data.classes == 3 and data.count("test") == 9


def test_errors_name_what_is_wrong(tmp_path):
    ambiguous = random_npz(str(tmp_path / "a.npz"), (4, 5, 3), np.uint8)
    with pytest.raises(DataError, match="cannot tell whether x_train of shape"):
        DataSource(DataSpec(ambiguous)).dataset()
    assert "cannot tell whether x_train of shape" in seer_agent_error("dataset", "--data", ambiguous)
    missing = write_npz(str(tmp_path / "m.npz"), np.zeros((2, 4, 4), np.uint8), np.zeros(2, np.int64),
                        np.zeros((1, 4, 4), np.uint8), np.zeros(2, np.int64))
    with pytest.raises(DataError, match=r"y_test: labels must have shape \[1\]"):
        DataSource(DataSpec(missing)).dataset()
    with pytest.raises(DataError, match="--data-mean"):
        DataSpec.command_line(missing, mean="0.5,x")
    root = write_image_folder(str(tmp_path / "images"))
    with pytest.raises(DataError, match="resized to the model's input"):
        DataSource(DataSpec(root)).dataset()
    with open(os.path.join(root, "val", "dog", "broken.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(DataError, match="broken.png: cannot decode"):
        DataSource(DataSpec(root)).dataset([3, 8, 8])
    os.makedirs(os.path.join(root, "val", "fox"))
    with pytest.raises(DataError, match="class 'fox' is not among train/'s classes"):
        DataSource(DataSpec(root)).sha256()


def _resize_reference(source, rows, columns):
    """ImageFolderSource.resizeAndCrop transcribed loop for loop (slow), to check the vectorized version on many sizes."""
    height, width, channels = source.shape
    scale = max(rows / height, columns / width)
    top, left = (height * scale - rows) / 2, (width * scale - columns) / 2
    out = np.zeros((channels, rows, columns), np.uint8)
    for y in range(rows):
        for x in range(columns):
            for c in range(channels):
                if scale < 1:
                    y0, y1 = (y + top) / scale, (y + 1 + top) / scale
                    x0, x1 = (x + left) / scale, (x + 1 + left) / scale
                    total = weight = 0.0
                    for sy in range(int(y0), min(height, int(np.ceil(y1)))):
                        wy = min(y1, sy + 1) - max(y0, sy)
                        for sx in range(int(x0), min(width, int(np.ceil(x1)))):
                            w = wy * (min(x1, sx + 1) - max(x0, sx))
                            total += w * float(source[sy, sx, c])
                            weight += w
                    value = total / weight if weight > 0 else 0
                else:
                    sy = min(max((y + 0.5 + top) / scale - 0.5, 0), height - 1)
                    sx = min(max((x + 0.5 + left) / scale - 0.5, 0), width - 1)
                    y0, x0 = int(sy), int(sx)
                    y1, x1 = min(y0 + 1, height - 1), min(x0 + 1, width - 1)
                    fy, fx = sy - y0, sx - x0
                    s = source.astype(np.float64)
                    value = (1 - fy) * ((1 - fx) * s[y0, x0, c] + fx * s[y0, x1, c]) \
                        + fy * ((1 - fx) * s[y1, x0, c] + fx * s[y1, x1, c])
                floor = np.floor(value)
                out[c, y, x] = min(255, max(0, floor + (value - floor >= 0.5)))
    return out


def test_resize_matches_the_swift_loops_on_many_sizes():
    rng = np.random.default_rng(3)
    for _ in range(40):
        height, width = rng.integers(1, 24, 2)
        rows, columns = rng.integers(1, 24, 2)
        channels = int(rng.choice([1, 3]))
        source = rng.integers(0, 256, (height, width, channels)).astype(np.uint8)
        assert np.array_equal(resize_and_crop(source, rows, columns), _resize_reference(source, rows, columns)), \
            (height, width, rows, columns)
