"""PNG and JPEG decoding as Seer's Swift side does it (Sources/Shims/CImageCodecs/image_codecs.c).

PNG goes through libpng's simplified API, the very call the Swift side makes (`png_image_finish_read` to 8-bit gray
or RGB, alpha composited onto black, colour to gray in linear light), so its pixels are the same bytes wherever
libpng 1.6 is. JPEG goes through Pillow, whose decoder is libjpeg-turbo asked for the same output colour space
(`JCS_GRAYSCALE` for gray: the luma plane itself; `JCS_RGB`), with libjpeg's defaults (islow IDCT, fancy
upsampling) as the Swift side uses them; libjpeg-turbo builds decode alike, but another libjpeg (IJG's libjpeg 9)
may differ by one in a few pixels. CMYK JPEGs are refused, as libjpeg refuses to convert them.
"""

import ctypes
import ctypes.util
import glob
import io
import os

import numpy as np

from .dataset import DataError

PNG_SIGNATURE = b"\x89PNG"
JPEG_SIGNATURE = b"\xff\xd8"
PNG_IMAGE_VERSION = 1
PNG_FORMAT_GRAY = 0
PNG_FORMAT_RGB = 2  # PNG_FORMAT_FLAG_COLOR


class _PngImage(ctypes.Structure):
    """png.h's `png_image`."""
    _fields_ = [("opaque", ctypes.c_void_p), ("version", ctypes.c_uint32), ("width", ctypes.c_uint32),
                ("height", ctypes.c_uint32), ("format", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("colormap_entries", ctypes.c_uint32), ("warning_or_error", ctypes.c_uint32),
                ("message", ctypes.c_char * 64)]


_libpng = None


def _png_library():
    """The system's libpng16, else the copy Pillow's wheel bundles."""
    global _libpng
    if _libpng is None:
        candidates = [ctypes.util.find_library("png16")]
        try:
            import PIL
            candidates += sorted(glob.glob(os.path.join(os.path.dirname(PIL.__file__), "..", "pillow.libs", "libpng16*.so*")))
        except ImportError:
            pass
        for candidate in filter(None, candidates):
            try:
                lib = ctypes.CDLL(candidate)
            except OSError:
                continue
            lib.png_image_begin_read_from_memory.argtypes = [ctypes.POINTER(_PngImage), ctypes.c_void_p, ctypes.c_size_t]
            lib.png_image_finish_read.argtypes = [ctypes.POINTER(_PngImage), ctypes.c_void_p, ctypes.c_void_p,
                                                  ctypes.c_int32, ctypes.c_void_p]
            lib.png_image_free.argtypes = [ctypes.POINTER(_PngImage)]
            _libpng = lib
            break
        else:
            raise DataError("PNG images need libpng 1.6 (Debian: libpng16-16), found neither it nor Pillow's copy")
    return _libpng


def _decode_png(data, channels, path):
    lib = _png_library()
    image = _PngImage(version=PNG_IMAGE_VERSION)
    buffer = ctypes.create_string_buffer(data, len(data))  # libpng reads from it until finish_read
    if not lib.png_image_begin_read_from_memory(ctypes.byref(image), buffer, len(data)):
        message = image.message.decode(errors="replace")
        lib.png_image_free(ctypes.byref(image))
        raise DataError(f"{path}: cannot decode: {message}")
    image.format = PNG_FORMAT_GRAY if channels == 1 else PNG_FORMAT_RGB
    out = np.empty((image.height, image.width, channels), dtype=np.uint8)
    # Alpha is composited onto black when dropped, as the Swift side asks (a NULL background would composite onto
    # the buffer's contents).
    black = (ctypes.c_uint8 * 3)(0, 0, 0)  # png_color
    if not lib.png_image_finish_read(ctypes.byref(image), black, out.ctypes.data_as(ctypes.c_void_p), 0, None):
        message = image.message.decode(errors="replace")
        lib.png_image_free(ctypes.byref(image))
        raise DataError(f"{path}: cannot decode: {message}")
    return out


def _decode_jpeg(data, channels, path):
    from PIL import Image
    try:
        image = Image.open(io.BytesIO(data))
        if channels == 1 and image.mode in ("RGB", "YCbCr"):
            image.draft("L", image.size)  # libjpeg's own grayscale output, at full scale
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot decode: {e}")
    if image.mode not in ("L", "RGB"):
        raise DataError(f"{path}: cannot decode: libjpeg could not convert the {image.mode} image to the requested channels")
    pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] != channels:
        # Only gray to RGB gets here (RGB to gray went through draft): libjpeg repeats the gray value.
        pixels = np.repeat(pixels, channels, axis=2)
    return pixels


