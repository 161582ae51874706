import base64
import struct

import onnxruntime as ort

from seer_runtime_agent.kernels import kernel_model, profile_table
from seer_runtime_agent.runtime import JobError, Runtime

CONV = {"layer": "block.conv", "op": "conv", "input_shape": [16, 8, 8], "kernel": 3, "stride": 1, "padding": 1,
        "depthwise": False, "tail": [{"op": "relu", "inputs": [0]}, {"op": "add", "inputs": [1, -1]},
                                     {"op": "relu", "inputs": [2]}], "points": []}
FC = {"layer": "fc", "op": "linear", "input_shape": [32], "depthwise": False, "tail": [], "points": []}
POOLED = {"layer": "last.conv", "op": "conv", "input_shape": [8, 8, 8], "kernel": 3, "stride": 2, "padding": 1,
          "depthwise": False, "tail": [{"op": "clip", "inputs": [0], "max": 6}, {"op": "global_avg_pool", "inputs": [1]}],
          "points": []}


def run(spec, kin, kout):
    model, x = kernel_model(spec, kin, kout)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_kernels_build_and_run_at_kept_channels():
    assert run(CONV, 4, 12).shape == (1, 12, 8, 8)
    assert run(FC, 20, 10).shape == (1, 10)
    assert run(POOLED, 8, 6).shape == (1, 6)
    dw = dict(CONV, depthwise=True, tail=[])
    assert run(dw, 5, 5).shape == (1, 5, 8, 8)


def test_unknown_tail_op_is_bad_policy():
    spec = dict(FC, tail=[{"op": "softmax", "inputs": [0]}])
    try:
        kernel_model(spec, 4, 4)
        assert False
    except JobError as e:
        assert e.code == "bad_policy" and "softmax" in e.message


def test_profile_table_is_packed_on_the_grid():
    keeps = [0.5, 1.0]
    def points(channels_in, channels_out):
        return [{"in_keep": i, "out_keep": o, "kept_in": max(1, round(i * channels_in)), "kept_out": max(1, round(o * channels_out))}
                for i in keeps for o in keeps]
    kernels = [dict(CONV, points=points(16, 16)), dict(FC, points=points(32, 10))]
    table = profile_table(Runtime("cpu", 1), "m", {"keeps": keeps, "kernels": kernels,
                                                   "timing": {"repeat": 1, "min_repeat_ms": 0.5}})
    assert table["format"] == "seer-layer-table-packed/1"
    assert table["header"]["executor"] == "runtime" and table["header"]["keeps"] == keeps
    conv = table["layers"][0]
    assert conv["kept_in"] == [8, 16] and conv["kept_out"] == [8, 16]
    raw = base64.b64decode(conv["points"])
    assert list(raw[:4]) == [0, 0, 255, 255] and len(raw) == 16
    ms = struct.unpack("<4f", base64.b64decode(conv["ms"]))
    assert all(v > 0 for v in ms)


def test_profile_without_kernels_is_unsupported():
    try:
        profile_table(Runtime("cpu", 1), "m", {"keeps": [1.0]})
        assert False
    except JobError as e:
        assert e.code == "unsupported"
