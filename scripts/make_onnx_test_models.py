"""Small float32 ONNX classifiers built with onnx.helper (random weights) for the import tests, and their reference outputs.

Usage: make_onnx_test_models.py KIND OUT_DIR [FILE]
KIND: cifar (a 32x32x3 plain CNN with 5 classes), plain (opset 10: Clip attributes, BN epsilon 1e-3, Dropout, Flatten, Gemm transB), resnet (residual blocks, a
1x1 projection, x.view(x.size(0), -1) as Shape/Gather/Unsqueeze/Concat/Reshape, MatMul + Add), resnet-external (the
same with weights in weights.bin), mobilenet (inverted residuals with depthwise convolutions, Clip inputs, Gemm alpha
and beta), same-padding (asymmetric pads, auto_pad SAME_UPPER), se (opset 14: HardSwish, squeeze-excitation, SiLU, LeakyRelu, general Clip, Concat), smooth (the same
blocks with Sigmoid only, for finite differences of the whole graph), reduce-mean (opset 18, as the dynamo exporter writes
MobileNetV3: ReduceMean with axes as an input, Reshape with allowzero), reduce-mean-13 (ReduceMean with an axes attribute,
HardSwish as x * HardSigmoid(x) on feature maps and on the classifier's vectors), duplicates (repeated node names),
unsupported (a Tanh node), reduce-channels (a ReduceMean over the channels), windows (Conv and pooling windows beyond
square and undilated: 1x7 / 7x1, unequal strides, dilations, SAME_LOWER, pads unequal per axis, a dilated depthwise
3x1, a dilated 1x3 max pool, a 3x1 average pool, on a 17x14 input), avgpool-dilated (opset 19: a dilated AveragePool), slice-channels and pad-reflect (a Slice of the channels, a reflecting Pad),
ceil-pools (ceil_mode 1 on MaxPool and AveragePool, with and without padding), same-dilated (auto_pad
SAME_UPPER / SAME_LOWER with dilations on Conv and MaxPool; reference logits from explicit pads, checked with
onnx.reference), transpose-hw (an NHWC input as tf2onnx writes it, then a Transpose of height and width),
affine (constant Mul/Add/Sub/Div that follow no convolution: Keras's Rescaling and Normalization before tf2onnx's input
Transpose, a per-channel scale after a Relu; a final Softmax at opset 13), softmax-10 (a final Softmax at opset 10, a
constant minus the input), same-pools (Keras's 'same' pools: MaxPool with pads unequal on an axis, AveragePool with
count_include_pad 0), scale-per-pixel, div-by-tensor, softmax-inside and softmax-axis (what still fails, naming the
node), fixture (FILE, a committed .onnx such as the PyTorch and tf2onnx exports in
Tests/Fixtures/onnx, copied and run like the built ones; an input that only a Transpose to NCHW reads, as tf2onnx writes
a Keras model's, is NHWC: x.f32 stays NCHW as the engine takes it, onnxruntime gets it transposed).
Writes OUT_DIR/model.onnx and, for runnable kinds, x.f32 (a batch) and y.f32 (onnxruntime logits); prints one JSON
object: input shape [C, H, W], layout (nchw or nhwc), classes, batch, and MACs and parameters counted from onnx shape
inference.
"""
import json, sys
import numpy as np, onnx, onnxruntime as ort
from onnx import helper, numpy_helper, TensorProto, shape_inference

kind, out = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(7)
inits, nodes = [], []

def init(name, array):
    inits.append(numpy_helper.from_array(np.asarray(array), name))
    return name

def node(op, ins, outs, name, **attrs):
    nodes.append(helper.make_node(op, ins, outs, name=name, **attrs))
    return outs[0]

