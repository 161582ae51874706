"""What the job thread runs: artifact, profile and DEPLOY work. Each returns the reply (type, body)."""

import base64
import os
import time

import numpy as np

from . import kernels
from .data import DataError, Normalization
from .protocol import ARTIFACT_FORMAT
from .runtime import ArtifactCache, JobError, measure_latency, takes_channels_last, takes_normalized_input

CAPABILITIES = ["artifact", "profile", "null", "deploy"]


def _settings(payload):
    """Split, evaluation limit and latency settings: from `payload.settings` (Seer's EvaluationSettings JSON) where
    given, else from the payload's own fields."""
    settings = payload.get("settings") or {}
    latency = dict(payload.get("latency") or {})
    latency.update(settings.get("latency") or {})
    split = settings.get("split", payload["split"])
    if split not in ("validation", "test"):
        raise JobError("bad_policy", f"split '{split}' (validation or test)")
    limit = settings.get("evaluation_limit")
    for name, value, minimum in (("evaluation_limit", limit, 1), ("latency.number", latency.get("number", 1), 1),
                                 ("latency.repeat", latency.get("repeat", 5), 1), ("latency.batch", latency.get("batch", 1), 1)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < minimum):
            raise JobError("bad_policy", f"payload.settings.{name} must be an integer >= {minimum}, got {value!r}")
    min_repeat = latency.get("min_repeat_ms", 50.0)
    if isinstance(min_repeat, bool) or not isinstance(min_repeat, (int, float)) or min_repeat < 0:
        raise JobError("bad_policy", f"payload.settings.latency.min_repeat_ms must be a number >= 0, got {min_repeat!r}")
    return split, limit, {"number": latency.get("number", 1), "repeat": latency.get("repeat", 5),
                          "warmup": latency.get("warmup", 1), "min_repeat_ms": float(min_repeat),
                          "batch": latency.get("batch", 1)}