def decode(data, channels, path):
    """The image in `data` (told by its first bytes) as [height, width, channels] uint8, channels 1 or 3."""
    if data.startswith(PNG_SIGNATURE):
        return _decode_png(data, channels, path)
    if data.startswith(JPEG_SIGNATURE):
        return _decode_jpeg(data, channels, path)
    raise DataError(f"{path}: neither a PNG nor a JPEG (by its first bytes)")


def resize_and_crop(source, rows, columns):
    """[height, width, channels] uint8 scaled to cover rows x columns and center-cropped: [channels, rows, columns].

    The Swift side's `ImageFolderSource.resizeAndCrop` operation for operation in float64 (area average when
    shrinking, bilinear at pixel centres when enlarging, rounding half away from zero), so the bytes are the same.
    """
    height, width, channels = source.shape
    src = source.astype(np.float64)
    scale = max(rows / height, columns / width)
    top = (height * scale - rows) / 2
    left = (width * scale - columns) / 2
    if scale < 1:
        # Per output row (column): the source rows (columns) it covers and how much of each, padded with weight 0.
        def coverage(count, offset, limit):
            spans = []
            for i in range(count):
                lo, hi = (i + offset) / scale, (i + 1 + offset) / scale
                spans.append([(s, min(hi, s + 1) - max(lo, s)) for s in range(int(lo), min(limit, int(np.ceil(hi))))])
            width_ = max(len(s) for s in spans)
            index = np.zeros((count, width_), dtype=np.int64)
            weight = np.zeros((count, width_))
            for i, span in enumerate(spans):
                for k, (s, w) in enumerate(span):
                    index[i, k], weight[i, k] = s, w
            return index, weight

        iy, wy = coverage(rows, top, height)
        ix, wx = coverage(columns, left, width)
        total = np.zeros((rows, columns, channels))
        weight = np.zeros((rows, columns))
        # The same sums in the same order as the Swift loops (source row outer, column inner); adding a padded
        # zero-weight term leaves a sum unchanged.
        for ky in range(iy.shape[1]):
            for kx in range(ix.shape[1]):
                w = wy[:, ky][:, None] * wx[:, kx][None, :]
                total = total + w[:, :, None] * src[iy[:, ky]][:, ix[:, kx]]
                weight = weight + w
        value = np.where(weight[:, :, None] > 0, total / np.where(weight > 0, weight, 1)[:, :, None], 0.0)
    else:
        sy = np.minimum(np.maximum((np.arange(rows) + 0.5 + top) / scale - 0.5, 0), height - 1)
        sx = np.minimum(np.maximum((np.arange(columns) + 0.5 + left) / scale - 0.5, 0), width - 1)
        y0, x0 = sy.astype(np.int64), sx.astype(np.int64)
        y1, x1 = np.minimum(y0 + 1, height - 1), np.minimum(x0 + 1, width - 1)
        fy, fx = (sy - y0)[:, None, None], (sx - x0)[None, :, None]
        a, b = src[y0][:, x0], src[y0][:, x1]
        c, d = src[y1][:, x0], src[y1][:, x1]
        value = (1 - fy) * ((1 - fx) * a + fx * b) + fy * ((1 - fx) * c + fx * d)
    floor = np.floor(value)
    rounded = floor + (value - floor >= 0.5)
    return np.clip(rounded, 0, 255).astype(np.uint8).transpose(2, 0, 1)
