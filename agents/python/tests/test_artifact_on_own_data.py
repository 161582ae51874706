"""End to end on a user's own data: an artifact job on npz data through the runtime agent's executor reports the
accuracy Seer's engine reports for the same compressed network on the same images (`seer-agent evaluate` and
`seer-agent export` with the same policy and seed), for a zoo network (whose graph normalizes its input) and for an
imported ONNX network (which takes normalized input: the agent normalizes with the job's per-channel mean and std),
and for a Keras network as tf2onnx writes it (NHWC input: the artifact keeps it, and the agent transposes its images)."""

import gzip
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from data_fixtures import write_npz
from helpers import artifact_job, reference
from seer_binary import seer_agent
from seer_runtime_agent.data import DataSource, DataSpec, Normalization
from seer_runtime_agent.executor import Executor
from seer_runtime_agent.runtime import Runtime

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
IMAGES = 150


def fashion_npz(path, train=400, test=IMAGES):
    """Fashion-MNIST's first images as a Keras-style npz, NHWC with one channel."""
    def idx(name, offset):
        with gzip.open(os.path.join(FASHION_MNIST, name)) as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)
    x_train = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28, 1)[:train]
    y_train = idx("train-labels-idx1-ubyte.gz", 8)[:train].astype(np.int64)
    x_test = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28, 1)[:test]
    y_test = idx("t10k-labels-idx1-ubyte.gz", 8)[:test].astype(np.int64)
    return write_npz(path, x_train, y_train, x_test, y_test)


def tiny_cnn(path, classes=5, seed=0, nhwc=False):
    """An 'imported' network: Conv 3x3 -> Relu -> Flatten -> Gemm, input `pixels` [N, 3, 8, 8]; with `nhwc` the
    input is [N, 8, 8, 3] and a Transpose to NCHW reads it, as tf2onnx writes a Keras model."""
    rng = np.random.default_rng(seed)
    init = [numpy_helper.from_array(rng.standard_normal((6, 3, 3, 3)).astype(np.float32) * 0.5, "conv.w"),
            numpy_helper.from_array(rng.standard_normal(6).astype(np.float32) * 0.1, "conv.b"),
            numpy_helper.from_array(rng.standard_normal((classes, 6 * 8 * 8)).astype(np.float32) * 0.1, "fc.w"),
            numpy_helper.from_array(rng.standard_normal(classes).astype(np.float32) * 0.1, "fc.b")]
    transpose = [helper.make_node("Transpose", ["pixels"], ["nchw"], name="to_nchw", perm=[0, 3, 1, 2])] if nhwc else []
    nodes = transpose + [
             helper.make_node("Conv", ["nchw" if nhwc else "pixels", "conv.w", "conv.b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["scores"], name="fc", transB=1)]
    shape = ["n", 8, 8, 3] if nhwc else ["n", 3, 8, 8]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", classes])], initializer=init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def engine_and_agent(tmp_path, model, data, bits, data_args, job_settings, source):
    """The engine's test accuracy of `model` under `bits`, and the runtime agent's accuracy on its exported artifact."""
    common = ["--model", model, "--bits", bits, "--finetune-steps", 0, "--seed", 0, "--data", data, *data_args]
    engine = seer_agent("evaluate", *common, "--split", "test", "--limit", IMAGES, "--json")
    artifact = str(tmp_path / "artifact.onnx")
    seer_agent("export", *common, "--out", artifact, "--json")
    with open(artifact, "rb") as f:
        onnx_bytes = f.read()
    job = artifact_job(reference(onnx_bytes), limit=IMAGES)
    job["payload"]["split"] = "test"
    job["payload"]["settings"].update(split="test", dataset_sha256=source.sha256(), **job_settings)
    kind, body = Executor("ort", Runtime("cpu", 1), source, str(tmp_path / "cache")).run_job(job)
    assert kind == "RESULT", body
    return engine["accuracy"] / 100, body["payload"]["accuracy"], onnx_bytes


def test_zoo_network_on_npz_data_agrees_with_the_engine(tmp_path):
    data = fashion_npz(str(tmp_path / "fashion.npz"))
    args = ["--data-mean", "0.2860", "--data-std", "0.3530"]
    source = DataSource(DataSpec.command_line(data, "0.2860", "0.3530"))
    engine, agent, _ = engine_and_agent(tmp_path, "resnet8", data, "6/6", args, {}, source)
    assert engine > 0.5, f"resnet8 should classify Fashion-MNIST from an npz, got {engine}"
    # The same images through the same network: at most one prediction of 150 may flip on a quantization tie.
    assert abs(agent - engine) <= 1 / IMAGES, f"engine {engine}, onnxruntime {agent}"


def test_imported_network_gets_the_jobs_normalization(tmp_path):
    model = tiny_cnn(str(tmp_path / "tiny.onnx"))
    mean, std = "0.5,0.2,0.8", "0.25,0.5,0.1"
    normalization = {"mean": [0.5, 0.2, 0.8], "std": [0.25, 0.5, 0.1]}
    # Labels are the float network's own predictions on normalized images: it scores near 100% when fed what the
    # engine feeds it, far less on raw pixels, so the accuracy check sees a wrong normalization.
    rng = np.random.default_rng(5)
    x_train, x_test = rng.random((60, 3, 8, 8), dtype=np.float32), rng.random((IMAGES, 3, 8, 8), dtype=np.float32)
    teacher = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    def label(x):
        return teacher.run(None, {"pixels": Normalization.from_json(normalization).apply(x)})[0].argmax(axis=1)
    data = write_npz(str(tmp_path / "own.npz"), x_train, label(x_train), x_test, label(x_test))
    # The agent's own options say nothing about normalization: the job's settings carry it (protocol revision 3).
    source = DataSource(DataSpec(data))
    engine, agent, onnx_bytes = engine_and_agent(tmp_path, model, data, "8/8", ["--data-mean", mean, "--data-std", std],
                                                 {"normalization": normalization}, source)
    assert engine > 0.9, f"the 8/8 network should keep most of its float predictions, got {engine}"
    assert abs(agent - engine) <= 1 / IMAGES, f"engine {engine}, onnxruntime {agent}"
    # Raw pixels would have scored far lower: the agent did normalize.
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    x, y = source.dataset([3, 8, 8]).images("test")
    assert (session.run(None, {"pixels": x})[0].argmax(axis=1) == y).mean() < engine - 0.2


def test_keras_network_with_nhwc_input_keeps_it_and_gets_nhwc_batches(tmp_path):
    model = tiny_cnn(str(tmp_path / "keras.onnx"), nhwc=True, seed=1)
    # A Keras user's npz is NHWC too; labels are the float network's own predictions, so feeding NCHW-ordered
    # elements (or none at all) would score far lower.
    rng = np.random.default_rng(6)
    x_train, x_test = rng.random((60, 8, 8, 3), dtype=np.float32), rng.random((IMAGES, 8, 8, 3), dtype=np.float32)
    teacher = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    def label(x):
        return teacher.run(None, {"pixels": x})[0].argmax(axis=1)
    data = write_npz(str(tmp_path / "keras.npz"), x_train, label(x_train), x_test, label(x_test))
    source = DataSource(DataSpec(data))
    engine, agent, onnx_bytes = engine_and_agent(tmp_path, model, data, "8/8", [], {}, source)
    assert engine > 0.9, f"the 8/8 network should keep most of its float predictions, got {engine}"
    assert abs(agent - engine) <= 1 / IMAGES, f"engine {engine}, onnxruntime {agent}"
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1:] == [8, 8, 3]
    assert session.get_modelmeta().custom_metadata_map["seer.input_layout"] == "nhwc"
