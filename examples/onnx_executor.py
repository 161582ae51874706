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
      data_dir          directory with the four Fashion-MNIST .gz IDX files (default /usr/share/datasets/fashion-mnist)
      split_seed        seed of the train/validation split of the 60,000 training images (default 0)
      validation_count  images held out for validation (default 5000): the 55k/5k split Seer's FashionMNIST.split uses
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

The split re-implements Seer's exactly (Sources/Shared/Data/FashionMNIST.swift `split`, Sources/Shared/Tensor/
SeededGenerator.swift): xoshiro256** seeded by SplitMix64, a Fisher-Yates shuffle of 0..<60000 from the top
(j = next() % (i + 1)), the last `validation_count` positions are validation, both sides sorted ascending.
Images go in as float32 pixels / 255 (NCHW, [0, 1]); the exported graph normalizes them itself.
"""

import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MASK64 = (1 << 64) - 1


class JobError(Exception):
    """A failure reported as {"error": {"code", "message"}}."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


# ---------------------------------------------------------------- Seer's split, bit for bit

def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK64


class SeededGenerator:
    """xoshiro256** seeded by SplitMix64, as Sources/Shared/Tensor/SeededGenerator.swift."""

    def __init__(self, seed):
        z = seed & MASK64
        state = []
        for _ in range(4):
            z = (z + 0x9E3779B97F4A7C15) & MASK64
            x = z
            x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
            state.append(x ^ (x >> 31))
        self.s = state

    def next(self):
        s0, s1, s2, s3 = self.s
        result = (_rotl((s1 * 5) & MASK64, 7) * 9) & MASK64
        t = (s1 << 17) & MASK64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 45)
        self.s = [s0, s1, s2, s3]
        return result

    def next_int(self, below):
        return self.next() % below

    def shuffle(self, a):
        """Fisher-Yates from the top, as SeededGenerator.shuffle."""
        for i in range(len(a) - 1, 0, -1):
            j = self.next_int(i + 1)
            a[i], a[j] = a[j], a[i]


def split(pool_count, validation_count, seed=0):
    """(train_indices, validation_indices) of the training pool, each ascending: FashionMNIST.split."""
    if not 0 <= validation_count <= pool_count:
        raise JobError("runtime_error", f"cannot hold out {validation_count} validation images from {pool_count}")
    order = list(range(pool_count))
    SeededGenerator(seed).shuffle(order)
    cut = pool_count - validation_count
    return sorted(order[:cut]), sorted(order[cut:])


# ---------------------------------------------------------------- data

def read_idx(path, expected_magic):
    import numpy as np
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise JobError("runtime_error", f"cannot read {path}: {e}")
    magic, = struct.unpack(">I", raw[:4])
    if magic != expected_magic:
        raise JobError("runtime_error", f"{path}: IDX magic {magic:#x}, expected {expected_magic:#x}")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(dims):
        raise JobError("runtime_error", f"{path}: {data.size} values for dimensions {dims}")
    return data.reshape(dims)


def load_split(data_dir, split_name, split_seed=0, validation_count=5000, limit=None):
    """float32 images [N, 1, rows, cols] in [0, 1] and int labels of a Seer split, in Seer's position order."""
    import numpy as np
    pool = "test" if split_name == "test" else "train"
    images = read_idx(os.path.join(data_dir, FILES[pool][0]), 0x00000803)
    labels = read_idx(os.path.join(data_dir, FILES[pool][1]), 0x00000801)
    if split_name == "test":
        indices = list(range(images.shape[0]))
    else:
        train, validation = split(images.shape[0], validation_count, split_seed)
        indices = validation if split_name == "validation" else train
    if limit is not None:
        indices = indices[:limit]
    idx = np.asarray(indices, dtype=np.int64)
    x = images[idx].astype(np.float32) / np.float32(255)  # the float32 division Seer's batches start from
    return x.reshape(len(indices), 1, images.shape[1], images.shape[2]), labels[idx].astype(np.int64)


# ---------------------------------------------------------------- timing (LatencyTimer.measure)

def measure_latency(run, number=1, repeats=5, min_repeat_ms=50.0, warmup=1):
    for _ in range(warmup):
        run()

    def timed(n):
        start = time.perf_counter_ns()
        for _ in range(n):
            run()
        return (time.perf_counter_ns() - start) / 1e9

    while True:
        t = timed(number)
        if t * 1000 >= min_repeat_ms or number >= 1 << 20:
            break
        scale = min_repeat_ms / (t * 1000) if t > 0 else 2
        number = max(number * 2, int(math.ceil(number * scale * 1.1)))
    per_run = [timed(number) * 1000 / number for _ in range(repeats)]
    ordered = sorted(per_run)
    n = len(ordered)
    median = ordered[n // 2] if n % 2 == 1 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    mean = sum(per_run) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in per_run) / n)
    return {"median_ms": median, "mean_ms": mean, "min_ms": ordered[0], "max_ms": ordered[-1], "std_ms": std,
            "number": number, "repeat": repeats}


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
    data_dir = option(options, cli, "data_dir", DEFAULT_DATA_DIR)
    split_seed = option(options, cli, "split_seed", 0, int)
    validation_count = option(options, cli, "validation_count", 5000, int)
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
    images, labels = load_split(data_dir, split_name, split_seed, validation_count, limit)
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
        x = load_split(data_dir, "validation", split_seed, validation_count, latency_batch)[0]
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
    parser.add_argument("--data_dir", "--data", dest="data_dir", help="default for payload.options.data_dir")
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
