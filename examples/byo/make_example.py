"""Writes a bring-your-own example into OUT: a small CNN for 32x32 RGB images with 5 classes as ONNX, the same kind
of images as a Keras-style .npz and as a torchvision-style image folder, and two campaign configs.

Usage: .venv/bin/python examples/byo/make_example.py OUT

The images are synthetic (no real data set ships with Seer): class k is a very noisy picture of colour k with a
brighter square whose place depends on k (and jitters), so a network learns them in a few hundred steps, not
perfectly. The CNN is built with onnx.helper
(random weights), as torch.onnx.export would write it: Conv + BatchNormalization + Relu blocks, global average
pooling, Flatten, Gemm. With PyTorch at hand, export your own network instead (see README.md).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

out = os.path.abspath(sys.argv[1])
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
CLASSES = ["red", "green", "blue", "yellow", "cyan"]
COLOURS = np.array([(120, 100, 100), (100, 120, 100), (100, 100, 120), (120, 120, 100), (100, 120, 120)])


def images(n):
    labels = rng.integers(0, len(CLASSES), n)
    tint = rng.integers(-15, 15, (n, 1, 1, 3))
    x = COLOURS[labels].reshape(n, 1, 1, 3) + tint + rng.integers(-100, 100, (n, 32, 32, 3))
    for i, k in enumerate(labels):
        top, left = 4 + 4 * (k % 3) + rng.integers(-3, 4), 4 + 6 * (k // 3) + rng.integers(-3, 4)
        x[i, max(0, top):top + 6, max(0, left):left + 6] += 30
    return np.clip(x, 0, 255).astype(np.uint8), labels.astype(np.int64)


# The npz: NHWC uint8, as keras.datasets gives them.
x_train, y_train = images(1500)
x_test, y_test = images(300)
np.savez_compressed(os.path.join(out, "data.npz"), x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)

# The image folder: train/CLASS/*.png and val/CLASS/*.jpg at 48x48 (Seer resizes them to the model's 32x32).
for split, (x, y) in (("train", (x_train[:500], y_train[:500])), ("val", (x_test[:100], y_test[:100]))):
    for i, (image, label) in enumerate(zip(x, y)):
        folder = os.path.join(out, "images", split, CLASSES[label])
        os.makedirs(folder, exist_ok=True)
        picture = Image.fromarray(image).resize((48, 48), Image.BILINEAR)
        picture.save(os.path.join(folder, f"{i:04d}." + ("png" if split == "train" else "jpg")))

# The network: 3x32x32 -> 5 logits.
inits, nodes = [], []


def init(name, array):
    inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
    return name


def block(x, cin, cout, stride, name):
    w = init(name + ".weight", rng.standard_normal((cout, cin, 3, 3)) * (2.0 / (cin * 9)) ** 0.5)
    nodes.append(helper.make_node("Conv", [x, w], [name + ".conv"], name=name + ".conv", kernel_shape=[3, 3],
                                  pads=[1, 1, 1, 1], strides=[stride, stride]))
    bn = [init(name + ".bn." + p, v) for p, v in (("scale", np.ones(cout)), ("bias", np.zeros(cout)),
                                                   ("mean", np.zeros(cout)), ("var", np.ones(cout)))]
    nodes.append(helper.make_node("BatchNormalization", [name + ".conv"] + bn, [name + ".bn"], name=name + ".bn"))
    nodes.append(helper.make_node("Relu", [name + ".bn"], [name + ".relu"], name=name + ".relu"))
    return name + ".relu"


x = block("input", 3, 16, 1, "block1")
x = block(x, 16, 32, 2, "block2")
x = block(x, 32, 32, 2, "block3")
nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="pool"))
nodes.append(helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten", axis=1))
nodes.append(helper.make_node("Gemm", ["flat", init("fc.weight", rng.standard_normal((5, 32)) * 0.1),
                                       init("fc.bias", np.zeros(5))], ["logits"], name="fc", transB=1))
graph = helper.make_graph(nodes, "byo-cnn", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 32, 32])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
onnx.checker.check_model(model)
onnx.save(model, os.path.join(out, "cnn.onnx"))

# Campaign configs: the network fine-tuned by `seer-coordinator train` (models/cnn.safetensors), on either source.
normalization = "mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]"
for name, data in (("npz", f"{{format: npz, path: {out}/data.npz, {normalization}}}"),
                   ("images", f"{{format: imagefolder, path: {out}/images, {normalization}}}")):
    with open(os.path.join(out, f"campaign-{name}.yaml"), "w") as f:
        f.write(f"""name: byo-{name}
model: {out}/cnn.onnx
checkpoint: {out}/models/cnn.safetensors
data: {data}
metric: bitops
budgets: ["25%"]
measurement: {{finetune_steps: 20, batch_size: 32, evaluation_limit: 150, calibration_images: 64,
              latency: {{repeat: 2, min_repeat_ms: 5}}}}
sampling: {{initial: 6, rounds: 1, per_round: 2, refine: 0, sensitivity_images: 64, noise_repeats: 1}}
predictor: {{members: 4, hidden: 0}}
""")
print(f"wrote {out}/cnn.onnx, data.npz, images/, campaign-npz.yaml, campaign-images.yaml")