class Executor:
    def __init__(self, agent_id, runtime, data, cache_dir, deploy_dir=None, log=print):
        self.agent_id = agent_id
        self.runtime = runtime
        self.data = data  # a data.DataSource
        self.cache = ArtifactCache(cache_dir)
        self.deploy_dir = deploy_dir
        self.log = log
        self._sessions = {}  # sha256 -> (session, size), the last few artifacts (a pick is measured on validation and test)

    def capabilities(self):
        return CAPABILITIES if self.deploy_dir else [c for c in CAPABILITIES if c != "deploy"]

    # ------------------------------------------------------------ jobs

    def run_job(self, job, started=None):
        started = time.monotonic() if started is None else started
        deadline = started + job["payload"]["timeouts"]["total_ms"] / 1000
        try:
            if job["kind"] == "artifact":
                payload = self.measure_artifact(job["payload"], deadline, with_accuracy=True)
            elif job["kind"] == "profile":
                payload = self.profile(job["payload"], deadline)
            else:
                raise JobError("unsupported", f"a runtime agent cannot run {job['kind']} jobs")
            payload.setdefault("timings_ms", {})["total"] = (time.monotonic() - started) * 1000
            return "RESULT", {"job_id": job["job_id"], "agent_id": self.agent_id, "payload": payload}
        except JobError as e:
            return "ERROR", {"job_id": job["job_id"], "code": e.code, "message": e.message[:4000]}
        except DataError as e:
            return "ERROR", {"job_id": job["job_id"], "code": "runtime_error", "message": str(e)[:4000]}
        except MemoryError as e:
            return "ERROR", {"job_id": job["job_id"], "code": "out_of_memory", "message": str(e)[:4000] or "out of memory"}
        except Exception as e:  # a bug or a runtime failure is still an answer, never a dead agent
            return "ERROR", {"job_id": job["job_id"], "code": "runtime_error", "message": f"{type(e).__name__}: {e}"[:4000]}

    def _session(self, ref):
        """The loaded artifact. Inline bytes are always checked (cheap, and a message that contradicts itself is
        refused); one by uri or by name alone that is loaded already is not fetched again, but its size_bytes must
        still be that of the file with its SHA-256."""
        sha = ref["sha256"]
        if sha in self._sessions and ref.get("data") is None:
            session, size = self._sessions[sha]
            if size != ref["size_bytes"]:
                raise JobError("runtime_error", f"artifact {sha} has {size} bytes, size_bytes says {ref['size_bytes']}")
            return session
        data = self.cache.fetch(ref)
        if sha not in self._sessions:
            if len(self._sessions) >= 4:
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[sha] = (self.runtime.session(data), len(data))
        return self._sessions[sha][0]

    def _inputs(self, session, settings):
        """The artifact's evaluation data under a job's (or DEPLOY validation's) revision-3 `settings`: (dataset, feed),
        where feed turns the dataset's images (before normalization) into what the graph takes.

        Data named by `dataset_sha256` must be this agent's (checked on the raw bytes, before any decoding). The split
        follows `validation_count`. A graph that normalizes its input itself (Seer's export of a zoo network, which
        bakes in the normalization it was trained under) gets the images as they are; one that takes normalized input
        (its `seer.input` metadata says "already normalized": an imported network) gets them normalized by the job's
        `normalization`, else the agent's `--data-mean/--data-std` (or the format's default), as the engine fed it. A
        graph that takes NHWC batches (`seer.input_layout`: a Keras model imported from tf2onnx) gets them transposed."""
        expected = settings.get("dataset_sha256")
        if expected is not None:
            found = self.data.sha256()
            if found != expected:
                raise JobError("runtime_error", f"the data in {self.data.path} have SHA-256 {found}, but the job names "
                                                f"data with SHA-256 {expected}: this machine's data differ from the coordinator's")
        shape = session.get_inputs()[0].shape[1:]
        channels_last = takes_channels_last(session)
        if channels_last and len(shape) == 3:
            shape = [shape[2], shape[0], shape[1]]
        dataset = self.data.dataset(shape if all(isinstance(d, int) for d in shape) else None)
        if settings.get("validation_count") is not None:
            dataset = dataset.resplit(settings["validation_count"])
        normalize = lambda x: x
        if takes_normalized_input(session):
            given = settings.get("normalization")
            normalize = (self.data.normalization if given is None
                         else Normalization.from_json(given, "settings.normalization")).apply
        if channels_last:
            return dataset, lambda x: np.ascontiguousarray(normalize(x).transpose(0, 2, 3, 1))
        return dataset, normalize

    def measure_artifact(self, payload, deadline, with_accuracy):
        timings = {}
        t0 = time.monotonic()
        split, limit, latency = _settings(payload)
        session = self._session(payload["artifact"])
        name = session.get_inputs()[0].name
        timings["load"] = (time.monotonic() - t0) * 1000
        result = {}
        dataset, feed = self._inputs(session, payload.get("settings") or {})
        if with_accuracy:
            t0 = time.monotonic()
            images, labels = dataset.images(split, limit)
            correct = 0
            for i in range(0, len(images), 500):
                if time.monotonic() > deadline:
                    raise JobError("timeout", "timeouts.total_ms passed while evaluating")
                logits = session.run(None, {name: feed(images[i:i + 500])})[0]
                correct += int((np.argmax(logits, axis=1) == labels[i:i + 500]).sum())
            result["accuracy"] = correct / max(1, len(labels))
            timings["evaluate"] = (time.monotonic() - t0) * 1000
        t0 = time.monotonic()
        x = feed(dataset.images("validation", latency["batch"])[0])
        result["latency"] = measure_latency(lambda: session.run(None, {name: x}), number=latency["number"],
                                            repeats=latency["repeat"], min_repeat_ms=latency["min_repeat_ms"],
                                            warmup=latency["warmup"], deadline=deadline)
        timings["measure"] = (time.monotonic() - t0) * 1000
        result["timings_ms"] = timings
        return result

    def profile(self, payload, deadline):
        request = (payload.get("options") or {}).get("layer_table")
        if request is not None:
            if not isinstance(request, dict):
                raise JobError("bad_policy", "options.layer_table must be an object")
            batch = ((payload.get("settings") or {}).get("latency") or {}).get("batch", 1)
            table = kernels.profile_table(self.runtime, payload["model"], request, batch=batch, deadline=deadline)
            return {"layer_table": table, "timings_ms": {}}
        if payload.get("artifact") is None:
            raise JobError("unsupported", "a runtime agent profiles artifacts (payload.artifact) or kernels "
                                          "(options.layer_table.kernels); it has no model zoo to apply a policy to")
        return self.measure_artifact(payload, deadline, with_accuracy=False)

    # ------------------------------------------------------------ DEPLOY

    def deploy(self, body, extra):
        """Installs an onnx-qdq/1 artifact as DIR/current.onnx (the old one kept as previous.onnx); DEPLOYED."""
        timings = {}
        started = time.monotonic()

        def failed(code, message):
            return "DEPLOYED", {"deploy_id": body["deploy_id"], "agent_id": self.agent_id, "status": "failed",
                                "timings_ms": timings, "code": code, "message": message[:4000]}

        weights = body["weights"]
        if body.get("finetune") is not None:
            return failed("unsupported", "a runtime agent cannot fine-tune; deploy a compressed artifact")
        if weights.get("format") != ARTIFACT_FORMAT:
            what = f"weights.format '{weights['format']}'" if "format" in weights else "no weights.format (a compressed-model file)"
            return failed("unsupported", f"{what}: this agent installs {ARTIFACT_FORMAT} artifacts only")
        try:
            t0 = time.monotonic()
            ref = {"sha256": weights["sha256"], "size_bytes": weights["size_bytes"]}
            if extra:
                ref["data"] = base64.b64encode(extra[0]).decode("ascii")
            else:
                ref["uri"] = weights["uri"]
            data = self.cache.fetch(ref)
            timings["fetch"] = (time.monotonic() - t0) * 1000
            t0 = time.monotonic()
            session = self.runtime.session(data)
            timings["load"] = (time.monotonic() - t0) * 1000
            message = "installed"
            validation = body.get("validation")
            if validation:
                t0 = time.monotonic()
                dataset, feed = self._inputs(session, validation)
                images, labels = dataset.images("validation", validation["images"])
                name = session.get_inputs()[0].name
                accuracy = float((np.argmax(session.run(None, {name: feed(images)})[0], axis=1) == labels).mean())
                timings["validate"] = (time.monotonic() - t0) * 1000
                message = f"validation accuracy {accuracy:.4f} on {len(labels)} images"
                floor = validation.get("min_accuracy")
                if floor is not None and accuracy < floor:
                    return failed("runtime_error", f"{message}, below min_accuracy {floor}")
            t0 = time.monotonic()
            os.makedirs(self.deploy_dir, exist_ok=True)
            current = os.path.join(self.deploy_dir, "current.onnx")
            staged = os.path.join(self.deploy_dir, ".staged.onnx")
            with open(staged, "wb") as f:
                f.write(data)
            if os.path.exists(current):
                os.replace(current, os.path.join(self.deploy_dir, "previous.onnx"))
            os.replace(staged, current)
            timings["activate"] = (time.monotonic() - t0) * 1000
            timings["total"] = (time.monotonic() - started) * 1000
            return "DEPLOYED", {"deploy_id": body["deploy_id"], "agent_id": self.agent_id, "status": "ok",
                                "timings_ms": timings, "message": message}
        except JobError as e:
            return failed(e.code, e.message)
        except (OSError, DataError) as e:
            return failed("runtime_error", str(e))
        except Exception as e:
            return failed("runtime_error", f"{type(e).__name__}: {e}")

