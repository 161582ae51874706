import base64
import hashlib

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from seer_runtime_agent.data import IDENTITY, Dataset


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


class FakeData:
    """A data source of random images (a real `Dataset`) with a made-up SHA-256."""

    def __init__(self, n=64, seed=1):
        rng = np.random.default_rng(seed)
        x = rng.random((n, 1, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, n)
        self.path = "fake-data"
        self.normalization = IDENTITY
        self._dataset = Dataset([1, 28, 28], 10, (x, y), (x, y), n // 2, "ab" * 32, self.path, IDENTITY)

    def sha256(self):
        return self._dataset.sha256

    def dataset(self, image_shape=None):
        return self._dataset


def artifact_job(ref, job_id="j1", kind="artifact", limit=32):
    return {"job_id": job_id, "device_key": "ort", "kind": kind,
            "payload": {"model": "tiny", "policy": {}, "finetune_steps": 0, "split": "validation", "seed": 0,
                        "timeouts": {"total_ms": 60000}, "artifact": ref,
                        "settings": {"split": "validation", "evaluation_limit": limit,
                                     "latency": {"number": 1, "repeat": 3, "min_repeat_ms": 1, "batch": 1}}}}
