"""Per-layer latency tables on this runtime (docs/PROTOCOL.md "Latency tables on runtime agents", docs/LATENCY.md).

A `profile` JOB with `options.layer_table.kernels` describes every compressible layer's kernel; for each grid point
this builds the kernel as a single-layer ONNX model, in the ops Seer's QDQ export uses (Clip -> QuantizeLinear ->
DequantizeLinear on the input, int8 weights through DequantizeLinear, Conv or Gemm, the bias as an Add, then the
kernel's tail), times it with onnxruntime and answers with the table packed as `seer-layer-table-packed/1`.
"""

import base64
import struct
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .runtime import JobError, measure_latency

PACKED_FORMAT = "seer-layer-table-packed/1"
OPSET = 13
DEFAULT_TIMING = {"number": 1, "repeat": 5, "min_repeat_ms": 5.0}


def _int(spec, key, default=None):
    value = spec.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise JobError("bad_policy", f"kernel {spec.get('layer')}: {key} must be an integer, got {value!r}")
    return value


def kernel_model(spec, kept_in, kept_out, batch=1, seed=5):
    """The kernel of `spec` at `kept_in` x `kept_out` channels: (ONNX model bytes, input array)."""
    rng = np.random.default_rng(seed)
    op = spec.get("op")
    shape = spec.get("input_shape")
    if op not in ("conv", "linear") or not isinstance(shape, list):
        raise JobError("bad_policy", f"kernel {spec.get('layer')}: op must be conv or linear with an input_shape")
    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(array, name))
        return name

    x_shape = [batch, kept_in] + list(shape[1:])
    x = rng.standard_normal(x_shape).astype(np.float32)
    # The input's activation quantizer: 8-bit signed, clip 3 (its cost does not depend on the bit-width).
    nodes.append(helper.make_node("Clip", ["x", const("lo", np.array(-3, np.float32)), const("hi", np.array(3, np.float32))], ["xc"]))
    nodes.append(helper.make_node("QuantizeLinear", ["xc", const("xs", np.array(3 / 127, np.float32)), const("xz", np.array(0, np.int8))], ["xq"]))
    nodes.append(helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]))
    if op == "conv":
        k, s, p = _int(spec, "kernel"), _int(spec, "stride"), _int(spec, "padding")
        groups = kept_out if spec.get("depthwise") else 1
        w = rng.integers(-127, 128, size=(kept_out, kept_in // groups, k, k), dtype=np.int8)
        nodes.append(helper.make_node("DequantizeLinear", [const("wq", w), const("ws", np.full(kept_out, 0.01, np.float32)),
                                                           const("wz", np.zeros(kept_out, np.int8))], ["w"], axis=0))
        nodes.append(helper.make_node("Conv", ["xd", "w"], ["conv"], kernel_shape=[k, k], strides=[s, s],
                                      pads=[p, p, p, p], group=groups))
        nodes.append(helper.make_node("Add", ["conv", const("b", rng.standard_normal((1, kept_out, 1, 1)).astype(np.float32))], ["v0"]))
        h = (shape[1] + 2 * p - k) // s + 1
        wd = (shape[2] + 2 * p - k) // s + 1
        value_shapes = [[batch, kept_out, h, wd]]
    else:
        w = rng.integers(-127, 128, size=(kept_out, kept_in), dtype=np.int8)
        nodes.append(helper.make_node("DequantizeLinear", [const("wq", w), const("ws", np.full(kept_out, 0.01, np.float32)),
                                                           const("wz", np.zeros(kept_out, np.int8))], ["w"], axis=0))
        nodes.append(helper.make_node("Gemm", ["xd", "w"], ["gemm"], transB=1))
        nodes.append(helper.make_node("Add", ["gemm", const("b", rng.standard_normal(kept_out).astype(np.float32))], ["v0"]))
        value_shapes = [[batch, kept_out]]
    for index, tail in enumerate(spec.get("tail", [])):
        name = f"v{index + 1}"
        inputs = tail.get("inputs", [])
        if not inputs or not all(isinstance(i, int) and -1 <= i <= index for i in inputs) or inputs[0] == -1:
            raise JobError("bad_policy", f"kernel {spec.get('layer')}: tail[{index}].inputs {inputs!r} must name earlier values")
        first = value_shapes[inputs[0]]
        names = []
        for j, i in enumerate(inputs):
            if i == -1:
                names.append(const(f"{name}_in{j}", rng.standard_normal(first).astype(np.float32)))
            else:
                names.append(f"v{i}")
        kind = tail.get("op")
        out_shape = list(first)
        if kind == "relu":
            nodes.append(helper.make_node("Relu", names, [name]))
        elif kind == "clip":
            nodes.append(helper.make_node("Clip", names + [const(f"{name}_lo", np.array(0, np.float32)),
                                                          const(f"{name}_hi", np.array(float(tail.get("max", 6)), np.float32))], [name]))
        elif kind == "add":
            nodes.append(helper.make_node("Add", names, [name]))
        elif kind in ("max_pool", "avg_pool"):
            k, s, p = _int(tail, "kernel"), _int(tail, "stride"), _int(tail, "padding")
            nodes.append(helper.make_node("MaxPool" if kind == "max_pool" else "AveragePool", names, [name],
                                          kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p]))
            out_shape = first[:2] + [(first[2] + 2 * p - k) // s + 1, (first[3] + 2 * p - k) // s + 1]
        elif kind == "global_avg_pool":
            nodes.append(helper.make_node("GlobalAveragePool", names, [name + "_pool"]))
            nodes.append(helper.make_node("Flatten", [name + "_pool"], [name]))
            out_shape = first[:2]
        elif kind == "batch_norm":
            c = first[1]
            params = [const(f"{name}_{p}", v) for p, v in (("scale", np.ones(c, np.float32)), ("bias", np.zeros(c, np.float32)),
                                                             ("mean", np.zeros(c, np.float32)), ("var", np.ones(c, np.float32)))]
            nodes.append(helper.make_node("BatchNormalization", names + params, [name]))
        else:
            raise JobError("bad_policy", f"kernel {spec.get('layer')}: tail op '{kind}' is not one this agent builds")
        value_shapes.append(out_shape)
    output = f"v{len(value_shapes) - 1}"
    graph = helper.make_graph(nodes, "kernel", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, value_shapes[-1])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString(), x


def identity_model(batch=1):
    """The smallest model: what one `run` costs without any work, subtracted once per extra kernel as overhead."""
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return model.SerializeToString(), np.zeros((batch, 1), np.float32)


def profile_table(runtime, model_name, request, batch=1, deadline=None, progress=None):
    """The packed latency table of `request` (`options.layer_table`: `keeps`, `kernels`, optional `timing`)."""
    start = time.monotonic()
    keeps = request.get("keeps")
    kernels = request.get("kernels")
    if not isinstance(kernels, list) or not kernels:
        raise JobError("unsupported", "options.layer_table.kernels is missing: this agent has no model zoo, so the "
                                      "coordinator must describe the kernels (PROTOCOL.md, latency tables on runtime agents)")
    if not isinstance(keeps, list) or not keeps or not all(isinstance(k, (int, float)) for k in keeps):
        raise JobError("bad_policy", "options.layer_table.keeps must be a list of numbers")
    timing = dict(DEFAULT_TIMING)
    timing.update({k: v for k, v in (request.get("timing") or {}).items() if k in DEFAULT_TIMING})

    def time_model(model_bytes, x):
        session = runtime.session(model_bytes)
        name = session.get_inputs()[0].name
        return measure_latency(lambda: session.run(None, {name: x}), number=timing["number"], repeats=timing["repeat"],
                               min_repeat_ms=timing["min_repeat_ms"], deadline=deadline)["median_ms"]

    run_overhead = time_model(*identity_model(batch))
    layers = []
    for spec in kernels:
        points = spec.get("points")
        if not isinstance(points, list) or not points:
            raise JobError("bad_policy", f"kernel {spec.get('layer')}: points must be a non-empty list")
        kept_in = [0] * len(keeps)
        kept_out = [0] * len(keeps)
        packed_points, packed_ms = bytearray(), bytearray()
        measured = {}
        for point in points:
            try:
                i, o = keeps.index(point["in_keep"]), keeps.index(point["out_keep"])
                ki, ko = _int(point, "kept_in"), _int(point, "kept_out")
            except (KeyError, ValueError):
                raise JobError("bad_policy", f"kernel {spec.get('layer')}: point {point!r} is not on the keeps grid")
            if (ki, ko) not in measured:
                measured[(ki, ko)] = time_model(*kernel_model(spec, ki, ko, batch))
            kept_in[i], kept_out[o] = ki, ko
            packed_points += bytes([i, o, 255, 255])
            packed_ms += struct.pack("<f", measured[(ki, ko)])
            if progress:
                progress(spec.get("layer"), len(packed_points) // 4, len(points))
        layers.append({"layer": spec["layer"], "kept_in": kept_in, "kept_out": kept_out,
                       "points": base64.b64encode(bytes(packed_points)).decode("ascii"),
                       "ms": base64.b64encode(bytes(packed_ms)).decode("ascii")})
    header = {"model": model_name, "executor": "runtime", "device": runtime.describe(), "batch": batch,
              "threads": max(1, runtime.threads), "keeps": keeps,
              # The kernels' timings each include one run's fixed cost; the network pays it once.
              "overhead_ms": -(len(kernels) - 1) * run_overhead,
              "timing": {"number": timing["number"], "repeat": timing["repeat"], "min_repeat_ms": timing["min_repeat_ms"],
                         "batch": batch},
              "seconds": time.monotonic() - start, "entries": []}
    return {"format": PACKED_FORMAT, "header": header, "layers": layers}
