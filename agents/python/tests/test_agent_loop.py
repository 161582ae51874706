"""The agent against a coordinator played by the test: a ROUTER socket on loopback, plain and CURVE."""

import json
import threading
import time

import zmq

from helpers import FakeData, artifact_job, reference, tiny_artifact
from seer_runtime_agent.agent import Agent, Config
from seer_runtime_agent.executor import Executor
from seer_runtime_agent.runtime import Runtime


class Coordinator:
    def __init__(self, curve=None):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve:
            self.sock.curve_server = True
            self.sock.curve_secretkey = curve
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"

    def receive(self, timeout=20.0, skip_heartbeats=True):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sock.poll(100):
                routing, header, mtype, body, *extra = self.sock.recv_multipart()
                assert header == b"SEER1"
                if skip_heartbeats and mtype == b"HEARTBEAT":
                    continue
                return routing, mtype.decode(), json.loads(body)
        raise AssertionError("nothing received")

    def send(self, routing, mtype, body):
        self.sock.send_multipart([routing, b"SEER1", mtype.encode(), json.dumps(body).encode()])

    def close(self):
        self.sock.close()
        self.ctx.term()


def start_agent(tmp_path, endpoint, **keys):
    config = Config(endpoint, "py-1", "ort", **keys)
    agent = Agent(config, Executor("py-1", Runtime("cpu", 1), FakeData(), str(tmp_path / "cache")), log=lambda _: None)
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    return agent, thread


def session(coordinator, tmp_path, **keys):
    agent, thread = start_agent(tmp_path, coordinator.endpoint, **keys)
    try:
        routing, mtype, ready = coordinator.receive()
        assert (mtype, ready["executor"], ready["device_key"]) == ("READY", "runtime", "ort")
        assert "artifact" in ready["capabilities"] and ready["protocol_version"] == 1
        coordinator.send(routing, "HEARTBEAT", {})
        coordinator.send(routing, "JOB", artifact_job(reference(tiny_artifact()), "j1"))
        _, mtype, result = coordinator.receive()
        assert (mtype, result["job_id"]) == ("RESULT", "j1"), result
        assert 0 <= result["payload"]["accuracy"] <= 1 and result["payload"]["latency"]["median_ms"] > 0
        coordinator.send(routing, "JOB", {"job_id": "bad", "device_key": "ort", "kind": "artifact", "payload": {}})
        _, mtype, error = coordinator.receive()
        assert (mtype, error["code"], error["job_id"]) == ("ERROR", "malformed", "bad")
        coordinator.send(routing, "ERROR", {"code": "unknown_job", "message": "late", "job_id": "zzz"})
        coordinator.send(routing, "JOB", dict(artifact_job(reference(tiny_artifact()), "n1"), kind="null"))
        _, mtype, result = coordinator.receive()  # nothing answered the ERROR: the next message is n1's RESULT
        assert (mtype, result["job_id"]) == ("RESULT", "n1")
    finally:
        agent.stop()
        thread.join(10)
    _, mtype, bye = coordinator.receive()
    assert mtype == "DISCONNECT"
    assert not thread.is_alive()


def test_plain_session(tmp_path):
    coordinator = Coordinator()
    try:
        session(coordinator, tmp_path)
    finally:
        coordinator.close()


def test_curve_session(tmp_path):
    server_public, server_secret = zmq.curve_keypair()
    public, secret = zmq.curve_keypair()
    coordinator = Coordinator(curve=server_secret)
    try:
        session(coordinator, tmp_path, server_key=server_public.decode(), public_key=public.decode(),
                secret_key=secret.decode())
    finally:
        coordinator.close()


def test_reregisters_after_disconnect(tmp_path):
    coordinator = Coordinator()
    agent, thread = start_agent(tmp_path, coordinator.endpoint)
    try:
        routing, mtype, _ = coordinator.receive()
        coordinator.send(routing, "HEARTBEAT", {})
        coordinator.send(routing, "DISCONNECT", {"reason": "coordinator restarting"})
        routing, mtype, _ = coordinator.receive(timeout=30)
        assert mtype == "READY"  # a fresh socket, after the 1 s reconnect delay
    finally:
        agent.stop()
        thread.join(10)
        coordinator.close()
