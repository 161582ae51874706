"""Small generated data sources of every format (a few dozen images), written the way users' tools write them."""

import gzip
import io
import os
import struct

import numpy as np
from PIL import Image


def write_idx(directory, train=36, test=12, rows=28, columns=28, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)

    def idx(name, magic, array):
        header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
        with open(os.path.join(directory, name), "wb") as f:
            f.write(gzip.compress(header + array.astype(np.uint8).tobytes()))

    idx("train-images-idx3-ubyte.gz", 0x803, rng.integers(0, 256, (train, rows, columns)))
    idx("train-labels-idx1-ubyte.gz", 0x801, rng.integers(0, 10, train))
    idx("t10k-images-idx3-ubyte.gz", 0x803, rng.integers(0, 256, (test, rows, columns)))
    idx("t10k-labels-idx1-ubyte.gz", 0x801, rng.integers(0, 10, test))
    return directory


def write_npz(path, x_train, y_train, x_test, y_test, compressed=False):
    (np.savez_compressed if compressed else np.savez)(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def random_npz(path, shape, dtype, train=40, test=12, classes=5, label_shape=None, label_dtype=np.int64, seed=0,
               compressed=False):
    rng = np.random.default_rng(seed)

    def images(n):
        return rng.integers(0, 256, (n, *shape)).astype(np.uint8) if dtype == np.uint8 \
            else rng.random((n, *shape)).astype(dtype)

    def labels(n):
        y = rng.integers(0, classes, n).astype(label_dtype)
        return y.reshape(n, 1) if label_shape == "column" else y

    return write_npz(path, images(train), labels(train), images(test), labels(test), compressed)


# (PIL mode, size (width, height), format): every PNG colour type libpng converts (gray, RGB, RGBA, palette, gray +
# alpha, 16-bit) and JPEGs in colour (4:2:0) and gray, shrunk and enlarged, square and not.
IMAGE_KINDS = [("L", (20, 14), "PNG"), ("RGB", (9, 11), "PNG"), ("RGBA", (16, 16), "PNG"), ("P", (33, 25), "PNG"),
               ("LA", (12, 30), "PNG"), ("I;16", (17, 17), "PNG"), ("RGB", (24, 18), "JPEG"), ("L", (10, 13), "JPEG"),
               ("RGB", (7, 40), "JPEG")]


def _image_bytes(rng, mode, size, fmt):
    width, height = size
    # Smooth gradients plus noise: JPEG rounding and resampling both have something to do.
    yy, xx = np.mgrid[0:height, 0:width]
    base = (xx * 255 // max(1, width - 1) + yy * 97 // max(1, height - 1)) % 256
    if mode == "I;16":
        image = Image.fromarray((base * 257 + rng.integers(0, 257, base.shape)).astype(np.uint16))
    elif mode == "P":
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3)).astype(np.uint8)).quantize(colors=16)
    else:
        bands = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
        noise = rng.integers(0, 64, (height, width, bands))
        array = ((base[:, :, None] + noise + np.arange(bands) * 60) % 256).astype(np.uint8)
        image = Image.fromarray(array[:, :, 0] if bands == 1 else array)
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return out.getvalue()


def write_image_folder(root, classes=("cat", "dog", "eel"), per_class=8, test_per_class=3, seed=0):
    rng = np.random.default_rng(seed)
    count = 0
    for folder, n in (("train", per_class), ("val", test_per_class)):
        for name in classes:
            os.makedirs(os.path.join(root, folder, name), exist_ok=True)
            for i in range(n):
                mode, size, fmt = IMAGE_KINDS[count % len(IMAGE_KINDS)]
                count += 1
                extension = {"PNG": ".png", "JPEG": ".jpg" if i % 2 else ".JPEG"}[fmt]
                with open(os.path.join(root, folder, name, f"{i:02d}{extension}"), "wb") as f:
                    f.write(_image_bytes(rng, mode, size, fmt))
    # What ImageFolder skips: other extensions and hidden files.
    with open(os.path.join(root, "train", classes[0], "notes.txt"), "w") as f:
        f.write("not an image")
    with open(os.path.join(root, "train", classes[0], ".hidden.png"), "wb") as f:
        f.write(b"not even a png")
    return root