def conv(x, cin, cout, k, name, stride=1, pad=None, group=1, bias=True):
    pad = k // 2 if pad is None else pad
    w = init(name + ".w", (rng.standard_normal((cout, cin // group, k, k)) * (2.0 / (cin // group * k * k)) ** 0.5).astype(np.float32))
    ins = [x, w] + ([init(name + ".b", (rng.standard_normal(cout) * 0.1).astype(np.float32))] if bias else [])
    return node("Conv", ins, [name + ".out"], name, kernel_shape=[k, k], pads=[pad] * 4, strides=[stride, stride], group=group)

def bn(x, c, name, eps=1e-5):
    args = [init(name + ".g", rng.uniform(0.5, 1.5, c).astype(np.float32)), init(name + ".beta", (rng.standard_normal(c) * 0.1).astype(np.float32)),
            init(name + ".mean", (rng.standard_normal(c) * 0.1).astype(np.float32)), init(name + ".var", rng.uniform(0.5, 2, c).astype(np.float32))]
    return node("BatchNormalization", [x] + args, [name + ".out"], name, epsilon=eps)

def relu6(x, name, opset):
    if opset >= 11:
        return node("Clip", [x, init(name + ".min", np.array(0, np.float32)), init(name + ".max", np.array(6, np.float32))], [name + ".out"], name)
    return node("Clip", [x], [name + ".out"], name, min=0.0, max=6.0)

opset, c, h, w, classes = 13, 3, 16, 16, 7
output = "logits"
if kind == "plain":
    opset = 10
    x = conv("input", 3, 8, 3, "conv1")
    x = node("Relu", [x], ["r1"], "relu1")
    x = node("MaxPool", [x], ["p1"], "pool1", kernel_shape=[2, 2], strides=[2, 2])
    x = conv(x, 8, 12, 3, "conv2", stride=2, bias=False)
    x = bn(x, 12, "bn2", eps=1e-3)
    x = relu6(x, "clip2", opset)
    x = node("AveragePool", [x], ["p2"], "pool2", kernel_shape=[2, 2], strides=[2, 2])
    x = node("Dropout", [x], ["d"], "drop")
    x = node("Flatten", [x], ["f"], "flatten", axis=1)
    wfc = init("fc.w", (rng.standard_normal((classes, 12 * 2 * 2)) * 0.2).astype(np.float32))
    x = node("Gemm", [x, wfc, init("fc.b", rng.standard_normal(classes).astype(np.float32))], ["logits"], "fc", transB=1, alpha=1.0, beta=1.0)
elif kind in ("resnet", "resnet-external"):
    c, h, w, classes = 3, 12, 12, 5
    x = node("Relu", [bn(conv("input", 3, 8, 3, "stem", bias=False), 8, "stem.bn")], ["s"], "stem.relu")
    # identity block (node names repeat to check unique layer names)
    y = node("Relu", [bn(conv(x, 8, 8, 3, "b1.conv1", bias=False), 8, "b1.bn1")], ["b1.r1"], "relu")
    y = bn(conv(y, 8, 8, 3, "b1.conv2", bias=False), 8, "b1.bn2")
    x = node("Relu", [node("Add", [y, x], ["b1.sum"], "b1.add")], ["b1.out"], "b1.relu2")
    # downsampling block with a 1x1 projection
    y = node("Relu", [bn(conv(x, 8, 16, 3, "b2.conv1", stride=2, bias=False), 16, "b2.bn1")], ["b2.r1"], "")
    y = bn(conv(y, 16, 16, 3, "b2.conv2", bias=False), 16, "b2.bn2")
    s = bn(conv(x, 8, 16, 1, "b2.proj", stride=2, bias=False), 16, "b2.proj.bn")
    x = node("Relu", [node("Add", [y, s], ["b2.sum"], "b2.add")], ["b2.out"], "")
    x = node("GlobalAveragePool", [x], ["gap"], "gap")
    # x.view(x.size(0), -1) as torch.onnx.export writes it
    shape = node("Shape", [x], ["shape"], "shape")
    n = node("Gather", [shape, init("zero", np.array(0, np.int64))], ["n"], "gather", axis=0)
    n1 = node("Unsqueeze", [n, init("axes0", np.array([0], np.int64))], ["n1"], "unsqueeze")
    target = node("Concat", [n1, init("minus1", np.array([-1], np.int64))], ["target"], "concat", axis=0)
    x = node("Reshape", [x, target], ["flat"], "reshape")
    x = node("MatMul", [x, init("fc.w", (rng.standard_normal((16, classes)) * 0.3).astype(np.float32))], ["mm"], "fc.matmul")
    x = node("Add", [x, init("fc.b", rng.standard_normal(classes).astype(np.float32))], ["logits"], "fc.add")
elif kind == "cifar":
    # A CIFAR-sized plain CNN (32x32x3, 5 classes): the bring-your-own-data tests train and measure it on an npz.
    c, h, w, classes = 3, 32, 32, 5
    x = node("Relu", [bn(conv("input", 3, 8, 3, "conv1", stride=2, bias=False), 8, "bn1")], ["r1"], "relu1")
    x = node("Relu", [bn(conv(x, 8, 16, 3, "conv2", stride=2, bias=False), 16, "bn2")], ["r2"], "relu2")
    x = node("GlobalAveragePool", [x], ["gap"], "gap")
    x = node("Flatten", [x], ["f"], "flatten", axis=1)
    x = node("Gemm", [x, init("fc.w", (rng.standard_normal((classes, 16)) * 0.3).astype(np.float32)),
                      init("fc.b", np.zeros(classes, np.float32))], ["logits"], "fc", transB=1)
elif kind == "mobilenet":
    c, h, w, classes = 3, 16, 16, 6
    x = relu6(bn(conv("input", 3, 8, 3, "stem", stride=2, bias=False), 8, "stem.bn"), "stem.clip", opset)
    for i, (cin, cout, stride) in enumerate([(8, 8, 1), (8, 12, 2), (12, 12, 1)]):
        p = f"block{i}"
        hid = cin * 3
        y = relu6(bn(conv(x, cin, hid, 1, p + ".expand", bias=False), hid, p + ".bn1"), p + ".clip1", opset)
        y = relu6(bn(conv(y, hid, hid, 3, p + ".dw", stride=stride, group=hid, bias=False), hid, p + ".bn2"), p + ".clip2", opset)
        y = bn(conv(y, hid, cout, 1, p + ".project", bias=False), cout, p + ".bn3")
        x = node("Add", [x, y], [p + ".sum"], p + ".add") if stride == 1 and cin == cout else y
    x = node("GlobalAveragePool", [x], ["gap"], "gap")
    x = node("Flatten", [x], ["f"], "flatten")
    x = node("Identity", [x], ["id"], "identity")
    x = node("Gemm", [x, init("fc.w", (rng.standard_normal((12, classes)) * 0.3).astype(np.float32)),
                      init("fc.b", rng.standard_normal(classes).astype(np.float32))], ["logits"], "fc", alpha=0.5, beta=2.0)
elif kind == "se":
    # MobileNetV3 / EfficientNet pieces at opset 14: HardSwish, squeeze-excitation (GlobalAveragePool -> 1x1 convs ->
    # HardSigmoid -> Mul), SiLU (x * Sigmoid(x)), LeakyRelu, a general Clip and a channel Concat.
    opset, c, h, w, classes = 14, 3, 12, 12, 5
    x = node("HardSwish", [bn(conv("input", 3, 8, 3, "stem", bias=False), 8, "stem.bn")], ["stem.hs"], "stem.hswish")
    y = node("HardSwish", [bn(conv(x, 8, 16, 1, "expand", bias=False), 16, "expand.bn")], ["e.hs"], "expand.hswish")
    y = node("Relu", [bn(conv(y, 16, 16, 3, "dw", group=16, bias=False), 16, "dw.bn")], ["dw.r"], "dw.relu")
    s = node("GlobalAveragePool", [y], ["se.pool"], "se.pool")
    s = node("Relu", [conv(s, 16, 4, 1, "se.reduce")], ["se.r"], "se.relu")
    s = node("HardSigmoid", [conv(s, 4, 16, 1, "se.expand")], ["se.gate"], "se.hsigmoid", alpha=1.0 / 6, beta=0.5)
    y = node("Mul", [y, s], ["se.out"], "se.mul")
    y = bn(conv(y, 16, 8, 1, "project", bias=False), 8, "project.bn")
    x = node("Add", [x, y], ["b.sum"], "b.add")
    # EfficientNet's SiLU
    z = conv(x, 8, 8, 3, "silu.conv")
    z = node("Mul", [z, node("Sigmoid", [z], ["silu.sig"], "silu.sigmoid")], ["silu.out"], "silu.mul")
    v = node("LeakyRelu", [conv(x, 8, 6, 1, "leaky.conv")], ["leaky.out"], "leaky", alpha=0.1)
    x = node("Concat", [z, v], ["cat"], "concat", axis=1)
    x = node("Clip", [x, init("clip.min", np.array(-1.5, np.float32)), init("clip.max", np.array(2, np.float32))], ["clipped"], "clip")
    x = node("GlobalAveragePool", [x], ["gap"], "gap")
    x = node("Flatten", [x], ["f"], "flatten")
    x = node("Gemm", [x, init("fc.w", (rng.standard_normal((classes, 14)) * 0.3).astype(np.float32)),
                      init("fc.b", rng.standard_normal(classes).astype(np.float32))], ["logits"], "fc", transB=1)
elif kind in ("reduce-mean", "reduce-mean-13"):
    # torchvision's MobileNetV3 pieces as the exporters write them. reduce-mean (opset 18, the dynamo exporter):
    # adaptive_avg_pool2d as ReduceMean with axes as an input, keepdims 1, then Reshape to [-1, F] with allowzero.
    # reduce-mean-13 (the TorchScript exporter at opset 13): ReduceMean with an axes attribute and keepdims 0 (x.mean((2,
    # 3))), and HardSwish as x * HardSigmoid(x), also on the classifier's [batch, features].
    opset, c, h, w, classes = (18 if kind == "reduce-mean" else 13), 3, 12, 12, 5
    def mean(x, name, keepdims, axes):
        if opset >= 18:
            return node("ReduceMean", [x, init(name + ".axes", np.array(axes, np.int64))], [name + ".out"], name, keepdims=keepdims)
        return node("ReduceMean", [x], [name + ".out"], name, axes=axes, keepdims=keepdims)
    def hswish(x, name):
        if opset >= 14:
            return node("HardSwish", [x], [name + ".out"], name)
        gate = node("HardSigmoid", [x], [name + ".gate"], name + ".hsigmoid", alpha=1.0 / 6, beta=0.5)
        return node("Mul", [x, gate], [name + ".out"], name)
    stem = hswish(bn(conv("input", 3, 8, 3, "stem", bias=False), 8, "stem.bn"), "stem.hswish")
    s = mean(stem, "se.pool", 1, [-1, -2])
    s = node("Relu", [conv(s, 8, 4, 1, "se.reduce")], ["se.r"], "se.relu")
    s = node("HardSigmoid", [conv(s, 4, 8, 1, "se.expand")], ["se.gate"], "se.hsigmoid", alpha=1.0 / 6, beta=0.5)
    y = node("Mul", [stem, s], ["se.out"], "se.mul")
    x = node("Add", [stem, bn(conv(y, 8, 8, 3, "conv2", bias=False), 8, "conv2.bn")], ["sum"], "add")
    if opset >= 18:
        x = node("Reshape", [mean(x, "gap", 1, [-1, -2]), init("flat.shape", np.array([-1, 8], np.int64))], ["flat"], "flatten", allowzero=1)
    else:
        x = mean(x, "gap", 0, [2, 3])
    x = node("Gemm", [x, init("fc1.w", (rng.standard_normal((12, 8)) * 0.5).astype(np.float32)),
                      init("fc1.b", rng.standard_normal(12).astype(np.float32))], ["fc1.out"], "fc1", transB=1)
    x = hswish(x, "head.hswish")
    x = node("Gemm", [x, init("fc2.w", (rng.standard_normal((classes, 12)) * 0.3).astype(np.float32)),
                      init("fc2.b", rng.standard_normal(classes).astype(np.float32))], ["logits"], "fc2", transB=1)
elif kind == "reduce-channels":
    # A mean over the channels is no global pool: an error naming the node.
    opset = 18
    x = conv("input", 3, 4, 3, "conv")
    x = node("ReduceMean", [x, init("axes", np.array([1], np.int64))], ["m"], "channel_mean", keepdims=1)
    x = node("GlobalAveragePool", [x], ["gap"], "gap")
    x = node("Flatten", [x], ["logits"], "flatten")
    classes = 1
elif kind == "same-padding":
    # tf2onnx's SAME padding at stride 2: one more row and column at the bottom and right.
    c, h, w, classes = 3, 10, 10, 4
    wt = init("c1.w", (rng.standard_normal((6, 3, 3, 3)) * 0.4).astype(np.float32))
    x = node("Conv", ["input", wt], ["c1"], "conv1", kernel_shape=[3, 3], pads=[0, 0, 1, 1], strides=[2, 2])
    x = node("Relu", [x], ["r1"], "relu1")
    wt = init("c2.w", (rng.standard_normal((6, 6, 3, 3)) * 0.3).astype(np.float32))
    x = node("Conv", [x, wt], ["c2"], "conv2", kernel_shape=[3, 3], auto_pad="SAME_UPPER", strides=[2, 2])
    x = node("AveragePool", [x], ["p"], "pool", kernel_shape=[2, 2], pads=[0, 0, 1, 1], count_include_pad=1)
    x = node("GlobalAveragePool", [x], ["gap"], "gap")
    x = node("Flatten", [x], ["f"], "flatten")
    x = node("Gemm", [x, init("fc.w", rng.standard_normal((classes, 6)).astype(np.float32))], ["logits"], "fc", transB=1)
elif kind == "smooth":
    # Only smooth activations (Sigmoid, SiLU), so that finite differences of the whole graph are meaningful: a ReLU
    # network has thousands of kinks, and some unit crosses one inside any useful step.
    c, h, w, classes = 3, 8, 8, 4
    x = node("Sigmoid", [bn(conv("input", 3, 6, 3, "stem", bias=False), 6, "stem.bn")], ["s"], "stem.sigmoid")
    y = bn(conv(x, 6, 6, 3, "dw", group=6, bias=False), 6, "dw.bn")
    y = node("Mul", [y, node("Sigmoid", [y], ["dw.sig"], "dw.sigmoid")], ["dw.silu"], "dw.mul")
    s = node("GlobalAveragePool", [y], ["se.pool"], "se.pool")
    s = node("Sigmoid", [conv(node("Sigmoid", [conv(s, 6, 3, 1, "se.reduce")], ["se.r"], "se.act"), 3, 6, 1, "se.expand")],
             ["se.gate"], "se.sigmoid")
    y = node("Mul", [y, s], ["se.out"], "se.mul")
    y = node("Add", [x, bn(conv(y, 6, 6, 1, "project", bias=False), 6, "project.bn")], ["sum"], "add")
    z = node("Concat", [y, conv(y, 6, 2, 1, "side")], ["cat"], "concat", axis=1)
    x = node("Flatten", [node("GlobalAveragePool", [z], ["gap"], "gap")], ["f"], "flatten")
    x = node("Gemm", [x, init("fc.w", rng.standard_normal((classes, 8)).astype(np.float32)),
                      init("fc.b", rng.standard_normal(classes).astype(np.float32))], ["logits"], "fc", transB=1)
elif kind == "windows":
    c, h, w, classes = 3, 17, 14, 5
    def wconv(x, cin, cout, kh, kw, name, group=1, bias=True, **attrs):
        wt = init(name + ".w", (rng.standard_normal((cout, cin // group, kh, kw)) * (2.0 / (cin // group * kh * kw)) ** 0.5).astype(np.float32))
        ins = [x, wt] + ([init(name + ".b", (rng.standard_normal(cout) * 0.1).astype(np.float32))] if bias else [])
        return node("Conv", ins, [name + ".out"], name, kernel_shape=[kh, kw], group=group, **attrs)
    x = node("Relu", [bn(wconv("input", 3, 8, 1, 7, "conv1x7", pads=[0, 3, 0, 3]), 8, "bn1")], ["r1"], "relu1")
    x = node("Relu", [bn(wconv(x, 8, 8, 7, 1, "conv7x1", pads=[3, 0, 3, 0], bias=False), 8, "bn2")], ["r2"], "relu2")
    y = wconv(x, 8, 8, 3, 1, "dw", group=8, pads=[2, 0, 2, 0], dilations=[2, 1])
    x = node("Add", [x, y], ["sum"], "add")  # ties the depthwise channels to conv7x1's
    x = wconv(x, 8, 12, 3, 3, "strided", strides=[2, 1], auto_pad="SAME_LOWER")
    x = node("Relu", [wconv(x, 12, 12, 3, 2, "dilated", strides=[1, 2], dilations=[1, 2], pads=[1, 1, 1, 1])], ["r3"], "relu3")
    x = wconv(x, 12, 12, 2, 3, "uneven", pads=[0, 1, 1, 2], strides=[1, 2])
    x = node("MaxPool", [x], ["mp"], "maxpool", kernel_shape=[1, 3], strides=[1, 2], pads=[0, 1, 0, 1], dilations=[1, 2])
    x = node("AveragePool", [x], ["ap"], "avgpool", kernel_shape=[3, 1], strides=[2, 1], pads=[1, 0, 1, 0], count_include_pad=1)
    x = node("Flatten", [node("GlobalAveragePool", [x], ["gap"], "gap")], ["f"], "flatten")
    x = node("Gemm", [x, init("fc.w", rng.standard_normal((classes, 12)).astype(np.float32)),
                      init("fc.b", rng.standard_normal(classes).astype(np.float32))], ["logits"], "fc", transB=1)
elif kind == "avgpool-dilated":
    opset = 19
    x = conv("input", 3, 4, 3, "conv")
    x = node("AveragePool", [x], ["ap"], "pool/dilated", kernel_shape=[2, 2], dilations=[2, 1])
    x = node("Flatten", [node("GlobalAveragePool", [x], ["gap"], "gap")], ["logits"], "flatten")
    classes = 4
elif kind in ("slice-channels", "pad-reflect"):
    # What option-A shortcuts never do: slice the channels, pad by reflection. Each a clear error naming the node.
    x = conv("input", 3, 4, 3, "conv")
    if kind == "slice-channels":
        ends = init("ends", np.array([2], np.int64))
        x = node("Slice", [x, init("starts", np.array([0], np.int64)), ends, init("axes", np.array([1], np.int64))], ["s"], "shortcut/slice")
    else:
        x = node("Pad", [x, init("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))], ["p"], "shortcut/pad", mode="reflect")
    x = node("Flatten", [node("GlobalAveragePool", [x], ["gap"], "gap")], ["logits"], "flatten")
    classes = 2 if kind == "slice-channels" else 4
elif kind == "ceil-pools":
    # ceil_mode 1: windows hanging past the padded input (max; average with count_include_pad 1 and padding, and 0
    # without), and an average whose last window would start in the padding (dropped). Shapes in the comments.
    c, h, w, classes = 3, 16, 15, 4
    x = node("Relu", [conv("input", 3, 6, 3, "conv1")], ["r1"], "relu1")  # 6x16x15
    x = node("MaxPool", [x], ["mp"], "maxpool/ceil", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)  # 6x9x8
    x = conv(x, 6, 8, 1, "conv2")  # 8x9x8
    x = node("AveragePool", [x], ["ap1"], "avgpool/ceil-pad", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
             ceil_mode=1, count_include_pad=1)  # 8x5x5
    x = node("AveragePool", [x], ["ap2"], "avgpool/ceil-dropped", kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1],
             ceil_mode=1, count_include_pad=1)  # 8x3x3
    x = node("AveragePool", [x], ["ap3"], "avgpool/ceil-valid", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)  # 8x2x2
    x = node("Flatten", [x], ["f"], "flatten")
    x = node("Gemm", [x, init("fc.w", (rng.standard_normal((classes, 32)) * 0.3).astype(np.float32)),
                      init("fc.b", rng.standard_normal(classes).astype(np.float32))], ["logits"], "fc", transB=1)
elif kind == "same-dilated":
    # auto_pad SAME_* with dilations, as the ONNX specification pads them (onnxruntime refuses the Conv and pads its
    # max pool for the undilated kernel): the reference logits come from onnxruntime on a copy with the specified
    # pads written out (`explicit`), checked against onnx.reference on the file itself.
    c, h, w, classes = 3, 9, 8, 5
    explicit = {}
    def same(name, size, kernel, stride, dilation, mode):
        pads = []
        for i in range(2):
            out = -(-size[i] // stride[i]); span = (kernel[i] - 1) * dilation[i] + 1
            total = max(0, (out - 1) * stride[i] + span - size[i]); small = total // 2
            pads.append((small, total - small) if mode == "SAME_UPPER" else (total - small, small))
        explicit[name] = [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]
        return dict(auto_pad=mode, strides=stride, dilations=dilation)
    wt = init("c1.w", (rng.standard_normal((6, 3, 3, 2)) * 0.4).astype(np.float32))
    x = node("Conv", ["input", wt], ["c1"], "conv/same-upper", kernel_shape=[3, 2],
             **same("conv/same-upper", (9, 8), (3, 2), [2, 1], [2, 1], "SAME_UPPER"))  # 6x5x8, pads [2, 0, 2, 1]
    x = node("Relu", [x], ["r1"], "relu1")
    wt = init("dw.w", (rng.standard_normal((6, 1, 2, 2)) * 0.5).astype(np.float32))
    y = node("Conv", [x, wt], ["dw"], "dw/same-lower", kernel_shape=[2, 2], group=6,
             **same("dw/same-lower", (5, 8), (2, 2), [1, 1], [3, 3], "SAME_LOWER"))  # 6x5x8, pads [2, 2, 1, 1]
    x = node("Add", [x, y], ["sum"], "add")
    x = node("MaxPool", [x], ["mp"], "maxpool/same-upper", kernel_shape=[3, 3],
             **same("maxpool/same-upper", (5, 8), (3, 3), [1, 1], [2, 2], "SAME_UPPER"))  # 6x5x8, pads [2, 2, 2, 2]
    x = node("Flatten", [node("GlobalAveragePool", [x], ["gap"], "gap")], ["f"], "flatten")
    x = node("Gemm", [x, init("fc.w", rng.standard_normal((classes, 6)).astype(np.float32)),
                      init("fc.b", rng.standard_normal(classes).astype(np.float32))], ["logits"], "fc", transB=1)
elif kind == "transpose-hw":
    # tf2onnx-style NHWC input; then a Transpose swapping height and width: a clear error naming the node.
    h, w = 8, 8
    x = node("Transpose", ["input"], ["nchw"], "to_nchw", perm=[0, 3, 1, 2])
    x = node("Relu", [conv(x, 3, 4, 3, "conv")], ["r"], "relu")
    x = node("Transpose", [x], ["t"], "swap_hw", perm=[0, 1, 3, 2])
    x = node("Flatten", [node("GlobalAveragePool", [x], ["gap"], "gap")], ["logits"], "flatten")
    classes = 4
elif kind == "affine":
    # Constant arithmetic that follows no convolution, as Keras writes it through tf2onnx: Rescaling (Mul by a scalar)
    # and Normalization (Sub and Div by per-channel constants, [1, 1, 1, C] and [C]) on the NHWC input before the
    # Transpose; a per-channel scale and shift after a Relu (Mul [1, C, 1, 1], Add [C, 1, 1]); a Sub after a
    # convolution (folded into it); a Div by a scalar between a Relu and a convolution (in a prunable channel group);
    # a per-class Mul after the classifier (folded into it); a final Softmax (opset 13, default axis -1).
    c, h, w, classes = 3, 9, 9, 5
    x = node("Mul", ["input", init("rescale", np.array(1 / 2.5, np.float32))], ["scaled"], "rescaling/mul")
    x = node("Sub", [x, init("norm.mean", rng.normal(0, 0.3, (1, 1, 1, 3)).astype(np.float32))], ["centered"], "normalization/sub")
    x = node("Div", [x, init("norm.std", rng.uniform(0.5, 1.5, 3).astype(np.float32))], ["normalized"], "normalization/div")
    x = node("Transpose", [x], ["nchw"], "to_nchw", perm=[0, 3, 1, 2])
    x = node("Relu", [conv(x, 3, 6, 3, "conv1")], ["r1"], "relu1")
    x = node("Mul", [x, init("mid.scale", rng.uniform(0.5, 1.5, (1, 6, 1, 1)).astype(np.float32))], ["ms"], "mid/mul")
    x = node("Add", [x, init("mid.shift", rng.normal(0, 0.3, (6, 1, 1)).astype(np.float32))], ["ma"], "mid/add")
    x = conv(x, 6, 8, 3, "conv2")
    x = node("Sub", [x, init("conv2.sub", rng.normal(0, 0.3, (1, 8, 1, 1)).astype(np.float32))], ["cs"], "conv2/sub")
    x = node("Relu", [x], ["r2"], "relu2")
    x = node("Div", [x, init("half", np.array(2, np.float32))], ["hd"], "half/div")
    x = node("Relu", [conv(x, 8, 8, 3, "conv3")], ["r3"], "relu3")
    x = node("Flatten", [node("GlobalAveragePool", [x], ["gap"], "gap")], ["f"], "flatten")
    x = node("Gemm", [x, init("fc.w", rng.standard_normal((classes, 8)).astype(np.float32)),
                      init("fc.b", rng.standard_normal(classes).astype(np.float32))], ["fc"], "fc", transB=1)
    x = node("Mul", [x, init("fc.scale", rng.uniform(0.5, 2, classes).astype(np.float32))], ["fs"], "fc/scale")
    output = node("Softmax", [x], ["probs"], "softmax")
elif kind == "softmax-10":
    # Opset 10: Softmax's default axis 1 (the input coerced to 2-D); a constant minus the NCHW input ([1, C, 1, 1])
    # and a Div by [C, 1, 1] before the first convolution; a per-feature Mul ([C]) of the pooled features.
    opset, c, h, w, classes = 10, 3, 8, 8, 4
    x = node("Sub", [init("offset", rng.normal(0, 0.3, (1, 3, 1, 1)).astype(np.float32)), "input"], ["flipped"], "flip/sub")
    x = node("Div", [x, init("std", rng.uniform(0.5, 1.5, (3, 1, 1)).astype(np.float32))], ["scaled"], "scale/div")
    x = node("Relu", [conv(x, 3, 6, 3, "conv1")], ["r1"], "relu1")
    x = node("Flatten", [node("GlobalAveragePool", [x], ["gap"], "gap")], ["f"], "flatten")
    x = node("Mul", [x, init("features.scale", rng.uniform(0.5, 1.5, 6).astype(np.float32))], ["fm"], "features/mul")
    x = node("Gemm", [x, init("fc.w", rng.standard_normal((classes, 6)).astype(np.float32)),
                      init("fc.b", rng.standard_normal(classes).astype(np.float32))], ["fc"], "fc", transB=1)
    output = node("Softmax", [x], ["probs"], "softmax")
elif kind == "same-pools":
    # Keras's 'same' pools through tf2onnx: MaxPool with pads [0, 0, 1, 1] over negative values (padding must never
    # win), a SAME_LOWER MaxPool (the extra row and column on top and left), AveragePool with pads unequal on an axis
    # and count_include_pad 0 (divided by the input cells only), equal pads and count_include_pad 0, and unequal pads
    # with count_include_pad 1. Shapes in the comments.
    c, h, w, classes = 3, 11, 10, 4
    x = conv("input", 3, 6, 3, "conv1")  # 6x11x10, no activation: negative values
    x = node("MaxPool", [x], ["mp1"], "maxpool/same", kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 0])  # 6x6x5
    x = node("MaxPool", [x], ["mp2"], "maxpool/same-lower", kernel_shape=[2, 2], strides=[1, 1], auto_pad="SAME_LOWER")  # 6x6x5
    x = conv(x, 6, 8, 1, "conv2")
    x = node("AveragePool", [x], ["ap1"], "avgpool/same", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 1])  # 8x3x3
    x = node("AveragePool", [x], ["ap2"], "avgpool/same-equal", kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1],
             count_include_pad=0)  # 8x3x3
    x = node("AveragePool", [x], ["ap3"], "avgpool/counted", kernel_shape=[2, 2], strides=[1, 1], pads=[1, 0, 0, 1],
             count_include_pad=1)  # 8x3x3
    x = node("Flatten", [x], ["f"], "flatten")
    x = node("Gemm", [x, init("fc.w", (rng.standard_normal((classes, 72)) * 0.3).astype(np.float32)),
                      init("fc.b", rng.standard_normal(classes).astype(np.float32))], ["logits"], "fc", transB=1)
elif kind in ("scale-per-pixel", "div-by-tensor", "softmax-inside", "softmax-axis"):
    # Constant arithmetic and Softmax beyond what imports: a constant varying over height and width, a constant
    # divided by the tensor, a Softmax that other nodes read, a Softmax across the batch. Each a clear error.
    x = node("Relu", [conv("input", 3, 4, 3, "conv")], ["r"], "relu")
    if kind == "scale-per-pixel":
        x = node("Mul", [x, init("pixel.scale", rng.uniform(0.5, 1.5, (1, 1, h, w)).astype(np.float32))], ["s"], "pixel/mul")
    elif kind == "div-by-tensor":
        x = node("Div", [init("one", np.array(1, np.float32)), x], ["s"], "reciprocal/div")
    x = node("Flatten", [node("GlobalAveragePool", [x], ["gap"], "gap")], ["f"], "flatten")
    if kind == "softmax-inside":
        x = node("Softmax", [x], ["p"], "inner/softmax")
        x = node("Gemm", [x, init("fc.w", rng.standard_normal((4, 4)).astype(np.float32))], ["logits"], "fc", transB=1)
    elif kind == "softmax-axis":
        output = node("Softmax", [x], ["probs"], "batch/softmax", axis=0)
    else:
        x = node("Identity", [x], ["logits"], "out")
    classes = 4
elif kind == "duplicates":
    x = node("Relu", [conv("input", 3, 4, 3, "conv")], ["r"], "same")
    x = node("Relu", [conv(x, 4, 4, 3, "conv2")], ["r2"], "same")
    x = node("GlobalAveragePool", [x], ["gap"], "")
    x = node("Flatten", [x], ["logits"], "")
    classes = 4
elif kind == "unsupported":
    x = conv("input", 3, 4, 3, "conv")
    x = node("Tanh", [x], ["t"], "act/tanh")
    x = node("GlobalAveragePool", [x], ["gap"], "gap")
    x = node("Flatten", [x], ["logits"], "flatten")
    classes = 4
elif kind != "fixture":
    sys.exit("unknown kind " + kind)

layout = "nchw"
if kind == "fixture":
    model = onnx.load(sys.argv[3])
    name = model.graph.input[0].name
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    constants = {t.name for t in model.graph.initializer}
    readers = [n for n in model.graph.node if name in n.input and n.op_type != "Shape"]
    # Keras's Rescaling / Normalization come before tf2onnx's Transpose: follow constant arithmetic.
    while len(readers) == 1 and readers[0].op_type in ("Mul", "Add", "Sub", "Div") and set(readers[0].input) & constants:
        readers = [n for n in model.graph.node if readers[0].output[0] in n.input and n.op_type != "Shape"]
    if readers and all(n.op_type == "Transpose" and list(n.attribute[0].ints) == [0, 3, 1, 2] for n in readers):
        layout = "nhwc"
    c, h, w = (dims[3], dims[1], dims[2]) if layout == "nhwc" else dims[1:]
    classes = model.graph.output[0].type.tensor_type.shape.dim[1].dim_value
else:
    if kind in ("transpose-hw", "affine"):
        layout = "nhwc"
    dims = ["batch", h, w, c] if layout == "nhwc" else ["batch", c, h, w]
    graph = helper.make_graph(nodes, kind, [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="seer-test")
    model.ir_version = 7
onnx.checker.check_model(model)
path = out + "/model.onnx"
arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
reference = model
if kind == "same-dilated":
    reference = onnx.ModelProto(); reference.CopyFrom(model)
    for n_ in reference.graph.node:
        if n_.name in explicit:
            kept = [a for a in n_.attribute if a.name != "auto_pad"]
            del n_.attribute[:]
            n_.attribute.extend(kept + [helper.make_attribute("pads", explicit[n_.name])])
inferred = shape_inference.infer_shapes(reference)
if kind == "resnet-external":
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin", size_threshold=64)
else:
    onnx.save_model(model, path)
if kind in ("unsupported", "duplicates", "reduce-channels", "avgpool-dilated", "slice-channels", "pad-reflect",
            "transpose-hw", "scale-per-pixel", "div-by-tensor", "softmax-inside", "softmax-axis"):
    print(json.dumps({"input": [c, h, w], "classes": classes})); sys.exit(0)

# Independent complexity count from ONNX shape inference: MACs and weights + biases of Conv, Gemm and MatMul.
shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
macs = params = 0
for n_ in model.graph.node:
    if n_.op_type == "Conv":
        wt = arrays[n_.input[1]]; oh, ow = shapes[n_.output[0]][2:]
        macs += oh * ow * wt.size; params += wt.size + (arrays[n_.input[2]].size if len(n_.input) > 2 else 0)
    elif n_.op_type in ("Gemm", "MatMul"):
        wt = arrays[n_.input[1]]; macs += wt.size; params += wt.size + wt.shape[0 if n_.op_type == "Gemm" and dict((a.name, a.i) for a in n_.attribute).get("transB", 0) else 1]

batch = 5
xs = rng.standard_normal((batch, c, h, w)).astype(np.float32)
options = ort.SessionOptions(); options.intra_op_num_threads = 1
session = ort.InferenceSession(path if reference is model else reference.SerializeToString(), options,
                               providers=["CPUExecutionProvider"])
(ys,) = session.run(None, {"input": xs.transpose(0, 2, 3, 1).copy() if layout == "nhwc" else xs})
if reference is not model:
    from onnx.reference import ReferenceEvaluator
    (specified,) = ReferenceEvaluator(model).run(None, {"input": xs})
    assert np.abs(specified - ys).max() <= 1e-4 * np.abs(ys).max(), "onnx.reference disagrees with the explicit pads"

xs.astype("<f4").tofile(out + "/x.f32"); ys.astype("<f4").tofile(out + "/y.f32")
print(json.dumps({"input": [c, h, w], "layout": layout, "classes": classes, "batch": batch, "macs": int(macs),
                  "params": int(params)}))
