import json

import pytest

from seer_runtime_agent import protocol as P


def frames(mtype, body, header=b"SEER1", *extra):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return [header, mtype.encode(), raw, *extra]


def job(**changes):
    body = {"job_id": "j1", "device_key": "ort", "kind": "artifact",
            "payload": {"model": "resnet8", "policy": {}, "finetune_steps": 0, "split": "validation", "seed": 0,
                        "timeouts": {"total_ms": 1000},
                        "artifact": {"format": "onnx-qdq/1", "sha256": "a" * 64, "size_bytes": 3, "data": "YWJj"}}}
    body.update(changes)
    return body


def code_of(fr):
    with pytest.raises(P.ProtocolError) as e:
        P.decode(fr)
    return e.value.code, e.value.job_id


def test_a_valid_job_decodes():
    mtype, body, extra = P.decode(frames("JOB", job()))
    assert mtype == "JOB" and body["job_id"] == "j1" and extra == []


@pytest.mark.parametrize("header", [b"SEER", b"SEER0", b"SEER01", b"SEER+1", b"seer1", b"HTTP1", b""])
def test_bad_headers_are_malformed_and_seer0_among_them(header):
    assert code_of(frames("HEARTBEAT", {}, header))[0] == "malformed"


def test_another_version_is_unsupported():
    assert code_of(frames("HEARTBEAT", {}, b"SEER2"))[0] == "unsupported_version"


def test_frame_rules():
    assert code_of([b"SEER1", b"HEARTBEAT"])[0] == "malformed"
    assert code_of(frames("HEARTBEAT", {}, b"SEER1", b"x"))[0] == "malformed"  # 4 frames only for DEPLOY
    assert code_of(frames("NOPE", {}))[0] == "unknown_type"
    assert code_of(frames("HEARTBEAT", b"[1]"))[0] == "malformed"
    assert code_of(frames("HEARTBEAT", b'{"a": NaN}'))[0] == "malformed"
    assert code_of(frames("HEARTBEAT", b"[" * 40 + b"]" * 40))[0] == "malformed"
    assert code_of(frames("HEARTBEAT", b'{"a": "\\ud800"}'))[0] == "malformed"
    assert code_of(frames("HEARTBEAT", b"x" * (P.MAX_MESSAGE_BYTES + 1)))[0] == "too_large"


def test_a_job_missing_a_field_is_malformed_with_its_id():
    body = job()
    del body["payload"]["timeouts"]
    assert code_of(frames("JOB", body)) == ("malformed", "j1")
    body = job()
    del body["payload"]["artifact"]
    assert code_of(frames("JOB", body)) == ("malformed", "j1")
    assert code_of(frames("JOB", job(kind="train"))) == ("malformed", "j1")
    body = job()
    body["payload"]["seed"] = 1.5
    assert code_of(frames("JOB", body)) == ("malformed", "j1")
    body = job()
    body["payload"]["artifact"]["sha256"] = "A" * 64
    assert code_of(frames("JOB", body)) == ("malformed", "j1")


def test_unknown_fields_are_ignored():
    body = job(extra={"x": 1})
    body["payload"]["later"] = [1, 2]
    assert P.decode(frames("JOB", body))[0] == "JOB"


def test_deploy_weights_frame_rules():
    deploy = {"deploy_id": "d1", "device_key": "ort", "profile": "p", "model": "m", "policy": {},
              "weights": {"sha256": "b" * 64, "size_bytes": 4}}
    assert P.decode(frames("DEPLOY", deploy, b"SEER1", b"test"))[2] == [b"test"]
    assert code_of(frames("DEPLOY", deploy)) == ("malformed", "d1")
    assert code_of(frames("DEPLOY", deploy, b"SEER1", b"tes")) == ("malformed", "d1")
