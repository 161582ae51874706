"""The Python sketch in docs/PROTOCOL.md section 10, run against a coordinator played by the test."""

import hashlib
import os
import re
import subprocess
import sys

from test_agent_loop import Coordinator

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "PROTOCOL.md")


def sketch(tmp_path):
    text = open(DOC, encoding="utf-8").read()
    code = re.search(r"<!-- python-agent-begin -->\n```python\n(.*?)```\n<!-- python-agent-end -->", text, re.S).group(1)
    path = tmp_path / "sketch.py"
    path.write_text(code)
    return path


def start(tmp_path, coordinator):
    env = dict(os.environ, SEER_ENDPOINT=coordinator.endpoint, SEER_AGENT_ID="sketch-1", SEER_DEVICE_KEY="k")
    return subprocess.Popen([sys.executable, str(sketch(tmp_path))], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def test_sketch_follows_the_rules(tmp_path):
    coordinator = Coordinator()
    process = start(tmp_path, coordinator)
    try:
        routing, mtype, ready = coordinator.receive()
        assert mtype == "READY" and ready["agent_id"] == "sketch-1"
        coordinator.send(routing, "HEARTBEAT", {})
        coordinator.send(routing, "JOB", {"job_id": "j1", "device_key": "k", "kind": "null", "payload": {}})
        _, mtype, error = coordinator.receive()
        assert (mtype, error["code"], error.get("job_id")) == ("ERROR", "malformed", "j1")
        coordinator.sock.send_multipart([routing, b"SEER1", b"ERROR", b"not json"])
        coordinator.send(routing, "ERROR", {"code": "unknown_job", "message": "late", "job_id": "zz"})
        payload = {"model": "m", "policy": {}, "finetune_steps": 0, "split": "validation", "seed": 0,
                   "timeouts": {"total_ms": 1000}}
        coordinator.send(routing, "JOB", {"job_id": "j2", "device_key": "k", "kind": "null", "payload": payload})
        _, mtype, result = coordinator.receive()  # the ERRORs got no answer: next is j2's RESULT
        assert (mtype, result["job_id"]) == ("RESULT", "j2")
        coordinator.send(routing, "JOB", {"job_id": "j3", "device_key": "k", "kind": "measure", "payload": payload})
        _, mtype, error = coordinator.receive()
        assert (mtype, error["code"], error["job_id"]) == ("ERROR", "unsupported", "j3")
        blob = b"test"
        coordinator.sock.send_multipart([routing, b"SEER1", b"DEPLOY",
                                         ('{"deploy_id": "d1", "device_key": "k", "profile": "p", "model": "m", '
                                          '"policy": {}, "weights": {"sha256": "%s", "size_bytes": 4}}'
                                          % hashlib.sha256(blob).hexdigest()).encode(), blob])
        _, mtype, deployed = coordinator.receive()
        assert (mtype, deployed["status"]) == ("DEPLOYED", "ok")
        assert process.poll() is None
    finally:
        process.kill()
        process.wait()
        coordinator.close()


def test_sketch_exits_after_a_refusal(tmp_path):
    coordinator = Coordinator()
    process = start(tmp_path, coordinator)
    try:
        routing, mtype, _ = coordinator.receive()
        coordinator.send(routing, "ERROR", {"code": "unauthorized", "message": "agent id bound to another key"})
        coordinator.send(routing, "DISCONNECT", {"reason": "refused"})
        assert process.wait(timeout=20) != 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        coordinator.close()
