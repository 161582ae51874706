#!/usr/bin/env python3
"""Seer `command` executor: runs an exported ONNX model with onnxruntime (CUDA where available, else CPU).

The Seer agent's `command` executor (Sources/Agent/Core/CommandExecutor.swift) starts this program once per job,
writes the JOB body as one JSON object (plus a newline) on stdin, and reads one JSON object from stdout:
a RESULT payload, or {"error": {"code": ..., "message": ...}} (code one of bad_policy, out_of_memory, timeout,
runtime_error, unsupported). See docs/PROTOCOL.md, sections JOB and RESULT.

Contract assumed here (docs/PROTOCOL.md has no field for the model file or the data set, so they travel in the
opaque `payload.options`; every option can also be given on this program's command line, and the job's value wins):

  stdin (JOB body):
    job_id              id, echoed nowhere (the agent adds it to the RESULT)
    kind                "measure" (accuracy + latency), "profile" (latency only) or "null" (answer at once)
    payload.model       zoo name; if the ONNX metadata names another model (seer.model) the job fails (bad_policy)
    payload.policy, payload.finetune_steps, payload.seed
                        ignored: the ONNX file already holds the compressed, fine-tuned network
                        (export it with `seer-agent export`, or OnnxExport.exportPolicy in Swift)
    payload.split       "validation" (the search's split), "test" or "train"
    payload.latency     {"number": int >= 1, "repeat": int >= 1, "warmup": int >= 0}; default 1 / 5 / 1
    payload.timeouts    {"total_ms": ...}: enforced by the agent (it kills this process group), not here
    payload.options:
      onnx_path         path of the exported model (required; or --onnx)
      data              the data, any source Seer reads (`--data`): an IDX directory, a Keras-style .npz or an image
                        folder (default /usr/share/datasets/fashion-mnist); `data_dir` is the old name
      data_mean, data_std, data_layout
                        as the agents' --data-mean/--data-std/--data-layout (normalization for graphs that take
                        normalized input; the npz channel axis)
      split_seed        seed of the train/validation split of the training images (default 0)
      validation_count  training images held out for validation (default 5000 for IDX, 10% otherwise)
      evaluation_limit  evaluate on the first N images of the split only (default: all)
      batch_size        images per inference call when measuring accuracy (default 500)
      latency_batch     images per timed inference (default 1, as the builtin executor)
      min_repeat_ms     a timed repeat lasts at least this long; `number` is raised until it does (default 50)
      provider          "auto" (CUDA if onnxruntime has it, else CPU; default), "cuda" (required) or "cpu"
      threads           onnxruntime intra-op threads (default 1, as the builtin executor; 0 = onnxruntime's choice)

  stdout (RESULT payload):
    accuracy            top-1 accuracy as a fraction in [0, 1] ("measure" only)
    latency             median_ms, mean_ms, min_ms, max_ms, std_ms, number, repeat: one inference of latency_batch
                        images, timed like the builtin executor (Sources/Shared/Measurement/LatencyTimer.swift, TVM's
                        time_evaluator): warm-up runs, then `number` raised until one repeat lasts min_repeat_ms, then
                        `repeat` repeats of `number` runs, each repeat's mean per run; median over repeats.
                        The timed call includes host<->device copies of the input and logits on CUDA.
    timings_ms          load, evaluate, measure, total
    evaluated_images, execution_provider
                        extras for people (receivers ignore unknown fields)

Data, split and timing come from the runtime agent's package (agents/python/seer_runtime_agent: `pip install
./agents/python`, or run this file from a Seer checkout), which reads every source as Seer's Swift side does: the
same images, the same seeded validation split, the same SHA-256. Images go in as float32 pixels / 255 (NCHW, [0, 1])
when the exported graph normalizes them itself (zoo networks), normalized when it says it takes normalized input
(imported networks).
"""

import argparse
import json
import os
import sys
import time

try:
    import seer_runtime_agent  # noqa: F401  (installed with pip install ./agents/python)
except ImportError:  # run from a Seer checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "agents", "python"))
try:
    from seer_runtime_agent.data import DEFAULT_DATA_DIR, DataError, DataSource, DataSpec, SeededGenerator, split  # noqa: F401
    from seer_runtime_agent.runtime import JobError, measure_latency, takes_normalized_input
