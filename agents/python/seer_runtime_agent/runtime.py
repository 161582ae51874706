"""onnxruntime: execution providers, the artifact cache, and timing as Seer times (LatencyTimer)."""

import base64
import hashlib
import math
import os
import tempfile
import time
import urllib.parse

PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


class JobError(Exception):
    """A job failure with its ERROR code (section 6)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class Runtime:
    """Sessions on one execution provider with a fixed thread count; `check()` fails early if the provider is missing."""

    def __init__(self, provider="cpu", threads=1):
        if provider not in PROVIDERS:
            raise ValueError(f"provider '{provider}': one of {', '.join(PROVIDERS)}")
        self.provider = provider
        self.threads = threads

    def check(self):
        import onnxruntime as ort
        available = ort.get_available_providers()
        if PROVIDERS[self.provider][0] not in available:
            raise ValueError(f"{PROVIDERS[self.provider][0]} is not available in this onnxruntime (it has {available}); "
                             + ("install onnxruntime-gpu" if self.provider != "cpu" else ""))

    def session(self, model_bytes):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            session = ort.InferenceSession(model_bytes, options, providers=PROVIDERS[self.provider])
        except Exception as e:  # onnxruntime raises its own types
            raise JobError("runtime_error", f"onnxruntime cannot load the model: {e}")
        if session.get_providers()[0] != PROVIDERS[self.provider][0]:
            raise JobError("unsupported", f"onnxruntime placed the model on {session.get_providers()}, "
                                          f"not {PROVIDERS[self.provider][0]}")
        return session

    def describe(self):
        import platform
        return f"{PROVIDERS[self.provider][0]}, {platform.machine()}, {platform.processor() or platform.system()}"


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


class ArtifactCache:
    """Artifacts by SHA-256 in a directory (`<sha256>.onnx`), checked on the way in; a JOB that names an artifact
    without data or uri is served from here."""

    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)

    def path(self, sha):
        return os.path.join(self.directory, sha + ".onnx")

    def fetch(self, ref):
        """The artifact's bytes: inline, by uri, or cached; size and SHA-256 checked (runtime_error if wrong)."""
        sha, size = ref["sha256"], ref["size_bytes"]
        if ref.get("data") is not None:
            try:
                data = base64.b64decode(ref["data"], validate=True)
            except ValueError:
                raise JobError("runtime_error", "payload.artifact.data is not base64")
        elif ref.get("uri") is not None:
            data = _read_uri(ref["uri"])
        elif os.path.exists(self.path(sha)):
            with open(self.path(sha), "rb") as f:
                data = f.read()
        else:
            raise JobError("runtime_error", f"artifact {sha} came without data or uri and is not in the cache")
        if len(data) != size:
            raise JobError("runtime_error", f"artifact {sha}: {len(data)} bytes, size_bytes says {size}")
        if sha256_hex(data) != sha:
            raise JobError("runtime_error", f"artifact SHA-256 is {sha256_hex(data)}, not {sha}")
        if not os.path.exists(self.path(sha)):
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".incoming-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, self.path(sha))
        return data


def _read_uri(uri):
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme != "file":
        raise JobError("unsupported", f"artifact uri scheme '{parsed.scheme}' (this agent reads file://)")
    try:
        with open(urllib.parse.unquote(parsed.path), "rb") as f:
            return f.read()
    except OSError as e:
        raise JobError("runtime_error", f"cannot read {uri}: {e}")


def takes_normalized_input(session):
    """Whether the graph wants normalized input: Seer's export of an imported network says "already normalized" in
    its `seer.input` metadata (its own input convention, which the engine fed normalized); Seer's export of a zoo
    network, and any artifact without that note (protocol revision 2), normalizes [0, 1] pixels itself."""
    return "already normalized" in session.get_modelmeta().custom_metadata_map.get("seer.input", "")


def takes_channels_last(session):
    """Whether the graph takes NHWC batches: Seer's export of a Keras model imported from tf2onnx keeps its NHWC input
    and says so in its `seer.input_layout` metadata; every other artifact takes NCHW."""
    return session.get_modelmeta().custom_metadata_map.get("seer.input_layout") == "nhwc"


def measure_latency(run, number=1, repeats=5, min_repeat_ms=50.0, warmup=1, deadline=None):
    """LatencyTimer.measure: warm-up runs, then `number` raised until one repeat lasts `min_repeat_ms`, then
    `repeats` repeats of `number` runs; per-run milliseconds of each repeat, median over repeats."""
    for _ in range(max(1, warmup)):
        run()

    def timed(n):
        if deadline is not None and time.monotonic() > deadline:
            raise JobError("timeout", "timeouts.total_ms passed while timing")
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
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    mean = sum(per_run) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in per_run) / n)
    return {"median_ms": median, "mean_ms": mean, "min_ms": ordered[0], "max_ms": ordered[-1], "std_ms": std,
            "number": number, "repeat": repeats}
