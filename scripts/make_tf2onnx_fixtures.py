"""The committed tf2onnx-exported ONNX fixtures of the import tests (Tests/Fixtures/onnx). Needs TensorFlow and tf2onnx,
which stay out of .venv and `make test`: run it with a Python that has them (e.g. /work/tfenv/bin/python or
$SEER_TF_PYTHON; made and checked with tensorflow-cpu 2.21, Keras 3.15 and tf2onnx 1.17:
`python3 -m venv ENV && ENV/bin/pip install tensorflow-cpu tf2onnx onnxruntime`).

Three small Keras CNNs on 16x16x3 (15x15x3) NHWC images, random weights and batch-norm statistics (seeds 0), exported by
tf2onnx.convert.from_keras at opset 13 and opset 18. tf2onnx keeps Keras's NHWC input (a Transpose to NCHW follows
it), folds most batch norms into the convolutions and leaves the others as Mul and Add of [1, C, 1, 1] constants,
writes 'same' padding at stride 2 as pads [0, 0, 1, 1], and Dense as MatMul + Add.

keras-residual-*: Conv2D 'same' stride 2 + BatchNormalization + ReLU, DepthwiseConv2D + BatchNormalization + ReLU(6),
  1x1 Conv2D + BatchNormalization, Add (residual), MaxPooling2D, Conv2D + ReLU, AveragePooling2D,
  GlobalAveragePooling2D (GlobalAveragePool + Squeeze at opset 13; Transpose + ReduceMean at 18), Dropout, Dense.
keras-rescaling-*: on 15x15x3, Rescaling(1/255) and Normalization (tf2onnx: Mul, Add and Mul of [1, 1, 1, 3] constants
  on the NHWC input before its Transpose), Conv2D 'same' + ReLU, MaxPooling2D 'same' (pads [0, 0, 1, 1] over the odd
  15x15 map), Conv2D, Rescaling(0.5, offset=0.1) after its ReLU (Mul and Add that follow no convolution),
  AveragePooling2D(3, 2, 'same') (pads [0, 0, 1, 1], count_include_pad 0), GlobalAveragePooling2D, Dense with
  activation='softmax' (MatMul + Add + Softmax: the file returns probabilities).
keras-flatten-*: Conv2D + BatchNormalization + ReLU, Conv2D + ReLU, a dilated Conv2D 'same', MaxPooling2D, Flatten (Keras flattens
  height, width, channels: tf2onnx writes a Transpose back to NHWC and a Reshape whose shape is a Shape/Gather/Cast/
  Slice/Concat chain), Dense + ReLU, Dense.

Usage: make_tf2onnx_fixtures.py [OUT_DIR]   (default Tests/Fixtures/onnx)
"""
import os, sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np, onnx, tensorflow as tf, tf2onnx

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "onnx")
L = tf.keras.layers
SHAPE = (16, 16, 3)


def residual():
    inp = tf.keras.Input(SHAPE, name="input")
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem")(inp)
    x = L.ReLU(name="stem_relu")(L.BatchNormalization(name="stem_bn")(x))
    y = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = L.ReLU(6.0, name="dw_relu6")(L.BatchNormalization(name="dw_bn")(y))
    y = L.BatchNormalization(name="pw_bn")(L.Conv2D(8, 1, use_bias=False, name="pw")(y))
    x = L.Add(name="add")([x, y])
    x = L.MaxPooling2D(2, name="maxpool")(x)
    x = L.Conv2D(12, 3, padding="same", activation="relu", name="conv2")(x)
    x = L.AveragePooling2D(2, name="avgpool")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dropout(0.2, name="dropout")(x)
    return tf.keras.Model(inp, L.Dense(5, name="logits")(x), name="keras_residual")


def flatten():
    inp = tf.keras.Input(SHAPE, name="input")
    x = L.Conv2D(6, 3, padding="same", use_bias=False, name="conv1")(inp)
    x = L.ReLU(name="relu1")(L.BatchNormalization(name="bn1")(x))
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = L.Conv2D(8, 3, padding="same", dilation_rate=2, activation="relu", name="dilated")(x)
    x = L.MaxPooling2D(4, name="pool")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(16, activation="relu", name="fc1")(x)
    return tf.keras.Model(inp, L.Dense(6, name="logits")(x), name="keras_flatten")


def rescaling():
    inp = tf.keras.Input((15, 15, 3), name="input")
    x = L.Rescaling(1 / 255.0, name="rescale")(inp)
    x = L.Normalization(mean=[0.5, 0.4, 0.3], variance=[0.04, 0.09, 0.16], name="normalize")(x)
    x = L.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(x)
    x = L.MaxPooling2D(2, padding="same", name="maxpool")(x)
    x = L.Conv2D(8, 3, activation="relu", name="conv2")(x)
    x = L.Rescaling(0.5, offset=0.1, name="midscale")(x)
    x = L.AveragePooling2D(3, strides=2, padding="same", name="avgpool")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return tf.keras.Model(inp, L.Dense(5, activation="softmax", name="probs")(x), name="keras_rescaling")


def randomized(model, seed):
    """Batch-norm statistics and biases away from their initial zeros and ones, so that every folded term matters."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = weights
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.2, beta.shape),
                               rng.normal(0, 0.2, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
        elif len(weights) == 2:
            layer.set_weights([weights[0], rng.normal(0, 0.2, weights[1].shape)])
    return model


for name, build in [("keras-residual", residual), ("keras-flatten", flatten), ("keras-rescaling", rescaling)]:
    tf.keras.utils.set_random_seed(0)
    model = randomized(build(), 0)
    spec = (tf.TensorSpec((None,) + model.input_shape[1:], tf.float32, name="input"),)
    for opset in (13, 18):
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
        proto.producer_name += f" (tensorflow {tf.__version__})"
        onnx.checker.check_model(proto)
        path = os.path.join(out, f"{name}-tf2onnx-opset{opset}.onnx")
        onnx.save_model(proto, path)
        print(path, os.path.getsize(path), "bytes:", " ".join(n.op_type for n in proto.graph.node))
print("tensorflow", tf.__version__, "tf2onnx", tf2onnx.__version__, "->", os.path.abspath(out))
