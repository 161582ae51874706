import base64
import hashlib

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def tiny_artifact(seed=0):
    """A 784 -> 10 linear classifier as ONNX bytes: stands in for an exported network."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((10, 784)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("Flatten", ["image"], ["f"]),
                               helper.make_node("Gemm", ["f", "w"], ["logits"], transB=1)], "tiny",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 28, 28])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
                              initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def reference(data, inline=True):
    ref = {"format": "onnx-qdq/1", "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}
    if inline:
        ref["data"] = base64.b64encode(data).decode()
    return ref


class FakeDataset:
    """Random images; labels chosen so a given model's accuracy is known."""

    def __init__(self, n=64, seed=1):
        rng = np.random.default_rng(seed)
        self.x = rng.random((n, 1, 28, 28), dtype=np.float32)
        self.y = rng.integers(0, 10, n)
        self.directory = "fake-data"

    def sha256(self):
        return "ab" * 32

    def images(self, split, limit=None):
        n = len(self.x) if limit is None else min(limit, len(self.x))
        return self.x[:n], self.y[:n]


def artifact_job(ref, job_id="j1", kind="artifact", limit=32):
    return {"job_id": job_id, "device_key": "ort", "kind": kind,
            "payload": {"model": "tiny", "policy": {}, "finetune_steps": 0, "split": "validation", "seed": 0,
                        "timeouts": {"total_ms": 60000}, "artifact": ref,
                        "settings": {"split": "validation", "evaluation_limit": limit,
                                     "latency": {"number": 1, "repeat": 3, "min_repeat_ms": 1, "batch": 1}}}}
