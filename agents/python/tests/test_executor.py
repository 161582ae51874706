import base64
import os

import numpy as np
import onnxruntime as ort

from helpers import FakeData, artifact_job, reference, tiny_artifact
from seer_runtime_agent.executor import Executor
from seer_runtime_agent.runtime import Runtime


def make(tmp_path, deploy=False):
    return Executor("a1", Runtime("cpu", 1), FakeData(), str(tmp_path / "cache"),
                    str(tmp_path / "deploy") if deploy else None)


def expected_accuracy(data, dataset, limit):
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    x, y = dataset.dataset().images("validation", limit)
    return float((session.run(None, {"image": x})[0].argmax(axis=1) == y).mean())


def test_artifact_job_reports_accuracy_latency_and_caches_by_sha(tmp_path):
    ex = make(tmp_path)
    data = tiny_artifact()
    mtype, body = ex.run_job(artifact_job(reference(data)))
    assert mtype == "RESULT", body
    p = body["payload"]
    assert abs(p["accuracy"] - expected_accuracy(data, ex.data, 32)) < 1e-12
    assert p["latency"]["min_ms"] <= p["latency"]["median_ms"] <= p["latency"]["max_ms"]
    assert p["latency"]["repeat"] == 3
    assert os.path.exists(tmp_path / "cache" / (reference(data)["sha256"] + ".onnx"))
    # A fresh agent with the same cache is served by name alone.
    mtype, body = make(tmp_path).run_job(artifact_job(reference(data, inline=False), "j2"))
    assert mtype == "RESULT", body


def test_artifact_checks_size_and_sha(tmp_path):
    ex = make(tmp_path)
    data = tiny_artifact()
    ref = reference(data)
    ref["sha256"] = "0" * 64
    mtype, body = ex.run_job(artifact_job(ref))
    assert (mtype, body["code"]) == ("ERROR", "runtime_error") and "SHA-256" in body["message"]
    ref = reference(data)
    ref["size_bytes"] += 1
    assert ex.run_job(artifact_job(ref))[1]["code"] == "runtime_error"
    assert ex.run_job(artifact_job(reference(tiny_artifact(5), inline=False)))[1]["code"] == "runtime_error"


def test_artifact_by_file_uri(tmp_path):
    data = tiny_artifact()
    path = tmp_path / "a.onnx"
    path.write_bytes(data)
    ref = reference(data, inline=False)
    ref["uri"] = "file://" + str(path)
    assert make(tmp_path).run_job(artifact_job(ref))[0] == "RESULT"


def test_a_broken_artifact_or_bad_settings_is_an_error_not_a_crash(tmp_path):
    ex = make(tmp_path)
    assert ex.run_job(artifact_job(reference(b"not onnx")))[1]["code"] == "runtime_error"
    job = artifact_job(reference(tiny_artifact()))
    job["payload"]["settings"]["latency"]["number"] = 0
    assert ex.run_job(job)[1]["code"] == "bad_policy"
    job = artifact_job(reference(tiny_artifact()), kind="measure")
    assert ex.run_job(job)[1]["code"] == "unsupported"


def test_a_job_naming_other_data_is_refused(tmp_path):
    ex = make(tmp_path)
    job = artifact_job(reference(tiny_artifact()))
    job["payload"]["settings"]["dataset_sha256"] = "0" * 64
    mtype, body = ex.run_job(job)
    assert mtype == "ERROR" and body["code"] == "runtime_error", body
    assert "0" * 64 in body["message"] and "fake-data" in body["message"] and "differ" in body["message"]
    job["payload"]["settings"]["dataset_sha256"] = "ab" * 32
    assert ex.run_job(job)[0] == "RESULT"


def test_profile_of_an_artifact_has_latency_and_no_accuracy(tmp_path):
    mtype, body = make(tmp_path).run_job(artifact_job(reference(tiny_artifact()), kind="profile"))
    assert mtype == "RESULT" and "accuracy" not in body["payload"] and "latency" in body["payload"]


def test_deploy_installs_and_validates(tmp_path):
    ex = make(tmp_path, deploy=True)
    data = tiny_artifact()
    body = {"deploy_id": "d1", "device_key": "ort", "profile": "p", "model": "tiny", "policy": {},
            "weights": {"sha256": reference(data)["sha256"], "size_bytes": len(data)},
            "validation": {"images": 32}}
    # Without weights.format the blob is a compressed-model file, which a runtime agent cannot install.
    mtype, out = ex.deploy(body, [data])
    assert (out["status"], out["code"]) == ("failed", "unsupported") and "compressed-model" in out["message"], out
    body["weights"]["format"] = "seer-compressed/1"
    assert ex.deploy(body, [data])[1]["code"] == "unsupported"
    body["weights"]["format"] = "onnx-qdq/1"
    mtype, out = ex.deploy(body, [data])
    assert (mtype, out["status"]) == ("DEPLOYED", "ok"), out
    assert (tmp_path / "deploy" / "current.onnx").read_bytes() == data
    body["validation"]["min_accuracy"] = 1.0
    assert ex.deploy(body, [data])[1]["status"] == "failed"
    body["validation"] = {"images": 32, "dataset_sha256": "0" * 64}
    out = ex.deploy(body, [data])[1]
    assert (out["status"], out["code"]) == ("failed", "runtime_error") and "differ" in out["message"], out
    body["weights"]["sha256"] = "1" * 64
    out = ex.deploy(body, [data])[1]
    assert (out["status"], out["code"]) == ("failed", "runtime_error")
    assert (tmp_path / "deploy" / "current.onnx").read_bytes() == data