except ImportError as e:  # still an answer the agent can report
    print(json.dumps({"error": {"code": "runtime_error", "message": f"{e}: pip install ./agents/python from a Seer "
                                                                    "checkout, or run this file inside one"}}))
    sys.exit(1)


# ---------------------------------------------------------------- data

def load_split(source, split_name, limit=None, image_shape=None):
    """float32 images [N, C, H, W] before normalization and int labels of a Seer split, in Seer's position order."""
    try:
        return source.dataset(image_shape).images(split_name, limit)
    except DataError as e:
        raise JobError("runtime_error", str(e))


# ---------------------------------------------------------------- onnxruntime

def make_session(onnx_path, provider="auto", threads=1):
    import onnxruntime as ort
    if not os.path.isfile(onnx_path):
        raise JobError("runtime_error", f"ONNX model {onnx_path} does not exist")
    available = ort.get_available_providers()
    if provider == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise JobError("unsupported", f"CUDAExecutionProvider is not available (onnxruntime has {available}); "
                                          "install onnxruntime-gpu")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    elif provider == "cpu":
        providers = ["CPUExecutionProvider"]
    elif provider == "auto":
        providers = (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []) + ["CPUExecutionProvider"]
    else:
        raise JobError("runtime_error", f"unknown provider '{provider}' (auto, cuda or cpu)")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        session = ort.InferenceSession(onnx_path, options, providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types
        raise JobError("runtime_error", f"onnxruntime cannot load {onnx_path}: {e}")
    if provider == "cuda" and session.get_providers()[0] != "CUDAExecutionProvider":
        raise JobError("unsupported", f"onnxruntime did not place the model on CUDA (providers {session.get_providers()})")
    return session


def logits_of(session, images, batch_size=500):
    import numpy as np
    name = session.get_inputs()[0].name
    outputs = [session.run(None, {name: images[i:i + batch_size]})[0] for i in range(0, len(images), batch_size)]
    return np.concatenate(outputs, axis=0) if outputs else np.zeros((0, 0), dtype=np.float32)


# ---------------------------------------------------------------- the job

def option(job_options, cli, key, default=None, kind=None):
    value = job_options.get(key) if key in job_options and job_options[key] is not None else getattr(cli, key, None)
    if value is None:
        value = default
    if kind is int and value is not None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise JobError("runtime_error", f"option {key} must be an integer >= 0, got {value!r}")
    return value


def run_job(job, cli):
    started = time.perf_counter()
    timings = {}
    kind = job.get("kind", "measure")
    if kind == "null":
        return {"timings_ms": {}}
    if kind not in ("measure", "profile"):
        raise JobError("unsupported", f"job kind '{kind}' (this executor runs measure, profile and null)")
    payload = job.get("payload") or {}
    options = payload.get("options") or {}
    if not isinstance(options, dict):
        raise JobError("runtime_error", "payload.options must be an object")
    onnx_path = option(options, cli, "onnx_path")
    if not onnx_path:
        raise JobError("runtime_error", "no ONNX model: set payload.options.onnx_path (or --onnx_path)")
    data = options.get("data") or options.get("data_dir") or cli.data or DEFAULT_DATA_DIR
    split_seed = option(options, cli, "split_seed", 0, int)
    validation_count = option(options, cli, "validation_count", None, int)
    limit = option(options, cli, "evaluation_limit", None, int)
    batch_size = max(1, option(options, cli, "batch_size", 500, int))
    latency_batch = max(1, option(options, cli, "latency_batch", 1, int))
    min_repeat_ms = float(option(options, cli, "min_repeat_ms", 50.0))
    provider = option(options, cli, "provider", "auto")
    threads = option(options, cli, "threads", 1, int)
    split_name = payload.get("split", "validation")
    if split_name not in ("validation", "test", "train"):
        raise JobError("runtime_error", f"split '{split_name}' (validation, test or train)")
    latency_spec = payload.get("latency") or {}

    t0 = time.perf_counter()
    session = make_session(onnx_path, provider, threads)
    meta = session.get_modelmeta().custom_metadata_map
    if payload.get("model") and meta.get("seer.model") and meta["seer.model"] != payload["model"]:
        raise JobError("bad_policy", f"{onnx_path} holds {meta['seer.model']}, the job asks for {payload['model']}")
    try:
        spec = DataSpec.command_line(data, option(options, cli, "data_mean"), option(options, cli, "data_std"),
                                     option(options, cli, "data_layout"))
    except DataError as e:
        raise JobError("runtime_error", str(e))
    spec.validation = validation_count
    source = DataSource(spec, split_seed)
    shape = session.get_inputs()[0].shape[1:]
    shape = shape if all(isinstance(d, int) for d in shape) else None
    feed = source.normalization.apply if takes_normalized_input(session) else (lambda x: x)
    images, labels = load_split(source, split_name, limit, shape)
    images = feed(images)
    timings["load"] = (time.perf_counter() - t0) * 1000

    result = {"execution_provider": session.get_providers()[0]}
    if kind == "measure":
        t0 = time.perf_counter()
        predicted = logits_of(session, images, batch_size).argmax(axis=1)
        result["accuracy"] = float((predicted == labels).sum()) / max(1, len(labels))
        result["evaluated_images"] = int(len(labels))
        timings["evaluate"] = (time.perf_counter() - t0) * 1000

    t0 = time.perf_counter()
    # The builtin executor times the first images of the validation split.
    if split_name == "validation" and len(images) >= latency_batch:
        x = images[:latency_batch]
    else:
        x = feed(load_split(source, "validation", latency_batch, shape)[0])
    name = session.get_inputs()[0].name
    result["latency"] = measure_latency(lambda: session.run(None, {name: x}),
                                        number=int(latency_spec.get("number", 1)),
                                        repeats=int(latency_spec.get("repeat", 5)),
                                        min_repeat_ms=min_repeat_ms,
                                        warmup=int(latency_spec.get("warmup", 1)))
    timings["measure"] = (time.perf_counter() - t0) * 1000
    timings["total"] = (time.perf_counter() - started) * 1000
    result["timings_ms"] = timings
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description="Seer command executor for exported ONNX models (job JSON on stdin).")
    parser.add_argument("--onnx_path", "--onnx", dest="onnx_path", help="default for payload.options.onnx_path")
    parser.add_argument("--data", "--data_dir", dest="data", help="default for payload.options.data (any data source)")
    parser.add_argument("--data_mean", "--data-mean", dest="data_mean", help="default for payload.options.data_mean")
    parser.add_argument("--data_std", "--data-std", dest="data_std", help="default for payload.options.data_std")
    parser.add_argument("--data_layout", "--data-layout", dest="data_layout", help="default for payload.options.data_layout")
    parser.add_argument("--provider", choices=["auto", "cuda", "cpu"], help="default for payload.options.provider")
    parser.add_argument("--threads", type=int, help="default for payload.options.threads")
    parser.add_argument("--evaluation_limit", "--limit", dest="evaluation_limit", type=int,
                        help="default for payload.options.evaluation_limit")
    parser.add_argument("--min_repeat_ms", type=float, help="default for payload.options.min_repeat_ms")
    cli = parser.parse_args(argv)
    try:
        text = sys.stdin.read()
        try:
            job = json.loads(text)
        except ValueError as e:
            raise JobError("runtime_error", f"stdin is not a JSON job: {e}")
        if not isinstance(job, dict):
            raise JobError("runtime_error", "stdin is not a JSON object")
        result = run_job(job, cli)
    except JobError as e:
        print(json.dumps({"error": {"code": e.code, "message": e.message}}, allow_nan=False))
        return 1
    except MemoryError as e:
        print(json.dumps({"error": {"code": "out_of_memory", "message": str(e) or "out of memory"}}))
        return 1
    except Exception as e:  # anything else is still a well-formed failure for the agent
        print(json.dumps({"error": {"code": "runtime_error", "message": f"{type(e).__name__}: {e}"}}))
        return 1
    print(json.dumps(result, allow_nan=False, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
